//! One client connection, from the first byte to the close: TLS,
//! COMPRESS ([`compress`]), the guest session, the SASL exchanges the
//! host runs, promotion into the user's tree (and demotion out of it after
//! UNAUTHENTICATE), timeouts, msg/shutdown and telemetry. The host never
//! parses IMAP; it moves bytes and acts on the guest's requests.

pub mod compress;
pub mod preauth;
pub mod spare;

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use anyhow::{Context, Result, anyhow};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::auth::{Exchange, SaslStep, Verdict};
use crate::engine::{
    Action, AuthError, GuestSession, Level, MetadataError, ProtocolState, QuotaError, QuotaLimits,
    QuotaUsage, SaslReply, SessionHost, Step,
};
use crate::idle::IdleWatch;
use crate::ops::metrics::{LoginResult, SessionState, metrics};
use crate::ops::status::SessionReport;
use crate::server::{Options, Server};
use crate::tls::TlsInfo;
use compress::Deflate;

/// A byte stream to a client: TCP, TLS over TCP, or stdin/stdout.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How long a client may take over the TLS handshake (Cyrus: 180 s).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(180);
/// Output is pulled from the guest in chunks of at most this size, so a
/// large FETCH never sits whole in host memory.
const PULL_CHUNK: u32 = 256 * 1024;
const READ_BUFFER: usize = 64 * 1024;

/// The host services one session's guest reaches through its imports.
pub struct ConnHost {
    server: Arc<Server>,
    peer: String,
    /// The user the host itself verified; promotion only ever opens this
    /// user's tree, whatever a guest might claim.
    pub user: Option<String>,
    telemetry: Option<std::fs::File>,
    /// This connection's place in `maxpreauth_per_host`, until it logs in.
    preauth: Option<preauth::PreauthSlot>,
    /// This session's entry in the proc registry, while logged in.
    login_record: Option<crate::registry::LoginRecord>,
    /// The user's mail tree (after promotion) and the mailbox locks held.
    mail_dir: Option<Arc<cap_std::fs::Dir>>,
    locks: crate::locks::HeldLocks,
    /// What the TLS handshake told (channel bindings, client certificate).
    tls: Option<Arc<TlsInfo>>,
    /// A SASL exchange the host runs (its mechanism and state), between
    /// two client messages.
    sasl: Option<(String, Exchange)>,
    /// SESSIONID, for the login line.
    session_id: String,
    /// The client as log lines name it (`localhost [127.0.0.1]`), once
    /// looked up: the first login attempt does, while its password is
    /// checked, so a connection that never tries costs no lookup.
    client: Option<String>,
    /// CPU time of this session's guest calls (user, system).
    cpu: (Duration, Duration),
    /// This session's entry in the metrics and in `imapd status`; `None`
    /// for a trial session.
    tracked: Option<Tracked>,
    /// Mailboxes other users share with this user (shares.rs), those the
    /// instance lists and those whose directories it has preopened, and
    /// the share index's stamp when they were read.
    shares: Vec<crate::shares::Share>,
    share_dirs: Vec<crate::shares::Opened>,
    shares_stamp: Option<std::time::SystemTime>,
    /// With `virtdomains: on`, the domain of logins without one on the
    /// listener this client reached.
    listener_domain: Option<String>,
    /// While logged in: the user's place in its tenant (domain), which
    /// says where its tree and state are and counts it in the tenant's
    /// limits.
    seat: Option<crate::tenant::limits::Seat>,
}

/// What the host knows of a session's state, and the state last
/// published to the metrics and the live session table.
struct Tracked {
    id: u64,
    published: SessionState,
    /// The guest's last `command-done` left a mailbox selected.
    selected: bool,
    /// In IDLE, with its instance.
    idle: bool,
    /// In IDLE, hibernated.
    asleep: bool,
    /// The short hash of the guest module it runs on.
    module: String,
}

/// A mechanism as Cyrus's log lines name it: LOGIN is `plaintext`,
/// `AUTH=<name>` (the guest's word for a SASL mechanism) is `<name>`.
fn cyrus_mech(label: &str) -> &str {
    match label.strip_prefix("AUTH=") {
        Some(name) => name,
        None if label == "LOGIN" => "plaintext",
        None => label,
    }
}

/// `maxlogins_per_user` / `maxlogins_per_host` (cyrus-compat 2.9): the
/// refusal text when a limit is reached.
fn login_limit(server: &Server, user: &str, host: &str) -> Option<String> {
    let o = &server.options;
    if o.max_logins_per_user.is_none() && o.max_logins_per_host.is_none() {
        return None;
    }
    let c = match crate::registry::count(&server.config_dir, user, host) {
        Ok(c) => c,
        Err(e) => {
            crate::syslog!(Err, "{e:#}");
            return None;
        }
    };
    let over_user = o.max_logins_per_user.is_some_and(|m| c.user >= m);
    let over_host = o.max_logins_per_host.is_some_and(|m| c.host >= m);
    (over_user || over_host).then(|| {
        format!(
            "Too many open connections ({} of {} from {host}, {} of {} for {user})",
            c.host,
            o.max_logins_per_host.unwrap_or(0),
            c.user,
            o.max_logins_per_user.unwrap_or(0)
        )
    })
}

/// How a guest names a mailbox directory of another user's tree in
/// `lock-mailbox` (administrators only): `users/<user>/<dir>`.
const USERS_PREFIX: &str = "users/";

/// How a guest names a mailbox shared with its user in `lock-mailbox`:
/// `shared/<owner>/<dir>`.
const SHARED_PREFIX: &str = "shared/";

/// `<user>/<dir>` (`<dir>` "" for INBOX) → the mailbox's directory relative to the
/// partition, with the user name checked as a login name and the directory as one of
/// the tree's own (no `/`, no `..`).
fn in_partition(rest: &str) -> Result<String, String> {
    let (user, dir) = rest.split_once('/').unwrap_or((rest, ""));
    if !crate::shares::valid_owner(user) || dir.contains('/') || dir == ".." || dir == "." {
        return Err(format!("no such mailbox directory: {rest:?}"));
    }
    Ok(if dir.is_empty() {
        user.to_string()
    } else {
        format!("{user}/{dir}")
    })
}

impl SessionHost for ConnHost {
    async fn authenticate(
        &mut self,
        mech: String,
        authzid: String,
        user: String,
        password: String,
    ) -> Result<String, AuthError> {
        if self.user.is_some() {
            return Err(AuthError::Refused("Already logged in".into()));
        }
        let server = self.server.clone();
        // `alice%example.com`, `alice@<defaultdomain>`: the user they name
        // (a name that names no one fails as a wrong password does).
        let domains = &server.options.domains;
        let listener = self.listener_domain.as_deref();
        let canonical = domains.canonical(&user, listener).unwrap_or_default();
        let authzid = match authzid.as_str() {
            "" => String::new(),
            a => domains.canonical(a, listener).unwrap_or_else(|| "/".into()),
        };
        let target = if authzid.is_empty() {
            &canonical
        } else {
            &authzid
        };
        self.meter_login(target, &mech)?;
        let (verdict, ()) = tokio::join!(
            server.auth.check(&mech, &authzid, &canonical, &password),
            self.resolve_client()
        );
        // `LOGIN` or `AUTH=<name>`, as the guest names them (the metrics'
        // label); the log names them as Cyrus does.
        let label = mech;
        let mech = cyrus_mech(&label);
        match verdict {
            Verdict::Ok(name) => self.logged_in(name, &label).await,
            Verdict::BadCredentials => {
                // The words Cyrus's SASL library logs for each path.
                let why = if mech == "plaintext" {
                    "authentication failure: checkpass failed"
                } else {
                    "authentication failure: Password verification failed"
                };
                metrics().login(&label, LoginResult::Failure);
                self.log_badlogin(mech, &user, why);
                Err(AuthError::BadCredentials)
            }
            Verdict::Unavailable(why) => {
                metrics().login(&label, LoginResult::Unavailable);
                crate::syslog!(Err, "password check failed: {why}");
                Err(AuthError::Unavailable(
                    "Password check is unavailable, try again later".into(),
                ))
            }
        }
    }

    async fn sasl_start(&mut self, mech: String, initial: Option<Vec<u8>>) -> SaslReply {
        if self.user.is_some() {
            return SaslReply::Failure(AuthError::Refused("Already logged in".into()));
        }
        let server = self.server.clone();
        let tls = self.tls.clone();
        let offered = server.mechanisms(tls.as_deref());
        let listener = self.listener_domain.clone();
        let ((exchange, step), ()) = tokio::join!(
            server.auth.sasl_start(
                &mech,
                initial,
                tls.as_deref(),
                &offered,
                listener.as_deref()
            ),
            self.resolve_client()
        );
        self.sasl = exchange.map(|e| (mech.clone(), e));
        self.sasl_reply(step, &mech).await
    }

