//! A recursive-descent parser over one complete command, as the reader
//! assembled it (rfc9051 9, rfc3501 9). Each function parses one grammar
//! rule and leaves the cursor after it; none of them panics on any input.

use std::num::NonZeroU32;
use std::rc::Rc;

use super::types::{Atom, SeqNumber, SeqRange, SequenceSet, Tag, is_astring_char, is_atom_char};

/// Why the arguments of a command did not parse. The dispatcher turns it
/// into Cyrus's BAD replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntaxError {
    /// The line ended where an argument was required:
    /// `BAD Missing required argument to <Command>`.
    Missing,
    /// Something follows the last argument:
    /// `BAD Unexpected extra arguments to <Command>`.
    Extra,
    /// Malformed; the text says what (`BAD <text> in <Command>`).
    Invalid(&'static str),
}

pub type Result<T> = std::result::Result<T, SyntaxError>;

/// A cursor over one command's bytes.
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// What `$` stands for in this command (rfc5182 2.1).
    saved: Rc<[u32]>,
    /// Quoted strings must be UTF-8 (rfc6855 3 uQUOTED-CHAR, rfc9051 9
    /// QUOTED-CHAR); otherwise 8-bit bytes are taken as they are.
    utf8_quoted: bool,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a [u8]) -> Parser<'a> {
        Parser {
            input,
            pos: 0,
            saved: Rc::from([]),
            utf8_quoted: false,
        }
    }

    /// Quoted strings must hold valid UTF-8 (rfc6855 3: "the server MUST
    /// reject, with a BAD response, any octet sequences with the high
    /// bit set that fail to comply with ... UTF-8").
    pub fn with_utf8_quoted(mut self, utf8: bool) -> Parser<'a> {
        self.utf8_quoted = utf8;
        self
    }

    /// The saved search result (UIDs, ascending) that `$` names in this
    /// command (rfc5182 2.1); without it `$` is the empty set.
    pub fn with_saved_result(mut self, uids: Rc<[u32]>) -> Parser<'a> {
        self.saved = uids;
        self
    }

    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// The byte `n` places after the next one.
    pub fn peek_at(&self, n: usize) -> Option<u8> {
        self.input.get(self.pos.checked_add(n)?).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or(&[])
    }

    /// At CRLF, LF or the end of the input.
    pub fn at_eol(&self) -> bool {
        matches!(self.rest(), [] | [b'\n', ..] | [b'\r', b'\n', ..])
    }

    /// Consume `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The command must end here: optional CR, LF, nothing after.
    pub fn finish(&mut self) -> Result<()> {
        let rest = self.rest();
        if rest == b"\r\n" || rest == b"\n" || rest.is_empty() {
            self.pos = self.input.len();
            Ok(())
        } else {
            Err(SyntaxError::Extra)
        }
    }

    /// One SP; at the line end the next argument is missing.
    pub fn sp(&mut self) -> Result<()> {
        if self.at_eol() {
            Err(SyntaxError::Missing)
        } else if self.eat(b' ') {
            Ok(())
        } else {
            Err(SyntaxError::Invalid("Missing space"))
        }
    }

    /// Bytes up to the next SP, CR, LF, `(`, `)` or `"` (Cyrus's getword).
    pub fn word(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|b| matches!(b, b' ' | b'\r' | b'\n' | b'(' | b')' | b'"'))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// The tag and the SP after it; `None` for `* BAD Invalid tag`.
    pub fn tag(&mut self) -> Option<Tag> {
        let word = self.word();
        let tag = Tag::new(word)?;
        self.eat(b' ').then_some(tag)
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let rest = self.rest();
        let len = rest.iter().position(|&b| !f(b)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// rfc9051 9: atom.
    pub fn atom(&mut self) -> Result<Atom> {
        if self.at_eol() {
            return Err(SyntaxError::Missing);
        }
        Atom::new(self.take_while(is_atom_char)).ok_or(SyntaxError::Invalid("Invalid atom"))
    }

    /// rfc9051 9: astring = 1*ASTRING-CHAR / string.
    pub fn astring(&mut self) -> Result<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                if self.at_eol() {
                    return Err(SyntaxError::Missing);
                }
                let atom = self.take_while(is_astring_char);
                if atom.is_empty() {
                    Err(SyntaxError::Invalid("Invalid astring"))
                } else {
                    Ok(atom.to_vec())
                }
            }
        }
    }

    /// rfc3501 9: list-mailbox = 1*list-char / string, where list-char is
    /// ATOM-CHAR, `%`, `*` or `]` (LIST and LSUB patterns).
    pub fn list_mailbox(&mut self) -> Result<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                if self.at_eol() {
                    return Err(SyntaxError::Missing);
                }
                let chars = self.take_while(|b| is_astring_char(b) || b == b'%' || b == b'*');
                if chars.is_empty() {
                    Err(SyntaxError::Invalid("Invalid mailbox pattern"))
                } else {
                    Ok(chars.to_vec())
                }
            }
        }
    }

    /// rfc9051 9: string = quoted / literal.
    pub fn string(&mut self) -> Result<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(false),
            _ if self.at_eol() => Err(SyntaxError::Missing),
            _ => Err(SyntaxError::Invalid("Invalid string")),
        }
    }

    /// rfc3516 4.3: a string or a literal8 (`~{N}`), which may hold NULs.
    pub fn string8(&mut self) -> Result<Vec<u8>> {
        if self.eat(b'~') {
            if self.peek() != Some(b'{') {
                return Err(SyntaxError::Invalid("Invalid literal8"));
            }
            self.literal(true)
        } else {
            self.string()
        }
    }

    /// `NIL`, case-insensitively, as a whole word.
    pub fn nil(&mut self) -> bool {
        let rest = self.rest();
        let is_nil = rest.len() >= 3
            && rest[..3].eq_ignore_ascii_case(b"NIL")
            && rest.get(3).is_none_or(|&b| !is_astring_char(b));
        if is_nil {
            self.pos += 3;
        }
        is_nil
    }

    /// rfc9051 9: nstring = string / nil.
    pub fn nstring(&mut self) -> Result<Option<Vec<u8>>> {
        if self.nil() {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// rfc9051 9: quoted = DQUOTE *QUOTED-CHAR DQUOTE; only `\\` and `\"`
    /// may be escaped. 8-bit bytes are taken (rfc9051 allows UTF-8), and
    /// must be UTF-8 [`Parser::with_utf8_quoted`].
    pub fn quoted(&mut self) -> Result<Vec<u8>> {
        if !self.eat(b'"') {
            return Err(SyntaxError::Invalid("Invalid quoted string"));
        }
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    if self.utf8_quoted && std::str::from_utf8(&out).is_err() {
                        return Err(SyntaxError::Invalid("Invalid UTF-8 in quoted string"));
                    }
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'\\' | b'"')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(SyntaxError::Invalid("Invalid escape in quoted string")),
                    }
                }
                None | Some(b'\0' | b'\r' | b'\n') => {
                    return Err(SyntaxError::Invalid("Invalid quoted string"));
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// rfc9051 9: literal = "{" number64 ["+"] "}" CRLF *CHAR8 (rfc7888 for
    /// `+`). A bare LF after `}` is accepted as the reader accepts it.
    /// NUL is allowed only in a literal8.
    fn literal(&mut self, binary: bool) -> Result<Vec<u8>> {
        if !self.eat(b'{') {
            return Err(SyntaxError::Invalid("Invalid literal"));
        }
        let digits = self.take_while(|b| b.is_ascii_digit());
        let len = parse_number(digits).ok_or(SyntaxError::Invalid("Invalid literal"))?;
        self.eat(b'+');
        if !self.eat(b'}') {
            return Err(SyntaxError::Invalid("Invalid literal"));
        }
        self.eat(b'\r');
        if !self.eat(b'\n') {
            return Err(SyntaxError::Invalid("Invalid literal"));
        }
        let len = usize::try_from(len).map_err(|_| SyntaxError::Invalid("Invalid literal"))?;
        let data = self
            .rest()
            .get(..len)
            .ok_or(SyntaxError::Invalid("Invalid literal"))?;
        if !binary && data.contains(&0) {
            return Err(SyntaxError::Invalid("NUL in literal"));
        }
        self.pos += len;
        Ok(data.to_vec())
    }

    /// rfc9051 9: number (fits in 32 bits).
    pub fn number(&mut self) -> Result<u32> {
        if self.at_eol() {
            return Err(SyntaxError::Missing);
        }
        let digits = self.take_while(|b| b.is_ascii_digit());
        parse_number(digits)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(SyntaxError::Invalid("Invalid number"))
    }

    /// rfc9051 9: nz-number.
    pub fn nz_number(&mut self) -> Result<NonZeroU32> {
        NonZeroU32::new(self.number()?).ok_or(SyntaxError::Invalid("Invalid number"))
    }

    /// rfc7162 7: mod-sequence-value (1 to 2^63-1); with `zero_ok`,
    /// mod-sequence-valzer (0 to 2^63-1).
    pub fn mod_sequence(&mut self, zero_ok: bool) -> Result<u64> {
        if self.at_eol() {
            return Err(SyntaxError::Missing);
        }
        let digits = self.take_while(|b| b.is_ascii_digit());
        parse_number(digits)
            .filter(|&n| n < 1 << 63 && (zero_ok || n > 0))
            .ok_or(SyntaxError::Invalid("Invalid mod-sequence"))
    }

    fn seq_number(&mut self) -> Result<SeqNumber> {
        if self.eat(b'*') {
            Ok(SeqNumber::Largest)
        } else {
            self.nz_number()
                .map(SeqNumber::Value)
                .map_err(|_| SyntaxError::Invalid("Invalid sequence"))
        }
    }

    /// rfc9051 9: sequence-set; `$` per rfc5182 3 (`sequence-set =/
    /// seq-last-command`: the whole set, never one of its ranges).
    pub fn sequence_set(&mut self) -> Result<SequenceSet> {
        if self.at_eol() {
            return Err(SyntaxError::Missing);
        }
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved(self.saved.clone()));
        }
        let mut ranges = Vec::new();
        loop {
            let first = self.seq_number()?;
            let last = if self.eat(b':') {
                self.seq_number()?
            } else {
                first
            };
            ranges.push(SeqRange { first, last });
            if !self.eat(b',') {
                return Ok(SequenceSet::Ranges(ranges));
            }
        }
    }

    /// `"(" [item *(SP item)] ")"`; `allow_empty` for rules that permit `()`.
    pub fn list<T>(
        &mut self,
        allow_empty: bool,
        mut item: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        if !self.eat(b'(') {
            return Err(if self.at_eol() {
                SyntaxError::Missing
            } else {
                SyntaxError::Invalid("Invalid list")
            });
        }
        let mut items = Vec::new();
        if self.eat(b')') {
            return if allow_empty {
                Ok(items)
            } else {
                Err(SyntaxError::Invalid("Empty list"))
            };
        }
        loop {
            items.push(item(self)?);
            if self.eat(b')') {
                return Ok(items);
            }
            if !self.eat(b' ') {
                return Err(SyntaxError::Invalid("Invalid list"));
            }
        }
    }
}

