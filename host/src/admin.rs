//! `imapd passwd [-C imapd.conf] [--scheme SCHEME] [--delete] USER`: maintain the password
//! file.
//!
//! The new password is read from standard input (one line; with a terminal, twice and without
//! echo). Entries are written as `{ARGON2ID}` hashes, or with `--scheme SCRAM-SHA-256` (or
//! `SCRAM-SHA-1`) as SCRAM keys in Dovecot's form, which SCRAM logins need and from which
//! PLAIN and LOGIN are checked too. Every other line of the file (comments,
//! other users, the extra `:uid:gid:...` fields of the user's own line) is kept byte for byte.
//! The file is replaced atomically ([`crate::replace`]): a temporary file in the same directory,
//! mode 0600, fsync, rename, fsync of the directory; concurrent runs are serialised with a lock
//! on the directory.
//! Running imapd processes see the change at their next login (`passwd::PasswordFile` re-reads
//! a changed file).

use crate::config::{Config, DEFAULT_CONFIG_FILE, PwcheckMethod};
use crate::passwd::hash_password;
use crate::replace::rewrite;
use anyhow::{Context, Result, anyhow, bail};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: imapd passwd [-C imapd.conf] [--scheme ARGON2ID|SCRAM-SHA-256|SCRAM-SHA-1] [--delete] USER";

/// How `imapd passwd` stores a new password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// `{ARGON2ID}`: the default.
    #[default]
    Argon2id,
    /// `{SCRAM-SHA-256}` / `{SCRAM-SHA-1}` (rfc7677, rfc5802).
    Scram(crate::auth::scram::ScramHash),
}

impl Scheme {
    fn parse(name: &str) -> Result<Scheme> {
        use crate::auth::scram::ScramHash;
        match name.to_ascii_uppercase().as_str() {
            "ARGON2ID" => Ok(Scheme::Argon2id),
            "SCRAM-SHA-256" => Ok(Scheme::Scram(ScramHash::Sha256)),
            "SCRAM-SHA-1" => Ok(Scheme::Scram(ScramHash::Sha1)),
            _ => bail!("unknown --scheme {name} (ARGON2ID, SCRAM-SHA-256 or SCRAM-SHA-1)\n{USAGE}"),
        }
    }

    /// The password file field for `password`.
    fn field(self, password: &str) -> Result<String> {
        Ok(match self {
            Scheme::Argon2id => hash_password(password.as_bytes())?,
            Scheme::Scram(h) => {
                crate::auth::scram::StoredKeys::generate(h, password.as_bytes()).to_field()
            }
        })
    }
}

/// Checks that `user` can be a password file entry (and a directory name in the spool):
/// not empty, no `:` or `/`, not `.` or `..`, no control characters, no leading `-` or `#`,
/// no blanks at either end.
pub fn validate_user(user: &str) -> Result<()> {
    let problem = if user.is_empty() {
        Some("is empty")
    } else if user.contains(':') {
        Some("contains ':'")
    } else if user.contains('/') {
        Some("contains '/'")
    } else if user == "." || user == ".." {
        Some("is '.' or '..'")
    } else if user.chars().any(char::is_control) {
        Some("contains a control character")
    } else if user.starts_with('-') {
        Some("starts with '-'")
    } else if user.starts_with('#') {
        Some("starts with '#' (it would read as a comment)")
    } else if user.trim() != user {
        Some("starts or ends with a blank")
    } else {
        None
    };
    match problem {
        Some(p) => bail!("invalid user name {user:?}: it {p}"),
        None => Ok(()),
    }
}

/// Sets `user`'s password in `file` (created if absent), as an `{ARGON2ID}` hash.
pub fn set_password(file: &Path, user: &str, password: &str) -> Result<()> {
    set_password_as(file, user, password, Scheme::Argon2id)
}

