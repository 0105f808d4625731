//! IDLE (rfc2177): changes by other sessions and by an MTA delivering into
//! Maildir reach an idling client at once; keepalives; DONE; IDLE off with
//! `imapidlepoll: 0`; msg/shutdown noticed during IDLE.

use std::time::{Duration, Instant};

use crate::harness::{Client, TestServer, server};

fn idle_server(extra: &[&str]) -> TestServer {
    let mut b = server().no_tls().conf("allowplaintext: yes");
    for l in extra {
        b = b.conf(l);
    }
    b.start()
}

pub(crate) fn logged_in(s: &TestServer) -> Client {
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    c
}

/// APPEND a small message with `subject` to INBOX (LITERAL+).
pub(crate) fn append(c: &mut Client, tag: &str, subject: &str) {
    let msg = format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n");
    c.send(&format!(
        "{tag} APPEND INBOX {{{}+}}\r\n{msg}\r\n",
        msg.len()
    ));
    let (_, t) = c.until_tagged(tag);
    assert!(t.starts_with(&format!("{tag} OK")), "{t}");
}

/// Read untagged lines until one satisfies `want`, within `limit`.
pub(crate) fn expect_push(c: &mut Client, limit: Duration, want: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let l = c.line();
        if want(&l) {
            assert!(t0.elapsed() < limit, "{l:?} took {:?}", t0.elapsed());
            return l;
        }
        assert!(t0.elapsed() < limit, "no push within {limit:?}; last {l:?}");
    }
}

