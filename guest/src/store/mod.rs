//! The mail store: a user's Maildir++ tree (rfc3501 mailbox semantics on
//! top of it). Entry point: [`MailStore`].
//!
//! Layout of the tree (the guest's `/mail`):
//! - `cur/ new/ tmp/` — INBOX (Maildir); `.A.B/{cur,new,tmp}` — mailbox `A/B`
//!   (see [`name`] for escaping).
//! - `<mailbox dir>/imapd.index`, `imapd.log` — the index ([`index`]).
//! - `subscriptions` — subscribed names, one UTF-8 name a line.
//! - `imapd.specialuse` — special uses of mailboxes (rfc6154), see
//!   [`special_use`].
//! - `imapd.uidvalidity` — last UIDVALIDITY handed out (monotonic).
//! - `imapd.acl.d/<mailbox dir>` (`INBOX` for INBOX) — ACLs (rfc4314),
//!   see [`acl`].
//!
//! Line endings: APPEND data is stored byte for byte. Files delivered by an
//! MTA with bare LF are converted to CRLF when first imported, so sizes and
//! BODY[] always agree and BODY[] can be streamed from the file unchanged.
//!
//! A directory without `cur/` is a `\Noselect` mailbox (what DELETE leaves
//! of a mailbox that has children, rfc3501 6.3.4).

pub mod acl;
pub mod cache;
pub mod index;
pub mod mailbox;
pub mod metadata;
pub mod mutf7;
pub mod name;
pub mod record;
pub mod sort_keys;
pub mod sort_order;
pub mod special_use;
mod stage;
pub mod usage;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use index::{Flags, MessageRecord};
pub use mailbox::{
    AppendMessage, AppendUid, CopyUid, FlagChange, FlagOperation, Mailbox, MailboxChanges,
    MailboxView,
};
pub use name::{InvalidName, MailboxName};
pub use record::{FileName, Keywords};
pub use special_use::SpecialUse;

/// The host's per-mailbox lock (flock on the host side). Every write to a
/// mailbox's index or files happens between `lock` and `unlock`; single-writer
/// correctness depends on nothing else.
pub trait MailboxLocker {
    fn lock(&self, mailbox: &MailboxName) -> io::Result<()>;
    fn unlock(&self, mailbox: &MailboxName);
}

/// For a single process with one session per mailbox (tests, tools).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLocking;

impl MailboxLocker for NoLocking {
    fn lock(&self, _: &MailboxName) -> io::Result<()> {
        Ok(())
    }
    fn unlock(&self, _: &MailboxName) {}
}

#[derive(Debug)]
pub enum StoreError {
    InvalidName(InvalidName),
    NoSuchMailbox(MailboxName),
    AlreadyExists(MailboxName),
    /// rfc3501 6.3.4: \Noselect with inferiors cannot be deleted.
    HasChildren(MailboxName),
    CannotDeleteInbox,
    /// RENAME into itself or one of its inferiors.
    RenameIntoSelf,
    NotSelectable(MailboxName),
    /// EXAMINE'd mailbox, or a write through a read-only view.
    ReadOnly,
    /// The index had to be rebuilt under this session: it must reselect.
    UidValidityChanged,
    /// The user lacks the right (rfc4314) the operation needs.
    PermissionDenied,
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::InvalidName(e) => e.fmt(f),
            StoreError::NoSuchMailbox(n) => write!(f, "mailbox {n} does not exist"),
            StoreError::AlreadyExists(n) => write!(f, "mailbox {n} already exists"),
            StoreError::HasChildren(n) => write!(f, "mailbox {n} has inferior hierarchical names"),
            StoreError::CannotDeleteInbox => write!(f, "INBOX cannot be deleted"),
            StoreError::RenameIntoSelf => write!(f, "cannot rename a mailbox into itself"),
            StoreError::NotSelectable(n) => write!(f, "mailbox {n} is not selectable"),
            StoreError::ReadOnly => write!(f, "mailbox is read-only"),
            StoreError::UidValidityChanged => write!(f, "mailbox UIDVALIDITY changed"),
            StoreError::PermissionDenied => write!(f, "permission denied"),
            StoreError::Io(e) => write!(f, "mail store I/O error: {e}"),
        }
    }
}
impl std::error::Error for StoreError {}

