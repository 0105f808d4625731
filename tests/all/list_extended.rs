//! What modern clients sync with, against the real binary: LIST-EXTENDED
//! (rfc5258), LIST-STATUS (rfc5819), SPECIAL-USE and CREATE-SPECIAL-USE
//! (rfc6154) with Cyrus's `specialusealways` and `xlist-<flag>` options,
//! STATUS=SIZE (rfc8438) and STATUS HIGHESTMODSEQ (rfc7162 3.1.7).

use crate::store_util::{Restartable, Session, status_items, store_server, user_tree};

/// The Cyrus-style setup: folders made with INBOX, with their uses.
const AUTOCREATE: &[&str] = &[
    "autocreate_inbox_folders: Drafts | Sent | Trash | Spam | Archive",
    "xlist-drafts: Drafts",
    "xlist-sent: Sent",
    "xlist-trash: Trash",
    "xlist-junk: Spam",
];

#[test]
fn capabilities_in_cyrus_order() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let u = c.ok("CAPABILITY");
    let caps: Vec<&str> = u[0].split(' ').skip(2).collect();
    let at = |name: &str| {
        caps.iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no {name} in {caps:?}"))
    };
    // cyrus-compat 2.8: CHILDREN ... CREATE-SPECIAL-USE ... LIST-EXTENDED
    // ... LIST-STATUS METADATA MOVE ... SPECIAL-USE STATUS=SIZE ... UIDPLUS.
    let order = [
        "CHILDREN",
        "CREATE-SPECIAL-USE",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "MOVE",
        "SPECIAL-USE",
        "STATUS=SIZE",
        "UIDPLUS",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{pair:?} in {caps:?}");
    }
}

#[test]
fn autocreated_folders_carry_their_special_use_on_a_plain_list() {
    let s = store_server(AUTOCREATE);
    let mut c = Session::new(&s);
    // What Apple Mail sends: no RETURN (SPECIAL-USE), and it still learns
    // which folder is which (specialusealways).
    assert_eq!(
        c.ok("LIST \"\" \"*\""),
        [
            "* LIST (\\HasNoChildren) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Spam",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
        ]
    );
    // rfc6154 2: the selection option lists only those.
    assert_eq!(
        c.ok("LIST (SPECIAL-USE) \"\" \"*\""),
        [
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Spam",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
        ]
    );
    // Autocreated folders are subscribed, as in Cyrus.
    assert_eq!(
        c.ok("LIST (SUBSCRIBED) \"\" \"S*\""),
        [
            "* LIST (\\Subscribed \\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\Subscribed \\HasNoChildren \\Junk) \"/\" Spam",
        ]
    );
    // LSUB stays as rfc3501 has it.
    assert_eq!(c.ok("LSUB \"\" Sent"), ["* LSUB () \"/\" Sent"]);
    // Kept in the user's tree, one line a mailbox.
    let file = user_tree(&s.data.root, "plain").join("imapd.specialuse");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text,
        "Drafts\t\\Drafts\nSent\t\\Sent\nSpam\t\\Junk\nTrash\t\\Trash\n"
    );
}

#[test]
fn specialusealways_off() {
    let mut conf = AUTOCREATE.to_vec();
    conf.push("specialusealways: no");
    let s = store_server(&conf);
    let mut c = Session::new(&s);
    assert_eq!(
        c.ok("LIST \"\" Sent"),
        ["* LIST (\\HasNoChildren) \"/\" Sent"]
    );
    assert_eq!(
        c.ok("LIST \"\" Sent RETURN (SPECIAL-USE)"),
        ["* LIST (\\HasNoChildren \\Sent) \"/\" Sent"]
    );
}

#[test]
fn create_special_use_persists_across_sessions_and_restarts() {
    let mut srv = Restartable::new(&[]);
    srv.start();
    let mut c = srv.session();
    // rfc6154 5.3.
    c.ok("CREATE MySpecial (USE (\\Drafts \\Sent))");
    assert_eq!(
        c.fails("CREATE Everything (USE (\\Important))", "NO"),
        "NO [USEATTR] Invalid annotation entry"
    );
    assert_eq!(
        c.fails("CREATE Other (USE (\\Sent))", "NO"),
        "NO [USEATTR] SPECIAL-USE flag conflict"
    );
    c.fails("CREATE Other (USE \\Sent)", "BAD");
    c.fails("CREATE Other (FOO)", "BAD");
    assert!(c.ok("LIST \"\" Other").is_empty(), "created anyway");
    c.ok("CREATE Projects/Old (USE (\\Archive))");
    // Another session sees them at once.
    let mut d = srv.session();
    assert_eq!(
        d.ok("LIST \"\" %"),
        [
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Drafts \\Sent) \"/\" MySpecial",
            "* LIST (\\HasChildren) \"/\" Projects",
        ]
    );
    // RENAME takes the uses along, inferiors' too.
    d.ok("RENAME Projects Attic");
    d.ok("RENAME MySpecial Outbox");
    srv.kill9();
    srv.start();
    let mut e = srv.session();
    assert_eq!(
        e.ok("LIST (SPECIAL-USE) \"\" *"),
        [
            "* LIST (\\HasNoChildren \\Archive) \"/\" Attic/Old",
            "* LIST (\\HasNoChildren \\Drafts \\Sent) \"/\" Outbox",
        ]
    );
    // DELETE takes them away: a new mailbox of the name has none, and
    // the use is free for another.
    e.ok("DELETE Outbox");
    e.ok("CREATE Outbox");
    e.ok("CREATE Sent (USE (\\Sent))");
    assert_eq!(
        e.ok("LIST \"\" (Outbox Sent)"),
        [
            "* LIST (\\HasNoChildren) \"/\" Outbox",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
        ]
    );
}

