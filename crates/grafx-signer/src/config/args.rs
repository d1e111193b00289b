//! The flags and environment variables (clap). Each `[default: …]` in their help comes from
//! [`defaults`](super::defaults).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::defaults;
use super::RedisUrl;

/// Flags and environment variables (clap), shared by every sub-command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// A TOML file defining one or more integrations.
    #[arg(long, env = "SIGNER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Listen address.
    #[arg(long, help = defaults::LISTEN_HELP, env = "SIGNER_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// Serve /healthz, /readyz and /metrics on this address only (e.g. 127.0.0.1:9090), not on
    /// the public listener.
    #[arg(long, env = "SIGNER_OPS_LISTEN", global = true)]
    pub ops_listen: Option<SocketAddr>,
    /// Comma-separated browser origins allowed to obtain tokens.
    #[arg(long, env = "SIGNER_ALLOWED_ORIGINS", global = true)]
    pub allowed_origins: Option<String>,
    /// Allow ANY origin. For local development only; logs a loud warning.
    #[arg(long, global = true)]
    pub dev_allow_any_origin: bool,
    /// The integration's client id.
    #[arg(long, env = "GRAFX_CLIENT_ID", global = true)]
    pub client_id: Option<String>,
    /// A file holding the client secret (or set GRAFX_CLIENT_SECRET; there is no flag, so the
    /// secret never shows in `ps`).
    #[arg(long, env = "GRAFX_CLIENT_SECRET_FILE", global = true)]
    pub client_secret_file: Option<PathBuf>,
    /// The GraFx environment name.
    #[arg(long, env = "GRAFX_ENVIRONMENT", global = true)]
    pub environment: Option<String>,
    /// The Environment API base URL, when it is not `https://{env}.chili-publish.online/…`.
    #[arg(long, env = "GRAFX_ENVIRONMENT_API_URL", global = true)]
    pub environment_api_url: Option<String>,
    /// A sandbox environment: the default Environment API URL is
    /// `https://{env}.chili-publish-sandbox.online/…`.
    #[arg(long, env = "GRAFX_SANDBOX", global = true, value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub sandbox: bool,
    /// The Platform API base URL named in token replies [default: https://api.chiligrafx.com/].
    #[arg(long, env = "GRAFX_PLATFORM_API_URL", global = true)]
    pub platform_api_url: Option<String>,
    /// CHILI's token endpoint.
    #[arg(long, help = defaults::AUTH_URL_HELP, env = "GRAFX_AUTH_URL", global = true)]
    pub auth_url: Option<String>,
    /// The audience.
    #[arg(long, help = defaults::AUDIENCE_HELP, env = "GRAFX_AUDIENCE", global = true)]
    pub audience: Option<String>,
    /// `read-only` (no `:write` scope), or the space- or comma-separated scopes a browser token
    /// may carry; a token with any other scope is refused to browsers.
    #[arg(long, env = "SIGNER_BROWSER_SCOPES", global = true)]
    pub browser_scopes: Option<String>,
    /// Refresh leeway in seconds.
    #[arg(long, help = defaults::LEEWAY_HELP, env = "SIGNER_LEEWAY_SECS", global = true)]
    pub leeway_secs: Option<u64>,
    /// Minimum seconds between upstream calls while a valid token is cached.
    #[arg(long, help = defaults::MIN_REFRESH_INTERVAL_HELP, env = "SIGNER_MIN_REFRESH_INTERVAL_SECS", global = true)]
    pub min_refresh_interval_secs: Option<u64>,
    /// Upstream request timeout in seconds.
    #[arg(long, help = defaults::UPSTREAM_TIMEOUT_HELP, env = "SIGNER_UPSTREAM_TIMEOUT_SECS", global = true)]
    pub upstream_timeout_secs: Option<u64>,
    /// Upstream retries after network errors, 5xx and 429.
    #[arg(long, help = defaults::UPSTREAM_RETRIES_HELP, env = "SIGNER_UPSTREAM_RETRIES", global = true)]
    pub upstream_retries: Option<u32>,
    /// Upstream attempts per integration and minute while CHILI fails or refuses.
    #[arg(long, help = defaults::UPSTREAM_ATTEMPTS_HELP, env = "SIGNER_UPSTREAM_ATTEMPTS_PER_MINUTE", global = true)]
    pub upstream_attempts_per_minute: Option<u32>,
    /// Requests per minute per client IP on /token, 0 for unlimited.
    #[arg(long, help = defaults::IP_RATE_LIMIT_HELP, env = "SIGNER_RATE_LIMIT_PER_MINUTE", global = true)]
    pub rate_limit_per_minute: Option<u32>,
    /// Requests per minute per signed-in user on /token, 0 for unlimited.
    #[arg(long, help = defaults::USER_RATE_LIMIT_HELP, env = "SIGNER_USER_RATE_LIMIT_PER_MINUTE", global = true)]
    pub user_rate_limit_per_minute: Option<u32>,
    /// Comma-separated CIDRs of your reverse proxies: only their `X-Forwarded-For` is believed,
    /// and the client is the last address not in them (implies --trust-proxy).
    #[arg(long, env = "SIGNER_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Trust X-Forwarded-For for the client IP (only behind your own reverse proxy).
    #[arg(long, env = "SIGNER_TRUST_PROXY", global = true)]
    pub trust_proxy: bool,
    /// Serve static files (a front-end) from this directory.
    #[arg(long, env = "SIGNER_STATIC_DIR", global = true)]
    pub static_dir: Option<PathBuf>,
    /// Seconds to send a request's headers, and to idle between keep-alive requests.
    #[arg(long, help = defaults::HEADER_READ_TIMEOUT_HELP, env = "SIGNER_HEADER_READ_TIMEOUT_SECS", global = true)]
    pub header_read_timeout_secs: Option<u64>,
    /// Open client connections at most.
    #[arg(long, help = defaults::MAX_CONNECTIONS_HELP, env = "SIGNER_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Where durable data lives (who owns which project created through the API proxy):
    /// `ownership.sqlite3` in this directory. Not needed with --redis-url, which holds it then.
    #[arg(long, env = "SIGNER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Share tokens between replicas through this Redis (`redis://[:password@]host:6379/0`;
    /// prefer the environment variable when it holds a password; `--help` never shows its
    /// value).
    #[arg(long, env = "SIGNER_REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<RedisUrl>,
    /// A file holding the 256-bit key that encrypts tokens in Redis (64 hex digits or base64;
    /// `openssl rand -hex 32`). Required with --redis-url; the same on every replica.
    #[arg(long, env = "SIGNER_REDIS_KEY_FILE", global = true)]
    pub redis_key_file: Option<PathBuf>,
    /// For `rediss://` with a private CA: a PEM file of the certificates to trust.
    #[arg(long, env = "SIGNER_REDIS_CA_FILE", global = true)]
    pub redis_ca_file: Option<PathBuf>,
    /// Caller authentication: a cookie holding the app's session JWT (besides
    /// `Authorization: Bearer`).
    #[arg(long, env = "SIGNER_CALLER_COOKIE", global = true)]
    pub caller_cookie: Option<String>,
    /// Caller authentication: verify session JWTs with HS256 and the secret in this file.
    #[arg(long, env = "SIGNER_CALLER_JWT_SECRET_FILE", global = true)]
    pub caller_jwt_secret_file: Option<PathBuf>,
    /// Caller authentication: verify session JWTs (RS256/ES256) with the keys at this JWKS URL.
    #[arg(long, env = "SIGNER_CALLER_JWKS_URL", global = true)]
    pub caller_jwks_url: Option<String>,
    /// Caller authentication: the required `iss` of session JWTs.
    #[arg(long, env = "SIGNER_CALLER_ISSUER", global = true)]
    pub caller_issuer: Option<String>,
    /// Caller authentication: the required `aud` of session JWTs.
    #[arg(long, env = "SIGNER_CALLER_AUDIENCE", global = true)]
    pub caller_audience: Option<String>,
    /// Caller authentication: ask this URL of the app (with the caller's Cookie and
    /// Authorization), as nginx auth_request does; 2xx allows, 401/403 refuses.
    #[arg(long, env = "SIGNER_CALLER_FORWARD_AUTH_URL", global = true)]
    pub caller_forward_auth: Option<String>,
    /// Forward auth: a reply header naming the user.
    #[arg(long, help = defaults::FORWARD_AUTH_USER_HEADER_HELP, env = "SIGNER_CALLER_FORWARD_AUTH_USER_HEADER", global = true)]
    pub caller_forward_auth_user_header: Option<String>,
    /// Forward auth: seconds a decision is reused for the same credentials.
    #[arg(long, help = defaults::CALLER_CACHE_HELP, env = "SIGNER_CALLER_CACHE_SECS", global = true)]
    pub caller_cache_secs: Option<u64>,
}
