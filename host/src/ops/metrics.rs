//! Metrics in the OpenMetrics text format (what Prometheus scrapes).
//!
//! Every process counts in one set of atomics ([`Metrics`], reached with
//! [`metrics()`]): a counter update is one relaxed atomic add, with no lock
//! and no allocation, so the hot paths (bytes, commands) can count freely.
//! A scrape takes a [`Snapshot`] (plain numbers, serde) and encodes it with
//! the `prometheus-client` crate's OpenMetrics encoder.
//!
//! Where the numbers go depends on the process model:
//!
//! - Standalone (`--listen`): one process serves every connection, and with
//!   `prometheus_enabled` it answers `GET /metrics` itself on
//!   `prometheus_listen` ([`serve`]).
//! - Under master(8) every connection is served by a child process of its
//!   own, and no child can speak for the others. With `prometheus_enabled`
//!   each child writes its snapshot to `<configdirectory>/stats/<pid>`
//!   every few seconds and when it is done with a connection; a child that
//!   exits folds its counters into `stats/retired` (so totals never go
//!   back when children come and go). `imapd metrics -C imapd.conf` prints
//!   the sum: a file for node_exporter's textfile collector, or the body of
//!   a CGI. The files of children that died without folding (SIGKILL) are
//!   folded by the next `imapd metrics`.
//!
//! Labels are bounded sets the host knows: session states, the mechanisms
//! it implements, the IMAP command names of [`COMMANDS`] (anything else is
//! `OTHER`), trap kinds. No user name, address or client byte is a label.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use serde::{Deserialize, Serialize};

/// What a session is doing, as the metrics and `imapd status` tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Connected, not logged in.
    Preauth,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// In IDLE with its guest instance.
    Idle,
    /// In IDLE, reduced to its snapshot (no instance).
    Hibernated,
}

impl SessionState {
    pub const ALL: [SessionState; 5] = [
        SessionState::Preauth,
        SessionState::Authenticated,
        SessionState::Selected,
        SessionState::Idle,
        SessionState::Hibernated,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SessionState::Preauth => "preauth",
            SessionState::Authenticated => "authenticated",
            SessionState::Selected => "selected",
            SessionState::Idle => "idle",
            SessionState::Hibernated => "hibernated",
        }
    }
}

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Success,
    /// Wrong user name or password.
    Failure,
    /// Right credentials, refused by a limit (`maxlogins_per_*`).
    Refused,
    /// The password check could not answer (saslauthd down).
    Unavailable,
}

impl LoginResult {
    const ALL: [LoginResult; 4] = [
        LoginResult::Success,
        LoginResult::Failure,
        LoginResult::Refused,
        LoginResult::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            LoginResult::Success => "success",
            LoginResult::Failure => "failure",
            LoginResult::Refused => "refused",
            LoginResult::Unavailable => "unavailable",
        }
    }
}

/// The mechanism labels of logins: the LOGIN command, and AUTHENTICATE
/// with each mechanism the host implements (`config::SUPPORTED_SASL_MECHS`);
/// anything else a guest might name is `other`.
pub const MECHANISMS: &[&str] = &[
    "LOGIN",
    "AUTH=PLAIN",
    "AUTH=LOGIN",
    "AUTH=SCRAM-SHA-1",
    "AUTH=SCRAM-SHA-1-PLUS",
    "AUTH=SCRAM-SHA-256",
    "AUTH=SCRAM-SHA-256-PLUS",
    "AUTH=EXTERNAL",
    "other",
];

/// The command labels: the names a guest reports (`command-done` in
/// wit/session.wit) that the host counts; any other name is `OTHER`. The
/// guest owns IMAP, so this is only a bound on the labels, not the list
/// of what the server implements.
pub const COMMANDS: &[&str] = &[
    "APPEND",
    "AUTHENTICATE",
    "CAPABILITY",
    "CHECK",
    "CLOSE",
    "COMPRESS",
    "COPY",
    "CREATE",
    "DELETE",
    "ENABLE",
    "EXAMINE",
    "EXPUNGE",
    "FETCH",
    "GETQUOTA",
    "GETQUOTAROOT",
    "ID",
    "IDLE",
    "LIST",
    "LOGIN",
    "LOGOUT",
    "LSUB",
    "MOVE",
    "NAMESPACE",
    "NOOP",
    "RENAME",
    "SEARCH",
    "SELECT",
    "SORT",
    "STARTTLS",
    "STATUS",
    "STORE",
    "SUBSCRIBE",
    "THREAD",
    "UID",
    "UID COPY",
    "UID EXPUNGE",
    "UID FETCH",
    "UID MOVE",
    "UID SEARCH",
    "UID SORT",
    "UID STORE",
    "UID THREAD",
    "UNAUTHENTICATE",
    "UNSELECT",
    "UNSUBSCRIBE",
    "OTHER",
];

