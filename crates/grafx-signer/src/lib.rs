//! grafx-signer: keeps a CHILI GraFx integration's client secret on the server and hands
//! short-lived access tokens to trusted browser origins.
//!
//! It answers from a per-integration cache (single-flight, refresh-ahead, stale-if-error), never
//! hammers CHILI's Auth0-based auth server, checks every request's `Origin` and `X-CSRF` header
//! server-side, and refuses to hand a browser a token with scopes outside `browser_scopes`.
//! Optionally it hands tokens only to the app's signed-in users ([`CallerConfig`]: JWT sessions
//! or forward auth), and shares one token per integration between replicas through Redis
//! ([`RedisStore`]). It serves with a header read timeout and a connection cap ([`serve`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), grafx_signer::Error> {
//! use clap::Parser;
//! use grafx_signer::{AppState, ConfigArgs, SignerService};
//!
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     config: ConfigArgs,
//! }
//! let config = Args::parse().config.load()?;
//! let listen = config.listen;
//! let options = config.serve_options();
//! let state = AppState::new(config)?;
//! state.start_refreshers();
//! let listener = tokio::net::TcpListener::bind(listen).await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! // The router behind the cached-token fast path: what the binary serves.
//! grafx_signer::serve(listener, SignerService::new(state), options, shutdown).await?;
//! # Ok(()) }
//! ```

mod browser_scopes;
mod cache;
mod caller;
mod client_ip;
mod clock;
mod config;
mod error;
mod fast_path;
mod ip_text;
mod log_format;
mod metrics;
mod origin;
mod ownership;
mod proxy_client;
mod proxy_fast_path;
mod proxy_rule;
mod rate_limit;
mod redis_store;
mod refusal_log;
mod request_id;
mod routes;
mod secret;
mod serve;
mod server;
mod shutdown;
mod state;
mod store;
mod tls;
mod upstream;
mod upstream_pool;
mod write_stall;

pub use browser_scopes::BrowserScopes;
pub use cache::{CacheHealth, CacheSettings, Lookup, TokenCache, MAX_UPSTREAM_ATTEMPTS_PER_MINUTE};
pub use caller::{
    Caller, CallerConfig, CallerMethod, CallerRefusal, RefusalReason, CALLER_LEEWAY, JWKS_MAX_AGE,
    JWKS_MIN_REFETCH, MAX_FORWARD_AUTH_IN_FLIGHT,
};
pub use client_ip::client_ip;
pub use clock::{Clock, SystemClock};
pub use config::defaults;
pub use config::{
    ConfigArgs, ConfigSource, Integration, ProxyPolicy, ProxyQuota, RedisSettings, RedisUrl,
    SignerConfig, DEFAULT_AUDIENCE, DEFAULT_AUTH_URL, DEFAULT_LISTEN,
    DEFAULT_PROXY_MAX_REQUEST_BYTES, RENDERS_IN_BROWSERS,
};
pub use error::{AppError, Error, InvalidValue, RedisUrlProblem, Setting};
pub use fast_path::{Observer, SignerFuture, SignerService};
pub use log_format::{PlainFields, PlainLine, UtcTime};
pub use origin::OriginPolicy;
pub use ownership::{
    Identity, OwnershipError, OwnershipStore, RedisOwnership, Resource, ResourceKind,
    SqliteOwnership, SCHEMA_VERSION,
};
pub use proxy_fast_path::ProxyFuture;
pub use proxy_rule::{ProxyAllowList, ProxyPath, ProxyRule, ProxyRuleError, PROXY_METHODS};
pub use rate_limit::RateLimits;
pub use redis_store::{RedisStore, StoreKey};
pub use secret::{ClientSecret, SessionKey};
pub use serve::{serve, ServeOptions};
pub use server::{app, ops_app};
pub use shutdown::shutdown_signal;
pub use state::AppState;
pub use store::{CachedToken, MemoryStore, RefreshLock, StoreError, StoreFailure, TokenStore};
pub use tls::SSL_CERT_FILE;
pub use upstream::{ChiliAuthClient, TokenSource, UpstreamError};
