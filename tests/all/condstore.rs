//! CONDSTORE and QRESYNC (rfc7162) against the real binary: MODSEQ in
//! FETCH, CHANGEDSINCE, STORE UNCHANGEDSINCE and [MODIFIED], ENABLE,
//! SELECT (CONDSTORE) and (QRESYNC ...), VANISHED, UID FETCH VANISHED,
//! and a client that resynchronises after random changes, restarts,
//! kill -9 and an index rebuild and ends with exactly the server's state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::store_util::{
    Restartable, Rng, Session, modseq_of, resp_code, store_server, uid_of, uid_set,
};

/// The FLAGS list of a FETCH line, sorted, without \Recent.
fn flags_of(line: &str) -> Option<Vec<String>> {
    let at = line.find("FLAGS (")? + "FLAGS (".len();
    let list = line[at..].split(')').next()?;
    let mut v: Vec<String> = list
        .split_whitespace()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(str::to_string)
        .collect();
    v.sort();
    Some(v)
}

fn highest_modseq(lines: &[String]) -> u64 {
    lines
        .iter()
        .find_map(|l| resp_code(l, "HIGHESTMODSEQ"))
        .and_then(|a| a.first()?.parse().ok())
        .unwrap_or_else(|| panic!("no HIGHESTMODSEQ in {lines:#?}"))
}

fn message(n: usize) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: m{n}\r\n\r\nbody {n}\r\n").into_bytes()
}

#[test]
fn condstore_fetch_store_and_enable() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    for n in 0..4 {
        c.append("INBOX", &message(n));
    }
    let caps = c.ok("CAPABILITY");
    assert!(
        caps[0].contains(" CONDSTORE ") && caps[0].contains(" QRESYNC "),
        "{caps:?}"
    );
    // rfc7162 3.1.8: SELECT (CONDSTORE) enables it; HIGHESTMODSEQ is sent.
    let (u, t) = c.run("SELECT INBOX (CONDSTORE)");
    assert!(t.starts_with("OK [READ-WRITE]"), "{t}");
    let h0 = highest_modseq(&u);
    // From now on FETCH responses carry MODSEQ (3.1.4.2), never above it.
    let u = c.ok("FETCH 1:* (FLAGS)");
    let m: Vec<u64> = u.iter().map(|l| modseq_of(l).unwrap()).collect();
    assert_eq!(m.len(), 4);
    assert!(m.iter().all(|&x| x > 0 && x <= h0), "{u:?}");

    // A STORE raises the message's MODSEQ above every other (3.1).
    let u = c.ok("STORE 2 +FLAGS (\\Seen)");
    assert_eq!(u.len(), 1, "{u:?}");
    let m2 = modseq_of(&u[0]).unwrap();
    assert!(m2 > h0, "{u:?}");
    assert_eq!(uid_of(&u[0]), Some(2), "3.2.4: UID too: {u:?}");

    // CHANGEDSINCE: only what changed after it (3.1.4.1).
    let u = c.ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})"));
    assert_eq!(u.len(), 1, "{u:?}");
    assert!(u[0].starts_with("* 2 FETCH"), "{u:?}");
    assert!(
        c.ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {m2})"))
            .is_empty()
    );

    // UNCHANGEDSINCE: message 2 changed after h0, 3 did not (Example 6).
    let (u, t) = c.run(&format!(
        "STORE 2:3 (UNCHANGEDSINCE {h0}) +FLAGS.SILENT (\\Deleted)"
    ));
    assert_eq!(t, "OK [MODIFIED 2] Conditional STORE failed");
    assert_eq!(u.len(), 1, "{u:?}");
    assert!(u[0].starts_with("* 3 FETCH (UID 3 MODSEQ ("), "{u:?}");
    // The same by UID.
    let (_, t) = c.run(&format!(
        "UID STORE 2,4 (UNCHANGEDSINCE {h0}) +FLAGS.SILENT (\\Deleted)"
    ));
    assert_eq!(t, "OK [MODIFIED 2] Conditional STORE failed");
    // UNCHANGEDSINCE 0 always fails (Example 8).
    let (u, t) = c.run("STORE 1 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)");
    assert_eq!(t, "OK [MODIFIED 1] Conditional STORE failed", "{u:?}");
    // No spurious MODIFIED for a flag already as asked (3.1.12).
    let (_, t) = c.run(&format!(
        "STORE 2 (UNCHANGEDSINCE {h0}) +FLAGS.SILENT (\\Seen)"
    ));
    assert_eq!(t, "OK Completed");

    // Another session's change reaches this one with UID and MODSEQ.
    let mut other = Session::new(&s);
    other.select("INBOX");
    other.ok("STORE 1 +FLAGS ($Other)");
    let u = c.ok("NOOP");
    let f = u.iter().find(|l| l.contains(" FETCH ")).expect("a FETCH");
    assert!(f.contains("UID 1") && modseq_of(f).is_some(), "{u:?}");

    // Bad modifiers are BAD; VANISHED needs QRESYNC and UID FETCH.
    c.fails("FETCH 1 (FLAGS) (CHANGEDSINCE 0)", "BAD");
    c.fails("FETCH 1 (FLAGS) (CHANGEDSINCE x)", "BAD");
    c.fails("UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "BAD");
    c.fails("STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)", "BAD");
    c.fails("SELECT INBOX (QRESYNC (1 1))", "BAD");
    c.fails("SELECT INBOX (FOO)", "BAD");
}

