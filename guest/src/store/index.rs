//! The per-mailbox index: a snapshot file (`imapd.index`) plus an
//! append-only change log (`imapd.log`), both in the mailbox directory.
//!
//! Crash safety:
//! - Log entries are `[len u32][crc32 u32][payload]`, written then fsync'd.
//!   Replay skips bytes that are not a valid entry; a torn tail (what a
//!   writer that died left) is cut off by the next writer, which holds the
//!   mailbox lock.
//! - Replaying an entry is idempotent (absolute flag values, add-if-absent,
//!   remove-if-present), and entries only ever move UIDNEXT/HIGHESTMODSEQ up.
//! - Compaction writes a new snapshot (generation g+1) via temp + fsync +
//!   rename, then a fresh log with generation g+1 the same way. A log whose
//!   generation is older than the snapshot's is already contained in it.
//! - A snapshot that fails its checksum is rebuilt from the message files
//!   with a new UIDVALIDITY (rfc3501 2.3.1.1): no mail is lost.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::rc::Rc;

use super::cache::CacheRef;
use super::record::{FileName, Keywords, NameBlock, NameSource};

pub const SNAPSHOT_FILE: &str = "imapd.index";
pub const LOG_FILE: &str = "imapd.log";
const SNAPSHOT_MAGIC: &[u8; 8] = b"IMAPDIX5";
/// Records one by one, names and keywords inline (read, never written).
const SNAPSHOT_MAGIC_V4: &[u8; 8] = b"IMAPDIX4";
/// The snapshot before expunged UIDs were kept (read, never written).
const SNAPSHOT_MAGIC_V3: &[u8; 8] = b"IMAPDIX3";
const LOG_MAGIC: &[u8; 8] = b"IMAPDLG2";
pub const LOG_HEADER_LEN: u64 = 16;

/// System flags (rfc3501 2.3.2), as bits. `\Recent` is per session, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const SEEN: Flags = Flags(1);
    pub const ANSWERED: Flags = Flags(2);
    pub const FLAGGED: Flags = Flags(4);
    pub const DELETED: Flags = Flags(8);
    pub const DRAFT: Flags = Flags(16);

    pub fn contains(self, f: Flags) -> bool {
        self.0 & f.0 == f.0
    }
    pub fn union(self, f: Flags) -> Flags {
        Flags(self.0 | f.0)
    }
    pub fn minus(self, f: Flags) -> Flags {
        Flags(self.0 & !f.0)
    }
    /// IMAP names, in the order Cyrus sends them.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (f, n) in [
            (Flags::ANSWERED, "\\Answered"),
            (Flags::FLAGGED, "\\Flagged"),
            (Flags::DRAFT, "\\Draft"),
            (Flags::DELETED, "\\Deleted"),
            (Flags::SEEN, "\\Seen"),
        ] {
            if self.contains(f) {
                v.push(n);
            }
        }
        v
    }
    /// Parses one system flag name (case-insensitive), e.g. `\Seen`.
    pub fn from_name(name: &str) -> Option<Flags> {
        Some(match name.to_ascii_lowercase().as_str() {
            "\\seen" => Flags::SEEN,
            "\\answered" => Flags::ANSWERED,
            "\\flagged" => Flags::FLAGGED,
            "\\deleted" => Flags::DELETED,
            "\\draft" => Flags::DRAFT,
            _ => return None,
        })
    }
    /// Maildir info letters (`:2,DFPRST`): D draft, F flagged, R replied,
    /// S seen, T trashed; P (passed) has no IMAP flag.
    pub fn from_maildir_info(info: &str) -> Flags {
        let mut f = Flags::default();
        for c in info.chars() {
            f = f.union(match c {
                'D' => Flags::DRAFT,
                'F' => Flags::FLAGGED,
                'R' => Flags::ANSWERED,
                'S' => Flags::SEEN,
                'T' => Flags::DELETED,
                _ => Flags::default(),
            });
        }
        f
    }
    pub fn maildir_info(self) -> String {
        let mut s = String::new();
        for (f, c) in [
            (Flags::DRAFT, 'D'),
            (Flags::FLAGGED, 'F'),
            (Flags::ANSWERED, 'R'),
            (Flags::SEEN, 'S'),
            (Flags::DELETED, 'T'),
        ] {
            if self.contains(f) {
                s.push(c);
            }
        }
        s
    }
}

/// One message as the index knows it. ENVELOPE, BODYSTRUCTURE and the
/// SEARCH header fields live in the mailbox's summary cache
/// ([`super::cache`]), read on demand: a session's view of a mailbox is
/// these small records only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageRecord {
    pub uid: u32,
    /// File name in the mailbox's `cur/`.
    pub file: FileName,
    pub flags: Flags,
    /// Keywords (rfc3501 2.3.2 atoms), sorted, case preserved.
    pub keywords: Keywords,
    pub modseq: u64,
    /// INTERNALDATE: seconds since the epoch, and the zone to show it in.
    pub internal_date: i64,
    pub tz_offset_minutes: i16,
    /// RFC822.SIZE: exact size of the file, which is what FETCH BODY[] returns.
    pub size: u64,
    /// Where the message's summary lies in `imapd.cache`.
    pub cache: CacheRef,
    /// `MessageSummary::text_is_raw`: SEARCH BODY/TEXT may rule the
    /// message out from its raw bytes.
    pub text_is_raw: bool,
    /// Where its decoded text lies in `imapd.text` (messages whose text
    /// is not raw).
    pub text: CacheRef,
    /// SAVEDATE (rfc8514): when the message entered this mailbox, seconds
    /// since the epoch; 0 for messages stored before it was kept.
    pub save_date: i64,
}

/// Mailbox-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
    /// Highest UID any read-write session has seen: above it, \Recent.
    pub recent_uid: u32,
}

/// One change, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Create {
        uidvalidity: u32,
    },
    Add(Box<MessageRecord>),
    Flags {
        uid: u32,
        flags: Flags,
        keywords: Keywords,
        modseq: u64,
    },
    Expunge {
        uid: u32,
        modseq: u64,
    },
    RecentUid(u32),
    /// Keeps UIDNEXT above UIDs seen in file names (never reuse a UID).
    UidNext(u32),
}

