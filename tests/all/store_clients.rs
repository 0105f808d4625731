//! Real clients against the store: Python's imaplib (a full session, see
//! tests/clients/imaplib_session.py), imapflow resynchronising with QRESYNC
//! (tests/clients/imapflow), curl's imap:// URLs, and a two-way sync with
//! mbsync (isync). These tests are skipped, with a message, where the
//! program is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::store_util::*;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Run a program with a time bound; (status ok, stdout, stderr).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("spawn");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn python_imaplib_full_session() {
    let Some(py) = program("python3") else { return };
    let srv = store_server(&[]);
    let (ok, out, err) = run(Command::new(py)
        .arg(clients_dir().join("imaplib_session.py"))
        .arg("127.0.0.1")
        .arg(srv.plain.port().to_string())
        .args(["plain", "secret"]));
    assert!(
        ok,
        "imaplib session failed:\n{out}\n{err}\nserver log:\n{}",
        srv.log()
    );
    assert!(out.contains("imaplib session: OK"), "{out}");
}

/// imapflow with `qresync: true` (tests/clients/imapflow/qresync.js): a
/// full sync, changes by another client, then a QRESYNC resync that must
/// end with the server's state. `make test` installs imapflow with npm.
#[test]
fn imapflow_resynchronises_with_qresync() {
    let Some(node) = program("node") else { return };
    let dir = clients_dir().join("imapflow");
    if !dir.join("node_modules/imapflow").is_dir() {
        eprintln!("SKIPPED: imapflow is not installed (`make test` runs npm install in {dir:?})");
        return;
    }
    let srv = store_server(&[]);
    let (ok, out, err) = run(Command::new(node)
        .arg(dir.join("qresync.js"))
        .arg("127.0.0.1")
        .arg(srv.plain.port().to_string())
        .args(["plain", "secret"]));
    assert!(
        ok,
        "imapflow resync failed:\n{out}\n{err}\nserver log:\n{}",
        srv.log()
    );
    assert!(out.contains("imapflow qresync: OK"), "{out}");
}

fn curl(port: u16, path: &str, extra: &[&str]) -> (bool, String, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30", "--user", "plain:secret"])
        .args(extra)
        .arg(format!("imap://127.0.0.1:{port}/{path}"));
    run(&mut c)
}

