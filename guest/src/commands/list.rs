//! LIST (rfc3501 6.3.8) and LSUB (6.3.9): reference and pattern with the
//! `*` and `%` wildcards, names in modified UTF-7. LIST adds the rfc3348
//! CHILDREN attributes. `LIST "" ""` asks for the hierarchy delimiter:
//! `* LIST (\Noselect) "/" ""`.

use super::Request;
use super::mailbox_arg::{decode_wire, reply_failure, wire_name};
use crate::session::{Action, Session};
use crate::store::{canonical_pattern, list_matches, mutf7};
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
    // A pattern is not a mailbox name (rfc3501 6.3.8): one that is not
    // valid modified UTF-7 still gets OK, with the names whose wire form
    // it matches (Cyrus, which keeps names in modified UTF-7, does that).
    let (reference, pattern, wire_form) = match (decode_wire(&reference), decode_wire(&pattern)) {
        (Ok(r), Ok(p)) => (r, p, false),
        _ => (
            String::from_utf8_lossy(&reference).into_owned(),
            String::from_utf8_lossy(&pattern).into_owned(),
            true,
        ),
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
    let pattern = canonical_pattern(&reference, &pattern);
    let matches = |name: &str| {
        if wire_form {
            list_matches(&pattern, &mutf7::encode(name))
        } else {
            list_matches(&pattern, name)
        }
    };
    let entries = session.mail_store().and_then(|store| {
        if lsub {
            store.lsub_where(matches)
        } else {
            store.list_where(matches)
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
