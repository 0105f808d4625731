//! Who may do what to which mailbox (rfc4314).
//!
//! - The user's own mailboxes: the rights their ACL (`store/acl.rs`) gives
//!   the user, plus Cyrus's `implicit_owner_rights` (default `lkxan`),
//!   which the owner keeps whatever the ACL says. No ACL: every right.
//! - Another user's mailbox, named `user/<owner>/<name>` (shown as `Other
//!   Users/<owner>/<name>` in the alternate namespace): the rights the
//!   host computed from the owner's ACL (wit: `shared-mailboxes`). The
//!   host preopens the mailbox's directory only when they include `r`,
//!   read-only unless they include a right that writes: what this module
//!   decides is the finer split inside a directory the host granted
//!   (seen vs. write vs. delete), the host's is the line no guest crosses.
//! - An administrator (`admins`) has, on every user's mailbox, `l k x a`
//!   on top of what the ACL gives (Cyrus's admins see, create, delete and
//!   administer every mailbox; reading mail needs a right like anyone).

use crate::commands::admin::{self, SHARED_FOLDERS, SHARED_OWNER, shared_folder};
use crate::host::Share;
use crate::session::Session;
use crate::store::acl::{self, Rights};
use crate::store::{Flags, ListEntry, MailboxName, StoreError};

/// How other users' mailboxes are named in the store (and, without the
/// alternate namespace, on the wire).
pub const OTHERS: &str = "user/";

/// Cyrus's `implicit_owner_rights` default.
const IMPLICIT_OWNER_RIGHTS: &str = "lkxan";

/// What an administrator always has on a user's mailbox.
fn admin_rights() -> Rights {
    Rights::LOOKUP
        .union(Rights::CREATE)
        .union(Rights::DELETE_MAILBOX)
        .union(Rights::ADMIN)
}

/// An ACL identifier as this session's domain names it (Cyrus
/// `virtdomains`): `bob@<own domain>` is `bob`, whom the domain's files
/// and the host know by that name. Identifiers of other domains are kept
/// as written: no user here has them, so they grant nothing.
pub fn canonical_identifier(session: &Session, id: &str) -> String {
    if let Some(domain) = session.settings().option("virtdomain")
        && let Some((local, d)) = id.rsplit_once('@')
        && d.eq_ignore_ascii_case(domain)
        && !local.is_empty()
    {
        return local.to_string();
    }
    id.to_string()
}

/// The rights an owner keeps whatever the ACL says.
pub fn implicit_owner_rights(session: &Session) -> Rights {
    session
        .settings()
        .option("implicit_owner_rights")
        .and_then(|r| Rights::parse(r).ok())
        .or_else(|| Rights::parse(IMPLICIT_OWNER_RIGHTS).ok())
        .unwrap_or_default()
}

/// `user/<owner>/<local>` → (owner, local). `user/<owner>` is the
/// owner's INBOX. `Shared Folders/<local>` is a mailbox of the shared
/// folders' tree (owner [`SHARED_OWNER`]); `Shared Folders` alone is
/// that tree's INBOX, which is never a mailbox.
pub fn split_other(name: &MailboxName) -> Option<(String, MailboxName)> {
    if let Some(rest) = name.as_str().strip_prefix(SHARED_FOLDERS)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        let local = shared_folder(name).unwrap_or_else(MailboxName::inbox);
        return Some((SHARED_OWNER.to_string(), local));
    }
    let rest = name.as_str().strip_prefix(OTHERS)?;
    let (owner, local) = match rest.split_once('/') {
        Some((owner, local)) => (owner, MailboxName::new(local).ok()?),
        None => (rest, MailboxName::inbox()),
    };
    (!owner.is_empty()).then(|| (owner.to_string(), local))
}

/// The share `name` is, if another user shares it with this session.
pub fn share_of(session: &mut Session, name: &MailboxName) -> Option<Share> {
    let (owner, local) = split_other(name)?;
    if local.is_inbox() {
        return None;
    }
    let dir = local.dir_name();
    session
        .shares()
        .iter()
        .find(|s| s.owner == owner && s.dir == dir)
        .cloned()
}

/// The prefix of the names of `owner`'s mailboxes in the store:
/// `user/<owner>/`, or `Shared Folders/` for the shared folders.
pub fn prefix_of(owner: &str) -> String {
    if owner == SHARED_OWNER {
        format!("{SHARED_FOLDERS}/")
    } else {
        format!("{OTHERS}{owner}/")
    }
}

/// The name of a share in the store: `user/<owner>/<local>`, or for a
/// shared folder `Shared Folders/<local>`.
pub fn share_name(share: &Share) -> Option<MailboxName> {
    let local = MailboxName::from_dir_name(&share.dir)?;
    MailboxName::new(&format!("{}{}", prefix_of(&share.owner), local.as_str())).ok()
}

