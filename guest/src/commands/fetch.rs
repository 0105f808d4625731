//! FETCH and UID FETCH (rfc3501 6.4.5, 6.4.8, 7.4.2; rfc3516 BINARY).
//!
//! Selected state only. Index data (FLAGS, UID, INTERNALDATE, RFC822.SIZE,
//! ENVELOPE, BODY, BODYSTRUCTURE) comes from the in-memory records, whose
//! ENVELOPE/BODYSTRUCTURE strings were rendered when the message entered
//! the store: a metadata FETCH opens no file. Everything else reads the
//! message file once per message into one buffer reused across messages.
//!
//! Replies follow Cyrus (imap/index.c `index_fetchreply`): items in a fixed
//! order, FLAGS first; a part that does not exist is `NIL`, empty data
//! `""`; a message whose file vanished gets `* OK Message n no longer
//! exists`; the tagged reply is `OK Completed`. rfc3501 7.4.1: no EXPUNGE
//! responses during FETCH (UID FETCH may have them).

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;

use super::Request;
use super::fetch_items::{
    FetchItems, Partial, parse_fetch_items, write_part_numbers, write_section_spec,
};
use super::qresync;
use super::sequence::MessageCommand;
use super::sequence::{Numbering, resolve};
use crate::mime::imap_string::downgrade_strings;
use crate::mime::section::{fetch_binary, fetch_section};
use crate::mime::{MimePart, PartKind, SectionError, parse_tree};
use crate::selected::Selected;
use crate::session::{Action, OUTBOX_HIGH_WATER, Outbox, Session};
use crate::store::cache::{CacheReader, SummaryView};
use crate::store::{FlagOperation, Flags, Mailbox, MessageRecord};
use crate::wire::parser::SyntaxError;

/// FETCH: `FETCH sequence-set (items)`.
pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    run(session, request, Numbering::Sequence)
}

/// FETCH or, after `UID`, UID FETCH (`numbering` says which).
pub fn run(
    session: &mut Session,
    request: &mut Request,
    numbering: Numbering,
) -> Result<Action, SyntaxError> {
    let command = MessageCommand::new("Fetch", "UID Fetch", numbering);
    request.args.sp()?;
    let set = request.args.sequence_set()?;
    request.args.sp()?;
    let mut items = match parse_fetch_items(&mut request.args, command.name()) {
        Ok(items) => items,
        Err(text) => {
            request.reply(session, &format!("BAD {text}"));
            return Ok(Action::None);
        }
    };
    // rfc9051 9 fetch-att has RFC822.SIZE but not RFC822, RFC822.HEADER
    // or RFC822.TEXT (Appendix E item 18): BAD in an IMAP4rev2 session.
    if session.rev2() && items.uses_rfc822_text() {
        let text = format!(
            "BAD RFC822, RFC822.HEADER and RFC822.TEXT are not IMAP4rev2 fetch items in {}",
            command.name()
        );
        request.reply(session, &text);
        return Ok(Action::None);
    }
    // rfc3501 6.4.8: UID FETCH always includes UID.
    if numbering == Numbering::Uid {
        items.uid = true;
    }
    if session.selected().is_none() {
        request.reply(session, "BAD Please select a mailbox first");
        return Ok(Action::None);
    }
    // rfc7162 3.2.6: VANISHED only in UID FETCH, once QRESYNC is enabled.
    if items.vanished && (numbering != Numbering::Uid || !session.qresync()) {
        let text = format!("BAD Invalid {} modifier VANISHED", command.name());
        request.reply(session, &text);
        return Ok(Action::None);
    }
    // rfc7162 3.1: MODSEQ and CHANGEDSINCE enable CONDSTORE; CHANGEDSINCE
    // implies MODSEQ (3.1.4.1).
    if items.modseq || items.changed_since.is_some() {
        session.enable_condstore();
    }
    items.modseq |= session.condstore();
    // rfc7162 3.2.4: a FETCH that sets \Seen shows UID too.
    if items.modseq && items.sets_seen() {
        items.uid = true;
    }
    let Some(selected) = session.selected_mut() else {
        return Ok(Action::None);
    };
    let mut positions = resolve(&set, selected.mailbox.records(), numbering)?;
    if let Some(since) = items.changed_since {
        let records = selected.mailbox.records();
        positions.retain(|&i| records.get(i).is_some_and(|r| r.modseq > since));
        if items.vanished {
            let mailbox = &selected.mailbox;
            let within = qresync::uid_ranges(&set, mailbox.uid_next());
            let gone = qresync::vanished(mailbox, since, &within);
            if !gone.is_empty() {
                let line = format!("* VANISHED (EARLIER) {}\r\n", qresync::format_ranges(&gone));
                session.write(line.as_bytes());
            }
        }
    }
    let Some(selected) = session.selected_mut() else {
        return Ok(Action::None);
    };
    let read_only = selected.read_only;
    // rfc4314 4: FETCH sets `\Seen` only with `s`.
    let no_seen = read_only || !selected.rights.contains(crate::store::acl::Rights::SEEN);
    let newly_seen = mark_seen(&mut selected.mailbox, no_seen, &positions, &items);
    let summaries = selected.mailbox.cache_reader();
    let shows_recent = !session.rev2();
    let utf8 = session.utf8();
    session.fetch_job = Some(FetchJob {
        tag: request.tag.as_str().to_string(),
        positions,
        next: 0,
        items,
        newly_seen,
        allows_expunge: command.allows_expunge(),
        summaries,
        raw: Vec::new(),
        shows_recent,
        utf8,
    });
    // The session runs the job (`resume`) before the next command.
    Ok(Action::None)
}

