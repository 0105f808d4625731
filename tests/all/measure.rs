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

/// Rss, Pss and Anonymous of a process, in KiB, from smaps_rollup.
fn memory(pid: u32) -> (u64, u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let field = |name: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("Rss:"), field("Pss:"), field("Anonymous:"))
}

/// Where a process's resident memory is, in KiB: the main heap, other
/// anonymous mappings (malloc's thread arenas, wasmtime's pool: linear
/// memories, stacks), and file mappings (the binary, the guest image).
fn breakdown(pid: u32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let (mut heap, mut anon, mut file) = (0u64, 0u64, 0u64);
    let mut kind = 0;
    for l in s.lines() {
        let mut w = l.split_whitespace();
        let first = w.next().unwrap_or("");
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            let name = l.split_whitespace().nth(5).unwrap_or("");
            kind = if name == "[heap]" {
                0
            } else if name.is_empty() || name.starts_with('[') {
                1
            } else {
                2
            };
        } else if first == "Rss:" {
            let v: u64 = w.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match kind {
                0 => heap += v,
                1 => anon += v,
                _ => file += v,
            }
        }
    }
    format!("[heap] {heap} KiB, other anonymous {anon} KiB, files {file} KiB")
}

/// Bytes malloc has handed out and not had back, from malloc_stats(),
/// which gdb makes the process print on its stderr. Only when
/// MEASURE_MALLOC_STATS is set (it needs gdb and ptrace).
fn malloc_in_use(s: &crate::harness::TestServer) -> Option<u64> {
    std::env::var_os("MEASURE_MALLOC_STATS")?;
    let before = s.log().len();
    let st = std::process::Command::new("gdb")
        .args([
            "-p",
            &s.pid().to_string(),
            "-batch",
            "-ex",
            "call (void) malloc_stats()",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    let log = s.log();
    let total = log[before..].split("Total (incl. mmap):").nth(1)?;
    total
        .lines()
        .find(|l| l.starts_with("in use bytes"))?
        .split('=')
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// Resident memory of imapd with 1,000 logged-in sessions idling in a
/// selected INBOX of a few messages: awake (each with its guest instance),
/// then hibernated (`idle_hibernate`), per session, beside one warm
/// session as the baseline. All of them still wake and answer afterwards.
/// `cargo test -p imapd-tests -- --ignored --nocapture measure_memory_per_idle_session`
#[test]
#[ignore]
fn measure_memory_per_idle_session() {
    measure_idle_sessions(1000, false);
}

/// The same with COMPRESS=DEFLATE on every session (rfc4978): awake, each
/// holds a compressor and a decompressor; hibernated, only the history of
/// what its client sent.
/// `cargo test -p imapd-tests -- --ignored --nocapture measure_memory_per_idle_compress_session`
#[test]
#[ignore]
fn measure_memory_per_idle_compress_session() {
    measure_idle_sessions(1000, true);
}

fn measure_idle_sessions(n: usize, compress: bool) {
    let hibernate_after = 15;
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf("max_sessions: 1200")
        .conf(&format!("idle_hibernate: {hibernate_after}"))
        .conf("idle_keepalive: 0")
        .conf("imapidlepoll: 10m")
        .start();
    let idle = |tag: &str| -> Client {
        let mut c = s.connect();
        assert!(c.line().starts_with("* OK"));
        c.login("plain", "secret");
        if compress {
            c.compress("z");
        }
        let (u, t) = c.cmd("s", "SELECT INBOX");
        assert!(t.starts_with("s OK"), "{t}");
        assert!(u.iter().any(|l| l == "* 5 EXISTS"), "{u:?}");
        c.send(&format!("{tag} IDLE\r\n"));
        assert_eq!(c.line(), "+ idling");
        c
    };
    let hibernated = || s.log().matches(": hibernated (").count();
    let mut writer = s.connect();
    writer.line();
    writer.login("plain", "secret");
    for i in 0..5 {
        let msg = format!(
            "From: a@example.org\r\nTo: b@example.org\r\nSubject: message {i}\r\n\r\n{}\r\n",
            "body text ".repeat(50)
        );
        writer.send(&format!(
            "a{i} APPEND INBOX {{{}+}}\r\n{msg}\r\n",
            msg.len()
        ));
        assert!(
            writer
                .until_tagged(&format!("a{i}"))
                .1
                .starts_with(&format!("a{i} OK"))
        );
    }
    assert_eq!(writer.cmd("z", "LOGOUT").1, "z OK Completed");
    // Warm up: the first sessions pay for lazy initialisation. The
    // baseline is the process with this one session hibernated (so it has
    // also had its memory trimmed once, as the end state will have).
    let mut warm = vec![idle("w")];
    let t0 = Instant::now();
    while hibernated() < 1 {
        assert!(t0.elapsed() < Duration::from_secs(hibernate_after + 30));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (rss0, pss0, anon0) = memory(s.pid());
    let base = breakdown(s.pid());
    let heap0 = malloc_in_use(&s);

    let t0 = Instant::now();
    let mut clients: Vec<Client> = (0..n).map(|_| idle("i")).collect();
    let opened = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (rss1, pss1, anon1) = memory(s.pid());
    let awake = breakdown(s.pid());
    let heap1 = malloc_in_use(&s);
    assert_eq!(
        hibernated(),
        1,
        "sessions hibernated before the first measurement; raise hibernate_after"
    );

    // Done when the last one to hibernate leaves no instance behind (and
    // a little later, when the memory they freed has been trimmed).
    let t0 = Instant::now();
    while hibernated() < n + 1 || s.log().matches("; 0 instances live)").count() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(hibernate_after + 60));
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "hibernations: {} (spurious wake-ups make more than one per session)",
        hibernated()
    );
    let (rss2, pss2, anon2) = memory(s.pid());
    let per = |a: u64, b: u64| (b as f64 - a as f64) / n as f64;
    println!("imapd {}", crate::harness::imapd_bin().display());
    let how = if compress {
        "LOGIN, COMPRESS DEFLATE"
    } else {
        "LOGIN"
    };
    println!("{n} sessions opened ({how}, SELECT INBOX of 5 messages, IDLE) in {opened:?}");
    println!(
        "baseline (one hibernated session):  RSS {rss0} KiB, PSS {pss0} KiB, anonymous {anon0} KiB"
    );
    println!(
        "{n} awake in IDLE:    RSS {rss1} KiB, PSS {pss1} KiB, anonymous {anon1} KiB: \
         per session RSS {:.1} KiB, PSS {:.1} KiB, anonymous {:.1} KiB",
        per(rss0, rss1),
        per(pss0, pss1),
        per(anon0, anon1)
    );
    println!(
        "{n} hibernated:       RSS {rss2} KiB, PSS {pss2} KiB, anonymous {anon2} KiB: \
         per session RSS {:.1} KiB, PSS {:.1} KiB, anonymous {:.1} KiB",
        per(rss0, rss2),
        per(pss0, pss2),
        per(anon0, anon2)
    );
    if let (Some(h0), Some(h1), Some(h2)) = (heap0, heap1, malloc_in_use(&s)) {
        println!(
            "  malloc in use: baseline {} KiB, awake {} KiB ({:.1} KiB per session), \
             hibernated {} KiB ({:.1} KiB per session)",
            h0 / 1024,
            h1 / 1024,
            (h1 as f64 - h0 as f64) / 1024.0 / n as f64,
            h2 / 1024,
            (h2 as f64 - h0 as f64) / 1024.0 / n as f64
        );
    }
    println!(
        "  baseline: {base}\n  awake: {awake}\n  hibernated: {}",
        breakdown(s.pid())
    );
    if let Some(l) = s.log().lines().rev().find(|l| l.contains(": hibernated (")) {
        println!("last hibernation: {l}");
    }
    // Every session wakes and carries on; how long from DONE to its OK.
    warm.append(&mut clients);
    let mut waking = Vec::with_capacity(warm.len());
    for (i, c) in warm.iter_mut().enumerate() {
        let t = Instant::now();
        c.send("DONE\r\n");
        let tag = if i == 0 { "w" } else { "i" };
        assert_eq!(c.until_tagged(tag).1, format!("{tag} OK Completed"));
        waking.push(t.elapsed());
    }
    waking.sort();
    println!(
        "DONE to OK from hibernation, one session at a time: median {:.0} us, p90 {:.0} us",
        waking[waking.len() / 2].as_secs_f64() * 1e6,
        waking[waking.len() * 9 / 10].as_secs_f64() * 1e6
    );
    for c in warm.iter_mut().step_by(100) {
        assert_eq!(c.cmd("n", "NOOP").1, "n OK Completed");
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
