//! Store tests: mailbox semantics, Maildir interop, multi-session sync and
//! crash safety.

use super::*;
use std::collections::HashSet;
use std::path::Path;

fn store(dir: &Path) -> MailStore {
    MailStore::open(dir, Rc::new(NoLocking), &["Sent".into(), "Trash".into()]).unwrap()
}

fn n(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

fn msg(i: usize) -> AppendMessage {
    AppendMessage {
        data: format!(
            "From: Sender {i} <s{i}@example.org>\r\nTo: r@example.net\r\nSubject: message {i}\r\n\
Date: Thu, 06 Feb 2025 09:15:00 +0000\r\nMessage-ID: <{i}@x>\r\n\r\nbody line {i}\r\nsecond\r\n"
        )
        .into_bytes(),
        flags: Flags::default(),
        keywords: Vec::new(),
        internal_date: Some((1_700_000_000 + i as i64, 60)),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn cur_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every file in cur/ is indexed exactly once, UIDs are unique, and every
/// indexed message is readable.
fn check_invariants(m: &Mailbox, dir: &Path) {
    let files = cur_files(dir);
    let indexed: Vec<&str> = m.records().iter().map(|r| r.file.as_str()).collect();
    assert_eq!(
        files.len(),
        indexed.len(),
        "files {files:?} index {indexed:?}"
    );
    for f in &files {
        assert!(indexed.contains(&f.as_str()), "{f} not indexed");
    }
    let uids: HashSet<u32> = m.records().iter().map(|r| r.uid).collect();
    assert_eq!(uids.len(), m.records().len());
    for r in m.records() {
        assert!(r.uid < m.uid_next());
        assert_eq!(m.read_message(r).unwrap().len() as u64, r.size);
    }
}

#[test]
fn inbox_and_autocreate_at_first_use() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    assert!(t.path().join("cur").is_dir());
    assert!(t.path().join(".Sent/cur").is_dir());
    let names: Vec<String> = s
        .list("", "*")
        .unwrap()
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(names, ["INBOX", "Sent", "Trash"]);
    assert_eq!(s.subscriptions().unwrap(), vec![n("Sent"), n("Trash")]);
}

#[test]
fn append_fetch_store_expunge_and_uids_never_reused() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut m = s.select(&n("INBOX")).unwrap();
    let v = m.uid_validity();
    let a = m.append(vec![msg(1), msg(2), msg(3)]).unwrap();
    // The client is told of them (the command layer syncs after APPEND):
    // only announced messages get EXPUNGE responses.
    m.sync().unwrap();
    assert_eq!(
        a,
        AppendUid {
            uidvalidity: v,
            uids: vec![1, 2, 3]
        }
    );
    let r = m.by_seq(2).unwrap().clone();
    assert_eq!(m.read_message(&r).unwrap(), msg(2).data);
    assert_eq!(r.size, msg(2).data.len() as u64);
    assert_eq!(r.internal_date, 1_700_000_002);
    let mut summaries = m.cache_reader();
    let summary = summaries.summary(&r);
    assert!(String::from_utf8_lossy(summary.envelope).contains("\"message 2\""));
    assert_eq!(summary.subject, "message 2");

    let (changed, _) = m
        .store_flags(
            &[1, 2],
            FlagOperation::Add,
            Flags::DELETED,
            &["$Work".into()],
            None,
        )
        .unwrap();
    assert_eq!(changed.len(), 2);
    assert!(changed[1].modseq > changed[0].modseq);
    assert_eq!(m.highest_modseq(), changed[1].modseq);
    // no-op STORE changes nothing
    let (again, _) = m
        .store_flags(&[1], FlagOperation::Add, Flags::DELETED, &[], None)
        .unwrap();
    assert!(again.is_empty());
    // UID EXPUNGE of a subset
    assert_eq!(m.expunge(Some(&[2])).unwrap(), vec![(2, 2)]);
    assert_eq!(m.expunge(None).unwrap(), vec![(1, 1)]);
    assert_eq!(m.exists(), 1);
    drop(m);

    let mut m = s.select(&n("INBOX")).unwrap();
    assert_eq!(m.uid_validity(), v);
    assert_eq!(
        m.records().iter().map(|r| r.uid).collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(m.append(vec![msg(4)]).unwrap().uids, vec![4]);
    m.compact().unwrap();
    drop(m);
    let m = s.select(&n("INBOX")).unwrap();
    assert_eq!(m.uid_next(), 5);
    check_invariants(&m, t.path());
}

#[test]
fn maildir_delivery_and_existing_files() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    // An MTA delivers with bare LF; an older Maildir has a flagged file.
    fs::write(
        t.path().join("new/1700000000.1.host"),
        b"Subject: lf\n\nline\n",
    )
    .unwrap();
    fs::write(
        t.path().join("cur/1600000000.2.host:2,FS"),
        b"Subject: old\r\n\r\nx\r\n",
    )
    .unwrap();
    let m = s.select(&n("INBOX")).unwrap();
    assert_eq!(m.exists(), 2);
    let old = m.by_uid(1).unwrap();
    assert_eq!(old.flags, Flags::FLAGGED.union(Flags::SEEN));
    let lf = m.by_uid(2).unwrap();
    assert_eq!(m.read_message(lf).unwrap(), b"Subject: lf\r\n\r\nline\r\n");
    assert_eq!(lf.size, 21);
    assert_eq!(m.recent_count(), 2);
    check_invariants(&m, t.path());
    assert!(fs::read_dir(t.path().join("new")).unwrap().next().is_none());
}

#[test]
fn two_sessions_see_each_others_changes() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut a = s.select(&n("INBOX")).unwrap();
    a.append(vec![msg(1), msg(2), msg(3)]).unwrap();
    let mut b = s.select(&n("INBOX")).unwrap();
    assert_eq!(b.exists(), 3);
    // \Recent went to the first session to see the messages? a appended
    // them (they were never seen by a SELECT), b selected first after.
    assert_eq!(b.recent_count(), 3);
    assert_eq!(a.sync().unwrap().recent, 0);

    a.store_flags(&[2], FlagOperation::Add, Flags::DELETED, &[], None)
        .unwrap();
    a.expunge(None).unwrap();
    a.store_flags(&[3], FlagOperation::Replace, Flags::SEEN, &[], None)
        .unwrap();
    fs::write(
        t.path().join("new/99.delivered.host"),
        b"Subject: new\r\n\r\nhi\r\n",
    )
    .unwrap();
    // b writes before syncing: its sequence numbers must not move.
    b.store_flags(&[1], FlagOperation::Add, Flags::FLAGGED, &[], None)
        .unwrap();
    assert_eq!(b.exists(), 3);
    assert_eq!(b.seq_of_uid(3), Some(3));
    let ch = b.sync().unwrap();
    assert_eq!(ch.expunged, vec![(2, 2)]);
    assert_eq!(ch.exists, 3);
    assert!(ch.exists_changed);
    assert_eq!(ch.flags_changed, vec![3]);
    assert_eq!(b.by_uid(3).unwrap().flags, Flags::SEEN);
    assert_eq!(b.by_uid(4).unwrap().uid, 4);
    let ch = a.sync().unwrap();
    assert_eq!(ch.flags_changed, vec![1]);
    assert_eq!(a.exists(), 3);
    check_invariants(&a, t.path());
}

