//! The bodies of the host's fuzz targets (`fuzz/`, `make fuzz`), here so
//! that the libFuzzer harnesses and the replay tests run the very same
//! code: `cargo test -p imapd` feeds every committed corpus file and crash
//! reproducer through them (`tests` below). The host must answer any input
//! with an error, never a panic: a panic here is a bug.
//!
//! Each target covers one source of bytes; where it has several parsers,
//! the first input byte picks one (its value modulo their number), and
//! fields within an input are separated by NUL bytes.
//!
//! - [`host_config`]: imapd.conf (optionally `service NUL text`), through
//!   every accessor and the server's options and guest settings;
//! - [`host_passwd`]: the password file (`file NUL password NUL user`):
//!   every line and hash scheme parsed, each cheap hash verified, and
//!   `imapd passwd`'s rewrite of the file (set and delete a user);
//! - [`host_sasl`]: the SASL the host decodes itself: a SCRAM exchange
//!   (client-first and client-final messages, with and without channel
//!   binding), EXTERNAL (a client certificate and the authorization
//!   identity), and saslauthd's answers;
//! - [`host_master`]: what the process starts with: the command lines of
//!   `imapd`, `imapd swap` and `imapd passwd`, systemd's `LISTEN_FDS`,
//!   `LISTEN_PID` and `LISTEN_FDNAMES`, `debug_command`'s substitutions
//!   (`-D` under master(8)) and the peer names the log shows;
//! - [`host_wire`]: client bytes the host decodes itself: COMPRESS=DEFLATE
//!   input (arbitrary, and valid streams cut anywhere with hibernation in
//!   between, which must come out exactly), and the metrics listener's HTTP
//!   request head;
//! - [`host_guest_bytes`]: what a guest or another imapd process wrote for
//!   the host to read: the strings of the guest's host calls (log lines,
//!   command names, login arguments, mailbox paths to lock and watch), the
//!   stats files of processes under master(8), the login registry's
//!   entries, and the control socket's reports (`imapd status`).
//!
//! The host stores session snapshots (hibernation, `imapd swap`) without
//! reading them; the guest that restores one parses it (the guest target
//! `snapshot_restore`).

use std::path::Path;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::auth::scram::{self, ChannelBindings, ScramHash, ScramServer, StoredKeys};
use crate::passwd::{Entry, StoredHash};

#[path = "../../fuzz/shared.rs"]
mod shared;
use shared::Tree;

/// The NUL-separated fields of `data`, at most `n` (the last takes the rest).
fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    data.splitn(n, |b| *b == 0).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One runtime for the async parts, as a connection's task would run them.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
    }
    RT.with(|rt| rt.block_on(f))
}

// ---------------------------------------------------------------------------------------------
// imapd.conf

/// Whether `text` has an `@include` line (after joining continued lines):
/// those read files, which a fuzzer could point at `/dev/zero`.
fn includes_a_file(text: &str) -> bool {
    text.replace("\\\r\n", "")
        .replace("\\\n", "")
        .to_ascii_lowercase()
        .contains("@include")
}

/// imapd.conf text, `service NUL text` for another service than `imap`
/// (its `<service>_<option>` overrides); `@include` is left out.
pub fn host_config(data: &[u8]) {
    let all = text(data);
    let (service, conf) = match all.split_once('\0') {
        Some((s, t)) if s.len() <= 32 => (s, t),
        _ => ("imap", all.as_str()),
    };
    if includes_a_file(conf) {
        return;
    }
    let Ok(c) = crate::config::Config::parse_str(conf, "fuzz/imapd.conf", service) else {
        return;
    };
    let _ = (c.file(), c.service(), c.get_raw("configdirectory"));
    let _ = (c.guest_options(), c.origin("servername"), c.partitions());
    let _ = (c.default_partition().is_ok(), c.servername());
    let _ = c.log_settings(service).is_ok();
    let _ = (c.syslog_prefix(), c.serverinfo(), c.allowplaintext());
    let _ = (c.tls_required(), c.tls_server_cert(), c.tls_server_key());
    let _ = (c.tls_configured(), c.tls_versions(), c.tls_client_ca_file());
    let _ = (c.tls_client_certs(), c.timeout(), c.imapidlepoll());
    let _ = (c.idle_keepalive(), c.idle_hibernate(), c.login_timeout());
    let _ = (
        c.imapidletimeout(),
        c.sasl_pwcheck_method(),
        c.sasl_mech_list(),
    );
    let _ = (
        c.sasl_saslauthd_path(),
        c.passwd_file(),
        c.failedloginpause(),
    );
    let _ = (
        c.maxword(),
        c.maxquoted(),
        c.maxliteral(),
        c.maxmessagesize(),
    );
    let _ = (c.admins(), c.is_admin("alice"), c.suppress_capabilities());
    let _ = (c.autocreate_inbox_folders(), c.maxlogins_per_user());
    let _ = (c.maxlogins_per_host(), c.umask(), c.unixhierarchysep());
    let _ = (c.altnamespace(), c.guest_module(), c.guest_module_path());
    let _ = (c.guest_module_sha256().is_ok(), c.guest_cache_dir());
    let _ = (
        c.session_memory_limit(),
        c.session_cpu_limit(),
        c.max_sessions(),
    );
    let _ = (c.prometheus_enabled(), c.prometheus_listen().is_ok());
    if let Some(t) = c.debug_command() {
        let _ = crate::master::debug_command_line(t, ["imapd", "4242", service]);
    }
    if let Ok(o) = crate::server::Options::from_config(&c) {
        let _ = crate::ops::status::Limits::of(&o);
        let _ = o.settings("fuzz-1");
    }
}

// ---------------------------------------------------------------------------------------------
// The password file

