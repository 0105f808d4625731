//! Operating a running server: what it tells the people who run it.

pub mod metrics;
pub mod status;
