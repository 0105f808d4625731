//! Resolving a parsed `sequence-set` (rfc3501 9) against the selected
//! mailbox: which messages a FETCH, STORE, SEARCH, COPY or MOVE names.
//!
//! - Sequence numbers (rfc3501 6.4.5 etc.): `*` is EXISTS; a number above
//!   EXISTS, or 0, is an error: `BAD Invalid sequence`.
//! - `*` in an empty mailbox: rfc3501 9 defines `*` only for "a non-empty
//!   mailbox", but clients send `FETCH 1:* (FLAGS)` right after selecting
//!   an empty one, and Cyrus (index.c walks 1..exists, so nothing matches)
//!   and Dovecot both answer OK with no untagged responses. So in an empty
//!   mailbox a range that uses `*` (`*`, `1:*`, `*:5`) names no message;
//!   a plain number there is still out of range. The rule lives here, so
//!   FETCH, STORE, SEARCH, COPY and MOVE (and their UID forms) share it.
//! - UIDs (rfc3501 6.4.8): `*` is the highest UID in use; UIDs that name no
//!   message are ignored, so a set may resolve to nothing. `n:*` with n above
//!   every UID still names the highest message ("* is ... 4:* ... 3:4").
//! - Ranges may be written in either order (`5:2` is `2:5`).
//! - `$` (rfc5182 2.1): the result the last `SEARCH RETURN (SAVE)` saved,
//!   kept as UIDs (`Selected::saved_result`) and carried in the parsed set,
//!   so it names the same messages under FETCH and UID FETCH alike; a
//!   message expunged since is simply no longer found, and nothing saved
//!   (or an empty result) is a valid set naming no message, never an error.

use crate::store::MessageRecord;
use crate::wire::parser::SyntaxError;
use crate::wire::types::{SeqNumber, SequenceSet};

/// How the numbers in a set are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    Sequence,
    Uid,
}

/// A message command as replies name it (`Fetch`, `UID Fetch`), and what
/// rfc3501 7.4.1 allows while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCommand {
    plain: &'static str,
    with_uid: &'static str,
    pub numbering: Numbering,
}

impl MessageCommand {
    pub const fn new(plain: &'static str, with_uid: &'static str, numbering: Numbering) -> Self {
        MessageCommand {
            plain,
            with_uid,
            numbering,
        }
    }

    pub fn name(&self) -> &'static str {
        match self.numbering {
            Numbering::Sequence => self.plain,
            Numbering::Uid => self.with_uid,
        }
    }

    /// rfc3501 7.4.1: no EXPUNGE response while responding to FETCH, STORE
    /// or SEARCH (they use sequence numbers, and a pipelined command after
    /// them would see them shift); UID commands may have them. COPY is not
    /// in that list, but it names messages by sequence number too, so it
    /// is treated like them, as Cyrus does (imapd.c `cmd_copy`:
    /// `imapd_check(NULL, ismove || usinguid)`).
    pub fn allows_expunge(&self) -> bool {
        self.numbering == Numbering::Uid
    }
}

/// The error for a sequence number outside the mailbox.
pub const INVALID_SEQUENCE: SyntaxError = SyntaxError::Invalid("Invalid sequence");

/// The messages `set` names, as 0-based positions into `records` (which
/// are in sequence order, ascending UIDs), ascending and without repeats.
pub fn resolve(
    set: &SequenceSet,
    records: &[MessageRecord],
    numbering: Numbering,
) -> Result<Vec<usize>, SyntaxError> {
    let ranges = match set {
        SequenceSet::Saved(uids) => {
            // Both lists ascend: the positions come out ascending.
            return Ok(uids
                .iter()
                .filter_map(|&uid| records.binary_search_by_key(&uid, |r| r.uid).ok())
                .collect());
        }
        SequenceSet::Ranges(ranges) => ranges,
    };
    let largest = match numbering {
        Numbering::Sequence => records.len() as u32,
        Numbering::Uid => records.last().map_or(0, |r| r.uid),
    };
    let value = |n: SeqNumber| range_value(n, largest);
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for range in ranges {
        let uses_star = range.first == SeqNumber::Largest || range.last == SeqNumber::Largest;
        if numbering == Numbering::Sequence && records.is_empty() && uses_star {
            // See the module comment: `*` in an empty mailbox names nothing.
            continue;
        }
        let (a, b) = (value(range.first), value(range.last));
        let (low, high) = (a.min(b), a.max(b));
        if numbering == Numbering::Sequence && (low == 0 || high > largest) {
            return Err(INVALID_SEQUENCE);
        }
        spans.push((low, high));
    }
    spans.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(spans.len());
    for (low, high) in spans {
        match merged.last_mut() {
            Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
            _ => merged.push((low, high)),
        }
    }
    let mut out = Vec::new();
    match numbering {
        Numbering::Sequence => {
            for (low, high) in merged {
                out.extend((low as usize - 1)..(high as usize));
            }
        }
        Numbering::Uid => {
            for (low, high) in merged {
                let start = records.partition_point(|r| r.uid < low);
                out.extend(
                    records[start..]
                        .iter()
                        .take_while(|r| r.uid <= high)
                        .enumerate()
                        .map(|(i, _)| start + i),
                );
            }
        }
    }
    Ok(out)
}

