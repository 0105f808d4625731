//! SORT and THREAD through the session, on four messages made to differ
//! in every key.

use super::super::message_testing::*;
use super::super::search_keys::CHARSETS_LISTED;

const M1: &str = "Date: Wed, 01 Jan 2020 10:00:00 +0000\r\nFrom: Zed <zed@x.org>\r\n\
To: b@x.org\r\nCc: c2@x.org\r\nSubject: Re: Banana\r\nMessage-ID: <1@x>\r\n\r\n\
a body of some length, the longest of them all by a few words\r\n";
const M2: &str = "Date: Wed, 01 Jan 2020 09:00:00 -0200\r\nFrom: \"Ann\" <ann@x.org>\r\n\
To: a@x.org\r\nSubject: apple\r\nMessage-ID: <2@x>\r\n\r\nshort\r\n";
const M3: &str = "From: =?UTF-8?Q?=C3=89mile?= <emile@x.org>\r\n\
Subject: [list] Cherry\r\nMessage-ID: <3@x>\r\n\r\nmiddling body text\r\n";
const M4: &str = "Date: Wed, 01 Jan 2020 10:00:00 +0000\r\nFrom: Yves <bob@x.org>\r\n\
Subject: Fwd: banana\r\nMessage-ID: <4@x>\r\n\r\nx\r\n";

fn four() -> (crate::session::Session, tempfile::TempDir) {
    selected_with(&[M1, M2, M3, M4], false)
}

fn sorted(ids: &str, tag: &str) -> String {
    format!("* SORT{ids}\r\n{tag} OK Completed\r\n")
}

#[test]
fn every_key_and_reverse() {
    let (mut s, _dir) = four();
    // SIZE, computed here from the messages themselves.
    let mut by_size: Vec<(usize, usize)> = [M1, M2, M3, M4]
        .iter()
        .enumerate()
        .map(|(i, m)| (m.len(), i + 1))
        .collect();
    by_size.sort();
    let size_order: String = by_size.iter().map(|(_, n)| format!(" {n}")).collect();
    let cases = [
        // M2 is 11:00 UTC, after M1 and M4 (10:00, a tie kept in
        // sequence order); M3 has no Date: its INTERNALDATE (2023).
        ("DATE", " 1 4 2 3"),
        // REVERSE reverses the key, not the tie-breaker.
        ("REVERSE DATE", " 3 2 1 4"),
        ("ARRIVAL", " 1 2 3 4"),
        ("REVERSE ARRIVAL", " 4 3 2 1"),
        // addr-mailbox: zed ann emile bob.
        ("FROM", " 2 4 3 1"),
        // DISPLAYFROM: Zed Ann Émile Yves (É is E and an accent).
        ("DISPLAYFROM", " 2 3 4 1"),
        // Missing To is the empty string, first.
        ("TO", " 3 4 2 1"),
        ("DISPLAYTO", " 3 4 2 1"),
        ("CC", " 2 3 4 1"),
        ("REVERSE CC", " 1 2 3 4"),
        // Base subjects: banana apple cherry banana, case ignored.
        ("SUBJECT", " 2 1 4 3"),
        ("SUBJECT REVERSE DATE", " 2 1 4 3"),
        ("SUBJECT REVERSE ARRIVAL", " 2 4 1 3"),
        ("REVERSE SUBJECT", " 3 1 4 2"),
        ("SIZE", &size_order),
    ];
    for (criteria, ids) in cases {
        assert_eq!(
            command(&mut s, &format!("s SORT ({criteria}) UTF-8 ALL")),
            sorted(ids, "s"),
            "{criteria}"
        );
    }
    // UID SORT answers UIDs; the search criteria narrow, in any charset.
    assert_eq!(
        command(&mut s, "u UID SORT (DATE) US-ASCII NOT FROM zed"),
        sorted(" 4 2 3", "u")
    );
    assert_eq!(
        command(&mut s, "u sort (subject) iso-8859-1 SUBJECT {6}\r\nbanana"),
        "+ go ahead\r\n".to_string() + &sorted(" 1 4", "u")
    );
}

#[test]
fn rfc5256_examples() {
    let (mut s, _dir) = four();
    assert_eq!(
        command(&mut s, "A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994"),
        sorted(" 2 1 4 3", "A282")
    );
    assert_eq!(
        command(&mut s, "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL"),
        sorted(" 2 1 4 3", "A283")
    );
    assert_eq!(
        command(
            &mut s,
            "A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\""
        ),
        sorted("", "A284")
    );
}

