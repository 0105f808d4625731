//! The imapd host: everything outside the sandbox. The binary (`main.rs`)
//! is a thin wrapper; the modules are a library so their whole surface is
//! tested and documented.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connection;
pub mod control;
pub mod engine;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod idle;
pub mod locks;
pub mod master;
pub mod net;
pub mod ops;
pub mod passwd;
pub mod quota;
pub mod registry;
pub mod replace;
pub mod saslauthd;
pub mod server;
pub mod server_metadata;
pub mod shares;
pub mod standalone;
pub mod swap;
pub mod tenant;
pub mod tls;

/// sysexits.h, as Cyrus uses them.
pub mod exit {
    pub const USAGE: u8 = 64;
    pub const SOFTWARE: u8 = 70;
    pub const TEMPFAIL: u8 = 75;
    pub const CONFIG: u8 = 78;
}
