//! Change notification for IDLE: an inotify watch on the selected
//! mailbox's directory (and its `new/` and `cur/`), so another session's
//! APPEND, STORE or EXPUNGE (they write the mailbox's index log) and an
//! MTA's delivery into `new/` wake the idling session at once.

use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::{Context, Result};
use cap_std::fs::Dir;
use inotify::{Inotify, WatchMask};
use tokio::io::unix::AsyncFd;

/// Changes arriving within this window are reported together.
const SETTLE: Duration = Duration::from_millis(20);

pub struct IdleWatch {
    /// The directory (relative to the mail tree) being watched.
    pub path: String,
    fd: AsyncFd<Inotify>,
}

impl IdleWatch {
    /// Watch `rel` (a mailbox directory, relative to the user's tree).
    pub fn new(tree: &Dir, rel: &str) -> Result<IdleWatch> {
        let inotify = Inotify::init().context("inotify_init")?;
        // The tree is a capability we hold; name it through its descriptor
        // so nothing outside it can be reached by a crafted `rel`.
        if rel.split('/').any(|c| c == "..") || rel.starts_with('/') {
            anyhow::bail!("watch path {rel:?} leaves the mail tree");
        }
        let base = format!("/proc/self/fd/{}", tree.as_raw_fd());
        let dir = if rel.is_empty() {
            base
        } else {
            format!("{base}/{rel}")
        };
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_TO
            | WatchMask::MOVED_FROM
            | WatchMask::MODIFY
            | WatchMask::CLOSE_WRITE;
        inotify
            .watches()
            .add(&dir, mask)
            .with_context(|| format!("watching {rel:?}"))?;
        for sub in ["new", "cur"] {
            let _ = inotify.watches().add(format!("{dir}/{sub}"), mask);
        }
        // SAFETY: the Inotify owns its descriptor and keeps it open, and
        // the same, until it is dropped together with the AsyncFd.
        let fd = unsafe { AsyncFd::register(inotify) }
            .map_err(|e| anyhow::anyhow!("registering inotify: {e}"))?;
        Ok(IdleWatch {
            path: rel.to_string(),
            fd,
        })
    }

    /// Wait for a change, then for the burst to settle. Opening and
    /// closing the mailbox lock (`imapd.lock`, which every session takes
    /// around its writes and its rescans) is not a change: the writes it
    /// guards are seen on their own files. Nor are the store's derived
    /// files ([`NOT_CHANGES`]).
    pub async fn changed(&mut self) {
        // Room for one event with the longest name; more are read later.
        let mut buf = [0u8; 512];
        loop {
            let Ok(mut guard) = self.fd.readable_mut().await else {
                return std::future::pending().await;
            };
            let read = guard.try_io(|inner| {
                inner
                    .get_mut()
                    .read_events(&mut buf)
                    .map(|events| events.filter(|e| !is_lock(e)).count())
            });
            match read {
                Ok(Ok(n)) if n > 0 => break,
                Ok(Ok(_)) => continue,
                Ok(Err(_)) => return std::future::pending().await,
                Err(_would_block) => continue,
            }
        }
        tokio::time::sleep(SETTLE).await;
        // Drain whatever else arrived meanwhile (bounded: a mailbox written
        // to without pause must not keep us here).
        for _ in 0..64 {
            if self.fd.get_mut().read_events(&mut buf).is_err() {
                break;
            }
        }
    }
}

/// Files whose changes are not news: the lock, and the store's derived
/// files (summary and text caches, scan mark), which are written together
/// with the log that other sessions read or as a session's bookkeeping.
const NOT_CHANGES: &[&str] = &["imapd.cache", "imapd.text", "imapd.scan"];

fn is_lock(e: &inotify::Event<&std::ffi::OsStr>) -> bool {
    e.name.is_some_and(|n| {
        n == crate::locks::LOCK_FILE || NOT_CHANGES.iter().any(|f| n == std::ffi::OsStr::new(f))
    })
}
