//! Raw header-block access (rfc5322 2.2): fields as they appear on the wire,
//! unfolding, and the `type/subtype; param=value` syntax of rfc2045 5.1 with
//! rfc2231 continuations.

use std::ops::Range;

/// One header field in a header block, as raw byte ranges into that block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// Field name, without the colon, trailing blanks trimmed.
    pub name: &'a [u8],
    /// Raw value after the colon, folding kept, final line break excluded.
    pub value: &'a [u8],
    /// The whole field including its final line break, as a range into the block.
    pub span: Range<usize>,
}

/// Splits a header block (up to and possibly including the empty line) into fields.
/// Lines without a colon are skipped (rfc5322 forbids them; real mail has them).
pub fn fields(block: &[u8]) -> Vec<HeaderField<'_>> {
    let mut out: Vec<HeaderField<'_>> = Vec::new();
    let mut pos = 0;
    // A continuation line belongs to the field before it, so we only know
    // where a field ends when the next line does not start with a blank.
    let mut current: Option<(usize, usize)> = None; // (start, colon)
    fn finish<'b>(
        block: &'b [u8],
        out: &mut Vec<HeaderField<'b>>,
        start: usize,
        colon: usize,
        end: usize,
    ) {
        let mut value_end = end;
        while value_end > colon + 1 && matches!(block[value_end - 1], b'\r' | b'\n') {
            value_end -= 1;
        }
        let mut name_end = colon;
        while name_end > start && matches!(block[name_end - 1], b' ' | b'\t') {
            name_end -= 1;
        }
        out.push(HeaderField {
            name: &block[start..name_end],
            value: &block[colon + 1..value_end],
            span: start..end,
        });
    }
    while pos < block.len() {
        let line_end = match block[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => pos + i + 1,
            None => block.len(),
        };
        let line = &block[pos..line_end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if current.is_some() {
                pos = line_end;
                continue;
            }
        } else if let Some((start, colon)) = current.take() {
            finish(block, &mut out, start, colon, pos);
        }
        if current.is_none()
            && let Some(colon) = line.iter().position(|&b| b == b':')
        {
            current = Some((pos, pos + colon));
        }
        pos = line_end;
    }
    if let Some((start, colon)) = current {
        finish(block, &mut out, start, colon, pos);
    }
    out
}

/// The first field named `name` (ASCII case-insensitive).
pub fn first<'a>(fields: &[HeaderField<'a>], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value)
}

/// Unfolds (rfc5322 2.2.3: remove CRLF before WSP) and trims a raw value.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    trim(&v).to_vec()
}

pub fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &v[start..end.max(start)]
}

