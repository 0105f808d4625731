//! What the mailbox commands share: mailbox names between the wire
//! (modified UTF-7, rfc3501 5.1.3; UTF-8 once IMAP4rev2 is enabled,
//! rfc9051 5.1) and the store (UTF-8), and the NO replies for store
//! failures (rfc5530 response codes, Cyrus's texts).

use super::Request;
use super::admin::SHARED_FOLDERS;
use crate::session::Session;
use crate::store::{MailboxName, StoreError, mutf7};
use crate::wire::parser::SyntaxError;
use crate::wire::types::is_astring_char;

/// A mailbox argument that parsed but does not name a valid mailbox:
/// the NO text to send (nothing is written to the store).
pub struct BadName(pub String);

/// How names look on this session's wire: UTF-8 or modified UTF-7, and
/// Cyrus's namespace options. The store always names `A/B` with `/` and
/// personal folders beside INBOX; the client sees, with
/// `unixhierarchysep: no`, `.` as the separator (a `.` inside a name
/// shows as `^`, as Cyrus shows it), and with `altnamespace: no`, the
/// personal folders under INBOX (`INBOX.Sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    /// The client speaks UTF-8 names (rfc9051 5.1, rfc6855 3).
    pub utf8: bool,
    /// The hierarchy separator shown: `/` or `.`.
    pub sep: char,
    /// Personal folders beside INBOX (Cyrus's alternate namespace).
    pub alt: bool,
    /// Other users' mailboxes (the store's `user/<owner>/...`) shown as
    /// `Other Users/<owner>/...` (the alternate namespace, for users
    /// who are not administrators).
    pub others: bool,
}

/// The other users' namespace in the alternate namespace (rfc2342 5).
pub const OTHER_USERS: &str = "Other Users";

impl Wire {
    /// Cyrus 3's defaults: `/`, personal folders beside INBOX.
    pub fn new(utf8: bool) -> Wire {
        Wire {
            utf8,
            sep: '/',
            alt: true,
            others: false,
        }
    }

    /// This session's: `utf8`, and `unixhierarchysep` and `altnamespace`.
    pub fn of(settings: &crate::settings::Settings, utf8: bool) -> Wire {
        Wire {
            utf8,
            sep: if settings.switch("unixhierarchysep", true) {
                '/'
            } else {
                '.'
            },
            alt: settings.switch("altnamespace", true),
            others: false,
        }
    }

    /// The same, with UTF-8 names or not.
    pub fn with_utf8(self, utf8: bool) -> Wire {
        Wire { utf8, ..self }
    }

    /// The prefix of personal folders (`INBOX.` without the alternate
    /// namespace; empty with it).
    pub fn personal_prefix(self) -> String {
        if self.alt {
            String::new()
        } else {
            format!("INBOX{}", self.sep)
        }
    }