/// A FETCH in progress. Its responses go into the session's output a
/// message at a time, and the job pauses whenever the output is over the
/// high-water mark until the host has taken it (`pull`): a FETCH of any
/// size needs memory for one message, not for the whole response.
///
/// Jobs are not part of the session snapshot: the host snapshots only
/// between commands (STARTTLS, promotion, IDLE), never while a step says
/// there is more output.
pub struct FetchJob {
    tag: String,
    /// The messages (0-based positions, sequence order) and the next one.
    positions: Vec<usize>,
    next: usize,
    items: FetchItems,
    /// UIDs this FETCH set \Seen on: they show FLAGS (sorted).
    newly_seen: Vec<u32>,
    allows_expunge: bool,
    summaries: CacheReader,
    /// The current message file, when the items need it (reused buffer).
    raw: Vec<u8>,
    /// FLAGS may show \Recent (not once IMAP4rev2 is enabled: rfc9051
    /// Appendix E item 12).
    shows_recent: bool,
    /// ENVELOPE and BODYSTRUCTURE strings go out in UTF-8 as stored, not
    /// as encoded words ([`Session::utf8`], rfc6855 8).
    utf8: bool,
}

/// Continues `job` until it is done or the output is full; in the latter
/// case the job goes back into the session.
pub fn resume(session: &mut Session, mut job: FetchJob) {
    let result = match session.selected.as_mut() {
        Some(selected) => {
            let out = &mut session.outbox;
            write_responses(selected, &mut job, out)
        }
        None => Ok(()),
    };
    if result.is_ok() && job.next < job.positions.len() {
        session.fetch_job = Some(job);
        return;
    }
    session.report_updates(job.allows_expunge);
    match result {
        Ok(()) => session.tagged(&job.tag, "OK Completed"),
        // rfc3516 4.3 (the BINARY extension's response code).
        Err(FetchFailure::UnknownCte(cte)) => session.tagged(
            &job.tag,
            &format!("NO [UNKNOWN-CTE] Can't decode content-transfer-encoding {cte}"),
        ),
    }
}

/// Why a FETCH stopped before its last message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// BINARY of a part in an encoding we cannot decode (rfc3516 4.3).
    UnknownCte(String),
}

