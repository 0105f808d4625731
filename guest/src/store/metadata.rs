//! Annotations (rfc5464 METADATA) kept in the user's tree.
//!
//! A mailbox's entries, `/private/...` and `/shared/...` alike (the tree
//! has one user), are in `imapd.metadata` in the mailbox's directory, so
//! they move with RENAME and go with DELETE. The user's own `/private`
//! server entries are in `imapd.server-metadata` at the root; the
//! `/shared` server entries are the host's (`server-metadata` in
//! `wit/session.wit`), since every user reads them.
//!
//! Layout, little-endian: the magic `IMAPDMD1`, the entry count, then per
//! entry its name and its value as `[u32 len][bytes]`, then the xxh64
//! (seed 0) of everything before it. A file that does not check out
//! reads as no entries (the next SETMETADATA replaces it); the caller
//! logs it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::index::{self, Enc, unseal};

/// A mailbox's entries, in its directory.
pub const FILE: &str = "imapd.metadata";
/// The user's `/private` server entries, at the root of the tree.
pub const SERVER_FILE: &str = "imapd.server-metadata";

const MAGIC: &[u8; 8] = b"IMAPDMD1";

/// The largest value kept (rfc5464 4.3 `[METADATA MAXSIZE]`; the RFC asks
/// for at least 1024). The host holds server entries to the same bound.
pub const MAX_VALUE: usize = 65536;
/// The most entries one mailbox (or the user's server entries) may have
/// (rfc5464 4.3 `[METADATA TOOMANY]`; the RFC asks for at least 10).
pub const MAX_ENTRIES: usize = 250;
/// The longest entry name accepted.
pub const MAX_NAME: usize = 1024;

/// Entry name (lower case) → value.
pub type Entries = BTreeMap<String, Vec<u8>>;

/// Why a file's entries could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The file is there but does not check out.
    Damaged,
}

/// The entries in `path`; none if it is missing.
pub fn read(path: &Path) -> Result<Entries, ReadError> {
    match fs::read(path) {
        Ok(b) => decode(&b).ok_or(ReadError::Damaged),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Entries::new()),
        Err(e) => Err(ReadError::Io(e)),
    }
}

/// Replaces `path` with `entries` (crash-safe: temporary file and
/// rename); no entries removes it.
pub fn write(path: &Path, entries: &Entries) -> io::Result<()> {
    if entries.is_empty() {
        return match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    index::write_atomically(path, &encode(entries))
}

fn encode(entries: &Entries) -> Vec<u8> {
    let mut e = Enc(MAGIC.to_vec());
    e.u32(entries.len() as u32);
    for (name, value) in entries {
        e.bytes(name.as_bytes());
        e.bytes(value);
    }
    e.sealed()
}

fn decode(b: &[u8]) -> Option<Entries> {
    let mut d = unseal(b, MAGIC)?;
    let n = d.u32()? as usize;
    // Each entry takes at least 8 octets.
    if n > d.b.len() / 8 {
        return None;
    }
    let mut out = Entries::new();
    for _ in 0..n {
        let name = d.string()?;
        let value = d.bytes()?;
        out.insert(name, value);
    }
    (d.i == d.b.len()).then_some(out)
}

/// How an entry name may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Named in GETMETADATA: the scope alone (`/shared`) is enough, since
    /// DEPTH reaches below it.
    Get,
    /// Set by SETMETADATA: a whole entry (rfc5464 3.2: two components at
    /// least, four under `vendor`).
    Set,
}

