//! Mailbox commands against rfc3501 6.3 (SELECT EXAMINE CREATE DELETE
//! RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB STATUS APPEND), 6.4.1-6.4.3
//! (CHECK CLOSE EXPUNGE), rfc3691 UNSELECT, rfc4315 UIDPLUS, rfc3502
//! MULTIAPPEND, rfc2342 NAMESPACE, rfc7889 APPENDLIMIT, rfc8438 STATUS SIZE.

use crate::store_util::*;

/// The LIST/LSUB lines as (attributes lower-cased, delimiter, name).
fn list(s: &mut Session, cmd: &str) -> Vec<(Vec<String>, String, String)> {
    let word = cmd.split(' ').next().unwrap().to_ascii_uppercase();
    let u = s.ok(cmd);
    let mut out = Vec::new();
    for l in u {
        let Some(rest) = l.strip_prefix(&format!("* {word} (")) else {
            panic!("{cmd}: unexpected {l}")
        };
        let (attrs, rest) = rest.split_once(") ").unwrap_or_else(|| panic!("{l}"));
        let attrs = attrs
            .split_whitespace()
            .map(|a| a.to_ascii_lowercase())
            .collect();
        let (delim, name) = if let Some(r) = rest.strip_prefix("NIL ") {
            ("NIL".to_string(), r)
        } else {
            assert!(rest.starts_with('"'), "{l}");
            (rest[1..2].to_string(), &rest[4..])
        };
        let name = name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or(name);
        out.push((attrs, delim, name.to_string()));
    }
    out
}

fn names(v: &[(Vec<String>, String, String)]) -> Vec<String> {
    let mut n: Vec<String> = v.iter().map(|x| x.2.clone()).collect();
    n.sort();
    n
}

fn attrs_of<'a>(v: &'a [(Vec<String>, String, String)], name: &str) -> &'a [String] {
    &v.iter()
        .find(|x| x.2 == name)
        .unwrap_or_else(|| panic!("{name} not listed: {v:?}"))
        .0
}

fn count_msgs(s: &mut Session, mbox: &str) -> u64 {
    s.status(mbox, "MESSAGES")["MESSAGES"]
}

