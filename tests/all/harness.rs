//! Starting the real `imapd` binary on 127.0.0.1 and talking IMAP to it.
#![allow(dead_code)] // shared helpers; not every test area uses every one

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The imapd binary next to this test binary (target/debug/imapd).
pub fn imapd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("IMAPD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("imapd");
    assert!(
        bin.is_file(),
        "{} not built: run `make build` first",
        bin.display()
    );
    bin
}

/// The guest with test-only hostile commands (`make hostile-guest`).
pub fn hostile_guest() -> PathBuf {
    let bin = imapd_bin();
    let target = bin.parent().and_then(Path::parent).expect("target dir");
    let p = target.join("wasm32-wasip2/guest-hostile/guest.wasm");
    assert!(
        p.is_file(),
        "{} not built: run `make hostile-guest`",
        p.display()
    );
    p
}

/// The standard guest (`make guest`), the one built into imapd.
pub fn standard_guest() -> PathBuf {
    let bin = imapd_bin();
    let target = bin.parent().and_then(Path::parent).expect("target dir");
    target.join("wasm32-wasip2/guest-release/guest.wasm")
}

/// One self-signed certificate for every test server of this run.
pub fn test_cert() -> &'static (PathBuf, PathBuf) {
    static CERT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CERT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("imapd-test-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        let st = Command::new(imapd_bin())
            .args(["selfsigned"])
            .arg(&c)
            .arg(&k)
            .status()
            .unwrap();
        assert!(st.success(), "imapd selfsigned failed");
        (c, k)
    })
}

/// Password-file lines for the users every test server has: one per
/// scheme we accept. Hashes other than ARGON2ID were made with libxcrypt
/// (python3 crypt), independently of our code.
pub const USERS: &[(&str, &str, &str)] = &[
    ("plain", "secret", "{PLAIN}secret"),
    (
        "sha512",
        "secret",
        "{SHA512-CRYPT}$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
    ),
    (
        "sha256",
        "secret",
        "{SHA256-CRYPT}$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA",
    ),
    (
        "blf",
        "secret",
        "{BLF-CRYPT}$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
    ),
];

pub struct ServerBuilder {
    conf: Vec<String>,
    args: Vec<String>,
    tls: bool,
    env: Vec<(String, String)>,
}

pub fn server() -> ServerBuilder {
    ServerBuilder {
        conf: Vec::new(),
        args: Vec::new(),
        tls: true,
        env: Vec::new(),
    }
}

impl ServerBuilder {
    /// One `key: value` line for imapd.conf.
    pub fn conf(mut self, line: &str) -> Self {
        self.conf.push(line.to_string());
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }
    pub fn no_tls(mut self) -> Self {
        self.tls = false;
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Write the data directory without starting anything.
    pub fn prepare(&self) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix("imapd-test")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("config/msg")).unwrap();
        std::fs::create_dir_all(root.join("spool")).unwrap();
        let mut conf = format!(
            "configdirectory: {}\npartition-default: {}\nservername: test.example\n",
            root.join("config").display(),
            root.join("spool").display()
        );
        if self.tls {
            let (c, k) = test_cert();
            conf += &format!(
                "tls_server_cert: {}\ntls_server_key: {}\n",
                c.display(),
                k.display()
            );
        }
        // Tests don't wait for failed logins unless they ask to.
        if !self.conf.iter().any(|l| l.starts_with("failedloginpause")) {
            conf += "failedloginpause: 0\n";
        }
        for l in &self.conf {
            conf += l;
            conf.push('\n');
        }
        // The log goes to stderr, where the harness reads it, unless a
        // test sends it elsewhere (last, so the test's lines keep their
        // line numbers).
        if !self.conf.iter().any(|l| l.starts_with("log_destination")) {
            conf += "log_destination: stderr\n";
        }
        std::fs::write(root.join("imapd.conf"), conf).unwrap();
        let mut passwd = String::new();
        for (u, _, h) in USERS {
            passwd += &format!("{u}:{h}\n");
        }
        std::fs::write(root.join("config/passwd"), passwd).unwrap();
        TestDir { dir, root }
    }

    pub fn start(self) -> TestServer {
        let data = self.prepare();
        start_with(data, self.tls, &self.args, &self.env)
    }
}

