//! A token store in Redis, so that several signer replicas share one token per integration.
//!
//! - **Encrypted at rest**: tokens are sealed with AES-256-GCM under a key from the configuration
//!   (`--redis-key-file`); the store key is the associated data, so a value copied to another key
//!   does not open. Anyone who reads Redis without the key learns nothing usable.
//! - **TTL**: each value expires (`PX`) when its token does.
//! - **Refresh lock**: `SET key owner NX PX ttl`, released by a script that deletes the lock only
//!   if it still holds this replica's random owner value.
//! - **Degraded, never down**: every command has a short timeout; a failure marks the store
//!   degraded (a metric and one log line) and the caches carry on with their own copies. The
//!   connection manager reconnects by itself, and the store connects lazily, so a signer can
//!   start while Redis is down.
//!
//! ```no_run
//! # fn run(config: grafx_signer::SignerConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use grafx_signer::{AppState, ChiliAuthClient, RedisStore, StoreKey, SystemClock};
//! let key = StoreKey::from_text("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")?;
//! let store = RedisStore::new("redis://127.0.0.1:6379/", key)?;
//! let source = ChiliAuthClient::new(config.upstream_timeout)?;
//! let state = AppState::with_parts(config, Arc::new(source), Arc::new(store), Arc::new(SystemClock));
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use grafx_core::{AccessToken, Expiry, Scopes, Timestamp};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::store::{CachedToken, RefreshLock, StoreError, StoreFailure, TokenStore};
use crate::InvalidValue;

/// Every key this store writes starts with this.
pub(crate) const PREFIX: &str = "grafx-signer";
/// A command slower than this counts as a failure (the caller carries on without the store).
/// Redis is only on the refresh path, never on a request's, so this can be generous: a shorter
/// one made a busy 2-core machine fall back to refreshing alone (extra upstream calls).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failed connection attempt, the next one waits at least this long.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// The 256-bit key that encrypts tokens in Redis. Its Debug prints `[redacted]`.
#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

impl StoreKey {
    /// Parses 32 bytes written as 64 hex digits or as base64 (`openssl rand -hex 32`).
    pub fn from_text(text: &str) -> Result<Self, InvalidValue> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else {
            base64::engine::general_purpose::STANDARD.decode(t).ok()
        };
        let bytes: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or(InvalidValue::StoreKey)?;
        Ok(Self(bytes))
    }
}

/// What is sealed in Redis.
#[derive(Serialize, Deserialize)]
struct Sealed {
    token: String,
    scope: String,
    received_at_ms: u64,
    expires_at_ms: u64,
}

/// The Redis-backed [`TokenStore`].
pub struct RedisStore {
    client: redis::Client,
    cipher: Aes256Gcm,
    conn: Mutex<Option<ConnectionManager>>,
    last_attempt: parking_lot::Mutex<Option<Instant>>,
    degraded: AtomicBool,
    errors: AtomicU64,
    redacted_url: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.redacted_url)
            .finish_non_exhaustive()
    }
}

/// The URL without its password, for logs.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
            }
            // `redis+unix:///path?pass=…` and `redis://host/?password=…` carry it in the query.
            if u.query().is_some() {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let secret = matches!(k.to_ascii_lowercase().as_str(), "pass" | "password");
                        let v = if secret {
                            "redacted".into()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "[unparsable]".into(),
    }
}

impl RedisStore {
    /// A store for `url` (`redis://[user:password@]host:port[/db]`, or `rediss://` for TLS).
    /// Connects on first use, so a signer starts even while Redis is down.
    pub fn new(url: &str, key: StoreKey) -> Result<Self, InvalidValue> {
        Self::with_tls_roots(url, key, None)
    }

