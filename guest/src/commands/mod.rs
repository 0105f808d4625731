//! The commands, one module per command, dispatched through one table
//! ([`COMMANDS`]) of name, handler and the states it is allowed in (the
//! Dovecot layout: find LOGIN in `login.rs`).

pub mod acl;
pub mod admin;
pub mod append;
pub mod authenticate;
pub mod capability;
pub mod catenate;
pub mod check;
pub mod close;
pub mod compress;
pub mod copy;
pub mod create;
pub mod dates;
pub mod delete;
pub mod enable;
pub mod expunge;
pub mod fetch;
pub mod fetch_items;
pub mod id;
pub mod idle;
pub mod list;
pub mod login;
pub mod logout;
pub mod mailbox_arg;
#[cfg(test)]
pub(crate) mod message_testing;
pub mod metadata;
pub mod move_;
pub mod namespace;
pub mod noop;
pub mod qresync;
pub mod quota;
pub mod rename;
#[cfg(test)]
mod rev2_tests;
pub mod search;
pub mod search_keys;
pub mod select;
pub mod sequence;
pub mod sort;
pub mod starttls;
pub mod status;
pub mod store_flags;
pub mod subscribe;
pub mod thread;
pub mod uid;
pub mod unauthenticate;
#[cfg(test)]
mod utf8_tests;

use crate::session::{Action, Session, State};
use crate::wire::parser::{Parser, SyntaxError};
use crate::wire::types::Tag;

/// One parsed command on its way to a handler.
pub struct Request<'a> {
    pub tag: Tag,
    /// The name as Cyrus prints it in replies: `Noop`, `Login`.
    pub name: String,
    /// The arguments: the cursor stands right after the command name.
    pub args: Parser<'a>,
    /// Mailbox names are UTF-8 on the wire (IMAP4rev2 or UTF8=ACCEPT
    /// enabled: rfc9051 5.1, rfc6855 3), not modified UTF-7 (rfc3501
    /// 5.1.3).
    pub utf8_names: bool,
    /// How names look on this session's wire ([`mailbox_arg::Wire`]).
    pub names: mailbox_arg::Wire,
}

impl Request<'_> {
    /// `<tag> <text>` CRLF.
    pub fn reply(&self, session: &mut Session, text: &str) {
        session.tagged(self.tag.as_str(), text);
    }

    /// rfc9051 6.1: a command without arguments; anything after the name
    /// is `BAD Unexpected extra arguments to <Command>`.
    pub fn no_arguments(&mut self) -> Result<(), SyntaxError> {
        self.args.finish()
    }
}

/// A handler parses its own arguments (so the order of its checks can
/// follow Cyrus), writes its responses and says what the host must do.
/// A syntax error it returns becomes the matching BAD reply.
pub type Handler = fn(&mut Session, &mut Request) -> Result<Action, SyntaxError>;

/// States a command is allowed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct States(u8);

impl States {
    pub const NOT_AUTHENTICATED: States = States(1);
    /// Selected state only (rfc3501 6.4).
    pub const SELECTED: States = States(4);
    /// Authenticated and selected state: rfc3501 3 lets every
    /// authenticated-state command run with a mailbox selected too.
    pub const AUTHENTICATED: States = States(2 | 4);
    pub const ANY: States = States(1 | 2 | 4);

    pub fn allows(self, state: State) -> bool {
        let bit = match state {
            State::NotAuthenticated => 1,
            State::Authenticated => 2,
            State::Selected => 4,
        };
        self.0 & bit != 0
    }
}

pub struct Command {
    /// Upper case; matched case-insensitively (rfc9051 9 note 3).
    pub name: &'static str,
    pub handler: Handler,
    pub states: States,
    /// Not in rfc9051's grammar: in an IMAP4rev2 session the command is
    /// `BAD` with this text (Appendix E items 17 and 19).
    pub removed_in_rev2: Option<&'static str>,
}

const fn cmd(name: &'static str, handler: Handler, states: States) -> Command {
    Command {
        name,
        handler,
        states,
        removed_in_rev2: None,
    }
}

