//! Literals, LITERAL+, maxword/maxquoted/maxliteral (cyrus-compat 2.7),
//! the autologout timeout, chunked input and garbage on the socket.

use std::time::{Duration, Instant};

use crate::harness::server;

#[test]
fn synchronizing_literal_gets_go_ahead() {
    let s = server().start();
    let mut c = s.connect_tls();
    c.line();
    c.send("a LOGIN {5}\r\n");
    assert_eq!(c.line(), "+ go ahead");
    c.send("plain {6}\r\n");
    assert_eq!(c.line(), "+ go ahead");
    c.send("secret\r\n");
    assert!(c.until_tagged("a").1.starts_with("a OK"));
}

#[test]
fn non_synchronizing_literal_needs_no_continuation() {
    let s = server().start();
    let mut c = s.connect_tls();
    c.line();
    c.send("a LOGIN {5+}\r\nplain {6+}\r\nsecret\r\n");
    assert!(c.until_tagged("a").1.starts_with("a OK"));
}

#[test]
fn literal_over_maxliteral() {
    let s = server().conf("maxliteral: 100").start();
    let mut c = s.connect_tls();
    c.line();
    c.send("a LOGIN {200}\r\n");
    let l = c.line();
    assert!(
        l.starts_with("a NO [TOOBIG] Literal size exceeds fixed limit in "),
        "{l}"
    );
    // The session goes on.
    assert_eq!(c.cmd("b", "NOOP").1, "b OK Completed");
    c.send("c LOGIN {200+}\r\n");
    assert_eq!(c.line(), "* BYE [TOOBIG] Literal size exceeds fixed limit");
    assert!(c.closed());
}

#[test]
fn word_and_quoted_over_their_limits() {
    let s = server().conf("maxword: 100").conf("maxquoted: 100").start();
    let mut c = s.connect();
    c.line();
    c.send(&format!("a LOGIN {} x\r\n", "u".repeat(300)));
    assert_eq!(c.line(), "* BYE [TOOBIG] Word too long");
    assert!(c.closed());
    let mut c = s.connect();
    c.line();
    c.send(&format!("a LOGIN \"{}\" x\r\n", "u".repeat(300)));
    assert_eq!(c.line(), "* BYE [TOOBIG] Quoted value too long");
    assert!(c.closed());
}

#[test]
fn idle_client_is_logged_out() {
    let s = server()
        .conf("timeout: 2s")
        .conf("autologout_minimum: 0")
        .start();
    let mut c = s.connect();
    c.line();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    assert_eq!(c.line(), "* BYE idle for too long");
    assert!(c.closed());
}

#[test]
fn any_chunking_gives_the_same_answers() {
    let s = server().start();
    let script = "a NOOP\r\nb LOGIN {5}\r\nplain {6+}\r\nsecret\r\nc CAPABILITY\r\nd LOGOUT\r\n";
    let mut whole = s.connect_tls();
    whole.line();
    whole.send(script);
    let mut expect = Vec::new();
    while let Some(l) = whole.try_line() {
        expect.push(l);
    }
    for size in [1, 2, 3, 7] {
        let mut c = s.connect_tls();
        c.line();
        for chunk in script.as_bytes().chunks(size) {
            c.send_bytes(chunk);
        }
        let mut got = Vec::new();
        while let Some(l) = c.try_line() {
            got.push(l);
        }
        // SESSIONIDs differ per connection; compare the rest.
        let strip = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|l| l.split(" SESSIONID=").next().unwrap().to_string())
                .collect()
        };
        assert_eq!(strip(&got), strip(&expect), "chunk size {size}");
    }
}

#[test]
fn garbage_and_binary_bytes_get_bad_not_a_crash() {
    let s = server().start();
    let mut c = s.connect();
    c.line();
    c.send_bytes(b"\x00\x01\x02\xff\xfe garbage\r\n");
    let l = c.line();
    assert!(l.contains("BAD"), "{l}");
    c.send_bytes(b"a NOOP \x00\x80\r\n");
    assert!(c.line().contains("BAD"));
    c.send_bytes(b"\r\n\r\n");
    let l = c.line();
    assert!(l.contains("BAD"), "{l}");
    // Random bytes in bulk.
    let mut x: u32 = 12345;
    let junk: Vec<u8> = (0..20000)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    c.send_bytes(&junk);
    drop(c);
    let mut c = s.connect();
    assert!(c.line().starts_with("* OK"));
    assert_eq!(c.cmd("z", "NOOP").1, "z OK Completed");
}

/// A client that stops reading its output is dropped once a write has
/// waited `timeout` (here 2 s), instead of holding its session (guest
/// instance, pool slot, login) for ever. Before, only reads timed out.
#[test]
fn client_that_never_reads_is_dropped() {
    let s = server()
        .conf("timeout: 2s")
        .conf("autologout_minimum: 0")
        .conf("allowplaintext: yes")
        .start();
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    let line = "x".repeat(998) + "\r\n";
    let msg = format!("Subject: big\r\n\r\n{}", line.repeat(2000));
    for i in 0..4 {
        c.send(&format!("a{i} APPEND INBOX {{{}+}}\r\n", msg.len()));
        c.send(&msg);
        c.send("\r\n");
        let (_, ok) = c.until_tagged(&format!("a{i}"));
        assert!(ok.contains(" OK "), "{ok}");
    }
    let (_, ok) = c.cmd("s", "SELECT INBOX");
    assert!(ok.starts_with("s OK"), "{ok}");
    // About 40 MB of output asked for, and none of it read.
    for i in 0..5 {
        c.send(&format!("f{i} FETCH 1:* BODY.PEEK[]\r\n"));
    }
    let start = Instant::now();
    while !s.log().contains("read none of its output") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the stalled client was not dropped; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(c.closed());
}

/// One byte now and then before login resets `timeout` at every read; the
/// login as a whole is bounded by `login_timeout` (here 2 s). A client that
/// logs in in time is not affected.
#[test]
fn slow_client_before_login_is_dropped() {
    let s = server().conf("login_timeout: 2").start();
    let mut c = s.connect();
    c.line();
    let start = Instant::now();
    let mut sent = 0;
    for b in b"a LOGIN plain secre" {
        if c.raw.as_ref().unwrap().peer_addr().is_err() {
            break;
        }
        use std::io::Write;
        if c.stream.write_all(&[*b]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(300));
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    assert!(sent > 3);
    assert_eq!(c.line(), "* BYE Login took too long");
    assert!(c.closed());
    assert!(start.elapsed() < Duration::from_secs(10));

    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(c.cmd("n", "NOOP").1, "n OK Completed");
}
