//! QUOTA (rfc9208; rfc2087's forms, which cyradm sends, are the same
//! commands): GETQUOTAROOT, GETQUOTA and SETQUOTA, and the quota kept on
//! APPEND, COPY and MOVE.
//!
//! - One quota root per user, Cyrus's user root, with the STORAGE (units
//!   of 1024 octets) and MESSAGE resources. Its owner names it `INBOX`,
//!   as Cyrus shows it in the alternate namespace; an administrator names
//!   any user's root `user/<name>` (cyradm `sq`, `lq`, `lqr`).
//! - The limits are the host's (Cyrus's quota file, which an
//!   administrator's SETQUOTA changes through the host). The usage the
//!   owner sees and that is kept is counted from the mailboxes' own
//!   indexes (`store/usage.rs`), so it is exact after any crash; an
//!   administrator looking at another user sees the host's count of that
//!   user's tree.
//! - rfc9208 4.3.1: an APPEND or COPY that would take the usage past a
//!   limit is `NO [OVERQUOTA] Over quota` (Cyrus's text); reaching a limit
//!   exactly is allowed, as in Cyrus. A MOVE stays within the user's one
//!   root and changes no usage. Under `-q` limits are shown, not kept.
//! - SELECT warns as Cyrus does (`quotawarn`, default 90): `* NO [ALERT]
//!   Mailbox is at N% of STORAGE quota` above that percentage, `* NO
//!   [ALERT] Mailbox is over STORAGE quota` past the limit.
//! - GETQUOTA of the user's own root needs no right (rfc9208 6); Cyrus
//!   keeps it for administrators, which leaves clients nothing to show.

use super::Request;
use super::mailbox_arg::{astring, mailbox_from_wire, wire_name};
use crate::host::{Level, QuotaError, QuotaLimits};
use crate::session::{Action, Session};
use crate::store::StoreError;
use crate::store::usage::Usage;
use crate::wire::parser::{Parser, SyntaxError};

/// How the owner names the root.
const OWN_ROOT: &str = "INBOX";
/// How an administrator names a user's root: `user/<name>`.
const USER_PREFIX: &str = "user/";

/// `* QUOTA <root> (...)` for a root as the host reports it.
fn write_quota(session: &mut Session, root: &str, q: &crate::host::QuotaUsage) {
    let line = quota_list(q.limits, q.messages, q.octets);
    session.write(format!("* QUOTA {root} {line}\r\n").as_bytes());
}

/// `(STORAGE used limit MESSAGE used limit)`, the resources with a limit
/// (rfc9208 7 `quota-list`; an empty list for a root without limits).
fn quota_list(limits: QuotaLimits, messages: u64, octets: u64) -> String {
    let mut items = Vec::new();
    if let Some(limit) = limits.storage {
        items.push(format!("STORAGE {} {limit}", octets / 1024));
    }
    if let Some(limit) = limits.messages {
        items.push(format!("MESSAGE {messages} {limit}"));
    }
    format!("({})", items.join(" "))
}

/// The user's own root: its limits, whether they are kept, and the usage
/// the indexes give; `None` when the user has no root.
fn own_root(session: &mut Session) -> Result<Option<(QuotaLimits, bool, Usage)>, StoreError> {
    let Some((limits, enforced)) = session.env().host.own_quota() else {
        return Ok(None);
    };
    let usage = session.mail_store()?.usage()?;
    Ok(Some((limits, enforced, usage)))
}

/// The root a GETQUOTA or SETQUOTA names.
enum Root {
    Own,
    User(String),
}

/// `raw` with the session's separator turned into `/` (Cyrus's
/// `unixhierarchysep: no` names the roots `user.bob`).
fn slashed(session: &Session, raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    Some(text.replace(session.wire().sep, "/"))
}