/// Sets \Seen first where the items require it (rfc3501 6.4.5), so FLAGS
/// shows it; returns the UIDs whose flags this changed (sorted): they get
/// FLAGS in their response even if not asked for.
fn mark_seen(
    mailbox: &mut Mailbox,
    read_only: bool,
    positions: &[usize],
    items: &FetchItems,
) -> Vec<u32> {
    if !items.sets_seen() || read_only || mailbox.is_read_only() {
        return Vec::new();
    }
    let unseen: Vec<u32> = positions
        .iter()
        .filter_map(|&i| mailbox.records().get(i))
        .filter(|r| !is_placeholder(r) && !r.flags.contains(Flags::SEEN))
        .map(|r| r.uid)
        .collect();
    if unseen.is_empty() {
        return Vec::new();
    }
    // A failure to record \Seen does not fail the FETCH (Cyrus logs and
    // carries on); the data is still sent.
    match mailbox.store_flags(&unseen, FlagOperation::Add, Flags::SEEN, &[], None) {
        Ok((changed, _)) => {
            let mut uids: Vec<u32> = changed.iter().map(|c| c.uid).collect();
            uids.sort_unstable();
            uids
        }
        Err(_) => Vec::new(),
    }
}

/// Writes `* n FETCH (...)` responses for the job's next messages until
/// they are all written or `out` is over the high-water mark.
fn write_responses(
    selected: &mut Selected,
    job: &mut FetchJob,
    out: &mut Outbox,
) -> Result<(), FetchFailure> {
    let Selected {
        mailbox,
        keywords,
        read_only,
        ..
    } = selected;
    while job.next < job.positions.len() && out.len() <= OUTBOX_HIGH_WATER {
        let position = job.positions[job.next];
        job.next += 1;
        let Some(record) = mailbox.records().get(position) else {
            continue;
        };
        let seq = position as u32 + 1;
        // Expunged by another session, not yet reported: nothing to send.
        if is_placeholder(record) {
            continue;
        }
        let items = &job.items;
        if items.reads_message() && read_file(mailbox, record, &mut job.raw).is_err() {
            out.push(format!("* OK Message {seq} no longer exists\r\n").as_bytes());
            continue;
        }
        let summary = if items.needs_summary() {
            match job.summaries.live_summary(record) {
                Some(s) => Some(s),
                None => {
                    // rfc2180 4.1.2, as for a file that vanished above.
                    out.push(format!("* OK Message {seq} no longer exists\r\n").as_bytes());
                    continue;
                }
            }
        } else {
            None
        };
        // PREVIEW and EMAILID of a message cached before they were: made
        // from the message now (PREVIEW (LAZY) is NIL instead, rfc8970 4.1).
        let from_file = summary.as_ref().and_then(|s| {
            let preview = items.preview == Some(false) && s.preview.is_none();
            let email_id = items.email_id && s.email_id.is_none();
            if !preview && !email_id {
                return None;
            }
            let mut raw = Vec::new();
            let _ = read_file(mailbox, record, &mut raw);
            Some(FromFile {
                preview: preview.then(|| crate::mime::preview_of(&raw)),
                email_id: crate::mime::email_id(&raw),
            })
        });
        let show_flags = items.flags || job.newly_seen.binary_search(&record.uid).is_ok();
        // rfc3501 7.2.6: a keyword this FETCH would show first (another
        // session's change caught up with while setting \Seen).
        if show_flags && let Some(flags) = keywords.announce(record, *read_only) {
            out.push(flags.as_bytes());
        }
        let message = MessageData {
            record,
            recent: job.shows_recent && mailbox.is_recent(record.uid),
            raw: &job.raw,
            summary,
            from_file,
            utf8: job.utf8,
        };
        let buf = out.buf_mut();
        let start = buf.len();
        if let Err(failure) = write_one(buf, seq, &message, items, show_flags) {
            buf.truncate(start);
            return Err(failure);
        }
    }
    Ok(())
}

/// Records kept only to hold a sequence number until its EXPUNGE is
/// reported (restored sessions) have no file.
fn is_placeholder(record: &MessageRecord) -> bool {
    record.file.is_empty()
}

