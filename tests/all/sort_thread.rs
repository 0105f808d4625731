//! SORT, ESORT and THREAD (rfc5256, rfc5957, rfc5267) and SEARCH in
//! legacy charsets against the real binary, with the exact lines a
//! client parses.

use crate::store_util::{Session, store_server};

fn mail(date: &str, from: &str, subject: &str, id: &str, refs: &str, body: &str) -> Vec<u8> {
    let mut m =
        format!("Date: {date}\r\nFrom: {from}\r\nSubject: {subject}\r\nMessage-ID: <{id}@x>\r\n");
    if !refs.is_empty() {
        m += &format!("References: {refs}\r\n");
    }
    m += &format!("\r\n{body}\r\n");
    m.into_bytes()
}

fn ok(c: &mut Session, tag: &str, command: &str) -> Vec<String> {
    let (u, t) = c.c.cmd(tag, command);
    assert_eq!(t, format!("{tag} OK Completed"), "{command}\n{u:#?}");
    u
}

#[test]
fn sort_esort_and_thread() {
    let s = store_server(&[]);
    let mut c = Session::new(&s);
    let caps = c.ok("CAPABILITY").remove(0);
    let at = |name: &str| {
        caps.split(' ')
            .position(|w| w == name)
            .unwrap_or_else(|| panic!("no {name} in {caps}"))
    };
    // Cyrus 3.6.1's order (cyrus-compat 2.8).
    assert!(at("ESEARCH") + 1 == at("ESORT"), "{caps}");
    assert!(at("SEARCHRES") < at("SORT") && at("SORT") + 1 == at("SORT=DISPLAY"));
    assert!(at("STATUS=SIZE") < at("THREAD=ORDEREDSUBJECT"));
    assert!(at("THREAD=ORDEREDSUBJECT") + 1 == at("THREAD=REFERENCES"));
    assert!(at("THREAD=REFERENCES") < at("UIDPLUS"));
    let messages = [
        mail(
            "Mon, 2 Mar 2020 10:00:00 +0000",
            "Ann <ann@x>",
            "Plans",
            "1",
            "",
            "a",
        ),
        mail(
            "Mon, 2 Mar 2020 11:00:00 +0000",
            "Bob <bob@x>",
            "Re: Plans",
            "2",
            "<1@x>",
            "bb",
        ),
        mail(
            "Sun, 1 Mar 2020 09:00:00 +0000",
            "=?UTF-8?Q?=C3=89ve?= <eve@x>",
            "[team] Budget",
            "3",
            "",
            "ccc",
        ),
        mail(
            "Mon, 2 Mar 2020 12:00:00 +0000",
            "Cy <cy@x>",
            "Re: Re: Plans",
            "4",
            "<1@x> <2@x>",
            "dddd",
        ),
        mail(
            "Tue, 3 Mar 2020 08:00:00 +0100",
            "Dan <dan@x>",
            "Fwd: budget",
            "5",
            "<gone@x>",
            "eeeee",
        ),
    ];
    for m in &messages {
        c.append("INBOX", m);
    }
    c.select("INBOX");
    assert_eq!(
        ok(&mut c, "a", "SORT (DATE) UTF-8 ALL"),
        ["* SORT 3 1 2 4 5"]
    );
    assert_eq!(
        ok(&mut c, "b", "SORT (SUBJECT DATE) UTF-8 ALL"),
        ["* SORT 3 5 1 2 4"]
    );
    let mut by_size: Vec<(usize, usize)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.len(), i + 1))
        .collect();
    by_size.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let want: Vec<String> = by_size.iter().map(|(_, n)| n.to_string()).collect();
    assert_eq!(
        ok(&mut c, "c", "SORT (REVERSE SIZE) UTF-8 ALL"),
        [format!("* SORT {}", want.join(" "))]
    );
    assert_eq!(
        ok(&mut c, "d", "UID SORT (FROM) UTF-8 NOT 2"),
        ["* SORT 1 4 5 3"]
    );
    assert_eq!(
        ok(&mut c, "e", "SORT (DISPLAYFROM) UTF-8 ALL"),
        ["* SORT 1 2 4 5 3"]
    );
    assert_eq!(
        ok(
            &mut c,
            "f",
            "SORT RETURN (MIN MAX ALL COUNT) (DATE) UTF-8 ALL"
        ),
        ["* ESEARCH (TAG \"f\") MIN 3 MAX 5 ALL 3,1:2,4:5 COUNT 5"]
    );
    assert_eq!(
        ok(&mut c, "g", "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        ["* THREAD (3 5)(1 (2)(4))"]
    );
    assert_eq!(
        ok(&mut c, "h", "THREAD REFERENCES UTF-8 ALL"),
        ["* THREAD (3 5)(1 2 4)"]
    );
    assert_eq!(
        ok(&mut c, "i", "UID THREAD REFERENCES US-ASCII FROM dan"),
        ["* THREAD (5)"]
    );
    let (u, t) = c.c.cmd("j", "SORT (DATE) X-KLINGON ALL");
    assert!(
        u.is_empty() && t.starts_with("j NO [BADCHARSET (US-ASCII UTF-8 "),
        "{t}"
    );
    let (_, t) = c.c.cmd("k", "SORT (NAME) UTF-8 ALL");
    assert_eq!(t, "k BAD Invalid Sort criterion NAME");
    // SEARCH in a legacy charset: "Ève" in ISO-8859-1 finds the decoded
    // encoded word, in any case.
    let (u, t) = c.raw("l", b"l SEARCH CHARSET ISO-8859-1 FROM {3+}\r\n\xc9VE\r\n");
    assert_eq!(t, "OK Completed");
    assert_eq!(u, [b"* SEARCH 3".to_vec()]);
}
