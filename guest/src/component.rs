//! The WIT glue: exports `imapd:session/engine` on top of [`crate::session`]
//! and implements [`HostApi`] with the `host` imports.

use std::cell::RefCell;

use crate::host::{
    AuthError, HostApi, Level, MetadataError, QuotaError, QuotaLimits, QuotaUsage, SaslReply,
};
use crate::session::{self, Env, Session, State};
use crate::settings::{ServerInfo, Settings};
use crate::store::{MailboxLocker, MailboxName};

wit_bindgen::generate!({ world: "session", path: "../wit" });

use exports::imapd::session::engine;
use imapd::session::host as wit_host;

/// Where a post-auth instance sees the user's mail tree (the host's only
/// preopen, `wit/session.wit`).
const MAIL_ROOT: &str = "/mail";
/// Where an administrator's instance sees every user's tree (the host's
/// partition, `wit/session.wit`).
const USERS_ROOT: &str = "/users";

/// [`HostApi`] over the component's imports.
struct WitHost;

impl HostApi for WitHost {
    fn authenticate(
        &self,
        mech: &str,
        authzid: &str,
        user: &str,
        password: &str,
    ) -> Result<String, AuthError> {
        wit_host::authenticate(mech, authzid, user, password).map_err(auth_error)
    }

    fn sasl_start(&self, mech: &str, initial: Option<&[u8]>) -> SaslReply {
        sasl_reply(wit_host::sasl_start(mech, initial))
    }

    fn sasl_continue(&self, response: &[u8]) -> SaslReply {
        sasl_reply(wit_host::sasl_continue(response))
    }

    fn sasl_abort(&self) {
        wit_host::sasl_abort();
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Error => wit_host::Level::Error,
            Level::Warn => wit_host::Level::Warn,
            Level::Info => wit_host::Level::Info,
            Level::Debug => wit_host::Level::Debug,
        };
        wit_host::log(level, message);
    }

    fn is_admin(&self) -> bool {
        wit_host::is_admin()
    }

    fn server_metadata(&self) -> Vec<(String, Vec<u8>)> {
        wit_host::server_metadata()
    }

    fn set_server_metadata(
        &self,
        entries: &[(String, Option<Vec<u8>>)],
    ) -> Result<(), MetadataError> {
        wit_host::set_server_metadata(entries).map_err(|e| match e {
            wit_host::MetadataError::NotAllowed => MetadataError::NotAllowed,
            wit_host::MetadataError::TooLarge(n) => MetadataError::TooLarge(n),
            wit_host::MetadataError::TooMany => MetadataError::TooMany,
            wit_host::MetadataError::BadEntry(t) => MetadataError::BadEntry(t),
            wit_host::MetadataError::Failed(t) => MetadataError::Failed(t),
        })
    }

    fn own_quota(&self) -> Option<(QuotaLimits, bool)> {
        wit_host::own_quota().map(|(l, enforced)| (quota_limits(l), enforced))
    }

    fn get_quota(&self, user: &str) -> Result<QuotaUsage, QuotaError> {
        wit_host::get_quota(user)
            .map(quota_usage)
            .map_err(quota_error)
    }

    fn set_quota(&self, user: &str, limits: QuotaLimits) -> Result<QuotaUsage, QuotaError> {
        let limits = wit_host::QuotaLimits {
            storage: limits.storage,
            messages: limits.messages,
        };
        wit_host::set_quota(user, limits)
            .map(quota_usage)
            .map_err(quota_error)
    }

    fn command_done(&self, name: &str, state: State, micros: u64) {
        let state = match state {
            State::NotAuthenticated => wit_host::SessionState::NotAuthenticated,
            State::Authenticated => wit_host::SessionState::Authenticated,
            State::Selected => wit_host::SessionState::Selected,
        };
        wit_host::command_done(name, state, micros);
    }

    fn mailbox_locker(&self) -> std::rc::Rc<dyn MailboxLocker> {
        std::rc::Rc::new(WitLocker)
    }

    fn shared_mailboxes(&self) -> Vec<crate::host::Share> {
        wit_host::shared_mailboxes()
            .into_iter()
            .filter_map(|s| {
                Some(crate::host::Share {
                    rights: crate::store::acl::Rights::parse(&s.rights).ok()?,
                    owner: s.owner,
                    dir: s.dir,
                })
            })
            .collect()
    }

    fn share_locker(&self, owner: &str) -> std::rc::Rc<dyn MailboxLocker> {
        std::rc::Rc::new(ShareLocker(owner.to_string()))
    }

    fn acls_changed(&self, owner: &str) -> Result<(), String> {
        wit_host::acls_changed(owner)
    }

    fn users_root(&self) -> Option<std::path::PathBuf> {
        // The host preopens it for administrators only.
        let root = std::path::Path::new(USERS_ROOT);
        (wit_host::is_admin() && root.is_dir()).then(|| root.to_path_buf())
    }

    fn user_locker(&self, user: &str) -> std::rc::Rc<dyn MailboxLocker> {
        std::rc::Rc::new(UserLocker(user.to_string()))
    }
}