/// Start imapd on a data directory written earlier (and maybe edited).
pub fn start_prepared(data: TestDir, tls: bool) -> TestServer {
    start_with(data, tls, &[], &[])
}

fn start_with(data: TestDir, tls: bool, args: &[String], env: &[(String, String)]) -> TestServer {
    {
        let mut cmd = Command::new(imapd_bin());
        cmd.arg("-C")
            .arg(data.root.join("imapd.conf"))
            .args(["--listen", "127.0.0.1:0"]);
        if tls {
            cmd.args(["--listen-tls", "127.0.0.1:0"]);
        }
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        TestServer::spawn(cmd, data, tls)
    }
}

pub struct TestDir {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl TestDir {
    pub fn conf(&self) -> PathBuf {
        self.root.join("imapd.conf")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }
    pub fn spool(&self) -> PathBuf {
        self.root.join("spool")
    }
    pub fn add_user_line(&self, line: &str) {
        let p = self.config_dir().join("passwd");
        let mut s = std::fs::read_to_string(&p).unwrap_or_default();
        s += line;
        s.push('\n');
        std::fs::write(p, s).unwrap();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running imapd; killed (by PID) when dropped.
pub struct TestServer {
    pub child: Child,
    pub data: TestDir,
    pub plain: SocketAddr,
    pub tls: Option<SocketAddr>,
    /// Everything the server wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
}

impl TestServer {
    fn spawn(mut cmd: Command, data: TestDir, tls: bool) -> TestServer {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning imapd");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stderr);
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    log.lock().unwrap().push_str(&line);
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let mut it = rest.split_whitespace();
                        let addr: SocketAddr = it.next().unwrap().parse().unwrap();
                        let kind = it.next().unwrap_or("").to_string();
                        let _ = tx.send((addr, kind.contains("tls")));
                    }
                    line.clear();
                }
            });
        }
        let (mut plain, mut tls_addr) = (None, None);
        let want = if tls { 2 } else { 1 };
        for _ in 0..want {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok((a, true)) => tls_addr = Some(a),
                Ok((a, false)) => plain = Some(a),
                Err(_) => {
                    let _ = child.kill();
                    panic!("imapd did not start; its log:\n{}", log.lock().unwrap());
                }
            }
        }
        TestServer {
            child,
            data,
            plain: plain.expect("plain listener"),
            tls: tls_addr,
            log,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.plain)
    }

    pub fn connect_tls(&self) -> Client {
        Client::connect_tls(self.tls.expect("tls listener"))
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once it holds `needle` (the server's stderr is read by a
    /// thread of ours, which may lag behind the replies), or after 10 s.
    pub fn log_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Proportional set size of the server process (shared pages, such as
    /// the guest image mapped by every instance, counted once), in KiB.
    pub fn pss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid())).unwrap();
        s.lines()
            .find(|l| l.starts_with("Pss:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A line-oriented IMAP client over a blocking socket.
pub struct Client {
    pub stream: Box<dyn Stream>,
    pub raw: Option<TcpStream>,
    buf: Vec<u8>,
}

pub const TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client {
            raw: Some(s.try_clone().unwrap()),
            stream: Box::new(s),
            buf: Vec::new(),
        }
    }

    /// Connect from `source`, another loopback address (all of 127/8 is
    /// the loopback on Linux): the server sees a different client IP.
    pub fn connect_from(addr: SocketAddr, source: std::net::Ipv4Addr) -> Client {
        use std::os::fd::FromRawFd;
        // SAFETY: a fresh socket, bound and connected with sockaddr_in
        // values we own; on success its fd goes to the TcpStream.
        let s = unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket");
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(source).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(
                libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len),
                0
            );
            let SocketAddr::V4(to) = addr else {
                panic!("IPv4 only")
            };
            sa.sin_addr.s_addr = u32::from(*to.ip()).to_be();
            sa.sin_port = to.port().to_be();
            let r = libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), len);
            assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
            TcpStream::from_raw_fd(fd)
        };
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client {
            raw: Some(s.try_clone().unwrap()),
            stream: Box::new(s),
            buf: Vec::new(),
        }
    }

    pub fn connect_tls(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let raw = s.try_clone().unwrap();
        Client {
            stream: Box::new(tls_wrap(s)),
            raw: Some(raw),
            buf: Vec::new(),
        }
    }

    /// Switch this connection to TLS (after the server's OK to STARTTLS).
    pub fn start_tls(&mut self) {
        self.start_tls_with(tls_config(None));
    }

    /// The same with a client configuration of the test's own (a client
    /// certificate).
    pub fn start_tls_with(&mut self, config: Arc<rustls::ClientConfig>) {
        assert!(
            self.buf.is_empty(),
            "unread plaintext before TLS: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let s = self.raw.as_ref().unwrap().try_clone().unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config, name).unwrap();
        self.stream = Box::new(rustls::StreamOwned::new(conn, s));
    }

    pub fn send(&mut self, data: &str) {
        self.send_bytes(data.as_bytes());
    }

    pub fn send_bytes(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("write");
        self.stream.flush().unwrap();
    }

    /// One line, without its CRLF. Panics on timeout or EOF.
    pub fn line(&mut self) -> String {
        self.try_line().unwrap_or_else(|| {
            panic!(
                "connection closed; partial: {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// One line, or None at EOF.
    pub fn try_line(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let mut s = String::from_utf8_lossy(&line).into_owned();
                while s.ends_with('\n') || s.ends_with('\r') {
                    s.pop();
                }
                return Some(s);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!(
                    "read: {e}; partial: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Exactly `n` bytes (a literal's content).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 65536];
            let k = self.stream.read(&mut chunk).expect("read");
            assert!(k > 0, "EOF inside a literal");
            self.buf.extend_from_slice(&chunk[..k]);
        }
        self.buf.drain(..n).collect()
    }

    /// Send `tag command` and collect every line up to the tagged reply;
    /// returns (untagged lines, tagged line).
    pub fn cmd(&mut self, tag: &str, command: &str) -> (Vec<String>, String) {
        self.send(&format!("{tag} {command}\r\n"));
        self.until_tagged(tag)
    }

    pub fn until_tagged(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut lines = Vec::new();
        loop {
            let l = self.line();
            if l.starts_with(&format!("{tag} ")) {
                return (lines, l);
            }
            lines.push(l);
        }
    }

    /// True if the server closes the connection within the timeout,
    /// reading (and discarding) anything it still sends.
    pub fn closed(&mut self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            match self.try_line() {
                None => return true,
                Some(_) => continue,
            }
        }
        false
    }

    /// Put a layer over the byte stream (COMPRESS, counting): `wrap` gets
    /// the current stream and returns the new one. Nothing may be unread.
    pub fn wrap(&mut self, wrap: impl FnOnce(Box<dyn Stream>) -> Box<dyn Stream>) {
        assert!(
            self.buf.is_empty(),
            "unread bytes before a new layer: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let inner = std::mem::replace(&mut self.stream, Box::new(std::io::Cursor::new(Vec::new())));
        self.stream = wrap(inner);
    }

    /// rfc4978: send COMPRESS DEFLATE, expect the OK, and compress from
    /// then on (an independent DEFLATE client: flate2's raw streams).
    pub fn compress(&mut self, tag: &str) {
        let (_, ok) = self.cmd(tag, "COMPRESS DEFLATE");
        assert_eq!(ok, format!("{tag} OK DEFLATE active"));
        self.wrap(|s| Box::new(Deflated::new(s)));
    }

    /// Count the bytes read from here on (below any layer added later).
    pub fn count_reads(&mut self) -> Arc<std::sync::atomic::AtomicU64> {
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = n.clone();
        self.wrap(|s| {
            Box::new(Counted {
                inner: s,
                read: counter,
            })
        });
        n
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        let (_, ok) = self.cmd("L1", &format!("LOGIN {user} {pass}"));
        assert!(ok.starts_with("L1 OK"), "login failed: {ok}");
    }
}

/// A raw DEFLATE layer (rfc4978) over a client stream: a sync flush at
/// every `flush`, as the harness flushes after each command.
pub struct Deflated {
    inner: Box<dyn Stream>,
    enc: flate2::Compress,
    dec: flate2::Decompress,
    input: Vec<u8>,
    at: usize,
}

impl Deflated {
    pub fn new(inner: Box<dyn Stream>) -> Deflated {
        Deflated {
            inner,
            enc: flate2::Compress::new(flate2::Compression::default(), false),
            dec: flate2::Decompress::new(false),
            input: Vec::new(),
            at: 0,
        }
    }

    fn deflate(&mut self, data: &[u8], flush: flate2::FlushCompress) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut done = 0;
        loop {
            let before = self.enc.total_in();
            self.enc
                .compress_vec(&data[done..], &mut out, flush)
                .map_err(std::io::Error::other)?;
            done += (self.enc.total_in() - before) as usize;
            if done == data.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(1024));
        }
        self.inner.write_all(&out)
    }
}

impl Read for Deflated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at < self.input.len() {
                let (i0, o0) = (self.dec.total_in(), self.dec.total_out());
                self.dec
                    .decompress(&self.input[self.at..], buf, flate2::FlushDecompress::None)
                    .map_err(std::io::Error::other)?;
                self.at += (self.dec.total_in() - i0) as usize;
                let made = (self.dec.total_out() - o0) as usize;
                if made > 0 {
                    return Ok(made);
                }
                if self.at < self.input.len() {
                    continue;
                }
            }
            let mut chunk = vec![0u8; 65536];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            chunk.truncate(n);
            self.input = chunk;
            self.at = 0;
        }
    }
}

