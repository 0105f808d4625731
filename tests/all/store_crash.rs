//! Crash safety: concurrent APPEND/STORE/EXPUNGE/COPY/RENAME traffic,
//! `kill -9` of the server (by PID) at pseudo-random moments, restart on
//! the same data directory, and check that the store opens, no
//! acknowledged message is lost, no UID is reused and UIDVALIDITY stays.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::Client;
use crate::store_util::*;

const ROUNDS: usize = 15;

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
    let (_, t) = r.cmd("SELECT INBOX")?;
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
            (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize])
        };
        let Some(uid) = pick else {
            r.cmd("NOOP")?;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        match rng.below(10) {
            0..=3 => {
                let (_, t) = r.cmd(&format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged)"))?;
                if t.starts_with("OK") {
                    st.lock().unwrap().inbox.flagged.insert(uid);
                }
            }
            4..=5 => {
                st.lock().unwrap().inbox.maybe_gone.insert(uid);
                r.cmd(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))?;
                r.cmd(&format!("UID EXPUNGE {uid}"))?;
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

/// After a restart: everything acknowledged is there.
fn verify(addr: SocketAddr, st: &mut State, round: usize) {
    let mut s = Session::connect(addr, "plain");
    for (name, mb) in [("INBOX", &mut st.inbox), ("copies", &mut st.copies)] {
        let (u, t) = s.run(&format!("EXAMINE {name}"));
        assert!(
            t.starts_with("OK"),
            "round {round}: EXAMINE {name} after kill -9: {t}\n{u:?}"
        );
        let uv: u32 = u
            .iter()
            .find_map(|l| resp_code(l, "UIDVALIDITY"))
            .unwrap_or_else(|| panic!("{u:?}"))[0]
            .parse()
            .unwrap();
        let uidnext: u32 = u
            .iter()
            .find_map(|l| resp_code(l, "UIDNEXT"))
            .unwrap_or_else(|| panic!("{u:?}"))[0]
            .parse()
            .unwrap();
        if let Some(v) = mb.uidvalidity {
            assert_eq!(
                uv, v,
                "round {round}: {name} UIDVALIDITY changed after kill -9"
            );
        }
        mb.uidvalidity = Some(uv);
        let exists = count(&u, "EXISTS").unwrap();
        let present: BTreeMap<u32, (String, bool)> = if exists == 0 {
            BTreeMap::new()
        } else {
            s.fetch("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
                .into_iter()
                .map(|f| {
                    let h = lossy(&f.bytes("BODY[HEADER.FIELDS (MESSAGE-ID)]"));
                    let mid = h
                        .trim()
                        .trim_start_matches("Message-ID:")
                        .trim()
                        .to_string();
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
    for round in 0..ROUNDS {
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
        assert!(errors.is_empty(), "round {round}: {errors:#?}");
        let addr = srv.start();
        verify(addr, &mut st.lock().unwrap(), round);
    }
    let s = st.lock().unwrap();
    eprintln!(
        "crash test: {} acknowledged appends, {} copies, {} expunge attempts over {ROUNDS} kills",
        s.inbox.acked.len(),
        s.copies.acked.len(),
        s.inbox.maybe_gone.len()
    );
    assert!(
        s.inbox.acked.len() >= ROUNDS,
        "too little traffic to mean anything"
    );
    let log = srv.log();
    assert!(!log.contains("panicked"), "server log:\n{log}");
}
