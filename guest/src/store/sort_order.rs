//! A mailbox's messages in SORT order, one file per sort key
//! (`imapd.order.<key>`): the UIDs in the order of one key's values (ties
//! by UID, which is rfc5256 3's tie by sequence number), with a bit per
//! UID saying it ties with the one before (REVERSE reverses the groups,
//! not the ties). A SORT by one key over a mailbox whose messages are all
//! in the file reads this file (4 octets a message) instead of every
//! message's sort keys, and sorts nothing.
//!
//! Derived data like the sort-key file it is made from: written (without
//! fsync) by a SORT that had to sort, checked (xxh64, UIDVALIDITY, the
//! sort-key format) when read, and ignored when wrong, so removing it
//! loses nothing. A message's keys never change (a message is never
//! rewritten, a UID never reused under one UIDVALIDITY), so the file stays
//! right as messages go: their UIDs are skipped, and the tie bits of those
//! around them combine ([`Order::select`]). A message newer than the file
//! (its UID above [`Order::covers`]) makes the SORT sort again and write
//! the file anew.
//!
//! Layout, little-endian: the magic, the sort-key format version, the key,
//! UIDVALIDITY, `covers`, the count `n`, `n` UIDs, `ceil(n / 8)` octets of
//! tie bits (bit `i % 8` of octet `i / 8`), then the xxh64 (seed 0) of
//! everything before it.

use std::io;
use std::path::Path;

use super::index::unique_token;

const MAGIC: &[u8; 8] = b"IMAPDSO1";
const HEADER: usize = 8 + 1 + 1 + 4 + 4 + 4;

/// The file of the sort key named `key` (`subject`, `date`, ...).
pub fn file_name(key: &str) -> String {
    format!("imapd.order.{key}")
}

/// The messages of a mailbox in one key's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Every message with a UID up to this one was in the mailbox's
    /// records when the order was made, or had been expunged.
    pub covers: u32,
    /// UIDs in order.
    pub uids: Vec<u32>,
    /// `ties[i]`: `uids[i]` sorts equal to `uids[i - 1]`.
    pub ties: Vec<bool>,
}

/// One message chosen by [`Order::select`]: what it maps to, and whether
/// it ties with the chosen one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen<T> {
    pub item: T,
    pub tie: bool,
}

impl Order {
    /// Those of the ordered messages that `pick` maps to something, in
    /// order; one tied to the chosen one before it when every message
    /// between them (skipped or not) tied with its predecessor.
    pub fn select<T>(&self, mut pick: impl FnMut(u32) -> Option<T>) -> Vec<Chosen<T>> {
        let mut out = Vec::new();
        let mut tie = false;
        for (i, &uid) in self.uids.iter().enumerate() {
            let t = self.ties.get(i).copied().unwrap_or(false);
            // Every message since the last one chosen tied with the one
            // before it.
            tie = !out.is_empty() && tie && t;
            if let Some(item) = pick(uid) {
                out.push(Chosen { item, tie });
                tie = true;
            }
        }
        out
    }

