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

use super::index::{Dec, Enc, Flags, MessageRecord, unseal};
use super::mailbox::NewMessage;

const MAGIC: &[u8; 8] = b"IMAPDST1";

/// The intent's bytes for `items` (their files already staged).
pub(super) fn encode(items: &[NewMessage]) -> Vec<u8> {
    let mut e = Enc(MAGIC.to_vec());
    e.u32(items.len() as u32);
    let optional = |e: &mut Enc, b: Option<&[u8]>| match b {
        Some(b) => {
            e.u8(1);
            e.bytes(b);
        }
        None => e.u8(0),
    };
    for m in items {
        let r = &m.record;
        e.bytes(r.file.as_bytes());
        e.u8(r.flags.0);
        e.keywords(r.keywords.as_slice());
        e.u64(r.internal_date as u64);
        e.u16(r.tz_offset_minutes as u16);
        e.u64(r.size);
        e.u8(u8::from(r.text_is_raw));
        e.bytes(&m.summary);
        optional(&mut e, m.sort_key.as_deref());
        optional(&mut e, m.text.as_deref());
    }
    e.sealed()
}

/// The messages of an intent; `None` when it does not check out.
pub(super) fn decode(b: &[u8]) -> Option<Vec<NewMessage>> {
    let mut d = unseal(b, MAGIC)?;
    let n = d.u32()? as usize;
    // Each message takes at least 40 octets: no allocation from a count
    // the file cannot hold.
    if n > d.b.len() / 40 {
        return None;
    }
    let optional = |d: &mut Dec| match d.u8()? {
        0 => Some(None),
        1 => Some(Some(d.bytes()?)),
        _ => None,
    };
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let file = d.string()?;
        let flags = Flags(d.u8()?);
        let keywords = d.keywords()?;
        let internal_date = d.u64()? as i64;
        let tz_offset_minutes = d.u16()? as i16;
        let size = d.u64()?;
        let text_is_raw = d.u8()? != 0;
        let summary = d.bytes()?;
        let sort_key = optional(&mut d)?;
        let text = optional(&mut d)?;
        items.push(NewMessage {
            tag: None,
            record: MessageRecord {
                file: file.into(),
                flags,
                keywords,
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
    (d.i == d.b.len()).then_some(items)
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
