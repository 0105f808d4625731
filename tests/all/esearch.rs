//! Extended SEARCH against the real binary: ESEARCH result options
//! (rfc4731), the saved result `$` (rfc5182 SEARCHRES), OLDER/YOUNGER
//! (rfc5032 WITHIN) and the MODSEQ search key (rfc7162 3.1.5), with the
//! exact lines a client parses.

use std::time::{Duration, Instant};

use crate::store_util::{Session, message, store_server};

/// A session with INBOX selected holding `n` messages (UIDs 1..=n), of
/// which 2, 10 and 11 are \Flagged when there are that many.
fn inbox(s: &crate::harness::TestServer, n: usize) -> Session {
    let mut c = Session::new(s);
    for i in 1..=n {
        c.append("INBOX", &message(&format!("message {i}"), "hello"));
    }
    c.select("INBOX");
    if n >= 11 {
        c.ok("STORE 2,10:11 +FLAGS.SILENT (\\Flagged)");
    }
    c
}

/// `tag command`: the untagged lines and the tagged line, which must be
/// `tag OK Completed`.
fn ok(c: &mut Session, tag: &str, command: &str) -> Vec<String> {
    let (u, t) = c.c.cmd(tag, command);
    assert_eq!(t, format!("{tag} OK Completed"), "{command}\n{u:#?}");
    u
}

#[test]
fn capabilities_in_cyrus_order() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let caps = c.ok("CAPABILITY").remove(0);
    let at = |name: &str| {
        caps.split(' ')
            .position(|w| w == name)
            .unwrap_or_else(|| panic!("no {name} in {caps}"))
    };
    // Cyrus 3.6.1's order (cyrus-compat 2.8); SEARCHRES where 3.12 has it.
    assert!(
        at("CHILDREN") < at("ESEARCH") && at("ESEARCH") < at("MOVE"),
        "{caps}"
    );
    assert!(at("NAMESPACE") < at("SEARCHRES") && at("SEARCHRES") < at("UIDPLUS"));
    assert!(at("UNSELECT") < at("WITHIN") && at("WITHIN") < at("APPENDLIMIT=4294967295"));
}

/// rfc4731 3.1's examples, and a search finding nothing.
#[test]
fn esearch_responses() {
    let s = store_server(&[]);
    let mut c = inbox(&s, 12);
    let program = "FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"";
    assert_eq!(
        ok(
            &mut c,
            "A282",
            &format!("SEARCH RETURN (MIN COUNT) {program}")
        ),
        ["* ESEARCH (TAG \"A282\") MIN 2 COUNT 3"]
    );
    assert_eq!(
        ok(&mut c, "A283", &format!("SEARCH RETURN () {program}")),
        ["* ESEARCH (TAG \"A283\") ALL 2,10:11"]
    );
    c.ok("STORE 1:3 +FLAGS.SILENT (\\Seen)");
    assert_eq!(
        ok(&mut c, "A284", "SEARCH RETURN (MIN) UNSEEN"),
        ["* ESEARCH (TAG \"A284\") MIN 4"]
    );
    assert_eq!(
        ok(&mut c, "A285", "UID SEARCH RETURN (MIN MAX) 1:5000"),
        ["* ESEARCH (TAG \"A285\") UID MIN 1 MAX 12"]
    );
    c.ok("STORE 5:7 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        ok(&mut c, "A286", "SEARCH RETURN (COUNT) DELETED"),
        ["* ESEARCH (TAG \"A286\") COUNT 3"]
    );
    assert_eq!(
        ok(&mut c, "b", "uid search return (all min count max) deleted"),
        ["* ESEARCH (TAG \"b\") UID MIN 5 MAX 7 ALL 5:7 COUNT 3"]
    );
    // Nothing found: the ESEARCH all the same, COUNT only if asked.
    assert_eq!(
        ok(&mut c, "n1", "SEARCH RETURN (MIN MAX ALL) KEYWORD none"),
        ["* ESEARCH (TAG \"n1\")"]
    );
    assert_eq!(
        ok(&mut c, "n2", "UID SEARCH RETURN (ALL COUNT) KEYWORD none"),
        ["* ESEARCH (TAG \"n2\") UID COUNT 0"]
    );
    // Without RETURN: the SEARCH response as before.
    assert_eq!(ok(&mut c, "p", "SEARCH FLAGGED"), ["* SEARCH 2 10 11"]);
    for (command, reply) in [
        (
            "SEARCH RETURN (FOO) ALL",
            "BAD Invalid Search return option foo",
        ),
        (
            "SEARCH RETURN MIN ALL",
            "BAD Missing return options in Search",
        ),
        (
            "SEARCH RETURN (MIN ALL",
            "BAD Missing close parenthesis in Search",
        ),
        (
            "UID SEARCH RETURN (MIN)",
            "BAD Missing required argument to UID Search",
        ),
    ] {
        assert_eq!(c.c.cmd("e", command), (vec![], format!("e {reply}")));
    }
}

