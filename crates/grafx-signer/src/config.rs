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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use grafx_core::{
    BrowserScopes, EnvironmentApiUrl, EnvironmentName, PlatformApiUrl, PLATFORM_API_URL,
    SIGNER_DEFAULT_LEEWAY,
};
use serde::Deserialize;

use crate::{CallerConfig, CallerMethod, ClientSecret, Error, OriginPolicy, StoreKey};

/// CHILI's token endpoint.
pub const DEFAULT_AUTH_URL: &str = "https://integration-login.chiligrafx.com/oauth/token";
/// CHILI's audience.
pub const DEFAULT_AUDIENCE: &str = "https://chiligrafx.com";
/// Requests per minute per client IP on `/token` by default: an office or school behind one NAT
/// has a few hundred people, each of whom asks about once per page load (tabs share a token).
pub const DEFAULT_IP_RATE_LIMIT: u32 = 600;
/// Requests per minute per signed-in user by default: far above one person's page loads.
pub const DEFAULT_USER_RATE_LIMIT: u32 = 60;

/// CIDRs (`10.0.0.0/8`, or a single address) from a list, naming `field` on a mistake.
fn cidrs(field: &str, list: &[String]) -> Result<Vec<ipnet::IpNet>, Error> {
    list.iter()
        .map(|c| {
            c.parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    Error::config(
                        field,
                        format!("`{c}` is not a CIDR (like 10.0.0.0/8) or an IP address"),
                    )
                })
        })
        .collect()
}

/// Where the signer listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

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
    /// Origins that may obtain this integration's tokens (an empty list: none; server-side only).
    pub allowed_origins: Option<OriginPolicy>,
    /// When set, a token with a scope this policy refuses is never handed to a browser.
    pub browser_scopes: Option<BrowserScopes>,
    /// When set, only callers with a valid app session get tokens.
    pub caller: Option<CallerConfig>,
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
    /// The shared token store for several replicas; `None`: each process keeps its own.
    pub redis: Option<RedisSettings>,
    /// Where the config came from, for reloads.
    pub source: ConfigSource,
}

/// Flags and environment variables (clap), shared by every sub-command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// A TOML file defining one or more integrations.
    #[arg(long, env = "SIGNER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Listen address [default: 127.0.0.1:8787].
    #[arg(long, env = "SIGNER_LISTEN", global = true)]
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
    /// CHILI's token endpoint [default: https://integration-login.chiligrafx.com/oauth/token].
    #[arg(long, env = "GRAFX_AUTH_URL", global = true)]
    pub auth_url: Option<String>,
    /// The audience [default: https://chiligrafx.com].
    #[arg(long, env = "GRAFX_AUDIENCE", global = true)]
    pub audience: Option<String>,
    /// `read-only` (no `:write` scope), or the space- or comma-separated scopes a browser token
    /// may carry; a token with any other scope is refused to browsers.
    #[arg(long, env = "SIGNER_BROWSER_SCOPES", global = true)]
    pub browser_scopes: Option<String>,
    /// Refresh leeway in seconds [default: 300].
    #[arg(long, env = "SIGNER_LEEWAY_SECS", global = true)]
    pub leeway_secs: Option<u64>,
    /// Minimum seconds between upstream calls while a valid token is cached [default: 30].
    #[arg(long, env = "SIGNER_MIN_REFRESH_INTERVAL_SECS", global = true)]
    pub min_refresh_interval_secs: Option<u64>,
    /// Upstream request timeout in seconds [default: 10].
    #[arg(long, env = "SIGNER_UPSTREAM_TIMEOUT_SECS", global = true)]
    pub upstream_timeout_secs: Option<u64>,
    /// Upstream retries after network errors, 5xx and 429 [default: 2].
    #[arg(long, env = "SIGNER_UPSTREAM_RETRIES", global = true)]
    pub upstream_retries: Option<u32>,
    /// Requests per minute per client IP (IPv6: per /64) on /token, checked first, 0 for unlimited
    /// [default: 600, enough for a few hundred people behind one NAT].
    #[arg(long, env = "SIGNER_RATE_LIMIT_PER_MINUTE", global = true)]
    pub rate_limit_per_minute: Option<u32>,
    /// Requests per minute per signed-in user on /token (with caller authentication), 0 for
    /// unlimited [default: 60].
    #[arg(long, env = "SIGNER_USER_RATE_LIMIT_PER_MINUTE", global = true)]
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
    /// Seconds a client has to send a request's headers, and a keep-alive connection may idle
    /// (slowloris protection) [default: 10].
    #[arg(long, env = "SIGNER_HEADER_READ_TIMEOUT_SECS", global = true)]
    pub header_read_timeout_secs: Option<u64>,
    /// Open client connections at most; more wait to be accepted [default: 4096].
    #[arg(long, env = "SIGNER_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Share tokens between replicas through this Redis (`redis://[:password@]host:6379/0`;
    /// prefer the environment variable when it holds a password).
    #[arg(long, env = "SIGNER_REDIS_URL", global = true)]
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
    /// Forward auth: a reply header naming the user [default: X-Auth-Request-User].
    #[arg(long, env = "SIGNER_CALLER_FORWARD_AUTH_USER_HEADER", global = true)]
    pub caller_forward_auth_user_header: Option<String>,
    /// Forward auth: seconds a decision is reused for the same credentials [default: 30].
    #[arg(long, env = "SIGNER_CALLER_CACHE_SECS", global = true)]
    pub caller_cache_secs: Option<u64>,
}

