//! LOGIN (rfc9051 6.2.3). Cyrus's `cmd_login()` order (cyrus-compat 2.9):
//! 1. user name, then SP (else `BAD Missing required argument to Login`);
//! 2. already logged in: `BAD Already logged in`;
//! 3. no layer, or `tls_required` before TLS:
//!    `NO Login only available under a layer`;
//! 4. the password, then the line end
//!    (else `BAD Unexpected extra arguments to LOGIN`, in capitals as Cyrus);
//! 5. the host checks the password (and sleeps `failedloginpause` itself).
//!
//! Success: `OK [CAPABILITY <full list>] User logged in SESSIONID=<id>`
//! and the session is promoted.

use super::Request;
use crate::capability::{self, Listing};
use crate::host::AuthError;
use crate::session::{Action, Session, State};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let user = req.args.astring()?;
    req.args.sp()?;
    if session.state() != State::NotAuthenticated {
        req.reply(session, "BAD Already logged in");
        return Ok(Action::None);
    }
    if !capability::login_allowed(session.settings(), session.security()) {
        req.reply(session, "NO Login only available under a layer");
        return Ok(Action::None);
    }
    let password = req.args.astring()?;
    if req.args.finish().is_err() {
        req.reply(session, "BAD Unexpected extra arguments to LOGIN");
        return Ok(Action::None);
    }
    let (Ok(user), Ok(password)) = (String::from_utf8(user), String::from_utf8(password)) else {
        // No password the host knows is invalid UTF-8.
        req.reply(session, "NO Login failed: authentication failure");
        return Ok(Action::None);
    };
    match session.env.host.authenticate("LOGIN", "", &user, &password) {
        Ok(canonical) => Ok(logged_in(
            session,
            req.tag.as_str(),
            canonical,
            "User logged in",
        )),
        Err(error) => {
            let text = failure_text(&error, "Login failed: authentication failure");
            req.reply(session, &text);
            Ok(Action::None)
        }
    }
}

/// The NO text for a failed authentication; `bad_credentials` is the
/// command's own wording for a wrong password.
pub(crate) fn failure_text(error: &AuthError, bad_credentials: &str) -> String {
    match error {
        AuthError::BadCredentials => format!("NO {bad_credentials}"),
        AuthError::Refused(text) => format!("NO {}", one_line(text)),
        AuthError::Unavailable(text) => format!("NO [UNAVAILABLE] {}", one_line(text)),
    }
}

