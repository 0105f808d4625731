//! The mailbox-level commands end to end through the session, with exact
//! expected bytes (a temporary directory as the mail tree).

use super::testing::*;
use crate::session::{Action, State};
use crate::settings::Settings;
use crate::store::MailboxName;

const MSG: &str = "Subject: hi\r\n\r\nhello\r\n"; // 22 bytes

fn uidvalidity(s: &mut crate::session::Session, name: &str) -> u32 {
    let name = MailboxName::new(name).unwrap();
    s.mail_store()
        .unwrap()
        .status(&name, false)
        .unwrap()
        .uidvalidity
}

fn append(s: &mut crate::session::Session, mailbox: &str, flags: &str) -> String {
    run(
        s,
        &format!("a APPEND {mailbox} {flags}{{{}+}}\r\n{MSG}\r\n", MSG.len()),
    )
    .0
}

#[test]
fn select_and_examine() {
    let (mut s, dir) = store_session();
    let v = uidvalidity(&mut s, "INBOX");
    // INBOX is the tree's root; its MAILBOXID (rfc8474 4.2) is made once.
    let id = crate::store::mailbox::mailbox_id(dir.path()).unwrap();
    assert_eq!(
        run(&mut s, "a SELECT inbox\r\n"),
        (
            format!(
                "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)\r\n\
                 * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen \\*)] Ok\r\n\
                 * 0 EXISTS\r\n* 0 RECENT\r\n\
                 * OK [UIDVALIDITY {v}] Ok\r\n* OK [UIDNEXT 1] Ok\r\n\
                 * OK [HIGHESTMODSEQ 1] Ok\r\n* OK [MAILBOXID ({id})] Ok\r\n\
                 a OK [READ-WRITE] Completed\r\n"
            ),
            Action::None
        )
    );
    assert_eq!(s.state(), State::Selected);
    // Two messages, the first \Seen, the second with a keyword.
    append(&mut s, "INBOX", "(\\Seen) ");
    append(&mut s, "INBOX", "($Junk) ");
    let (out, _) = run(&mut s, "b EXAMINE INBOX\r\n");
    assert_eq!(
        out,
        format!(
            "* OK [CLOSED] Ok\r\n\
             * FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $Junk)\r\n\
             * OK [PERMANENTFLAGS ()] Ok\r\n\
             * 2 EXISTS\r\n* 0 RECENT\r\n* OK [UNSEEN 2] Ok\r\n\
             * OK [UIDVALIDITY {v}] Ok\r\n* OK [UIDNEXT 3] Ok\r\n\
             * OK [HIGHESTMODSEQ 3] Ok\r\n* OK [MAILBOXID ({id})] Ok\r\n\
             b OK [READ-ONLY] Completed\r\n"
        )
    );
    // A failed SELECT leaves no mailbox selected (rfc3501 6.3.1).
    assert_eq!(
        run(&mut s, "c SELECT nowhere\r\n").0,
        "* OK [CLOSED] Ok\r\nc NO [NONEXISTENT] Mailbox does not exist\r\n"
    );
    assert_eq!(s.state(), State::Authenticated);
    assert_eq!(
        run(&mut s, "d FETCH 1 FLAGS\r\n").0,
        "d BAD Please select a mailbox first\r\n"
    );
    assert_eq!(
        run(&mut s, "e SELECT\r\n").0,
        "e BAD Missing required argument to Select\r\n"
    );
    assert_eq!(
        run(&mut s, "e SELECT INBOX x\r\n").0,
        "e BAD Unexpected extra arguments to Select\r\n"
    );
    assert_eq!(
        run(&mut s, "f SELECT \"a/../b\"\r\n").0,
        "f NO Invalid mailbox name: \"..\" is not allowed as a level\r\n"
    );
    assert_eq!(
        run(&mut s, "f EXAMINE &Jjo\r\n").0,
        "f NO Invalid mailbox name: unterminated &-sequence\r\n"
    );
}

