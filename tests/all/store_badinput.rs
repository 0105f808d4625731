//! Bad input to the store commands: BAD or NO with a reason, the session
//! goes on, and nothing is written on disk.

use crate::store_util::*;

#[test]
fn malformed_sequence_sets_and_fetch_items() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    s.append("INBOX", &message("one", "1"));
    s.append("INBOX", &message("two", "2"));
    s.select("INBOX");
    for set in [
        "0",
        "1:",
        ":1",
        "a",
        "*:*x",
        "1,,2",
        "1:0",
        "-1",
        "1.5",
        "4294967296",
        "1 2",
        ",1",
    ] {
        for cmd in ["FETCH", "UID FETCH", "STORE", "COPY"] {
            let rest = match cmd {
                "FETCH" | "UID FETCH" => "FLAGS",
                "STORE" => "+FLAGS (\\Seen)",
                _ => "INBOX",
            };
            let t = s.fails(&format!("{cmd} {set} {rest}"), "BAD");
            assert!(t.len() > 4, "BAD needs a reason: {t}");
        }
    }
    for item in [
        "FOO",
        "(FLAGS FOO)",
        "BODY[",
        "BODY[1.]",
        "BODY[0]",
        "BODY[HEADER.FIELDS]",
        "BODY[HEADER.FIELDS ()]",
        "BODY[]<1>",
        "BODY[]<a.1>",
        "BODY[]<1.0x>",
        "BODY.PEEK",
        "BINARY[TEXT]",
        "(FLAGS",
        "FLAGS)",
        "",
    ] {
        s.fails(&format!("FETCH 1 {item}"), "BAD");
    }
    // The session still works, and nothing became \Seen.
    let f = s.fetch("FETCH 1:2 FLAGS");
    assert!(f.iter().all(|x| !x.has_flag("\\Seen")), "{f:?}");
    // Before SELECT the message commands are BAD.
    s.ok("UNSELECT");
    for cmd in [
        "FETCH 1 FLAGS",
        "STORE 1 +FLAGS (\\Seen)",
        "SEARCH ALL",
        "COPY 1 INBOX",
        "MOVE 1 INBOX",
        "EXPUNGE",
        "UID FETCH 1 FLAGS",
    ] {
        s.fails(cmd, "BAD");
    }
    s.fails("UID FOO 1", "BAD");
}

#[test]
fn mailbox_names_that_could_escape_or_confuse_the_tree() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    s.ok("CREATE a");
    let root = srv.data.spool();
    let before = snapshot(&root);
    let bad = [
        "..",
        "a/..",
        "a/../../etc",
        "../x",
        "a//b",
        "/x",
        "a/./b",
        ".",
        "\"\"",
        "a/*",
        "a%",
        // Invalid modified UTF-7 (rfc3501 5.1.3).
        "&Jjo",
        "&AGE-",
        "x&Jjo-y&",
        "&ZeVnLIqe",
        "&-&",
        "&U,BTFw",
    ];
    for name in bad {
        for cmd in [
            format!("CREATE {name}"),
            format!("RENAME a {name}"),
            format!("SELECT {name}"),
            format!("APPEND {name} {{1+}}\r\nx"),
        ] {
            let (u, t) = s.run(&cmd);
            assert!(
                t.starts_with("NO") || t.starts_with("BAD"),
                "{cmd:?} should fail: {t}\n{u:?}"
            );
            assert!(
                t.split_once(' ').is_some_and(|(_, r)| !r.trim().is_empty()),
                "no reason: {t}"
            );
        }
    }
    assert_eq!(
        snapshot(&root).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "bad names wrote to disk"
    );
    let n = list_names(&mut s);
    assert_eq!(n, ["INBOX", "a"]);
}

#[test]
fn names_resembling_maildir_dirs_stay_distinct() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let tree = user_tree(&srv.data.root, "plain");
    // Maildir++ keeps A/B in `.A.B`: a '.' in a name must not make a level,
    // and names like cur/new/tmp must not touch INBOX's directories.
    let mut created = Vec::new();
    for name in [
        ".hidden", "a.b", "x.", "cur", "new", "tmp", "a.b/c", "%2E", "%", "Maildir",
    ] {
        let quoted = format!("\"{name}\"");
        let (_, t) = s.run(&format!("CREATE {quoted}"));
        if t.starts_with("OK") {
            created.push(name.to_string());
        } else {
            assert!(t.starts_with("NO") || t.starts_with("BAD"), "{t}");
        }
    }
    assert!(
        created.contains(&"a.b".to_string()),
        "a '.' in a name is ordinary: {created:?}"
    );
    let mut want: Vec<String> = created.clone();
    // Superiors that CREATE made on the way (a.b/c → a.b).
    want.push("INBOX".into());
    want.sort();
    want.dedup();
    let n = list_names(&mut s);
    assert_eq!(n, want, "LIST shows exactly what was created");
    assert!(!n.contains(&"a/b".to_string()), "a.b became a/b: {n:?}");
    // INBOX still works: append, select, fetch.
    let uid = s.append("INBOX", &message("inbox", "still here"));
    for name in &created {
        let (_, t) = s.run(&format!("SELECT \"{name}\""));
        assert!(t.starts_with("OK"), "SELECT {name}: {t}");
        let (u, _) = s.run("SEARCH ALL");
        assert_eq!(
            search_result(&u),
            Vec::<u32>::new(),
            "{name} sees INBOX mail"
        );
    }
    s.select("INBOX");
    let f = s.fetch("FETCH 1:* UID");
    assert_eq!(f.iter().map(|x| x.uid()).collect::<Vec<_>>(), [uid]);
    // Every created mailbox is one directory directly under the tree.
    for (p, sz) in snapshot(&tree) {
        if sz.is_none() && p.components().count() == 1 {
            let d = p.to_string_lossy().to_string();
            assert!(
                d == "cur" || d == "new" || d == "tmp" || d.starts_with('.'),
                "unexpected directory {d} in the tree"
            );
        }
    }
    // Deleting a.b leaves INBOX alone.
    if created.contains(&"a.b/c".to_string()) {
        s.ok("DELETE \"a.b/c\"");
    }
    s.ok("DELETE \"a.b\"");
    assert_eq!(s.status("INBOX", "MESSAGES")["MESSAGES"], 1);
}

