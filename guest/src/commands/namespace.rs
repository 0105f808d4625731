//! NAMESPACE (rfc2342): the personal namespace, other users' (where
//! mailboxes shared with the user are, `access.rs`) and the shared
//! folders'. Prefixes and separator follow Cyrus's options: `(("" "/"))
//! (("Other Users/" "/")) (("Shared Folders/" "/"))` by default,
//! `(("INBOX." ".")) (("user." ".")) (("" "."))` with `altnamespace: no`
//! and `unixhierarchysep: no`.

use super::Request;
use crate::session::{Action, Session};
use crate::wire::parser::SyntaxError;

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.no_arguments()?;
    let wire = req.names;
    // rfc2342 6: the prefix a string, the delimiter a quoted character.
    let others = super::mailbox_arg::wire_name("user/", wire);
    let shared = super::mailbox_arg::wire_name("Shared Folders/", wire);
    let line = format!(
        "* NAMESPACE ((\"{}\" \"{sep}\")) (({} \"{sep}\")) (({} \"{sep}\"))\r\n",
        wire.personal_prefix(),
        quoted(&others),
        quoted(&shared),
        sep = wire.sep
    );
    session.write(line.as_bytes());
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

/// rfc2342 6: a namespace prefix is a string: quoted even when an atom.
fn quoted(name: &str) -> String {
    if name.starts_with('"') {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::settings::Settings;

    /// A session with Cyrus's `altnamespace` and `unixhierarchysep` set.
    fn with(alt: bool, unix: bool) -> (crate::session::Session, tempfile::TempDir) {
        let switch = |on: bool| if on { "1" } else { "0" }.to_string();
        let settings = Settings {
            options: vec![
                ("altnamespace".into(), switch(alt)),
                ("unixhierarchysep".into(), switch(unix)),
            ],
            ..settings()
        };
        with_store(settings)
    }

    fn out(s: &mut crate::session::Session, line: &str) -> String {
        created(run(s, line))
    }

    #[test]
    fn the_cyrus_2_namespace_puts_folders_under_inbox_with_dots() {
        let (mut s, dir) = with(false, false);
        assert_eq!(
            out(&mut s, "a NAMESPACE\r\n"),
            "* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))\r\na OK Completed\r\n"
        );
        assert_eq!(out(&mut s, "b CREATE INBOX.Sent\r\n"), "b OK Completed\r\n");
        assert_eq!(
            out(&mut s, "c CREATE inbox.Sent.2024\r\n"),
            "c OK Completed\r\n"
        );
        // The store is the one the default namespace has.
        assert!(dir.path().join(".Sent.2024/cur").is_dir());
        assert_eq!(
            out(&mut s, "d CREATE Elsewhere\r\n"),
            // Outside INBOX is where shared folders are, which only
            // administrators make.
            "d NO [NOPERM] Permission denied\r\n"
        );
        assert_eq!(
            out(&mut s, "e CREATE INBOX.a/b\r\n"),
            "e NO Invalid mailbox name: '/' is not allowed (the separator is '.')\r\n"
        );
        assert_eq!(
            out(&mut s, "f LIST \"\" *\r\n"),
            "* LIST (\\HasChildren) \".\" INBOX\r\n\
             * LIST (\\HasChildren) \".\" INBOX.Sent\r\n\
             * LIST (\\HasNoChildren) \".\" INBOX.Sent.2024\r\n\
             f OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "g LIST \"\" %\r\n"),
            "* LIST (\\HasChildren) \".\" INBOX\r\ng OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "h LIST INBOX. %\r\n"),
            "* LIST (\\HasChildren) \".\" INBOX.Sent\r\nh OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "i LIST \"\" \"\"\r\n"),
            "* LIST (\\Noselect) \".\" \"\"\r\ni OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "j STATUS INBOX.Sent.2024 (MESSAGES)\r\n"),
            "* STATUS INBOX.Sent.2024 (MESSAGES 0)\r\nj OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "k RENAME INBOX.Sent INBOX.Old\r\n"),
            "k OK Completed\r\n"
        );
        assert!(dir.path().join(".Old.2024/cur").is_dir());
        // A name made with `/` as the separator, holding a dot, shows `^`.
        std::fs::create_dir_all(dir.path().join(".v1%2E2/cur")).unwrap();
        assert_eq!(
            out(&mut s, "l LIST \"\" INBOX.v*\r\n"),
            "* LIST (\\HasNoChildren) \".\" INBOX.v1^2\r\nl OK Completed\r\n"
        );
        assert!(out(&mut s, "m SELECT INBOX.v1^2\r\n").contains("m OK [READ-WRITE]"));
        assert_eq!(
            out(&mut s, "n SUBSCRIBE INBOX.Old\r\n"),
            "n OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "o LSUB \"\" *\r\n"),
            "* LSUB () \".\" INBOX.Old\r\no OK Completed\r\n"
        );
    }

    #[test]
    fn each_option_alone() {
        let (mut s, _dir) = with(false, true);
        assert_eq!(
            out(&mut s, "a NAMESPACE\r\n"),
            "* NAMESPACE ((\"INBOX/\" \"/\")) ((\"user/\" \"/\")) ((\"\" \"/\"))\r\na OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "b CREATE INBOX/Sent/x\r\n"),
            "b OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "c LIST \"\" *\r\n"),
            "* LIST (\\HasChildren) \"/\" INBOX\r\n\
             * LIST (\\HasChildren) \"/\" INBOX/Sent\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX/Sent/x\r\n\
             c OK Completed\r\n"
        );
        let (mut s, _dir) = with(true, false);
        assert_eq!(
            out(&mut s, "a NAMESPACE\r\n"),
            "* NAMESPACE ((\"\" \".\")) ((\"Other Users.\" \".\")) ((\"Shared Folders.\" \".\"))\r\na OK Completed\r\n"
        );
        assert_eq!(out(&mut s, "b CREATE Sent.x\r\n"), "b OK Completed\r\n");
        assert_eq!(
            out(&mut s, "c LIST \"\" *\r\n"),
            "* LIST (\\HasNoChildren) \".\" INBOX\r\n\
             * LIST (\\HasChildren) \".\" Sent\r\n\
             * LIST (\\HasNoChildren) \".\" Sent.x\r\n\
             c OK Completed\r\n"
        );
        assert!(out(&mut s, "d APPEND Sent.x {3+}\r\nhi\n\r\n").contains("d OK [APPENDUID"));
        assert!(out(&mut s, "e SELECT Sent.x\r\n").contains("e OK"));
        assert!(out(&mut s, "f COPY 1 Sent\r\n").contains("f OK [COPYUID"));
    }
}
