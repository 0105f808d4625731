//! What the guest may ask of the host (the `host` interface in
//! `wit/session.wit`), as a trait so native tests can stand in for it.

/// Why an authentication did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Wrong user name or password.
    BadCredentials,
    /// Credentials were fine but the login is refused; the text says why.
    Refused(String),
    /// The password backend could not answer.
    Unavailable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

/// One step of a SASL exchange the host runs (wit: `sasl-reply`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslReply {
    /// Send this to the client as `+ <base64>`; its answer goes to
    /// [`HostApi::sasl_continue`].
    Challenge(Vec<u8>),
    /// Authenticated as this canonical user.
    Success(String),
    /// The exchange failed and is over.
    Failure(AuthError),
}

/// Why the host did not change server annotations (wit: `metadata-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// Not an administrator, or a read-only entry.
    NotAllowed,
    /// A value is larger than this many octets.
    TooLarge(u32),
    /// The server would hold too many entries.
    TooMany,
    /// An entry name the host does not take.
    BadEntry(String),
    /// The host could not read or write its file.
    Failed(String),
}

/// A quota root's limits (wit: `quota-limits`): STORAGE in units of 1024
/// octets and MESSAGE; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    pub storage: Option<u64>,
    pub messages: Option<u64>,
}

/// A user's quota root as the host counted it (wit: `quota-usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    pub limits: QuotaLimits,
    pub messages: u64,
    pub octets: u64,
}

/// Why the host did not answer or change a quota root (wit: `quota-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaError {
    NotAllowed,
    NoSuchRoot,
    Failed(String),
}

/// A mailbox of another user shared with this one (wit: `shared-mailbox`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub owner: String,
    /// Its directory in the owner's tree (`.Team`).
    pub dir: String,
    /// This user's rights on it, as the host computed them.
    pub rights: crate::store::acl::Rights,
}

/// The host's services, as seen from inside the sandbox.
pub trait HostApi {
    /// Verify a password; on success the canonical user name.
    fn authenticate(
        &self,
        mech: &str,
        authzid: &str,
        user: &str,
        password: &str,
    ) -> Result<String, AuthError>;

    /// One line for the server log.
    fn log(&self, level: Level, message: &str);

    /// Start a SASL exchange the host runs itself (SCRAM-*, EXTERNAL);
    /// `initial` is the client's initial response, decoded. Without a
    /// host (native tests) every such exchange fails.
    fn sasl_start(&self, _mech: &str, _initial: Option<&[u8]>) -> SaslReply {
        SaslReply::Failure(AuthError::BadCredentials)
    }

    /// The client's next response in that exchange, decoded.
    fn sasl_continue(&self, _response: &[u8]) -> SaslReply {
        SaslReply::Failure(AuthError::BadCredentials)
    }

    /// The client cancelled the exchange.
    fn sasl_abort(&self) {}

    /// The user the host authenticated is an administrator (imapd.conf
    /// `admins`); false before login. Native tests have none.
    fn is_admin(&self) -> bool {
        false
    }

    /// The server's `/shared` annotations (wit: `server-metadata`), names
    /// lower case. Native tests have none.
    fn server_metadata(&self) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }

    /// Sets (`Some`) or removes (`None`) server annotations, all or none
    /// (wit: `set-server-metadata`); the host allows administrators only.
    fn set_server_metadata(
        &self,
        _entries: &[(String, Option<Vec<u8>>)],
    ) -> Result<(), MetadataError> {
        Err(MetadataError::NotAllowed)
    }

    /// The limits on the user's own quota root and whether they are kept
    /// (wit: `own-quota`); `None` without a root. Native tests have none.
    fn own_quota(&self) -> Option<(QuotaLimits, bool)> {
        None
    }

    /// A user's quota root and the host's count of the user's tree (wit:
    /// `get-quota`); administrators only.
    fn get_quota(&self, _user: &str) -> Result<QuotaUsage, QuotaError> {
        Err(QuotaError::NotAllowed)
    }

    /// Replaces a user's quota limits (wit: `set-quota`); administrators
    /// only.
    fn set_quota(&self, _user: &str, _limits: QuotaLimits) -> Result<QuotaUsage, QuotaError> {
        Err(QuotaError::NotAllowed)
    }

    /// A command finished (wit: `command-done`): its name from the
    /// command table, the state it left the session in, and how long it
    /// took. Native tests have no one to tell.
    fn command_done(&self, _name: &str, _state: crate::session::State, _micros: u64) {}

    /// For an administrator: where every user's tree is (the host's
    /// partition, preopened beside the user's own tree). `None` for
    /// everyone else, and in native tests unless they say so.
    fn users_root(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// The lock of another user's mailboxes, for an administrator's
    /// session ([`HostApi::users_root`]). Native tests: nothing to share.
    fn user_locker(&self, _user: &str) -> std::rc::Rc<dyn crate::store::MailboxLocker> {
        std::rc::Rc::new(crate::store::NoLocking)
    }

    /// The mailboxes other users share with this user (wit:
    /// `shared-mailboxes`). Native tests: none unless they say so.
    fn shared_mailboxes(&self) -> Vec<Share> {
        Vec::new()
    }

    /// Where the shared mailboxes' directories are: `<root>/<owner>/<dir>`
    /// (the host's preopens, `/shared`).
    fn shared_root(&self) -> std::path::PathBuf {
        std::path::PathBuf::from("/shared")
    }

    /// The lock of `owner`'s mailboxes shared with this user.
    fn share_locker(&self, _owner: &str) -> std::rc::Rc<dyn crate::store::MailboxLocker> {
        std::rc::Rc::new(crate::store::NoLocking)
    }

    /// The ACL of one of `owner`'s mailboxes changed (wit:
    /// `acls-changed`): the host shares what the ACLs now grant.
    fn acls_changed(&self, _owner: &str) -> Result<(), String> {
        Ok(())
    }

    /// The lock that serialises writers of one mailbox across sessions
    /// and processes. Without a host (native tests), nothing to share.
    fn mailbox_locker(&self) -> std::rc::Rc<dyn crate::store::MailboxLocker> {
        std::rc::Rc::new(crate::store::NoLocking)
    }
}
