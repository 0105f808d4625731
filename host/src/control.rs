//! The control socket of a serving process: how `imapd swap` tells a
//! running server to load the newly installed guest module, and learns
//! what happened (which module each process runs, how many sessions
//! moved, how many stayed on the old module and why).
//!
//! One unix socket per serving process, `<configdirectory>/socket/
//! imapd-ctl.<pid>`, mode 0600; a peer is served only when it runs as the
//! server's own user or as root (SO_PEERCRED). Under master(8) a child has
//! its socket only while it serves a connection; between connections it
//! has no session to move, and it looks at the module file before it
//! starts the next one. The protocol is one request line, one JSON answer:
//!
//! - `swap [SECS]`: re-read `guest_module` from imapd.conf, load and
//!   install it if it is not the one running, then wait up to SECS
//!   (default 30) for the sessions to move; answer with a [`Report`].
//! - `pin DOMAIN [SECS]`: read the domains' pinned modules
//!   (`imapd swap --domain`) again, pin or unpin, wait as `swap` does;
//!   the report's `current` is the module DOMAIN's sessions run on.
//! - `status`: the same report, changing nothing, with the live sessions
//!   and the limits in force (`imapd status`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::engine::ModuleUse;
use crate::ops::status::{Limits, SessionReport};
use crate::server::{Reload, Server};

/// The file name prefix of control sockets in `<configdirectory>/socket/`.
pub const PREFIX: &str = "imapd-ctl.";

/// How long `swap` waits for sessions to move unless told otherwise.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The socket path of process `pid`.
pub fn socket_path(config_dir: &Path, pid: u32) -> PathBuf {
    config_dir.join("socket").join(format!("{PREFIX}{pid}"))
}

/// One loaded module and its sessions, as reported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModuleReport {
    pub hash: String,
    pub current: bool,
    pub sessions: usize,
    pub stayed: usize,
}

/// A process's answer to `swap` or `status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub pid: u32,
    /// `swapped`, `unchanged`, `status` or `error`.
    pub result: String,
    /// Why the module could not be loaded (`error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The module it ran before (`swapped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The module new sessions start on.
    pub current: String,
    pub modules: Vec<ModuleReport>,
    /// Sessions moved to the new module during this request.
    pub moved: u64,
    /// Sessions still on an older module that have not been refused by
    /// the current one (in the middle of a command when the wait ended).
    pub pending: usize,
    /// Sessions that stay on an older module, and the latest reasons.
    pub stayed: usize,
    pub refusals: Vec<String>,
    /// Guest instances alive (hibernated sessions hold none).
    pub live_instances: u64,
    /// Milliseconds from the request to the answer.
    pub millis: u64,
    /// The service name (`imap`, `imaps`, ...: `CYRUS_SERVICE`).
    #[serde(default)]
    pub service: String,
    /// The live sessions (`imapd status`).
    #[serde(default)]
    pub sessions: Vec<SessionReport>,
    /// The limits in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// With `virtdomains`: each tenant's sessions and use, by domain
    /// (`-` the default one).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tenants: std::collections::BTreeMap<String, crate::ops::metrics::TenantSnapshot>,
}

/// The socket file; removed when dropped.
pub struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bind this process's control socket and serve it on the current tokio
/// runtime until the returned guard is dropped.
pub fn listen(server: &Arc<Server>) -> Result<ControlSocket> {
    let path = socket_path(&server.options.config_dir, std::process::id());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // A socket left by an earlier process with our pid.
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    let server = server.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(&server, stream).await {
                    crate::syslog!(Err, "control socket: {e:#}");
                }
            });
        }
    });
    Ok(ControlSocket { path, task })
}

/// Only our own user and root may steer the server.
fn allowed(stream: &UnixStream) -> bool {
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    stream
        .peer_cred()
        .is_ok_and(|c| c.uid() == me || c.uid() == 0)
}

async fn answer(server: &Arc<Server>, stream: UnixStream) -> Result<()> {
    if !allowed(&stream) {
        return Ok(());
    }
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(r.take(256)).read_line(&mut line),
    )
    .await
    .context("reading the request")??;
    let mut words = line.split_whitespace();
    let report = match (words.next(), words.next()) {
        (Some("pin"), Some(domain)) => {
            let wait = words
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .map_or(DEFAULT_WAIT, Duration::from_secs);
            pin(server, domain, wait).await
        }
        (Some("swap"), secs) => {
            let wait = secs
                .and_then(|s| s.parse::<u64>().ok())
                .map_or(DEFAULT_WAIT, Duration::from_secs);
            swap(server, wait).await
        }
        (Some("status"), _) => {
            let mut r = report(server, 0, std::time::Instant::now());
            r.result = "status".into();
            r
        }
        _ => {
            w.write_all(b"{\"error\":\"unknown request\"}\n").await?;
            return Ok(());
        }
    };
    let mut json = serde_json::to_vec(&report)?;
    json.push(b'\n');
    w.write_all(&json).await?;
    w.shutdown().await?;
    Ok(())
}

