//! A faithful local stand-in for CHILI GraFx: the Auth0 token endpoint with CHILI's token caching,
//! and the Environment API with seeded content, for the demo, the tests and the benchmarks.
//!
//! It behaves as CHILI documents, not as a convenient mock: the same token comes back until the
//! re-issue window, tokens cannot be revoked, the API wants a bearer with the right scope, lists
//! are paginated, outputs are asynchronous, and errors have CHILI's shapes. A control plane under
//! `/_emulator/` lets tests count requests, inject faults and move the clock.
//!
//! ```no_run
//! # async fn demo() -> Result<(), grafx_emulator::Error> {
//! use grafx_emulator::{start, EmulatorConfig};
//!
//! let running = start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("token endpoint: {}", running.emulator().token_url());
//! println!("API: {}", running.emulator().environment_api_url());
//! assert_eq!(running.emulator().stats().token_requests, 0);
//! running.stop().await;
//! # Ok(()) }
//! ```

mod api;
mod clock;
mod config;
mod content;
mod control;
mod error;
mod faults;
mod images;
mod journal;
mod oauth;
mod problem;
mod server;
mod state;
mod tokens;

pub use clock::EmulatorClock;
pub use config::{
    ClientSpec, EmulatorConfig, RenameBody, Settings, AUDIENCE, READ_SCOPES, WRITE_SCOPES,
};
pub use error::Error;
pub use faults::{Fault, FaultSpec, FaultTarget};
pub use journal::RecordedRequest;
pub use server::{app, start, RunningEmulator};
pub use state::{Emulator, Stats};

/// A random UUID (version 4) for created resources.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
