//! The incremental command reader: bytes arrive in any chunking; it
//! assembles complete commands (the line plus its literals), asks for
//! synchronizing literals with `+ go ahead`, and enforces Cyrus's limits
//! (cyrus-compat 2.7) as the bytes arrive, so no input can grow memory
//! without bound.
//!
//! It tokenizes only as far as the limits need: words (atoms, tags, the
//! command name), quoted strings, and the literal announcement at the end
//! of a line (`{N}`, `{N+}` rfc7888, `~{N}` rfc3516 literal8). Everything
//! else is left to [`super::parser`], which sees the finished command.

use serde::{Deserialize, Serialize};

use crate::settings::Settings;

/// The continuation request for a synchronizing literal (rfc9051 7.5).
pub const GO_AHEAD: &[u8] = b"+ go ahead\r\n";

/// The largest APPEND literal ever accepted (cyrus-compat 2.7: the
/// advertised APPENDLIMIT when maxmessagesize is unset).
pub const MAX_APPEND: u64 = 4_294_967_295;

/// rfc7888 5: under LITERAL- (`literalminus`), the largest
/// non-synchronizing literal a client may send.
pub const LITERAL_MINUS_MAX: u64 = 4096;

/// The text of the tagged BAD for a non-synchronizing literal over
/// [`LITERAL_MINUS_MAX`] (Cyrus's `IMAP_LITERAL_MINUS_TOO_LARGE`).
pub const LITERAL_MINUS_TEXT: &str = "[TOOBIG] Non-synchronizing literal size exceeds 4K";

/// A line, without its literals, never gets longer than this no matter how
/// the word and quoted limits are set: garbage without a line end is cut off.
const LINE_FLOOR: usize = 1 << 20;
/// One command's text and literals together (APPEND message literals
/// excepted): the guest's memory is capped by the host, so keep well under.
const COMMAND_CAP: usize = 64 << 20;

/// Limits derived from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest atom or tag (`maxword`); 0 = none of its own.
    pub max_word: u64,
    /// Longest quoted string (`maxquoted`); 0 = none of its own.
    pub max_quoted: u64,
    /// Largest literal (`maxliteral`); 0 = none of its own.
    pub max_literal: u64,
    /// Largest APPEND message literal (`maxmessagesize`, capped at 2^32-1).
    pub max_message: u64,
    /// Longest text of one command (all its lines, literals excluded).
    pub max_line: usize,
    /// Text plus literals of one command, APPEND messages excluded.
    pub max_command: usize,
    /// LITERAL- (rfc7888 5): non-synchronizing literals over
    /// [`LITERAL_MINUS_MAX`] are refused.
    pub literal_minus: bool,
}

impl Limits {
    pub fn from_settings(s: &Settings) -> Limits {
        let max_message = if s.max_message_size == 0 {
            MAX_APPEND
        } else {
            s.max_message_size.min(MAX_APPEND)
        };
        let cap = |v: u32| {
            if v == 0 {
                16 << 20
            } else {
                (v as usize).min(16 << 20)
            }
        };
        let max_line = (cap(s.max_word) + cap(s.max_quoted) + (64 << 10)).max(LINE_FLOOR);
        Limits {
            max_word: u64::from(s.max_word),
            max_quoted: u64::from(s.max_quoted),
            max_literal: u64::from(s.max_literal),
            max_message,
            max_line,
            max_command: COMMAND_CAP.max(max_line),
            literal_minus: crate::capability::literal_minus(s),
        }
    }
}

/// Why the connection must be closed (`* BYE <text>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fatal {
    WordTooLong,
    QuotedTooLong,
    /// A non-synchronizing literal over the limit.
    LiteralTooBig,
    /// A line or command over the hard caps.
    CommandTooLong,
}

impl Fatal {
    /// The text after `* BYE ` (cyrus-compat 2.7).
    pub fn text(self) -> &'static str {
        match self {
            Fatal::WordTooLong => "[TOOBIG] Word too long",
            Fatal::QuotedTooLong => "[TOOBIG] Quoted value too long",
            Fatal::LiteralTooBig => "[TOOBIG] Literal size exceeds fixed limit",
            Fatal::CommandTooLong => "[TOOBIG] Command line too long",
        }
    }
}

