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
use crate::store::sort_keys::{Entry, FORMAT as SORT_KEY_FORMAT, Field, SortKeys, encode_entry};
use crate::store::sort_order::{Order, file_name};
use crate::store::{Mailbox, MessageRecord};
use crate::wire::parser::{Parser, SyntaxError};
use std::cmp::Ordering;

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

/// One message's value under one sort key, borrowed from the sort-key
/// file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Number(i64),
    /// The i;unicode-casemap mapped form, whose octet order is the
    /// comparator's order (rfc5051 2), after its first eight octets as a
    /// big-endian number: most comparisons end there.
    Text(u64, &'a str),
}

impl Ord for Value<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => a.cmp(b),
            (Value::Text(ha, a), Value::Text(hb, b)) => {
                ha.cmp(hb).then_with(|| octets(a.as_bytes(), b.as_bytes()))
            }
            (Value::Number(_), Value::Text(..)) => Ordering::Less,
            (Value::Text(..), Value::Number(_)) => Ordering::Greater,
        }
    }
}

impl PartialOrd for Value<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `a.cmp(b)`, eight octets at a time: WebAssembly has no vector memcmp,
/// and strings that share their first eight octets (a thread's base
/// subject, one sender's address) are often equal to the end.
fn octets(a: &[u8], b: &[u8]) -> Ordering {
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        let (x, y) = (
            u64::from_be_bytes(x.try_into().unwrap_or_default()),
            u64::from_be_bytes(y.try_into().unwrap_or_default()),
        );
        if x != y {
            return x.cmp(&y);
        }
    }
    // The shorter rest is under eight octets: compare the next eight of
    // each, zero-padded; if those tie, the shorter is a prefix of the
    // longer (or they are equal) and comes first.
    let done = a.len().min(b.len()) / 8 * 8;
    let (ra, rb) = (&a[done..], &b[done..]);
    head(ra).cmp(&head(rb)).then(ra.len().cmp(&rb.len()))
}

/// The first eight octets of `s` as a big-endian number, zero-padded.
fn head(s: &[u8]) -> u64 {
    let mut h = [0u8; 8];
    let n = s.len().min(8);
    h[..n].copy_from_slice(&s[..n]);
    u64::from_be_bytes(h)
}

fn text(s: &str) -> Value<'_> {
    Value::Text(head(s.as_bytes()), s)
}

impl SortKey {
    /// The order file kept for this key ([`Order`]) and the key's number
    /// in it: the keys read from the sort-key file. (ARRIVAL and SIZE
    /// are in the records, in memory already.)
    fn order_file(self) -> Option<(&'static str, u8)> {
        Some(match self {
            SortKey::Date => ("date", 1),
            SortKey::Subject => ("subject", 2),
            SortKey::From => ("from", 3),
            SortKey::To => ("to", 4),
            SortKey::Cc => ("cc", 5),
            SortKey::DisplayFrom => ("displayfrom", 6),
            SortKey::DisplayTo => ("displayto", 7),
            SortKey::Arrival | SortKey::Size => return None,
        })
    }
}

/// `found` (positions) in the order of `criteria`, ties by position.
pub fn sort_positions(mailbox: &Mailbox, found: &[usize], criteria: &[Criterion]) -> Vec<usize> {
    // One key, as most clients ask, that the sort-key file holds: the
    // mailbox's order file for it, made now if it is missing or older
    // than the newest message.
    if let [c] = criteria
        && let Some(file) = c.key.order_file()
    {
        return by_order_file(mailbox, found, *c, file);
    }
    sort_by_keys(mailbox, found, criteria)
}

/// `found` in the order of the one key `c`, from the order file
/// (`store::sort_order`).
fn by_order_file(
    mailbox: &Mailbox,
    found: &[usize],
    c: Criterion,
    (name, number): (&str, u8),
) -> Vec<usize> {
    let records = mailbox.records();
    let (dir, name) = (mailbox.dir(), file_name(name));
    let uidvalidity = mailbox.uid_validity();
    let newest = records.last().map_or(0, |r| r.uid);
    let uids: Vec<u32> = found.iter().map(|&p| records[p].uid).collect();
    let pick = |uid: u32| uids.binary_search(&uid).ok().map(|i| found[i]);
    let kept = Order::load(dir, &name, SORT_KEY_FORMAT, number, uidvalidity)
        // Newer messages, or mostly expunged ones: made again.
        .filter(|o| o.covers >= newest && o.uids.len() <= 2 * records.len() + 64)
        .map(|o| o.select(pick))
        // Every message found is in it (a UID at or below `covers` that is
        // not would be a file from elsewhere).
        .filter(|chosen| chosen.len() == found.len());
    let chosen = kept.unwrap_or_else(|| {
        let order = order_of(mailbox, c.key);
        let _ = order.save(dir, &name, SORT_KEY_FORMAT, number, uidvalidity);
        order.select(pick)
    });
    if !c.reverse {
        return chosen.into_iter().map(|c| c.item).collect();
    }
    // REVERSE reverses the groups of equal values; within one, ties stay
    // by sequence number (rfc5256 3).
    let mut out = Vec::with_capacity(chosen.len());
    let mut end = chosen.len();
    while end > 0 {
        let mut start = end - 1;
        while start > 0 && chosen[start].tie {
            start -= 1;
        }
        out.extend(chosen[start..end].iter().map(|c| c.item));
        end = start;
    }
    out
}

