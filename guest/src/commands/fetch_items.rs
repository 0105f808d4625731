//! FETCH's data items (rfc3501 6.4.5 and 9 `fetch-att`, rfc3516 BINARY):
//! parsed into [`FetchItems`], with Cyrus's BAD texts for what does not
//! parse (`Invalid Fetch attribute X`, `Invalid body section`, ...).
//!
//! ```text
//! fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
//!             "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
//!             "BODY" ["STRUCTURE"] / "UID" /
//!             "BODY" section [partial] / "BODY.PEEK" section [partial] /
//!             "BINARY" [".PEEK"] section-binary [partial] /      ; rfc3516
//!             "BINARY.SIZE" section-binary
//! section = "[" [section-spec] "]"
//! section-spec = section-msgtext / (section-part ["." section-text])
//! section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
//! section-text = section-msgtext / "MIME"
//! partial = "<" number "." nz-number ">"
//! ```

use crate::mime::{Section, SectionText};
use crate::wire::parser::Parser;
use crate::wire::types::is_astring_char;

/// `<origin.count>`: at most `count` octets starting at `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub origin: u32,
    pub count: u32,
}

/// BODY[section] or BODY.PEEK[section].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodySection {
    pub section: Section,
    pub partial: Option<Partial>,
    pub peek: bool,
}

/// BINARY[part] or BINARY.PEEK[part] (rfc3516 4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinarySection {
    pub parts: Vec<u32>,
    pub partial: Option<Partial>,
    pub peek: bool,
}

/// Everything one FETCH asks for. The reply puts the items in Cyrus's
/// fixed order (FLAGS, UID, INTERNALDATE, RFC822.SIZE, ENVELOPE,
/// BODYSTRUCTURE, BODY, RFC822.HEADER, RFC822.TEXT, RFC822, sections),
/// whatever order the client wrote them in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchItems {
    pub flags: bool,
    pub uid: bool,
    pub internal_date: bool,
    pub rfc822_size: bool,
    pub envelope: bool,
    pub body_structure: bool,
    /// BODY without a section: the non-extensible BODYSTRUCTURE.
    pub body: bool,
    pub rfc822_header: bool,
    pub rfc822_text: bool,
    pub rfc822: bool,
    pub sections: Vec<BodySection>,
    pub binaries: Vec<BinarySection>,
    pub binary_sizes: Vec<Vec<u32>>,
    /// MODSEQ (rfc7162 3.1.4.2).
    pub modseq: bool,
    /// PREVIEW (rfc8970); `Some(true)` with the LAZY modifier.
    pub preview: Option<bool>,
    /// SAVEDATE (rfc8514).
    pub save_date: bool,
    /// EMAILID and THREADID (rfc8474).
    pub email_id: bool,
    pub thread_id: bool,
    /// The CHANGEDSINCE modifier (rfc7162 3.1.4.1).
    pub changed_since: Option<u64>,
    /// The VANISHED modifier (rfc7162 3.2.6).
    pub vanished: bool,
}

impl FetchItems {
    /// RFC822, RFC822.HEADER or RFC822.TEXT, which rfc9051 9 fetch-att
    /// no longer has (Appendix E item 18).
    pub fn uses_rfc822_text(&self) -> bool {
        self.rfc822_header || self.rfc822_text || self.rfc822
    }

    /// Items that need the message file (everything but index data).
    pub fn reads_message(&self) -> bool {
        self.uses_rfc822_text()
            || !self.sections.is_empty()
            || !self.binaries.is_empty()
            || !self.binary_sizes.is_empty()
    }

    /// Items from the summary cache (ENVELOPE, BODYSTRUCTURE, BODY,
    /// PREVIEW).
    pub fn needs_summary(&self) -> bool {
        self.envelope || self.body_structure || self.body || self.preview.is_some() || self.email_id
    }

