//! `imapd-bench swap`: the cost of a hot swap (`imapd swap`) with many
//! live sessions, imapd's alone (no peer can swap its protocol code under
//! open connections). With `--sessions N` connections selected on INBOX,
//! half of them in IDLE and hibernated (the server must have
//! `idle_hibernate` set), `--probes` of the awake ones sending NOOP after
//! NOOP: the time from the swap command to the server's report that the
//! last session moved, the latency of the probes' NOOPs during the swap
//! (the stall a session sees at its next command; p50, p99) against the
//! same before it, the IDLE sessions' DONE after it (a hibernated
//! session's wake into the new module), and the server's peak PSS during
//! the swap against before. Then it swaps back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::imap::Conn;
use crate::memory;
use crate::workloads::Server;

pub struct SwapArgs {
    pub imapd: String,
    pub conf: String,
    pub to: String,
    pub back: String,
    pub sessions: usize,
    pub probes: usize,
    pub hibernate_wait: Duration,
}

type Result<T> = std::result::Result<T, String>;

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Run `imapd swap`; its wall time and what it printed.
async fn run_swap(a: &SwapArgs, module: &str) -> Result<(Duration, String)> {
    let t0 = Instant::now();
    let out = tokio::process::Command::new(&a.imapd)
        .args(["swap", "-C", &a.conf, "--wait", "120", module])
        .output()
        .await
        .map_err(|e| format!("running {} swap: {e}", a.imapd))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "imapd swap {module} failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((t0.elapsed(), text))
}

/// NOOPs back to back on `c` until `stop`; each one's latency and when it
/// was sent (relative to `origin`).
async fn probe(
    mut c: Conn,
    stop: Arc<AtomicBool>,
    origin: Instant,
) -> Result<(Conn, Vec<(f64, f64)>)> {
    let mut lat = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        c.cmd("NOOP", false).await?.ok("NOOP")?;
        lat.push((ms(t - origin), ms(t.elapsed())));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((c, lat))
}

pub async fn run(s: &Server, a: &SwapArgs) -> Result<()> {
    let pid = s.pid.ok_or("swap needs pid=N in --server")?;
    // Sessions: selected on INBOX; every other one goes into IDLE.
    let opening = Arc::new(Semaphore::new(32));
    let mut set = JoinSet::new();
    for i in 0..a.sessions {
        let (s, opening) = (s.clone(), opening.clone());
        set.spawn(async move {
            let _permit = opening.acquire().await.map_err(|e| e.to_string())?;
            let (mut c, _) = s.selected().await?;
            let idle = if i % 2 == 1 {
                Some(c.idle().await?)
            } else {
                None
            };
            Ok::<_, String>((c, idle))
        });
    }
    let mut awake = Vec::new();
    let mut idlers = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| e.to_string())?? {
            (c, Some(tag)) => idlers.push((c, tag)),
            (c, None) => awake.push(c),
        }
    }
    eprintln!(
        "[swap] {} sessions open ({} in IDLE); waiting {} s for them to hibernate",
        a.sessions,
        idlers.len(),
        a.hibernate_wait.as_secs()
    );
    tokio::time::sleep(a.hibernate_wait).await;
    let before = memory::measure(pid).ok_or("server gone")?;

    // Probes run through the swap; memory is sampled meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let origin = Instant::now();
    let mut probes = JoinSet::new();
    for c in awake.drain(..a.probes.min(awake.len())) {
        probes.spawn(probe(c, stop.clone(), origin));
    }
    let peak = Arc::new(std::sync::Mutex::new(before.pss_kib));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(m) = memory::measure(pid) {
                    let mut p = peak.lock().unwrap();
                    *p = (*p).max(m.pss_kib);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let swap_start = ms(origin.elapsed());
    let (wall, report) = run_swap(a, &a.to).await?;
    let swap_end = ms(origin.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let mut during = Vec::new();
    let mut baseline = Vec::new();
    while let Some(r) = probes.join_next().await {
        let (c, lat) = r.map_err(|e| e.to_string())??;
        awake.push(c);
        for (at, l) in lat {
            if at + l >= swap_start && at <= swap_end {
                during.push(l);
            } else if at + l < swap_start {
                baseline.push(l);
            }
        }
    }
    // The hibernated sessions wake into the new module at DONE.
    let mut wakes = Vec::new();
    for (c, tag) in idlers.iter_mut() {
        let t = Instant::now();
        c.send(b"DONE\r\n").await?;
        c.read_tagged(tag, false).await?.ok("DONE")?;
        wakes.push(ms(t.elapsed()));
    }
    let moved_line = report
        .lines()
        .find(|l| l.contains("sessions moved"))
        .unwrap_or("")
        .to_string();
    let server_ms: f64 = moved_line
        .rsplit(", ")
        .next()
        .and_then(|t| t.trim_end_matches(" ms").parse().ok())
        .unwrap_or(f64::NAN);
    let peak = *peak.lock().unwrap();
    let result = json!({
        "sessions": a.sessions,
        "hibernated": idlers.len(),
        "swap_command_ms": ms(wall),
        "server_request_to_last_moved_ms": server_ms,
        "report": moved_line,
        "noop_during_swap_ms": {"n": during.len(), "p50": pct(&mut during, 0.5), "p99": pct(&mut during, 0.99), "max": pct(&mut during, 1.0)},
        "noop_before_swap_ms": {"n": baseline.len(), "p50": pct(&mut baseline, 0.5), "p99": pct(&mut baseline, 0.99)},
        "wake_after_swap_ms": {"n": wakes.len(), "p50": pct(&mut wakes, 0.5), "p99": pct(&mut wakes, 0.99)},
        "pss_before_mib": before.pss_kib as f64 / 1024.0,
        "pss_peak_mib": peak as f64 / 1024.0,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    for c in awake.into_iter().chain(idlers.into_iter().map(|(c, _)| c)) {
        drop(c);
    }
    // Leave the server as it was.
    run_swap(a, &a.back).await?;
    Ok(())
}
