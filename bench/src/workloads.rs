//! The workloads. Each run of a workload against one server yields one
//! `Sample`; the driver alternates servers and takes medians.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::corpus::{self, Corpus, Message};
use crate::imap::{Conn, Endpoint, Result, within};
use crate::memory;

/// A server under test.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub addr: String,
    pub tls_addr: Option<String>,
    pub user: String,
    pub pass: String,
    /// Account for the APPEND workload (its INBOX is emptied each round).
    pub append_user: String,
    pub append_pass: String,
    /// Root of the server's process tree, for the memory workload.
    pub pid: Option<u32>,
}

impl Server {
    /// `name=host:port,user,pass[,tls=host:port][,pid=N][,append=user:pass]`
    pub fn parse(spec: &str) -> std::result::Result<Server, String> {
        let (name, rest) = spec
            .split_once('=')
            .ok_or_else(|| format!("--server {spec}: expected name=host:port,user,pass"))?;
        let mut parts = rest.split(',');
        let addr = parts.next().unwrap_or("").to_string();
        let user = parts.next().unwrap_or("").to_string();
        let pass = parts.next().unwrap_or("").to_string();
        if addr.is_empty() || user.is_empty() || !addr.contains(':') {
            return Err(format!(
                "--server {spec}: expected name=host:port,user,pass"
            ));
        }
        let mut s = Server {
            name: name.to_string(),
            addr,
            tls_addr: None,
            append_user: format!("{user}2"),
            append_pass: pass.clone(),
            user,
            pass,
            pid: None,
        };
        for opt in parts {
            match opt.split_once('=') {
                Some(("tls", v)) => s.tls_addr = Some(v.to_string()),
                Some(("pid", v)) => {
                    s.pid = Some(
                        v.parse()
                            .map_err(|_| format!("--server {spec}: bad pid {v}"))?,
                    )
                }
                Some(("append", v)) => {
                    let (u, p) = v.split_once(':').unwrap_or((v, s.pass.as_str()));
                    s.append_user = u.to_string();
                    s.append_pass = p.to_string();
                }
                _ => return Err(format!("--server {spec}: unknown option {opt}")),
            }
        }
        Ok(s)
    }

    pub fn plain(&self) -> Endpoint {
        Endpoint {
            addr: self.addr.clone(),
            tls: false,
        }
    }

    /// Connect, LOGIN, SELECT INBOX; returns the connection and EXISTS.
    pub async fn selected(&self) -> Result<(Conn, u64)> {
        let mut c = Conn::connect(&self.plain()).await?;
        c.login(&self.user, &self.pass).await?;
        let n = c.select("INBOX").await?;
        Ok((c, n))
    }
}

