//! Caller authentication as configured: flags, environment variables or TOML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::values::{https_url, read_secret_file, Naming};
use super::{defaults, ConfigArgs};
use crate::{CallerConfig, CallerMethod, Error, SessionKey};

/// Caller authentication as written in flags, the environment or TOML (`[caller]`, or
/// `[integrations.NAME.caller]`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CallerInput {
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
    /// The `--caller-*` flags (or `SIGNER_CALLER_*` variables).
    pub(super) fn from_args(a: &ConfigArgs) -> Self {
        Self {
            cookie: a.caller_cookie.clone(),
            jwt_secret_file: a.caller_jwt_secret_file.clone(),
            jwks_url: a.caller_jwks_url.clone(),
            issuer: a.caller_issuer.clone(),
            audience: a.caller_audience.clone(),
            forward_auth_url: a.caller_forward_auth.clone(),
            forward_auth_user_header: a.caller_forward_auth_user_header.clone(),
            cache_secs: a.caller_cache_secs,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.jwt_secret_file.is_none()
            && self.jwks_url.is_none()
            && self.forward_auth_url.is_none()
            && self.cookie.is_none()
            && self.issuer.is_none()
            && self.audience.is_none()
    }

    /// `naming` names the settings in errors (`SIGNER_CALLER_…` or `integrations.x.caller.…`).
    pub(super) fn build(&self, naming: &Naming) -> Result<Option<CallerConfig>, Error> {
        if self.is_empty() {
            return Ok(None);
        }
        let setting = |field: &str| naming.of(field);
        let name = |field: &str| naming.of(field).name().to_owned();
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
                setting("jwt_secret_file"),
                format!(
                    "caller authentication needs exactly one of {}, {} or {}",
                    name("jwt_secret_file"),
                    name("jwks_url"),
                    name("forward_auth_url")
                ),
            ));
        }
        let method = if let Some(path) = &self.jwt_secret_file {
            self.jwt_secret_method(naming, path)?
        } else if let Some(u) = &self.jwks_url {
            self.jwks_method(naming, u)?
        } else {
            self.forward_auth_method(naming)?
        };
        Ok(Some(CallerConfig {
            method,
            cookie: self.cookie.clone(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
        }))
    }

    /// HS256 with a shared secret of at least 32 bytes.
    fn jwt_secret_method(&self, naming: &Naming, path: &Path) -> Result<CallerMethod, Error> {
        let setting = naming.of("jwt_secret_file");
        let secret = read_secret_file(&setting, path)?;
        if secret.len() < 32 {
            return Err(Error::config(
                setting,
                "the HS256 secret must be at least 32 bytes (e.g. `openssl rand -hex 32`)",
            ));
        }
        if self.audience.is_none() {
            tracing::warn!(
                "caller authentication: HS256 sessions are accepted without an audience check; set {} so that a token signed with the same secret for another purpose is refused",
                naming.of("audience").name()
            );
        }
        Ok(CallerMethod::JwtSecret(SessionKey::new(secret)))
    }

    /// RS256/ES256 with an identity provider's keys, which requires an audience.
    fn jwks_method(&self, naming: &Naming, url: &str) -> Result<CallerMethod, Error> {
        // An identity provider's keys sign tokens for every app of the tenant: without an
        // audience, any of them would be accepted here.
        if self.audience.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return Err(Error::config(
                naming.of("audience"),
                format!(
                    "is required with {}: the `aud` your app's access tokens carry (e.g. https://api.example.com), so tokens minted for other apps of the same identity provider are refused",
                    naming.of("jwks_url").name()
                ),
            ));
        }
        Ok(CallerMethod::Jwks(https_url(&naming.of("jwks_url"), url)?))
    }

    /// Ask the app, as nginx `auth_request` does.
    fn forward_auth_method(&self, naming: &Naming) -> Result<CallerMethod, Error> {
        let setting = naming.of("forward_auth_url");
        let u = self.forward_auth_url.as_deref().unwrap_or_default();
        if self.cookie.is_some() || self.issuer.is_some() || self.audience.is_some() {
            return Err(Error::config(
                setting,
                "forward auth does not read cookies or claims itself; drop the cookie, issuer and audience settings",
            ));
        }
        // Plain http is fine here: the check usually runs beside the signer, in-cluster.
        let url = url::Url::parse(u)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| Error::config(setting, format!("`{u}` is not an http(s) URL")))?;
        Ok(CallerMethod::ForwardAuth {
            url,
            user_header: Some(
                self.forward_auth_user_header
                    .clone()
                    .unwrap_or_else(|| defaults::DEFAULT_FORWARD_AUTH_USER_HEADER.into()),
            ),
            cache_for: self
                .cache_secs
                .map_or(defaults::DEFAULT_CALLER_CACHE, Duration::from_secs),
        })
    }
}
