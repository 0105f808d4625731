//! SORT and UID SORT (rfc5256 3 BASE.6.4.SORT), with the DISPLAYFROM and
//! DISPLAYTO keys (rfc5957 4), ESORT's result options (rfc5267 3.1) and
//! CONDSTORE's MODSEQ (rfc7162 3.1.9, 3.1.10).
//!
//! ```text
//! sort            = ["UID" SP] "SORT" [SP sort-return-opts] SP
//!                   sort-criteria SP search-criteria      ; rfc5256 5, rfc5267 6
//! sort-criteria   = "(" sort-criterion *(SP sort-criterion) ")"
//! sort-criterion  = ["REVERSE" SP] sort-key
//! sort-key        = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" /
//!                   "SUBJECT" / "TO" / "DISPLAYFROM" / "DISPLAYTO"
//! search-criteria = charset 1*(SP search-key)
//! ```
//!
//! The messages are found as SEARCH finds them; what they are sorted by
//! comes from the sort-key file (`store::sort_keys`: per message the sent
//! date and the base subject and addresses already mapped, written when
//! it enters the store), so a SORT reads one small file and maps no
//! string. Entries it lacks are made from the summary cache (from the
//! message only for blobs written by older versions) and added. Strings compare
//! with i;unicode-casemap (rfc5256 7, rfc5051); an absent field is the
//! empty string, which sorts first; ties go by sequence number (rfc5256
//! 3), which REVERSE does not reverse.
//!
//! Reply: `* SORT n n n` (with `(MODSEQ m)` after a MODSEQ key), or with
//! `RETURN (...)` one `* ESEARCH (TAG "t") [UID] ...` whose MIN and MAX are
//! the first and last in sort order and whose ALL lists them in sort
//! order (rfc5267 3.1, ranges only where numbers ascend, 3.2).

use super::Request;
use super::search::{answer, refuse, search_mailbox};
use super::search_keys::{SearchError, in_grammar, parse_return_options, parse_search_criteria};
use super::sequence::{MessageCommand, Numbering};
use crate::mime::search::sent_date_of;
use crate::mime::sort_fields::SortFields;
use crate::session::{Action, Session};
use crate::store::cache::{CacheReader, SentField, SortView};
use crate::store::sort_keys::{SortEntry, SortKeys, encode_entry};
use crate::store::{Mailbox, MessageRecord};
use crate::wire::parser::{Parser, SyntaxError};

/// rfc5256 5 sort-key, rfc5957 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// rfc5256 5 sort-criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    pub key: SortKey,
    pub reverse: bool,
}

/// SORT.
pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    run(session, request, Numbering::Sequence)
}

/// SORT or UID SORT.
pub fn run(
    session: &mut Session,
    request: &mut Request,
    numbering: Numbering,
) -> Result<Action, SyntaxError> {
    let command = MessageCommand::new("Sort", "UID Sort", numbering);
    request.args.sp()?;
    let options = match parse_return_options(&mut request.args, command.name()) {
        Ok(options) => options,
        Err(error) => return refuse(session, request, error, false),
    };
    let saving = options.is_some_and(|o| o.save);
    let rev2 = session.rev2();
    let parsed = (|| {
        let criteria = parse_criteria(&mut request.args)?;
        let key = parse_search_criteria(&mut request.args, command.name())?;
        let key = in_grammar(key, rev2)?;
        Ok((criteria, key))
    })();
    let (criteria, key) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return refuse(session, request, error, saving),
    };
    let modseq_key = key.uses_modseq();
    if modseq_key {
        // rfc7162 3.1: a CONDSTORE enabling command.
        session.enable_condstore();
    }
    let Some(selected) = session.selected() else {
        request.reply(session, "BAD Please select a mailbox first");
        return Ok(Action::None);
    };
    let found = search_mailbox(&selected.mailbox, &key);
    let sorted = sort_positions(&selected.mailbox, &found, &criteria);
    answer(session, request, command, options, &sorted, modseq_key)
}

/// `sort-criteria` (rfc5256 5, rfc5957 5).
pub fn parse_criteria(p: &mut Parser) -> Result<Vec<Criterion>, SearchError> {
    let bad = |text: &str| SearchError::Bad(text.to_string());
    if !p.eat(b'(') {
        return Err(bad("Missing Sort criteria"));
    }
    let mut criteria = Vec::new();
    loop {
        let mut word = p.word().to_ascii_uppercase();
        let reverse = word == b"REVERSE";
        if reverse {
            if !p.eat(b' ') {
                return Err(bad("Missing Sort criterion after REVERSE"));
            }
            word = p.word().to_ascii_uppercase();
        }
        let key = match word.as_slice() {
            b"ARRIVAL" => SortKey::Arrival,
            b"CC" => SortKey::Cc,
            b"DATE" => SortKey::Date,
            b"FROM" => SortKey::From,
            b"SIZE" => SortKey::Size,
            b"SUBJECT" => SortKey::Subject,
            b"TO" => SortKey::To,
            b"DISPLAYFROM" => SortKey::DisplayFrom,
            b"DISPLAYTO" => SortKey::DisplayTo,
            b"" => return Err(bad("Missing Sort criteria")),
            _ => {
                return Err(SearchError::Bad(format!(
                    "Invalid Sort criterion {}",
                    String::from_utf8_lossy(&word)
                )));
            }
        };
        criteria.push(Criterion { key, reverse });
        if p.eat(b')') {
            return Ok(criteria);
        }
        if !p.eat(b' ') {
            return Err(bad("Missing close parenthesis in Sort"));
        }
    }
}

