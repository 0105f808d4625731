//! Standalone mode: imapd binds its own listeners (`--listen`,
//! `--listen-tls`, or sockets handed over by systemd) and serves many
//! sessions at once on tokio, each in its own guest instance, and, with
//! `prometheus_enabled`, answers metrics scrapes. Also the single-session
//! `-X` mode on stdin/stdout.

use std::os::fd::{FromRawFd, RawFd};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use tokio::net::TcpListener;

use crate::cli::CliOptions;
use crate::connection::{Io, serve};
use crate::exit;
use crate::server::Server;

/// sd_listen_fds(3): the first passed descriptor.
const SD_LISTEN_FDS_START: RawFd = 3;

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

pub fn run(server: Arc<Server>, opts: &CliOptions) -> ExitCode {
    // Stopped by the service manager: one line, exit 0.
    if let Err(e) = crate::ops::log::exit_on_terminate(0) {
        crate::syslog!(Err, "watching for SIGTERM: {e:#}");
    }
    raise_fd_limit();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let rt = match runtime(threads) {
        Ok(rt) => rt,
        Err(e) => {
            crate::syslog!(Err, "starting the runtime: {e}");
            return ExitCode::from(exit::SOFTWARE);
        }
    };
    match rt.block_on(serve_listeners(server, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::syslog!(Err, "{e:#}");
            ExitCode::from(exit::CONFIG)
        }
    }
}

/// Every connection is a descriptor: take the hard limit on open files
/// as the soft one (1024 by default on many systems, far below the
/// connections one process holds), and log what it is.
fn raise_fd_limit() {
    let Some(mut lim) = nofile_limit() else {
        return;
    };
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    crate::syslog!(
        Info,
        "open files limit {} (about as many connections)",
        lim.rlim_cur
    );
}

/// RLIMIT_NOFILE, soft and hard.
fn nofile_limit() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim)
}

