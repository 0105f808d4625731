//! COMPRESS=DEFLATE (rfc4978) against the real binary: large FETCH and
//! APPEND both ways, IDLE pushes, STARTTLS and implicit TLS, hibernation,
//! a second COMPRESS, and garbage from the client. The client side is
//! flate2's raw DEFLATE (`harness::Deflated`), with a sync flush after
//! every command.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::harness::{Client, TestServer, server};
use crate::idle::{append, expect_push};

/// A message of about `size` bytes: text that compresses, with a stretch
/// of pseudo-random bytes (base64) that does not.
fn message(seed: u32, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender {seed} <s{seed}@example.org>\r\nTo: r@example.org\r\n\
         Subject: big message {seed}\r\nMessage-ID: <{seed}@example.org>\r\n\r\n"
    )
    .into_bytes();
    let mut x = seed.wrapping_mul(2654435761).max(1);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    while m.len() < size {
        if (m.len() / 4096) % 2 == 0 {
            m.extend_from_slice(b"The quick brown fox jumps over the lazy dog. ");
        } else {
            for _ in 0..76 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                m.push(alphabet[(x % 64) as usize]);
            }
        }
        if m.len() % 78 < 4 {
            m.extend_from_slice(b"\r\n");
        }
    }
    m.extend_from_slice(b"\r\n");
    m
}

/// APPEND `msg` with a synchronizing literal (so the `+` continuation
/// comes back through the compressed stream too).
fn append_sync(c: &mut Client, tag: &str, msg: &[u8]) {
    c.send(&format!("{tag} APPEND INBOX {{{}}}\r\n", msg.len()));
    assert!(c.line().starts_with("+ "));
    c.send_bytes(msg);
    c.send("\r\n");
    let (_, t) = c.until_tagged(tag);
    assert!(t.starts_with(&format!("{tag} OK")), "{t}");
}

