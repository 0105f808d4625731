//! IMAP4rev2 (rfc9051): the same session run in IMAP4rev1 mode and, after
//! `ENABLE IMAP4rev2`, in IMAP4rev2 mode, item by item of rfc9051
//! Appendix E, with rfc9051's own examples where it has them.

use super::testing::{restored, run, second_session, settings, with_inbox, with_store};
use crate::session::Session;
use crate::store::{AppendMessage, Flags, MailboxName};

const VACATION: &str = "From: a@example.org\r\nSubject: plans\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nЯ в отпуске до понедельника.\r\n";
const OTHER: &str = "From: b@example.org\r\nSubject: other\r\n\r\nnothing here\r\n";

fn rev2_settings() -> crate::settings::Settings {
    crate::settings::Settings {
        idle_enabled: true,
        ..settings()
    }
}

/// A logged-in session (IDLE on, so IMAP4rev2 is offered) with two
/// messages in INBOX, in IMAP4rev2 mode if `rev2`.
fn session(rev2: bool) -> (Session, tempfile::TempDir) {
    let (mut s, dir) = with_inbox(rev2_settings(), &[VACATION, OTHER]);
    if rev2 {
        assert_eq!(
            run(&mut s, "e ENABLE IMAP4rev2\r\n").0,
            "* ENABLED IMAP4rev2\r\ne OK Completed\r\n"
        );
        assert!(s.rev2());
    }
    (s, dir)
}

fn out(s: &mut Session, line: &str) -> String {
    run(s, &format!("{line}\r\n")).0
}

#[test]
fn advertised_and_enabled() {
    let (mut s, _dir) = session(false);
    let caps = out(&mut s, "c CAPABILITY");
    assert!(
        caps.contains(" IMAP4rev1 ") && caps.contains(" IMAP4rev2 "),
        "{caps}"
    );
    assert_eq!(
        out(&mut s, "e ENABLE imap4REV2 IMAP4rev2"),
        "* ENABLED IMAP4rev2\r\ne OK Completed\r\n"
    );
    // Once only.
    assert_eq!(
        out(&mut s, "e ENABLE IMAP4rev2"),
        "* ENABLED\r\ne OK Completed\r\n"
    );
    // Without IDLE (imapidlepoll: 0), or hidden, it is neither offered
    // nor enabled.
    for hidden in [
        settings(),
        crate::settings::Settings {
            suppress_capabilities: vec!["IMAP4rev2".into()],
            ..rev2_settings()
        },
    ] {
        let (mut s, _dir) = with_store(hidden);
        assert!(!out(&mut s, "c CAPABILITY").contains("IMAP4rev2"));
        assert_eq!(
            out(&mut s, "e ENABLE IMAP4rev2"),
            "* ENABLED\r\ne OK Completed\r\n"
        );
        assert!(!s.rev2());
    }
}

/// Items 9-12: SELECT sends a LIST response and no RECENT or UNSEEN in
/// IMAP4rev2; `* OK [CLOSED]` in both; FETCH FLAGS never shows \Recent.
#[test]
fn select_and_flags() {
    for rev2 in [false, true] {
        let (mut s, _dir) = session(rev2);
        let selected = out(&mut s, "A142 SELECT INBOX");
        assert!(selected.contains("* 2 EXISTS\r\n"), "{selected}");
        assert!(
            selected.contains("* OK [UIDVALIDITY ") && selected.contains("* OK [UIDNEXT 3]"),
            "{selected}"
        );
        assert!(selected.ends_with("A142 OK [READ-WRITE] Completed\r\n"));
        assert_eq!(selected.contains("* 2 RECENT\r\n"), !rev2, "{selected}");
        assert_eq!(selected.contains("[UNSEEN 1]"), !rev2, "{selected}");
        assert_eq!(
            selected.contains("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"),
            rev2,
            "{selected}"
        );
        let flags = out(&mut s, "f FETCH 1 FLAGS");
        let want = if rev2 { "()" } else { "(\\Recent)" };
        assert_eq!(
            flags,
            format!("* 1 FETCH (FLAGS {want})\r\nf OK Completed\r\n")
        );
        let stored = out(&mut s, "s STORE 1 +FLAGS (\\Seen)");
        let want = if rev2 {
            "(\\Seen)"
        } else {
            "(\\Recent \\Seen)"
        };
        assert_eq!(
            stored,
            format!("* 1 FETCH (FLAGS {want})\r\ns OK Completed\r\n")
        );
        // rfc9051 6.3.2's second example: CLOSED before the new mailbox.
        out(&mut s, "c CREATE Drafts");
        let again = out(&mut s, "A143 SELECT Drafts");
        assert!(again.starts_with("* OK [CLOSED] Ok\r\n"), "{again}");
        assert_eq!(
            again.contains("* LIST (\\HasNoChildren) \"/\" Drafts\r\n"),
            rev2,
            "{again}"
        );
    }
}