/// Sizes of things, from the command line.
#[derive(Debug, Clone)]
pub struct Params {
    pub messages: u64,
    pub seed: u64,
    pub clients: usize,
    pub sessions: u64,
    pub greetings: usize,
    pub idle_conns: usize,
    /// How long the IDLE connections sit before their memory is measured.
    pub idle_settle: Duration,
    pub appends: u64,
    pub body_fetch: u64,
    pub timeout: Duration,
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Sample {
    pub value: f64,
    /// What was observed besides the number (counts, for cross-checks).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Session,
    Envelope,
    Bodystructure,
    Body,
    SearchText,
    SearchFrom,
    SearchSubject,
    SearchSince,
    Append,
    Memory,
    Greeting,
    SessionTls,
    Resync,
    ResyncBytes,
    Select,
    AwakeMemory,
    AppendConcurrent,
    FetchNewest,
    ListStatus,
    SortDate,
    SortSubject,
    SortFrom,
    ThreadReferences,
}

pub const ALL: [Workload; 23] = [
    Workload::Session,
    Workload::Envelope,
    Workload::Bodystructure,
    Workload::Body,
    Workload::SearchText,
    Workload::SearchFrom,
    Workload::SearchSubject,
    Workload::SearchSince,
    Workload::Append,
    Workload::Memory,
    Workload::Greeting,
    Workload::SessionTls,
    Workload::Resync,
    Workload::ResyncBytes,
    Workload::Select,
    Workload::AwakeMemory,
    Workload::AppendConcurrent,
    Workload::FetchNewest,
    Workload::ListStatus,
    Workload::SortDate,
    Workload::SortSubject,
    Workload::SortFrom,
    Workload::ThreadReferences,
];

impl Workload {
    /// Short id: the letter, with a suffix for the searches.
    pub fn id(self) -> &'static str {
        match self {
            Workload::Session => "a",
            Workload::Envelope => "b",
            Workload::Bodystructure => "c",
            Workload::Body => "d",
            Workload::SearchText => "e1",
            Workload::SearchFrom => "e2",
            Workload::SearchSubject => "e3",
            Workload::SearchSince => "e4",
            Workload::Append => "f",
            Workload::Memory => "g",
            Workload::Greeting => "h",
            Workload::SessionTls => "i",
            Workload::Resync => "j1",
            Workload::ResyncBytes => "j2",
            Workload::Select => "k",
            Workload::AwakeMemory => "l",
            Workload::AppendConcurrent => "m",
            Workload::FetchNewest => "n",
            Workload::ListStatus => "o",
            Workload::SortDate => "s1",
            Workload::SortSubject => "s2",
            Workload::SortFrom => "s3",
            Workload::ThreadReferences => "t",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::Session => "session-rate",
            Workload::Envelope => "fetch-envelope",
            Workload::Bodystructure => "fetch-bodystructure",
            Workload::Body => "fetch-body",
            Workload::SearchText => "search-text",
            Workload::SearchFrom => "search-from",
            Workload::SearchSubject => "search-subject",
            Workload::SearchSince => "search-since",
            Workload::Append => "append",
            Workload::Memory => "idle-memory",
            Workload::Greeting => "greeting-latency",
            Workload::SessionTls => "session-rate-tls",
            Workload::Resync => "qresync-time",
            Workload::ResyncBytes => "qresync-bytes",
            Workload::Select => "select-time",
            Workload::AwakeMemory => "awake-memory",
            Workload::AppendConcurrent => "append-8",
            Workload::FetchNewest => "fetch-newest-50",
            Workload::ListStatus => "list-status",
            Workload::SortDate => "sort-date",
            Workload::SortSubject => "sort-subject",
            Workload::SortFrom => "sort-from",
            Workload::ThreadReferences => "thread-references",
        }
    }

    pub fn parse(s: &str) -> Option<Vec<Workload>> {
        if s == "all" {
            return Some(ALL.to_vec());
        }
        for group in ["e", "j", "s"] {
            if s == group
                || (group == "e" && s == "search")
                || (group == "j" && s == "qresync")
                || (group == "s" && s == "sort")
            {
                return Some(
                    ALL.iter()
                        .copied()
                        .filter(|w| w.id().starts_with(group))
                        .collect(),
                );
            }
        }
        ALL.iter()
            .copied()
            .find(|w| w.id() == s || w.name() == s)
            .map(|w| vec![w])
    }

