//! The selected state (rfc3501 3, 6.3.1): the open mailbox and what the
//! client has been told about it, and the untagged updates that keep the
//! client's view in step with the mailbox (rfc3501 7.3.1, 7.4.1).
//!
//! Sequence numbers: the session's [`Mailbox`] holds the client's view.
//! Nothing shifts in it until the session reports the change: messages
//! expunged by other sessions stay (as placeholders, when restored from a
//! snapshot) until `* n EXPUNGE` is sent.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::store::{Mailbox, MailboxView, MessageRecord};

/// The system flags, in Cyrus's order (rfc3501 2.3.2).
const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Draft \\Deleted \\Seen";

/// The selected mailbox of a session.
pub struct Selected {
    pub mailbox: Mailbox,
    /// EXAMINE, or SELECT of a mailbox we may not write (rfc3501 6.3.2).
    pub read_only: bool,
    /// The RECENT count last reported.
    pub reported_recent: u32,
    /// The keywords the client was told of in `* FLAGS`.
    pub keywords: KeywordsTold,
    /// rfc5182 2.1: the search result variable `$`, as UIDs (ascending):
    /// set by `SEARCH RETURN (SAVE)`, empty after SELECT and EXAMINE (a new
    /// `Selected`). Messages expunged since drop out by themselves (UIDs are
    /// never reused); a new UIDVALIDITY ends the session.
    pub saved_result: Rc<[u32]>,
    /// The session's rights on the mailbox (rfc4314), as when selected:
    /// what STORE, EXPUNGE, MOVE and FETCH's implicit `\Seen` may do.
    pub rights: crate::store::acl::Rights,
}

impl Selected {
    /// A newly selected mailbox: its FLAGS will list every keyword in use.
    pub fn new(mailbox: Mailbox, read_only: bool) -> Selected {
        let reported_recent = mailbox.recent_count();
        let mut keywords = KeywordsTold::default();
        keywords.learn_all(mailbox.records());
        Selected {
            mailbox,
            read_only,
            reported_recent,
            keywords,
            saved_result: Rc::from([]),
            rights: crate::store::acl::Rights::ALL,
        }
    }

    /// `* FLAGS` and `* OK [PERMANENTFLAGS]` as SELECT sends them.
    pub fn flags_responses(&self) -> String {
        self.keywords.responses(self.read_only)
    }

    /// What the snapshot carries.
    pub fn snapshot(&self) -> SelectedSnapshot {
        let view = self.mailbox.view();
        SelectedSnapshot {
            mailbox: self.mailbox.name().as_str().to_string(),
            read_only: self.read_only,
            reported_recent: self.reported_recent,
            uidvalidity: view.uidvalidity,
            uids: format_uid_set(&view.uids),
            recent: format_uid_set(&view.recent),
            flags_changed: format_uid_set(&view.flags_changed),
            highest_modseq: view.highest_modseq,
            reported_exists: view.reported_exists,
            keywords: Some(self.keywords.names.clone()),
            saved_result: saved_result_snapshot(&self.saved_result, &view.uids),
        }
    }
}

/// The saved result as a snapshot writes it: the UIDs still in the view
/// (`view_uids` ascends), `None` when that is none.
fn saved_result_snapshot(saved: &[u32], view_uids: &[u32]) -> Option<String> {
    let kept: Vec<u32> = saved
        .iter()
        .copied()
        .filter(|uid| view_uids.binary_search(uid).is_ok())
        .collect();
    (!kept.is_empty()).then(|| format_uid_set(&kept))
}

/// The keywords a session has announced in `* FLAGS` (rfc3501 7.2.6,
/// rfc9051 7.3.5): a client learns the mailbox's flags from FLAGS, so a
/// keyword must be listed there before any `FETCH (FLAGS ...)` shows it.
/// When another session (or this one) introduces a keyword, FLAGS and
/// PERMANENTFLAGS are sent again first, as Cyrus does. The list only
/// grows while the mailbox stays selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeywordsTold {
    /// In the order they were learned (sorted at SELECT).
    names: Vec<String>,
}

