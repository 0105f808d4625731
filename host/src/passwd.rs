//! The password file: `user:{SCHEME}hash` lines, verified by the host.
//!
//! Format (Dovecot's passwd-file, which many sites already have): one user per line,
//! `user:{SCHEME}hash`, optionally followed by more `:`-separated fields
//! (`uid:gid:gecos:home:shell:extra`) that are ignored. `#` comments and blank lines are skipped.
//! A malformed line is reported with its file:line and does not stop other users from logging
//! in. A hash starting with `!` (after any `{SCHEME}`) marks a locked account, as in
//! `/etc/shadow`.
//!
//! Schemes (names case-insensitive):
//! - `{ARGON2ID}` (and `{ARGON2I}`): a PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
//!   What `imapd passwd` writes.
//! - `{SHA512-CRYPT}` `$6$...` and `{SHA256-CRYPT}` `$5$...` (glibc crypt; `rounds=` honoured).
//! - `{BLF-CRYPT}` `$2y$` / `$2b$` / `$2a$` (bcrypt).
//! - `{PLAIN}` (also `{CLEAR}`, `{CLEARTEXT}`): the password itself, compared in constant time.
//! - `{SCRAM-SHA-256}` and `{SCRAM-SHA-1}` in Dovecot's form,
//!   `iterations,salt,StoredKey,ServerKey` (base64): the keys SCRAM (rfc5802, rfc7677) needs,
//!   from which PLAIN and LOGIN are checked too. `imapd passwd --scheme SCRAM-SHA-256` writes
//!   them.
//! - `{CRYPT}` with one of the `$N$` forms above, or any of those hashes with no `{SCHEME}`
//!   prefix at all: recognised by their prefix.
//!
//! Verification is CPU-heavy by design (argon2id takes tens of milliseconds), so the API is
//! synchronous: run it with `tokio::task::spawn_blocking`.

use anyhow::{Context, Result, bail};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Hashes `password` the way new entries are written: `{ARGON2ID}` with the argon2 crate's
/// defaults (m=19456 KiB, t=2, p=1: OWASP's recommendation) and a random 16-byte salt.
pub fn hash_password(password: &[u8]) -> Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| anyhow::anyhow!("encoding argon2 salt: {e}"))?;
    let hash = Argon2::default()
        .hash_password(password, &salt)
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(format!("{{ARGON2ID}}{hash}"))
}

/// The largest argon2 memory cost accepted in the file: 1 GiB (the default is 19 MiB).
const MAX_ARGON2_M_COST: u32 = 1 << 20;

/// A stored password hash whose format has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoredHash {
    /// A PHC string, `$argon2id$...` or `$argon2i$...`.
    Argon2(String),
    /// glibc SHA-crypt: `$6$` (is_512) or `$5$`, with its rounds, salt and encoded hash.
    ShaCrypt {
        is_512: bool,
        rounds: usize,
        salt: String,
        hash: String,
    },
    /// A bcrypt string, `$2y$NN$...`.
    Bcrypt(String),
    Plain(Vec<u8>),
    /// `{SCRAM-SHA-1}` / `{SCRAM-SHA-256}`.
    Scram(crate::auth::scram::StoredKeys),
}

/// What a password file line says about its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Hash(StoredHash),
    /// `!` hash: the account exists but may not log in.
    Locked,
    /// The line names the user but its hash cannot be used; the message says why (with
    /// file:line).
    Broken(String),
}

