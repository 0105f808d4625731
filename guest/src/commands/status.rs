//! STATUS (rfc3501 6.3.10): MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN,
//! plus SIZE (rfc8438 3), DELETED (rfc9051 6.3.11, in both IMAP4rev1 and
//! IMAP4rev2 sessions), DELETED-STORAGE (rfc9208 4.1.4) and HIGHESTMODSEQ
//! (rfc7162 3.1.7), answered in the
//! order asked. For the selected mailbox the session's own view is used.
//! The same items serve LIST ... RETURN (STATUS (...)) (rfc5819, list.rs).

use super::Request;
use super::mailbox_arg::{Wire, parse_mailbox, reply_failure, wire_name};
use crate::session::{Action, Session};
use crate::store::acl::Rights;
use crate::store::{MailboxName, MailboxStatus, StoreError};
use crate::wire::parser::{Parser, SyntaxError};

/// One status-att (rfc3501 9, rfc8438 4, rfc7162 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    DeletedStorage,
    Size,
    HighestModseq,
    MailboxId,
}

impl Item {
    fn parse(word: &str) -> Option<Item> {
        Some(match word.to_ascii_uppercase().as_str() {
            "MESSAGES" => Item::Messages,
            "RECENT" => Item::Recent,
            "UIDNEXT" => Item::UidNext,
            "UIDVALIDITY" => Item::UidValidity,
            "UNSEEN" => Item::Unseen,
            "DELETED" => Item::Deleted,
            "DELETED-STORAGE" => Item::DeletedStorage,
            "SIZE" => Item::Size,
            "HIGHESTMODSEQ" => Item::HighestModseq,
            "MAILBOXID" => Item::MailboxId,
            _ => return None,
        })
    }

    fn render(self, status: &MailboxStatus) -> String {
        match self {
            Item::Messages => format!("MESSAGES {}", status.messages),
            Item::Recent => format!("RECENT {}", status.recent),
            Item::UidNext => format!("UIDNEXT {}", status.uidnext),
            Item::UidValidity => format!("UIDVALIDITY {}", status.uidvalidity),
            Item::Unseen => format!("UNSEEN {}", status.unseen),
            Item::Deleted => format!("DELETED {}", status.deleted),
            // rfc9208 4.1.4: what an EXPUNGE would free, in STORAGE's
            // units of 1024 octets.
            Item::DeletedStorage => format!("DELETED-STORAGE {}", status.deleted_octets / 1024),
            // rfc8438 3: the sum of the messages' RFC822.SIZE, 63 bits.
            Item::Size => format!("SIZE {}", status.size),
            Item::HighestModseq => format!("HIGHESTMODSEQ {}", status.highest_modseq),
            // rfc8474 4.3
            Item::MailboxId => {
                format!("MAILBOXID ({})", status.mailbox_id.as_deref().unwrap_or(""))
            }
        }
    }
}

/// `"(" status-att *(SP status-att) ")"` (rfc3501 9; rfc5819 4 for LIST).
pub fn parse_items(p: &mut Parser) -> Result<Vec<Item>, SyntaxError> {
    p.list(false, |p| {
        let atom = p.atom()?;
        Item::parse(atom.as_str()).ok_or(SyntaxError::Invalid("Invalid Status attribute"))
    })
}

/// rfc9051 9 status-att has no RECENT (Appendix E item 12): BAD in an
/// IMAP4rev2 session (`rev2`), answered in an IMAP4rev1 one.
pub fn in_grammar(items: &[Item], rev2: bool) -> Result<(), SyntaxError> {
    if rev2 && items.contains(&Item::Recent) {
        return Err(SyntaxError::Invalid(
            "Invalid Status attribute RECENT (not in IMAP4rev2)",
        ));
    }
    Ok(())
}

/// rfc7162 3.1: a STATUS asking for HIGHESTMODSEQ is a CONDSTORE enabling
/// command (a LIST asking for it through rfc5819 STATUS counts the same).
pub fn enable_condstore_if_asked(session: &mut Session, items: &[Item]) {
    if items.contains(&Item::HighestModseq) {
        session.enable_condstore();
    }
}

/// The status of `name`: the session's own view if it is the selected
/// mailbox (what this session has told its client), else the store's.
/// The MAILBOXID only if `items` ask for it.
pub fn mailbox_status(
    session: &mut Session,
    name: &MailboxName,
    items: &[Item],
) -> Result<MailboxStatus, StoreError> {
    let with_id = items.contains(&Item::MailboxId);
    let shared = crate::access::share_of(session, name).is_some();
    // An administrator's STATUS of `user/bob/...` (admin.rs): Cyrus's
    // administrators read any mailbox's status.
    let admin = if shared {
        None
    } else {
        super::admin::target(session, name)
    };
    // rfc4314 4: STATUS needs `r`.
    if admin.is_none() {
        let rights = crate::access::rights(session, name)?;
        if !rights.contains(Rights::READ) {
            // A mailbox the user cannot see does not exist for them.
            return Err(if rights.contains(Rights::LOOKUP) {
                StoreError::PermissionDenied
            } else {
                StoreError::NoSuchMailbox(name.clone())
            });
        }
    }
    if let Some(target) = admin {
        return super::admin::tree(session, &target.user)?.status(&target.local, with_id);
    }
    let own_view = session
        .selected()
        .filter(|s| s.mailbox.name() == name)
        .map(|s| {
            let m = &s.mailbox;
            MailboxStatus {
                messages: m.exists(),
                recent: m.recent_count(),
                uidnext: m.uid_next(),
                uidvalidity: m.uid_validity(),
                unseen: m.unseen_count(),
                deleted: m.deleted_count(),
                deleted_octets: m.deleted_size(),
                size: m.total_size(),
                highest_modseq: m.highest_modseq(),
                mailbox_id: with_id.then(|| m.mailbox_id().ok()).flatten(),
            }
        });
    match own_view {
        Some(status) => Ok(status),
        None => session
            .store_for(name)
            .and_then(|store| store.status(name, with_id)),
    }
}

