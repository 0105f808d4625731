//! LIST (rfc3501 6.3.8) and LSUB (6.3.9): reference and pattern with the
//! `*` and `%` wildcards, names in modified UTF-7. `LIST "" ""` asks for
//! the hierarchy delimiter: `* LIST (\Noselect) "/" ""`.
//!
//! LIST is extended (rfc5258 LIST-EXTENDED) by selection options before
//! the reference (SUBSCRIBED, REMOTE, RECURSIVEMATCH; rfc6154 SPECIAL-USE),
//! several patterns in parentheses, and return options after the patterns
//! (SUBSCRIBED, CHILDREN; rfc6154 SPECIAL-USE; rfc5819 STATUS). Every LIST
//! carries the rfc3348 CHILDREN attributes (rfc5258 4 allows them unasked;
//! Cyrus always sends them) and, unless `specialusealways` is off, the
//! rfc6154 special-use attributes (Apple Mail never asks for them; Cyrus
//! 3.6 sends them on every LIST too). There are no remote mailboxes, so
//! REMOTE changes nothing and `\Remote` never appears.

use super::Request;
use super::mailbox_arg::{Wire, decode_wire, reply_failure, wire_name};
use super::status::{self, Item};
use crate::session::{Action, Session};
use crate::store::{
    ListEntry, MailboxName, StoreError, canonical_pattern_with, list_matches_with, mutf7,
};
use crate::wire::parser::{Parser, SyntaxError};

/// Reference plus pattern, in bytes; for several patterns (rfc5258 3), all
/// of them together.
const MAX_PATTERN_BYTES: usize = 4096;

/// rfc5258 3.1 selection options, and rfc6154 2 SPECIAL-USE.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Selection {
    subscribed: bool,
    /// Accepted; there are no remote mailboxes to add (rfc5258 3.1).
    remote: bool,
    recursive_match: bool,
    special_use: bool,
}

/// rfc5258 3.2 return options, rfc6154 2 SPECIAL-USE, rfc5819 2 STATUS.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Returns {
    subscribed: bool,
    /// Accepted; the CHILDREN attributes are always sent (rfc5258 4).
    children: bool,
    special_use: bool,
    status: Vec<Item>,
    /// rfc8440: a MYRIGHTS response for each mailbox listed.
    myrights: bool,
}

/// A parsed LIST command (rfc5258 6 `list`).
#[derive(Debug, Default)]
struct ListCommand {
    /// Selection options, several patterns or return options were given
    /// (in any form, even empty): rfc5258 3 rules apply.
    extended: bool,
    select: Selection,
    reference: Vec<u8>,
    patterns: Vec<Vec<u8>>,
    returns: Returns,
}

/// rfc5258 6: `list-select-opts`. RECURSIVEMATCH needs SUBSCRIBED, the only
/// `list-select-base-opt` (3.1: "The server MUST return BAD").
fn selection(p: &mut Parser) -> Result<Selection, SyntaxError> {
    let mut s = Selection::default();
    p.list(true, |p| {
        let option = p
            .atom()
            .map_err(|_| SyntaxError::Invalid("Invalid List selection option"))?;
        let flag = match option.as_str().to_ascii_uppercase().as_str() {
            "SUBSCRIBED" => &mut s.subscribed,
            "REMOTE" => &mut s.remote,
            "RECURSIVEMATCH" => &mut s.recursive_match,
            "SPECIAL-USE" => &mut s.special_use,
            // rfc5258 3: "A server MUST respond to options it does not
            // recognize with a BAD response."
            _ => return Err(SyntaxError::Invalid("Invalid List selection option")),
        };
        *flag = true;
        Ok(())
    })?;
    if s.recursive_match && !s.subscribed {
        return Err(SyntaxError::Invalid(
            "Invalid combination of selection options",
        ));
    }
    Ok(s)
}

/// rfc5258 6 `list-return-opts` after "RETURN" SP, with rfc5819 4
/// `status-option`. An option given twice counts once (rfc5258 3); two
/// STATUS options ask for the items of both.
fn returns(p: &mut Parser) -> Result<Returns, SyntaxError> {
    let mut r = Returns::default();
    p.list(true, |p| {
        let option = p
            .atom()
            .map_err(|_| SyntaxError::Invalid("Invalid List return option"))?;
        match option.as_str().to_ascii_uppercase().as_str() {
            "SUBSCRIBED" => r.subscribed = true,
            "CHILDREN" => r.children = true,
            "SPECIAL-USE" => r.special_use = true,
            "MYRIGHTS" => r.myrights = true,
            "STATUS" => {
                p.sp()?;
                for item in status::parse_items(p)? {
                    if !r.status.contains(&item) {
                        r.status.push(item);
                    }
                }
            }
            _ => return Err(SyntaxError::Invalid("Invalid List return option")),
        }
        Ok(())
    })?;
    Ok(r)
}

