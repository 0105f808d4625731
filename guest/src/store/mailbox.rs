//! An open mailbox: the session's view of one Maildir folder and every
//! operation on its messages.
//!
//! Writes follow one pattern: take the host lock, catch up with the log
//! (other sessions' changes), do the work, append the log entries (fsync),
//! release. Reads (FETCH) need no lock: they use the in-memory records and
//! open message files directly.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::cache::{self, CacheReader, CacheRef};
use super::index::{
    self, Expunged, Flags, IndexHeader, LOG_FILE, LogEntry, MailboxIndex, MessageRecord,
    SNAPSHOT_FILE, SnapshotError,
};
use super::name::MailboxName;
use super::record::Keywords;
use super::sort_keys::{self, SortKeys};
use super::stage;
use super::{MailboxLocker, StoreError};
use crate::mime::MessageSummary;

/// Compaction into a new snapshot happens once the log is longer than
/// this and than an eighth of the snapshot: every open replays the log,
/// and a log entry costs far more to read than a snapshot record (it is
/// decoded, checked, boxed and copied), while a compaction is paid once.
const COMPACT_LOG_MIN_BYTES: u64 = 64 << 10;

/// Messages a scan imports per log commit (bounds the summaries held).
const IMPORT_BATCH: usize = 256;

/// Age after which an unlogged temp file of ours is an abandoned APPEND.
const STALE_TMP_SECS: u64 = 3600;
/// Where APPEND writes its messages before it takes the lock: inside
/// `tmp/`, so a rename moves them, but not in it: `tmp/`'s time, which
/// the scan mark watches, changes only when this directory is made, and
/// scans (which skip dot names) do not list it.
const STAGE_DIR: &str = ".stage";

/// A message given to APPEND (rfc3501 6.3.11).
#[derive(Debug, Clone)]
pub struct AppendMessage {
    /// The message exactly as the client sent it; stored byte for byte.
    pub data: Vec<u8>,
    pub flags: Flags,
    pub keywords: Vec<String>,
    /// INTERNALDATE (seconds, zone in minutes); None = now, UTC.
    pub internal_date: Option<(i64, i16)>,
}

/// A message on its way into a mailbox: its record, and its summary
/// (`cache::encode_summary`) for the cache.
pub(super) struct NewMessage {
    /// Put in its file name (`P<tag>`) when it is given its UID: an
    /// APPEND's staging token and the message's place in it, by which the
    /// APPEND finds its UIDs when another session committed it.
    pub(super) tag: Option<String>,
    pub(super) record: MessageRecord,
    pub(super) summary: Vec<u8>,
    /// Its `imapd.sort` entry, when it can be made now (`sort_keys`).
    pub(super) sort_key: Option<Vec<u8>>,
    /// `MessageSummary::decoded_text`, for `imapd.text`.
    pub(super) text: Option<Vec<u8>>,
}

/// An APPEND staged and not yet committed (`stage.rs`).
pub(super) struct Staging {
    token: String,
    pub(super) intent: PathBuf,
    pub(super) items: Vec<NewMessage>,
    /// UIDNEXT as this view knew it before the lock.
    seen_next: u32,
}

impl Staging {
    /// Removes what was staged (an APPEND that fails before its commit).
    fn discard(&self, tmp: &Path) {
        for m in &self.items {
            let _ = fs::remove_file(tmp.join(&m.record.file));
        }
        let _ = fs::remove_file(&self.intent);
    }
}

/// rfc4315 APPENDUID / COPYUID data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendUid {
    pub uidvalidity: u32,
    pub uids: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyUid {
    pub uidvalidity: u32,
    /// (source UID, destination UID), in source UID order.
    pub pairs: Vec<(u32, u32)>,
}

/// STORE's three forms (rfc3501 6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOperation {
    Replace,
    Add,
    Remove,
}

/// A message whose flags a STORE changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub seq: u32,
    pub uid: u32,
    pub flags: Flags,
    pub keywords: Keywords,
    pub modseq: u64,
}

/// What changed since the session last synced: what the IMAP layer sends
/// as untagged `EXPUNGE`, `EXISTS`, `RECENT` and `FETCH (FLAGS)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxChanges {
    /// (sequence number, UID) in the order to send them: each number is
    /// valid at the moment its `* n EXPUNGE` is sent (rfc3501 7.4.1).
    pub expunged: Vec<(u32, u32)>,
    /// EXISTS after the expunges, and whether it changed.
    pub exists: u32,
    pub exists_changed: bool,
    pub recent: u32,
    /// UIDs whose flags changed (other sessions), to report with FETCH FLAGS.
    pub flags_changed: Vec<u32>,
}

/// A session's view of a mailbox, as [`Mailbox::view`] captures it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MailboxView {
    pub uidvalidity: u32,
    /// UIDs in sequence-number order, as the session knows them.
    pub uids: Vec<u32>,
    /// UIDs that are \Recent in this session.
    pub recent: Vec<u32>,
    /// Flag changes not yet reported.
    pub flags_changed: Vec<u32>,
    /// The mailbox's HIGHESTMODSEQ the view reflects.
    pub highest_modseq: u64,
    /// The EXISTS count last reported.
    pub reported_exists: u32,
}

struct LockGuard<'a> {
    locker: &'a dyn MailboxLocker,
    name: &'a MailboxName,
}

impl<'a> LockGuard<'a> {
    fn take(locker: &'a dyn MailboxLocker, name: &'a MailboxName) -> Result<Self, StoreError> {
        locker.lock(name).map_err(StoreError::Io)?;
        Ok(LockGuard { locker, name })
    }
}
impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.locker.unlock(self.name);
    }
}

pub struct Mailbox {
    name: MailboxName,
    dir: PathBuf,
    locker: Rc<dyn MailboxLocker>,
    read_only: bool,
    /// Opened by SELECT: takes \Recent for the messages no session has
    /// seen (not for APPEND or COPY targets, nor EXAMINE).
    claims_recent: bool,
    /// The session's view, in sequence-number order (= UID order).
    records: Vec<MessageRecord>,
    header: IndexHeader,
    generation: u64,
    log_end: u64,
    /// The log has bytes after `log_end` that are not a valid entry.
    torn_tail: bool,
    /// Size of the snapshot (`imapd.index`) this view was loaded from.
    snapshot_len: u64,
    /// Expunged on disk by someone else, not yet reported to this session.
    expunged_unreported: HashSet<u32>,
    flags_changed: BTreeSet<u32>,
    recent: HashSet<u32>,
    reported_exists: u32,
    name_counter: u32,
    /// Expunged UIDs and their MODSEQs (QRESYNC).
    expunged: Expunged,
    /// `imapd.modseq` as last read or written by this view (0: not yet;
    /// read when a write needs it, so opening a mailbox does not).
    modseq_ceiling: u64,
    /// The rights (rfc4314 4) of the session that writes new messages
    /// here: COPY keeps `\Seen` only with `s`, `\Deleted` with `t`, the
    /// other flags and keywords with `w`.
    pub(crate) granted: crate::store::acl::Rights,
}

const MAILBOX_ID_FILE: &str = "imapd.mailboxid";

/// See [`Mailbox::mailbox_id`]: the id kept in `dir`, created if missing
/// (exclusively, so that two sessions asking at once agree).
pub fn mailbox_id(dir: &Path) -> Result<String, StoreError> {
    let path = dir.join(MAILBOX_ID_FILE);
    let valid = |s: &str| {
        s.len() == 25 && s.starts_with('F') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
    };
    // About a second of looking again at a file another session has just
    // made and not yet written.
    let mut patience = 200;
    let mut attempts = 0;
    while attempts < 3 {
        match fs::read_to_string(&path) {
            Ok(s) if valid(s.trim_end()) => return Ok(s.trim_end().to_string()),
            // Made a moment ago and not written yet: theirs, soon.
            Ok(_) if patience > 0 && age_secs(&path).is_some_and(|a| a < 2) => {
                patience -= 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            }
            // Damaged: replaced below.
            Ok(_) => {
                let _ = fs::remove_file(&path);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        attempts += 1;
        let id = format!(
            "F{:016x}{:08x}",
            index::random_u64(),
            index::random_u64() as u32
        );
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(format!("{id}\n").as_bytes())?;
                f.sync_all()?;
                return Ok(id);
            }
            // Someone else made it first: read theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Io(io::Error::other("cannot keep a mailbox id")))
}

pub(crate) fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(_) => (0, 0),
    }
}

/// Seconds since `path` was last modified (`None`: unknown, or in the
/// future).
fn age_secs(path: &Path) -> Option<u64> {
    let modified = fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(SystemTime::now().duration_since(modified).ok()?.as_secs())
}

/// Base of a Maildir file name (before `:2,`).
fn base_of(file: &str) -> &str {
    file.split_once(':').map_or(file, |(b, _)| b)
}

/// `...U<uid>V<uidvalidity>.imapd` in names we create.
fn our_uid(base: &str, uidvalidity: u32) -> Option<u32> {
    let rest = base.strip_suffix(".imapd")?;
    let (_, tail) = rest.rsplit_once('U')?;
    let (uid, v) = tail.split_once('V')?;
    (v.parse::<u32>().ok()? == uidvalidity)
        .then(|| uid.parse().ok())
        .flatten()
}

/// True if `data` has a LF not preceded by CR.
fn has_bare_lf(data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || data[i - 1] != b'\r'))
}

fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = match e {
                    Ok(e) => e,
                    // Moved away while listed (another session's commit
                    // or scan): WASI looks at each entry as it lists it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if let Some(n) = e.file_name().to_str()
                    && !n.starts_with('.')
                {
                    out.push(n.to_string());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(out)
}

/// Modification times of a mailbox's `new/`, `cur/` and `tmp/`, and the
/// copy kept in `imapd.scan` by the last scan that found them settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirStamps {
    new: (u64, u32),
    cur: (u64, u32),
    tmp: (u64, u32),
}