/// The whole index in memory: header plus records sorted by UID.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxIndex {
    pub header: IndexHeader,
    pub records: Vec<MessageRecord>,
    pub expunged: Expunged,
}

/// Expunged UIDs with the MODSEQ of their expunge, for QRESYNC's
/// `VANISHED (EARLIER)` (rfc7162 3.2.5, 3.2.6), kept in the snapshot.
///
/// Policy: at most [`Expunged::MAX_RANGES`] ranges. An expunge of the UID
/// right after the last range extends it (its MODSEQ becomes the later
/// one: a client may then be told again of a UID it already knew was
/// gone, which it ignores). When the list is full the oldest range is
/// dropped and `floor` rises to its MODSEQ: for a MODSEQ below `floor`
/// nothing precise is known, and the caller reports every UID that is not
/// in the mailbox (more UIDs as vanished, never fewer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expunged {
    /// (first UID, last UID, MODSEQ), in the order of their expunges.
    pub ranges: Vec<(u32, u32, u64)>,
    /// Expunges at or below this MODSEQ are not all known.
    pub floor: u64,
}

impl Expunged {
    pub const MAX_RANGES: usize = 1024;

    /// Records the expunge of `uid` at `modseq`.
    pub fn add(&mut self, uid: u32, modseq: u64) {
        match self.ranges.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(uid) => {
                last.1 = uid;
                last.2 = last.2.max(modseq);
            }
            _ => self.ranges.push((uid, uid, modseq)),
        }
        if self.ranges.len() > Self::MAX_RANGES {
            let dropped = self.ranges.remove(0);
            self.floor = self.floor.max(dropped.2);
        }
    }

    /// The UIDs expunged after `modseq` (some perhaps earlier, see the
    /// type), sorted; `None` if `modseq` is below what is known.
    pub fn since(&self, modseq: u64) -> Option<Vec<u32>> {
        if modseq < self.floor {
            return None;
        }
        let mut uids: Vec<u32> = self
            .ranges
            .iter()
            .filter(|r| r.2 > modseq)
            .flat_map(|r| r.0..=r.1)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Some(uids)
    }
}

impl MailboxIndex {
    /// An empty index with room for `n` records.
    pub fn with_capacity(n: usize) -> MailboxIndex {
        MailboxIndex {
            header: IndexHeader::default(),
            records: Vec::with_capacity(n.min(1 << 20)),
            expunged: Expunged::default(),
        }
    }

    pub fn position(&self, uid: u32) -> Result<usize, usize> {
        self.records.binary_search_by_key(&uid, |r| r.uid)
    }

    /// Applies an entry; idempotent.
    pub fn apply(&mut self, e: &LogEntry) {
        let h = &mut self.header;
        match e {
            LogEntry::Create { uidvalidity } => {
                if h.uidvalidity == 0 {
                    h.uidvalidity = *uidvalidity;
                    h.uidnext = h.uidnext.max(1);
                    h.highest_modseq = h.highest_modseq.max(1);
                }
            }
            LogEntry::Add(r) => {
                apply_add(h, &mut self.records, r);
            }
            LogEntry::Flags {
                uid,
                flags,
                keywords,
                modseq,
            } => {
                apply_flags(h, &mut self.records, *uid, *flags, keywords, *modseq);
            }
            LogEntry::Expunge { uid, modseq } => {
                h.highest_modseq = h.highest_modseq.max(*modseq);
                if let Ok(pos) = self.position(*uid) {
                    self.records.remove(pos);
                    self.expunged.add(*uid, *modseq);
                }
            }
            LogEntry::RecentUid(u) => h.recent_uid = h.recent_uid.max(*u),
            LogEntry::UidNext(u) => h.uidnext = h.uidnext.max(*u),
        }
    }
}

/// Applies an `Add` to a header and records sorted by UID (the index's,
/// or a session's view); false if it is dead. UIDs only go up in log
/// order: an Add at or below a UID already handed out lost a race with
/// another session (or repeats an entry).
pub fn apply_add(h: &mut IndexHeader, records: &mut Vec<MessageRecord>, r: &MessageRecord) -> bool {
    if !add_is_live(h, r) {
        return false;
    }
    h.uidnext = r.uid.saturating_add(1);
    h.highest_modseq = h.highest_modseq.max(r.modseq);
    if let Err(pos) = records.binary_search_by_key(&r.uid, |x| x.uid) {
        records.insert(pos, r.clone());
    }
    true
}

/// Applies a `Flags` entry the same way; false if no record has the UID.
pub fn apply_flags(
    h: &mut IndexHeader,
    records: &mut [MessageRecord],
    uid: u32,
    flags: Flags,
    keywords: &Keywords,
    modseq: u64,
) -> bool {
    h.highest_modseq = h.highest_modseq.max(modseq);
    let Ok(pos) = records.binary_search_by_key(&uid, |x| x.uid) else {
        return false;
    };
    let r = &mut records[pos];
    r.flags = flags;
    r.keywords = keywords.clone();
    r.modseq = modseq;
    true
}

/// Whether an `Add` read at this point of the log takes effect: its UID
/// must be at or above UIDNEXT (every session replays the log in the same
/// order, so all agree on which of two racing Adds won).
pub fn add_is_live(h: &IndexHeader, r: &MessageRecord) -> bool {
    r.uid >= h.uidnext.max(1)
}

// ---- binary encoding -------------------------------------------------------

#[derive(Default)]
/// Little-endian encoding of the index's values (also `stage.rs`'s).
pub(super) struct Enc(pub(super) Vec<u8>);

impl Enc {
    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(super) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn record(&mut self, r: &MessageRecord) {
        self.u32(r.uid);
        self.bytes(r.file.as_bytes());
        self.u8(r.flags.0);
        self.keywords(&r.keywords);
        self.u64(r.modseq);
        self.u64(r.internal_date as u64);
        self.u16(r.tz_offset_minutes as u16);
        self.u64(r.size);
        self.u64(r.cache.offset);
        self.u32(r.cache.len);
        self.u8(u8::from(r.text_is_raw));
        self.u64(r.text.offset);
        self.u32(r.text.len);
        // Last: records written before it end here (see `Dec::record`).
        self.u64(r.save_date as u64);
    }
    pub(super) fn keywords(&mut self, k: &[String]) {
        self.u32(k.len() as u32);
        for k in k {
            self.bytes(k.as_bytes());
        }
    }
    fn header(&mut self, h: &IndexHeader) {
        self.u32(h.uidvalidity);
        self.u32(h.uidnext);
        self.u64(h.highest_modseq);
        self.u32(h.recent_uid);
    }
}