/// A number of a range, `*` being `largest`.
fn range_value(n: SeqNumber, largest: u32) -> u32 {
    match n {
        SeqNumber::Value(v) => v.get(),
        SeqNumber::Largest => largest,
    }
}

/// Whether `set` names the message with UID `uid` whose number, as the
/// set counts (sequence number or UID), is `n`, `*` being `largest`. For
/// SEARCH keys: numbers that name no message simply match nothing (a key
/// is a filter, not a reference: rfc3501 6.4.4).
pub fn set_contains(set: &SequenceSet, uid: u32, n: u32, largest: u32) -> bool {
    match set {
        SequenceSet::Saved(uids) => uids.binary_search(&uid).is_ok(),
        SequenceSet::Ranges(ranges) => ranges.iter().any(|range| {
            let (a, b) = (
                range_value(range.first, largest),
                range_value(range.last, largest),
            );
            a.min(b) <= n && n <= a.max(b)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parser::Parser;

    fn records(uids: &[u32]) -> Vec<MessageRecord> {
        uids.iter()
            .map(|&uid| MessageRecord {
                uid,
                ..MessageRecord::default()
            })
            .collect()
    }

    fn set(s: &str) -> SequenceSet {
        Parser::new(s.as_bytes()).sequence_set().unwrap()
    }

    #[test]
    fn sequence_numbers() {
        let r = records(&[10, 20, 30, 40]);
        let seq = |s| resolve(&set(s), &r, Numbering::Sequence);
        assert_eq!(seq("1:*").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(seq("*").unwrap(), vec![3]);
        assert_eq!(seq("4:2").unwrap(), vec![1, 2, 3]);
        assert_eq!(seq("3,1,1:2").unwrap(), vec![0, 1, 2]);
        assert_eq!(seq("*:1").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(seq("5"), Err(INVALID_SEQUENCE));
        assert_eq!(seq("2:5"), Err(INVALID_SEQUENCE));
        assert_eq!(seq("$").unwrap(), Vec::<usize>::new());
    }

    /// rfc5182 2.1: `$` holds UIDs; it names the same messages whether the
    /// command counts sequence numbers or UIDs, and UIDs no longer there
    /// (expunged) name nothing.
    #[test]
    fn saved_result() {
        let r = records(&[10, 20, 30, 40]);
        let saved = SequenceSet::Saved(std::rc::Rc::from([5, 20, 40, 41]));
        for numbering in [Numbering::Sequence, Numbering::Uid] {
            assert_eq!(resolve(&saved, &r, numbering).unwrap(), vec![1, 3]);
        }
        let empty = SequenceSet::Saved(std::rc::Rc::from([]));
        assert_eq!(
            resolve(&empty, &r, Numbering::Sequence).unwrap(),
            Vec::<usize>::new()
        );
        assert!(set_contains(&saved, 20, 2, 4));
        assert!(!set_contains(&saved, 30, 3, 4));
        assert!(set_contains(&set("2:*"), 40, 4, 4));
        assert!(set_contains(&set("*:3"), 30, 3, 4));
        assert!(!set_contains(&set("1,3"), 20, 2, 4));
    }

    #[test]
    fn star_in_an_empty_mailbox_names_nothing() {
        let empty = |s| resolve(&set(s), &[], Numbering::Sequence);
        for s in ["1:*", "*", "*:1", "5:*", "1:*,*"] {
            assert_eq!(empty(s).unwrap(), Vec::<usize>::new(), "{s}");
        }
        // A plain number is still out of range, even beside a `*`.
        assert_eq!(empty("1"), Err(INVALID_SEQUENCE));
        assert_eq!(empty("1:*,2"), Err(INVALID_SEQUENCE));
    }

    #[test]
    fn uids() {
        let r = records(&[10, 20, 30, 40]);
        let uid = |s| resolve(&set(s), &r, Numbering::Uid).unwrap();
        assert_eq!(uid("1:*"), vec![0, 1, 2, 3]);
        assert_eq!(uid("20:30"), vec![1, 2]);
        assert_eq!(uid("35:15"), vec![1, 2]);
        assert_eq!(uid("11:19"), Vec::<usize>::new());
        // rfc3501 6.4.8: 100:* includes the highest UID.
        assert_eq!(uid("100:*"), vec![3]);
        assert_eq!(uid("99"), Vec::<usize>::new());
        assert_eq!(uid("4294967295"), Vec::<usize>::new());
        assert_eq!(uid("10,40,10:20"), vec![0, 1, 3]);
        assert_eq!(
            resolve(&set("1:*"), &[], Numbering::Uid).unwrap(),
            Vec::<usize>::new()
        );
    }
}
