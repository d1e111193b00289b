//! The bodies of the fuzz targets. Each takes arbitrary bytes, must never panic, and asserts the
//! invariants its parser promises. `fuzz/` wraps them for cargo-fuzz (libFuzzer); the
//! `regressions` test replays the committed corpus and every crash found, on stable, in CI.
//!
//! ```
//! grafx_fuzz::token_reply(br#"{"access_token":"x","token_type":"Bearer","expires_in":60}"#);
//! grafx_fuzz::config_toml(b"listen = 12");
//! ```

mod config;
mod token_reply;
mod wire;

pub use config::{config_env, config_toml};
pub use token_reply::token_reply;
pub use wire::signer_wire;

/// A fuzz target's body.
pub type FuzzTarget = fn(&[u8]);

/// The fuzz targets by name (the names of `fuzz/fuzz_targets/*.rs` and `fuzz/corpus/*`).
pub const TARGETS: &[(&str, FuzzTarget)] = &[
    ("token_reply", token_reply),
    ("signer_wire", signer_wire),
    ("config_toml", config_toml),
    ("config_env", config_env),
];
