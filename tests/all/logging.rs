//! The log, as operators and their tools read it: syslog delivery with
//! the configured ident and facility, Cyrus's line shapes for logins,
//! failures and USAGE, and Debian's fail2ban `cyrus-imap` filter finding
//! every failed login with the client's IP.

use std::net::Ipv4Addr;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::harness::{Client, free_port, imapd_bin, server};

/// Lines Debian's Cyrus 3.6.1 imapd sent to syslog for the same session
/// steps (recorded with `syslog_prefix: cyrus`, facility mail): a wrong
/// password with LOGIN, with AUTHENTICATE PLAIN, a good LOGIN, LOGOUT.
const CYRUS: &[&str] = &[
    "<21>Dec  4 12:19:20 cyrus/imap[19102]: badlogin: localhost [127.0.0.1] plaintext (alice) [SASL(-13): authentication failure: checkpass failed]",
    "<21>Dec  4 12:19:20 cyrus/imap[19102]: badlogin: localhost [127.0.0.1] PLAIN (alice) [SASL(-13): authentication failure: Password verification failed]",
    "<21>Dec  4 12:19:20 cyrus/imap[19102]: login: localhost [127.0.0.1] alice plaintext User logged in SESSIONID=<cyrus-1796386760-19102-1-8143552243963286495>",
    "<21>Dec  4 12:19:20 cyrus/imap[19102]: USAGE alice user: 0.020131 sys: 0.015098",
];

const FILTER: &str = "/etc/fail2ban/filter.d/cyrus-imap.conf";

/// A line reduced to its shape: the priority, time and pid, the client's
/// name, the user and every number made generic, so that lines of two
/// servers compare equal when their formats do.
fn shape(line: &str, user: &str) -> String {
    let body = match line.split_once("]: ") {
        Some((_, b)) => b,
        None => line,
    };
    // The client: "<name> [<ip>]" or "[<ip>]" after the line's keyword.
    let body = match (body.find(": "), body.find("] ")) {
        (Some(a), Some(b)) if body.starts_with("login: ") || body.starts_with("badlogin: ") => {
            format!("{}HOST{}", &body[..a + 2], &body[b + 1..])
        }
        _ => body.to_string(),
    };
    let body = body
        .replace(&format!("({user})"), "(USER)")
        .replace(&format!(" {user} "), " USER ");
    let mut out = String::new();
    let mut in_digits = false;
    for c in body.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('9');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out.replace("SESSIONID=<cyrus-", "SESSIONID=<PREFIX-")
}

/// The steps whose lines [`CYRUS`] recorded, against imapd at `addr`,
/// plus an unknown user from 127.0.0.4. Failures come from 127.0.0.2,
/// 127.0.0.3 and 127.0.0.4; the good login from 127.0.0.1.
fn login_steps(addr: std::net::SocketAddr) {
    let mut c = Client::connect_from(addr, Ipv4Addr::new(127, 0, 0, 2));
    c.line();
    assert!(c.cmd("a", "LOGIN plain wrongpw1").1.starts_with("a NO "));
    let mut c = Client::connect_from(addr, Ipv4Addr::new(127, 0, 0, 3));
    c.line();
    let plain = B64.encode(b"\0plain\0wrongpw2");
    assert!(
        c.cmd("a", &format!("AUTHENTICATE PLAIN {plain}"))
            .1
            .starts_with("a NO ")
    );
    let mut c = Client::connect_from(addr, Ipv4Addr::new(127, 0, 0, 4));
    c.line();
    assert!(
        c.cmd("a", "LOGIN nosuchuser wrongpw3")
            .1
            .starts_with("a NO ")
    );
    let mut c = Client::connect(addr);
    c.line();
    assert!(c.cmd("a", "LOGIN plain secret").1.starts_with("a OK "));
    assert!(c.cmd("b", "SELECT INBOX").1.starts_with("b OK "));
    assert_eq!(c.cmd("c", "LOGOUT").1, "c OK Completed");
}