const SCAN_MARK_FILE: &str = "imapd.scan";
/// A directory time younger than this may still be the time of a change
/// made after it was read (file systems stamp with a coarse clock).
const SETTLE_NANOS: u128 = 100_000_000;
/// The same where times have whole seconds only.
const SETTLE_NANOS_COARSE: u128 = 2_000_000_000;

impl DirStamps {
    fn read(dir: &Path) -> Option<DirStamps> {
        let stamp = |sub: &str| -> Option<(u64, u32)> {
            let t = fs::metadata(dir.join(sub)).ok()?.modified().ok()?;
            let d = t.duration_since(UNIX_EPOCH).ok()?;
            Some((d.as_secs(), d.subsec_nanos()))
        };
        Some(DirStamps {
            new: stamp("new")?,
            cur: stamp("cur")?,
            tmp: stamp("tmp")?,
        })
    }

    /// Whether a mark of these stamps can be trusted: a change to `new/`
    /// made after they were read must show in its time. `new/` is where
    /// other programs (MTAs) write without our lock, so its time must be
    /// older than the clock's granularity. `cur/` and `tmp/` change under
    /// the mailbox lock (imapd sessions), which every mark is taken under.
    fn settled(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let (secs, nanos) = self.new;
        let settle = if nanos == 0 {
            SETTLE_NANOS_COARSE
        } else {
            SETTLE_NANOS
        };
        u128::from(secs) * 1_000_000_000 + u128::from(nanos) + settle < now
    }

    fn load_mark(dir: &Path) -> Option<DirStamps> {
        let text = fs::read_to_string(dir.join(SCAN_MARK_FILE)).ok()?;
        let v: Vec<u64> = text
            .split_ascii_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let [a, b, c, d, e, f] = v[..] else {
            return None;
        };
        Some(DirStamps {
            new: (a, b as u32),
            cur: (c, d as u32),
            tmp: (e, f as u32),
        })
    }

    /// A hint, not state: not fsync'd, and anything unreadable means "scan".
    fn save_mark(&self, dir: &Path) {
        let text = format!(
            "{} {} {} {} {} {}\n",
            self.new.0, self.new.1, self.cur.0, self.cur.1, self.tmp.0, self.tmp.1
        );
        let _ = fs::write(dir.join(SCAN_MARK_FILE), text);
    }
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

impl Mailbox {
    /// Opens the mailbox in `dir` (which must have `cur/`). Loads the index,
    /// finishes interrupted operations, imports new mail, and (read-write)
    /// claims \Recent.
    pub(crate) fn open(
        dir: PathBuf,
        name: MailboxName,
        locker: Rc<dyn MailboxLocker>,
        read_only: bool,
        claims_recent: bool,
        new_uidvalidity: &dyn Fn() -> io::Result<u32>,
    ) -> Result<Mailbox, StoreError> {
        let mut mbox = Mailbox {
            name,
            dir,
            locker,
            read_only,
            claims_recent: claims_recent && !read_only,
            records: Vec::new(),
            header: IndexHeader::default(),
            generation: 0,
            log_end: 0,
            torn_tail: false,
            snapshot_len: 0,
            expunged_unreported: HashSet::new(),
            flags_changed: BTreeSet::new(),
            recent: HashSet::new(),
            reported_exists: 0,
            name_counter: 0,
            expunged: Expunged::default(),
            modseq_ceiling: 0,
            granted: crate::store::acl::Rights::ALL,
        };
        let locker = mbox.locker.clone();
        let name = mbox.name.clone();
        let _g = LockGuard::take(&*locker, &name).map_err(|e| e.during("locking"))?;
        let outdated = mbox
            .load(new_uidvalidity)
            .map_err(|e| e.during("reading the index"))?;
        match mbox.scan() {
            // A read-only view of a directory it may not write (a mailbox
            // another user shares read-only): new mail there waits for a
            // session that may import it; the index is what it shows.
            Err(e) if mbox.read_only && e.is_denied() => {}
            r => r.map_err(|e| e.during("scanning the directories"))?,
        }
        // Nothing has been reported yet: vanished messages just disappear.
        let gone = std::mem::take(&mut mbox.expunged_unreported);
        mbox.records.retain(|r| !gone.contains(&r.uid));
        mbox.claim_recent()
            .map_err(|e| e.during("claiming \\Recent"))?;
        mbox.reported_exists = mbox.records.len() as u32;
        mbox.flags_changed.clear();
        if outdated && !mbox.read_only {
            // Written by an older guest: today's format opens faster.
            mbox.compact()?;
        }
        Ok(mbox)
    }

    /// Loads snapshot + log from disk (lock held), repairing as needed;
    /// true if the snapshot is in an older guest's format.
    fn load(&mut self, new_uidvalidity: &dyn Fn() -> io::Result<u32>) -> Result<bool, StoreError> {
        let mut outdated = false;
        // The log first: the records it adds get room up front (growing a
        // large Vec later would double it, and a guest's memory never
        // shrinks).
        let log = index::read_log(&self.dir.join(LOG_FILE), 0)?;
        let adds = log.as_ref().map_or(0, |l| {
            l.entries
                .iter()
                .filter(|e| matches!(e, LogEntry::Add(_)))
                .count()
        });
        self.snapshot_len = fs::metadata(self.dir.join(SNAPSHOT_FILE)).map_or(0, |m| m.len());
        // No snapshot yet: the log (of whatever generation) is everything.
        let (mut generation, mut idx, any_generation, log) =
            match index::read_snapshot_of_any_format(&self.dir, adds) {
                Ok((g, idx, current)) => {
                    outdated = !current;
                    (g, idx, false, log)
                }
                Err(SnapshotError::Missing) => (0, MailboxIndex::with_capacity(adds), true, log),
                Err(SnapshotError::Corrupt) => {
                    // Rebuild from the files; UIDs are reassigned, so
                    // UIDVALIDITY changes (the log alone is not the index).
                    // MODSEQs go on above every one handed out before.
                    let _ = fs::remove_file(self.dir.join(SNAPSHOT_FILE));
                    let _ = fs::remove_file(self.dir.join(LOG_FILE));
                    // The scan mark describes directories the lost index
                    // knew: without it the rebuild lists them.
                    let _ = fs::remove_file(self.dir.join(SCAN_MARK_FILE));
                    let mut idx = MailboxIndex::default();
                    self.modseq_ceiling = index::read_modseq_ceiling(&self.dir);
                    idx.header.highest_modseq = self.modseq_ceiling;
                    (0, idx, true, None)
                }
            };
        let mut log_end = 0;
        let mut log_ok = false;
        if let Some(log) = log
            && (log.generation == generation || any_generation)
            && log.end >= index::LOG_HEADER_LEN
        {
            generation = log.generation;
            for e in &log.entries {
                idx.apply(e);
            }
            // A torn tail is cut off by the next write (see `commit_with`).
            log_end = log.end;
            self.torn_tail = log.torn_tail;
            log_ok = true;
        }
        if idx.header.uidvalidity == 0 {
            let v = new_uidvalidity()?;
            idx.apply(&LogEntry::Create { uidvalidity: v });
        }
        if !log_ok {
            // Log missing, unreadable or from an older generation: start a
            // fresh one holding the state we have.
            let mut entries = vec![LogEntry::Create {
                uidvalidity: idx.header.uidvalidity,
            }];
            // Adds first: an Add below UIDNEXT would be dead on replay.
            if generation == 0 {
                entries.extend(
                    idx.records
                        .iter()
                        .map(|r| LogEntry::Add(Box::new(r.clone()))),
                );
            }
            entries.push(LogEntry::UidNext(idx.header.uidnext));
            entries.push(LogEntry::RecentUid(idx.header.recent_uid));
            log_end = index::write_new_log(&self.dir, generation, &entries)?;
        }
        self.header = idx.header;
        self.records = idx.records;
        self.expunged = idx.expunged;
        self.generation = generation;
        self.log_end = log_end;
        Ok(outdated)
    }

    // ---- accessors for FETCH / STATUS / SELECT ---------------------------

