//! The MIME part tree of a raw message, as byte ranges into the raw bytes.
//! mail-parser finds the parts (rfc2046 5.1 boundaries, rfc2046 5.2.1
//! message/rfc822 nesting); this module keeps only positions, so every
//! section can be served straight from the message bytes.

use std::ops::Range;

use mail_parser::{Encoding, Message, MessageParser, PartType};

use super::header::{self, ParamHeader};

/// Deeper nesting than this is served as an opaque leaf: keeps recursion
/// (and the guest's stack) bounded on hostile input.
pub const MAX_DEPTH: usize = 48;

/// One MIME part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimePart {
    /// Header block including the empty line that ends it (if present).
    pub header: Range<usize>,
    /// Body: from after the empty line to before the CRLF that precedes
    /// the next boundary (rfc2046 5.1.1: that CRLF belongs to the boundary).
    pub body: Range<usize>,
    pub kind: PartKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartKind {
    Leaf,
    Multipart(Vec<MimePart>),
    /// message/rfc822 (or message/global) with an identity encoding: the
    /// embedded message, whose own header and body lie inside `body`.
    Message(Box<MimePart>),
}

/// Media type of a part, with rfc2045 5.2 / rfc2046 5.1.5 defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub main: Vec<u8>,
    pub sub: Vec<u8>,
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
    /// No (usable) Content-Type header: the default was applied.
    pub defaulted: bool,
}

impl MediaType {
    pub fn is(&self, main: &str, sub: &str) -> bool {
        self.main.eq_ignore_ascii_case(main.as_bytes())
            && self.sub.eq_ignore_ascii_case(sub.as_bytes())
    }
    pub fn is_main(&self, main: &str) -> bool {
        self.main.eq_ignore_ascii_case(main.as_bytes())
    }
    pub fn is_message(&self) -> bool {
        self.is("message", "rfc822") || self.is("message", "global")
    }
}

/// The media type of a part given its header block; `in_digest` selects the
/// multipart/digest default of message/rfc822 (rfc2046 5.1.5).
pub fn media_type(header_block: &[u8], in_digest: bool) -> MediaType {
    let fields = header::fields(header_block);
    let parsed = header::first(&fields, "Content-Type").map(header::parse_param_header);
    if let Some(ParamHeader { value, params }) = parsed {
        if let Some(slash) = value.iter().position(|&b| b == b'/') {
            let (main, sub) = (&value[..slash], &value[slash + 1..]);
            if !main.is_empty() && !sub.is_empty() {
                return MediaType {
                    main: main.to_vec(),
                    sub: sub.to_vec(),
                    params,
                    defaulted: false,
                };
            }
        }
        // rfc2045 5.2: an unparsable type is treated as text/plain; us-ascii
        // (keeping a charset given, as Dovecot does)
        let charset = params
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"charset"))
            .collect::<Vec<_>>();
        return MediaType {
            main: b"text".to_vec(),
            sub: b"plain".to_vec(),
            params: if charset.is_empty() {
                vec![(b"charset".to_vec(), b"us-ascii".to_vec())]
            } else {
                charset
            },
            defaulted: true,
        };
    }
    if in_digest {
        MediaType {
            main: b"message".to_vec(),
            sub: b"rfc822".to_vec(),
            params: Vec::new(),
            defaulted: true,
        }
    } else {
        MediaType {
            main: b"text".to_vec(),
            sub: b"plain".to_vec(),
            params: vec![(b"charset".to_vec(), b"us-ascii".to_vec())],
            defaulted: true,
        }
    }
}

/// Parses `raw` into its part tree. Never fails: input without any header
/// becomes a single text/plain body.
pub fn parse_tree(raw: &[u8]) -> MimePart {
    tree_of(raw, MessageParser::default().parse(raw).as_ref())
}

/// [`parse_tree`] from mail-parser's parse of `raw` (`None`: it failed).
pub fn tree_of(raw: &[u8], message: Option<&Message<'_>>) -> MimePart {
    match message {
        Some(message) if !message.parts.is_empty() => {
            convert(raw, message, 0, 0, false).unwrap_or_else(|| whole_body(raw))
        }
        _ => whole_body(raw),
    }
}

/// `raw` as one part: its header and its body (what a section without
/// part numbers addresses).
pub fn whole_body(raw: &[u8]) -> MimePart {
    // The header ends at the first empty line if there is one.
    let split = find_header_end(raw);
    MimePart {
        header: 0..split,
        body: split..raw.len(),
        kind: PartKind::Leaf,
    }
}

/// Index just after the empty line ending the header, or the end of input.
pub fn find_header_end(raw: &[u8]) -> usize {
    if raw.starts_with(b"\r\n") {
        return 2;
    }
    if raw.starts_with(b"\n") {
        return 1;
    }
    let mut i = 0;
    while let Some(p) = raw[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let rest = &raw[nl + 1..];
        if rest.starts_with(b"\r\n") {
            return nl + 3;
        }
        if rest.starts_with(b"\n") {
            return nl + 2;
        }
        i = nl + 1;
    }
    raw.len()
}

fn clamp(raw: &[u8], start: u32, end: u32) -> Range<usize> {
    let len = raw.len();
    let s = (start as usize).min(len);
    let e = (end as usize).min(len).max(s);
    s..e
}

fn convert(
    raw: &[u8],
    message: &Message<'_>,
    idx: usize,
    depth: usize,
    in_digest: bool,
) -> Option<MimePart> {
    let part = message.parts.get(idx)?;
    let header = clamp(raw, part.offset_header, part.offset_body);
    let mut body = clamp(raw, part.offset_body, part.offset_end);
    if part.offset_end == 0 && part.offset_body > 0 {
        // unterminated structure: mail-parser left no end
        body = clamp(raw, part.offset_body, raw.len() as u32);
    }
    if depth >= MAX_DEPTH {
        return Some(MimePart {
            header,
            body,
            kind: PartKind::Leaf,
        });
    }
    let media = media_type(&raw[header.clone()], in_digest);
    let kind = match &part.body {
        PartType::Multipart(ids) if media.is_main("multipart") && !ids.is_empty() => {
            let digest = media.is("multipart", "digest");
            let children: Vec<MimePart> = ids
                .iter()
                .filter_map(|&id| convert(raw, message, id as usize, depth + 1, digest))
                .collect();
            PartKind::Multipart(children)
        }
        PartType::Multipart(_) if media.is_main("multipart") => PartKind::Multipart(Vec::new()),
        PartType::Message(inner)
            if part.encoding == Encoding::None && media.is_message() && same_buffer(inner) =>
        {
            match convert(raw, inner, 0, depth + 1, false) {
                // The encapsulated message is the whole body (rfc3501
                // 6.4.5 n.TEXT): mail-parser ends a multipart one at its
                // close delimiter, before the line break and epilogue.
                Some(mut p) if p.body.start <= body.end => {
                    p.body.end = body.end;
                    PartKind::Message(Box::new(p))
                }
                _ => PartKind::Leaf,
            }
        }
        _ => PartKind::Leaf,
    };
    Some(MimePart { header, body, kind })
}

/// mail-parser parses identity-encoded embedded messages in place (offsets
/// into the outer buffer); only those can be served as ranges.
fn same_buffer(inner: &Message<'_>) -> bool {
    !inner.parts.is_empty()
}

impl MimePart {
    /// The part's media type (`in_digest`: parent is multipart/digest).
    pub fn media_type(&self, raw: &[u8], in_digest: bool) -> MediaType {
        media_type(&raw[self.header.clone()], in_digest)
    }
}