/// The message file into `raw` (cleared first; its capacity is reused).
fn read_file(mailbox: &Mailbox, record: &MessageRecord, raw: &mut Vec<u8>) -> std::io::Result<()> {
    raw.clear();
    let mut file: File = mailbox.open_message(record)?;
    raw.reserve(record.size as usize);
    file.read_to_end(raw)?;
    Ok(())
}

struct MessageData<'a> {
    record: &'a MessageRecord,
    recent: bool,
    /// The message file, when the items need it.
    raw: &'a [u8],
    /// ENVELOPE, BODYSTRUCTURE, BODY and PREVIEW, when the items need them.
    summary: Option<SummaryView<'a>>,
    /// What its summary lacked, made from the message file.
    from_file: Option<FromFile>,
    /// See [`FetchJob::utf8`].
    utf8: bool,
}

/// Summary items of a message cached before they were kept.
struct FromFile {
    preview: Option<String>,
    email_id: String,
}

/// Starts each item: `(` before the first, SP before the others.
struct ItemList<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl ItemList<'_> {
    fn item(&mut self, name: &[u8]) -> &mut Vec<u8> {
        self.out.push(if self.first { b'(' } else { b' ' });
        self.first = false;
        self.out.extend_from_slice(name);
        self.out
    }
}

fn write_one<'a>(
    out: &mut Vec<u8>,
    seq: u32,
    message: &MessageData<'a>,
    items: &FetchItems,
    show_flags: bool,
) -> Result<(), FetchFailure> {
    let record = message.record;
    let raw = message.raw;
    out.extend_from_slice(b"* ");
    push_number(out, u64::from(seq));
    out.extend_from_slice(b" FETCH ");
    let mut list = ItemList { out, first: true };
    if show_flags {
        let out = list.item(b"FLAGS ");
        write_flags(out, record, message.recent);
    }
    if items.uid {
        let out = list.item(b"UID ");
        push_number(out, u64::from(record.uid));
    }
    if items.modseq {
        // rfc7162 3.1.4.2
        let out = list.item(b"MODSEQ (");
        push_number(out, record.modseq);
        out.push(b')');
    }
    if items.internal_date {
        let out = list.item(b"INTERNALDATE ");
        super::dates::write_date_time(out, record.internal_date, record.tz_offset_minutes);
    }
    if items.rfc822_size {
        let out = list.item(b"RFC822.SIZE ");
        push_number(out, record.size);
    }
    if let Some(summary) = &message.summary {
        // rfc6855 8: 8-bit header text only to a client that enabled UTF-8.
        let header_text = |data: &'a [u8]| -> Cow<'a, [u8]> {
            if message.utf8 {
                Cow::Borrowed(data)
            } else {
                downgrade_strings(data)
            }
        };
        if items.envelope {
            list.item(b"ENVELOPE ")
                .extend_from_slice(&header_text(summary.envelope));
        }
        if items.body_structure {
            list.item(b"BODYSTRUCTURE ")
                .extend_from_slice(&header_text(summary.body_structure));
        }
        if items.body {
            list.item(b"BODY ")
                .extend_from_slice(&header_text(summary.body));
        }
        if items.preview.is_some() {
            // rfc8970 3.2: a string, or NIL only under LAZY.
            let made = message
                .from_file
                .as_ref()
                .and_then(|f| f.preview.as_deref());
            let text = summary.preview.or(made);
            let out = list.item(b"PREVIEW ");
            match text {
                Some(t) => crate::mime::imap_string::write_string(out, t.as_bytes()),
                None if items.preview == Some(true) => out.extend_from_slice(b"NIL"),
                None => out.extend_from_slice(b"\"\""),
            }
        }
        if items.email_id {
            // rfc8474 5.1
            let made = message.from_file.as_ref().map(|f| f.email_id.as_str());
            let id = summary.email_id.or(made).unwrap_or_default();
            let out = list.item(b"EMAILID (");
            out.extend_from_slice(id.as_bytes());
            out.push(b')');
        }
    }
    if items.thread_id {
        // rfc8474 5.2: NIL, the server does not thread messages.
        list.item(b"THREADID NIL");
    }
    if items.save_date {
        // rfc8514 4.2, in UTC; a message stored before save dates were
        // kept shows its INTERNALDATE.
        let out = list.item(b"SAVEDATE ");
        match record.save_date {
            0 => super::dates::write_date_time(out, record.internal_date, record.tz_offset_minutes),
            d => super::dates::write_date_time(out, d, 0),
        }
    }
    let header_end = if items.reads_message() {
        crate::mime::part::find_header_end(raw)
    } else {
        0
    };
    if items.rfc822_header {
        write_literal(list.item(b"RFC822.HEADER "), &raw[..header_end]);
    }
    if items.rfc822_text {
        write_literal(list.item(b"RFC822.TEXT "), &raw[header_end..]);
    }
    if items.rfc822 {
        write_literal(list.item(b"RFC822 "), raw);
    }
    // The MIME tree, parsed once if some section needs part numbers.
    let mut tree: Option<MimePart> = None;
    let top_level = MimePart {
        header: 0..header_end,
        body: header_end..raw.len(),
        kind: PartKind::Leaf,
    };
    for wanted in &items.sections {
        let out = list.item(b"BODY[");
        write_section_spec(out, &wanted.section);
        out.push(b']');
        write_origin(out, wanted.partial);
        out.push(b' ');
        let root = if wanted.section.parts.is_empty() {
            &top_level
        } else {
            tree.get_or_insert_with(|| parse_tree(raw))
        };
        match fetch_section(raw, root, &wanted.section) {
            Ok(data) => write_literal(out, clip(data.bytes(raw), wanted.partial)),
            Err(_) => out.extend_from_slice(b"NIL"),
        }
    }
    for wanted in &items.binaries {
        let out = list.item(b"BINARY[");
        write_part_numbers(out, &wanted.parts);
        out.push(b']');
        write_origin(out, wanted.partial);
        out.push(b' ');
        let root = tree.get_or_insert_with(|| parse_tree(raw));
        match fetch_binary(raw, root, &wanted.parts) {
            Ok(data) => write_literal8(out, clip(&data, wanted.partial)),
            Err(SectionError::UnknownCte(cte)) => return Err(FetchFailure::UnknownCte(cte.0)),
            Err(_) => out.extend_from_slice(b"NIL"),
        }
    }
    for parts in &items.binary_sizes {
        let out = list.item(b"BINARY.SIZE[");
        write_part_numbers(out, parts);
        out.extend_from_slice(b"] ");
        let root = tree.get_or_insert_with(|| parse_tree(raw));
        match fetch_binary(raw, root, parts) {
            Ok(data) => push_number(out, data.len() as u64),
            Err(SectionError::UnknownCte(cte)) => return Err(FetchFailure::UnknownCte(cte.0)),
            // rfc3516 4.2 gives no NIL form: a missing part has no octets.
            Err(_) => out.push(b'0'),
        }
    }
    if list.first {
        // Only possible for an empty item set, which does not parse; keep
        // the response well-formed regardless.
        out.push(b'(');
    }
    out.extend_from_slice(b")\r\n");
    Ok(())
}

