//! Hot swap (`imapd swap`): a new guest module goes live while sessions
//! are open in every state, none is dropped, and each carries on in the
//! new module with its state intact. The second module is the hostile
//! test build, whose version (greeting, ID) ends in `-hostile`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{Client, TestServer, hostile_guest, run_imapd, server, standard_guest};

pub(crate) const HOSTILE: &str = "imapd-0.1.0-hostile";

/// A copy of a guest module in the test's data dir, mode 0644.
pub(crate) fn module_copy(s: &TestServer, from: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let to = s.data.root.join(name);
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).unwrap();
    to
}

/// `imapd swap -C <conf> [--wait SECS] module`: (exit code, stdout, stderr).
fn swap(s: &TestServer, module: &Path, wait: u64) -> (i32, String, String) {
    run_imapd(
        &[
            "swap",
            "-C",
            s.data.conf().to_str().unwrap(),
            "--wait",
            &wait.to_string(),
            module.to_str().unwrap(),
        ],
        &[],
        b"",
    )
}

fn swap_ok(s: &TestServer, module: &Path, wait: u64) -> String {
    let (code, out, err) = swap(s, module, wait);
    assert_eq!(
        code,
        0,
        "imapd swap failed:\n{out}\n{err}\nserver log:\n{}",
        s.log()
    );
    out
}

/// The version the session's module reports in ID.
pub(crate) fn id_version(c: &mut Client, tag: &str) -> String {
    let (u, t) = c.cmd(tag, "ID NIL");
    assert!(t.starts_with(&format!("{tag} OK")), "{t}");
    let id = u.iter().find(|l| l.starts_with("* ID ")).expect("* ID");
    id.split('"').nth(7).unwrap_or("").to_string()
}

fn ok(c: &mut Client, tag: &str, command: &str) -> Vec<String> {
    let (u, t) = c.cmd(tag, command);
    assert!(
        t.starts_with(&format!("{tag} OK")),
        "{command}: {t} after {u:?}"
    );
    u
}

fn message(subject: &str, body_len: usize) -> String {
    let mut m = format!("From: a@example.org\r\nSubject: {subject}\r\n\r\n");
    while m.len() < body_len {
        m.push_str("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n");
    }
    m
}

fn append(c: &mut Client, tag: &str, mailbox: &str, msg: &str) {
    c.send(&format!(
        "{tag} APPEND {mailbox} {{{}+}}\r\n{msg}\r\n",
        msg.len()
    ));
    let (_, t) = c.until_tagged(tag);
    assert!(t.starts_with(&format!("{tag} OK")), "{t}");
}

fn logged_in(s: &TestServer) -> Client {
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    c
}

fn hibernations(s: &TestServer) -> usize {
    s.log().matches(": hibernated (").count()
}