#[test]
fn compaction_by_another_session_is_followed() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut a = s.select(&n("INBOX")).unwrap();
    let mut b = s.select(&n("INBOX")).unwrap();
    a.append(vec![msg(1), msg(2)]).unwrap();
    a.store_flags(&[1], FlagOperation::Add, Flags::DELETED, &[], None)
        .unwrap();
    a.expunge(None).unwrap();
    a.compact().unwrap();
    a.store_flags(&[2], FlagOperation::Add, Flags::SEEN, &[], None)
        .unwrap();
    let ch = b.sync().unwrap();
    assert_eq!(
        b.records().iter().map(|r| r.uid).collect::<Vec<_>>(),
        vec![2]
    );
    assert!(ch.expunged.is_empty()); // b never saw uid 1
    assert_eq!(b.by_uid(2).unwrap().flags, Flags::SEEN);
}

#[test]
fn copy_move_and_copyuid() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut inbox = s.select(&n("INBOX")).unwrap();
    let mut m = msg(1);
    m.flags = Flags::SEEN;
    inbox.append(vec![m, msg(2), msg(3)]).unwrap();
    inbox.sync().unwrap();
    let mut trash = s.select(&n("Trash")).unwrap();
    let c = inbox.copy_to(&[3, 1], &mut trash).unwrap();
    assert_eq!(c.pairs, vec![(1, 1), (3, 2)]);
    assert_eq!(c.uidvalidity, trash.uid_validity());
    assert_eq!(trash.by_uid(1).unwrap().flags, Flags::SEEN);
    let (mv, expunged) = inbox.move_to(&[2], &mut trash).unwrap();
    assert_eq!(mv.pairs, vec![(2, 3)]);
    assert_eq!(expunged, vec![(2, 2)]);
    assert_eq!(
        trash.read_message(trash.by_uid(3).unwrap()).unwrap(),
        msg(2).data
    );
    check_invariants(&inbox, t.path());
    check_invariants(&trash, &t.path().join(".Trash"));
    assert_eq!(s.status(&n("Trash"), false).unwrap().messages, 3);
}

