//! A validating reader of FETCH responses (`message-data` with `msg-att`,
//! rfc3501 section 9, plus BINARY from rfc3516): every item is checked
//! against its grammar rule and kept as a value tree for the tests.
//! Written from the ABNF; strict where the grammar is (7-bit quoted
//! strings, single spaces, upper-case keywords from the server).
#![allow(dead_code)]

/// A parsed value. Strings keep their bytes (quoted or literal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Nil,
    Num(u64),
    Str(Vec<u8>),
    /// A flag or other atom.
    Atom(String),
    List(Vec<Val>),
}

impl Val {
    pub fn str(&self) -> Option<&[u8]> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn text(&self) -> String {
        match self {
            Val::Str(s) => String::from_utf8_lossy(s).into_owned(),
            Val::Nil => "NIL".into(),
            Val::Num(n) => n.to_string(),
            Val::Atom(a) => a.clone(),
            Val::List(_) => panic!("text() of a list: {self:?}"),
        }
    }
    pub fn num(&self) -> u64 {
        match self {
            Val::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
    pub fn list(&self) -> &[Val] {
        match self {
            Val::List(l) => l,
            _ => panic!("not a list: {self:?}"),
        }
    }
    pub fn is_nil(&self) -> bool {
        matches!(self, Val::Nil)
    }
}

/// One `* n FETCH (...)` response.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub seq: u32,
    /// (item name as sent, e.g. `BODY[1.MIME]<0>`, value).
    pub items: Vec<(String, Val)>,
}

impl Fetch {
    /// The value of an item, by exact name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Val> {
        self.items
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    pub fn req(&self, name: &str) -> &Val {
        self.get(name)
            .unwrap_or_else(|| panic!("no {name} in FETCH {}: {:?}", self.seq, self.names()))
    }
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        match self.req(name) {
            Val::Str(s) => s.clone(),
            Val::Nil => Vec::new(),
            v => panic!("{name} is not a string: {v:?}"),
        }
    }
    pub fn names(&self) -> Vec<String> {
        self.items.iter().map(|(n, _)| n.clone()).collect()
    }
    pub fn uid(&self) -> u32 {
        self.req("UID").num() as u32
    }
    pub fn flags(&self) -> Vec<String> {
        self.req("FLAGS")
            .list()
            .iter()
            .map(|f| match f {
                Val::Atom(a) => a.clone(),
                v => panic!("flag {v:?}"),
            })
            .collect()
    }
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags().iter().any(|x| x.eq_ignore_ascii_case(f))
    }
}

pub type R<T> = Result<T, String>;