impl KeywordsTold {
    /// Learns every keyword of `records`; true if one was new.
    pub fn learn_all(&mut self, records: &[MessageRecord]) -> bool {
        let mut all: Vec<&str> = records
            .iter()
            .flat_map(|r| r.keywords.iter().map(String::as_str))
            .collect();
        all.sort_unstable();
        all.dedup();
        let mut new = false;
        for k in all {
            new |= self.learn_one(k);
        }
        new
    }

    /// What a snapshot recorded; `None` (an older snapshot): nothing, so
    /// any keyword is announced again before it is shown.
    pub fn from_snapshot(names: Option<&[String]>) -> KeywordsTold {
        KeywordsTold {
            names: names.map(<[String]>::to_vec).unwrap_or_default(),
        }
    }

    fn learn_one(&mut self, keyword: &str) -> bool {
        // Keywords are case-insensitive (rfc3501 2.3.2).
        if self.names.iter().any(|n| n.eq_ignore_ascii_case(keyword)) {
            return false;
        }
        self.names.push(keyword.to_string());
        true
    }

    /// Learns `keywords`; true if one of them was new to the client.
    pub fn learn(&mut self, keywords: &[String]) -> bool {
        let mut new = false;
        for k in keywords {
            new |= self.learn_one(k);
        }
        new
    }

    /// The FLAGS and PERMANENTFLAGS responses listing what is known.
    pub fn responses(&self, read_only: bool) -> String {
        let mut flags = SYSTEM_FLAGS.to_string();
        for k in &self.names {
            flags.push(' ');
            flags.push_str(k);
        }
        let mut out = format!("* FLAGS ({flags})\r\n");
        // rfc3501 7.1: an empty PERMANENTFLAGS list for a read-only mailbox;
        // `\*`: clients may create keywords.
        if read_only {
            out += "* OK [PERMANENTFLAGS ()] Ok\r\n";
        } else {
            out += &format!("* OK [PERMANENTFLAGS ({flags} \\*)] Ok\r\n");
        }
        out
    }

    /// Learns the keywords of `record`; if one was new, the responses
    /// announcing it (to send before anything shows the record's flags).
    pub fn announce(&mut self, record: &MessageRecord, read_only: bool) -> Option<String> {
        self.learn(&record.keywords)
            .then(|| self.responses(read_only))
    }
}

/// The selected mailbox in a session snapshot. UID lists are written as
/// rfc3501 sequence sets (`1:40,42`) to keep the snapshot small.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectedSnapshot {
    /// The UTF-8 mailbox name.
    pub mailbox: String,
    pub read_only: bool,
    pub reported_recent: u32,
    pub uidvalidity: u32,
    pub uids: String,
    pub recent: String,
    pub flags_changed: String,
    pub highest_modseq: u64,
    pub reported_exists: u32,
    /// The keywords announced in FLAGS; `None` in snapshots written before
    /// they were kept (the client then hears FLAGS again for any keyword).
    pub keywords: Option<Vec<String>>,
    /// The saved search result `$` (rfc5182), as UIDs; `None` when empty,
    /// and in snapshots written before it was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_result: Option<String>,
}

/// At most this many UIDs are read back from a snapshot's UID sets
/// (a corrupt `1:4294967295` must not exhaust memory).
const MAX_SNAPSHOT_UIDS: usize = 10_000_000;

impl SelectedSnapshot {
    /// The view to resume, or `None` if the snapshot's sets are unreadable.
    pub fn view(&self) -> Option<MailboxView> {
        Some(MailboxView {
            uidvalidity: self.uidvalidity,
            uids: parse_uid_set(&self.uids)?,
            recent: parse_uid_set(&self.recent)?,
            flags_changed: parse_uid_set(&self.flags_changed)?,
            highest_modseq: self.highest_modseq,
            reported_exists: self.reported_exists,
        })
    }

