//! rfc5322 3.4 address lists, parsed from the raw header value for the
//! ENVELOPE address structure (rfc3501 7.4.2). Encoded words (rfc2047) are
//! kept raw, as Cyrus and Dovecot send them; clients decode them.

use super::imap_string::write_nstring;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// atom or dot-atom piece
    Atom(Vec<u8>),
    /// quoted-string content, unescaped
    Quoted(Vec<u8>),
    /// `[...]` domain literal, brackets included
    Literal(Vec<u8>),
    Comment(Vec<u8>),
    Special(u8),
}

/// A token and whether whitespace or a comment preceded it.
type Spaced = (Tok, bool);

fn tokenize(v: &[u8]) -> Vec<Spaced> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut space = false;
    while i < v.len() {
        let b = v[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                space = true;
                i += 1;
            }
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while i < v.len() {
                    match v[i] {
                        b'\\' if i + 1 < v.len() => {
                            text.push(v[i + 1]);
                            i += 1;
                        }
                        b'(' => {
                            if depth > 0 {
                                text.push(b'(');
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                            text.push(b')');
                        }
                        c => text.push(c),
                    }
                    i += 1;
                }
                out.push((Tok::Comment(text), space));
                space = true;
            }
            b'"' => {
                let mut text = Vec::new();
                i += 1;
                while i < v.len() && v[i] != b'"' {
                    if v[i] == b'\\' && i + 1 < v.len() {
                        i += 1;
                    }
                    if v[i] != b'\r' && v[i] != b'\n' {
                        text.push(v[i]);
                    }
                    i += 1;
                }
                i += 1;
                out.push((Tok::Quoted(text), space));
                space = false;
            }
            b'[' => {
                let start = i;
                while i < v.len() && v[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(v.len());
                out.push((Tok::Literal(v[start..i].to_vec()), space));
                space = false;
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' | b'.' | b')' | b']' | b'\\' => {
                out.push((Tok::Special(b), space));
                space = false;
                i += 1;
            }
            _ => {
                let start = i;
                while i < v.len()
                    && !matches!(
                        v[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'('
                            | b')'
                            | b'"'
                            | b'['
                            | b']'
                            | b'<'
                            | b'>'
                            | b'@'
                            | b','
                            | b';'
                            | b':'
                            | b'.'
                            | b'\\'
                    )
                {
                    i += 1;
                }
                out.push((Tok::Atom(v[start..i].to_vec()), space));
                space = false;
            }
        }
    }
    out
}

/// One element of an ENVELOPE address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressItem {
    Mailbox {
        name: Option<Vec<u8>>,
        route: Option<Vec<u8>>,
        mailbox: Vec<u8>,
        host: Vec<u8>,
    },
    /// rfc3501 7.4.2: `(NIL NIL "group" NIL)` starts a group...
    GroupStart(Vec<u8>),
    /// ...and `(NIL NIL NIL NIL)` ends it.
    GroupEnd,
}

/// Host used when an address has no `@domain` (as Cyrus does: host NIL
/// would mean group syntax in rfc3501 7.4.2).
pub const MISSING_DOMAIN: &[u8] = b"unspecified-domain";

/// Display-name phrase: words joined by one space where the source had blanks.
fn phrase(toks: &[Spaced]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (tok, space) in toks {
        let text: &[u8] = match tok {
            Tok::Atom(a) | Tok::Quoted(a) | Tok::Literal(a) => a,
            Tok::Special(c) => std::slice::from_ref(c),
            Tok::Comment(_) => continue,
        };
        if *space && !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(text);
    }
    if out.is_empty() { None } else { Some(out) }
}

fn last_comment(toks: &[Spaced]) -> Option<Vec<u8>> {
    toks.iter().rev().find_map(|(t, _)| match t {
        Tok::Comment(c) if !c.is_empty() => Some(super::header::trim(c).to_vec()),
        _ => None,
    })
}