#[test]
fn create_delete_rename_list() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    s.create(&n("a/b/c")).unwrap();
    assert!(matches!(
        s.create(&n("a/b")),
        Err(StoreError::AlreadyExists(_))
    ));
    s.create(&n("a.b")).unwrap();
    let list = |p: &str| -> Vec<String> {
        s.list("", p)
            .unwrap()
            .iter()
            .map(|e| format!("{}{}", e.name, e.attributes().join("")))
            .collect()
    };
    assert_eq!(
        list("%"),
        [
            "INBOX\\HasNoChildren",
            "Sent\\HasNoChildren",
            "Trash\\HasNoChildren",
            "a\\HasChildren",
            "a.b\\HasNoChildren"
        ]
    );
    assert_eq!(list("a/%"), ["a/b\\HasChildren"]);
    assert_eq!(list("a/*"), ["a/b\\HasChildren", "a/b/c\\HasNoChildren"]);
    assert_eq!(list("inbox"), ["INBOX\\HasNoChildren"]);
    assert_eq!(s.list("a", "%").unwrap().len(), 1);

    // rfc3501 6.3.4: a mailbox with inferiors becomes \Noselect...
    s.delete(&n("a/b")).unwrap();
    assert_eq!(list("a/b"), ["a/b\\Noselect\\HasChildren"]);
    // ...and a \Noselect one with inferiors cannot be deleted.
    assert!(matches!(
        s.delete(&n("a/b")),
        Err(StoreError::HasChildren(_))
    ));
    assert!(matches!(
        s.delete(&n("INBOX")),
        Err(StoreError::CannotDeleteInbox)
    ));
    s.delete(&n("a/b/c")).unwrap();
    s.delete(&n("a/b")).unwrap();
    assert_eq!(list("a*"), ["a\\HasNoChildren", "a.b\\HasNoChildren"]);

    // RENAME moves inferiors and keeps messages and UIDVALIDITY.
    s.create(&n("x/y")).unwrap();
    let v = s.append(&n("x/y"), vec![msg(1)]).unwrap().uidvalidity;
    s.rename(&n("x"), &n("z/w")).unwrap();
    assert_eq!(list("z/*"), ["z/w\\HasChildren", "z/w/y\\HasNoChildren"]);
    let st = s.status(&n("z/w/y"), false).unwrap();
    assert_eq!((st.messages, st.uidvalidity), (1, v));
    assert!(matches!(
        s.rename(&n("z"), &n("z/q")),
        Err(StoreError::RenameIntoSelf)
    ));
    assert!(matches!(
        s.rename(&n("a"), &n("z")),
        Err(StoreError::AlreadyExists(_))
    ));

    // RENAME INBOX: messages move, INBOX stays, empty.
    s.append(&n("INBOX"), vec![msg(1), msg(2)]).unwrap();
    s.rename(&n("INBOX"), &n("old")).unwrap();
    assert_eq!(s.status(&n("INBOX"), false).unwrap().messages, 0);
    assert_eq!(s.status(&n("old"), false).unwrap().messages, 2);

    s.subscribe(&n("old")).unwrap();
    s.unsubscribe(&n("Sent")).unwrap();
    assert_eq!(s.subscriptions().unwrap(), vec![n("Trash"), n("old")]);
    assert!(s.subscribe(&n("nope")).is_err());
}

#[test]
fn list_wildcards() {
    assert!(list_matches("*", "a/b"));
    assert!(list_matches("%", "a"));
    assert!(!list_matches("%", "a/b"));
    assert!(list_matches("a/%/c", "a/b/c"));
    assert!(list_matches("a*c", "a/b/c"));
    assert!(!list_matches("a%c", "a/b/c"));
    assert_eq!(canonical_pattern("a/b", "%"), "a/b/%");
    assert_eq!(canonical_pattern("", "inbox/%"), "INBOX/%");
}

