//! SEARCH matching (rfc3501 6.4.4): header fields decoded from rfc2047,
//! text parts decoded from their charset, substring match with the
//! i;unicode-casemap comparator (rfc5051, `super::collation`): case
//! folding and compatibility decomposition, so `CAFE` finds `café`.

use mail_parser::{Address, Encoding, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

pub use super::collation::casemap as fold_needle;

/// Folds `s` as the summary cache keeps header values (`SearchHeaders`):
/// Unicode lower case. Matching maps the stored value again with
/// i;unicode-casemap, which gives the same as mapping the original
/// (titlecase of a lower-cased letter is the letter's titlecase).
pub fn fold_case(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// rfc5051 substring: `text` contains `needle`, a needle already mapped
/// with [`fold_needle`] (i;unicode-casemap). ASCII text is matched
/// without mapping it.
pub fn folded_contains(text: &str, needle: &str) -> bool {
    super::collation::casemap_contains(text, needle)
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
    /// The Date: header, for SENTBEFORE etc.; `None` if missing or
    /// unparsable.
    pub sent_date: Option<SentDate>,
}

/// A Date: header: the instant, and the zone it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentDate {
    /// Seconds since the epoch (UTC).
    pub timestamp: i64,
    /// The zone's offset from UTC, in minutes.
    pub tz_minutes: i16,
}

impl SentDate {
    /// The date as written in the header, disregarding time and timezone
    /// (rfc3501 6.4.4 SENTBEFORE/SENTON/SENTSINCE), in days since the epoch.
    pub fn day(&self) -> i64 {
        (self.timestamp + i64::from(self.tz_minutes) * 60).div_euclid(86_400)
    }

    /// The day a message without a usable Date: header is taken to be sent
    /// on: Cyrus records such a message's sent date as 0, 1-Jan-1970.
    pub const MISSING_DAY: i64 = 0;
}

/// The Date: header of the top-level header block `raw` starts with.
pub fn sent_date_of(raw: &[u8]) -> Option<SentDate> {
    let header = &raw[..super::part::find_header_end(raw)];
    let message = mail_parser::MessageParser::default().parse_headers(header)?;
    search_headers(&message).sent_date
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
                    let minutes = i16::from(d.tz_hour) * 60 + i16::from(d.tz_minute);
                    out.sent_date = Some(SentDate {
                        timestamp: d.to_timestamp(),
                        tz_minutes: if d.tz_before_gmt { -minutes } else { minutes },
                    });
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
                || folded_contains(&header_value_text(&h.value), needle_folded))
    })
}

/// SEARCH BODY: the decoded text of any text part contains the needle.
pub fn body_contains(raw: &[u8], needle_folded: &str) -> bool {
    match MessageParser::default().parse(raw) {
        Some(m) => message_text_contains(&m, needle_folded, 0),
        None => folded_contains(&String::from_utf8_lossy(raw), needle_folded),
    }
}

/// SEARCH TEXT: the header or the body text contains the needle. The
/// header is matched as it is (field names included) and, where it has
/// rfc2047 encoded words, decoded.
pub fn text_contains(raw: &[u8], needle_folded: &str) -> bool {
    text_matches(raw, needle_folded, BodyText::Unknown)
}

/// What is known of a message's body text before parsing it (the index
/// keeps it: `MessageSummary::text_is_raw`, `decoded_text`).
#[derive(Debug, Clone, Copy)]
pub enum BodyText<'a> {
    /// Nothing: parse the message.
    Unknown,
    /// Its text parts are their raw bytes ([`text_is_raw`]).
    Raw,
    /// Its text parts, decoded ([`decoded_text`]).
    Decoded(&'a [u8]),
}

/// SEARCH TEXT given what is known of the body text.
pub fn text_matches(raw: &[u8], needle_folded: &str, body: BodyText<'_>) -> bool {
    let header = &raw[..super::part::find_header_end(raw)];
    folded_contains(&String::from_utf8_lossy(header), needle_folded)
        || (memchr::memmem::find(header, b"=?").is_some() && headers_contain(raw, needle_folded))
        || body_matches(raw, needle_folded, body)
}