/// An IMAP4rev1 command that rfc9051 9 no longer has.
const fn rev1_cmd(
    name: &'static str,
    handler: Handler,
    states: States,
    removed: &'static str,
) -> Command {
    Command {
        removed_in_rev2: Some(removed),
        ..cmd(name, handler, states)
    }
}

/// Every command the session knows. A command that is not here, or not
/// allowed in the current state, gets Cyrus's reply: `BAD Please login
/// first` before login, `BAD Please select a mailbox first` for a
/// selected-state command without a mailbox, `BAD Unrecognized command`
/// otherwise.
pub static COMMANDS: &[Command] = &[
    // Any state (rfc9051 6.1).
    cmd("CAPABILITY", capability::handle, States::ANY),
    cmd("NOOP", noop::handle, States::ANY),
    cmd("LOGOUT", logout::handle, States::ANY),
    cmd("ID", id::handle, States::ANY),
    // Not authenticated (rfc9051 6.2); after login they answer with
    // Cyrus's "already" replies themselves.
    cmd("STARTTLS", starttls::handle, States::ANY),
    cmd("LOGIN", login::handle, States::ANY),
    cmd("AUTHENTICATE", authenticate::handle, States::ANY),
    // Authenticated (rfc5161 3.1: ENABLE is not valid before login; Cyrus
    // answers "Please login first" too).
    cmd("ENABLE", enable::handle, States::AUTHENTICATED),
    // rfc4978: after login, as in Cyrus.
    cmd("COMPRESS", compress::handle, States::AUTHENTICATED),
    // rfc8437: authenticated admins only (the handler checks).
    cmd(
        "UNAUTHENTICATE",
        unauthenticate::handle,
        States::AUTHENTICATED,
    ),
    // ===== The mail store =====
    // Authenticated state (rfc3501 6.3), also valid when selected.
    cmd("SELECT", select::select, States::AUTHENTICATED),
    cmd("EXAMINE", select::examine, States::AUTHENTICATED),
    cmd("CREATE", create::handle, States::AUTHENTICATED),
    cmd("DELETE", delete::handle, States::AUTHENTICATED),
    cmd("RENAME", rename::handle, States::AUTHENTICATED),
    cmd("SUBSCRIBE", subscribe::subscribe, States::AUTHENTICATED),
    cmd("UNSUBSCRIBE", subscribe::unsubscribe, States::AUTHENTICATED),
    cmd("LIST", list::list, States::AUTHENTICATED),
    // rfc9051 9 command-auth has no LSUB (Appendix E item 19).
    rev1_cmd(
        "LSUB",
        list::lsub,
        States::AUTHENTICATED,
        "BAD LSUB is not in IMAP4rev2: use LIST (SUBSCRIBED)",
    ),
    cmd("NAMESPACE", namespace::handle, States::AUTHENTICATED),
    cmd("STATUS", status::handle, States::AUTHENTICATED),
    cmd("APPEND", append::handle, States::AUTHENTICATED),
    // rfc4314 ACL.
    cmd("SETACL", acl::setacl, States::AUTHENTICATED),
    cmd("DELETEACL", acl::deleteacl, States::AUTHENTICATED),
    cmd("GETACL", acl::getacl, States::AUTHENTICATED),
    cmd("LISTRIGHTS", acl::listrights, States::AUTHENTICATED),
    cmd("MYRIGHTS", acl::myrights, States::AUTHENTICATED),
    // rfc5464 METADATA.
    cmd("GETMETADATA", metadata::get, States::AUTHENTICATED),
    cmd("SETMETADATA", metadata::set, States::AUTHENTICATED),
    // rfc9208 QUOTA.
    cmd("GETQUOTA", quota::getquota, States::AUTHENTICATED),
    cmd("GETQUOTAROOT", quota::getquotaroot, States::AUTHENTICATED),
    cmd("SETQUOTA", quota::setquota, States::AUTHENTICATED),
    cmd("IDLE", idle::handle, States::AUTHENTICATED),
    // Selected state (rfc3501 6.4, rfc3691 UNSELECT, rfc6851 MOVE).
    // rfc9051 9 command-select has no CHECK (Appendix E item 17).
    rev1_cmd(
        "CHECK",
        check::handle,
        States::SELECTED,
        "BAD CHECK is not in IMAP4rev2: use NOOP",
    ),
    cmd("CLOSE", close::close, States::SELECTED),
    cmd("UNSELECT", close::unselect, States::SELECTED),
    cmd("EXPUNGE", expunge::handle, States::SELECTED),
    cmd("SEARCH", search::handle, States::SELECTED),
    // rfc5256 SORT and THREAD.
    cmd("SORT", sort::handle, States::SELECTED),
    cmd("THREAD", thread::handle, States::SELECTED),
    cmd("FETCH", fetch::handle, States::SELECTED),
    cmd("STORE", store_flags::handle, States::SELECTED),
    cmd("COPY", copy::handle, States::SELECTED),
    cmd("MOVE", move_::handle, States::SELECTED),
    cmd("UID", uid::handle, States::SELECTED),
];

