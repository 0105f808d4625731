//! Message commands against rfc3501 6.4.4-6.4.8 (SEARCH FETCH STORE COPY
//! UID), rfc3516 BINARY, rfc4315 UIDPLUS, rfc6851 MOVE. Every FETCH
//! response goes through the validating reader (store_grammar).

use crate::store_grammar::{Fetch, Val, parse_date_time};
use crate::store_util::*;

/// A MIME message whose every section we know by heart.
const MIME: &str = "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n\
To: Bob <bob@example.net>, \"Carol C.\" <carol@example.net>\r\n\
Cc: undisclosed-recipients:;\r\n\
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n\
Date: Tue, 15 Jun 2010 12:00:00 +0000\r\n\
Message-ID: <mime1@test.example>\r\n\
In-Reply-To: <parent@test.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
The Quick Brown fox jumps over the lazy dog.\r\n\
--XX\r\n\
Content-Type: application/octet-stream; name=\"bin.dat\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"bin.dat\"\r\n\
\r\n\
AAECAwQF/w==\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: inner@example.org\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--XX--\r\n";

const MSG_A: &str = "From: Alice <alice@example.org>\r\n\
To: Bob <bob@example.net>\r\n\
Subject: Meeting agenda\r\n\
Date: Sat, 3 Feb 2001 12:00:00 +0000\r\n\
Message-ID: <a@test.example>\r\n\
\r\n\
Please bring the QUARTERLY numbers.\r\n";

const MSG_C: &str = "From: Carol <carol@example.net>\r\n\
To: Alice <alice@example.org>\r\n\
Subject: Re: Meeting agenda\r\n\
Date: Fri, 25 Dec 2020 12:00:00 +0000\r\n\
Message-ID: <c@test.example>\r\n\
\r\n\
nothing here\r\n";

