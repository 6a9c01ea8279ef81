//! The store of secrets: the [`SecretStore`] trait (KV v2 semantics:
//! versions, metadata, check-and-set, soft delete, undelete, destroy) and its
//! embedded implementation over the local SQLite store. The Vault
//! implementation is in `vault.rs`. Backends see only sealed values
//! (envelopes); encryption happens above them, in [`super::Secrets`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::model::{MAX_VERSIONS, Sealed, SecretMeta, VersionMeta};
use crate::store::Store;

/// What a user can see go wrong with a secret store.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "Vault at {addr} is sealed: unseal it (`bao operator unseal` / `vault operator unseal`) and retry; nothing was written"
    )]
    Sealed { addr: String },
    #[error(
        "permission denied (403) on {path}: the token's policy does not allow this; check VAULT_TOKEN and its policies"
    )]
    PermissionDenied { path: String },
    #[error("{path}: not found{}", .version.map(|v| format!(" (version {v})")).unwrap_or_default())]
    NotFound { path: String, version: Option<u64> },
    #[error(
        "{path}: version {version} is {state}; `windflow secrets undelete` restores a deleted version, a destroyed one is gone"
    )]
    Gone {
        path: String,
        version: u64,
        state: &'static str,
    },
    #[error(
        "{path}: check-and-set conflict: expected version {expected} but the secret is at version {current}; someone else wrote it meanwhile. Reload, review and retry"
    )]
    CasConflict {
        path: String,
        expected: u64,
        current: u64,
    },
    #[error(
        "secret store {addr} is unreachable: {reason}; check VAULT_ADDR and that the server runs"
    )]
    Unreachable { addr: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot decrypt {path}: {reason} (is the right master key loaded?)")]
    Crypto { path: String, reason: String },
    #[error(
        "{record} was changed outside windflow and is refused: {reason}. The event is \
         recorded; restore the record from a backup, or write the secret again"
    )]
    Tampered { record: String, reason: String },
    #[error("secret store error: {0}")]
    Backend(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl SecretsError {
    /// A short machine-readable reason for `--json`.
    pub fn reason(&self) -> &'static str {
        match self {
            SecretsError::Sealed { .. } => "sealed",
            SecretsError::PermissionDenied { .. } => "permission_denied",
            SecretsError::NotFound { .. } => "not_found",
            SecretsError::Gone { .. } => "gone",
            SecretsError::CasConflict { .. } => "cas_conflict",
            SecretsError::Unreachable { .. } => "unreachable",
            SecretsError::Invalid(_) => "invalid",
            SecretsError::Crypto { .. } => "crypto",
            SecretsError::Tampered { .. } => "tampered",
            SecretsError::Backend(_) => "backend",
            SecretsError::Store(_) => "store",
        }
    }
}

pub type Result<T> = std::result::Result<T, SecretsError>;

/// One version read back: its sealed values and metadata.
#[derive(Clone, Debug)]
pub struct SealedVersion {
    pub data: Sealed,
    pub meta: VersionMeta,
}

