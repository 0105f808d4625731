//! Tenants (`virtdomains`): users of different domains with the same
//! local part never meet, not through names, shares, admin commands or a
//! hostile guest; a domain's administrator manages that domain only; the
//! `tenant_*` limits refuse with `NO [UNAVAILABLE]`, never as a failed
//! password. With `virtdomains: off` (every other test) nothing changes.

use crate::harness::{Client, TestServer, hostile_guest, server, start_prepared};
use crate::ops::{metrics_addr, scrape_until, status, value};
use crate::sandbox::probe;
use crate::store_util::Session;

const MSG: &[u8] = b"From: alice@a.test\r\nSubject: for a only\r\n\r\nHello a.\r\n";

/// A server with `virtdomains: userid`, `defaultdomain: home.test` and
/// users alice and bob of a.test, alice of b.test, admin of a.test (all
/// with password `secret`), plus `extra` lines.
fn tenant_server(extra: &[&str], hostile: bool) -> TestServer {
    let mut b = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("defaultdomain: home.test");
    if !extra.iter().any(|l| l.starts_with("virtdomains")) {
        b = b.conf("virtdomains: userid");
    }
    if hostile {
        b = b.conf(&format!("guest_module: {}", hostile_guest().display()));
    }
    for l in extra {
        b = b.conf(l);
    }
    let data = b.prepare();
    for u in ["alice@a.test", "bob@a.test", "alice@b.test", "admin@a.test"] {
        data.add_user_line(&format!("{u}:{{PLAIN}}secret"));
    }
    start_prepared(data, false)
}

fn login(s: &TestServer, user: &str) -> Session {
    Session::connect(s.plain, &format!("\"{user}\""))
}

#[test]
fn users_of_two_domains_with_one_name_never_see_each_others_mail() {
    let s = tenant_server(&[], false);
    let mut a = login(&s, "alice@a.test");
    a.append("INBOX", MSG);
    a.ok("CREATE Team");
    a.ok("SETACL Team anyone lr");
    // The same user, written as Cyrus also reads it.
    let mut a2 = login(&s, "alice%A.TEST");
    assert_eq!(a2.status("INBOX", "MESSAGES")["MESSAGES"], 1);

    let mut b = login(&s, "alice@b.test");
    assert_eq!(b.status("INBOX", "MESSAGES")["MESSAGES"], 0);
    let all = b.ok("LIST \"\" *");
    assert!(!all.iter().any(|l| l.contains("Team")), "{all:?}");
    b.fails("SELECT \"Other Users/alice/Team\"", "NO");
    b.fails("SELECT Team", "NO");
    // A grant to a user of another domain reaches no one there.
    a.ok("SETACL Team alice@b.test lrs");
    let all = b.ok("LIST \"\" *");
    assert!(!all.iter().any(|l| l.contains("Team")), "{all:?}");

    // Within a.test, `anyone` is a.test's users.
    let mut bob = login(&s, "bob@a.test");
    assert_eq!(
        bob.ok("MYRIGHTS \"Other Users/alice/Team\""),
        ["* MYRIGHTS \"Other Users/alice/Team\" lr"]
    );
    // An identifier of one's own domain is the user there.
    a.ok("SETACL Team bob@A.test lrs");
    let acl = a.ok("GETACL Team");
    assert!(acl[0].contains(" bob lrs"), "{acl:?}");
    assert_eq!(
        bob.ok("MYRIGHTS \"Other Users/alice/Team\""),
        ["* MYRIGHTS \"Other Users/alice/Team\" lrs"]
    );
    // The trees are the domains' own.
    let spool = s.data.spool();
    assert!(spool.join("domain/a.test/alice/cur").is_dir());
    assert!(spool.join("domain/a.test/alice/.Team").is_dir());
    assert!(spool.join("domain/b.test/alice").is_dir());
    assert!(!spool.join("domain/b.test/alice/.Team").exists());
    assert!(!spool.join("alice").exists());
    // Log lines name the tenant.
    s.log_with("alice@b.test");
}

#[test]
fn the_default_domain_keeps_plain_names_and_trees() {
    let s = tenant_server(&[], false);
    let mut p = login(&s, "plain@home.test");
    p.append("INBOX", MSG);
    let mut p2 = login(&s, "plain");
    assert_eq!(p2.status("INBOX", "MESSAGES")["MESSAGES"], 1);
    assert!(s.data.spool().join("plain/cur").is_dir());
    // No domain of its own, and no user may be the domains' directory.
    let mut c = Client::connect(s.plain);
    c.line();
    let (_, t) = c.cmd("a", "LOGIN domain secret");
    assert!(t.starts_with("a NO"), "{t}");
    let (_, t) = c.cmd("b", "LOGIN \"alice@bad..test\" secret");
    assert!(t.starts_with("b NO"), "{t}");
}