/// rfc5464 3.2: an entry name, checked and lower-cased (names are
/// case-insensitive), or why it is not one (a BAD reply).
pub fn entry_name(raw: &[u8], how: Use) -> Result<String, &'static str> {
    if raw.len() > MAX_NAME {
        return Err("Entry name too long");
    }
    if raw.iter().any(|b| !(0x20..0x7f).contains(b)) {
        return Err("Invalid character in entry name");
    }
    // rfc5464 3.2 forbids them; Cyrus takes them in GETMETADATA as
    // wildcards (from the ANNOTATEMORE drafts), and cyradm's `info` sends
    // `/shared/*`.
    if how == Use::Set && raw.iter().any(|&b| b == b'*' || b == b'%') {
        return Err("Entry names may not hold '*' or '%'");
    }
    let name = String::from_utf8_lossy(raw).to_ascii_lowercase();
    if !name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err("Invalid entry name");
    }
    let parts: Vec<&str> = name[1..].split('/').collect();
    if parts[0] != "private" && parts[0] != "shared" {
        return Err("Entry name must begin with /private or /shared");
    }
    if how == Use::Set {
        let least = if parts.get(1) == Some(&"vendor") {
            4
        } else {
            2
        };
        if parts.len() < least {
            return Err("Entry name has too few components");
        }
    }
    Ok(name)
}

/// rfc5464 4.2.2: `entry` is `wanted` or lies below it within `depth`
/// levels (`None`: infinity). A `wanted` with Cyrus's wildcards matches
/// as a LIST pattern does (`*` anything, `%` anything but `/`).
pub fn within(wanted: &str, entry: &str, depth: Option<usize>) -> bool {
    if is_pattern(wanted) {
        return super::list_matches(wanted, entry);
    }
    if entry == wanted {
        return true;
    }
    let Some(rest) = entry.strip_prefix(wanted).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    depth.is_none_or(|d| rest.split('/').count() <= d)
}

/// A GETMETADATA entry with Cyrus's wildcards: it names no one entry, so
/// no NIL is sent when nothing matches.
pub fn is_pattern(wanted: &str) -> bool {
    wanted.contains(['*', '%'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_follow_rfc5464() {
        assert_eq!(
            entry_name(b"/Shared/Comment", Use::Set),
            Ok("/shared/comment".into())
        );
        assert!(entry_name(b"/shared", Use::Get).is_ok());
        assert!(entry_name(b"/shared", Use::Set).is_err());
        assert!(entry_name(b"/shared/vendor/cmu", Use::Set).is_err());
        assert!(entry_name(b"/shared/vendor/cmu/x", Use::Set).is_ok());
        assert!(entry_name(b"/shared/vendor/cmu", Use::Get).is_ok());
        assert!(entry_name(b"/shared/*", Use::Get).is_ok());
        assert!(entry_name(b"/shared/c%", Use::Set).is_err());
        for bad in [
            &b"/comment"[..],
            b"shared/comment",
            b"/shared/comment/",
            b"/shared//comment",
            b"/shared/\x19",
            b"/shared/\xc3\xa9",
            b"",
        ] {
            assert!(entry_name(bad, Use::Get).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn depth_reaches_as_far_as_asked() {
        assert!(within("/a", "/a", Some(0)));
        assert!(!within("/a", "/a/b", Some(0)));
        assert!(within("/a", "/a/b", Some(1)));
        assert!(!within("/a", "/a/b/c", Some(1)));
        assert!(within("/a", "/a/b/c", None));
        assert!(within("/a/*", "/a/b/c", Some(0)));
        assert!(within("/a/%", "/a/b", Some(0)));
        assert!(!within("/a/%", "/a/b/c", Some(0)));
        assert!(!within("/a", "/ab", None));
    }

    #[test]
    fn files_round_trip_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(read(&path).unwrap().is_empty());
        let mut e = Entries::new();
        e.insert("/private/comment".into(), b"mine\0\xff".to_vec());
        e.insert("/shared/comment".into(), Vec::new());
        write(&path, &e).unwrap();
        assert_eq!(read(&path).unwrap(), e);
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 1;
            fs::write(&path, &bad).unwrap();
            assert!(matches!(read(&path), Err(ReadError::Damaged)), "flip {i}");
        }
        for n in 0..good.len() {
            fs::write(&path, &good[..n]).unwrap();
            assert!(matches!(read(&path), Err(ReadError::Damaged)), "cut {n}");
        }
        write(&path, &Entries::new()).unwrap();
        assert!(!path.exists());
    }
}
