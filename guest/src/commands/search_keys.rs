//! SEARCH's result options (rfc4466 2.6.1, rfc4731 3.1, rfc5182 2.1) and
//! program (rfc3501 6.4.4 and 9 `search`, `search-key`) parsed into
//! [`ReturnOptions`] and a [`SearchKey`] tree, with Cyrus's BAD texts
//! (imap/imapparse.c `get_search_return_opts`, `get_search_criterion`).
//!
//! ```text
//! search = "SEARCH" [search-return-opts] SP search-program     ; rfc4466
//! search-return-opts = SP "RETURN" SP "(" [search-return-opt
//!   *(SP search-return-opt)] ")"
//! search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT"          ; rfc4731 4
//!   / "SAVE"                                                   ; rfc5182 3
//! search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
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
//!   "(" search-key *(SP search-key) ")" /
//!   ( "OLDER" / "YOUNGER" ) SP nz-number /                    ; rfc5032 3
//!   "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
//!                                                              ; rfc7162 7
//! sequence-set =/ "$"                                          ; rfc5182 3
//! ```
//!
//! Strings are decoded from the CHARSET (UTF-8, US-ASCII, or any legacy
//! charset `encoding_rs` knows: ISO-8859-*, windows-125*, KOI8-R,
//! GB18030, Shift_JIS, EUC-KR...) and mapped with i;unicode-casemap
//! (rfc5051) once here, so matching compares mapped text only.

use super::dates::parse_search_date;
use crate::mime::search::fold_needle;
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
    /// rfc5032 2: OLDER n, INTERNALDATE at least n seconds before now.
    Older(u32),
    /// rfc5032 2: YOUNGER n, INTERNALDATE at most n seconds before now.
    Younger(u32),
    /// rfc7162 3.1.5: MODSEQ n, the message's mod-sequence is n or more.
    /// We keep one mod-sequence per message, so an entry name and type,
    /// checked when parsed, narrow nothing (as 3.1.5 requires then).
    ModSeq(u64),
    /// rfc8514 4.3: SAVEDBEFORE/SAVEDON/SAVEDSINCE, in days; the save date
    /// is in UTC.
    SavedBefore(i64),
    SavedOn(i64),
    SavedSince(i64),
    /// rfc8474 6: EMAILID (the summary's id) and THREADID (matches
    /// nothing: messages are not threaded).
    EmailId(String),
    ThreadId,
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}

impl SearchKey {
    /// Whether `f` holds for this key or for any key inside it.
    fn any(&self, f: &impl Fn(&SearchKey) -> bool) -> bool {
        f(self)
            || match self {
                SearchKey::Not(k) => k.any(f),
                SearchKey::Or(a, b) => a.any(f) || b.any(f),
                SearchKey::And(keys) => keys.iter().any(|k| k.any(f)),
                _ => false,
            }
    }

    /// Whether evaluating this key opens message files.
    pub fn reads_message(&self) -> bool {
        self.any(&|k| {
            matches!(
                k,
                SearchKey::Header { .. } | SearchKey::Body(_) | SearchKey::Text(_)
            )
        })
    }

    /// Whether a MODSEQ key appears anywhere in it (rfc7162 3.1.5: then
    /// the response carries the highest mod-sequence found).
    pub fn uses_modseq(&self) -> bool {
        self.any(&|k| matches!(k, SearchKey::ModSeq(_)))
    }

    /// Whether RECENT, NEW or OLD appears anywhere in it: rfc9051 9
    /// search-key has none of them (Appendix E item 12).
    pub fn uses_recent(&self) -> bool {
        self.any(&|k| matches!(k, SearchKey::Recent | SearchKey::New | SearchKey::Old))
    }
}

/// `key` if an IMAP4rev2 session (`rev2`) may send it: rfc9051 9
/// search-key has no RECENT, NEW or OLD (Appendix E item 12), so they are
/// BAD there; IMAP4rev1 sessions keep them.
pub fn in_grammar(key: SearchKey, rev2: bool) -> Result<SearchKey, SearchError> {
    if rev2 && key.uses_recent() {
        return Err(bad(
            "RECENT, NEW and OLD are not IMAP4rev2 search keys (RFC 9051 Appendix E)",
        ));
    }
    Ok(key)
}