/// `* STATUS <name> (<items>)` CRLF; `utf8`: the name in UTF-8 (rfc9051).
pub fn status_line(
    name: &MailboxName,
    items: &[Item],
    status: &MailboxStatus,
    wire: Wire,
) -> String {
    let rendered: Vec<String> = items.iter().map(|i| i.render(status)).collect();
    format!(
        "* STATUS {} ({})\r\n",
        wire_name(name.as_str(), wire),
        rendered.join(" ")
    )
}

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let name = parse_mailbox(req)?;
    req.args.sp()?;
    let items = parse_items(&mut req.args)?;
    req.args.finish()?;
    in_grammar(&items, session.rev2())?;
    let name = match name {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    enable_condstore_if_asked(session, &items);
    match mailbox_status(session, &name, &items) {
        Ok(status) => {
            let line = status_line(&name, &items, &status, req.names);
            session.write(line.as_bytes());
            req.reply(session, "OK Completed");
        }
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::Session;

    const MSG: &str = "Subject: hi\r\n\r\nhello\r\n"; // 22 bytes

    fn append(s: &mut Session, mailbox: &str) {
        let out = run(s, &format!("a APPEND {mailbox} {{22+}}\r\n{MSG}\r\n")).0;
        assert!(out.starts_with("a OK"), "{out}");
    }

    /// The number after `item ` in `line`.
    fn value(line: &str, item: &str) -> u64 {
        line.split(&format!("{item} "))
            .nth(1)
            .and_then(|r| r.split([' ', ')']).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {item} in {line}"))
    }

    #[test]
    fn size_in_the_order_asked() {
        let (mut s, _dir) = store_session();
        run(&mut s, "a CREATE frop\r\n");
        append(&mut s, "frop");
        append(&mut s, "frop");
        // rfc8438 3's example: SIZE is the sum of the RFC822.SIZEs.
        assert_eq!(
            run(&mut s, "a STATUS frop (MESSAGES SIZE UIDNEXT)\r\n").0,
            "* STATUS frop (MESSAGES 2 SIZE 44 UIDNEXT 3)\r\na OK Completed\r\n"
        );
        assert_eq!(
            run(&mut s, "a STATUS INBOX (SIZE)\r\n").0,
            "* STATUS INBOX (SIZE 0)\r\na OK Completed\r\n"
        );
    }

    #[test]
    fn highestmodseq_enables_condstore() {
        let (mut s, _dir) = store_session();
        run(&mut s, "a CREATE blurdybloop\r\n");
        append(&mut s, "blurdybloop");
        assert!(!s.condstore());
        // rfc7162 3.1.7, example 17; without a mailbox selected the
        // enabling (3.1) says nothing more.
        let out = run(
            &mut s,
            "a STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)\r\n",
        )
        .0;
        let modseq = value(&out, "HIGHESTMODSEQ");
        assert!(modseq > 0, "{out}");
        assert_eq!(
            out,
            format!(
                "* STATUS blurdybloop (UIDNEXT 2 MESSAGES 1 HIGHESTMODSEQ {modseq})\r\n\
                 a OK Completed\r\n"
            )
        );
        assert!(s.condstore());
    }

    #[test]
    fn highestmodseq_with_a_mailbox_selected_reports_it_first() {
        let (mut s, _dir) = store_session();
        append(&mut s, "INBOX");
        run(&mut s, "a SELECT INBOX\r\n");
        // rfc7162 3.1: the first CONDSTORE enabling command with a mailbox
        // selected reports that mailbox's HIGHESTMODSEQ.
        let out = run(&mut s, "a STATUS INBOX (HIGHESTMODSEQ)\r\n").0;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        let modseq = value(lines[1], "HIGHESTMODSEQ");
        assert_eq!(lines[0], format!("* OK [HIGHESTMODSEQ {modseq}] Ok"));
        assert_eq!(lines[1], format!("* STATUS INBOX (HIGHESTMODSEQ {modseq})"));
        assert_eq!(lines[2], "a OK Completed");
        // Only the first time.
        assert_eq!(
            run(&mut s, "a STATUS INBOX (HIGHESTMODSEQ)\r\n").0,
            format!("* STATUS INBOX (HIGHESTMODSEQ {modseq})\r\na OK Completed\r\n")
        );
    }
}
