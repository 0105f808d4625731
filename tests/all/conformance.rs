//! Behaviour strict clients and conformance suites check: keywords
//! announced in FLAGS before a FETCH shows them (rfc3501 7.2.6), SENT*
//! searches on the date as written (6.4.4), no NUL in a plain literal
//! (rfc3516 4.4), sections inside an encapsulated message (6.4.5), LIST
//! patterns that are not mailbox names (6.3.8), the capability list after
//! login, and a quiet log for clients that close TLS without close_notify.

use std::time::{Duration, Instant};

use crate::harness::{Client, TestServer, server};
use crate::store_util::{Session, lossy, store_server};

/// Index of the first line satisfying `want`, or a panic showing them all.
fn position(lines: &[String], what: &str, want: impl Fn(&str) -> bool) -> usize {
    lines
        .iter()
        .position(|l| want(l))
        .unwrap_or_else(|| panic!("no {what} in {lines:#?}"))
}

/// `lines` announce `keyword` in FLAGS and PERMANENTFLAGS before the first
/// FETCH that shows it.
fn announced_before_use(lines: &[String], keyword: &str) {
    let has = |l: &str| {
        l.trim_end_matches(')')
            .split(['(', ' ', ')'])
            .any(|w| w == keyword)
    };
    let flags = position(lines, "FLAGS", |l| l.starts_with("* FLAGS (") && has(l));
    let permanent = position(lines, "PERMANENTFLAGS", |l| {
        l.starts_with("* OK [PERMANENTFLAGS (") && has(l) && l.contains("\\*)]")
    });
    let fetch = position(lines, "FETCH", |l| l.contains(" FETCH (") && has(l));
    assert!(
        flags < fetch && permanent < fetch,
        "FLAGS must come first: {lines:#?}"
    );
}

/// Lines up to (and including) one satisfying `want`, within 5 s.
fn lines_until(c: &mut Client, want: impl Fn(&str) -> bool) -> Vec<String> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    loop {
        let l = c.line();
        let done = want(&l);
        out.push(l);
        if done {
            return out;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "{out:#?}");
    }
}

fn two_sessions(s: &TestServer) -> (Session, Session) {
    let mut a = Session::new(s);
    a.append("INBOX", b"Subject: one\r\n\r\none\r\n");
    a.append("INBOX", b"Subject: two\r\n\r\ntwo\r\n");
    a.select("INBOX");
    let mut b = Session::new(s);
    let (u, _) = b.select("INBOX");
    assert!(
        u.iter()
            .any(|l| l == "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)"),
        "{u:#?}"
    );
    (a, b)
}

#[test]
fn new_keywords_are_announced_before_a_fetch_shows_them() {
    let s = store_server(&[]);
    let (mut a, mut b) = two_sessions(&s);

    // The session that stores it hears FLAGS first, too.
    let u = a.ok("STORE 1 +FLAGS ($hello)");
    announced_before_use(&u, "$hello");
    assert!(
        u.contains(&"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $hello)".to_string()),
        "{u:#?}"
    );
    assert!(
        u.contains(
            &"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $hello \\*)] Ok"
                .to_string()
        ),
        "{u:#?}"
    );
    // A keyword already announced is not announced again.
    let u = a.ok("STORE 2 +FLAGS ($hello)");
    assert!(!u.iter().any(|l| l.starts_with("* FLAGS")), "{u:#?}");

    // The other session, at its next NOOP.
    let u = b.ok("NOOP");
    announced_before_use(&u, "$hello");

    // During IDLE, and for an odd keyword (an atom that reads NIL).
    b.c.send("i IDLE\r\n");
    assert_eq!(b.c.line(), "+ idling");
    a.ok("STORE 1 +FLAGS (NIL)");
    let u = lines_until(&mut b.c, |l| l.contains(" FETCH (") && l.contains("NIL"));
    announced_before_use(&u, "NIL");
    b.c.send("DONE\r\n");
    assert_eq!(b.c.until_tagged("i").1, "i OK Completed");

    // A keyword that arrives with a new message (APPEND, COPY).
    let (_, t) = a.append_full(
        "INBOX",
        Some("$keyword1"),
        None,
        b"Subject: three\r\n\r\nthree\r\n",
    );
    assert!(t.starts_with("OK"), "{t}");
    a.ok("CREATE Other");
    a.ok("STORE 1 +FLAGS ($copied)");
    a.ok("COPY 1 Other");
    let u = b.ok("NOOP");
    let flags = position(&u, "FLAGS", |l| {
        l.starts_with("* FLAGS (") && l.contains("$keyword1") && l.contains("$copied")
    });
    position(&u, "EXISTS", |l| l == "* 3 EXISTS");
    if let Some(fetch) = u.iter().position(|l| l.contains(" FETCH (")) {
        assert!(flags < fetch, "{u:#?}");
    }
    let u = b.ok("FETCH 3 FLAGS");
    assert!(!u.iter().any(|l| l.starts_with("* FLAGS")), "{u:#?}");

    // SELECT and EXAMINE list every keyword in use.
    let mut c = Session::new(&s);
    for command in ["SELECT INBOX", "EXAMINE INBOX"] {
        let u = c.ok(command);
        let flags = &u[position(&u, "FLAGS", |l| l.starts_with("* FLAGS ("))];
        for k in ["$hello", "NIL", "$keyword1", "$copied"] {
            assert!(flags.split([' ', '(', ')']).any(|w| w == k), "{k}: {flags}");
        }
    }
    let u = c.ok("SELECT Other");
    let flags = &u[position(&u, "FLAGS", |l| l.starts_with("* FLAGS ("))];
    assert!(flags.contains("$copied"), "{flags}");
}