    async fn sasl_continue(&mut self, response: Vec<u8>) -> SaslReply {
        let Some((mech, exchange)) = self.sasl.take() else {
            return SaslReply::Failure(AuthError::BadCredentials);
        };
        let server = self.server.clone();
        let tls = self.tls.clone();
        let plus_offered = server
            .mechanisms(tls.as_deref())
            .iter()
            .any(|m| m.ends_with("-PLUS"));
        let listener = self.listener_domain.clone();
        let (exchange, step) = server
            .auth
            .sasl_continue(
                exchange,
                response,
                tls.as_deref(),
                plus_offered,
                listener.as_deref(),
            )
            .await;
        self.resolve_client().await;
        self.sasl = exchange.map(|e| (mech.clone(), e));
        self.sasl_reply(step, &mech).await
    }

    fn sasl_abort(&mut self) {
        self.sasl = None;
    }

    async fn lock_mailbox(&mut self, dir: String) -> Result<(), String> {
        let Some(tree) = self.mail_dir.as_ref() else {
            return Err("no mail tree before login".into());
        };
        // An administrator's lock on another user's mailbox:
        // `users/<user>/<dir>`, taken in the partition (own mailbox
        // directories are "" or start with `.`, so the two never meet).
        // A mailbox shared with this user: `shared/<owner>/<dir>`, locked
        // through the directory the host opened for the share.
        if let Some(rest) = dir.strip_prefix(SHARED_PREFIX) {
            let (owner, mailbox) = rest.split_once('/').unwrap_or((rest, ""));
            let Some(opened) = self.opened_share(owner, mailbox) else {
                return Err(format!("no such shared mailbox: {rest:?}"));
            };
            let share_dir = opened.dir.try_clone().map_err(|e| format!("{e}"))?;
            return self
                .locks
                .lock_as(&dir, &share_dir, "")
                .await
                .map_err(|e| format!("{e:#}"));
        }
        if let Some(rest) = dir.strip_prefix(USERS_PREFIX) {
            if !self.is_admin() {
                return Err("only administrators reach other users' mailboxes".into());
            }
            let (user, dir) = rest.split_once('/').unwrap_or((rest, ""));
            let (tenant, user) = self.named_user(user)?;
            let rel = in_partition(&format!("{user}/{dir}"))?;
            return self
                .locks
                .lock(&tenant.partition, &rel)
                .await
                .map_err(|e| format!("{e:#}"));
        }
        self.locks
            .lock(tree, &dir)
            .await
            .map_err(|e| format!("{e:#}"))
    }

    fn unlock_mailbox(&mut self, dir: String) {
        if dir.starts_with(SHARED_PREFIX) {
            self.locks.unlock(&dir);
            return;
        }
        let Some(rest) = dir.strip_prefix(USERS_PREFIX) else {
            self.locks.unlock(&dir);
            return;
        };
        let (user, mailbox) = rest.split_once('/').unwrap_or((rest, ""));
        if let Ok((_, user)) = self.named_user(user)
            && let Ok(rel) = in_partition(&format!("{user}/{mailbox}"))
        {
            self.locks.unlock(&rel);
        }
    }

    fn shared_mailboxes(&mut self) -> Vec<crate::shares::Share> {
        self.shares.clone()
    }

    fn share_preopens(&mut self) -> Vec<(String, std::os::fd::RawFd, bool)> {
        self.share_dirs
            .iter()
            .map(|o| (o.guest_path(), o.fd(), o.share.writable()))
            .collect()
    }

    async fn acls_changed(&mut self, owner: String) -> Result<(), String> {
        let Some(user) = self.local_user().map(str::to_string) else {
            return Err("not logged in".into());
        };
        // The owner, an administrator, or someone the owner let
        // administer one of the shared mailboxes.
        let may = owner == user
            || self.is_admin()
            || self
                .shares
                .iter()
                .any(|s| s.owner == owner && s.rights.contains(imapd_acl::Rights::ADMIN));
        if !may {
            return Err(format!("not allowed to share {owner}'s mailboxes"));
        }
        // An administrator's target may be of another domain.
        let (tenant, owner) = match self.is_admin() {
            true => self.named_user(&owner)?,
            false => (self.tenant().cloned().ok_or("not logged in")?, owner),
        };
        if !crate::shares::valid_owner(&owner) {
            return Err(format!("not allowed to share {owner}'s mailboxes"));
        }
        let config_dir = tenant.config_dir.clone();
        let partition = tenant.partition.try_clone().map_err(|e| format!("{e}"))?;
        tokio::task::spawn_blocking(move || crate::shares::publish(&config_dir, &partition, &owner))
            .await
            .map_err(|e| format!("{e}"))?
            .map_err(|e| format!("{e:#}"))
    }

    fn admin_partition(&mut self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.is_admin().then(|| self.tenant_partition().as_raw_fd())
    }

    fn is_admin(&mut self) -> bool {
        self.user
            .as_deref()
            .is_some_and(|u| self.server.is_admin(u))
    }

    fn budget(&mut self) -> Option<Arc<crate::tenant::limits::Budget>> {
        self.tenant()?.usage.budget.clone()
    }

    fn tenant_key(&self) -> Option<String> {
        self.tenant()?.domain.clone()
    }

    fn session_options(&self) -> Vec<(String, String)> {
        match self.tenant_key() {
            Some(d) => vec![("virtdomain".into(), d)],
            None => Vec::new(),
        }
    }

    async fn server_metadata(&mut self) -> Vec<(String, Vec<u8>)> {
        // Annotations are for users: a guest before login gets none.
        if self.user.is_none() {
            return Vec::new();
        }
        let dir = self.server.options.config_dir.clone();
        tokio::task::spawn_blocking(move || crate::server_metadata::read(&dir))
            .await
            .unwrap_or_default()
    }

    async fn set_server_metadata(
        &mut self,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), MetadataError> {
        let admin = self.is_admin();
        let dir = self.server.options.config_dir.clone();
        let names: Vec<String> = entries.iter().map(|(n, _)| n.clone()).collect();
        let r =
            tokio::task::spawn_blocking(move || crate::server_metadata::set(&dir, admin, entries))
                .await
                .unwrap_or_else(|e| Err(MetadataError::Failed(e.to_string())));
        let user = self.user.as_deref().unwrap_or("-");
        let names = crate::ops::log::clean(&names.join(" "));
        match &r {
            Ok(()) => crate::syslog!(
                Notice,
                "{} server metadata set by {user}: {names}",
                self.peer
            ),
            Err(MetadataError::Failed(why)) => crate::syslog!(
                Err,
                "{} server metadata not set ({user}: {names}): {why}",
                self.peer
            ),
            Err(_) => {}
        }
        r
    }

    async fn own_quota(&mut self) -> Option<(QuotaLimits, bool)> {
        let user = self.local_user()?;
        // One small file, usually absent, read at every APPEND, COPY and
        // SELECT: here, without the round trip through the blocking pool
        // (as an uncontended lock is taken).
        let limits = crate::quota::own(&self.tenant_config_dir(), user)?;
        Some((limits, !self.server.flags.no_quota_enforcement))
    }

    async fn get_quota(&mut self, user: String) -> Result<QuotaUsage, QuotaError> {
        let admin = self.is_admin();
        let caller = self.local_user().map(str::to_string);
        let (tenant, user) = match admin {
            true => self.named_user(&user).map_err(|_| QuotaError::NoSuchRoot)?,
            false => (self.tenant().cloned().ok_or(QuotaError::NotAllowed)?, user),
        };
        let config_dir = tenant.config_dir.clone();
        let Ok(partition) = tenant.partition.try_clone() else {
            return Err(QuotaError::Failed("cannot open the partition".into()));
        };
        tokio::task::spawn_blocking(move || {
            crate::quota::get(&config_dir, &partition, caller.as_deref(), admin, &user)
        })
        .await
        .unwrap_or_else(|e| Err(QuotaError::Failed(e.to_string())))
    }

    async fn set_quota(
        &mut self,
        user: String,
        limits: QuotaLimits,
    ) -> Result<QuotaUsage, QuotaError> {
        let admin = self.is_admin();
        let target = self.qualified(&crate::ops::log::clean(&user));
        let (tenant, user) = match admin {
            true => self.named_user(&user).map_err(|_| QuotaError::NoSuchRoot)?,
            false => return Err(QuotaError::NotAllowed),
        };
        let config_dir = tenant.config_dir.clone();
        let Ok(partition) = tenant.partition.try_clone() else {
            return Err(QuotaError::Failed("cannot open the partition".into()));
        };
        let r = tokio::task::spawn_blocking(move || {
            crate::quota::set(&config_dir, &partition, admin, &user, limits)
        })
        .await
        .unwrap_or_else(|e| Err(QuotaError::Failed(e.to_string())));
        let by = self.user.as_deref().unwrap_or("-");
        let limits = crate::quota::describe(&limits);
        match &r {
            Ok(_) => crate::syslog!(
                Notice,
                "{} quota set by {by}: user {target}: {limits}",
                self.peer
            ),
            Err(QuotaError::Failed(why)) => crate::syslog!(
                Err,
                "{} quota not set ({by}: user {target}: {limits}): {why}",
                self.peer
            ),
            Err(_) => {}
        }
        r
    }

