//! SEARCH's program (rfc3501 6.4.4 and 9 `search`, `search-key`) parsed
//! into a [`SearchKey`] tree, with Cyrus's BAD texts
//! (imap/imapparse.c `get_search_criterion`).
//!
//! ```text
//! search = "SEARCH" [SP "CHARSET" SP astring] 1*(SP search-key)
//! search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date /
//!   "BODY" SP astring / "CC" SP astring / "DELETED" / "FLAGGED" /
//!   "FROM" SP astring / "KEYWORD" SP flag-keyword / "NEW" / "OLD" /
//!   "ON" SP date / "RECENT" / "SEEN" / "SINCE" SP date /
//!   "SUBJECT" SP astring / "TEXT" SP astring / "TO" SP astring /
//!   "UNANSWERED" / "UNDELETED" / "UNFLAGGED" / "UNKEYWORD" SP flag-keyword /
//!   "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP astring /
//!   "LARGER" SP number / "NOT" SP search-key / "OR" SP search-key SP search-key /
//!   "SENTBEFORE" SP date / "SENTON" SP date / "SENTSINCE" SP date /
//!   "SMALLER" SP number / "UID" SP sequence-set / "UNDRAFT" / sequence-set /
//!   "(" search-key *(SP search-key) ")"
//! ```
//!
//! Strings are decoded from the CHARSET (UTF-8 or US-ASCII, its subset)
//! and case-folded once here, so matching compares folded text only.

use super::dates::parse_search_date;
use crate::mime::search::fold_case;
use crate::store::Flags;
use crate::wire::parser::Parser;
use crate::wire::types::{SequenceSet, is_atom_char};

/// Deeper nesting (of `NOT`, `OR` and parentheses) than this is refused,
/// so a hostile command cannot exhaust the guest's stack.
pub const MAX_NESTING: usize = 64;

/// Header fields whose decoded values the index keeps (`search.*`), so
/// matching them never opens the message file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedHeader {
    From,
    To,
    Cc,
    Bcc,
    Subject,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    /// A system flag set (`true`) or not set (`false`).
    Flag(Flags, bool),
    /// KEYWORD / UNKEYWORD.
    Keyword(String, bool),
    Recent,
    /// NEW = RECENT UNSEEN.
    New,
    /// OLD = NOT RECENT.
    Old,
    /// INTERNALDATE comparisons, in days since the epoch (rfc3501 6.4.4:
    /// "disregarding time and timezone").
    Before(i64),
    On(i64),
    Since(i64),
    /// Date: header comparisons.
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Larger(u64),
    Smaller(u64),
    /// FROM, TO, CC, BCC, SUBJECT: a folded substring of the decoded field.
    Indexed(IndexedHeader, String),
    /// HEADER name value, for other fields (or an empty value).
    Header {
        name: String,
        needle: String,
    },
    Body(String),
    Text(String),
    Sequence(SequenceSet),
    Uid(SequenceSet),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}

impl SearchKey {
    /// Whether evaluating this key opens message files.
    pub fn reads_message(&self) -> bool {
        match self {
            SearchKey::Header { .. } | SearchKey::Body(_) | SearchKey::Text(_) => true,
            SearchKey::Not(k) => k.reads_message(),
            SearchKey::Or(a, b) => a.reads_message() || b.reads_message(),
            SearchKey::And(keys) => keys.iter().any(SearchKey::reads_message),
            _ => false,
        }
    }
}

/// Why a SEARCH did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    /// The text after `BAD `.
    Bad(String),
    /// rfc3501 6.4.4: `NO [BADCHARSET (...)]`.
    BadCharset,
}

fn bad(text: impl Into<String>) -> SearchError {
    SearchError::Bad(text.into())
}