/// Why a guest call failed and ended its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// `session_cpu_limit` reached.
    Cpu,
    /// `session_memory_limit` reached (a memory growth was refused before
    /// the trap).
    Memory,
    /// Anything else: a panic, an out-of-bounds access, a bad snapshot.
    Other,
}

impl TrapKind {
    const ALL: [TrapKind; 3] = [TrapKind::Cpu, TrapKind::Memory, TrapKind::Other];

    fn label(self) -> &'static str {
        match self {
            TrapKind::Cpu => "cpu",
            TrapKind::Memory => "memory",
            TrapKind::Other => "other",
        }
    }
}

/// Upper bounds of the command latency buckets, in seconds: from 50 us (a
/// NOOP) to 10 s (a body SEARCH over a large mailbox).
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

/// One command name's count and latency histogram.
struct CommandCounts {
    micros: AtomicU64,
    /// Per bucket of [`LATENCY_BUCKETS`], then the `+Inf` one.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl CommandCounts {
    fn new() -> CommandCounts {
        CommandCounts {
            micros: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A process's counters and gauges.
pub struct Metrics {
    connections: AtomicU64,
    connections_open: AtomicI64,
    sessions: [AtomicI64; 5],
    /// `MECHANISMS.len() * LoginResult::ALL.len()`, by mechanism then result.
    logins: Vec<AtomicU64>,
    commands: Vec<CommandCounts>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    instantiations: AtomicU64,
    admission_waits: AtomicU64,
    traps: [AtomicU64; 3],
    guest_memory: AtomicI64,
    hibernations: AtomicU64,
    wakes: AtomicU64,
    modules_installed: AtomicU64,
    sessions_moved: AtomicU64,
    sessions_stayed: AtomicU64,
    spares: AtomicU64,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    connections: AtomicU64::new(0),
    connections_open: AtomicI64::new(0),
    sessions: std::array::from_fn(|_| AtomicI64::new(0)),
    logins: (0..MECHANISMS.len() * LoginResult::ALL.len())
        .map(|_| AtomicU64::new(0))
        .collect(),
    commands: COMMANDS.iter().map(|_| CommandCounts::new()).collect(),
    bytes_in: AtomicU64::new(0),
    bytes_out: AtomicU64::new(0),
    instantiations: AtomicU64::new(0),
    admission_waits: AtomicU64::new(0),
    traps: std::array::from_fn(|_| AtomicU64::new(0)),
    guest_memory: AtomicI64::new(0),
    hibernations: AtomicU64::new(0),
    wakes: AtomicU64::new(0),
    modules_installed: AtomicU64::new(0),
    sessions_moved: AtomicU64::new(0),
    sessions_stayed: AtomicU64::new(0),
    spares: AtomicU64::new(0),
});

/// This process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// An open client connection, counted until dropped.
pub struct OpenConnection(());

impl Drop for OpenConnection {
    fn drop(&mut self) {
        METRICS.connections_open.fetch_sub(1, Relaxed);
    }
}

fn index_of(list: &[&str], name: &str) -> Option<usize> {
    list.iter().position(|n| *n == name)
}

impl Metrics {
    /// A client connected.
    pub fn connection(&self) -> OpenConnection {
        self.connections.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
        OpenConnection(())
    }

    /// A session moved from one state to another (`None`: it begins or
    /// ends).
    pub fn session_state(&self, from: Option<SessionState>, to: Option<SessionState>) {
        if from == to {
            return;
        }
        if let Some(s) = from {
            self.sessions[s as usize].fetch_sub(1, Relaxed);
        }
        if let Some(s) = to {
            self.sessions[s as usize].fetch_add(1, Relaxed);
        }
    }

    /// A login attempt with `mech` (the host's spelling: `LOGIN`,
    /// `AUTH=PLAIN`, ...).
    pub fn login(&self, mech: &str, result: LoginResult) {
        let m = index_of(MECHANISMS, mech).unwrap_or(MECHANISMS.len() - 1);
        self.logins[m * LoginResult::ALL.len() + result as usize].fetch_add(1, Relaxed);
    }

    /// A command finished after `micros` of guest time.
    pub fn command(&self, name: &str, micros: u64) {
        let i = index_of(COMMANDS, name).unwrap_or(COMMANDS.len() - 1);
        let c = &self.commands[i];
        c.micros.fetch_add(micros, Relaxed);
        let secs = micros as f64 / 1e6;
        let b = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        c.buckets[b].fetch_add(1, Relaxed);
    }

    pub fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }

    pub fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }

    /// A guest instance was created.
    pub fn instantiated(&self) {
        self.instantiations.fetch_add(1, Relaxed);
    }

