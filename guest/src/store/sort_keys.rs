//! The per-mailbox sort-key file, `imapd.sort`: per message just what
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
//! the cache's blob framing ([`super::cache::append_blobs`]): not
//! fsync'd, checked (length, CRC, UID) when read, rebuilt when wrong, so
//! removing it loses nothing.
//!
//! Entry payload: a version byte (1), the sent date (i64 LE, seconds),
//! the reply flag of rfc5256 2.1 (u8), then `[len u32 LE][UTF-8]` for the
//! mapped base subject, From, To, Cc, DISPLAYFROM, DISPLAYTO, the
//! Message-ID and the references (one a line).

use std::io;
use std::path::Path;

use super::cache::{MAGIC, SentField, SortView, SummaryView, append_blobs, blobs};
use super::index::unique_token;
use crate::mime::collation::casemap;
use crate::mime::sort_fields::base_subject;

pub const SORT_FILE: &str = "imapd.sort";
const VERSION: u8 = 1;

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

/// The sort-key file of one mailbox, read whole and decoded once, with
/// the entries a command added. A SORT looks up every message: lookups
/// are a binary search and hand out slices of text validated at load, so
/// no entry is parsed or UTF-8-checked twice.
#[derive(Debug, Default)]
pub struct SortKeys {
    /// The payloads (the file's and the added ones), for rewriting.
    bytes: Vec<u8>,
    /// Every field of every entry, validated, one after another.
    text: String,
    /// One per entry read or added, in that order.
    decoded: Vec<Decoded>,
    /// (UID, index into `decoded`) by UID; the last intact entry of a UID
    /// wins.
    by_uid: Vec<(u32, usize)>,
    /// Entries in the file (live or not), for compaction.
    in_file: usize,
    /// The file ends in a torn entry: what is appended after it could not
    /// be found, so the file is rewritten instead.
    torn: bool,
}

/// One entry: its numbers, and where its fields are in `text`.
#[derive(Debug, Clone, Copy)]
struct Decoded {
    sent: i64,
    reply: bool,
    /// The eight fields of [`SortView`] in order, as `text` ranges.
    fields: [(u32, u32); 8],
    /// Its payload in `bytes`.
    payload: (usize, usize),
}

impl SortKeys {
    /// Reads `dir`'s sort-key file; a missing or unreadable one is empty.
    pub fn load(dir: &Path) -> SortKeys {
        let bytes = std::fs::read(dir.join(SORT_FILE)).unwrap_or_default();
        let mut keys = SortKeys {
            text: String::with_capacity(bytes.len()),
            ..SortKeys::default()
        };
        let mut walked = if bytes.starts_with(MAGIC) {
            MAGIC.len()
        } else {
            0
        };
        for (uid, range, intact) in blobs(&bytes) {
            walked = range.end;
            if intact && keys.push(uid, &bytes[range.clone()], (range.start, range.end)) {
                keys.in_file += 1;
            }
        }
        keys.torn = walked < bytes.len();
        keys.bytes = bytes;
        keys.index();
        keys
    }

    /// Decodes one payload (at `payload` in `bytes`) into `text` and
    /// `decoded`; false if it is not an entry.
    fn push(&mut self, uid: u32, b: &[u8], payload: (usize, usize)) -> bool {
        let Some(entry) = SortEntry::decode(b) else {
            return false;
        };
        let k = entry.keys;
        let mut fields = [(0u32, 0u32); 8];
        let all = [
            k.subject,
            k.from,
            k.to,
            k.cc,
            k.display_from,
            k.display_to,
            k.message_id,
            k.references,
        ];
        for (slot, field) in fields.iter_mut().zip(all) {
            let start = self.text.len();
            self.text.push_str(field);
            *slot = (start as u32, self.text.len() as u32);
        }
        self.decoded.push(Decoded {
            sent: entry.sent,
            reply: entry.reply,
            fields,
            payload,
        });
        self.by_uid.push((uid, self.decoded.len() - 1));
        true
    }

    /// Sorts `by_uid`, keeping the latest entry of each UID.
    fn index(&mut self) {
        // Stable: for one UID the entries stay in the order read.
        self.by_uid.sort_by_key(|&(uid, _)| uid);
        let mut out: Vec<(u32, usize)> = Vec::with_capacity(self.by_uid.len());
        for &(uid, i) in &self.by_uid {
            match out.last_mut() {
                Some(last) if last.0 == uid => last.1 = i,
                _ => out.push((uid, i)),
            }
        }
        self.by_uid = out;
    }

    fn slot(&self, uid: u32) -> Option<&Decoded> {
        let i = self.by_uid.binary_search_by_key(&uid, |&(u, _)| u).ok()?;
        self.decoded.get(self.by_uid[i].1)
    }

    pub fn get(&self, uid: u32) -> Option<SortEntry<'_>> {
        let d = self.slot(uid)?;
        let f = |i: usize| {
            let (a, b) = d.fields[i];
            &self.text[a as usize..b as usize]
        };
        Some(SortEntry {
            sent: d.sent,
            reply: d.reply,
            keys: SortView {
                subject: f(0),
                from: f(1),
                to: f(2),
                cc: f(3),
                display_from: f(4),
                display_to: f(5),
                message_id: f(6),
                references: f(7),
            },
        })
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.slot(uid).is_some()
    }

    fn payload(&self, uid: u32) -> Option<&[u8]> {
        let (a, b) = self.slot(uid)?.payload;
        self.bytes.get(a..b)
    }

    /// Adds entries made by this command (`(uid, payload)`), in memory and
    /// at the end of the file (best effort: a read-only mailbox simply
    /// makes them again next time).
    pub fn add(&mut self, dir: &Path, made: Vec<(u32, Vec<u8>)>) {
        if made.is_empty() {
            return;
        }
        let blobs: Vec<(u32, &[u8])> = made.iter().map(|(u, p)| (*u, &p[..])).collect();
        if !self.torn && append_blobs(dir, SORT_FILE, &blobs).is_ok() {
            self.in_file += made.len();
        }
        for (uid, payload) in made {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(&payload);
            self.push(uid, &payload, (start, self.bytes.len()));
        }
        self.index();
        if self.torn {
            let uids: Vec<u32> = self.by_uid.iter().map(|&(u, _)| u).collect();
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
        let live: Vec<u32> = live.filter(|&u| self.contains(u)).collect();
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
        let written = append_blobs(dir, &tmp, &blobs);
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
    /// (`golden/sort1.sort`: entries for UIDs 1 and 7, then a torn
    /// entry): later versions must read it, or rebuild what they cannot.
    #[test]
    fn golden_v1_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SORT_FILE),
            include_bytes!("golden/sort1.sort"),
        )
        .unwrap();
        let keys = SortKeys::load(dir.path());
        let one = keys.get(1).unwrap();
        assert_eq!(
            (one.sent, one.reply, one.keys.subject, one.keys.from),
            (1_577_872_800, true, "BANANA", "ZED@X.ORG")
        );
        let seven = keys.get(7).unwrap();
        assert_eq!(
            (seven.sent, seven.keys.subject, seven.keys.message_id),
            (-5, "", "<7@x>")
        );
        assert!(!keys.contains(8));
    }

    /// Writes `golden/sort1.sort` (run once, by hand, when the format
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
        let out = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/golden/sort1.sort");
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
