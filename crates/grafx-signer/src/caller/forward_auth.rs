//! Forward auth, as nginx `auth_request` does it: the caller's `Cookie` and `Authorization` go to
//! the app's URL; 2xx allows (a reply header may name the user), 401/403 refuses, anything else
//! refuses with 503. Decisions are cached per credential hash (the credentials are never kept),
//! approvals and refusals apart, and at most [`MAX_FORWARD_AUTH_IN_FLIGHT`](super::MAX_FORWARD_AUTH_IN_FLIGHT) checks run at once.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use grafx_core::Timestamp;
use sha2::{Digest, Sha256};

use super::{younger_than, Caller, CallerAuth, CallerRefusal, RefusalReason};

/// A forward-auth answer, cached per credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// The app accepted the session; the user, when its reply names one.
    Allowed { user: Option<String> },
    /// The app refused the session (401 or 403): the message for the browser.
    Refused { message: String },
}

/// Forward-auth decisions by credential hash: at capacity the least recently stored goes first
/// (all live equally long, so it is also the first to expire), never the lot. A lookup does not
/// reorder (`peek`). hashlink's `LruCache` (already in the tree through rusqlite).
pub(super) struct DecisionCache(hashlink::LruCache<[u8; 32], (Timestamp, Decision)>);

impl DecisionCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self(hashlink::LruCache::new(capacity.max(1)))
    }

    /// The decision for `key` while it is younger than `max_age`. A clock that went back past
    /// when it was made (an NTP step) expires it rather than stretching its life.
    fn get(&self, key: &[u8; 32], max_age: Duration, now: Timestamp) -> Option<Decision> {
        self.0
            .peek(key)
            .filter(|(at, _)| younger_than(*at, max_age, now))
            .map(|(_, d)| d.clone())
    }

    fn insert(&mut self, key: [u8; 32], decision: Decision, now: Timestamp) {
        self.0.insert(key, (now, decision));
    }
}

/// The cache key of a caller's credentials: a hash of the Cookie and Authorization headers (the
/// credentials themselves are never kept).
fn credentials_digest(
    cookie: Option<&HeaderValue>,
    authorization: Option<&HeaderValue>,
) -> [u8; 32] {
    let mut hash = Sha256::new();
    for v in [cookie, authorization] {
        hash.update(v.map_or(&b""[..], |v| v.as_bytes()));
        hash.update([0]);
    }
    hash.finalize().into()
}

impl CallerAuth {
    /// Forward auth: the app's answer for these credentials, cached per credential hash
    /// (approvals and refusals apart) for `cache_for`.
    pub(super) async fn forward_auth(
        &self,
        headers: &HeaderMap,
        url: &url::Url,
        user_header: Option<&str>,
        cache_for: Duration,
    ) -> Result<Caller, CallerRefusal> {
        let cookie = headers.get(header::COOKIE);
        let authorization = headers.get(header::AUTHORIZATION);
        if cookie.is_none() && authorization.is_none() {
            return Err(CallerRefusal::unauthenticated(
                RefusalReason::Missing,
                "sign in first: this signer hands tokens only to signed-in users, and the request carries no cookie or Authorization header",
            ));
        }
        let digest = credentials_digest(cookie, authorization);
        let now = self.clock.now();
        let cached = self
            .decisions
            .lock()
            .get(&digest, cache_for, now)
            .or_else(|| self.refusals.lock().get(&digest, cache_for, now));
        let decision = match cached {
            Some(d) => d,
            None => {
                let decision = self
                    .ask_the_app(url, cookie, authorization, user_header)
                    .await?;
                let cache = match decision {
                    Decision::Allowed { .. } => &self.decisions,
                    Decision::Refused { .. } => &self.refusals,
                };
                cache
                    .lock()
                    .insert(digest, decision.clone(), self.clock.now());
                decision
            }
        };
        match decision {
            Decision::Allowed { user } => Ok(Caller { subject: user }),
            Decision::Refused { message } => Err(CallerRefusal::unauthenticated(
                RefusalReason::ForwardAuthRefused,
                message,
            )),
        }
    }

    /// One forward-auth request (within the in-flight bound) with the caller's Cookie and
    /// Authorization: 2xx allows, 401/403 refuses, anything else is the app's failure (503).
    async fn ask_the_app(
        &self,
        url: &url::Url,
        cookie: Option<&HeaderValue>,
        authorization: Option<&HeaderValue>,
        user_header: Option<&str>,
    ) -> Result<Decision, CallerRefusal> {
        let busy = || {
            CallerRefusal::unavailable(
                RefusalReason::ForwardAuthBusy,
                "too many session checks are in progress; try again shortly",
            )
        };
        let _slot = tokio::time::timeout(self.timeout, self.forward_auth_slots.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let mut req = self.http.get(url.clone());
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(a) = authorization {
            req = req.header(header::AUTHORIZATION, a);
        }
        let res = req.send().await.map_err(|e| {
            tracing::warn!(url = %url, error = %e, "the forward-auth endpoint is unreachable; refusing callers");
            CallerRefusal::unavailable(
                RefusalReason::ForwardAuthUnavailable,
                "the app's session check could not be reached; try again shortly",
            )
        })?;
        let status = res.status();
        if status.is_success() {
            Ok(Decision::Allowed {
                user: user_header
                    .and_then(|h| res.headers().get(h))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .filter(|u| !u.is_empty()),
            })
        } else if status == 401 || status == 403 {
            Ok(Decision::Refused {
                message: format!("the app refused the session (HTTP {status}); sign in again"),
            })
        } else {
            tracing::warn!(url = %url, %status, "the forward-auth endpoint failed; refusing callers");
            Err(CallerRefusal::unavailable(
                RefusalReason::ForwardAuthUnavailable,
                format!("the app's session check failed (HTTP {status}); try again shortly"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_cache_evicts_the_oldest_entries_not_everything() {
        let mut cache = DecisionCache::new(3);
        let key = |n: u8| [n; 32];
        let allowed = |n: u8| Decision::Allowed {
            user: Some(format!("user-{n}")),
        };
        let t0 = Timestamp::from_millis(1_000_000);
        for n in 0..5 {
            cache.insert(key(n), allowed(n), t0);
        }
        let ttl = Duration::from_secs(60);
        assert_eq!(cache.get(&key(0), ttl, t0), None, "the oldest went first");
        assert_eq!(cache.get(&key(1), ttl, t0), None);
        for n in 2..5 {
            assert_eq!(cache.get(&key(n), ttl, t0), Some(allowed(n)));
        }
        // Refreshing a key does not grow the order.
        let refused = Decision::Refused {
            message: "refused".into(),
        };
        cache.insert(key(4), refused.clone(), t0);
        assert_eq!(cache.0.len(), 3);
        // A lookup does not reorder; a decision stored again is the newest: the next one evicts
        // the least recently stored (3, since 4 and 2 were stored again).
        cache.insert(key(2), allowed(2), t0);
        cache.insert(key(5), allowed(5), t0);
        assert_eq!(
            cache.get(&key(3), ttl, t0),
            None,
            "the least recently stored went"
        );
        assert_eq!(cache.get(&key(2), ttl, t0), Some(allowed(2)));
        // Kept for `ttl` on the clock it is given, then gone.
        let later = |s: u64| t0.saturating_add(Duration::from_secs(s));
        assert_eq!(cache.get(&key(4), ttl, later(59)), Some(refused));
        assert_eq!(cache.get(&key(4), ttl, later(60)), None, "expired by age");
    }
}
