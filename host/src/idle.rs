//! Change notification for IDLE: an inotify watch on the selected
//! mailbox's directory (and its `new/` and `cur/`), so another session's
//! APPEND, STORE or EXPUNGE (they write the mailbox's index log) and an
//! MTA's delivery into `new/` wake the idling session at once.
//!
//! One inotify instance serves the whole process: Linux allows a user only
//! `fs.inotify.max_user_instances` of them (128 by default), far fewer than
//! the sessions a server keeps in IDLE. The [`Hub`] owns it; a thread of its
//! own reads the events and bumps a counter per watch descriptor
//! (a `tokio::sync::watch` channel), which every [`IdleWatch`] on that
//! directory compares with the value it saw last, so a change made while
//! nobody was waiting is still seen by the next [`IdleWatch::changed`].
//! The kernel hands out the same descriptor whenever the same directory is
//! watched again (by another session of the same user, or of another user
//! sharing the mailbox), so descriptors are reference-counted and the
//! kernel's watch is removed with the last [`IdleWatch`] on it.
//!
//! The reader is a thread, not a task: it blocks in `read(2)` and only
//! touches `watch` channels, which wake their receivers on whatever runtime
//! they are polled, so the hub outlives any runtime (the unit tests start
//! one per test) and is never starved by busy guests.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Poll;
use std::time::Duration;

use anyhow::{Context, Result};
use cap_std::fs::Dir;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::watch;

/// Changes arriving within this window are reported together.
const SETTLE: Duration = Duration::from_millis(20);

/// What the reader takes from the kernel at once: room for hundreds of
/// events, so a busy server drains its queue (`max_queued_events`, shared
/// by every watch of the instance) in few reads.
const READ_BUFFER: usize = 64 * 1024;

pub struct IdleWatch {
    /// The directory (relative to the mail tree) being watched.
    pub path: String,
    hub: &'static Hub,
    /// The mailbox directory, then its `new/` and `cur/` if they exist.
    subs: Vec<Sub>,
    /// A change was seen and the wait for its burst to settle was cut
    /// short (the caller's `select!` took another branch): report it next.
    due: bool,
}

/// One [`IdleWatch`]'s interest in one watch descriptor.
struct Sub {
    id: i32,
    /// The entry this was taken from: a descriptor number seen again
    /// after its entry was dropped (IN_IGNORED) belongs to a new entry.
    generation: u64,
    rx: watch::Receiver<u64>,
}