fn list_names(s: &mut Session) -> Vec<String> {
    let u = s.ok("LIST \"\" *");
    let mut n: Vec<String> = u
        .iter()
        .map(|l| {
            let name = l
                .rsplit_once(" \"/\" ")
                .map(|x| x.1)
                .unwrap_or_else(|| panic!("{l}"));
            name.trim_matches('"').to_string()
        })
        .collect();
    n.sort();
    n
}

#[test]
fn literals_and_flags_that_are_not_allowed() {
    let srv = store_server(&["maxmessagesize: 2000"]);
    let mut s = Session::new(&srv);
    let spool = srv.data.spool();
    let before = message_files(&spool);
    // Flags with atom-specials, an unterminated list, a negative size.
    for cmd in [
        "APPEND INBOX (\\Seen {1+}\r\nx",
        "APPEND INBOX (fl(ag) {1+}\r\nx",
        "APPEND INBOX \"32-Jan-2020 00:00:00 +0000\" {1+}\r\nx",
        "APPEND INBOX \"01-Jan-2020 25:00:00 +0000\" {1+}\r\nx",
        "APPEND INBOX \"01-Jan-2020 00:00:00 0000\" {1+}\r\nx",
        "APPEND INBOX x",
        "APPEND INBOX",
    ] {
        s.refused(cmd);
    }
    // Too big, with a synchronizing literal: no continuation, NO [TOOBIG].
    s.c.send("B1 APPEND INBOX {5000}\r\n");
    let l = s.c.line();
    assert!(l.starts_with("B1 NO") && l.contains("TOOBIG"), "{l}");
    assert_eq!(message_files(&spool), before);
    assert_eq!(s.status("INBOX", "MESSAGES")["MESSAGES"], 0);
    // An 8-bit mailbox name must be modified UTF-7.
    let (_, t) = s
        .raw("U8", "U8 CREATE \"caf\u{e9}\"\r\n".as_bytes())
        .clone();
    assert!(t.starts_with("NO") || t.starts_with("BAD"), "{t}");
    assert_eq!(message_files(&spool), before);
}

/// Message files damaged behind the server's back (deleted, cut short,
/// replaced by a directory): fetching such a message gets NO or its bytes
/// as they are now (or, its file gone, the message is expunged, as a
/// maildir's reader sees it), never a literal whose length lies, a BYE or
/// a dead session; the other messages are served as before.
#[test]
fn damaged_message_files_get_no_and_the_session_goes_on() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let msgs: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            format!(
                "Subject: file {i}\r\nMessage-ID: <file{i}@test>\r\n\r\n{}\r\n",
                "body line\r\n".repeat(200)
            )
            .into_bytes()
        })
        .collect();
    for m in &msgs {
        c.append("INBOX", m);
    }
    // Cached data first, so the damage is seen only by what reads files.
    c.select("INBOX");
    c.fetch("FETCH 1:* (ENVELOPE RFC822.SIZE BODYSTRUCTURE)");
    c.logout();
    let cur = user_tree(&s.data.root, "plain").join("cur");
    let mut files: Vec<_> = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|p| {
        // `<time>.M<usec>P<n>U<uid>...`: in UID order.
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let uid = name.split('U').nth(1).unwrap_or("");
        uid.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .unwrap_or(0)
    });
    assert_eq!(files.len(), 4, "{files:?}");
    std::fs::remove_file(&files[0]).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .unwrap();
    f.set_len(100).unwrap();
    drop(f);
    std::fs::remove_file(&files[2]).unwrap();
    std::fs::create_dir(&files[2]).unwrap();

    let mut c = Session::new(&s);
    let (u, t) = c.select("INBOX");
    assert!(t.starts_with("OK"), "SELECT: {t} {u:?}");
    for uid in 1..=3 {
        for item in [
            "BODY.PEEK[]",
            "BODY.PEEK[TEXT]",
            "BINARY.PEEK[1]",
            "RFC822.SIZE",
        ] {
            let cmd = format!("UID FETCH {uid} {item}");
            let (r, t) = c.run_lit(&cmd);
            assert!(
                t.starts_with("OK") || t.starts_with("NO"),
                "{cmd} of a damaged file: {t}"
            );
            // Whatever came back parses: every literal is as long as it says.
            for resp in r.iter().filter(|r| is_fetch(r)) {
                crate::store_grammar::parse_fetch(resp)
                    .unwrap_or_else(|e| panic!("{cmd}: {e}\n{}", lossy(resp)));
            }
        }
        let (_, t) = c.run(&format!("UID SEARCH BODY \"line\" UID {uid}"));
        assert!(t.starts_with("OK") || t.starts_with("NO"), "SEARCH: {t}");
    }
    // The undamaged message is served whole, and the session goes on.
    let f = c.fetch("UID FETCH 4 BODY.PEEK[]");
    assert_eq!(f[0].bytes("BODY[]"), msgs[3]);
    let (_, t) = c.run("NOOP");
    assert!(t.starts_with("OK"), "{t}");
    c.logout();
    let log = s.log();
    assert!(!log.contains("panicked") && !log.contains("trap"), "{log}");
}
