//! UTF8=ACCEPT (rfc6855): the same short session before and after
//! `ENABLE UTF8=ACCEPT`, section by section.

use super::testing::{created, restored, run, settings, with_inbox, with_store};
use crate::session::Session;

/// rfc6532 header fields: raw UTF-8 in From and Subject.
const RAW_UTF8: &str = "From: Jürgen Müller <jm@example.de>\r\n\
Subject: Grüße aus München\r\n\
Date: Thu, 06 Feb 2025 09:15:00 +0000\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nÜbermorgen.\r\n";
const ASCII: &str = "From: a@example.org\r\nSubject: plans\r\n\r\nnothing here\r\n";

fn out(s: &mut Session, line: &str) -> String {
    run(s, &format!("{line}\r\n")).0
}

/// A logged-in session with RAW_UTF8 and ASCII in INBOX (stored directly,
/// as an MTA delivers them), UTF8=ACCEPT enabled if `utf8`.
fn session(utf8: bool) -> (Session, tempfile::TempDir) {
    let (mut s, dir) = with_inbox(settings(), &[RAW_UTF8, ASCII]);
    if utf8 {
        assert_eq!(
            out(&mut s, "e ENABLE utf8=accept"),
            "* ENABLED UTF8=ACCEPT\r\ne OK Completed\r\n"
        );
        assert!(s.utf8_accept() && s.utf8() && !s.rev2());
    }
    (s, dir)
}

#[test]
fn advertised_and_enabled_once() {
    let (mut s, _dir) = session(false);
    let caps = out(&mut s, "c CAPABILITY");
    assert!(caps.contains(" UTF8=ACCEPT "), "{caps}");
    assert_eq!(
        out(&mut s, "e ENABLE UTF8=ACCEPT UTF8=ACCEPT"),
        "* ENABLED UTF8=ACCEPT\r\ne OK Completed\r\n"
    );
    assert_eq!(
        out(&mut s, "e ENABLE UTF8=ACCEPT"),
        "* ENABLED\r\ne OK Completed\r\n"
    );
    // Hidden: neither offered nor enabled, and 8-bit APPENDs are not
    // refused (rfc6855 4 binds only a server that offers it).
    let hidden = crate::settings::Settings {
        suppress_capabilities: vec!["UTF8=ACCEPT".into()],
        ..settings()
    };
    let (mut s, _dir) = with_store(hidden);
    assert!(!out(&mut s, "c CAPABILITY").contains("UTF8"));
    assert_eq!(
        out(&mut s, "e ENABLE UTF8=ACCEPT"),
        "* ENABLED\r\ne OK Completed\r\n"
    );
    let line = format!("a APPEND INBOX {{{}+}}\r\n{RAW_UTF8}", RAW_UTF8.len());
    assert!(out(&mut s, &line).starts_with("a OK [APPENDUID "));
}

/// rfc6855 3: UTF-8 mailbox names both ways once enabled; modified UTF-7
/// before, for the same mailbox.
#[test]
fn mailbox_names() {
    let (mut s, _dir) = session(false);
    assert_eq!(
        created(run(&mut s, "c CREATE \"Entw&APw-rfe\"\r\n")),
        "c OK Completed\r\n"
    );
    assert_eq!(
        out(&mut s, "l LIST \"\" \"Entw*\""),
        "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe\r\nl OK Completed\r\n"
    );
    // 8-bit in a name before ENABLE: not a name.
    assert_eq!(
        out(&mut s, "s STATUS \"Entwürfe\" (MESSAGES)"),
        "s NO Invalid mailbox name: 8-bit characters must be modified UTF-7\r\n"
    );
    out(&mut s, "e ENABLE UTF8=ACCEPT");
    assert_eq!(
        out(&mut s, "l LIST \"\" \"Entw*\""),
        "* LIST (\\HasNoChildren) \"/\" \"Entwürfe\"\r\nl OK Completed\r\n"
    );
    assert_eq!(
        out(&mut s, "s STATUS \"Entwürfe\" (MESSAGES)"),
        "* STATUS \"Entwürfe\" (MESSAGES 0)\r\ns OK Completed\r\n"
    );
    assert_eq!(
        out(&mut s, "r RENAME \"Entwürfe\" \"下書き\""),
        "r OK Completed\r\n"
    );
    assert_eq!(
        out(&mut s, "s SELECT \"下書き\"").lines().last().unwrap(),
        "s OK [READ-WRITE] Completed"
    );
    // rfc6855 3: high-bit octets that are not UTF-8 in a quoted string
    // are BAD; a literal is taken as bytes (and is not a UTF-8 name).
    let step = s.feed(b"c CREATE \"\xff\"\r\n");
    assert_eq!(
        super::testing::drain(&mut s, step).0,
        "c BAD Invalid UTF-8 in quoted string in Create\r\n"
    );
    let step = s.feed(b"c CREATE {1+}\r\n\xff\r\n");
    assert_eq!(
        super::testing::drain(&mut s, step).0,
        "c NO Invalid mailbox name: not UTF-8\r\n"
    );
    out(&mut s, "u UNSELECT");
    assert_eq!(out(&mut s, "d DELETE \"下書き\""), "d OK Completed\r\n");
}