impl Enc {
    /// The bytes so far, sealed with their xxh64 (seed 0): the framing of
    /// the small checked files (`stage.rs`, `metadata.rs`).
    pub(super) fn sealed(mut self) -> Vec<u8> {
        let check = xxhash_rust::xxh64::xxh64(&self.0, 0);
        self.u64(check);
        self.0
    }
}

/// What [`Enc::sealed`] made of bytes starting with `magic`: a decoder
/// past the magic, over the bytes before the checksum; `None` if the
/// checksum or the magic does not match.
pub(super) fn unseal<'a>(b: &'a [u8], magic: &[u8]) -> Option<Dec<'a>> {
    let (body, check) = b.split_at_checked(b.len().checked_sub(8)?)?;
    if xxhash_rust::xxh64::xxh64(body, 0).to_le_bytes() != check || !body.starts_with(magic) {
        return None;
    }
    Some(Dec {
        b: body,
        i: magic.len(),
    })
}

/// Decoding of what [`Enc`] writes; `None` past the end.
pub(super) struct Dec<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

type D<T> = Option<T>;

impl<'a> Dec<'a> {
    pub(super) fn take(&mut self, n: usize) -> D<&'a [u8]> {
        let s = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(s)
    }
    pub(super) fn u8(&mut self) -> D<u8> {
        self.take(1).map(|b| b[0])
    }
    pub(super) fn u16(&mut self) -> D<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub(super) fn u32(&mut self) -> D<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    pub(super) fn u64(&mut self) -> D<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }
    pub(super) fn bytes(&mut self) -> D<Vec<u8>> {
        let n = self.u32()? as usize;
        self.take(n).map(<[u8]>::to_vec)
    }
    pub(super) fn string(&mut self) -> D<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    fn str(&mut self) -> D<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    pub(super) fn keywords(&mut self) -> D<Keywords> {
        let n = self.u32()? as usize;
        if n > self.b.len() {
            return None;
        }
        (0..n)
            .map(|_| self.string())
            .collect::<D<Vec<String>>>()
            .map(Keywords::from)
    }
    fn record(&mut self) -> D<MessageRecord> {
        Some(MessageRecord {
            uid: self.u32()?,
            file: FileName::from(self.str()?),
            flags: Flags(self.u8()?),
            keywords: self.keywords()?,
            modseq: self.u64()?,
            internal_date: self.u64()? as i64,
            tz_offset_minutes: self.u16()? as i16,
            size: self.u64()?,
            cache: CacheRef {
                offset: self.u64()?,
                len: self.u32()?,
            },
            text_is_raw: self.u8()? == 1,
            text: CacheRef {
                offset: self.u64()?,
                len: self.u32()?,
            },
            // Records always end their entry or length-prefixed slot, so
            // one written before SAVEDATE simply has nothing left here.
            save_date: if self.b.len() - self.i >= 8 {
                self.u64()? as i64
            } else {
                0
            },
        })
    }
    fn header(&mut self) -> D<IndexHeader> {
        Some(IndexHeader {
            uidvalidity: self.u32()?,
            uidnext: self.u32()?,
            highest_modseq: self.u64()?,
            recent_uid: self.u32()?,
        })
    }
}

fn encode_entry(e: &LogEntry) -> Vec<u8> {
    let mut x = Enc::default();
    match e {
        LogEntry::Create { uidvalidity } => {
            x.u8(1);
            x.u32(*uidvalidity);
        }
        LogEntry::Add(r) => {
            x.u8(2);
            x.record(r);
        }
        LogEntry::Flags {
            uid,
            flags,
            keywords,
            modseq,
        } => {
            x.u8(3);
            x.u32(*uid);
            x.u8(flags.0);
            x.keywords(keywords);
            x.u64(*modseq);
        }
        LogEntry::Expunge { uid, modseq } => {
            x.u8(4);
            x.u32(*uid);
            x.u64(*modseq);
        }
        LogEntry::RecentUid(u) => {
            x.u8(5);
            x.u32(*u);
        }
        LogEntry::UidNext(u) => {
            x.u8(6);
            x.u32(*u);
        }
    }
    x.0
}

fn decode_entry(b: &[u8]) -> D<LogEntry> {
    let mut d = Dec { b, i: 0 };
    let e = match d.u8()? {
        1 => LogEntry::Create {
            uidvalidity: d.u32()?,
        },
        2 => LogEntry::Add(Box::new(d.record()?)),
        3 => LogEntry::Flags {
            uid: d.u32()?,
            flags: Flags(d.u8()?),
            keywords: d.keywords()?,
            modseq: d.u64()?,
        },
        4 => LogEntry::Expunge {
            uid: d.u32()?,
            modseq: d.u64()?,
        },
        5 => LogEntry::RecentUid(d.u32()?),
        6 => LogEntry::UidNext(d.u32()?),
        _ => return None,
    };
    (d.i == b.len()).then_some(e)
}

