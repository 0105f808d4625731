//! MOVE and UID MOVE (rfc6851 3.1-3.3). Named `move_` because `move` is a
//! Rust keyword.
//!
//! Replies in rfc6851 3.3's order, as Cyrus sends them: `* OK [COPYUID
//! ...] Completed` first (UIDPLUS, rfc6851 4.3), then `* n EXPUNGE` for
//! each message moved, then the other pending updates, then `OK
//! Completed`. MOVE in a read-only mailbox: `NO Permission denied`.

use super::Request;
use super::copy::{Outcome, copy_or_move, copyuid_code, parse_arguments};
use super::sequence::Numbering;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

/// MOVE.
pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    run(session, request, Numbering::Sequence)
}

/// MOVE or UID MOVE.
pub fn run(
    session: &mut Session,
    request: &mut Request,
    numbering: Numbering,
) -> Result<Action, SyntaxError> {
    let (set, destination) = parse_arguments(request)?;
    match copy_or_move(session, &set, &destination, numbering, true)? {
        Outcome::Refused(text) => request.reply(session, &text),
        Outcome::Done { copied, expunged } => {
            let mut out = String::new();
            if let Some(code) = copyuid_code(&copied) {
                out += &format!("* OK {code} Completed\r\n");
            }
            out += &session.expunge_lines(&expunged);
            session.write(out.as_bytes());
            // rfc6851 3.3: MOVE may send EXPUNGE, whatever its numbering.
            session.report_updates(true);
            request.reply(session, "OK Completed");
        }
    }
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use super::super::message_testing::*;
    use crate::store::MailboxName;

    #[test]
    fn move_reports_copyuid_then_expunges() {
        let (mut s, _dir) = selected_with(&[PLAIN, MULTIPART, PLAIN], false);
        let archive = MailboxName::new("Archive").unwrap();
        s.mail_store().unwrap().create(&archive).unwrap();
        let validity = s
            .mail_store()
            .unwrap()
            .status(&archive, false)
            .unwrap()
            .uidvalidity;
        assert_eq!(
            command(&mut s, "a MOVE 1,3 Archive"),
            format!(
                "* OK [COPYUID {validity} 1,3 1:2] Completed\r\n* 3 EXPUNGE\r\n* 1 EXPUNGE\r\n\
                 * 1 RECENT\r\na OK Completed\r\n"
            )
        );
        assert_eq!(
            command(&mut s, "b UID MOVE 2 Archive"),
            format!(
                "* OK [COPYUID {validity} 2 3] Completed\r\n* 1 EXPUNGE\r\n* 0 RECENT\r\nb OK Completed\r\n"
            )
        );
        assert_eq!(
            s.mail_store()
                .unwrap()
                .status(&archive, false)
                .unwrap()
                .messages,
            3
        );
        assert_eq!(
            command(&mut s, "c UID MOVE 1 Nowhere"),
            "c NO [TRYCREATE] Mailbox does not exist\r\n"
        );
    }

    #[test]
    fn move_needs_a_writable_mailbox() {
        let (mut s, _dir) = selected_with(&[PLAIN], true);
        assert_eq!(
            command(&mut s, "a MOVE 1 INBOX"),
            "a NO Permission denied\r\n"
        );
    }
}
