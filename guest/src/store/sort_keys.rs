//! The per-mailbox sort-key file, `imapd.sortkeys`: per message just what
//! SORT (rfc5256 3, rfc5957) and THREAD (rfc5256 2) compare, already
//! reduced: the sent date resolved (rfc5256 2.2), the base subject
//! (rfc5256 2.1) and the addresses through the i;unicode-casemap
//! comparator's mapping (rfc5051), the Message-ID and references. A SORT
//! reads this one small file instead of every message's summary blob and
//! maps no strings.
//!
//! Entries are written when messages are cached ([`encode_entry`]) and,
//! for messages cached before this file existed (or whose entry is torn
//! or gone), made from the summary by the first SORT or THREAD that needs
//! them and appended then. Like the summary cache it is derived data, in
//! the cache's blob framing ([`super::cache::append_framed`]) but with
//! its own magic and an xxh64 checksum instead of CRC-32 (every SORT checks
//! the whole file, and CRC-32 has no fast path in WebAssembly: it was a
//! quarter of a SORT by date over 10,000 messages; xxh3 needs 128-bit
//! products, a library call there): not fsync'd, checked
//! (length, checksum, UID) when read, rebuilt when wrong, so removing it
//! loses nothing.
//!
//! The first version of this file, `imapd.sort` (CRC-32), is no longer
//! read: its entries are made again from the summaries by the first SORT
//! or THREAD, which removes it. (A guest of that version, swapped back in,
//! rebuilds its own the same way.)
//!
//! Entry payload: a version byte (1), the sent date (i64 LE, seconds),
//! the reply flag of rfc5256 2.1 (u8), then `[len u32 LE][UTF-8]` for the
//! mapped base subject, From, To, Cc, DISPLAYFROM, DISPLAYTO, the
//! Message-ID and the references (one a line).

use std::io;
use std::path::Path;

use super::cache::{Framing, SentField, SortView, SummaryView, append_framed, blobs_framed};
use super::index::unique_token;
use crate::mime::collation::casemap;
use crate::mime::sort_fields::base_subject;

pub const SORT_FILE: &str = "imapd.sortkeys";
/// The file of the first version, no longer read.
pub const LEGACY_SORT_FILE: &str = "imapd.sort";
const VERSION: u8 = 1;
/// The entries' format (what the files derived from them, `sort_order`,
/// were made from): the framing's version and the payload's.
pub const FORMAT: u8 = 2 * 16 + VERSION;

/// The file's framing: its magic, and the low half of each payload's
/// xxh64 (seed 0).
pub const FRAMING: Framing = Framing {
    magic: b"IMAPDSK2",
    check: |payload| xxhash_rust::xxh64::xxh64(payload, 0) as u32,
};

/// Appends entries to `dir`'s sort-key file (mailbox lock held).
pub fn append(dir: &Path, entries: &[(u32, &[u8])]) -> io::Result<()> {
    append_framed(dir, SORT_FILE, FRAMING, entries).map(drop)
}

/// One message's keys, borrowed from the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SortEntry<'a> {
    /// rfc5256 2.2: the Date: header in UTC, else the INTERNALDATE.
    pub sent: i64,
    /// rfc5256 2.1: the subject had reply or forward markers.
    pub reply: bool,
    /// The fields, `subject` being the base subject, and it and the
    /// addresses mapped (i;unicode-casemap); the ids as they are.
    pub keys: SortView<'a>,
}