#[test]
fn a_hibernated_session_hears_of_new_keywords_first() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("idle_hibernate: 1")
        .start();
    let (mut a, mut b) = two_sessions(&s);
    b.c.send("i IDLE\r\n");
    assert_eq!(b.c.line(), "+ idling");
    let t0 = Instant::now();
    while !s.log().contains(": hibernated (") {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    a.ok("STORE 2 +FLAGS ($asleep)");
    let u = lines_until(&mut b.c, |l| {
        l.contains(" FETCH (") && l.contains("$asleep")
    });
    announced_before_use(&u, "$asleep");
    b.c.send("DONE\r\n");
    assert_eq!(b.c.until_tagged("i").1, "i OK Completed");
    // Known now, also to the restored session: not announced again.
    a.ok("STORE 1 +FLAGS ($asleep)");
    let u = b.ok("NOOP");
    assert!(!u.iter().any(|l| l.starts_with("* FLAGS")), "{u:#?}");
    assert!(u.iter().any(|l| l.contains("$asleep")), "{u:#?}");
}

#[test]
fn sent_dates_are_the_dates_as_written() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let dates = [
        // 1: 21:00 UTC on the 24th, written as the 24th.
        Some("Sat, 24 Mar 2007 23:00:00 +0200"),
        // 2: 23:00 UTC on the 24th, written as the 25th.
        Some("Sun, 25 Mar 2007 01:00:00 +0200"),
        // 3: 04:30 UTC on the 25th, written as the 24th.
        Some("Sat, 24 Mar 2007 23:30:00 -0500"),
        // 4, 5: no usable Date: (Cyrus: sent on 1-Jan-1970).
        None,
        Some("not a date at all"),
    ];
    for d in dates {
        let date = d.map(|d| format!("Date: {d}\r\n")).unwrap_or_default();
        c.append("INBOX", format!("{date}Subject: x\r\n\r\nx\r\n").as_bytes());
    }
    c.select("INBOX");
    assert_eq!(c.search("SEARCH SENTON 24-Mar-2007"), vec![1, 3]);
    assert_eq!(c.search("SEARCH SENTON 25-Mar-2007"), vec![2]);
    assert_eq!(c.search("SEARCH SENTSINCE 25-Mar-2007"), vec![2]);
    assert_eq!(c.search("SEARCH SENTBEFORE 25-Mar-2007"), vec![1, 3, 4, 5]);
    assert_eq!(c.search("SEARCH SENTSINCE 24-Mar-2007"), vec![1, 2, 3]);
    assert_eq!(c.search("SEARCH SENTON 1-Jan-1970"), vec![4, 5]);

    // BEFORE/ON/SINCE: the INTERNALDATE's date, in its own zone.
    for (i, date) in [
        "24-Mar-2007 23:00:00 +0200",
        "25-Mar-2007 01:00:00 +0200",
        "24-Mar-2007 23:30:00 -0500",
    ]
    .iter()
    .enumerate()
    {
        let (_, t) = c.append_full("Dated", None, Some(date), b"Subject: y\r\n\r\ny\r\n");
        if t.contains("TRYCREATE") {
            c.ok("CREATE Dated");
            let (_, t) = c.append_full("Dated", None, Some(date), b"Subject: y\r\n\r\ny\r\n");
            assert!(t.starts_with("OK"), "{i}: {t}");
        } else {
            assert!(t.starts_with("OK"), "{i}: {t}");
        }
    }
    c.select("Dated");
    assert_eq!(c.search("SEARCH ON 24-Mar-2007"), vec![1, 3]);
    assert_eq!(c.search("SEARCH SINCE 25-Mar-2007"), vec![2]);
    assert_eq!(c.search("SEARCH BEFORE 25-Mar-2007"), vec![1, 3]);
}

