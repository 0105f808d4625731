//! CLOSE (rfc3501 6.4.2): silently expunges `\Deleted` messages of a
//! read-write mailbox, then returns to the authenticated state.
//! UNSELECT (rfc3691): the same without expunging.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn close(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    if let Some(mut selected) = session.leave_selected()
        && !selected.read_only
        // rfc4314 4: without `e` the expunge is skipped, CLOSE still OK.
        && selected.rights.contains(crate::store::acl::Rights::EXPUNGE)
        && let Err(e) = selected.mailbox.expunge(None)
    {
        // rfc3501 6.4.2: no EXPUNGE responses; the mailbox is closed anyway.
        session.log_store_error("expunging on CLOSE", &e);
    }
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

pub fn unselect(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    session.leave_selected();
    req.reply(session, "OK Completed");
    Ok(Action::None)
}
