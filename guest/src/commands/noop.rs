//! NOOP (rfc3501 6.1.2). Any state. With a mailbox selected it reports
//! the mailbox's changes, expunges included (rfc3501 7.4.1).

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    session.report_updates(true);
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::Action;

    #[test]
    fn known_answers() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "n1 NOOP\r\n"),
            ("n1 OK Completed\r\n".into(), Action::None)
        );
        assert_eq!(run(&mut s, "n2 NOOP\n").0, "n2 OK Completed\r\n");
        assert_eq!(
            run(&mut s, "n3 NOOP \r\n").0,
            "n3 BAD Unexpected extra arguments to Noop\r\n"
        );
        assert_eq!(run(&mut s, "n4 NOOP {3}\r\n").0, "+ go ahead\r\n");
        assert_eq!(
            run(&mut s, "abc\r\n").0,
            "n4 BAD Unexpected extra arguments to Noop\r\n"
        );
    }
}
