#![no_main]
//! `example_keyword_filter::fuzzing::keyword_filter` says what is checked and the input's
//! format.

libfuzzer_sys::fuzz_target!(|data: &[u8]| example_keyword_filter::fuzzing::keyword_filter(data));