/// Whether checking a password against `h` costs at most a few
/// milliseconds (the file may ask for seconds: that is its owner's call).
fn cheap(h: &StoredHash) -> bool {
    match h {
        StoredHash::Argon2(s) => argon2::password_hash::PasswordHash::new(s)
            .ok()
            .and_then(|p| argon2::Params::try_from(&p).ok())
            .is_some_and(|p| p.m_cost() <= 64 && p.t_cost() <= 2 && p.p_cost() <= 2),
        StoredHash::ShaCrypt { rounds, .. } => *rounds <= 1000,
        StoredHash::Bcrypt(s) => s.get(4..6).is_some_and(|c| c <= "05"),
        StoredHash::Plain(_) => true,
        StoredHash::Scram(k) => k.iterations <= scram::MIN_ITERATIONS,
    }
}

/// An entry with the line numbers of its message left out (a rewrite
/// moves lines).
fn kind_of(e: &Entry) -> Option<&StoredHash> {
    match e {
        Entry::Hash(h) => Some(h),
        Entry::Locked | Entry::Broken(_) => None,
    }
}

/// A password file (`file NUL password NUL user`): parsed, each cheap hash
/// checked against `password`, then `user`'s password set and deleted as
/// `imapd passwd` does, which must change that user only.
pub fn host_passwd(data: &[u8]) {
    let f = fields(data, 3);
    let file = f[0];
    let password = f.get(1).copied().unwrap_or(&b"secret"[..]);
    let path = Path::new("fuzz/passwd");
    let parsed = crate::passwd::parse_file(path, file, Default::default());
    for entry in parsed.users.values() {
        if let Some(h) = kind_of(entry).filter(|h| cheap(h)) {
            let _ = h.verify(password);
        }
    }
    let Some(user) = f.get(2).map(|u| text(u)) else {
        return;
    };
    if crate::admin::validate_user(&user).is_err() {
        return;
    }
    let others_unchanged = |after: &crate::passwd::Snapshot, what: &str| {
        for (u, e) in &parsed.users {
            if *u != user {
                assert_eq!(
                    after.users.get(u).map(kind_of),
                    Some(kind_of(e)),
                    "{what} of {user:?} changed the entry of {u:?}"
                );
            }
        }
    };
    let set = crate::admin::set_line(file, &user, "{PLAIN}fuzz");
    let after = crate::passwd::parse_file(path, &set, Default::default());
    assert_eq!(
        after.users.get(&user),
        Some(&Entry::Hash(StoredHash::Plain(b"fuzz".to_vec()))),
        "setting {user:?}'s password"
    );
    others_unchanged(&after, "setting the password");
    let (deleted, _) = crate::admin::delete_lines(file, &user);
    let after = crate::passwd::parse_file(path, &deleted, Default::default());
    assert!(!after.users.contains_key(&user), "deleting {user:?}");
    others_unchanged(&after, "deleting");
}

// ---------------------------------------------------------------------------------------------
// SASL

/// The password of the SCRAM credentials the fuzzed exchanges run against.
const SCRAM_PASSWORD: &[u8] = b"pencil";

/// rfc5802 5 (SHA-1) and rfc7677 3 (SHA-256): salt and server nonce, so
/// that the RFCs' exchanges are seeds that succeed.
fn scram_example(hash: ScramHash) -> (&'static str, &'static str) {
    match hash {
        ScramHash::Sha1 => ("QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j"),
        ScramHash::Sha256 => ("W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"),
    }
}

/// The credentials for `pencil` (derived once: 4096 iterations each).
fn scram_keys(hash: ScramHash) -> StoredKeys {
    use base64::Engine as _;
    static KEYS: std::sync::OnceLock<[StoredKeys; 2]> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [ScramHash::Sha1, ScramHash::Sha256].map(|h| {
            let salt = base64::engine::general_purpose::STANDARD
                .decode(scram_example(h).0)
                .expect("the RFC's salt");
            StoredKeys::derive(h, SCRAM_PASSWORD, &salt, scram::MIN_ITERATIONS)
        })
    });
    keys[matches!(hash, ScramHash::Sha256) as usize].clone()
}

/// The channel bindings of the fuzzed connection.
const EXPORTER: &[u8] = b"exporter-keying-material-32-byte";
const END_POINT: &[u8] = b"end-point-hash";

/// A SCRAM exchange: `flags client-first NUL client-final`; the flags'
/// bits: SHA-256, a -PLUS mechanism, a `tls-exporter` and a
/// `tls-server-end-point` binding available, -PLUS offered.
fn sasl_scram(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let hash = if flags & 1 != 0 {
        ScramHash::Sha256
    } else {
        ScramHash::Sha1
    };
    let plus = flags & 2 != 0;
    let bindings = ChannelBindings {
        exporter: (flags & 4 != 0).then(|| EXPORTER.to_vec()),
        end_point: (flags & 8 != 0).then(|| END_POINT.to_vec()),
    };
    let plus_offered = flags & 16 != 0;
    let f = fields(rest, 2);
    let Ok(first) = scram::client_first(f[0], plus, &bindings, plus_offered) else {
        return;
    };
    let server = ScramServer::with_nonce(first, scram_keys(hash), &bindings, scram_example(hash).1);
    let _ = server.server_first();
    if let Some(last) = f.get(1) {
        let _ = server.client_final(last);
    }
}

/// EXTERNAL: `n authzid[n] certificate-DER`.
fn sasl_external(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (authzid, der) = rest.split_at((n as usize).min(rest.len()));
    if let Some(user) = crate::auth::external::certificate_user(der) {
        assert!(crate::auth::valid_user_name(&user), "{user:?}");
        let _ = crate::auth::external::authorize(&user, authzid);
    }
    let _ = crate::auth::external::authorize("alice", authzid);
}

