//! One refresher across replicas: the shared store's token when it is better than ours (phase
//! 1), the store's refresh lock or the wait for the replica holding it (phase 3), and the new
//! token published to this replica and the store (phase 4's end). A store that fails means
//! carrying on alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grafx_core::Freshness;

use super::flight::{received_no_later_than, stamp_grant, Moment, MAX_INLINE_BACKOFF};
use super::TokenCache;
use crate::store::CachedToken;

/// What phase 3 of a refresh came to: refresh (holding the store's lock, or alone), or adopt the
/// token another replica published.
pub(super) enum LockOutcome {
    Refresh(Option<crate::store::RefreshLock>),
    Adopted(Arc<CachedToken>),
}

impl TokenCache {
    /// The shared store's token when it is better than `ours` (valid, and expiring later):
    /// another replica refreshed. Store failures count as "nothing there".
    async fn shared_better_than(
        &self,
        ours: Option<&Arc<CachedToken>>,
    ) -> Option<Arc<CachedToken>> {
        let shared = match self.store.load(&self.key).await {
            Ok(t) => t?,
            Err(e) => {
                tracing::debug!(integration = self.name(), error = %e, "token store unavailable; using this replica's copy");
                return None;
            }
        };
        // Read after the load: the token may have been received after this caller's last look
        // at the clock.
        let now = self.clock.now();
        let shared = received_no_later_than(shared, now);
        if shared.expiry.freshness(now, &self.settings.policy) == Freshness::Expired {
            return None;
        }
        match ours {
            Some(o) if o.expiry.expires_at() >= shared.expiry.expires_at() => None,
            _ => Some(shared),
        }
    }

    /// Waits for the replica holding the refresh lock to store a better token; `None` when the
    /// lock was released (or expired) without one, so this replica must refresh itself.
    async fn wait_for_other_replica(
        &self,
        ours: Option<&Arc<CachedToken>>,
        limit: Duration,
    ) -> Option<Arc<CachedToken>> {
        let started = Instant::now();
        while started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if let Some(t) = self.shared_better_than(ours).await {
                return Some(t);
            }
            if !self.store.is_locked(&self.key).await.unwrap_or(false) {
                // Released: one last look, as the token is saved before the lock is released.
                return self.shared_better_than(ours).await;
            }
        }
        None
    }

    /// How long a replica may hold the refresh lock: one refresh with all its retries.
    fn lock_ttl(&self) -> Duration {
        let attempts = self.settings.retries.saturating_add(1);
        (self.settings.upstream_timeout + MAX_INLINE_BACKOFF).saturating_mul(attempts)
    }

    /// Phase 1: another replica may have refreshed already. Adopts the store's token when it is
    /// better than `usable` (which it replaces); returns it when it is fresh, so no refresh is due.
    pub(super) async fn adopt_from_store(
        &self,
        usable: &mut Option<Arc<CachedToken>>,
    ) -> Option<Arc<CachedToken>> {
        let shared = self.shared_better_than(usable.as_ref()).await?;
        self.set_current(&shared);
        if shared
            .expiry
            .freshness(self.clock.now(), &self.settings.policy)
            == Freshness::Fresh
        {
            return Some(shared);
        }
        *usable = Some(shared);
        None
    }

    /// Phase 3: become the one refresher across replicas, or wait for the one that is and adopt
    /// its token. A store that fails means refreshing alone.
    pub(super) async fn take_refresh_lock(&self, usable: Option<&Arc<CachedToken>>) -> LockOutcome {
        match self.store.try_lock(&self.key, self.lock_ttl()).await {
            Ok(Some(lock)) => {
                // The lock may have been released just now by a replica that stored a token.
                if let Some(t) = self.shared_better_than(usable).await {
                    self.store.unlock(lock).await;
                    self.set_current(&t);
                    return LockOutcome::Adopted(t);
                }
                LockOutcome::Refresh(Some(lock))
            }
            Ok(None) => match self.wait_for_other_replica(usable, self.lock_ttl()).await {
                Some(t) => {
                    tracing::debug!(
                        integration = self.name(),
                        "adopted the token another replica obtained"
                    );
                    self.set_current(&t);
                    LockOutcome::Adopted(t)
                }
                None => LockOutcome::Refresh(None),
            },
            Err(e) => {
                tracing::debug!(integration = self.name(), error = %e, "token store unavailable; refreshing alone");
                LockOutcome::Refresh(None)
            }
        }
    }

    /// Phase 4's end: the new token becomes this replica's and is saved to the store (before the
    /// lock is released, so waiting replicas find it).
    pub(super) async fn publish(
        &self,
        grant: &grafx_core::TokenGrant,
        usable: Option<&Arc<CachedToken>>,
        at: Moment,
    ) -> Arc<CachedToken> {
        let now = at.wall;
        let (token, same) = stamp_grant(grant, usable, now);
        self.state().same_token_until =
            same.then(|| at.steady.saturating_add(self.settings.min_refresh_interval));
        let policy = self.settings.policy;
        if same && token.expiry.freshness(now, &policy) != Freshness::Fresh {
            tracing::info!(
                integration = self.name(),
                expires_in = grant.expires_in().as_secs(),
                "CHILI returned the same token inside the refresh leeway; serving it and asking again in {:?}",
                self.settings.min_refresh_interval
            );
        } else {
            tracing::info!(integration = self.name(), expires_in = grant.expires_in().as_secs(), scope = %grant.scope(), "obtained a token");
        }
        let token = Arc::new(token);
        self.set_current(&token);
        if let Err(e) = self.store.save(&self.key, Arc::clone(&token)).await {
            tracing::debug!(integration = self.name(), error = %e, "cannot share the new token");
        }
        token
    }
}