fn await_hibernations(s: &TestServer, n: usize) {
    let t0 = Instant::now();
    while hibernations(s) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{} hibernated",
            hibernations(s)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Compile `module` into the server's guest cache ahead of the swap, as
/// an operator would with `imapd precompile`, so the swap itself is quick.
fn precompile(s: &TestServer, module: &Path) {
    let conf = s.data.root.join("precompile.conf");
    let text = std::fs::read_to_string(s.data.conf()).unwrap();
    std::fs::write(&conf, format!("{text}guest_module: {}\n", module.display())).unwrap();
    let (code, out, err) = run_imapd(&["precompile", "-C", conf.to_str().unwrap()], &[], b"");
    assert_eq!(code, 0, "{out}{err}");
}

/// The acceptance test of hot swap: sessions in every state, the swap,
/// then every session's next command answered by the new module with its
/// state intact and nothing lost, duplicated or reordered.
#[test]
fn swap_moves_sessions_in_every_state() {
    const N: usize = 28;
    let s = server()
        .conf("allowplaintext: yes")
        .conf("imapidlepoll: 60")
        .conf("idle_hibernate: 4")
        .start();
    let hostile = module_copy(&s, &hostile_guest(), "hostile.wasm");
    precompile(&s, &hostile);
    let mut setup = logged_in(&s);
    ok(&mut setup, "c1", "CREATE P");
    for i in 1..=3 {
        append(
            &mut setup,
            &format!("a{i}"),
            "P",
            &message(&format!("p{i}"), 100),
        );
    }
    let big = message("big", 12 << 20);
    append(&mut setup, "a4", "INBOX", &big);

    // Pre-auth, just greeted.
    let mut preauth: Vec<Client> = (0..N)
        .map(|_| {
            let mut c = s.connect();
            c.line();
            c
        })
        .collect();
    // Pre-auth in the middle of LOGIN's password literal.
    let mut mid_literal: Vec<Client> = (0..N)
        .map(|_| {
            let mut c = s.connect();
            c.line();
            c.send("l LOGIN plain {6}\r\n");
            assert!(c.line().starts_with("+ "));
            c
        })
        .collect();
    // In the middle of AUTHENTICATE PLAIN.
    let mut mid_auth: Vec<Client> = (0..N)
        .map(|_| {
            let mut c = s.connect();
            c.line();
            c.send("m AUTHENTICATE PLAIN\r\n");
            assert_eq!(c.line(), "+ ");
            c
        })
        .collect();
    // Authenticated, with IMAP4rev2-style extensions enabled.
    let mut authed: Vec<Client> = (0..N)
        .map(|_| {
            let mut c = logged_in(&s);
            let u = ok(&mut c, "e", "ENABLE CONDSTORE");
            assert!(u.iter().any(|l| l == "* ENABLED CONDSTORE"), "{u:?}");
            c
        })
        .collect();
    // Selected, over TLS, and with COMPRESS.
    let mut selected: Vec<Client> = (0..N)
        .map(|i| {
            let mut c = match i % 3 {
                0 => {
                    let mut c = s.connect_tls();
                    c.line();
                    c.login("plain", "secret");
                    c
                }
                1 => {
                    let mut c = logged_in(&s);
                    c.compress("z");
                    c
                }
                _ => logged_in(&s),
            };
            let u = ok(&mut c, "s", "SELECT P");
            assert!(u.iter().any(|l| l == "* 3 EXISTS"), "{u:?}");
            c
        })
        .collect();
    // In a big APPEND literal, half sent.
    let half = 300_000;
    let big_append = message("big append", 600_000);
    let mut mid_append: Vec<Client> = (0..N / 4)
        .map(|_| {
            let mut c = logged_in(&s);
            c.send(&format!("b APPEND INBOX {{{}}}\r\n", big_append.len()));
            assert!(c.line().starts_with("+ "));
            c.send(&big_append[..half]);
            c
        })
        .collect();
    // In a big FETCH the client has not read yet.
    let mut mid_fetch: Vec<Client> = (0..2)
        .map(|_| {
            let mut c = logged_in(&s);
            ok(&mut c, "s", "SELECT INBOX");
            c.send("f FETCH 1 BODY.PEEK[]\r\n");
            c
        })
        .collect();
    // IDLE, hibernated.
    let before = hibernations(&s);
    let mut hibernated: Vec<Client> = (0..N)
        .map(|_| {
            let mut c = logged_in(&s);
            ok(&mut c, "s", "SELECT P");
            c.send("i IDLE\r\n");
            assert_eq!(c.line(), "+ idling");
            c
        })
        .collect();
    await_hibernations(&s, before + N);

    // Pending updates the selected sessions have not been told.
    let mut writer = logged_in(&s);
    ok(&mut writer, "w1", "SELECT P");
    ok(&mut writer, "w2", "STORE 1 +FLAGS.SILENT (\\Flagged)");
    ok(&mut writer, "w3", "STORE 2 +FLAGS.SILENT (\\Deleted)");
    ok(&mut writer, "w4", "EXPUNGE");
    append(&mut writer, "w5", "P", &message("p4", 100));

    // IDLE, awake.
    let mut idle_awake: Vec<Client> = (0..N)
        .map(|_| {
            let mut c = logged_in(&s);
            ok(&mut c, "s", "SELECT INBOX");
            c.send("i IDLE\r\n");
            assert_eq!(c.line(), "+ idling");
            c
        })
        .collect();

    let total = preauth.len()
        + mid_literal.len()
        + mid_auth.len()
        + authed.len()
        + selected.len()
        + mid_append.len()
        + mid_fetch.len()
        + hibernated.len()
        + idle_awake.len()
        + 2;
    assert!(total >= 200, "{total} sessions");
    let out = swap_ok(&s, &hostile, 2);
    let line = out
        .lines()
        .find(|l| l.contains("sessions moved"))
        .unwrap_or_else(|| panic!("no report in {out}"));
    let n_moved: usize = line
        .split(": ")
        .nth(2)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // Every session but the two in the middle of their FETCH output.
    assert!(n_moved >= total - 2, "{n_moved} of {total} moved:\n{out}");
    assert!(line.contains(" 0 stayed"), "{line}");

    // Every session's next command is answered by the new module, with
    // its state intact.
    for c in &mut preauth {
        assert_eq!(id_version(c, "n1"), HOSTILE);
        c.login("plain", "secret");
    }
    for c in &mut mid_literal {
        c.send("secret\r\n");
        let (_, t) = c.until_tagged("l");
        assert!(t.starts_with("l OK"), "{t}");
        assert_eq!(id_version(c, "n1"), HOSTILE);
    }
    for c in &mut mid_auth {
        c.send("AHBsYWluAHNlY3JldA==\r\n");
        let (_, t) = c.until_tagged("m");
        assert!(t.starts_with("m OK"), "{t}");
        assert_eq!(id_version(c, "n1"), HOSTILE);
    }
    for c in &mut authed {
        assert_eq!(id_version(c, "n1"), HOSTILE);
        // ENABLE is remembered: CONDSTORE data without asking for it.
        let u = ok(c, "n2", "SELECT P");
        assert!(u.iter().any(|l| l.contains("HIGHESTMODSEQ")), "{u:?}");
        let u = ok(c, "n3", "FETCH 1 (FLAGS)");
        assert!(u.iter().any(|l| l.contains("MODSEQ")), "{u:?}");
    }
    for c in &mut selected {
        // The pending updates come now, once, in order.
        let u = ok(c, "n1", "NOOP");
        let expunges: Vec<_> = u.iter().filter(|l| l.ends_with(" EXPUNGE")).collect();
        assert_eq!(expunges, ["* 2 EXPUNGE"], "{u:?}");
        assert!(u.iter().any(|l| l == "* 3 EXISTS"), "{u:?}");
        assert!(
            u.iter()
                .any(|l| l.starts_with("* 1 FETCH") && l.contains("\\Flagged")),
            "{u:?}"
        );
        assert_eq!(id_version(c, "n2"), HOSTILE);
        let u = ok(c, "n3", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
        let subjects: Vec<_> = u.iter().filter(|l| l.starts_with("Subject:")).collect();
        assert_eq!(
            subjects,
            ["Subject: p1", "Subject: p3", "Subject: p4"],
            "{u:?}"
        );
    }
    for c in &mut mid_append {
        c.send(&big_append[half..]);
        c.send("\r\n");
        let (_, t) = c.until_tagged("b");
        assert!(t.starts_with("b OK"), "{t}");
        assert_eq!(id_version(c, "n1"), HOSTILE);
    }
    for c in &mut mid_fetch {
        let first = c.line();
        assert!(first.starts_with("* 1 FETCH"), "{first}");
        let n: usize = first
            .rsplit('{')
            .next()
            .and_then(|n| n.trim_end_matches('}').parse().ok())
            .unwrap();
        assert_eq!(c.bytes(n), big.as_bytes());
        let (_, t) = c.until_tagged("f");
        assert!(t.starts_with("f OK"), "{t}");
        assert_eq!(id_version(c, "n1"), HOSTILE);
    }
    for c in hibernated.iter_mut().chain(idle_awake.iter_mut()) {
        c.send("DONE\r\n");
        let (u, t) = c.until_tagged("i");
        assert!(t.starts_with("i OK"), "{t} {u:?}");
        assert_eq!(id_version(c, "n1"), HOSTILE);
    }
    // The big APPENDs arrived whole.
    ok(&mut setup, "v0", "SELECT INBOX");
    let u = ok(&mut setup, "v", "SEARCH LARGER 500000");
    let n = u
        .iter()
        .find(|l| l.starts_with("* SEARCH"))
        .map_or(0, |l| l.split_whitespace().count() - 2);
    assert_eq!(n, 1 + mid_append.len(), "{u:?}");
    // New connections get the new module too, and nothing was dropped.
    let mut fresh = s.connect();
    assert!(fresh.line().contains(HOSTILE));
    assert!(!s.log().contains("session ended"), "{}", s.log());
}

/// A module that fails any step of the validation is refused, saying
/// which; nothing changes and every session carries on.
#[test]
fn refused_modules_change_nothing() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("hostile_guest: panic-in-greet")
        .start();
    let mut c = logged_in(&s);
    ok(&mut c, "s", "SELECT INBOX");
    let installed = s.data.config_dir().join("guest.wasm");
    let check = |c: &mut Client, step: &str, (code, out, err): (i32, String, String)| {
        assert_ne!(code, 0, "{step}: accepted:\n{out}");
        assert!(err.contains(step), "{step}: {err}");
        assert!(err.contains("nothing was changed"), "{err}");
        assert!(!installed.exists());
        assert!(!id_version(c, "x").ends_with("-hostile"));
    };
    // Not wasm at all.
    let junk = s.data.root.join("junk.wasm");
    std::fs::write(&junk, b"not a wasm module").unwrap();
    check(&mut c, "compile and link", swap(&s, &junk, 1));
    // A component of another world: exports nothing.
    let other = s.data.root.join("other.wasm");
    // The smallest component: magic, version 0x0d, layer 1.
    std::fs::write(&other, b"\0asm\x0d\0\x01\0").unwrap();
    check(&mut c, "compile and link", swap(&s, &other, 1));
    // Panics in its greeting (hostile_guest: panic-in-greet).
    let hostile = module_copy(&s, &hostile_guest(), "hostile.wasm");
    check(&mut c, "trial session", swap(&s, &hostile, 1));
    // Writable by others.
    let open = module_copy(&s, &hostile_guest(), "open.wasm");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    check(&mut c, "read", swap(&s, &open, 1));
    assert!(c.cmd("n", "NOOP").1.starts_with("n OK"));
}

/// A module that cannot read the running module's snapshots is refused;
/// so is one whose hash is not the pinned one.
#[test]
fn unreadable_snapshots_and_hash_pins_are_refused() {
    let standard = std::fs::read(standard_guest()).unwrap();
    let pin = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(&standard);
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("hostile_guest: refuse-restore")
        .conf(&format!("guest_module_sha256: {pin}"))
        .start();
    let mut c = logged_in(&s);
    let hostile = module_copy(&s, &hostile_guest(), "hostile.wasm");
    let (code, _, err) = swap(&s, &hostile, 1);
    assert_ne!(code, 0);
    assert!(err.contains("refused at step 'hash'"), "{err}");
    // Without the pin, the refusal comes at the snapshot step.
    let conf = std::fs::read_to_string(s.data.conf()).unwrap();
    let unpinned: String = conf
        .lines()
        .filter(|l| !l.starts_with("guest_module_sha256"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(s.data.conf(), unpinned).unwrap();
    let (code, _, err) = swap(&s, &hostile, 1);
    assert_ne!(code, 0);
    assert!(
        err.contains("refused at step 'restore snapshots of the running module'"),
        "{err}"
    );
    assert!(err.contains("refuse-restore"), "{err}");
    assert!(!id_version(&mut c, "x").ends_with("-hostile"));
}

/// A session whose snapshot the new module refuses stays on the old one,
/// and says so in the report; swapping back brings everyone home.
#[test]
fn a_session_the_new_module_cannot_read_stays_on_the_old_one() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let standard = module_copy(&s, &standard_guest(), "standard.wasm");
    let hostile = module_copy(&s, &hostile_guest(), "hostile.wasm");
    let mut stuck = logged_in(&s);
    ok(&mut stuck, "i", "ID (\"x-refuse-restore\" \"1\")");
    ok(&mut stuck, "s", "SELECT INBOX");
    let mut mover = logged_in(&s);
    let out = swap_ok(&s, &hostile, 5);
    assert!(
        out.contains("1 sessions moved, 1 stayed on the old module"),
        "{out}"
    );
    assert!(out.contains("stayed because: "), "{out}");
    assert!(!id_version(&mut stuck, "a").ends_with("-hostile"));
    ok(&mut stuck, "b", "NOOP");
    assert_eq!(id_version(&mut mover, "a"), HOSTILE);
    assert!(
        s.log().contains("refused a session snapshot"),
        "{}",
        s.log()
    );
    // Back to the standard module: the mover comes back, the stuck one
    // was never away.
    let out = swap_ok(&s, &standard, 5);
    assert!(out.contains("1 sessions moved, 0 stayed"), "{out}");
    assert!(!id_version(&mut mover, "c").ends_with("-hostile"));
    assert!(!id_version(&mut stuck, "c").ends_with("-hostile"));
    // The hostile module lost its last session (the mover): freed, logged.
    let t0 = Instant::now();
    while !s.log().contains("freed: its last session has left") {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon habits: a module file replaced by hand is noticed at the
/// next command; `kill -HUP` re-reads `guest_module` from imapd.conf.
#[test]
fn a_replaced_module_file_and_sighup_are_noticed() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let mut c = logged_in(&s);
    ok(&mut c, "s", "SELECT INBOX");
    // By hand: copied into place, no command run.
    let installed = s.data.config_dir().join("guest.wasm");
    let tmp = module_copy(&s, &hostile_guest(), "incoming.wasm");
    std::fs::rename(&tmp, &installed).unwrap();
    let t0 = Instant::now();
    loop {
        if id_version(&mut c, "a") == HOSTILE {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    // SIGHUP: guest_module now names the standard module.
    let standard = module_copy(&s, &standard_guest(), "standard.wasm");
    let conf = std::fs::read_to_string(s.data.conf()).unwrap();
    std::fs::write(
        s.data.conf(),
        format!("{conf}guest_module: {}\n", standard.display()),
    )
    .unwrap();
    // SAFETY: signalling the server this test started.
    unsafe { libc::kill(s.pid() as i32, libc::SIGHUP) };
    let t0 = Instant::now();
    loop {
        if !id_version(&mut c, "b").ends_with("-hostile") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{}", s.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    ok(&mut c, "c", "FETCH 1:* (FLAGS)");
}

/// One client of the steady load: its own mailbox, whose message count
/// and flags it knows, checked after every command; every tagged reply
/// must be OK. Returns the commands it ran.
fn load_client(s: &TestServer, id: usize, stop: &std::sync::atomic::AtomicBool) -> usize {
    use std::sync::atomic::Ordering;
    let mailbox = format!("L{id}");
    let mut c = logged_in(s);
    ok(&mut c, "c", &format!("CREATE {mailbox}"));
    let mut count = 0usize;
    let mut ops = 0usize;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let tag = format!("t{n}");
        match n % 9 {
            0 => {
                // Reconnect.
                ok(&mut c, &tag, "LOGOUT");
                c = logged_in(s);
                continue;
            }
            1 | 5 => {
                append(&mut c, &tag, &mailbox, &message(&format!("m{n}"), 200));
                count += 1;
            }
            2 => {
                let u = ok(&mut c, &tag, &format!("SELECT {mailbox}"));
                let exists = format!("* {count} EXISTS");
                assert!(u.contains(&exists), "client {id}: {u:?}, wanted {exists}");
            }
            3 if count > 0 => {
                let u = ok(&mut c, &tag, &format!("FETCH {count} (FLAGS ENVELOPE)"));
                assert!(
                    u.iter().any(|l| l.starts_with(&format!("* {count} FETCH"))),
                    "client {id}: {u:?}"
                );
            }
            4 if count > 0 => {
                ok(&mut c, &tag, "STORE 1 +FLAGS.SILENT (\\Deleted)");
                ok(&mut c, &format!("{tag}x"), "EXPUNGE");
                count -= 1;
            }
            6 => {
                c.send(&format!("{tag} IDLE\r\n"));
                assert_eq!(c.line(), "+ idling", "client {id}");
                std::thread::sleep(Duration::from_millis(15));
                c.send("DONE\r\n");
                let (_, t) = c.until_tagged(&tag);
                assert!(t.starts_with(&format!("{tag} OK")), "client {id}: {t}");
            }
            7 => {
                let u = ok(&mut c, &tag, "SEARCH ALL");
                let found = u
                    .iter()
                    .find(|l| l.starts_with("* SEARCH"))
                    .map_or(0, |l| l.split_whitespace().count() - 2);
                assert_eq!(found, count, "client {id}: {u:?}");
            }
            _ => {
                ok(&mut c, &tag, "NOOP");
            }
        }
        ops += 1;
    }
    ops
}

/// 100 swaps back and forth under a steady mixed load: no client sees an
/// error, a lost or a wrong response.
#[test]
fn a_hundred_swaps_under_load_are_invisible_to_clients() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("imapidlepoll: 60")
        .start();
    let standard = module_copy(&s, &standard_guest(), "standard.wasm");
    let hostile = module_copy(&s, &hostile_guest(), "hostile.wasm");
    precompile(&s, &hostile);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let ops: usize = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..6)
            .map(|i| {
                let (s, stop) = (&s, &stop);
                scope.spawn(move || load_client(s, i, stop))
            })
            .collect();
        for i in 0..100 {
            let module = if i % 2 == 0 { &hostile } else { &standard };
            swap_ok(&s, module, 10);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        clients.into_iter().map(|c| c.join().unwrap()).sum()
    });
    assert!(ops > 100, "{ops} commands");
    let log = s.log();
    assert!(!log.contains("session ended"), "{log}");
    assert_eq!(log.matches("guest module ").count(), 100, "{log}");
}
