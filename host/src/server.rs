//! Everything a process shares between its sessions: the options read from
//! imapd.conf, the directories it may touch (opened once, as capabilities),
//! the TLS acceptor, the password checker and the guest engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::auth::{Authenticator, Method};
use crate::config::{self, Config, PwcheckMethod, TlsVersions};
use crate::connection::ConnHost;
use crate::engine::{EngineOptions, GuestEngine, ModuleSource, ServerInfo, Settings};
use crate::passwd::PasswordFile;

/// What the command line says, beside the config file.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `-s`: every connection starts with the TLS handshake.
    pub implicit_tls: bool,
    /// `-N`: LOGIN without a password check.
    pub no_password: bool,
    /// `-p ssf`: an external security layer of this strength.
    pub external_ssf: u32,
    /// `-q`: quotas are shown but not enforced (wit `own-quota`'s `enforced`).
    pub no_quota_enforcement: bool,
}

/// imapd.conf, read once, in the types the server uses.
#[derive(Debug, Clone)]
pub struct Options {
    pub config_dir: PathBuf,
    pub partition: PathBuf,
    pub servername: String,
    /// What SESSIONIDs start with: `syslog_prefix`, else `servername`.
    pub session_id_prefix: String,
    pub server_info: ServerInfo,
    pub allow_plaintext: bool,
    pub tls_required: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_versions: TlsVersions,
    pub tls_client_ca_file: Option<PathBuf>,
    pub tls_client_certs: config::ClientCerts,
    pub timeout: Duration,
    /// `login_timeout`: from connecting to a successful login, in all.
    pub login_timeout: Option<Duration>,
    pub pwcheck: Method,
    pub mechanisms: Vec<String>,
    pub passwd_file: PathBuf,
    pub max_word: u32,
    pub max_quoted: u32,
    pub max_literal: u32,
    pub max_message_size: u64,
    pub failed_login_pause: Duration,
    pub admins: Vec<String>,
    pub suppress_capabilities: Vec<String>,
    pub autocreate_folders: Vec<String>,
    /// `autocreate_quota`: the STORAGE limit (KiB, 0: none) of the quota root made at a
    /// user's first login; `None`: none is made.
    pub autocreate_quota: Option<u64>,
    /// `autocreate_quota_messages`: its MESSAGE limit (0: none).
    pub autocreate_quota_messages: u64,
    /// `Config::guest_options`.
    pub guest_options: Vec<(String, String)>,
    pub idle_poll: Option<Duration>,
    pub idle_timeout: Duration,
    pub idle_keepalive: Option<Duration>,
    pub idle_hibernate: Option<Duration>,
    pub max_logins_per_user: Option<u32>,
    pub max_logins_per_host: Option<u32>,
    /// `maxpreauth_per_host`: connections one address may hold before
    /// logging in.
    pub max_preauth_per_host: Option<u32>,
    pub engine: EngineOptions,
    /// `prometheus_listen`, when `prometheus_enabled`.
    pub prometheus: Option<std::net::SocketAddr>,
    /// `virtdomains`, `defaultdomain`, `virtdomain_addresses`.
    pub domains: crate::tenant::Domains,
    /// The `tenant_*` limits.
    pub tenant_limits: crate::tenant::limits::Limits,
}

/// Cyrus's limits: 0 in imapd.conf means its built-in default.
fn limit(v: Option<u64>) -> u32 {
    v.unwrap_or(131072).clamp(1, u32::MAX as u64) as u32
}