/// The result options of an extended SEARCH (rfc4466 2.6.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnOptions {
    /// rfc4731 3.1
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    /// rfc5182 2.1: keep the result as `$`.
    pub save: bool,
}

impl ReturnOptions {
    /// rfc4731 3.1: an ESEARCH response goes out instead of SEARCH; with
    /// SAVE alone nothing does (rfc5182 2.2 example 1).
    pub fn esearch(&self) -> bool {
        self.min || self.max || self.all || self.count
    }

    /// The messages the command returns, out of `found` (ascending): the
    /// lowest and/or highest for MIN and/or MAX without ALL or COUNT, else
    /// all. This is what SAVE keeps (rfc5182 2.4's table) and what the
    /// MODSEQ of an ESEARCH is the highest of (rfc4731 3.2).
    pub fn returned<T: Copy>(&self, found: &[T]) -> Vec<T> {
        if self.all || self.count || !(self.min || self.max) {
            return found.to_vec();
        }
        let (Some(&first), Some(&last)) = (found.first(), found.last()) else {
            return Vec::new();
        };
        match (self.min, self.max) {
            (true, true) if found.len() > 1 => vec![first, last],
            (true, _) => vec![first],
            _ => vec![last],
        }
    }
}

/// `RETURN (...)` and the SP after it, if the arguments start with it
/// (rfc4466 2.6.1: before the CHARSET and the keys). `RETURN ()` means
/// ALL (rfc4731 3.1). Options are matched case-insensitively; any other
/// is BAD (rfc4466 2.6.1: "must be rejected with a BAD response").
pub fn parse_return_options(
    p: &mut Parser,
    command: &str,
) -> Result<Option<ReturnOptions>, SearchError> {
    let mut ahead = p.clone();
    if !word(&mut ahead).eq_ignore_ascii_case("RETURN") {
        return Ok(None);
    }
    *p = ahead;
    if !p.eat(b' ') || !p.eat(b'(') {
        return Err(bad("Missing return options in Search"));
    }
    let mut options = ReturnOptions::default();
    if !p.eat(b')') {
        loop {
            let name = word(p);
            match name.as_str() {
                "MIN" => options.min = true,
                "MAX" => options.max = true,
                "ALL" => options.all = true,
                "COUNT" => options.count = true,
                "SAVE" => options.save = true,
                "" => return Err(bad("Missing close parenthesis in Search")),
                _ => {
                    let name = name.to_ascii_lowercase();
                    return Err(bad(format!("Invalid Search return option {name}")));
                }
            }
            if p.eat(b')') {
                break;
            }
            if !p.eat(b' ') {
                return Err(bad("Missing close parenthesis in Search"));
            }
        }
    }
    if options == ReturnOptions::default() {
        options.all = true;
    }
    if !p.eat(b' ') || p.at_eol() {
        return Err(bad(format!("Missing required argument to {command}")));
    }
    Ok(Some(options))
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

/// The charset of a command's search strings (rfc3501 6.4.4 CHARSET,
/// rfc5256 3 SORT/THREAD's charset argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charset(Option<&'static encoding_rs::Encoding>);

/// What `NO [BADCHARSET (...)]` lists (rfc3501 7.1): the common ones;
/// every other label `encoding_rs` knows is accepted too.
pub const CHARSETS_LISTED: &str = "US-ASCII UTF-8 ISO-8859-1 ISO-8859-2 ISO-8859-5 ISO-8859-7 \
ISO-8859-15 WINDOWS-1250 WINDOWS-1251 WINDOWS-1252 KOI8-R GB18030 BIG5 SHIFT_JIS EUC-JP \
ISO-2022-JP EUC-KR";

impl Charset {
    pub const UTF8: Charset = Charset(None);

    /// The charset named `name` (a label, case-insensitive), if it can be
    /// decoded. US-ASCII is UTF-8's subset (encoding_rs would take the
    /// label for windows-1252, as browsers do).
    pub fn named(name: &[u8]) -> Option<Charset> {
        if name.eq_ignore_ascii_case(b"UTF-8")
            || name.eq_ignore_ascii_case(b"US-ASCII")
            || name.eq_ignore_ascii_case(b"ASCII")
        {
            return Some(Charset::UTF8);
        }
        let encoding = encoding_rs::Encoding::for_label_no_replacement(name)?;
        if encoding == encoding_rs::UTF_8 {
            return Some(Charset::UTF8);
        }
        (encoding != encoding_rs::X_USER_DEFINED).then_some(Charset(Some(encoding)))
    }

    /// `bytes` decoded to UTF-8 (malformed sequences become U+FFFD).
    pub fn decode(self, bytes: &[u8]) -> String {
        match self.0 {
            None => String::from_utf8_lossy(bytes).into_owned(),
            Some(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
        }
    }
}

/// `CHARSET` of SORT and THREAD (rfc5256 5: `charset = atom / quoted`),
/// mandatory there.
pub fn parse_charset(p: &mut Parser) -> Result<Charset, SearchError> {
    let name = p.astring().map_err(|_| bad("Missing charset"))?;
    Charset::named(&name).ok_or(SearchError::BadCharset)
}

/// SORT's and THREAD's ` charset 1*(SP search-key)` (rfc5256 5
/// search-criteria, after the SP before it) to the end of the command.
pub fn parse_search_criteria(p: &mut Parser, command: &str) -> Result<SearchKey, SearchError> {
    let missing = || bad(format!("Missing required argument to {command}"));
    if !p.eat(b' ') || p.at_eol() {
        return Err(missing());
    }
    let charset = parse_charset(p)?;
    if !p.eat(b' ') {
        return Err(missing());
    }
    parse_search_keys(p, command, charset)
}

/// Parses everything after `SEARCH ` to the end of the command; the keys
/// are ANDed (rfc3501 6.4.4). `command` names the command in texts.
pub fn parse_search_program(p: &mut Parser, command: &str) -> Result<SearchKey, SearchError> {
    if p.at_eol() {
        return Err(bad(format!("Missing required argument to {command}")));
    }
    let mut ahead = p.clone();
    let mut charset = Charset::UTF8;
    if word(&mut ahead).eq_ignore_ascii_case("CHARSET") {
        *p = ahead;
        if !p.eat(b' ') || p.at_eol() {
            return Err(bad("Missing charset"));
        }
        charset = parse_charset(p)?;
        if !p.eat(b' ') || p.at_eol() {
            return Err(bad(format!("Missing required argument to {command}")));
        }
    }
    parse_search_keys(p, command, charset)
}

/// The search keys (ANDed) to the end of the command, their strings in
/// `charset`.
pub fn parse_search_keys(
    p: &mut Parser,
    command: &str,
    charset: Charset,
) -> Result<SearchKey, SearchError> {
    if p.at_eol() {
        return Err(bad(format!("Missing required argument to {command}")));
    }
    let mut keys = Vec::new();
    loop {
        keys.push(parse_key(p, command, charset, 0)?);
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

fn parse_key(
    p: &mut Parser,
    command: &str,
    charset: Charset,
    depth: usize,
) -> Result<SearchKey, SearchError> {
    if depth >= MAX_NESTING {
        return Err(bad("Search criteria nested too deeply"));
    }
    match p.peek() {
        Some(b'(') => {
            p.eat(b'(');
            let mut keys = Vec::new();
            loop {
                keys.push(parse_key(p, command, charset, depth + 1)?);
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
        Ok(fold_needle(&charset.decode(&bytes)))
    };
    let date = |p: &mut Parser| -> Result<i64, SearchError> {
        argument(p)?;
        parse_search_date(p).map_err(|_| bad(format!("Invalid date in {command} command")))
    };
    // rfc9051 9: LARGER/SMALLER SP number64 (63 bits, as mod-sequence-valzer).
    let number = |p: &mut Parser| -> Result<u64, SearchError> {
        argument(p)?;
        p.mod_sequence(true)
            .map_err(|_| bad(format!("Invalid number in {command} command")))
    };
    // rfc5032 3: nz-number seconds.
    let interval = |p: &mut Parser| -> Result<u32, SearchError> {
        argument(p)?;
        p.nz_number()
            .map(|n| n.get())
            .map_err(|_| bad(format!("Invalid interval in {command} command")))
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
        "SAVEDBEFORE" => SearchKey::SavedBefore(date(p)?),
        "SAVEDON" => SearchKey::SavedOn(date(p)?),
        "SAVEDSINCE" => SearchKey::SavedSince(date(p)?),
        // rfc8514 4.3: every message here has a save date.
        "SAVEDATESUPPORTED" => SearchKey::All,
        "EMAILID" | "THREADID" => {
            argument(p)?;
            // rfc8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-")
            let mut id = String::new();
            while let Some(b) = p
                .peek()
                .filter(|b| b.is_ascii_alphanumeric() || b"_-".contains(b))
            {
                p.eat(b);
                id.push(b as char);
            }
            if id.is_empty() || id.len() > 255 {
                return Err(bad(format!("Invalid object id in {command} command")));
            }
            if name == "EMAILID" {
                SearchKey::EmailId(id)
            } else {
                SearchKey::ThreadId
            }
        }
        "OLDER" => SearchKey::Older(interval(p)?),
        "YOUNGER" => SearchKey::Younger(interval(p)?),
        "MODSEQ" => {
            argument(p)?;
            if p.peek() == Some(b'"') {
                // rfc7162 3.1.5: entry-name SP entry-type-req first.
                let entry = p.quoted().unwrap_or_default();
                if !is_flag_entry(&entry) {
                    return Err(bad(format!("Invalid entry name in {command} command")));
                }
                argument(p)?;
                if !matches!(word(p).as_str(), "PRIV" | "SHARED" | "ALL") {
                    return Err(bad(format!("Invalid entry type in {command} command")));
                }
                argument(p)?;
            }
            SearchKey::ModSeq(
                p.mod_sequence(true)
                    .map_err(|_| bad(format!("Invalid number in {command} command")))?,
            )
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
            SearchKey::Not(Box::new(parse_key(p, command, charset, depth + 1)?))
        }
        "OR" => {
            argument(p)?;
            let a = parse_key(p, command, charset, depth + 1)?;
            argument(p)?;
            let b = parse_key(p, command, charset, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        _ => return Err(bad("Invalid Search criteria")),
    };
    Ok(key)
}

/// rfc7162 7: entry-flag-name = "/flags/" attr-flag, unquoted here: a
/// system flag (a backslash and an atom, not `\Recent`) or a keyword.
fn is_flag_entry(entry: &[u8]) -> bool {
    const PREFIX: &[u8] = b"/flags/";
    if entry.len() <= PREFIX.len() || !entry[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return false;
    }
    let flag = &entry[PREFIX.len()..];
    let atom = flag.strip_prefix(b"\\").unwrap_or(flag);
    !atom.is_empty()
        && atom.iter().all(|&b| is_atom_char(b))
        && !flag.eq_ignore_ascii_case(b"\\recent")
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
                    "SMITH".into()
                ))),
            ])
        );
        // rfc3501 6.4.4: SEARCH TEXT "string not in mailbox"
        assert_eq!(
            parse("TEXT \"string not in mailbox\"").unwrap(),
            SearchKey::Text("STRING NOT IN MAILBOX".into())
        );
    }

    #[test]
    fn every_key() {
        let all = "ALL ANSWERED BCC a BEFORE 1-Jan-2000 BODY b CC c DELETED DRAFT FLAGGED \
                   FROM d HEADER X-Y e KEYWORD $Junk LARGER 10 NEW NOT SEEN OLD ON 2-Jan-2000 \
                   OR RECENT SEEN RECENT SEEN SENTBEFORE 3-Jan-2000 SENTON 4-Jan-2000 \
                   SENTSINCE 5-Jan-2000 SINCE 6-Jan-2000 SMALLER 20 SUBJECT f TEXT g TO h \
                   UID 1:5 UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD k UNSEEN 1,3:* \
                   (SEEN DRAFT) $ OLDER 5 YOUNGER 6 MODSEQ 7";
        let SearchKey::And(keys) = parse(all).unwrap() else {
            panic!("not an AND")
        };
        assert_eq!(keys.len(), 41);
        assert_eq!(
            keys[38..],
            [
                SearchKey::Older(5),
                SearchKey::Younger(6),
                SearchKey::ModSeq(7)
            ]
        );
        assert_eq!(
            keys[10],
            SearchKey::Header {
                name: "X-Y".into(),
                needle: "E".into()
            }
        );
        assert!(SearchKey::And(keys).reads_message());
        // rfc9051 9: number64.
        assert_eq!(
            parse("LARGER 9223372036854775807").unwrap(),
            SearchKey::Larger(9_223_372_036_854_775_807)
        );
        assert!(parse("SMALLER 9223372036854775808").is_err());
    }

    #[test]
    fn charsets() {
        assert_eq!(
            parse("CHARSET UTF-8 SUBJECT {5}\r\nCAFÉ").unwrap(),
            SearchKey::Indexed(IndexedHeader::Subject, "CAFE\u{301}".into())
        );
        assert_eq!(
            parse("CHARSET utf-8 SUBJECT \"café\"").unwrap(),
            SearchKey::Indexed(IndexedHeader::Subject, "CAFE\u{301}".into())
        );
        assert!(parse("CHARSET US-ASCII ALL").is_ok());
        // Legacy charsets (encoding_rs): the string is decoded, then
        // mapped. "привет" in KOI8-R, "café" in ISO-8859-1, "日本" in
        // Shift_JIS, "中文" in GB18030, "한국" in EUC-KR.
        let legacy: [(&str, &[u8], &str); 5] = [
            ("KOI8-R", b"\xd0\xd2\xc9\xd7\xc5\xd4", "ПРИВЕТ"),
            ("iso-8859-1", b"caf\xe9", "CAFE\u{301}"),
            ("Shift_JIS", b"\x93\xfa\x96\x7b", "日本"),
            ("GB18030", b"\xd6\xd0\xce\xc4", "中文"),
            ("EUC-KR", b"\xc7\xd1\xb1\xb9", "한국"),
        ];
        for (charset, bytes, mapped) in legacy {
            let mut command =
                format!("CHARSET {charset} BODY {{{}}}\r\n", bytes.len()).into_bytes();
            command.extend_from_slice(bytes);
            assert_eq!(
                parse_search_program(&mut Parser::new(&command), "Search").unwrap(),
                SearchKey::Body(crate::mime::collation::casemap(mapped)),
                "{charset}"
            );
        }
        for unknown in ["X-KLINGON", "UTF-7", "ISO-2022-KR"] {
            assert_eq!(
                parse(&format!("CHARSET {unknown} ALL")).unwrap_err(),
                SearchError::BadCharset,
                "{unknown}"
            );
        }
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

    /// rfc7162 7: search-modsequence, with rfc7162 3.1.5's examples.
    #[test]
    fn modseq_keys() {
        for (program, modseq) in [
            ("MODSEQ \"/flags/\\\\draft\" all 620162338", 620162338),
            ("MODSEQ 720162338", 720162338),
            ("modseq \"/FLAGS/$MDNSent\" PRIV 0", 0),
            (
                "MODSEQ \"/flags/\\\\Seen\" shared 9223372036854775807",
                i64::MAX as u64,
            ),
        ] {
            assert_eq!(
                parse(program).unwrap(),
                SearchKey::ModSeq(modseq),
                "{program}"
            );
        }
        let key = parse("OR NOT MODSEQ 720162338 LARGER 50000").unwrap();
        assert!(key.uses_modseq() && !key.reads_message());
        assert!(!parse("OR NOT SEEN LARGER 50000").unwrap().uses_modseq());
        let errors = [
            ("MODSEQ", "Missing required argument to Search MODSEQ"),
            ("MODSEQ x", "Invalid number in Search command"),
            ("MODSEQ -1", "Invalid number in Search command"),
            (
                "MODSEQ 9223372036854775808",
                "Invalid number in Search command",
            ),
            (
                "MODSEQ \"/flags/\\\\seen\" all",
                "Missing required argument to Search MODSEQ",
            ),
            (
                "MODSEQ \"/flags/\\\\seen\" both 5",
                "Invalid entry type in Search command",
            ),
            (
                "MODSEQ \"/flags/\\\\recent\" all 5",
                "Invalid entry name in Search command",
            ),
            (
                "MODSEQ \"/flags/\" all 5",
                "Invalid entry name in Search command",
            ),
            (
                "MODSEQ \"/flags/a b\" all 5",
                "Invalid entry name in Search command",
            ),
            (
                "MODSEQ \"/vendor/x\" all 5",
                "Invalid entry name in Search command",
            ),
            (
                "MODSEQ \"/flags/\\\\seen",
                "Invalid entry name in Search command",
            ),
        ];
        for (program, text) in errors {
            assert_eq!(parse(program).unwrap_err(), bad(text), "{program}");
        }
    }

    /// rfc5032 3: ( "OLDER" / "YOUNGER" ) SP nz-number.
    #[test]
    fn within_keys() {
        assert_eq!(
            parse("UNSEEN YOUNGER 259200").unwrap(),
            SearchKey::And(vec![
                SearchKey::Flag(Flags::SEEN, false),
                SearchKey::Younger(259200)
            ])
        );
        assert_eq!(
            parse("older 4294967295").unwrap(),
            SearchKey::Older(u32::MAX)
        );
        for program in ["OLDER 0", "YOUNGER 4294967296", "OLDER x", "YOUNGER -1"] {
            assert_eq!(
                parse(program).unwrap_err(),
                bad("Invalid interval in Search command"),
                "{program}"
            );
        }
    }

    fn options(s: &str) -> Result<Option<ReturnOptions>, SearchError> {
        let mut p = Parser::new(s.as_bytes());
        let options = parse_return_options(&mut p, "Search")?;
        // The cursor stands at the program.
        assert!(parse_search_program(&mut p, "Search").is_ok(), "{s}");
        Ok(options)
    }

    /// rfc4466 2.6.1 search-return-opts with rfc4731's and rfc5182's options.
    #[test]
    fn return_options() {
        let all = ReturnOptions {
            all: true,
            ..ReturnOptions::default()
        };
        assert_eq!(options("ALL").unwrap(), None);
        assert_eq!(options("RETURN () ALL").unwrap(), Some(all));
        assert_eq!(options("return (all) ALL").unwrap(), Some(all));
        assert_eq!(
            options("RETURN (MIN MAX COUNT SAVE) CHARSET UTF-8 ALL").unwrap(),
            Some(ReturnOptions {
                min: true,
                max: true,
                count: true,
                save: true,
                ..ReturnOptions::default()
            })
        );
        let save = ReturnOptions {
            save: true,
            ..ReturnOptions::default()
        };
        assert_eq!(options("RETURN (SAVE) ALL").unwrap(), Some(save));
        assert!(!save.esearch() && all.esearch());
        // rfc5182 2.4's table: what is returned, and so saved.
        let found = [2, 10, 11];
        let with = |min, max, all, count| ReturnOptions {
            min,
            max,
            all,
            count,
            save: true,
        };
        assert_eq!(save.returned(&found), found);
        assert_eq!(with(true, false, false, false).returned(&found), [2]);
        assert_eq!(with(false, true, false, false).returned(&found), [11]);
        assert_eq!(with(true, true, false, false).returned(&found), [2, 11]);
        assert_eq!(with(true, true, false, false).returned(&[4]), [4]);
        assert_eq!(with(true, true, false, true).returned(&found), found);
        assert_eq!(with(true, false, true, false).returned(&found), found);
        assert!(
            with(true, true, false, false)
                .returned::<u32>(&[])
                .is_empty()
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data: Vec<u8>) {
            let _ = parse_search_program(&mut Parser::new(&data), "Search");
            let mut p = Parser::new(&data);
            if parse_return_options(&mut p, "Search").is_ok() {
                let _ = parse_search_program(&mut p, "Search");
            }
        }
    }
}