    fn log(&mut self, level: Level, message: &str) {
        // A guest's words, cleaned so that they cannot forge a line.
        let message = crate::ops::log::clean(message);
        let peer = &self.peer;
        match level {
            Level::Error => crate::syslog!(Err, "{peer} error: {message}"),
            Level::Warn => crate::syslog!(Warning, "{peer} warning: {message}"),
            Level::Info => crate::syslog!(Info, "{peer} info: {message}"),
            Level::Debug => {}
        }
    }

    fn charge_cpu(&mut self, user: Duration, system: Duration) {
        self.cpu.0 += user;
        self.cpu.1 += system;
    }

    fn command_done(&mut self, name: &str, state: ProtocolState, micros: u64) {
        metrics().command(name, micros);
        if let Some(t) = self.tracked.as_mut() {
            t.selected = matches!(state, ProtocolState::Selected);
        }
        self.publish_state();
    }

    fn on_module(&mut self, hash: &str) {
        if let Some(t) = self.tracked.as_mut()
            && t.module != hash
        {
            t.module = hash.to_string();
            let hash = t.module.clone();
            self.server.sessions.update(t.id, |s| s.module = hash);
        }
    }
}

impl Drop for ConnHost {
    fn drop(&mut self) {
        if let Some(t) = self.tracked.take() {
            metrics().session_state(Some(t.published), None);
            self.server.sessions.remove(t.id);
        }
    }
}

/// `log/<user>/<service>-<pid>`, appended, only when `log/<user>/` exists
/// (cyrus-compat 2.5).
fn open_telemetry(server: &Server, user: &str) -> Option<std::fs::File> {
    let dir = format!("log/{user}");
    if !server.config_dir.is_dir(&dir) {
        return None;
    }
    let name = format!("{dir}/{}-{}", server.service, std::process::id());
    let mut opts = cap_std::fs::OpenOptions::new();
    opts.create(true).append(true);
    let f = server.config_dir.open_with(&name, &opts).ok()?;
    let mut f = f.into_std();
    // Ten dashes, the user, ctime's text (which ends in a newline), and a
    // blank line.
    let _ = writeln!(f, "---------- {user} {}", ctime_now());
    Some(f)
}

