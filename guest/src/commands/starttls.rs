//! STARTTLS (rfc9051 6.2.1, rfc2595 3.1). Cyrus's checks, in its order:
//! - TLS not configured: the command does not exist (`BAD Unrecognized
//!   command`, Cyrus's `goto badcmd` when `!tls_enabled()`); a connection
//!   already inside TLS (`-s`) still knows the command.
//! - extra arguments: BAD;
//! - after login: `BAD Can't Starttls after authentication`;
//! - TLS already up: `NO TLS already active` (cyrus-compat 2.8).
//!
//! On success the session discards everything buffered after this
//! command's line end (the STARTTLS injection attack) and the host starts
//! the handshake.

use super::Request;
use crate::session::{Action, Session, State};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let tls = session.security().tls;
    if !session.settings().starttls_available && !tls {
        req.reply(session, "BAD Unrecognized command");
        return Ok(Action::None);
    }
    req.no_arguments()?;
    if session.state() != State::NotAuthenticated {
        req.reply(session, "BAD Can't Starttls after authentication");
        return Ok(Action::None);
    }
    if tls {
        req.reply(session, "NO TLS already active");
        return Ok(Action::None);
    }
    if session.facts.compress {
        // rfc4978 3: TLS must lie beneath COMPRESS, never on top of it
        // (only reachable after UNAUTHENTICATE).
        req.reply(session, "BAD Can't Starttls after Compress");
        return Ok(Action::None);
    }
    req.reply(session, "OK Begin TLS negotiation now");
    Ok(Action::StartTls)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::Action;

    fn tls_settings() -> crate::settings::Settings {
        let mut st = settings();
        st.starttls_available = true;
        st.allow_plaintext = false;
        st
    }

    #[test]
    fn starts_and_discards_pipelined_input() {
        let (mut s, _) = session_with(tls_settings());
        assert_eq!(
            run(&mut s, "t STARTTLS\r\nx LOGIN alice secret\r\n"),
            (
                "t OK Begin TLS negotiation now\r\n".into(),
                Action::StartTls
            )
        );
        // Now inside TLS: the capabilities change and a second one is refused.
        assert_eq!(
            run(&mut s, "c CAPABILITY\r\nt2 STARTTLS\r\n").0,
            "* CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN AUTH=PLAIN AUTH=LOGIN SASL-IR COMPRESS=DEFLATE APPENDLIMIT=4294967295\r\n\
             c OK Completed\r\nt2 NO TLS already active\r\n"
        );
        assert!(s.snapshot().contains("\"tls_started\":true"));
    }

    #[test]
    fn not_configured() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "t STARTTLS\r\n").0,
            "t BAD Unrecognized command\r\n"
        );
    }

    #[test]
    fn already_active_with_implicit_tls() {
        let mut st = settings();
        st.tls_active = true;
        let (mut s, _) = session_with(st);
        assert_eq!(
            run(&mut s, "t STARTTLS\r\n").0,
            "t NO TLS already active\r\n"
        );
    }

    #[test]
    fn extra_arguments_and_after_login() {
        let (mut s, _) = session_with(tls_settings());
        assert_eq!(
            run(&mut s, "t STARTTLS x\r\n").0,
            "t BAD Unexpected extra arguments to Starttls\r\n"
        );
        let mut st = tls_settings();
        st.external_ssf = 2;
        let (mut s, _) = session_with(st);
        run(&mut s, "l LOGIN alice secret\r\n");
        assert_eq!(
            run(&mut s, "t STARTTLS\r\n"),
            (
                "t BAD Can't Starttls after authentication\r\n".into(),
                Action::None
            )
        );
    }
}