/// Caller authentication as written in flags, the environment or TOML (`[caller]`, or
/// `[integrations.NAME.caller]`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerInput {
    cookie: Option<String>,
    jwt_secret_file: Option<PathBuf>,
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    forward_auth_url: Option<String>,
    forward_auth_user_header: Option<String>,
    cache_secs: Option<u64>,
}

impl CallerInput {
    fn is_empty(&self) -> bool {
        self.jwt_secret_file.is_none()
            && self.jwks_url.is_none()
            && self.forward_auth_url.is_none()
            && self.cookie.is_none()
            && self.issuer.is_none()
            && self.audience.is_none()
    }

    /// `prefix` names the fields in errors (`SIGNER_CALLER_` or `integrations.x.caller.`).
    fn build(&self, env_style: bool, prefix: &str) -> Result<Option<CallerConfig>, Error> {
        if self.is_empty() {
            return Ok(None);
        }
        let name = |field: &str| {
            if env_style {
                format!("{prefix}{}", field.to_ascii_uppercase())
            } else {
                format!("{prefix}{field}")
            }
        };
        let methods = [
            self.jwt_secret_file.is_some(),
            self.jwks_url.is_some(),
            self.forward_auth_url.is_some(),
        ]
        .iter()
        .filter(|m| **m)
        .count();
        if methods != 1 {
            return Err(Error::config(
                name("jwt_secret_file"),
                format!(
                    "caller authentication needs exactly one of {}, {} or {}",
                    name("jwt_secret_file"),
                    name("jwks_url"),
                    name("forward_auth_url")
                ),
            ));
        }
        let method = if let Some(path) = &self.jwt_secret_file {
            let secret = read_secret_file(&name("jwt_secret_file"), path)?;
            if secret.expose().len() < 32 {
                return Err(Error::config(
                    name("jwt_secret_file"),
                    "the HS256 secret must be at least 32 bytes (e.g. `openssl rand -hex 32`)",
                ));
            }
            if self.audience.is_none() {
                tracing::warn!(
                    "caller authentication: HS256 sessions are accepted without an audience check; set {} so that a token signed with the same secret for another purpose is refused",
                    name("audience")
                );
            }
            CallerMethod::JwtSecret(secret)
        } else if let Some(u) = &self.jwks_url {
            // An identity provider's keys sign tokens for every app of the tenant: without an
            // audience, any of them would be accepted here.
            if self.audience.as_deref().is_none_or(|a| a.trim().is_empty()) {
                return Err(Error::config(
                    name("audience"),
                    format!(
                        "is required with {}: the `aud` your app's access tokens carry (e.g. https://api.example.com), so tokens minted for other apps of the same identity provider are refused",
                        name("jwks_url")
                    ),
                ));
            }
            CallerMethod::Jwks(https_url(&name("jwks_url"), u)?)
        } else {
            let u = self.forward_auth_url.as_deref().unwrap_or_default();
            if self.cookie.is_some() || self.issuer.is_some() || self.audience.is_some() {
                return Err(Error::config(
                    name("forward_auth_url"),
                    "forward auth does not read cookies or claims itself; drop the cookie, issuer and audience settings",
                ));
            }
            CallerMethod::ForwardAuth {
                // Plain http is fine here: the check usually runs beside the signer, in-cluster.
                url: url::Url::parse(u)
                    .ok()
                    .filter(|url| matches!(url.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        Error::config(
                            name("forward_auth_url"),
                            format!("`{u}` is not an http(s) URL"),
                        )
                    })?,
                user_header: Some(
                    self.forward_auth_user_header
                        .clone()
                        .unwrap_or_else(|| "x-auth-request-user".into()),
                ),
                cache_for: Duration::from_secs(self.cache_secs.unwrap_or(30)),
            }
        };
        Ok(Some(CallerConfig {
            method,
            cookie: self.cookie.clone(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
        }))
    }
}

/// A Redis URL as given; Debug hides its password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(pub String);

impl std::str::FromStr for RedisUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", crate::redis_store::redact(&self.0))
    }
}

