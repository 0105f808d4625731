//! End-to-end tests: the real `imapd` binary with the real guest, over
//! real sockets. One test binary, one module per area.

mod harness;

mod admin;
mod cli;
mod compress;
mod concurrency;
mod condstore;
mod config_errors;
mod conformance;
mod consistency;
mod esearch;
mod greeting;
mod hibernate;
mod idle;
mod limits;
mod list_extended;
mod logging;
mod login;
mod master;
mod measure;
mod message_attributes;
mod metadata;
mod msg_files;
mod namespaces;
mod ops;
mod peers;
mod quota;
mod sandbox;
mod sasl;
mod sharing;
mod sort_thread;
mod store_badinput;
mod store_clients;
mod store_corpus;
mod store_crash;
mod store_diskfull;
mod store_grammar;
mod store_mailbox;
mod store_message;
mod store_util;
mod stress;
mod swap;
mod tls;
mod unauthenticate;
mod utf8;