fn root_of(session: &Session, raw: &[u8]) -> Option<Root> {
    let text = slashed(session, raw)?;
    let text = text.as_str();
    if text.eq_ignore_ascii_case(OWN_ROOT) {
        return Some(Root::Own);
    }
    let user = text.strip_prefix(USER_PREFIX)?;
    if user.is_empty() || user.contains('/') {
        return None;
    }
    Some(if Some(user) == session.user() {
        Root::Own
    } else {
        Root::User(user.to_string())
    })
}

/// The NO for a host's refusal (and a log line for its failures).
fn refusal(session: &Session, e: QuotaError) -> String {
    match e {
        QuotaError::NotAllowed => "NO [NOPERM] Permission denied".into(),
        QuotaError::NoSuchRoot => "NO [NONEXISTENT] Quota root does not exist".into(),
        QuotaError::Failed(why) => {
            session
                .env()
                .host
                .log(Level::Error, &format!("quota: {why}"));
            "NO [SERVERBUG] System I/O error".into()
        }
    }
}

/// The reply to a store failure while counting.
fn store_failure(session: &Session, e: &StoreError) -> String {
    super::mailbox_arg::failure_text(session, e)
}

pub fn getquota(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let raw = req.args.astring()?;
    req.args.finish()?;
    let shown = astring(&String::from_utf8_lossy(&raw));
    let reply = match root_of(session, &raw) {
        None => "NO [NONEXISTENT] Quota root does not exist".to_string(),
        Some(Root::Own) => match own_root(session) {
            Ok(Some((limits, _, usage))) => {
                let line = quota_list(limits, usage.messages, usage.octets);
                session.write(format!("* QUOTA {shown} {line}\r\n").as_bytes());
                "OK Completed".into()
            }
            Ok(None) => "NO [NONEXISTENT] Quota root does not exist".into(),
            Err(e) => store_failure(session, &e),
        },
        Some(Root::User(user)) => match session.env().host.get_quota(&user) {
            Ok(q) => {
                write_quota(session, &shown, &q);
                "OK Completed".into()
            }
            Err(e) => refusal(session, e),
        },
    };
    req.reply(session, &reply);
    Ok(Action::None)
}

