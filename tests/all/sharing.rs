//! Sharing (rfc4314 ACLs): alice grants bob rights on one folder; bob
//! sees it under `Other Users`, with what the rights allow and nothing
//! more; a change to the ACL reaches bob's open session at its next
//! command. The host, not the guest, decides what bob's sandbox reaches:
//! the hostile guest logged in as bob finds every other door shut.
//! Users: alice is `sha256`, bob `sha512`, carol `plain`.

use crate::harness::{Client, hostile_guest, server};
use crate::sandbox::probe;
use crate::store_util::{Session, store_server};

const MSG: &[u8] = b"From: alice@example.org\r\nSubject: team notes\r\n\r\nHello team.\r\n";
const TEAM: &str = "\"Other Users/sha256/Team\"";

/// alice's Team (one message) shared with bob as `rights`, and Private.
fn alice_shares(alice: &mut Session, rights: &str) {
    alice.ok("CREATE Team");
    alice.ok("CREATE Private");
    alice.append("Team", MSG);
    alice.append("Private", MSG);
    alice.ok(&format!("SETACL Team sha512 {rights}"));
}

#[test]
fn a_folder_shared_read_only_is_read_but_never_changed() {
    let s = store_server(&[]);
    let mut alice = Session::connect(s.plain, "sha256");
    alice_shares(&mut alice, "lr");
    assert_eq!(
        alice.ok("GETACL Team"),
        ["* ACL Team sha256 lrswipkxtecdan sha512 lr"]
    );
    assert_eq!(
        alice.ok("MYRIGHTS Team"),
        ["* MYRIGHTS Team lrswipkxtecdan"]
    );

    let mut bob = Session::connect(s.plain, "sha512");
    let ns = bob.ok("NAMESPACE");
    assert_eq!(
        ns,
        ["* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))"]
    );
    let all = bob.ok("LIST \"\" *");
    assert!(
        all.contains(&format!("* LIST (\\HasNoChildren) \"/\" {TEAM}")),
        "{all:#?}"
    );
    assert!(!all.iter().any(|l| l.contains("Private")), "{all:#?}");
    assert_eq!(
        bob.ok("LIST \"\" \"Other Users/%\""),
        ["* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users/sha256\""]
    );
    assert_eq!(
        bob.ok(&format!("MYRIGHTS {TEAM}")),
        [format!("* MYRIGHTS {TEAM} lr")]
    );
    // Reading works; nothing changes.
    let (_, t) = bob.select(TEAM);
    assert!(t.starts_with("OK [READ-ONLY]"), "{t}");
    let body = bob.ok("FETCH 1 BODY.PEEK[TEXT]");
    assert!(body.iter().any(|l| l.contains("BODY[TEXT]")), "{body:?}");
    bob.fails("STORE 1 +FLAGS (\\Flagged)", "NO");
    bob.fails("STORE 1 +FLAGS (\\Deleted)", "NO");
    bob.fails("EXPUNGE", "NO");
    bob.fails(&format!("APPEND {TEAM} {{5+}}\r\nhello"), "NO");
    bob.fails(&format!("SETACL {TEAM} sha512 lrswi"), "NO");
    bob.fails(&format!("DELETE {TEAM}"), "NO");
    bob.fails(&format!("RENAME {TEAM} Mine"), "NO");
    // BODY[] of a read-only share does not set \Seen.
    bob.ok("FETCH 1 BODY[]");
    alice.select("Team");
    let flags = alice.ok("FETCH 1 FLAGS");
    assert_eq!(flags.len(), 1);
    assert!(!flags[0].contains("\\Seen"), "{flags:?}");
    // Bob may copy what he reads into his own mailboxes, and quote it
    // (rfc4469 URLs to messages he may read).
    bob.ok("COPY 1 INBOX");
    assert_eq!(bob.status("INBOX", "MESSAGES")["MESSAGES"], 1);
    bob.ok("APPEND INBOX CATENATE (URL \"/Other%20Users/sha256/Team/;UID=1/;SECTION=TEXT\")");
    let t = bob.fails(
        "APPEND INBOX CATENATE (URL \"/Other%20Users/sha256/Private/;UID=1\")",
        "NO",
    );
    assert!(t.contains("BADURL"), "{t}");
    // Nothing else of alice's: not her INBOX, not Private.
    for name in [
        "\"Other Users/sha256/Private\"",
        "\"Other Users/sha256\"",
        "\"Other Users/sha256/INBOX\"",
    ] {
        let t = bob.fails(&format!("SELECT {name}"), "NO");
        assert!(t.contains("NONEXISTENT"), "{name}: {t}");
        bob.fails(&format!("STATUS {name} (MESSAGES)"), "NO");
    }
}

