//! QUOTA (rfc9208) through the session, with exact expected bytes.

use super::testing::*;
use crate::host::{QuotaLimits, QuotaUsage};
use crate::session::Session;

/// A logged-in session (as alice) whose host keeps `roots`.
fn with_roots(
    admin: bool,
    roots: &[(&str, QuotaLimits)],
) -> (Session, tempfile::TempDir, FakeHost) {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost {
        admin,
        ..FakeHost::default()
    };
    for (user, limits) in roots {
        host.quotas.borrow_mut().insert(
            user.to_string(),
            QuotaUsage {
                limits: *limits,
                ..QuotaUsage::default()
            },
        );
    }
    let s = session_on(&dir, &host);
    (s, dir, host)
}

fn limits(storage: Option<u64>, messages: Option<u64>) -> QuotaLimits {
    QuotaLimits { storage, messages }
}

/// APPEND of a message of exactly `size` octets.
fn append(s: &mut Session, mailbox: &str, size: usize) -> String {
    let head = "Subject: q\r\n\r\n";
    let body = "x".repeat(size - head.len());
    run(
        s,
        &format!("a APPEND {mailbox} {{{size}+}}\r\n{head}{body}\r\n"),
    )
    .0
}

#[test]
fn a_user_without_a_root_has_none() {
    let (mut s, _dir, _) = with_roots(false, &[]);
    assert_eq!(
        run(&mut s, "a GETQUOTAROOT INBOX\r\n").0,
        "* QUOTAROOT INBOX\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "b GETQUOTA INBOX\r\n").0,
        "b NO [NONEXISTENT] Quota root does not exist\r\n"
    );
    assert!(append(&mut s, "INBOX", 5000).contains("OK [APPENDUID"));
}

#[test]
fn limits_are_kept_to_the_octet_and_the_message() {
    let (mut s, _dir, _) = with_roots(false, &[("alice", limits(Some(1), Some(3)))]);
    // rfc9208 4.1.2: the mailbox need not exist.
    assert_eq!(
        run(&mut s, "a GETQUOTAROOT Nowhere\r\n").0,
        "* QUOTAROOT Nowhere INBOX\r\n* QUOTA INBOX (STORAGE 0 1 MESSAGE 0 3)\r\na OK Completed\r\n"
    );
    for _ in 0..2 {
        assert!(append(&mut s, "INBOX", 300).contains("OK [APPENDUID"));
    }
    // 600 + 500 octets would pass 1 KiB: nothing is stored.
    assert_eq!(
        append(&mut s, "INBOX", 500),
        "a NO [OVERQUOTA] Over quota\r\n"
    );
    // Reaching the limit exactly is allowed, as in Cyrus.
    assert!(append(&mut s, "INBOX", 424).contains("OK [APPENDUID"));
    assert_eq!(
        run(&mut s, "b GETQUOTA INBOX\r\n").0,
        "* QUOTA INBOX (STORAGE 1 1 MESSAGE 3 3)\r\nb OK Completed\r\n"
    );
    // The fourth message is one too many, however small.
    assert_eq!(
        append(&mut s, "INBOX", 20),
        "a NO [OVERQUOTA] Over quota\r\n"
    );
    assert_eq!(
        run(&mut s, "d STATUS INBOX (MESSAGES SIZE)\r\n").0,
        "* STATUS INBOX (MESSAGES 3 SIZE 1024)\r\nd OK Completed\r\n"
    );
}

#[test]
fn copy_is_refused_past_the_quota_and_move_is_not() {
    let (mut s, _dir, host) = with_roots(false, &[("alice", limits(None, Some(2)))]);
    assert!(append(&mut s, "INBOX", 100).contains("OK [APPENDUID"));
    assert!(append(&mut s, "INBOX", 100).contains("OK [APPENDUID"));
    run(&mut s, "a CREATE Box\r\n");
    run(&mut s, "b SELECT INBOX\r\n");
    assert_eq!(
        run(&mut s, "c COPY 1 Box\r\n").0,
        "c NO [OVERQUOTA] Over quota\r\n"
    );
    assert!(run(&mut s, "d MOVE 1 Box\r\n").0.contains("d OK"));
    assert_eq!(
        run(&mut s, "e STATUS Box (MESSAGES)\r\n").0,
        "* STATUS Box (MESSAGES 1)\r\ne OK Completed\r\n"
    );
    // Under Cyrus's -q the limits are shown but not kept.
    let host = FakeHost {
        quota_not_enforced: true,
        ..host
    };
    let mut s = session_on(&_dir, &host);
    run(&mut s, "f SELECT INBOX\r\n");
    assert!(run(&mut s, "g COPY 1 Box\r\n").0.contains("g OK"));
    assert_eq!(
        run(&mut s, "h GETQUOTA INBOX\r\n").0,
        "* QUOTA INBOX (MESSAGE 3 2)\r\nh OK Completed\r\n"
    );
}

