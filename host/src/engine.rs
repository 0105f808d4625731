//! The WebAssembly side of the host: one wasmtime [`Engine`] per process,
//! the guest component (precompiled and cached on disk), and one [`Store`]
//! per session with its memory cap, CPU deadline and capabilities.
//!
//! A pre-auth guest gets no filesystem at all; a post-auth guest gets
//! its user's mail tree as `/mail`, each mailbox other users share with
//! the user at `/shared/<owner>/<dir>` ([`SessionHost::share_preopens`]),
//! and, for an administrator only ([`SessionHost::admin_partition`]), the
//! partition as `/users`.
//!
//! Hot swap: the engine holds the *current* [`Module`] (new sessions start
//! on it) and every session holds the module it runs on. Installing a new
//! module bumps a generation every session watches; each session then
//! moves at its next command boundary ([`GuestEngine::move_session`],
//! [`GuestEngine::rehome`]): snapshot from the old instance, restore into
//! the new module, the same path as promotion and hibernation. A session
//! whose snapshot the new module refuses is restored into its old module
//! and stays there; a module is freed when its last session ends.

use std::hash::{Hash, Hasher};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use sha2::Digest;

use crate::ops::metrics::{TrapKind, metrics};
use wasmtime::component::{Component, HasSelf, Linker, ResourceAny, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    world: "session",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

pub use self::imapd::session::host::{
    AuthError, Level, MetadataError, QuotaError, QuotaLimits, QuotaUsage, SaslReply,
    SessionState as ProtocolState,
};
pub use exports::imapd::session::engine::{Action, ServerInfo, Settings, Step};

/// The guest this binary was built with (see build.rs); empty when the
/// build had none, in which case `guest_module` must name one.
const BUILT_IN_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));

/// The longest a tenant's call waits at once for its CPU share (it checks
/// again after).
const MAX_TENANT_PAUSE: Duration = Duration::from_millis(100);

/// One epoch tick. Deadlines are counted in ticks; 10 ms keeps the ticker
/// thread's cost negligible while a runaway guest is stopped promptly.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Where the guest module comes from (imapd.conf `guest_module`,
/// `guest_module_sha256`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleSource {
    /// The module file; `None`: only the module built into the binary.
    pub path: Option<PathBuf>,
    /// `guest_module` was set: the file must exist. Otherwise a missing
    /// file means the built-in module.
    pub explicit: bool,
    /// `guest_module_sha256`: the only module accepted.
    pub sha256: Option<String>,
}

/// The identity of a module file as loaded: a replaced file (`imapd swap`
/// renames a new one into place) has a new inode or size or mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl FileStamp {
    pub fn of(m: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        }
    }
}

impl ModuleSource {
    /// The stamp of the file a load would read now; `None`: the built-in
    /// module would be used.
    pub fn stamp(&self) -> Result<Option<FileStamp>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileStamp::of(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.explicit => Ok(None),
            Err(e) => Err(anyhow!("guest module {}: {e}", path.display())),
        }
    }

    /// The module's bytes (file or built in) and the file's stamp, with
    /// the checks every load makes: the file is not writable by group or
    /// others, and its hash is the pinned one.
    pub fn read(&self) -> Result<(std::borrow::Cow<'static, [u8]>, Option<FileStamp>)> {
        let (wasm, stamp): (std::borrow::Cow<[u8]>, _) = match self.stamp()? {
            Some(_) => {
                let path = self.path.as_deref().unwrap_or(Path::new(""));
                let (bytes, stamp) = read_module_file(path)?;
                (bytes.into(), Some(stamp))
            }
            None if BUILT_IN_GUEST.is_empty() => {
                return Err(anyhow!(
                    "this imapd was built without a guest module; build it with `make` \
                     or set guest_module in imapd.conf"
                ));
            }
            None => (BUILT_IN_GUEST.into(), None),
        };
        if let Some(pin) = &self.sha256 {
            let hash = hex::encode(sha2::Sha256::digest(&wasm));
            if &hash != pin {
                return Err(anyhow!(
                    "guest module {} has SHA-256 {hash}, but guest_module_sha256 pins {pin}",
                    self.describe()
                ));
            }
        }
        Ok((wasm, stamp))
    }

    /// The module's name for messages: its path, or "built in".
    pub fn describe(&self) -> String {
        match (&self.path, self.stamp()) {
            (Some(p), Ok(Some(_))) => p.display().to_string(),
            _ => "built into imapd".to_string(),
        }
    }
}

/// Read a module file, refusing one that group or others may write (a
/// module runs every user's session: whoever can replace it reads all mail).
pub fn read_module_file(path: &Path) -> Result<(Vec<u8>, FileStamp)> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("reading guest module {}", path.display()))?;
    let m = f
        .metadata()
        .with_context(|| format!("reading guest module {}", path.display()))?;
    if !m.is_file() {
        return Err(anyhow!("guest module {} is not a file", path.display()));
    }
    if m.permissions().mode() & 0o022 != 0 {
        return Err(anyhow!(
            "guest module {} is writable by others than its owner (mode {:o}); refusing it",
            path.display(),
            m.permissions().mode() & 0o7777
        ));
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut bytes)
        .with_context(|| format!("reading guest module {}", path.display()))?;
    Ok((bytes, FileStamp::of(&m)))
}

/// What the engine needs from imapd.conf.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `guest_module`, `guest_module_sha256`: where the guest comes from.
    pub source: ModuleSource,
    /// `guest_cache_dir`: where precompiled components are kept.
    pub cache_dir: Option<PathBuf>,
    /// `session_memory_limit`: linear memory cap per session, bytes.
    pub memory_limit: usize,
    /// `session_cpu_limit`: CPU time one call into the guest may take.
    pub cpu_limit: Duration,
    /// `max_sessions`: live sessions (pool slots) per process.
    pub max_sessions: u32,
}

