//! CATENATE (rfc4469): an APPEND whose message is made of literals and of
//! messages or message parts already in the user's mailboxes, named by
//! IMAP URLs (rfc5092) relative to this session.
//!
//! ```text
//! append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"  ; rfc4469 5
//! cat-part    = text-literal / url / utf8-literal               ; rfc6855 4
//! text-literal = "TEXT" SP literal
//! url         = "URL" SP astring
//! ```
//!
//! The URLs taken are rfc4469 3's: a path from the server's root,
//! `/<mailbox>[;UIDVALIDITY=<n>]/;UID=<n>[/;SECTION=<section>][/;PARTIAL=<o>[.<l>]]`
//! (rfc5092 imessagepart; keywords in any case; the mailbox name in UTF-8,
//! %-encoded, and if no mailbox has that name, read as the modified UTF-7
//! that RFC 2192's clients %-encode), and, with a mailbox selected, `;UID=<n>...`
//! relative to it. A URL's data is what `FETCH BODY.PEEK[<section>]<partial>`
//! returns (\Seen is not set); a URL with a scheme or server, URLAUTH, a
//! UIDVALIDITY that does not match, a UID that is not there or a part that
//! does not exist fails the APPEND with `[BADURL <url>]`, and a message
//! over the APPEND limit with `[TOOBIG]` (rfc4469 4), before anything is
//! stored.

use super::append::utf8_literal;
use super::fetch::clip;
use super::fetch_items::{Partial, parse_section};
use super::mailbox_arg::decode_wire;
use crate::mime::part::{parse_tree, whole_body};
use crate::mime::section::{Section, fetch_section};
use crate::session::Session;
use crate::store::{Mailbox, MailboxName, MessageRecord};
use crate::wire::parser::{Parser, SyntaxError};

/// One `cat-part`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT` (or `UTF8 (...)`) literal octets.
    Text(Vec<u8>),
    /// A `URL`, as the client sent it.
    Url(String),
}

/// Why the parts make no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatError {
    /// rfc4469 4.1: the first URL that failed.
    BadUrl(String),
    /// rfc4469 4.2: over the APPEND limit.
    TooBig,
}

impl CatError {
    /// The tagged NO's text.
    pub fn reply(&self) -> String {
        match self {
            // rfc4469 5 url-resp-text: any TEXT-CHAR but "]".
            CatError::BadUrl(url) => {
                let url: String = url
                    .chars()
                    .filter(|&c| c != ']' && c != '\r' && c != '\n' && c != '\0')
                    .collect();
                format!("NO [BADURL {url}] URL does not name a message or part you can read")
            }
            CatError::TooBig => "NO [TOOBIG] Message too large".to_string(),
        }
    }
}

/// `"(" cat-part *(SP cat-part) ")"`, after `CATENATE SP`; whether a
/// part was a `utf8-literal`.
pub fn parse_parts(args: &mut Parser) -> Result<(Vec<CatPart>, bool), SyntaxError> {
    if !args.eat(b'(') {
        return Err(SyntaxError::Invalid("Missing open parenthesis in CATENATE"));
    }
    let mut parts = Vec::new();
    let mut utf8 = false;
    loop {
        let word = args.word().to_ascii_uppercase();
        args.sp()?;
        let part = match word.as_slice() {
            b"TEXT" => match args.peek() {
                Some(b'~') => CatPart::Text(args.string8()?),
                Some(b'{') => CatPart::Text(args.string()?),
                _ => return Err(SyntaxError::Invalid("CATENATE TEXT needs a literal")),
            },
            b"UTF8" => {
                utf8 = true;
                CatPart::Text(utf8_literal(args)?)
            }
            b"URL" => CatPart::Url(String::from_utf8_lossy(&args.astring()?).into_owned()),
            _ => return Err(SyntaxError::Invalid("Invalid CATENATE part")),
        };
        parts.push(part);
        if args.eat(b')') {
            return Ok((parts, utf8));
        }
        args.sp()?;
    }
}

/// The message `parts` make, each URL read as `FETCH BODY.PEEK[...]`
/// would; at most `limit` octets.
pub fn catenate(session: &mut Session, parts: &[CatPart], limit: u64) -> Result<Vec<u8>, CatError> {
    let mut out = Vec::new();
    for part in parts {
        let room = |out: &Vec<u8>, n: usize| {
            if out.len() as u64 + n as u64 > limit {
                Err(CatError::TooBig)
            } else {
                Ok(())
            }
        };
        match part {
            CatPart::Text(data) => {
                room(&out, data.len())?;
                out.extend_from_slice(data);
            }
            CatPart::Url(url) => {
                let bad = || CatError::BadUrl(url.clone());
                let parsed = MessageUrl::parse(url).ok_or_else(bad)?;
                let raw = parsed.read(session).ok_or_else(bad)?;
                let data = parsed.data(&raw).ok_or_else(bad)?;
                room(&out, data.len())?;
                out.extend_from_slice(&data);
            }
        }
    }
    Ok(out)
}