/// rfc5258 6: `list = "LIST" [SP list-select-opts] SP mailbox SP
/// mbox-or-pat [SP list-return-opts]`.
fn parse(p: &mut Parser) -> Result<ListCommand, SyntaxError> {
    let mut cmd = ListCommand::default();
    p.sp()?;
    if p.peek() == Some(b'(') {
        cmd.extended = true;
        cmd.select = selection(p)?;
        p.sp()?;
    }
    cmd.reference = p.astring()?;
    p.sp()?;
    if p.peek() == Some(b'(') {
        // `patterns = "(" list-mailbox *(SP list-mailbox) ")"`
        cmd.extended = true;
        cmd.patterns = p
            .list(false, Parser::list_mailbox)
            .map_err(|_| SyntaxError::Invalid("Invalid mailbox pattern"))?;
    } else {
        cmd.patterns = vec![p.list_mailbox()?];
    }
    if p.peek() == Some(b' ') {
        p.sp()?;
        let word = p.atom().map_err(|_| SyntaxError::Extra)?;
        if !word.as_str().eq_ignore_ascii_case("RETURN") {
            return Err(SyntaxError::Extra);
        }
        p.sp()?;
        cmd.extended = true;
        cmd.returns = returns(p)?;
    }
    p.finish()?;
    Ok(cmd)
}

/// The hierarchy delimiter as LIST and LSUB show it.
fn delimiter(wire: Wire) -> &'static str {
    if wire.sep == '.' { "\".\"" } else { "\"/\"" }
}

/// One canonical LIST pattern (rfc3501 6.3.8: the reference prefixed).
struct Pattern {
    /// In the client's view of the names (its separator and namespace).
    text: String,
    /// Not valid modified UTF-7: matched against the names' wire form.
    wire_form: bool,
    wire: Wire,
}

// With UTF-8 names (IMAP4rev2, rfc9051 5.1) every pattern decodes: it is
// matched against the names themselves.

impl Pattern {
    /// A pattern is not a mailbox name (rfc3501 6.3.8): one that is not
    /// valid modified UTF-7 still matches, against the names as they go
    /// on the wire (Cyrus, which keeps names in modified UTF-7, does that).
    fn new(reference: &[u8], pattern: &[u8], wire: Wire) -> Pattern {
        match (
            decode_wire(reference, wire.utf8),
            decode_wire(pattern, wire.utf8),
        ) {
            (Ok(r), Ok(p)) => Pattern {
                text: canonical_pattern_with(&r, &p, wire.sep),
                wire_form: false,
                wire,
            },
            _ => Pattern {
                text: canonical_pattern_with(
                    &String::from_utf8_lossy(reference),
                    &String::from_utf8_lossy(pattern),
                    wire.sep,
                ),
                wire_form: true,
                wire,
            },
        }
    }

    /// Whether the store's `name`, as the client sees it, matches.
    fn matches(&self, name: &str) -> bool {
        let shown = self.wire.show(name);
        if self.wire_form {
            list_matches_with(&self.text, &mutf7::encode(&shown), self.wire.sep)
        } else {
            list_matches_with(&self.text, &shown, self.wire.sep)
        }
    }
}

/// A name matches a list of patterns if it matches one (rfc5258 3).
fn any_matches(patterns: &[Pattern], name: &str) -> bool {
    patterns.iter().any(|p| p.matches(name))
}

pub fn list(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    let cmd = parse(&mut req.args)?;
    status::in_grammar(&cmd.returns.status, session.rev2())?;
    // No name is longer than 1000 bytes; longer patterns would only cost
    // matching time. A plain LIST gets NO; an extended one ignores the
    // patterns over the limit (rfc5258 3: "If a server doesn't accept a
    // particular pattern, it MUST silently ignore it").
    let mut budget = MAX_PATTERN_BYTES;
    let mut patterns = Vec::new();
    for raw in &cmd.patterns {
        // rfc5258 3: an extended LIST ignores empty patterns.
        if cmd.extended && raw.is_empty() {
            continue;
        }
        let pattern = Pattern::new(&cmd.reference, raw, req.names);
        if pattern.text.len() > budget {
            if cmd.extended {
                continue;
            }
            req.reply(session, "NO [CANNOT] Mailbox pattern too long");
            return Ok(Action::None);
        }
        budget -= pattern.text.len();
        patterns.push(pattern);
    }
    if !cmd.extended && cmd.patterns.iter().all(|p| p.is_empty()) {
        // rfc3501 6.3.8: the delimiter and the root of the reference
        // (ours is flat below the root: always ""). Not for an extended
        // LIST (rfc5258 3).
        let root = format!("* LIST (\\Noselect) {} \"\"\r\n", delimiter(req.names));
        session.write(root.as_bytes());
        req.reply(session, "OK Completed");
        return Ok(Action::None);
    }
    status::enable_condstore_if_asked(session, &cmd.returns.status);
    let tree = session.mail_store().and_then(|store| store.list_tree());
    // An administrator sees every user's mailboxes too (admin.rs), when a
    // pattern can reach them (not for an admin's client listing its own
    // folders: that would open every user's tree).
    let reaches_users = patterns.iter().any(|p| {
        p.text.starts_with(['*', '%'])
            || p.text
                .get(..4)
                .is_some_and(|t| t.eq_ignore_ascii_case("user"))
            || p.text
                .get(..5)
                .is_some_and(|t| t.eq_ignore_ascii_case("other"))
            || p.text
                .get(..6)
                .is_some_and(|t| t.eq_ignore_ascii_case("shared"))
    });
    let tree = tree.and_then(|mut tree| {
        if reaches_users {
            super::admin::list_others(session, &mut tree)?;
        }
        crate::access::list_shares(session, &mut tree);
        Ok(tree)
    });
    let mut tree = match tree {
        Ok(tree) => tree,
        Err(e) => {
            reply_failure(session, req, &e);
            return Ok(Action::None);
        }
    };
    // Without the alternate namespace every personal folder is INBOX's.
    if !req.names.alt {
        let others = tree.iter().any(|e| !e.name.is_inbox() && !e.nonexistent);
        if let Some(inbox) = tree.iter_mut().find(|e| e.name.is_inbox()) {
            inbox.has_children |= others;
        }
    }
    let special_use = cmd.select.special_use
        || cmd.returns.special_use
        || session.settings().switch("specialusealways", true);
    let mut out = String::new();
    for (i, entry) in tree.iter().enumerate() {
        // `Shared Folders` is no name where shared folders are at the top.
        if !any_matches(&patterns, entry.name.as_str())
            || req.names.show(entry.name.as_str()).is_empty()
        {
            continue;
        }
        let descendants = tree[i + 1..]
            .iter()
            .take_while(|d| d.name.as_str().starts_with(entry.name.as_str()))
            .filter(|d| d.name.is_inferior_of(&entry.name));
        let Some(found) = (if cmd.extended {
            extended_match(&cmd.select, &patterns, entry, descendants)
        } else {
            // rfc3501 6.3.8: every mailbox and superior of one matching.
            (!entry.nonexistent || entry.has_children).then_some(Found::default())
        }) else {
            continue;
        };
        out += &response(session, &cmd, entry, found, special_use);
    }
    session.write(out.as_bytes());
    req.reply(session, "OK Completed");
    Ok(Action::None)
}