    pub fn unit(self) -> &'static str {
        match self {
            Workload::Session | Workload::SessionTls => "sessions/s",
            Workload::Body => "MB/s",
            Workload::Append | Workload::AppendConcurrent => "msgs/s",
            Workload::Memory | Workload::AwakeMemory => "KiB/conn",
            Workload::ResyncBytes => "bytes",
            _ => "ms",
        }
    }

    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Workload::Session
                | Workload::SessionTls
                | Workload::Body
                | Workload::Append
                | Workload::AppendConcurrent
        )
    }

    /// Whether the result depends on the INBOX holding the corpus.
    pub fn uses_inbox(self) -> bool {
        !matches!(
            self,
            Workload::Append
                | Workload::AppendConcurrent
                | Workload::Greeting
                | Workload::ListStatus
        )
    }

    /// One untimed run per server first (caches, indexes).
    pub fn warm_up(self) -> bool {
        matches!(
            self,
            Workload::Envelope
                | Workload::Bodystructure
                | Workload::Body
                | Workload::SearchText
                | Workload::SearchFrom
                | Workload::SearchSubject
                | Workload::SearchSince
                | Workload::FetchNewest
                | Workload::ListStatus
                | Workload::SortDate
                | Workload::SortSubject
                | Workload::SortFrom
                | Workload::ThreadReferences
        )
    }

    pub fn title(self, p: &Params, c: &Corpus) -> String {
        match self {
            Workload::Session => format!(
                "connect+LOGIN+SELECT+LOGOUT, {} clients x {} sessions",
                p.clients, p.sessions
            ),
            Workload::SessionTls => format!(
                "the same over TLS (full handshakes), {} clients x {} sessions",
                p.clients, p.sessions
            ),
            Workload::Envelope => format!(
                "FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE), {} msgs",
                p.messages
            ),
            Workload::Bodystructure => format!("FETCH 1:* BODYSTRUCTURE, {} msgs", p.messages),
            Workload::Body => format!("FETCH 1:{} BODY.PEEK[]", p.body_fetch),
            Workload::SearchText => format!("UID SEARCH TEXT {} (1% of msgs)", corpus::RARE_WORD),
            Workload::SearchFrom => format!("UID SEARCH FROM {}", corpus::FROM_WORD),
            Workload::SearchSubject => format!("UID SEARCH SUBJECT {}", corpus::SUBJECT_WORD),
            Workload::SearchSince => format!("UID SEARCH SINCE {}", c.since_date(p.messages)),
            Workload::Append => format!("APPEND {} msgs, one connection, one at a time", p.appends),
            Workload::Memory => format!(
                "{} conns LOGIN+SELECT+IDLE: process-tree PSS / conn",
                p.idle_conns
            ),
            Workload::Greeting => format!("connect to greeting, median of {}", p.greetings),
            Workload::AwakeMemory => format!(
                "{AWAKE_CONNS} conns LOGIN+SELECT INBOX, not idle: process-tree PSS growth / conn"
            ),
            Workload::AppendConcurrent => format!(
                "APPEND {} msgs from {APPEND_CLIENTS} connections at once into one INBOX",
                p.appends
            ),
            Workload::FetchNewest => {
                format!(
                    "FETCH of the newest {NEWEST} (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)"
                )
            }
            Workload::ListStatus => {
                format!("LIST \"\" \"*\" RETURN (STATUS (MESSAGES UNSEEN)) over {FOLDERS} folders")
            }
            Workload::Select => format!(
                "SELECT INBOX ({} msgs) in a fresh session, median of {SELECT_RUNS}",
                p.messages
            ),
            Workload::SortDate => format!("UID SORT (DATE) UTF-8 ALL, {} msgs", p.messages),
            Workload::SortSubject => {
                format!("UID SORT (SUBJECT) UTF-8 ALL, {} msgs", p.messages)
            }
            Workload::SortFrom => format!("UID SORT (FROM) UTF-8 ALL, {} msgs", p.messages),
            Workload::ThreadReferences => {
                format!("UID THREAD REFERENCES UTF-8 ALL, {} msgs", p.messages)
            }
            Workload::Resync | Workload::ResyncBytes => format!(
                "reconnect+LOGIN+ENABLE+SELECT (QRESYNC) after {RESYNC_FLAGS} flag changes and \
                 {RESYNC_EXPUNGES} expunges in {} msgs: {}",
                p.messages,
                if self == Workload::Resync {
                    "time"
                } else {
                    "bytes received"
                }
            ),
        }
    }

    pub async fn run(
        self,
        s: &Server,
        p: &Params,
        c: &Corpus,
        appends: &[Message],
    ) -> Result<Sample> {
        let what = format!("{} {}", s.name, self.name());
        within(p.timeout, &what, async {
            match self {
                Workload::Session => session_rate(s, false, p).await,
                Workload::SessionTls => session_rate(s, true, p).await,
                Workload::Envelope => {
                    fetch(s, "1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)", None).await
                }
                Workload::Bodystructure => fetch(s, "1:* BODYSTRUCTURE", None).await,
                Workload::Body => {
                    fetch(
                        s,
                        &format!("1:{} BODY.PEEK[]", p.body_fetch),
                        Some(p.body_fetch),
                    )
                    .await
                }
                Workload::SearchText => search(s, &format!("TEXT {}", corpus::RARE_WORD)).await,
                Workload::SearchFrom => search(s, &format!("FROM {}", corpus::FROM_WORD)).await,
                Workload::SearchSubject => {
                    search(s, &format!("SUBJECT {}", corpus::SUBJECT_WORD)).await
                }
                Workload::SearchSince => {
                    search(s, &format!("SINCE {}", c.since_date(p.messages))).await
                }
                Workload::Append => append(s, appends).await,
                Workload::Memory => idle_memory(s, p).await,
                Workload::Greeting => greeting(s, p).await,
                Workload::Resync => resync(s, false).await,
                Workload::ResyncBytes => resync(s, true).await,
                Workload::Select => select(s).await,
                Workload::AwakeMemory => awake_memory(s).await,
                Workload::AppendConcurrent => append_concurrent(s, appends).await,
                Workload::FetchNewest => fetch_newest(s).await,
                Workload::ListStatus => list_status(s).await,
                Workload::SortDate => sort(s, "UID SORT (DATE) UTF-8 ALL").await,
                Workload::SortSubject => sort(s, "UID SORT (SUBJECT) UTF-8 ALL").await,
                Workload::SortFrom => sort(s, "UID SORT (FROM) UTF-8 ALL").await,
                Workload::ThreadReferences => sort(s, "UID THREAD REFERENCES UTF-8 ALL").await,
            }
        })
        .await
    }
}

