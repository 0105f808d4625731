//! METADATA (rfc5464) against the real binary: server annotations are
//! the host's, set by `admins` only (the host checks, whatever the guest
//! asks), read by every user; cyradm (Debian `cyrus-admin`) sets and reads
//! mailbox and server annotations as it does against Cyrus.

use crate::harness::{TestServer, cyradm, hostile_guest, server};
use crate::sandbox::probe;

fn plaintext_server() -> TestServer {
    server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("admins: plain")
        .start()
}

#[test]
fn server_annotations_are_set_by_admins_and_read_by_everyone() {
    let s = plaintext_server();
    let mut admin = s.connect();
    admin.line();
    admin.login("plain", "secret");
    let (_, t) = admin.cmd(
        "a",
        "SETMETADATA \"\" (/shared/comment \"Hello\" /shared/admin \"mailto:postmaster@test.example\" /shared/motd \"Welcome aboard\")",
    );
    assert_eq!(t, "a OK Completed");
    // /shared/motd is msg/motd, as in Cyrus.
    assert_eq!(
        std::fs::read_to_string(s.data.config_dir().join("msg/motd")).unwrap(),
        "Welcome aboard\n"
    );

    let mut user = s.connect();
    user.line();
    user.login("sha512", "secret");
    let (u, t) = user.cmd(
        "b",
        "GETMETADATA \"\" (/shared/admin /shared/comment /shared/motd)",
    );
    assert_eq!(t, "b OK Completed");
    assert_eq!(
        u,
        [
            "* METADATA \"\" (/shared/admin \"mailto:postmaster@test.example\" /shared/comment \"Hello\" /shared/motd \"Welcome aboard\")"
        ]
    );
    // rfc5464 3.3: NO for a user who may not set server annotations.
    let (_, t) = user.cmd("c", "SETMETADATA \"\" (/shared/comment \"mine now\")");
    assert_eq!(t, "c NO [NOPERM] Permission denied");
    // A user's /private server entries are the user's own.
    let (_, t) = user.cmd("d", "SETMETADATA \"\" (/private/comment \"only mine\")");
    assert_eq!(t, "d OK Completed");
    let (u, _) = admin.cmd("e", "GETMETADATA \"\" (/shared/comment /private/comment)");
    assert_eq!(
        u,
        ["* METADATA \"\" (/shared/comment \"Hello\" /private/comment NIL)"]
    );
    let (_, t) = admin.cmd("f", "SETMETADATA \"\" (/shared/motd NIL)");
    assert_eq!(t, "f OK Completed");
    assert!(!s.data.config_dir().join("msg/motd").exists());
}

#[test]
fn a_hostile_guest_cannot_set_server_annotations_past_the_host() {
    let s = server()
        .conf(&format!("guest_module: {}", hostile_guest().display()))
        .conf("admins: plain")
        .start();
    let mut c = s.connect_tls();
    c.line();
    c.login("sha512", "secret");
    let r = probe(&mut c, "a", "XSETMETA /shared/comment");
    assert_eq!(r, "* XPROBE denied (NotAllowed)");
    // An admin's guest still cannot pass names the host does not take.
    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    for entry in [
        "/private/comment",
        "\"/shared/a*b\"",
        "/shared/vendor/x",
        "/shared//x",
    ] {
        let r = probe(&mut c, "b", &format!("XSETMETA {entry}"));
        assert!(r.starts_with("* XPROBE denied (BadEntry("), "{entry}: {r}");
    }
    let file = s.data.config_dir().join("imapd.metadata");
    let held = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(!held.contains("cHdubmVk"), "{held}"); // base64 of "pwned"
    // The same call from an admin's guest with a good name is the admin's
    // right, and works.
    let r = probe(&mut c, "c", "XSETMETA /shared/comment");
    assert_eq!(r, "* XPROBE ok");
}

#[test]
fn cyradm_sets_and_reads_annotations() {
    let s = plaintext_server();
    let script = "mboxcfg INBOX comment \"hello there\"\n\
                  cm Work\n\
                  mboxcfg --private Work comment mine\n\
                  info INBOX\n\
                  setinfo comment \"the server\"\n\
                  setinfo motd Welcome\n\
                  info\n";
    let Some(text) = cyradm(s.plain.port(), script) else {
        return;
    };
    for want in [
        "{INBOX}:",
        "comment: hello there",
        "partition: default",
        "size: 0",
        "uniqueid: F",
        "{Server Wide}",
        "comment: the server",
        "motd: Welcome",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in cyradm's output:\n{text}"
        );
    }
    assert!(!text.contains("Remote does not support"), "{text}");
    // What cyradm set is what a client reads.
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    let (u, _) = c.cmd("a", "GETMETADATA Work /private/comment");
    assert_eq!(u, ["* METADATA Work (/private/comment \"mine\")"]);
    assert_eq!(
        std::fs::read_to_string(s.data.config_dir().join("msg/motd")).unwrap(),
        "Welcome\n"
    );
}