#[test]
fn on_takes_the_domain_of_the_address_the_client_reached() {
    let s = tenant_server(
        &["virtdomains: on", "virtdomain_addresses: 127.0.0.1=a.test"],
        false,
    );
    let mut a = login(&s, "alice@a.test");
    a.append("INBOX", MSG);
    // Plain `alice` here is alice@a.test.
    let mut bare = login(&s, "alice");
    assert_eq!(bare.status("INBOX", "MESSAGES")["MESSAGES"], 1);
    let mut b = login(&s, "alice@b.test");
    assert_eq!(b.status("INBOX", "MESSAGES")["MESSAGES"], 0);
}

#[test]
fn the_hostile_guest_of_one_domain_reaches_nothing_of_the_other() {
    let s = tenant_server(&[], true);
    let mut a = login(&s, "alice@a.test");
    a.ok("CREATE Team");
    a.ok("SETACL Team anyone lr");
    a.append("Team", MSG);
    drop(a);
    let mut c = Client::connect(s.plain);
    c.line();
    c.login("alice@b.test", "secret");
    for path in [
        "/mail/../../a.test/alice/cur",
        "/mail/..",
        "/users",
        "/shared/alice/.Team/cur",
        "/shared/alice",
    ] {
        let r = probe(&mut c, "a", &format!("XOPEN \"{path}\""));
        assert!(r.starts_with("* XPROBE denied"), "{path}: {r}");
    }
    // Its own user's name is alice: locking alice's Team as a share, or
    // republishing alice's shares, is about b.test's alice only.
    let r = probe(&mut c, "b", "XLOCK \"alice user/alice/Team\"");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
    let r = probe(&mut c, "c", "XSHARE alice");
    assert!(r.starts_with("* XPROBE ok"), "{r}");
    let r = probe(&mut c, "d", "XSHARE bob");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
    // a.test's share is as alice@a.test made it.
    let mut bob = login(&s, "bob@a.test");
    assert_eq!(
        bob.ok("MYRIGHTS \"Other Users/alice/Team\""),
        ["* MYRIGHTS \"Other Users/alice/Team\" lr"]
    );
    assert!(s.data.spool().join("domain/a.test/alice/.Team").is_dir());
}

#[test]
fn a_domain_administrator_manages_that_domain_only() {
    let s = tenant_server(&["admins: admin@a.test"], false);
    let mut b = login(&s, "alice@b.test");
    b.ok("CREATE Private");
    drop(b);
    let mut admin = login(&s, "admin@a.test");
    admin.ok("CREATE user/carol");
    let spool = s.data.spool();
    assert!(spool.join("domain/a.test/carol").is_dir());
    assert!(!spool.join("carol").exists());
    admin.ok("CREATE user/alice");
    let users = admin.ok("LIST \"\" \"user/*\"");
    assert!(users.iter().any(|l| l.contains("user/carol")), "{users:?}");
    assert!(!users.iter().any(|l| l.contains("Private")), "{users:?}");
    // Its own domain named in full is the same; another domain is not its.
    admin.ok("CREATE user/dave@a.test");
    assert!(spool.join("domain/a.test/dave").is_dir());
    admin.fails("CREATE user/eve@b.test", "NO");
    assert!(!spool.join("domain/b.test/eve").exists());
    admin.ok("SETQUOTA user/alice (STORAGE 100)");
    assert!(s.data.config_dir().join("domain/a.test/quota").is_dir());
    admin.ok("DELETE user/alice");
    assert!(!spool.join("domain/a.test/alice").exists());
    assert!(spool.join("domain/b.test/alice/.Private").is_dir());
    // Not an administrator anywhere else: acting as b.test's alice
    // (rfc4616 authorization identity) fails as a wrong password would.
    let mut c = Client::connect(s.plain);
    c.line();
    let plain = base64(b"alice@b.test\0admin@a.test\0secret");
    let (_, t) = c.cmd("a", &format!("AUTHENTICATE PLAIN {plain}"));
    assert!(t.starts_with("a NO"), "{t}");
    let plain = base64(b"bob@a.test\0admin@a.test\0secret");
    let (_, t) = c.cmd("b", &format!("AUTHENTICATE PLAIN {plain}"));
    assert!(t.starts_with("b OK"), "{t}");
}

fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn a_tenant_over_its_session_limit_is_refused_unavailable() {
    let s = tenant_server(
        &[
            "tenant_maxsessions: 0 a.test=2",
            "prometheus_enabled: yes",
            "prometheus_listen: 127.0.0.1:0",
        ],
        false,
    );
    let one = login(&s, "alice@a.test");
    let _two = login(&s, "bob@a.test");
    let mut c = Client::connect(s.plain);
    c.line();
    let (_, t) = c.cmd("a", "LOGIN alice@a.test secret");
    assert!(t.starts_with("a NO [UNAVAILABLE]"), "{t}");
    // Another tenant is not affected.
    let _b = login(&s, "alice@b.test");
    // The metrics say so, per tenant.
    let text = scrape_until(
        metrics_addr(&s),
        &[
            ("imapd_tenant_sessions{tenant=\"a.test\"}", 2.0),
            ("imapd_tenant_sessions{tenant=\"b.test\"}", 1.0),
            (
                "imapd_tenant_logins_refused_total{tenant=\"a.test\",reason=\"sessions\"}",
                1.0,
            ),
            (
                "imapd_tenant_logins_refused_total{tenant=\"b.test\",reason=\"sessions\"}",
                0.0,
            ),
        ],
    );
    let cpu = value(&text, "imapd_tenant_cpu_seconds_total{tenant=\"a.test\"}");
    assert!(cpu.is_some_and(|v| v > 0.0), "{text}");
    // So does `imapd status`.
    let (code, out, err) = status(&s, false);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("tenants: "));
    let line = line.unwrap_or_else(|| panic!("no tenants line in\n{out}"));
    assert!(
        line.contains("a.test 2 (awake 2, ") && line.contains("b.test 1 ("),
        "{line}"
    );
    // A place comes back when a session ends.
    drop(one);
    let mut ok = false;
    for _ in 0..50 {
        let (_, t) = c.cmd("b", "LOGIN alice@a.test secret");
        if t.starts_with("b OK") {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ok, "no place after a logout");
}

#[test]
fn a_tenants_login_rate_is_metered_before_the_password() {
    let s = tenant_server(&["tenant_login_rate: 0 b.test=1"], false);
    // A burst of two, then refused, with the right password or not.
    let _one = login(&s, "alice@b.test");
    let _two = login(&s, "alice@b.test");
    let mut c = Client::connect(s.plain);
    c.line();
    let (_, t) = c.cmd("a", "LOGIN alice@b.test secret");
    assert!(t.starts_with("a NO [UNAVAILABLE]"), "{t}");
    let (_, t) = c.cmd("b", "LOGIN alice@b.test wrong");
    assert!(t.starts_with("b NO [UNAVAILABLE]"), "{t}");
    // a.test has no limit.
    for _ in 0..5 {
        login(&s, "alice@a.test");
    }
    s.log_with("tenant b.test");
}

#[test]
fn at_its_awake_limit_a_tenants_idle_sessions_hibernate_for_a_login() {
    let s = tenant_server(
        &["tenant_maxawake: 0 a.test=1", "idle_hibernate: 60"],
        false,
    );
    let mut one = login(&s, "alice@a.test");
    one.select("INBOX");
    one.c.send("i1 IDLE\r\n");
    assert!(one.c.line().starts_with("+ "));
    // The second login asks the first to hibernate, and gets its place.
    let _two = login(&s, "bob@a.test");
    s.log_with("hibernated");
    // Still at the limit, with no one in IDLE: refused.
    let mut c = Client::connect(s.plain);
    c.line();
    let (_, t) = c.cmd("a", "LOGIN alice@a.test secret");
    assert!(t.starts_with("a NO [UNAVAILABLE]"), "{t}");
    // The hibernated session still answers.
    one.c.send("DONE\r\n");
    let (_, t) = one.c.until_tagged("i1");
    assert!(t.starts_with("i1 OK"), "{t}");
}

/// `imapd swap --domain <domain> [--wait 10] <args>`: (exit code, stdout).
fn swap_domain(s: &TestServer, domain: &str, last: &str) -> (i32, String) {
    let conf = s.data.conf();
    let (code, out, err) = crate::harness::run_imapd(
        &[
            "swap",
            "-C",
            conf.to_str().unwrap(),
            "--wait",
            "10",
            "--domain",
            domain,
            last,
        ],
        &[],
        b"",
    );
    (code, format!("{out}{err}"))
}