/// `FLAGS` list in Cyrus's order (imap/index.c `index_fetchflags`):
/// `\Recent`, the system flags, then keywords. The one rendering of a
/// FLAGS list: FETCH, STORE's FETCH responses and the unsolicited FETCH
/// FLAGS of a mailbox update (rfc3501 7.4.2) all use it.
pub fn write_flags(out: &mut Vec<u8>, record: &MessageRecord, recent: bool) {
    out.push(b'(');
    let mut first = true;
    let mut push = |out: &mut Vec<u8>, name: &[u8]| {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(name);
    };
    if recent {
        push(out, b"\\Recent");
    }
    for name in record.flags.names() {
        push(out, name.as_bytes());
    }
    for keyword in record.keywords.iter() {
        push(out, keyword.as_bytes());
    }
    out.push(b')');
}

/// `<origin>` after a section name when the client asked for a partial
/// (rfc3501 7.4.2: "BODY[<section>]<<origin octet>>").
fn write_origin(out: &mut Vec<u8>, partial: Option<Partial>) {
    if let Some(partial) = partial {
        out.push(b'<');
        push_number(out, u64::from(partial.origin));
        out.push(b'>');
    }
}

/// The octets a partial names (rfc3501 6.4.5): empty when the origin is
/// past the end, truncated at the end.
/// `data` cut to `partial` (rfc3501 6.4.5 `<origin.count>`).
pub(crate) fn clip(data: &[u8], partial: Option<Partial>) -> &[u8] {
    let Some(partial) = partial else { return data };
    let start = (partial.origin as usize).min(data.len());
    let end = start.saturating_add(partial.count as usize).min(data.len());
    &data[start..end]
}

