//! A deterministic corpus of realistic messages. Message `i` depends only on
//! the seed and `i`, so any subset can be regenerated without the rest.
//!
//! Mix: plain text (some quoted-printable), multipart/alternative with HTML,
//! multipart/mixed with base64 attachments (some nested alternative), RFC 2047
//! encoded-word names and subjects, RFC 2231 file names, threads (replies with
//! In-Reply-To and References), sizes from 1 KB to 1 MB, mostly small.
//! Messages are CRLF throughout, as APPEND needs.

/// The word in the text of about 1% of messages (`UID SEARCH TEXT`).
pub const RARE_WORD: &str = "quetzalcoatl";
/// A sender in 2% of messages (`SEARCH FROM`).
pub const FROM_WORD: &str = "quimby";
/// A subject word of about 2.5% of threads (`SEARCH SUBJECT`).
pub const SUBJECT_WORD: &str = "invoice";

/// Seconds since the epoch of message 0's date (2024-01-01 00:00:00 UTC).
const EPOCH0: i64 = 1_704_067_200;
/// One message per hour on average.
const STEP: i64 = 3600;

/// splitmix64: tiny, fast, good enough for synthetic mail.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64, i: u64) -> Rng {
        let mut r = Rng(seed
            ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "meeting",
    "project",
    "report",
    "schedule",
    "budget",
    "review",
    "team",
    "office",
    "customer",
    "release",
    "server",
    "network",
    "update",
    "deadline",
    "quarter",
    "summary",
    "proposal",
    "contract",
    "design",
    "draft",
    "agenda",
    "minutes",
    "travel",
    "lunch",
    "weekend",
    "question",
    "answer",
    "please",
    "thanks",
    "regards",
    "attached",
    "document",
    "version",
    "change",
    "issue",
    "ticket",
    "support",
    "account",
    "password",
    "calendar",
    "invite",
    "conference",
    "slides",
    "numbers",
    "forecast",
    "sales",
    "marketing",
    "engineering",
    "finance",
    "legal",
    "policy",
    "security",
    "backup",
    "storage",
    "mailbox",
    "folder",
    "archive",
    "message",
    "thread",
    "reply",
    "forward",
    "tomorrow",
    "today",
    "yesterday",
    "morning",
    "afternoon",
    "evening",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "january",
    "february",
    "march",
    "april",
    "garden",
    "coffee",
    "kitchen",
    "bicycle",
    "library",
    "river",
    "mountain",
    "window",
    "paper",
    "pencil",
    "orange",
    "yellow",
    "purple",
    "simple",
    "quick",
    "careful",
    "important",
    "urgent",
    "minor",
    "major",
    "final",
    "initial",
    "second",
    "third",
    "several",
    "many",
    "few",
    "every",
];

const FIRST: &[&str] = &[
    "Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yves",
];
const LAST: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Walker",
    "Wright", "Green", "Hall", "Wood", "Clarke", "Hughes", "Edwards", "Turner", "Parker",
];
/// Names that need RFC 2047 encoding.
const INTL: &[&str] = &[
    "Zoë Müller",
    "José Peña",
    "Françoise Lefèvre",
    "Søren Kierkegård",
    "Łukasz Wróbel",
    "Björn Ångström",
    "Renée Dubé",
    "Jürgen Groß",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "mail.example.net",
    "corp.example",
];
const INTL_SUBJECTS: &[&str] = &[
    "Café réunion demain",
    "Übersicht für nächste Woche",
    "Résumé du projet",
    "Größenänderung",
    "Año nuevo: planificación",
    "Déjà vu again",
];

/// One message of the corpus.
#[derive(Clone)]
pub struct Message {
    pub bytes: Vec<u8>,
    /// IMAP date-time for APPEND, e.g. `05-Mar-2024 14:07:00 +0000`.
    pub internal_date: String,
    /// APPEND flags, e.g. `\Seen \Flagged` (may be empty).
    pub flags: &'static str,
}

