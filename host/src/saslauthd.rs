//! A client for saslauthd's unix socket (`sasl_pwcheck_method: saslauthd`), for sites whose
//! passwords live in PAM, LDAP or Kerberos.
//!
//! The protocol of saslauthd's `mux` socket (cyrus-sasl `saslauthd/ipc_unix.c`, and the client
//! in `lib/checkpw.c`): the client sends four counted strings (login, password, service,
//! realm), each a 2-byte big-endian length followed by that many bytes; saslauthd answers with
//! one counted string that starts with `OK` or `NO`, followed by text. One request per
//! connection. Like libsasl, only the first two bytes of the answer decide.
//!
//! Blocking, with a deadline on each read and write: call it from `spawn_blocking`.

use anyhow::{Context, Result, anyhow, bail};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long to wait for saslauthd to take the request and to answer. PAM modules behind
/// saslauthd may be slow (LDAP, Kerberos), but a hung saslauthd must not hold a session's
/// login forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks saslauthd at `path` whether `password` is `user`'s password, for `service` (the SASL
/// service name, `imap`, which selects the PAM service) and `realm` (usually empty).
/// `Ok(false)` is a `NO` answer; `Err` (naming the socket) means saslauthd could not be asked.
pub fn check(path: &Path, user: &str, password: &[u8], service: &str, realm: &str) -> Result<bool> {
    check_with_timeout(path, user, password, service, realm, DEFAULT_TIMEOUT)
}

/// [`check`] with an explicit deadline for each read and write.
pub fn check_with_timeout(
    path: &Path,
    user: &str,
    password: &[u8],
    service: &str,
    realm: &str,
    timeout: Duration,
) -> Result<bool> {
    let shown = path.display();
    let mut request =
        Vec::with_capacity(8 + user.len() + password.len() + service.len() + realm.len());
    for (what, field) in [
        ("login", user.as_bytes()),
        ("password", password),
        ("service", service.as_bytes()),
        ("realm", realm.as_bytes()),
    ] {
        let len = u16::try_from(field.len()).map_err(|_| {
            anyhow!(
                "saslauthd {shown}: {what} is too long ({} bytes)",
                field.len()
            )
        })?;
        request.extend_from_slice(&len.to_be_bytes());
        request.extend_from_slice(field);
    }

    let mut stream =
        UnixStream::connect(path).with_context(|| format!("saslauthd {shown}: connect"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .with_context(|| format!("saslauthd {shown}: setting timeouts"))?;
    stream
        .write_all(&request)
        .map_err(|e| io_error(path, "sending the request", e, timeout))?;
    read_answer(&mut stream, path, timeout)
}

/// saslauthd's answer on `stream`: one counted string, `OK...` (true) or
/// `NO...` (false); anything else is an error naming the socket `path`.
pub(crate) fn read_answer(stream: &mut impl Read, path: &Path, timeout: Duration) -> Result<bool> {
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| io_error(path, "reading the answer", e, timeout))?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut answer)
        .map_err(|e| io_error(path, "reading the answer", e, timeout))?;

    match answer.get(..2) {
        Some(b"OK") => Ok(true),
        Some(b"NO") => Ok(false),
        _ => {
            let text: String = String::from_utf8_lossy(&answer).chars().take(60).collect();
            bail!("saslauthd {}: unexpected answer {text:?}", path.display())
        }
    }
}

