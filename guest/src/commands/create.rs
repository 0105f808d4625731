//! CREATE (rfc3501 6.3.3). A trailing hierarchy separator only says the
//! client means to create inferiors under the name: it is dropped. Missing
//! superiors are created too. INBOX always exists.
//!
//! CREATE-SPECIAL-USE (rfc6154 3): `CREATE name (USE (\Sent))` creates the
//! mailbox with those special uses, or not at all. As in Cyrus 3.6, a use
//! another mailbox already has is refused (`NO [USEATTR] SPECIAL-USE flag
//! conflict`), and so is one this server does not know (`NO [USEATTR]
//! Invalid annotation entry`). Parameters other than USE are BAD (rfc4466
//! 2.2).

use super::Request;
use super::mailbox_arg::{mailbox_from_wire, reply_failure};
use crate::session::{Action, Session};
use crate::settings::Settings;
use crate::store::SpecialUse;
use crate::wire::parser::{Parser, SyntaxError};

/// One use-attr (rfc6154 6): `\` atom. `None` for one this server does
/// not support (the reply is then `NO [USEATTR]`, not BAD).
fn use_attr(p: &mut Parser) -> Result<Option<SpecialUse>, SyntaxError> {
    if !p.eat(b'\\') {
        return Err(SyntaxError::Invalid("Invalid special-use attribute"));
    }
    let atom = p.atom()?;
    Ok(SpecialUse::parse(&format!("\\{}", atom.as_str())))
}

/// rfc4466 2.2 `create-params = SP "(" create-param *(SP create-param) ")"`
/// with rfc6154 6 `create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"`.
/// The uses asked for; `None` in the list for an unsupported one.
fn create_params(p: &mut Parser) -> Result<Vec<Option<SpecialUse>>, SyntaxError> {
    let params = p.list(false, |p| {
        let name = p.atom()?;
        if !name.as_str().eq_ignore_ascii_case("USE") {
            return Err(SyntaxError::Invalid("Unknown CREATE parameter"));
        }
        p.sp()?;
        p.list(true, use_attr)
    })?;
    Ok(params.into_iter().flatten().collect())
}