#[test]
fn recent_on_select() {
    let (mut s, dir) = store_session();
    append(&mut s, "INBOX", "");
    let mut other = second_session(&dir);
    let v = uidvalidity(&mut s, "INBOX");
    // EXAMINE shows \Recent but leaves it (rfc3501 6.3.2); the first
    // SELECT claims it.
    let examined = run(&mut other, "a EXAMINE INBOX\r\n").0;
    assert!(
        examined.contains("* 1 EXISTS\r\n* 1 RECENT\r\n"),
        "{examined}"
    );
    let out = run(&mut s, "a SELECT INBOX\r\n").0;
    assert!(
        out.contains("* 1 EXISTS\r\n* 1 RECENT\r\n* OK [UNSEEN 1] Ok\r\n"),
        "{out}"
    );
    assert!(out.contains(&format!("* OK [UIDVALIDITY {v}] Ok\r\n")));
    let out = run(&mut other, "a SELECT INBOX\r\n").0;
    assert!(out.contains("* 1 EXISTS\r\n* 0 RECENT\r\n"), "{out}");
}

#[test]
fn create_delete_rename() {
    let (mut s, _dir) = store_session();
    assert_eq!(
        created(run(&mut s, "a CREATE owatagusiam/\r\n")),
        "a OK Completed\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE owatagusiam/blurdybloop\r\n")),
        "a OK Completed\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE owatagusiam\r\n")),
        "a NO [ALREADYEXISTS] Mailbox already exists\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE inbox\r\n")),
        "a NO [ALREADYEXISTS] Mailbox already exists\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE a//b\r\n")),
        "a NO Invalid mailbox name: empty hierarchy level in \"a//b\"\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE \"\"\r\n")),
        "a NO Invalid mailbox name: empty name\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE \"..\"\r\n")),
        "a NO Invalid mailbox name: \"..\" is not allowed as a level\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE \"caf\u{e9}\"\r\n")),
        "a NO Invalid mailbox name: 8-bit characters must be modified UTF-7\r\n"
    );
    assert_eq!(
        created(run(&mut s, "a CREATE Entw&APw-rfe\r\n")),
        "a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST \"\" *\r\n").0,
        "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe\r\n\
         * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
         * LIST (\\HasChildren) \"/\" owatagusiam\r\n\
         * LIST (\\HasNoChildren) \"/\" owatagusiam/blurdybloop\r\n\
         a OK Completed\r\n"
    );
    // rfc3501 6.3.4: a mailbox with inferiors becomes \Noselect, and then
    // cannot be deleted while they exist.
    assert_eq!(
        run(&mut s, "a DELETE owatagusiam\r\n").0,
        "a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST \"\" owatagusiam*\r\n").0,
        "* LIST (\\Noselect \\HasChildren) \"/\" owatagusiam\r\n\
         * LIST (\\HasNoChildren) \"/\" owatagusiam/blurdybloop\r\n\
         a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a DELETE owatagusiam\r\n").0,
        "a NO [CANNOT] Mailbox has inferior hierarchical names\r\n"
    );
    assert_eq!(
        run(&mut s, "a DELETE INBOX\r\n").0,
        "a NO [CANNOT] Operation is not supported on mailbox\r\n"
    );
    assert_eq!(
        run(&mut s, "a DELETE nothere\r\n").0,
        "a NO [NONEXISTENT] Mailbox does not exist\r\n"
    );
    // RENAME with inferiors.
    assert_eq!(
        run(&mut s, "a RENAME owatagusiam x\r\n").0,
        "a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST x *\r\n").0,
        "* LIST (\\HasNoChildren) \"/\" x/blurdybloop\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a RENAME x/blurdybloop Entw&APw-rfe\r\n").0,
        "a NO [ALREADYEXISTS] Mailbox already exists\r\n"
    );
    assert_eq!(
        run(&mut s, "a RENAME nothere y\r\n").0,
        "a NO [NONEXISTENT] Mailbox does not exist\r\n"
    );
    assert_eq!(
        run(&mut s, "a RENAME x x/y\r\n").0,
        "a NO [CANNOT] Cannot rename a mailbox to itself or an inferior\r\n"
    );
    assert_eq!(
        run(&mut s, "a RENAME x\r\n").0,
        "a BAD Missing required argument to Rename\r\n"
    );
}

