//! Operating the server: the metrics (`prometheus_enabled`, GET /metrics
//! in standalone mode, `imapd metrics` under master(8)) and `imapd status`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{Client, TestServer, hostile_guest, imapd_bin, run_imapd, server};
use crate::master::Master;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Where the server says its metrics are.
pub(crate) fn metrics_addr(s: &TestServer) -> SocketAddr {
    let log = s.log();
    let rest = log
        .split("metrics at http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no metrics listener in the log:\n{log}"));
    rest.split('/').next().unwrap().parse().unwrap()
}

/// One HTTP request: the status line, the headers and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.into(), headers.into(), body.into())
}

/// The value of the sample `series` (name and labels, as printed).
pub(crate) fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(series)?.strip_prefix(' ')?;
        v.parse().ok()
    })
}

fn scrape(addr: SocketAddr) -> String {
    let (status, headers, body) = http_get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{headers}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    body
}

/// Scrape until every `(series, value)` holds (gauges settle a moment
/// after a client sees its connection end), then return the scrape.
pub(crate) fn scrape_until(addr: SocketAddr, want: &[(&str, f64)]) -> String {
    let t0 = Instant::now();
    loop {
        let text = scrape(addr);
        let wrong: Vec<String> = want
            .iter()
            .filter(|(s, v)| value(&text, s) != Some(*v))
            .map(|(s, v)| format!("{s}: want {v}, got {:?}", value(&text, s)))
            .collect();
        if wrong.is_empty() {
            return text;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "{}\n{text}",
            wrong.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn no_metrics_listener_unless_configured() {
    let port = free_port();
    let s = server()
        .no_tls()
        .conf(&format!("prometheus_listen: 127.0.0.1:{port}"))
        .start();
    let mut c = s.connect();
    assert!(c.line().starts_with("* OK"));
    assert_eq!(c.cmd("a", "NOOP").1, "a OK Completed");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!s.log().contains("metrics at"), "{}", s.log());
}

fn logged_in(s: &TestServer) -> Client {
    let mut c = s.connect();
    c.line();
    c.login("plain", "secret");
    c
}

#[test]
fn metrics_count_sessions_logins_commands_and_traps() {
    let s = server()
        .no_tls()
        .conf("allowplaintext: yes")
        .conf(&format!("guest_module: {}", hostile_guest().display()))
        .conf("session_memory_limit: 16777216")
        .conf("session_cpu_limit: 1s")
        .conf("idle_hibernate: 3")
        .conf("prometheus_enabled: yes")
        .conf("prometheus_listen: 127.0.0.1:0")
        .start();
    let addr = metrics_addr(&s);
    let (status, _, _) = http_get(addr, "/");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    // Sessions that trap: a panic, the memory cap, the CPU limit.
    for cmd in ["XPANIC", "XALLOC", "XLOOP"] {
        let mut c = s.connect();
        c.line();
        c.send(&format!("x {cmd}\r\n"));
        assert!(c.line().starts_with("* BYE"), "{cmd}");
        assert!(c.closed());
    }
    // Pre-auth, after a failed AUTHENTICATE PLAIN.
    let mut pre = s.connect();
    pre.line();
    let (_, t) = pre.cmd(
        "a",
        &format!("AUTHENTICATE PLAIN {}", b64("\0plain\0wrong")),
    );
    assert!(t.starts_with("a NO"), "{t}");
    // Logged in with LOGIN; one with a mailbox selected.
    let _auth = logged_in(&s);
    let mut sel = logged_in(&s);
    assert!(sel.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    // One in IDLE until it hibernates; then one in IDLE, awake.
    let mut sleeper = logged_in(&s);
    assert!(sleeper.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    sleeper.send("i IDLE\r\n");
    assert_eq!(sleeper.line(), "+ idling");
    scrape_until(addr, &[("imapd_hibernations_total", 1.0)]);
    let mut idler = logged_in(&s);
    idler.send("i IDLE\r\n");
    assert_eq!(idler.line(), "+ idling");

    let text = scrape_until(
        addr,
        &[
            ("imapd_sessions{state=\"idle\"}", 1.0),
            ("imapd_connections_open", 5.0),
        ],
    );
    for (series, want) in [
        ("imapd_processes", 1.0),
        ("imapd_connections_total", 8.0),
        ("imapd_connections_open", 5.0),
        ("imapd_sessions{state=\"preauth\"}", 1.0),
        ("imapd_sessions{state=\"authenticated\"}", 1.0),
        ("imapd_sessions{state=\"selected\"}", 1.0),
        ("imapd_sessions{state=\"idle\"}", 1.0),
        ("imapd_sessions{state=\"hibernated\"}", 1.0),
        (
            "imapd_logins_total{mechanism=\"AUTH=PLAIN\",result=\"failure\"}",
            1.0,
        ),
        (
            "imapd_logins_total{mechanism=\"LOGIN\",result=\"success\"}",
            4.0,
        ),
        ("imapd_commands_total{command=\"LOGIN\"}", 4.0),
        ("imapd_commands_total{command=\"AUTHENTICATE\"}", 1.0),
        ("imapd_commands_total{command=\"SELECT\"}", 2.0),
        ("imapd_commands_total{command=\"IDLE\"}", 2.0),
        (
            "imapd_command_duration_seconds_count{command=\"LOGIN\"}",
            4.0,
        ),
        ("imapd_guest_traps_total{kind=\"other\"}", 1.0),
        ("imapd_guest_traps_total{kind=\"memory\"}", 1.0),
        ("imapd_guest_traps_total{kind=\"cpu\"}", 1.0),
        ("imapd_hibernations_total", 1.0),
        ("imapd_wakes_total", 0.0),
        ("imapd_module_installs_total", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
    }
    // Each session one instance (its own, or the spare made ahead of it),
    // and one more at each LOGIN's promotion; the hibernated session holds
    // none now. The spares ready for the next connections are more of
    // each; one may be on its way at a scrape.
    let t0 = Instant::now();
    loop {
        let text = scrape(addr);
        let v = |series| value(&text, series).unwrap_or(f64::NAN);
        let ready = v("imapd_guest_spares_ready");
        let instantiated = v("imapd_guest_instantiations_total") - ready;
        let live = v("imapd_guest_instances") - ready;
        if (instantiated, live) == (12.0, 4.0) && v("imapd_guest_spares_total") >= 1.0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "instantiations {instantiated} and instances {live} besides spares in\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // No such command: counted as OTHER, its name nowhere.
    assert!(text.lines().all(|l| !l.contains("XPANIC")), "{text}");
    assert!(value(&text, "imapd_guest_memory_bytes").unwrap() > 0.0);
    assert!(value(&text, "imapd_client_received_bytes_total").unwrap() > 0.0);
    assert!(value(&text, "imapd_client_sent_bytes_total").unwrap() > 0.0);
    // The LOGINs' latencies are in the histogram's buckets.
    assert_eq!(
        value(
            &text,
            "imapd_command_duration_seconds_bucket{le=\"+Inf\",command=\"LOGIN\"}"
        ),
        Some(4.0),
        "{text}"
    );

    // DONE wakes the hibernated session; it is selected again.
    sleeper.send("DONE\r\n");
    assert_eq!(sleeper.until_tagged("i").1, "i OK Completed");
    idler.send("DONE\r\n");
    assert_eq!(idler.until_tagged("i").1, "i OK Completed");
    scrape_until(
        addr,
        &[
            ("imapd_wakes_total", 1.0),
            ("imapd_sessions{state=\"hibernated\"}", 0.0),
            ("imapd_sessions{state=\"idle\"}", 0.0),
            ("imapd_sessions{state=\"selected\"}", 2.0),
            ("imapd_sessions{state=\"authenticated\"}", 2.0),
            // Five sessions, and the two spares kept for the next
            // connections.
            ("imapd_guest_spares_ready", 2.0),
            ("imapd_guest_instances", 7.0),
        ],
    );
    drop((pre, sel, sleeper, idler));
    scrape_until(
        addr,
        &[
            ("imapd_connections_open", 1.0),
            ("imapd_sessions{state=\"preauth\"}", 0.0),
            ("imapd_sessions{state=\"selected\"}", 0.0),
        ],
    );
}

pub(crate) fn status(s: &TestServer, json: bool) -> (i32, String, String) {
    let conf = s.data.conf();
    let mut args = vec!["status", "-C", conf.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    run_imapd(&args, &[], b"")
}

#[test]
fn status_shows_a_live_servers_sessions_and_module() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let mut pre = s.connect();
    pre.line();
    let mut sel = logged_in(&s);
    assert!(sel.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    let mut auth = s.connect();
    auth.line();
    auth.login("sha512", "secret");

    let (code, out, err) = status(&s, true);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let procs = doc["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{out}");
    let p = &procs[0];
    assert_eq!(p["pid"], s.pid());
    let mut sessions: Vec<(String, String)> = p["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["user"].as_str().unwrap_or("-").to_string(),
                x["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sessions.sort();
    assert_eq!(
        sessions,
        [
            ("-".to_string(), "preauth".to_string()),
            ("plain".into(), "selected".into()),
            ("sha512".into(), "authenticated".into()),
        ]
    );
    let current = p["current"].as_str().unwrap().to_string();
    let modules = p["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 1);
    assert_eq!(modules[0]["hash"], current.as_str());
    assert_eq!(modules[0]["current"], true);
    assert_eq!(modules[0]["sessions"], 3);
    let short = &current[..16];
    for x in p["sessions"].as_array().unwrap() {
        assert_eq!(x["module"], short, "{x}");
        assert!(x["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{x}");
    }
    assert_eq!(p["limits"]["max_sessions"], 1000);

    let (code, out, err) = status(&s, false);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("process {}", s.pid())), "{out}");
    assert!(
        out.contains("sessions: 3 (preauth 1, authenticated 1, selected 1, idle 0, hibernated 0)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{short} (current) 3 sessions")),
        "{out}"
    );
    for (user, state) in [("plain", "selected"), ("sha512", "authenticated")] {
        assert!(
            out.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.first() == Some(&user) && w.get(1) == Some(&state) && w.contains(&short)
            }),
            "no row for {user}:\n{out}"
        );
    }
    assert!(out.contains("maxlogins_per_user unlimited"), "{out}");

    // LOGOUT: the session leaves the table.
    assert!(sel.cmd("z", "LOGOUT").1.starts_with("z OK"));
    assert!(sel.closed());
    let t0 = Instant::now();
    loop {
        let (_, out, _) = status(&s, true);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        if doc["processes"][0]["sessions"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{out}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn status_without_a_server_fails_clearly() {
    let data = server().prepare();
    let conf = data.conf();
    let (code, out, err) = run_imapd(&["status", "-C", conf.to_str().unwrap()], &[], b"");
    assert_ne!(code, 0);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no imapd process is serving"), "{err}");
}

#[test]
fn under_master_children_write_stats_and_imapd_metrics_sums_them() {
    let port = free_port();
    let data = server()
        .conf("allowplaintext: yes")
        .conf("prometheus_enabled: yes")
        .conf(&format!("prometheus_listen: 127.0.0.1:{port}"))
        .prepare();
    let conf = data.conf();
    let metrics = || {
        let (code, out, err) = run_imapd(&["metrics", "-C", conf.to_str().unwrap()], &[], b"");
        assert_eq!(code, 0, "{err}");
        out
    };
    let mut m = Master::start(data, &imapd_bin(), &["-U", "2"]);
    let mut c = m.session();
    c.login("plain", "secret");
    // The child serves IMAP, not the metrics port.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert_eq!(c.cmd("b", "LOGOUT").1, "b OK Completed");
    assert!(c.closed());
    // The child wrote its file when the connection ended.
    let t0 = Instant::now();
    let text = loop {
        let text = metrics();
        if value(&text, "imapd_connections_total") == Some(1.0) {
            break text;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(value(&text, "imapd_processes"), Some(1.0), "{text}");
    assert_eq!(
        value(
            &text,
            "imapd_logins_total{mechanism=\"LOGIN\",result=\"success\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "imapd_commands_total{command=\"LOGOUT\"}"),
        Some(1.0)
    );
    // The second use ends the child (-U 2); its counters stay in the sum.
    let mut c = m.session();
    c.login("plain", "secret");
    assert_eq!(c.cmd("b", "LOGOUT").1, "b OK Completed");
    assert_eq!(m.exit_code(Duration::from_secs(10)), Some(0));
    let text = metrics();
    assert_eq!(value(&text, "imapd_processes"), Some(0.0), "{text}");
    assert_eq!(value(&text, "imapd_connections_total"), Some(2.0), "{text}");
    assert_eq!(
        value(
            &text,
            "imapd_logins_total{mechanism=\"LOGIN\",result=\"success\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "imapd_sessions{state=\"authenticated\"}"),
        Some(0.0),
        "{text}"
    );
}