fn msg_d() -> Vec<u8> {
    let mut m = b"From: Dave <dave@example.com>\r\n\
To: Bob <bob@example.net>\r\n\
Subject: big one\r\n\
Date: Fri, 1 Jan 2021 12:00:00 +0000\r\n\
Message-ID: <d@test.example>\r\n\
\r\n"
        .to_vec();
    for _ in 0..100 {
        m.extend_from_slice(&[b'x'; 70]);
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// Four messages: A (\Flagged, 2001), MIME (\Seen \Answered, 2010),
/// C (\Deleted $Label1, 2020), D (big, 2021). Returns their UIDs; INBOX selected.
fn populate(s: &mut Session) -> Vec<u32> {
    let mut uids = Vec::new();
    for (flags, date, m) in [
        (
            "\\Flagged",
            "03-Feb-2001 12:00:00 +0000",
            MSG_A.as_bytes().to_vec(),
        ),
        (
            "\\Seen \\Answered",
            "15-Jun-2010 12:00:00 +0000",
            MIME.as_bytes().to_vec(),
        ),
        (
            "\\Deleted $Label1",
            "25-Dec-2020 12:00:00 +0000",
            MSG_C.as_bytes().to_vec(),
        ),
        ("", "01-Jan-2021 12:00:00 +0000", msg_d()),
    ] {
        let (_, t) = s.append_full("INBOX", Some(flags), Some(date), &m);
        assert!(t.starts_with("OK"), "{t}");
        uids.push(appenduid(&t).expect(&t).1);
    }
    s.select("INBOX");
    uids
}

fn one(s: &mut Session, cmd: &str) -> Fetch {
    let mut f = s.fetch(cmd);
    assert_eq!(f.len(), 1, "{cmd}: {f:?}");
    f.pop().unwrap()
}

fn lit_search(s: &mut Session, uid: bool, before: &str, text: &str) -> (Vec<String>, String) {
    let tag = s.tag();
    let cmd = if uid { "UID SEARCH" } else { "SEARCH" };
    let mut data = format!("{tag} {cmd} {before} {{{}+}}\r\n", text.len()).into_bytes();
    data.extend_from_slice(text.as_bytes());
    data.extend_from_slice(b"\r\n");
    let (u, t) = s.raw(&tag, &data);
    (u.iter().map(|r| lossy(r)).collect(), t)
}

#[test]
fn search_keys() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let uids = populate(&mut s);
    let cases: &[(&str, &[u32])] = &[
        ("SEARCH ALL", &[1, 2, 3, 4]),
        ("SEARCH SEEN", &[2]),
        ("SEARCH UNSEEN", &[1, 3, 4]),
        ("SEARCH FLAGGED", &[1]),
        ("SEARCH UNFLAGGED", &[2, 3, 4]),
        ("SEARCH ANSWERED", &[2]),
        ("SEARCH UNANSWERED", &[1, 3, 4]),
        ("SEARCH DELETED", &[3]),
        ("SEARCH UNDELETED", &[1, 2, 4]),
        ("SEARCH DRAFT", &[]),
        ("SEARCH KEYWORD $Label1", &[3]),
        ("SEARCH UNKEYWORD $Label1", &[1, 2, 4]),
        ("SEARCH RECENT", &[1, 2, 3, 4]),
        ("SEARCH NEW", &[1, 3, 4]),
        ("SEARCH OLD", &[]),
        ("search from ALICE", &[1]),
        ("SEARCH FROM example.net", &[3]),
        ("SEARCH TO bob", &[1, 2, 4]),
        ("SEARCH CC undisclosed", &[2]),
        ("SEARCH SUBJECT meeting", &[1, 3]),
        ("SEARCH SUBJECT \"re: MEETING\"", &[3]),
        ("SEARCH BODY quarterly", &[1]),
        ("SEARCH BODY \"lazy DOG\"", &[2]),
        ("SEARCH BODY meeting", &[]),
        ("SEARCH TEXT meeting", &[1, 3]),
        ("SEARCH TEXT alice@example.org", &[1, 3]),
        ("SEARCH HEADER Message-ID mime1", &[2]),
        ("SEARCH HEADER In-Reply-To \"\"", &[2]),
        ("SEARCH HEADER X-Missing \"\"", &[]),
        ("SEARCH OR FLAGGED DELETED", &[1, 3]),
        ("SEARCH NOT SEEN", &[1, 3, 4]),
        ("SEARCH NOT OR SEEN FLAGGED", &[3, 4]),
        ("SEARCH (FLAGGED SEEN)", &[]),
        ("SEARCH OR (FLAGGED) (SEEN)", &[1, 2]),
        ("SEARCH FLAGGED SINCE 1-Jan-2000", &[1]),
        ("SEARCH 2:*", &[2, 3, 4]),
        ("SEARCH 1,3", &[1, 3]),
        ("SEARCH *", &[4]),
        ("SEARCH 3:1", &[1, 2, 3]),
        ("SEARCH 2:3 UNSEEN", &[3]),
        ("SEARCH SINCE 1-Jan-2010", &[2, 3, 4]),
        ("SEARCH BEFORE 1-Jan-2010", &[1]),
        ("SEARCH ON 15-Jun-2010", &[2]),
        ("SEARCH ON 16-Jun-2010", &[]),
        ("SEARCH SENTBEFORE 1-Jan-2002", &[1]),
        ("SEARCH SENTSINCE 1-Jan-2021", &[4]),
        ("SEARCH SENTON 25-Dec-2020", &[3]),
        ("SEARCH LARGER 5000", &[4]),
        ("SEARCH SMALLER 400", &[1, 3]),
        ("SEARCH CHARSET US-ASCII SUBJECT agenda", &[1, 3]),
        ("SEARCH CHARSET UTF-8 SUBJECT agenda", &[1, 3]),
    ];
    let mut failures = Vec::new();
    for (cmd, want) in cases {
        let (u, t) = s.run(cmd);
        if !t.starts_with("OK") {
            failures.push(format!("{cmd} -> {t}"));
            continue;
        }
        let got = search_result(&u);
        if got != *want {
            failures.push(format!("{cmd}: got {got:?}, want {want:?}"));
        }
    }
    // Sizes used above.
    assert!(MSG_A.len() < 400 && MSG_C.len() < 400 && MIME.len() > 400);
    // RFC 2047 encoded words are decoded before matching; the key is UTF-8.
    for (key, text, want) in [
        ("CHARSET UTF-8 SUBJECT", "Grüße", vec![2]),
        ("CHARSET UTF-8 SUBJECT", "aus Köln", vec![2]),
        ("CHARSET UTF-8 FROM", "André", vec![2]),
        ("CHARSET UTF-8 TEXT", "Köln", vec![2]),
    ] {
        let (u, t) = lit_search(&mut s, false, key, text);
        if !t.starts_with("OK") {
            failures.push(format!("{key} {text} -> {t}"));
        } else if search_result(&u) != want {
            failures.push(format!(
                "{key} {text}: got {:?}, want {want:?}",
                search_result(&u)
            ));
        }
    }
    // UID SEARCH answers UIDs; rfc3501 6.4.8's example form.
    let (u, t) = s.run(&format!("UID SEARCH 1:100 UID {}:{}", uids[1], uids[2]));
    assert!(t.starts_with("OK"), "{t}");
    assert_eq!(search_result(&u), [uids[1], uids[2]]);
    assert_eq!(s.search("UID SEARCH FLAGGED"), [uids[0]]);
    assert_eq!(s.search(&format!("SEARCH UID {}", uids[3])), [4]);
    assert!(
        failures.is_empty(),
        "SEARCH failures:\n{}",
        failures.join("\n")
    );
    // rfc3501 6.4.4: an unknown charset is NO [BADCHARSET].
    let t = s.fails("SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT a", "NO");
    assert!(t.starts_with("NO [BADCHARSET"), "{t}");
    for bad in [
        "SEARCH",
        "SEARCH FOO",
        "SEARCH SINCE 2010-01-01",
        "SEARCH OR FLAGGED",
        "SEARCH (FLAGGED",
        "SEARCH LARGER x",
        "SEARCH 0",
        "SEARCH UID 1:",
    ] {
        s.fails(bad, "BAD");
    }
}

#[test]
fn fetch_items_sections_and_partials() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    populate(&mut s);
    let m = MIME.as_bytes();
    let f = one(
        &mut s,
        "FETCH 2 (BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] RFC822.SIZE UID)",
    );
    assert_eq!(f.bytes("BODY[]"), m);
    let split = MIME.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(f.bytes("BODY[HEADER]"), &m[..split]);
    assert_eq!(f.bytes("BODY[TEXT]"), &m[split..]);
    assert_eq!(f.req("RFC822.SIZE").num(), m.len() as u64);

    // Parts (rfc3501 6.4.5 section specs).
    let sections: &[(&str, &str)] = &[
        ("1", "The Quick Brown fox jumps over the lazy dog."),
        (
            "1.MIME",
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
        ),
        ("2", "AAECAwQF/w=="),
        (
            "3",
            "From: inner@example.org\r\nSubject: inner\r\n\r\ninner body",
        ),
        (
            "3.HEADER",
            "From: inner@example.org\r\nSubject: inner\r\n\r\n",
        ),
        ("3.TEXT", "inner body"),
        ("3.1", "inner body"),
        ("3.MIME", "Content-Type: message/rfc822\r\n\r\n"),
    ];
    let mut bad = Vec::new();
    for (sec, want) in sections {
        let f = one(&mut s, &format!("FETCH 2 BODY.PEEK[{sec}]"));
        let got = f.bytes(&format!("BODY[{sec}]"));
        if got != want.as_bytes() {
            bad.push(format!("BODY[{sec}]: got {:?}, want {want:?}", lossy(&got)));
        }
    }
    // A non-multipart message has a part 1: its body.
    let f = one(&mut s, "FETCH 1 BODY.PEEK[1]");
    if f.bytes("BODY[1]") != b"Please bring the QUARTERLY numbers.\r\n" {
        bad.push(format!(
            "single-part BODY[1]: {:?}",
            lossy(&f.bytes("BODY[1]"))
        ));
    }
    // A part that does not exist is empty (or NIL), not an error.
    let (u, t) = s.run_lit("FETCH 2 BODY.PEEK[7]");
    if t.starts_with("OK") {
        let f = crate::store_grammar::parse_fetch(&u[0]).unwrap();
        assert!(f.bytes("BODY[7]").is_empty());
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    // HEADER.FIELDS and .NOT: the named lines in order, then the blank line.
    let f = one(
        &mut s,
        "FETCH 1 BODY.PEEK[HEADER.FIELDS (subject FROM x-nothing)]",
    );
    assert_eq!(
        f.bytes("BODY[HEADER.FIELDS (subject FROM x-nothing)]"),
        b"From: Alice <alice@example.org>\r\nSubject: Meeting agenda\r\n\r\n",
        "{:?}",
        f.names()
    );
    let f = one(
        &mut s,
        "FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (Subject From)]",
    );
    assert_eq!(
        f.bytes("BODY[HEADER.FIELDS.NOT (SUBJECT FROM)]"),
        b"To: Bob <bob@example.net>\r\nDate: Sat, 3 Feb 2001 12:00:00 +0000\r\nMessage-ID: <a@test.example>\r\n\r\n"
    );
    let f = one(&mut s, "FETCH 2 BODY.PEEK[3.HEADER.FIELDS (SUBJECT)]");
    assert_eq!(
        f.bytes("BODY[3.HEADER.FIELDS (SUBJECT)]"),
        b"Subject: inner\r\n\r\n"
    );

    // Partials: <origin.count>; the response names the origin only.
    let f = one(&mut s, "FETCH 1 BODY.PEEK[]<0.10>");
    assert_eq!(f.bytes("BODY[]<0>"), &MSG_A.as_bytes()[..10]);
    let f = one(&mut s, "FETCH 1 BODY.PEEK[TEXT]<7.5>");
    assert_eq!(f.bytes("BODY[TEXT]<7>"), b"bring");
    let n = MSG_A.len();
    let f = one(&mut s, &format!("FETCH 1 BODY.PEEK[]<{}.100>", n - 4));
    assert_eq!(
        f.bytes(&format!("BODY[]<{}>", n - 4)),
        &MSG_A.as_bytes()[n - 4..]
    );
    let f = one(&mut s, "FETCH 1 BODY.PEEK[]<100000.10>");
    assert!(
        f.bytes("BODY[]<100000>").is_empty(),
        "past the end is empty"
    );
    let f = one(&mut s, "FETCH 2 BODY.PEEK[1]<4.5>");
    assert_eq!(f.bytes("BODY[1]<4>"), b"Quick");

    // RFC822 forms.
    let f = one(&mut s, "FETCH 1 (RFC822.HEADER)");
    assert_eq!(
        f.bytes("RFC822.HEADER"),
        &MSG_A.as_bytes()[..MSG_A.find("\r\n\r\n").unwrap() + 4]
    );

    // BINARY (rfc3516): decoded content, its size, partials.
    let f = one(
        &mut s,
        "FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1] BINARY.SIZE[1])",
    );
    assert_eq!(f.bytes("BINARY[2]"), [0u8, 1, 2, 3, 4, 5, 255]);
    assert_eq!(f.req("BINARY.SIZE[2]").num(), 7);
    assert_eq!(
        f.bytes("BINARY[1]"),
        b"The Quick Brown fox jumps over the lazy dog."
    );
    assert_eq!(f.req("BINARY.SIZE[1]").num(), 44);
    let f = one(&mut s, "FETCH 2 BINARY.PEEK[2]<5.10>");
    assert_eq!(f.bytes("BINARY[2]<5>"), [5u8, 255]);
    s.fails("FETCH 2 BINARY.PEEK[1.MIME]", "BAD");
    // An unknown transfer encoding is NO [UNKNOWN-CTE] (rfc3516 4.3).
    let odd = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-rot13\r\n\r\nuryyb\r\n";
    s.append("INBOX", odd);
    s.ok("NOOP");
    let (_, t) = s.run_lit("FETCH 5 BINARY.PEEK[1]");
    assert!(t.starts_with("NO [UNKNOWN-CTE]"), "{t}");

    // UID FETCH always includes UID.
    let f = s.fetch("UID FETCH 1:* FLAGS");
    assert_eq!(f.len(), 5);
    assert!(f.iter().all(|x| x.get("UID").is_some()));
    // Non-existent UIDs are ignored (rfc3501 6.4.8).
    assert!(s.fetch("UID FETCH 999999 FLAGS").is_empty());
}

#[test]
fn fetch_envelope_bodystructure_and_macros() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    populate(&mut s);
    let f = one(&mut s, "FETCH 2 (ENVELOPE BODYSTRUCTURE BODY INTERNALDATE)");
    let env = f.req("ENVELOPE").list();
    assert_eq!(env[0].text(), "Tue, 15 Jun 2010 12:00:00 +0000");
    assert_eq!(
        env[1].text(),
        "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=",
        "subject as in the header"
    );
    let addr = |v: &Val| -> Vec<String> { v.list().iter().map(|x| x.text()).collect() };
    let from = env[2].list();
    assert_eq!(from.len(), 1);
    let a = addr(&from[0]);
    assert_eq!(a[1..], ["NIL", "PIRARD", "vm1.ulg.ac.be"], "{a:?}");
    assert!(a[0].contains("Pirard"), "{a:?}");
    // Sender and Reply-To default to From (rfc3501 7.4.2).
    assert_eq!(env[3], env[2]);
    assert_eq!(env[4], env[2]);
    let to = env[5].list();
    assert_eq!(addr(&to[0]), ["Bob", "NIL", "bob", "example.net"]);
    assert_eq!(addr(&to[1]), ["Carol C.", "NIL", "carol", "example.net"]);
    // Group syntax: start (mailbox = group name, host NIL) and end (all NIL).
    let cc = env[6].list();
    assert_eq!(
        addr(&cc[0]),
        ["NIL", "NIL", "undisclosed-recipients", "NIL"]
    );
    assert_eq!(addr(&cc[1]), ["NIL", "NIL", "NIL", "NIL"]);
    assert!(env[7].is_nil());
    assert_eq!(env[8].text(), "<parent@test.example>");
    assert_eq!(env[9].text(), "<mime1@test.example>");
    assert_eq!(
        parse_date_time(&f.req("INTERNALDATE").text()),
        parse_date_time("15-Jun-2010 12:00:00 +0000")
    );

    let bs = f.req("BODYSTRUCTURE").list();
    let parts = bs[0].list();
    assert_eq!(parts.len(), 3);
    assert!(bs[1].text().eq_ignore_ascii_case("MIXED"));
    let params: Vec<String> = bs[2]
        .list()
        .iter()
        .map(|v| v.text().to_ascii_uppercase())
        .collect();
    assert!(
        params.windows(2).any(|w| w == ["BOUNDARY", "XX"]),
        "{params:?}"
    );
    let p1 = parts[0].list();
    assert!(
        p1[0].text().eq_ignore_ascii_case("TEXT") && p1[1].text().eq_ignore_ascii_case("PLAIN")
    );
    assert_eq!(p1[6].num(), 44, "octets of part 1");
    let p2 = parts[1].list();
    assert!(p2[0].text().eq_ignore_ascii_case("APPLICATION"));
    assert!(p2[5].text().eq_ignore_ascii_case("BASE64"));
    assert_eq!(p2[6].num(), 12);
    // body-ext-1part: md5, then disposition ("attachment" ("filename" "bin.dat")).
    let dsp = p2[8].list();
    assert!(dsp[0].text().eq_ignore_ascii_case("attachment"), "{dsp:?}");
    assert_eq!(dsp[1].list()[1].text(), "bin.dat");
    let p3 = parts[2].list();
    assert!(
        p3[0].text().eq_ignore_ascii_case("MESSAGE") && p3[1].text().eq_ignore_ascii_case("RFC822")
    );
    assert_eq!(p3[7].list()[1].text(), "inner", "encapsulated envelope");
    let inner = p3[8].list();
    assert!(inner[0].text().eq_ignore_ascii_case("TEXT"));
    // rfc2046 5.1.1: the CRLF before "--XX--" belongs to the boundary, so
    // the encapsulated message ends at "inner body" and its body is 10
    // octets (as part 1 is 44, not 46, and part 2 is 12, not 14).
    assert_eq!(
        inner[6].num(),
        10,
        "inner body octets (\"inner body\"; its CRLF is the boundary's)"
    );
    // BODY is BODYSTRUCTURE without extension data (the reader enforces it).
    assert_eq!(f.req("BODY").list()[0].list().len(), 3);

    // Single part, no Content-Type: text/plain; charset us-ascii, 7bit.
    let f = one(&mut s, "FETCH 1 BODYSTRUCTURE");
    let b = f.req("BODYSTRUCTURE").list();
    assert!(
        b[0].text().eq_ignore_ascii_case("TEXT") && b[1].text().eq_ignore_ascii_case("PLAIN"),
        "{b:?}"
    );
    assert!(b[5].text().eq_ignore_ascii_case("7BIT"));
    let body_len = MSG_A.len() - (MSG_A.find("\r\n\r\n").unwrap() + 4);
    assert_eq!(b[6].num(), body_len as u64);
    assert_eq!(b[7].num(), 1, "lines");

    // Macros (rfc3501 6.4.5).
    let f = one(&mut s, "FETCH 1 ALL");
    let mut n = f.names();
    n.sort();
    assert_eq!(n, ["ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE"]);
    let f = one(&mut s, "FETCH 1 FAST");
    let mut n = f.names();
    n.sort();
    assert_eq!(n, ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]);
    let f = one(&mut s, "FETCH 1 FULL");
    let mut n = f.names();
    n.sort();
    assert_eq!(
        n,
        ["BODY", "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    );
    // Several messages, several items.
    let f = s.fetch("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)");
    assert_eq!(f.iter().map(|x| x.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
}

#[test]
fn fetch_seen_semantics() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    for i in 0..6 {
        s.append("INBOX", &message(&format!("s{i}"), "body"));
    }
    s.select("INBOX");
    // PEEK forms and RFC822.HEADER leave \Seen alone.
    s.fetch("FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT] RFC822.HEADER BINARY.PEEK[1] RFC822.SIZE)");
    assert!(!one(&mut s, "FETCH 1 FLAGS").has_flag("\\Seen"));
    // BODY[], RFC822, RFC822.TEXT, BINARY[] set it.
    for (i, item) in [
        "BODY[]",
        "RFC822",
        "RFC822.TEXT",
        "BINARY[]",
        "BODY[HEADER]",
    ]
    .iter()
    .enumerate()
    {
        let seq = i + 2;
        s.fetch(&format!("FETCH {seq} {item}"));
        assert!(
            one(&mut s, &format!("FETCH {seq} FLAGS")).has_flag("\\Seen"),
            "{item} sets \\Seen (rfc3501 6.4.5)"
        );
    }
    // Not through EXAMINE.
    let mut s2 = Session::new(&srv);
    s2.append("INBOX", &message("s6", "x"));
    s2.ok("EXAMINE INBOX");
    s2.fetch("FETCH 7 BODY[]");
    assert!(
        !one(&mut s2, "FETCH 7 FLAGS").has_flag("\\Seen"),
        "EXAMINE is read-only"
    );
}

#[test]
fn store_flags() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let uids: Vec<u32> = (0..3)
        .map(|i| s.append("INBOX", &message(&format!("f{i}"), "x")))
        .collect();
    s.select("INBOX");
    let flags_of = |u: &[String], seq: u32| -> Option<String> {
        u.iter()
            .find(|l| l.starts_with(&format!("* {seq} FETCH (")) && l.contains("FLAGS ("))
            .cloned()
    };
    let u = s.ok("STORE 1 +FLAGS (\\Flagged $Important)");
    let l = flags_of(&u, 1).unwrap_or_else(|| panic!("no FETCH: {u:?}"));
    assert!(l.contains("\\Flagged") && l.contains("$Important"), "{l}");
    let u = s.ok("STORE 1 -FLAGS (\\Flagged)");
    let l = flags_of(&u, 1).unwrap();
    assert!(!l.contains("\\Flagged") && l.contains("$Important"), "{l}");
    let u = s.ok("STORE 1:2 FLAGS (\\Answered \\Draft)");
    for seq in [1, 2] {
        let l = flags_of(&u, seq).unwrap_or_else(|| panic!("{u:?}"));
        assert!(
            l.contains("\\Answered") && l.contains("\\Draft") && !l.contains("$Important"),
            "{l}"
        );
    }
    // .SILENT: no FETCH for the changed message (rfc3501 6.4.6).
    let u = s.ok("STORE 3 +FLAGS.SILENT (\\Seen)");
    assert!(flags_of(&u, 3).is_none(), "{u:?}");
    assert!(one(&mut s, "FETCH 3 FLAGS").has_flag("\\Seen"));
    // UID STORE addresses UIDs and its FETCH carries UID.
    let u = s.ok(&format!("UID STORE {} +FLAGS (\\Deleted)", uids[1]));
    let l = flags_of(&u, 2).unwrap_or_else(|| panic!("{u:?}"));
    assert!(l.contains(&format!("UID {}", uids[1])), "{l}");
    // Non-existent UIDs are ignored.
    assert!(
        s.ok("UID STORE 999999 +FLAGS (\\Seen)")
            .iter()
            .all(|l| !l.contains("FETCH"))
    );
    // Flags persist and are visible to other sessions.
    let mut s2 = Session::new(&srv);
    s2.select("INBOX");
    let f = s2.fetch("FETCH 1:3 FLAGS");
    assert!(
        f[0].has_flag("\\Answered") && f[0].has_flag("\\Draft") && !f[0].has_flag("$Important")
    );
    assert!(f[1].has_flag("\\Deleted") && f[2].has_flag("\\Seen"));
    // A change by one session shows up in the other at its next command.
    s.ok("STORE 3 +FLAGS.SILENT (\\Flagged)");
    let u = s2.ok("NOOP");
    assert!(
        flags_of(&u, 3).is_some_and(|l| l.contains("\\Flagged")),
        "{u:?}"
    );
    // Bad STORE arguments.
    s.refused("STORE 1 +FLAGS (\\Recent)");
    s.fails("STORE 1 FLAGZ (\\Seen)", "BAD");
    s.fails("STORE 1 +FLAGS (\\Seen", "BAD");
    s.refused("STORE 9 +FLAGS (\\Seen)");
}

#[test]
fn copy_and_move_with_copyuid() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let (_, t) = s.append_full(
        "INBOX",
        Some("\\Flagged"),
        Some("03-Feb-2001 12:00:00 +0000"),
        MSG_A.as_bytes(),
    );
    let a = appenduid(&t).unwrap().1;
    let b = s.append("INBOX", MIME.as_bytes());
    let c = s.append("INBOX", MSG_C.as_bytes());
    s.ok("CREATE Dest");
    s.select("INBOX");
    let dest_uv = s.status("Dest", "UIDVALIDITY")["UIDVALIDITY"] as u32;
    // COPY: COPYUID pairs source and destination UIDs (rfc4315 3).
    let (u, t) = s.run("COPY 1:2 Dest");
    assert!(t.starts_with("OK"), "{t}");
    let (uv, src, dst) = copyuid(u.iter().chain([&t])).unwrap_or_else(|| panic!("no COPYUID: {t}"));
    assert_eq!(uv, dest_uv);
    assert_eq!(src, [a, b]);
    assert_eq!(dst.len(), 2);
    // Copies keep body, flags and internal date.
    let mut s2 = Session::new(&srv);
    s2.ok("EXAMINE Dest");
    let f = s2.fetch("UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])");
    assert_eq!(f.iter().map(|x| x.uid()).collect::<Vec<_>>(), dst);
    assert_eq!(f[0].bytes("BODY[]"), MSG_A.as_bytes());
    assert_eq!(f[1].bytes("BODY[]"), MIME.as_bytes());
    assert!(f[0].has_flag("\\Flagged"));
    assert_eq!(
        parse_date_time(&f[0].req("INTERNALDATE").text()),
        parse_date_time("03-Feb-2001 12:00:00 +0000")
    );
    s2.ok("CLOSE");
    // The source is unchanged.
    assert_eq!(s.fetch("FETCH 1:* UID").len(), 3);
    // TRYCREATE for a missing destination; nothing created.
    let t = s.fails("COPY 1 Nowhere", "NO");
    assert!(t.starts_with("NO [TRYCREATE]"), "{t}");
    s.fails("STATUS Nowhere (MESSAGES)", "NO");
    // UID COPY of missing UIDs copies nothing.
    let (_, t) = s.run("UID COPY 999999 Dest");
    assert!(t.starts_with("OK") || t.starts_with("NO"), "{t}");
    assert_eq!(s.status("Dest", "MESSAGES")["MESSAGES"], 2);

    // MOVE (rfc6851): untagged COPYUID, then EXPUNGE, then OK.
    let (u, t) = s.run("MOVE 2 Dest");
    assert!(t.starts_with("OK"), "{t}");
    let (_, src, dst2) =
        copyuid(u.iter().chain([&t])).unwrap_or_else(|| panic!("no COPYUID: {u:?} {t}"));
    assert_eq!(src, [b]);
    assert!(dst2[0] > dst[1], "new UID in Dest");
    let cu = u.iter().position(|l| l.contains("[COPYUID")).unwrap_or(0);
    let ex = u
        .iter()
        .position(|l| l.ends_with(" EXPUNGE"))
        .expect("EXPUNGE");
    assert!(cu <= ex, "COPYUID before the EXPUNGEs (rfc6851 4.3): {u:?}");
    let mut left = vec![a, b, c];
    apply_expunges(&mut left, &expunges(&u));
    assert_eq!(left, [a, c]);
    // UID MOVE of several.
    let (u, t) = s.run(&format!("UID MOVE {a},{c} Dest"));
    assert!(t.starts_with("OK"), "{t}");
    apply_expunges(&mut left, &expunges(&u));
    assert!(left.is_empty(), "{u:?}");
    assert_eq!(s.fetch("FETCH 1:* UID").len(), 0);
    assert_eq!(s.status("Dest", "MESSAGES")["MESSAGES"], 5);
    s.refused("MOVE 1 Dest"); // no message 1 any more
    s.refused("MOVE 1 Nowhere");
    // Not in EXAMINE mode.
    s.ok("EXAMINE Dest");
    s.refused("MOVE 1 INBOX");
    assert_eq!(s.status("Dest", "MESSAGES")["MESSAGES"], 5);
}