/// The services a guest's host imports reach; one per session.
pub trait SessionHost: Send + 'static {
    fn authenticate(
        &mut self,
        mech: String,
        authzid: String,
        user: String,
        password: String,
    ) -> impl std::future::Future<Output = Result<String, AuthError>> + Send;
    fn log(&mut self, level: Level, message: &str);
    fn lock_mailbox(
        &mut self,
        dir: String,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
    fn unlock_mailbox(&mut self, dir: String);
    /// The authenticated user is an administrator (wit: `is-admin`).
    fn is_admin(&mut self) -> bool;
    /// For an administrator's post-auth instance: the partition (every
    /// user's tree), preopened at `/users` beside the user's own tree, so
    /// the admin can create, delete, rename and list users' mailboxes as
    /// Cyrus's admins do (cyradm `cm user/bob`). `None` for everyone else.
    fn admin_partition(&mut self) -> Option<std::os::fd::RawFd> {
        None
    }
    /// What the session's tenant's guests share (memory, CPU time), which
    /// this instance is charged against; `None`: nothing beyond its own
    /// limits.
    fn budget(&mut self) -> Option<Arc<crate::tenant::limits::Budget>> {
        None
    }
    /// The session's tenant, for a module pinned to it
    /// ([`GuestEngine::pin`]); `None` before login and without domains.
    fn tenant_key(&self) -> Option<String> {
        None
    }
    /// Options of this session alone, passed to its guest with imapd.conf's
    /// (`virtdomain`: the user's domain).
    fn session_options(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The mailboxes other users share with the session's user (wit:
    /// `shared-mailboxes`), as computed when the instance was made.
    fn shared_mailboxes(&mut self) -> Vec<crate::shares::Share> {
        Vec::new()
    }
    /// The directories of those shares to preopen for the post-auth
    /// instance: guest path (`/shared/<owner>/<dir>`), descriptor, and
    /// whether the guest may write in it.
    fn share_preopens(&mut self) -> Vec<(String, std::os::fd::RawFd, bool)> {
        Vec::new()
    }
    /// The ACL of one of `owner`'s mailboxes changed (wit: `acls-changed`);
    /// the host decides who may say so.
    fn acls_changed(
        &mut self,
        _owner: String,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send {
        async { Err("no sharing here".to_string()) }
    }
    /// The server annotations (wit: `server-metadata`).
    fn server_metadata(
        &mut self,
    ) -> impl std::future::Future<Output = Vec<(String, Vec<u8>)>> + Send;
    /// Set or remove server annotations, all or none (wit:
    /// `set-server-metadata`); the host decides who may.
    fn set_server_metadata(
        &mut self,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> impl std::future::Future<Output = Result<(), MetadataError>> + Send;
    /// The limits on the session's own user's quota root, and whether they
    /// are enforced (wit: `own-quota`); `None` before login or without a root.
    fn own_quota(
        &mut self,
    ) -> impl std::future::Future<Output = Option<(QuotaLimits, bool)>> + Send;
    /// A user's quota root and the usage the host counts (wit:
    /// `get-quota`); the host decides who may.
    fn get_quota(
        &mut self,
        user: String,
    ) -> impl std::future::Future<Output = Result<QuotaUsage, QuotaError>> + Send;
    /// Replace a user's quota limits (wit: `set-quota`); the host decides
    /// who may.
    fn set_quota(
        &mut self,
        user: String,
        limits: QuotaLimits,
    ) -> impl std::future::Future<Output = Result<QuotaUsage, QuotaError>> + Send;
    /// A SASL exchange the host runs (wit: `sasl-start`, `sasl-continue`,
    /// `sasl-abort`).
    fn sasl_start(
        &mut self,
        mech: String,
        initial: Option<Vec<u8>>,
    ) -> impl std::future::Future<Output = SaslReply> + Send;
    fn sasl_continue(
        &mut self,
        response: Vec<u8>,
    ) -> impl std::future::Future<Output = SaslReply> + Send;
    fn sasl_abort(&mut self);
    /// CPU time one guest call took on its thread (user, system), for the
    /// session's `USAGE` line.
    fn charge_cpu(&mut self, _user: Duration, _system: Duration) {}
    /// A command finished (wit: `command-done`): its name as the guest
    /// reports it, the state it left the session in, and its guest time.
    fn command_done(&mut self, _name: &str, _state: ProtocolState, _micros: u64) {}
    /// The session now runs on the module with this hash (at its start,
    /// and after each promotion, wake or move).
    fn on_module(&mut self, _hash: &str) {}
}

/// The store's resource limiter: wasmtime's [`StoreLimits`] (the memory
/// cap and the counts), plus what the metrics need: the linear memory it
/// granted (subtracted from the process's total when the store goes) and
/// whether it refused a growth since the last guest call began (a trap
/// after that is counted as the memory limit's).
struct GuestLimits {
    limits: StoreLimits,
    granted: usize,
    refused: Arc<AtomicBool>,
    /// The tenant's, shared with its other sessions.
    budget: Option<Arc<crate::tenant::limits::Budget>>,
}

impl wasmtime::ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = desired.saturating_sub(current);
        let ok = self.limits.memory_growing(current, desired, maximum)?
            && self
                .budget
                .as_ref()
                .is_none_or(|b| b.try_grow(grown as u64));
        if ok {
            self.granted += grown;
            metrics().guest_memory(grown as i64);
        } else {
            self.refused.store(true, Ordering::Relaxed);
        }
        Ok(ok)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.refused.store(true, Ordering::Relaxed);
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl Drop for GuestLimits {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.release(self.granted as u64);
        }
        metrics().guest_memory(-(self.granted as i64));
    }
}

/// The error that ends a guest call over `session_cpu_limit`.
#[derive(Debug)]
struct CpuLimit {
    millis: u64,
}

impl std::fmt::Display for CpuLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CPU limit exceeded ({} ms in one call)", self.millis)
    }
}

impl std::error::Error for CpuLimit {}

/// The per-store state: WASI context, limits, deadline accounting and the
/// session's host services.
pub struct Ctx<H: SessionHost> {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: GuestLimits,
    ticks: u64,
    max_ticks: u64,
    /// The guest's current run on a thread, while its tenant has a CPU
    /// share: shared with the future that resumes it after a yield.
    run: Arc<Mutex<Option<Run>>>,
    pub host: H,
}

impl<H: SessionHost> WasiView for Ctx<H> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A stretch of guest code on one thread, charged to the tenant's CPU
/// share when it ends (a yield, a wait in a host call, the call's end) by
/// the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID): a session's wall time
/// between epoch ticks would count the other sessions that ran on the
/// thread meanwhile.
#[derive(Debug, Clone, Copy)]
struct Run {
    thread: std::thread::ThreadId,
    /// The thread's CPU time (user and system) when the run began.
    cpu: Duration,
    /// What the tenant's budget reserved for it.
    reserved: Duration,
}

impl Run {
    fn begin(reserved: Duration) -> Run {
        Run {
            thread: std::thread::current().id(),
            cpu: crate::net::thread_cpu_now(),
            reserved,
        }
    }

    /// The CPU time it has run (nothing if it moved to another thread,
    /// which only a wait in a host call does, and those end a run).
    fn ran(&self) -> Duration {
        if std::thread::current().id() != self.thread {
            return Duration::ZERO;
        }
        crate::net::thread_cpu_now().saturating_sub(self.cpu)
    }
}

/// End the run in `run`, if there is one, charging it to `budget`.
fn end_run(run: &Mutex<Option<Run>>, budget: Option<&crate::tenant::limits::Budget>) {
    let run = run.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let (Some(run), Some(b)) = (run, budget) {
        b.charge_cpu(run.ran(), run.reserved);
    }
}

/// Wait until the tenant may run another slice; the CPU reserved for it.
async fn admitted(budget: &crate::tenant::limits::Budget) -> Duration {
    loop {
        match budget.cpu_admit(EPOCH_TICK) {
            Ok(reserved) => return reserved,
            Err(wait) => {
                let wait = wait.min(MAX_TENANT_PAUSE);
                tokio::time::sleep(wait).await;
                budget.waited(wait);
            }
        }
    }
}

impl<H: SessionHost> Ctx<H> {
    /// The guest stops running (a yield, a wait in a host call, the end of
    /// a call): charge its run to the tenant's CPU share.
    fn end_run(&mut self) {
        end_run(&self.run, self.limits.budget.as_deref());
    }

    /// The guest runs again after a wait in a host call.
    fn begin_run(&mut self, reserved: Duration) {
        if self.limits.budget.as_ref().is_some_and(|b| b.meters_cpu()) {
            *self.run.lock().unwrap_or_else(|e| e.into_inner()) = Some(Run::begin(reserved));
        }
    }

    /// Counts `spent` (host work done for the guest) against the guest's
    /// CPU budget, in whole ticks; the deadline callback ends the call
    /// once the budget is gone.
    fn charge_host_time(&mut self, spent: Duration) {
        let ticks = (spent.as_millis() / EPOCH_TICK.as_millis()) as u64;
        self.ticks = self.ticks.saturating_add(ticks);
    }
}

impl<H: SessionHost> self::imapd::session::host::Host for Ctx<H> {
    async fn log(&mut self, level: Level, message: String) {
        self.host.log(level, &message);
    }

    async fn lock_mailbox(&mut self, dir: String) -> Result<(), String> {
        // Waiting for another session's lock is not guest CPU time.
        self.end_run();
        let r = self.host.lock_mailbox(dir).await;
        self.begin_run(Duration::ZERO);
        self.ticks = 0;
        r
    }

