//! The UID prefix (rfc3501 6.4.8; rfc4315 2.1 UID EXPUNGE; rfc6851 UID
//! MOVE; rfc5256 UID SORT, UID THREAD): `UID
//! FETCH|STORE|SEARCH|COPY|MOVE|EXPUNGE|SORT|THREAD`, numbers are UIDs.
//! Anything else after `UID` is Cyrus's `BAD Unrecognized UID subcommand`.

use super::Request;
use super::sequence::{Numbering, resolve};
use super::{copy, expunge, fetch, move_, search, sort, store_flags, thread};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    request.args.sp()?;
    let word = request.args.word().to_ascii_uppercase();
    match word.as_slice() {
        b"FETCH" => fetch::run(session, request, Numbering::Uid),
        b"STORE" => store_flags::run(session, request, Numbering::Uid),
        b"SEARCH" => search::run(session, request, Numbering::Uid),
        b"SORT" => sort::run(session, request, Numbering::Uid),
        b"THREAD" => thread::run(session, request, Numbering::Uid),
        b"COPY" => copy::run(session, request, Numbering::Uid),
        b"MOVE" => move_::run(session, request, Numbering::Uid),
        b"EXPUNGE" => expunge(session, request),
        b"" => Err(SyntaxError::Missing),
        _ => {
            request.reply(session, "BAD Unrecognized UID subcommand");
            Ok(Action::None)
        }
    }
}

/// UID EXPUNGE sequence-set (rfc4315 2.1): expunges only the \Deleted
/// messages among those UIDs, through the one EXPUNGE implementation
/// ([`expunge::expunge_uids`]); UIDs that name no message are ignored
/// (rfc3501 6.4.8).
fn expunge(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    request.args.sp()?;
    let set = request.args.sequence_set()?;
    request.args.finish()?;
    // Not selected: expunge_uids answers `BAD Please select a mailbox first`.
    let uids: Vec<u32> = match session.selected_mut() {
        Some(selected) => {
            let records = selected.mailbox.records();
            resolve(&set, records, Numbering::Uid)?
                .into_iter()
                .map(|i| records[i].uid)
                .collect()
        }
        None => Vec::new(),
    };
    let tag = request.tag.as_str().to_string();
    expunge::expunge_uids(session, &tag, Some(&uids));
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use super::super::message_testing::*;

    #[test]
    fn uid_expunge_only_the_named_deleted_messages() {
        let (mut s, _dir) = selected_with(&[PLAIN, PLAIN, PLAIN], false);
        command(&mut s, "a STORE 1:3 +FLAGS.SILENT \\Deleted");
        // rfc4315 2.1: only UIDs 2 and 3 go, 1 stays \Deleted.
        assert_eq!(
            command(&mut s, "b UID EXPUNGE 2:3"),
            "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\nb OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "c UID FETCH 1:* FLAGS"),
            "* 1 FETCH (FLAGS (\\Recent \\Deleted) UID 1)\r\nc OK Completed\r\n"
        );
    }

    #[test]
    fn unknown_and_missing_subcommands() {
        let (mut s, _dir) = selected();
        assert_eq!(
            command(&mut s, "a UID FOO 1"),
            "a BAD Unrecognized UID subcommand\r\n"
        );
        assert_eq!(
            command(&mut s, "b UID"),
            "b BAD Missing required argument to Uid\r\n"
        );
        assert_eq!(
            command(&mut s, "c uid fetch 1 uid"),
            "* 1 FETCH (UID 1)\r\nc OK Completed\r\n"
        );
        let (mut s, _dir) = selected_with(&[PLAIN], true);
        assert_eq!(
            command(&mut s, "d UID EXPUNGE 1"),
            "d NO [CANNOT] Mailbox is read-only\r\n"
        );
    }
}