/// Parses everything after `SEARCH ` to the end of the command; the keys
/// are ANDed (rfc3501 6.4.4). `command` names the command in texts.
pub fn parse_search_program(p: &mut Parser, command: &str) -> Result<SearchKey, SearchError> {
    if p.at_eol() {
        return Err(bad(format!("Missing required argument to {command}")));
    }
    let mut ahead = p.clone();
    if word(&mut ahead).eq_ignore_ascii_case("CHARSET") {
        *p = ahead;
        if !p.eat(b' ') || p.at_eol() {
            return Err(bad("Missing charset"));
        }
        let charset = p.astring().map_err(|_| bad("Missing charset"))?;
        if !charset.eq_ignore_ascii_case(b"UTF-8") && !charset.eq_ignore_ascii_case(b"US-ASCII") {
            return Err(SearchError::BadCharset);
        }
        if !p.eat(b' ') || p.at_eol() {
            return Err(bad(format!("Missing required argument to {command}")));
        }
    }
    let mut keys = Vec::new();
    loop {
        keys.push(parse_key(p, command, 0)?);
        if p.at_eol() {
            break;
        }
        if !p.eat(b' ') {
            return Err(bad(format!("Unexpected extra arguments to {command}")));
        }
    }
    if p.finish().is_err() {
        return Err(bad(format!("Unexpected extra arguments to {command}")));
    }
    Ok(if keys.len() == 1 {
        keys.pop().unwrap_or(SearchKey::All)
    } else {
        SearchKey::And(keys)
    })
}

/// The letters of a criterion name.
fn word(p: &mut Parser) -> String {
    let mut name = String::new();
    while let Some(b) = p.peek() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            p.eat(b);
            name.push(b.to_ascii_uppercase() as char);
        } else {
            break;
        }
    }
    name
}