/// Parses the hash field of a line (everything between the first and second `:`).
fn parse_hash_field(field: &[u8]) -> Result<Option<StoredHash>, String> {
    let (scheme, hash) = match field.strip_prefix(b"{") {
        Some(rest) => {
            let close = rest
                .iter()
                .position(|b| *b == b'}')
                .ok_or("'{' without '}' in the scheme")?;
            let scheme = std::str::from_utf8(&rest[..close])
                .map_err(|_| "scheme name is not UTF-8")?
                .to_ascii_uppercase();
            (Some(scheme), &rest[close + 1..])
        }
        None => (None, field),
    };
    if hash.starts_with(b"!") {
        return Ok(None);
    }
    if matches!(scheme.as_deref(), Some("PLAIN" | "CLEAR" | "CLEARTEXT")) {
        if hash.is_empty() {
            return Err("empty password".to_string());
        }
        return Ok(Some(StoredHash::Plain(hash.to_vec())));
    }
    let hash = std::str::from_utf8(hash).map_err(|_| "hash is not ASCII")?;
    if let Some(s @ ("SCRAM-SHA-1" | "SCRAM-SHA-256")) = scheme.as_deref() {
        let (kind, _) = crate::auth::scram::ScramHash::from_mechanism(s).ok_or("scheme")?;
        return crate::auth::scram::StoredKeys::parse(kind, hash)
            .map(|k| Some(StoredHash::Scram(k)))
            .map_err(|e| format!("bad {{{s}}} entry: {e}"));
    }
    let hash = match scheme.as_deref() {
        None if hash.is_empty() => return Err("empty password field".to_string()),
        None => detect(hash)
            .map_err(|e| format!("unrecognised hash without a {{SCHEME}} prefix: {e}"))?,
        Some("CRYPT") => detect(hash).map_err(|e| format!("unsupported {{CRYPT}} hash: {e}"))?,
        Some(s @ ("ARGON2ID" | "ARGON2I" | "SHA512-CRYPT" | "SHA256-CRYPT" | "BLF-CRYPT")) => {
            let prefix = match s {
                "ARGON2ID" => "$argon2id$",
                "ARGON2I" => "$argon2i$",
                "SHA512-CRYPT" => "$6$",
                "SHA256-CRYPT" => "$5$",
                _ => "$2",
            };
            if !hash.starts_with(prefix) {
                return Err(format!("{{{s}}} hash does not start with {prefix}"));
            }
            detect(hash).map_err(|e| format!("bad {{{s}}} hash: {e}"))?
        }
        Some(other) => {
            return Err(format!(
                "unsupported password scheme {{{other}}} (supported: ARGON2ID, ARGON2I, \
                 SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, \
                 CRYPT)"
            ));
        }
    };
    Ok(Some(hash))
}

/// Recognises a hash by its `$id$` prefix and checks its format.
fn detect(hash: &str) -> Result<StoredHash, String> {
    if hash.starts_with("$argon2id$") || hash.starts_with("$argon2i$") {
        let phc = PasswordHash::new(hash).map_err(|e| format!("not a PHC string: {e}"))?;
        let params = Params::try_from(&phc).map_err(|e| format!("bad argon2 parameters: {e}"))?;
        // Verification allocates m KiB; a typo must not make the process abort on allocation.
        if params.m_cost() > MAX_ARGON2_M_COST {
            return Err(format!(
                "argon2 memory cost m={} KiB is above the limit of {MAX_ARGON2_M_COST} KiB",
                params.m_cost()
            ));
        }
        if phc.salt.is_none() || phc.hash.is_none() {
            return Err("argon2 string lacks salt or hash".to_string());
        }
        return Ok(StoredHash::Argon2(hash.to_string()));
    }
    if let Some(rest) = hash.strip_prefix("$6$") {
        return parse_sha_crypt(rest, true);
    }
    if let Some(rest) = hash.strip_prefix("$5$") {
        return parse_sha_crypt(rest, false);
    }
    if hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$") {
        // `$2y$NN$` + 22 salt + 31 hash characters.
        let cost: u32 = hash
            .get(4..6)
            .and_then(|c| c.parse().ok())
            .ok_or("bcrypt cost is not two digits")?;
        if !(4..=31).contains(&cost) || hash.len() != 60 || hash.as_bytes()[6] != b'$' {
            return Err("malformed bcrypt hash".to_string());
        }
        if !hash[7..].bytes().all(is_crypt_b64) {
            return Err("bcrypt hash has characters outside its alphabet".to_string());
        }
        return Ok(StoredHash::Bcrypt(hash.to_string()));
    }
    let shown: String = hash.chars().take(4).collect();
    Err(format!(
        "'{shown}...' is none of $argon2id$, $argon2i$, $6$, $5$, $2y$, $2b$, $2a$"
    ))
}

