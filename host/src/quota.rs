//! QUOTA (rfc9208) on the host side: users' quota roots, kept in Cyrus's own files, the usage
//! the host counts from a user's tree, the wit imports `own-quota`, `get-quota` and
//! `set-quota`, `autocreate_quota` at a first login, and `imapd quota`.
//!
//! Every user may have one quota root, named as Cyrus names it: `user.<name>` (a `.` in the
//! name written `^`, as in Cyrus's internal names). Its file is Cyrus 3.6's (`quota_db:
//! quotalegacy`), `<configdirectory>/quota/<c>/user.<name>`, where `<c>` is the name's first
//! letter in lower case (`q` when it does not start with an ASCII letter: Cyrus's basic
//! directory hash), so a Cyrus configdirectory's quotas carry over. One line:
//! `%(S (3023 10) M (3 100) AS (0) NF (2) MODSEQ 6)`: per resource `<code> (<usage>
//! [<limit>])`, `S` STORAGE (usage in octets, limit in KiB), `M` MESSAGE; no limit, no second
//! number. The other fields (`AS`, `NF`, `MODSEQ`, anything newer) are kept as they are when
//! the file is rewritten, `MODSEQ` raised by one as Cyrus does. Cyrus 2's two-number form
//! (`<usage> <limit>`, -1 for none) is read too. A file is input that may be damaged: one
//! that does not parse is an error naming it, never a panic.
//!
//! Files are replaced whole ([`crate::replace`]: temporary file, fsync, rename, directory
//! fsync) under the lock of their `quota/<c>/` directory; readers take no lock.
//!
//! The usage the host reports is what it counts in the user's tree ([`count_usage`]), not
//! the file's (the file's is refreshed by SETQUOTA and `imapd quota -f`). Only administrators
//! see or change another user's root; a user may read its own.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use cap_std::fs::{Dir, MetadataExt as _};

use crate::engine::{QuotaError, QuotaLimits, QuotaUsage};
use crate::replace::{Staged, lock_dir};

/// The directory of the quota files, in the configdirectory.
pub const DIR: &str = "quota";
/// The largest quota file read; a longer one is damaged (Cyrus's are one short line).
const MAX_FILE: u64 = 64 * 1024;
/// The mode of the quota files written (Cyrus's `quota -f` leaves 0600).
const MODE: u32 = 0o600;

/// One resource of a quota root: its usage and its limit (`None`: no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resource {
    pub used: u64,
    pub limit: Option<u64>,
}

/// A quota file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaFile {
    /// STORAGE (`S`): usage in octets, limit in units of 1024 octets.
    pub storage: Resource,
    /// MESSAGE (`M`): a count of messages.
    pub messages: Resource,
    /// Cyrus's other fields (`AS`, `NF`, `MODSEQ`, ...), name and value as written, in order.
    pub other: Vec<(String, String)>,
}

/// A field's value in Cyrus's dlist notation: an atom or a list of atoms.
enum Value<'a> {
    Atom(&'a str),
    List(Vec<&'a str>),
}

impl Value<'_> {
    fn render(&self) -> String {
        match self {
            Value::Atom(a) => a.to_string(),
            Value::List(items) => format!("({})", items.join(" ")),
        }
    }
}

/// A cursor over a quota file's text (ASCII, checked before).
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, b: u8) -> bool {
        if self.s.as_bytes().get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.eat(b' ') {}
    }

    /// `[A-Za-z0-9_.+-]+`.
    fn atom(&mut self) -> Option<&'a str> {
        let start = self.i;
        let bytes = self.s.as_bytes();
        while self.i < bytes.len()
            && (bytes[self.i].is_ascii_alphanumeric() || b"_.+-".contains(&bytes[self.i]))
        {
            self.i += 1;
        }
        (self.i > start).then(|| &self.s[start..self.i])
    }

    fn expected(&self, what: &str) -> String {
        match self.s.as_bytes().get(self.i) {
            Some(&b) => format!(
                "expected {what} at offset {}, found '{}'",
                self.i, b as char
            ),
            None => format!("expected {what} at offset {}, found the end", self.i),
        }
    }

    fn value(&mut self) -> Result<Value<'a>, String> {
        if !self.eat(b'(') {
            return self
                .atom()
                .map(Value::Atom)
                .ok_or_else(|| self.expected("a value"));
        }
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat(b')') {
                return Ok(Value::List(items));
            }
            items.push(
                self.atom()
                    .ok_or_else(|| self.expected("a number or ')'"))?,
            );
        }
    }
}

/// A usage: decimal digits, within u64.
fn number(text: &str) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a number"));
    }
    text.parse()
        .map_err(|_| format!("{text} is too large a number"))
}

/// A limit: a number, or -1 for none (Cyrus's QUOTA_UNLIMITED).
fn limit(text: &str) -> Result<Option<u64>, String> {
    match text {
        "-1" => Ok(None),
        _ => number(text).map(Some),
    }
}

/// A resource's value: `(<usage>)` or `(<usage> <limit>)`.
fn resource(name: &str, value: &Value) -> Result<Resource, String> {
    match value {
        Value::List(items) if items.len() == 1 => Ok(Resource {
            used: number(items[0])?,
            limit: None,
        }),
        Value::List(items) if items.len() == 2 => Ok(Resource {
            used: number(items[0])?,
            limit: limit(items[1])?,
        }),
        _ => Err(format!(
            "{name} is not (<usage>) or (<usage> <limit>): {}",
            value.render()
        )),
    }
}

impl QuotaFile {
    /// A quota file's bytes; why not, when they do not parse.
    pub fn parse(bytes: &[u8]) -> Result<QuotaFile, String> {
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.is_ascii())
            .ok_or("not ASCII text")?;
        let body = text.trim_end_matches([' ', '\t', '\r', '\n']);
        if body.starts_with('%') {
            QuotaFile::parse_dlist(body)
        } else {
            QuotaFile::parse_legacy(body)
        }
    }

    /// Cyrus 3's form: `%(S (<usage> [<limit>]) M (...) <other> <value> ...)`.
    fn parse_dlist(body: &str) -> Result<QuotaFile, String> {
        let mut c = Cursor { s: body, i: 0 };
        if !(c.eat(b'%') && c.eat(b'(')) {
            return Err("does not start with %(".into());
        }
        let mut q = QuotaFile::default();
        let mut seen: Vec<&str> = Vec::new();
        loop {
            c.skip_spaces();
            if c.eat(b')') {
                break;
            }
            let key = c.atom().ok_or_else(|| c.expected("a field name or ')'"))?;
            if seen.contains(&key) {
                return Err(format!("field {key} is given twice"));
            }
            seen.push(key);
            c.skip_spaces();
            let value = c.value()?;
            match key {
                "S" => q.storage = resource(key, &value)?,
                "M" => q.messages = resource(key, &value)?,
                _ => q.other.push((key.to_string(), value.render())),
            }
        }
        if c.i != body.len() {
            return Err(format!("text after the closing ')' at offset {}", c.i));
        }
        Ok(q)
    }

    /// Cyrus 2's form: the STORAGE usage and limit, -1 for none (two lines, or one).
    fn parse_legacy(body: &str) -> Result<QuotaFile, String> {
        let words: Vec<&str> = body.split_ascii_whitespace().collect();
        let [used, lim] = words[..] else {
            return Err("neither %(...) nor <usage> <limit>".into());
        };
        Ok(QuotaFile {
            storage: Resource {
                used: number(used)?,
                limit: limit(lim)?,
            },
            ..QuotaFile::default()
        })
    }

    /// The file's bytes: `%(S (<octets>[ <limit>]) M (<count>[ <limit>])[ <other>...])` LF.
    pub fn render(&self) -> Vec<u8> {
        let res = |r: Resource| match r.limit {
            Some(l) => format!("({} {l})", r.used),
            None => format!("({})", r.used),
        };
        let mut out = format!("%(S {} M {}", res(self.storage), res(self.messages));
        for (name, value) in &self.other {
            out.push_str(&format!(" {name} {value}"));
        }
        out.push_str(")\n");
        out.into_bytes()
    }

    /// The limits, as the wit has them.
    pub fn limits(&self) -> QuotaLimits {
        QuotaLimits {
            storage: self.storage.limit,
            messages: self.messages.limit,
        }
    }

    /// Raises Cyrus's `MODSEQ` field, if there is one, as Cyrus does at every change.
    fn bump_modseq(&mut self) {
        for (name, value) in &mut self.other {
            if name == "MODSEQ"
                && let Ok(n) = number(value)
            {
                *value = n.saturating_add(1).to_string();
            }
        }
    }
}