/// rfc5092 imessagepart, as this session resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MessageUrl {
    /// The mailbox name as written (%-decoded); `None`: the selected one.
    mailbox: Option<String>,
    uidvalidity: Option<u32>,
    uid: u32,
    section: Section,
    partial: Option<Partial>,
}

impl MessageUrl {
    fn parse(url: &str) -> Option<MessageUrl> {
        let lower = url.to_ascii_lowercase();
        let (mailbox, uidvalidity, rest) =
            if let Some(path) = url.strip_prefix('/').filter(|p| !p.starts_with('/')) {
                // The mailbox may hold "/" (a hierarchy): it ends where the
                // UID does.
                let at = lower.find("/;uid=")?;
                let named = &path[..at.checked_sub(1)?];
                let (named, uidvalidity) = match named.to_ascii_lowercase().find(";uidvalidity=") {
                    Some(i) => (&named[..i], Some(nz_number(&named[i + 13..])?)),
                    None => (named, None),
                };
                let named = String::from_utf8(percent_decode(named)?).ok()?;
                if named.is_empty() {
                    return None;
                }
                (Some(named), uidvalidity, &url[at + 1..])
            } else if lower.starts_with(";uid=") {
                (None, None, url)
            } else {
                // A scheme, a server, or a path relative to something else.
                return None;
            };
        // rest: ";UID=n" ["/;SECTION=s"] ["/;PARTIAL=o[.l]"]
        let mut fields = rest.split("/;");
        let uid = nz_number(strip_key(fields.next()?.strip_prefix(';')?, "uid=")?)?;
        let mut section = Section::default();
        let mut partial = None;
        let mut next = fields.next();
        if let Some(s) = next.and_then(|f| strip_key(f, "section=")) {
            let text = String::from_utf8(percent_decode(s)?).ok()?;
            let spec = format!("[{text}]");
            let mut p = Parser::new(spec.as_bytes());
            section = parse_section(&mut p, "URL").ok()?;
            p.finish().ok()?;
            next = fields.next();
        }
        if let Some(p) = next.and_then(|f| strip_key(f, "partial=")) {
            let (origin, count) = match p.split_once('.') {
                Some((o, l)) => (number(o)?, nz_number(l)?),
                None => (number(p)?, u32::MAX),
            };
            partial = Some(Partial { origin, count });
            next = fields.next();
        }
        // Anything else (URLAUTH, unknown parts): not a URL we take.
        if next.is_some() {
            return None;
        }
        Some(MessageUrl {
            mailbox,
            uidvalidity,
            uid,
            section,
            partial,
        })
    }

    /// The whole message the URL names, read without setting \Seen: in
    /// a mailbox the user may read (rfc4469 5; rfc4314 `r`), their own or
    /// one another user shares with them.
    fn read(&self, session: &mut Session) -> Option<Vec<u8>> {
        let wire = session.wire();
        let utf8 = wire.utf8;
        let mut names = Vec::new();
        if let Some(written) = &self.mailbox {
            let utf8_name = wire
                .take(written)
                .ok()
                .and_then(|n| wire.take(&n).ok())
                .and_then(|n| MailboxName::new(&n).ok());
            // RFC 2192's form: modified UTF-7, %-encoded.
            let mutf7_name = (!utf8)
                .then(|| decode_wire(written.as_bytes(), false).ok())
                .flatten()
                .and_then(|n| wire.take(&n).ok())
                .and_then(|n| MailboxName::new(&n).ok());
            for name in [utf8_name, mutf7_name].into_iter().flatten() {
                let readable = crate::access::rights(session, &name)
                    .is_ok_and(|r| r.contains(crate::store::acl::Rights::READ));
                if readable {
                    names.push(name);
                }
            }
            if names.is_empty() {
                return None;
            }
        }
        let (store, selected) = match names.first() {
            Some(name) => session.store_and_selected_for(name).ok()?,
            None => session.store_and_selected().ok()?,
        };
        let selected = selected.map(|s| &s.mailbox);
        let opened;
        let mailbox: &Mailbox = match &self.mailbox {
            None => selected?,
            Some(_) => {
                // The first name that is a mailbox; the selected one
                // through this session's view of it.
                let mut chosen = None;
                for name in &names {
                    if let Some(m) = selected.filter(|m| m.name() == name) {
                        chosen = Some(m);
                        break;
                    }
                    if let Ok(m) = store.examine(name) {
                        opened = m;
                        chosen = Some(&opened);
                        break;
                    }
                }
                chosen?
            }
        };
        if self
            .uidvalidity
            .is_some_and(|v| v != mailbox.uid_validity())
        {
            return None;
        }
        let records = mailbox.records();
        let at = records
            .binary_search_by_key(&self.uid, |r: &MessageRecord| r.uid)
            .ok()?;
        mailbox.read_message(&records[at]).ok()
    }

