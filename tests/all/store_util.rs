//! Helpers for the mail-store tests: logged-in sessions with automatic
//! tags, responses with literals, APPEND, restarting a server on the same
//! data directory, spool snapshots.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{Client, TestDir, TestServer, imapd_bin, server};

/// A plaintext server with LOGIN allowed, plus extra imapd.conf lines.
pub fn store_server(extra: &[&str]) -> TestServer {
    let mut b = server().no_tls().conf("allowplaintext: yes");
    for l in extra {
        b = b.conf(l);
    }
    b.start()
}

/// The user's mail tree.
pub fn user_tree(root: &Path, user: &str) -> PathBuf {
    root.join("spool").join(user)
}

/// One logged-in session with its own tag counter.
pub struct Session {
    pub c: Client,
    n: u32,
}

/// An untagged response with its literals inlined as `{n}\r\n<bytes>`,
/// without the final CRLF.
pub type Resp = Vec<u8>;

impl Session {
    pub fn connect(addr: SocketAddr, user: &str) -> Session {
        let mut c = Client::connect(addr);
        let g = c.line();
        assert!(g.starts_with("* OK"), "greeting: {g}");
        c.login(user, "secret");
        Session { c, n: 0 }
    }

    pub fn new(s: &TestServer) -> Session {
        Session::connect(s.plain, "plain")
    }

    pub fn tag(&mut self) -> String {
        self.n += 1;
        format!("T{}", self.n)
    }

    /// Send a command; (untagged lines, tagged line with the tag removed).
    pub fn run(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = self.tag();
        let (u, t) = self.c.cmd(&tag, command);
        (u, t[tag.len() + 1..].to_string())
    }

    /// Run a command that must answer OK; its untagged lines.
    pub fn ok(&mut self, command: &str) -> Vec<String> {
        let (u, t) = self.run(command);
        assert!(t.starts_with("OK"), "{command:?} -> {t:?}\n{u:#?}");
        u
    }

    /// Run a command that must answer `want` (`NO` or `BAD`); the tagged text.
    pub fn fails(&mut self, command: &str, want: &str) -> String {
        let (u, t) = self.run(command);
        assert!(
            t.starts_with(want),
            "{command:?}: wanted {want}, got {t:?}\n{u:#?}"
        );
        t
    }

    /// Run a command that must answer NO or BAD (either).
    pub fn refused(&mut self, command: &str) -> String {
        let (u, t) = self.run(command);
        assert!(
            t.starts_with("NO") || t.starts_with("BAD"),
            "{command:?} should fail, got {t:?}\n{u:#?}"
        );
        t
    }

    /// Send raw bytes that end a command, then read every response up to
    /// the tag, literals included.
    pub fn raw(&mut self, tag: &str, data: &[u8]) -> (Vec<Resp>, String) {
        self.c.send_bytes(data);
        self.until_tagged(tag)
    }

    /// A command whose responses may carry literals (FETCH).
    pub fn run_lit(&mut self, command: &str) -> (Vec<Resp>, String) {
        let tag = self.tag();
        self.raw(&tag.clone(), format!("{tag} {command}\r\n").as_bytes())
    }

    pub fn ok_lit(&mut self, command: &str) -> Vec<Resp> {
        let (u, t) = self.run_lit(command);
        assert!(
            t.starts_with("OK"),
            "{command:?} -> {t:?}\n{:#?}",
            u.iter().map(|r| lossy(r)).collect::<Vec<_>>()
        );
        u
    }

    pub fn until_tagged(&mut self, tag: &str) -> (Vec<Resp>, String) {
        let mut out = Vec::new();
        loop {
            let r = read_resp(&mut self.c);
            let prefix = format!("{tag} ");
            if r.starts_with(prefix.as_bytes()) {
                return (out, lossy(&r[prefix.len()..]));
            }
            out.push(r);
        }
    }

    /// APPEND with a synchronizing literal; (untagged, tagged text).
    pub fn append_full(
        &mut self,
        mailbox: &str,
        flags: Option<&str>,
        date: Option<&str>,
        msg: &[u8],
    ) -> (Vec<String>, String) {
        let tag = self.tag();
        let mut head = format!("{tag} APPEND {mailbox}");
        if let Some(f) = flags {
            head += &format!(" ({f})");
        }
        if let Some(d) = date {
            head += &format!(" \"{d}\"");
        }
        head += &format!(" {{{}}}\r\n", msg.len());
        self.c.send(&head);
        let cont = self.c.line();
        if !cont.starts_with('+') {
            // Refused before the literal was sent.
            assert!(cont.starts_with(&format!("{tag} ")), "{cont}");
            return (Vec::new(), cont[tag.len() + 1..].to_string());
        }
        self.c.send_bytes(msg);
        self.c.send("\r\n");
        let (u, t) = self.c.until_tagged(&tag);
        (u, t[tag.len() + 1..].to_string())
    }