/// A crash can stop a write anywhere: the log ends at any byte of the
/// entries being written, with the message files in either place. Each
/// case must open cleanly, index every file, and keep the UIDs of messages
/// acknowledged before the crash, never reusing one.
#[test]
fn crash_at_every_log_offset() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("mail");
    let s = store(&root);
    let mut m = s.select(&n("INBOX")).unwrap();
    let log = root.join(index::LOG_FILE);
    let mut states = vec![(
        fs::read(&log).unwrap().len(),
        m.records().to_vec(),
        m.uid_next(),
    )];
    let snap = |i: usize| t.path().join(format!("state{i}"));
    copy_dir(&root, &snap(0));
    type Step = Box<dyn Fn(&mut Mailbox)>;
    let steps: Vec<Step> = vec![
        Box::new(|m| {
            m.append(vec![msg(1), msg(2), msg(3)]).unwrap();
        }),
        Box::new(|m| {
            m.store_flags(&[1, 3], FlagOperation::Add, Flags::DELETED, &[], None)
                .unwrap();
        }),
        Box::new(|m| {
            m.expunge(None).unwrap();
        }),
        Box::new(|m| {
            m.append(vec![msg(4)]).unwrap();
        }),
    ];
    for (i, step) in steps.iter().enumerate() {
        step(&mut m);
        copy_dir(&root, &snap(i + 1));
        states.push((
            fs::read(&log).unwrap().len(),
            m.records().to_vec(),
            m.uid_next(),
        ));
    }
    drop(m);
    let mut cases = 0;
    for i in 1..states.len() {
        let (before_len, before_records, before_uidnext) = &states[i - 1];
        let (after_len, _, _) = &states[i];
        for cut in *before_len..=*after_len {
            let case = t.path().join("case");
            let _ = fs::remove_dir_all(&case);
            copy_dir(&snap(i), &case);
            let f = fs::OpenOptions::new()
                .write(true)
                .open(case.join(index::LOG_FILE))
                .unwrap();
            f.set_len(cut as u64).unwrap();
            let cs = MailStore::open(&case, Rc::new(NoLocking), &[]).unwrap();
            let m = cs.select(&n("INBOX")).unwrap();
            check_invariants(&m, &case);
            for r in m.records() {
                match before_records.iter().find(|b| b.file == r.file) {
                    Some(b) => assert_eq!(b.uid, r.uid, "acknowledged UID changed"),
                    None => assert!(r.uid >= *before_uidnext, "UID {} reused", r.uid),
                }
            }
            // And the store stays usable.
            drop(m);
            if cut % 5 != 0 {
                continue;
            }
            let mut m = cs.select(&n("INBOX")).unwrap();
            let next = m.uid_next();
            assert_eq!(m.append(vec![msg(9)]).unwrap().uids, vec![next]);
        }
        cases += after_len - before_len + 1;
    }
    assert!(cases > 100);

    // Arbitrary truncation of the final log (not a crash, but damage):
    // still opens, every file indexed.
    let full = fs::read(snap(states.len() - 1).join(index::LOG_FILE)).unwrap();
    for cut in 0..full.len() {
        let case = t.path().join("damaged");
        let _ = fs::remove_dir_all(&case);
        copy_dir(&snap(states.len() - 1), &case);
        fs::write(case.join(index::LOG_FILE), &full[..cut]).unwrap();
        let cs = MailStore::open(&case, Rc::new(NoLocking), &[]).unwrap();
        let m = cs.select(&n("INBOX")).unwrap();
        check_invariants(&m, &case);
    }
}

