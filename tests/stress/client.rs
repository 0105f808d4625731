//! One stress client: a deterministic random walk over IMAP commands, every
//! response checked against the model the client keeps of its selected
//! mailbox and against what all clients together know (`Shared`).
//!
//! What is checked, and why it must hold:
//! - `* n EXISTS` never shrinks the view (only EXPUNGE does: rfc9051 7.4.1);
//! - `* n EXPUNGE` and `* n FETCH` name a message the client was told of;
//!   no EXPUNGE while answering FETCH, STORE or SEARCH (rfc9051 7.5.1);
//! - UIDs ascend with sequence numbers, a message keeps its UID, a new
//!   message's UID is above every UID this view has seen, and no UID comes
//!   back after it was expunged or handed out twice by APPENDUID/COPYUID
//!   (rfc9051 2.3.1.1);
//! - UIDVALIDITY of a mailbox never changes (nothing here deletes one);
//! - the keyword `$c<id>`, which only client <id> sets or clears, is
//!   exactly as that client last left it, in every FETCH and SEARCH;
//! - ENVELOPE, RFC822.SIZE, BODY[TEXT] and BODY[1] are those of the message
//!   that APPENDUID/COPYUID put under that UID;
//! - every command of this workload is answered OK.

use crate::message::MsgName;
use crate::wire::{Conn, Read1, Tok, tokenize};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every client knows, shared.
#[derive(Default)]
pub struct Shared {
    pub state: Mutex<Global>,
    pub ops: AtomicU64,
    /// Ticks at every command sent: orders what clients saw.
    pub clock: AtomicU64,
}

#[derive(Default)]
pub struct Global {
    pub uidvalidity: HashMap<String, u32>,
    /// Per mailbox: UID -> message, from APPENDUID and COPYUID.
    pub assigned: HashMap<String, HashMap<u32, Option<MsgName>>>,
    /// Per mailbox: UIDs some client saw expunged, with the clock then and
    /// who saw it.
    pub expunged: HashMap<String, HashMap<u32, (u64, u32)>>,
}

pub struct Config {
    pub addr: SocketAddr,
    pub user: String,
    pub pass: String,
    pub mailboxes: Vec<String>,
    pub run: u64,
    pub deadline: Instant,
    /// Above this many messages a mailbox is trimmed rather than grown.
    pub max_messages: usize,
    /// Where each client writes its whole conversation, if anywhere.
    pub transcripts: Option<std::path::PathBuf>,
}

/// One message in the selected mailbox as this client knows it.
#[derive(Clone, Debug)]
struct Entry {
    uid: Option<u32>,
    /// Its UID must be at least this: above every UID the view knew when
    /// it was announced.
    min_uid: u32,
    /// The clock when the command that announced it was sent.
    announced: u64,
    flags: Vec<String>,
}

/// The command being answered: what its untagged responses may do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// FETCH, STORE, SEARCH by sequence number: no EXPUNGE allowed.
    SeqNoExpunge,
    Other,
}

struct Pending {
    kind: Kind,
    /// The clock when the command was sent.
    sent: u64,
    /// A STORE of my keyword: its UIDs and the state it sets.
    storing: Option<(HashSet<u32>, bool)>,
    search: Option<Vec<u64>>,
    /// The view's UIDs when `* SEARCH` came (None: some unknown), and its size.
    search_view: Option<(Option<HashSet<u64>>, usize)>,
    copyuid: Option<(u32, Vec<u32>, Vec<u32>)>,
    appenduid: Option<(u32, u32)>,
    status: Option<(String, Vec<Tok>)>,
    fetched: HashSet<usize>,
}

impl Pending {
    fn new(kind: Kind, sent: u64) -> Pending {
        Pending {
            kind,
            sent,
            storing: None,
            search: None,
            search_view: None,
            copyuid: None,
            appenduid: None,
            status: None,
            fetched: HashSet::new(),
        }
    }
}

pub struct Client {
    id: u32,
    cfg: Arc<Config>,
    shared: Arc<Shared>,
    rng: StdRng,
    conn: Option<Conn>,
    tag: u64,
    selected: Option<String>,
    view: Vec<Entry>,
    /// Highest UID this view was told of (expunged ones included).
    max_uid: u32,
    /// My keyword's state per (mailbox, UID), as I last set or saw it.
    mine: HashMap<(String, u32), bool>,
    appended: u32,
    pub errors: Vec<String>,
    pub ops: u64,
    last_cmd: String,
    /// A reply of NO that this command may legitimately get.
    may_fail: bool,
}

type Res<T> = Result<T, String>;