    /// rfc3501 6.4.5: BODY[...] (not PEEK), RFC822 and RFC822.TEXT set
    /// \Seen; so does BINARY (rfc3516 4.1).
    pub fn sets_seen(&self) -> bool {
        self.rfc822
            || self.rfc822_text
            || self.sections.iter().any(|s| !s.peek)
            || self.binaries.iter().any(|b| !b.peek)
    }
}

/// Why the items did not parse: the full text after `BAD `.
pub type FetchItemsError = String;

/// Parses what follows `FETCH <set> ` up to the end of the command:
/// `ALL`, `FAST`, `FULL`, one item or a parenthesized list. `command` is
/// the name for error texts (`Fetch`, `UID Fetch`).
pub fn parse_fetch_items(p: &mut Parser, command: &str) -> Result<FetchItems, FetchItemsError> {
    let mut items = FetchItems::default();
    if p.at_eol() {
        return Err(format!("Missing required argument to {command}"));
    }
    if p.eat(b'(') {
        loop {
            parse_item(p, command, &mut items, false)?;
            if p.eat(b')') {
                break;
            }
            if !p.eat(b' ') {
                return Err(format!("Missing close parenthesis in {command}"));
            }
        }
    } else {
        parse_item(p, command, &mut items, true)?;
    }
    // rfc7162 7: fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
    if p.peek() == Some(b' ') && p.peek_at(1) == Some(b'(') {
        p.eat(b' ');
        p.eat(b'(');
        loop {
            match attribute_name(p).as_str() {
                "CHANGEDSINCE" if p.eat(b' ') => {
                    let since = p
                        .mod_sequence(false)
                        .map_err(|_| format!("Invalid CHANGEDSINCE in {command}"))?;
                    items.changed_since = Some(since);
                }
                "VANISHED" => items.vanished = true,
                _ => return Err(format!("Invalid {command} modifier")),
            }
            if p.eat(b')') {
                break;
            }
            if !p.eat(b' ') {
                return Err(format!("Missing close parenthesis in {command}"));
            }
        }
        // rfc7162 3.2.6: VANISHED only together with CHANGEDSINCE.
        if items.vanished && items.changed_since.is_none() {
            return Err(format!("VANISHED without CHANGEDSINCE in {command}"));
        }
    }
    if p.finish().is_err() {
        return Err(format!("Unexpected extra arguments to {command}"));
    }
    Ok(items)
}

/// Name characters of a fetch attribute: letters, digits and `.`.
fn attribute_name<'a>(p: &mut Parser<'a>) -> String {
    let mut name = String::new();
    while let Some(b) = p.peek() {
        if b.is_ascii_alphanumeric() || b == b'.' {
            p.eat(b);
            name.push(b.to_ascii_uppercase() as char);
        } else {
            break;
        }
    }
    name
}

