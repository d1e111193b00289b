//! Emulator configuration: clients, environment and timings.
//!
//! ```
//! use grafx_emulator::{ClientSpec, EmulatorConfig};
//!
//! let client: ClientSpec = "shop:s3cret:template:read,media:read".parse()?;
//! assert_eq!(client.scopes.to_string(), "media:read template:read");
//! let config = EmulatorConfig::default().with_clients(vec![client]);
//! assert_eq!(config.environment.as_str(), "demo");
//! # Ok::<(), grafx_emulator::Error>(())
//! ```

use std::str::FromStr;
use std::time::Duration;

use grafx_core::{EnvironmentName, Scopes};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The scopes of a read-only integration, in CHILI's vocabulary: every `:list` and `:read` scope
/// and no `:write`. It keeps the output scopes: rendering changes no content, the demo renders
/// with it, and a deployment that wants renders server-side narrows `browser_scopes` (or uses the
/// signer's proxy) instead. CHILI does not publish a read-only integration's exact scopes.
pub const READ_SCOPES: &[&str] = &[
    "font:list",
    "font:read",
    "media:list",
    "media:read",
    "myproject:list",
    "myproject:read",
    "output:animated",
    "output:static",
    "template:list",
    "template:read",
    "template_collection:list",
    "template_collection:read",
];
/// The scopes an all-permissions integration adds on top of [`READ_SCOPES`] (CHILI's token
/// documentation lists this full set).
pub const WRITE_SCOPES: &[&str] = &[
    "font:write",
    "media:write",
    "myproject:write",
    "template:write",
    "template_collection:write",
];

/// CHILI's audience for GraFx tokens; any other value is refused as Auth0 does.
pub const AUDIENCE: &str = "https://chiligrafx.com";

/// An integration (OAuth2 client) the emulator accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSpec {
    /// The client id.
    pub id: String,
    /// The client secret.
    pub secret: String,
    /// The scopes its tokens carry.
    pub scopes: Scopes,
}

impl std::fmt::Debug for ClientSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSpec")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl ClientSpec {
    /// A client with the given scopes.
    pub fn new(id: impl Into<String>, secret: impl Into<String>, scopes: Scopes) -> Self {
        Self {
            id: id.into(),
            secret: secret.into(),
            scopes,
        }
    }

    /// The read-only scopes, as a set.
    pub fn read_scopes() -> Scopes {
        READ_SCOPES.iter().copied().collect()
    }

    /// The read and write scopes, as a set.
    pub fn read_write_scopes() -> Scopes {
        READ_SCOPES.iter().chain(WRITE_SCOPES).copied().collect()
    }
}

impl FromStr for ClientSpec {
    type Err = Error;

    /// Parses `ID:SECRET[:SCOPES]`, SCOPES being comma-separated (the read scopes when left out).
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut parts = s.splitn(3, ':');
        let id = parts.next().unwrap_or_default();
        let secret = parts
            .next()
            .ok_or_else(|| Error::InvalidClient("expected ID:SECRET[:SCOPES]".into()))?;
        if id.is_empty() || secret.is_empty() {
            return Err(Error::InvalidClient(
                "client id and secret must not be empty (ID:SECRET[:SCOPES])".into(),
            ));
        }
        let scopes = match parts.next() {
            None | Some("") => Self::read_scopes(),
            Some(list) => list.split(',').map(str::trim).collect(),
        };
        Ok(Self::new(id, secret, scopes))
    }
}

/// The largest padded output: 4 GiB.
pub const MAX_OUTPUT_BYTES: u64 = 4 << 30;

