//! A minimal IMAP client for load generation: sends commands, reads
//! responses (skipping `{n}` literals without copying them), and counts what
//! the benchmark needs (FETCH responses, literal bytes, SEARCH hits).

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Anything we can speak IMAP over: a TCP stream, or TLS on one.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Result<T> = std::result::Result<T, String>;

fn ioerr(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// How a tagged response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// Everything read up to and including a tagged response.
#[derive(Debug, Default)]
pub struct Reply {
    pub status: Option<Status>,
    /// The tagged line after the tag, literals elided.
    pub text: String,
    /// Untagged lines (literal contents elided), when asked for.
    pub untagged: Vec<String>,
    /// Untagged `* n FETCH` responses seen.
    pub fetches: u64,
    /// Bytes of literal data received.
    pub literal_bytes: u64,
}

impl Reply {
    pub fn ok(self, what: &str) -> Result<Reply> {
        match self.status {
            Some(Status::Ok) => Ok(self),
            _ => Err(format!("{what}: {}", self.text.trim_end())),
        }
    }

    /// The number in `* n EXISTS`, if one was seen.
    pub fn exists(&self) -> Option<u64> {
        self.untagged.iter().rev().find_map(|l| {
            let rest = l.strip_prefix("* ")?;
            let (n, word) = rest.split_once(' ')?;
            word.trim_end()
                .eq_ignore_ascii_case("EXISTS")
                .then(|| n.parse().ok())?
        })
    }

    /// Hits of `SEARCH` (`* SEARCH 1 2 3`) or ESEARCH `ALL`/`COUNT`.
    pub fn search_hits(&self) -> Option<u64> {
        for l in &self.untagged {
            let up = l.to_ascii_uppercase();
            if let Some(rest) = up.strip_prefix("* SEARCH") {
                return Some(rest.split_ascii_whitespace().count() as u64);
            }
            if up.starts_with("* ESEARCH") {
                if let Some(i) = up.find(" COUNT ") {
                    return up[i + 7..].split_ascii_whitespace().next()?.parse().ok();
                }
                let Some(i) = up.find(" ALL ") else {
                    return Some(0);
                };
                let set = up[i + 5..].split_ascii_whitespace().next()?;
                return Some(count_set(set));
            }
        }
        None
    }
}

/// Size of a sequence set such as `1:3,7,9:10`.
fn count_set(set: &str) -> u64 {
    set.split(',')
        .map(|r| match r.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().unwrap_or(0), b.parse().unwrap_or(0));
                a.abs_diff(b) + 1
            }
            None => 1,
        })
        .sum()
}

/// If a physical line ends with a literal announcement (`{n}`, `{n+}`,
/// `~{n}`) before its CRLF, the literal's length.
pub fn literal_len(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let inner = inner.strip_suffix(b"+").unwrap_or(inner);
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `* <n> FETCH ...`
fn is_fetch(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"* ") else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0
        && rest[digits..].len() >= 6
        && rest[digits..6 + digits].eq_ignore_ascii_case(b" FETCH")
}

/// Where to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: String,
    pub tls: bool,
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
                .with_no_client_auth();
            // Every session pays a full handshake, as a new client would.
            config.resumption = rustls::client::Resumption::disabled();
            Arc::new(config)
        })
        .clone()
}

/// The servers use self-signed certificates: accept any certificate, but
/// still check the handshake signatures (the work a real client does).
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One IMAP connection.
pub struct Conn {
    io: BufReader<Box<dyn Io>>,
    next_tag: u64,
    line: Vec<u8>,
    /// The greeting line.
    pub greeting: String,
    /// Bytes received from the server so far (greeting included).
    pub received: u64,
}

/// Quote a string for IMAP (no literals needed for our user names).
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