/// What the reader produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete command: the raw bytes from the tag through the final
    /// line end, literals included, ready for the parser.
    Command(Vec<u8>),
    /// Send [`GO_AHEAD`]: a synchronizing literal within limits was announced.
    GoAhead,
    /// A synchronizing literal over the limit: the client will not send it,
    /// so the command is dropped. Reply
    /// `<tag> NO [TOOBIG] Literal size exceeds fixed limit in <command>`.
    /// Also the end of an APPEND whose non-synchronizing message literal
    /// was over `maxmessagesize` and has been read past (see
    /// [`Reader::end_of_line`]).
    LiteralRefused { tag: String, command: String },
    /// LITERAL- (rfc7888 5): a non-synchronizing literal over
    /// [`LITERAL_MINUS_MAX`], read past together with the rest of its
    /// command (rfc7888 4, choice 1). Reply `<tag> BAD` [`LITERAL_MINUS_TEXT`].
    NonSyncTooBig { tag: String },
    /// A raw line (a SASL response, rfc9051 6.2.2), without its line end.
    Line(Vec<u8>),
    /// Close the connection after `* BYE <text>`.
    Fatal(Fatal),
}

/// Where the scanner is inside the current command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
enum Scan {
    /// Between tokens.
    #[default]
    Between,
    /// Inside a word that started at `start` (relative to the command);
    /// `shape` tracks whether it still looks like a literal announcement,
    /// which is not a word and so not subject to `maxword`.
    Word {
        start: usize,
        len: u64,
        shape: Shape,
    },
    /// Inside a quoted string.
    Quoted { len: u64, escaped: bool },
    /// Inside a literal with this many bytes still to come.
    Literal { remaining: u64 },
}

/// How much of `["~"] "{" 1*DIGIT ["+"] "}"` a word has matched so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Shape {
    Tilde,
    Brace,
    Digits,
    Plus,
    Closed,
    NotLiteral,
}

impl Shape {
    fn start(b: u8) -> Shape {
        match b {
            b'~' => Shape::Tilde,
            b'{' => Shape::Brace,
            _ => Shape::NotLiteral,
        }
    }

    fn next(self, b: u8) -> Shape {
        match (self, b) {
            (Shape::Tilde, b'{') => Shape::Brace,
            (Shape::Brace | Shape::Digits, b'0'..=b'9') => Shape::Digits,
            (Shape::Digits, b'+') => Shape::Plus,
            (Shape::Digits | Shape::Plus, b'}') => Shape::Closed,
            _ => Shape::NotLiteral,
        }
    }
}

/// The reader; serializable so a session can be snapshotted mid-command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Reader {
    /// Unconsumed input: the current command starts at `start`.
    #[serde(with = "super::base64::serde_bytes")]
    buf: Vec<u8>,
    start: usize,
    /// How far (relative to `start`) the current command has been scanned.
    scanned: usize,
    scan: Scan,
    /// Start of the current line, relative to `start`.
    line_start: usize,
    /// Words started in this command (the tag is 1, the command name 2).
    words: u32,
    /// The last complete word: (start, end) relative to `start`.
    last_word: (usize, usize),
    /// Bytes of command text (all lines, literals excluded).
    text_len: usize,
    /// Text plus literals that count toward `max_command`.
    counted_len: usize,
    /// A fatal error was reported: input is ignored from then on.
    dead: bool,
    /// The current command was refused (an APPEND message literal over
    /// `maxmessagesize` sent non-synchronizing): (tag, command name) for
    /// the reply once the rest of it has been read past.
    refused: Option<(String, String)>,
    /// The refusal is LITERAL-'s ([`Event::NonSyncTooBig`]).
    refused_minus: bool,
    /// The literal being scanned is dropped from the buffer as it arrives
    /// instead of being kept for the parser.
    discarding: bool,
}

impl Reader {
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Whether every position lies inside the buffer, as the reader itself
    /// always leaves them: a restored snapshot is input like any other, and
    /// one that is not consistent is refused rather than indexed out of
    /// range (found by the `snapshot_restore` fuzz target).
    pub fn is_consistent(&self) -> bool {
        let Some(pending) = self.buf.len().checked_sub(self.start) else {
            return false;
        };
        let word = match self.scan {
            Scan::Word { start, .. } => start <= self.scanned,
            _ => true,
        };
        self.scanned <= pending
            && self.line_start <= self.scanned
            && self.last_word.0 <= self.last_word.1
            && self.last_word.1 <= self.scanned
            && word
    }

