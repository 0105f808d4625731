//! STORE and UID STORE (rfc3501 6.4.6, 6.4.8). Named `store_flags` so it
//! does not clash with the [`crate::store`] module.
//!
//! ```text
//! store = "STORE" SP sequence-set SP store-att-flags
//! store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
//!                   (flag-list / (flag *(SP flag)))
//! ```
//!
//! Every message named gets `* n FETCH (FLAGS (...))` with its flags after
//! the change (rfc3501 6.4.6 "returns the updated value"), followed by
//! ` UID u` for UID STORE (Cyrus `index_printflags`, rfc5162 errata 1807);
//! `.SILENT` suppresses them. `\Recent` cannot be stored (rfc3501 2.3.2:
//! "This flag can not be altered by the client"), nor can other `\` names
//! that are not system flags: Cyrus's `BAD Invalid system flag`. A
//! read-only mailbox gives Cyrus's `NO Permission denied`.

use super::Request;
use super::fetch::write_flags;
use super::sequence::{MessageCommand, Numbering, resolve};
use crate::selected::{Selected, format_uid_set};
use crate::session::{Action, Session};
use crate::store::acl::Rights;
use crate::store::{FlagOperation, Flags, MessageRecord, StoreError};
use crate::wire::parser::{Parser, SyntaxError};
use crate::wire::types::is_atom_char;

/// The parsed `store-att-flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    pub operation: FlagOperation,
    pub silent: bool,
    pub flags: Flags,
    /// Keywords as the client wrote them (rfc3501 2.3.2 atoms).
    pub keywords: Vec<String>,
}

/// STORE.
pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    run(session, request, Numbering::Sequence)
}

