//! The command line as Cyrus's imapd takes it (cyrus-compat 1.3) and the
//! single-session `-X` mode on stdin/stdout.

use crate::harness::{run_imapd, server};

const ENV: &[(&str, &str)] = &[("CYRUS_SERVICE", "imap"), ("CYRUS_ID", "0")];

#[test]
fn dash_x_serves_one_session_on_stdio() {
    let data = server().no_tls().prepare();
    let conf = data.conf();
    let (code, out, err) = run_imapd(
        &["-C", conf.to_str().unwrap(), "-X"],
        ENV,
        b"a CAPABILITY\r\nb LOGOUT\r\n",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert!(lines[0].starts_with("* OK [CAPABILITY IMAP4rev1"), "{out}");
    assert!(lines[1].starts_with("* CAPABILITY IMAP4rev1"), "{out}");
    assert_eq!(lines[2], "a OK Completed");
    assert_eq!(lines[3], "* BYE LOGOUT received");
    assert_eq!(lines[4], "b OK Completed");
}

#[test]
fn service_environment_is_required() {
    let data = server().no_tls().prepare();
    let conf = data.conf();
    let (code, _, err) = run_imapd(&["-C", conf.to_str().unwrap(), "-X"], &[], b"");
    assert_eq!(code, 70, "{err}");
}

#[test]
fn merged_option_and_value_is_a_usage_error() {
    let (code, _, err) = run_imapd(&["-U30"], ENV, b"");
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("MUST be separated by whitespace"), "{err}");
}

/// systemd socket activation: the listener arrives as fd 3 with
/// LISTEN_FDS/LISTEN_PID (and LISTEN_FDNAMES); no --listen needed.
#[test]
fn systemd_socket_activation() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    let data = server().no_tls().conf("allowplaintext: yes").prepare();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let lfd = listener.as_raw_fd();
    let mut cmd = std::process::Command::new("/bin/sh");
    // LISTEN_PID must be imapd's own pid: the shell exports its pid, then
    // execs imapd in its place.
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" -C \"$1\"")
        .arg(crate::harness::imapd_bin())
        .arg(data.conf())
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "imap")
        .env_remove("CYRUS_SERVICE")
        .env_remove("CYRUS_ID")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only fcntl/dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let tmp = libc::fcntl(lfd, libc::F_DUPFD, 10);
            if tmp < 0 || libc::dup2(tmp, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(tmp);
            Ok(())
        });
    }
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(cmd.spawn().unwrap());
    let mut c = crate::harness::Client::connect(addr);
    let g = c.line();
    assert!(g.starts_with("* OK [CAPABILITY IMAP4rev1"), "{g}");
    assert!(c.cmd("a", "LOGIN plain secret").1.starts_with("a OK"));
    assert_eq!(c.cmd("b", "LOGOUT").1, "b OK Completed");
}
