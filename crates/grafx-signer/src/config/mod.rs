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
mod proxy;
mod redis;
mod values;
mod warnings;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::BrowserScopes;
use grafx_core::{EnvironmentApiUrl, EnvironmentName, PlatformApiUrl};

pub use args::ConfigArgs;
use caller::CallerInput;
pub use defaults::{
    DEFAULT_AUDIENCE, DEFAULT_AUTH_URL, DEFAULT_IP_RATE_LIMIT, DEFAULT_LISTEN,
    DEFAULT_USER_RATE_LIMIT,
};
use file::{toml_error, FileConfig, FileIntegration};
use integration::{build_integration, IntegrationInput};
pub use proxy::{ProxyPolicy, ProxyQuota, DEFAULT_PROXY_MAX_REQUEST_BYTES};
pub use redis::{RedisSettings, RedisUrl};
use values::{cidrs, given, origins, read_secret_file, split_list, Naming};
pub use warnings::RENDERS_IN_BROWSERS;

use crate::{CallerConfig, ClientSecret, Error, OriginPolicy, Setting};

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

    /// Settings that apply to every integration unless its own table says otherwise.
    fn shared_settings(&self, file: &FileConfig) -> Result<SharedSettings, Error> {
        let a = &self.args;
        let origins = match &a.allowed_origins {
            Some(list) => origins(
                &Setting::Env("SIGNER_ALLOWED_ORIGINS".into()),
                &split_list(list),
            )?,
            None => origins(
                &Setting::Toml("allowed_origins".into()),
                file.allowed_origins.as_deref().unwrap_or_default(),
            )?,
        };
        let browser_scopes = a
            .browser_scopes
            .as_deref()
            .map(|s| {
                s.parse::<BrowserScopes>()
                    .map_err(|e| Error::env("SIGNER_BROWSER_SCOPES", e.to_string()))
            })
            .transpose()?;
        let flags_caller = CallerInput::from_args(a);
        let caller = if !flags_caller.is_empty() {
            flags_caller.build(&Naming::Env("SIGNER_CALLER_"))?
        } else {
            file.caller
                .clone()
                .unwrap_or_default()
                .build(&Naming::Toml("caller.".into()))?
        };
        Ok(SharedSettings {
            origins,
            browser_scopes,
            caller,
        })
    }

    /// The one integration `default` from flags and environment variables (no file tables).
    fn integration_from_flags(&self, shared: &SharedSettings) -> Result<Integration, Error> {
        let a = &self.args;
        let secret = match (&a.client_secret_file, &self.env_secret) {
            (Some(path), _) => {
                read_secret_file(&Setting::Env("GRAFX_CLIENT_SECRET_FILE".into()), path)
            }
            (None, Some(s)) => Ok(s.clone()),
            _ => Err(Error::env(
                "GRAFX_CLIENT_SECRET",
                "is required (or GRAFX_CLIENT_SECRET_FILE)",
            )),
        };
        let integration = build_integration(
            "default",
            IntegrationInput {
                naming: Naming::Env("GRAFX_"),
                client_id: a.client_id.as_deref(),
                secret,
                environment: a.environment.as_deref(),
                environment_api_url: a.environment_api_url.as_deref(),
                sandbox: a.sandbox,
                platform_api_url: a.platform_api_url.as_deref(),
                auth_url: a.auth_url.as_deref(),
                audience: a.audience.as_deref(),
                allowed_origins: OriginPolicy::ServerSideOnly,
                browser_scopes: shared.browser_scopes.clone(),
            },
        )?;
        Ok(Integration {
            allowed_origins: shared.origins_or_none(),
            caller: shared.caller.clone(),
            ..integration
        })
    }

    /// The flag values every table inherits, checked once and named as the flag (a mistake in one
    /// is not blamed on the first table that inherits it).
    fn check_inherited_flags(&self) -> Result<(), Error> {
        let a = &self.args;
        if let Some(u) = &a.auth_url {
            values::auth_url(&Setting::Env("GRAFX_AUTH_URL".into()), Some(u))?;
        }
        if let Some(u) = &a.platform_api_url {
            PlatformApiUrl::parse(u)
                .map_err(|e| Error::env("GRAFX_PLATFORM_API_URL", e.to_string()))?;
        }
        Ok(())
    }

    /// The file's `[integrations.NAME]` tables; the flags fill in what a table leaves out.
    fn integrations_from_file(
        &self,
        file: &FileConfig,
        shared: &SharedSettings,
    ) -> Result<BTreeMap<String, Integration>, Error> {
        if self.args.client_id.is_some() {
            return Err(Error::env(
                "GRAFX_CLIENT_ID",
                "is set together with a config file that defines integrations; use one or the other",
            ));
        }
        self.check_inherited_flags()?;
        let integrations: BTreeMap<String, Integration> = file
            .integrations
            .iter()
            .map(|(name, fi)| Ok((name.clone(), self.file_integration(name, fi, shared)?)))
            .collect::<Result<_, Error>>()?;
        no_proxy_token_for_browsers(&integrations)?;
        Ok(integrations)
    }

    fn file_integration(
        &self,
        name: &str,
        fi: &FileIntegration,
        shared: &SharedSettings,
    ) -> Result<Integration, Error> {
        let a = &self.args;
        let p = format!("integrations.{name}.");
        let naming = Naming::Toml(p.clone());
        let secret = file_secret(fi, &naming);
        let allowed_origins = token_origins(fi, &naming, shared)?;
        let browser_scopes = match &fi.browser_scopes {
            Some(input) => Some(input.policy(&naming.of("browser_scopes"))?),
            None => shared.browser_scopes.clone(),
        };
        let integration = build_integration(
            name,
            IntegrationInput {
                naming,
                client_id: fi.client_id.as_deref(),
                secret,
                environment: fi.environment.as_deref(),
                environment_api_url: fi.environment_api_url.as_deref(),
                // The global flag applies where no whole URL is given.
                sandbox: fi
                    .sandbox
                    .unwrap_or(a.sandbox && fi.environment_api_url.is_none()),
                platform_api_url: fi
                    .platform_api_url
                    .as_deref()
                    .or(a.platform_api_url.as_deref()),
                auth_url: fi.auth_url.as_deref().or(a.auth_url.as_deref()),
                audience: fi.audience.as_deref().or(a.audience.as_deref()),
                allowed_origins,
                browser_scopes,
            },
        )?;
        let caller = match &fi.caller {
            Some(c) => c.build(&Naming::Toml(format!("{p}caller.")))?,
            None => shared.caller.clone(),
        };
        let proxy = match &fi.proxy {
            Some(input) => Some(input.build(
                &Naming::Toml(format!("{p}proxy.")),
                shared.origins.as_ref(),
                caller.is_some(),
                a.dev_allow_any_origin,
            )?),
            None => None,
        };
        Ok(Integration {
            caller,
            proxy,
            ..integration
        })
    }

    /// `--dev-allow-any-origin` opens every browser-facing integration; without it, at least
    /// one integration must name its origins.
    fn open_origins_for_development(
        &self,
        file: &FileConfig,
        integrations: &mut BTreeMap<String, Integration>,
    ) -> Result<(), Error> {
        if self.args.dev_allow_any_origin {
            // Integrations declared server-side (`allowed_origins = []`) stay closed: the flag is
            // for browser-facing ones whose origins are not known in development.
            for (name, i) in integrations.iter_mut() {
                let server_side = i.proxy.is_some()
                    || file
                        .integrations
                        .get(name)
                        .is_some_and(|fi| fi.allowed_origins.as_ref().is_some_and(Vec::is_empty));
                if !server_side {
                    i.allowed_origins = OriginPolicy::AnyForDevelopment;
                }
            }
            Ok(())
        } else if integrations
            .values()
            .all(|i| i.allowed_origins == OriginPolicy::ServerSideOnly && i.proxy.is_none())
        {
            // Named as the user configures origins: the variable, or the file's key.
            let setting = if file.integrations.is_empty() || self.args.allowed_origins.is_some() {
                Setting::Env("SIGNER_ALLOWED_ORIGINS".into())
            } else {
                Setting::Toml("allowed_origins".into())
            };
            Err(Error::config(
                setting,
                "is required: the comma-separated browser origins that may obtain tokens (e.g. https://app.example.com)",
            ))
        } else {
            Ok(())
        }
    }

    /// The tuning values: flag, then file, then [`defaults`].
    fn tuning(
        &self,
        file: FileConfig,
        integrations: BTreeMap<String, Integration>,
        default_integration: String,
        redis: Option<RedisSettings>,
    ) -> Result<SignerConfig, Error> {
        let a = &self.args;
        let trusted_proxies = match (&a.trusted_proxies, &file.trusted_proxies) {
            (Some(list), _) => cidrs(
                &Setting::Env("SIGNER_TRUSTED_PROXIES".into()),
                &split_list(list),
            )?,
            (None, Some(list)) => cidrs(&Setting::Toml("trusted_proxies".into()), list)?,
            (None, None) => Vec::new(),
        };
        let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map_or(default, Duration::from_secs)
        };
        Ok(SignerConfig {
            listen: a.listen.or(file.listen).unwrap_or_else(defaults::listen),
            ops_listen: a.ops_listen.or(file.ops_listen),
            integrations,
            default_integration,
            leeway: secs(a.leeway_secs, file.leeway_secs, defaults::DEFAULT_LEEWAY),
            min_refresh_interval: secs(
                a.min_refresh_interval_secs,
                file.min_refresh_interval_secs,
                defaults::DEFAULT_MIN_REFRESH_INTERVAL,
            ),
            upstream_timeout: secs(
                a.upstream_timeout_secs,
                file.upstream_timeout_secs,
                defaults::DEFAULT_UPSTREAM_TIMEOUT,
            ),
            upstream_retries: a
                .upstream_retries
                .or(file.upstream_retries)
                .unwrap_or(defaults::DEFAULT_UPSTREAM_RETRIES),
            upstream_attempts_per_minute: a
                .upstream_attempts_per_minute
                .or(file.upstream_attempts_per_minute)
                .unwrap_or(defaults::DEFAULT_UPSTREAM_ATTEMPTS_PER_MINUTE),
            rate_limit_per_minute: a
                .rate_limit_per_minute
                .or(file.rate_limit_per_minute)
                .unwrap_or(DEFAULT_IP_RATE_LIMIT),
            user_rate_limit_per_minute: a
                .user_rate_limit_per_minute
                .or(file.user_rate_limit_per_minute)
                .unwrap_or(DEFAULT_USER_RATE_LIMIT),
            trust_proxy: a.trust_proxy
                || file.trust_proxy.unwrap_or(false)
                || !trusted_proxies.is_empty(),
            trusted_proxies,
            static_dir: a.static_dir.clone().or(file.static_dir),
            request_timeout: defaults::DEFAULT_REQUEST_TIMEOUT,
            header_read_timeout: secs(
                a.header_read_timeout_secs,
                file.header_read_timeout_secs,
                defaults::DEFAULT_HEADER_READ_TIMEOUT,
            ),
            max_connections: a
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults::DEFAULT_MAX_CONNECTIONS),
            write_timeout: secs(
                None,
                file.write_timeout_secs,
                defaults::DEFAULT_WRITE_TIMEOUT,
            ),
            proxy_timeout: secs(
                None,
                file.proxy_timeout_secs,
                defaults::DEFAULT_PROXY_TIMEOUT,
            ),
            proxy_held_body_bytes: file
                .proxy_held_body_bytes
                .unwrap_or(defaults::DEFAULT_PROXY_HELD_BODY_BYTES),
            data_dir: a.data_dir.clone().or(file.data_dir),
            redis,
            source: self.clone(),
        })
    }
}

