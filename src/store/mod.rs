//! The embedded local store: one SQLite file in the data dir, shared by the
//! domains (and by several `windflow` processes at once: the console and a
//! runbook's CLI calls). Files are created 0600 inside a 0700 folder.
//!
//! On a full disk a write fails with [`StoreError::DiskFull`], naming the
//! file. Reads go on: when SQLite cannot size the shared memory of the WAL
//! index (the `-shm` file needs space), the store is opened read-only with
//! the index in process memory (`locking_mode = EXCLUSIVE`: other processes
//! wait for this one until it exits), and every write is refused as disk full.

pub mod service;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::fsutil;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot prepare the data dir {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "embedded store {} is missing or empty, but this data dir has history ({}): \
         refusing to start a new, empty store (operators, second factors and secrets would \
         be gone, and the first operator added would be an admin without a grant); restore \
         the store from a backup, or run `windflow init --force` to start anew (audited)",
        .path.display(), .history.display()
    )]
    MissingWithHistory { path: PathBuf, history: PathBuf },
    #[error("disk full: {} (free space and retry)", .path.display())]
    DiskFull { path: PathBuf },
    #[error("embedded store {path}: {source} (check the file, or start with another --data-dir)")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The file name of the store inside the data dir.
pub const FILE_NAME: &str = "windflow.db";

/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates the store file 0600 when missing and tightens one we own, through
/// a descriptor of our own (never through a symlink); refuses a file of
/// another user.
fn prepare_file(path: &Path) -> std::io::Result<()> {
    fsutil::open_owned(path, true).map(drop)
}

pub struct Store {
    path: PathBuf,
    conn: Mutex<Conn>,
}

/// The store's connection.
struct Conn {
    /// `None` only after a failed reopen, until the next attempt.
    db: Option<Connection>,
    /// Opened read-only because the disk was full: reopened before each
    /// use, so a process goes back to writing (and lets go of its
    /// exclusive lock) once there is space again.
    read_only: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The stores this process has open, by data dir: each process opens a store
/// once and shares that handle. A second connection is safe in SQLite, but
/// any other descriptor of the file that is closed while a connection is
/// open drops every POSIX lock of the process on it (SQLite's "posix advisory
/// locks cancelled by close()"), and then concurrent writers lose writes or
/// corrupt the file. Opening through this table keeps such descriptors to
/// the moment no connection exists.
static OPEN: Mutex<Vec<(PathBuf, Weak<Store>)>> = Mutex::new(Vec::new());

impl Store {
    /// The store in `data_dir`, created when missing in a data dir without
    /// history: the process's one handle on it, shared by every domain and
    /// command of this process. A data dir whose audit log holds records but
    /// whose store is missing or empty is refused ([`StoreError::MissingWithHistory`]).
    pub fn open(data_dir: &Path) -> Result<Arc<Self>> {
        Self::open_with(data_dir, false)
    }

    /// Like [`Store::open`], creating a new store even beside history
    /// (`windflow init --force`, after a typed confirmation).
    pub fn open_anew(data_dir: &Path) -> Result<Arc<Self>> {
        Self::open_with(data_dir, true)
    }