/// STORE or UID STORE.
pub fn run(
    session: &mut Session,
    request: &mut Request,
    numbering: Numbering,
) -> Result<Action, SyntaxError> {
    let command = MessageCommand::new("Store", "UID Store", numbering);
    request.args.sp()?;
    let set = request.args.sequence_set()?;
    request.args.sp()?;
    // rfc7162 7: store-modifiers = SP "(" "UNCHANGEDSINCE" SP
    // mod-sequence-valzer ")" (the only store modifier we know).
    let mut unchanged_since = None;
    if request.args.eat(b'(') {
        let name = request.args.atom()?;
        if !name.as_str().eq_ignore_ascii_case("UNCHANGEDSINCE") {
            let text = format!("BAD Invalid {} modifier", command.name());
            request.reply(session, &text);
            return Ok(Action::None);
        }
        request.args.sp()?;
        unchanged_since = Some(request.args.mod_sequence(true)?);
        if !request.args.eat(b')') {
            return Err(SyntaxError::Invalid("Missing close parenthesis"));
        }
        request.args.sp()?;
        // rfc7162 3.1: a CONDSTORE enabling command.
        session.enable_condstore();
    }
    let with_modseq = session.condstore();
    // rfc9051 Appendix E item 12: no \Recent once IMAP4rev2 is enabled.
    let shows_recent = !session.rev2();
    let mut update = match parse_flag_update(&mut request.args, command.name()) {
        Ok(update) => update,
        Err(text) => {
            request.reply(session, &format!("BAD {text}"));
            return Ok(Action::None);
        }
    };
    let Some(selected) = session.selected_mut() else {
        request.reply(session, "BAD Please select a mailbox first");
        return Ok(Action::None);
    };
    let positions = resolve(&set, selected.mailbox.records(), numbering)?;
    if selected.read_only || selected.mailbox.is_read_only() {
        request.reply(session, "NO Permission denied");
        return Ok(Action::None);
    }
    // rfc4314 4: `\Seen` needs `s`, `\Deleted` `t`, the others `w`. Flags
    // the user may not change are left as they are and the rest is done;
    // nothing allowed at all is NO. A FLAGS (replace) sets every flag, so
    // it needs all three.
    let rights = selected.rights;
    let all = Rights::SEEN
        .union(Rights::DELETE_MESSAGES)
        .union(Rights::WRITE);
    if !rights.contains(all) {
        let allowed = crate::access::permitted_flags(rights, update.flags);
        let keywords_allowed = rights.contains(Rights::WRITE) || update.keywords.is_empty();
        let something = allowed.0 != 0 || (keywords_allowed && !update.keywords.is_empty());
        if update.operation == FlagOperation::Replace || !something {
            request.reply(session, crate::access::NO_PERMISSION);
            return Ok(Action::None);
        }
        update.flags = allowed;
        if !keywords_allowed {
            update.keywords.clear();
        }
    }
    let uids: Vec<u32> = positions
        .iter()
        .filter_map(|&i| selected.mailbox.records().get(i))
        .filter(|r| !r.file.is_empty())
        .map(|r| r.uid)
        .collect();
    let result = selected.mailbox.store_flags(
        &uids,
        update.operation,
        update.flags,
        &update.keywords,
        unchanged_since,
    );
    let failed: Vec<u32> = match &result {
        Ok((_, failed)) => failed.clone(),
        Err(_) => Vec::new(),
    };
    let mut out = Vec::new();
    // A keyword new to the mailbox is announced in FLAGS first (rfc3501
    // 7.2.6), also for .SILENT: the client's list of flags grew.
    if result.is_ok() && !update.keywords.is_empty() {
        let stored: Vec<&MessageRecord> = uids
            .iter()
            .filter_map(|&uid| selected.mailbox.by_uid(uid))
            .collect();
        let mut new = false;
        for record in stored {
            new |= selected.keywords.learn(&record.keywords);
        }
        if new {
            out.extend_from_slice(selected.flags_responses().as_bytes());
        }
    }
    // rfc7162 3.1.3: with UNCHANGEDSINCE every message that passed gets a
    // FETCH with its MODSEQ, .SILENT or not.
    if result.is_ok() && (!update.silent || unchanged_since.is_some()) {
        let Selected {
            mailbox,
            keywords,
            read_only,
            ..
        } = selected;
        // A message another session expunged meanwhile was not changed:
        // a FETCH with its old flags would tell the client the STORE did
        // not take (Cyrus sends none either; the EXPUNGE comes later).
        for &uid in uids
            .iter()
            .filter(|&&u| !failed.contains(&u) && !mailbox.is_expunged_unreported(u))
        {
            let Some(seq) = mailbox.seq_of_uid(uid) else {
                continue;
            };
            let Some(record) = mailbox.by_seq(seq) else {
                continue;
            };
            if let Some(flags) = keywords.announce(record, *read_only) {
                out.extend_from_slice(flags.as_bytes());
            }
            out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            if !update.silent {
                out.extend_from_slice(b"FLAGS ");
                write_flags(&mut out, record, shows_recent && mailbox.is_recent(uid));
                out.push(b' ');
            }
            // rfc7162 3.2.4: UID and MODSEQ once CONDSTORE is enabled.
            if numbering == Numbering::Uid || with_modseq {
                out.extend_from_slice(format!("UID {uid} ").as_bytes());
            }
            if with_modseq {
                out.extend_from_slice(format!("MODSEQ ({}) ", record.modseq).as_bytes());
            }
            out.pop();
            out.extend_from_slice(b")\r\n");
        }
    }
    // rfc7162 3.1.3: MODIFIED names the messages that failed, by number
    // (STORE) or UID (UID STORE).
    let modified = match numbering {
        Numbering::Uid => format_uid_set(&failed),
        Numbering::Sequence => {
            let mailbox = session.selected().map(|s| &s.mailbox);
            let seqs: Vec<u32> = failed
                .iter()
                .filter_map(|&u| mailbox.and_then(|m| m.seq_of_uid(u)))
                .collect();
            format_uid_set(&seqs)
        }
    };
    session.write(&out);
    session.report_updates(command.allows_expunge());
    match result {
        Ok(_) if !modified.is_empty() => request.reply(
            session,
            &format!("OK [MODIFIED {modified}] Conditional STORE failed"),
        ),
        Ok(_) => request.reply(session, "OK Completed"),
        Err(StoreError::ReadOnly) => request.reply(session, "NO Permission denied"),
        Err(e) => request.reply(session, &super::mailbox_arg::failure_text(session, &e)),
    }
    Ok(Action::None)
}

