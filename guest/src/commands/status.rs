//! STATUS (rfc3501 6.3.10): MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN,
//! plus SIZE (rfc8438) and HIGHESTMODSEQ (rfc7162), answered in the order
//! asked. For the selected mailbox the session's own view is used.

use super::Request;
use super::mailbox_arg::{parse_mailbox, reply_failure, wire_name};
use crate::session::{Action, Session};
use crate::store::MailboxStatus;
use crate::wire::parser::SyntaxError;

#[derive(Clone, Copy)]
enum Item {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Size,
    HighestModseq,
}

impl Item {
    fn parse(word: &str) -> Option<Item> {
        Some(match word.to_ascii_uppercase().as_str() {
            "MESSAGES" => Item::Messages,
            "RECENT" => Item::Recent,
            "UIDNEXT" => Item::UidNext,
            "UIDVALIDITY" => Item::UidValidity,
            "UNSEEN" => Item::Unseen,
            "SIZE" => Item::Size,
            "HIGHESTMODSEQ" => Item::HighestModseq,
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
            Item::Size => format!("SIZE {}", status.size),
            Item::HighestModseq => format!("HIGHESTMODSEQ {}", status.highest_modseq),
        }
    }
}

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let name = parse_mailbox(req)?;
    req.args.sp()?;
    let items = req.args.list(false, |p| {
        let atom = p.atom()?;
        Item::parse(atom.as_str()).ok_or(SyntaxError::Invalid("Invalid Status attribute"))
    })?;
    req.args.finish()?;
    let name = match name {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    let own_view = session
        .selected()
        .filter(|s| s.mailbox.name() == &name)
        .map(|s| {
            let m = &s.mailbox;
            MailboxStatus {
                messages: m.exists(),
                recent: m.recent_count(),
                uidnext: m.uid_next(),
                uidvalidity: m.uid_validity(),
                unseen: m.unseen_count(),
                size: m.total_size(),
                highest_modseq: m.highest_modseq(),
            }
        });
    let status = match own_view {
        Some(status) => Ok(status),
        None => session.mail_store().and_then(|store| store.status(&name)),
    };
    match status {
        Ok(status) => {
            let rendered: Vec<String> = items.iter().map(|i| i.render(&status)).collect();
            let line = format!(
                "* STATUS {} ({})\r\n",
                wire_name(name.as_str()),
                rendered.join(" ")
            );
            session.write(line.as_bytes());
            req.reply(session, "OK Completed");
        }
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}
