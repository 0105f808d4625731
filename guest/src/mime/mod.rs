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
}

impl MessageSummary {
    /// Parses `raw` and renders everything the index caches.
    pub fn of(raw: &[u8]) -> MessageSummary {
        let tree = parse_tree(raw);
        let search = mail_parser::MessageParser::default()
            .parse_headers(raw)
            .map(|m| search::search_headers(&m))
            .unwrap_or_default();
        MessageSummary {
            envelope: envelope::envelope(&raw[tree.header.clone()]),
            body_structure: bodystructure::body_structure(raw, &tree, true),
            body: bodystructure::body_structure(raw, &tree, false),
            search,
        }
    }
}

#[cfg(test)]
mod tests;