    /// Like [`RedisStore::new`]; for `rediss://`, `ca_pem` (PEM certificates) is what the server's
    /// certificate must chain to, instead of Mozilla's roots built into the binary (a private CA).
    pub fn with_tls_roots(
        url: &str,
        key: StoreKey,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, InvalidValue> {
        let client = match ca_pem {
            None => redis::Client::open(url),
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.to_vec()),
                },
            ),
        }
        .map_err(|e| InvalidValue::RedisUrl(crate::RedisUrlProblem::Refused(e.to_string())))?;
        Ok(Self {
            client,
            cipher: Aes256Gcm::new(&key.0.into()),
            conn: Mutex::new(None),
            last_attempt: parking_lot::Mutex::new(None),
            degraded: AtomicBool::new(false),
            errors: AtomicU64::new(0),
            redacted_url: redact(url),
        })
    }

    fn token_key(key: &str) -> String {
        format!("{PREFIX}:token:{key}")
    }

    fn lock_key(key: &str) -> String {
        format!("{PREFIX}:lock:{key}")
    }

    fn failed(&self, operation: &'static str, reason: StoreFailure) -> StoreError {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(redis = %self.redacted_url, error = %reason, "Redis {operation} failed: the token store is degraded; each replica serves and refreshes its own token until Redis is back");
        }
        StoreError::Unavailable { operation, reason }
    }

    fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(redis = %self.redacted_url, "Redis is back: the token store is shared again");
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        {
            let mut last = self.last_attempt.lock();
            if last.is_some_and(|t| t.elapsed() < RECONNECT_INTERVAL) {
                return Err(StoreError::Unavailable {
                    operation: "connection",
                    reason: StoreFailure::RetryingShortly,
                });
            }
            *last = Some(Instant::now());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RECONNECT_INTERVAL);
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(COMMAND_TIMEOUT * 2, connect).await {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Ok(c)
            }
            Ok(Err(e)) => Err(self.failed("connection", StoreFailure::Client(e.to_string()))),
            Err(_) => Err(self.failed("connection", StoreFailure::TimedOut)),
        }
    }

    /// Runs one command, counting a failure (and reporting the store degraded) like every other.
    pub(crate) async fn run<T: redis::FromRedisValue>(
        &self,
        what: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Ok(v)
            }
            Ok(Err(e)) => Err(self.failed(what, StoreFailure::Client(e.to_string()))),
            Err(_) => Err(self.failed(what, StoreFailure::TimedOut)),
        }
    }

    fn seal(&self, key: &str, token: &CachedToken) -> Result<Vec<u8>, StoreError> {
        let plain = serde_json::to_vec(&Sealed {
            token: token.access_token.secret().to_owned(),
            scope: token.scope.to_string(),
            received_at_ms: token.expiry.received_at().as_millis(),
            expires_at_ms: token.expiry.expires_at().as_millis(),
        })
        .map_err(|e| StoreError::Seal(e.to_string()))?;
        let nonce: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: key.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Seal("encryption failed".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn open(&self, key: &str, value: &[u8]) -> Result<CachedToken, StoreError> {
        let refuse = || StoreError::Undecryptable;
        if value.len() < 12 {
            return Err(refuse());
        }
        let (nonce, sealed) = value.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: key.as_bytes(),
                },
            )
            .map_err(|_| refuse())?;
        let s: Sealed = serde_json::from_slice(&plain).map_err(|_| refuse())?;
        let received = Timestamp::from_millis(s.received_at_ms);
        let expires = Timestamp::from_millis(s.expires_at_ms);
        Ok(CachedToken {
            access_token: AccessToken::new(s.token).map_err(|_| refuse())?,
            scope: Scopes::parse(&s.scope),
            expiry: Expiry::stamp(received, expires.since(received)),
        })
    }
}

