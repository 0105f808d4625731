//! DELETE (rfc3501 6.3.4). INBOX cannot be deleted; a mailbox with
//! inferiors loses its messages and stays as `\Noselect`; a `\Noselect`
//! name with inferiors cannot be deleted. Deleting the mailbox this session
//! has selected deselects it first (`* OK [CLOSED]`).

use super::Request;
use super::mailbox_arg::{parse_mailbox, reply_failure};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
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
    // An administrator's `dm user/bob` (admin.rs).
    if let Some(target) = super::admin::target(session, &name) {
        match super::admin::delete(session, &target) {
            Ok(()) => {
                crate::access::acls_moved(session, &target.user);
                req.reply(session, "OK Completed")
            }
            Err(e) => reply_failure(session, req, &e),
        }
        return Ok(Action::None);
    }
    // rfc4314 4: DELETE needs `x`; a share is not its user's to delete.
    if crate::access::split_other(&name).is_some() {
        req.reply(session, crate::access::NO_PERMISSION);
        return Ok(Action::None);
    }
    let shared = crate::access::has_acl_below(session, &name);
    let selected_here = session
        .selected()
        .is_some_and(|s| s.mailbox.name() == &name);
    if selected_here && !name.is_inbox() {
        session.leave_selected();
        session.write(b"* OK [CLOSED] Ok\r\n");
    }
    match session.mail_store().and_then(|store| store.delete(&name)) {
        Ok(()) => {
            if shared && let Some(user) = session.user().map(str::to_string) {
                crate::access::acls_moved(session, &user);
            }
            req.reply(session, "OK Completed")
        }
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}