#[test]
fn revoking_a_share_reaches_an_open_session_at_its_next_command() {
    let s = store_server(&[]);
    let mut alice = Session::connect(s.plain, "sha256");
    alice_shares(&mut alice, "lr");
    let mut reader = Session::connect(s.plain, "sha512");
    reader.select(TEAM);
    let mut lister = Session::connect(s.plain, "sha512");
    assert_eq!(lister.ok(&format!("LIST \"\" {TEAM}")).len(), 1);
    // Widened: bob may now flag and mark seen, at his next command.
    alice.ok("SETACL Team sha512 lrsw");
    assert_eq!(
        lister.ok(&format!("MYRIGHTS {TEAM}")),
        [format!("* MYRIGHTS {TEAM} lrsw")]
    );
    let (_, t) = lister.select(TEAM);
    assert!(t.starts_with("OK [READ-WRITE]"), "{t}");
    lister.ok("STORE 1 +FLAGS (\\Flagged)");
    lister.fails("STORE 1 +FLAGS (\\Deleted)", "NO");
    lister.ok("UNSELECT");
    alice.select("Team");
    assert_eq!(alice.ok("FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS (\\Flagged))"]);
    // Revoked: the listing no longer has it, and the session that had it
    // selected is told it is gone.
    alice.ok("DELETEACL Team sha512");
    assert!(lister.ok(&format!("LIST \"\" {TEAM}")).is_empty());
    lister.fails(&format!("SELECT {TEAM}"), "NO");
    reader.c.send("r1 NOOP\r\n");
    let line = reader.c.line();
    assert!(
        line.starts_with("* BYE"),
        "the reader keeps a revoked mailbox: {line:?}"
    );
}

#[test]
fn list_myrights_and_listrights() {
    let s = store_server(&[]);
    let mut alice = Session::connect(s.plain, "sha256");
    alice_shares(&mut alice, "lrs");
    alice.ok("SETACL Team -plain r");
    alice.ok("SETACL Team anyone +l");
    assert_eq!(
        alice.ok("GETACL Team"),
        ["* ACL Team sha256 lrswipkxtecdan sha512 lrs -plain r anyone l"]
    );
    assert_eq!(
        alice.ok("LISTRIGHTS Team sha512"),
        ["* LISTRIGHTS Team sha512 \"\" l r s w i p k x t e a n c d"]
    );
    assert_eq!(
        alice.ok("LISTRIGHTS Team sha256"),
        ["* LISTRIGHTS Team sha256 lkxcan r s w i p t e d"]
    );
    alice.fails("SETACL Team sha512 lrQ", "BAD");
    // INBOX is the owner's whole tree: it is not shared.
    let t = alice.fails("SETACL INBOX sha512 lr", "NO");
    assert!(t.contains("INBOX"), "{t}");
    let mut bob = Session::connect(s.plain, "sha512");
    let u = bob.ok("LIST \"\" \"*\" RETURN (MYRIGHTS)");
    assert!(u.contains(&format!("* MYRIGHTS {TEAM} lrs")), "{u:#?}");
    assert!(
        u.contains(&"* MYRIGHTS INBOX lrswipkxtecdan".to_string()),
        "{u:#?}"
    );
    // `anyone l` less carol's `-r`: she sees the name, cannot read it.
    let mut carol = Session::connect(s.plain, "plain");
    let u = carol.ok("LIST \"\" \"Other Users/*\"");
    assert!(
        u.iter()
            .any(|l| l.contains("\\Noselect") && l.contains("Team")),
        "{u:?}"
    );
    let t = carol.fails(&format!("SELECT {TEAM}"), "NO");
    assert!(t.contains("NOPERM"), "{t}");
}

/// A server running the hostile guest; alice (shared Team with bob as
/// `rights`) and bob's hostile session.
fn hostile_bob(rights: &str) -> (crate::harness::TestServer, Session, Client) {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf(&format!("guest_module: {}", hostile_guest().display()))
        .start();
    let mut alice = Session::connect(s.plain, "sha256");
    alice_shares(&mut alice, rights);
    let mut c = Client::connect(s.plain);
    c.line();
    c.login("sha512", "secret");
    (s, alice, c)
}

