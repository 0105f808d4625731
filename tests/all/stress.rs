//! A short run of the stress tester (`make stress`, tests/stress/): eight
//! clients on five shared mailboxes for 20 seconds, every response checked
//! against each client's model; any error or server trap fails the test.

use crate::harness::imapd_bin;
use std::process::Command;

#[test]
fn stress_short_run_finds_no_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_imapd-stress"))
        .args(["--secs", "20", "--clients", "8", "--seed", "18"])
        .arg("--imapd")
        .arg(imapd_bin())
        .output()
        .expect("running imapd-stress");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "imapd-stress failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = text.lines().last().unwrap_or("");
    assert!(summary.contains(" 0 errors; 0 server traps"), "{text}");
    // It did something: more than a handful of operations a second.
    let ops: u64 = summary
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(ops > 200, "only {ops} operations: {text}");
}
