//! The MIME layer: from raw message bytes to what FETCH and SEARCH need.
//!
//! - [`MessageSummary::of`]: ENVELOPE, BODYSTRUCTURE, BODY and the SEARCH
//!   header cache, computed once when a message enters the store.
//! - [`section`]: BODY[section] and BINARY[section] as byte ranges.
//! - [`search`]: header/body/text matching with decoding and case folding.
//!
//! MIME structure comes from mail-parser; the IMAP renderings (rfc3501
//! 7.4.2) and the raw-header readers they need are here.

pub mod address;
pub mod binary;
pub mod bodystructure;
pub mod collation;
pub mod envelope;
pub mod header;
pub mod imap_string;
pub mod part;
pub mod search;
pub mod section;
pub mod sort_fields;

pub use part::{MimePart, PartKind, parse_tree};
pub use search::SearchHeaders;
pub use section::{Section, SectionData, SectionError, SectionText};

/// What the index caches for each message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSummary {
    /// rfc3501 7.4.2 ENVELOPE, ready to send.
    pub envelope: Vec<u8>,
    /// BODYSTRUCTURE, ready to send.
    pub body_structure: Vec<u8>,
    /// BODY (non-extensible form), ready to send.
    pub body: Vec<u8>,
    pub search: SearchHeaders,
    /// Every text part is in the raw bytes as it decodes (see
    /// [`search::text_is_raw`]): SEARCH BODY/TEXT can rule the message
    /// out from the raw bytes.
    pub text_is_raw: bool,
    /// For a message whose text is not raw: its text parts decoded, NUL
    /// between parts (what SEARCH BODY matches; no needle has a NUL).
    pub decoded_text: Option<Vec<u8>>,
    /// FETCH PREVIEW (rfc8970): see [`preview`].
    pub preview: String,
    /// EMAILID (rfc8474): see [`email_id`].
    pub email_id: String,
    /// What SORT and THREAD compare (rfc5256, rfc5957).
    pub sort: sort_fields::SortFields,
}

/// rfc8474 5.1: the EMAILID of a message: `M` and 24 hex digits of the
/// SHA-256 of its bytes. The same message has the same id in every
/// mailbox it is copied or moved to (as Cyrus derives it from the message
/// GUID), and the id never changes while the message exists.
pub fn email_id(raw: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(raw);
    let mut out = String::with_capacity(25);
    out.push('M');
    for b in &digest[..12] {
        out += &format!("{b:02x}");
    }
    out
}

/// The most preview characters sent (rfc8970 3.3: SHOULD 200, MUST NOT
/// exceed 256).
pub const PREVIEW_CHARS: usize = 200;

/// rfc8970 3.3: plain text for a preview: the first text part (or the
/// HTML one, markup removed), decoded, whitespace runs folded into one
/// space, at most [`PREVIEW_CHARS`] characters; empty when the message
/// has no text to show.
pub fn preview(message: Option<&mail_parser::Message<'_>>) -> String {
    let Some(text) = message.and_then(|m| m.body_text(0)) else {
        return String::new();
    };
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        let needed = word.chars().count() + usize::from(!out.is_empty());
        if chars + needed > PREVIEW_CHARS {
            // A long first word is cut; otherwise stop at a word boundary.
            if out.is_empty() {
                out.extend(word.chars().take(PREVIEW_CHARS));
            }
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        chars += needed;
    }
    out
}

/// [`preview`] of a raw message.
pub fn preview_of(raw: &[u8]) -> String {
    preview(mail_parser::MessageParser::default().parse(raw).as_ref())
}

impl MessageSummary {
    /// Parses `raw` (once) and renders everything the index caches.
    pub fn of(raw: &[u8]) -> MessageSummary {
        let message = mail_parser::MessageParser::default().parse(raw);
        let tree = part::tree_of(raw, message.as_ref());
        let search = message
            .as_ref()
            .map(search::search_headers)
            .unwrap_or_default();
        let text_is_raw = message.as_ref().is_some_and(search::text_is_raw);
        MessageSummary {
            envelope: envelope::envelope(&raw[tree.header.clone()]),
            body_structure: bodystructure::body_structure(raw, &tree, true),
            body: bodystructure::body_structure(raw, &tree, false),
            search,
            text_is_raw,
            decoded_text: match &message {
                Some(m) if !text_is_raw => Some(search::decoded_text(m)),
                _ => None,
            },
            preview: preview(message.as_ref()),
            email_id: email_id(raw),
            sort: sort_fields::SortFields::of(&raw[tree.header.clone()]),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
