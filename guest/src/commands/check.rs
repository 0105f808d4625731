//! CHECK (rfc3501 6.4.1): every write is already durable, so a checkpoint
//! is a sync: it reports what changed, as NOOP does.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    session.report_updates(true);
    req.reply(session, "OK Completed");
    Ok(Action::None)
}