    /// A new connection found the pool full and queued for a slot.
    pub fn admission_waited(&self) {
        self.admission_waits.fetch_add(1, Relaxed);
    }

    pub fn trap(&self, kind: TrapKind) {
        self.traps[kind as usize].fetch_add(1, Relaxed);
    }

    /// Live guests' linear memory grew (or, negative, was freed).
    pub fn guest_memory(&self, delta: i64) {
        self.guest_memory.fetch_add(delta, Relaxed);
    }

    pub fn hibernated(&self) {
        self.hibernations.fetch_add(1, Relaxed);
    }

    pub fn woke(&self) {
        self.wakes.fetch_add(1, Relaxed);
    }

    pub fn module_installed(&self) {
        self.modules_installed.fetch_add(1, Relaxed);
    }

    pub fn session_moved(&self) {
        self.sessions_moved.fetch_add(1, Relaxed);
    }

    /// A spare pre-auth session was made.
    pub fn spare_made(&self) {
        self.spares.fetch_add(1, Relaxed);
    }

    pub fn session_stayed(&self) {
        self.sessions_stayed.fetch_add(1, Relaxed);
    }

    /// The numbers now; `live_instances` comes from the engine (its pool).
    pub fn snapshot(&self, live_instances: u64) -> Snapshot {
        let mut logins = BTreeMap::new();
        for (m, mech) in MECHANISMS.iter().enumerate() {
            for r in LoginResult::ALL {
                let n = self.logins[m * LoginResult::ALL.len() + r as usize].load(Relaxed);
                if n > 0 {
                    logins.insert(format!("{mech} {}", r.label()), n);
                }
            }
        }
        let mut commands = BTreeMap::new();
        for (name, c) in COMMANDS.iter().zip(&self.commands) {
            let buckets: Vec<u64> = c.buckets.iter().map(|b| b.load(Relaxed)).collect();
            if buckets.iter().any(|&n| n > 0) {
                let micros = c.micros.load(Relaxed);
                commands.insert(name.to_string(), CommandSnapshot { micros, buckets });
            }
        }
        Snapshot {
            v: 1,
            processes: 1,
            connections: self.connections.load(Relaxed),
            connections_open: self.connections_open.load(Relaxed),
            sessions: SessionState::ALL
                .iter()
                .map(|s| {
                    (
                        s.label().to_string(),
                        self.sessions[*s as usize].load(Relaxed),
                    )
                })
                .collect(),
            logins,
            commands,
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            instantiations: self.instantiations.load(Relaxed),
            admission_waits: self.admission_waits.load(Relaxed),
            traps: TrapKind::ALL
                .iter()
                .map(|k| (k.label().to_string(), self.traps[*k as usize].load(Relaxed)))
                .collect(),
            live_instances: live_instances as i64,
            guest_memory: self.guest_memory.load(Relaxed),
            hibernations: self.hibernations.load(Relaxed),
            wakes: self.wakes.load(Relaxed),
            modules_installed: self.modules_installed.load(Relaxed),
            sessions_moved: self.sessions_moved.load(Relaxed),
            sessions_stayed: self.sessions_stayed.load(Relaxed),
            spares: self.spares.load(Relaxed),
            spares_ready: 0,
            tenants: BTreeMap::new(),
        }
    }
}

/// One command name's numbers in a [`Snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSnapshot {
    /// Guest time of all of them, microseconds.
    pub micros: u64,
    /// How many fell in each bucket of [`LATENCY_BUCKETS`], then `+Inf`.
    pub buckets: Vec<u64>,
}

/// The numbers of one process, or the sum of several: what a scrape
/// shows, and what a child under master(8) writes to `stats/<pid>`.
/// Gauges are `i64`, counters `u64`; labelled values are maps by label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// The file format's version.
    pub v: u32,
    /// Serving processes summed up here.
    pub processes: i64,
    pub connections: u64,
    pub connections_open: i64,
    /// By state label.
    pub sessions: BTreeMap<String, i64>,
    /// By `"<mechanism> <result>"`.
    pub logins: BTreeMap<String, u64>,
    /// By command label.
    pub commands: BTreeMap<String, CommandSnapshot>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub instantiations: u64,
    pub admission_waits: u64,
    /// By trap kind.
    pub traps: BTreeMap<String, u64>,
    pub live_instances: i64,
    pub guest_memory: i64,
    pub hibernations: u64,
    pub wakes: u64,
    pub modules_installed: u64,
    pub sessions_moved: u64,
    pub sessions_stayed: u64,
    /// Spare pre-auth sessions made (counter) and ready now (gauge).
    pub spares: u64,
    pub spares_ready: i64,
    /// With `virtdomains`: by tenant (domain; `-` the default one).
    pub tenants: BTreeMap<String, TenantSnapshot>,
}