/// `* n FETCH (ITEM {len}\r\n<data>)`: the data of the first literal.
fn literal_of(resp: &[u8]) -> (bool, Vec<u8>) {
    let open = resp
        .iter()
        .position(|&b| b == b'{')
        .expect("a literal in the response");
    let binary = open > 0 && resp[open - 1] == b'~';
    let close = open + resp[open..].iter().position(|&b| b == b'}').unwrap();
    let n: usize = std::str::from_utf8(&resp[open + 1..close])
        .unwrap()
        .parse()
        .unwrap();
    let start = close + 3;
    (binary, resp[start..start + n].to_vec())
}

fn fetch_one(c: &mut Session, item: &str) -> Vec<u8> {
    let u = c.ok_lit(&format!("FETCH 1 ({item})"));
    assert_eq!(
        u.len(),
        1,
        "{:?}",
        u.iter().map(|r| lossy(r)).collect::<Vec<_>>()
    );
    u.into_iter().next().unwrap()
}

#[test]
fn nul_octets_never_go_out_in_a_plain_literal() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let payload: Vec<u8> = (0u8..=255).chain([0, 0, b'\r', b'\n', 0]).collect();
    let mut msg = b"From: a@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nhello\r\n--b\r\n\
        Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    msg.extend_from_slice(&payload);
    msg.extend_from_slice(b"\r\n--b--\r\n");
    let tag = c.tag();
    let mut cmd = format!("{tag} APPEND INBOX ~{{{}}}\r\n", msg.len()).into_bytes();
    c.c.send_bytes(&cmd);
    assert!(c.c.line().starts_with('+'));
    cmd = msg.clone();
    cmd.extend_from_slice(b"\r\n");
    let (_, t) = c.raw(&tag, &cmd);
    assert!(t.starts_with("OK"), "{t}");
    c.select("INBOX");

    for item in ["BODY.PEEK[]", "BODY.PEEK[2]", "RFC822", "BODY.PEEK[TEXT]"] {
        let r = fetch_one(&mut c, item);
        let (binary, data) = literal_of(&r);
        assert!(!binary, "{item}: a plain literal");
        assert!(!data.contains(&0), "{item} has NUL: {}", lossy(&data));
    }
    // BINARY returns the exact octets, in a literal8.
    let (binary, data) = literal_of(&fetch_one(&mut c, "BINARY.PEEK[2]"));
    assert!(binary);
    assert_eq!(data, payload);
    let r = lossy(&fetch_one(&mut c, "BINARY.SIZE[2]"));
    assert!(
        r.contains(&format!("BINARY.SIZE[2] {})", payload.len())),
        "{r}"
    );
    // The other part is untouched.
    let (_, data) = literal_of(&fetch_one(&mut c, "BODY.PEEK[1]"));
    assert_eq!(data, b"hello");

    // BODYSTRUCTURE, BODY[2.MIME], RFC822.SIZE and BODY[] agree.
    let r = lossy(&fetch_one(&mut c, "BODYSTRUCTURE"));
    assert!(
        r.contains("(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\""),
        "{r}"
    );
    let (_, mime) = literal_of(&fetch_one(&mut c, "BODY.PEEK[2.MIME]"));
    let mime = lossy(&mime);
    assert!(
        mime.contains("Content-Transfer-Encoding: base64\r\n") && !mime.contains("binary"),
        "{mime}"
    );
    let (_, whole) = literal_of(&fetch_one(&mut c, "BODY.PEEK[]"));
    let r = lossy(&fetch_one(&mut c, "RFC822.SIZE"));
    assert!(r.contains(&format!("RFC822.SIZE {})", whole.len())), "{r}");

    // A NUL in a header cannot be carried by any encoding: refused.
    let bad = b"Subject: a\0b\r\n\r\nbody\r\n";
    let tag = c.tag();
    c.c.send_bytes(format!("{tag} APPEND INBOX ~{{{}}}\r\n", bad.len()).as_bytes());
    assert!(c.c.line().starts_with('+'));
    let mut data = bad.to_vec();
    data.extend_from_slice(b"\r\n");
    let (_, t) = c.raw(&tag, &data);
    assert!(t.starts_with("NO"), "{t}");
    let u = c.ok("NOOP");
    assert!(!u.iter().any(|l| l.contains("EXISTS")), "{u:?}");
}

