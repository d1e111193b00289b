//! Who owns what a proxied integration created. On CHILI GraFx an integration is one user: every
//! project and output it creates is its own, so when many app users write through one integration
//! (the API proxy), CHILI cannot keep them apart. The signer does: what a signed-in user creates
//! through the proxy (a project, an output task, a preview task) is bound to that user here, and
//! requests naming it are forwarded only for its owner.
//!
//! The records are durable data: [`SqliteOwnership`] in a data directory (the default, one
//! replica), or [`RedisOwnership`] on the Redis every replica already shares. When the store cannot
//! answer, owner-scoped requests fail closed (503), never open.
//!
//! ```no_run
//! # async fn run() -> Result<(), grafx_signer::OwnershipError> {
//! use grafx_signer::{Identity, OwnershipStore, Resource, SqliteOwnership};
//!
//! let store = SqliteOwnership::open(std::path::Path::new("/var/lib/grafx-signer"))?;
//! let acme = Identity::new("acme", "writer-client-id");
//! let project = Resource::project("7a1c…");
//! store.bind(&acme, &project, "alice@example.com").await?;
//! assert_eq!(store.owner(&acme, &project).await?.as_deref(), Some("alice@example.com"));
//! # Ok(()) }
//! ```

mod redis;
mod sqlite;

use async_trait::async_trait;

pub use self::redis::RedisOwnership;
pub use self::sqlite::{SqliteOwnership, SCHEMA_VERSION};

/// The CHILI identity resources belong to: an environment and an integration's client id (an
/// integration is a user there). Records survive renaming the integration in the signer's config.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity(String);

impl Identity {
    /// The identity of `client_id` in `environment`.
    pub fn new(environment: &str, client_id: &str) -> Self {
        Self(format!("{environment}/{client_id}"))
    }

    /// As stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What kind of thing a user can own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A project (`projects/{id}`, its document and previews).
    Project,
    /// An output task (`output/tasks/{id}` and its download).
    OutputTask,
    /// A preview task (`{templates|projects}/preview/tasks/{id}` and its download).
    PreviewTask,
}

impl ResourceKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::OutputTask => "output_task",
            Self::PreviewTask => "preview_task",
        }
    }
}

/// A resource CHILI created: its kind and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resource {
    /// What it is.
    pub kind: ResourceKind,
    /// CHILI's id for it.
    pub id: String,
}

impl Resource {
    /// A project.
    pub fn project(id: impl Into<String>) -> Self {
        Self {
            kind: ResourceKind::Project,
            id: id.into(),
        }
    }

    /// An output task.
    pub fn output_task(id: impl Into<String>) -> Self {
        Self {
            kind: ResourceKind::OutputTask,
            id: id.into(),
        }
    }

    /// A preview task.
    pub fn preview_task(id: impl Into<String>) -> Self {
        Self {
            kind: ResourceKind::PreviewTask,
            id: id.into(),
        }
    }
}

/// Why the ownership store could not answer. Owner-scoped requests then fail closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OwnershipError {
    /// The store is unreachable, busy or failing.
    #[error("ownership store: {0}")]
    Unavailable(String),
    /// The data directory or database cannot be used at all (start-up).
    #[error("ownership store: {0}")]
    Unusable(String),
    /// The database was written by a newer release.
    #[error("ownership store: the database has schema version {found}, newer than this release's {supported}; run the newer release or restore a backup")]
    NewerSchema {
        /// The database's version.
        found: i64,
        /// This release's.
        supported: i64,
    },
}

/// Durable records of who owns what.
#[async_trait]
pub trait OwnershipStore: Send + Sync {
    /// Records that `user` owns `resource`. A resource already owned keeps its first owner; the
    /// owner it has is returned.
    async fn bind(
        &self,
        identity: &Identity,
        resource: &Resource,
        user: &str,
    ) -> Result<String, OwnershipError>;

    /// The owner of `resource`, when one is recorded.
    async fn owner(
        &self,
        identity: &Identity,
        resource: &Resource,
    ) -> Result<Option<String>, OwnershipError>;

    /// Which of `ids` (of `kind`) `user` owns, in the order given.
    async fn owned_of(
        &self,
        identity: &Identity,
        kind: ResourceKind,
        ids: &[String],
        user: &str,
    ) -> Result<Vec<bool>, OwnershipError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let resource = Resource {
                kind,
                id: id.clone(),
            };
            out.push(self.owner(identity, &resource).await?.as_deref() == Some(user));
        }
        Ok(out)
    }

    /// Whether the store answers now (checked before CHILI creates something to bind).
    async fn ping(&self) -> Result<(), OwnershipError>;
}
