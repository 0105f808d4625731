//! LOGIN and AUTHENTICATE with every password scheme, the layer rule,
//! -N, -p, failedloginpause and promotion into the user's tree
//! (cyrus-compat 2.1, 2.9).

use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::harness::{USERS, run_imapd, server};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn login_with_every_hash_scheme_over_tls() {
    let s = server().start();
    for (user, pass, _) in USERS {
        let mut c = s.connect_tls();
        c.line();
        let (u, t) = c.cmd("a", &format!("LOGIN {user} {pass}"));
        assert!(u.is_empty(), "{u:?}");
        assert!(t.starts_with("a OK [CAPABILITY IMAP4rev1 "), "{user}: {t}");
        assert!(
            t.contains("] User logged in SESSIONID=<test.example-"),
            "{t}"
        );
        let (u, t) = c.cmd("b", "CAPABILITY");
        // The user's tree exists once the session runs in it.
        assert!(s.data.spool().join(user).is_dir(), "no tree for {user}");
        // The post-login list: no LOGINDISABLED (Cyrus 3.6) nor SASL-IR.
        assert!(
            !u[0].contains("LOGINDISABLED") && !u[0].contains("SASL-IR"),
            "{}",
            u[0]
        );
        assert_eq!(t, "b OK Completed");
        assert_eq!(c.cmd("c", "LOGOUT").1, "c OK Completed");
    }
}

#[test]
fn argon2id_user_from_the_admin_command() {
    let s = server().start();
    let conf = s.data.conf();
    let (code, _, err) = run_imapd(
        &["passwd", "-C", conf.to_str().unwrap(), "carol"],
        &[],
        b"c0rrect horse\n",
    );
    assert_eq!(code, 0, "{err}");
    let passwd = std::fs::read_to_string(s.data.config_dir().join("passwd")).unwrap();
    assert!(passwd.contains("carol:{ARGON2ID}$argon2id$"), "{passwd}");
    let mut c = s.connect_tls();
    c.line();
    let (_, t) = c.cmd("a", "LOGIN carol \"c0rrect horse\"");
    assert!(t.starts_with("a OK"), "{t}");
    // Changing the password takes effect without a restart.
    let (code, _, err) = run_imapd(
        &["passwd", "-C", conf.to_str().unwrap(), "carol"],
        &[],
        b"new\n",
    );
    assert_eq!(code, 0, "{err}");
    let mut c = s.connect_tls();
    c.line();
    assert!(
        c.cmd("a", "LOGIN carol \"c0rrect horse\"")
            .1
            .starts_with("a NO")
    );
    assert!(c.cmd("b", "LOGIN carol new").1.starts_with("b OK"));
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let s = server().start();
    let mut c = s.connect_tls();
    c.line();
    for (i, user) in ["plain", "sha512", "blf", "nobody"].iter().enumerate() {
        let (_, t) = c.cmd(&format!("a{i}"), &format!("LOGIN {user} wrong"));
        assert_eq!(t, format!("a{i} NO Login failed: authentication failure"));
    }
    // Still not logged in.
    assert_eq!(c.cmd("b", "SELECT INBOX").1, "b BAD Please login first");
}

#[test]
fn plaintext_login_needs_a_layer() {
    let s = server().start();
    let mut c = s.connect();
    c.line();
    assert_eq!(
        c.cmd("a", "LOGIN plain secret").1,
        "a NO Login only available under a layer"
    );
    let (_, t) = c.cmd(
        "b",
        &format!("AUTHENTICATE PLAIN {}", b64("\0plain\0secret")),
    );
    assert!(t.starts_with("b NO"), "{t}");
}

#[test]
fn allowplaintext_permits_login_without_tls() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let mut c = s.connect();
    c.line();
    assert!(c.cmd("a", "LOGIN plain secret").1.starts_with("a OK"));
}

