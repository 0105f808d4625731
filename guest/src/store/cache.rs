//! The per-mailbox summary cache, `imapd.cache`: each message's ENVELOPE,
//! BODYSTRUCTURE and BODY renderings and its SEARCH header fields
//! (`mime::MessageSummary`), rendered once when the message enters the
//! store and read on demand by FETCH and SEARCH.
//!
//! `imapd.text`, in the same format, holds the decoded text of messages
//! whose text parts are quoted-printable, base64 or in an unusual charset
//! (`MessageSummary::decoded_text`), so SEARCH BODY/TEXT never decodes
//! MIME; other messages are searched in their raw bytes.
//!
//! Keeping them out of the index keeps a session's view of a mailbox
//! small (a record is about a hundred bytes) and SELECT cheap; a metadata
//! FETCH still opens no message file, it reads the cache sequentially.
//!
//! Format: `IMAPDCA1`, then blobs `[len u32][crc32 u32][uid u32][payload]`
//! appended by writers under the mailbox lock; a record points at its blob
//! ([`CacheRef`]). The cache is derived data: it is not fsync'd, and a blob
//! that is missing, torn or not the record's (wrong UID or checksum) is
//! rebuilt from the message file when read. So a crash can cost a re-parse,
//! never a wrong answer.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::index::{MessageRecord, crc32, unique_token};
use crate::mime::search::SentDate;
use crate::mime::{MessageSummary, SearchHeaders};

pub const CACHE_FILE: &str = "imapd.cache";
pub const TEXT_FILE: &str = "imapd.text";
/// The first bytes of every file in the cache format.
pub const MAGIC: &[u8; 8] = b"IMAPDCA1";
const BLOB_HEADER: usize = 12;
/// How much of the cache one read brings in: sequential FETCHes read
/// the file in windows of this size.
const WINDOW: usize = 256 << 10;

/// Where a message's summary lies in the cache (offset of its blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheRef {
    pub offset: u64,
    /// Blob length including its header; 0: no blob (rebuilt on read).
    pub len: u32,
}

/// A summary as stored: the payload of a blob.
pub fn encode_summary(s: &MessageSummary) -> Vec<u8> {
    let h = &s.search;
    let fields: [&[u8]; 8] = [
        &s.envelope,
        &s.body_structure,
        &s.body,
        h.from.as_bytes(),
        h.to.as_bytes(),
        h.cc.as_bytes(),
        h.bcc.as_bytes(),
        h.subject.as_bytes(),
    ];
    let mut out = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum::<usize>() + 9);
    for f in fields {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    // The Date: header: 0 none; 2 timestamp and zone. (1, a timestamp
    // without its zone, was written before SENTON used the date as
    // written; it is read as `SentField::Unknown`.)
    match h.sent_date {
        Some(d) => {
            out.push(2);
            out.extend_from_slice(&d.timestamp.to_le_bytes());
            out.extend_from_slice(&d.tz_minutes.to_le_bytes());
        }
        None => out.push(0),
    }
    // rfc8970 PREVIEW and rfc8474 EMAILID, last: blobs written before
    // them end above.
    out.extend_from_slice(&(s.preview.len() as u32).to_le_bytes());
    out.extend_from_slice(s.preview.as_bytes());
    out.push(s.email_id.len() as u8);
    out.extend_from_slice(s.email_id.as_bytes());
    // What SORT and THREAD compare (rfc5256, rfc5957), last, after tag 1:
    // blobs written before them end above (and are rebuilt from the
    // message when a SORT or THREAD needs them).
    out.push(1);
    let sort = &s.sort;
    let references = sort.references.join("\n");
    for field in [
        &sort.subject,
        &sort.from,
        &sort.to,
        &sort.cc,
        &sort.display_from,
        &sort.display_to,
        &sort.message_id,
        &references,
    ] {
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// The SORT and THREAD fields of a stored summary (`SortFields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SortView<'a> {
    pub subject: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub cc: &'a str,
    pub display_from: &'a str,
    pub display_to: &'a str,
    pub message_id: &'a str,
    /// The references, one a line.
    pub references: &'a str,
}

impl<'a> SortView<'a> {
    /// The view of freshly parsed fields, `references` being their
    /// references joined one a line.
    pub fn of(fields: &'a crate::mime::sort_fields::SortFields, references: &'a str) -> Self {
        SortView {
            subject: &fields.subject,
            from: &fields.from,
            to: &fields.to,
            cc: &fields.cc,
            display_from: &fields.display_from,
            display_to: &fields.display_to,
            message_id: &fields.message_id,
            references,
        }
    }

    pub fn references(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.references.split('\n').filter(|r| !r.is_empty())
    }

    /// Eight `[len u32 LE][UTF-8]` fields in the order above.
    pub(crate) fn decode(b: &'a [u8]) -> Option<SortView<'a>> {
        let mut i = 0;
        let mut next = || -> Option<&'a str> {
            let n = u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
            let field = b.get(i + 4..(i + 4).checked_add(n)?)?;
            i += 4 + n;
            std::str::from_utf8(field).ok()
        };
        Some(SortView {
            subject: next()?,
            from: next()?,
            to: next()?,
            cc: next()?,
            display_from: next()?,
            display_to: next()?,
            message_id: next()?,
            references: next()?,
        })
    }
}

/// The Date: header as a stored summary has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentField {
    Missing,
    Date(SentDate),
    /// Stored by an older version without the zone: read the message.
    Unknown,
}