#[test]
fn enable_and_the_first_condstore_command_while_selected() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    c.append("INBOX", &message(1));
    let (u, _) = c.select("INBOX");
    let h = highest_modseq(&u);
    // No MODSEQ before CONDSTORE is enabled.
    let u = c.ok("FETCH 1 (FLAGS)");
    assert!(modseq_of(&u[0]).is_none(), "{u:?}");
    // rfc7162 3.1: the first enabling command reports HIGHESTMODSEQ.
    let u = c.ok("FETCH 1 (FLAGS MODSEQ)");
    assert_eq!(highest_modseq(&u), h);
    assert_eq!(modseq_of(u.last().unwrap()), Some(h), "{u:?}");
    let u = c.ok("ENABLE QRESYNC CONDSTORE");
    assert_eq!(u, vec!["* ENABLED QRESYNC"]);
}

#[test]
fn vanished_replaces_expunge_once_qresync_is_enabled() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    for n in 0..6 {
        c.append("INBOX", &message(n));
    }
    c.ok("ENABLE QRESYNC");
    let (u, _) = c.select("INBOX");
    let h0 = highest_modseq(&u);
    c.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)");
    // rfc7162 3.2.7: EXPUNGE answers VANISHED and the new HIGHESTMODSEQ.
    let (u, t) = c.run("EXPUNGE");
    assert_eq!(u, vec!["* VANISHED 2,4"]);
    let h1: u64 = resp_code(&t, "HIGHESTMODSEQ").unwrap()[0].parse().unwrap();
    assert!(h1 > h0, "{t}");
    // Another session's expunge, at NOOP and during IDLE.
    let mut other = Session::new(&s);
    other.select("INBOX");
    other.ok("UID STORE 5 +FLAGS.SILENT (\\Deleted)");
    other.ok("UID EXPUNGE 5");
    let u = c.ok("NOOP");
    assert_eq!(u[0], "* VANISHED 5", "{u:?}");
    assert!(!u.iter().any(|l| l.contains("EXPUNGE")), "{u:?}");
    c.c.send("i IDLE\r\n");
    assert_eq!(c.c.line(), "+ idling");
    other.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)");
    other.ok("EXPUNGE");
    let t0 = Instant::now();
    loop {
        let l = c.c.line();
        if l == "* VANISHED 1" {
            break;
        }
        assert!(!l.contains("EXPUNGE"), "{l}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{l}");
    }
    c.c.send("DONE\r\n");
    assert_eq!(c.c.until_tagged("i").1, "i OK Completed");
    // UID FETCH (CHANGEDSINCE VANISHED) reports what went since h0,
    // within the set asked about (rfc7162 3.2.6).
    let u = c.ok(&format!(
        "UID FETCH 1:6 (FLAGS) (CHANGEDSINCE {h0} VANISHED)"
    ));
    assert_eq!(u[0], "* VANISHED (EARLIER) 1:2,4:5", "{u:?}");
    let u = c.ok(&format!(
        "UID FETCH 3:4 (FLAGS) (CHANGEDSINCE {h0} VANISHED)"
    ));
    assert_eq!(u, vec!["* VANISHED (EARLIER) 4"]);
}

#[test]
fn vanished_reaches_a_hibernated_session() {
    let s = crate::harness::server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("idle_hibernate: 1")
        .start();
    let mut c = Session::new(&s);
    for n in 0..3 {
        c.append("INBOX", &message(n));
    }
    c.ok("ENABLE QRESYNC");
    c.select("INBOX");
    c.c.send("i IDLE\r\n");
    assert_eq!(c.c.line(), "+ idling");
    let t0 = Instant::now();
    while !s.log().contains(": hibernated (") {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut other = Session::new(&s);
    other.select("INBOX");
    other.ok("STORE 2 +FLAGS ($x \\Deleted)");
    other.ok("EXPUNGE");
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("* VANISHED")) {
        seen.push(c.c.line());
        assert!(t0.elapsed() < Duration::from_secs(15), "{seen:?}");
    }
    assert_eq!(seen.last().unwrap(), "* VANISHED 2", "{seen:?}");
    assert!(!seen.iter().any(|l| l.contains("EXPUNGE")), "{seen:?}");
    c.c.send("DONE\r\n");
    assert_eq!(c.c.until_tagged("i").1, "i OK Completed");
}

/// What a QRESYNC client keeps of a mailbox.
#[derive(Debug, Default, Clone, PartialEq)]
struct Cache {
    uidvalidity: u32,
    modseq: u64,
    flags: BTreeMap<u32, Vec<String>>,
}