fn io_error(path: &Path, doing: &str, e: std::io::Error, timeout: Duration) -> anyhow::Error {
    let shown = path.display();
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            anyhow!("saslauthd {shown}: no progress {doing} within {timeout:?}")
        }
        ErrorKind::UnexpectedEof => anyhow!("saslauthd {shown}: connection closed {doing}"),
        _ => anyhow!("saslauthd {shown}: {doing}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread::JoinHandle;

    fn scratch_dir(tag: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imapd-saslauthd-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_counted(s: &mut UnixStream) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// A one-connection fake saslauthd: reads the four strings, then writes `reply` raw
    /// (`None`: closes without answering). Returns the socket path and what it received.
    fn fake_saslauthd(tag: &str, reply: Option<Vec<u8>>) -> (PathBuf, JoinHandle<Vec<Vec<u8>>>) {
        let dir = scratch_dir(tag);
        let path = dir.join("mux");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let fields: Vec<Vec<u8>> = (0..4).map(|_| read_counted(&mut s).unwrap()).collect();
            if let Some(r) = reply {
                s.write_all(&r).unwrap();
            }
            fields
        });
        (path, handle)
    }

    fn counted(s: &[u8]) -> Vec<u8> {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s);
        v
    }

    #[test]
    fn ok_answer_and_the_request_on_the_wire() {
        let (path, server) = fake_saslauthd("ok", Some(counted(b"OK")));
        let ok = check(&path, "alice", "pässword".as_bytes(), "imap", "").unwrap();
        assert!(ok);
        let fields = server.join().unwrap();
        assert_eq!(
            fields,
            [
                b"alice".to_vec(),
                "pässword".as_bytes().to_vec(),
                b"imap".to_vec(),
                Vec::new()
            ]
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn exact_bytes_on_the_wire() {
        let dir = scratch_dir("bytes");
        let path = dir.join("mux");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = vec![0u8; 2 + 1 + 2 + 2 + 2 + 4 + 2 + 3];
            s.read_exact(&mut got).unwrap();
            s.write_all(b"\x00\x0fOK authenticated").unwrap();
            got
        });
        assert!(check(&path, "u", b"pw", "imap", "dom").unwrap());
        assert_eq!(
            server.join().unwrap(),
            b"\x00\x01u\x00\x02pw\x00\x04imap\x00\x03dom"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_answer_is_false() {
        let (path, server) = fake_saslauthd("no", Some(counted(b"NO authentication failed")));
        assert!(!check(&path, "alice", b"wrong", "imap", "").unwrap());
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn server_closing_early_is_an_error() {
        let (path, server) = fake_saslauthd("close", None);
        let e = check(&path, "alice", b"pw", "imap", "")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "saslauthd {}: connection closed reading the answer",
                path.display()
            )
        );
        server.join().unwrap();

        // Closing in the middle of the answer.
        let (path, server) = fake_saslauthd("half", Some(b"\x00\x10OK".to_vec()));
        let e = check(&path, "alice", b"pw", "imap", "")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "saslauthd {}: connection closed reading the answer",
                path.display()
            )
        );
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn garbage_answers_are_errors() {
        for (tag, reply, shown) in [
            ("garbage", counted(b"HELLO there"), "\"HELLO there\""),
            ("empty", counted(b""), "\"\""),
            ("short", counted(b"O"), "\"O\""),
            ("lower", counted(b"ok"), "\"ok\""),
        ] {
            let (path, server) = fake_saslauthd(tag, Some(reply));
            let e = check(&path, "alice", b"pw", "imap", "")
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!("saslauthd {}: unexpected answer {shown}", path.display())
            );
            server.join().unwrap();
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
        }
    }

    #[test]
    fn missing_socket_is_an_error_naming_it() {
        let path = scratch_dir("missing").join("mux");
        let e = format!("{:#}", check(&path, "a", b"b", "imap", "").unwrap_err());
        assert!(
            e.starts_with(&format!("saslauthd {}: connect: ", path.display())),
            "{e}"
        );
    }

    #[test]
    fn silent_server_times_out() {
        let dir = scratch_dir("silent");
        let path = dir.join("mux");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(600));
            drop(s);
        });
        let t = std::time::Instant::now();
        let e = check_with_timeout(&path, "a", b"b", "imap", "", Duration::from_millis(150))
            .unwrap_err()
            .to_string();
        assert!(t.elapsed() < Duration::from_millis(550));
        assert_eq!(
            e,
            format!(
                "saslauthd {}: no progress reading the answer within 150ms",
                path.display()
            )
        );
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn oversized_fields_are_refused_before_connecting() {
        let path = Path::new("/nonexistent/mux");
        let big = vec![b'x'; 70_000];
        let e = check(path, "a", &big, "imap", "").unwrap_err().to_string();
        assert_eq!(
            e,
            "saslauthd /nonexistent/mux: password is too long (70000 bytes)"
        );
    }
}