fn ctime_now() -> String {
    let t = unsafe { libc::time(std::ptr::null_mut()) };
    let mut buf = [0u8; 64];
    // SAFETY: ctime_r writes at most 26 bytes into a buffer of 64.
    let p = unsafe { libc::ctime_r(&t, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return "\n".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl ConnHost {
    fn new(
        server: Arc<Server>,
        peer: &str,
        tls: Option<Arc<TlsInfo>>,
        session_id: &str,
    ) -> ConnHost {
        ConnHost {
            server,
            peer: peer.to_string(),
            user: None,
            telemetry: None,
            preauth: None,
            login_record: None,
            mail_dir: None,
            locks: Default::default(),
            tls,
            sasl: None,
            session_id: session_id.to_string(),
            client: None,
            cpu: Default::default(),
            tracked: None,
            shares: Vec::new(),
            share_dirs: Vec::new(),
            shares_stamp: None,
            listener_domain: None,
            seat: None,
        }
    }

    /// The logged-in user's tenant.
    fn tenant(&self) -> Option<&Arc<crate::tenant::Tenant>> {
        self.seat.as_ref().map(|s| s.tenant())
    }

    /// The logged-in user as its guest and its tenant's files name it:
    /// without the domain.
    fn local_user(&self) -> Option<&str> {
        let user = self.user.as_deref()?;
        Some(self.server.options.domains.split(user).0)
    }

    /// A user an administrator's guest names: within the session's own
    /// tenant, except that a global administrator (of the default domain,
    /// with virtual domains) names other domains' users as
    /// `bob@example.com`. Their tenant and name there.
    fn named_user(&self, user: &str) -> Result<(Arc<crate::tenant::Tenant>, String), String> {
        let own = self.tenant().cloned().ok_or("not logged in")?;
        let domains = &self.server.options.domains;
        match user.rsplit_once('@') {
            Some((local, domain)) if domains.enabled() && own.domain.is_none() => {
                let canonical = domains
                    .canonical(&format!("{local}@{domain}"), None)
                    .ok_or_else(|| format!("no such user: {user:?}"))?;
                let (local, domain) = domains.split(&canonical);
                let tenant = self
                    .server
                    .tenants
                    .get(domain)
                    .map_err(|e| format!("{e:#}"))?;
                Ok((tenant, local.to_string()))
            }
            _ => Ok((own, user.to_string())),
        }
    }

    /// The logged-in user's mail tree, opened again (at a hibernated
    /// session's wake or move).
    fn open_own_tree(&self) -> Result<cap_std::fs::Dir> {
        let user = self.local_user().ok_or_else(|| anyhow!("not logged in"))?;
        open_tree(self.tenant_partition(), user)
    }

    /// The tenant's partition: where its users' trees are.
    fn tenant_partition(&self) -> &cap_std::fs::Dir {
        self.tenant()
            .map_or(&self.server.partition, |t| &t.partition)
    }

    /// The tenant's state directory: its quota roots and share index.
    fn tenant_config_dir(&self) -> std::path::PathBuf {
        self.tenant()
            .map_or(&self.server.options.config_dir, |t| &t.config_dir)
            .clone()
    }

    /// Reads the shares of this user again if the share index changed
    /// since they were read (or `force`); true if they differ from those
    /// the instance has (then it must be made again: its preopens are
    /// fixed at instantiation).
    pub(crate) async fn refresh_shares(&mut self, force: bool) -> bool {
        let Some(user) = self.local_user().map(str::to_string) else {
            return false;
        };
        let config_dir = self.tenant_config_dir();
        let stamp = crate::shares::stamp(&config_dir);
        if !force && stamp == self.shares_stamp && crate::shares::settled(stamp) {
            return false;
        }
        let Ok(partition) = self.tenant_partition().try_clone() else {
            return false;
        };
        let read = tokio::task::spawn_blocking(move || {
            let all = crate::shares::for_user(&config_dir, &user);
            crate::shares::open(&partition, all)
        })
        .await;
        let Ok((listed, opened)) = read else {
            return false;
        };
        self.shares_stamp = stamp;
        let changed = listed != self.shares;
        self.shares = listed;
        self.share_dirs = opened;
        changed
    }

    /// The share `owner`/`dir`, if the instance has its directory.
    fn opened_share(&self, owner: &str, dir: &str) -> Option<&crate::shares::Opened> {
        self.share_dirs
            .iter()
            .find(|o| o.share.owner == owner && o.share.dir == dir)
    }

    /// The host of a client's session: counted in the metrics and listed
    /// by `imapd status` until it is dropped.
    fn for_client(
        server: Arc<Server>,
        peer: &str,
        tls: Option<Arc<TlsInfo>>,
        session_id: &str,
        preauth: Option<preauth::PreauthSlot>,
    ) -> ConnHost {
        let mut host = ConnHost::new(server, peer, tls, session_id);
        host.preauth = preauth;
        let id = host.server.next_serial();
        let now = crate::ops::status::epoch_secs();
        host.server.sessions.insert(SessionReport {
            id,
            peer: peer.to_string(),
            user: None,
            state: SessionState::Preauth,
            module: String::new(),
            since: now,
            state_since: now,
        });
        metrics().session_state(None, Some(SessionState::Preauth));
        host.tracked = Some(Tracked {
            id,
            published: SessionState::Preauth,
            selected: false,
            idle: false,
            asleep: false,
            module: String::new(),
        });
        host
    }

    /// The host of a trial session (a new module must greet before it
    /// gets real sessions): no peer, no user.
    pub fn trial(server: Arc<Server>) -> ConnHost {
        ConnHost::new(server, "trial session", None, "trial")
    }

    /// Look the client's name up, once per connection.
    async fn resolve_client(&mut self) {
        if self.client.is_none() {
            self.client = Some(crate::net::client_host_soon(self.peer.clone()).await);
        }
    }

    /// The client as log lines name it: `localhost [127.0.0.1]`, or
    /// `[127.0.0.1]` before the lookup.
    fn client(&self) -> String {
        self.client
            .clone()
            .unwrap_or_else(|| crate::net::client_without_name(&self.peer))
    }

    /// `+TLS` after the mechanism in login lines, as Cyrus writes it.
    fn tls_mark(&self) -> &'static str {
        if self.tls.is_some() { "+TLS" } else { "" }
    }

    /// Cyrus's failed-login line, the one fail2ban's `cyrus-imap` filter
    /// reads: `badlogin: <client> <mech> (<user>) [SASL(-13): <why>]`.
    /// The user name is the client's text: cleaned, never a password.
    fn log_badlogin(&self, mech: &str, user: &str, why: &str) {
        let client = self.client();
        let user = crate::ops::log::clean(user);
        crate::syslog!(
            Notice,
            "badlogin: {client} {mech} ({user}) [SASL(-13): {why}]"
        );
    }

    /// `USAGE <user> user: <s.us> sys: <s.us>` at LOGOUT (cyrus-compat
    /// 2.5): the CPU time of this session's guest calls. (Cyrus reports its
    /// process's; here a process may serve many sessions.)
    fn log_usage(&self) {
        if let Some(user) = &self.user {
            let (u, s) = self.cpu;
            crate::syslog!(
                Notice,
                "USAGE {user} user: {}.{:06} sys: {}.{:06}",
                u.as_secs(),
                u.subsec_micros(),
                s.as_secs(),
                s.subsec_micros()
            );
        }
    }

    /// The session entered or left IDLE (with its instance).
    fn set_idle(&mut self, idle: bool) {
        if let Some(t) = self.tracked.as_mut() {
            t.idle = idle;
        }
        self.publish_state();
    }

    /// The session was hibernated, or woken.
    fn set_asleep(&mut self, asleep: bool) {
        if let Some(t) = self.tracked.as_mut() {
            t.asleep = asleep;
        }
        if let Some(seat) = self.seat.as_mut() {
            seat.set_asleep(asleep);
        }
        self.publish_state();
    }

    /// Tell the metrics and the live session table the session's state,
    /// when it changed.
    fn publish_state(&mut self) {
        let logged_in = self.user.is_some();
        let Some(t) = self.tracked.as_mut() else {
            return;
        };
        let state = if !logged_in {
            SessionState::Preauth
        } else if t.asleep {
            SessionState::Hibernated
        } else if t.idle {
            SessionState::Idle
        } else if t.selected {
            SessionState::Selected
        } else {
            SessionState::Authenticated
        };
        if state == t.published {
            return;
        }
        metrics().session_state(Some(t.published), Some(state));
        t.published = state;
        let user = self.user.clone();
        self.server.sessions.update(t.id, |s| {
            s.state = state;
            s.user = user;
            s.state_since = crate::ops::status::epoch_secs();
        });
    }

    /// The host verified `name` (by password, SCRAM or certificate):
    /// apply the login limits, register the session, open its telemetry
    /// and remember the user for promotion.
    async fn logged_in(&mut self, name: String, label: &str) -> Result<String, AuthError> {
        let mech = cyrus_mech(label);
        let server = self.server.clone();
        let host = crate::registry::peer_host(&self.peer).to_string();
        if let Some(text) = login_limit(&server, &name, &host) {
            metrics().login(label, LoginResult::Refused);
            crate::syslog!(Notice, "login refused: {} {name}: {text}", self.client());
            return Err(AuthError::Refused(text));
        }
        let tenant = match server.tenants.of_user(&name) {
            Ok((tenant, _)) => tenant,
            Err(e) => {
                metrics().login(label, LoginResult::Unavailable);
                crate::syslog!(Err, "login of {name}: {e:#}");
                return Err(AuthError::Unavailable(
                    "The mail store is unavailable, try again later".into(),
                ));
            }
        };
        let seat = match take_seat(&tenant).await {
            Ok(seat) => seat,
            Err(why) => {
                metrics().login(label, LoginResult::Refused);
                crate::syslog!(
                    Notice,
                    "login refused: {} {name}: tenant {}: {why}",
                    self.client(),
                    tenant.name()
                );
                return Err(AuthError::Refused(format!(
                    "[UNAVAILABLE] Try again later: {why}"
                )));
            }
        };
        let serial = server.next_serial();
        match server
            .registry
            .register(&server.config_dir, serial, &name, &host)
        {
            Ok(r) => self.login_record = Some(r),
            Err(e) => crate::syslog!(Err, "{e:#}"),
        }
        // Cyrus's line (imap/imapd.c cmd_login, cmd_authenticate).
        crate::syslog!(
            Notice,
            "login: {} {name} {mech}{} User logged in SESSIONID=<{}>",
            self.client(),
            self.tls_mark(),
            self.session_id
        );
        self.telemetry = open_telemetry(&server, &name);
        self.user = Some(name.clone());
        self.seat = Some(seat);
        self.preauth = None;
        metrics().login(label, LoginResult::Success);
        self.publish_state();
        // The guest knows its user within the domain, as the domain's
        // files name it.
        Ok(self.local_user().unwrap_or(&name).to_string())
    }

    /// `tenant_login_rate`: a login of `user` (canonical) is about to be
    /// checked.
    fn meter_login(&self, user: &str, label: &str) -> Result<(), AuthError> {
        if user.is_empty() {
            return Ok(());
        }
        let (_, domain) = self.server.options.domains.split(user);
        let Ok(tenant) = self.server.tenants.get(domain) else {
            return Ok(());
        };
        tenant.usage.try_login().map_err(|why| {
            metrics().login(label, LoginResult::Refused);
            crate::syslog!(
                Notice,
                "login refused: {} {}: tenant {}: {why}",
                self.client(),
                crate::ops::log::clean(user),
                tenant.name()
            );
            AuthError::Refused(format!("[UNAVAILABLE] Try again later: {why}"))
        })
    }

    /// A name the guest gave (a user of this session's domain) as the host
    /// names it, with the domain.
    fn qualified(&self, local: &str) -> String {
        match self.tenant().and_then(|t| t.domain.as_deref()) {
            Some(d) => format!("{local}@{d}"),
            None => local.to_string(),
        }
    }

    /// A host-run SASL step as the guest sees it; logins and failures are
    /// logged as for passwords.
    async fn sasl_reply(&mut self, step: SaslStep, mech: &str) -> SaslReply {
        match step {
            SaslStep::Challenge(data) => SaslReply::Challenge(data),
            SaslStep::Success(name) => {
                let label = format!("AUTH={mech}");
                if let Err(e) = self.meter_login(&name, &label) {
                    return SaslReply::Failure(e);
                }
                match self.logged_in(name, &label).await {
                    Ok(name) => SaslReply::Success(name),
                    Err(e) => SaslReply::Failure(e),
                }
            }
            SaslStep::Failure { user, why } => {
                metrics().login(&format!("AUTH={mech}"), LoginResult::Failure);
                self.log_badlogin(mech, &user, &format!("authentication failure: {why}"));
                SaslReply::Failure(AuthError::BadCredentials)
            }
            SaslStep::Unavailable(why) => {
                metrics().login(&format!("AUTH={mech}"), LoginResult::Unavailable);
                crate::syslog!(Err, "password check failed: {why}");
                SaslReply::Failure(AuthError::Unavailable(
                    "Password check is unavailable, try again later".into(),
                ))
            }
        }
    }

    /// UNAUTHENTICATE (rfc8437): forget the user as if the connection had
    /// just been made. The proc registry entry goes (so `maxlogins_*`
    /// counts the next login afresh), and so does the telemetry file: the
    /// next LOGIN line, password and all, must not land in this user's
    /// log (cyrus-compat 2.5). The tree and any mailbox lock are released.
    fn forget_user(&mut self) {
        if let Some(user) = self.user.take() {
            crate::syslog!(Notice, "unauthenticate: {} {user}", self.client());
        }
        self.login_record = None;
        self.telemetry = None;
        self.seat = None;
        self.mail_dir = None;
        self.locks = Default::default();
        self.shares.clear();
        self.share_dirs.clear();
        self.shares_stamp = None;
        if let Some(t) = self.tracked.as_mut() {
            t.selected = false;
        }
        self.publish_state();
    }

    fn record(&mut self, dir: char, data: &[u8]) {
        if let Some(f) = &mut self.telemetry {
            if data.is_empty() {
                return;
            }
            let mut line = format!("{dir}{}{dir}", epoch_secs()).into_bytes();
            line.extend_from_slice(data);
            let _ = f.write_all(&line);
        }
    }
}

/// Serve one connection to its end. Errors are logged, never propagated:
/// whatever happens to one session, the process and its other sessions
/// carry on.
pub async fn serve(
    server: Arc<Server>,
    io: Box<dyn Io>,
    peer: String,
    local: Option<std::net::SocketAddr>,
    implicit_tls: bool,
) {
    let _open = metrics().connection();
    if let Err(e) = serve_inner(&server, io, &peer, local, implicit_tls).await {
        crate::syslog!(Err, "{peer}: session ended: {e:#}");
    }
}

/// A read error from the client. Most clients close a TLS connection
/// without close_notify, and some reset it: those are ordinary ends of a
/// session, logged at info level in one line; anything else is an error.
fn client_gone(peer: &str, e: std::io::Error) -> Result<()> {
    use std::io::ErrorKind;
    let how = match e.kind() {
        ErrorKind::UnexpectedEof => "closed the connection without TLS close_notify",
        ErrorKind::ConnectionReset => "reset the connection",
        _ => return Err(anyhow!(e).context("reading from the client")),
    };
    crate::syslog!(Info, "{peer}: client {how}");
    Ok(())
}

/// The byte stream to the client with its layers: the transport (TCP,
/// TLS over TCP, stdin/stdout) and, once the client asked, DEFLATE on top
/// (rfc4978 3: compress first, then encrypt).
struct Conn {
    io: Box<dyn Io>,
    /// What the TLS handshake told; `None` outside TLS.
    tls: Option<Arc<TlsInfo>>,
    deflate: Option<Deflate>,
    /// How long output may wait for the client to read it (imapd.conf
    /// `timeout`, the autologout time): a client that stops reading would
    /// otherwise hold its session, guest instance and all, for ever.
    write_timeout: Duration,
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = match this.deflate.as_mut() {
            Some(d) => d.poll_read(&mut this.io, cx, buf),
            None => Pin::new(&mut this.io).poll_read(cx, buf),
        };
        metrics().bytes_in(buf.filled().len().saturating_sub(before));
        r
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = match this.deflate.as_mut() {
            Some(d) => d.poll_write(&mut this.io, cx, data),
            None => Pin::new(&mut this.io).poll_write(cx, data),
        };
        if let Poll::Ready(Ok(n)) = r {
            metrics().bytes_out(n);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match this.deflate.as_mut() {
            Some(d) => d.poll_flush(&mut this.io, cx),
            None => Pin::new(&mut this.io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match this.deflate.as_mut() {
            Some(d) => d.poll_shutdown(&mut this.io, cx),
            None => Pin::new(&mut this.io).poll_shutdown(cx),
        }
    }
}

impl Conn {
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        if !data.is_empty() {
            tokio::time::timeout(self.write_timeout, self.write_all(data))
                .await
                .map_err(|_| self.stalled())?
                .context("writing to the client")?;
        }
        Ok(())
    }

    /// Flush what the layers hold, within the write timeout.
    async fn flush_out(&mut self) -> Result<()> {
        tokio::time::timeout(self.write_timeout, self.flush())
            .await
            .map_err(|_| self.stalled())?
            .context("writing to the client")
    }

    /// End the stream (TLS close_notify, DEFLATE's end), within the write
    /// timeout; errors do not matter any more.
    async fn close(&mut self) {
        let _ = tokio::time::timeout(self.write_timeout, self.shutdown()).await;
    }

    fn stalled(&self) -> anyhow::Error {
        anyhow!(
            "the client read none of its output for {} s",
            self.write_timeout.as_secs()
        )
    }

    async fn start_tls(mut self, server: &Server) -> Result<Conn> {
        let tls = server
            .tls
            .clone()
            .ok_or_else(|| anyhow!("TLS requested but not configured"))?;
        if self.deflate.is_some() {
            // rfc4978 3: TLS goes under COMPRESS; the guest never asks.
            return Err(anyhow!("STARTTLS requested inside COMPRESS"));
        }
        let _ = tokio::time::timeout(self.write_timeout, self.io.flush()).await;
        let write_timeout = self.write_timeout;
        let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor.accept(self.io))
            .await
            .map_err(|_| anyhow!("TLS handshake timed out"))?
            .context("TLS negotiation failed")?;
        let info = TlsInfo::of(stream.get_ref().1, &tls, server.wants_channel_binding());
        Ok(Conn {
            io: Box::new(stream),
            tls: Some(Arc::new(info)),
            deflate: None,
            write_timeout,
        })
    }
}

async fn serve_inner(
    server: &Arc<Server>,
    io: Box<dyn Io>,
    peer: &str,
    local: Option<std::net::SocketAddr>,
    implicit_tls: bool,
) -> Result<()> {
    let mut conn = Conn {
        io,
        tls: None,
        deflate: None,
        write_timeout: server.options.timeout,
    };
    // Before the TLS handshake, which is itself work a client makes us do.
    let ip = crate::registry::peer_host(peer)
        .parse::<std::net::IpAddr>()
        .ok();
    let preauth = match (ip, server.options.max_preauth_per_host) {
        (Some(ip), Some(limit)) => {
            match server.preauth.claim(ip, limit) {
                Some(slot) => Some(slot),
                None => {
                    preauth::log_refused(ip, limit);
                    if !implicit_tls {
                        let _ = conn
                        .write(b"* BYE Too many connections from your address waiting to log in\r\n")
                        .await;
                    }
                    conn.close().await;
                    return Ok(());
                }
            }
        }
        _ => None,
    };
    if implicit_tls {
        conn = conn.start_tls(server).await?;
    }
    // A plain connection takes a spare session when there is one (its
    // greeting is ready), and has the spares topped up meanwhile (on
    // another thread: started after the greeting's write, the next
    // connection of a client that reconnects at once finds none).
    let spare = match conn.tls {
        None => {
            let spare = server.spares.take(server);
            spare::Spares::replenish(server);
            spare
        }
        Some(_) => None,
    };
    let session_id = match &spare {
        Some(s) => s.session_id.clone(),
        None => server.new_session_id(),
    };
    let mut host =
        ConnHost::for_client(server.clone(), peer, conn.tls.clone(), &session_id, preauth);
    host.listener_domain = server.options.domains.for_listener(local);
    let started = match spare {
        Some(spare) => {
            let mut session = spare.session;
            drop(session.adopt(host));
            Ok((session, spare.greeting))
        }
        None => {
            let settings = server.settings(&session_id, conn.tls.as_deref());
            server.engine.start(host, &settings).await
        }
    };
    let (mut session, greeting) = match started {
        Ok(s) => s,
        Err(e) => {
            let _ = conn
                .write(b"* BYE Server busy or unavailable, try again later\r\n")
                .await;
            conn.close().await;
            return Err(e.context("starting a session"));
        }
    };
    let mut step = greeting;
    let mut buf = vec![0u8; READ_BUFFER];
    // Installs of a new guest module: the session moves between commands.
    let mut swaps = Swaps {
        installs: server.engine.subscribe(),
        slots: server.engine.move_slots(),
        pending: false,
        pressure: server.engine.pressure(),
        tenant_pressure: None,
    };
    // The user's mail tree once logged in, and the IDLE watch on it.
    // Shared with the session's host services: one descriptor, not two.
    let mut mail_dir: Option<Arc<cap_std::fs::Dir>> = None;
    let mut quota_guard = crate::quota::Guard::default();
    let mut login_deadline = server.options.login_timeout.map(|d| Instant::now() + d);
    let mut watch: Option<IdleWatch> = None;
    // The deadlines of the IDLE in progress.
    let mut idle: Option<IdleTimers> = None;
    'session: loop {
        // Write everything the guest has, then act on what it asked for.
        let action = match drain(&mut session, &mut conn, step).await {
            Ok(a) => a,
            Err(e) => return guest_failed(&mut conn, peer, e).await,
        };
        if !matches!(action, Action::Idle(_)) {
            watch = None;
            idle = None;
        }
        session.host().set_idle(matches!(action, Action::Idle(_)));
        match action {
            Action::None => {}
            Action::Idle(path) => {
                if watch.as_ref().is_none_or(|w| w.path != path) {
                    // A mailbox another user shares: `shared/<owner>/<dir>`,
                    // watched through the directory the host opened for it.
                    let made = match path.strip_prefix(SHARED_PREFIX) {
                        Some(rest) => {
                            let (owner, dir) = rest.split_once('/').unwrap_or((rest, ""));
                            session
                                .host()
                                .opened_share(owner, dir)
                                .map(|o| IdleWatch::new(&o.dir, ""))
                        }
                        None => mail_dir.as_ref().map(|d| IdleWatch::new(d, &path)),
                    };
                    watch = match made {
                        Some(Ok(mut w)) => {
                            w.path = path.clone();
                            Some(w)
                        }
                        Some(Err(e)) => {
                            // Without a watch, IDLE still works by polling.
                            crate::syslog!(Err, "{peer}: {e:#}");
                            None
                        }
                        None => None,
                    };
                }
                if idle.is_none() {
                    idle = Some(IdleTimers::new(&server.options, mail_dir.is_some()));
                }
            }
            Action::Close => {
                session.host().log_usage();
                let _ = conn.flush_out().await;
                // Free the instance (pool slot, login record, locks) before
                // the client sees the end: one that reconnects at once
                // after LOGOUT must find them free.
                drop(session);
                conn.close().await;
                return Ok(());
            }
            Action::StartTls => {
                // Anything the client sent after STARTTLS was dropped by the
                // guest; bytes still in the socket are read by rustls as
                // (bogus) TLS records and fail the handshake (rfc2595 3.1).
                conn = conn.start_tls(server).await?;
                session.host().tls = conn.tls.clone();
                let settings = server.settings(&session_id, conn.tls.as_deref());
                session = match server
                    .engine
                    .reinstantiate(session, None, None, &settings)
                    .await
                {
                    Ok(s) => s,
                    Err(e) => return guest_failed(&mut conn, peer, e).await,
                };
                step = empty_step();
                continue;
            }
            Action::StartCompress => {
                // The tagged OK went out uncompressed; everything after it
                // is compressed (rfc4978 3). Input the client sent before
                // seeing the OK was dropped by the guest.
                if conn.deflate.is_none() {
                    let _ = conn.flush_out().await;
                    conn.deflate = Some(Deflate::new());
                }
            }
            Action::Promote => {
                session = match promote(server, session, &session_id, conn.tls.as_deref()).await {
                    Ok((mut s, dir)) => {
                        mail_dir = Some(dir);
                        swaps.tenant_pressure = s.host().tenant().map(|t| t.usage.pressure.clone());
                        s
                    }
                    Err(e) => return guest_failed(&mut conn, peer, e).await,
                };
                if let Some(msg) = shutdown_applies(server, session.host()) {
                    return shutdown(&mut conn, session.host(), &msg).await;
                }
                // The post-auth guest continues with input the client
                // pipelined after its LOGIN.
                step = match session.feed(&[]).await {
                    Ok(s) => s,
                    Err(e) => return guest_failed(&mut conn, peer, e).await,
                };
                continue;
            }
            Action::Demote => {
                session = match demote(server, session, &session_id, conn.tls.as_deref()).await {
                    Ok(s) => s,
                    Err(e) => return guest_failed(&mut conn, peer, e).await,
                };
                mail_dir = None;
                swaps.tenant_pressure = None;
                login_deadline = server.options.login_timeout.map(|d| Instant::now() + d);
                // The pre-auth guest continues with input the client
                // pipelined after UNAUTHENTICATE (rfc8437 3).
                step = match session.feed(&[]).await {
                    Ok(s) => s,
                    Err(e) => return guest_failed(&mut conn, peer, e).await,
                };
                continue;
            }
        }
        let _ = conn.flush_out().await;
        // Wait for client input; during IDLE also for a change, the poll
        // interval, the keepalive and the time to hibernate.
        let autologout_at = Instant::now() + server.options.timeout;
        let n = loop {
            // Before login the whole of it is bounded, not only each read.
            let deadline = login_deadline.filter(|_| mail_dir.is_none());
            let waited = wait(
                &mut conn,
                &mut buf,
                watch.as_mut(),
                idle.as_ref(),
                &mut swaps,
                autologout_at,
                deadline,
            )
            .await;
            match waited {
                Wake::Read(Ok(0)) => return Ok(()),
                Wake::Read(Ok(n)) => break n,
                Wake::Read(Err(e)) => return client_gone(peer, e),
                Wake::Timeout => return autologout(&mut conn).await,
                Wake::LoginTimeout => {
                    let _ = conn.write(b"* BYE Login took too long\r\n").await;
                    conn.close().await;
                    return Ok(());
                }
                Wake::Keepalive => {
                    keepalive(&mut conn).await?;
                    if let Some(t) = idle.as_mut() {
                        t.kept_alive(&server.options);
                    }
                }
                Wake::Changed | Wake::PollDue => {
                    // msg/shutdown is noticed during IDLE too (cyrus-compat 2.4).
                    if let Some(msg) = shutdown_applies(server, session.host()) {
                        return shutdown(&mut conn, session.host(), &msg).await;
                    }
                    if let Some(t) = idle.as_mut() {
                        t.polled(&server.options);
                    }
                    step = match session.poll().await {
                        Ok(s) => s,
                        Err(e) => return guest_failed(&mut conn, peer, e).await,
                    };
                    continue 'session;
                }
                Wake::Swap => swaps.pending = session.on_old_module(&server.engine),
                Wake::MoveSlot(_turn) => {
                    swaps.pending = false;
                    session = match move_session(
                        server,
                        session,
                        conn.tls.as_deref(),
                        mail_dir.as_deref(),
                        &session_id,
                    )
                    .await
                    {
                        Ok(s) => s,
                        Err(e) => return guest_failed(&mut conn, peer, e).await,
                    };
                }
                Wake::Hibernate => {
                    let Some(timers) = idle.as_mut() else {
                        continue;
                    };
                    if mail_dir.is_none() {
                        // Only a logged-in session can be restored.
                        timers.hibernate = None;
                        continue;
                    }
                    let mut asleep = Asleep {
                        server,
                        peer,
                        session_id: &session_id,
                        mail_dir: &mut mail_dir,
                    };
                    let (s, resume) = match asleep
                        .hibernate(
                            session,
                            &mut conn,
                            &mut buf,
                            watch.as_mut(),
                            timers,
                            &mut swaps,
                        )
                        .await?
                    {
                        Some(woken) => woken,
                        // The connection ended while hibernated.
                        None => return Ok(()),
                    };
                    session = s;
                    match resume {
                        Resume::Input(n) => break n,
                        Resume::Changed => {
                            step = match session.poll().await {
                                Ok(s) => s,
                                Err(e) => return guest_failed(&mut conn, peer, e).await,
                            };
                            continue 'session;
                        }
                    }
                }
            }
        };
        // Client input ends this IDLE's deadlines; they start again if the
        // guest stays in IDLE.
        idle = None;
        session.host().record('<', &buf[..n]);
        // msg/shutdown is checked before each command once a non-admin
        // user is logged in (cyrus-compat 2.4).
        if let Some(msg) = shutdown_applies(server, session.host()) {
            return shutdown(&mut conn, session.host(), &msg).await;
        }
        // The host's own check that the user's tree keeps its quota.
        if let (Some(tree), Some(user), true) = (
            mail_dir.clone(),
            session.host().local_user().map(str::to_string),
            quota_guard.due(std::time::Instant::now()),
        ) {
            let dir = session.host().tenant_config_dir();
            let mut guard = std::mem::take(&mut quota_guard);
            let (guard, verdict) = tokio::task::spawn_blocking(move || {
                let verdict = guard.check(&dir, &tree, &user, std::time::Instant::now());
                (guard, verdict)
            })
            .await
            .unwrap_or_default();
            quota_guard = guard;
            if let Some(why) = verdict {
                crate::syslog!(Warning, "{peer} session ended: {why}");
                let _ = conn.write(b"* BYE Over quota\r\n").await;
                conn.close().await;
                return Ok(());
            }
        }
        // rfc4314 sharing: an ACL changed so that this user's shares
        // differ; the instance is made again with the new preopens
        // (a share revoked is gone before this command runs).
        if mail_dir.is_some() && session.host().refresh_shares(false).await {
            let settings = server.settings(&session_id, conn.tls.as_deref());
            session = match server
                .engine
                .reinstantiate(session, None, mail_dir.as_deref(), &settings)
                .await
                .context("moving the session to its new shares")
            {
                Ok(s) => s,
                Err(e) => return guest_failed(&mut conn, peer, e).await,
            };
        }
        // A command boundary: the session moves to a new guest module
        // before its next command if one was installed.
        server.check_module_soon();
        swaps.pending = false;
        session = match move_session(
            server,
            session,
            conn.tls.as_deref(),
            mail_dir.as_deref(),
            &session_id,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => return guest_failed(&mut conn, peer, e).await,
        };
        step = match session.feed(&buf[..n]).await {
            Ok(s) => s,
            Err(e) => return guest_failed(&mut conn, peer, e).await,
        };
    }
}

/// Hot swap: move a session that waits for its client to the current
/// guest module (when it is on another one that it has not been refused
/// by). Its state goes by snapshot, as at promotion.
async fn move_session(
    server: &Server,
    session: GuestSession<ConnHost>,
    tls: Option<&TlsInfo>,
    mail_dir: Option<&cap_std::fs::Dir>,
    session_id: &str,
) -> Result<GuestSession<ConnHost>> {
    if !session.on_old_module(&server.engine) {
        return Ok(session);
    }
    let settings = server.settings(session_id, tls);
    let (session, _) = server
        .engine
        .move_session(session, mail_dir, &settings)
        .await
        .context("moving the session to the new guest module")?;
    Ok(session)
}

/// The shutdown message, when one exists and the user is not an admin.
fn shutdown_applies(server: &Server, host: &ConnHost) -> Option<String> {
    let user = host.user.as_deref()?;
    if server.is_admin(user) {
        return None;
    }
    server.shutdown_message()
}

enum Wake {
    Read(std::io::Result<usize>),
    /// No input for the autologout time.
    Timeout,
    /// Not logged in within `login_timeout`.
    LoginTimeout,
    /// Time for `* OK Still here` (IDLE only).
    Keepalive,
    /// The watched mailbox changed (IDLE only).
    Changed,
    /// The IDLE poll interval passed.
    PollDue,
    /// Time to reduce the idling session to its snapshot.
    Hibernate,
    /// A new guest module was installed.
    Swap,
    /// This session's turn to move to it.
    MoveSlot(tokio::sync::OwnedSemaphorePermit),
}

/// A session's view of guest module installs: whether it has one to move
/// to, and the turns to do so while it waits for its client (a session
/// with a command to answer moves at once, without a turn).
struct Swaps {
    installs: tokio::sync::watch::Receiver<u64>,
    slots: Arc<tokio::sync::Semaphore>,
    pending: bool,
    /// A new connection waits for a pool slot: a session in IDLE that can
    /// hibernate does so at once.
    pressure: Arc<tokio::sync::Notify>,
    /// The same, for a login of this session's tenant at `tenant_maxawake`.
    tenant_pressure: Option<Arc<tokio::sync::Notify>>,
}

/// The deadlines of one IDLE. They are kept across wake-ups, so a
/// keepalive, a change or a poll does not postpone the others (nor the
/// autologout).
struct IdleTimers {
    keepalive: Option<Instant>,
    poll: Option<Instant>,
    timeout: Option<Instant>,
    /// When to hibernate; `None` while hibernated, or when not enabled.
    hibernate: Option<Instant>,
}

fn after(d: Option<Duration>) -> Option<Instant> {
    d.and_then(|d| Instant::now().checked_add(d))
}

impl IdleTimers {
    fn new(o: &Options, can_hibernate: bool) -> IdleTimers {
        IdleTimers {
            keepalive: after(o.idle_keepalive),
            poll: after(o.idle_poll),
            timeout: after(Some(o.idle_timeout)),
            hibernate: after(o.idle_hibernate.filter(|_| can_hibernate)),
        }
    }

    fn kept_alive(&mut self, o: &Options) {
        self.keepalive = after(o.idle_keepalive);
    }

    fn polled(&mut self, o: &Options) {
        self.poll = after(o.idle_poll);
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Wait for client input (until `autologout_at`, outside IDLE); during
/// IDLE also for a change in the watched mailbox and the IDLE deadlines:
/// poll interval (`imapidlepoll`, which also covers a mailbox we could not
/// watch), keepalive, hibernation and autologout. Always for the install
/// of a new guest module.
async fn wait(
    conn: &mut Conn,
    buf: &mut [u8],
    watch: Option<&mut IdleWatch>,
    idle: Option<&IdleTimers>,
    swaps: &mut Swaps,
    autologout_at: Instant,
    login_deadline: Option<Instant>,
) -> Wake {
    let changed = async {
        match watch {
            Some(w) => w.changed().await,
            None => std::future::pending().await,
        }
    };
    let timeout = match idle {
        Some(t) => t.timeout,
        None => Some(autologout_at),
    };
    let tenant_pressure = async {
        match &swaps.tenant_pressure {
            Some(p) => p.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = conn.read(buf) => Wake::Read(r),
        _ = changed => Wake::Changed,
        Ok(()) = swaps.installs.changed() => Wake::Swap,
        Ok(turn) = swaps.slots.clone().acquire_owned(), if swaps.pending => Wake::MoveSlot(turn),
        _ = sleep_until(idle.and_then(|t| t.poll)) => Wake::PollDue,
        _ = sleep_until(idle.and_then(|t| t.keepalive)) => Wake::Keepalive,
        _ = sleep_until(idle.and_then(|t| t.hibernate)) => Wake::Hibernate,
        _ = swaps.pressure.notified(), if idle.is_some_and(|t| t.hibernate.is_some()) => {
            Wake::Hibernate
        }
        _ = tenant_pressure, if idle.is_some_and(|t| t.hibernate.is_some()) => Wake::Hibernate,
        _ = sleep_until(timeout) => Wake::Timeout,
        _ = sleep_until(login_deadline) => Wake::LoginTimeout,
    }
}

async fn keepalive(conn: &mut Conn) -> Result<()> {
    conn.write(b"* OK Still here\r\n").await?;
    conn.flush_out().await
}

async fn autologout(conn: &mut Conn) -> Result<()> {
    let _ = conn.write(b"* BYE idle for too long\r\n").await;
    conn.close().await;
    Ok(())
}

/// Give the memory of hibernated sessions' instances back to the kernel.
/// malloc keeps freed memory for reuse and returns only the top of each
/// arena by itself, so without this a process's resident size stays at
/// its high-water mark however many sessions sleep. Coalesced: one trim a
/// second at most, shortly after a burst of hibernations (measured with
/// 1,000 sleeping sessions: about 41 KiB per session without, 22 with).
fn release_memory_soon() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static SCHEDULED: AtomicBool = AtomicBool::new(false);
        if SCHEDULED.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            SCHEDULED.store(false, Ordering::Release);
            // SAFETY: malloc_trim only returns free pages to the kernel.
            let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        });
    }
}