/// CRC-32 (IEEE) of index, log and cache data.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Frames entries for appending to the log.
pub fn frame_entries(entries: &[LogEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let payload = encode_entry(e);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

/// The entry framed at `pos`, and where the next one starts.
fn frame_at(data: &[u8], pos: usize) -> Option<(LogEntry, usize)> {
    let head = data.get(pos..pos.checked_add(8)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let end = pos.checked_add(8)?.checked_add(len)?;
    let payload = data.get(pos + 8..end)?;
    if len == 0 || crc32(payload) != crc {
        return None;
    }
    Some((decode_entry(payload)?, end))
}

/// Result of reading a log from some offset.
#[derive(Debug, Default)]
pub struct LogRead {
    pub generation: u64,
    pub entries: Vec<LogEntry>,
    /// Offset just after the last complete entry.
    pub end: u64,
    /// Bytes after `end` that do not form a complete, valid entry.
    pub torn_tail: bool,
}

/// Reads the log header and entries starting at `offset` (0 = from the
/// start). Only the bytes from `offset` on are read: a session catching up
/// pays for what changed, not for the whole log.
pub fn read_log(path: &Path, offset: u64) -> io::Result<Option<LogRead>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; LOG_HEADER_LEN as usize];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    if got < head.len() || &head[..8] != LOG_MAGIC {
        return Ok(Some(LogRead {
            generation: 0,
            entries: Vec::new(),
            end: 0,
            torn_tail: true,
        }));
    }
    let generation = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    let base = offset.max(LOG_HEADER_LEN);
    let mut data = Vec::new();
    if base != LOG_HEADER_LEN {
        f.seek(SeekFrom::Start(base))?;
    }
    f.read_to_end(&mut data)?;
    let mut pos = 0;
    let mut entries = Vec::new();
    let mut torn_tail = false;
    while pos < data.len() {
        if let Some((e, next)) = frame_at(&data, pos) {
            entries.push(e);
            pos = next;
            continue;
        }
        // Not a valid entry here. Either another session is writing it
        // right now (it is the tail: stop, and read it next time), or a
        // crash left a torn entry that later appends follow: skip to the
        // next valid entry. The log is never truncated, as a concurrent
        // writer's entry could be cut.
        match (pos + 1..data.len()).find(|&q| frame_at(&data, q).is_some()) {
            Some(q) => pos = q,
            None => {
                torn_tail = true;
                break;
            }
        }
    }
    Ok(Some(LogRead {
        generation,
        entries,
        end: base + pos as u64,
        torn_tail,
    }))
}

/// Best-effort directory fsync so a rename is durable (works on Linux; a
/// no-op where directories cannot be opened, e.g. some WASI hosts).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Random bits from the system, different at every call.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A token no other session (or earlier process) uses.
pub fn unique_token() -> String {
    format!("{:016x}", random_u64())
}

/// Writes `data` to `path` atomically: temp file, fsync, rename, dir fsync.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // A name of our own: another session may be replacing the same file.
    let tmp = dir.join(format!(
        "{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        unique_token()
    ));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir);
    Ok(())
}

/// Creates a fresh log of `generation` holding `entries` (atomically).
pub fn write_new_log(dir: &Path, generation: u64, entries: &[LogEntry]) -> io::Result<u64> {
    let mut data = Vec::new();
    data.extend_from_slice(LOG_MAGIC);
    data.extend_from_slice(&generation.to_le_bytes());
    data.extend_from_slice(&frame_entries(entries));
    write_atomically(&dir.join(LOG_FILE), &data)?;
    Ok(data.len() as u64)
}

/// Appends entries in one write to the end of the log, whatever other
/// sessions appended meanwhile, and fsyncs. Where they landed is learnt by
/// reading the log back (see `Mailbox::commit`).
pub fn append_log(dir: &Path, entries: &[LogEntry], durable: bool) -> io::Result<()> {
    let path = dir.join(LOG_FILE);
    let mut f = OpenOptions::new().append(true).open(&path)?;
    let data = frame_entries(entries);
    f.write_all(&data)?;
    if durable {
        f.sync_all()?;
    }
    Ok(())
}

/// Cuts the log back to `len` bytes (mailbox lock held: a torn tail).
pub fn truncate_log(dir: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(dir.join(LOG_FILE))?;
    f.set_len(len.max(LOG_HEADER_LEN))?;
    f.sync_all()
}

/// `imapd.modseq`: a ceiling over every MODSEQ the mailbox has handed out,
/// kept apart from the index so that an index rebuilt from the message
/// files (new UIDVALIDITY) starts above every MODSEQ a client may have
/// seen (rfc7162 3.1: mod-sequences never go backwards). Writers raise it
/// in steps of [`MODSEQ_RESERVE`] before using the MODSEQs below it, so it
/// costs one small write per that many changes.
pub const MODSEQ_FILE: &str = "imapd.modseq";
pub const MODSEQ_RESERVE: u64 = 4096;

/// The ceiling in `dir`'s `imapd.modseq` (0: none, or unreadable).
pub fn read_modseq_ceiling(dir: &Path) -> u64 {
    let Ok(b) = fs::read(dir.join(MODSEQ_FILE)) else {
        return 0;
    };
    let mut d = Dec { b: &b, i: 0 };
    match (d.u64(), d.u32()) {
        (Some(v), Some(crc)) if b.len() == 12 && crc32(&b[..8]) == crc => v,
        _ => 0,
    }
}

/// Raises the ceiling to `value` (mailbox lock held), durably.
pub fn write_modseq_ceiling(dir: &Path, value: u64) -> io::Result<()> {
    let mut x = Enc::default();
    x.u64(value);
    let crc = crc32(&x.0);
    x.u32(crc);
    write_atomically(&dir.join(MODSEQ_FILE), &x.0)
}

/// The snapshot's fixed part: magic, generation, header, counts.
const SNAPSHOT_HEAD_LEN: usize = 72;
/// One record in an `IMAPDIX5` snapshot (see [`encode_snapshot`]).
const RECORD_LEN: usize = 80;