fn wait_for(lines: &Mutex<Vec<String>>, needle: &str) {
    let t0 = Instant::now();
    while !lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no line with {needle:?} in:\n{}",
            lines.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// fail2ban-regex with Debian's stock filter over `log`: the IPs of the
/// failures it finds, in order; `None` without fail2ban.
fn fail2ban_ips(log: &str, dir: &Path, dated: bool) -> Option<Vec<String>> {
    if !Path::new("/usr/bin/fail2ban-regex").exists() || !Path::new(FILTER).exists() {
        println!("SKIPPED: fail2ban is not installed (Debian package fail2ban)");
        return None;
    }
    let file = dir.join("fail2ban-input.log");
    std::fs::write(&file, log).unwrap();
    let mut cmd = Command::new("/usr/bin/fail2ban-regex");
    cmd.args(["-o", "ip"]);
    if !dated {
        cmd.args(["-d", "{NONE}"]);
    }
    let out = cmd.arg(&file).arg(FILTER).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const FAILED_FROM: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

#[test]
fn syslog_gets_cyrus_lines_with_ident_and_facility() {
    let data = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("log_destination: syslog")
        .conf("syslog_prefix: cyrus")
        .conf("syslog_facility: local6")
        .prepare();
    // The test's own /dev/log.
    let sock_path = data.root.join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    std::fs::write(
        data.conf(),
        std::fs::read_to_string(data.conf()).unwrap()
            + &format!("syslog_socket: {}\n", sock_path.display()),
    )
    .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = sock.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                lines.lock().unwrap().push(line);
            }
        });
    }
    let port = free_port();
    let child = Command::new(imapd_bin())
        .arg("-C")
        .arg(data.conf())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let pid = child.0.id();
    wait_for(&lines, "listening on 127.0.0.1:");
    login_steps(format!("127.0.0.1:{port}").parse().unwrap());
    wait_for(&lines, "USAGE plain user: ");
    // SIGTERM: Cyrus's "graceful shutdown", then exit.
    // SAFETY: signalling our own child by PID.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    wait_for(&lines, "graceful shutdown");
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr, "", "with syslog reachable, nothing goes to stderr");

    let lines = lines.lock().unwrap().clone();
    let all = lines.join("\n");
    // Every line: <PRI>Mmm dd hh:mm:ss cyrus/imap[pid]: ..., facility local6.
    for l in &lines {
        let (pri, rest) = l[1..].split_once('>').unwrap();
        let pri: u8 = pri.parse().unwrap();
        assert_eq!(pri >> 3, 22, "facility local6: {l}");
        assert_eq!(&rest[3..4], " ", "{l}");
        assert_eq!(&rest[9..10], ":", "{l}");
        assert!(
            rest[15..].starts_with(&format!(" cyrus/imap[{pid}]: ")),
            "ident: {l}"
        );
    }
    // Cyrus's shapes, line for line (severity notice, like Cyrus's).
    for (cyrus, needle) in CYRUS.iter().zip([
        "plaintext (plain) [SASL",
        "PLAIN (plain) [SASL",
        "]: login: ",
        "]: USAGE ",
    ]) {
        let ours = lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} line in:\n{all}"));
        assert_eq!(shape(ours, "plain"), shape(cyrus, "alice"), "{ours}");
        assert_eq!(&ours[..4], "<181", "local6.notice: {ours}");
    }
    // The session id in the login line starts with the syslog prefix,
    // as Cyrus's does.
    assert!(all.contains(" User logged in SESSIONID=<cyrus-"), "{all}");
    for pw in ["wrongpw1", "wrongpw2", "wrongpw3", "secret"] {
        assert!(!all.contains(pw), "a password in the log:\n{all}");
    }

    // What fail2ban reads from /var/log/mail.log: syslog's file format.
    let file: String = lines
        .iter()
        .map(|l| {
            let rest = l.split_once('>').unwrap().1;
            format!("{} testhost {}\n", &rest[..15], &rest[16..])
        })
        .collect();
    if let Some(ips) = fail2ban_ips(&file, &data.root, true) {
        assert_eq!(ips, FAILED_FROM, "{file}");
    }
}

#[test]
fn stderr_lines_are_prefixed_as_syslog_shows_them() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    login_steps(s.plain);
    let t0 = Instant::now();
    while !s.log().contains("USAGE plain user: ") {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", s.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = s.log();
    let prefix = format!("imap[{}]: ", s.pid());
    for l in log.lines() {
        assert!(l.starts_with(&prefix), "{l}");
    }
    assert_eq!(log.matches("]: badlogin: ").count(), 3, "{log}");
    if let Some(ips) = fail2ban_ips(&log, &s.data.root, false) {
        assert_eq!(ips, FAILED_FROM, "{log}");
    }
}

#[test]
fn a_bad_facility_is_a_config_error() {
    let data = server().conf("syslog_facility: mial").prepare();
    let out = Command::new(imapd_bin())
        .arg("-C")
        .arg(data.conf())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("syslog_facility: unknown facility 'mial'"),
        "{err}"
    );
}