fn parse_item(
    p: &mut Parser,
    command: &str,
    items: &mut FetchItems,
    macros_allowed: bool,
) -> Result<(), FetchItemsError> {
    let name = attribute_name(p);
    let invalid = || {
        let shown = if name.is_empty() {
            String::from_utf8_lossy(&[p.peek().unwrap_or(b' ')]).into_owned()
        } else {
            name.clone()
        };
        format!("Invalid {command} attribute {shown}")
    };
    match name.as_str() {
        // rfc3501 6.4.5 macros: only on their own, never in a list.
        "ALL" | "FAST" | "FULL" if macros_allowed => {
            items.flags = true;
            items.internal_date = true;
            items.rfc822_size = true;
            if name != "FAST" {
                items.envelope = true;
            }
            if name == "FULL" {
                items.body = true;
            }
        }
        "FLAGS" => items.flags = true,
        "MODSEQ" => items.modseq = true,
        "SAVEDATE" => items.save_date = true,
        "EMAILID" => items.email_id = true,
        "THREADID" => items.thread_id = true,
        // rfc8970 7: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"],
        // preview-mod = "LAZY".
        "PREVIEW" => {
            let mut lazy = false;
            if p.peek() == Some(b' ') && p.peek_at(1) == Some(b'(') {
                p.eat(b' ');
                p.eat(b'(');
                loop {
                    if attribute_name(p) != "LAZY" {
                        return Err(format!("Invalid PREVIEW modifier in {command}"));
                    }
                    lazy = true;
                    if p.eat(b')') {
                        break;
                    }
                    if !p.eat(b' ') {
                        return Err(format!("Missing close parenthesis in {command}"));
                    }
                }
            }
            items.preview = Some(lazy);
        }
        "UID" => items.uid = true,
        "INTERNALDATE" => items.internal_date = true,
        "RFC822.SIZE" => items.rfc822_size = true,
        "ENVELOPE" => items.envelope = true,
        "BODYSTRUCTURE" => items.body_structure = true,
        "RFC822.HEADER" => items.rfc822_header = true,
        "RFC822.TEXT" => items.rfc822_text = true,
        "RFC822" => items.rfc822 = true,
        "BODY" | "BODY.PEEK" => {
            if p.peek() != Some(b'[') {
                if name == "BODY.PEEK" {
                    return Err(invalid());
                }
                items.body = true;
                return Ok(());
            }
            let section = parse_section(p, command)?;
            let partial = parse_partial(p)?;
            items.sections.push(BodySection {
                section,
                partial,
                peek: name == "BODY.PEEK",
            });
        }
        "BINARY" | "BINARY.PEEK" | "BINARY.SIZE" => {
            let parts = parse_binary_section(p)?;
            if name == "BINARY.SIZE" {
                items.binary_sizes.push(parts);
            } else {
                let partial = parse_partial(p)?;
                items.binaries.push(BinarySection {
                    parts,
                    partial,
                    peek: name == "BINARY.PEEK",
                });
            }
        }
        _ => return Err(invalid()),
    }
    Ok(())
}

/// `section-part`: nz-number *("." nz-number); stops before a `.` that is
/// followed by a letter (the section text).
fn parse_part_numbers(p: &mut Parser) -> Result<Vec<u32>, ()> {
    let mut parts = Vec::new();
    while matches!(p.peek(), Some(b'0'..=b'9')) {
        let n = p.nz_number().map_err(|_| ())?;
        parts.push(n.get());
        let mut ahead = p.clone();
        if ahead.eat(b'.') && matches!(ahead.peek(), Some(b'0'..=b'9')) {
            p.eat(b'.');
        } else {
            break;
        }
    }
    Ok(parts)
}

/// `section` (rfc3501 9), the cursor at its `[`; also CATENATE's URL
/// sections (rfc5092 isection).
pub fn parse_section(p: &mut Parser, command: &str) -> Result<Section, FetchItemsError> {
    const INVALID: &str = "Invalid body section";
    p.eat(b'[');
    let parts = parse_part_numbers(p).map_err(|_| INVALID.to_string())?;
    if !parts.is_empty() && !p.eat(b'.') {
        if !p.eat(b']') {
            return Err(INVALID.into());
        }
        return Ok(Section { parts, text: None });
    }
    let keyword = attribute_name(p);
    let text = match keyword.as_str() {
        "" if parts.is_empty() => None,
        "HEADER" => Some(SectionText::Header),
        "TEXT" => Some(SectionText::Text),
        // rfc3501 9: MIME only follows a part number.
        "MIME" if !parts.is_empty() => Some(SectionText::Mime),
        "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
            if !p.eat(b' ') {
                return Err(format!("Missing required argument to {command} {keyword}"));
            }
            if !p.eat(b'(') {
                return Err(format!(
                    "Missing required open parenthesis in {command} {keyword}"
                ));
            }
            let mut names = Vec::new();
            loop {
                let name = p
                    .astring()
                    .map_err(|_| format!("Invalid field-name in {command} {keyword}"))?;
                // rfc5322 2.2: field names are printable ASCII but `:`.
                if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b) && b != b':') {
                    return Err(format!("Invalid field-name in {command} {keyword}"));
                }
                names.push(String::from_utf8_lossy(&name).into_owned());
                if p.eat(b')') {
                    break;
                }
                if !p.eat(b' ') {
                    return Err(format!(
                        "Missing required close parenthesis in {command} {keyword}"
                    ));
                }
            }
            Some(SectionText::HeaderFields {
                names,
                not: keyword.ends_with(".NOT"),
            })
        }
        _ => return Err(INVALID.into()),
    };
    if !p.eat(b']') {
        return Err(INVALID.into());
    }
    Ok(Section { parts, text })
}