/// Parses `store-att-flags` to the end of the command; the error is the
/// text after `BAD`.
pub fn parse_flag_update(p: &mut Parser, command: &str) -> Result<FlagUpdate, String> {
    let mut name = String::new();
    while let Some(b) = p.peek() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-') {
            p.eat(b);
            name.push(b.to_ascii_uppercase() as char);
        } else {
            break;
        }
    }
    let (operation, rest) = match name.as_bytes().first() {
        Some(b'+') => (FlagOperation::Add, &name[1..]),
        Some(b'-') => (FlagOperation::Remove, &name[1..]),
        _ => (FlagOperation::Replace, name.as_str()),
    };
    let silent = match rest {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(format!("Invalid {command} attribute")),
    };
    if !p.eat(b' ') || p.at_eol() {
        return Err(format!("Missing required argument to {command}"));
    }
    let in_list = p.eat(b'(');
    let mut flags = Flags::default();
    let mut keywords: Vec<String> = Vec::new();
    loop {
        if in_list && p.eat(b')') {
            break;
        }
        let mut flag = String::new();
        while let Some(b) = p.peek() {
            if matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n') {
                break;
            }
            p.eat(b);
            flag.push(b as char);
        }
        if flag.is_empty() {
            return Err(if p.at_eol() && in_list {
                format!("Missing close parenthesis in {command}")
            } else {
                format!("Missing required argument to {command}")
            });
        }
        if let Some(system) = flag.strip_prefix('\\') {
            match Flags::from_name(&flag) {
                Some(f) => flags = flags.union(f),
                None if !system.is_empty() && system.bytes().all(is_atom_char) => {
                    return Err(format!("Invalid system flag in {command} command"));
                }
                None => {
                    return Err(format!(
                        "Invalid flag name {} in {command} command",
                        flag.escape_default()
                    ));
                }
            }
        } else if flag.bytes().all(is_atom_char) {
            if !keywords.iter().any(|k| k.eq_ignore_ascii_case(&flag)) {
                keywords.push(flag);
            }
        } else {
            return Err(format!(
                "Invalid flag name {} in {command} command",
                flag.escape_default()
            ));
        }
        if in_list && p.eat(b')') {
            break;
        }
        if p.at_eol() {
            if in_list {
                return Err(format!("Missing close parenthesis in {command}"));
            }
            break;
        }
        if !p.eat(b' ') {
            return Err(format!("Unexpected extra arguments to {command}"));
        }
    }
    if p.finish().is_err() {
        return Err(format!("Unexpected extra arguments to {command}"));
    }
    Ok(FlagUpdate {
        operation,
        silent,
        flags,
        keywords,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{run, second_session, store_session};

    /// Found by the stress tester: a UID STORE naming a message another
    /// session had expunged answered with that message's old flags, as if
    /// `-FLAGS` had not taken.
    #[test]
    fn no_fetch_for_a_message_expunged_by_another_session() {
        let (mut s, dir) = store_session();
        for _ in 0..2 {
            let (out, _) = run(&mut s, "a APPEND INBOX ($k) {9}\r\nSubject:\r\n\r\n");
            assert!(out.contains("a OK"), "{out}");
        }
        run(&mut s, "s SELECT INBOX\r\n");
        let mut other = second_session(&dir);
        run(&mut other, "o SELECT INBOX\r\n");
        let (out, _) = run(&mut other, "o UID STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
        assert!(out.contains("o OK"), "{out}");
        let (out, _) = run(&mut other, "o EXPUNGE\r\n");
        assert_eq!(out, "* 1 EXPUNGE\r\no OK Completed\r\n");
        // STORE by number: the EXPUNGE waits for a later command. Message 1
        // gets no FETCH as the STORE's result, only the report of the other
        // session's \Deleted (its flags when it went, rfc3501 7.4.1).
        let (out, _) = run(&mut s, "t STORE 1:2 -FLAGS ($k)\r\n");
        assert_eq!(
            out,
            "* 2 FETCH (FLAGS (\\Recent))\r\n* 1 FETCH (FLAGS (\\Recent \\Deleted $k))\r\nt OK Completed\r\n"
        );
        let (out, _) = run(&mut s, "n NOOP\r\n");
        assert!(out.starts_with("* 1 EXPUNGE\r\n"), "{out}");
        let (out, _) = run(&mut s, "f FETCH 1 (UID FLAGS)\r\n");
        assert!(
            out.starts_with("* 1 FETCH (FLAGS (\\Recent) UID 2)\r\n"),
            "{out}"
        );
    }

    fn parse(s: &str) -> Result<FlagUpdate, String> {
        parse_flag_update(&mut Parser::new(s.as_bytes()), "Store")
    }

    #[test]
    fn forms() {
        let u = parse("+FLAGS (\\Deleted)\r\n").unwrap();
        assert_eq!(u.operation, FlagOperation::Add);
        assert_eq!(u.flags, Flags::DELETED);
        assert!(!u.silent);
        let u = parse("-flags.silent \\Seen $Junk \\answered").unwrap();
        assert_eq!(u.operation, FlagOperation::Remove);
        assert!(u.silent);
        assert_eq!(u.flags, Flags::SEEN.union(Flags::ANSWERED));
        assert_eq!(u.keywords, vec!["$Junk".to_string()]);
        let u = parse("FLAGS ()").unwrap();
        assert_eq!(u.operation, FlagOperation::Replace);
        assert_eq!(u.flags, Flags::default());
        assert!(u.keywords.is_empty());
        assert_eq!(
            parse("FLAGS (a A b)").unwrap().keywords,
            vec!["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("FLAGS (\\Recent)").unwrap_err(),
            "Invalid system flag in Store command"
        );
        assert_eq!(
            parse("FLAGS \\*").unwrap_err(),
            "Invalid flag name \\\\* in Store command"
        );
        assert_eq!(parse("XFLAGS (a)").unwrap_err(), "Invalid Store attribute");
        assert_eq!(
            parse("FLAGS").unwrap_err(),
            "Missing required argument to Store"
        );
        assert_eq!(
            parse("FLAGS (a").unwrap_err(),
            "Missing close parenthesis in Store"
        );
        assert_eq!(
            parse("FLAGS (a) b").unwrap_err(),
            "Unexpected extra arguments to Store"
        );
        assert_eq!(
            parse("FLAGS a%").unwrap_err(),
            "Invalid flag name a% in Store command"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data: Vec<u8>) {
            let _ = parse_flag_update(&mut Parser::new(&data), "Store");
        }
    }
}

#[cfg(test)]
mod session_tests {
    use super::super::message_testing::*;

    #[test]
    fn store_forms_and_responses() {
        let (mut s, _dir) = selected();
        // rfc3501 6.4.6 example: STORE 2:4 +FLAGS (\Deleted)
        assert_eq!(
            command(&mut s, "a003 STORE 1:2 +FLAGS (\\Deleted)"),
            "* 1 FETCH (FLAGS (\\Recent \\Deleted))\r\n\
             * 2 FETCH (FLAGS (\\Recent \\Deleted))\r\na003 OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "b STORE 1 FLAGS ($Work \\Seen \\Flagged)"),
            "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $Work)\r\n\
             * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $Work \\*)] Ok\r\n\
             * 1 FETCH (FLAGS (\\Recent \\Flagged \\Seen $Work))\r\nb OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "c UID STORE 1 -FLAGS $work"),
            "* 1 FETCH (FLAGS (\\Recent \\Flagged \\Seen) UID 1)\r\nc OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "d STORE 2 -FLAGS.SILENT (\\Deleted)"),
            "d OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "e FETCH 1:2 FLAGS"),
            "* 1 FETCH (FLAGS (\\Recent \\Flagged \\Seen))\r\n\
             * 2 FETCH (FLAGS (\\Recent))\r\ne OK Completed\r\n"
        );
        // UID STORE of UIDs that do not exist: nothing to say.
        assert_eq!(
            command(&mut s, "f UID STORE 7:9 +FLAGS x"),
            "f OK Completed\r\n"
        );
    }

    #[test]
    fn store_errors() {
        let (mut s, _dir) = selected();
        assert_eq!(
            command(&mut s, "a STORE 1 +FLAGS (\\Recent)"),
            "a BAD Invalid system flag in Store command\r\n"
        );
        assert_eq!(
            command(&mut s, "b STORE 3 +FLAGS x"),
            "b BAD Invalid sequence in Store\r\n"
        );
        assert_eq!(
            command(&mut s, "c UID STORE 1 FLAG x"),
            "c BAD Invalid UID Store attribute\r\n"
        );
        let (mut s, _dir) = selected_with(&[PLAIN], true);
        assert_eq!(
            command(&mut s, "d STORE 1 +FLAGS x"),
            "d NO Permission denied\r\n"
        );
    }
}