    /// APPEND that must succeed: the UID from APPENDUID.
    pub fn append(&mut self, mailbox: &str, msg: &[u8]) -> u32 {
        let (u, t) = self.append_full(mailbox, None, None, msg);
        assert!(t.starts_with("OK"), "APPEND {mailbox}: {t}\n{u:?}");
        appenduid(&t)
            .unwrap_or_else(|| panic!("no APPENDUID: {t}"))
            .1
    }

    /// SELECT (or EXAMINE); the untagged lines and tagged text.
    pub fn select(&mut self, mailbox: &str) -> (Vec<String>, String) {
        let (u, t) = self.run(&format!("SELECT {mailbox}"));
        assert!(t.starts_with("OK"), "SELECT {mailbox}: {t}\n{u:?}");
        (u, t)
    }

    /// FETCH responses of a command, parsed and validated.
    pub fn fetch(&mut self, command: &str) -> Vec<crate::store_grammar::Fetch> {
        let u = self.ok_lit(command);
        u.iter()
            .filter(|r| is_fetch(r))
            .map(|r| {
                crate::store_grammar::parse_fetch(r).unwrap_or_else(|e| {
                    panic!("{command}: invalid FETCH response: {e}\n{}", lossy(r))
                })
            })
            .collect()
    }

    /// STATUS items as a map.
    pub fn status(&mut self, mailbox: &str, items: &str) -> BTreeMap<String, u64> {
        let u = self.ok(&format!("STATUS {mailbox} ({items})"));
        let line = u
            .iter()
            .find(|l| l.starts_with("* STATUS "))
            .unwrap_or_else(|| panic!("no STATUS response: {u:?}"));
        status_items(line)
    }

    /// SEARCH numbers (sorted).
    pub fn search(&mut self, command: &str) -> Vec<u32> {
        let u = self.ok(command);
        search_result(&u)
    }

    pub fn logout(mut self) {
        let (_, t) = self.run("LOGOUT");
        assert!(t.starts_with("OK"), "{t}");
    }
}

pub fn is_fetch(r: &[u8]) -> bool {
    let s = lossy(&r[..r.len().min(40)]);
    let mut it = s.split(' ');
    it.next() == Some("*")
        && it.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && it.next().is_some_and(|w| w.starts_with("FETCH"))
}

pub fn search_result(u: &[String]) -> Vec<u32> {
    let line = u
        .iter()
        .find(|l| l.starts_with("* SEARCH"))
        .unwrap_or_else(|| panic!("no SEARCH response: {u:?}"));
    let mut v: Vec<u32> = line["* SEARCH".len()..]
        .split_whitespace()
        .map(|n| {
            n.parse()
                .unwrap_or_else(|_| panic!("bad SEARCH response {line}"))
        })
        .collect();
    v.sort();
    v
}

pub fn status_items(line: &str) -> BTreeMap<String, u64> {
    let open = line.rfind('(').expect("STATUS (");
    let close = line.rfind(')').expect("STATUS )");
    let words: Vec<&str> = line[open + 1..close].split_whitespace().collect();
    assert!(words.len().is_multiple_of(2), "{line}");
    words
        .chunks(2)
        .map(|p| (p[0].to_ascii_uppercase(), p[1].parse().expect(line)))
        .collect()
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One response, literals inlined.
pub fn read_resp(c: &mut Client) -> Resp {
    let mut out = Vec::new();
    loop {
        let line = c.line();
        out.extend_from_slice(line.as_bytes());
        match literal_len(&line) {
            Some(n) => {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&c.bytes(n));
            }
            None => return out,
        }
    }
}

/// `{123}` (or `~{123}`) at the end of a line.
pub fn literal_len(line: &str) -> Option<usize> {
    let l = line.strip_suffix('}')?;
    let open = l.rfind('{')?;
    let n = &l[open + 1..];
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// `MODSEQ (n)` in a FETCH line.
pub fn modseq_of(line: &str) -> Option<u64> {
    let at = line.find("MODSEQ (")? + "MODSEQ (".len();
    line[at..].split(')').next()?.parse().ok()
}

/// `UID n` in a FETCH line.
pub fn uid_of(line: &str) -> Option<u32> {
    let at = line.find("UID ")? + 4;
    line[at..].split([' ', ')']).next()?.parse().ok()
}

/// A response code's arguments: `[NAME a b c]` → `["a","b","c"]`.
pub fn resp_code<'a>(text: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let start = text.find(&format!("[{name}"))? + 1;
    let end = start + text[start..].find(']')?;
    let mut it = text[start..end].split_whitespace();
    let n = it.next()?;
    if !n.eq_ignore_ascii_case(name) {
        return None;
    }
    Some(it.collect())
}