impl Conn {
    /// Connect (TLS from the first byte when `ep.tls`) and read the greeting.
    pub async fn connect(ep: &Endpoint) -> Result<Conn> {
        let tcp = TcpStream::connect(&ep.addr)
            .await
            .map_err(ioerr(&format!("connect {}", ep.addr)))?;
        tcp.set_nodelay(true).ok();
        let io: Box<dyn Io> = if ep.tls {
            let host = ep
                .addr
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or("localhost");
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .unwrap_or_else(|_| ServerName::try_from("localhost").expect("name"));
            let tls = tokio_rustls::TlsConnector::from(tls_config())
                .connect(name, tcp)
                .await
                .map_err(ioerr("TLS handshake"))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let mut c = Conn {
            io: BufReader::with_capacity(64 * 1024, io),
            next_tag: 1,
            line: Vec::with_capacity(4096),
            greeting: String::new(),
            received: 0,
        };
        c.read_logical(false, &mut Reply::default()).await?;
        let g = String::from_utf8_lossy(&c.line).into_owned();
        if !g.starts_with("* OK") && !g.starts_with("* PREAUTH") {
            return Err(format!("greeting: {}", g.trim_end()));
        }
        c.greeting = g;
        Ok(c)
    }

    pub fn tag(&mut self) -> String {
        let t = format!("b{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.io.get_mut();
        let r = match w.write_all(bytes).await {
            Ok(()) => w.flush().await,
            Err(e) => Err(e),
        };
        match r {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("write: {e}{}", self.last_words().await)),
        }
    }

    /// After a failed write: what the server said before it closed (its
    /// `* BYE` or tagged NO), for the error message.
    async fn last_words(&mut self) -> String {
        let mut said = Vec::new();
        let mut scratch = Reply::default();
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Ok(Ok(())) =
            tokio::time::timeout_at(deadline, self.read_logical(false, &mut scratch)).await
        {
            let l = String::from_utf8_lossy(&self.line).trim_end().to_string();
            if !l.ends_with(" OK Completed") && !l.contains(" OK [APPENDUID") {
                said.push(l);
            }
            if said.len() > 3 {
                said.remove(0);
            }
        }
        if said.is_empty() {
            String::new()
        } else {
            format!("; server said: {}", said.join(" | "))
        }
    }

    /// Read one logical response line into `self.line` (literal contents
    /// skipped and counted in `reply.literal_bytes`; a `{n}` marker stays).
    async fn read_logical(&mut self, capture_literals: bool, reply: &mut Reply) -> Result<()> {
        self.line.clear();
        loop {
            let start = self.line.len();
            let n = self
                .io
                .read_until(b'\n', &mut self.line)
                .await
                .map_err(ioerr("read"))?;
            if n == 0 {
                return Err("connection closed by server".into());
            }
            self.received += n as u64;
            let Some(mut len) = literal_len(&self.line[start..]) else {
                return Ok(());
            };
            reply.literal_bytes += len;
            self.received += len;
            while len > 0 {
                let buf = self.io.fill_buf().await.map_err(ioerr("read"))?;
                if buf.is_empty() {
                    return Err("connection closed inside a literal".into());
                }
                let k = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
                if capture_literals {
                    self.line.extend_from_slice(&buf[..k]);
                }
                self.io.consume(k);
                len -= k as u64;
            }
        }
    }

    /// Read responses until the tagged response for `tag`.
    pub async fn read_tagged(&mut self, tag: &str, capture: bool) -> Result<Reply> {
        let mut reply = Reply::default();
        loop {
            self.read_logical(false, &mut reply).await?;
            let line = &self.line;
            if line.len() > tag.len() && line.starts_with(tag.as_bytes()) && line[tag.len()] == b' '
            {
                let text = String::from_utf8_lossy(&line[tag.len() + 1..]).into_owned();
                let word = text.split_ascii_whitespace().next().unwrap_or("");
                reply.status = match word.to_ascii_uppercase().as_str() {
                    "OK" => Some(Status::Ok),
                    "NO" => Some(Status::No),
                    _ => Some(Status::Bad),
                };
                reply.text = text;
                return Ok(reply);
            }
            if is_fetch(line) {
                reply.fetches += 1;
            } else if line.starts_with(b"* BYE") && !capture {
                // A BYE is worth reporting if the tagged reply never comes.
                reply
                    .untagged
                    .push(String::from_utf8_lossy(line).into_owned());
            }
            if capture {
                reply
                    .untagged
                    .push(String::from_utf8_lossy(line).into_owned());
            }
        }
    }

    /// Read until a `+` continuation request (or fail on a tagged reply).
    pub async fn read_continuation(&mut self, tag: &str) -> Result<()> {
        let mut reply = Reply::default();
        loop {
            self.read_logical(false, &mut reply).await?;
            if self.line.starts_with(b"+") {
                return Ok(());
            }
            if self.line.starts_with(tag.as_bytes()) {
                return Err(format!(
                    "expected continuation, got: {}",
                    String::from_utf8_lossy(&self.line).trim_end()
                ));
            }
        }
    }

    /// Send `tag command` and read to its tagged response.
    pub async fn cmd(&mut self, command: &str, capture: bool) -> Result<Reply> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.read_tagged(&tag, capture).await
    }

    pub async fn login(&mut self, user: &str, pass: &str) -> Result<()> {
        self.cmd(&format!("LOGIN {} {}", quote(user), quote(pass)), false)
            .await?
            .ok("LOGIN")
            .map(|_| ())
    }

    /// SELECT a mailbox; returns EXISTS.
    pub async fn select(&mut self, mailbox: &str) -> Result<u64> {
        let r = self
            .cmd(&format!("SELECT {}", quote(mailbox)), true)
            .await?
            .ok("SELECT")?;
        Ok(r.exists().unwrap_or(0))
    }