fn parse_uid_set(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.split(',') {
        if let Some((a, b)) = part.split_once(':') {
            if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                let (lo, hi) = (a.min(b), a.max(b));
                out.extend(lo..=hi);
            }
        } else if let Ok(v) = part.parse() {
            out.push(v);
        }
    }
    out
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl Client {
    pub fn new(id: u32, seed: u64, cfg: Arc<Config>, shared: Arc<Shared>) -> Client {
        Client {
            id,
            cfg,
            shared,
            rng: StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)),
            conn: None,
            tag: 0,
            selected: None,
            view: Vec::new(),
            max_uid: 0,
            mine: HashMap::new(),
            appended: 0,
            errors: Vec::new(),
            ops: 0,
            last_cmd: String::new(),
            may_fail: false,
        }
    }

    fn tick(&self) -> u64 {
        self.shared.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn keyword(&self) -> String {
        format!("$c{}", self.id)
    }

    /// Run until the deadline; errors are collected and the client starts
    /// over on a new connection after each.
    pub fn run(&mut self) {
        while Instant::now() < self.cfg.deadline {
            if let Err(e) = self.step() {
                let trace = self
                    .conn
                    .as_ref()
                    .map(|c| c.trace.tail())
                    .unwrap_or_default();
                if let Some(c) = &mut self.conn {
                    c.note(&format!("ERROR {e}"));
                }
                self.errors.push(format!(
                    "client {} op {} ({}): {e}\n--- last exchange ---\n{trace}",
                    self.id, self.ops, self.last_cmd
                ));
                self.conn = None;
                self.selected = None;
                if self.errors.len() > 20 {
                    return;
                }
            }
        }
        if self.conn.is_some() {
            let _ = self.logout();
        }
    }

    fn step(&mut self) -> Res<()> {
        if self.conn.is_none() {
            self.connect()?;
        }
        if self.selected.is_none() {
            let m = self.pick_mailbox();
            self.select(&m)?;
        }
        self.ops += 1;
        self.shared.ops.fetch_add(1, Ordering::Relaxed);
        let roll = self.rng.gen_range(0..100);
        let len = self.view.len();
        let full = len > self.cfg.max_messages;
        match roll {
            0..=5 => {
                let m = self.pick_mailbox();
                self.select(&m)
            }
            6..=17 => self.fetch_flags(),
            18..=25 => self.fetch_envelope(),
            26..=33 => self.fetch_body(),
            34..=45 => self.store_keyword(),
            46..=50 => self.store_deleted(),
            51..=62 if !full => self.append(),
            51..=62 => self.expunge(),
            63..=66 => self.copy(false),
            67..=70 => self.copy(true),
            71..=75 => self.expunge(),
            76..=83 => self.search(),
            84..=88 => self.idle(),
            89..=91 => self.status(),
            92..=93 => self.noop(),
            94 => self.sync_all(),
            95..=96 => self.close(),
            _ => {
                self.logout()?;
                self.connect()
            }
        }
    }

    fn pick_mailbox(&mut self) -> String {
        let i = self.rng.gen_range(0..self.cfg.mailboxes.len());
        self.cfg.mailboxes[i].clone()
    }

    fn conn(&mut self) -> Res<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| "not connected".to_string())
    }

    fn connect(&mut self) -> Res<()> {
        self.selected = None;
        self.view.clear();
        let mut c = Conn::connect(self.cfg.addr).map_err(|e| format!("connect: {e}"))?;
        c.set_timeout(Duration::from_secs(60));
        if let Some(dir) = &self.cfg.transcripts {
            c.transcript(&dir.join(format!("client{}.log", self.id)));
        }
        match c.read()? {
            Read1::Resp(r) if r.starts_with(b"* OK") => {}
            Read1::Resp(r) => return Err(format!("greeting: {}", String::from_utf8_lossy(&r))),
            _ => return Err("no greeting".into()),
        }
        self.conn = Some(c);
        let (u, p) = (self.cfg.user.clone(), self.cfg.pass.clone());
        self.command(&format!("LOGIN {u} {p}"), Kind::Other)?;
        Ok(())
    }

    fn logout(&mut self) -> Res<()> {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        self.last_cmd = "LOGOUT".into();
        let c = self.conn()?;
        c.send(format!("{tag} LOGOUT\r\n").as_bytes())?;
        let mut bye = false;
        loop {
            match c.read()? {
                Read1::Resp(r) if r.starts_with(b"* BYE") => bye = true,
                Read1::Resp(r) if r.starts_with(format!("{tag} OK").as_bytes()) => break,
                Read1::Resp(r) if r.starts_with(b"* ") => {}
                Read1::Resp(r) => {
                    return Err(format!("LOGOUT: {}", String::from_utf8_lossy(&r)));
                }
                _ => return Err("LOGOUT: no tagged OK".into()),
            }
        }
        if !bye {
            return Err("LOGOUT without * BYE".into());
        }
        self.conn = None;
        self.selected = None;
        Ok(())
    }

    /// Send one command and process every response up to its tagged one.
    fn command(&mut self, cmd: &str, kind: Kind) -> Res<Pending> {
        self.command_with(cmd, kind, None)
    }

    fn command_with(
        &mut self,
        cmd: &str,
        kind: Kind,
        storing: Option<(HashSet<u32>, bool)>,
    ) -> Res<Pending> {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        self.last_cmd = cmd.chars().take(120).collect();
        let sent = self.tick();
        self.conn()?.note(&format!("clock {sent}"));
        self.conn()?.send(format!("{tag} {cmd}\r\n").as_bytes())?;
        let mut p = Pending {
            storing,
            ..Pending::new(kind, sent)
        };
        self.finish(&tag, &mut p)?;
        Ok(p)
    }

    /// Read responses up to `tag`'s; it must be OK (or NO where allowed).
    fn finish(&mut self, tag: &str, p: &mut Pending) -> Res<()> {
        loop {
            let r = match self.conn()?.read()? {
                Read1::Resp(r) => r,
                Read1::Quiet => return Err("no answer within 60 s".into()),
                Read1::Eof => return Err("connection closed by the server".into()),
            };
            let toks = tokenize(&r)?;
            let text = String::from_utf8_lossy(&r).trim_end().to_string();
            match toks.first().and_then(Tok::atom) {
                Some("*") => self.untagged(&toks, &text, p)?,
                Some("+") => return Err(format!("unexpected continuation: {text}")),
                Some(t) if t == tag => {
                    let status = toks.get(1).and_then(Tok::atom).unwrap_or("");
                    self.codes(&toks, p)?;
                    if status.eq_ignore_ascii_case("OK") {
                        return Ok(());
                    }
                    if status.eq_ignore_ascii_case("NO") && self.may_fail {
                        return Ok(());
                    }
                    return Err(format!("command failed: {text}"));
                }
                _ => return Err(format!("response with another tag: {text}")),
            }
        }
    }

    /// Response codes of a status response (`[APPENDUID ...]` etc.).
    fn codes(&mut self, toks: &[Tok], p: &mut Pending) -> Res<()> {
        let Some(code) = toks.get(2).and_then(Tok::atom) else {
            return Ok(());
        };
        let Some(inner) = code.strip_prefix('[').and_then(|c| c.strip_suffix(']')) else {
            return Ok(());
        };
        let parts: Vec<&str> = inner.split_whitespace().collect();
        let num = |i: usize| parts.get(i).and_then(|v| v.parse::<u32>().ok());
        match parts.first().map(|s| s.to_ascii_uppercase()).as_deref() {
            Some("APPENDUID") => {
                p.appenduid = Some((
                    num(1).ok_or("bad APPENDUID")?,
                    num(2).ok_or("bad APPENDUID")?,
                ));
            }
            Some("COPYUID") => {
                let v = num(1).ok_or("bad COPYUID")?;
                let src = parse_uid_set(parts.get(2).ok_or("bad COPYUID")?);
                let dst = parse_uid_set(parts.get(3).ok_or("bad COPYUID")?);
                if src.len() != dst.len() {
                    return Err(format!("COPYUID sets differ in size: {inner}"));
                }
                p.copyuid = Some((v, src, dst));
            }
            Some("UIDVALIDITY") => {
                let v = num(1).ok_or("bad UIDVALIDITY")?;
                if let Some(m) = self.selected.clone() {
                    self.check_uidvalidity(&m, v)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_uidvalidity(&self, mailbox: &str, v: u32) -> Res<()> {
        let mut g = self.shared.state.lock().unwrap();
        let old = *g.uidvalidity.entry(mailbox.to_string()).or_insert(v);
        if old != v {
            return Err(format!(
                "UIDVALIDITY of {mailbox} changed from {old} to {v}"
            ));
        }
        Ok(())
    }

    fn untagged(&mut self, toks: &[Tok], text: &str, p: &mut Pending) -> Res<()> {
        let second = toks.get(1).and_then(Tok::atom).unwrap_or("").to_string();
        let third = toks
            .get(2)
            .and_then(Tok::atom)
            .map(|s| s.to_ascii_uppercase());
        if let Ok(n) = second.parse::<usize>() {
            match third.as_deref() {
                Some("EXISTS") => {
                    if n < self.view.len() {
                        return Err(format!(
                            "EXISTS {n} below the {} messages announced, without EXPUNGE",
                            self.view.len()
                        ));
                    }
                    // New messages come after every one announced, so their
                    // UIDs are above every UID known (rfc9051 2.3.1.1).
                    let min_uid = self.max_uid + 1;
                    while self.view.len() < n {
                        self.view.push(Entry {
                            uid: None,
                            min_uid,
                            announced: p.sent,
                            flags: Vec::new(),
                        });
                    }
                }
                Some("RECENT") => {}
                Some("EXPUNGE") => {
                    if p.kind == Kind::SeqNoExpunge {
                        return Err(format!("EXPUNGE during FETCH/STORE/SEARCH: {text}"));
                    }
                    if n == 0 || n > self.view.len() {
                        return Err(format!(
                            "EXPUNGE of message {n} of {}: not announced",
                            self.view.len()
                        ));
                    }
                    let e = self.view.remove(n - 1);
                    if let (Some(uid), Some(m)) = (e.uid, &self.selected) {
                        let mut g = self.shared.state.lock().unwrap();
                        let now = self.shared.clock.load(Ordering::SeqCst);
                        g.expunged
                            .entry(m.clone())
                            .or_default()
                            .insert(uid, (now, self.id));
                    }
                }
                Some("FETCH") => {
                    let items = toks
                        .get(3)
                        .and_then(Tok::list)
                        .ok_or("FETCH without list")?;
                    self.fetch_response(n, items, p)?;
                }
                _ => return Err(format!("unknown numbered response: {text}")),
            }
            return Ok(());
        }
        match second.to_ascii_uppercase().as_str() {
            "OK" | "NO" => self.codes(toks, p)?,
            "BAD" => return Err(format!("untagged BAD: {text}")),
            "BYE" => return Err(format!("unexpected BYE: {text}")),
            "SEARCH" => {
                let mut v = Vec::new();
                for t in &toks[2..] {
                    v.push(t.num().ok_or_else(|| format!("bad SEARCH: {text}"))?);
                }
                p.search = Some(v);
                // Responses after it (EXPUNGE, EXISTS) change the view, not
                // what the search saw.
                let uids = self.selected_fully_known().then(|| {
                    self.view
                        .iter()
                        .filter_map(|e| e.uid)
                        .map(u64::from)
                        .collect()
                });
                p.search_view = Some((uids, self.view.len()));
            }
            "STATUS" => {
                let name = toks.get(2).and_then(Tok::bytes).unwrap_or_default();
                let l = toks
                    .get(3)
                    .and_then(Tok::list)
                    .ok_or("STATUS without list")?;
                p.status = Some((String::from_utf8_lossy(name).into_owned(), l.to_vec()));
            }
            "FLAGS" | "CAPABILITY" | "LIST" | "ENABLED" | "ID" | "NAMESPACE" => {}
            _ => return Err(format!("unknown untagged response: {text}")),
        }
        Ok(())
    }

    fn selected_fully_known(&self) -> bool {
        self.view.iter().all(|e| e.uid.is_some())
    }

    fn fetch_response(&mut self, n: usize, items: &[Tok], p: &mut Pending) -> Res<()> {
        if n == 0 || n > self.view.len() {
            return Err(format!(
                "FETCH for message {n}, but only {} announced",
                self.view.len()
            ));
        }
        p.fetched.insert(n);
        let mailbox = self.selected.clone().ok_or("FETCH while not selected")?;
        let mut map: HashMap<String, &Tok> = HashMap::new();
        for pair in items.chunks(2) {
            let [k, v] = pair else {
                return Err("odd FETCH item list".into());
            };
            let k = k.atom().ok_or("FETCH item name not an atom")?;
            map.insert(k.to_ascii_uppercase(), v);
        }
        // The UID.
        if let Some(u) = map.get("UID") {
            let uid = u.num().ok_or("bad UID")? as u32;
            let e = &self.view[n - 1];
            match e.uid {
                Some(old) if old != uid => {
                    return Err(format!("message {n} was UID {old}, now FETCH says {uid}"));
                }
                Some(_) => {}
                None => {
                    if uid < e.min_uid {
                        return Err(format!(
                            "new message {n} got UID {uid}, not above UID {} seen before",
                            e.min_uid - 1
                        ));
                    }
                    // Expunged (as some client was told) before the command
                    // that announced this message was sent: a reused UID.
                    let g = self.shared.state.lock().unwrap();
                    let gone = g.expunged.get(&mailbox).and_then(|s| s.get(&uid)).copied();
                    drop(g);
                    if let Some((t, who)) = gone
                        && t < e.announced
                    {
                        return Err(format!(
                            "message {n} has UID {uid} in {mailbox}, which client {who} was told was expunged (clock {t}) before this message was announced (clock {})",
                            e.announced
                        ));
                    }
                    self.view[n - 1].uid = Some(uid);
                    self.max_uid = self.max_uid.max(uid);
                }
            }
            let before = self.view[..n - 1].iter().rev().find_map(|e| e.uid);
            let after = self.view[n..].iter().find_map(|e| e.uid);
            if before.is_some_and(|b| b >= uid) || after.is_some_and(|a| a <= uid) {
                return Err(format!(
                    "UIDs out of order at message {n}: {before:?} < {uid} < {after:?} fails"
                ));
            }
        }
        let uid = self.view[n - 1].uid;
        // Flags, and my keyword in them.
        if let Some(f) = map.get("FLAGS") {
            let flags: Vec<String> = f
                .list()
                .ok_or("FLAGS not a list")?
                .iter()
                .map(|t| t.atom().unwrap_or("").to_string())
                .collect();
            let kw = self.keyword();
            let has = flags.iter().any(|f| f.eq_ignore_ascii_case(&kw));
            if let Some(uid) = uid {
                let key = (mailbox.clone(), uid);
                if let Some((set, _)) = &p.storing
                    && set.contains(&uid)
                {
                    // The STORE's own result, or the last flags of a
                    // message another session expunged meanwhile (which
                    // the STORE did not change): a STORE that did not take
                    // shows in the next FETCH of that UID.
                } else if let Some(&want) = self.mine.get(&key) {
                    if want != has {
                        return Err(format!(
                            "UID {uid} in {mailbox}: {kw} is {}, but I left it {}",
                            if has { "set" } else { "clear" },
                            if want { "set" } else { "clear" }
                        ));
                    }
                } else {
                    self.mine.insert(key, has);
                }
            }
            self.view[n - 1].flags = flags;
        }
        // Content, against what was appended under this UID.
        let mut name = uid.and_then(|u| {
            let g = self.shared.state.lock().unwrap();
            g.assigned
                .get(&mailbox)
                .and_then(|m| m.get(&u))
                .copied()
                .flatten()
        });
        // A message whose APPENDUID is not in yet: its Message-ID names it.
        if name.is_none()
            && let Some(env) = map.get("ENVELOPE").and_then(|e| e.list())
        {
            let id = env.get(9).and_then(Tok::bytes).unwrap_or_default();
            match MsgName::from_message_id(&String::from_utf8_lossy(id)) {
                Some((n, run)) if run == self.cfg.run => name = Some(n),
                _ => {
                    return Err(format!(
                        "message {n}: ENVELOPE Message-ID {:?} is none of ours",
                        String::from_utf8_lossy(id)
                    ));
                }
            }
        }
        if let Some(name) = name {
            let m = name.build(self.cfg.run);
            let what = |k: &str| format!("UID {} in {mailbox} ({name:?}): {k}", uid.unwrap_or(0));
            if let Some(s) = map.get("RFC822.SIZE") {
                let s = s.num().ok_or("bad RFC822.SIZE")?;
                if s != m.bytes.len() as u64 {
                    return Err(what(&format!(
                        "RFC822.SIZE {s}, appended {}",
                        m.bytes.len()
                    )));
                }
            }
            if let Some(env) = map.get("ENVELOPE") {
                let env = env.list().ok_or("ENVELOPE not a list")?;
                let subject = env.get(1).and_then(Tok::bytes).unwrap_or_default();
                let id = env.get(9).and_then(Tok::bytes).unwrap_or_default();
                if subject != m.subject.as_bytes() || id != m.message_id.as_bytes() {
                    return Err(what(&format!(
                        "ENVELOPE subject {:?} id {:?}, appended {:?} {:?}",
                        String::from_utf8_lossy(subject),
                        String::from_utf8_lossy(id),
                        m.subject,
                        m.message_id
                    )));
                }
            }
            if let Some(t) = map.get("BODY[TEXT]")
                && t.bytes() != Some(&m.bytes[m.text_at..])
            {
                return Err(what("BODY[TEXT] differs from what was appended"));
            }
            if let Some(t) = map.get("BODY[1]")
                && t.bytes() != Some(&m.part1[..])
            {
                return Err(what("BODY[1] differs from what was appended"));
            }
            if let Some(t) = map.get("BODY[HEADER.FIELDS (MESSAGE-ID)]") {
                let want = format!("Message-ID: {}\r\n\r\n", m.message_id);
                if t.bytes() != Some(want.as_bytes()) {
                    return Err(what(&format!(
                        "HEADER.FIELDS (MESSAGE-ID) is {:?}",
                        String::from_utf8_lossy(t.bytes().unwrap_or_default())
                    )));
                }
            }
        }
        Ok(())
    }

    fn select(&mut self, mailbox: &str) -> Res<()> {
        self.selected = None;
        self.view.clear();
        self.max_uid = 0;
        self.selected = Some(mailbox.to_string());
        let r = self.command(&format!("SELECT {mailbox}"), Kind::Other);
        if let Err(e) = r {
            self.selected = None;
            return Err(e);
        }
        self.sync_all()
    }

    /// Learn every UID and flag of the view: `FETCH 1:* (UID FLAGS)` must
    /// answer for every message announced when it was sent.
    fn sync_all(&mut self) -> Res<()> {
        let len = self.view.len();
        if len == 0 {
            return Ok(());
        }
        let p = self.command("FETCH 1:* (UID FLAGS)", Kind::SeqNoExpunge)?;
        for n in 1..=len {
            if !p.fetched.contains(&n) {
                return Err(format!("FETCH 1:* gave nothing for message {n} of {len}"));
            }
        }
        Ok(())
    }

    /// Some UIDs of the view (known ones), at most `max`.
    fn some_uids(&mut self, max: usize) -> Vec<u32> {
        let known: Vec<u32> = self.view.iter().filter_map(|e| e.uid).collect();
        if known.is_empty() {
            return known;
        }
        let k = self.rng.gen_range(1..=max.min(known.len()));
        let start = self.rng.gen_range(0..known.len());
        let mut v: Vec<u32> = (0..k)
            .map(|i| known[(start + i * 7) % known.len()])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn seq_range(&mut self) -> Option<String> {
        let len = self.view.len();
        if len == 0 {
            return None;
        }
        let a = self.rng.gen_range(1..=len);
        let b = (a + self.rng.gen_range(0..20)).min(len);
        Some(if self.rng.gen_bool(0.2) && a == 1 {
            "1:*".into()
        } else {
            format!("{a}:{b}")
        })
    }

    fn fetch_flags(&mut self) -> Res<()> {
        if self.rng.gen_bool(0.5) {
            let Some(r) = self.seq_range() else {
                return self.noop();
            };
            self.command(&format!("FETCH {r} (UID FLAGS)"), Kind::SeqNoExpunge)?;
        } else {
            return self.uid_command(30, "FETCH", "(FLAGS)");
        }
        Ok(())
    }

    /// `UID <verb> <set> <rest>` on up to `max` known UIDs (NOOP when the
    /// view knows none).
    fn uid_command(&mut self, max: usize, verb: &str, rest: &str) -> Res<()> {
        let uids = self.some_uids(max);
        if uids.is_empty() {
            return self.noop();
        }
        let cmd = format!("UID {verb} {} {rest}", uid_set(&uids));
        self.command(&cmd, Kind::Other)?;
        Ok(())
    }

    fn fetch_envelope(&mut self) -> Res<()> {
        self.uid_command(20, "FETCH", "(FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
    }

    fn fetch_body(&mut self) -> Res<()> {
        let what = match self.rng.gen_range(0..3) {
            0 => "(BODY.PEEK[TEXT])",
            1 => "(BODY.PEEK[1])",
            _ => "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
        };
        self.uid_command(4, "FETCH", what)
    }

    fn store_keyword(&mut self) -> Res<()> {
        let uids = self.some_uids(10);
        if uids.is_empty() {
            return self.noop();
        }
        let on = self.rng.gen_bool(0.5);
        let kw = self.keyword();
        let cmd = format!(
            "UID STORE {} {}FLAGS ({kw})",
            uid_set(&uids),
            if on { "+" } else { "-" }
        );
        let set: HashSet<u32> = uids.iter().copied().collect();
        self.command_with(&cmd, Kind::Other, Some((set, on)))?;
        let m = self.selected.clone().unwrap_or_default();
        for u in uids {
            self.mine.insert((m.clone(), u), on);
        }
        Ok(())
    }

    fn store_deleted(&mut self) -> Res<()> {
        self.uid_command(3, "STORE", "+FLAGS.SILENT (\\Deleted)")
    }

    fn expunge(&mut self) -> Res<()> {
        if self.view.len() > self.cfg.max_messages {
            // Trim: delete a good part of the mailbox.
            let uids: Vec<u32> = self
                .view
                .iter()
                .filter_map(|e| e.uid)
                .take(self.cfg.max_messages / 2)
                .collect();
            if !uids.is_empty() {
                self.command(
                    &format!("UID STORE {} +FLAGS.SILENT (\\Deleted)", uid_set(&uids)),
                    Kind::Other,
                )?;
            }
        }
        if self.rng.gen_bool(0.5) {
            self.command("EXPUNGE", Kind::Other)?;
        } else {
            let uids: Vec<u32> = self
                .view
                .iter()
                .filter(|e| e.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Deleted")))
                .filter_map(|e| e.uid)
                .collect();
            if uids.is_empty() {
                return self.noop();
            }
            self.command(&format!("UID EXPUNGE {}", uid_set(&uids)), Kind::Other)?;
        }
        Ok(())
    }

    fn append(&mut self) -> Res<()> {
        let target = self.pick_mailbox();
        let name = MsgName {
            client: self.id,
            n: self.appended,
        };
        self.appended += 1;
        let m = name.build(self.cfg.run);
        let flags = if self.rng.gen_bool(0.3) {
            format!("({} \\Seen) ", self.keyword())
        } else {
            String::new()
        };
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        self.last_cmd = format!("APPEND {target} {flags}{{{}+}}", m.bytes.len());
        let mut data = format!("{tag} {}\r\n", self.last_cmd).into_bytes();
        data.extend_from_slice(&m.bytes);
        data.extend_from_slice(b"\r\n");
        let sent = self.tick();
        self.conn()?.note(&format!("clock {sent}"));
        self.conn()?.send(&data)?;
        let mut p = Pending::new(Kind::Other, sent);
        self.finish(&tag, &mut p)?;
        let (v, uid) = p.appenduid.ok_or("APPEND OK without APPENDUID")?;
        self.check_uidvalidity(&target, v)?;
        self.record_new(&target, &[(uid, Some(name))], p.sent)?;
        self.mine.insert((target, uid), !flags.is_empty());
        Ok(())
    }

    /// UIDs a server just handed out (APPENDUID, COPYUID): never before.
    /// `sent`: the clock when the command was sent; a UID seen expunged
    /// before then cannot be new.
    fn record_new(&self, mailbox: &str, uids: &[(u32, Option<MsgName>)], sent: u64) -> Res<()> {
        let mut g = self.shared.state.lock().unwrap();
        let was_expunged: Vec<u32> = uids
            .iter()
            .filter(|(u, _)| {
                g.expunged
                    .get(mailbox)
                    .and_then(|s| s.get(u))
                    .is_some_and(|&(t, _)| t < sent)
            })
            .map(|(u, _)| *u)
            .collect();
        let a = g.assigned.entry(mailbox.to_string()).or_default();
        for (u, name) in uids {
            if let Some(old) = a.insert(*u, *name) {
                return Err(format!(
                    "UID {u} in {mailbox} handed out twice (was {old:?}, now {name:?})"
                ));
            }
        }
        if !was_expunged.is_empty() {
            return Err(format!(
                "UIDs {was_expunged:?} in {mailbox} reused after expunge"
            ));
        }
        Ok(())
    }

    fn copy(&mut self, mv: bool) -> Res<()> {
        let uids = self.some_uids(5);
        if uids.is_empty() {
            return self.noop();
        }
        let src = self.selected.clone().unwrap_or_default();
        let mut target = self.pick_mailbox();
        if mv && target == src {
            target = self
                .cfg
                .mailboxes
                .iter()
                .find(|m| **m != src)
                .cloned()
                .unwrap_or(target);
            if target == src {
                return self.noop();
            }
        }
        let verb = if mv { "MOVE" } else { "COPY" };
        // Messages another session expunged meanwhile: a COPY of only
        // those may be refused (rfc9051 6.4.7 leaves it to the server).
        self.may_fail = true;
        let r = self.command(
            &format!("UID {verb} {} {target}", uid_set(&uids)),
            Kind::Other,
        );
        self.may_fail = false;
        let p = r?;
        if let Some((v, s, d)) = p.copyuid {
            self.check_uidvalidity(&target, v)?;
            let names: Vec<(u32, Option<MsgName>)> = {
                let g = self.shared.state.lock().unwrap();
                let from = g.assigned.get(&src);
                s.iter()
                    .zip(&d)
                    .map(|(su, du)| (*du, from.and_then(|m| m.get(su)).copied().flatten()))
                    .collect()
            };
            for (su, du) in s.iter().zip(&d) {
                if !uids.contains(su) {
                    return Err(format!("COPYUID names UID {su}, which was not copied"));
                }
                if let Some(&k) = self.mine.get(&(src.clone(), *su)) {
                    // The copy has the original's flags (rfc9051 6.4.7).
                    self.mine.insert((target.clone(), *du), k);
                }
            }
            self.record_new(&target, &names, p.sent)?;
            if mv {
                let still: Vec<u32> = s
                    .iter()
                    .filter(|u| self.view.iter().any(|e| e.uid == Some(**u)))
                    .copied()
                    .collect();
                if !still.is_empty() {
                    return Err(format!("MOVE done, but UIDs {still:?} not expunged"));
                }
            }
        }
        Ok(())
    }

    fn search(&mut self) -> Res<()> {
        let kw = self.keyword();
        if self.rng.gen_bool(0.5) {
            let p = self.command(&format!("SEARCH KEYWORD {kw}"), Kind::SeqNoExpunge)?;
            let res = p.search.ok_or("SEARCH without * SEARCH")?;
            let m = self.selected.clone().unwrap_or_default();
            let len = p.search_view.map(|v| v.1).unwrap_or(0);
            for &n in &res {
                if n == 0 || n as usize > len {
                    return Err(format!("SEARCH found message {n} of {len}"));
                }
            }
            for (i, e) in self.view.iter().enumerate() {
                let Some(uid) = e.uid else { continue };
                if let Some(&want) = self.mine.get(&(m.clone(), uid)) {
                    let found = res.contains(&(i as u64 + 1));
                    if want != found {
                        return Err(format!(
                            "SEARCH KEYWORD {kw}: message {} (UID {uid}) {} but should {}",
                            i + 1,
                            if found { "found" } else { "not found" },
                            if want { "be" } else { "not be" }
                        ));
                    }
                }
            }
        } else {
            let p = self.command("UID SEARCH ALL", Kind::Other)?;
            let res = p.search.ok_or("UID SEARCH without * SEARCH")?;
            if let Some((Some(known), _)) = p.search_view {
                let got: HashSet<u64> = res.iter().copied().collect();
                if got != known {
                    let extra: Vec<_> = got.difference(&known).collect();
                    let missing: Vec<_> = known.difference(&got).collect();
                    return Err(format!(
                        "UID SEARCH ALL: not the view: extra {extra:?}, missing {missing:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn idle(&mut self) -> Res<()> {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        self.last_cmd = "IDLE".into();
        let sent = self.tick();
        self.conn()?.note(&format!("clock {sent}"));
        self.conn()?.send(format!("{tag} IDLE\r\n").as_bytes())?;
        let mut p = Pending::new(Kind::Other, sent);
        // Until the continuation.
        loop {
            let r = match self.conn()?.read()? {
                Read1::Resp(r) => r,
                _ => return Err("IDLE: no continuation".into()),
            };
            if r.starts_with(b"+") {
                break;
            }
            let toks = tokenize(&r)?;
            let text = String::from_utf8_lossy(&r).trim_end().to_string();
            if toks.first().and_then(Tok::atom) != Some("*") {
                return Err(format!("IDLE answered {text}"));
            }
            self.untagged(&toks, &text, &mut p)?;
        }
        // Wait, taking what comes; sometimes long enough to hibernate.
        let wait = if self.rng.gen_bool(0.2) {
            self.rng.gen_range(1500..3000)
        } else {
            self.rng.gen_range(10..500)
        };
        let until = Instant::now() + Duration::from_millis(wait);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.conn()?.set_timeout(left.max(Duration::from_millis(5)));
            match self.conn()?.read()? {
                Read1::Resp(r) => {
                    let toks = tokenize(&r)?;
                    let text = String::from_utf8_lossy(&r).trim_end().to_string();
                    if toks.first().and_then(Tok::atom) != Some("*") {
                        self.conn()?.set_timeout(Duration::from_secs(60));
                        return Err(format!("during IDLE: {text}"));
                    }
                    self.untagged(&toks, &text, &mut p)?;
                }
                Read1::Quiet => {}
                Read1::Eof => return Err("connection closed during IDLE".into()),
            }
        }
        self.conn()?.set_timeout(Duration::from_secs(60));
        self.conn()?.send(b"DONE\r\n")?;
        self.finish(&tag, &mut p)?;
        // What IDLE announced may lack UIDs; learn them.
        self.learn_new()
    }

    /// FETCH the UIDs of messages announced but not yet known.
    fn learn_new(&mut self) -> Res<()> {
        let first = self.view.iter().position(|e| e.uid.is_none());
        if let Some(i) = first {
            self.command(
                &format!("FETCH {}:* (UID FLAGS)", i + 1),
                Kind::SeqNoExpunge,
            )?;
        }
        Ok(())
    }

    fn noop(&mut self) -> Res<()> {
        self.command("NOOP", Kind::Other)?;
        self.learn_new()
    }

    fn status(&mut self) -> Res<()> {
        let m = self.pick_mailbox();
        // For the selected mailbox imapd answers from the session's view
        // (rfc9051 6.3.11: a client learns of new mail there by other
        // means), so UIDNEXT is only above what the view holds.
        let floor = if self.selected.as_deref() == Some(m.as_str()) {
            self.max_uid
        } else {
            let g = self.shared.state.lock().unwrap();
            g.assigned
                .get(&m)
                .and_then(|a| a.keys().max().copied())
                .unwrap_or(0)
        };
        let p = self.command(
            &format!("STATUS {m} (MESSAGES UIDNEXT UIDVALIDITY)"),
            Kind::Other,
        )?;
        let (_, items) = p.status.ok_or("STATUS without * STATUS")?;
        for pair in items.chunks(2) {
            if let [k, v] = pair {
                let v = v.num().ok_or("bad STATUS value")? as u32;
                match k.atom().map(|s| s.to_ascii_uppercase()).as_deref() {
                    Some("UIDNEXT") if v <= floor => {
                        return Err(format!(
                            "STATUS {m}: UIDNEXT {v}, but UID {floor} was handed out before"
                        ));
                    }
                    Some("UIDVALIDITY") => self.check_uidvalidity(&m, v)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Res<()> {
        // CLOSE expunges \Deleted messages without EXPUNGE responses
        // (rfc9051 6.4.1); the next step selects again.
        self.command("CLOSE", Kind::Other)?;
        self.selected = None;
        self.view.clear();
        Ok(())
    }
}
