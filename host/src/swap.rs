//! `imapd swap [-C imapd.conf] [--wait SECS] NEW.wasm`: put a new guest
//! module live without dropping a connection.
//!
//! 1. Validate, changing nothing: the file is not writable by group or
//!    others and matches `guest_module_sha256` if set; it compiles (into
//!    the guest cache, so servers load it in milliseconds); it links
//!    against this host's contract and exports its engine; a trial session
//!    greets and answers CAPABILITY; and it restores snapshots taken from
//!    the running module in the states sessions are in (pre-auth in the
//!    middle of a literal, selected with a flagged message, in IDLE), then
//!    carries on correctly.
//! 2. Install it atomically where servers take it from (`guest_module`,
//!    else `<configdirectory>/guest.wasm`), keeping the one it replaces as
//!    `<name>.previous`.
//! 3. Tell every serving process through its control socket
//!    ([`crate::control`]) and print what each did: sessions moved,
//!    stayed on the old module (and why), still pending.
//!
//! Exit status 0 when the module went live, 1 with the reason when it was
//! refused (nothing changed) or a server could not load it.
//!
//! `imapd swap --domain example.com NEW.wasm` does the same for one tenant
//! (`virtdomains`): the module is checked against the one that domain runs,
//! installed as `<configdirectory>/domain/<domain>/guest.wasm`, and the
//! domain's sessions move to it once logged in, while every other domain
//! stays where it is: a canary. `imapd swap --domain example.com
//! --default` removes the pin (kept as `guest.wasm.previous`), and the
//! domain's sessions move back to the module everyone else runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::config::Config;
use crate::control;
use crate::engine::{
    Action, AuthError, GuestEngine, GuestSession, Level, MetadataError, Module, QuotaError,
    QuotaLimits, QuotaUsage, SaslReply, ServerInfo, SessionHost, Settings, read_module_file,
};
use crate::server::{Options, module_source};

/// The user of the trial sessions (the trial host accepts only it).
const TRIAL_USER: &str = "imapd-swap-check";

/// The host of a trial session: it knows one user, any password.
pub(crate) struct TrialHost;

impl SessionHost for TrialHost {
    async fn authenticate(
        &mut self,
        _mech: String,
        _authzid: String,
        user: String,
        _password: String,
    ) -> Result<String, AuthError> {
        if user == TRIAL_USER {
            Ok(user)
        } else {
            Err(AuthError::BadCredentials)
        }
    }
    fn log(&mut self, _: Level, _: &str) {}
    async fn lock_mailbox(&mut self, _: String) -> Result<(), String> {
        Ok(())
    }
    fn unlock_mailbox(&mut self, _: String) {}
    fn is_admin(&mut self) -> bool {
        false
    }
    async fn server_metadata(&mut self) -> Vec<(String, Vec<u8>)> {
        Vec::new()
    }
    async fn set_server_metadata(
        &mut self,
        _: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), MetadataError> {
        Err(MetadataError::NotAllowed)
    }
    async fn own_quota(&mut self) -> Option<(QuotaLimits, bool)> {
        None
    }
    async fn get_quota(&mut self, _: String) -> Result<QuotaUsage, QuotaError> {
        Err(QuotaError::NotAllowed)
    }
    async fn set_quota(&mut self, _: String, _: QuotaLimits) -> Result<QuotaUsage, QuotaError> {
        Err(QuotaError::NotAllowed)
    }
    async fn sasl_start(&mut self, _: String, _: Option<Vec<u8>>) -> SaslReply {
        SaslReply::Failure(AuthError::BadCredentials)
    }
    async fn sasl_continue(&mut self, _: Vec<u8>) -> SaslReply {
        SaslReply::Failure(AuthError::BadCredentials)
    }
    fn sasl_abort(&mut self) {}
}

pub(crate) struct Args {
    config: PathBuf,
    wait: Duration,
    /// `None` with `--default`.
    module: Option<PathBuf>,
    /// `--domain`: pin one tenant.
    domain: Option<String>,
}

const USAGE: &str = "usage: imapd swap [-C config] [--wait SECS] [--domain DOMAIN] NEW.wasm\n       \
                     imapd swap [-C config] [--wait SECS] --domain DOMAIN --default";