/// Serializes a snapshot (`IMAPDIX5`), laid out to be read in a few large
/// pieces with no allocation per record:
///
/// ```text
/// 0   "IMAPDIX5"  generation u64  header (20 bytes)
/// 36  records u32  names-len u32  keyword-sets u32  sets-len u32
/// 52  expunged floor u64  expunged ranges u32  xxh3-64 of the names
/// 72  names: every record's file name, one after the other (UTF-8)
///     keyword sets: count u32, then (len u32, bytes) per keyword
///     records: RECORD_LEN bytes each, in UID order
///     expunged ranges: (first u32, last u32, modseq u64) each
///     xxh3-64 of everything above but the names, u64
/// ```
///
/// The names have their own checksum: opening a mailbox skips them, and
/// they are read (and checked) the first time a message file is opened.
///
/// A record: uid u32, flags u8, text-is-raw u8, zone i16, keyword set
/// u32 (0: none, k: the k-th set), name offset u32, name length u32,
/// cache length u32, modseq u64, internal date i64, size u64, cache
/// offset u64, text offset u64, text length u32, reserved u32 (0), save
/// date i64. All little-endian.
pub fn encode_snapshot(index: &MailboxIndex, generation: u64) -> Vec<u8> {
    let mut names = String::new();
    let mut sets: Vec<&[String]> = Vec::new();
    let mut set_of: std::collections::HashMap<&[String], u32> = Default::default();
    let mut records = Enc(Vec::with_capacity(index.records.len() * RECORD_LEN));
    for r in &index.records {
        let set = if r.keywords.is_empty() {
            0
        } else {
            *set_of.entry(r.keywords.as_slice()).or_insert_with(|| {
                sets.push(r.keywords.as_slice());
                sets.len() as u32
            })
        };
        let x = &mut records;
        x.u32(r.uid);
        x.u8(r.flags.0);
        x.u8(u8::from(r.text_is_raw));
        x.u16(r.tz_offset_minutes as u16);
        x.u32(set);
        x.u32(names.len() as u32);
        x.u32(r.file.len() as u32);
        x.u32(r.cache.len);
        x.u64(r.modseq);
        x.u64(r.internal_date as u64);
        x.u64(r.size);
        x.u64(r.cache.offset);
        x.u64(r.text.offset);
        x.u32(r.text.len);
        x.u32(0);
        x.u64(r.save_date as u64);
        names.push_str(&r.file);
    }
    let mut set_bytes = Enc::default();
    for k in &sets {
        set_bytes.keywords(k);
    }
    let mut x = Enc(Vec::with_capacity(
        SNAPSHOT_HEAD_LEN + records.0.len() + names.len() + set_bytes.0.len() + 16 * 1024 + 8,
    ));
    x.0.extend_from_slice(SNAPSHOT_MAGIC);
    x.u64(generation);
    x.header(&index.header);
    x.u32(index.records.len() as u32);
    x.u32(names.len() as u32);
    x.u32(sets.len() as u32);
    x.u32(set_bytes.0.len() as u32);
    x.u64(index.expunged.floor);
    x.u32(index.expunged.ranges.len() as u32);
    x.u64(xxhash_rust::xxh3::xxh3_64(names.as_bytes()));
    debug_assert_eq!(x.0.len(), SNAPSHOT_HEAD_LEN);
    let mut sum = xxhash_rust::xxh3::Xxh3::new();
    sum.update(&x.0);
    x.0.extend_from_slice(names.as_bytes());
    let rest = x.0.len();
    x.0.extend_from_slice(&set_bytes.0);
    x.0.extend_from_slice(&records.0);
    for &(first, last, modseq) in &index.expunged.ranges {
        x.u32(first);
        x.u32(last);
        x.u64(modseq);
    }
    sum.update(&x.0[rest..]);
    x.u64(sum.digest());
    x.0
}

#[derive(Debug, PartialEq, Eq)]
pub enum SnapshotError {
    Missing,
    Corrupt,
}

/// Reads `imapd.index`: (generation, index). Reads every format a guest
/// ever wrote: `IMAPDIX5`, `IMAPDIX4` and `IMAPDIX3` (golden files in
/// `golden/`).
/// The file is read in pieces and checked as it goes: opening a large
/// mailbox holds its records and their names, not the file too.
/// `extra`: room to leave for records added later (the log's).
pub fn read_snapshot(dir: &Path, extra: usize) -> Result<(u64, MailboxIndex), SnapshotError> {
    read_snapshot_of_any_format(dir, extra).map(|(g, idx, _)| (g, idx))
}