/// Reload the module and wait (up to `wait`) until every session that can
/// move has moved.
pub async fn swap(server: &Arc<Server>, wait: Duration) -> Report {
    let t = std::time::Instant::now();
    let moved_before = server.engine.counters.moved.load(Ordering::Relaxed);
    let reload = server.reload_module("imapd swap").await;
    let deadline = t + wait;
    while pending(&server.engine.modules_in_use()) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let moved = server.engine.counters.moved.load(Ordering::Relaxed) - moved_before;
    let mut r = report(server, moved, t);
    match reload {
        Ok(Reload::Swapped { from, .. }) => {
            r.result = "swapped".into();
            r.from = Some(from);
        }
        Ok(Reload::Unchanged { .. }) => r.result = "unchanged".into(),
        Err(e) => {
            r.result = "error".into();
            r.error = Some(format!("{e:#}"));
        }
    }
    r
}

/// Re-read the domains' pins and wait (up to `wait`) until every session
/// that can move has moved; reported for `domain`.
pub async fn pin(server: &Arc<Server>, domain: &str, wait: Duration) -> Report {
    let t = std::time::Instant::now();
    let moved_before = server.engine.counters.moved.load(Ordering::Relaxed);
    let done = server.reload_pins("imapd swap --domain").await;
    let deadline = t + wait;
    while pending(&server.engine.modules_in_use()) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let moved = server.engine.counters.moved.load(Ordering::Relaxed) - moved_before;
    let mut r = report(server, moved, t);
    r.current = server.engine.current_for(Some(domain)).hash.clone();
    r.result = "unchanged".into();
    match done.into_iter().find(|(d, _)| d == domain).map(|(_, r)| r) {
        Some(Ok(Reload::Swapped { from, .. })) => {
            r.result = "swapped".into();
            r.from = Some(from);
        }
        Some(Ok(Reload::Unchanged { .. })) | None => {}
        Some(Err(e)) => {
            r.result = "error".into();
            r.error = Some(format!("{e:#}"));
        }
    }
    r
}

/// Sessions on older modules not (yet) refused by the current one.
fn pending(modules: &[ModuleUse]) -> usize {
    modules
        .iter()
        .filter(|m| !m.current)
        .map(|m| m.sessions.saturating_sub(m.stayed))
        .sum()
}

fn report(server: &Server, moved: u64, since: std::time::Instant) -> Report {
    let modules = server.engine.modules_in_use();
    let refusals = server
        .engine
        .counters
        .refusals
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    Report {
        pid: std::process::id(),
        result: String::new(),
        error: None,
        from: None,
        current: modules.first().map(|m| m.hash.clone()).unwrap_or_default(),
        pending: pending(&modules),
        stayed: modules
            .iter()
            .filter(|m| !m.current)
            .map(|m| m.stayed)
            .sum(),
        modules: modules
            .into_iter()
            .map(|m| ModuleReport {
                hash: m.hash,
                current: m.current,
                sessions: m.sessions,
                stayed: m.stayed,
            })
            .collect(),
        moved,
        refusals,
        live_instances: server.engine.live_instances(),
        millis: since.elapsed().as_millis() as u64,
        service: server.service.clone(),
        sessions: server.sessions.list(),
        limits: Some(Limits::of(&server.options)),
        tenants: server.tenants.snapshot(),
    }
}

/// Ask process `pid`'s control socket; `None` when no process answers
/// there (a socket left by a process that is gone is removed).
pub fn ask(path: &Path, request: &str, timeout: Duration) -> Result<Option<Report>> {
    use std::io::{Read, Write};
    let mut s = match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            let _ = std::fs::remove_file(path);
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("connecting to {}", path.display())),
    };
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("{request}\n").as_bytes())?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .with_context(|| format!("reading the answer from {}", path.display()))?;
    let report = serde_json::from_str(text.trim())
        .with_context(|| format!("{} answered {:?}", path.display(), text.trim()))?;
    Ok(Some(report))
}

/// The control sockets under `config_dir`, by pid.
pub fn sockets(config_dir: &Path) -> Vec<(u32, PathBuf)> {
    let dir = config_dir.join("socket");
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix(PREFIX)?.parse().ok()?;
            Some((pid, e.path()))
        })
        .collect();
    out.sort();
    out
}
