//! Mailboxes users share with each other (rfc4314 ACLs), as the host sees
//! them: which directories of other users' trees a session's sandbox may
//! reach.
//!
//! A user's guest keeps each mailbox's ACL at the root of the user's tree
//! (`imapd.acl.d/<mailbox dir>`, the `imapd-acl` crate's format; never in
//! the mailbox's directory, which a grantee may be able to write) and
//! tells the host when one changed (wit: `acls-changed`). The host then reads every ACL of
//! that user's tree, as hostile input (another user's guest wrote it, and
//! the host acts on it for this one), and keeps the mailboxes that grant
//! anyone but the owner a right in an index, one file per owner:
//! `<configdirectory>/shares/<owner>`, lines `<dir> TAB <identifier> TAB
//! <rights>`. At login (and when that directory changes) a session's
//! host reads the index for the shares that give its user `l` or `r`,
//! opens each one's directory (never following a symlink: a guest could
//! make one to another user's mailbox) and preopens it for the guest at
//! `/shared/<owner>/<dir>`, read-only unless the user holds a right that
//! writes.
//!
//! INBOX is never shared: its directory is the owner's whole tree.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};
use cap_std::fs::OpenOptionsExt;
use cap_std::fs::{Dir, OpenOptions};
use imapd_acl::{Acl, Rights};

/// The index's directory in `configdirectory`.
pub const DIR: &str = "shares";
/// Most mailboxes of one tree looked at for ACLs.
const MAX_MAILBOXES: usize = 100_000;
/// Largest index file of one owner (what [`for_user`] reads); the
/// mailboxes past it are not shared.
const MAX_INDEX: usize = 16 << 20;
/// Most shares one user gets preopened.
pub const MAX_SHARES: usize = 1000;

/// A mailbox of `owner`'s that the session's user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub owner: String,
    /// Its directory in the owner's tree (`.Team`).
    pub dir: String,
    pub rights: Rights,
}

impl Share {
    /// The guest writes in it (and the preopen is writable).
    pub fn writable(&self) -> bool {
        self.rights.intersects(Rights::WRITING)
    }
}

/// The tree of the shared folders (Cyrus's mailboxes of no user) in the
/// partition: a name no user can have.
pub const SHARED_OWNER: &str = ".shared";

/// Whose mailboxes can be shared: a user's, or the shared folders'.
pub fn valid_owner(owner: &str) -> bool {
    owner == SHARED_OWNER || crate::auth::valid_user_name(owner)
}

/// A mailbox directory name of a tree: `.` and one or more characters,
/// no `/`, not `.` or `..`; INBOX (`""`) is not one.
pub fn valid_dir(dir: &str) -> bool {
    dir.len() > 1
        && dir.len() <= 1024
        && dir.starts_with('.')
        && dir != ".."
        && !dir.contains(['/', '\0', '\t', '\n'])
}

/// Opens `name` in `parent` as a directory without following a symlink.
pub fn open_dir_nofollow(parent: &Dir, name: &str) -> std::io::Result<Dir> {
    let mut opts = OpenOptions::new();
    opts.read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW);
    parent
        .open_with(name, &opts)
        .map(|f| Dir::from_std_file(f.into_std()))
}

/// Reads the ACL file `name` in `acls` (the tree's `imapd.acl.d/`) without
/// following a symlink, at most [`imapd_acl::MAX_FILE`] octets: `None`
/// if it is not there or not a valid ACL.
fn read_acl(acls: &Dir, name: &str) -> Option<Acl> {
    let mut opts = OpenOptions::new();
    opts.read(true).custom_flags(libc::O_NOFOLLOW);
    let file = acls.open_with(name, &opts).ok()?;
    let mut bytes = Vec::new();
    file.into_std()
        .take(imapd_acl::MAX_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    Acl::parse(&bytes).ok()
}

/// Where a tree keeps its mailboxes' ACLs: one file per mailbox directory,
/// at the tree's root (which is never shared), so that a user with write
/// access to a shared mailbox cannot rewrite its ACL (guest `store/acl.rs`).
pub const ACL_DIR: &str = "imapd.acl.d";

/// Reads every ACL of `owner`'s tree (in the partition) and replaces the
/// owner's index file with the mailboxes that share. Blocking.
pub fn publish(config_dir: &Path, partition: &Dir, owner: &str) -> Result<()> {
    let index = config_dir.join(DIR);
    crate::replace::make_dir(&index)?;
    // Taken before the tree is read: two sessions publishing at once must
    // not let the one that read the older tree write last.
    let _lock = crate::replace::lock_dir(&index)?;
    let mut lines = String::new();
    let tree = open_dir_nofollow(partition, owner).ok();
    let acls = tree
        .as_ref()
        .and_then(|t| open_dir_nofollow(t, ACL_DIR).ok());
    if let (Some(tree), Some(acls)) = (tree, acls) {
        let mut seen = 0;
        for entry in acls.entries().context("listing the ACLs")? {
            let Ok(entry) = entry else { continue };
            let Ok(dir) = entry.file_name().into_string() else {
                continue;
            };
            // INBOX's (`INBOX`) and anything else that is no mailbox
            // directory is never shared.
            if !valid_dir(&dir) {
                continue;
            }
            seen += 1;
            if seen > MAX_MAILBOXES {
                break;
            }
            // The mailbox must be there, a directory of the tree.
            if !open_dir_nofollow(&tree, &dir).is_ok_and(|m| m.is_dir("cur")) {
                continue;
            }
            let Some(acl) = read_acl(&acls, &dir) else {
                continue;
            };
            if !acl.shares_beyond(owner) {
                continue;
            }
            let mut entries = String::new();
            for e in acl.entries() {
                entries += &format!("{dir}\t{}\t{}\n", e.shown(), e.rights.letters());
            }
            // Whole mailboxes only, up to the size readers take.
            if lines.len() + entries.len() > MAX_INDEX {
                break;
            }
            lines += &entries;
        }
    }
    let file = index.join(owner);
    if lines.is_empty() {
        crate::replace::remove(&file)?;
        return Ok(());
    }
    crate::replace::Staged::new(&file, lines.as_bytes(), 0o640)?.commit()
}

/// One owner's index file → each shared directory's ACL. Lines that do
/// not parse are skipped with their directory (hostile input: the host
/// writes these files, but from what guests wrote).
pub fn parse_index(text: &str) -> BTreeMap<String, Acl> {
    let mut by_dir: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let Some((dir, entry)) = line.split_once('\t') else {
            continue;
        };
        if valid_dir(dir) {
            let acl = by_dir.entry(dir.to_string()).or_default();
            acl.push_str(entry);
            acl.push('\n');
        }
    }
    by_dir
        .into_iter()
        .filter_map(|(dir, text)| Some((dir, Acl::parse(text.as_bytes()).ok()?)))
        .collect()
}