/// rfc3516: `section-binary = "[" [section-part] "]"`.
fn parse_binary_section(p: &mut Parser) -> Result<Vec<u32>, FetchItemsError> {
    const INVALID: &str = "Invalid binary section";
    if !p.eat(b'[') {
        return Err(INVALID.into());
    }
    let parts = parse_part_numbers(p).map_err(|_| INVALID.to_string())?;
    if !p.eat(b']') {
        return Err(INVALID.into());
    }
    Ok(parts)
}

/// `partial = "<" number "." nz-number ">"` (rfc3501 9, rfc9051 9).
fn parse_partial(p: &mut Parser) -> Result<Option<Partial>, FetchItemsError> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let invalid = || "Invalid body partial".to_string();
    let origin = p.number().map_err(|_| invalid())?;
    if !p.eat(b'.') {
        return Err(invalid());
    }
    let count = p.nz_number().map_err(|_| invalid())?.get();
    if !p.eat(b'>') {
        return Err(invalid());
    }
    Ok(Some(Partial { origin, count }))
}

/// The section as the response names it: `1.2.HEADER.FIELDS (FROM TO)`
/// (without brackets).
pub fn write_section_spec(out: &mut Vec<u8>, section: &Section) {
    for (i, n) in section.parts.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(n.to_string().as_bytes());
    }
    let Some(text) = &section.text else { return };
    if !section.parts.is_empty() {
        out.push(b'.');
    }
    match text {
        SectionText::Header => out.extend_from_slice(b"HEADER"),
        SectionText::Text => out.extend_from_slice(b"TEXT"),
        SectionText::Mime => out.extend_from_slice(b"MIME"),
        SectionText::HeaderFields { names, not } => {
            out.extend_from_slice(if *not {
                b"HEADER.FIELDS.NOT ("
            } else {
                b"HEADER.FIELDS ("
            });
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                let upper = name.to_ascii_uppercase();
                if !upper.is_empty() && upper.bytes().all(is_astring_char) {
                    out.extend_from_slice(upper.as_bytes());
                } else {
                    crate::mime::imap_string::write_string(out, upper.as_bytes());
                }
            }
            out.push(b')');
        }
    }
}