/// Sets `user`'s password in `file` (created if absent), stored as `scheme` says.
pub fn set_password_as(file: &Path, user: &str, password: &str, scheme: Scheme) -> Result<()> {
    validate_user(user)?;
    if password.is_empty() {
        bail!("refusing an empty password");
    }
    let hash = scheme.field(password)?;
    rewrite(file, 0o600, |old| Ok(set_line(old, user, &hash))).map(|_| ())
}

/// Removes every line of `user` from `file`. `Ok(false)` when there was none (the file is then
/// left untouched).
pub fn delete_user(file: &Path, user: &str) -> Result<bool> {
    validate_user(user)?;
    let mut found = false;
    rewrite(file, 0o600, |old| {
        let (new, n) = delete_lines(old, user);
        found = n > 0;
        Ok(new)
    })?;
    Ok(found)
}

/// The user field of a line (bytes before the first `:`), unless the line is blank or a
/// comment. Mirrors `passwd::parse_file`.
fn line_user(line: &[u8]) -> Option<&[u8]> {
    let first = line.iter().position(|b| !b.is_ascii_whitespace())?;
    if line[first] == b'#' {
        return None;
    }
    let colon = line.iter().position(|b| *b == b':')?;
    Some(&line[..colon])
}

/// Lines with their endings, so that unchanged lines are written back exactly.
fn split_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split_inclusive(|b| *b == b'\n')
}

/// `line` without its `\n` or `\r\n`, and that ending.
fn split_ending(line: &[u8]) -> (&[u8], &[u8]) {
    let body_len = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .map_or(line.len(), <[u8]>::len);
    line.split_at(body_len)
}

/// The file with `user`'s first line given `hash` (its extra fields kept) and later lines of
/// the same user dropped (the reader would ignore them, and `--delete` must not resurrect
/// them); or with a new line appended.
pub(crate) fn set_line(old: &[u8], user: &str, hash: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(old.len() + hash.len() + user.len() + 2);
    let mut replaced = false;
    for line in split_lines(old) {
        if line_user(line) != Some(user.as_bytes()) {
            out.extend_from_slice(line);
            continue;
        }
        if replaced {
            continue;
        }
        replaced = true;
        let (body, ending) = split_ending(line);
        // body = user ':' hash [':' extra...]
        let after_user = &body[user.len() + 1..];
        let extra = after_user
            .iter()
            .position(|b| *b == b':')
            .map_or(&[][..], |i| &after_user[i..]);
        out.extend_from_slice(user.as_bytes());
        out.push(b':');
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(extra);
        out.extend_from_slice(if ending.is_empty() { b"\n" } else { ending });
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(format!("{user}:{hash}\n").as_bytes());
    }
    out
}

/// The file without `user`'s lines, and how many there were.
pub(crate) fn delete_lines(old: &[u8], user: &str) -> (Vec<u8>, usize) {
    let mut removed = 0;
    let mut out = Vec::with_capacity(old.len());
    for line in split_lines(old) {
        if line_user(line) == Some(user.as_bytes()) {
            removed += 1;
        } else {
            out.extend_from_slice(line);
        }
    }
    (out, removed)
}

/// Parsed `imapd passwd` arguments.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PasswdArgs {
    config: PathBuf,
    delete: bool,
    scheme: Scheme,
    user: String,
}

pub(crate) fn parse_args(args: &[String]) -> Result<PasswdArgs> {
    let mut config = None;
    let mut delete = false;
    let mut scheme = Scheme::default();
    let mut user = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            // cyrus-compat 1.3: options and their values are separate words.
            "-C" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow!("-C needs a file\n{USAGE}"))?;
                if config.replace(PathBuf::from(v)).is_some() {
                    bail!("-C given twice\n{USAGE}");
                }
            }
            "--delete" => delete = true,
            "--scheme" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow!("--scheme needs a name\n{USAGE}"))?;
                scheme = Scheme::parse(v)?;
            }
            "-h" | "--help" => bail!("{USAGE}"),
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            s => {
                if user.replace(s.to_string()).is_some() {
                    bail!("only one USER may be given\n{USAGE}");
                }
            }
        }
    }
    Ok(PasswdArgs {
        config: config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE)),
        delete,
        scheme,
        user: user.ok_or_else(|| anyhow!("no USER given\n{USAGE}"))?,
    })
}

