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

/// SORT and THREAD answer from the summary cache: with every message
/// file emptied, the answers stay the same.
#[test]
fn sort_and_thread_read_no_message_file() {
    let (mut s, dir) = four();
    let commands = [
        "a SORT (SUBJECT) UTF-8 ALL",
        "a SORT (REVERSE DATE) UTF-8 ALL",
        "a SORT (FROM) UTF-8 ALL",
        "a SORT (DISPLAYTO CC SIZE) UTF-8 ALL",
        "a THREAD REFERENCES UTF-8 ALL",
        "a THREAD ORDEREDSUBJECT UTF-8 ALL",
    ];
    let before: Vec<String> = commands.iter().map(|c| command(&mut s, c)).collect();
    fn empty_messages(d: &std::path::Path) -> usize {
        let mut n = 0;
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                n += empty_messages(&p);
            } else if p.parent().is_some_and(|d| d.ends_with("cur")) {
                std::fs::write(&p, b"").unwrap();
                n += 1;
            }
        }
        n
    }
    assert_eq!(empty_messages(dir.path()), 4);
    for (c, want) in commands.iter().zip(&before) {
        assert_eq!(&command(&mut s, c), want, "{c}");
    }
    // What a message file would have said is gone indeed.
    assert_eq!(
        command(&mut s, "b SEARCH BODY longest"),
        "* SEARCH\r\nb OK Completed\r\n"
    );
}

/// The sort-key file (`imapd.sort`) is derived data: written as the
/// messages are stored, and when it is gone, torn or corrupt the answers
/// stay the same (the missing entries are made again from the summary
/// cache, no message file read) and the file is whole again after.
#[test]
fn sort_key_file_is_derived() {
    use crate::store::sort_keys::{SORT_FILE, SortKeys};
    let (mut s, dir) = four();
    let file = find_file(dir.path(), SORT_FILE).expect("written when the messages were stored");
    let inbox = file.parent().unwrap().to_path_buf();
    let entries = |d: &std::path::Path| (1..=4).filter(|&u| SortKeys::load(d).contains(u)).count();
    assert_eq!(entries(&inbox), 4);
    let commands = [
        "a SORT (SUBJECT) UTF-8 ALL",
        "a SORT (REVERSE DATE) UTF-8 ALL",
        "a SORT (FROM ARRIVAL) UTF-8 ALL",
        "a SORT (DISPLAYFROM DISPLAYTO TO CC SIZE) UTF-8 ALL",
        "a THREAD REFERENCES UTF-8 ALL",
        "a THREAD ORDEREDSUBJECT UTF-8 ALL",
    ];
    let want: Vec<String> = commands.iter().map(|c| command(&mut s, c)).collect();
    let bytes = std::fs::read(&file).unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x55;
    let damaged: [Option<Vec<u8>>; 3] = [
        None,
        Some(bytes[..bytes.len() - 10].to_vec()),
        Some(flipped),
    ];
    for damage in damaged {
        match &damage {
            None => std::fs::remove_file(&file).unwrap(),
            Some(b) => std::fs::write(&file, b).unwrap(),
        }
        for (c, want) in commands.iter().zip(&want) {
            assert_eq!(&command(&mut s, c), want, "{c} after {damage:?}");
        }
        assert_eq!(entries(&inbox), 4);
    }
    // Made from the summaries alone: with no file and no message text.
    std::fs::remove_file(&file).unwrap();
    for e in std::fs::read_dir(inbox.join("cur")).unwrap().flatten() {
        std::fs::write(e.path(), b"").unwrap();
    }
    for (c, want) in commands.iter().zip(&want) {
        assert_eq!(&command(&mut s, c), want, "{c} from the summaries");
    }
}

