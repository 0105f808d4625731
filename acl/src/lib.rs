//! Mailbox access control lists (rfc4314) as imapd keeps them: one file
//! per mailbox, one `identifier<TAB>rights` line per entry (`-identifier`
//! for negative rights, rfc4314 2), in `imapd.acl.d/` at the root of the
//! owner's tree. No file means the mailbox's owner holds every right and
//! nobody else any.
//!
//! The guest writes these files (SETACL); the host reads them to decide
//! which of a user's mailboxes another user's sandbox may reach. The host
//! reads files written by other users' guests, so [`Acl::parse`] treats
//! its input as hostile: bounded in size and entries, every identifier and
//! right checked, anything else rejected whole (the host then shares
//! nothing, it never guesses).

use std::fmt;

/// Largest file [`Acl::parse`] reads.
pub const MAX_FILE: usize = 64 * 1024;
/// Most entries one ACL holds (SETACL beyond it is refused).
pub const MAX_ENTRIES: usize = 256;
/// Longest identifier.
pub const MAX_IDENTIFIER: usize = 255;

/// The rights imapd keeps, in the order Cyrus prints them (rfc4314 2.1
/// and Cyrus's `n`, write shared annotations). `c` and `d` are virtual
/// (2.1.1): `c` is `k` and `x`, `d` is `e` and `t`.
const LETTERS: &[(char, u16)] = &[
    ('l', 1),
    ('r', 1 << 1),
    ('s', 1 << 2),
    ('w', 1 << 3),
    ('i', 1 << 4),
    ('p', 1 << 5),
    ('k', 1 << 6),
    ('x', 1 << 7),
    ('t', 1 << 8),
    ('e', 1 << 9),
    ('a', 1 << 10),
    ('n', 1 << 11),
];

/// A set of rights.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rights(u16);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const LOOKUP: Rights = Rights(1);
    pub const READ: Rights = Rights(1 << 1);
    pub const SEEN: Rights = Rights(1 << 2);
    pub const WRITE: Rights = Rights(1 << 3);
    pub const INSERT: Rights = Rights(1 << 4);
    pub const POST: Rights = Rights(1 << 5);
    pub const CREATE: Rights = Rights(1 << 6);
    pub const DELETE_MAILBOX: Rights = Rights(1 << 7);
    pub const DELETE_MESSAGES: Rights = Rights(1 << 8);
    pub const EXPUNGE: Rights = Rights(1 << 9);
    pub const ADMIN: Rights = Rights(1 << 10);
    pub const ANNOTATE: Rights = Rights(1 << 11);
    /// Every right (Cyrus's `all`, `lrswipkxtecdan`).
    pub const ALL: Rights = Rights((1 << 12) - 1);
    /// The rights that change what is in a mailbox's directory: a share
    /// holding any of them is opened writable by the host; one without
    /// them read-only.
    pub const WRITING: Rights = Rights(
        Self::SEEN.0
            | Self::WRITE.0
            | Self::INSERT.0
            | Self::DELETE_MESSAGES.0
            | Self::EXPUNGE.0
            | Self::ADMIN.0
            | Self::ANNOTATE.0,
    );

    /// Rights from their letters (SETACL's `mod-rights` without its sign,
    /// Cyrus's `implicit_owner_rights`); `c` and `d` stand for their
    /// members. `None` names the first letter that is no right.
    pub fn parse(letters: &str) -> Result<Rights, char> {
        let mut r = 0;
        for c in letters.chars() {
            r |= match c {
                'c' => Self::CREATE.0 | Self::DELETE_MAILBOX.0,
                'd' => Self::DELETE_MESSAGES.0 | Self::EXPUNGE.0,
                _ => match LETTERS.iter().find(|(l, _)| *l == c) {
                    Some((_, bit)) => *bit,
                    None => return Err(c),
                },
            };
        }
        Ok(Rights(r))
    }

    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn intersects(self, other: Rights) -> bool {
        self.0 & other.0 != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
    pub fn minus(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }
    pub fn bits(self) -> u16 {
        self.0
    }

    /// The real rights' letters, without the virtual `c` and `d` (what a
    /// file keeps: [`Rights::parse`] reads them back exactly).
    pub fn letters(self) -> String {
        LETTERS
            .iter()
            .filter(|(_, bit)| self.0 & bit != 0)
            .map(|(c, _)| *c)
            .collect()
    }
}

