//! imapd's session engine: everything a single IMAP session does, compiled
//! to a WebAssembly component (`wasm32-wasip2`) that the host runs in a
//! sandbox, one instance per connection.
//!
//! The crate is a plain Rust library first: all of it but `component.rs`
//! (the WIT glue) builds and is tested natively with `cargo test -p guest`.
//!
//! - [`wire`]: the incremental command reader, the parser, protocol types;
//! - [`session`]: the state machine the host drives (`greet`/`feed`/`pull`,
//!   `snapshot`/`restore`);
//! - [`commands`]: one module per command, dispatched through one table;
//! - [`selected`]: the selected mailbox and its untagged updates;
//! - [`capability`]: the capability list;
//! - [`store`]: the Maildir++ mail store and its crash-safe index;
//! - [`mime`]: ENVELOPE, BODYSTRUCTURE, sections, BINARY, SEARCH matching.

pub mod access;
pub mod capability;
pub mod commands;
pub mod host;
pub mod mime;
pub mod selected;
pub mod session;
pub mod settings;
pub mod store;
pub mod wire;

#[cfg(feature = "hostile")]
pub mod hostile;

/// The fuzz targets' bodies (`fuzz/`), replayed over their corpora by the
/// unit tests.
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

#[cfg(target_arch = "wasm32")]
mod component;
