//! APPEND (rfc3501 6.3.11) with MULTIAPPEND (rfc3502: several messages,
//! all or none), UIDPLUS's `[APPENDUID uidvalidity uid-set]` (rfc4315 3),
//! literal8 messages (rfc3516 4.3, BINARY) and the size limit
//! (`maxmessagesize`, rfc7889 APPENDLIMIT; 0 means 4294967295).
//!
//! ```text
//! append      = "APPEND" SP mailbox 1*append-message      ; rfc3502
//! append-message = [SP flag-list] [SP date-time] SP append-data
//! append-data = literal / literal8 / utf8-literal        ; rfc6855 4
//!             / "CATENATE" SP "(" cat-part *(SP cat-part) ")" ; rfc4469 5
//! utf8-literal = "UTF8" SP "(" literal8 ")"
//! ```
//!
//! CATENATE's parts are read in `catenate.rs`, once the whole command has
//! parsed, and before anything is stored.
//!
//! rfc6855 4: header fields with 8-bit characters, and the `UTF8` form,
//! need `ENABLE UTF8=ACCEPT` first (IMAP4rev2 takes rfc6532 messages as
//! well, rfc9051 4.3.1, 6.3.12); without it the APPEND is `NO`.
//!
//! The whole command is parsed before anything is stored. A missing
//! mailbox is `NO [TRYCREATE]` (rfc3501 6.3.11).

use super::Request;
use super::catenate::{CatPart, catenate, parse_parts};
use super::mailbox_arg::{failure_text, parse_mailbox};
use crate::mime::binary::{NulOutsideBody, encode_nul_parts};
use crate::selected::format_uid_set;
use crate::session::{Action, Session};
use crate::settings::Settings;
use crate::store::acl::Rights;
use crate::store::{AppendMessage, Flags, StoreError};
use crate::wire::parser::{Parser, SyntaxError};
use crate::wire::reader::MAX_APPEND;

/// The largest message APPEND takes (also advertised as APPENDLIMIT).
pub fn append_limit(settings: &Settings) -> u64 {
    if settings.max_message_size == 0 {
        MAX_APPEND
    } else {
        settings.max_message_size.min(MAX_APPEND)
    }
}

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let name = parse_mailbox(req)?;
    let mut messages = Vec::new();
    let mut catenations = Vec::new();
    let mut utf8_literal = false;
    loop {
        req.args.sp()?;
        let (message, parts, utf8) = append_message(&mut req.args)?;
        messages.push(message);
        catenations.push(parts);
        utf8_literal |= utf8;
        if req.args.at_eol() {
            break;
        }
    }
    req.args.finish()?;
    let name = match name {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    // rfc4314 4: APPEND needs `i`; flags the user may not set are
    // dropped, the message is still stored.
    let rights = match crate::access::rights(session, &name) {
        Ok(r) => r,
        Err(e) => {
            let text = failure_text(session, &e);
            req.reply(session, &text);
            return Ok(Action::None);
        }
    };
    if let Some(no) = crate::access::refusal(rights, Rights::INSERT) {
        req.reply(session, no);
        return Ok(Action::None);
    }
    for m in &mut messages {
        m.flags = crate::access::permitted_flags(rights, m.flags);
        if !rights.contains(Rights::WRITE) {
            m.keywords.clear();
        }
    }
    let shared = crate::access::share_of(session, &name).is_some();
    let limit = append_limit(session.settings());
    for (message, parts) in messages.iter_mut().zip(&catenations) {
        if let Some(parts) = parts {
            match catenate(session, parts, limit) {
                Ok(data) => message.data = data,
                Err(e) => {
                    req.reply(session, &e.reply());
                    return Ok(Action::None);
                }
            }
        }
    }
    if let Some(text) = utf8_refusal(session, &messages, utf8_literal) {
        req.reply(session, text);
        return Ok(Action::None);
    }
    if messages.iter().any(|m| m.data.len() as u64 > limit) {
        req.reply(session, "NO [TOOBIG] Message too large");
        return Ok(Action::None);
    }
    // rfc3516 4.4: parts holding NUL octets are stored base64-encoded, so
    // BODY[] never carries a NUL in a plain literal.
    for message in &mut messages {
        match encode_nul_parts(&message.data) {
            Ok(Some(data)) => message.data = data,
            Ok(None) => {}
            Err(NulOutsideBody) => {
                req.reply(session, "NO Message contains NUL characters");
                return Ok(Action::None);
            }
        }
    }
    // rfc9208 4.3.1: nothing is stored past the quota.
    let octets = messages.iter().map(|m| m.data.len() as u64).sum();
    // A share is in its owner's quota root, which the owner's sessions
    // keep (and the host's guard checks).
    let over = if shared {
        Ok(None)
    } else {
        super::quota::over_quota(session, messages.len() as u64, octets)
    };
    match over {
        Ok(None) => {}
        Ok(Some(text)) => {
            req.reply(session, text);
            return Ok(Action::None);
        }
        Err(e) => {
            let text = failure_text(session, &e);
            req.reply(session, &text);
            return Ok(Action::None);
        }
    }
    let appended = session
        .store_and_selected_for(&name)
        .and_then(|(store, selected)| {
            match selected {
                // Into the selected mailbox: through the session's own view,
                // which reports the new messages (EXISTS) below.
                Some(s)
                    if s.mailbox.name() == &name && !s.read_only && !s.mailbox.is_read_only() =>
                {
                    s.mailbox.append_all(&messages)
                }
                _ => store.append(&name, messages),
            }
        });
    match appended {
        Ok(appended) => {
            // The selected mailbox learns of its new messages (EXISTS).
            session.report_updates(true);
            let text = format!(
                "OK [APPENDUID {} {}] Completed",
                appended.uidvalidity,
                format_uid_set(&appended.uids)
            );
            req.reply(session, &text);
        }
        Err(StoreError::NoSuchMailbox(_) | StoreError::NotSelectable(_)) => {
            req.reply(session, "NO [TRYCREATE] Mailbox does not exist");
        }
        Err(e) => {
            let text = failure_text(session, &e);
            req.reply(session, &text);
        }
    }
    Ok(Action::None)
}