/// Why a hibernated session was woken.
enum Resume {
    /// This many bytes of client input are in the read buffer.
    Input(usize),
    /// The mailbox changed (or, unwatched, the poll interval passed).
    Changed,
}

/// What a session needs to hibernate and wake again.
struct Asleep<'a> {
    server: &'a Server,
    peer: &'a str,
    session_id: &'a str,
    /// The user's tree: the wakened instance's only preopen. Closed while
    /// the session sleeps (so a hibernated session holds one descriptor,
    /// its socket) and opened again to wake it or move it.
    mail_dir: &'a mut Option<Arc<cap_std::fs::Dir>>,
}

/// While hibernated the client is read a little at a time into a buffer
/// this small (the first input wakes the session anyway).
const ASLEEP_READ: usize = 512;

impl Asleep<'_> {
    /// Hibernation: reduce an idling session to its snapshot and free its
    /// instance (and the read buffer); keep the socket, the watch, the
    /// keepalive, the poll interval, msg/shutdown and the autologout going
    /// as before; on client input or a change, restore the snapshot into a
    /// fresh instance and hand it back. `None`: the connection ended while
    /// the session slept (client gone, autologout, shutdown, or the session
    /// could not be restored, which is logged and told with `* BYE`).
    async fn hibernate(
        &mut self,
        session: GuestSession<ConnHost>,
        conn: &mut Conn,
        buf: &mut Vec<u8>,
        mut watch: Option<&mut IdleWatch>,
        timers: &mut IdleTimers,
        swaps: &mut Swaps,
    ) -> Result<Option<(GuestSession<ConnHost>, Resume)>> {
        let o = &self.server.options;
        let mut asleep = match session.hibernate().await {
            Ok(h) => h,
            Err(e) => {
                guest_failed(conn, self.peer, e).await?;
                return Ok(None);
            }
        };
        metrics().hibernated();
        asleep.host.set_asleep(true);
        asleep.host.mail_dir = None;
        *self.mail_dir = None;
        let compress = match conn.deflate.as_mut() {
            Some(d) => {
                // The compressor and (on a block boundary) the
                // decompressor go too; see compress.rs.
                d.sleep();
                let (deflater, inflater) = d.holds_codecs();
                format!(
                    ", COMPRESS {} bytes{}{}",
                    d.retained_bytes(),
                    if deflater { " + compressor" } else { "" },
                    if inflater { " + decompressor" } else { "" }
                )
            }
            None => String::new(),
        };
        crate::syslog!(
            Info,
            "{}: hibernated ({} bytes of state{compress}; {} instances live)",
            self.peer,
            asleep.snapshot_len(),
            self.server.engine.live_instances()
        );
        timers.hibernate = None;
        *buf = Vec::new();
        release_memory_soon();
        let mut small = vec![0u8; ASLEEP_READ];
        let resume = loop {
            let waited = wait(
                conn,
                &mut small,
                watch.as_deref_mut(),
                Some(timers),
                swaps,
                Instant::now(),
                None,
            )
            .await;
            match waited {
                Wake::Read(Ok(0)) => return Ok(None),
                Wake::Read(Ok(n)) => break Resume::Input(n),
                Wake::Read(Err(e)) => return client_gone(self.peer, e).map(|()| None),
                // A hibernated session is logged in: no login deadline.
                Wake::Timeout | Wake::LoginTimeout => {
                    autologout(conn).await?;
                    return Ok(None);
                }
                Wake::Keepalive => {
                    keepalive(conn).await?;
                    timers.kept_alive(o);
                }
                wake @ (Wake::Changed | Wake::PollDue) => {
                    // msg/shutdown is noticed while hibernated too.
                    if let Some(msg) = shutdown_applies(self.server, &asleep.host) {
                        shutdown(conn, &mut asleep.host, &msg).await?;
                        return Ok(None);
                    }
                    timers.polled(o);
                    // A watched mailbox that did not change needs no guest;
                    // an unwatched one is polled by waking it.
                    if matches!(wake, Wake::Changed) || watch.is_none() {
                        break Resume::Changed;
                    }
                }
                Wake::Swap => swaps.pending = asleep.on_old_module(&self.server.engine),
                Wake::MoveSlot(_turn) => {
                    // A hibernated session moves without waking: restored
                    // into the new module and reduced to its snapshot again.
                    swaps.pending = false;
                    let tree = match asleep.host.open_own_tree() {
                        Ok(t) => t,
                        Err(e) => {
                            // It moves when it wakes instead.
                            crate::syslog!(Err, "{}: {e:#}", self.peer);
                            continue;
                        }
                    };
                    let settings = self.server.settings(self.session_id, conn.tls.as_deref());
                    // The restore locks its mailbox through the host.
                    let tree = Arc::new(tree);
                    asleep.host.mail_dir = Some(tree.clone());
                    asleep = self
                        .server
                        .engine
                        .rehome(asleep, Some(&tree), &settings)
                        .await
                        .0;
                    asleep.host.mail_dir = None;
                    release_memory_soon();
                }
                Wake::Hibernate => {}
            }
        };
        if let Some(d) = conn.deflate.as_mut() {
            d.wake();
        }
        *buf = vec![0u8; READ_BUFFER];
        if let Resume::Input(n) = resume {
            buf[..n].copy_from_slice(&small[..n]);
        }
        drop(small);
        let settings = self.server.settings(self.session_id, conn.tls.as_deref());
        let woken = match asleep.host.open_own_tree() {
            Ok(tree) => {
                let tree = Arc::new(tree);
                // The restore locks its mailbox through the host.
                asleep.host.mail_dir = Some(tree.clone());
                let woken = self
                    .server
                    .engine
                    .wake(asleep, Some(&tree), &settings)
                    .await;
                *self.mail_dir = Some(tree);
                woken
            }
            Err(e) => Err(e),
        };
        let mut session = match woken {
            Ok(s) => s,
            Err(e) => {
                crate::syslog!(
                    Err,
                    "{}: session ended: waking from hibernation: {e:#}",
                    self.peer
                );
                let _ = conn
                    .write(b"* BYE Server busy or unavailable, try again later\r\n")
                    .await;
                conn.close().await;
                return Ok(None);
            }
        };
        metrics().woke();
        session.host().set_asleep(false);
        timers.hibernate = after(o.idle_hibernate);
        Ok(Some((session, resume)))
    }
}