/// Whether `user` may have a quota root: a valid login name ([`crate::auth::valid_user_name`]:
/// not empty, no `/`, no leading `.`, ...) without `^`, which Cyrus's file names use for `.`
/// (so that `a.b` and `a^b` cannot share a root), short enough for its file's name (`user.`
/// and the name, at most 255 octets).
pub fn valid_user(user: &str) -> bool {
    crate::auth::valid_user_name(user) && !user.contains('^') && user.len() <= 250
}

/// The root's name in Cyrus's internal form: `user.<name>`, a `.` in the name written `^`.
pub fn root_name(user: &str) -> String {
    format!("user.{}", user.replace('.', "^"))
}

/// Cyrus's basic directory hash: the name's first letter in lower case, else `q`.
fn hash_char(user: &str) -> char {
    match user.bytes().next() {
        Some(b) if b.is_ascii_alphabetic() => b.to_ascii_lowercase() as char,
        _ => 'q',
    }
}

/// `user`'s quota file, `<config_dir>/quota/<c>/user.<name>`; `None` for a name that cannot
/// have one ([`valid_user`]).
pub fn file_of(config_dir: &Path, user: &str) -> Option<PathBuf> {
    valid_user(user).then(|| {
        config_dir
            .join(DIR)
            .join(hash_char(user).to_string())
            .join(root_name(user))
    })
}

/// The quota file at `path`; `Ok(None)` when there is none. A file that cannot be read or does
/// not parse is an error naming it.
fn read_file(path: &Path) -> Result<Option<QuotaFile>> {
    // O_NONBLOCK: a FIFO in its place must not hang the reader.
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let meta = f
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        bail!("damaged quota file {}: not a file", path.display());
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE {
        bail!(
            "damaged quota file {}: longer than {MAX_FILE} octets",
            path.display()
        );
    }
    QuotaFile::parse(&bytes)
        .map(Some)
        .map_err(|why| anyhow!("damaged quota file {}: {why}", path.display()))
}

/// `user`'s quota file; `Ok(None)` when there is none.
pub fn read(config_dir: &Path, user: &str) -> Result<Option<QuotaFile>> {
    let path =
        file_of(config_dir, user).ok_or_else(|| anyhow!("{user:?} cannot have a quota root"))?;
    read_file(&path)
}

/// Under the lock of the quota file's directory (made if missing: `create`): passes the file
/// as it is now (`Ok(None)`: none; `Err`: unreadable or damaged) to `edit`, and writes what
/// `edit` returns, if anything.
fn update(
    config_dir: &Path,
    path: &Path,
    create: bool,
    edit: impl FnOnce(Result<Option<QuotaFile>>) -> Result<Option<QuotaFile>>,
) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("{}: no directory", path.display()))?;
    if create {
        crate::replace::make_dir(&config_dir.join(DIR))?;
        crate::replace::make_dir(dir)?;
    }
    let _lock = lock_dir(dir)?;
    if let Some(new) = edit(read_file(path))? {
        Staged::new(path, &new.render(), MODE)?.commit()?;
    }
    Ok(())
}

/// `name` in `parent` as a directory, if it is one and not a symlink. Checked by the device
/// and inode of what was opened, so a directory swapped for a symlink meanwhile is refused.
fn subdir(parent: &Dir, name: &Path) -> Result<Option<Dir>> {
    let ctx = || format!("reading {}", name.display());
    let lstat = match parent.symlink_metadata(name) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(ctx),
    };
    if !lstat.is_dir() {
        return Ok(None);
    }
    let dir = match parent.open_dir(name) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(ctx),
    };
    let opened = dir.dir_metadata().with_context(ctx)?;
    if (opened.dev(), opened.ino()) != (lstat.dev(), lstat.ino()) {
        return Ok(None);
    }
    Ok(Some(dir))
}

/// The messages in one mailbox directory (`cur/` or `new/`): its regular files whose names do
/// not start with `.`, and the sum of their sizes.
fn count_files(dir: &Dir, name: &Path, total: &mut (u64, u64)) -> Result<()> {
    let Some(d) = subdir(dir, name)? else {
        return Ok(());
    };
    let ctx = || format!("reading {}", name.display());
    for entry in d.entries().with_context(ctx)? {
        let entry = entry.with_context(ctx)?;
        if entry.file_name().as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        // Neither the type nor the size follows a symlink.
        let meta = match entry.metadata() {
            Ok(m) => m,
            // Expunged or moved meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(ctx),
        };
        if meta.is_file() {
            total.0 += 1;
            total.1 = total.1.saturating_add(meta.len());
        }
    }
    Ok(())
}

/// One mailbox: counted if it has a `cur/` directory (it is selectable).
fn count_mailbox(mailbox: &Dir, total: &mut (u64, u64)) -> Result<()> {
    if mailbox.symlink_metadata("cur").is_ok_and(|m| m.is_dir()) {
        count_files(mailbox, Path::new("cur"), total)?;
        count_files(mailbox, Path::new("new"), total)?;
    }
    Ok(())
}

/// The usage of a user's mail tree (Maildir++), as the host counts it: `(messages, octets)`
/// over INBOX (the tree's own `cur/` and `new/`) and every folder (a top-level directory whose
/// name starts with `.`, `.A.B` for `A/B`) that has a `cur/` directory: the regular files in
/// `cur/` and `new/` whose names do not start with `.`, and the sum of their sizes. `tmp/`
/// is not counted, symlinks are not followed, and everything goes through `tree`, a
/// capability: the walk cannot leave it. A mailbox removed while it is counted counts as empty.
pub fn count_usage(tree: &Dir) -> Result<(u64, u64)> {
    let mut total = (0, 0);
    count_mailbox(tree, &mut total)?;
    for entry in tree.entries().context("reading the mail tree")? {
        let entry = entry.context("reading the mail tree")?;
        let name = entry.file_name();
        if name.as_encoded_bytes().first() != Some(&b'.') {
            continue;
        }
        if let Some(mailbox) = subdir(tree, Path::new(&name))? {
            count_mailbox(&mailbox, &mut total)
                .with_context(|| format!("in {}", Path::new(&name).display()))?;
        }
    }
    Ok(total)
}

/// `user`'s tree in `partition`; `None` when it does not exist.
fn open_tree(partition: &Dir, user: &str) -> Result<Option<Dir>> {
    match partition.open_dir(user) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("opening the mail tree of {user}")),
    }
}

fn failed(e: anyhow::Error) -> QuotaError {
    QuotaError::Failed(format!("{e:#}"))
}

