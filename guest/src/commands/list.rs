//! LIST (rfc3501 6.3.8) and LSUB (6.3.9): reference and pattern with the
//! `*` and `%` wildcards, names in modified UTF-7. LIST adds the rfc3348
//! CHILDREN attributes. `LIST "" ""` asks for the hierarchy delimiter:
//! `* LIST (\Noselect) "/" ""`.

use super::Request;
use super::mailbox_arg::{decode_wire, reply_failure, wire_name};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

/// Reference plus pattern, in bytes.
const MAX_PATTERN_BYTES: usize = 4096;

pub fn list(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    run(session, req, false)
}

pub fn lsub(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    run(session, req, true)
}

fn run(session: &mut Session, req: &mut Request, lsub: bool) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let reference = req.args.astring()?;
    req.args.sp()?;
    let pattern = req.args.list_mailbox()?;
    req.args.finish()?;
    let (reference, pattern) = match (decode_wire(&reference), decode_wire(&pattern)) {
        (Ok(r), Ok(p)) => (r, p),
        (Err(bad), _) | (_, Err(bad)) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    // No name is longer than 1000 bytes; a longer pattern matches nothing
    // and would only cost matching time.
    if reference.len() + pattern.len() > MAX_PATTERN_BYTES {
        req.reply(session, "NO [CANNOT] Mailbox pattern too long");
        return Ok(Action::None);
    }
    let response = if lsub { "LSUB" } else { "LIST" };
    if pattern.is_empty() && !lsub {
        // rfc3501 6.3.8: the delimiter and the root of the reference
        // (ours is flat below the root: always "").
        session.write(format!("* {response} (\\Noselect) \"/\" \"\"\r\n").as_bytes());
        req.reply(session, "OK Completed");
        return Ok(Action::None);
    }
    let entries = session.mail_store().and_then(|store| {
        if lsub {
            store.lsub(&reference, &pattern)
        } else {
            store.list(&reference, &pattern)
        }
    });
    match entries {
        Ok(entries) => {
            let mut out = String::new();
            for entry in &entries {
                let attributes = if lsub {
                    if entry.noselect { "\\Noselect" } else { "" }.to_string()
                } else {
                    entry.attributes().join(" ")
                };
                out += &format!(
                    "* {response} ({attributes}) \"/\" {}\r\n",
                    wire_name(entry.name.as_str())
                );
            }
            session.write(out.as_bytes());
            req.reply(session, "OK Completed");
        }
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}