/// [`read_snapshot`], and whether the file is in today's format (a
/// read-write open writes an older one again).
pub fn read_snapshot_of_any_format(
    dir: &Path,
    extra: usize,
) -> Result<(u64, MailboxIndex, bool), SnapshotError> {
    let file = match File::open(dir.join(SNAPSHOT_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(SnapshotError::Missing),
        Err(_) => return Err(SnapshotError::Corrupt),
    };
    let mut r = CheckedReader {
        inner: file,
        buf: Vec::with_capacity(64 << 10),
        pos: 0,
        sum: Checksum::Crc(crc32fast::Hasher::new()),
    };
    let mut magic = [0u8; 8];
    magic.copy_from_slice(r.peek(8).ok_or(SnapshotError::Corrupt)?);
    let current = &magic == SNAPSHOT_MAGIC;
    let parsed = match &magic {
        m if m == SNAPSHOT_MAGIC => {
            r.sum = Checksum::Xxh3(Box::default());
            read_v5(r, extra)
        }
        m if m == SNAPSHOT_MAGIC_V4 || m == SNAPSHOT_MAGIC_V3 => read_v4(&mut r, extra),
        _ => None,
    };
    let (generation, mut index) = parsed.ok_or(SnapshotError::Corrupt)?;
    // Written in UID order; a stable sort would allocate half the
    // records again as scratch space.
    if !index.records.is_sorted_by_key(|r| r.uid) {
        index.records.sort_unstable_by_key(|r| r.uid);
    }
    index.records.dedup_by_key(|r| r.uid);
    Ok((generation, index, current))
}

fn read_v5(mut r: CheckedReader<File>, extra: usize) -> D<(u64, MailboxIndex)> {
    let mut d = Dec {
        b: r.take(SNAPSHOT_HEAD_LEN)?,
        i: 8,
    };
    let generation = d.u64()?;
    let header = d.header()?;
    let n = d.u32()? as usize;
    let names_len = d.u32()? as usize;
    let n_sets = d.u32()? as usize;
    let sets_len = d.u32()? as usize;
    let floor = d.u64()?;
    let n_ranges = d.u32()? as usize;
    let names_sum = d.u64()?;
    // Counts are checked against the file's size before anything is
    // allocated from them.
    let size = r.inner.metadata().ok()?.len();
    let fixed = n.checked_mul(RECORD_LEN)?;
    let need = [names_len, sets_len, fixed, n_ranges.checked_mul(16)?, 8]
        .iter()
        .try_fold(SNAPSHOT_HEAD_LEN as u64, |a, &b| a.checked_add(b as u64))?;
    if need != size || n_ranges > Expunged::MAX_RANGES || n_sets > sets_len / 4 {
        return None;
    }
    // The names are skipped: read when one is needed (see NameBlock).
    let names = NameBlock::lazy(u32::try_from(names_len).ok()?);
    r.skip(names_len)?;
    let mut sets = Vec::with_capacity(n_sets);
    let mut d = Dec {
        b: r.take(sets_len)?,
        i: 0,
    };
    for _ in 0..n_sets {
        sets.push(d.keywords()?);
    }
    if d.i != sets_len {
        return None;
    }
    // Records, decoded piece by piece as they are read.
    let mut records = Vec::with_capacity(n + extra.min(1 << 20));
    let mut left = n;
    while left > 0 {
        let count = left.min(1024);
        for b in r.take(count * RECORD_LEN)?.chunks_exact(RECORD_LEN) {
            records.push(decode_record(b, &names, &sets)?);
        }
        left -= count;
    }
    let mut ranges = Vec::with_capacity(n_ranges);
    let mut d = Dec {
        b: r.take(n_ranges * 16)?,
        i: 0,
    };
    for _ in 0..n_ranges {
        ranges.push((d.u32()?, d.u32()?, d.u64()?));
    }
    let computed = r.sum.finish();
    let stored = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
    if computed != stored {
        return None;
    }
    names.attach(NameSource {
        file: r.inner,
        offset: SNAPSHOT_HEAD_LEN as u64,
        sum: names_sum,
    });
    Some((
        generation,
        MailboxIndex {
            header,
            records,
            expunged: Expunged { ranges, floor },
        },
    ))
}

/// One `IMAPDIX5` record (layout at [`encode_snapshot`]).
fn decode_record(b: &[u8], names: &Rc<NameBlock>, sets: &[Keywords]) -> D<MessageRecord> {
    let mut d = Dec { b, i: 0 };
    let uid = d.u32()?;
    let flags = Flags(d.u8()?);
    let text_is_raw = d.u8()? == 1;
    let tz_offset_minutes = d.u16()? as i16;
    let keywords = match d.u32()? as usize {
        0 => Keywords::default(),
        k => sets.get(k - 1)?.clone(),
    };
    let file = FileName::in_block(names, d.u32()?, d.u32()?)?;
    let cache_len = d.u32()?;
    let modseq = d.u64()?;
    let internal_date = d.u64()? as i64;
    let size = d.u64()?;
    let cache = CacheRef {
        offset: d.u64()?,
        len: cache_len,
    };
    let text = CacheRef {
        offset: d.u64()?,
        len: d.u32()?,
    };
    let _reserved = d.u32()?;
    Some(MessageRecord {
        uid,
        file,
        flags,
        keywords,
        modseq,
        internal_date,
        tz_offset_minutes,
        size,
        cache,
        text_is_raw,
        text,
        save_date: d.u64()? as i64,
    })
}

/// `IMAPDIX4` (and `IMAPDIX3`, the same without expunged UIDs): records
/// each length-prefixed, names and keywords inline; a CRC-32 at the end.
fn read_v4(r: &mut CheckedReader<File>, extra: usize) -> D<(u64, MailboxIndex)> {
    let head = r.take(8 + 8 + 20 + 4)?;
    let v3 = &head[..8] == SNAPSHOT_MAGIC_V3;
    let mut d = Dec { b: head, i: 8 };
    let generation = d.u64()?;
    let header = d.header()?;
    let n = d.u32()? as usize;
    let mut records = Vec::with_capacity(n.min(1 << 20) + extra.min(1 << 20));
    for _ in 0..n {
        let len = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
        let mut d = Dec {
            b: r.take(len)?,
            i: 0,
        };
        records.push(d.record()?);
        if d.i != len {
            return None;
        }
    }
    let expunged = if v3 {
        // Expunges before this snapshot are not known.
        Expunged {
            ranges: Vec::new(),
            floor: header.highest_modseq,
        }
    } else {
        let mut d = Dec {
            b: r.take(12)?,
            i: 0,
        };
        let floor = d.u64()?;
        let n = d.u32()? as usize;
        if n > Expunged::MAX_RANGES {
            return None;
        }
        let mut ranges = Vec::with_capacity(n);
        for _ in 0..n {
            let mut d = Dec {
                b: r.take(16)?,
                i: 0,
            };
            ranges.push((d.u32()?, d.u32()?, d.u64()?));
        }
        Expunged { ranges, floor }
    };
    let computed = r.sum.finish() as u32;
    let stored = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
    if computed != stored {
        return None;
    }
    Some((
        generation,
        MailboxIndex {
            header,
            records,
            expunged,
        },
    ))
}

/// The checksum a snapshot ends with: xxh3-64 since `IMAPDIX5`, CRC-32
/// before.
enum Checksum {
    Crc(crc32fast::Hasher),
    Xxh3(Box<xxhash_rust::xxh3::Xxh3>),
}

impl Checksum {
    fn update(&mut self, b: &[u8]) {
        match self {
            Checksum::Crc(h) => h.update(b),
            Checksum::Xxh3(h) => h.update(b),
        }
    }
    /// The sum of what was read so far.
    fn finish(&self) -> u64 {
        match self {
            Checksum::Crc(h) => u64::from(h.clone().finalize()),
            Checksum::Xxh3(h) => h.digest(),
        }
    }
}

/// Reads a file in 64 KiB pieces, hands out exact slices and checksums
/// them.
struct CheckedReader<R: Read> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    sum: Checksum,
}

impl<R: Read> CheckedReader<R> {
    /// Makes sure the next `n` bytes are in the buffer; false at the end
    /// of the file.
    fn fill(&mut self, n: usize) -> bool {
        if self.buf.len() - self.pos < n {
            self.buf.drain(..self.pos);
            self.pos = 0;
            // A corrupt length must not allocate: the buffer grows by
            // what the file holds, and reading stops at its end.
            while self.buf.len() < n {
                let have = self.buf.len();
                self.buf.resize(have + (64 << 10), 0);
                let got = self.inner.read(&mut self.buf[have..]).unwrap_or(0);
                self.buf.truncate(have + got);
                if got == 0 {
                    return false;
                }
            }
        }
        true
    }

    /// The next `n` bytes, not consumed (nor summed); `None` at the end.
    fn peek(&mut self, n: usize) -> Option<&[u8]> {
        self.fill(n).then(|| &self.buf[self.pos..self.pos + n])
    }