#[test]
fn interrupted_append_temp_files() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut m = s.select(&n("INBOX")).unwrap();
    m.append(vec![msg(1)]).unwrap();
    // Crash before the commit: a temp file of ours, never logged.
    let stale = t.path().join("tmp/1.M1P1U7V1.imapd:2,");
    fs::write(&stale, b"Subject: half\r\n\r\n").unwrap();
    let hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hours_ago)
        .unwrap();
    // Crash after the commit, before the rename: move a committed file back.
    m.append(vec![msg(2)]).unwrap();
    let f = m.by_uid(2).unwrap().file.clone();
    fs::rename(t.path().join("cur").join(&f), t.path().join("tmp").join(&f)).unwrap();
    // An MTA's temp file is not ours to touch.
    fs::write(t.path().join("tmp/123.mta.host"), b"partial").unwrap();
    // Staged by APPENDs that had not taken the lock yet: one that died
    // long ago, one that may be running now.
    let staged = |name: &str| t.path().join("tmp/.stage").join(name);
    fs::write(staged("dead.staged"), b"Subject: dead\r\n\r\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(staged("dead.staged"))
        .unwrap()
        .set_modified(hours_ago)
        .unwrap();
    fs::write(staged("busy.staged"), b"Subject: busy\r\n\r\n").unwrap();
    drop(m);
    let m = s.select(&n("INBOX")).unwrap();
    assert_eq!(m.exists(), 2);
    assert_eq!(m.read_message(m.by_uid(2).unwrap()).unwrap(), msg(2).data);
    let list = |d: &str| -> Vec<_> {
        let mut v: Vec<_> = fs::read_dir(t.path().join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list("tmp"), [".stage", "123.mta.host"]);
    assert_eq!(list("tmp/.stage"), ["busy.staged"]);
    check_invariants(&m, t.path());
}

#[test]
fn corrupt_index_is_rebuilt_without_losing_mail() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut m = s.select(&n("INBOX")).unwrap();
    m.append(vec![msg(1), msg(2)]).unwrap();
    m.compact().unwrap();
    let v = m.uid_validity();
    drop(m);
    let snap = t.path().join(index::SNAPSHOT_FILE);
    let mut data = fs::read(&snap).unwrap();
    // In the last record (no expunged ranges follow it here, only the
    // checksum); damaged file names are another case (the commands that
    // need them fail, the files stay).
    let at = data.len() - 20;
    data[at] ^= 0xff;
    fs::write(&snap, &data).unwrap();
    let m = s.select(&n("INBOX")).unwrap();
    assert_eq!(m.exists(), 2);
    assert_ne!(
        m.uid_validity(),
        v,
        "UIDs were reassigned, so UIDVALIDITY must change"
    );
    check_invariants(&m, t.path());
}

#[test]
fn recent_goes_to_first_session_only() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    s.append(&n("INBOX"), vec![msg(1)]).unwrap();
    let st = s.status(&n("INBOX"), false).unwrap();
    assert_eq!((st.recent, st.unseen, st.uidnext), (1, 1, 2));
    // rfc3501 6.3.2: EXAMINE shows \Recent and leaves it in place.
    let e = s.examine(&n("INBOX")).unwrap();
    assert_eq!(e.recent_count(), 1);
    assert!(e.is_recent(1));
    let e = s.examine(&n("INBOX")).unwrap();
    assert_eq!(e.recent_count(), 1);
    let a = s.select(&n("INBOX")).unwrap();
    assert!(a.is_recent(1));
    let b = s.select(&n("INBOX")).unwrap();
    assert!(!b.is_recent(1));
    assert_eq!(s.status(&n("INBOX"), false).unwrap().recent, 0);
}

#[test]
fn examine_is_read_only() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    s.append(&n("INBOX"), vec![msg(1)]).unwrap();
    let mut e = s.examine(&n("INBOX")).unwrap();
    assert!(matches!(
        e.store_flags(&[1], FlagOperation::Add, Flags::SEEN, &[], None),
        Err(StoreError::ReadOnly)
    ));
}