fn empty_step() -> Step {
    Step {
        output: Vec::new(),
        more: false,
        action: Action::None,
    }
}

/// Write a step's output and everything the guest still has queued; the
/// action comes with the last piece.
async fn drain(
    session: &mut GuestSession<ConnHost>,
    conn: &mut Conn,
    mut step: Step,
) -> Result<Action> {
    loop {
        session.host().record('>', &step.output);
        if !step.more && matches!(step.action, Action::Demote) {
            // UNAUTHENTICATE: free the login slot before the client can
            // see the OK (and log in elsewhere at once, rfc8437 3).
            session.host().forget_user();
        }
        conn.write(&step.output).await?;
        if !step.more {
            return Ok(step.action);
        }
        step = session.pull(PULL_CHUNK).await?;
    }
}

/// A guest call failed (trap, CPU or memory limit): the instance is
/// unusable. Log it first, then tell the client and close.
async fn guest_failed(conn: &mut Conn, peer: &str, e: anyhow::Error) -> Result<()> {
    crate::syslog!(Err, "{peer}: session ended: {e:#}");
    let _ = conn
        .write(b"* BYE Internal error: this session was stopped\r\n")
        .await;
    conn.close().await;
    Ok(())
}

async fn shutdown(conn: &mut Conn, host: &mut ConnHost, msg: &str) -> Result<()> {
    let line = format!("* BYE [ALERT] {msg}\r\n");
    host.record('>', line.as_bytes());
    host.log_usage();
    conn.write(line.as_bytes()).await?;
    conn.close().await;
    Ok(())
}