/// rfc6855 4: `UTF8 (~{n})` and 8-bit header fields only after ENABLE.
#[test]
fn append() {
    let (mut s, _dir) = session(false);
    let n = RAW_UTF8.len();
    assert_eq!(
        out(&mut s, &format!("a APPEND INBOX {{{n}+}}\r\n{RAW_UTF8}")),
        "a NO [CANNOT] 8-bit characters in header fields need ENABLE UTF8=ACCEPT\r\n"
    );
    assert_eq!(
        out(
            &mut s,
            &format!("a APPEND INBOX UTF8 (~{{{n}+}}\r\n{RAW_UTF8})")
        ),
        "a NO [CANNOT] UTF8 messages need ENABLE UTF8=ACCEPT\r\n"
    );
    // 8-bit only in the body: taken, as before.
    let body_only = "Subject: x\r\n\r\nÜbermorgen.\r\n";
    let line = format!("a APPEND INBOX {{{}+}}\r\n{body_only}", body_only.len());
    assert!(out(&mut s, &line).starts_with("a OK [APPENDUID "));
    out(&mut s, "e ENABLE UTF8=ACCEPT");
    let reply = out(
        &mut s,
        &format!("a APPEND INBOX (\\Seen) UTF8 (~{{{n}+}}\r\n{RAW_UTF8})"),
    );
    assert!(reply.starts_with("a OK [APPENDUID "), "{reply}");
    // A plain literal with UTF-8 header fields is taken too.
    let reply = out(&mut s, &format!("a APPEND INBOX {{{n}+}}\r\n{RAW_UTF8}"));
    assert!(reply.starts_with("a OK [APPENDUID "), "{reply}");
    // rfc6855 4 syntax: the literal is a literal8 in parentheses.
    for bad in [
        format!("a APPEND INBOX UTF8 {{{n}+}}\r\n{RAW_UTF8}"),
        format!("a APPEND INBOX UTF8 ({{{n}+}}\r\n{RAW_UTF8})"),
        format!("a APPEND INBOX UTF8 (~{{{n}+}}\r\n{RAW_UTF8}"),
        format!("a APPEND INBOX UTF9 (~{{{n}+}}\r\n{RAW_UTF8})"),
    ] {
        let reply = out(&mut s, &bad);
        assert!(reply.starts_with("a BAD "), "{bad:?}: {reply}");
    }
    out(&mut s, "s SELECT INBOX");
    let fetched = out(&mut s, "f FETCH 4:5 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert_eq!(
        fetched.matches("Subject: Grüße aus München").count(),
        2,
        "{fetched}"
    );
}

/// rfc6855 8 and rfc6532: ENVELOPE and BODYSTRUCTURE carry the header
/// text as it is once UTF-8 is enabled, rfc2047 encoded words before.
#[test]
fn envelope_and_bodystructure() {
    let fetch = "f FETCH 1:2 (ENVELOPE BODYSTRUCTURE)";
    let (mut s, _dir) = session(false);
    out(&mut s, "s SELECT INBOX");
    let rev1 = out(&mut s, fetch);
    assert!(rev1.is_ascii(), "{rev1}");
    let subject = crate::mime::imap_string::encoded_words("Grüße aus München");
    let name = crate::mime::imap_string::encoded_words("Jürgen Müller");
    assert!(rev1.contains(&format!("\"{subject}\"")), "{rev1}");
    assert!(
        rev1.contains(&format!("((\"{name}\" NIL \"jm\" \"example.de\"))")),
        "{rev1}"
    );
    let (mut s, _dir) = session(true);
    out(&mut s, "s SELECT INBOX");
    let utf8 = out(&mut s, fetch);
    assert!(utf8.contains("{20}\r\nGrüße aus München"), "{utf8}");
    assert!(
        utf8.contains("(({15}\r\nJürgen Müller NIL \"jm\" \"example.de\"))"),
        "{utf8}"
    );
    // The ASCII message is the same in both.
    let second = |t: &str| t[t.find("* 2 FETCH").unwrap()..].to_string();
    assert_eq!(second(&rev1), second(&utf8));
}

/// SEARCH takes UTF-8 without CHARSET; after ENABLE UTF8=ACCEPT a
/// CHARSET is BAD (rfc6855 3).
#[test]
fn search() {
    for utf8 in [false, true] {
        let (mut s, _dir) = session(utf8);
        out(&mut s, "s SELECT INBOX");
        assert_eq!(
            out(&mut s, "a SEARCH SUBJECT \"MÜNCHEN\""),
            "* SEARCH 1\r\na OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "a SEARCH FROM {7+}\r\nmüller"),
            "* SEARCH 1\r\na OK Completed\r\n"
        );
        let with_charset = out(&mut s, "a SEARCH CHARSET UTF-8 SUBJECT \"grüße\"");
        if utf8 {
            assert_eq!(
                with_charset,
                "a BAD CHARSET is not allowed after ENABLE UTF8=ACCEPT\r\n"
            );
            assert_eq!(
                out(&mut s, "a UID SEARCH RETURN (COUNT) charset UTF-8 ALL"),
                "a BAD CHARSET is not allowed after ENABLE UTF8=ACCEPT\r\n"
            );
        } else {
            assert_eq!(with_charset, "* SEARCH 1\r\na OK Completed\r\n");
        }
    }
}

/// UTF8=ACCEPT is in the snapshot's `enabled` list: it survives
/// promotion, hibernation and hot swap.
#[test]
fn survives_a_snapshot() {
    let (mut s, dir) = session(true);
    out(&mut s, "s SELECT INBOX");
    let mut s = restored(s, &dir, settings());
    assert!(s.utf8_accept());
    assert!(out(&mut s, "f FETCH 1 ENVELOPE").contains("{20}\r\nGrüße aus München"));
}