/// `value; name=value; ...` as in Content-Type and Content-Disposition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamHeader {
    /// The part before the first `;`, comments removed, trimmed (e.g. `text/plain`).
    pub value: Vec<u8>,
    /// Parameters in order of first appearance; rfc2231 continuations joined.
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ParamHeader {
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

/// Removes rfc5322 comments (nested parentheses) outside quoted strings.
fn skip_comment(v: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    v.len()
}

/// Parses a Content-Type/Content-Disposition value.
///
/// rfc2231: `name*0=..; name*1=..` continuations are joined under `name`;
/// when any section is charset-encoded (`name*0*=` or `name*=`), the joined
/// parameter is named `name*` and its value keeps the rfc2231 form
/// (`charset'lang'%XX...`), with plain sections percent-encoded to match.
/// This is what Dovecot sends in BODYSTRUCTURE: 7-bit, lossless, and clients
/// that understand rfc2231 decode it.
pub fn parse_param_header(raw: &[u8]) -> ParamHeader {
    let v = unfold(raw);
    let mut i = 0;
    let mut head = Vec::new();
    while i < v.len() && v[i] != b';' {
        match v[i] {
            b'(' => i = skip_comment(&v, i),
            b'"' => {
                let (s, next) = quoted(&v, i);
                head.extend_from_slice(&s);
                i = next;
            }
            b' ' | b'\t' => i += 1,
            b => {
                head.push(b);
                i += 1;
            }
        }
    }
    let mut raw_params: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    while i < v.len() {
        // at ';'
        i += 1;
        let mut name = Vec::new();
        while i < v.len() && v[i] != b'=' && v[i] != b';' {
            match v[i] {
                b'(' => i = skip_comment(&v, i),
                b' ' | b'\t' => i += 1,
                b => {
                    name.push(b);
                    i += 1;
                }
            }
        }
        if i >= v.len() || v[i] == b';' {
            continue; // parameter without a value: ignored
        }
        i += 1; // '='
        while i < v.len() && matches!(v[i], b' ' | b'\t') {
            i += 1;
        }
        let mut value = Vec::new();
        if i < v.len() && v[i] == b'"' {
            let (s, next) = quoted(&v, i);
            value = s;
            i = next;
            while i < v.len() && v[i] != b';' {
                i += 1;
            }
        } else {
            while i < v.len() && v[i] != b';' {
                match v[i] {
                    b'(' => i = skip_comment(&v, i),
                    b => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
            value = trim(&value).to_vec();
        }
        if !name.is_empty() {
            raw_params.push((name, value));
        }
    }
    ParamHeader {
        value: head,
        params: join_rfc2231(raw_params),
    }
}

/// Reads a quoted string starting at `v[i] == '"'`; returns its content and the index after it.
fn quoted(v: &[u8], mut i: usize) -> (Vec<u8>, usize) {
    let mut s = Vec::new();
    i += 1;
    while i < v.len() {
        match v[i] {
            b'\\' if i + 1 < v.len() => {
                s.push(v[i + 1]);
                i += 2;
            }
            b'"' => return (s, i + 1),
            b => {
                s.push(b);
                i += 1;
            }
        }
    }
    (s, i)
}

fn percent_encode_plain(v: &[u8], out: &mut Vec<u8>) {
    for &b in v {
        // rfc2231 7: attribute-char excludes SPACE, CTLs, "*", "'", "%", tspecials
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`{|}~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

fn join_rfc2231(raw: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    struct Sections {
        base: Vec<u8>,
        parts: Vec<(u32, bool, Vec<u8>)>,
        whole: Option<(bool, Vec<u8>)>,
    }
    let mut groups: Vec<Sections> = Vec::new();
    for (name, value) in raw {
        let (base, section, extended) = split_2231_name(&name);
        let idx = match groups
            .iter()
            .position(|g| g.base.eq_ignore_ascii_case(&base))
        {
            Some(idx) => idx,
            None => {
                groups.push(Sections {
                    base,
                    parts: Vec::new(),
                    whole: None,
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[idx];
        match section {
            Some(n) => {
                if !g.parts.iter().any(|p| p.0 == n) {
                    g.parts.push((n, extended, value));
                }
            }
            None => {
                if g.whole.is_none() {
                    g.whole = Some((extended, value));
                }
            }
        }
    }
    let mut out = Vec::new();
    for mut g in groups {
        if let Some((extended, value)) = g.whole {
            // A plain `name=` or `name*=` wins over stray continuations.
            let mut name = g.base;
            if extended {
                name.push(b'*');
            }
            out.push((name, value));
            continue;
        }
        g.parts.sort_by_key(|p| p.0);
        let any_extended = g.parts.iter().any(|p| p.1);
        let mut value = Vec::new();
        for (_, extended, v) in &g.parts {
            if any_extended && !extended {
                percent_encode_plain(v, &mut value);
            } else {
                value.extend_from_slice(v);
            }
        }
        let mut name = g.base;
        if any_extended {
            name.push(b'*');
        }
        out.push((name, value));
    }
    out
}

/// `name*3*` → (`name`, Some(3), true); `name*` → (`name`, None, true).
fn split_2231_name(name: &[u8]) -> (Vec<u8>, Option<u32>, bool) {
    let (body, extended) = match name.strip_suffix(b"*") {
        Some(b) => (b, true),
        None => (name, false),
    };
    if let Some(star) = body.iter().rposition(|&b| b == b'*') {
        let digits = &body[star + 1..];
        if !digits.is_empty() && digits.len() < 6 && digits.iter().all(u8::is_ascii_digit) {
            let n = std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            return (body[..star].to_vec(), Some(n), extended);
        }
    }
    if extended {
        (body.to_vec(), None, true)
    } else {
        (name.to_vec(), None, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_with_folding() {
        let block = b"Subject: a\r\n b\r\nFrom : x@y\r\nbogus line\r\nTo: z\r\n\r\nbody";
        let f = fields(block);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, b"Subject");
        assert_eq!(f[0].value, b" a\r\n b");
        assert_eq!(unfold(f[0].value), b"a b");
        assert_eq!(f[1].name, b"From");
        assert_eq!(f[2].value, b" z");
        assert_eq!(&block[f[0].span.clone()], b"Subject: a\r\n b\r\n");
    }

    #[test]
    fn params_and_2231() {
        let p = parse_param_header(b" text/plain (c) ; charset=\"utf-8\"; format = flowed");
        assert_eq!(p.value, b"text/plain");
        assert_eq!(p.param("CHARSET"), Some(&b"utf-8"[..]));
        assert_eq!(p.param("format"), Some(&b"flowed"[..]));

        let p =
            parse_param_header(b"attachment; filename*1=\" b.txt\"; filename*0*=utf-8''%E2%82%AC");
        assert_eq!(p.value, b"attachment");
        assert_eq!(
            p.params,
            vec![(b"filename*".to_vec(), b"utf-8''%E2%82%AC%20b.txt".to_vec())]
        );
        let p = parse_param_header(b"application/x; name*0=\"a\"; name*1=\"b c\"");
        assert_eq!(p.params, vec![(b"name".to_vec(), b"ab c".to_vec())]);
    }
}
