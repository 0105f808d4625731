//! Operating the server: its log lines (and, with them, what an operator
//! watches it by).

pub mod log;
