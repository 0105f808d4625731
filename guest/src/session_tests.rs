//! Session-level tests: greeting, limits, flow control, snapshots, and
//! properties over arbitrary input.

use proptest::prelude::*;

use super::*;
use crate::commands::testing::{FakeHost, drain, run, session, session_with, settings};

fn env() -> Env {
    Env {
        host: Box::new(FakeHost::default()),
        mail_root: None,
    }
}

#[test]
fn greetings() {
    let mut st = settings();
    st.allow_plaintext = false;
    st.starttls_available = true;
    let step = Session::new(st.clone(), env()).greet();
    assert_eq!(
        String::from_utf8(step.output).unwrap(),
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED] test.example imapd \
         0.1.0 server ready\r\n"
    );
    assert!(!step.more);
    assert_eq!(step.action, Action::None);

    st.server_info = ServerInfo::Min;
    st.motd = Some("Welcome\r\n* BYE injected".into());
    let step = Session::new(st.clone(), env()).greet();
    assert_eq!(
        String::from_utf8(step.output).unwrap(),
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED] test.example server \
         ready\r\n* OK [ALERT] Welcome\r\n"
    );

    st.server_info = ServerInfo::Off;
    st.motd = None;
    st.tls_active = true;
    let step = Session::new(st, env()).greet();
    assert_eq!(
        String::from_utf8(step.output).unwrap(),
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN SASL-IR] server ready\r\n"
    );
}

fn small_limits() -> Settings {
    Settings {
        max_word: 16,
        max_quoted: 16,
        max_literal: 16,
        ..settings()
    }
}

#[test]
fn limit_replies() {
    let (mut s, _) = session_with(small_limits());
    assert_eq!(
        run(&mut s, "a LOGIN {17}\r\nb NOOP\r\n"),
        (
            "a NO [TOOBIG] Literal size exceeds fixed limit in Login\r\nb OK Completed\r\n".into(),
            Action::None
        )
    );
    assert_eq!(
        run(&mut s, "* LOGIN {17}\r\na NO\x01P {17}\r\n").0,
        "* BAD Invalid tag\r\na NO [TOOBIG] Literal size exceeds fixed limit in No?p\r\n"
    );
    assert_eq!(
        run(&mut s, "a LOGIN {17+}\r\n"),
        (
            "* BYE [TOOBIG] Literal size exceeds fixed limit\r\n".into(),
            Action::Close
        )
    );
    assert_eq!(run(&mut s, "b NOOP\r\n"), (String::new(), Action::Close));

    let (mut s, _) = session_with(small_limits());
    assert_eq!(
        run(&mut s, &format!("a NOOP {}", "x".repeat(17))),
        ("* BYE [TOOBIG] Word too long\r\n".into(), Action::Close)
    );
    let (mut s, _) = session_with(small_limits());
    assert_eq!(
        run(&mut s, &format!("a LOGIN \"{}", "x".repeat(17))),
        (
            "* BYE [TOOBIG] Quoted value too long\r\n".into(),
            Action::Close
        )
    );
}

#[test]
fn literal_minus_replies() {
    let mut st = settings();
    st.options = vec![("literalminus".into(), "1".into())];
    let (mut s, _) = session_with(st);
    // rfc7888 5: BAD [TOOBIG] after the literal and the rest of the
    // command are read past; the session goes on.
    let big = "x".repeat(4097);
    assert_eq!(
        run(
            &mut s,
            &format!("a LOGIN {{4097+}}\r\n{big} y\r\nb NOOP\r\n")
        ),
        (
            "a BAD [TOOBIG] Non-synchronizing literal size exceeds 4K\r\nb OK Completed\r\n".into(),
            Action::None
        )
    );
    assert_eq!(
        run(&mut s, &format!("* LOGIN {{4097+}}\r\n{big}\r\n")).0,
        "* BAD Invalid tag\r\n"
    );
}

#[test]
fn binary_garbage_is_bad_not_a_panic() {
    let mut s = session();
    assert_eq!(
        run(&mut s, "a LOGIN \0\x01\u{7f} x\r\n").0,
        "a BAD Invalid astring in Login\r\n"
    );
    assert_eq!(run(&mut s, "\0\0\0\r\n").0, "* BAD Invalid tag\r\n");
}

#[test]
fn output_is_pulled_in_bounded_pieces() {
    let mut s = session();
    let n = 10_000; // ~90 bytes each: well over the high-water mark
    let input = "c CAPABILITY\r\n".repeat(n) + "o LOGOUT\r\n";
    let step = s.feed(input.as_bytes());
    assert!(step.more);
    assert_eq!(step.action, Action::None);
    assert!(step.output.len() <= OUTBOX_HIGH_WATER);
    let mut out = step.output;
    let mut pulls = 0;
    loop {
        let step = s.pull(10_000);
        assert!(step.output.len() <= 10_000);
        out.extend_from_slice(&step.output);
        pulls += 1;
        if !step.more {
            assert_eq!(step.action, Action::Close);
            break;
        }
        assert_eq!(step.action, Action::None);
    }
    assert!(pulls > 10);
    let one = "* CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN AUTH=PLAIN AUTH=LOGIN SASL-IR COMPRESS=DEFLATE APPENDLIMIT=4294967295\r\nc OK Completed\r\n";
    let want = one.repeat(n) + "* BYE LOGOUT received\r\no OK Completed\r\n";
    assert_eq!(String::from_utf8(out).unwrap(), want);
}

