//! Running under Cyrus master(8), exactly as Cyrus's service skeleton does
//! (cyrus-compat.md 1.1 to 1.4): fd 4 is the listening socket, fd 3 the
//! status pipe; one connection at a time, taken in turns with the other
//! children of the same service through an fcntl lock on
//! `<configdirectory>/socket/<service>-<id>.lock`; `-U` uses and `-T`
//! idle seconds; SIGHUP ends an idle child at once and a busy one after
//! its session; SIGTERM ends it at once with status 75 and no BYE.
//!
//! The engine and the compiled guest are set up once per process and
//! serve every connection it takes.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cli::CliOptions;
use crate::connection::{Io, serve};
use crate::exit;
use crate::server::Server;

const STATUS_FD: RawFd = 3;
const LISTEN_FD: RawFd = 4;

/// master/service.h `MASTER_SERVICE_*`.
#[derive(Clone, Copy)]
#[repr(i32)]
enum Status {
    Available = 1,
    Unavailable = 2,
    Connection = 3,
}

static SIGHUP_PENDING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sighup(_: libc::c_int) {
    SIGHUP_PENDING.store(true, Ordering::SeqCst);
}

fn install_signals() {
    // SAFETY: installing a plain C handler that only touches an atomic;
    // no SA_RESTART, so a blocking wait returns EINTR.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sighup as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGHUP, &sa, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn notify(status: Status) {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&(status as i32).to_ne_bytes());
    msg[4..].copy_from_slice(&(std::process::id() as i32).to_ne_bytes());
    // One write of 8 bytes, as master reads them (master/service.c).
    // SAFETY: writing 8 bytes from a live buffer to fd 3.
    unsafe { libc::write(STATUS_FD, msg.as_ptr().cast(), msg.len()) };
}

/// Identity of our own executable, to notice an upgrade in place.
#[derive(PartialEq, Eq)]
struct ExeStamp {
    ino: u64,
    size: u64,
    mtime: i64,
}

fn exe_stamp(path: &PathBuf) -> Option<ExeStamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(ExeStamp {
        ino: m.ino(),
        size: m.size(),
        mtime: m.mtime(),
    })
}

/// Run `debug_command` for `-D` with Cyrus's three substitutions: argv[0],
/// the pid and the service name, in that order.
pub fn run_debug_command(template: &str, service: &str) {
    let argv0 = std::env::args().next().unwrap_or_else(|| "imapd".into());
    let cmd = debug_command_line(template, [&argv0, &std::process::id().to_string(), service]);
    let _ = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .status();
}

/// `template` with each `%s` or `%d` replaced by the next of `args` (none
/// once they run out) and `%%` by `%`; any other `%` stays as it is.
pub(crate) fn debug_command_line(template: &str, args: [&str; 3]) -> String {
    let mut args = args.into_iter();
    let mut cmd = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('s') | Some('d') => cmd.push_str(args.next().unwrap_or_default()),
                Some('%') => cmd.push('%'),
                Some(o) => {
                    cmd.push('%');
                    cmd.push(o);
                }
                None => cmd.push('%'),
            }
        } else {
            cmd.push(c);
        }
    }
    cmd
}

fn check_fds() -> Result<(), String> {
    for fd in [STATUS_FD, LISTEN_FD] {
        // SAFETY: fcntl on an fd number; failure is reported, not assumed.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(format!(
                "unable to set close on exec: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes one c_int.
    let r = unsafe {
        libc::getsockopt(
            LISTEN_FD,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err("getsockopt: SOL_SOCKET: failed to get type".into());
    }
    Ok(())
}

/// Hold the accept lock for the duration of a wait; released on drop.
struct AcceptLock<'a>(&'a std::fs::File);

impl<'a> AcceptLock<'a> {
    fn take(f: &'a std::fs::File) -> Result<Option<AcceptLock<'a>>, std::io::Error> {
        loop {
            if SIGHUP_PENDING.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if fcntl_lock(f, libc::F_WRLCK as libc::c_short, libc::F_SETLKW) == 0 {
                return Ok(Some(AcceptLock(f)));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for AcceptLock<'_> {
    fn drop(&mut self) {
        fcntl_lock(self.0, libc::F_UNLCK as libc::c_short, libc::F_SETLK);
    }
}

fn fcntl_lock(f: &std::fs::File, ty: libc::c_short, cmd: libc::c_int) -> libc::c_int {
    // SAFETY: a zeroed flock with the fields fcntl reads set.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: fcntl with a valid fd and flock.
    unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut fl) }
}

enum Waited {
    Connection(OwnedFd),
    TimedOut,
    Hangup,
}

/// Wait for a connection on fd 4 (at most `timeout`), then accept it.
fn wait_and_accept(timeout: Option<Duration>) -> Result<Waited, std::io::Error> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if SIGHUP_PENDING.load(Ordering::SeqCst) {
            return Ok(Waited::Hangup);
        }
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Waited::TimedOut);
                }
                left.as_millis().min(i32::MAX as u128) as i32
            }
        };
        let mut pfd = libc::pollfd {
            fd: LISTEN_FD,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            continue;
        }
        // SAFETY: accept4 on the listening socket; the new fd is ours.
        let fd = unsafe {
            libc::accept4(
                LISTEN_FD,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(
                    libc::EAGAIN
                    | libc::EINTR
                    | libc::ECONNABORTED
                    | libc::EPROTO
                    | libc::ENETDOWN
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::EHOSTUNREACH
                    | libc::ENETUNREACH,
                ) => continue,
                _ => return Err(e),
            }
        }
        // SAFETY: accept4 returned a new descriptor we now own.
        return Ok(Waited::Connection(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
}

/// Put the connection on fds 0 and 1, as Cyrus does (stderr untouched).
fn install_on_stdio(conn: &OwnedFd) {
    // SAFETY: dup2 of a valid descriptor onto 0 and 1.
    unsafe {
        libc::dup2(conn.as_raw_fd(), 0);
        libc::dup2(conn.as_raw_fd(), 1);
    }
}

/// After a session: fds 0 and 1 back to /dev/null so the client sees EOF.
fn release_stdio() {
    // SAFETY: opening /dev/null and dup2'ing it over 0 and 1.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::close(null);
        }
    }
}