/// Host text goes into a response line: keep it on one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Enter the authenticated state and send the tagged OK with the full
/// capability list (cyrus-compat 2.8): `OK [CAPABILITY ...] <text>
/// SESSIONID=<id>`. The host then promotes the session.
pub(crate) fn logged_in(session: &mut Session, tag: &str, user: String, text: &str) -> Action {
    session.become_authenticated(user);
    let caps = capability::capability_string(session.settings(), session.security(), Listing::Full);
    let line = format!(
        "OK [CAPABILITY {caps}] {text} SESSIONID=<{}>",
        session.settings().session_id
    );
    session.tagged(tag, &line);
    Action::Promote
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::{Action, State};

    const OK: &str = "l OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN COMPRESS=DEFLATE APPENDLIMIT=4294967295] User logged in \
                      SESSIONID=<test.example-1-2-3-4>\r\n";

    #[test]
    fn success_promotes() {
        let (mut s, host) = session_with(settings());
        assert_eq!(
            run(&mut s, "l LOGIN alice secret\r\n"),
            (OK.into(), Action::Promote)
        );
        assert_eq!(s.state(), State::Authenticated);
        assert_eq!(s.user(), Some("alice"));
        assert_eq!(
            host.calls.borrow()[0],
            (
                "LOGIN".into(),
                String::new(),
                "alice".into(),
                "secret".into()
            )
        );
    }

    #[test]
    fn quoted_and_literal_arguments() {
        let mut s = session();
        assert_eq!(run(&mut s, "l login \"alice\" {6}\r\n").0, "+ go ahead\r\n");
        assert_eq!(run(&mut s, "secret\r\n"), (OK.into(), Action::Promote));
        let mut s = session();
        assert_eq!(
            run(&mut s, "l LOGIN {5+}\r\nalice \"secret\"\n"),
            (OK.into(), Action::Promote)
        );
    }

    #[test]
    fn failures() {
        let mut s = session();
        let cases = [
            (
                "l LOGIN alice wrong\r\n",
                "l NO Login failed: authentication failure\r\n",
            ),
            (
                "l LOGIN bob x\r\n",
                "l NO Too many open connections (2 of 2 for user)\r\n",
            ),
            (
                "l LOGIN carol x\r\n",
                "l NO [UNAVAILABLE] saslauthd is down\r\n",
            ),
            (
                "l LOGIN alice\r\n",
                "l BAD Missing required argument to Login\r\n",
            ),
            (
                "l LOGIN\r\n",
                "l BAD Missing required argument to Login\r\n",
            ),
            (
                "l LOGIN alice secret x\r\n",
                "l BAD Unexpected extra arguments to LOGIN\r\n",
            ),
            (
                "l LOGIN al\0ice secret\r\n",
                "l BAD Missing space in Login\r\n",
            ),
            (
                "l LOGIN \"a\\lice\" secret\r\n",
                "l BAD Invalid escape in quoted string in Login\r\n",
            ),
            (
                "l LOGIN alice \"s\u{e9}\r\n",
                "l BAD Invalid quoted string in Login\r\n",
            ),
            (
                "l LOGIN alice \"s\u{e9}\"\r\n",
                "l NO Login failed: authentication failure\r\n",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(run(&mut s, input), (want.into(), Action::None), "{input:?}");
        }
        assert_eq!(s.state(), State::NotAuthenticated);
    }

    #[test]
    fn layer_rules() {
        let mut st = settings();
        st.allow_plaintext = false;
        let (mut s, host) = session_with(st.clone());
        assert_eq!(
            run(&mut s, "l LOGIN alice secret\r\n").0,
            "l NO Login only available under a layer\r\n"
        );
        assert!(host.calls.borrow().is_empty());
        st.external_ssf = 2;
        let (mut s, _) = session_with(st.clone());
        assert_eq!(run(&mut s, "l LOGIN alice secret\r\n").1, Action::Promote);
        st.tls_required = true;
        st.allow_plaintext = true;
        let (mut s, _) = session_with(st.clone());
        assert_eq!(
            run(&mut s, "l LOGIN alice secret\r\n").0,
            "l NO Login only available under a layer\r\n"
        );
        st.tls_active = true;
        let (mut s, _) = session_with(st);
        assert_eq!(
            run(&mut s, "l LOGIN alice secret\r\n").0,
            "l OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN AUTH=PLAIN AUTH=LOGIN COMPRESS=DEFLATE APPENDLIMIT=4294967295] \
             User logged in SESSIONID=<test.example-1-2-3-4>\r\n"
        );
    }

    #[test]
    fn already_logged_in() {
        let mut s = logged_in();
        assert_eq!(
            run(&mut s, "l LOGIN alice secret\r\n"),
            ("l BAD Already logged in\r\n".into(), Action::None)
        );
    }

    #[test]
    fn stops_after_promote_and_keeps_the_rest() {
        let mut s = session();
        let (out, action) = run(&mut s, "l LOGIN alice secret\r\nn NOOP\r\nx LOGIN {3}\r\n");
        assert_eq!((out.as_str(), action), (OK, Action::Promote));
        // The host snapshots here; the rest of the input travels with it.
        let snap = s.snapshot();
        let env = crate::session::Env {
            host: Box::new(FakeHost::default()),
            mail_root: Some("/mail".into()),
        };
        let mut s = crate::session::Session::restore(&snap, settings(), env).unwrap();
        assert_eq!(run(&mut s, "").0, "n OK Completed\r\n+ go ahead\r\n");
    }
}
