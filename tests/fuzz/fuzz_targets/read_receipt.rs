#![no_main]
//! `chathook_read_receipt::fuzzing::read_receipt` says what is checked and the input's format.

libfuzzer_sys::fuzz_target!(|data: &[u8]| chathook_read_receipt::fuzzing::read_receipt(data));
