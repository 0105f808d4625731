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