pub struct P<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> P<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        P { b, i: 0 }
    }
    fn err<T>(&self, what: &str) -> R<T> {
        let start = self.i.saturating_sub(30);
        let end = (self.i + 30).min(self.b.len());
        Err(format!(
            "expected {what} at byte {}: ...{}<HERE>{}...",
            self.i,
            String::from_utf8_lossy(&self.b[start..self.i]),
            String::from_utf8_lossy(&self.b[self.i..end])
        ))
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn at(&self, s: &str) -> bool {
        self.b[self.i..].starts_with(s.as_bytes())
    }
    /// Case-insensitive keyword check (without consuming).
    fn at_ci(&self, s: &str) -> bool {
        self.b.len() >= self.i + s.len()
            && self.b[self.i..self.i + s.len()].eq_ignore_ascii_case(s.as_bytes())
    }
    fn lit(&mut self, s: &str) -> R<()> {
        if self.at(s) {
            self.i += s.len();
            Ok(())
        } else {
            self.err(&format!("{s:?}"))
        }
    }
    fn sp(&mut self) -> R<()> {
        self.lit(" ")
    }
    pub fn end(&self) -> R<()> {
        if self.i == self.b.len() {
            Ok(())
        } else {
            self.err("end of response")
        }
    }

    /// rfc7162 7: mod-sequence-value = 1*DIGIT, below 2^63.
    fn mod_sequence(&mut self) -> R<u64> {
        let s = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let t = std::str::from_utf8(&self.b[s..self.i]).unwrap();
        match t.parse::<u64>() {
            Ok(n) if n < 1 << 63 => Ok(n),
            _ => self.err("mod-sequence-value < 2^63"),
        }
    }

    pub fn number(&mut self) -> R<u64> {
        let s = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if s == self.i {
            return self.err("number");
        }
        let t = std::str::from_utf8(&self.b[s..self.i]).unwrap();
        t.parse::<u32>()
            .map(u64::from)
            .or_else(|_| self.err("number < 2^32"))
    }

    fn nz_number(&mut self) -> R<u64> {
        if self.peek() == Some(b'0') {
            return self.err("nz-number");
        }
        self.number()
    }

    /// quoted / literal
    pub fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek() {
                        None => return self.err("closing quote"),
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(out);
                        }
                        Some(b'\\') => {
                            self.i += 1;
                            match self.peek() {
                                Some(c @ (b'"' | b'\\')) => {
                                    out.push(c);
                                    self.i += 1;
                                }
                                _ => return self.err("quoted-special after backslash"),
                            }
                        }
                        Some(c) if c == b'\r' || c == b'\n' || c == 0 || c > 0x7f => {
                            return self.err("TEXT-CHAR (7-bit, no CR/LF/NUL) in quoted string");
                        }
                        Some(c) => {
                            out.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let n = self.number()? as usize;
                self.lit("}\r\n")?;
                if self.b.len() < self.i + n {
                    return self.err("literal bytes");
                }
                let v = self.b[self.i..self.i + n].to_vec();
                if v.contains(&0) {
                    return self.err("literal without NUL (use literal8 for binary)");
                }
                self.i += n;
                Ok(v)
            }
            _ => self.err("string"),
        }
    }

    /// literal8 (rfc3516) / string
    fn string8(&mut self) -> R<Vec<u8>> {
        if self.at("~{") {
            self.i += 2;
            let n = self.number()? as usize;
            self.lit("}\r\n")?;
            if self.b.len() < self.i + n {
                return self.err("literal8 bytes");
            }
            let v = self.b[self.i..self.i + n].to_vec();
            self.i += n;
            return Ok(v);
        }
        self.string()
    }

    fn nil(&mut self) -> bool {
        if self.at("NIL") {
            let next = self.b.get(self.i + 3).copied();
            if next.is_none_or(|c| c == b' ' || c == b')') {
                self.i += 3;
                return true;
            }
        }
        false
    }

    pub fn nstring(&mut self) -> R<Val> {
        if self.nil() {
            return Ok(Val::Nil);
        }
        Ok(Val::Str(self.string()?))
    }

    fn nstring8(&mut self) -> R<Val> {
        if self.nil() {
            return Ok(Val::Nil);
        }
        Ok(Val::Str(self.string8()?))
    }

    fn atom_char(c: u8) -> bool {
        // ATOM-CHAR: any CHAR except atom-specials ( ) { SP CTL % * " \ ]
        c > 0x20 && c < 0x7f && !b"(){%*\"\\]".contains(&c)
    }

    fn atom(&mut self) -> R<String> {
        let s = self.i;
        while self.peek().is_some_and(Self::atom_char) {
            self.i += 1;
        }
        if s == self.i {
            return self.err("atom");
        }
        Ok(String::from_utf8(self.b[s..self.i].to_vec()).unwrap())
    }

    /// flag-fetch: flag / "\Recent"; flag-keyword = atom; flag-extension = "\" atom
    fn flag(&mut self) -> R<String> {
        if self.peek() == Some(b'\\') {
            self.i += 1;
            let a = self.atom()?;
            return Ok(format!("\\{a}"));
        }
        self.atom()
    }

    fn flags(&mut self) -> R<Val> {
        self.lit("(")?;
        let mut v = Vec::new();
        while self.peek() != Some(b')') {
            if !v.is_empty() {
                self.sp()?;
            }
            v.push(Val::Atom(self.flag()?));
        }
        self.lit(")")?;
        Ok(Val::List(v))
    }

    /// DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    fn date_time(&mut self) -> R<Val> {
        let start = self.i;
        let s = self.string()?;
        let t = String::from_utf8(s).unwrap();
        if self.b[start] != b'"' || parse_date_time(&t).is_none() {
            self.i = start;
            return self.err("date-time \"dd-Mon-yyyy hh:mm:ss +zzzz\"");
        }
        Ok(Val::Str(t.into_bytes()))
    }

    fn address(&mut self) -> R<Val> {
        self.lit("(")?;
        let name = self.nstring()?;
        self.sp()?;
        let adl = self.nstring()?;
        self.sp()?;
        let mailbox = self.nstring()?;
        self.sp()?;
        let host = self.nstring()?;
        self.lit(")")?;
        Ok(Val::List(vec![name, adl, mailbox, host]))
    }

    /// "(" 1*address ")" / nil
    fn address_list(&mut self) -> R<Val> {
        if self.nil() {
            return Ok(Val::Nil);
        }
        self.lit("(")?;
        let mut v = vec![self.address()?];
        while self.peek() == Some(b'(') {
            v.push(self.address()?);
        }
        self.lit(")")?;
        // rfc3501 7.4.2: group syntax is a NIL host; start (mailbox set)
        // and end (mailbox NIL) marks must balance.
        let mut depth = 0i32;
        for a in &v {
            let f = a.list();
            if f[3].is_nil() {
                if f[2].is_nil() {
                    depth -= 1;
                } else {
                    depth += 1;
                }
                if depth < 0 {
                    return Err(format!("group end without start in {v:?}"));
                }
            }
        }
        if depth != 0 {
            return Err(format!("unbalanced group syntax in {v:?}"));
        }
        Ok(Val::List(v))
    }

    pub fn envelope(&mut self) -> R<Val> {
        self.lit("(")?;
        let mut v = Vec::new();
        v.push(self.nstring()?); // date
        self.sp()?;
        v.push(self.nstring()?); // subject
        for _ in 0..6 {
            self.sp()?;
            v.push(self.address_list()?); // from sender reply-to to cc bcc
        }
        self.sp()?;
        v.push(self.nstring()?); // in-reply-to
        self.sp()?;
        v.push(self.nstring()?); // message-id
        self.lit(")")?;
        Ok(Val::List(v))
    }

    /// body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    fn body_fld_param(&mut self) -> R<Val> {
        if self.nil() {
            return Ok(Val::Nil);
        }
        self.lit("(")?;
        let mut v = Vec::new();
        loop {
            v.push(Val::Str(self.string()?));
            self.sp()?;
            v.push(Val::Str(self.string()?));
            if self.peek() == Some(b')') {
                break;
            }
            self.sp()?;
        }
        self.lit(")")?;
        Ok(Val::List(v))
    }

    /// body-fld-dsp = "(" string SP body-fld-param ")" / nil
    fn body_fld_dsp(&mut self) -> R<Val> {
        if self.nil() {
            return Ok(Val::Nil);
        }
        self.lit("(")?;
        let d = Val::Str(self.string()?);
        self.sp()?;
        let p = self.body_fld_param()?;
        self.lit(")")?;
        Ok(Val::List(vec![d, p]))
    }

    /// body-fld-lang = nstring / "(" string *(SP string) ")"
    fn body_fld_lang(&mut self) -> R<Val> {
        if self.peek() == Some(b'(') {
            self.i += 1;
            let mut v = vec![Val::Str(self.string()?)];
            while self.peek() == Some(b' ') {
                self.i += 1;
                v.push(Val::Str(self.string()?));
            }
            self.lit(")")?;
            return Ok(Val::List(v));
        }
        self.nstring()
    }

    /// body-extension = nstring / number / "(" body-extension *(SP body-extension) ")"
    fn body_extension(&mut self) -> R<Val> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let mut v = vec![self.body_extension()?];
                while self.peek() == Some(b' ') {
                    self.i += 1;
                    v.push(self.body_extension()?);
                }
                self.lit(")")?;
                Ok(Val::List(v))
            }
            Some(c) if c.is_ascii_digit() => Ok(Val::Num(self.number()?)),
            _ => self.nstring(),
        }
    }

    /// [SP dsp [SP lang [SP loc *(SP body-extension)]]] after md5 / param.
    fn body_ext_tail(&mut self, out: &mut Vec<Val>) -> R<()> {
        if self.peek() != Some(b' ') {
            return Ok(());
        }
        self.i += 1;
        out.push(self.body_fld_dsp()?);
        if self.peek() != Some(b' ') {
            return Ok(());
        }
        self.i += 1;
        out.push(self.body_fld_lang()?);
        if self.peek() != Some(b' ') {
            return Ok(());
        }
        self.i += 1;
        out.push(self.nstring()?); // body-fld-loc
        while self.peek() == Some(b' ') {
            self.i += 1;
            out.push(self.body_extension()?);
        }
        Ok(())
    }

    /// body = "(" (body-type-1part / body-type-mpart) ")"
    /// Values: 1part → List[type, subtype, params, id, desc, enc, octets,
    /// (envelope, body, lines | lines)?, ext...]; mpart → List[List(bodies),
    /// subtype, ext...] (first element is a List).
    pub fn body(&mut self, extensible: bool, depth: usize) -> R<Val> {
        if depth > 100 {
            return self.err("body nesting below 100 levels");
        }
        self.lit("(")?;
        let v = if self.peek() == Some(b'(') {
            // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
            let mut parts = Vec::new();
            while self.peek() == Some(b'(') {
                parts.push(self.body(extensible, depth + 1)?);
            }
            self.sp()?;
            let sub = Val::Str(self.string()?);
            let mut v = vec![Val::List(parts), sub];
            if self.peek() == Some(b' ') {
                if !extensible {
                    return self.err("no extension data in BODY (only BODYSTRUCTURE)");
                }
                self.i += 1;
                v.push(self.body_fld_param()?);
                self.body_ext_tail(&mut v)?;
            }
            v
        } else {
            let ty = self.string()?;
            self.sp()?;
            let sub = self.string()?;
            self.sp()?;
            let mut v = vec![Val::Str(ty.clone()), Val::Str(sub.clone())];
            // body-fields = param SP id SP desc SP enc SP octets
            v.push(self.body_fld_param()?);
            self.sp()?;
            v.push(self.nstring()?);
            self.sp()?;
            v.push(self.nstring()?);
            self.sp()?;
            v.push(Val::Str(self.string()?));
            self.sp()?;
            v.push(Val::Num(self.number()?));
            let is_msg = ty.eq_ignore_ascii_case(b"MESSAGE")
                && (sub.eq_ignore_ascii_case(b"RFC822") || sub.eq_ignore_ascii_case(b"GLOBAL"));
            if is_msg {
                // body-type-msg: SP envelope SP body SP body-fld-lines
                self.sp()?;
                v.push(self.envelope()?);
                self.sp()?;
                v.push(self.body(extensible, depth + 1)?);
                self.sp()?;
                v.push(Val::Num(self.number()?));
            } else if ty.eq_ignore_ascii_case(b"TEXT") {
                self.sp()?;
                v.push(Val::Num(self.number()?));
            }
            if self.peek() == Some(b' ') {
                if !extensible {
                    return self.err("no extension data in BODY (only BODYSTRUCTURE)");
                }
                // body-ext-1part = body-fld-md5 [SP dsp [SP lang [SP loc ...]]]
                self.i += 1;
                v.push(self.nstring()?);
                self.body_ext_tail(&mut v)?;
            }
            v
        };
        self.lit(")")?;
        Ok(Val::List(v))
    }

    /// section-spec inside `[...]`, kept as text; checked against
    /// section = "[" [section-spec] "]".
    fn section(&mut self) -> R<String> {
        self.lit("[")?;
        let start = self.i;
        // section-part *("." nz-number), then optional "." section-text
        let mut text_ok = true;
        loop {
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.nz_number()?;
                if self.peek() == Some(b'.') {
                    self.i += 1;
                    continue;
                }
                text_ok = false;
            }
            break;
        }
        let part_prefix = self.i > start;
        if text_ok && self.peek() != Some(b']') {
            if self.at_ci("HEADER.FIELDS") {
                self.i += "HEADER.FIELDS".len();
                if self.at_ci(".NOT") {
                    self.i += 4;
                }
                self.sp()?;
                self.lit("(")?;
                loop {
                    // header-fld-name = astring
                    if matches!(self.peek(), Some(b'"') | Some(b'{')) {
                        self.string()?;
                    } else {
                        self.atom()?;
                    }
                    if self.peek() == Some(b')') {
                        break;
                    }
                    self.sp()?;
                }
                self.lit(")")?;
            } else if self.at_ci("HEADER") {
                self.i += 6;
            } else if self.at_ci("TEXT") || (part_prefix && self.at_ci("MIME")) {
                self.i += 4;
            } else {
                return self.err("section-msgtext");
            }
        }
        let spec = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
        self.lit("]")?;
        Ok(spec)
    }

    /// ["<" number ">"]
    fn origin(&mut self) -> R<Option<u64>> {
        if self.peek() == Some(b'<') {
            self.i += 1;
            let n = self.number()?;
            self.lit(">")?;
            return Ok(Some(n));
        }
        Ok(None)
    }

    /// section-binary = "[" [section-part] "]"
    fn section_binary(&mut self) -> R<String> {
        self.lit("[")?;
        let start = self.i;
        if self.peek() != Some(b']') {
            self.nz_number()?;
            while self.peek() == Some(b'.') {
                self.i += 1;
                self.nz_number()?;
            }
        }
        let s = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
        self.lit("]")?;
        Ok(s)
    }

    /// One msg-att item: (name, value).
    fn msg_att(&mut self) -> R<(String, Val)> {
        let start = self.i;
        let key_end = self.b[self.i..]
            .iter()
            .position(|&c| c == b' ' || c == b'[')
            .map(|p| self.i + p)
            .unwrap_or(self.b.len());
        let key = String::from_utf8_lossy(&self.b[self.i..key_end]).into_owned();
        self.i = key_end;
        let v = match key.as_str() {
            "FLAGS" => {
                self.sp()?;
                self.flags()?
            }
            "ENVELOPE" => {
                self.sp()?;
                self.envelope()?
            }
            "INTERNALDATE" => {
                self.sp()?;
                self.date_time()?
            }
            "RFC822" | "RFC822.HEADER" | "RFC822.TEXT" => {
                self.sp()?;
                self.nstring()?
            }
            "RFC822.SIZE" | "UID" => {
                self.sp()?;
                let n = Val::Num(self.number()?);
                if key == "UID" && n == Val::Num(0) {
                    return Err("UID 0 (uniqueid is nz-number)".into());
                }
                n
            }
            // rfc7162 7: fetch-mod-resp = "MODSEQ" SP "(" permsg-modsequence ")"
            "MODSEQ" => {
                self.sp()?;
                self.lit("(")?;
                let n = self.mod_sequence()?;
                if n == 0 {
                    return Err("MODSEQ (0) (permsg-modsequence is nonzero)".into());
                }
                self.lit(")")?;
                Val::List(vec![Val::Num(n)])
            }
            "BODYSTRUCTURE" => {
                self.sp()?;
                self.body(true, 0)?
            }
            "BODY" if self.peek() == Some(b' ') => {
                self.sp()?;
                self.body(false, 0)?
            }
            "BODY" => {
                self.section()?;
                self.origin()?;
                self.sp()?;
                self.nstring()?
            }
            "BINARY" => {
                self.section_binary()?;
                self.origin()?;
                self.sp()?;
                self.nstring8()?
            }
            "BINARY.SIZE" => {
                self.section_binary()?;
                self.sp()?;
                Val::Num(self.number()?)
            }
            _ => {
                self.i = start;
                return self.err("msg-att item name (upper case, rfc3501 9 / rfc3516 / rfc7162)");
            }
        };
        // The name as sent: everything before the SP that precedes the value.
        let name_end = {
            let mut j = key_end;
            let mut depth = 0;
            while j < self.b.len() {
                match self.b[j] {
                    b'[' => depth += 1,
                    b']' => depth -= 1,
                    b' ' if depth == 0 => break,
                    _ => {}
                }
                j += 1;
            }
            j
        };
        let name = String::from_utf8_lossy(&self.b[start..name_end]).into_owned();
        Ok((name, v))
    }
}

