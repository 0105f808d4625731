//! Cyrus-style administration over IMAP with Debian's cyradm: an
//! administrator (imapd.conf `admins`) creates a user (`cm user/bob`),
//! lists, renames and deletes users' mailboxes; nobody else reaches the
//! partition.

use crate::harness::{Client, cyradm, server};
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
    other.fails("CREATE user/sha256/Mine", "NO");
    assert!(!tree.join(".Mine").exists());
    let text = cyradm(s.plain.port(), "dm user/sha256/Crew\ndm user/sha256\nlm\n").unwrap();
    assert!(
        !text.lines().any(|l| l.starts_with("user/sha256")),
        "{text}"
    );
    assert!(!tree.exists());
}

/// AUTHENTICATE PLAIN as `authcid` (password "secret") for `authzid`.
fn plain_as(s: &crate::harness::TestServer, authzid: &str, authcid: &str) -> (Client, String) {
    use base64::Engine as _;
    let mut c = s.connect();
    c.line();
    let creds =
        base64::engine::general_purpose::STANDARD.encode(format!("{authzid}\0{authcid}\0secret"));
    let (_, t) = c.cmd("a", &format!("AUTHENTICATE PLAIN {creds}"));
    (c, t)
}

#[test]
fn admins_and_proxyservers_log_in_as_another_user() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("admins: plain")
        .conf("proxyservers: sha256")
        .start();
    let mut owner = Session::connect(s.plain, "sha512");
    owner.append("INBOX", b"Subject: for sha512\r\n\r\nhi\r\n");
    // rfc4616: authenticated as themselves, authorized as sha512.
    for proxy in ["plain", "sha256"] {
        let (mut c, t) = plain_as(&s, "sha512", proxy);
        assert!(t.starts_with("a OK"), "{proxy}: {t}");
        let (u, _) = c.cmd("b", "STATUS INBOX (MESSAGES)");
        assert_eq!(u, ["* STATUS INBOX (MESSAGES 1)"], "{proxy}");
        // The session is sha512's, with sha512's rights: no admin's.
        let (_, t) = c.cmd("c", "SETQUOTA user/blf (STORAGE 1)");
        assert_eq!(t, "c NO [NOPERM] Permission denied");
    }
    // Nobody else may, and a wrong password stays wrong.
    let (_, t) = plain_as(&s, "plain", "sha512");
    assert!(t.starts_with("a NO"), "{t}");
    let (_, t) = plain_as(&s, "sha512", "blf");
    assert!(t.starts_with("a NO"), "{t}");
    let logged = "proxy authorization: plain logs in as sha512";
    let log = s.log_with(logged);
    assert!(log.contains(logged), "{log}");
}
