//! The TOML file's shape, and its errors without the secrets they could quote.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::BrowserScopes;
use serde::Deserialize;

use super::caller::CallerInput;
use super::RedisUrl;
use crate::Error;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) listen: Option<SocketAddr>,
    pub(super) ops_listen: Option<SocketAddr>,
    pub(super) default_integration: Option<String>,
    pub(super) allowed_origins: Option<Vec<String>>,
    pub(super) leeway_secs: Option<u64>,
    pub(super) min_refresh_interval_secs: Option<u64>,
    pub(super) upstream_timeout_secs: Option<u64>,
    pub(super) upstream_retries: Option<u32>,
    pub(super) upstream_attempts_per_minute: Option<u32>,
    pub(super) rate_limit_per_minute: Option<u32>,
    pub(super) user_rate_limit_per_minute: Option<u32>,
    pub(super) trust_proxy: Option<bool>,
    pub(super) trusted_proxies: Option<Vec<String>>,
    pub(super) static_dir: Option<PathBuf>,
    pub(super) header_read_timeout_secs: Option<u64>,
    pub(super) max_connections: Option<usize>,
    pub(super) write_timeout_secs: Option<u64>,
    pub(super) proxy_timeout_secs: Option<u64>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) proxy_held_body_bytes: Option<u32>,
    pub(super) redis_url: Option<RedisUrl>,
    pub(super) redis_key_file: Option<PathBuf>,
    pub(super) redis_ca_file: Option<PathBuf>,
    pub(super) caller: Option<CallerInput>,
    #[serde(default)]
    pub(super) integrations: BTreeMap<String, FileIntegration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIntegration {
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) client_secret_file: Option<PathBuf>,
    pub(super) environment: Option<String>,
    pub(super) environment_api_url: Option<String>,
    pub(super) sandbox: Option<bool>,
    pub(super) platform_api_url: Option<String>,
    pub(super) auth_url: Option<String>,
    pub(super) audience: Option<String>,
    pub(super) allowed_origins: Option<Vec<String>>,
    pub(super) browser_scopes: Option<ScopesInput>,
    pub(super) caller: Option<CallerInput>,
    pub(super) proxy: Option<super::proxy::ProxyInput>,
}

/// `browser_scopes` in TOML: `"read-only"` or a list of scopes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ScopesInput {
    Policy(String),
    List(Vec<String>),
}

impl ScopesInput {
    pub(super) fn policy(&self, field: &crate::Setting) -> Result<BrowserScopes, Error> {
        match self {
            ScopesInput::Policy(s) => s.parse(),
            ScopesInput::List(v) => BrowserScopes::only(v.iter().map(String::as_str)),
        }
        .map_err(|e| Error::config(field.clone(), e.to_string()))
    }
}

/// A TOML error without the quoted source line that `toml` prints by default: that line may hold
/// a secret (found by the `config_toml` fuzz target). The line and column stay; the message is
/// dropped too when the line is a secret's, since serde's messages can quote the value.
pub(super) fn toml_error(text: &str, e: &toml::de::Error) -> String {
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