#[test]
fn select_and_examine_responses() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let u1 = s.append("INBOX", &message("one", "1"));
    let (_, t) = s.append_full("INBOX", Some("\\Seen"), None, &message("two", "2"));
    assert!(t.starts_with("OK"), "{t}");
    s.append("INBOX", &message("three", "3"));
    let (u, t) = s.select("INBOX");
    assert!(t.starts_with("OK [READ-WRITE]"), "SELECT: {t}");
    assert_eq!(count(&u, "EXISTS"), Some(3), "{u:?}");
    assert_eq!(
        count(&u, "RECENT"),
        Some(3),
        "first session sees \\Recent: {u:?}"
    );
    let flags = find_untagged(&u, "FLAGS").unwrap_or_else(|| panic!("no FLAGS: {u:?}"));
    for f in ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"] {
        assert!(flags.contains(f), "{f} missing from {flags}");
    }
    let uv = u
        .iter()
        .find_map(|l| resp_code(l, "UIDVALIDITY"))
        .unwrap_or_else(|| panic!("no UIDVALIDITY: {u:?}"));
    let uv: u32 = uv[0].parse().unwrap();
    assert!(uv > 0);
    let next = u
        .iter()
        .find_map(|l| resp_code(l, "UIDNEXT"))
        .unwrap_or_else(|| panic!("no UIDNEXT: {u:?}"));
    let next: u32 = next[0].parse().unwrap();
    assert!(next > u1 + 1, "UIDNEXT {next} after UIDs {u1}..");
    let pf = u
        .iter()
        .find(|l| l.contains("[PERMANENTFLAGS ("))
        .unwrap_or_else(|| panic!("no PERMANENTFLAGS: {u:?}"));
    assert!(
        pf.contains("\\Seen") && pf.contains("\\Deleted") && pf.contains("\\*"),
        "{pf}"
    );
    let unseen = u.iter().find_map(|l| resp_code(l, "UNSEEN"));
    assert_eq!(unseen, Some(vec!["1"]), "first unseen is message 1: {u:?}");
    // Every untagged line is one of the kinds rfc3501 6.3.1 lists.
    for l in &u {
        assert!(
            l.starts_with("* FLAGS (")
                || l.starts_with("* OK [")
                || l.ends_with(" EXISTS")
                || l.ends_with(" RECENT"),
            "unexpected {l}"
        );
    }

    // EXAMINE: READ-ONLY, PERMANENTFLAGS may be empty, \Recent is not cleared
    // (rfc3501 6.3.2) — but the first SELECT above already took it.
    let mut s2 = Session::new(&srv);
    s2.append("INBOX", &message("four", "4"));
    let (u, t) = s2.run("EXAMINE INBOX");
    assert!(t.starts_with("OK [READ-ONLY]"), "EXAMINE: {t}");
    assert_eq!(count(&u, "EXISTS"), Some(4));
    let r_examine = count(&u, "RECENT").expect("RECENT");
    let mut s3 = Session::new(&srv);
    let (u, _) = s3.select("INBOX");
    assert!(
        count(&u, "RECENT").unwrap() >= r_examine && r_examine >= 1,
        "EXAMINE must not clear \\Recent: examine {r_examine}, then {u:?}"
    );
    // A second SELECT of the same mailbox: UIDVALIDITY unchanged.
    let uv2: u32 = u.iter().find_map(|l| resp_code(l, "UIDVALIDITY")).unwrap()[0]
        .parse()
        .unwrap();
    assert_eq!(uv, uv2);
    // STORE in EXAMINE mode is refused.
    s2.refused("STORE 1 +FLAGS (\\Flagged)");
    // SELECT of a missing mailbox: NO, and the session is not selected anymore
    // (rfc3501 6.3.1).
    s3.fails("SELECT nosuch", "NO");
    s3.fails("FETCH 1 FLAGS", "BAD");
}

#[test]
fn create_delete_rename_hierarchy() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    s.ok("CREATE a/b/c");
    let l = list(&mut s, "LIST \"\" *");
    assert_eq!(
        names(&l),
        ["INBOX", "a", "a/b", "a/b/c"],
        "superiors created (rfc3501 6.3.3)"
    );
    assert!(l.iter().all(|x| x.1 == "/"), "{l:?}");
    s.fails("CREATE a/b", "NO");
    s.fails("CREATE INBOX", "NO");
    s.fails("CREATE inbox", "NO");
    s.fails("DELETE INBOX", "NO");
    s.fails("DELETE nosuch", "NO");
    s.fails("RENAME nosuch x", "NO");
    s.fails("RENAME a a/b", "NO");
    s.ok("CREATE blurdybloop");
    s.fails("RENAME blurdybloop a", "NO");

    // rfc3501 6.3.4: deleting a mailbox with inferiors leaves a \Noselect name.
    let uid = s.append("a/b", &message("in a/b", "x"));
    let old_uv = s.status("a/b", "UIDVALIDITY")["UIDVALIDITY"];
    s.ok("DELETE blurdybloop");
    s.ok("DELETE a/b");
    let l = list(&mut s, "LIST \"\" *");
    assert!(!names(&l).contains(&"blurdybloop".to_string()));
    assert!(names(&l).contains(&"a/b/c".to_string()), "{l:?}");
    let l = list(&mut s, "LIST \"\" a/%");
    assert!(attrs_of(&l, "a/b").contains(&"\\noselect".into()), "{l:?}");
    s.fails("SELECT a/b", "NO");
    s.fails("DELETE a/b", "NO"); // \Noselect with inferiors
    // A new a/b must not reuse the old UIDs with the old UIDVALIDITY.
    s.ok("DELETE a/b/c");
    s.ok("DELETE a/b"); // rfc3501 6.3.4 example: the \Noselect name goes too
    s.ok("CREATE a/b");
    let st = s.status("a/b", "MESSAGES UIDNEXT UIDVALIDITY");
    assert_eq!(st["MESSAGES"], 0);
    let (_, t) = s.append_full("a/b", None, None, &message("again", "y"));
    let (_, uid2) = appenduid(&t).unwrap();
    assert!(
        uid2 > uid || st["UIDVALIDITY"] != old_uv,
        "recreated a/b reuses UID {uid2} under UIDVALIDITY {old_uv} (rfc3501 2.3.1.1)"
    );

    // RENAME moves inferiors and creates superiors (rfc3501 6.3.5).
    s.ok("CREATE x/y/z");
    let moved = s.append("x/y", &message("moving", "m"));
    s.ok("RENAME x/y p/q/r");
    let l = list(&mut s, "LIST \"\" *");
    let n = names(&l);
    for want in ["p", "p/q", "p/q/r", "p/q/r/z"] {
        assert!(n.contains(&want.to_string()), "{want} missing: {n:?}");
    }
    assert!(
        !n.contains(&"x/y".to_string()) && !n.contains(&"x/y/z".to_string()),
        "{n:?}"
    );
    assert_eq!(count_msgs(&mut s, "p/q/r"), 1);
    s.select("p/q/r");
    let f = s.fetch("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert_eq!(f.len(), 1);
    assert!(
        String::from_utf8_lossy(&f[0].bytes("BODY[HEADER.FIELDS (SUBJECT)]")).contains("moving")
    );
    let _ = moved;
    s.ok("UNSELECT");
    s.fails("RENAME INBOX INBOX", "NO");
}

