//! Server annotations (rfc5464 3.2.1.1: `GETMETADATA ""` and `SETMETADATA ""` on `/shared/...`
//! entries), behind the wit imports `server-metadata` and `set-server-metadata`.
//!
//! They are shared by every user and every imapd process, and kept in
//! `<configdirectory>/imapd.metadata` ([`FILE`]): a comment line (`#`), then one line per
//! entry, `<name> SP <base64 of the value> LF`, names lower case and in order. Values may be any
//! octets; a name has no control characters, so a line ends at the first LF and the value
//! starts after the last space. The file is replaced whole ([`crate::replace`]) under the lock
//! of the configdirectory, so readers take no lock. Reading treats it as possibly damaged: a
//! line that does not parse, or names an invalid entry, is logged and skipped.
//!
//! As in Cyrus, two entries live in `msg/` files instead: `/shared/motd` ([`MOTD`]) is the first
//! line of `msg/motd`, and `/shared/vendor/cmu/cyrus-imapd/shutdown` ([`SHUTDOWN`]) the first
//! line of `msg/shutdown` (which ends every non-admin session). Setting one writes its file (the
//! value and a newline), removing one removes it.
//!
//! Only administrators (imapd.conf `admins`) change anything; the host checks every name and
//! size again whatever the guest checked. A change is all or nothing: every name and size is
//! checked, then every new file written and fsynced beside the old one, and only then are
//! they renamed into place.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::engine::MetadataError;
use crate::replace::{Staged, lock_dir, remove};

/// The file of the server's annotations, in the configdirectory.
pub const FILE: &str = "imapd.metadata";
/// The largest value, in octets (`[METADATA MAXSIZE 65536]`).
pub const MAX_VALUE: usize = 65536;
/// The most entries [`FILE`] may hold (`[METADATA TOOMANY]`); the `msg/` entries not counted.
pub const MAX_ENTRIES: usize = 1000;
/// The longest entry name, in octets.
pub const MAX_NAME: usize = 1024;
/// The message of the day: the first line of `msg/motd`.
pub const MOTD: &str = "/shared/motd";
/// The shutdown message: the first line of `msg/shutdown`.
pub const SHUTDOWN: &str = "/shared/vendor/cmu/cyrus-imapd/shutdown";

/// The entries kept in files of their own, relative to the configdirectory.
const MSG_FILES: [(&str, &str); 2] = [(MOTD, "msg/motd"), (SHUTDOWN, "msg/shutdown")];

const HEADER: &[u8] = b"# imapd server annotations (rfc5464): <entry name> <base64 value>\n";

/// The `msg/` file that holds entry `name` instead of [`FILE`], if it is one of those.
fn msg_file(name: &str) -> Option<&'static str> {
    MSG_FILES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// `name` lower-cased if it is a valid server entry name (rfc5464 3.2): `/shared/` and at least
/// one more component, ASCII without control characters (0x00-0x1f, 0x7f), `*` or `%`, no `//`,
/// no trailing `/`, at most [`MAX_NAME`] octets, and under `/shared/vendor/` at least four
/// components. Otherwise why not.
pub fn check_name(name: &str) -> Result<String, String> {
    if name.len() > MAX_NAME {
        return Err(format!("entry name longer than {MAX_NAME} octets"));
    }
    for b in name.bytes() {
        match b {
            0x80.. => return Err("entry name is not ASCII".into()),
            0..0x20 | 0x7f => return Err("entry name contains a control character".into()),
            b'*' | b'%' => return Err(format!("entry name contains '{}'", b as char)),
            _ => {}
        }
    }
    let name = name.to_ascii_lowercase();
    if !name.starts_with("/shared/") {
        return Err("server entry name does not start with /shared/".into());
    }
    if name.contains("//") {
        return Err("entry name contains //".into());
    }
    if name.ends_with('/') {
        return Err("entry name ends with /".into());
    }
    let components: Vec<&str> = name[1..].split('/').collect();
    if components.len() < 2 {
        return Err("entry name has fewer than 2 components".into());
    }
    if components[1] == "vendor" && components.len() < 4 {
        return Err("a /shared/vendor/ entry name has at least 4 components".into());
    }
    Ok(name)
}