impl StoreError {
    /// A write the file system (a read-only preopen) refused.
    pub(crate) fn is_denied(&self) -> bool {
        match self {
            StoreError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ),
            _ => false,
        }
    }

    /// An I/O error with what was being done when it happened (for the
    /// log); other errors as they are.
    pub(crate) fn during(self, what: &str) -> StoreError {
        match self {
            StoreError::Io(e) => StoreError::Io(io::Error::new(e.kind(), format!("{what}: {e}"))),
            other => other,
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(e)
    }
}
impl From<InvalidName> for StoreError {
    fn from(e: InvalidName) -> Self {
        StoreError::InvalidName(e)
    }
}

/// LIST attributes (rfc3501 7.2.2, rfc3348 children, rfc5258 3,
/// rfc6154 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub name: MailboxName,
    pub noselect: bool,
    /// rfc5258 3 `\NonExistent` (implies `noselect`): no mailbox and no
    /// directory of this name; an implicit superior of a mailbox, or a
    /// subscribed name (or its superior) whose mailbox does not exist.
    pub nonexistent: bool,
    /// Some mailbox exists below this name.
    pub has_children: bool,
    pub subscribed: bool,
    /// rfc6154 special uses; only a selectable mailbox has any.
    pub special_use: Vec<SpecialUse>,
}

impl ListEntry {
    pub fn attributes(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.noselect {
            v.push("\\Noselect");
        }
        v.push(if self.has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        });
        v
    }
}

/// STATUS data (rfc3501 6.3.10, rfc8438 SIZE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    pub messages: u32,
    pub recent: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
    pub unseen: u32,
    /// Messages with \Deleted (rfc9051 STATUS DELETED).
    pub deleted: u32,
    /// Their octets (rfc9208 STATUS DELETED-STORAGE).
    pub deleted_octets: u64,
    pub size: u64,
    pub highest_modseq: u64,
    /// MAILBOXID (rfc8474 4), when asked for (it may create the id file).
    pub mailbox_id: Option<String>,
}

const SUBSCRIPTIONS: &str = "subscriptions";
const UIDVALIDITY_FILE: &str = "imapd.uidvalidity";

/// A user's mail tree.
pub struct MailStore {
    root: PathBuf,
    /// For mailboxes another user shares with this one (`acl.rs`): the
    /// prefix of their names (`user/<owner>/`), which is not part of
    /// their directory's name in `root` (`/shared/<owner>`). Such a store
    /// reaches only the directories the host preopened under `root`.
    shared_prefix: Option<String>,
    locker: Rc<dyn MailboxLocker>,
    /// The last APPEND/COPY/MOVE target, kept open: the next write to it
    /// only catches up with the log instead of loading the mailbox again.
    writer: RefCell<Option<Mailbox>>,
}

impl MailStore {
    /// Opens the tree at `root` (`/mail` in the guest), creating INBOX at
    /// first use and, with it, the `autocreate` folders (Cyrus
    /// `autocreate_inbox_folders`), subscribed.
    pub fn open(
        root: impl Into<PathBuf>,
        locker: Rc<dyn MailboxLocker>,
        autocreate: &[String],
    ) -> Result<MailStore, StoreError> {
        Self::open_with(root, locker, autocreate, &[])
    }

    /// [`MailStore::open`], and each autocreated folder named in
    /// `autocreate_uses` gets that special use (Cyrus's `xlist-<flag>:
    /// <folder>`), unless another mailbox has it already (as Cyrus's
    /// autocreate does).
    pub fn open_with(
        root: impl Into<PathBuf>,
        locker: Rc<dyn MailboxLocker>,
        autocreate: &[String],
        autocreate_uses: &[(String, SpecialUse)],
    ) -> Result<MailStore, StoreError> {
        let store = MailStore {
            root: root.into(),
            shared_prefix: None,
            locker,
            writer: RefCell::new(None),
        };
        if !store.root.join("cur").is_dir() {
            // Under INBOX's lock: several first sessions of a new user
            // (a client opening connections at once) must not each make
            // INBOX, the later one writing a new log over the first one's.
            let inbox = MailboxName::inbox();
            store.locker.lock(&inbox)?;
            let made = store.make_first_inbox(autocreate, autocreate_uses);
            store.locker.unlock(&inbox);
            made?;
        }
        Ok(store)
    }

