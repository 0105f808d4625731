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
