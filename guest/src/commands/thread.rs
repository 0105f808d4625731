//! THREAD and UID THREAD (rfc5256 3 BASE.6.4.THREAD): the ORDEREDSUBJECT
//! and REFERENCES algorithms over the messages a search finds.
//!
//! ```text
//! thread          = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
//! thread-alg      = "ORDEREDSUBJECT" / "REFERENCES" / thread-alg-ext
//! thread-data     = "THREAD" [SP 1*thread-list]
//! thread-list     = "(" (thread-members / thread-nested) ")"
//! thread-members  = nz-number *(SP nz-number) [SP thread-nested]
//! thread-nested   = 2*thread-list
//! ```
//!
//! Subjects, Message-IDs, references and sent dates come from the
//! sort-key file (`store::sort_keys`), as for SORT; subjects compare as base
//! subjects (rfc5256 2.1) with i;unicode-casemap; sent dates tie by
//! sequence number (rfc5256 2.2). THREAD responses are not changed by a
//! MODSEQ key (rfc7162 3.1.9).

use std::collections::HashMap;

use super::Request;
use super::search::{refuse, search_mailbox};
use super::search_keys::{SearchError, in_grammar, parse_search_criteria};
use super::sequence::{MessageCommand, Numbering};
use super::sort::sort_keys_of;
use crate::mime::collation::casemap;
use crate::mime::sort_fields::base_subject;
use crate::session::{Action, Session};
use crate::store::Mailbox;
use crate::wire::parser::SyntaxError;

/// rfc5256 3 thread-alg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    OrderedSubject,
    References,
}

/// THREAD.
pub fn handle(session: &mut Session, request: &mut Request) -> Result<Action, SyntaxError> {
    run(session, request, Numbering::Sequence)
}

/// THREAD or UID THREAD.
pub fn run(
    session: &mut Session,
    request: &mut Request,
    numbering: Numbering,
) -> Result<Action, SyntaxError> {
    let command = MessageCommand::new("Thread", "UID Thread", numbering);
    request.args.sp()?;
    let missing = || SearchError::Bad(format!("Missing required argument to {}", command.name()));
    let rev2 = session.rev2();
    let parsed = (|| {
        let algorithm = match request.args.word().to_ascii_uppercase().as_slice() {
            b"ORDEREDSUBJECT" => Algorithm::OrderedSubject,
            b"REFERENCES" => Algorithm::References,
            b"" => return Err(missing()),
            _ => return Err(SearchError::Bad("Invalid Thread algorithm".into())),
        };
        let key = parse_search_criteria(&mut request.args, command.name())?;
        let key = in_grammar(key, rev2)?;
        Ok((algorithm, key))
    })();
    let (algorithm, key) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return refuse(session, request, error, false),
    };
    if key.uses_modseq() {
        // rfc7162 3.1: a CONDSTORE enabling command.
        session.enable_condstore();
    }
    let Some(selected) = session.selected() else {
        request.reply(session, "BAD Please select a mailbox first");
        return Ok(Action::None);
    };
    let mailbox = &selected.mailbox;
    let found = search_mailbox(mailbox, &key);
    let messages = thread_messages(mailbox, &found);
    let threads = match algorithm {
        Algorithm::OrderedSubject => ordered_subject(&messages),
        Algorithm::References => references(&messages),
    };
    let records = mailbox.records();
    let number = |position: usize| match numbering {
        Numbering::Sequence => position as u32 + 1,
        Numbering::Uid => records[position].uid,
    };
    let mut line = String::from("* THREAD");
    if !threads.is_empty() {
        line.push(' ');
    }
    for thread in &threads {
        write_thread(&mut line, thread, &number);
    }
    line += "\r\n";
    session.write(line.as_bytes());
    session.report_updates(command.allows_expunge());
    request.reply(session, "OK Completed");
    Ok(Action::None)
}