/// One line of [`FILE`], without its LF: the entry, or why it is skipped.
fn parse_line(line: &[u8]) -> Result<(String, Vec<u8>), String> {
    let space = line
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or("no space between name and value")?;
    let name = std::str::from_utf8(&line[..space]).map_err(|_| "entry name is not ASCII")?;
    let name = check_name(name)?;
    if let Some(file) = msg_file(&name) {
        return Err(format!("{name} is kept in {file}, not here"));
    }
    let value = B64
        .decode(&line[space + 1..])
        .map_err(|e| format!("value is not base64 ({e})"))?;
    if value.len() > MAX_VALUE {
        return Err(format!("value longer than {MAX_VALUE} octets"));
    }
    Ok((name, value))
}

/// The entries in [`FILE`]'s bytes; damaged lines are logged (as `<shown>:<line>`) and skipped,
/// and of two lines for one entry the later one counts.
fn parse(bytes: &[u8], shown: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut entries = BTreeMap::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        match parse_line(line) {
            Ok((name, value)) => {
                if entries.insert(name, value).is_some() {
                    crate::syslog!(
                        Warning,
                        "{}:{}: entry given twice; this line is used",
                        shown.display(),
                        i + 1
                    );
                }
            }
            Err(why) => crate::syslog!(
                Warning,
                "{}:{}: {}; line skipped",
                shown.display(),
                i + 1,
                crate::ops::log::clean(&why)
            ),
        }
    }
    entries
}

/// [`FILE`]'s bytes for `entries`.
fn render(entries: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    for (name, value) in entries {
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(B64.encode(value).as_bytes());
        out.push(b'\n');
    }
    out
}

/// [`FILE`]'s entries; `Ok` empty when there is no file.
fn load(config_dir: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let path = config_dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(parse(&bytes, &path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// The first line of `path` (up to the first CR or LF, at most [`MAX_VALUE`] octets), if the
/// file exists, as Cyrus's annotations read `msg/` files.
fn first_line(path: &Path) -> Option<Vec<u8>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            crate::syslog!(Err, "reading {}: {e}", path.display());
            return None;
        }
    };
    let mut bytes = Vec::new();
    if let Err(e) = f.take(MAX_VALUE as u64 + 2).read_to_end(&mut bytes) {
        crate::syslog!(Err, "reading {}: {e}", path.display());
        return None;
    }
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len())
        .min(MAX_VALUE);
    bytes.truncate(end);
    Some(bytes)
}

/// Every server annotation with its value, names lower case, in name order (wit:
/// `server-metadata`): [`FILE`]'s entries, and [`MOTD`] and [`SHUTDOWN`] from their files when
/// those exist. A file that cannot be read is logged and counts as empty. Blocking.
pub fn read(config_dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut entries = load(config_dir).unwrap_or_else(|e| {
        crate::syslog!(Err, "reading {}: {e}", config_dir.join(FILE).display());
        BTreeMap::new()
    });
    for (name, file) in MSG_FILES {
        if let Some(value) = first_line(&config_dir.join(file)) {
            entries.insert(name.to_string(), value);
        }
    }
    entries.into_iter().collect()
}

/// Sets (`Some`) or removes (`None`) server annotations, all or none of them (wit:
/// `set-server-metadata`); `admin`: the connection's authenticated user is an administrator.
/// Of two changes to one entry the later counts; removing an entry that is not there is no
/// error. Blocking: it waits for the configdirectory's lock and fsyncs.
pub fn set(
    config_dir: &Path,
    admin: bool,
    changes: Vec<(String, Option<Vec<u8>>)>,
) -> Result<(), MetadataError> {
    if !admin {
        return Err(MetadataError::NotAllowed);
    }
    let mut checked = BTreeMap::new();
    for (name, value) in changes {
        let name = check_name(&name).map_err(MetadataError::BadEntry)?;
        if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE) {
            return Err(MetadataError::TooLarge(MAX_VALUE as u32));
        }
        checked.insert(name, value);
    }
    if checked.is_empty() {
        return Ok(());
    }
    let failed = |e: anyhow::Error| MetadataError::Failed(format!("{e:#}"));
    let path = config_dir.join(FILE);

    let _lock = lock_dir(config_dir).map_err(failed)?;
    let before = load(config_dir)
        .map_err(|e| MetadataError::Failed(format!("reading {}: {e}", path.display())))?;
    let mut entries = before.clone();
    let mut msg_changes = Vec::new();
    for (name, value) in checked {
        match (msg_file(&name), value) {
            (Some(file), value) => msg_changes.push((config_dir.join(file), value)),
            (None, Some(value)) => {
                entries.insert(name, value);
            }
            (None, None) => {
                entries.remove(&name);
            }
        }
    }
    if entries.len() > MAX_ENTRIES {
        return Err(MetadataError::TooMany);
    }

    // Every new file written and fsynced first: a failure here changes nothing (the staged
    // files are removed as they are dropped).
    let mut staged = Vec::new();
    if entries != before {
        staged.push(Staged::new(&path, &render(&entries), 0o600).map_err(failed)?);
    }
    let mut removals = Vec::new();
    for (file, value) in msg_changes {
        match value {
            Some(mut value) => {
                make_parent(&file).map_err(failed)?;
                value.push(b'\n');
                staged.push(Staged::new(&file, &value, 0o644).map_err(failed)?);
            }
            None => removals.push(file),
        }
    }
    for s in staged {
        s.commit().map_err(failed)?;
    }
    for file in removals {
        remove(&file).map_err(failed)?;
    }
    Ok(())
}