/// (j) What changes while the QRESYNC client is away.
const RESYNC_FLAGS: u64 = 10;
const RESYNC_EXPUNGES: u64 = 5;

/// (j1, j2): a client that knows INBOX comes back after another client
/// changed the flags of 10 messages and expunged 5, and resynchronises
/// with one `SELECT INBOX (QRESYNC (uidvalidity modseq))` (rfc7162 3.2.5).
/// The 5 expunged messages are appended first, so INBOX keeps its size
/// from round to round. Timed: connect, LOGIN, ENABLE, SELECT; or the
/// bytes the server sent for them.
async fn resync(s: &Server, bytes: bool) -> Result<Sample> {
    let ep = s.plain();
    let mut w = Conn::connect(&ep).await?;
    w.login(&s.user, &s.pass).await?;
    let lp = w.capabilities().await?.contains("LITERAL+");
    for i in 0..RESYNC_EXPUNGES {
        let msg = format!("From: resync@example.org\r\nSubject: to expunge {i}\r\n\r\nx\r\n");
        let tag = w
            .send_append(
                "INBOX",
                "",
                "01-Jan-2024 00:00:00 +0000",
                msg.as_bytes(),
                lp,
            )
            .await?;
        w.read_tagged(&tag, false).await?.ok("APPEND")?;
    }
    // The client's state.
    let mut c = Conn::connect(&ep).await?;
    c.login(&s.user, &s.pass).await?;
    c.cmd("ENABLE QRESYNC", false).await?.ok("ENABLE QRESYNC")?;
    let r = c.cmd("SELECT INBOX", true).await?.ok("SELECT")?;
    let code = |name: &str| {
        r.untagged.iter().find_map(|l| {
            let at = l.find(&format!("[{name} "))? + name.len() + 2;
            l[at..].split(']').next()?.trim().parse::<u64>().ok()
        })
    };
    let (uidvalidity, modseq) = match (code("UIDVALIDITY"), code("HIGHESTMODSEQ")) {
        (Some(v), Some(m)) => (v, m),
        _ => return Err("SELECT gave no UIDVALIDITY or HIGHESTMODSEQ".into()),
    };
    c.logout().await?;
    // Meanwhile: 10 flag changes spread over the mailbox, 5 expunges.
    let exists = w.select("INBOX").await?;
    let keyword = format!("$Resync{}", modseq % 7);
    for k in 0..RESYNC_FLAGS {
        let n = 1 + k * (exists - RESYNC_EXPUNGES) / RESYNC_FLAGS;
        // Toggle, so that every STORE changes the message.
        let r = w
            .cmd(&format!("FETCH {n} (FLAGS)"), true)
            .await?
            .ok("FETCH")?;
        let has = r.untagged.iter().any(|l| l.contains(&keyword));
        let op = if has { '-' } else { '+' };
        w.cmd(&format!("STORE {n} {op}FLAGS.SILENT ({keyword})"), false)
            .await?
            .ok("STORE")?;
    }
    let first = exists - RESYNC_EXPUNGES + 1;
    w.cmd(&format!("STORE {first}:* +FLAGS.SILENT (\\Deleted)"), false)
        .await?
        .ok("STORE")?;
    w.cmd("EXPUNGE", false).await?.ok("EXPUNGE")?;
    w.logout().await.ok();
    // The resync.
    let t0 = Instant::now();
    let mut c = Conn::connect(&ep).await?;
    c.login(&s.user, &s.pass).await?;
    c.cmd("ENABLE QRESYNC", false).await?.ok("ENABLE QRESYNC")?;
    let r = c
        .cmd(
            &format!("SELECT INBOX (QRESYNC ({uidvalidity} {modseq}))"),
            true,
        )
        .await?
        .ok("SELECT (QRESYNC)")?;
    let took = t0.elapsed();
    let received = c.received;
    c.logout().await.ok();
    let vanished = r
        .untagged
        .iter()
        .any(|l| l.starts_with("* VANISHED (EARLIER)"));
    if r.fetches < RESYNC_FLAGS || !vanished {
        return Err(format!(
            "resync told {} FETCH{}",
            r.fetches,
            if vanished {
                ""
            } else {
                " and no VANISHED (EARLIER)"
            }
        ));
    }
    Ok(Sample {
        value: if bytes { received as f64 } else { ms(took) },
        detail: format!("{} FETCH, {received} bytes", r.fetches),
    })
}

