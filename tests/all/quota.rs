//! QUOTA (rfc9208) against the real binary: limits set by an
//! administrator (IMAP and cyradm) are kept for APPEND and COPY; the
//! usage is exact after `kill -9` in the middle of APPENDs, and `imapd
//! quota -f` counts the same from the files.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::harness::{cyradm, run_imapd};
use crate::store_util::{Restartable, Session, store_server};

/// `(STORAGE s l MESSAGE m l)` of a `* QUOTA` line: (name, usage, limit).
fn resources(line: &str) -> Vec<(String, u64, u64)> {
    let inner = line
        .rsplit_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a QUOTA line: {line}"));
    let words: Vec<&str> = inner.split_whitespace().collect();
    words
        .chunks(3)
        .map(|c| {
            (
                c[0].to_string(),
                c[1].parse().unwrap(),
                c[2].parse().unwrap(),
            )
        })
        .collect()
}

fn message(size: usize) -> Vec<u8> {
    let head = b"Subject: quota\r\n\r\n";
    let mut m = head.to_vec();
    m.resize(size, b'x');
    m
}

#[test]
fn limits_hold_for_append_and_copy_and_move_stays_inside() {
    let s = store_server(&["admins: plain"]);
    // The user's tree exists once the user has logged in.
    let mut user = Session::connect(s.plain, "sha512");
    let mut admin = Session::connect(s.plain, "plain");
    let u = admin.ok("SETQUOTA user/sha512 (STORAGE 1 MESSAGE 3)");
    assert_eq!(u, ["* QUOTA user/sha512 (STORAGE 0 1 MESSAGE 0 3)"]);
    user.append("INBOX", &message(300));
    user.append("INBOX", &message(300));
    let (_, t) = user.append_full("INBOX", None, None, &message(500));
    assert_eq!(t, "NO [OVERQUOTA] Over quota");
    user.ok("CREATE Box");
    user.select("INBOX");
    user.ok("COPY 1 Box");
    assert_eq!(user.fails("COPY 1 Box", "NO"), "NO [OVERQUOTA] Over quota");
    user.ok("MOVE 2 Box");
    let u = user.ok("GETQUOTAROOT INBOX");
    assert_eq!(u[0], "* QUOTAROOT INBOX INBOX");
    assert_eq!(
        resources(&u[1]),
        [("STORAGE".into(), 0, 1), ("MESSAGE".into(), 3, 3)]
    );
    // The administrator's view is the host's own count of the tree.
    let u = admin.ok("GETQUOTA user/sha512");
    assert_eq!(u, ["* QUOTA user/sha512 (STORAGE 0 1 MESSAGE 3 3)"]);
    // A user may not raise a limit.
    assert_eq!(
        user.fails("SETQUOTA INBOX (STORAGE 100)", "NO"),
        "NO [NOPERM] Permission denied"
    );
    // The administrator raises it, and the user's next command sees it.
    admin.ok("SETQUOTA user/sha512 (STORAGE 10)");
    user.append("INBOX", &message(500));
}

/// APPENDs as fast as the server takes them until the connection breaks.
fn append_until_killed(addr: SocketAddr, stop: Arc<AtomicBool>) {
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut n = 0u64;
    let mut sink = [0u8; 4096];
    let _ = c.write_all(b"L LOGIN plain secret\r\n");
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let m = message(200 + (n as usize * 37) % 3000);
        let mut cmd = format!("A{n} APPEND INBOX {{{}+}}\r\n", m.len()).into_bytes();
        cmd.extend_from_slice(&m);
        cmd.extend_from_slice(b"\r\n");
        if c.write_all(&cmd).is_err() {
            return;
        }
        if std::io::Read::read(&mut c, &mut sink).unwrap_or(0) == 0 {
            return;
        }
    }
}

#[test]
fn usage_is_exact_after_kill_9_and_quota_f_counts_the_same() {
    let mut srv = Restartable::new(&["admins: plain"]);
    for round in 0..3 {
        let addr = srv.start();
        if round == 0 {
            let mut a = Session::connect(addr, "plain");
            a.ok("SETQUOTA user/plain (STORAGE 1000000 MESSAGE 1000000)");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || append_until_killed(addr, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(400 + 150 * round));
        srv.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.join();
        }
    }
    let addr = srv.start();
    let mut c = Session::connect(addr, "plain");
    let status = c.status("INBOX", "MESSAGES SIZE");
    assert!(status["MESSAGES"] > 0, "nothing appended: {status:?}");
    let u = c.ok("GETQUOTA INBOX");
    assert_eq!(
        resources(&u[0]),
        [
            ("STORAGE".into(), status["SIZE"] / 1024, 1000000),
            ("MESSAGE".into(), status["MESSAGES"], 1000000)
        ],
        "{status:?}"
    );
    // The host's count from the files agrees (imapd quota -f).
    let conf = srv.data.conf();
    let (code, out, err) = run_imapd(&["quota", "-C", conf.to_str().unwrap(), "-f"], &[], b"");
    assert_eq!(code, 0, "{out}{err}");
    let file = srv.data.config_dir().join("quota/p/user.plain");
    let held = std::fs::read_to_string(&file).unwrap();
    assert!(
        held.contains(&format!(
            "S ({} 1000000) M ({} 1000000)",
            status["SIZE"], status["MESSAGES"]
        )),
        "{held}"
    );
    assert!(out.contains("user/plain"), "{out}");
}

#[test]
fn cyradm_sets_and_lists_quotas() {
    let s = store_server(&["admins: plain"]);
    let mut user = Session::connect(s.plain, "sha512");
    user.append("INBOX", &message(2048));
    let run = |script: &str| cyradm(s.plain.port(), script);
    let Some(text) = run("sq user/sha512 40\nlq user/sha512\nlqr user/sha512\n") else {
        return;
    };
    for want in [
        "quota:40",
        " STORAGE 2/40 (5%)",
        "user/sha512 STORAGE 2/40 (5%)",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in cyradm's output:\n{text}"
        );
    }
    let u = user.ok("GETQUOTAROOT INBOX");
    assert_eq!(u[1], "* QUOTA INBOX (STORAGE 2 40)");
    let text = run("sq user/sha512 none\nlq user/sha512\n").unwrap_or_default();
    assert!(text.contains("remove quota"), "{text}");
    let u = user.ok("GETQUOTA INBOX");
    assert_eq!(u, ["* QUOTA INBOX ()"]);
}
