//! One integration built from its settings (flags or a TOML table).

use crate::BrowserScopes;
use grafx_core::{EnvironmentApiUrl, EnvironmentName, PlatformApiUrl, PLATFORM_API_URL};

use super::defaults::DEFAULT_AUDIENCE;
use super::values::{auth_url, Naming};
use super::Integration;
use crate::{ClientSecret, Error, OriginPolicy};

pub(super) struct IntegrationInput<'a> {
    /// How this source names its settings in errors.
    pub(super) naming: Naming,
    pub(super) client_id: Option<&'a str>,
    pub(super) secret: Result<ClientSecret, Error>,
    pub(super) environment: Option<&'a str>,
    pub(super) environment_api_url: Option<&'a str>,
    pub(super) sandbox: bool,
    pub(super) platform_api_url: Option<&'a str>,
    pub(super) auth_url: Option<&'a str>,
    pub(super) audience: Option<&'a str>,
    pub(super) allowed_origins: OriginPolicy,
    pub(super) browser_scopes: Option<BrowserScopes>,
}

pub(super) fn build_integration(name: &str, i: IntegrationInput<'_>) -> Result<Integration, Error> {
    let p = &i.naming;
    let client_id = i
        .client_id
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| Error::config(p.of("client_id"), "is required"))?;
    let client_secret = i.secret?;
    let env_name = i.environment.ok_or_else(|| {
        Error::config(
            p.of("environment"),
            "is required (the GraFx environment name)",
        )
    })?;
    let environment = EnvironmentName::new(env_name)
        .map_err(|e| Error::config(p.of("environment"), e.to_string()))?;
    if i.sandbox && i.environment_api_url.is_some() {
        return Err(Error::config(
            p.of("sandbox"),
            "is set together with environment_api_url; use one (a whole URL needs no sandbox flag)",
        ));
    }
    let environment_api_url = match i.environment_api_url {
        Some(u) => EnvironmentApiUrl::parse(u)
            .map_err(|e| Error::config(p.of("environment_api_url"), e.to_string()))?,
        None if i.sandbox => EnvironmentApiUrl::sandbox(&environment),
        None => EnvironmentApiUrl::from_environment(&environment),
    };
    let platform_api_url = PlatformApiUrl::parse(i.platform_api_url.unwrap_or(PLATFORM_API_URL))
        .map_err(|e| Error::config(p.of("platform_api_url"), e.to_string()))?;
    Ok(Integration {
        name: name.to_owned(),
        client_id: client_id.trim().to_owned(),
        client_secret,
        environment,
        environment_api_url,
        platform_api_url,
        auth_url: auth_url(&p.of("auth_url"), i.auth_url)?,
        audience: i.audience.unwrap_or(DEFAULT_AUDIENCE).to_owned(),
        allowed_origins: i.allowed_origins,
        browser_scopes: i.browser_scopes,
        caller: None,
        proxy: None,
    })
}