/// (k): how many fresh sessions the SELECT workload times.
const SELECT_RUNS: usize = 9;

/// (k): SELECT INBOX timed alone (sent to tagged OK), in a fresh session
/// each time (connect and LOGIN are not timed); the median of the runs.
async fn select(s: &Server) -> Result<Sample> {
    let mut times = Vec::with_capacity(SELECT_RUNS);
    let mut exists = 0;
    for _ in 0..SELECT_RUNS {
        let mut c = Conn::connect(&s.plain()).await?;
        c.login(&s.user, &s.pass).await?;
        let t0 = Instant::now();
        exists = c.select("INBOX").await?;
        times.push(ms(t0.elapsed()));
        c.logout().await.ok();
    }
    times.sort_by(f64::total_cmp);
    Ok(Sample {
        value: times[SELECT_RUNS / 2],
        detail: format!("{exists} msgs"),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (a), (i): `sessions` complete sessions spread over `clients` tasks.
async fn session_rate(s: &Server, tls: bool, p: &Params) -> Result<Sample> {
    let ep = if tls {
        let addr = s.tls_addr.clone().ok_or("no TLS address (tls=host:port)")?;
        Endpoint { addr, tls: true }
    } else {
        s.plain()
    };
    let next = Arc::new(AtomicU64::new(0));
    let total = p.sessions;
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..p.clients {
        let (ep, next, user, pass) = (ep.clone(), next.clone(), s.user.clone(), s.pass.clone());
        set.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let mut c = Conn::connect(&ep).await?;
                c.login(&user, &pass).await?;
                c.select("INBOX").await?;
                c.logout().await?;
            }
            Ok::<(), String>(())
        });
    }
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample {
        value: total as f64 / secs,
        detail: format!("{total} sessions in {secs:.2} s"),
    })
}

/// (b), (c), (d): one FETCH on a selected INBOX, timed from sending it to
/// its tagged OK. `Some(n)`: report MB/s of literal data over `1:n`.
async fn fetch(s: &Server, args: &str, throughput_of: Option<u64>) -> Result<Sample> {
    let (mut c, exists) = s.selected().await?;
    let t0 = Instant::now();
    let r = c.cmd(&format!("FETCH {args}"), false).await?;
    let dt = t0.elapsed();
    let r = r.ok("FETCH")?;
    c.logout().await.ok();
    let expect = throughput_of.map_or(exists, |n| n.min(exists));
    if r.fetches != expect {
        return Err(format!(
            "FETCH returned {} responses, expected {expect}",
            r.fetches
        ));
    }
    match throughput_of {
        Some(_) => {
            let mb = r.literal_bytes as f64 / 1e6;
            Ok(Sample {
                value: mb / dt.as_secs_f64(),
                detail: format!("{} msgs, {mb:.1} MB in {:.0} ms", r.fetches, ms(dt)),
            })
        }
        None => Ok(Sample {
            value: ms(dt),
            detail: format!("{} msgs", r.fetches),
        }),
    }
}