/// rfc5182 2.2's examples over the wire: SAVE answers nothing but OK; `$`
/// in FETCH, SEARCH, COPY, STORE and their UID forms, pipelined.
#[test]
fn saved_result() {
    let s = store_server(&[]);
    let mut c = inbox(&s, 12);
    // Make sequence numbers and UIDs differ: UIDs 2, 10, 11 become 1, 9, 10.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    assert!(ok(&mut c, "A282", "SEARCH RETURN (SAVE) FLAGGED").is_empty());
    assert_eq!(
        ok(&mut c, "A283", "FETCH $ (UID)"),
        [
            "* 1 FETCH (UID 2)",
            "* 9 FETCH (UID 10)",
            "* 10 FETCH (UID 11)"
        ]
    );
    assert_eq!(
        ok(&mut c, "A284", "UID FETCH $ (UID)"),
        [
            "* 1 FETCH (UID 2)",
            "* 9 FETCH (UID 10)",
            "* 10 FETCH (UID 11)"
        ]
    );
    assert_eq!(
        ok(&mut c, "A301", "UID SEARCH UID $ SMALLER 4096"),
        ["* SEARCH 2 10 11"]
    );
    assert_eq!(ok(&mut c, "A302", "SEARCH $"), ["* SEARCH 1 9 10"]);
    assert_eq!(
        ok(
            &mut c,
            "P283",
            "SEARCH CHARSET UTF-8 (OR $ 2,3000:3021) TEXT hello"
        ),
        ["* SEARCH 1 2 9 10"]
    );
    // SAVE beside MIN and MAX keeps what they return (rfc5182 2.4).
    assert_eq!(
        ok(&mut c, "C285", "SEARCH RETURN (MAX SAVE MIN) FLAGGED"),
        ["* ESEARCH (TAG \"C285\") MIN 1 MAX 10"]
    );
    assert_eq!(
        ok(&mut c, "f", "UID SEARCH RETURN (ALL) $"),
        ["* ESEARCH (TAG \"f\") UID ALL 2,11"]
    );
    // Example 7, pipelined: SAVE, COPY $, STORE $.
    c.ok("CREATE Junk");
    c.ok("STORE 3:4 +FLAGS.SILENT ($Junk)");
    c.c.send(
        "F282 SEARCH RETURN (SAVE) KEYWORD $Junk\r\nF283 COPY $ Junk\r\n\
         F284 STORE $ +FLAGS.SILENT (\\Deleted)\r\n",
    );
    assert_eq!(
        c.c.until_tagged("F282"),
        (vec![], "F282 OK Completed".into())
    );
    let (u, t) = c.c.until_tagged("F283");
    assert!(
        u.is_empty() && t.starts_with("F283 OK [COPYUID ") && t.ends_with(" 4:5 1:2] Completed"),
        "{t}"
    );
    assert_eq!(
        c.c.until_tagged("F284"),
        (vec![], "F284 OK Completed".into())
    );
    // Expunged messages leave $; an empty $ names nothing, and is no error.
    assert_eq!(
        ok(&mut c, "x", "UID EXPUNGE $"),
        ["* 4 EXPUNGE", "* 3 EXPUNGE"]
    );
    assert!(ok(&mut c, "y", "FETCH $ (UID)").is_empty());
    assert!(ok(&mut c, "E283", "COPY $ Junk").is_empty());
    // A SEARCH with SAVE refused with NO empties $ (rfc5182 2.1).
    c.ok("SEARCH RETURN (SAVE) 1");
    let refused =
        c.c.cmd("B283", "SEARCH RETURN (SAVE) CHARSET X-KLINGON ALL")
            .1;
    assert!(
        refused.starts_with("B283 NO [BADCHARSET (US-ASCII UTF-8 ")
            && refused.ends_with(")] Unrecognized character set"),
        "{refused}"
    );
    assert_eq!(ok(&mut c, "z", "SEARCH $"), ["* SEARCH"]);
    // SELECT starts with an empty $.
    c.ok("SEARCH RETURN (SAVE) 1");
    c.select("INBOX");
    assert_eq!(ok(&mut c, "s", "SEARCH $"), ["* SEARCH"]);
}