/// Decimal digits to a number, `None` if empty or over 2^63-1 (number64).
fn parse_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    (n <= i64::MAX as u64).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[u8]) -> Parser<'_> {
        Parser::new(s)
    }

    #[test]
    fn tag_and_word() {
        let mut c = p(b"a001 NOOP\r\n");
        assert_eq!(c.tag().unwrap().as_str(), "a001");
        assert_eq!(c.word(), b"NOOP");
        assert!(c.finish().is_ok());
        assert!(p(b"* NOOP\r\n").tag().is_none());
        assert!(p(b"a001\r\n").tag().is_none());
        assert!(p(b"\r\n").tag().is_none());
    }

    #[test]
    fn astrings() {
        let mut c = p(b"user \"pa\\\"ss\\\\\" {3}\r\nabc ~{2}\r\na\0 x]y\r\n");
        assert_eq!(c.astring().unwrap(), b"user");
        c.sp().unwrap();
        assert_eq!(c.astring().unwrap(), b"pa\"ss\\");
        c.sp().unwrap();
        assert_eq!(c.astring().unwrap(), b"abc");
        c.sp().unwrap();
        assert_eq!(c.string8().unwrap(), b"a\0");
        c.sp().unwrap();
        assert_eq!(c.astring().unwrap(), b"x]y");
        c.finish().unwrap();
    }

    #[test]
    fn utf8_quoted_strings() {
        let latin1 = b"\"caf\xe9\"";
        // IMAP4rev1 without UTF8=ACCEPT: 8-bit bytes as they come.
        assert_eq!(p(latin1).quoted().unwrap(), b"caf\xe9");
        // rfc6855 3: UTF-8 taken, anything else BAD.
        let utf8 = |s: &'static [u8]| p(s).with_utf8_quoted(true).quoted();
        assert_eq!(utf8("\"café\"".as_bytes()).unwrap(), "café".as_bytes());
        assert_eq!(
            utf8(latin1),
            Err(SyntaxError::Invalid("Invalid UTF-8 in quoted string"))
        );
        // A literal is not a quoted string: its bytes are the message's.
        let mut c = p(b"{4}\r\ncaf\xe9").with_utf8_quoted(true);
        assert_eq!(c.string().unwrap(), b"caf\xe9");
    }

    #[test]
    fn list_mailboxes() {
        let mut c = p(b"INBOX/% \"a b\" *]x (");
        assert_eq!(c.list_mailbox().unwrap(), b"INBOX/%");
        c.sp().unwrap();
        assert_eq!(c.list_mailbox().unwrap(), b"a b");
        c.sp().unwrap();
        assert_eq!(c.list_mailbox().unwrap(), b"*]x");
        c.sp().unwrap();
        assert!(c.list_mailbox().is_err());
        assert_eq!(p(b"").list_mailbox(), Err(SyntaxError::Missing));
    }

    #[test]
    fn literal_plus_and_bare_lf() {
        let mut c = p(b"{3+}\nabc\n");
        assert_eq!(c.string().unwrap(), b"abc");
        c.finish().unwrap();
    }

    #[test]
    fn bad_strings() {
        assert_eq!(
            p(b"\"a\\b\"").quoted(),
            Err(SyntaxError::Invalid("Invalid escape in quoted string"))
        );
        assert!(p(b"\"abc").quoted().is_err());
        assert!(p(b"\"a\0b\"").quoted().is_err());
        assert!(p(b"{5}\r\nabc").string().is_err());
        assert!(p(b"{2}\r\na\0").string().is_err());
        assert!(p(b"{99999999999999999999}\r\n").string().is_err());
        assert_eq!(p(b"\r\n").astring(), Err(SyntaxError::Missing));
        assert!(p(b"(x").astring().is_err());
    }

    #[test]
    fn nil_and_nstring() {
        assert_eq!(p(b"NIL").nstring().unwrap(), None);
        assert_eq!(p(b"nil)").nstring().unwrap(), None);
        assert!(p(b"NILS").nstring().is_err());
        assert_eq!(p(b"\"x\"").nstring().unwrap(), Some(b"x".to_vec()));
    }

    #[test]
    fn sequence_sets() {
        let set = p(b"1:3,5,*:7,9:*").sequence_set().unwrap();
        assert_eq!(set.to_string(), "1:3,5,*:7,9:*");
        assert_eq!(
            p(b"$").sequence_set().unwrap(),
            SequenceSet::Saved(Rc::from([]))
        );
        let saved = p(b"$ 1").with_saved_result(Rc::from([3, 7])).sequence_set();
        assert_eq!(saved.unwrap(), SequenceSet::Saved(Rc::from([3, 7])));
        // rfc5182 3: `$` is a whole sequence-set, not a range in one.
        let mut c = p(b"$,1");
        assert!(c.sequence_set().is_ok());
        assert_eq!(c.finish(), Err(SyntaxError::Extra));
        assert!(p(b"1,$").sequence_set().is_err());
        assert!(p(b"0").sequence_set().is_err());
        assert!(p(b"1:").sequence_set().is_err());
        assert!(p(b"4294967296").sequence_set().is_err());
        assert_eq!(p(b"").sequence_set(), Err(SyntaxError::Missing));
    }

    #[test]
    fn lists() {
        let mut c = p(b"(a b c)");
        let items = c.list(false, |c| c.atom()).unwrap();
        assert_eq!(items.len(), 3);
        assert!(p(b"()").list(false, |c| c.atom()).is_err());
        assert_eq!(p(b"()").list(true, |c| c.atom()).unwrap().len(), 0);
        assert!(p(b"(a  b)").list(false, |c| c.atom()).is_err());
        assert!(p(b"(a").list(false, |c| c.atom()).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(p(b"4294967295").number().unwrap(), u32::MAX);
        assert!(p(b"4294967296").number().is_err());
        assert!(p(b"x").number().is_err());
        assert!(p(b"0").nz_number().is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data: Vec<u8>) {
            let mut c = Parser::new(&data);
            let _ = c.tag();
            let _ = c.word();
            for _ in 0..8 {
                let _ = c.clone().astring();
                let _ = c.clone().string8();
                let _ = c.clone().sequence_set();
                let _ = c.clone().list(true, |c| c.nstring());
                if c.peek().is_none() { break; }
                c.pos += 1;
            }
        }
    }
}
