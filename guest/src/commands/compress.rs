//! COMPRESS (rfc4978 3). Cyrus's replies (`cmd_compress()`), in its order:
//! - before login: `BAD Please login first` (the dispatch table);
//! - already on: `BAD [COMPRESSIONACTIVE] DEFLATE active via COMPRESS`
//!   (rfc4978 3 says BAD for a repeated COMPRESS, NO with the same code
//!   for compression by another layer, which rustls never negotiates);
//! - a mechanism other than DEFLATE: `NO Unknown COMPRESS algorithm: <name>`;
//! - else `OK DEFLATE active`, and the host compresses everything after
//!   that line's CRLF, both ways (wit: `start-compress`).
//!
//! Anything the client pipelined after the command is dropped, as after
//! STARTTLS: rfc4978 3 forbids sending more before the result, and those
//! bytes would not be compressed.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let mechanism = String::from_utf8_lossy(req.args.word()).into_owned();
    req.args.finish()?;
    if session.facts.compress {
        req.reply(
            session,
            "BAD [COMPRESSIONACTIVE] DEFLATE active via COMPRESS",
        );
        return Ok(Action::None);
    }
    if !mechanism.eq_ignore_ascii_case("DEFLATE") {
        let shown: String = mechanism
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        req.reply(session, &format!("NO Unknown COMPRESS algorithm: {shown}"));
        return Ok(Action::None);
    }
    req.reply(session, "OK DEFLATE active");
    Ok(Action::StartCompress)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::Action;

    fn logged_in_session() -> crate::session::Session {
        let mut s = session();
        run(&mut s, "l LOGIN alice secret\r\n");
        s
    }

    #[test]
    fn starts_once_and_drops_pipelined_input() {
        let mut s = logged_in_session();
        assert_eq!(
            run(&mut s, "c COMPRESS DEFLATE\r\nx NOOP\r\n"),
            ("c OK DEFLATE active\r\n".into(), Action::StartCompress)
        );
        assert_eq!(
            run(&mut s, "c2 compress deflate\r\n").0,
            "c2 BAD [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n"
        );
        assert!(s.snapshot().contains("\"compress\":true"));
        let caps = run(&mut s, "k CAPABILITY\r\n").0;
        assert!(!caps.contains("COMPRESS=DEFLATE"), "{caps}");
    }

    #[test]
    fn errors() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "c COMPRESS DEFLATE\r\n").0,
            "c BAD Please login first\r\n"
        );
        let mut s = logged_in_session();
        let caps = run(&mut s, "k CAPABILITY\r\n").0;
        assert!(caps.contains(" COMPRESS=DEFLATE APPENDLIMIT="), "{caps}");
        assert_eq!(
            run(&mut s, "c COMPRESS\r\n").0,
            "c BAD Missing required argument to Compress\r\n"
        );
        assert_eq!(
            run(&mut s, "c COMPRESS LZW\r\n").0,
            "c NO Unknown COMPRESS algorithm: LZW\r\n"
        );
        assert_eq!(
            run(&mut s, "c COMPRESS DEFLATE x\r\n").0,
            "c BAD Unexpected extra arguments to Compress\r\n"
        );
    }

    #[test]
    fn an_old_snapshot_restores_without_compression() {
        let s = logged_in_session();
        let snap = s.snapshot().replace(",\"compress\":false", "");
        assert!(!snap.contains("compress"));
        let env = crate::session::Env {
            host: Box::new(FakeHost::default()),
            mail_root: None,
        };
        let mut s = crate::session::Session::restore(&snap, settings(), env).unwrap();
        assert_eq!(
            run(&mut s, "c COMPRESS DEFLATE\r\n").1,
            Action::StartCompress
        );
        let _ = &mut s;
    }
}
