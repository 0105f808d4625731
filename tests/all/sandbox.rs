//! The sandbox: a pre-auth guest reaches no file at all; a post-auth guest
//! reaches only its user's tree; a guest that panics, spins or allocates
//! without end loses only its own session. Uses the hostile test guest
//! (`make hostile-guest`), whose extra X-commands misbehave on purpose.

use std::time::{Duration, Instant};

use crate::harness::{Client, TestServer, hostile_guest, server};

fn hostile() -> TestServer {
    server()
        .conf(&format!("guest_module: {}", hostile_guest().display()))
        .conf("session_cpu_limit: 1s")
        .conf("session_memory_limit: 16777216")
        .start()
}

pub fn probe(c: &mut Client, tag: &str, cmd: &str) -> String {
    let (u, t) = c.cmd(tag, cmd);
    assert!(t.starts_with(&format!("{tag} OK")), "{cmd}: {t}");
    u.into_iter()
        .find(|l| l.starts_with("* XPROBE "))
        .expect("probe result")
}

#[test]
fn pre_auth_guest_cannot_open_any_file() {
    let s = hostile();
    let mut c = s.connect_tls();
    c.line();
    let secret = s.data.config_dir().join("passwd");
    for path in [
        "/etc/passwd",
        "/mail",
        "/",
        ".",
        "passwd",
        secret.to_str().unwrap(),
    ] {
        let r = probe(&mut c, "a", &format!("XOPEN \"{path}\""));
        assert!(r.starts_with("* XPROBE denied"), "{path}: {r}");
    }
    let r = probe(&mut c, "b", "XWRITE \"/tmp/imapd-escape\"");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
    assert!(!std::path::Path::new("/tmp/imapd-escape").exists());
}

#[test]
fn post_auth_guest_is_confined_to_its_tree() {
    let s = hostile();
    // Plant a symlink to the outside and one to another user's tree.
    let spool = s.data.spool();
    std::fs::create_dir_all(spool.join("plain")).unwrap();
    std::fs::create_dir_all(spool.join("sha512")).unwrap();
    std::fs::write(spool.join("sha512/private"), "other user's mail").unwrap();
    std::os::unix::fs::symlink("/etc", spool.join("plain/etc-link")).unwrap();
    std::os::unix::fs::symlink(spool.join("sha512"), spool.join("plain/neighbour")).unwrap();
    std::os::unix::fs::symlink("../sha512", spool.join("plain/rel-neighbour")).unwrap();
    let mut c = s.connect_tls();
    c.line();
    c.login("plain", "secret");
    let r = probe(&mut c, "a", "XWRITE \"/mail/own-file\"");
    assert!(r.starts_with("* XPROBE ok"), "{r}");
    assert!(spool.join("plain/own-file").is_file());
    for path in [
        "/mail/../sha512/private",
        "/mail/../../etc/passwd",
        "/etc/passwd",
        "../sha512/private",
        "/mail/etc-link/passwd",
        "/mail/neighbour/private",
        "/mail/rel-neighbour/private",
        // The partition is preopened for administrators only.
        "/users",
        "/users/sha512/private",
        s.data.config_dir().join("passwd").to_str().unwrap(),
    ] {
        let r = probe(&mut c, "b", &format!("XOPEN \"{path}\""));
        assert!(r.starts_with("* XPROBE denied"), "{path}: {r}");
    }
    let r = probe(&mut c, "c", "XWRITE \"/mail/../escaped\"");
    assert!(r.starts_with("* XPROBE denied"), "{r}");
    assert!(!spool.join("escaped").exists());
}

/// A misbehaving session ends with BYE; a session opened before it and one
/// opened after it both work.
fn loses_only_its_own_session(cmd: &str) {
    let s = hostile();
    let mut bystander = s.connect_tls();
    bystander.line();
    bystander.login("plain", "secret");
    let mut bad = s.connect_tls();
    bad.line();
    let t0 = Instant::now();
    bad.send(&format!("x {cmd}\r\n"));
    let l = bad.line();
    assert!(l.starts_with("* BYE"), "{cmd}: {l}");
    assert!(bad.closed());
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "{cmd} took {:?}",
        t0.elapsed()
    );
    assert_eq!(bystander.cmd("a", "NOOP").1, "a OK Completed");
    let mut fresh = s.connect_tls();
    assert!(fresh.line().starts_with("* OK"));
    assert_eq!(fresh.cmd("b", "NOOP").1, "b OK Completed");
    // The line may come after the BYE the client saw.
    let log = s.log_with("session ended");
    assert!(log.contains("session ended"), "no log line:\n{log}");
}

#[test]
fn a_panicking_guest_loses_only_its_session() {
    loses_only_its_own_session("XPANIC");
}

#[test]
fn a_spinning_guest_hits_the_cpu_deadline() {
    loses_only_its_own_session("XLOOP");
}

#[test]
fn an_allocating_guest_hits_the_memory_cap() {
    loses_only_its_own_session("XALLOC");
}

#[test]
fn an_out_of_bounds_access_loses_only_its_session() {
    loses_only_its_own_session("XOOB");
}