/// Data as a literal; `""` when empty (as Cyrus sends it).
fn write_literal(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        out.extend_from_slice(b"\"\"");
        return;
    }
    out.push(b'{');
    push_number(out, data.len() as u64);
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(data);
}

/// rfc3516 4.3: decoded content with a NUL goes out as a literal8.
fn write_literal8(out: &mut Vec<u8>, data: &[u8]) {
    if data.contains(&0) {
        out.push(b'~');
    }
    write_literal(out, data);
}

/// Decimal digits without a temporary String.
pub(crate) fn push_number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::super::message_testing::*;

    /// A FETCH bigger than the output high-water mark comes out a piece at
    /// a time as the host pulls, with never more than the mark plus one
    /// message's response queued, and what was pipelined after it runs
    /// after it.
    #[test]
    fn large_fetch_streams_through_pull() {
        use crate::session::OUTBOX_HIGH_WATER;
        let big = format!(
            "Subject: big\r\n\r\n{}",
            "0123456789abcdef\r\n".repeat(12_000)
        );
        let messages: Vec<&str> = std::iter::repeat_n(big.as_str(), 8).collect();
        let (mut s, _dir) = selected_with(&messages, false);
        let mut step = s.feed(b"a FETCH 1:* BODY.PEEK[]\r\nb NOOP\r\n");
        let mut out = Vec::new();
        loop {
            assert!(s.outbox.len() <= OUTBOX_HIGH_WATER + big.len() + 100);
            out.extend_from_slice(&step.output);
            if !step.more {
                break;
            }
            step = s.pull(64 << 10);
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches(&big).count(), 8);
        let a = text.find("a OK Completed").unwrap();
        let b = text.find("b OK").unwrap();
        assert!(a < b && text.ends_with("\r\n"));
    }

    #[test]
    fn metadata_from_the_index() {
        let (mut s, _dir) = selected();
        assert_eq!(
            command(&mut s, "a FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)"),
            format!(
                "* 1 FETCH (FLAGS (\\Recent) UID 1 INTERNALDATE \"14-Nov-2023 23:13:20 +0100\" \
                 RFC822.SIZE {})\r\na OK Completed\r\n",
                PLAIN.len()
            )
        );
        let out = command(&mut s, "b FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY)");
        assert!(out.starts_with(
            "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700\" \
             \"IMAP4rev1 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \
             \"cac.washington.edu\"))"
        ));
        assert!(out.contains(" BODYSTRUCTURE ((\"TEXT\" \"PLAIN\""));
        assert!(out.ends_with(")\r\nb OK Completed\r\n"));
        assert_eq!(out.matches(" FETCH (").count(), 2);
    }

    #[test]
    fn macros_and_uid_fetch() {
        let (mut s, _dir) = selected();
        let fast = command(&mut s, "a FETCH 2 FAST");
        assert!(fast.starts_with("* 2 FETCH (FLAGS (\\Recent) INTERNALDATE \"15-Nov-2023"));
        assert!(fast.contains(" RFC822.SIZE "));
        // rfc3501 6.4.8: UID FETCH always includes UID.
        assert_eq!(
            command(&mut s, "b UID FETCH 2 FLAGS"),
            "* 2 FETCH (FLAGS (\\Recent) UID 2)\r\nb OK Completed\r\n"
        );
        // rfc3501 6.4.8: `3:*` names the highest UID even when it is below 3.
        assert_eq!(
            command(&mut s, "c UID FETCH 3:* FLAGS"),
            "* 2 FETCH (FLAGS (\\Recent) UID 2)\r\nc OK Completed\r\n"
        );
        // UIDs that name nothing are not an error.
        assert_eq!(
            command(&mut s, "d UID FETCH 3:99 FLAGS"),
            "d OK Completed\r\n"
        );
    }

    /// rfc3501 6.4.5: `FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])`.
    #[test]
    fn rfc3501_header_fields_example_sets_seen() {
        let (mut s, _dir) = selected_with(&[PLAIN], false);
        let fields = "Date: Wed, 17 Jul 1996 02:23:25 -0700\r\n\
                      From: Terry Gray <gray@cac.washington.edu>\r\n\r\n";
        assert_eq!(
            command(
                &mut s,
                "a654 FETCH 1 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])"
            ),
            format!(
                "* 1 FETCH (FLAGS (\\Recent \\Seen) BODY[HEADER.FIELDS (DATE FROM)] {{{}}}\r\n\
                 {fields})\r\na654 OK Completed\r\n",
                fields.len()
            )
        );
    }

    #[test]
    fn peek_partial_and_implicit_flags() {
        let (mut s, _dir) = selected_with(&[PLAIN], false);
        assert_eq!(
            command(&mut s, "a FETCH 1 BODY.PEEK[]<0.4>"),
            "* 1 FETCH (BODY[]<0> {4}\r\nDate)\r\na OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "b FETCH 1 BODY.PEEK[TEXT]<1000.5>"),
            "* 1 FETCH (BODY[TEXT]<1000> \"\")\r\nb OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "c FETCH 1 FLAGS"),
            "* 1 FETCH (FLAGS (\\Recent))\r\nc OK Completed\r\n"
        );
        // Non-peek: \Seen is set and FLAGS comes along unasked.
        let body = "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
        assert_eq!(
            command(&mut s, "d FETCH 1 RFC822.TEXT"),
            format!(
                "* 1 FETCH (FLAGS (\\Recent \\Seen) RFC822.TEXT {{{}}}\r\n{body})\r\nd OK Completed\r\n",
                body.len()
            )
        );
        // Already seen: no FLAGS the second time.
        assert_eq!(
            command(&mut s, "e FETCH 1 BODY[1]"),
            format!(
                "* 1 FETCH (BODY[1] {{{}}}\r\n{body})\r\ne OK Completed\r\n",
                body.len()
            )
        );
        let whole = command(&mut s, "f FETCH 1 (RFC822.HEADER RFC822)");
        let header_len = PLAIN.find("\r\n\r\n").unwrap() + 4;
        assert_eq!(
            whole,
            format!(
                "* 1 FETCH (RFC822.HEADER {{{header_len}}}\r\n{} RFC822 {{{}}}\r\n{PLAIN})\r\n\
                 f OK Completed\r\n",
                &PLAIN[..header_len],
                PLAIN.len()
            )
        );
    }

    #[test]
    fn read_only_fetch_does_not_set_seen() {
        let (mut s, _dir) = selected_with(&[PLAIN], true);
        let out = command(&mut s, "a FETCH 1 (BODY[HEADER] FLAGS)");
        // The message was never selected read-write: EXAMINE shows it \Recent.
        assert!(
            out.starts_with("* 1 FETCH (FLAGS (\\Recent) BODY[HEADER] {"),
            "{out}"
        );
    }

    #[test]
    fn parts_mime_and_binary() {
        let (mut s, _dir) = selected();
        assert_eq!(
            command(
                &mut s,
                "a FETCH 2 (BODY.PEEK[2.MIME] BODY.PEEK[4] BODY.PEEK[1.HEADER])"
            ),
            "* 2 FETCH (BODY[2.MIME] {77}\r\nContent-Type: application/octet-stream\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n BODY[4] NIL BODY[1.HEADER] NIL)\r\n\
             a OK Completed\r\n"
        );
        // rfc3516 4.3: decoded data with a NUL goes out as literal8.
        assert_eq!(
            command(
                &mut s,
                "b FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1]<0.5>)"
            ),
            "* 2 FETCH (BINARY[2] ~{4}\r\n\x00\x01\x02\x03 BINARY[1]<0> {5}\r\nLunch \
             BINARY.SIZE[2] 4)\r\nb OK Completed\r\n"
        );
        assert_eq!(
            command(&mut s, "c FETCH 2 BINARY.PEEK[3]"),
            "c NO [UNKNOWN-CTE] Can't decode content-transfer-encoding x-custom\r\n"
        );
    }

    #[test]
    fn bad_requests() {
        let (mut s, _dir) = selected();
        assert_eq!(
            command(&mut s, "a FETCH 3 FLAGS"),
            "a BAD Invalid sequence in Fetch\r\n"
        );
        assert_eq!(
            command(&mut s, "a FETCH 0 FLAGS"),
            "a BAD Invalid sequence in Fetch\r\n"
        );
        assert_eq!(
            command(&mut s, "b FETCH 1 FOO"),
            "b BAD Invalid Fetch attribute FOO\r\n"
        );
        assert_eq!(
            command(&mut s, "c UID FETCH 1 (FLAGS"),
            "c BAD Missing close parenthesis in UID Fetch\r\n"
        );
        assert_eq!(
            command(&mut s, "d FETCH 1"),
            "d BAD Missing required argument to Fetch\r\n"
        );
        assert_eq!(
            command(&mut s, "e UID FETCH x FLAGS"),
            "e BAD Invalid sequence in Uid\r\n"
        );
    }

    #[test]
    fn not_in_authenticated_state() {
        let (mut s, _dir) = super::super::testing::store_session();
        assert_eq!(
            command(&mut s, "a FETCH 1 FLAGS"),
            "a BAD Please select a mailbox first\r\n"
        );
    }
}