/// The Redis token store's settings. Debug hides the URL's password and the key.
#[derive(Clone)]
pub struct RedisSettings {
    /// The Redis URL (may carry a password).
    pub url: ClientSecret,
    /// The encryption key.
    pub key: StoreKey,
    /// PEM certificates to trust for `rediss://` (a private CA); the system's roots otherwise.
    pub ca_pem: Option<Vec<u8>>,
}

impl RedisSettings {
    /// The URL without its password, for logs.
    pub fn url_redacted(&self) -> String {
        crate::redis_store::redact(self.url.expose())
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &crate::redis_store::redact(self.url.expose()))
            .field("key", &self.key)
            .finish()
    }
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    ops_listen: Option<SocketAddr>,
    default_integration: Option<String>,
    allowed_origins: Option<Vec<String>>,
    leeway_secs: Option<u64>,
    min_refresh_interval_secs: Option<u64>,
    upstream_timeout_secs: Option<u64>,
    upstream_retries: Option<u32>,
    rate_limit_per_minute: Option<u32>,
    user_rate_limit_per_minute: Option<u32>,
    trust_proxy: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    static_dir: Option<PathBuf>,
    header_read_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    redis_url: Option<RedisUrl>,
    redis_key_file: Option<PathBuf>,
    redis_ca_file: Option<PathBuf>,
    caller: Option<CallerInput>,
    #[serde(default)]
    integrations: BTreeMap<String, FileIntegration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIntegration {
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    environment: Option<String>,
    environment_api_url: Option<String>,
    sandbox: Option<bool>,
    platform_api_url: Option<String>,
    auth_url: Option<String>,
    audience: Option<String>,
    allowed_origins: Option<Vec<String>>,
    browser_scopes: Option<ScopesInput>,
    caller: Option<CallerInput>,
}

/// `browser_scopes` in TOML: `"read-only"` or a list of scopes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ScopesInput {
    Policy(String),
    List(Vec<String>),
}

impl ScopesInput {
    fn policy(&self, field: &str) -> Result<BrowserScopes, Error> {
        match self {
            ScopesInput::Policy(s) => s.parse(),
            ScopesInput::List(v) => BrowserScopes::only(v.iter().map(String::as_str)),
        }
        .map_err(|e| Error::config(field, e.to_string()))
    }
}

