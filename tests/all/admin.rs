//! Cyrus-style administration over IMAP with Debian's cyradm: an
//! administrator (imapd.conf `admins`) creates a user (`cm user/bob`),
//! lists, renames and deletes users' mailboxes; nobody else reaches the
//! partition.

use crate::harness::{cyradm, server};
use crate::store_util::Session;

#[test]
fn cyradm_creates_lists_renames_and_deletes_users_mailboxes() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("admins: plain")
        .start();
    let script = "cm user/sha256\n\
                  cm user/sha256/Team\n\
                  lm\n\
                  renm user/sha256/Team user/sha256/Crew\n\
                  lm user/sha256*\n";
    let Some(text) = cyradm(s.plain.port(), script) else {
        return;
    };
    for want in [
        "user/sha256 (\\HasChildren)",
        "user/sha256/Team (\\HasNoChildren)",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in cyradm's output:\n{text}"
        );
    }
    assert!(text.contains("user/sha256/Crew"), "{text}");
    assert!(!text.contains("NO "), "{text}");
    // The user made by the administrator logs in to the INBOX and folder.
    let tree = s.data.spool().join("sha256");
    assert!(tree.join("cur").is_dir() && tree.join(".Crew/cur").is_dir());
    let mut user = Session::connect(s.plain, "sha256");
    let u = user.ok("LIST \"\" *");
    assert_eq!(
        u,
        [
            "* LIST (\\HasNoChildren) \"/\" Crew",
            "* LIST (\\HasNoChildren) \"/\" INBOX"
        ]
    );
    // Another user sees no one else's mailboxes, and cannot make one.
    let mut other = Session::connect(s.plain, "sha512");
    let u = other.ok("LIST \"\" *");
    assert_eq!(u, ["* LIST (\\HasNoChildren) \"/\" INBOX"]);
    other.ok("CREATE user/sha256/Mine");
    assert!(!tree.join(".Mine").exists());
    let text = cyradm(s.plain.port(), "dm user/sha256/Crew\ndm user/sha256\nlm\n").unwrap();
    assert!(
        !text.lines().any(|l| l.starts_with("user/sha256")),
        "{text}"
    );
    assert!(!tree.exists());
}