#[test]
fn rename_inbox_moves_mail_and_leaves_it_empty() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    s.append("INBOX", &message("first", "1"));
    s.append("INBOX", &message("second", "2"));
    s.ok("CREATE INBOX/child");
    s.ok("RENAME INBOX old-mail");
    // rfc3501 6.3.5: all messages move to the new name, INBOX stays and is
    // empty; inferior names of INBOX are not moved.
    assert_eq!(count_msgs(&mut s, "old-mail"), 2);
    assert_eq!(count_msgs(&mut s, "INBOX"), 0);
    let n = names(&list(&mut s, "LIST \"\" *"));
    assert!(
        n.contains(&"INBOX".to_string()) && n.contains(&"old-mail".to_string()),
        "{n:?}"
    );
    assert!(
        n.contains(&"INBOX/child".to_string()),
        "inferiors of INBOX stay: {n:?}"
    );
    assert!(!n.contains(&"old-mail/child".to_string()), "{n:?}");
    // INBOX works as before, with UIDs that are new for its UIDVALIDITY.
    let (u, _) = s.select("INBOX");
    assert_eq!(count(&u, "EXISTS"), Some(0));
    s.append("INBOX", &message("third", "3"));
    s.select("old-mail");
    let f = s.fetch("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let subjects: Vec<String> = f
        .iter()
        .map(|x| String::from_utf8_lossy(&x.bytes("BODY[HEADER.FIELDS (SUBJECT)]")).into_owned())
        .collect();
    assert!(
        subjects[0].contains("first") && subjects[1].contains("second"),
        "{subjects:?}"
    );
}