fn read_secret_file(field: &str, path: &Path) -> Result<ClientSecret, Error> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| Error::config(field, format!("cannot read {}: {e}", path.display())))?;
    let secret = raw.trim();
    if secret.is_empty() {
        return Err(Error::config(field, format!("{} is empty", path.display())));
    }
    Ok(ClientSecret::new(secret.to_owned()))
}

/// A URL that must be https, or http on loopback (an emulator, a local test server).
fn https_url(field: &str, raw: &str) -> Result<url::Url, Error> {
    let url = url::Url::parse(raw)
        .map_err(|e| Error::config(field, format!("`{raw}` is not a URL: {e}")))?;
    // Decided on the parsed host: `127.evil.example` is a domain, not a loopback address.
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(Error::config(
            field,
            format!("`{raw}` must be https (http only on loopback)"),
        )),
    }
}

fn auth_url(field: &str, raw: Option<&str>) -> Result<url::Url, Error> {
    https_url(field, raw.unwrap_or(DEFAULT_AUTH_URL))
}

fn origins(field: &str, list: &[String]) -> Result<Option<OriginPolicy>, Error> {
    if list.is_empty() {
        return Ok(None);
    }
    OriginPolicy::parse_list(&list.join(","))
        .map(Some)
        .map_err(|e| match e {
            Error::Config { message, .. } => Error::config(field, message),
            other => other,
        })
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

struct IntegrationInput<'a> {
    prefix: String,
    client_id: Option<&'a str>,
    secret: Result<ClientSecret, Error>,
    environment: Option<&'a str>,
    environment_api_url: Option<&'a str>,
    sandbox: bool,
    platform_api_url: Option<&'a str>,
    auth_url: Option<&'a str>,
    audience: Option<&'a str>,
    allowed_origins: Option<OriginPolicy>,
    browser_scopes: Option<BrowserScopes>,
}