pub struct Corpus {
    pub seed: u64,
}

struct Head {
    from: String,
    subject: String,
    message_id: String,
}

impl Corpus {
    pub fn new(seed: u64) -> Corpus {
        Corpus { seed }
    }

    fn rng(&self, stream: u64, i: u64) -> Rng {
        Rng::new(self.seed, stream, i)
    }

    /// The message this one replies to, if it is a reply (~35%).
    fn parent(&self, i: u64) -> Option<u64> {
        let mut r = self.rng(1, i);
        if i == 0 || !r.chance(35) {
            return None;
        }
        Some(i - 1 - r.below(i.min(40)))
    }

    fn message_id(&self, i: u64) -> String {
        format!("<{i}.{:x}@bench.example>", self.seed)
    }

    /// The thread's subject (from its root).
    fn root_subject(&self, i: u64) -> String {
        let mut root = i;
        while let Some(p) = self.parent(root) {
            root = p;
        }
        let mut r = self.rng(2, root);
        if root % 40 == 13 {
            return format!(
                "Invoice {} for order {}",
                2024_0000 + root,
                r.below(90000) + 10000
            );
        }
        if r.chance(10) {
            return encode_word_q(r.pick::<&str>(INTL_SUBJECTS));
        }
        let n = 3 + r.below(6);
        let mut s = String::new();
        for k in 0..n {
            let w = r.pick(WORDS);
            if k == 0 {
                let mut c = w.chars();
                s.extend(c.next().map(|c| c.to_ascii_uppercase()));
                s.push_str(c.as_str());
            } else {
                s.push(' ');
                s.push_str(w);
            }
        }
        s
    }

    fn person(&self, r: &mut Rng, i: u64) -> String {
        if i % 50 == 7 {
            return "Quentin Quimby <quentin.quimby@example.com>".into();
        }
        if r.chance(15) {
            let name = r.pick(INTL);
            return format!(
                "{} <user{}@{}>",
                encode_word_b(name),
                r.below(100),
                r.pick(DOMAINS)
            );
        }
        let (f, l) = (r.pick(FIRST), r.pick(LAST));
        let d = r.pick(DOMAINS);
        if r.chance(10) {
            format!("{}.{}@{d}", f.to_lowercase(), l.to_lowercase())
        } else {
            format!(
                "\"{f} {l}\" <{}.{}@{d}>",
                f.to_lowercase(),
                l.to_lowercase()
            )
        }
    }

    fn head(&self, i: u64) -> Head {
        let mut r = self.rng(3, i);
        let from = self.person(&mut r, i);
        let subject = match self.parent(i) {
            Some(_) => format!("Re: {}", self.root_subject(i)),
            None => self.root_subject(i),
        };
        Head {
            from,
            subject,
            message_id: self.message_id(i),
        }
    }

    /// Seconds since the epoch of message `i`'s date.
    pub fn time(&self, i: u64) -> i64 {
        EPOCH0 + i as i64 * STEP + self.rng(4, i).below(STEP as u64) as i64
    }

    /// IMAP search date (`d-Mon-yyyy`) such that about the last 10% of
    /// `n` messages are on or after it.
    pub fn since_date(&self, n: u64) -> String {
        let (y, m, d, ..) = civil(EPOCH0 + (n * 9 / 10) as i64 * STEP);
        format!("{d}-{}-{y}", MONTHS[m as usize - 1])
    }

    /// Target size in bytes: mostly 1-8 KB, a tail up to 1 MB.
    fn target_size(r: &mut Rng) -> usize {
        let p = r.below(1000);
        let (lo, hi) = match p {
            0..=749 => (1_000, 6_000),
            750..=929 => (6_000, 40_000),
            930..=984 => (40_000, 200_000),
            _ => (200_000, 1_000_000),
        };
        (lo + r.below(hi - lo)) as usize
    }