/// SEARCH BODY given what is known of the body text. A message whose text
/// is raw and does not contain an ASCII needle anywhere is ruled out
/// without parsing.
pub fn body_matches(raw: &[u8], needle_folded: &str, body: BodyText<'_>) -> bool {
    match body {
        BodyText::Decoded(text) => folded_contains(&String::from_utf8_lossy(text), needle_folded),
        // Decomposition maps letters with accents (é) to ASCII ones (E):
        // the raw bytes can rule a message out only when they are ASCII.
        BodyText::Raw
            if raw_searchable(needle_folded)
                && raw.is_ascii()
                && !contains_ascii_nocase(raw, needle_folded.as_bytes()) =>
        {
            false
        }
        _ => body_contains(raw, needle_folded),
    }
}

/// The decoded text parts of `m` (nested messages included), NUL between
/// parts: what [`body_contains`] matches, ready to store.
pub fn decoded_text(m: &Message<'_>) -> Vec<u8> {
    fn walk(m: &Message<'_>, depth: usize, out: &mut Vec<u8>) {
        if depth > super::part::MAX_DEPTH {
            return;
        }
        for p in &m.parts {
            match &p.body {
                PartType::Text(t) | PartType::Html(t) => {
                    out.extend_from_slice(t.as_bytes());
                    out.push(0);
                }
                PartType::Message(inner) => walk(inner, depth + 1, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(m, 0, &mut out);
    out
}

fn message_text_contains(m: &Message<'_>, needle: &str, depth: usize) -> bool {
    if depth > super::part::MAX_DEPTH {
        return false;
    }
    m.parts.iter().any(|p| match &p.body {
        PartType::Text(t) | PartType::Html(t) => folded_contains(t, needle),
        PartType::Message(inner) => message_text_contains(inner, needle, depth + 1),
        _ => false,
    })
}

/// Whether every text part of `m` (what BODY and TEXT match, nested
/// messages included) decodes to what its raw bytes say: no
/// quoted-printable or base64, and a charset in which ASCII letters are
/// their own bytes. Then a needle of ASCII letters and digits that is not
/// in the raw message (ignoring ASCII case) is in no text part either.
pub fn text_is_raw(m: &Message<'_>) -> bool {
    fn walk(m: &Message<'_>, depth: usize) -> bool {
        if depth > super::part::MAX_DEPTH {
            return false;
        }
        m.parts.iter().all(|p| match &p.body {
            PartType::Text(_) | PartType::Html(_) => {
                p.encoding == Encoding::None
                    && p.content_type()
                        .and_then(|ct| ct.attribute("charset"))
                        .is_none_or(ascii_compatible)
            }
            PartType::Message(inner) => p.encoding == Encoding::None && walk(inner, depth + 1),
            _ => true,
        })
    }
    walk(m, 0)
}

/// Charsets that encode ASCII as ASCII and use no ASCII bytes for
/// anything else (so not UTF-7, UTF-16/32, ISO-2022-*, HZ).
fn ascii_compatible(charset: &str) -> bool {
    let c = charset.trim().to_ascii_lowercase();
    c == "us-ascii"
        || c == "ascii"
        || c == "utf-8"
        || c == "utf8"
        || c.starts_with("iso-8859-")
        || c.starts_with("windows-125")
        || c.starts_with("cp125")
        || c == "koi8-r"
        || c == "koi8-u"
}

/// A needle the raw-bytes shortcut can decide: ASCII letters and digits
/// only (no space a header fold could split, nothing case folding or
/// decoding could produce from other bytes).
pub fn raw_searchable(needle_folded: &str) -> bool {
    !needle_folded.is_empty() && needle_folded.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `haystack` contains `needle` ignoring ASCII case.
pub fn contains_ascii_nocase(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut at = 0;
    while let Some(i) = memchr::memchr2(lower, upper, &haystack[at..]) {
        let start = at + i + 1;
        match haystack.get(start..start + rest.len()) {
            Some(tail) if tail.eq_ignore_ascii_case(rest) => return true,
            Some(_) => at = start,
            None => return false,
        }
    }
    false
}

/// The decoded top-level header values contain the needle.
fn headers_contain(raw: &[u8], needle_folded: &str) -> bool {
    let Some(m) = MessageParser::default().parse_headers(raw) else {
        return false;
    };
    m.parts.first().is_some_and(|root| {
        root.headers
            .iter()
            .any(|h| folded_contains(&header_value_text(&h.value), needle_folded))
    })
}
