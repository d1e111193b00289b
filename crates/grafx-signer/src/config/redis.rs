//! The shared Redis token store's settings.

use serde::Deserialize;

use super::file::FileConfig;
use super::values::given;
use super::ConfigArgs;
use crate::{ClientSecret, Error, StoreKey};

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

/// The Redis store from `--redis-url` (or the file's `redis_url`), with its key and CA files
/// read and the URL checked now, so a typo fails at start rather than at the first refresh.
pub(super) fn settings(a: &ConfigArgs, file: &FileConfig) -> Result<Option<RedisSettings>, Error> {
    let Some(RedisUrl(url)) = a.redis_url.clone().or(file.redis_url.clone()) else {
        return Ok(None);
    };
    let url_setting = given(a.redis_url.is_some(), "SIGNER_REDIS_URL", "redis_url");
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
    let key = StoreKey::from_text(&text).map_err(|e| Error::config(key_setting, e.0))?;
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
    crate::RedisStore::with_tls_roots(&url, key.clone(), ca_pem.as_deref())
        .map_err(|e| Error::config(url_setting, e.0))?;
    Ok(Some(RedisSettings {
        url: ClientSecret::new(url),
        key,
        ca_pem,
    }))
}
