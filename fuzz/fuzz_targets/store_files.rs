//! `make fuzz` target `store_files`: see guest/src/fuzzing.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| guest::fuzzing::store_files(data));