impl Options {
    /// The options the server uses, from a config that has already been
    /// validated (every typed value checked, with file and line, at load).
    pub fn from_config(cfg: &Config) -> Result<Options> {
        let (_, partition) = cfg.default_partition()?;
        let pwcheck = match cfg.sasl_pwcheck_method() {
            PwcheckMethod::PasswdFile => Method::PasswdFile,
            PwcheckMethod::Saslauthd => Method::Saslauthd(cfg.sasl_saslauthd_path().to_path_buf()),
            PwcheckMethod::AlwaysTrue => Method::AlwaysTrue,
        };
        let server_info = match cfg.serverinfo() {
            config::ServerInfo::On => ServerInfo::On,
            config::ServerInfo::Min => ServerInfo::Min,
            config::ServerInfo::Off => ServerInfo::Off,
        };
        let domains = crate::tenant::Domains::from_config(cfg)?;
        // `admins` as the users they name (`admin@<defaultdomain>` is
        // `admin`); a name that cannot be a user is no one.
        let admins = cfg
            .admins()
            .iter()
            .filter_map(|a| domains.canonical(a, None))
            .collect();
        Ok(Options {
            config_dir: cfg.configdirectory().to_path_buf(),
            partition: partition.to_path_buf(),
            servername: cfg.servername().to_string(),
            session_id_prefix: cfg.syslog_prefix().unwrap_or(cfg.servername()).to_string(),
            server_info,
            allow_plaintext: cfg.allowplaintext(),
            tls_required: cfg.tls_required(),
            tls_cert: cfg.tls_server_cert().map(PathBuf::from),
            tls_key: cfg.tls_server_key().map(PathBuf::from),
            tls_versions: cfg.tls_versions(),
            tls_client_ca_file: cfg.tls_client_ca_file().map(PathBuf::from),
            tls_client_certs: cfg.tls_client_certs(),
            timeout: cfg.timeout(),
            login_timeout: cfg.login_timeout(),
            pwcheck,
            mechanisms: cfg.sasl_mech_list().iter().map(|m| m.to_string()).collect(),
            passwd_file: cfg.passwd_file().to_path_buf(),
            max_word: limit(cfg.maxword()),
            max_quoted: limit(cfg.maxquoted()),
            max_literal: limit(cfg.maxliteral()),
            max_message_size: cfg.maxmessagesize().unwrap_or(0),
            failed_login_pause: cfg.failedloginpause(),
            admins,
            suppress_capabilities: cfg.suppress_capabilities().to_vec(),
            autocreate_folders: cfg.autocreate_inbox_folders().to_vec(),
            autocreate_quota: cfg.autocreate_quota(),
            autocreate_quota_messages: cfg.autocreate_quota_messages(),
            guest_options: cfg.guest_options(),
            idle_poll: cfg.imapidlepoll(),
            idle_timeout: cfg.imapidletimeout(),
            idle_keepalive: cfg.idle_keepalive(),
            idle_hibernate: cfg.idle_hibernate(),
            max_logins_per_user: cfg.maxlogins_per_user(),
            max_logins_per_host: cfg.maxlogins_per_host(),
            max_preauth_per_host: cfg.maxpreauth_per_host(),
            engine: EngineOptions {
                source: module_source(cfg)?,
                cache_dir: Some(cfg.guest_cache_dir().to_path_buf()),
                memory_limit: cfg.session_memory_limit().clamp(1 << 20, 1 << 32) as usize,
                cpu_limit: cfg.session_cpu_limit(),
                max_sessions: cfg.max_sessions(),
            },
            prometheus: match cfg.prometheus_enabled() {
                true => Some(cfg.prometheus_listen()?),
                false => None,
            },
            domains,
            tenant_limits: crate::tenant::limits::Limits::from_config(cfg),
        })
    }
}

/// What a module reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    Unchanged { module: String },
    Swapped { from: String, to: String },
}

/// Where the guest comes from, per imapd.conf.
pub fn module_source(cfg: &Config) -> Result<ModuleSource> {
    let (path, explicit) = cfg.guest_module_path();
    Ok(ModuleSource {
        path: Some(path),
        explicit,
        sha256: cfg.guest_module_sha256()?,
    })
}

