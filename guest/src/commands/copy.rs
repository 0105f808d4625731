//! COPY and UID COPY (rfc3501 6.4.7, 6.4.8; rfc4315 COPYUID), and the
//! shared part of MOVE (rfc6851): naming the destination, opening it.
//!
//! Replies as Cyrus (imapd.c `cmd_copy`): `OK [COPYUID v src dst]
//! Completed`; a destination that does not exist is `NO [TRYCREATE]
//! Mailbox does not exist` (rfc3501 6.4.7); nothing copied (a UID set
//! naming no message) is a plain `OK Completed`.

use super::Request;
use super::mailbox_arg::{Wire, failure_text, mailbox_from_wire};
use super::sequence::{MessageCommand, Numbering, resolve};
use crate::selected::format_uid_set;
use crate::session::{Action, Session};
use crate::store::acl::Rights;
use crate::store::{CopyUid, MailboxName, StoreError};
use crate::wire::parser::SyntaxError;
use crate::wire::types::SequenceSet;

/// COPY.
pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    run(session, request, Numbering::Sequence)
}

/// COPY or UID COPY.
pub fn run(
    session: &mut Session,
    request: &mut Request,
    numbering: Numbering,
) -> Result<Action, SyntaxError> {
    let command = MessageCommand::new("Copy", "UID Copy", numbering);
    let (set, destination) = parse_arguments(request)?;
    let outcome = copy_or_move(session, &set, &destination, numbering, false);
    finish(session, request, command, outcome)
}

/// `sequence-set SP mailbox`, to the end of the command.
pub(crate) fn parse_arguments(
    request: &mut Request,
) -> Result<(SequenceSet, Vec<u8>), SyntaxError> {
    request.args.sp()?;
    let set = request.args.sequence_set()?;
    request.args.sp()?;
    let destination = request.args.astring()?;
    request.args.finish()?;
    Ok((set, destination))
}

/// What a COPY or MOVE did.
pub(crate) enum Outcome {
    Done {
        copied: CopyUid,
        /// MOVE: `(seq, uid)` of the source messages removed, in the order
        /// their `* n EXPUNGE` goes out.
        expunged: Vec<(u32, u32)>,
    },
    /// The tagged reply text (`NO ...`, `BAD ...`).
    Refused(String),
}

/// The destination name as the client wrote it (rfc3501 5.1.3 modified
/// UTF-7, or UTF-8 with IMAP4rev2 (rfc9051 5.1); INBOX case-insensitive).
fn destination_name(raw: &[u8], wire: Wire) -> Option<MailboxName> {
    mailbox_from_wire(raw, wire).ok()
}

/// Copies (or moves) the messages `set` names into `destination`.
pub(crate) fn copy_or_move(
    session: &mut Session,
    set: &SequenceSet,
    destination: &[u8],
    numbering: Numbering,
    moving: bool,
) -> Result<Outcome, SyntaxError> {
    let Some(name) = destination_name(destination, session.wire()) else {
        return Ok(Outcome::Refused("NO Invalid mailbox name".into()));
    };
    // rfc4314 4: the target needs `i` (flags the user may not set there
    // are dropped); rfc6851 3.3: a MOVE also needs `t` and `e` on the
    // source, as the STORE and EXPUNGE it stands for.
    let rights = match crate::access::rights(session, &name) {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::Refused(failure_text(session, &e))),
    };
    if let Some(no) = crate::access::refusal(rights, Rights::INSERT) {
        return Ok(Outcome::Refused(no.into()));
    }
    let removes = Rights::DELETE_MESSAGES.union(Rights::EXPUNGE);
    if moving
        && session
            .selected()
            .is_some_and(|s| !s.rights.contains(removes))
    {
        return Ok(Outcome::Refused(crate::access::NO_PERMISSION.into()));
    }
    let shared = crate::access::share_of(session, &name).is_some();
    // A MOVE out of a mailbox another user shares adds to this user's root.
    let from_share = match session.selected().map(|s| s.mailbox.name().clone()) {
        Some(source) => crate::access::share_of(session, &source).is_some(),
        None => false,
    };
    // rfc9208 4.3.1: a COPY adds to the user's one quota root; a MOVE
    // stays inside it. (A share is in its owner's root.)
    if (!moving || from_share)
        && !shared
        && let Some(selected) = session.selected()
    {
        let records = selected.mailbox.records();
        let (count, octets) = resolve(set, records, numbering)?
            .iter()
            .filter_map(|&i| records.get(i))
            .filter(|r| !r.file.is_empty())
            .fold((0u64, 0u64), |(n, o), r| (n + 1, o + r.size));
        match super::quota::over_quota(session, count, octets) {
            Ok(None) => {}
            Ok(Some(text)) => return Ok(Outcome::Refused(text.into())),
            Err(e) => return Ok(Outcome::Refused(failure_text(session, &e))),
        }
    }
    let (store, selected) = match session.store_and_selected_for(&name) {
        Ok(both) => both,
        Err(e) => return Ok(Outcome::Refused(failure_text(session, &e))),
    };
    let Some(selected) = selected else {
        return Ok(Outcome::Refused("BAD Please select a mailbox first".into()));
    };
    let positions = resolve(set, selected.mailbox.records(), numbering)?;
    if moving && (selected.read_only || selected.mailbox.is_read_only()) {
        return Ok(Outcome::Refused("NO Permission denied".into()));
    }
    let uids: Vec<u32> = positions
        .iter()
        .filter_map(|&i| selected.mailbox.records().get(i))
        .filter(|r| !r.file.is_empty())
        .map(|r| r.uid)
        .collect();
    // A second, writable view of the destination (the selected mailbox
    // itself included: it learns of the copies at its next sync).
    let result = store.with_writer(&name, |target| {
        target.granted = rights;
        if moving {
            selected.mailbox.move_to(&uids, target)
        } else {
            selected
                .mailbox
                .copy_to(&uids, target)
                .map(|copied| (copied, Vec::new()))
        }
    });
    let result = match result {
        Err(StoreError::NoSuchMailbox(_)) => {
            // rfc3501 6.4.7: the client may CREATE it and try again.
            return Ok(Outcome::Refused(
                "NO [TRYCREATE] Mailbox does not exist".into(),
            ));
        }
        Err(StoreError::NotSelectable(_)) => {
            return Ok(Outcome::Refused("NO Mailbox does not exist".into()));
        }
        other => other,
    };
    Ok(match result {
        Ok((copied, expunged)) => Outcome::Done { copied, expunged },
        Err(StoreError::ReadOnly) => Outcome::Refused("NO Permission denied".into()),
        // rfc2180 4.4.1: another session expunged a message this one still
        // sees; nothing was copied (rfc5530 EXPUNGEISSUED).
        Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Refused(
            "NO [EXPUNGEISSUED] Some of the requested messages no longer exist".into(),
        ),
        Err(e) => Outcome::Refused(failure_text(session, &e)),
    })
}