/// saslauthd's answer, as it comes off the socket.
fn sasl_saslauthd(mut data: &[u8]) {
    let _ = crate::saslauthd::read_answer(
        &mut data,
        Path::new("fuzz/mux"),
        crate::saslauthd::DEFAULT_TIMEOUT,
    );
}

/// The first byte picks SCRAM, EXTERNAL or a saslauthd answer.
pub fn host_sasl(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => sasl_scram(rest),
        1 => sasl_external(rest),
        _ => sasl_saslauthd(rest),
    }
}

// ---------------------------------------------------------------------------------------------
// The process's start: argv, environment, master(8)

/// The pid the fuzzed `LISTEN_PID` is compared with.
const FUZZ_PID: u32 = 4242;

/// The first byte picks: a command line (NUL-separated words) for
/// `imapd`, `imapd swap` and `imapd passwd`; systemd's `LISTEN_FDS NUL
/// LISTEN_PID NUL LISTEN_FDNAMES` (those given; the pid to match is
/// 4242); a `debug_command`; a peer address.
pub fn host_master(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let args: Vec<String> = if rest.is_empty() {
                Vec::new()
            } else {
                rest.split(|b| *b == 0).map(text).collect()
            };
            let _ = crate::cli::parse(&args);
            let _ = crate::swap::parse(&args);
            let _ = crate::admin::parse_args(&args);
        }
        1 => {
            let f: Vec<String> = fields(rest, 3).into_iter().map(text).collect();
            let var = |i: usize| f.get(i).map(String::as_str);
            if let Ok(fds) = crate::standalone::listen_fds(var(0), var(1), var(2), FUZZ_PID) {
                for (i, (fd, _)) in fds.iter().enumerate() {
                    assert_eq!(*fd as usize, 3 + i, "descriptors from 3 on, in order");
                }
            }
        }
        2 => {
            let _ = crate::master::debug_command_line(&text(rest), ["imapd", "4242", "imap"]);
        }
        _ => {
            let peer = text(rest);
            let _ = crate::net::client_without_name(&peer);
            let _ = crate::registry::peer_host(&peer);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The wire: COMPRESS=DEFLATE, the metrics listener

/// A transport that has `0` to give, then end of file.
fn transport(bytes: &[u8]) -> Box<dyn crate::connection::Io> {
    Box::new(std::io::Cursor::new(bytes.to_vec()))
}

/// Everything `d` makes of `wire` (until end of file or an error).
fn inflate_through(
    d: &mut crate::connection::compress::Deflate,
    wire: &[u8],
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut io = transport(wire);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut buf = vec![0u8; 4096];
    loop {
        let mut rb = tokio::io::ReadBuf::new(&mut buf);
        match d.poll_read(&mut io, &mut cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => return Ok(()),
            Poll::Ready(Ok(())) => out.extend_from_slice(rb.filled()),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => unreachable!("an in-memory transport is always ready"),
        }
    }
}

/// What one decompressor makes of `wire` in one go, and whether it all
/// decoded.
fn inflate_reference(wire: &[u8]) -> (Vec<u8>, bool) {
    let mut d = flate2::Decompress::new(false);
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let mut chunk = vec![0u8; 64 * 1024];
        let (in0, out0) = (d.total_in(), d.total_out());
        let r = d.decompress(&wire[at..], &mut chunk, flate2::FlushDecompress::None);
        let made = (d.total_out() - out0) as usize;
        out.extend_from_slice(&chunk[..made]);
        at += (d.total_in() - in0) as usize;
        match r {
            Err(_) => return (out, false),
            // The layer refuses a stream the client ends (rfc4978 has none).
            Ok(flate2::Status::StreamEnd) => return (out, false),
            Ok(_) if at == wire.len() && made < chunk.len() => return (out, true),
            Ok(_) if made == 0 && d.total_in() == in0 => return (out, false),
            Ok(_) => {}
        }
    }
}

/// Arbitrary client input: `size sleeps wire...`, read in pieces of
/// `size` (0: at once), the session hibernating after piece i when bit i
/// of `sleeps` is set, except after a piece ending in a sync-flush marker
/// (one shape of those the layer cannot judge, see connection/compress.rs;
/// the valid streams of [`wire_deflate_stream`] hibernate there). Whatever
/// one decompressor decodes in one go must come out the same.
fn wire_deflate_raw(data: &[u8]) {
    let [size, sleeps, wire @ ..] = data else {
        return;
    };
    let (want, whole) = inflate_reference(wire);
    let mut d = crate::connection::compress::Deflate::new();
    let mut got = Vec::new();
    let size = if *size == 0 {
        wire.len().max(1)
    } else {
        *size as usize
    };
    let mut r = Ok(());
    for (i, piece) in wire.chunks(size).enumerate() {
        r = inflate_through(&mut d, piece, &mut got);
        if r.is_err() {
            break;
        }
        if i < 8 && sleeps & (1 << i) != 0 && !piece.ends_with(&[0, 0, 0xff, 0xff]) {
            d.sleep();
            d.wake();
        }
    }
    if whole {
        assert!(r.is_ok(), "valid input refused: {r:?}");
        assert_eq!(
            got, want,
            "the layer's output differs from one decompressor's"
        );
    }
}

