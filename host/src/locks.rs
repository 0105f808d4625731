//! Mailbox write locks for guests (wit: `lock-mailbox`): an exclusive
//! flock on `imapd.lock` in the mailbox's directory of the user's tree,
//! so writers of one mailbox are serialised across every session and
//! every imapd process. Taken through the tree's capability (cap-std), so
//! a guest cannot name anything outside its own tree.

use std::collections::HashMap;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result, bail};
use cap_std::fs::{Dir, OpenOptions};

pub const LOCK_FILE: &str = "imapd.lock";

/// The locks one session holds, counted so a mailbox locked twice by the
/// same session (e.g. COPY into the same mailbox) does not deadlock.
#[derive(Default)]
pub struct HeldLocks {
    held: HashMap<String, (std::fs::File, u32)>,
}

impl HeldLocks {
    /// Lock `rel` (a mailbox directory relative to the tree, "" = INBOX),
    /// waiting off the async threads while another holder has it.
    pub async fn lock(&mut self, tree: &Dir, rel: &str) -> Result<()> {
        self.lock_as(rel, tree, rel).await
    }

    /// [`HeldLocks::lock`], held (and released) under the name `key`.
    pub async fn lock_as(&mut self, key: &str, tree: &Dir, rel: &str) -> Result<()> {
        if let Some((_, n)) = self.held.get_mut(key) {
            *n += 1;
            return Ok(());
        }
        if rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
            bail!("mailbox path {rel:?} leaves the mail tree");
        }
        let path = if rel.is_empty() {
            LOCK_FILE.to_string()
        } else {
            format!("{rel}/{LOCK_FILE}")
        };
        let mut opts = OpenOptions::new();
        opts.create(true).truncate(false).read(true).write(true);
        let opened = match tree.open_with(&path, &opts) {
            // A read-only file system: flock works on a descriptor opened
            // for reading (and, without a lock file, there is nothing a
            // writer could change to protect against).
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => tree.open(&path),
            r => r,
        };
        let file = match opened {
            Ok(f) => f.into_std(),
            // A mailbox being created has no directory yet: nothing to
            // protect in it, and CREATE is atomic on its own (mkdir).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(());
            }
            Err(e) => return Err(e).with_context(|| format!("opening lock {path}")),
        };
        // Uncontended (the usual case): taken here, without the round trip
        // through the blocking pool (a thread wake-up per mailbox opened,
        // which LIST RETURN (STATUS) over many folders pays per folder).
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            self.held.insert(key.to_string(), (file, 1));
            return Ok(());
        }
        let file = tokio::task::spawn_blocking(move || {
            // SAFETY: flock on a descriptor we own.
            let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                Ok(file)
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
        .await?
        .with_context(|| format!("locking {path}"))?;
        self.held.insert(key.to_string(), (file, 1));
        Ok(())
    }

    /// Release one hold of `rel`; the flock goes with the last one.
    pub fn unlock(&mut self, rel: &str) {
        if let Some((_, n)) = self.held.get_mut(rel) {
            *n -= 1;
            if *n == 0 {
                // Closing the descriptor releases the flock.
                self.held.remove(rel);
            }
        }
    }
}