/// Micro-benchmark over a 10,000-message INBOX. Run with
/// `cargo test -p guest --release bench_10k -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_10k() {
    use std::time::Instant;
    let t = tempfile::tempdir().unwrap();
    let s = MailStore::open(t.path(), Rc::new(NoLocking), &[]).unwrap();
    let mut m = s.select(&n("INBOX")).unwrap();
    let make = |i: usize| {
        let mut data = format!(
            "From: \"Sender {i}\" <s{i}@example.org>\r\nTo: a@example.net, \"B\" <b@example.net>\r\n\
Subject: =?utf-8?q?r=C3=A9sum=C3=A9?= number {i}\r\nDate: Thu, 06 Feb 2025 09:15:00 +0000\r\n\
Message-ID: <{i}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b{i}\"\r\n\r\n\
--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        );
        for l in 0..40 {
            data.push_str(&format!(
                "line {l} of message {i}: the quick brown fox jumps over the lazy dog\r\n"
            ));
        }
        data.push_str(&format!(
            "--b{i}\r\nContent-Type: text/html\r\n\r\n<p>html {i}</p>\r\n--b{i}--\r\n"
        ));
        AppendMessage {
            data: data.into_bytes(),
            flags: Flags::default(),
            keywords: vec![],
            internal_date: None,
        }
    };
    let start = Instant::now();
    for i in 0..1000 {
        m.append(vec![make(i)]).unwrap();
    }
    let single = start.elapsed();
    println!(
        "APPEND single, fsync'd: {:.0} msg/s",
        1000.0 / single.as_secs_f64()
    );
    for chunk in 0..90 {
        m.append((0..100).map(|j| make(1000 + chunk * 100 + j)).collect())
            .unwrap();
    }
    m.compact().unwrap();
    drop(m);

    let start = Instant::now();
    let m = s.select(&n("INBOX")).unwrap();
    println!(
        "SELECT (load index of {}): {:?}",
        m.exists(),
        start.elapsed()
    );
    let mut summaries = m.cache_reader();

    let start = Instant::now();
    let mut out = Vec::with_capacity(8 << 20);
    for (i, r) in m.records().iter().enumerate() {
        use std::io::Write as _;
        write!(
            out,
            "* {} FETCH (UID {} FLAGS ({}) RFC822.SIZE {} INTERNALDATE \"{}\" ENVELOPE ",
            i + 1,
            r.uid,
            r.flags.names().join(" "),
            r.size,
            r.internal_date
        )
        .unwrap();
        out.extend_from_slice(summaries.summary(r).envelope);
        out.extend_from_slice(b")\r\n");
    }
    println!(
        "FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE): {:?} ({} bytes)",
        start.elapsed(),
        out.len()
    );

    let start = Instant::now();
    let mut out = Vec::with_capacity(8 << 20);
    for (i, r) in m.records().iter().enumerate() {
        use std::io::Write as _;
        write!(out, "* {} FETCH (BODYSTRUCTURE ", i + 1).unwrap();
        out.extend_from_slice(summaries.summary(r).body_structure);
        out.extend_from_slice(b")\r\n");
    }
    println!(
        "FETCH 1:* BODYSTRUCTURE: {:?} ({} bytes)",
        start.elapsed(),
        out.len()
    );

    let start = Instant::now();
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    for r in m.records() {
        use std::io::Read as _;
        let mut f = m.open_message(r).unwrap();
        loop {
            let k = f.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            total += k as u64;
        }
    }
    let e = start.elapsed();
    println!(
        "BODY.PEEK[] 1:*: {total} bytes in {e:?} = {:.0} MB/s",
        total as f64 / e.as_secs_f64() / 1e6
    );

    let start = Instant::now();
    let needle = crate::mime::search::fold_case("HTML 9999");
    let hits = m
        .records()
        .iter()
        .filter(|r| crate::mime::search::text_contains(&m.read_message(r).unwrap(), &needle))
        .count();
    println!(
        "SEARCH TEXT \"html 9999\": {hits} hit(s) in {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    let hits = m
        .records()
        .iter()
        .filter(|r| summaries.summary(r).subject.contains("résumé number 77"))
        .count();
    println!(
        "SEARCH SUBJECT (index only): {hits} hit(s) in {:?}",
        start.elapsed()
    );
}

/// Once half of the summary cache is expunged messages' blobs, compaction
/// rewrites it; the compacting view, another open view (after it
/// reloads) and a fresh one all still read every summary right.
#[test]
fn compaction_rewrites_a_sparse_cache() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let long = |i: usize| AppendMessage {
        data: format!("Subject: {i} {}\r\n\r\nbody\r\n", "x".repeat(2000)).into_bytes(),
        flags: Flags::default(),
        keywords: Vec::new(),
        internal_date: Some((1_700_000_000, 0)),
    };
    let mut m = s.select(&n("INBOX")).unwrap();
    for chunk in 0..4 {
        m.append((0..100).map(|i| long(chunk * 100 + i)).collect())
            .unwrap();
    }
    let mut other = s.select(&n("INBOX")).unwrap();
    let cache = t.path().join(super::cache::CACHE_FILE);
    let before = fs::metadata(&cache).unwrap().len();
    assert!(before > 1 << 20, "cache {before} bytes");
    let doomed: Vec<u32> = m
        .records()
        .iter()
        .map(|r| r.uid)
        .filter(|u| u % 4 != 0)
        .collect();
    m.store_flags(&doomed, FlagOperation::Add, Flags::DELETED, &[], None)
        .unwrap();
    m.expunge(None).unwrap();
    m.compact().unwrap();
    let after = fs::metadata(&cache).unwrap().len();
    assert!(after * 3 < before, "cache {before} -> {after} bytes");
    let subject_of = |m: &Mailbox, r: &MessageRecord| {
        let mut reader = m.cache_reader();
        reader.summary(r).subject.to_string()
    };
    other.sync().unwrap();
    let fresh = s.select(&n("INBOX")).unwrap();
    for view in [&m, &other, &fresh] {
        assert_eq!(view.exists(), 100);
        for r in view.records() {
            let subject = subject_of(view, r);
            assert!(
                subject.starts_with(&format!("{} x", r.uid - 1)),
                "{subject:.20}"
            );
        }
    }
}

