//! A mailbox's ACL (rfc4314) in its directory: `imapd.acl`, read and
//! written with the `imapd-acl` crate, the same code the host reads it
//! with. No file: the owner holds every right.

use std::fs;
use std::io;
use std::path::Path;

pub use imapd_acl::{Acl, Entry, Invalid, Rights, valid_identifier};

use super::index::write_atomically;

/// The ACL kept in `dir`, for a mailbox of `owner`. A file that does not
/// parse (damaged, or written by a hostile guest of the owner's) counts
/// as no grants at all: only the owner's rights.
pub fn read(dir: &Path, owner: &str) -> io::Result<Acl> {
    match fs::read(dir.join(imapd_acl::FILE)) {
        Ok(bytes) => Ok(Acl::parse(&bytes).unwrap_or_else(|_| Acl::owner_default(owner))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Acl::owner_default(owner)),
        Err(e) => Err(e),
    }
}

/// Replaces the ACL kept in `dir`.
pub fn write(dir: &Path, acl: &Acl) -> io::Result<()> {
    write_atomically(&dir.join(imapd_acl::FILE), &acl.encode())
}

/// Whether `dir` has an ACL of its own (one that may share it).
pub fn exists(dir: &Path) -> bool {
    dir.join(imapd_acl::FILE).is_file()
}

/// rfc4314 4 CREATE: a new mailbox gets its parent's ACL, if the parent
/// has one (else it too is the owner's alone).
pub fn inherit(parent: &Path, child: &Path) -> io::Result<()> {
    match fs::read(parent.join(imapd_acl::FILE)) {
        Ok(bytes) => write_atomically(&child.join(imapd_acl::FILE), &bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
