//! QRESYNC (rfc7162 3.2): the UIDs that vanished since a client's MODSEQ,
//! for `VANISHED (EARLIER)` in SELECT/EXAMINE (QRESYNC ...) and in
//! UID FETCH (CHANGEDSINCE n VANISHED), and the `QRESYNC` parameter of
//! SELECT/EXAMINE.
//!
//! ```text
//! select-param  =/ "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
//!                  [SP known-uids] [SP seq-match-data] ")"   ; rfc7162 7
//! seq-match-data = "(" known-sequence-set SP known-uid-set ")"
//! ```

use crate::store::Mailbox;
use crate::wire::parser::{Parser, SyntaxError};
use crate::wire::types::{SeqNumber, SeqRange, SequenceSet};

/// Inclusive UID ranges, ascending and disjoint.
pub type UidRanges = Vec<(u32, u32)>;

/// The UID ranges `set` names in a mailbox whose UIDs are below
/// `uid_next` (`*` is the highest UID: `uid_next - 1`), ascending and
/// merged. `$` names none here.
pub fn uid_ranges(set: &SequenceSet, uid_next: u32) -> UidRanges {
    let SequenceSet::Ranges(ranges) = set else {
        return Vec::new();
    };
    let largest = uid_next.saturating_sub(1);
    let value = |n: SeqNumber| match n {
        SeqNumber::Value(v) => v.get(),
        SeqNumber::Largest => largest,
    };
    let mut out: UidRanges = ranges
        .iter()
        .map(|&SeqRange { first, last }| {
            let (a, b) = (value(first), value(last));
            (a.min(b), a.max(b))
        })
        .collect();
    merge(&mut out);
    out
}

fn merge(ranges: &mut UidRanges) {
    ranges.sort_unstable();
    let mut merged: UidRanges = Vec::with_capacity(ranges.len());
    for &(a, b) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *ranges = merged;
}

/// The UIDs within `within` that vanished from `mailbox` after `modseq`
/// (rfc7162 3.2.5.1, 3.2.6). When the index no longer knows expunges that
/// old, every UID in `within` below UIDNEXT that the mailbox does not hold
/// is reported (rfc7162 5.1: more UIDs, never fewer).
pub fn vanished(mailbox: &Mailbox, modseq: u64, within: &[(u32, u32)]) -> UidRanges {
    let inside = |uid: u32| within.iter().any(|&(a, b)| a <= uid && uid <= b);
    match mailbox.vanished_since(modseq) {
        Some(uids) => {
            let mut out: UidRanges = uids
                .into_iter()
                .filter(|&u| inside(u) && mailbox.by_uid(u).is_none_or(|r| r.file.is_empty()))
                .map(|u| (u, u))
                .collect();
            merge(&mut out);
            out
        }
        None => {
            let top = mailbox.uid_next().saturating_sub(1);
            let present: Vec<u32> = mailbox
                .records()
                .iter()
                .filter(|r| !r.file.is_empty())
                .map(|r| r.uid)
                .collect();
            let mut out = Vec::new();
            for &(a, b) in within {
                let b = b.min(top);
                if a > b {
                    continue;
                }
                // The gaps between the present UIDs in a..=b.
                let mut next = a;
                let start = present.partition_point(|&u| u < a);
                for &u in present[start..].iter().take_while(|&&u| u <= b) {
                    if u > next {
                        out.push((next, u - 1));
                    }
                    next = u + 1;
                }
                if next <= b {
                    out.push((next, b));
                }
            }
            merge(&mut out);
            out
        }
    }
}

pub use crate::selected::format_ranges;

/// The QRESYNC parameter of SELECT/EXAMINE (rfc7162 3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParam {
    pub uidvalidity: u32,
    pub modseq: u64,
    /// The UIDs the client knows; `None`: all of them.
    pub known_uids: Option<SequenceSet>,
    /// Message numbers and the UIDs the client has for them.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// Parses `(uidvalidity SP modseq [SP known-uids] [SP seq-match-data])`,
/// the cursor just after `QRESYNC SP`.
pub fn parse_param(p: &mut Parser) -> Result<QresyncParam, SyntaxError> {
    let bad = SyntaxError::Invalid("Invalid QRESYNC parameter");
    if !p.eat(b'(') {
        return Err(bad);
    }
    let uidvalidity = p.nz_number().map_err(|_| bad)?.get();
    p.sp()?;
    let modseq = p.mod_sequence(false).map_err(|_| bad)?;
    let mut param = QresyncParam {
        uidvalidity,
        modseq,
        known_uids: None,
        seq_match: None,
    };
    if p.eat(b' ') {
        if p.peek() != Some(b'(') {
            param.known_uids = Some(p.sequence_set()?);
            if !p.eat(b' ') {
                return close(p, param);
            }
        }
        if !p.eat(b'(') {
            return Err(bad);
        }
        let seqs = p.sequence_set()?;
        p.sp()?;
        let uids = p.sequence_set()?;
        if !p.eat(b')') {
            return Err(bad);
        }
        param.seq_match = Some((seqs, uids));
    }
    close(p, param)
}

fn close(p: &mut Parser, param: QresyncParam) -> Result<QresyncParam, SyntaxError> {
    if p.eat(b')') {
        Ok(param)
    } else {
        Err(SyntaxError::Invalid("Invalid QRESYNC parameter"))
    }
}

/// The UIDs a QRESYNC client knows (rfc7162 3.2.5.1: `known-uids`, all
/// UIDs below UIDNEXT without it), narrowed by seq-match-data (3.2.5.2):
/// while the client's message numbers for its sample UIDs match the
/// mailbox's, it knows every expunge up to that UID, so the range starts
/// after the last pair that matched before the first that does not.
pub fn known_range(mailbox: &Mailbox, param: &QresyncParam, uid_next: u32) -> UidRanges {
    let mut known = match &param.known_uids {
        Some(set) => uid_ranges(set, uid_next),
        None => vec![(1, uid_next.saturating_sub(1).max(1))],
    };
    if let Some((seqs, uids)) = &param.seq_match {
        let seqs = expand(seqs, mailbox.exists());
        let uids = expand(uids, uid_next.saturating_sub(1));
        if seqs.len() == uids.len() {
            let mut matched_up_to = 0;
            for (&seq, &uid) in seqs.iter().zip(uids.iter()) {
                if mailbox.seq_of_uid(uid) != Some(seq) {
                    break;
                }
                matched_up_to = uid;
            }
            if matched_up_to > 0 {
                // Below it the client's view is right, so nothing vanished
                // there that it does not know; report above it.
                known.retain_mut(|r| {
                    r.0 = r.0.max(matched_up_to.saturating_add(1));
                    r.0 <= r.1
                });
            }
        }
    }
    known
}

/// The numbers of a set (at most a million: seq-match-data is a sample).
fn expand(set: &SequenceSet, largest: u32) -> Vec<u32> {
    let SequenceSet::Ranges(ranges) = set else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in ranges {
        let value = |n: SeqNumber| match n {
            SeqNumber::Value(v) => v.get(),
            SeqNumber::Largest => largest,
        };
        let (a, b) = (value(r.first), value(r.last));
        for n in a.min(b)..=a.max(b) {
            if out.len() >= 1 << 20 {
                return out;
            }
            out.push(n);
        }
    }
    out
}
