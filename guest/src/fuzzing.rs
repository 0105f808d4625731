//! The bodies of the fuzz targets (`fuzz/`, `make fuzz`), here so that the
//! libFuzzer harnesses and the replay tests run the very same code: `cargo
//! test -p guest` feeds every committed corpus file and crash reproducer
//! through them (`tests` below). Any panic is a bug: in the sandbox it is a
//! trap that ends the session.
//!
//! - [`reader`]: a session before login, any bytes in any chunking (the
//!   command reader, the parser, every command's arguments, LOGIN and
//!   AUTHENTICATE's SASL decoding);
//! - [`session`]: the same after login, on a fresh mail tree with messages
//!   in INBOX (selected), ending with a snapshot that must restore;
//! - [`mime`]: a message through everything the cache renders (ENVELOPE,
//!   BODYSTRUCTURE, SEARCH fields, PREVIEW) and every section and BINARY
//!   fetch of every part;
//! - [`store_files`]: a mailbox whose `imapd.index`, `imapd.log` or
//!   `imapd.cache` is replaced by arbitrary bytes or truncated, opened,
//!   read and written;
//! - [`snapshot_restore`]: arbitrary text as a session snapshot.

use crate::host::{AuthError, HostApi, Level};
use crate::mime::{MessageSummary, MimePart, PartKind, Section, SectionText};
use crate::session::{Action, Env, Session};
use crate::settings::Settings;
use crate::store::{AppendMessage, Flags, MailStore, MailboxName, NoLocking};
use std::path::Path;
use std::rc::Rc;

#[path = "../../fuzz/shared.rs"]
mod shared;
use shared::Tree;

/// Accepts `alice` / `secret`, as the unit tests' host does.
struct FuzzHost;

impl HostApi for FuzzHost {
    fn authenticate(
        &self,
        _mech: &str,
        authzid: &str,
        user: &str,
        password: &str,
    ) -> Result<String, AuthError> {
        if user == "alice" && password == "secret" && (authzid.is_empty() || authzid == "alice") {
            Ok("alice".into())
        } else {
            Err(AuthError::BadCredentials)
        }
    }

    fn log(&self, _level: Level, _message: &str) {}
}

fn settings() -> Settings {
    Settings {
        servername: "fuzz.example".into(),
        product: "imapd".into(),
        version: "0".into(),
        session_id: "fuzz-1".into(),
        mechanisms: vec!["PLAIN".into(), "LOGIN".into()],
        allow_plaintext: true,
        idle_enabled: true,
        ..Settings::default()
    }
}

const MESSAGES: [&str; 3] = [
    "From: a@example.org\r\nTo: b@example.org\r\nSubject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst body\r\n",
    "From: \"B\" <b@example.org>\r\nSubject: =?utf-8?q?two?=\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\npart one\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--x--\r\n",
    "Subject: three\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
];

/// Feed `input` to `s` in the chunk sizes `sizes` (cycled; 0 = the rest)
/// and pull all output; stops when the session closes.
fn feed_chunked(s: &mut Session, input: &[u8], sizes: &[u8]) {
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = match sizes.get(i % sizes.len().max(1)).copied().unwrap_or(0) {
            0 => input.len() - at,
            n => (n as usize).min(input.len() - at),
        };
        i += 1;
        let mut step = s.feed(&input[at..at + n]);
        at += n;
        while step.more {
            step = s.pull(1 << 16);
        }
        if step.action == Action::Close {
            return;
        }
    }
}

/// Split fuzz input into chunk sizes (up to the first 0xff byte of the
/// first 8) and the bytes to feed.
fn split_control(data: &[u8]) -> (&[u8], &[u8]) {
    let head = &data[..data.len().min(8)];
    match head.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[], data),
    }
}

/// A session before login.
pub fn reader(data: &[u8]) {
    let (sizes, input) = split_control(data);
    let env = Env {
        host: Box::new(FuzzHost),
        mail_root: None,
    };
    let mut s = Session::new(settings(), env);
    s.greet();
    feed_chunked(&mut s, input, sizes);
    let _ = s.snapshot();
}

fn logged_in(tree: &Path) -> Session {
    let env = Env {
        host: Box::new(FuzzHost),
        mail_root: Some(tree.to_path_buf()),
    };
    let mut s = Session::new(settings(), env);
    s.greet();
    feed_chunked(&mut s, b"l LOGIN alice secret\r\n", &[]);
    s
}