pub fn run(opts: &CliOptions, service: &str, id: &str) -> ExitCode {
    install_signals();
    if let Err(e) = check_fds() {
        eprintln!("imapd: {e}");
        return ExitCode::from(1);
    }
    // lib/signals.c: SIGTERM/SIGINT/SIGQUIT log "graceful shutdown" and
    // shut the service down with EX_TEMPFAIL, no BYE. (Only now: the
    // watcher's pipe must not take fd 3 or 4 before they are checked.)
    if let Err(e) = crate::ops::log::exit_on_terminate(exit::TEMPFAIL as i32) {
        crate::syslog!(Err, "watching for SIGTERM: {e:#}");
    }
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let stamp = exe_stamp(&exe);
    let server = match crate::cli::load_server(opts, service, Some(2)) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // With prometheus_enabled the counters go to a file the other children
    // share (see ops/metrics.rs): a port has room for one process only.
    let stats = server
        .options
        .prometheus
        .map(|_| crate::ops::metrics::StatsFile::new(&server.options.config_dir));
    let lock_dir = server.options.config_dir.join("socket");
    let _ = std::fs::create_dir_all(&lock_dir);
    let lock_path = lock_dir.join(format!("{service}-{id}.lock"));
    let lock_file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => {
            crate::syslog!(Err, "opening {}: {e}", lock_path.display());
            return ExitCode::from(exit::CONFIG);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::syslog!(Err, "starting the runtime: {e}");
            return ExitCode::from(exit::SOFTWARE);
        }
    };
    // -T is randomised once per process to [T, 2T) (master/service.c).
    let reuse_timeout = match opts.reuse_timeout {
        0 => None,
        t => Some(Duration::from_secs(
            t as u64 + rand::random::<u64>() % t as u64,
        )),
    };
    let max_uses = opts.max_uses.max(1);
    let mut uses = 0u32;
    loop {
        let lock = match AcceptLock::take(&lock_file) {
            Ok(Some(l)) => l,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                crate::syslog!(Err, "locking {}: {e}", lock_path.display());
                return ExitCode::SUCCESS;
            }
        };
        match exe_stamp(&exe) {
            None => {
                crate::syslog!(Err, "process file {} is gone", exe.display());
                return ExitCode::from(exit::SOFTWARE);
            }
            s if s != stamp => {
                crate::syslog!(Notice, "process file has changed");
                return ExitCode::SUCCESS;
            }
            _ => {}
        }
        // Only after the first connection does -T apply.
        let timeout = if uses == 0 { None } else { reuse_timeout };
        let conn = match wait_and_accept(timeout) {
            Ok(Waited::Connection(c)) => c,
            Ok(Waited::TimedOut) | Ok(Waited::Hangup) => return ExitCode::SUCCESS,
            Err(e) => {
                crate::syslog!(Err, "accept: {e}");
                return ExitCode::SUCCESS;
            }
        };
        drop(lock);
        crate::net::prepare_client_socket(&conn);
        notify(Status::Unavailable);
        install_on_stdio(&conn);
        notify(Status::Connection);
        uses += 1;
        serve_one(&rt, &server, conn, stats.as_ref());
        release_stdio();
        if SIGHUP_PENDING.load(Ordering::SeqCst) || uses >= max_uses {
            return ExitCode::SUCCESS;
        }
        notify(Status::Available);
    }
}

/// How often a child writes its metrics while it serves a connection.
const STATS_INTERVAL: Duration = Duration::from_secs(5);

fn serve_one(
    rt: &tokio::runtime::Runtime,
    server: &Arc<Server>,
    conn: OwnedFd,
    stats: Option<&crate::ops::metrics::StatsFile>,
) {
    let peer = crate::net::peer_name(conn.as_raw_fd()).unwrap_or_else(|| "unknown".into());
    let std_stream = std::net::TcpStream::from(conn);
    let local = std_stream.local_addr().ok();
    rt.block_on(async {
        let io: Box<dyn Io> = match tokio::net::TcpStream::from_std(std_stream) {
            Ok(s) => Box::new(s),
            Err(e) => {
                crate::syslog!(Err, "{peer}: {e}");
                return;
            }
        };
        // A module replaced since the last connection: this one starts
        // on the new one.
        if server.module_file_changed()
            && let Err(e) = server.reload_module("module file replaced").await
        {
            crate::syslog!(Err, "{e:#}");
        }
        if server.pins_changed() {
            server.reload_pins("module file replaced").await;
        }
        // While it serves, `imapd swap` reaches this child here.
        let _control = crate::control::listen(server)
            .map_err(|e| crate::syslog!(Err, "no control socket: {e:#}"))
            .ok();
        let session = serve(server.clone(), io, peer, local, server.flags.implicit_tls);
        let Some(stats) = stats else {
            return session.await;
        };
        let ticker = async {
            loop {
                tokio::time::sleep(STATS_INTERVAL).await;
                stats.write(&server.metrics());
            }
        };
        tokio::select! {
            () = session => {}
            () = ticker => {}
        }
        stats.write(&server.metrics());
    });
}
