//! GETMETADATA and SETMETADATA (rfc5464): annotations on the server (the
//! empty mailbox name) and on mailboxes.
//!
//! - Mailbox entries, `/private` and `/shared`, are kept in the mailbox's
//!   directory (`store/metadata.rs`): they follow RENAME, go with DELETE,
//!   and INBOX's are copied when INBOX is renamed (rfc5464 4.1).
//! - `/private/specialuse` is the mailbox's special use (rfc6154 5.2), as
//!   in Cyrus: setting it is setting the use, checked as CREATE's USE is.
//! - Cyrus's read-only `/shared/vendor/cmu/cyrus-imapd/` entries are
//!   computed when asked: `size` (the messages' octets), `partition`,
//!   `lastupdate` (when the mailbox last changed, as a date-time) and
//!   `uniqueid` (its MAILBOXID, rfc8474).
//! - Server `/shared` entries are the host's (every user reads them; only
//!   administrators set them, and the host checks that itself); a user's
//!   `/private` server entries are in the user's tree.
//! - A named entry that has no value is answered with NIL, as Cyrus does.
//!   GETMETADATA also takes Cyrus's wildcards (`/shared/*`, which cyradm's
//!   `info` sends; rfc5464 3.2 has no wildcards), without NILs.
//!   Values holding NUL go out as literal8 (rfc5464 5 `value`).

use super::Request;
use super::mailbox_arg::{Wire, astring, mailbox_from_wire, reply_failure, wire_name};
use super::status::{Item, mailbox_status};
use crate::host::{Level, MetadataError};
use crate::mime::imap_string::write_string;
use crate::session::{Action, Session};
use crate::store::metadata::{self, Entries, MAX_ENTRIES, MAX_VALUE, Use};
use crate::store::{MailboxName, SpecialUse, StoreError};
use crate::wire::parser::{Parser, SyntaxError};

/// Cyrus's computed, read-only mailbox entries live under this.
const VENDOR: &str = "/shared/vendor/cmu/cyrus-imapd/";
const COMPUTED: &[&str] = &["lastupdate", "partition", "size", "uniqueid"];
/// rfc6154 5.2
const SPECIAL_USE: &str = "/private/specialuse";

/// rfc5464 4.2.1 and 4.2.2.
struct Options {
    max_size: Option<u32>,
    /// `None`: infinity.
    depth: Option<usize>,
}

/// `getmetadata-options` (rfc5464 5): `(` MAXSIZE n / DEPTH d ... `)`.
fn parse_options(p: &mut Parser, o: &mut Options) -> Result<(), SyntaxError> {
    p.list(false, |p| {
        let label = p.atom()?.as_str().to_ascii_uppercase();
        p.sp()?;
        match label.as_str() {
            "MAXSIZE" => o.max_size = Some(p.number()?),
            "DEPTH" => {
                o.depth = match p.atom()?.as_str().to_ascii_lowercase().as_str() {
                    "0" => Some(0),
                    "1" => Some(1),
                    "infinity" => None,
                    _ => return Err(SyntaxError::Invalid("Invalid DEPTH value")),
                }
            }
            _ => return Err(SyntaxError::Invalid("Unknown GETMETADATA option")),
        }
        Ok(())
    })?;
    Ok(())
}

/// The mailbox argument: `None` for the server (the empty string), or
/// the NO to send for a name that is not valid.
fn target(raw: &[u8], wire: Wire) -> Result<Option<MailboxName>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    mailbox_from_wire(raw, wire).map(Some).map_err(|bad| bad.0)
}

