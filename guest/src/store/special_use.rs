//! Special uses of mailboxes (rfc6154 2): `\Sent`, `\Drafts`, ... kept per
//! user in one file at the root of the tree, `imapd.specialuse`, one line
//! per mailbox: the UTF-8 name, a TAB, the attributes separated by spaces
//! (`Sent\t\Sent`). Names hold no control characters ([`MailboxName`]), so
//! the TAB is unambiguous. The file is replaced as a whole (temporary file,
//! fsync, rename), like `subscriptions`; lines that do not parse and
//! attributes this guest does not know are skipped, so a newer guest's file
//! still reads.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::MailboxName;
use super::index;

pub const FILE: &str = "imapd.specialuse";

/// One rfc6154 2 special-use attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    /// Every attribute, in rfc6154 2's order.
    pub const EVERY: [SpecialUse; 7] = [
        SpecialUse::All,
        SpecialUse::Archive,
        SpecialUse::Drafts,
        SpecialUse::Flagged,
        SpecialUse::Junk,
        SpecialUse::Sent,
        SpecialUse::Trash,
    ];

    /// The attribute as LIST shows it: `\Sent`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// `\sent` or `\Sent` → `Sent` (attributes are case-insensitive, like
    /// flags, rfc3501 2.3.2); `None` for anything else.
    pub fn parse(text: &str) -> Option<SpecialUse> {
        Self::EVERY
            .into_iter()
            .find(|u| u.attribute().eq_ignore_ascii_case(text))
    }

    /// Cyrus's imapd.conf option naming the autocreated folder that gets
    /// this use (`xlist-<flag>`, imapd.conf(5) `xlist-flag`): `xlist-sent`.
    pub fn xlist_option(self) -> &'static str {
        match self {
            SpecialUse::All => "xlist-all",
            SpecialUse::Archive => "xlist-archive",
            SpecialUse::Drafts => "xlist-drafts",
            SpecialUse::Flagged => "xlist-flagged",
            SpecialUse::Junk => "xlist-junk",
            SpecialUse::Sent => "xlist-sent",
            SpecialUse::Trash => "xlist-trash",
        }
    }
}

/// Mailbox → its special uses (never empty), as the file holds them.
pub type SpecialUses = BTreeMap<MailboxName, Vec<SpecialUse>>;

/// Reads the file; a missing file is an empty map.
pub fn read(root: &Path) -> io::Result<SpecialUses> {
    let text = match fs::read_to_string(root.join(FILE)) {
        Ok(t) => t,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::InvalidData
            ) =>
        {
            return Ok(SpecialUses::new());
        }
        Err(e) => return Err(e),
    };
    let mut out = SpecialUses::new();
    for line in text.lines() {
        let Some((name, attributes)) = line.split_once('\t') else {
            continue;
        };
        let Ok(name) = MailboxName::new(name) else {
            continue;
        };
        let uses = normalized(attributes.split(' ').filter_map(SpecialUse::parse));
        if !uses.is_empty() {
            out.insert(name, uses);
        }
    }
    Ok(out)
}

/// Replaces the file with `uses` (crash-safe: temporary file and rename).
pub fn write(root: &Path, uses: &SpecialUses) -> io::Result<()> {
    let mut data = String::new();
    for (name, list) in uses {
        if list.is_empty() {
            continue;
        }
        data.push_str(name.as_str());
        data.push('\t');
        let attributes: Vec<&str> = list.iter().map(|u| u.attribute()).collect();
        data.push_str(&attributes.join(" "));
        data.push('\n');
    }
    index::write_atomically(&root.join(FILE), data.as_bytes())
}