/// Reads one line of `input`: trailing `\n` (or `\r\n`) removed; empty refused.
fn read_password_line(input: &mut dyn BufRead) -> Result<String> {
    let mut line = Vec::new();
    let n = input
        .read_until(b'\n', &mut line)
        .context("reading the password from standard input")?;
    if n == 0 {
        bail!("no password on standard input");
    }
    if line.ends_with(b"\n") {
        line.pop();
        if line.ends_with(b"\r") {
            line.pop();
        }
    }
    if line.is_empty() {
        bail!("refusing an empty password");
    }
    String::from_utf8(line).map_err(|_| anyhow!("the password is not valid UTF-8"))
}

/// Turns terminal echo off until dropped.
struct EchoOff {
    fd: i32,
    saved: libc::termios,
}

impl EchoOff {
    fn new(fd: i32) -> Option<EchoOff> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd number and pointer to a termios.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        // SAFETY: as above.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in new() on the same fd.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// `imapd passwd [-C imapd.conf] [--delete] USER` (arguments after `passwd`). The password
/// file is the configuration's `passwd_file`, with `CYRUS_SERVICE` (default `imap`) choosing
/// service overrides.
pub fn run_passwd(args: &[String]) -> Result<()> {
    let stdin = std::io::stdin();
    // SAFETY: isatty has no preconditions.
    let interactive = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    let service = std::env::var("CYRUS_SERVICE").unwrap_or_else(|_| "imap".to_string());
    // Passwords typed at a terminal are not echoed; ECHONL still ends each line visibly.
    let _echo = interactive
        .then(|| EchoOff::new(libc::STDIN_FILENO))
        .flatten();
    run_passwd_with(
        args,
        &service,
        &mut stdin.lock(),
        interactive,
        &mut std::io::stderr(),
    )
}

fn run_passwd_with(
    args: &[String],
    service: &str,
    input: &mut dyn BufRead,
    interactive: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let args = parse_args(args)?;
    validate_user(&args.user)?;
    let config = Config::load(&args.config, service)?;
    let file = config.passwd_file().to_path_buf();
    if config.sasl_pwcheck_method() != PwcheckMethod::PasswdFile {
        let _ = writeln!(
            out,
            "note: {} sets sasl_pwcheck_method other than passwd_file; logins do not use {}",
            args.config.display(),
            file.display()
        );
    }

    if args.delete {
        if !delete_user(&file, &args.user)? {
            bail!("no user '{}' in {}", args.user, file.display());
        }
        let _ = writeln!(out, "deleted '{}' from {}", args.user, file.display());
        return Ok(());
    }

    let password = if interactive {
        let _ = write!(out, "New password for {}: ", args.user);
        let _ = out.flush();
        let first = read_password_line(input)?;
        let _ = write!(out, "Retype it: ");
        let _ = out.flush();
        if read_password_line(input)? != first {
            bail!("the passwords differ; nothing changed");
        }
        first
    } else {
        read_password_line(input)?
    };
    set_password_as(&file, &args.user, &password, args.scheme)?;
    let _ = writeln!(
        out,
        "password set for '{}' in {}",
        args.user,
        file.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwd::PasswordFile;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use crate::replace::scratch_dir;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn user_names_are_validated() {
        for ok in ["alice", "a.b", "user@example.org", "Ünïcode", "a b", "x-"] {
            assert!(validate_user(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("a:b", "contains ':'"),
            ("a/b", "contains '/'"),
            (".", "is '.' or '..'"),
            ("..", "is '.' or '..'"),
            ("a\nb", "contains a control character"),
            ("a\0", "contains a control character"),
            ("a\x7f", "contains a control character"),
            ("-rf", "starts with '-'"),
            ("#x", "starts with '#' (it would read as a comment)"),
            (" alice", "starts or ends with a blank"),
            ("alice\u{a0}", "starts or ends with a blank"),
        ] {
            assert_eq!(
                validate_user(bad).unwrap_err().to_string(),
                format!("invalid user name {bad:?}: it {why}")
            );
        }
    }

    #[test]
    fn creates_the_file_with_mode_0600() {
        let dir = scratch_dir("create");
        let file = dir.join("passwd");
        set_password(&file, "alice", "s3cret").unwrap();
        assert_eq!(mode(&file), 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("alice:{ARGON2ID}$argon2id$v=19$"),
            "{text}"
        );
        assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
        let pf = PasswordFile::new(&file);
        assert!(pf.verify("alice", b"s3cret").unwrap());
        assert!(!pf.verify("alice", b"s3cret\n").unwrap());
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keeps_every_other_line_exactly() {
        let dir = scratch_dir("keep");
        let file = dir.join("passwd");
        let before = "# our users\r\n\
                      \n\
                      bob:{PLAIN}b:1001:1001::/home/bob:/bin/false\n\
                      alice:{PLAIN}old:1000:100:Alice A:/home/alice:/bin/sh:extra\r\n\
                      \x20  # alice:{PLAIN}commented\n\
                      alice:{PLAIN}dup\n\
                      not a valid line\n\
                      carol:{SHA512-CRYPT}$6$x$y";
        std::fs::write(&file, before).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        set_password(&file, "alice", "new").unwrap();
        let after = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = after.split_inclusive('\n').collect();
        assert_eq!(lines.len(), 7, "{after}");
        assert_eq!(lines[0], "# our users\r\n");
        assert_eq!(lines[1], "\n");
        assert_eq!(lines[2], "bob:{PLAIN}b:1001:1001::/home/bob:/bin/false\n");
        assert!(
            lines[3].starts_with("alice:{ARGON2ID}$argon2id$"),
            "{}",
            lines[3]
        );
        assert!(
            lines[3].ends_with(":1000:100:Alice A:/home/alice:/bin/sh:extra\r\n"),
            "{}",
            lines[3]
        );
        assert_eq!(lines[4], "   # alice:{PLAIN}commented\n");
        // The duplicate alice line is gone; the rest is untouched (no newline added at EOF).
        assert_eq!(lines[5], "not a valid line\n");
        assert_eq!(lines[6], "carol:{SHA512-CRYPT}$6$x$y");
        assert_eq!(mode(&file), 0o600);
        let pf = PasswordFile::new(&file);
        assert!(pf.verify("alice", b"new").unwrap());
        assert!(pf.verify("bob", b"b").unwrap());

        // A new user goes at the end, after a newline is supplied.
        set_password(&file, "dave", "d").unwrap();
        let after = std::fs::read_to_string(&file).unwrap();
        assert!(after.contains("carol:{SHA512-CRYPT}$6$x$y\ndave:{ARGON2ID}$argon2id$"));
        assert!(pf.verify("dave", b"d").unwrap());
        assert!(pf.verify("alice", b"new").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn changing_a_password_takes_effect_for_a_cached_reader() {
        let dir = scratch_dir("effect");
        let file = dir.join("passwd");
        set_password(&file, "alice", "one").unwrap();
        let pf = PasswordFile::new(&file);
        assert!(pf.verify("alice", b"one").unwrap());
        set_password(&file, "alice", "two").unwrap();
        assert!(pf.verify("alice", b"two").unwrap());
        assert!(!pf.verify("alice", b"one").unwrap());
        assert!(delete_user(&file, "alice").unwrap());
        assert!(!pf.verify("alice", b"two").unwrap());
        // SCRAM keys: PLAIN checks against them, and SCRAM finds them.
        use crate::auth::scram::ScramHash;
        set_password_as(&file, "alice", "three", Scheme::Scram(ScramHash::Sha256)).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("alice:{SCRAM-SHA-256}10000,"), "{text}");
        assert!(pf.verify("alice", b"three").unwrap());
        assert!(!pf.verify("alice", b"two").unwrap());
        let keys = pf.scram_keys("alice", ScramHash::Sha256).unwrap().unwrap();
        assert!(keys.verify_password(b"three"));
        assert_eq!(pf.scram_keys("alice", ScramHash::Sha1).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn delete_removes_all_lines_of_the_user_only() {
        let dir = scratch_dir("delete");
        let file = dir.join("passwd");
        std::fs::write(
            &file,
            "a:{PLAIN}1\nalice:{PLAIN}x\n#alice:{PLAIN}c\nalice:{PLAIN}y\nalicex:{PLAIN}z\n",
        )
        .unwrap();
        assert!(delete_user(&file, "alice").unwrap());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "a:{PLAIN}1\n#alice:{PLAIN}c\nalicex:{PLAIN}z\n"
        );
        let before = std::fs::metadata(&file).unwrap().ino();
        assert!(!delete_user(&file, "alice").unwrap());
        // Nothing to do: the file is not rewritten.
        assert_eq!(std::fs::metadata(&file).unwrap().ino(), before);
        // Deleting from a missing file: nothing found, nothing created.
        let missing = dir.join("missing");
        assert!(!delete_user(&missing, "alice").unwrap());
        assert!(!missing.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = scratch_dir("errors");
        assert_eq!(
            set_password(&dir.join("p"), "alice", "")
                .unwrap_err()
                .to_string(),
            "refusing an empty password"
        );
        assert_eq!(
            set_password(&dir.join("p"), "a:b", "x")
                .unwrap_err()
                .to_string(),
            "invalid user name \"a:b\": it contains ':'"
        );
        let e = set_password(&dir.join("nodir/p"), "alice", "x").unwrap_err();
        assert!(
            format!("{e:#}").starts_with(&format!("opening {}", dir.join("nodir").display())),
            "{e:#}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn symlinked_file_is_written_through() {
        let dir = scratch_dir("symlink");
        let real = dir.join("real");
        std::fs::write(&real, "bob:{PLAIN}b\n").unwrap();
        let link = dir.join("passwd");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        set_password(&link, "alice", "a").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(PasswordFile::new(&real).verify("alice", b"a").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn argument_parsing() {
        assert_eq!(
            parse_args(&args(&["alice"])).unwrap(),
            PasswdArgs {
                config: PathBuf::from("/etc/imapd.conf"),
                delete: false,
                scheme: Scheme::Argon2id,
                user: "alice".into()
            }
        );
        assert_eq!(
            parse_args(&args(&["--delete", "-C", "/x.conf", "bob"])).unwrap(),
            PasswdArgs {
                config: PathBuf::from("/x.conf"),
                delete: true,
                scheme: Scheme::Argon2id,
                user: "bob".into()
            }
        );
        assert_eq!(
            parse_args(&args(&["--scheme", "scram-sha-256", "carol"])).unwrap(),
            PasswdArgs {
                config: PathBuf::from("/etc/imapd.conf"),
                delete: false,
                scheme: Scheme::Scram(crate::auth::scram::ScramHash::Sha256),
                user: "carol".into()
            }
        );
        for (a, msg) in [
            (&[][..], "no USER given"),
            (&["-C"][..], "-C needs a file"),
            (&["-Cx.conf", "a"][..], "unknown option -Cx.conf"),
            (&["a", "b"][..], "only one USER may be given"),
            (&["-C", "a", "-C", "b", "u"][..], "-C given twice"),
            (&["--help"][..], USAGE),
            (&["--scheme", "MD5", "a"][..], "unknown --scheme MD5"),
            (&["a", "--scheme"][..], "--scheme needs a name"),
        ] {
            let e = parse_args(&args(a)).unwrap_err().to_string();
            assert!(e.starts_with(msg), "{a:?}: {e}");
            assert!(e.ends_with(USAGE), "{a:?}: {e}");
        }
    }

    #[test]
    fn password_line_reading() {
        let read = |s: &[u8]| read_password_line(&mut &s[..]).map_err(|e| e.to_string());
        assert_eq!(read(b"pw\n"), Ok("pw".into()));
        assert_eq!(read(b"pw\r\nignored\n"), Ok("pw".into()));
        assert_eq!(read(b"no newline"), Ok("no newline".into()));
        assert_eq!(read(b" spaces kept \n"), Ok(" spaces kept ".into()));
        assert_eq!(read(b"\n"), Err("refusing an empty password".into()));
        assert_eq!(read(b""), Err("no password on standard input".into()));
        assert_eq!(
            read(b"\xff\n"),
            Err("the password is not valid UTF-8".into())
        );
    }

    #[test]
    fn run_passwd_end_to_end() {
        let dir = scratch_dir("run");
        let conf = dir.join("imapd.conf");
        std::fs::write(
            &conf,
            format!(
                "configdirectory: {}\nimaps_passwd_file: {}/other\n",
                dir.display(),
                dir.display()
            ),
        )
        .unwrap();
        let c = conf.to_str().unwrap();
        let mut out = Vec::new();
        run_passwd_with(
            &args(&["-C", c, "alice"]),
            "imap",
            &mut &b"pw1\n"[..],
            false,
            &mut out,
        )
        .unwrap();
        let file = dir.join("passwd");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("password set for 'alice' in {}\n", file.display())
        );
        assert!(PasswordFile::new(&file).verify("alice", b"pw1").unwrap());

        // The service's override picks another file.
        run_passwd_with(
            &args(&["-C", c, "bob"]),
            "imaps",
            &mut &b"pw2\n"[..],
            false,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(
            PasswordFile::new(dir.join("other"))
                .verify("bob", b"pw2")
                .unwrap()
        );

        // Interactive: asked twice, must match.
        let mut out = Vec::new();
        let e = run_passwd_with(
            &args(&["-C", c, "alice"]),
            "imap",
            &mut &b"a\nb\n"[..],
            true,
            &mut out,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "the passwords differ; nothing changed");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "New password for alice: Retype it: "
        );
        assert!(PasswordFile::new(&file).verify("alice", b"pw1").unwrap());
        run_passwd_with(
            &args(&["-C", c, "alice"]),
            "imap",
            &mut &b"n\nn\n"[..],
            true,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(PasswordFile::new(&file).verify("alice", b"n").unwrap());

        // Empty password refused, file untouched.
        let e = run_passwd_with(
            &args(&["-C", c, "alice"]),
            "imap",
            &mut &b"\n"[..],
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "refusing an empty password");

        // --delete, then deleting again is an error.
        let mut out = Vec::new();
        run_passwd_with(
            &args(&["-C", c, "--delete", "alice"]),
            "imap",
            &mut &b""[..],
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("deleted 'alice' from {}\n", file.display())
        );
        let e = run_passwd_with(
            &args(&["-C", c, "--delete", "alice"]),
            "imap",
            &mut &b""[..],
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("no user 'alice' in {}", file.display())
        );

        // A bad user name is refused before the config or stdin are read.
        let e = run_passwd_with(
            &args(&["-C", "/nonexistent", "a/b"]),
            "imap",
            &mut &b"x\n"[..],
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "invalid user name \"a/b\": it contains '/'");

        // A broken config is reported as such.
        let e = run_passwd_with(
            &args(&["-C", "/nonexistent.conf", "a"]),
            "imap",
            &mut &b"x\n"[..],
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("can't open configuration file /nonexistent.conf")
        );

        // saslauthd sites get a note.
        std::fs::write(
            &conf,
            format!(
                "configdirectory: {}\nsasl_pwcheck_method: saslauthd\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut out = Vec::new();
        run_passwd_with(
            &args(&["-C", c, "carol"]),
            "imap",
            &mut &b"c\n"[..],
            false,
            &mut out,
        )
        .unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("note: "));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        let dir = scratch_dir("concurrent");
        let file = dir.join("passwd");
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let file = file.clone();
                std::thread::spawn(move || set_password(&file, &format!("user{i}"), "pw").unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
