//! Everything a process shares between its sessions: the options read from
//! imapd.conf, the directories it may touch (opened once, as capabilities),
//! the TLS acceptor, the password checker and the guest engine.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use tokio_rustls::TlsAcceptor;

use crate::auth::{Authenticator, Method};
use crate::config::Config;
use crate::connection::ConnHost;
use crate::engine::{EngineOptions, GuestEngine, ServerInfo, Settings};
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
}

/// imapd.conf, read once, in the types the server uses.
#[derive(Debug, Clone)]
pub struct Options {
    pub config_dir: PathBuf,
    pub partition: PathBuf,
    pub servername: String,
    pub server_info: ServerInfo,
    pub allow_plaintext: bool,
    pub tls_required: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_versions: Vec<String>,
    pub timeout: Duration,
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
    pub idle_poll: Duration,
    pub engine: EngineOptions,
}

impl Options {
    /// Read the options we use, with Cyrus's defaults.
    pub fn from_config(cfg: &Config) -> Result<Options> {
        let config_dir = PathBuf::from(cfg.configdirectory()?);
        let partition = match cfg.partition("default") {
            Some(p) => PathBuf::from(p),
            None => bail!("{}: partition-default is not set", cfg.origin()),
        };
        let tls_path = |name: &str| -> Option<PathBuf> {
            cfg.string(name)
                .filter(|v| !v.eq_ignore_ascii_case("disabled"))
                .map(PathBuf::from)
        };
        let pwcheck = match cfg.string("sasl_pwcheck_method").as_deref() {
            None | Some("passwd_file") => Method::PasswdFile,
            Some("saslauthd") => Method::Saslauthd(PathBuf::from(
                cfg.string("sasl_saslauthd_path")
                    .unwrap_or_else(|| "/var/run/saslauthd/mux".into()),
            )),
            Some("alwaystrue") => Method::AlwaysTrue,
            Some(other) => bail!(
                "{}: sasl_pwcheck_method '{other}' is not supported \
                 (passwd_file, saslauthd, alwaystrue)",
                cfg.origin()
            ),
        };
        let mechanisms: Vec<String> = cfg
            .list("sasl_mech_list")
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .filter(|m| m == "PLAIN" || m == "LOGIN")
            .collect();
        let server_info = match cfg.string("serverinfo").as_deref() {
            None | Some("on") => ServerInfo::On,
            Some("min") => ServerInfo::Min,
            Some("off") => ServerInfo::Off,
            Some(other) => bail!(
                "{}: serverinfo must be on, min or off, not '{other}'",
                cfg.origin()
            ),
        };
        let passwd_file = cfg
            .string("passwd_file")
            .map(PathBuf::from)
            .unwrap_or_else(|| config_dir.join("passwd"));
        let guest_cache = cfg
            .string("guest_cache_dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| config_dir.join("cache"));
        Ok(Options {
            servername: cfg.string("servername").unwrap_or_else(hostname),
            server_info,
            allow_plaintext: cfg.switch("allowplaintext")?,
            tls_required: cfg.switch("tls_required")?,
            tls_cert: tls_path("tls_server_cert"),
            tls_key: tls_path("tls_server_key"),
            tls_versions: cfg.list("tls_versions"),
            // Cyrus never logs out sooner than 30 minutes (rfc3501 5.4 asks for
            // at least 30); `autologout_minimum` lowers that floor for tests.
            timeout: cfg
                .duration("timeout")?
                .max(cfg.duration("autologout_minimum")?),
            pwcheck,
            mechanisms,
            passwd_file,
            max_word: cfg.int("maxword")?.clamp(1, u32::MAX as i64) as u32,
            max_quoted: cfg.int("maxquoted")?.clamp(1, u32::MAX as i64) as u32,
            max_literal: cfg.int("maxliteral")?.clamp(1, u32::MAX as i64) as u32,
            max_message_size: cfg.int("maxmessagesize")?.max(0) as u64,
            failed_login_pause: cfg.duration("failedloginpause")?,
            admins: cfg.list("admins"),
            suppress_capabilities: cfg.list("suppress_capabilities"),
            autocreate_folders: cfg.list_sep("autocreate_inbox_folders", '|'),
            idle_poll: cfg.duration("imapidlepoll")?,
            engine: EngineOptions {
                guest_module: cfg.string("guest_module").map(PathBuf::from),
                cache_dir: Some(guest_cache),
                memory_limit: cfg.int("session_memory_limit")?.max(1 << 20) as usize,
                cpu_limit: cfg.duration("session_cpu_limit")?,
                max_sessions: cfg.int("max_sessions")?.clamp(1, 1_000_000) as u32,
            },
            config_dir,
            partition,
        })
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The process-wide state every session shares.
pub struct Server {
    pub options: Options,
    pub flags: Flags,
    pub service: String,
    /// `configdirectory`, opened once: msg/, log/, socket/ live here.
    pub config_dir: Dir,
    /// The default partition: users' mail trees are `<partition>/<user>/`.
    pub partition: Dir,
    pub tls: Option<TlsAcceptor>,
    pub auth: Authenticator,
    pub engine: GuestEngine<ConnHost>,
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
            (Some(c), Some(k)) => Some(crate::tls::acceptor(c, k, &options.tls_versions)?),
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
        };
        let engine = GuestEngine::new(options.engine.clone())?;
        Ok(Arc::new(Server {
            options,
            flags,
            service: service.to_string(),
            config_dir,
            partition,
            tls,
            auth,
            engine,
            session_counter: AtomicU64::new(0),
            start_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }))
    }

    /// Cyrus's SESSIONID: `<servername>-<time>-<pid>-<n>-<random>`.
    pub fn new_session_id(&self) -> String {
        let n = self.session_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!(
            "{}-{}-{}-{}-{}",
            self.options.servername,
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

    /// The settings a guest gets for a connection in this state.
    pub fn settings(&self, session_id: &str, tls_active: bool) -> Settings {
        let o = &self.options;
        Settings {
            servername: o.servername.clone(),
            server_info: o.server_info,
            product: "Cyrus IMAP".into(),
            version: format!("imapd-{}", env!("CARGO_PKG_VERSION")),
            session_id: session_id.to_string(),
            allow_plaintext: o.allow_plaintext,
            tls_required: o.tls_required,
            starttls_available: self.tls.is_some() && !tls_active,
            tls_active,
            external_ssf: self.flags.external_ssf,
            mechanisms: o.mechanisms.clone(),
            max_word: o.max_word,
            max_quoted: o.max_quoted,
            max_literal: o.max_literal,
            max_message_size: o.max_message_size,
            suppress_capabilities: o.suppress_capabilities.clone(),
            motd: self.message_file("motd"),
            autocreate_folders: o.autocreate_folders.clone(),
            idle_enabled: !o.idle_poll.is_zero(),
        }
    }
}
