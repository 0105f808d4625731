//! Hibernation (`idle_hibernate`): a session idling past the configured
//! time is reduced to its snapshot and its guest instance freed; changes,
//! the keepalive, msg/shutdown, the autologout and the client's input are
//! handled exactly as before, and the client cannot tell.

use std::time::{Duration, Instant};

use crate::harness::{Client, TestServer, server};
use crate::idle::{append, expect_push, logged_in};

fn hib_server(extra: &[&str]) -> TestServer {
    let mut b = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("idle_hibernate: 1");
    for l in extra {
        b = b.conf(l);
    }
    b.start()
}

/// How many times the server has hibernated a session so far.
fn hibernations(s: &TestServer) -> usize {
    s.log().matches(": hibernated (").count()
}

/// Wait until the server's log has `needle` `n` times.
fn await_log(s: &TestServer, needle: &str, n: usize) {
    let t0 = Instant::now();
    while s.log().matches(needle).count() < n {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no {needle:?} #{n} in the log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until the server has hibernated `n` sessions in all.
fn await_hibernations(s: &TestServer, n: usize) {
    await_log(s, ": hibernated (", n);
}

/// IDLE until the server has hibernated `n` sessions in all, then DONE:
/// the tagged OK comes from the woken session.
fn idle_through_hibernation(s: &TestServer, c: &mut Client, tag: &str, n: usize) {
    c.send(&format!("{tag} IDLE\r\n"));
    assert_eq!(c.line(), "+ idling");
    await_hibernations(s, n);
    c.send("DONE\r\n");
    assert_eq!(c.until_tagged(tag).1, format!("{tag} OK Completed"));
}

/// A session idling in INBOX (which holds the messages `subjects`).
fn idling(s: &TestServer, subjects: &[&str]) -> (Client, Client) {
    let mut writer = logged_in(s);
    for (i, subj) in subjects.iter().enumerate() {
        append(&mut writer, &format!("w{i}"), subj);
    }
    assert!(writer.cmd("ws", "SELECT INBOX").1.starts_with("ws OK"));
    let mut idler = logged_in(s);
    let (u, _) = idler.cmd("s", "SELECT INBOX");
    let exists = format!("* {} EXISTS", subjects.len());
    assert!(u.contains(&exists), "{u:?}");
    idler.send("i IDLE\r\n");
    assert_eq!(idler.line(), "+ idling");
    (writer, idler)
}

const PROMPT: Duration = Duration::from_secs(1);

#[test]
fn other_sessions_changes_wake_a_hibernated_session() {
    let s = hib_server(&[]);
    let (mut writer, mut idler) = idling(&s, &["one"]);

    // APPEND.
    await_hibernations(&s, 1);
    append(&mut writer, "a", "two");
    expect_push(&mut idler, PROMPT, |l| l == "* 2 EXISTS");

    // STORE, after the session has gone back to sleep.
    await_hibernations(&s, 2);
    let (_, t) = writer.cmd("b", "STORE 1 +FLAGS (\\Flagged)");
    assert!(t.starts_with("b OK"), "{t}");
    let l = expect_push(&mut idler, PROMPT, |l| l.starts_with("* 1 FETCH"));
    assert!(l.contains("\\Flagged"), "{l}");

    // EXPUNGE.
    await_hibernations(&s, 3);
    writer.cmd("c", "STORE 1 +FLAGS (\\Deleted)");
    assert!(writer.cmd("d", "EXPUNGE").1.starts_with("d OK"));
    expect_push(&mut idler, PROMPT, |l| l == "* 1 EXPUNGE");

    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    let (u, t) = idler.cmd("f", "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(t.starts_with("f OK"), "{t}");
    assert!(u[0].starts_with("* 1 FETCH"), "{u:?}");
    assert!(u.iter().any(|l| l.contains("two")), "{u:?}");
    assert!(!u.iter().any(|l| l.contains("one")), "{u:?}");
}

#[test]
fn mta_delivery_wakes_a_hibernated_session() {
    let s = hib_server(&[]);
    let (_writer, mut idler) = idling(&s, &["one"]);
    await_hibernations(&s, 1);
    let tree = s.data.spool().join("plain");
    let tmp = tree.join("tmp/1700000000.M1P1.mta");
    std::fs::write(
        &tmp,
        "From: mta@example.org\r\nSubject: delivered\r\n\r\nhi\r\n",
    )
    .unwrap();
    std::fs::rename(&tmp, tree.join("new/1700000000.M1P1.mta")).unwrap();
    expect_push(&mut idler, PROMPT, |l| l == "* 2 EXISTS");
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    let (u, t) = idler.cmd("f", "FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(t.starts_with("f OK"), "{t}");
    assert!(u.iter().any(|l| l.contains("delivered")), "{u:?}");
}

#[test]
fn done_after_hibernation_continues_the_session() {
    let s = hib_server(&[]);
    let (mut writer, mut idler) = idling(&s, &["one", "two", "three"]);
    await_hibernations(&s, 1);
    // Message 2 goes away while the idler sleeps; it hears of it...
    writer.cmd("a", "STORE 2 +FLAGS (\\Deleted)");
    assert!(writer.cmd("b", "EXPUNGE").1.starts_with("b OK"));
    expect_push(&mut idler, PROMPT, |l| l == "* 2 EXPUNGE");
    // ...sleeps again, and wakes for DONE.
    await_hibernations(&s, 2);
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    assert_eq!(idler.cmd("n", "NOOP").1, "n OK Completed");
    let (u, t) = idler.cmd("f", "FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(t.starts_with("f OK"), "{t}");
    assert!(u[0].starts_with("* 2 FETCH"), "{u:?}");
    assert!(u.iter().any(|l| l.contains("three")), "{u:?}");
    let (u, _) = idler.cmd("g", "FETCH 1:* FLAGS");
    assert_eq!(u.len(), 2, "{u:?}");
    // A second IDLE hibernates and wakes as well.
    idle_through_hibernation(&s, &mut idler, "j", 3);
    assert_eq!(idler.cmd("k", "LOGOUT").1, "k OK Completed");
}

#[test]
fn hibernation_works_over_tls() {
    let s = server().conf("idle_hibernate: 1").start();
    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    c.cmd("s", "SELECT INBOX");
    idle_through_hibernation(&s, &mut c, "i", 1);
    assert_eq!(c.cmd("n", "NOOP").1, "n OK Completed");
}

#[test]
fn keepalive_continues_while_hibernated() {
    let s = hib_server(&["idle_keepalive: 2s"]);
    let (_writer, mut idler) = idling(&s, &["one"]);
    let t0 = Instant::now();
    assert_eq!(idler.line(), "* OK Still here");
    assert_eq!(idler.line(), "* OK Still here");
    assert!(
        t0.elapsed() >= Duration::from_millis(3500),
        "{:?}",
        t0.elapsed()
    );
    // The keepalives were the host's: the session slept through them (a
    // wake-up would have been followed by a second hibernation).
    assert_eq!(hibernations(&s), 1, "{}", s.log());
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
}

#[test]
fn autologout_while_hibernated() {
    let s = hib_server(&["imapidletimeout: 3s", "idle_keepalive: 1s"]);
    let (_writer, mut idler) = idling(&s, &["one"]);
    let t0 = Instant::now();
    // Keepalives do not postpone the autologout.
    expect_push(&mut idler, Duration::from_secs(5), |l| {
        l == "* BYE idle for too long"
    });
    assert!(
        t0.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    assert!(idler.closed());
    assert!(hibernations(&s) >= 1);
}

#[test]
fn shutdown_file_is_noticed_while_hibernated() {
    let s = hib_server(&["imapidlepoll: 1s"]);
    let (_writer, mut idler) = idling(&s, &["one"]);
    await_hibernations(&s, 1);
    std::fs::write(s.data.config_dir().join("msg/shutdown"), "going down\n").unwrap();
    expect_push(&mut idler, Duration::from_secs(3), |l| {
        l == "* BYE [ALERT] going down"
    });
    assert!(idler.closed());
}

/// With one pool slot, a hibernated session leaves room for another: proof
/// that its instance is really gone, not just idle. The newcomer's wait
/// for the slot makes the idler hibernate at once (`idle_hibernate` is
/// far off).
#[test]
fn a_hibernated_session_frees_its_pool_slot() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("idle_hibernate: 600")
        .conf("max_sessions: 1")
        .start();
    let mut idler = logged_in(&s);
    idler.cmd("s", "SELECT INBOX");
    idler.send("i IDLE\r\n");
    assert_eq!(idler.line(), "+ idling");
    let mut other = logged_in(&s);
    await_hibernations(&s, 1);
    assert!(
        s.log().contains("hibernated (") && s.log().contains("; 0 instances live)"),
        "{}",
        s.log()
    );
    assert_eq!(other.cmd("n", "NOOP").1, "n OK Completed");
    assert_eq!(other.cmd("o", "LOGOUT").1, "o OK Completed");
    assert!(other.closed());
    // The slot is free again: the idler wakes into it.
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    assert_eq!(idler.cmd("n", "NOOP").1, "n OK Completed");
}

/// A session woken while the pool is full (here by a change another
/// session made) waits for a slot instead of being closed, and hears of
/// the change once it has one.
#[test]
fn a_session_woken_at_a_full_pool_waits_for_a_slot() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("idle_hibernate: 1")
        .conf("max_sessions: 1")
        .start();
    let mut idler = logged_in(&s);
    idler.cmd("s", "SELECT INBOX");
    idler.send("i IDLE\r\n");
    assert_eq!(idler.line(), "+ idling");
    await_hibernations(&s, 1);
    // The writer takes the only slot, and its APPEND wakes the idler.
    let mut writer = logged_in(&s);
    append(&mut writer, "a", "one");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(writer.cmd("n", "NOOP").1, "n OK Completed");
    assert_eq!(writer.cmd("o", "LOGOUT").1, "o OK Completed");
    expect_push(&mut idler, Duration::from_secs(5), |l| l == "* 1 EXISTS");
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    assert!(!s.log().contains("session ended"), "{}", s.log());
}

/// IMAP4rev2 (rfc9051) enabled before IDLE survives hibernation: the
/// woken session still answers SEARCH with ESEARCH, shows no \Recent and
/// puts UID in its unsolicited FETCH.
#[test]
fn imap4rev2_survives_hibernation() {
    let s = hib_server(&[]);
    let mut writer = logged_in(&s);
    append(&mut writer, "w", "one");
    assert!(writer.cmd("ws", "SELECT INBOX").1.starts_with("ws OK"));
    let mut idler = logged_in(&s);
    let (u, t) = idler.cmd("e", "ENABLE IMAP4rev2");
    assert_eq!(
        (u, t.as_str()),
        (vec!["* ENABLED IMAP4rev2".to_string()], "e OK Completed")
    );
    let (u, _) = idler.cmd("s", "SELECT INBOX");
    assert!(
        u.iter()
            .any(|l| l == "* LIST (\\HasNoChildren) \"/\" INBOX")
            && !u.iter().any(|l| l.ends_with(" RECENT")),
        "{u:?}"
    );
    idler.send("i IDLE\r\n");
    assert_eq!(idler.line(), "+ idling");
    await_hibernations(&s, 1);
    let (_, t) = writer.cmd("b", "STORE 1 +FLAGS (\\Flagged)");
    assert!(t.starts_with("b OK"), "{t}");
    let l = expect_push(&mut idler, PROMPT, |l| l.starts_with("* 1 FETCH"));
    assert_eq!(l, "* 1 FETCH (FLAGS (\\Flagged) UID 1)");
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    let (u, t) = idler.cmd("f", "SEARCH FLAGGED");
    assert_eq!(t, "f OK Completed");
    assert_eq!(u, ["* ESEARCH (TAG \"f\") ALL 1"]);
}

/// Nothing has arrived from the server yet.
fn nothing_yet(c: &Client) -> bool {
    let raw = c.raw.as_ref().unwrap();
    raw.set_nonblocking(true).unwrap();
    let r = raw.peek(&mut [0u8; 1]);
    raw.set_nonblocking(false).unwrap();
    matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// A full pool (`max_sessions`): a new connection queues for a slot
/// instead of being turned away. A session that ends frees one; a session
/// in IDLE hibernates at once to make one, long before `idle_hibernate`,
/// and wakes as before, queueing for a slot in turn.
#[test]
fn a_full_pool_queues_new_connections_and_idle_sessions_make_room() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("max_sessions: 2")
        .conf("idle_hibernate: 600")
        .start();
    let mut a = logged_in(&s);
    let mut b = logged_in(&s);
    // Both slots held by sessions outside IDLE: the third waits.
    let mut c = s.connect();
    std::thread::sleep(Duration::from_millis(700));
    assert!(nothing_yet(&c), "greeted with no free slot");
    assert_eq!(a.cmd("a", "LOGOUT").1, "a OK Completed");
    assert!(c.line().starts_with("* OK "), "greeted once a slot is free");
    c.login("plain", "secret");
    // b idles; the next connection gets b's slot at once.
    assert_eq!(b.cmd("s", "SELECT INBOX").1.split(' ').nth(1), Some("OK"));
    b.send("i IDLE\r\n");
    assert_eq!(b.line(), "+ idling");
    let t0 = Instant::now();
    let mut d = s.connect();
    assert!(d.line().starts_with("* OK "));
    assert!(t0.elapsed() < Duration::from_secs(10));
    // The log line may follow the greeting it made room for.
    await_log(&s, ": hibernated (", 1);
    assert_eq!(hibernations(&s), 1, "{}", s.log());
    // With a slot free again, b wakes and answers.
    assert_eq!(c.cmd("c", "LOGOUT").1, "c OK Completed");
    b.send("DONE\r\n");
    assert_eq!(b.until_tagged("i").1, "i OK Completed");
    assert_eq!(b.cmd("n", "NOOP").1, "n OK Completed");
}