/// Sockets from systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`,
/// `LISTEN_FDNAMES`): a socket whose name ends in `s` or contains `tls`
/// (e.g. `imaps`) gets implicit TLS.
fn systemd_listeners() -> Result<Vec<(std::net::TcpListener, bool)>> {
    let var = |name| std::env::var(name).ok();
    let fds = listen_fds(
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )?;
    let mut out = Vec::new();
    for (fd, tls) in fds {
        // SAFETY: systemd passed these descriptors to us and nothing else
        // in the process owns them.
        let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        l.local_addr()
            .with_context(|| format!("LISTEN_FDS descriptor {fd} is not a listening socket"))?;
        out.push((l, tls));
    }
    // SAFETY: removing our own environment variables before any thread
    // reads them; child processes must not inherit them.
    unsafe {
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    Ok(out)
}

/// The descriptors systemd's variables describe (`sd_listen_fds(3)`), each
/// with whether it is an implicit-TLS listener (by its `LISTEN_FDNAMES`
/// name). None when `LISTEN_FDS` is unset or not for process `pid`.
pub(crate) fn listen_fds(
    fds: Option<&str>,
    listen_pid: Option<&str>,
    names: Option<&str>,
    pid: u32,
) -> Result<Vec<(RawFd, bool)>> {
    let Some(n) = fds else {
        return Ok(Vec::new());
    };
    if listen_pid.and_then(|p| p.parse::<u32>().ok()) != Some(pid) {
        return Ok(Vec::new());
    }
    let n: RawFd = n
        .parse()
        .map_err(|_| anyhow!("LISTEN_FDS='{n}' is not a number"))?;
    // As sd_listen_fds(3): none for n <= 0. More than the process may
    // have open is a broken environment, not a list to walk.
    let limit = open_files_limit();
    if n > limit.saturating_sub(SD_LISTEN_FDS_START) {
        return Err(anyhow!(
            "LISTEN_FDS={n} is more descriptors than this process may have open ({limit})"
        ));
    }
    let names: Vec<&str> = names.unwrap_or_default().split(':').collect();
    Ok((0..n.max(0))
        .map(|i| {
            let name = names.get(i as usize).copied().unwrap_or("");
            let tls = name.contains("tls") || name == "imaps" || name.ends_with("imaps");
            (SD_LISTEN_FDS_START + i, tls)
        })
        .collect())
}

/// RLIMIT_NOFILE's soft limit: no descriptor number reaches it.
fn open_files_limit() -> RawFd {
    nofile_limit().map_or(RawFd::MAX, |r| {
        RawFd::try_from(r.rlim_cur).unwrap_or(RawFd::MAX)
    })
}

async fn serve_listeners(server: Arc<Server>, opts: &CliOptions) -> Result<()> {
    let mut listeners: Vec<(TcpListener, bool)> = Vec::new();
    for (l, tls) in systemd_listeners()? {
        l.set_nonblocking(true)?;
        listeners.push((TcpListener::from_std(l)?, tls));
    }
    for (addrs, tls) in [(&opts.listen, false), (&opts.listen_tls, true)] {
        for a in addrs {
            let l = TcpListener::bind(a)
                .await
                .with_context(|| format!("listening on {a}"))?;
            listeners.push((l, tls));
        }
    }
    if listeners.iter().any(|(_, tls)| *tls) && server.tls.is_none() {
        return Err(anyhow!(
            "--listen-tls needs tls_server_cert and tls_server_key in imapd.conf"
        ));
    }
    // `imapd swap` reaches this process here; SIGHUP re-reads the module.
    let _control = match crate::control::listen(&server) {
        Ok(c) => Some(c),
        Err(e) => {
            crate::syslog!(
                Err,
                "no control socket, `imapd swap` will not reach this server: {e:#}"
            );
            None
        }
    };
    tokio::spawn(reload_on_sighup(server.clone()));
    // Domains pinned to a module of their own (`imapd swap --domain`).
    if server.pins_changed() {
        server.reload_pins("start").await;
    }
    if let Some(addr) = server.options.prometheus {
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding prometheus_listen {addr}"))?;
        crate::syslog!(Notice, "metrics at http://{}/metrics", l.local_addr()?);
        let server = server.clone();
        tokio::spawn(crate::ops::metrics::serve(l, move || {
            server.metrics().encode()
        }));
    }
    let mut tasks = Vec::new();
    for (l, tls) in listeners {
        let addr = l.local_addr()?;
        let tls = tls || server.flags.implicit_tls;
        crate::syslog!(
            Notice,
            "listening on {addr} ({})",
            if tls { "tls" } else { "plain" }
        );
        if !tls {
            // The first plain connection's greeting is ready too.
            crate::connection::spare::Spares::replenish(&server);
        }
        let server = server.clone();
        tasks.push(tokio::spawn(accept_loop(server, l, tls)));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}

/// `kill -HUP`: re-read imapd.conf's guest module settings and swap to the
/// module if it changed (the sessions move at their next command).
async fn reload_on_sighup(server: Arc<Server>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match server.reload_module("SIGHUP").await {
            Ok(crate::server::Reload::Unchanged { module }) => {
                crate::syslog!(Notice, "SIGHUP: guest module unchanged ({})", &module[..16])
            }
            Ok(_) => {}
            Err(e) => crate::syslog!(Err, "SIGHUP: {e:#}"),
        }
        server.reload_pins("SIGHUP").await;
    }
}

async fn accept_loop(server: Arc<Server>, l: TcpListener, tls: bool) {
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                crate::syslog!(Err, "accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        crate::net::prepare_client_socket(&sock);
        let server = server.clone();
        tokio::spawn(async move {
            let local = sock.local_addr().ok();
            serve(server, Box::new(sock), peer.to_string(), local, tls).await;
        });
    }
}

/// `-X`: one session on the inherited stdin/stdout, then exit.
pub fn run_stdio(server: Arc<Server>) -> ExitCode {
    if let Err(e) = crate::ops::log::exit_on_terminate(exit::TEMPFAIL as i32) {
        crate::syslog!(Err, "watching for SIGTERM: {e:#}");
    }
    let rt = match runtime(1) {
        Ok(rt) => rt,
        Err(e) => {
            crate::syslog!(Err, "starting the runtime: {e}");
            return ExitCode::from(exit::SOFTWARE);
        }
    };
    let peer = crate::net::peer_name(0).unwrap_or_else(|| "stdin".into());
    rt.block_on(async {
        let io: Box<dyn Io> = Box::new(tokio::io::join(tokio::io::stdin(), tokio::io::stdout()));
        let local = crate::net::local_addr(0);
        serve(server.clone(), io, peer, local, server.flags.implicit_tls).await;
    });
    // stdin's reader thread may still be blocked in read(); don't wait for it.
    rt.shutdown_background();
    ExitCode::SUCCESS
}
