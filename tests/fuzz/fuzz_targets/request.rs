#![no_main]
//! `chathook_protocol::fuzzing::request` says what is checked and the input's format.

libfuzzer_sys::fuzz_target!(|data: &[u8]| chathook_protocol::fuzzing::request(data));