#[test]
fn a_domain_runs_a_canary_module_and_goes_back_without_dropping_a_connection() {
    use crate::swap::{HOSTILE, id_version, module_copy};
    let s = tenant_server(&[], false);
    let mut a = Client::connect(s.plain);
    a.line();
    a.login("alice@a.test", "secret");
    a.cmd("s", "SELECT INBOX");
    let mut b = Client::connect(s.plain);
    b.line();
    b.login("alice@b.test", "secret");
    let mut waiting = Client::connect(s.plain);
    waiting.line();
    let standard = id_version(&mut b, "v0");
    assert!(!standard.ends_with("-hostile"), "{standard}");

    let canary = module_copy(&s, &hostile_guest(), "canary.wasm");
    let (code, out) = swap_domain(&s, "a.test", canary.to_str().unwrap());
    assert_eq!(code, 0, "{out}\n{}", s.log());
    assert!(out.contains("took it"), "{out}");
    assert!(
        s.data
            .config_dir()
            .join("domain/a.test/guest.wasm")
            .is_file()
    );
    // a.test's session moved, with its mailbox still selected; b.test's
    // did not; a connection not yet logged in is on the default module.
    assert_eq!(id_version(&mut a, "v1"), HOSTILE);
    let (_, t) = a.cmd("f", "FETCH 1:* FLAGS");
    assert!(t.starts_with("f OK"), "{t}");
    assert_eq!(id_version(&mut b, "v2"), standard);
    assert_eq!(id_version(&mut waiting, "v3"), standard);
    // New logins go where their domain runs.
    waiting.login("bob@a.test", "secret");
    assert_eq!(id_version(&mut waiting, "v4"), HOSTILE);
    let mut b2 = Client::connect(s.plain);
    b2.line();
    b2.login("alice@b.test", "secret");
    assert_eq!(id_version(&mut b2, "v5"), standard);

    // Back to the default module: every session of a.test moves back.
    let (code, out) = swap_domain(&s, "a.test", "--default");
    assert_eq!(code, 0, "{out}\n{}", s.log());
    assert_eq!(id_version(&mut a, "v6"), standard);
    assert_eq!(id_version(&mut waiting, "v7"), standard);
    assert_eq!(id_version(&mut b, "v8"), standard);
    assert!(
        s.data
            .config_dir()
            .join("domain/a.test/guest.wasm.previous")
            .is_file()
    );
    // No connection was dropped.
    for (c, tag) in [
        (&mut a, "n1"),
        (&mut b, "n2"),
        (&mut waiting, "n3"),
        (&mut b2, "n4"),
    ] {
        let (_, t) = c.cmd(tag, "NOOP");
        assert!(t.starts_with(&format!("{tag} OK")), "{t}");
    }
    // Without virtual domains there is nothing to pin.
    let plain = server().no_tls().start();
    let conf = plain.data.conf();
    let (code, _, err) = crate::harness::run_imapd(
        &[
            "swap",
            "-C",
            conf.to_str().unwrap(),
            "--domain",
            "a.test",
            canary.to_str().unwrap(),
        ],
        &[],
        b"",
    );
    assert_ne!(code, 0);
    assert!(err.contains("virtdomains is off"), "{err}");
}

#[test]
fn a_global_administrator_reaches_every_domain() {
    let s = tenant_server(&["admins: plain"], false);
    let mut a = login(&s, "alice@a.test");
    a.ok("CREATE Team");
    drop(a);
    // Her INBOX is there once she has looked at it (a session dropped at
    // once may not have made it yet).
    let mut b = login(&s, "alice@b.test");
    assert_eq!(b.status("INBOX", "MESSAGES")["MESSAGES"], 0);
    drop(b);
    let mut root = login(&s, "plain");
    let users = root.ok("LIST \"\" \"user/*\"");
    for want in [
        "user/alice@a.test",
        "user/alice@a.test/Team",
        "user/alice@b.test",
    ] {
        assert!(
            users
                .iter()
                .any(|l| l.ends_with(&format!("\"{want}\"")) || l.ends_with(&format!(" {want}"))),
            "{want}: {users:?}"
        );
    }
    assert!(
        !users.iter().any(|l| l.contains("user/domain")),
        "{users:?}"
    );
    root.fails("DELETE user/domain", "NO");
    let spool = s.data.spool();
    assert!(spool.join("domain/a.test").is_dir());
    root.ok("CREATE user/carol@b.test");
    assert!(spool.join("domain/b.test/carol/cur").is_dir());
    root.ok("SETQUOTA user/carol@b.test (STORAGE 100)");
    let q = root.ok("GETQUOTA user/carol@b.test");
    assert!(q[0].contains("STORAGE 0 100"), "{q:?}");
    assert!(s.data.config_dir().join("domain/b.test/quota").is_dir());
    // An ACL set from outside the domain names its users as they are there.
    root.ok("SETACL user/alice@a.test/Team bob@a.test lr");
    let mut bob = login(&s, "bob@a.test");
    assert_eq!(
        bob.ok("MYRIGHTS \"Other Users/alice/Team\""),
        ["* MYRIGHTS \"Other Users/alice/Team\" lr"]
    );
    root.ok("DELETE user/carol@b.test");
    assert!(!spool.join("domain/b.test/carol").exists());
    assert!(spool.join("domain/b.test/alice").is_dir());
}