/// One tenant's numbers in a [`Snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSnapshot {
    /// Gauges: logged-in sessions, those with a guest instance, their
    /// guest memory in bytes.
    pub sessions: i64,
    pub awake: i64,
    pub memory: i64,
    /// Counters: guest CPU time charged to its share, time its sessions
    /// waited for the share (microseconds), logins refused by reason.
    pub cpu_micros: u64,
    pub cpu_wait_micros: u64,
    pub refused: BTreeMap<String, u64>,
}

impl TenantSnapshot {
    fn add(&mut self, other: &TenantSnapshot, gauges: bool) {
        self.cpu_micros = self.cpu_micros.saturating_add(other.cpu_micros);
        self.cpu_wait_micros = self.cpu_wait_micros.saturating_add(other.cpu_wait_micros);
        for (k, n) in &other.refused {
            let mine = self.refused.entry(k.clone()).or_default();
            *mine = mine.saturating_add(*n);
        }
        if gauges {
            self.sessions = self.sessions.saturating_add(other.sessions);
            self.awake = self.awake.saturating_add(other.awake);
            self.memory = self.memory.saturating_add(other.memory);
        }
    }
}

impl Snapshot {
    /// Add `other`'s counters, and with `gauges` its gauges too (a live
    /// process's; an exited one's gauges are gone with it). The files
    /// summed are other processes': numbers past the types' ends stop
    /// there rather than wrap (or panic in a debug build).
    pub fn add(&mut self, other: &Snapshot, gauges: bool) {
        self.v = 1;
        self.connections = self.connections.saturating_add(other.connections);
        for (k, n) in &other.logins {
            let mine = self.logins.entry(k.clone()).or_default();
            *mine = mine.saturating_add(*n);
        }
        for (k, c) in &other.commands {
            let mine = self.commands.entry(k.clone()).or_default();
            mine.micros = mine.micros.saturating_add(c.micros);
            if mine.buckets.len() < c.buckets.len() {
                mine.buckets.resize(c.buckets.len(), 0);
            }
            for (m, n) in mine.buckets.iter_mut().zip(&c.buckets) {
                *m = m.saturating_add(*n);
            }
        }
        self.bytes_in = self.bytes_in.saturating_add(other.bytes_in);
        self.bytes_out = self.bytes_out.saturating_add(other.bytes_out);
        self.instantiations = self.instantiations.saturating_add(other.instantiations);
        self.admission_waits = self.admission_waits.saturating_add(other.admission_waits);
        for (k, n) in &other.traps {
            let mine = self.traps.entry(k.clone()).or_default();
            *mine = mine.saturating_add(*n);
        }
        self.hibernations = self.hibernations.saturating_add(other.hibernations);
        self.wakes = self.wakes.saturating_add(other.wakes);
        self.modules_installed = self
            .modules_installed
            .saturating_add(other.modules_installed);
        self.sessions_moved = self.sessions_moved.saturating_add(other.sessions_moved);
        self.sessions_stayed = self.sessions_stayed.saturating_add(other.sessions_stayed);
        self.spares = self.spares.saturating_add(other.spares);
        for (k, t) in &other.tenants {
            self.tenants.entry(k.clone()).or_default().add(t, gauges);
        }
        if gauges {
            self.processes = self.processes.saturating_add(other.processes);
            self.connections_open = self.connections_open.saturating_add(other.connections_open);
            for (k, n) in &other.sessions {
                let mine = self.sessions.entry(k.clone()).or_default();
                *mine = mine.saturating_add(*n);
            }
            self.live_instances = self.live_instances.saturating_add(other.live_instances);
            self.guest_memory = self.guest_memory.saturating_add(other.guest_memory);
            self.spares_ready = self.spares_ready.saturating_add(other.spares_ready);
        }
    }

