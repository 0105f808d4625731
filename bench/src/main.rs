//! imapd-bench: the load generator behind `make bench`.
//!
//! ```text
//! imapd-bench load   --server SPEC... [--messages N] [--seed S]
//! imapd-bench run    --server SPEC... [--workloads a,b,e,...] [--rounds R] [--json PATH] ...
//! imapd-bench corpus --messages N --out DIR
//! imapd-bench report --part PATH... [--json PATH] [--note TEXT]...
//! imapd-bench swap   --server SPEC --imapd BIN --conf PATH --to WASM --back WASM [--swap-sessions N]
//! ```
//! SPEC is `name=host:port,user,pass[,tls=host:port][,pid=N][,append=user:pass][,quiet=user:pass]`.

mod corpus;
mod imap;
mod memory;
mod swap;
mod workloads;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use corpus::Corpus;
use imap::Conn;
use workloads::{Params, Sample, Server, Workload};

const USAGE: &str = "\
usage: imapd-bench load   --server SPEC... [--messages N] [--seed S] [--window W]
       imapd-bench run    --server SPEC... [options]
       imapd-bench corpus [--messages N] [--seed S] --out DIR
       imapd-bench report --part PATH... [--json PATH] [--note TEXT]...
       imapd-bench swap   --server SPEC --imapd BIN --conf PATH --to WASM --back WASM [options]

SPEC: name=host:port,user,pass[,tls=host:port][,pid=N][,append=user:pass][,quiet=user:pass]
  tls=     implicit-TLS address (workload i)
  pid=     root PID of the server's process tree (workloads g, l; v waits on its CPU time)
  append=  account whose INBOX workload f appends to (default: <user>2, same password)
  quiet=   the quiet tenant of workload v, its INBOX holding the first 100 corpus
           messages (default: quiet, same password)

