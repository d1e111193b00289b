//! The JWKS behind RS256/ES256 sessions: cached, fetched again after [`JWKS_MAX_AGE`] or for an
//! unknown `kid` (at most once per [`JWKS_MIN_REFETCH`], one fetch at a time), read up to
//! [`MAX_REPLY_BYTES`]; while the provider is down, the last keys stay in use.

use grafx_core::Timestamp;
use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::{
    younger_than, CallerAuth, CallerMethod, CallerRefusal, RefusalReason, JWKS_MAX_AGE,
    JWKS_MIN_REFETCH, MAX_REPLY_BYTES,
};

#[derive(Default)]
pub(super) struct JwksCache {
    keys: Option<JwkSet>,
    fetched_at: Option<Timestamp>,
}

/// The key `kid` of `set`; a set of one key also serves a session without `kid`.
fn find_jwk(set: &JwkSet, kid: &str) -> Option<Jwk> {
    if kid.is_empty() && set.keys.len() == 1 {
        return set.keys.first().cloned();
    }
    set.find(kid).cloned()
}

fn unknown_key(kid: &str) -> CallerRefusal {
    CallerRefusal::unauthenticated(
        RefusalReason::UnknownKey,
        format!("the session is signed with an unknown key (`{kid}`); sign in again"),
    )
}

fn jwks_unavailable(url: &url::Url) -> CallerRefusal {
    CallerRefusal::unavailable(
        RefusalReason::JwksUnavailable,
        format!("the session keys could not be fetched from {url}; try again shortly"),
    )
}

impl CallerAuth {
    /// The key `kid` from the cached JWKS, fetching it again (rate-limited) when unknown.
    pub(super) async fn jwk(&self, kid: &str) -> Result<Jwk, CallerRefusal> {
        let CallerMethod::Jwks(url) = &self.config.method else {
            return Err(CallerRefusal::unavailable(
                RefusalReason::JwksInvalid,
                "no JWKS configured",
            ));
        };
        if let Some(k) = self.cached_jwk(&self.jwks_cache(), kid) {
            return Ok(k);
        }
        let _one_fetch = self.jwks_fetch.lock().await;
        {
            // Another caller may have fetched while this one waited.
            let mut cache = self.jwks_cache();
            if let Some(k) = self.cached_jwk(&cache, kid) {
                return Ok(k);
            }
            self.claim_jwks_fetch(&mut cache, url, kid)?;
        }
        let fetched = self.fetch_jwks(url).await;
        let mut cache = self.jwks_cache();
        match fetched {
            Ok(set) => {
                tracing::info!(jwks = %url, keys = set.keys.len(), "fetched the caller JWKS");
                let found = find_jwk(&set, kid);
                cache.keys = Some(set);
                found.ok_or_else(|| unknown_key(kid))
            }
            Err(e) => {
                tracing::warn!(jwks = %url, error = %e, "cannot fetch the caller JWKS");
                // An expired cache still beats refusing everyone while the provider is down.
                cache
                    .keys
                    .as_ref()
                    .and_then(|set| find_jwk(set, kid))
                    .ok_or_else(|| jwks_unavailable(url))
            }
        }
    }

    /// The key `kid` from a JWKS fetched less than `JWKS_MAX_AGE` ago.
    fn cached_jwk(&self, cache: &JwksCache, kid: &str) -> Option<Jwk> {
        let now = self.clock.now();
        let current = cache
            .fetched_at
            .is_some_and(|at| younger_than(at, JWKS_MAX_AGE, now));
        cache
            .keys
            .as_ref()
            .filter(|_| current)
            .and_then(|set| find_jwk(set, kid))
    }

    /// Marks a fetch as started, unless the last one was under `JWKS_MIN_REFETCH` ago: then the
    /// key is unknown (or the keys unavailable, when that fetch failed).
    fn claim_jwks_fetch(
        &self,
        cache: &mut JwksCache,
        url: &url::Url,
        kid: &str,
    ) -> Result<(), CallerRefusal> {
        let may_fetch = cache
            .fetched_at
            .is_none_or(|at| !younger_than(at, JWKS_MIN_REFETCH, self.clock.now()));
        if !may_fetch {
            // No keys at all means the last fetch failed: not the caller's fault.
            return Err(match cache.keys {
                None => jwks_unavailable(url),
                Some(_) => unknown_key(kid),
            });
        }
        cache.fetched_at = Some(self.clock.now());
        Ok(())
    }

    fn jwks_cache(&self) -> parking_lot::MutexGuard<'_, JwksCache> {
        self.jwks.lock()
    }

    /// Fetches the JWKS, refusing a body larger than [`MAX_REPLY_BYTES`] while reading it.
    async fn fetch_jwks(&self, url: &url::Url) -> Result<JwkSet, String> {
        let mut res = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(format!("the JWKS is larger than {MAX_REPLY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice::<JwkSet>(&body).map_err(|e| format!("not a JWKS: {e}"))
    }
}