/// A client's stream, `level (flags len bytes[len])...`: each record's
/// bytes compressed at `level` with the flush its flags pick (none, sync,
/// partial, full), sent in two pieces cut where the flags say, the session
/// hibernating after it when they say. Everything flushed must come out
/// exactly.
fn wire_deflate_stream(data: &[u8]) {
    use flate2::{Compress, Compression, FlushCompress};
    let Some((&level, mut rest)) = data.split_first() else {
        return;
    };
    let mut client = Compress::new(Compression::new(u32::from(level) % 10), false);
    let mut d = crate::connection::compress::Deflate::new();
    let (mut sent, mut got) = (Vec::new(), Vec::new());
    while let [flags, len, tail @ ..] = rest {
        let (plain, next) = tail.split_at((*len as usize).min(tail.len()));
        rest = next;
        let flush = match flags & 3 {
            0 => FlushCompress::None,
            1 => FlushCompress::Sync,
            2 => FlushCompress::Partial,
            _ => FlushCompress::Full,
        };
        let wire = compress_all(&mut client, plain, flush);
        sent.extend_from_slice(plain);
        let cut = (*flags as usize >> 3) % (wire.len() + 1);
        let (a, b) = wire.split_at(cut);
        for piece in [a, b] {
            if let Err(e) = inflate_through(&mut d, piece, &mut got) {
                panic!("a valid stream refused: {e}");
            }
            if flags & 4 != 0 {
                d.sleep();
                d.wake();
            }
        }
    }
    // Whatever the last flush held back, a sync flush delivers.
    let wire = compress_all(&mut client, &[], FlushCompress::Sync);
    if let Err(e) = inflate_through(&mut d, &wire, &mut got) {
        panic!("a valid stream refused: {e}");
    }
    assert!(got == sent, "the client's bytes did not come out as sent");
}

/// All the client's compressor makes of `plain` with `flush`.
fn compress_all(c: &mut flate2::Compress, plain: &[u8], flush: flate2::FlushCompress) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        out.reserve(plain.len() - at + 1024);
        let (room, before) = (out.capacity() - out.len(), c.total_in());
        let len = out.len();
        c.compress_vec(&plain[at..], &mut out, flush)
            .expect("compressing");
        at += (c.total_in() - before) as usize;
        if at == plain.len() && out.len() - len < room {
            return out;
        }
    }
}

/// The first byte picks: COMPRESS input (a client's valid stream, or any
/// bytes), or a metrics listener's HTTP request head.
pub fn host_wire(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => wire_deflate_stream(rest),
        1 => wire_deflate_raw(rest),
        _ => {
            let _ = crate::ops::metrics::parse_request(rest);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What guests and other imapd processes wrote

/// The first byte picks:
/// 0. a guest's log line (`log`), which must come out one clean line;
/// 1. a command name and mechanism (`command-done`, the login counters);
/// 2. a mailbox path to lock (`lock-mailbox`) and watch (IDLE), in a
///    scratch mail tree whose inside it must not leave;
/// 3. LOGIN's arguments (`authenticate`: `mech NUL authzid NUL user NUL
///    password`), against `alwaystrue`;
/// 4. a stats file of a process under master(8), live, exited and summed;
/// 5. an entry of the login registry;
/// 6. a control socket's report, printed as `imapd status` does;
/// 7. a mailbox's ACL file (`imapd.acl.d/<dir>`, which another user's guest
///    wrote: `user NUL file`), read as the host reads it for sharing, and
///    the same bytes as a share index.
pub fn host_guest_bytes(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            let line = crate::ops::log::clean(&text(rest));
            assert!(!line.chars().any(char::is_control), "{line:?}");
        }
        1 => {
            let name = text(rest);
            let micros = rest
                .iter()
                .fold(0u64, |n, &b| n.rotate_left(8) ^ u64::from(b));
            crate::ops::metrics::metrics().command(&name, micros);
            crate::ops::metrics::metrics().login(&name, crate::ops::metrics::LoginResult::Failure);
        }
        2 => guest_paths(&text(rest)),
        3 => {
            let f: Vec<String> = fields(rest, 4).into_iter().map(text).collect();
            let arg = |i: usize| f.get(i).map_or("", String::as_str);
            guest_login(arg(0), arg(1), arg(2), arg(3));
        }
        4 => stats_files(rest),
        5 => {
            let tree = Tree::new();
            let proc_dir = tree.0.join("proc");
            let _ = std::fs::create_dir_all(&proc_dir);
            let _ = std::fs::write(proc_dir.join(format!("{}.1", std::process::id())), rest);
            let dir = cap_std::fs::Dir::open_ambient_dir(&tree.0, cap_std::ambient_authority())
                .expect("the scratch tree");
            let _ = crate::registry::count(&dir, "alice", "192.0.2.1");
        }
        6 => {
            if let Ok(r) = serde_json::from_str::<crate::control::Report>(text(rest).trim()) {
                let _ = crate::ops::status::text(&r, 1_800_000_000);
            }
        }
        _ => acl_files(rest),
    }
}

/// An ACL file as the host reads it (shares.rs): one that parses writes
/// back to the same ACL, grants `user` nothing no entry of theirs (or
/// `anyone`'s) gives, and a share index read from the same bytes names
/// only mailbox directories.
fn acl_files(data: &[u8]) {
    let f = fields(data, 2);
    let (user, file) = match f.as_slice() {
        [user, file] => (text(user), *file),
        _ => ("bob".to_string(), data),
    };
    if let Ok(acl) = imapd_acl::Acl::parse(file) {
        let again = imapd_acl::Acl::parse(&acl.encode());
        assert_eq!(again.as_ref(), Ok(&acl), "an ACL must read back as written");
        let granted = acl
            .entries()
            .iter()
            .filter(|e| !e.negative && (e.identifier == user || e.identifier == "anyone"))
            .fold(imapd_acl::Rights::NONE, |r, e| r.union(e.rights));
        let rights = acl.rights_of(&user);
        assert!(
            granted.contains(rights) || user == "anonymous",
            "{rights:?}"
        );
    }
    for (dir, acl) in crate::shares::parse_index(&text(file)) {
        assert!(crate::shares::valid_dir(&dir), "{dir:?}");
        let _ = acl.rights_of(&user);
    }
}