#[test]
fn snapshot_versions() {
    let s = session();
    let snap = s.snapshot();
    assert!(snap.starts_with("{\"v\":1,"), "{snap}");
    assert!(snap.contains("\"state\":\"not-authenticated\""));
    assert_eq!(Session::snapshot_state(&snap), Ok(State::NotAuthenticated));
    assert!(Session::restore(&snap.replacen("\"v\":1", "\"v\":2", 1), settings(), env()).is_err());
    assert!(Session::restore("{\"state\":\"authenticated\"}", settings(), env()).is_err());
    assert!(Session::restore("not json", settings(), env()).is_err());
    // Unknown fields are tolerated, missing ones default.
    let s = Session::restore(
        "{\"v\":1,\"state\":\"authenticated\",\"user\":\"alice\",\"future\":[1,2]}",
        settings(),
        env(),
    )
    .unwrap();
    assert_eq!(s.state(), State::Authenticated);
    assert_eq!(s.user(), Some("alice"));
}

#[test]
fn snapshot_mid_literal() {
    let mut s = session();
    assert_eq!(run(&mut s, "l LOGIN alice {6}\r\nsec").0, "+ go ahead\r\n");
    let snap = s.snapshot();
    let mut s = Session::restore(&snap, settings(), env()).unwrap();
    // No second "+ go ahead": the reader's state came along.
    let (out, action) = run(&mut s, "ret\r\n");
    assert!(out.starts_with("l OK [CAPABILITY "), "{out}");
    assert_eq!(action, Action::Promote);
    let snap = s.snapshot();
    assert_eq!(Session::snapshot_state(&snap), Ok(State::Authenticated));
    assert!(snap.contains("\"user\":\"alice\""));
}

#[test]
fn input_during_unreported_starttls_is_dropped() {
    let mut st = settings();
    st.starttls_available = true;
    let (mut s, _) = session_with(st);
    let input = "c CAPABILITY\r\n".repeat(3000) + "t STARTTLS\r\n";
    let step = s.feed(input.as_bytes());
    assert!(step.more);
    // Not drained yet: more plaintext arrives; it must never run.
    let step = s.feed(b"x NOOP\r\n");
    let (out, action) = drain(&mut s, step);
    assert!(out.ends_with("t OK Begin TLS negotiation now\r\n"));
    assert!(!out.contains("x OK"));
    assert_eq!(action, Action::StartTls);
    assert_eq!(run(&mut s, "y NOOP\r\n").0, "y OK Completed\r\n");
}

/// Drive a session like the host does: feed chunks, pull until `more` is
/// false, promote through snapshot/restore, stop at Close.
fn drive(chunks: &[&[u8]], pull_max: usize) -> (Vec<u8>, Vec<Action>) {
    let mut s = Session::new(small_limits(), env());
    let mut out = s.greet().output;
    let mut actions = Vec::new();
    for chunk in chunks {
        let mut step = s.feed(chunk);
        loop {
            out.extend_from_slice(&step.output);
            match step.action {
                Action::None => {}
                Action::Close => {
                    actions.push(Action::Close);
                    return (out, actions);
                }
                Action::Promote => {
                    actions.push(Action::Promote);
                    let snap = s.snapshot();
                    s = Session::restore(&snap, small_limits(), env()).unwrap();
                    step = s.feed(&[]);
                    continue;
                }
                other => actions.push(other),
            }
            if !step.more {
                break;
            }
            step = s.pull(pull_max);
        }
    }
    (out, actions)
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"a NOOP\r\n",
        b"b capability\r\n",
        b"c LOGIN alice secret\r\n",
        b"c LOGIN alice wrong\n",
        b"c LOGIN {5}\r\nalice {6+}\r\nsecret\r\n",
        b"d ID (\"x\" {3}\r\nabc)\r\n",
        b"e AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n",
        b"e AUTHENTICATE LOGIN YWxpY2U=\r\n*\r\n",
        b"f LOGOUT\r\n",
        b"g SELECT INBOX\r\n",
        b"h ENABLE X\r\n",
        b"i LOGIN {17}\r\n",
        b"j STARTTLS\r\n",
        b"\r\n",
        b"k NOOP \"unterminated\r\n",
        b"l LOGIN ~{3}\r\na\0c x\r\n",
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed).prop_map(|b| b.to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any split of the input gives the same output bytes and actions.
    #[test]
    fn chunking_is_invisible(
        pieces in proptest::collection::vec(piece(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
        pull_max in 1usize..5000,
    ) {
        let input: Vec<u8> = pieces.concat();
        let whole = drive(&[&input], 1 << 20);
        let mut chunks = Vec::new();
        let mut rest = &input[..];
        for cut in cuts {
            let (chunk, tail) = rest.split_at(cut % (rest.len() + 1));
            chunks.push(chunk);
            rest = tail;
        }
        chunks.push(rest);
        let split = drive(&chunks, pull_max);
        prop_assert_eq!(
            String::from_utf8_lossy(&split.0),
            String::from_utf8_lossy(&whole.0)
        );
        prop_assert_eq!(split.1, whole.1);
    }

    /// `feed` never panics, whatever arrives, in whatever state.
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in piece(),
        data in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut s = session();
        let _ = s.feed(&prefix);
        let step = s.feed(&data);
        let _ = drain(&mut s, step);
        let snap = s.snapshot();
        prop_assert!(Session::restore(&snap, settings(), env()).is_ok());
    }

    /// Random JSON-ish snapshots are refused or restored, never a panic.
    #[test]
    fn arbitrary_snapshots_never_panic(text in ".{0,200}") {
        let _ = Session::restore(&text, settings(), env());
        let _ = Session::snapshot_state(&text);
    }
}