/// A SORT by one key reads the mailbox's order file for that key
/// (`store::sort_order`) and answers as sorting the keys does, over any
/// subset, in both directions, with many ties: when it is first made,
/// after expunges (the same file, untouched), after new messages (made
/// again) and when it is damaged.
#[test]
fn order_files_answer_as_sorting_does() {
    use super::{Criterion, SortKey, sort_by_keys, sort_positions};
    let message = |i: usize| {
        let cc = if i.is_multiple_of(3) {
            String::new()
        } else {
            format!("Cc: c{}@x.org\r\n", i % 2)
        };
        format!(
            "Date: Wed, 0{} Jan 2020 10:00:00 +0000\r\nFrom: U{} <u{}@x.org>\r\n\
             To: t{}@x.org\r\n{cc}Subject: {}topic {}\r\n\r\nbody {i}\r\n",
            1 + i % 3,
            i % 4,
            i % 4,
            i % 2,
            if i.is_multiple_of(2) { "Re: " } else { "" },
            i % 5,
        )
    };
    let first: Vec<String> = (0..40).map(message).collect();
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let (mut s, dir) = selected_with(&first, false);
    let check = |s: &crate::session::Session, when: &str| {
        let mailbox = &s.selected().unwrap().mailbox;
        let n = mailbox.records().len();
        let subsets: [Vec<usize>; 5] = [
            (0..n).collect(),
            (0..n).filter(|p| p % 2 == 1).collect(),
            (0..n).filter(|p| p % 7 != 3).collect(),
            (n.saturating_sub(5)..n).collect(),
            Vec::new(),
        ];
        for key in [
            SortKey::Date,
            SortKey::Subject,
            SortKey::From,
            SortKey::To,
            SortKey::Cc,
            SortKey::DisplayFrom,
            SortKey::DisplayTo,
        ] {
            for reverse in [false, true] {
                let c = [Criterion { key, reverse }];
                for found in &subsets {
                    assert_eq!(
                        sort_positions(mailbox, found, &c),
                        sort_by_keys(mailbox, found, &c),
                        "{key:?} reverse {reverse} over {found:?} {when}"
                    );
                }
            }
        }
    };
    check(&s, "when made");
    let file = find_file(dir.path(), "imapd.order.subject").expect("made by the first SORT");
    let made = std::fs::read(&file).unwrap();
    command(&mut s, "a STORE 3:9,20 +FLAGS (\\Deleted)");
    assert!(command(&mut s, "b EXPUNGE").ends_with("b OK Completed\r\n"));
    check(&s, "after expunges");
    assert_eq!(std::fs::read(&file).unwrap(), made, "kept through expunges");
    let more: Vec<crate::store::AppendMessage> = (40..55)
        .map(|i| crate::store::AppendMessage {
            data: message(i).into_bytes(),
            flags: Default::default(),
            keywords: Vec::new(),
            internal_date: Some(internal_date(i)),
        })
        .collect();
    let inbox = crate::store::MailboxName::inbox();
    s.mail_store().unwrap().append(&inbox, more).unwrap();
    command(&mut s, "c NOOP");
    check(&s, "after new messages");
    let remade = std::fs::read(&file).unwrap();
    assert_ne!(remade, made, "made again with the new messages");
    let mut damaged = remade.clone();
    damaged[30] ^= 1;
    std::fs::write(&file, &damaged).unwrap();
    check(&s, "when damaged");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        remade,
        "made again when damaged"
    );
}

/// A session whose view still holds a message another session expunged
/// (and made the order file without) does not take that file: it sorts
/// its own view, and writes the file again.
#[test]
fn an_order_file_missing_a_message_this_view_has_is_made_again() {
    use super::{Criterion, SortKey, sort_by_keys, sort_positions};
    let (mut one, dir) = four();
    let mut two = crate::commands::testing::second_session(&dir);
    assert!(command(&mut two, "s SELECT INBOX").contains("s OK"));
    command(&mut two, "a STORE 2 +FLAGS (\\Deleted)");
    assert!(command(&mut two, "b EXPUNGE").contains("* 2 EXPUNGE"));
    assert_eq!(
        command(&mut two, "c SORT (SUBJECT) UTF-8 ALL"),
        sorted(" 1 3 2", "c")
    );
    let mailbox = &one.selected().unwrap().mailbox;
    assert_eq!(
        mailbox.records().len(),
        4,
        "the first view has not caught up"
    );
    let all: Vec<usize> = (0..4).collect();
    for reverse in [false, true] {
        let c = [Criterion {
            key: SortKey::Subject,
            reverse,
        }];
        assert_eq!(
            sort_positions(mailbox, &all, &c),
            sort_by_keys(mailbox, &all, &c)
        );
    }
    // And the second session, newer, takes the file the first wrote back.
    assert_eq!(
        command(&mut two, "d SORT (SUBJECT) UTF-8 ALL"),
        sorted(" 1 3 2", "d")
    );
    assert!(command(&mut one, "n NOOP").contains("* 2 EXPUNGE"));
}