/// What every integration inherits unless its own table says otherwise.
struct SharedSettings {
    /// `None`: no global list was given.
    origins: Option<OriginPolicy>,
    browser_scopes: Option<BrowserScopes>,
    caller: Option<CallerConfig>,
}

impl SharedSettings {
    /// The global origins, or server-side only when none were given.
    fn origins_or_none(&self) -> OriginPolicy {
        self.origins.clone().unwrap_or(OriginPolicy::ServerSideOnly)
    }
}

/// A file integration's secret: `client_secret` or `client_secret_file`, exactly one.
fn file_secret(fi: &FileIntegration, naming: &Naming) -> Result<ClientSecret, Error> {
    match (&fi.client_secret, &fi.client_secret_file) {
        (Some(_), Some(_)) => Err(Error::config(
            naming.of("client_secret"),
            "set client_secret or client_secret_file, not both",
        )),
        (Some(s), None) if !s.trim().is_empty() => Ok(ClientSecret::new(s.trim().to_owned())),
        (None, Some(path)) => read_secret_file(&naming.of("client_secret_file"), path),
        _ => Err(Error::config(
            naming.of("client_secret_file"),
            "is required (or client_secret)",
        )),
    }
}

/// The origins that may obtain a file integration's token. An explicit list (even an empty one:
/// server-side only) replaces the global one; an integration with a proxy is server-side, pages
/// reach it through the proxy only.
fn token_origins(
    fi: &FileIntegration,
    naming: &Naming,
    shared: &SharedSettings,
) -> Result<OriginPolicy, Error> {
    Ok(match (&fi.allowed_origins, &fi.proxy) {
        (Some(list), Some(_)) if !list.is_empty() => {
            return Err(Error::config(
                naming.of("allowed_origins"),
                "is set on an integration with a proxy, whose token never goes to a browser: list the pages' origins in proxy.allowed_origins",
            ))
        }
        (_, Some(_)) => OriginPolicy::ServerSideOnly,
        (Some(list), None) => {
            origins(&naming.of("allowed_origins"), list)?.unwrap_or(OriginPolicy::ServerSideOnly)
        }
        (None, None) => shared.origins_or_none(),
    })
}