    /// Passes over the next `n` bytes (not summed); `None` past the end.
    fn skip(&mut self, n: usize) -> Option<()>
    where
        R: Seek,
    {
        let buffered = (self.buf.len() - self.pos).min(n);
        self.pos += buffered;
        if buffered < n {
            let rest = i64::try_from(n - buffered).ok()?;
            self.inner.seek(SeekFrom::Current(rest)).ok()?;
        }
        Some(())
    }

    /// The next `n` bytes; `None` at the end of the file.
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if !self.fill(n) {
            return None;
        }
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        self.sum.update(slice);
        Some(slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let r = MessageRecord {
            uid: 7,
            file: "1.a:2,S".into(),
            flags: Flags::SEEN.union(Flags::DRAFT),
            keywords: vec!["$Label1".into()].into(),
            modseq: 9,
            internal_date: -5,
            tz_offset_minutes: -420,
            size: 1234,
            cache: CacheRef {
                offset: 77,
                len: 900,
            },
            text_is_raw: true,
            text: CacheRef { offset: 9, len: 30 },
            save_date: 1_700_000_123,
        };
        // A record as written before SAVEDATE: read with save_date 0.
        let mut older = Enc::default();
        older.u8(2);
        older.record(&r);
        older.0.truncate(older.0.len() - 8);
        match decode_entry(&older.0) {
            Some(LogEntry::Add(back)) => assert_eq!(
                *back,
                MessageRecord {
                    save_date: 0,
                    ..r.clone()
                }
            ),
            other => panic!("{other:?}"),
        }
        for e in [
            LogEntry::Create { uidvalidity: 5 },
            LogEntry::Add(Box::new(r.clone())),
            LogEntry::Flags {
                uid: 7,
                flags: Flags::DELETED,
                keywords: vec![].into(),
                modseq: 10,
            },
            LogEntry::Expunge { uid: 7, modseq: 11 },
            LogEntry::RecentUid(7),
            LogEntry::UidNext(9),
        ] {
            assert_eq!(decode_entry(&encode_entry(&e)), Some(e));
        }
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(Flags::from_maildir_info("FSPRT").maildir_info(), "FRST");
    }
}

#[cfg(test)]
mod log_tests {
    use super::*;

    /// A crash leaves a torn entry; later appends follow it. Readers skip
    /// the torn bytes instead of stopping there for ever.
    #[test]
    fn expunged_uids_are_kept_bounded_and_never_under_reported() {
        let mut e = Expunged::default();
        e.add(5, 10);
        e.add(6, 11);
        e.add(9, 12);
        assert_eq!(e.ranges, vec![(5, 6, 11), (9, 9, 12)]);
        assert_eq!(e.since(0), Some(vec![5, 6, 9]));
        // 5 went at 10, but shares a range with 6: reported again.
        assert_eq!(e.since(10), Some(vec![5, 6, 9]));
        assert_eq!(e.since(11), Some(vec![9]));
        assert_eq!(e.since(12), Some(vec![]));
        // Full: the oldest range goes and the floor rises to its MODSEQ.
        let mut e = Expunged::default();
        for i in 0..=Expunged::MAX_RANGES as u32 {
            e.add(i * 2 + 1, u64::from(i) + 100);
        }
        assert_eq!(e.ranges.len(), Expunged::MAX_RANGES);
        assert_eq!(e.floor, 100);
        assert_eq!(e.since(99), None, "older than what is kept");
        assert_eq!(e.since(100).unwrap().len(), Expunged::MAX_RANGES);
    }

    #[test]
    fn snapshots_keep_expunged_uids_and_older_snapshots_still_read() {
        let t = tempfile::tempdir().unwrap();
        let mut idx = MailboxIndex::default();
        idx.apply(&LogEntry::Create { uidvalidity: 9 });
        for uid in 1..=3 {
            idx.apply(&LogEntry::Add(Box::new(MessageRecord {
                uid,
                file: format!("{uid}.x").into(),
                modseq: u64::from(uid) + 1,
                ..Default::default()
            })));
        }
        idx.apply(&LogEntry::Expunge { uid: 2, modseq: 7 });
        assert_eq!(idx.expunged.ranges, vec![(2, 2, 7)]);
        let data = encode_snapshot(&idx, 4);
        std::fs::write(t.path().join(SNAPSHOT_FILE), &data).unwrap();
        let (generation, back) = read_snapshot(t.path(), 0).unwrap();
        assert_eq!((generation, &back), (4, &idx));
        // Any byte changed, the file cut short or lengthened: corrupt.
        for at in [
            0,
            20,
            40,
            64,
            70,
            data.len() / 2,
            data.len() - 9,
            data.len() - 1,
        ] {
            let mut bad = data.clone();
            bad[at] ^= 0x40;
            std::fs::write(t.path().join(SNAPSHOT_FILE), &bad).unwrap();
            assert_eq!(
                read_snapshot(t.path(), 0),
                Err(SnapshotError::Corrupt),
                "byte {at}"
            );
        }
        // The names are checked when first read, not at open: damaged,
        // they read as no name at all, never as another one.
        let mut bad = data.clone();
        bad[SNAPSHOT_HEAD_LEN + 1] = b'9';
        std::fs::write(t.path().join(SNAPSHOT_FILE), &bad).unwrap();
        let (_, back) = read_snapshot(t.path(), 0).unwrap();
        assert!(!back.records[0].file.readable());
        assert_eq!(
            &*back.records[1].file,
            super::super::record::UNREADABLE_NAME
        );
        for bad in [
            &data[..data.len() - 1],
            &[&data[..], b"x"].concat()[..],
            &[][..],
        ] {
            std::fs::write(t.path().join(SNAPSHOT_FILE), bad).unwrap();
            assert_eq!(read_snapshot(t.path(), 0), Err(SnapshotError::Corrupt));
        }
        // A ceiling file that is damaged reads as none.
        write_modseq_ceiling(t.path(), 4242).unwrap();
        assert_eq!(read_modseq_ceiling(t.path()), 4242);
        std::fs::write(t.path().join(MODSEQ_FILE), b"garbage!1234").unwrap();
        assert_eq!(read_modseq_ceiling(t.path()), 0);
    }