    fn encode(&self, format: u8, key: u8, uidvalidity: u32) -> Vec<u8> {
        let n = self.uids.len();
        let mut out = Vec::with_capacity(HEADER + 4 * n + n.div_ceil(8) + 8);
        out.extend_from_slice(MAGIC);
        out.push(format);
        out.push(key);
        out.extend_from_slice(&uidvalidity.to_le_bytes());
        out.extend_from_slice(&self.covers.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for uid in &self.uids {
            out.extend_from_slice(&uid.to_le_bytes());
        }
        let mut bits = vec![0u8; n.div_ceil(8)];
        for (i, &t) in self.ties.iter().enumerate() {
            if t {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&bits);
        let check = xxhash_rust::xxh64::xxh64(&out, 0);
        out.extend_from_slice(&check.to_le_bytes());
        out
    }

    fn decode(b: &[u8], format: u8, key: u8, uidvalidity: u32) -> Option<Order> {
        let (body, check) = b.split_at_checked(b.len().checked_sub(8)?)?;
        if xxhash_rust::xxh64::xxh64(body, 0).to_le_bytes() != check {
            return None;
        }
        let word = |i: usize| Some(u32::from_le_bytes(body.get(i..i + 4)?.try_into().ok()?));
        if !body.starts_with(MAGIC)
            || body.get(8) != Some(&format)
            || body.get(9) != Some(&key)
            || word(10)? != uidvalidity
        {
            return None;
        }
        let covers = word(14)?;
        let n = word(18)? as usize;
        let bits_at = HEADER.checked_add(n.checked_mul(4)?)?;
        if body.len() != bits_at.checked_add(n.div_ceil(8))? {
            return None;
        }
        let uids = body[HEADER..bits_at]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let bits = &body[bits_at..];
        let ties = (0..n).map(|i| bits[i / 8] & (1 << (i % 8)) != 0).collect();
        Some(Order { covers, uids, ties })
    }

    /// Reads `dir`'s order file for `key` (`name` its file name): `None`
    /// when it is missing, damaged, of another sort-key format or another
    /// UIDVALIDITY.
    pub fn load(dir: &Path, name: &str, format: u8, key: u8, uidvalidity: u32) -> Option<Order> {
        let b = std::fs::read(dir.join(name)).ok()?;
        Order::decode(&b, format, key, uidvalidity)
    }

    /// Replaces `dir`'s order file (temporary file, then rename; best
    /// effort: a read-only mailbox sorts again next time).
    pub fn save(
        &self,
        dir: &Path,
        name: &str,
        format: u8,
        key: u8,
        uidvalidity: u32,
    ) -> io::Result<()> {
        let tmp = dir.join(format!("{name}.{}.tmp", unique_token()));
        let written = std::fs::write(&tmp, self.encode(format, key, uidvalidity));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, dir.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Order {
        // Values: 5:a 2:b 3:b 9:b 1:c 4:c
        Order {
            covers: 9,
            uids: vec![5, 2, 3, 9, 1, 4],
            ties: vec![false, false, true, true, false, true],
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let o = order();
        o.save(dir.path(), "o", 1, 2, 77).unwrap();
        assert_eq!(Order::load(dir.path(), "o", 1, 2, 77), Some(o.clone()));
        // Another format, key or UIDVALIDITY: not this order.
        assert_eq!(Order::load(dir.path(), "o", 2, 2, 77), None);
        assert_eq!(Order::load(dir.path(), "o", 1, 3, 77), None);
        assert_eq!(Order::load(dir.path(), "o", 1, 2, 78), None);
        let b = std::fs::read(dir.path().join("o")).unwrap();
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x10;
            std::fs::write(dir.path().join("o"), &d).unwrap();
            assert_eq!(Order::load(dir.path(), "o", 1, 2, 77), None, "octet {i}");
        }
        for cut in 0..b.len() {
            std::fs::write(dir.path().join("o"), &b[..cut]).unwrap();
            assert_eq!(Order::load(dir.path(), "o", 1, 2, 77), None, "cut at {cut}");
        }
        let empty = Order {
            covers: 0,
            uids: vec![],
            ties: vec![],
        };
        empty.save(dir.path(), "o", 1, 2, 77).unwrap();
        assert_eq!(Order::load(dir.path(), "o", 1, 2, 77), Some(empty));
    }

    #[test]
    fn select_combines_the_ties_of_skipped_messages() {
        let o = order();
        let chosen = |keep: &[u32]| -> Vec<(u32, bool)> {
            o.select(|u| keep.contains(&u).then_some(u))
                .into_iter()
                .map(|c| (c.item, c.tie))
                .collect()
        };
        assert_eq!(
            chosen(&[1, 2, 3, 4, 5, 9]),
            [
                (5, false),
                (2, false),
                (3, true),
                (9, true),
                (1, false),
                (4, true)
            ]
        );
        // 3 gone: 9 still ties with 2.
        assert_eq!(chosen(&[2, 9]), [(2, false), (9, true)]);
        // 2 and 3 gone: 9 is the first of its group here.
        assert_eq!(chosen(&[5, 9, 4]), [(5, false), (9, false), (4, false)]);
        // 1 gone (first of its group): 4 does not tie with 9.
        assert_eq!(chosen(&[9, 4]), [(9, false), (4, false)]);
        assert_eq!(chosen(&[]), []);
    }
}