/// The process-wide state every session shares.
pub struct Server {
    pub options: Options,
    pub flags: Flags,
    pub service: String,
    /// `configdirectory`, opened once: msg/, log/, socket/ live here.
    pub config_dir: Dir,
    /// The default partition: users' mail trees are `<partition>/<user>/`
    /// (a domain's, `<partition>/domain/<domain>/<user>/`: see `tenants`).
    pub partition: Dir,
    /// The domains served so far, each with its place on disk and limits.
    pub tenants: crate::tenant::Tenants,
    pub tls: Option<crate::tls::ServerTls>,
    pub auth: Authenticator,
    pub engine: GuestEngine<ConnHost>,
    /// The live sessions, for `imapd status`.
    pub sessions: crate::ops::status::LiveSessions,
    /// Who is logged in, for `maxlogins_per_*` (`proc/`).
    pub registry: crate::registry::Registry,
    /// The connections not yet logged in, by address.
    pub preauth: crate::connection::preauth::PreauthSlots,
    /// A pre-auth session made ahead of the next plain connection.
    pub spares: crate::connection::spare::Spares,
    /// imapd.conf, re-read when the guest module is reloaded.
    config_path: PathBuf,
    /// Where the guest module comes from (re-read with imapd.conf).
    source: std::sync::Mutex<ModuleSource>,
    /// When the module file was last looked at (ms since start).
    module_checked: AtomicU64,
    /// One reload at a time.
    reload_lock: tokio::sync::Mutex<()>,
    started: std::time::Instant,
    session_counter: AtomicU64,
    start_time: u64,
}

impl Server {
    pub fn new(
        cfg: &Config,
        service: &str,
        flags: Flags,
        max_sessions: Option<u32>,
    ) -> Result<Arc<Server>> {
        let mut options = Options::from_config(cfg)?;
        if let Some(n) = max_sessions {
            options.engine.max_sessions = n;
        }
        options.engine.max_sessions = crate::engine::within_map_limit(options.engine.max_sessions);
        let config_dir = Dir::open_ambient_dir(&options.config_dir, ambient_authority())
            .with_context(|| format!("opening configdirectory {}", options.config_dir.display()))?;
        std::fs::create_dir_all(&options.partition).with_context(|| {
            format!("creating partition-default {}", options.partition.display())
        })?;
        let partition = Dir::open_ambient_dir(&options.partition, ambient_authority())
            .with_context(|| {
                format!("opening partition-default {}", options.partition.display())
            })?;
        let tls = match (&options.tls_cert, &options.tls_key) {
            (Some(c), Some(k)) => Some(crate::tls::acceptor(
                c,
                k,
                options.tls_versions,
                crate::tls::ClientAuth {
                    ca_file: options.tls_client_ca_file.as_deref(),
                    mode: options.tls_client_certs,
                },
            )?),
            _ => None,
        };
        if flags.implicit_tls && tls.is_none() {
            bail!("-s needs tls_server_cert and tls_server_key in imapd.conf");
        }
        let auth = Authenticator {
            method: options.pwcheck.clone(),
            passwords: Arc::new(PasswordFile::new(options.passwd_file.clone())),
            service: service.to_string(),
            no_password_for_login: flags.no_password,
            failed_login_pause: options.failed_login_pause,
            may_authorize: cfg
                .may_authorize_as_others()
                .iter()
                .filter_map(|u| options.domains.canonical(u, None))
                .collect(),
            domains: options.domains.clone(),
        };
        if auth.method == Method::PasswdFile {
            // Malformed lines cost only their own user; say so at start.
            match auth.passwords.check() {
                Ok(warnings) => warnings.iter().for_each(|w| crate::syslog!(Warning, "{w}")),
                Err(e) => {
                    crate::syslog!(Warning, "{e:#} (logins will fail until it is readable)")
                }
            }
        }
        let tenants = crate::tenant::Tenants::new(
            options.domains.clone(),
            options.tenant_limits.clone(),
            &partition,
            &options.config_dir,
        )?;
        let engine = GuestEngine::new(options.engine.clone())?;
        let source = options.engine.source.clone();
        Ok(Arc::new(Server {
            config_path: cfg.file().to_path_buf(),
            source: std::sync::Mutex::new(source),
            module_checked: AtomicU64::new(0),
            reload_lock: tokio::sync::Mutex::new(()),
            started: std::time::Instant::now(),
            options,
            flags,
            service: service.to_string(),
            config_dir,
            partition,
            tenants,
            tls,
            auth,
            engine,
            sessions: Default::default(),
            preauth: Default::default(),
            spares: Default::default(),
            registry: Default::default(),
            session_counter: AtomicU64::new(0),
            start_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }))
    }