impl SentField {
    pub fn known(self) -> Option<SentDate> {
        match self {
            SentField::Date(d) => Some(d),
            _ => None,
        }
    }
}

/// A stored summary, borrowed from the cache buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryView<'a> {
    pub envelope: &'a [u8],
    pub body_structure: &'a [u8],
    pub body: &'a [u8],
    pub from: &'a str,
    pub to: &'a str,
    pub cc: &'a str,
    pub bcc: &'a str,
    pub subject: &'a str,
    /// The Date: header.
    pub sent_date: SentField,
    /// FETCH PREVIEW text; `None` in blobs written before it was kept.
    pub preview: Option<&'a str>,
    /// EMAILID; `None` in blobs written before it was kept.
    pub email_id: Option<&'a str>,
    /// SORT and THREAD fields; `None` in blobs written before they were
    /// kept.
    pub sort: Option<SortView<'a>>,
}

pub fn decode_summary(b: &[u8]) -> Option<SummaryView<'_>> {
    let mut i = 0;
    let mut next = || -> Option<&[u8]> {
        let n = u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize;
        let field = b.get(i + 4..(i + 4).checked_add(n)?)?;
        i += 4 + n;
        Some(field)
    };
    let envelope = next()?;
    let body_structure = next()?;
    let body = next()?;
    let mut text = || std::str::from_utf8(next()?).ok();
    let (from, to, cc, bcc, subject) = (text()?, text()?, text()?, text()?, text()?);
    let (sent_date, end) = match b.get(i)? {
        0 => (SentField::Missing, i + 1),
        1 => (SentField::Unknown, i + 9),
        2 => (
            SentField::Date(SentDate {
                timestamp: i64::from_le_bytes(b.get(i + 1..i + 9)?.try_into().ok()?),
                tz_minutes: i16::from_le_bytes(b.get(i + 9..i + 11)?.try_into().ok()?),
            }),
            i + 11,
        ),
        _ => return None,
    };
    let (preview, end) = match b.get(end..end + 4) {
        Some(n) => {
            let n = u32::from_le_bytes(n.try_into().ok()?) as usize;
            let at = end + 4;
            (
                Some(std::str::from_utf8(b.get(at..at.checked_add(n)?)?).ok()?),
                at + n,
            )
        }
        None => (None, end),
    };
    let (email_id, end) = match b.get(end) {
        Some(&n) => {
            let at = end + 1 + usize::from(n);
            (Some(std::str::from_utf8(b.get(end + 1..at)?).ok()?), at)
        }
        None => (None, end),
    };
    let sort = match b.get(end) {
        Some(1) => Some(SortView::decode(&b[end + 1..])?),
        Some(_) => return None,
        None => None,
    };
    Some(SummaryView {
        envelope,
        body_structure,
        body,
        from,
        to,
        cc,
        bcc,
        subject,
        sent_date,
        preview,
        email_id,
        sort,
    })
}

