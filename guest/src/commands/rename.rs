//! RENAME (rfc3501 6.3.5), inferiors included. Renaming INBOX moves its
//! messages to the new name and leaves INBOX empty. A selected mailbox
//! that moves away is deselected (`* OK [CLOSED]`); a selected INBOX stays
//! selected and learns of its emptiness through EXPUNGE responses.

use super::Request;
use super::mailbox_arg::{parse_mailbox, reply_failure};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let from = parse_mailbox(req)?;
    req.args.sp()?;
    let to = parse_mailbox(req)?;
    req.args.finish()?;
    let (from, to) = match (from, to) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(bad), _) | (_, Err(bad)) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    // An administrator's `renm user/bob/A user/bob/B` (admin.rs).
    match (
        super::admin::target(session, &from),
        super::admin::target(session, &to),
    ) {
        (None, None) => {}
        (Some(from), Some(to)) if from.user == to.user => {
            match super::admin::rename(session, &from, &to) {
                Ok(()) => {
                    crate::access::acls_moved(session, &from.user);
                    req.reply(session, "OK Completed")
                }
                Err(e) => reply_failure(session, req, &e),
            }
            return Ok(Action::None);
        }
        _ => {
            req.reply(
                session,
                "NO [CANNOT] Cannot rename between users' mailboxes",
            );
            return Ok(Action::None);
        }
    }
    // rfc4314 4: other users' mailboxes shared with this one are not its
    // to rename, nor to rename into.
    if crate::access::split_other(&from).is_some() || crate::access::split_other(&to).is_some() {
        req.reply(session, crate::access::NO_PERMISSION);
        return Ok(Action::None);
    }
    let shared = crate::access::has_acl_below(session, &from);
    let moves_selected = session.selected().is_some_and(|s| {
        let selected = s.mailbox.name();
        !from.is_inbox() && (selected == &from || selected.is_inferior_of(&from))
    });
    let renamed = session
        .mail_store()
        .and_then(|store| store.rename(&from, &to));
    match renamed {
        Ok(()) => {
            if shared && let Some(user) = session.user().map(str::to_string) {
                crate::access::acls_moved(session, &user);
            }
            if moves_selected {
                session.leave_selected();
                session.write(b"* OK [CLOSED] Ok\r\n");
            } else {
                session.report_updates(true);
            }
            req.reply(session, "OK Completed");
        }
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}
