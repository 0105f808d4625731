//! imapd with Cyrus's own programs: under the real master(8) from Debian's
//! cyrus-common, and authenticating through a real saslauthd (sasl2-bin).
//! `.ci/run` installs both; where a package cannot be had, the test says
//! so and skips.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Client, TestDir, free_port, imapd_bin, server};

fn have(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    println!("SKIPPED: {path} is not installed (Debian package missing)");
    false
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // master stops its children on SIGTERM (cyrus-compat 1.5).
        // SAFETY: signalling our own child by PID.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect_retry(port: u16) -> Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            return Client::connect(([127, 0, 0, 1], port).into());
        }
        assert!(Instant::now() < deadline, "nothing listening on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Cyrus's master(8) (at `master`) running imapd, with `args` after
/// `-C <conf>`, as its one service on 127.0.0.1:`port`; killed on drop.
fn cyrus_master(master: &str, data: &TestDir, args: &str, port: u16) -> Killed {
    std::fs::write(
        data.root.join("cyrus.conf"),
        format!(
            "START {{\n}}\nSERVICES {{\n  imap cmd=\"{} -C {} {args}\" listen=\"127.0.0.1:{port}\" prefork=0\n}}\nEVENTS {{\n}}\n",
            imapd_bin().display(),
            data.conf().display()
        ),
    )
    .unwrap();
    // master runs its services as the cyrus user; give it the test tree.
    let _ = Command::new("chown")
        .arg("-R")
        .arg("cyrus")
        .arg(&data.root)
        .status();
    let child = Command::new(master)
        .arg("-C")
        .arg(data.conf())
        .arg("-M")
        .arg(data.root.join("cyrus.conf"))
        .arg("-p")
        .arg(data.root.join("master.pid"))
        .arg("-D")
        // master's SIGTERM handler signals its whole process group; keep
        // the test runner out of it.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Killed(child)
}

#[test]
fn under_the_real_cyrus_master() {
    let master = "/usr/lib/cyrus/bin/master";
    if !have(master) {
        return;
    }
    let data = server().no_tls().conf("allowplaintext: yes").prepare();
    let port = free_port();
    let _master = cyrus_master(master, &data, "-U 5", port);
    for round in 0..2 {
        let mut c = connect_retry(port);
        let g = c.line();
        assert!(g.starts_with("* OK [CAPABILITY IMAP4rev1"), "{g}");
        let (_, t) = c.cmd("a", "LOGIN plain secret");
        assert!(t.starts_with("a OK"), "round {round}: {t}");
        assert_eq!(c.cmd("b", "NOOP").1, "b OK Completed");
        assert_eq!(c.cmd("c", "LOGOUT").1, "c OK Completed");
        assert!(c.closed());
    }
}

#[test]
fn through_a_real_saslauthd() {
    if !have("/usr/sbin/saslauthd") || !have("/usr/sbin/saslpasswd2") {
        return;
    }
    let data = server().no_tls().conf("allowplaintext: yes").prepare();
    let run = data.root.join("saslauthd");
    std::fs::create_dir_all(&run).unwrap();
    // saslauthd's sasldb backend reads the system's /etc/sasldb2: add a
    // user of our own there and take it out again afterwards.
    let user = format!("imapdtest{}", std::process::id());
    let mut add = Command::new("/usr/sbin/saslpasswd2")
        .args(["-p", "-c", &user])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(add.stdin.as_mut().unwrap(), b"sasl-pw").unwrap();
    drop(add.stdin.take());
    assert!(add.wait().unwrap().success(), "saslpasswd2 failed");
    struct RemoveUser(String);
    impl Drop for RemoveUser {
        fn drop(&mut self) {
            let _ = Command::new("/usr/sbin/saslpasswd2")
                .args(["-d", &self.0])
                .status();
        }
    }
    let _cleanup = RemoveUser(user.clone());
    let child = Command::new("/usr/sbin/saslauthd")
        .args(["-a", "sasldb", "-d", "-n", "1", "-m"])
        .arg(&run)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _saslauthd = Killed(child);
    let mux = run.join("mux");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !mux.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let conf = data.conf();
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text += &format!(
        "sasl_pwcheck_method: saslauthd\nsasl_saslauthd_path: {}\n",
        mux.display()
    );
    std::fs::write(&conf, text).unwrap();
    let s = crate::harness::start_prepared(data, false);
    let mut c = s.connect();
    c.line();
    let (_, t) = c.cmd("a", &format!("LOGIN {user} wrong"));
    assert_eq!(t, "a NO Login failed: authentication failure");
    let (_, t) = c.cmd("b", &format!("LOGIN {user} sasl-pw"));
    assert!(t.starts_with("b OK"), "{t}");
}

/// Hot swap under the real master(8): a session open in a child moves to
/// the new module at its next command, and new connections get it.
#[test]
fn swap_under_the_real_cyrus_master() {
    let master = "/usr/lib/cyrus/bin/master";
    if !have(master) {
        return;
    }
    let data = server().no_tls().conf("allowplaintext: yes").prepare();
    let port = free_port();
    let hostile = data.root.join("hostile.wasm");
    std::fs::copy(crate::harness::hostile_guest(), &hostile).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hostile, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let _master = cyrus_master(master, &data, "", port);
    let mut c = connect_retry(port);
    assert!(!c.line().contains("-hostile"));
    let (_, t) = c.cmd("a", "LOGIN plain secret");
    assert!(t.starts_with("a OK"), "{t}");
    assert!(c.cmd("b", "SELECT INBOX").1.starts_with("b OK"));
    let (code, out, err) = crate::harness::run_imapd(
        &[
            "swap",
            "-C",
            data.conf().to_str().unwrap(),
            hostile.to_str().unwrap(),
        ],
        &[],
        b"",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 sessions moved"), "{out}");
    let (u, t) = c.cmd("c", "ID NIL");
    assert!(t.starts_with("c OK"), "{t}");
    assert!(u[0].contains("-hostile"), "{u:?}");
    assert!(c.cmd("d", "FETCH 1:* (FLAGS)").1.starts_with("d OK"));
    let mut fresh = connect_retry(port);
    assert!(fresh.line().contains("-hostile"));
}
