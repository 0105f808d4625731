//! LOGOUT (rfc9051 6.1.3). Any state: `* BYE LOGOUT received`, then the
//! tagged OK (cyrus-compat 2.7), then the connection closes.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    session.write(b"* BYE LOGOUT received\r\n");
    req.reply(session, "OK Completed");
    Ok(Action::Close)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::Action;

    #[test]
    fn closes_and_ignores_the_rest() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "o LOGOUT\r\nn NOOP\r\n"),
            (
                "* BYE LOGOUT received\r\no OK Completed\r\n".into(),
                Action::Close
            )
        );
        assert_eq!(run(&mut s, "n NOOP\r\n"), (String::new(), Action::Close));
    }

    #[test]
    fn extra_arguments() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "o LOGOUT now\r\n"),
            (
                "o BAD Unexpected extra arguments to Logout\r\n".into(),
                Action::None
            )
        );
    }
}