#[test]
fn esort() {
    let (mut s, _dir) = four();
    let esearch = |tag: &str, data: &str| {
        format!("* ESEARCH (TAG \"{tag}\"){data}\r\n{tag} OK Completed\r\n")
    };
    // rfc5267 3.1: MIN and MAX are the first and last in sort order; ALL
    // keeps the order, ranges only where numbers ascend (3.2).
    assert_eq!(
        command(&mut s, "e SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL"),
        esearch("e", " MIN 1 MAX 3 ALL 1,4,2:3 COUNT 4")
    );
    // rfc5267 3.3: RETURN () is ALL.
    assert_eq!(
        command(
            &mut s,
            "E01 UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 UNDELETED"
        ),
        esearch("E01", " UID ALL 4,3,2,1")
    );
    assert_eq!(
        command(&mut s, "c SORT RETURN (COUNT) (DATE) UTF-8 FROM nobody"),
        esearch("c", " COUNT 0")
    );
    // SAVE keeps the set (rfc5182), whatever the order.
    assert_eq!(
        command(&mut s, "v SORT RETURN (SAVE) (REVERSE DATE) UTF-8 2:4"),
        "v OK Completed\r\n"
    );
    assert_eq!(
        command(&mut s, "f SEARCH $"),
        "* SEARCH 2 3 4\r\nf OK Completed\r\n"
    );
}

#[test]
fn modseq_and_errors() {
    let (mut s, _dir) = four();
    let highest = s.selected().unwrap().mailbox.highest_modseq();
    // rfc7162 3.1.9: the highest MODSEQ of what is returned.
    assert_eq!(
        command(&mut s, "m SORT (DATE) UTF-8 MODSEQ 1"),
        format!(
            "* OK [HIGHESTMODSEQ {highest}] Ok\r\n* SORT 1 4 2 3 (MODSEQ {highest})\r\nm OK Completed\r\n"
        )
    );
    // rfc7162 3.1.10 example 20.
    assert_eq!(
        command(&mut s, "a SORT RETURN (ALL) (DATE) UTF-8 MODSEQ 1"),
        format!("* ESEARCH (TAG \"a\") ALL 1,4,2:3 MODSEQ {highest}\r\na OK Completed\r\n")
    );
    let cases = [
        ("SORT (FOO) UTF-8 ALL", "BAD Invalid Sort criterion FOO"),
        ("SORT DATE UTF-8 ALL", "BAD Missing Sort criteria"),
        ("SORT () UTF-8 ALL", "BAD Missing Sort criteria"),
        (
            "SORT (REVERSE) UTF-8 ALL",
            "BAD Missing Sort criterion after REVERSE",
        ),
        ("SORT (DATE UTF-8 ALL", "BAD Invalid Sort criterion UTF-8"),
        ("SORT (DATE) UTF-8", "BAD Missing required argument to Sort"),
        ("SORT (DATE)", "BAD Missing required argument to Sort"),
        (
            "UID SORT (DATE) UTF-8",
            "BAD Missing required argument to UID Sort",
        ),
        ("SORT (DATE) UTF-8 FOO", "BAD Invalid Search criteria"),
        (
            "SORT (DATE) X-KLINGON ALL",
            "NO [BADCHARSET] Unrecognized character set",
        ),
        ("THREAD FOO UTF-8 ALL", "BAD Invalid Thread algorithm"),
        (
            "THREAD REFERENCES",
            "BAD Missing required argument to Thread",
        ),
        (
            "THREAD REFERENCES X-KLINGON ALL",
            "NO [BADCHARSET] Unrecognized character set",
        ),
    ];
    for (line, reply) in cases {
        assert_eq!(
            command(&mut s, &format!("t {line}")),
            format!("t {reply}\r\n")
                .replace("[BADCHARSET]", &format!("[BADCHARSET ({CHARSETS_LISTED})]")),
            "{line}"
        );
    }
}

#[test]
fn thread_commands() {
    let (mut s, _dir) = four();
    let threaded = |data: &str, tag: &str| format!("* THREAD{data}\r\n{tag} OK Completed\r\n");
    // Base subjects banana (1, 4: same date, sequence order), apple,
    // cherry; threads by their first message's date.
    assert_eq!(
        command(&mut s, "t THREAD ORDEREDSUBJECT UTF-8 ALL"),
        threaded(" (1 4)(2)(3)", "t")
    );
    // 1 and 4 are both replies (Re:, Fwd:) with no references: a dummy
    // holds them.
    assert_eq!(
        command(&mut s, "t THREAD REFERENCES UTF-8 ALL"),
        threaded(" ((1)(4))(2)(3)", "t")
    );
    assert_eq!(
        command(&mut s, "u UID THREAD REFERENCES US-ASCII 2:4"),
        threaded(" (4)(2)(3)", "u")
    );
    // rfc5256 3's example: nothing found, no thread.
    assert_eq!(
        command(&mut s, "A284 THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\""),
        threaded("", "A284")
    );
}
