//! The stress client's side of the wire: one blocking connection, reading
//! whole responses (literals included) and splitting them into tokens.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One token of a server response (RFC 9051 section 9, the parts a client
/// needs to check): atoms (with any `[...]` section kept inside the atom),
/// strings (quoted or literal), NIL and parenthesised lists.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Atom(String),
    Str(Vec<u8>),
    Nil,
    List(Vec<Tok>),
}

impl Tok {
    pub fn atom(&self) -> Option<&str> {
        match self {
            Tok::Atom(a) => Some(a),
            _ => None,
        }
    }
    pub fn num(&self) -> Option<u64> {
        self.atom().and_then(|a| a.parse().ok())
    }
    pub fn list(&self) -> Option<&[Tok]> {
        match self {
            Tok::List(l) => Some(l),
            _ => None,
        }
    }
    /// A string's bytes; NIL is None.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Tok::Str(s) => Some(s),
            Tok::Atom(a) => Some(a.as_bytes()),
            _ => None,
        }
    }
}

/// Split one response (the bytes up to its final CRLF, literals inline)
/// into tokens. Errors name what was malformed.
pub fn tokenize(raw: &[u8]) -> Result<Vec<Tok>, String> {
    let mut at = 0;
    let toks = list_body(raw, &mut at, false)?;
    Ok(toks)
}