    /// A store name as the client sees it (before modified UTF-7).
    pub fn show(self, name: &str) -> String {
        let name = match name.strip_prefix("user") {
            Some(rest) if self.others && (rest.is_empty() || rest.starts_with('/')) => {
                std::borrow::Cow::Owned(format!("{OTHER_USERS}{rest}"))
            }
            _ => std::borrow::Cow::Borrowed(name),
        };
        let name = name.as_ref();
        // Without the alternate namespace the shared folders are at the
        // top (Cyrus's standard namespace: `(("" "."))`, rfc2342 5).
        if !self.alt
            && let Some(rest) = name.strip_prefix(SHARED_FOLDERS)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            let alt = Wire { alt: true, ..self };
            return alt.show(rest.trim_start_matches('/'));
        }
        let body = if self.sep == '/' {
            name.to_string()
        } else {
            let parts: Vec<String> = name.split('/').map(|c| c.replace('.', "^")).collect();
            parts.join(".")
        };
        // `user/...`: an administrator's view of other users (admin.rs),
        // which is not personal.
        if self.alt || name == "INBOX" || is_users(name) || self.is_others(name) {
            body
        } else {
            format!("{}{body}", self.personal_prefix())
        }
    }

    /// A name as the client wrote it (decoded) → the store's name.
    pub fn take(self, text: &str) -> Result<String, BadName> {
        if self.others {
            // `Other Users[<sep>...]` → `user[/...]`; a personal name
            // `user...` is not available beside it.
            if let Some(after) = text.strip_prefix(OTHER_USERS)
                && (after.is_empty() || after.starts_with(self.sep))
            {
                let inner = self.take(&format!("x{after}"))?;
                return Ok(format!("user{}", &inner[1..]));
            }
        }
        let mut rest = text;
        if !self.alt && !is_users(&text.replace(self.sep, "/")) {
            if rest.eq_ignore_ascii_case("INBOX") {
                return Ok("INBOX".into());
            }
            let prefix = self.personal_prefix();
            match rest.get(..prefix.len()) {
                Some(p) if p.eq_ignore_ascii_case(&prefix) => rest = &rest[prefix.len()..],
                // Outside INBOX: a shared folder.
                _ => {
                    let alt = Wire { alt: true, ..self };
                    return Ok(format!("{SHARED_FOLDERS}/{}", alt.take(text)?));
                }
            }
            if rest.eq_ignore_ascii_case("INBOX") {
                return Err(BadName("NO Invalid mailbox name: INBOX under INBOX".into()));
            }
        }
        if self.sep == '/' {
            return Ok(rest.to_string());
        }
        if rest.contains('/') {
            return Err(BadName(
                "NO Invalid mailbox name: '/' is not allowed (the separator is '.')".into(),
            ));
        }
        let parts: Vec<String> = rest.split('.').map(|c| c.replace('^', ".")).collect();
        Ok(parts.join("/"))
    }
}

impl Wire {
    /// `name` (as shown) is in the `Other Users` namespace.
    fn is_others(self, name: &str) -> bool {
        self.others
            && name
                .strip_prefix(OTHER_USERS)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    }
}

/// `user` or a name below it: other users' mailboxes as administrators
/// name them (`admin.rs`), outside the personal namespace.
fn is_users(name: &str) -> bool {
    name == "user" || name.starts_with("user/")
}

/// Reads one `mailbox` argument (rfc3501 9: astring); the outer result is
/// the syntax, the inner one whether it names a valid mailbox.
pub fn parse_mailbox(req: &mut Request) -> Result<Result<MailboxName, BadName>, SyntaxError> {
    let raw = req.args.astring()?;
    Ok(mailbox_from_wire(&raw, req.names))
}

/// Wire bytes → validated name. INBOX is case-insensitive (rfc3501 5.1).
pub fn mailbox_from_wire(raw: &[u8], wire: Wire) -> Result<MailboxName, BadName> {
    let text = wire.take(&decode_wire(raw, wire.utf8)?)?;
    MailboxName::new(&text).map_err(|e| BadName(format!("NO Invalid mailbox name: {}", e.0)))
}

/// Wire bytes → UTF-8 text (also for LIST patterns, which may hold `*` `%`).
pub fn decode_wire(raw: &[u8], utf8: bool) -> Result<String, BadName> {
    if utf8 {
        // rfc9051 5.1: UTF-8 as it is; `&` is just a character.
        return std::str::from_utf8(raw)
            .map(str::to_string)
            .map_err(|_| BadName("NO Invalid mailbox name: not UTF-8".into()));
    }
    let text = std::str::from_utf8(raw)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or_else(|| {
            BadName("NO Invalid mailbox name: 8-bit characters must be modified UTF-7".into())
        })?;
    mutf7::decode(text).map_err(|e| BadName(format!("NO Invalid mailbox name: {}", e.0)))
}

/// A name as it goes on the wire: modified UTF-7 (or UTF-8 with `utf8`,
/// rfc9051 5.1), then an atom if it can be one, otherwise a quoted string
/// (rfc9051 9 lets a quoted string hold UTF-8).
pub fn wire_name(name: &str, wire: Wire) -> String {
    let shown = wire.show(name);
    if wire.utf8 {
        astring(&shown)
    } else {
        astring(&mutf7::encode(&shown))
    }
}