/// `1.2` for BINARY[1.2].
pub fn write_part_numbers(out: &mut Vec<u8>, parts: &[u32]) {
    for (i, n) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FetchItems, String> {
        parse_fetch_items(&mut Parser::new(s.as_bytes()), "Fetch")
    }

    fn spec(s: &Section) -> String {
        let mut out = Vec::new();
        write_section_spec(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn macros() {
        let all = parse("ALL\r\n").unwrap();
        assert!(all.flags && all.internal_date && all.rfc822_size && all.envelope);
        assert!(!all.body);
        let fast = parse("fast").unwrap();
        assert!(fast.flags && !fast.envelope);
        assert!(parse("FULL").unwrap().body);
        assert_eq!(parse("(ALL)").unwrap_err(), "Invalid Fetch attribute ALL");
    }

    #[test]
    fn simple_items() {
        let i = parse("(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)").unwrap();
        assert!(i.uid && i.flags && i.rfc822_size && i.internal_date && i.envelope);
        assert!(!i.reads_message());
        let i = parse("(body bodystructure rfc822 rfc822.header rfc822.text)").unwrap();
        assert!(i.body && i.body_structure && i.rfc822 && i.rfc822_header && i.rfc822_text);
        assert!(i.sets_seen());
        assert!(!parse("RFC822.HEADER").unwrap().sets_seen());
    }

    #[test]
    fn sections() {
        let i = parse(
            "(BODY[] BODY.PEEK[HEADER] BODY[1.2.MIME] body[3.header.fields (From \"To\")]<0.100> \
             BODY.PEEK[HEADER.FIELDS.NOT (X)] BODY[2.TEXT] BODY[4.1])",
        )
        .unwrap();
        let specs: Vec<String> = i.sections.iter().map(|s| spec(&s.section)).collect();
        assert_eq!(
            specs,
            [
                "",
                "HEADER",
                "1.2.MIME",
                "3.HEADER.FIELDS (FROM TO)",
                "HEADER.FIELDS.NOT (X)",
                "2.TEXT",
                "4.1"
            ]
        );
        assert_eq!(
            i.sections[3].partial,
            Some(Partial {
                origin: 0,
                count: 100
            })
        );
        assert!(i.sections[1].peek && !i.sections[0].peek);
    }

    #[test]
    fn binary() {
        let i = parse("(BINARY[1] BINARY.PEEK[1.2]<5.10> BINARY.SIZE[] BINARY[])").unwrap();
        assert_eq!(i.binaries.len(), 3);
        assert_eq!(i.binaries[1].parts, vec![1, 2]);
        assert!(i.binaries[1].peek);
        assert_eq!(i.binary_sizes, vec![Vec::<u32>::new()]);
        assert_eq!(
            parse("BINARY[1.TEXT]").unwrap_err(),
            "Invalid binary section"
        );
        assert_eq!(parse("BINARY").unwrap_err(), "Invalid binary section");
    }

    #[test]
    fn errors() {
        assert_eq!(parse("FOO").unwrap_err(), "Invalid Fetch attribute FOO");
        assert_eq!(parse("").unwrap_err(), "Missing required argument to Fetch");
        assert_eq!(
            parse("(FLAGS").unwrap_err(),
            "Missing close parenthesis in Fetch"
        );
        assert_eq!(parse("()").unwrap_err(), "Invalid Fetch attribute )");
        assert_eq!(
            parse("FLAGS UID").unwrap_err(),
            "Unexpected extra arguments to Fetch"
        );
        assert_eq!(parse("BODY[MIME]").unwrap_err(), "Invalid body section");
        assert_eq!(parse("BODY[0]").unwrap_err(), "Invalid body section");
        assert_eq!(parse("BODY[1.]").unwrap_err(), "Invalid body section");
        assert_eq!(parse("BODY[HEADER").unwrap_err(), "Invalid body section");
        assert_eq!(
            parse("BODY.PEEK").unwrap_err(),
            "Invalid Fetch attribute BODY.PEEK"
        );
        assert_eq!(parse("BODY[]<1>").unwrap_err(), "Invalid body partial");
        assert_eq!(parse("BODY[]<1.0>").unwrap_err(), "Invalid body partial");
        assert_eq!(
            parse("BODY[HEADER.FIELDS]").unwrap_err(),
            "Missing required argument to Fetch HEADER.FIELDS"
        );
        assert_eq!(
            parse("BODY[HEADER.FIELDS (A:B)]").unwrap_err(),
            "Invalid field-name in Fetch HEADER.FIELDS"
        );
        assert_eq!(
            parse("BODY[HEADER.FIELDS (A]").unwrap_err(),
            "Missing required close parenthesis in Fetch HEADER.FIELDS"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data: Vec<u8>) {
            let _ = parse_fetch_items(&mut Parser::new(&data), "Fetch");
        }
    }
}