#[test]
fn list_wildcards_references_and_children() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    for m in [
        "Work",
        "Work/Projects",
        "Work/Projects/imapd",
        "Archive",
        "Archive2",
    ] {
        s.ok(&format!("CREATE {m}"));
    }
    // The hierarchy delimiter query (rfc3501 6.3.8).
    let l = list(&mut s, "LIST \"\" \"\"");
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(
        l[0].0.contains(&"\\noselect".into()) && l[0].1 == "/" && l[0].2.is_empty(),
        "{l:?}"
    );
    let all = list(&mut s, "LIST \"\" *");
    assert_eq!(
        names(&all),
        [
            "Archive",
            "Archive2",
            "INBOX",
            "Work",
            "Work/Projects",
            "Work/Projects/imapd"
        ]
    );
    assert!(
        attrs_of(&all, "Work").contains(&"\\haschildren".into()),
        "{all:?}"
    );
    assert!(
        attrs_of(&all, "Archive").contains(&"\\hasnochildren".into()),
        "{all:?}"
    );
    assert!(attrs_of(&all, "Work/Projects/imapd").contains(&"\\hasnochildren".into()));
    for (_, a) in all.iter().map(|x| (x.2.clone(), x.0.clone())) {
        assert!(
            !(a.contains(&"\\haschildren".into()) && a.contains(&"\\hasnochildren".into())),
            "{a:?}"
        );
    }
    // % stops at the delimiter.
    assert_eq!(
        names(&list(&mut s, "LIST \"\" %")),
        ["Archive", "Archive2", "INBOX", "Work"]
    );
    assert_eq!(names(&list(&mut s, "LIST \"\" Work/%")), ["Work/Projects"]);
    assert_eq!(
        names(&list(&mut s, "LIST \"\" Work/*")),
        ["Work/Projects", "Work/Projects/imapd"]
    );
    assert_eq!(
        names(&list(&mut s, "LIST \"\" Arch*")),
        ["Archive", "Archive2"]
    );
    assert_eq!(
        names(&list(&mut s, "LIST \"\" *imapd")),
        ["Work/Projects/imapd"]
    );
    // The reference is prefixed to the pattern.
    assert_eq!(names(&list(&mut s, "LIST Work/ %")), ["Work/Projects"]);
    assert_eq!(
        names(&list(&mut s, "LIST Work/ *")),
        ["Work/Projects", "Work/Projects/imapd"]
    );
    // Names are case-sensitive, INBOX is not (rfc3501 5.1).
    assert!(list(&mut s, "LIST \"\" work").is_empty());
    assert_eq!(names(&list(&mut s, "LIST \"\" inbox")), ["INBOX"]);
    assert!(list(&mut s, "LIST \"\" nosuch*").is_empty());
    // Modified UTF-7 names (rfc3501 5.1.3 example) round-trip.
    s.ok("CREATE &ZeVnLIqe-");
    assert_eq!(names(&list(&mut s, "LIST \"\" &ZeVnLIqe-")), ["&ZeVnLIqe-"]);
    s.ok("CREATE \"Entw&APw-rfe\"");
    let n = names(&list(&mut s, "LIST \"\" Entw*"));
    assert_eq!(n, ["Entw&APw-rfe"]);
    // Stored as UTF-8 in the Maildir++ tree (store layout).
    let tree = user_tree(&srv.data.root, "plain");
    assert!(
        tree.join(".日本語").is_dir() && tree.join(".Entwürfe").is_dir(),
        "{:?}",
        snapshot(&tree).keys().collect::<Vec<_>>()
    );
}

#[test]
fn subscribe_and_lsub() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    s.ok("CREATE news/comp/mail");
    s.ok("CREATE news/misc");
    s.ok("SUBSCRIBE news/comp/mail");
    s.ok("SUBSCRIBE news/misc");
    let l = list(&mut s, "LSUB \"\" *");
    assert_eq!(names(&l), ["news/comp/mail", "news/misc"]);
    // rfc3501 6.3.9: % returns a non-subscribed level as \Noselect.
    let l = list(&mut s, "LSUB \"\" news/%");
    assert!(names(&l).contains(&"news/misc".to_string()), "{l:?}");
    if let Some(c) = l.iter().find(|x| x.2 == "news/comp") {
        assert!(c.0.contains(&"\\noselect".into()), "{l:?}");
    }
    s.ok("UNSUBSCRIBE news/misc");
    assert_eq!(names(&list(&mut s, "LSUB \"\" *")), ["news/comp/mail"]);
    // Subscriptions survive a new session.
    let mut s2 = Session::new(&srv);
    assert_eq!(names(&list(&mut s2, "LSUB \"\" *")), ["news/comp/mail"]);
    // INBOX is case-insensitive here too.
    s2.ok("SUBSCRIBE inbox");
    assert!(names(&list(&mut s2, "LSUB \"\" *")).contains(&"INBOX".to_string()));
}