    /// The OpenMetrics text exposition, `# EOF` included.
    pub fn encode(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// `buckets` cut so that their sum, and so every running total the
/// exposition writes, fits in a u64 (a stats file may hold any numbers).
fn capped(buckets: &[u64]) -> Vec<u64> {
    let mut total = 0u64;
    buckets
        .iter()
        .map(|&n| {
            let n = n.min(u64::MAX - total);
            total += n;
            n
        })
        .collect()
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: u64,
) -> std::fmt::Result {
    let m = e.encode_descriptor(name, help, unit, MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    v: i64,
) -> std::fmt::Result {
    let m = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    ConstGauge::new(v).encode(m)
}

impl prometheus_client::collector::Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let bytes = Some(&Unit::Bytes);
        gauge(
            &mut e,
            "imapd_processes",
            "Serving processes these numbers come from",
            None,
            self.processes,
        )?;
        counter(
            &mut e,
            "imapd_connections",
            "Client connections accepted",
            None,
            self.connections,
        )?;
        gauge(
            &mut e,
            "imapd_connections_open",
            "Client connections open now",
            None,
            self.connections_open,
        )?;
        {
            let mut f = e.encode_descriptor(
                "imapd_sessions",
                "Sessions now, by state (idle: in IDLE with a guest instance; \
                 hibernated: in IDLE, reduced to a snapshot)",
                None,
                MetricType::Gauge,
            )?;
            for s in SessionState::ALL {
                let n = self.sessions.get(s.label()).copied().unwrap_or(0);
                ConstGauge::new(n).encode(f.encode_family(&[("state", s.label())])?)?;
            }
        }
        {
            let mut f = e.encode_descriptor(
                "imapd_logins",
                "Login attempts, by mechanism (LOGIN: the LOGIN command; AUTH=...: \
                 AUTHENTICATE) and result",
                None,
                MetricType::Counter,
            )?;
            for (k, n) in &self.logins {
                let (mech, result) = k.split_once(' ').unwrap_or((k, ""));
                let labels = [("mechanism", mech), ("result", result)];
                ConstCounter::new(*n).encode(f.encode_family(&labels)?)?;
            }
        }
        {
            let mut f = e.encode_descriptor(
                "imapd_commands",
                "IMAP commands run, by name",
                None,
                MetricType::Counter,
            )?;
            for (name, c) in &self.commands {
                let n: u64 = capped(&c.buckets).iter().sum();
                ConstCounter::new(n).encode(f.encode_family(&[("command", name.as_str())])?)?;
            }
        }
        {
            let mut f = e.encode_descriptor(
                "imapd_command_duration",
                "Time the guest took to run each IMAP command, by name (with the host \
                 calls it made, such as the password check; not output still streaming \
                 to the client)",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for (name, c) in &self.commands {
                let bounds = LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
                let capped = capped(&c.buckets);
                let buckets: Vec<(f64, u64)> = bounds.zip(capped.iter().copied()).collect();
                let count = capped.iter().sum();
                let labels = [("command", name.as_str())];
                let mut m = f.encode_family(&labels)?;
                m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    c.micros as f64 / 1e6,
                    count,
                    &buckets,
                    None,
                )?;
            }
        }
        counter(
            &mut e,
            "imapd_client_received",
            "Bytes of IMAP read from clients (inside TLS, before COMPRESS)",
            bytes,
            self.bytes_in,
        )?;
        counter(
            &mut e,
            "imapd_client_sent",
            "Bytes of IMAP written to clients (inside TLS, before COMPRESS)",
            bytes,
            self.bytes_out,
        )?;
        counter(
            &mut e,
            "imapd_guest_instantiations",
            "Guest instances created (new sessions, promotions, wakes, module moves, \
             trial sessions of new modules)",
            None,
            self.instantiations,
        )?;
        counter(
            &mut e,
            "imapd_admission_waits",
            "New connections that found every guest instance (max_sessions) in use and \
             queued for one while sessions in IDLE hibernated",
            None,
            self.admission_waits,
        )?;
        {
            let mut f = e.encode_descriptor(
                "imapd_guest_traps",
                "Guest calls that failed and ended their session, by kind (cpu: \
                 session_cpu_limit; memory: session_memory_limit; other: panics, bad \
                 accesses)",
                None,
                MetricType::Counter,
            )?;
            for k in TrapKind::ALL {
                let n = self.traps.get(k.label()).copied().unwrap_or(0);
                ConstCounter::new(n).encode(f.encode_family(&[("kind", k.label())])?)?;
            }
        }
        gauge(
            &mut e,
            "imapd_guest_instances",
            "Guest instances alive (pool slots in use; hibernated sessions hold none)",
            None,
            self.live_instances,
        )?;
        gauge(
            &mut e,
            "imapd_guest_memory",
            "Linear memory of the live guest instances, as granted by the memory limiter \
             (address space reserved for the guests, not resident pages)",
            bytes,
            self.guest_memory,
        )?;
        counter(
            &mut e,
            "imapd_hibernations",
            "IDLE sessions reduced to their snapshot",
            None,
            self.hibernations,
        )?;
        counter(
            &mut e,
            "imapd_wakes",
            "Hibernated sessions restored into a new instance",
            None,
            self.wakes,
        )?;
        counter(
            &mut e,
            "imapd_module_installs",
            "Guest modules installed by a hot swap",
            None,
            self.modules_installed,
        )?;
        counter(
            &mut e,
            "imapd_sessions_moved",
            "Sessions moved to a newly installed guest module",
            None,
            self.sessions_moved,
        )?;
        counter(
            &mut e,
            "imapd_sessions_stayed",
            "Sessions that stayed on their module because the new one refused their snapshot",
            None,
            self.sessions_stayed,
        )?;
        counter(
            &mut e,
            "imapd_guest_spares",
            "Spare pre-auth sessions made ahead of plain connections (each also counts \
             as an instantiation)",
            None,
            self.spares,
        )?;
        gauge(
            &mut e,
            "imapd_guest_spares_ready",
            "Spare pre-auth sessions ready now (each holds a guest instance)",
            None,
            self.spares_ready,
        )?;
        if !self.tenants.is_empty() {
            self.encode_tenants(&mut e)?;
        }
        Ok(())
    }
}

impl Snapshot {
    /// The `imapd_tenant_*` families, labelled by tenant.
    fn encode_tenants(&self, e: &mut DescriptorEncoder) -> std::fmt::Result {
        type Field = fn(&TenantSnapshot) -> i64;
        let gauges: [(&str, &str, Option<&Unit>, Field); 3] = [
            (
                "imapd_tenant_sessions",
                "Logged-in sessions of the tenant (domain; - the default one)",
                None,
                |t| t.sessions,
            ),
            (
                "imapd_tenant_awake",
                "Sessions of the tenant holding a guest instance (not hibernated)",
                None,
                |t| t.awake,
            ),
            (
                "imapd_tenant_guest_memory",
                "Linear memory of the tenant's guest instances",
                Some(&Unit::Bytes),
                |t| t.memory,
            ),
        ];
        for (name, help, unit, field) in gauges {
            let mut f = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
            for (tenant, t) in &self.tenants {
                ConstGauge::new(field(t))
                    .encode(f.encode_family(&[("tenant", tenant.as_str())])?)?;
            }
        }
        type Time = fn(&TenantSnapshot) -> u64;
        let times: [(&str, &str, Time); 2] = [
            (
                "imapd_tenant_cpu",
                "Guest CPU time charged to the tenant's tenant_cpu_share",
                |t| t.cpu_micros,
            ),
            (
                "imapd_tenant_cpu_wait",
                "Time the tenant's sessions waited because it was past its tenant_cpu_share",
                |t| t.cpu_wait_micros,
            ),
        ];
        for (name, help, field) in times {
            let mut f =
                e.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Counter)?;
            for (tenant, t) in &self.tenants {
                let labels = [("tenant", tenant.as_str())];
                ConstCounter::new(field(t) as f64 / 1e6).encode(f.encode_family(&labels)?)?;
            }
        }
        let mut f = e.encode_descriptor(
            "imapd_tenant_logins_refused",
            "Logins of the tenant refused at a tenant_* limit, by reason",
            None,
            MetricType::Counter,
        )?;
        for (tenant, t) in &self.tenants {
            for (reason, n) in &t.refused {
                let labels = [("tenant", tenant.as_str()), ("reason", reason.as_str())];
                ConstCounter::new(*n).encode(f.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The longest request head the listener reads; a scraper's is a few
/// hundred bytes.
const MAX_REQUEST: usize = 8192;
/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `GET /metrics` on `listener` until the task is dropped; each
/// scrape's body is `scrape()`. HTTP/1.1 without keep-alive: one request
/// per connection, anything but GET or HEAD of /metrics gets 404 or 405.
pub async fn serve<F>(listener: tokio::net::TcpListener, scrape: F)
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let scrape = std::sync::Arc::new(scrape);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // EMFILE and friends: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let _ = answer(stream, &*scrape).await;
        });
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    Metrics { head: bool },
    NotFound,
    BadMethod,
    Malformed,
}

/// Read a request head (up to the blank line) within the size cap and
/// say what it asks for.
pub(crate) fn parse_request(head: &[u8]) -> Request {
    let text = String::from_utf8_lossy(head);
    let mut words = text.lines().next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Request::Malformed;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::Malformed;
    }
    let path = target.split('?').next().unwrap_or("");
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::BadMethod,
    };
    if path == "/metrics" {
        Request::Metrics { head }
    } else {
        Request::NotFound
    }
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    scrape: &(dyn Fn() -> String + Send + Sync),
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
            if head.len() >= MAX_REQUEST {
                return false;
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    };
    let complete = tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .unwrap_or(false);
    let request = if complete {
        parse_request(&head)
    } else {
        Request::Malformed
    };
    let (status, content_type, body, head_only) = match request {
        Request::Metrics { head } => ("200 OK", CONTENT_TYPE, scrape(), head),
        Request::NotFound => (
            "404 Not Found",
            "text/plain",
            "Not found: the metrics are at /metrics\n".into(),
            false,
        ),
        Request::BadMethod => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".into(),
            false,
        ),
        Request::Malformed => (
            "400 Bad Request",
            "text/plain",
            "Bad request\n".into(),
            false,
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        response.push_str(&body);
    }
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await
    .context("writing the response")??;
    Ok(())
}

