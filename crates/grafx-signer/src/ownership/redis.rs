//! Ownership records on the Redis every replica already shares for its token
//! ([`crate::RedisStore`]): one key per resource, written with `SET NX` (the first owner stays),
//! output and preview tasks kept for 8 days (CHILI keeps tasks for 7), projects for good. Redis
//! must then persist what it holds: run it with `appendonly yes` (and `appendfsync always` to lose
//! no acknowledged record; `everysec` risks the last second).
//!
//! ```no_run
//! # fn run(tokens: std::sync::Arc<grafx_signer::RedisStore>) {
//! let store = grafx_signer::RedisOwnership::new(tokens);
//! # }
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use super::{Identity, OwnershipError, OwnershipStore, Resource, ResourceKind};
use crate::RedisStore;

/// How long a task's owner is kept: CHILI keeps tasks for 7 days.
const TASK_TTL_SECS: u64 = 8 * 24 * 3600;

/// Ownership records in Redis.
#[derive(Clone)]
pub struct RedisOwnership {
    redis: Arc<RedisStore>,
}

impl std::fmt::Debug for RedisOwnership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOwnership")
            .field("redis", &self.redis)
            .finish()
    }
}

fn unavailable(e: crate::StoreError) -> OwnershipError {
    OwnershipError::Unavailable(e.to_string())
}

impl RedisOwnership {
    /// Records on the same Redis (connection, TLS settings) as the token store.
    pub fn new(redis: Arc<RedisStore>) -> Self {
        Self { redis }
    }

    fn key(identity: &Identity, kind: ResourceKind, id: &str) -> String {
        format!(
            "{}:owner:{}:{}:{id}",
            crate::redis_store::PREFIX,
            identity.as_str(),
            kind.as_str()
        )
    }
}

#[async_trait]
impl OwnershipStore for RedisOwnership {
    async fn bind(
        &self,
        identity: &Identity,
        resource: &Resource,
        user: &str,
    ) -> Result<String, OwnershipError> {
        let key = Self::key(identity, resource.kind, &resource.id);
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(user).arg("NX");
        if resource.kind != ResourceKind::Project {
            set.arg("EX").arg(TASK_TTL_SECS);
        }
        self.redis
            .run::<Option<String>>("SET", &set)
            .await
            .map_err(unavailable)?;
        let owner: Option<String> = self
            .redis
            .run("GET", redis::cmd("GET").arg(&key))
            .await
            .map_err(unavailable)?;
        owner.ok_or_else(|| OwnershipError::Unavailable(format!("{key} vanished after SET")))
    }

    async fn owner(
        &self,
        identity: &Identity,
        resource: &Resource,
    ) -> Result<Option<String>, OwnershipError> {
        let key = Self::key(identity, resource.kind, &resource.id);
        self.redis
            .run("GET", redis::cmd("GET").arg(&key))
            .await
            .map_err(unavailable)
    }

    async fn owned_of(
        &self,
        identity: &Identity,
        kind: ResourceKind,
        ids: &[String],
        user: &str,
    ) -> Result<Vec<bool>, OwnershipError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for id in ids {
            mget.arg(Self::key(identity, kind, id));
        }
        let owners: Vec<Option<String>> =
            self.redis.run("MGET", &mget).await.map_err(unavailable)?;
        Ok(owners.iter().map(|o| o.as_deref() == Some(user)).collect())
    }

    async fn ping(&self) -> Result<(), OwnershipError> {
        self.redis
            .run::<String>("PING", &redis::cmd("PING"))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