#[test]
fn namespace() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let u = s.ok("NAMESPACE");
    assert_eq!(u.len(), 1, "{u:?}");
    // altnamespace + unixhierarchysep: personal namespace "" with "/".
    assert!(u[0].starts_with("* NAMESPACE ((\"\" \"/\")"), "{}", u[0]);
    // Syntax: three (namespace / NIL) (rfc2342 5).
    let rest = &u[0]["* NAMESPACE ".len()..];
    let mut depth = 0;
    let mut top = 0;
    let mut in_q = false;
    for (i, c) in rest.char_indices() {
        match c {
            '"' if !rest[..i].ends_with('\\') => in_q = !in_q,
            '(' if !in_q => depth += 1,
            ')' if !in_q => {
                depth -= 1;
                if depth == 0 {
                    top += 1;
                }
            }
            _ => {}
        }
    }
    top += rest.matches("NIL").count();
    assert_eq!(top, 3, "three namespaces: {}", u[0]);
    s.fails("NAMESPACE extra", "BAD");
}

#[test]
fn status_items() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    s.ok("CREATE box");
    let st = s.status("box", "MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN");
    assert_eq!(st["MESSAGES"], 0);
    assert_eq!(st["RECENT"], 0);
    assert_eq!(st["UNSEEN"], 0);
    assert!(st["UIDNEXT"] >= 1 && st["UIDVALIDITY"] >= 1, "{st:?}");
    let m1 = message("status one", "aaaa");
    let m2 = message("status two", "bbbbbbbb");
    let uid1 = s.append("box", &m1);
    let (_, t) = s.append_full("box", Some("\\Seen"), None, &m2);
    let (_, uid2) = appenduid(&t).expect(&t);
    let st2 = s.status("box", "MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE");
    assert_eq!(st2["MESSAGES"], 2);
    assert_eq!(st2["RECENT"], 2);
    assert_eq!(st2["UNSEEN"], 1);
    assert_eq!(st2["UIDVALIDITY"], st["UIDVALIDITY"]);
    assert!(uid1 >= st["UIDNEXT"] as u32 && uid2 > uid1);
    assert_eq!(st2["UIDNEXT"], uid2 as u64 + 1, "{st2:?}");
    assert_eq!(st2["SIZE"], (m1.len() + m2.len()) as u64, "rfc8438 SIZE");
    s.fails("STATUS nosuch (MESSAGES)", "NO");
    s.fails("STATUS box (BOGUS)", "BAD");
    s.fails("STATUS box MESSAGES", "BAD");
    // The STATUS response quotes or encodes the name as sent.
    s.ok("CREATE \"with space\"");
    let u = s.ok("STATUS \"with space\" (MESSAGES)");
    assert!(u[0].starts_with("* STATUS \"with space\" ("), "{}", u[0]);
}