/// `* n FETCH (msg-att)` → validated items.
pub fn parse_fetch(r: &[u8]) -> R<Fetch> {
    let mut p = P::new(r);
    p.lit("* ")?;
    let seq = p.nz_number()? as u32;
    p.lit(" FETCH (")?;
    let mut items: Vec<(String, Val)> = Vec::new();
    loop {
        let (n, v) = p.msg_att()?;
        items.push((n, v));
        if p.peek() == Some(b')') {
            break;
        }
        p.sp()?;
    }
    p.lit(")")?;
    p.end()?;
    Ok(Fetch { seq, items })
}

/// "dd-Mon-yyyy hh:mm:ss +zzzz" (day may be space-padded) → seconds since
/// the epoch (UTC).
pub fn parse_date_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 26 {
        return None;
    }
    let day: i64 = s[0..2].trim_start().parse().ok()?;
    if b[2] != b'-' || b[6] != b'-' || b[11] != b' ' || b[20] != b' ' {
        return None;
    }
    let month = month_index(&s[3..6])?;
    let year: i64 = s[7..11].parse().ok()?;
    let (h, m, sec): (i64, i64, i64) = (
        s[12..14].parse().ok()?,
        s[15..17].parse().ok()?,
        s[18..20].parse().ok()?,
    );
    if b[14] != b':' || b[17] != b':' || h > 23 || m > 59 || sec > 60 || !(1..=31).contains(&day) {
        return None;
    }
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if !s[22..26].bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let zh: i64 = s[22..24].parse().ok()?;
    let zm: i64 = s[24..26].parse().ok()?;
    let days = days_from_civil(year, month as i64 + 1, day);
    Some(days * 86400 + h * 3600 + m * 60 + sec - sign * (zh * 3600 + zm * 60))
}

