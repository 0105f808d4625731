//! SEARCH and UID SEARCH (rfc3501 6.4.4, 6.4.8, 7.2.5), with ESEARCH's
//! result options (rfc4731), SEARCHRES's saved result (rfc5182), WITHIN's
//! OLDER/YOUNGER (rfc5032) and CONDSTORE's MODSEQ key (rfc7162 3.1.5).
//!
//! Keys on flags, sizes, dates, UIDs and the FROM/TO/CC/BCC/SUBJECT
//! fields are answered from the index records; HEADER (other fields),
//! BODY and TEXT read the message file, once per message, and only when
//! the cheaper keys have not already decided (within an AND, index keys
//! run first). Matching is a case-insensitive substring match on
//! MIME-decoded text (`mime::search`).
//!
//! Reply: `* SEARCH n n n` (UIDs for UID SEARCH), then `OK Completed`;
//! with a MODSEQ key and a match, `* SEARCH n n (MODSEQ m)`, m the highest
//! mod-sequence found (rfc7162 3.1.6). With `RETURN (...)` (rfc4731 3.1):
//! one `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n]
//! [MODSEQ m]` instead (MIN, MAX, ALL only when something matched, ALL as
//! a compact sequence set); `RETURN ()` is `RETURN (ALL)`; `RETURN (SAVE)`
//! alone answers nothing but the tagged OK (rfc5182 2.2).
//! CHARSET takes UTF-8, US-ASCII and the legacy charsets `encoding_rs`
//! decodes; any other is `NO [BADCHARSET (...)]` (rfc3501 6.4.4, 7.1).
//!
//! The saved result (rfc5182 2.1) changes only on a SEARCH with SAVE: to
//! what it returned (rfc5182 2.4) when it succeeds, to the empty set when
//! it is refused with NO; a BAD SEARCH, or one without SAVE, leaves it
//! as it was. (rfc5182 2.2's example 5 shows a NO without SAVE emptying
//! it; 2.1's normative text says otherwise, and we follow the text.)

use std::rc::Rc;

use super::Request;
use super::dates::local_day;
use super::search_keys::{
    CHARSETS_LISTED, IndexedHeader, ReturnOptions, SearchError, SearchKey, in_grammar,
    parse_return_options, parse_search_program,
};
use super::sequence::{MessageCommand, Numbering, set_contains};
use crate::mime::search::{
    BodyText, SentDate, body_matches, folded_contains, header_contains, sent_date_of, text_matches,
};
use crate::selected::format_uid_set;
use crate::session::{Action, Session};
use crate::store::cache::{CacheReader, SentField};
use crate::store::{Mailbox, MessageRecord};
use crate::wire::parser::SyntaxError;

/// SEARCH.
pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    run(session, request, Numbering::Sequence)
}

/// SEARCH or UID SEARCH.
pub fn run(
    session: &mut Session,
    request: &mut Request,
    numbering: Numbering,
) -> Result<Action, SyntaxError> {
    let command = MessageCommand::new("Search", "UID Search", numbering);
    request.args.sp()?;
    let options = match parse_return_options(&mut request.args, command.name()) {
        Ok(options) => options,
        Err(error) => return refuse(session, request, error, false),
    };
    // rfc6855 3: after ENABLE UTF8=ACCEPT a SEARCH with a charset is BAD
    // ("conflicting charset labels"); IMAP4rev2 alone keeps CHARSET.
    if session.utf8_accept() && request.args.clone().word().eq_ignore_ascii_case(b"CHARSET") {
        request.reply(
            session,
            "BAD CHARSET is not allowed after ENABLE UTF8=ACCEPT",
        );
        return Ok(Action::None);
    }
    let parsed = parse_search_program(&mut request.args, command.name());
    let key = match parsed.and_then(|key| in_grammar(key, session.rev2())) {
        Ok(key) => key,
        Err(error) => return refuse(session, request, error, options.is_some_and(|o| o.save)),
    };
    let modseq_key = key.uses_modseq();
    if modseq_key {
        // rfc7162 3.1: a SEARCH with MODSEQ is a CONDSTORE enabling command.
        session.enable_condstore();
    }
    let Some(selected) = session.selected_mut() else {
        request.reply(session, "BAD Please select a mailbox first");
        return Ok(Action::None);
    };
    let found = search_mailbox(&selected.mailbox, &key);
    answer(session, request, command, options, &found, modseq_key)
}

