#![no_main]
//! cargo-fuzz target: see grafx_fuzz::token_reply.
libfuzzer_sys::fuzz_target!(|data: &[u8]| grafx_fuzz::token_reply(data));
