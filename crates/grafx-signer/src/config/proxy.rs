//! An integration's API proxy (`[integrations.{name}.proxy]`): the allow-list, who may use it,
//! its quotas and its body limit.
//!
//! ```toml
//! [integrations.writer]
//! client_id = "…"
//! client_secret_file = "/run/secrets/writer"
//! environment = "acme"
//!
//! [integrations.writer.proxy]
//! allow = ["POST projects", "GET projects/*", "PUT projects/*/document", "POST output/*",
//!          "GET output/tasks/*", "GET output/tasks/*/download", "GET output/settings"]
//! allowed_origins = ["https://app.example.com"]   # default: the global allowed_origins
//! quotas = [{ rule = "POST output/*", per_hour = 20 }]
//! # shared_identity = true   # only without caller authentication: every visitor is one CHILI user
//! ```
//!
//! With caller authentication each signed-in user's projects and outputs are theirs (see
//! [`crate::OwnershipStore`]); without it, a proxy that forwards project or output paths must say
//! `shared_identity = true`.

use std::num::NonZeroU32;

use crate::{ProxyAllowList, ProxyRule};
use serde::Deserialize;

use super::values::{origins, Naming};
use crate::{Error, OriginPolicy};

/// The request body limit when the file sets none: a large document (`PUT projects/*/document`)
/// fits; a runaway upload does not. CHILI documents a limit only for output requests ("a 10 MB
/// request body", its variable-data guide); a larger render body is passed on and CHILI's own
/// refusal comes back as it is, so this never refuses what CHILI might accept.
pub const DEFAULT_PROXY_MAX_REQUEST_BYTES: u64 = 16 * 1024 * 1024;

/// `[integrations.{name}.proxy]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProxyInput {
    allow: Vec<String>,
    allowed_origins: Option<Vec<String>>,
    #[serde(default)]
    quotas: Vec<QuotaInput>,
    max_request_bytes: Option<u64>,
    require_caller: Option<bool>,
    shared_identity: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaInput {
    rule: String,
    per_hour: u32,
}

/// A limit on the requests one caller (a signed-in user, else an IP) sends that match `rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyQuota {
    /// The requests counted.
    pub rule: ProxyRule,
    /// How many per hour (the whole hour's allowance may be used at once).
    pub per_hour: NonZeroU32,
}

/// What an integration's API proxy forwards, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPolicy {
    /// The requests forwarded; anything else is refused with `proxy_path_not_allowed`.
    pub allow: ProxyAllowList,
    /// The browser origins that may use the proxy.
    pub allowed_origins: OriginPolicy,
    /// Per-caller limits on costly requests.
    pub quotas: Vec<ProxyQuota>,
    /// The largest request body forwarded.
    pub max_request_bytes: u64,
    /// Whether a valid app session is required (the integration's caller check).
    pub require_caller: bool,
    /// Whether every caller acts as the one CHILI identity of the integration, so that they all
    /// see and change each other's projects and outputs. Off (the default), each signed-in user's
    /// projects and outputs are theirs: what they create is recorded as theirs, and a request
    /// naming it is forwarded only for them.
    pub shared_identity: bool,
}

/// Paths that name, list or create what a user owns, one per kind of request: a proxy whose
/// allow-list forwards any of them keeps owners apart (or says `shared_identity = true`).
const OWNED_PATHS: [(&str, &str); 8] = [
    ("GET", "projects"),
    ("POST", "projects"),
    ("GET", "projects/p/document"),
    ("PUT", "projects/p/document"),
    ("POST", "output/pdf"),
    ("GET", "output/tasks/t"),
    ("GET", "output/tasks/t/download"),
    ("GET", "projects/preview/tasks/t"),
];

impl ProxyPolicy {
    /// Whether the allow-list forwards requests that name, list or create a user's projects or
    /// outputs.
    pub fn forwards_owned_paths(&self) -> bool {
        let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
        let probes = OWNED_PATHS
            .iter()
            .map(|(_, p)| *p)
            .chain(["projects/p", "projects/p/preview/thumbnail"]);
        probes
            .flat_map(|p| methods.map(|m| (m, p)))
            .any(|(m, p)| crate::ProxyPath::parse(p).is_ok_and(|path| self.allow.allows(m, &path)))
    }

    /// Whether this proxy records owners (and so needs an ownership store).
    pub fn keeps_owners(&self) -> bool {
        !self.shared_identity && self.forwards_owned_paths()
    }
}