/// Timings and limits that tests may change at run time through `/_emulator/settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Lifetime of a newly issued token, in seconds (CHILI: 86400).
    pub token_lifetime_secs: u64,
    /// While a client's current token has more than this left, asking again returns the same token
    /// (CHILI: about 3600).
    pub reissue_window_secs: u64,
    /// Token requests allowed per second before 429 (0: unlimited).
    pub token_rate_limit: u32,
    /// How long an output task runs before it completes, in milliseconds.
    pub output_render_ms: u64,
    /// How long a template preview "renders" (202 replies) before it is served, in milliseconds.
    pub preview_render_ms: u64,
    /// How long a finished output can be downloaded, in seconds (CHILI: about 4 hours).
    #[serde(default = "default_download_ttl")]
    pub output_download_ttl_secs: u64,
    /// Answer a running output task with 202, as older CHILI versions did, instead of 204.
    #[serde(default)]
    pub legacy_task_status: bool,
    /// Pads every output download to at least this many bytes (0: the file as rendered). CHILI's
    /// outputs run to hundreds of megabytes (print PDFs, videos): streaming tests need one.
    #[serde(default)]
    pub output_min_bytes: u64,
    /// Serve a list's `links.nextPage` as the bare next-page token rather than a URL that carries
    /// it. CHILI's documentation shows the URL; its media example connector
    /// (studio-connector-framework, `grafx-media-example/connector.ts`, written from CHILI's
    /// Swagger) hands `links.nextPage` back as the token itself. No source settles which one each
    /// endpoint sends, so the emulator serves either and the helpers read both.
    #[serde(default)]
    pub next_page_as_token: bool,
    /// A media preview answers 202 for this long after it is first asked for, as CHILI does
    /// while it generates one (0: at once).
    #[serde(default)]
    pub media_preview_render_ms: u64,
    /// Which body `PATCH projects/{id}` (rename) takes. CHILI's release notes (2023-05-16) name
    /// the route, not its body: by default both likely forms are taken; a test can leave one.
    #[serde(default)]
    pub project_rename_body: RenameBody,
    /// Answer a rename with 204 and no body rather than 200 and the project. The release notes
    /// do not show the reply: both are served, and the helpers read the project back after a 204.
    #[serde(default)]
    pub project_rename_no_content: bool,
    /// Spell a media item's `type` as `"Item"`/`"Directory"` rather than `0`/`1`. CHILI's
    /// documentation (the custom media connector guide) shows the numbers; the media example
    /// connector's types, written from the Swagger, take either. Unsettled: both are served.
    #[serde(default)]
    pub media_type_names: bool,
    /// Answer `GET media/{id}` with the bare item rather than `{data, links}`. The example
    /// connector's Swagger types and CHILI's connector guide read `{data, links}`; an older API
    /// description shows the bare item. Unsettled: both are served and the helpers read both.
    #[serde(default)]
    pub bare_media_item: bool,
    /// Spell a template's dates `DateCreated`/`LastModifiedContentUtc` (as the release notes of
    /// 2026-03-30 write them) rather than camelCase `dateCreated`/`lastModifiedContentUtc` (as
    /// every other key of the API is spelled). No source shows a reply: both are served.
    #[serde(default)]
    pub pascal_case_template_dates: bool,
    /// A list with `folder` but without `includeItemsFromSubfolders` includes the items of its
    /// subfolders. CHILI's media connector always sends the flag, so no source shows CHILI's
    /// default; an older API description listed subfolders (and kept `media/directory` for one
    /// folder). Unsettled: both are served, and the helpers send the flag whenever they send a
    /// folder.
    #[serde(default)]
    pub subfolders_by_default: bool,
    /// Wrap the Platform API's replies in `data`. Its release notes (2026-02-23) list the
    /// properties of a reply, not its shape: bare by default, wrapped with this.
    #[serde(default)]
    pub wrapped_platform_replies: bool,
}

/// The bodies `PATCH projects/{id}` takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenameBody {
    /// `{"name": …}` and a JSON Patch replacing `/name`.
    #[default]
    Either,
    /// Only `{"name": …}`.
    Name,
    /// Only a JSON Patch: `[{"op": "replace", "path": "/name", "value": …}]`.
    JsonPatch,
}

