//! Configuration: flags with environment-variable fallbacks for one integration, or a TOML file
//! for several. Loading fails fast with a message that names the bad field.
//!
//! ```toml
//! listen = "127.0.0.1:8787"
//! default_integration = "reader"
//! allowed_origins = ["https://app.example.com"]
//!
//! [integrations.reader]
//! client_id = "…"
//! client_secret_file = "/run/secrets/grafx-reader"
//! environment = "acme"
//! browser_scopes = "read-only"   # or a list: ["template:list", "template:read", …]
//!
//! [integrations.writer]            # kept server-side: no browser origin may have it
//! client_id = "…"
//! client_secret_file = "/run/secrets/grafx-writer"
//! environment = "acme"
//! allowed_origins = []
//! ```

mod args;
mod caller;
pub mod defaults;
mod file;
mod integration;
mod integrations;
mod proxy;
mod redis;
mod tuning;
mod values;
mod warnings;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::BrowserScopes;
use grafx_core::{EnvironmentApiUrl, EnvironmentName, PlatformApiUrl};

pub use args::ConfigArgs;
pub use defaults::{DEFAULT_AUDIENCE, DEFAULT_AUTH_URL, DEFAULT_LISTEN};
use file::{toml_error, FileConfig};
use integrations::default_integration;
pub use proxy::{ProxyPolicy, ProxyQuota, DEFAULT_PROXY_MAX_REQUEST_BYTES};
pub use redis::{RedisSettings, RedisUrl};
pub use warnings::RENDERS_IN_BROWSERS;

use crate::{CallerConfig, ClientSecret, Error, OriginPolicy};

/// One GraFx integration (OAuth2 client) the signer obtains tokens for.
#[derive(Debug, Clone)]
pub struct Integration {
    /// Its name in `POST /token/{name}`.
    pub name: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: ClientSecret,
    /// The GraFx environment.
    pub environment: EnvironmentName,
    /// The Environment API base URL.
    pub environment_api_url: EnvironmentApiUrl,
    /// The Platform API base URL, named in the token reply (the same token calls it).
    pub platform_api_url: PlatformApiUrl,
    /// The token endpoint.
    pub auth_url: url::Url,
    /// The audience to ask for.
    pub audience: String,
    /// Origins that may obtain this integration's tokens.
    pub allowed_origins: OriginPolicy,
    /// When set, a token with a scope this policy refuses is never handed to a browser.
    pub browser_scopes: Option<BrowserScopes>,
    /// When set, only callers with a valid app session get tokens.
    pub caller: Option<CallerConfig>,
    /// When set, pages may call the Environment API through the signer (`/api/{name}/…`) with
    /// this integration's token, which then never goes to a browser.
    pub proxy: Option<ProxyPolicy>,
}

impl Integration {
    /// Whether the credentials and upstream are the same, so a cached token stays valid.
    pub(crate) fn same_upstream(&self, other: &Integration) -> bool {
        self.client_id == other.client_id
            && self.client_secret.same_as(&other.client_secret)
            && self.auth_url == other.auth_url
            && self.audience == other.audience
    }
}

/// Everything the signer runs with.
#[derive(Debug, Clone)]
pub struct SignerConfig {
    /// The listen address.
    pub listen: SocketAddr,
    /// Where `/healthz`, `/readyz` and `/metrics` are served instead, when set (then the public
    /// listener does not serve them).
    pub ops_listen: Option<SocketAddr>,
    /// The integrations, by name.
    pub integrations: BTreeMap<String, Integration>,
    /// The integration `POST /token` uses.
    pub default_integration: String,
    /// Refresh this long before expiry (clamped to half a token's lifetime).
    pub leeway: Duration,
    /// Never ask upstream more often than this while a valid token is cached (CHILI returns the
    /// same token inside its re-issue window, and a refresh must not loop on it).
    pub min_refresh_interval: Duration,
    /// Timeout of one upstream request.
    pub upstream_timeout: Duration,
    /// Retries after a network error, 5xx or 429 (never after a credential error).
    pub upstream_retries: u32,
    /// Upstream attempts per integration and minute while upstream fails or refuses; due
    /// refreshes of a healthy integration are never held back by it.
    pub upstream_attempts_per_minute: u32,
    /// Requests per minute per client IP on `/token` (0: unlimited).
    pub rate_limit_per_minute: u32,
    /// Requests per minute per signed-in user on `/token`, after caller authentication named
    /// them (0: unlimited).
    pub user_rate_limit_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed; empty with `trust_proxy`: the direct peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Take the client IP from `X-Forwarded-For` (only behind a proxy you control).
    pub trust_proxy: bool,
    /// Serve a front-end from this directory.
    pub static_dir: Option<PathBuf>,
    /// Timeout of a whole request to the signer.
    pub request_timeout: Duration,
    /// Time allowed for a request's headers to arrive, and for a keep-alive connection to idle.
    pub header_read_timeout: Duration,
    /// Open client connections at most.
    pub max_connections: usize,
    /// A connection whose reply makes no progress for this long (the client stopped reading) is
    /// closed, and an API proxy download with it.
    pub write_timeout: Duration,
    /// How long CHILI may be silent on an API proxy request, before its reply or between two of
    /// its bytes (`proxy_timeout_secs`; 504 `proxy_upstream_timeout` after). Fixed at start.
    pub proxy_timeout: Duration,
    /// The bytes every API proxy request body held for a retry may take together (each holds at
    /// most 256 KiB); more wait for room.
    pub proxy_held_body_bytes: u32,
    /// The shared token store for several replicas; `None`: each process keeps its own. With it,
    /// the API proxy's ownership records live there too.
    pub redis: Option<RedisSettings>,
    /// Where durable data lives without Redis: the API proxy's ownership records
    /// (`ownership.sqlite3`).
    pub data_dir: Option<PathBuf>,
    /// Where the config came from, for reloads.
    pub source: ConfigSource,
}