    async fn unlock_mailbox(&mut self, dir: String) {
        self.host.unlock_mailbox(dir);
    }

    async fn is_admin(&mut self) -> bool {
        self.host.is_admin()
    }

    // These two leave the CPU budget as it is: a wait inside a host call
    // costs the guest one tick at most (the epoch is checked only in guest
    // code), and a guest calling them in a loop must still run out.
    async fn server_metadata(&mut self) -> Vec<(String, Vec<u8>)> {
        self.host.server_metadata().await
    }

    async fn shared_mailboxes(&mut self) -> Vec<self::imapd::session::host::SharedMailbox> {
        self.host
            .shared_mailboxes()
            .into_iter()
            .map(|s| self::imapd::session::host::SharedMailbox {
                owner: s.owner,
                dir: s.dir,
                rights: s.rights.to_string(),
            })
            .collect()
    }

    // Reads a whole tree: charged to the guest's CPU budget, as get-quota.
    async fn acls_changed(&mut self, owner: String) -> Result<(), String> {
        let t = std::time::Instant::now();
        let r = self.host.acls_changed(owner).await;
        self.charge_host_time(t.elapsed());
        r
    }

    async fn set_server_metadata(
        &mut self,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), MetadataError> {
        self.host.set_server_metadata(entries).await
    }

    async fn own_quota(&mut self) -> Option<(QuotaLimits, bool)> {
        self.host.own_quota().await
    }

    // These two walk a user's tree: the time they take is charged to the
    // guest's CPU budget (whole ticks), so that a guest calling them in a
    // loop runs out as it would computing, not one tick per call.
    async fn get_quota(&mut self, user: String) -> Result<QuotaUsage, QuotaError> {
        let t = std::time::Instant::now();
        let r = self.host.get_quota(user).await;
        self.charge_host_time(t.elapsed());
        r
    }

    async fn set_quota(
        &mut self,
        user: String,
        limits: QuotaLimits,
    ) -> Result<QuotaUsage, QuotaError> {
        let t = std::time::Instant::now();
        let r = self.host.set_quota(user, limits).await;
        self.charge_host_time(t.elapsed());
        r
    }

    async fn authenticate(
        &mut self,
        mech: String,
        authzid: String,
        user: String,
        password: String,
    ) -> Result<String, AuthError> {
        // Time spent waiting for the password check is not guest CPU time.
        self.end_run();
        let r = self.host.authenticate(mech, authzid, user, password).await;
        self.begin_run(Duration::ZERO);
        self.ticks = 0;
        r
    }

    async fn sasl_start(&mut self, mech: String, initial: Option<Vec<u8>>) -> SaslReply {
        self.end_run();
        let r = self.host.sasl_start(mech, initial).await;
        self.begin_run(Duration::ZERO);
        self.ticks = 0;
        r
    }

    async fn sasl_continue(&mut self, response: Vec<u8>) -> SaslReply {
        self.end_run();
        let r = self.host.sasl_continue(response).await;
        self.begin_run(Duration::ZERO);
        self.ticks = 0;
        r
    }

    async fn sasl_abort(&mut self) {
        self.host.sasl_abort();
    }

    async fn command_done(&mut self, name: String, state: ProtocolState, micros: u64) {
        self.host.command_done(&name, state, micros);
    }
}

/// One loaded guest module: compiled, linked and pre-instantiated.
pub struct Module<H: SessionHost> {
    /// Hex SHA-256 of the module's bytes.
    pub hash: String,
    pre: SessionPre<Ctx<H>>,
    /// The file it was last read from, as it was then; `None`: built in.
    stamp: Mutex<Option<FileStamp>>,
    /// Sessions on this module that a newer module refused to take.
    stayed: AtomicUsize,
    /// Sessions (live and hibernated) on this module: [`OnModule`]s alive.
    sessions: AtomicUsize,
    /// Another module was installed in its place: its freeing is logged.
    replaced: AtomicBool,
}

impl<H: SessionHost> Drop for Module<H> {
    fn drop(&mut self) {
        if self.replaced.load(Ordering::Relaxed) {
            crate::syslog!(
                Notice,
                "module {} freed: its last session has left",
                self.hash
            );
        }
    }
}

impl<H: SessionHost> Module<H> {
    /// The module file this module was last read from.
    pub fn stamp(&self) -> Option<FileStamp> {
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This module was (re)read from the file with this stamp.
    pub fn set_stamp(&self, stamp: Option<FileStamp>) {
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp;
    }

    /// The first 16 hex digits of the hash, for logs.
    pub fn short(&self) -> &str {
        &self.hash[..16.min(self.hash.len())]
    }

    /// Sessions, live and hibernated, on this module.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }
}

/// How many sessions a loaded module holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleUse {
    pub hash: String,
    pub current: bool,
    /// Live and hibernated sessions on it.
    pub sessions: usize,
    /// Of those, the ones a newer module refused to take.
    pub stayed: usize,
}

/// What hot swap has done in this process, for `imapd swap`'s report.
#[derive(Debug, Default)]
pub struct SwapCounters {
    /// Sessions moved to a newer module (live and hibernated).
    pub moved: AtomicU64,
    /// Sessions that stayed on an older module, with the latest reasons.
    pub refusals: Mutex<Vec<String>>,
}

/// The process-wide engine and the loaded guest modules.
pub struct GuestEngine<H: SessionHost> {
    engine: Engine,
    linker: Linker<Ctx<H>>,
    /// The module new sessions start on.
    current: RwLock<Arc<Module<H>>>,
    /// Modules pinned for one tenant (`imapd swap --domain`): once logged
    /// in, its sessions run there instead of on `current`.
    pins: RwLock<std::collections::HashMap<String, Arc<Module<H>>>>,
    /// Modules that were current before (freed when their last session
    /// ends).
    previous: Mutex<Vec<std::sync::Weak<Module<H>>>>,
    /// Bumped at each install; sessions watch it to move.
    generation: tokio::sync::watch::Sender<u64>,
    options: EngineOptions,
    pub counters: SwapCounters,
    /// Sessions that move to a new module while waiting for their client
    /// take turns: a swap's work (a restore per session) then leaves the
    /// other threads to the sessions that have a command to answer, and a
    /// hibernated session needs an instance only for a moment.
    move_slots: Arc<tokio::sync::Semaphore>,
    /// New and waking sessions take turns at a full pool: the first waits
    /// for a slot, the rest queue behind it, in order.
    admission: tokio::sync::Mutex<()>,
    /// Slots promised to sessions that passed admission and are being
    /// instantiated (not yet counted as live instances).
    admitted: AtomicU64,
    /// Rung by a new session waiting for a slot: one session in IDLE
    /// hibernates at once instead of at `idle_hibernate`.
    pressure: Arc<tokio::sync::Notify>,
    ticker_stop: Arc<AtomicBool>,
}

/// A slot promised by [`GuestEngine::admit`], until dropped.
struct Admitted<'a>(&'a AtomicU64);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Longest a new connection waits for a pool slot before it is told the
/// server is busy.
const ADMISSION_WAIT: Duration = Duration::from_secs(30);

