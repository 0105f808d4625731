//! UNAUTHENTICATE (rfc8437 3). Cyrus 3.6 offers it only to an
//! authenticated admin (cyrus-compat 2.8); for anyone else it is
//! `BAD Unrecognized command`, and before login `BAD Please login first`
//! (the dispatch table's state check). Cyrus's order: the admin check,
//! then the line end (`BAD Unexpected extra arguments to Unauthenticate`).
//!
//! Success resets every piece of connection state but TLS: a selected
//! mailbox is closed without expunging, enabled extensions and the ID are
//! forgotten (as Cyrus's `cmd_unauthenticate()` does); the reply is
//! `OK [CAPABILITY <pre-auth list>] Completed`, and the host moves the
//! session into a fresh pre-auth instance with no filesystem, forgetting
//! the user (`demote`). Commands pipelined after it run there (rfc8437 3
//! lets a client pipeline AUTHENTICATE).

use super::Request;
use crate::capability::{self, Listing};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    if !capability::unauthenticate_offered(session.settings(), session.security()) {
        // rfc8437 3: BAD when the server does not advertise it.
        req.reply(session, "BAD Unrecognized command");
        return Ok(Action::None);
    }
    req.no_arguments()?;
    session.become_unauthenticated();
    // rfc8437 3 "Result: OK - Completed, now in not authenticated state";
    // Cyrus adds the pre-auth capability list, which changes with the state.
    let caps =
        capability::capability_string(session.settings(), session.security(), Listing::Greeting);
    req.reply(session, &format!("OK [CAPABILITY {caps}] Completed"));
    Ok(Action::Demote)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::{Action, Env, Session, State};

    const PRE_CAPS: &str = "IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN SASL-IR";

    /// An admin logged in over a fresh mail tree.
    fn admin() -> (Session, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary mail tree");
        let env = Env {
            host: Box::new(FakeHost {
                admin: true,
                ..FakeHost::default()
            }),
            mail_root: Some(dir.path().to_path_buf()),
        };
        let mut s = Session::new(settings(), env);
        s.greet();
        let (out, action) = run(&mut s, "l LOGIN alice secret\r\n");
        assert_eq!(action, Action::Promote);
        // The LOGIN reply's list already offers it (cyrus-compat 2.8).
        assert!(
            out.contains(" UNAUTHENTICATE COMPRESS=DEFLATE APPENDLIMIT="),
            "admin LOGIN reply: {out}"
        );
        (s, dir)
    }

    #[test]
    fn back_to_not_authenticated() {
        let (mut s, _dir) = admin();
        let (out, _) = run(&mut s, "c CAPABILITY\r\n");
        assert!(out.contains(" UNAUTHENTICATE "), "{out}");
        assert_eq!(run(&mut s, "e ENABLE CONDSTORE\r\n").1, Action::None);
        let (out, _) = run(&mut s, "s SELECT INBOX\r\n");
        assert!(out.ends_with("s OK [READ-WRITE] Completed\r\n"), "{out}");
        assert_eq!(
            run(&mut s, "u UNAUTHENTICATE\r\n"),
            (
                format!("u OK [CAPABILITY {PRE_CAPS}] Completed\r\n"),
                Action::Demote
            )
        );
        assert_eq!(s.state(), State::NotAuthenticated);
        assert_eq!(s.user(), None);
        assert!(s.selected().is_none());
        assert!(!s.condstore());
        // rfc3501 3: only not-authenticated commands now.
        assert_eq!(run(&mut s, "n NOOP\r\n").0, "n OK Completed\r\n");
        assert_eq!(
            run(&mut s, "f FETCH 1 FLAGS\r\n").0,
            "f BAD Please login first\r\n"
        );
        assert_eq!(
            run(&mut s, "l LIST \"\" *\r\n").0,
            "l BAD Please login first\r\n"
        );
        assert_eq!(
            run(&mut s, "u UNAUTHENTICATE\r\n").0,
            "u BAD Please login first\r\n"
        );
        // And a new login works.
        assert_eq!(run(&mut s, "l LOGIN alice secret\r\n").1, Action::Promote);
        assert_eq!(s.user(), Some("alice"));
    }

    #[test]
    fn closes_the_mailbox_without_expunging() {
        let (mut s, dir) = admin();
        let msg = "Subject: x\r\n\r\nx\r\n";
        let append = format!("a APPEND INBOX (\\Deleted) {{{}+}}\r\n{msg}\r\n", msg.len());
        assert!(run(&mut s, &append).0.starts_with("a OK"));
        assert!(
            run(&mut s, "s SELECT INBOX\r\n")
                .0
                .contains("* 1 EXISTS\r\n")
        );
        assert_eq!(run(&mut s, "u UNAUTHENTICATE\r\n").1, Action::Demote);
        // rfc8437 3: "no expunge event is generated": no `* 1 EXPUNGE`,
        // and the message is still there for the next session.
        let mut other = second_session(&dir);
        let (out, _) = run(&mut other, "s SELECT INBOX\r\n");
        assert!(out.contains("* 1 EXISTS\r\n"), "{out}");
    }

    #[test]
    fn pipelined_commands_wait_for_the_new_instance() {
        let (mut s, _dir) = admin();
        let (out, action) = run(&mut s, "u UNAUTHENTICATE\r\nn NOOP\r\n");
        assert_eq!(
            (out, action),
            (
                format!("u OK [CAPABILITY {PRE_CAPS}] Completed\r\n"),
                Action::Demote
            )
        );
        // The host restores the snapshot into a pre-auth instance, which
        // runs what was pipelined.
        let snap = s.snapshot();
        let env = Env {
            host: Box::new(FakeHost::default()),
            mail_root: None,
        };
        let mut s = Session::restore(&snap, settings(), env).unwrap();
        assert_eq!(s.state(), State::NotAuthenticated);
        let step = s.feed(&[]);
        assert_eq!(drain(&mut s, step).0, "n OK Completed\r\n");
    }

    #[test]
    fn extra_arguments() {
        let (mut s, _dir) = admin();
        assert_eq!(
            run(&mut s, "u UNAUTHENTICATE now\r\n"),
            (
                "u BAD Unexpected extra arguments to Unauthenticate\r\n".into(),
                Action::None
            )
        );
        assert_eq!(s.state(), State::Authenticated);
    }

    #[test]
    fn not_for_users_who_are_not_admins() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "u UNAUTHENTICATE\r\n").0,
            "u BAD Please login first\r\n"
        );
        let mut s = logged_in();
        let (out, _) = run(&mut s, "c CAPABILITY\r\n");
        assert!(!out.contains("UNAUTHENTICATE"), "{out}");
        // Cyrus: `if (!imapd_userisadmin) goto badcmd;`, before the
        // arguments are looked at.
        for cmd in ["u UNAUTHENTICATE\r\n", "u unauthenticate x\r\n"] {
            assert_eq!(
                run(&mut s, cmd),
                ("u BAD Unrecognized command\r\n".into(), Action::None)
            );
        }
        assert_eq!(s.state(), State::Authenticated);
    }
}