pub fn get(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let mut opts = Options {
        max_size: None,
        depth: Some(0),
    };
    req.args.sp()?;
    if req.args.peek() == Some(b'(') {
        parse_options(&mut req.args, &mut opts)?;
        req.args.sp()?;
    }
    let raw = req.args.astring()?;
    req.args.sp()?;
    // The ANNOTATEMORE drafts put the options after the mailbox; Cyrus
    // takes them there too. An entry list starts with `/` or a quote.
    if req.args.peek() == Some(b'(') && req.args.peek_at(1).is_some_and(|b| b.is_ascii_alphabetic())
    {
        parse_options(&mut req.args, &mut opts)?;
        req.args.sp()?;
    }
    let raw_entries = if req.args.peek() == Some(b'(') {
        req.args.list(false, |p| p.astring())?
    } else {
        vec![req.args.astring()?]
    };
    req.args.finish()?;
    let mut wanted: Vec<String> = Vec::with_capacity(raw_entries.len());
    for e in &raw_entries {
        let name = metadata::entry_name(e, Use::Get).map_err(SyntaxError::Invalid)?;
        if !wanted.contains(&name) {
            wanted.push(name);
        }
    }
    let mailbox = match target(&raw, req.names) {
        Ok(m) => m,
        Err(no) => {
            req.reply(session, &no);
            return Ok(Action::None);
        }
    };
    let reaches = |key: &str| wanted.iter().any(|w| metadata::within(w, key, opts.depth));
    let found = match &mailbox {
        None => server_entries(session),
        Some(name) => mailbox_entries(session, name, &reaches),
    };
    let all = match found {
        Ok(all) => all,
        Err(e) => {
            reply_failure(session, req, &e);
            return Ok(Action::None);
        }
    };
    // rfc5464 4.4.1: one METADATA response with every entry found.
    let mut items: Vec<u8> = Vec::new();
    let mut longest: Option<usize> = None;
    let mut sent: Vec<&str> = Vec::new();
    for w in &wanted {
        let mut any = false;
        for (key, value) in all
            .iter()
            .filter(|(k, _)| metadata::within(w, k, opts.depth))
        {
            any = true;
            if sent.contains(&key.as_str()) {
                continue;
            }
            sent.push(key);
            if opts.max_size.is_some_and(|m| value.len() > m as usize) {
                longest = longest.max(Some(value.len()));
                continue;
            }
            push_item(&mut items, key, Some(value));
        }
        if !any && !metadata::is_pattern(w) && !sent.contains(&w.as_str()) {
            sent.push(w);
            push_item(&mut items, w, None);
        }
    }
    if !items.is_empty() {
        let name = match &mailbox {
            Some(m) => wire_name(m.as_str(), req.names),
            None => "\"\"".into(),
        };
        let mut line = format!("* METADATA {name} (").into_bytes();
        line.extend_from_slice(&items);
        line.extend_from_slice(b")\r\n");
        session.write(&line);
    }
    // rfc5464 4.2.1: the size of the longest value left out.
    match longest {
        Some(n) => req.reply(session, &format!("OK [METADATA LONGENTRIES {n}] Completed")),
        None => req.reply(session, "OK Completed"),
    }
    Ok(Action::None)
}

/// ` entry value` (the first without the leading space).
fn push_item(out: &mut Vec<u8>, entry: &str, value: Option<&[u8]>) {
    if !out.is_empty() {
        out.push(b' ');
    }
    out.extend_from_slice(astring(entry).as_bytes());
    out.push(b' ');
    match value {
        None => out.extend_from_slice(b"NIL"),
        // rfc5464 5: value = nstring / literal8; a string cannot hold NUL.
        Some(v) if v.contains(&0) => {
            out.extend_from_slice(format!("~{{{}}}\r\n", v.len()).as_bytes());
            out.extend_from_slice(v);
        }
        Some(v) => write_string(out, v),
    }
}

/// The server's `/shared` entries (the host's) and the user's `/private`
/// ones.
fn server_entries(session: &mut Session) -> Result<Entries, StoreError> {
    let mut all: Entries = session
        .env()
        .host
        .server_metadata()
        .into_iter()
        .filter(|(k, _)| k.starts_with("/shared/"))
        .collect();
    let private = session.mail_store()?.metadata(None)?;
    all.extend(
        private
            .into_iter()
            .filter(|(k, _)| k.starts_with("/private/")),
    );
    Ok(all)
}

