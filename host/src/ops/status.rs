//! `imapd status`: what the running server is doing now. Every serving
//! process keeps a table of its live sessions ([`LiveSessions`], touched
//! only when a session changes state, never per command); `imapd status`
//! asks each process's control socket (`status`, see `control.rs`) and
//! prints the answers as text or, with `--json`, as one JSON document.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::control::Report;
use crate::ops::metrics::SessionState;
use crate::server::Options;

/// One live session, as `imapd status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReport {
    /// Unique within its process.
    pub id: u64,
    pub peer: String,
    /// The user the host verified; `None` before login.
    pub user: Option<String>,
    pub state: SessionState,
    /// The first 16 hex digits of the guest module it runs on.
    pub module: String,
    /// When the client connected, seconds since the epoch.
    pub since: u64,
    /// When it entered its current state, seconds since the epoch.
    pub state_since: u64,
}

/// The sessions of this process, by id.
#[derive(Default)]
pub struct LiveSessions {
    map: Mutex<HashMap<u64, SessionReport>>,
}

pub fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl LiveSessions {
    pub fn insert(&self, s: SessionReport) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.id, s);
    }

    pub fn update(&self, id: u64, f: impl FnOnce(&mut SessionReport)) {
        if let Some(s) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&id)
        {
            f(s);
        }
    }

    pub fn remove(&self, id: u64) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// Every live session, oldest first.
    pub fn list(&self) -> Vec<SessionReport> {
        let mut v: Vec<SessionReport> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|s| s.id);
        v
    }
}

/// The limits a process runs with, as `imapd status` shows them. Times
/// in seconds; `None`: no limit (or the feature is off).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_sessions: u32,
    pub session_memory_limit: u64,
    pub session_cpu_limit: u64,
    pub maxlogins_per_user: Option<u32>,
    pub maxlogins_per_host: Option<u32>,
    #[serde(default)]
    pub maxpreauth_per_host: Option<u32>,
    pub timeout: u64,
    pub login_timeout: Option<u64>,
    pub imapidletimeout: u64,
    pub imapidlepoll: Option<u64>,
    pub idle_keepalive: Option<u64>,
    pub idle_hibernate: Option<u64>,
    pub maxliteral: u32,
    pub maxmessagesize: Option<u64>,
}

impl Limits {
    pub fn of(o: &Options) -> Limits {
        let secs = |d: Duration| d.as_secs();
        Limits {
            max_sessions: o.engine.max_sessions,
            session_memory_limit: o.engine.memory_limit as u64,
            session_cpu_limit: secs(o.engine.cpu_limit),
            maxlogins_per_user: o.max_logins_per_user,
            maxlogins_per_host: o.max_logins_per_host,
            maxpreauth_per_host: o.max_preauth_per_host,
            timeout: secs(o.timeout),
            login_timeout: o.login_timeout.map(secs),
            imapidletimeout: secs(o.idle_timeout),
            imapidlepoll: o.idle_poll.map(secs),
            idle_keepalive: o.idle_keepalive.map(secs),
            idle_hibernate: o.idle_hibernate.map(secs),
            maxliteral: o.max_literal,
            maxmessagesize: Some(o.max_message_size).filter(|&n| n > 0),
        }
    }

    fn text(&self) -> String {
        let opt = |v: Option<u64>, unit: &str| match v {
            Some(n) => format!("{n}{unit}"),
            None => "off".into(),
        };
        let count = |v: Option<u32>| v.map_or("unlimited".into(), |n| n.to_string());
        format!(
            "max_sessions {}, session_memory_limit {} MiB, session_cpu_limit {}s, \
             maxlogins_per_user {}, maxlogins_per_host {}, maxpreauth_per_host {}, timeout {}s, \
             login_timeout {}, \
             imapidletimeout {}s, imapidlepoll {}, idle_keepalive {}, idle_hibernate {}, \
             maxliteral {}, maxmessagesize {}",
            self.max_sessions,
            self.session_memory_limit >> 20,
            self.session_cpu_limit,
            count(self.maxlogins_per_user),
            count(self.maxlogins_per_host),
            count(self.maxpreauth_per_host),
            self.timeout,
            opt(self.login_timeout, "s"),
            self.imapidletimeout,
            opt(self.imapidlepoll, "s"),
            opt(self.idle_keepalive, "s"),
            opt(self.idle_hibernate, "s"),
            self.maxliteral,
            opt(self.maxmessagesize, " bytes"),
        )
    }
}

