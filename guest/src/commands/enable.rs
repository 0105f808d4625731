//! ENABLE (rfc5161). Authenticated state only (rfc5161 3.1; Cyrus
//! answers `BAD Please login first` before login).
//!
//! `ENABLE 1*(SP capability)`: extensions we do not implement are ignored
//! (rfc5161 3.1); `* ENABLED` lists only those newly enabled.
//! CONDSTORE and QRESYNC (rfc7162 3.1, 3.2.3): QRESYNC implies CONDSTORE.
//! IMAP4rev2 (rfc9051 6.3.1) switches the session to IMAP4rev2's rules
//! (README "IMAP4rev2"), for good: nothing turns it off. UTF8=ACCEPT
//! (rfc6855 3) likewise switches it to UTF-8 names, quoted strings and
//! header fields (README "UTF8=ACCEPT").

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

/// Extensions this server can enable, upper case (IMAP4rev2 and
/// UTF8=ACCEPT only where they are advertised:
/// [`crate::capability::rev2_offered`], [`crate::capability::utf8_offered`]).
pub const ENABLEABLE: &[&str] = &["CONDSTORE", "QRESYNC", "IMAP4rev2", "UTF8=ACCEPT"];

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let mut newly = Vec::new();
    loop {
        req.args.sp()?;
        let atom = req.args.atom()?;
        let mut name = atom.as_str().to_ascii_uppercase();
        if name == "IMAP4REV2" {
            // Spelt as the capability is (rfc9051 7.2.1).
            name = "IMAP4rev2".into();
        }
        let offered = match name.as_str() {
            "IMAP4rev2" => crate::capability::rev2_offered(session.settings()),
            "UTF8=ACCEPT" => crate::capability::utf8_offered(session.settings()),
            _ => true,
        };
        if offered
            && ENABLEABLE.contains(&name.as_str())
            && !session.facts.enabled.contains(&name)
            && !newly.contains(&name)
        {
            newly.push(name);
        }
        if req.args.at_eol() {
            break;
        }
    }
    req.no_arguments()?;
    let mut line = String::from("* ENABLED");
    for name in &newly {
        line.push(' ');
        line.push_str(name);
    }
    line.push_str("\r\n");
    session.write(line.as_bytes());
    let condstore = newly.iter().any(|n| n == "CONDSTORE" || n == "QRESYNC");
    newly.retain(|n| n != "CONDSTORE");
    session.facts.enabled.extend(newly);
    if condstore {
        // rfc7162 3.1: enabling while selected reports HIGHESTMODSEQ.
        session.enable_condstore();
    }
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;

    #[test]
    fn known_answers() {
        let mut s = logged_in();
        assert_eq!(
            run(&mut s, "e ENABLE CONDSTORE X-FOO\r\n").0,
            "* ENABLED CONDSTORE\r\ne OK Completed\r\n"
        );
        // Already enabled: not newly. QRESYNC implies CONDSTORE.
        assert_eq!(
            run(&mut s, "e ENABLE condstore QRESYNC\r\n").0,
            "* ENABLED QRESYNC\r\ne OK Completed\r\n"
        );
        assert!(s.condstore() && s.qresync());
        assert_eq!(
            run(&mut s, "e ENABLE\r\n").0,
            "e BAD Missing required argument to Enable\r\n"
        );
        assert_eq!(
            run(&mut s, "e ENABLE a \r\n").0,
            "e BAD Missing required argument to Enable\r\n"
        );
        assert_eq!(
            run(&mut s, "e ENABLE (a)\r\n").0,
            "e BAD Invalid atom in Enable\r\n"
        );
    }
}