    /// At a command boundary: at most once a second, look whether the
    /// guest module file was replaced (by `imapd swap`, or by hand); if so,
    /// load it in the background. The session carries on meanwhile and
    /// moves once the new module is installed.
    pub fn check_module_soon(self: &Arc<Self>) {
        let now = self.started.elapsed().as_millis() as u64 + 1000;
        let last = self.module_checked.load(Ordering::Relaxed);
        if now < last + 1000
            || self
                .module_checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let module = self.module_file_changed();
        let pins = self.pins_changed();
        if !module && !pins {
            return;
        }
        let server = self.clone();
        tokio::spawn(async move {
            if module && let Err(e) = server.reload_module("module file replaced").await {
                crate::syslog!(Err, "{e:#}");
            }
            if pins {
                server.reload_pins("module file replaced").await;
            }
        });
    }

    /// The guest module pinned for `domain` (`imapd swap --domain`).
    pub fn pin_path(config_dir: &Path, domain: &str) -> PathBuf {
        config_dir
            .join(crate::tenant::DOMAIN_DIR)
            .join(domain)
            .join("guest.wasm")
    }

    /// The domains with a pinned module file, and those pinned in this
    /// process: each with the file's stamp now (`None`: no file).
    fn pin_files(&self) -> Vec<(String, Option<crate::engine::FileStamp>)> {
        let mut domains: Vec<String> = self.engine.pins().into_iter().map(|(d, _)| d).collect();
        if self.options.domains.enabled() {
            let root = self.options.config_dir.join(crate::tenant::DOMAIN_DIR);
            for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
                let Ok(d) = e.file_name().into_string() else {
                    continue;
                };
                if crate::tenant::valid_domain(&d) && !domains.contains(&d) {
                    domains.push(d);
                }
            }
        }
        domains
            .into_iter()
            .map(|d| {
                let stamp = std::fs::metadata(Self::pin_path(&self.options.config_dir, &d))
                    .ok()
                    .map(|m| crate::engine::FileStamp::of(&m));
                (d, stamp)
            })
            .collect()
    }

    /// Whether a pin file differs from what this process runs for it.
    pub fn pins_changed(&self) -> bool {
        let pinned = self.engine.pins();
        self.pin_files().into_iter().any(|(d, stamp)| {
            let running = pinned.iter().find(|(p, _)| *p == d).map(|(_, m)| m.stamp());
            match (running, stamp) {
                (None, None) => false,
                (None, Some(_)) | (Some(_), None) => true,
                (Some(run), Some(now)) => run != Some(now),
            }
        })
    }

    /// Pin each domain to the module in its pin file, or unpin it when
    /// the file is gone; a module must greet first. What changed, per
    /// domain (errors are logged and leave the domain as it was).
    pub async fn reload_pins(self: &Arc<Self>, why: &str) -> Vec<(String, Result<Reload>)> {
        let _one = self.reload_lock.lock().await;
        let mut done = Vec::new();
        let pinned = self.engine.pins();
        for (domain, stamp) in self.pin_files() {
            let running = pinned
                .iter()
                .find(|(p, _)| *p == domain)
                .map(|(_, m)| m.clone());
            let r = match (running, stamp) {
                (None, None) => continue,
                (Some(m), Some(now)) if m.stamp() == Some(now) => continue,
                (Some(m), None) => {
                    self.engine.pin(&domain, None);
                    crate::syslog!(
                        Notice,
                        "domain {domain} back on guest module {} (was {}; {why})",
                        self.engine.current().short(),
                        m.short()
                    );
                    Ok(Reload::Swapped {
                        from: m.hash.clone(),
                        to: self.engine.current().hash.clone(),
                    })
                }
                (running, Some(_)) => self.pin_from_file(&domain, running, why).await,
            };
            if let Err(e) = &r {
                crate::syslog!(Err, "domain {domain}: {e:#}");
            }
            done.push((domain, r));
        }
        done
    }

    /// Load, try and pin `domain`'s module file.
    async fn pin_from_file(
        self: &Arc<Self>,
        domain: &str,
        running: Option<Arc<crate::engine::Module<ConnHost>>>,
        why: &str,
    ) -> Result<Reload> {
        let path = Self::pin_path(&self.options.config_dir, domain);
        let server = self.clone();
        let module = tokio::task::spawn_blocking(move || -> Result<_> {
            let (wasm, stamp) = crate::engine::read_module_file(&path)?;
            let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm));
            let m = match server.engine.loaded(&hash) {
                Some(m) => m,
                None => server.engine.load(&wasm, Some(stamp))?,
            };
            m.set_stamp(Some(stamp));
            Ok(m)
        })
        .await
        .map_err(|e| anyhow::anyhow!("loading the guest module: {e}"))??;
        let before = running.unwrap_or_else(|| self.engine.current());
        if !Arc::ptr_eq(&module, &before) {
            let trial = ConnHost::trial(self.clone());
            let settings = self.settings("swap-check", None);
            match self.engine.start_on(module.clone(), trial, &settings).await {
                Ok((_, step)) if step.output.starts_with(b"* ") => {}
                Ok(_) => bail!("guest module {} does not greet", module.short()),
                Err(e) => bail!(
                    "guest module {} failed its trial session ({e:#})",
                    module.short()
                ),
            }
        }
        self.engine.pin(domain, Some(module.clone()));
        crate::syslog!(
            Notice,
            "domain {domain} pinned to guest module {} (was {}; {why})",
            module.short(),
            before.short()
        );
        Ok(if module.hash == before.hash {
            Reload::Unchanged {
                module: module.hash.clone(),
            }
        } else {
            Reload::Swapped {
                from: before.hash.clone(),
                to: module.hash.clone(),
            }
        })
    }

    /// Whether the module file is not the one the current module was
    /// read from (a cheap stat).
    pub fn module_file_changed(&self) -> bool {
        let source = self
            .source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match source.stamp() {
            Ok(stamp) => stamp != self.engine.current().stamp(),
            // A missing guest_module: keep what runs; the reload says why.
            Err(_) => false,
        }
    }

    /// Re-read imapd.conf's `guest_module` and `guest_module_sha256`, load
    /// the module they name and, if it is not the one running, check that
    /// it greets and install it: new sessions start on it and every
    /// session moves at its next command boundary. Options other than
    /// those two take effect at the next start.
    pub async fn reload_module(self: &Arc<Self>, why: &str) -> Result<Reload> {
        let _one = self.reload_lock.lock().await;
        let server = self.clone();
        // Compiling (when the module is not in the cache) takes seconds.
        let loaded = tokio::task::spawn_blocking(move || -> Result<Option<_>> {
            let cfg = Config::load(&server.config_path, &server.service)?;
            let source = module_source(&cfg)?;
            *server.source.lock().unwrap_or_else(|e| e.into_inner()) = source.clone();
            let (wasm, stamp) = source.read()?;
            let current = server.engine.current();
            let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm));
            if hash == current.hash {
                current.set_stamp(stamp);
                return Ok(None);
            }
            let module = match server.engine.loaded(&hash) {
                Some(m) => {
                    m.set_stamp(stamp);
                    m
                }
                None => server
                    .engine
                    .load(&wasm, stamp)
                    .with_context(|| format!("loading guest module {}", source.describe()))?,
            };
            Ok(Some((module, source.describe())))
        })
        .await
        .map_err(|e| anyhow::anyhow!("loading the guest module: {e}"))??;
        let previous = self.engine.current();
        let Some((module, from)) = loaded else {
            return Ok(Reload::Unchanged {
                module: previous.hash.clone(),
            });
        };
        // It must at least greet before any session is given to it.
        let trial = ConnHost::trial(self.clone());
        let settings = self.settings("swap-check", None);
        match self.engine.start_on(module.clone(), trial, &settings).await {
            Ok((_, step)) if step.output.starts_with(b"* ") => {}
            Ok(_) => bail!(
                "guest module {from} does not greet; keeping {}",
                previous.short()
            ),
            Err(e) => bail!(
                "guest module {from} failed its trial session ({e:#}); keeping {}",
                previous.short()
            ),
        }
        self.engine.install(module.clone());
        self.spares.clear();
        crate::syslog!(
            Notice,
            "guest module {} replaces {} ({why}; {from})",
            module.short(),
            previous.short()
        );
        Ok(Reload::Swapped {
            from: previous.hash.clone(),
            to: module.hash.clone(),
        })
    }

    /// This process's metrics, the tenants' included.
    pub fn metrics(&self) -> crate::ops::metrics::Snapshot {
        let mut s = crate::ops::metrics::metrics().snapshot(self.engine.live_instances());
        s.tenants = self.tenants.snapshot();
        s.spares_ready = self.spares.ready() as i64;
        s
    }

    /// A number unique within this process.
    pub fn next_serial(&self) -> u64 {
        self.session_counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Cyrus's SESSIONID: `<syslog_prefix or servername>-<time>-<pid>-<n>-<random>`
    /// (cyrus-compat 2.7).
    pub fn new_session_id(&self) -> String {
        let n = self.next_serial();
        format!(
            "{}-{}-{}-{}-{}",
            self.options.session_id_prefix,
            self.start_time,
            std::process::id(),
            n,
            rand::random::<u64>()
        )
    }

    /// The first line of `msg/<name>` with leading `[` removed, if the file
    /// exists (cyrus-compat 2.3, 2.4).
    pub fn message_file(&self, name: &str) -> Option<String> {
        let mut f = self.config_dir.open(format!("msg/{name}")).ok()?;
        let mut buf = vec![0u8; 4096];
        let n = std::io::Read::read(&mut f, &mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let line = text.split(['\r', '\n']).next().unwrap_or("");
        Some(line.trim_start_matches('[').to_string())
    }

    /// `msg/shutdown.<service>`, else `msg/shutdown`.
    pub fn shutdown_message(&self) -> Option<String> {
        self.message_file(&format!("shutdown.{}", self.service))
            .or_else(|| self.message_file("shutdown"))
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.options.admins.iter().any(|a| a == user)
    }

    /// The SASL mechanisms this connection is offered (see
    /// [`Authenticator::offered`]).
    pub fn mechanisms(&self, tls: Option<&crate::tls::TlsInfo>) -> Vec<String> {
        self.auth.offered(&self.options.mechanisms, tls)
    }

    /// Whether a -PLUS mechanism is configured: only then are channel
    /// bindings computed at each handshake.
    pub fn wants_channel_binding(&self) -> bool {
        self.options.mechanisms.iter().any(|m| m.ends_with("-PLUS"))
            && self.auth.method == Method::PasswdFile
    }

    /// The settings a guest gets for a connection in this state (`tls`:
    /// what its handshake told, once TLS is up).
    pub fn settings(&self, session_id: &str, tls: Option<&crate::tls::TlsInfo>) -> Settings {
        let tls_active = tls.is_some();
        Settings {
            starttls_available: self.tls.is_some() && !tls_active,
            tls_active,
            external_ssf: self.flags.external_ssf,
            mechanisms: self.mechanisms(tls),
            motd: self.message_file("motd"),
            ..self.options.settings(session_id)
        }
    }
}

impl Options {
    /// The settings a guest gets from the configuration alone: no TLS, no
    /// SASL mechanisms, no motd (a connection adds those:
    /// `Server::settings`).
    pub fn settings(&self, session_id: &str) -> Settings {
        Settings {
            servername: self.servername.clone(),
            server_info: self.server_info,
            product: "Cyrus IMAP".into(),
            version: format!("imapd-{}", env!("CARGO_PKG_VERSION")),
            session_id: session_id.to_string(),
            allow_plaintext: self.allow_plaintext,
            tls_required: self.tls_required,
            starttls_available: false,
            tls_active: false,
            external_ssf: 0,
            mechanisms: Vec::new(),
            max_word: self.max_word,
            max_quoted: self.max_quoted,
            max_literal: self.max_literal,
            max_message_size: self.max_message_size,
            suppress_capabilities: self.suppress_capabilities.clone(),
            motd: None,
            autocreate_folders: self.autocreate_folders.clone(),
            idle_enabled: self.idle_poll.is_some(),
            options: self.guest_options.clone(),
        }
    }
}
