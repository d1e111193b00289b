//! Where cached tokens live. Behind a trait so a shared store (Redis, for several replicas) can
//! replace the in-memory one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use grafx_core::{AccessToken, Expiry, Scopes, Timestamp};

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

/// Storage for one token per integration.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The cached token for an integration, if any (shared, so serving it copies nothing).
    async fn load(&self, integration: &str) -> Option<Arc<CachedToken>>;
    /// Replaces the cached token for an integration.
    async fn save(&self, integration: &str, token: Arc<CachedToken>);
    /// Forgets an integration's token (its credentials changed).
    async fn remove(&self, integration: &str);
}

/// The default store: a map in this process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tokens: RwLock<HashMap<String, Arc<CachedToken>>>,
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, integration: &str) -> Option<Arc<CachedToken>> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(integration)
            .cloned()
    }

    async fn save(&self, integration: &str, token: Arc<CachedToken>) {
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(integration.to_owned(), token);
    }

    async fn remove(&self, integration: &str) {
        self.tokens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(integration);
    }
}

/// The source of "now" for expiry decisions.
pub trait Clock: Send + Sync + 'static {
    /// The current local time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}