pub(crate) fn parse(args: &[String]) -> Result<Args> {
    let mut config = crate::cli::parse(&[]).map_err(|e| anyhow!("{e}"))?.config;
    let mut wait = Duration::from_secs(30);
    let mut module = None;
    let mut domain = None;
    let mut default = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-C" => {
                i += 1;
                config = args.get(i).ok_or_else(|| anyhow!(USAGE))?.into();
            }
            "--wait" => {
                i += 1;
                let v = args.get(i).ok_or_else(|| anyhow!(USAGE))?;
                wait = Duration::from_secs(
                    v.parse()
                        .map_err(|_| anyhow!("--wait: '{v}' is not a number of seconds"))?,
                );
            }
            "--domain" => {
                i += 1;
                let d = args
                    .get(i)
                    .ok_or_else(|| anyhow!(USAGE))?
                    .to_ascii_lowercase();
                if !crate::tenant::valid_domain(&d) {
                    bail!("--domain: '{d}' is not a domain name");
                }
                domain = Some(d);
            }
            "--default" => default = true,
            a if a.starts_with('-') => bail!("unknown option {a}\n{USAGE}"),
            a if module.is_none() => module = Some(PathBuf::from(a)),
            _ => bail!("{USAGE}"),
        }
        i += 1;
    }
    match (&module, default, &domain) {
        (Some(_), false, _) | (None, true, Some(_)) => {}
        _ => bail!("{USAGE}"),
    }
    Ok(Args {
        config,
        wait,
        module,
        domain,
    })
}

/// A step of the validation that failed: which, and why.
fn refused(step: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("refused at step '{step}': {e}; nothing was changed")
}

pub fn run(args: &[String]) -> Result<()> {
    let args = parse(args)?;
    let service = crate::cli::service_name();
    let cfg = Config::load(&args.config, &service)?;
    let options = Options::from_config(&cfg)?;
    let mut source = module_source(&cfg)?;
    let out = &mut std::io::stdout();
    if args.domain.is_some() && !options.domains.enabled() {
        return Err(refused(
            "domain",
            "virtdomains is off: there are no domains",
        ));
    }
    let target = match &args.domain {
        Some(d) => {
            let pin = crate::server::Server::pin_path(&options.config_dir, d);
            // Checked against what the domain runs now: its pin, if any.
            if pin.exists() {
                source.path = Some(pin.clone());
                source.explicit = true;
            }
            pin
        }
        None => source
            .path
            .clone()
            .ok_or_else(|| anyhow!("no guest module path"))?,
    };
    let Some(module) = &args.module else {
        // --domain D --default: the pin goes.
        let d = args.domain.as_deref().unwrap_or_default();
        unpin(&target).map_err(|e| refused("unpin", format!("{e:#}")))?;
        writeln!(
            out,
            "domain {d}: pin removed; its sessions go back to the default module"
        )?;
        return tell_servers(&options, &args, None, out);
    };

    // 1. Validation.
    let (wasm, _) = read_module_file(module).map_err(|e| refused("read", format!("{e:#}")))?;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm));
    writeln!(out, "checking {} (sha256 {hash})", module.display())?;
    if let Some(pin) = &source.sha256
        && pin != &hash
    {
        return Err(refused(
            "hash",
            format!(
                "guest_module_sha256 in {} pins {pin}",
                args.config.display()
            ),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut engine_options = options.engine.clone();
    engine_options.max_sessions = 4;
    // The engine is built on the running module, so the new one is
    // compiled by the same engine configuration servers use (and cached
    // under the key they look for).
    let t = Instant::now();
    let running_source = crate::engine::ModuleSource {
        sha256: None,
        ..source.clone()
    };
    engine_options.source = running_source.clone();
    let engine = GuestEngine::<TrialHost>::new(engine_options)
        .map_err(|e| anyhow!("loading the running module ({}): {e:#}", source.describe()))?;
    let running = engine.current();
    let new = engine
        .load(&wasm, None)
        .map_err(|e| refused("compile and link", format!("{e:#}")))?;
    writeln!(
        out,
        "  compiles and exports the imapd:session engine: ok ({} ms)",
        t.elapsed().as_millis()
    )?;
    let settings = trial_settings(&options);
    rt.block_on(trial_new(&engine, &new, &settings))
        .map_err(|e| refused("trial session", format!("{e:#}")))?;
    writeln!(out, "  trial session (greeting, CAPABILITY): ok")?;
    if running.hash == new.hash {
        writeln!(
            out,
            "  same module as the running one ({})",
            running.short()
        )?;
    } else {
        let mail = TempDir::new()?;
        rt.block_on(trial_snapshots(&engine, &running, &new, &settings, &mail.0))
            .map_err(|e| refused("restore snapshots of the running module", format!("{e:#}")))?;
        writeln!(
            out,
            "  restores snapshots of the running module {} (pre-auth mid-literal, \
             selected, IDLE) and carries on (LOGIN, FETCH, LOGOUT): ok",
            running.short()
        )?;
    }

    // 2. Install.
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let installed = install(module, &wasm, &target)?;
    match &installed {
        Some(prev) => writeln!(
            out,
            "installed as {} (the previous module kept as {})",
            target.display(),
            prev.display()
        )?,
        None => writeln!(out, "installed as {}", target.display())?,
    }

    // 3. Tell the running servers and report.
    tell_servers(&options, &args, Some(&hash), out)
}

/// `--default`: the domain's pin file goes (kept as `.previous`).
fn unpin(pin: &Path) -> Result<()> {
    if !pin.exists() {
        bail!(
            "{} does not exist: the domain has no module of its own",
            pin.display()
        );
    }
    let previous = pin.with_extension("wasm.previous");
    std::fs::rename(pin, &previous)
        .with_context(|| format!("moving {} to {}", pin.display(), previous.display()))
}

/// Ask every serving process to take the module (`swap`, or `pin` for a
/// domain) and print what each did; an error when one did not. `hash`:
/// the module that must be running now (`None`: the domain's pin went).
fn tell_servers(
    options: &Options,
    args: &Args,
    hash: Option<&str>,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let request = match &args.domain {
        Some(d) => format!("pin {d} {}", args.wait.as_secs()),
        None => format!("swap {}", args.wait.as_secs()),
    };
    let mut failed = Vec::new();
    let mut answered = 0;
    for (pid, path) in control::sockets(&options.config_dir) {
        let report = match control::ask(&path, &request, args.wait + Duration::from_secs(30)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                writeln!(out, "pid {pid}: no answer: {e:#}")?;
                failed.push(format!("pid {pid} did not answer"));
                continue;
            }
        };
        answered += 1;
        let short = |h: &str| h.chars().take(16).collect::<String>();
        match report.result.as_str() {
            "error" => {
                let why = report.error.clone().unwrap_or_default();
                writeln!(out, "pid {pid}: kept {}: {why}", short(&report.current))?;
                failed.push(format!("pid {pid}: {why}"));
            }
            _ => {
                let how = match (&report.from, hash) {
                    (Some(from), _) => format!("took it (was {})", short(from)),
                    (None, Some(h)) if report.current == h => "already on it".to_string(),
                    (None, None) => "nothing to change".to_string(),
                    (None, _) => format!("still on {}", short(&report.current)),
                };
                writeln!(
                    out,
                    "pid {pid}: {how}: {} sessions moved, {} stayed on the old module, {} pending, {} ms",
                    report.moved, report.stayed, report.pending, report.millis
                )?;
                for r in &report.refusals {
                    writeln!(out, "  stayed because: {r}")?;
                }
                if let Some(h) = hash
                    && report.current != h
                {
                    failed.push(format!("pid {pid} runs {}", short(&report.current)));
                }
            }
        }
    }
    if answered == 0 {
        writeln!(
            out,
            "no running server answered; servers started from now on run it"
        )?;
    } else {
        writeln!(
            out,
            "processes between connections (under master) load it at their next connection"
        )?;
    }
    if !failed.is_empty() {
        bail!(
            "the module is installed, but not live everywhere: {}",
            failed.join("; ")
        );
    }
    Ok(())
}

fn trial_settings(o: &Options) -> Settings {
    // A user and password of the trial's own, over plain text, whatever
    // the configuration says of logins.
    Settings {
        server_info: ServerInfo::On,
        allow_plaintext: true,
        tls_required: false,
        mechanisms: vec!["PLAIN".into()],
        autocreate_folders: Vec::new(),
        idle_enabled: true,
        ..o.settings("imapd-swap-check")
    }
}

/// A trial session: the guest and, once logged in, its mail tree.
struct Trial<'a> {
    engine: &'a GuestEngine<TrialHost>,
    session: Option<GuestSession<TrialHost>>,
    settings: &'a Settings,
    mail: Option<cap_std::fs::Dir>,
    mail_path: Option<&'a Path>,
}