#[test]
fn the_hostile_guest_reaches_only_what_was_shared() {
    let (s, _alice, mut c) = hostile_bob("lr");
    // The share itself is readable.
    let r = probe(&mut c, "a", "XOPEN \"/shared/sha256/.Team/cur\"");
    assert!(r.starts_with("* XPROBE ok"), "{r}");
    for path in [
        "/shared/sha256/.Private",
        "/shared/sha256/.Private/cur",
        "/shared/sha256",
        "/shared/sha256/cur",
        "/shared/sha256/.Team/../cur",
        "/shared/sha256/.Team/../.Private/cur",
        "/users/sha256/cur",
        "/mail/../sha256/cur",
    ] {
        let r = probe(&mut c, "b", &format!("XOPEN \"{path}\""));
        assert!(r.starts_with("* XPROBE denied"), "{path}: {r}");
    }
    // Read-only: no file is written into it.
    for path in [
        "/shared/sha256/.Team/new/planted",
        "/shared/sha256/.Team/imapd.acl",
        "/shared/sha256/.Team/../.Private/new/planted",
    ] {
        let r = probe(&mut c, "c", &format!("XWRITE \"{path}\""));
        assert!(r.starts_with("* XPROBE denied"), "{path}: {r}");
    }
    let team = s.data.spool().join("sha256/.Team");
    assert!(!team.join("new/planted").exists());
    // The host locks only the share, and re-reads only bob's ACLs.
    let r = probe(&mut c, "d", "XLOCK \"sha256 user/sha256/Team\"");
    assert!(r.starts_with("* XPROBE ok"), "{r}");
    for arg in [
        "sha256 user/sha256/Private",
        "sha256 INBOX",
        "sha1 user/sha1/Team",
    ] {
        let r = probe(&mut c, "e", &format!("XLOCK \"{arg}\""));
        assert!(r.starts_with("* XPROBE denied"), "{arg}: {r}");
    }
    let r = probe(&mut c, "f", "XSHARE sha256");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
    let r = probe(&mut c, "g", "XSHARE sha512");
    assert!(r.starts_with("* XPROBE ok"), "{r}");
}

#[test]
fn cyradm_sets_and_lists_acls() {
    let s = store_server(&["admins: plain"]);
    let mut alice = Session::connect(s.plain, "sha256");
    alice.ok("CREATE Team");
    drop(alice);
    let Some(text) = crate::harness::cyradm(
        s.plain.port(),
        "sam user/sha256/Team sha512 lrs\nlam user/sha256/Team\n",
    ) else {
        return;
    };
    assert!(text.contains("sha512 lrs"), "{text}");
    assert!(!text.contains("NO "), "{text}");
    // The grant is a share like any.
    let mut bob = Session::connect(s.plain, "sha512");
    assert_eq!(
        bob.ok(&format!("MYRIGHTS {TEAM}")),
        [format!("* MYRIGHTS {TEAM} lrs")]
    );
    let text = crate::harness::cyradm(
        s.plain.port(),
        "dam user/sha256/Team sha512\nlam user/sha256/Team\n",
    )
    .unwrap();
    let listed: Vec<&str> = text.lines().filter(|l| !l.contains("> ")).collect();
    assert_eq!(listed, ["sha256 lrswipkxtecdan"], "{text}");
    bob.fails(&format!("MYRIGHTS {TEAM}"), "NO");
}

#[test]
fn a_share_stays_reachable_through_hibernation() {
    let s = store_server(&["idle_hibernate: 1"]);
    let mut alice = Session::connect(s.plain, "sha256");
    alice_shares(&mut alice, "lrs");
    let mut bob = Session::connect(s.plain, "sha512");
    bob.select(TEAM);
    bob.c.send("i IDLE\r\n");
    assert_eq!(bob.c.line(), "+ idling");
    let log = s.log_with(": hibernated (");
    assert!(log.contains(": hibernated ("), "{log}");
    // The woken instance has the share again: new mail in it is seen.
    alice.append("Team", MSG);
    bob.c.send("DONE\r\n");
    let (u, t) = bob.c.until_tagged("i");
    assert_eq!(t, "i OK Completed");
    let mut seen = u.clone();
    seen.extend(bob.ok("NOOP"));
    assert!(seen.iter().any(|l| l == "* 2 EXISTS"), "{seen:?}");
    bob.ok("STORE 2 +FLAGS (\\Seen)");
}

