//! FETCH BODY[section] / BINARY[section] addressing (rfc3501 6.4.5,
//! rfc3516 4.2). Results are byte ranges into the raw message where the
//! data is contiguous there, so the IMAP layer can stream them and apply
//! `<partial>` itself.

use std::borrow::Cow;
use std::ops::Range;

use super::binary::{UnknownCte, decode_body};
use super::header;
use super::part::{MimePart, PartKind};

/// The text part of a section specifier (rfc3501 9 `section-msgtext`, `section-text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    /// HEADER.FIELDS (names) or, with `not`, HEADER.FIELDS.NOT (names)
    HeaderFields {
        names: Vec<String>,
        not: bool,
    },
    Text,
    Mime,
}

/// A parsed section specifier: `1.2.HEADER` is `parts: [1, 2], text: Some(Header)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub parts: Vec<u32>,
    pub text: Option<SectionText>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionError {
    /// A part number that does not exist. rfc3501 leaves the reply open;
    /// Cyrus and Dovecot send an empty string (`""` / NIL).
    NoSuchPart,
    /// HEADER/TEXT on a part that is not message/rfc822, or MIME without a part number.
    NotMessage,
    UnknownCte(UnknownCte),
}

/// Section data: a range into the raw message, or bytes built for the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionData {
    Range(Range<usize>),
    Owned(Vec<u8>),
}

impl SectionData {
    pub fn bytes<'a>(&'a self, raw: &'a [u8]) -> &'a [u8] {
        match self {
            SectionData::Range(r) => &raw[r.clone()],
            SectionData::Owned(v) => v,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            SectionData::Range(r) => r.len(),
            SectionData::Owned(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Finds the part addressed by `nums` (non-empty). rfc3501 6.4.5: a
/// non-multipart message (or embedded message) has only a part 1, its body;
/// the parts of a message/rfc822 part are those of its embedded message.
pub fn find_part<'t>(root: &'t MimePart, nums: &[u32]) -> Result<&'t MimePart, SectionError> {
    let mut node = root;
    let mut reached_by_number = false;
    for &n in nums {
        let mut container = node;
        let mut descended = false;
        if reached_by_number {
            match &node.kind {
                PartKind::Message(inner) => {
                    container = inner;
                    descended = true;
                }
                PartKind::Multipart(_) => {}
                PartKind::Leaf => return Err(SectionError::NoSuchPart),
            }
        }
        match &container.kind {
            PartKind::Multipart(children) => {
                node = children
                    .get((n as usize).wrapping_sub(1))
                    .ok_or(SectionError::NoSuchPart)?;
            }
            _ => {
                if n != 1 || (reached_by_number && !descended) {
                    return Err(SectionError::NoSuchPart);
                }
                node = container;
            }
        }
        reached_by_number = true;
    }
    Ok(node)
}

/// Resolves a BODY[section] to its data.
pub fn fetch_section(
    raw: &[u8],
    root: &MimePart,
    section: &Section,
) -> Result<SectionData, SectionError> {
    if section.parts.is_empty() {
        return match &section.text {
            None => Ok(SectionData::Range(0..raw.len())),
            Some(SectionText::Mime) => Err(SectionError::NotMessage),
            Some(t) => Ok(message_text(raw, root, t)),
        };
    }
    let node = find_part(root, &section.parts)?;
    match &section.text {
        None => Ok(SectionData::Range(node.body.clone())),
        Some(SectionText::Mime) => Ok(SectionData::Range(node.header.clone())),
        Some(t) => match &node.kind {
            // HEADER/TEXT of a part only for message/rfc822 (rfc3501 6.4.5)
            PartKind::Message(inner) => Ok(message_text(raw, inner, t)),
            _ => Err(SectionError::NotMessage),
        },
    }
}

fn message_text(raw: &[u8], msg: &MimePart, text: &SectionText) -> SectionData {
    match text {
        SectionText::Header => SectionData::Range(msg.header.clone()),
        SectionText::Text => SectionData::Range(msg.body.clone()),
        SectionText::HeaderFields { names, not } => {
            SectionData::Owned(header_fields(&raw[msg.header.clone()], names, *not))
        }
        SectionText::Mime => SectionData::Range(msg.header.clone()),
    }
}

/// HEADER.FIELDS / HEADER.FIELDS.NOT: matching fields in order, then the
/// empty line (rfc3501 6.4.5: "the blank line ... is included").
pub fn header_fields(block: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in header::fields(block) {
        let listed = names
            .iter()
            .any(|n| f.name.eq_ignore_ascii_case(n.as_bytes()));
        if listed != not {
            out.extend_from_slice(&block[f.span.clone()]);
            if !out.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// BINARY[section] (rfc3516 4.2): the decoded content of a part. An empty
/// `parts` is the whole message, which has no transfer encoding of its own.
pub fn fetch_binary<'a>(
    raw: &'a [u8],
    root: &MimePart,
    parts: &[u32],
) -> Result<Cow<'a, [u8]>, SectionError> {
    if parts.is_empty() {
        return Ok(Cow::Borrowed(raw));
    }
    let node = find_part(root, parts)?;
    let body = &raw[node.body.clone()];
    if !matches!(node.kind, PartKind::Leaf) {
        return Ok(Cow::Borrowed(body));
    }
    let fields = header::fields(&raw[node.header.clone()]);
    let cte = header::first(&fields, "Content-Transfer-Encoding")
        .map(|v| header::parse_param_header(v).value)
        .unwrap_or_default();
    decode_body(body, &cte).map_err(SectionError::UnknownCte)
}

/// BINARY.SIZE[section] (rfc3516 4.2).
pub fn binary_size(raw: &[u8], root: &MimePart, parts: &[u32]) -> Result<usize, SectionError> {
    fetch_binary(raw, root, parts).map(|d| d.len())
}
