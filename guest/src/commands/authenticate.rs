//! AUTHENTICATE (rfc9051 6.2.2) with SASL-IR (rfc4959). PLAIN (rfc4616)
//! and LOGIN run here, the host checking only the password; SCRAM-*
//! (rfc5802, rfc7677) and EXTERNAL (rfc4422 A) run in the host from end to
//! end (wit: `sasl-start`), and the guest only relays base64 both ways:
//! it never sees a key, a proof's secret or a certificate. After a SCRAM
//! exchange's server-final message (sent as a challenge: IMAP4rev1 has no
//! success data) the client answers with an empty line. Cyrus's order and replies (`cmdloop()` and
//! `cmd_authenticate()`):
//! - mechanism missing: `BAD Missing required argument to Authenticate`;
//!   not an atom: `BAD Invalid authenticate mechanism`;
//! - after login: `BAD Already authenticated`;
//! - `tls_required` before TLS: `NO Authenticate only available under a layer`;
//! - a mechanism not offered now (unknown, or plaintext without a layer):
//!   SASL's `NO no mechanism available`;
//! - `*` from the client: `BAD Client canceled authentication`;
//! - invalid base64: BAD (rfc9051 6.2.2 says the server MUST reject it so);
//! - a malformed PLAIN message: SASL's `NO bad protocol / cancel`;
//! - wrong password: SASL's `NO authentication failure`.
//!
//! Success: `OK [CAPABILITY ...] Success (tls protection) SESSIONID=<id>`
//! (`no protection` outside TLS: PLAIN and LOGIN add no layer of their own).

use super::Request;
use super::login::{failure_text, logged_in};
use crate::capability;
use crate::host::SaslReply;
use crate::session::{Action, Mechanism, SaslExchange, Session, State};
use crate::wire::base64;
use crate::wire::parser::SyntaxError;
use crate::wire::types::Atom;

/// LOGIN's prompts, base64 of "Username:" and "Password:".
const USERNAME_PROMPT: &[u8] = b"+ VXNlcm5hbWU6\r\n";
const PASSWORD_PROMPT: &[u8] = b"+ UGFzc3dvcmQ6\r\n";
/// PLAIN has nothing to say first: an empty challenge.
const EMPTY_CHALLENGE: &[u8] = b"+ \r\n";

const BAD_BASE64: &str = "BAD Invalid base64 data";

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let Some(mech) = Atom::new(req.args.word()) else {
        req.reply(session, "BAD Invalid authenticate mechanism");
        return Ok(Action::None);
    };
    // rfc4959 3: SASL-IR, base64 or "=" for an empty response.
    let initial = if req.args.eat(b' ') {
        Some(req.args.word())
    } else {
        None
    };
    req.args.finish()?;
    let tag = req.tag.as_str().to_owned();
    if session.state() != State::NotAuthenticated {
        session.tagged(&tag, "BAD Already authenticated");
        return Ok(Action::None);
    }
    if capability::tls_required(session.settings(), session.security()) {
        session.tagged(&tag, "NO Authenticate only available under a layer");
        return Ok(Action::None);
    }
    let name = mech.as_str().to_ascii_uppercase();
    let offered = capability::mechanisms(session.settings(), session.security());
    let mechanism = match name.as_str() {
        "PLAIN" if offered.contains(&"PLAIN") => Mechanism::Plain,
        "LOGIN" if offered.contains(&"LOGIN") => Mechanism::Login,
        other if offered.contains(&other) => Mechanism::Host,
        _ => {
            session.tagged(&tag, "NO no mechanism available");
            return Ok(Action::None);
        }
    };
    let initial = match initial {
        None => None,
        Some(b"=") => Some(Vec::new()),
        Some(text) => match base64::decode(text) {
            Some(data) => Some(data),
            None => {
                session.tagged(&tag, BAD_BASE64);
                return Ok(Action::None);
            }
        },
    };
    let exchange = SaslExchange {
        tag,
        mechanism,
        username: None,
    };
    if mechanism == Mechanism::Host {
        let reply = session.env.host.sasl_start(&name, initial.as_deref());
        return Ok(relay(session, exchange, reply));
    }
    Ok(match initial {
        Some(data) => step(session, exchange, data),
        None => {
            session.write(match mechanism {
                Mechanism::Login => USERNAME_PROMPT,
                Mechanism::Plain | Mechanism::Host => EMPTY_CHALLENGE,
            });
            session.facts.sasl = Some(exchange);
            Action::None
        }
    })
}