/// Reconnects as a QRESYNC client that knows `cache`, applies what the
/// server tells, and returns the new cache (a full fetch when UIDVALIDITY
/// changed).
fn resync(addr: std::net::SocketAddr, cache: &Cache) -> Cache {
    let mut c = Session::connect(addr, "plain");
    c.ok("ENABLE QRESYNC");
    let command = if cache.uidvalidity == 0 {
        "SELECT INBOX".to_string()
    } else {
        format!(
            "SELECT INBOX (QRESYNC ({} {}))",
            cache.uidvalidity, cache.modseq
        )
    };
    let (u, t) = c.run(&command);
    assert!(t.starts_with("OK"), "{command}: {t}");
    let uidvalidity: u32 = u.iter().find_map(|l| resp_code(l, "UIDVALIDITY")).unwrap()[0]
        .parse()
        .unwrap();
    let mut next = Cache {
        uidvalidity,
        modseq: highest_modseq(&u),
        flags: BTreeMap::new(),
    };
    if uidvalidity == cache.uidvalidity {
        next.flags = cache.flags.clone();
        for l in &u {
            if let Some(set) = l.strip_prefix("* VANISHED (EARLIER) ") {
                for uid in uid_set(set) {
                    next.flags.remove(&uid);
                }
            } else if l.contains(" FETCH (") {
                let uid = uid_of(l).unwrap_or_else(|| panic!("no UID: {l}"));
                assert!(modseq_of(l).unwrap() > cache.modseq, "{l}");
                next.flags.insert(uid, flags_of(l).unwrap());
            }
        }
    } else {
        assert!(
            next.modseq > cache.modseq,
            "MODSEQs went backwards: {} after {}",
            next.modseq,
            cache.modseq
        );
        for l in c.ok("UID FETCH 1:* (FLAGS)") {
            next.flags
                .insert(uid_of(&l).unwrap(), flags_of(&l).unwrap());
        }
    }
    c.logout();
    next
}

/// The server's state, from a fresh full fetch.
fn truth(addr: std::net::SocketAddr) -> BTreeMap<u32, Vec<String>> {
    let mut c = Session::connect(addr, "plain");
    c.run("EXAMINE INBOX");
    let mut out = BTreeMap::new();
    for l in c.ok("UID FETCH 1:* (FLAGS)") {
        out.insert(uid_of(&l).unwrap(), flags_of(&l).unwrap());
    }
    c.logout();
    out
}

/// Random flag changes, expunges and appends by one session while the
/// QRESYNC client is away; after each round the client resynchronises in
/// one round trip and must hold exactly the server's state. Some rounds
/// restart the server (cleanly or with kill -9) or damage the index, which
/// is rebuilt with a new UIDVALIDITY: MODSEQs still never go backwards.
#[test]
fn qresync_client_ends_with_the_servers_state() {
    let mut r = Restartable::new(&[]);
    let mut addr = r.start();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut cache = Cache::default();
    let mut appended = 0;
    let keywords = ["$a", "$b", "\\Seen", "\\Flagged", "\\Answered"];
    for round in 0..12 {
        {
            let mut w = Session::connect(addr, "plain");
            for _ in 0..3 + rng.below(5) {
                w.append("INBOX", &message(appended));
                appended += 1;
            }
            w.select("INBOX");
            let exists = truth_len(&mut w);
            for _ in 0..rng.below(12) {
                if exists == 0 {
                    break;
                }
                let n = 1 + rng.below(exists as u64);
                let k = keywords[rng.below(keywords.len() as u64) as usize];
                let op = if rng.below(2) == 0 { "+" } else { "-" };
                w.ok(&format!("STORE {n} {op}FLAGS.SILENT ({k})"));
            }
            for _ in 0..rng.below(3) {
                let n = 1 + rng.below(exists as u64);
                w.ok(&format!("STORE {n} +FLAGS.SILENT (\\Deleted)"));
            }
            if rng.below(2) == 0 {
                w.ok("EXPUNGE");
            } else {
                // \Deleted stays a flag the client must see.
            }
            w.logout();
        }
        match round % 4 {
            1 => {
                r.kill9();
                addr = r.start();
            }
            3 if round == 7 => {
                // Damage the index: rebuilt from the files, new UIDVALIDITY.
                r.kill9();
                let index = r.data.spool().join("plain/imapd.index");
                std::fs::write(&index, b"IMAPDIX4 damaged beyond repair").unwrap();
                addr = r.start();
            }
            _ => {}
        }
        let before = cache.clone();
        cache = resync(addr, &before);
        assert_eq!(
            cache.flags,
            truth(addr),
            "round {round}: after resync from {before:?}"
        );
    }
}

fn truth_len(s: &mut Session) -> u32 {
    s.ok("NOOP");
    let (u, _) = s.run("SEARCH ALL");
    u.iter()
        .find(|l| l.starts_with("* SEARCH"))
        .map(|l| l.split_whitespace().count() as u32 - 2)
        .unwrap_or(0)
}
