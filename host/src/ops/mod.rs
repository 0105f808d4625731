//! Operating a running server: what it tells the people who run it (its
//! log, its metrics, `imapd status`).

pub mod log;
pub mod metrics;
pub mod status;