/// (e): one UID SEARCH on a selected INBOX, timed to its tagged OK.
async fn search(s: &Server, criteria: &str) -> Result<Sample> {
    let (mut c, exists) = s.selected().await?;
    let t0 = Instant::now();
    let r = c.cmd(&format!("UID SEARCH {criteria}"), true).await?;
    let dt = t0.elapsed();
    let r = r.ok("SEARCH")?;
    c.logout().await.ok();
    let hits = r.search_hits().ok_or("no SEARCH response")?;
    Ok(Sample {
        value: ms(dt),
        detail: format!("{hits} hits of {exists}"),
    })
}

/// (s1-s3, t): one UID SORT or UID THREAD (rfc5256) over the whole
/// selected INBOX, timed to its tagged OK. The detail counts the messages
/// (and for THREAD the threads) and hashes the order, so servers that
/// order differently get a NOTE.
async fn sort(s: &Server, command: &str) -> Result<Sample> {
    let (mut c, _) = s.selected().await?;
    let t0 = Instant::now();
    let r = c.cmd(command, true).await?;
    let dt = t0.elapsed();
    let r = r.ok(command)?;
    c.logout().await.ok();
    let word = if command.contains("THREAD") {
        "* THREAD"
    } else {
        "* SORT"
    };
    let line = r
        .untagged
        .iter()
        .find(|l| l.to_ascii_uppercase().starts_with(word))
        .ok_or_else(|| format!("no {word} response"))?;
    let data = &line[word.len()..];
    let numbers: Vec<u64> = data
        .split(|ch: char| !ch.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // FNV-1a over the numbers in order, and the parentheses for THREAD.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data.bytes().filter(|b| !b.is_ascii_whitespace()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let mut detail = format!("{} msgs", numbers.len());
    if word == "* THREAD" {
        let mut depth = 0i64;
        let mut threads = 0;
        for ch in data.chars() {
            match ch {
                '(' => {
                    threads += usize::from(depth == 0);
                    depth += 1;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        detail += &format!(" in {threads} threads");
    }
    Ok(Sample {
        value: ms(dt),
        detail: format!("{detail}, order {:08x}", hash as u32),
    })
}

/// (f): APPEND messages one at a time (each waits for its tagged OK) on
/// one connection; LITERAL+ when the server offers it.
async fn append(s: &Server, msgs: &[Message]) -> Result<Sample> {
    empty_append_inbox(s).await;
    let mut c = Conn::connect(&s.plain()).await?;
    c.login(&s.append_user, &s.append_pass).await?;
    let lp = c.capabilities().await?.contains("LITERAL+");
    let bytes: usize = msgs.iter().map(|m| m.bytes.len()).sum();
    let t0 = Instant::now();
    for m in msgs {
        let tag = c
            .send_append("INBOX", m.flags, &m.internal_date, &m.bytes, lp)
            .await?;
        c.read_tagged(&tag, false).await?.ok("APPEND")?;
    }
    let secs = t0.elapsed().as_secs_f64();
    c.logout().await.ok();
    Ok(Sample {
        value: msgs.len() as f64 / secs,
        detail: format!(
            "{} msgs, {:.1} MB, {}",
            msgs.len(),
            bytes as f64 / 1e6,
            if lp {
                "LITERAL+"
            } else {
                "synchronizing literals"
            }
        ),
    })
}

/// (l): connections the awake-memory workload opens.
const AWAKE_CONNS: usize = 200;
/// (m): connections appending at once.
const APPEND_CLIENTS: usize = 8;
/// (n): how many of the newest messages are fetched.
const NEWEST: u64 = 50;
/// (o): folders of the append account (created by the warm-up run).
const FOLDERS: usize = 1000;

/// (l): `AWAKE_CONNS` connections with INBOX selected and nothing else
/// going on, measured at once (before any server hibernates or swaps them
/// out): the growth of the process tree's PSS over the idle server,
/// divided by their number. What a user with a mail client open costs.
async fn awake_memory(s: &Server) -> Result<Sample> {
    let pid = s.pid.ok_or("no server PID given (pid=N in --server)")?;
    let before = memory::measure(pid).ok_or(format!("PID {pid} not found"))?;
    let mut conns = Vec::with_capacity(AWAKE_CONNS);
    for _ in 0..AWAKE_CONNS {
        conns.push(s.selected().await?.0);
    }
    let after = memory::measure(pid).ok_or(format!("PID {pid} gone"))?;
    for mut c in conns {
        c.logout().await.ok();
    }
    let n = AWAKE_CONNS as f64;
    Ok(Sample {
        value: after.pss_kib.saturating_sub(before.pss_kib) as f64 / n,
        detail: format!(
            "PSS {} -> {} MiB, {} -> {} processes",
            before.pss_kib / 1024,
            after.pss_kib / 1024,
            before.processes,
            after.processes
        ),
    })
}

/// Empties the append account's INBOX (untimed; best effort).
async fn empty_append_inbox(s: &Server) {
    if let Ok(mut c) = Conn::connect(&s.plain()).await {
        if c.login(&s.append_user, &s.append_pass).await.is_ok()
            && let Ok(n) = c.select("INBOX").await
            && n > 0
        {
            c.cmd("STORE 1:* +FLAGS.SILENT (\\Deleted)", false)
                .await
                .ok();
            c.cmd("EXPUNGE", false).await.ok();
        }
        c.logout().await.ok();
    }
}

/// (m): the APPEND messages split over `APPEND_CLIENTS` connections that
/// append at the same time into the same INBOX, each one at a time:
/// messages per second over all of them (concurrent delivery).
async fn append_concurrent(s: &Server, msgs: &[Message]) -> Result<Sample> {
    empty_append_inbox(s).await;
    let mut conns = Vec::with_capacity(APPEND_CLIENTS);
    for _ in 0..APPEND_CLIENTS {
        let mut c = Conn::connect(&s.plain()).await?;
        c.login(&s.append_user, &s.append_pass).await?;
        let lp = c.capabilities().await?.contains("LITERAL+");
        conns.push((c, lp));
    }
    let msgs: Arc<Vec<Message>> = Arc::new(msgs.to_vec());
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for (i, (mut c, lp)) in conns.into_iter().enumerate() {
        let msgs = msgs.clone();
        set.spawn(async move {
            for m in msgs.iter().skip(i).step_by(APPEND_CLIENTS) {
                let tag = c
                    .send_append("INBOX", m.flags, &m.internal_date, &m.bytes, lp)
                    .await?;
                c.read_tagged(&tag, false).await?.ok("APPEND")?;
            }
            c.logout().await.ok();
            Ok::<(), String>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r.map_err(|e| e.to_string()).and_then(|r| r)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Sample {
        value: msgs.len() as f64 / secs,
        detail: format!("{} msgs from {APPEND_CLIENTS} connections", msgs.len()),
    })
}

/// (n): what a client shows first: the newest `NEWEST` messages' list
/// entries, on a selected INBOX, timed from sending the FETCH to its OK.
async fn fetch_newest(s: &Server) -> Result<Sample> {
    let (mut c, exists) = s.selected().await?;
    let first = exists.saturating_sub(NEWEST - 1).max(1);
    let t0 = Instant::now();
    let r = c
        .cmd(
            &format!("FETCH {first}:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)"),
            false,
        )
        .await?;
    let dt = t0.elapsed();
    let r = r.ok("FETCH")?;
    c.logout().await.ok();
    let expect = exists.min(NEWEST);
    if r.fetches != expect {
        return Err(format!(
            "FETCH returned {} responses, expected {expect}",
            r.fetches
        ));
    }
    Ok(Sample {
        value: ms(dt),
        detail: format!("{} msgs", r.fetches),
    })
}

/// (o): a folder list with counts in one command (rfc5819 LIST-STATUS),
/// on the append account once it has `FOLDERS` folders (the first run,
/// an untimed warm-up, creates those that are missing).
async fn list_status(s: &Server) -> Result<Sample> {
    let mut c = Conn::connect(&s.plain()).await?;
    c.login(&s.append_user, &s.append_pass).await?;
    let list = "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UNSEEN))";
    let have = c.cmd(list, true).await?.ok("LIST")?;
    let count = |lines: &[String], what: &str| lines.iter().filter(|l| l.starts_with(what)).count();
    if count(&have.untagged, "* LIST") < FOLDERS {
        for i in 0..FOLDERS {
            let name = format!("bench-folder-{i:04}");
            if !have.untagged.iter().any(|l| l.contains(&name)) {
                c.cmd(&format!("CREATE {name}"), false)
                    .await?
                    .ok("CREATE")?;
            }
        }
    }
    let t0 = Instant::now();
    let r = c.cmd(list, true).await?;
    let dt = t0.elapsed();
    let r = r.ok("LIST")?;
    c.logout().await.ok();
    let (lists, statuses) = (count(&r.untagged, "* LIST"), count(&r.untagged, "* STATUS"));
    if lists <= FOLDERS || statuses < FOLDERS {
        return Err(format!(
            "{lists} LIST and {statuses} STATUS responses for {FOLDERS} folders"
        ));
    }
    Ok(Sample {
        value: ms(dt),
        detail: format!("{lists} LIST, {statuses} STATUS"),
    })
}

/// (h): connect until the greeting has arrived, one at a time; median.
async fn greeting(s: &Server, p: &Params) -> Result<Sample> {
    let ep = s.plain();
    let mut lat = Vec::with_capacity(p.greetings);
    for _ in 0..p.greetings {
        let t0 = Instant::now();
        let mut c = Conn::connect(&ep).await?;
        lat.push(ms(t0.elapsed()));
        c.logout().await.ok();
    }
    let m = crate::median(&mut lat);
    Ok(Sample {
        value: m,
        detail: format!("{} connects", lat.len()),
    })
}

/// (g): `idle_conns` authenticated connections in IDLE on INBOX; the PSS
/// summed over the server's whole process tree while they are open, divided
/// by their number (the server's fixed overhead is included, amortised).
/// Growth over the tree's PSS before connecting goes into the detail: it is
/// not comparable between servers that keep idle worker processes around
/// (Cyrus reuses them) and those that do not.
async fn idle_memory(s: &Server, p: &Params) -> Result<Sample> {
    let pid = s.pid.ok_or("no server PID given (pid=N in --server)")?;
    let before = memory::measure(pid).ok_or(format!("PID {pid} not found"))?;
    let opening = Arc::new(Semaphore::new(32));
    let mut set = JoinSet::new();
    for _ in 0..p.idle_conns {
        let (s, opening) = (s.clone(), opening.clone());
        set.spawn(async move {
            let _permit = opening.acquire().await.map_err(|e| e.to_string())?;
            let (mut c, _) = s.selected().await?;
            c.idle().await?;
            Ok::<Conn, String>(c)
        });
    }
    let mut conns = Vec::with_capacity(p.idle_conns);
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(c) => conns.push(c),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let result = match first_err {
        Some(e) => Err(format!(
            "{} of {} connections failed: {e}",
            p.idle_conns - conns.len(),
            p.idle_conns
        )),
        None => {
            tokio::time::sleep(p.idle_settle).await;
            let after = memory::measure(pid).ok_or(format!("PID {pid} gone"))?;
            let n = conns.len() as f64;
            Ok(Sample {
                value: after.pss_kib as f64 / n,
                detail: format!(
                    "after {} s idle: growth {:.0} KiB/conn; PSS {} -> {} MiB, RSS {} -> {} MiB, {} -> {} processes",
                    p.idle_settle.as_secs(),
                    after.pss_kib.saturating_sub(before.pss_kib) as f64 / n,
                    before.pss_kib / 1024,
                    after.pss_kib / 1024,
                    before.rss_kib / 1024,
                    after.rss_kib / 1024,
                    before.processes,
                    after.processes
                ),
            })
        }
    };
    drop(conns);
    // Let the server wind the sessions down before the next measurement:
    // until its process count is back or stops falling for a second (Cyrus
    // keeps idle workers).
    let (mut last, mut stable) = (u64::MAX, 0);
    for _ in 0..80 {
        match memory::measure(pid) {
            Some(m) if m.processes > before.processes + 2 && stable < 4 => {
                stable = if m.processes >= last { stable + 1 } else { 0 };
                last = m.processes;
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    result
}