/// The answer to a SEARCH or, with `command` SORT, a SORT whose messages
/// are `found` (positions, ascending or in sort order): `* SEARCH`/`*
/// SORT` numbers with the highest MODSEQ after a MODSEQ key (rfc7162
/// 3.1.6, 3.1.9), or with RETURN one ESEARCH (rfc4731 3.1, rfc5267 3.1);
/// `$` saved with SAVE (rfc5182 2.4); then updates and the tagged OK.
pub(crate) fn answer(
    session: &mut Session,
    request: &mut Request,
    command: MessageCommand,
    options: Option<ReturnOptions>,
    found: &[usize],
    modseq_key: bool,
) -> Result<Action, SyntaxError> {
    let numbering = command.numbering;
    let sorted = command.name().ends_with("Sort");
    // rfc9051 6.4.4: without result options, ALL: an ESEARCH response
    // (Appendix E item 4) once IMAP4rev2 is enabled.
    let options = match options {
        None if session.rev2() && !sorted => Some(ReturnOptions {
            all: true,
            ..ReturnOptions::default()
        }),
        options => options,
    };
    let Some(selected) = session.selected_mut() else {
        request.reply(session, "BAD Please select a mailbox first");
        return Ok(Action::None);
    };
    let records = selected.mailbox.records();
    let number = |position: usize| match numbering {
        Numbering::Sequence => position as u32 + 1,
        Numbering::Uid => records[position].uid,
    };
    // rfc7162 3.1.6, rfc4731 3.2: the highest mod-sequence among the
    // messages returned, when the program has a MODSEQ key and they are
    // not none.
    let highest_modseq = |positions: &[usize]| {
        positions
            .iter()
            .map(|&p| records[p].modseq)
            .max()
            .filter(|_| modseq_key)
    };
    let mut out = Vec::new();
    match options {
        None => {
            out.reserve(9 + found.len() * 6);
            out.extend_from_slice(if sorted { b"* SORT" } else { b"* SEARCH" });
            for &position in found {
                out.push(b' ');
                super::fetch::push_number(&mut out, u64::from(number(position)));
            }
            if let Some(modseq) = highest_modseq(found) {
                out.extend_from_slice(format!(" (MODSEQ {modseq})").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        Some(options) if options.esearch() => {
            let numbers: Vec<u32> = found.iter().map(|&p| number(p)).collect();
            let modseq = highest_modseq(&options.returned(found));
            let line = esearch_response(
                request.tag.as_str(),
                numbering,
                options,
                &numbers,
                modseq,
                sorted,
            );
            out.extend_from_slice(line.as_bytes());
        }
        Some(_) => {}
    }
    if let Some(options) = options
        && options.save
    {
        // `$` is a set: a SORT's order is not kept.
        let mut uids: Vec<u32> = options
            .returned(found)
            .into_iter()
            .map(|p| records[p].uid)
            .collect();
        uids.sort_unstable();
        selected.saved_result = uids.into();
    }
    session.write(&out);
    session.report_updates(command.allows_expunge());
    request.reply(session, "OK Completed");
    Ok(Action::None)
}

/// The tagged reply to a SEARCH that did not parse; one with SAVE that is
/// refused with NO empties the saved result (rfc5182 2.1), a BAD one
/// leaves it.
pub(crate) fn refuse(
    session: &mut Session,
    request: &mut Request,
    error: SearchError,
    saving: bool,
) -> Result<Action, SyntaxError> {
    match error {
        SearchError::Bad(text) => request.reply(session, &format!("BAD {text}")),
        SearchError::BadCharset => {
            if saving && let Some(selected) = session.selected_mut() {
                selected.saved_result = Rc::from([]);
            }
            request.reply(
                session,
                &format!("NO [BADCHARSET ({CHARSETS_LISTED})] Unrecognized character set"),
            );
        }
    }
    Ok(Action::None)
}

/// rfc4731 3.1, rfc4466 2.6.2: `* ESEARCH (TAG "t") [UID]` and the data
/// asked for, in the order of rfc4731's examples. `numbers` are what
/// matched, ascending, or for an extended SORT (`sorted`) in sort order:
/// then MIN and MAX are the first and last in that order and ALL keeps
/// it (rfc5267 3.1, 3.2). MIN, MAX and ALL are left out when nothing
/// matched, COUNT never is; `modseq` is rfc4731 3.2's MODSEQ.
pub(crate) fn esearch_response(
    tag: &str,
    numbering: Numbering,
    options: ReturnOptions,
    numbers: &[u32],
    modseq: Option<u64>,
    sorted: bool,
) -> String {
    // A tag is ASTRING-CHARs (rfc3501 9), never a quote or a backslash:
    // it goes between quotes as it is.
    let mut line = format!("* ESEARCH (TAG \"{tag}\")");
    if numbering == Numbering::Uid {
        line += " UID";
    }
    if let (Some(min), Some(max)) = (numbers.first(), numbers.last()) {
        if options.min {
            line += &format!(" MIN {min}");
        }
        if options.max {
            line += &format!(" MAX {max}");
        }
        if options.all && sorted {
            line += &format!(" ALL {}", format_ordered_set(numbers));
        } else if options.all {
            line += &format!(" ALL {}", format_uid_set(numbers));
        }
    }
    if options.count {
        line += &format!(" COUNT {}", numbers.len());
    }
    if let Some(modseq) = modseq {
        line += &format!(" MODSEQ {modseq}");
    }
    line + "\r\n"
}

/// `numbers` as a sequence-set in their own order: runs of consecutive
/// ascending numbers as ranges, never a descending range (rfc5267 3.2).
fn format_ordered_set(numbers: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j].wrapping_add(1) {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out += &numbers[i].to_string();
        if j > i {
            out += &format!(":{}", numbers[j]);
        }
        i = j + 1;
    }
    out
}

/// Positions (0-based, ascending) of the messages matching `key`.
pub fn search_mailbox(mailbox: &Mailbox, key: &SearchKey) -> Vec<usize> {
    let records = mailbox.records();
    let context = MailboxFacts {
        exists: records.len() as u32,
        largest_uid: records.last().map_or(0, |r| r.uid),
        now: crate::store::mailbox::now().0,
    };
    let mut raw = Vec::new();
    let mut summaries = mailbox.cache_reader();
    let mut texts = mailbox.text_reader();
    let mut found = Vec::new();
    for (position, record) in records.iter().enumerate() {
        // Expunged elsewhere, not yet reported: matches nothing.
        if record.file.is_empty() {
            continue;
        }
        let mut message = Candidate {
            mailbox,
            record,
            seq: position as u32 + 1,
            raw: &mut raw,
            loaded: false,
            summaries: &mut summaries,
            texts: &mut texts,
        };
        if matches(key, &mut message, &context) {
            found.push(position);
        }
    }
    found
}

struct MailboxFacts {
    exists: u32,
    largest_uid: u32,
    /// The current time (seconds since the epoch), once per SEARCH, for
    /// OLDER and YOUNGER (rfc5032 2).
    now: i64,
}

/// One message under test; its file is read at most once, on demand.
struct Candidate<'a> {
    mailbox: &'a Mailbox,
    record: &'a MessageRecord,
    seq: u32,
    raw: &'a mut Vec<u8>,
    loaded: bool,
    /// ENVELOPE-level data (SEARCH FROM, SUBJECT, SENTBEFORE...).
    summaries: &'a mut CacheReader,
    /// Decoded text (BODY, TEXT) of messages whose text is not raw.
    texts: &'a mut CacheReader,
}

impl Candidate<'_> {
    /// BODY or TEXT: what the index knows of the text spares parsing.
    fn text_search(&mut self, needle: &str, whole: bool) -> bool {
        self.raw();
        let known = if self.record.text_is_raw {
            BodyText::Raw
        } else if self.record.text.len > 0 {
            BodyText::Decoded(self.texts.text(self.record))
        } else {
            BodyText::Unknown
        };
        if whole {
            text_matches(self.raw, needle, known)
        } else {
            body_matches(self.raw, needle, known)
        }
    }
}

impl Candidate<'_> {
    /// The message bytes; empty if the file cannot be read (then only
    /// an empty needle can match).
    fn raw(&mut self) -> &[u8] {
        if !self.loaded {
            self.loaded = true;
            self.raw.clear();
            if let Ok(data) = self.mailbox.read_message(self.record) {
                *self.raw = data;
            }
        }
        self.raw
    }
}

