//! The WebAssembly side of the host: one wasmtime [`Engine`] per process,
//! the guest component (precompiled and cached on disk), and one [`Store`]
//! per session with its memory cap, CPU deadline and capabilities.
//!
//! A pre-auth guest gets no filesystem at all; a post-auth guest gets
//! exactly one preopened directory, its user's mail tree, as `/mail`.

use std::hash::{Hash, Hasher};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use sha2::Digest;
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

pub use self::imapd::session::host::{AuthError, Level, SaslReply};
pub use exports::imapd::session::engine::{Action, ServerInfo, Settings, Step};

/// The guest this binary was built with (see build.rs); empty when the
/// build had none, in which case `guest_module` must name one.
const BUILT_IN_GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));

/// One epoch tick. Deadlines are counted in ticks; 10 ms keeps the ticker
/// thread's cost negligible while a runaway guest is stopped promptly.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What the engine needs from imapd.conf.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `guest_module`: a guest component to run instead of the built-in one.
    pub guest_module: Option<PathBuf>,
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
}

/// The per-store state: WASI context, limits, deadline accounting and the
/// session's host services.
pub struct Ctx<H: SessionHost> {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    ticks: u64,
    max_ticks: u64,
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

impl<H: SessionHost> self::imapd::session::host::Host for Ctx<H> {
    async fn log(&mut self, level: Level, message: String) {
        self.host.log(level, &message);
    }

    async fn lock_mailbox(&mut self, dir: String) -> Result<(), String> {
        // Waiting for another session's lock is not guest CPU time.
        let r = self.host.lock_mailbox(dir).await;
        self.ticks = 0;
        r
    }

    async fn unlock_mailbox(&mut self, dir: String) {
        self.host.unlock_mailbox(dir);
    }

    async fn is_admin(&mut self) -> bool {
        self.host.is_admin()
    }

    async fn authenticate(
        &mut self,
        mech: String,
        authzid: String,
        user: String,
        password: String,
    ) -> Result<String, AuthError> {
        // Time spent waiting for the password check is not guest CPU time.
        let r = self.host.authenticate(mech, authzid, user, password).await;
        self.ticks = 0;
        r
    }

    async fn sasl_start(&mut self, mech: String, initial: Option<Vec<u8>>) -> SaslReply {
        let r = self.host.sasl_start(mech, initial).await;
        self.ticks = 0;
        r
    }

    async fn sasl_continue(&mut self, response: Vec<u8>) -> SaslReply {
        let r = self.host.sasl_continue(response).await;
        self.ticks = 0;
        r
    }