    pub fn message(&self, i: u64) -> Message {
        let mut r = self.rng(5, i);
        let h = self.head(i);
        let t = self.time(i);
        let size = Self::target_size(&mut r);
        let rare = i % 100 == 42;
        let mut m = String::with_capacity(size + 2048);

        // Headers.
        m.push_str(&format!(
            "Return-Path: <bounce-{i}@bench.example>\r\nReceived: from mx{}.example.net (mx.example.net [192.0.2.{}])\r\n\tby imap.bench.example with ESMTPS id {:016x}\r\n\tfor <bench@bench.example>; {}\r\n",
            r.below(9),
            r.below(250) + 1,
            r.next(),
            rfc2822_date(t + 2)
        ));
        m.push_str(&format!(
            "Date: {}\r\nFrom: {}\r\n",
            rfc2822_date(t),
            h.from
        ));
        let mut to = vec!["Bench User <bench@bench.example>".to_string()];
        for _ in 0..r.below(3) {
            to.push(self.person(&mut r, i + 1));
        }
        m.push_str(&format!("To: {}\r\n", to.join(",\r\n    ")));
        if r.chance(20) {
            m.push_str(&format!("Cc: {}\r\n", self.person(&mut r, i + 3)));
        }
        m.push_str(&format!(
            "Subject: {}\r\nMessage-ID: {}\r\n",
            h.subject, h.message_id
        ));
        if let Some(p) = self.parent(i) {
            let mut refs = vec![self.message_id(p)];
            let mut a = p;
            while let Some(pp) = self.parent(a) {
                if refs.len() >= 10 {
                    break;
                }
                refs.push(self.message_id(pp));
                a = pp;
            }
            refs.reverse();
            m.push_str(&format!(
                "In-Reply-To: {}\r\nReferences: {}\r\n",
                self.message_id(p),
                refs.join("\r\n ")
            ));
        }
        m.push_str("MIME-Version: 1.0\r\n");
        if r.chance(30) {
            m.push_str(&format!(
                "X-Mailer: BenchMail {}.{}\r\n",
                r.below(9),
                r.below(20)
            ));
        }

        // Body: kind, forced to carry an attachment when large.
        let k = r.below(100);
        let kind = if size > 40_000 {
            if k < 70 { 2 } else { 3 }
        } else if k < 55 {
            0
        } else if k < 80 {
            1
        } else if k < 95 {
            2
        } else {
            3
        };
        let text_len = match kind {
            0 | 1 => size.saturating_sub(m.len() + 300).max(200),
            _ => (size / 10).clamp(300, 6000),
        };
        let text = paragraphs(&mut r, text_len, rare);
        let qp = r.chance(25);
        let b1 = format!("=_bench_{i}_a");
        let b2 = format!("=_bench_{i}_b");
        match kind {
            0 => {
                m.push_str(&text_headers("plain", qp));
                m.push_str("\r\n");
                m.push_str(&text_body(&text, qp));
            }
            1 => {
                m.push_str(&format!(
                    "Content-Type: multipart/alternative; boundary=\"{b1}\"\r\n\r\n"
                ));
                m.push_str("This is a multi-part message in MIME format.\r\n");
                alternative(&mut m, &b1, &text, qp);
            }
            _ => {
                m.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=\"{b1}\"\r\n\r\n"
                ));
                m.push_str(&format!("--{b1}\r\n"));
                if kind == 3 {
                    m.push_str(&format!(
                        "Content-Type: multipart/alternative; boundary=\"{b2}\"\r\n\r\n"
                    ));
                    alternative(&mut m, &b2, &text, qp);
                } else {
                    m.push_str(&text_headers("plain", qp));
                    m.push_str("\r\n");
                    m.push_str(&text_body(&text, qp));
                }
                let nattach = if r.chance(20) { 2 } else { 1 };
                let room = size.saturating_sub(m.len() + 400 * nattach);
                for a in 0..nattach {
                    let raw = (room / nattach) * 3 / 4;
                    attachment(&mut m, &mut r, &b1, i, a, raw.max(200));
                }
                m.push_str(&format!("--{b1}--\r\n"));
            }
        }

        let flags = match r.below(20) {
            0..=10 => "\\Seen",
            11 => "\\Seen \\Flagged",
            12..=13 => "\\Seen \\Answered",
            _ => "",
        };
        Message {
            bytes: m.into_bytes(),
            internal_date: imap_date(t),
            flags,
        }
    }
}

