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

/// rfc6855 8: a session that has not enabled UTF-8 gets header
/// information as rfc3501 and rfc5322 have it, 7-bit. `data` is an
/// ENVELOPE or BODYSTRUCTURE as [`write_string`] rendered it: every
/// string with 8-bit bytes becomes rfc2047 encoded words in UTF-8 (the
/// charset rfc6532 gives 8-bit header fields; bytes that are not UTF-8
/// become U+FFFD), sent as a quoted string. Strings without 8-bit bytes,
/// and all of `data` when it has none (the common case), are unchanged.
pub fn downgrade_strings(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if data.is_ascii() {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'"' => {
                let (value, end) = read_quoted(data, i);
                write_downgraded(&mut out, &value, &data[i..end]);
                i = end;
            }
            b'{' => match read_literal(data, i) {
                Some((value, end)) => {
                    write_downgraded(&mut out, value, &data[i..end]);
                    i = end;
                }
                None => {
                    out.push(b'{');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The value of the quoted string opening at `data[start]`, and the index
/// after its closing quote (the end of `data` if it has none).
fn read_quoted(data: &[u8], start: usize) -> (Vec<u8>, usize) {
    let mut value = Vec::new();
    let mut i = start + 1;
    while i < data.len() {
        match data[i] {
            b'"' => return (value, i + 1),
            b'\\' if i + 1 < data.len() => {
                value.push(data[i + 1]);
                i += 2;
            }
            b => {
                value.push(b);
                i += 1;
            }
        }
    }
    (value, i)
}

/// The value of the literal `{n}\r\n...` opening at `data[start]`, and the
/// index after it.
fn read_literal(data: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = &data[start + 1..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let n: usize = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let body = start + 1 + digits;
    if data.get(body..body + 3)? != b"}\r\n" {
        return None;
    }
    let end = (body + 3).checked_add(n)?;
    Some((data.get(body + 3..end)?, end))
}

/// `value` as encoded words if it has 8-bit bytes, otherwise `original`,
/// the string as it was written.
fn write_downgraded(out: &mut Vec<u8>, value: &[u8], original: &[u8]) {
    if value.is_ascii() {
        out.extend_from_slice(original);
        return;
    }
    let text = String::from_utf8_lossy(value);
    out.push(b'"');
    out.extend_from_slice(encoded_words(&text).as_bytes());
    out.push(b'"');
}

/// rfc2047 2: `=?UTF-8?B?...?=` words of at most 75 characters, split
/// between characters (rfc2047 5 (3)), separated by a space, which
/// rfc2047 6.2 has decoders drop between adjacent encoded words. Line
/// breaks in `text` (folded headers) become spaces.
pub fn encoded_words(text: &str) -> String {
    // 75 - len("=?UTF-8?B??=") = 63 base64 characters: 45 bytes.
    const MAX_BYTES: usize = 45;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        let c = if c == '\r' || c == '\n' { ' ' } else { c };
        if chunk.len() + c.len_utf8() > MAX_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", crate::wire::base64::encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join(" ")
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

    #[test]
    fn downgrade_to_encoded_words() {
        let ascii = b"(\"a\" NIL (\"b\\\"c\" {3}\r\nx\ny))";
        assert!(matches!(
            downgrade_strings(ascii),
            std::borrow::Cow::Borrowed(_)
        ));
        let mut env = b"(\"Mon\" ".to_vec();
        write_string(&mut env, "Grüße".as_bytes());
        env.extend_from_slice(b" ((");
        write_string(&mut env, "Jürgen \"J\"".as_bytes());
        env.extend_from_slice(b" NIL \"j\" \"x.de\")) {2}\r\n\r\n)");
        assert_eq!(
            String::from_utf8(downgrade_strings(&env).into_owned()).unwrap(),
            "(\"Mon\" \"=?UTF-8?B?R3LDvMOfZQ==?=\" \
             ((\"=?UTF-8?B?SsO8cmdlbiAiSiI=?=\" NIL \"j\" \"x.de\")) {2}\r\n\r\n)"
        );
        // Not UTF-8: U+FFFD.
        let mut latin1 = Vec::new();
        write_string(&mut latin1, b"caf\xe9");
        assert_eq!(
            downgrade_strings(&latin1).as_ref(),
            b"\"=?UTF-8?B?Y2Fm77+9?=\""
        );
        // Long values: several words of at most 75 characters, split
        // between characters, that decode back to the text.
        let long = "Ελληνικά ".repeat(12);
        let words = encoded_words(&long);
        let mut decoded = Vec::new();
        for word in words.split(' ') {
            assert!(word.len() <= 75, "{word}");
            let b64 = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            let bytes = crate::wire::base64::decode(b64.as_bytes()).unwrap();
            assert!(std::str::from_utf8(&bytes).is_ok());
            decoded.extend(bytes);
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), long);
    }
}
