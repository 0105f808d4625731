//! SEARCH and UID SEARCH (rfc3501 6.4.4, 6.4.8, 7.2.5).
//!
//! Keys on flags, sizes, dates, UIDs and the FROM/TO/CC/BCC/SUBJECT
//! fields are answered from the index records; HEADER (other fields),
//! BODY and TEXT read the message file, once per message, and only when
//! the cheaper keys have not already decided (within an AND, index keys
//! run first). Matching is a case-insensitive substring match on
//! MIME-decoded text (`mime::search`).
//!
//! Reply: `* SEARCH n n n` (UIDs for UID SEARCH), then `OK Completed`.
//! A CHARSET other than UTF-8 or US-ASCII is
//! `NO [BADCHARSET (US-ASCII UTF-8)]` (rfc3501 6.4.4, 7.1).

use super::Request;
use super::dates::local_day;
use super::search_keys::{IndexedHeader, SearchError, SearchKey, parse_search_program};
use super::sequence::{MessageCommand, Numbering};
use crate::mime::search::{
    BodyText, SentDate, body_matches, header_contains, sent_date_of, text_matches,
};
use crate::session::{Action, Session};
use crate::store::cache::{CacheReader, SentField};
use crate::store::{Mailbox, MessageRecord};
use crate::wire::parser::SyntaxError;
use crate::wire::types::{SeqNumber, SequenceSet};

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
    let key = match parse_search_program(&mut request.args, command.name()) {
        Ok(key) => key,
        Err(SearchError::Bad(text)) => {
            request.reply(session, &format!("BAD {text}"));
            return Ok(Action::None);
        }
        Err(SearchError::BadCharset) => {
            request.reply(
                session,
                "NO [BADCHARSET (US-ASCII UTF-8)] Unrecognized character set",
            );
            return Ok(Action::None);
        }
    };
    let Some(selected) = session.selected_mut() else {
        request.reply(session, "BAD Please select a mailbox first");
        return Ok(Action::None);
    };
    let matches = search_mailbox(&selected.mailbox, &key);
    let mut out = Vec::with_capacity(9 + matches.len() * 6);
    out.extend_from_slice(b"* SEARCH");
    for position in matches {
        let number = match numbering {
            Numbering::Sequence => position as u32 + 1,
            Numbering::Uid => selected.mailbox.records()[position].uid,
        };
        out.push(b' ');
        out.extend_from_slice(number.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    session.write(&out);
    session.report_updates(command.allows_expunge());
    request.reply(session, "OK Completed");
    Ok(Action::None)
}

/// Positions (0-based, ascending) of the messages matching `key`.
pub fn search_mailbox(mailbox: &Mailbox, key: &SearchKey) -> Vec<usize> {
    let records = mailbox.records();
    let context = MailboxFacts {
        exists: records.len() as u32,
        largest_uid: records.last().map_or(0, |r| r.uid),
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
            value.contains(needle.as_str())
        }
        SearchKey::Header { name, needle } => header_contains(m.raw(), name, needle),
        SearchKey::Body(needle) => m.text_search(needle, false),
        SearchKey::Text(needle) => m.text_search(needle, true),
        SearchKey::Sequence(set) => set_contains(set, m.seq, facts.exists),
        SearchKey::Uid(set) => set_contains(set, r.uid, facts.largest_uid),
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

/// Membership in a sequence set, `*` being `largest`; numbers that name
/// no message simply match nothing (a SEARCH key is a filter, not a
/// reference: rfc3501 6.4.4).
fn set_contains(set: &SequenceSet, n: u32, largest: u32) -> bool {
    let SequenceSet::Ranges(ranges) = set else {
        return false;
    };
    let value = |s: SeqNumber| match s {
        SeqNumber::Value(v) => v.get(),
        SeqNumber::Largest => largest,
    };
    ranges.iter().any(|range| {
        let (a, b) = (value(range.first), value(range.last));
        a.min(b) <= n && n <= a.max(b)
    })
}

#[cfg(test)]
mod tests {
    use super::super::message_testing::*;

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
            search(&mut s, "CHARSET ISO-2022-JP ALL"),
            "s NO [BADCHARSET (US-ASCII UTF-8)] Unrecognized character set\r\n"
        );
        assert_eq!(search(&mut s, "FOO"), "s BAD Invalid Search criteria\r\n");
        assert_eq!(
            command(&mut s, "u UID SEARCH"),
            "u BAD Missing required argument to Uid\r\n"
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