impl SummaryView<'_> {
    pub fn search_headers(&self) -> SearchHeaders {
        SearchHeaders {
            from: self.from.to_string(),
            to: self.to.to_string(),
            cc: self.cc.to_string(),
            bcc: self.bcc.to_string(),
            subject: self.subject.to_string(),
            sent_date: self.sent_date.known(),
        }
    }
}

/// How a cache-format file frames its blobs: the magic it starts with,
/// and the checksum stored with each payload.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    pub magic: &'static [u8; 8],
    pub check: fn(&[u8]) -> u32,
}

/// The summary and text caches: CRC-32.
pub const CACHE_FRAMING: Framing = Framing {
    magic: MAGIC,
    check: crc32,
};

/// Appends one blob per `(uid, payload)` to the cache file `file` in a
/// single write (mailbox lock held) and returns where each landed.
pub fn append_blobs(dir: &Path, file: &str, blobs: &[(u32, &[u8])]) -> io::Result<Vec<CacheRef>> {
    append_framed(dir, file, CACHE_FRAMING, blobs)
}

/// [`append_blobs`] for a file of another [`Framing`].
pub fn append_framed(
    dir: &Path,
    file: &str,
    framing: Framing,
    blobs: &[(u32, &[u8])],
) -> io::Result<Vec<CacheRef>> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))?;
    // `data` is written at the current end of the file.
    let at = f.metadata()?.len();
    let mut data = Vec::new();
    if at < framing.magic.len() as u64 {
        // New (or a torn start): blobs are found by offset and checked,
        // so a short start is simply completed.
        data.extend_from_slice(&framing.magic[at as usize..]);
    }
    let mut refs = Vec::with_capacity(blobs.len());
    for (uid, payload) in blobs {
        let len = BLOB_HEADER + payload.len();
        refs.push(CacheRef {
            offset: at + data.len() as u64,
            len: len as u32,
        });
        data.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        data.extend_from_slice(&(framing.check)(payload).to_le_bytes());
        data.extend_from_slice(&uid.to_le_bytes());
        data.extend_from_slice(payload);
    }
    f.write_all(&data)?;
    Ok(refs)
}

/// The blobs of a whole cache-format file, in file order: `(uid,
/// payload range, intact)`, intact meaning its checksum holds. A length
/// that runs past the end (a torn last write) ends the walk: the last
/// range's end is then short of the file's.
pub fn blobs(file: &[u8]) -> impl Iterator<Item = (u32, Range<usize>, bool)> + '_ {
    blobs_framed(file, CACHE_FRAMING)
}

/// [`blobs`] of a file of another [`Framing`]; none when the file does
/// not start with its magic.
pub fn blobs_framed(
    file: &[u8],
    framing: Framing,
) -> impl Iterator<Item = (u32, Range<usize>, bool)> + '_ {
    let mut at = if file.starts_with(framing.magic) {
        framing.magic.len()
    } else {
        file.len()
    };
    std::iter::from_fn(move || {
        let header = file.get(at..at.checked_add(BLOB_HEADER)?)?;
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (len, crc, uid) = (word(0) as usize, word(4), word(8));
        let start = at + BLOB_HEADER;
        let end = start.checked_add(len).filter(|&e| e <= file.len())?;
        at = end;
        Some((uid, start..end, (framing.check)(&file[start..end]) == crc))
    })
}

/// Cache files smaller than this are not worth compacting.
const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// Which reference of a record points into a cache file.
pub type RefField = fn(&mut MessageRecord) -> &mut CacheRef;