/// FETCH message `seq`'s BODY[] and return its bytes.
fn fetch_body(c: &mut Client, tag: &str, seq: &str) -> Vec<u8> {
    c.send(&format!("{tag} FETCH {seq} BODY.PEEK[]\r\n"));
    let head = c.line();
    let n: usize = head
        .rsplit_once('{')
        .and_then(|(_, r)| r.strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no literal in {head:?}"));
    let body = c.bytes(n);
    assert_eq!(c.line(), ")");
    assert_eq!(c.until_tagged(tag).1, format!("{tag} OK Completed"));
    body
}

/// Logged in, COMPRESS on, INBOX selected.
fn compressed(mut c: Client) -> Client {
    assert!(c.line().starts_with("* OK"));
    c.login("plain", "secret");
    c.compress("z");
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    c
}

/// The whole exercise on one compressed connection: large APPEND and
/// FETCH, an IDLE that sees another session's APPEND, a refused second
/// COMPRESS, LOGOUT.
fn exercise(s: &TestServer, mut c: Client) {
    let big = message(1, 600_000);
    append_sync(&mut c, "a1", &big);
    assert_eq!(fetch_body(&mut c, "f1", "*"), big);
    // IDLE, and a plain session's APPEND reaches it through the stream.
    c.send("i IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    let mut writer = s.connect();
    writer.line();
    writer.login("plain", "secret");
    append(&mut writer, "w1", "pushed");
    expect_push(&mut c, Duration::from_secs(5), |l| l.ends_with(" EXISTS"));
    c.send("DONE\r\n");
    assert_eq!(c.until_tagged("i").1, "i OK Completed");
    assert_eq!(
        c.cmd("z2", "COMPRESS DEFLATE").1,
        "z2 BAD [COMPRESSIONACTIVE] DEFLATE active via COMPRESS"
    );
    let (u, _) = c.cmd("k", "CAPABILITY");
    assert!(!u[0].contains("COMPRESS=DEFLATE"), "{}", u[0]);
    let (u, t) = c.cmd("o", "LOGOUT");
    assert_eq!(
        (u, t.as_str()),
        (vec!["* BYE LOGOUT received".to_string()], "o OK Completed")
    );
    assert!(c.closed());
}

#[test]
fn large_fetch_append_and_idle_on_a_plain_connection() {
    let s = server().conf("allowplaintext: yes").start();
    let mut c = s.connect();
    let greeting = c.line();
    assert!(!greeting.contains("COMPRESS"), "{greeting}");
    // Offered after login (CAPABILITY lists post-auth items, as Cyrus).
    assert_eq!(c.cmd("z", "COMPRESS DEFLATE").1, "z BAD Please login first");
    c.login("plain", "secret");
    let (u, _) = c.cmd("k", "CAPABILITY");
    assert!(
        u[0].ends_with(" COMPRESS=DEFLATE IDLE APPENDLIMIT=4294967295"),
        "{}",
        u[0]
    );
    c.compress("z");
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    exercise(&s, c);
}

#[test]
fn after_starttls_and_on_implicit_tls() {
    // Plaintext for the second, uncompressed session that appends.
    let s = server().conf("allowplaintext: yes").start();
    let mut c = s.connect();
    c.line();
    assert_eq!(c.cmd("t", "STARTTLS").1, "t OK Begin TLS negotiation now");
    c.start_tls();
    c.login("plain", "secret");
    c.compress("z");
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    exercise(&s, c);
    let c = compressed(s.connect_tls());
    exercise(&s, c);
}

#[test]
fn hibernation_keepalive_and_wake_keep_the_stream() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("idle_hibernate: 1")
        .conf("idle_keepalive: 2")
        .start();
    let mut writer = s.connect();
    writer.line();
    writer.login("plain", "secret");
    append(&mut writer, "w0", "first");
    let mut c = compressed(s.connect());
    // Something to refer back to after the wake-up.
    let (u, _) = c.cmd("f", "FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(u[0].starts_with("* 1 FETCH"), "{u:?}");
    c.send("i IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    let t0 = Instant::now();
    while !s.log().contains(": hibernated (") {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let line = s
        .log()
        .lines()
        .find(|l| l.contains(": hibernated ("))
        .unwrap()
        .to_string();
    // Neither codec stays while asleep (the client's input ended on a
    // sync flush): only the history of what it sent.
    assert!(line.contains(", COMPRESS "), "{line}");
    assert!(!line.contains("compressor"), "{line}");
    // A keepalive while asleep, compressed by a compressor made for it.
    assert_eq!(c.line(), "* OK Still here");
    // Another session's change wakes it.
    append(&mut writer, "w1", "second");
    expect_push(&mut c, Duration::from_secs(5), |l| l == "* 2 EXISTS");
    c.send("DONE\r\n");
    assert_eq!(c.until_tagged("i").1, "i OK Completed");
    // Asleep again; the client's next command (DONE) wakes it, and its
    // compressor refers back to what it sent before.
    let before = s.log().matches(": hibernated (").count();
    c.send("i2 IDLE\r\n");
    assert_eq!(c.line(), "+ idling");
    let t0 = Instant::now();
    while s.log().matches(": hibernated (").count() <= before {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    c.send("DONE\r\n");
    assert_eq!(c.until_tagged("i2").1, "i2 OK Completed");
    let (u, _) = c.cmd("f", "FETCH 1:2 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(u.iter().any(|l| l == "Subject: second"), "{u:?}");
    let big = message(7, 200_000);
    append_sync(&mut c, "a", &big);
    assert_eq!(fetch_body(&mut c, "b", "3"), big);
}

#[test]
fn garbage_ends_only_that_session() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let mut other = compressed(s.connect());
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    assert_eq!(c.cmd("z", "COMPRESS DEFLATE").1, "z OK DEFLATE active");
    c.send_bytes(&[0xff; 64]);
    assert!(c.closed());
    let t0 = Instant::now();
    while !s.log().contains("invalid COMPRESS=DEFLATE data") {
        assert!(t0.elapsed() < Duration::from_secs(5), "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(other.cmd("n", "NOOP").1, "n OK Completed");
    let mut fresh = compressed(s.connect());
    assert_eq!(fresh.cmd("n", "NOOP").1, "n OK Completed");
}

/// 500 generated messages with varied headers (names, dates, subjects,
/// Message-IDs, Received lines).
fn generated_messages() -> Vec<Vec<u8>> {
    let names = [
        "Alice Martin",
        "Bob Dupont",
        "Chen Wei",
        "Dana Scully",
        "Émile Zola",
    ];
    let words = [
        "invoice", "meeting", "report", "lunch", "release", "draft", "budget",
    ];
    (0..500)
        .map(|i: usize| {
            let from = names[i % names.len()];
            format!(
                "Return-Path: <x{i}@example.org>\r\nReceived: from mx{}.example.net by \
                 mail.example.org with ESMTPS id {i:08x}; Mon, {} Nov 2026 10:{:02}:00 +0000\r\n\
                 Date: Mon, {} Nov 2026 10:{:02}:00 +0000\r\nFrom: {from} <{}@example.org>\r\n\
                 To: team@example.org\r\nSubject: Re: {} {} #{i}\r\n\
                 Message-ID: <{i}.{}@mail.example.org>\r\n\
                 In-Reply-To: <{}.{}@mail.example.org>\r\nMIME-Version: 1.0\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\nbody {i}\r\n",
                i % 7,
                1 + i % 28,
                i % 60,
                1 + i % 28,
                i % 60,
                from.split(' ').next().unwrap().to_lowercase(),
                words[i % words.len()],
                words[(i / 7) % words.len()],
                i * 7919 % 100_000,
                i.saturating_sub(1),
                (i.saturating_sub(1)) * 7919 % 100_000,
            )
            .into_bytes()
        })
        .collect()
}

/// The shared MIME corpus (`store_corpus`), when it is there, in the
/// form an IMAP client APPENDs (CRLF, no NUL).
fn corpus_messages() -> Option<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    crate::store_corpus::emls(&crate::store_corpus::corpus_dir()?, &mut files);
    files.sort();
    Some(
        files
            .iter()
            .map(|f| crate::store_corpus::canonical(&std::fs::read(f).unwrap()))
            .collect(),
    )
}

/// Bytes on the wire for `FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE
/// BODY.PEEK[HEADER])` over a whole INBOX, with and without COMPRESS:
/// generated messages, and the shared MIME corpus where it exists.
/// Printed with `--nocapture`; asserts at least a halving.
#[test]
fn measure_fetch_headers_bytes_on_the_wire() {
    let mut sets = vec![("500 generated messages", generated_messages())];
    if let Some(corpus) = corpus_messages() {
        sets.push(("the MIME corpus", corpus));
    }
    for (what, messages) in sets {
        let s = server().no_tls().conf("allowplaintext: yes").start();
        let mut w = s.connect();
        w.line();
        w.login("plain", "secret");
        // rfc6855 4: some corpus messages have 8-bit header fields.
        w.send("e ENABLE UTF8=ACCEPT\r\n");
        assert!(w.until_tagged("e").1.contains(" OK "));
        for (i, msg) in messages.iter().enumerate() {
            w.send(&format!("a{i} APPEND INBOX {{{}+}}\r\n", msg.len()));
            w.send_bytes(msg);
            w.send("\r\n");
            let t = w.until_tagged(&format!("a{i}")).1;
            assert!(t.contains(" OK "), "{t}");
        }
        let fetch = "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[HEADER])";
        let measure = |compress: bool| -> u64 {
            let mut c = s.connect();
            c.line();
            c.login("plain", "secret");
            let counted = c.count_reads();
            if compress {
                c.compress("z");
            }
            assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
            let before = counted.load(Ordering::Relaxed);
            // Literals inside lines are read as lines too: only the count matters.
            c.send(&format!("f {fetch}\r\n"));
            while !c.line().starts_with("f OK") {}
            counted.load(Ordering::Relaxed) - before
        };
        let plain = measure(false);
        let deflated = measure(true);
        println!(
            "{fetch} over {what} ({} messages): {plain} bytes plain, {deflated} bytes with COMPRESS=DEFLATE \
             ({:.1}%)",
            messages.len(),
            deflated as f64 * 100.0 / plain as f64
        );
        assert!(deflated * 2 < plain, "{deflated} vs {plain}");
    }
}

/// UNAUTHENTICATE (rfc8437) keeps the layer: the next login runs over
/// the same compressed stream, and COMPRESS stays refused. STARTTLS is
/// refused too (TLS cannot go on top of COMPRESS, rfc4978 3).
#[test]
fn unauthenticate_keeps_compression() {
    let s = server()
        .conf("admins: plain")
        .conf("allowplaintext: yes")
        .start();
    let mut c = compressed(s.connect());
    let (_, ok) = c.cmd("u", "UNAUTHENTICATE");
    assert!(ok.starts_with("u OK [CAPABILITY "), "{ok}");
    assert!(!ok.contains("STARTTLS"), "{ok}");
    assert_eq!(
        c.cmd("t", "STARTTLS").1,
        "t BAD Can't Starttls after Compress"
    );
    c.login("plain", "secret");
    assert_eq!(
        c.cmd("z", "COMPRESS DEFLATE").1,
        "z BAD [COMPRESSIONACTIVE] DEFLATE active via COMPRESS"
    );
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
}