/// `<configdirectory>/stats`: the snapshots of processes under master(8).
pub fn stats_dir(config_dir: &Path) -> PathBuf {
    config_dir.join("stats")
}

/// The counters of exited processes, in the stats directory.
const RETIRED: &str = "retired";

/// Hold the stats directory's lock (flock on `stats/.lock`) while `f` runs:
/// folding a file into `retired` and removing it is one step for everyone.
fn locked<R>(dir: &Path, f: impl FnOnce() -> Result<R>) -> Result<R> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor we own; released when `file` closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", path.display()));
    }
    let r = f();
    drop(file);
    r
}

fn read_snapshot(path: &Path) -> Option<Snapshot> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_snapshot(path: &Path, s: &Snapshot) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let json = serde_json::to_vec(s)?;
    std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Under master(8): this process's snapshot file, written now and then and
/// folded into `retired` when dropped (the process is done).
pub struct StatsFile {
    dir: PathBuf,
    path: PathBuf,
    /// The tenants' numbers last written, whose counters are folded into
    /// `retired` at the end.
    tenants: std::sync::Mutex<BTreeMap<String, TenantSnapshot>>,
}

impl StatsFile {
    /// Start writing this process's snapshots under `config_dir`. The
    /// process that creates the directory (the first child) says in the log
    /// where the metrics are, so the log has that line once, not once per
    /// child.
    pub fn new(config_dir: &Path) -> StatsFile {
        let dir = stats_dir(config_dir);
        if !dir.exists() {
            let _ = std::fs::create_dir_all(&dir);
            crate::syslog!(
                Notice,
                "prometheus_enabled under master(8): no listener in the children; \
                 each writes its counters to {}, and `imapd metrics` prints their sum",
                dir.display()
            );
        }
        let path = dir.join(std::process::id().to_string());
        StatsFile {
            dir,
            path,
            tenants: Default::default(),
        }
    }

