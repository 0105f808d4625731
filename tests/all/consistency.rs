//! Many sessions on one mailbox (rfc3501 5.2, 7.4.1; rfc2180): writers do
//! random APPEND / STORE / EXPUNGE / COPY while observers sit in NOOP or
//! IDLE. Each observer keeps its own model of the mailbox purely from the
//! untagged responses it receives (EXISTS, EXPUNGE, FETCH FLAGS); at every
//! step the model must make sense (no FETCH or EXPUNGE for a number it was
//! never told exists), and at the end it must equal what the server says.

use std::collections::BTreeSet;

use crate::harness::{Client, TestServer, server};

/// A session's view: UIDs in sequence order and their flags.
#[derive(Default, Debug)]
struct Model {
    uids: Vec<u32>,
    flags: Vec<BTreeSet<String>>,
}

fn parse_flags(line: &str) -> Option<BTreeSet<String>> {
    let start = line.find("FLAGS (")? + 7;
    let end = line[start..].find(')')? + start;
    Some(
        line[start..end]
            .split_whitespace()
            .filter(|f| *f != "\\Recent")
            .map(String::from)
            .collect(),
    )
}

fn parse_uid(line: &str) -> Option<u32> {
    let i = line.find("UID ")? + 4;
    line[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl Model {
    /// Apply one untagged line; Err on a protocol violation.
    fn apply(&mut self, line: &str) -> Result<(), String> {
        let mut w = line.split_whitespace();
        if w.next() != Some("*") {
            return Ok(());
        }
        let (Some(n), Some(kind)) = (w.next().and_then(|n| n.parse::<usize>().ok()), w.next())
        else {
            return Ok(());
        };
        match kind {
            "EXISTS" => {
                if n < self.uids.len() {
                    return Err(format!(
                        "EXISTS shrank to {n} from {}: {line}",
                        self.uids.len()
                    ));
                }
                self.uids.resize(n, 0);
                self.flags.resize(n, BTreeSet::new());
            }
            "EXPUNGE" => {
                if n == 0 || n > self.uids.len() {
                    return Err(format!("EXPUNGE {n} of {} known: {line}", self.uids.len()));
                }
                self.uids.remove(n - 1);
                self.flags.remove(n - 1);
            }
            "FETCH" => {
                if n == 0 || n > self.uids.len() {
                    return Err(format!("FETCH {n} of {} known: {line}", self.uids.len()));
                }
                if let Some(uid) = parse_uid(line) {
                    if self.uids[n - 1] != 0 && self.uids[n - 1] != uid {
                        return Err(format!(
                            "message {n} was UID {}, now {uid}: {line}",
                            self.uids[n - 1]
                        ));
                    }
                    self.uids[n - 1] = uid;
                }
                if let Some(f) = parse_flags(line) {
                    self.flags[n - 1] = f;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

struct Observer {
    c: Client,
    model: Model,
    n: u32,
}

impl Observer {
    fn cmd(&mut self, command: &str) -> String {
        self.n += 1;
        let tag = format!("o{}", self.n);
        let (u, t) = self.c.cmd(&tag, command);
        for l in &u {
            self.model
                .apply(l)
                .unwrap_or_else(|e| panic!("{command}: {e}"));
        }
        t
    }

    /// Learn the UIDs of messages known only by number.
    fn fill(&mut self) {
        if self.model.uids.contains(&0) {
            let t = self.cmd("FETCH 1:* (UID FLAGS)");
            assert!(t.contains(" OK"), "{t}");
        }
    }

    fn idle_round(&mut self, writer_work: impl FnOnce()) {
        self.n += 1;
        let tag = format!("o{}", self.n);
        self.c.send(&format!("{tag} IDLE\r\n"));
        assert_eq!(self.c.line(), "+ idling");
        writer_work();
        self.c.send("DONE\r\n");
        let (u, t) = self.c.until_tagged(&tag);
        for l in &u {
            self.model.apply(l).unwrap_or_else(|e| panic!("IDLE: {e}"));
        }
        assert!(t.ends_with("OK Completed"), "{t}");
    }
}

fn login(s: &TestServer) -> Client {
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    c
}

/// A tiny deterministic generator, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn writer_step(w: &mut Client, rng: &mut Rng, step: usize) {
    let tag = format!("w{step}");
    match rng.below(5) {
        0 | 1 => {
            let msg = format!("From: w@example.org\r\nSubject: m{step}\r\n\r\nbody {step}\r\n");
            w.send(&format!(
                "{tag} APPEND INBOX {{{}+}}\r\n{msg}\r\n",
                msg.len()
            ));
            let (_, t) = w.until_tagged(&tag);
            assert!(t.contains(" OK"), "{t}");
        }
        2 => {
            let flag = ["\\Seen", "\\Flagged", "\\Answered", "$Label1"][rng.below(4) as usize];
            let op = if rng.below(2) == 0 {
                "+FLAGS"
            } else {
                "-FLAGS"
            };
            let (_, t) = w.cmd(&tag, &format!("UID STORE 1:* {op} ({flag})"));
            assert!(t.contains(" OK") || t.contains(" NO"), "{t}");
            let (_, t) = w.cmd(&format!("{tag}b"), &format!("STORE 1 {op} ({flag})"));
            assert!(
                t.contains(" OK") || t.contains(" BAD") || t.contains(" NO"),
                "{t}"
            );
        }
        3 => {
            let (_, t) = w.cmd(&tag, "STORE 1:2 +FLAGS.SILENT (\\Deleted)");
            if t.contains(" OK") {
                let (_, t) = w.cmd(&format!("{tag}x"), "EXPUNGE");
                assert!(t.contains(" OK"), "{t}");
            }
        }
        _ => {
            let (_, t) = w.cmd(&tag, "COPY 1 INBOX");
            // rfc2180 4.4.1: a message another session expunged may still be
            // in this view; COPY of it fails as a whole.
            assert!(
                t.contains(" OK") || t.contains(" BAD") || t.contains(" NO [EXPUNGEISSUED]"),
                "{t}"
            );
        }
    }
}

fn run(observers: usize, writers: usize, steps: usize, seed: u64) {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let mut ws: Vec<Client> = (0..writers)
        .map(|_| {
            let mut c = login(&s);
            c.cmd("s", "SELECT INBOX");
            c
        })
        .collect();
    let mut obs: Vec<Observer> = (0..observers)
        .map(|_| {
            let mut o = Observer {
                c: login(&s),
                model: Model::default(),
                n: 0,
            };
            let t = o.cmd("SELECT INBOX");
            assert!(t.contains("OK"), "{t}");
            o
        })
        .collect();
    let mut rng = Rng(seed);
    for step in 0..steps {
        let wi = rng.below(writers as u64) as usize;
        let oi = rng.below(observers as u64) as usize;
        if rng.below(3) == 0 {
            // This observer idles while the writer works.
            let w = &mut ws[wi];
            obs[oi].idle_round(|| writer_step(w, &mut rng, step));
        } else {
            writer_step(&mut ws[wi], &mut rng, step);
            let t = obs[oi].cmd(if rng.below(2) == 0 { "NOOP" } else { "CHECK" });
            assert!(t.contains("OK"), "{t}");
        }
        obs[oi].fill();
    }
    // Everyone catches up; then each view must be the server's.
    for o in obs.iter_mut() {
        o.cmd("NOOP");
        o.fill();
        let mut fresh = Model::default();
        o.n += 1;
        let (u, t) = o.c.cmd(&format!("o{}", o.n), "FETCH 1:* (UID FLAGS)");
        assert!(t.contains("OK"), "{t}");
        for l in &u {
            if l.contains(" FETCH ") {
                let n: usize = l.split_whitespace().nth(1).unwrap().parse().unwrap();
                if n > fresh.uids.len() {
                    fresh.uids.resize(n, 0);
                    fresh.flags.resize(n, BTreeSet::new());
                }
                fresh.uids[n - 1] = parse_uid(l).unwrap();
                fresh.flags[n - 1] = parse_flags(l).unwrap();
            }
        }
        assert_eq!(o.model.uids, fresh.uids, "sequence numbers drifted");
        assert_eq!(o.model.flags, fresh.flags, "flags drifted");
    }
}

#[test]
fn two_sessions_stay_consistent() {
    run(1, 1, 60, 0x9e3779b97f4a7c15);
}

#[test]
fn ten_sessions_stay_consistent() {
    run(5, 5, 120, 0xdeadbeefcafef00d);
}
