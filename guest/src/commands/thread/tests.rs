//! The threading algorithms case by case (rfc5256 3), on messages made
//! here: `m(seq, minutes, subject, id, refs)`.

use super::*;

fn m(seq: usize, minutes: i64, subject: &str, id: &str, refs: &[&str]) -> ThreadMessage {
    let id = if id.is_empty() {
        String::new()
    } else {
        format!("<{id}@x>")
    };
    ThreadMessage::new(
        seq - 1,
        minutes * 60,
        subject,
        &id,
        refs.iter().map(|r| format!("<{r}@x>")).collect(),
    )
}

/// The THREAD response data, sequence numbers.
fn render(threads: &[Thread]) -> String {
    let mut out = String::new();
    for t in threads {
        write_thread(&mut out, t, &|p| p as u32 + 1);
    }
    out
}

fn refs(messages: &[ThreadMessage]) -> String {
    render(&references(messages))
}

#[test]
fn response_grammar() {
    // rfc5256 4's example: (2)(3 6 (4 23)(44 7 96)), numbers as given.
    let leaf = |n: usize, children: Vec<Thread>| Thread {
        message: Some(n - 1),
        children,
    };
    let threads = vec![
        leaf(2, vec![]),
        leaf(
            3,
            vec![leaf(
                6,
                vec![
                    leaf(4, vec![leaf(23, vec![])]),
                    leaf(44, vec![leaf(7, vec![leaf(96, vec![])])]),
                ],
            )],
        ),
    ];
    assert_eq!(render(&threads), "(2)(3 6 (4 23)(44 7 96))");
    // ((3)(5)): siblings under a parent that is not there.
    let dummy = Thread {
        message: None,
        children: vec![leaf(3, vec![]), leaf(5, vec![])],
    };
    assert_eq!(render(&[dummy]), "((3)(5))");
}

#[test]
fn references_chains_branches_and_missing_parents() {
    // A chain.
    let chain = [
        m(1, 0, "a", "1", &[]),
        m(2, 1, "Re: a", "2", &["1"]),
        m(3, 2, "Re: a", "3", &["1", "2"]),
    ];
    assert_eq!(refs(&chain), "(1 2 3)");
    // A branch; siblings by sent date.
    let branch = [
        m(1, 0, "a", "1", &[]),
        m(2, 5, "Re: a", "2", &["1"]),
        m(3, 2, "Re: a", "3", &["1"]),
    ];
    assert_eq!(refs(&branch), "(1 (3)(2))");
    // Replies to a message not in the mailbox: a dummy keeps them
    // together at the top (two children) or steps aside (one).
    let orphans = [
        m(1, 0, "x", "1", &["gone"]),
        m(2, 1, "y", "2", &["gone"]),
        m(3, 2, "z", "3", &["elsewhere"]),
    ];
    assert_eq!(refs(&orphans), "((1)(2))(3)");
    // A missing message inside the chain: its child is promoted to the
    // dummy's level (not the root).
    let gap = [m(1, 0, "a", "1", &[]), m(2, 1, "b", "2", &["1", "lost"])];
    assert_eq!(refs(&gap), "(1 2)");
    // A link made already is kept (1.A: 3 has its parent 1, so 4's
    // References "2 3" do not move it under 2); the last reference is the
    // parent (1.B).
    let truncated = [
        m(1, 0, "a", "1", &[]),
        m(2, 1, "b", "2", &[]),
        m(3, 2, "c", "3", &["1"]),
        m(4, 3, "d", "4", &["2", "3"]),
    ];
    assert_eq!(refs(&truncated), "(1 3 4)(2)");
    // A parent given by an earlier message's References is replaced by
    // the message's own last reference (1.B): message 3 says 1 is the
    // parent of 4 (id 3), and 4 itself says 2 is.
    let replaced = [
        m(1, 0, "a", "1", &[]),
        m(2, 1, "b", "2", &[]),
        m(3, 2, "c", "4", &["1", "3"]),
        m(4, 3, "d", "3", &["2"]),
    ];
    assert_eq!(refs(&replaced), "(1)(2 4 3)");
    // Later message first in the mailbox: the order is by date.
    let moved = [m(1, 9, "Re: a", "2", &["1"]), m(2, 0, "a", "1", &[])];
    assert_eq!(refs(&moved), "(2 1)");
}