/// rfc4315 3: `COPYUID uidvalidity source-uids destination-uids`, both
/// sets in the same (ascending source) order.
pub(crate) fn copyuid_code(copied: &CopyUid) -> Option<String> {
    if copied.pairs.is_empty() {
        return None;
    }
    let sources: Vec<u32> = copied.pairs.iter().map(|p| p.0).collect();
    let targets: Vec<u32> = copied.pairs.iter().map(|p| p.1).collect();
    Some(format!(
        "[COPYUID {} {} {}]",
        copied.uidvalidity,
        format_uid_set(&sources),
        format_uid_set(&targets)
    ))
}

fn finish(
    session: &mut Session,
    request: &mut Request,
    command: MessageCommand,
    outcome: Result<Outcome, SyntaxError>,
) -> Result<Action, SyntaxError> {
    match outcome? {
        Outcome::Refused(text) => request.reply(session, &text),
        Outcome::Done { copied, .. } => {
            session.report_updates(command.allows_expunge());
            match copyuid_code(&copied) {
                Some(code) => request.reply(session, &format!("OK {code} Completed")),
                None => request.reply(session, "OK Completed"),
            }
        }
    }
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use super::super::message_testing::*;
    use crate::store::MailboxName;

    #[test]
    fn copy_with_copyuid_and_trycreate() {
        let (mut s, _dir) = selected();
        let trash = MailboxName::new("Trash").unwrap();
        s.mail_store().unwrap().create(&trash).unwrap();
        let validity = s
            .mail_store()
            .unwrap()
            .status(&trash, false)
            .unwrap()
            .uidvalidity;
        assert_eq!(
            command(&mut s, "a COPY 1:2 Trash"),
            format!("a OK [COPYUID {validity} 1:2 1:2] Completed\r\n")
        );
        assert_eq!(
            command(&mut s, "b UID COPY 2 \"Trash\""),
            format!("b OK [COPYUID {validity} 2 3] Completed\r\n")
        );
        assert_eq!(
            s.mail_store()
                .unwrap()
                .status(&trash, false)
                .unwrap()
                .messages,
            3
        );
        assert_eq!(
            command(&mut s, "c COPY 1 Nowhere"),
            "c NO [TRYCREATE] Mailbox does not exist\r\n"
        );
        assert_eq!(command(&mut s, "d UID COPY 9 Trash"), "d OK Completed\r\n");
        assert_eq!(
            command(&mut s, "e COPY 3 Trash"),
            "e BAD Invalid sequence in Copy\r\n"
        );
        assert_eq!(
            command(&mut s, "f COPY 1"),
            "f BAD Missing required argument to Copy\r\n"
        );
    }

    #[test]
    fn copy_into_the_selected_mailbox_reports_exists() {
        let (mut s, _dir) = selected();
        let validity = s.selected().unwrap().mailbox.uid_validity();
        assert_eq!(
            command(&mut s, "a COPY 1 INBOX"),
            format!("* 3 EXISTS\r\n* 3 RECENT\r\na OK [COPYUID {validity} 1 3] Completed\r\n")
        );
    }
}