    /// Write the current numbers (`Server::metrics`).
    pub fn write(&self, s: &Snapshot) {
        *self.tenants.lock().unwrap_or_else(|e| e.into_inner()) = s.tenants.clone();
        let r = std::fs::create_dir_all(&self.dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| write_snapshot(&self.path, s));
        if let Err(e) = r {
            crate::syslog!(Err, "metrics: {e:#}");
        }
    }
}

impl Drop for StatsFile {
    fn drop(&mut self) {
        let mut mine = metrics().snapshot(0);
        mine.tenants = std::mem::take(self.tenants.get_mut().unwrap_or_else(|e| e.into_inner()));
        let r = locked(&self.dir, || {
            let retired_path = self.dir.join(RETIRED);
            let mut retired = read_snapshot(&retired_path).unwrap_or_default();
            retired.add(&mine, false);
            write_snapshot(&retired_path, &retired)?;
            let _ = std::fs::remove_file(&self.path);
            Ok(())
        });
        if let Err(e) = r {
            crate::syslog!(Err, "metrics: {e:#}");
        }
    }
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The sum of every process's snapshot under `config_dir` (master(8)
/// mode): live processes with their gauges, exited ones' counters from
/// `retired`. The files of processes that died without folding their
/// counters in are folded now.
pub fn gather(config_dir: &Path) -> Result<Snapshot> {
    let dir = stats_dir(config_dir);
    locked(&dir, || {
        let retired_path = dir.join(RETIRED);
        let mut retired = read_snapshot(&retired_path).unwrap_or_default();
        let mut live = Snapshot::default();
        let mut folded = false;
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(pid) = name.parse::<u32>() else {
                continue;
            };
            let Some(s) = read_snapshot(&entry.path()) else {
                continue;
            };
            if alive(pid) {
                live.add(&s, true);
            } else {
                retired.add(&s, false);
                let _ = std::fs::remove_file(entry.path());
                folded = true;
            }
        }
        if folded {
            write_snapshot(&retired_path, &retired)?;
        }
        live.add(&retired, false);
        Ok(live)
    })
}

