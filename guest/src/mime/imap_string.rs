//! Writing IMAP `string` / `nstring` values (rfc3501 9: `string = quoted / literal`).
//!
//! Rule: a value is sent as a quoted string when every byte is a 7-bit
//! `TEXT-CHAR` (no CR, LF, NUL, no 8-bit), escaping `"` and `\` as the
//! grammar allows (`QUOTED-CHAR = ... / "\" quoted-specials`). Anything else
//! (CR/LF, 8-bit UTF-8 in raw headers) becomes a synchronizing literal
//! `{n}\r\n<bytes>`. NUL is not a `CHAR8` (rfc3501 9), so NUL bytes are
//! dropped from values written here.

/// Appends `v` as an IMAP `string`.
pub fn write_string(out: &mut Vec<u8>, v: &[u8]) {
    let needs_literal = v.iter().any(|&b| b == b'\r' || b == b'\n' || b >= 0x80);
    if needs_literal {
        let nuls = v.iter().filter(|&&b| b == 0).count();
        out.push(b'{');
        out.extend_from_slice((v.len() - nuls).to_string().as_bytes());
        out.extend_from_slice(b"}\r\n");
        out.extend(v.iter().copied().filter(|&b| b != 0));
    } else {
        out.push(b'"');
        for &b in v {
            match b {
                0 => {}
                b'"' | b'\\' => {
                    out.push(b'\\');
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
        out.push(b'"');
    }
}

/// Appends `v` as an IMAP `nstring` (`NIL` for `None`).
pub fn write_nstring(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(v) => write_string(out, v),
        None => out.extend_from_slice(b"NIL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> String {
        let mut out = Vec::new();
        write_string(&mut out, v);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(s(b"abc"), "\"abc\"");
        assert_eq!(s(b""), "\"\"");
        assert_eq!(s(b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(s(b"a\r\nb"), "{4}\r\na\r\nb");
        assert_eq!(s("é".as_bytes()), "{2}\r\né");
        assert_eq!(s(b"a\0b"), "\"ab\"");
        let mut out = Vec::new();
        write_nstring(&mut out, None);
        assert_eq!(out, b"NIL");
    }
}