/// The subscriptions of a renamed mailbox and its inferiors move with
/// them; others stay.
#[test]
fn rename_moves_subscriptions() {
    let (mut s, _dir) = store_session();
    for m in ["work", "work/2024", "play"] {
        run(&mut s, &format!("a CREATE {m}\r\n"));
        run(&mut s, &format!("a SUBSCRIBE {m}\r\n"));
    }
    assert_eq!(run(&mut s, "a RENAME work job\r\n").0, "a OK Completed\r\n");
    assert_eq!(
        run(&mut s, "a LSUB \"\" *\r\n").0,
        "* LSUB () \"/\" job\r\n* LSUB () \"/\" job/2024\r\n* LSUB () \"/\" play\r\na OK Completed\r\n"
    );
}

#[test]
fn rename_inbox_moves_its_mail() {
    let (mut s, _dir) = store_session();
    append(&mut s, "INBOX", "");
    append(&mut s, "INBOX", "");
    run(&mut s, "a SELECT INBOX\r\n");
    // The selected INBOX stays selected and learns it is empty.
    assert_eq!(
        run(&mut s, "a RENAME INBOX old-mail\r\n").0,
        "* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n* 0 EXISTS\r\n* 0 RECENT\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a STATUS old-mail (MESSAGES UIDNEXT)\r\n").0,
        "* STATUS old-mail (MESSAGES 2 UIDNEXT 3)\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a STATUS INBOX (MESSAGES)\r\n").0,
        "* STATUS INBOX (MESSAGES 0)\r\na OK Completed\r\n"
    );
}

#[test]
fn deleting_or_renaming_the_selected_mailbox_closes_it() {
    let (mut s, _dir) = store_session();
    run(&mut s, "a CREATE Trash\r\n");
    run(&mut s, "a SELECT Trash\r\n");
    assert_eq!(
        run(&mut s, "a DELETE trash\r\n").0,
        "a NO [NONEXISTENT] Mailbox does not exist\r\n"
    );
    assert_eq!(s.state(), State::Selected);
    assert_eq!(
        run(&mut s, "a DELETE Trash\r\n").0,
        "* OK [CLOSED] Ok\r\na OK Completed\r\n"
    );
    assert_eq!(s.state(), State::Authenticated);
    run(&mut s, "a CREATE Junk\r\n");
    run(&mut s, "a SELECT Junk\r\n");
    assert_eq!(
        run(&mut s, "a RENAME Junk Spam\r\n").0,
        "* OK [CLOSED] Ok\r\na OK Completed\r\n"
    );
    assert_eq!(s.state(), State::Authenticated);
}

