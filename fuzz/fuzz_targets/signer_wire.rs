#![no_main]
//! cargo-fuzz target: see grafx_fuzz::signer_wire.
libfuzzer_sys::fuzz_target!(|data: &[u8]| grafx_fuzz::signer_wire(data));