    #[test]
    fn entries_after_a_torn_entry_are_read() {
        let t = tempfile::tempdir().unwrap();
        write_new_log(t.path(), 0, &[LogEntry::Create { uidvalidity: 7 }]).unwrap();
        let torn = frame_entries(&[LogEntry::UidNext(5)]);
        let path = t.path().join(LOG_FILE);
        let mut data = fs::read(&path).unwrap();
        data.extend_from_slice(&torn[..torn.len() - 1]);
        fs::write(&path, &data).unwrap();
        let r = read_log(&path, 0).unwrap().unwrap();
        assert!(r.torn_tail);
        assert_eq!(r.entries.len(), 1);
        append_log(t.path(), &[LogEntry::RecentUid(3)], true).unwrap();
        let r = read_log(&path, 0).unwrap().unwrap();
        assert!(!r.torn_tail);
        assert_eq!(
            r.entries,
            vec![LogEntry::Create { uidvalidity: 7 }, LogEntry::RecentUid(3)]
        );
        // Reading on from where the torn entry started finds the new one too.
        let again = read_log(&path, data.len() as u64 - torn.len() as u64 + 1).unwrap();
        assert_eq!(again.unwrap().entries, vec![LogEntry::RecentUid(3)]);
    }

    /// Replay: of two Adds for one UID the first wins, and a late Add below
    /// UIDNEXT (after an expunge) does not bring the UID back.
    #[test]
    fn late_add_for_a_taken_uid_is_dead() {
        let rec = |uid, file: &str| {
            LogEntry::Add(Box::new(MessageRecord {
                uid,
                file: file.into(),
                ..Default::default()
            }))
        };
        let mut idx = MailboxIndex::default();
        for e in [
            LogEntry::Create { uidvalidity: 1 },
            rec(1, "a"),
            LogEntry::Expunge { uid: 1, modseq: 3 },
            rec(1, "b"),
            rec(2, "c"),
            rec(2, "d"),
        ] {
            idx.apply(&e);
        }
        let files: Vec<&str> = idx.records.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(files, vec!["c"]);
        assert_eq!(idx.header.uidnext, 3);
    }
}

/// Every snapshot and log format a released guest wrote is read by this
/// one (hot swap and hibernation depend on it). The files in `golden/`
/// were written by the guest of their time and are never regenerated.
#[cfg(test)]
mod golden {
    use super::*;

    const IX3: &[u8] = include_bytes!("golden/ix3.index");
    const IX4: &[u8] = include_bytes!("golden/ix4.index");
    const LG2: &[u8] = include_bytes!("golden/lg2.log");

    /// What the golden snapshots hold: UIDs 1, 2, 4 (3 expunged at
    /// MODSEQ 9), written at generation 6.
    fn expected_record(uid: u32) -> MessageRecord {
        MessageRecord {
            uid,
            file: format!("1700000{uid}.M{uid}P9.host,S=12U{uid}V1700000000.imapd:2,").into(),
            flags: Flags(uid as u8 & 0x1f),
            keywords: match uid {
                1 => vec![],
                2 => vec!["$Forwarded".to_string(), "Junk".to_string()],
                _ => vec!["$label1".to_string()],
            }
            .into(),
            modseq: u64::from(uid) + 1,
            internal_date: 1_600_000_000 + i64::from(uid),
            tz_offset_minutes: if uid == 3 { -420 } else { 60 },
            size: 1000 + u64::from(uid),
            cache: CacheRef {
                offset: u64::from(uid) * 100,
                len: 90 + uid,
            },
            text_is_raw: uid.is_multiple_of(2),
            text: CacheRef {
                offset: u64::from(uid) * 7,
                len: uid,
            },
            save_date: if uid == 4 {
                0
            } else {
                1_700_000_100 + i64::from(uid)
            },
        }
    }

    fn read(bytes: &[u8]) -> (tempfile::TempDir, u64, MailboxIndex) {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(SNAPSHOT_FILE), bytes).unwrap();
        let (g, idx) = read_snapshot(t.path(), 0).unwrap();
        (t, g, idx)
    }

    #[test]
    fn every_snapshot_version_reads_and_converts() {
        let records: Vec<_> = [1, 2, 4].into_iter().map(expected_record).collect();
        let header = IndexHeader {
            uidvalidity: 1_700_000_000,
            uidnext: 5,
            highest_modseq: 9,
            recent_uid: 2,
        };
        let (_t, g, v4) = read(IX4);
        assert_eq!((g, v4.header, &v4.records), (6, header, &records));
        assert_eq!(v4.expunged.ranges, vec![(3, 3, 9)]);
        assert_eq!(v4.expunged.since(8), Some(vec![3]));
        let (_t, g, v3) = read(IX3);
        assert_eq!((g, v3.header, &v3.records), (6, header, &records));
        // IX3 kept no expunged UIDs: below its HIGHESTMODSEQ nothing is known.
        assert_eq!((v3.expunged.floor, v3.expunged.since(8)), (9, None));
        // Written again in today's format, the same index comes back.
        let (_t, g, v5) = read(&encode_snapshot(&v4, 7));
        assert_eq!((g, &v5), (7, &v4));
    }

    #[test]
    fn the_golden_log_replays_on_each_snapshot() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(LOG_FILE), LG2).unwrap();
        let log = read_log(&t.path().join(LOG_FILE), 0).unwrap().unwrap();
        assert_eq!(log.generation, 6);
        for snapshot in [IX3, IX4] {
            let (_t, _, mut idx) = read(snapshot);
            for e in &log.entries {
                idx.apply(e);
            }
            // The Add of UID 5 comes after UIDNEXT 6 was logged: dead.
            let uids: Vec<u32> = idx.records.iter().map(|r| r.uid).collect();
            assert_eq!(uids, vec![2, 4]);
            assert_eq!(idx.records[0].flags, Flags::SEEN);
            assert_eq!(idx.records[0].keywords, vec!["Junk".to_string()]);
            assert_eq!((idx.header.uidnext, idx.header.highest_modseq), (6, 11));
            assert_eq!(idx.header.recent_uid, 4);
        }
    }
}