#[test]
fn sections_inside_an_encapsulated_multipart_message() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let inner_header = "From: inner@example.org\r\nSubject: digest\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n";
    let inner_text = "--d\r\n\r\nSubject: first\r\n\r\nfirst body\r\n\
        --d\r\n\r\nSubject: second\r\n\r\nsecond body\r\n--d--\r\n";
    let msg = format!(
        "From: outer@example.org\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
         Content-Type: message/rfc822\r\n\r\n{inner_header}{inner_text}"
    );
    c.append("INBOX", msg.as_bytes());
    c.select("INBOX");
    let text = |c: &mut Session, item: &str| lossy(&literal_of(&fetch_one(c, item)).1);
    assert_eq!(text(&mut c, "BODY.PEEK[1.HEADER]"), inner_header);
    assert_eq!(text(&mut c, "BODY.PEEK[1.TEXT]"), inner_text);
    assert_eq!(
        text(&mut c, "BODY.PEEK[1.1]"),
        "Subject: first\r\n\r\nfirst body"
    );
    assert_eq!(text(&mut c, "BODY.PEEK[1.2.TEXT]"), "second body");
    assert_eq!(
        text(&mut c, "BODY.PEEK[1.2.HEADER]"),
        "Subject: second\r\n\r\n"
    );

    // The same one level down, inside a multipart/mixed.
    let msg = format!(
        "Subject: wrapper\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
         Content-Type: text/plain\r\n\r\nintro\r\n--m\r\n\
         Content-Type: message/rfc822\r\n\r\n{inner_header}{inner_text}\r\n--m--\r\n"
    );
    c.append("INBOX", msg.as_bytes());
    c.ok("NOOP");
    let text2 = |c: &mut Session, item: &str| {
        let u = c.ok_lit(&format!("FETCH 2 ({item})"));
        lossy(&literal_of(&u[0]).1)
    };
    assert_eq!(text2(&mut c, "BODY.PEEK[2.TEXT]"), inner_text);
    assert_eq!(text2(&mut c, "BODY.PEEK[2.HEADER]"), inner_header);
    assert_eq!(text2(&mut c, "BODY.PEEK[2.2.TEXT]"), "second body");
}

#[test]
fn list_patterns_need_not_be_valid_mailbox_names() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    c.ok("CREATE \"a&-b\"");
    for pattern in [
        "\"&foo*\"",
        "\"!#$&'+,-.:;<=>?@^_`|[}\"",
        "\"&Jjo\"",
        "\"*&\"",
    ] {
        let u = c.ok(&format!("LIST \"\" {pattern}"));
        assert!(u.iter().all(|l| l.starts_with("* LIST")), "{u:?}");
        c.ok(&format!("LSUB \"\" {pattern}"));
    }
    // Matched against the names as they go on the wire.
    let u = c.ok("LIST \"\" \"a&*\"");
    assert_eq!(u, vec!["* LIST (\\HasNoChildren) \"/\" a&-b"]);
    // Commands that name a mailbox still refuse invalid names.
    c.fails("CREATE \"&foo\"", "NO");
    c.fails("SELECT \"&foo\"", "NO");
}

#[test]
fn no_logindisabled_after_login() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let u = c.ok("CAPABILITY");
    assert!(
        u[0].starts_with("* CAPABILITY IMAP4rev1") && !u[0].contains("LOGINDISABLED"),
        "{u:?}"
    );
}

#[test]
fn tls_close_without_close_notify_is_logged_as_a_normal_end() {
    let s = server().conf("allowplaintext: yes").start();
    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    assert!(c.cmd("n", "NOOP").1.starts_with("n OK"));
    // Close the TCP connection under the TLS session: no close_notify.
    c.raw
        .take()
        .unwrap()
        .shutdown(std::net::Shutdown::Both)
        .unwrap();
    drop(c);
    let t0 = Instant::now();
    while !s.log().contains("without TLS close_notify") {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("without TLS close_notify"))
        .unwrap();
    assert!(line.contains(": client closed the connection"), "{line}");
    assert!(!log.contains("session ended"), "{log}");
    assert!(!log.contains("https://"), "{log}");
}