#[test]
fn changes_reach_an_idling_session() {
    let s = idle_server(&[]);
    let mut writer = logged_in(&s);
    append(&mut writer, "w1", "first");
    let mut idler = logged_in(&s);
    let (u, _) = idler.cmd("s", "SELECT INBOX");
    assert!(u.iter().any(|l| l == "* 1 EXISTS"), "{u:?}");
    idler.send("i IDLE\r\n");
    assert_eq!(idler.line(), "+ idling");

    // Another session's APPEND.
    append(&mut writer, "w2", "second");
    expect_push(&mut idler, Duration::from_secs(5), |l| l == "* 2 EXISTS");

    // Another session's STORE.
    writer.cmd("w3", "SELECT INBOX");
    assert!(
        writer
            .cmd("w4", "STORE 1 +FLAGS (\\Flagged)")
            .1
            .starts_with("w4 OK")
    );
    let l = expect_push(&mut idler, Duration::from_secs(5), |l| {
        l.starts_with("* 1 FETCH")
    });
    assert!(l.contains("\\Flagged"), "{l}");

    // Another session's EXPUNGE.
    writer.cmd("w5", "STORE 1 +FLAGS (\\Deleted)");
    assert!(writer.cmd("w6", "EXPUNGE").1.starts_with("w6 OK"));
    expect_push(&mut idler, Duration::from_secs(5), |l| l == "* 1 EXPUNGE");

    // An MTA delivering into Maildir: tmp/, then rename into new/.
    let tree = s.data.spool().join("plain");
    let tmp = tree.join("tmp/1700000000.M1P1.mta");
    std::fs::write(
        &tmp,
        "From: mta@example.org\r\nSubject: delivered\r\n\r\nhi\r\n",
    )
    .unwrap();
    std::fs::rename(&tmp, tree.join("new/1700000000.M1P1.mta")).unwrap();
    expect_push(&mut idler, Duration::from_secs(5), |l| l == "* 2 EXISTS");

    idler.send("DONE\r\n");
    let (_, t) = idler.until_tagged("i");
    assert_eq!(t, "i OK Completed");
    let (u, t) = idler.cmd("f", "FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(t.starts_with("f OK"), "{t}");
    assert!(u.iter().any(|l| l.contains("delivered")), "{u:?}");
}

#[test]
fn pending_changes_are_flushed_when_idle_starts() {
    let s = idle_server(&[]);
    let mut idler = logged_in(&s);
    idler.cmd("s", "SELECT INBOX");
    let mut writer = logged_in(&s);
    append(&mut writer, "w1", "x");
    idler.send("i IDLE\r\n");
    let mut seen = Vec::new();
    loop {
        let l = idler.line();
        if l == "* 1 EXISTS" {
            break;
        }
        seen.push(l);
        assert!(seen.len() < 5, "{seen:?}");
    }
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
}

#[test]
fn keepalive_while_idle() {
    let s = idle_server(&["idle_keepalive: 1s"]);
    let mut c = logged_in(&s);
    c.cmd("s", "SELECT INBOX");
    c.send("i IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    assert_eq!(c.line(), "* OK Still here");
    c.send("done\r\n");
    assert_eq!(c.until_tagged("i").1, "i OK Completed");
}

#[test]
fn keepalive_is_not_postponed_by_polls() {
    // The poll interval is shorter than the keepalive's: polls must not
    // restart the keepalive's clock.
    let s = idle_server(&["imapidlepoll: 1s", "idle_keepalive: 2s"]);
    let mut c = logged_in(&s);
    c.cmd("s", "SELECT INBOX");
    c.send("i IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    let t0 = Instant::now();
    assert_eq!(c.line(), "* OK Still here");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    c.send("DONE\r\n");
    assert_eq!(c.until_tagged("i").1, "i OK Completed");
}

#[test]
fn autologout_is_not_postponed_by_keepalives() {
    let s = idle_server(&["imapidletimeout: 3s", "idle_keepalive: 1s"]);
    let mut c = logged_in(&s);
    c.cmd("s", "SELECT INBOX");
    c.send("i IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    expect_push(&mut c, Duration::from_secs(5), |l| {
        l == "* BYE idle for too long"
    });
    assert!(c.closed());
}

#[test]
fn idle_can_be_turned_off() {
    let s = idle_server(&["imapidlepoll: 0"]);
    let mut c = logged_in(&s);
    let (u, _) = c.cmd("a", "CAPABILITY");
    assert!(!u[0].split(' ').any(|w| w == "IDLE"), "{}", u[0]);
    assert_eq!(c.cmd("b", "IDLE").1, "b BAD Unrecognized command");
    let s = idle_server(&[]);
    let mut c = logged_in(&s);
    let (u, _) = c.cmd("a", "CAPABILITY");
    assert!(u[0].split(' ').any(|w| w == "IDLE"), "{}", u[0]);
}

#[test]
fn shutdown_file_is_noticed_during_idle() {
    let s = idle_server(&["imapidlepoll: 1s"]);
    let mut c = logged_in(&s);
    c.cmd("s", "SELECT INBOX");
    c.send("i IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    std::fs::write(s.data.config_dir().join("msg/shutdown"), "going down\n").unwrap();
    expect_push(&mut c, Duration::from_secs(5), |l| {
        l == "* BYE [ALERT] going down"
    });
    assert!(c.closed());
}

/// More sessions in IDLE than the user may have inotify instances
/// (`fs.inotify.max_user_instances`, 128 by default): with an instance per
/// session the rest failed with "inotify_init: Too many open files" and
/// fell back to the 60 s poll. All share the process's one instance now,
/// and every one of them hears of an APPEND at once.
#[test]
fn more_idlers_than_inotify_instances_all_get_the_push() {
    push_to_many_idlers(false, Duration::from_secs(3));
}

/// The same with every idler hibernated: the watch outlives the instance,
/// and each push wakes one.
#[test]
fn more_hibernated_idlers_than_inotify_instances_all_get_the_push() {
    push_to_many_idlers(true, Duration::from_secs(3));
}

fn push_to_many_idlers(hibernate: bool, limit: Duration) {
    let instances: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(128);
    let n = (instances + 20).clamp(150, 300);
    // The poll interval is far off, so only a watch can deliver in time.
    let s = idle_server(&[
        "imapidlepoll: 60s",
        if hibernate {
            "idle_hibernate: 1"
        } else {
            "idle_hibernate: 0"
        },
    ]);
    let mut writer = logged_in(&s);
    let mut idlers: Vec<Client> = (0..n)
        .map(|i| {
            let mut c = logged_in(&s);
            let (u, t) = c.cmd("s", "SELECT INBOX");
            assert!(t.starts_with("s OK"), "idler {i}: {t}");
            assert!(u.iter().any(|l| l == "* 0 EXISTS"), "{u:?}");
            c.send("i IDLE\r\n");
            assert_eq!(c.line(), "+ idling", "idler {i}");
            c
        })
        .collect();
    // The watch is set up just after "+ idling" is written.
    std::thread::sleep(Duration::from_millis(300));
    if hibernate {
        let t0 = Instant::now();
        while s.log().matches(": hibernated (").count() < n {
            assert!(t0.elapsed() < Duration::from_secs(60), "{}", s.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(!s.log().contains("inotify"), "{}", s.log());

    append(&mut writer, "w1", "to all");
    let t0 = Instant::now();
    for (i, c) in idlers.iter_mut().enumerate() {
        let left = limit
            .saturating_sub(t0.elapsed())
            .max(Duration::from_millis(1));
        c.raw
            .as_ref()
            .unwrap()
            .set_read_timeout(Some(left))
            .unwrap();
        let l = c.line();
        assert_eq!(l, "* 1 EXISTS", "idler {i} after {:?}", t0.elapsed());
    }
    let took = t0.elapsed();
    assert!(took < limit, "{n} pushes took {took:?}");
    eprintln!("{n} idlers (hibernated: {hibernate}), all pushed within {took:?}");
    let log = s.log();
    assert!(!log.contains("inotify"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");

    for c in &mut idlers {
        let raw = c.raw.as_ref().unwrap();
        raw.set_read_timeout(Some(crate::harness::TIMEOUT)).unwrap();
        c.send("DONE\r\n");
    }
    for c in &mut idlers {
        assert_eq!(c.until_tagged("i").1, "i OK Completed");
    }
}