/// A session after login, INBOX selected with three messages; its
/// snapshot at the end must restore.
pub fn session(data: &[u8]) {
    let (sizes, input) = split_control(data);
    let tree = Tree::new();
    {
        let store = MailStore::open(&tree.0, Rc::new(NoLocking), &[]).expect("store");
        let batch = MESSAGES
            .iter()
            .enumerate()
            .map(|(i, m)| AppendMessage {
                data: m.as_bytes().to_vec(),
                flags: if i == 0 {
                    Flags::SEEN
                } else {
                    Flags::default()
                },
                keywords: vec!["$k".into()],
                internal_date: Some((1_700_000_000 + i as i64, 0)),
            })
            .collect();
        store.append(&MailboxName::inbox(), batch).expect("append");
    }
    let mut s = logged_in(&tree.0);
    feed_chunked(&mut s, b"s SELECT INBOX\r\n", &[]);
    feed_chunked(&mut s, input, sizes);
    let snapshot = s.snapshot();
    drop(s);
    let env = Env {
        host: Box::new(FuzzHost),
        mail_root: Some(tree.0.clone()),
    };
    if let Err(e) = Session::restore(&snapshot, settings(), env) {
        panic!("a session's own snapshot does not restore: {e}\n{snapshot}");
    }
}

/// Every part's number path, depth first (at most `limit`).
fn part_paths(root: &MimePart, prefix: &mut Vec<u32>, out: &mut Vec<Vec<u32>>, limit: usize) {
    let children: &[MimePart] = match &root.kind {
        PartKind::Multipart(parts) => parts,
        PartKind::Message(inner) => match &inner.kind {
            PartKind::Multipart(parts) => parts,
            _ => std::slice::from_ref(&**inner),
        },
        PartKind::Leaf => return,
    };
    for (i, p) in children.iter().enumerate() {
        if out.len() >= limit || prefix.len() > 8 {
            return;
        }
        prefix.push(i as u32 + 1);
        out.push(prefix.clone());
        part_paths(p, prefix, out, limit);
        prefix.pop();
    }
}

/// A message through the cache's renderings and every section fetch.
pub fn mime(data: &[u8]) {
    let summary = MessageSummary::of(data);
    let encoded = crate::store::cache::encode_summary(&summary);
    assert!(
        crate::store::cache::decode_summary(&encoded).is_some(),
        "a summary we encoded does not decode"
    );
    let tree = crate::mime::parse_tree(data);
    let mut paths = vec![Vec::new()];
    part_paths(&tree, &mut Vec::new(), &mut paths, 64);
    paths.push(vec![1, 2, 3]);
    paths.push(vec![0]);
    let names = vec!["Subject".to_string(), "From".to_string()];
    for parts in &paths {
        let texts = [
            None,
            Some(SectionText::Header),
            Some(SectionText::Text),
            Some(SectionText::Mime),
            Some(SectionText::HeaderFields {
                names: names.clone(),
                not: false,
            }),
            Some(SectionText::HeaderFields {
                names: names.clone(),
                not: true,
            }),
        ];
        for text in texts {
            let section = Section {
                parts: parts.clone(),
                text,
            };
            if let Ok(d) = crate::mime::section::fetch_section(data, &tree, &section) {
                let _ = d.bytes(data).len();
            }
        }
        let _ = crate::mime::section::fetch_binary(data, &tree, parts);
        let _ = crate::mime::section::binary_size(data, &tree, parts);
    }
    let _ = crate::mime::binary::encode_nul_parts(data);
}

/// The mailbox files to damage, in the order of the first input byte.
const STORE_FILES: [&str; 3] = ["imapd.index", "imapd.log", "imapd.cache"];

/// A mailbox (INBOX, three messages, flags changed, one expunged) whose
/// index, log or cache is replaced by `data[1..]` (`data[0]` % 4 = 0, 1,
/// 2) or whose three files are cut to the lengths in `data[1..7]` (3):
/// opened, read, written, expunged, opened again.
pub fn store_files(data: &[u8]) {
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    let tree = Tree::new();
    let inbox = MailboxName::inbox();
    build_store_fixture(&tree.0);
    match which % 4 {
        n @ 0..=2 => {
            let _ = std::fs::write(tree.0.join(STORE_FILES[n as usize]), payload);
            if n == 2 {
                let _ = crate::store::cache::decode_summary(payload);
            }
        }
        _ => {
            for (i, name) in STORE_FILES.iter().enumerate() {
                let len = payload
                    .get(i * 2..i * 2 + 2)
                    .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as u64);
                if let Ok(f) = std::fs::OpenOptions::new()
                    .write(true)
                    .open(tree.0.join(name))
                {
                    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                    let _ = f.set_len(len.min(size));
                }
            }
        }
    }
    let _ = crate::store::index::read_log(&tree.0.join("imapd.log"), 0);
    let _ = crate::store::index::read_snapshot(&tree.0, 0);
    let Ok(store) = MailStore::open(&tree.0, Rc::new(NoLocking), &[]) else {
        return;
    };
    if let Ok(mut m) = store.open_for_writing(&inbox) {
        let records: Vec<_> = m.records().to_vec();
        let mut cache = m.cache_reader();
        for r in &records {
            let _ = m.read_message(r);
            let _ = cache.summary(r).envelope.len();
        }
        drop(cache);
        let uids: Vec<u32> = records.iter().map(|r| r.uid).collect();
        let _ = m.store_flags(
            &uids,
            crate::store::FlagOperation::Add,
            Flags::DELETED,
            &["$new".into()],
            None,
        );
        let _ = m.sync();
        let _ = m.expunge(None);
        let _ = m.append(vec![AppendMessage {
            data: MESSAGES[0].as_bytes().to_vec(),
            flags: Flags::default(),
            keywords: Vec::new(),
            internal_date: None,
        }]);
    }
    // Whatever was damaged, the next open sees a consistent mailbox.
    if let Ok(m) = store.select(&inbox) {
        let mut uids: Vec<u32> = m.records().iter().map(|r| r.uid).collect();
        let n = uids.len();
        uids.dedup();
        assert_eq!(uids.len(), n, "a UID twice in one view");
        assert!(m.records().iter().all(|r| r.uid < m.uid_next()));
    }
    // And a session on it answers (BAD/NO at worst).
    let mut s = logged_in(&tree.0);
    feed_chunked(
        &mut s,
        b"s SELECT INBOX\r\nf FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[1] RFC822.SIZE)\r\nx SEARCH TEXT body\r\n",
        &[],
    );
}

