//! What the user's tree holds, for QUOTA (rfc9208 STORAGE and MESSAGE):
//! the messages of every mailbox and the sum of their sizes.
//!
//! It is always the mailboxes' own indexes that count (the same numbers
//! STATUS MESSAGES and SIZE give), so the usage is exact whatever was
//! interrupted: there is no counter of its own that a crash could leave
//! behind. To keep that cheap, `imapd.usage` at the root remembers each
//! mailbox's numbers with the stamp of its files when they were counted
//! (the log's length and time, and the time of `new/`, where deliveries
//! land); a mailbox whose stamp still matches is not opened again. A
//! stamp is taken before the mailbox is read, so a change made meanwhile
//! leaves a stamp that no longer matches, and the next count reads it.
//!
//! Layout, little-endian, sealed as `index::Enc::sealed`: the magic
//! `IMAPDUS1`, the entry count, then per mailbox its directory name, the
//! stamp (u64 log length, u64 log time in ns, u64 `new/` time in ns), the
//! message count (u64) and the octets (u64). A file that does not check
//! out is counted anew.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::index::{self, Enc, unseal};
use super::{MailStore, StoreError};

const FILE: &str = "imapd.usage";
const MAGIC: &[u8; 8] = b"IMAPDUS1";

/// What a tree (or one mailbox) holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub messages: u64,
    /// The sum of the messages' RFC822.SIZE.
    pub octets: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counted {
    stamp: [u64; 3],
    usage: Usage,
}

type Cache = BTreeMap<String, Counted>;

fn nanos(path: &Path) -> (u64, u64) {
    fs::metadata(path).map_or((0, 0), |m| {
        let t = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        (m.len(), t)
    })
}

/// The stamp of a mailbox directory: its log's length and time, and the
/// time of `new/`.
fn stamp(dir: &Path) -> [u64; 3] {
    let (len, log_time) = nanos(&dir.join(index::LOG_FILE));
    let (_, new_time) = nanos(&dir.join("new"));
    [len, log_time, new_time]
}

fn encode(cache: &Cache) -> Vec<u8> {
    let mut e = Enc(MAGIC.to_vec());
    e.u32(cache.len() as u32);
    for (dir, c) in cache {
        e.bytes(dir.as_bytes());
        for s in c.stamp {
            e.u64(s);
        }
        e.u64(c.usage.messages);
        e.u64(c.usage.octets);
    }
    e.sealed()
}

fn decode(b: &[u8]) -> Option<Cache> {
    let mut d = unseal(b, MAGIC)?;
    let n = d.u32()? as usize;
    // An entry takes at least 44 octets.
    if n > d.b.len() / 44 {
        return None;
    }
    let mut cache = Cache::new();
    for _ in 0..n {
        let dir = d.string()?;
        let stamp = [d.u64()?, d.u64()?, d.u64()?];
        let usage = Usage {
            messages: d.u64()?,
            octets: d.u64()?,
        };
        cache.insert(dir, Counted { stamp, usage });
    }
    (d.i == d.b.len()).then_some(cache)
}

impl MailStore {
    /// The usage of the whole tree: every selectable mailbox's messages
    /// and their octets, as their indexes have them.
    pub fn usage(&self) -> Result<Usage, StoreError> {
        let path = self.root().join(FILE);
        let cached = fs::read(&path)
            .ok()
            .and_then(|b| decode(&b))
            .unwrap_or_default();
        let mut fresh = Cache::new();
        let mut total = Usage::default();
        for (name, selectable) in self.all_names()? {
            if !selectable {
                continue;
            }
            let dir_name = name.dir_name();
            let dir = self.root().join(&dir_name);
            let now = stamp(&dir);
            let counted = match cached.get(&dir_name) {
                Some(c) if c.stamp == now => *c,
                _ => {
                    let status = match self.status(&name, false) {
                        Ok(s) => s,
                        // Removed by another session meanwhile.
                        Err(StoreError::NoSuchMailbox(_) | StoreError::NotSelectable(_)) => {
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    Counted {
                        stamp: now,
                        usage: Usage {
                            messages: u64::from(status.messages),
                            octets: status.size,
                        },
                    }
                }
            };
            total.messages += counted.usage.messages;
            total.octets += counted.usage.octets;
            fresh.insert(dir_name, counted);
        }
        if fresh != cached {
            // Only a cache: a failure to keep it costs the next count time.
            let _ = index::write_atomically(&path, &encode(&fresh));
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AppendMessage, Flags, MailboxName, NoLocking};
    use std::rc::Rc;

    fn message(text: &str) -> AppendMessage {
        AppendMessage {
            data: text.as_bytes().to_vec(),
            flags: Flags::default(),
            keywords: Vec::new(),
            internal_date: None,
        }
    }

    #[test]
    fn usage_counts_every_mailbox_and_follows_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path(), Rc::new(NoLocking), &[]).unwrap();
        assert_eq!(store.usage().unwrap(), Usage::default());
        let work = MailboxName::new("Work").unwrap();
        store.create(&work).unwrap();
        store
            .append(
                &MailboxName::inbox(),
                vec![message("a\r\n"), message("bc\r\n")],
            )
            .unwrap();
        store.append(&work, vec![message("defg\r\n")]).unwrap();
        let want = Usage {
            messages: 3,
            octets: 3 + 4 + 6,
        };
        assert_eq!(store.usage().unwrap(), want);
        // Counted again from the cache, and from scratch without it.
        assert_eq!(store.usage().unwrap(), want);
        fs::write(dir.path().join(FILE), b"damaged").unwrap();
        assert_eq!(store.usage().unwrap(), want);
        // A delivery into new/ behind the store's back counts.
        let delivered = dir.path().join(".Work/new/1.delivered");
        std::thread::sleep(std::time::Duration::from_millis(5));
        fs::write(delivered, b"Subject: x\r\n\r\nhi\r\n").unwrap();
        assert_eq!(
            store.usage().unwrap(),
            Usage {
                messages: 4,
                octets: 13 + 18,
            }
        );
        store.delete(&work).unwrap();
        assert_eq!(
            store.usage().unwrap(),
            Usage {
                messages: 2,
                octets: 7,
            }
        );
    }
}