/// Why an entry is listed.
#[derive(Debug, Default, Clone, Copy)]
struct Found {
    /// It satisfies the selection criteria itself (rfc5258 3.3 2A).
    meets: bool,
    /// rfc5258 3.5 CHILDINFO: a descendant satisfies them.
    childinfo: bool,
}

/// rfc5258 3.3: whether an extended LIST reports `entry`, a name matching
/// the patterns, and why.
fn extended_match<'a>(
    select: &Selection,
    patterns: &[Pattern],
    entry: &ListEntry,
    descendants: impl Iterator<Item = &'a ListEntry> + Clone,
) -> Option<Found> {
    // rfc5258 3.1 SUBSCRIBED lists subscribed names, existing or not;
    // rfc6154 2 SPECIAL-USE "MUST return only those mailboxes that have a
    // special-use attribute set". Without either, the mailboxes.
    let meets = |e: &ListEntry| {
        let base = if select.subscribed {
            e.subscribed
        } else {
            !e.nonexistent
        };
        base && (!select.special_use || !e.special_use.is_empty())
    };
    if select.special_use && entry.special_use.is_empty() {
        return None;
    }
    let mut meeting = descendants.filter(|d| meets(d));
    let found = Found {
        meets: meets(entry),
        childinfo: select.recursive_match && meeting.clone().next().is_some(),
    };
    // rfc5258 3.3 2B and 3.5: a name that does not meet the criteria is
    // listed for a descendant that does and that the patterns do not
    // reach (a redundant CHILDINFO is suppressed, 3.5's SHOULD): with
    // RECURSIVEMATCH, or, for the plain listing, as `\NonExistent
    // \HasChildren` when it is a missing superior (3.5 note, example 11).
    let plain = !select.subscribed && !select.special_use;
    let listed = found.meets
        || ((select.recursive_match || (plain && entry.nonexistent))
            && meeting.any(|d| !any_matches(patterns, d.name.as_str())));
    listed.then_some(found)
}

/// The `* LIST` line for `entry`, with `* STATUS` after it for rfc5819.
fn response(
    session: &mut Session,
    cmd: &ListCommand,
    entry: &ListEntry,
    found: Found,
    special_use: bool,
) -> String {
    // rfc5819 2: a STATUS for each selectable mailbox that meets the
    // selection criteria; one that cannot be read gets \Noselect instead.
    let mut noselect = entry.noselect;
    let mut status_line = None;
    if !cmd.returns.status.is_empty() && found.meets && !entry.noselect {
        match status::mailbox_status(session, &entry.name, &cmd.returns.status) {
            Ok(s) => {
                status_line = Some(status::status_line(
                    &entry.name,
                    &cmd.returns.status,
                    &s,
                    session.wire(),
                ))
            }
            Err(e) => {
                if matches!(e, StoreError::Io(_)) {
                    session.log_store_error("LIST-STATUS", &e);
                }
                noselect = true;
            }
        }
    }
    // Cyrus's order: \Noselect \NonExistent \Subscribed \HasChildren
    // \HasNoChildren, then the special uses.
    let mut attributes: Vec<&str> = Vec::new();
    // rfc9051 7.3.1 (LIST-EXTENDED folded in): in IMAP4rev2 every LIST
    // names a name with no mailbox \NonExistent.
    if entry.nonexistent && (cmd.extended || session.rev2()) {
        // rfc5258 3.4: \NonExistent implies \Noselect.
        attributes.push("\\NonExistent");
    } else if noselect {
        attributes.push("\\Noselect");
    }
    if (cmd.select.subscribed || cmd.returns.subscribed) && entry.subscribed {
        attributes.push("\\Subscribed");
    }
    attributes.push(if entry.has_children {
        "\\HasChildren"
    } else {
        "\\HasNoChildren"
    });
    if special_use {
        attributes.extend(entry.special_use.iter().map(|u| u.attribute()));
    }
    let wire = session.wire();
    let mut line = format!(
        "* LIST ({}) {} {}",
        attributes.join(" "),
        delimiter(wire),
        wire_name(entry.name.as_str(), wire)
    );
    if found.childinfo {
        // rfc5258 6 childinfo-extended-item; the option is always quoted
        // (RECURSIVEMATCH needs SUBSCRIBED, the only base option).
        line += " (\"CHILDINFO\" (\"SUBSCRIBED\"))";
    }
    line += "\r\n";
    // rfc8440 2: MYRIGHTS after the LIST, for a mailbox that exists.
    let mut myrights = String::new();
    if cmd.returns.myrights
        && !entry.nonexistent
        && !entry.noselect
        && let Ok(rights) = crate::access::rights(session, &entry.name)
    {
        myrights = format!(
            "* MYRIGHTS {} {}\r\n",
            wire_name(entry.name.as_str(), wire),
            super::mailbox_arg::astring(&rights.to_string())
        );
    }
    line + status_line.as_deref().unwrap_or("") + &myrights
}

