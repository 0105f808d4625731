//! GETMETADATA and SETMETADATA (rfc5464) through the session, with exact
//! expected bytes.

use super::testing::*;
use crate::session::Session;

fn ok(s: &mut Session, line: &str) {
    let (out, _) = run(s, line);
    let tag = line.split(' ').next().unwrap_or_default();
    let last = out.trim_end().rsplit("\r\n").next().unwrap_or_default();
    assert!(
        last.starts_with(&format!("{tag} OK ")),
        "{line:?} → {out:?}"
    );
}

/// A logged-in session over a fresh tree, its host's user an admin or not.
fn with_host(admin: bool) -> (Session, tempfile::TempDir, FakeHost) {
    let dir = tempfile::tempdir().unwrap();
    let host = FakeHost {
        admin,
        ..FakeHost::default()
    };
    let s = session_on(&dir, &host);
    (s, dir, host)
}

#[test]
fn entries_are_set_read_and_removed() {
    let (mut s, _dir) = store_session();
    // rfc5464 4.3's example: a multi-line literal value.
    ok(
        &mut s,
        "a SETMETADATA INBOX (/private/comment {35+}\r\nMy new comment across\r\ntwo lines.\r\n /Shared/Comment \"Its sunny outside!\")\r\n",
    );
    assert_eq!(
        run(
            &mut s,
            "b GETMETADATA INBOX (/private/comment /shared/comment /shared/none)\r\n"
        )
        .0,
        "* METADATA INBOX (/private/comment {35}\r\nMy new comment across\r\ntwo lines.\r\n \
         /shared/comment \"Its sunny outside!\" /shared/none NIL)\r\nb OK Completed\r\n"
    );
    // One entry, without a list; names are case-insensitive.
    assert_eq!(
        run(&mut s, "c GETMETADATA \"INBOX\" /SHARED/comment\r\n").0,
        "* METADATA INBOX (/shared/comment \"Its sunny outside!\")\r\nc OK Completed\r\n"
    );
    ok(&mut s, "d SETMETADATA INBOX (/shared/comment NIL)\r\n");
    assert_eq!(
        run(&mut s, "e GETMETADATA INBOX /shared/comment\r\n").0,
        "* METADATA INBOX (/shared/comment NIL)\r\ne OK Completed\r\n"
    );
    // A value holding NUL goes back as literal8.
    ok(
        &mut s,
        "f SETMETADATA INBOX (/private/vendor/x/bin ~{3+}\r\na\0b)\r\n",
    );
    assert_eq!(
        run(&mut s, "g GETMETADATA INBOX /private/vendor/x/bin\r\n").0,
        "* METADATA INBOX (/private/vendor/x/bin ~{3}\r\na\0b)\r\ng OK Completed\r\n"
    );
}