/// Joins addr-spec tokens without spaces; quoted local parts keep their quotes.
fn join_spec(toks: &[Spaced]) -> Vec<u8> {
    let mut out = Vec::new();
    for (tok, _) in toks {
        match tok {
            Tok::Atom(a) | Tok::Literal(a) => out.extend_from_slice(a),
            Tok::Quoted(q) => {
                out.push(b'"');
                for &b in q {
                    if b == b'"' || b == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
                out.push(b'"');
            }
            Tok::Special(c) => out.push(*c),
            Tok::Comment(_) => {}
        }
    }
    out
}

fn addr_spec(toks: &[Spaced], name: Option<Vec<u8>>, route: Option<Vec<u8>>) -> AddressItem {
    let at = toks.iter().rposition(|(t, _)| *t == Tok::Special(b'@'));
    let (mailbox, host) = match at {
        Some(at) => {
            let host = join_spec(&toks[at + 1..]);
            (
                join_spec(&toks[..at]),
                if host.is_empty() {
                    MISSING_DOMAIN.to_vec()
                } else {
                    host
                },
            )
        }
        None => (join_spec(toks), MISSING_DOMAIN.to_vec()),
    };
    AddressItem::Mailbox {
        name,
        route,
        mailbox,
        host,
    }
}

/// Parses a raw (possibly folded) address-list header value.
pub fn parse_address_list(raw: &[u8]) -> Vec<AddressItem> {
    let toks = tokenize(raw);
    let mut items = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < toks.len() {
        // gather up to a delimiter
        let start = i;
        while i < toks.len()
            && !matches!(
                toks[i].0,
                Tok::Special(b'<') | Tok::Special(b',') | Tok::Special(b';')
            )
            && (toks[i].0 != Tok::Special(b':') || in_group)
        {
            i += 1;
        }
        let gathered = &toks[start..i];
        let stop = toks.get(i).map(|t| t.0.clone());
        match stop {
            Some(Tok::Special(b':')) => {
                let name = phrase(gathered).unwrap_or_default();
                items.push(AddressItem::GroupStart(name));
                in_group = true;
                i += 1;
            }
            Some(Tok::Special(b'<')) => {
                let name = phrase(gathered);
                i += 1;
                let inner_start = i;
                while i < toks.len() && toks[i].0 != Tok::Special(b'>') {
                    i += 1;
                }
                let mut inner = &toks[inner_start..i];
                i = (i + 1).min(toks.len());
                // obs-route: "@a,@b:" before the addr-spec (rfc5322 4.4)
                let mut route = None;
                if inner.first().map(|t| &t.0) == Some(&Tok::Special(b'@'))
                    && let Some(colon) = inner.iter().position(|t| t.0 == Tok::Special(b':'))
                {
                    route = Some(join_spec(&inner[..colon]));
                    inner = &inner[colon + 1..];
                }
                let name = name.or_else(|| last_comment(inner));
                if inner.iter().any(|t| !matches!(t.0, Tok::Comment(_))) {
                    items.push(addr_spec(inner, name, route));
                } else {
                    // `<>` (null reverse path): keep a placeholder, not group syntax
                    items.push(AddressItem::Mailbox {
                        name,
                        route,
                        mailbox: Vec::new(),
                        host: Vec::new(),
                    });
                }
                // skip junk up to the next delimiter
                while i < toks.len()
                    && !matches!(toks[i].0, Tok::Special(b',') | Tok::Special(b';'))
                {
                    i += 1;
                }
            }
            _ => {
                let meaningful = gathered.iter().any(|t| !matches!(t.0, Tok::Comment(_)));
                if meaningful {
                    let spec: Vec<Spaced> = gathered
                        .iter()
                        .filter(|t| !matches!(t.0, Tok::Comment(_)))
                        .cloned()
                        .collect();
                    items.push(addr_spec(&spec, last_comment(gathered), None));
                }
                if let Some(Tok::Special(b';')) = stop
                    && in_group
                {
                    items.push(AddressItem::GroupEnd);
                    in_group = false;
                }
                i += 1;
            }
        }
    }
    if in_group {
        items.push(AddressItem::GroupEnd);
    }
    items
}

/// Writes an ENVELOPE address list: `(addr...)` or `NIL` (rfc3501 9 `env-from` etc).
pub fn write_address_list(out: &mut Vec<u8>, items: &[AddressItem]) {
    if items.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for item in items {
        out.push(b'(');
        match item {
            AddressItem::Mailbox {
                name,
                route,
                mailbox,
                host,
            } => {
                write_nstring(out, name.as_deref());
                out.push(b' ');
                write_nstring(out, route.as_deref());
                out.push(b' ');
                write_nstring(out, Some(mailbox));
                out.push(b' ');
                write_nstring(out, Some(host));
            }
            AddressItem::GroupStart(name) => {
                out.extend_from_slice(b"NIL NIL ");
                write_nstring(out, Some(name));
                out.extend_from_slice(b" NIL");
            }
            AddressItem::GroupEnd => out.extend_from_slice(b"NIL NIL NIL NIL"),
        }
        out.push(b')');
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(raw: &str) -> String {
        let mut out = Vec::new();
        write_address_list(&mut out, &parse_address_list(raw.as_bytes()));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn simple_forms() {
        assert_eq!(
            env("Terry Gray <gray@cac.washington.edu>"),
            r#"(("Terry Gray" NIL "gray" "cac.washington.edu"))"#
        );
        assert_eq!(env("a@b.c"), r#"((NIL NIL "a" "b.c"))"#);
        assert_eq!(env("a@b.c (Ann Other)"), r#"(("Ann Other" NIL "a" "b.c"))"#);
        assert_eq!(
            env(r#""Doe, John" <j.d@x.org>, b@y"#),
            r#"(("Doe, John" NIL "j.d" "x.org")(NIL NIL "b" "y"))"#
        );
        assert_eq!(
            env("=?utf-8?q?J=C3=B6rg?= <j@x>"),
            r#"(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x"))"#
        );
        assert_eq!(env(""), "NIL");
        assert_eq!(env(" , "), "NIL");
    }

    #[test]
    fn groups_routes_and_missing_domain() {
        assert_eq!(
            env("undisclosed-recipients:;"),
            r#"((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))"#
        );
        assert_eq!(
            env("Team: a@x, B <b@y>; c@z"),
            r#"((NIL NIL "Team" NIL)(NIL NIL "a" "x")("B" NIL "b" "y")(NIL NIL NIL NIL)(NIL NIL "c" "z"))"#
        );
        assert_eq!(env("<@r1,@r2:u@h>"), r#"((NIL "@r1,@r2" "u" "h"))"#);
        assert_eq!(env("root"), r#"((NIL NIL "root" "unspecified-domain"))"#);
    }
}
