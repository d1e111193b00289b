//! grafx-signer: keeps a CHILI GraFx integration's client secret on the server and hands
//! short-lived access tokens to trusted browser origins.
//!
//! It answers from a per-integration cache (single-flight, refresh-ahead, stale-if-error), never
//! hammers CHILI's Auth0-based auth server, checks every request's `Origin` and `X-CSRF` header
//! server-side, and refuses to hand a browser a token with scopes outside `browser_scopes`.
//!
//! ```no_run
//! # async fn run() -> Result<(), grafx_signer::Error> {
//! use clap::Parser;
//! use grafx_signer::{app, AppState, ConfigArgs};
//!
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     config: ConfigArgs,
//! }
//! let config = Args::parse().config.load()?;
//! let listen = config.listen;
//! let state = AppState::new(config)?;
//! state.start_refreshers();
//! let listener = tokio::net::TcpListener::bind(listen).await?;
//! axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```

mod cache;
mod config;
mod error;
mod metrics;
mod origin;
mod routes;
mod secret;
mod server;
mod state;
mod store;
mod upstream;

pub use cache::{CacheSettings, Lookup, TokenCache};
pub use config::{
    ConfigArgs, ConfigSource, Integration, SignerConfig, DEFAULT_AUDIENCE, DEFAULT_AUTH_URL,
    DEFAULT_LISTEN,
};
pub use error::{AppError, Error};
pub use origin::OriginPolicy;
pub use secret::ClientSecret;
pub use server::{app, SHUTDOWN_GRACE};
pub use state::AppState;
pub use store::{CachedToken, Clock, MemoryStore, SystemClock, TokenStore};
pub use upstream::{ChiliAuthClient, TokenSource, UpstreamError};
