//! imapd's session engine: everything a single IMAP session does, compiled
//! to a WebAssembly component (`wasm32-wasip2`) that the host runs in a
//! sandbox, one instance per connection.
//!
//! The crate is a plain Rust library first: all of it but `component.rs`
//! (the WIT glue) builds and is tested natively with `cargo test -p guest`.

pub mod host;
pub mod mime;
pub mod settings;
pub mod store;

#[cfg(target_arch = "wasm32")]
mod component;
