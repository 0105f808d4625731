//! `make fuzz` target `snapshot_restore`: see guest/src/fuzzing.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guest::fuzzing::snapshot_restore(data));
