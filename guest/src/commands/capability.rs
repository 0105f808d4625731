//! CAPABILITY (rfc9051 6.1.1). Any state.
//!
//! Cyrus lists pre- and post-auth items even before login
//! (cyrus-compat 2.8).

use super::Request;
use crate::capability::{Listing, capability_string};
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    let caps = capability_string(session.settings(), session.security(), Listing::Full);
    session.write(format!("* CAPABILITY {caps}\r\n").as_bytes());
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;

    #[test]
    fn before_and_after_login() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "c1 CAPABILITY\r\n").0,
            "* CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN AUTH=PLAIN AUTH=LOGIN SASL-IR COMPRESS=DEFLATE APPENDLIMIT=4294967295\r\nc1 OK Completed\r\n"
        );
        let mut s = logged_in();
        assert_eq!(
            run(&mut s, "c2 capability\r\n").0,
            "* CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN COMPRESS=DEFLATE APPENDLIMIT=4294967295\r\nc2 OK Completed\r\n"
        );
    }

    #[test]
    fn extra_arguments() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "c CAPABILITY now\r\n").0,
            "c BAD Unexpected extra arguments to Capability\r\n"
        );
    }
}