impl<'a> SortEntry<'a> {
    fn decode(b: &'a [u8]) -> Option<SortEntry<'a>> {
        if *b.first()? != VERSION {
            return None;
        }
        Some(SortEntry {
            sent: i64::from_le_bytes(b.get(1..9)?.try_into().ok()?),
            reply: *b.get(9)? != 0,
            keys: SortView::decode(b.get(10..)?)?,
        })
    }
}

/// The entry payload for a message with sort fields `view` and sent date
/// `sent` (already resolved, rfc5256 2.2).
pub fn encode_entry(view: &SortView<'_>, sent: i64) -> Vec<u8> {
    let (base, reply) = base_subject(view.subject);
    let fields = [
        casemap(&base),
        casemap(view.from),
        casemap(view.to),
        casemap(view.cc),
        casemap(view.display_from),
        casemap(view.display_to),
    ];
    let mut out = Vec::with_capacity(
        10 + 8 * 4
            + fields.iter().map(String::len).sum::<usize>()
            + view.message_id.len()
            + view.references.len(),
    );
    out.push(VERSION);
    out.extend_from_slice(&sent.to_le_bytes());
    out.push(u8::from(reply));
    let strings = fields
        .iter()
        .map(String::as_str)
        .chain([view.message_id, view.references]);
    for field in strings {
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// The entry for a message from its stored summary, if the summary has
/// everything (blobs from before SORT, or with a sent date stored without
/// its zone, do not: the message itself is read then).
pub fn entry_of_summary(summary: &SummaryView<'_>, internal_date: i64) -> Option<Vec<u8>> {
    let view = summary.sort?;
    let sent = match summary.sent_date {
        SentField::Date(d) => d.timestamp,
        SentField::Missing => internal_date,
        SentField::Unknown => return None,
    };
    Some(encode_entry(&view, sent))
}

/// The sort-key file of one mailbox, read whole, with the entries a
/// command added. A SORT looks up every message for one or two keys:
/// lookups walk along the records ([`SortKeys::entries`]), and
/// [`Entry::field`] walks to just the field asked for and checks only its
/// UTF-8, so a SORT by date or by subject reads no other field.
#[derive(Debug, Default)]
pub struct SortKeys {
    /// The file's bytes, then the payloads added.
    bytes: Vec<u8>,
    /// (UID, payload start, payload end) by UID; the last intact entry of
    /// a UID wins.
    by_uid: Vec<(u32, usize, usize)>,
    /// Entries in the file (live or not), for compaction.
    in_file: usize,
    /// The file ends in a torn entry: what is appended after it could not
    /// be found, so the file is rewritten instead.
    torn: bool,
}

/// One entry's payload, read a field at a time.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a>(&'a [u8]);

impl<'a> Entry<'a> {
    /// The sent date (rfc5256 2.2).
    pub fn sent(self) -> Option<i64> {
        Some(i64::from_le_bytes(self.0.get(1..9)?.try_into().ok()?))
    }

    /// One text field: walks to it and checks only its UTF-8.
    pub fn field(self, field: Field) -> Option<&'a str> {
        let b = self.0;
        let mut i = 10;
        for _ in 0..field as usize {
            let n = u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
            i += 4 + n;
        }
        let n = u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
        std::str::from_utf8(b.get(i + 4..(i + 4).checked_add(n)?)?).ok()
    }
}

/// One field of an entry, for [`Entry::field`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Subject = 0,
    From,
    To,
    Cc,
    DisplayFrom,
    DisplayTo,
}

/// Whether `b` is framed as an entry: the version, the numbers, and eight
/// length-prefixed fields that end where the payload ends. (Their UTF-8
/// is checked when a field is read.)
fn framed(b: &[u8]) -> bool {
    if b.first() != Some(&VERSION) || b.len() < 10 {
        return false;
    }
    let mut i = 10;
    for _ in 0..8 {
        let Some(n) = b.get(i..i + 4) else {
            return false;
        };
        let n = u32::from_le_bytes([n[0], n[1], n[2], n[3]]) as usize;
        match (i + 4).checked_add(n) {
            Some(end) if end <= b.len() => i = end,
            _ => return false,
        }
    }
    i == b.len()
}

impl SortKeys {
    /// Reads `dir`'s sort-key file; a missing or unreadable one is empty.
    pub fn load(dir: &Path) -> SortKeys {
        let bytes = std::fs::read(dir.join(SORT_FILE)).unwrap_or_default();
        let mut keys = SortKeys::default();
        let mut walked = if bytes.starts_with(FRAMING.magic) {
            FRAMING.magic.len()
        } else {
            0
        };
        for (uid, range, intact) in blobs_framed(&bytes, FRAMING) {
            walked = range.end;
            // Broken entries count too: a file mostly of them is compacted.
            keys.in_file += 1;
            if intact && framed(&bytes[range.clone()]) {
                keys.by_uid.push((uid, range.start, range.end));
            }
        }
        keys.torn = walked < bytes.len();
        keys.bytes = bytes;
        keys.index();
        keys
    }

    /// Sorts `by_uid`, keeping the latest entry of each UID.
    fn index(&mut self) {
        if self.by_uid.is_sorted_by(|a, b| a.0 < b.0) {
            return;
        }
        // Stable: for one UID the entries stay in the order read.
        self.by_uid.sort_by_key(|&(uid, ..)| uid);
        let mut out: Vec<(u32, usize, usize)> = Vec::with_capacity(self.by_uid.len());
        for &e in &self.by_uid {
            match out.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => out.push(e),
            }
        }
        self.by_uid = out;
    }

    fn payload(&self, uid: u32) -> Option<&[u8]> {
        let i = self.by_uid.binary_search_by_key(&uid, |&(u, ..)| u).ok()?;
        let (_, a, b) = self.by_uid[i];
        self.bytes.get(a..b)
    }