/// `rel` locked, unlocked and watched in a scratch tree, which must hold
/// nothing else afterwards than the lock files it allowed.
fn guest_paths(rel: &str) {
    let tree = Tree::new();
    let inside = tree.0.join("mail");
    std::fs::create_dir_all(inside.join("Sent/cur")).expect("the scratch tree");
    let dir = cap_std::fs::Dir::open_ambient_dir(&inside, cap_std::ambient_authority())
        .expect("the scratch tree");
    let mut locks = crate::locks::HeldLocks::default();
    if block_on(locks.lock(&dir, rel)).is_ok() {
        locks.unlock(rel);
    }
    let _ = crate::idle::IdleWatch::new(&dir, rel);
    let outside: Vec<String> = std::fs::read_dir(&tree.0)
        .expect("the scratch tree")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(outside, ["mail"], "{rel:?} reached outside the mail tree");
}

/// A guest's LOGIN: the host may only accept a user that can name a
/// directory, and no one else's authorization.
fn guest_login(mech: &str, authzid: &str, user: &str, password: &str) {
    let auth = crate::auth::Authenticator {
        method: crate::auth::Method::AlwaysTrue,
        passwords: std::sync::Arc::new(crate::passwd::PasswordFile::new("fuzz/passwd")),
        service: "imap".into(),
        no_password_for_login: false,
        failed_login_pause: Duration::ZERO,
        may_authorize: Vec::new(),
        domains: crate::tenant::Domains::off(),
    };
    // With virtual domains, a login name becomes a user of one domain
    // whose tree stays inside that domain's part of the partition.
    let domains = crate::tenant::Domains {
        mode: crate::tenant::Mode::On,
        default: Some("a.test".into()),
        addresses: Vec::new(),
    };
    let listener = Some(password).filter(|p| crate::tenant::valid_domain(p));
    if let Some(c) = domains.canonical(user, listener) {
        let (local, domain) = domains.split(&c);
        assert!(crate::auth::valid_user_name(local), "{c:?}");
        assert!(!local.contains(['@', '%']), "{c:?}");
        assert_ne!(local, crate::tenant::DOMAIN_DIR, "{c:?}");
        assert!(domain.is_none_or(crate::tenant::valid_domain), "{c:?}");
        assert_ne!(domain, Some("a.test"), "{c:?}");
    }
    if let crate::auth::Verdict::Ok(u) = block_on(auth.check(mech, authzid, user, password)) {
        assert_eq!(u, user);
        assert!(crate::auth::valid_user_name(&u), "{u:?}");
        assert!(authzid.is_empty() || authzid == u, "{authzid:?} as {u:?}");
        assert!(!u.contains('/') && u != "." && u != "..", "{u:?}");
    }
}

/// A stats file as a live process's, an exited one's and the sum of the
/// exited (`retired`), gathered and printed as `imapd metrics` does.
fn stats_files(data: &[u8]) {
    let tree = Tree::new();
    let dir = crate::ops::metrics::stats_dir(&tree.0);
    let _ = std::fs::create_dir_all(&dir);
    // A pid above the kernel's largest (4194304): never alive.
    for name in [
        std::process::id().to_string(),
        "4194305".into(),
        "retired".into(),
    ] {
        let _ = std::fs::write(dir.join(name), data);
    }
    if let Ok(sum) = crate::ops::metrics::gather(&tree.0) {
        let _ = sum.encode();
    }
}

/// The replay of `make test`, and the seeds' writer.
#[cfg(test)]
mod tests {
    use super::shared::{fuzz_dir, replay, write_new};

    #[test]
    fn replay_host_config() {
        replay("host_config", super::host_config);
    }

    #[test]
    fn replay_host_passwd() {
        replay("host_passwd", super::host_passwd);
    }

    #[test]
    fn replay_host_sasl() {
        replay("host_sasl", super::host_sasl);
    }

    #[test]
    fn replay_host_master() {
        replay("host_master", super::host_master);
    }

    #[test]
    fn replay_host_wire() {
        replay("host_wire", super::host_wire);
    }

    #[test]
    fn replay_host_guest_bytes() {
        replay("host_guest_bytes", super::host_guest_bytes);
    }

    /// `which` then `data`.
    fn seed(which: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![which];
        v.extend_from_slice(data);
        v
    }

    /// Writes the host targets' seeds that are missing (`cargo test -p
    /// imapd write_host_fuzz_seeds -- --ignored`, run by `make fuzz`): real
    /// inputs made by the code that makes them in production where there is
    /// such code (`imapd passwd`'s hashes, a metrics snapshot, a status
    /// report), the RFCs' SCRAM exchanges, and each checked to get where it
    /// should (a seed that stops at the first check would seed nothing).
    #[test]
    #[ignore]
    fn write_host_fuzz_seeds() {
        let corpus = fuzz_dir().join("corpus");
        let put = |target: &str, name: &str, data: &[u8]| {
            write_new(&corpus.join(target).join(format!("seed-{name}")), data);
        };
        for (name, data) in config_seeds() {
            put("host_config", &name, &data);
        }
        put("host_passwd", "every-scheme", &passwd_seed());
        for (name, data) in sasl_seeds() {
            put("host_sasl", &name, &data);
        }
        for (name, data) in master_seeds() {
            put("host_master", &name, &data);
        }
        for (name, data) in wire_seeds() {
            put("host_wire", &name, &data);
        }
        for (name, data) in guest_bytes_seeds() {
            put("host_guest_bytes", &name, &data);
        }
    }