/// The table entry for a command name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// A command name as Cyrus prints it: first letter upper case, the rest
/// lower case (`LOGIN` and `login` both become `Login`).
pub fn display_name(word: &[u8]) -> String {
    let mut name = String::from_utf8_lossy(word).to_ascii_lowercase();
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    name
}

/// Parse one complete command and run it.
pub fn execute(session: &mut Session, bytes: &[u8]) -> Action {
    let mut args = Parser::new(bytes);
    // rfc5182 2.1: `$` in this command is the search result saved so far.
    if let Some(selected) = session.selected() {
        args = args.with_saved_result(selected.saved_result.clone());
    }
    // rfc6855 3, rfc9051 9 QUOTED-CHAR: once UTF-8 is on, a quoted string
    // with 8-bit bytes that are not UTF-8 is BAD.
    args = args.with_utf8_quoted(session.utf8());
    let Some(tag) = args.tag() else {
        session.write(b"* BAD Invalid tag\r\n");
        return Action::None;
    };
    let word = args.word();
    if word.is_empty() {
        session.tagged(tag.as_str(), "BAD Null command");
        return Action::None;
    }
    #[cfg(feature = "hostile")]
    {
        let name = String::from_utf8_lossy(word).to_ascii_uppercase();
        let mut probe = args.clone();
        let arg = match probe.sp().and_then(|_| probe.astring()) {
            Ok(a) => String::from_utf8_lossy(&a).into_owned(),
            Err(_) => String::new(),
        };
        if let Some(line) = crate::hostile::command(&name, &arg, session.env().host.as_ref()) {
            session.write(format!("{line}\r\n").as_bytes());
            session.tagged(tag.as_str(), "OK Completed");
            return Action::None;
        }
    }
    let known = lookup(word);
    let label = metric_name(known, &args);
    let started = std::time::Instant::now();
    let action = run_command(session, known, tag, word, args);
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let state = session.state();
    session.env.host.command_done(label, state, micros);
    action
}