fn alternative(m: &mut String, boundary: &str, text: &str, qp: bool) {
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str(&text_headers("plain", qp));
    m.push_str("\r\n");
    m.push_str(&text_body(text, qp));
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str(&text_headers("html", qp));
    m.push_str("\r\n");
    let mut html = String::from("<html><head><meta charset=\"utf-8\"></head><body>\r\n");
    for p in text.split("\r\n\r\n").filter(|p| !p.is_empty()) {
        html.push_str("<p>");
        html.push_str(&p.replace("\r\n", " "));
        html.push_str("</p>\r\n");
    }
    html.push_str("</body></html>\r\n");
    m.push_str(&text_body(&html, qp));
    m.push_str(&format!("--{boundary}--\r\n"));
}

fn text_headers(sub: &str, qp: bool) -> String {
    let cte = if qp { "quoted-printable" } else { "7bit" };
    let cs = if qp { "utf-8" } else { "us-ascii" };
    format!("Content-Type: text/{sub}; charset={cs}\r\nContent-Transfer-Encoding: {cte}\r\n")
}

fn text_body(text: &str, qp: bool) -> String {
    if !qp {
        return text.to_string();
    }
    // Quoted-printable with a few non-ASCII words; the search words stay
    // plain ASCII so every server finds them.
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive("\r\n") {
        let body = line.trim_end_matches("\r\n");
        let mut col = 0;
        for (k, w) in body.split(' ').enumerate() {
            let enc = if w.len() == 6 && w != RARE_WORD {
                format!("caf=C3=A9{}", &w[..2])
            } else {
                w.to_string()
            };
            if k > 0 {
                if col + enc.len() + 1 > 72 {
                    out.push_str(" =\r\n");
                    col = 0;
                } else {
                    out.push(' ');
                    col += 1;
                }
            }
            out.push_str(&enc);
            col += enc.len();
        }
        if line.ends_with("\r\n") {
            out.push_str("\r\n");
        }
    }
    out
}

/// Text of about `len` bytes in 72-column lines and paragraphs.
fn paragraphs(r: &mut Rng, len: usize, rare: bool) -> String {
    let mut s = String::with_capacity(len + 100);
    s.push_str("Hello,\r\n\r\n");
    let mut col = 0;
    let mut in_par = 0;
    let rare_at = if rare {
        r.below(len as u64 / 2 + 1) as usize
    } else {
        usize::MAX
    };
    let mut rare_done = !rare;
    while s.len() < len {
        let w: &str = if !rare_done && s.len() >= rare_at {
            rare_done = true;
            RARE_WORD
        } else {
            r.pick::<&str>(WORDS)
        };
        if col + w.len() + 1 > 72 {
            s.push_str("\r\n");
            col = 0;
            in_par += 1;
            if in_par > 3 + r.below(6) as usize {
                s.push_str("\r\n");
                in_par = 0;
            }
        } else if col > 0 {
            s.push(' ');
            col += 1;
        }
        s.push_str(w);
        col += w.len();
    }
    if !rare_done {
        s.push(' ');
        s.push_str(RARE_WORD);
    }
    s.push_str("\r\n\r\nRegards,\r\nThe bench\r\n");
    s
}

