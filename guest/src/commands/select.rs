//! SELECT (rfc3501 6.3.1) and EXAMINE (6.3.2), in Cyrus's response order
//! (`index_select()`): FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UNSEEN,
//! UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, then `OK [READ-WRITE] Completed`
//! or `OK [READ-ONLY] Completed`.
//!
//! Selecting while a mailbox is selected deselects it first without
//! expunging (rfc3501 6.3.1), announced with `* OK [CLOSED]` as Cyrus
//! does (rfc7162 3.2.11); a failed SELECT leaves no mailbox selected.

use super::Request;
use super::fetch::write_flags;
use super::mailbox_arg::{parse_mailbox, reply_failure};
use super::qresync::{self, QresyncParam};
use crate::selected::Selected;
use crate::session::{Action, Session};
use crate::store::acl::Rights;
use crate::wire::parser::SyntaxError;

pub fn select(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    open(session, req, false)
}

pub fn examine(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    open(session, req, true)
}

/// rfc7162 7 (rfc4466 2.1): `select-params = SP "(" select-param
/// *(SP select-param) ")"`, `select-param = "CONDSTORE" / "QRESYNC" SP
/// "(" ... ")"`.
#[derive(Debug, Default)]
struct SelectParams {
    condstore: bool,
    qresync: Option<QresyncParam>,
}

fn parse_params(req: &mut Request) -> Result<SelectParams, SyntaxError> {
    let mut params = SelectParams::default();
    if req.args.at_eol() {
        return Ok(params);
    }
    // Anything but a parenthesized list is an extra argument.
    if req.args.peek() != Some(b' ') || req.args.peek_at(1) != Some(b'(') {
        return Err(SyntaxError::Extra);
    }
    req.args.sp()?;
    req.args.eat(b'(');
    loop {
        let name = req.args.atom()?;
        match name.as_str().to_ascii_uppercase().as_str() {
            "CONDSTORE" => params.condstore = true,
            "QRESYNC" => {
                req.args.sp()?;
                params.qresync = Some(qresync::parse_param(&mut req.args)?);
            }
            _ => return Err(SyntaxError::Invalid("Invalid select parameter")),
        }
        if req.args.eat(b')') {
            return Ok(params);
        }
        req.args.sp()?;
    }
}

fn open(session: &mut Session, req: &mut Request, read_only: bool) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let name = parse_mailbox(req)?;
    let params = parse_params(req)?;
    req.args.finish()?;
    // rfc7162 3.2.5: QRESYNC only after ENABLE QRESYNC.
    if params.qresync.is_some() && !session.qresync() {
        req.reply(session, "BAD QRESYNC not enabled");
        return Ok(Action::None);
    }
    if session.leave_selected().is_some() {
        session.write(b"* OK [CLOSED] Ok\r\n");
    }
    if params.condstore {
        // rfc7162 3.1.8 (no mailbox is selected here: no extra response).
        session.enable_condstore();
    }
    let name = match name {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    // rfc4314 4: SELECT and EXAMINE need `r`; without a right that
    // changes messages, SELECT is read-only.
    let rights = match crate::access::rights(session, &name) {
        Ok(r) => r,
        Err(e) => {
            reply_failure(session, req, &e);
            return Ok(Action::None);
        }
    };
    if let Some(no) = crate::access::refusal(rights, Rights::READ) {
        req.reply(session, no);
        return Ok(Action::None);
    }
    let read_only = read_only || !crate::access::selects_writable(rights);
    let opened = session.store_for(&name).and_then(|store| {
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
    // Cyrus warns of a quota nearly used up on SELECT only.
    let warnings = if read_only {
        String::new()
    } else {
        super::quota::warnings(session)
    };
    let mut selected = Selected::new(mailbox, read_only);
    selected.rights = rights;
    let rev2 = session.rev2();
    let mut text = untagged_responses(&selected, rev2, &warnings);
    if rev2 {
        // rfc9051 6.3.2: a LIST response with the mailbox name.
        text += &super::list::list_line_of(session, &name);
    }
    if let Some(q) = &params.qresync {
        text += &resynchronise(&selected, q, rev2);
    }
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

/// rfc7162 3.2.5.1: for a client that knows the mailbox at `q.modseq`,
/// `VANISHED (EARLIER)` for what was expunged since and a FETCH (UID FLAGS
/// MODSEQ) for each known message changed since. Nothing when UIDVALIDITY
/// differs (the client starts over).
fn resynchronise(selected: &Selected, q: &QresyncParam, rev2: bool) -> String {
    let mailbox = &selected.mailbox;
    if q.uidvalidity != mailbox.uid_validity() {
        return String::new();
    }
    let uid_next = mailbox.uid_next();
    let mut out = String::new();
    let known = qresync::known_range(mailbox, q, uid_next);
    let gone = qresync::vanished(mailbox, q.modseq, &known);
    if !gone.is_empty() {
        out += &format!("* VANISHED (EARLIER) {}\r\n", qresync::format_ranges(&gone));
    }
    let known_uids = match &q.known_uids {
        Some(set) => qresync::uid_ranges(set, uid_next),
        None => vec![(1, u32::MAX)],
    };
    let mut line = Vec::new();
    for (i, r) in mailbox.records().iter().enumerate() {
        let known = known_uids.iter().any(|&(a, b)| a <= r.uid && r.uid <= b);
        if r.modseq <= q.modseq || !known || r.file.is_empty() {
            continue;
        }
        line.clear();
        line.extend_from_slice(format!("* {} FETCH (UID {} FLAGS ", i + 1, r.uid).as_bytes());
        write_flags(&mut line, r, !rev2 && mailbox.is_recent(r.uid));
        line.extend_from_slice(format!(" MODSEQ ({}))\r\n", r.modseq).as_bytes());
        out += &String::from_utf8_lossy(&line);
    }
    out
}

/// The untagged responses of SELECT and EXAMINE. With IMAP4rev2
/// (`rev2`) no RECENT and no UNSEEN, which rfc9051 deprecates (Appendix E
/// items 11 and 12; neither is in its grammar).
/// `warnings` (the quota's) go before EXISTS, where Cyrus sends them.
fn untagged_responses(selected: &Selected, rev2: bool, warnings: &str) -> String {
    let mailbox = &selected.mailbox;
    let mut out = selected.flags_responses();
    out += warnings;
    out += &format!("* {} EXISTS\r\n", mailbox.exists());
    if !rev2 {
        out += &format!("* {} RECENT\r\n", mailbox.recent_count());
        if let Some(seq) = mailbox.first_unseen_seq() {
            out += &format!("* OK [UNSEEN {seq}] Ok\r\n");
        }
    }
    out += &format!("* OK [UIDVALIDITY {}] Ok\r\n", mailbox.uid_validity());
    out += &format!("* OK [UIDNEXT {}] Ok\r\n", mailbox.uid_next());
    out += &format!("* OK [HIGHESTMODSEQ {}] Ok\r\n", mailbox.highest_modseq());
    // rfc8474 4.2
    if let Ok(id) = mailbox.mailbox_id() {
        out += &format!("* OK [MAILBOXID ({id})] Ok\r\n");
    }
    out
}
