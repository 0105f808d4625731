//! What SORT (rfc5256 3, rfc5957) and THREAD (rfc5256 3) need of a
//! message, taken from its header once, when it enters the store, and
//! kept in the summary cache: the decoded subject, the first From/To/Cc
//! addresses' addr-mailbox, the DISPLAYFROM/DISPLAYTO values, and the
//! normalized Message-ID and references. Also the base-subject
//! extraction (rfc5256 2.1) and msg-id normalization they use.

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

use super::address::{AddressItem, parse_address_list};
use super::header::{self, HeaderField};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SortFields {
    /// rfc5256 2.1 step 1: encoded words decoded, tabs and line breaks
    /// turned into spaces, runs of spaces into one.
    pub subject: String,
    /// rfc5256 3: the addr-mailbox of the first From, To and Cc address
    /// (as ENVELOPE has it); empty if there is none.
    pub from: String,
    pub to: String,
    pub cc: String,
    /// rfc5957 3: the DISPLAY sort value of the first From and To address.
    pub display_from: String,
    pub display_to: String,
    /// The normalized Message-ID ([`msg_ids`]); empty if none is valid.
    pub message_id: String,
    /// rfc5256 3 REFERENCES: the normalized ids of References, or when it
    /// has none, the first valid one of In-Reply-To.
    pub references: Vec<String>,
}

impl SortFields {
    /// From the top-level header block `block`.
    pub fn of(block: &[u8]) -> SortFields {
        let fields = header::fields(block);
        let first = |name: &str| header::first(&fields, name);
        let (from, display_from) = first_address(&fields, "From");
        let (to, display_to) = first_address(&fields, "To");
        let (cc, _) = first_address(&fields, "Cc");
        let mut references = first("References").map(msg_ids).unwrap_or_default();
        if references.is_empty() {
            references = first("In-Reply-To")
                .and_then(|v| msg_ids(v).into_iter().next())
                .into_iter()
                .collect();
        }
        SortFields {
            subject: first("Subject").map(decode_text).unwrap_or_default(),
            from,
            to,
            cc,
            display_from,
            display_to,
            message_id: first("Message-ID")
                .and_then(|v| msg_ids(v).into_iter().next())
                .unwrap_or_default(),
            references,
        }
    }
}

/// An unstructured header value with its rfc2047 encoded words decoded
/// (mail-parser's decoder, every charset), unfolded, whitespace runs as
/// one space, trimmed (rfc5256 2.1 step 1).
pub fn decode_text(raw: &[u8]) -> String {
    let mut value = header::unfold(raw);
    value.extend_from_slice(b"\r\n");
    let text = match MessageStream::new(&value).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        HeaderValue::TextList(l) => l.join(" "),
        _ => String::new(),
    };
    collapse_spaces(&text)
}

fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The addr-mailbox (rfc5256 3) and DISPLAY value (rfc5957 3) of the
/// first address of the field `name`, as ENVELOPE lists it (a group's
/// start is an address whose addr-mailbox is the group's name).
fn first_address(fields: &[HeaderField<'_>], name: &str) -> (String, String) {
    let Some(value) = header::first(fields, name) else {
        return Default::default();
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match parse_address_list(value).into_iter().next() {
        Some(AddressItem::Mailbox {
            name,
            mailbox,
            host,
            ..
        }) => {
            let display = name
                .map(|n| decode_text(&n))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| match host.is_empty() {
                    true => text(&mailbox),
                    false => format!("{}@{}", text(&mailbox), text(&host)),
                });
            (text(&mailbox), display)
        }
        Some(AddressItem::GroupStart(group)) => (text(&group), text(&group)),
        _ => Default::default(),
    }
}

/// The valid msg-ids (rfc5322 3.6.4 `"<" id-left "@" id-right ">"`) in a
/// header value, normalized as rfc5256 3 requires: comments and
/// whitespace dropped and quoting undone, so `<"a b"@x>` is `<a b@x>`.
/// Anything else between them (words, addresses) is skipped.
pub fn msg_ids(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'(' => i = skip_comment(raw, i),
            b'"' => i = skip_quoted(raw, i),
            b'<' => {
                let (id, next) = one_msg_id(raw, i + 1);
                if let Some(id) = id {
                    out.push(id);
                }
                i = next;
            }
            _ => i += 1,
        }
    }
    out
}