fn quota_limits(l: wit_host::QuotaLimits) -> QuotaLimits {
    QuotaLimits {
        storage: l.storage,
        messages: l.messages,
    }
}

fn quota_usage(u: wit_host::QuotaUsage) -> QuotaUsage {
    QuotaUsage {
        limits: quota_limits(u.limits),
        messages: u.messages,
        octets: u.octets,
    }
}

fn quota_error(e: wit_host::QuotaError) -> QuotaError {
    match e {
        wit_host::QuotaError::NotAllowed => QuotaError::NotAllowed,
        wit_host::QuotaError::NoSuchRoot => QuotaError::NoSuchRoot,
        wit_host::QuotaError::Failed(why) => QuotaError::Failed(why),
    }
}

fn auth_error(e: wit_host::AuthError) -> AuthError {
    match e {
        wit_host::AuthError::BadCredentials => AuthError::BadCredentials,
        wit_host::AuthError::Refused(text) => AuthError::Refused(text),
        wit_host::AuthError::Unavailable(text) => AuthError::Unavailable(text),
    }
}

fn sasl_reply(r: wit_host::SaslReply) -> SaslReply {
    match r {
        wit_host::SaslReply::Challenge(data) => SaslReply::Challenge(data),
        wit_host::SaslReply::Success(user) => SaslReply::Success(user),
        wit_host::SaslReply::Failure(e) => SaslReply::Failure(auth_error(e)),
    }
}

/// Mailbox locks over the host's `lock-mailbox` / `unlock-mailbox`.
struct WitLocker;

impl MailboxLocker for WitLocker {
    fn lock(&self, mailbox: &MailboxName) -> std::io::Result<()> {
        wit_host::lock_mailbox(&mailbox.dir_name()).map_err(std::io::Error::other)
    }

    fn unlock(&self, mailbox: &MailboxName) {
        wit_host::unlock_mailbox(&mailbox.dir_name());
    }
}

/// Another user's mailboxes, locked through the host as
/// `users/<user>/<dir>` (administrators only; the host checks).
struct UserLocker(String);

impl MailboxLocker for UserLocker {
    fn lock(&self, mailbox: &MailboxName) -> std::io::Result<()> {
        wit_host::lock_mailbox(&format!("users/{}/{}", self.0, mailbox.dir_name()))
            .map_err(std::io::Error::other)
    }

    fn unlock(&self, mailbox: &MailboxName) {
        wit_host::unlock_mailbox(&format!("users/{}/{}", self.0, mailbox.dir_name()));
    }
}

/// Mailboxes another user shares with this one, locked through the host
/// as `shared/<owner>/<dir>` (the host checks the share). The store names
/// them `user/<owner>/<name>` ([`crate::access::prefix_of`]).
struct ShareLocker(String);

impl ShareLocker {
    fn key(&self, mailbox: &MailboxName) -> String {
        let prefix = crate::access::prefix_of(&self.0);
        let local = mailbox
            .as_str()
            .strip_prefix(&prefix)
            .and_then(|l| MailboxName::new(l).ok());
        match local {
            Some(l) => format!("shared/{}/{}", self.0, l.dir_name()),
            // Not one of the owner's: a key the host refuses.
            None => format!("shared/{}/", self.0),
        }
    }
}

