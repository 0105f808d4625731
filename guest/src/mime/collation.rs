//! The i;unicode-casemap collation (rfc5051), which SEARCH, SORT and
//! THREAD compare strings with (rfc5256 7, rfc5255 4).
//!
//! rfc5051 2: each character is mapped to its titlecase (UnicodeData's
//! simple titlecase property), then fully decomposed (compatibility
//! decomposition, "effectively Normalization Form KD"); the results are
//! compared as octets of UTF-8. Rust's `char::to_uppercase` is the full
//! upper-case mapping (SpecialCasing: `ß` becomes `SS`), which differs
//! from the simple titlecase for a few characters; [`titlecase`] corrects
//! those, and the decomposition is `unicode-normalization`'s NFKD.

use unicode_normalization::char::decompose_compatible;

/// UnicodeData.txt's simple titlecase mapping of `c` (rfc5051 2 step 2a).
pub fn titlecase(c: char) -> char {
    let code = c as u32;
    match code {
        // The DŽ, LJ, NJ and DZ digraphs: their titlecase is the mixed
        // form (rfc5051's own example, U+01C4 -> U+01C5).
        0x01C4..=0x01C6 => '\u{01C5}',
        0x01C7..=0x01C9 => '\u{01C8}',
        0x01CA..=0x01CC => '\u{01CB}',
        0x01F1..=0x01F3 => '\u{01F2}',
        // Georgian Mkhedruli letters are their own titlecase (their upper
        // case is Mtavruli, since Unicode 11).
        0x10D0..=0x10FA | 0x10FD..=0x10FF => c,
        // Greek with ypogegrammeni: the titlecase is the prosgegrammeni
        // form (the full upper case is two letters).
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
            char::from_u32(code + 8).unwrap_or(c)
        }
        0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC => c,
        0x1FB3 => '\u{1FBC}',
        0x1FC3 => '\u{1FCC}',
        0x1FF3 => '\u{1FFC}',
        _ => {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                // A full mapping to several characters (ß, ŉ, ﬁ...): no
                // simple titlecase in UnicodeData, the character stays.
                _ => c,
            }
        }
    }
}

/// Appends the "titlecased canonicalized UTF-8" form of `s` (rfc5051 2)
/// to `out`.
pub fn casemap_into(s: &str, out: &mut String) {
    out.reserve(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_uppercase());
        } else {
            decompose_compatible(titlecase(c), |d| out.push(d));
        }
    }
}

/// The "titlecased canonicalized UTF-8" form of `s` (rfc5051 2).
pub fn casemap(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    casemap_into(s, &mut out);
    out
}

/// rfc5051's substring operation: `casemap(text)` contains `needle`
/// (already [`casemap`]ped). When `text` is ASCII and the needle has no
/// lower-case ASCII letter (which only decomposition, of `ﬁ` say, can
/// leave), ASCII case-insensitive matching is the same thing and nothing
/// is mapped.
pub fn casemap_contains(text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if text.is_ascii() && !needle.bytes().any(|b| b.is_ascii_lowercase()) {
        return super::search::contains_ascii_nocase(text.as_bytes(), needle.as_bytes());
    }
    memchr::memmem::find(casemap(text).as_bytes(), needle.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5051_example_and_scripts() {
        // rfc5051 2: U+01C4 becomes U+0044 U+007A U+030C.
        assert_eq!(casemap("\u{01C4}"), "Dz\u{030C}");
        assert_eq!(casemap("\u{01C6}"), casemap("\u{01C4}"));
        // Case and accents: é is E + COMBINING ACUTE ACCENT, so "café"
        // contains "CAFE" and equals "CAFÉ".
        assert_eq!(casemap("café"), "CAFE\u{301}");
        assert_eq!(casemap("café"), casemap("CAFÉ"));
        assert!(casemap_contains("Un café", &casemap("cafe")));
        assert_eq!(casemap("Straße"), "STRAßE");
        assert_eq!(casemap("ΣΊΣΥΦΟΣ"), casemap("σίσυφος"));
        assert_eq!(casemap("ПРИВЕТ"), casemap("привет"));
        assert_eq!(casemap("ǅ"), casemap("ǆ"));
        // Georgian stays; full-width letters decompose to ASCII.
        assert_eq!(casemap("ა"), "ა");
        assert_eq!(casemap("ＡＢｃ"), "ABC");
        // Kelvin sign and the dotted capital I.
        assert_eq!(casemap("\u{212A}"), "K");
        assert_eq!(casemap("İ"), "I\u{307}");
        assert_eq!(titlecase('ᾳ'), 'ᾼ');
    }

    #[test]
    fn contains_takes_the_ascii_path_only_when_it_is_the_same() {
        assert!(casemap_contains("Hello World", &casemap("o w")));
        assert!(!casemap_contains("Hello World", &casemap("ow")));
        // ﬁ maps to "fi" (lower case): no ASCII text holds it.
        assert!(!casemap_contains("FIFI fifi", &casemap("ﬁ")));
        assert!(casemap_contains("la ﬁn", &casemap("ﬁ")));
        assert!(casemap_contains("x", ""));
    }

    #[test]
    fn order_is_octets_of_the_mapped_form() {
        // Upper-casing puts `_` after the letters, as i;ascii-casemap
        // does too.
        assert!(casemap("a") < casemap("_"));
        assert!(casemap("") < casemap("a"));
        assert!(casemap("Émile") < casemap("F"));
    }
}