/// The crypt base-64 alphabet (`./0-9A-Za-z`).
fn is_crypt_b64(b: u8) -> bool {
    b == b'.' || b == b'/' || b.is_ascii_alphanumeric()
}

/// `[rounds=N$]salt$hash` after `$6$` or `$5$`.
fn parse_sha_crypt(rest: &str, is_512: bool) -> Result<StoredHash, String> {
    let mut parts: Vec<&str> = rest.split('$').collect();
    let mut rounds = sha_crypt::ROUNDS_DEFAULT;
    if let Some(r) = parts.first().and_then(|p| p.strip_prefix("rounds=")) {
        let n: usize = r.parse().map_err(|_| "rounds= is not a number")?;
        // glibc clamps rounds to [1000, 999999999] (Drepper's SHA-crypt spec).
        rounds = n.clamp(sha_crypt::ROUNDS_MIN, sha_crypt::ROUNDS_MAX);
        parts.remove(0);
    }
    let [salt, hash] = parts[..] else {
        return Err("expected $salt$hash".to_string());
    };
    let want = if is_512 { 86 } else { 43 };
    if hash.len() != want || !hash.bytes().all(is_crypt_b64) {
        return Err(format!("hash part must be {want} crypt base-64 characters"));
    }
    // crypt uses at most 16 salt characters.
    let salt: String = salt.chars().take(16).collect();
    Ok(StoredHash::ShaCrypt {
        is_512,
        rounds,
        salt,
        hash: hash.to_string(),
    })
}

/// Constant-time equality (the length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

impl StoredHash {
    /// Checks `password`. An error means the stored hash could not be evaluated.
    pub(crate) fn verify(&self, password: &[u8]) -> Result<bool, String> {
        match self {
            StoredHash::Argon2(s) => {
                let phc = PasswordHash::new(s).map_err(|e| e.to_string())?;
                match Argon2::default().verify_password(password, &phc) {
                    Ok(()) => Ok(true),
                    Err(argon2::password_hash::Error::Password) => Ok(false),
                    Err(e) => Err(format!("argon2: {e}")),
                }
            }
            StoredHash::ShaCrypt {
                is_512,
                rounds,
                salt,
                hash,
            } => {
                let computed = if *is_512 {
                    let params =
                        sha_crypt::Sha512Params::new(*rounds).map_err(|e| format!("{e:?}"))?;
                    sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &params)
                } else {
                    let params =
                        sha_crypt::Sha256Params::new(*rounds).map_err(|e| format!("{e:?}"))?;
                    sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &params)
                }
                .map_err(|e| format!("sha-crypt: {e:?}"))?;
                Ok(ct_eq(computed.as_bytes(), hash.as_bytes()))
            }
            StoredHash::Bcrypt(s) => bcrypt::verify(password, s).map_err(|e| e.to_string()),
            StoredHash::Plain(p) => Ok(ct_eq(
                &Sha256::digest(password),
                &Sha256::digest(p.as_slice()),
            )),
            StoredHash::Scram(keys) => Ok(keys.verify_password(password)),
        }
    }
}

/// An argon2id hash of a random password, verified for unknown and locked users so that
/// their answer takes as long as a real user's (no timing oracle for user names).
fn dummy_hash() -> &'static StoredHash {
    static DUMMY: OnceLock<StoredHash> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let password: [u8; 16] = rand::random();
        let hash = hash_password(&password)
            .ok()
            .and_then(|h| h.strip_prefix("{ARGON2ID}").map(String::from));
        match hash {
            Some(h) => StoredHash::Argon2(h),
            // Cannot happen with the default parameters; still costs a hash when used.
            None => StoredHash::Plain(password.to_vec()),
        }
    })
}

