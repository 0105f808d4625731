//! Test-only commands that misbehave on purpose, compiled in only with the
//! `hostile` feature (`make hostile-guest`). The sandbox tests use them to
//! show that a guest which panics, spins, allocates without end, faults,
//! or tries to reach files outside its tree loses only its own session and
//! reaches nothing it should not. Never part of a production build.

/// Run hostile command `name` (upper case) with its argument; the
/// untagged line to send, or None if `name` is not one of ours.
pub fn command(name: &str, arg: &str, host: &dyn crate::host::HostApi) -> Option<String> {
    match name {
        // Sets server annotation `arg` straight through the host import,
        // past every check the guest makes: the host must check itself.
        "XSETMETA" => Some(
            match host.set_server_metadata(&[(arg.to_string(), Some(b"pwned".to_vec()))]) {
                Ok(()) => "* XPROBE ok".into(),
                Err(e) => format!("* XPROBE denied ({e:?})"),
            },
        ),
        // Takes the lock of `<owner> <mailbox>` as a mailbox shared by
        // <owner> (`shared/<owner>/<dir>`), whether or not it is: the host
        // must refuse what it did not share.
        "XLOCK" => {
            let (owner, mailbox) = arg.split_once(' ').unwrap_or((arg, ""));
            let name = crate::store::MailboxName::new(mailbox)
                .unwrap_or_else(|_| crate::store::MailboxName::inbox());
            let locker = host.share_locker(owner);
            Some(probe(locker.lock(&name).inspect(|_| locker.unlock(&name))))
        }
        // Asks the host to share `arg`'s mailboxes anew, as if an ACL of
        // theirs had changed.
        "XSHARE" => Some(match host.acls_changed(arg) {
            Ok(()) => "* XPROBE ok".into(),
            Err(e) => format!("* XPROBE denied ({e})"),
        }),
        "XPANIC" => panic!("hostile guest: XPANIC"),
        "XLOOP" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "XALLOC" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "XOOB" => {
            // Far beyond any linear memory the pool allows.
            let p = 0xffff_fff0usize as *const u8;
            // SAFETY: it is not safe, and that is the point: the sandbox
            // must turn this into a trap of this session alone.
            let v = unsafe { std::ptr::read_volatile(p) };
            Some(format!("* XPROBE read {v}"))
        }
        "XOPEN" => Some(probe(
            std::fs::read_dir(arg)
                .map(|_| ())
                .or_else(|_| std::fs::File::open(arg).map(|_| ())),
        )),
        "XWRITE" => Some(probe(std::fs::write(arg, b"written by a hostile guest\n"))),
        // Writes an ACL granting everyone every right (rfc4314) to `arg`.
        "XACL" => Some(probe(std::fs::write(arg, b"anyone\tlrswipkxtean\n"))),
        _ => None,
    }
}

fn probe(r: std::io::Result<()>) -> String {
    match r {
        Ok(()) => "* XPROBE ok".into(),
        Err(e) => format!("* XPROBE denied ({e})"),
    }
}

/// The hostile build says so in its version (greeting and ID), so a test
/// can tell which module answered.
pub fn version(version: String) -> String {
    version + "-hostile"
}

fn misbehaviour(options: &[(String, String)], what: &str) -> bool {
    options
        .iter()
        .any(|(k, v)| k == "hostile_guest" && v.split_whitespace().any(|w| w == what))
}

/// `hostile_guest: panic-in-greet`.
pub fn on_greet(options: &[(String, String)]) {
    if misbehaviour(options, "panic-in-greet") {
        panic!("hostile guest: panic-in-greet");
    }
}

/// `hostile_guest: refuse-restore` refuses every snapshot; a session whose
/// client sent `ID ("x-refuse-restore" ...)` has its snapshot refused
/// always (a module that cannot read some sessions' state).
pub fn on_restore(snapshot: &str, options: &[(String, String)]) -> Result<(), String> {
    if misbehaviour(options, "refuse-restore") {
        return Err("hostile guest: refuse-restore".into());
    }
    if snapshot.contains("x-refuse-restore") {
        return Err("hostile guest: this session's snapshot is refused".into());
    }
    Ok(())
}
