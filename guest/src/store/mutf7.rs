//! Modified UTF-7 mailbox names (rfc3501 5.1.3), the wire form; the store
//! works with UTF-8.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidMutf7(pub &'static str);

impl std::fmt::Display for InvalidMutf7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid modified UTF-7 mailbox name: {}", self.0)
    }
}
impl std::error::Error for InvalidMutf7 {}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// UTF-8 → modified UTF-7.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u16>| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        let mut acc = 0u32;
        let mut bits = 0;
        for b in bytes {
            acc = (acc << 8) | b as u32;
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
        }
        out.push('-');
        pending.clear();
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

/// Modified UTF-7 → UTF-8, strictly: rejects 8-bit and control characters,
/// unterminated or empty-but-not-`&-` shifts, non-zero padding bits,
/// encoded printable ASCII, adjacent encoded runs and bad UTF-16.
pub fn decode(s: &str) -> Result<String, InvalidMutf7> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last_was_encoded = false;
    while i < b.len() {
        let c = b[i];
        if !(0x20..=0x7e).contains(&c) {
            return Err(InvalidMutf7("character outside printable US-ASCII"));
        }
        if c != b'&' {
            out.push(c as char);
            i += 1;
            last_was_encoded = false;
            continue;
        }
        let end = b[i + 1..]
            .iter()
            .position(|&x| x == b'-')
            .map(|p| i + 1 + p)
            .ok_or(InvalidMutf7("unterminated &-sequence"))?;
        let run = &b[i + 1..end];
        i = end + 1;
        if run.is_empty() {
            out.push('&');
            last_was_encoded = false;
            continue;
        }
        if last_was_encoded {
            return Err(InvalidMutf7("adjacent encoded sequences"));
        }
        let mut acc = 0u32;
        let mut bits = 0;
        let mut units = Vec::new();
        for &x in run {
            let v = ALPHABET
                .iter()
                .position(|&a| a == x)
                .ok_or(InvalidMutf7("character outside modified base64"))?
                as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push(((acc >> bits) & 0xffff) as u16);
            }
        }
        if bits >= 6 || (acc & ((1 << bits) - 1)) != 0 {
            return Err(InvalidMutf7("bad padding"));
        }
        if units.is_empty() {
            return Err(InvalidMutf7("empty encoded sequence"));
        }
        let text = String::from_utf16(&units).map_err(|_| InvalidMutf7("bad UTF-16"))?;
        if text.chars().any(|c| (' '..='~').contains(&c)) {
            return Err(InvalidMutf7("printable ASCII must not be encoded"));
        }
        out.push_str(&text);
        last_was_encoded = true;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_examples_round_trip() {
        // rfc3501 5.1.3
        let utf8 = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(encode(utf8), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(), utf8);
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(decode("A&-B").unwrap(), "A&B");
        for s in ["Entw\u{fc}rfe", "\u{1F600} smile", "a\u{e9}&\u{e8}z", ""] {
            assert_eq!(decode(&encode(s)).unwrap(), s);
        }
    }

    #[test]
    fn strict_rejections() {
        for bad in [
            "&",
            "&U,BTFw",
            "&AGE-",
            "&U,BTFw-&ZeVnLIqe-",
            "a\u{e9}",
            "&ZeVnLIq-",
            "&2D0-",
            "&Jjo!-",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
