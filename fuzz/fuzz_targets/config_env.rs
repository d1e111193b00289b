#![no_main]
//! cargo-fuzz target: see grafx_fuzz::config_env.
libfuzzer_sys::fuzz_target!(|data: &[u8]| grafx_fuzz::config_env(data));
