//! Replacing a file whole, crash-safely, for the files the host (not a guest) keeps: the password
//! file (`imapd passwd`, [`crate::admin`]) and the server annotations
//! ([`crate::server_metadata`]).
//!
//! A new version is written to a temporary file in the same directory, fsynced, renamed over the
//! old one, and the directory fsynced: a crash leaves the old file or the new one, never a mix.
//! Writers of one directory, in any process, take turns through an exclusive `flock` on the
//! directory itself ([`lock_dir`]). Readers take no lock: they see one whole version or the other.

use anyhow::{Context, Result, anyhow};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// An exclusive `flock` on a directory, released on drop (when the fd closes).
pub struct DirLock(#[allow(dead_code)] File);

/// Waits for and takes the exclusive lock on `dir`. Blocking: call it off the async threads.
/// Locks are per open file, so a process must not take the same directory's lock twice.
pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    let f = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    // SAFETY: f is an open file descriptor for the duration of the call.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", dir.display()));
    }
    Ok(DirLock(f))
}

/// `file`, or its target when it is a symlink: a replacement is written through the link rather
/// than replacing the link with a file.
fn resolve(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

fn parent(target: &Path) -> PathBuf {
    match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

/// A new version of a file, written and fsynced beside it but not yet in place: several can be
/// prepared and then [`commit`](Staged::commit)ted one after the other, so that a failure while
/// writing any of them changes none. Dropped uncommitted, its temporary file is removed.
pub struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    dir: PathBuf,
    committed: bool,
}

impl Staged {
    /// Writes `bytes` to a temporary file next to `file` (through a symlink), with `mode`
    /// exactly and owned like the file it replaces (or, for a new file created by root, like its
    /// directory: the imapd processes run as the directory's owner, the cyrus user, and must be
    /// able to read it), and fsyncs it.
    pub fn new(file: &Path, bytes: &[u8], mode: u32) -> Result<Staged> {
        let target = resolve(file);
        let dir = parent(&target);
        let name = target
            .file_name()
            .ok_or_else(|| anyhow!("{}: not a file name", file.display()))?
            .to_string_lossy()
            .into_owned();
        let owner = match std::fs::metadata(&target) {
            Ok(m) => Some((m.uid(), m.gid())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
        };
        let suffix: u32 = rand::random();
        let tmp = dir.join(format!(".{name}.{}.{suffix:08x}.tmp", std::process::id()));
        let staged = Staged {
            tmp,
            target,
            dir,
            committed: false,
        };
        // On failure `staged` is dropped, which removes what was written.
        write_new(&staged.tmp, bytes, mode, owner, &staged.dir)?;
        Ok(staged)
    }

    /// Puts the new version in place: rename, then fsync of the directory.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target).with_context(|| {
            format!(
                "renaming {} to {}",
                self.tmp.display(),
                self.target.display()
            )
        })?;
        self.committed = true;
        sync_dir(&self.dir)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Removes `file` (the link, if it is one) and fsyncs its directory. `Ok(false)` when there was
/// no such file.
pub fn remove(file: &Path) -> Result<bool> {
    match std::fs::remove_file(file) {
        Ok(()) => {
            sync_dir(&parent(file))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", file.display())),
    }
}

/// Under the lock of its directory, reads `file` (empty if absent), applies `edit` and, if the
/// content changed, replaces the file atomically with `mode`. Returns the path written (the
/// symlink's target, if `file` is one).
pub fn rewrite(
    file: &Path,
    mode: u32,
    edit: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<PathBuf> {
    let target = resolve(file);
    let _lock = lock_dir(&parent(&target))?;
    let old = match std::fs::read(&target) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
    };
    let new = edit(&old)?;
    if new != old {
        Staged::new(&target, &new, mode)?.commit()?;
    }
    Ok(target)
}

/// Creates `tmp` with `mode` and `bytes`, owned by `owner` (see [`Staged::new`]), and fsyncs it.
fn write_new(
    tmp: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    dir: &Path,
) -> Result<()> {
    let ctx = || format!("writing {}", tmp.display());
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .with_context(ctx)?;
    // Exactly `mode`, whatever the umask.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(ctx)?;
    let mine = f.metadata().with_context(ctx)?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let wanted = match owner {
        Some(o) => Some(o),
        None if euid == 0 => {
            let d = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
            Some((d.uid(), d.gid()))
        }
        None => None,
    };
    if let Some((uid, gid)) = wanted
        && (uid, gid) != (mine.uid(), mine.gid())
    {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).with_context(|| {
            format!(
                "giving {} to uid {uid} gid {gid} (the owner of the file it replaces)",
                tmp.display()
            )
        })?;
    }
    f.write_all(bytes).with_context(ctx)?;
    f.sync_all().with_context(ctx)?;
    Ok(())
}

/// Creates `dir` (mode 0755) if it is missing, durably (its parent is fsync'd).
pub fn make_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    if let Some(up) = dir.parent() {
        File::open(up)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing directory {}", up.display()))?;
    }
    Ok(())
}

/// A fresh, empty directory for one test (`tag` names it), under the
/// system's temporary directory.
#[cfg(test)]
pub(crate) fn scratch_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "imapd-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_vanish_unless_committed() {
        let dir = scratch_dir("staged");
        let file = dir.join("f");
        std::fs::write(&file, "old").unwrap();
        drop(Staged::new(&file, b"new", 0o644).unwrap());
        assert_eq!(std::fs::read(&file).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        Staged::new(&file, b"new", 0o644).unwrap().commit().unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert!(remove(&file).unwrap());
        assert!(!remove(&file).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
