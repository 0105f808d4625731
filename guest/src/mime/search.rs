//! SEARCH matching (rfc3501 6.4.4): header fields decoded from rfc2047,
//! text parts decoded from their charset, substring match after case
//! folding (Unicode lower-casing, a superset of the ASCII folding
//! rfc3501 requires).

use mail_parser::{Address, HeaderValue, Message, MessageParser, PartType};

/// Folds `s` for case-insensitive comparison.
pub fn fold_case(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.chars().flat_map(char::to_lowercase).collect()
    }
}

/// Decoded text of a header value, as matched by SEARCH FROM/TO/SUBJECT/HEADER.
pub fn header_value_text(v: &HeaderValue<'_>) -> String {
    match v {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(" "),
        HeaderValue::Address(a) => address_text(a),
        HeaderValue::DateTime(d) => d.to_rfc822(),
        _ => String::new(),
    }
}

fn address_text(a: &Address<'_>) -> String {
    let mut out = String::new();
    let mut push = |name: Option<&str>, addr: Option<&str>| {
        if !out.is_empty() {
            out.push_str(", ");
        }
        if let Some(n) = name {
            out.push_str(n);
            out.push(' ');
        }
        if let Some(a) = addr {
            out.push('<');
            out.push_str(a);
            out.push('>');
        }
    };
    match a {
        Address::List(l) => l.iter().for_each(|x| push(x.name(), x.address())),
        Address::Group(g) => {
            for group in g {
                if let Some(n) = &group.name {
                    push(Some(n), None);
                }
                group
                    .addresses
                    .iter()
                    .for_each(|x| push(x.name(), x.address()));
            }
        }
    }
    out
}

/// Header values SEARCH needs without opening the message, kept in the index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchHeaders {
    /// Folded, decoded values.
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub subject: String,
    /// Date: header as seconds since the epoch (UTC), for SENTBEFORE etc.
    pub sent_date: Option<i64>,
}

/// Extracts [`SearchHeaders`] from a parsed message.
pub fn search_headers(message: &Message<'_>) -> SearchHeaders {
    let mut out = SearchHeaders::default();
    let Some(root) = message.parts.first() else {
        return out;
    };
    for h in &root.headers {
        let slot = match h.name.as_str().to_ascii_lowercase().as_str() {
            "from" => &mut out.from,
            "to" => &mut out.to,
            "cc" => &mut out.cc,
            "bcc" => &mut out.bcc,
            "subject" => &mut out.subject,
            "date" => {
                if out.sent_date.is_none()
                    && let HeaderValue::DateTime(d) = &h.value
                {
                    out.sent_date = Some(d.to_timestamp());
                }
                continue;
            }
            _ => continue,
        };
        if slot.is_empty() {
            *slot = fold_case(&header_value_text(&h.value));
        }
    }
    out
}

/// SEARCH HEADER name value on the top-level header: true if any field
/// called `name` contains `needle_folded` (already folded). An empty needle
/// matches any message that has the field (rfc3501 6.4.4).
pub fn header_contains(raw: &[u8], name: &str, needle_folded: &str) -> bool {
    let Some(message) = MessageParser::default().parse_headers(raw) else {
        return false;
    };
    let Some(root) = message.parts.first() else {
        return false;
    };
    root.headers.iter().any(|h| {
        h.name.as_str().eq_ignore_ascii_case(name)
            && (needle_folded.is_empty()
                || fold_case(&header_value_text(&h.value)).contains(needle_folded))
    })
}

/// SEARCH BODY: the decoded text of any text part contains the needle.
pub fn body_contains(raw: &[u8], needle_folded: &str) -> bool {
    match MessageParser::default().parse(raw) {
        Some(m) => message_text_contains(&m, needle_folded, 0),
        None => fold_case(&String::from_utf8_lossy(raw)).contains(needle_folded),
    }
}

/// SEARCH TEXT: header or body contains the needle.
pub fn text_contains(raw: &[u8], needle_folded: &str) -> bool {
    let Some(m) = MessageParser::default().parse(raw) else {
        return fold_case(&String::from_utf8_lossy(raw)).contains(needle_folded);
    };
    if let Some(root) = m.parts.first() {
        let headers_match = root.headers.iter().any(|h| {
            fold_case(h.name.as_str()).contains(needle_folded)
                || fold_case(&header_value_text(&h.value)).contains(needle_folded)
        });
        if headers_match {
            return true;
        }
        // fields mail-parser keeps structured but we render as empty: raw
        let end = (root.offset_body as usize).min(raw.len());
        if fold_case(&String::from_utf8_lossy(&raw[..end])).contains(needle_folded) {
            return true;
        }
    }
    message_text_contains(&m, needle_folded, 0)
}

fn message_text_contains(m: &Message<'_>, needle: &str, depth: usize) -> bool {
    if depth > super::part::MAX_DEPTH {
        return false;
    }
    m.parts.iter().any(|p| match &p.body {
        PartType::Text(t) | PartType::Html(t) => fold_case(t).contains(needle),
        PartType::Message(inner) => message_text_contains(inner, needle, depth + 1),
        _ => false,
    })
}
