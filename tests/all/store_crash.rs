//! Crash safety: concurrent APPEND/STORE/EXPUNGE/COPY/RENAME traffic,
//! `kill -9` of the server (by PID) at pseudo-random moments, restart on
//! the same data directory, and check that every mailbox opens, no
//! acknowledged message or flag is lost, no UID or MODSEQ is reused and
//! UIDVALIDITY stays.
//!
//! `make test` runs 15 kills; `make soak` runs the same test with
//! `IMAPD_CRASH_KILLS=1000` (or `KILLS=n`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::Client;
use crate::store_util::*;

/// Messages a mailbox grows to before the writers hold back (a soak of
/// 1,000 kills would otherwise reach 100,000 and spend its time checking
/// them).
const LIVE_CAP: usize = 2000;

/// Kills in one run: `IMAPD_CRASH_KILLS`, else 15.
fn rounds() -> usize {
    std::env::var("IMAPD_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
}

#[derive(Default, Debug)]
struct Mbox {
    /// Acknowledged UIDs (APPENDUID / COPYUID) → Message-ID.
    acked: BTreeMap<u32, String>,
    /// UIDs the test asked to expunge (acknowledged or not).
    maybe_gone: BTreeSet<u32>,
    /// UIDs acknowledged as \Flagged (never unflagged by the test).
    flagged: BTreeSet<u32>,
    /// Highest UID known at the last restart: every later UID is above it.
    max_seen: u32,
    uidvalidity: Option<u32>,
    /// Acknowledged MODSEQs (of STOREs that set \Flagged) → their UID.
    modseqs: BTreeMap<u64, u32>,
    /// HIGHESTMODSEQ at the last restart: every later change is above it.
    modseq_floor: u64,
}

#[derive(Default, Debug)]
struct State {
    inbox: Mbox,
    copies: Mbox,
    next_id: u64,
    errors: Vec<String>,
}

/// A client that returns None once the server is gone instead of panicking.
struct Raw {
    c: Client,
    n: u32,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Option<Raw> {
        let s = std::net::TcpStream::connect(addr).ok()?;
        drop(s);
        let mut c = Client::connect(addr);
        c.try_line()?;
        let mut r = Raw { c, n: 0 };
        let (_, t) = r.cmd("LOGIN plain secret")?;
        t.starts_with("OK").then_some(r)
    }
    fn cmd(&mut self, cmd: &str) -> Option<(Vec<String>, String)> {
        self.n += 1;
        let tag = format!("W{}", self.n);
        self.send(&format!("{tag} {cmd}\r\n"))?;
        self.until(&tag)
    }
    fn send(&mut self, data: &str) -> Option<()> {
        use std::io::Write;
        self.c.stream.write_all(data.as_bytes()).ok()?;
        self.c.stream.flush().ok()
    }
    fn until(&mut self, tag: &str) -> Option<(Vec<String>, String)> {
        let mut u = Vec::new();
        loop {
            let l = self.c.try_line()?;
            if let Some(t) = l.strip_prefix(&format!("{tag} ")) {
                return Some((u, t.to_string()));
            }
            u.push(l);
        }
    }
    fn append(&mut self, mbox: &str, msg: &[u8]) -> Option<String> {
        self.n += 1;
        let tag = format!("W{}", self.n);
        let mut data = format!("{tag} APPEND {mbox} {{{}+}}\r\n", msg.len()).into_bytes();
        data.extend_from_slice(msg);
        data.extend_from_slice(b"\r\n");
        use std::io::Write;
        self.c.stream.write_all(&data).ok()?;
        self.c.stream.flush().ok()?;
        self.until(&tag).map(|x| x.1)
    }
}

fn crash_message(id: u64) -> (String, Vec<u8>) {
    let mid = format!("<crash-{id}@test.example>");
    let body = "y".repeat((id as usize * 37) % 3000);
    (
        mid.clone(),
        format!(
            "From: a@example.org\r\nSubject: crash {id}\r\nMessage-ID: {mid}\r\n\r\n{body}\r\n"
        )
        .into_bytes(),
    )
}

fn appender(addr: SocketAddr, st: Arc<Mutex<State>>, stop: Arc<AtomicBool>) -> Option<()> {
    let mut r = Raw::connect(addr)?;
    while !stop.load(Ordering::Relaxed) {
        let id = {
            let mut s = st.lock().unwrap();
            s.next_id += 1;
            s.next_id
        };
        let (mid, msg) = crash_message(id);
        let t = r.append("INBOX", &msg)?;
        let mut s = st.lock().unwrap();
        if t.starts_with("OK") {
            match appenduid(&t) {
                Some((v, uid)) => {
                    let mb = &mut s.inbox;
                    if mb.uidvalidity.is_some_and(|x| x != v) {
                        let e = format!("APPENDUID validity {v} != {:?}", s.inbox.uidvalidity);
                        s.errors.push(e);
                    }
                    let mb = &mut s.inbox;
                    mb.uidvalidity = Some(v);
                    if uid <= mb.max_seen || mb.acked.contains_key(&uid) {
                        let e = format!("UID {uid} reused (floor {})", s.inbox.max_seen);
                        s.errors.push(e);
                    }
                    s.inbox.acked.insert(uid, mid);
                }
                None => s.errors.push(format!("APPEND OK without APPENDUID: {t}")),
            }
        }
    }
    Some(())
}

/// STORE \Flagged, STORE \Deleted + UID EXPUNGE, COPY, RENAME.
fn mutator(
    addr: SocketAddr,
    st: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Option<()> {
    let mut r = Raw::connect(addr)?;
    let (_, t) = r.cmd("SELECT INBOX (CONDSTORE)")?;
    if !t.starts_with("OK") {
        st.lock().unwrap().errors.push(format!("SELECT INBOX: {t}"));
        return None;
    }
    let mut rng = Rng(seed | 1);
    while !stop.load(Ordering::Relaxed) {
        // Pick a known, not-yet-expunged UID.
        let pick = {
            let s = st.lock().unwrap();
            let live: Vec<u32> = s
                .inbox
                .acked
                .keys()
                .filter(|u| !s.inbox.maybe_gone.contains(u))
                .copied()
                .collect();
            let full = (live.len() > LIVE_CAP, s.copies.acked.len() > LIVE_CAP);
            // Over the cap, the oldest go in batches.
            let oldest: Vec<u32> = live.iter().take(50).copied().collect();
            (!live.is_empty()).then(|| (live[rng.below(live.len() as u64) as usize], oldest, full))
        };
        let Some((uid, oldest, (inbox_full, copies_full))) = pick else {
            r.cmd("NOOP")?;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        // A long soak keeps the mailboxes near LIVE_CAP messages: expunge
        // when INBOX is over it, stop copying when `copies` is.
        let what = match rng.below(10) {
            _ if inbox_full => 4,
            6..=8 if copies_full => 0,
            n => n,
        };
        match what {
            0..=3 => {
                // Only a STORE that changes something gets a new MODSEQ.
                let (u, _) = r.cmd(&format!("UID FETCH {uid} (FLAGS MODSEQ)"))?;
                let Some(before) = u.iter().find(|l| uid_of(l) == Some(uid)) else {
                    continue;
                };
                if before.contains("\\Flagged") {
                    continue;
                }
                let before = modseq_of(before).unwrap_or(0);
                let (u, t) = r.cmd(&format!("UID STORE {uid} +FLAGS (\\Flagged)"))?;
                if t.starts_with("OK") {
                    let mut s = st.lock().unwrap();
                    s.inbox.flagged.insert(uid);
                    let after = u.iter().find(|l| uid_of(l) == Some(uid));
                    if let Some(m) = after.and_then(|l| modseq_of(l)) {
                        let mb = &mut s.inbox;
                        let mut errs = Vec::new();
                        if m <= before || m <= mb.modseq_floor {
                            errs.push(format!(
                                "UID {uid}: MODSEQ {m} after a change, not above {before} \
                                 (the message's) and {} (HIGHESTMODSEQ at the restart)",
                                mb.modseq_floor
                            ));
                        }
                        // Two clients flagging one message both see its
                        // one new MODSEQ; another message must not.
                        if let Some(other) = mb.modseqs.insert(m, uid)
                            && other != uid
                        {
                            errs.push(format!("MODSEQ {m} given to UID {other} and UID {uid}"));
                        }
                        s.errors.extend(errs);
                    }
                }
            }
            4..=5 => {
                let gone = if inbox_full { oldest } else { vec![uid] };
                st.lock().unwrap().inbox.maybe_gone.extend(&gone);
                let set: Vec<String> = gone.iter().map(u32::to_string).collect();
                let set = set.join(",");
                r.cmd(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"))?;
                r.cmd(&format!("UID EXPUNGE {set}"))?;
            }
            6..=8 => {
                let (u, t) = r.cmd(&format!("UID COPY {uid} copies"))?;
                if t.starts_with("OK") {
                    if let Some((v, src, dst)) = copyuid(u.iter().chain([&t])) {
                        let mut s = st.lock().unwrap();
                        let mid = s.inbox.acked.get(&uid).cloned();
                        let mb = &mut s.copies;
                        let mut errs = Vec::new();
                        if mb.uidvalidity.is_some_and(|x| x != v) {
                            errs.push(format!("COPYUID validity {v} != {:?}", mb.uidvalidity));
                        }
                        mb.uidvalidity = Some(v);
                        for (sv, dv) in src.iter().zip(&dst) {
                            if *sv == uid {
                                if *dv <= mb.max_seen || mb.acked.contains_key(dv) {
                                    errs.push(format!(
                                        "copies: UID {dv} reused (floor {})",
                                        mb.max_seen
                                    ));
                                }
                                if let Some(m) = &mid {
                                    mb.acked.insert(*dv, m.clone());
                                }
                            }
                        }
                        s.errors.extend(errs);
                    } else if !t.contains("COPYUID") {
                        // A vanished source UID copies nothing.
                    }
                }
            }
            _ => {
                // RENAME back and forth between two scratch names.
                let (_, t) = r.cmd("RENAME ren-a ren-b")?;
                if !t.starts_with("OK") {
                    r.cmd("RENAME ren-b ren-a")?;
                }
            }
        }
    }
    Some(())
}

/// The number in response code `name` (`[UIDNEXT 7]`) among `u`.
fn code_number(u: &[String], name: &str) -> u64 {
    let args = u.iter().find_map(|l| resp_code(l, name));
    args.unwrap_or_else(|| panic!("no {name} in {u:?}"))[0]
        .parse()
        .unwrap()
}

/// After a restart: everything acknowledged is there.
fn verify(addr: SocketAddr, st: &mut State, round: usize) {
    let mut s = Session::connect(addr, "plain");
    for (name, mb) in [("INBOX", &mut st.inbox), ("copies", &mut st.copies)] {
        let (u, t) = s.run(&format!("EXAMINE {name} (CONDSTORE)"));
        assert!(
            t.starts_with("OK"),
            "round {round}: EXAMINE {name} after kill -9: {t}\n{u:?}"
        );
        let uv = code_number(&u, "UIDVALIDITY") as u32;
        let uidnext = code_number(&u, "UIDNEXT") as u32;
        if let Some(v) = mb.uidvalidity {
            assert_eq!(
                uv, v,
                "round {round}: {name} UIDVALIDITY changed after kill -9"
            );
        }
        mb.uidvalidity = Some(uv);
        let highest = code_number(&u, "HIGHESTMODSEQ");
        let max_acked_modseq = mb.modseqs.keys().last().copied().unwrap_or(0);
        assert!(
            highest >= mb.modseq_floor && highest >= max_acked_modseq,
            "round {round}: {name} HIGHESTMODSEQ {highest} below {} (the last) or \
             acknowledged MODSEQ {max_acked_modseq}",
            mb.modseq_floor
        );
        mb.modseq_floor = highest;
        let exists = count(&u, "EXISTS").unwrap();
        let present: BTreeMap<u32, (String, bool)> = if exists == 0 {
            BTreeMap::new()
        } else {
            s.fetch("FETCH 1:* (UID FLAGS MODSEQ BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                .into_iter()
                .map(|f| {
                    let h = lossy(&f.bytes("BODY[HEADER.FIELDS (MESSAGE-ID)]"));
                    let mid = h
                        .trim()
                        .trim_start_matches("Message-ID:")
                        .trim()
                        .to_string();
                    let modseq = f.req("MODSEQ").list()[0].num();
                    assert!(
                        modseq <= highest,
                        "round {round}: {name} UID {}: MODSEQ {modseq} above HIGHESTMODSEQ {highest}",
                        f.uid()
                    );
                    (f.uid(), (mid, f.has_flag("\\Flagged")))
                })
                .collect()
        };
        let uids: Vec<u32> = present.keys().copied().collect();
        assert!(
            uids.windows(2).all(|w| w[0] < w[1]),
            "round {round}: {name} UIDs not ascending: {uids:?}"
        );
        if let Some(&max) = uids.last() {
            assert!(
                uidnext > max,
                "round {round}: {name} UIDNEXT {uidnext} <= UID {max}"
            );
        }
        let max_acked = mb
            .acked
            .keys()
            .last()
            .copied()
            .unwrap_or(0)
            .max(mb.max_seen);
        assert!(
            uidnext > max_acked,
            "round {round}: {name} UIDNEXT {uidnext} went back to or below acknowledged UID {max_acked}"
        );
        for (uid, mid) in &mb.acked {
            if mb.maybe_gone.contains(uid) {
                continue;
            }
            match present.get(uid) {
                None => panic!("round {round}: {name} lost acknowledged UID {uid} ({mid})"),
                Some((m, flagged)) => {
                    assert_eq!(
                        m, mid,
                        "round {round}: {name} UID {uid} has another message"
                    );
                    if mb.flagged.contains(uid) {
                        assert!(
                            flagged,
                            "round {round}: {name} UID {uid} lost an acknowledged \\Flagged"
                        );
                    }
                }
            }
        }
        // Messages we never heard about (APPEND in flight at the kill) may
        // exist; they still count for "no reuse".
        mb.max_seen = max_acked.max(uidnext - 1);
    }
    // Exactly one of the RENAME scratch names exists.
    let u = s.ok("LIST \"\" ren-*");
    assert_eq!(u.len(), 1, "round {round}: RENAME left {u:?}");
    let ren = u[0]
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let (_, t) = s.run(&format!("EXAMINE {ren}"));
    assert!(t.starts_with("OK"), "round {round}: EXAMINE {ren}: {t}");
    s.logout();
}

#[test]
fn kill_dash_nine_under_load_loses_nothing_acknowledged() {
    let mut srv = Restartable::new(&[]);
    let addr = srv.start();
    {
        let mut s = Session::connect(addr, "plain");
        s.ok("CREATE copies");
        s.ok("CREATE ren-a");
    }
    let st = Arc::new(Mutex::new(State::default()));
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let rounds = rounds();
    let started = std::time::Instant::now();
    for round in 0..rounds {
        let addr = srv.addr.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..4u64 {
            let (st, stop) = (st.clone(), stop.clone());
            let seed = rng.next();
            workers.push(std::thread::spawn(move || {
                if w < 2 {
                    appender(addr, st, stop);
                } else {
                    mutator(addr, st, stop, seed);
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(100 + rng.below(400)));
        srv.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = w.join();
        }
        let errors = std::mem::take(&mut st.lock().unwrap().errors);
        assert!(
            errors.is_empty(),
            "round {round}: {errors:#?}\nserver log, store errors:\n{}",
            srv.log()
                .lines()
                .filter(|l| l.contains("mail store") || l.contains("rror"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let addr = srv.start();
        verify(addr, &mut st.lock().unwrap(), round);
        if rounds > 15 && (round + 1) % 50 == 0 {
            eprintln!("crash test: {} kills, {:.0?}", round + 1, started.elapsed());
        }
    }
    let s = st.lock().unwrap();
    eprintln!(
        "crash test: {} acknowledged appends, {} copies, {} expunge attempts, {} flag \
         changes with their MODSEQs over {rounds} kills in {:.0?}",
        s.inbox.acked.len(),
        s.copies.acked.len(),
        s.inbox.maybe_gone.len(),
        s.inbox.modseqs.len(),
        started.elapsed()
    );
    assert!(
        s.inbox.acked.len() >= rounds,
        "too little traffic to mean anything"
    );
    let log = srv.log();
    assert!(!log.contains("panicked"), "server log:\n{log}");
}