/// rfc3501 9 astring output for printable text: the bare atom, or a
/// quoted string when it is empty, `NIL`, or has special characters
/// (rfc9051 9: UTF-8 only in a quoted string).
pub fn astring(text: &str) -> String {
    let atom_ok =
        !text.is_empty() && !text.eq_ignore_ascii_case("NIL") && text.bytes().all(is_astring_char);
    if atom_ok {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The NO reply for a store failure. I/O errors are logged, the client
/// gets Cyrus's `System I/O error` (a full disk too: inside the sandbox
/// a failed write is an I/O error whatever the cause).
pub fn failure_text(session: &Session, error: &StoreError) -> String {
    match error {
        StoreError::InvalidName(e) => format!("NO Invalid mailbox name: {}", one_line(&e.0)),
        StoreError::NoSuchMailbox(_) | StoreError::NotSelectable(_) => {
            "NO [NONEXISTENT] Mailbox does not exist".into()
        }
        StoreError::AlreadyExists(_) => "NO [ALREADYEXISTS] Mailbox already exists".into(),
        // rfc3501 6.3.4
        StoreError::HasChildren(_) => "NO [CANNOT] Mailbox has inferior hierarchical names".into(),
        StoreError::CannotDeleteInbox => "NO [CANNOT] Operation is not supported on mailbox".into(),
        StoreError::RenameIntoSelf => {
            "NO [CANNOT] Cannot rename a mailbox to itself or an inferior".into()
        }
        StoreError::ReadOnly => "NO [CANNOT] Mailbox is read-only".into(),
        StoreError::PermissionDenied => crate::access::NO_PERMISSION.into(),
        StoreError::UidValidityChanged => {
            "NO [UNAVAILABLE] Mailbox changed while in use, try again".into()
        }
        StoreError::Io(_) => {
            session.log_store_error("mail store", error);
            "NO [SERVERBUG] System I/O error".into()
        }
    }
}

/// Reply with [`failure_text`].
pub fn reply_failure(session: &mut Session, req: &Request, error: &StoreError) {
    let text = failure_text(session, error);
    req.reply(session, &text);
}

/// Keep client-derived text on one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_name_rev1(name: &str) -> String {
        wire_name(name, Wire::new(false))
    }

    #[test]
    fn names_to_and_from_the_wire() {
        assert_eq!(wire_name_rev1("INBOX"), "INBOX");
        assert_eq!(wire_name_rev1("a b"), "\"a b\"");
        assert_eq!(wire_name_rev1("Entw\u{fc}rfe"), "Entw&APw-rfe");
        assert_eq!(wire_name_rev1("a&b"), "a&-b");
        assert_eq!(wire_name_rev1("NIL"), "\"NIL\"");
        assert_eq!(wire_name_rev1("x\"y\\"), "\"x\\\"y\\\\\"");
        assert_eq!(wire_name_rev1(""), "\"\"");
        assert_eq!(
            mailbox_from_wire(b"Entw&APw-rfe", Wire::new(false))
                .ok()
                .unwrap()
                .as_str(),
            "Entw\u{fc}rfe"
        );
        assert_eq!(
            mailbox_from_wire(b"inbox", Wire::new(false))
                .ok()
                .unwrap()
                .as_str(),
            "INBOX"
        );
        for bad in [
            &b"a/../b"[..],
            b"../x",
            b"a//b",
            b"&Jjo",
            b"\xc3\xa9",
            b"/x",
            b"a*",
        ] {
            assert!(mailbox_from_wire(bad, Wire::new(false)).is_err(), "{bad:?}");
        }
        // rfc9051 5.1: UTF-8 names, `&` a character like any other.
        assert_eq!(
            wire_name("Entw\u{fc}rfe", Wire::new(true)),
            "\"Entw\u{fc}rfe\""
        );
        assert_eq!(wire_name("a&b", Wire::new(true)), "a&b");
        assert_eq!(
            mailbox_from_wire("下書き".as_bytes(), Wire::new(true))
                .ok()
                .unwrap()
                .as_str(),
            "下書き"
        );
        assert_eq!(
            mailbox_from_wire(b"Entw&APw-rfe", Wire::new(true))
                .ok()
                .unwrap()
                .as_str(),
            "Entw&APw-rfe"
        );
        assert!(mailbox_from_wire(b"\xff", Wire::new(true)).is_err());
    }
}
