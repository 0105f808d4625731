//! What Cyrus's administrators (imapd.conf `admins`) do to other users'
//! mailboxes over IMAP, as cyradm does it: `cm user/bob` (CREATE makes a
//! new user's INBOX), `cm user/bob/Team`, `dm user/bob` (DELETE removes the
//! user and all their mail), `dm user/bob/Team`, `renm user/bob/A
//! user/bob/B`, `lm` (LIST shows every user's mailboxes as
//! `user/<name>/...`), STATUS of them, and `sq`/`lq` (quota.rs).
//!
//! The host preopens the partition at `/users` for an administrator's
//! session only (wit: the guest sees it through [`HostApi::users_root`]),
//! and takes the locks of another user's mailboxes only for an
//! administrator. Other commands (SELECT, APPEND, ...) do not reach other
//! users' mailboxes: an administrator reads mail as the user would.
//!
//! With virtual domains (`virtdomains`), a domain's administrator (a
//! session with option `virtdomain`) administers that domain, whose
//! partition the host gives it: `user/bob` and `user/bob@<domain>` are its
//! bob. A global administrator (no `virtdomain`) also reaches every
//! domain: `user/bob@example.com` is `domain/example.com/bob` under
//! `/users`.
//!
//! [`HostApi::users_root`]: crate::host::HostApi::users_root

use std::fs;
use std::path::PathBuf;

use crate::session::Session;
use crate::store::{ListEntry, MailStore, MailboxName, StoreError};

/// How an administrator names another user's mailboxes.
pub const USER_PREFIX: &str = "user/";

/// Where shared folders (Cyrus's mailboxes of no user) are named, in the
/// store and, with the alternate namespace, on the wire (rfc2342 5).
pub const SHARED_FOLDERS: &str = "Shared Folders";

/// The tree of the shared folders in the partition: a name no user can
/// have (user names never start with `.`).
pub const SHARED_OWNER: &str = ".shared";

/// `Shared Folders/<mailbox>` → the mailbox in the shared folders' tree.
/// `Shared Folders` itself is no mailbox (that tree's INBOX is never one).
pub fn shared_folder(name: &MailboxName) -> Option<MailboxName> {
    let local = name
        .as_str()
        .strip_prefix(SHARED_FOLDERS)?
        .strip_prefix('/')?;
    MailboxName::new(local).ok().filter(|l| !l.is_inbox())
}

/// Another user's mailbox as an administrator names it.
pub struct Target {
    pub user: String,
    /// The mailbox in that user's tree (INBOX for `user/<name>`).
    pub local: MailboxName,
}

/// `user/<name>[/<mailbox>]` in an administrator's session, or a shared
/// folder, `Shared Folders/<mailbox>` (the tree of no user,
/// [`SHARED_OWNER`] in the partition). The admin's own name there means
/// the admin's own tree, which other commands reach.
pub fn target(session: &Session, name: &MailboxName) -> Option<Target> {
    let (user, local) = crate::access::split_other(name)?;
    let user = domain_user(session, user)?;
    // The shared folders' tree has no INBOX to name, and no other dot
    // name is a tree.
    let shared = user == SHARED_OWNER;
    if (shared && local.is_inbox()) || (!shared && user.starts_with('.')) {
        return None;
    }
    session.env().host.users_root()?;
    Some(Target { user, local })
}

/// The directory under the partition where the tree of `user` (as
/// [`target`] gives it) is: `<user>`, or for a global administrator's
/// `bob@example.com`, `domain/example.com/bob`.
pub fn tree_dir(user: &str) -> PathBuf {
    match user.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => [DOMAIN_DIR, domain, local].iter().collect(),
        _ => PathBuf::from(user),
    }
}

/// The partition's directory of the virtual domains.
const DOMAIN_DIR: &str = "domain";

/// With virtual domains, `user` as an administrator may name it: a
/// domain's administrator names its users with or without the domain
/// (never another domain's); a global one names other domains' users as
/// `bob@example.com`. `None`: not a user this session administers.
fn domain_user(session: &Session, user: String) -> Option<String> {
    if !virtual_domains(session) {
        return Some(user);
    }
    let Some((local, domain)) = user.rsplit_once('@') else {
        // A global administrator's partition holds the domains' trees in
        // `domain/`: no user of its own has that name.
        return (!(global_admin(session) && user == DOMAIN_DIR)).then_some(user);
    };
    match session.settings().option("virtdomain") {
        Some(own) if own.eq_ignore_ascii_case(domain) => Some(local.to_string()),
        Some(_) => None,
        None => {
            let domain = domain.to_ascii_lowercase();
            let valid = !domain.is_empty()
                && domain.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                });
            (valid && !local.is_empty() && !local.starts_with('.'))
                .then(|| format!("{local}@{domain}"))
        }
    }
}

