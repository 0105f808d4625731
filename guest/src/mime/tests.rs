//! MIME layer tests: a validating reader for the rfc3501 9 `body` and
//! `envelope` productions run over the whole corpus, and known answers.

use super::section::{fetch_binary, fetch_section};
use super::*;

/// A strict reader for the rfc3501 9 grammar of ENVELOPE and BODY(STRUCTURE).
struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

type R<T> = Result<T, String>;

impl<'a> Reader<'a> {
    fn new(s: &'a [u8]) -> Self {
        Reader { s, i: 0 }
    }
    fn err<T>(&self, what: &str) -> R<T> {
        Err(format!(
            "expected {what} at {} in {:?}",
            self.i,
            String::from_utf8_lossy(
                &self.s[self.i.min(self.s.len())..(self.i + 40).min(self.s.len())]
            )
        ))
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> R<()> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("{:?}", b as char))
        }
    }
    fn sp(&mut self) -> R<()> {
        self.eat(b' ')
    }
    fn try_nil(&mut self) -> bool {
        if self.s[self.i..].starts_with(b"NIL") {
            self.i += 3;
            true
        } else {
            false
        }
    }
    fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                let mut v = Vec::new();
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(v);
                        }
                        Some(b'\\') => {
                            self.i += 1;
                            match self.peek() {
                                Some(c @ (b'"' | b'\\')) => {
                                    v.push(c);
                                    self.i += 1;
                                }
                                _ => return self.err("quoted-special"),
                            }
                        }
                        Some(c) if c != b'\r' && c != b'\n' && c != 0 && c < 0x80 => {
                            v.push(c);
                            self.i += 1;
                        }
                        _ => return self.err("QUOTED-CHAR"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let n = self.number()? as usize;
                self.eat(b'}')?;
                self.eat(b'\r')?;
                self.eat(b'\n')?;
                if self.i + n > self.s.len() {
                    return self.err("literal data");
                }
                let v = self.s[self.i..self.i + n].to_vec();
                if v.contains(&0) {
                    return self.err("CHAR8 (no NUL)");
                }
                self.i += n;
                Ok(v)
            }
            _ => self.err("string"),
        }
    }
    fn nstring(&mut self) -> R<Option<Vec<u8>>> {
        if self.try_nil() {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }
    fn number(&mut self) -> R<u64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if start == self.i {
            return self.err("number");
        }
        std::str::from_utf8(&self.s[start..self.i])
            .unwrap()
            .parse()
            .map_err(|_| "number overflow".to_string())
    }
    fn address_list(&mut self) -> R<()> {
        if self.try_nil() {
            return Ok(());
        }
        self.eat(b'(')?;
        let mut n = 0;
        while self.peek() == Some(b'(') {
            self.eat(b'(')?;
            self.nstring()?;
            self.sp()?;
            self.nstring()?;
            self.sp()?;
            self.nstring()?;
            self.sp()?;
            self.nstring()?;
            self.eat(b')')?;
            n += 1;
        }
        if n == 0 {
            return self.err("address");
        }
        self.eat(b')')
    }
    fn envelope(&mut self) -> R<()> {
        self.eat(b'(')?;
        self.nstring()?;
        self.sp()?;
        self.nstring()?;
        for _ in 0..6 {
            self.sp()?;
            self.address_list()?;
        }
        self.sp()?;
        self.nstring()?;
        self.sp()?;
        self.nstring()?;
        self.eat(b')')
    }
    fn params(&mut self) -> R<()> {
        if self.try_nil() {
            return Ok(());
        }
        self.eat(b'(')?;
        self.string()?;
        self.sp()?;
        self.string()?;
        while self.peek() == Some(b' ') {
            self.sp()?;
            self.string()?;
            self.sp()?;
            self.string()?;
        }
        self.eat(b')')
    }
    fn body_extension(&mut self) -> R<()> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                self.body_extension()?;
                while self.peek() == Some(b' ') {
                    self.sp()?;
                    self.body_extension()?;
                }
                self.eat(b')')
            }
            Some(c) if c.is_ascii_digit() => self.number().map(|_| ()),
            _ => self.nstring().map(|_| ()),
        }
    }
    /// [SP dsp [SP lang [SP loc *(SP body-extension)]]]
    fn dsp_lang_loc(&mut self) -> R<()> {
        if self.peek() != Some(b' ') {
            return Ok(());
        }
        self.sp()?;
        if !self.try_nil() {
            self.eat(b'(')?;
            self.string()?;
            self.sp()?;
            self.params()?;
            self.eat(b')')?;
        }
        if self.peek() != Some(b' ') {
            return Ok(());
        }
        self.sp()?;
        if self.peek() == Some(b'(') {
            self.i += 1;
            self.string()?;
            while self.peek() == Some(b' ') {
                self.sp()?;
                self.string()?;
            }
            self.eat(b')')?;
        } else {
            self.nstring()?;
        }
        if self.peek() != Some(b' ') {
            return Ok(());
        }
        self.sp()?;
        self.nstring()?;
        while self.peek() == Some(b' ') {
            self.sp()?;
            self.body_extension()?;
        }
        Ok(())
    }
    fn body(&mut self, depth: usize) -> R<()> {
        if depth > 200 {
            return self.err("shallower nesting");
        }
        self.eat(b'(')?;
        if self.peek() == Some(b'(') {
            while self.peek() == Some(b'(') {
                self.body(depth + 1)?;
            }
            self.sp()?;
            self.string()?; // media-subtype
            if self.peek() == Some(b' ') {
                self.sp()?;
                self.params()?;
                self.dsp_lang_loc()?;
            }
        } else {
            let main = self.string()?;
            self.sp()?;
            let sub = self.string()?;
            self.sp()?;
            self.params()?;
            self.sp()?;
            self.nstring()?;
            self.sp()?;
            self.nstring()?;
            self.sp()?;
            self.string()?;
            self.sp()?;
            self.number()?;
            let is_msg = main.eq_ignore_ascii_case(b"message")
                && (sub.eq_ignore_ascii_case(b"rfc822") || sub.eq_ignore_ascii_case(b"global"));
            if is_msg {
                self.sp()?;
                self.envelope()?;
                self.sp()?;
                self.body(depth + 1)?;
                self.sp()?;
                self.number()?;
            } else if main.eq_ignore_ascii_case(b"text") {
                self.sp()?;
                self.number()?;
            }
            if self.peek() == Some(b' ') {
                self.sp()?;
                self.nstring()?; // md5
                self.dsp_lang_loc()?;
            }
        }
        self.eat(b')')
    }
    fn end(&self) -> R<()> {
        if self.i == self.s.len() {
            Ok(())
        } else {
            self.err("end of input")
        }
    }
}

