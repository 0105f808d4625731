//! `imapd`: a Cyrus-compatible IMAP server whose sessions each run in
//! their own WebAssembly sandbox.
//!
//! Process modes (see README): under Cyrus master(8) (the default, fds 3
//! and 4), one session on stdin/stdout (`-X`), or standalone with its own
//! listeners (`--listen`, `--listen-tls`, or systemd socket activation).
//! Admin subcommands: `imapd passwd`, `imapd quota`, `imapd precompile`, `imapd swap`,
//! `imapd status`, `imapd metrics`, `imapd selfsigned`,
//! `imapd options` (the table of every imapd.conf option).

use std::process::ExitCode;

use imapd::{admin, cli};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("passwd") => return admin_command(admin::run_passwd(&args[2..])),
        Some("precompile") => return admin_command(cli::precompile(&args[2..])),
        Some("quota") => return admin_command(imapd::quota::run(&args[2..])),
        Some("swap") => return admin_command(imapd::swap::run(&args[2..])),
        Some("status") => return admin_command(imapd::ops::status::run(&args[2..])),
        Some("metrics") => return admin_command(imapd::ops::metrics::run(&args[2..])),
        Some("selfsigned") => return admin_command(cli::selfsigned(&args[2..])),
        Some("options") => {
            print!("{}", imapd::config::options_markdown_table());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let opts = match cli::parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("imapd: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    cli::run(opts)
}

fn admin_command(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imapd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
