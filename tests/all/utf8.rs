//! UTF8=ACCEPT (rfc6855) against the real binary: a session that enabled
//! it and one that did not, on the same mailboxes.

use crate::store_util::*;

const MESSAGE: &str = "From: Jürgen <j@example.de>\r\nSubject: Grüße\r\n\r\nhi\r\n";

fn append(s: &mut Session, tag: &str, utf8_literal: bool) -> String {
    let n = MESSAGE.len();
    let command = if utf8_literal {
        format!("{tag} APPEND INBOX UTF8 (~{{{n}+}}\r\n{MESSAGE})\r\n")
    } else {
        format!("{tag} APPEND INBOX {{{n}+}}\r\n{MESSAGE}\r\n")
    };
    s.raw(tag, command.as_bytes()).1
}

#[test]
fn enabled_and_not() {
    let srv = store_server(&[]);
    let mut rev1 = Session::new(&srv);
    let mut utf8 = Session::new(&srv);
    // rfc6855 4: 8-bit header fields, in either form, need ENABLE first.
    assert!(append(&mut rev1, "a1", false).starts_with("NO [CANNOT] "));
    assert!(append(&mut rev1, "a2", true).starts_with("NO [CANNOT] "));
    assert_eq!(utf8.ok("ENABLE UTF8=ACCEPT"), vec!["* ENABLED UTF8=ACCEPT"]);
    assert!(append(&mut utf8, "a3", true).starts_with("OK [APPENDUID "));
    // rfc6855 3: UTF-8 names for one, modified UTF-7 for the other.
    utf8.ok("CREATE \"Entwürfe\"");
    let listed = utf8.ok("LIST \"\" Entw*");
    assert_eq!(listed, vec!["* LIST (\\HasNoChildren) \"/\" \"Entwürfe\""]);
    let listed = rev1.ok("LIST \"\" Entw*");
    assert_eq!(listed, vec!["* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe"]);
    // rfc6855 8: the header text as stored, or as encoded words.
    utf8.ok("EXAMINE INBOX");
    rev1.ok("EXAMINE INBOX");
    let raw = utf8.ok_lit("FETCH 1 ENVELOPE");
    assert!(
        lossy(&raw[0]).contains("{7}\r\nGrüße"),
        "{}",
        lossy(&raw[0])
    );
    let downgraded = rev1.ok_lit("FETCH 1 ENVELOPE");
    assert!(downgraded[0].is_ascii(), "{}", lossy(&downgraded[0]));
    assert!(lossy(&downgraded[0]).contains("\"=?UTF-8?B?R3LDvMOfZQ==?=\""));
    // SEARCH in UTF-8 without CHARSET in both; CHARSET is BAD once enabled.
    assert_eq!(utf8.search("SEARCH SUBJECT \"GRÜ\""), vec![1]);
    assert_eq!(rev1.search("SEARCH CHARSET UTF-8 SUBJECT \"grü\""), vec![1]);
    utf8.fails("SEARCH CHARSET UTF-8 ALL", "BAD");
}