    /// The saved search result to resume, or `None` if unreadable.
    pub fn saved_result(&self) -> Option<Rc<[u32]>> {
        let set = self.saved_result.as_deref().unwrap_or_default();
        parse_uid_set(set).map(Rc::from)
    }
}

/// Ascending UIDs as an rfc3501 sequence set (`1:3,7`); empty for none.
/// Unsorted input is sorted first (APPENDUID, COPYUID, the snapshot).
pub fn format_uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some(last) if last.1.checked_add(1) == Some(uid) => last.1 = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    format_ranges(&ranges)
}

/// Inclusive ranges, in the order given, as a sequence set (`1:3,7`).
pub fn format_ranges(ranges: &[(u32, u32)]) -> String {
    let mut out = String::new();
    for &(a, b) in ranges {
        if !out.is_empty() {
            out.push(',');
        }
        if a == b {
            out += &a.to_string();
        } else {
            out += &format!("{a}:{b}");
        }
    }
    out
}

/// The inverse of [`format_uid_set`]; `None` if malformed or too large.
fn parse_uid_set(set: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    if set.is_empty() {
        return Some(out);
    }
    for part in set.split(',') {
        let (first, last) = match part.split_once(':') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if first > last || (last - first) as usize >= MAX_SNAPSHOT_UIDS - out.len() {
            return None;
        }
        out.extend(first..=last);
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{run, second_session, store_session};
    use crate::session::{Env, Session, State};
    use crate::store::{AppendMessage, FlagOperation, Flags, MailboxName};

    fn message(text: &str) -> AppendMessage {
        AppendMessage {
            data: format!("Subject: {text}\r\n\r\n{text}\r\n").into_bytes(),
            flags: Flags::default(),
            keywords: Vec::new(),
            internal_date: None,
        }
    }

    fn select_inbox(session: &mut Session) {
        let inbox = MailboxName::inbox();
        let mailbox = session.mail_store().unwrap().select(&inbox).unwrap();
        session.enter_selected(Selected::new(mailbox, false));
        assert_eq!(session.state(), State::Selected);
    }

    fn updates(session: &mut Session, allow_expunge: bool) -> String {
        session.report_updates(allow_expunge);
        // A NOOP-free way to drain: feed nothing.
        let step = session.feed(b"");
        crate::commands::testing::drain(session, step).0
    }

    #[test]
    fn reports_other_sessions_changes() {
        let (mut a, dir) = store_session();
        let mut b = second_session(&dir);
        let inbox = MailboxName::inbox();
        b.mail_store()
            .unwrap()
            .append(&inbox, vec![message("1"), message("2"), message("3")])
            .unwrap();
        select_inbox(&mut a);
        assert_eq!(updates(&mut a, true), "");
        select_inbox(&mut b);
        // b deletes message 2 and sets \Seen on 3; a new message arrives.
        let mbox = &mut b.selected_mut().unwrap().mailbox;
        mbox.store_flags(&[2], FlagOperation::Add, Flags::DELETED, &[], None)
            .unwrap();
        mbox.store_flags(&[3], FlagOperation::Add, Flags::SEEN, &[], None)
            .unwrap();
        mbox.expunge(None).unwrap();
        b.mail_store()
            .unwrap()
            .append(&inbox, vec![message("4")])
            .unwrap();
        // After FETCH/STORE/SEARCH: no EXPUNGE, numbers unchanged (message 2
        // is still there for a, with its new flags).
        assert_eq!(
            updates(&mut a, false),
            "* 4 EXISTS\r\n* 4 RECENT\r\n* 2 FETCH (FLAGS (\\Recent \\Deleted))\r\n\
             * 3 FETCH (FLAGS (\\Recent \\Seen))\r\n"
        );
        assert_eq!(a.selected().unwrap().mailbox.exists(), 4);
        // Then where expunges are allowed.
        assert_eq!(
            updates(&mut a, true),
            "* 2 EXPUNGE\r\n* 3 EXISTS\r\n* 3 RECENT\r\n"
        );
        assert_eq!(updates(&mut a, true), "");
    }

    #[test]
    fn selected_mailbox_survives_snapshot() {
        let (mut a, dir) = store_session();
        let mut b = second_session(&dir);
        let inbox = MailboxName::inbox();
        b.mail_store()
            .unwrap()
            .append(&inbox, vec![message("1"), message("2"), message("3")])
            .unwrap();
        select_inbox(&mut a);
        let snapshot = a.snapshot();
        drop(a);
        // Meanwhile: message 1 expunged, message 3 flagged, a new one.
        select_inbox(&mut b);
        let mbox = &mut b.selected_mut().unwrap().mailbox;
        mbox.store_flags(&[1], FlagOperation::Add, Flags::DELETED, &[], None)
            .unwrap();
        mbox.store_flags(&[3], FlagOperation::Add, Flags::FLAGGED, &[], None)
            .unwrap();
        mbox.expunge(None).unwrap();
        b.mail_store()
            .unwrap()
            .append(&inbox, vec![message("4")])
            .unwrap();

        let env = Env {
            host: Box::new(crate::commands::testing::FakeHost::default()),
            mail_root: Some(dir.path().to_path_buf()),
        };
        let settings = crate::commands::testing::settings();
        let mut a = Session::restore(&snapshot, settings, env).unwrap();
        assert_eq!(a.state(), State::Selected);
        // The client still knows 3 messages; FETCH-time sync keeps them.
        assert_eq!(
            updates(&mut a, false),
            "* 4 EXISTS\r\n* 3 RECENT\r\n* 3 FETCH (FLAGS (\\Recent \\Flagged))\r\n"
        );
        assert_eq!(
            run(&mut a, "n NOOP\r\n").0,
            "* 1 EXPUNGE\r\n* 3 EXISTS\r\n* 3 RECENT\r\nn OK Completed\r\n"
        );
    }

    #[test]
    fn keywords_told_survive_a_snapshot_and_older_snapshots_restore() {
        let (mut a, dir) = store_session();
        let mut b = second_session(&dir);
        let inbox = MailboxName::inbox();
        let mut m = message("1");
        m.keywords = vec!["$old".into()];
        b.mail_store().unwrap().append(&inbox, vec![m]).unwrap();
        select_inbox(&mut a);
        select_inbox(&mut b);
        let snapshot = a.snapshot();
        assert!(snapshot.contains("\"keywords\":[\"$old\"]"), "{snapshot}");
        // The same snapshot as a guest before keyword tracking wrote it.
        let mut older: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
        older["selected"]
            .as_object_mut()
            .unwrap()
            .remove("keywords")
            .unwrap();
        let older = older.to_string();
        drop(a);
        let mbox = &mut b.selected_mut().unwrap().mailbox;
        mbox.store_flags(&[1], FlagOperation::Add, Flags::SEEN, &[], None)
            .unwrap();
        let restore = |json: &str| {
            let env = Env {
                host: Box::new(crate::commands::testing::FakeHost::default()),
                mail_root: Some(dir.path().to_path_buf()),
            };
            Session::restore(json, crate::commands::testing::settings(), env).unwrap()
        };
        let fetch = "* 1 FETCH (FLAGS (\\Recent \\Seen $old))\r\n";
        assert_eq!(updates(&mut restore(&snapshot), false), fetch);
        // Not knowing what the client was told, the older one tells again.
        assert_eq!(
            updates(&mut restore(&older), false),
            format!(
                "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $old)\r\n\
                 * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $old \\*)] Ok\r\n{fetch}"
            )
        );
    }

    #[test]
    fn vanished_mailbox_after_restore_ends_the_session() {
        let (mut a, dir) = store_session();
        a.mail_store()
            .unwrap()
            .create(&MailboxName::new("Trash").unwrap())
            .unwrap();
        let mailbox = a
            .mail_store()
            .unwrap()
            .select(&MailboxName::new("Trash").unwrap())
            .unwrap();
        a.enter_selected(Selected::new(mailbox, false));
        let snapshot = a.snapshot();
        a.mail_store()
            .unwrap()
            .delete(&MailboxName::new("Trash").unwrap())
            .unwrap();
        let env = Env {
            host: Box::new(crate::commands::testing::FakeHost::default()),
            mail_root: Some(dir.path().to_path_buf()),
        };
        let mut a = Session::restore(&snapshot, crate::commands::testing::settings(), env).unwrap();
        let (out, action) = run(&mut a, "");
        assert_eq!(out, "* BYE The selected mailbox is no longer available\r\n");
        assert_eq!(action, crate::session::Action::Close);
    }

    /// rfc5182: the saved result `$` survives a snapshot (hibernation),
    /// without the UIDs expunged meanwhile; older snapshots restore with
    /// an empty one, unreadable ones end the session.
    #[test]
    fn saved_result_survives_a_snapshot() {
        use crate::commands::message_testing::{PLAIN, command, selected_with};
        let (mut a, dir) = selected_with(&[PLAIN; 5], false);
        command(&mut a, "x STORE 2 +FLAGS.SILENT (\\Deleted)");
        command(&mut a, "s SEARCH RETURN (SAVE) 1:3,5");
        // Not yet in the snapshot: UIDs 1:3,5; then 2 is expunged.
        command(&mut a, "e EXPUNGE");
        let snapshot = a.snapshot();
        assert!(
            snapshot.contains("\"saved_result\":\"1,3,5\""),
            "{snapshot}"
        );
        drop(a);
        let restore = |json: &str| {
            let env = Env {
                host: Box::new(crate::commands::testing::FakeHost::default()),
                mail_root: Some(dir.path().to_path_buf()),
            };
            Session::restore(json, crate::commands::testing::settings(), env).unwrap()
        };
        let mut a = restore(&snapshot);
        assert_eq!(
            command(&mut a, "f FETCH $ (UID)"),
            "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 3)\r\n* 4 FETCH (UID 5)\r\nf OK Completed\r\n"
        );
        // Nothing saved: nothing written.
        command(&mut a, "s SEARCH RETURN (SAVE) KEYWORD none");
        assert!(!a.snapshot().contains("saved_result"));
        // Written before `$` was kept: restores with `$` empty.
        let mut older: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
        let selected = older["selected"].as_object_mut().unwrap();
        selected.remove("saved_result").unwrap();
        assert_eq!(
            command(&mut restore(&older.to_string()), "f FETCH $ (UID)"),
            "f OK Completed\r\n"
        );
        // Damaged: the session cannot go on as it was.
        older["selected"]["saved_result"] = "3:1".into();
        let (out, action) = run(&mut restore(&older.to_string()), "");
        assert_eq!(out, "* BYE The selected mailbox is no longer available\r\n");
        assert_eq!(action, crate::session::Action::Close);
    }

    #[test]
    fn uid_sets_round_trip() {
        assert_eq!(format_uid_set(&[]), "");
        assert_eq!(format_uid_set(&[5]), "5");
        assert_eq!(
            format_uid_set(&[3, 1, 2, 7, 9, 8, 4294967295]),
            "1:3,7:9,4294967295"
        );
        assert_eq!(
            parse_uid_set("1:3,7:9,4294967295").unwrap(),
            vec![1, 2, 3, 7, 8, 9, 4294967295]
        );
        assert_eq!(parse_uid_set("").unwrap(), Vec::<u32>::new());
        assert!(parse_uid_set("1:4294967295").is_none());
        assert!(parse_uid_set("3:1").is_none());
        assert!(parse_uid_set("x").is_none());
        assert!(parse_uid_set("1,,2").is_none());
    }
}