#[test]
fn shared_folders_are_made_by_administrators_with_defaultacl() {
    let s = store_server(&["admins: plain"]);
    const NEWS: &str = "\"Shared Folders/News\"";
    let mut admin = Session::connect(s.plain, "plain");
    admin.ok(&format!("CREATE {NEWS}"));
    assert_eq!(
        admin.ok(&format!("GETACL {NEWS}")),
        [format!("* ACL {NEWS} anyone lrs")]
    );
    let mut bob = Session::connect(s.plain, "sha512");
    assert_eq!(
        bob.ok("LIST \"\" \"Shared Folders/*\""),
        [format!("* LIST (\\HasNoChildren) \"/\" {NEWS}")]
    );
    let (_, t) = bob.select(NEWS);
    assert!(t.starts_with("OK [READ-WRITE]"), "{t}");
    let t = bob.fails(&format!("APPEND {NEWS} {{5+}}\r\nhello"), "NO");
    assert!(t.contains("NOPERM"), "{t}");
    bob.fails("CREATE \"Shared Folders/Mine\"", "NO");
    bob.fails(&format!("DELETE {NEWS}"), "NO");
    // The administrator lets bob post; his next command can.
    admin.ok(&format!("SETACL {NEWS} sha512 lrsi"));
    bob.append(NEWS, MSG);
    let all = admin.ok("LIST \"\" *");
    assert!(
        all.contains(&format!("* LIST (\\HasNoChildren) \"/\" {NEWS}")),
        "{all:#?}"
    );
    // Gone for everyone with its deletion.
    bob.ok("UNSELECT");
    admin.ok(&format!("DELETE {NEWS}"));
    assert!(bob.ok("LIST \"\" \"Shared Folders/*\"").is_empty());
}

#[test]
fn a_writer_of_a_share_cannot_rewrite_its_acl() {
    let (s, mut alice, mut c) = hostile_bob("lrsw");
    // Bob may write in Team's directory; an ACL there is not Team's ACL.
    let r = probe(&mut c, "a", "XACL \"/shared/sha256/.Team/imapd.acl\"");
    assert!(r.starts_with("* XPROBE ok"), "{r}");
    for path in [
        "/shared/sha256/imapd.acl.d/.Team",
        "/shared/sha256/.Team/../imapd.acl.d/.Team",
    ] {
        let r = probe(&mut c, "b", &format!("XACL \"{path}\""));
        assert!(r.starts_with("* XPROBE denied"), "{path}: {r}");
    }
    let r = probe(&mut c, "c", "XSHARE sha256");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
    // alice's next change has the host read her ACLs again: still only
    // bob has Team, with the rights alice gave.
    alice.ok("SETACL Private sha256 lrswipkxtean");
    let mut carol = Session::connect(s.plain, "plain");
    assert!(carol.ok("LIST \"\" \"Other Users/*\"").is_empty());
    carol.fails(&format!("MYRIGHTS {TEAM}"), "NO");
    assert_eq!(
        alice.ok("GETACL Team"),
        ["* ACL Team sha256 lrswipkxtecdan sha512 lrsw"]
    );
}

#[test]
fn idle_in_a_share_hears_of_new_mail_at_once() {
    let s = store_server(&[]);
    let mut alice = Session::connect(s.plain, "sha256");
    alice_shares(&mut alice, "lr");
    let mut bob = Session::connect(s.plain, "sha512");
    bob.select(TEAM);
    bob.c.send("i IDLE\r\n");
    assert_eq!(bob.c.line(), "+ idling");
    let t0 = std::time::Instant::now();
    alice.append("Team", MSG);
    // Told by the host's watch of the shared directory, long before the
    // next poll (imapidlepoll: 60 s).
    assert_eq!(bob.c.line(), "* 2 EXISTS");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    bob.c.send("DONE\r\n");
    assert_eq!(bob.c.until_tagged("i").1, "i OK Completed");
}

#[test]
fn owner_and_grantee_appending_at_once_lose_nothing() {
    // alice in her Team and bob through the share take the same lock (the
    // mailbox's, under two names): every message gets its own UID.
    let s = store_server(&[]);
    let mut alice = Session::connect(s.plain, "sha256");
    alice_shares(&mut alice, "lrsi");
    const EACH: usize = 25;
    let writers: Vec<_> = [("sha256", "Team"), ("sha512", TEAM)]
        .into_iter()
        .map(|(user, mailbox)| {
            let addr = s.plain;
            std::thread::spawn(move || {
                let mut w = Session::connect(addr, user);
                (0..EACH)
                    .map(|i| {
                        let m = format!("Subject: {user} {i}\r\n\r\nbody {i}\r\n");
                        w.append(mailbox, m.as_bytes())
                    })
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut uids: Vec<u32> = writers
        .into_iter()
        .flat_map(|t| t.join().expect("a writer"))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 2 * EACH, "UIDs handed out twice: {uids:?}");
    let (u, _) = alice.select("Team");
    assert!(u.contains(&format!("* {} EXISTS", 2 * EACH + 1)), "{u:?}");
}