/// The `* LIST` line SELECT and EXAMINE send for `name` once IMAP4rev2
/// is enabled (rfc9051 6.3.2: "The list of mailbox attributes MUST be
/// accurate"): the attributes a plain LIST shows.
pub fn list_line_of(session: &mut Session, name: &MailboxName) -> String {
    let entry = session
        .mail_store()
        .and_then(|store| store.list_where(|n| n == name.as_str()))
        .ok()
        .and_then(|entries| entries.into_iter().next());
    match entry {
        Some(entry) => {
            let special_use = session.settings().switch("specialusealways", true);
            let found = Found {
                meets: true,
                childinfo: false,
            };
            response(session, &ListCommand::default(), &entry, found, special_use)
        }
        None => {
            let wire = session.wire().with_utf8(true);
            format!(
                "* LIST () {} {}\r\n",
                delimiter(wire),
                wire_name(name.as_str(), wire)
            )
        }
    }
}

pub fn lsub(session: &mut Session, req: &mut Request) -> Result<Action, SyntaxError> {
    req.args.sp()?;
    let reference = req.args.astring()?;
    req.args.sp()?;
    let pattern = req.args.list_mailbox()?;
    req.args.finish()?;
    let pattern = Pattern::new(&reference, &pattern, req.names);
    if pattern.text.len() > MAX_PATTERN_BYTES {
        req.reply(session, "NO [CANNOT] Mailbox pattern too long");
        return Ok(Action::None);
    }
    let entries = session
        .mail_store()
        .and_then(|store| store.lsub_where(|name| pattern.matches(name)));
    match entries {
        Ok(entries) => {
            let mut out = String::new();
            for entry in &entries {
                let attributes = if entry.noselect { "\\Noselect" } else { "" };
                out += &format!(
                    "* LSUB ({attributes}) {} {}\r\n",
                    delimiter(req.names),
                    wire_name(entry.name.as_str(), req.names)
                );
            }
            session.write(out.as_bytes());
            req.reply(session, "OK Completed");
        }
        Err(e) => reply_failure(session, req, &e),
    }
    Ok(Action::None)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::*;
    use crate::session::Session;
    use crate::settings::Settings;

    /// `command` (without tag) → the untagged lines, the tagged reply
    /// checked to be OK (`OK Completed` for LIST).
    fn ok(s: &mut Session, command: &str) -> String {
        let out = run(s, &format!("t {command}\r\n")).0;
        let start = out
            .rfind("t OK ")
            .unwrap_or_else(|| panic!("{command}: {out}"));
        if command.starts_with("LIST") {
            assert_eq!(&out[start..], "t OK Completed\r\n");
        }
        out[..start].to_string()
    }

    fn create(s: &mut Session, names: &[&str]) {
        for n in names {
            ok(s, &format!("CREATE \"{n}\""));
        }
    }

    fn subscribe(s: &mut Session, names: &[&str]) {
        for n in names {
            ok(s, &format!("SUBSCRIBE \"{n}\""));
        }
    }

    /// A Maildir++ folder made behind the server's back, without its
    /// superiors (another tool's tree: rfc5258 3.5's "mailboxes exist
    /// without requiring their parent to exist").
    fn maildir_without_superiors(dir: &tempfile::TempDir, name: &str) {
        let d = dir.path().join(format!(".{}", name.replace('/', ".")));
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
    }

    /// rfc5258 5 examples 1-6: Fruit/Peach is subscribed but does not exist.
    fn fruit_and_vegetables() -> (Session, tempfile::TempDir) {
        let (mut s, dir) = store_session();
        create(
            &mut s,
            &[
                "Fruit/Apple",
                "Fruit/Banana",
                "Fruit/Peach",
                "Tofu",
                "Vegetable/Broccoli",
                "Vegetable/Corn",
            ],
        );
        subscribe(
            &mut s,
            &[
                "INBOX",
                "Fruit/Banana",
                "Fruit/Peach",
                "Vegetable",
                "Vegetable/Broccoli",
            ],
        );
        ok(&mut s, "DELETE Fruit/Peach");
        (s, dir)
    }

    #[test]
    fn rfc5258_subscribed_selection() {
        let (mut s, _dir) = fruit_and_vegetables();
        // Example 2 (and 5: REMOTE changes nothing without remote mailboxes).
        let subscribed = "* LIST (\\Subscribed \\HasNoChildren) \"/\" Fruit/Banana\r\n\
                          * LIST (\\NonExistent \\Subscribed \\HasNoChildren) \"/\" Fruit/Peach\r\n\
                          * LIST (\\Subscribed \\HasNoChildren) \"/\" INBOX\r\n\
                          * LIST (\\Subscribed \\HasChildren) \"/\" Vegetable\r\n\
                          * LIST (\\Subscribed \\HasNoChildren) \"/\" Vegetable/Broccoli\r\n";
        assert_eq!(ok(&mut s, "LIST (SUBSCRIBED) \"\" \"*\""), subscribed);
        assert_eq!(
            ok(&mut s, "LIST (REMOTE SUBSCRIBED) \"\" \"*\""),
            subscribed
        );
        // Not LSUB: that one stays as rfc3501 has it.
        assert_eq!(
            ok(&mut s, "LSUB \"\" *"),
            "* LSUB () \"/\" Fruit/Banana\r\n\
             * LSUB (\\Noselect) \"/\" Fruit/Peach\r\n\
             * LSUB () \"/\" INBOX\r\n\
             * LSUB () \"/\" Vegetable\r\n\
             * LSUB () \"/\" Vegetable/Broccoli\r\n"
        );
    }

    #[test]
    fn rfc5258_return_options() {
        let (mut s, _dir) = fruit_and_vegetables();
        // Example 3.
        assert_eq!(
            ok(&mut s, "LIST () \"\" \"%\" RETURN (CHILDREN)"),
            "* LIST (\\HasChildren) \"/\" Fruit\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren) \"/\" Tofu\r\n\
             * LIST (\\HasChildren) \"/\" Vegetable\r\n"
        );
        // Example 4, without remote mailboxes.
        assert_eq!(
            ok(&mut s, "LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)"),
            ok(&mut s, "LIST () \"\" \"%\" RETURN (CHILDREN)")
        );
        // Example 6: subscription state of every listed mailbox; no
        // Fruit/Peach, which does not exist.
        assert_eq!(
            ok(&mut s, "LIST (REMOTE) \"\" \"*\" RETURN (SUBSCRIBED)"),
            "* LIST (\\HasChildren) \"/\" Fruit\r\n\
             * LIST (\\HasNoChildren) \"/\" Fruit/Apple\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" Fruit/Banana\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren) \"/\" Tofu\r\n\
             * LIST (\\Subscribed \\HasChildren) \"/\" Vegetable\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" Vegetable/Broccoli\r\n\
             * LIST (\\HasNoChildren) \"/\" Vegetable/Corn\r\n"
        );
        // An option given twice counts once (rfc5258 3); `()` is no option.
        assert_eq!(
            ok(
                &mut s,
                "LIST (subscribed SUBSCRIBED) \"\" Tofu RETURN (children CHILDREN SUBSCRIBED)"
            ),
            ""
        );
        assert_eq!(
            ok(&mut s, "LIST () \"\" Tofu RETURN ()"),
            "* LIST (\\HasNoChildren) \"/\" Tofu\r\n"
        );
    }

    #[test]
    fn rfc5258_several_patterns() {
        let (mut s, _dir) = store_session();
        create(
            &mut s,
            &[
                "Drafts",
                "Sent/March2004",
                "Sent/December2003",
                "Sent/August2004",
            ],
        );
        // Example 7.
        assert_eq!(
            ok(&mut s, "LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")"),
            "* LIST (\\HasNoChildren) \"/\" Drafts\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren) \"/\" Sent/August2004\r\n\
             * LIST (\\HasNoChildren) \"/\" Sent/December2003\r\n\
             * LIST (\\HasNoChildren) \"/\" Sent/March2004\r\n"
        );
        // A name matching several patterns is listed once; an empty
        // pattern is ignored, not a request for the delimiter (rfc5258 3).
        assert_eq!(
            ok(&mut s, "LIST \"\" (Drafts \"\" D* *rafts)"),
            "* LIST (\\HasNoChildren) \"/\" Drafts\r\n"
        );
        assert_eq!(ok(&mut s, "LIST \"\" (\"\")"), "");
        assert_eq!(ok(&mut s, "LIST () \"\" \"\""), "");
        assert_eq!(
            ok(&mut s, "LIST \"\" \"\""),
            "* LIST (\\Noselect) \"/\" \"\"\r\n"
        );
        // The reference applies to each pattern (rfc3501 6.3.8).
        assert_eq!(
            ok(&mut s, "LIST Sent (March* Aug*)"),
            "* LIST (\\HasNoChildren) \"/\" Sent/August2004\r\n\
             * LIST (\\HasNoChildren) \"/\" Sent/March2004\r\n"
        );
        // A pattern too long is ignored (rfc5258 3), where a plain LIST
        // says NO.
        let long = "%*".repeat(3000);
        assert_eq!(
            ok(&mut s, &format!("LIST \"\" (Drafts {long})")),
            "* LIST (\\HasNoChildren) \"/\" Drafts\r\n"
        );
        assert_eq!(
            run(&mut s, &format!("t LIST \"\" {long}\r\n")).0,
            "t NO [CANNOT] Mailbox pattern too long\r\n"
        );
    }

    /// rfc5258 5 example 8's hierarchy.
    fn foo_moo() -> (Session, tempfile::TempDir) {
        let (mut s, dir) = store_session();
        create(&mut s, &["Foo/Bar", "Foo/Baz", "Moo"]);
        (s, dir)
    }

    #[test]
    fn rfc5258_example_8_childinfo() {
        const RECURSIVE: &str = "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"";
        // B) nothing subscribed: nothing listed, children or not.
        let (mut s, _dir) = foo_moo();
        assert_eq!(ok(&mut s, RECURSIVE), "");
        // A) Foo/Baz is the only subscribed mailbox.
        subscribe(&mut s, &["Foo/Baz"]);
        assert_eq!(
            ok(&mut s, "LIST (SUBSCRIBED) \"\" \"*\""),
            "* LIST (\\Subscribed \\HasNoChildren) \"/\" Foo/Baz\r\n"
        );
        assert_eq!(ok(&mut s, "LIST (SUBSCRIBED) \"\" \"%\""), "");
        assert_eq!(
            ok(&mut s, RECURSIVE),
            "* LIST (\\HasChildren) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
        // A1) Foo subscribed too.
        subscribe(&mut s, &["Foo"]);
        assert_eq!(
            ok(&mut s, RECURSIVE),
            "* LIST (\\Subscribed \\HasChildren) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
        // C) Foo and Moo subscribed: Foo has children, none subscribed.
        ok(&mut s, "UNSUBSCRIBE Foo/Baz");
        subscribe(&mut s, &["Moo"]);
        assert_eq!(
            ok(&mut s, &format!("{RECURSIVE} RETURN (CHILDREN)")),
            "* LIST (\\Subscribed \\HasChildren) \"/\" Foo\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" Moo\r\n"
        );
    }

    #[test]
    fn rfc5258_example_8_a2_missing_superior() {
        // A2) "Foo" is not part of the hierarchy.
        let (mut s, dir) = store_session();
        maildir_without_superiors(&dir, "Foo/Baz");
        subscribe(&mut s, &["Foo/Baz"]);
        assert_eq!(
            ok(&mut s, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\""),
            "* LIST (\\NonExistent \\HasChildren) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
    }

    #[test]
    fn rfc5258_example_9_childinfo_whatever_the_pattern() {
        let (mut s, dir) = store_session();
        create(
            &mut s,
            &[
                "foo2/bar1",
                "foo2/bar2",
                "baz2/bar2",
                "baz2/bar22",
                "baz2/bar222",
                "eps2/mamba",
            ],
        );
        maildir_without_superiors(&dir, "qux2/bar2");
        subscribe(
            &mut s,
            &[
                "foo2/bar1",
                "foo2/bar2",
                "baz2/bar2",
                "baz2/bar22",
                "baz2/bar222",
                "eps2",
                "eps2/mamba",
                "qux2/bar2",
            ],
        );
        // D03: foo2 for its child bar1, which "*2" does not reach; eps2
        // meets the criteria and has a subscribed child. baz2 and qux2,
        // whose subscribed children are all listed, are left out (3.3 2B,
        // 3.5's SHOULD).
        assert_eq!(
            ok(&mut s, "LIST (RECURSIVEMATCH SUBSCRIBED) \"\" \"*2\""),
            "* LIST (\\Subscribed \\HasNoChildren) \"/\" baz2/bar2\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" baz2/bar22\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" baz2/bar222\r\n\
             * LIST (\\Subscribed \\HasChildren) \"/\" eps2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             * LIST (\\HasChildren) \"/\" foo2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" foo2/bar2\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" qux2/bar2\r\n"
        );
        // "*": every subscribed name; CHILDINFO on eps2, which is listed
        // for itself.
        assert_eq!(
            ok(&mut s, "LIST (RECURSIVEMATCH SUBSCRIBED) \"\" \"*\""),
            "* LIST (\\Subscribed \\HasNoChildren) \"/\" baz2/bar2\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" baz2/bar22\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" baz2/bar222\r\n\
             * LIST (\\Subscribed \\HasChildren) \"/\" eps2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" eps2/mamba\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" foo2/bar1\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" foo2/bar2\r\n\
             * LIST (\\Subscribed \\HasNoChildren) \"/\" qux2/bar2\r\n"
        );
        // "%" stops at the top level: qux2 is listed for its child.
        assert_eq!(
            ok(&mut s, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\""),
            "* LIST (\\HasChildren) \"/\" baz2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             * LIST (\\Subscribed \\HasChildren) \"/\" eps2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             * LIST (\\HasChildren) \"/\" foo2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             * LIST (\\NonExistent \\HasChildren) \"/\" qux2 (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
    }

    #[test]
    fn rfc5258_example_10_childinfo_without_children() {
        let (mut s, _dir) = store_session();
        create(&mut s, &["foo/bar"]);
        subscribe(&mut s, &["foo/bar"]);
        ok(&mut s, "DELETE foo/bar");
        assert_eq!(
            ok(&mut s, "LIST \"\" (\"foo\" \"foo/*\")"),
            "* LIST (\\HasNoChildren) \"/\" foo\r\n"
        );
        assert_eq!(
            ok(&mut s, "LIST (SUBSCRIBED) \"\" \"foo/*\""),
            "* LIST (\\NonExistent \\Subscribed \\HasNoChildren) \"/\" foo/bar\r\n"
        );
        assert_eq!(
            ok(
                &mut s,
                "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" foo RETURN (CHILDREN)"
            ),
            "* LIST (\\HasNoChildren) \"/\" foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
    }

    #[test]
    fn rfc5258_example_11_missing_superiors() {
        let (mut s, dir) = store_session();
        maildir_without_superiors(&dir, "music/rock");
        assert_eq!(
            ok(&mut s, "LIST (REMOTE) \"\" *"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren) \"/\" music/rock\r\n"
        );
        assert_eq!(
            ok(&mut s, "LIST () \"\" %"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\NonExistent \\HasChildren) \"/\" music\r\n"
        );
        assert_eq!(
            ok(&mut s, "LIST \"\" (% music/rock)"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren) \"/\" music/rock\r\n"
        );
        // A plain LIST shows the superior as rfc3501 does: \Noselect.
        assert_eq!(
            ok(&mut s, "LIST \"\" %"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\Noselect \\HasChildren) \"/\" music\r\n"
        );
    }

    #[test]
    fn rfc5819_list_status() {
        let (mut s, _dir) = store_session();
        create(&mut s, &["foo", "bar/x"]);
        ok(&mut s, "DELETE bar");
        let msg = "Subject: hi\r\n\r\nhello\r\n"; // 22 bytes
        for (mailbox, flags) in [("INBOX", ""), ("INBOX", "(\\Seen) "), ("foo", "")] {
            ok(&mut s, &format!("APPEND {mailbox} {flags}{{22+}}\r\n{msg}"));
        }
        // Example A01: bar is not selectable, so it has no STATUS.
        assert_eq!(
            ok(&mut s, "LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * STATUS INBOX (MESSAGES 2 UNSEEN 1)\r\n\
             * LIST (\\Noselect \\HasChildren) \"/\" bar\r\n\
             * LIST (\\HasNoChildren) \"/\" foo\r\n\
             * STATUS foo (MESSAGES 1 UNSEEN 1)\r\n"
        );
        // Example A02: foo is listed for its subscribed child only, so it
        // gets no STATUS.
        subscribe(&mut s, &["INBOX", "bar/x"]);
        assert_eq!(
            ok(
                &mut s,
                "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (STATUS (MESSAGES))"
            ),
            "* LIST (\\Subscribed \\HasNoChildren) \"/\" INBOX\r\n\
             * STATUS INBOX (MESSAGES 2)\r\n\
             * LIST (\\Noselect \\HasChildren) \"/\" bar (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
        // rfc8438 3: SIZE through LIST-STATUS; two STATUS options are one.
        assert_eq!(
            ok(
                &mut s,
                "LIST \"\" (INBOX foo) RETURN (STATUS (MESSAGES) STATUS (SIZE MESSAGES))"
            ),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * STATUS INBOX (MESSAGES 2 SIZE 44)\r\n\
             * LIST (\\HasNoChildren) \"/\" foo\r\n\
             * STATUS foo (MESSAGES 1 SIZE 22)\r\n"
        );
    }

    #[test]
    fn list_status_of_the_selected_mailbox_and_highestmodseq() {
        let (mut s, _dir) = store_session();
        ok(&mut s, "SELECT INBOX");
        assert!(!s.condstore());
        // The selected mailbox is reported as this session sees it, and
        // HIGHESTMODSEQ is a CONDSTORE enabling command (rfc7162 3.1).
        let out = ok(
            &mut s,
            "LIST \"\" INBOX RETURN (STATUS (HIGHESTMODSEQ RECENT))",
        );
        assert_eq!(
            out,
            "* OK [HIGHESTMODSEQ 1] Ok\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * STATUS INBOX (HIGHESTMODSEQ 1 RECENT 0)\r\n"
        );
        assert!(s.condstore());
    }

    /// rfc6154 5's mailboxes: SentMail, MyDrafts and Trash have uses.
    fn special(settings: Settings) -> (Session, tempfile::TempDir) {
        let (mut s, dir) = with_store(settings);
        create(&mut s, &["ToDo", "Projects/Plans"]);
        ok(&mut s, "CREATE SentMail (USE (\\Sent))");
        ok(&mut s, "CREATE MyDrafts (USE (\\Drafts))");
        ok(&mut s, "CREATE Trash (USE (\\Trash))");
        (s, dir)
    }

    #[test]
    fn rfc6154_special_use_on_every_list() {
        let (mut s, _dir) = special(settings());
        // 5.1: on a plain LIST too (specialusealways, Cyrus's default).
        let all = "* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
                   * LIST (\\HasNoChildren \\Drafts) \"/\" MyDrafts\r\n\
                   * LIST (\\HasChildren) \"/\" Projects\r\n\
                   * LIST (\\HasNoChildren \\Sent) \"/\" SentMail\r\n\
                   * LIST (\\HasNoChildren) \"/\" ToDo\r\n\
                   * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n";
        assert_eq!(ok(&mut s, "LIST \"\" \"%\""), all);
        // 5.2: the return option, and the selection option.
        assert_eq!(ok(&mut s, "LIST \"\" \"%\" RETURN (SPECIAL-USE)"), all);
        assert_eq!(
            ok(&mut s, "LIST (SPECIAL-USE) \"\" \"*\""),
            "* LIST (\\HasNoChildren \\Drafts) \"/\" MyDrafts\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" SentMail\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n"
        );
        // With SUBSCRIBED: both criteria (rfc5258 3).
        subscribe(&mut s, &["Trash", "ToDo"]);
        assert_eq!(
            ok(&mut s, "LIST (SPECIAL-USE SUBSCRIBED) \"\" \"*\""),
            "* LIST (\\Subscribed \\HasNoChildren \\Trash) \"/\" Trash\r\n"
        );
    }

    #[test]
    fn specialusealways_off_asks_for_the_return_option() {
        let (mut s, _dir) = special(Settings {
            options: vec![("specialusealways".into(), "0".into())],
            ..settings()
        });
        assert_eq!(
            ok(&mut s, "LIST \"\" \"S*\""),
            "* LIST (\\HasNoChildren) \"/\" SentMail\r\n"
        );
        assert_eq!(
            ok(&mut s, "LIST \"\" \"S*\" RETURN (SPECIAL-USE)"),
            "* LIST (\\HasNoChildren \\Sent) \"/\" SentMail\r\n"
        );
        assert_eq!(
            ok(&mut s, "LIST (SPECIAL-USE) \"\" \"*\""),
            "* LIST (\\HasNoChildren \\Drafts) \"/\" MyDrafts\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" SentMail\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n"
        );
    }

    #[test]
    fn special_uses_follow_rename_and_go_with_delete() {
        let (mut s, _dir) = special(settings());
        ok(&mut s, "RENAME SentMail Archive/Sent");
        ok(&mut s, "CREATE Projects/Old (USE (\\Archive))");
        ok(&mut s, "RENAME Projects Attic");
        assert_eq!(
            ok(&mut s, "LIST (SPECIAL-USE) \"\" *"),
            "* LIST (\\HasNoChildren \\Sent) \"/\" Archive/Sent\r\n\
             * LIST (\\HasNoChildren \\Archive) \"/\" Attic/Old\r\n\
             * LIST (\\HasNoChildren \\Drafts) \"/\" MyDrafts\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n"
        );
        ok(&mut s, "DELETE Trash");
        ok(&mut s, "DELETE Archive");
        ok(&mut s, "CREATE Trash");
        assert_eq!(
            ok(&mut s, "LIST (SPECIAL-USE) \"\" *"),
            "* LIST (\\HasNoChildren \\Sent) \"/\" Archive/Sent\r\n\
             * LIST (\\HasNoChildren \\Archive) \"/\" Attic/Old\r\n\
             * LIST (\\HasNoChildren \\Drafts) \"/\" MyDrafts\r\n"
        );
    }

    #[test]
    fn bad_extended_lists() {
        let (mut s, _dir) = store_session();
        for (command, reply) in [
            // rfc5258 3.1: RECURSIVEMATCH alone (or with REMOTE) is BAD.
            (
                "LIST (RECURSIVEMATCH) \"\" *",
                "BAD Invalid combination of selection options in List",
            ),
            (
                "LIST (REMOTE RECURSIVEMATCH) \"\" *",
                "BAD Invalid combination of selection options in List",
            ),
            (
                "LIST (SPECIAL-USE RECURSIVEMATCH) \"\" *",
                "BAD Invalid combination of selection options in List",
            ),
            // rfc5258 3: unknown options are BAD.
            (
                "LIST (FOO) \"\" *",
                "BAD Invalid List selection option in List",
            ),
            (
                "LIST (METADATA (x)) \"\" *",
                "BAD Invalid List selection option in List",
            ),
            (
                "LIST \"\" * RETURN (FOO)",
                "BAD Invalid List return option in List",
            ),
            ("LIST \"\" * RETURN (STATUS ())", "BAD Empty list in List"),
            (
                "LIST \"\" * RETURN (STATUS (BOGUS))",
                "BAD Invalid Status attribute in List",
            ),
            ("LIST \"\" * RETURN (STATUS)", "BAD Missing space in List"),
            (
                "LIST \"\" * RETURN",
                "BAD Missing required argument to List",
            ),
            ("LIST \"\" * RETURN CHILDREN", "BAD Invalid list in List"),
            ("LIST \"\" * FOO", "BAD Unexpected extra arguments to List"),
            (
                "LIST \"\" * \"x\"",
                "BAD Unexpected extra arguments to List",
            ),
            ("LIST \"\" ()", "BAD Invalid mailbox pattern in List"),
            ("LIST \"\" (a", "BAD Invalid mailbox pattern in List"),
            (
                "LIST (SUBSCRIBED \"\" *",
                "BAD Invalid List selection option in List",
            ),
            (
                "LIST \"\" * RETURN (\\Foo)",
                "BAD Invalid List return option in List",
            ),
            ("LIST ()", "BAD Missing required argument to List"),
        ] {
            assert_eq!(
                run(&mut s, &format!("t {command}\r\n")).0,
                format!("t {reply}\r\n"),
                "{command}"
            );
        }
    }
}
