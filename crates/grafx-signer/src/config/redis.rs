//! The shared Redis token store's settings.

use serde::Deserialize;

use super::file::FileConfig;
use super::values::given;
use super::ConfigArgs;
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, InvalidValue, RedisUrlProblem, StoreKey};

/// A Redis URL (`redis://`, `rediss://`, `redis+unix://`, `unix://`, or Valkey's `valkey://`,
/// `valkeys://`, `valkey+unix://`). It may carry a password,
/// so it is kept like a secret (`secrecy`) and Debug prints it without the password.
///
/// Parsing (clap, TOML) only wraps it: a value that does not parse would be echoed by clap's
/// error, password included. It is checked when the configuration loads ([`RedisUrl::check`]),
/// with an error that names the setting and never the URL.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub struct RedisUrl(SecretString);

impl RedisUrl {
    /// Wraps a URL as given.
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL, for the Redis client only.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL without its password, for logs.
    pub fn redacted(&self) -> String {
        crate::redis_store::redact(self.expose())
    }

    /// Whether it is a Redis URL the client can use: a known scheme, and a host for the TCP ones.
    /// The message says what to write, not what was written.
    pub fn check(&self) -> Result<(), InvalidValue> {
        let bad = InvalidValue::RedisUrl;
        let url = url::Url::parse(self.expose()).map_err(|_| bad(RedisUrlProblem::NotAUrl))?;
        // The schemes the redis crate opens (Valkey's too).
        match url.scheme() {
            "redis" | "rediss" | "valkey" | "valkeys"
                if url.host_str().is_some_and(|h| !h.is_empty()) =>
            {
                Ok(())
            }
            "redis" | "rediss" | "valkey" | "valkeys" => Err(bad(RedisUrlProblem::NoHost)),
            "redis+unix" | "unix" | "valkey+unix" if !url.path().is_empty() => Ok(()),
            "redis+unix" | "unix" | "valkey+unix" => Err(bad(RedisUrlProblem::NoSocketPath)),
            _ => Err(bad(RedisUrlProblem::Scheme)),
        }
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({:?})", self.redacted())
    }
}

/// The Redis token store's settings. Debug hides the URL's password and the key.
#[derive(Clone)]
pub struct RedisSettings {
    /// The Redis URL (may carry a password).
    pub url: RedisUrl,
    /// The encryption key.
    pub key: StoreKey,
    /// PEM certificates to trust for `rediss://` (a private CA); the system's roots otherwise.
    pub ca_pem: Option<Vec<u8>>,
}

impl RedisSettings {
    /// The URL without its password, for logs.
    pub fn url_redacted(&self) -> String {
        self.url.redacted()
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &self.url)
            .field("key", &self.key)
            .finish()
    }
}

/// The Redis store from `--redis-url` (or the file's `redis_url`), with its key and CA files
/// read and the URL checked now, so a typo fails at start rather than at the first refresh.
pub(super) fn settings(a: &ConfigArgs, file: &FileConfig) -> Result<Option<RedisSettings>, Error> {
    let Some(url) = a.redis_url.clone().or(file.redis_url.clone()) else {
        return Ok(None);
    };
    let url_setting = given(a.redis_url.is_some(), "SIGNER_REDIS_URL", "redis_url");
    url.check()
        .map_err(|e| Error::config(url_setting.clone(), e.to_string()))?;
    let key_setting = given(
        a.redis_key_file.is_some() || file.redis_key_file.is_none(),
        "SIGNER_REDIS_KEY_FILE",
        "redis_key_file",
    );
    let path = a
        .redis_key_file
        .clone()
        .or(file.redis_key_file.clone())
        .ok_or_else(|| {
            Error::config(
                key_setting.clone(),
                "is required with SIGNER_REDIS_URL: tokens are encrypted in Redis (create one with `openssl rand -hex 32`, the same file on every replica)",
            )
        })?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::config(
            key_setting.clone(),
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let key = StoreKey::from_text(&text).map_err(|e| Error::config(key_setting, e.to_string()))?;
    let ca_setting = given(
        a.redis_ca_file.is_some(),
        "SIGNER_REDIS_CA_FILE",
        "redis_ca_file",
    );
    let ca_pem = match a.redis_ca_file.clone().or(file.redis_ca_file.clone()) {
        None => None,
        Some(ca) => Some(std::fs::read(&ca).map_err(|e| {
            Error::config(ca_setting, format!("cannot read {}: {e}", ca.display()))
        })?),
    };
    crate::RedisStore::with_tls_roots(url.expose(), key.clone(), ca_pem.as_deref())
        .map_err(|e| Error::config(url_setting, e.to_string()))?;
    Ok(Some(RedisSettings { url, key, ca_pem }))
}
