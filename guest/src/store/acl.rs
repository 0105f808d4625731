//! Mailboxes' ACLs (rfc4314), read and written with the `imapd-acl`
//! crate, the same code the host reads them with. They are kept at the
//! root of the owner's tree, one file per mailbox in `imapd.acl.d/`,
//! named by the mailbox's directory (`INBOX` for INBOX's): never in the
//! mailbox's own directory, which the host may give another user's
//! sandbox with write access, and whose ACL that user must not be able to
//! rewrite. No file: the owner holds every right.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use imapd_acl::{Acl, Entry, Invalid, Rights, valid_identifier};

use super::MailboxName;
use super::index::write_atomically;

/// The directory of the ACL files at the root of a tree.
pub const DIR: &str = "imapd.acl.d";

/// The ACL file of `name` in the tree at `root`.
pub fn file(root: &Path, name: &MailboxName) -> PathBuf {
    let key = if name.is_inbox() {
        "INBOX".to_string()
    } else {
        name.dir_name()
    };
    root.join(DIR).join(key)
}

/// The ACL in `file`, for a mailbox of `owner`. A file that does not
/// parse (damaged, or written by a hostile guest of the owner's) counts
/// as no grants at all: only the owner's rights.
pub fn read(file: &Path, owner: &str) -> io::Result<Acl> {
    match fs::read(file) {
        Ok(bytes) => Ok(Acl::parse(&bytes).unwrap_or_else(|_| Acl::owner_default(owner))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Acl::owner_default(owner)),
        Err(e) => Err(e),
    }
}

/// Replaces the ACL in `file`.
pub fn write(file: &Path, acl: &Acl) -> io::Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    write_atomically(file, &acl.encode())
}

/// Whether `name` or a mailbox below it has an ACL file in the tree at
/// `root` (one listing of `imapd.acl.d/`, usually absent).
pub fn any_at_or_below(root: &Path, name: &MailboxName) -> bool {
    let Ok(entries) = fs::read_dir(root.join(DIR)) else {
        return false;
    };
    let own = file(root, name);
    let below = format!("{}.", name.dir_name());
    entries.flatten().any(|e| {
        e.path() == own
            || (!name.is_inbox()
                && e.file_name()
                    .to_str()
                    .is_some_and(|f| f.starts_with(&below)))
    })
}

/// Removes the ACL in `file` (rfc4314 4: DELETE deletes the ACL).
pub fn remove(file: &Path) {
    let _ = fs::remove_file(file);
}

/// rfc4314 4 CREATE: a new mailbox gets its parent's ACL, if the parent
/// has one (else it too is the owner's alone).
pub fn inherit(parent: &Path, child: &Path) -> io::Result<()> {
    match fs::read(parent) {
        Ok(bytes) => {
            if let Some(dir) = child.parent() {
                fs::create_dir_all(dir)?;
            }
            write_atomically(child, &bytes)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
