//! IDLE (rfc2177; rfc9051 6.3.13): the client waits for the server to push
//! changes, until it sends DONE.
//!
//! The guest answers `+ idling`, flushes what is already pending, and then
//! reports `Action::Idle` with every step: the host keeps reading, watches
//! the selected mailbox's directory and calls `Session::poll` when it
//! changes, which reports EXISTS / EXPUNGE / FETCH at once (expunges are
//! allowed here, rfc2177 3). Keepalives are the host's (`* OK Still here`).
//! Valid in authenticated and selected state; offered only when
//! `imapidlepoll` is not 0, as in Cyrus.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    if !session.settings().idle_enabled {
        req.reply(session, "BAD Unrecognized command");
        return Ok(Action::None);
    }
    session.write(b"+ idling\r\n");
    // rfc2177 3: changes pending when IDLE starts are sent right away.
    session.report_updates(true);
    session.facts.idle = Some(req.tag.as_str().to_string());
    Ok(Action::Idle)
}

/// A line from the client during IDLE: `DONE` ends it (case-insensitive,
/// rfc2177 4); anything else is a protocol error that ends it too.
pub fn resume(session: &mut Session, line: &[u8]) -> Action {
    let Some(tag) = session.facts.idle.take() else {
        return Action::None;
    };
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.eq_ignore_ascii_case(b"DONE") {
        session.report_updates(true);
        session.tagged(&tag, "OK Completed");
    } else {
        session.tagged(&tag, "BAD Invalid Idle continuation");
    }
    Action::None
}