    pub async fn logout(&mut self) -> Result<()> {
        self.cmd("LOGOUT", false).await?.ok("LOGOUT").map(|_| ())
    }

    pub async fn capabilities(&mut self) -> Result<String> {
        let r = self.cmd("CAPABILITY", true).await?.ok("CAPABILITY")?;
        Ok(r.untagged
            .iter()
            .find(|l| l.to_ascii_uppercase().starts_with("* CAPABILITY"))
            .cloned()
            .unwrap_or_default()
            .to_ascii_uppercase())
    }

    /// Send one APPEND and, without LITERAL+, wait for the continuation.
    /// Returns the tag; the caller reads the tagged reply (pipelining).
    pub async fn send_append(
        &mut self,
        mailbox: &str,
        flags: &str,
        date: &str,
        msg: &[u8],
        literal_plus: bool,
    ) -> Result<String> {
        let tag = self.tag();
        let plus = if literal_plus { "+" } else { "" };
        let head = format!(
            "{tag} APPEND {} ({flags}) \"{date}\" {{{}{plus}}}\r\n",
            quote(mailbox),
            msg.len()
        );
        if literal_plus {
            let mut buf = Vec::with_capacity(head.len() + msg.len() + 2);
            buf.extend_from_slice(head.as_bytes());
            buf.extend_from_slice(msg);
            buf.extend_from_slice(b"\r\n");
            self.send(&buf).await?;
        } else {
            self.send(head.as_bytes()).await?;
            self.read_continuation(&tag).await?;
            let mut buf = Vec::with_capacity(msg.len() + 2);
            buf.extend_from_slice(msg);
            buf.extend_from_slice(b"\r\n");
            self.send(&buf).await?;
        }
        Ok(tag)
    }

    /// Start IDLE and wait for the server's `+`.
    pub async fn idle(&mut self) -> Result<String> {
        let tag = self.tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        self.read_continuation(&tag).await?;
        Ok(tag)
    }
}

/// Run `f` with a deadline.
pub async fn within<T>(d: Duration, what: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(d, f).await {
        Ok(r) => r,
        Err(_) => Err(format!("{what}: timed out after {} s", d.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_markers() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {123}\r\n"), Some(123));
        assert_eq!(literal_len(b"a APPEND x {5+}\r\n"), Some(5));
        assert_eq!(literal_len(b"* 1 FETCH (BINARY[] ~{7}\r\n"), Some(7));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {}\r\n"), None);
        assert_eq!(literal_len(b"* OK \"{5}\"\r\n"), None);
        assert_eq!(literal_len(b"* OK done\r\n"), None);
        assert_eq!(literal_len(b"* OK {12x}\r\n"), None);
    }

    #[test]
    fn fetch_lines() {
        assert!(is_fetch(b"* 12 FETCH (UID 3)\r\n"));
        assert!(is_fetch(b"* 1 fetch (UID 3)\r\n"));
        assert!(!is_fetch(b"* 12 EXISTS\r\n"));
        assert!(!is_fetch(b"* OK FETCH\r\n"));
    }

    #[test]
    fn search_and_exists() {
        let r = Reply {
            untagged: vec!["* 10000 EXISTS\r\n".into(), "* SEARCH 1 5 9\r\n".into()],
            ..Reply::default()
        };
        assert_eq!(r.exists(), Some(10000));
        assert_eq!(r.search_hits(), Some(3));
        let e = Reply {
            untagged: vec!["* ESEARCH (TAG \"a\") UID ALL 1:3,7\r\n".into()],
            ..Reply::default()
        };
        assert_eq!(e.search_hits(), Some(4));
        let empty = Reply {
            untagged: vec!["* SEARCH\r\n".into()],
            ..Reply::default()
        };
        assert_eq!(empty.search_hits(), Some(0));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    /// A FETCH response with literals parsed off a real socket pair.
    #[tokio::test]
    async fn reads_literals_across_reads() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"* OK hi\r\n").await.unwrap();
            let mut buf = [0u8; 256];
            let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
                .await
                .unwrap();
            for chunk in [
                &b"* 1 FETCH (BODY[] {10}\r\nab\r\nb1 OK"[..],
                b"xy UID 4)\r\n* 2 FETCH (BODY[] {3}\r\n}\r\n",
                b" ENVELOPE (\"x\" {2}\r\n{}))\r\nb1 OK done\r\n",
            ] {
                s.write_all(chunk).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let ep = Endpoint { addr, tls: false };
        let mut c = Conn::connect(&ep).await.unwrap();
        let r = c.cmd("FETCH 1:* BODY[]", false).await.unwrap();
        assert_eq!(r.status, Some(Status::Ok));
        assert_eq!(r.fetches, 2);
        assert_eq!(r.literal_bytes, 15);
        assert_eq!(r.text.trim_end(), "OK done");
        server.await.unwrap();
    }
}