/// Each use once, in the order first given.
pub fn normalized(uses: impl IntoIterator<Item = SpecialUse>) -> Vec<SpecialUse> {
    let mut out: Vec<SpecialUse> = Vec::new();
    for u in uses {
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MailStore, NoLocking};
    use std::rc::Rc;

    fn n(s: &str) -> MailboxName {
        MailboxName::new(s).unwrap()
    }

    #[test]
    fn attributes_parse_case_insensitively() {
        assert_eq!(SpecialUse::parse("\\Sent"), Some(SpecialUse::Sent));
        assert_eq!(SpecialUse::parse("\\tRaSh"), Some(SpecialUse::Trash));
        assert_eq!(SpecialUse::parse("Sent"), None);
        assert_eq!(SpecialUse::parse("\\Important"), None);
        for u in SpecialUse::EVERY {
            assert_eq!(SpecialUse::parse(u.attribute()), Some(u));
            assert_eq!(
                u.xlist_option(),
                format!("xlist-{}", u.attribute()[1..].to_ascii_lowercase())
            );
        }
    }

    #[test]
    fn file_round_trip_and_bad_lines() {
        let t = tempfile::tempdir().unwrap();
        assert!(read(t.path()).unwrap().is_empty());
        let mut uses = SpecialUses::new();
        uses.insert(n("Sent Items"), vec![SpecialUse::Sent]);
        uses.insert(
            n("Entw\u{fc}rfe/x"),
            vec![SpecialUse::Drafts, SpecialUse::Archive],
        );
        uses.insert(n("empty"), Vec::new());
        write(t.path(), &uses).unwrap();
        let text = fs::read_to_string(t.path().join(FILE)).unwrap();
        assert_eq!(
            text,
            "Entw\u{fc}rfe/x\t\\Drafts \\Archive\nSent Items\t\\Sent\n"
        );
        uses.remove(&n("empty"));
        assert_eq!(read(t.path()).unwrap(), uses);
        // A newer guest's attribute, a line without TAB, a bad name, a
        // line with nothing this guest knows: skipped.
        fs::write(
            t.path().join(FILE),
            "Junk\t\\Junk \\Important\nno tab\na//b\t\\Sent\nX\t\\Foo\n",
        )
        .unwrap();
        let read_back = read(t.path()).unwrap();
        assert_eq!(read_back.len(), 1);
        assert_eq!(read_back[&n("Junk")], vec![SpecialUse::Junk]);
    }

    fn store(root: &Path) -> MailStore {
        MailStore::open(root, Rc::new(NoLocking), &[]).unwrap()
    }

    #[test]
    fn uses_persist_move_with_rename_and_go_with_delete() {
        use SpecialUse::*;
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.create_with_uses(&n("A/Sent"), &[Sent, Sent]).unwrap();
        s.create_with_uses(&n("A/Old"), &[Archive]).unwrap();
        s.create_with_uses(&n("Bin"), &[Trash]).unwrap();
        // Another session (a new store on the same tree) sees them.
        let again = store(t.path());
        let uses = again.special_uses().unwrap();
        assert_eq!(uses.len(), 3);
        assert_eq!(uses[&n("A/Sent")], vec![Sent]);
        // RENAME moves the uses of the mailbox and of its inferiors.
        s.rename(&n("A"), &n("B/C")).unwrap();
        let uses = again.special_uses().unwrap();
        assert_eq!(uses[&n("B/C/Sent")], vec![Sent]);
        assert_eq!(uses[&n("B/C/Old")], vec![Archive]);
        assert!(!uses.contains_key(&n("A/Sent")));
        // DELETE of a mailbox with inferiors leaves a \Noselect name
        // without uses; the inferiors keep theirs.
        s.create_with_uses(&n("Bin/Sub"), &[Junk]).unwrap();
        s.delete(&n("Bin")).unwrap();
        let uses = again.special_uses().unwrap();
        assert!(!uses.contains_key(&n("Bin")));
        assert_eq!(uses[&n("Bin/Sub")], vec![Junk]);
        assert!(!read(t.path()).unwrap().contains_key(&n("Bin")));
        // Renaming INBOX moves its messages, not uses of its inferiors.
        s.create_with_uses(&n("INBOX/Kept"), &[Drafts]).unwrap();
        s.rename(&MailboxName::inbox(), &n("Old Inbox")).unwrap();
        let uses = again.special_uses().unwrap();
        assert_eq!(uses[&n("INBOX/Kept")], vec![Drafts]);
        assert!(!uses.contains_key(&n("Old Inbox")));
    }

    #[test]
    fn uses_of_a_mailbox_removed_behind_our_back_do_not_count() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.create_with_uses(&n("Sent"), &[SpecialUse::Sent]).unwrap();
        fs::remove_dir_all(t.path().join(".Sent")).unwrap();
        assert!(s.special_uses().unwrap().is_empty());
        assert_eq!(read(t.path()).unwrap().len(), 1);
        // A new mailbox of the name starts without them.
        s.create(&n("Sent")).unwrap();
        assert!(s.special_uses().unwrap().is_empty());
        assert!(read(t.path()).unwrap().is_empty());
    }

    #[test]
    fn autocreate_gives_xlist_uses_not_already_taken() {
        let t = tempfile::tempdir().unwrap();
        // A tree without INBOX whose Junk folder already is \Junk.
        fs::create_dir_all(t.path().join(".Junk/cur")).unwrap();
        let mut old = SpecialUses::new();
        old.insert(n("Junk"), vec![SpecialUse::Junk]);
        write(t.path(), &old).unwrap();
        let folders = ["Sent".to_string(), "Spam".to_string(), "Bin".to_string()];
        let uses = [
            ("Sent".to_string(), SpecialUse::Sent),
            ("Spam".to_string(), SpecialUse::Junk),
            ("Bin".to_string(), SpecialUse::Trash),
            ("Bin".to_string(), SpecialUse::Archive),
        ];
        let s = MailStore::open_with(t.path(), Rc::new(NoLocking), &folders, &uses).unwrap();
        let got = s.special_uses().unwrap();
        assert_eq!(got[&n("Sent")], vec![SpecialUse::Sent]);
        assert!(!got.contains_key(&n("Spam")));
        assert_eq!(got[&n("Junk")], vec![SpecialUse::Junk]);
        assert_eq!(got[&n("Bin")], vec![SpecialUse::Trash, SpecialUse::Archive]);
    }

    #[test]
    fn normalized_keeps_the_first_of_each() {
        use SpecialUse::*;
        assert_eq!(normalized([Sent, Drafts, Sent]), vec![Sent, Drafts]);
    }
}