/// KV v2 semantics, implemented by the embedded store and by Vault.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// `embedded` or `vault`.
    fn kind(&self) -> &'static str;
    /// What it talks to, without credentials (a file or a URL + mount).
    fn target(&self) -> String;
    /// A round trip that fails when the store cannot serve (sealed, down).
    async fn ping(&self) -> Result<Duration>;
    /// A version (the current one for `None`).
    async fn read(&self, path: &str, version: Option<u64>) -> Result<SealedVersion>;
    /// Writes a new version if the current version is `cas` (0: the secret
    /// must not exist). Returns the new version's metadata.
    async fn write(&self, path: &str, data: &Sealed, cas: u64) -> Result<VersionMeta>;
    async fn metadata(&self, path: &str) -> Result<SecretMeta>;
    /// Replaces the custom metadata.
    async fn set_custom(&self, path: &str, custom: &BTreeMap<String, String>) -> Result<()>;
    /// The names under `prefix` (a folder, `""` for the root), one level deep;
    /// folders end with `/`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    async fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<()>;
    async fn undelete_versions(&self, path: &str, versions: &[u64]) -> Result<()>;
    async fn destroy_versions(&self, path: &str, versions: &[u64]) -> Result<()>;
    /// Removes the secret with every version and its metadata.
    async fn delete_all(&self, path: &str) -> Result<()>;

    /// Every secret path under `prefix` (recursively), sorted.
    async fn list_recursive(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut folders = vec![folder(prefix)];
        while let Some(dir) = folders.pop() {
            for name in self.list(&dir).await? {
                let full = format!("{dir}{name}");
                if name.ends_with('/') {
                    folders.push(full);
                } else {
                    out.push(full);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// `a/b` -> `a/b/`, `""` -> `""`.
pub fn folder(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Unix seconds and the nanoseconds within.
pub fn unix_now_precise() -> (i64, u32) {
    let t = chrono::Utc::now();
    (t.timestamp(), t.timestamp_subsec_nanos())
}

// ------------------------------------------------------------------ embedded

/// The namespace of secrets in the local store.
pub const LOCAL_NS: &str = "secrets.kv";

/// The embedded store: one JSON document per secret in the local store,
/// changed inside one SQLite transaction (so check-and-set is atomic across
/// processes).
#[derive(Clone, Debug)]
pub struct LocalStore {
    store: Arc<Store>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Doc {
    created_time: i64,
    updated_time: i64,
    current_version: u64,
    oldest_version: u64,
    custom: BTreeMap<String, String>,
    versions: BTreeMap<u64, DocVersion>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct DocVersion {
    created_time: i64,
    #[serde(default)]
    created_nanos: u32,
    deletion_time: Option<i64>,
    destroyed: bool,
    data: Option<Sealed>,
}

impl DocVersion {
    fn meta(&self, version: u64) -> VersionMeta {
        VersionMeta {
            version,
            created_time: self.created_time,
            created_nanos: self.created_nanos,
            deletion_time: self.deletion_time,
            destroyed: self.destroyed,
        }
    }
}

impl Doc {
    fn meta(&self, path: &str) -> SecretMeta {
        SecretMeta {
            path: path.to_owned(),
            current_version: self.current_version,
            oldest_version: self.oldest_version,
            max_versions: MAX_VERSIONS,
            created_time: self.created_time,
            updated_time: self.updated_time,
            custom: self.custom.clone(),
            versions: self.versions.iter().map(|(v, d)| d.meta(*v)).collect(),
        }
    }
}

/// One stored secret as `crypto rewrap` rewrites it in place: its custom
/// metadata and the values of every version that still holds them
/// (deleted ones included, which an undelete brings back).
pub struct DocEdit<'a> {
    pub custom: &'a mut BTreeMap<String, String>,
    pub versions: Vec<(u64, &'a mut Sealed)>,
}

/// A stored secret's custom metadata and `(version, values)` of every
/// version that holds values.
pub type DocView = (BTreeMap<String, String>, Vec<(u64, Sealed)>);

impl LocalStore {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Every stored secret's path.
    pub fn paths(&self) -> Result<Vec<String>> {
        Ok(self
            .store
            .list(LOCAL_NS, "")?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// `path`'s custom metadata and the values of every version that holds them.
    #[allow(clippy::type_complexity)]
    pub fn view(
        &self,
        path: &str,
    ) -> Result<Option<(BTreeMap<String, String>, Vec<(u64, Sealed)>)>> {
        Ok(self.load(path)?.map(|doc| {
            let versions = doc
                .versions
                .into_iter()
                .filter_map(|(v, d)| d.data.map(|s| (v, s)))
                .collect();
            (doc.custom, versions)
        }))
    }

    /// Lets `f` rewrite `path` in one transaction: `Ok(true)` writes what
    /// it changed, `Ok(false)` or an error writes nothing. A path gone
    /// meanwhile is `Ok(false)`.
    pub fn edit(&self, path: &str, f: impl FnOnce(DocEdit<'_>) -> Result<bool>) -> Result<bool> {
        self.update(path, |doc| {
            let Some(mut doc) = doc else {
                return Ok((None, false));
            };
            let changed = f(DocEdit {
                custom: &mut doc.custom,
                versions: doc
                    .versions
                    .iter_mut()
                    .filter_map(|(v, d)| d.data.as_mut().map(|s| (*v, s)))
                    .collect(),
            })?;
            Ok((Some(doc), changed))
        })
    }

    fn load(&self, path: &str) -> Result<Option<Doc>> {
        match self.store.get(LOCAL_NS, path)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                SecretsError::Backend(format!("the local record of {path} is corrupt: {e}"))
            }),
        }
    }

    fn doc(&self, path: &str) -> Result<Doc> {
        self.load(path)?.ok_or_else(|| SecretsError::NotFound {
            path: path.to_owned(),
            version: None,
        })
    }

    /// Loads, changes and saves one document inside one transaction.
    fn update<T>(
        &self,
        path: &str,
        f: impl FnOnce(Option<Doc>) -> Result<(Option<Doc>, T)>,
    ) -> Result<T> {
        let mut outcome: Option<Result<T>> = None;
        self.store.transaction(|tx| {
            let bytes: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                    rusqlite::params![LOCAL_NS, path],
                    |r| r.get(0),
                )
                .optional()?;
            let doc = match bytes.map(|b| serde_json::from_slice::<Doc>(&b)) {
                None => None,
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    outcome = Some(Err(SecretsError::Backend(format!(
                        "the local record of {path} is corrupt: {e}"
                    ))));
                    return Ok(());
                }
            };
            match f(doc) {
                Ok((Some(doc), out)) => {
                    let bytes = serde_json::to_vec(&doc).expect("a document serialises");
                    tx.execute(
                        "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, unixepoch())
                         ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        rusqlite::params![LOCAL_NS, path, bytes],
                    )?;
                    outcome = Some(Ok(out));
                }
                Ok((None, out)) => {
                    tx.execute(
                        "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
                        rusqlite::params![LOCAL_NS, path],
                    )?;
                    outcome = Some(Ok(out));
                }
                Err(e) => outcome = Some(Err(e)),
            }
            Ok(())
        })?;
        outcome.expect("the transaction ran")
    }

    fn change_versions(
        &self,
        path: &str,
        versions: &[u64],
        f: impl Fn(&mut DocVersion, i64),
    ) -> Result<()> {
        let now = unix_now();
        self.update(path, |doc| {
            let mut doc = doc.ok_or_else(|| SecretsError::NotFound {
                path: path.to_owned(),
                version: None,
            })?;
            for v in versions {
                if let Some(d) = doc.versions.get_mut(v) {
                    f(d, now);
                }
            }
            doc.updated_time = now;
            Ok((Some(doc), ()))
        })
    }
}

#[async_trait]
impl SecretStore for LocalStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn target(&self) -> String {
        self.store.path().display().to_string()
    }

    async fn ping(&self) -> Result<Duration> {
        Ok(self.store.ping()?)
    }

    async fn read(&self, path: &str, version: Option<u64>) -> Result<SealedVersion> {
        let doc = self.doc(path)?;
        let v = version.unwrap_or(doc.current_version);
        let d = doc.versions.get(&v).ok_or_else(|| SecretsError::NotFound {
            path: path.to_owned(),
            version: Some(v),
        })?;
        match &d.data {
            Some(data) if d.deletion_time.is_none() && !d.destroyed => Ok(SealedVersion {
                data: data.clone(),
                meta: d.meta(v),
            }),
            _ => Err(SecretsError::Gone {
                path: path.to_owned(),
                version: v,
                state: d.meta(v).state(),
            }),
        }
    }

    async fn write(&self, path: &str, data: &Sealed, cas: u64) -> Result<VersionMeta> {
        let (now, nanos) = unix_now_precise();
        self.update(path, |doc| {
            let mut doc = doc.unwrap_or_else(|| Doc {
                created_time: now,
                ..Doc::default()
            });
            if doc.current_version != cas {
                return Err(SecretsError::CasConflict {
                    path: path.to_owned(),
                    expected: cas,
                    current: doc.current_version,
                });
            }
            let v = doc.current_version + 1;
            let dv = DocVersion {
                created_time: now,
                created_nanos: nanos,
                deletion_time: None,
                destroyed: false,
                data: Some(data.clone()),
            };
            let meta = dv.meta(v);
            doc.versions.insert(v, dv);
            doc.current_version = v;
            doc.updated_time = now;
            while doc.versions.len() as u64 > MAX_VERSIONS {
                let oldest = *doc.versions.keys().next().expect("not empty");
                doc.versions.remove(&oldest);
            }
            doc.oldest_version = *doc.versions.keys().next().expect("not empty");
            Ok((Some(doc), meta))
        })
    }

    async fn metadata(&self, path: &str) -> Result<SecretMeta> {
        Ok(self.doc(path)?.meta(path))
    }

    async fn set_custom(&self, path: &str, custom: &BTreeMap<String, String>) -> Result<()> {
        self.update(path, |doc| {
            let mut doc = doc.ok_or_else(|| SecretsError::NotFound {
                path: path.to_owned(),
                version: None,
            })?;
            doc.custom = custom.clone();
            Ok((Some(doc), ()))
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = folder(prefix);
        let mut names: Vec<String> = self
            .store
            .list(LOCAL_NS, &dir)?
            .into_iter()
            .map(|(k, _)| {
                let rest = &k[dir.len()..];
                match rest.find('/') {
                    Some(i) => rest[..=i].to_owned(),
                    None => rest.to_owned(),
                }
            })
            .collect();
        names.dedup();
        Ok(names)
    }

    async fn list_recursive(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .list(LOCAL_NS, &folder(prefix))?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    async fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.change_versions(path, versions, |d, now| {
            if d.deletion_time.is_none() {
                d.deletion_time = Some(now);
            }
        })
    }

    async fn undelete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.change_versions(path, versions, |d, _| {
            if !d.destroyed {
                d.deletion_time = None;
            }
        })
    }

    async fn destroy_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.change_versions(path, versions, |d, _| {
            d.destroyed = true;
            d.data = None;
        })
    }

    async fn delete_all(&self, path: &str) -> Result<()> {
        self.update(path, |doc| match doc {
            Some(_) => Ok((None, ())),
            None => Err(SecretsError::NotFound {
                path: path.to_owned(),
                version: None,
            }),
        })
    }
}