#[test]
fn append_flags_date_uids_and_trycreate() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let m = message("appended", "hello");
    let (u, t) = s.append_full(
        "INBOX",
        Some("\\Seen \\Flagged $Forwarded"),
        Some("05-Jan-2024 10:20:30 +0100"),
        &m,
    );
    assert!(
        u.is_empty() || u.iter().all(|l| l.starts_with("* ")),
        "{u:?}"
    );
    let (uv, uid) = appenduid(&t).unwrap_or_else(|| panic!("no APPENDUID (rfc4315): {t}"));
    s.select("INBOX");
    let f = s.fetch(&format!(
        "UID FETCH {uid} (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"
    ));
    assert_eq!(f.len(), 1);
    for fl in ["\\Seen", "\\Flagged", "$Forwarded"] {
        assert!(f[0].has_flag(fl), "{fl}: {:?}", f[0].flags());
    }
    let d = f[0].req("INTERNALDATE").text();
    assert_eq!(
        crate::store_grammar::parse_date_time(&d),
        crate::store_grammar::parse_date_time("05-Jan-2024 10:20:30 +0100"),
        "INTERNALDATE {d}"
    );
    assert_eq!(f[0].req("RFC822.SIZE").num(), m.len() as u64);
    assert_eq!(f[0].bytes("BODY[]"), m);
    let (u, _) = s.select("INBOX");
    let uv2: u32 = u.iter().find_map(|l| resp_code(l, "UIDVALIDITY")).unwrap()[0]
        .parse()
        .unwrap();
    assert_eq!(uv, uv2, "APPENDUID carries the mailbox's UIDVALIDITY");

    // rfc3501 6.3.11: a missing mailbox is NO [TRYCREATE], nothing created.
    let (_, t) = s.append_full("nosuch", None, None, &m);
    assert!(t.starts_with("NO [TRYCREATE]"), "{t}");
    s.fails("STATUS nosuch (MESSAGES)", "NO");
    // Bad date or flags: BAD, nothing stored.
    let before = count_msgs(&mut s, "INBOX");
    let (_, t) = s.append_full("INBOX", None, Some("31-Foo-2024 10:20:30 +0100"), &m);
    assert!(t.starts_with("BAD"), "{t}");
    let (_, t) = s.append_full("INBOX", Some("\\Recent"), None, &m);
    assert!(
        t.starts_with("BAD") || t.starts_with("NO"),
        "\\Recent cannot be appended: {t}"
    );
    assert_eq!(count_msgs(&mut s, "INBOX"), before);
    // An empty message is refused or stored as zero bytes, not corrupted.
    let (_, t) = s.append_full("INBOX", None, None, b"");
    assert!(
        t.starts_with("OK") || t.starts_with("NO") || t.starts_with("BAD"),
        "{t}"
    );
    // LITERAL+ works for APPEND.
    let tag = "LP";
    let (u, t) = s.raw(
        tag,
        format!("{tag} APPEND INBOX {{{}+}}\r\n", m.len())
            .as_bytes()
            .iter()
            .chain(m.iter())
            .chain(b"\r\n".iter())
            .copied()
            .collect::<Vec<u8>>()
            .as_slice(),
    );
    assert!(t.starts_with("OK"), "{t} {u:?}");
}

#[test]
fn uids_are_never_reused_and_uidvalidity_survives_restarts() {
    let mut srv = Restartable::new(&[]);
    srv.start();
    let mut s = srv.session();
    let a = s.append("INBOX", &message("a", "a"));
    let b = s.append("INBOX", &message("b", "b"));
    assert!(b > a);
    s.select("INBOX");
    s.ok(&format!("UID STORE {b} +FLAGS.SILENT (\\Deleted)"));
    let u = s.ok("EXPUNGE");
    assert_eq!(expunges(&u), [2]);
    let c = s.append("INBOX", &message("c", "c"));
    assert!(c > b, "UID {c} after expunged {b}");
    let st = s.status("INBOX", "UIDVALIDITY UIDNEXT");
    drop(s);
    // A clean reconnect and a kill -9 + restart: same UIDVALIDITY, UIDNEXT kept.
    let mut s = srv.session();
    assert_eq!(s.status("INBOX", "UIDVALIDITY UIDNEXT"), st);
    drop(s);
    srv.kill9();
    srv.start();
    let mut s = srv.session();
    assert_eq!(s.status("INBOX", "UIDVALIDITY UIDNEXT"), st);
    let (u, _) = s.select("INBOX");
    assert_eq!(count(&u, "EXISTS"), Some(2));
    let d = s.append("INBOX", &message("d", "d"));
    assert!(d > c && d as u64 >= st["UIDNEXT"], "{d} {st:?}");
    let f = s.fetch("FETCH 1:* UID");
    assert_eq!(f.iter().map(|x| x.uid()).collect::<Vec<_>>(), [a, c, d]);
}

