//! One IMAP session: the state machine between the host's byte stream and
//! the command handlers. The host calls [`Session::greet`] once, then
//! [`Session::feed`] with whatever the client sent and [`Session::pull`]
//! while a step says `more`; it acts on each step's [`Action`].

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::capability::{self, Listing, Security};
use crate::commands;
use crate::commands::fetch::{FetchJob, write_flags};
use crate::host::{HostApi, Level};
use crate::selected::{KeywordsTold, Selected, SelectedSnapshot};
use crate::settings::{ServerInfo, Settings};
use crate::store::{MailStore, MailboxChanges, MailboxName, StoreError};
use crate::wire::reader::{Event, GO_AHEAD, LITERAL_MINUS_TEXT, Limits, Reader};
use crate::wire::types::Tag;

/// Stop executing pipelined commands once this much output is queued
/// (the host drains it with `pull`; a client that never reads cannot make
/// the guest buffer its whole pipeline's output).
pub const OUTBOX_HIGH_WATER: usize = 256 << 10;

/// The snapshot format this guest writes and reads.
pub const SNAPSHOT_VERSION: u64 = 1;

/// What the host does once the step's output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    #[default]
    None,
    Close,
    StartTls,
    Promote,
    /// Back into a pre-auth instance with no filesystem (UNAUTHENTICATE,
    /// rfc8437); the host forgets the user.
    Demote,
    /// In IDLE: the host reads on and calls `poll` on changes.
    Idle,
    /// COMPRESS (rfc4978): the host compresses everything after the OK.
    StartCompress,
}

/// The result of greet/feed/pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub output: Vec<u8>,
    /// More output is ready: call `pull` before reading from the client.
    pub more: bool,
    /// Only ever set on a step with `more == false`.
    pub action: Action,
}

/// What the guest can reach outside itself.
pub struct Env {
    pub host: Box<dyn HostApi>,
    /// The user's mail tree (post-auth instances only).
    pub mail_root: Option<PathBuf>,
}

/// rfc3501 3: the connection states (Logout is simply the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    #[default]
    NotAuthenticated,
    Authenticated,
    /// A mailbox is selected (rfc3501 3.3); the session's `Selected` holds it.
    Selected,
}

/// Which SASL mechanism an AUTHENTICATE exchange runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mechanism {
    /// rfc4616
    Plain,
    /// draft-murchison-sasl-login: "Username:", then "Password:".
    Login,
    /// One the host runs itself (SCRAM-*, EXTERNAL): the guest relays.
    Host,
}

/// An AUTHENTICATE waiting for the client's next response line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaslExchange {
    pub tag: String,
    pub mechanism: Mechanism,
    /// LOGIN: the user name once it has been sent.
    pub username: Option<String>,
}

/// The session's protocol state: everything but the byte buffers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    pub state: State,
    /// The canonical user name the host returned.
    pub user: Option<String>,
    /// rfc5161 extensions the client enabled.
    pub enabled: Vec<String>,
    /// The client's last ID list (rfc2971), NIL values as `None`.
    pub client_id: Option<Vec<(String, Option<String>)>>,
    /// STARTTLS succeeded on this connection (the settings still say what
    /// they said at connect time).
    pub tls_started: bool,
    /// An AUTHENTICATE in progress.
    pub sasl: Option<SaslExchange>,
    /// COMPRESS=DEFLATE is on (rfc4978); it stays on for the life of the
    /// connection, across UNAUTHENTICATE.
    #[serde(default)]
    pub compress: bool,
    /// The tag of an IDLE in progress (rfc2177), waiting for DONE.
    #[serde(default)]
    pub idle: Option<String>,
}

/// Output not yet handed to the host.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    sent: usize,
}

impl Outbox {
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf_mut().extend_from_slice(bytes);
    }

    /// The buffer to append output to (what is appended is sent after
    /// what is pending; nothing already in it may be changed).
    pub(crate) fn buf_mut(&mut self) -> &mut Vec<u8> {
        if self.sent > 0 && self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        }
        &mut self.buf
    }

    fn take(&mut self, max: usize) -> Vec<u8> {
        let n = self.len().min(max);
        let out = self.buf[self.sent..self.sent + n].to_vec();
        self.sent += n;
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
        } else if self.sent >= OUTBOX_HIGH_WATER {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        out
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.sent..]
    }
}