impl fmt::Display for Rights {
    /// Cyrus's order, with the virtual `c` and `d` after `e` whenever one
    /// of their members is there (rfc4314 2.1.1).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &(c, bit) in LETTERS {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
            if c == 'e' {
                if self.intersects(Rights::CREATE.union(Rights::DELETE_MAILBOX)) {
                    f.write_str("c")?;
                }
                if self.intersects(Rights::DELETE_MESSAGES.union(Rights::EXPUNGE)) {
                    f.write_str("d")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rights({self})")
    }
}

/// Why an ACL or an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    TooLarge,
    TooManyEntries,
    /// Line `n` (1-based) is not `identifier<TAB>rights`.
    Line(usize),
    Identifier(String),
    Right(char),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::TooLarge => write!(f, "ACL larger than {MAX_FILE} octets"),
            Invalid::TooManyEntries => write!(f, "ACL has more than {MAX_ENTRIES} entries"),
            Invalid::Line(n) => write!(f, "line {n} is not an ACL entry"),
            Invalid::Identifier(id) => write!(f, "invalid identifier {id:?}"),
            Invalid::Right(c) => write!(f, "invalid right {c:?}"),
        }
    }
}

impl std::error::Error for Invalid {}

/// Whether `id` may be an ACL identifier: a user name as logins have them,
/// `anyone`, `anonymous`, or `group:<name>`. Printable ASCII without
/// spaces, quotes or backslashes, at most [`MAX_IDENTIFIER`] octets, and
/// not starting with `-` (the sign of negative rights) or `.`.
pub fn valid_identifier(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_IDENTIFIER
        && !id.starts_with(['-', '.'])
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'/' | b'*' | b'%'))
}

/// One entry: an identifier with positive or (rfc4314 2) negative rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub identifier: String,
    pub negative: bool,
    pub rights: Rights,
}

impl Entry {
    /// The identifier as ACL responses show it (`-` first when negative).
    pub fn shown(&self) -> String {
        if self.negative {
            format!("-{}", self.identifier)
        } else {
            self.identifier.clone()
        }
    }
}

/// A mailbox's ACL: its entries in the order they were first set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Acl {
    entries: Vec<Entry>,
}

impl Acl {
    /// The ACL of a mailbox that has no file: its owner holds every right.
    pub fn owner_default(owner: &str) -> Acl {
        Acl {
            entries: vec![Entry {
                identifier: owner.to_string(),
                negative: false,
                rights: Rights::ALL,
            }],
        }
    }