/// An administrator of the default domain with virtual domains on: one
/// who reaches every domain.
fn global_admin(session: &Session) -> bool {
    virtual_domains(session) && session.settings().option("virtdomain").is_none()
}

/// Whether `virtdomains` is on (`userid` or `on`).
pub fn virtual_domains(session: &Session) -> bool {
    session
        .settings()
        .option("virtdomains")
        .is_some_and(|v| v != "off")
}

/// A user's name within their domain (the owner their ACL files name).
pub fn local_name(user: &str) -> &str {
    user.rsplit_once('@').map_or(user, |(local, _)| local)
}

fn root_of(session: &Session, user: &str) -> Result<PathBuf, StoreError> {
    session
        .env()
        .host
        .users_root()
        .map(|r| r.join(tree_dir(user)))
        .ok_or_else(|| StoreError::Io(std::io::Error::other("no partition in this instance")))
}

fn user_name(user: &str) -> MailboxName {
    if user == SHARED_OWNER {
        return MailboxName::new(SHARED_FOLDERS).unwrap_or_else(|_| MailboxName::inbox());
    }
    MailboxName::new(&format!("{USER_PREFIX}{user}")).unwrap_or_else(|_| MailboxName::inbox())
}

/// The tree of `user`, which must exist (its INBOX).
pub fn tree(session: &Session, user: &str) -> Result<MailStore, StoreError> {
    let root = root_of(session, user)?;
    if !root.join("cur").is_dir() {
        return Err(StoreError::NoSuchMailbox(user_name(user)));
    }
    MailStore::open(root, session.env().host.user_locker(user), &[])
}

/// The store a mailbox is in: the session's own tree, or (for an
/// administrator's `user/<name>/...`) another user's.
pub enum Place<'a> {
    Own(&'a mut MailStore),
    Other(Box<MailStore>),
}

impl std::ops::Deref for Place<'_> {
    type Target = MailStore;
    fn deref(&self) -> &MailStore {
        match self {
            Place::Own(store) => store,
            Place::Other(store) => store,
        }
    }
}

/// Where `name` is, and its name in that tree.
pub fn place<'a>(
    session: &'a mut Session,
    name: &MailboxName,
) -> Result<(Place<'a>, MailboxName), StoreError> {
    match target(session, name) {
        Some(t) => Ok((Place::Other(Box::new(tree(session, &t.user)?)), t.local)),
        None => Ok((Place::Own(session.mail_store()?), name.clone())),
    }
}

/// CREATE: a new user (their INBOX), a mailbox of an existing one, or a
/// shared folder (which, without a parent, gets `defaultacl`).
pub fn create(session: &Session, t: &Target) -> Result<(), StoreError> {
    if t.user == SHARED_OWNER {
        let root = root_of(session, SHARED_OWNER)?;
        fs::create_dir_all(&root)?;
        let store = MailStore::open(root, session.env().host.user_locker(SHARED_OWNER), &[])?;
        let top = t.local.parent().is_none();
        store.create(&t.local)?;
        if top {
            let file = crate::store::acl::file(store.root(), &t.local);
            crate::store::acl::write(&file, &default_acl(session))?;
        }
        return Ok(());
    }
    if !t.local.is_inbox() {
        return tree(session, &t.user)?.create(&t.local);
    }
    let root = root_of(session, &t.user)?;
    if root.join("cur").is_dir() {
        return Err(StoreError::AlreadyExists(user_name(&t.user)));
    }
    fs::create_dir_all(&root)?;
    MailStore::open(root, session.env().host.user_locker(&t.user), &[]).map(|_| ())
}

/// Cyrus's `defaultacl` (default `anyone lrs`): the ACL of a new shared
/// folder that has no parent, `identifier rights` pairs. Entries that are
/// not valid are left out.
pub fn default_acl(session: &Session) -> crate::store::acl::Acl {
    let text = session
        .settings()
        .option("defaultacl")
        .unwrap_or("anyone lrs")
        .to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut acl = crate::store::acl::Acl::default();
    for pair in words.chunks(2) {
        if let [id, rights] = pair
            && let Ok(r) = crate::store::acl::Rights::parse(rights)
        {
            let (negative, id) = match id.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, *id),
            };
            let _ = acl.set(id, negative, r);
        }
    }
    acl
}