fn default_download_ttl() -> u64 {
    4 * 3600
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_lifetime_secs: 86_400,
            reissue_window_secs: 3_600,
            token_rate_limit: 50,
            output_render_ms: 1_500,
            preview_render_ms: 400,
            output_download_ttl_secs: default_download_ttl(),
            legacy_task_status: false,
            output_min_bytes: 0,
            next_page_as_token: false,
            media_preview_render_ms: 0,
            project_rename_body: RenameBody::Either,
            project_rename_no_content: false,
            media_type_names: false,
            bare_media_item: false,
            pascal_case_template_dates: false,
            subfolders_by_default: false,
            wrapped_platform_replies: false,
        }
    }
}

impl Settings {
    /// Token lifetime as a duration.
    pub fn token_lifetime(&self) -> Duration {
        Duration::from_secs(self.token_lifetime_secs)
    }

    /// Re-issue window as a duration.
    pub fn reissue_window(&self) -> Duration {
        Duration::from_secs(self.reissue_window_secs)
    }

    /// Checks the settings are usable.
    pub fn validate(&self) -> Result<(), Error> {
        if self.token_lifetime_secs == 0
            || self.token_lifetime_secs > grafx_core::MAX_EXPIRES_IN.as_secs()
        {
            return Err(Error::InvalidSettings(format!(
                "token_lifetime_secs must be between 1 and {}",
                grafx_core::MAX_EXPIRES_IN.as_secs()
            )));
        }
        if self.output_min_bytes > MAX_OUTPUT_BYTES {
            return Err(Error::InvalidSettings(format!(
                "output_min_bytes must be at most {MAX_OUTPUT_BYTES}"
            )));
        }
        if self.output_render_ms > 600_000 || self.preview_render_ms > 600_000 {
            return Err(Error::InvalidSettings(
                "render times must be at most 600000 ms".into(),
            ));
        }
        Ok(())
    }
}

/// Everything the emulator starts with.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The environment name served under `/grafx/api/v1/environment/{name}/`.
    pub environment: EnvironmentName,
    /// The accepted clients.
    pub clients: Vec<ClientSpec>,
    /// Timings and limits.
    pub settings: Settings,
}

impl Default for EmulatorConfig {
    /// Environment `demo` with the two demo clients: `demo-reader` (read scopes) and
    /// `demo-writer` (read and write scopes).
    fn default() -> Self {
        Self {
            environment: EnvironmentName::new("demo")
                .unwrap_or_else(|_| unreachable!("valid literal")),
            clients: vec![
                ClientSpec::new(
                    "demo-reader",
                    "demo-reader-secret",
                    ClientSpec::read_scopes(),
                ),
                ClientSpec::new(
                    "demo-writer",
                    "demo-writer-secret",
                    ClientSpec::read_write_scopes(),
                ),
            ],
            settings: Settings::default(),
        }
    }
}

impl EmulatorConfig {
    /// Replaces the clients.
    pub fn with_clients(mut self, clients: Vec<ClientSpec>) -> Self {
        self.clients = clients;
        self
    }

    /// Replaces the settings.
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_client_specs() {
        let c: ClientSpec = "a:b".parse().unwrap();
        assert_eq!(c.scopes, ClientSpec::read_scopes());
        let c: ClientSpec = "a:b:x:read, y:write".parse().unwrap();
        assert_eq!(c.scopes.to_string(), "x:read y:write");
        let c: ClientSpec = "a:b:".parse().unwrap();
        assert_eq!(c.scopes, ClientSpec::read_scopes());
        for bad in ["", "a", ":b", "a:"] {
            assert!(bad.parse::<ClientSpec>().is_err(), "{bad}");
        }
        assert!(!format!("{c:?}").contains(":b"));
    }

    #[test]
    fn validates_settings() {
        assert!(Settings::default().validate().is_ok());
        assert!(Settings {
            token_lifetime_secs: 0,
            ..Settings::default()
        }
        .validate()
        .is_err());
        assert!(Settings {
            output_render_ms: 600_001,
            ..Settings::default()
        }
        .validate()
        .is_err());
    }
}