#[test]
fn list_patterns() {
    let (mut s, _dir) = store_session();
    for m in ["Drafts", "Work", "Work/Projects", "Work/Projects/X", "a b"] {
        assert_eq!(
            created(run(&mut s, &format!("a CREATE \"{m}\"\r\n"))),
            "a OK Completed\r\n"
        );
    }
    assert_eq!(
        run(&mut s, "a LIST \"\" \"\"\r\n").0,
        "* LIST (\\Noselect) \"/\" \"\"\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST \"\" %\r\n").0,
        "* LIST (\\HasNoChildren) \"/\" Drafts\r\n\
         * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
         * LIST (\\HasChildren) \"/\" Work\r\n\
         * LIST (\\HasNoChildren) \"/\" \"a b\"\r\n\
         a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST Work/ %\r\n").0,
        "* LIST (\\HasChildren) \"/\" Work/Projects\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST Work *\r\n").0,
        "* LIST (\\HasChildren) \"/\" Work/Projects\r\n\
         * LIST (\\HasNoChildren) \"/\" Work/Projects/X\r\n\
         a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST \"\" inbox\r\n").0,
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\na OK Completed\r\n"
    );
    assert_eq!(run(&mut s, "a LIST \"\" {4}\r\n").0, "+ go ahead\r\n");
    assert_eq!(
        run(&mut s, "W%/%\r\n").0,
        "* LIST (\\HasChildren) \"/\" Work/Projects\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST \"\" nomatch\r\n").0,
        "a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, &format!("a LIST \"\" {}\r\n", "%*".repeat(3000))).0,
        "a NO [CANNOT] Mailbox pattern too long\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST \"\"\r\n").0,
        "a BAD Missing required argument to List\r\n"
    );
    assert_eq!(
        run(&mut s, "a LIST \"\" (\r\n").0,
        "a BAD Invalid mailbox pattern in List\r\n"
    );
}

#[test]
fn subscriptions() {
    let (mut s, _dir) = with_store(Settings {
        autocreate_folders: vec!["Sent".into()],
        ..settings()
    });
    assert_eq!(
        run(&mut s, "a LSUB \"\" *\r\n").0,
        "* LSUB () \"/\" Sent\r\na OK Completed\r\n"
    );
    run(&mut s, "a CREATE news/comp/mail\r\n");
    assert_eq!(
        run(&mut s, "a SUBSCRIBE news/comp/mail\r\n").0,
        "a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a SUBSCRIBE nothere\r\n").0,
        "a NO [NONEXISTENT] Mailbox does not exist\r\n"
    );
    // rfc3501 6.3.9: `%` stopping at an unsubscribed superior lists it
    // \Noselect.
    assert_eq!(
        run(&mut s, "a LSUB \"\" news/%\r\n").0,
        "* LSUB (\\Noselect) \"/\" news/comp\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a UNSUBSCRIBE Sent\r\n").0,
        "a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a UNSUBSCRIBE Sent\r\n").0,
        "a OK Completed\r\n"
    );
    assert_eq!(
        run(&mut s, "a LSUB \"\" *\r\n").0,
        "* LSUB () \"/\" news/comp/mail\r\na OK Completed\r\n"
    );
}

#[test]
fn namespace() {
    let (mut s, _dir) = store_session();
    assert_eq!(
        run(&mut s, "a NAMESPACE\r\n").0,
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))\r\na OK Completed\r\n"
    );
}

#[test]
fn status() {
    let (mut s, _dir) = store_session();
    append(&mut s, "INBOX", "(\\Seen) ");
    append(&mut s, "INBOX", "");
    let v = uidvalidity(&mut s, "INBOX");
    assert_eq!(
        run(
            &mut s,
            "a STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE)\r\n"
        )
        .0,
        format!(
            "* STATUS INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY {v} UNSEEN 1 SIZE 44)\r\n\
             a OK Completed\r\n"
        )
    );
    assert_eq!(
        run(&mut s, "a STATUS nothere (MESSAGES)\r\n").0,
        "a NO [NONEXISTENT] Mailbox does not exist\r\n"
    );
    assert_eq!(
        run(&mut s, "a STATUS INBOX (BOGUS)\r\n").0,
        "a BAD Invalid Status attribute in Status\r\n"
    );
    assert_eq!(
        run(&mut s, "a STATUS INBOX ()\r\n").0,
        "a BAD Empty list in Status\r\n"
    );
    // The selected mailbox: this session's own view.
    run(&mut s, "a SELECT INBOX\r\n");
    assert_eq!(
        run(&mut s, "a STATUS INBOX (RECENT MESSAGES)\r\n").0,
        "* STATUS INBOX (RECENT 2 MESSAGES 2)\r\na OK Completed\r\n"
    );
}

