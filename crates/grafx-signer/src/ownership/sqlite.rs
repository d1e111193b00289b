//! Ownership records in SQLite, in the signer's data directory (`ownership.sqlite3`): one file,
//! written with a full sync per record, so a record acknowledged to a user survives a crash.
//! The schema is versioned (`PRAGMA user_version`) so a later release can migrate it.
//!
//! ```no_run
//! let store = grafx_signer::SqliteOwnership::open(std::path::Path::new("/var/lib/grafx-signer"))?;
//! # Ok::<(), grafx_signer::OwnershipError>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};

use super::{Identity, OwnershipError, OwnershipStore, Resource, ResourceKind};

/// The schema this release writes.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a request waits for a lock another process holds before it fails (closed).
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The database file in the data directory.
const FILE: &str = "ownership.sqlite3";

/// Ownership records in a SQLite file.
#[derive(Clone)]
pub struct SqliteOwnership {
    db: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteOwnership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteOwnership")
            .field("path", &self.path)
            .finish()
    }
}

fn unavailable(e: impl std::fmt::Display) -> OwnershipError {
    OwnershipError::Unavailable(e.to_string())
}

impl SqliteOwnership {
    /// Opens (creating when missing) the database in `data_dir`, and brings its schema to
    /// [`SCHEMA_VERSION`].
    pub fn open(data_dir: &Path) -> Result<Self, OwnershipError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            OwnershipError::Unusable(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(FILE);
        let db = Connection::open(&path).map_err(|e| {
            OwnershipError::Unusable(format!("cannot open {}: {e}", path.display()))
        })?;
        db.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(unavailable)?;
        migrate(&db)?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection off the async threads (SQLite blocks).
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, OwnershipError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db.lock()))
            .await
            .map_err(unavailable)?
            .map_err(unavailable)
    }
}

/// Creates the schema, or checks a database written before.
fn migrate(db: &Connection) -> Result<(), OwnershipError> {
    let version: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(unavailable)?;
    if version > SCHEMA_VERSION {
        return Err(OwnershipError::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        db.execute_batch(
            "BEGIN;
             CREATE TABLE IF NOT EXISTS owners (
                 identity   TEXT NOT NULL,
                 kind       TEXT NOT NULL,
                 id         TEXT NOT NULL,
                 owner      TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 PRIMARY KEY (identity, kind, id)
             ) WITHOUT ROWID;
             CREATE INDEX IF NOT EXISTS owners_by_user ON owners (identity, kind, owner);
             PRAGMA user_version = 1;
             COMMIT;",
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[async_trait]
impl OwnershipStore for SqliteOwnership {
    async fn bind(
        &self,
        identity: &Identity,
        resource: &Resource,
        user: &str,
    ) -> Result<String, OwnershipError> {
        let (identity, kind, id, user) = (
            identity.as_str().to_owned(),
            resource.kind.as_str(),
            resource.id.clone(),
            user.to_owned(),
        );
        self.with(move |db| {
            db.execute(
                "INSERT INTO owners (identity, kind, id, owner, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (identity, kind, id) DO NOTHING",
                params![identity, kind, id, user, now_secs()],
            )?;
            db.query_row(
                "SELECT owner FROM owners WHERE identity = ?1 AND kind = ?2 AND id = ?3",
                params![identity, kind, id],
                |r| r.get(0),
            )
        })
        .await
    }

    async fn owner(
        &self,
        identity: &Identity,
        resource: &Resource,
    ) -> Result<Option<String>, OwnershipError> {
        let (identity, kind, id) = (
            identity.as_str().to_owned(),
            resource.kind.as_str(),
            resource.id.clone(),
        );
        self.with(move |db| {
            db.query_row(
                "SELECT owner FROM owners WHERE identity = ?1 AND kind = ?2 AND id = ?3",
                params![identity, kind, id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn owned_of(
        &self,
        identity: &Identity,
        kind: ResourceKind,
        ids: &[String],
        user: &str,
    ) -> Result<Vec<bool>, OwnershipError> {
        let (identity, kind, ids, user) = (
            identity.as_str().to_owned(),
            kind.as_str(),
            ids.to_vec(),
            user.to_owned(),
        );
        self.with(move |db| {
            let mut q = db.prepare_cached(
                "SELECT 1 FROM owners WHERE identity = ?1 AND kind = ?2 AND id = ?3 AND owner = ?4",
            )?;
            ids.iter()
                .map(|id| q.exists(params![identity, kind, id, user]))
                .collect()
        })
        .await
    }

    /// Whether a record could be written now: takes the write lock and lets it go (a process
    /// holding it makes this fail after the busy timeout).
    async fn ping(&self) -> Result<(), OwnershipError> {
        self.with(|db| db.execute_batch("BEGIN IMMEDIATE; ROLLBACK;"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopening_and_keep_their_first_owner() {
        let dir = std::env::temp_dir().join(format!("grafx-own-{}", rand::random::<u64>()));
        let acme = Identity::new("acme", "writer");
        let p = Resource::project("p1");
        {
            let store = SqliteOwnership::open(&dir).unwrap();
            assert_eq!(store.owner(&acme, &p).await.unwrap(), None);
            assert_eq!(store.bind(&acme, &p, "alice").await.unwrap(), "alice");
            assert_eq!(
                store.bind(&acme, &p, "bob").await.unwrap(),
                "alice",
                "no takeover"
            );
        }
        let store = SqliteOwnership::open(&dir).unwrap();
        assert_eq!(
            store.owner(&acme, &p).await.unwrap().as_deref(),
            Some("alice")
        );
        // Another identity, another kind: other records.
        let other = Identity::new("acme", "other-writer");
        assert_eq!(store.owner(&other, &p).await.unwrap(), None);
        assert_eq!(
            store
                .owner(&acme, &Resource::output_task("p1"))
                .await
                .unwrap(),
            None
        );
        let ids = vec!["p1".to_owned(), "p2".to_owned()];
        assert_eq!(
            store
                .owned_of(&acme, ResourceKind::Project, &ids, "alice")
                .await
                .unwrap(),
            vec![true, false]
        );
        let version: i64 = store
            .db
            .lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // A database from a newer release is refused, not rewritten.
        store
            .db
            .lock()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(store);
        let e = SqliteOwnership::open(&dir).unwrap_err();
        assert!(
            matches!(e, OwnershipError::NewerSchema { found: 99, .. }),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