/// Identity of a file version: when any of these changes, the file is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// One parsed version of the file.
#[derive(Debug)]
pub(crate) struct Snapshot {
    stamp: Stamp,
    pub(crate) users: HashMap<String, Entry>,
    /// Malformed lines and duplicates, each starting with file:line.
    pub(crate) warnings: Vec<String>,
}

pub(crate) fn parse_file(path: &Path, bytes: &[u8], stamp: Stamp) -> Snapshot {
    let mut users: HashMap<String, (usize, Entry)> = HashMap::new();
    let mut warnings = Vec::new();
    let shown = path.display();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let first = line.iter().position(|b| !b.is_ascii_whitespace());
        let Some(first) = first else { continue };
        if line[first] == b'#' {
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            warnings.push(format!(
                "{shown}:{n}: missing ':' between user and password"
            ));
            continue;
        };
        let Ok(user) = std::str::from_utf8(&line[..colon]) else {
            warnings.push(format!("{shown}:{n}: user name is not UTF-8"));
            continue;
        };
        if user.is_empty() {
            warnings.push(format!("{shown}:{n}: empty user name"));
            continue;
        }
        let rest = &line[colon + 1..];
        let field = rest.split(|b| *b == b':').next().unwrap_or_default();
        let entry = match parse_hash_field(field) {
            Ok(Some(h)) => Entry::Hash(h),
            Ok(None) => Entry::Locked,
            Err(e) => {
                let msg = format!("{shown}:{n}: user '{user}': {e}");
                warnings.push(msg.clone());
                Entry::Broken(msg)
            }
        };
        if let Some((first_line, _)) = users.get(user) {
            warnings.push(format!(
                "{shown}:{n}: duplicate entry for user '{user}' ignored (line {first_line} is used)"
            ));
            continue;
        }
        users.insert(user.to_string(), (n, entry));
    }
    Snapshot {
        stamp,
        users: users.into_iter().map(|(u, (_, e))| (u, e)).collect(),
        warnings,
    }
}

/// The password file, parsed once and re-read whenever it changes on disk (inode, size or
/// mtime), so `imapd passwd` takes effect without a restart.
#[derive(Debug)]
pub struct PasswordFile {
    path: PathBuf,
    cache: Mutex<Option<Arc<Snapshot>>>,
}

