//! Bad configuration never panics: each error names the file and line (or
//! the file), and the process exits with EX_CONFIG.

use crate::harness::{run_imapd, server};

fn start_with(conf: &str) -> (i32, String) {
    let data = server().no_tls().prepare();
    let path = data.conf();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text += conf;
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = run_imapd(
        &["-C", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[],
        b"",
    );
    (code, err)
}

#[test]
fn malformed_lines_are_reported_with_file_and_line() {
    let (code, err) = start_with("this line has no colon\n");
    assert_eq!(code, 78, "{err}");
    // The line after the harness's own.
    let line = std::fs::read_to_string(server().no_tls().prepare().conf())
        .unwrap()
        .lines()
        .count()
        + 1;
    assert!(err.contains(&format!("imapd.conf:{line}:")), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let (code, err) = start_with("allowplaintext: maybe\n");
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("allowplaintext"), "{err}");

    let (code, err) = start_with("servername: a\nservername: b\n");
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("specified twice"), "{err}");
}

#[test]
fn missing_config_file() {
    let (code, _, err) = run_imapd(
        &["-C", "/nonexistent/imapd.conf", "--listen", "127.0.0.1:0"],
        &[],
        b"",
    );
    assert_eq!(code, 78);
    assert!(err.contains("/nonexistent/imapd.conf"), "{err}");
}

#[test]
fn missing_certificate_is_named() {
    let (code, err) = start_with(
        "tls_server_cert: /nonexistent/cert.pem\ntls_server_key: /nonexistent/key.pem\n",
    );
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}

#[test]
fn missing_client_ca_file_is_named() {
    let (c, k) = crate::harness::test_cert();
    let (code, err) = start_with(&format!(
        "tls_server_cert: {}\ntls_server_key: {}\ntls_client_ca_file: /nonexistent/ca.pem\n",
        c.display(),
        k.display()
    ));
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("tls_client_ca_file /nonexistent/ca.pem"),
        "{err}"
    );
    let (code, err) = start_with("tls_client_certs: maybe\n");
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("tls_client_certs"), "{err}");
}

#[test]
fn unreadable_password_file_gives_a_clear_no() {
    let s = server().start();
    let pw = s.data.config_dir().join("passwd");
    std::fs::remove_file(&pw).unwrap();
    std::fs::create_dir(&pw).unwrap(); // unreadable as a file, even for root
    let mut c = s.connect_tls();
    c.line();
    let (_, t) = c.cmd("a", "LOGIN plain secret");
    assert!(t.starts_with("a NO [UNAVAILABLE]"), "{t}");
    assert_eq!(c.cmd("b", "NOOP").1, "b OK Completed");
}
