//! Content-Transfer-Encoding decoding for BINARY[] and BINARY.SIZE
//! (rfc3516), SEARCH and encoded embedded messages. Decoding is lenient
//! (rfc2045 6.8: ignore characters outside the base64 alphabet), so only an
//! unknown encoding is an error.

use std::borrow::Cow;

/// rfc3516 4.3: the server does not know the part's encoding; the IMAP
/// layer answers `NO [UNKNOWN-CTE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCte(pub String);

impl std::fmt::Display for UnknownCte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown content-transfer-encoding {:?}", self.0)
    }
}
impl std::error::Error for UnknownCte {}

/// Decodes `body` given its Content-Transfer-Encoding value (case-insensitive,
/// comments already removed). Identity encodings borrow.
pub fn decode_body<'a>(body: &'a [u8], cte: &[u8]) -> Result<Cow<'a, [u8]>, UnknownCte> {
    let cte = super::header::trim(cte);
    if cte.is_empty()
        || cte.eq_ignore_ascii_case(b"7bit")
        || cte.eq_ignore_ascii_case(b"8bit")
        || cte.eq_ignore_ascii_case(b"binary")
    {
        Ok(Cow::Borrowed(body))
    } else if cte.eq_ignore_ascii_case(b"base64") {
        Ok(Cow::Owned(decode_base64(body)))
    } else if cte.eq_ignore_ascii_case(b"quoted-printable") {
        Ok(Cow::Owned(decode_quoted_printable(body)))
    } else {
        Err(UnknownCte(String::from_utf8_lossy(cte).into_owned()))
    }
}

fn b64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// rfc2045 6.8, lenient: non-alphabet bytes are skipped, `=` ends the data.
pub fn decode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for &b in input {
        if b == b'=' {
            break;
        }
        let Some(v) = b64_value(b) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// rfc2045 6.7: `=XX` escapes, soft line breaks `=CRLF`, trailing blanks
/// on a line dropped; malformed escapes kept literally.
pub fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for line in input.split_inclusive(|&b| b == b'\n') {
        let (content, eol): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\n")
        } else {
            (line, b"")
        };
        let content = {
            let end = content
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(0, |i| i + 1);
            &content[..end]
        };
        let mut i = 0;
        let mut soft = false;
        while i < content.len() {
            let b = content[i];
            if b == b'=' {
                if i + 1 == content.len() {
                    soft = true;
                    i += 1;
                    continue;
                }
                if i + 2 < content.len() + 1
                    && let (Some(h), Some(l)) = (
                        content.get(i + 1).copied().and_then(hex),
                        content.get(i + 2).copied().and_then(hex),
                    )
                {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(b);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        assert_eq!(decode_base64(b"aGVs\r\nbG8="), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8"), b"hello");
        assert_eq!(
            decode_quoted_printable(b"a=3Db =\r\nc  \r\nd"),
            b"a=b c\r\nd"
        );
        assert_eq!(decode_quoted_printable(b"x=ZZ"), b"x=ZZ");
        assert!(decode_body(b"x", b"x-uuencode").is_err());
        assert_eq!(&*decode_body(b"x", b"8BIT").unwrap(), b"x");
    }
}

/// Why a message with NUL octets cannot be stored (rfc3516 4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NulOutsideBody;

/// rfc3516 4.4: a message APPENDed as literal8 may hold NUL octets in
/// `binary` parts, but `BODY[]` and `RFC822` go out as plain literals,
/// whose CHAR8 excludes NUL (rfc3501 9). So every leaf part whose body
/// holds a NUL is stored base64-encoded instead (its
/// Content-Transfer-Encoding field replaced, the decoded content kept): no
/// data is lost, `BINARY[n]` still returns the original octets, and BODY,
/// BODYSTRUCTURE and RFC822.SIZE all describe the stored form.
///
/// `Ok(None)`: no NUL, store as is. `Err`: a NUL outside any part's body
/// (a header, a boundary line) that no encoding can carry.
pub fn encode_nul_parts(raw: &[u8]) -> Result<Option<Vec<u8>>, NulOutsideBody> {
    if !raw.contains(&0) {
        return Ok(None);
    }
    let tree = super::parse_tree(raw);
    let mut edits = Vec::new();
    collect_nul_parts(raw, &tree, &mut edits)?;
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 3);
    let mut at = 0;
    for (range, replacement) in edits {
        out.extend_from_slice(&raw[at..range.start]);
        out.extend_from_slice(&replacement);
        at = range.end;
    }
    out.extend_from_slice(&raw[at..]);
    if out.contains(&0) {
        return Err(NulOutsideBody);
    }
    Ok(Some(out))
}

/// The (header + body) ranges of the leaves of `part` to replace, in
/// order, with their base64 form.
fn collect_nul_parts(
    raw: &[u8],
    part: &super::MimePart,
    edits: &mut Vec<(std::ops::Range<usize>, Vec<u8>)>,
) -> Result<(), NulOutsideBody> {
    use super::PartKind;
    let header = &raw[part.header.clone()];
    if header.contains(&0) {
        return Err(NulOutsideBody);
    }
    match &part.kind {
        PartKind::Multipart(children) => {
            for child in children {
                collect_nul_parts(raw, child, edits)?;
            }
        }
        PartKind::Message(inner) => collect_nul_parts(raw, inner, edits)?,
        PartKind::Leaf => {
            let body = &raw[part.body.clone()];
            if !body.contains(&0) {
                return Ok(());
            }
            let fields = super::header::fields(header);
            let cte = super::header::first(&fields, "Content-Transfer-Encoding")
                .map(|v| super::header::parse_param_header(v).value)
                .unwrap_or_default();
            // An unknown encoding cannot be decoded: its octets are kept.
            let content = decode_body(body, &cte).unwrap_or(Cow::Borrowed(body));
            // The header as it was, less its Content-Transfer-Encoding
            // fields and the empty line that ends it, then the new field.
            let mut replacement = Vec::with_capacity(header.len() + content.len() * 4 / 3 + 64);
            let mut at = 0;
            for f in &fields {
                if f.name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") {
                    replacement.extend_from_slice(&header[at..f.span.start]);
                    at = f.span.end;
                }
            }
            replacement.extend_from_slice(&header[at..]);
            for ending in [&b"\r\n"[..], b"\n"] {
                if replacement == ending {
                    replacement.clear();
                } else if replacement.ends_with(ending)
                    && replacement[..replacement.len() - ending.len()].ends_with(b"\n")
                {
                    replacement.truncate(replacement.len() - ending.len());
                }
            }
            if !replacement.is_empty() && !replacement.ends_with(b"\n") {
                replacement.extend_from_slice(b"\r\n");
            }
            replacement.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
            // rfc2045 6.8: lines of at most 76 characters.
            let encoded = crate::wire::base64::encode(&content);
            for (i, line) in encoded.as_bytes().chunks(76).enumerate() {
                if i > 0 {
                    replacement.extend_from_slice(b"\r\n");
                }
                replacement.extend_from_slice(line);
            }
            edits.push((part.header.start..part.body.end, replacement));
        }
    }
    Ok(())
}
