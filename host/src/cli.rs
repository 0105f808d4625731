//! The command line, with Cyrus's rules (cyrus-compat 1.3, 2.1): the seed's
//! flags `-C -U -T -D -X -s -N -q -p`, each value a separate word (`-U30` is
//! refused with EX_USAGE), plus long options for standalone mode.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use crate::config::Config;
use crate::exit;
use crate::server::{Flags, Server};

#[derive(Debug, Clone)]
pub struct CliOptions {
    /// `-C`: the config file.
    pub config: PathBuf,
    /// `-U`: sessions per process under master (default 250).
    pub max_uses: u32,
    /// `-T`: seconds to wait for a new connection under master (default 60).
    pub reuse_timeout: u32,
    /// `-D`: run `debug_command` before serving.
    pub debug: bool,
    /// `-X`: one session on stdin/stdout.
    pub stdio: bool,
    pub flags: Flags,
    /// `--listen ADDR:PORT`: plain listeners (STARTTLS offered).
    pub listen: Vec<String>,
    /// `--listen-tls ADDR:PORT`: implicit-TLS listeners.
    pub listen_tls: Vec<String>,
}

#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl UsageError {
    pub fn exit_code(&self) -> u8 {
        exit::USAGE
    }
}

const USAGE: &str = "usage: imapd [-C config] [-U uses] [-T timeout] [-D] [-X] [-s] [-N] [-q] \
                     [-p ssf] [--listen ADDR:PORT]... [--listen-tls ADDR:PORT]...\n       \
                     imapd passwd [-C config] [--delete] USER\n       \
                     imapd quota [-C config] [-f] [USER...]\n       \
                     imapd precompile [-C config]\n       \
                     imapd swap [-C config] [--wait SECS] NEW.wasm\n       \
                     imapd status [-C config] [--json]\n       \
                     imapd metrics [-C config]\n       \
                     imapd selfsigned CERT KEY [NAME...]";

pub fn parse(args: &[String]) -> Result<CliOptions, UsageError> {
    let mut o = CliOptions {
        config: PathBuf::from(
            std::env::var_os("CYRUS_PREFIX")
                .map(|p| {
                    let mut s = p;
                    s.push("/etc/imapd.conf");
                    s
                })
                .unwrap_or_else(|| "/etc/imapd.conf".into()),
        ),
        max_uses: 250,
        reuse_timeout: 60,
        debug: false,
        stdio: false,
        flags: Flags::default(),
        listen: Vec::new(),
        listen_tls: Vec::new(),
    };
    let mut i = 0;
    let value = |i: &mut usize, flag: &str| -> Result<String, UsageError> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| UsageError(format!("option {flag} needs a value\n{USAGE}")))
    };
    // Cyrus's service.c: a negative count is clamped to 0.
    let count = |v: &str, flag: &str| -> Result<u32, UsageError> {
        v.trim()
            .parse::<i64>()
            .map(|n| n.clamp(0, u32::MAX as i64) as u32)
            .map_err(|_| UsageError(format!("option {flag}: '{v}' is not a number")))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-C" => o.config = PathBuf::from(value(&mut i, a)?),
            "-U" => o.max_uses = count(&value(&mut i, a)?, a)?,
            "-T" => o.reuse_timeout = count(&value(&mut i, a)?, a)?,
            "-D" => o.debug = true,
            "-X" => o.stdio = true,
            "-s" => o.flags.implicit_tls = true,
            "-N" => o.flags.no_password = true,
            "-q" => o.flags.no_quota_enforcement = true, // Cyrus: do not enforce quotas.
            "-p" => o.flags.external_ssf = count(&value(&mut i, a)?, a)?,
            "--listen" => o.listen.push(value(&mut i, a)?),
            "--listen-tls" => o.listen_tls.push(value(&mut i, a)?),
            "-h" | "--help" => return Err(UsageError(USAGE.into())),
            _ if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 => {
                // cyrus-compat 1.3: `-U30` is refused, exit EX_USAGE.
                return Err(UsageError(
                    "options and arguments MUST be separated by whitespace".into(),
                ));
            }
            _ => return Err(UsageError(format!("unknown argument '{a}'\n{USAGE}"))),
        }
        i += 1;
    }
    Ok(o)
}

