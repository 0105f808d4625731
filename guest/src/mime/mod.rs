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
pub mod envelope;
pub mod header;
pub mod imap_string;
pub mod part;
pub mod search;
pub mod section;

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
        }
    }
}

#[cfg(test)]
mod tests;
