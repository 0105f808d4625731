//! Test fixtures for the message commands: a session with INBOX selected
//! over a temporary mail tree holding known messages.

use super::testing::{run, store_session};
use crate::selected::Selected;
use crate::session::Session;
use crate::store::{AppendMessage, Flags, MailboxName};

/// rfc3501 6.4.5's example header fields, with a short body.
pub const PLAIN: &str = "Date: Wed, 17 Jul 1996 02:23:25 -0700\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

/// A multipart message: text, a base64 part whose content has a NUL,
/// and a part in an encoding nobody knows.
pub const MULTIPART: &str = "From: =?UTF-8?Q?Ren=C3=A9?= <rene@example.org>\r\n\
To: team@example.org\r\n\
Cc: boss@example.org\r\n\
Subject: =?UTF-8?Q?Caf=C3=A9?= plans\r\n\
Date: Thu, 06 Feb 2025 09:15:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"xyz\"\r\n\
\r\n\
--xyz\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Lunch at the caf\u{e9} on Friday.\r\n\
--xyz\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAw==\r\n\
--xyz\r\n\
Content-Type: application/x-thing\r\n\
Content-Transfer-Encoding: x-custom\r\n\
\r\n\
?????\r\n\
--xyz--\r\n";

/// INTERNALDATE of message `i` (0-based): 14-Nov-2023 22:13:20 UTC plus
/// `i` days, shown at +0100.
pub fn internal_date(i: usize) -> (i64, i16) {
    (1_700_000_000 + i as i64 * 86_400, 60)
}

/// A logged-in session with INBOX holding `messages` selected (read-write
/// unless `read_only`); the tree lives as long as the guard.
pub fn selected_with(messages: &[&str], read_only: bool) -> (Session, tempfile::TempDir) {
    let (mut session, dir) = store_session();
    let inbox = MailboxName::inbox();
    {
        let store = session.mail_store().expect("mail store");
        if !messages.is_empty() {
            let batch = messages
                .iter()
                .enumerate()
                .map(|(i, m)| AppendMessage {
                    data: m.as_bytes().to_vec(),
                    flags: Flags::default(),
                    keywords: Vec::new(),
                    internal_date: Some(internal_date(i)),
                })
                .collect();
            store.append(&inbox, batch).expect("append");
        }
    }
    let store = session.mail_store().expect("mail store");
    let mailbox = if read_only {
        store.examine(&inbox)
    } else {
        store.select(&inbox)
    }
    .expect("select");
    session.enter_selected(Selected::new(mailbox, read_only));
    (session, dir)
}

/// INBOX with [`PLAIN`] and [`MULTIPART`], read-write.
pub fn selected() -> (Session, tempfile::TempDir) {
    selected_with(&[PLAIN, MULTIPART], false)
}

/// Runs one command line and returns all output.
pub fn command(session: &mut Session, line: &str) -> String {
    run(session, &format!("{line}\r\n")).0
}