#[test]
fn authenticate_plain_with_and_without_initial_response() {
    let s = server().start();
    let mut c = s.connect_tls();
    c.line();
    let (_, t) = c.cmd(
        "a",
        &format!("AUTHENTICATE PLAIN {}", b64("\0sha256\0secret")),
    );
    assert!(t.starts_with("a OK [CAPABILITY "), "{t}");
    assert!(t.contains("Success (tls protection) SESSIONID="), "{t}");

    let mut c = s.connect_tls();
    c.line();
    c.send("b AUTHENTICATE PLAIN\r\n");
    let cont = c.line();
    assert!(cont.starts_with('+'), "{cont}");
    c.send(&format!("{}\r\n", b64("plain\0plain\0secret")));
    let (_, t) = c.until_tagged("b");
    assert!(t.starts_with("b OK"), "{t}");

    // A wrong password, then a cancelled exchange.
    let mut c = s.connect_tls();
    c.line();
    let (_, t) = c.cmd("c", &format!("AUTHENTICATE PLAIN {}", b64("\0plain\0nope")));
    assert!(t.starts_with("c NO"), "{t}");
    c.send("d AUTHENTICATE PLAIN\r\n");
    assert!(c.line().starts_with('+'));
    c.send("*\r\n");
    let (_, t) = c.until_tagged("d");
    assert!(t.starts_with("d BAD"), "{t}");
    // Garbage base64.
    let (_, t) = c.cmd("e", "AUTHENTICATE PLAIN !!!notbase64");
    assert!(t.starts_with("e BAD") || t.starts_with("e NO"), "{t}");
    // The session still works.
    assert_eq!(c.cmd("f", "NOOP").1, "f OK Completed");
}

#[test]
fn dash_n_skips_the_password_for_login_only() {
    let s = server().arg("-N").start();
    let mut c = s.connect_tls();
    c.line();
    assert!(c.cmd("a", "LOGIN plain anything").1.starts_with("a OK"));
    let mut c = s.connect_tls();
    c.line();
    let (_, t) = c.cmd(
        "b",
        &format!("AUTHENTICATE PLAIN {}", b64("\0plain\0anything")),
    );
    assert!(t.starts_with("b NO"), "{t}");
    // The layer rule still holds.
    let mut c = s.connect();
    c.line();
    assert_eq!(
        c.cmd("c", "LOGIN plain x").1,
        "c NO Login only available under a layer"
    );
}

#[test]
fn external_ssf_of_two_counts_as_a_layer_and_one_does_not() {
    let s = server().arg("-p").arg("2").start();
    let mut c = s.connect();
    let g = c.line();
    assert!(
        !g.contains("LOGINDISABLED") && g.contains("AUTH=PLAIN"),
        "{g}"
    );
    assert!(c.cmd("a", "LOGIN plain secret").1.starts_with("a OK"));
    let s = server().arg("-p").arg("1").start();
    let mut c = s.connect();
    let g = c.line();
    assert!(g.contains("LOGINDISABLED"), "{g}");
}

#[test]
fn failed_login_pause_delays_only_that_session() {
    let s = server().conf("failedloginpause: 3s").start();
    let mut slow = s.connect_tls();
    slow.line();
    slow.send("a LOGIN plain wrong\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let mut other = s.connect_tls();
    other.line();
    assert!(other.cmd("b", "LOGIN plain secret").1.starts_with("b OK"));
    let quick = t0.elapsed();
    let (_, t) = slow.until_tagged("a");
    let paused = t0.elapsed();
    assert!(t.starts_with("a NO"), "{t}");
    assert!(
        quick < Duration::from_secs(2),
        "other session blocked for {quick:?}"
    );
    assert!(
        paused >= Duration::from_millis(2500),
        "no pause: {paused:?}"
    );
}

#[test]
fn pipelined_commands_after_login_run_in_the_post_auth_guest() {
    let s = server().start();
    let mut c = s.connect_tls();
    c.line();
    c.send("a LOGIN plain secret\r\nb NOOP\r\nc CAPABILITY\r\n");
    let (_, t) = c.until_tagged("a");
    assert!(t.starts_with("a OK"), "{t}");
    assert_eq!(c.until_tagged("b").1, "b OK Completed");
    let (u, t) = c.until_tagged("c");
    assert_eq!(t, "c OK Completed");
    assert!(u[0].starts_with("* CAPABILITY "), "{u:?}");
    assert_eq!(
        c.cmd("d", "LOGIN plain secret").1.split(' ').nth(1),
        Some("BAD")
    );
}

#[test]
fn maxlogins_per_user_and_per_host() {
    let s = server().conf("maxlogins_per_user: 2").start();
    let mut a = s.connect_tls();
    a.line();
    a.login("plain", "secret");
    let mut b = s.connect_tls();
    b.line();
    b.login("plain", "secret");
    let mut c = s.connect_tls();
    c.line();
    let (_, t) = c.cmd("a", "LOGIN plain secret");
    assert_eq!(
        t,
        "a NO Too many open connections (2 of 0 from 127.0.0.1, 2 of 2 for plain)"
    );
    // Another user is not affected, and a freed slot can be used again.
    assert!(c.cmd("b", "LOGIN sha256 secret").1.starts_with("b OK"));
    assert_eq!(a.cmd("z", "LOGOUT").1, "z OK Completed");
    assert!(a.closed());
    let mut d = s.connect_tls();
    d.line();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, t) = d.cmd("c", "LOGIN plain secret");
        if t.starts_with("c OK") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "slot never freed: {t}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let s = server().conf("maxlogins_per_host: 1").start();
    let mut a = s.connect_tls();
    a.line();
    a.login("plain", "secret");
    let mut b = s.connect_tls();
    b.line();
    let (_, t) = b.cmd("a", "LOGIN sha256 secret");
    assert!(
        t.starts_with("a NO Too many open connections (1 of 1 from 127.0.0.1"),
        "{t}"
    );
}

