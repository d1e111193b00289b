//! The tuning values (flag, then file, then [`defaults`]) and their range checks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::defaults::{self, *};
use super::file::FileConfig;
use super::values::{cidrs, given, split_list};
use super::{ConfigArgs, ConfigSource, Integration, ProxyPolicy, RedisSettings, SignerConfig};
use crate::{Error, Setting};

/// The flag's value, else the file's, else the default.
fn pick<T>(flag: Option<T>, file: Option<T>, default: T) -> T {
    flag.or(file).unwrap_or(default)
}

/// One range check: whether the value is fine, the setting it came from, and what to fix.
struct Check {
    ok: bool,
    setting: Setting,
    message: String,
}

impl ConfigSource {
    /// The tuning values: flag, then file, then [`defaults`].
    pub(super) fn tuning(
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
            listen: a.listen.or(file.listen).unwrap_or_else(listen),
            ops_listen: a.ops_listen.or(file.ops_listen),
            integrations,
            default_integration,
            leeway: secs(a.leeway_secs, file.leeway_secs, DEFAULT_LEEWAY),
            min_refresh_interval: secs(
                a.min_refresh_interval_secs,
                file.min_refresh_interval_secs,
                DEFAULT_MIN_REFRESH_INTERVAL,
            ),
            upstream_timeout: secs(
                a.upstream_timeout_secs,
                file.upstream_timeout_secs,
                DEFAULT_UPSTREAM_TIMEOUT,
            ),
            upstream_retries: pick(
                a.upstream_retries,
                file.upstream_retries,
                DEFAULT_UPSTREAM_RETRIES,
            ),
            upstream_attempts_per_minute: pick(
                a.upstream_attempts_per_minute,
                file.upstream_attempts_per_minute,
                DEFAULT_UPSTREAM_ATTEMPTS_PER_MINUTE,
            ),
            rate_limit_per_minute: pick(
                a.rate_limit_per_minute,
                file.rate_limit_per_minute,
                DEFAULT_IP_RATE_LIMIT,
            ),
            user_rate_limit_per_minute: pick(
                a.user_rate_limit_per_minute,
                file.user_rate_limit_per_minute,
                DEFAULT_USER_RATE_LIMIT,
            ),
            trust_proxy: a.trust_proxy
                || file.trust_proxy.unwrap_or(false)
                || !trusted_proxies.is_empty(),
            trusted_proxies,
            static_dir: a.static_dir.clone().or(file.static_dir),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            header_read_timeout: secs(
                a.header_read_timeout_secs,
                file.header_read_timeout_secs,
                DEFAULT_HEADER_READ_TIMEOUT,
            ),
            max_connections: pick(
                a.max_connections,
                file.max_connections,
                DEFAULT_MAX_CONNECTIONS,
            ),
            write_timeout: secs(None, file.write_timeout_secs, DEFAULT_WRITE_TIMEOUT),
            proxy_timeout: secs(None, file.proxy_timeout_secs, DEFAULT_PROXY_TIMEOUT),
            proxy_held_body_bytes: file
                .proxy_held_body_bytes
                .unwrap_or(DEFAULT_PROXY_HELD_BODY_BYTES),
            data_dir: a.data_dir.clone().or(file.data_dir),
            redis,
            source: self.clone(),
        })
    }
}

impl SignerConfig {
    /// Range checks on the merged values; each error names the flag's variable when the flag
    /// set the value, else the file's key.
    pub(super) fn validate(&self, args: &ConfigArgs) -> Result<(), Error> {
        let between = |d: Duration, max: u64| !d.is_zero() && d <= Duration::from_secs(max);
        let checks = [
            Check {
                ok: self.leeway < Duration::from_secs(3600),
                setting: given(args.leeway_secs.is_some(), "SIGNER_LEEWAY_SECS", "leeway_secs"),
                message: "must stay well below CHILI's one-hour re-issue window (e.g. 300); inside that window CHILI returns the same token".into(),
            },
            Check {
                ok: between(self.upstream_timeout, 120),
                setting: given(args.upstream_timeout_secs.is_some(), "SIGNER_UPSTREAM_TIMEOUT_SECS", "upstream_timeout_secs"),
                message: "must be between 1 and 120".into(),
            },
            Check {
                ok: between(self.header_read_timeout, 300),
                setting: given(args.header_read_timeout_secs.is_some(), "SIGNER_HEADER_READ_TIMEOUT_SECS", "header_read_timeout_secs"),
                message: "must be between 1 and 300".into(),
            },
            Check {
                ok: self.max_connections > 0,
                setting: given(args.max_connections.is_some(), "SIGNER_MAX_CONNECTIONS", "max_connections"),
                message: "must be at least 1".into(),
            },
            Check {
                ok: between(self.write_timeout, 600),
                setting: Setting::Toml("write_timeout_secs".into()),
                message: "must be between 1 and 600".into(),
            },
            Check {
                ok: between(self.proxy_timeout, 600),
                setting: Setting::Toml("proxy_timeout_secs".into()),
                message: "must be between 1 and 600".into(),
            },
            Check {
                ok: self.proxy_held_body_bytes >= defaults::MIN_PROXY_HELD_BODY_BYTES,
                setting: Setting::Toml("proxy_held_body_bytes".into()),
                message: format!(
                    "must be at least {} (eight request bodies held for a retry)",
                    defaults::MIN_PROXY_HELD_BODY_BYTES
                ),
            },
            Check {
                ok: self.redis.is_some() || self.data_dir.is_some() || !self.keeps_owners(),
                setting: given(args.data_dir.is_some(), "SIGNER_DATA_DIR", "data_dir"),
                message: "is required: the API proxy keeps each user's projects and outputs apart, and records who owns what in a database there (or set SIGNER_REDIS_URL to keep them in Redis, shared by replicas)".into(),
            },
            Check {
                ok: self.upstream_attempts_per_minute > 0,
                setting: given(args.upstream_attempts_per_minute.is_some(), "SIGNER_UPSTREAM_ATTEMPTS_PER_MINUTE", "upstream_attempts_per_minute"),
                message: "must be at least 1".into(),
            },
            Check {
                ok: self.upstream_retries <= 10,
                setting: given(args.upstream_retries.is_some(), "SIGNER_UPSTREAM_RETRIES", "upstream_retries"),
                message: "must be at most 10".into(),
            },
            Check {
                ok: self.static_dir.as_ref().is_none_or(|d| d.is_dir()),
                setting: given(args.static_dir.is_some(), "SIGNER_STATIC_DIR", "static_dir"),
                message: self
                    .static_dir
                    .as_ref()
                    .map(|d| format!("{} is not a directory", d.display()))
                    .unwrap_or_default(),
            },
        ];
        match checks.into_iter().find(|c| !c.ok) {
            Some(c) => Err(Error::config(c.setting, c.message)),
            None => Ok(()),
        }
    }

    /// Whether an integration's API proxy records who owns what (it needs a place to keep them).
    fn keeps_owners(&self) -> bool {
        self.integrations
            .values()
            .any(|i| i.proxy.as_ref().is_some_and(ProxyPolicy::keeps_owners))
    }
}