/// A mailbox whose snapshot an older guest wrote (the golden IX4 file,
/// with its message files in cur/): EXAMINE leaves the file as it is, the
/// first SELECT rewrites it in today's format, and the messages, UIDs and
/// UIDVALIDITY stay what they were.
#[test]
fn an_older_snapshot_is_rewritten_by_a_read_write_open() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let inbox = s.select(&n("INBOX")).unwrap();
    drop(inbox);
    let dir = t.path();
    for f in ["imapd.index", "imapd.log", "imapd.scan"] {
        let _ = fs::remove_file(dir.join(f));
    }
    fs::write(dir.join("imapd.index"), include_bytes!("golden/ix4.index")).unwrap();
    for uid in [1, 2, 4] {
        let name = format!("1700000{uid}.M{uid}P9.host,S=12U{uid}V1700000000.imapd:2,");
        // As long as the index says (RFC822.SIZE is the file's size).
        let mut data = format!("Subject: {uid}\r\n\r\n").into_bytes();
        data.resize(1000 + uid, b'x');
        fs::write(dir.join("cur").join(name), data).unwrap();
    }
    let head = || fs::read(dir.join("imapd.index")).unwrap()[..8].to_vec();
    let seen = |m: &Mailbox| -> Vec<(u32, String)> {
        m.records()
            .iter()
            .map(|r| (r.uid, r.file.to_string()))
            .collect()
    };
    let m = s.examine(&n("INBOX")).unwrap();
    assert_eq!(m.uid_validity(), 1_700_000_000);
    let before = seen(&m);
    assert_eq!(
        before.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
    drop(m);
    assert_eq!(head(), b"IMAPDIX4");
    let m = s.select(&n("INBOX")).unwrap();
    assert_eq!(head(), b"IMAPDIX5");
    assert_eq!(
        (m.uid_validity(), seen(&m)),
        (1_700_000_000, before.clone())
    );
    check_invariants(&m, dir);
    drop(m);
    let m = s.examine(&n("INBOX")).unwrap();
    assert_eq!((m.uid_validity(), seen(&m)), (1_700_000_000, before));
    assert_eq!(
        m.by_uid(2).unwrap().keywords,
        vec!["$Forwarded".to_string(), "Junk".to_string()]
    );
}

/// APPEND's group commit (`stage.rs`): an APPEND that holds the lock
/// commits the APPENDs staged behind it; each of those, once it has the
/// lock, finds its messages (in its order, with its flags) by their tag
/// and answers their UIDs. Intents that are damaged, stale or name files
/// that are gone are left to their own APPEND.
#[test]
fn appends_staged_behind_the_lock_are_committed_together() {
    let t = tempfile::tempdir().unwrap();
    let s = store(t.path());
    let mut a = s.select(&n("INBOX")).unwrap();
    let mut b = s.open_for_writing(&n("INBOX")).unwrap();
    let mut c = s.open_for_writing(&n("INBOX")).unwrap();
    a.append(vec![msg(0)]).unwrap();
    // b stages two messages (MULTIAPPEND, one flagged), c one; then a
    // appends and commits all three with its own.
    let mut flagged = msg(2);
    flagged.flags = Flags::FLAGGED;
    flagged.keywords = vec!["$Label1".into()];
    let staged_b = b.stage(&[msg(1), flagged]).unwrap();
    let staged_c = c.stage(&[msg(3)]).unwrap();
    assert_eq!(a.append(vec![msg(4)]).unwrap().uids, [2]);
    assert_eq!(a.exists(), 5);
    let got_b = b.commit_staged(staged_b).unwrap();
    let got_c = c.commit_staged(staged_c).unwrap();
    // In staging order where the clock tells them apart; a MULTIAPPEND's
    // UIDs in its order, together.
    let (x, y) = (got_b.uids[0], got_c.uids[0]);
    assert!(
        (got_b.uids == [3, 4] && y == 5) || (got_b.uids == [4, 5] && y == 3),
        "{got_b:?} {got_c:?}"
    );
    assert_eq!(got_b.uidvalidity, a.uid_validity());
    let body = |m: &Mailbox, uid: u32| m.read_message(m.by_uid(uid).unwrap()).unwrap();
    for (uid, i) in [(1, 0), (2, 4), (x, 1), (x + 1, 2), (y, 3)] {
        assert_eq!(body(&b, uid), msg(i).data, "UID {uid}");
    }
    let r = b.by_uid(x + 1).unwrap();
    assert_eq!(r.flags, Flags::FLAGGED);
    assert_eq!(r.keywords.as_slice(), ["$Label1"]);
    check_invariants(&a, t.path());
    let stage = t.path().join("tmp/.stage");
    assert_eq!(
        fs::read_dir(&stage).unwrap().count(),
        0,
        "nothing left staged"
    );

    // Left to their own APPEND: a damaged intent, one whose file is gone,
    // a stale one.
    let damaged = b.stage(&[msg(5)]).unwrap();
    let intent = |s: &mailbox::Staging| s.intent.clone();
    let mut bytes = fs::read(intent(&damaged)).unwrap();
    bytes[12] ^= 1;
    fs::write(intent(&damaged), &bytes).unwrap();
    let missing = c.stage(&[msg(6)]).unwrap();
    let file = t.path().join("tmp").join(&*missing.items[0].record.file);
    let kept = fs::read(&file).unwrap();
    fs::remove_file(&file).unwrap();
    let mut d = s.open_for_writing(&n("INBOX")).unwrap();
    let stale = d.stage(&[msg(7)]).unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(intent(&stale))
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    assert_eq!(a.append(vec![msg(8)]).unwrap().uids, [6]);
    assert_eq!(a.exists(), 6);
    // Each commits itself (c's file back in place).
    fs::write(&file, kept).unwrap();
    assert_eq!(b.commit_staged(damaged).unwrap().uids, [7]);
    assert_eq!(c.commit_staged(missing).unwrap().uids, [8]);
    assert_eq!(d.commit_staged(stale).unwrap().uids, [9]);
    for (uid, i) in [(6, 8), (7, 5), (8, 6), (9, 7)] {
        assert_eq!(body(&d, uid), msg(i).data, "UID {uid}");
    }
    check_invariants(&d, t.path());
    assert_eq!(
        fs::read_dir(&stage).unwrap().count(),
        0,
        "nothing left staged"
    );
}