#[test]
fn depth_and_maxsize_choose_what_is_returned() {
    let (mut s, _dir) = store_session();
    ok(
        &mut s,
        "a SETMETADATA INBOX (/private/filters/values/small \"SMALLER 5000\" /private/filters/values/boss \"FROM \\\"boss@example.com\\\"\" /private/filters/values/deep/x \"3\")\r\n",
    );
    // rfc5464 4.2.2's example: DEPTH 1 leaves the grandchild out.
    assert_eq!(
        run(
            &mut s,
            "b GETMETADATA (DEPTH 1) INBOX (/private/filters/values)\r\n"
        )
        .0,
        "* METADATA INBOX (/private/filters/values/boss \"FROM \\\"boss@example.com\\\"\" \
         /private/filters/values/small \"SMALLER 5000\")\r\nb OK Completed\r\n"
    );
    assert_eq!(
        run(
            &mut s,
            "c GETMETADATA (DEPTH infinity) INBOX /private/filters\r\n"
        )
        .0,
        "* METADATA INBOX (/private/filters/values/boss \"FROM \\\"boss@example.com\\\"\" \
         /private/filters/values/deep/x \"3\" /private/filters/values/small \"SMALLER 5000\")\r\n\
         c OK Completed\r\n"
    );
    // Cyrus's wildcards, as cyradm's `info` sends them: no NIL.
    assert_eq!(
        run(&mut s, "w GETMETADATA INBOX (\"/private/filters/%/%\")\r\n").0,
        "* METADATA INBOX (/private/filters/values/boss \"FROM \\\"boss@example.com\\\"\" \
         /private/filters/values/small \"SMALLER 5000\")\r\nw OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "x GETMETADATA INBOX (\"/shared/comm*\")\r\n").0,
        "x OK Completed\r\n"
    );
    // rfc5464 4.2.1: longer values are left out and the longest is named.
    // The options may also follow the mailbox, as the drafts had them.
    assert_eq!(
        run(
            &mut s,
            "d GETMETADATA INBOX (MAXSIZE 5 DEPTH infinity) (/private)\r\n"
        )
        .0,
        "* METADATA INBOX (/private/filters/values/deep/x \"3\")\r\n\
         d OK [METADATA LONGENTRIES 23] Completed\r\n"
    );
    assert_eq!(
        run(
            &mut s,
            "e GETMETADATA (MAXSIZE 1) INBOX /private/filters/values/small\r\n"
        )
        .0,
        "e OK [METADATA LONGENTRIES 12] Completed\r\n"
    );
}

#[test]
fn bad_names_values_and_mailboxes_are_refused_and_nothing_is_set() {
    let (mut s, _dir) = store_session();
    for (line, reply) in [
        (
            "a GETMETADATA INBOX /comment\r\n",
            "a BAD Entry name must begin with /private or /shared in Getmetadata\r\n",
        ),
        (
            "a SETMETADATA INBOX (\"/shared/*\" \"x\")\r\n",
            "a BAD Entry names may not hold '*' or '%' in Setmetadata\r\n",
        ),
        (
            "a SETMETADATA INBOX (/shared \"x\")\r\n",
            "a BAD Entry name has too few components in Setmetadata\r\n",
        ),
        (
            "a SETMETADATA INBOX (/shared/vendor/cmu \"x\")\r\n",
            "a BAD Entry name has too few components in Setmetadata\r\n",
        ),
        (
            "a GETMETADATA (DEPTH 2) INBOX /shared/comment\r\n",
            "a BAD Invalid DEPTH value in Getmetadata\r\n",
        ),
        (
            "a GETMETADATA Nowhere /shared/comment\r\n",
            "a NO [NONEXISTENT] Mailbox does not exist\r\n",
        ),
        (
            "a SETMETADATA Nowhere (/shared/comment \"x\")\r\n",
            "a NO [NONEXISTENT] Mailbox does not exist\r\n",
        ),
        (
            "a SETMETADATA INBOX (/shared/comment \"x\" /shared/vendor/cmu/cyrus-imapd/size \"1\")\r\n",
            "a NO [NOPERM] Permission denied\r\n",
        ),
    ] {
        assert_eq!(run(&mut s, line).0, reply, "{line:?}");
    }
    let big = "x".repeat(65537);
    assert_eq!(
        run(
            &mut s,
            &format!(
                "b SETMETADATA INBOX (/shared/comment \"x\" /private/comment {{65537+}}\r\n{big})\r\n"
            )
        )
        .0,
        "b NO [METADATA MAXSIZE 65536] Annotation value too large\r\n"
    );
    // 250 entries, then one more is too many; the command changes nothing.
    let many: Vec<String> = (0..250)
        .map(|i| format!("/private/n/{i} \"{i}\""))
        .collect();
    ok(
        &mut s,
        &format!("c SETMETADATA INBOX ({})\r\n", many.join(" ")),
    );
    assert_eq!(
        run(
            &mut s,
            "d SETMETADATA INBOX (/private/n/0 \"changed\" /private/one-more \"x\")\r\n"
        )
        .0,
        "d NO [METADATA TOOMANY] Too many annotations\r\n"
    );
    assert_eq!(
        run(
            &mut s,
            "e GETMETADATA INBOX (/private/n/0 /private/one-more /shared/comment)\r\n"
        )
        .0,
        "* METADATA INBOX (/private/n/0 \"0\" /private/one-more NIL /shared/comment NIL)\r\n\
         e OK Completed\r\n"
    );
    // Replacing and removing stay possible at the limit.
    ok(
        &mut s,
        "f SETMETADATA INBOX (/private/n/0 NIL /private/one-more \"x\")\r\n",
    );
}