/// An integration behind a proxy keeps its token on the server: another browser-facing integration
/// with the same client (CHILI hands both the same token) would hand it out through `/token`.
///
/// The client id alone decides. Two spellings of one auth server (`localhost` and `127.0.0.1`, a
/// CNAME, a trailing dot, another audience string CHILI ignores) cannot be told apart from their
/// URLs, and a client id is issued by one auth server: the same id on another one is never a
/// case worth the risk.
fn no_proxy_token_for_browsers(integrations: &BTreeMap<String, Integration>) -> Result<(), Error> {
    for proxied in integrations.values().filter(|i| i.proxy.is_some()) {
        let twin = integrations.values().find(|i| {
            i.name != proxied.name
                && i.allowed_origins != OriginPolicy::ServerSideOnly
                && i.client_id == proxied.client_id
        });
        if let Some(twin) = twin {
            return Err(Error::toml(
                format!("integrations.{}.client_id", twin.name),
                format!(
                    "is the client of `{}`, whose token stays behind its API proxy; CHILI would hand this integration the same token for browsers. Give the browser its own (read-only) integration",
                    proxied.name
                ),
            ));
        }
    }
    Ok(())
}

/// The file's `default_integration`, else `default` when there is one, else the first by name.
fn default_integration(
    file: &FileConfig,
    integrations: &BTreeMap<String, Integration>,
) -> Result<String, Error> {
    let name = file.default_integration.clone().unwrap_or_else(|| {
        if integrations.contains_key("default") {
            "default".into()
        } else {
            integrations.keys().next().cloned().unwrap_or_default()
        }
    });
    if integrations.contains_key(&name) {
        Ok(name)
    } else {
        Err(Error::toml(
            "default_integration",
            format!("no integration is named `{name}`"),
        ))
    }
}