/// Item 4 and rfc9051 6.4.4's examples: SEARCH answers ESEARCH in
/// IMAP4rev2, SEARCH in IMAP4rev1; with RETURN, ESEARCH in both.
#[test]
fn search_answers_esearch() {
    for rev2 in [false, true] {
        let (mut s, _dir) = session(rev2);
        out(&mut s, "s SELECT INBOX");
        let cases = [
            (
                "A284 SEARCH TEXT \"string not in mailbox\"",
                "* ESEARCH (TAG \"A284\")",
                "* SEARCH",
            ),
            (
                "A285 SEARCH CHARSET UTF-8 TEXT {12}\r\nотпуск",
                "* ESEARCH (TAG \"A285\") ALL 1",
                "* SEARCH 1",
            ),
            (
                "A286 SEARCH UNSEEN",
                "* ESEARCH (TAG \"A286\") ALL 1:2",
                "* SEARCH 1 2",
            ),
            (
                "A287 UID SEARCH ALL",
                "* ESEARCH (TAG \"A287\") UID ALL 1:2",
                "* SEARCH 1 2",
            ),
            (
                "A288 SEARCH RETURN (MIN COUNT) UNSEEN",
                "* ESEARCH (TAG \"A288\") MIN 1 COUNT 2",
                "* ESEARCH (TAG \"A288\") MIN 1 COUNT 2",
            ),
        ];
        for (command, in_rev2, in_rev1) in cases {
            let got = out(&mut s, command).replace("+ go ahead\r\n", "");
            let tag = command.split(' ').next().unwrap();
            let want = if rev2 { in_rev2 } else { in_rev1 };
            assert_eq!(
                got,
                format!("{want}\r\n{tag} OK Completed\r\n"),
                "{command}"
            );
        }
        // SORT keeps its own response.
        assert_eq!(
            out(&mut s, "o SORT (SUBJECT) UTF-8 ALL"),
            "* SORT 2 1\r\no OK Completed\r\n"
        );
    }
}

/// Item 3: STATUS DELETED and SIZE (in both modes).
#[test]
fn status_deleted_and_size() {
    for rev2 in [false, true] {
        let (mut s, _dir) = session(rev2);
        out(&mut s, "s SELECT INBOX");
        out(&mut s, "s STORE 2 +FLAGS.SILENT (\\Deleted)");
        let size = VACATION.len() + OTHER.len();
        assert_eq!(
            out(&mut s, "A042 STATUS INBOX (MESSAGES DELETED SIZE)"),
            format!("* STATUS INBOX (MESSAGES 2 DELETED 1 SIZE {size})\r\nA042 OK Completed\r\n")
        );
        out(&mut s, "c CREATE blurdybloop");
        assert_eq!(
            out(&mut s, "A043 STATUS blurdybloop (UIDNEXT MESSAGES DELETED)"),
            "* STATUS blurdybloop (UIDNEXT 1 MESSAGES 0 DELETED 0)\r\nA043 OK Completed\r\n"
        );
    }
}

/// Items 12 and 21: another session's changes; in IMAP4rev2 no RECENT
/// and every unsolicited FETCH carries UID.
#[test]
fn unsolicited_updates() {
    for rev2 in [false, true] {
        let (mut s, dir) = session(rev2);
        out(&mut s, "s SELECT INBOX");
        let mut other = second_session(&dir);
        out(&mut other, "o SELECT INBOX");
        out(&mut other, "o STORE 2 +FLAGS.SILENT (\\Flagged)");
        let mailbox = MailboxName::inbox();
        let message = AppendMessage {
            data: OTHER.as_bytes().to_vec(),
            flags: Flags::default(),
            keywords: Vec::new(),
            internal_date: None,
        };
        other
            .mail_store()
            .unwrap()
            .append(&mailbox, vec![message])
            .unwrap();
        let noop = out(&mut s, "n NOOP");
        let want = if rev2 {
            "* 3 EXISTS\r\n* 2 FETCH (FLAGS (\\Flagged) UID 2)\r\nn OK Completed\r\n"
        } else {
            "* 3 EXISTS\r\n* 3 RECENT\r\n* 2 FETCH (FLAGS (\\Recent \\Flagged))\r\nn OK Completed\r\n"
        };
        assert_eq!(noop, want);
    }
}