/// Where a configuration was read from, so SIGHUP can read it again.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    args: ConfigArgs,
    /// `GRAFX_CLIENT_SECRET`, kept redacted (this struct is part of `SignerConfig`'s Debug).
    env_secret: Option<ClientSecret>,
}

/// The environment variables read directly (not through clap).
const SECRET_VAR: &str = "GRAFX_CLIENT_SECRET";

impl ConfigArgs {
    /// Loads the configuration from these arguments and the process environment.
    pub fn load(&self) -> Result<SignerConfig, Error> {
        let env = std::env::vars().filter(|(k, _)| k == SECRET_VAR).collect();
        ConfigSource::new(self.clone(), env).load()
    }
}

impl ConfigSource {
    /// A source from arguments and explicit environment variables (for tests).
    pub fn new(args: ConfigArgs, env: BTreeMap<String, String>) -> Self {
        let env_secret = env
            .get(SECRET_VAR)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| ClientSecret::new(s.to_owned()));
        Self { args, env_secret }
    }

    /// Reads the configuration again (for SIGHUP): files are re-read, so a rotated secret file
    /// takes effect.
    pub fn load(&self) -> Result<SignerConfig, Error> {
        match &self.args.config {
            None => self.build(FileConfig::default()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                self.load_toml(&path.display().to_string(), &text)
            }
        }
    }

    /// The configuration from `text`, as if it were the `--config` file named `path` (which is
    /// used in error messages only). Public for embedding and fuzzing.
    pub fn load_toml(&self, path: &str, text: &str) -> Result<SignerConfig, Error> {
        let file = toml::from_str(text).map_err(|e| Error::ConfigFile {
            path: path.to_owned(),
            message: toml_error(text, &e),
        })?;
        self.build(file)
    }

    /// Builds the configuration in phases: the settings every integration shares (origins,
    /// browser scopes, caller authentication), the integrations (from flags, or from the file's
    /// tables), the development-origin override, the default integration, the Redis store, and
    /// the tuning values. Each phase names the setting it refuses.
    fn build(&self, file: FileConfig) -> Result<SignerConfig, Error> {
        let shared = self.shared_settings(&file)?;
        let mut integrations = if file.integrations.is_empty() {
            BTreeMap::from([("default".to_owned(), self.integration_from_flags(&shared)?)])
        } else {
            self.integrations_from_file(&file, &shared)?
        };
        self.open_origins_for_development(&file, &mut integrations)?;
        let default_integration = default_integration(&file, &integrations)?;
        let redis = redis::settings(&self.args, &file)?;
        let config = self.tuning(file, integrations, default_integration, redis)?;
        config.validate(&self.args)?;
        Ok(config)
    }
}

impl SignerConfig {
    /// The connection limits for [`crate::serve`].
    pub fn serve_options(&self) -> crate::ServeOptions {
        crate::ServeOptions {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
            write_timeout: self.write_timeout,
            grace: crate::ServeOptions::default().grace,
        }
    }

    /// The configuration for tests and embedding: one integration named `default`, the
    /// [`defaults`] for everything else, except that no rate limit applies (an embedding app
    /// or a test sets its own).
    pub fn single(integration: Integration) -> Self {
        let name = integration.name.clone();
        Self {
            listen: defaults::listen(),
            ops_listen: None,
            integrations: BTreeMap::from([(name.clone(), integration)]),
            default_integration: name,
            leeway: defaults::DEFAULT_LEEWAY,
            min_refresh_interval: defaults::DEFAULT_MIN_REFRESH_INTERVAL,
            upstream_timeout: defaults::DEFAULT_UPSTREAM_TIMEOUT,
            upstream_retries: defaults::DEFAULT_UPSTREAM_RETRIES,
            upstream_attempts_per_minute: defaults::DEFAULT_UPSTREAM_ATTEMPTS_PER_MINUTE,
            rate_limit_per_minute: 0,
            user_rate_limit_per_minute: 0,
            trusted_proxies: Vec::new(),
            trust_proxy: false,
            static_dir: None,
            request_timeout: defaults::DEFAULT_REQUEST_TIMEOUT,
            header_read_timeout: defaults::DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: defaults::DEFAULT_MAX_CONNECTIONS,
            write_timeout: defaults::DEFAULT_WRITE_TIMEOUT,
            proxy_timeout: defaults::DEFAULT_PROXY_TIMEOUT,
            proxy_held_body_bytes: defaults::DEFAULT_PROXY_HELD_BODY_BYTES,
            data_dir: None,
            redis: None,
            source: ConfigSource::new(ConfigArgs::default(), BTreeMap::new()),
        }
    }
}
