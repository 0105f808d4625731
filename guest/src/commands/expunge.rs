//! EXPUNGE (rfc3501 6.4.3) and, for the UID command, UID EXPUNGE
//! (rfc4315 2.1) through [`expunge_uids`].

use super::Request;
use super::mailbox_arg::failure_text;
use crate::session::{Action, Session};
use crate::store::StoreError;
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    let tag = req.tag.as_str().to_string();
    expunge_uids(session, &tag, None);
    Ok(Action::None)
}

/// Expunges the `\Deleted` messages of the selected mailbox (all of them,
/// or only those among `uids` for UID EXPUNGE), writes `* n EXPUNGE` for
/// each, then the other pending updates, then the tagged reply.
pub fn expunge_uids(session: &mut Session, tag: &str, uids: Option<&[u32]>) {
    let expunged = match session.selected_mut() {
        None => {
            session.tagged(tag, "BAD Please select a mailbox first");
            return;
        }
        Some(selected) if selected.read_only => Err(StoreError::ReadOnly),
        // rfc4314 4: EXPUNGE needs `e`.
        Some(selected) if !selected.rights.contains(crate::store::acl::Rights::EXPUNGE) => {
            Err(StoreError::PermissionDenied)
        }
        Some(selected) => {
            let gone = selected.mailbox.expunge(uids);
            // The client subtracts expunged \Recent messages itself.
            selected.reported_recent = selected.mailbox.recent_count();
            gone
        }
    };
    match expunged {
        Ok(gone) => {
            // Highest numbers first: each stays valid when sent.
            let out = session.expunge_lines(&gone);
            session.write(out.as_bytes());
            session.report_updates(true);
            // rfc7162 3.2.7, 3.2.9: with QRESYNC, the new HIGHESTMODSEQ.
            match session.selected() {
                Some(s) if session.qresync() && !gone.is_empty() => {
                    let text = format!(
                        "OK [HIGHESTMODSEQ {}] Completed",
                        s.mailbox.highest_modseq()
                    );
                    session.tagged(tag, &text);
                }
                _ => session.tagged(tag, "OK Completed"),
            }
        }
        Err(e) => {
            let text = failure_text(session, &e);
            session.tagged(tag, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{run, second_session, store_session};

    /// Found by the stress tester: EXPUNGE removed a \Deleted message that
    /// another session had just appended (or copied) and answered
    /// `* 2 EXPUNGE` to a client that had been told of one message.
    #[test]
    fn no_expunge_response_for_a_message_never_announced() {
        let (mut s, dir) = store_session();
        let (out, _) = run(&mut s, "a APPEND INBOX {9}\r\nSubject:\r\n\r\n");
        assert!(out.contains("a OK"), "{out}");
        let (out, _) = run(&mut s, "s SELECT INBOX\r\n");
        assert!(out.contains("* 1 EXISTS\r\n"), "{out}");
        let mut other = second_session(&dir);
        let (out, _) = run(
            &mut other,
            "o APPEND INBOX (\\Deleted) {9}\r\nSubject:\r\n\r\n",
        );
        assert!(out.contains("o OK"), "{out}");
        let (out, _) = run(&mut s, "e EXPUNGE\r\n");
        assert_eq!(out, "e OK Completed\r\n");
        // The view is still the one message the client knows.
        let (out, _) = run(&mut s, "n NOOP\r\n");
        assert_eq!(out, "n OK Completed\r\n");
        let (out, _) = run(&mut s, "f FETCH 1:* (UID)\r\n");
        assert_eq!(out, "* 1 FETCH (UID 1)\r\nf OK Completed\r\n");
    }
}
