//! The WIT glue: exports `imapd:session/engine` on top of [`crate::session`].
