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