/// The user's mail tree, `<partition>/<user>/` (a domain's user:
/// `<partition>/domain/<domain>/<user>/`).
fn open_tree(partition: &cap_std::fs::Dir, user: &str) -> Result<cap_std::fs::Dir> {
    partition
        .open_dir(user)
        .with_context(|| format!("opening the mail tree of {user}"))
}

/// After a successful login: open (creating on first login) the user's
/// tree under the partition and move the session into a post-auth guest
/// whose only filesystem is that tree.
async fn promote(
    server: &Server,
    session: GuestSession<ConnHost>,
    session_id: &str,
    tls: Option<&TlsInfo>,
) -> Result<(GuestSession<ConnHost>, Arc<cap_std::fs::Dir>)> {
    let mut session = session;
    let host = session.host();
    let user = host
        .local_user()
        .filter(|_| host.seat.is_some())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("guest asked for promotion without an authenticated user"))?;
    if !crate::auth::valid_user_name(&user) {
        return Err(anyhow!("user name {user:?} cannot name a mail tree"));
    }
    let partition = host.tenant_partition().try_clone()?;
    let config_dir = host.tenant_config_dir();
    // A first login: the tree is made now (an error here counts as an existing tree).
    let first_login = matches!(
        partition.symlink_metadata(&user),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    partition
        .create_dir_all(&user)
        .with_context(|| format!("creating the mail tree of {user}"))?;
    if first_login && let Some(storage) = server.options.autocreate_quota {
        autocreate_quota(server, config_dir, &user, storage).await;
    }
    let dir = open_tree(&partition, &user)?;
    let settings = server.settings(session_id, tls);
    let dir = Arc::new(dir);
    session.host().mail_dir = Some(dir.clone());
    // The mailboxes other users share with this one are preopened too.
    session.host().refresh_shares(true).await;
    let session = server
        .engine
        .reinstantiate(session, None, Some(&dir), &settings)
        .await
        .context("promoting the session")?;
    Ok((session, dir))
}