impl PasswordFile {
    /// Does not touch the file yet; the first [`verify`](Self::verify) or
    /// [`check`](Self::check) reads it.
    pub fn new(path: impl Into<PathBuf>) -> PasswordFile {
        PasswordFile {
            path: path.into(),
            cache: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current version of the file, read again if it changed.
    fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let context = || format!("password file {}", self.path.display());
        let meta = std::fs::metadata(&self.path).with_context(context)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.as_ref()
            && s.stamp == Stamp::of(&meta)
        {
            return Ok(Arc::clone(s));
        }
        // Stamp the version we actually read: fstat the open file, not the path.
        let mut file = std::fs::File::open(&self.path).with_context(context)?;
        let stamp = Stamp::of(&file.metadata().with_context(context)?);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).with_context(context)?;
        let snapshot = Arc::new(parse_file(&self.path, &bytes, stamp));
        *cache = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// Reads the file (if changed) and returns its problems: malformed lines, unsupported
    /// schemes, duplicates, each as `file:line: ...`. For logging at startup.
    pub fn check(&self) -> Result<Vec<String>> {
        Ok(self.snapshot()?.warnings.clone())
    }

    /// `user`'s SCRAM credentials for `hash`, if the file has them. `Ok(None)` for an unknown
    /// or locked user, or one whose entry is of another scheme (the exchange then runs on
    /// credentials nothing matches, see `StoredKeys::unusable`). Blocking: `spawn_blocking`.
    pub fn scram_keys(
        &self,
        user: &str,
        hash: crate::auth::scram::ScramHash,
    ) -> Result<Option<crate::auth::scram::StoredKeys>> {
        let snapshot = self.snapshot()?;
        Ok(match snapshot.users.get(user) {
            Some(Entry::Hash(StoredHash::Scram(k))) if k.hash == hash => Some(k.clone()),
            Some(Entry::Broken(msg)) => bail!("{msg}"),
            _ => None,
        })
    }

    /// Whether `password` is `user`'s password. `Ok(false)` for a wrong password, an unknown
    /// user or a locked account, each after the same amount of hashing work. `Err` when the
    /// file cannot be read, or the user's own line is unusable (the message has file:line);
    /// the caller answers `NO [UNAVAILABLE]`. Blocking and CPU-heavy: use `spawn_blocking`.
    pub fn verify(&self, user: &str, password: &[u8]) -> Result<bool> {
        let snapshot = self.snapshot()?;
        match snapshot.users.get(user) {
            Some(Entry::Hash(h)) => h.verify(password).map_err(|e| {
                anyhow::anyhow!("password file {}: user '{user}': {e}", self.path.display())
            }),
            Some(Entry::Broken(msg)) => {
                let _ = dummy_hash().verify(password);
                bail!("{msg}")
            }
            Some(Entry::Locked) | None => {
                let _ = dummy_hash().verify(password);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn scratch_dir(tag: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imapd-passwd-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    // Known answers from other implementations:
    // `openssl passwd -6 -salt saltsalt secret`
    const SHA512_SECRET: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
    // `openssl passwd -5 -salt saltsalt secret`
    const SHA256_SECRET: &str = "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA";
    // glibc/libxcrypt `crypt("secret", "$6$rounds=1000$saltsalt")` (Python's crypt module)
    const SHA512_ROUNDS_SECRET: &str = "$6$rounds=1000$saltsalt$LAV5VE5Y7w1d73x1mFNspYWUpazfmwv2SoepNXNKJ/otop/Zok96Hr8Q13LEv0DRY/x8v0/crpIjl8NJSAqXV/";
    // libxcrypt `crypt("pässwörd", "$6$saltsalt")`: UTF-8 bytes
    const SHA512_UTF8: &str = "$6$saltsalt$TQjRhpJdqmLx0U8it3EsUajwkmOMMvw5vhUFc7mohzFFoj/QHrfYUHU1oSkwyCEoTUCDOiAOW135nel3bqtKe.";
    // libxcrypt with a 20-character salt: crypt truncates it to 16.
    const SHA512_LONG_SALT: &str = "$6$saltsaltsaltsalt$ph0yGsyjzqdeFaon7.gJZo8eAG5/rj9/JdzOu1Rl7dKzBYg3xgvl7T2VQ2Rt81bc5AXkdA54r0p8QvC1omD6R1";
    // libxcrypt `crypt("secret", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.")`
    const BCRYPT_SECRET: &str = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.pIKrLVkBX9/OvQMSygY1pWEVn72t6na";
    // The classic crypt_blowfish test vector: "U*U"
    const BCRYPT_UU: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

    fn entry(field: &str) -> Result<Option<StoredHash>, String> {
        parse_hash_field(field.as_bytes())
    }

    fn verifies(field: &str, password: &str) -> bool {
        match entry(field) {
            Ok(Some(h)) => h.verify(password.as_bytes()).unwrap(),
            other => panic!("{field}: {other:?}"),
        }
    }

    #[test]
    fn sha_crypt_known_answers() {
        for field in [
            format!("{{SHA512-CRYPT}}{SHA512_SECRET}"),
            format!("{{sha512-crypt}}{SHA512_SECRET}"),
            format!("{{CRYPT}}{SHA512_SECRET}"),
            SHA512_SECRET.to_string(),
            format!("{{SHA256-CRYPT}}{SHA256_SECRET}"),
            format!("{{CRYPT}}{SHA256_SECRET}"),
            SHA256_SECRET.to_string(),
            SHA512_ROUNDS_SECRET.to_string(),
            SHA512_LONG_SALT.to_string(),
        ] {
            assert!(verifies(&field, "secret"), "{field}");
            assert!(!verifies(&field, "Secret"), "{field}");
            assert!(!verifies(&field, ""), "{field}");
        }
        assert!(verifies(SHA512_UTF8, "pässwörd"));
        assert!(!verifies(SHA512_UTF8, "passwort"));
    }

    #[test]
    fn sha_crypt_rounds_are_clamped_like_glibc() {
        let h = entry("$5$rounds=10$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA")
            .unwrap()
            .unwrap();
        assert!(matches!(h, StoredHash::ShaCrypt { rounds: 1000, .. }));
    }

    #[test]
    fn bcrypt_known_answers() {
        for field in [
            format!("{{BLF-CRYPT}}{BCRYPT_SECRET}"),
            format!("{{CRYPT}}{BCRYPT_SECRET}"),
            BCRYPT_SECRET.to_string(),
            BCRYPT_SECRET.replacen("$2b$", "$2y$", 1),
        ] {
            assert!(verifies(&field, "secret"), "{field}");
            assert!(!verifies(&field, "secreT"), "{field}");
        }
        assert!(verifies(BCRYPT_UU, "U*U"));
        assert!(!verifies(BCRYPT_UU, "U*U*"));
    }

    #[test]
    fn argon2_round_trip_and_default_scheme() {
        let field = hash_password(b"correct horse").unwrap();
        assert!(
            field.starts_with("{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$"),
            "{field}"
        );
        assert!(verifies(&field, "correct horse"));
        assert!(!verifies(&field, "correct horse "));
        // Bare PHC string, lower-case scheme name.
        let bare = field.strip_prefix("{ARGON2ID}").unwrap();
        assert!(verifies(bare, "correct horse"));
        assert!(verifies(&format!("{{argon2id}}{bare}"), "correct horse"));
        // Salts are random.
        assert_ne!(hash_password(b"x").unwrap(), hash_password(b"x").unwrap());
        // argon2i, with small parameters.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let a2i = Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw", &salt)
        .unwrap()
        .to_string();
        assert!(verifies(&format!("{{ARGON2I}}{a2i}"), "pw"));
        assert!(!verifies(&a2i, "pW"));
        assert_eq!(
            entry(&format!("{{ARGON2ID}}{a2i}")),
            Err("{ARGON2ID} hash does not start with $argon2id$".to_string())
        );
    }

    #[test]
    fn plain_is_compared_exactly() {
        assert!(verifies("{PLAIN}s3cret", "s3cret"));
        assert!(verifies("{plain}s3cret", "s3cret"));
        assert!(verifies("{CLEARTEXT}s3cret", "s3cret"));
        assert!(!verifies("{PLAIN}s3cret", "s3cre"));
        assert!(!verifies("{PLAIN}s3cret", "s3cret "));
        assert!(!verifies("{PLAIN}s3cret", "S3CRET"));
        assert_eq!(entry("{PLAIN}"), Err("empty password".to_string()));
    }

    #[test]
    fn bad_hash_fields_are_explained() {
        assert_eq!(
            entry("{SSHA}abcd"),
            Err(
                "unsupported password scheme {SSHA} (supported: ARGON2ID, ARGON2I, \
                 SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, \
                 CRYPT)"
                    .to_string()
            )
        );
        assert_eq!(
            entry("{CRYPT}abJnggxhB/yWI"),
            Err(
                "unsupported {CRYPT} hash: 'abJn...' is none of $argon2id$, $argon2i$, $6$, \
                 $5$, $2y$, $2b$, $2a$"
                    .to_string()
            )
        );
        assert_eq!(
            entry("$1$salt$hash"),
            Err(
                "unrecognised hash without a {SCHEME} prefix: '$1$s...' is none of \
                 $argon2id$, $argon2i$, $6$, $5$, $2y$, $2b$, $2a$"
                    .to_string()
            )
        );
        assert_eq!(entry(""), Err("empty password field".to_string()));
        assert_eq!(
            entry("{PLAIN"),
            Err("'{' without '}' in the scheme".to_string())
        );
        assert_eq!(
            entry(&format!("{{SHA256-CRYPT}}{SHA512_SECRET}")),
            Err("{SHA256-CRYPT} hash does not start with $5$".to_string())
        );
        assert_eq!(
            entry("{SHA512-CRYPT}$6$salt$tooshort"),
            Err(
                "bad {SHA512-CRYPT} hash: hash part must be 86 crypt base-64 characters"
                    .to_string()
            )
        );
        assert_eq!(
            entry("$6$rounds=x$salt$h"),
            Err("unrecognised hash without a {SCHEME} prefix: rounds= is not a number".into())
        );
        assert_eq!(
            entry(&BCRYPT_SECRET[..50]),
            Err("unrecognised hash without a {SCHEME} prefix: malformed bcrypt hash".into())
        );
        assert_eq!(
            entry("{ARGON2ID}$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"),
            Err("bad {ARGON2ID} hash: bad argon2 parameters: invalid parameter value: value to short".into())
        );
        assert!(entry("$argon2id$garbage").is_err());
        assert_eq!(
            entry("$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"),
            Err(
                "unrecognised hash without a {SCHEME} prefix: argon2 memory cost m=4194304 KiB \
                 is above the limit of 1048576 KiB"
                    .into()
            )
        );
        // `!` locks the account, with or without a scheme.
        assert_eq!(entry("!"), Ok(None));
        assert_eq!(
            entry(&format!("{{SHA512-CRYPT}}!{SHA512_SECRET}")),
            Ok(None)
        );
    }

    #[test]
    fn file_lines_comments_extra_fields_and_problems() {
        let dir = scratch_dir("file");
        let path = dir.join("passwd");
        std::fs::write(
            &path,
            format!(
                "# users\n\
                 \n\
                 alice:{{SHA512-CRYPT}}{SHA512_SECRET}:1000:1000:Alice:/home/alice:/bin/sh:extra\n\
                 \x20  # indented comment\n\
                 bob:{{PLAIN}}hunter2\r\n\
                 no colon here\n\
                 carol:{{MD5}}abc\n\
                 dave:!{SHA256_SECRET}\n\
                 bob:{{PLAIN}}other\n\
                 :{{PLAIN}}x\n\
                 erin:{BCRYPT_SECRET}"
            ),
        )
        .unwrap();
        let pf = PasswordFile::new(&path);
        let p = path.display();
        assert_eq!(
            pf.check().unwrap(),
            [
                format!("{p}:6: missing ':' between user and password"),
                format!(
                    "{p}:7: user 'carol': unsupported password scheme {{MD5}} (supported: \
                     ARGON2ID, ARGON2I, SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, SCRAM-SHA-256, \
                     SCRAM-SHA-1, PLAIN, CRYPT)"
                ),
                format!("{p}:9: duplicate entry for user 'bob' ignored (line 5 is used)"),
                format!("{p}:10: empty user name"),
            ]
        );
        assert!(pf.verify("alice", b"secret").unwrap());
        assert!(!pf.verify("alice", b"wrong").unwrap());
        assert!(pf.verify("bob", b"hunter2").unwrap());
        assert!(!pf.verify("bob", b"other").unwrap());
        assert!(pf.verify("erin", b"secret").unwrap());
        // A locked account: the right password does not help.
        assert!(!pf.verify("dave", b"secret").unwrap());
        // Unknown users, and names that only resemble real ones.
        assert!(!pf.verify("mallory", b"secret").unwrap());
        assert!(!pf.verify("Alice", b"secret").unwrap());
        assert!(!pf.verify("", b"x").unwrap());
        // The broken line is an error for carol alone, naming the line.
        let e = pf.verify("carol", b"abc").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{p}:7: user 'carol': unsupported")),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reread_when_the_file_changes() {
        let dir = scratch_dir("reread");
        let path = dir.join("passwd");
        std::fs::write(&path, "alice:{PLAIN}one\n").unwrap();
        let pf = PasswordFile::new(&path);
        assert!(pf.verify("alice", b"one").unwrap());
        // Same size, replaced by rename (new inode): as `imapd passwd` does.
        let tmp = dir.join("tmp");
        std::fs::write(&tmp, "alice:{PLAIN}two\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert!(pf.verify("alice", b"two").unwrap());
        assert!(!pf.verify("alice", b"one").unwrap());
        // Edited in place, different size.
        std::fs::write(&path, "alice:{PLAIN}three\nbob:{PLAIN}b\n").unwrap();
        assert!(pf.verify("alice", b"three").unwrap());
        assert!(pf.verify("bob", b"b").unwrap());
        // Unchanged: the cached snapshot is reused.
        let a = pf.snapshot().unwrap();
        let b = pf.snapshot().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unreadable_file_is_an_error_with_the_path() {
        let dir = scratch_dir("missing");
        let path = dir.join("nope");
        let pf = PasswordFile::new(&path);
        let e = format!("{:#}", pf.verify("alice", b"x").unwrap_err());
        assert!(
            e.starts_with(&format!("password file {}: ", path.display())),
            "{e}"
        );
        // A directory cannot be read as a file either.
        let pf = PasswordFile::new(&dir);
        let e = format!("{:#}", pf.verify("alice", b"x").unwrap_err());
        assert!(
            e.starts_with(&format!("password file {}: ", dir.display())),
            "{e}"
        );
        // The file disappearing after a successful read is an error too, not stale data.
        std::fs::write(&path, "alice:{PLAIN}x\n").unwrap();
        let pf = PasswordFile::new(&path);
        assert!(pf.verify("alice", b"x").unwrap());
        std::fs::remove_file(&path).unwrap();
        assert!(pf.verify("alice", b"x").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_user_costs_a_hash() {
        let dir = scratch_dir("timing");
        let path = dir.join("passwd");
        std::fs::write(
            &path,
            hash_password(b"pw")
                .map(|h| format!("alice:{h}\n"))
                .unwrap(),
        )
        .unwrap();
        let pf = PasswordFile::new(&path);
        let _ = dummy_hash(); // created once, not part of the measurement
        let time = |user: &str| {
            let t = std::time::Instant::now();
            for _ in 0..3 {
                let _ = pf.verify(user, b"wrong");
            }
            t.elapsed()
        };
        let known = time("alice");
        let unknown = time("nobody");
        // Same argon2 parameters: within a factor of 3 of each other, and not free.
        assert!(unknown * 3 > known, "known {known:?} unknown {unknown:?}");
        assert!(known * 3 > unknown, "known {known:?} unknown {unknown:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn non_utf8_bytes_do_not_panic() {
        let dir = scratch_dir("bytes");
        let path = dir.join("passwd");
        std::fs::write(
            &path,
            b"\xff\xfe:{PLAIN}x\nok:{PLAIN}\xe9t\xe9\nz:{\xff}y\n",
        )
        .unwrap();
        let pf = PasswordFile::new(&path);
        assert_eq!(pf.check().unwrap().len(), 2);
        assert!(pf.verify("ok", b"\xe9t\xe9").unwrap());
        assert!(!pf.verify("ok", "été".as_bytes()).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