/// The snapshot, version 1. Unknown fields are ignored and missing ones
/// take their defaults, so later guests can add fields freely.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct SnapshotV1 {
    v: u64,
    #[serde(flatten)]
    facts: Facts,
    reader: Reader,
    #[serde(with = "crate::wire::base64::serde_bytes")]
    outbox: Vec<u8>,
    throttled: bool,
    closed: bool,
    pending: Action,
    /// The selected mailbox (state `selected`).
    selected: Option<SelectedSnapshot>,
}

pub struct Session {
    pub(crate) settings: Settings,
    pub(crate) env: Env,
    pub(crate) facts: Facts,
    limits: Limits,
    reader: Reader,
    pub(crate) outbox: Outbox,
    /// Execution paused because the outbox is over the high-water mark.
    throttled: bool,
    /// Closed: nothing is executed any more.
    closed: bool,
    /// The action to report once the outbox is drained; nothing more is
    /// executed until then.
    pending: Action,
    /// The user's mail store, opened at first use (post-auth only).
    store: Option<MailStore>,
    /// The mailboxes other users share with this one, as the host said
    /// when it made this instance (wit: `shared-mailboxes`); asked at
    /// first use. Not in snapshots: a new instance asks again.
    shares: Option<Vec<crate::host::Share>>,
    /// The stores of those mailboxes, one per owner, opened at first use.
    shared_stores: std::collections::BTreeMap<String, MailStore>,
    /// What the host said of `is-admin` once logged in: it does not change
    /// within an instance (logins and UNAUTHENTICATE make new ones).
    admin: std::cell::Cell<Option<bool>>,
    /// The selected mailbox; `Some` exactly in `State::Selected`.
    pub(crate) selected: Option<Selected>,
    /// A FETCH still writing its responses: it runs before the next command.
    pub(crate) fetch_job: Option<FetchJob>,
    /// Something went wrong that the session cannot continue from (the
    /// selected mailbox vanished or changed UIDVALIDITY): a `* BYE` has been
    /// written, close after the current command.
    must_close: bool,
}

impl Session {
    pub fn new(settings: Settings, env: Env) -> Session {
        Session {
            limits: Limits::from_settings(&settings),
            settings,
            env,
            facts: Facts::default(),
            reader: Reader::new(),
            outbox: Outbox::default(),
            throttled: false,
            closed: false,
            pending: Action::None,
            store: None,
            shares: None,
            shared_stores: Default::default(),
            admin: Default::default(),
            selected: None,
            fetch_job: None,
            must_close: false,
        }
    }

    /// The greeting (cyrus-compat 2.2), then the motd line (2.3).
    pub fn greet(&mut self) -> Step {
        let caps =
            capability::capability_string(&self.settings, self.security(), Listing::Greeting);
        let mut line = format!("* OK [CAPABILITY {caps}]");
        match self.settings.server_info {
            ServerInfo::On => {
                line += &format!(
                    " {} {} {}",
                    self.settings.servername, self.settings.product, self.settings.version
                )
            }
            ServerInfo::Min => line += &format!(" {}", self.settings.servername),
            ServerInfo::Off => {}
        }
        line += " server ready\r\n";
        self.write(line.as_bytes());
        if let Some(motd) = &self.settings.motd {
            // One line only: a CR or LF in it would inject a response.
            let motd: String = motd
                .chars()
                .take_while(|&c| c != '\r' && c != '\n')
                .collect();
            self.write(format!("* OK [ALERT] {motd}\r\n").as_bytes());
        }
        self.step(usize::MAX)
    }

    /// Bytes from the client, in any chunking: executes every complete
    /// command it can.
    pub fn feed(&mut self, data: &[u8]) -> Step {
        // Input that arrives while a STARTTLS is still unreported was read
        // before the handshake: rfc2595 3.1 says drop it.
        // The same holds for COMPRESS (rfc4978 3: nothing may follow it
        // before the OK), and that input would not be compressed anyway.
        if !self.closed && !matches!(self.pending, Action::StartTls | Action::StartCompress) {
            self.reader.push(data);
        }
        self.run();
        self.step(OUTBOX_HIGH_WATER)
    }

