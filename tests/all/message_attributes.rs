//! Message attributes modern clients list mailboxes with: PREVIEW
//! (rfc8970, with LAZY), SAVEDATE (rfc8514) and the object ids of
//! OBJECTID (rfc8474: MAILBOXID across RENAME, EMAILID across COPY/MOVE,
//! THREADID NIL), against the real binary.

use crate::store_util::{Session, lossy, resp_code, store_server};

const PLAIN: &[u8] =
    b"From: a@example.org\r\nSubject: hello\r\n\r\nDear   team,\r\n\r\nlunch\tat noon?\r\n";
const HTML: &[u8] = b"From: a@example.org\r\nSubject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Caf\xc3\xa9 <b>menu</b></p>\r\n";

fn item<'a>(line: &'a str, name: &str) -> &'a str {
    let at = line
        .find(&format!("{name} "))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 1;
    &line[at..]
}

#[test]
fn preview_of_text_and_html_and_lazy() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    c.append("INBOX", PLAIN);
    c.append("INBOX", HTML);
    c.append("INBOX", b"Content-Type: image/png\r\n\r\nxx\r\n");
    c.select("INBOX");
    let u = c.ok_lit("FETCH 1:3 (PREVIEW)");
    let text: Vec<String> = u.iter().map(|r| lossy(r)).collect();
    assert_eq!(text[0], "* 1 FETCH (PREVIEW \"Dear team, lunch at noon?\")");
    // Non-ASCII goes in a literal, in UTF-8 (rfc8970 3.3).
    assert_eq!(text[1], "* 2 FETCH (PREVIEW {10}\r\nCaf\u{e9} menu)");
    // Nothing to show: an empty string, not NIL (rfc8970 3.2).
    assert_eq!(text[2], "* 3 FETCH (PREVIEW \"\")");
    // LAZY: we have it, so it is sent.
    let u = c.ok("FETCH 1 (UID PREVIEW (LAZY))");
    assert_eq!(
        u,
        vec!["* 1 FETCH (UID 1 PREVIEW \"Dear team, lunch at noon?\")"]
    );
    c.fails("FETCH 1 (PREVIEW (EAGER))", "BAD");
    // PREVIEW does not set \Seen.
    let u = c.ok("FETCH 1 (FLAGS)");
    assert!(!u[0].contains("\\Seen"), "{u:?}");
}

#[test]
fn savedate_is_when_the_message_entered_the_mailbox() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let (_, t) = c.append_full("INBOX", None, Some("01-Jan-2001 10:00:00 +0200"), PLAIN);
    assert!(t.starts_with("OK"), "{t}");
    c.select("INBOX");
    let u = c.ok("FETCH 1 (INTERNALDATE SAVEDATE)");
    let saved = item(&u[0], "SAVEDATE");
    assert!(
        item(&u[0], "INTERNALDATE").starts_with("\" 1-Jan-2001 10:00:00 +0200\""),
        "{u:?}"
    );
    assert!(saved.ends_with(" +0000\")"), "{saved}");
    assert!(!saved.contains("2001"), "{saved}");
    // The day it was saved, from the server's own clock (UTC).
    let today = saved[1..].trim_start();
    let today = &today[..today.find(' ').unwrap()];
    assert_eq!(c.search(&format!("SEARCH SAVEDON {today}")), vec![1]);
    assert_eq!(c.search(&format!("SEARCH SAVEDSINCE {today}")), vec![1]);
    assert!(c.search(&format!("SEARCH SAVEDBEFORE {today}")).is_empty());
    assert_eq!(c.search("SEARCH SAVEDATESUPPORTED"), vec![1]);
    // ON goes by INTERNALDATE, SAVEDON by the save date.
    assert_eq!(c.search("SEARCH ON 1-Jan-2001"), vec![1]);
    assert!(c.search("SEARCH SAVEDON 1-Jan-2001").is_empty());
}

#[test]
fn object_ids_are_stable() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    c.append("INBOX", PLAIN);
    c.append("INBOX", HTML);
    // rfc8474 4.1: CREATE tells the new mailbox's id.
    let (_, t) = c.run("CREATE Work");
    let created = resp_code(&t, "MAILBOXID").expect("MAILBOXID")[0]
        .trim_matches(['(', ')'])
        .to_string();
    let (u, _) = c.select("Work");
    let mailbox_id = |u: &[String]| {
        u.iter()
            .find_map(|l| resp_code(l, "MAILBOXID"))
            .unwrap_or_else(|| panic!("no MAILBOXID in {u:?}"))[0]
            .trim_matches(['(', ')'])
            .to_string()
    };
    let work = mailbox_id(&u);
    assert_eq!(work, created);
    // STATUS MAILBOXID (4.3), also for a mailbox not selected.
    let u = c.ok("STATUS INBOX (MAILBOXID MESSAGES)");
    assert!(u[0].starts_with("* STATUS INBOX (MAILBOXID (F"), "{u:?}");
    assert!(
        work.len() <= 255 && work.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{work}"
    );
    let (u, _) = c.select("INBOX");
    let inbox = mailbox_id(&u);
    assert_ne!(inbox, work);
    let u = c.ok("FETCH 1:2 (EMAILID THREADID)");
    let ids: Vec<String> = u
        .iter()
        .map(|l| item(l, "EMAILID").split(')').next().unwrap()[1..].to_string())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert!(u[0].contains("THREADID NIL"), "{u:?}");
    // COPY and MOVE keep EMAILID (rfc8474 5.1).
    c.ok("COPY 1 Work");
    c.ok("MOVE 2 Work");
    c.ok("RENAME Work Archive");
    let (u, _) = c.select("Archive");
    // RENAME keeps MAILBOXID (rfc8474 4.1).
    assert_eq!(mailbox_id(&u), work);
    let u = c.ok("FETCH 1:2 (EMAILID)");
    assert_eq!(
        u,
        vec![
            format!("* 1 FETCH (EMAILID ({}))", ids[0]),
            format!("* 2 FETCH (EMAILID ({}))", ids[1]),
        ]
    );
    assert_eq!(c.search(&format!("SEARCH EMAILID {}", ids[1])), vec![2]);
    assert!(c.search("SEARCH THREADID T123").is_empty());
    // A mailbox created again under an old name is a new mailbox.
    c.ok("SELECT INBOX");
    c.ok("DELETE Archive");
    c.ok("CREATE Archive");
    let (u, _) = c.select("Archive");
    assert_ne!(mailbox_id(&u), work);
}