#[test]
fn append_forms() {
    let (mut s, _dir) = store_session();
    let v = uidvalidity(&mut s, "INBOX");
    // rfc3501 6.3.11's example, with a synchronizing literal.
    let message = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
                   From: Fred Foobar <foobar@Blurdybloop.COM>\r\n\
                   Subject: afternoon meeting\r\n\
                   To: mooch@owatagu.siam.edu\r\n\
                   Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n\
                   MIME-Version: 1.0\r\n\
                   Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
                   \r\n\
                   Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    assert_eq!(
        run(
            &mut s,
            &format!(
                "A003 APPEND saved-messages (\\Seen) {{{}}}\r\n",
                message.len()
            )
        )
        .0,
        "+ go ahead\r\n"
    );
    assert_eq!(
        run(&mut s, &format!("{message}\r\n")).0,
        "A003 NO [TRYCREATE] Mailbox does not exist\r\n"
    );
    run(&mut s, "a CREATE saved-messages\r\n");
    let saved = uidvalidity(&mut s, "saved-messages");
    assert_eq!(
        run(
            &mut s,
            &format!(
                "A003 APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {{{}+}}\r\n{message}\r\n",
                message.len()
            )
        )
        .0,
        format!("A003 OK [APPENDUID {saved} 1] Completed\r\n")
    );
    let stored = {
        let m = s
            .mail_store()
            .unwrap()
            .examine(&MailboxName::new("saved-messages").unwrap())
            .unwrap();
        let r = m.by_seq(1).unwrap().clone();
        (
            r.internal_date,
            r.tz_offset_minutes,
            r.flags,
            m.read_message(&r).unwrap(),
        )
    };
    assert_eq!(stored.0, 837_596_665);
    assert_eq!(stored.1, -420);
    assert!(stored.2.contains(crate::store::Flags::SEEN));
    assert_eq!(stored.3, message.as_bytes());
    // rfc3502 MULTIAPPEND: two messages, one UID set.
    assert_eq!(
        run(
            &mut s,
            &format!(
                "b APPEND INBOX {{{n}+}}\r\n{MSG} (\\Flagged $Label1) {{{n}+}}\r\n{MSG}\r\n",
                n = MSG.len()
            )
        )
        .0,
        format!("b OK [APPENDUID {v} 1:2] Completed\r\n")
    );
    // All or nothing: a bad second message stores nothing.
    assert_eq!(
        run(
            &mut s,
            &format!(
                "c APPEND INBOX {{{n}+}}\r\n{MSG} (\\Recent) {{{n}+}}\r\n{MSG}\r\n",
                n = MSG.len()
            )
        )
        .0,
        "c BAD Invalid system flag in Append\r\n"
    );
    assert_eq!(
        run(
            &mut s,
            &format!(
                "c APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {{{n}+}}\r\n{MSG}\r\n",
                n = MSG.len()
            )
        )
        .0,
        "c BAD Invalid date-time in Append\r\n"
    );
    assert_eq!(
        run(&mut s, "c APPEND INBOX (\\Seen)\r\n").0,
        "c BAD Missing required argument to Append\r\n"
    );
    assert_eq!(
        run(&mut s, "c APPEND INBOX hello\r\n").0,
        "c BAD Invalid message literal in Append\r\n"
    );
    // literal8 (rfc3516), NUL allowed in a body (stored base64), not in
    // a header.
    assert_eq!(
        run(&mut s, "d APPEND INBOX ~{5+}\r\n\r\na\0b\r\n").0,
        format!("d OK [APPENDUID {v} 3] Completed\r\n")
    );
    assert_eq!(
        run(&mut s, "d APPEND INBOX ~{5+}\r\na\0b\r\n\r\n").0,
        "d NO Message contains NUL characters\r\n"
    );
    assert_eq!(
        run(&mut s, "a STATUS INBOX (MESSAGES)\r\n").0,
        "* STATUS INBOX (MESSAGES 3)\r\na OK Completed\r\n"
    );
    assert_eq!(
        run(
            &mut s,
            &format!("e APPEND \"a/../b\" {{{n}+}}\r\n{MSG}\r\n", n = MSG.len())
        )
        .0,
        "e NO Invalid mailbox name: \"..\" is not allowed as a level\r\n"
    );
}