    /// Continue a step that had `more`, with at most `max` bytes of output.
    pub fn pull(&mut self, max: usize) -> Step {
        if self.throttled && self.outbox.len() < OUTBOX_HIGH_WATER {
            self.throttled = false;
            self.run();
        }
        self.step(max)
    }

    /// The whole session as versioned JSON (`{"v":1,"state":...}`).
    pub fn snapshot(&self) -> String {
        let snap = SnapshotV1 {
            v: SNAPSHOT_VERSION,
            facts: self.facts.clone(),
            reader: self.reader.clone(),
            outbox: self.outbox.pending().to_vec(),
            throttled: self.throttled,
            closed: self.closed,
            pending: self.pending,
            selected: self.selected.as_ref().map(Selected::snapshot),
        };
        // Plain data: serialization cannot fail.
        serde_json::to_string(&snap).unwrap_or_default()
    }

    /// Rebuild a session from [`Session::snapshot`] under (possibly new)
    /// settings.
    pub fn restore(json: &str, settings: Settings, env: Env) -> Result<Session, String> {
        check_version(json)?;
        let snap: SnapshotV1 =
            serde_json::from_str(json).map_err(|e| format!("unreadable snapshot: {e}"))?;
        if !snap.reader.is_consistent() {
            return Err("unreadable snapshot: the reader's positions lie outside its input".into());
        }
        let mut outbox = Outbox::default();
        outbox.push(&snap.outbox);
        let mut session = Session {
            limits: Limits::from_settings(&settings),
            settings,
            env,
            facts: snap.facts,
            reader: snap.reader,
            outbox,
            throttled: snap.throttled,
            closed: snap.closed,
            pending: snap.pending,
            store: None,
            shares: None,
            shared_stores: Default::default(),
            admin: Default::default(),
            selected: None,
            fetch_job: None,
            must_close: false,
        };
        if session.facts.state != State::NotAuthenticated && session.env.mail_root.is_some() {
            // The first post-auth instance creates INBOX (and the autocreate
            // folders) here; a failure is reported by the first command
            // that needs the store.
            if let Err(e) = session.mail_store() {
                session.log_store_error("opening the mail store", &e);
            }
        }
        if session.facts.state == State::Selected {
            session.facts.state = State::Authenticated;
            match snap.selected {
                Some(selected) if !session.closed => session.reselect(&selected),
                _ => {}
            }
        }
        Ok(session)
    }

    /// Reopens the mailbox a restored snapshot had selected and continues
    /// its view; if it is gone or no longer the same mailbox the client
    /// cannot be told in IMAP4rev1 terms, so the session ends with BYE.
    fn reselect(&mut self, snap: &SelectedSnapshot) {
        let reopened = (|| -> Result<Selected, StoreError> {
            let view = snap.view().ok_or(StoreError::UidValidityChanged)?;
            let name = MailboxName::new(&snap.mailbox)?;
            // A share revoked since the snapshot is not found here.
            let rights = crate::access::rights(self, &name)?;
            if !rights.contains(crate::store::acl::Rights::READ) {
                return Err(StoreError::NoSuchMailbox(name));
            }
            let read_only = snap.read_only || !crate::access::selects_writable(rights);
            let store = self.store_for(&name)?;
            let mut mailbox = if read_only {
                store.examine(&name)?
            } else {
                store.select(&name)?
            };
            mailbox.resume_view(&view)?;
            let mut selected = Selected::new(mailbox, read_only);
            selected.rights = rights;
            selected.reported_recent = snap.reported_recent;
            selected.keywords = KeywordsTold::from_snapshot(snap.keywords.as_deref());
            // rfc5182: `$` survives hibernation.
            selected.saved_result = snap.saved_result().ok_or(StoreError::UidValidityChanged)?;
            Ok(selected)
        })();
        match reopened {
            Ok(selected) => self.enter_selected(selected),
            Err(e) => {
                self.log_store_error("reselecting after restore", &e);
                self.write(b"* BYE The selected mailbox is no longer available\r\n");
                self.closed = true;
                self.reader.discard();
                self.pending = Action::Close;
            }
        }
    }

