//! imapd under a stand-in for Cyrus master(8): fd 4 a listening socket,
//! fd 3 the status pipe, CYRUS_SERVICE/CYRUS_ID set (cyrus-compat 1, 6).

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::harness::{Client, TestDir, imapd_bin, server};

pub struct Master {
    pub child: Child,
    pub addr: SocketAddr,
    status: Receiver<(i32, i32)>,
    _listener: TcpListener,
    pub data: TestDir,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both are new and ours.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// In the child: the status pipe on fd 3 and the listener on fd 4, as
/// master(8) leaves them. Both are first copied above 10, since either may
/// already sit on 3 or 4.
fn place_fds(status: i32, listener: i32) -> std::io::Result<()> {
    // SAFETY: plain descriptor calls on descriptors this process owns.
    unsafe {
        let s = libc::fcntl(status, libc::F_DUPFD, 10);
        let l = libc::fcntl(listener, libc::F_DUPFD, 10);
        if s < 0 || l < 0 || libc::dup2(s, 3) < 0 || libc::dup2(l, 4) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::close(s);
        libc::close(l);
    }
    Ok(())
}

impl Master {
    pub fn start(data: TestDir, bin: &Path, args: &[&str]) -> Master {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (r, w) = pipe();
        let (lfd, wfd) = (listener.as_raw_fd(), w.as_raw_fd());
        let mut cmd = Command::new(bin);
        cmd.arg("-C")
            .arg(data.conf())
            .args(args)
            .env("CYRUS_SERVICE", "imap")
            .env("CYRUS_ID", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: only async-signal-safe fcntl/dup2 calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || place_fds(wfd, lfd));
        }
        let child = cmd.spawn().expect("spawn imapd");
        drop(w);
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(r);
            let mut msg = [0u8; 8];
            while f.read_exact(&mut msg).is_ok() {
                let m = i32::from_ne_bytes(msg[..4].try_into().unwrap());
                let pid = i32::from_ne_bytes(msg[4..].try_into().unwrap());
                if tx.send((m, pid)).is_err() {
                    break;
                }
            }
        });
        Master {
            child,
            addr,
            status: rx,
            _listener: listener,
            data,
        }
    }

    /// Status messages received within `wait`.
    pub fn statuses(&self, wait: Duration) -> Vec<i32> {
        let pid = self.child.id() as i32;
        let mut out = Vec::new();
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.status.recv_timeout(left) {
                Ok((m, p)) => {
                    assert_eq!(p, pid, "status from the wrong pid");
                    out.push(m);
                }
                Err(_) => break,
            }
        }
        out
    }

    /// The exit code, waiting at most `wait`.
    pub fn exit_code(&mut self, wait: Duration) -> Option<i32> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: signalling our own child by PID.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    pub fn session(&self) -> Client {
        let mut c = Client::connect(self.addr);
        assert!(c.line().starts_with("* OK [CAPABILITY"));
        c
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process that is killed if the test ends early.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn data() -> TestDir {
    server().conf("allowplaintext: yes").prepare()
}

#[test]
fn status_sequence_and_dash_u() {
    let mut m = Master::start(data(), &imapd_bin(), &["-U", "2"]);
    // Nothing before the first accept.
    assert!(m.statuses(Duration::from_millis(300)).is_empty());
    let mut c = m.session();
    assert_eq!(c.cmd("a", "LOGOUT").1, "a OK Completed");
    assert!(c.closed());
    let mut c = m.session();
    c.login("plain", "secret");
    assert_eq!(c.cmd("b", "LOGOUT").1, "b OK Completed");
    assert!(c.closed());
    assert_eq!(m.exit_code(Duration::from_secs(10)), Some(0));
    // UNAVAILABLE, CONNECTION, AVAILABLE, UNAVAILABLE, CONNECTION, then
    // nothing after the last use.
    assert_eq!(m.statuses(Duration::from_millis(300)), vec![2, 3, 1, 2, 3]);
}

#[test]
fn dash_t_applies_only_after_the_first_connection() {
    let mut m = Master::start(data(), &imapd_bin(), &["-T", "1"]);
    assert_eq!(
        m.exit_code(Duration::from_millis(2500)),
        None,
        "exited before any connection"
    );
    let mut c = m.session();
    assert_eq!(c.cmd("a", "LOGOUT").1, "a OK Completed");
    let t0 = Instant::now();
    assert_eq!(m.exit_code(Duration::from_secs(10)), Some(0));
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}

#[test]
fn sighup_ends_an_idle_process_at_once() {
    let mut m = Master::start(data(), &imapd_bin(), &[]);
    // Ready once it has opened its accept lock (signals are handled from
    // the very start, but a SIGHUP before exec completes would just kill it).
    let lock = m.data.config_dir().join("socket/imap-0.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    m.signal(libc::SIGHUP);
    assert_eq!(m.exit_code(Duration::from_secs(5)), Some(0));
    assert!(m.statuses(Duration::from_millis(100)).is_empty());
}

#[test]
fn sighup_lets_the_current_session_finish() {
    let mut m = Master::start(data(), &imapd_bin(), &[]);
    let mut c = m.session();
    c.login("plain", "secret");
    m.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    assert_eq!(m.exit_code(Duration::from_millis(300)), None);
    assert_eq!(c.cmd("b", "LOGOUT").1, "b OK Completed");
    assert_eq!(m.exit_code(Duration::from_secs(5)), Some(0));
    // No AVAILABLE after the session: it is going away.
    assert_eq!(m.statuses(Duration::from_millis(100)), vec![2, 3]);
}

#[test]
fn sigterm_during_a_session_exits_75_without_bye() {
    let mut m = Master::start(data(), &imapd_bin(), &[]);
    let mut c = m.session();
    c.login("plain", "secret");
    m.signal(libc::SIGTERM);
    assert_eq!(m.exit_code(Duration::from_secs(5)), Some(75));
    assert_eq!(c.try_line(), None, "server sent something on SIGTERM");
}

#[test]
fn a_replaced_binary_exits_when_it_next_waits() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("imapd");
    std::fs::copy(imapd_bin(), &bin).unwrap();
    let mut m = Master::start(data(), &bin, &[]);
    let mut c = m.session();
    // Replace the file (new inode) while the session runs.
    let staged = tmp.path().join("imapd.new");
    std::fs::copy(imapd_bin(), &staged).unwrap();
    std::fs::rename(&staged, &bin).unwrap();
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    assert_eq!(c.cmd("b", "LOGOUT").1, "b OK Completed");
    assert_eq!(m.exit_code(Duration::from_secs(5)), Some(0));
}

#[test]
fn two_children_take_turns_through_the_accept_lock() {
    let d = data();
    let conf = d.conf();
    let mut a = Master::start(d, &imapd_bin(), &["-U", "1"]);
    // A second child of the same service+id on the same socket.
    let listener_fd = a._listener.as_raw_fd();
    let (_r, w) = pipe();
    let wfd = w.as_raw_fd();
    let mut cmd = Command::new(imapd_bin());
    cmd.arg("-C")
        .arg(&conf)
        .args(["-U", "1"])
        .env("CYRUS_SERVICE", "imap")
        .env("CYRUS_ID", "0");
    // SAFETY: only dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || place_fds(wfd, listener_fd));
    }
    let mut b = KillOnDrop(cmd.spawn().unwrap());
    let lock = a.data.config_dir().join("socket/imap-0.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lock.exists(), "no accept lock file");
    let mut c1 = a.session();
    let mut c2 = a.session();
    assert_eq!(c1.cmd("x", "LOGOUT").1, "x OK Completed");
    assert_eq!(c2.cmd("y", "LOGOUT").1, "y OK Completed");
    assert_eq!(a.exit_code(Duration::from_secs(5)), Some(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(b.0.try_wait().unwrap().and_then(|s| s.code()), Some(0));
}

#[test]
fn bad_descriptors_exit_1() {
    let d = data();
    let out = Command::new(imapd_bin())
        .arg("-C")
        .arg(d.conf())
        .env("CYRUS_SERVICE", "imap")
        .env("CYRUS_ID", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dash_d_runs_debug_command_first() {
    let d = server().conf("allowplaintext: yes").prepare();
    let marker = d.root.join("debug.out");
    let conf = d.conf();
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text += &format!("debug_command: echo %s %d %s >> {}\n", marker.display());
    std::fs::write(&conf, text).unwrap();
    let mut m = Master::start(d, &imapd_bin(), &["-D", "-U", "1"]);
    let mut c = m.session();
    assert_eq!(c.cmd("a", "LOGOUT").1, "a OK Completed");
    assert_eq!(m.exit_code(Duration::from_secs(5)), Some(0));
    let out = std::fs::read_to_string(&marker).unwrap();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{out}");
    assert!(words[0].ends_with("imapd"), "{out}");
    assert_eq!(words[1], m.child.id().to_string());
    assert_eq!(words[2], "imap");
}