/// The client's response line during an exchange (rfc9051 6.2.2).
pub fn resume(session: &mut Session, line: &[u8]) -> Action {
    let Some(exchange) = session.facts.sasl.take() else {
        return Action::None;
    };
    let host_run = exchange.mechanism == Mechanism::Host;
    if line == b"*" {
        if host_run {
            session.env.host.sasl_abort();
        }
        session.tagged(&exchange.tag, "BAD Client canceled authentication");
        return Action::None;
    }
    match base64::decode(line) {
        Some(data) if host_run => {
            let reply = session.env.host.sasl_continue(&data);
            relay(session, exchange, reply)
        }
        Some(data) => step(session, exchange, data),
        None => {
            // A new tagged command in the middle of an exchange lands here
            // too (it is no base64): the exchange ends with BAD.
            if host_run {
                session.env.host.sasl_abort();
            }
            session.tagged(&exchange.tag, BAD_BASE64);
            Action::None
        }
    }
}

/// The host's answer in an exchange it runs: a challenge to pass on, or
/// the end.
fn relay(session: &mut Session, exchange: SaslExchange, reply: SaslReply) -> Action {
    match reply {
        SaslReply::Challenge(data) => {
            session.write(format!("+ {}\r\n", base64::encode(&data)).as_bytes());
            session.facts.sasl = Some(exchange);
            Action::None
        }
        SaslReply::Success(user) => {
            let protection = if session.security().tls {
                "Success (tls protection)"
            } else {
                "Success (no protection)"
            };
            logged_in(session, &exchange.tag, user, protection)
        }
        SaslReply::Failure(error) => {
            let text = failure_text(&error, "authentication failure");
            session.tagged(&exchange.tag, &text);
            Action::None
        }
    }
}

/// One client message of the mechanism.
fn step(session: &mut Session, mut exchange: SaslExchange, data: Vec<u8>) -> Action {
    match exchange.mechanism {
        Mechanism::Plain => match split_plain(&data) {
            Some((authzid, user, password)) => {
                verify(session, &exchange.tag, "PLAIN", authzid, user, password)
            }
            None => {
                session.tagged(&exchange.tag, "NO bad protocol / cancel");
                Action::None
            }
        },
        // Host-run mechanisms never get here (see `relay`).
        Mechanism::Host => {
            session.tagged(&exchange.tag, "NO bad protocol / cancel");
            Action::None
        }
        Mechanism::Login => match exchange.username.take() {
            None => {
                exchange.username = Some(String::from_utf8_lossy(&data).into_owned());
                session.write(PASSWORD_PROMPT);
                session.facts.sasl = Some(exchange);
                Action::None
            }
            Some(user) => verify(session, &exchange.tag, "LOGIN", b"", user.as_bytes(), &data),
        },
    }
}

/// rfc4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, with
/// authcid and passwd non-empty.
fn split_plain(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut parts = data.split(|&b| b == 0);
    let authzid = parts.next()?;
    let user = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || user.is_empty() || password.is_empty() {
        return None;
    }
    Some((authzid, user, password))
}