run options:
  --workloads LIST   comma-separated ids or names (a,b,c,d,e,e1..e4,f,g,h,i,...,v;
                     default all, which leaves out v)
  --rounds R         rounds per workload, servers alternating (default 5)
  --memory-rounds R  at most this many rounds of workload g (default 3)
  --subject NAME     server whose ratio to the best other is reported (default imapd)
  --messages N       corpus size the INBOX holds (default 10000)
  --clients K        parallel clients for session rates (default 16)
  --sessions M       sessions per session-rate round (default 2000)
  --greetings N      connects per greeting-latency round (default 200)
  --idle-conns N     concurrent IDLE connections for memory (default 1000)
  --idle-settle SECS how long they idle before memory is measured (default 40:
                     past imapd's idle_hibernate; servers that free idle
                     sessions' memory get to do so)
  --appends N        messages per APPEND round (default 1000)
  --body-fetch N     messages in FETCH 1:N BODY.PEEK[] (default 1000)
  --noisy-sessions N noisy-neighbour (v): the noisy tenant's sessions (default 200)
  --noisy-secs S     noisy-neighbour (v): how long they run (default 20)
  --timeout SECS     limit per workload run (default 600)
  --json PATH        also write the results as JSON
load options:
  --window W         APPENDs in flight at once with LITERAL+ (default 1)
  --quick            smaller defaults (sessions 200, greetings 50, idle-conns 100,
                     idle-settle 2, appends 100, noisy-sessions 40, noisy-secs 5)
report options (one table and JSON from several `run --json` files, in order;
a server missing from a file's workloads shows `-` there):
  --part PATH        a `run --json` file (repeat)
  --note TEXT        an extra NOTE line, also in the JSON (repeat)
swap options (imapd only: the cost of `imapd swap` with live sessions; the
server needs idle_hibernate set; it is swapped to --to and back to --back):
  --swap-sessions N  sessions open, half of them in IDLE (default 1000)
  --probes P         awake sessions sending NOOPs through the swap (default 50)
  --hibernate-wait S seconds for the IDLE half to hibernate (default 5)
";

fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

struct Args {
    cmd: String,
    servers: Vec<Server>,
    workloads: Vec<Workload>,
    rounds: usize,
    memory_rounds: usize,
    subject: String,
    window: usize,
    json: Option<String>,
    out: Option<String>,
    parts: Vec<String>,
    notes: Vec<String>,
    params: Params,
    swap: swap::SwapArgs,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().ok_or(USAGE)?;
    if !matches!(cmd.as_str(), "load" | "run" | "corpus" | "report" | "swap") {
        return Err(USAGE.into());
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let mut a = Args {
        cmd,
        servers: Vec::new(),
        workloads: workloads::ALL.to_vec(),
        rounds: 5,
        memory_rounds: 3,
        subject: "imapd".into(),
        window: 1,
        json: None,
        out: None,
        parts: Vec::new(),
        notes: Vec::new(),
        swap: swap::SwapArgs {
            imapd: "imapd".into(),
            conf: String::new(),
            to: String::new(),
            back: String::new(),
            sessions: 1000,
            probes: 50,
            hibernate_wait: Duration::from_secs(5),
        },
        params: Params {
            messages: 10_000,
            seed: 1,
            clients: 16,
            sessions: if quick { 200 } else { 2000 },
            greetings: if quick { 50 } else { 200 },
            idle_conns: if quick { 100 } else { 1000 },
            idle_settle: Duration::from_secs(if quick { 2 } else { 40 }),
            appends: if quick { 100 } else { 1000 },
            body_fetch: 1000,
            noisy_sessions: if quick { 40 } else { 200 },
            noisy_duration: Duration::from_secs(if quick { 5 } else { 20 }),
            timeout: Duration::from_secs(600),
        },
    };
    while let Some(flag) = it.next() {
        if flag == "--quick" {
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        let p = &mut a.params;
        match flag.as_str() {
            "--server" => a.servers.push(Server::parse(&v)?),
            "--workloads" => {
                a.workloads.clear();
                for w in v.split(',') {
                    let ws =
                        Workload::parse(w.trim()).ok_or_else(|| format!("unknown workload {w}"))?;
                    a.workloads.extend(ws);
                }
            }
            "--rounds" => a.rounds = num(&v)?.max(1) as usize,
            "--memory-rounds" => a.memory_rounds = num(&v)?.max(1) as usize,
            "--subject" => a.subject = v,
            "--window" => a.window = num(&v)?.max(1) as usize,
            "--messages" => p.messages = num(&v)?,
            "--seed" => p.seed = num(&v)?,
            "--clients" => p.clients = num(&v)?.max(1) as usize,
            "--sessions" => p.sessions = num(&v)?.max(1),
            "--greetings" => p.greetings = num(&v)?.max(1) as usize,
            "--idle-conns" => p.idle_conns = num(&v)?.max(1) as usize,
            "--idle-settle" => p.idle_settle = Duration::from_secs(num(&v)?),
            "--appends" => p.appends = num(&v)?.max(1),
            "--body-fetch" => p.body_fetch = num(&v)?.max(1),
            "--noisy-sessions" => p.noisy_sessions = num(&v)?.max(1) as usize,
            "--noisy-secs" => p.noisy_duration = Duration::from_secs(num(&v)?.max(1)),
            "--timeout" => p.timeout = Duration::from_secs(num(&v)?),
            "--json" => a.json = Some(v),
            "--out" => a.out = Some(v),
            "--part" => a.parts.push(v),
            "--note" => a.notes.push(v),
            "--imapd" => a.swap.imapd = v,
            "--conf" => a.swap.conf = v,
            "--to" => a.swap.to = v,
            "--back" => a.swap.back = v,
            "--swap-sessions" => a.swap.sessions = num(&v)?.max(2) as usize,
            "--probes" => a.swap.probes = num(&v)? as usize,
            "--hibernate-wait" => a.swap.hibernate_wait = Duration::from_secs(num(&v)?),
            _ => return Err(format!("unknown option {flag}\n\n{USAGE}")),
        }
    }
    if matches!(a.cmd.as_str(), "load" | "run" | "swap") && a.servers.is_empty() {
        return Err(format!("no --server given\n\n{USAGE}"));
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let r = rt.block_on(async {
        match args.cmd.as_str() {
            "load" => load_all(&args).await,
            "corpus" => write_corpus(&args),
            "report" => report_parts(&args),
            "swap" => swap::run(&args.servers[0], &args.swap).await,
            _ => run_all(&args).await,
        }
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imapd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_corpus(a: &Args) -> Result<(), String> {
    let dir = a.out.as_deref().ok_or("corpus needs --out DIR")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    let c = Corpus::new(a.params.seed);
    for i in 0..a.params.messages {
        let m = c.message(i);
        let path = format!("{dir}/{i:06}.eml");
        std::fs::write(&path, &m.bytes).map_err(|e| format!("{path}: {e}"))?;
    }
    println!("{} messages in {dir}", a.params.messages);
    Ok(())
}

/// APPEND the corpus into each server's INBOX; with `--window W` and
/// LITERAL+, W APPENDs are in flight at once (default 1: servers fsync each
/// message, so pipelining gains little).
/// An INBOX that already holds exactly the corpus is left alone.
async fn load_all(a: &Args) -> Result<(), String> {
    let corpus = Corpus::new(a.params.seed);
    let n = a.params.messages;
    let mut failed = Vec::new();
    for s in &a.servers {
        let t0 = Instant::now();
        match load_one(s, &corpus, n, a.window).await {
            Ok((0, _)) => eprintln!("[load] {}: INBOX already holds {n} messages", s.name),
            Ok((k, bytes)) => eprintln!(
                "[load] {}: appended {k} messages ({:.1} MB) in {:.1} s",
                s.name,
                bytes as f64 / 1e6,
                t0.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("[load] {}: FAILED: {e}", s.name);
                failed.push(s.name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("loading failed on {}", failed.join(", ")))
    }
}

async fn load_one(
    s: &Server,
    corpus: &Corpus,
    n: u64,
    window: usize,
) -> Result<(u64, u64), String> {
    let mut c = Conn::connect(&s.plain()).await?;
    c.login(&s.user, &s.pass).await?;
    let lp = c.capabilities().await?.contains("LITERAL+");
    // SELECT may not be implemented yet on a server under development:
    // then just append.
    let have = match c.cmd("SELECT INBOX", true).await?.ok("SELECT") {
        Ok(r) => r.exists().unwrap_or(0),
        Err(_) => 0,
    };
    if have == n {
        c.logout().await.ok();
        return Ok((0, 0));
    }
    if have != 0 {
        return Err(format!(
            "INBOX holds {have} messages, expected 0 or {n}: remove its data directory"
        ));
    }
    let window = if lp { window.max(1) } else { 1 };
    let mut pending = std::collections::VecDeque::new();
    let mut bytes = 0u64;
    let at = |i: u64, len: usize| move |e: String| format!("message {i} ({len} bytes): {e}");
    for i in 0..n {
        let m = corpus.message(i);
        let len = m.bytes.len();
        bytes += len as u64;
        let tag = c
            .send_append("INBOX", m.flags, &m.internal_date, &m.bytes, lp)
            .await
            .map_err(at(i, len))?;
        pending.push_back((tag, i, len));
        if pending.len() >= window {
            let (tag, i, len) = pending.pop_front().expect("pending");
            c.read_tagged(&tag, false)
                .await
                .and_then(|r| r.ok("APPEND"))
                .map_err(at(i, len))?;
        }
    }
    while let Some((tag, i, len)) = pending.pop_front() {
        c.read_tagged(&tag, false)
            .await
            .and_then(|r| r.ok("APPEND"))
            .map_err(at(i, len))?;
    }
    c.logout().await.ok();
    Ok((n, bytes))
}

/// Results of one workload on one server.
#[derive(Default)]
struct Cell {
    samples: Vec<Sample>,
    error: Option<String>,
}

async fn run_all(a: &Args) -> Result<(), String> {
    let p = &a.params;
    let corpus = Corpus::new(p.seed);
    // Which servers answer at all?
    let mut servers = Vec::new();
    let mut unavailable = BTreeMap::new();
    let mut short_inbox = BTreeMap::new();
    for s in &a.servers {
        let probe = async {
            let mut c = Conn::connect(&s.plain()).await?;
            c.login(&s.user, &s.pass).await?;
            let exists = c.select("INBOX").await.ok();
            c.logout().await.ok();
            Ok(exists)
        };
        match imap::within(Duration::from_secs(20), "probe", probe).await {
            Ok(exists) => {
                if let Some(n) = exists.filter(|&n| n != p.messages) {
                    eprintln!(
                        "[bench] {}: INBOX holds {n} messages, not {}: workloads on INBOX are skipped",
                        s.name, p.messages
                    );
                    short_inbox.insert(s.name.clone(), n);
                }
                servers.push(s.clone())
            }
            Err(e) => {
                eprintln!("[bench] {}: UNAVAILABLE ({e}); skipped", s.name);
                unavailable.insert(s.name.clone(), e);
            }
        }
    }
    if servers.is_empty() {
        return Err("no server answered".into());
    }
    let appends: Vec<corpus::Message> = if a.workloads.contains(&Workload::Append)
        || a.workloads.contains(&Workload::AppendConcurrent)
    {
        (0..p.appends).map(|i| corpus.message(i)).collect()
    } else {
        Vec::new()
    };

    // What to run: one run per `lead`, which may measure several of the
    // workloads asked for (the noisy-neighbour rows v1-v4), in the order asked.
    let mut units: Vec<(Workload, Vec<Workload>)> = Vec::new();
    for &w in &a.workloads {
        match units.iter_mut().find(|(lead, _)| *lead == w.lead()) {
            Some((_, rows)) => {
                if !rows.contains(&w) {
                    rows.push(w)
                }
            }
            None => units.push((w.lead(), vec![w])),
        }
    }
    let mut results: Vec<(Workload, BTreeMap<String, Cell>)> = Vec::new();
    for (w, rows) in units {
        for r in &rows {
            eprintln!("[bench] {} {}: {}", r.id(), r.name(), r.title(p, &corpus));
        }
        let started = Instant::now();
        let measures = w.measures();
        // One cell per server for each of `rows`.
        let mut cells: Vec<BTreeMap<String, Cell>> = rows
            .iter()
            .map(|_| {
                servers
                    .iter()
                    .map(|s| (s.name.clone(), Cell::default()))
                    .collect()
            })
            .collect();
        let warm = if w.warm_up() { 1 } else { 0 };
        // Memory barely varies between rounds and its rounds are the slowest
        // (1,000 connections, and 1,000 processes on Cyrus): fewer of them.
        let rounds = if w == Workload::Memory {
            a.rounds.min(a.memory_rounds)
        } else {
            a.rounds
        };
        for round in 0..warm + rounds {
            for s in &servers {
                if cells[0][&s.name].error.is_some() {
                    continue;
                }
                let failed = |cells: &mut Vec<BTreeMap<String, Cell>>, e: String| {
                    for c in cells.iter_mut() {
                        c.get_mut(&s.name).expect("cell").error = Some(e.clone());
                    }
                };
                if let Some(n) = short_inbox.get(&s.name).filter(|_| w.uses_inbox()) {
                    let e = format!(
                        "INBOX holds {n} messages, not {} (loading failed)",
                        p.messages
                    );
                    eprintln!("[bench]   {:<8} SKIPPED: {e}", s.name);
                    failed(&mut cells, e);
                    continue;
                }
                let e = match w.run(s, p, &corpus, &appends).await {
                    Ok(samples) if samples.len() == measures.len() => {
                        if round < warm {
                            continue;
                        }
                        for (m, sample) in measures.iter().zip(samples) {
                            let Some(i) = rows.iter().position(|r| r == m) else {
                                continue;
                            };
                            eprintln!(
                                "[bench]   round {} {:<8} {:>10} {}  ({}{})",
                                round + 1 - warm,
                                s.name,
                                fmt(sample.value),
                                m.unit(),
                                if measures.len() > 1 {
                                    format!("{}: ", m.id())
                                } else {
                                    String::new()
                                },
                                sample.detail
                            );
                            let cell = cells[i].get_mut(&s.name).expect("cell");
                            cell.samples.push(sample);
                        }
                        continue;
                    }
                    Ok(samples) => {
                        format!("{} samples for {} workloads", samples.len(), measures.len())
                    }
                    Err(e) => e,
                };
                eprintln!("[bench]   {:<8} FAILED: {e}", s.name);
                failed(&mut cells, e);
            }
        }
        eprintln!(
            "[bench]   ({} took {:.1} s)",
            if measures.len() > 1 {
                w.group()
            } else {
                w.name()
            },
            started.elapsed().as_secs_f64()
        );
        results.extend(rows.into_iter().zip(cells));
    }
    let doc = summarize(a, &servers, &unavailable, &corpus, results);
    print_summary(&doc);
    if let Some(path) = &a.json {
        write_json(path, &doc)?;
    }
    Ok(())
}

fn write_json(path: &str, doc: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("{path}: {e}"))?;
    println!("JSON: {path}");
    Ok(())
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The results as the JSON document that `--json` writes, `report`
/// merges and `print_summary` prints.
fn summarize(
    a: &Args,
    servers: &[Server],
    unavailable: &BTreeMap<String, String>,
    corpus: &Corpus,
    results: Vec<(Workload, BTreeMap<String, Cell>)>,
) -> Value {
    let p = &a.params;
    let names: Vec<&str> = a.servers.iter().map(|s| s.name.as_str()).collect();
    let subject = a.subject.as_str();
    let mut notes = Vec::new();
    let mut json_workloads = Vec::new();
    for (w, cells) in &results {
        let medians: BTreeMap<&str, f64> = cells
            .iter()
            .filter(|(_, c)| c.error.is_none() && !c.samples.is_empty())
            .map(|(n, c)| {
                let mut v: Vec<f64> = c.samples.iter().map(|s| s.value).collect();
                (n.as_str(), median(&mut v))
            })
            .collect();
        let best_peer = medians
            .iter()
            .filter(|(n, _)| **n != subject)
            .max_by(|x, y| {
                let o = x.1.total_cmp(y.1);
                if w.higher_is_better() { o } else { o.reverse() }
            })
            .map(|(n, v)| (*n, *v));
        let ratio = match (medians.get(subject), best_peer) {
            (Some(&m), Some((_, b))) if b > 0.0 => Some(m / b),
            _ => None,
        };
        let mut per_server = serde_json::Map::new();
        for n in &names {
            let cell = cells.get(*n);
            let j = match (cell, medians.get(n)) {
                (Some(c), Some(m)) => json!({
                    "median": m,
                    "samples": c.samples.iter().map(|s| s.value).collect::<Vec<_>>(),
                    "detail": c.samples.last().map(|s| s.detail.clone()),
                }),
                (Some(Cell { error: Some(e), .. }), _) => {
                    notes.push(format!("{} {} on {n}: {e}", w.id(), w.name()));
                    json!({ "median": null, "error": e })
                }
                _ => {
                    let why = unavailable
                        .get(*n)
                        .cloned()
                        .unwrap_or_else(|| "not run".into());
                    json!({ "median": null, "error": why })
                }
            };
            per_server.insert(n.to_string(), j);
        }
        // Cross-check: servers should agree on what a search found.
        if w.id().starts_with('e') {
            let details: BTreeMap<&str, &str> = cells
                .iter()
                .filter_map(|(n, c)| Some((n.as_str(), c.samples.last()?.detail.as_str())))
                .collect();
            let mut distinct: Vec<&&str> = details.values().collect();
            distinct.dedup();
            if distinct.len() > 1 {
                notes.push(format!("{} results differ: {details:?}", w.name()));
            }
        }
        // The noisy-neighbour run's p50s and throughput, from its last round.
        if *w == Workload::NoisyRatio {
            for (n, c) in cells {
                if let Some(last) = c.samples.last() {
                    notes.push(format!(
                        "v noisy-neighbour on {n}, last round: {}",
                        last.detail
                    ));
                }
            }
        }
        json_workloads.push(json!({
            "id": w.id(),
            "name": w.name(),
            "description": w.title(p, corpus),
            "unit": w.unit(),
            "higher_is_better": w.higher_is_better(),
            "servers": per_server,
            "subject": subject,
            "best_peer": best_peer.map(|(n, _)| n),
            "ratio": ratio,
        }));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "timestamp": now,
        "messages": p.messages,
        "seed": p.seed,
        "rounds": a.rounds,
        "memory_rounds": a.rounds.min(a.memory_rounds),
        "clients": p.clients,
        "subject": subject,
        "servers": a.servers.iter().map(|s| json!({
            "name": s.name,
            "addr": s.addr,
            "tls_addr": s.tls_addr,
            "available": !unavailable.contains_key(&s.name),
        })).collect::<Vec<_>>(),
        "unavailable": unavailable,
        "memory_metric": "PSS (/proc/PID/smaps_rollup) summed over the server process tree while the connections are open, divided by their number",
        "workloads": json_workloads,
        "notes": notes,
        "available": servers.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
    })
}

/// The table and notes of a `summarize` (or merged) document.
fn print_summary(doc: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let names: Vec<String> = doc["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| text(&s["name"]))
        .collect();
    let subject = doc["subject"].as_str().unwrap_or("imapd");
    let unavailable = doc["unavailable"].as_object();
    let mut rows = Vec::new();
    for w in doc["workloads"].as_array().into_iter().flatten() {
        let mut row = vec![text(&w["id"]), text(&w["name"]), text(&w["unit"])];
        for n in &names {
            let c = &w["servers"][n.as_str()];
            row.push(if c.get("samples").is_some() {
                // A median that is not a finite number is written as null.
                fmt(c["median"].as_f64().unwrap_or(f64::NAN))
            } else if c.get("error").is_none()
                || c["error"] == "not run"
                || unavailable.is_some_and(|u| u.contains_key(n))
            {
                "-".into()
            } else {
                "failed".into()
            });
        }
        row.push(match (w["ratio"].as_f64(), w["best_peer"].as_str()) {
            (Some(r), Some(b)) => format!("{r:.2} ({b})"),
            _ => "-".into(),
        });
        rows.push(row);
    }

    // The table.
    let mut header = vec!["id".to_string(), "workload".into(), "unit".into()];
    header.extend(names.iter().cloned());
    header.push(format!("{subject}/best"));
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |r: &[String]| {
        r.iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 3 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!();
    println!(
        "IMAP benchmark: {} messages, {} rounds per workload ({} for g), servers alternating; medians",
        doc["messages"], doc["rounds"], doc["memory_rounds"]
    );
    println!("{}", line(&header));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for r in &rows {
        println!("{}", line(r));
    }
    println!(
        "ratio = {subject} / best other server; for sessions/s, MB/s, msgs/s, cmds/s above 1 is \
         better, for ms, KiB/conn and × below 1 is better."
    );
    println!(
        "memory: PSS (/proc/PID/smaps_rollup) summed over the server's process tree with the \
         connections open, divided by their number."
    );
    for (n, e) in unavailable.into_iter().flatten() {
        println!("NOTE: {n} was unavailable: {}", e.as_str().unwrap_or("?"));
    }
    for n in doc["notes"].as_array().into_iter().flatten() {
        println!("NOTE: {}", text(n));
    }
}

/// One document from several `run --json` ones (`scripts/bench.sh` runs
/// each workload on its own, under its own time limit): their workloads in
/// order, every server that any of them lists (a server missing from a
/// part's workloads is "not run" there), their notes and then `extra_notes`.
fn merge(docs: &[Value], extra_notes: &[String]) -> Value {
    let mut servers: Vec<Value> = Vec::new();
    let mut unavailable = serde_json::Map::new();
    let mut workloads = Vec::new();
    let mut notes: Vec<Value> = Vec::new();
    for d in docs {
        for s in d["servers"].as_array().into_iter().flatten() {
            let answered = s["available"].as_bool().unwrap_or(true);
            match servers.iter_mut().find(|t| t["name"] == s["name"]) {
                Some(t) => {
                    if !answered {
                        t["available"] = json!(false);
                    }
                }
                None => servers.push(s.clone()),
            }
            if !answered && let Some(n) = s["name"].as_str() {
                let why = d["unavailable"][n].clone();
                unavailable.entry(n).or_insert(if why.is_null() {
                    json!("unavailable")
                } else {
                    why
                });
            }
        }
        workloads.extend(d["workloads"].as_array().into_iter().flatten().cloned());
        notes.extend(d["notes"].as_array().into_iter().flatten().cloned());
    }
    // A server that a later part leaves out (dropped) did not answer throughout.
    for s in &mut servers {
        if docs.iter().any(|d| {
            !d["servers"]
                .as_array()
                .is_some_and(|v| v.iter().any(|t| t["name"] == s["name"]))
        }) {
            s["available"] = json!(false);
        }
    }
    for w in &mut workloads {
        if let Some(m) = w["servers"].as_object_mut() {
            for s in &servers {
                if let Some(n) = s["name"].as_str() {
                    m.entry(n)
                        .or_insert(json!({ "median": null, "error": "not run" }));
                }
            }
        }
    }
    notes.extend(extra_notes.iter().map(|n| json!(n)));
    let available: Vec<Value> = servers
        .iter()
        .filter(|s| s["available"] == true)
        .map(|s| s["name"].clone())
        .collect();
    let mut doc = docs.first().cloned().unwrap_or_else(|| json!({}));
    doc["servers"] = json!(servers);
    doc["unavailable"] = json!(unavailable);
    doc["workloads"] = json!(workloads);
    doc["notes"] = json!(notes);
    doc["available"] = json!(available);
    doc
}

fn report_parts(a: &Args) -> Result<(), String> {
    if a.parts.is_empty() {
        return Err(format!("report needs --part PATH\n\n{USAGE}"));
    }
    let mut docs = Vec::new();
    for path in &a.parts {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        docs.push(serde_json::from_str::<Value>(&text).map_err(|e| format!("{path}: {e}"))?);
    }
    let doc = merge(&docs, &a.notes);
    print_summary(&doc);
    if let Some(path) = &a.json {
        write_json(path, &doc)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn server_specs() {
        let s = Server::parse("dovecot=127.0.0.1:143,bench,pw,tls=127.0.0.1:993,pid=42").unwrap();
        assert_eq!(
            (s.name.as_str(), s.addr.as_str(), s.user.as_str()),
            ("dovecot", "127.0.0.1:143", "bench")
        );
        assert_eq!(s.tls_addr.as_deref(), Some("127.0.0.1:993"));
        assert_eq!(s.pid, Some(42));
        assert_eq!(s.append_user, "bench2");
        assert_eq!(
            (s.quiet_user.as_str(), s.quiet_pass.as_str()),
            ("quiet", "pw")
        );
        let q = Server::parse("imapd=h:1,bench,pw,quiet=quiet@b.bench").unwrap();
        assert_eq!(
            (q.quiet_user.as_str(), q.quiet_pass.as_str()),
            ("quiet@b.bench", "pw")
        );
        let t = Server::parse("x=h:1,u,p,append=other:secret").unwrap();
        assert_eq!(
            (t.append_user.as_str(), t.append_pass.as_str()),
            ("other", "secret")
        );
        assert!(Server::parse("x=h,u,p").is_err());
        assert!(Server::parse("x=h:1,u,p,bogus=1").is_err());
    }

    #[test]
    fn merged_parts() {
        let part = |w: &str, servers: &[(&str, bool)], cells: Value| {
            json!({
                "messages": 50, "rounds": 1, "memory_rounds": 1, "subject": "imapd",
                "servers": servers.iter().map(|(n, up)| json!({"name": n, "available": up}))
                    .collect::<Vec<_>>(),
                "unavailable": if servers.iter().any(|(n, up)| *n == "cyrus" && !up) {
                    json!({"cyrus": "probe: timed out after 20 s"})
                } else {
                    json!({})
                },
                "workloads": [{"id": w, "name": w, "unit": "ms", "servers": cells,
                               "ratio": null, "best_peer": null}],
                "notes": [format!("{w} note")],
            })
        };
        let a = part(
            "b",
            &[("imapd", true), ("cyrus", true)],
            json!({"imapd": {"median": 1.0, "samples": [1.0]},
                   "cyrus": {"median": 2.0, "samples": [2.0]}}),
        );
        // cyrus dropped before h
        let b = part(
            "h",
            &[("imapd", true)],
            json!({"imapd": {"median": 0.5, "samples": [0.5]}}),
        );
        let m = merge(&[a.clone(), b], &["cyrus was dropped".to_string()]);
        assert_eq!(m["workloads"].as_array().unwrap().len(), 2);
        assert_eq!(m["workloads"][1]["servers"]["cyrus"]["error"], "not run");
        assert_eq!(m["servers"][1]["name"], "cyrus");
        assert_eq!(m["servers"][1]["available"], false);
        assert_eq!(m["available"], json!(["imapd"]));
        assert_eq!(m["notes"], json!(["b note", "h note", "cyrus was dropped"]));
        let c = part(
            "c",
            &[("imapd", true), ("cyrus", false)],
            json!({"imapd": {"median": 1.0, "samples": [1.0]},
                   "cyrus": {"median": null, "error": "probe: timed out after 20 s"}}),
        );
        let m = merge(&[a, c], &[]);
        assert_eq!(m["unavailable"]["cyrus"], "probe: timed out after 20 s");
        assert_eq!(m["available"], json!(["imapd"]));
    }

    #[test]
    fn workload_names() {
        assert_eq!(Workload::parse("all").unwrap().len(), 23);
        assert_eq!(
            Workload::parse("select-time").unwrap(),
            vec![Workload::Select]
        );
        assert_eq!(Workload::parse("e").unwrap().len(), 4);
        assert_eq!(
            Workload::parse("j").unwrap(),
            vec![Workload::Resync, Workload::ResyncBytes]
        );
        assert_eq!(
            Workload::parse("qresync-bytes").unwrap(),
            vec![Workload::ResyncBytes]
        );
        assert_eq!(Workload::parse("fetch-body").unwrap(), vec![Workload::Body]);
        assert_eq!(Workload::parse("g").unwrap(), vec![Workload::Memory]);
        // v (noisy-neighbour): four rows of one run, not in `all`.
        let v = Workload::parse("v").unwrap();
        assert_eq!(v, workloads::NOISY.to_vec());
        assert_eq!(Workload::parse("noisy-neighbour").unwrap(), v);
        assert!(v.iter().all(|w| !workloads::ALL.contains(w)));
        assert!(v.iter().all(|w| w.lead() == Workload::NoisyRatio));
        assert_eq!(Workload::NoisyRatio.measures(), v);
        assert_eq!(
            Workload::parse("quiet-p99-loaded").unwrap(),
            vec![Workload::NoisyLoaded]
        );
        assert_eq!(
            Workload::parse("v4").unwrap(),
            vec![Workload::NoisyThroughput]
        );
        assert!(Workload::NoisyThroughput.higher_is_better());
        assert_eq!(Workload::NoisyRatio.unit(), "×");
        assert_eq!(Workload::Body.measures(), vec![Workload::Body]);
        assert!(Workload::parse("z").is_none());
    }
}