#[test]
fn append_size_limit() {
    let (mut s, _dir) = with_store(Settings {
        max_message_size: 10,
        ..settings()
    });
    let caps = run(&mut s, "c CAPABILITY\r\n").0;
    assert!(
        caps.contains(" COMPRESS=DEFLATE APPENDLIMIT=10\r\n"),
        "{caps}"
    );
    assert_eq!(
        run(&mut s, "a APPEND INBOX {22}\r\n").0,
        "a NO [TOOBIG] Literal size exceeds fixed limit in Append\r\n"
    );
    assert_eq!(
        run(&mut s, "a APPEND INBOX {10+}\r\n0123456789\r\n").0,
        format!(
            "a OK [APPENDUID {} 1] Completed\r\n",
            uidvalidity(&mut s, "INBOX")
        )
    );
}

#[test]
fn append_to_the_selected_mailbox_reports_exists() {
    let (mut s, _dir) = store_session();
    run(&mut s, "a SELECT INBOX\r\n");
    let v = uidvalidity(&mut s, "INBOX");
    assert_eq!(
        append(&mut s, "INBOX", ""),
        format!("* 1 EXISTS\r\n* 1 RECENT\r\na OK [APPENDUID {v} 1] Completed\r\n")
    );
}

#[test]
fn expunge_close_unselect() {
    let (mut s, dir) = store_session();
    for _ in 0..4 {
        append(&mut s, "INBOX", "(\\Deleted) ");
    }
    append(&mut s, "INBOX", "");
    run(&mut s, "a SELECT INBOX\r\n");
    // A second client expunges message 4 meanwhile; our own EXPUNGE reports
    // ours first, then the other's, each number valid when sent.
    let mut other = second_session(&dir);
    {
        run(&mut other, "o SELECT INBOX\r\n");
        let mailbox = &mut other.selected_mut().unwrap().mailbox;
        mailbox.expunge(Some(&[4])).unwrap();
    }
    assert_eq!(
        run(&mut s, "a EXPUNGE\r\n").0,
        "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 EXISTS\r\n* 1 RECENT\r\n\
         a OK Completed\r\n"
    );
    assert_eq!(run(&mut s, "a EXPUNGE\r\n").0, "a OK Completed\r\n");
    assert_eq!(
        run(&mut s, "a EXPUNGE x\r\n").0,
        "a BAD Unexpected extra arguments to Expunge\r\n"
    );
    // UID EXPUNGE's entry point (rfc4315): only the listed UIDs.
    append(&mut s, "INBOX", "(\\Deleted) ");
    append(&mut s, "INBOX", "(\\Deleted) ");
    run(&mut s, "n NOOP\r\n");
    super::expunge::expunge_uids(&mut s, "u", Some(&[7]));
    assert_eq!(run(&mut s, "").0, "* 3 EXPUNGE\r\nu OK Completed\r\n");
    // EXAMINE: read-only.
    run(&mut s, "a EXAMINE INBOX\r\n");
    assert_eq!(
        run(&mut s, "a EXPUNGE\r\n").0,
        "a NO [CANNOT] Mailbox is read-only\r\n"
    );
    // CLOSE of a read-only mailbox expunges nothing.
    assert_eq!(run(&mut s, "a CLOSE\r\n").0, "a OK Completed\r\n");
    assert_eq!(s.state(), State::Authenticated);
    assert_eq!(
        run(&mut s, "a STATUS INBOX (MESSAGES)\r\n").0,
        "* STATUS INBOX (MESSAGES 2)\r\na OK Completed\r\n"
    );
    // UNSELECT keeps \Deleted messages; CLOSE expunges them silently.
    run(&mut s, "a SELECT INBOX\r\n");
    assert_eq!(run(&mut s, "a UNSELECT\r\n").0, "a OK Completed\r\n");
    assert_eq!(
        run(&mut s, "a CLOSE\r\n").0,
        "a BAD Please select a mailbox first\r\n"
    );
    run(&mut s, "a SELECT INBOX\r\n");
    assert_eq!(run(&mut s, "a CLOSE\r\n").0, "a OK Completed\r\n");
    assert_eq!(
        run(&mut s, "a STATUS INBOX (MESSAGES)\r\n").0,
        "* STATUS INBOX (MESSAGES 1)\r\na OK Completed\r\n"
    );
}