pub fn handle(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let mut raw = req.args.astring()?;
    let uses = if req.args.peek() == Some(b' ') {
        req.args.sp()?;
        create_params(&mut req.args)?
    } else {
        Vec::new()
    };
    req.args.finish()?;
    // rfc3501 6.3.3: `CREATE owatagusiam/` creates `owatagusiam`.
    if raw.len() > 1 && raw.last() == Some(&b'/') {
        raw.pop();
    }
    let name = match mailbox_from_wire(&raw, req.names) {
        Ok(name) => name,
        Err(bad) => {
            req.reply(session, &bad.0);
            return Ok(Action::None);
        }
    };
    // rfc6154 3: a use the server cannot give makes the whole CREATE fail,
    // with USEATTR. The texts are Cyrus 3.6's (its IMAP_ANNOTATION_BADENTRY
    // and IMAP_MAILBOX_SPECIALUSE).
    let Some(uses) = uses.into_iter().collect::<Option<Vec<SpecialUse>>>() else {
        req.reply(session, "NO [USEATTR] Invalid annotation entry");
        return Ok(Action::None);
    };
    // An administrator's `cm user/bob` (admin.rs).
    if let Some(target) = super::admin::target(session, &name) {
        match super::admin::create(session, &target) {
            Ok(()) => {
                // A new shared folder is shared as `defaultacl` says.
                if target.user == super::admin::SHARED_OWNER {
                    crate::access::acls_moved(session, &target.user);
                }
                req.reply(session, "OK Completed")
            }
            Err(e) => reply_failure(session, req, &e),
        }
        return Ok(Action::None);
    }
    // rfc4314 4: CREATE needs `k` on the parent; other users' mailboxes
    // shared with this one take no new ones here.
    if crate::access::split_other(&name).is_some() {
        req.reply(session, crate::access::NO_PERMISSION);
        return Ok(Action::None);
    }
    let created = session.mail_store().and_then(|store| {
        let taken = store.special_uses()?;
        if taken.values().flatten().any(|u| uses.contains(u)) {
            return Ok(Err(()));
        }
        store.create_with_uses(&name, &uses)?;
        // rfc8474 4.1: the new mailbox's MAILBOXID in the tagged OK.
        Ok(Ok(store.examine(&name).and_then(|m| m.mailbox_id()).ok()))
    });
    match created {
        Ok(Ok(Some(id))) => req.reply(session, &format!("OK [MAILBOXID ({id})] Completed")),
        Ok(Ok(None)) => req.reply(session, "OK Completed"),
        Ok(Err(())) => req.reply(session, "NO [USEATTR] SPECIAL-USE flag conflict"),
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}

/// Cyrus's `xlist-<flag>: <folder>` options (imapd.conf(5) `xlist-flag`):
/// which folder of `autocreate_inbox_folders` gets which special use when
/// it is created with a new INBOX.
pub fn autocreate_uses(settings: &Settings) -> Vec<(String, SpecialUse)> {
    SpecialUse::EVERY
        .into_iter()
        .filter_map(|u| Some((settings.option(u.xlist_option())?.to_string(), u)))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::settings::Settings;

    fn list_all(s: &mut crate::session::Session) -> String {
        run(s, "l LIST \"\" *\r\n").0
    }

    #[test]
    fn rfc6154_5_3_create_with_uses() {
        let (mut s, _dir) = store_session();
        assert_eq!(
            created(run(
                &mut s,
                "t2 CREATE MySpecial (USE (\\Drafts \\Sent))\r\n"
            )),
            "t2 OK Completed\r\n"
        );
        // This server supports \All (as a label: no virtual mailbox).
        assert_eq!(
            created(run(&mut s, "t3 CREATE Everything (USE (\\All))\r\n")),
            "t3 OK Completed\r\n"
        );
        assert_eq!(
            list_all(&mut s),
            "* LIST (\\HasNoChildren \\All) \"/\" Everything\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren \\Drafts \\Sent) \"/\" MySpecial\r\n\
             l OK Completed\r\n"
        );
    }

    #[test]
    fn unknown_or_taken_uses_create_nothing() {
        let (mut s, _dir) = store_session();
        assert_eq!(
            run(&mut s, "a CREATE Important (USE (\\Important))\r\n").0,
            "a NO [USEATTR] Invalid annotation entry\r\n"
        );
        assert_eq!(
            run(&mut s, "a CREATE Sent (USE (\\Sent \\Bogus))\r\n").0,
            "a NO [USEATTR] Invalid annotation entry\r\n"
        );
        assert_eq!(
            created(run(&mut s, "a CREATE Sent (use (\\sent \\SENT))\r\n")),
            "a OK Completed\r\n"
        );
        assert_eq!(
            run(&mut s, "a CREATE Sent2 (USE (\\Sent))\r\n").0,
            "a NO [USEATTR] SPECIAL-USE flag conflict\r\n"
        );
        assert_eq!(
            list_all(&mut s),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n\
             l OK Completed\r\n"
        );
        // The mailbox existing is still ALREADYEXISTS, uses or not.
        assert_eq!(
            run(&mut s, "a CREATE Sent (USE ())\r\n").0,
            "a NO [ALREADYEXISTS] Mailbox already exists\r\n"
        );
        // Once the \Sent mailbox is gone, the use is free again.
        run(&mut s, "a DELETE Sent\r\n");
        assert_eq!(
            created(run(&mut s, "a CREATE Sent2/ (USE (\\Sent))\r\n")),
            "a OK Completed\r\n"
        );
        assert_eq!(
            list_all(&mut s),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent2\r\n\
             l OK Completed\r\n"
        );
    }

    #[test]
    fn create_parameter_syntax() {
        let (mut s, _dir) = store_session();
        for (command, reply) in [
            // rfc4466 2.2: unknown parameters are BAD.
            (
                "a CREATE x (FOO (\\Sent))",
                "a BAD Unknown CREATE parameter in Create",
            ),
            (
                "a CREATE x (USE (Sent))",
                "a BAD Invalid special-use attribute in Create",
            ),
            ("a CREATE x (USE)", "a BAD Missing space in Create"),
            ("a CREATE x (USE \\Sent)", "a BAD Invalid list in Create"),
            ("a CREATE x ()", "a BAD Empty list in Create"),
            ("a CREATE x (USE (\\Sent)", "a BAD Invalid list in Create"),
            (
                "a CREATE x (USE (\\Sent)) y",
                "a BAD Unexpected extra arguments to Create",
            ),
            ("a CREATE x ", "a BAD Missing required argument to Create"),
        ] {
            assert_eq!(
                run(&mut s, &format!("{command}\r\n")).0,
                format!("{reply}\r\n"),
                "{command}"
            );
        }
        assert_eq!(
            list_all(&mut s),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\nl OK Completed\r\n"
        );
    }

    #[test]
    fn xlist_options_give_autocreated_folders_their_uses() {
        let settings = Settings {
            autocreate_folders: vec!["Sent".into(), "Drafts".into(), "Spam".into()],
            options: vec![
                ("xlist-sent".into(), "Sent".into()),
                ("xlist-junk".into(), "Spam".into()),
                // Names no autocreated folder: nothing happens.
                ("xlist-trash".into(), "Trash".into()),
            ],
            ..settings()
        };
        let (mut s, _dir) = with_store(settings);
        assert_eq!(
            list_all(&mut s),
            "* LIST (\\HasNoChildren) \"/\" Drafts\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n\
             * LIST (\\HasNoChildren \\Junk) \"/\" Spam\r\n\
             l OK Completed\r\n"
        );
    }
}
