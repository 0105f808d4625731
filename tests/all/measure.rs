//! Measurements for the closing notes, not assertions (they run only when
//! asked: `cargo test -p imapd-tests -- --ignored --nocapture measure`).

use std::time::{Duration, Instant};

use crate::harness::{Client, imapd_bin, run_imapd, server};

/// Resident memory of imapd with 1,000 open pre-auth connections, per
/// connection (each has its own guest instance and greeting sent).
#[test]
#[ignore]
fn measure_memory_per_preauth_session() {
    let s = server().no_tls().conf("max_sessions: 1200").start();
    // Warm up: the first session pays for lazy initialisation.
    let mut warm = s.connect();
    warm.line();
    std::thread::sleep(Duration::from_millis(300));
    let before = s.rss_kib();
    let pss_before = s.pss_kib();
    let n = 1000;
    let mut clients: Vec<Client> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = s.connect();
        assert!(c.line().starts_with("* OK"));
        clients.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = s.rss_kib();
    let pss_after = s.pss_kib();
    println!(
        "RSS {before} KiB -> {after} KiB with {n} pre-auth sessions: {:.1} KiB per session",
        (after - before) as f64 / n as f64
    );
    println!(
        "PSS {pss_before} KiB -> {pss_after} KiB: {:.1} KiB per session \
         (RSS counts the guest image, shared by every instance, once per mapping)",
        (pss_after - pss_before) as f64 / n as f64
    );
    // All of them still answer.
    for c in clients.iter_mut().step_by(100) {
        assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    }
}

/// Process start to greeting under -X, cold (no precompiled guest in the
/// cache) and warm (cached).
#[test]
#[ignore]
fn measure_start_to_greeting() {
    let data = server().no_tls().prepare();
    let conf = data.conf();
    let env = [("CYRUS_SERVICE", "imap"), ("CYRUS_ID", "0")];
    let cache = data.config_dir().join("cache");
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(&cache);
        let t = Instant::now();
        let (code, out, _) =
            run_imapd(&["-C", conf.to_str().unwrap(), "-X"], &env, b"a LOGOUT\r\n");
        cold.push(t.elapsed());
        assert_eq!(code, 0);
        assert!(out.starts_with("* OK"));
    }
    for _ in 0..20 {
        let t = Instant::now();
        let (code, _, _) = run_imapd(&["-C", conf.to_str().unwrap(), "-X"], &env, b"a LOGOUT\r\n");
        warm.push(t.elapsed());
        assert_eq!(code, 0);
    }
    cold.sort();
    warm.sort();
    println!(
        "{}: -X start to LOGOUT done: cold median {:.1} ms, cached median {:.1} ms",
        imapd_bin().display(),
        cold[cold.len() / 2].as_secs_f64() * 1000.0,
        warm[warm.len() / 2].as_secs_f64() * 1000.0
    );
}