fn build_integration(name: &str, i: IntegrationInput<'_>) -> Result<Integration, Error> {
    let p = &i.prefix;
    let client_id = i
        .client_id
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| Error::config(format!("{p}client_id"), "is required"))?;
    let client_secret = i.secret?;
    let env_name = i.environment.ok_or_else(|| {
        Error::config(
            format!("{p}environment"),
            "is required (the GraFx environment name)",
        )
    })?;
    let environment = EnvironmentName::new(env_name)
        .map_err(|e| Error::config(format!("{p}environment"), e.to_string()))?;
    if i.sandbox && i.environment_api_url.is_some() {
        return Err(Error::config(
            format!("{p}sandbox"),
            "is set together with environment_api_url; use one (a whole URL needs no sandbox flag)",
        ));
    }
    let environment_api_url = match i.environment_api_url {
        Some(u) => EnvironmentApiUrl::parse(u)
            .map_err(|e| Error::config(format!("{p}environment_api_url"), e.to_string()))?,
        None if i.sandbox => EnvironmentApiUrl::sandbox(&environment),
        None => EnvironmentApiUrl::from_environment(&environment),
    };
    let platform_api_url = PlatformApiUrl::parse(i.platform_api_url.unwrap_or(PLATFORM_API_URL))
        .map_err(|e| Error::config(format!("{p}platform_api_url"), e.to_string()))?;
    Ok(Integration {
        name: name.to_owned(),
        client_id: client_id.trim().to_owned(),
        client_secret,
        environment,
        environment_api_url,
        platform_api_url,
        auth_url: auth_url(&format!("{p}auth_url"), i.auth_url)?,
        audience: i.audience.unwrap_or(DEFAULT_AUDIENCE).to_owned(),
        allowed_origins: i.allowed_origins,
        browser_scopes: i.browser_scopes,
        caller: None,
    })
}

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

    fn build(&self, file: FileConfig) -> Result<SignerConfig, Error> {
        let a = &self.args;
        let global_origins = match &a.allowed_origins {
            Some(list) => origins("SIGNER_ALLOWED_ORIGINS", &split_list(list))?,
            None => origins(
                "allowed_origins",
                file.allowed_origins.as_deref().unwrap_or_default(),
            )?,
        };
        let cli_scopes = a
            .browser_scopes
            .as_deref()
            .map(|s| {
                s.parse::<BrowserScopes>()
                    .map_err(|e| Error::config("SIGNER_BROWSER_SCOPES", e.to_string()))
            })
            .transpose()?;

        let cli_caller = CallerInput {
            cookie: a.caller_cookie.clone(),
            jwt_secret_file: a.caller_jwt_secret_file.clone(),
            jwks_url: a.caller_jwks_url.clone(),
            issuer: a.caller_issuer.clone(),
            audience: a.caller_audience.clone(),
            forward_auth_url: a.caller_forward_auth.clone(),
            forward_auth_user_header: a.caller_forward_auth_user_header.clone(),
            cache_secs: a.caller_cache_secs,
        };
        let global_caller = if !cli_caller.is_empty() {
            cli_caller.build(true, "SIGNER_CALLER_")?
        } else {
            file.caller
                .clone()
                .unwrap_or_default()
                .build(false, "caller.")?
        };
        let mut integrations = BTreeMap::new();
        // Integrations whose file says `allowed_origins = []`: server-side only, whatever the flags.
        let server_side: Vec<String> = file
            .integrations
            .iter()
            .filter(|(_, fi)| fi.allowed_origins.as_ref().is_some_and(Vec::is_empty))
            .map(|(name, _)| name.clone())
            .collect();
        if file.integrations.is_empty() {
            let secret = match (&a.client_secret_file, &self.env_secret) {
                (Some(path), _) => read_secret_file("GRAFX_CLIENT_SECRET_FILE", path),
                (None, Some(s)) => Ok(s.clone()),
                _ => Err(Error::config(
                    "GRAFX_CLIENT_SECRET",
                    "is required (or GRAFX_CLIENT_SECRET_FILE)",
                )),
            };
            let integration = build_integration(
                "default",
                IntegrationInput {
                    prefix: String::new(),
                    client_id: a.client_id.as_deref(),
                    secret,
                    environment: a.environment.as_deref(),
                    environment_api_url: a.environment_api_url.as_deref(),
                    sandbox: a.sandbox,
                    platform_api_url: a.platform_api_url.as_deref(),
                    auth_url: a.auth_url.as_deref(),
                    audience: a.audience.as_deref(),
                    allowed_origins: None,
                    browser_scopes: cli_scopes.clone(),
                },
            )
            .map_err(|e| match e {
                // Name the environment variables a single-integration user actually sets.
                Error::Config { field, message } => Error::config(env_name_of(&field), message),
                other => other,
            })?;
            integrations.insert("default".to_owned(), integration);
        } else {
            if a.client_id.is_some() {
                return Err(Error::config(
                    "GRAFX_CLIENT_ID",
                    "is set together with a config file that defines integrations; use one or the other",
                ));
            }
            for (name, fi) in &file.integrations {
                let p = format!("integrations.{name}.");
                let secret = match (&fi.client_secret, &fi.client_secret_file) {
                    (Some(_), Some(_)) => Err(Error::config(
                        format!("{p}client_secret"),
                        "set client_secret or client_secret_file, not both",
                    )),
                    (Some(s), None) if !s.trim().is_empty() => {
                        Ok(ClientSecret::new(s.trim().to_owned()))
                    }
                    (None, Some(path)) => read_secret_file(&format!("{p}client_secret_file"), path),
                    _ => Err(Error::config(
                        format!("{p}client_secret_file"),
                        "is required (or client_secret)",
                    )),
                };
                let allowed = match &fi.allowed_origins {
                    Some(list) => origins(&format!("{p}allowed_origins"), list)?,
                    None => None,
                };
                let scopes = match &fi.browser_scopes {
                    Some(input) => Some(input.policy(&format!("{p}browser_scopes"))?),
                    None => cli_scopes.clone(),
                };
                let integration = build_integration(
                    name,
                    IntegrationInput {
                        prefix: p.clone(),
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
                        allowed_origins: allowed,
                        browser_scopes: scopes,
                    },
                )?;
                let caller = match &fi.caller {
                    Some(c) => c.build(false, &format!("{p}caller."))?,
                    None => global_caller.clone(),
                };
                // An explicit empty list means "server-side only"; absent means "the global list".
                let integration = Integration {
                    caller,
                    allowed_origins: if fi.allowed_origins.is_some() {
                        integration.allowed_origins
                    } else {
                        global_origins.clone()
                    },
                    ..integration
                };
                integrations.insert(name.clone(), integration);
            }
        }
        if file.integrations.is_empty() {
            if let Some(i) = integrations.get_mut("default") {
                i.allowed_origins = global_origins.clone();
                i.caller = global_caller.clone();
            }
        }
        if a.dev_allow_any_origin {
            // Integrations declared server-side (`allowed_origins = []`) stay closed: the flag is
            // for browser-facing ones whose origins are not known in development.
            for (name, i) in integrations.iter_mut() {
                if !server_side.contains(name) {
                    i.allowed_origins = Some(OriginPolicy::AnyForDevelopment);
                }
            }
        } else if integrations.values().all(|i| i.allowed_origins.is_none()) {
            return Err(Error::config(
                "SIGNER_ALLOWED_ORIGINS",
                "is required: the comma-separated browser origins that may obtain tokens (e.g. https://app.example.com)",
            ));
        }
        let default_integration = file.default_integration.clone().unwrap_or_else(|| {
            if integrations.contains_key("default") {
                "default".into()
            } else {
                integrations.keys().next().cloned().unwrap_or_default()
            }
        });
        if !integrations.contains_key(&default_integration) {
            return Err(Error::config(
                "default_integration",
                format!("no integration is named `{default_integration}`"),
            ));
        }
        let redis = match a.redis_url.clone().or(file.redis_url.clone()) {
            None => None,
            Some(RedisUrl(url)) => {
                let path = a
                    .redis_key_file
                    .clone()
                    .or(file.redis_key_file.clone())
                    .ok_or_else(|| {
                        Error::config(
                            "SIGNER_REDIS_KEY_FILE",
                            "is required with SIGNER_REDIS_URL: tokens are encrypted in Redis (create one with `openssl rand -hex 32`, the same file on every replica)",
                        )
                    })?;
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::config(
                        "SIGNER_REDIS_KEY_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let key = StoreKey::from_text(&text)?;
                let ca_pem = match a.redis_ca_file.clone().or(file.redis_ca_file.clone()) {
                    None => None,
                    Some(ca) => Some(std::fs::read(&ca).map_err(|e| {
                        Error::config(
                            "SIGNER_REDIS_CA_FILE",
                            format!("cannot read {}: {e}", ca.display()),
                        )
                    })?),
                };
                // Checks the URL now, so a typo fails at start rather than at the first refresh.
                crate::RedisStore::with_tls_roots(&url, key.clone(), ca_pem.as_deref())?;
                Some(RedisSettings {
                    url: ClientSecret::new(url),
                    key,
                    ca_pem,
                })
            }
        };
        let trusted_proxies = match (&a.trusted_proxies, &file.trusted_proxies) {
            (Some(list), _) => cidrs("SIGNER_TRUSTED_PROXIES", &split_list(list))?,
            (None, Some(list)) => cidrs("trusted_proxies", list)?,
            (None, None) => Vec::new(),
        };
        let secs = |flag: Option<u64>, file: Option<u64>, default: u64| {
            Duration::from_secs(flag.or(file).unwrap_or(default))
        };
        let config = SignerConfig {
            listen: a
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().unwrap_or_else(|_| unreachable!())),
            ops_listen: a.ops_listen.or(file.ops_listen),
            integrations,
            default_integration,
            leeway: secs(
                a.leeway_secs,
                file.leeway_secs,
                SIGNER_DEFAULT_LEEWAY.as_secs(),
            ),
            min_refresh_interval: secs(
                a.min_refresh_interval_secs,
                file.min_refresh_interval_secs,
                30,
            ),
            upstream_timeout: secs(a.upstream_timeout_secs, file.upstream_timeout_secs, 10),
            upstream_retries: a.upstream_retries.or(file.upstream_retries).unwrap_or(2),
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
            request_timeout: Duration::from_secs(30),
            header_read_timeout: secs(
                a.header_read_timeout_secs,
                file.header_read_timeout_secs,
                10,
            ),
            max_connections: a.max_connections.or(file.max_connections).unwrap_or(4096),
            redis,
            source: self.clone(),
        };
        config.validate()?;
        Ok(config)
    }
}