/// One message's value under one sort key, borrowed from its
/// [`SortEntry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Value<'a> {
    Number(i64),
    /// The i;unicode-casemap mapped form: its octet order is the
    /// comparator's order (rfc5051 2).
    Text(&'a str),
}

/// `found` (positions) in the order of `criteria`, ties by position.
pub fn sort_positions(mailbox: &Mailbox, found: &[usize], criteria: &[Criterion]) -> Vec<usize> {
    let records = mailbox.records();
    let keys = sort_keys_of(mailbox, found);
    // Every row's values side by side in one vector: row i's are
    // `values[i * k..(i + 1) * k]`.
    let k = criteria.len();
    let mut values = Vec::with_capacity(found.len() * k);
    for &position in found {
        let record = &records[position];
        let entry = keys.get(record.uid).unwrap_or_default();
        values.extend(criteria.iter().map(|c| value(c.key, record, &entry)));
    }
    let mut rows: Vec<usize> = (0..found.len()).collect();
    rows.sort_unstable_by(|&a, &b| {
        let (va, vb) = (&values[a * k..(a + 1) * k], &values[b * k..(b + 1) * k]);
        for (i, c) in criteria.iter().enumerate() {
            let order = va[i].cmp(&vb[i]);
            let order = if c.reverse { order.reverse() } else { order };
            if order.is_ne() {
                return order;
            }
        }
        found[a].cmp(&found[b])
    });
    rows.into_iter().map(|row| found[row]).collect()
}

fn value<'a>(key: SortKey, record: &MessageRecord, entry: &SortEntry<'a>) -> Value<'a> {
    match key {
        // rfc5256 3: the internal date and time, not just the date.
        SortKey::Arrival => Value::Number(record.internal_date),
        SortKey::Size => Value::Number(record.size as i64),
        SortKey::Date => Value::Number(entry.sent),
        SortKey::Subject => Value::Text(entry.keys.subject),
        SortKey::From => Value::Text(entry.keys.from),
        SortKey::To => Value::Text(entry.keys.to),
        SortKey::Cc => Value::Text(entry.keys.cc),
        SortKey::DisplayFrom => Value::Text(entry.keys.display_from),
        SortKey::DisplayTo => Value::Text(entry.keys.display_to),
    }
}

/// The sort keys of the messages at `found` (and others): the mailbox's
/// sort-key file, with the entries it lacks made from the summaries (or
/// the messages) and added to it, then compacted if expunges left it
/// mostly garbage.
pub fn sort_keys_of(mailbox: &Mailbox, found: &[usize]) -> SortKeys {
    let records = mailbox.records();
    let mut keys = mailbox.sort_keys();
    let mut facts: Option<SortFacts> = None;
    let mut made = Vec::new();
    for &position in found {
        let record = &records[position];
        if keys.contains(record.uid) {
            continue;
        }
        let facts = facts.get_or_insert_with(|| SortFacts::new(mailbox));
        made.push((record.uid, facts.visit(record, encode_entry)));
    }
    keys.add(mailbox.dir(), made);
    let _ = keys.compact(mailbox.dir(), records.iter().map(|r| r.uid));
    keys
}

/// How a sort-key entry the file lacks is made: from the message's
/// [`SortView`] and sent date in the summary cache; for a blob written
/// before they were kept, from the message's header.
pub struct SortFacts<'m> {
    mailbox: &'m Mailbox,
    reader: CacheReader,
}

impl<'m> SortFacts<'m> {
    pub fn new(mailbox: &'m Mailbox) -> SortFacts<'m> {
        SortFacts {
            mailbox,
            reader: mailbox.cache_reader(),
        }
    }

    /// Calls `f` with the record's sort fields and its sent date (rfc5256
    /// 2.2: the Date: header in UTC, or the INTERNALDATE when the header
    /// is missing or cannot be parsed), in seconds since the epoch.
    pub fn visit<R>(
        &mut self,
        record: &MessageRecord,
        f: impl FnOnce(&SortView<'_>, i64) -> R,
    ) -> R {
        let summary = self.reader.summary(record);
        let sent = |field: SentField, raw: Option<&[u8]>| match field {
            SentField::Date(d) => d.timestamp,
            SentField::Missing => record.internal_date,
            SentField::Unknown => raw
                .and_then(sent_date_of)
                .map_or(record.internal_date, |d| d.timestamp),
        };
        if let Some(view) = summary.sort
            && summary.sent_date != SentField::Unknown
        {
            return f(&view, sent(summary.sent_date, None));
        }
        let field = summary.sent_date;
        let raw = self.mailbox.read_message(record).unwrap_or_default();
        let header = &raw[..crate::mime::part::find_header_end(&raw)];
        let fields = SortFields::of(header);
        let references = fields.references.join("\n");
        let view = SortView::of(&fields, &references);
        f(&view, sent(field, Some(&raw)))
    }
}

#[cfg(test)]
mod tests;