/// `maxpreauth_per_host`: an address holding that many connections not yet
/// logged in gets `* BYE` for the next one (plain) or a bare close (TLS);
/// other addresses are not affected, and a place comes back when one of
/// them logs in or goes away.
#[test]
fn connections_waiting_to_log_in_are_capped_per_address() {
    use crate::harness::Client;
    use std::net::Ipv4Addr;
    let s = server()
        .conf("maxpreauth_per_host: 2")
        .conf("allowplaintext: yes")
        .start();
    let waiting = |s: &crate::harness::TestServer| {
        let mut c = s.connect();
        assert!(c.line().starts_with("* OK "));
        c
    };
    let refused = |mut c: Client| {
        assert_eq!(
            c.line(),
            "* BYE Too many connections from your address waiting to log in"
        );
        assert!(c.closed());
    };
    let mut a = waiting(&s);
    let b = waiting(&s);
    refused(s.connect());
    // Implicit TLS: closed before the handshake, with no plaintext.
    let mut t = std::net::TcpStream::connect(s.tls.unwrap()).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    use std::io::Read;
    assert!(t.read_to_end(&mut got).is_ok() && got.is_empty(), "{got:?}");
    // Another address has places of its own.
    let mut other = Client::connect_from(s.plain, Ipv4Addr::new(127, 0, 0, 2));
    assert!(other.line().starts_with("* OK "));
    // A login gives its place back; the session goes on.
    a.login("plain", "secret");
    let mut c = waiting(&s);
    refused(s.connect());
    // So does a connection that ends.
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut d = s.connect();
        let l = d.line();
        if l.starts_with("* OK ") {
            break;
        }
        assert!(Instant::now() < deadline, "place never given back: {l}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.cmd("n", "NOOP").1, "n OK Completed");
    assert!(c.cmd("c", "CAPABILITY").1.starts_with("c OK"));
    assert!(s.log().contains("(maxpreauth_per_host)"), "{}", s.log());
}

/// The password file replaced while clients log in, by rename (as `imapd
/// passwd` does) and by rewriting it in place (as an editor or a careless
/// script does): every login gets OK or NO, with the old password or the
/// new one, never BAD, BYE or a dead server; afterwards only the new one
/// works.
#[test]
fn password_file_replaced_mid_login() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = server()
        .conf("allowplaintext: yes")
        .conf("failedloginpause: 0")
        .start();
    let passwd = s.data.config_dir().join("passwd");
    let original = std::fs::read_to_string(&passwd).unwrap();
    let with = |pw: &str| original.replace("plain:{PLAIN}secret", &format!("plain:{{PLAIN}}{pw}"));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (addr, stop) = (s.plain, stop.clone());
        clients.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut c = crate::harness::Client::connect(addr);
                assert!(c.line().starts_with("* OK"));
                for pw in ["secret", "newer"] {
                    let (_, t) = c.cmd("a", &format!("LOGIN plain {pw}"));
                    assert!(
                        t.starts_with("a OK") || t.starts_with("a NO"),
                        "LOGIN while the password file changes: {t}"
                    );
                    if t.starts_with("a OK") {
                        break;
                    }
                }
                n += 1;
            }
            n
        }));
    }
    let tmp = s.data.config_dir().join("passwd.new");
    for i in 0..60 {
        let text = with(if i % 2 == 0 { "newer" } else { "secret" });
        if i % 3 == 0 {
            std::fs::write(&passwd, &text).unwrap();
        } else {
            std::fs::write(&tmp, &text).unwrap();
            std::fs::rename(&tmp, &passwd).unwrap();
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    stop.store(true, Ordering::Relaxed);
    let logins: u32 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(logins > 10, "only {logins} logins");
    std::fs::write(&tmp, with("newer")).unwrap();
    std::fs::rename(&tmp, &passwd).unwrap();
    let mut c = s.connect();
    c.line();
    assert!(c.cmd("a", "LOGIN plain secret").1.starts_with("a NO"));
    assert!(c.cmd("b", "LOGIN plain newer").1.starts_with("b OK"));
    assert!(!s.log().contains("panicked"), "{}", s.log());
}