impl<'a> Trial<'a> {
    /// Feed `input`, write out everything, follow a promotion; the output.
    async fn say(&mut self, input: &str) -> Result<String> {
        let s = self.session.as_mut().ok_or_else(|| anyhow!("no session"))?;
        let mut step = s.feed(input.as_bytes()).await?;
        let mut out = Vec::new();
        loop {
            out.extend_from_slice(&step.output);
            if step.more {
                step = self.session.as_mut().unwrap().pull(1 << 20).await?;
                continue;
            }
            match step.action {
                Action::Promote => {
                    let path = self
                        .mail_path
                        .ok_or_else(|| anyhow!("promotion without a mail tree"))?;
                    self.mail = Some(cap_std::fs::Dir::open_ambient_dir(
                        path,
                        cap_std::ambient_authority(),
                    )?);
                    // Promotion within the module under test.
                    let module = self.session.as_ref().unwrap().module().clone();
                    self.move_to(&module).await?;
                    step = self.session.as_mut().unwrap().feed(&[]).await?;
                }
                Action::Close => break,
                _ => break,
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Move the session to `module` by snapshot.
    async fn move_to(&mut self, module: &Arc<Module<TrialHost>>) -> Result<()> {
        let mut old = self.session.take().ok_or_else(|| anyhow!("no session"))?;
        let snap = old.snapshot().await?;
        let host = old.into_host().await;
        let s = self
            .engine
            .restore_session(
                module.clone(),
                host,
                &snap,
                self.mail.as_ref(),
                self.settings,
            )
            .await?;
        self.session = Some(s);
        Ok(())
    }
}

fn expect(out: &str, want: &str, what: &str) -> Result<()> {
    if out.contains(want) {
        Ok(())
    } else {
        bail!("{what}: expected {want:?}, got {:?}", out.trim_end())
    }
}

const TRIAL_MESSAGE: &str = "From: check@example.org\r\nSubject: swap check\r\n\r\nhello\r\n";

/// The new module on its own: it greets and answers CAPABILITY.
async fn trial_new(
    engine: &GuestEngine<TrialHost>,
    new: &Arc<Module<TrialHost>>,
    settings: &Settings,
) -> Result<()> {
    let (s, greeting) = engine.start_on(new.clone(), TrialHost, settings).await?;
    let greeting = String::from_utf8_lossy(&greeting.output).into_owned();
    if !greeting.starts_with("* OK") {
        bail!("greeting: {:?}", greeting.trim_end());
    }
    let mut t = Trial {
        engine,
        session: Some(s),
        settings,
        mail: None,
        mail_path: None,
    };
    let out = t.say("c1 CAPABILITY\r\n").await?;
    expect(&out, "* CAPABILITY ", "CAPABILITY")?;
    expect(&out, "c1 OK", "CAPABILITY")?;
    Ok(())
}

/// Snapshots of the running module, restored into the new one, carry on.
async fn trial_snapshots(
    engine: &GuestEngine<TrialHost>,
    running: &Arc<Module<TrialHost>>,
    new: &Arc<Module<TrialHost>>,
    settings: &Settings,
    mail: &Path,
) -> Result<()> {
    // Pre-auth, in the middle of LOGIN's literal.
    let (s, _) = engine
        .start_on(running.clone(), TrialHost, settings)
        .await?;
    let mut t = Trial {
        engine,
        session: Some(s),
        settings,
        mail: None,
        mail_path: Some(mail),
    };
    let out = t.say(&format!("a1 LOGIN {TRIAL_USER} {{6}}\r\n")).await?;
    expect(&out, "+ ", "LOGIN literal")?;
    t.move_to(new).await?;
    let out = t.say("secret\r\n").await?;
    expect(&out, "a1 OK", "LOGIN after the restore")?;
    t.move_to(running).await?;

    // Selected, with a flagged message, then in IDLE.
    let out = t
        .say(&format!(
            "a2 APPEND INBOX {{{}+}}\r\n{TRIAL_MESSAGE}\r\na3 SELECT INBOX\r\n\
             a4 STORE 1 +FLAGS (\\Flagged)\r\na5 IDLE\r\n",
            TRIAL_MESSAGE.len()
        ))
        .await?;
    expect(&out, "a4 OK", "STORE")?;
    expect(&out, "+ ", "IDLE")?;
    t.move_to(new).await?;
    let out = t
        .say("DONE\r\na6 FETCH 1 (FLAGS RFC822.SIZE)\r\na7 LOGOUT\r\n")
        .await?;
    expect(&out, "a5 OK", "IDLE after the restore")?;
    expect(&out, "\\Flagged", "FETCH after the restore")?;
    expect(
        &out,
        &format!("RFC822.SIZE {}", TRIAL_MESSAGE.len()),
        "FETCH after the restore",
    )?;
    expect(&out, "a6 OK", "FETCH after the restore")?;
    Ok(())
}

/// A private scratch directory for the trial's mail tree.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let p = std::env::temp_dir().join(format!(
            "imapd-swap-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Install `wasm` at `target` atomically (a temporary file in the same
/// directory, synced, renamed over it), the module it replaces kept as
/// `<target>.previous`. `None` for the previous path when there was none.
fn install(from: &Path, wasm: &[u8], target: &Path) -> Result<Option<PathBuf>> {
    use std::os::unix::fs::OpenOptionsExt;
    let same = match (from.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Ok(None);
    }
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| anyhow!("{} names no file", target.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(wasm)?;
        f.sync_all()?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", tmp.display())));
    }
    let previous = dir.join(format!("{name}.previous"));
    let had_previous = target.exists();
    if had_previous {
        let _ = std::fs::remove_file(&previous);
        std::fs::hard_link(target, &previous)
            .with_context(|| format!("keeping {} as {}", target.display(), previous.display()))?;
    }
    std::fs::rename(&tmp, target).with_context(|| format!("installing {}", target.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(had_previous.then_some(previous))
}