/// DELETE: a user with all their mail (`user/<name>`), or one mailbox.
pub fn delete(session: &Session, t: &Target) -> Result<(), StoreError> {
    if !t.local.is_inbox() {
        return tree(session, &t.user)?.delete(&t.local);
    }
    if session.user() == Some(t.user.as_str()) {
        return Err(StoreError::CannotDeleteInbox);
    }
    let root = root_of(session, &t.user)?;
    if !root.join("cur").is_dir() {
        return Err(StoreError::NoSuchMailbox(user_name(&t.user)));
    }
    // `cur/` first: from then on the user has no INBOX, whatever is left.
    let _ = fs::rename(root.join("cur"), root.join("tmp").join("deleted-cur"));
    fs::remove_dir_all(&root)?;
    Ok(())
}

/// RENAME within one user's tree (the caller checks both are the same
/// user's).
pub fn rename(session: &Session, from: &Target, to: &Target) -> Result<(), StoreError> {
    tree(session, &from.user)?.rename(&from.local, &to.local)
}

/// The users whose trees are in the partition: its entries, and for a
/// global administrator with virtual domains, every domain's users as
/// `bob@example.com`.
fn users_in(session: &Session, users: &std::path::Path) -> Result<Vec<String>, StoreError> {
    let names = |dir: &std::path::Path| -> Result<Vec<String>, StoreError> {
        Ok(fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect())
    };
    let mut all = names(users)?;
    if global_admin(session) {
        let domains = users.join(DOMAIN_DIR);
        for domain in names(&domains).unwrap_or_default() {
            for user in names(&domains.join(&domain)).unwrap_or_default() {
                if !user.starts_with('.') {
                    all.push(format!("{user}@{domain}"));
                }
            }
        }
    }
    Ok(all)
}