    fn open_with(data_dir: &Path, anew: bool) -> Result<Arc<Self>> {
        let dir_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Dir { path, source }
        };
        fsutil::private_dir(data_dir).map_err(dir_err(data_dir))?;
        let dir = data_dir.canonicalize().map_err(dir_err(data_dir))?;
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|(_, store)| store.strong_count() > 0);
        if let Some(store) = open
            .iter()
            .find(|(d, _)| *d == dir)
            .and_then(|(_, s)| s.upgrade())
        {
            return Ok(store);
        }
        // No connection of this process is open on the file: its mode may be
        // set through a descriptor of our own.
        let path = dir.join(FILE_NAME);
        let fresh = std::fs::symlink_metadata(&path).map_or(true, |m| m.len() == 0);
        if fresh
            && !anew
            && let Some(history) = crate::audit::local::history(&dir)
        {
            return Err(StoreError::MissingWithHistory { path, history });
        }
        if fresh && anew {
            // A journal left by the lost store belongs to no store now.
            for suffix in ["-wal", "-shm"] {
                let mut side = path.clone().into_os_string();
                side.push(suffix);
                let _ = std::fs::remove_file(side);
            }
        }
        prepare_file(&path).map_err(dir_err(&path))?;
        let store = Arc::new(Self::connect(path)?);
        open.push((dir, Arc::downgrade(&store)));
        Ok(store)
    }

    fn connect(path: PathBuf) -> Result<Self> {
        let conn = Conn::open(&path)?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The connection, reopened first when it is read-only.
    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Conn>> {
        // A panic while holding the lock leaves the connection usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.read_only {
            // The read-only connection (and its lock) let go first.
            conn.db = None;
            *conn = Conn::open(&self.path)?;
        }
        Ok(conn)
    }

    /// The error of a failed statement: a full disk named as such (a
    /// write on a store opened read-only for a full disk too).
    fn error(&self, conn: &Conn, source: rusqlite::Error) -> StoreError {
        let Some(db) = &conn.db else {
            return StoreError::Sqlite {
                path: self.path.clone(),
                source,
            };
        };
        let refused =
            conn.read_only && source.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly);
        if refused || is_disk_full(db, &source) {
            StoreError::DiskFull {
                path: self.path.clone(),
            }
        } else {
            StoreError::Sqlite {
                path: self.path.clone(),
                source,
            }
        }
    }

    /// Whether the store is open read-only because the disk is full.
    pub fn is_read_only(&self) -> bool {
        self.conn().map_or(true, |c| c.read_only)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.conn()?;
        let db = conn.db.as_ref().expect("an open connection");
        f(db).map_err(|source| self.error(&conn, source))
    }

    /// Runs `f` on the connection (reads; a write is one statement).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.with(f)
    }

    /// Runs `f` inside one transaction (for domains that need atomic steps).
    pub fn transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.conn()?;
        let db = conn.db.as_mut().expect("an open connection");
        let out = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .and_then(|tx| {
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            });
        out.map_err(|source| self.error(&conn, source))
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

impl Conn {
    /// A read-write connection in WAL mode; on a full disk, a read-only one.
    fn open(path: &Path) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let db = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        })?;
        let setup = db.busy_timeout(BUSY_TIMEOUT).and_then(|()| {
            db.execute_batch(
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
        });
        match setup {
            Ok(()) => Ok(Self {
                db: Some(db),
                read_only: false,
            }),
            Err(source) if is_disk_full(&db, &source) => {
                drop(db);
                Self::open_read_only(path)
            }
            Err(source) => Err(StoreError::Sqlite {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The store on a full disk: read-only, its WAL index in this
    /// process's memory (no `-shm` to size).
    fn open_read_only(path: &Path) -> Result<Self> {
        // Read-write descriptors (an exclusive lock needs one), but no
        // statement may write.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let opened = Connection::open_with_flags(path, flags).and_then(|db| {
            db.busy_timeout(BUSY_TIMEOUT)?;
            db.execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA query_only = ON;
                 SELECT count(*) FROM kv;",
            )?;
            Ok(db)
        });
        match opened {
            Ok(db) => {
                tracing::warn!(store = %path.display(), "disk full: the store is open read-only");
                Ok(Self {
                    db: Some(db),
                    read_only: true,
                })
            }
            // Not even that: the disk is full, say so.
            Err(_) => Err(StoreError::DiskFull {
                path: path.to_owned(),
            }),
        }
    }
}

/// Whether `source` failed because the disk is full: SQLite's own
/// `SQLITE_FULL`, or an I/O error whose system error is `ENOSPC`/`EDQUOT`
/// (sizing the `-shm` file fails as "disk I/O error ... xShmMap").
fn is_disk_full(conn: &Connection, source: &rusqlite::Error) -> bool {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => true,
        Some(rusqlite::ErrorCode::SystemIoFailure) => {
            // SAFETY: the handle is live for the borrow of `conn`; the call
            // only reads the errno SQLite saved for the last failed OS call.
            let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
            crate::fsutil::is_disk_full(&std::io::Error::from_raw_os_error(errno))
        }
        _ => false,
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
        // The process's one handle, however the folder is named.
        let s2 = Store::open(&data.join("../data")).unwrap();
        assert!(Arc::ptr_eq(&s, &s2));
        assert_eq!(s2.get("t", "b/1").unwrap().as_deref(), Some(&b"three"[..]));
        // Once every handle is gone, the next open connects again.
        drop((s, s2));
        let s3 = Store::open(&data).unwrap();
        assert_eq!(s3.get("t", "b/1").unwrap().as_deref(), Some(&b"three"[..]));
    }

    #[test]
    fn a_store_file_that_is_a_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fsutil::private_dir(&data).unwrap();
        let elsewhere = dir.path().join("elsewhere.db");
        std::fs::write(&elsewhere, b"").unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, data.join(FILE_NAME)).unwrap();
        let err = Store::open(&data).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        let meta = std::fs::metadata(&elsewhere).unwrap();
        assert_eq!(meta.len(), 0, "nothing written through the link");
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o644,
            "target not chmod'd"
        );
    }
}