/// Every message of `mailbox` in the order of `key`, ties by UID.
fn order_of(mailbox: &Mailbox, key: SortKey) -> Order {
    let records = mailbox.records();
    let all: Vec<usize> = (0..records.len()).collect();
    let keys = sort_keys_of(mailbox, &all);
    let uids: Vec<u32> = records.iter().map(|r| r.uid).collect();
    let entries = keys.entries(&uids);
    let mut rows: Vec<(Value<'_>, u32)> = records
        .iter()
        .zip(&entries)
        .map(|(r, &entry)| (value(key, r, entry), r.uid))
        .collect();
    rows.sort_unstable();
    Order {
        covers: uids.last().copied().unwrap_or(0),
        ties: (0..rows.len())
            .map(|i| i > 0 && rows[i].0 == rows[i - 1].0)
            .collect(),
        uids: rows.into_iter().map(|(_, uid)| uid).collect(),
    }
}

/// `found` in the order of `criteria`, from the messages' sort keys.
fn sort_by_keys(mailbox: &Mailbox, found: &[usize], criteria: &[Criterion]) -> Vec<usize> {
    let records = mailbox.records();
    let keys = sort_keys_of(mailbox, found);
    let uids: Vec<u32> = found.iter().map(|&p| records[p].uid).collect();
    let entries = keys.entries(&uids);
    // One key, as most clients ask: (value, position) pairs.
    if let [c] = criteria {
        let mut rows: Vec<(Value<'_>, usize)> = found
            .iter()
            .zip(&entries)
            .map(|(&p, &entry)| (value(c.key, &records[p], entry), p))
            .collect();
        if c.reverse {
            rows.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        } else {
            rows.sort_unstable();
        }
        return rows.into_iter().map(|(_, p)| p).collect();
    }
    // Every row's values side by side in one vector: row i's are
    // `values[i * k..(i + 1) * k]`.
    let k = criteria.len();
    let mut values = Vec::with_capacity(found.len() * k);
    for (&position, &entry) in found.iter().zip(&entries) {
        let record = &records[position];
        values.extend(criteria.iter().map(|c| value(c.key, record, entry)));
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

/// A message's value under `key`; a message without an entry sorts as
/// one with every field absent (rfc5256 3: the empty string).
fn value<'a>(key: SortKey, record: &MessageRecord, entry: Option<Entry<'a>>) -> Value<'a> {
    let field = |f: Field| text(entry.and_then(|e| e.field(f)).unwrap_or(""));
    match key {
        // rfc5256 3: the internal date and time, not just the date.
        SortKey::Arrival => Value::Number(record.internal_date),
        SortKey::Size => Value::Number(record.size as i64),
        SortKey::Date => Value::Number(entry.and_then(Entry::sent).unwrap_or_default()),
        SortKey::Subject => field(Field::Subject),
        SortKey::From => field(Field::From),
        SortKey::To => field(Field::To),
        SortKey::Cc => field(Field::Cc),
        SortKey::DisplayFrom => field(Field::DisplayFrom),
        SortKey::DisplayTo => field(Field::DisplayTo),
    }
}

/// The sort keys of the messages at `found` (and others): the mailbox's
/// sort-key file, with the entries it lacks made from the summaries (or
/// the messages) and added to it, then compacted if expunges left it
/// mostly garbage.
pub fn sort_keys_of(mailbox: &Mailbox, found: &[usize]) -> SortKeys {
    let records = mailbox.records();
    let mut keys = mailbox.sort_keys();
    let missing = keys.missing(found.iter().map(|&p| records[p].uid));
    let mut made = Vec::new();
    if !missing.is_empty() {
        let mut facts = SortFacts::new(mailbox);
        let mut missing = missing.iter().peekable();
        for &position in found {
            let record = &records[position];
            if missing.next_if_eq(&&record.uid).is_some() {
                made.push((record.uid, facts.visit(record, encode_entry)));
            }
        }
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