#[test]
fn list_extended_subscriptions_and_childinfo() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    // rfc5258 5 example 8 (A), plus a subscribed name whose mailbox is gone.
    for m in ["Foo/Bar", "Foo/Baz", "Moo", "Gone"] {
        c.ok(&format!("CREATE {m}"));
    }
    c.ok("SUBSCRIBE Foo/Baz");
    c.ok("SUBSCRIBE Gone");
    c.ok("DELETE Gone");
    assert_eq!(
        c.ok("LIST (SUBSCRIBED) \"\" \"*\""),
        [
            "* LIST (\\Subscribed \\HasNoChildren) \"/\" Foo/Baz",
            "* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \"/\" Gone",
        ]
    );
    assert_eq!(
        c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\""),
        [
            "* LIST (\\HasChildren) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \"/\" Gone",
        ]
    );
    assert_eq!(
        c.ok("LIST () \"\" (Foo Moo) RETURN (SUBSCRIBED CHILDREN)"),
        [
            "* LIST (\\HasChildren) \"/\" Foo",
            "* LIST (\\HasNoChildren) \"/\" Moo",
        ]
    );
    // rfc5258 3.1: RECURSIVEMATCH needs SUBSCRIBED; unknown options are BAD.
    c.fails("LIST (RECURSIVEMATCH) \"\" *", "BAD");
    c.fails("LIST (REMOTE RECURSIVEMATCH) \"\" *", "BAD");
    c.fails("LIST (XYZZY) \"\" *", "BAD");
    c.fails("LIST \"\" * RETURN (XYZZY)", "BAD");
    // Patterns that are no valid modified UTF-7 still match (in wire
    // form), in a list of patterns too.
    c.ok("CREATE \"a&-b\"");
    assert_eq!(
        c.ok("LIST \"\" (\"&foo*\" \"a&*\")"),
        ["* LIST (\\HasNoChildren) \"/\" a&-b"]
    );
}

#[test]
fn list_status_and_status_size() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    c.ok("CREATE frop");
    c.ok("CREATE bar/x");
    c.ok("DELETE bar");
    let one = c.append("frop", b"Subject: one\r\n\r\nfirst\r\n");
    let two = c.append("frop", b"Subject: two\r\n\r\nsecond message\r\n");
    assert_eq!((one, two), (1, 2));
    let size = (b"Subject: one\r\n\r\nfirst\r\n".len()
        + b"Subject: two\r\n\r\nsecond message\r\n".len()) as u64;
    // rfc8438 3.
    let st = c.status("frop", "MESSAGES SIZE UIDNEXT");
    assert_eq!(st["MESSAGES"], 2);
    assert_eq!(st["SIZE"], size);
    assert_eq!(st["UIDNEXT"], 3);
    // rfc5819 3 / rfc8438 3: a STATUS after each selectable mailbox's
    // LIST, none for \Noselect bar.
    assert_eq!(
        c.ok("LIST \"\" % RETURN (STATUS (MESSAGES SIZE))"),
        [
            "* LIST (\\HasNoChildren) \"/\" INBOX".to_string(),
            "* STATUS INBOX (MESSAGES 0 SIZE 0)".to_string(),
            "* LIST (\\Noselect \\HasChildren) \"/\" bar".to_string(),
            "* LIST (\\HasNoChildren) \"/\" frop".to_string(),
            format!("* STATUS frop (MESSAGES 2 SIZE {size})"),
        ]
    );
    // rfc7162 3.1.7: HIGHESTMODSEQ, and it enables CONDSTORE (3.1): with
    // frop selected, the first one reports its HIGHESTMODSEQ.
    c.select("frop");
    let u = c.ok("STATUS frop (HIGHESTMODSEQ)");
    assert_eq!(u.len(), 2, "{u:?}");
    let modseq = status_items(&u[1])["HIGHESTMODSEQ"];
    assert!(modseq > 0);
    assert_eq!(u[0], format!("* OK [HIGHESTMODSEQ {modseq}] Ok"));
    assert_eq!(
        c.ok("LIST \"\" frop RETURN (STATUS (HIGHESTMODSEQ))"),
        [
            "* LIST (\\HasNoChildren) \"/\" frop".to_string(),
            format!("* STATUS frop (HIGHESTMODSEQ {modseq})"),
        ]
    );
}