/// `[APPENDUID v uid]` → (v, uid).
pub fn appenduid(text: &str) -> Option<(u32, u32)> {
    let a = resp_code(text, "APPENDUID")?;
    Some((a.first()?.parse().ok()?, a.get(1)?.parse().ok()?))
}

/// Expand a uid-set `1:3,7` (ascending ranges also written `3:1`).
pub fn uid_set(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().expect(s), b.parse().expect(s));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                out.extend(lo..=hi);
            }
            None => out.push(part.parse().expect(s)),
        }
    }
    out
}

/// `[COPYUID v src dst]` from any of the lines → (v, src uids, dst uids),
/// paired in order (rfc4315 4).
pub fn copyuid<'a>(
    lines: impl IntoIterator<Item = &'a String>,
) -> Option<(u32, Vec<u32>, Vec<u32>)> {
    for l in lines {
        if let Some(a) = resp_code(l, "COPYUID") {
            assert_eq!(a.len(), 3, "COPYUID needs 3 arguments: {l}");
            return Some((a[0].parse().expect(l), uid_set(a[1]), uid_set(a[2])));
        }
    }
    None
}

/// Untagged line starting with `* <word>` (case-insensitive).
pub fn find_untagged<'a>(u: &'a [String], word: &str) -> Option<&'a String> {
    u.iter()
        .find(|l| l.len() >= 2 + word.len() && l[2..2 + word.len()].eq_ignore_ascii_case(word))
}

/// `* n <WORD>` numbers, such as EXISTS and RECENT.
pub fn count(u: &[String], word: &str) -> Option<u32> {
    u.iter().find_map(|l| {
        let mut it = l.split(' ');
        (it.next() == Some("*")).then_some(())?;
        let n = it.next()?.parse().ok()?;
        it.next()
            .filter(|w| w.eq_ignore_ascii_case(word))
            .map(|_| n)
    })
}

/// `* n EXPUNGE` numbers in the order sent.
pub fn expunges(u: &[String]) -> Vec<u32> {
    u.iter()
        .filter_map(|l| {
            let mut it = l.split(' ');
            (it.next() == Some("*")).then_some(())?;
            let n = it.next()?.parse().ok()?;
            it.next()
                .filter(|w| w.eq_ignore_ascii_case("EXPUNGE"))
                .map(|_| n)
        })
        .collect()
}

/// Apply EXPUNGE responses to the UIDs of a mailbox's sequence numbers.
pub fn apply_expunges(uids: &mut Vec<u32>, seqs: &[u32]) {
    for &s in seqs {
        assert!(
            s >= 1 && (s as usize) <= uids.len(),
            "EXPUNGE {s} with {} messages",
            uids.len()
        );
        uids.remove(s as usize - 1);
    }
}

/// A small RFC 5322 message with CRLF line ends.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{}@test.example>\r\n\r\n{body}\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

/// Every path under `dir` with the file's size (directories: None).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<u64>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<PathBuf, Option<u64>>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                out.insert(rel, None);
                walk(base, &p, out);
            } else {
                out.insert(rel, Some(md.len()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Message files (Maildir cur/ and new/ entries) anywhere under `dir`.
pub fn message_files(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, sz)| {
            sz.is_some()
                && p.parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|n| n == "cur" || n == "new" || n == "tmp")
        })
        .map(|(p, _)| p)
        .collect()
}

/// An imapd process on a data directory we keep across restarts
/// (harness::TestServer deletes its directory when dropped).
pub struct Restartable {
    pub data: TestDir,
    pub child: Option<Child>,
    pub addr: Option<SocketAddr>,
    pub log: Arc<Mutex<String>>,
}

impl Restartable {
    pub fn new(extra: &[&str]) -> Restartable {
        let mut b = server().no_tls().conf("allowplaintext: yes");
        for l in extra {
            b = b.conf(l);
        }
        Restartable {
            data: b.prepare(),
            child: None,
            addr: None,
            log: Arc::new(Mutex::new(String::new())),
        }
    }

    pub fn start(&mut self) -> SocketAddr {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(imapd_bin())
            .arg("-C")
            .arg(self.data.conf())
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning imapd");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                log.lock().unwrap().push_str(&line);
                if let Some(a) = line
                    .split("listening on ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                {
                    let _ = tx.send(a.parse::<SocketAddr>().unwrap());
                }
                line.clear();
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("imapd did not start; log:\n{}", self.log.lock().unwrap());
            }
        };
        self.child = Some(child);
        self.addr = Some(addr);
        addr
    }

    /// SIGKILL (by PID) and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.addr = None;
    }

    pub fn session(&self) -> Session {
        Session::connect(self.addr.expect("running"), "plain")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A deterministic pseudo-random sequence (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An installed program, or None with a printed reason.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for d in std::env::split_paths(&path) {
        let p = d.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    eprintln!("SKIPPED: `{name}` is not installed (apt-get install it to run this test)");
    None
}
