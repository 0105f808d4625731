//! Many sessions at once, each in its own guest.

use std::sync::{Arc, Barrier};

use crate::harness::server;

#[test]
fn two_hundred_concurrent_sessions() {
    let s = server().no_tls().conf("allowplaintext: yes").start();
    let n = 200;
    let barrier = Arc::new(Barrier::new(n));
    let addr = s.plain;
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // From four addresses: 50 each, under maxpreauth_per_host.
                let from = std::net::Ipv4Addr::new(127, 0, 0, 1 + (i % 4) as u8);
                let mut c = crate::harness::Client::connect_from(addr, from);
                assert!(c.line().starts_with("* OK"));
                // Everyone is connected (and has a live guest) at once.
                barrier.wait();
                let (_, t) = c.cmd("a", "LOGIN plain secret");
                assert!(t.starts_with("a OK"), "session {i}: {t}");
                barrier.wait();
                assert_eq!(c.cmd("b", "NOOP").1, "b OK Completed");
                assert_eq!(c.cmd("c", "LOGOUT").1, "c OK Completed");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A new user's first sessions, opened at once (a client starting several
/// connections): one INBOX is made, and every message each of them
/// appends is in it.
#[test]
fn a_new_users_first_sessions_at_once_share_one_inbox() {
    for _ in 0..3 {
        let s = crate::store_util::store_server(&[]);
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let addr = s.plain;
        let clients: Vec<_> = (0..n)
            .map(|i| {
                let barrier = barrier.clone();
                std::thread::spawn(move || -> Result<(), String> {
                    let mut c = crate::harness::Client::connect(addr);
                    c.line();
                    barrier.wait();
                    c.login("plain", "secret");
                    let (_, t) = c.cmd("s", "SELECT INBOX");
                    if !t.starts_with("s OK") {
                        return Err(t);
                    }
                    let m = format!("Subject: {i}\r\n\r\nfrom session {i}\r\n");
                    let (_, t) = c.cmd("a", &format!("APPEND INBOX {{{}+}}\r\n{m}", m.len()));
                    if !t.starts_with("a OK") {
                        return Err(t);
                    }
                    Ok(())
                })
            })
            .collect();
        let failed: Vec<String> = clients
            .into_iter()
            .filter_map(|c| c.join().unwrap().err())
            .collect();
        assert!(failed.is_empty(), "{failed:?}\n{}", s.log());
        let mut c = crate::store_util::Session::new(&s);
        assert_eq!(c.status("INBOX", "MESSAGES")["MESSAGES"], n as u64);
    }
}