    /// INBOX and the autocreated folders of a new tree, unless another
    /// session made them first.
    fn make_first_inbox(
        &self,
        autocreate: &[String],
        autocreate_uses: &[(String, SpecialUse)],
    ) -> Result<(), StoreError> {
        let store = self;
        if !store.root.join("cur").is_dir() {
            store.make_maildir(&MailboxName::inbox())?;
            let mut taken: Vec<SpecialUse> =
                store.special_uses()?.into_values().flatten().collect();
            for a in autocreate {
                let n = MailboxName::new(a)?;
                if !store.is_selectable(&n) {
                    let uses: Vec<SpecialUse> = autocreate_uses
                        .iter()
                        .filter(|(folder, u)| {
                            !taken.contains(u) && MailboxName::new(folder).is_ok_and(|f| f == n)
                        })
                        .map(|&(_, u)| u)
                        .collect();
                    store.create_with_uses(&n, &uses)?;
                    taken.extend(uses);
                }
                store.subscribe(&n)?;
            }
        }
        Ok(())
    }

    /// The mailboxes of `owner` shared with this session's user, whose
    /// directories the host preopened under `root` (`/shared/<owner>`):
    /// named `<prefix><name in the owner's tree>`. Nothing is created.
    pub fn shared(root: PathBuf, prefix: String, locker: Rc<dyn MailboxLocker>) -> MailStore {
        MailStore {
            root,
            shared_prefix: Some(prefix),
            locker,
            writer: RefCell::new(None),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ACL file of `name` (`acl.rs`); none in a shared store, whose
    /// owner's root is not in this sandbox.
    pub fn acl_file(&self, name: &MailboxName) -> Option<PathBuf> {
        self.shared_prefix
            .is_none()
            .then(|| acl::file(&self.root, name))
    }

    /// The directory of `name`. In a shared store a name outside its
    /// prefix, or the owner's INBOX (never shared: its directory is the
    /// owner's whole tree), has a directory that cannot exist.
    pub(crate) fn dir(&self, name: &MailboxName) -> PathBuf {
        match &self.shared_prefix {
            None => self.root.join(name.dir_name()),
            Some(prefix) => match name
                .as_str()
                .strip_prefix(prefix.as_str())
                .and_then(|local| MailboxName::new(local).ok())
                .filter(|local| !local.is_inbox())
            {
                Some(local) => self.root.join(local.dir_name()),
                None => self.root.join(".\u{0}none"),
            },
        }
    }

    pub fn is_selectable(&self, name: &MailboxName) -> bool {
        self.dir(name).join("cur").is_dir()
    }

    /// A fresh UIDVALIDITY, strictly greater than any handed out before in
    /// this tree (so a re-created mailbox never repeats one).
    fn new_uidvalidity(&self) -> io::Result<u32> {
        let now = mailbox::now().0.clamp(1, u32::MAX as i64 - 1) as u32;
        if self.shared_prefix.is_some() {
            // The owner's tree-wide counter is not reachable from a share
            // (only the mailbox's own directory is): the clock, which
            // only moves on, stands in.
            return Ok(now);
        }
        let path = self.root.join(UIDVALIDITY_FILE);
        let last: u32 = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let v = now.max(last.saturating_add(1));
        index::write_atomically(&path, v.to_string().as_bytes())?;
        Ok(v)
    }

    fn make_maildir(&self, name: &MailboxName) -> Result<(), StoreError> {
        let dir = self.dir(name);
        fs::create_dir_all(dir.join("tmp"))?;
        fs::create_dir_all(dir.join("new"))?;
        let uidvalidity = self.new_uidvalidity()?;
        // A random first generation: a session still holding a view of a
        // deleted mailbox of the same name sees a different log.
        let generation = index::random_u64() >> 1;
        index::write_new_log(&dir, generation, &[index::LogEntry::Create { uidvalidity }])?;
        // cur/ last: it is what makes the mailbox exist.
        fs::create_dir_all(dir.join("cur"))?;
        index::sync_dir(&dir);
        Ok(())
    }

    /// CREATE (rfc3501 6.3.3); superiors are created too.
    pub fn create(&self, name: &MailboxName) -> Result<(), StoreError> {
        self.create_with_uses(name, &[])
    }

    /// CREATE with special uses (rfc6154 3): the mailbox with exactly
    /// these uses, or nothing (uses left behind by an earlier mailbox of
    /// the name are dropped).
    pub fn create_with_uses(
        &self,
        name: &MailboxName,
        uses: &[SpecialUse],
    ) -> Result<(), StoreError> {
        self.writer.borrow_mut().take();
        if self.is_selectable(name) {
            return Err(StoreError::AlreadyExists(name.clone()));
        }
        for a in name.ancestors() {
            if !self.dir(&a).is_dir() {
                self.make_maildir(&a)?;
            }
        }
        self.make_maildir(name)?;
        // rfc4314 4: a new mailbox inherits its parent's ACL.
        let parent = name.parent().unwrap_or_else(MailboxName::inbox);
        acl::inherit(
            &acl::file(&self.root, &parent),
            &acl::file(&self.root, name),
        )?;
        if let Err(e) = self.set_special_uses(name, uses) {
            // rfc6154 3: not created unless created with its uses.
            let _ = self.delete(name);
            return Err(e);
        }
        Ok(())
    }

    /// The special uses of the mailboxes that exist (rfc6154 2); uses
    /// recorded for a name that is not a mailbox (left behind by a
    /// mailbox removed behind our back) do not count.
    pub fn special_uses(&self) -> Result<special_use::SpecialUses, StoreError> {
        let mut uses = special_use::read(&self.root)?;
        uses.retain(|name, _| self.is_selectable(name));
        Ok(uses)
    }

    /// Records `uses` as the special uses of `name` (none: forgets it).
    pub fn set_special_uses(
        &self,
        name: &MailboxName,
        uses: &[SpecialUse],
    ) -> Result<(), StoreError> {
        let mut all = special_use::read(&self.root)?;
        let uses = special_use::normalized(uses.iter().copied());
        if all.get(name).map_or(uses.is_empty(), |old| *old == uses) {
            return Ok(());
        }
        if uses.is_empty() {
            all.remove(name);
        } else {
            all.insert(name.clone(), uses);
        }
        special_use::write(&self.root, &all)?;
        Ok(())
    }

    /// Every mailbox name in the tree: (name, selectable). Implicit
    /// superiors of existing names appear as not selectable.
    fn all_names(&self) -> Result<BTreeMap<MailboxName, bool>, StoreError> {
        let mut out = BTreeMap::new();
        out.insert(
            MailboxName::inbox(),
            self.is_selectable(&MailboxName::inbox()),
        );
        for e in fs::read_dir(&self.root)? {
            let e = match e {
                Ok(e) => e,
                // Renamed or deleted by another session while listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(fname) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !e.path().is_dir() {
                continue;
            }
            if let Some(n) = MailboxName::from_dir_name(&fname) {
                let sel = e.path().join("cur").is_dir();
                for a in n.ancestors() {
                    out.entry(a).or_insert(false);
                }
                out.insert(n, sel);
            }
        }
        Ok(out)
    }

    fn has_children(all: &BTreeMap<MailboxName, bool>, name: &MailboxName) -> bool {
        all.range(name.clone()..)
            .skip(1)
            .take_while(|(n, _)| n.as_str().starts_with(name.as_str()))
            .any(|(n, _)| n.is_inferior_of(name))
    }

    /// DELETE (rfc3501 6.3.4); the mailbox's special uses go with it.
    pub fn delete(&self, name: &MailboxName) -> Result<(), StoreError> {
        self.remove(name)?;
        // rfc4314 4: the ACL goes with the mailbox.
        acl::remove(&acl::file(&self.root, name));
        // Best effort: uses left behind for a name that is no mailbox are
        // neither shown nor counted ([`MailStore::special_uses`]), and the
        // next CREATE of the name replaces them.
        let _ = self.set_special_uses(name, &[]);
        Ok(())
    }

    fn remove(&self, name: &MailboxName) -> Result<(), StoreError> {
        self.writer.borrow_mut().take();
        if name.is_inbox() {
            return Err(StoreError::CannotDeleteInbox);
        }
        let all = self.all_names()?;
        let Some(&selectable) = all.get(name) else {
            return Err(StoreError::NoSuchMailbox(name.clone()));
        };
        let dir = self.dir(name);
        if Self::has_children(&all, name) {
            if !selectable {
                return Err(StoreError::HasChildren(name.clone()));
            }
            // Keep the name as \Noselect: remove cur/ first (the mailbox
            // stops existing atomically), then the rest.
            fs::rename(dir.join("cur"), dir.join("tmp").join("deleted-cur"))?;
            for sub in ["tmp", "new"] {
                let _ = fs::remove_dir_all(dir.join(sub));
            }
            // rfc5464 4.1: the annotations go with the mailbox.
            for f in [index::SNAPSHOT_FILE, index::LOG_FILE, metadata::FILE] {
                let _ = fs::remove_file(dir.join(f));
            }
            return Ok(());
        }
        if dir.is_dir() {
            fs::remove_dir_all(&dir)?;
        }
        Ok(())
    }

    /// RENAME (rfc3501 6.3.5), inferiors included. Renaming INBOX moves its
    /// messages into the new mailbox and leaves INBOX empty.
    pub fn rename(&self, from: &MailboxName, to: &MailboxName) -> Result<(), StoreError> {
        self.writer.borrow_mut().take();
        let all = self.all_names()?;
        if !all.contains_key(from) {
            return Err(StoreError::NoSuchMailbox(from.clone()));
        }
        if all.contains_key(to) {
            return Err(StoreError::AlreadyExists(to.clone()));
        }
        if to == from || to.is_inferior_of(from) {
            return Err(StoreError::RenameIntoSelf);
        }
        if from.is_inbox() {
            self.create(to)?;
            let mut src = self.open_for_writing(from)?;
            let mut dest = self.open_for_writing(to)?;
            let all_uids: Vec<u32> = src.records().iter().map(|r| r.uid).collect();
            src.copy_to(&all_uids, &mut dest)?;
            src.remove_all()?;
            // rfc5464 4.1: the new mailbox gets a copy of INBOX's
            // annotations, and INBOX keeps them.
            let entries = self.metadata(Some(from))?;
            metadata::write(&self.dir(to).join(metadata::FILE), &entries)?;
            return Ok(());
        }
        for a in to.ancestors() {
            if !self.dir(&a).is_dir() {
                self.make_maildir(&a)?;
            }
        }
        let moving: Vec<&MailboxName> = all
            .keys()
            .filter(|n| *n == from || n.is_inferior_of(from))
            .collect();
        for n in moving {
            let old_dir = self.dir(n);
            if !old_dir.is_dir() {
                continue; // implicit superior: nothing on disk
            }
            let new_name = renamed(n, from, to)?;
            fs::rename(&old_dir, self.dir(&new_name))?;
            // rfc4314 4: the ACLs stay with the renamed mailboxes.
            let acl = acl::file(&self.root, n);
            if acl.is_file() {
                fs::rename(&acl, acl::file(&self.root, &new_name))?;
            }
        }
        index::sync_dir(&self.root);
        // The special uses move with the mailboxes.
        let mut uses = special_use::read(&self.root)?;
        let moved: Vec<MailboxName> = uses
            .keys()
            .filter(|n| *n == from || n.is_inferior_of(from))
            .cloned()
            .collect();
        if !moved.is_empty() {
            for n in moved {
                if let Some(u) = uses.remove(&n) {
                    uses.insert(renamed(&n, from, to)?, u);
                }
            }
            special_use::write(&self.root, &uses)?;
        }
        // So do the subscriptions, as Cyrus and Dovecot move them: a
        // client renaming a folder must not find it unsubscribed.
        let subs = self.subscriptions()?;
        if subs.iter().any(|n| n == from || n.is_inferior_of(from)) {
            let mut moved: Vec<MailboxName> = Vec::with_capacity(subs.len());
            for n in subs {
                let n = if n == *from || n.is_inferior_of(from) {
                    renamed(&n, from, to)?
                } else {
                    n
                };
                if !moved.contains(&n) {
                    moved.push(n);
                }
            }
            self.write_subscriptions(&moved)?;
        }
        Ok(())
    }

    /// Where the annotations of `name` are kept (`None`: the user's
    /// server entries). A name that is neither a mailbox nor the superior
    /// of one is `NoSuchMailbox`; a \Noselect name can have annotations
    /// too (rfc5464 4.1).
    fn metadata_file(&self, name: Option<&MailboxName>) -> Result<PathBuf, StoreError> {
        let Some(name) = name else {
            return Ok(self.root.join(metadata::SERVER_FILE));
        };
        if !self.is_selectable(name) && !self.all_names()?.contains_key(name) {
            return Err(StoreError::NoSuchMailbox(name.clone()));
        }
        Ok(self.dir(name).join(metadata::FILE))
    }

    /// The annotations of mailbox `name` (`None`: the user's `/private`
    /// server entries). A damaged file reads as none: annotations are
    /// not mail, and the next change writes the file anew.
    pub fn metadata(&self, name: Option<&MailboxName>) -> Result<metadata::Entries, StoreError> {
        match metadata::read(&self.metadata_file(name)?) {
            Ok(entries) => Ok(entries),
            Err(metadata::ReadError::Damaged) => Ok(metadata::Entries::new()),
            Err(metadata::ReadError::Io(e)) => Err(e.into()),
        }
    }

    /// When mailbox `name` last changed (its log's modification time, in
    /// seconds since 1970), if it has a log.
    pub fn last_update(&self, name: &MailboxName) -> Option<i64> {
        let modified = fs::metadata(self.dir(name).join(index::LOG_FILE))
            .and_then(|m| m.modified())
            .ok()?;
        let secs = modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        i64::try_from(secs).ok()
    }

    /// Changes the annotations of `name` (as [`MailStore::metadata`])
    /// under the mailbox's lock (INBOX's for server entries): `change`
    /// edits them, and they are written only if it says `Ok`.
    pub fn update_metadata<E>(
        &self,
        name: Option<&MailboxName>,
        change: impl FnOnce(&mut metadata::Entries) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        let path = self.metadata_file(name)?;
        let inbox = MailboxName::inbox();
        let lock_name = name.unwrap_or(&inbox);
        self.locker.lock(lock_name)?;
        let done = (|| {
            let mut entries = self.metadata(name)?;
            let before = entries.clone();
            if let Err(e) = change(&mut entries) {
                return Ok(Err(e));
            }
            if entries != before {
                if let Some(dir) = path.parent() {
                    // An implicit superior has no directory yet.
                    fs::create_dir_all(dir)?;
                }
                metadata::write(&path, &entries)?;
            }
            Ok(Ok(()))
        })();
        self.locker.unlock(lock_name);
        done
    }

    /// LIST (rfc3501 6.3.8) with `*` / `%` wildcards.
    pub fn list(&self, reference: &str, pattern: &str) -> Result<Vec<ListEntry>, StoreError> {
        let pattern = canonical_pattern(reference, pattern);
        self.list_where(|n| list_matches(&pattern, n))
    }

    /// LIST of the names `matches` accepts (given as UTF-8 names): the
    /// mailboxes and their superiors, not names only subscribed.
    pub fn list_where(&self, matches: impl Fn(&str) -> bool) -> Result<Vec<ListEntry>, StoreError> {
        Ok(self
            .list_tree()?
            .into_iter()
            .filter(|e| (!e.nonexistent || e.has_children) && matches(e.name.as_str()))
            .collect())
    }

    /// Every name an extended LIST (rfc5258 3) can report, in name order:
    /// the mailboxes, their superiors, and the subscribed names with
    /// theirs, whether a mailbox of the name exists or not.
    pub fn list_tree(&self) -> Result<Vec<ListEntry>, StoreError> {
        let all = self.all_names()?;
        let subs: BTreeSet<MailboxName> = self.subscriptions()?.into_iter().collect();
        let mut uses = self.special_uses()?;
        let mut names: BTreeSet<&MailboxName> = all.keys().collect();
        let superiors: Vec<MailboxName> = subs.iter().flat_map(MailboxName::ancestors).collect();
        names.extend(subs.iter().chain(&superiors));
        Ok(names
            .into_iter()
            .map(|n| {
                let (noselect, nonexistent) = self.existence(&all, n);
                ListEntry {
                    name: n.clone(),
                    noselect,
                    nonexistent,
                    has_children: Self::has_children(&all, n),
                    subscribed: subs.contains(n),
                    special_use: uses.remove(n).unwrap_or_default(),
                }
            })
            .collect())
    }

    /// (noselect, nonexistent) of `name`, given [`MailStore::all_names`]: a
    /// \Noselect directory (what DELETE leaves of a mailbox with
    /// inferiors) exists; an implicit superior or a name only subscribed
    /// does not.
    fn existence(&self, all: &BTreeMap<MailboxName, bool>, name: &MailboxName) -> (bool, bool) {
        let selectable = all.get(name).copied().unwrap_or(false);
        (!selectable, !selectable && !self.dir(name).is_dir())
    }

    /// LSUB (rfc3501 6.3.9): subscribed names matching; a `%` that stops
    /// at a non-subscribed superior of a subscribed name lists it \Noselect.
    pub fn lsub(&self, reference: &str, pattern: &str) -> Result<Vec<ListEntry>, StoreError> {
        let pattern = canonical_pattern(reference, pattern);
        self.lsub_where(|n| list_matches(&pattern, n))
    }

    /// LSUB of the names `matches` accepts (given as UTF-8 names).
    pub fn lsub_where(&self, matches: impl Fn(&str) -> bool) -> Result<Vec<ListEntry>, StoreError> {
        let all = self.all_names()?;
        let subs = self.subscriptions()?;
        let mut out: BTreeMap<MailboxName, ListEntry> = BTreeMap::new();
        for s in &subs {
            if matches(s.as_str()) {
                let (noselect, nonexistent) = self.existence(&all, s);
                out.insert(
                    s.clone(),
                    ListEntry {
                        name: s.clone(),
                        noselect,
                        nonexistent,
                        has_children: Self::has_children(&all, s),
                        subscribed: true,
                        special_use: Vec::new(),
                    },
                );
            }
            // A superior is listed only where a `%` stopped at it, i.e. the
            // pattern matches it but not the subscribed name.
            let stopped_above = !matches(s.as_str());
            for a in s.ancestors() {
                if stopped_above
                    && !out.contains_key(&a)
                    && !subs.contains(&a)
                    && matches(a.as_str())
                {
                    out.insert(
                        a.clone(),
                        ListEntry {
                            name: a.clone(),
                            noselect: true,
                            nonexistent: self.existence(&all, &a).1,
                            has_children: true,
                            subscribed: false,
                            special_use: Vec::new(),
                        },
                    );
                }
            }
        }
        Ok(out.into_values().collect())
    }

    pub fn subscriptions(&self) -> Result<Vec<MailboxName>, StoreError> {
        match fs::read_to_string(self.root.join(SUBSCRIPTIONS)) {
            Ok(s) => Ok(s.lines().filter_map(|l| MailboxName::new(l).ok()).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn write_subscriptions(&self, subs: &[MailboxName]) -> Result<(), StoreError> {
        let mut data = String::new();
        for s in subs {
            data.push_str(s.as_str());
            data.push('\n');
        }
        index::write_atomically(&self.root.join(SUBSCRIPTIONS), data.as_bytes())?;
        Ok(())
    }

    /// SUBSCRIBE (rfc3501 6.3.6). Cyrus refuses non-existent mailboxes.
    pub fn subscribe(&self, name: &MailboxName) -> Result<(), StoreError> {
        if !self.is_selectable(name) {
            return Err(StoreError::NoSuchMailbox(name.clone()));
        }
        let mut subs = self.subscriptions()?;
        if !subs.contains(name) {
            subs.push(name.clone());
            self.write_subscriptions(&subs)?;
        }
        Ok(())
    }

    /// UNSUBSCRIBE (rfc3501 6.3.7).
    pub fn unsubscribe(&self, name: &MailboxName) -> Result<(), StoreError> {
        let mut subs = self.subscriptions()?;
        let before = subs.len();
        subs.retain(|s| s != name);
        if subs.len() != before {
            self.write_subscriptions(&subs)?;
        }
        Ok(())
    }

    fn open_mailbox(
        &self,
        name: &MailboxName,
        read_only: bool,
        claims_recent: bool,
    ) -> Result<Mailbox, StoreError> {
        if !self.is_selectable(name) {
            return if self.dir(name).is_dir() {
                Err(StoreError::NotSelectable(name.clone()))
            } else {
                Err(StoreError::NoSuchMailbox(name.clone()))
            };
        }
        Mailbox::open(
            self.dir(name),
            name.clone(),
            self.locker.clone(),
            read_only,
            claims_recent,
            &|| self.new_uidvalidity(),
        )
    }

    /// SELECT (rfc3501 6.3.1): read-write; claims \Recent.
    pub fn select(&self, name: &MailboxName) -> Result<Mailbox, StoreError> {
        self.open_mailbox(name, false, true)
    }

    /// A writable mailbox that is not selected: the target of APPEND, COPY
    /// and MOVE. Unlike `select` it leaves \Recent (rfc3501 2.3.2) to the
    /// next session that selects the mailbox.
    pub fn open_for_writing(&self, name: &MailboxName) -> Result<Mailbox, StoreError> {
        self.open_mailbox(name, false, false)
    }

    /// EXAMINE (rfc3501 6.3.2): read-only; \Recent untouched.
    pub fn examine(&self, name: &MailboxName) -> Result<Mailbox, StoreError> {
        self.open_mailbox(name, true, false)
    }

    /// STATUS (rfc3501 6.3.10).
    pub fn status(&self, name: &MailboxName, with_id: bool) -> Result<MailboxStatus, StoreError> {
        let m = self.examine(name)?;
        let recent_uid = m
            .records()
            .iter()
            .filter(|r| r.uid > m_recent_uid(&m))
            .count();
        Ok(MailboxStatus {
            messages: m.exists(),
            recent: recent_uid as u32,
            uidnext: m.uid_next(),
            uidvalidity: m.uid_validity(),
            unseen: m.unseen_count(),
            deleted: m.deleted_count(),
            deleted_octets: m.deleted_size(),
            size: m.total_size(),
            highest_modseq: m.highest_modseq(),
            mailbox_id: if with_id { Some(m.mailbox_id()?) } else { None },
        })
    }

    /// APPEND to a mailbox by name (rfc3501 6.3.11; rfc3502 MULTIAPPEND:
    /// all or nothing). Returns APPENDUID data (rfc4315).
    pub fn append(
        &self,
        name: &MailboxName,
        messages: Vec<AppendMessage>,
    ) -> Result<AppendUid, StoreError> {
        self.with_writer(name, |m| m.append_all(&messages))
            .map_err(|e| match e {
                StoreError::NotSelectable(n) => StoreError::NoSuchMailbox(n),
                e => e,
            })
    }

    /// Runs `write` on a writable view of `name` (the target of APPEND,
    /// COPY, MOVE: \Recent is left to the next SELECT, rfc3501 2.3.2). The
    /// view stays open for the next write to the same mailbox; one that
    /// finds the mailbox deleted or re-created since is opened afresh.
    pub fn with_writer<T>(
        &self,
        name: &MailboxName,
        write: impl FnOnce(&mut Mailbox) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut slot = self.writer.borrow_mut();
        let reusable = match slot.as_mut() {
            Some(m) if m.name() == name && self.is_selectable(name) => m.refresh().is_ok(),
            _ => false,
        };
        if !reusable {
            *slot = None;
            *slot = Some(self.open_for_writing(name)?);
        }
        let Some(mailbox) = slot.as_mut() else {
            return Err(StoreError::NoSuchMailbox(name.clone()));
        };
        let result = write(mailbox);
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

/// `name`, which is `from` or one of its inferiors, after RENAME `from` `to`.
fn renamed(
    name: &MailboxName,
    from: &MailboxName,
    to: &MailboxName,
) -> Result<MailboxName, InvalidName> {
    let suffix = &name.as_str()[from.as_str().len()..];
    MailboxName::new(&format!("{}{}", to.as_str(), suffix))
}

fn m_recent_uid(m: &Mailbox) -> u32 {
    m.recent_threshold()
}

impl Mailbox {
    /// UIDs above this are \Recent for the next read-write session.
    pub fn recent_threshold(&self) -> u32 {
        self.header_recent_uid()
    }
}

/// rfc3501 6.3.8: the reference is prefixed to the pattern; a leading
/// `INBOX` level is case-insensitive.
pub fn canonical_pattern(reference: &str, pattern: &str) -> String {
    canonical_pattern_with(reference, pattern, '/')
}

/// [`canonical_pattern`] with hierarchy separator `sep`.
pub fn canonical_pattern_with(reference: &str, pattern: &str, sep: char) -> String {
    let mut p = if pattern.starts_with(sep) || reference.is_empty() {
        pattern.to_string()
    } else if reference.ends_with(sep) {
        format!("{reference}{pattern}")
    } else {
        format!("{reference}{sep}{pattern}")
    };
    if p.len() >= 5
        && p.is_char_boundary(5)
        && p[..5].eq_ignore_ascii_case("INBOX")
        && (p.len() == 5 || p[5..].starts_with(sep))
    {
        p.replace_range(..5, "INBOX");
    }
    p
}

/// LIST wildcard match: `*` matches anything, `%` anything but `/`.
pub fn list_matches(pattern: &str, name: &str) -> bool {
    list_matches_with(pattern, name, '/')
}

/// [`list_matches`] with hierarchy separator `sep` (what `%` stops at).
pub fn list_matches_with(pattern: &str, name: &str, sep: char) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // dp[j]: pattern prefix matches name prefix of length j
    let mut dp = vec![false; n.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut reach = false;
                for j in 0..=n.len() {
                    if dp[j] {
                        reach = true;
                    }
                    next[j] = reach;
                    if pc == '%' && j < n.len() && n[j] == sep {
                        reach = false;
                    }
                }
            }
            c => {
                for j in 0..n.len() {
                    if dp[j] && n[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
        }
        dp = next;
    }
    dp[n.len()]
}

#[cfg(test)]
mod tests;