/// Rewrites the cache file `name` with only the blobs `records` point at
/// (their references move to the new places), once at least half of it is
/// blobs of expunged messages; false if it was left as it is. Mailbox lock
/// held: nobody appends meanwhile. Other sessions' references into the
/// old file fail their checks until they reload the index (whose
/// generation the caller moves on), and are rebuilt in the meantime.
pub fn compact_file(
    dir: &Path,
    name: &'static str,
    records: &mut [MessageRecord],
    field: RefField,
) -> io::Result<bool> {
    let Ok(size) = fs::metadata(dir.join(name)).map(|m| m.len()) else {
        return Ok(false);
    };
    let live: u64 = records.iter_mut().map(|r| u64::from(field(r).len)).sum();
    if size < COMPACT_MIN_BYTES || live.saturating_mul(2) > size {
        return Ok(false);
    }
    let tmp = dir.join(format!("{name}.{}.tmp", unique_token()));
    let written = (|| -> io::Result<()> {
        let mut out = BufWriter::new(File::create(&tmp)?);
        out.write_all(MAGIC)?;
        let mut at = MAGIC.len() as u64;
        let mut reader = CacheReader::of_file(dir, name);
        for r in records.iter_mut() {
            if field(r).len == 0 {
                continue;
            }
            let payload = if name == TEXT_FILE {
                reader.text(r)
            } else {
                reader.payload(r)
            };
            out.write_all(&(payload.len() as u32).to_le_bytes())?;
            out.write_all(&crc32(payload).to_le_bytes())?;
            out.write_all(&r.uid.to_le_bytes())?;
            out.write_all(payload)?;
            let len = (BLOB_HEADER + payload.len()) as u32;
            *field(r) = CacheRef { offset: at, len };
            at += u64::from(len);
        }
        out.flush()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, dir.join(name))?;
    Ok(true)
}

/// Reads summaries for one command (FETCH, SEARCH): keeps the cache file
/// open and a window of it in memory, so records in UID order cost one
/// sequential pass over the file.
pub struct CacheReader {
    dir: PathBuf,
    name: &'static str,
    file: Option<File>,
    tried_open: bool,
    window: Vec<u8>,
    /// File offset of `window[0]`.
    start: u64,
    /// A summary rebuilt from the message file.
    rebuilt: Vec<u8>,
}

impl CacheReader {
    /// A reader of the summaries of the mailbox in `dir`.
    pub fn new(dir: &Path) -> CacheReader {
        Self::of_file(dir, CACHE_FILE)
    }

    /// A reader of the cache file `name` (`CACHE_FILE`, `TEXT_FILE`).
    pub fn of_file(dir: &Path, name: &'static str) -> CacheReader {
        CacheReader {
            dir: dir.to_path_buf(),
            name,
            file: None,
            tried_open: false,
            window: Vec::new(),
            start: 0,
            rebuilt: Vec::new(),
        }
    }

    /// The summary of `record`: from the cache, or rebuilt from the
    /// message (an empty message's if that cannot be read either).
    pub fn summary(&mut self, record: &MessageRecord) -> SummaryView<'_> {
        decode_summary(self.payload(record)).unwrap_or(EMPTY_VIEW)
    }

    /// The summary of `record` as [`summary`](Self::summary) gives it, or
    /// `None` when neither the cache nor the message file has it any
    /// more: another session expunged the message (and a compaction
    /// dropped its cache entry) since this one last looked. FETCH then
    /// says the message no longer exists rather than show it empty.
    pub fn live_summary(&mut self, record: &MessageRecord) -> Option<SummaryView<'_>> {
        self.stored_or_made(record, false)
            .map(|payload| decode_summary(payload).unwrap_or(EMPTY_VIEW))
    }

    /// The stored form of the summary of `record` (see [`summary`](Self::summary)).
    pub fn payload(&mut self, record: &MessageRecord) -> &[u8] {
        self.stored_or_made(record, true).unwrap_or_default()
    }

    /// The blob of `record`'s summary if it is intact, else the summary
    /// made again from the message file; from an empty message when the
    /// file is gone too and `or_empty`, else `None`.
    fn stored_or_made(&mut self, record: &MessageRecord, or_empty: bool) -> Option<&[u8]> {
        match self.blob(record, record.cache) {
            Some(range) => Some(&self.window[range]),
            None => {
                let raw = match self.try_message(record) {
                    Some(raw) => raw,
                    None if or_empty => Vec::new(),
                    None => return None,
                };
                self.rebuilt = encode_summary(&MessageSummary::of(&raw));
                Some(&self.rebuilt)
            }
        }
    }

    /// The decoded text of `record` (a `TEXT_FILE` reader), for messages
    /// whose text is not raw; rebuilt from the message if the blob is bad.
    pub fn text(&mut self, record: &MessageRecord) -> &[u8] {
        match self.blob(record, record.text) {
            Some(range) => &self.window[range],
            None => {
                let summary = MessageSummary::of(&self.message(record));
                self.rebuilt = summary.decoded_text.unwrap_or_default();
                &self.rebuilt
            }
        }
    }

    fn message(&self, record: &MessageRecord) -> Vec<u8> {
        self.try_message(record).unwrap_or_default()
    }

    /// The message file's bytes, if it is still there.
    fn try_message(&self, record: &MessageRecord) -> Option<Vec<u8>> {
        let cur = self.dir.join("cur").join(&record.file);
        std::fs::read(cur)
            .or_else(|_| std::fs::read(self.dir.join("tmp").join(&record.file)))
            .ok()
    }

    /// The payload range in `window` of the record's blob, if it is there
    /// and intact.
    fn blob(&mut self, record: &MessageRecord, at: CacheRef) -> Option<Range<usize>> {
        let len = at.len as usize;
        if len < BLOB_HEADER {
            return None;
        }
        let offset = at.offset;
        let end = offset.checked_add(len as u64)?;
        let window_end = self.start + self.window.len() as u64;
        if offset < self.start || end > window_end {
            self.fill(offset, len).ok()?;
        }
        let at = (offset - self.start) as usize;
        let blob = self.window.get(at..at + len)?;
        let payload_len = u32::from_le_bytes(blob[0..4].try_into().ok()?) as usize;
        let crc = u32::from_le_bytes(blob[4..8].try_into().ok()?);
        let uid = u32::from_le_bytes(blob[8..12].try_into().ok()?);
        let payload = &blob[BLOB_HEADER..];
        let intact = payload_len == payload.len()
            && uid == record.uid
            && crc32(payload) == crc
            && (self.name != CACHE_FILE || decode_summary(payload).is_some());
        intact.then_some(at + BLOB_HEADER..at + len)
    }

    /// Reads the window starting at `offset`, at least `len` bytes.
    fn fill(&mut self, offset: u64, len: usize) -> io::Result<()> {
        if !self.tried_open {
            self.tried_open = true;
            self.file = File::open(self.dir.join(self.name)).ok();
        }
        let Some(f) = self.file.as_mut() else {
            return Err(io::ErrorKind::NotFound.into());
        };
        f.seek(SeekFrom::Start(offset))?;
        let want = len.max(WINDOW);
        self.window.clear();
        self.start = offset;
        (&mut *f).take(want as u64).read_to_end(&mut self.window)?;
        Ok(())
    }
}