    /// Every option at its default (or a value of its kind), the demo's
    /// configuration, and service overrides.
    fn config_seeds() -> Vec<(String, Vec<u8>)> {
        let mut full = String::from(
            "# Every option imapd knows, at its default\n\
             configdirectory: /var/lib/imapd\n\
             partition-default: /var/spool/imapd\n\
             partition-archive: /srv/archive\n\
             defaultpartition: default\n\
             servername: mail.example.org\n\
             admins: root cyrus\n\
             debug_command: gdb -p %d %s\n\
             guest_module_sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\
             imaps_timeout: 45\n\
             x-unknown-option: kept \\\n  as is\n",
        );
        for spec in crate::config::OPTIONS {
            let taken = ["configdirectory", "servername", "admins", "debug_command"];
            if spec.name.contains('<') || taken.contains(&spec.name) {
                continue;
            }
            if let Some(d) = spec.default {
                let d = d.replace("{configdirectory}", "/var/lib/imapd");
                full.push_str(&format!("{}: {d}\n", spec.name));
            }
        }
        crate::config::Config::parse_str(&full, "fuzz/imapd.conf", "imaps")
            .expect("the full seed parses");
        let demo = "# imapd.conf for `make run`\r\n\
                    configdirectory: /tmp/imapd/config\r\n\
                    partition-default: /tmp/imapd/spool\r\n\
                    servername: localhost\r\n\
                    allowplaintext: yes\r\n\
                    tls_server_cert: /tmp/imapd/config/cert.pem\r\n\
                    tls_server_key: /tmp/imapd/config/key.pem\r\n\
                    failedloginpause: 1s\r\n\
                    log_destination: stderr\r\n\
                    prometheus_enabled: on\r\n\
                    sasl_pwcheck_method: saslauthd\r\n\
                    sasl_mech_list: PLAIN LOGIN SCRAM-SHA-256-PLUS SCRAM-SHA-256 EXTERNAL\r\n";
        crate::config::Config::parse_str(demo, "fuzz/imapd.conf", "imap").expect("demo");
        let service = "imaps\0configdirectory: /var/lib/imapd\n\
                       partition-default: /var/spool/imapd\n\
                       imaps_allowplaintext: no\nallowplaintext: yes\n\
                       imaps_maxlogins_per_user: 0x10\nmaxword: 64K\n\
                       imaps_idle_hibernate: 1m30s\ntls_versions: tls1_2 tls1_3\n";
        vec![
            ("every-option.conf".into(), full.into_bytes()),
            ("demo.conf".into(), demo.as_bytes().to_vec()),
            ("service-overrides".into(), service.as_bytes().to_vec()),
        ]
    }

    /// A file with a line of each scheme, as `imapd passwd` and the usual
    /// tools write them (cheap parameters where there is a choice, so the
    /// target verifies them), comments, a locked and a broken entry; then
    /// the password and a user to set and delete.
    fn passwd_seed() -> Vec<u8> {
        use crate::auth::scram::{ScramHash, StoredKeys};
        use argon2::password_hash::{PasswordHasher, SaltString};
        let pw = "secret";
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let argon2_cheap = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(pw.as_bytes(), &salt)
        .unwrap();
        let argon2i = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(pw.as_bytes(), &salt)
        .unwrap();
        let sha512 = sha_crypt::sha512_crypt_b64(
            pw.as_bytes(),
            b"saltsalt",
            &sha_crypt::Sha512Params::new(1000).unwrap(),
        )
        .unwrap();
        let sha256 = sha_crypt::sha256_crypt_b64(
            pw.as_bytes(),
            b"saltsalt",
            &sha_crypt::Sha256Params::new(1000).unwrap(),
        )
        .unwrap();
        let bcrypt = bcrypt::hash_with_salt(pw, 4, *b"sixteen byte slt")
            .unwrap()
            .to_string();
        let scram = |h| StoredKeys::derive(h, pw.as_bytes(), b"saltsaltsalt", 4096).to_field();
        let lines = [
            "# user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]".to_string(),
            format!(
                "alice:{}",
                crate::passwd::hash_password(pw.as_bytes()).unwrap()
            ),
            format!("argon:{{ARGON2ID}}{argon2_cheap}:1000:1000::/home/argon:/bin/sh"),
            format!("argoni:{{ARGON2I}}{argon2i}"),
            format!("sha512:{{SHA512-CRYPT}}$6$rounds=1000$saltsalt${sha512}"),
            format!("sha256:{{SHA256-CRYPT}}$5$rounds=1000$saltsalt${sha256}"),
            format!("crypt:{{CRYPT}}$6$rounds=1000$saltsalt${sha512}"),
            format!("bare:$5$rounds=1000$saltsalt${sha256}"),
            format!("blf:{{BLF-CRYPT}}{bcrypt}"),
            format!("scram256:{}", scram(ScramHash::Sha256)),
            format!("scram1:{}", scram(ScramHash::Sha1)),
            "plain:{PLAIN}secret".into(),
            "clear:{clear}secret:::".into(),
            "locked:{PLAIN}!secret".into(),
            "broken:{SSHA}abcd".into(),
            "   # indented comment".into(),
            "plain:{PLAIN}duplicate\r".into(),
        ];
        let file = lines.join("\n") + "\n";
        let parsed = crate::passwd::parse_file(
            std::path::Path::new("seed"),
            file.as_bytes(),
            Default::default(),
        );
        for (u, e) in &parsed.users {
            if let crate::passwd::Entry::Hash(h) = e {
                assert!(super::cheap(h) || u == "alice", "{u}");
                assert_eq!(h.verify(pw.as_bytes()), Ok(true), "{u}");
            }
        }
        assert_eq!(parsed.users.len(), 14);
        format!("{file}\0{pw}\0argon").into_bytes()
    }