/// Item 16: UTF-8 mailbox names through CREATE, RENAME, LIST, STATUS,
/// SELECT, COPY and DELETE in IMAP4rev2; the same mailboxes in modified
/// UTF-7 to an IMAP4rev1 session of the same user.
#[test]
fn utf8_mailbox_names() {
    let (mut s, dir) = session(true);
    let created = out(&mut s, "c CREATE \"Entwürfe\"");
    assert!(created.starts_with("c OK "), "{created}");
    let list = out(&mut s, "l LIST \"\" *");
    assert!(
        list.contains("* LIST (\\HasNoChildren) \"/\" \"Entwürfe\"\r\n"),
        "{list}"
    );
    assert_eq!(
        out(&mut s, "r RENAME \"Entwürfe\" \"下書き\""),
        "r OK Completed\r\n"
    );
    assert_eq!(
        out(&mut s, "l LIST \"\" \"下*\""),
        "* LIST (\\HasNoChildren) \"/\" \"下書き\"\r\nl OK Completed\r\n"
    );
    // A level with no mailbox of its own is \NonExistent in IMAP4rev2
    // (rfc9051 7.3.1), \Noselect in IMAP4rev1.
    // (Delivered by an MTA into a Maildir++ folder whose parent was
    // never made.)
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.path().join(".Parent.child").join(sub)).unwrap();
    }
    assert_eq!(
        out(&mut s, "l LIST \"\" P%"),
        "* LIST (\\NonExistent \\HasChildren) \"/\" Parent\r\nl OK Completed\r\n"
    );
    // `&` is an ordinary character in UTF-8 names.
    assert!(out(&mut s, "c CREATE a&b").starts_with("c OK "));
    out(&mut s, "s SELECT INBOX");
    let copied = out(&mut s, "c COPY 1 \"下書き\"");
    assert!(copied.contains("[COPYUID "), "{copied}");
    assert_eq!(
        out(&mut s, "t STATUS \"下書き\" (MESSAGES)"),
        "* STATUS \"下書き\" (MESSAGES 1)\r\nt OK Completed\r\n"
    );
    let selected = out(&mut s, "s SELECT \"下書き\"");
    assert!(
        selected.contains("* LIST (\\HasNoChildren) \"/\" \"下書き\"\r\n")
            && selected.ends_with("s OK [READ-WRITE] Completed\r\n"),
        "{selected}"
    );
    // The IMAP4rev1 session of the same user sees modified UTF-7.
    let mut rev1 = second_session(&dir);
    let list = out(&mut rev1, "l LIST \"\" *");
    assert!(list.contains("\"/\" &Tgtm+DBN-\r\n"), "{list}");
    assert!(list.contains("\"/\" a&-b\r\n"), "{list}");
    assert!(
        list.contains("* LIST (\\Noselect \\HasChildren) \"/\" Parent\r\n"),
        "{list}"
    );
    assert_eq!(
        out(&mut rev1, "t STATUS &Tgtm+DBN- (MESSAGES)"),
        "* STATUS &Tgtm+DBN- (MESSAGES 1)\r\nt OK Completed\r\n"
    );
    // A modified UTF-7 name from an IMAP4rev2 client is taken literally.
    assert_eq!(
        out(&mut s, "t STATUS &Tgtm+DBN- (MESSAGES)"),
        "t NO [NONEXISTENT] Mailbox does not exist\r\n"
    );
    out(&mut s, "u UNSELECT");
    assert_eq!(out(&mut s, "d DELETE \"下書き\""), "d OK Completed\r\n");
    assert_eq!(out(&mut s, "l LIST \"\" \"下*\""), "l OK Completed\r\n");
    // Not UTF-8: a quoted string that breaks rfc9051 9 QUOTED-CHAR is
    // BAD; a literal is a string, but not a name.
    let step = s.feed(b"c CREATE \"\xff\"\r\n");
    let refused = super::testing::drain(&mut s, step).0;
    assert_eq!(
        refused,
        "c BAD Invalid UTF-8 in quoted string in Create\r\n"
    );
    let step = s.feed(b"c CREATE {1+}\r\n\xff\r\n");
    let refused = super::testing::drain(&mut s, step).0;
    assert!(
        refused.starts_with("c NO Invalid mailbox name"),
        "{refused}"
    );
}

/// IMAP4rev2 is in the session's snapshot (`enabled`): a session that
/// hibernates or moves to a new guest keeps it.
#[test]
fn rev2_survives_a_snapshot() {
    let (mut s, dir) = session(true);
    out(&mut s, "s SELECT INBOX");
    let mut s = restored(s, &dir, rev2_settings());
    assert!(s.rev2());
    assert_eq!(
        out(&mut s, "a SEARCH ALL"),
        "* ESEARCH (TAG \"a\") ALL 1:2\r\na OK Completed\r\n"
    );
    assert_eq!(
        out(&mut s, "b FETCH 2 FLAGS"),
        "* 2 FETCH (FLAGS ())\r\nb OK Completed\r\n"
    );
}

