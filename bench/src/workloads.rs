//! The workloads. Each run of a workload against one server yields one
//! `Sample`; the driver alternates servers and takes medians.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};
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
    /// The quiet tenant of the noisy-neighbour workload (v): its INBOX holds
    /// `QUIET_MESSAGES` corpus messages. On imapd a user of another domain.
    pub quiet_user: String,
    pub quiet_pass: String,
    /// Root of the server's process tree, for the memory workload.
    pub pid: Option<u32>,
}

impl Server {
    /// `name=host:port,user,pass[,tls=host:port][,pid=N][,append=user:pass][,quiet=user:pass]`
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
            quiet_user: "quiet".into(),
            quiet_pass: pass.clone(),
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
                Some(("quiet", v)) => {
                    let (u, p) = v.split_once(':').unwrap_or((v, s.pass.as_str()));
                    s.quiet_user = u.to_string();
                    s.quiet_pass = p.to_string();
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
    /// (v): concurrent sessions of the noisy tenant, and how long they run.
    pub noisy_sessions: usize,
    pub noisy_duration: Duration,
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
    NoisyRatio,
    NoisyLoaded,
    NoisyIdle,
    NoisyThroughput,
}

/// The rows of the noisy-neighbour workload (v), all measured by one run
/// (of `Workload::NoisyRatio`), in the order that run returns them.
pub const NOISY: [Workload; 4] = [
    Workload::NoisyRatio,
    Workload::NoisyLoaded,
    Workload::NoisyIdle,
    Workload::NoisyThroughput,
];

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
            Workload::NoisyRatio => "v1",
            Workload::NoisyLoaded => "v2",
            Workload::NoisyIdle => "v3",
            Workload::NoisyThroughput => "v4",
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
            Workload::NoisyRatio => "noisy-p99-ratio",
            Workload::NoisyLoaded => "quiet-p99-loaded",
            Workload::NoisyIdle => "quiet-p99-idle",
            Workload::NoisyThroughput => "noisy-throughput",
        }
    }

    pub fn parse(s: &str) -> Option<Vec<Workload>> {
        if s == "all" {
            return Some(ALL.to_vec());
        }
        // Not in `all`: a round takes `noisy_duration` (20 s) and the
        // server's winding down afterwards, per server.
        if s == "v" || s == "noisy-neighbour" {
            return Some(NOISY.to_vec());
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
            .chain(&NOISY)
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
            Workload::NoisyRatio => "×",
            Workload::NoisyThroughput => "cmds/s",
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
                | Workload::NoisyThroughput
        )
    }

    /// The workload whose run measures this one (itself, but for the
    /// noisy-neighbour rows: one run yields all of `NOISY`).
    pub fn lead(self) -> Workload {
        if NOISY.contains(&self) {
            NOISY[0]
        } else {
            self
        }
    }

    /// What one run of it is called: `noisy-neighbour` for v1-v4, else its name.
    pub fn group(self) -> &'static str {
        if NOISY.contains(&self) {
            "noisy-neighbour"
        } else {
            self.name()
        }
    }

    /// What one run of this workload (a `lead`) measures, in the order of
    /// the samples that `run` returns.
    pub fn measures(self) -> Vec<Workload> {
        if self == NOISY[0] {
            NOISY.to_vec()
        } else {
            vec![self]
        }
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
            Workload::NoisyRatio => format!(
                "quiet tenant's p99 latency, loaded / idle: one session on {QUIET_MESSAGES} msgs \
                 ({} in turn) while {} sessions of the noisy tenant loop for {} s over UID \
                 SEARCH TEXT {}, FETCH 1:{NOISY_FETCH} BODY.PEEK[]",
                QUIET_MIX.join(", "),
                p.noisy_sessions,
                p.noisy_duration.as_secs(),
                corpus::RARE_WORD,
            ),
            Workload::NoisyLoaded => {
                "quiet tenant's p99 latency while the noisy sessions run (as v1)".into()
            }
            Workload::NoisyIdle => format!(
                "quiet tenant's p99 latency over {QUIET_IDLE_CMDS} cmds, server otherwise idle"
            ),
            Workload::NoisyThroughput => format!(
                "noisy tenant's commands completed per second ({} sessions, as v1)",
                p.noisy_sessions
            ),
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

    /// One run of a workload on one server: one sample for each workload
    /// that `self.measures()`.
    pub async fn run(
        self,
        s: &Server,
        p: &Params,
        c: &Corpus,
        appends: &[Message],
    ) -> Result<Vec<Sample>> {
        let what = format!("{} {}", s.name, self.name());
        within(p.timeout, &what, async {
            let one = match self {
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
                Workload::NoisyRatio => return noisy_neighbour(s, p).await,
                Workload::NoisyLoaded | Workload::NoisyIdle | Workload::NoisyThroughput => {
                    return Err(format!("{} is measured by {}", self.id(), self.lead().id()));
                }
            };
            one.map(|x| vec![x])
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

/// Open `n` sessions of `s`'s user with INBOX selected, `parallel` at a
/// time, and with `idle` each in IDLE: those that opened (with INBOX's
/// message count), and the first error of those that did not.
async fn open_selected(
    s: &Server,
    n: usize,
    parallel: usize,
    idle: bool,
) -> (Vec<(Conn, u64)>, Option<String>) {
    let opening = Arc::new(Semaphore::new(parallel));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (s, opening) = (s.clone(), opening.clone());
        set.spawn(async move {
            let _permit = opening.acquire().await.map_err(|e| e.to_string())?;
            let (mut c, exists) = s.selected().await?;
            if idle {
                c.idle().await?;
            }
            Ok::<_, String>((c, exists))
        });
    }
    let mut conns = Vec::with_capacity(n);
    let mut first_err = None;
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(c) => conns.push(c),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    (conns, first_err)
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
    let (conns, first_err) = open_selected(s, p.idle_conns, 32, true).await;
    let conns: Vec<Conn> = conns.into_iter().map(|(c, _)| c).collect();
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

/// (v): the quiet tenant's INBOX: the first `QUIET_MESSAGES` corpus messages.
pub const QUIET_MESSAGES: u64 = 100;
/// (v): commands the quiet session times on the otherwise idle server.
const QUIET_IDLE_CMDS: usize = 1000;
/// (v): what the quiet session sends, in turn, one after another (the
/// sender word is `corpus::FROM_WORD`).
const QUIET_MIX: [&str; 3] = [
    "NOOP",
    "FETCH 1:* (UID FLAGS ENVELOPE)",
    "UID SEARCH FROM quimby",
];
/// (v): messages each noisy FETCH reads.
const NOISY_FETCH: u64 = 200;
/// (v): noisy sessions connecting at once.
const NOISY_OPENING: usize = 32;
/// (v): at most this long for the server to wind the noisy sessions down
/// after they are closed (searches still running) before the next round.
const SETTLE_MAX: Duration = Duration::from_secs(90);

/// Percentile `q` (0-1) by nearest rank; `xs` sorted.
fn percentile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let rank = (q * xs.len() as f64).ceil() as usize;
    xs[rank.clamp(1, xs.len()) - 1]
}

/// (v): the quiet session's command number `k` of `QUIET_MIX`, timed from
/// sending it to its tagged OK, in ms. The FETCH must return every message;
/// the SEARCH the same hits each time (`hits`).
async fn quiet_command(c: &mut Conn, k: usize, hits: &mut Option<u64>) -> Result<f64> {
    let cmd = QUIET_MIX[k % QUIET_MIX.len()];
    let search = cmd.contains("SEARCH");
    let t0 = Instant::now();
    let r = c.cmd(cmd, search).await?;
    let dt = ms(t0.elapsed());
    let r = r.ok(cmd)?;
    if cmd.starts_with("FETCH") && r.fetches != QUIET_MESSAGES {
        return Err(format!(
            "quiet {cmd}: {} responses, expected {QUIET_MESSAGES}",
            r.fetches
        ));
    }
    if search {
        let h = r.search_hits().ok_or("quiet SEARCH: no SEARCH response")?;
        if hits.is_some_and(|was| was != h) {
            return Err(format!("quiet SEARCH: {h} hits, before {hits:?}"));
        }
        *hits = Some(h);
    }
    Ok(dt)
}

/// (v): the quiet session, on its own thread and runtime (so that the
/// load generator's noisy tasks do not delay its reads): LOGIN as the
/// quiet user, SELECT INBOX, one untimed turn of the mix per command, then
/// `QUIET_IDLE_CMDS` timed commands (sent on `idle`); then, when `go` gives
/// the loaded window, the mix again from its start to its end (a command
/// sent before the end is waited for and counted). Sends the loaded
/// latencies and the SEARCH hits on `done`.
fn quiet_thread(
    s: Server,
    limit: Duration,
    idle: oneshot::Sender<Result<Vec<f64>>>,
    go: oneshot::Receiver<(Instant, Instant)>,
    done: oneshot::Sender<Result<(Vec<f64>, u64)>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            idle.send(Err(format!("quiet runtime: {e}"))).ok();
            return;
        }
    };
    let mut hits = None;
    let r = rt.block_on(within(limit, "quiet session", async {
        let setup = async {
            let mut c = Conn::connect(&s.plain()).await?;
            c.login(&s.quiet_user, &s.quiet_pass).await?;
            let n = c.select("INBOX").await?;
            if n != QUIET_MESSAGES {
                return Err(format!(
                    "{}'s INBOX holds {n} messages, not {QUIET_MESSAGES} (imapd-bench load \
                     --server NAME=HOST:PORT,{},PASS --messages {QUIET_MESSAGES})",
                    s.quiet_user, s.quiet_user
                ));
            }
            for k in 0..QUIET_MIX.len() {
                quiet_command(&mut c, k, &mut hits).await?;
            }
            let mut lat = Vec::with_capacity(QUIET_IDLE_CMDS);
            for k in 0..QUIET_IDLE_CMDS {
                lat.push(quiet_command(&mut c, k, &mut hits).await?);
            }
            Ok((c, lat))
        };
        let mut c = match setup.await {
            Ok((c, lat)) => {
                idle.send(Ok(lat)).ok();
                c
            }
            Err(e) => {
                idle.send(Err(e.clone())).ok();
                return Err(e);
            }
        };
        let Ok((from, until)) = go.await else {
            c.logout().await.ok();
            return Ok(Vec::new());
        };
        tokio::time::sleep_until(from.into()).await;
        let mut lat = Vec::new();
        let mut k = 0;
        while Instant::now() < until {
            lat.push(quiet_command(&mut c, k, &mut hits).await?);
            k += 1;
        }
        c.logout().await.ok();
        Ok(lat)
    }));
    done.send(r.map(|lat| (lat, hits.unwrap_or(0)))).ok();
}

/// (v) noisy neighbour: tenant isolation. After one untimed turn of the
/// noisy commands (warm-up), the quiet tenant's latencies
/// (one session, `QUIET_MIX` one command after another) with the server
/// otherwise idle, then while the noisy tenant (`s.user`, the big INBOX)
/// runs `noisy_sessions` sessions that each loop over `UID SEARCH TEXT
/// <rare word>` and `FETCH 1:200 BODY.PEEK[]` for `noisy_duration`. The
/// quiet latencies are taken from a ramp (a tenth of the duration, at most
/// 1 s) after the noisy sessions start to its end. Samples, in the order
/// of `NOISY`: p99 loaded / p99 idle, p99 loaded, p99 idle (ms), and the
/// noisy commands completed within the duration per second. Then the
/// noisy sessions are closed and the server given time (at most
/// `SETTLE_MAX`, by its process tree's CPU time) to finish what they left
/// running, so that the next measurement starts on an idle server.
async fn noisy_neighbour(s: &Server, p: &Params) -> Result<Vec<Sample>> {
    // Untimed, as the other workloads' warm-up runs: one noisy turn first
    // (a server may build its index or cache at the first SEARCH TEXT).
    let (mut c, exists) = s.selected().await?;
    c.cmd(&format!("UID SEARCH TEXT {}", corpus::RARE_WORD), false)
        .await?
        .ok("noisy SEARCH")?;
    c.cmd(
        &format!("FETCH 1:{} BODY.PEEK[]", NOISY_FETCH.min(exists)),
        false,
    )
    .await?
    .ok("noisy FETCH")?;
    c.logout().await.ok();

    let (idle_tx, idle_rx) = oneshot::channel();
    let (go_tx, go_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let (quiet, limit) = (s.clone(), p.timeout);
    std::thread::Builder::new()
        .name("quiet".into())
        .spawn(move || quiet_thread(quiet, limit, idle_tx, go_rx, done_tx))
        .map_err(|e| format!("quiet thread: {e}"))?;
    let mut idle = idle_rx.await.map_err(|_| "quiet session: thread gone")??;

    // The noisy sessions, connected and selected (untimed).
    let (conns, first_err) = open_selected(s, p.noisy_sessions, NOISY_OPENING, false).await;
    if let Some(e) = first_err {
        return Err(format!(
            "{} of {} noisy sessions failed to start: {e}",
            p.noisy_sessions - conns.len(),
            p.noisy_sessions
        ));
    }

    let start = Instant::now() + Duration::from_millis(100);
    let end = start + p.noisy_duration;
    let ramp = (p.noisy_duration / 10).min(Duration::from_secs(1));
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut noisy = JoinSet::new();
    for (c, exists) in conns {
        let counts = counts.clone();
        noisy.spawn(noisy_session(c, exists, start, end, counts));
    }
    go_tx.send((start + ramp, end)).ok();
    let quiet = done_rx
        .await
        .map_err(|_| "quiet session: thread gone".to_string());
    // The noisy sessions ran until the quiet one's last command returned.
    let mut noisy_err = None;
    while let Some(r) = noisy.try_join_next() {
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            noisy_err.get_or_insert(e);
        }
    }
    noisy.abort_all();
    while noisy.join_next().await.is_some() {}
    let busy = settle(s.pid).await;
    let (mut loaded, hits) = quiet??;
    if let Some(e) = noisy_err {
        return Err(format!("a noisy session failed: {e}"));
    }
    if loaded.is_empty() {
        return Err("no quiet command under load".into());
    }

    idle.sort_by(f64::total_cmp);
    loaded.sort_by(f64::total_cmp);
    let (i50, i99) = (percentile(&idle, 0.5), percentile(&idle, 0.99));
    let (l50, l99) = (percentile(&loaded, 0.5), percentile(&loaded, 0.99));
    let (searches, fetches, bytes) = (
        counts[0].load(Ordering::Relaxed),
        counts[1].load(Ordering::Relaxed),
        counts[2].load(Ordering::Relaxed),
    );
    let secs = p.noisy_duration.as_secs_f64();
    let settled = match busy {
        Some(d) => format!("server busy {:.1} s after", d.as_secs_f64()),
        None if s.pid.is_none() => "no pid= given: 2 s pause after".into(),
        None => format!("server still busy {} s after", SETTLE_MAX.as_secs()),
    };
    let f = |v: f64| crate::fmt(v);
    Ok(vec![
        Sample {
            value: l99 / i99,
            detail: format!(
                "quiet p50 {} -> {} ms, p99 {} -> {} ms; noisy {:.1} cmds/s",
                f(i50),
                f(l50),
                f(i99),
                f(l99),
                (searches + fetches) as f64 / secs
            ),
        },
        Sample {
            value: l99,
            detail: format!(
                "p50 {} ms, max {} ms, {} cmds in {:.1} s, {} SEARCH hits",
                f(l50),
                f(loaded[loaded.len() - 1]),
                loaded.len(),
                (p.noisy_duration - ramp).as_secs_f64(),
                hits
            ),
        },
        Sample {
            value: i99,
            detail: format!(
                "p50 {} ms, max {} ms, {} cmds",
                f(i50),
                f(idle[idle.len() - 1]),
                idle.len()
            ),
        },
        Sample {
            value: (searches + fetches) as f64 / secs,
            detail: format!(
                "{} sessions: {searches} SEARCH + {fetches} FETCH ({:.0} MB) in {secs:.0} s; \
                 {settled}",
                p.noisy_sessions,
                bytes as f64 / 1e6
            ),
        },
    ])
}

/// (v): one noisy session, from `start` until it is aborted: UID SEARCH
/// TEXT and FETCH 1:200 BODY.PEEK[] in turn; the commands completed by `end`
/// (SEARCH, FETCH, FETCH literal bytes) are added to `counts`.
async fn noisy_session(
    mut c: Conn,
    exists: u64,
    start: Instant,
    end: Instant,
    counts: Arc<[AtomicU64; 3]>,
) -> Result<()> {
    let expect = NOISY_FETCH.min(exists);
    let search = format!("UID SEARCH TEXT {}", corpus::RARE_WORD);
    let fetch = format!("FETCH 1:{expect} BODY.PEEK[]");
    tokio::time::sleep_until(start.into()).await;
    loop {
        c.cmd(&search, false).await?.ok("noisy SEARCH")?;
        if Instant::now() <= end {
            counts[0].fetch_add(1, Ordering::Relaxed);
        }
        let r = c.cmd(&fetch, false).await?.ok("noisy FETCH")?;
        if r.fetches != expect {
            return Err(format!(
                "noisy FETCH: {} responses, expected {expect}",
                r.fetches
            ));
        }
        if Instant::now() <= end {
            counts[1].fetch_add(1, Ordering::Relaxed);
            counts[2].fetch_add(r.literal_bytes, Ordering::Relaxed);
        }
    }
}

/// After the noisy sessions are closed: wait until the server's process
/// tree has used at most 10% of a core over two half-seconds in a row (it
/// may finish searches of closed sessions first), at most `SETTLE_MAX`.
/// How long that took; `None` without a PID (a 2 s pause) or when it was
/// still busy at the limit.
async fn settle(pid: Option<u32>) -> Option<Duration> {
    let Some(pid) = pid else {
        tokio::time::sleep(Duration::from_secs(2)).await;
        return None;
    };
    let t0 = Instant::now();
    let mut before = memory::cpu_ticks(pid);
    let mut quiet = 0;
    while t0.elapsed() < SETTLE_MAX {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = memory::cpu_ticks(pid);
        let used: u64 = now
            .iter()
            .filter_map(|(p, t)| Some(t.saturating_sub(*before.get(p)?)))
            .sum();
        // Clock ticks of 10 ms (USER_HZ 100): 5 = 50 ms in 500 ms.
        quiet = if used <= 5 { quiet + 1 } else { 0 };
        if quiet >= 2 {
            return Some(t0.elapsed());
        }
        before = now;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let xs: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&xs, 0.5), 500.0);
        assert_eq!(percentile(&xs, 0.99), 990.0);
        assert_eq!(percentile(&[4.0], 0.99), 4.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn quiet_mix_searches_the_corpus_sender() {
        assert!(QUIET_MIX[2].ends_with(corpus::FROM_WORD));
    }
}
