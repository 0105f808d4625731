//! Mailbox names (UTF-8, hierarchy separator `/`) and their Maildir++
//! directories.
//!
//! INBOX is the root of the tree; `A/B` lives in `.A.B/`. Each component
//! is escaped so names round-trip and cannot collide: `%` → `%25`, `.` →
//! `%2E`. Everything else is kept as UTF-8. Names that could leave the tree
//! or confuse it are refused at construction: empty names or components,
//! `.`/`..` components, NUL and control characters, the LIST wildcards `*`
//! and `%`, and over-long components.

use std::fmt;

pub const SEPARATOR: char = '/';
/// A file name is at most 255 bytes on common file systems.
const MAX_COMPONENT_BYTES: usize = 200;
const MAX_NAME_BYTES: usize = 1000;

/// A validated mailbox name. `INBOX` is always spelled upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidName(pub String);

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid mailbox name: {}", self.0)
    }
}
impl std::error::Error for InvalidName {}

impl MailboxName {
    pub fn inbox() -> MailboxName {
        MailboxName("INBOX".into())
    }

    /// Validates a UTF-8 name (the IMAP layer has already decoded modified UTF-7).
    pub fn new(name: &str) -> Result<MailboxName, InvalidName> {
        if name.is_empty() {
            return Err(InvalidName("empty name".into()));
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(InvalidName("name too long".into()));
        }
        let mut parts: Vec<&str> = name.split(SEPARATOR).collect();
        for p in &parts {
            if p.is_empty() {
                return Err(InvalidName(format!("empty hierarchy level in {name:?}")));
            }
            if *p == "." || *p == ".." {
                return Err(InvalidName(format!("{p:?} is not allowed as a level")));
            }
            if p.chars().any(|c| c.is_control()) {
                return Err(InvalidName("control characters are not allowed".into()));
            }
            if p.contains(['*', '%']) {
                return Err(InvalidName("'*' and '%' are LIST wildcards".into()));
            }
            if encode_component(p).len() > MAX_COMPONENT_BYTES {
                return Err(InvalidName("hierarchy level too long".into()));
            }
        }
        // rfc3501 5.1: INBOX is case-insensitive
        let upper;
        if parts[0].eq_ignore_ascii_case("INBOX") {
            upper = "INBOX";
            parts[0] = upper;
        }
        Ok(MailboxName(parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split(SEPARATOR)
    }

    pub fn parent(&self) -> Option<MailboxName> {
        self.0
            .rsplit_once(SEPARATOR)
            .map(|(p, _)| MailboxName(p.to_string()))
    }

    /// All superiors, outermost first (`a/b/c` → `a`, `a/b`).
    pub fn ancestors(&self) -> Vec<MailboxName> {
        let mut out = Vec::new();
        let mut cur = self.parent();
        while let Some(p) = cur {
            cur = p.parent();
            out.push(p);
        }
        out.reverse();
        out
    }

    /// Is `self` strictly below `other` in the hierarchy?
    pub fn is_inferior_of(&self, other: &MailboxName) -> bool {
        self.0.len() > other.0.len()
            && self.0.starts_with(&other.0)
            && self.0.as_bytes()[other.0.len()] == b'/'
    }

    /// The directory name relative to the tree root: `""` for INBOX, `.A.B` otherwise.
    pub fn dir_name(&self) -> String {
        if self.is_inbox() {
            return String::new();
        }
        let mut out = String::new();
        for c in self.components() {
            out.push('.');
            out.push_str(&encode_component(c));
        }
        out
    }

    /// Inverse of [`dir_name`](Self::dir_name) for a directory entry of the root
    /// (which starts with `.`). None for entries that are not mailboxes.
    pub fn from_dir_name(dir: &str) -> Option<MailboxName> {
        let rest = dir.strip_prefix('.')?;
        if rest.is_empty() || rest == "." {
            return None;
        }
        let mut parts = Vec::new();
        for c in rest.split('.') {
            parts.push(decode_component(c)?);
        }
        let name = parts.join("/");
        let parsed = MailboxName::new(&name).ok()?;
        // Only the canonical spelling maps back (e.g. `.inbox` is not INBOX's dir).
        (parsed.dir_name() == dir).then_some(parsed)
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn encode_component(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    for ch in c.chars() {
        match ch {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            _ => out.push(ch),
        }
    }
    out
}

fn decode_component(c: &str) -> Option<String> {
    let mut out = String::with_capacity(c.len());
    let mut rest = c;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        let code = rest.get(p + 1..p + 3)?;
        match code {
            "25" => out.push('%'),
            "2E" => out.push('.'),
            _ => return None,
        }
        rest = &rest[p + 3..];
    }
    out.push_str(rest);
    if out.is_empty() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        for n in [
            "a",
            "A/B",
            "a.b/c",
            "x.y.",
            "Entw\u{fc}rfe/2024.1",
            "INBOX/sub",
            "sp ace",
        ] {
            let name = MailboxName::new(n).unwrap_or_else(|e| panic!("{n}: {e}"));
            let dir = name.dir_name();
            assert!(!dir[1..].contains('/'));
            assert_eq!(
                MailboxName::from_dir_name(&dir).as_ref(),
                Some(&name),
                "{n} {dir}"
            );
        }
        assert_eq!(MailboxName::new("a.b").unwrap().dir_name(), ".a%2Eb");
        assert_ne!(
            MailboxName::new("a.b").unwrap().dir_name(),
            MailboxName::new("a/b").unwrap().dir_name()
        );
        assert_eq!(MailboxName::new("inbox").unwrap(), MailboxName::inbox());
        assert_eq!(MailboxName::new("Inbox/x").unwrap().as_str(), "INBOX/x");
        assert_eq!(MailboxName::from_dir_name(".a%2"), None);
        assert_eq!(MailboxName::from_dir_name(".."), None);
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "", "/a", "a/", "a//b", "..", "a/../b", ".", "a\0b", "a\nb", "a*", "50%", "\u{7f}",
        ] {
            assert!(MailboxName::new(bad).is_err(), "{bad:?}");
        }
        assert!(MailboxName::new(&"x".repeat(300)).is_err());
    }

    #[test]
    fn hierarchy() {
        let n = MailboxName::new("a/b/c").unwrap();
        assert_eq!(
            n.ancestors(),
            vec![
                MailboxName::new("a").unwrap(),
                MailboxName::new("a/b").unwrap()
            ]
        );
        assert!(n.is_inferior_of(&MailboxName::new("a/b").unwrap()));
        assert!(
            !MailboxName::new("ab")
                .unwrap()
                .is_inferior_of(&MailboxName::new("a").unwrap())
        );
    }
}