/// A mailbox's stored entries, plus the computed ones `reaches` wants.
fn mailbox_entries(
    session: &mut Session,
    name: &MailboxName,
    reaches: &dyn Fn(&str) -> bool,
) -> Result<Entries, StoreError> {
    // An administrator's `user/<name>/...` is in that user's tree.
    let (store, local) = super::admin::place(session, name)?;
    let mut all = store.metadata(Some(&local))?;
    all.remove(SPECIAL_USE);
    if reaches(SPECIAL_USE)
        && let Some(uses) = store.special_uses()?.get(&local)
    {
        let text: Vec<&str> = uses.iter().map(|u| u.attribute()).collect();
        all.insert(SPECIAL_USE.into(), text.join(" ").into_bytes());
    }
    let wants = |key: &str| reaches(&format!("{VENDOR}{key}"));
    if !store.is_selectable(&local) || !COMPUTED.iter().any(|k| wants(k)) {
        return Ok(all);
    }
    let last_update = store.last_update(&local);
    drop(store);
    let partition = session
        .settings()
        .option("defaultpartition")
        .unwrap_or("default")
        .to_string();
    let status = mailbox_status(session, name, &[Item::MailboxId])?;
    for key in COMPUTED.iter().filter(|k| wants(k)) {
        let value = match *key {
            "size" => Some(status.size.to_string().into_bytes()),
            "partition" => Some(partition.clone().into_bytes()),
            "uniqueid" => status.mailbox_id.clone().map(String::into_bytes),
            _ => last_update.map(|secs| {
                let mut quoted = Vec::new();
                super::dates::write_date_time(&mut quoted, secs, 0);
                // The value is the date-time, without the quotes.
                quoted[1..quoted.len() - 1].to_vec()
            }),
        };
        if let Some(v) = value {
            all.insert(format!("{VENDOR}{key}"), v);
        }
    }
    Ok(all)
}