pub fn getquotaroot(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let raw = req.args.astring()?;
    req.args.finish()?;
    let wire = req.names;
    // An administrator asking about a user's mailbox (`lqr user/bob`).
    let admin_view = session.security().admin
        && slashed(session, &raw).is_some_and(|t| t.starts_with(USER_PREFIX));
    if admin_view {
        let text = String::from_utf8_lossy(&raw).into_owned();
        let user = slashed(session, &raw).unwrap_or_default()[USER_PREFIX.len()..]
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let shown = astring(&text);
        let reply = match session.env().host.get_quota(&user) {
            Ok(q) => {
                let root = astring(&format!("user{}{user}", session.wire().sep));
                let line = quota_list(q.limits, q.messages, q.octets);
                session.write(
                    format!("* QUOTAROOT {shown} {root}\r\n* QUOTA {root} {line}\r\n").as_bytes(),
                );
                "OK Completed".into()
            }
            Err(QuotaError::NoSuchRoot) => {
                session.write(format!("* QUOTAROOT {shown}\r\n").as_bytes());
                "OK Completed".into()
            }
            Err(e) => refusal(session, e),
        };
        req.reply(session, &reply);
        return Ok(Action::None);
    }
    // rfc9208 4.1.2: the mailbox need not exist.
    let name = match mailbox_from_wire(&raw, wire) {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    let shown = wire_name(name.as_str(), wire);
    match own_root(session) {
        Ok(Some((limits, _, usage))) => {
            let line = quota_list(limits, usage.messages, usage.octets);
            session.write(
                format!("* QUOTAROOT {shown} {OWN_ROOT}\r\n* QUOTA {OWN_ROOT} {line}\r\n")
                    .as_bytes(),
            );
            req.reply(session, "OK Completed");
        }
        Ok(None) => {
            session.write(format!("* QUOTAROOT {shown}\r\n").as_bytes());
            req.reply(session, "OK Completed");
        }
        Err(e) => {
            let text = store_failure(session, &e);
            req.reply(session, &text);
        }
    }
    Ok(Action::None)
}

/// rfc9208 7 `setquota-resource`: a resource and its limit; `-1` is no
/// limit, as Cyrus takes it. `None` for a resource this server has not.
fn setquota_resource(p: &mut Parser) -> Result<Option<(bool, Option<u64>)>, SyntaxError> {
    let name = p.atom()?.as_str().to_ascii_uppercase();
    p.sp()?;
    // rfc9208 7 resource-limit = number64 (the parser's mod-sequence
    // rule, zero allowed).
    let bad = SyntaxError::Invalid("Invalid quota list");
    let limit = if p.eat(b'-') {
        if !matches!(p.mod_sequence(true), Ok(1)) {
            return Err(bad);
        }
        None
    } else {
        Some(p.mod_sequence(true).map_err(|_| bad)?)
    };
    Ok(match name.as_str() {
        "STORAGE" => Some((true, limit)),
        "MESSAGE" => Some((false, limit)),
        _ => None,
    })
}

pub fn setquota(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let raw = req.args.astring()?;
    req.args.sp()?;
    let resources = req.args.list(true, setquota_resource)?;
    req.args.finish()?;
    let Some(resources) = resources.into_iter().collect::<Option<Vec<_>>>() else {
        req.reply(session, "NO [CANNOT] Unsupported quota resource");
        return Ok(Action::None);
    };
    // rfc9208 4.1.3: the limits not given are removed.
    let mut limits = QuotaLimits::default();
    for (storage, limit) in resources {
        if storage {
            limits.storage = limit;
        } else {
            limits.messages = limit;
        }
    }
    let user = match root_of(session, &raw) {
        None => {
            req.reply(session, "NO [NONEXISTENT] Quota root does not exist");
            return Ok(Action::None);
        }
        Some(Root::Own) => session.user().unwrap_or_default().to_string(),
        Some(Root::User(user)) => user,
    };
    let reply = match session.env().host.set_quota(&user, limits) {
        Ok(q) => {
            write_quota(session, &astring(&String::from_utf8_lossy(&raw)), &q);
            "OK Completed".into()
        }
        Err(e) => refusal(session, e),
    };
    req.reply(session, &reply);
    Ok(Action::None)
}

/// rfc9208 4.3.1: the NO for `messages` more messages of `octets` octets
/// in the user's tree if they would take it past a kept limit.
pub fn over_quota(
    session: &mut Session,
    messages: u64,
    octets: u64,
) -> Result<Option<&'static str>, StoreError> {
    let Some((limits, enforced, usage)) = own_root(session)? else {
        return Ok(None);
    };
    let over = limits
        .messages
        .is_some_and(|l| usage.messages.saturating_add(messages) > l)
        || limits
            .storage
            .is_some_and(|l| usage.octets.saturating_add(octets) > l.saturating_mul(1024));
    Ok((enforced && over).then_some("NO [OVERQUOTA] Over quota"))
}

/// Cyrus's quota warnings for SELECT, one line per limited resource at
/// more than `quotawarn` percent of its limit.
pub fn warnings(session: &mut Session) -> String {
    let Ok(Some((limits, _, usage))) = own_root(session) else {
        return String::new();
    };
    let warn_at: u64 = session
        .settings()
        .option("quotawarn")
        .and_then(|v| v.parse().ok())
        .unwrap_or(90);
    let mut out = String::new();
    // STORAGE is compared in octets.
    for (resource, used, limit) in [
        (
            "STORAGE",
            usage.octets,
            limits.storage.map(|l| l.saturating_mul(1024)),
        ),
        ("MESSAGE", usage.messages, limits.messages),
    ] {
        let Some(limit) = limit else {
            continue;
        };
        if used > limit {
            out += &format!("* NO [ALERT] Mailbox is over {resource} quota\r\n");
        } else if let Some(percent) = used.saturating_mul(100).checked_div(limit)
            && percent > warn_at
        {
            out += &format!("* NO [ALERT] Mailbox is at {percent}% of {resource} quota\r\n");
        }
    }
    out
}