/// Creates `file`'s directory (`msg/`) if it is missing, durably.
fn make_parent(file: &Path) -> anyhow::Result<()> {
    match file.parent() {
        Some(dir) => crate::replace::make_dir(dir),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::replace::scratch_dir;

    fn put(name: &str, value: &[u8]) -> (String, Option<Vec<u8>>) {
        (name.to_string(), Some(value.to_vec()))
    }

    fn del(name: &str) -> (String, Option<Vec<u8>>) {
        (name.to_string(), None)
    }

    fn entries(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect()
    }

    /// The names in `dir`, sorted: the tests check that no temporary file is left behind.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn round_trip() {
        let dir = scratch_dir("roundtrip");
        assert_eq!(read(&dir), vec![]);
        let binary: Vec<u8> = (0..=255u8).collect();
        set(
            &dir,
            true,
            vec![
                put("/shared/comment", b"Hello,\r\nworld"),
                put("/shared/admin", b"mailto:root@example.org"),
                put("/shared/vendor/example/blob", &binary),
                put("/shared/empty", b""),
                put("/shared/with space", b" x "),
            ],
        )
        .unwrap();
        let want = entries(&[
            ("/shared/admin", b"mailto:root@example.org"),
            ("/shared/comment", b"Hello,\r\nworld"),
            ("/shared/empty", b""),
            ("/shared/vendor/example/blob", &binary),
            ("/shared/with space", b" x "),
        ]);
        assert_eq!(read(&dir), want);
        let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(text.starts_with('#'), "{text}");
        assert!(
            text.contains("\n/shared/comment SGVsbG8sDQp3b3JsZA==\n"),
            "{text}"
        );
        assert!(text.contains("\n/shared/empty \n"), "{text}");
        assert_eq!(names_in(&dir), vec![FILE]);
        // Removing one (and one that is not there) keeps the others.
        set(
            &dir,
            true,
            vec![del("/shared/comment"), del("/shared/never")],
        )
        .unwrap();
        assert_eq!(
            read(&dir),
            want[..1]
                .iter()
                .chain(&want[2..])
                .cloned()
                .collect::<Vec<_>>()
        );
        // The later of two changes to one entry counts.
        set(
            &dir,
            true,
            vec![put("/shared/comment", b"a"), put("/shared/comment", b"b")],
        )
        .unwrap();
        assert!(read(&dir).contains(&("/shared/comment".to_string(), b"b".to_vec())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_are_lower_cased() {
        let dir = scratch_dir("lower");
        set(&dir, true, vec![put("/SHARED/Comment", b"x")]).unwrap();
        assert_eq!(read(&dir), entries(&[("/shared/comment", b"x")]));
        set(&dir, true, vec![put("/Shared/COMMENT", b"y")]).unwrap();
        assert_eq!(read(&dir), entries(&[("/shared/comment", b"y")]));
        set(&dir, true, vec![del("/shared/CoMmEnT")]).unwrap();
        assert_eq!(read(&dir), vec![]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn entry_names_are_checked() {
        assert_eq!(
            check_name("/shared/comment").as_deref(),
            Ok("/shared/comment")
        );
        assert_eq!(check_name("/shared/admin").as_deref(), Ok("/shared/admin"));
        assert!(check_name("/shared/vendor/cmu/cyrus-imapd/shutdown").is_ok());
        assert!(check_name(&format!("/shared/{}", "a".repeat(MAX_NAME - 8))).is_ok());
        for (bad, why) in [
            ("/private/comment", "does not start with /shared/"),
            ("/shared", "does not start with /shared/"),
            ("/shared/", "ends with /"),
            ("/shared/a/", "ends with /"),
            ("/shared//a", "contains //"),
            ("shared/comment", "does not start with /shared/"),
            ("/shared/a*", "contains '*'"),
            ("/shared/a%", "contains '%'"),
            ("/shared/a\u{0}", "control character"),
            ("/shared/a\u{19}", "control character"),
            ("/shared/a\u{1f}", "control character"),
            ("/shared/a\u{7f}", "control character"),
            ("/shared/a\nb", "control character"),
            ("/shared/caf\u{e9}", "not ASCII"),
            ("/shared/vendor", "at least 4 components"),
            ("/shared/vendor/cmu", "at least 4 components"),
            ("", "does not start with /shared/"),
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let long = format!("/shared/{}", "a".repeat(MAX_NAME - 7));
        assert!(check_name(&long).unwrap_err().contains("longer than 1024"));
    }

    #[test]
    fn a_bad_entry_changes_nothing() {
        let dir = scratch_dir("allornothing");
        set(&dir, true, vec![put("/shared/comment", b"old")]).unwrap();
        let file_before = std::fs::read(dir.join(FILE)).unwrap();
        for bad in [
            "/shared/a*b",
            "/private/comment",
            "/shared//x",
            "/shared/x/",
        ] {
            let r = set(
                &dir,
                true,
                vec![
                    put("/shared/comment", b"new"),
                    put(MOTD, b"motd"),
                    put(bad, b"v"),
                    del("/shared/other"),
                ],
            );
            assert!(matches!(r, Err(MetadataError::BadEntry(_))), "{bad}: {r:?}");
        }
        assert_eq!(std::fs::read(dir.join(FILE)).unwrap(), file_before);
        assert!(!dir.join("msg").exists());
        assert_eq!(read(&dir), entries(&[("/shared/comment", b"old")]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn values_over_the_limit_are_too_large() {
        let dir = scratch_dir("toolarge");
        let big = vec![b'x'; MAX_VALUE];
        set(&dir, true, vec![put("/shared/big", &big)]).unwrap();
        assert_eq!(read(&dir), entries(&[("/shared/big", &big)]));
        let bigger = vec![b'y'; MAX_VALUE + 1];
        let r = set(
            &dir,
            true,
            vec![put("/shared/small", b"s"), put("/shared/big", &bigger)],
        );
        assert!(matches!(r, Err(MetadataError::TooLarge(65536))), "{r:?}");
        let r = set(&dir, true, vec![put(MOTD, &bigger)]);
        assert!(matches!(r, Err(MetadataError::TooLarge(65536))), "{r:?}");
        assert_eq!(read(&dir), entries(&[("/shared/big", &big)]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn more_than_the_most_entries_is_too_many() {
        let dir = scratch_dir("toomany");
        let all: Vec<_> = (0..MAX_ENTRIES)
            .map(|i| put(&format!("/shared/e{i:04}"), b"v"))
            .collect();
        set(&dir, true, all).unwrap();
        assert_eq!(read(&dir).len(), MAX_ENTRIES);
        let r = set(&dir, true, vec![put("/shared/one-more", b"v")]);
        assert!(matches!(r, Err(MetadataError::TooMany)), "{r:?}");
        // Changing one, or one out and one in, or the msg/ entries, stays within.
        set(&dir, true, vec![put("/shared/e0000", b"w")]).unwrap();
        set(
            &dir,
            true,
            vec![del("/shared/e0001"), put("/shared/one-more", b"v")],
        )
        .unwrap();
        set(&dir, true, vec![put(MOTD, b"hello")]).unwrap();
        let now = read(&dir);
        assert_eq!(now.len(), MAX_ENTRIES + 1);
        assert!(now.contains(&("/shared/one-more".to_string(), b"v".to_vec())));
        assert!(!now.iter().any(|(n, _)| n == "/shared/e0001"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_lines_are_skipped() {
        let dir = scratch_dir("damaged");
        let mut text = Vec::new();
        text.extend_from_slice(b"# a comment\n");
        text.extend_from_slice(b"/shared/good aGVsbG8=\n");
        text.extend_from_slice(b"no-space-at-all\n");
        text.extend_from_slice(b"/shared/badb64 !!!\n");
        text.extend_from_slice(b"/private/x aGVsbG8=\n");
        text.extend_from_slice(b"/shared/\xff\xfe aGVsbG8=\n");
        text.extend_from_slice(b"/shared/motd aGVsbG8=\n");
        text.extend_from_slice(b"\n\0\0\0\n");
        text.extend_from_slice(b"/SHARED/Upper d29ybGQ=\r\n");
        text.extend_from_slice(b"/shared/torn d29"); // no LF, and a base64 tail cut short
        std::fs::write(dir.join(FILE), &text).unwrap();
        let want = entries(&[("/shared/good", b"hello"), ("/shared/upper", b"world")]);
        assert_eq!(read(&dir), want);
        // A change keeps the good entries; a change that does not touch the file keeps its
        // damaged lines as they are.
        set(&dir, true, vec![put(MOTD, b"m")]).unwrap();
        assert_eq!(std::fs::read(dir.join(FILE)).unwrap(), text);
        set(&dir, true, vec![put("/shared/new", b"n")]).unwrap();
        let mut want = want;
        want.insert(1, ("/shared/new".into(), b"n".to_vec()));
        want.insert(1, ("/shared/motd".into(), b"m".to_vec()));
        assert_eq!(read(&dir), want);
        // Not a file at all.
        std::fs::remove_file(dir.join(FILE)).unwrap();
        std::fs::create_dir(dir.join(FILE)).unwrap();
        assert_eq!(read(&dir), entries(&[("/shared/motd", b"m")]));
        let r = set(&dir, true, vec![put("/shared/x", b"x")]);
        assert!(
            matches!(&r, Err(MetadataError::Failed(t)) if t.contains(FILE)),
            "{r:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn motd_and_shutdown_are_msg_files() {
        let dir = scratch_dir("msgfiles");
        set(
            &dir,
            true,
            vec![put("/Shared/MOTD", b"Welcome"), put(SHUTDOWN, b"Down at 5")],
        )
        .unwrap();
        assert_eq!(std::fs::read(dir.join("msg/motd")).unwrap(), b"Welcome\n");
        assert_eq!(
            std::fs::read(dir.join("msg/shutdown")).unwrap(),
            b"Down at 5\n"
        );
        assert!(!dir.join(FILE).exists());
        assert_eq!(
            read(&dir),
            entries(&[(MOTD, b"Welcome"), (SHUTDOWN, b"Down at 5")])
        );
        // Written by hand: the first line only, CRLF or LF.
        std::fs::write(dir.join("msg/motd"), b"line one\r\nline two\n").unwrap();
        std::fs::write(dir.join("msg/shutdown"), b"").unwrap();
        assert_eq!(read(&dir), entries(&[(MOTD, b"line one"), (SHUTDOWN, b"")]));
        // Removing removes the file; removing it again is no error.
        set(&dir, true, vec![del(MOTD), del(SHUTDOWN)]).unwrap();
        set(&dir, true, vec![del(MOTD)]).unwrap();
        assert_eq!(names_in(&dir.join("msg")), Vec::<String>::new());
        assert_eq!(read(&dir), vec![]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_admins_change_anything() {
        let dir = scratch_dir("admin");
        for changes in [
            vec![put("/shared/comment", b"x")],
            vec![put(MOTD, b"x")],
            vec![del(SHUTDOWN)],
            vec![put("/bad", b"x")],
            vec![],
        ] {
            let r = set(&dir, false, changes);
            assert!(matches!(r, Err(MetadataError::NotAllowed)), "{r:?}");
        }
        assert_eq!(names_in(&dir), Vec::<String>::new());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_configdirectory_fails() {
        let dir = scratch_dir("missing").join("gone");
        let r = set(&dir, true, vec![put("/shared/comment", b"x")]);
        assert!(
            matches!(&r, Err(MetadataError::Failed(t)) if t.contains("gone")),
            "{r:?}"
        );
        assert_eq!(read(&dir), vec![]);
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        let dir = scratch_dir("concurrent");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    set(&dir, true, vec![put(&format!("/shared/t{i}"), b"v")]).unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(read(&dir).len(), 8);
        assert_eq!(names_in(&dir), vec![FILE]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
