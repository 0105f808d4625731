//! `make fuzz` target `host_wire`: see host/src/fuzzing.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imapd::fuzzing::host_wire(data));