pub fn validate_envelope(s: &[u8]) -> R<()> {
    let mut r = Reader::new(s);
    r.envelope()?;
    r.end()
}

pub fn validate_body(s: &[u8]) -> R<()> {
    let mut r = Reader::new(s);
    r.body(0)?;
    r.end()
}

pub(crate) fn corpus_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let root = std::path::Path::new("/work/shared/corpus/mime");
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every part path in a tree, for exhaustive section tests.
fn part_paths(root: &MimePart) -> Vec<Vec<u32>> {
    fn walk(p: &MimePart, prefix: Vec<u32>, out: &mut Vec<Vec<u32>>, depth: usize) {
        if depth > 60 {
            return;
        }
        match &p.kind {
            PartKind::Multipart(ch) => {
                for (i, c) in ch.iter().enumerate() {
                    let mut path = prefix.clone();
                    path.push(i as u32 + 1);
                    out.push(path.clone());
                    match &c.kind {
                        PartKind::Message(inner) => walk(inner, path, out, depth + 1),
                        PartKind::Multipart(_) => walk(c, path, out, depth + 1),
                        PartKind::Leaf => {}
                    }
                }
            }
            _ => {
                let mut path = prefix.clone();
                path.push(1);
                out.push(path.clone());
                if let PartKind::Message(inner) = &p.kind {
                    walk(inner, path, out, depth + 1);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Vec::new(), &mut out, 0);
    out
}

#[test]
fn corpus_structures_are_grammatical() {
    let files = corpus_files();
    assert!(files.len() >= 200, "corpus missing: {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let raw = std::fs::read(f).unwrap();
        let s = MessageSummary::of(&raw);
        for (what, v, res) in [
            ("ENVELOPE", &s.envelope, validate_envelope(&s.envelope)),
            (
                "BODYSTRUCTURE",
                &s.body_structure,
                validate_body(&s.body_structure),
            ),
            ("BODY", &s.body, validate_body(&s.body)),
        ] {
            if let Err(e) = res {
                failures.push(format!(
                    "{} {what}: {e}\n{}",
                    f.display(),
                    String::from_utf8_lossy(v)
                ));
            }
        }
        // Every addressable part can be fetched, in every form, without panicking.
        let tree = parse_tree(&raw);
        for path in part_paths(&tree) {
            for text in [
                None,
                Some(SectionText::Mime),
                Some(SectionText::Header),
                Some(SectionText::Text),
            ] {
                let sec = Section {
                    parts: path.clone(),
                    text,
                };
                if let Ok(d) = fetch_section(&raw, &tree, &sec) {
                    assert!(d.len() <= raw.len() + 2);
                }
            }
            let _ = fetch_binary(&raw, &tree, &path);
            assert!(
                section::find_part(&tree, &path).is_ok(),
                "{} {:?}",
                f.display(),
                path
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// BODY[section] of `raw`, which must exist.
fn section(raw: &[u8], tree: &MimePart, parts: &[u32], text: Option<SectionText>) -> Vec<u8> {
    let wanted = Section {
        parts: parts.to_vec(),
        text,
    };
    let data = fetch_section(raw, tree, &wanted).unwrap_or_else(|e| panic!("{wanted:?}: {e:?}"));
    data.bytes(raw).to_vec()
}

fn bs(raw: &str) -> String {
    String::from_utf8(MessageSummary::of(raw.as_bytes()).body_structure).unwrap()
}

#[test]
fn plain_text_defaults() {
    let raw = "From: a@b\r\nSubject: hi\r\n\r\nhello\r\nworld\r\n";
    assert_eq!(
        bs(raw),
        r#"("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 14 2 NIL NIL NIL NIL)"#
    );
    let s = MessageSummary::of(raw.as_bytes());
    assert_eq!(
        String::from_utf8(s.body).unwrap(),
        r#"("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 14 2)"#
    );
    let tree = parse_tree(raw.as_bytes());
    // rfc3501 6.4.5: a non-multipart message has a part 1, its body.
    let one = fetch_section(
        raw.as_bytes(),
        &tree,
        &Section {
            parts: vec![1],
            text: None,
        },
    )
    .unwrap();
    assert_eq!(one.bytes(raw.as_bytes()), b"hello\r\nworld\r\n");
    assert!(
        fetch_section(
            raw.as_bytes(),
            &tree,
            &Section {
                parts: vec![2],
                text: None
            }
        )
        .is_err()
    );
    let hdr = fetch_section(
        raw.as_bytes(),
        &tree,
        &Section {
            parts: vec![],
            text: Some(SectionText::Header),
        },
    )
    .unwrap();
    assert_eq!(
        hdr.bytes(raw.as_bytes()),
        b"From: a@b\r\nSubject: hi\r\n\r\n"
    );
}

const ALTERNATIVE: &str = "From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n\
preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n\
--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Caf\u{e9}</p>\r\n--XX--\r\nepilogue\r\n";

#[test]
fn multipart_alternative() {
    assert_eq!(
        bs(ALTERNATIVE),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 9 1 NIL NIL NIL NIL)\
(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL) \
\"ALTERNATIVE\" (\"BOUNDARY\" \"XX\") NIL NIL NIL)"
    );
    let raw = ALTERNATIVE.as_bytes();
    let tree = parse_tree(raw);
    let bin = fetch_binary(raw, &tree, &[1]).unwrap();
    assert_eq!(&*bin, "Caf\u{e9}".as_bytes());
    assert_eq!(
        section(raw, &tree, &[2], Some(SectionText::Mime)),
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    );
    assert!(search::body_contains(raw, &search::fold_needle("café")));
    assert!(!search::body_contains(raw, "TEA"));
}

const NESTED: &str = "From: outer@x\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--b1\r\nContent-Type: message/rfc822\r\n\r\n\
From: \"Inner, Person\" <inner@y>\r\nTo: undisclosed-recipients:;\r\nSubject: =?utf-8?q?inn=C3=A9r?=\r\n\
Content-Type: multipart/mixed; boundary=b2\r\n\r\n\
--b2\r\nContent-Type: text/plain\r\n\r\ninner body\r\n\
--b2\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.bin\r\n\r\naGVsbG8=\r\n--b2--\r\n\
--b1--\r\n";

#[test]
fn nested_message_rfc822() {
    let raw = NESTED.as_bytes();
    let s = MessageSummary::of(raw);
    validate_body(&s.body_structure).unwrap();
    let b = String::from_utf8(s.body_structure).unwrap();
    assert!(b.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" "), "{b}");
    assert!(
        b.contains("((\"Inner, Person\" NIL \"inner\" \"y\"))"),
        "{b}"
    );
    assert!(
        b.contains("((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"),
        "{b}"
    );
    assert!(b.contains("\"=?utf-8?q?inn=C3=A9r?=\""), "{b}");
    assert!(
        b.contains("(\"ATTACHMENT\" (\"FILENAME*\" \"utf-8''%E2%82%AC.bin\"))"),
        "{b}"
    );
    assert!(
        b.ends_with(" \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)"),
        "{b}"
    );

    let tree = parse_tree(raw);
    let get = |parts: Vec<u32>, text: Option<SectionText>| {
        fetch_section(raw, &tree, &Section { parts, text })
            .map(|d| String::from_utf8_lossy(d.bytes(raw)).into_owned())
    };
    assert_eq!(get(vec![1], None).unwrap(), "see attached");
    assert!(get(vec![2], None).unwrap().starts_with("From: \"Inner"));
    assert!(get(vec![2], None).unwrap().ends_with("--b2--"));
    assert_eq!(get(vec![2, 1], None).unwrap(), "inner body");
    assert_eq!(get(vec![2, 2], None).unwrap(), "aGVsbG8=");
    assert!(
        get(vec![2], Some(SectionText::Header))
            .unwrap()
            .starts_with("From: \"Inner")
    );
    assert!(
        get(vec![2], Some(SectionText::Text))
            .unwrap()
            .starts_with("--b2\r\n")
    );
    assert_eq!(
        get(vec![2], Some(SectionText::Mime)).unwrap(),
        "Content-Type: message/rfc822\r\n\r\n"
    );
    assert_eq!(
        get(
            vec![2],
            Some(SectionText::HeaderFields {
                names: vec!["subject".into(), "TO".into()],
                not: false
            })
        )
        .unwrap(),
        "To: undisclosed-recipients:;\r\nSubject: =?utf-8?q?inn=C3=A9r?=\r\n\r\n"
    );
    assert_eq!(
        get(
            vec![],
            Some(SectionText::HeaderFields {
                names: vec!["content-type".into(), "subject".into()],
                not: true
            })
        )
        .unwrap(),
        "From: outer@x\r\n\r\n"
    );
    assert_eq!(
        get(vec![1], Some(SectionText::Header)),
        Err(SectionError::NotMessage)
    );
    assert_eq!(&*fetch_binary(raw, &tree, &[2, 2]).unwrap(), b"hello");
    assert_eq!(section::binary_size(raw, &tree, &[2, 2]).unwrap(), 5);
    assert_eq!(get(vec![3], None), Err(SectionError::NoSuchPart));
    assert_eq!(get(vec![1, 1], None), Err(SectionError::NoSuchPart));
}

#[test]
fn unknown_cte_is_reported() {
    let raw =
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n";
    let tree = parse_tree(raw);
    assert!(matches!(
        fetch_binary(raw, &tree, &[1]),
        Err(SectionError::UnknownCte(_))
    ));
}

#[test]
fn envelope_sender_defaults_and_literals() {
    let raw = "From: a@b\r\nReply-To:\r\nSubject: caf\u{e9}\r\n\r\nx".as_bytes();
    let e = String::from_utf8(MessageSummary::of(raw).envelope).unwrap();
    // Sender and empty Reply-To take From (rfc3501 7.4.2); 8-bit needs a literal.
    assert_eq!(
        e,
        "(NIL {5}\r\ncaf\u{e9} ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)"
    );
    validate_envelope(e.as_bytes()).unwrap();
}

#[test]
fn search_headers_are_decoded() {
    let s = MessageSummary::of(NESTED.as_bytes());
    assert_eq!(s.search.subject, "fwd");
    let inner = NESTED.find("From: \"Inner").unwrap();
    assert!(search::header_contains(
        &NESTED.as_bytes()[inner..],
        "Subject",
        &search::fold_needle("innér")
    ));
    assert!(search::text_contains(
        NESTED.as_bytes(),
        &search::fold_needle("inner body")
    ));
}

#[test]
fn empty_and_headerless_input() {
    for raw in [
        &b""[..],
        b"\r\n",
        b"no header here",
        b"\r\n\r\nbody",
        b"Subject: x",
    ] {
        let s = MessageSummary::of(raw);
        validate_envelope(&s.envelope).unwrap();
        validate_body(&s.body_structure).unwrap();
    }
}

#[test]
#[ignore]
fn show_corpus() {
    for name in std::env::var("SHOW").unwrap_or_default().split(',') {
        let raw = std::fs::read(name).unwrap();
        let s = MessageSummary::of(&raw);
        println!(
            "{name}\nENV {}\nBS {}\n",
            String::from_utf8_lossy(&s.envelope),
            String::from_utf8_lossy(&s.body_structure)
        );
    }
}

/// What the index keeps of a message's text never changes an answer of
/// SEARCH BODY/TEXT: over the whole corpus, for words that are in some
/// messages' text (also only inside encoded words or QP) and not in others.
#[test]
fn search_shortcuts_agree_with_the_full_match() {
    use super::search::{BodyText, body_contains, body_matches, text_contains, text_matches};
    let files = corpus_files();
    let (mut raw_text, mut decoded) = (0, 0);
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        let summary = MessageSummary::of(&raw);
        let known = match (&summary.decoded_text, summary.text_is_raw) {
            (_, true) => BodyText::Raw,
            (Some(text), false) => BodyText::Decoded(text),
            (None, false) => BodyText::Unknown,
        };
        raw_text += usize::from(summary.text_is_raw);
        decoded += usize::from(summary.decoded_text.is_some());
        for needle in [
            "the", "subject", "mime", "caf", "html", "zzqx", "message", "2", "de",
        ] {
            let needle = &super::search::fold_needle(needle);
            assert_eq!(
                text_matches(&raw, needle, known),
                text_contains(&raw, needle),
                "TEXT {needle} in {}",
                path.display()
            );
            assert_eq!(
                body_matches(&raw, needle, known),
                body_contains(&raw, needle),
                "BODY {needle} in {}",
                path.display()
            );
        }
    }
    assert!(
        raw_text > 10 && decoded > 10,
        "{raw_text} raw, {decoded} decoded"
    );
    // A word only in an encoded-word header, in a message whose text is raw.
    let raw = b"Subject: =?UTF-8?B?cXVldHphbGNvYXRs?=\r\n\r\nplain body\r\n";
    let summary = MessageSummary::of(raw);
    assert!(summary.text_is_raw);
    assert!(text_matches(raw, "QUETZALCOATL", BodyText::Raw));
    assert!(!body_matches(raw, "QUETZALCOATL", BodyText::Raw));
    // Quoted-printable text is not raw: its decoded text is kept.
    let raw = b"Content-Transfer-Encoding: quoted-printable\r\n\r\nquetzal=\r\ncoatl\r\n";
    let summary = MessageSummary::of(raw);
    assert!(!summary.text_is_raw);
    let text = summary.decoded_text.unwrap();
    assert!(body_matches(raw, "QUETZALCOATL", BodyText::Decoded(&text)));
    assert!(!body_matches(
        raw,
        "QUETZAL COATL",
        BodyText::Decoded(&text)
    ));
}

/// The ASCII shortcut of case-insensitive matching agrees with mapping
/// both sides (i;unicode-casemap), also for text the cache keeps folded
/// to lower case.
#[test]
fn folded_contains_agrees_with_fold_case() {
    use super::collation::casemap;
    use super::search::{fold_case, fold_needle, folded_contains};
    let texts = [
        "Hello World",
        "caf\u{e9} CAF\u{c9}",
        "\u{212A}elvin",
        "\u{130}stanbul",
        "stra\u{df}e",
        "",
    ];
    for text in texts {
        for needle in [
            "hello",
            "kelvin",
            "istanbul",
            "i",
            "caf\u{e9}",
            "e",
            "xyz",
            "",
        ] {
            let needle = fold_needle(needle);
            assert_eq!(
                folded_contains(text, &needle),
                casemap(text).contains(&needle),
                "{needle:?} in {text:?}"
            );
            assert_eq!(
                folded_contains(&fold_case(text), &needle),
                casemap(text).contains(&needle),
                "{needle:?} in {text:?}, stored folded"
            );
        }
    }
}

#[test]
fn nul_parts_are_stored_base64() {
    use super::binary::{NulOutsideBody, encode_nul_parts};
    let payload: Vec<u8> = vec![0, 1, 2, 0, b'\r', b'\n', 255, 0];
    let mut raw = b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nplain\r\n--b\r\n\
        Content-Type: application/x-thing\r\nContent-Transfer-Encoding: BINARY\r\n\
        X-Kept: yes\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(&payload);
    raw.extend_from_slice(b"\r\n--b--\r\n");
    let stored = encode_nul_parts(&raw).unwrap().unwrap();
    assert!(!stored.contains(&0));
    let tree = parse_tree(&stored);
    assert_eq!(
        fetch_binary(&stored, &tree, &[2]).unwrap().as_ref(),
        payload
    );
    assert_eq!(
        fetch_binary(&stored, &tree, &[1]).unwrap().as_ref(),
        b"plain"
    );
    assert_eq!(
        section(&stored, &tree, &[2], Some(SectionText::Mime)),
        b"Content-Type: application/x-thing\r\nX-Kept: yes\r\n\
          Content-Transfer-Encoding: base64\r\n\r\n"
    );
    let s = bs(std::str::from_utf8(&stored).unwrap());
    assert!(s.contains("\"BASE64\""), "{s}");
    validate_body(s.as_bytes()).unwrap();

    // No NUL: unchanged. A NUL in a header: refused.
    assert_eq!(encode_nul_parts(b"Subject: s\r\n\r\nbody\r\n"), Ok(None));
    assert_eq!(
        encode_nul_parts(b"Subject: s\0\r\n\r\nbody\r\n"),
        Err(NulOutsideBody)
    );
    // A single-part message without MIME headers: the top-level body.
    let stored = encode_nul_parts(b"Subject: s\r\n\r\na\0b")
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        b"Subject: s\r\nContent-Transfer-Encoding: base64\r\n\r\nYQBi"
    );
    let tree = parse_tree(&stored);
    assert_eq!(
        fetch_binary(&stored, &tree, &[1]).unwrap().as_ref(),
        b"a\0b"
    );
}

#[test]
fn sections_of_an_encapsulated_multipart_message() {
    let inner_header = "From: inner@example.org\r\nSubject: digest\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n";
    let inner_text = "--d\r\n\r\nSubject: first\r\n\r\nfirst body\r\n\
        --d\r\n\r\nSubject: second\r\n\r\nsecond body\r\n--d--\r\n";
    for wrapped in [false, true] {
        let (raw, n) = if wrapped {
            (
                format!(
                    "Subject: w\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
                     Content-Type: text/plain\r\n\r\nintro\r\n--m\r\n\
                     Content-Type: message/rfc822\r\n\r\n{inner_header}{inner_text}\r\n--m--\r\n"
                ),
                2,
            )
        } else {
            (
                format!(
                    "Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n{inner_header}{inner_text}"
                ),
                1,
            )
        };
        let raw = raw.as_bytes();
        let tree = parse_tree(raw);
        let get = |parts: Vec<u32>, text: Option<SectionText>| {
            String::from_utf8(section(raw, &tree, &parts, text)).unwrap()
        };
        assert_eq!(get(vec![n], Some(SectionText::Header)), inner_header);
        assert_eq!(get(vec![n], Some(SectionText::Text)), inner_text);
        assert_eq!(get(vec![n, 2], Some(SectionText::Text)), "second body");
        assert_eq!(get(vec![n, 1], None), "Subject: first\r\n\r\nfirst body");
    }
}