impl Sub {
    /// Wait for the counter to move past what this subscriber saw last.
    /// An entry dropped because its directory went away sends a last bump
    /// and closes; after that bump this waits forever (the session's poll
    /// interval still runs).
    async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl IdleWatch {
    /// Watch `rel` (a mailbox directory, relative to the user's tree).
    pub fn new(tree: &Dir, rel: &str) -> Result<IdleWatch> {
        // The tree is a capability we hold; name it through its descriptor
        // so nothing outside it can be reached by a crafted `rel`.
        if rel.split('/').any(|c| c == "..") || rel.starts_with('/') {
            anyhow::bail!("watch path {rel:?} leaves the mail tree");
        }
        let hub = hub()?;
        let base = format!("/proc/self/fd/{}", tree.as_raw_fd());
        let dir = if rel.is_empty() {
            base
        } else {
            format!("{base}/{rel}")
        };
        let mut subs = vec![
            hub.subscribe(&dir)
                .with_context(|| format!("watching {rel:?}"))?,
        ];
        for sub in ["new", "cur"] {
            if let Ok(s) = hub.subscribe(&format!("{dir}/{sub}")) {
                subs.push(s);
            }
        }
        Ok(IdleWatch {
            path: rel.to_string(),
            hub,
            subs,
            // A change between the guest's last look at the mailbox (when
            // it answered IDLE) and this subscription raised no event:
            // the first `changed` reports once anyway, so the guest looks
            // again with the watch in place.
            due: true,
        })
    }

    /// Wait for a change, then for the burst to settle. Opening and
    /// closing the mailbox lock (`imapd.lock`, which every session takes
    /// around its writes and its rescans) is not a change: the writes it
    /// guards are seen on their own files. Nor are the store's derived
    /// files ([`NOT_CHANGES`]). Cancel-safe: a change is marked seen only
    /// when this returns.
    pub async fn changed(&mut self) {
        // `Receiver::changed` marks what it reports as seen: remember it
        // until the burst has settled and this returns.
        if !self.due {
            let mut waits: Vec<_> = self
                .subs
                .iter_mut()
                .map(|s| Box::pin(s.changed()))
                .collect();
            std::future::poll_fn(|cx| {
                if waits.iter_mut().any(|w| w.as_mut().poll(cx).is_ready()) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
            drop(waits);
            self.due = true;
        }
        tokio::time::sleep(SETTLE).await;
        // Whatever else arrived meanwhile is part of the same burst.
        for s in &mut self.subs {
            s.rx.borrow_and_update();
        }
        self.due = false;
    }
}

impl Drop for IdleWatch {
    fn drop(&mut self) {
        for s in self.subs.drain(..) {
            self.hub.unsubscribe(&s);
        }
    }
}

/// The process's inotify instance: watches by descriptor number.
struct Hub {
    state: Mutex<State>,
}

struct State {
    watches: Watches,
    entries: HashMap<i32, Entry>,
    next_generation: u64,
}

struct Entry {
    wd: WatchDescriptor,
    /// Subscribers ([`Sub`]s) holding this descriptor.
    refs: usize,
    generation: u64,
    /// Bumped on every change in the directory.
    tx: watch::Sender<u64>,
}

fn bump(tx: &watch::Sender<u64>) {
    tx.send_modify(|n| *n = n.wrapping_add(1));
}

/// The hub, started on first use. A failure (say, the user's inotify
/// instances are all taken) is returned, and tried again next time.
fn hub() -> Result<&'static Hub> {
    static HUB: OnceLock<Arc<Hub>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(h) = HUB.get() {
        return Ok(h);
    }
    let _starting = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = HUB.get() {
        return Ok(h);
    }
    let inotify = Inotify::init().context("inotify_init")?;
    let hub = Arc::new(Hub {
        state: Mutex::new(State {
            watches: inotify.watches(),
            entries: HashMap::new(),
            next_generation: 0,
        }),
    });
    let reader = hub.clone();
    std::thread::Builder::new()
        .name("imapd-inotify".into())
        .spawn(move || reader.read(inotify))
        .context("starting the inotify reader")?;
    Ok(HUB.get_or_init(|| hub))
}

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        // The mailbox itself deleted or renamed away (its watch lasts
        // until the last descriptor open on it is closed).
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing done under the lock leaves the state half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watch the directory at `path` (or join the watch already on it).
    fn subscribe(&self, path: &str) -> std::io::Result<Sub> {
        // Added under the lock, so the reader cannot see an event for a
        // new descriptor before its entry exists.
        let mut guard = self.lock();
        let st = &mut *guard;
        let wd = st.watches.add(path, mask())?;
        let id = wd.get_watch_descriptor_id();
        let entry = st.entries.entry(id).or_insert_with(|| {
            st.next_generation += 1;
            Entry {
                wd,
                refs: 0,
                generation: st.next_generation,
                tx: watch::channel(0).0,
            }
        });
        entry.refs += 1;
        Ok(Sub {
            id,
            generation: entry.generation,
            rx: entry.tx.subscribe(),
        })
    }

    /// Give up `sub`; the last subscriber removes the kernel's watch.
    fn unsubscribe(&self, sub: &Sub) {
        let mut st = self.lock();
        let Some(e) = st.entries.get_mut(&sub.id) else {
            return;
        };
        if e.generation != sub.generation {
            return;
        }
        e.refs = e.refs.saturating_sub(1);
        if e.refs == 0
            && let Some(e) = st.entries.remove(&sub.id)
        {
            // Fails only when the watch is already gone (its IN_IGNORED
            // is on its way and will find no entry).
            let _ = st.watches.remove(e.wd);
        }
    }

    /// Wake every subscriber: they re-sync, which is harmless when nothing
    /// changed and needed when changes were lost.
    fn wake_all(st: &State) {
        for e in st.entries.values() {
            bump(&e.tx);
        }
    }

    /// The reader thread: forever read events and wake the subscribers of
    /// their descriptors.
    fn read(&self, mut inotify: Inotify) {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let events = match inotify.read_events_blocking(&mut buf) {
                Ok(events) => events,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::syslog!(Err, "reading inotify events: {e}");
                    Self::wake_all(&self.lock());
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let mut st = self.lock();
            for e in events {
                if e.mask.contains(EventMask::Q_OVERFLOW) {
                    // The queue (`max_queued_events` for the instance) was
                    // full and events were dropped: whose, nobody knows.
                    Self::wake_all(&st);
                    continue;
                }
                let id = e.wd.get_watch_descriptor_id();
                if e.mask.contains(EventMask::IGNORED) {
                    // The directory is gone (or its watch was removed by
                    // the last unsubscribe, whose entry is gone already):
                    // tell the subscribers, whose receivers then close.
                    if let Some(entry) = st.entries.remove(&id) {
                        bump(&entry.tx);
                    }
                    continue;
                }
                if is_lock(&e) {
                    continue;
                }
                if let Some(entry) = st.entries.get(&id) {
                    bump(&entry.tx);
                }
            }
            drop(st);
        }
    }

    #[cfg(test)]
    fn refs(&self, id: i32) -> usize {
        self.lock().entries.get(&id).map_or(0, |e| e.refs)
    }
}

/// Files whose changes are not news: the lock, and the store's derived
/// files (summary and text caches, scan mark), which are written together
/// with the log that other sessions read or as a session's bookkeeping.
const NOT_CHANGES: &[&str] = &[
    "imapd.cache",
    "imapd.text",
    "imapd.scan",
    "imapd.modseq",
    "imapd.mailboxid",
];

fn is_lock(e: &inotify::Event<&OsStr>) -> bool {
    e.name.is_some_and(|n| {
        n == crate::locks::LOCK_FILE || NOT_CHANGES.iter().any(|f| n == OsStr::new(f))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh mail tree with INBOX's `new/` and `cur/`.
    fn tree(name: &str) -> (std::path::PathBuf, Dir) {
        let p = std::env::temp_dir().join(format!("imapd-idle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("new")).unwrap();
        std::fs::create_dir_all(p.join("cur")).unwrap();
        let d = Dir::open_ambient_dir(&p, cap_std::ambient_authority()).unwrap();
        (p, d)
    }

    async fn fires(w: &mut IdleWatch) -> bool {
        tokio::time::timeout(Duration::from_secs(2), w.changed())
            .await
            .is_ok()
    }

    async fn quiet(w: &mut IdleWatch) -> bool {
        tokio::time::timeout(Duration::from_millis(200), w.changed())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn two_watches_share_a_descriptor_and_the_survivor_still_fires() {
        let (p, d) = tree("refcount");
        let mut a = IdleWatch::new(&d, "").unwrap();
        let b = IdleWatch::new(&d, "").unwrap();
        assert_eq!(a.subs.len(), 3);
        let id = a.subs[0].id;
        assert_eq!(b.subs[0].id, id, "the kernel gives the same descriptor");
        assert_eq!(a.hub.refs(id), 2);
        drop(b);
        assert_eq!(a.hub.refs(id), 1);
        std::fs::write(p.join("imapd.index"), "x").unwrap();
        assert!(fires(&mut a).await, "the remaining watch stays live");
        // A delivery into new/.
        std::fs::write(p.join("new/1.mta"), "x").unwrap();
        assert!(fires(&mut a).await);
        drop(a);
        assert_eq!(
            hub().unwrap().refs(id),
            0,
            "the last drop removes the watch"
        );
        // Watching again works (a new kernel watch).
        let mut c = IdleWatch::new(&d, "").unwrap();
        std::fs::write(p.join("imapd.index"), "y").unwrap();
        assert!(fires(&mut c).await);
        drop(c);
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[tokio::test]
    async fn a_change_between_waits_is_not_lost() {
        let (p, d) = tree("between");
        let mut w = IdleWatch::new(&d, "").unwrap();
        std::fs::write(p.join("imapd.index"), "x").unwrap();
        // Nobody was waiting when it happened.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(fires(&mut w).await);
        // Seen now: no second wake for the same burst.
        assert!(quiet(&mut w).await);
        // A wait cancelled (as by `select!`) loses nothing either.
        std::fs::write(p.join("cur/1:2,"), "x").unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(1), w.changed()).await;
        assert!(fires(&mut w).await);
        drop(w);
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[tokio::test]
    async fn the_lock_and_derived_files_are_not_changes() {
        let (p, d) = tree("lock");
        let mut w = IdleWatch::new(&d, "").unwrap();
        // A new watch reports once, for what it may have missed.
        assert!(fires(&mut w).await);
        for f in [
            crate::locks::LOCK_FILE,
            "imapd.cache",
            "imapd.text",
            "imapd.scan",
        ] {
            std::fs::write(p.join(f), "x").unwrap();
        }
        assert!(quiet(&mut w).await);
        drop(w);
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[tokio::test]
    async fn a_deleted_mailbox_wakes_then_drops_its_entries() {
        let (p, d) = tree("deleted");
        std::fs::create_dir_all(p.join("Trash/new")).unwrap();
        std::fs::create_dir_all(p.join("Trash/cur")).unwrap();
        let mut w = IdleWatch::new(&d, "Trash").unwrap();
        let ids: Vec<i32> = w.subs.iter().map(|s| s.id).collect();
        assert_eq!(ids.len(), 3);
        std::fs::remove_dir_all(p.join("Trash")).unwrap();
        assert!(fires(&mut w).await);
        // IN_IGNORED for all three directories drops their entries.
        let t0 = std::time::Instant::now();
        while ids.iter().any(|&id| w.hub.refs(id) > 0) {
            assert!(t0.elapsed() < Duration::from_secs(2), "entries kept");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // One more wake at most (events read after the first settled),
        // then silence: closed channels do not spin.
        let _ = tokio::time::timeout(Duration::from_millis(100), w.changed()).await;
        assert!(quiet(&mut w).await);
        drop(w);
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn paths_leaving_the_tree_are_refused() {
        let (p, d) = tree("escape");
        assert!(IdleWatch::new(&d, "../x").is_err());
        assert!(IdleWatch::new(&d, "/etc").is_err());
        std::fs::remove_dir_all(&p).unwrap();
    }
}