/// `$` is part of the session's snapshot: a session that hibernates in
/// IDLE wakes with it.
#[test]
fn saved_result_survives_hibernation() {
    let s = store_server(&["idle_hibernate: 1"]);
    let mut c = inbox(&s, 12);
    c.ok("SEARCH RETURN (SAVE) FLAGGED");
    c.c.send("i IDLE\r\n");
    assert_eq!(c.c.line(), "+ idling");
    let t0 = Instant::now();
    while !s.log().contains(": hibernated (") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "never hibernated:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.c.send("DONE\r\n");
    assert_eq!(c.c.until_tagged("i").1, "i OK Completed");
    assert_eq!(
        ok(&mut c, "f", "FETCH $ (UID)"),
        [
            "* 2 FETCH (UID 2)",
            "* 10 FETCH (UID 10)",
            "* 11 FETCH (UID 11)"
        ]
    );
}

/// rfc5032: OLDER and YOUNGER count seconds back from now, against
/// INTERNALDATE.
#[test]
fn within() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let old = message("old", "x");
    let (_, t) = c.append_full("INBOX", None, Some("01-Jan-2020 00:00:00 +0000"), &old);
    assert!(t.starts_with("OK"), "{t}");
    c.append("INBOX", &message("new", "x"));
    c.select("INBOX");
    assert_eq!(ok(&mut c, "a", "SEARCH YOUNGER 3600"), ["* SEARCH 2"]);
    assert_eq!(ok(&mut c, "b", "SEARCH OLDER 3600"), ["* SEARCH 1"]);
    assert_eq!(
        ok(&mut c, "c", "UID SEARCH RETURN (COUNT) YOUNGER 259200"),
        ["* ESEARCH (TAG \"c\") UID COUNT 1"]
    );
    assert_eq!(
        c.c.cmd("d", "SEARCH OLDER 0"),
        (vec![], "d BAD Invalid interval in Search command".into())
    );
}

/// rfc7162 3.1.5 and 3.1.6: the MODSEQ key enables CONDSTORE (the
/// mailbox's HIGHESTMODSEQ, once) and the SEARCH response ends with the
/// highest mod-sequence found; ESEARCH carries it as MODSEQ (3.1.10).
#[test]
fn modseq_key() {
    let s = store_server(&[]);
    let mut c = inbox(&s, 3);
    let modseq = |c: &mut Session| -> u64 {
        let u = c.ok("STATUS INBOX (HIGHESTMODSEQ)");
        let line = u
            .iter()
            .find(|l| l.starts_with("* STATUS"))
            .expect("STATUS");
        line.rsplit(' ')
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse()
            .unwrap()
    };
    c.ok("STORE 2 +FLAGS.SILENT (\\Draft)");
    let draft = modseq(&mut c);
    c.ok("STORE 3 +FLAGS.SILENT (\\Seen)");
    let seen = modseq(&mut c);
    assert!(draft < seen);
    let u = ok(
        &mut c,
        "a",
        &format!("SEARCH MODSEQ \"/flags/\\\\draft\" all {draft}"),
    );
    assert_eq!(
        u.last().unwrap(),
        &format!("* SEARCH 2 3 (MODSEQ {seen})"),
        "{u:?}"
    );
    assert_eq!(
        ok(&mut c, "b", &format!("SEARCH RETURN (MIN) MODSEQ {draft}")),
        [format!("* ESEARCH (TAG \"b\") MIN 2 MODSEQ {draft}")]
    );
    assert_eq!(
        ok(
            &mut c,
            "c",
            &format!("UID SEARCH RETURN (ALL) MODSEQ {draft}")
        ),
        [format!("* ESEARCH (TAG \"c\") UID ALL 2:3 MODSEQ {seen}")]
    );
    assert_eq!(
        ok(&mut c, "t", &format!("SEARCH MODSEQ {}", seen + 1)),
        ["* SEARCH"]
    );
}