fn find_file(d: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(d).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(found) = find_file(&p, name) {
                return Some(found);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// An IMAP value of an ENVELOPE as FETCH sends it.
#[derive(Debug, Clone)]
enum Sexp {
    Nil,
    Text(Vec<u8>),
    List(Vec<Sexp>),
}

/// Reads one value (NIL, a quoted string, a literal or a list) at `*i`.
fn sexp(b: &[u8], i: &mut usize) -> Sexp {
    while b[*i] == b' ' {
        *i += 1;
    }
    match b[*i] {
        b'(' => {
            *i += 1;
            let mut items = Vec::new();
            loop {
                while b[*i] == b' ' {
                    *i += 1;
                }
                if b[*i] == b')' {
                    *i += 1;
                    return Sexp::List(items);
                }
                items.push(sexp(b, i));
            }
        }
        b'"' => {
            let mut out = Vec::new();
            *i += 1;
            while b[*i] != b'"' {
                if b[*i] == b'\\' {
                    *i += 1;
                }
                out.push(b[*i]);
                *i += 1;
            }
            *i += 1;
            Sexp::Text(out)
        }
        b'{' => {
            let close = *i + b[*i..].iter().position(|&c| c == b'}').unwrap();
            let n: usize = std::str::from_utf8(&b[*i + 1..close])
                .unwrap()
                .parse()
                .unwrap();
            let start = close + 3;
            *i = start + n;
            Sexp::Text(b[start..start + n].to_vec())
        }
        _ => {
            assert_eq!(&b[*i..*i + 3], b"NIL");
            *i += 3;
            Sexp::Nil
        }
    }
}

/// Independent of `mime::sort_fields` and `mime::collation`: subjects
/// decoded by mail-parser's own header parser, the base subject by the
/// rules written out again, upper case and NFKD from the libraries.
mod independent {
    use unicode_normalization::UnicodeNormalization;

    pub fn decode(raw: &[u8]) -> String {
        let mut header = b"Subject: ".to_vec();
        header.extend_from_slice(raw);
        header.extend_from_slice(b"\r\n\r\n");
        let parsed = mail_parser::MessageParser::default().parse_headers(&header[..]);
        let text = parsed
            .as_ref()
            .and_then(|m| m.subject())
            .unwrap_or_default()
            .to_string();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    pub fn collate(s: &str) -> String {
        s.chars()
            .flat_map(|c| {
                let upper: Vec<char> = c.to_uppercase().collect();
                if upper.len() == 1 { upper } else { vec![c] }
            })
            .nfkd()
            .collect()
    }

    fn lower_starts(s: &str, p: &str) -> bool {
        s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p)
    }

    /// `[...]` and the blanks after it, if `s` starts with one.
    fn blob(s: &str) -> Option<usize> {
        let rest = s.strip_prefix('[')?;
        let end = rest.find(['[', ']'])?;
        if !rest[end..].starts_with(']') {
            return None;
        }
        let after = &rest[end + 1..];
        Some(1 + end + 1 + (after.len() - after.trim_start_matches(' ').len()))
    }

    fn refwd(s: &str) -> Option<usize> {
        let word = ["fwd", "fw", "re"]
            .into_iter()
            .find(|w| lower_starts(s, w))?;
        let mut rest = s[word.len()..].trim_start_matches(' ');
        if let Some(n) = blob(rest) {
            rest = &rest[n..];
        }
        rest.strip_prefix(':').map(|r| s.len() - r.len())
    }

    pub fn base(subject: &str) -> String {
        let mut s = subject.to_string();
        loop {
            loop {
                let t = s.trim_end_matches(' ');
                if lower_ends(t, "(fwd)") {
                    s = t[..t.len() - 5].to_string();
                } else if t.len() != s.len() {
                    s = t.to_string();
                } else {
                    break;
                }
            }
            loop {
                let before = s.clone();
                loop {
                    let t = s.trim_start_matches(' ').to_string();
                    let mut at = 0;
                    let mut leader = None;
                    while leader.is_none() {
                        leader = refwd(&t[at..]).map(|n| at + n);
                        match blob(&t[at..]) {
                            Some(n) if leader.is_none() => at += n,
                            _ => break,
                        }
                    }
                    let changed = t.len() != s.len() || leader.is_some();
                    s = match leader {
                        Some(n) => t[n..].to_string(),
                        None => t,
                    };
                    if !changed {
                        break;
                    }
                }
                if let Some(n) = blob(&s)
                    && !s[n..].is_empty()
                {
                    s = s[n..].to_string();
                }
                if s == before {
                    break;
                }
            }
            if s.len() > 5 && lower_starts(&s, "[fwd:") && s.ends_with(']') {
                s = s[5..s.len() - 1].to_string();
                continue;
            }
            return s;
        }
    }

    fn lower_ends(s: &str, p: &str) -> bool {
        s.len() >= p.len()
            && s.is_char_boundary(s.len() - p.len())
            && s[s.len() - p.len()..].eq_ignore_ascii_case(p)
    }
}

/// SORT by every key over the MIME corpus (250 messages in many
/// charsets), checked against an order computed here from each message's
/// ENVELOPE (the addresses rfc5256 names), RFC822.SIZE, INTERNALDATE and
/// Date: header, with the independent subject rules above.
#[test]
fn corpus_sorted_by_every_key() {
    let files = crate::mime::tests::corpus_files();
    if files.is_empty() {
        eprintln!("SKIPPED: no MIME corpus");
        return;
    }
    let (mut s, _dir) = crate::commands::testing::store_session();
    let inbox = crate::store::MailboxName::inbox();
    let batch = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let raw = std::fs::read(f).unwrap();
            let mut data = Vec::with_capacity(raw.len());
            for (j, &b) in raw.iter().enumerate() {
                if b == b'\n' && (j == 0 || raw[j - 1] != b'\r') {
                    data.push(b'\r');
                }
                if b != 0 {
                    data.push(b);
                }
            }
            crate::store::AppendMessage {
                data,
                flags: crate::store::Flags::default(),
                keywords: Vec::new(),
                // Some arrive in the same second: ties by sequence.
                internal_date: Some((1_600_000_000 + (i as i64 % 97) * 3600, 0)),
            }
        })
        .collect();
    s.mail_store().unwrap().append(&inbox, batch).unwrap();
    command(&mut s, "s SELECT INBOX");
    struct Expect {
        arrival: i64,
        size: i64,
        date: i64,
        subject: String,
        from: String,
        to: String,
        cc: String,
        display_from: String,
        display_to: String,
    }
    let mailbox = &s.selected().unwrap().mailbox;
    let mut reader = mailbox.cache_reader();
    let rows: Vec<Expect> = mailbox
        .records()
        .iter()
        .map(|r| {
            let raw = mailbox.read_message(r).unwrap();
            let envelope = reader.summary(r).envelope.to_vec();
            let Sexp::List(env) = sexp(&envelope, &mut 0) else {
                panic!("envelope")
            };
            let text = |v: &Sexp| match v {
                Sexp::Text(t) => t.clone(),
                _ => Vec::new(),
            };
            // The first address of an address list: (mailbox, display).
            let first = |v: &Sexp| -> (String, String) {
                let Sexp::List(list) = v else {
                    return Default::default();
                };
                let Some(Sexp::List(a)) = list.first() else {
                    return Default::default();
                };
                let mailbox = String::from_utf8_lossy(&text(&a[2])).into_owned();
                let name = independent::decode(&text(&a[0]));
                let display = if !name.is_empty() {
                    name
                } else if matches!(a[3], Sexp::Text(_)) {
                    format!("{mailbox}@{}", String::from_utf8_lossy(&text(&a[3])))
                } else {
                    mailbox.clone()
                };
                (
                    independent::collate(&mailbox),
                    independent::collate(&display),
                )
            };
            let parsed = mail_parser::MessageParser::default().parse_headers(&raw[..]);
            let date = parsed
                .as_ref()
                .and_then(|m| m.date())
                .map_or(r.internal_date, |d| d.to_timestamp());
            let (from, display_from) = first(&env[2]);
            let (to, display_to) = first(&env[5]);
            let (cc, _) = first(&env[6]);
            Expect {
                arrival: r.internal_date,
                size: r.size as i64,
                date,
                subject: independent::collate(&independent::base(&independent::decode(&text(
                    &env[1],
                )))),
                from,
                to,
                cc,
                display_from,
                display_to,
            }
        })
        .collect();
    let n = rows.len();
    type Key = fn(&Expect) -> (i64, String);
    let keys: [(&str, Key); 9] = [
        ("ARRIVAL", |e| (e.arrival, String::new())),
        ("SIZE", |e| (e.size, String::new())),
        ("DATE", |e| (e.date, String::new())),
        ("SUBJECT", |e| (0, e.subject.clone())),
        ("FROM", |e| (0, e.from.clone())),
        ("TO", |e| (0, e.to.clone())),
        ("CC", |e| (0, e.cc.clone())),
        ("DISPLAYFROM", |e| (0, e.display_from.clone())),
        ("DISPLAYTO", |e| (0, e.display_to.clone())),
    ];
    let mut distinct = 0;
    for (name, key) in keys {
        for reverse in [false, true] {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| {
                let o = key(&rows[a]).cmp(&key(&rows[b]));
                (if reverse { o.reverse() } else { o }).then(a.cmp(&b))
            });
            let want: String = order.iter().map(|p| format!(" {}", p + 1)).collect();
            let criteria = if reverse {
                format!("REVERSE {name}")
            } else {
                name.to_string()
            };
            let got = command(&mut s, &format!("s SORT ({criteria}) UTF-8 ALL"));
            assert_eq!(got, sorted(&want, "s"), "{criteria}");
            let values: std::collections::BTreeSet<(i64, String)> = rows.iter().map(key).collect();
            distinct += values.len();
        }
    }
    assert!(distinct > 9 * 2 * 20, "the keys hardly differ: {distinct}");
    // THREAD over the corpus: every message once, in a well-formed answer.
    for algorithm in ["ORDEREDSUBJECT", "REFERENCES"] {
        let out = command(&mut s, &format!("t THREAD {algorithm} UTF-8 ALL"));
        let line = out.lines().next().unwrap();
        let mut numbers: Vec<usize> = line
            .trim_start_matches("* THREAD")
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(|w| w.parse().unwrap())
            .collect();
        numbers.sort();
        assert_eq!(numbers, (1..=n).collect::<Vec<_>>(), "{algorithm}");
        let depth = line.chars().fold(0i64, |d, c| match c {
            '(' => d + 1,
            ')' => d - 1,
            _ => d,
        });
        assert_eq!(depth, 0, "{algorithm}");
        assert!(!line.contains("()"), "{algorithm}: {line}");
    }
}

