//! Parsers for single values (URLs, origins, CIDRs, secret files), each naming the setting it
//! reads on a mistake.

use std::path::Path;

use super::defaults::DEFAULT_AUTH_URL;
use crate::{Error, OriginPolicy, Setting};

/// How one source names its settings in errors: environment variables with a prefix
/// (`GRAFX_`, `SIGNER_CALLER_`), or TOML keys under a table (`integrations.reader.`).
#[derive(Debug, Clone)]
pub(super) enum Naming {
    /// `{prefix}{FIELD}`.
    Env(&'static str),
    /// `{prefix}{field}`.
    Toml(String),
}

/// A value the flag (named by its variable `env`) set when `from_flag`, else the file's `key`.
pub(super) fn given(from_flag: bool, env: &str, key: &str) -> Setting {
    if from_flag {
        Setting::Env(env.into())
    } else {
        Setting::Toml(key.into())
    }
}

impl Naming {
    /// The setting `field` of this source.
    pub(super) fn of(&self, field: &str) -> Setting {
        match self {
            Self::Env(prefix) => Setting::Env(format!("{prefix}{}", field.to_ascii_uppercase())),
            Self::Toml(prefix) => Setting::Toml(format!("{prefix}{field}")),
        }
    }
}

/// CIDRs (`10.0.0.0/8`, or a single address) from a list, naming `field` on a mistake.
pub(super) fn cidrs(field: &Setting, list: &[String]) -> Result<Vec<ipnet::IpNet>, Error> {
    list.iter()
        .map(|c| {
            c.parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    Error::config(
                        field.clone(),
                        format!("`{c}` is not a CIDR (like 10.0.0.0/8) or an IP address"),
                    )
                })
        })
        .collect()
}

/// A secret file's contents, trimmed; empty or unreadable is an error naming `field`. The
/// caller wraps it in its secret type at once.
pub(super) fn read_secret_file(field: &Setting, path: &Path) -> Result<String, Error> {
    let raw = std::fs::read_to_string(path).map_err(|e| {
        Error::config(
            field.clone(),
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let secret = raw.trim();
    if secret.is_empty() {
        return Err(Error::config(
            field.clone(),
            format!("{} is empty", path.display()),
        ));
    }
    Ok(secret.to_owned())
}

/// A URL that must be https, or http on loopback (an emulator, a local test server).
pub(super) fn https_url(field: &Setting, raw: &str) -> Result<url::Url, Error> {
    let url = url::Url::parse(raw)
        .map_err(|e| Error::config(field.clone(), format!("`{raw}` is not a URL: {e}")))?;
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
            field.clone(),
            format!("`{raw}` must be https (http only on loopback)"),
        )),
    }
}

pub(super) fn auth_url(field: &Setting, raw: Option<&str>) -> Result<url::Url, Error> {
    https_url(field, raw.unwrap_or(DEFAULT_AUTH_URL))
}

pub(super) fn origins(field: &Setting, list: &[String]) -> Result<Option<OriginPolicy>, Error> {
    if list.is_empty() {
        return Ok(None);
    }
    OriginPolicy::parse_list(&list.join(","))
        .map(Some)
        .map_err(|e| Error::config(field.clone(), e.to_string()))
}

pub(super) fn split_list(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}