fn matches(key: &SearchKey, m: &mut Candidate, facts: &MailboxFacts) -> bool {
    let r = m.record;
    let internal_day = || local_day(r.internal_date, r.tz_offset_minutes);
    // rfc3501 6.4.4: the date as written, disregarding time and zone; a
    // message without a usable Date: counts as sent on 1-Jan-1970 (Cyrus).
    // rfc8514 4.3: the save date in UTC; a message stored before save
    // dates were kept goes by its INTERNALDATE.
    let saved_day = || match r.save_date {
        0 => internal_day(),
        d => d.div_euclid(86_400),
    };
    let sent_day = |m: &mut Candidate| {
        let field = m.summaries.summary(r).sent_date;
        let date = match field {
            SentField::Date(d) => Some(d),
            SentField::Missing => None,
            SentField::Unknown => sent_date_of(m.raw()),
        };
        date.map_or(SentDate::MISSING_DAY, |d| d.day())
    };
    match key {
        SearchKey::All => true,
        SearchKey::Flag(flag, set) => r.flags.contains(*flag) == *set,
        SearchKey::Keyword(word, set) => {
            r.keywords.iter().any(|k| k.eq_ignore_ascii_case(word)) == *set
        }
        SearchKey::Recent => m.mailbox.is_recent(r.uid),
        SearchKey::New => {
            m.mailbox.is_recent(r.uid) && !r.flags.contains(crate::store::Flags::SEEN)
        }
        SearchKey::Old => !m.mailbox.is_recent(r.uid),
        SearchKey::Before(day) => internal_day() < *day,
        SearchKey::On(day) => internal_day() == *day,
        SearchKey::Since(day) => internal_day() >= *day,
        SearchKey::SentBefore(day) => sent_day(m) < *day,
        SearchKey::SentOn(day) => sent_day(m) == *day,
        SearchKey::SentSince(day) => sent_day(m) >= *day,
        SearchKey::Larger(n) => r.size > *n,
        SearchKey::Smaller(n) => r.size < *n,
        SearchKey::Indexed(field, needle) => {
            let summary = m.summaries.summary(r);
            let value = match field {
                IndexedHeader::From => summary.from,
                IndexedHeader::To => summary.to,
                IndexedHeader::Cc => summary.cc,
                IndexedHeader::Bcc => summary.bcc,
                IndexedHeader::Subject => summary.subject,
            };
            folded_contains(value, needle)
        }
        SearchKey::Header { name, needle } => header_contains(m.raw(), name, needle),
        SearchKey::Body(needle) => m.text_search(needle, false),
        SearchKey::Text(needle) => m.text_search(needle, true),
        SearchKey::Sequence(set) => set_contains(set, r.uid, m.seq, facts.exists),
        SearchKey::Uid(set) => set_contains(set, r.uid, r.uid, facts.largest_uid),
        // rfc5032 2: "less recent than or equal to" / "more recent than or
        // equal to" now minus the interval, to the second.
        SearchKey::Older(seconds) => r.internal_date <= facts.now - i64::from(*seconds),
        SearchKey::Younger(seconds) => r.internal_date >= facts.now - i64::from(*seconds),
        SearchKey::ModSeq(modseq) => r.modseq >= *modseq,
        SearchKey::SavedBefore(day) => saved_day() < *day,
        SearchKey::SavedOn(day) => saved_day() == *day,
        SearchKey::SavedSince(day) => saved_day() >= *day,
        SearchKey::EmailId(id) => {
            let stored = m.summaries.summary(r).email_id.map(str::to_string);
            let actual = stored.unwrap_or_else(|| crate::mime::email_id(m.raw()));
            actual.eq_ignore_ascii_case(id)
        }
        SearchKey::ThreadId => false,
        SearchKey::Not(inner) => !matches(inner, m, facts),
        SearchKey::Or(a, b) => matches(a, m, facts) || matches(b, m, facts),
        SearchKey::And(keys) => {
            // Index-only keys first: a message they rule out is never read.
            keys.iter()
                .filter(|k| !k.reads_message())
                .all(|k| matches(k, m, facts))
                && keys
                    .iter()
                    .filter(|k| k.reads_message())
                    .all(|k| matches(k, m, facts))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::message_testing::*;
    use super::super::search_keys::CHARSETS_LISTED;
    use crate::commands::testing::run;

    fn search(session: &mut crate::session::Session, criteria: &str) -> String {
        command(session, &format!("s SEARCH {criteria}"))
    }

    #[test]
    fn index_keys() {
        let (mut s, _dir) = selected();
        let ok = |ids: &str| format!("* SEARCH{ids}\r\ns OK Completed\r\n");
        assert_eq!(search(&mut s, "ALL"), ok(" 1 2"));
        assert_eq!(search(&mut s, "FROM gray"), ok(" 1"));
        // MIME-decoded and case-folded: =?UTF-8?Q?Caf=C3=A9?=
        assert_eq!(search(&mut s, "CHARSET UTF-8 SUBJECT \"CAFÉ\""), ok(" 2"));
        assert_eq!(search(&mut s, "FROM \"rené\""), ok(" 2"));
        assert_eq!(search(&mut s, "CC boss"), ok(" 2"));
        assert_eq!(search(&mut s, "TO imap@"), ok(" 1"));
        assert_eq!(search(&mut s, "BCC x"), ok(""));
        assert_eq!(search(&mut s, "HEADER Subject mtg"), ok(" 1"));
        assert_eq!(search(&mut s, "NEW"), ok(" 1 2"));
        assert_eq!(search(&mut s, "OLD"), ok(""));
        assert_eq!(
            search(
                &mut s,
                "RECENT UNSEEN UNDELETED UNFLAGGED UNANSWERED UNDRAFT"
            ),
            ok(" 1 2")
        );
        // INTERNALDATE: 14-Nov-2023 and 15-Nov-2023 in +0100.
        assert_eq!(search(&mut s, "ON 14-Nov-2023"), ok(" 1"));
        assert_eq!(search(&mut s, "SINCE 15-Nov-2023"), ok(" 2"));
        assert_eq!(search(&mut s, "BEFORE \"15-Nov-2023\""), ok(" 1"));
        // Date: 17 Jul 1996 (02:23 -0700 is 09:23 UTC) and 6 Feb 2025.
        assert_eq!(search(&mut s, "SENTON 17-Jul-1996"), ok(" 1"));
        assert_eq!(search(&mut s, "SENTSINCE 1-Jan-2000"), ok(" 2"));
        assert_eq!(search(&mut s, "SENTBEFORE 1-Jan-2000"), ok(" 1"));
        assert_eq!(search(&mut s, "LARGER 300"), ok(" 2"));
        assert_eq!(search(&mut s, "SMALLER 300"), ok(" 1"));
        assert_eq!(search(&mut s, "2:*"), ok(" 2"));
        assert_eq!(search(&mut s, "5"), ok(""));
        assert_eq!(search(&mut s, "UID 1"), ok(" 1"));
        assert_eq!(search(&mut s, "OR FROM gray CC boss"), ok(" 1 2"));
        assert_eq!(search(&mut s, "NOT (FROM gray)"), ok(" 2"));
        command(&mut s, "x STORE 2 +FLAGS ($Junk \\Answered)");
        assert_eq!(search(&mut s, "KEYWORD $junk ANSWERED"), ok(" 2"));
        assert_eq!(search(&mut s, "UNKEYWORD $Junk"), ok(" 1"));
        assert_eq!(
            command(&mut s, "u UID SEARCH UID 2:*"),
            "* SEARCH 2\r\nu OK Completed\r\n"
        );
    }

    #[test]
    fn file_keys() {
        let (mut s, _dir) = selected();
        let ok = |ids: &str| format!("* SEARCH{ids}\r\ns OK Completed\r\n");
        assert_eq!(search(&mut s, "BODY \"meet at\""), ok(" 1"));
        assert_eq!(search(&mut s, "BODY \"CAFÉ\""), ok(" 2"));
        assert_eq!(search(&mut s, "CHARSET UTF-8 BODY \"CAFÉ ON\""), ok(" 2"));
        assert_eq!(search(&mut s, "TEXT washington"), ok(" 1"));
        assert_eq!(search(&mut s, "TEXT \"string not in mailbox\""), ok(""));
        assert_eq!(search(&mut s, "HEADER Message-Id B27397"), ok(" 1"));
        assert_eq!(search(&mut s, "HEADER MIME-Version \"\""), ok(" 2"));
    }

    /// rfc3501 6.4.4's examples.
    #[test]
    fn rfc3501_examples() {
        let (mut s, _dir) = selected();
        command(&mut s, "x STORE 1 +FLAGS \\Flagged");
        assert_eq!(
            command(
                &mut s,
                "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""
            ),
            "* SEARCH 1\r\nA282 OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "A283 SEARCH TEXT \"string not in mailbox\""),
            "* SEARCH\r\nA283 OK Completed\r\n"
        );
        assert_eq!(
            // rfc3501 6.4.4 elides the 6 octets; here, three Cyrillic letters.
            command(&mut s, "A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nабв"),
            "+ go ahead\r\n* SEARCH\r\nA284 OK Completed\r\n"
        );
    }

    #[test]
    fn errors() {
        let (mut s, _dir) = selected();
        assert_eq!(
            search(&mut s, "CHARSET X-KLINGON ALL"),
            format!("s NO [BADCHARSET ({CHARSETS_LISTED})] Unrecognized character set\r\n")
        );
        assert_eq!(search(&mut s, "FOO"), "s BAD Invalid Search criteria\r\n");
        assert_eq!(
            command(&mut s, "u UID SEARCH"),
            "u BAD Missing required argument to Uid\r\n"
        );
    }

    /// The tagged reply alone: `* ...` lines are returned apart.
    fn ok(tag: &str) -> String {
        format!("{tag} OK Completed\r\n")
    }

    /// What `$` holds: the UIDs `UID SEARCH RETURN (ALL) $` reports.
    fn saved(s: &mut crate::session::Session) -> String {
        let out = command(s, "f UID SEARCH RETURN (ALL) $");
        let uids = out
            .strip_prefix("* ESEARCH (TAG \"f\") UID")
            .and_then(|rest| rest.strip_suffix("\r\nf OK Completed\r\n"));
        match uids {
            Some(uids) => uids.trim_start_matches(" ALL ").to_string(),
            None => panic!("{out}"),
        }
    }

    /// Twelve messages; 2, 10 and 11 \Flagged (rfc4731 3.1's answers).
    fn twelve() -> (crate::session::Session, tempfile::TempDir) {
        let (mut s, dir) = selected_with(&[PLAIN; 12], false);
        command(&mut s, "x STORE 2,10:11 +FLAGS.SILENT (\\Flagged)");
        (s, dir)
    }

    /// rfc4731 3.1's examples.
    #[test]
    fn esearch_rfc4731_examples() {
        let (mut s, _dir) = twelve();
        assert_eq!(
            command(
                &mut s,
                "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""
            ),
            "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n".to_string() + &ok("A282")
        );
        // RETURN () is RETURN (ALL); ALL is a compact sequence set.
        assert_eq!(
            command(
                &mut s,
                "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""
            ),
            "* ESEARCH (TAG \"A283\") ALL 2,10:11\r\n".to_string() + &ok("A283")
        );
        command(&mut s, "x STORE 1:3 +FLAGS.SILENT (\\Seen)");
        assert_eq!(
            command(&mut s, "A284 SEARCH RETURN (MIN) UNSEEN"),
            "* ESEARCH (TAG \"A284\") MIN 4\r\n".to_string() + &ok("A284")
        );
        // UID SEARCH: the UID indicator, and UIDs.
        assert_eq!(
            command(&mut s, "A285 UID SEARCH RETURN (MIN MAX) 1:5000"),
            "* ESEARCH (TAG \"A285\") UID MIN 1 MAX 12\r\n".to_string() + &ok("A285")
        );
        command(&mut s, "x STORE 5:7,9 +FLAGS.SILENT (\\Deleted)");
        assert_eq!(
            command(&mut s, "A286 SEARCH RETURN (COUNT) DELETED"),
            "* ESEARCH (TAG \"A286\") COUNT 4\r\n".to_string() + &ok("A286")
        );
        // Every option at once, in lower case, in any order.
        assert_eq!(
            command(&mut s, "a uid search return (count all max min) deleted"),
            "* ESEARCH (TAG \"a\") UID MIN 5 MAX 9 ALL 5:7,9 COUNT 4\r\n".to_string() + &ok("a")
        );
    }

    /// rfc4731 3.1: nothing found still gets its ESEARCH, without MIN, MAX
    /// and ALL; COUNT is always there.
    #[test]
    fn esearch_without_matches() {
        let (mut s, _dir) = twelve();
        assert_eq!(
            command(&mut s, "a SEARCH RETURN (MIN MAX ALL) KEYWORD nothing"),
            "* ESEARCH (TAG \"a\")\r\n".to_string() + &ok("a")
        );
        assert_eq!(
            command(&mut s, "b UID SEARCH RETURN () KEYWORD nothing"),
            "* ESEARCH (TAG \"b\") UID\r\n".to_string() + &ok("b")
        );
        assert_eq!(
            command(&mut s, "c SEARCH RETURN (MIN COUNT) KEYWORD nothing"),
            "* ESEARCH (TAG \"c\") COUNT 0\r\n".to_string() + &ok("c")
        );
        // An empty mailbox.
        let (mut s, _dir) = selected_with(&[], false);
        assert_eq!(
            command(&mut s, "d UID SEARCH RETURN (ALL COUNT) 1:*"),
            "* ESEARCH (TAG \"d\") UID COUNT 0\r\n".to_string() + &ok("d")
        );
    }

    #[test]
    fn esearch_errors() {
        let (mut s, _dir) = twelve();
        let cases = [
            ("RETURN (FOO) ALL", "BAD Invalid Search return option foo"),
            ("RETURN (MIN 5) ALL", "BAD Invalid Search return option 5"),
            ("RETURN MIN ALL", "BAD Missing return options in Search"),
            ("RETURN", "BAD Missing return options in Search"),
            ("RETURN (MIN ALL", "BAD Missing close parenthesis in Search"),
            (
                "RETURN (MIN  MAX) ALL",
                "BAD Missing close parenthesis in Search",
            ),
            ("RETURN (MIN)", "BAD Missing required argument to Search"),
            ("RETURN (MIN) ", "BAD Missing required argument to Search"),
            (
                "RETURN (MIN) CHARSET X-KLINGON ALL",
                "NO [BADCHARSET] Unrecognized character set",
            ),
            ("RETURN (MIN) FOO", "BAD Invalid Search criteria"),
            // RETURN comes first (rfc4466 2.6.1), it is no search key.
            ("ALL RETURN (MIN)", "BAD Invalid Search criteria"),
        ];
        for (args, reply) in cases {
            assert_eq!(
                command(&mut s, &format!("e SEARCH {args}")),
                format!("e {reply}\r\n")
                    .replace("[BADCHARSET]", &format!("[BADCHARSET ({CHARSETS_LISTED})]")),
                "{args}"
            );
        }
        assert_eq!(
            command(&mut s, "u UID SEARCH RETURN (ALL)"),
            "u BAD Missing required argument to UID Search\r\n"
        );
    }

    /// Search in every language: words in ten scripts and languages, in
    /// encoded-word headers and in bodies in legacy charsets, 8bit,
    /// quoted-printable and base64, found with other case and accents
    /// (i;unicode-casemap) and from search strings in legacy charsets.
    #[test]
    fn search_in_every_language() {
        use crate::wire::base64;
        let enc = |charset: &str, text: &str| -> Vec<u8> {
            let e = encoding_rs::Encoding::for_label(charset.as_bytes()).unwrap();
            e.encode(text).0.into_owned()
        };
        let message = |headers: &str, cte: &str, charset: &str, body: &[u8]| -> Vec<u8> {
            let mut m = format!(
                "From: someone@example.org\r\n{headers}MIME-Version: 1.0\r\n\
                 Content-Type: text/plain; charset={charset}\r\n\
                 Content-Transfer-Encoding: {cte}\r\n\r\n"
            )
            .into_bytes();
            m.extend_from_slice(body);
            m.extend_from_slice(b"\r\n");
            m
        };
        let b64 = |charset: &str, text: &str| base64::encode(&enc(charset, text)).into_bytes();
        let subject_b = |charset: &str, text: &str| {
            format!(
                "Subject: =?{charset}?B?{}?=\r\n",
                base64::encode(&enc(charset, text))
            )
        };
        let messages: Vec<Vec<u8>> = vec![
            // 1 German: Latin-1 subject (Q), body quoted-printable Latin-1.
            message(
                "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?=\r\n",
                "quoted-printable",
                "iso-8859-1",
                b"Die Stra=DFe ist gesperrt, sch=F6ne Gr=FC=DFe",
            ),
            // 2 French: UTF-8, 8bit.
            message(
                "Subject: Rendez-vous\r\n",
                "8bit",
                "utf-8",
                "L'Élève arrive à l'école demain".as_bytes(),
            ),
            // 3 Russian: KOI8-R subject (B) and base64 KOI8-R body.
            message(
                &subject_b("KOI8-R", "Отчёт за квартал"),
                "base64",
                "koi8-r",
                &b64("koi8-r", "Привет, мир! Встреча в пятницу."),
            ),
            // 4 Greek: UTF-8 quoted-printable ("Καλημέρα φίλε").
            message(
                "Subject: Greek\r\n",
                "quoted-printable",
                "utf-8",
                b"=CE=9A=CE=B1=CE=BB=CE=B7=CE=BC=CE=AD=CF=81=CE=B1 =CF=86=CE=AF=CE=BB=CE=B5",
            ),
            // 5 Chinese: GB18030, base64.
            message(
                "Subject: zh\r\n",
                "base64",
                "gb18030",
                &b64("gb18030", "中文邮件测试"),
            ),
            // 6 Japanese: ISO-2022-JP subject, Shift_JIS 8bit body.
            message(
                &subject_b("ISO-2022-JP", "日本語の件名"),
                "8bit",
                "shift_jis",
                &enc("shift_jis", "東京で会いましょう"),
            ),
            // 7 Korean: EUC-KR, 8bit.
            message(
                "Subject: ko\r\n",
                "8bit",
                "euc-kr",
                &enc("euc-kr", "안녕하세요 여러분"),
            ),
            // 8 Arabic: UTF-8 base64.
            message(
                "Subject: ar\r\n",
                "base64",
                "utf-8",
                &b64("utf-8", "مرحبا بالعالم"),
            ),
            // 9 Spanish subject (windows-1252) and Turkish body (windows-1254).
            message(
                "Subject: =?windows-1252?Q?Ma=F1ana?=\r\n",
                "8bit",
                "windows-1254",
                &enc("windows-1254", "İstanbul'da güzel bir gün"),
            ),
            // 10 Hebrew: an ISO-8859-8 subject only.
            message(
                "Subject: =?ISO-8859-8?Q?=F9=EC=E5=ED?=\r\n",
                "7bit",
                "us-ascii",
                b"plain ascii body",
            ),
        ];
        let (mut s, _dir) = crate::commands::testing::store_session();
        let inbox = crate::store::MailboxName::inbox();
        let batch = messages
            .into_iter()
            .map(|data| crate::store::AppendMessage {
                data,
                flags: crate::store::Flags::default(),
                keywords: Vec::new(),
                internal_date: None,
            })
            .collect();
        s.mail_store().unwrap().append(&inbox, batch).unwrap();
        command(&mut s, "s SELECT INBOX");
        let found = |ids: &str| format!("* SEARCH{ids}\r\ns OK Completed\r\n");
        let send = |s: &mut crate::session::Session, charset: &str, key: &str, word: &[u8]| {
            let mut line =
                format!("s SEARCH CHARSET {charset} {key} {{{}}}\r\n", word.len()).into_bytes();
            line.extend_from_slice(word);
            line.extend_from_slice(b"\r\n");
            let step = s.feed(&line);
            crate::commands::testing::drain(s, step)
                .0
                .replace("+ go ahead\r\n", "")
        };
        let cases: &[(&str, &str, &str)] = &[
            ("SUBJECT", "grüsse", ""),
            ("SUBJECT", "GRÜßE", " 1"),
            ("SUBJECT", "münchen", " 1"),
            // Decomposition keeps the accent (U + COMBINING DIAERESIS): a
            // word without it is another word, as rfc5051 says.
            ("SUBJECT", "munchen", ""),
            ("SUBJECT", "MÜNCHEN", " 1"),
            ("BODY", "STRAßE", " 1"),
            ("TEXT", "SCHÖNE", " 1"),
            ("BODY", "élève", " 2"),
            ("BODY", "ÉCOLE", " 2"),
            ("BODY", "ecole", ""),
            ("BODY", "arrive a", " 2"),
            ("SUBJECT", "ОТЧЁТ", " 3"),
            ("BODY", "привет", " 3"),
            ("TEXT", "ПЯТНИЦУ", " 3"),
            ("BODY", "ΚΑΛΗΜΈΡΑ", " 4"),
            ("BODY", "φίλε", " 4"),
            ("BODY", "邮件", " 5"),
            ("TEXT", "测试", " 5"),
            ("SUBJECT", "日本語", " 6"),
            ("BODY", "東京", " 6"),
            ("BODY", "안녕하세요", " 7"),
            ("BODY", "بالعالم", " 8"),
            ("SUBJECT", "MAÑANA", " 9"),
            ("BODY", "GÜZEL", " 9"),
            ("BODY", "i̇stanbul", " 9"),
            ("SUBJECT", "שלום", " 10"),
            ("TEXT", "Привет", " 3"),
            ("BODY", "nowhere", ""),
        ];
        for (key, word, ids) in cases {
            assert_eq!(
                send(&mut s, "UTF-8", key, word.as_bytes()),
                found(ids),
                "{key} {word}"
            );
        }
        // Search strings in legacy charsets.
        let legacy: &[(&str, &str, &str, &str)] = &[
            ("KOI8-R", "BODY", "ВСТРЕЧА", " 3"),
            ("ISO-8859-1", "BODY", "straße", " 1"),
            ("windows-1251", "SUBJECT", "квартал", " 3"),
            ("ISO-8859-7", "BODY", "καλημέρα", " 4"),
            ("GB18030", "BODY", "中文", " 5"),
            ("Shift_JIS", "BODY", "会いましょう", " 6"),
            ("EUC-KR", "BODY", "여러분", " 7"),
            ("ISO-8859-8", "SUBJECT", "שלום", " 10"),
            ("windows-1254", "TEXT", "GÜN", " 9"),
        ];
        for (charset, key, word, ids) in legacy {
            assert_eq!(
                send(&mut s, charset, key, &enc(charset, word)),
                found(ids),
                "{charset} {key} {word}"
            );
        }
    }

    /// rfc5182 2.2's examples 1 to 4 and 9.
    #[test]
    fn searchres_rfc5182_examples() {
        let (mut s, _dir) = twelve();
        // Example 1: SAVE alone answers nothing but OK.
        assert_eq!(
            command(
                &mut s,
                "A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""
            ),
            ok("A282")
        );
        assert_eq!(
            command(&mut s, "A283 FETCH $ (UID)"),
            "* 2 FETCH (UID 2)\r\n* 10 FETCH (UID 10)\r\n* 11 FETCH (UID 11)\r\n".to_string()
                + &ok("A283")
        );
        // Example 2: pipelined, in order.
        assert_eq!(
            run(
                &mut s,
                "A284 SEARCH RETURN (SAVE) FLAGGED NOT UID 10\r\nA285 FETCH $ (UID)\r\n"
            )
            .0,
            ok("A284") + "* 2 FETCH (UID 2)\r\n* 11 FETCH (UID 11)\r\n" + &ok("A285")
        );
        // Example 3: the result in another SEARCH, as UIDs or as a set.
        command(&mut s, "A300 SEARCH RETURN (SAVE) FLAGGED");
        for search in ["UID SEARCH UID $ SMALLER 4096", "UID SEARCH $ SMALLER 4096"] {
            assert_eq!(
                command(&mut s, &format!("A301 {search}")),
                "* SEARCH 2 10 11\r\n".to_string() + &ok("A301")
            );
        }
        // Example 4: with OR and other numbers (3000:3021 name nothing).
        assert_eq!(
            command(
                &mut s,
                "P283 SEARCH CHARSET UTF-8 (OR $ 1,3000:3021) TEXT \"joe\""
            ),
            "* SEARCH 1 2 10 11\r\n".to_string() + &ok("P283")
        );
        // Example 9: the second SAVE replaces the first.
        command(&mut s, "H282 SEARCH RETURN (SAVE) FLAGGED");
        command(&mut s, "H283 SEARCH RETURN (SAVE) 5");
        assert_eq!(
            command(&mut s, "H284 FETCH $ (UID)"),
            "* 5 FETCH (UID 5)\r\n".to_string() + &ok("H284")
        );
    }

    /// rfc5182 2.1: a SEARCH with SAVE that fails with NO empties `$`; a
    /// BAD one, and a NO one without SAVE, leave it (example 5 shows the
    /// latter emptying it too; the normative text says it must not).
    #[test]
    fn searchres_after_a_failed_search() {
        let (mut s, _dir) = twelve();
        command(&mut s, "B282 SEARCH RETURN (SAVE) FLAGGED");
        let flagged = "2,10:11";
        assert_eq!(
            command(
                &mut s,
                "B283 SEARCH CHARSET X-KLINGON (OR $ 1,3000:3021) TEXT {4}\r\nmail"
            ),
            format!(
                "+ go ahead\r\nB283 NO [BADCHARSET ({CHARSETS_LISTED})] Unrecognized character set\r\n"
            )
        );
        assert_eq!(saved(&mut s), flagged);
        for bad in [
            "B284 SEARCH RETURN (SAVE) FOO",
            "B284 SEARCH RETURN (SAVE NEVER) ALL",
        ] {
            assert!(command(&mut s, bad).starts_with("B284 BAD "), "{bad}");
            assert_eq!(saved(&mut s), flagged);
        }
        // Without SAVE, a successful SEARCH leaves it too.
        command(&mut s, "B285 SEARCH RETURN (ALL) 1");
        assert_eq!(saved(&mut s), flagged);
        assert_eq!(
            command(&mut s, "B286 SEARCH RETURN (SAVE) CHARSET X-KLINGON ALL"),
            format!("B286 NO [BADCHARSET ({CHARSETS_LISTED})] Unrecognized character set\r\n")
        );
        assert_eq!(saved(&mut s), "");
    }

    /// rfc5182 2.4's table and example 10: what SAVE keeps beside MIN, MAX,
    /// ALL and COUNT.
    #[test]
    fn searchres_with_esearch_options() {
        let (mut s, _dir) = twelve();
        let cases = [
            ("ALL", "ALL 2,10:11", None),
            ("ALL SAVE", "ALL 2,10:11", Some("2,10:11")),
            ("SAVE MIN", "MIN 2", Some("2")),
            ("SAVE MAX", "MAX 11", Some("11")),
            ("MAX SAVE MIN", "MIN 2 MAX 11", Some("2,11")),
            (
                "MAX SAVE MIN COUNT",
                "MIN 2 MAX 11 COUNT 3",
                Some("2,10:11"),
            ),
            ("ALL SAVE MIN", "MIN 2 ALL 2,10:11", Some("2,10:11")),
            ("COUNT SAVE", "COUNT 3", Some("2,10:11")),
        ];
        command(&mut s, "x SEARCH RETURN (SAVE) 1");
        let mut kept = "1";
        for (options, answer, keeps) in cases {
            assert_eq!(
                command(&mut s, &format!("C SEARCH RETURN ({options}) FLAGGED")),
                format!("* ESEARCH (TAG \"C\") {answer}\r\n") + &ok("C"),
                "{options}"
            );
            kept = keeps.unwrap_or(kept);
            assert_eq!(saved(&mut s), kept, "{options}");
        }
        // MIN and MAX of one message: $ holds it once.
        command(&mut s, "C SEARCH RETURN (SAVE MIN MAX) 4");
        assert_eq!(saved(&mut s), "4");
    }

    /// `$` names messages by UID, whichever command saved or uses it
    /// (rfc5182 2.1's implementation note); expunged ones drop out; an empty
    /// `$` is a valid set naming nothing (examples 6 and 7).
    #[test]
    fn saved_result_everywhere() {
        let (mut s, _dir) = twelve();
        command(&mut s, "x STORE 1 +FLAGS.SILENT (\\Deleted)");
        command(&mut s, "x EXPUNGE");
        // UIDs 2, 10, 11 are now messages 1, 9, 10.
        command(&mut s, "a SEARCH RETURN (SAVE) FLAGGED");
        assert_eq!(
            command(&mut s, "b FETCH $ (UID)"),
            "* 1 FETCH (UID 2)\r\n* 9 FETCH (UID 10)\r\n* 10 FETCH (UID 11)\r\n".to_string()
                + &ok("b")
        );
        assert_eq!(
            command(&mut s, "c UID FETCH $ (UID)"),
            "* 1 FETCH (UID 2)\r\n* 9 FETCH (UID 10)\r\n* 10 FETCH (UID 11)\r\n".to_string()
                + &ok("c")
        );
        assert_eq!(
            command(&mut s, "d SEARCH $"),
            "* SEARCH 1 9 10\r\n".to_string() + &ok("d")
        );
        command(&mut s, "e UID SEARCH RETURN (SAVE) UID 3:4");
        assert_eq!(
            command(&mut s, "f SEARCH UID $"),
            "* SEARCH 2 3\r\n".to_string() + &ok("f")
        );
        assert_eq!(
            command(&mut s, "g STORE $ +FLAGS (\\Answered)"),
            "* 2 FETCH (FLAGS (\\Recent \\Answered))\r\n\
             * 3 FETCH (FLAGS (\\Recent \\Answered))\r\n"
                .to_string()
                + &ok("g")
        );
        assert_eq!(
            command(&mut s, "h UID STORE $ -FLAGS.SILENT (\\Answered)"),
            ok("h")
        );
        // Example 7: SAVE, COPY $, STORE $ pipelined; then the expunged
        // messages leave $.
        let junk = crate::store::MailboxName::new("Junk").unwrap();
        s.mail_store().unwrap().create(&junk).unwrap();
        let validity = s
            .mail_store()
            .unwrap()
            .status(&junk, false)
            .unwrap()
            .uidvalidity;
        command(&mut s, "x STORE 3:4 +FLAGS.SILENT ($Junk)");
        let out = run(
            &mut s,
            "F282 SEARCH RETURN (SAVE) KEYWORD $Junk\r\nF283 COPY $ \"Junk\"\r\n\
             F284 STORE $ +FLAGS.Silent (\\Deleted)\r\n",
        )
        .0;
        assert!(
            out.ends_with(&format!(
                "{}F283 OK [COPYUID {validity} 4:5 1:2] Completed\r\n{}",
                ok("F282"),
                ok("F284")
            )),
            "{out}"
        );
        assert_eq!(
            command(&mut s, "F285 UID EXPUNGE $"),
            "* 4 EXPUNGE\r\n* 3 EXPUNGE\r\n".to_string() + &ok("F285")
        );
        assert_eq!(command(&mut s, "F286 FETCH $ (UID)"), ok("F286"));
        // Example 6: an empty $ copies nothing, and is no error.
        assert_eq!(command(&mut s, "E283 COPY $ \"Junk\""), ok("E283"));
        assert_eq!(command(&mut s, "E284 UID COPY $ \"Junk\""), ok("E284"));
        assert_eq!(command(&mut s, "E285 STORE $ +FLAGS (\\Seen)"), ok("E285"));
        assert_eq!(
            command(&mut s, "E286 SEARCH $"),
            "* SEARCH\r\n".to_string() + &ok("E286")
        );
        // MOVE $ and UID MOVE $.
        command(&mut s, "m SEARCH RETURN (SAVE) 1");
        let moved = command(&mut s, "m1 MOVE $ Junk");
        assert!(
            moved.contains("* 1 EXPUNGE\r\n") && moved.ends_with(&ok("m1")),
            "{moved}"
        );
        command(&mut s, "m SEARCH RETURN (SAVE) 1");
        let moved = command(&mut s, "m2 UID MOVE $ Junk");
        assert!(
            moved.contains("* 1 EXPUNGE\r\n") && moved.ends_with(&ok("m2")),
            "{moved}"
        );
        assert_eq!(command(&mut s, "m3 UID MOVE $ Junk"), ok("m3"));
        // `$` is a whole sequence set, never a part of one (rfc5182 3).
        assert_eq!(
            command(&mut s, "z FETCH 1,$ (UID)"),
            "z BAD Invalid sequence in Fetch\r\n"
        );
    }

    /// rfc5182 2.1: SELECT and EXAMINE start with an empty `$` (so do
    /// CLOSE and UNSELECT, which leave the mailbox).
    #[test]
    fn saved_result_reset_by_select() {
        let (mut s, _dir) = twelve();
        for leave in ["SELECT INBOX", "EXAMINE INBOX", "CLOSE", "UNSELECT"] {
            command(&mut s, "a SEARCH RETURN (SAVE) FLAGGED");
            assert_eq!(
                command(&mut s, "b SEARCH $"),
                "* SEARCH 2 10 11\r\n".to_string() + &ok("b")
            );
            let left = command(&mut s, &format!("c {leave}"));
            assert!(
                left.lines().last().unwrap().starts_with("c OK "),
                "{leave}: {left}"
            );
            if !leave.ends_with("INBOX") {
                command(&mut s, "d SELECT INBOX");
            }
            assert_eq!(
                command(&mut s, "e SEARCH $"),
                "* SEARCH\r\n".to_string() + &ok("e"),
                "{leave}"
            );
        }
    }

    /// rfc5032 2 and 4: OLDER and YOUNGER against INTERNALDATE, in seconds
    /// before now.
    #[test]
    fn within() {
        let (mut s, _dir) = crate::commands::testing::store_session();
        let now = crate::store::mailbox::now().0;
        let dated = |seconds_ago: i64| crate::store::AppendMessage {
            data: PLAIN.as_bytes().to_vec(),
            flags: crate::store::Flags::default(),
            keywords: Vec::new(),
            internal_date: Some((now - seconds_ago, 0)),
        };
        let batch = vec![dated(400_000), dated(7200), dated(60)];
        let inbox = crate::store::MailboxName::inbox();
        s.mail_store().unwrap().append(&inbox, batch).unwrap();
        command(&mut s, "s SELECT INBOX");
        let found = |ids: &str| format!("* SEARCH{ids}\r\ns OK Completed\r\n");
        assert_eq!(search(&mut s, "YOUNGER 3600"), found(" 3"));
        assert_eq!(search(&mut s, "OLDER 3600"), found(" 1 2"));
        assert_eq!(search(&mut s, "older 300000"), found(" 1"));
        assert_eq!(search(&mut s, "YOUNGER 10"), found(""));
        assert_eq!(search(&mut s, "OLDER 4294967295"), found(""));
        // rfc5032 4: unseen messages of the past 3 days.
        command(&mut s, "x STORE 3 +FLAGS.SILENT (\\Seen)");
        assert_eq!(search(&mut s, "UNSEEN YOUNGER 259200"), found(" 2"));
        assert_eq!(
            command(&mut s, "u UID SEARCH RETURN (ALL) NOT YOUNGER 259200"),
            "* ESEARCH (TAG \"u\") UID ALL 1\r\nu OK Completed\r\n"
        );
        for bad in ["OLDER 0", "YOUNGER -5", "OLDER 4294967296", "YOUNGER x"] {
            assert_eq!(
                search(&mut s, bad),
                "s BAD Invalid interval in Search command\r\n",
                "{bad}"
            );
        }
        assert_eq!(
            search(&mut s, "OLDER"),
            "s BAD Missing required argument to Search OLDER\r\n"
        );
    }

    /// rfc7162 3.1.5, 3.1.6, 3.1.10 and rfc4731 3.2: the MODSEQ key, and
    /// the highest mod-sequence of what is returned.
    #[test]
    fn modseq() {
        let (mut s, _dir) = selected_with(&[PLAIN; 5], false);
        command(&mut s, "x STORE 2 +FLAGS.SILENT (\\Draft)");
        command(&mut s, "x STORE 4 +FLAGS.SILENT (\\Seen)");
        let modseqs: Vec<u64> = s
            .selected()
            .unwrap()
            .mailbox
            .records()
            .iter()
            .map(|r| r.modseq)
            .collect();
        let (since, top) = (modseqs[1], modseqs[3]);
        assert!(
            modseqs[0] < since && since < top && modseqs[4] < since,
            "{modseqs:?}"
        );
        let highest = s.selected().unwrap().mailbox.highest_modseq();
        // The first CONDSTORE enabling command reports HIGHESTMODSEQ.
        assert_eq!(
            command(
                &mut s,
                &format!("a SEARCH MODSEQ \"/flags/\\\\draft\" all {since}")
            ),
            format!("* OK [HIGHESTMODSEQ {highest}] Ok\r\n* SEARCH 2 4 (MODSEQ {top})\r\n")
                + &ok("a")
        );
        assert!(s.condstore());
        assert_eq!(
            command(&mut s, &format!("b UID SEARCH MODSEQ {since}")),
            format!("* SEARCH 2 4 (MODSEQ {top})\r\n") + &ok("b")
        );
        // Nothing found: no MODSEQ (rfc7162 example 16).
        assert_eq!(
            command(&mut s, "t SEARCH OR NOT MODSEQ 1 LARGER 50000"),
            "* SEARCH\r\n".to_string() + &ok("t")
        );
        // Without a MODSEQ key, no MODSEQ.
        assert_eq!(
            command(&mut s, "c SEARCH 4"),
            "* SEARCH 4\r\n".to_string() + &ok("c")
        );
        // ESEARCH: MIN or MAX alone, the found message's; both, the higher
        // of the two; with ALL or COUNT, the highest found (rfc4731 3.2).
        let cases = [
            ("MIN", format!("MIN 2 MODSEQ {since}")),
            ("MAX", format!("MAX 4 MODSEQ {top}")),
            ("MIN MAX", format!("MIN 2 MAX 4 MODSEQ {top}")),
            ("MIN COUNT", format!("MIN 2 COUNT 2 MODSEQ {top}")),
            ("ALL", format!("ALL 2,4 MODSEQ {top}")),
        ];
        for (options, answer) in cases {
            assert_eq!(
                command(
                    &mut s,
                    &format!("e SEARCH RETURN ({options}) MODSEQ {since}")
                ),
                format!("* ESEARCH (TAG \"e\") {answer}\r\n") + &ok("e"),
                "{options}"
            );
        }
        assert_eq!(
            command(&mut s, &format!("e SEARCH RETURN (MIN) MODSEQ {}", top + 1)),
            "* ESEARCH (TAG \"e\")\r\n".to_string() + &ok("e")
        );
        assert_eq!(
            command(&mut s, "e SEARCH RETURN (MAX) MODSEQ 0 NOT 5"),
            format!("* ESEARCH (TAG \"e\") MAX 4 MODSEQ {}\r\n", modseqs[3]) + &ok("e")
        );
        assert_eq!(
            command(&mut s, "e SEARCH MODSEQ 9223372036854775808"),
            "e BAD Invalid number in Search command\r\n"
        );
    }
}

/// Profiling aid, not a test: `IMAPD_PERF_MAILDIR=<a user's tree>
/// cargo test -p guest --release search_text_profile -- --ignored
/// --nocapture` runs SEARCH TEXT natively over a real mailbox (e.g. one
/// `make bench` loaded), so `perf` shows function names.
#[cfg(test)]
#[test]
#[ignore]
fn search_text_profile() {
    let Ok(root) = std::env::var("IMAPD_PERF_MAILDIR") else {
        return;
    };
    let store = crate::store::MailStore::open(root, std::rc::Rc::new(crate::store::NoLocking), &[])
        .unwrap();
    let start = std::time::Instant::now();
    let rounds: u32 = std::env::var("IMAPD_PERF_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    for _ in 0..rounds {
        drop(store.examine(&crate::store::MailboxName::inbox()).unwrap());
    }
    println!("EXAMINE: {:?}", start.elapsed() / rounds);
    let m = store.examine(&crate::store::MailboxName::inbox()).unwrap();
    let needle = std::env::var("IMAPD_PERF_WORD").unwrap_or_else(|_| "quetzalcoatl".into());
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let hits = search_mailbox(&m, &SearchKey::Text(needle.clone()));
        println!(
            "TEXT {needle}: {} hits in {:?}",
            hits.len(),
            start.elapsed()
        );
    }
    let raw = m.records().iter().filter(|r| r.text_is_raw).count();
    let decoded = m.records().iter().filter(|r| r.text.len > 0).count();
    let mut texts = m.text_reader();
    let t0 = std::time::Instant::now();
    let bytes: usize = m
        .records()
        .iter()
        .filter(|r| r.text.len > 0)
        .map(|r| texts.text(r).len())
        .sum();
    println!(
        "{raw} of {} messages have raw text, {decoded} decoded text ({bytes} bytes read in {:?})",
        m.records().len(),
        t0.elapsed()
    );
}