#[test]
fn references_loops_duplicates_and_missing_ids() {
    // References that loop make no loop.
    let looping = [
        m(1, 0, "a", "1", &["2"]),
        m(2, 1, "b", "2", &["1"]),
        m(3, 2, "c", "3", &["3"]),
    ];
    let out = refs(&looping);
    assert!(out == "(1 2)(3)" || out == "(2 1)(3)", "{out}");
    // A duplicate Message-ID belongs to the first message only.
    let dup = [
        m(1, 0, "a", "1", &[]),
        m(2, 1, "b", "1", &[]),
        m(3, 2, "c", "3", &["1"]),
    ];
    assert_eq!(refs(&dup), "(1 3)(2)");
    // No Message-ID: threaded by its own references still.
    let anon = [m(1, 0, "a", "1", &[]), m(2, 1, "b", "", &["1"])];
    assert_eq!(refs(&anon), "(1 2)");
}

#[test]
fn references_merge_by_subject() {
    // A reply without references joins the original (5.C).
    let reply = [m(1, 0, "Hello", "1", &[]), m(2, 1, "Re: Hello", "2", &[])];
    assert_eq!(refs(&reply), "(1 2)");
    // Two originals with one subject: both under a dummy.
    let twins = [m(1, 0, "Hello", "1", &[]), m(2, 1, "HELLO", "2", &[])];
    assert_eq!(refs(&twins), "((1)(2))");
    // The original wins the subject table over an earlier reply (5.B).
    let late = [m(1, 0, "Re: Hi", "1", &[]), m(2, 1, "Hi", "2", &[])];
    assert_eq!(refs(&late), "(2 1)");
    // Both replies: a dummy.
    let replies = [m(1, 0, "Re: x", "1", &[]), m(2, 1, "Fwd: x", "2", &[])];
    assert_eq!(refs(&replies), "((1)(2))");
    // A dummy thread with that subject takes the others in (5.C: table's
    // is a dummy); two dummies merge their children.
    let dummies = [
        m(1, 0, "Topic", "1", &["gone"]),
        m(2, 1, "Re: Topic", "2", &["gone"]),
        m(3, 2, "Re: Topic", "3", &[]),
        m(4, 3, "Topic", "4", &["other"]),
        m(5, 4, "Topic", "5", &["other"]),
    ];
    assert_eq!(refs(&dummies), "((1)(2)(3)(4)(5))");
    // Empty subjects never merge; encoded and cased subjects do.
    let empty = [m(1, 0, "", "1", &[]), m(2, 1, "Re:", "2", &[])];
    assert_eq!(refs(&empty), "(1)(2)");
    let cased = [
        m(1, 0, "Café", "1", &[]),
        m(2, 1, "RE: [list] CAFÉ (fwd)", "2", &[]),
    ];
    assert_eq!(refs(&cased), "(1 2)");
}

#[test]
fn ordered_subject_threads() {
    // rfc5256 3: threads by base subject, each ordered by sent date; the
    // first message is the root, the others its children; threads by
    // their first message's date.
    let messages = [
        m(1, 5, "b", "1", &[]),
        m(2, 0, "a", "2", &[]),
        m(3, 3, "Re: a", "3", &[]),
        m(4, 1, "Re: b", "4", &[]),
        m(5, 2, "c", "5", &[]),
        m(6, 4, "RE: A", "6", &[]),
        m(7, 4, "[fwd: b]", "7", &[]),
    ];
    assert_eq!(
        render(&ordered_subject(&messages)),
        "(2 (3)(6))(4 (7)(1))(5)"
    );
    // Ties in sent date go by sequence number.
    let ties = [m(1, 0, "x", "1", &[]), m(2, 0, "x", "2", &[])];
    assert_eq!(render(&ordered_subject(&ties)), "(1 2)");
    assert_eq!(render(&ordered_subject(&[])), "");
}