    /// The mailbox's directory in the mail tree.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn name(&self) -> &MailboxName {
        &self.name
    }
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
    pub fn uid_validity(&self) -> u32 {
        self.header.uidvalidity
    }
    pub fn uid_next(&self) -> u32 {
        self.header.uidnext
    }
    pub fn highest_modseq(&self) -> u64 {
        self.header.highest_modseq
    }
    /// EXISTS as this session knows it.
    pub fn exists(&self) -> u32 {
        self.records.len() as u32
    }
    pub fn recent_count(&self) -> u32 {
        self.recent.len() as u32
    }
    pub(crate) fn header_recent_uid(&self) -> u32 {
        self.header.recent_uid
    }
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.contains(&uid)
    }
    /// Messages in sequence order: `records()[seq - 1]`.
    pub fn records(&self) -> &[MessageRecord] {
        &self.records
    }
    pub fn by_seq(&self, seq: u32) -> Option<&MessageRecord> {
        self.records.get((seq as usize).checked_sub(1)?)
    }
    pub fn seq_of_uid(&self, uid: u32) -> Option<u32> {
        self.records
            .binary_search_by_key(&uid, |r| r.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }
    /// Expunged by another session and not yet reported to this one: the
    /// message keeps its place in the view (rfc3501 7.4.1) but takes no
    /// more changes.
    pub fn is_expunged_unreported(&self, uid: u32) -> bool {
        self.expunged_unreported.contains(&uid)
    }
    pub fn by_uid(&self, uid: u32) -> Option<&MessageRecord> {
        self.seq_of_uid(uid).and_then(|s| self.by_seq(s))
    }
    /// rfc3501 7.1 UNSEEN: first message without \Seen.
    pub fn first_unseen_seq(&self) -> Option<u32> {
        self.records
            .iter()
            .position(|r| !r.flags.contains(Flags::SEEN))
            .map(|i| i as u32 + 1)
    }
    pub fn unseen_count(&self) -> u32 {
        self.records
            .iter()
            .filter(|r| !r.flags.contains(Flags::SEEN))
            .count() as u32
    }
    /// Messages with \Deleted (STATUS DELETED, rfc9051 6.3.11).
    pub fn deleted_count(&self) -> u32 {
        self.records
            .iter()
            .filter(|r| r.flags.contains(Flags::DELETED))
            .count() as u32
    }

    /// Sum of the RFC822.SIZE of the messages with \Deleted (rfc9208
    /// STATUS DELETED-STORAGE).
    pub fn deleted_size(&self) -> u64 {
        self.records
            .iter()
            .filter(|r| r.flags.contains(Flags::DELETED))
            .map(|r| r.size)
            .sum()
    }

    /// Sum of RFC822.SIZE (STATUS SIZE, rfc8438).
    pub fn total_size(&self) -> u64 {
        self.records.iter().map(|r| r.size).sum()
    }
    /// Path of a message file (for streaming BODY[]).
    pub fn message_path(&self, record: &MessageRecord) -> PathBuf {
        self.dir.join("cur").join(&record.file)
    }
    /// Opens a message for streaming. One whose APPEND was logged but
    /// not moved into `cur/` (the writer died in between; the next full
    /// scan finishes the move) is read from `tmp/`.
    pub fn open_message(&self, record: &MessageRecord) -> io::Result<File> {
        match File::open(self.message_path(record)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && !record.file.is_empty() => {
                File::open(self.dir.join("tmp").join(&record.file)).map_err(|_| e)
            }
            other => other,
        }
    }
    /// Reads a whole message (section extraction, SEARCH BODY/TEXT).
    pub fn read_message(&self, record: &MessageRecord) -> io::Result<Vec<u8>> {
        let mut f = self.open_message(record)?;
        let mut v = Vec::with_capacity(record.size as usize);
        f.read_to_end(&mut v)?;
        Ok(v)
    }

    // ---- writing ---------------------------------------------------------

    fn next_modseq(&mut self) -> u64 {
        self.header.highest_modseq += 1;
        self.header.highest_modseq
    }

    /// Appends entries to the log (fsync) and reads the log back up to and
    /// past them, applying them and whatever other sessions logged before
    /// them, in log order (the order every session replays). Returns the
    /// `Add` entries that did not take effect: another session took their
    /// UID first, so the caller must retry them under a new UID. Other
    /// entries that were not found (a concurrent compaction replaced the
    /// log under the write) are appended again.
    fn commit(&mut self, entries: &[LogEntry]) -> Result<Vec<MessageRecord>, StoreError> {
        self.commit_with(entries, true)
    }

    /// [`commit`](Self::commit); `durable: false` skips the fsync (for
    /// entries a crash may lose without harm).
    fn commit_with(
        &mut self,
        entries: &[LogEntry],
        durable: bool,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut todo: Vec<LogEntry> = entries.to_vec();
        let mut dead = Vec::new();
        for _ in 0..8 {
            if self.torn_tail {
                // Writers hold the mailbox lock, so bytes after the last
                // valid entry are what a writer that died left: cut them
                // off, or they could combine with the entry written next
                // into something that decodes.
                index::truncate_log(&self.dir, self.log_end)?;
                self.torn_tail = false;
            }
            self.reserve_modseqs(&todo)?;
            index::append_log(&self.dir, &todo, durable)?;
            let missing = self.catch_up_own(&todo)?;
            todo = Vec::new();
            for e in missing {
                match e {
                    LogEntry::Add(r) => {
                        if self.by_uid(r.uid).is_some_and(|x| x.file == r.file) {
                            continue; // found through a reload
                        }
                        dead.push(*r);
                    }
                    e => todo.push(e),
                }
            }
            if todo.is_empty() {
                break;
            }
        }
        if !todo.is_empty() {
            return Err(StoreError::Io(io::Error::other(
                "log entries did not persist",
            )));
        }
        if self.log_end > COMPACT_LOG_MIN_BYTES.max(self.snapshot_len / 8) {
            // The caller takes its own expunged records out of the view
            // only after this returns: the snapshot must leave them out
            // already, or it would bring them back (with their files
            // gone) and drop the log entries that expunged them. The
            // stress tester found messages a MOVE had reported expunged
            // still in the source mailbox.
            let expunging: HashSet<u32> = entries
                .iter()
                .filter_map(|e| match e {
                    LogEntry::Expunge { uid, .. } => Some(*uid),
                    _ => None,
                })
                .collect();
            self.compact_leaving_out(&expunging)?;
        }
        Ok(dead)
    }

    /// Keeps `imapd.modseq` above every MODSEQ in `entries` before they
    /// are logged (lock held).
    fn reserve_modseqs(&mut self, entries: &[LogEntry]) -> Result<(), StoreError> {
        let top = entries
            .iter()
            .map(|e| match e {
                LogEntry::Add(r) => r.modseq,
                LogEntry::Flags { modseq, .. } | LogEntry::Expunge { modseq, .. } => *modseq,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        if top > self.modseq_ceiling {
            // Another session may have raised it meanwhile.
            self.modseq_ceiling = index::read_modseq_ceiling(&self.dir);
            if top > self.modseq_ceiling {
                let ceiling = top + index::MODSEQ_RESERVE;
                index::write_modseq_ceiling(&self.dir, ceiling)?;
                self.modseq_ceiling = ceiling;
            }
        }
        Ok(())
    }

    /// The mailbox's MAILBOXID (rfc8474 4): `F` and 24 hex digits, made
    /// the first time it is asked for and kept in `imapd.mailboxid` in the
    /// mailbox's directory, so it follows the mailbox through RENAME and a
    /// mailbox created again under an old name gets a new one.
    pub fn mailbox_id(&self) -> Result<String, StoreError> {
        mailbox_id(&self.dir)
    }

    /// UIDs expunged after `modseq` (rfc7162 3.2.5.1), sorted; `None` if
    /// that is older than the expunges the index keeps (see
    /// [`index::Expunged`]): the caller then takes every UID that is not
    /// in the mailbox as vanished.
    pub fn vanished_since(&self, modseq: u64) -> Option<Vec<u32>> {
        self.expunged.since(modseq)
    }

    /// Fails if the snapshot's file names cannot be read (they are read
    /// on first use; see [`super::record::NameBlock`]): what compares
    /// them with the directories, or writes them again, must not go on
    /// with names it does not have.
    fn check_names(&self) -> Result<(), StoreError> {
        let mut last: Option<&Rc<super::record::NameBlock>> = None;
        for r in &self.records {
            let block = r.file.block();
            if last.is_some_and(|l| Rc::ptr_eq(l, block)) {
                continue;
            }
            if !block.readable() {
                return Err(StoreError::Io(io::Error::other(format!(
                    "{}: the file names in {SNAPSHOT_FILE} are damaged; reconstruct the mailbox",
                    self.dir.display()
                ))));
            }
            last = Some(block);
        }
        Ok(())
    }

    /// Writes the disk state as a new snapshot and starts an empty log.
    /// The cache files are rewritten too once half of them is garbage.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.compact_leaving_out(&HashSet::new())
    }

    /// [`compact`](Self::compact) without the records of `expunging`
    /// (expunged by this session's last commit, still in the view).
    fn compact_leaving_out(&mut self, expunging: &HashSet<u32>) -> Result<(), StoreError> {
        self.catch_up()?;
        self.check_names()?;
        let mut disk = MailboxIndex {
            header: self.header,
            records: self
                .records
                .iter()
                .filter(|r| {
                    !self.expunged_unreported.contains(&r.uid) && !expunging.contains(&r.uid)
                })
                .cloned()
                .collect(),
            expunged: self.expunged.clone(),
        };
        let fields: [(&'static str, cache::RefField); 2] = [
            (cache::CACHE_FILE, |r| &mut r.cache),
            (cache::TEXT_FILE, |r| &mut r.text),
        ];
        for (name, field) in fields {
            if cache::compact_file(&self.dir, name, &mut disk.records, field)? {
                for d in &mut disk.records {
                    if let Ok(pos) = self.records.binary_search_by_key(&d.uid, |r| r.uid) {
                        *field(&mut self.records[pos]) = *field(d);
                    }
                }
            }
        }
        let generation = self.generation + 1;
        let snapshot = index::encode_snapshot(&disk, generation);
        index::write_atomically(&self.dir.join(SNAPSHOT_FILE), &snapshot)?;
        self.snapshot_len = snapshot.len() as u64;
        self.log_end = index::write_new_log(&self.dir, generation, &[])?;
        self.generation = generation;
        Ok(())
    }

    /// Catches up with other sessions' changes; `UidValidityChanged` if
    /// the mailbox was re-created since this view was opened.
    pub(crate) fn refresh(&mut self) -> Result<(), StoreError> {
        self.catch_up()
    }

    /// Reads other sessions' log entries into the view (lock not required
    /// for correctness of reading; a half-written tail is simply not read yet).
    fn catch_up(&mut self) -> Result<(), StoreError> {
        self.catch_up_own(&[]).map(|_| ())
    }

    /// `catch_up`, recognising `own` (just appended by this session, in
    /// this order) among the entries: those change the view without being
    /// reported as other sessions' changes. Returns the own entries that
    /// were not found, or (Adds) found dead.
    fn catch_up_own(&mut self, own: &[LogEntry]) -> Result<Vec<LogEntry>, StoreError> {
        let log = index::read_log(&self.dir.join(LOG_FILE), self.log_end)?;
        let same_generation = log
            .as_ref()
            .is_some_and(|l| l.generation == self.generation);
        if !same_generation {
            self.reload()?;
            return Ok(own.to_vec());
        }
        let Some(log) = log else {
            return Ok(own.to_vec());
        };
        let mut next_own = 0;
        let mut missing = Vec::new();
        for e in &log.entries {
            if next_own < own.len() && *e == own[next_own] {
                next_own += 1;
                if !self.apply_own(e) {
                    missing.push(e.clone());
                }
            } else {
                self.apply_foreign(e);
            }
        }
        missing.extend(own[next_own..].iter().cloned());
        self.log_end = log.end;
        self.torn_tail = log.torn_tail;
        Ok(missing)
    }

    /// Applies an entry this session wrote; false for a dead Add.
    fn apply_own(&mut self, e: &LogEntry) -> bool {
        let h = &mut self.header;
        match e {
            LogEntry::Add(r) => return index::apply_add(h, &mut self.records, r),
            LogEntry::Flags {
                uid,
                flags,
                keywords,
                modseq,
            } => {
                index::apply_flags(h, &mut self.records, *uid, *flags, keywords, *modseq);
            }
            // The caller takes expunged records out of the view itself.
            LogEntry::Expunge { uid, modseq } => {
                h.highest_modseq = h.highest_modseq.max(*modseq);
                self.expunged.add(*uid, *modseq);
            }
            LogEntry::Create { .. } => {}
            LogEntry::RecentUid(u) => h.recent_uid = h.recent_uid.max(*u),
            LogEntry::UidNext(u) => h.uidnext = h.uidnext.max(*u),
        }
        true
    }

    fn apply_foreign(&mut self, e: &LogEntry) {
        let h = &mut self.header;
        match e {
            // A dead Add lost a UID race: dead for every reader.
            LogEntry::Add(r) => {
                index::apply_add(h, &mut self.records, r);
            }
            LogEntry::Flags {
                uid,
                flags,
                keywords,
                modseq,
            } => {
                if index::apply_flags(h, &mut self.records, *uid, *flags, keywords, *modseq) {
                    self.flags_changed.insert(*uid);
                }
            }
            LogEntry::Expunge { uid, modseq } => {
                h.highest_modseq = h.highest_modseq.max(*modseq);
                self.expunged.add(*uid, *modseq);
                if self.records.binary_search_by_key(uid, |x| x.uid).is_ok() {
                    self.expunged_unreported.insert(*uid);
                }
            }
            LogEntry::Create { .. } => {}
            LogEntry::RecentUid(u) => h.recent_uid = h.recent_uid.max(*u),
            LogEntry::UidNext(u) => h.uidnext = h.uidnext.max(*u),
        }
    }

    /// The log was compacted by someone else: reload and diff.
    fn reload(&mut self) -> Result<(), StoreError> {
        let snapshot = index::read_snapshot(&self.dir, 0);
        let Some(log) = index::read_log(&self.dir.join(LOG_FILE), 0)? else {
            return Ok(());
        };
        let (generation, mut idx) = match snapshot {
            Ok(x) => x,
            // A mailbox never compacted (or re-created under this session).
            Err(SnapshotError::Missing) => (log.generation, MailboxIndex::default()),
            Err(SnapshotError::Corrupt) => (0, MailboxIndex::default()),
        };
        if log.generation != generation {
            return Ok(()); // compaction in progress elsewhere; try again later
        }
        for e in &log.entries {
            idx.apply(e);
        }
        if idx.header.uidvalidity != self.header.uidvalidity {
            return Err(StoreError::UidValidityChanged);
        }
        let disk: HashMap<u32, &MessageRecord> = idx.records.iter().map(|r| (r.uid, r)).collect();
        for r in &self.records {
            match disk.get(&r.uid) {
                None => {
                    self.expunged_unreported.insert(r.uid);
                }
                Some(d) if d.flags != r.flags || d.keywords != r.keywords => {
                    self.flags_changed.insert(r.uid);
                }
                _ => {}
            }
        }
        for r in &mut self.records {
            if let Some(d) = disk.get(&r.uid) {
                r.flags = d.flags;
                r.keywords = d.keywords.clone();
                r.modseq = d.modseq;
                // A compaction may have moved its summary and text.
                r.cache = d.cache;
                r.text = d.text;
            }
        }
        let known: HashSet<u32> = self.records.iter().map(|r| r.uid).collect();
        for r in &idx.records {
            if !known.contains(&r.uid) {
                self.records.push(r.clone());
            }
        }
        self.records.sort_by_key(|r| r.uid);
        self.header = idx.header;
        self.expunged = idx.expunged;
        self.generation = generation;
        self.log_end = log.end;
        Ok(())
    }

    /// Maildir scan (lock held), skipped when `new/`, `cur/` and `tmp/` are
    /// as the last complete scan (or this store's own writes since) left
    /// them: other sessions' changes come through the log, so only a
    /// change to the directories by something else (an MTA delivering into
    /// `new/`, a crashed APPEND, another program) needs the listing.
    fn scan(&mut self) -> Result<(), StoreError> {
        let before = DirStamps::read(&self.dir);
        if before.is_some() && before == DirStamps::load_mark(&self.dir) {
            return self.catch_up();
        }
        let clean = self.full_scan()?;
        // The stamps from before the scan: if the scan (or anyone) changed
        // a directory, the next sync lists it once more and finds nothing.
        // Only settled stamps are kept: a change within the file system's
        // timestamp granularity after the read would leave them equal.
        if clean && let Some(b) = before.filter(DirStamps::settled) {
            b.save_mark(&self.dir);
        }
        Ok(())
    }

    /// The scan mark, if it is current: taken before this store changes
    /// the directories itself, so that [`renew_scan_mark`](Self::renew_scan_mark)
    /// can move it past its own changes.
    fn current_scan_mark(&self) -> Option<DirStamps> {
        let now = DirStamps::read(&self.dir)?;
        (Some(now) == DirStamps::load_mark(&self.dir)).then_some(now)
    }

    /// After this store's own changes to `tmp/` and `cur/` (lock held): if
    /// the mark was current before them and `new/` did not change
    /// meanwhile, the mark covers the new state, so the next sync does
    /// not list the mailbox for changes it made itself.
    fn renew_scan_mark(&self, before: Option<DirStamps>) {
        if let Some(before) = before
            && let Some(after) = DirStamps::read(&self.dir)
            && after.new == before.new
        {
            after.save_mark(&self.dir);
        }
    }

    /// The scan itself (see [`scan`](Self::scan)): delivers `new/` into
    /// `cur/`, imports files without index entries, rolls interrupted
    /// appends forward and expunges files that vanished. False if some
    /// import must be retried.
    fn full_scan(&mut self) -> Result<bool, StoreError> {
        self.check_names()?;
        let cur = self.dir.join("cur");
        let new = self.dir.join("new");
        let tmp = self.dir.join("tmp");
        for f in list_dir(&new)? {
            // Maildir spec: move to cur/ adding the info part.
            let target = if f.contains(':') {
                f.clone()
            } else {
                format!("{f}:2,")
            };
            match fs::rename(new.join(&f), cur.join(&target)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        let tmp_files: HashSet<String> = list_dir(&tmp)?.into_iter().collect();
        let cur_files = list_dir(&cur)?;
        // Other sessions log a message before its file reaches cur/: read
        // the log after listing, so every file listed that one of them
        // added is known by now.
        self.catch_up()?;
        let mut by_base: HashMap<&str, &str> = HashMap::with_capacity(cur_files.len());
        for f in &cur_files {
            by_base.insert(base_of(f), f);
        }
        let mut entries = Vec::new();
        let mut known: HashSet<String> = HashSet::with_capacity(self.records.len());
        let mut renamed: Vec<(u32, String)> = Vec::new();
        let mut vanished = Vec::new();
        for r in &self.records {
            let base = base_of(&r.file).to_string();
            if self.expunged_unreported.contains(&r.uid) {
                known.insert(base);
                continue;
            }
            match by_base.get(base.as_str()) {
                Some(actual) => {
                    if **actual != *r.file {
                        renamed.push((r.uid, actual.to_string()));
                    }
                }
                // Not in cur/ when listed. The listings may predate the
                // entry (caught up since): look again, tmp/ first, as the
                // file moves from there to cur/.
                None if tmp_files.contains(&*r.file) || tmp.join(&r.file).exists() => {
                    // Logged, not yet in cur/: an append that crashed before
                    // its rename, or one another session is finishing now.
                    match fs::rename(tmp.join(&r.file), cur.join(&r.file)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                None if cur.join(&r.file).exists() => {} // arrived since listing
                None => vanished.push(r.uid),
            }
            known.insert(base);
        }
        for (uid, file) in renamed {
            if let Ok(pos) = self.records.binary_search_by_key(&uid, |x| x.uid) {
                self.records[pos].file = file.into();
            }
        }
        // Temp files of ours that were never logged: an APPEND that died, or
        // one another session is writing right now. Only old ones are garbage.
        for f in &tmp_files {
            if base_of(f).ends_with(".imapd")
                && !known.contains(base_of(f))
                && age_secs(&tmp.join(f)).is_some_and(|age| age > STALE_TMP_SECS)
            {
                let _ = fs::remove_file(tmp.join(f));
            }
        }
        // Staged by an APPEND that died before it took the lock.
        for f in list_dir(&tmp.join(STAGE_DIR))? {
            let path = tmp.join(STAGE_DIR).join(&f);
            if age_secs(&path).is_some_and(|age| age > STALE_TMP_SECS) {
                let _ = fs::remove_file(path);
            }
        }
        for uid in vanished {
            let modseq = self.next_modseq();
            entries.push(LogEntry::Expunge { uid, modseq });
        }
        // Files without index entries. Ours (current UIDVALIDITY) were
        // logged before they reached cur/: one below UIDNEXT that the index
        // does not hold was expunged (another session deletes the file
        // right after logging... or before: it is gone either way) and must
        // not come back. One at or above UIDNEXT lost its log entry (a
        // damaged log): import it. Others are new mail. Imports get UIDs
        // above every UID seen in a file name, oldest file first.
        let mut unknown: Vec<&String> = Vec::new();
        let mut floor = self.header.uidnext;
        for f in cur_files.iter().filter(|f| !known.contains(base_of(f))) {
            match our_uid(base_of(f), self.header.uidvalidity) {
                Some(u) if u < self.header.uidnext => {}
                Some(u) => {
                    floor = floor.max(u.saturating_add(1));
                    unknown.push(f);
                }
                None => unknown.push(f),
            }
        }
        unknown.sort();
        if floor > self.header.uidnext {
            entries.push(LogEntry::UidNext(floor));
        }
        let mut uid = floor;
        let mut batch: Vec<NewMessage> = Vec::new();
        let mut clean = true;
        for f in unknown {
            let path = cur.join(f);
            let Ok(mut data) = fs::read(&path) else {
                continue;
            };
            let mtime = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            if has_bare_lf(&data) {
                // Served with CRLF: convert once, atomically, on import.
                data = to_crlf(&data);
                let t = tmp.join(format!("{}.{}.crlf", base_of(f), index::unique_token()));
                write_synced(&t, &data)?;
                fs::rename(&t, &path)?;
            }
            let info = f.split_once(":2,").map_or("", |(_, i)| i);
            let modseq = self.next_modseq();
            batch.push(self.make_record(
                uid,
                f.to_string(),
                &data,
                Flags::from_maildir_info(info),
                Vec::new(),
                modseq,
                (mtime, 0),
            ));
            uid += 1;
            if batch.len() >= IMPORT_BATCH {
                clean &= self.log_scan_results(&mut entries, &mut batch)?;
            }
        }
        clean &= self.log_scan_results(&mut entries, &mut batch)?;
        Ok(clean)
    }

    /// Logs what a scan found (expunges, UIDNEXT, imports with their
    /// summaries cached); false if an import lost its UID to another
    /// session (a later scan finds the file again).
    fn log_scan_results(
        &mut self,
        entries: &mut Vec<LogEntry>,
        imports: &mut Vec<NewMessage>,
    ) -> Result<bool, StoreError> {
        if !imports.is_empty() {
            self.cache_summaries(imports.iter_mut())?;
            entries.extend(imports.drain(..).map(|m| LogEntry::Add(Box::new(m.record))));
        }
        if entries.is_empty() {
            return Ok(true);
        }
        index::sync_dir(&self.dir.join("cur"));
        let dead = self.commit(entries)?;
        for e in entries.drain(..) {
            if let LogEntry::Expunge { uid, .. } = e
                && self.seq_of_uid(uid).is_some()
            {
                self.expunged_unreported.insert(uid);
            }
        }
        Ok(dead.is_empty())
    }

    /// A record for a message about to enter the mailbox, with its
    /// summary rendered for the cache.
    #[allow(clippy::too_many_arguments)]
    fn make_record(
        &self,
        uid: u32,
        file: String,
        data: &[u8],
        flags: Flags,
        keywords: Vec<String>,
        modseq: u64,
        date: (i64, i16),
    ) -> NewMessage {
        let summary = MessageSummary::of(data);
        let sent = summary.search.sent_date.map_or(date.0, |d| d.timestamp);
        let references = summary.sort.references.join("\n");
        let view = cache::SortView::of(&summary.sort, &references);
        let sort_key = Some(sort_keys::encode_entry(&view, sent));
        NewMessage {
            tag: None,
            record: MessageRecord {
                uid,
                file: file.into(),
                flags,
                keywords: keywords.into(),
                modseq,
                internal_date: date.0,
                tz_offset_minutes: date.1,
                size: data.len() as u64,
                cache: CacheRef::default(),
                text_is_raw: summary.text_is_raw,
                text: CacheRef::default(),
                save_date: 0,
            },
            summary: cache::encode_summary(&summary),
            sort_key,
            text: summary.decoded_text,
        }
    }

    /// Writes the summaries and decoded texts of `items` to the cache files
    /// (lock held) and points their records at them.
    fn cache_summaries<'a>(
        &self,
        items: impl Iterator<Item = &'a mut NewMessage>,
    ) -> Result<(), StoreError> {
        let mut items: Vec<&mut NewMessage> = items.collect();
        let blobs: Vec<(u32, &[u8])> = items
            .iter()
            .map(|m| (m.record.uid, &m.summary[..]))
            .collect();
        let refs = cache::append_blobs(&self.dir, cache::CACHE_FILE, &blobs)?;
        let sort_entries: Vec<(u32, &[u8])> = items
            .iter()
            .filter_map(|m| Some((m.record.uid, m.sort_key.as_deref()?)))
            .collect();
        if !sort_entries.is_empty() {
            sort_keys::append(&self.dir, &sort_entries)?;
        }
        let texts: Vec<(u32, &[u8])> = items
            .iter()
            .filter_map(|m| Some((m.record.uid, m.text.as_deref()?)))
            .collect();
        let mut text_refs = if texts.is_empty() {
            Vec::new()
        } else {
            cache::append_blobs(&self.dir, cache::TEXT_FILE, &texts)?
        }
        .into_iter();
        for (m, r) in items.iter_mut().zip(refs) {
            m.record.cache = r;
            if m.text.is_some() {
                m.record.text = text_refs.next().unwrap_or_default();
            }
        }
        Ok(())
    }

    /// A reader of this mailbox's summaries (ENVELOPE, BODYSTRUCTURE,
    /// SEARCH headers) for one command.
    pub fn cache_reader(&self) -> CacheReader {
        CacheReader::new(&self.dir)
    }

    /// The sort-key file (SORT, THREAD) as it is now.
    pub fn sort_keys(&self) -> SortKeys {
        SortKeys::load(&self.dir)
    }

    /// A reader of the decoded texts (SEARCH BODY/TEXT) for one command.
    pub fn text_reader(&self) -> CacheReader {
        CacheReader::of_file(&self.dir, cache::TEXT_FILE)
    }

    /// rfc3501 2.3.2 \Recent: a read-write session claims messages no
    /// session has seen.
    /// EXAMINE (rfc3501 6.3.2) shows \Recent without taking it: the
    /// messages stay \Recent for the next SELECT.
    fn claim_recent(&mut self) -> Result<(), StoreError> {
        if self.read_only {
            let from = self.header.recent_uid;
            for r in &self.records {
                if r.uid > from && !self.expunged_unreported.contains(&r.uid) {
                    self.recent.insert(r.uid);
                }
            }
            return Ok(());
        }
        if !self.claims_recent {
            return Ok(());
        }
        let max = self.records.last().map_or(0, |r| r.uid);
        if max > self.header.recent_uid {
            let from = self.header.recent_uid;
            for r in &self.records {
                if r.uid > from {
                    self.recent.insert(r.uid);
                }
            }
            // \Recent is advice (rfc3501 2.3.2): not worth an fsync.
            self.commit_with(&[LogEntry::RecentUid(max)], false)?;
        }
        Ok(())
    }

    fn file_name(&mut self, uid: u32, flags: Flags, tag: Option<&str>) -> String {
        let (secs, micros) = now();
        self.name_counter += 1;
        let p = match tag {
            Some(tag) => tag.to_string(),
            None => self.name_counter.to_string(),
        };
        format!(
            "{secs}.M{micros}P{p}U{uid}V{}.imapd:2,{}",
            self.header.uidvalidity,
            flags.maildir_info()
        )
    }

    /// Brings the view up to date (lock held) without removing anything
    /// from it: used before writes, so sequence numbers stay stable.
    fn prepare_write(&mut self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        self.catch_up()
    }

    /// Resynchronises with disk (new mail, other sessions' flag changes and
    /// expunges) and returns what to report. Call it where rfc3501 7.4.1
    /// allows EXPUNGE responses (NOOP, CHECK, IDLE, after a command that is
    /// not FETCH/STORE/SEARCH).
    pub fn sync(&mut self) -> Result<MailboxChanges, StoreError> {
        self.sync_reporting(true)
    }

    /// Like [`sync`](Self::sync), but messages expunged by others stay in
    /// the view (and keep their sequence numbers) until a later `sync`:
    /// for after FETCH, STORE and SEARCH, where rfc3501 7.4.1 forbids
    /// EXPUNGE responses. `expunged` is always empty.
    pub fn sync_deferring_expunges(&mut self) -> Result<MailboxChanges, StoreError> {
        self.sync_reporting(false)
    }

    fn sync_reporting(&mut self, report_expunges: bool) -> Result<MailboxChanges, StoreError> {
        {
            let locker = self.locker.clone();
            let name = self.name.clone();
            let _g = LockGuard::take(&*locker, &name)?;
            self.catch_up()?;
            self.scan()?;
            self.claim_recent()?;
        }
        let mut changes = MailboxChanges::default();
        if report_expunges && !self.expunged_unreported.is_empty() {
            let gone = std::mem::take(&mut self.expunged_unreported);
            // Only messages the client was told about (the first
            // `reported_exists`) get an EXPUNGE; one that arrived and went
            // again since the last report was never in its view (rfc3501
            // 7.4.1: an EXPUNGE must name a message the client knows).
            let known = self.reported_exists as usize;
            // Highest sequence numbers first: no renumbering between responses.
            for i in (0..self.records.len()).rev() {
                let uid = self.records[i].uid;
                if gone.contains(&uid) {
                    if i < known {
                        changes.expunged.push((i as u32 + 1, uid));
                    }
                    self.flags_changed.remove(&uid);
                    self.recent.remove(&uid);
                }
            }
            self.records.retain(|r| !gone.contains(&r.uid));
        }
        changes.exists = self.records.len() as u32;
        changes.exists_changed =
            changes.exists != self.reported_exists || !changes.expunged.is_empty();
        self.reported_exists = changes.exists;
        changes.recent = self.recent.len() as u32;
        changes.flags_changed = std::mem::take(&mut self.flags_changed)
            .into_iter()
            .collect();
        Ok(changes)
    }

    /// What a session has been told about this mailbox, to carry in its
    /// snapshot: restored with [`resume_view`](Self::resume_view) in a
    /// fresh instance, sequence numbers stay what the client knows.
    pub fn view(&self) -> MailboxView {
        MailboxView {
            uidvalidity: self.header.uidvalidity,
            uids: self.records.iter().map(|r| r.uid).collect(),
            recent: {
                let mut v: Vec<u32> = self.recent.iter().copied().collect();
                v.sort_unstable();
                v
            },
            flags_changed: self.flags_changed.iter().copied().collect(),
            highest_modseq: self.header.highest_modseq,
            reported_exists: self.reported_exists,
        }
    }

    /// Makes a freshly opened mailbox continue a session's earlier view:
    /// messages the session knows that are gone since are kept as
    /// placeholders and reported as expunged by the next `sync`; new
    /// messages are reported as EXISTS; flags changed since are reported.
    /// Fails with `UidValidityChanged` if the mailbox is not the same one.
    pub fn resume_view(&mut self, view: &MailboxView) -> Result<(), StoreError> {
        if view.uidvalidity != self.header.uidvalidity {
            return Err(StoreError::UidValidityChanged);
        }
        let on_disk: HashSet<u32> = self.records.iter().map(|r| r.uid).collect();
        let known: HashSet<u32> = view.uids.iter().copied().collect();
        let max_known = view.uids.iter().copied().max().unwrap_or(0);
        // A message below the highest known UID the session never saw
        // would shift its sequence numbers: the index was rebuilt.
        if self
            .records
            .iter()
            .any(|r| r.uid < max_known && !known.contains(&r.uid))
        {
            return Err(StoreError::UidValidityChanged);
        }
        for &uid in &view.uids {
            if !on_disk.contains(&uid) {
                self.records.push(MessageRecord {
                    uid,
                    ..MessageRecord::default()
                });
                self.expunged_unreported.insert(uid);
            }
        }
        self.records.sort_by_key(|r| r.uid);
        for &uid in &view.recent {
            if on_disk.contains(&uid) {
                self.recent.insert(uid);
            }
        }
        for r in &self.records {
            let changed_since = r.modseq > view.highest_modseq && known.contains(&r.uid);
            if on_disk.contains(&r.uid) && (changed_since || view.flags_changed.contains(&r.uid)) {
                self.flags_changed.insert(r.uid);
            }
        }
        self.reported_exists = view.reported_exists;
        Ok(())
    }

    /// Logs messages whose files wait in `tmp/` (name, record with the UID
    /// the name was made for), then moves them into `cur/`. An Add that
    /// loses its UID to another session's (see [`index::add_is_live`]) is
    /// renamed and logged again under the next free UID. Returns the UIDs
    /// in the order given.
    fn add_messages(&mut self, mut items: Vec<NewMessage>) -> Result<Vec<u32>, StoreError> {
        let tmp = self.dir.join("tmp");
        let cur = self.dir.join("cur");
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let result = (|| -> Result<(), StoreError> {
            for _ in 0..1000 {
                if pending.is_empty() {
                    return Ok(());
                }
                self.catch_up()?;
                let mut modseq = self.header.highest_modseq;
                // rfc8514 3: the save date is when it enters this mailbox
                // (APPEND, COPY, MOVE or delivery), never copied.
                let saved = now().0;
                for (uid, &i) in (self.header.uidnext..).zip(pending.iter()) {
                    items[i].record.save_date = saved;
                    if items[i].record.uid != uid {
                        let tag = items[i].tag.clone();
                        let file = self.file_name(uid, items[i].record.flags, tag.as_deref());
                        let item = &mut items[i].record;
                        let from = tmp.join(&item.file);
                        // A scan elsewhere may have rolled it into cur/.
                        let from = if from.exists() {
                            from
                        } else {
                            cur.join(&item.file)
                        };
                        fs::rename(from, tmp.join(&file))?;
                        item.file = file.into();
                        item.uid = uid;
                    }
                    modseq += 1;
                    items[i].record.modseq = modseq;
                }
                // Summaries first: a logged record always points at its own.
                self.cache_summaries(
                    items
                        .iter_mut()
                        .enumerate()
                        .filter(|(i, _)| pending.contains(i))
                        .map(|(_, m)| m),
                )?;
                let entries: Vec<LogEntry> = pending
                    .iter()
                    .map(|&i| LogEntry::Add(Box::new(items[i].record.clone())))
                    .collect();
                // No fsync of tmp/ itself: the file's data is synced, and
                // the rename into cur/ below is synced before the command
                // succeeds; a crash before that leaves an APPEND that never
                // succeeded (its logged UID is then simply unused).
                // The commit point: once logged, the messages exist (a crash
                // before the renames below is rolled forward by the next scan).
                let dead: HashSet<String> = self
                    .commit(&entries)?
                    .into_iter()
                    .map(|r| r.file.to_string())
                    .collect();
                if dead.is_empty() {
                    pending.clear();
                } else {
                    // Another session took some of the UIDs. Take the whole
                    // batch back and log it again, so that UIDs stay in the
                    // order given (COPYUID maps sets in order) and APPEND
                    // stays all or nothing; none of it was in cur/ or
                    // reported yet.
                    let mut undo = Vec::new();
                    for &i in &pending {
                        if !dead.contains(&*items[i].record.file) {
                            let modseq = self.next_modseq();
                            undo.push(LogEntry::Expunge {
                                uid: items[i].record.uid,
                                modseq,
                            });
                        }
                    }
                    self.commit(&undo)?;
                    let gone: HashSet<u32> = undo
                        .iter()
                        .filter_map(|e| match e {
                            LogEntry::Expunge { uid, .. } => Some(*uid),
                            _ => None,
                        })
                        .collect();
                    self.records.retain(|r| !gone.contains(&r.uid));
                }
            }
            Err(StoreError::Io(io::Error::other(
                "no free UID after many tries",
            )))
        })();
        if let Err(e) = result {
            for &i in &pending {
                let _ = fs::remove_file(tmp.join(&items[i].record.file));
            }
            return Err(e);
        }
        for r in items.iter().map(|m| &m.record) {
            match fs::rename(tmp.join(&r.file), cur.join(&r.file)) {
                Ok(()) => {}
                // Another session's scan finished the move for us.
                Err(e) if e.kind() == io::ErrorKind::NotFound && cur.join(&r.file).exists() => {}
                Err(e) => return Err(e.into()),
            }
        }
        index::sync_dir(&cur);
        Ok(items.iter().map(|m| m.record.uid).collect())
    }

    /// APPEND (rfc3501 6.3.11, MULTIAPPEND rfc3502): all messages or none.
    pub fn append(&mut self, messages: Vec<AppendMessage>) -> Result<AppendUid, StoreError> {
        self.append_all(&messages)
    }

    /// [`append`](Self::append) from a slice.
    pub fn append_all(&mut self, messages: &[AppendMessage]) -> Result<AppendUid, StoreError> {
        let staged = self.stage(messages)?;
        self.commit_staged(staged)
    }

    /// APPEND's first half, without the lock ([`stage`]): the messages'
    /// files and the intent.
    pub(super) fn stage(&mut self, messages: &[AppendMessage]) -> Result<Staging, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let tmp = self.dir.join("tmp");
        let stage = tmp.join(STAGE_DIR);
        if let Err(e) = fs::create_dir(&stage)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            return Err(e.into());
        }
        // Before the lock (`stage.rs`): each message's summary (a MIME
        // parse) and its file, written and fsync'd, then the intent.
        let token = index::unique_token();
        let mut staging = Staging {
            intent: stage.join(format!("{token}.intent")),
            token,
            items: Vec::with_capacity(messages.len()),
            seen_next: self.header.uidnext,
        };
        for (i, m) in messages.iter().enumerate() {
            let file = format!("{STAGE_DIR}/{}x{i}.staged", staging.token);
            if let Err(e) = write_synced(&tmp.join(&file), &m.data) {
                let _ = fs::remove_file(tmp.join(&file));
                staging.discard(&tmp);
                return Err(e.into());
            }
            let date = m.internal_date.unwrap_or((now().0, 0));
            let mut keywords = m.keywords.clone();
            keywords.sort();
            keywords.dedup();
            // UID 0: `add_messages` gives each its UID and final name.
            let item = self.make_record(0, file, &m.data, m.flags, keywords, 0, date);
            staging.items.push(item);
        }
        let part = stage.join(format!("{}.intent.tmp", staging.token));
        let written = fs::write(&part, stage::encode(&staging.items))
            .and_then(|()| fs::rename(&part, &staging.intent));
        if let Err(e) = written {
            let _ = fs::remove_file(&part);
            staging.discard(&tmp);
            return Err(e.into());
        }
        Ok(staging)
    }

    /// APPEND's second half, under the lock: commit the staged messages
    /// with every other APPEND's staged now, or find them committed.
    pub(super) fn commit_staged(&mut self, staging: Staging) -> Result<AppendUid, StoreError> {
        let tmp = self.dir.join("tmp");
        let stage = tmp.join(STAGE_DIR);
        let locker = self.locker.clone();
        let name = self.name.clone();
        let locked = LockGuard::take(&*locker, &name).and_then(|g| {
            self.prepare_write()?;
            Ok(g)
        });
        let _g = match locked {
            Ok(g) => g,
            Err(e) => {
                staging.discard(&tmp);
                return Err(e);
            }
        };
        let Staging {
            token,
            intent,
            mut items,
            seen_next,
        } = staging;
        if !intent.exists() {
            // Another APPEND committed it while this one waited.
            let uids = self.uids_tagged(&token, items.len(), seen_next);
            return match uids {
                Some(uids) => Ok(AppendUid {
                    uidvalidity: self.header.uidvalidity,
                    uids,
                }),
                None => Err(StoreError::Io(io::Error::other(
                    "the session that took this APPEND could not commit it",
                ))),
            };
        }
        let mark = self.current_scan_mark();
        let own = items.len();
        for (i, m) in items.iter_mut().enumerate() {
            m.tag = Some(format!("{token}x{i}"));
        }
        let mut taken = vec![intent.clone()];
        for (path, theirs) in self.staged_intents(&stage, &intent) {
            items.extend(theirs);
            taken.push(path);
        }
        // Taken before the commit: if it fails, the others fail with it
        // and their clients are told so (none sees its message appear
        // later).
        for path in &taken {
            let _ = fs::remove_file(path);
        }
        let uids = self.add_messages(items)?;
        self.renew_scan_mark(mark);
        Ok(AppendUid {
            uidvalidity: self.header.uidvalidity,
            uids: uids[..own].to_vec(),
        })
    }

    /// The intents other APPENDs staged (lock held), each with its
    /// messages tagged, oldest first; not those that do not decode, name a
    /// file that is not a staged one or not there, or are older than a
    /// minute (their sessions are likely gone: the scan removes them).
    fn staged_intents(&self, stage: &Path, own: &Path) -> Vec<(PathBuf, Vec<NewMessage>)> {
        let tmp = self.dir.join("tmp");
        let mut found: Vec<(SystemTime, String)> = list_dir(stage)
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f.ends_with(".intent") && stage.join(f) != own)
            .filter_map(|f| {
                let t = fs::metadata(stage.join(&f)).and_then(|m| m.modified());
                Some((t.ok()?, f))
            })
            .filter(|(t, _)| {
                SystemTime::now()
                    .duration_since(*t)
                    .is_ok_and(|a| a.as_secs() < 60)
            })
            .collect();
        found.sort();
        let mut out = Vec::new();
        for (_, f) in found {
            let token = f.trim_end_matches(".intent");
            if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let path = stage.join(&f);
            let Some(mut theirs) = fs::read(&path).ok().and_then(|b| stage::decode(&b)) else {
                continue;
            };
            let staged = |i: usize, file: &str| {
                file == format!("{STAGE_DIR}/{token}x{i}.staged") && tmp.join(file).is_file()
            };
            if !theirs
                .iter()
                .enumerate()
                .all(|(i, m)| staged(i, &m.record.file))
            {
                continue;
            }
            for (i, m) in theirs.iter_mut().enumerate() {
                m.tag = Some(format!("{token}x{i}"));
            }
            out.push((path, theirs));
        }
        out
    }

    /// The UIDs (from `from` up) of the `n` messages an APPEND staged
    /// under `token`, in its order, if another session committed them all.
    fn uids_tagged(&self, token: &str, n: usize, from: u32) -> Option<Vec<u32>> {
        let key = format!("P{token}x");
        let mut found = vec![None; n];
        let first = self.records.partition_point(|r| r.uid < from);
        for r in &self.records[first..] {
            let name: &str = &r.file;
            let Some(at) = name.find(&key) else {
                continue;
            };
            let rest = &name[at + key.len()..];
            let i: usize = rest.split('U').next()?.parse().ok()?;
            if let Some(slot) = found.get_mut(i) {
                *slot = Some(r.uid);
            }
        }
        found.into_iter().collect()
    }

    /// STORE / UID STORE (rfc3501 6.4.6) on `uids`; with `unchanged_since`
    /// (rfc7162 CONDSTORE) messages modified later are skipped and returned
    /// in the second list. Returns the messages whose flags changed.
    pub fn store_flags(
        &mut self,
        uids: &[u32],
        op: FlagOperation,
        flags: Flags,
        keywords: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<(Vec<FlagChange>, Vec<u32>), StoreError> {
        let locker = self.locker.clone();
        let name = self.name.clone();
        let _g = LockGuard::take(&*locker, &name)?;
        self.prepare_write()?;
        let mut entries = Vec::new();
        let mut changed = Vec::new();
        let mut failed = Vec::new();
        for &uid in uids {
            if self.expunged_unreported.contains(&uid) {
                continue;
            }
            let Ok(pos) = self.records.binary_search_by_key(&uid, |r| r.uid) else {
                continue;
            };
            let r = &self.records[pos];
            // rfc7162 3.1.3: UNCHANGEDSINCE 0 always fails.
            if unchanged_since == Some(0) {
                failed.push(uid);
                continue;
            }
            let (new_flags, mut new_kw) = match op {
                FlagOperation::Replace => (flags, keywords.to_vec()),
                FlagOperation::Add => {
                    let mut k = r.keywords.to_vec();
                    for kw in keywords {
                        if !k.iter().any(|x| x.eq_ignore_ascii_case(kw)) {
                            k.push(kw.clone());
                        }
                    }
                    (r.flags.union(flags), k)
                }
                FlagOperation::Remove => (
                    r.flags.minus(flags),
                    r.keywords
                        .iter()
                        .filter(|x| !keywords.iter().any(|k| k.eq_ignore_ascii_case(x)))
                        .cloned()
                        .collect(),
                ),
            };
            new_kw.sort();
            new_kw.dedup();
            if new_flags == r.flags && r.keywords == new_kw {
                continue;
            }
            // rfc7162 3.1.12: only a STORE that would change something
            // fails the UNCHANGEDSINCE test (no spurious MODIFIED for a
            // flag that is already as asked).
            if unchanged_since.is_some_and(|m| r.modseq > m) {
                failed.push(uid);
                continue;
            }
            let modseq = self.next_modseq();
            let new_kw = Keywords::from(new_kw);
            entries.push(LogEntry::Flags {
                uid,
                flags: new_flags,
                keywords: new_kw.clone(),
                modseq,
            });
            changed.push(FlagChange {
                seq: pos as u32 + 1,
                uid,
                flags: new_flags,
                keywords: new_kw,
                modseq,
            });
        }
        self.commit(&entries)?;
        for c in &changed {
            let pos = (c.seq - 1) as usize;
            let r = &mut self.records[pos];
            r.flags = c.flags;
            r.keywords = c.keywords.clone();
            r.modseq = c.modseq;
        }
        Ok((changed, failed))
    }

    /// EXPUNGE (all \Deleted) or UID EXPUNGE (rfc4315: only `only_uids`).
    /// Returns (sequence number, UID) in the order to send `* n EXPUNGE`.
    pub fn expunge(&mut self, only_uids: Option<&[u32]>) -> Result<Vec<(u32, u32)>, StoreError> {
        let locker = self.locker.clone();
        let name = self.name.clone();
        let _g = LockGuard::take(&*locker, &name)?;
        self.prepare_write()?;
        let only: Option<HashSet<u32>> = only_uids.map(|u| u.iter().copied().collect());
        let targets: Vec<u32> = self
            .records
            .iter()
            .filter(|r| r.flags.contains(Flags::DELETED))
            .filter(|r| only.as_ref().is_none_or(|o| o.contains(&r.uid)))
            .filter(|r| !self.expunged_unreported.contains(&r.uid))
            .map(|r| r.uid)
            .collect();
        self.remove_messages(&targets)
    }

    /// Deletes files first, then logs: a crash in between leaves index
    /// entries without files, which the next scan expunges.
    fn remove_messages(&mut self, uids: &[u32]) -> Result<Vec<(u32, u32)>, StoreError> {
        let mark = self.current_scan_mark();
        let mut entries = Vec::new();
        let cur = self.dir.join("cur");
        for &uid in uids {
            if let Some(r) = self.by_uid(uid) {
                match fs::remove_file(cur.join(&r.file)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
                let modseq = self.next_modseq();
                entries.push(LogEntry::Expunge { uid, modseq });
            }
        }
        index::sync_dir(&cur);
        self.commit(&entries)?;
        self.renew_scan_mark(mark);
        let gone: HashSet<u32> = uids.iter().copied().collect();
        let mut out = Vec::new();
        // Only messages the client was told of get an EXPUNGE (rfc3501
        // 7.4.1): one the log just brought in (another session's APPEND or
        // COPY, \Deleted already) goes without a word, and never counted
        // in `reported_exists`. The stress tester found `* 3 EXPUNGE` sent
        // to a client that knew of one message.
        let known = self.reported_exists as usize;
        for i in (0..self.records.len()).rev() {
            if gone.contains(&self.records[i].uid) && i < known {
                out.push((i as u32 + 1, self.records[i].uid));
            }
        }
        self.records.retain(|r| !gone.contains(&r.uid));
        for u in &gone {
            self.recent.remove(u);
            self.flags_changed.remove(u);
        }
        // New messages the log brought in stay to be reported as EXISTS.
        self.reported_exists = self.reported_exists.saturating_sub(out.len() as u32);
        Ok(out)
    }

    /// COPY / UID COPY (rfc3501 6.4.7) into `dest`; hard links where the
    /// file system allows, copies otherwise. Flags and INTERNALDATE are kept.
    pub fn copy_to(&self, uids: &[u32], dest: &mut Mailbox) -> Result<CopyUid, StoreError> {
        let locker = dest.locker.clone();
        let name = dest.name.clone();
        let _g = LockGuard::take(&*locker, &name)?;
        dest.prepare_write()?;
        let mark = dest.current_scan_mark();
        let dtmp = dest.dir.join("tmp");
        let mut summaries = self.cache_reader();
        let mut texts = self.text_reader();
        let mut items = Vec::new();
        let mut sources = Vec::new();
        let mut uid = dest.header.uidnext;
        let mut sorted: Vec<u32> = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let result = (|| -> Result<(), StoreError> {
            for &src_uid in &sorted {
                let Some(r) = self.by_uid(src_uid) else {
                    continue;
                };
                let flags = crate::access::permitted_flags(dest.granted, r.flags);
                let file = dest.file_name(uid, flags, None);
                let src = self.message_path(r);
                let target = dtmp.join(&file);
                if fs::hard_link(&src, &target).is_err() {
                    let data = fs::read(&src)?;
                    write_synced(&target, &data)?;
                }
                let mut copy = r.clone();
                copy.flags = flags;
                if !dest.granted.contains(crate::store::acl::Rights::WRITE) {
                    copy.keywords = Default::default();
                }
                copy.uid = uid;
                copy.file = file.into();
                let summary = summaries.payload(r).to_vec();
                let sort_key = cache::decode_summary(&summary)
                    .and_then(|view| sort_keys::entry_of_summary(&view, r.internal_date));
                items.push(NewMessage {
                    tag: None,
                    record: copy,
                    summary,
                    sort_key,
                    text: (!r.text_is_raw).then(|| texts.text(r).to_vec()),
                });
                sources.push(src_uid);
                uid += 1;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for m in &items {
                let _ = fs::remove_file(dtmp.join(&m.record.file));
            }
            return Err(e);
        }
        let new_uids = dest.add_messages(items)?;
        dest.renew_scan_mark(mark);
        Ok(CopyUid {
            uidvalidity: dest.header.uidvalidity,
            pairs: sources.into_iter().zip(new_uids).collect(),
        })
    }

    /// MOVE (rfc6851): copy, then expunge the originals. Returns COPYUID
    /// data and the source expunges to report.
    pub fn move_to(
        &mut self,
        uids: &[u32],
        dest: &mut Mailbox,
    ) -> Result<(CopyUid, Vec<(u32, u32)>), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let copied = self.copy_to(uids, dest)?;
        let moved: Vec<u32> = copied.pairs.iter().map(|p| p.0).collect();
        let locker = self.locker.clone();
        let name = self.name.clone();
        let _g = LockGuard::take(&*locker, &name)?;
        self.prepare_write()?;
        let expunged = self.remove_messages(&moved)?;
        Ok((copied, expunged))
    }

    /// Removes every message (RENAME INBOX, DELETE of a mailbox with children).
    pub(crate) fn remove_all(&mut self) -> Result<(), StoreError> {
        let locker = self.locker.clone();
        let name = self.name.clone();
        let _g = LockGuard::take(&*locker, &name)?;
        self.prepare_write()?;
        let all: Vec<u32> = self.records.iter().map(|r| r.uid).collect();
        self.remove_messages(&all).map(|_| ())
    }
}

#[cfg(test)]
mod concurrency_tests {
    //! Two sessions of one user write the same mailbox with no lock
    //! between them (`NoLocking`): the store stays consistent even where
    //! the host's mailbox lock does not serialise the writers.
    use super::*;
    use crate::store::{MailStore, NoLocking};

    fn msg(i: usize) -> AppendMessage {
        AppendMessage {
            data: format!("Subject: m{i}\r\nMessage-ID: <{i}@x>\r\n\r\nbody {i}\r\n").into_bytes(),
            flags: Flags::default(),
            keywords: Vec::new(),
            internal_date: Some((1_700_000_000, 0)),
        }
    }

    fn inbox() -> MailboxName {
        MailboxName::inbox()
    }

    /// Root cause of "UID n reused": a writer with a stale view appended at
    /// the offset it believed was the end (cutting off the other session's
    /// entry with `set_len`) and reused UIDNEXT. Now the log is only ever
    /// appended to, and the later of two Adds for one UID is dead.
    #[test]
    fn stale_writer_neither_truncates_nor_reuses_a_uid() {
        let t = tempfile::tempdir().unwrap();
        let s = MailStore::open(t.path(), Rc::new(NoLocking), &[]).unwrap();
        let mut a = s.open_for_writing(&inbox()).unwrap();
        let mut b = s.open_for_writing(&inbox()).unwrap();
        // b decides its UID before a's append lands (the race).
        let stale_uid = b.header.uidnext;
        let mut rec = b.records.first().cloned().unwrap_or_default();
        rec.uid = stale_uid;
        rec.file = b.file_name(stale_uid, Flags::default(), None).into();
        let got = a.append(vec![msg(1)]).unwrap();
        assert_eq!(got.uids, vec![stale_uid]);
        let dead = b.commit(&[LogEntry::Add(Box::new(rec.clone()))]).unwrap();
        assert_eq!(dead.len(), 1, "the losing Add must be reported dead");
        // b's view now has a's message, not its own.
        assert_eq!(
            b.by_uid(stale_uid).unwrap().file,
            a.by_uid(stale_uid).unwrap().file
        );
        // And b's real APPEND gets the next UID.
        let got_b = b.append(vec![msg(2)]).unwrap();
        assert_eq!(got_b.uids, vec![stale_uid + 1]);
        drop((a, b));
        let m = s.select(&inbox()).unwrap();
        let uids: Vec<u32> = m.records().iter().map(|r| r.uid).collect();
        assert_eq!(uids, vec![stale_uid, stale_uid + 1]);
        assert_eq!(
            m.read_message(m.by_uid(stale_uid).unwrap()).unwrap(),
            msg(1).data
        );
        assert_eq!(
            m.read_message(m.by_uid(stale_uid + 1).unwrap()).unwrap(),
            msg(2).data
        );
        assert_eq!(m.uid_next(), stale_uid + 2);
    }

    /// Found by the stress tester: an EXPUNGE (or MOVE) whose log entries
    /// pushed the log over the compaction threshold wrote a snapshot that
    /// still held the messages it expunged, and started an empty log: they
    /// came back, without their files, for every later session.
    #[test]
    fn an_expunge_that_compacts_the_log_stays_expunged() {
        let t = tempfile::tempdir().unwrap();
        let s = MailStore::open(t.path(), Rc::new(NoLocking), &[]).unwrap();
        let mut a = s.open_for_writing(&inbox()).unwrap();
        a.append((0..12).map(msg).collect()).unwrap();
        a.sync().unwrap();
        let doomed: Vec<u32> = (2..=11).collect();
        let (before, _) = a
            .store_flags(&doomed, FlagOperation::Add, Flags::DELETED, &[], None)
            .unwrap();
        assert_eq!(before.len(), 10);
        // Grow the log with flag changes to just below the threshold, so
        // that the expunge's entries are the ones that cross it.
        let flags_entry = index::frame_entries(&[LogEntry::Flags {
            uid: 1,
            flags: Flags::FLAGGED,
            keywords: Keywords::default(),
            modseq: 1 << 40,
        }])
        .len() as u64;
        let expunges: Vec<LogEntry> = doomed
            .iter()
            .map(|&uid| LogEntry::Expunge {
                uid,
                modseq: 1 << 40,
            })
            .collect();
        let expunge_entries = index::frame_entries(&expunges).len() as u64;
        assert!(expunge_entries > flags_entry);
        let generation = a.generation;
        let mut on = false;
        while a.log_end + flags_entry <= COMPACT_LOG_MIN_BYTES.max(a.snapshot_len / 8) {
            on = !on;
            let op = if on {
                FlagOperation::Add
            } else {
                FlagOperation::Remove
            };
            a.store_flags(&[1], op, Flags::FLAGGED, &[], None).unwrap();
        }
        assert_eq!(a.generation, generation, "compacted too early");
        let gone = a.expunge(None).unwrap();
        assert_eq!(gone.len(), 10);
        assert_ne!(a.generation, generation, "the expunge did not compact");
        drop(a);
        let m = s.select(&inbox()).unwrap();
        let uids: Vec<u32> = m.records().iter().map(|r| r.uid).collect();
        assert_eq!(uids, vec![1, 12]);
    }

    /// A torn tail (a writer died mid-entry; writers hold the mailbox
    /// lock, so nobody is still writing it) is never read as an entry and
    /// is cut off by the next write: appended entries could otherwise
    /// complete it into one that decodes. A young temp file of an APPEND
    /// not logged yet is left alone.
    #[test]
    fn torn_tail_is_cut_and_young_temp_files_are_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let s = MailStore::open(t.path(), Rc::new(NoLocking), &[]).unwrap();
        let mut a = s.open_for_writing(&inbox()).unwrap();
        a.append(vec![msg(1)]).unwrap();
        let log = t.path().join(LOG_FILE);
        let len = fs::metadata(&log).unwrap().len();
        // Half of an entry.
        let whole = index::frame_entries(&[LogEntry::UidNext(50)]);
        let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&whole[..whole.len() - 2]).unwrap();
        // ... and a message in tmp/, not logged yet.
        let inflight = t.path().join("tmp/9.M1P1U2V1.imapd:2,");
        fs::write(&inflight, b"Subject: in flight\r\n\r\n").unwrap();
        let m = s.select(&inbox()).unwrap();
        assert_eq!(m.exists(), 1);
        assert_eq!(m.uid_next(), 2);
        assert!(inflight.exists(), "an in-flight APPEND's file was deleted");
        drop(m);
        a.append(vec![msg(2)]).unwrap();
        let read = index::read_log(&log, len).unwrap().unwrap();
        assert!(!read.torn_tail, "the torn tail is still there");
        let m = s.select(&inbox()).unwrap();
        assert_eq!(m.exists(), 2);
        assert_eq!(m.uid_next(), 3);
    }

    /// A message another session expunged (file deleted, Expunge logged)
    /// must not be imported again by a session that listed cur/ before
    /// the deletion.
    #[test]
    fn expunged_file_of_ours_is_not_imported_again() {
        let t = tempfile::tempdir().unwrap();
        let s = MailStore::open(t.path(), Rc::new(NoLocking), &[]).unwrap();
        let mut a = s.select(&inbox()).unwrap();
        a.append(vec![msg(1), msg(2)]).unwrap();
        let file = a.by_uid(1).unwrap().file.clone();
        let data = fs::read(t.path().join("cur").join(&file)).unwrap();
        a.store_flags(&[1], FlagOperation::Add, Flags::DELETED, &[], None)
            .unwrap();
        a.expunge(None).unwrap();
        // What a scan racing with the expunge saw: the file still there.
        fs::write(t.path().join("cur").join(&file), data).unwrap();
        let m = s.select(&inbox()).unwrap();
        let uids: Vec<u32> = m.records().iter().map(|r| r.uid).collect();
        assert_eq!(uids, vec![2]);
        assert_eq!(m.uid_next(), 3);
    }
}
