//! SUBSCRIBE (rfc3501 6.3.6) and UNSUBSCRIBE (6.3.7). Like Cyrus, only
//! existing mailboxes can be subscribed; unsubscribing a name that is not
//! subscribed succeeds.

use super::Request;
use super::mailbox_arg::{parse_mailbox, reply_failure};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn subscribe(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    change(session, req, true)
}

pub fn unsubscribe(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    change(session, req, false)
}

fn change(
    session: &mut Session,
    req: &mut Request,
    subscribe: bool,
) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let name = parse_mailbox(req)?;
    req.args.finish()?;
    let name = match name {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    let done = session.mail_store().and_then(|store| {
        if subscribe {
            store.subscribe(&name)
        } else {
            store.unsubscribe(&name)
        }
    });
    match done {
        Ok(()) => req.reply(session, "OK Completed"),
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}