/// The session's rights on `name` (which need not exist: then the rights
/// its ACL would have, the owner's).
pub fn rights(session: &mut Session, name: &MailboxName) -> Result<Rights, StoreError> {
    let Some(user) = session.user().map(str::to_string) else {
        return Ok(Rights::NONE);
    };
    let admin = crate::commands::admin::target(session, name);
    if admin.is_none()
        && let Some(share) = share_of(session, name)
    {
        return Ok(share.rights);
    }
    if let Some(target) = admin {
        let file = session
            .env()
            .host
            .users_root()
            .map(|r| acl::file(&r.join(admin::tree_dir(&target.user)), &target.local));
        let Some(file) = file else {
            return Ok(Rights::NONE);
        };
        let acl = acl::read(&file, admin::local_name(&target.user))?;
        return Ok(acl.rights_of(&user).union(admin_rights()));
    }
    if split_other(name).is_some() {
        // Another user's mailbox not shared with this one.
        return Ok(Rights::NONE);
    }
    let implicit = implicit_owner_rights(session);
    let file = acl::file(session.mail_store()?.root(), name);
    Ok(acl::read(&file, &user)?.rights_of(&user).union(implicit))
}

/// The rights that make SELECT read-write (rfc4314 4; Cyrus: any right
/// that changes the mailbox's messages).
pub fn selects_writable(rights: Rights) -> bool {
    rights.intersects(
        Rights::SEEN
            .union(Rights::WRITE)
            .union(Rights::INSERT)
            .union(Rights::DELETE_MESSAGES)
            .union(Rights::EXPUNGE),
    )
}

/// Cyrus's reply when a right is missing.
pub const NO_PERMISSION: &str = "NO [NOPERM] Permission denied";

/// The NO for a command that needs `needed` and has `rights`, if it lacks
/// some: a mailbox the user cannot even see (no `l`) does not exist for
/// them (Cyrus: the name gives nothing away).
pub fn refusal(rights: Rights, needed: Rights) -> Option<&'static str> {
    if rights.contains(needed) {
        None
    } else if rights.contains(Rights::LOOKUP) || rights.contains(Rights::READ) {
        Some(NO_PERMISSION)
    } else {
        Some("NO [NONEXISTENT] Mailbox does not exist")
    }
}

/// The flags of `flags` that a new message (APPEND, COPY) or a STORE may
/// set with `rights` (rfc4314 4): `\Seen` with `s`, `\Deleted` with `t`,
/// the others with `w` (which keywords need too).
pub fn permitted_flags(rights: Rights, flags: Flags) -> Flags {
    let mut mask = 0;
    if rights.contains(Rights::SEEN) {
        mask |= Flags::SEEN.0;
    }
    if rights.contains(Rights::DELETE_MESSAGES) {
        mask |= Flags::DELETED.0;
    }
    if rights.contains(Rights::WRITE) {
        mask |= !(Flags::SEEN.0 | Flags::DELETED.0);
    }
    Flags(flags.0 & mask)
}

/// A mailbox of `owner`'s with an ACL was renamed or deleted: the host
/// shares what the ACLs now grant (a failure is logged; the mailbox
/// operation itself is done).
pub fn acls_moved(session: &Session, owner: &str) {
    if let Err(why) = session.env().host.acls_changed(owner) {
        session.env().host.log(
            crate::host::Level::Error,
            &format!("sharing {owner}'s mailboxes: {why}"),
        );
    }
}

/// Whether `name` or a mailbox below it has an ACL of its own, in the
/// user's tree (a RENAME or DELETE of it changes what is shared).
pub fn has_acl_below(session: &mut Session, name: &MailboxName) -> bool {
    session
        .mail_store()
        .is_ok_and(|store| acl::any_at_or_below(store.root(), name))
}

/// LIST: the mailboxes shared with this session (those it may see, `l`
/// or `r`) go into `tree` as `user/<owner>/<name>`, with their superiors
/// as names that are no mailbox (`\Noselect`), sorted as one tree. A
/// subscribed name of a share's is that share.
pub fn list_shares(session: &mut Session, tree: &mut Vec<ListEntry>) {
    let visible = Rights::LOOKUP.union(Rights::READ);
    let shares: Vec<Share> = session
        .shares()
        .iter()
        .filter(|s| s.rights.intersects(visible))
        .cloned()
        .collect();
    let mut added: Vec<ListEntry> = Vec::new();
    for share in &shares {
        let Some(name) = share_name(share) else {
            continue;
        };
        for parent in name.ancestors() {
            if !added.iter().any(|e| e.name == parent) {
                added.push(ListEntry {
                    name: parent,
                    noselect: true,
                    nonexistent: true,
                    has_children: true,
                    subscribed: false,
                    special_use: Vec::new(),
                });
            }
        }
        added.retain(|e| e.name != name);
        added.push(ListEntry {
            name,
            noselect: !share.rights.contains(Rights::READ),
            nonexistent: false,
            has_children: false,
            subscribed: false,
            special_use: Vec::new(),
        });
    }
    if added.is_empty() {
        return;
    }
    let names: Vec<MailboxName> = added.iter().map(|e| e.name.clone()).collect();
    for e in &mut added {
        e.has_children = names.iter().any(|n| n.is_inferior_of(&e.name));
        e.nonexistent = e.nonexistent && e.has_children;
        // A share below a share: its superior exists.
        if let Some(i) = tree.iter().position(|t| t.name == e.name) {
            e.subscribed = tree[i].subscribed;
            e.has_children |= tree[i].has_children;
            tree.remove(i);
        }
    }
    tree.extend(added);
    tree.sort_by(|a, b| a.name.cmp(&b.name));
    tree.dedup_by(|later, first| {
        if later.name != first.name {
            return false;
        }
        first.subscribed |= later.subscribed;
        first.has_children |= later.has_children;
        if first.nonexistent && !later.nonexistent {
            std::mem::swap(first, later);
            first.subscribed |= later.subscribed;
        }
        true
    });
}
