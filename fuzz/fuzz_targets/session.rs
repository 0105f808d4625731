//! `make fuzz` target `session`: see guest/src/fuzzing.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guest::fuzzing::session(data));
