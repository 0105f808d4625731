//! `imapd-stress`: many clients on a few shared mailboxes, each checking
//! every response against the model it keeps (see client.rs for what is
//! checked). Starts its own imapd on 127.0.0.1 (a port the server picks)
//! on a fresh data directory, stops it by PID, and prints operations per
//! second, errors, and the server's resident memory over the run.
//!
//! `make stress SECS=600 CLIENTS=50`; `imapd-stress --help` for the rest.
//! A run is replayed with the same `--seed` (each client's commands follow
//! from it; the interleaving of clients does not).

mod client;
mod message;
mod wire;

use client::{Client, Config, Shared};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const USAGE: &str = "imapd-stress [--secs N] [--clients N] [--mailboxes N] [--seed N]
             [--max-messages N] [--imapd PATH] [--keep] [--transcripts]
  --secs N          how long the clients run (default 20)
  --clients N       concurrent clients, one connection each (default 8)
  --mailboxes N     mailboxes they share, besides INBOX (default 4)
  --seed N          seed of every client's commands (default: the time; printed)
  --max-messages N  a mailbox above this is trimmed, not grown (default 150)
  --imapd PATH      the server binary (default: imapd beside this one)
  --keep            keep the data directory and server log
  --transcripts     write each client's whole conversation to clientN.log
                    in the data directory (kept)
Exit status 0 when no client found an error and the server logged no trap.";

