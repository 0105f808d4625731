//! `imapd`: a Cyrus-compatible IMAP server whose sessions each run in
//! their own WebAssembly sandbox.
//!
//! Process modes (see README): under Cyrus master(8) (the default, fds 3
//! and 4), one session on stdin/stdout (`-X`), or standalone with its own
//! listeners (`--listen`, `--listen-tls`, or systemd socket activation).
//! Admin subcommands: `imapd passwd`, `imapd precompile`, `imapd selfsigned`.

mod admin;
mod auth;
mod cli;
mod config;
mod connection;
mod engine;
mod master;
mod net;
mod passwd;
mod saslauthd;
mod server;
mod standalone;
mod tls;

use std::process::ExitCode;

/// sysexits.h, as Cyrus uses them.
pub mod exit {
    pub const USAGE: u8 = 64;
    pub const SOFTWARE: u8 = 70;
    pub const TEMPFAIL: u8 = 75;
    pub const CONFIG: u8 = 78;
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("passwd") => return admin_command(admin::run_passwd(&args[2..])),
        Some("precompile") => return admin_command(cli::precompile(&args[2..])),
        Some("selfsigned") => return admin_command(cli::selfsigned(&args[2..])),
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