    /// Reads an ACL file. Hostile input: anything that is not a
    /// well-formed file of at most [`MAX_ENTRIES`] entries is refused.
    pub fn parse(data: &[u8]) -> Result<Acl, Invalid> {
        if data.len() > MAX_FILE {
            return Err(Invalid::TooLarge);
        }
        let text = std::str::from_utf8(data).map_err(|_| Invalid::Line(1))?;
        let mut acl = Acl::default();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let (id, letters) = line.split_once('\t').ok_or(Invalid::Line(i + 1))?;
            let (negative, id) = match id.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, id),
            };
            if !valid_identifier(id) {
                return Err(Invalid::Identifier(id.to_string()));
            }
            let rights = Rights::parse(letters).map_err(Invalid::Right)?;
            acl.set(id, negative, rights)?;
        }
        Ok(acl)
    }

    /// The file's bytes ([`Acl::parse`] reads them back).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&e.shown());
            out.push('\t');
            out.push_str(&e.rights.letters());
            out.push('\n');
        }
        out.into_bytes()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The rights `identifier` has (positive or negative), if an entry.
    pub fn get(&self, identifier: &str, negative: bool) -> Option<Rights> {
        self.entries
            .iter()
            .find(|e| e.negative == negative && e.identifier == identifier)
            .map(|e| e.rights)
    }

    /// Replaces (or adds) an entry; empty rights remove it.
    pub fn set(&mut self, identifier: &str, negative: bool, rights: Rights) -> Result<(), Invalid> {
        if !valid_identifier(identifier) {
            return Err(Invalid::Identifier(identifier.to_string()));
        }
        let at = self
            .entries
            .iter()
            .position(|e| e.negative == negative && e.identifier == identifier);
        match (at, rights.is_empty()) {
            (Some(i), true) => {
                self.entries.remove(i);
            }
            (Some(i), false) => self.entries[i].rights = rights,
            (None, true) => {}
            (None, false) => {
                if self.entries.len() >= MAX_ENTRIES {
                    return Err(Invalid::TooManyEntries);
                }
                self.entries.push(Entry {
                    identifier: identifier.to_string(),
                    negative,
                    rights,
                });
            }
        }
        Ok(())
    }

    /// Removes an entry (DELETEACL); false if there was none.
    pub fn remove(&mut self, identifier: &str, negative: bool) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.negative == negative && e.identifier == identifier));
        self.entries.len() != before
    }

    /// The rights `user` has from this ACL (rfc4314 2: the union of the
    /// entries that name the user or `anyone`, less every negative right
    /// of those). Implicit rights of owners and administrators are the
    /// caller's to add.
    pub fn rights_of(&self, user: &str) -> Rights {
        let applies = |id: &str| id == user || id == "anyone";
        let mut granted = Rights::NONE;
        let mut denied = Rights::NONE;
        for e in &self.entries {
            if applies(&e.identifier) {
                if e.negative {
                    denied = denied.union(e.rights);
                } else {
                    granted = granted.union(e.rights);
                }
            }
        }
        granted.minus(denied)
    }

    /// Whether anyone but `owner` holds a right here (the mailbox is
    /// shared and the host indexes it).
    pub fn shares_beyond(&self, owner: &str) -> bool {
        self.entries
            .iter()
            .any(|e| !e.negative && e.identifier != owner && !e.rights.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_round_trip_in_cyrus_order_with_virtual_c_and_d() {
        let all = Rights::parse("lrswipkxtecdan").unwrap();
        assert_eq!(all, Rights::ALL);
        assert_eq!(all.to_string(), "lrswipkxtecdan");
        // rfc4314 2.1.1: d is e and t; c is k and x; shown when a member is.
        assert_eq!(Rights::parse("lrswida").unwrap().to_string(), "lrswiteda");
        assert_eq!(Rights::parse("k").unwrap().to_string(), "kc");
        assert_eq!(Rights::parse("lr").unwrap().to_string(), "lr");
        assert_eq!(Rights::parse("lrz"), Err('z'));
        // Files keep the real rights only: `k` alone stays `k`.
        let k = Rights::parse("k").unwrap();
        assert_eq!(Rights::parse(&k.letters()), Ok(k));
    }

    #[test]
    fn rights_of_unions_user_and_anyone_less_negatives() {
        let mut acl = Acl::owner_default("alice");
        acl.set("bob", false, Rights::parse("lrs").unwrap())
            .unwrap();
        acl.set("anyone", false, Rights::parse("lw").unwrap())
            .unwrap();
        acl.set("bob", true, Rights::parse("w").unwrap()).unwrap();
        assert_eq!(acl.rights_of("bob").to_string(), "lrs");
        assert_eq!(acl.rights_of("carol").to_string(), "lw");
        assert_eq!(acl.rights_of("alice"), Rights::ALL);
        assert!(acl.shares_beyond("alice"));
        assert!(!Acl::owner_default("alice").shares_beyond("alice"));
    }

    #[test]
    fn files_round_trip_and_hostile_ones_are_refused_whole() {
        let mut acl = Acl::owner_default("alice");
        acl.set("bob", false, Rights::parse("lr").unwrap()).unwrap();
        acl.set("eve", true, Rights::parse("r").unwrap()).unwrap();
        let bytes = acl.encode();
        assert_eq!(bytes, b"alice\tlrswipkxtean\nbob\tlr\n-eve\tr\n");
        assert_eq!(Acl::parse(&bytes), Ok(acl));
        for bad in [
            &b"bob lr\n"[..],
            b"bob\tlrQ\n",
            b"../x\tlr\n",
            b"\tlr\n",
            b"--bob\tlr\n",
            b"b\"ob\tlr\n",
            b"\xff\tlr\n",
        ] {
            assert!(
                Acl::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            Acl::parse(&vec![b'a'; MAX_FILE + 1]),
            Err(Invalid::TooLarge)
        );
        let many: String = (0..=MAX_ENTRIES).map(|i| format!("u{i}\tl\n")).collect();
        assert_eq!(Acl::parse(many.as_bytes()), Err(Invalid::TooManyEntries));
    }

    #[test]
    fn setting_empty_rights_removes_the_entry() {
        let mut acl = Acl::owner_default("alice");
        acl.set("bob", false, Rights::READ).unwrap();
        acl.set("bob", false, Rights::NONE).unwrap();
        assert_eq!(acl.entries().len(), 1);
        assert!(!acl.remove("bob", false));
        assert!(acl.remove("alice", false));
        assert!(acl.entries().is_empty());
    }
}
