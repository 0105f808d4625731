//! SELECT (rfc3501 6.3.1) and EXAMINE (6.3.2), in Cyrus's response order
//! (`index_select()`): FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UNSEEN,
//! UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, then `OK [READ-WRITE] Completed`
//! or `OK [READ-ONLY] Completed`.
//!
//! Selecting while a mailbox is selected deselects it first without
//! expunging (rfc3501 6.3.1), announced with `* OK [CLOSED]` as Cyrus
//! does (rfc7162 3.2.11); a failed SELECT leaves no mailbox selected.

use super::Request;
use super::mailbox_arg::{parse_mailbox, reply_failure};
use crate::selected::Selected;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn select(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    open(session, req, false)
}

pub fn examine(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    open(session, req, true)
}

fn open(session: &mut Session, req: &mut Request, read_only: bool) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let name = parse_mailbox(req)?;
    req.args.finish()?;
    if session.leave_selected().is_some() {
        session.write(b"* OK [CLOSED] Ok\r\n");
    }
    let name = match name {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    let opened = session.mail_store().and_then(|store| {
        if read_only {
            store.examine(&name)
        } else {
            store.select(&name)
        }
    });
    let mailbox = match opened {
        Ok(mailbox) => mailbox,
        Err(e) => {
            reply_failure(session, req, &e);
            return Ok(Action::None);
        }
    };
    let selected = Selected::new(mailbox, read_only);
    let text = untagged_responses(&selected);
    session.write(text.as_bytes());
    session.enter_selected(selected);
    let done = if read_only {
        "OK [READ-ONLY] Completed"
    } else {
        "OK [READ-WRITE] Completed"
    };
    req.reply(session, done);
    Ok(Action::None)
}

fn untagged_responses(selected: &Selected) -> String {
    let mailbox = &selected.mailbox;
    let mut out = selected.flags_responses();
    out += &format!("* {} EXISTS\r\n", mailbox.exists());
    out += &format!("* {} RECENT\r\n", mailbox.recent_count());
    if let Some(seq) = mailbox.first_unseen_seq() {
        out += &format!("* OK [UNSEEN {seq}] Ok\r\n");
    }
    out += &format!("* OK [UIDVALIDITY {}] Ok\r\n", mailbox.uid_validity());
    out += &format!("* OK [UIDNEXT {}] Ok\r\n", mailbox.uid_next());
    out += &format!("* OK [HIGHESTMODSEQ {}] Ok\r\n", mailbox.highest_modseq());
    out
}