/// The limits of `user`'s root (wit: `own-quota`); `None` without one. A damaged or
/// unreadable file is logged and counts as none. Blocking.
pub fn own(config_dir: &Path, user: &str) -> Option<QuotaLimits> {
    match read(config_dir, user) {
        Ok(file) => file.map(|f| f.limits()),
        Err(e) => {
            crate::syslog!(Err, "quota of {}: {e:#}", crate::ops::log::clean(user));
            None
        }
    }
}

/// How much a quota'd tree may grow between two checks of [`Guard`] while it is over its
/// limit: what deliveries into `new/` (which no guest refuses) could add in that time.
const GUARD_SLACK_OCTETS: u64 = 10 << 20;
const GUARD_SLACK_MESSAGES: u64 = 1000;
/// How often [`Guard`] counts a session's tree.
const GUARD_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The host's own bound on a session that does not keep its quota (a guest is trusted with
/// nothing): at a command boundary, at most once a minute, for a user with limits, the host
/// counts the tree itself ([`count_usage`]). A tree that is over a limit and has grown past
/// the slack since the last count ends the session. An honest guest never grows a tree past
/// its limit, so only deliveries could trip it, and they would have to bring more than the
/// slack in a minute.
#[derive(Default)]
pub struct Guard {
    /// When it last looked (whether or not the user had limits).
    checked_at: Option<std::time::Instant>,
    /// The count it last made: messages and octets.
    last: Option<(u64, u64)>,
}

impl Guard {
    /// Whether [`Guard::check`] would count now: at most once a minute, so
    /// the caller goes to the blocking pool only then.
    pub fn due(&self, now: std::time::Instant) -> bool {
        self.checked_at
            .is_none_or(|at| now.duration_since(at) >= GUARD_EVERY)
    }

    /// `Some(reason)` when the session must end. Blocking (the caller runs it off the
    /// async threads); `now` is passed in so the interval is testable.
    pub fn check(
        &mut self,
        config_dir: &Path,
        tree: &Dir,
        user: &str,
        now: std::time::Instant,
    ) -> Option<String> {
        if !self.due(now) {
            return None;
        }
        self.checked_at = Some(now);
        let Some(limits) =
            own(config_dir, user).filter(|l| l.storage.is_some() || l.messages.is_some())
        else {
            self.last = None;
            return None;
        };
        let (messages, octets) = count_usage(tree).ok()?;
        let previous = self.last.replace((messages, octets));
        let over = limits
            .storage
            .is_some_and(|l| octets > l.saturating_mul(1024))
            || limits.messages.is_some_and(|l| messages > l);
        let (before_messages, before_octets) = previous?;
        let slack = |limit: Option<u64>, floor: u64| floor.max(limit.unwrap_or(0) / 10);
        let grew = octets
            > before_octets + slack(limits.storage.map(|l| l * 1024), GUARD_SLACK_OCTETS)
            || messages > before_messages + slack(limits.messages, GUARD_SLACK_MESSAGES);
        (over && grew).then(|| {
            format!(
                "over quota and grown to {messages} messages, {octets} octets \
                 (from {before_messages}, {before_octets}) since the last count"
            )
        })
    }
}

/// `user`'s quota root with the usage counted in its tree (wit: `get-quota`). `caller`: the
/// session's user, `admin`: whether it is an administrator. Only an administrator, or the
/// user itself, may look (checked before anything else, so the answers tell nobody else
/// whether a user exists). Blocking: it walks the tree.
pub fn get(
    config_dir: &Path,
    partition: &Dir,
    caller: Option<&str>,
    admin: bool,
    user: &str,
) -> Result<QuotaUsage, QuotaError> {
    if caller.is_none() || !(admin || caller == Some(user)) {
        return Err(QuotaError::NotAllowed);
    }
    let Some(path) = file_of(config_dir, user) else {
        return Err(QuotaError::NoSuchRoot);
    };
    let Some(tree) = open_tree(partition, user).map_err(failed)? else {
        return Err(QuotaError::NoSuchRoot);
    };
    let file = match read_file(&path) {
        Ok(Some(f)) => f,
        Ok(None) => return Err(QuotaError::NoSuchRoot),
        Err(e) => {
            crate::syslog!(Err, "{e:#}");
            return Err(failed(e));
        }
    };
    let (messages, octets) = count_usage(&tree).map_err(|e| {
        failed(e.context(format!(
            "counting the mail of {}",
            crate::ops::log::clean(user)
        )))
    })?;
    Ok(QuotaUsage {
        limits: file.limits(),
        messages,
        octets,
    })
}

/// Replaces `user`'s quota limits (wit: `set-quota`): a limit not given is removed, and no
/// limit at all keeps the root (as Cyrus's `SETQUOTA root ()`). The root is made if it was
/// not there; the usage counted now is stored with it, and returned as [`get`] returns it.
/// Administrators only, for users whose tree exists. A damaged file is replaced (and logged).
/// Limits are stored as given. Blocking: it walks the tree and fsyncs.
pub fn set(
    config_dir: &Path,
    partition: &Dir,
    admin: bool,
    user: &str,
    limits: QuotaLimits,
) -> Result<QuotaUsage, QuotaError> {
    if !admin {
        return Err(QuotaError::NotAllowed);
    }
    let Some(path) = file_of(config_dir, user) else {
        return Err(QuotaError::NoSuchRoot);
    };
    let Some(tree) = open_tree(partition, user).map_err(failed)? else {
        return Err(QuotaError::NoSuchRoot);
    };
    let (messages, octets) = count_usage(&tree).map_err(|e| {
        failed(e.context(format!(
            "counting the mail of {}",
            crate::ops::log::clean(user)
        )))
    })?;
    update(config_dir, &path, true, |old| {
        let mut file = match old {
            Ok(Some(mut old)) => {
                old.bump_modseq();
                old
            }
            Ok(None) => QuotaFile::default(),
            Err(e) => match e.downcast_ref::<std::io::Error>() {
                // Unreadable: leave it to the administrator.
                Some(_) => return Err(e),
                None => {
                    crate::syslog!(Warning, "{e:#}; replacing it");
                    QuotaFile::default()
                }
            },
        };
        file.storage = Resource {
            used: octets,
            limit: limits.storage,
        };
        file.messages = Resource {
            used: messages,
            limit: limits.messages,
        };
        Ok(Some(file))
    })
    .map_err(failed)?;
    Ok(QuotaUsage {
        limits,
        messages,
        octets,
    })
}

/// `autocreate_quota` at a user's first login (its tree was just made): unless the user has a
/// quota root already (even a damaged one), makes one with STORAGE `storage_kib` (0: no limit)
/// and MESSAGE `messages` (0: no limit), as Cyrus's autocreate does. `Ok(true)` when it made
/// one. Blocking.
pub fn autocreate(config_dir: &Path, user: &str, storage_kib: u64, messages: u64) -> Result<bool> {
    let path =
        file_of(config_dir, user).ok_or_else(|| anyhow!("{user:?} cannot have a quota root"))?;
    let mut made = false;
    update(config_dir, &path, true, |old| {
        if !matches!(old, Ok(None)) {
            return Ok(None);
        }
        made = true;
        Ok(Some(QuotaFile {
            storage: Resource {
                used: 0,
                limit: (storage_kib > 0).then_some(storage_kib),
            },
            messages: Resource {
                used: 0,
                limit: (messages > 0).then_some(messages),
            },
            other: Vec::new(),
        }))
    })?;
    Ok(made)
}

