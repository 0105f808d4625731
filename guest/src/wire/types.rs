//! Protocol values that are validated once, when they are built, so code
//! that receives one never checks it again.

use std::fmt;
use std::num::NonZeroU32;
use std::rc::Rc;

/// rfc9051 9: ATOM-CHAR = any CHAR except atom-specials
/// (`(`, `)`, `{`, SP, CTL, `%`, `*`, `"`, `\`, `]`).
pub fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// rfc9051 9: ASTRING-CHAR = ATOM-CHAR / resp-specials (`]`).
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// rfc9051 9: tag = 1*<any ASTRING-CHAR except "+">.
pub fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// A command tag (rfc9051 2.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    pub fn new(bytes: &[u8]) -> Option<Tag> {
        if bytes.is_empty() || !bytes.iter().all(|&b| is_tag_char(b)) {
            return None;
        }
        // All bytes are ASCII, so this cannot fail.
        String::from_utf8(bytes.to_vec()).ok().map(Tag)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An atom (rfc9051 9): one or more ATOM-CHARs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Atom(String);

impl Atom {
    pub fn new(bytes: &[u8]) -> Option<Atom> {
        if bytes.is_empty() || !bytes.iter().all(|&b| is_atom_char(b)) {
            return None;
        }
        String::from_utf8(bytes.to_vec()).ok().map(Atom)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive comparison, as IMAP keywords are compared.
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// rfc9051 9: seq-number = nz-number / "*".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNumber {
    Value(NonZeroU32),
    /// `*`: the largest number in use.
    Largest,
}

/// rfc9051 9: seq-range = seq-number ":" seq-number (either order).
/// A single number is a range with `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    pub first: SeqNumber,
    pub last: SeqNumber,
}

/// rfc9051 9: sequence-set, plus `$` (rfc5182 2.1, the saved search result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    /// `$` (rfc5182 3: seq-last-command): the UIDs, ascending, that the
    /// last `SEARCH RETURN (SAVE)` left when the command was parsed (empty
    /// when nothing is saved). UIDs whatever the command numbers by
    /// (rfc5182 2.1: `$` from a SEARCH may be used in a UID FETCH and the
    /// other way round), so expunged messages simply drop out.
    Saved(Rc<[u32]>),
    /// One or more ranges, in the order the client wrote them; never empty.
    Ranges(Vec<SeqRange>),
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNumber::Value(n) => write!(f, "{n}"),
            SeqNumber::Largest => f.write_str("*"),
        }
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceSet::Saved(_) => f.write_str("$"),
            SequenceSet::Ranges(ranges) => {
                for (i, r) in ranges.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if r.first == r.last {
                        write!(f, "{}", r.first)?;
                    } else {
                        write!(f, "{}:{}", r.first, r.last)?;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert!(Tag::new(b"a001").is_some());
        assert!(Tag::new(b"A]1").is_some());
        for bad in [&b""[..], b"*", b"a+", b"a b", b"a\0", b"a{", b"\xc3\xa9"] {
            assert!(Tag::new(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn atoms() {
        assert_eq!(Atom::new(b"CONDSTORE").unwrap().as_str(), "CONDSTORE");
        assert!(Atom::new(b"a]").is_none());
        assert!(Atom::new(b"a%").is_none());
    }
}