const EMPTY_VIEW: SummaryView<'static> = SummaryView {
    envelope: b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
    body_structure: b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
    body: b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
    from: "",
    to: "",
    cc: "",
    bcc: "",
    subject: "",
    sent_date: SentField::Missing,
    preview: Some(""),
    email_id: None,
    sort: Some(SortView {
        subject: "",
        from: "",
        to: "",
        cc: "",
        display_from: "",
        display_to: "",
        message_id: "",
        references: "",
    }),
};

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: u32, cache: CacheRef) -> MessageRecord {
        MessageRecord {
            uid,
            file: format!("{uid}.msg").into(),
            cache,
            ..Default::default()
        }
    }

    #[test]
    fn sent_dates_keep_their_zone_and_older_blobs_say_unknown() {
        let raw = b"Date: Sat, 24 Mar 2007 23:30:00 -0500\r\nSubject: s\r\n\r\nx\r\n";
        let payload = encode_summary(&MessageSummary::of(raw));
        let view = decode_summary(&payload).unwrap();
        let SentField::Date(date) = view.sent_date else {
            panic!("{:?}", view.sent_date);
        };
        assert_eq!(date.tz_minutes, -300);
        // 04:30 UTC on the 25th; written as the 24th.
        assert_eq!(date.timestamp.div_euclid(86_400), 13_597);
        assert_eq!(date.day(), 13_596);
        assert_eq!(view.preview, Some("x"));
        // Tag 1 (a timestamp without zone, written by older versions,
        // which kept no preview either).
        assert_eq!(view.email_id, Some(crate::mime::email_id(raw).as_str()));
        let sort_len = 1 + 8 * 4 + "s".len();
        let tag = payload.len() - sort_len - 11 - (4 + 1) - (1 + 25);
        assert_eq!(payload[tag], 2);
        let mut older = payload[..tag].to_vec();
        older.push(1);
        older.extend_from_slice(&date.timestamp.to_le_bytes());
        let older = decode_summary(&older).unwrap();
        assert_eq!(
            (older.sent_date, older.preview, older.email_id, older.sort),
            (SentField::Unknown, None, None, None)
        );
        assert_eq!(
            crate::mime::search::sent_date_of(raw),
            Some(date),
            "what SEARCH reads from the message instead"
        );
        let none = encode_summary(&MessageSummary::of(b"Subject: s\r\n\r\nx\r\n"));
        assert_eq!(decode_summary(&none).unwrap().sent_date, SentField::Missing);
    }

    /// The SORT/THREAD fields (tag 1 after EMAILID) round-trip; a blob
    /// written before them (ending with EMAILID) still decodes, without.
    #[test]
    fn sort_fields_are_kept_and_older_blobs_read() {
        let raw = b"Subject: =?UTF-8?Q?Re=3A_caf=C3=A9?=\r\nFrom: Ann <ann@x>\r\n\
            To: bob@y\r\nCc: cy@z\r\nMessage-ID: <m@x>\r\nReferences: <a@x> <b@x>\r\n\r\nx\r\n";
        let summary = MessageSummary::of(raw);
        let payload = encode_summary(&summary);
        let view = decode_summary(&payload).unwrap();
        let sort = view.sort.unwrap();
        assert_eq!(
            (sort.subject, sort.from, sort.to, sort.cc),
            ("Re: café", "ann", "bob", "cy")
        );
        assert_eq!((sort.display_from, sort.display_to), ("Ann", "bob@y"));
        assert_eq!(sort.message_id, "<m@x>");
        assert_eq!(sort.references().collect::<Vec<_>>(), ["<a@x>", "<b@x>"]);
        let id = summary.email_id.len();
        let cut = payload.len()
            - (1 + [
                "Re: café",
                "ann",
                "bob",
                "cy",
                "Ann",
                "bob@y",
                "<m@x>",
                "<a@x>\n<b@x>",
            ]
            .iter()
            .map(|f| 4 + f.len())
            .sum::<usize>());
        assert_eq!(payload[cut - id - 1], id as u8);
        let older = decode_summary(&payload[..cut]).unwrap();
        assert_eq!(older.sort, None);
        assert_eq!(older.email_id, Some(summary.email_id.as_str()));
        // An unknown tag there is a damaged blob (rebuilt).
        let mut bad = payload.clone();
        bad[cut] = 7;
        assert_eq!(decode_summary(&bad), None);
    }

    #[test]
    fn summaries_round_trip_and_bad_blobs_are_rebuilt() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("cur")).unwrap();
        let raw = |n: u32| format!("From: a{n}@x\r\nSubject: s{n}\r\n\r\nbody\r\n").into_bytes();
        let payloads: Vec<Vec<u8>> = (1..=3)
            .map(|n| encode_summary(&MessageSummary::of(&raw(n))))
            .collect();
        let blobs: Vec<(u32, &[u8])> = (1..=3).zip(payloads.iter().map(|p| &p[..])).collect();
        let refs = append_blobs(t.path(), CACHE_FILE, &blobs).unwrap();
        assert_eq!(refs[0].offset, MAGIC.len() as u64);
        let more = append_blobs(t.path(), CACHE_FILE, &[(4, &payloads[0][..])]).unwrap();
        assert_eq!(more[0].offset, refs[2].offset + refs[2].len as u64);
        let mut reader = CacheReader::new(t.path());
        for (i, r) in refs.iter().enumerate() {
            let uid = i as u32 + 1;
            let view = reader.summary(&record(uid, *r));
            assert_eq!(view.subject, format!("s{uid}"));
        }
        // Not this record's blob (UID differs): rebuilt from the file.
        std::fs::write(t.path().join("cur/9.msg"), raw(9)).unwrap();
        assert_eq!(reader.summary(&record(9, refs[0])).subject, "s9");
        // No blob and no file: an empty message's summary, still valid.
        let view = reader.summary(&record(8, CacheRef::default()));
        assert!(view.envelope.starts_with(b"("));
        assert_eq!(view.subject, "");
        // FETCH asks for the live one: the message is gone.
        assert!(
            reader
                .live_summary(&record(8, CacheRef::default()))
                .is_none()
        );
        assert_eq!(
            reader
                .live_summary(&record(9, CacheRef::default()))
                .map(|v| v.subject),
            Some("s9")
        );
        assert_eq!(
            reader.live_summary(&record(2, refs[1])).map(|v| v.subject),
            Some("s2")
        );
    }
}