fn verify(
    session: &mut Session,
    tag: &str,
    mech: &str,
    authzid: &[u8],
    user: &[u8],
    password: &[u8],
) -> Action {
    let texts = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(user),
        std::str::from_utf8(password),
    );
    let (Ok(authzid), Ok(user), Ok(password)) = texts else {
        session.tagged(tag, "NO authentication failure");
        return Action::None;
    };
    // The host tells the LOGIN command ("LOGIN") from SASL ("AUTH=<mech>"):
    // `-N` skips the password for the former only (cyrus-compat 2.1).
    let mech = format!("AUTH={mech}");
    match session
        .env
        .host
        .authenticate(&mech, authzid, user, password)
    {
        Ok(canonical) => {
            let protection = if session.security().tls {
                "Success (tls protection)"
            } else {
                "Success (no protection)"
            };
            logged_in(session, tag, canonical, protection)
        }
        Err(error) => {
            let text = failure_text(&error, "authentication failure");
            session.tagged(tag, &text);
            Action::None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::{Action, State};
    use crate::wire::base64::encode;

    const OK: &str = "a OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN COMPRESS=DEFLATE APPENDLIMIT=4294967295] Success \
                      (no protection) SESSIONID=<test.example-1-2-3-4>\r\n";

    fn plain(authzid: &str, user: &str, pass: &str) -> String {
        encode(format!("{authzid}\0{user}\0{pass}").as_bytes())
    }

    #[test]
    fn plain_with_initial_response() {
        let (mut s, host) = session_with(settings());
        let input = format!("a AUTHENTICATE PLAIN {}\r\n", plain("", "alice", "secret"));
        assert_eq!(run(&mut s, &input), (OK.into(), Action::Promote));
        assert_eq!(host.calls.borrow()[0].0, "AUTH=PLAIN");
        assert_eq!(s.state(), State::Authenticated);
    }

    #[test]
    fn plain_with_continuation_and_authzid() {
        let (mut s, host) = session_with(settings());
        assert_eq!(
            run(&mut s, "a authenticate plain\r\n"),
            ("+ \r\n".into(), Action::None)
        );
        let line = format!("{}\r\n", plain("alice", "alice", "secret"));
        assert_eq!(run(&mut s, &line), (OK.into(), Action::Promote));
        assert_eq!(host.calls.borrow()[0].1, "alice");
    }

    #[test]
    fn login_mechanism() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "a AUTHENTICATE LOGIN\r\n").0,
            "+ VXNlcm5hbWU6\r\n"
        );
        assert_eq!(
            run(&mut s, &format!("{}\r\n", encode(b"alice"))).0,
            "+ UGFzc3dvcmQ6\r\n"
        );
        assert_eq!(
            run(&mut s, &format!("{}\n", encode(b"secret"))),
            (OK.into(), Action::Promote)
        );
        // SASL-IR carries the user name.
        let mut s = session();
        let input = format!("a AUTHENTICATE LOGIN {}\r\n", encode(b"alice"));
        assert_eq!(run(&mut s, &input).0, "+ UGFzc3dvcmQ6\r\n");
        assert_eq!(
            run(&mut s, &format!("{}\r\n", encode(b"secret"))).1,
            Action::Promote
        );
    }

    #[test]
    fn cancel_and_errors() {
        let mut s = session();
        let cases: Vec<(String, &str)> = vec![
            (
                "a AUTHENTICATE PLAIN\r\n*\r\n".into(),
                "+ \r\na BAD Client canceled authentication\r\n",
            ),
            (
                "a AUTHENTICATE PLAIN\r\n!!\r\n".into(),
                "+ \r\na BAD Invalid base64 data\r\n",
            ),
            (
                "a AUTHENTICATE PLAIN Zg\r\n".into(),
                "a BAD Invalid base64 data\r\n",
            ),
            (
                "a AUTHENTICATE PLAIN =\r\n".into(),
                "a NO bad protocol / cancel\r\n",
            ),
            (
                format!("a AUTHENTICATE PLAIN {}\r\n", encode(b"alice\0secret")),
                "a NO bad protocol / cancel\r\n",
            ),
            (
                format!("a AUTHENTICATE PLAIN {}\r\n", plain("", "alice", "nope")),
                "a NO authentication failure\r\n",
            ),
            (
                format!("a AUTHENTICATE PLAIN {}\r\n", plain("", "carol", "x")),
                "a NO [UNAVAILABLE] saslauthd is down\r\n",
            ),
            (
                "a AUTHENTICATE CRAM-MD5\r\n".into(),
                "a NO no mechanism available\r\n",
            ),
            (
                "a AUTHENTICATE\r\n".into(),
                "a BAD Missing required argument to Authenticate\r\n",
            ),
            (
                "a AUTHENTICATE (x)\r\n".into(),
                "a BAD Invalid authenticate mechanism\r\n",
            ),
            (
                "a AUTHENTICATE PLAIN = x\r\n".into(),
                "a BAD Unexpected extra arguments to Authenticate\r\n",
            ),
            // The exchange ended: this is a command line again.
            ("*\r\n".into(), "* BAD Invalid tag\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                run(&mut s, &input),
                (want.into(), Action::None),
                "{input:?}"
            );
        }
    }

    #[test]
    fn layers() {
        let mut st = settings();
        st.allow_plaintext = false;
        let (mut s, _) = session_with(st.clone());
        assert_eq!(
            run(&mut s, "a AUTHENTICATE PLAIN =\r\n").0,
            "a NO no mechanism available\r\n"
        );
        st.tls_required = true;
        let (mut s, _) = session_with(st.clone());
        assert_eq!(
            run(&mut s, "a AUTHENTICATE PLAIN\r\n").0,
            "a NO Authenticate only available under a layer\r\n"
        );
        st.tls_active = true;
        let (mut s, _) = session_with(st);
        let input = format!("a AUTHENTICATE PLAIN {}\r\n", plain("", "alice", "secret"));
        assert!(
            run(&mut s, &input)
                .0
                .ends_with("Success (tls protection) SESSIONID=<test.example-1-2-3-4>\r\n")
        );
    }

    #[test]
    fn host_run_mechanisms_are_relayed() {
        let mut st = settings();
        st.allow_plaintext = false;
        st.mechanisms = vec!["PLAIN".into(), "SCRAM-SHA-256".into()];
        let (mut s, host) = session_with(st.clone());
        // Offered without a layer: SCRAM is no plaintext mechanism.
        let caps = run(&mut s, "c CAPABILITY\r\n").0;
        assert!(
            caps.contains(" LOGINDISABLED AUTH=SCRAM-SHA-256 SASL-IR "),
            "{caps}"
        );
        assert_eq!(run(&mut s, "a AUTHENTICATE scram-sha-256\r\n").0, "+ \r\n");
        assert_eq!(
            run(&mut s, &format!("{}\r\n", encode(b"first"))).0,
            format!("+ {}\r\n", encode(b"server-first"))
        );
        assert_eq!(
            run(&mut s, &format!("{}\r\n", encode(b"final"))).0,
            format!("+ {}\r\n", encode(b"v=sig"))
        );
        let (out, action) = run(&mut s, "\r\n");
        assert!(out.starts_with("a OK [CAPABILITY "), "{out}");
        assert!(out.ends_with("Success (no protection) SESSIONID=<test.example-1-2-3-4>\r\n"));
        assert_eq!(action, Action::Promote);
        assert_eq!(
            *host.sasl.borrow(),
            [
                "start SCRAM-SHA-256 None",
                "continue first",
                "continue final",
                "continue "
            ]
        );
        // SASL-IR, a failure, a cancel and a command in mid-exchange.
        let (mut s, host) = session_with(st);
        let ir = format!("a AUTHENTICATE SCRAM-SHA-256 {}\r\n", encode(b"first"));
        assert_eq!(
            run(&mut s, &ir).0,
            format!("+ {}\r\n", encode(b"server-first"))
        );
        assert_eq!(
            run(&mut s, &format!("{}\r\n", encode(b"wrong"))).0,
            "a NO authentication failure\r\n"
        );
        assert_eq!(
            run(&mut s, &ir).0,
            format!("+ {}\r\n", encode(b"server-first"))
        );
        assert_eq!(
            run(&mut s, "*\r\n").0,
            "a BAD Client canceled authentication\r\n"
        );
        assert_eq!(
            run(&mut s, &ir).0,
            format!("+ {}\r\n", encode(b"server-first"))
        );
        assert_eq!(
            run(&mut s, "b NOOP\r\nc NOOP\r\n").0,
            "a BAD Invalid base64 data\r\nc OK Completed\r\n"
        );
        assert_eq!(
            host.sasl.borrow().iter().filter(|c| *c == "abort").count(),
            2
        );
        // Not offered: refused without asking the host.
        assert_eq!(
            run(&mut s, "d AUTHENTICATE EXTERNAL\r\n").0,
            "d NO no mechanism available\r\n"
        );
    }

    #[test]
    fn after_login() {
        let mut s = logged_in();
        assert_eq!(
            run(&mut s, "a AUTHENTICATE PLAIN\r\n").0,
            "a BAD Already authenticated\r\n"
        );
    }

    #[test]
    fn exchange_survives_a_snapshot() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "a AUTHENTICATE LOGIN\r\n").0,
            "+ VXNlcm5hbWU6\r\n"
        );
        let snap = s.snapshot();
        let env = crate::session::Env {
            host: Box::new(FakeHost::default()),
            mail_root: None,
        };
        let mut s = crate::session::Session::restore(&snap, settings(), env).unwrap();
        assert_eq!(
            run(&mut s, &format!("{}\r\n", encode(b"alice"))).0,
            "+ UGFzc3dvcmQ6\r\n"
        );
        assert_eq!(
            run(&mut s, &format!("{}\r\n", encode(b"secret"))).1,
            Action::Promote
        );
    }
}
