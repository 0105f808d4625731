//! A full disk: the spool on a 1 MiB tmpfs (mount(2), so root; skipped
//! with a message elsewhere). APPEND and COPY that do not fit get NO (never
//! BAD, BYE or a dead session), nothing acknowledged before is lost or
//! damaged, and the mailbox opens afterwards, in this session and the next.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{server, start_prepared};
use crate::store_util::*;

/// A tmpfs mounted over a directory, unmounted when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Option<Mounted> {
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .ok()?;
    st.success().then(|| Mounted(dir.to_path_buf()))
}

/// About `size` bytes, different for every `i`.
fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!("Subject: full {i}\r\nMessage-ID: <full{i}@test>\r\n\r\n").into_bytes();
    let mut x = i as u64 * 7919 + 1;
    while m.len() < size {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        m.extend(format!("{:016x} line of message {i}\r\n", x).bytes());
    }
    m
}

#[test]
fn disk_full_append_and_copy_get_no_and_lose_nothing() {
    let data = server().no_tls().conf("allowplaintext: yes").prepare();
    let Some(_mounted) = mount_tmpfs(&data.spool(), "1m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs (not root?)");
        return;
    };
    let s = start_prepared(data, false);
    let mut c = Session::new(&s);
    c.ok("CREATE Other");
    let mut acked: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let msg = message(i, 20_000);
        let (u, t) = c.append_full("INBOX", None, None, &msg);
        if t.starts_with("OK") {
            acked.push((appenduid(&t).expect("APPENDUID").1, msg));
            continue;
        }
        assert!(t.starts_with("NO"), "APPEND on a full disk: {t} {u:?}");
        refused = Some(t);
        break;
    }
    let refused = refused.expect("a 1 MiB spool took 4 MB of mail");
    assert!(acked.len() > 5, "only {} messages fit", acked.len());
    eprintln!("{} messages stored, then: {refused}", acked.len());
    // More of the same, and a COPY of everything: NO or OK, never worse.
    for i in 0..3 {
        let (_, t) = c.append_full("INBOX", None, None, &message(1000 + i, 20_000));
        assert!(t.starts_with("NO"), "APPEND on a full disk: {t}");
    }
    c.select("INBOX");
    let (u, t) = c.run("UID COPY 1:* Other");
    assert!(
        t.starts_with("OK") || t.starts_with("NO"),
        "COPY: {t} {u:?}"
    );
    let copied = if t.starts_with("OK") {
        copyuid(std::iter::once(&t)).map_or(0, |c| c.1.len())
    } else {
        0
    };
    // Everything acknowledged is there, byte for byte, in this session...
    let check = |c: &mut Session| {
        let (u, _) = c.select("INBOX");
        assert_eq!(count(&u, "EXISTS"), Some(acked.len() as u32), "{u:?}");
        let fetched = c.fetch("UID FETCH 1:* (UID BODY.PEEK[] ENVELOPE)");
        assert_eq!(fetched.len(), acked.len());
        for (f, (uid, msg)) in fetched.iter().zip(&acked) {
            assert_eq!(f.uid(), *uid);
            assert!(f.bytes("BODY[]") == *msg, "UID {uid} differs");
        }
    };
    check(&mut c);
    // ... and in a new one; the other mailbox opens too.
    c.logout();
    let mut c = Session::new(&s);
    check(&mut c);
    let (u, _) = c.select("Other");
    assert_eq!(count(&u, "EXISTS"), Some(copied as u32), "{u:?}");
    // Room again (expunging frees the files): APPEND works.
    c.select("INBOX");
    c.ok("STORE 1:5 +FLAGS.SILENT (\\Deleted)");
    let (_, t) = c.run("EXPUNGE");
    assert!(t.starts_with("OK") || t.starts_with("NO"), "EXPUNGE: {t}");
    let (_, t) = c.run("CLOSE");
    assert!(t.starts_with("OK"), "CLOSE: {t}");
    let uid = c.append("INBOX", &message(2000, 2_000));
    assert!(uid > acked.last().unwrap().0);
}

/// A read-only partition (remounted `ro` under a running server, as an
/// operator or a failing disk does): sessions log in and read everything;
/// every change gets NO (never BAD, BYE or a dead session); once it is
/// writable again, the mail is all there and changes work.
#[test]
fn read_only_partition_reads_everything_and_refuses_changes() {
    let data = server().no_tls().conf("allowplaintext: yes").prepare();
    let Some(mounted) = mount_tmpfs(&data.spool(), "16m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs (not root?)");
        return;
    };
    let s = start_prepared(data, false);
    let mut c = Session::new(&s);
    c.ok("CREATE Other");
    let msgs: Vec<Vec<u8>> = (0..5).map(|i| message(i, 3_000)).collect();
    let uids: Vec<u32> = msgs.iter().map(|m| c.append("INBOX", m)).collect();
    c.select("INBOX");
    c.ok("STORE 1 +FLAGS (\\Flagged)");
    c.logout();
    let remount = |how: &str| {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{how}")])
            .arg(&mounted.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount {how}");
    };
    remount("ro");
    let mut c = Session::new(&s);
    let (u, t) = c.select("INBOX");
    assert!(
        t.starts_with("OK"),
        "SELECT on a read-only spool: {t} {u:?}"
    );
    assert_eq!(count(&u, "EXISTS"), Some(5), "{u:?}");
    let fetched = c.fetch("UID FETCH 1:* (UID FLAGS BODY.PEEK[] ENVELOPE)");
    assert_eq!(fetched.len(), 5);
    for (f, (uid, msg)) in fetched.iter().zip(uids.iter().zip(&msgs)) {
        assert_eq!(f.uid(), *uid);
        assert!(f.bytes("BODY[]") == *msg, "UID {uid} differs");
    }
    assert!(fetched[0].has_flag("\\Flagged"));
    assert_eq!(c.search("SEARCH SUBJECT \"full 3\""), vec![4]);
    let (u, t) = c.run("LIST \"\" *");
    assert!(t.starts_with("OK") && u.len() == 2, "LIST: {t} {u:?}");
    let (_, t) = c.run("STATUS Other (MESSAGES UIDNEXT)");
    assert!(t.starts_with("OK"), "STATUS: {t}");
    // Every change: NO, and the session goes on.
    for cmd in [
        "STORE 2 +FLAGS (\\Seen)",
        "UID COPY 1:* Other",
        "UID MOVE 1 Other",
        "CREATE New",
        "RENAME Other Renamed",
        "DELETE Other",
    ] {
        let (u, t) = c.run(cmd);
        assert!(t.starts_with("NO"), "{cmd} on a read-only spool: {t} {u:?}");
    }
    let (_, t) = c.append_full("INBOX", None, None, &message(9, 1_000));
    assert!(t.starts_with("NO"), "APPEND on a read-only spool: {t}");
    let (_, t) = c.run("NOOP");
    assert!(t.starts_with("OK"), "{t}");
    c.logout();
    // Writable again: nothing lost, changes work.
    remount("rw");
    let mut c = Session::new(&s);
    let (u, _) = c.select("INBOX");
    assert_eq!(count(&u, "EXISTS"), Some(5), "{u:?}");
    c.ok("STORE 2 +FLAGS (\\Seen)");
    let uid = c.append("INBOX", &message(10, 1_000));
    assert!(uid > *uids.last().unwrap());
    let log = s.log();
    assert!(!log.contains("panicked"), "server log:\n{log}");
}