/// The msg-id whose `<` is just before `start`, and where scanning goes
/// on: after its `>`, or at the `<` that started another.
fn one_msg_id(raw: &[u8], start: usize) -> (Option<String>, usize) {
    let mut id = Vec::new();
    let mut i = start;
    while i < raw.len() {
        match raw[i] {
            b'>' => {
                let valid = match id.iter().position(|&b| b == b'@') {
                    Some(at) => at > 0 && at + 1 < id.len() && !id[at + 1..].contains(&b'@'),
                    None => false,
                };
                let id = valid.then(|| {
                    let mut s = String::from("<");
                    s += &String::from_utf8_lossy(&id);
                    s.push('>');
                    s
                });
                return (id, i + 1);
            }
            b'<' => return (None, i),
            b'(' => i = skip_comment(raw, i),
            b'"' => {
                let end = skip_quoted(raw, i);
                let inner = &raw[i + 1..end.saturating_sub(1).max(i + 1)];
                let mut escaped = false;
                for &b in inner {
                    if b == b'\\' && !escaped {
                        escaped = true;
                        continue;
                    }
                    escaped = false;
                    id.push(b);
                }
                i = end;
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'\\' if i + 1 < raw.len() => {
                id.push(raw[i + 1]);
                i += 2;
            }
            b => {
                id.push(b);
                i += 1;
            }
        }
    }
    (None, i)
}

/// The index after the comment that starts at `i` (nested, escapes).
fn skip_comment(raw: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < raw.len() {
        match raw[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    raw.len()
}

/// The index after the quoted string that starts at `i`.
fn skip_quoted(raw: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < raw.len() {
        match raw[i] {
            b'\\' => i += 1,
            b'"' => return i + 1,
            _ => {}
        }
        i += 1;
    }
    raw.len()
}

/// rfc5256 2.1: the base subject of a subject (already through step 1,
/// [`decode_text`]), and whether extracting it removed a subj-refwd, a
/// `(fwd)` trailer or a `[fwd: ...]` wrapper: whether the message is a
/// reply or forward for THREAD=REFERENCES (rfc5256 3).
pub fn base_subject(subject: &str) -> (String, bool) {
    let mut s = collapse_spaces(subject);
    let mut reply = false;
    loop {
        // (2) subj-trailer = "(fwd)" / WSP, from the end, repeatedly.
        loop {
            if let Some(rest) = s.strip_suffix(' ') {
                s.truncate(rest.len());
            } else if s.len() >= 5
                && s.is_char_boundary(s.len() - 5)
                && s[s.len() - 5..].eq_ignore_ascii_case("(fwd)")
            {
                s.truncate(s.len() - 5);
                reply = true;
            } else {
                break;
            }
        }
        // (3), (4), (5): leaders, then one blob if something is left
        // after it, until neither applies.
        loop {
            let before = s.len();
            loop {
                if s.starts_with(' ') {
                    s.remove(0);
                } else if let Some(n) = leader_refwd(s.as_bytes()) {
                    s.drain(..n);
                    reply = true;
                } else {
                    break;
                }
            }
            if let Some(n) = blob(s.as_bytes())
                && n < s.len()
            {
                s.drain(..n);
            }
            if s.len() == before {
                break;
            }
        }
        // (6) subj-fwd-hdr subject subj-fwd-trl.
        if s.len() >= 6 && s.as_bytes()[..5].eq_ignore_ascii_case(b"[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

/// The length of `*subj-blob subj-refwd` at the start of `s`.
fn leader_refwd(s: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        if let Some(n) = refwd(&s[at..]) {
            return Some(at + n);
        }
        at += blob(&s[at..])?;
    }
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn refwd(s: &[u8]) -> Option<usize> {
    let starts = |p: &[u8]| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p);
    let mut at = if starts(b"re") {
        2
    } else if starts(b"fwd") {
        3
    } else if starts(b"fw") {
        2
    } else {
        return None;
    };
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    if let Some(n) = blob(&s[at..]) {
        at += n;
    }
    (s.get(at) == Some(&b':')).then_some(at + 1)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: its length at the start of `s`.
fn blob(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = 1 + s[1..].iter().position(|&b| b == b']' || b == b'[')?;
    if s[close] != b']' {
        return None;
    }
    let mut at = close + 1;
    while s.get(at) == Some(&b' ') {
        at += 1;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rfc5256 2.1, rule by rule.
    #[test]
    fn base_subject_rules() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "", false),
            ("Hello", "Hello", false),
            // (1) whitespace.
            ("  Hello \t  world  ", "Hello world", false),
            // (3) subj-refwd, any case, with blanks and a blob inside.
            ("Re: Hello", "Hello", true),
            ("RE:Hello", "Hello", true),
            ("re : Hello", "Hello", true),
            ("Fw: Hello", "Hello", true),
            ("FWD: Hello", "Hello", true),
            ("Re[2]: Hello", "Hello", true),
            ("Re [2] : Hello", "Hello", true),
            // Nested and repeated leaders.
            ("Re: Re: Fwd: Re: Hello", "Hello", true),
            ("[list] Re: Hello", "Hello", true),
            ("[a][b] Re: [c] Re: Hello", "Hello", true),
            // (4) a blob goes only when something is left after it.
            ("[list] Hello", "Hello", false),
            ("[list]", "[list]", false),
            ("Re: [list]", "[list]", true),
            ("[a] [b]", "[b]", false),
            ("[PATCH 1/2] fix", "fix", false),
            // Not leaders.
            ("Rex: Hello", "Rex: Hello", false),
            ("Regarding: x", "Regarding: x", false),
            ("Re Hello", "Re Hello", false),
            ("Hello Re: x", "Hello Re: x", false),
            ("[unclosed Re: x", "[unclosed Re: x", false),
            // (2) trailers.
            ("Hello (fwd)", "Hello", true),
            ("Hello (FWD) (fwd)  ", "Hello", true),
            ("Hello(fwd)", "Hello", true),
            ("Hello (fwd) x", "Hello (fwd) x", false),
            // (6) [fwd: ...], then again from (2).
            ("[Fwd: Hello]", "Hello", true),
            ("[fwd: Re: Hello (fwd)]", "Hello", true),
            ("Re: [Fwd: [Fwd: Hello]]", "Hello", true),
            ("[fwd: Hello", "[fwd: Hello", false),
            ("[fwd:]", "", true),
            // Non-ASCII subjects.
            ("Re: Grüße", "Grüße", true),
            ("Fwd: [рассылка] Привет", "Привет", true),
            ("回复: 你好", "回复: 你好", false),
        ];
        for &(subject, base, reply) in cases {
            assert_eq!(
                base_subject(subject),
                (base.to_string(), reply),
                "{subject:?}"
            );
        }
    }

    #[test]
    fn encoded_words_are_decoded_first() {
        let block = b"Subject: =?UTF-8?Q?Re=3A_Caf=C3=A9?=\r\n\t=?ISO-8859-1?Q?_na=EFve?=\r\n\r\n";
        let f = SortFields::of(block);
        assert_eq!(f.subject, "Re: Café naïve");
        assert_eq!(base_subject(&f.subject), ("Café naïve".to_string(), true));
        let f = SortFields::of(b"Subject: =?KOI8-R?B?8NLJ18XU?=\r\n\r\n");
        assert_eq!(f.subject, "Привет");
    }

    #[test]
    fn msg_id_normalization() {
        // rfc5256 3: quoting does not make another id.
        assert_eq!(
            msg_ids(b"<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"),
            ["<01KF8JCEOCBS0045PS@xxx.yyy.com>"]
        );
        assert_eq!(
            msg_ids(b" <a@b> (comment <x@y>)\r\n\t<c @ d> junk <nope> <e@f"),
            ["<a@b>", "<c@d>"]
        );
        // In-Reply-To with an address after the id; only the first counts.
        let f =
            SortFields::of(b"In-Reply-To: <1@x> from \"Joe\" <joe@y>\r\nMessage-ID: <m@x>\r\n\r\n");
        assert_eq!(f.references, ["<1@x>"]);
        assert_eq!(f.message_id, "<m@x>");
        // References wins over In-Reply-To, unless it holds no valid id.
        let f = SortFields::of(b"References: <1@x>\r\n <2@x>\r\nIn-Reply-To: <3@x>\r\n\r\n");
        assert_eq!(f.references, ["<1@x>", "<2@x>"]);
        let f = SortFields::of(b"References: nothing\r\nIn-Reply-To: <3@x>\r\n\r\n");
        assert_eq!(f.references, ["<3@x>"]);
        assert!(
            SortFields::of(b"Message-ID: <no-at>\r\n\r\n")
                .message_id
                .is_empty()
        );
    }

    #[test]
    fn addresses_and_display_values() {
        let f = SortFields::of(
            b"From: =?UTF-8?Q?Ren=C3=A9?= <Rene@Example.org>, b@c\r\n\
              To: undisclosed: ;\r\nCc: <x@y>\r\n\r\n",
        );
        assert_eq!((f.from.as_str(), f.display_from.as_str()), ("Rene", "René"));
        assert_eq!(
            (f.to.as_str(), f.display_to.as_str()),
            ("undisclosed", "undisclosed")
        );
        assert_eq!(f.cc, "x");
        let f = SortFields::of(b"From: plain@example.org\r\nTo: \"\" <t@u>\r\n\r\n");
        assert_eq!(f.display_from, "plain@example.org");
        assert_eq!(f.display_to, "t@u");
        let f = SortFields::of(b"Subject: x\r\n\r\n");
        assert_eq!(
            (f.from, f.display_from, f.cc),
            (String::new(), String::new(), String::new())
        );
    }
}
