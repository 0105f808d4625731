//! The IMAP wire format: the incremental [`reader`] that assembles
//! commands from a byte stream, the [`parser`] for their arguments, the
//! validated [`types`], and helpers to write responses.

pub mod base64;
pub mod parser;
pub mod reader;
pub mod types;

/// Append `s` as an IMAP string (rfc9051 4.3): quoted when every byte may
/// stand in a quoted string, a literal otherwise.
pub fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s
        .iter()
        .all(|&b| (0x01..=0x7f).contains(&b) && b != b'\r' && b != b'\n');
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let mut out = Vec::new();
        push_string(&mut out, b"a \"b\" \\c");
        assert_eq!(out, b"\"a \\\"b\\\" \\\\c\"");
        out.clear();
        push_string(&mut out, b"x\r\ny");
        assert_eq!(out, b"{4}\r\nx\r\ny");
    }
}
