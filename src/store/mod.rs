//! The embedded local store: one SQLite file in the data dir, shared by the
//! domains (and by several `windflow` processes at once: the console and a
//! runbook's CLI calls). Files are created 0600 inside a 0700 folder.

pub mod service;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use crate::fsutil;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot prepare the data dir {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("embedded store {path}: {source} (check the file, or start with another --data-dir)")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The file name of the store inside the data dir.
pub const FILE_NAME: &str = "windflow.db";

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating when missing) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        fsutil::private_dir(data_dir).map_err(|source| StoreError::Dir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        fsutil::private_file(&path).map_err(|source| StoreError::Dir {
            path: path.clone(),
            source,
        })?;
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS kv (
                 ns TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 updated_at INTEGER NOT NULL,
                 PRIMARY KEY (ns, key)
             ) WITHOUT ROWID;",
        )
        .map_err(err)?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A panic while holding the lock leaves the connection usable.
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    /// Runs `f` inside one transaction (for domains that need atomic steps).
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let run = |conn: &mut Connection| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut conn).map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    pub fn put(&self, ns: &str, key: &str, value: &[u8]) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, unixepoch())
                 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![ns, key, value],
            )
            .map(|_| ())
        })
    }

    pub fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.with(|c| {
            c.query_row(
                "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                params![ns, key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    pub fn delete(&self, ns: &str, key: &str) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
                params![ns, key],
            )
            .map(|n| n > 0)
        })
    }

    /// Every (key, value) of a namespace whose key starts with `prefix`, in key order.
    pub fn list(&self, ns: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, value FROM kv WHERE ns = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?;
            let rows = stmt.query_map(params![ns, prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    pub fn count(&self, ns: &str) -> Result<u64> {
        self.with(|c| {
            c.query_row("SELECT count(*) FROM kv WHERE ns = ?1", params![ns], |r| {
                r.get(0)
            })
        })
    }

    /// A write and a read round trip; returns how long it took.
    pub fn ping(&self) -> Result<Duration> {
        let start = Instant::now();
        self.put("meta", "probe", &[1])?;
        self.get("meta", "probe")?;
        Ok(start.elapsed())
    }

    /// Reclaims free pages (SQLite VACUUM). Returns the size before and after.
    pub fn compact(&self) -> Result<(u64, u64)> {
        let size = || std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let before = size();
        self.with(|c| c.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);"))?;
        Ok((before, size()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn put_get_list_delete_and_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let s = Store::open(&data).unwrap();
        s.put("t", "a/1", b"one").unwrap();
        s.put("t", "a/2", b"two").unwrap();
        s.put("t", "b/1", b"three").unwrap();
        s.put("t", "a/1", b"uno").unwrap();
        assert_eq!(s.get("t", "a/1").unwrap().as_deref(), Some(&b"uno"[..]));
        assert_eq!(s.get("u", "a/1").unwrap(), None);
        let keys: Vec<_> = s
            .list("t", "a/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["a/1", "a/2"]);
        assert!(s.delete("t", "a/1").unwrap());
        assert!(!s.delete("t", "a/1").unwrap());
        assert_eq!(s.count("t").unwrap(), 2);
        s.ping().unwrap();
        s.compact().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(FILE_NAME)), 0o600);
        // A second handle (another process, in real use) sees the data.
        let s2 = Store::open(&data).unwrap();
        assert_eq!(s2.get("t", "b/1").unwrap().as_deref(), Some(&b"three"[..]));
    }
}