impl<H: SessionHost> Drop for GuestEngine<H> {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Memory mappings a live session's instance takes in the pooling
/// allocator (wasmtime-notes.md: about 6, measured at 10,000 instances).
const MAPPINGS_PER_SESSION: u64 = 6;
/// Mappings left for the rest of the process: its code, thread stacks,
/// the allocator's large blocks.
const MAPPINGS_RESERVE: u64 = 8192;

/// `max_sessions`, lowered if need be so the pool's instances fit under
/// the kernel's `vm.max_map_count`: past it, mmap fails for the host's
/// own allocations too, and the whole process goes down rather than one
/// session. Lowering it is logged with the sysctl setting that avoids it.
pub fn within_map_limit(max_sessions: u32) -> u32 {
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let Some(limit) = limit else {
        return max_sessions;
    };
    let fit = limit.saturating_sub(MAPPINGS_RESERVE) / MAPPINGS_PER_SESSION;
    if u64::from(max_sessions) <= fit {
        return max_sessions;
    }
    let lowered = u32::try_from(fit).unwrap_or(u32::MAX).max(1);
    crate::syslog!(
        Warning,
        "max_sessions {max_sessions} lowered to {lowered}: vm.max_map_count is {limit}; \
         set it to at least {} (sysctl -w vm.max_map_count=...) for {max_sessions} sessions",
        u64::from(max_sessions) * MAPPINGS_PER_SESSION + MAPPINGS_RESERVE
    );
    lowered
}

fn engine_config(options: &EngineOptions) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // rustc's wasm code stays far below this; it bounds recursion in a
    // hostile guest without touching the host's own stack.
    config.max_wasm_stack(512 * 1024);
    config.async_stack_size(1024 * 1024);
    // For profiling guest code with perf(1): /tmp/perf-<pid>.map names
    // the compiled guest's functions.
    if std::env::var_os("IMAPD_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let n = options.max_sessions.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // Every live session holds one component instance, one fiber stack and
    // one linear memory; a wit-bindgen/wasip2 component has a handful of
    // core instances and tables (wasmtime-notes.md section 5).
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n)
        .max_memory_size(options.memory_limit)
        .max_core_instances_per_component(16)
        .max_memories_per_component(2)
        .max_tables_per_component(4)
        // A freed slot (a session ended or hibernated) keeps nothing
        // resident: its linear memory and its fiber stack go back to the
        // kernel. Otherwise every slot ever used would stay resident, and
        // hibernated sessions would cost as much as live ones.
        .linear_memory_keep_resident(0)
        .async_stack_keep_resident(0);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // Without zeroing, a freed fiber stack keeps every page it touched.
    config.async_stack_zeroing(true);
    config
}

/// How a session's move to the current module went.
#[derive(Debug)]
pub enum Moved {
    /// It runs on the current module now.
    Moved,
    /// The current module refused its snapshot; it stays on its module.
    Stayed(String),
    /// It was already on the current module.
    Already,
}

/// Why a restore did not happen: the guest refused the snapshot (the
/// module cannot read it), or the instance could not be had (pool full,
/// trap); the session's host services come back either way.
struct RestoreFailed<H> {
    host: H,
    refused: bool,
    error: anyhow::Error,
}

impl<H: SessionHost> GuestEngine<H> {
    /// Build the engine and load the guest from `options.source`: from the
    /// cache when a precompiled copy for this module and this engine
    /// exists, else by compiling it (and caching the result).
    pub fn new(options: EngineOptions) -> Result<Self> {
        let engine = Engine::new(&engine_config(&options))
            .map_err(|e| anyhow!("creating the wasm engine: {e:#}"))?;
        let mut linker: Linker<Ctx<H>> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("linking WASI: {e:#}"))?;
        Session::add_to_linker::<_, HasSelf<Ctx<H>>>(&mut linker, |c| c)
            .map_err(|e| anyhow!("linking the host interface: {e:#}"))?;
        let (wasm, stamp) = options.source.read()?;
        let module = load_module(&engine, &linker, &wasm, stamp, options.cache_dir.as_deref())?;