/// Why an APPEND is refused for its UTF-8 (rfc6855 4), if it is: a
/// `UTF8 (...)` message before `ENABLE UTF8=ACCEPT`, or a header field
/// with an 8-bit character in a session that has not enabled UTF-8 while
/// the server offers UTF8=ACCEPT.
fn utf8_refusal(
    session: &Session,
    messages: &[AppendMessage],
    utf8_literal: bool,
) -> Option<&'static str> {
    if utf8_literal && !session.utf8_accept() {
        return Some("NO [CANNOT] UTF8 messages need ENABLE UTF8=ACCEPT");
    }
    let refuses_8bit = !session.utf8() && crate::capability::utf8_offered(session.settings());
    (refuses_8bit && messages.iter().any(|m| header_has_8bit(&m.data)))
        .then_some("NO [CANNOT] 8-bit characters in header fields need ENABLE UTF8=ACCEPT")
}

/// The message's header (up to the first empty line) has a byte with the
/// high bit set.
fn header_has_8bit(message: &[u8]) -> bool {
    let end = crate::mime::part::find_header_end(message);
    !message[..end].is_ascii()
}

/// `[flag-list SP] [date-time SP] append-data`, the cursor after the SP
/// that precedes it: the message (without its data when it is made by
/// CATENATE), CATENATE's parts, and whether the message or a part came
/// as rfc6855 4's `utf8-literal`.
fn append_message(
    args: &mut Parser,
) -> Result<(AppendMessage, Option<Vec<CatPart>>, bool), SyntaxError> {
    let mut flags = Flags::default();
    let mut keywords = Vec::new();
    if args.peek() == Some(b'(') {
        for flag in args.list(true, flag)? {
            match flag {
                ParsedFlag::System(f) => flags = flags.union(f),
                ParsedFlag::Keyword(k) => {
                    if !keywords.iter().any(|x: &String| x.eq_ignore_ascii_case(&k)) {
                        keywords.push(k);
                    }
                }
            }
        }
        args.sp()?;
    }
    let mut internal_date = None;
    if args.peek() == Some(b'"') {
        let text = args.quoted()?;
        internal_date =
            Some(parse_date_time(&text).ok_or(SyntaxError::Invalid("Invalid date-time"))?);
        args.sp()?;
    }
    let mut utf8 = false;
    let mut catenate = None;
    let data = match args.peek() {
        Some(b'~') => args.string8()?,
        Some(b'C' | b'c') => {
            if !args.word().eq_ignore_ascii_case(b"CATENATE") {
                return Err(SyntaxError::Invalid("Invalid message literal"));
            }
            args.sp()?;
            let (parts, utf8_part) = parse_parts(args)?;
            utf8 = utf8_part;
            catenate = Some(parts);
            Vec::new()
        }
        Some(b'{') => args.string()?,
        Some(b'U' | b'u') => {
            // rfc6855 4: utf8-literal = "UTF8" SP "(" literal8 ")".
            if !args.word().eq_ignore_ascii_case(b"UTF8") {
                return Err(SyntaxError::Invalid("Invalid message literal"));
            }
            args.sp()?;
            utf8 = true;
            utf8_literal(args)?
        }
        _ if args.at_eol() => return Err(SyntaxError::Missing),
        _ => return Err(SyntaxError::Invalid("Invalid message literal")),
    };
    let message = AppendMessage {
        data,
        flags,
        keywords,
        internal_date,
    };
    Ok((message, catenate, utf8))
}