/// `autocreate_quota` at `user`'s first login: a quota root with STORAGE `storage` KiB (0: no
/// limit) and MESSAGE `autocreate_quota_messages`, unless the user has one. A failure is
/// logged; the login goes on.
async fn autocreate_quota(server: &Server, dir: std::path::PathBuf, user: &str, storage: u64) {
    let messages = server.options.autocreate_quota_messages;
    let name = user.to_string();
    let made = tokio::task::spawn_blocking(move || {
        crate::quota::autocreate(&dir, &name, storage, messages)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    let limits = QuotaLimits {
        storage: (storage > 0).then_some(storage),
        messages: (messages > 0).then_some(messages),
    };
    match made {
        Ok(true) => crate::syslog!(
            Notice,
            "autocreate quota: {user}: {}",
            crate::quota::describe(&limits)
        ),
        Ok(false) => {}
        Err(e) => crate::syslog!(Err, "autocreate quota: {user}: {e:#}"),
    }
}

/// A place in `tenant` for a session logging in now. At
/// `tenant_maxawake`, the tenant's sessions in IDLE are asked to hibernate,
/// and the login waits a moment for one to do so.
async fn take_seat(
    tenant: &Arc<crate::tenant::Tenant>,
) -> Result<crate::tenant::limits::Seat, crate::tenant::limits::Refusal> {
    use crate::tenant::limits::{Refusal, Seat};
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match Seat::take(tenant) {
            Err(Refusal::Awake(_)) if Instant::now() < deadline => {
                tenant.usage.pressure.notify_waiters();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

/// After UNAUTHENTICATE (rfc8437): the host forgets the user, then moves
/// the session into a fresh pre-auth guest with no filesystem at all, the
/// same kind of instance a new connection gets. Whatever the old guest
/// believes, the new one can reach no file, and only a new
/// `authenticate` can promote it again.
async fn demote(
    server: &Server,
    mut session: GuestSession<ConnHost>,
    session_id: &str,
    tls: Option<&TlsInfo>,
) -> Result<GuestSession<ConnHost>> {
    session.host().forget_user();
    let settings = server.settings(session_id, tls);
    server
        .engine
        .reinstantiate(session, None, None, &settings)
        .await
        .context("demoting the session")
}

#[cfg(test)]
mod tests {
    use super::in_partition;

    #[test]
    fn other_users_mailbox_directories_stay_in_the_partition() {
        assert_eq!(in_partition("bob/").as_deref(), Ok("bob"));
        assert_eq!(in_partition("bob").as_deref(), Ok("bob"));
        assert_eq!(in_partition("bob/.Team").as_deref(), Ok("bob/.Team"));
        // The shared folders' tree, and no other dot name.
        assert_eq!(
            in_partition(".shared/.News").as_deref(),
            Ok(".shared/.News")
        );
        assert!(in_partition(".other/.News").is_err());
        for bad in [
            "../etc/",
            "bob/../x",
            "bob/..",
            "bob/.",
            "bob/.A/cur",
            "/etc/",
            "",
            "a/b/c",
        ] {
            assert!(in_partition(bad).is_err(), "{bad}");
        }
    }
}
