//! Where cached tokens live. Behind a trait so a shared store ([`crate::RedisStore`], for several
//! replicas) can replace the in-memory one.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use grafx_core::{AccessToken, Expiry, Scopes};

/// A token with its validity window on the local clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// The bearer token.
    pub access_token: AccessToken,
    /// Its scopes.
    pub scope: Scopes,
    /// When it was received and when it expires.
    pub expiry: Expiry,
}

/// Why a shared store could not be used. The cache then works from its own copy (never an
/// outage) and reports the store as degraded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store did not answer: no connection (and none tried again yet), or a command failed
    /// or timed out.
    #[error("token store: Redis {operation} failed: {reason}")]
    Unavailable {
        /// The command (`GET`, `SET`, `connection`…).
        operation: &'static str,
        /// Why.
        reason: StoreFailure,
    },
    /// A stored token does not decrypt: replicas use different keys, or the value was altered.
    #[error("token store: a stored token does not decrypt: another key (SIGNER_REDIS_KEY_FILE differs between replicas?) or tampering")]
    Undecryptable,
    /// A token could not be sealed for storage.
    #[error("token store: cannot seal the token: {0}")]
    Seal(String),
}

/// Why a store command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreFailure {
    /// No answer within the command timeout.
    #[error("timed out")]
    TimedOut,
    /// The last connection attempt failed moments ago; the next one waits a little.
    #[error("unreachable; retrying shortly")]
    RetryingShortly,
    /// The client's own error (its message; never the URL's password).
    #[error("{0}")]
    Client(String),
}

/// Proof of holding an integration's refresh lock across replicas; give it back with
/// [`TokenStore::unlock`].
#[derive(Debug)]
pub struct RefreshLock {
    /// The store key it locks.
    pub key: String,
    /// The random value that proves ownership (releasing checks it, so a lock that expired and
    /// was taken by another replica is never released by mistake).
    pub owner: String,
}

/// Storage for one token per integration, shared by every replica that uses the same store.
///
/// `key` identifies an integration's credentials (its name and client id); the cache keeps its
/// own copy of the token for the hot path and goes to the store only around refreshes.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The stored token, if any.
    async fn load(&self, key: &str) -> Result<Option<Arc<CachedToken>>, StoreError>;
    /// Replaces the stored token.
    async fn save(&self, key: &str, token: Arc<CachedToken>) -> Result<(), StoreError>;
    /// Forgets a token (its credentials changed).
    async fn remove(&self, key: &str) -> Result<(), StoreError>;
    /// Tries to become the only refresher of `key` for at most `ttl`: `Ok(None)` when another
    /// replica holds the lock.
    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<RefreshLock>, StoreError>;
    /// Whether someone holds the refresh lock of `key`.
    async fn is_locked(&self, key: &str) -> Result<bool, StoreError>;
    /// Releases a lock taken with `try_lock` (only if it is still this owner's).
    async fn unlock(&self, lock: RefreshLock);
    /// Whether the store is shared between processes (reported by `/readyz`).
    fn is_shared(&self) -> bool {
        false
    }
    /// True while the store is unreachable and replicas work from their own copies.
    fn is_degraded(&self) -> bool {
        false
    }
    /// Failed store operations since start.
    fn errors(&self) -> u64 {
        0
    }
}

/// The default store: a map in this process (one replica).
#[derive(Debug, Default)]
pub struct MemoryStore {
    tokens: RwLock<HashMap<String, Arc<CachedToken>>>,
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, key: &str) -> Result<Option<Arc<CachedToken>>, StoreError> {
        Ok(self.tokens.read().get(key).cloned())
    }

    async fn save(&self, key: &str, token: Arc<CachedToken>) -> Result<(), StoreError> {
        self.tokens.write().insert(key.to_owned(), token);
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.tokens.write().remove(key);
        Ok(())
    }

    async fn try_lock(&self, key: &str, _ttl: Duration) -> Result<Option<RefreshLock>, StoreError> {
        // One process: the cache's own single-flight already makes it the only refresher.
        Ok(Some(RefreshLock {
            key: key.to_owned(),
            owner: String::new(),
        }))
    }

    async fn is_locked(&self, _key: &str) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn unlock(&self, _lock: RefreshLock) {}
}