fn attachment(m: &mut String, r: &mut Rng, boundary: &str, i: u64, a: usize, raw: usize) {
    let (ctype, name) = match r.below(5) {
        0 => ("application/pdf", format!("report-{i}-{a}.pdf")),
        1 => ("image/jpeg", format!("photo-{i}-{a}.jpg")),
        2 => ("image/png", format!("chart-{i}-{a}.png")),
        3 => ("application/zip", format!("archive-{i}-{a}.zip")),
        _ => ("application/octet-stream", String::new()),
    };
    m.push_str(&format!("--{boundary}\r\n"));
    if name.is_empty() {
        // RFC 2231 encoded file name.
        m.push_str(&format!(
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*=UTF-8''r%C3%A9sum%C3%A9-{i}.bin\r\n"
        ));
    } else {
        m.push_str(&format!(
            "Content-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n"
        ));
    }
    m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    let mut bytes = Vec::with_capacity(raw + 8);
    while bytes.len() < raw {
        bytes.extend_from_slice(&r.next().to_le_bytes());
    }
    bytes.truncate(raw);
    let b64 = base64(&bytes);
    for chunk in b64.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        m.push_str("\r\n");
    }
}

pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// RFC 2047 B encoding.
fn encode_word_b(s: &str) -> String {
    format!("=?UTF-8?B?{}?=", base64(s.as_bytes()))
}

/// RFC 2047 Q encoding.
fn encode_word_q(s: &str) -> String {
    let mut out = String::from("=?UTF-8?Q?");
    for b in s.bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// (year, month, day, hour, minute, second, weekday index from Thursday).
fn civil(t: i64) -> (i64, u32, u32, i64, i64, i64, usize) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        days.rem_euclid(7) as usize,
    )
}

fn rfc2822_date(t: i64) -> String {
    let (y, mo, d, h, mi, s, wd) = civil(t);
    format!(
        "{}, {d} {} {y} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[wd],
        MONTHS[mo as usize - 1]
    )
}

fn imap_date(t: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!(
        "{d:02}-{}-{y} {h:02}:{mi:02}:{s:02} +0000",
        MONTHS[mo as usize - 1]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let c = Corpus::new(7);
        for i in [0, 1, 42, 57, 999] {
            let a = c.message(i);
            let b = c.message(i);
            assert_eq!(a.bytes, b.bytes);
            let s = String::from_utf8(a.bytes).unwrap();
            assert!(s.is_ascii(), "message {i} is 7-bit");
            assert!(
                !s.replace("\r\n", "").contains('\n'),
                "message {i}: bare LF"
            );
            assert!(s.contains("\r\n\r\n"));
            assert!(s.starts_with("Return-Path: "));
        }
    }

    #[test]
    fn mix_of_sizes_and_searchable_words() {
        let c = Corpus::new(1);
        let n = 2000;
        let (mut small, mut big, mut rare, mut max) = (0, 0, 0, 0);
        for i in 0..n {
            let m = c.message(i);
            let len = m.bytes.len();
            max = max.max(len);
            small += usize::from(len < 10_000);
            big += usize::from(len > 100_000);
            rare += usize::from(String::from_utf8_lossy(&m.bytes).contains(RARE_WORD));
        }
        assert!(small > n as usize / 2, "mostly small: {small}");
        assert!(
            big > 0 && max <= 1_100_000,
            "a tail of large ones: {big}, max {max}"
        );
        assert_eq!(rare, n as usize / 100);
    }

    #[test]
    fn dates() {
        assert_eq!(rfc2822_date(EPOCH0), "Mon, 1 Jan 2024 00:00:00 +0000");
        assert_eq!(
            imap_date(EPOCH0 + 86400 * 60 + 3661),
            "01-Mar-2024 01:01:01 +0000"
        );
        assert_eq!(Corpus::new(1).since_date(10), "1-Jan-2024");
    }

    #[test]
    fn encodings() {
        assert_eq!(base64(b"Zo\xc3\xab"), "Wm/Dqw==");
        assert_eq!(encode_word_q("Café x"), "=?UTF-8?Q?Caf=C3=A9_x?=");
    }
}