impl MailboxLocker for ShareLocker {
    fn lock(&self, mailbox: &MailboxName) -> std::io::Result<()> {
        wit_host::lock_mailbox(&self.key(mailbox)).map_err(std::io::Error::other)
    }

    fn unlock(&self, mailbox: &MailboxName) {
        wit_host::unlock_mailbox(&self.key(mailbox));
    }
}

fn settings(s: engine::Settings) -> Settings {
    Settings {
        servername: s.servername,
        server_info: match s.server_info {
            engine::ServerInfo::On => ServerInfo::On,
            engine::ServerInfo::Min => ServerInfo::Min,
            engine::ServerInfo::Off => ServerInfo::Off,
        },
        product: s.product,
        #[cfg(feature = "hostile")]
        version: crate::hostile::version(s.version),
        #[cfg(not(feature = "hostile"))]
        version: s.version,
        session_id: s.session_id,
        allow_plaintext: s.allow_plaintext,
        tls_required: s.tls_required,
        starttls_available: s.starttls_available,
        tls_active: s.tls_active,
        external_ssf: s.external_ssf,
        mechanisms: s.mechanisms,
        max_word: s.max_word,
        max_quoted: s.max_quoted,
        max_literal: s.max_literal,
        max_message_size: s.max_message_size,
        suppress_capabilities: s.suppress_capabilities,
        motd: s.motd,
        autocreate_folders: s.autocreate_folders,
        idle_enabled: s.idle_enabled,
        options: s.options,
    }
}

fn step(session: &Session, step: session::Step) -> engine::Step {
    engine::Step {
        output: step.output,
        more: step.more,
        action: match step.action {
            session::Action::None => engine::Action::None,
            session::Action::Close => engine::Action::Close,
            session::Action::StartTls => engine::Action::StartTls,
            session::Action::Promote => engine::Action::Promote,
            session::Action::Demote => engine::Action::Demote,
            session::Action::Idle => engine::Action::Idle(session.watch_dir()),
            session::Action::StartCompress => engine::Action::StartCompress,
        },
    }
}

/// The exported `session` resource. Methods take `&self`; calls never
/// re-enter, so the RefCell is never borrowed twice.
struct SessionResource(RefCell<Session>);

impl engine::GuestSession for SessionResource {
    fn new(s: engine::Settings) -> Self {
        let env = Env {
            host: Box::new(WitHost),
            mail_root: None,
        };
        SessionResource(RefCell::new(Session::new(settings(s), env)))
    }

    fn greet(&self) -> engine::Step {
        let mut s = self.0.borrow_mut();
        #[cfg(feature = "hostile")]
        crate::hostile::on_greet(&s.settings().options);
        let out = s.greet();
        step(&s, out)
    }

    fn feed(&self, data: Vec<u8>) -> engine::Step {
        let mut s = self.0.borrow_mut();
        let out = s.feed(&data);
        step(&s, out)
    }

    fn pull(&self, max: u32) -> engine::Step {
        let mut s = self.0.borrow_mut();
        let out = s.pull(max as usize);
        step(&s, out)
    }

    fn poll(&self) -> engine::Step {
        let mut s = self.0.borrow_mut();
        let out = s.poll();
        step(&s, out)
    }

    fn snapshot(&self) -> String {
        self.0.borrow().snapshot()
    }
}

struct Component;

impl engine::Guest for Component {
    type Session = SessionResource;

    fn restore(snapshot: String, s: engine::Settings) -> Result<engine::Session, String> {
        #[cfg(feature = "hostile")]
        crate::hostile::on_restore(&snapshot, &s.options)?;
        let mail_root = match Session::snapshot_state(&snapshot)? {
            State::NotAuthenticated => None,
            State::Authenticated | State::Selected => Some(MAIL_ROOT.into()),
        };
        let env = Env {
            host: Box::new(WitHost),
            mail_root,
        };
        let session = Session::restore(&snapshot, settings(s), env)?;
        Ok(engine::Session::new(SessionResource(RefCell::new(session))))
    }
}

export!(Component);