#[test]
fn noop_and_check_report_changes() {
    let (mut s, dir) = store_session();
    run(&mut s, "a SELECT INBOX\r\n");
    let mut other = second_session(&dir);
    append(&mut other, "INBOX", "");
    assert_eq!(
        run(&mut s, "a NOOP\r\n").0,
        "* 1 EXISTS\r\n* 1 RECENT\r\na OK Completed\r\n"
    );
    append(&mut other, "INBOX", "");
    assert_eq!(
        run(&mut s, "a CHECK\r\n").0,
        "* 2 EXISTS\r\n* 2 RECENT\r\na OK Completed\r\n"
    );
    assert_eq!(run(&mut s, "a CHECK\r\n").0, "a OK Completed\r\n");
    assert_eq!(
        run(&mut s, "a CHECK x\r\n").0,
        "a BAD Unexpected extra arguments to Check\r\n"
    );
}

#[test]
fn snapshot_restores_the_selected_mailbox() {
    let (mut s, dir) = store_session();
    append(&mut s, "INBOX", "");
    run(&mut s, "a EXAMINE INBOX\r\n");
    let snapshot = s.snapshot();
    let env = crate::session::Env {
        host: Box::new(FakeHost::default()),
        mail_root: Some(dir.path().to_path_buf()),
    };
    let mut restored = crate::session::Session::restore(&snapshot, settings(), env).unwrap();
    assert_eq!(restored.state(), State::Selected);
    assert!(restored.selected().unwrap().read_only);
    assert_eq!(run(&mut restored, "a NOOP\r\n").0, "a OK Completed\r\n");
    assert_eq!(
        run(&mut restored, "a EXPUNGE\r\n").0,
        "a NO [CANNOT] Mailbox is read-only\r\n"
    );
}

/// Session snapshots an older guest wrote (golden files, written by the
/// 828da16 guest, never regenerated) restore in this one: hibernation
/// and hot swap hand them over.
#[test]
fn golden_session_snapshots_restore() {
    let env = |root: Option<std::path::PathBuf>| crate::session::Env {
        host: Box::new(FakeHost::default()),
        mail_root: root,
    };
    let mid = include_str!("../golden/golden-session-v1-828da16-midliteral.json");
    let mut s = crate::session::Session::restore(mid, settings(), env(None)).unwrap();
    // The literal it was sending goes on where it stopped.
    let (out, action) = run(&mut s, "ret\r\n");
    assert!(out.starts_with("l OK [CAPABILITY "), "{out}");
    assert_eq!(action, Action::Promote);
    let (s0, dir) = store_session();
    drop(s0);
    let sel = include_str!("../golden/golden-session-v1-828da16-selected.json");
    let mut s =
        crate::session::Session::restore(sel, settings(), env(Some(dir.path().into()))).unwrap();
    assert_eq!(s.user(), Some("alice"));
    // Its INBOX was re-created since (another UIDVALIDITY): the restored
    // session says so and ends, as a live one would (rfc3501 2.3.1.1).
    let out = run(&mut s, "a NOOP\r\n").0;
    assert_eq!(out, "* BYE The selected mailbox is no longer available\r\n");
}