#[test]
fn select_warns_as_cyrus_does() {
    let (mut s, _dir, host) = with_roots(false, &[("alice", limits(Some(1), Some(10)))]);
    assert!(append(&mut s, "INBOX", 1000).contains("OK [APPENDUID"));
    let (out, _) = run(&mut s, "a SELECT INBOX\r\n");
    assert!(
        out.contains("* NO [ALERT] Mailbox is at 97% of STORAGE quota\r\n* 1 EXISTS\r\n"),
        "{out}"
    );
    assert!(!out.contains("MESSAGE quota"), "{out}");
    // EXAMINE does not warn.
    assert!(!run(&mut s, "b EXAMINE INBOX\r\n").0.contains("ALERT"));
    host.quotas.borrow_mut().get_mut("alice").unwrap().limits = limits(Some(0), Some(1));
    let (out, _) = run(&mut s, "c SELECT INBOX\r\n");
    assert!(
        out.contains("* NO [ALERT] Mailbox is over STORAGE quota\r\n"),
        "{out}"
    );
    assert!(
        out.contains("* NO [ALERT] Mailbox is at 100% of MESSAGE quota\r\n"),
        "{out}"
    );
    host.quotas.borrow_mut().get_mut("alice").unwrap().limits = limits(None, Some(1));
    assert!(append(&mut s, "INBOX", 20).contains("OVERQUOTA"));
}

#[test]
fn setquota_is_for_administrators() {
    let (mut s, _dir, _) = with_roots(false, &[("alice", limits(Some(10), None))]);
    assert_eq!(
        run(&mut s, "a SETQUOTA INBOX (STORAGE 100)\r\n").0,
        "a NO [NOPERM] Permission denied\r\n"
    );
    assert_eq!(
        run(&mut s, "b GETQUOTA user/bob\r\n").0,
        "b NO [NOPERM] Permission denied\r\n"
    );

    let (mut admin, _dir, host) = with_roots(true, &[]);
    assert_eq!(
        run(
            &mut admin,
            "c SETQUOTA user/bob (STORAGE 100 message 5)\r\n"
        )
        .0,
        "* QUOTA user/bob (STORAGE 0 100 MESSAGE 0 5)\r\nc OK Completed\r\n"
    );
    // rfc9208 4.1.3: limits not given are removed; -1 is none (Cyrus).
    assert_eq!(
        run(&mut admin, "d SETQUOTA user/bob (MESSAGE -1 STORAGE 7)\r\n").0,
        "* QUOTA user/bob (STORAGE 0 7)\r\nd OK Completed\r\n"
    );
    assert_eq!(
        host.quotas.borrow().get("bob").unwrap().limits,
        limits(Some(7), None)
    );
    assert_eq!(
        run(&mut admin, "e SETQUOTA user/bob ()\r\n").0,
        "* QUOTA user/bob ()\r\ne OK Completed\r\n"
    );
    assert_eq!(
        run(&mut admin, "f GETQUOTA user/bob\r\n").0,
        "* QUOTA user/bob ()\r\nf OK Completed\r\n"
    );
    assert_eq!(
        run(&mut admin, "g GETQUOTAROOT user/bob/Sent\r\n").0,
        "* QUOTAROOT user/bob/Sent user/bob\r\n* QUOTA user/bob ()\r\ng OK Completed\r\n"
    );
    assert_eq!(
        run(&mut admin, "h GETQUOTA user/carol\r\n").0,
        "h NO [NONEXISTENT] Quota root does not exist\r\n"
    );
    assert_eq!(
        run(&mut admin, "i SETQUOTA user/bob (FOLDERS 3)\r\n").0,
        "i NO [CANNOT] Unsupported quota resource\r\n"
    );
    for bad in ["(STORAGE)", "(STORAGE -2)", "(STORAGE x)", "STORAGE 1"] {
        let (out, _) = run(&mut admin, &format!("j SETQUOTA user/bob {bad}\r\n"));
        assert!(out.starts_with("j BAD "), "{bad}: {out}");
    }
    // The admin's own root is named INBOX or user/alice.
    assert_eq!(
        run(&mut admin, "k SETQUOTA user/alice (MESSAGE 9)\r\n").0,
        "* QUOTA user/alice (MESSAGE 0 9)\r\nk OK Completed\r\n"
    );
    assert_eq!(
        run(&mut admin, "l GETQUOTAROOT INBOX\r\n").0,
        "* QUOTAROOT INBOX INBOX\r\n* QUOTA INBOX (MESSAGE 0 9)\r\nl OK Completed\r\n"
    );
}

#[test]
fn status_deleted_storage_is_what_expunge_frees() {
    let (mut s, _dir, _) = with_roots(false, &[]);
    for size in [2048, 1500, 100] {
        assert!(append(&mut s, "INBOX", size).contains("OK [APPENDUID"));
    }
    run(&mut s, "a SELECT INBOX\r\n");
    run(&mut s, "b STORE 1:2 +FLAGS (\\Deleted)\r\n");
    assert_eq!(
        run(&mut s, "c STATUS INBOX (DELETED DELETED-STORAGE)\r\n").0,
        "* STATUS INBOX (DELETED 2 DELETED-STORAGE 3)\r\nc OK Completed\r\n"
    );
}