fn now_ms() -> u64 {
    crate::Clock::now(&crate::SystemClock).as_millis()
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn load(&self, key: &str) -> Result<Option<Arc<CachedToken>>, StoreError> {
        let value: Option<Vec<u8>> = self
            .run("GET", redis::cmd("GET").arg(Self::token_key(key)))
            .await?;
        match value {
            None => Ok(None),
            Some(v) => match self.open(key, &v) {
                Ok(t) => Ok(Some(Arc::new(t))),
                Err(e) => {
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "ignoring a stored token");
                    Ok(None)
                }
            },
        }
    }

    async fn save(&self, key: &str, token: Arc<CachedToken>) -> Result<(), StoreError> {
        let ttl = token
            .expiry
            .expires_at()
            .as_millis()
            .saturating_sub(now_ms());
        if ttl == 0 {
            return Ok(());
        }
        let sealed = self.seal(key, &token)?;
        self.run::<()>(
            "SET",
            redis::cmd("SET")
                .arg(Self::token_key(key))
                .arg(sealed)
                .arg("PX")
                .arg(ttl),
        )
        .await
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.run::<()>("DEL", redis::cmd("DEL").arg(Self::token_key(key)))
            .await
    }

    async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<RefreshLock>, StoreError> {
        let owner = format!("{:032x}", rand::random::<u128>());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let got: Option<String> = self
            .run(
                "SET NX",
                redis::cmd("SET")
                    .arg(Self::lock_key(key))
                    .arg(&owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await?;
        Ok(got.map(|_| RefreshLock {
            key: key.to_owned(),
            owner,
        }))
    }

    async fn is_locked(&self, key: &str) -> Result<bool, StoreError> {
        self.run("EXISTS", redis::cmd("EXISTS").arg(Self::lock_key(key)))
            .await
    }

    async fn unlock(&self, lock: RefreshLock) {
        // Delete the lock only if it is still ours (it may have expired and been taken).
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        let Ok(mut conn) = self.connection().await else {
            return;
        };
        let mut invocation = script.key(Self::lock_key(&lock.key));
        invocation.arg(&lock.owner);
        let call = invocation.invoke_async::<i64>(&mut conn);
        match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
            Ok(Ok(_)) => self.succeeded(),
            Ok(Err(e)) => {
                let _ = self.failed("unlock", StoreFailure::Client(e.to_string()));
            }
            Err(_) => {
                let _ = self.failed("unlock", StoreFailure::TimedOut);
            }
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> RedisStore {
        RedisStore::new(
            "redis://127.0.0.1:1/",
            StoreKey::from_text(&"ab".repeat(32)).unwrap(),
        )
        .unwrap()
    }

    fn token() -> CachedToken {
        CachedToken {
            access_token: AccessToken::new("eyJ.secret.token").unwrap(),
            scope: Scopes::parse("template:read"),
            expiry: Expiry::stamp(Timestamp::from_millis(1_000), Duration::from_secs(60)),
        }
    }

    #[test]
    fn sealed_tokens_open_only_under_their_key_and_store_key() {
        let s = store();
        let sealed = s.seal("reader:abc", &token()).unwrap();
        assert!(!sealed
            .windows(b"secret".len())
            .any(|w| w == b"secret".as_slice()));
        assert_eq!(s.open("reader:abc", &sealed).unwrap(), token());
        assert!(
            s.open("writer:abc", &sealed).is_err(),
            "moved to another key"
        );
        let other = RedisStore::new(
            "redis://127.0.0.1:1/",
            StoreKey::from_text(&"cd".repeat(32)).unwrap(),
        )
        .unwrap();
        assert!(other.open("reader:abc", &sealed).is_err(), "another key");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(s.open("reader:abc", &tampered).is_err(), "tampered");
    }

    #[test]
    fn keys_in_hex_or_base64_and_nothing_else() {
        assert!(StoreKey::from_text(&"0f".repeat(32)).is_ok());
        assert!(StoreKey::from_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
        for bad in ["", "short", &"0f".repeat(31), &"zz".repeat(32)] {
            let e = StoreKey::from_text(bad).unwrap_err().to_string();
            assert!(
                e.contains("256-bit key") && e.contains("openssl rand"),
                "{e}"
            );
        }
        assert_eq!(
            format!("{:?}", StoreKey::from_text(&"0f".repeat(32)).unwrap()),
            "StoreKey([redacted])"
        );
    }

    #[test]
    fn urls_are_redacted_and_checked() {
        assert_eq!(
            redact("redis://user:hunter2@cache:6379/0"),
            "redis://user:redacted@cache:6379/0"
        );
        let key = StoreKey::from_text(&"0f".repeat(32)).unwrap();
        for url in [
            "redis://:S3cretPW@cache:6379/0",
            "redis://user:S3cretPW@cache",
            "rediss://cache/?password=S3cretPW&db=1",
            "redis+unix:///run/redis.sock?pass=S3cretPW&db=1",
            "unix:///run/redis.sock?PASS=S3cretPW",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("S3cretPW"), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
        let e = RedisStore::new("http://x:pw@cache", key)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a usable Redis URL") && !e.contains("pw@"),
            "{e}"
        );
    }
}