struct Args {
    secs: u64,
    clients: u32,
    mailboxes: u32,
    seed: u64,
    max_messages: usize,
    imapd: PathBuf,
    keep: bool,
    transcripts: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        secs: 20,
        clients: 8,
        mailboxes: 4,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
        max_messages: 150,
        imapd: std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("imapd")))
            .unwrap_or_else(|| PathBuf::from("imapd")),
        keep: false,
        transcripts: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            a.keep = true;
            continue;
        }
        if flag == "--transcripts" {
            a.transcripts = true;
            a.keep = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(String::new());
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} {v}: not a number"))
        };
        match flag.as_str() {
            "--secs" => a.secs = num()?,
            "--clients" => a.clients = num()?.clamp(1, 10_000) as u32,
            "--mailboxes" => a.mailboxes = num()?.clamp(1, 100) as u32,
            "--seed" => a.seed = num()?,
            "--max-messages" => a.max_messages = num()?.max(2) as usize,
            "--imapd" => a.imapd = PathBuf::from(&v),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

/// The server under test: started on a fresh data directory, stopped by
/// PID when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(imapd: &Path, root: &Path, clients: u32) -> Result<Server, String> {
        for d in ["config/msg", "spool"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
        }
        // A short idle_hibernate so IDLE sessions go to sleep and wake
        // (snapshot, restore) under load too.
        let conf = format!(
            "configdirectory: {}\npartition-default: {}\nservername: stress.test\nlog_destination: stderr\nallowplaintext: yes\nfailedloginpause: 0\nidle_hibernate: 1\nmax_sessions: {}\n",
            root.join("config").display(),
            root.join("spool").display(),
            (clients + 16).max(100)
        );
        std::fs::write(root.join("imapd.conf"), conf).map_err(|e| e.to_string())?;
        std::fs::write(root.join("config/passwd"), "stress:{PLAIN}stresspw\n")
            .map_err(|e| e.to_string())?;
        let log = root.join("imapd.log");
        let err = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = Command::new(imapd)
            .arg("-C")
            .arg(root.join("imapd.conf"))
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", imapd.display()))?;
        let mut server = Server {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            log,
        };
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            if let Some(rest) = text.split("listening on ").nth(1) {
                let a = rest.split_whitespace().next().unwrap_or("");
                server.addr = a.parse().map_err(|_| format!("listening on {a}?"))?;
                return Ok(server);
            }
            if let Ok(Some(st)) = server.child.try_wait() {
                return Err(format!("imapd exited ({st}): {text}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("imapd did not listen within 60 s".into())
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Create the shared mailboxes on one connection of their own.
fn setup(addr: SocketAddr, names: &[String]) -> Result<(), String> {
    let mut c = wire::Conn::connect(addr).map_err(|e| e.to_string())?;
    c.set_timeout(Duration::from_secs(30));
    let mut cmds = vec!["LOGIN stress stresspw".to_string()];
    cmds.extend(
        names
            .iter()
            .filter(|n| *n != "INBOX")
            .map(|n| format!("CREATE {n}")),
    );
    cmds.push("LOGOUT".into());
    let _greeting = c.read()?;
    for (i, cmd) in cmds.iter().enumerate() {
        let tag = format!("p{i}");
        c.send(format!("{tag} {cmd}\r\n").as_bytes())?;
        loop {
            match c.read()? {
                wire::Read1::Resp(r) if r.starts_with(tag.as_bytes()) => {
                    if !r.starts_with(format!("{tag} OK").as_bytes()) {
                        return Err(format!("{cmd}: {}", String::from_utf8_lossy(&r)));
                    }
                    break;
                }
                wire::Read1::Resp(_) => {}
                _ => return Err(format!("{cmd}: no answer")),
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("imapd-stress: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dir = match tempfile::Builder::new().prefix("imapd-stress").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("imapd-stress: temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::start(&args.imapd, dir.path(), args.clients) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("imapd-stress: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut mailboxes = vec!["INBOX".to_string()];
    mailboxes.extend((0..args.mailboxes).map(|i| format!("box{i}")));
    if let Err(e) = setup(server.addr, &mailboxes) {
        eprintln!("imapd-stress: setting up the mailboxes: {e}");
        eprintln!("{}", server.log_text());
        return ExitCode::FAILURE;
    }
    println!(
        "imapd-stress: {} clients, {} mailboxes, {} s, seed {} (replay: --seed {}), server pid {} on {}",
        args.clients,
        mailboxes.len(),
        args.secs,
        args.seed,
        args.seed,
        server.child.id(),
        server.addr
    );
    let started = Instant::now();
    let cfg = Arc::new(Config {
        addr: server.addr,
        user: "stress".into(),
        pass: "stresspw".into(),
        mailboxes,
        run: args.seed,
        deadline: started + Duration::from_secs(args.secs),
        max_messages: args.max_messages,
        transcripts: args.transcripts.then(|| dir.path().to_path_buf()),
    });
    let shared = Arc::new(Shared::default());
    let rss_start = server.rss_kib();
    let handles: Vec<_> = (0..args.clients)
        .map(|id| {
            let (cfg, shared) = (cfg.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("client{id}"))
                .spawn(move || {
                    let mut c = Client::new(id, args.seed, cfg, shared);
                    c.run();
                    (c.ops, c.errors)
                })
                .expect("spawning a client thread")
        })
        .collect();
    // Memory over the run: a sample every tenth of it (at least every 10 s
    // apart is not needed; short runs get ten samples too).
    let mut samples = vec![(0u64, rss_start)];
    let step = Duration::from_millis((args.secs * 100).max(500));
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        let t = started.elapsed();
        if t >= step * samples.len() as u32 && t.as_secs() <= args.secs {
            let rss = server.rss_kib();
            let ops = shared.ops.load(Ordering::Relaxed);
            println!("  {:>5.1} s  {ops:>8} ops  rss {rss} KiB", t.as_secs_f64());
            samples.push((t.as_secs(), rss));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut ops = 0;
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok((o, e)) => {
                ops += o;
                errors.extend(e);
            }
            Err(_) => errors.push("a client thread panicked".into()),
        }
    }
    let rss_end = server.rss_kib();
    let rss_max = samples.iter().map(|s| s.1).max().unwrap_or(0).max(rss_end);
    let log = server.log_text();
    let traps: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("trap") || l.contains("panicked") || l.contains("CPU budget"))
        .collect();
    for e in &errors {
        println!("ERROR {e}\n");
    }
    for t in &traps {
        println!("SERVER {t}");
    }
    println!(
        "imapd-stress: {ops} ops in {elapsed:.1} s = {:.0} ops/s; {} errors; {} server traps; server RSS {rss_start} KiB at start, {rss_end} KiB at end (max {rss_max}); seed {}",
        ops as f64 / elapsed,
        errors.len(),
        traps.len(),
        args.seed
    );
    drop(server);
    if args.keep || !errors.is_empty() || !traps.is_empty() {
        let kept = dir.keep();
        println!(
            "imapd-stress: data and server log kept in {}",
            kept.display()
        );
    }
    if errors.is_empty() && traps.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
