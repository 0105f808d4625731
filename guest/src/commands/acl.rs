//! ACL (rfc4314, with Cyrus's rights letters and `RIGHTS=kxten`):
//! SETACL, DELETEACL, GETACL, LISTRIGHTS and MYRIGHTS. Who holds which
//! right is `access.rs`; an ACL is kept in its mailbox's directory
//! (`store/acl.rs`). After a change the host is told (wit:
//! `acls-changed`): it reads the owner's ACLs again and shares with other
//! users' sessions what they now grant.

use std::path::PathBuf;

use super::Request;
use super::mailbox_arg::{BadName, astring, failure_text, parse_mailbox, wire_name};
use crate::access;
use crate::host::Level;
use crate::session::{Action, Session};
use crate::store::acl::{self, Acl, Rights};
use crate::store::{MailboxName, StoreError};
use crate::wire::parser::SyntaxError;

/// Where the ACL of an existing mailbox is (`None` for a mailbox another
/// user shares with this one: its ACL is at the owner's root, out of this
/// sandbox), and the mailbox's owner.
fn acl_place(
    session: &mut Session,
    name: &MailboxName,
) -> Result<(Option<PathBuf>, String), StoreError> {
    let missing = || StoreError::NoSuchMailbox(name.clone());
    let (dir, file, owner) = if let Some(t) = super::admin::target(session, name) {
        let root = session
            .env()
            .host
            .users_root()
            .ok_or_else(missing)?
            .join(super::admin::tree_dir(&t.user));
        let file = acl::file(&root, &t.local);
        (root.join(t.local.dir_name()), Some(file), t.user)
    } else if let Some(share) = access::share_of(session, name) {
        let dir = session
            .env()
            .host
            .shared_root()
            .join(&share.owner)
            .join(&share.dir);
        (dir, None, share.owner)
    } else if access::split_other(name).is_some() {
        return Err(missing());
    } else {
        let user = session.user().unwrap_or_default().to_string();
        let store = session.mail_store()?;
        (store.dir(name), store.acl_file(name), user)
    };
    if !dir.join("cur").is_dir() {
        return Err(missing());
    }
    Ok((file, owner))
}

/// The ACL file of a mailbox whose ACL this session reads or changes, or
/// the NO sent: a share's ACL is its owner's to change (or an
/// administrator's).
fn acl_file(session: &mut Session, req: &Request, name: &MailboxName) -> Option<(PathBuf, String)> {
    match acl_place(session, name) {
        Ok((Some(file), owner)) => Some((file, owner)),
        Ok((None, _)) => {
            req.reply(
                session,
                "NO [CANNOT] The ACL of a shared mailbox is changed by its owner",
            );
            None
        }
        Err(e) => {
            let _ = fail(session, req, &e);
            None
        }
    }
}

/// The NO for a failure, and nothing else to do.
fn fail(session: &mut Session, req: &Request, e: &StoreError) -> Result<Action, SyntaxError> {
    let text = failure_text(session, e);
    req.reply(session, &text);
    Ok(Action::None)
}

/// Reads ` mailbox` and, `with_identifier`, ` identifier`.
type Args = (Result<MailboxName, BadName>, String);

fn arguments(req: &mut Request, with_identifier: bool) -> Result<Args, SyntaxError> {
    req.args.sp()?;
    let name = parse_mailbox(req)?;
    let mut identifier = String::new();
    if with_identifier {
        req.args.sp()?;
        identifier = String::from_utf8_lossy(&req.args.astring()?).into_owned();
    }
    Ok((name, identifier))
}

/// The mailbox, or its NO sent.
fn named(
    session: &mut Session,
    req: &Request,
    name: Result<MailboxName, BadName>,
) -> Option<MailboxName> {
    match name {
        Ok(name) => Some(name),
        Err(bad) => {
            req.reply(session, &bad.0);
            None
        }
    }
}

/// GETACL's and LISTRIGHTS's arguments, for a mailbox the session may
/// administer (`a`); `None` once the refusal is sent.
fn administered(
    session: &mut Session,
    req: &mut Request,
    with_identifier: bool,
) -> Result<Option<(MailboxName, String)>, SyntaxError> {
    let (name, identifier) = arguments(req, with_identifier)?;
    req.args.finish()?;
    let Some(name) = named(session, req, name) else {
        return Ok(None);
    };
    Ok(allowed(session, req, &name, Rights::ADMIN).map(|_| (name, identifier)))
}