    async fn sasl_abort(&mut self) {
        self.host.sasl_abort();
    }
}

/// The process-wide engine and the loaded guest.
pub struct GuestEngine<H: SessionHost> {
    engine: Engine,
    pre: SessionPre<Ctx<H>>,
    options: EngineOptions,
    /// Hex SHA-256 of the guest module, for logs.
    pub module_hash: String,
    ticker_stop: Arc<AtomicBool>,
}

impl<H: SessionHost> Drop for GuestEngine<H> {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn engine_config(options: &EngineOptions) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // rustc's wasm code stays far below this; it bounds recursion in a
    // hostile guest without touching the host's own stack.
    config.max_wasm_stack(512 * 1024);
    config.async_stack_size(1024 * 1024);
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
    // For profiling guest code with `perf record`: wasmtime writes
    // /tmp/perf-<pid>.map naming the compiled guest functions.
    if std::env::var_os("IMAPD_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

impl<H: SessionHost> GuestEngine<H> {
    /// Build the engine and load the guest: from the cache when a
    /// precompiled copy for this module and this engine exists, else by
    /// compiling it (and caching the result).
    pub fn new(options: EngineOptions) -> Result<Self> {
        let engine = Engine::new(&engine_config(&options))
            .map_err(|e| anyhow!("creating the wasm engine: {e:#}"))?;
        let wasm: std::borrow::Cow<[u8]> = match &options.guest_module {
            Some(p) => std::fs::read(p)
                .with_context(|| format!("reading guest_module {}", p.display()))?
                .into(),
            None if BUILT_IN_GUEST.is_empty() => {
                return Err(anyhow!(
                    "this imapd was built without a guest module; build it with `make` \
                     or set guest_module in imapd.conf"
                ));
            }
            None => BUILT_IN_GUEST.into(),
        };
        let module_hash = hex::encode(sha2::Sha256::digest(&wasm));
        let component = load_component(&engine, &wasm, &module_hash, options.cache_dir.as_deref())?;
        let mut linker: Linker<Ctx<H>> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow!("linking WASI: {e:#}"))?;
        Session::add_to_linker::<_, HasSelf<Ctx<H>>>(&mut linker, |c| c)
            .map_err(|e| anyhow!("linking the host interface: {e:#}"))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!("guest module does not fit the host's WIT contract: {e:#}"))?;
        let pre = SessionPre::new(instance_pre)
            .map_err(|e| anyhow!("guest module does not export the engine interface: {e:#}"))?;

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
            pre,
            options,
            module_hash,
            ticker_stop,
        })
    }

    /// A new store with no filesystem (pre-auth), or with `mail_dir` as its
    /// only preopen at `/mail` (post-auth).
    fn new_store(&self, host: H, mail_dir: Option<&cap_std::fs::Dir>) -> Result<Store<Ctx<H>>> {
        let mut wasi = WasiCtxBuilder::new();
        // The guest's file operations are small and local; running them on
        // the session's own thread avoids a thread hop per call.
        wasi.allow_blocking_current_thread(true);
        if let Some(dir) = mail_dir {
            // Open the preopen through the capability we already hold
            // rather than by a path that could be swapped underneath us.
            let fd_path = format!("/proc/self/fd/{}", dir.as_raw_fd());
            wasi.preopened_dir(&fd_path, "/mail", FsPerms::ReadWrite)
                .map_err(|e| anyhow!("preopening the mail tree: {e:#}"))?;
        }
        let max_ticks = (self.options.cpu_limit.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        let ctx = Ctx {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.options.memory_limit)
                .instances(32)
                .tables(16)
                .memories(4)
                .build(),
            ticks: 0,
            max_ticks,
            host,
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|c| &mut c.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let c = cx.data_mut();
            c.ticks += 1;
            if c.ticks > c.max_ticks {
                return Err(wasmtime::Error::msg(format!(
                    "CPU limit exceeded ({} ms in one call)",
                    c.ticks * 10
                )));
            }
            // Let other sessions on this thread run, then continue.
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }

    /// Start a pre-auth session: instantiate, construct, and return it
    /// together with its greeting.
    pub async fn start(&self, host: H, settings: &Settings) -> Result<(GuestSession<H>, Step)> {
        let mut store = self.new_store(host, None)?;
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("instantiating the guest: {e:#}"))?;
        let mut s = GuestSession {
            store,
            instance,
            handle: None,
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
    /// instance, instantiate anew (with `mail_dir` as the only preopen when
    /// given), restore. Promotion after login, demotion (UNAUTHENTICATE,
    /// no `mail_dir`) and settings changes (STARTTLS) all come through here.
    pub async fn reinstantiate(
        &self,
        mut old: GuestSession<H>,
        host: Option<H>,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<GuestSession<H>> {
        let snapshot = old.snapshot().await?;
        let host = match host {
            Some(h) => h,
            None => old.into_host().await,
        };
        self.restore(host, &snapshot, mail_dir, settings).await
    }

    /// Bring a hibernated session back: a fresh instance (with `mail_dir`
    /// as its only preopen, as at promotion) restored from the snapshot.
    pub async fn wake(
        &self,
        hibernated: Hibernated<H>,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<GuestSession<H>> {
        let Hibernated { snapshot, host } = hibernated;
        self.restore(host, &snapshot, mail_dir, settings).await
    }

    /// Guest instances alive in this process (pool slots in use).
    pub fn live_instances(&self) -> u64 {
        self.engine
            .pooling_allocator_metrics()
            .map_or(0, |m| m.component_instances())
    }

    /// A new instance for `host`, restored from `snapshot`.
    async fn restore(
        &self,
        host: H,
        snapshot: &str,
        mail_dir: Option<&cap_std::fs::Dir>,
        settings: &Settings,
    ) -> Result<GuestSession<H>> {
        let mut store = self.new_store(host, mail_dir)?;
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("instantiating the guest: {e:#}"))?;
        let mut s = GuestSession {
            store,
            instance,
            handle: None,
        };
        let snap = snapshot;
        let restored = s
            .call(|inst, store| async move {
                inst.imapd_session_engine()
                    .call_restore(store, snap, settings)
                    .await
            })
            .await?;
        let handle = restored.map_err(|e| anyhow!("guest refused the session snapshot: {e}"))?;
        s.handle = Some(handle);
        Ok(s)
    }
}

/// A session reduced to its snapshot (hibernation): no store, no instance,
/// no pool slot; only the guest's state as text and the host services.
pub struct Hibernated<H: SessionHost> {
    snapshot: String,
    pub host: H,
}

impl<H: SessionHost> Hibernated<H> {
    /// Bytes of guest state kept while hibernated.
    pub fn snapshot_len(&self) -> usize {
        self.snapshot.len()
    }
}

/// One live session: its store, instance and the guest's session resource.
pub struct GuestSession<H: SessionHost> {
    store: Store<Ctx<H>>,
    instance: Session,
    handle: Option<ResourceAny>,
}

impl<H: SessionHost> GuestSession<H> {
    async fn call<'a, R, F, Fut>(&'a mut self, f: F) -> Result<R>
    where
        F: FnOnce(&'a Session, &'a mut Store<Ctx<H>>) -> Fut,
        Fut: std::future::Future<Output = wasmtime::Result<R>> + 'a,
    {
        self.store.data_mut().ticks = 0;
        // Any error (trap, CPU limit, memory cap) poisons the instance; the
        // caller ends the session.
        f(&self.instance, &mut self.store)
            .await
            .map_err(|e| anyhow!("{}", describe_trap(&e)))
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
        &mut self.store.data_mut().host
    }

    /// Reduce the session to its snapshot: take it, then drop the store,
    /// which frees the instance and its pool slot (memory, stack, tables).
    pub async fn hibernate(mut self) -> Result<Hibernated<H>> {
        let mut snapshot = self.snapshot().await?;
        snapshot.shrink_to_fit();
        let host = self.into_host().await;
        Ok(Hibernated { snapshot, host })
    }

    /// Tear the instance down and hand back the session's host services.
    pub async fn into_host(mut self) -> H {
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
                Err(e) => eprintln!(
                    "imapd: ignoring unusable precompiled guest {}: {e:#}",
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
        eprintln!(
            "imapd: cannot cache the precompiled guest in {}: {e:#}",
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

    struct NoHost;

    impl SessionHost for NoHost {
        async fn authenticate(
            &mut self,
            _: String,
            _: String,
            _: String,
            _: String,
        ) -> Result<String, AuthError> {
            Err(AuthError::BadCredentials)
        }
        fn log(&mut self, _: Level, _: &str) {}
        async fn lock_mailbox(&mut self, _: String) -> Result<(), String> {
            Ok(())
        }
        fn unlock_mailbox(&mut self, _: String) {}
        fn is_admin(&mut self) -> bool {
            false
        }
        async fn sasl_start(&mut self, _: String, _: Option<Vec<u8>>) -> SaslReply {
            SaslReply::Failure(AuthError::BadCredentials)
        }
        async fn sasl_continue(&mut self, _: Vec<u8>) -> SaslReply {
            SaslReply::Failure(AuthError::BadCredentials)
        }
        fn sasl_abort(&mut self) {}
    }

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
                guest_module: None,
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