/// A TOML error without the quoted source line that `toml` prints by default: that line may hold
/// a secret (found by the `config_toml` fuzz target). The line and column stay; the message is
/// dropped too when the line is a secret's, since serde's messages can quote the value.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default();
    let message = if line.to_ascii_lowercase().contains("secret") {
        "invalid value (a secret is on this line, so it is not shown)"
    } else {
        e.message()
    };
    format!("line {line_no}, column {column}: {message}")
}

fn env_name_of(field: &str) -> String {
    match field {
        "client_id" => "GRAFX_CLIENT_ID",
        "environment" => "GRAFX_ENVIRONMENT",
        "environment_api_url" => "GRAFX_ENVIRONMENT_API_URL",
        "platform_api_url" => "GRAFX_PLATFORM_API_URL",
        "sandbox" => "GRAFX_SANDBOX",
        "auth_url" => "GRAFX_AUTH_URL",
        other => other,
    }
    .to_owned()
}

impl SignerConfig {
    fn validate(&self) -> Result<(), Error> {
        if self.leeway >= Duration::from_secs(3600) {
            return Err(Error::config(
                "leeway_secs",
                "must stay well below CHILI's one-hour re-issue window (e.g. 300); inside that window CHILI returns the same token",
            ));
        }
        if self.upstream_timeout.is_zero() || self.upstream_timeout > Duration::from_secs(120) {
            return Err(Error::config(
                "upstream_timeout_secs",
                "must be between 1 and 120",
            ));
        }
        if self.header_read_timeout.is_zero() || self.header_read_timeout > Duration::from_secs(300)
        {
            return Err(Error::config(
                "header_read_timeout_secs",
                "must be between 1 and 300",
            ));
        }
        if self.max_connections == 0 {
            return Err(Error::config("max_connections", "must be at least 1"));
        }
        if self.upstream_retries > 10 {
            return Err(Error::config("upstream_retries", "must be at most 10"));
        }
        if let Some(dir) = &self.static_dir {
            if !dir.is_dir() {
                return Err(Error::config(
                    "static_dir",
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
            grace: crate::ServeOptions::default().grace,
        }
    }

    /// The configuration for tests and embedding: one integration named `default`.
    pub fn single(integration: Integration) -> Self {
        let name = integration.name.clone();
        Self {
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| unreachable!()),
            ops_listen: None,
            integrations: BTreeMap::from([(name.clone(), integration)]),
            default_integration: name,
            leeway: SIGNER_DEFAULT_LEEWAY,
            min_refresh_interval: Duration::from_secs(30),
            upstream_timeout: Duration::from_secs(10),
            upstream_retries: 2,
            rate_limit_per_minute: 0,
            user_rate_limit_per_minute: 0,
            trusted_proxies: Vec::new(),
            trust_proxy: false,
            static_dir: None,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            redis: None,
            source: ConfigSource::new(ConfigArgs::default(), BTreeMap::new()),
        }
    }
}
