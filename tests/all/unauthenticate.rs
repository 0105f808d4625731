//! UNAUTHENTICATE (rfc8437) for admins, as Cyrus 3.6 offers it
//! (cyrus-compat 2.8), and LITERAL- (rfc7888 5) with `literalminus: yes`
//! (cyrus-compat 2.7). After UNAUTHENTICATE the session lives in a fresh
//! pre-auth guest that can open no file, and the host has forgotten the
//! user: registry, telemetry and tree.

use crate::harness::{Client, TestServer, hostile_guest, server};
use crate::sandbox::probe;

/// The pre-auth list on a TLS connection, as UNAUTHENTICATE's OK shows it.
const PRE_AUTH_TLS: &str = "IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN SASL-IR";

fn connect(s: &TestServer) -> Client {
    let mut c = s.connect_tls();
    assert!(c.line().starts_with("* OK [CAPABILITY "));
    c
}

/// Store a message with this subject in `user`'s INBOX.
fn deliver(s: &TestServer, user: &str, subject: &str) {
    let mut c = connect(s);
    c.login(user, "secret");
    let msg = format!("Subject: {subject}\r\n\r\nbody\r\n");
    c.send(&format!("a APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()));
    let (_, t) = c.until_tagged("a");
    assert!(t.starts_with("a OK"), "{t}");
    assert_eq!(c.cmd("z", "LOGOUT").1, "z OK Completed");
}

fn subjects(c: &mut Client) -> Vec<String> {
    let (u, t) = c.cmd("f", "FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert_eq!(t, "f OK Completed");
    u.into_iter()
        .filter_map(|l| l.strip_prefix("Subject: ").map(String::from))
        .collect()
}

#[test]
fn admin_unauthenticates_and_another_user_logs_in() {
    let s = server().conf("admins: plain").start();
    deliver(&s, "plain", "for plain");
    deliver(&s, "sha256", "for sha256");
    let mut c = connect(&s);
    let (_, t) = c.cmd("l", "LOGIN plain secret");
    // In the LOGIN reply already, where Cyrus lists it (cyrus-compat 2.8).
    assert!(
        t.contains(
            " AUTH=PLAIN AUTH=LOGIN UNAUTHENTICATE COMPRESS=DEFLATE IDLE APPENDLIMIT=4294967295] User logged in"
        ),
        "{t}"
    );
    let (u, _) = c.cmd("c", "CAPABILITY");
    assert!(
        u[0].ends_with(
            " AUTH=PLAIN AUTH=LOGIN UNAUTHENTICATE COMPRESS=DEFLATE IDLE APPENDLIMIT=4294967295"
        ),
        "{}",
        u[0]
    );
    let (u, t) = c.cmd("s", "SELECT INBOX");
    assert!(t.starts_with("s OK [READ-WRITE]"), "{t}");
    assert!(u.contains(&"* 1 EXISTS".to_string()), "{u:?}");
    assert_eq!(subjects(&mut c), ["for plain"]);

    // rfc8437 3: OK, no untagged responses (no expunge event), and the
    // pre-auth capability list in Cyrus's reply.
    let (u, t) = c.cmd("u", "UNAUTHENTICATE");
    assert!(u.is_empty(), "{u:?}");
    assert_eq!(t, format!("u OK [CAPABILITY {PRE_AUTH_TLS}] Completed"));

    // Not authenticated: Cyrus's answer to anything that needs a login.
    for (tag, cmd) in [
        ("a", "FETCH 1 FLAGS"),
        ("b", "SELECT INBOX"),
        ("d", "LIST \"\" *"),
        ("e", "ENABLE CONDSTORE"),
        ("g", "UNAUTHENTICATE"),
    ] {
        assert_eq!(
            c.cmd(tag, cmd).1,
            format!("{tag} BAD Please login first"),
            "{cmd}"
        );
    }
    assert_eq!(c.cmd("n", "NOOP").1, "n OK Completed");
    let (u, _) = c.cmd("c", "CAPABILITY");
    assert!(u[0].contains(" SASL-IR "), "{}", u[0]);
    assert!(!u[0].contains("UNAUTHENTICATE"), "{}", u[0]);

    // Someone else logs in on the same connection and sees only their mail.
    let (_, t) = c.cmd("l2", "LOGIN sha256 secret");
    assert!(t.starts_with("l2 OK [CAPABILITY "), "{t}");
    assert!(!t.contains("UNAUTHENTICATE"), "{t}");
    let (u, t) = c.cmd("s2", "SELECT INBOX");
    assert!(t.starts_with("s2 OK"), "{t}");
    assert!(u.contains(&"* 1 EXISTS".to_string()), "{u:?}");
    assert_eq!(subjects(&mut c), ["for sha256"]);
    // Not an admin: not offered, and BAD like any unknown command.
    assert_eq!(
        c.cmd("u2", "UNAUTHENTICATE").1,
        "u2 BAD Unrecognized command"
    );
    assert_eq!(c.cmd("z", "LOGOUT").1, "z OK Completed");
    // The selected mailbox was closed without an expunge.
    let mut c = connect(&s);
    c.login("plain", "secret");
    c.cmd("s", "SELECT INBOX");
    assert_eq!(subjects(&mut c), ["for plain"]);
}

#[test]
fn pipelined_after_unauthenticate() {
    let s = server().conf("admins: plain").start();
    let mut c = connect(&s);
    c.login("plain", "secret");
    // rfc8437 3: a client may pipeline AUTHENTICATE (here with SASL-IR)
    // after UNAUTHENTICATE; it runs in the new pre-auth instance.
    let plain = "AHNoYTI1NgBzZWNyZXQ="; // "\0sha256\0secret"
    c.send(&format!(
        "u UNAUTHENTICATE\r\na AUTHENTICATE PLAIN {plain}\r\nn NAMESPACE\r\n"
    ));
    assert_eq!(
        c.until_tagged("u").1,
        format!("u OK [CAPABILITY {PRE_AUTH_TLS}] Completed")
    );
    let (_, t) = c.until_tagged("a");
    assert!(t.starts_with("a OK [CAPABILITY "), "{t}");
    let (_, t) = c.until_tagged("n");
    assert_eq!(t, "n OK Completed");
    assert!(s.data.spool().join("sha256").is_dir());
}

#[test]
fn not_offered_to_users_who_are_not_admins() {
    let s = server().conf("admins: sha512").start();
    let mut c = connect(&s);
    assert_eq!(c.cmd("u", "UNAUTHENTICATE").1, "u BAD Please login first");
    let (u, _) = c.cmd("c", "CAPABILITY");
    assert!(!u[0].contains("UNAUTHENTICATE"), "{}", u[0]);
    let (_, t) = c.cmd("l", "LOGIN plain secret");
    assert!(!t.contains("UNAUTHENTICATE"), "{t}");
    let (u, _) = c.cmd("c", "CAPABILITY");
    assert!(!u[0].contains("UNAUTHENTICATE"), "{}", u[0]);
    assert_eq!(c.cmd("u", "UNAUTHENTICATE").1, "u BAD Unrecognized command");
    // Still logged in.
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
}

#[test]
fn extra_arguments_keep_the_session() {
    let s = server().conf("admins: plain").start();
    let mut c = connect(&s);
    c.login("plain", "secret");
    assert_eq!(
        c.cmd("u", "UNAUTHENTICATE now").1,
        "u BAD Unexpected extra arguments to Unauthenticate"
    );
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
}

#[test]
fn the_login_slot_is_released() {
    let s = server()
        .conf("admins: plain")
        .conf("maxlogins_per_user: 1")
        .start();
    let mut a = connect(&s);
    a.login("plain", "secret");
    let mut b = connect(&s);
    let (_, t) = b.cmd("l", "LOGIN plain secret");
    assert_eq!(
        t,
        "l NO Too many open connections (1 of 0 from 127.0.0.1, 1 of 1 for plain)"
    );
    assert!(a.cmd("u", "UNAUTHENTICATE").1.starts_with("u OK"));
    // The slot `a` held is free: `b` takes it, and `a` no longer counts.
    assert!(b.cmd("l", "LOGIN plain secret").1.starts_with("l OK"));
    let (_, t) = a.cmd("l", "LOGIN plain secret");
    assert_eq!(
        t,
        "l NO Too many open connections (1 of 0 from 127.0.0.1, 1 of 1 for plain)"
    );
    assert!(a.cmd("l", "LOGIN sha512 secret").1.starts_with("l OK"));
}

#[test]
fn telemetry_stops_with_the_user() {
    let s = server().conf("admins: plain").start();
    std::fs::create_dir_all(s.data.config_dir().join("log/plain")).unwrap();
    std::fs::create_dir_all(s.data.config_dir().join("log/sha256")).unwrap();
    let mut c = connect(&s);
    c.login("plain", "secret");
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    assert!(c.cmd("u", "UNAUTHENTICATE").1.starts_with("u OK"));
    assert!(
        c.cmd("l", "LOGIN sha256 hunter2-wrong")
            .1
            .starts_with("l NO")
    );
    assert!(c.cmd("l", "LOGIN sha256 secret").1.starts_with("l OK"));
    assert_eq!(c.cmd("b", "NOOP").1, "b OK Completed");
    assert_eq!(c.cmd("z", "LOGOUT").1, "z OK Completed");
    assert!(c.closed());
    let read = |user: &str| {
        let file = s
            .data
            .config_dir()
            .join(format!("log/{user}/imap-{}", s.pid()));
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    };
    let plain = read("plain");
    assert!(plain.contains(">u OK [CAPABILITY "), "{plain}");
    for absent in ["LOGIN sha256", "hunter2", "secret", "b NOOP"] {
        assert!(
            !plain.contains(absent),
            "{absent:?} in plain's log: {plain}"
        );
    }
    // The next user's log starts with its own LOGIN reply (cyrus-compat 2.5).
    let sha256 = read("sha256");
    assert!(sha256.starts_with("---------- sha256 "), "{sha256}");
    assert!(sha256.contains(">l OK [CAPABILITY "), "{sha256}");
    assert!(sha256.contains("<b NOOP\r\n"), "{sha256}");
    assert!(!sha256.contains("secret"), "{sha256}");
}

fn hostile() -> TestServer {
    server()
        .conf(&format!("guest_module: {}", hostile_guest().display()))
        .conf("admins: plain")
        .start()
}

/// The sandbox after UNAUTHENTICATE: the guest that runs the session is a
/// pre-auth one again, with no preopen at all (tests/all/sandbox.rs does
/// the same probes before login).
#[test]
fn demoted_guest_cannot_open_any_file() {
    let s = hostile();
    let spool = s.data.spool();
    let mut c = connect(&s);
    c.login("plain", "secret");
    let r = probe(&mut c, "a", "XWRITE \"/mail/own-file\"");
    assert_eq!(r, "* XPROBE ok");
    assert!(spool.join("plain/own-file").is_file());
    assert_eq!(
        probe(&mut c, "b", "XOPEN \"/mail/own-file\""),
        "* XPROBE ok"
    );

    // A probe pipelined behind UNAUTHENTICATE already runs in the new
    // instance.
    c.send("u UNAUTHENTICATE\r\np XOPEN \"/mail\"\r\n");
    assert!(c.until_tagged("u").1.starts_with("u OK"));
    let (u, t) = c.until_tagged("p");
    assert_eq!(t, "p OK Completed");
    assert!(u[0].starts_with("* XPROBE denied"), "{u:?}");
    let passwd = s.data.config_dir().join("passwd");
    for path in [
        "/mail",
        "/mail/own-file",
        "/",
        ".",
        "own-file",
        "/etc/passwd",
        passwd.to_str().unwrap(),
    ] {
        let r = probe(&mut c, "c", &format!("XOPEN \"{path}\""));
        assert!(r.starts_with("* XPROBE denied"), "{path}: {r}");
    }
    let r = probe(&mut c, "d", "XWRITE \"/mail/after\"");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
    assert!(!spool.join("plain/after").exists());
    // A new login gets that user's tree, and only it.
    c.login("sha512", "secret");
    assert_eq!(probe(&mut c, "e", "XWRITE \"/mail/mine\""), "* XPROBE ok");
    assert!(spool.join("sha512/mine").is_file());
    let r = probe(&mut c, "f", "XOPEN \"/mail/own-file\"");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
}

#[test]
fn literal_minus() {
    let s = server().conf("literalminus: yes").start();
    let mut c = s.connect_tls();
    // rfc7888 5: LITERAL- in LITERAL+'s place, never both.
    assert!(
        c.line()
            .starts_with("* OK [CAPABILITY IMAP4rev1 LITERAL- ID ENABLE "),
    );
    let (u, _) = c.cmd("c", "CAPABILITY");
    assert!(
        u[0].starts_with("* CAPABILITY IMAP4rev1 LITERAL- ID ENABLE "),
        "{}",
        u[0]
    );
    assert!(!u[0].contains("LITERAL+"), "{}", u[0]);
    // Up to 4096 bytes a non-synchronizing literal is fine.
    c.send("l LOGIN {5+}\r\nplain {6+}\r\nsecret\r\n");
    assert!(c.until_tagged("l").1.starts_with("l OK"));
    let (_, t) = c.cmd("s", "SELECT INBOX");
    assert!(t.starts_with("s OK"), "{t}");
    // A message of exactly `n` bytes.
    let msg = |n: usize| format!("Subject: x\r\n\r\n{}\r\n", "y".repeat(n - 16));
    let small = msg(4096);
    assert_eq!(small.len(), 4096);
    c.send(&format!("a APPEND INBOX {{4096+}}\r\n{small}\r\n"));
    assert!(c.until_tagged("a").1.starts_with("a OK"));
    // Over 4096: the literal and the rest of the command are read past,
    // then BAD [TOOBIG] (rfc7888 4 choice 1, 5); the session goes on.
    let big = msg(5000);
    c.send(&format!("b APPEND INBOX {{5000+}}\r\n{big}\r\nn NOOP\r\n"));
    assert_eq!(
        c.until_tagged("b").1,
        "b BAD [TOOBIG] Non-synchronizing literal size exceeds 4K"
    );
    assert_eq!(c.until_tagged("n").1, "n OK Completed");
    c.send(&format!(
        "e SEARCH TEXT {{4097+}}\r\n{}\r\n",
        "z".repeat(4097)
    ));
    assert_eq!(
        c.until_tagged("e").1,
        "e BAD [TOOBIG] Non-synchronizing literal size exceeds 4K"
    );
    // The same message as a synchronizing literal is taken.
    c.send("d APPEND INBOX {5000}\r\n");
    assert_eq!(c.line(), "+ go ahead");
    c.send(&format!("{big}\r\n"));
    assert!(c.until_tagged("d").1.starts_with("d OK"));
    // The refused APPEND stored nothing.
    let (u, t) = c.cmd("f", "FETCH 1:* RFC822.SIZE");
    assert_eq!(t, "f OK Completed");
    assert_eq!(
        u,
        [
            "* 1 FETCH (RFC822.SIZE 4096)",
            "* 2 FETCH (RFC822.SIZE 5000)"
        ]
    );
}

#[test]
fn literal_plus_by_default() {
    let s = server().start();
    let mut c = s.connect_tls();
    assert!(
        c.line()
            .starts_with("* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ")
    );
    c.login("plain", "secret");
    let big = format!("Subject: x\r\n\r\n{}\r\n", "y".repeat(4984));
    c.send(&format!("a APPEND INBOX {{{}+}}\r\n{big}\r\n", big.len()));
    assert!(c.until_tagged("a").1.starts_with("a OK"));
}