/// The rights check: `needed` on `name`, else Cyrus's NO.
fn allowed(
    session: &mut Session,
    req: &Request,
    name: &MailboxName,
    needed: Rights,
) -> Option<Rights> {
    match access::rights(session, name) {
        Ok(rights) => match access::refusal(rights, needed) {
            None => Some(rights),
            Some(no) => {
                req.reply(session, no);
                None
            }
        },
        Err(e) => {
            let _ = fail(session, req, &e);
            None
        }
    }
}

/// SETACL mailbox identifier mod-rights (rfc4314 3.1).
pub fn setacl(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let (name, identifier) = arguments(req, true)?;
    req.args.sp()?;
    let mod_rights = String::from_utf8_lossy(&req.args.astring()?).into_owned();
    req.args.finish()?;
    let Some(name) = named(session, req, name) else {
        return Ok(Action::None);
    };
    change(session, req, &name, identifier, Some(mod_rights))
}

/// DELETEACL mailbox identifier (rfc4314 3.2).
pub fn deleteacl(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let (name, identifier) = arguments(req, true)?;
    req.args.finish()?;
    let Some(name) = named(session, req, name) else {
        return Ok(Action::None);
    };
    change(session, req, &name, identifier, None)
}

/// SETACL (`Some(mod_rights)`) or DELETEACL (`None`).
fn change(
    session: &mut Session,
    req: &mut Request,
    name: &MailboxName,
    identifier: String,
    mod_rights: Option<String>,
) -> Result<Action, SyntaxError> {
    let (negative, id) = match identifier.strip_prefix('-') {
        Some(rest) => (true, access::canonical_identifier(session, rest)),
        None => (false, access::canonical_identifier(session, &identifier)),
    };
    if !acl::valid_identifier(&id) {
        req.reply(session, "NO Invalid identifier");
        return Ok(Action::None);
    }
    // rfc4314 3.1: `+` adds, `-` removes, neither replaces.
    let (op, letters) = match mod_rights.as_deref() {
        Some(m) => match m.strip_prefix('+') {
            Some(rest) => ('+', rest),
            None => match m.strip_prefix('-') {
                Some(rest) => ('-', rest),
                None => ('=', m),
            },
        },
        None => ('=', ""),
    };
    let given = match Rights::parse(letters) {
        Ok(r) => r,
        Err(c) => {
            req.reply(session, &format!("BAD Invalid right {:?}", c.to_string()));
            return Ok(Action::None);
        }
    };
    if allowed(session, req, name, Rights::ADMIN).is_none() {
        return Ok(Action::None);
    }
    let Some((file, owner)) = acl_file(session, req, name) else {
        return Ok(Action::None);
    };
    // A global administrator's target in another domain: its ACL names
    // that domain's users without the domain, as the owner is named.
    let in_domain = owner
        .rsplit_once('@')
        .filter(|_| super::admin::virtual_domains(session));
    let (acl_owner, id) = match in_domain {
        Some((local, domain)) => (
            local.to_string(),
            id.strip_suffix(&format!("@{domain}"))
                .filter(|l| !l.is_empty())
                .map_or(id.clone(), str::to_string),
        ),
        None => (owner.clone(), id),
    };
    let mut acl = match acl::read(&file, &acl_owner) {
        Ok(a) => a,
        Err(e) => return fail(session, req, &e.into()),
    };
    let current = acl.get(&id, negative).unwrap_or_default();
    let new = match op {
        '+' => current.union(given),
        '-' => current.minus(given),
        _ => given,
    };
    if mod_rights.is_none() {
        acl.remove(&id, negative);
    } else if acl.set(&id, negative, new).is_err() {
        req.reply(session, "NO [LIMIT] Too many ACL entries");
        return Ok(Action::None);
    }
    // The owner's INBOX is the directory that holds all their mailboxes:
    // the host cannot give another session that one alone.
    let local_inbox = access::split_other(name).map_or(name.is_inbox(), |(_, l)| l.is_inbox());
    let visible = Rights::LOOKUP.union(Rights::READ).union(Rights::WRITING);
    if local_inbox
        && acl
            .entries()
            .iter()
            .any(|e| shares_inbox(e, &acl_owner, visible))
    {
        req.reply(
            session,
            "NO [CANNOT] INBOX cannot be shared with other users; share a folder instead",
        );
        return Ok(Action::None);
    }
    if let Err(e) = acl::write(&file, &acl) {
        return fail(session, req, &e.into());
    }
    if let Err(why) = session.env().host.acls_changed(&owner) {
        session
            .env()
            .host
            .log(Level::Error, &format!("sharing {owner}'s mailboxes: {why}"));
        req.reply(
            session,
            "NO [SERVERBUG] The ACL is kept but could not be shared",
        );
        return Ok(Action::None);
    }
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

/// An entry that would let someone other than `owner` see into INBOX.
fn shares_inbox(e: &acl::Entry, owner: &str, visible: Rights) -> bool {
    !e.negative && e.identifier != owner && e.rights.intersects(visible)
}

/// GETACL mailbox (rfc4314 3.3).
pub fn getacl(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let Some((name, _)) = administered(session, req, false)? else {
        return Ok(Action::None);
    };
    let Some((file, owner)) = acl_file(session, req, &name) else {
        return Ok(Action::None);
    };
    let acl: Acl = match acl::read(&file, &owner) {
        Ok(a) => a,
        Err(e) => return fail(session, req, &e.into()),
    };
    let mut line = format!("* ACL {}", wire_name(name.as_str(), session.wire()));
    for e in acl.entries() {
        line += &format!(
            " {} {}",
            astring(&e.shown()),
            astring(&e.rights.to_string())
        );
    }
    line += "\r\n";
    session.write(line.as_bytes());
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

/// LISTRIGHTS mailbox identifier (rfc4314 3.4): what the identifier
/// always has (the owner's implicit rights; nothing for others), then
/// every other right on its own (each can be granted alone).
pub fn listrights(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let Some((name, identifier)) = administered(session, req, true)? else {
        return Ok(Action::None);
    };
    let identifier = access::canonical_identifier(session, &identifier);
    let owner = match acl_place(session, &name) {
        Ok((_, owner)) => owner,
        Err(e) => return fail(session, req, &e),
    };
    let required = if identifier == owner {
        access::implicit_owner_rights(session)
    } else {
        Rights::NONE
    };
    let mut line = format!(
        "* LISTRIGHTS {} {} {}",
        wire_name(name.as_str(), session.wire()),
        astring(&identifier),
        astring(&required.to_string())
    );
    for c in "lrswipkxtean".chars() {
        let right = Rights::parse(&c.to_string()).unwrap_or_default();
        if !required.contains(right) {
            line.push(' ');
            line.push(c);
        }
    }
    // rfc4314 2.1.1: the virtual rights, when a member can be granted.
    for (virt, members) in [('c', "kx"), ('d', "te")] {
        if !required.contains(Rights::parse(members).unwrap_or_default()) {
            line.push(' ');
            line.push(virt);
        }
    }
    line += "\r\n";
    session.write(line.as_bytes());
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

/// MYRIGHTS mailbox (rfc4314 3.5): any right lets the user ask.
pub fn myrights(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let (name, _) = arguments(req, false)?;
    req.args.finish()?;
    let Some(name) = named(session, req, name) else {
        return Ok(Action::None);
    };
    let rights = match access::rights(session, &name) {
        Ok(r) => r,
        Err(e) => return fail(session, req, &e),
    };
    if let Err(e) = acl_place(session, &name) {
        return fail(session, req, &e);
    }
    if rights.is_empty() {
        req.reply(session, "NO [NONEXISTENT] Mailbox does not exist");
        return Ok(Action::None);
    }
    let line = format!(
        "* MYRIGHTS {} {}\r\n",
        wire_name(name.as_str(), session.wire()),
        astring(&rights.to_string())
    );
    session.write(line.as_bytes());
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::host::Share;
    use crate::store::acl::Rights;
    use crate::store::{AppendMessage, MailStore, MailboxName, NoLocking};

    fn out(s: &mut crate::session::Session, line: &str) -> String {
        created(run(s, &format!("{line}\r\n")))
    }

    #[test]
    fn the_owner_sets_lists_and_removes_entries() {
        let host = FakeHost::default();
        let dir = tempfile::tempdir().unwrap();
        let mut s = session_on(&dir, &host);
        out(&mut s, "c CREATE Team");
        assert_eq!(out(&mut s, "a SETACL Team bob lrs"), "a OK Completed\r\n");
        assert_eq!(out(&mut s, "b SETACL Team bob +wd"), "b OK Completed\r\n");
        assert_eq!(out(&mut s, "c SETACL Team -eve r"), "c OK Completed\r\n");
        assert_eq!(
            out(&mut s, "d GETACL Team"),
            "* ACL Team alice lrswipkxtecdan bob lrswted -eve r\r\nd OK Completed\r\n"
        );
        assert_eq!(out(&mut s, "e SETACL Team bob -w"), "e OK Completed\r\n");
        assert_eq!(out(&mut s, "f DELETEACL Team -eve"), "f OK Completed\r\n");
        assert_eq!(
            out(&mut s, "g GETACL Team"),
            "* ACL Team alice lrswipkxtecdan bob lrsted\r\ng OK Completed\r\n"
        );
        // Every change was told to the host, for alice's tree.
        assert_eq!(host.acls_changed.borrow().len(), 5);
        assert!(host.acls_changed.borrow().iter().all(|o| o == "alice"));
        // rfc4314 4: a new mailbox takes its parent's ACL.
        out(&mut s, "h CREATE Team/Sub");
        assert_eq!(
            out(&mut s, "i GETACL Team/Sub"),
            "* ACL Team/Sub alice lrswipkxtecdan bob lrsted\r\ni OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "j GETACL Nope"),
            "j NO [NONEXISTENT] Mailbox does not exist\r\n"
        );
        assert_eq!(
            out(&mut s, "k SETACL Team bob lrz"),
            "k BAD Invalid right \"z\"\r\n"
        );
        assert_eq!(
            out(&mut s, "l SETACL Team \"b b\" lr"),
            "l NO Invalid identifier\r\n"
        );
    }

    #[test]
    fn acls_follow_rename_go_with_delete_and_stay_out_of_the_mailbox() {
        let host = FakeHost::default();
        let dir = tempfile::tempdir().unwrap();
        let mut s = session_on(&dir, &host);
        out(&mut s, "a CREATE Team/Sub");
        out(&mut s, "b SETACL Team bob lr");
        out(&mut s, "c SETACL Team/Sub carol lr");
        // Not in the mailbox's directory, which a grantee may write.
        assert!(!dir.path().join(".Team/imapd.acl").exists());
        assert!(dir.path().join("imapd.acl.d/.Team").is_file());
        assert_eq!(out(&mut s, "d RENAME Team Crew"), "d OK Completed\r\n");
        assert_eq!(
            out(&mut s, "e GETACL Crew/Sub"),
            "* ACL Crew/Sub alice lrswipkxtecdan carol lr\r\ne OK Completed\r\n"
        );
        assert_eq!(host.acls_changed.borrow().len(), 3);
        out(&mut s, "f DELETE Crew/Sub");
        out(&mut s, "g CREATE Crew/Sub");
        // Made anew below Crew: Crew's ACL, not the deleted one's.
        assert_eq!(
            out(&mut s, "h GETACL Crew/Sub"),
            "* ACL Crew/Sub alice lrswipkxtecdan bob lr\r\nh OK Completed\r\n"
        );
    }

    #[test]
    fn an_owner_without_rights_keeps_only_the_implicit_ones() {
        let (mut s, _dir) = store_session();
        out(&mut s, "c CREATE Team");
        assert_eq!(out(&mut s, "a SETACL Team alice lr"), "a OK Completed\r\n");
        // implicit_owner_rights (lkxan) stay.
        assert_eq!(
            out(&mut s, "b MYRIGHTS Team"),
            "* MYRIGHTS Team lrkxcan\r\nb OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "c APPEND Team {3+}\r\nx\r\n"),
            "c NO [NOPERM] Permission denied\r\n"
        );
        assert!(out(&mut s, "d SELECT Team").ends_with("d OK [READ-ONLY] Completed\r\n"));
        assert_eq!(
            out(&mut s, "e LISTRIGHTS Team alice"),
            "* LISTRIGHTS Team alice lkxcan r s w i p t e d\r\ne OK Completed\r\n"
        );
    }

    /// alice's session, with bob's Team (one message) shared as `rights`.
    fn shared_with_alice(rights: &str) -> (crate::session::Session, [tempfile::TempDir; 2]) {
        let root = tempfile::tempdir().unwrap();
        let bob = root.path().join("bob");
        std::fs::create_dir(&bob).unwrap();
        let store = MailStore::open(&bob, std::rc::Rc::new(NoLocking), &[]).unwrap();
        let team = MailboxName::new("Team").unwrap();
        store.create(&team).unwrap();
        let m = AppendMessage {
            data: b"Subject: hi\r\n\r\nhello\r\n".to_vec(),
            flags: Default::default(),
            keywords: Vec::new(),
            internal_date: None,
        };
        store.append(&team, vec![m]).unwrap();
        let host = FakeHost {
            shares: vec![Share {
                owner: "bob".into(),
                dir: ".Team".into(),
                rights: Rights::parse(rights).unwrap(),
            }],
            shared_root: Some(root.path().to_path_buf()),
            ..FakeHost::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let s = session_on(&dir, &host);
        (s, [root, dir])
    }

    #[test]
    fn shared_folders_are_at_the_top_without_the_alternate_namespace() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join(".shared");
        std::fs::create_dir(&tree).unwrap();
        let store = MailStore::open(&tree, std::rc::Rc::new(NoLocking), &[]).unwrap();
        store.create(&MailboxName::new("News").unwrap()).unwrap();
        let host = FakeHost {
            shares: vec![Share {
                owner: ".shared".into(),
                dir: ".News".into(),
                rights: Rights::parse("lrs").unwrap(),
            }],
            shared_root: Some(root.path().to_path_buf()),
            ..FakeHost::default()
        };
        for (alt, shown) in [("1", "\"Shared Folders/News\""), ("0", "News")] {
            let settings = crate::settings::Settings {
                options: vec![("altnamespace".into(), alt.into())],
                ..settings()
            };
            let dir = tempfile::tempdir().unwrap();
            let env = crate::session::Env {
                host: Box::new(host.clone()),
                mail_root: Some(dir.path().to_path_buf()),
            };
            let mut s = crate::session::Session::new(settings, env);
            s.greet();
            run(&mut s, "l LOGIN alice secret\r\n");
            let list = out(&mut s, "a LIST \"\" *");
            assert!(
                list.contains(&format!("* LIST (\\HasNoChildren) \"/\" {shown}\r\n")),
                "{list}"
            );
            assert!(!list.contains("\"\"\r\n"), "{list}");
            let sel = out(&mut s, &format!("b EXAMINE {shown}"));
            assert!(sel.ends_with("b OK [READ-ONLY] Completed\r\n"), "{sel}");
            assert_eq!(
                out(&mut s, &format!("c MYRIGHTS {shown}")),
                format!("* MYRIGHTS {shown} lrs\r\nc OK Completed\r\n")
            );
        }
    }

    #[test]
    fn a_read_only_share_is_listed_read_and_left_alone() {
        let (mut s, _dirs) = shared_with_alice("lr");
        assert_eq!(
            out(&mut s, "a LIST \"\" \"Other Users/*\""),
            "* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users/bob\"\r\n\
             * LIST (\\HasNoChildren) \"/\" \"Other Users/bob/Team\"\r\na OK Completed\r\n"
        );
        let sel = out(&mut s, "b SELECT \"Other Users/bob/Team\"");
        assert!(sel.contains("* 1 EXISTS"), "{sel}");
        assert!(sel.ends_with("b OK [READ-ONLY] Completed\r\n"), "{sel}");
        assert!(out(&mut s, "c FETCH 1 BODY[TEXT]").contains("hello"));
        assert_eq!(
            out(&mut s, "d STORE 1 +FLAGS (\\Seen)"),
            "d NO Permission denied\r\n"
        );
        assert!(out(&mut s, "e COPY 1 INBOX").starts_with("e OK [COPYUID"));
    }

    #[test]
    fn a_writable_share_keeps_only_the_flags_its_rights_allow() {
        let (mut s, _dirs) = shared_with_alice("lrsi");
        let sel = out(&mut s, "a SELECT \"Other Users/bob/Team\"");
        assert!(sel.ends_with("a OK [READ-WRITE] Completed\r\n"), "{sel}");
        // \Seen with `s`; \Flagged needs `w`, \Deleted `t`: dropped, OK.
        let r = out(&mut s, "b STORE 1 +FLAGS (\\Seen \\Flagged)");
        assert!(r.contains("\\Seen))") && !r.contains("Flagged"), "{r}");
        assert!(r.ends_with("b OK Completed\r\n"), "{r}");
        assert_eq!(
            out(&mut s, "c STORE 1 +FLAGS (\\Deleted)"),
            "c NO [NOPERM] Permission denied\r\n"
        );
        assert_eq!(
            out(&mut s, "d EXPUNGE"),
            "d NO [NOPERM] Permission denied\r\n"
        );
        // APPEND with `i`: the \Flagged of the new message is dropped.
        let r = out(
            &mut s,
            "e APPEND \"Other Users/bob/Team\" (\\Flagged \\Seen) {3+}\r\nx\r\n",
        );
        assert!(r.contains("e OK [APPENDUID"), "{r}");
        let r = out(&mut s, "f FETCH 2 FLAGS");
        assert!(r.contains("\\Seen)") && !r.contains("Flagged"), "{r}");
        assert_eq!(
            out(&mut s, "g MYRIGHTS \"Other Users/bob/Team\""),
            "* MYRIGHTS \"Other Users/bob/Team\" lrsi\r\ng OK Completed\r\n"
        );
        assert_eq!(
            out(&mut s, "h GETACL \"Other Users/bob/Team\""),
            "h NO [NOPERM] Permission denied\r\n"
        );
    }
}
