//! ID (rfc2971). Any state.
//!
//! `ID SP ("(" string SP nstring *(SP string SP nstring) ")" / nil)`;
//! rfc2971 3.3 limits: field names 30 octets, values 1024, 30 pairs
//! (Cyrus enforces them with the replies below).
//!
//! The answer follows cyrus-compat 2.8: after login, or with
//! `serverinfo: on`, name and version; with `serverinfo: min` before
//! login, the name only; with `serverinfo: off` before login, `* ID NIL`.
//! (Cyrus adds vendor, support-url, os and environment: a sandboxed guest
//! knows none of them, and they are optional.)

use super::Request;
use crate::session::{Action, Session, State};
use crate::settings::ServerInfo;
use crate::wire::parser::SyntaxError;
use crate::wire::push_string;

const MAX_FIELD: usize = 30;
const MAX_VALUE: usize = 1024;
const MAX_PAIRS: usize = 30;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let params = match parse_params(req) {
        Ok(params) => params,
        Err(text) => {
            req.reply(session, &format!("BAD {text}"));
            return Ok(Action::None);
        }
    };
    req.no_arguments()?;
    session.facts.client_id = params;

    let settings = session.settings();
    let authenticated = session.state() != State::NotAuthenticated;
    let mut out = b"* ID ".to_vec();
    let fields: Vec<(&str, &str)> = match (authenticated, settings.server_info) {
        (true, _) | (false, ServerInfo::On) => vec![
            ("name", settings.product.as_str()),
            ("version", settings.version.as_str()),
        ],
        (false, ServerInfo::Min) => vec![("name", settings.product.as_str())],
        (false, ServerInfo::Off) => Vec::new(),
    };
    if fields.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            push_string(&mut out, k.as_bytes());
            out.push(b' ');
            push_string(&mut out, v.as_bytes());
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
    session.write(&out);
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

type Params = Option<Vec<(String, Option<String>)>>;

/// The client's list, or the text of Cyrus's BAD reply.
fn parse_params(req: &mut Request) -> Result<Params, String> {
    let args = &mut req.args;
    if args.nil() {
        return Ok(None);
    }
    if !args.eat(b'(') {
        return Err("Invalid parameter list in Id".into());
    }
    let mut pairs = Vec::new();
    loop {
        let field = args
            .string()
            .map_err(|_| "Invalid/missing field name in Id".to_string())?;
        if !args.eat(b' ') {
            return Err("Invalid/missing field name in Id".into());
        }
        let value = args
            .nstring()
            .map_err(|_| "Invalid/missing value in Id".to_string())?;
        if field.len() > MAX_FIELD {
            return Err(format!("field longer than {MAX_FIELD} octets in Id"));
        }
        if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE) {
            return Err(format!("value longer than {MAX_VALUE} octets in Id"));
        }
        if pairs.len() == MAX_PAIRS {
            return Err(format!("too many ({MAX_PAIRS}) field-value pairs in ID"));
        }
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        pairs.push((text(field), value.map(text)));
        if args.eat(b')') {
            return Ok(Some(pairs));
        }
        if !args.eat(b' ') {
            return Err("Invalid/missing value in Id".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::settings::ServerInfo;

    const FULL: &str = "* ID (\"name\" \"imapd\" \"version\" \"0.1.0\")\r\n";

    #[test]
    fn client_list_and_nil() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "i ID (\"name\" \"sodr\" \"version\" NIL)\r\n").0,
            format!("{FULL}i OK Completed\r\n")
        );
        assert!(
            s.snapshot()
                .contains("[\"name\",\"sodr\"],[\"version\",null]")
        );
        assert_eq!(
            run(&mut s, "i ID nil\r\n").0,
            format!("{FULL}i OK Completed\r\n")
        );
        assert_eq!(run(&mut s, "i ID (\"x\" {2}\r\n").0, "+ go ahead\r\n");
        assert_eq!(
            run(&mut s, "ab)\r\n").0,
            format!("{FULL}i OK Completed\r\n")
        );
    }

    #[test]
    fn serverinfo() {
        let mut st = settings();
        st.server_info = ServerInfo::Min;
        let (mut s, _) = session_with(st.clone());
        assert_eq!(
            run(&mut s, "i ID NIL\r\n").0,
            "* ID (\"name\" \"imapd\")\r\ni OK Completed\r\n"
        );
        st.server_info = ServerInfo::Off;
        let (mut s, _) = session_with(st);
        assert_eq!(
            run(&mut s, "i ID NIL\r\n").0,
            "* ID NIL\r\ni OK Completed\r\n"
        );
        run(&mut s, "l LOGIN alice secret\r\n");
        assert_eq!(
            run(&mut s, "i ID NIL\r\n").0,
            format!("{FULL}i OK Completed\r\n")
        );
    }

    #[test]
    fn errors() {
        let mut s = session();
        let cases = [
            ("i ID\r\n", "i BAD Missing required argument to Id\r\n"),
            ("i ID x\r\n", "i BAD Invalid parameter list in Id\r\n"),
            ("i ID ()\r\n", "i BAD Invalid/missing field name in Id\r\n"),
            (
                "i ID (name \"x\")\r\n",
                "i BAD Invalid/missing field name in Id\r\n",
            ),
            (
                "i ID (\"name\")\r\n",
                "i BAD Invalid/missing field name in Id\r\n",
            ),
            (
                "i ID (\"name\" x)\r\n",
                "i BAD Invalid/missing value in Id\r\n",
            ),
            (
                "i ID (\"name\" \"x\"\r\n",
                "i BAD Invalid/missing value in Id\r\n",
            ),
            (
                "i ID (\"name\" \"x\") y\r\n",
                "i BAD Unexpected extra arguments to Id\r\n",
            ),
            (
                "i ID (\"0123456789012345678901234567890\" NIL)\r\n",
                "i BAD field longer than 30 octets in Id\r\n",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(run(&mut s, input).0, want, "{input:?}");
        }
        let many: String = (0..31)
            .map(|i| format!("\"f{i}\" NIL"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            run(&mut s, &format!("i ID ({many})\r\n")).0,
            "i BAD too many (30) field-value pairs in ID\r\n"
        );
        let long = "v".repeat(1025);
        assert_eq!(
            run(&mut s, &format!("i ID (\"f\" \"{long}\")\r\n")).0,
            "i BAD value longer than 1024 octets in Id\r\n"
        );
    }
}
