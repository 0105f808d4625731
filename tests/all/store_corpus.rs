//! The MIME corpus (/work/shared/corpus/mime, or $IMAPD_MIME_CORPUS): every
//! message APPENDed, read back byte for byte, and every ENVELOPE,
//! BODYSTRUCTURE and BODY checked against rfc3501 section 9.

use std::path::{Path, PathBuf};

use crate::store_util::*;

pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let d = std::env::var_os("IMAPD_MIME_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/corpus/mime"));
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!(
            "SKIPPED: MIME corpus {} not found (set IMAPD_MIME_CORPUS)",
            d.display()
        );
        None
    }
}

pub(crate) fn emls(d: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(d).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            emls(&p, out);
        } else if p.extension().is_some_and(|x| x == "eml") {
            out.push(p);
        }
    }
}

/// CRLF line ends (bare LF and bare CR become CRLF), NULs removed: what an
/// IMAP client may send in a non-binary APPEND.
pub fn canonical(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            0 => {}
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[test]
fn corpus_round_trips_and_responses_are_grammatical() {
    let Some(dir) = corpus_dir() else { return };
    let mut files = Vec::new();
    emls(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty());
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    // rfc6855 4: the corpus has messages with 8-bit header fields, which
    // APPEND takes only after this.
    s.ok("ENABLE UTF8=ACCEPT");
    s.ok("CREATE corpus");
    let mut uids = Vec::new();
    for f in &files {
        let m = canonical(&std::fs::read(f).unwrap());
        let (_, t) = s.append_full("corpus", None, None, &m);
        assert!(t.starts_with("OK"), "APPEND {}: {t}", f.display());
        uids.push((appenduid(&t).expect(&t).1, m, f.clone()));
    }
    s.ok("EXAMINE corpus");
    let mut failures = Vec::new();
    for (uid, m, path) in &uids {
        let name = path.strip_prefix(&dir).unwrap().display().to_string();
        // One message at a time so a failure names its file.
        let (u, t) = s.run_lit(&format!(
            "UID FETCH {uid} (BODY.PEEK[] RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY)"
        ));
        if !t.starts_with("OK") {
            failures.push(format!("{name}: {t}"));
            continue;
        }
        let fetches: Vec<_> = u.iter().filter(|r| is_fetch(r)).collect();
        if fetches.len() != 1 {
            failures.push(format!("{name}: {} FETCH responses", fetches.len()));
            continue;
        }
        match crate::store_grammar::parse_fetch(fetches[0]) {
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(f) => {
                if f.get("BODY[]").and_then(|v| v.str()) != Some(&m[..]) {
                    failures.push(format!("{name}: BODY[] differs from what was appended"));
                }
                if f.get("RFC822.SIZE").map(|v| v.num()) != Some(m.len() as u64) {
                    failures.push(format!(
                        "{name}: RFC822.SIZE {:?} != {}",
                        f.get("RFC822.SIZE"),
                        m.len()
                    ));
                }
                for item in ["ENVELOPE", "BODYSTRUCTURE", "BODY", "UID"] {
                    if f.get(item).is_none() {
                        failures.push(format!("{name}: no {item}"));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus messages failed:\n{}",
        failures.len(),
        uids.len(),
        failures.join("\n")
    );
    // The whole mailbox at once, as clients do.
    let all = s.fetch("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)");
    assert_eq!(all.len(), uids.len());
    // A client that did not enable UTF-8 gets 7-bit header text (rfc6855
    // 8: encoded words), just as grammatical.
    let mut rev1 = Session::new(&srv);
    rev1.ok("EXAMINE corpus");
    let fetched = rev1.ok_lit("FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)");
    let fetches: Vec<_> = fetched.iter().filter(|r| is_fetch(r)).collect();
    assert_eq!(fetches.len(), uids.len());
    for f in fetches {
        assert!(f.is_ascii(), "{}", lossy(f));
        crate::store_grammar::parse_fetch(f).unwrap_or_else(|e| panic!("{e}: {}", lossy(f)));
    }
}