    /// The whole entry of `uid`; `None` also when a field is not UTF-8.
    pub fn get(&self, uid: u32) -> Option<SortEntry<'_>> {
        SortEntry::decode(self.payload(uid)?)
    }

    /// The entries of `uids`, in their order: one walk along both lists
    /// where `uids` ascend (a mailbox's records do), a search elsewhere.
    pub fn entries(&self, uids: &[u32]) -> Vec<Option<Entry<'_>>> {
        let mut out = Vec::with_capacity(uids.len());
        let (mut i, mut last) = (0, 0);
        for &uid in uids {
            let at = if uid >= last {
                while self.by_uid.get(i).is_some_and(|e| e.0 < uid) {
                    i += 1;
                }
                Some(i)
            } else {
                self.by_uid.binary_search_by_key(&uid, |&(u, ..)| u).ok()
            };
            last = uid;
            let entry = at
                .and_then(|j| self.by_uid.get(j))
                .filter(|e| e.0 == uid)
                .and_then(|&(_, a, b)| self.bytes.get(a..b));
            out.push(entry.map(Entry));
        }
        out
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.payload(uid).is_some()
    }

    /// Those of `uids` that have an entry ([`Self::entries`]).
    pub fn present(&self, uids: impl Iterator<Item = u32>) -> Vec<u32> {
        self.with_entry(uids, true)
    }

    /// Those of `uids` that have no entry ([`Self::entries`]).
    pub fn missing(&self, uids: impl Iterator<Item = u32>) -> Vec<u32> {
        self.with_entry(uids, false)
    }

    fn with_entry(&self, uids: impl Iterator<Item = u32>, has: bool) -> Vec<u32> {
        let uids: Vec<u32> = uids.collect();
        let entries = self.entries(&uids);
        uids.into_iter()
            .zip(entries)
            .filter(|(_, e)| e.is_some() == has)
            .map(|(u, _)| u)
            .collect()
    }

    /// Adds entries made by this command (`(uid, payload)`), in memory and
    /// at the end of the file (best effort: a read-only mailbox simply
    /// makes them again next time).
    pub fn add(&mut self, dir: &Path, made: Vec<(u32, Vec<u8>)>) {
        if made.is_empty() {
            return;
        }
        let blobs: Vec<(u32, &[u8])> = made.iter().map(|(u, p)| (*u, &p[..])).collect();
        if !self.torn && append(dir, &blobs).is_ok() {
            self.in_file += made.len();
        }
        // The first version's file, whose entries these replace.
        let _ = std::fs::remove_file(dir.join(LEGACY_SORT_FILE));
        for (uid, payload) in made {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(&payload);
            self.by_uid.push((uid, start, self.bytes.len()));
        }
        self.index();
        if self.torn {
            let uids: Vec<u32> = self.by_uid.iter().map(|&(u, ..)| u).collect();
            if self.rewrite(dir, &uids).is_ok() {
                self.torn = false;
                self.in_file = uids.len();
            }
        }
    }

    /// Rewrites the file with only the entries of `live` UIDs once more
    /// than half of it is entries of expunged messages (or duplicates),
    /// as the summary cache is compacted. Best effort; another session's
    /// entry appended meanwhile is made again when needed.
    pub fn compact(&self, dir: &Path, live: impl Iterator<Item = u32>) -> io::Result<()> {
        let live = self.present(live);
        if self.in_file < 64 || live.len().saturating_mul(2) >= self.in_file {
            return Ok(());
        }
        self.rewrite(dir, &live)
    }

    /// Replaces the file with the entries of `uids` (temporary file, then
    /// rename).
    fn rewrite(&self, dir: &Path, uids: &[u32]) -> io::Result<()> {
        let blobs: Vec<(u32, &[u8])> = uids
            .iter()
            .filter_map(|&u| Some((u, self.payload(u)?)))
            .collect();
        let tmp = format!("{SORT_FILE}.{}.tmp", unique_token());
        let written = append_framed(dir, &tmp, FRAMING, &blobs);
        if let Err(e) = written {
            let _ = std::fs::remove_file(dir.join(&tmp));
            return Err(e);
        }
        std::fs::rename(dir.join(&tmp), dir.join(SORT_FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cache::SortView;

    fn view<'a>(subject: &'a str, from: &'a str) -> SortView<'a> {
        SortView {
            subject,
            from,
            to: "to@x",
            cc: "",
            display_from: "Émile",
            display_to: "",
            message_id: "<1@x>",
            references: "<0@x>\n<00@x>",
        }
    }

    #[test]
    fn entries_hold_the_mapped_keys() {
        let payload = encode_entry(&view("Re: [list] Café", "ann@x.org"), 42);
        let entry = SortEntry::decode(&payload).unwrap();
        assert_eq!(entry.sent, 42);
        assert!(entry.reply);
        let keys = entry.keys;
        assert_eq!(keys.subject, casemap("Café"));
        assert_eq!(keys.from, "ANN@X.ORG");
        assert_eq!(keys.display_from, casemap("Émile"));
        assert_eq!(keys.message_id, "<1@x>");
        assert_eq!(keys.references().collect::<Vec<_>>(), ["<0@x>", "<00@x>"]);
        // Another version, or a short payload: not an entry.
        let mut other = payload.clone();
        other[0] = 2;
        assert!(SortEntry::decode(&other).is_none());
        assert!(SortEntry::decode(&payload[..payload.len() - 1]).is_none());
    }

    /// The format this version writes, kept as a golden file
    /// (`golden/sortkeys2.sort`: entries for UIDs 1 and 7, then a torn
    /// entry): later versions must read it, or rebuild what they cannot.
    #[test]
    fn golden_v2_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SORT_FILE),
            include_bytes!("golden/sortkeys2.sort"),
        )
        .unwrap();
        let keys = SortKeys::load(dir.path());
        let one = keys.get(1).unwrap();
        assert_eq!(
            (one.sent, one.reply, one.keys.subject, one.keys.from),
            (1_577_872_800, true, "BANANA", "ZED@X.ORG")
        );
        let entry = keys.entries(&[1])[0].unwrap();
        assert_eq!(entry.field(Field::From), Some("ZED@X.ORG"));
        assert_eq!(entry.sent(), Some(1_577_872_800));
        let seven = keys.get(7).unwrap();
        assert_eq!(
            (seven.sent, seven.keys.subject, seven.keys.message_id),
            (-5, "", "<7@x>")
        );
        assert!(!keys.contains(8));
        assert!(keys.torn);
    }

    /// The first version's file (`golden/sort1.sort`, CRC-32 framing) is
    /// not read: its entries are made again, and the first ones added
    /// remove it.
    #[test]
    fn golden_v1_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(LEGACY_SORT_FILE);
        std::fs::write(&legacy, include_bytes!("golden/sort1.sort")).unwrap();
        let mut keys = SortKeys::load(dir.path());
        assert!(!keys.contains(1) && !keys.contains(7));
        keys.add(
            dir.path(),
            vec![(1, encode_entry(&view("Re: Banana", "zed@x.org"), 3))],
        );
        assert!(!legacy.exists());
        assert_eq!(SortKeys::load(dir.path()).get(1).unwrap().sent, 3);
    }

    /// Writes `golden/sortkeys2.sort` (run once, by hand, when the format
    /// version changes: `cargo test -p guest write_golden -- --ignored`).
    #[test]
    #[ignore]
    fn write_golden() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = SortKeys::default();
        let seven = SortView {
            message_id: "<7@x>",
            ..SortView::default()
        };
        keys.add(
            dir.path(),
            vec![
                (
                    1,
                    encode_entry(&view("Re: Banana", "zed@x.org"), 1_577_872_800),
                ),
                (7, encode_entry(&seven, -5)),
            ],
        );
        let mut bytes = std::fs::read(dir.path().join(SORT_FILE)).unwrap();
        let torn = encode_entry(&seven, 8);
        bytes.extend_from_slice(&(torn.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&8u32.to_le_bytes());
        bytes.extend_from_slice(&torn[..5]);
        let out = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/store/golden/sortkeys2.sort"
        );
        std::fs::write(out, bytes).unwrap();
    }

    /// Entries of expunged messages are dropped once they are most of
    /// the file; the live ones stay.
    #[test]
    fn compaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = SortKeys::default();
        let made = (1..=100)
            .map(|u| (u, encode_entry(&view("s", "f"), i64::from(u))))
            .collect();
        keys.add(dir.path(), made);
        let size = |d: &Path| std::fs::metadata(d.join(SORT_FILE)).unwrap().len();
        let before = size(dir.path());
        // Half live: left as it is.
        keys.compact(dir.path(), 1..=50).unwrap();
        assert_eq!(size(dir.path()), before);
        keys.compact(dir.path(), [3, 99].into_iter()).unwrap();
        assert!(size(dir.path()) < before / 10);
        let after = SortKeys::load(dir.path());
        assert_eq!(after.get(99).unwrap().sent, 99);
        assert_eq!(after.get(3).unwrap().sent, 3);
        assert!(!after.contains(4));
    }
}
