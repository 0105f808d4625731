//! The server log, where Cyrus's goes: syslog by default, with Cyrus's
//! ident (the service name, `<syslog_prefix>/<service>` when the prefix is
//! set) and facility (`syslog_facility`); or stderr (`log_destination:
//! stderr`), each line prefixed `<ident>[<pid>]: ` as syslog would show it,
//! for containers and tests.
//!
//! The transport is the `syslog` crate (it finds `/dev/log` or its BSD
//! and macOS names and speaks datagram or stream sockets). The line itself
//! is formatted here, as glibc's syslog(3) formats it (RFC 3164 with local
//! time and no host name), and handed to the socket in one write so that
//! a datagram is always a whole line.
//!
//! Lines that operators and tools parse keep Cyrus's shape (`login:`,
//! `badlogin:`, `USAGE`, `graceful shutdown`; see [`crate::connection`]).
//! Nothing here may ever log a password or a message body; text that came
//! from a client is passed through [`clean`] so it cannot forge a line.
//!
//! Before [`init`] runs (command-line errors, `imapd swap`), lines go to
//! stderr with the ident `imapd`.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Result, anyhow};
use syslog::{Facility, LogFormat, Logger, LoggerBackend};

/// How bad a line is: syslog's severities, the ones we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Err,
    Warning,
    Notice,
    Info,
}

impl Severity {
    fn syslog(self) -> syslog::Severity {
        match self {
            Severity::Err => syslog::Severity::LOG_ERR,
            Severity::Warning => syslog::Severity::LOG_WARNING,
            Severity::Notice => syslog::Severity::LOG_NOTICE,
            Severity::Info => syslog::Severity::LOG_INFO,
        }
    }
}

/// Where lines go (`log_destination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Syslog,
    Stderr,
}

/// What [`init`] needs, read from imapd.conf.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub ident: String,
    pub facility: Facility,
    pub destination: Destination,
    /// The syslog socket (`syslog_socket`); `None`: the system's.
    pub socket: Option<PathBuf>,
}

/// The ident Cyrus uses: the service name, under `syslog_prefix` when set
/// (`cyrus/imap`). `CYRUS_SYSLOG_PREFIX` in the environment wins, as in
/// Cyrus (cyrus-compat 1.2).
pub fn ident(service: &str, prefix: Option<&str>) -> String {
    let env = std::env::var("CYRUS_SYSLOG_PREFIX").ok();
    ident_with(service, env.as_deref().or(prefix))
}

fn ident_with(service: &str, prefix: Option<&str>) -> String {
    match prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{service}"),
        None => service.to_string(),
    }
}

/// `syslog_facility`: a name as syslog.conf spells it (`mail`, `local6`,
/// with or without `LOG_`, any case).
pub fn parse_facility(name: &str) -> Result<Facility> {
    name.parse::<Facility>()
        .map_err(|()| anyhow!("syslog_facility: unknown facility '{name}'"))
}

/// RFC 3164 as glibc writes it: `<PRI>Mmm dd hh:mm:ss ident[pid]: text`,
/// local time, the day padded with a space.
#[derive(Clone)]
struct Rfc3164 {
    facility: Facility,
    ident: String,
}

impl LogFormat<&str> for Rfc3164 {
    fn format<W: Write>(
        &self,
        w: &mut W,
        severity: syslog::Severity,
        message: &str,
    ) -> syslog::Result<()> {
        let line = format!(
            "<{}>{} {}[{}]: {message}",
            self.facility as u8 | severity as u8,
            local_timestamp(),
            self.ident,
            std::process::id()
        );
        // One write: one datagram, one line.
        w.write_all(line.as_bytes()).map_err(syslog::Error::Write)
    }
}

/// `Dec  4 12:19:20` in local time.
fn local_timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time() with a null pointer and localtime_r() into a zeroed
    // struct we own.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return "Jan  1 00:00:00".into();
        }
        tm
    };
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

