//! What a configuration should warn about, each time it is loaded: at start and after every
//! SIGHUP (a reload that keeps a risky setting says so again).
//!
//! ```ignore
//! for warning in config.warnings() {
//!     tracing::warn!("{warning}");
//! }
//! ```

use super::SignerConfig;
use crate::OriginPolicy;

impl SignerConfig {
    /// The risky settings in force, one sentence each.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let any_origin = |p: &OriginPolicy| *p == OriginPolicy::AnyForDevelopment;
        if self.integrations.values().any(|i| {
            any_origin(&i.allowed_origins)
                || i.proxy
                    .as_ref()
                    .is_some_and(|p| any_origin(&p.allowed_origins))
        }) {
            warnings.push("!!! --dev-allow-any-origin: ANY website can obtain tokens from this signer. Never use this in production. !!!".to_owned());
        }
        for i in self.integrations.values() {
            if let Some(p) = i.proxy.as_ref().filter(|p| !p.require_caller) {
                if p.allow.forwards_writes() {
                    warnings.push(format!(
                        "integration `{}`: the API proxy forwards writes for anonymous callers (require_caller = false): anyone who forges an Origin header can write with this integration's token, within the quotas",
                        i.name
                    ));
                }
            }
        }
        for i in self.integrations.values() {
            if i.proxy
                .as_ref()
                .is_some_and(|p| p.shared_identity && p.forwards_owned_paths())
            {
                warnings.push(format!(
                    "integration `{}`: every user of the API proxy acts as one CHILI user (shared_identity = true): each can read and change the others' projects and outputs",
                    i.name
                ));
            }
        }
        for i in self.integrations.values() {
            if i.allowed_origins != OriginPolicy::ServerSideOnly
                && lets_renders_through(i.browser_scopes.as_ref())
            {
                warnings.push(format!("integration `{}`: {RENDERS_IN_BROWSERS}", i.name));
            }
        }
        warnings
    }
}

/// What the signer says when a browser token may start renders, and how to refuse them.
pub const RENDERS_IN_BROWSERS: &str = "a browser token with an output:* scope (output:static, output:animated) can start renders, which CHILI counts (CHILI: a token beyond read-only \"may cost you unwanted renders\"); `grafx-signer check` shows the token's scopes. To refuse them, give browsers an integration without output:* scopes and list what they may carry, e.g. browser_scopes = [\"template:list\", \"template:read\", \"media:list\", \"media:read\"] (a token with output:* is then refused: scope_not_allowed)";

/// Whether `policy` (none: every scope) hands a browser a token that carries an `output:` scope.
fn lets_renders_through(policy: Option<&crate::BrowserScopes>) -> bool {
    let renders = grafx_core::Scopes::parse("output:static output:animated");
    policy.is_none_or(|p| p.refused(&renders).len() < renders.iter().count())
}