/// The shares that give `user` `l` or `r`, from every owner's index.
/// Blocking.
pub fn for_user(config_dir: &Path, user: &str) -> Vec<Share> {
    let index = config_dir.join(DIR);
    let Ok(entries) = std::fs::read_dir(&index) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Ok(owner) = entry.file_name().into_string() else {
            continue;
        };
        if owner == user || !valid_owner(&owner) {
            continue;
        }
        let Ok(text) = read_bounded(&entry.path()) else {
            continue;
        };
        for (dir, acl) in parse_index(&text) {
            let rights = acl.rights_of(user);
            if rights.intersects(Rights::LOOKUP.union(Rights::READ)) && out.len() < MAX_SHARES {
                out.push(Share {
                    owner: owner.clone(),
                    dir,
                    rights,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.owner, &a.dir).cmp(&(&b.owner, &b.dir)));
    out
}

/// An index file, at most [`MAX_INDEX`] octets.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_INDEX as u64)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// What changes when any owner's index is replaced: the index
/// directory's modification time (a rename into it changes it).
pub fn stamp(config_dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(config_dir.join(DIR))
        .and_then(|m| m.modified())
        .ok()
}

/// Whether a [`stamp`] is old enough to tell every change since: a file
/// system with coarse timestamps gives two changes within one tick the
/// same time, so a stamp from the last two seconds is read again anyway
/// (a revocation right after a grant must not be missed).
pub fn settled(stamp: Option<std::time::SystemTime>) -> bool {
    stamp.is_none_or(|t| {
        std::time::SystemTime::now()
            .duration_since(t)
            .is_ok_and(|age| age > std::time::Duration::from_secs(2))
    })
}

/// A share with its directory opened (without following symlinks) in
/// the owner's tree: what the guest's `/shared/<owner>/<dir>` preopen is.
pub struct Opened {
    pub share: Share,
    pub dir: Dir,
}

impl Opened {
    /// The directory's descriptor, for the preopen.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.dir.as_raw_fd()
    }

    /// The guest's path for it.
    pub fn guest_path(&self) -> String {
        format!("/shared/{}/{}", self.share.owner, self.share.dir)
    }
}

/// Opens the directories of `shares` that have `r` (the others are only
/// listed), in the partition; a share whose directory is gone, is not a
/// mailbox, or is a symlink is left out. Blocking.
pub fn open(partition: &Dir, shares: Vec<Share>) -> (Vec<Share>, Vec<Opened>) {
    let mut listed = Vec::new();
    let mut opened = Vec::new();
    for share in shares {
        if !share.rights.contains(Rights::READ) {
            listed.push(share);
            continue;
        }
        let dir = open_dir_nofollow(partition, &share.owner)
            .and_then(|tree| open_dir_nofollow(&tree, &share.dir));
        match dir {
            Ok(dir) if dir.is_dir("cur") => {
                listed.push(share.clone());
                opened.push(Opened { share, dir });
            }
            _ => {}
        }
    }
    (listed, opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;
    use std::path::PathBuf;

    fn partition() -> (PathBuf, Dir) {
        let t = crate::replace::scratch_dir("shares-part");
        let d = Dir::open_ambient_dir(&t, ambient_authority()).unwrap();
        (t, d)
    }

    fn mailbox(root: &Path, user: &str, dir: &str, acl: Option<&str>) {
        let m = root.join(user).join(dir);
        std::fs::create_dir_all(m.join("cur")).unwrap();
        if let Some(acl) = acl {
            let acls = root.join(user).join(ACL_DIR);
            std::fs::create_dir_all(&acls).unwrap();
            std::fs::write(acls.join(dir), acl).unwrap();
        }
    }

    #[test]
    fn a_shared_folder_reaches_its_grantee_and_nobody_else() {
        let (t, part) = partition();
        let conf = crate::replace::scratch_dir("shares-conf");
        mailbox(&t, "alice", ".Team", Some("alice\tlrswipkxtean\nbob\tlr\n"));
        mailbox(&t, "alice", ".Private", None);
        mailbox(&t, "alice", ".Mine", Some("alice\tlrswipkxtean\n"));
        mailbox(&t, "alice", ".Open", Some("anyone\tlrs\n-carol\tr\n"));
        publish(&conf, &part, "alice").unwrap();
        let bob = for_user(&conf, "bob");
        let dirs: Vec<(&str, String)> = bob
            .iter()
            .map(|s| (s.dir.as_str(), s.rights.to_string()))
            .collect();
        assert_eq!(dirs, [(".Open", "lrs".into()), (".Team", "lr".into())]);
        assert!(!bob[1].writable() && bob[0].writable());
        // Negative rights take `r` away from carol; `l` is left.
        let carol = for_user(&conf, "carol");
        assert_eq!(carol.len(), 1);
        assert_eq!(carol[0].rights.to_string(), "ls");
        // The owner's own index is not a share to herself.
        assert!(for_user(&conf, "alice").is_empty());
        let (listed, opened) = open(&part, bob);
        assert_eq!(listed.len(), 2);
        assert_eq!(opened.len(), 2);
        assert_eq!(opened[1].guest_path(), "/shared/alice/.Team");
        // Revoked: the index goes with the last share.
        std::fs::remove_file(t.join("alice").join(ACL_DIR).join(".Team")).unwrap();
        std::fs::remove_file(t.join("alice").join(ACL_DIR).join(".Open")).unwrap();
        publish(&conf, &part, "alice").unwrap();
        assert!(for_user(&conf, "bob").is_empty());
        assert!(!conf.join(DIR).join("alice").exists());
    }

    #[test]
    fn a_fresh_stamp_is_read_again() {
        use std::time::{Duration, SystemTime};
        assert!(settled(None));
        assert!(!settled(Some(SystemTime::now())));
        assert!(!settled(Some(SystemTime::now() + Duration::from_secs(60))));
        assert!(settled(Some(SystemTime::now() - Duration::from_secs(10))));
    }

    #[test]
    fn hostile_trees_share_nothing_they_do_not_own() {
        let (t, part) = partition();
        let conf = crate::replace::scratch_dir("shares-conf");
        mailbox(&t, "bob", ".Secret", None);
        // A symlink in alice's tree to bob's mailbox, with an ACL that
        // would share it with mallory: never shared.
        std::fs::create_dir_all(t.join("alice").join(ACL_DIR)).unwrap();
        std::os::unix::fs::symlink("../bob/.Secret", t.join("alice/.Link")).unwrap();
        std::fs::write(t.join("alice").join(ACL_DIR).join(".Link"), "mallory\tlr\n").unwrap();
        // An ACL file that is a symlink to one granting rights.
        mailbox(&t, "alice", ".Evil", None);
        mailbox(&t, "alice", ".Grant", Some("mallory\tlr\n"));
        std::os::unix::fs::symlink(".Grant", t.join("alice").join(ACL_DIR).join(".Evil")).unwrap();
        // An ACL for a mailbox that is not there, and one in the mailbox's
        // own directory (where a grantee could write): neither counts.
        std::fs::write(t.join("alice").join(ACL_DIR).join(".Gone"), "mallory\tlr\n").unwrap();
        mailbox(&t, "alice", ".Inside", None);
        std::fs::write(t.join("alice/.Inside/imapd.acl"), "mallory\tlr\n").unwrap();
        // Garbage and an oversized file.
        mailbox(&t, "alice", ".Junk", Some("mallory lr\n\0\0"));
        mailbox(
            &t,
            "alice",
            ".Huge",
            Some(&"mallory\tlr\n".repeat(imapd_acl::MAX_FILE)),
        );
        publish(&conf, &part, "alice").unwrap();
        let shares = for_user(&conf, "mallory");
        let dirs: Vec<&str> = shares.iter().map(|s| s.dir.as_str()).collect();
        assert_eq!(dirs, [".Grant"]);
        // An index entry naming the link (as a forged index would) is not
        // opened either.
        let forged = vec![Share {
            owner: "alice".into(),
            dir: ".Link".into(),
            rights: Rights::ALL,
        }];
        let (listed, opened) = open(&part, forged);
        assert!(listed.is_empty() && opened.is_empty());
        // A damaged index line is skipped with its directory.
        let parsed = parse_index(".A\tbob\tlr\n.B\tbob\tlrQ\n../x\tbob\tlr\nnotab\n");
        assert_eq!(parsed.keys().collect::<Vec<_>>(), [".A"]);
    }
}