impl ProxyInput {
    /// The policy; `shared_origins` are the global origins, `has_caller` whether the integration
    /// checks callers, `dev_any_origin` whether `--dev-allow-any-origin` opens it when no origins
    /// are given.
    pub(super) fn build(
        &self,
        naming: &Naming,
        shared_origins: Option<&OriginPolicy>,
        has_caller: bool,
        dev_any_origin: bool,
    ) -> Result<ProxyPolicy, Error> {
        let allow = ProxyAllowList::parse(self.allow.iter().map(String::as_str))
            .map_err(|e| Error::config(naming.of("allow"), e.to_string()))?;
        if allow.is_empty() {
            return Err(Error::config(
                naming.of("allow"),
                "is empty: list the requests the proxy forwards, e.g. [\"POST projects\"]",
            ));
        }
        let max_request_bytes = self
            .max_request_bytes
            .unwrap_or(DEFAULT_PROXY_MAX_REQUEST_BYTES);
        if max_request_bytes == 0 {
            return Err(Error::config(
                naming.of("max_request_bytes"),
                "must be at least 1",
            ));
        }
        let require_caller = self.require_caller(naming, &allow, has_caller)?;
        let shared_identity = self.shared_identity.unwrap_or(false);
        let policy = ProxyPolicy {
            require_caller,
            shared_identity,
            allowed_origins: self.origins(naming, shared_origins, dev_any_origin)?,
            quotas: self.quotas(naming)?,
            allow,
            max_request_bytes,
        };
        // One CHILI identity for many visitors: they would see and overwrite each other's
        // projects. That takes a signed-in user each, or an explicit choice.
        if policy.forwards_owned_paths() && !require_caller && !shared_identity {
            return Err(Error::config(
                naming.of("shared_identity"),
                "must be set: the proxy forwards project or output paths without a signed-in user, so every visitor would act as the same CHILI user and could read and overwrite the others' projects and outputs. Configure `caller` (then each user's projects are theirs), or set shared_identity = true to accept that",
            ));
        }
        Ok(policy)
    }

    /// Its own origins, else the global ones, else (in development) any. An explicit empty list
    /// is a mistake, not "any" (even under `--dev-allow-any-origin`): no page could use the proxy.
    fn origins(
        &self,
        naming: &Naming,
        shared: Option<&OriginPolicy>,
        dev_any_origin: bool,
    ) -> Result<OriginPolicy, Error> {
        match &self.allowed_origins {
            Some(list) if list.is_empty() => {
                return Err(Error::config(
                    naming.of("allowed_origins"),
                    "is empty, so no page could use the proxy: list the browser origins that may, or leave the key out to use the global allowed_origins",
                ))
            }
            Some(list) => origins(&naming.of("allowed_origins"), list)?,
            None => shared.cloned(),
        }
        .filter(|o| *o != OriginPolicy::ServerSideOnly)
        .or(dev_any_origin.then_some(OriginPolicy::AnyForDevelopment))
        .ok_or_else(|| {
            Error::config(
                naming.of("allowed_origins"),
                "is required (or the global allowed_origins): the browser origins that may use the proxy",
            )
        })
    }

    fn quotas(&self, naming: &Naming) -> Result<Vec<ProxyQuota>, Error> {
        self.quotas
            .iter()
            .map(|q| {
                let rule = ProxyRule::parse(&q.rule)
                    .map_err(|e| Error::config(naming.of("quotas"), e.to_string()))?;
                let per_hour = NonZeroU32::new(q.per_hour).ok_or_else(|| {
                    Error::config(
                        naming.of("quotas"),
                        format!(
                            "`{}`: per_hour must be at least 1 (leave the quota out to have none)",
                            q.rule
                        ),
                    )
                })?;
                Ok(ProxyQuota { rule, per_hour })
            })
            .collect()
    }

    /// Whether a session is required: on with caller authentication, and a choice to write down
    /// without it when the proxy forwards writes.
    fn require_caller(
        &self,
        naming: &Naming,
        allow: &ProxyAllowList,
        has_caller: bool,
    ) -> Result<bool, Error> {
        let require_caller = self.require_caller.unwrap_or(has_caller);
        if require_caller && !has_caller {
            return Err(Error::config(
                naming.of("require_caller"),
                "is true but the integration has no caller authentication: configure `caller` (or the global one)",
            ));
        }
        // Origin and X-CSRF stop other websites, not a script that forges them: without caller
        // authentication anyone could write with this token. That takes an explicit choice.
        if allow.forwards_writes() && !has_caller && self.require_caller.is_none() {
            return Err(Error::config(
                naming.of("require_caller"),
                "must be set: the proxy forwards writes and the integration has no caller authentication, so anyone who forges an Origin header could write. Configure `caller` (then it is on by default), or set require_caller = false to let anonymous visitors write, limited only by the quotas",
            ));
        }
        Ok(require_caller)
    }
}