#[test]
fn multiappend_is_all_or_nothing() {
    let srv = store_server(&["maxmessagesize: 1000"]);
    let mut s = Session::new(&srv);
    let (m1, m2, m3) = (
        message("m1", "1"),
        message("m2", "22"),
        message("m3", "333"),
    );
    // rfc3502: several messages in one command; APPENDUID with a uid-set.
    let tag = "MA";
    let mut data = format!("{tag} APPEND INBOX (\\Seen) {{{}+}}\r\n", m1.len()).into_bytes();
    data.extend_from_slice(&m1);
    data.extend_from_slice(
        format!(" \"01-Feb-2020 00:00:00 +0000\" {{{}+}}\r\n", m2.len()).as_bytes(),
    );
    data.extend_from_slice(&m2);
    data.extend_from_slice(format!(" {{{}+}}\r\n", m3.len()).as_bytes());
    data.extend_from_slice(&m3);
    data.extend_from_slice(b"\r\n");
    let (_, t) = s.raw(tag, &data);
    assert!(t.starts_with("OK"), "MULTIAPPEND: {t}");
    let a = resp_code(&t, "APPENDUID").unwrap_or_else(|| panic!("{t}"));
    let uids = uid_set(a[1]);
    assert_eq!(uids.len(), 3, "{t}");
    s.select("INBOX");
    let f = s.fetch("FETCH 1:* (UID FLAGS BODY.PEEK[])");
    assert_eq!(f.iter().map(|x| x.uid()).collect::<Vec<_>>(), uids);
    assert_eq!(f[0].bytes("BODY[]"), m1);
    assert!(f[0].has_flag("\\Seen") && !f[1].has_flag("\\Seen"));
    assert_eq!(f[2].bytes("BODY[]"), m3);
    s.ok("UNSELECT");

    // The second message is too big: nothing of the command is stored.
    let before = message_files(&user_tree(&srv.data.root, "plain")).len();
    let big = vec![b'x'; 2000];
    let tag = "MB";
    let mut data = format!("{tag} APPEND INBOX {{{}+}}\r\n", m1.len()).into_bytes();
    data.extend_from_slice(&m1);
    data.extend_from_slice(format!(" {{{}}}\r\n", big.len()).as_bytes());
    s.c.send_bytes(&data);
    let l = s.c.line();
    if l.starts_with('+') {
        s.c.send_bytes(&big);
        s.c.send("\r\n");
        let (_, t) = s.c.until_tagged(tag);
        assert!(t.starts_with("MB NO"), "{t}");
    } else {
        assert!(l.starts_with("MB NO"), "too big: {l}");
        assert!(l.contains("[TOOBIG]"), "rfc7889 TOOBIG: {l}");
    }
    assert_eq!(
        count_msgs(&mut s, "INBOX"),
        3,
        "MULTIAPPEND is atomic (rfc3502 6)"
    );
    assert_eq!(
        message_files(&user_tree(&srv.data.root, "plain")).len(),
        before
    );

    // A syntax error in the third message's arguments: BAD, nothing stored.
    let tag = "MC";
    let mut data = format!("{tag} APPEND INBOX {{{}+}}\r\n", m1.len()).into_bytes();
    data.extend_from_slice(&m1);
    data.extend_from_slice(format!(" {{{}+}}\r\n", m2.len()).as_bytes());
    data.extend_from_slice(&m2);
    data.extend_from_slice(b" \"not a date\" {3+}\r\nabc\r\n");
    let (_, t) = s.raw(tag, &data);
    assert!(t.starts_with("BAD") || t.starts_with("NO"), "{t}");
    assert_eq!(
        count_msgs(&mut s, "INBOX"),
        3,
        "MULTIAPPEND is atomic (rfc3502 6)"
    );
}