/// The host's lock, as a test can have it: an exclusive flock on
/// `imapd.lock` in the mailbox's directory.
struct FileLocker {
    root: std::path::PathBuf,
    held: std::cell::RefCell<std::collections::HashMap<String, std::fs::File>>,
}

impl super::MailboxLocker for FileLocker {
    fn lock(&self, mailbox: &MailboxName) -> std::io::Result<()> {
        let dir = self.root.join(mailbox.dir_name());
        let f = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("imapd.lock"))
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        f.lock()?;
        self.held.borrow_mut().insert(mailbox.dir_name(), f);
        Ok(())
    }
    fn unlock(&self, mailbox: &MailboxName) {
        self.held.borrow_mut().remove(&mailbox.dir_name());
    }
}

/// A new user's first sessions at once, each in its own thread with the
/// host's kind of lock: one INBOX, every message in it, no error.
#[test]
fn first_sessions_at_once_share_one_inbox() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let root = root.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || -> Result<(), String> {
                    let locker = std::rc::Rc::new(FileLocker {
                        root: root.clone(),
                        held: Default::default(),
                    });
                    barrier.wait();
                    let store =
                        MailStore::open(&root, locker, &[]).map_err(|e| format!("open: {e}"))?;
                    store
                        .select(&MailboxName::inbox())
                        .map_err(|e| format!("select: {e}"))?;
                    store
                        .append(
                            &MailboxName::inbox(),
                            vec![super::AppendMessage {
                                data: format!("Subject: {i}\r\n\r\nx\r\n").into_bytes(),
                                flags: Default::default(),
                                keywords: Vec::new(),
                                internal_date: None,
                            }],
                        )
                        .map_err(|e| format!("append: {e}"))?;
                    store
                        .select(&MailboxName::inbox())
                        .map_err(|e| format!("select after: {e}"))?;
                    Ok(())
                })
            })
            .collect();
        let errors: Vec<String> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap().err())
            .collect();
        assert!(errors.is_empty(), "round {round}: {errors:?}");
        let store = MailStore::open(&root, std::rc::Rc::new(super::NoLocking), &[]).unwrap();
        assert_eq!(
            store.status(&MailboxName::inbox(), false).unwrap().messages,
            8
        );
    }
}

/// Sessions asking at once for a new mailbox's MAILBOXID all get the same
/// one (one of them makes the file; the others wait for its content).
#[test]
fn a_new_mailbox_id_asked_for_at_once_is_one_id() {
    for _ in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.path().to_path_buf();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    super::mailbox::mailbox_id(&dir).unwrap()
                })
            })
            .collect();
        let ids: std::collections::BTreeSet<String> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
    }
}