    /// The connection state a snapshot records (for the host, to decide
    /// which instance restores it).
    pub fn snapshot_state(json: &str) -> Result<State, String> {
        check_version(json)?;
        #[derive(Deserialize)]
        struct Peek {
            #[serde(default)]
            state: State,
        }
        serde_json::from_str::<Peek>(json)
            .map(|p| p.state)
            .map_err(|e| format!("unreadable snapshot: {e}"))
    }

    pub fn state(&self) -> State {
        self.facts.state
    }

    pub fn user(&self) -> Option<&str> {
        self.facts.user.as_deref()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub(crate) fn security(&self) -> Security {
        let authenticated = self.facts.state != State::NotAuthenticated;
        Security {
            tls: self.settings.tls_active || self.facts.tls_started,
            compressed: self.facts.compress,
            authenticated,
            // The host's word, never the guest's (wit: is-admin).
            admin: authenticated && self.is_admin(),
        }
    }

    /// The user's mail store, opened at first use from `env.mail_root`
    /// (creating INBOX and the `autocreate_folders` the first time).
    pub fn mail_store(&mut self) -> Result<&mut MailStore, StoreError> {
        self.store_and_selected().map(|(store, _)| store)
    }

    /// The mail store and the selected mailbox at once (COPY, MOVE,
    /// APPEND to the selected mailbox need both).
    pub fn store_and_selected(
        &mut self,
    ) -> Result<(&mut MailStore, Option<&mut Selected>), StoreError> {
        if self.store.is_none() {
            let Some(root) = self.env.mail_root.clone() else {
                return Err(StoreError::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no mail tree in this instance",
                )));
            };
            // Writers of one mailbox are serialised by the host's lock
            // (wit: lock-mailbox), across sessions and processes.
            let locker = self.env.host.mailbox_locker();
            // Autocreated folders get their `xlist-<flag>` special uses.
            let uses = commands::create::autocreate_uses(&self.settings);
            let folders = &self.settings.autocreate_folders;
            let store = MailStore::open_with(root, locker, folders, &uses)?;
            self.store = Some(store);
        }
        match self.store.as_mut() {
            Some(store) => Ok((store, self.selected.as_mut())),
            None => Err(StoreError::Io(io::Error::other("mail store not open"))),
        }
    }

    /// The mailboxes other users share with this one (none before login).
    pub fn shares(&mut self) -> &[crate::host::Share] {
        if self.facts.state == State::NotAuthenticated {
            return &[];
        }
        self.shares
            .get_or_insert_with(|| self.env.host.shared_mailboxes())
    }

    /// The store `name` is in (the user's own, or the store of the owner
    /// of a mailbox shared with the user), with the selected mailbox:
    /// SELECT, STATUS, APPEND and COPY reach shared mailboxes this way.
    pub fn store_and_selected_for(
        &mut self,
        name: &MailboxName,
    ) -> Result<(&mut MailStore, Option<&mut Selected>), StoreError> {
        let Some(share) = crate::access::share_of(self, name) else {
            return self.store_and_selected();
        };
        let owner = share.owner;
        if !self.shared_stores.contains_key(&owner) {
            let root = self.env.host.shared_root().join(&owner);
            let prefix = crate::access::prefix_of(&owner);
            let locker = self.env.host.share_locker(&owner);
            self.shared_stores
                .insert(owner.clone(), MailStore::shared(root, prefix, locker));
        }
        match self.shared_stores.get_mut(&owner) {
            Some(store) => Ok((store, self.selected.as_mut())),
            None => Err(StoreError::NoSuchMailbox(name.clone())),
        }
    }

    /// [`Session::store_and_selected_for`] without the selected mailbox.
    pub fn store_for(&mut self, name: &MailboxName) -> Result<&mut MailStore, StoreError> {
        self.store_and_selected_for(name).map(|(store, _)| store)
    }

    /// The selected mailbox, in the selected state.
    pub fn selected_mut(&mut self) -> Option<&mut Selected> {
        self.selected.as_mut()
    }

    pub fn selected(&self) -> Option<&Selected> {
        self.selected.as_ref()
    }

    /// Enter the selected state (SELECT, EXAMINE, restore).
    pub(crate) fn enter_selected(&mut self, selected: Selected) {
        self.selected = Some(selected);
        self.facts.state = State::Selected;
    }

    /// Back to the authenticated state (CLOSE, UNSELECT, a failed SELECT);
    /// returns the mailbox that was selected.
    pub(crate) fn leave_selected(&mut self) -> Option<Selected> {
        if self.facts.state == State::Selected {
            self.facts.state = State::Authenticated;
        }
        self.selected.take()
    }

    /// Send the untagged updates the client has not seen yet (rfc3501
    /// 7.3.1, 7.4.1): `* n EXPUNGE` (only if `allow_expunge`: never after
    /// FETCH, STORE or SEARCH), `* n EXISTS`, `* n RECENT` and
    /// `* n FETCH (FLAGS (...))` for flags other sessions changed. Call it
    /// after the command's own untagged responses, before its tagged reply.
    /// Without a selected mailbox it does nothing.
    pub fn report_updates(&mut self, allow_expunge: bool) {
        let (condstore, qresync, rev2) = (self.condstore(), self.qresync(), self.rev2());
        let Some(selected) = self.selected.as_mut() else {
            return;
        };
        let synced = if allow_expunge {
            selected.mailbox.sync()
        } else {
            selected.mailbox.sync_deferring_expunges()
        };
        match synced {
            Ok(changes) => {
                let text = render_updates(selected, &changes, condstore, qresync, rev2);
                self.write(&text);
            }
            Err(e @ StoreError::UidValidityChanged) => {
                // rfc3501 2.3.1.1: UIDs must not change under a session; the
                // only honest way out in IMAP4rev1 is to end it.
                self.log_store_error("syncing the selected mailbox", &e);
                self.leave_selected();
                self.write(b"* BYE Mailbox UIDVALIDITY changed, please reconnect\r\n");
                self.must_close = true;
            }
            Err(e) => self.log_store_error("syncing the selected mailbox", &e),
        }
    }

    /// The client issued a CONDSTORE enabling command (rfc7162 3.1: ENABLE
    /// CONDSTORE or QRESYNC, SELECT/EXAMINE (CONDSTORE), STATUS
    /// (HIGHESTMODSEQ), FETCH/SEARCH MODSEQ, FETCH CHANGEDSINCE, STORE
    /// UNCHANGEDSINCE): from now on every FETCH response carries MODSEQ.
    /// The first one with a mailbox selected reports its HIGHESTMODSEQ.
    pub(crate) fn enable_condstore(&mut self) {
        if self.condstore() {
            return;
        }
        self.facts.enabled.push("CONDSTORE".into());
        if let Some(selected) = &self.selected {
            let line = format!(
                "* OK [HIGHESTMODSEQ {}] Ok\r\n",
                selected.mailbox.highest_modseq()
            );
            self.write(line.as_bytes());
        }
    }

    /// CONDSTORE is enabled (rfc7162 3.1): FETCH responses carry MODSEQ.
    pub fn condstore(&self) -> bool {
        self.facts.enabled.iter().any(|e| e == "CONDSTORE")
    }

    /// QRESYNC is enabled (rfc7162 3.2.3): VANISHED instead of EXPUNGE.
    pub fn qresync(&self) -> bool {
        self.facts.enabled.iter().any(|e| e == "QRESYNC")
    }

    /// IMAP4rev2 is enabled (rfc9051 Appendix E, README "IMAP4rev2"): no
    /// \Recent, ESEARCH for SEARCH, UTF-8 mailbox names, UID in every
    /// unsolicited FETCH, a LIST response in SELECT. Kept in the
    /// snapshot's `enabled` list, so it survives hibernation.
    pub fn rev2(&self) -> bool {
        self.facts.enabled.iter().any(|e| e == "IMAP4rev2")
    }

    /// UTF8=ACCEPT is enabled (rfc6855 3): the `UTF8 (~{n})` APPEND data
    /// extension (rfc6855 4) and no SEARCH CHARSET. Kept in the
    /// snapshot's `enabled` list like IMAP4rev2.
    pub fn utf8_accept(&self) -> bool {
        self.facts.enabled.iter().any(|e| e == "UTF8=ACCEPT")
    }

    /// The client takes UTF-8 where IMAP4rev1 has ASCII: UTF8=ACCEPT
    /// (rfc6855 3) or IMAP4rev2 (rfc9051 4.3.1, 5.1) is enabled. Then
    /// mailbox names are UTF-8 both ways, quoted strings must be valid
    /// UTF-8, header fields go out as they are (rfc6532) and APPEND takes
    /// 8-bit header fields; otherwise names are modified UTF-7 and
    /// ENVELOPE/BODYSTRUCTURE strings are downgraded to encoded words
    /// (rfc6855 8).
    pub fn utf8(&self) -> bool {
        self.rev2() || self.utf8_accept()
    }

    /// The host's word that the logged-in user is an administrator (wit:
    /// `is-admin`), asked once per instance.
    fn is_admin(&self) -> bool {
        if self.facts.state == State::NotAuthenticated {
            return false;
        }
        match self.admin.get() {
            Some(known) => known,
            None => {
                let known = self.env.host.is_admin();
                self.admin.set(Some(known));
                known
            }
        }
    }

    /// How mailbox names look on this session's wire: UTF-8 or not, and
    /// Cyrus's `unixhierarchysep` and `altnamespace`.
    pub fn wire(&self) -> crate::commands::mailbox_arg::Wire {
        let mut wire = crate::commands::mailbox_arg::Wire::of(&self.settings, self.utf8());
        // Cyrus gives administrators the standard namespace's `user/...`
        // names for other users' mailboxes; everyone else in the
        // alternate namespace sees them under `Other Users`.
        wire.others = wire.alt && self.facts.state != State::NotAuthenticated && !self.is_admin();
        wire
    }

    /// How this session reports expunged messages, (sequence number, UID)
    /// in the order to send them: `* n EXPUNGE` each (rfc3501 7.4.1), or
    /// once QRESYNC is enabled one `* VANISHED uid-set` (rfc7162 3.2.10.2).
    pub(crate) fn expunge_lines(&self, gone: &[(u32, u32)]) -> String {
        expunge_lines(gone, self.qresync())
    }

    /// One warning in the server log for a store failure.
    pub(crate) fn log_store_error(&self, doing: &str, error: &StoreError) {
        let user = self.facts.user.as_deref().unwrap_or("-");
        self.env
            .host
            .log(Level::Warn, &format!("user {user}: {doing}: {error}"));
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        self.outbox.push(bytes);
    }

    /// `<tag> <text>` CRLF.
    pub(crate) fn tagged(&mut self, tag: &str, text: &str) {
        self.write(format!("{tag} {text}\r\n").as_bytes());
    }

    /// Record a successful login (LOGIN or AUTHENTICATE).
    pub(crate) fn become_authenticated(&mut self, user: String) {
        self.facts.state = State::Authenticated;
        self.facts.user = Some(user);
    }

    /// UNAUTHENTICATE (rfc8437 3): reset all connection state except the
    /// TLS layer. A selected mailbox is closed without expunging; the
    /// store is dropped (the host then moves the session into an instance
    /// that has no mail tree). Enabled extensions and the client's ID go
    /// too, as in Cyrus's `cmd_unauthenticate()`.
    pub(crate) fn become_unauthenticated(&mut self) {
        self.leave_selected();
        self.fetch_job = None;
        self.store = None;
        self.shares = None;
        self.shared_stores.clear();
        self.admin.set(None);
        self.facts = Facts {
            tls_started: self.facts.tls_started,
            compress: self.facts.compress,
            ..Facts::default()
        };
    }

    /// Execute complete commands until input runs out, an action must be
    /// reported, or the outbox is full.
    fn run(&mut self) {
        while !self.closed && self.pending == Action::None {
            if self.outbox.len() > OUTBOX_HIGH_WATER {
                self.throttled = true;
                return;
            }
            let action = match self.fetch_job.take() {
                // A FETCH still writing: it goes first (and may end the
                // session like any command, e.g. on a UIDVALIDITY change).
                Some(job) => {
                    commands::fetch::resume(self, job);
                    Action::None
                }
                None => {
                    let Some(event) = self.next_event() else {
                        return;
                    };
                    self.dispatch(event)
                }
            };
            let action = if std::mem::take(&mut self.must_close) {
                Action::Close
            } else {
                action
            };
            match action {
                Action::None => {}
                Action::Close => {
                    self.closed = true;
                    self.reader.discard();
                    self.pending = Action::Close;
                }
                Action::StartTls => {
                    // rfc2595 3.1: nothing pipelined after STARTTLS counts.
                    self.reader.discard();
                    self.facts.tls_started = true;
                    self.pending = Action::StartTls;
                }
                Action::StartCompress => {
                    // rfc4978 3: the client sends nothing more before the
                    // OK; anything it did is not compressed, so it goes.
                    self.reader.discard();
                    self.facts.compress = true;
                    self.pending = Action::StartCompress;
                }
                // The rest of the input stays buffered and travels in the
                // snapshot to the post-auth instance.
                Action::Promote => self.pending = Action::Promote,
                // Likewise to the pre-auth instance: rfc8437 3 lets a
                // client pipeline AUTHENTICATE after UNAUTHENTICATE.
                Action::Demote => self.pending = Action::Demote,
                // Reported by `step` for as long as the IDLE lasts.
                Action::Idle => {}
            }
        }
    }

    /// The next complete command (or line, in SASL and IDLE), if any.
    fn next_event(&mut self) -> Option<Event> {
        if self.facts.sasl.is_some() || self.facts.idle.is_some() {
            self.reader.next_line(&self.limits)
        } else {
            self.reader.next_command(&self.limits)
        }
    }

    /// Runs one event; returns the action it asks for.
    fn dispatch(&mut self, event: Event) -> Action {
        match event {
            Event::GoAhead => {
                self.write(GO_AHEAD);
                Action::None
            }
            Event::Fatal(fatal) => {
                self.write(format!("* BYE {}\r\n", fatal.text()).as_bytes());
                Action::Close
            }
            Event::LiteralRefused { tag, command } => {
                // The name is client bytes: keep control characters out.
                let command: String = command
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                let text = format!("NO [TOOBIG] Literal size exceeds fixed limit in {command}");
                self.refuse(&tag, &text);
                Action::None
            }
            Event::NonSyncTooBig { tag } => {
                self.refuse(&tag, &format!("BAD {LITERAL_MINUS_TEXT}"));
                Action::None
            }
            Event::Line(line) if self.facts.idle.is_some() => commands::idle::resume(self, &line),
            Event::Line(line) => commands::authenticate::resume(self, &line),
            Event::Command(bytes) => commands::execute(self, &bytes),
        }
    }

    /// The reply to a command the reader refused, unless its tag is not
    /// one to echo.
    fn refuse(&mut self, tag: &str, text: &str) {
        if Tag::new(tag.as_bytes()).is_some() {
            self.tagged(tag, text);
        } else {
            self.write(b"* BAD Invalid tag\r\n");
        }
    }

    /// Something may have changed: during IDLE, report it now (rfc2177 3).
    pub fn poll(&mut self) -> Step {
        if self.facts.idle.is_some() && !self.closed {
            self.report_updates(true);
            if std::mem::take(&mut self.must_close) {
                self.closed = true;
            }
        }
        self.step(usize::MAX)
    }

    /// The directory of the selected mailbox, relative to the mail tree,
    /// for the host to watch during IDLE ("" when none is selected).
    pub fn watch_dir(&self) -> String {
        let Some(selected) = self.selected.as_ref() else {
            return String::new();
        };
        let dir = selected.mailbox.dir();
        if let Some(rel) = self
            .env
            .mail_root
            .as_deref()
            .and_then(|r| dir.strip_prefix(r).ok())
        {
            return rel.to_string_lossy().into_owned();
        }
        // A mailbox another user shares (wit: `idle`).
        match dir.strip_prefix(self.env.host.shared_root()) {
            Ok(rel) => format!("shared/{}", rel.to_string_lossy()),
            Err(_) => String::new(),
        }
    }

    fn step(&mut self, max: usize) -> Step {
        let output = self.outbox.take(max);
        let more = self.outbox.len() > 0 || self.throttled;
        let action = if more {
            Action::None
        } else if self.closed {
            Action::Close
        } else if self.pending == Action::None && self.facts.idle.is_some() {
            Action::Idle
        } else {
            std::mem::take(&mut self.pending)
        };
        Step {
            output,
            more,
            action,
        }
    }
}

