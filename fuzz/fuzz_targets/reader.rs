//! `make fuzz` target `reader`: see guest/src/fuzzing.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guest::fuzzing::reader(data));