impl Write for Deflated {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.deflate(data, flate2::FlushCompress::None)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.deflate(&[], flate2::FlushCompress::Sync)?;
        self.inner.flush()
    }
}

/// Counts the bytes read through it.
struct Counted {
    inner: Box<dyn Stream>,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.inner.write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn tls_wrap(s: TcpStream) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(tls_config(None), name).unwrap();
    rustls::StreamOwned::new(conn, s)
}

/// A client certificate chain and its key.
pub type ClientCert = (
    Vec<rustls_pki_types::CertificateDer<'static>>,
    rustls_pki_types::PrivateKeyDer<'static>,
);

/// A TLS client configuration that trusts the test certificate and, when
/// given one, presents a client certificate.
pub fn tls_config(client: Option<ClientCert>) -> Arc<rustls::ClientConfig> {
    let (cert, _) = test_cert();
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match client {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

impl Client {
    /// Connect over TLS with `config` and finish the handshake; the TLS
    /// connection stays reachable for channel bindings. `None` when the
    /// server refused the handshake.
    pub fn connect_tls_with(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> Option<(Client, TlsFacts)> {
        let mut sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(TIMEOUT)).unwrap();
        let raw = sock.try_clone().unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).ok()?;
        }
        // TLS 1.3 servers refuse a client certificate after the client's
        // Finished: the alert comes with the first read.
        let mut stream = rustls::StreamOwned::new(conn, sock);
        let mut first = [0u8; 1];
        let n = std::io::Read::read(&mut stream, &mut first).ok()?;
        if n == 0 {
            return None;
        }
        let facts = TlsFacts {
            exporter: stream
                .conn
                .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok(),
            tls13: stream.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3),
        };
        Some((
            Client {
                stream: Box::new(stream),
                raw: Some(raw),
                buf: first.to_vec(),
            },
            facts,
        ))
    }
}

/// What a client learnt from its handshake.
pub struct TlsFacts {
    /// rfc9266 tls-exporter channel binding data.
    pub exporter: Option<Vec<u8>>,
    pub tls13: bool,
}

/// Run imapd with `args` and stdin, returning (exit code, stdout, stderr).
pub fn run_imapd(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> (i32, String, String) {
    let mut cmd = Command::new(imapd_bin());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("CYRUS_SERVICE")
        .env_remove("CYRUS_ID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Debian's cyradm (cyrus-admin) run as `plain` (an admin in the tests
/// that use it) against 127.0.0.1:`port` with `script` on its standard
/// input; its output and errors. `None` (and a SKIPPED line) when it is
/// not installed.
pub fn cyradm(port: u16, script: &str) -> Option<String> {
    const CYRADM: &str = "/usr/bin/cyradm";
    if !std::path::Path::new(CYRADM).exists() {
        println!("SKIPPED: {CYRADM} is not installed (Debian cyrus-admin)");
        return None;
    }
    let mut child = Command::new(CYRADM)
        .args(["--user", "plain", "--password", "secret", "--auth", "login"])
        .args(["--port", &port.to_string(), "127.0.0.1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Some(String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}
