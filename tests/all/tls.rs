//! STARTTLS and implicit TLS (rfc2595, rfc8314), and the STARTTLS
//! injection attack: plaintext pipelined after STARTTLS is never executed.

use crate::harness::server;

#[test]
fn starttls_then_login() {
    let s = server().start();
    let mut c = s.connect();
    c.line();
    assert_eq!(c.cmd("a", "STARTTLS").1, "a OK Begin TLS negotiation now");
    c.start_tls();
    let (u, t) = c.cmd("b", "CAPABILITY");
    assert_eq!(t, "b OK Completed");
    assert!(
        !u[0].contains("STARTTLS") && !u[0].contains("LOGINDISABLED"),
        "{}",
        u[0]
    );
    assert!(u[0].contains("AUTH=PLAIN"), "{}", u[0]);
    assert_eq!(c.cmd("c", "STARTTLS").1, "c NO TLS already active");
    assert!(c.cmd("d", "LOGIN plain secret").1.starts_with("d OK"));
}

#[test]
fn plaintext_pipelined_after_starttls_is_discarded() {
    let s = server().start();
    let mut c = s.connect();
    c.line();
    c.send("a STARTTLS\r\nb LOGIN plain secret\r\nc NOOP\r\n");
    assert_eq!(c.line(), "a OK Begin TLS negotiation now");
    c.start_tls();
    // Nothing from b or c: the first thing after the handshake is the
    // answer to our own command.
    let (u, t) = c.cmd("d", "NOOP");
    assert!(u.is_empty(), "{u:?}");
    assert_eq!(t, "d OK Completed");
    // And b's LOGIN never happened.
    assert_eq!(c.cmd("e", "SELECT INBOX").1, "e BAD Please login first");
}

#[test]
fn starttls_after_login_is_refused() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    let (_, t) = c.cmd("a", "STARTTLS");
    assert!(t.starts_with("a BAD") || t.starts_with("a NO"), "{t}");
}

#[test]
fn tls_required_hides_login_until_tls() {
    let s = server()
        .conf("tls_required: yes")
        .conf("allowplaintext: yes")
        .start();
    let mut c = s.connect();
    let g = c.line();
    assert!(g.contains("STARTTLS LOGINDISABLED]"), "{g}");
    assert!(!g.contains("AUTH="), "{g}");
    assert!(c.cmd("a", "LOGIN plain secret").1.starts_with("a NO"));
    c.cmd("b", "STARTTLS");
    c.start_tls();
    assert!(c.cmd("c", "LOGIN plain secret").1.starts_with("c OK"));
}

#[test]
fn a_failed_handshake_costs_only_that_connection() {
    let s = server().start();
    let mut c = crate::harness::Client::connect(s.tls.unwrap());
    c.send("a LOGIN plain secret\r\n");
    assert!(c.closed());
    let mut c = s.connect_tls();
    assert!(c.line().starts_with("* OK"));
}