/// LIST: every other user's mailboxes under `user/<name>`, with `user`
/// itself as their superior; sorted as one tree with the admin's own.
pub fn list_others(session: &Session, own: &mut Vec<ListEntry>) -> Result<(), StoreError> {
    let Some(users) = session.env().host.users_root() else {
        return Ok(());
    };
    let mut others = Vec::new();
    for user in users_in(session, &users)? {
        // Not a user: dot files, names that are no mailbox name.
        let shared = user == SHARED_OWNER;
        if session.user() == Some(user.as_str())
            || (global_admin(session) && user == DOMAIN_DIR)
            || (user.starts_with('.') && !shared)
            || MailboxName::new(&user).is_err()
        {
            continue;
        }
        let Ok(store) = tree(session, &user) else {
            continue;
        };
        let entries = store.list_tree()?;
        let has_more = entries.len() > 1;
        for mut e in entries {
            let name = if shared {
                // The shared folders' tree has no INBOX to show.
                if e.name.is_inbox() {
                    continue;
                }
                format!("{SHARED_FOLDERS}/{}", e.name.as_str())
            } else if e.name.is_inbox() {
                e.has_children = has_more;
                format!("{USER_PREFIX}{user}")
            } else {
                format!("{USER_PREFIX}{user}/{}", e.name.as_str())
            };
            let Ok(name) = MailboxName::new(&name) else {
                continue;
            };
            e.name = name;
            // Subscriptions are each user's own.
            e.subscribed = false;
            others.push(e);
        }
    }
    if others.is_empty() {
        return Ok(());
    }
    // `user` itself, the superior of every user, and `Shared Folders`,
    // of the shared folders: not mailboxes.
    for top in [USER_PREFIX.trim_end_matches('/'), SHARED_FOLDERS] {
        let below = format!("{top}/");
        if let Ok(name) = MailboxName::new(top)
            && others.iter().any(|e| e.name.as_str().starts_with(&below))
            && !own.iter().any(|e| e.name == name)
        {
            others.push(ListEntry {
                name,
                noselect: true,
                nonexistent: true,
                has_children: true,
                subscribed: false,
                special_use: Vec::new(),
            });
        }
    }
    own.extend(others);
    own.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;

    /// An administrator's session (alice) and a partition holding her
    /// tree and others'.
    fn admin(admin: bool) -> (crate::session::Session, tempfile::TempDir) {
        let part = tempfile::tempdir().unwrap();
        std::fs::create_dir(part.path().join("alice")).unwrap();
        let host = FakeHost {
            admin,
            users_root: Some(part.path().to_path_buf()),
            ..FakeHost::default()
        };
        let own = tempfile::TempDir::new_in(part.path()).unwrap();
        let s = session_on(&own, &host);
        std::mem::forget(own);
        (s, part)
    }

    #[test]
    fn an_administrator_makes_lists_renames_and_removes_users_mailboxes() {
        let (mut s, part) = admin(true);
        let bob = part.path().join("bob");
        assert_eq!(run(&mut s, "a CREATE user/bob\r\n").0, "a OK Completed\r\n");
        assert!(bob.join("cur").is_dir());
        assert_eq!(
            run(&mut s, "b CREATE user/bob\r\n").0,
            "b NO [ALREADYEXISTS] Mailbox already exists\r\n"
        );
        assert_eq!(
            run(&mut s, "c CREATE user/bob/Team\r\n").0,
            "c OK Completed\r\n"
        );
        assert!(bob.join(".Team/cur").is_dir());
        assert_eq!(
            run(&mut s, "d CREATE user/carol/Team\r\n").0,
            "d NO [NONEXISTENT] Mailbox does not exist\r\n"
        );
        let (out, _) = run(&mut s, "e LIST \"\" *\r\n");
        assert!(
            out.contains(
                "* LIST (\\Noselect \\HasChildren) \"/\" user\r\n\
                 * LIST (\\HasChildren) \"/\" user/bob\r\n\
                 * LIST (\\HasNoChildren) \"/\" user/bob/Team\r\n"
            ),
            "{out}"
        );
        // cyradm's `mboxcfg user/bob/Team comment ...` and `info`.
        assert_eq!(
            run(
                &mut s,
                "m SETMETADATA user/bob/Team (/shared/comment \"team\")\r\n"
            )
            .0,
            "m OK Completed\r\n"
        );
        assert!(bob.join(".Team/imapd.metadata").is_file());
        assert_eq!(
            run(&mut s, "n GETMETADATA user/bob/Team /shared/comment\r\n").0,
            "* METADATA user/bob/Team (/shared/comment \"team\")\r\nn OK Completed\r\n"
        );
        assert_eq!(
            run(&mut s, "f STATUS user/bob/Team (MESSAGES)\r\n").0,
            "* STATUS user/bob/Team (MESSAGES 0)\r\nf OK Completed\r\n"
        );
        assert_eq!(
            run(&mut s, "g RENAME user/bob/Team user/bob/Crew\r\n").0,
            "g OK Completed\r\n"
        );
        assert!(bob.join(".Crew/cur").is_dir());
        assert_eq!(
            run(&mut s, "h RENAME user/bob/Crew Mine\r\n").0,
            "h NO [CANNOT] Cannot rename between users' mailboxes\r\n"
        );
        assert_eq!(
            run(&mut s, "i DELETE user/bob/Crew\r\n").0,
            "i OK Completed\r\n"
        );
        assert!(!bob.join(".Crew").exists());
        assert_eq!(run(&mut s, "j DELETE user/bob\r\n").0, "j OK Completed\r\n");
        assert!(!bob.exists());
        assert_eq!(
            run(&mut s, "k DELETE user/bob\r\n").0,
            "k NO [NONEXISTENT] Mailbox does not exist\r\n"
        );
        // The admin's own tree is not deleted this way.
        assert_eq!(
            run(&mut s, "l DELETE user/alice\r\n").0,
            "l NO [CANNOT] Operation is not supported on mailbox\r\n"
        );
    }

    #[test]
    fn for_everyone_else_user_is_where_other_users_are() {
        let (mut s, part) = admin(false);
        // `user` is where other users' mailboxes are (access.rs): no
        // personal folder of that name, and nothing of anyone else's.
        let out = created(run(&mut s, "a CREATE user/bob\r\n"));
        assert_eq!(out, "a NO [NOPERM] Permission denied\r\n");
        assert!(!part.path().join("bob").exists());
        let (out, _) = run(&mut s, "b LIST \"\" user*\r\n");
        assert_eq!(out, "b OK Completed\r\n");
        let (out, _) = run(&mut s, "c SELECT \"Other Users/bob/Team\"\r\n");
        assert_eq!(out, "c NO [NONEXISTENT] Mailbox does not exist\r\n");
    }
}