/// Items 12, 17, 18 and 19: what rfc9051 9 no longer has (CHECK, LSUB,
/// the RFC822, RFC822.HEADER and RFC822.TEXT fetch items, the RECENT, NEW
/// and OLD search keys, STATUS RECENT) is BAD in IMAP4rev2 mode and
/// answered as before in IMAP4rev1 mode; what it kept is answered in both.
#[test]
fn removed_from_the_grammar() {
    let bad = [
        ("c CHECK", "c BAD CHECK is not in IMAP4rev2: use NOOP\r\n"),
        (
            "l LSUB \"\" *",
            "l BAD LSUB is not in IMAP4rev2: use LIST (SUBSCRIBED)\r\n",
        ),
        (
            "f FETCH 1 RFC822.HEADER",
            "f BAD RFC822, RFC822.HEADER and RFC822.TEXT are not IMAP4rev2 fetch items in Fetch\r\n",
        ),
        (
            "f UID FETCH 1:* (FLAGS RFC822.TEXT)",
            "f BAD RFC822, RFC822.HEADER and RFC822.TEXT are not IMAP4rev2 fetch items in UID Fetch\r\n",
        ),
        (
            "f FETCH 1 RFC822",
            "f BAD RFC822, RFC822.HEADER and RFC822.TEXT are not IMAP4rev2 fetch items in Fetch\r\n",
        ),
        (
            "s SEARCH RECENT",
            "s BAD RECENT, NEW and OLD are not IMAP4rev2 search keys (RFC 9051 Appendix E)\r\n",
        ),
        (
            "s UID SEARCH RETURN (COUNT) OR SEEN (NOT NEW)",
            "s BAD RECENT, NEW and OLD are not IMAP4rev2 search keys (RFC 9051 Appendix E)\r\n",
        ),
        (
            "s SORT (DATE) UTF-8 OLD",
            "s BAD RECENT, NEW and OLD are not IMAP4rev2 search keys (RFC 9051 Appendix E)\r\n",
        ),
        (
            "s THREAD REFERENCES UTF-8 NOT RECENT",
            "s BAD RECENT, NEW and OLD are not IMAP4rev2 search keys (RFC 9051 Appendix E)\r\n",
        ),
        (
            "t STATUS INBOX (MESSAGES RECENT)",
            "t BAD Invalid Status attribute RECENT (not in IMAP4rev2) in Status\r\n",
        ),
        (
            "l LIST \"\" INBOX RETURN (STATUS (RECENT))",
            "l BAD Invalid Status attribute RECENT (not in IMAP4rev2) in List\r\n",
        ),
    ];
    for rev2 in [false, true] {
        let (mut s, _dir) = session(rev2);
        out(&mut s, "x SUBSCRIBE INBOX");
        out(&mut s, "x SELECT INBOX");
        for (command, refused) in bad {
            let answer = out(&mut s, command);
            if rev2 {
                assert_eq!(answer, refused, "{command}");
            } else {
                let tag = &command[..2];
                assert!(
                    answer.ends_with(&format!("{tag}OK Completed\r\n")),
                    "{command}: {answer}"
                );
            }
        }
        // IMAP4rev1 answers: the rfc3501 meaning.
        if !rev2 {
            let (mut s, _dir) = session(false);
            out(&mut s, "x SUBSCRIBE INBOX");
            out(&mut s, "x SELECT INBOX");
            assert_eq!(
                out(&mut s, "l LSUB \"\" *"),
                "* LSUB () \"/\" INBOX\r\nl OK Completed\r\n"
            );
            assert_eq!(
                out(&mut s, "s SEARCH NEW"),
                "* SEARCH 1 2\r\ns OK Completed\r\n"
            );
            assert_eq!(
                out(&mut s, "t STATUS INBOX (RECENT)"),
                "* STATUS INBOX (RECENT 2)\r\nt OK Completed\r\n"
            );
        }
        // Kept in rfc9051 9: RFC822.SIZE, the macros, NOOP, LIST
        // (SUBSCRIBED), BODY[HEADER].
        let size = out(&mut s, "f FETCH 1 (RFC822.SIZE)");
        assert!(size.starts_with("* 1 FETCH (RFC822.SIZE "), "{size}");
        let fast = out(&mut s, "f FETCH 1 FAST");
        assert!(fast.ends_with("f OK Completed\r\n"), "{fast}");
        assert_eq!(out(&mut s, "n NOOP"), "n OK Completed\r\n");
        let subscribed = out(&mut s, "l LIST (SUBSCRIBED) \"\" *");
        assert!(
            subscribed.contains("\\Subscribed") && subscribed.ends_with("l OK Completed\r\n"),
            "{subscribed}"
        );
        let header = out(&mut s, "f FETCH 2 BODY.PEEK[HEADER]");
        assert!(header.contains("Subject: other"), "{header}");
    }
}
