//! Browser tests that need a live emulator. The tests live in `tests/` and run only on wasm32 in
//! headless Chromium, through `cargo xtask test`, which starts grafx-emulator on a free loopback
//! port and passes its URL (and a token it obtained) at build time:
//!
//! - `GRAFX_EMULATOR_API_URL`: the Environment API base URL;
//! - `GRAFX_EMULATOR_TOKEN`: a read-only bearer token.
//!
//! The test page is served by wasm-bindgen's runner on another port, so every call is a real
//! cross-origin request that Chromium subjects to CORS.
//!
//! Why a crate of its own: these tests check the emulator as a browser sees it, with no signer in
//! between, so they belong to no other crate's suite. grafx-emulator (tokio, axum) cannot build
//! for wasm32, and grafx-wasm's suites always go through the signer.