    /// A client's SCRAM messages for `pencil` on connection `flags` (see
    /// `sasl_scram`), computed as a client does.
    fn scram_exchange(flags: u8, gs2: &str, cb_data: &[u8], bare: &str, nonce: &str) -> Vec<u8> {
        use crate::auth::scram::ScramHash;
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let hash = if flags & 1 != 0 {
            ScramHash::Sha256
        } else {
            ScramHash::Sha1
        };
        let (salt, server_nonce) = super::scram_example(hash);
        let first = format!("{gs2}{bare}");
        let server_first = format!("r={nonce}{server_nonce},s={salt},i=4096");
        let mut cbind = gs2.as_bytes().to_vec();
        cbind.extend_from_slice(cb_data);
        let without = format!("c={},r={nonce}{server_nonce}", b64.encode(&cbind));
        let auth = format!("{bare},{server_first},{without}");
        let salted = hash.salted_password(super::SCRAM_PASSWORD, &b64.decode(salt).unwrap(), 4096);
        let client_key = hash.hmac(&salted, b"Client Key");
        let signature = hash.hmac(&hash.h(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let last = format!("{without},p={}", b64.encode(proof));
        let mut seed = vec![0, flags];
        seed.extend_from_slice(first.as_bytes());
        seed.push(0);
        seed.extend_from_slice(last.as_bytes());
        seed
    }

    fn sasl_seeds() -> Vec<(String, Vec<u8>)> {
        use crate::auth::scram::{self, ChannelBindings, ScramServer};
        let none: &[u8] = &[];
        let mut seeds = vec![
            // rfc5802 5 and rfc7677 3, byte for byte.
            (
                "scram-sha-1-rfc5802".to_string(),
                b"\0\0n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL\0c=biws,\
                  r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
                    .to_vec(),
            ),
            (
                "scram-sha-256-rfc7677".to_string(),
                b"\0\x01n,,n=user,r=rOprNGfwEbeRWgbNEkqO\0c=biws,\
                  r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                    .to_vec(),
            ),
            (
                "scram-sha-256-plus-exporter".into(),
                scram_exchange(
                    1 | 2 | 4 | 16,
                    "p=tls-exporter,,",
                    super::EXPORTER,
                    "n=user,r=6d805f4a9c1e",
                    "6d805f4a9c1e",
                ),
            ),
            (
                "scram-sha-256-plus-end-point-authzid".into(),
                scram_exchange(
                    1 | 2 | 4 | 8 | 16,
                    "p=tls-server-end-point,a=user,",
                    super::END_POINT,
                    "n=user,r=x=2Cy",
                    "x=2Cy",
                ),
            ),
            (
                "scram-sha-1-y-flag-saslname".into(),
                scram_exchange(4, "y,,", none, "n=us=3Der=2C,r=abc,x=ext", "abc"),
            ),
        ];
        for (name, s) in &seeds {
            let (flags, rest) = (s[1], &s[2..]);
            let hash = if flags & 1 != 0 {
                scram::ScramHash::Sha256
            } else {
                scram::ScramHash::Sha1
            };
            let bindings = ChannelBindings {
                exporter: (flags & 4 != 0).then(|| super::EXPORTER.to_vec()),
                end_point: (flags & 8 != 0).then(|| super::END_POINT.to_vec()),
            };
            let f = super::fields(rest, 2);
            let first = scram::client_first(f[0], flags & 2 != 0, &bindings, flags & 16 != 0)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let server = ScramServer::with_nonce(
                first,
                super::scram_keys(hash),
                &bindings,
                super::scram_example(hash).1,
            );
            if let Err(e) = server.client_final(f[1]) {
                panic!("{name}: {e}");
            }
        }
        let cert = crate::auth::external::tests::cert;
        let email = rcgen::SanType::Rfc822Name("bob@example.org".try_into().unwrap());
        let dns = rcgen::SanType::DnsName("carol.example.org".try_into().unwrap());
        for (name, authzid, der) in [
            ("external-cn", "", cert(Some("alice"), vec![dns.clone()])),
            (
                "external-email-authzid",
                "bob@example.org",
                cert(None, vec![email]),
            ),
            ("external-dns", "someone", cert(None, vec![dns])),
        ] {
            let mut seed = vec![1, authzid.len() as u8];
            seed.extend_from_slice(authzid.as_bytes());
            seed.extend_from_slice(&der);
            seeds.push((name.into(), seed));
        }
        for (name, answer) in [
            ("saslauthd-ok", &b"\0\x02OK"[..]),
            ("saslauthd-no", b"\0\x12NO authentication"),
            ("saslauthd-short", b"\0\x10OK"),
        ] {
            seeds.push((name.into(), seed(2, answer)));
        }
        seeds
    }

    fn master_seeds() -> Vec<(String, Vec<u8>)> {
        let words = |w: &[&str]| w.join("\0").into_bytes();
        let seeds = [
            (
                "argv-master",
                0,
                words(&[
                    "-C",
                    "/etc/imapd.conf",
                    "-U",
                    "30",
                    "-T",
                    "60",
                    "-D",
                    "-s",
                    "-N",
                ]),
            ),
            (
                "argv-standalone",
                0,
                words(&[
                    "-p",
                    "0",
                    "--listen",
                    "127.0.0.1:143",
                    "--listen-tls",
                    "[::1]:993",
                ]),
            ),
            (
                "argv-swap",
                0,
                words(&["-C", "imapd.conf", "--wait", "5", "new.wasm"]),
            ),
            (
                "argv-passwd",
                0,
                words(&["--scheme", "SCRAM-SHA-256", "--delete", "bob"]),
            ),
            ("argv-glued", 0, words(&["-U30", "-X"])),
            ("listen-fds-two", 1, words(&["2", "4242", "imap:imaps"])),
            (
                "listen-fds-names",
                1,
                words(&["3", "4242", "imap:imap-tls:imaps"]),
            ),
            ("listen-fds-other-pid", 1, words(&["1", "1"])),
            ("listen-fds-unnamed", 1, words(&["1", "4242"])),
            ("debug-command", 2, b"gdb -p %d %s 100%% %x %".to_vec()),
            ("peer-v4", 3, b"192.0.2.1:143".to_vec()),
            ("peer-v6", 3, b"[2001:db8::1]:993".to_vec()),
            ("peer-unix", 3, b"unix".to_vec()),
        ];
        seeds
            .into_iter()
            .map(|(n, w, d)| (n.to_string(), seed(w, &d)))
            .collect()
    }

    fn wire_seeds() -> Vec<(String, Vec<u8>)> {
        use flate2::{Compress, Compression, FlushCompress};
        let record = |flags: u8, plain: &[u8]| {
            let mut r = vec![flags, plain.len() as u8];
            r.extend_from_slice(plain);
            r
        };
        // A client's session: sync flushes (as most clients), a partial
        // one, hibernation while in IDLE, pieces cut mid-block.
        let mut session = vec![0, 6];
        for (flags, line) in [
            (1u8, &b"a1 LOGIN alice secret\r\n"[..]),
            (1 | (7 << 3), b"a2 SELECT INBOX\r\na3 IDLE\r\n"),
            (1 | 4, b"DONE\r\n"),
            (2, b"a4 FETCH 1:* (FLAGS BODY.PEEK[HEADER])\r\n"),
            (3 | 4 | (2 << 3), b"a5 APPEND INBOX {5+}\r\nhello\r\n"),
            (0, b"a6 NOOP\r\n"),
        ] {
            session.extend(record(flags, line));
        }
        let mut stored = vec![0, 0];
        stored.extend(record(1 | 4, b"a1 APPEND INBOX {4+}\r\n"));
        stored.extend(record(1 | 4 | (9 << 3), b"\0\0\xff\xff\r\n"));
        let mut c = Compress::new(Compression::default(), false);
        let mut raw = vec![1, 0, 0];
        c.compress_vec(b"a1 NOOP\r\na2 LOGOUT\r\n", &mut raw, FlushCompress::Sync)
            .unwrap();
        let mut raw_pieces = raw.clone();
        raw_pieces[1] = 5;
        raw_pieces[2] = 0b101;
        vec![
            ("deflate-session".into(), session),
            ("deflate-stored".into(), stored),
            ("deflate-raw".into(), raw),
            ("deflate-raw-pieces".into(), raw_pieces),
            (
                "http-get".into(),
                seed(2, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9143\r\n\r\n"),
            ),
            (
                "http-head".into(),
                seed(2, b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            ),
        ]
    }

    fn guest_bytes_seeds() -> Vec<(String, Vec<u8>)> {
        use crate::control::{ModuleReport, Report};
        use crate::ops::metrics::{LoginResult, SessionState, metrics};
        use crate::ops::status::SessionReport;
        metrics().command("FETCH", 1200);
        metrics().login("AUTH=PLAIN", LoginResult::Success);
        metrics().session_state(None, Some(SessionState::Idle));
        let stats = serde_json::to_vec(&metrics().snapshot(2)).unwrap();
        let hash = "4f1c0ffee0ddba11".repeat(4);
        let report = Report {
            pid: 4242,
            result: "status".into(),
            error: None,
            from: None,
            current: hash.clone(),
            modules: vec![ModuleReport {
                hash: hash.clone(),
                current: true,
                sessions: 1,
                stayed: 0,
            }],
            moved: 0,
            pending: 0,
            stayed: 0,
            refusals: Vec::new(),
            live_instances: 1,
            millis: 3,
            service: "imap".into(),
            sessions: vec![SessionReport {
                id: 1,
                peer: "192.0.2.1:50000".into(),
                user: Some("alice".into()),
                state: SessionState::Selected,
                module: hash[..16].to_string(),
                since: 1_799_999_000,
                state_since: 1_799_999_900,
            }],
            limits: Some(Default::default()),
            tenants: Default::default(),
        };
        let report = serde_json::to_vec(&report).unwrap();
        let seeds: [(&str, u8, &[u8]); 16] = [
            (
                "log",
                0,
                b"mailbox INBOX: index rebuilt\r\nimapd[1]: forged",
            ),
            ("command", 1, b"FETCH"),
            ("mechanism", 1, b"AUTH=SCRAM-SHA-256"),
            ("lock-inbox", 2, b""),
            ("lock-sent", 2, b"Sent"),
            ("lock-dotdot", 2, b"Sent/../../x"),
            ("lock-new", 2, b"Archive/2026"),
            ("login", 3, b"LOGIN\0\0alice\0secret"),
            ("login-authzid", 3, b"AUTH=PLAIN\0bob\0alice\0secret"),
            ("stats", 4, &stats),
            ("registry", 5, b"alice\t192.0.2.1\n"),
            ("status-report", 6, &report),
            ("login-dot", 3, b"LOGIN\0\0..\0x"),
            (
                "acl",
                7,
                b"bob\0alice\tlrswipkxtean\nbob\tlrs\n-bob\ts\nanyone\tl\n",
            ),
            ("acl-virtual", 7, b"carol\0carol\tlrcd\n"),
            (
                "share-index",
                7,
                b"bob\0.Team\tbob\tlr\n.Team\talice\tlrswipkxtean\n.B\tanyone\tlrs\n",
            ),
        ];
        seeds
            .into_iter()
            .map(|(n, w, d)| (n.to_string(), seed(w, d)))
            .collect()
    }
}
