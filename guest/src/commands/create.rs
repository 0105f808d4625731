//! CREATE (rfc3501 6.3.3). A trailing hierarchy separator only says the
//! client means to create inferiors under the name: it is dropped. Missing
//! superiors are created too. INBOX always exists.

use super::Request;
use super::mailbox_arg::{mailbox_from_wire, reply_failure};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let mut raw = req.args.astring()?;
    req.args.finish()?;
    // rfc3501 6.3.3: `CREATE owatagusiam/` creates `owatagusiam`.
    if raw.len() > 1 && raw.last() == Some(&b'/') {
        raw.pop();
    }
    let name = match mailbox_from_wire(&raw) {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    match session.mail_store().and_then(|store| store.create(&name)) {
        Ok(()) => req.reply(session, "OK Completed"),
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}