/// `imapd metrics [-C config]`: print the metrics of the processes under
/// master(8) that share this configuration, in the OpenMetrics text format.
pub fn run(args: &[String]) -> Result<()> {
    let opts = crate::cli::parse(args).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = crate::config::Config::load(&opts.config, &crate::cli::service_name())?;
    if !cfg.prometheus_enabled() {
        anyhow::bail!(
            "prometheus_enabled is off in {}: no process keeps metrics",
            opts.config.display()
        );
    }
    let sum = gather(cfg.configdirectory())?;
    print!("{}", sum.encode());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let r = |t: &str| parse_request(t.as_bytes());
        assert_eq!(
            r("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics { head: false }
        );
        assert_eq!(
            r("HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics { head: true }
        );
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(r("GET /metricsx HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(r("POST /metrics HTTP/1.1\r\n\r\n"), Request::BadMethod);
        assert_eq!(r("GET /metrics\r\n\r\n"), Request::Malformed);
        assert_eq!(r("\u{1}\u{2}\r\n\r\n"), Request::Malformed);
    }

    fn sample() -> Snapshot {
        let mut s = Snapshot {
            v: 1,
            processes: 1,
            connections: 3,
            connections_open: 2,
            ..Snapshot::default()
        };
        s.sessions.insert("idle".into(), 1);
        s.logins.insert("AUTH=PLAIN failure".into(), 1);
        s.commands.insert(
            "NOOP".into(),
            CommandSnapshot {
                micros: 30,
                buckets: [2].into_iter().chain([0; 16]).collect(),
            },
        );
        s
    }

    #[test]
    fn tenants_are_labelled_and_summed() {
        let tenant = |sessions, cpu_micros, refused: u64| TenantSnapshot {
            sessions,
            awake: sessions,
            memory: 1 << 20,
            cpu_micros,
            cpu_wait_micros: 250_000,
            refused: [("sessions".to_string(), refused)].into(),
        };
        let mut one = sample();
        one.tenants.insert("a.test".into(), tenant(2, 1_500_000, 1));
        let mut sum = Snapshot::default();
        sum.add(&one, true);
        sum.add(&one, false);
        let t = &sum.tenants["a.test"];
        // Gauges from live processes only; counters from every one.
        assert_eq!(
            (t.sessions, t.cpu_micros, t.refused["sessions"]),
            (2, 3_000_000, 2)
        );
        let text = sum.encode();
        for line in [
            "imapd_tenant_sessions{tenant=\"a.test\"} 2",
            "imapd_tenant_guest_memory_bytes{tenant=\"a.test\"} 1048576",
            "imapd_tenant_cpu_seconds_total{tenant=\"a.test\"} 3.0",
            "imapd_tenant_cpu_wait_seconds_total{tenant=\"a.test\"} 0.5",
            "imapd_tenant_logins_refused_total{tenant=\"a.test\",reason=\"sessions\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // Without tenants, no family of them.
        assert!(!sample().encode().contains("imapd_tenant_"));
    }

    #[test]
    fn encodes_openmetrics() {
        let text = sample().encode();
        for line in [
            "imapd_connections_total 3",
            "imapd_connections_open 2",
            "imapd_sessions{state=\"idle\"} 1",
            "imapd_sessions{state=\"preauth\"} 0",
            "imapd_logins_total{mechanism=\"AUTH=PLAIN\",result=\"failure\"} 1",
            "imapd_commands_total{command=\"NOOP\"} 2",
            "imapd_command_duration_seconds_count{command=\"NOOP\"} 2",
            "imapd_command_duration_seconds_bucket{le=\"+Inf\",command=\"NOOP\"} 2",
            "imapd_guest_traps_total{kind=\"memory\"} 0",
            "# TYPE imapd_command_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn sums_add_counters_and_only_live_gauges() {
        let mut sum = Snapshot::default();
        sum.add(&sample(), true);
        sum.add(&sample(), false);
        assert_eq!(sum.connections, 6);
        assert_eq!(sum.connections_open, 2);
        assert_eq!(sum.processes, 1);
        assert_eq!(sum.sessions["idle"], 1);
        assert_eq!(sum.logins["AUTH=PLAIN failure"], 2);
        assert_eq!(sum.commands["NOOP"].buckets[0], 4);
        assert_eq!(sum.commands["NOOP"].micros, 60);
    }

    #[test]
    fn gather_folds_the_files_of_dead_processes_once() {
        let config = std::env::temp_dir().join(format!("imapd-stats-{}", std::process::id()));
        let dir = stats_dir(&config);
        std::fs::create_dir_all(&dir).unwrap();
        // A live process (this one) and one that is gone (no such pid).
        write_snapshot(&dir.join(std::process::id().to_string()), &sample()).unwrap();
        write_snapshot(&dir.join("4294967294"), &sample()).unwrap();
        for _ in 0..2 {
            let sum = gather(&config).unwrap();
            assert_eq!(sum.connections, 6);
            assert_eq!(sum.connections_open, 2);
            assert_eq!(sum.processes, 1);
        }
        assert!(!dir.join("4294967294").exists());
        assert_eq!(read_snapshot(&dir.join(RETIRED)).unwrap().connections, 3);
        std::fs::remove_dir_all(&config).unwrap();
    }

    #[test]
    fn labels_are_bounded() {
        let m = metrics();
        m.command("<script>", 5);
        m.login("AUTH=\u{0}evil", LoginResult::Failure);
        let s = m.snapshot(0);
        assert!(s.commands.keys().all(|k| COMMANDS.contains(&k.as_str())));
        assert!(s.commands.contains_key("OTHER"));
        assert!(s.logins.contains_key("other failure"), "{:?}", s.logins);
    }
}
