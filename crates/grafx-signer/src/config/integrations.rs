//! The integrations, in phases: the settings every integration shares (origins, browser scopes,
//! caller authentication), the one integration from flags or the file's tables (the flags fill in
//! what a table leaves out), the development-origin override, and the default integration. Each
//! phase names the setting it refuses.

use std::collections::BTreeMap;

use grafx_core::PlatformApiUrl;

use super::caller::CallerInput;
use super::file::{FileConfig, FileIntegration};
use super::integration::{build_integration, IntegrationInput};
use super::values::{self, origins, read_secret_file, split_list, Naming};
use super::{ConfigSource, Integration};
use crate::{BrowserScopes, CallerConfig, ClientSecret, Error, OriginPolicy, Setting};

impl ConfigSource {
    /// Settings that apply to every integration unless its own table says otherwise.
    pub(super) fn shared_settings(&self, file: &FileConfig) -> Result<SharedSettings, Error> {
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
    pub(super) fn integration_from_flags(
        &self,
        shared: &SharedSettings,
    ) -> Result<Integration, Error> {
        let a = &self.args;
        let secret = match (&a.client_secret_file, &self.env_secret) {
            (Some(path), _) => {
                read_secret_file(&Setting::Env("GRAFX_CLIENT_SECRET_FILE".into()), path)
                    .map(ClientSecret::new)
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
    pub(super) fn integrations_from_file(
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
    pub(super) fn open_origins_for_development(
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
}

/// What every integration inherits unless its own table says otherwise.
pub(super) struct SharedSettings {
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
        (None, Some(path)) => {
            read_secret_file(&naming.of("client_secret_file"), path).map(ClientSecret::new)
        }
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
pub(super) fn default_integration(
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