    /// Add bytes from the client.
    pub fn push(&mut self, data: &[u8]) {
        if self.dead {
            return;
        }
        if self.start > 0 && (self.start >= 64 << 10 || self.start * 2 >= self.buf.len()) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received but not yet handed out as part of an event.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Forget everything buffered, complete or not (after STARTTLS,
    /// rfc2595 3.1: plaintext pipelined behind it must not be executed).
    pub fn discard(&mut self) {
        *self = Reader::default();
    }

    /// The connection ends: nothing buffered will ever be read.
    fn fatal(&mut self, fatal: Fatal) -> Event {
        self.discard();
        self.dead = true;
        Event::Fatal(fatal)
    }

    fn reset_command(&mut self, consumed: usize) {
        self.start += consumed;
        self.scanned = 0;
        self.scan = Scan::Between;
        self.line_start = 0;
        self.words = 0;
        self.last_word = (0, 0);
        self.text_len = 0;
        self.counted_len = 0;
        self.refused = None;
        self.refused_minus = false;
        self.discarding = false;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    fn take(&mut self, len: usize) -> Vec<u8> {
        let bytes = self.buf[self.start..self.start + len].to_vec();
        self.reset_command(len);
        bytes
    }

    /// The next raw line (for SASL exchanges), or `None` until one is complete.
    pub fn next_line(&mut self, limits: &Limits) -> Option<Event> {
        let pending = &self.buf[self.start..];
        match pending[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let end = self.scanned + i + 1;
                let mut line = self.take(end);
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(Event::Line(line))
            }
            None => {
                self.scanned = pending.len();
                if pending.len() > limits.max_line {
                    Some(self.fatal(Fatal::CommandTooLong))
                } else {
                    None
                }
            }
        }
    }

    /// The next event of command mode, or `None` until more input arrives.
    pub fn next_command(&mut self, limits: &Limits) -> Option<Event> {
        loop {
            let pending_len = self.buf.len() - self.start;
            if self.scanned >= pending_len {
                return None;
            }
            if let Scan::Literal { remaining } = self.scan {
                let avail = (pending_len - self.scanned) as u64;
                let step = avail.min(remaining);
                if self.discarding {
                    // Memory stays bounded however large the literal is.
                    let at = self.start + self.scanned;
                    self.buf.drain(at..at + step as usize);
                } else {
                    self.scanned += step as usize;
                }
                if step < remaining {
                    self.scan = Scan::Literal {
                        remaining: remaining - step,
                    };
                    return None;
                }
                self.scan = Scan::Between;
                self.discarding = false;
                continue;
            }
            let pos = self.scanned;
            let b = self.buf[self.start + pos];
            self.scanned += 1;
            self.text_len += 1;
            self.counted_len += 1;
            if self.text_len > limits.max_line || self.counted_len > limits.max_command {
                return Some(self.fatal(Fatal::CommandTooLong));
            }
            match self.scan {
                Scan::Quoted { len, escaped } => match b {
                    b'\n' => {
                        // Unterminated: the line ends anyway; the parser says BAD.
                        self.scan = Scan::Between;
                        if let Some(event) = self.end_of_line(limits) {
                            return Some(event);
                        }
                    }
                    b'\\' if !escaped => {
                        self.scan = Scan::Quoted { len, escaped: true };
                    }
                    b'"' if !escaped => self.scan = Scan::Between,
                    _ => {
                        let len = len + 1;
                        if limits.max_quoted != 0 && len > limits.max_quoted {
                            return Some(self.fatal(Fatal::QuotedTooLong));
                        }
                        self.scan = Scan::Quoted {
                            len,
                            escaped: false,
                        };
                    }
                },
                Scan::Between | Scan::Word { .. } => {
                    if let Scan::Word { start, .. } = self.scan
                        && is_delimiter(b)
                    {
                        self.last_word = (start, pos);
                    }
                    match b {
                        b'\n' => {
                            self.scan = Scan::Between;
                            if let Some(event) = self.end_of_line(limits) {
                                return Some(event);
                            }
                        }
                        b' ' | b'\r' | b'(' | b')' => self.scan = Scan::Between,
                        b'"' => {
                            // A quoted string is one word (e.g. APPEND's
                            // mailbox: its message literal comes after).
                            if self.scan == Scan::Between {
                                self.words += 1;
                            }
                            self.scan = Scan::Quoted {
                                len: 0,
                                escaped: false,
                            }
                        }
                        _ => {
                            let (start, len, shape) = match self.scan {
                                Scan::Word { start, len, shape } => (start, len + 1, shape.next(b)),
                                _ => {
                                    self.words += 1;
                                    (pos, 1, Shape::start(b))
                                }
                            };
                            if shape == Shape::NotLiteral
                                && limits.max_word != 0
                                && len > limits.max_word
                            {
                                return Some(self.fatal(Fatal::WordTooLong));
                            }
                            self.scan = Scan::Word { start, len, shape };
                        }
                    }
                }
                // Handled before a byte is taken.
                Scan::Literal { .. } => {}
            }
        }
    }

    /// A line end was just scanned (the LF at `scanned - 1`): either the
    /// command is complete, or the line announces a literal. `None`: a
    /// non-synchronizing literal follows, keep scanning.
    fn end_of_line(&mut self, limits: &Limits) -> Option<Event> {
        let cmd = &self.buf[self.start..self.start + self.scanned];
        let mut end = cmd.len() - 1;
        if end > self.line_start && cmd[end - 1] == b'\r' {
            end -= 1;
        }
        let line = &cmd[self.line_start..end];
        let announcement = parse_announcement(line).filter(|a| {
            // The whole last word, and not the tag or command name: Cyrus
            // only reads literals where an argument may stand.
            let word_start = self.line_start + a.offset;
            self.words >= 3 && self.last_word == (word_start, end)
        });
        let Some(lit) = announcement else {
            if let Some((tag, command)) = self.refused.take() {
                return Some(self.end_refused(tag, command));
            }
            let len = self.scanned;
            return Some(Event::Command(self.take(len)));
        };
        if self.refused.is_some() {
            // The command is already refused: read past any further
            // non-synchronizing literal (MULTIAPPEND), and answer now
            // instead of inviting a synchronizing one.
            if lit.non_sync {
                self.discard_literal(lit.len);
                return None;
            }
            let (tag, command) = self.refused.take().unwrap_or_default();
            return Some(self.end_refused(tag, command));
        }
        let (tag, name) = tag_and_name(cmd);
        // rfc9051 6.3.12 / cyrus-compat 2.7: APPEND's message literals are
        // limited by maxmessagesize; its mailbox name (the third word) is not
        // a message.
        let is_message = name.eq_ignore_ascii_case(b"APPEND") && self.words > 3;
        let room = (limits.max_command - self.counted_len.min(limits.max_command)) as u64;
        let over = if is_message {
            lit.len > limits.max_message
        } else {
            (limits.max_literal != 0 && lit.len > limits.max_literal) || lit.len > room
        };
        // rfc7888 5: LITERAL- allows no non-synchronizing literal over 4096
        // bytes, in any command.
        let minus = lit.non_sync && limits.literal_minus && lit.len > LITERAL_MINUS_MAX;
        if over || minus {
            let tag = String::from_utf8_lossy(tag).into_owned();
            let command = crate::commands::display_name(name);
            if lit.non_sync {
                if over && !is_message {
                    // cyrus-compat 2.7: `{N+}` over maxliteral is fatal.
                    return Some(self.fatal(Fatal::LiteralTooBig));
                }
                // An APPEND message over maxmessagesize (rfc7889 APPENDLIMIT)
                // sent with LITERAL+ (rfc7888): the client sends the bytes
                // anyway. Closing now would reset the connection under the
                // client's writes and lose the reply; instead read past the
                // literal (dropping it) and the rest of the command, then
                // answer `<tag> NO [TOOBIG]` and carry on, as for a
                // synchronizing literal. The literal's length is bounded
                // (MAX_APPEND), and nothing of it is kept.
                // LITERAL- refuses any command this way (rfc7888 5 refers
                // to 4, choice 1; a BYE would be lost the same way),
                // answering `BAD [TOOBIG]` as rfc7888 5 asks of APPEND; it
                // wins over maxmessagesize, as in Cyrus.
                self.refused = Some((tag, command));
                self.refused_minus = minus;
                self.discard_literal(lit.len);
                return None;
            }
            let len = self.scanned;
            self.reset_command(len);
            return Some(Event::LiteralRefused { tag, command });
        }
        if !is_message {
            self.counted_len += lit.len as usize;
        }
        self.scan = Scan::Literal { remaining: lit.len };
        self.line_start = self.scanned;
        // rfc7888 3: a non-synchronizing literal gets no continuation request.
        (!lit.non_sync).then_some(Event::GoAhead)
    }
}

impl Reader {
    /// The end of a command refused while it was read past (see
    /// [`Reader::end_of_line`]): the event for its reply.
    fn end_refused(&mut self, tag: String, command: String) -> Event {
        let minus = self.refused_minus;
        let len = self.scanned;
        self.reset_command(len);
        if minus {
            Event::NonSyncTooBig { tag }
        } else {
            Event::LiteralRefused { tag, command }
        }
    }

    /// Skip the literal of `len` bytes that follows, keeping none of it.
    fn discard_literal(&mut self, len: u64) {
        self.discarding = true;
        self.scan = Scan::Literal { remaining: len };
        self.line_start = self.scanned;
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n' | b'(' | b')' | b'"')
}

struct Announcement {
    /// Where the announcement starts in the line.
    offset: usize,
    len: u64,
    non_sync: bool,
}

/// rfc9051 9 literal / rfc7888 literal+ / rfc3516 literal8, at the end of `line`:
/// `["~"] "{" number ["+"] "}"`.
fn parse_announcement(line: &[u8]) -> Option<Announcement> {
    let rest = line.strip_suffix(b"}")?;
    let (rest, non_sync) = match rest.strip_suffix(b"+") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let digits = rest.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let (rest, number) = rest.split_at(rest.len() - digits);
    let rest = rest.strip_suffix(b"{")?;
    let offset = match rest.strip_suffix(b"~") {
        Some(r) => r.len(),
        None => rest.len(),
    };
    // Saturate: anything that does not fit is over every limit anyway.
    let len = number.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Announcement {
        offset,
        len,
        non_sync,
    })
}

/// The first two words of a command (tag and name), as Cyrus's getword
/// splits them.
fn tag_and_name(cmd: &[u8]) -> (&[u8], &[u8]) {
    let word = |s: &[u8]| s.iter().position(|&b| is_delimiter(b)).unwrap_or(s.len());
    let tag_end = word(cmd);
    let tag = &cmd[..tag_end];
    let rest = cmd.get(tag_end + 1..).unwrap_or(&[]);
    (tag, &rest[..word(rest)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::from_settings(&Settings {
            max_word: 10,
            max_quoted: 10,
            max_literal: 10,
            max_message_size: 20,
            ..Settings::default()
        })
    }

    fn events(input: &[u8]) -> Vec<Event> {
        let mut r = Reader::new();
        r.push(input);
        std::iter::from_fn(|| r.next_command(&limits())).collect()
    }

    fn cmd(s: &[u8]) -> Event {
        Event::Command(s.to_vec())
    }

    #[test]
    fn lines_and_pipelining() {
        assert_eq!(
            events(b"a NOOP\r\nb NOOP\nc NO"),
            vec![cmd(b"a NOOP\r\n"), cmd(b"b NOOP\n")]
        );
    }

    #[test]
    fn literals() {
        assert_eq!(
            events(b"a LOGIN {3}\r\nabc {2+}\r\nxy\r\n"),
            vec![Event::GoAhead, cmd(b"a LOGIN {3}\r\nabc {2+}\r\nxy\r\n")]
        );
        // Literal bytes are not scanned: a line end inside does not end it.
        assert_eq!(
            events(b"a X ~{4}\n\r\n\0\"\r\n"),
            vec![Event::GoAhead, cmd(b"a X ~{4}\n\r\n\0\"\r\n")]
        );
        // Not an announcement: tag or name position, or not a whole word.
        assert_eq!(events(b"{5}\r\n"), vec![cmd(b"{5}\r\n")]);
        assert_eq!(events(b"a {5}\r\n"), vec![cmd(b"a {5}\r\n")]);
        assert_eq!(events(b"a X x{5}\r\n"), vec![cmd(b"a X x{5}\r\n")]);
        assert_eq!(events(b"a X \"{5}\"\r\n"), vec![cmd(b"a X \"{5}\"\r\n")]);
        assert_eq!(events(b"a X {}\r\n"), vec![cmd(b"a X {}\r\n")]);
    }

    #[test]
    fn literal_limits() {
        assert_eq!(
            events(b"a login {11}\r\nb NOOP\r\n"),
            vec![
                Event::LiteralRefused {
                    tag: "a".into(),
                    command: "Login".into()
                },
                cmd(b"b NOOP\r\n")
            ]
        );
        assert_eq!(
            events(b"a LOGIN {11+}\r\n"),
            vec![Event::Fatal(Fatal::LiteralTooBig)]
        );
        assert_eq!(
            events(b"a LOGIN {99999999999999999999999}\r\n"),
            vec![Event::LiteralRefused {
                tag: "a".into(),
                command: "Login".into()
            }]
        );
        // APPEND: the mailbox is an ordinary literal, the message is not.
        assert_eq!(
            events(b"a APPEND {11}\r\n"),
            vec![Event::LiteralRefused {
                tag: "a".into(),
                command: "Append".into()
            }]
        );
        assert_eq!(events(b"a APPEND INBOX {20}\r\n"), vec![Event::GoAhead]);
        // A quoted mailbox name is a word like any other: the literal after
        // it is the message, limited by maxmessagesize, not maxliteral.
        let quoted = b"a APPEND \"INBOX\" () {15}\r\n";
        assert_eq!(events(quoted), vec![Event::GoAhead]);
        assert_eq!(events(b"a APPEND \"INBOX\" {15}\r\n"), vec![Event::GoAhead]);
        // A non-synchronizing message over maxmessagesize is read past and
        // refused; the session goes on (rfc7889, rfc7888).
        let refused = Event::LiteralRefused {
            tag: "a".into(),
            command: "Append".into(),
        };
        let big = b"a APPEND INBOX {21+}\r\n123456789012345678901\r\nb NOOP\r\n";
        assert_eq!(events(big), vec![refused.clone(), cmd(b"b NOOP\r\n")]);
        // Byte by byte too, and memory is not kept for the literal.
        let mut r = Reader::new();
        let mut got = Vec::new();
        for &b in big.iter() {
            r.push(&[b]);
            got.extend(std::iter::from_fn(|| r.next_command(&limits())));
            assert!(r.buffered() < 24, "{}", r.buffered());
        }
        assert_eq!(got, vec![refused.clone(), cmd(b"b NOOP\r\n")]);
        // MULTIAPPEND: later non-synchronizing literals are skipped too; a
        // synchronizing one gets the refusal instead of `+ go ahead`.
        assert_eq!(
            events(b"a APPEND INBOX {21+}\r\n123456789012345678901 {2+}\r\nxy\r\nb NOOP\r\n"),
            vec![refused.clone(), cmd(b"b NOOP\r\n")]
        );
        assert_eq!(
            events(b"a APPEND INBOX {21+}\r\n123456789012345678901 {2}\r\nb NOOP\r\n"),
            vec![refused.clone(), cmd(b"b NOOP\r\n")]
        );
        assert_eq!(
            events(b"a APPEND INBOX (\\Seen) {21}\r\n"),
            vec![Event::LiteralRefused {
                tag: "a".into(),
                command: "Append".into()
            }]
        );
    }

    /// `literalminus: yes`, maxliteral 8000, maxmessagesize 10000.
    fn minus_limits() -> Limits {
        Limits::from_settings(&Settings {
            max_literal: 8000,
            max_message_size: 10000,
            options: vec![("literalminus".into(), "1".into())],
            ..Settings::default()
        })
    }

    fn minus_events(input: &[u8]) -> Vec<Event> {
        let mut r = Reader::new();
        r.push(input);
        std::iter::from_fn(|| r.next_command(&minus_limits())).collect()
    }

    /// `tag X {n+}` CRLF, n bytes, then `rest`.
    fn non_sync(tag: &str, command: &str, n: usize, rest: &str) -> Vec<u8> {
        let mut v = format!("{tag} {command} {{{n}+}}\r\n").into_bytes();
        v.extend(std::iter::repeat_n(b'x', n));
        v.extend_from_slice(rest.as_bytes());
        v
    }

    #[test]
    fn literal_minus() {
        assert!(minus_limits().literal_minus);
        assert!(!limits().literal_minus);
        let too_big = |tag: &str| Event::NonSyncTooBig { tag: tag.into() };
        // rfc7888 5: up to 4096 bytes is fine.
        let ok = non_sync("a", "LOGIN", 4096, " x\r\n");
        assert_eq!(minus_events(&ok), vec![cmd(&ok)]);
        // 4097 is refused, after the literal and the rest of the command
        // are read past (rfc7888 4, choice 1); the session goes on.
        let input = non_sync("a", "LOGIN", 4097, " x\r\nb NOOP\r\n");
        assert_eq!(minus_events(&input), vec![too_big("a"), cmd(b"b NOOP\r\n")]);
        // literal8 (rfc7888 6) and APPEND's message (rfc7888 5, 7) alike,
        // even within maxmessagesize; byte by byte, keeping none of it.
        let mut input = b"a APPEND INBOX ~{5000+}\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\r\nb NOOP\r\n");
        assert_eq!(minus_events(&input), vec![too_big("a"), cmd(b"b NOOP\r\n")]);
        let input = non_sync("a", "APPEND INBOX", 5000, "\r\nb NOOP\r\n");
        let mut r = Reader::new();
        let mut got = Vec::new();
        for &b in &input {
            r.push(&[b]);
            got.extend(std::iter::from_fn(|| r.next_command(&minus_limits())));
            assert!(r.buffered() < 40, "{}", r.buffered());
        }
        assert_eq!(got, vec![too_big("a"), cmd(b"b NOOP\r\n")]);
        // Over maxmessagesize as well: LITERAL-'s reply, as in Cyrus.
        let input = non_sync("a", "APPEND INBOX", 10001, "\r\n");
        assert_eq!(minus_events(&input), vec![too_big("a")]);
        // MULTIAPPEND: a synchronizing literal after the refused one gets
        // the reply instead of `+ go ahead`.
        let input = non_sync("a", "APPEND INBOX", 4097, " {10}\r\nb NOOP\r\n");
        assert_eq!(minus_events(&input), vec![too_big("a"), cmd(b"b NOOP\r\n")]);
        // Synchronizing literals are not limited by LITERAL-.
        assert_eq!(minus_events(b"a LOGIN {5000}\r\n"), vec![Event::GoAhead]);
        // Over maxliteral, `{N+}` outside APPEND stays fatal.
        assert_eq!(
            minus_events(b"a LOGIN {8001+}\r\n"),
            vec![Event::Fatal(Fatal::LiteralTooBig)]
        );
        // Without literalminus, LITERAL+ takes any size up to the limits.
        let lim = Limits {
            literal_minus: false,
            ..minus_limits()
        };
        let plus = non_sync("a", "LOGIN", 5000, " x\r\n");
        let mut r = Reader::new();
        r.push(&plus);
        assert_eq!(r.next_command(&lim), Some(cmd(&plus)));
    }

    #[test]
    fn word_and_quoted_limits() {
        assert_eq!(events(b"a NOOP 0123456789\r\n").len(), 1);
        assert_eq!(
            events(b"a NOOP 01234567890"),
            vec![Event::Fatal(Fatal::WordTooLong)]
        );
        assert_eq!(
            events(b"01234567890 NOOP\r\n"),
            vec![Event::Fatal(Fatal::WordTooLong)]
        );
        assert_eq!(events(b"a X \"01234\\\"6789\"\r\n").len(), 1);
        assert_eq!(
            events(b"a X \"01234567890"),
            vec![Event::Fatal(Fatal::QuotedTooLong)]
        );
    }

    #[test]
    fn line_cap() {
        let limits = limits();
        let mut r = Reader::new();
        r.push(&b"a ".repeat(limits.max_line));
        assert_eq!(
            r.next_command(&limits),
            Some(Event::Fatal(Fatal::CommandTooLong))
        );
    }

    #[test]
    fn raw_lines() {
        let mut r = Reader::new();
        r.push(b"abc\r\nde");
        assert_eq!(r.next_line(&limits()), Some(Event::Line(b"abc".to_vec())));
        assert_eq!(r.next_line(&limits()), None);
        r.push(b"f\n");
        assert_eq!(r.next_line(&limits()), Some(Event::Line(b"def".to_vec())));
    }

    #[test]
    fn discard() {
        let mut r = Reader::new();
        r.push(b"a NOOP\r\nb NO");
        r.discard();
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.next_command(&limits()), None);
    }

    proptest::proptest! {
        /// Any chunking gives the same events.
        #[test]
        fn chunking_is_invisible(data: Vec<u8>, cuts: Vec<usize>) {
            let whole = events(&data);
            let mut r = Reader::new();
            let mut got = Vec::new();
            let mut rest = &data[..];
            for cut in cuts {
                let (chunk, tail) = rest.split_at(cut % (rest.len() + 1));
                r.push(chunk);
                rest = tail;
                got.extend(std::iter::from_fn(|| r.next_command(&limits())));
            }
            r.push(rest);
            got.extend(std::iter::from_fn(|| r.next_command(&limits())));
            proptest::prop_assert_eq!(got, whole);
        }
    }
}