#[test]
fn entries_follow_rename_go_with_delete_and_stay_on_inbox() {
    let (mut s, _dir) = store_session();
    ok(&mut s, "a CREATE Work/Old\r\n");
    ok(
        &mut s,
        "b SETMETADATA Work (/shared/comment \"parent\")\r\n",
    );
    ok(
        &mut s,
        "c SETMETADATA Work/Old (/shared/comment \"child\")\r\n",
    );
    ok(&mut s, "d RENAME Work Job\r\n");
    assert_eq!(
        run(&mut s, "e GETMETADATA Job/Old /shared/comment\r\n").0,
        "* METADATA Job/Old (/shared/comment \"child\")\r\ne OK Completed\r\n"
    );
    // DELETE of a mailbox with inferiors keeps the name as \Noselect but
    // not its annotations (rfc5464 4.1).
    ok(&mut s, "f DELETE Job\r\n");
    assert_eq!(
        run(&mut s, "g GETMETADATA Job /shared/comment\r\n").0,
        "* METADATA Job (/shared/comment NIL)\r\ng OK Completed\r\n"
    );
    // A \Noselect name can be annotated (rfc5464 4.1).
    ok(&mut s, "h SETMETADATA Job (/shared/comment \"kept\")\r\n");
    ok(&mut s, "i CREATE Job\r\n");
    ok(&mut s, "j DELETE Job/Old\r\n");
    ok(&mut s, "k DELETE Job\r\n");
    ok(&mut s, "l CREATE Job\r\n");
    assert_eq!(
        run(&mut s, "m GETMETADATA Job /shared/comment\r\n").0,
        "* METADATA Job (/shared/comment NIL)\r\nm OK Completed\r\n"
    );
    // Renaming INBOX copies its annotations and INBOX keeps them.
    ok(&mut s, "n SETMETADATA INBOX (/private/comment \"in\")\r\n");
    ok(&mut s, "o RENAME INBOX Archive\r\n");
    for name in ["INBOX", "Archive"] {
        assert_eq!(
            run(
                &mut s,
                &format!("p GETMETADATA {name} /private/comment\r\n")
            )
            .0,
            format!("* METADATA {name} (/private/comment \"in\")\r\np OK Completed\r\n")
        );
    }
}

#[test]
fn specialuse_is_the_mailboxs_special_use() {
    let (mut s, _dir) = store_session();
    ok(&mut s, "a CREATE Sent\r\n");
    ok(&mut s, "a CREATE Other\r\n");
    ok(
        &mut s,
        "b SETMETADATA Sent (/private/specialuse \"\\\\Sent\")\r\n",
    );
    assert_eq!(
        run(&mut s, "c LIST \"\" Sent\r\n").0,
        "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\nc OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "d GETMETADATA Sent /private/specialuse\r\n").0,
        "* METADATA Sent (/private/specialuse \"\\\\Sent\")\r\nd OK Completed\r\n"
    );
    assert_eq!(
        run(
            &mut s,
            "e SETMETADATA Other (/private/specialuse \"\\\\Sent\")\r\n"
        )
        .0,
        "e NO [USEATTR] SPECIAL-USE flag conflict\r\n"
    );
    assert_eq!(
        run(
            &mut s,
            "f SETMETADATA Other (/private/comment \"x\" /private/specialuse \"\\\\Bogus\")\r\n"
        )
        .0,
        "f NO [USEATTR] Invalid annotation entry\r\n"
    );
    assert_eq!(
        run(&mut s, "g GETMETADATA Other /private/comment\r\n").0,
        "* METADATA Other (/private/comment NIL)\r\ng OK Completed\r\n"
    );
    ok(&mut s, "h SETMETADATA Sent (/private/specialuse NIL)\r\n");
    assert_eq!(
        run(&mut s, "i LIST \"\" Sent\r\n").0,
        "* LIST (\\HasNoChildren) \"/\" Sent\r\ni OK Completed\r\n"
    );
}