        // The epoch ticker is a plain thread: a spinning guest must never be
        // able to starve it (wasmtime-notes.md section 7).
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("epoch-ticker".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .context("starting the epoch ticker thread")?;
        }
        Ok(GuestEngine {
            engine,
            linker,
            current: RwLock::new(Arc::new(module)),
            pins: RwLock::new(Default::default()),
            previous: Mutex::new(Vec::new()),
            generation: tokio::sync::watch::Sender::new(0),
            options,
            counters: SwapCounters::default(),
            move_slots: Arc::new(tokio::sync::Semaphore::new(
                (std::thread::available_parallelism().map_or(2, |n| n.get()) / 2).max(1),
            )),
            admission: tokio::sync::Mutex::new(()),
            admitted: AtomicU64::new(0),
            pressure: Arc::new(tokio::sync::Notify::new()),
            ticker_stop,
        })
    }

    /// Load a module (compile or take it from the cache, link it, check it
    /// exports the engine) without making it current.
    pub fn load(&self, wasm: &[u8], stamp: Option<FileStamp>) -> Result<Arc<Module<H>>> {
        load_module(
            &self.engine,
            &self.linker,
            wasm,
            stamp,
            self.options.cache_dir.as_deref(),
        )
        .map(Arc::new)
    }

    /// A module this process still holds (current, or kept by sessions)
    /// with this hash: swapping back to it reuses it.
    pub fn loaded(&self, hash: &str) -> Option<Arc<Module<H>>> {
        let current = self.current();
        if current.hash == hash {
            return Some(current);
        }
        if let Some((_, m)) = self.pins().into_iter().find(|(_, m)| m.hash == hash) {
            return Some(m);
        }
        self.previous
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .find(|m| m.hash == hash)
    }

    /// The module new sessions start on.
    pub fn current(&self) -> Arc<Module<H>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The module the sessions of `tenant` run on: its pin, else the
    /// current one.
    pub fn current_for(&self, tenant: Option<&str>) -> Arc<Module<H>> {
        if let Some(t) = tenant
            && let Some(m) = self.pins.read().unwrap_or_else(|e| e.into_inner()).get(t)
        {
            return m.clone();
        }
        self.current()
    }

    /// Pin `tenant` to `module` (`None`: back to the current module); its
    /// sessions move at their next command boundary. The module it was
    /// pinned to before, if any.
    pub fn pin(&self, tenant: &str, module: Option<Arc<Module<H>>>) -> Option<Arc<Module<H>>> {
        let old = {
            let mut pins = self.pins.write().unwrap_or_else(|e| e.into_inner());
            match module {
                Some(m) => pins.insert(tenant.to_string(), m),
                None => pins.remove(tenant),
            }
        };
        if let Some(old) = &old {
            let mut p = self.previous.lock().unwrap_or_else(|e| e.into_inner());
            p.retain(|w| w.strong_count() > 0);
            p.push(Arc::downgrade(old));
        }
        metrics().module_installed();
        self.generation.send_modify(|g| *g += 1);
        old
    }

    /// The tenants pinned to a module of their own, and the modules.
    pub fn pins(&self) -> Vec<(String, Arc<Module<H>>)> {
        let pins = self.pins.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = pins.iter().map(|(t, m)| (t.clone(), m.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Make `module` current: new sessions start on it, and every session
    /// on another module moves at its next command boundary.
    pub fn install(&self, module: Arc<Module<H>>) {
        module.replaced.store(false, Ordering::Relaxed);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            module,
        );
        {
            let mut p = self.previous.lock().unwrap_or_else(|e| e.into_inner());
            p.retain(|w| w.strong_count() > 0);
            p.push(Arc::downgrade(&old));
        }
        if !Arc::ptr_eq(&old, &self.current()) {
            old.replaced.store(true, Ordering::Relaxed);
        }
        drop(old);
        metrics().module_installed();
        self.generation.send_modify(|g| *g += 1);
    }

    /// A turn to move a waiting session (see `move_slots`).
    pub fn move_slots(&self) -> Arc<tokio::sync::Semaphore> {
        self.move_slots.clone()
    }

    /// Watch for installs (the value is the generation).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Sessions (live and hibernated) on each module this process holds,
    /// the current one first.
    pub fn modules_in_use(&self) -> Vec<ModuleUse> {
        let current = self.current();
        let mut out = vec![ModuleUse {
            hash: current.hash.clone(),
            current: true,
            sessions: current.sessions(),
            stayed: 0,
        }];
        // A tenant's pinned module is current for that tenant.
        let pinned: Vec<_> = self.pins().into_iter().map(|(_, m)| m).collect();
        for (i, m) in pinned.iter().enumerate() {
            if !Arc::ptr_eq(m, &current) && !pinned[..i].iter().any(|p| Arc::ptr_eq(p, m)) {
                out.push(ModuleUse {
                    hash: m.hash.clone(),
                    current: true,
                    sessions: m.sessions(),
                    stayed: 0,
                });
            }
        }
        let previous: Vec<_> = self
            .previous
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        for (i, m) in previous.iter().enumerate() {
            let seen = previous[..i].iter().any(|p| Arc::ptr_eq(p, m))
                || pinned.iter().any(|p| Arc::ptr_eq(p, m));
            if !Arc::ptr_eq(m, &current) && !seen {
                out.push(ModuleUse {
                    hash: m.hash.clone(),
                    current: false,
                    sessions: m.sessions(),
                    stayed: m.stayed.load(Ordering::Relaxed),
                });
            }
        }
        out
    }

    /// A new store with no filesystem (pre-auth), or with `mail_dir` at
    /// `/mail` and the host's share and partition preopens (post-auth).
    fn new_store(
        &self,
        mut host: H,
        mail_dir: Option<&cap_std::fs::Dir>,
    ) -> Result<Store<Ctx<H>>, H> {
        let mut wasi = WasiCtxBuilder::new();
        // The guest's file operations are small and local; running them on
        // the session's own thread avoids a thread hop per call.
        wasi.allow_blocking_current_thread(true);
        if let Some(dir) = mail_dir {
            // Open the preopen through the capability we already hold
            // rather than by a path that could be swapped underneath us.
            let fd_path = format!("/proc/self/fd/{}", dir.as_raw_fd());
            if let Err(e) = wasi.preopened_dir(&fd_path, "/mail", FsPerms::ReadWrite) {
                crate::syslog!(Err, "preopening the mail tree: {e:#}");
                return Err(host);
            }
            // rfc4314 sharing (shares.rs): each mailbox other users share
            // with this one, read-only unless the user may write in it.
            for (path, fd, writable) in host.share_preopens() {
                let fd_path = format!("/proc/self/fd/{fd}");
                let perms = if writable {
                    FsPerms::ReadWrite
                } else {
                    FsPerms::ReadOnly
                };
                if let Err(e) = wasi.preopened_dir(&fd_path, &path, perms) {
                    crate::syslog!(Err, "preopening a shared mailbox {path}: {e:#}");
                    return Err(host);
                }
            }
            if let Some(fd) = host.admin_partition() {
                let fd_path = format!("/proc/self/fd/{fd}");
                if let Err(e) = wasi.preopened_dir(&fd_path, "/users", FsPerms::ReadWrite) {
                    crate::syslog!(Err, "preopening the partition for an admin: {e:#}");
                    return Err(host);
                }
            }
        }
        let max_ticks = (self.options.cpu_limit.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        let budget = host.budget();
        let ctx = Ctx {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: GuestLimits {
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.options.memory_limit)
                    .instances(32)
                    .tables(16)
                    .memories(4)
                    .build(),
                granted: 0,
                refused: Arc::new(AtomicBool::new(false)),
                budget,
            },
            ticks: 0,
            max_ticks,
            run: Arc::new(Mutex::new(None)),
            host,
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|c| &mut c.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let c = cx.data_mut();
            c.ticks += 1;
            if c.ticks > c.max_ticks {
                return Err(wasmtime::Error::new(CpuLimit {
                    millis: c.ticks * EPOCH_TICK.as_millis() as u64,
                }));
            }
            // Let other sessions on this thread run, then continue. A
            // tenant with a CPU share is charged what this run used, and
            // the session goes on once the tenant is within its share.
            if let Some(b) = c.limits.budget.clone().filter(|b| b.meters_cpu()) {
                c.end_run();
                let run = c.run.clone();
                return Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(async move {
                        tokio::task::yield_now().await;
                        let reserved = admitted(&b).await;
                        *run.lock().unwrap_or_else(|e| e.into_inner()) = Some(Run::begin(reserved));
                    }),
                ));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }

    /// Start a pre-auth session on the current module: instantiate,
    /// construct, and return it together with its greeting. At a full
    /// pool the connection queues (up to [`ADMISSION_WAIT`]) while
    /// sessions in IDLE are asked to hibernate and give their slots back.
    pub async fn start(&self, host: H, settings: &Settings) -> Result<(GuestSession<H>, Step)> {
        self.start_with(self.current(), host, settings, true).await
    }

    /// Start a pre-auth session on `module` (a trial of a new module: it
    /// does not queue).
    pub async fn start_on(
        &self,
        module: Arc<Module<H>>,
        host: H,
        settings: &Settings,
    ) -> Result<(GuestSession<H>, Step)> {
        self.start_with(module, host, settings, false).await
    }

    /// Sessions in IDLE listen here for a new session waiting for a slot.
    pub fn pressure(&self) -> Arc<tokio::sync::Notify> {
        self.pressure.clone()
    }

    /// Promise the slot an instance about to be replaced frees to its
    /// replacement, without waiting.
    fn keep_slot(&self) -> Admitted<'_> {
        self.admitted.fetch_add(1, Ordering::AcqRel);
        Admitted(&self.admitted)
    }

    /// Wait, in turn, until the pool has a slot that no one else was
    /// promised, or [`ADMISSION_WAIT`] has passed (the instantiation that
    /// follows then fails as it would have); each second of waiting asks
    /// one more session in IDLE to hibernate. The slot stays promised
    /// until the returned guard is dropped, after instantiating.
    async fn admit(&self) -> Admitted<'_> {
        let max = u64::from(self.options.max_sessions.max(1));
        let taken = || self.live_instances() + self.admitted.load(Ordering::Acquire);
        let turn = self.admission.lock().await;
        if taken() >= max {
            metrics().admission_waited();
            let deadline = tokio::time::Instant::now() + ADMISSION_WAIT;
            let mut ask = tokio::time::Instant::now();
            while taken() >= max {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    break;
                }
                if now >= ask {
                    self.pressure.notify_one();
                    ask = now + Duration::from_secs(1);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let admitted = self.keep_slot();
        drop(turn);
        admitted
    }

    async fn start_with(
        &self,
        module: Arc<Module<H>>,
        host: H,
        settings: &Settings,
        queue: bool,
    ) -> Result<(GuestSession<H>, Step)> {
        // Queued before its store is made: a connection waiting for a
        // slot holds nothing but its socket.
        let admitted = if queue {
            Some(self.admit().await)
        } else {
            None
        };
        let mut store = self
            .new_store(host, None)
            .map_err(|_| anyhow!("creating the session's store"))?;
        let instance = module
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("instantiating the guest: {e:#}"))?;
        drop(admitted);
        metrics().instantiated();
        store.data_mut().host.on_module(module.short());
        let mut s = GuestSession {
            cpu: Default::default(),
            store,
            instance,
            handle: None,
            module: OnModule::new(module),
            stayed: None,
        };
        let handle = s
            .call(|inst, store| async move {
                inst.imapd_session_engine()
                    .session()
                    .call_constructor(store, settings)
                    .await
            })
            .await?;
        s.handle = Some(handle);
        let greeting = s.greet().await?;
        Ok((s, greeting))
    }

    /// Move a session into a new instance: take its snapshot, drop the old
    /// instance, instantiate anew (with `mail_dir` and the host's other
    /// preopens when given), restore. Promotion after login, demotion (UNAUTHENTICATE,
    /// no `mail_dir`) and settings changes (STARTTLS) all come through here.
    /// The new instance is of the current module when it takes the
    /// snapshot, else of the session's own.
    pub async fn reinstantiate(
        &self,
        mut old: GuestSession<H>,
        host: Option<H>,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<GuestSession<H>> {
        let snapshot = old.snapshot().await?;
        let module = old.module.arc();
        let stayed = old.stayed.take();
        // The slot the old instance frees is this session's: a queued
        // connection must not take it before the new instance does.
        let kept = self.keep_slot();
        let host = match host {
            Some(h) => h,
            None => old.into_host().await,
        };
        let (s, _) = self
            .restore_preferring_current(module, stayed, host, &snapshot, mail_dir, settings)
            .await?;
        drop(kept);
        Ok(s)
    }

    /// Move a live session to the current module, if it is not on it and
    /// has not already been refused by it. Only between commands: never
    /// while the guest has output pending.
    pub async fn move_session(
        &self,
        session: GuestSession<H>,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<(GuestSession<H>, Moved)> {
        let tenant = session.store.data().host.tenant_key();
        if !self.should_move(&session.module, session.stayed.as_ref(), tenant.as_deref()) {
            return Ok((session, Moved::Already));
        }
        let mut old = session;
        let snapshot = old.snapshot().await?;
        let module = old.module.arc();
        let stayed = old.stayed.take();
        let _kept = self.keep_slot();
        let host = old.into_host().await;
        self.restore_preferring_current(module, stayed, host, &snapshot, mail_dir, settings)
            .await
    }

    /// Move a hibernated session to the current module: restore it there
    /// and take its snapshot again, so the old module is no longer needed.
    /// When no instance can be had just now (pool full), it is left as it
    /// is (and moves when it wakes).
    pub async fn rehome(
        &self,
        hibernated: Hibernated<H>,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> (Hibernated<H>, Moved) {
        let tenant = hibernated.host.tenant_key();
        if !self.should_move(
            &hibernated.module,
            hibernated.stayed.as_ref(),
            tenant.as_deref(),
        ) {
            return (hibernated, Moved::Already);
        }
        let Hibernated {
            snapshot,
            host,
            module,
            stayed,
        } = hibernated;
        let current = self.current_for(tenant.as_deref());
        let (host, why) = match self
            .restore_on(current.clone(), host, &snapshot, mail_dir, settings)
            .await
        {
            Ok(mut s) => match s.snapshot().await {
                Ok(mut snap) => {
                    snap.shrink_to_fit();
                    let host = s.into_host().await;
                    self.counters.moved.fetch_add(1, Ordering::Relaxed);
                    metrics().session_moved();
                    drop(stayed);
                    let h = Hibernated {
                        snapshot: snap,
                        host,
                        module: OnModule::new(current),
                        stayed: None,
                    };
                    return (h, Moved::Moved);
                }
                // The new module took the snapshot but cannot give it
                // back: keep the old one.
                Err(e) => (s.into_host().await, format!("{e:#}")),
            },
            Err(f) if f.refused => (f.host, format!("{:#}", f.error)),
            Err(f) => {
                // Not the snapshot's fault (pool full): it moves at its wake.
                let h = Hibernated {
                    snapshot,
                    host: f.host,
                    module,
                    stayed,
                };
                return (h, Moved::Already);
            }
        };
        drop(stayed);
        let mark = self.stay(&module, &current, why.clone());
        let h = Hibernated {
            snapshot,
            host,
            module,
            stayed: Some(mark),
        };
        (h, Moved::Stayed(why))
    }

    /// A session stays on `own` because `current` refused its snapshot:
    /// log it, count it, and mark the session so it does not try again
    /// until the next install.
    fn stay(&self, own: &Arc<Module<H>>, current: &Module<H>, why: String) -> StayMark<H> {
        crate::syslog!(
            Warning,
            "module {} refused a session snapshot (it stays on {}): {why}",
            current.short(),
            own.short()
        );
        let mut r = self
            .counters
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if r.len() >= 16 {
            r.remove(0);
        }
        r.push(why);
        metrics().session_stayed();
        own.stayed.fetch_add(1, Ordering::Relaxed);
        StayMark {
            module: own.clone(),
            generation: *self.generation.borrow(),
        }
    }

    /// Whether a session on `module` (marked if it stayed) should try to
    /// move now.
    fn should_move(
        &self,
        module: &Arc<Module<H>>,
        stayed: Option<&StayMark<H>>,
        tenant: Option<&str>,
    ) -> bool {
        if Arc::ptr_eq(module, &self.current_for(tenant)) {
            return false;
        }
        stayed.is_none_or(|m| m.generation != *self.generation.borrow())
    }

    /// Restore `snapshot` into the current module; if that module refuses
    /// it, back into `own` (the module that wrote it), where the session
    /// stays (logged and counted).
    async fn restore_preferring_current(
        &self,
        own: Arc<Module<H>>,
        stayed: Option<StayMark<H>>,
        host: H,
        snapshot: &str,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<(GuestSession<H>, Moved)> {
        let tenant = host.tenant_key();
        let current = self.current_for(tenant.as_deref());
        if !self.should_move(&own, stayed.as_ref(), tenant.as_deref()) {
            let mut s = self
                .restore_on(own, host, snapshot, mail_dir, settings)
                .await
                .map_err(|f| f.error)?;
            s.stayed = stayed;
            return Ok((s, Moved::Already));
        }
        match self
            .restore_on(current.clone(), host, snapshot, mail_dir, settings)
            .await
        {
            Ok(s) => {
                self.counters.moved.fetch_add(1, Ordering::Relaxed);
                metrics().session_moved();
                drop(stayed);
                Ok((s, Moved::Moved))
            }
            Err(f) if f.refused => {
                let why = format!("{:#}", f.error);
                drop(stayed);
                let mark = self.stay(&own, &current, why.clone());
                let mut s = self
                    .restore_on(own, f.host, snapshot, mail_dir, settings)
                    .await
                    .map_err(|f| f.error)?;
                s.stayed = Some(mark);
                Ok((s, Moved::Stayed(why)))
            }
            Err(f) => Err(f.error),
        }
    }

    /// Bring a hibernated session back: a fresh instance (with `mail_dir`
    /// and the host's other preopens, as at promotion) restored from the snapshot,
    /// on the current module if it takes the snapshot.
    pub async fn wake(
        &self,
        hibernated: Hibernated<H>,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<GuestSession<H>> {
        let Hibernated {
            snapshot,
            host,
            module,
            stayed,
        } = hibernated;
        // A full pool: wait in turn (another session in IDLE hibernates)
        // rather than end this one.
        let admitted = self.admit().await;
        let (s, _) = self
            .restore_preferring_current(module.arc(), stayed, host, &snapshot, mail_dir, settings)
            .await?;
        drop(admitted);
        Ok(s)
    }

    /// Guest instances alive in this process (pool slots in use).
    /// `max_sessions`: the pool's slots.
    pub fn max_sessions(&self) -> u32 {
        self.options.max_sessions
    }

    pub fn live_instances(&self) -> u64 {
        self.engine
            .pooling_allocator_metrics()
            .map_or(0, |m| m.component_instances())
    }

    /// A new instance of `module` for `host`, restored from `snapshot`.
    pub async fn restore_session(
        &self,
        module: Arc<Module<H>>,
        host: H,
        snapshot: &str,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<GuestSession<H>> {
        self.restore_on(module, host, snapshot, mail_dir, settings)
            .await
            .map_err(|f| f.error)
    }

    async fn restore_on(
        &self,
        module: Arc<Module<H>>,
        host: H,
        snapshot: &str,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<GuestSession<H>, RestoreFailed<H>> {
        let mut store = match self.new_store(host, mail_dir) {
            Ok(s) => s,
            Err(host) => {
                return Err(RestoreFailed {
                    host,
                    refused: false,
                    error: anyhow!("creating the session's store"),
                });
            }
        };
        let instance = match module.pre.instantiate_async(&mut store).await {
            Ok(i) => {
                metrics().instantiated();
                store.data_mut().host.on_module(module.short());
                i
            }
            Err(e) => {
                return Err(RestoreFailed {
                    host: store.into_data().host,
                    refused: false,
                    error: anyhow!("instantiating the guest: {e:#}"),
                });
            }
        };
        let mut s = GuestSession {
            cpu: Default::default(),
            store,
            instance,
            handle: None,
            module: OnModule::new(module),
            stayed: None,
        };
        let extra = s.store.data().host.session_options();
        let with_extra;
        let settings = if extra.is_empty() {
            settings
        } else {
            let mut options = settings.options.clone();
            options.extend(extra);
            with_extra = Settings {
                options,
                ..settings.clone()
            };
            &with_extra
        };
        let snap = snapshot;
        let restored = s
            .call(|inst, store| async move {
                inst.imapd_session_engine()
                    .call_restore(store, snap, settings)
                    .await
            })
            .await;
        match restored {
            Ok(Ok(handle)) => {
                s.handle = Some(handle);
                Ok(s)
            }
            Ok(Err(e)) => Err(RestoreFailed {
                host: s.store.into_data().host,
                refused: true,
                error: anyhow!("guest refused the session snapshot: {e}"),
            }),
            // A trap in restore: this module cannot take the snapshot.
            Err(e) => Err(RestoreFailed {
                host: s.store.into_data().host,
                refused: true,
                error: e,
            }),
        }
    }
}

/// A session's mark of having stayed on its module because a newer one
/// refused its snapshot; counted in that module while the mark lives.
pub struct StayMark<H: SessionHost> {
    module: Arc<Module<H>>,
    /// The install whose module refused it: it tries again at the next.
    generation: u64,
}

impl<H: SessionHost> Drop for StayMark<H> {
    fn drop(&mut self) {
        self.module.stayed.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A session's hold on the module it runs on (or whose snapshot it
/// keeps); counted in that module's `sessions` while it lives. Counting
/// these, not the module's `Arc`s, keeps `imapd status` exact: anything
/// may hold an `Arc` for a moment (a comparison with the current module).
pub struct OnModule<H: SessionHost>(Arc<Module<H>>, bool);

impl<H: SessionHost> OnModule<H> {
    fn new(module: Arc<Module<H>>) -> Self {
        module.sessions.fetch_add(1, Ordering::Relaxed);
        OnModule(module, true)
    }

    /// Count it among the module's sessions, or not (a spare session).
    fn set_counted(&mut self, counted: bool) {
        if counted != self.1 {
            self.1 = counted;
            match counted {
                true => self.0.sessions.fetch_add(1, Ordering::Relaxed),
                false => self.0.sessions.fetch_sub(1, Ordering::Relaxed),
            };
        }
    }

    fn arc(&self) -> Arc<Module<H>> {
        self.0.clone()
    }
}

impl<H: SessionHost> std::ops::Deref for OnModule<H> {
    type Target = Arc<Module<H>>;
    fn deref(&self) -> &Arc<Module<H>> {
        &self.0
    }
}

impl<H: SessionHost> Drop for OnModule<H> {
    fn drop(&mut self) {
        self.set_counted(false);
    }
}

/// A session reduced to its snapshot (hibernation): no store, no instance,
/// no pool slot; only the guest's state as text and the host services.
pub struct Hibernated<H: SessionHost> {
    snapshot: String,
    pub host: H,
    /// The module that wrote the snapshot (the fallback if the current
    /// one cannot read it).
    module: OnModule<H>,
    stayed: Option<StayMark<H>>,
}

impl<H: SessionHost> Hibernated<H> {
    /// Bytes of guest state kept while hibernated.
    pub fn snapshot_len(&self) -> usize {
        self.snapshot.len()
    }

    /// Whether it should move to the engine's current module.
    pub fn on_old_module(&self, engine: &GuestEngine<H>) -> bool {
        let tenant = self.host.tenant_key();
        engine.should_move(&self.module, self.stayed.as_ref(), tenant.as_deref())
    }
}

/// One live session: its store, instance and the guest's session resource.
pub struct GuestSession<H: SessionHost> {
    store: Store<Ctx<H>>,
    instance: Session,
    handle: Option<ResourceAny>,
    /// The module this instance runs.
    module: OnModule<H>,
    stayed: Option<StayMark<H>>,
    /// CPU time of the latest guest call, not yet told to the host (the
    /// store is still borrowed when the call ends).
    cpu: (Duration, Duration),
}

impl<H: SessionHost> GuestSession<H> {
    async fn call<'a, R, F, Fut>(&'a mut self, f: F) -> Result<R>
    where
        F: FnOnce(&'a Session, &'a mut Store<Ctx<H>>) -> Fut,
        Fut: std::future::Future<Output = wasmtime::Result<R>> + 'a,
    {
        self.charge_cpu();
        self.store.data_mut().ticks = 0;
        // A tenant past its CPU share waits before its next call runs.
        let budget = self.store.data().limits.budget.clone();
        if let Some(b) = budget.as_ref().filter(|b| b.meters_cpu()) {
            let reserved = admitted(b).await;
            self.store.data_mut().begin_run(reserved);
        }
        let run = self.store.data().run.clone();
        // The call's CPU time, when it ran on one thread from start to end
        // (one that waited for a password check on the blocking pool may
        // have moved, and is not counted).
        let thread = std::thread::current().id();
        let (user, system) = crate::net::thread_cpu();
        let refused = self.store.data().limits.refused.clone();
        refused.store(false, Ordering::Relaxed);
        // Any error (trap, CPU limit, memory cap) poisons the instance; the
        // caller ends the session.
        let r = match f(&self.instance, &mut self.store).await {
            Ok(r) => Ok(r),
            Err(e) => {
                let kind = if e.downcast_ref::<CpuLimit>().is_some() {
                    TrapKind::Cpu
                } else if refused.load(Ordering::Relaxed) {
                    TrapKind::Memory
                } else {
                    TrapKind::Other
                };
                metrics().trap(kind);
                Err(anyhow!("{}", describe_trap(&e)))
            }
        };
        if std::thread::current().id() == thread {
            let (u, s) = crate::net::thread_cpu();
            self.cpu = (u.saturating_sub(user), s.saturating_sub(system));
        }
        // (The store stays borrowed by the call: its run ends here.)
        end_run(&run, budget.as_deref());
        r
    }

    fn charge_cpu(&mut self) {
        let (user, system) = std::mem::take(&mut self.cpu);
        if !user.is_zero() || !system.is_zero() {
            self.store.data_mut().host.charge_cpu(user, system);
        }
    }

    fn handle(&self) -> Result<ResourceAny> {
        self.handle
            .ok_or_else(|| anyhow!("session resource missing"))
    }

    pub async fn greet(&mut self) -> Result<Step> {
        let h = self.handle()?;
        self.call(|inst, store| async move {
            inst.imapd_session_engine()
                .session()
                .call_greet(store, h)
                .await
        })
        .await
    }

    pub async fn feed(&mut self, data: &[u8]) -> Result<Step> {
        let h = self.handle()?;
        self.call(|inst, store| async move {
            inst.imapd_session_engine()
                .session()
                .call_feed(store, h, data)
                .await
        })
        .await
    }

    pub async fn pull(&mut self, max: u32) -> Result<Step> {
        let h = self.handle()?;
        self.call(|inst, store| async move {
            inst.imapd_session_engine()
                .session()
                .call_pull(store, h, max)
                .await
        })
        .await
    }

    /// Something changed in the mail tree: let the guest report it.
    pub async fn poll(&mut self) -> Result<Step> {
        let h = self.handle()?;
        self.call(|inst, store| async move {
            inst.imapd_session_engine()
                .session()
                .call_poll(store, h)
                .await
        })
        .await
    }

    pub async fn snapshot(&mut self) -> Result<String> {
        let h = self.handle()?;
        self.call(|inst, store| async move {
            inst.imapd_session_engine()
                .session()
                .call_snapshot(store, h)
                .await
        })
        .await
    }

    pub fn host(&mut self) -> &mut H {
        self.charge_cpu();
        &mut self.store.data_mut().host
    }

    /// A spare session, made ahead of its connection: not one of its
    /// module's sessions (a swap does not wait for it) until it is adopted.
    pub fn set_spare(&mut self) {
        self.module.set_counted(false);
    }

    /// Give the session another host (a spare session made ahead of its
    /// connection gets the connection's); returns the one it had.
    pub fn adopt(&mut self, host: H) -> H {
        self.module.set_counted(true);
        let old = std::mem::replace(self.host(), host);
        let module = self.module.arc();
        self.store.data_mut().host.on_module(module.short());
        old
    }

    /// Reduce the session to its snapshot: take it, then drop the store,
    /// which frees the instance and its pool slot (memory, stack, tables).
    pub async fn hibernate(mut self) -> Result<Hibernated<H>> {
        let mut snapshot = self.snapshot().await?;
        snapshot.shrink_to_fit();
        let module = OnModule::new(self.module.arc());
        let stayed = self.stayed.take();
        let host = self.into_host().await;
        Ok(Hibernated {
            snapshot,
            host,
            module,
            stayed,
        })
    }

    /// The module this session runs on.
    pub fn module(&self) -> &Arc<Module<H>> {
        &self.module
    }

    /// Whether it should move to the engine's current module.
    pub fn on_old_module(&self, engine: &GuestEngine<H>) -> bool {
        let tenant = self.store.data().host.tenant_key();
        engine.should_move(&self.module, self.stayed.as_ref(), tenant.as_deref())
    }

    /// Tear the instance down and hand back the session's host services.
    pub async fn into_host(mut self) -> H {
        self.charge_cpu();
        if let Some(h) = self.handle.take() {
            let _ = h.resource_drop_async(&mut self.store).await;
        }
        let ctx = self.store.into_data();
        ctx.host
    }
}

/// A one-line description of why a guest call failed.
pub fn describe_trap(e: &wasmtime::Error) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        format!("guest trapped: {trap}")
    } else {
        format!("{e:#}")
            .lines()
            .last()
            .unwrap_or("guest failed")
            .to_string()
    }
}

/// Load a guest module: compile it (or take it from the cache), link it
/// against the host's imports and check it exports the engine interface
/// of this host's contract (`imapd:session`, see wit/).
fn load_module<H: SessionHost>(
    engine: &Engine,
    linker: &Linker<Ctx<H>>,
    wasm: &[u8],
    stamp: Option<FileStamp>,
    cache_dir: Option<&Path>,
) -> Result<Module<H>> {
    let hash = hex::encode(sha2::Sha256::digest(wasm));
    let component = load_component(engine, wasm, &hash, cache_dir)?;
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| anyhow!("guest module does not fit the host's WIT contract: {e:#}"))?;
    let pre = SessionPre::new(instance_pre)
        .map_err(|e| anyhow!("guest module does not export the engine interface: {e:#}"))?;
    Ok(Module {
        hash,
        pre,
        stamp: Mutex::new(stamp),
        stayed: AtomicUsize::new(0),
        sessions: AtomicUsize::new(0),
        replaced: AtomicBool::new(false),
    })
}

/// Load the guest, preferring a cached precompiled copy. The cache key
/// covers the module bytes and everything the engine's compatibility
/// depends on (wasmtime version, target, tunables), so a stale file is
/// never even tried.
fn load_component(
    engine: &Engine,
    wasm: &[u8],
    module_hash: &str,
    cache_dir: Option<&Path>,
) -> Result<Component> {
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let key = format!("{}-{:016x}.cwasm", &module_hash[..32], h.finish());
    if let Some(dir) = cache_dir {
        let path = dir.join(&key);
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an
            // engine with the same compatibility hash (it is in the name),
            // into a directory only this server writes.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => return Ok(c),
                Err(e) => crate::syslog!(
                    Err,
                    "ignoring unusable precompiled guest {}: {e:#}",
                    path.display()
                ),
            }
        }
    }
    let bytes = engine
        .precompile_component(wasm)
        .map_err(|e| anyhow!("compiling the guest module: {e:#}"))?;
    if let Some(dir) = cache_dir
        && let Err(e) = write_cache(dir, &key, &bytes)
    {
        crate::syslog!(
            Err,
            "cannot cache the precompiled guest in {}: {e:#}",
            dir.display()
        );
    }
    // SAFETY: `bytes` was produced just now by this very engine.
    unsafe { Component::deserialize(engine, &bytes) }
        .map_err(|e| anyhow!("loading the compiled guest: {e:#}"))
}

fn write_cache(dir: &Path, key: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(key))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::swap::TrialHost as NoHost;

    fn settings() -> Settings {
        Settings {
            servername: "bench".into(),
            server_info: ServerInfo::On,
            product: "imapd".into(),
            version: "0".into(),
            session_id: "x".into(),
            allow_plaintext: true,
            tls_required: false,
            starttls_available: false,
            tls_active: false,
            external_ssf: 0,
            mechanisms: vec!["PLAIN".into()],
            max_word: 131072,
            max_quoted: 131072,
            max_literal: 131072,
            max_message_size: 0,
            suppress_capabilities: vec![],
            motd: None,
            autocreate_folders: vec![],
            idle_enabled: false,
            options: vec![],
        }
    }

    /// The cost of a new session (pooled instance + constructor + greeting)
    /// and of one command round trip, with the built-in guest. A
    /// measurement, not an assertion:
    /// `cargo test -p imapd --release session_cost -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn session_cost() {
        if BUILT_IN_GUEST.is_empty() {
            eprintln!("no built-in guest; run `make` first");
            return;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = std::env::temp_dir().join(format!("imapd-cost-{}", std::process::id()));
            let engine = GuestEngine::<NoHost>::new(EngineOptions {
                source: ModuleSource::default(),
                cache_dir: Some(dir.clone()),
                memory_limit: 64 << 20,
                cpu_limit: Duration::from_secs(30),
                max_sessions: 1000,
            })
            .unwrap();
            let s = settings();
            let n = 2000;
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t = std::time::Instant::now();
                let (sess, _) = engine.start(NoHost, &s).await.unwrap();
                times.push(t.elapsed());
                drop(sess);
            }
            times.sort();
            let (mut sess, _) = engine.start(NoHost, &s).await.unwrap();
            let mut feeds = Vec::with_capacity(n);
            for _ in 0..n {
                let t = std::time::Instant::now();
                sess.feed(b"a NOOP\r\n").await.unwrap();
                feeds.push(t.elapsed());
            }
            feeds.sort();
            println!(
                "new session (instance + constructor + greeting): median {:.1} us, p90 {:.1} us",
                times[n / 2].as_secs_f64() * 1e6,
                times[n * 9 / 10].as_secs_f64() * 1e6
            );
            println!(
                "NOOP round trip: median {:.1} us, p90 {:.1} us",
                feeds[n / 2].as_secs_f64() * 1e6,
                feeds[n * 9 / 10].as_secs_f64() * 1e6
            );
            let _ = std::fs::remove_dir_all(dir);
        });
    }
}