/// Limits as a log line shows them: `STORAGE 10 MESSAGE 3`, or `()`.
pub fn describe(limits: &QuotaLimits) -> String {
    let mut parts = Vec::new();
    if let Some(l) = limits.storage {
        parts.push(format!("STORAGE {l}"));
    }
    if let Some(l) = limits.messages {
        parts.push(format!("MESSAGE {l}"));
    }
    match parts.is_empty() {
        true => "()".into(),
        false => parts.join(" "),
    }
}

// ---------------------------------------------------------------------------------------------
// `imapd quota`

const USAGE: &str = "usage: imapd quota [-C imapd.conf] [-f] [USER...]";

/// `imapd quota`'s command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    config: PathBuf,
    fix: bool,
    users: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut config = crate::cli::parse(&[]).map_err(|e| anyhow!("{e}"))?.config;
    let mut fix = false;
    let mut users = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-C" => {
                i += 1;
                config = args.get(i).ok_or_else(|| anyhow!(USAGE))?.into();
            }
            "-f" => fix = true,
            "-h" | "--help" => bail!(USAGE),
            a if a.starts_with('-') => bail!("unknown option {a}\n{USAGE}"),
            // Cyrus's `quota` takes roots: `user/alice` names alice too.
            a => users.push(a.strip_prefix("user/").unwrap_or(a).to_string()),
        }
        i += 1;
    }
    Ok(Args { config, fix, users })
}

/// A user with a quota file, and the file.
type Root = (String, PathBuf);

/// Every user with a quota file in `config_dir`, sorted by name, with its file; and why other
/// files there were passed over (Cyrus's roots of folders and shared mailboxes: imapd keeps one
/// root per user).
fn list_roots(config_dir: &Path) -> Result<(Vec<Root>, Vec<String>)> {
    let top = config_dir.join(DIR);
    let mut roots = Vec::new();
    let mut skipped = Vec::new();
    let dirs = match std::fs::read_dir(&top) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((roots, skipped)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", top.display())),
    };
    for dir in dirs {
        let dir = dir.with_context(|| format!("reading {}", top.display()))?;
        if !dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let files = std::fs::read_dir(dir.path())
            .with_context(|| format!("reading {}", dir.path().display()))?;
        for file in files {
            let file = file.with_context(|| format!("reading {}", dir.path().display()))?;
            let path = file.path();
            let Some(name) = file.file_name().to_str().map(str::to_string) else {
                skipped.push(format!("{}: not a root of a user", path.display()));
                continue;
            };
            if name.starts_with('.') {
                continue; // a file being written
            }
            let user = name
                .strip_prefix("user.")
                .filter(|rest| !rest.contains('.'))
                .map(|rest| rest.replace('^', "."));
            match user {
                Some(user) if file_of(config_dir, &user).as_deref() == Some(path.as_path()) => {
                    roots.push((user, path))
                }
                _ => skipped.push(format!(
                    "{}: not a root of a user (imapd keeps one root per user)",
                    path.display()
                )),
            }
        }
    }
    roots.sort();
    Ok((roots, skipped))
}

/// How the report names a user's root: `user/alice` (`user.alice` without
/// `unixhierarchysep`), and for a user of another domain than the default
/// one Cyrus's `example.com!user/alice`.
fn shown_root(user: &str, domains: &crate::tenant::Domains, unix_sep: bool) -> String {
    let (local, domain) = domains.split(user);
    let root = match unix_sep {
        true => format!("user/{local}"),
        false => root_name(local),
    };
    match domain {
        Some(d) => format!("{d}!{root}"),
        None => root,
    }
}

/// Cyrus's report: a header, then per root (as [`shown_root`] names it) a
/// line per resource (STORAGE used in KiB, rounded down, and its percentage
/// of the limit from that rounded value).
fn report(roots: &[(String, QuotaFile)]) -> String {
    let line = |quota: &str, pct: &str, used: &str, res: &str, root: &str| {
        format!("{quota:>8} {pct:>8} {used:>8} {res:>20} {root}\n")
    };
    let mut out = line("Quota", "% Used", "Used", "Resource", "Root");
    for (root, file) in roots {
        for (res, r, unit) in [
            ("STORAGE", file.storage, 1024),
            ("MESSAGE", file.messages, 1),
        ] {
            let used = r.used / unit;
            let (quota, pct) = match r.limit {
                Some(0) => ("0".to_string(), String::new()),
                Some(l) => (l.to_string(), (used as u128 * 100 / l as u128).to_string()),
                None => (String::new(), String::new()),
            };
            out.push_str(&line(&quota, &pct, &used.to_string(), res, root));
        }
    }
    out
}

/// `imapd quota -f` for one user: the usage counted in its tree (none when it has no tree),
/// written into its file when it changed. Returns the lines Cyrus prints for the changes,
/// and the file as written; `None` when the user has no quota file.
fn fix(
    config_dir: &Path,
    partition: &Dir,
    user: &str,
    root: &str,
) -> Result<Option<(Vec<String>, QuotaFile)>> {
    let path =
        file_of(config_dir, user).ok_or_else(|| anyhow!("{user:?} cannot have a quota root"))?;
    let (messages, octets) = match open_tree(partition, user)? {
        Some(tree) => count_usage(&tree).with_context(|| format!("counting the mail of {user}"))?,
        None => (0, 0),
    };
    let mut changes = Vec::new();
    let mut result = None;
    if !path.exists() {
        return Ok(None);
    }
    update(config_dir, &path, false, |old| {
        let Some(mut file) = old? else {
            return Ok(None); // removed meanwhile
        };
        for (name, r, now) in [
            ("STORAGE", &mut file.storage, octets),
            ("MESSAGE", &mut file.messages, messages),
        ] {
            if r.used != now {
                changes.push(format!("{root}: {name} usage was {}, now {now}", r.used));
                r.used = now;
            }
        }
        if changes.is_empty() {
            result = Some(file);
            return Ok(None);
        }
        file.bump_modseq();
        result = Some(file.clone());
        Ok(Some(file))
    })?;
    Ok(result.map(|file| (changes, file)))
}

/// `imapd quota [-C imapd.conf] [-f] [USER...]`: Cyrus's `quota`. Prints the quota roots of
/// the users named (`alice` or `user/alice`, with `virtdomains` also `alice@example.com`; one
/// without a root is left out), or of every user with one, every domain's included. `-f`
/// first counts each user's usage in its tree, prints each change on stderr (`user.bob:
/// STORAGE usage was 99999, now 400`) and writes it into the file. A file that cannot be read
/// or written is reported on stderr, by name, and makes the exit status non-zero; the others
/// are still listed.
pub fn run(args: &[String]) -> Result<()> {
    let args = parse_args(args)?;
    let cfg = crate::config::Config::load(&args.config, &crate::cli::service_name())?;
    let (out, errors) = quotas(&cfg, &args)?;
    print!("{out}");
    for e in &errors {
        eprintln!("imapd quota: {e:#}");
    }
    match errors.len() {
        0 => Ok(()),
        n => bail!("{n} quota root(s) could not be read or fixed"),
    }
}