/// Profiling aid, not a test: `IMAPD_PERF_MAILDIR=<a user's tree> cargo
/// test -p guest --release sort_profile -- --ignored --nocapture` times
/// SORT and THREAD natively over a real mailbox (e.g. one `make bench`
/// loaded).
#[test]
#[ignore]
fn sort_profile() {
    use super::{Criterion, SortKey, sort_positions};
    let Ok(root) = std::env::var("IMAPD_PERF_MAILDIR") else {
        return;
    };
    let store = crate::store::MailStore::open(root, std::rc::Rc::new(crate::store::NoLocking), &[])
        .unwrap();
    let m = store.examine(&crate::store::MailboxName::inbox()).unwrap();
    let all: Vec<usize> = (0..m.records().len()).collect();
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let k = super::sort_keys_of(&m, &all);
        println!("keys: {:?}", t0.elapsed());
        drop(k);
    }
    for key in [SortKey::Date, SortKey::Subject, SortKey::From] {
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let sorted = sort_positions(
                &m,
                &all,
                &[Criterion {
                    key,
                    reverse: false,
                }],
            );
            println!("SORT {key:?}: {} in {:?}", sorted.len(), t0.elapsed());
        }
    }
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let messages = crate::commands::thread::thread_messages(&m, &all);
        let t1 = t0.elapsed();
        let threads = crate::commands::thread::references(&messages);
        println!(
            "THREAD REFERENCES: {} threads in {:?} (reading {t1:?})",
            threads.len(),
            t0.elapsed()
        );
    }
}

/// The eight-at-a-time comparison orders as the octet order does.
#[test]
fn octet_comparison() {
    let words = [
        "",
        "A",
        "AB",
        "ABCDEFGH",
        "ABCDEFGHI",
        "ABCDEFGH\u{0}",
        "ABCDEFGG",
        "ABCDEFGHIJKLMNOP",
        "ABCDEFGHIJKLMNOQ",
        "ABCDEFGHIJKLMNO",
        "ÉTÉ",
        "ZZZZZZZZZZ",
        "\u{0}",
    ];
    for a in words {
        for b in words {
            assert_eq!(
                super::octets(a.as_bytes(), b.as_bytes()),
                a.cmp(b),
                "{a:?} {b:?}"
            );
            assert_eq!(super::text(a).cmp(&super::text(b)), a.cmp(b), "{a:?} {b:?}");
        }
    }
}