/// A command's name for the host's metrics: the table's name, with the
/// sub-command for UID (`UID FETCH`); "OTHER" for anything else, so no
/// client bytes ever reach a metric label.
fn metric_name(known: Option<&'static Command>, args: &Parser) -> &'static str {
    let Some(command) = known else {
        return "OTHER";
    };
    if command.name != "UID" {
        return command.name;
    }
    let mut probe = args.clone();
    if probe.sp().is_err() {
        return "UID";
    }
    let sub = probe.word();
    [
        "UID FETCH",
        "UID STORE",
        "UID SEARCH",
        "UID SORT",
        "UID THREAD",
        "UID COPY",
        "UID MOVE",
        "UID EXPUNGE",
    ]
    .into_iter()
    .find(|name| name.as_bytes()[4..].eq_ignore_ascii_case(sub))
    .unwrap_or("UID")
}

/// Run a command whose tag and name have been read.
fn run_command(
    session: &mut Session,
    known: Option<&'static Command>,
    tag: Tag,
    word: &[u8],
    args: Parser,
) -> Action {
    let entry = known.filter(|c| c.states.allows(session.state()));
    let mut request = Request {
        tag,
        name: display_name(word),
        args,
        utf8_names: session.utf8(),
        names: session.wire(),
    };
    if let Some(removed) = entry.and_then(|c| c.removed_in_rev2)
        && session.rev2()
    {
        request.reply(session, removed);
        return Action::None;
    }
    let Some(entry) = entry else {
        let needs_selection = known.is_some_and(|c| c.states.allows(State::Selected));
        let text = if session.state() == State::NotAuthenticated {
            "BAD Please login first"
        } else if needs_selection {
            "BAD Please select a mailbox first"
        } else {
            "BAD Unrecognized command"
        };
        request.reply(session, text);
        return Action::None;
    };
    match (entry.handler)(session, &mut request) {
        Ok(action) => action,
        Err(error) => {
            let text = match error {
                SyntaxError::Missing => {
                    format!("BAD Missing required argument to {}", request.name)
                }
                SyntaxError::Extra => {
                    format!("BAD Unexpected extra arguments to {}", request.name)
                }
                SyntaxError::Invalid(what) => format!("BAD {what} in {}", request.name),
            };
            request.reply(session, &text);
            Action::None
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A scripted host and helpers shared by the command tests.

    use std::cell::RefCell;
    use std::rc::Rc;

    use crate::host::{AuthError, HostApi, Level, SaslReply};
    use crate::session::{Env, Session, Step};
    use crate::settings::Settings;

    /// Accepts `alice` / `secret` (canonical name `alice`), refuses `bob`
    /// with a reason, and reports `carol`'s backend as down. Records calls.
    /// One `authenticate` call: mech, authzid, user, password.
    pub type AuthCall = (String, String, String, String);

    #[derive(Clone, Default)]
    pub struct FakeHost {
        pub calls: Rc<RefCell<Vec<AuthCall>>>,
        /// What `is_admin` answers (imapd.conf `admins`).
        pub admin: bool,
        /// The host-run SASL calls: `start <mech> <initial>`,
        /// `continue <data>`, `abort`.
        pub sasl: Rc<RefCell<Vec<String>>>,
        /// The `command_done` reports: name and state.
        pub commands: Rc<RefCell<Vec<(String, crate::session::State)>>>,
        /// The server's `/shared` annotations, as the host keeps them.
        pub server_metadata: Rc<RefCell<std::collections::BTreeMap<String, Vec<u8>>>>,
        /// Users' quota roots as the host keeps them (alice is the user
        /// logged in), with the usage the host would count.
        pub quotas: Rc<RefCell<std::collections::BTreeMap<String, crate::host::QuotaUsage>>>,
        /// What `own_quota` says of enforcement (false: Cyrus's `-q`).
        pub quota_not_enforced: bool,
        /// Every user's tree, as an administrator's instance sees it.
        pub users_root: Option<std::path::PathBuf>,
        /// The mailboxes other users share with the session's user, and
        /// where their directories are (`<root>/<owner>/<dir>`).
        pub shares: Vec<crate::host::Share>,
        pub shared_root: Option<std::path::PathBuf>,
        /// The owners `acls_changed` was called for.
        pub acls_changed: Rc<RefCell<Vec<String>>>,
    }

    impl HostApi for FakeHost {
        fn authenticate(
            &self,
            mech: &str,
            authzid: &str,
            user: &str,
            password: &str,
        ) -> Result<String, AuthError> {
            self.calls.borrow_mut().push((
                mech.into(),
                authzid.into(),
                user.into(),
                password.into(),
            ));
            match (user, password) {
                ("alice", "secret") if authzid.is_empty() || authzid == "alice" => {
                    Ok("alice".into())
                }
                ("bob", _) => Err(AuthError::Refused(
                    "Too many open connections (2 of 2 for user)".into(),
                )),
                ("carol", _) => Err(AuthError::Unavailable("saslauthd is down".into())),
                _ => Err(AuthError::BadCredentials),
            }
        }

        fn log(&self, _level: Level, _message: &str) {}

        fn is_admin(&self) -> bool {
            self.admin
        }

        fn command_done(&self, name: &str, state: crate::session::State, _micros: u64) {
            self.commands.borrow_mut().push((name.into(), state));
        }

        /// As the host: for administrators only.
        fn users_root(&self) -> Option<std::path::PathBuf> {
            self.users_root.clone().filter(|_| self.admin)
        }

        fn shared_mailboxes(&self) -> Vec<crate::host::Share> {
            self.shares.clone()
        }

        fn shared_root(&self) -> std::path::PathBuf {
            self.shared_root.clone().unwrap_or_else(|| "/shared".into())
        }

        fn acls_changed(&self, owner: &str) -> Result<(), String> {
            self.acls_changed.borrow_mut().push(owner.to_string());
            Ok(())
        }

        fn own_quota(&self) -> Option<(crate::host::QuotaLimits, bool)> {
            let roots = self.quotas.borrow();
            roots
                .get("alice")
                .map(|q| (q.limits, !self.quota_not_enforced))
        }

        fn get_quota(
            &self,
            user: &str,
        ) -> Result<crate::host::QuotaUsage, crate::host::QuotaError> {
            if !self.admin && user != "alice" {
                return Err(crate::host::QuotaError::NotAllowed);
            }
            let roots = self.quotas.borrow();
            roots
                .get(user)
                .copied()
                .ok_or(crate::host::QuotaError::NoSuchRoot)
        }

        /// As the host: administrators only, the root made if missing.
        fn set_quota(
            &self,
            user: &str,
            limits: crate::host::QuotaLimits,
        ) -> Result<crate::host::QuotaUsage, crate::host::QuotaError> {
            if !self.admin {
                return Err(crate::host::QuotaError::NotAllowed);
            }
            let mut roots = self.quotas.borrow_mut();
            let root = roots.entry(user.to_string()).or_default();
            root.limits = limits;
            Ok(*root)
        }

        fn server_metadata(&self) -> Vec<(String, Vec<u8>)> {
            let held = self.server_metadata.borrow();
            held.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }

        /// As the host: administrators only.
        fn set_server_metadata(
            &self,
            entries: &[(String, Option<Vec<u8>>)],
        ) -> Result<(), crate::host::MetadataError> {
            if !self.admin {
                return Err(crate::host::MetadataError::NotAllowed);
            }
            let mut held = self.server_metadata.borrow_mut();
            for (k, v) in entries {
                match v {
                    Some(v) => held.insert(k.clone(), v.clone()),
                    None => held.remove(k),
                };
            }
            Ok(())
        }

        /// A scripted SCRAM: "first" gets "server-first", "final" gets
        /// "v=sig", the empty answer after it succeeds as alice.
        fn sasl_start(&self, mech: &str, initial: Option<&[u8]>) -> SaslReply {
            let shown = initial.map(|i| String::from_utf8_lossy(i).into_owned());
            self.sasl
                .borrow_mut()
                .push(format!("start {mech} {shown:?}"));
            match initial {
                None => SaslReply::Challenge(Vec::new()),
                Some(data) => self.sasl_continue(data),
            }
        }

        fn sasl_continue(&self, response: &[u8]) -> SaslReply {
            self.sasl
                .borrow_mut()
                .push(format!("continue {}", String::from_utf8_lossy(response)));
            match response {
                b"first" => SaslReply::Challenge(b"server-first".to_vec()),
                b"final" => SaslReply::Challenge(b"v=sig".to_vec()),
                b"" => SaslReply::Success("alice".into()),
                _ => SaslReply::Failure(AuthError::BadCredentials),
            }
        }

        fn sasl_abort(&self) {
            self.sasl.borrow_mut().push("abort".into());
        }
    }

    pub fn settings() -> Settings {
        Settings {
            servername: "test.example".into(),
            product: "imapd".into(),
            version: "0.1.0".into(),
            session_id: "test.example-1-2-3-4".into(),
            mechanisms: vec!["PLAIN".into(), "LOGIN".into()],
            allow_plaintext: true,
            ..Settings::default()
        }
    }

    pub fn session_with(settings: Settings) -> (Session, FakeHost) {
        let host = FakeHost::default();
        let env = Env {
            host: Box::new(host.clone()),
            mail_root: None,
        };
        let mut session = Session::new(settings, env);
        session.greet();
        (session, host)
    }

    pub fn session() -> Session {
        session_with(settings()).0
    }

    /// `run`'s output with CREATE's `[MAILBOXID (...)]` response codes
    /// (rfc8474 4.1; random ids) left out, for exact comparisons.
    pub fn created(out: (String, crate::session::Action)) -> String {
        let mut s = out.0;
        while let Some(at) = s.find("[MAILBOXID (") {
            let Some(len) = s[at..].find(")] ") else {
                break;
            };
            s.replace_range(at..at + len + 3, "");
        }
        s
    }

    /// Feed `input` and drain all output.
    pub fn run(session: &mut Session, input: &str) -> (String, crate::session::Action) {
        let step = session.feed(input.as_bytes());
        drain(session, step)
    }

    pub fn drain(session: &mut Session, mut step: Step) -> (String, crate::session::Action) {
        let mut out = std::mem::take(&mut step.output);
        while step.more {
            step = session.pull(1 << 20);
            out.extend_from_slice(&step.output);
        }
        (String::from_utf8_lossy(&out).into_owned(), step.action)
    }

    /// A logged-in session over a fresh mail tree in a temporary directory
    /// (the tree lives as long as the returned guard).
    pub fn with_store(settings: Settings) -> (Session, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary mail tree");
        let env = Env {
            host: Box::new(FakeHost::default()),
            mail_root: Some(dir.path().to_path_buf()),
        };
        let mut session = Session::new(settings, env);
        session.greet();
        let (_, action) = run(&mut session, "l LOGIN alice secret\r\n");
        assert_eq!(action, crate::session::Action::Promote);
        (session, dir)
    }

    /// [`with_store`] with `messages` in INBOX, stored as an MTA would
    /// deliver them (no APPEND rules apply).
    pub fn with_inbox(settings: Settings, messages: &[&str]) -> (Session, tempfile::TempDir) {
        let (mut session, dir) = with_store(settings);
        let batch = messages
            .iter()
            .map(|m| crate::store::AppendMessage {
                data: m.as_bytes().to_vec(),
                flags: crate::store::Flags::default(),
                keywords: Vec::new(),
                internal_date: None,
            })
            .collect();
        session
            .mail_store()
            .expect("mail store")
            .append(&crate::store::MailboxName::inbox(), batch)
            .expect("messages stored");
        (session, dir)
    }

    /// `session` snapshotted and restored into a new instance on the same
    /// tree, as hibernation, promotion and hot swap do.
    pub fn restored(session: Session, dir: &tempfile::TempDir, settings: Settings) -> Session {
        let snapshot = session.snapshot();
        drop(session);
        let env = Env {
            host: Box::new(FakeHost::default()),
            mail_root: Some(dir.path().to_path_buf()),
        };
        Session::restore(&snapshot, settings, env).expect("snapshot restores")
    }

    /// A session of alice, logged in, on the tree `dir` with `host` as
    /// its host (tests that script the host's answers).
    pub fn session_on(dir: &tempfile::TempDir, host: &FakeHost) -> Session {
        let env = Env {
            host: Box::new(host.clone()),
            mail_root: Some(dir.path().to_path_buf()),
        };
        let mut session = Session::new(settings(), env);
        session.greet();
        run(&mut session, "l LOGIN alice secret\r\n");
        session
    }

    /// [`with_store`] with the default test settings.
    pub fn store_session() -> (Session, tempfile::TempDir) {
        with_store(settings())
    }

    /// A second session on the same mail tree (another client of the user).
    pub fn second_session(dir: &tempfile::TempDir) -> Session {
        let env = Env {
            host: Box::new(FakeHost::default()),
            mail_root: Some(dir.path().to_path_buf()),
        };
        let mut session = Session::new(settings(), env);
        session.greet();
        run(&mut session, "l LOGIN alice secret\r\n");
        session
    }

    /// A logged-in session.
    pub fn logged_in() -> Session {
        let mut s = session();
        let (_, action) = run(&mut s, "l LOGIN alice secret\r\n");
        assert_eq!(action, crate::session::Action::Promote);
        s
    }
}

#[cfg(test)]
mod mailbox_tests;
#[cfg(test)]
mod metadata_tests;
#[cfg(test)]
mod quota_tests;

#[cfg(test)]
mod tests {
    use super::testing::*;
    use crate::session::Action;

    #[test]
    fn bad_tags_and_names() {
        let mut s = session();
        assert_eq!(run(&mut s, "\r\n").0, "* BAD Invalid tag\r\n");
        assert_eq!(run(&mut s, "*  NOOP\r\n").0, "* BAD Invalid tag\r\n");
        assert_eq!(run(&mut s, "a\r\n").0, "* BAD Invalid tag\r\n");
        assert_eq!(run(&mut s, "a+b NOOP\r\n").0, "* BAD Invalid tag\r\n");
        assert_eq!(run(&mut s, "a\0 NOOP\r\n").0, "* BAD Invalid tag\r\n");
        assert_eq!(run(&mut s, "a \r\n").0, "a BAD Null command\r\n");
    }

    #[test]
    fn unknown_before_and_after_login() {
        let mut s = session();
        assert_eq!(run(&mut s, "a FOO\r\n").0, "a BAD Please login first\r\n");
        assert_eq!(
            run(&mut s, "a SELECT INBOX\r\n").0,
            "a BAD Please login first\r\n"
        );
        assert_eq!(
            run(&mut s, "a ENABLE X\r\n").0,
            "a BAD Please login first\r\n"
        );
        assert_eq!(
            run(&mut s, "a NO\0OP\r\n").0,
            "a BAD Please login first\r\n"
        );
        let mut s = logged_in();
        assert_eq!(run(&mut s, "a FOO\r\n").0, "a BAD Unrecognized command\r\n");
        assert_eq!(
            run(&mut s, "a FO\0O\r\n").0,
            "a BAD Unrecognized command\r\n"
        );
    }

    #[test]
    fn case_insensitive() {
        let mut s = session();
        assert_eq!(run(&mut s, "a nOoP\r\n").0, "a OK Completed\r\n");
        assert_eq!(
            run(&mut s, "a noop x\r\n").0,
            "a BAD Unexpected extra arguments to Noop\r\n"
        );
    }

    #[test]
    fn selected_state_commands_need_a_mailbox() {
        let mut s = logged_in();
        // IDLE is off unless the settings offer it (imapidlepoll: 0).
        assert_eq!(
            run(&mut s, "a IDLE\r\n"),
            ("a BAD Unrecognized command\r\n".into(), Action::None)
        );
        assert_eq!(
            run(&mut s, "a UID FETCH 1:* FLAGS\r\n").0,
            "a BAD Please select a mailbox first\r\n"
        );
        assert_eq!(
            run(&mut s, "a check\r\n").0,
            "a BAD Please select a mailbox first\r\n"
        );
    }

    #[test]
    fn every_command_is_reported_by_its_table_name() {
        use crate::session::State;
        let (mut s, host) = session_with(settings());
        run(&mut s, "a nOoP\r\n");
        run(&mut s, "b XYZZY secret-looking-argument\r\n");
        run(&mut s, "c LOGIN alice secret\r\n");
        run(&mut s, "d uid fetch 1 FLAGS\r\n");
        run(&mut s, "e UID\r\n");
        // No command name at all: nothing to report.
        run(&mut s, "f \r\n");
        let got = host.commands.borrow().clone();
        let want = [
            ("NOOP", State::NotAuthenticated),
            ("OTHER", State::NotAuthenticated),
            ("LOGIN", State::Authenticated),
            ("UID FETCH", State::Authenticated),
            ("UID", State::Authenticated),
        ];
        let want: Vec<(String, State)> = want.iter().map(|(n, st)| (n.to_string(), *st)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name(b"LOGIN"), "Login");
        assert_eq!(display_name(b"uid"), "Uid");
        assert_eq!(display_name(b""), "");
        assert_eq!(display_name(b"\xff\xfeA"), "\u{fffd}\u{fffd}a");
    }

    use super::display_name;
}
