//! APPEND's group commit: an APPEND stages its messages before it takes
//! the mailbox's lock (each file written and fsync'd in `tmp/.stage/`,
//! then an intent, `tmp/.stage/<token>.intent`, listing them with what
//! the commit needs: flags, keywords, dates, the summary and sort-key
//! entry already made). Whichever APPEND holds the lock commits every
//! intent it finds, its own and those of the sessions waiting behind it,
//! with one log write and one fsync of each; a waiting APPEND that gets
//! the lock and finds its intent gone looks its messages up in the log by
//! the token in their file names (`Mailbox::append_all`).
//!
//! An intent is written by a session of the same user and read by
//! another: it is checked (magic, lengths, xxh64) and one that does not
//! decode is left alone, and removed with the other leftovers of
//! `tmp/.stage/` once stale.
//!
//! Layout, little-endian: the magic, the message count, then per message
//! the staged file name, flags (u8), the keywords (count, then each),
//! INTERNALDATE (i64) and its zone (i16), the size (u64), text-is-raw
//! (u8), the summary, the sort-key entry and the decoded text (u8
//! present, then bytes); strings and bytes as `[u32 len][bytes]`; then
//! the xxh64 (seed 0) of everything before it.

use super::index::{Flags, MessageRecord};
use super::mailbox::NewMessage;

const MAGIC: &[u8; 8] = b"IMAPDST1";

/// The intent's bytes for `items` (their files already staged).
pub(super) fn encode(items: &[NewMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    let bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    let optional = |out: &mut Vec<u8>, b: Option<&[u8]>| match b {
        Some(b) => {
            out.push(1);
            bytes(out, b);
        }
        None => out.push(0),
    };
    for m in items {
        let r = &m.record;
        bytes(&mut out, r.file.as_bytes());
        out.push(r.flags.0);
        let keywords = r.keywords.as_slice();
        out.extend_from_slice(&(keywords.len() as u32).to_le_bytes());
        for k in keywords {
            bytes(&mut out, k.as_bytes());
        }
        out.extend_from_slice(&r.internal_date.to_le_bytes());
        out.extend_from_slice(&r.tz_offset_minutes.to_le_bytes());
        out.extend_from_slice(&r.size.to_le_bytes());
        out.push(u8::from(r.text_is_raw));
        bytes(&mut out, &m.summary);
        optional(&mut out, m.sort_key.as_deref());
        optional(&mut out, m.text.as_deref());
    }
    let check = xxhash_rust::xxh64::xxh64(&out, 0);
    out.extend_from_slice(&check.to_le_bytes());
    out
}

/// The messages of an intent; `None` when it does not check out.
pub(super) fn decode(b: &[u8]) -> Option<Vec<NewMessage>> {
    let (body, check) = b.split_at_checked(b.len().checked_sub(8)?)?;
    if xxhash_rust::xxh64::xxh64(body, 0).to_le_bytes() != check || !body.starts_with(MAGIC) {
        return None;
    }
    let mut d = Reader {
        b: body,
        i: MAGIC.len(),
    };
    let n = d.u32()? as usize;
    // Each message takes at least 40 octets: no allocation from a count
    // the file cannot hold.
    if n > body.len() / 40 {
        return None;
    }
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let file = String::from_utf8(d.bytes()?.to_vec()).ok()?;
        let flags = Flags(d.u8()?);
        let k = d.u32()? as usize;
        if k > body.len() / 4 {
            return None;
        }
        let mut keywords = Vec::with_capacity(k);
        for _ in 0..k {
            keywords.push(String::from_utf8(d.bytes()?.to_vec()).ok()?);
        }
        let internal_date = i64::from_le_bytes(d.take(8)?.try_into().ok()?);
        let tz_offset_minutes = i16::from_le_bytes(d.take(2)?.try_into().ok()?);
        let size = u64::from_le_bytes(d.take(8)?.try_into().ok()?);
        let text_is_raw = d.u8()? != 0;
        let summary = d.bytes()?.to_vec();
        let sort_key = d.optional()?;
        let text = d.optional()?;
        items.push(NewMessage {
            tag: None,
            record: MessageRecord {
                file: file.into(),
                flags,
                keywords: keywords.into(),
                internal_date,
                tz_offset_minutes,
                size,
                text_is_raw,
                ..MessageRecord::default()
            },
            summary,
            sort_key,
            text,
        });
    }
    (d.i == body.len()).then_some(items)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn optional(&mut self) -> Option<Option<Vec<u8>>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.bytes()?.to_vec())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: u32, text: bool) -> NewMessage {
        NewMessage {
            tag: None,
            record: MessageRecord {
                file: format!(".stage/0123456789abcdefx{i}.staged").into(),
                flags: Flags(5),
                keywords: vec!["$Label1".to_string(), "Ünïcode".to_string()].into(),
                internal_date: -86_400 * i64::from(i),
                tz_offset_minutes: -420,
                size: 1234,
                text_is_raw: !text,
                ..MessageRecord::default()
            },
            summary: vec![i as u8; 300],
            sort_key: i.is_multiple_of(2).then(|| vec![1, 2, 3]),
            text: text.then(|| b"decoded".to_vec()),
        }
    }

    /// What is encoded decodes the same; anything cut short or changed
    /// does not decode (and never panics).
    #[test]
    fn intents_round_trip_and_damage_is_refused() {
        let items = [message(0, true), message(1, false)];
        let bytes = encode(&items);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.len(), 2);
        for (a, b) in items.iter().zip(&back) {
            assert_eq!(a.record, b.record);
            assert_eq!(a.summary, b.summary);
            assert_eq!(a.sort_key, b.sort_key);
            assert_eq!(a.text, b.text);
            assert_eq!(b.tag, None);
        }
        assert_eq!(decode(&encode(&[])).map(|v| v.len()), Some(0));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(decode(&b).is_none(), "octet {i}");
        }
    }
}
