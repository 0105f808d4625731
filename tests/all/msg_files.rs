//! msg/shutdown and log/<user> telemetry, as Cyrus does them
//! (cyrus-compat 2.4, 2.5).

use crate::harness::server;

#[test]
fn shutdown_file_kicks_users_after_login_but_not_admins() {
    let s = server().conf("admins: sha512").start();
    std::fs::write(
        s.data.config_dir().join("msg/shutdown"),
        "[Down for maintenance\nmore\n",
    )
    .unwrap();
    // Before login nothing happens.
    let mut c = s.connect_tls();
    c.line();
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    let (_, t) = c.cmd("b", "LOGIN plain secret");
    assert!(t.starts_with("b OK"), "{t}");
    assert_eq!(c.line(), "* BYE [ALERT] Down for maintenance");
    assert!(c.closed());
    // An admin stays.
    let mut c = s.connect_tls();
    c.line();
    c.login("sha512", "secret");
    assert_eq!(c.cmd("c", "NOOP").1, "c OK Completed");
}

#[test]
fn shutdown_file_created_mid_session_is_noticed_before_the_next_command() {
    let s = server().start();
    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    // The service-specific file wins over the generic one.
    std::fs::write(s.data.config_dir().join("msg/shutdown"), "generic\n").unwrap();
    std::fs::write(
        s.data.config_dir().join("msg/shutdown.imap"),
        "for imap only\n",
    )
    .unwrap();
    c.send("b NOOP\r\n");
    assert_eq!(c.line(), "* BYE [ALERT] for imap only");
    assert!(c.closed());
}

#[test]
fn telemetry_only_when_the_log_directory_exists() {
    let s = server().start();
    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    c.cmd("a", "NOOP");
    assert!(!s.data.config_dir().join("log").exists());

    std::fs::create_dir_all(s.data.config_dir().join("log/plain")).unwrap();
    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    assert_eq!(c.cmd("b", "LOGOUT").1, "b OK Completed");
    assert!(c.closed());
    let file = s
        .data
        .config_dir()
        .join(format!("log/plain/imap-{}", s.pid()));
    let log = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(log.starts_with("---------- plain "), "{log}");
    let mut lines = log.split('\n');
    lines.next();
    assert_eq!(
        lines.next(),
        Some(""),
        "no blank line after the header: {log}"
    );
    assert!(!log.contains("secret"), "password on disk: {log}");
    assert!(
        log.contains("<a NOOP\r\n") || log.contains("< a NOOP"),
        "{log}"
    );
    let has_client = log
        .lines()
        .any(|l| l.starts_with('<') && l.contains("<a NOOP"));
    let has_server = log
        .lines()
        .any(|l| l.starts_with('>') && l.contains(">a OK Completed"));
    assert!(has_client && has_server, "{log}");
    assert!(
        log.contains("L1 OK"),
        "the LOGIN reply is the first entry: {log}"
    );
}