/// What threading needs of one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadMessage {
    /// Position in the mailbox (sequence number - 1): the tie-breaker.
    pub position: usize,
    /// Sent date (rfc5256 2.2), seconds since the epoch.
    pub sent: i64,
    /// The base subject, mapped with i;unicode-casemap.
    pub subject: String,
    /// Extracting the base subject removed a reply or forward marker.
    pub reply: bool,
    pub message_id: String,
    pub references: Vec<String>,
}

impl ThreadMessage {
    /// From the decoded subject and the other fields, as stored.
    pub fn new(
        position: usize,
        sent: i64,
        subject: &str,
        message_id: &str,
        references: Vec<String>,
    ) -> ThreadMessage {
        let (base, reply) = base_subject(subject);
        ThreadMessage {
            position,
            sent,
            subject: casemap(&base),
            reply,
            message_id: message_id.to_string(),
            references,
        }
    }
}

/// The messages at `found`, from the sort-key file ([`sort_keys_of`]).
pub(crate) fn thread_messages(mailbox: &Mailbox, found: &[usize]) -> Vec<ThreadMessage> {
    let records = mailbox.records();
    let keys = sort_keys_of(mailbox, found);
    found
        .iter()
        .map(|&position| {
            let entry = keys.get(records[position].uid).unwrap_or_default();
            ThreadMessage {
                position,
                sent: entry.sent,
                subject: entry.keys.subject.to_string(),
                reply: entry.reply,
                message_id: entry.keys.message_id.to_string(),
                references: entry.keys.references().map(str::to_string).collect(),
            }
        })
        .collect()
}

/// A thread: a message (a position) or a dummy (`None`), and its
/// children in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub message: Option<usize>,
    pub children: Vec<Thread>,
}

/// rfc5256 5 thread-list, for `thread`.
fn write_thread(out: &mut String, thread: &Thread, number: &impl Fn(usize) -> u32) {
    out.push('(');
    let mut node = thread;
    let mut first = true;
    // thread-members: a chain of single children.
    while let Some(position) = node.message {
        if !first {
            out.push(' ');
        }
        first = false;
        out.push_str(&number(position).to_string());
        match node.children.as_slice() {
            [only] => node = only,
            _ => break,
        }
    }
    // thread-nested: two or more lists (a dummy's children, or a split).
    if node.children.len() > 1 || node.message.is_none() {
        if !first {
            out.push(' ');
        }
        for child in &node.children {
            write_thread(out, child, number);
        }
    }
    out.push(')');
}

/// The sort key of sent dates (rfc5256 2.2: ties by sequence number).
fn date_key(m: &ThreadMessage) -> (i64, usize) {
    (m.sent, m.position)
}

/// rfc5256 3 ORDEREDSUBJECT: by base subject then sent date; one thread
/// per base subject, its first message the root and the others its
/// children; threads in the order of their first messages' sent dates.
pub fn ordered_subject(messages: &[ThreadMessage]) -> Vec<Thread> {
    let mut order: Vec<&ThreadMessage> = messages.iter().collect();
    order.sort_by(|a, b| (&a.subject, date_key(a)).cmp(&(&b.subject, date_key(b))));
    let mut threads: Vec<((i64, usize), Thread)> = Vec::new();
    let mut previous: Option<&str> = None;
    for m in order {
        let leaf = Thread {
            message: Some(m.position),
            children: Vec::new(),
        };
        match (previous, threads.last_mut()) {
            (Some(subject), Some((_, thread))) if subject == m.subject => {
                thread.children.push(leaf)
            }
            _ => threads.push((date_key(m), leaf)),
        }
        previous = Some(&m.subject);
    }
    threads.sort_by_key(|(key, _)| *key);
    threads.into_iter().map(|(_, thread)| thread).collect()
}

