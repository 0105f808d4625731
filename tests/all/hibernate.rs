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
/// that its instance is really gone, not just idle.
#[test]
fn a_hibernated_session_frees_its_pool_slot() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("idle_hibernate: 2")
        .conf("max_sessions: 1")
        .start();
    let mut idler = logged_in(&s);
    idler.cmd("s", "SELECT INBOX");
    idler.send("i IDLE\r\n");
    assert_eq!(idler.line(), "+ idling");
    // While the idler is awake, its instance fills the pool.
    let mut other = s.connect();
    assert_eq!(
        other.line(),
        "* BYE Server busy or unavailable, try again later"
    );
    await_hibernations(&s, 1);
    assert!(
        s.log().contains("hibernated (") && s.log().contains("; 0 instances live)"),
        "{}",
        s.log()
    );
    // Asleep, it does not.
    let mut other = logged_in(&s);
    assert_eq!(other.cmd("n", "NOOP").1, "n OK Completed");
    assert_eq!(other.cmd("o", "LOGOUT").1, "o OK Completed");
    assert!(other.closed());
    // The slot is free again: the idler wakes into it.
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    assert_eq!(idler.cmd("n", "NOOP").1, "n OK Completed");
}

/// A session that cannot be restored (here: no free pool slot) is told so
/// and closed; nothing else is affected.
#[test]
fn a_session_that_cannot_wake_is_closed_cleanly() {
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
    expect_push(&mut idler, Duration::from_secs(3), |l| {
        l == "* BYE Server busy or unavailable, try again later"
    });
    assert!(idler.closed());
    await_log(&s, "session ended: waking from hibernation", 1);
    assert_eq!(writer.cmd("n", "NOOP").1, "n OK Completed");
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