#[test]
fn cyrus_computed_entries_describe_the_mailbox() {
    let (mut s, dir) = with_inbox(settings(), &["Subject: a\r\n\r\nhello\r\n"]);
    let id = crate::store::mailbox::mailbox_id(dir.path()).unwrap();
    let (out, _) = run(
        &mut s,
        "a GETMETADATA (DEPTH infinity) INBOX /shared/vendor/cmu/cyrus-imapd\r\n",
    );
    let prefix = "* METADATA INBOX (/shared/vendor/cmu/cyrus-imapd/lastupdate \"";
    assert!(out.starts_with(prefix), "{out}");
    // " 4-Dec-2026 20:05:12 +0000"
    let date = &out[prefix.len()..prefix.len() + 26];
    assert!(
        date.ends_with(" +0000") && date.as_bytes()[2] == b'-',
        "{date}"
    );
    assert_eq!(
        &out[prefix.len() + 26..],
        format!(
            "\" /shared/vendor/cmu/cyrus-imapd/partition \"default\" \
             /shared/vendor/cmu/cyrus-imapd/size \"21\" \
             /shared/vendor/cmu/cyrus-imapd/uniqueid \"{id}\")\r\na OK Completed\r\n"
        )
    );
}

#[test]
fn server_entries_shared_are_the_hosts_and_private_are_the_users() {
    let (mut s, _dir, host) = with_host(false);
    host.server_metadata
        .borrow_mut()
        .insert("/shared/admin".into(), b"mailto:root@example.org".to_vec());
    // rfc5464 3.3: a server restricting server annotations answers NO.
    assert_eq!(
        run(&mut s, "a SETMETADATA \"\" (/shared/comment \"hi\")\r\n").0,
        "a NO [NOPERM] Permission denied\r\n"
    );
    ok(&mut s, "b SETMETADATA \"\" (/private/comment \"mine\")\r\n");
    assert_eq!(
        run(
            &mut s,
            "c GETMETADATA \"\" (/shared/admin /shared/comment /private/comment)\r\n"
        )
        .0,
        "* METADATA \"\" (/shared/admin \"mailto:root@example.org\" /shared/comment NIL \
         /private/comment \"mine\")\r\nc OK Completed\r\n"
    );
    // The server's entries are not INBOX's.
    assert_eq!(
        run(&mut s, "d GETMETADATA INBOX /private/comment\r\n").0,
        "* METADATA INBOX (/private/comment NIL)\r\nd OK Completed\r\n"
    );

    let (mut admin, _dir, host) = with_host(true);
    ok(
        &mut admin,
        "e SETMETADATA \"\" (/shared/comment \"from the admin\" /private/comment \"x\")\r\n",
    );
    assert_eq!(
        host.server_metadata.borrow().get("/shared/comment"),
        Some(&b"from the admin".to_vec())
    );
    assert_eq!(
        run(
            &mut admin,
            "f GETMETADATA \"\" (DEPTH infinity) /shared\r\n"
        )
        .0,
        "* METADATA \"\" (/shared/comment \"from the admin\")\r\nf OK Completed\r\n"
    );
}