enum Sink {
    Stderr {
        ident: String,
    },
    Syslog {
        logger: Logger<LoggerBackend, Rfc3164>,
        socket: Option<PathBuf>,
    },
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

fn connect(format: Rfc3164, socket: &Option<PathBuf>) -> Result<Logger<LoggerBackend, Rfc3164>> {
    match socket {
        Some(path) => syslog::unix_custom(format, path)
            .map_err(|e| anyhow!("connecting to syslog at {}: {e}", path.display())),
        None => syslog::unix(format).map_err(|e| anyhow!("connecting to syslog: {e}")),
    }
}

/// Send this process's lines where `settings` say. When syslog cannot be
/// reached the lines go to stderr instead, after one line saying why, so
/// nothing is lost on a machine without a syslog daemon.
pub fn init(settings: &LogSettings) {
    let sink = match settings.destination {
        Destination::Stderr => Sink::Stderr {
            ident: settings.ident.clone(),
        },
        Destination::Syslog => {
            let format = Rfc3164 {
                facility: settings.facility,
                ident: settings.ident.clone(),
            };
            match connect(format, &settings.socket) {
                Ok(logger) => Sink::Syslog {
                    logger,
                    socket: settings.socket.clone(),
                },
                Err(e) => {
                    let ident = settings.ident.clone();
                    write_stderr(&ident, &format!("{e:#}; logging to stderr"));
                    Sink::Stderr { ident }
                }
            }
        }
    };
    *SINK.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
}

fn write_stderr(ident: &str, text: &str) {
    let line = format!("{ident}[{}]: {text}\n", std::process::id());
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Write one line. Use the [`syslog!`](crate::syslog) macro.
pub fn emit(severity: Severity, args: fmt::Arguments) {
    let text = match args.as_str() {
        Some(s) => s.to_string(),
        None => args.to_string(),
    };
    let mut sink = SINK.lock().unwrap_or_else(|p| p.into_inner());
    match sink.as_mut() {
        None => write_stderr("imapd", &text),
        Some(Sink::Stderr { ident }) => write_stderr(ident, &text),
        Some(Sink::Syslog { logger, socket }) => {
            let sev = severity.syslog();
            let sent = logger.formatter.format(&mut logger.backend, sev, &text);
            if sent.is_err() {
                // The daemon restarted (a new socket) or its queue is full:
                // connect again once, then give up on this line rather
                // than block a session.
                if let Ok(again) = connect(logger.formatter.clone(), socket) {
                    *logger = again;
                    let _ = logger.formatter.format(&mut logger.backend, sev, &text);
                }
            }
        }
    }
}

/// SIGTERM, SIGINT and SIGQUIT: log `graceful shutdown` as Cyrus does
/// (lib/signals.c), then exit with `status` at once. The signal is taken
/// by a thread of its own (signal-hook's self-pipe), so the line is
/// written outside the signal handler, and the exit is prompt even while
/// the serving thread is inside a guest call.
pub fn exit_on_terminate(status: i32) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGQUIT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                emit(Severity::Notice, format_args!("graceful shutdown"));
                // SAFETY: _exit ends the process without running
                // destructors other threads may be using. Every write the
                // guest makes is crash-safe, so stopping here loses nothing.
                unsafe { libc::_exit(status) };
            }
        })?;
    Ok(())
}

/// Text that came from a client (a user name, an ID value), safe inside a
/// log line: control characters (a CR or LF could start a forged line)
/// become `?`, and it is cut at 256 characters.
pub fn clean(s: &str) -> String {
    s.chars()
        .take(256)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// One log line: `syslog!(Notice, "login: {host} {user} ...")`. The
/// severity is a [`Severity`] variant.
#[macro_export]
macro_rules! syslog {
    ($severity:ident, $($arg:tt)+) => {
        $crate::ops::log::emit($crate::ops::log::Severity::$severity, format_args!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents_are_cyrus_shaped() {
        assert_eq!(ident_with("imap", None), "imap");
        assert_eq!(ident_with("imap", Some("")), "imap");
        assert_eq!(ident_with("imaps", Some("cyrus")), "cyrus/imaps");
    }

    #[test]
    fn facilities_parse_as_syslog_conf_spells_them() {
        assert_eq!(parse_facility("MAIL").unwrap() as u8, 2 << 3);
        assert_eq!(parse_facility("local6").unwrap() as u8, 22 << 3);
        assert_eq!(parse_facility("LOG_LOCAL0").unwrap() as u8, 16 << 3);
        let e = parse_facility("mial").unwrap_err().to_string();
        assert!(e.contains("'mial'"), "{e}");
    }

    #[test]
    fn a_line_is_one_rfc3164_datagram() {
        let f = Rfc3164 {
            facility: Facility::LOG_MAIL,
            ident: "cyrus/imap".into(),
        };
        let mut out = Vec::new();
        f.format(&mut out, syslog::Severity::LOG_NOTICE, "login: x")
            .unwrap();
        let line = String::from_utf8(out).unwrap();
        // <21> = mail.notice, as Debian's Cyrus sends its login lines.
        assert!(line.starts_with("<21>"), "{line}");
        let pid = std::process::id();
        assert!(
            line.ends_with(&format!(" cyrus/imap[{pid}]: login: x")),
            "{line}"
        );
        // "Mmm dd hh:mm:ss" after the priority.
        let stamp = &line[4..19];
        assert_eq!(stamp.as_bytes()[3], b' ', "{line}");
        assert_eq!(stamp.as_bytes()[9], b':', "{line}");
    }

    #[test]
    fn client_text_cannot_forge_a_line() {
        assert_eq!(clean("bob\r\nbadlogin: x"), "bob??badlogin: x");
        assert_eq!(clean(&"a".repeat(1000)).len(), 256);
    }
}