#[test]
fn curl_imap_urls() {
    if program("curl").is_none() {
        return;
    }
    let srv = store_server(&[]);
    let port = srv.plain.port();
    let mut s = Session::new(&srv);
    s.ok("CREATE Reports");
    s.ok("CREATE Reports/2024");
    let m = message("for curl", "curl body line");
    let uid = s.append("INBOX", &m);
    // curl's LIST of the root.
    let (ok, out, err) = curl(port, "", &[]);
    assert!(ok, "{err}");
    for name in ["INBOX", "Reports", "Reports/2024"] {
        assert!(
            out.lines().any(|l| l.starts_with("* LIST")
                && (l.ends_with(&format!(" {name}")) || l.ends_with(&format!(" \"{name}\"")))),
            "{name} not listed:\n{out}"
        );
    }
    // A message by UID: curl prints BODY[] exactly.
    let (ok, out, err) = curl(port, &format!("INBOX;UID={uid}"), &[]);
    assert!(ok, "{err}");
    assert_eq!(out.as_bytes(), &m[..]);
    // A section.
    let (ok, out, err) = curl(
        port,
        &format!("INBOX;UID={uid};SECTION=HEADER.FIELDS%20(SUBJECT)"),
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("Subject: for curl"), "{out:?}");
    // Custom commands with -X.
    let (ok, out, err) = curl(port, "INBOX", &["-X", "SEARCH SUBJECT curl"]);
    assert!(ok, "{err}");
    assert!(out.contains("* SEARCH 1"), "{out}");
    let (ok, out, err) = curl(port, "", &["-X", "STATUS INBOX (MESSAGES UIDNEXT)"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("MESSAGES 1 UIDNEXT {}", uid + 1)),
        "{out}"
    );
    let (ok, out, err) = curl(port, "", &["-X", "EXAMINE Reports"]);
    assert!(ok, "{err}");
    assert!(out.contains("0 EXISTS"), "{out}");
    // Upload: curl APPENDs a file.
    let file = srv.data.root.join("upload.eml");
    let up = message("uploaded by curl", "uploaded");
    std::fs::write(&file, &up).unwrap();
    let (ok, _, err) = curl(port, "Reports", &["-T", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut s = Session::new(&srv);
    s.select("Reports");
    let f = s.fetch("FETCH 1 BODY.PEEK[]");
    assert_eq!(f[0].bytes("BODY[]"), up);
    // A wrong password is an error for curl.
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30", "--user", "plain:wrong"])
        .arg(format!("imap://127.0.0.1:{port}/"));
    assert!(!run(&mut c).0);
}

#[test]
fn mbsync_two_way_sync() {
    let Some(mbsync) = program("mbsync") else {
        return;
    };
    let (_, ver, _) = run(Command::new(&mbsync).arg("--version"));
    // isync 1.5 renamed SSLType to TLSType.
    let tls_key = match ver
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok())
    {
        Some(minor) if ver.contains(" 1.") && minor >= 5 => "TLSType",
        _ => "SSLType",
    };
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    s.ok("CREATE Lists");
    let a = s.append("INBOX", &message("sync one", "1"));
    s.append("INBOX", &message("sync two", "2"));
    s.append("Lists", &message("list mail", "3"));

    let local = srv.data.root.join("local");
    std::fs::create_dir_all(&local).unwrap();
    let conf = srv.data.root.join("mbsyncrc");
    std::fs::write(
        &conf,
        format!(
            "IMAPAccount t\nHost 127.0.0.1\nPort {port}\nUser plain\nPass secret\n{tls_key} None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount t\n\n\
             MaildirStore local\nPath {l}/\nInbox {l}/INBOX\nSubFolders Verbatim\n\n\
             Channel c\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            port = srv.plain.port(),
            l = local.display()
        ),
    )
    .unwrap();
    let sync = || {
        let (ok, out, err) = run(Command::new(&mbsync).arg("-c").arg(&conf).arg("-a"));
        assert!(
            ok,
            "mbsync failed:\n{out}\n{err}\nserver log:\n{}",
            srv.log()
        );
    };
    let files = |dir: &str| -> Vec<PathBuf> {
        let mut v = Vec::new();
        for sub in ["cur", "new"] {
            if let Ok(rd) = std::fs::read_dir(local.join(dir).join(sub)) {
                v.extend(rd.flatten().map(|e| e.path()));
            }
        }
        v.sort();
        v
    };
    sync();
    assert_eq!(files("INBOX").len(), 2, "INBOX pulled");
    assert_eq!(files("Lists").len(), 1, "Lists pulled");
    let bodies: Vec<Vec<u8>> = files("INBOX")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    // mbsync's Maildir side stores LF line endings and may add its own
    // X-TUID header; everything else must be exactly what was appended.
    assert!(
        bodies
            .iter()
            .any(|b| same_mail(b, &message("sync one", "1"))),
        "exact copy (up to line endings)"
    );

    // Local changes: a new message in Lists, one INBOX message trashed.
    let newmsg = message("written locally", "4");
    std::fs::write(local.join("Lists/new/1700000000.1.localhost"), &newmsg).unwrap();
    let victim = files("INBOX")
        .into_iter()
        .find(|p| same_mail(&std::fs::read(p).unwrap(), &message("sync one", "1")))
        .unwrap();
    let name = victim.file_name().unwrap().to_string_lossy().to_string();
    let base = name.split(":2,").next().unwrap().to_string();
    let flags = name.split(":2,").nth(1).unwrap_or("").to_string();
    let trashed = local
        .join("INBOX/cur")
        .join(format!("{base}:2,{}T", flags.replace('T', "")));
    std::fs::rename(&victim, &trashed).unwrap();
    // A remote change: a flag.
    s.select("INBOX");
    s.ok("STORE 2 +FLAGS (\\Flagged)");
    s.ok("UNSELECT");
    sync();
    let st = s.status("Lists", "MESSAGES");
    assert_eq!(st["MESSAGES"], 2, "local message pushed");
    let st = s.status("INBOX", "MESSAGES");
    assert_eq!(st["MESSAGES"], 1, "local deletion pushed");
    s.select("INBOX");
    let f = s.fetch("FETCH 1 (UID BODY.PEEK[])");
    assert_ne!(f[0].uid(), a);
    s.select("Lists");
    let f = s.fetch("FETCH 1:* BODY.PEEK[]");
    assert!(
        f.iter().any(|x| same_mail(&x.bytes("BODY[]"), &newmsg)),
        "pushed message is exact (up to line endings)"
    );
    let inbox = files("INBOX");
    assert_eq!(inbox.len(), 1);
    let n = inbox[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        n.split(":2,").nth(1).is_some_and(|f| f.contains('F')),
        "remote \\Flagged pulled: {n}"
    );
    // A third run changes nothing.
    sync();
    assert_eq!(files("INBOX").len(), 1);
    assert_eq!(files("Lists").len(), 2);
}

/// The same message up to CRLF versus LF and mbsync's X-TUID header.
fn same_mail(a: &[u8], b: &[u8]) -> bool {
    let norm = |m: &[u8]| -> Vec<u8> {
        let text: Vec<u8> = m.iter().copied().filter(|&c| c != b'\r').collect();
        text.split(|&c| c == b'\n')
            .filter(|l| !l.starts_with(b"X-TUID:"))
            .collect::<Vec<_>>()
            .join(&b'\n')
    };
    norm(a) == norm(b)
}
