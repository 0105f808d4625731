//! NAMESPACE (rfc2342): one personal namespace, no other users', no shared.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    session.write(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    req.reply(session, "OK Completed");
    Ok(Action::None)
}