/// The service name: `CYRUS_SERVICE` (master sets it), else "imap".
/// It selects `<service>_option` overrides and `msg/shutdown.<service>`.
pub fn service_name() -> String {
    std::env::var("CYRUS_SERVICE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "imap".into())
}

pub fn load_server(
    opts: &CliOptions,
    service: &str,
    max_sessions: Option<u32>,
) -> Result<Arc<Server>, ExitCode> {
    let cfg = Config::load(&opts.config, service).map_err(|e| {
        eprintln!("imapd: {e:#}");
        ExitCode::from(exit::CONFIG)
    })?;
    let log = cfg.log_settings(service).map_err(|e| {
        eprintln!("imapd: {e:#}");
        ExitCode::from(exit::CONFIG)
    })?;
    crate::ops::log::init(&log);
    Server::new(&cfg, service, opts.flags.clone(), max_sessions).map_err(|e| {
        crate::syslog!(Err, "{e:#}");
        ExitCode::from(exit::CONFIG)
    })
}

pub fn run(opts: CliOptions) -> ExitCode {
    let standalone = !opts.listen.is_empty()
        || !opts.listen_tls.is_empty()
        || std::env::var_os("LISTEN_FDS").is_some();
    if standalone {
        let service = service_name();
        let server = match load_server(&opts, &service, None) {
            Ok(s) => s,
            Err(code) => return code,
        };
        return crate::standalone::run(server, &opts);
    }
    // Under master(8) and with -X, Cyrus requires both variables (exit 70).
    let (Ok(service), Ok(id)) = (std::env::var("CYRUS_SERVICE"), std::env::var("CYRUS_ID")) else {
        eprintln!("imapd: CYRUS_SERVICE and CYRUS_ID must be set (or use --listen)");
        return ExitCode::from(exit::SOFTWARE);
    };
    if opts.debug {
        // -D: run debug_command before serving; nothing when it is unset.
        if let Ok(cfg) = Config::load(&opts.config, &service)
            && let Some(cmd) = cfg.debug_command()
        {
            crate::master::run_debug_command(cmd, &service);
        }
    }
    if opts.stdio {
        let server = match load_server(&opts, &service, Some(2)) {
            Ok(s) => s,
            Err(code) => return code,
        };
        return crate::standalone::run_stdio(server);
    }
    crate::master::run(&opts, &service, &id)
}

/// `imapd precompile [-C config]`: compile the guest into the cache now,
/// so the first session of every later process starts in milliseconds.
pub fn precompile(args: &[String]) -> Result<()> {
    let opts = parse(args).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = service_name();
    let cfg = Config::load(&opts.config, &service)?;
    let t = std::time::Instant::now();
    let server = Server::new(&cfg, &service, opts.flags, Some(1))?;
    println!(
        "guest {} ready in {:.1} ms",
        server.engine.current().short(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// `imapd selfsigned CERT KEY [NAME...]`: write a self-signed certificate
/// and its key (PEM) for NAMEs (default localhost and 127.0.0.1), for
/// trying imapd out and for the tests. Real deployments use a real CA.
pub fn selfsigned(args: &[String]) -> Result<()> {
    let [cert, key, names @ ..] = args else {
        anyhow::bail!("usage: imapd selfsigned CERT KEY [NAME...]");
    };
    let names: Vec<String> = if names.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into()]
    } else {
        names.to_vec()
    };
    let ck = rcgen::generate_simple_self_signed(names)?;
    write_private(
        std::path::Path::new(key),
        ck.signing_key.serialize_pem().as_bytes(),
    )?;
    std::fs::write(cert, ck.cert.pem()).map_err(|e| anyhow::anyhow!("writing {cert}: {e}"))?;
    Ok(())
}

fn write_private(path: &std::path::Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_q_turns_quota_enforcement_off() {
        let args = |v: &[&str]| parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(!args(&[]).unwrap().flags.no_quota_enforcement);
        assert!(args(&["-q"]).unwrap().flags.no_quota_enforcement);
        assert!(
            args(&["-q", "-C", "/x.conf"])
                .unwrap()
                .flags
                .no_quota_enforcement
        );
    }
}