fn parse_key(p: &mut Parser, command: &str, depth: usize) -> Result<SearchKey, SearchError> {
    if depth >= MAX_NESTING {
        return Err(bad("Search criteria nested too deeply"));
    }
    match p.peek() {
        Some(b'(') => {
            p.eat(b'(');
            let mut keys = Vec::new();
            loop {
                keys.push(parse_key(p, command, depth + 1)?);
                if p.eat(b')') {
                    break;
                }
                if !p.eat(b' ') || p.at_eol() {
                    return Err(bad(format!(
                        "Missing required close paren in {command} command"
                    )));
                }
            }
            return Ok(SearchKey::And(keys));
        }
        Some(b'0'..=b'9' | b'*' | b'$') => {
            return p
                .sequence_set()
                .map(SearchKey::Sequence)
                .map_err(|_| bad("Invalid Search criteria"));
        }
        _ => {}
    }
    let name = word(p);
    let missing = || bad(format!("Missing required argument to {command} {name}"));
    // The SP before an argument.
    let argument = |p: &mut Parser| -> Result<(), SearchError> {
        if p.eat(b' ') && !p.at_eol() {
            Ok(())
        } else {
            Err(missing())
        }
    };
    let string = |p: &mut Parser| -> Result<String, SearchError> {
        argument(p)?;
        let bytes = p.astring().map_err(|_| missing())?;
        Ok(fold_case(&String::from_utf8_lossy(&bytes)))
    };
    let date = |p: &mut Parser| -> Result<i64, SearchError> {
        argument(p)?;
        parse_search_date(p).map_err(|_| bad(format!("Invalid date in {command} command")))
    };
    let number = |p: &mut Parser| -> Result<u64, SearchError> {
        argument(p)?;
        p.number()
            .map(u64::from)
            .map_err(|_| bad(format!("Invalid number in {command} command")))
    };
    let keyword = |p: &mut Parser| -> Result<String, SearchError> {
        argument(p)?;
        let mut end = p.clone();
        let mut flag = String::new();
        while let Some(b) = end.peek()
            && b != b' '
            && b != b')'
            && b != b'\r'
            && b != b'\n'
        {
            end.eat(b);
            flag.push(b as char);
        }
        if flag.is_empty() || !flag.bytes().all(is_atom_char) {
            return Err(bad(format!(
                "Invalid flag name {} in {command} command",
                flag.escape_default()
            )));
        }
        *p = end;
        Ok(flag)
    };
    let key = match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Flag(Flags::ANSWERED, true),
        "DELETED" => SearchKey::Flag(Flags::DELETED, true),
        "DRAFT" => SearchKey::Flag(Flags::DRAFT, true),
        "FLAGGED" => SearchKey::Flag(Flags::FLAGGED, true),
        "SEEN" => SearchKey::Flag(Flags::SEEN, true),
        "UNANSWERED" => SearchKey::Flag(Flags::ANSWERED, false),
        "UNDELETED" => SearchKey::Flag(Flags::DELETED, false),
        "UNDRAFT" => SearchKey::Flag(Flags::DRAFT, false),
        "UNFLAGGED" => SearchKey::Flag(Flags::FLAGGED, false),
        "UNSEEN" => SearchKey::Flag(Flags::SEEN, false),
        "RECENT" => SearchKey::Recent,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "KEYWORD" => SearchKey::Keyword(keyword(p)?, true),
        "UNKEYWORD" => SearchKey::Keyword(keyword(p)?, false),
        "BEFORE" => SearchKey::Before(date(p)?),
        "ON" => SearchKey::On(date(p)?),
        "SINCE" => SearchKey::Since(date(p)?),
        "SENTBEFORE" => SearchKey::SentBefore(date(p)?),
        "SENTON" => SearchKey::SentOn(date(p)?),
        "SENTSINCE" => SearchKey::SentSince(date(p)?),
        "LARGER" => SearchKey::Larger(number(p)?),
        "SMALLER" => SearchKey::Smaller(number(p)?),
        "FROM" => SearchKey::Indexed(IndexedHeader::From, string(p)?),
        "TO" => SearchKey::Indexed(IndexedHeader::To, string(p)?),
        "CC" => SearchKey::Indexed(IndexedHeader::Cc, string(p)?),
        "BCC" => SearchKey::Indexed(IndexedHeader::Bcc, string(p)?),
        "SUBJECT" => SearchKey::Indexed(IndexedHeader::Subject, string(p)?),
        "BODY" => SearchKey::Body(string(p)?),
        "TEXT" => SearchKey::Text(string(p)?),
        "HEADER" => {
            argument(p)?;
            let field = p.astring().map_err(|_| missing())?;
            let field = String::from_utf8_lossy(&field).into_owned();
            let needle = string(p)?;
            // Fields the index keeps are matched there, unless the value is
            // empty ("any message with the field", which needs the file).
            let indexed = match field.to_ascii_lowercase().as_str() {
                "from" => Some(IndexedHeader::From),
                "to" => Some(IndexedHeader::To),
                "cc" => Some(IndexedHeader::Cc),
                "bcc" => Some(IndexedHeader::Bcc),
                "subject" => Some(IndexedHeader::Subject),
                _ => None,
            };
            match indexed {
                Some(h) if !needle.is_empty() => SearchKey::Indexed(h, needle),
                _ => SearchKey::Header {
                    name: field,
                    needle,
                },
            }
        }
        "UID" => {
            argument(p)?;
            SearchKey::Uid(
                p.sequence_set()
                    .map_err(|_| bad("Invalid Search criteria"))?,
            )
        }
        "NOT" => {
            argument(p)?;
            SearchKey::Not(Box::new(parse_key(p, command, depth + 1)?))
        }
        "OR" => {
            argument(p)?;
            let a = parse_key(p, command, depth + 1)?;
            argument(p)?;
            let b = parse_key(p, command, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        _ => return Err(bad("Invalid Search criteria")),
    };
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::dates::days_from_civil;

    fn parse(s: &str) -> Result<SearchKey, SearchError> {
        parse_search_program(&mut Parser::new(s.as_bytes()), "Search")
    }

    #[test]
    fn rfc3501_example() {
        // rfc3501 6.4.4: SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"
        assert_eq!(
            parse("FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n").unwrap(),
            SearchKey::And(vec![
                SearchKey::Flag(Flags::FLAGGED, true),
                SearchKey::Since(days_from_civil(1994, 2, 1)),
                SearchKey::Not(Box::new(SearchKey::Indexed(
                    IndexedHeader::From,
                    "smith".into()
                ))),
            ])
        );
        // rfc3501 6.4.4: SEARCH TEXT "string not in mailbox"
        assert_eq!(
            parse("TEXT \"string not in mailbox\"").unwrap(),
            SearchKey::Text("string not in mailbox".into())
        );
    }

    #[test]
    fn every_key() {
        let all = "ALL ANSWERED BCC a BEFORE 1-Jan-2000 BODY b CC c DELETED DRAFT FLAGGED \
                   FROM d HEADER X-Y e KEYWORD $Junk LARGER 10 NEW NOT SEEN OLD ON 2-Jan-2000 \
                   OR RECENT SEEN RECENT SEEN SENTBEFORE 3-Jan-2000 SENTON 4-Jan-2000 \
                   SENTSINCE 5-Jan-2000 SINCE 6-Jan-2000 SMALLER 20 SUBJECT f TEXT g TO h \
                   UID 1:5 UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD k UNSEEN 1,3:* \
                   (SEEN DRAFT) $";
        let SearchKey::And(keys) = parse(all).unwrap() else {
            panic!("not an AND")
        };
        assert_eq!(keys.len(), 38);
        assert_eq!(
            keys[10],
            SearchKey::Header {
                name: "X-Y".into(),
                needle: "e".into()
            }
        );
        assert!(SearchKey::And(keys).reads_message());
    }

    #[test]
    fn charsets() {
        assert_eq!(
            parse("CHARSET UTF-8 SUBJECT {5}\r\nCAFÉ").unwrap(),
            SearchKey::Indexed(IndexedHeader::Subject, "café".into())
        );
        assert_eq!(
            parse("CHARSET utf-8 SUBJECT \"CAFÉ\"").unwrap(),
            SearchKey::Indexed(IndexedHeader::Subject, "café".into())
        );
        assert!(parse("CHARSET US-ASCII ALL").is_ok());
        assert_eq!(
            parse("CHARSET KOI8-R ALL").unwrap_err(),
            SearchError::BadCharset
        );
        assert_eq!(parse("CHARSET").unwrap_err(), bad("Missing charset"));
        // Indexed fields with an empty value still need the file.
        assert!(parse("HEADER subject \"\"").unwrap().reads_message());
        assert!(!parse("HEADER Subject x").unwrap().reads_message());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("").unwrap_err(),
            bad("Missing required argument to Search")
        );
        assert_eq!(parse("FOO").unwrap_err(), bad("Invalid Search criteria"));
        assert_eq!(
            parse("FROM").unwrap_err(),
            bad("Missing required argument to Search FROM")
        );
        assert_eq!(
            parse("SINCE 1-Foo-2000").unwrap_err(),
            bad("Invalid date in Search command")
        );
        assert_eq!(
            parse("LARGER x").unwrap_err(),
            bad("Invalid number in Search command")
        );
        assert_eq!(
            parse("KEYWORD \\Seen").unwrap_err(),
            bad("Invalid flag name \\\\Seen in Search command")
        );
        assert_eq!(
            parse("(SEEN").unwrap_err(),
            bad("Missing required close paren in Search command")
        );
        assert_eq!(
            parse("OR SEEN").unwrap_err(),
            bad("Missing required argument to Search OR")
        );
        assert_eq!(
            parse("SEEN  DRAFT").unwrap_err(),
            bad("Invalid Search criteria")
        );
        let deep = "NOT ".repeat(1000) + "ALL";
        assert_eq!(
            parse(&deep).unwrap_err(),
            bad("Search criteria nested too deeply")
        );
        let deep = "(".repeat(1000);
        assert!(parse(&deep).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data: Vec<u8>) {
            let _ = parse_search_program(&mut Parser::new(&data), "Search");
        }
    }
}