/// The untagged responses for `changes`, in the order rfc3501 7.4.1 needs:
/// expunges (each number valid when sent), then EXISTS and RECENT, then
/// flag changes under the new numbering. With IMAP4rev2 (`rev2`): no
/// RECENT and no \Recent, and UID in every FETCH (rfc9051 Appendix E
/// items 12 and 21, 7.5.2).
fn render_updates(
    selected: &mut Selected,
    changes: &MailboxChanges,
    condstore: bool,
    qresync: bool,
    rev2: bool,
) -> Vec<u8> {
    let mut out = expunge_lines(&changes.expunged, qresync);
    if changes.exists_changed {
        out += &format!("* {} EXISTS\r\n", changes.exists);
    }
    if rev2 {
        selected.reported_recent = changes.recent;
    } else if changes.exists_changed || changes.recent != selected.reported_recent {
        out += &format!("* {} RECENT\r\n", changes.recent);
        selected.reported_recent = changes.recent;
    }
    let mut out = out.into_bytes();
    let Selected {
        mailbox,
        keywords,
        read_only,
        ..
    } = selected;
    // New messages may bring keywords (APPEND, COPY, MOVE): rfc3501 7.2.6,
    // the client hears of them in FLAGS before any FETCH shows them.
    if changes.exists_changed && keywords.learn_all(mailbox.records()) {
        out.extend_from_slice(keywords.responses(*read_only).as_bytes());
    }
    for &uid in &changes.flags_changed {
        if let Some(seq) = mailbox.seq_of_uid(uid)
            && let Some(record) = mailbox.by_seq(seq)
        {
            if let Some(flags) = keywords.announce(record, *read_only) {
                out.extend_from_slice(flags.as_bytes());
            }
            // The same FLAGS list as FETCH FLAGS (one order for both).
            out.extend_from_slice(format!("* {seq} FETCH (FLAGS ").as_bytes());
            write_flags(&mut out, record, !rev2 && mailbox.is_recent(uid));
            // rfc7162 3.1, 3.2.4: UID and MODSEQ in every such FETCH once
            // CONDSTORE is enabled; rfc9051 7.5.2: UID in every
            // unsolicited FETCH.
            if condstore {
                let text = format!(" UID {uid} MODSEQ ({})", record.modseq);
                out.extend_from_slice(text.as_bytes());
            } else if rev2 {
                out.extend_from_slice(format!(" UID {uid}").as_bytes());
            }
            out.extend_from_slice(b")\r\n");
        }
    }
    out
}

/// See [`Session::expunge_lines`].
fn expunge_lines(gone: &[(u32, u32)], qresync: bool) -> String {
    if gone.is_empty() {
        return String::new();
    }
    if qresync {
        let uids: Vec<u32> = gone.iter().map(|&(_, uid)| uid).collect();
        return format!("* VANISHED {}\r\n", crate::selected::format_uid_set(&uids));
    }
    gone.iter()
        .map(|(seq, _)| format!("* {seq} EXPUNGE\r\n"))
        .collect()
}

fn check_version(json: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Version {
        v: Option<serde_json::Value>,
    }
    let version: Version =
        serde_json::from_str(json).map_err(|e| format!("unreadable snapshot: {e}"))?;
    match version.v {
        Some(v) if v.as_u64() == Some(SNAPSHOT_VERSION) => Ok(()),
        Some(v) => Err(format!("unsupported snapshot version {v}")),
        None => Err("snapshot has no version".into()),
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