/// The REFERENCES algorithm's working tree: containers, messages or
/// dummies, linked by index.
struct Node {
    /// Index into the messages; `None` for a dummy.
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn add(&mut self, message: Option<usize>) -> usize {
        self.nodes.push(Node {
            message,
            parent: None,
            children: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// `a` is `b` or one of its descendants.
    fn is_within(&self, mut a: usize, b: usize) -> bool {
        loop {
            if a == b {
                return true;
            }
            match self.nodes[a].parent {
                Some(p) => a = p,
                None => return false,
            }
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(parent) = self.nodes[child].parent.take() {
            self.nodes[parent].children.retain(|&c| c != child);
        }
    }

    /// Makes `parent` the parent of `child` unless that makes a loop.
    fn link(&mut self, parent: usize, child: usize) {
        if self.is_within(parent, child) {
            return;
        }
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }
}

/// rfc5256 3 REFERENCES, steps 1 to 6.
pub fn references(messages: &[ThreadMessage]) -> Vec<Thread> {
    let mut tree = Tree { nodes: Vec::new() };
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    // Messages in sequence order: a duplicate Message-ID stays with the
    // first (rfc5256 3 step 1.A).
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by_key(|&i| messages[i].position);
    let mut node_of = vec![0; messages.len()];
    for &i in &order {
        let id = messages[i].message_id.as_str();
        let node = match by_id.get(id) {
            // A dummy made for this id by an earlier reference: the
            // message takes its place.
            Some(&n) if !id.is_empty() && tree.nodes[n].message.is_none() => {
                tree.nodes[n].message = Some(i);
                n
            }
            // No id, or another message has it: a unique id.
            Some(_) => tree.add(Some(i)),
            None if id.is_empty() => tree.add(Some(i)),
            None => {
                let n = tree.add(Some(i));
                by_id.insert(id, n);
                n
            }
        };
        node_of[i] = node;
    }
    for &i in &order {
        // (1.A) link the references in a chain, where no link exists yet;
        // an id no message has gets a dummy, used for every reference to it.
        let mut refs = Vec::with_capacity(messages[i].references.len());
        for r in &messages[i].references {
            let n = match by_id.get(r.as_str()) {
                Some(&n) => n,
                None => {
                    let n = tree.add(None);
                    by_id.insert(r.as_str(), n);
                    n
                }
            };
            refs.push(n);
        }
        for pair in refs.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            if tree.nodes[child].parent.is_none() {
                tree.link(parent, child);
            }
        }
        // (1.B) the last reference is the parent, replacing any other.
        let node = node_of[i];
        match refs.last() {
            Some(&parent) => {
                if !tree.is_within(parent, node) {
                    tree.link(parent, node);
                }
            }
            None => tree.unlink(node),
        }
    }
    // (2) the root's children: every node without a parent, in the order
    // they were made (step 4 sorts them).
    let roots: Vec<usize> = (0..tree.nodes.len())
        .filter(|&n| tree.nodes[n].parent.is_none())
        .collect();
    // (3) prune dummies.
    let mut top = Vec::new();
    for n in roots {
        prune(&tree, n, true, &mut top);
    }
    // (4) sort the top level by sent date (a dummy by its first child,
    // once its children are sorted): done with step 6 below, which sorts
    // every level the same way.
    let mut top: Vec<Thread> = top;
    for t in &mut top {
        sort_children(t, messages);
    }
    top.sort_by_key(|t| thread_date(t, messages));
    // (5) merge threads with the same base subject.
    let top = merge_by_subject(top, messages);
    // (6) sort every set of siblings (the merged ones too).
    let mut top = top;
    for t in &mut top {
        sort_children(t, messages);
    }
    top.sort_by_key(|t| thread_date(t, messages));
    map_positions(top, messages)
}

/// Step 3 for node `n`: appends what it becomes to `out` (itself, its
/// promoted children, or nothing).
fn prune(tree: &Tree, n: usize, at_root: bool, out: &mut Vec<Thread>) {
    let node = &tree.nodes[n];
    if node.message.is_none() {
        // A dummy without children goes; with children, they take its
        // place, unless that would put several of them at the root.
        if node.children.is_empty() {
            return;
        }
        if !at_root || node.children.len() == 1 {
            for &c in &node.children {
                prune(tree, c, at_root, out);
            }
            return;
        }
    }
    let mut children = Vec::new();
    for &c in &node.children {
        prune(tree, c, false, &mut children);
    }
    out.push(Thread {
        message: node.message,
        children,
    });
}

/// A thread's place among its siblings: its message's sent date, or for
/// a dummy its first child's.
fn thread_date(t: &Thread, messages: &[ThreadMessage]) -> (i64, usize) {
    match t.message {
        Some(i) => date_key(&messages[i]),
        None => t
            .children
            .first()
            .map_or((i64::MAX, usize::MAX), |c| thread_date(c, messages)),
    }
}

fn sort_children(t: &mut Thread, messages: &[ThreadMessage]) {
    for c in &mut t.children {
        sort_children(c, messages);
    }
    t.children.sort_by_key(|c| thread_date(c, messages));
}

/// The thread subject (step 5.B.i): the message's base subject, or a
/// dummy's first child's.
fn thread_subject<'a>(t: &Thread, messages: &'a [ThreadMessage]) -> &'a str {
    match (t.message, t.children.first()) {
        (Some(i), _) => &messages[i].subject,
        (None, Some(c)) => thread_subject(c, messages),
        (None, None) => "",
    }
}

/// Step 5: threads at the top with the same thread subject gathered.
fn merge_by_subject(top: Vec<Thread>, messages: &[ThreadMessage]) -> Vec<Thread> {
    let is_reply = |t: &Thread| t.message.is_some_and(|i| messages[i].reply);
    // (5.B) the subject table: subject -> index into `top`.
    let mut table: HashMap<String, usize> = HashMap::new();
    for (k, t) in top.iter().enumerate() {
        let subject = thread_subject(t, messages);
        if subject.is_empty() {
            continue;
        }
        match table.get(subject) {
            None => {
                table.insert(subject.to_string(), k);
            }
            Some(&old) => {
                let held = &top[old];
                if held.message.is_some()
                    && (t.message.is_none() || (is_reply(held) && !is_reply(t)))
                {
                    table.insert(subject.to_string(), k);
                }
            }
        }
    }
    // (5.C) merge. `slots` holds the threads; merged ones become None,
    // and a new dummy may replace the one in the table.
    let subjects: Vec<String> = top
        .iter()
        .map(|t| thread_subject(t, messages).to_string())
        .collect();
    let mut slots: Vec<Option<Thread>> = top.into_iter().map(Some).collect();
    for k in 0..slots.len() {
        let subject = &subjects[k];
        if subject.is_empty() {
            continue;
        }
        let Some(&held) = table.get(subject) else {
            continue;
        };
        if held == k {
            continue;
        }
        let (Some(current), Some(target)) = (slots[k].take(), slots[held].take()) else {
            continue;
        };
        let merged = match (target.message.is_none(), current.message.is_none()) {
            // Both dummies: the current one's children join the table's.
            (true, true) => {
                let mut target = target;
                target.children.extend(current.children);
                target
            }
            // The table's is a dummy: the current message joins it.
            (true, false) => {
                let mut target = target;
                target.children.push(current);
                target
            }
            // A reply joins the message it replies to.
            (false, false) if is_reply(&current) && !is_reply(&target) => {
                let mut target = target;
                target.children.push(current);
                target
            }
            // Otherwise both go under a new dummy.
            _ => Thread {
                message: None,
                children: vec![target, current],
            },
        };
        slots[held] = Some(merged);
    }
    slots.into_iter().flatten().collect()
}

/// Message indexes to mailbox positions.
fn map_positions(threads: Vec<Thread>, messages: &[ThreadMessage]) -> Vec<Thread> {
    threads
        .into_iter()
        .map(|t| Thread {
            message: t.message.map(|i| messages[i].position),
            children: map_positions(t.children, messages),
        })
        .collect()
}

#[cfg(test)]
mod tests;