impl SignerConfig {
    /// Range checks on the merged values; each error names the flag's variable when the flag
    /// set the value, else the file's key.
    fn validate(&self, args: &ConfigArgs) -> Result<(), Error> {
        if self.leeway >= Duration::from_secs(3600) {
            return Err(Error::config(
                given(args.leeway_secs.is_some(), "SIGNER_LEEWAY_SECS", "leeway_secs"),
                "must stay well below CHILI's one-hour re-issue window (e.g. 300); inside that window CHILI returns the same token",
            ));
        }
        if self.upstream_timeout.is_zero() || self.upstream_timeout > Duration::from_secs(120) {
            return Err(Error::config(
                given(
                    args.upstream_timeout_secs.is_some(),
                    "SIGNER_UPSTREAM_TIMEOUT_SECS",
                    "upstream_timeout_secs",
                ),
                "must be between 1 and 120",
            ));
        }
        if self.header_read_timeout.is_zero() || self.header_read_timeout > Duration::from_secs(300)
        {
            return Err(Error::config(
                given(
                    args.header_read_timeout_secs.is_some(),
                    "SIGNER_HEADER_READ_TIMEOUT_SECS",
                    "header_read_timeout_secs",
                ),
                "must be between 1 and 300",
            ));
        }
        if self.max_connections == 0 {
            return Err(Error::config(
                given(
                    args.max_connections.is_some(),
                    "SIGNER_MAX_CONNECTIONS",
                    "max_connections",
                ),
                "must be at least 1",
            ));
        }
        if self.write_timeout.is_zero() || self.write_timeout > Duration::from_secs(600) {
            return Err(Error::toml(
                "write_timeout_secs",
                "must be between 1 and 600",
            ));
        }
        if self.proxy_timeout.is_zero() || self.proxy_timeout > Duration::from_secs(600) {
            return Err(Error::toml(
                "proxy_timeout_secs",
                "must be between 1 and 600",
            ));
        }
        if self.proxy_held_body_bytes < defaults::MIN_PROXY_HELD_BODY_BYTES {
            return Err(Error::toml(
                "proxy_held_body_bytes",
                format!(
                    "must be at least {} (eight request bodies held for a retry)",
                    defaults::MIN_PROXY_HELD_BODY_BYTES
                ),
            ));
        }
        if self.redis.is_none()
            && self.data_dir.is_none()
            && self
                .integrations
                .values()
                .any(|i| i.proxy.as_ref().is_some_and(ProxyPolicy::keeps_owners))
        {
            return Err(Error::config(
                given(args.data_dir.is_some(), "SIGNER_DATA_DIR", "data_dir"),
                "is required: the API proxy keeps each user's projects and outputs apart, and records who owns what in a database there (or set SIGNER_REDIS_URL to keep them in Redis, shared by replicas)",
            ));
        }
        if self.upstream_attempts_per_minute == 0 {
            return Err(Error::config(
                given(
                    args.upstream_attempts_per_minute.is_some(),
                    "SIGNER_UPSTREAM_ATTEMPTS_PER_MINUTE",
                    "upstream_attempts_per_minute",
                ),
                "must be at least 1",
            ));
        }
        if self.upstream_retries > 10 {
            return Err(Error::config(
                given(
                    args.upstream_retries.is_some(),
                    "SIGNER_UPSTREAM_RETRIES",
                    "upstream_retries",
                ),
                "must be at most 10",
            ));
        }
        if let Some(dir) = &self.static_dir {
            if !dir.is_dir() {
                return Err(Error::config(
                    given(args.static_dir.is_some(), "SIGNER_STATIC_DIR", "static_dir"),
                    format!("{} is not a directory", dir.display()),
                ));
            }
        }
        Ok(())
    }

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