/// The JSON document `imapd status --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub processes: Vec<Report>,
}

fn ago(now: u64, t: u64) -> String {
    let s = now.saturating_sub(t);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

/// The first 16 characters of a module hash: what the reports say is hex,
/// but they come from other processes (a cut inside a character panicked).
fn short(hash: &str) -> &str {
    hash.char_indices()
        .nth(16)
        .map_or(hash, |(i, _)| &hash[..i])
}

/// The text form of one process's report.
pub fn text(r: &Report, now: u64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "process {}{}: guest module {}",
        r.pid,
        if r.service.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.service)
        },
        short(&r.current)
    );
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_user: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &r.sessions {
        *by_state.entry(s.state.label()).or_default() += 1;
        *by_user.entry(s.user.as_deref().unwrap_or("-")).or_default() += 1;
    }
    let states: Vec<String> = SessionState::ALL
        .iter()
        .map(|s| format!("{} {}", s.label(), by_state.get(s.label()).unwrap_or(&0)))
        .collect();
    let _ = writeln!(
        out,
        "  sessions: {} ({})",
        r.sessions.len(),
        states.join(", ")
    );
    let users: Vec<String> = by_user.iter().map(|(u, n)| format!("{u} {n}")).collect();
    let _ = writeln!(
        out,
        "  users: {}",
        if users.is_empty() {
            "none".into()
        } else {
            users.join(", ")
        }
    );
    if !r.tenants.is_empty() {
        let tenants: Vec<String> = r
            .tenants
            .iter()
            .map(|(d, t)| {
                format!(
                    "{d} {} (awake {}, {} MiB)",
                    t.sessions,
                    t.awake,
                    t.memory >> 20
                )
            })
            .collect();
        let _ = writeln!(out, "  tenants: {}", tenants.join(", "));
    }
    let _ = writeln!(out, "  guest instances alive: {}", r.live_instances);
    let _ = writeln!(out, "  modules:");
    for m in &r.modules {
        let _ = writeln!(
            out,
            "    {}{} {} sessions{}",
            short(&m.hash),
            if m.current { " (current)" } else { "" },
            m.sessions,
            if m.stayed > 0 {
                format!(", {} stayed", m.stayed)
            } else {
                String::new()
            }
        );
    }
    if let Some(l) = &r.limits {
        let _ = writeln!(out, "  limits: {}", l.text());
    }
    if !r.sessions.is_empty() {
        let _ = writeln!(
            out,
            "  {:<20} {:<14} {:<24} {:<16} {:>8} {:>8}",
            "USER", "STATE", "PEER", "MODULE", "SINCE", "IN STATE"
        );
        for s in &r.sessions {
            let _ = writeln!(
                out,
                "  {:<20} {:<14} {:<24} {:<16} {:>8} {:>8}",
                s.user.as_deref().unwrap_or("-"),
                s.state.label(),
                s.peer,
                s.module,
                ago(now, s.since),
                ago(now, s.state_since)
            );
        }
    }
    out
}

/// `imapd status [-C config] [--json]`.
pub fn run(args: &[String]) -> Result<()> {
    let json = args.iter().any(|a| a == "--json");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--json").cloned().collect();
    let opts = crate::cli::parse(&rest).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = crate::config::Config::load(&opts.config, &crate::cli::service_name())?;
    let dir = cfg.configdirectory();
    let mut reports = Vec::new();
    for (pid, path) in crate::control::sockets(dir) {
        match crate::control::ask(&path, "status", Duration::from_secs(10)) {
            Ok(Some(r)) => reports.push(r),
            Ok(None) => {}
            Err(e) => eprintln!("imapd: process {pid}: {e:#}"),
        }
    }
    if reports.is_empty() {
        bail!(
            "no imapd process is serving with configdirectory {} (no control socket \
             answered in {}; under master(8) a process between connections has none)",
            dir.display(),
            dir.join("socket").display()
        );
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Status { processes: reports })?
        );
    } else {
        let now = epoch_secs();
        for r in &reports {
            print!("{}", text(r, now));
        }
    }
    Ok(())
}