pub fn set(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let raw = req.args.astring()?;
    req.args.sp()?;
    let raw_entries = req.args.list(false, |p| {
        let entry = p.astring()?;
        p.sp()?;
        let value = if p.nil() { None } else { Some(p.string8()?) };
        Ok((entry, value))
    })?;
    req.args.finish()?;
    let mut changes: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(raw_entries.len());
    for (entry, value) in raw_entries {
        let name = metadata::entry_name(&entry, Use::Set).map_err(SyntaxError::Invalid)?;
        // The last value given for an entry is the one that counts.
        changes.retain(|(n, _)| *n != name);
        changes.push((name, value));
    }
    let mailbox = match target(&raw, req.names) {
        Ok(m) => m,
        Err(no) => {
            req.reply(session, &no);
            return Ok(Action::None);
        }
    };
    // rfc5464 4.3: MAXSIZE names the largest value we take.
    if changes
        .iter()
        .any(|(_, v)| v.as_ref().is_some_and(|v| v.len() > MAX_VALUE))
    {
        req.reply(
            session,
            &format!("NO [METADATA MAXSIZE {MAX_VALUE}] Annotation value too large"),
        );
        return Ok(Action::None);
    }
    let reply = match &mailbox {
        None => set_server(session, changes),
        Some(name) => set_mailbox(session, name, changes),
    };
    match reply {
        Ok(text) => req.reply(session, &text),
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}

/// Applies `changes` to `entries`; `Err` (nothing to write) if that
/// would add entries beyond [`MAX_ENTRIES`].
fn apply(entries: &mut Entries, changes: &[(String, Option<Vec<u8>>)]) -> Result<(), TooMany> {
    let before = entries.len();
    for (name, value) in changes {
        match value {
            Some(v) => entries.insert(name.clone(), v.clone()),
            None => entries.remove(name),
        };
    }
    if entries.len() > MAX_ENTRIES && entries.len() > before {
        return Err(TooMany);
    }
    Ok(())
}

struct TooMany;
const TOO_MANY: &str = "NO [METADATA TOOMANY] Too many annotations";

/// Server entries: `/shared` ones through the host, `/private` ones in
/// the user's tree; all or none (the private ones are checked first).
fn set_server(
    session: &mut Session,
    changes: Vec<(String, Option<Vec<u8>>)>,
) -> Result<String, StoreError> {
    let (shared, private): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .partition(|(n, _)| n.starts_with("/shared/"));
    if !private.is_empty() {
        let mut entries = session.mail_store()?.metadata(None)?;
        if apply(&mut entries, &private).is_err() {
            return Ok(TOO_MANY.into());
        }
    }
    if !shared.is_empty() {
        match session.env().host.set_server_metadata(&shared) {
            Ok(()) => {}
            // rfc5464 3.3: a server that restricts server annotations
            // answers NO; Cyrus's text.
            Err(MetadataError::NotAllowed) => return Ok("NO [NOPERM] Permission denied".into()),
            Err(MetadataError::TooLarge(n)) => {
                return Ok(format!(
                    "NO [METADATA MAXSIZE {n}] Annotation value too large"
                ));
            }
            Err(MetadataError::TooMany) => return Ok(TOO_MANY.into()),
            Err(MetadataError::BadEntry(why)) => {
                return Ok(format!("NO Invalid annotation entry: {why}"));
            }
            Err(MetadataError::Failed(why)) => {
                session
                    .env()
                    .host
                    .log(Level::Error, &format!("server annotations: {why}"));
                return Ok("NO [SERVERBUG] System I/O error".into());
            }
        }
    }
    if !private.is_empty()
        && session
            .mail_store()?
            .update_metadata(None, |e| apply(e, &private))?
            .is_err()
    {
        return Ok(TOO_MANY.into());
    }
    Ok("OK Completed".into())
}

/// Mailbox entries: the read-only ones refused, `/private/specialuse`
/// checked as CREATE's USE is, then all written together.
fn set_mailbox(
    session: &mut Session,
    name: &MailboxName,
    mut changes: Vec<(String, Option<Vec<u8>>)>,
) -> Result<String, StoreError> {
    if changes.iter().any(|(n, _)| n.starts_with(VENDOR)) {
        // Cyrus's computed entries cannot be set.
        return Ok("NO [NOPERM] Permission denied".into());
    }
    // An administrator's `user/<name>/...` is in that user's tree.
    let (store, local) = super::admin::place(session, name)?;
    let name = &local;
    // Existence first: a missing mailbox is NONEXISTENT whatever is set.
    store.metadata(Some(name))?;
    let mut new_uses = None;
    if let Some(i) = changes.iter().position(|(n, _)| n == SPECIAL_USE) {
        let (_, value) = changes.remove(i);
        let text = String::from_utf8_lossy(value.as_deref().unwrap_or_default()).into_owned();
        let Some(uses) = text
            .split_ascii_whitespace()
            .map(SpecialUse::parse)
            .collect::<Option<Vec<SpecialUse>>>()
        else {
            return Ok("NO [USEATTR] Invalid annotation entry".into());
        };
        // As CREATE (USE ...): a use another mailbox has is refused.
        let taken = store.special_uses()?;
        if taken
            .iter()
            .filter(|(other, _)| *other != name)
            .flat_map(|(_, u)| u)
            .any(|u| uses.contains(u))
        {
            return Ok("NO [USEATTR] SPECIAL-USE flag conflict".into());
        }
        if !store.is_selectable(name) && !uses.is_empty() {
            return Ok("NO [USEATTR] Invalid annotation entry".into());
        }
        new_uses = Some(uses);
    }
    if !changes.is_empty()
        && store
            .update_metadata(Some(name), |e| apply(e, &changes))?
            .is_err()
    {
        return Ok(TOO_MANY.into());
    }
    if let Some(uses) = new_uses {
        store.set_special_uses(name, &uses)?;
    }
    Ok("OK Completed".into())
}