    /// The octets of the section (and partial) in `raw`.
    fn data(&self, raw: &[u8]) -> Option<Vec<u8>> {
        let root = if self.section.parts.is_empty() {
            whole_body(raw)
        } else {
            parse_tree(raw)
        };
        let data = fetch_section(raw, &root, &self.section).ok()?;
        Some(clip(data.bytes(raw), self.partial).to_vec())
    }
}

/// `field` without its `key` (compared without case), if it starts so.
fn strip_key<'a>(field: &'a str, key: &str) -> Option<&'a str> {
    let head = field.get(..key.len())?;
    head.eq_ignore_ascii_case(key).then(|| &field[key.len()..])
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn nz_number(s: &str) -> Option<u32> {
    number(s).filter(|&n| n > 0 && !s.starts_with('0'))
}

/// rfc3986 2.1 percent-decoding; `None` for a broken escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::section::SectionText;

    #[test]
    fn urls() {
        let u = MessageUrl::parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Drafts"));
        assert_eq!(u.uidvalidity, Some(385759045));
        assert_eq!(u.uid, 20);
        assert_eq!(u.section.parts, [1]);
        assert_eq!(u.section.text, Some(SectionText::Mime));
        let u = MessageUrl::parse(
            "/INBOX/;uid=7/;Section=HEADER.FIELDS%20(SUBJECT%20FROM)/;partial=2.10",
        )
        .unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        assert_eq!(u.uidvalidity, None);
        assert_eq!(
            u.section.text,
            Some(SectionText::HeaderFields {
                names: vec!["SUBJECT".into(), "FROM".into()],
                not: false
            })
        );
        assert_eq!(
            u.partial,
            Some(Partial {
                origin: 2,
                count: 10
            })
        );
        let u = MessageUrl::parse("/Archiv/Entw%C3%BCrfe/;UID=3").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Archiv/Entwürfe"));
        let u = MessageUrl::parse(";UID=3/;SECTION=TEXT").unwrap();
        assert_eq!(u.mailbox, None);
        assert_eq!(u.section.text, Some(SectionText::Text));
        for bad in [
            "imap://joe@example.com/INBOX/;UID=1",
            "//example.com/INBOX/;UID=1",
            "INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=01",
            "/INBOX/;UID=x",
            "/INBOX/;UID=4294967296",
            "/INBOX;UIDVALIDITY=0/;UID=1",
            "/;UID=1",
            "/INBOX/;UID=1/;SECTION=1.X",
            "/INBOX/;UID=1/;SECTION=%zz",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/INBOX/;UID=1/;URLAUTH=anonymous",
            "/INBOX/;UID=1/;EXPIRE=2030-01-01T00:00:00Z",
            "/IN%BOX/;UID=1",
            "",
        ] {
            assert_eq!(MessageUrl::parse(bad), None, "{bad}");
        }
    }

    /// rfc4469 Appendix A's first example on our fixtures: a message made
    /// of another's header and first part with new boundaries, APPENDUID,
    /// no \Seen on the source; the relative and PARTIAL forms; and every
    /// failure refusing the whole APPEND.
    #[test]
    fn appends_what_the_urls_name() {
        use crate::commands::message_testing::{MULTIPART, PLAIN, command, selected_with};
        let (mut s, _dir) = selected_with(&[PLAIN, MULTIPART], false);
        let v = s.selected().unwrap().mailbox.uid_validity();
        assert!(command(&mut s, "c CREATE Drafts").starts_with("c OK"));
        let drafts = MailboxName::new("Drafts").unwrap();
        let stored = |s: &mut Session| -> Vec<Vec<u8>> {
            let m = s.mail_store().unwrap().examine(&drafts).unwrap();
            m.records()
                .iter()
                .map(|r| m.read_message(r).unwrap())
                .collect()
        };
        let dv = s
            .mail_store()
            .unwrap()
            .examine(&drafts)
            .unwrap()
            .uid_validity();
        let sep = "\r\n--new\r\n";
        let end = "\r\n--new--\r\n";
        let line = format!(
            "a APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/INBOX;UIDVALIDITY={v}/;UID=2/;section=HEADER\" \
             TEXT {{{}+}}\r\n{sep} URL \"/INBOX/;UID=2/;section=1.MIME\" URL \"/INBOX/;Uid=2/;Section=1\" TEXT {{{}+}}\r\n{end})",
            sep.len(),
            end.len()
        );
        assert_eq!(
            command(&mut s, &line),
            format!("a OK [APPENDUID {dv} 1] Completed\r\n")
        );
        let header_end = MULTIPART.find("\r\n\r\n").unwrap() + 4;
        let mime = "Content-Type: text/plain; charset=utf-8\r\n\r\n";
        let want = format!(
            "{}{sep}{mime}Lunch at the caf\u{e9} on Friday.{end}",
            &MULTIPART[..header_end]
        );
        assert_eq!(stored(&mut s), [want.as_bytes()]);
        // The source was only read.
        assert_eq!(
            command(&mut s, "f FETCH 2 FLAGS"),
            "* 2 FETCH (FLAGS (\\Recent))\r\nf OK Completed\r\n"
        );
        // Relative to the selected mailbox, and PARTIAL.
        assert_eq!(
            command(
                &mut s,
                "b APPEND Drafts CATENATE (URL \";UID=1/;PARTIAL=0.5\" URL \";UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)\")"
            ),
            format!("b OK [APPENDUID {dv} 2] Completed\r\n")
        );
        assert_eq!(
            stored(&mut s)[1],
            b"Date:Subject: IMAP4rev1 WG mtg summary and minutes\r\n\r\n"
        );
        // Failures: nothing is stored, MULTIAPPEND's good message neither.
        let good = format!("TEXT {{{}+}}\r\n{PLAIN}", PLAIN.len());
        for (url, why) in [
            ("/INBOX/;UID=99", "no such UID"),
            (
                &format!("/INBOX;UIDVALIDITY={}/;UID=1", v + 1) as &str,
                "another UIDVALIDITY",
            ),
            ("/INBOX/;UID=2/;SECTION=9", "no such part"),
            ("/Nowhere/;UID=1", "no such mailbox"),
            ("imap://user@localhost/INBOX/;UID=1", "absolute"),
            ("/INBOX/;UID=1/;URLAUTH=anonymous", "URLAUTH"),
        ] {
            let line = format!(
                "x APPEND Drafts CATENATE ({good}) CATENATE (URL \"/INBOX/;UID=1\" URL \"{url}\")"
            );
            assert_eq!(
                command(&mut s, &line),
                format!("x NO [BADURL {url}] URL does not name a message or part you can read\r\n"),
                "{why}"
            );
            assert_eq!(stored(&mut s).len(), 2, "{why}");
        }
        // Syntax.
        for bad in [
            "CATENATE ()",
            "CATENATE (FOO \"x\")",
            "CATENATE (TEXT \"x\")",
            "CATENATE URL \"/INBOX/;UID=1\"",
        ] {
            let reply = command(&mut s, &format!("y APPEND Drafts {bad}"));
            assert!(reply.starts_with("y BAD "), "{bad}: {reply}");
        }
        // A UTF8 part needs UTF8=ACCEPT enabled (rfc6855 4).
        assert!(
            command(&mut s, "u APPEND Drafts CATENATE (UTF8 (~{2+}\r\nhi))")
                .starts_with("u NO [CANNOT]")
        );
        // Over the limit.
        let parts = [CatPart::Url("/INBOX/;UID=1".into())];
        assert_eq!(catenate(&mut s, &parts, 10), Err(CatError::TooBig));
        assert_eq!(
            catenate(&mut s, &parts, PLAIN.len() as u64).unwrap(),
            PLAIN.as_bytes()
        );
        // A hierarchy, a name in UTF-8 (%-encoded) or in modified UTF-7.
        assert!(command(&mut s, "c CREATE Archiv/Entw&APw-rfe").starts_with("c OK"));
        assert!(command(&mut s, "c COPY 1 Archiv/Entw&APw-rfe").contains("c OK [COPYUID"));
        for url in [
            "/Archiv/Entw%C3%BCrfe/;UID=1",
            "/Archiv/Entw&APw-rfe/;UID=1",
        ] {
            let reply = command(&mut s, &format!("d APPEND Drafts CATENATE (URL \"{url}\")"));
            assert!(reply.starts_with("d OK [APPENDUID"), "{url}: {reply}");
        }
        assert_eq!(stored(&mut s)[3], PLAIN.as_bytes());
        // Not selected: nothing to be relative to.
        command(&mut s, "z UNSELECT");
        assert!(
            command(&mut s, "e APPEND Drafts CATENATE (URL \";UID=1\")")
                .starts_with("e NO [BADURL ;UID=1]")
        );
        assert!(
            command(&mut s, "e APPEND Drafts CATENATE (URL \"/INBOX/;UID=1\")")
                .starts_with("e OK [APPENDUID")
        );
    }

    #[test]
    fn badurl_text_stays_in_the_grammar() {
        let e = CatError::BadUrl("/a]b\r\n/;UID=1".into());
        assert_eq!(
            e.reply(),
            "NO [BADURL /ab/;UID=1] URL does not name a message or part you can read"
        );
    }
}
