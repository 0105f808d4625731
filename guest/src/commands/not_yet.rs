//! Placeholder for the commands of the mail store (rfc9051 6.3, 6.4),
//! which are not implemented yet: `NO [CANNOT] <Command> is not available
//! yet` (rfc5530 CANNOT). Each table entry pointing here is replaced as
//! the store work lands.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let text = format!("NO [CANNOT] {} is not available yet", req.name);
    req.reply(session, &text);
    Ok(Action::None)
}