fn list_body(raw: &[u8], at: &mut usize, nested: bool) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    loop {
        while *at < raw.len() && (raw[*at] == b' ' || raw[*at] == b'\r' || raw[*at] == b'\n') {
            *at += 1;
        }
        if *at >= raw.len() {
            if nested {
                return Err("unbalanced '(' in response".into());
            }
            return Ok(out);
        }
        match raw[*at] {
            b'(' => {
                *at += 1;
                out.push(Tok::List(list_body(raw, at, true)?));
            }
            b')' => {
                if !nested {
                    return Err(format!("unbalanced ')' at byte {at}"));
                }
                *at += 1;
                return Ok(out);
            }
            b'"' => {
                *at += 1;
                let mut s = Vec::new();
                loop {
                    match raw.get(*at) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'\\') => {
                            s.push(*raw.get(*at + 1).ok_or("dangling backslash")?);
                            *at += 2;
                        }
                        Some(b'"') => {
                            *at += 1;
                            break;
                        }
                        Some(&c) => {
                            s.push(c);
                            *at += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            b'{' => {
                let close = raw[*at..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("unterminated literal length")?;
                let spec = std::str::from_utf8(&raw[*at + 1..*at + close]).unwrap_or("?");
                let n: usize = spec
                    .trim_end_matches('+')
                    .parse()
                    .map_err(|_| format!("bad literal length {{{spec}}}"))?;
                let start = *at + close + 1;
                if raw.get(start..start + 2) != Some(b"\r\n") {
                    return Err("literal length not followed by CRLF".into());
                }
                let body = raw
                    .get(start + 2..start + 2 + n)
                    .ok_or("literal shorter than announced")?;
                out.push(Tok::Str(body.to_vec()));
                *at = start + 2 + n;
            }
            _ => {
                let start = *at;
                let mut depth = 0;
                while *at < raw.len() {
                    let c = raw[*at];
                    if c == b'[' {
                        depth += 1;
                    } else if c == b']' && depth > 0 {
                        depth -= 1;
                    } else if depth == 0
                        && (c == b' ' || c == b'(' || c == b')' || c == b'\r' || c == b'\n')
                    {
                        break;
                    }
                    *at += 1;
                }
                let a = String::from_utf8_lossy(&raw[start..*at]).into_owned();
                out.push(if a.eq_ignore_ascii_case("NIL") {
                    Tok::Nil
                } else {
                    Tok::Atom(a)
                });
            }
        }
    }
}

/// A blocking IMAP connection reading whole responses.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Every byte read and written, for the error report (the tail only).
    pub trace: Trace,
}

/// The last few kilobytes of a conversation.
#[derive(Default)]
pub struct Trace {
    text: Vec<u8>,
    /// The whole conversation, when asked for (`--transcripts`).
    pub file: Option<std::io::BufWriter<std::fs::File>>,
}

const TRACE_KEEP: usize = 6000;

impl Trace {
    fn push(&mut self, dir: &str, data: &[u8]) {
        self.text.extend_from_slice(dir.as_bytes());
        let shown = &data[..data.len().min(400)];
        self.text.extend_from_slice(shown);
        if shown.len() < data.len() {
            self.text
                .extend_from_slice(format!("...[{} bytes]\r\n", data.len()).as_bytes());
        }
        if let Some(f) = &mut self.file {
            let _ = f.write_all(dir.as_bytes());
            let _ = f.write_all(shown);
            if shown.len() < data.len() {
                let _ = f.write_all(format!("...[{} bytes]\r\n", data.len()).as_bytes());
            }
        }
        if self.text.len() > 2 * TRACE_KEEP {
            self.text.drain(..self.text.len() - TRACE_KEEP);
        }
    }
    pub fn tail(&self) -> String {
        let t = &self.text[self.text.len().saturating_sub(TRACE_KEEP)..];
        String::from_utf8_lossy(t).into_owned()
    }
}

/// What reading one response gave.
pub enum Read1 {
    Resp(Vec<u8>),
    /// Nothing arrived within the read timeout.
    Quiet,
    Eof,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            trace: Trace::default(),
        })
    }

    /// Append the whole conversation to `path` from now on.
    pub fn transcript(&mut self, path: &std::path::Path) {
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            self.trace.file = Some(std::io::BufWriter::new(f));
        }
    }

    /// A note in the transcript (not sent).
    pub fn note(&mut self, text: &str) {
        if let Some(f) = &mut self.trace.file {
            let _ = writeln!(f, "# {text}");
        }
    }

    pub fn set_timeout(&self, t: Duration) {
        let _ = self.stream.set_read_timeout(Some(t));
    }

    pub fn send(&mut self, data: &[u8]) -> Result<(), String> {
        self.trace.push("C: ", data);
        self.stream
            .write_all(data)
            .map_err(|e| format!("write: {e}"))
    }

    /// One whole response: a line, and for each `{N}` that ends a line the
    /// N bytes after it and the line that goes on after them.
    pub fn read(&mut self) -> Result<Read1, String> {
        let mut scan = 0;
        loop {
            if let Some(end) = self.complete(&mut scan) {
                let r: Vec<u8> = self.buf.drain(..end).collect();
                self.trace.push("S: ", &r);
                return Ok(Read1::Resp(r));
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(Read1::Eof),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if self.buf.is_empty() {
                        return Ok(Read1::Quiet);
                    }
                    return Err(format!(
                        "timed out in the middle of a response: {:?}",
                        String::from_utf8_lossy(&self.buf[..self.buf.len().min(300)])
                    ));
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(Read1::Eof),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Where the response in `buf` ends (after its CRLF), if it is all there.
    /// `scan` is how far it is known to hold whole lines and literals.
    fn complete(&self, scan: &mut usize) -> Option<usize> {
        loop {
            let nl = self.buf[*scan..].iter().position(|&b| b == b'\n')? + *scan;
            let line = &self.buf[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(n) = literal_at_end(line) {
                if self.buf.len() < nl + 1 + n {
                    return None;
                }
                *scan = nl + 1 + n;
            } else {
                return Some(nl + 1);
            }
        }
    }
}

/// `{N}` (or `{N+}`) at the end of a line: N.
fn literal_at_end(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_a_fetch_with_a_literal_and_a_section() {
        let raw = b"* 3 FETCH (UID 7 FLAGS (\\Seen $c1) BODY[HEADER.FIELDS (MESSAGE-ID)] {5}\r\nab\r\nc ENVELOPE (NIL \"s\\\"x\"))\r\n";
        let t = tokenize(raw).unwrap();
        assert_eq!(t[0], Tok::Atom("*".into()));
        let l = t[3].list().unwrap();
        assert_eq!(l[4], Tok::Atom("BODY[HEADER.FIELDS (MESSAGE-ID)]".into()));
        assert_eq!(l[5], Tok::Str(b"ab\r\nc".to_vec()));
        assert_eq!(l[7], Tok::List(vec![Tok::Nil, Tok::Str(b"s\"x".to_vec())]));
        assert_eq!(literal_at_end(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_at_end(b"* OK {x}"), None);
        assert!(tokenize(b"* (a\r\n").is_err());
    }
}