/// `cargo test -p guest --release fetch_bench_10k -- --ignored --nocapture`
#[cfg(test)]
mod bench {
    use std::time::Instant;

    use super::super::message_testing::*;
    use crate::store::{AppendMessage, Flags, MailboxName};

    #[test]
    #[ignore]
    fn fetch_bench_10k() {
        let (mut s, _dir) = selected_with(&[], false);
        let inbox = MailboxName::inbox();
        let batch: Vec<AppendMessage> = (0..10_000)
            .map(|i| AppendMessage {
                data: format!(
                    "{MULTIPART}\r\n{}",
                    "filler line of body text\r\n".repeat(i % 40)
                )
                .replace("plans", &format!("plans {i}"))
                .into_bytes(),
                flags: Flags::default(),
                keywords: Vec::new(),
                internal_date: Some(internal_date(i)),
            })
            .collect();
        s.mail_store().unwrap().append(&inbox, batch).unwrap();
        command(&mut s, "n NOOP");
        let mut time = |line: &str| {
            let start = Instant::now();
            let out = command(&mut s, line);
            let elapsed = start.elapsed().as_secs_f64();
            assert!(
                out.ends_with("OK Completed\r\n"),
                "{line}: {}",
                &out[out.len() - 80..]
            );
            println!(
                "{line}: {elapsed:.4} s, {} bytes, {:.0} MB/s",
                out.len(),
                out.len() as f64 / elapsed / 1e6
            );
        };
        time("a FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)");
        time("b FETCH 1:* BODYSTRUCTURE");
        time("c FETCH 1:* BODY.PEEK[]");
        time("d UID SEARCH SUBJECT \"plans 9999\"");
        time("e SEARCH TEXT \"plans 9999\"");
        time("f FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])");
    }
}