/// rfc6855 4 `utf8-literal`'s `"(" literal8 ")"`, after `UTF8 SP`.
pub fn utf8_literal(args: &mut Parser) -> Result<Vec<u8>, SyntaxError> {
    if !args.eat(b'(') || args.peek() != Some(b'~') {
        return Err(SyntaxError::Invalid("Invalid UTF8 literal"));
    }
    let data = args.string8()?;
    if !args.eat(b')') {
        return Err(SyntaxError::Invalid("Invalid UTF8 literal"));
    }
    Ok(data)
}

enum ParsedFlag {
    System(Flags),
    Keyword(String),
}

/// rfc3501 9: flag (without `\Recent`, which a client cannot set, and
/// without unknown `\` extensions).
fn flag(args: &mut Parser) -> Result<ParsedFlag, SyntaxError> {
    if args.eat(b'\\') {
        let atom = args.atom()?;
        let name = format!("\\{}", atom.as_str());
        Flags::from_name(&name)
            .map(ParsedFlag::System)
            .ok_or(SyntaxError::Invalid("Invalid system flag"))
    } else {
        Ok(ParsedFlag::Keyword(args.atom()?.as_str().to_string()))
    }
}

/// rfc3501 9 date-time: `"dd-Mon-yyyy hh:mm:ss +zzzz"` (day may be
/// space-padded), the quotes already removed. Returns (UTC seconds since
/// the epoch, zone offset in minutes).
pub fn parse_date_time(text: &[u8]) -> Option<(i64, i16)> {
    let text = std::str::from_utf8(text).ok()?;
    if text.len() != 26 {
        return None;
    }
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let day = if b[0] == b' ' {
        digits(1..2)?
    } else {
        digits(0..2)?
    };
    if b[2] != b'-' || b[6] != b'-' || b[11] != b' ' || b[14] != b':' || b[17] != b':' {
        return None;
    }
    if b[20] != b' ' {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month_name = text.get(3..6)?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as i64
        + 1;
    let year = digits(7..11)?;
    let (hour, minute, second) = (digits(12..14)?, digits(15..17)?, digits(18..20)?);
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (zone_hours, zone_minutes) = (digits(22..24)?, digits(24..26)?);
    let days_in_month = match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if zone_hours > 23 || zone_minutes > 59 {
        return None;
    }
    let offset = sign * (zone_hours * 60 + zone_minutes);
    let local = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    Some((local - offset * 60, offset as i16))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146097 + day_of_era - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        // rfc3501 6.3.11's example date.
        assert_eq!(
            parse_date_time(b"17-Jul-1996 02:44:25 -0700"),
            Some((837_596_665, -420))
        );
        assert_eq!(parse_date_time(b" 1-Jan-1970 00:00:00 +0000"), Some((0, 0)));
        assert_eq!(
            parse_date_time(b"29-Feb-2024 12:00:00 +0100"),
            Some((1_709_204_400, 60))
        );
        for bad in [
            &b"29-Feb-2023 12:00:00 +0100"[..],
            b"1-Jan-1970 00:00:00 +0000",
            b"01-Foo-1970 00:00:00 +0000",
            b"01-Jan-1970 24:00:00 +0000",
            b"01-Jan-1970 00:00:00 0000",
            b"01-Jan-1970 00:00:00 +0000 ",
            b"\xff1-Jan-1970 00:00:00 +0000",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad:?}");
        }
    }
}