#[test]
fn append_over_the_size_limit() {
    let srv = store_server(&["maxmessagesize: 1000"]);
    let mut s = Session::new(&srv);
    let (u, _) = s.run("CAPABILITY");
    assert!(u[0].contains("APPENDLIMIT=1000"), "{}", u[0]);
    let before = snapshot(&srv.data.spool());
    // Synchronizing literal: refused before the data is sent.
    let mut m = message("big", "");
    m.resize(1001, b'x');
    let (_, t) = s.append_full("INBOX", None, None, &m);
    assert!(
        t.starts_with("NO") && t.contains("[TOOBIG]"),
        "rfc7889: {t}"
    );
    // LITERAL+: the data comes anyway; the server reads past it (or closes).
    s.c.send("big APPEND INBOX {1001+}\r\n");
    s.c.send_bytes(&m);
    s.c.send("\r\n");
    let l = s.c.line();
    assert!(
        (l.starts_with("big NO") && l.contains("TOOBIG")) || l.starts_with("* BYE"),
        "{l}"
    );
    let after = snapshot(&srv.data.spool());
    let new: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(
        new.iter()
            .all(|p| !p.to_string_lossy().contains("/cur/")
                && !p.to_string_lossy().contains("/new/")),
        "written: {new:?}"
    );
    let mut s = Session::new(&srv);
    assert_eq!(count_msgs(&mut s, "INBOX"), 0);
    // Exactly at the limit is fine.
    m.truncate(1000);
    s.append("INBOX", &m);
}

#[test]
fn check_close_unselect_expunge() {
    let srv = store_server(&[]);
    let mut s = Session::new(&srv);
    let mut uids = Vec::new();
    for i in 0..6 {
        uids.push(s.append("INBOX", &message(&format!("m{i}"), "x")));
    }
    s.fails("CHECK", "BAD"); // not selected
    s.select("INBOX");
    assert!(s.ok("CHECK").iter().all(|l| l.starts_with("* ")));
    // EXPUNGE reports each removed message by sequence number.
    s.ok("STORE 2,4:5 +FLAGS.SILENT (\\Deleted)");
    let u = s.ok("EXPUNGE");
    let mut seqs = uids.clone();
    apply_expunges(&mut seqs, &expunges(&u));
    assert_eq!(seqs, [uids[0], uids[2], uids[5]], "{u:?}");
    // UID EXPUNGE only touches the given UIDs (rfc4315 2.1).
    s.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)");
    let u = s.ok(&format!("UID EXPUNGE {}", uids[2]));
    let mut now = seqs.clone();
    apply_expunges(&mut now, &expunges(&u));
    assert_eq!(now, [uids[0], uids[5]], "{u:?}");
    // UNSELECT does not expunge (rfc3691).
    s.ok("UNSELECT");
    s.fails("FETCH 1 FLAGS", "BAD");
    assert_eq!(count_msgs(&mut s, "INBOX"), 2);
    // CLOSE expunges silently (rfc3501 6.4.2).
    s.select("INBOX");
    let u = s.ok("CLOSE");
    assert!(expunges(&u).is_empty(), "CLOSE sends no EXPUNGE: {u:?}");
    assert_eq!(count_msgs(&mut s, "INBOX"), 0);
    s.fails("CLOSE", "BAD");
    // CLOSE after EXAMINE does not expunge.
    let k = s.append("INBOX", &message("keep", "k"));
    s.select("INBOX");
    s.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    s.ok("EXAMINE INBOX");
    s.ok("CLOSE");
    assert_eq!(count_msgs(&mut s, "INBOX"), 1);
    // EXPUNGE in EXAMINE mode is refused.
    s.ok("EXAMINE INBOX");
    s.refused("EXPUNGE");
    let f = s.fetch("FETCH 1 UID");
    assert_eq!(f[0].uid(), k);
    // Another session sees the expunge when it next looks.
    let mut s2 = Session::new(&srv);
    s2.select("INBOX");
    let mut s3 = Session::new(&srv);
    s3.select("INBOX");
    s3.ok("CLOSE"); // \Deleted, read-write: gone
    let u = s2.ok("NOOP");
    assert_eq!(expunges(&u), [1], "{u:?}");
}