pub fn month_index(m: &str) -> Option<usize> {
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|x| *x == m)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn reader_accepts_rfc3501_examples_and_rejects_broken_ones() {
        // rfc3501 7.4.2 example (the FETCH of message 12), one line.
        let ex = b"* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))";
        let f = parse_fetch(ex).unwrap();
        assert_eq!(f.seq, 12);
        assert_eq!(f.req("RFC822.SIZE").num(), 4286);
        assert_eq!(
            parse_date_time("17-Jul-1996 02:44:25 -0700"),
            Some(837596665)
        );
        // rfc3501 6.4.5 example of a multipart BODYSTRUCTURE with extension data.
        let ms = b"* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) \"MIXED\" (\"BOUNDARY\" \"x\") NIL NIL NIL) UID 5 BODY[]<0> {3}\r\nabc BINARY[1] ~{2}\r\n\0a BINARY.SIZE[1] 2)";
        parse_fetch(ms).unwrap();
        for bad in [
            &b"* 1 FETCH (FLAGS (\\Seen)"[..],
            b"* 0 FETCH (UID 1)",
            b"* 1 FETCH (UID 0)",
            b"* 1 FETCH (BODY (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3))",
            b"* 1 FETCH (BODY (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 3 1 NIL))",
            b"* 1 FETCH (INTERNALDATE \"1996-07-17\")",
            b"* 1 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL))",
            b"* 1 FETCH (BODY[] \"caf\xc3\xa9\")",
            b"* 1 FETCH (BODY[]  {3}\r\nabc)",
            b"* 1 FETCH (FOO 1)",
            b"* 1 FETCH (BODY[1.HEADERS] NIL)",
        ] {
            assert!(
                parse_fetch(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