/// The fixture of [`store_files`]: its files are also the seeds.
pub fn build_store_fixture(tree: &Path) {
    let store = MailStore::open(tree, Rc::new(NoLocking), &[]).expect("store");
    let inbox = MailboxName::inbox();
    let batch = MESSAGES
        .iter()
        .enumerate()
        .map(|(i, m)| AppendMessage {
            data: m.as_bytes().to_vec(),
            flags: Flags::default(),
            keywords: vec![format!("$k{i}")],
            internal_date: Some((1_700_000_000 + i as i64, 0)),
        })
        .collect();
    store.append(&inbox, batch).expect("append");
    let mut m = store.open_for_writing(&inbox).expect("open");
    let _ = m.sync();
    let _ = m.store_flags(
        &[1, 2],
        crate::store::FlagOperation::Add,
        Flags::SEEN.union(Flags::DELETED),
        &["$x".into()],
        None,
    );
    let _ = m.expunge(Some(&[2]));
    // A snapshot (imapd.index) and a log with entries after it.
    m.compact().expect("compact");
    let _ = m.store_flags(
        &[3],
        crate::store::FlagOperation::Add,
        Flags::FLAGGED,
        &[],
        None,
    );
}

/// Arbitrary text as a session snapshot; one that restores must serve.
pub fn snapshot_restore(data: &[u8]) {
    let json = String::from_utf8_lossy(data);
    let tree = Tree::new();
    let env = Env {
        host: Box::new(FuzzHost),
        mail_root: Some(tree.0.clone()),
    };
    let _ = Session::snapshot_state(&json);
    if let Ok(mut s) = Session::restore(&json, settings(), env) {
        feed_chunked(
            &mut s,
            b"a NOOP\r\nb FETCH 1:* (FLAGS UID)\r\nc SELECT INBOX\r\n",
            &[],
        );
        let _ = s.snapshot();
    }
}

/// The replay of `make test`: every committed corpus file and crash
/// reproducer of every target (`fuzz/corpus/<target>/`,
/// `fuzz/regressions/<target>/`) through its target.
#[cfg(test)]
mod tests {
    use super::shared::{replay, write_new};
    use std::path::PathBuf;

    /// Writes the seeds of `store_files` and `snapshot_restore` that are
    /// missing (run by `make fuzz` before fuzzing: `cargo test -p guest
    /// write_fuzz_seeds -- --ignored`): the fixture's real files, each
    /// behind the byte that picks it, and the snapshot of a session with
    /// INBOX selected.
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let tree = super::Tree::new();
        super::build_store_fixture(&tree.0);
        let dir = root.join("store_files");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, name) in super::STORE_FILES.iter().enumerate() {
            let mut seed = vec![i as u8];
            seed.extend(std::fs::read(tree.0.join(name)).unwrap());
            write_new(&dir.join(format!("seed-{name}")), &seed);
        }
        write_new(&dir.join("seed-truncate"), &[3u8, 200, 0, 40, 0, 90, 0]);
        let mut s = super::logged_in(&tree.0);
        super::feed_chunked(&mut s, b"s SELECT INBOX\r\nf FETCH 1 BODY[]\r\n", &[]);
        let dir = root.join("snapshot_restore");
        std::fs::create_dir_all(&dir).unwrap();
        write_new(&dir.join("seed-selected.json"), s.snapshot().as_bytes());
    }

    #[test]
    fn replay_reader() {
        replay("reader", super::reader);
    }

    #[test]
    fn replay_session() {
        replay("session", super::session);
    }

    #[test]
    fn replay_mime() {
        replay("mime", super::mime);
    }

    #[test]
    fn replay_store_files() {
        replay("store_files", super::store_files);
    }

    #[test]
    fn replay_snapshot_restore() {
        replay("snapshot_restore", super::snapshot_restore);
    }
}
