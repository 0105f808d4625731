//! Cyrus's namespace options against the real binary: `altnamespace: no`
//! and `unixhierarchysep: no` (Cyrus 2's defaults, still in many
//! imapd.conf files) give clients `INBOX.Sent`, over the same mail store.

use crate::store_util::{Restartable, Session, store_server, user_tree};

#[test]
fn the_cyrus_2_namespace_over_the_same_store() {
    let s = store_server(&["altnamespace: no", "unixhierarchysep: no"]);
    let mut c = Session::new(&s);
    assert_eq!(
        c.ok("NAMESPACE"),
        ["* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))"]
    );
    c.ok("CREATE INBOX.Sent");
    c.ok("CREATE INBOX.Sent.2024");
    assert_eq!(
        c.ok("LIST \"\" *"),
        [
            "* LIST (\\HasChildren) \".\" INBOX",
            "* LIST (\\HasChildren) \".\" INBOX.Sent",
            "* LIST (\\HasNoChildren) \".\" INBOX.Sent.2024",
        ]
    );
    c.append("INBOX.Sent.2024", b"Subject: kept\r\n\r\nbody\r\n");
    let tree = user_tree(&s.data.root, "plain");
    assert!(tree.join(".Sent.2024/cur").is_dir());
    c.logout();
    drop(s);
}

#[test]
fn changing_the_options_keeps_every_folder() {
    // One store, seen through both namespaces in turn (an operator
    // switching imapd.conf and restarting): the folders and mail stay.
    let mut srv = Restartable::new(&[]);
    let addr = srv.start();
    let mut c = Session::connect(addr, "plain");
    c.ok("CREATE Sent/2024");
    c.append("Sent/2024", b"Subject: kept\r\n\r\nbody\r\n");
    c.logout();
    srv.kill9();
    let conf = std::fs::read_to_string(srv.data.conf()).unwrap();
    std::fs::write(
        srv.data.conf(),
        conf + "altnamespace: no\nunixhierarchysep: no\n",
    )
    .unwrap();
    let addr = srv.start();
    let mut c = Session::connect(addr, "plain");
    let st = c.status("INBOX.Sent.2024", "MESSAGES");
    assert_eq!(st["MESSAGES"], 1);
}
