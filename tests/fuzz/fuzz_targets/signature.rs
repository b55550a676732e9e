#![no_main]
//! `chathook_core::fuzzing::signature` says what is checked and the input's format.

libfuzzer_sys::fuzz_target!(|data: &[u8]| chathook_core::fuzzing::signature(data));
