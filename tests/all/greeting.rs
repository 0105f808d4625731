//! Greeting, CAPABILITY and the commands valid before login
//! (cyrus-compat 2.2, 2.3, 2.7, 2.8).

use crate::harness::server;

const PRE: &str = "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE";

#[test]
fn greeting_on_plain_port_offers_starttls_and_disables_login() {
    let s = server().start();
    let mut c = s.connect();
    let g = c.line();
    assert!(
        g.starts_with(&format!(
            "{PRE} STARTTLS LOGINDISABLED] test.example Cyrus IMAP "
        )),
        "{g}"
    );
    assert!(g.ends_with(" server ready"), "{g}");
    assert!(!g.contains("AUTH="), "{g}");
}

#[test]
fn greeting_with_plaintext_allowed_lists_auth_mechanisms() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let mut c = s.connect();
    let g = c.line();
    assert!(
        g.starts_with(&format!(
            "{PRE} AUTH=PLAIN AUTH=LOGIN SASL-IR] test.example "
        )),
        "{g}"
    );
}

#[test]
fn greeting_under_implicit_tls() {
    let s = server().start();
    let mut c = s.connect_tls();
    let g = c.line();
    assert!(
        g.starts_with(&format!(
            "{PRE} AUTH=PLAIN AUTH=LOGIN SASL-IR] test.example "
        )),
        "{g}"
    );
    assert!(
        !g.contains("STARTTLS") && !g.contains("LOGINDISABLED"),
        "{g}"
    );
}

#[test]
fn serverinfo_min_and_off() {
    let s = server().conf("serverinfo: min").start();
    let g = s.connect().line();
    assert!(
        g.ends_with("LOGINDISABLED] test.example server ready"),
        "{g}"
    );
    let s = server().conf("serverinfo: off").start();
    let g = s.connect().line();
    assert!(g.ends_with("LOGINDISABLED] server ready"), "{g}");
}

#[test]
fn motd_is_an_alert_after_the_greeting_and_reread_per_connection() {
    let s = server().start();
    let motd = s.data.config_dir().join("msg/motd");
    std::fs::write(&motd, "[[Welcome to imapd\nsecond line\n").unwrap();
    let mut c = s.connect();
    c.line();
    assert_eq!(c.line(), "* OK [ALERT] Welcome to imapd");
    std::fs::write(&motd, "Changed\n").unwrap();
    let mut c = s.connect();
    c.line();
    assert_eq!(c.line(), "* OK [ALERT] Changed");
    std::fs::remove_file(&motd).unwrap();
    let mut c = s.connect();
    c.line();
    let (u, t) = c.cmd("a", "NOOP");
    assert!(u.is_empty(), "{u:?}");
    assert_eq!(t, "a OK Completed");
}

#[test]
fn capability_lists_everything_and_completes() {
    let s = server().start();
    let mut c = s.connect();
    c.line();
    let (u, t) = c.cmd("a", "CAPABILITY");
    assert_eq!(u.len(), 1);
    assert!(
        u[0].starts_with("* CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE"),
        "{}",
        u[0]
    );
    assert!(
        u[0].contains("STARTTLS") && u[0].contains("LOGINDISABLED"),
        "{}",
        u[0]
    );
    assert_eq!(t, "a OK Completed");
    // Commands are case-insensitive.
    let (u, t) = c.cmd("b", "capability");
    assert_eq!(u.len(), 1);
    assert_eq!(t, "b OK Completed");
}

#[test]
fn suppress_capabilities_hides_names() {
    let s = server().conf("suppress_capabilities: ID ENABLE").start();
    let mut c = s.connect();
    let g = c.line();
    assert!(
        g.starts_with("* OK [CAPABILITY IMAP4rev1 LITERAL+ STARTTLS"),
        "{g}"
    );
}

#[test]
fn noop_logout_and_errors_as_cyrus_answers_them() {
    let s = server().start();
    let mut c = s.connect();
    c.line();
    assert_eq!(c.cmd("a1", "NOOP").1, "a1 OK Completed");
    assert_eq!(
        c.cmd("a2", "NOOP extra").1,
        "a2 BAD Unexpected extra arguments to Noop"
    );
    // Cyrus: before login, unknown commands are answered like known ones.
    assert_eq!(c.cmd("a3", "FROBNICATE").1, "a3 BAD Please login first");
    assert_eq!(c.cmd("a4", "SELECT INBOX").1, "a4 BAD Please login first");
    c.send("* NOOP\r\n");
    assert_eq!(c.line(), "* BAD Invalid tag");
    let (u, t) = c.cmd("a5", "LOGOUT");
    assert_eq!(u, vec!["* BYE LOGOUT received".to_string()]);
    assert_eq!(t, "a5 OK Completed");
    assert!(c.closed());
}

#[test]
fn id_and_enable() {
    let s = server().start();
    let mut c = s.connect();
    c.line();
    let (u, t) = c.cmd("a", "ID (\"name\" \"test\" \"version\" NIL)");
    assert_eq!(t, "a OK Completed");
    assert_eq!(u.len(), 1);
    assert!(u[0].starts_with("* ID (\"name\" "), "{}", u[0]);
    let (_, t) = c.cmd("b", "ID NIL");
    assert_eq!(t, "b OK Completed");
    let (_, t) = c.cmd("c", "ID (\"unterminated\"");
    assert!(t.starts_with("c BAD"), "{t}");
}