/// What `imapd quota` prints, and the roots it could not read or fix.
fn quotas(cfg: &crate::config::Config, args: &Args) -> Result<(String, Vec<anyhow::Error>)> {
    let domains = crate::tenant::Domains::from_config(cfg)?;
    let config_dir = cfg.configdirectory();
    // A domain's roots are in its own configuration directory.
    let tenant_dir = |domain: Option<&str>| match domain {
        Some(d) => config_dir.join(crate::tenant::DOMAIN_DIR).join(d),
        None => config_dir.to_path_buf(),
    };
    let mut errors = Vec::new();
    // (canonical user, its root's file)
    let mut users: Vec<Root> = Vec::new();
    if args.users.is_empty() {
        let (roots, skipped) = list_roots(config_dir)?;
        users.extend(roots);
        let mut other_domains = Vec::new();
        if domains.enabled()
            && let Ok(dirs) = std::fs::read_dir(config_dir.join(crate::tenant::DOMAIN_DIR))
        {
            other_domains = dirs
                .flatten()
                .filter_map(|d| d.file_name().into_string().ok())
                .filter(|d| crate::tenant::valid_domain(d))
                .collect();
            other_domains.sort();
        }
        for s in skipped {
            eprintln!("imapd quota: {s}; skipped");
        }
        for d in other_domains {
            let (roots, skipped) = list_roots(&tenant_dir(Some(&d)))?;
            users.extend(roots.into_iter().map(|(u, p)| (format!("{u}@{d}"), p)));
            for s in skipped {
                eprintln!("imapd quota: {s}; skipped");
            }
        }
    } else {
        for name in &args.users {
            let user = domains.canonical(name, None).filter(|_| !name.is_empty());
            let (local, domain) = user.as_deref().map_or(("", None), |u| domains.split(u));
            match user
                .as_ref()
                .and_then(|_| file_of(&tenant_dir(domain), local))
            {
                Some(path) => users.push((user.clone().unwrap_or_default(), path)),
                None => errors.push(anyhow!("invalid user name {name:?}")),
            }
        }
    }
    let partition = match args.fix {
        true => {
            let (_, dir) = cfg.default_partition()?;
            Some(
                Dir::open_ambient_dir(dir, cap_std::ambient_authority())
                    .with_context(|| format!("opening partition {}", dir.display()))?,
            )
        }
        false => None,
    };
    let mut roots = Vec::new();
    for (user, path) in users {
        let (local, domain) = domains.split(&user);
        let root = shown_root(&user, &domains, cfg.unixhierarchysep());
        let file = match &partition {
            Some(partition) => domain_partition(partition, domain)
                .and_then(|p| {
                    let named = shown_root(&user, &domains, false);
                    fix(&tenant_dir(domain), &p, local, &named)
                })
                .map(|fixed| {
                    fixed.map(|(changes, file)| {
                        for c in changes {
                            eprintln!("{c}");
                        }
                        file
                    })
                }),
            None => read_file(&path),
        };
        match file {
            Ok(Some(file)) => roots.push((root, file)),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    Ok((report(&roots), errors))
}

/// The directory of a domain's users' trees in the partition (`None`: the
/// default domain's, the partition itself).
fn domain_partition(partition: &Dir, domain: Option<&str>) -> Result<Dir> {
    match domain {
        None => Ok(partition.try_clone()?),
        Some(d) => {
            let rel = format!("{}/{d}", crate::tenant::DOMAIN_DIR);
            partition
                .open_dir(&rel)
                .with_context(|| format!("opening the partition's {rel}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::replace::scratch_dir;

    /// Cyrus 3.6's own lines (cyrus-quota notes, section 5 and 7).
    const CYRUS_LINES: &[&str] = &[
        "%(S (0) M (0) AS (0) NF (2) MODSEQ 5)\n",
        "%(S (3023 10) M (3 100) AS (0) NF (2) MODSEQ 6)\n",
        "%(S (10240 10) M (4 100) AS (0) NF (2) MODSEQ 7)\n",
        "%(S (1523 1) M (2) AS (0) NF (1) MODSEQ 14)\n",
        "%(S (2000 2) M (2 100) AS (0) NF (1) MODSEQ 3)\n",
        "%(S (400 10) M (10 3) AS (0 8) NF (1 7) MODSEQ 25)\n",
        "%(S (0 100) M (0) AS (0) NF (1) MODSEQ 2)\n",
        "%(S (0 100) M (0 50) AS (0) NF (1) MODSEQ 2)\n",
    ];

    fn limits(storage: Option<u64>, messages: Option<u64>) -> QuotaLimits {
        QuotaLimits { storage, messages }
    }

    /// Limits as a pair (the wit's record has no PartialEq).
    fn pair(l: Option<QuotaLimits>) -> Option<(Option<u64>, Option<u64>)> {
        l.map(|l| (l.storage, l.messages))
    }

    fn res(used: u64, limit: Option<u64>) -> Resource {
        Resource { used, limit }
    }

    /// A configdirectory and a partition holding `users`' trees (an INBOX each).
    fn setup(tag: &str, users: &[&str]) -> (PathBuf, Dir, PathBuf) {
        let base = scratch_dir(tag);
        let config = base.join("conf");
        let part = base.join("spool");
        std::fs::create_dir_all(&config).unwrap();
        for u in users {
            for d in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(part.join(u).join(d)).unwrap();
            }
        }
        std::fs::create_dir_all(&part).unwrap();
        let dir = Dir::open_ambient_dir(&part, cap_std::ambient_authority()).unwrap();
        (config, dir, base)
    }

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn cyrus_lines_parse_and_render_as_they_were() {
        for line in CYRUS_LINES {
            let q = QuotaFile::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(String::from_utf8(q.render()).unwrap(), *line);
        }
        let q = QuotaFile::parse(CYRUS_LINES[5].as_bytes()).unwrap();
        assert_eq!(q.storage, res(400, Some(10)));
        assert_eq!(q.messages, res(10, Some(3)));
        assert_eq!(
            q.other,
            [("AS", "(0 8)"), ("NF", "(1 7)"), ("MODSEQ", "25")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let q = QuotaFile::parse(CYRUS_LINES[3].as_bytes()).unwrap();
        assert_eq!((q.storage, q.messages), (res(1523, Some(1)), res(2, None)));
        // Cyrus 2's form, and -1 for no limit.
        let q = QuotaFile::parse(b"3023\n10\n").unwrap();
        assert_eq!((q.storage, q.messages), (res(3023, Some(10)), res(0, None)));
        let q = QuotaFile::parse(b"5 -1").unwrap();
        assert_eq!(q.storage, res(5, None));
        let q = QuotaFile::parse(b"%(S (5 -1) M (1 -1))").unwrap();
        assert_eq!((q.storage, q.messages), (res(5, None), res(1, None)));
        // Spacing Cyrus does not write is read.
        let q = QuotaFile::parse(b"%(  S ( 7  9 )M(1) )\r\n").unwrap();
        assert_eq!((q.storage, q.messages), (res(7, Some(9)), res(1, None)));
    }

    #[test]
    fn files_round_trip() {
        for file in [
            QuotaFile::default(),
            QuotaFile {
                storage: res(u64::MAX, Some(u64::MAX)),
                messages: res(0, Some(0)),
                other: vec![],
            },
            QuotaFile {
                storage: res(1, None),
                messages: res(2, Some(3)),
                other: vec![("MODSEQ".into(), "9".into()), ("X".into(), "(a b)".into())],
            },
        ] {
            let bytes = file.render();
            assert_eq!(QuotaFile::parse(&bytes).unwrap(), file);
        }
        assert_eq!(
            QuotaFile {
                storage: res(3023, Some(10)),
                messages: res(3, None),
                other: vec![],
            }
            .render(),
            b"%(S (3023 10) M (3))\n"
        );
        let mut q = QuotaFile::parse(CYRUS_LINES[1].as_bytes()).unwrap();
        q.bump_modseq();
        assert_eq!(
            q.render(),
            b"%(S (3023 10) M (3 100) AS (0) NF (2) MODSEQ 7)\n"
        );
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let bad: &[&[u8]] = &[
            b"",
            b"\n",
            b"%",
            b"%(",
            b"%(S",
            b"%(S (",
            b"%(S (1",
            b"%(S (1 2 3))",
            b"%(S ())",
            b"%(S 5)",
            b"%(S (x))",
            b"%(S (-5))",
            b"%(S (1 -2))",
            b"%(S (+1))",
            b"%(S (18446744073709551616))",
            b"%(S (99999999999999999999999999 1))",
            b"%(S (1) S (2))",
            b"%(S (1) M (1)) trailing",
            b"%(S (1) M (1)))",
            b"%(S ((1)))",
            b"%(S (1) \"M\" (1))",
            b"%(S (1)\0)",
            b"%(S (\xff))",
            b"(S (1))",
            b"1",
            b"1 2 3",
            b"x y",
            b"\xff\xfe\x00\x01",
            "%(S (1) M (\u{e9}))".as_bytes(),
        ];
        for b in bad {
            assert!(
                QuotaFile::parse(b).is_err(),
                "{:?} parsed",
                String::from_utf8_lossy(b)
            );
        }
        // Every prefix and every single-byte change of a good line: an answer, never a panic.
        let good = CYRUS_LINES[5].as_bytes();
        for n in 0..good.len() {
            let _ = QuotaFile::parse(&good[..n]);
            for b in [0u8, b' ', b'(', b')', b'%', b'-', b'9', 0xff] {
                let mut v = good.to_vec();
                v[n] = b;
                let _ = QuotaFile::parse(&v);
            }
        }
        // Read from disk, the error names the file.
        let dir = scratch_dir("quota-damaged");
        let path = file_of(&dir, "alice").unwrap();
        write(&path, b"%(S (1) M");
        let e = format!("{:#}", read(&dir, "alice").unwrap_err());
        assert!(e.contains(&path.display().to_string()), "{e}");
        write(&path, &vec![b' '; MAX_FILE as usize + 1]);
        let e = format!("{:#}", read(&dir, "alice").unwrap_err());
        assert!(e.contains("longer than"), "{e}");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let e = format!("{:#}", read(&dir, "alice").unwrap_err());
        assert!(e.contains("not a file") && e.contains("user.alice"), "{e}");
        std::fs::remove_dir(&path).unwrap();
        let fifo = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(read(&dir, "alice").is_err());
        assert_eq!(read(&dir, "bob").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_names_are_cyrus_names() {
        let c = Path::new("/c");
        let f = |u: &str| file_of(c, u).map(|p| p.display().to_string());
        assert_eq!(f("alice").unwrap(), "/c/quota/a/user.alice");
        assert_eq!(f("Bob").unwrap(), "/c/quota/b/user.Bob");
        assert_eq!(f("j.doe").unwrap(), "/c/quota/j/user.j^doe");
        assert_eq!(f("1x").unwrap(), "/c/quota/q/user.1x");
        assert_eq!(f("_x").unwrap(), "/c/quota/q/user._x");
        assert_eq!(f("\u{e9}mile").unwrap(), "/c/quota/q/user.\u{e9}mile");
        assert_eq!(
            f("bob@example.org").unwrap(),
            "/c/quota/b/user.bob@example^org"
        );
    }

    #[test]
    fn user_names_are_checked_as_login_names() {
        let (config, part, base) = setup("quota-names", &["alice"]);
        let long = "x".repeat(251);
        assert!(valid_user(&long[1..]));
        for bad in [
            "", ".", "..", "../x", "a/b", "/x", ".hidden", "a\0b", "a\nb", "a\\b", "a^b", &long,
        ] {
            assert!(!valid_user(bad), "{bad:?}");
            assert_eq!(file_of(&config, bad), None);
            let r = get(&config, &part, Some("admin"), true, bad);
            assert!(matches!(r, Err(QuotaError::NoSuchRoot)), "{bad:?}: {r:?}");
            let r = set(&config, &part, true, bad, limits(Some(1), None));
            assert!(matches!(r, Err(QuotaError::NoSuchRoot)), "{bad:?}: {r:?}");
            assert!(autocreate(&config, bad, 1, 0).is_err());
        }
        assert!(!config.join(DIR).exists());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn count_usage_counts_cur_and_new_of_selectable_mailboxes() {
        let base = scratch_dir("quota-count");
        let t = base.join("alice");
        let put = |p: &str, n: usize| write(&t.join(p), &vec![b'x'; n]);
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(t.join(d)).unwrap();
        }
        put("cur/1.a:2,S", 100);
        put("cur/2.b:2,", 20);
        put("new/3.c", 3);
        put("tmp/4.d", 1000); // not delivered yet
        put("cur/.hidden", 1000); // dotfile
        put("new/.x", 1000);
        put("imapd.index", 1000); // beside cur/, not a message
        std::fs::create_dir(t.join("cur/subdir")).unwrap(); // not a file
        put("cur/subdir/5", 1000);
        // A folder and a subfolder (Maildir++ names).
        put(".Sent/cur/6", 7);
        put(".Sent/new/7", 8);
        put(".Sent.Old/cur/8", 9);
        // Not selectable (no cur/), or not a folder at all.
        put(".NoSelect/new/9", 1000);
        put("NotDot/cur/10", 1000);
        put(".file", 1000);
        // Symlinks are not followed: to a file, to a folder, as cur/ itself.
        put("../outside/cur/11", 1000);
        put("../outside/12", 1000);
        std::os::unix::fs::symlink(base.join("outside/12"), t.join("cur/13")).unwrap();
        std::os::unix::fs::symlink(base.join("outside"), t.join(".Link")).unwrap();
        std::fs::create_dir(t.join(".LinkedCur")).unwrap();
        std::os::unix::fs::symlink(base.join("outside/cur"), t.join(".LinkedCur/cur")).unwrap();
        std::os::unix::fs::symlink(base.join("outside/cur"), t.join(".Sent.Old/new")).unwrap();
        let tree = Dir::open_ambient_dir(&t, cap_std::ambient_authority()).unwrap();
        assert_eq!(count_usage(&tree).unwrap(), (6, 100 + 20 + 3 + 7 + 8 + 9));
        // An empty tree, and a tree without an INBOX of its own.
        let e = base.join("empty");
        std::fs::create_dir(&e).unwrap();
        let empty = Dir::open_ambient_dir(&e, cap_std::ambient_authority()).unwrap();
        assert_eq!(count_usage(&empty).unwrap(), (0, 0));
        write(&e.join(".F/cur/1"), b"abc");
        write(&e.join("new/2"), b"abcd"); // INBOX without cur/: not selectable
        assert_eq!(count_usage(&empty).unwrap(), (1, 3));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn the_guard_ends_a_session_whose_tree_outgrows_its_quota() {
        let (config, part, base) = setup("quota-guard", &["alice"]);
        let tree = part.open_dir("alice").unwrap();
        let t0 = std::time::Instant::now();
        let minute = std::time::Duration::from_secs(61);
        let mut guard = Guard::default();
        // No root, or a root without limits: nothing is counted, and the
        // next look is a minute later.
        assert_eq!(guard.check(&config, &tree, "alice", t0), None);
        assert!(guard.last.is_none() && !guard.due(t0 + minute / 2) && guard.due(t0 + minute));
        let t0 = t0 + minute;
        write(&file_of(&config, "alice").unwrap(), b"%(S (0 1) M (0))\n");
        write(&base.join("spool/alice/cur/1"), &[b'x'; 900]);
        // The first count is the baseline; the next is a minute later.
        assert_eq!(guard.check(&config, &tree, "alice", t0), None);
        let big = std::fs::File::create(base.join("spool/alice/cur/2")).unwrap();
        big.set_len(11 << 20).unwrap();
        assert_eq!(guard.check(&config, &tree, "alice", t0 + minute / 2), None);
        let why = guard.check(&config, &tree, "alice", t0 + minute).unwrap();
        assert!(why.contains("over quota"), "{why}");
        // Over the limit but no longer growing (deliveries stopped): kept.
        assert_eq!(guard.check(&config, &tree, "alice", t0 + minute * 2), None);
        // Growing past the slack but under a (raised) limit: kept.
        write(
            &file_of(&config, "alice").unwrap(),
            b"%(S (0 100000) M (0))\n",
        );
        let bigger = std::fs::File::create(base.join("spool/alice/cur/3")).unwrap();
        bigger.set_len(20 << 20).unwrap();
        assert_eq!(guard.check(&config, &tree, "alice", t0 + minute * 3), None);
    }

    #[test]
    fn get_is_for_admins_and_the_user_itself() {
        let (config, part, base) = setup("quota-get", &["alice", "bob"]);
        write(
            &file_of(&config, "alice").unwrap(),
            b"%(S (99999 10) M (0 3))\n",
        );
        write(&base.join("spool/alice/cur/1"), b"hello");
        // Nobody else, and nobody before login, may look, whether a root exists or not.
        for (caller, admin, user) in [
            (Some("bob"), false, "alice"),
            (Some("bob"), false, "nobody"),
            (Some("bob"), false, "../x"),
            (None, false, "alice"),
            (None, true, "alice"),
        ] {
            let r = get(&config, &part, caller, admin, user);
            assert!(matches!(r, Err(QuotaError::NotAllowed)), "{caller:?} {r:?}");
        }
        // The user itself and an administrator see the limits and the usage counted now.
        for (caller, admin) in [(Some("alice"), false), (Some("admin"), true)] {
            let u = get(&config, &part, caller, admin, "alice").unwrap();
            assert_eq!(u.limits.storage, Some(10));
            assert_eq!(u.limits.messages, Some(3));
            assert_eq!((u.messages, u.octets), (1, 5));
        }
        // No file, no tree: no root.
        let r = get(&config, &part, Some("bob"), false, "bob");
        assert!(matches!(r, Err(QuotaError::NoSuchRoot)), "{r:?}");
        write(&file_of(&config, "nobody").unwrap(), b"%(S (0) M (0))\n");
        let r = get(&config, &part, Some("admin"), true, "nobody");
        assert!(matches!(r, Err(QuotaError::NoSuchRoot)), "{r:?}");
        // A damaged file fails, naming it; own-quota has none then.
        write(&file_of(&config, "alice").unwrap(), b"%(S (1 x))");
        let r = get(&config, &part, Some("alice"), false, "alice");
        assert!(
            matches!(&r, Err(QuotaError::Failed(t)) if t.contains("user.alice")),
            "{r:?}"
        );
        assert!(own(&config, "alice").is_none());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn set_is_for_admins_and_replaces_every_limit() {
        let (config, part, base) = setup("quota-set", &["bob", "j.doe"]);
        write(&base.join("spool/bob/new/1"), &[b'x'; 400]);
        let path = file_of(&config, "bob").unwrap();
        let r = set(&config, &part, false, "bob", limits(Some(1), None));
        assert!(matches!(r, Err(QuotaError::NotAllowed)), "{r:?}");
        let r = set(&config, &part, false, "nobody", limits(Some(1), None));
        assert!(matches!(r, Err(QuotaError::NotAllowed)), "{r:?}");
        assert!(!config.join(DIR).exists());
        // A user without a tree has no root.
        let r = set(&config, &part, true, "nobody", limits(Some(1), None));
        assert!(matches!(r, Err(QuotaError::NoSuchRoot)), "{r:?}");
        assert!(!config.join(DIR).exists());

        let u = set(&config, &part, true, "bob", limits(Some(10), Some(3))).unwrap();
        assert_eq!((u.limits.storage, u.limits.messages), (Some(10), Some(3)));
        assert_eq!((u.messages, u.octets), (1, 400));
        assert_eq!(std::fs::read(&path).unwrap(), b"%(S (400 10) M (1 3))\n");
        assert_eq!(pair(own(&config, "bob")), Some((Some(10), Some(3))));
        // Limits not given are removed; none at all keeps the root.
        set(&config, &part, true, "bob", limits(None, Some(5))).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"%(S (400) M (1 5))\n");
        let u = set(&config, &part, true, "bob", limits(None, None)).unwrap();
        assert_eq!((u.limits.storage, u.limits.messages), (None, None));
        assert_eq!(std::fs::read(&path).unwrap(), b"%(S (400) M (1))\n");
        assert_eq!(pair(own(&config, "bob")), Some((None, None)));
        // Stored as given, however large.
        set(&config, &part, true, "bob", limits(Some(u64::MAX), Some(0))).unwrap();
        assert_eq!(pair(own(&config, "bob")), Some((Some(u64::MAX), Some(0))));
        // Cyrus's fields are kept, its MODSEQ raised; the usage is the one counted.
        write(&path, CYRUS_LINES[5].as_bytes());
        set(&config, &part, true, "bob", limits(Some(20), None)).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"%(S (400 20) M (1) AS (0 8) NF (1 7) MODSEQ 26)\n"
        );
        // A damaged file is replaced.
        write(&path, b"garbage");
        set(&config, &part, true, "bob", limits(Some(1), None)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"%(S (400 1) M (1))\n");
        // Dots in names, as Cyrus writes them; no temporary file is left.
        set(&config, &part, true, "j.doe", limits(None, Some(7))).unwrap();
        assert_eq!(
            std::fs::read(config.join("quota/j/user.j^doe")).unwrap(),
            b"%(S (0) M (0 7))\n"
        );
        let names: Vec<_> = std::fs::read_dir(config.join("quota/b"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["user.bob"]);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn autocreate_makes_a_root_only_where_there_is_none() {
        let dir = scratch_dir("quota-autocreate");
        assert!(autocreate(&dir, "carol", 100, 0).unwrap());
        assert_eq!(
            std::fs::read(dir.join("quota/c/user.carol")).unwrap(),
            b"%(S (0 100) M (0))\n"
        );
        assert!(autocreate(&dir, "dave", 0, 0).unwrap());
        assert_eq!(pair(own(&dir, "dave")), Some((None, None)));
        assert!(autocreate(&dir, "erin", 100, 50).unwrap());
        assert_eq!(pair(own(&dir, "erin")), Some((Some(100), Some(50))));
        // An existing root, even a damaged one, is left alone.
        assert!(!autocreate(&dir, "carol", 5, 5).unwrap());
        assert_eq!(pair(own(&dir, "carol")), Some((Some(100), None)));
        write(&dir.join("quota/f/user.frank"), b"damaged");
        assert!(!autocreate(&dir, "frank", 5, 5).unwrap());
        assert_eq!(
            std::fs::read(dir.join("quota/f/user.frank")).unwrap(),
            b"damaged"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn report_is_cyrus_table() {
        let domains = crate::tenant::Domains {
            mode: crate::tenant::Mode::Userid,
            default: Some("home.test".into()),
            addresses: Vec::new(),
        };
        let roots = |unix_sep| {
            [
                ("alice", CYRUS_LINES[3].as_bytes()),
                ("bob", CYRUS_LINES[5].as_bytes()),
                ("j.doe", b"%(S (2048 0) M (0))".as_slice()),
                ("ann@a.test", b"%(S (0) M (0))".as_slice()),
            ]
            .map(|(user, line)| {
                let root = shown_root(user, &domains, unix_sep);
                (root, QuotaFile::parse(line).unwrap())
            })
        };
        assert_eq!(
            report(&roots(true)),
            "   Quota   % Used     Used             Resource Root\n\
             \x20      1      100        1              STORAGE user/alice\n\
             \x20                        2              MESSAGE user/alice\n\
             \x20     10        0        0              STORAGE user/bob\n\
             \x20      3      333       10              MESSAGE user/bob\n\
             \x20      0                 2              STORAGE user/j.doe\n\
             \x20                        0              MESSAGE user/j.doe\n\
             \x20                        0              STORAGE a.test!user/ann\n\
             \x20                        0              MESSAGE a.test!user/ann\n"
        );
        let dots = report(&roots(false));
        assert!(dots.contains(" MESSAGE user.j^doe\n"), "{dots}");
        assert!(dots.ends_with(" MESSAGE a.test!user.ann\n"), "{dots}");
        assert_eq!(
            report(&[]),
            "   Quota   % Used     Used             Resource Root\n"
        );
    }

    #[test]
    fn fix_recounts_and_lists_roots() {
        let (config, part, base) = setup("quota-fix", &["bob", "alice"]);
        write(&base.join("spool/bob/cur/1"), &[b'x'; 400]);
        let bob = file_of(&config, "bob").unwrap();
        write(&bob, b"%(S (99999 10) M (1 3) MODSEQ 4)\n");
        write(
            &file_of(&config, "alice").unwrap(),
            b"%(S (0) M (0) MODSEQ 1)\n",
        );
        write(&file_of(&config, "nobody").unwrap(), b"%(S (5) M (2))\n");
        // Cyrus's other roots, and files in the wrong place, are passed over.
        write(&config.join("quota/a/user.alice.Sent"), b"%(S (0) M (0))\n");
        write(&config.join("quota/b/user.carol"), b"%(S (0) M (0))\n");
        write(&config.join("quota/s/shared"), b"%(S (0) M (0))\n");
        write(&config.join("quota/b/.user.bob.1.tmp"), b"");
        let (roots, skipped) = list_roots(&config).unwrap();
        let users: Vec<&str> = roots.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(users, ["alice", "bob", "nobody"]);
        assert_eq!(skipped.len(), 3, "{skipped:?}");

        let (changes, file) = fix(&config, &part, "bob", "user.bob").unwrap().unwrap();
        assert_eq!(changes, ["user.bob: STORAGE usage was 99999, now 400"]);
        assert_eq!(
            (file.storage, file.messages),
            (res(400, Some(10)), res(1, Some(3)))
        );
        assert_eq!(
            std::fs::read(&bob).unwrap(),
            b"%(S (400 10) M (1 3) MODSEQ 5)\n"
        );
        // Nothing to change: nothing written.
        let (changes, _) = fix(&config, &part, "alice", "user.alice").unwrap().unwrap();
        assert!(changes.is_empty());
        assert_eq!(
            std::fs::read(file_of(&config, "alice").unwrap()).unwrap(),
            b"%(S (0) M (0) MODSEQ 1)\n"
        );
        // No tree: nothing in it.
        let (changes, _) = fix(&config, &part, "nobody", "user.nobody")
            .unwrap()
            .unwrap();
        assert_eq!(
            changes,
            [
                "user.nobody: STORAGE usage was 5, now 0",
                "user.nobody: MESSAGE usage was 2, now 0"
            ]
        );
        // A damaged file is an error naming it, and is left as it is.
        write(&bob, b"%(S");
        let e = format!("{:#}", fix(&config, &part, "bob", "user.bob").unwrap_err());
        assert!(e.contains("user.bob"), "{e}");
        assert_eq!(std::fs::read(&bob).unwrap(), b"%(S");
        assert!(
            fix(&config, &part, "carol", "user.carol")
                .unwrap()
                .is_none()
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn command_line() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let args = a(&["-C", "/x.conf", "-f", "alice", "user/bob"]).unwrap();
        assert_eq!(args.config, Path::new("/x.conf"));
        assert!(args.fix);
        assert_eq!(args.users, ["alice", "bob"]);
        assert!(!a(&[]).unwrap().fix);
        assert!(a(&["-C"]).is_err());
        assert!(a(&["-x"]).unwrap_err().to_string().contains("usage"));
    }

    #[test]
    fn every_domains_roots_are_listed_and_fixed() {
        // alice of the default domain, ann of a.test (her tree holds one
        // message of 3 octets).
        let (config, _part, base) = setup("quota-domains", &["alice", "domain/a.test/ann"]);
        let spool = base.join("spool");
        std::fs::write(spool.join("domain/a.test/ann/cur/1.x:2,"), b"abc").unwrap();
        let conf = base.join("imapd.conf");
        std::fs::write(
            &conf,
            format!(
                "configdirectory: {}\npartition-default: {}\nvirtdomains: userid\n\
                 defaultdomain: home.test\nunixhierarchysep: yes\n",
                config.display(),
                spool.display()
            ),
        )
        .unwrap();
        let cfg = crate::config::Config::load(&conf, "imap").unwrap();
        write(&file_of(&config, "alice").unwrap(), b"%(S (0 1) M (0))\n");
        let ann = file_of(&config.join("domain/a.test"), "ann").unwrap();
        write(&ann, b"%(S (99 10) M (7))\n");
        let args = |fix: bool, users: &[&str]| Args {
            config: conf.clone(),
            fix,
            users: users.iter().map(|u| u.to_string()).collect(),
        };
        let (out, errors) = quotas(&cfg, &args(false, &[])).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(out.contains(" STORAGE user/alice\n"), "{out}");
        assert!(
            out.contains("  7              MESSAGE a.test!user/ann\n"),
            "{out}"
        );
        // By name, as a login names her; the default domain's name is plain.
        let (out, _) = quotas(&cfg, &args(false, &["ann%A.test", "alice@home.test"])).unwrap();
        assert!(
            out.contains("a.test!user/ann") && out.contains("user/alice"),
            "{out}"
        );
        // -f counts her tree in the domain's part of the partition.
        let (out, errors) = quotas(&cfg, &args(true, &["ann@a.test"])).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(std::fs::read(&ann).unwrap(), b"%(S (3 10) M (1))\n");
        assert!(out.contains("a.test!user/ann"), "{out}");
        let (_, errors) = quotas(&cfg, &args(false, &["ann@bad domain"])).unwrap();
        assert_eq!(errors.len(), 1);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn run_reports_and_fails_on_damaged_files() {
        let (config, _part, base) = setup("quota-run", &["alice"]);
        let conf = base.join("imapd.conf");
        std::fs::write(
            &conf,
            format!(
                "configdirectory: {}\npartition-default: {}\n",
                config.display(),
                base.join("spool").display()
            ),
        )
        .unwrap();
        let args = |v: &[&str]| {
            let mut a = vec!["-C".to_string(), conf.display().to_string()];
            a.extend(v.iter().map(|s| s.to_string()));
            a
        };
        run(&args(&[])).unwrap();
        write(&file_of(&config, "alice").unwrap(), b"%(S (1 1) M (0))\n");
        run(&args(&["-f"])).unwrap();
        assert_eq!(
            std::fs::read(file_of(&config, "alice").unwrap()).unwrap(),
            b"%(S (0 1) M (0))\n"
        );
        run(&args(&["alice", "nobody"])).unwrap();
        assert!(run(&args(&["../x"])).is_err());
        write(&file_of(&config, "zed").unwrap(), b"%(");
        let e = format!("{:#}", run(&args(&[])).unwrap_err());
        assert!(e.contains("1 quota root"), "{e}");
        assert!(run(&args(&["-f"])).is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
