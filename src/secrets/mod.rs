//! Secrets: the model (versions, metadata, expiry, diffs), the stores (the
//! embedded one and Vault KV v2), the journaled rotation, the service and the
//! pane.
//!
//! [`Secrets`] is the one door: it encrypts every value with the envelope
//! (context `deployment:<id>` for `deployments/<id>`) before a backend sees
//! it, sets the custom metadata (`created_by`, `deployment_id`,
//! `expires_at`), passes check-and-set on every write and emits a security
//! event for every read of a value, write, rotation and rollback.

pub mod agent;
pub mod backend;
pub mod binding;
pub mod demo;
pub mod model;
pub mod pane;
pub mod rewrap;
pub mod rotation;
pub mod schedule;
pub mod service;
pub mod settings;
pub mod vault;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

pub use backend::{LocalStore, Result, SecretStore, SecretsError};
use model::{
    CREATED_BY, DiffLine, META_CREATED_BY, META_DEPLOYMENT, META_EXPIRES, META_UPDATED_BY, Sealed,
    SecretMeta, SecretValue, Values, VersionMeta,
};
pub use vault::{DEFAULT_MOUNT, VaultSettings, VaultStore};

use crate::audit::Audit;
use crate::crypto::{Keyring, contexts};
use crate::store::Store;

/// Secrets over one backend, with the local store for journals and schedules.
#[derive(Clone)]
pub struct Secrets {
    store: Arc<dyn SecretStore>,
    /// The same store, seen as the binding layer it is.
    bound: Arc<binding::BoundStore>,
    keyring: Arc<Keyring>,
    local: Arc<Store>,
    audit: Audit,
    actor: Option<String>,
    ttl_secs: i64,
    rules: Arc<Vec<settings::RotationRule>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("store", &self.store.target())
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    pub fn new(
        store: Arc<dyn SecretStore>,
        keyring: Arc<Keyring>,
        local: Arc<Store>,
        audit: Audit,
    ) -> Self {
        model::use_fingerprint_key(&keyring);
        let bound = Arc::new(binding::BoundStore::new(
            store,
            keyring.clone(),
            local.clone(),
            audit.clone(),
        ));
        Self {
            store: bound.clone(),
            bound,
            keyring,
            local,
            audit,
            actor: None,
            ttl_secs: model::DEFAULT_TTL_SECS,
            rules: Arc::new(Vec::new()),
        }
    }

    /// The operator recorded in events and in `rotated_by`.
    pub fn with_actor(mut self, actor: &str) -> Self {
        self.actor = Some(actor.to_owned());
        self
    }

    /// Lifetime of written values (the `expires_at` metadata).
    pub fn with_ttl(mut self, secs: i64) -> Self {
        self.ttl_secs = secs;
        self
    }

    /// Per-path rotation rules (`[[secrets.rotation]]`), first match wins.
    pub fn with_rules(mut self, rules: Vec<settings::RotationRule>) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    /// The rotation rules, first match wins.
    pub fn rules(&self) -> &[settings::RotationRule] {
        &self.rules
    }

    /// The rotation rule for `path`, if any.
    pub fn rule_for(&self, path: &str) -> Option<&settings::RotationRule> {
        settings::rule_for(&self.rules, path)
    }

    /// Rotation options for `path`: its rule's, else the defaults.
    pub fn rotation_options(&self, path: &str) -> rotation::RotateOptions {
        settings::options_for(&self.rules, path)
    }

    pub fn store(&self) -> &Arc<dyn SecretStore> {
        &self.store
    }

    /// The store's binding layer (metadata MACs, see [`binding`]).
    pub fn bound(&self) -> &binding::BoundStore {
        &self.bound
    }

    pub fn local(&self) -> &Arc<Store> {
        &self.local
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    /// Records a security event; `details` never holds a value.
    pub fn emit(&self, event_type: &str, mut details: Value) {
        if let (Some(actor), Value::Object(map)) = (&self.actor, &mut details) {
            map.insert("actor".into(), Value::String(actor.clone()));
            map.insert("backend".into(), Value::String(self.store.kind().into()));
        }
        if let Err(e) = self.audit.emit(event_type, self.actor.as_deref(), details) {
            tracing::error!(event_type, error = %e, "security event not recorded");
        }
    }

    /// Encrypts each value for its path, key and version.
    pub fn seal(&self, path: &str, version: u64, values: &Values) -> Result<Sealed> {
        values
            .iter()
            .map(|(k, v)| {
                self.keyring
                    .encrypt(
                        &contexts::secret_value(path, k, version),
                        v.expose().as_bytes(),
                    )
                    .map(|env| (k.clone(), env))
                    .map_err(|e| SecretsError::Crypto {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    /// Decrypts each value of version `version` of `path`: sealed for its
    /// path, key and version, or (a version written before values were
    /// bound, as `binding` says) for the path alone. A value that opens
    /// under neither was moved from another key, version or path: refused
    /// and recorded.
    pub fn open(
        &self,
        path: &str,
        version: u64,
        binding: binding::Binding,
        sealed: &Sealed,
    ) -> Result<Values> {
        sealed
            .iter()
            .map(|(k, env)| {
                let pt = match self
                    .keyring
                    .decrypt(&contexts::secret_value(path, k, version), env)
                {
                    Ok(pt) => pt,
                    Err(_) if binding.legacy_ok(version) => self
                        .keyring
                        .decrypt(&model::context(path), env)
                        .map_err(|e| SecretsError::Crypto {
                            path: format!("{path} key {k}"),
                            reason: e.to_string(),
                        })?,
                    Err(crate::crypto::CryptoError::AuthenticationFailed) => {
                        return Err(self.tampered(
                            format!("the value of key {k} of version {version} of secret {path}"),
                            "it was not sealed for this path, key and version (moved from \
                             another key, version or path, or edited)",
                        ));
                    }
                    Err(e) => {
                        return Err(SecretsError::Crypto {
                            path: format!("{path} key {k}"),
                            reason: e.to_string(),
                        });
                    }
                };
                let text = std::str::from_utf8(&pt).map_err(|_| SecretsError::Crypto {
                    path: format!("{path} key {k}"),
                    reason: "the value is not UTF-8 text".into(),
                })?;
                Ok((k.clone(), SecretValue::new(text)))
            })
            .collect()
    }

    /// A tampered record: recorded, and the error naming it.
    fn tampered(&self, record: String, reason: &str) -> SecretsError {
        tracing::error!(%record, "tampered record refused");
        self.emit(
            "record_tampered",
            json!({ "record": record, "reason": reason }),
        );
        SecretsError::Tampered {
            record,
            reason: reason.to_owned(),
        }
    }

    /// Every secret path under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.store.list_recursive(prefix).await
    }

    pub async fn metadata(&self, path: &str) -> Result<SecretMeta> {
        model::check_path(path).map_err(SecretsError::Invalid)?;
        self.store.metadata(path).await
    }

    /// A version's values, decrypted, without an event: for comparisons
    /// and hashes that never leave the process. Callers that show or hand
    /// out a value use [`Secrets::reveal`].
    pub async fn read(&self, path: &str, version: Option<u64>) -> Result<(Values, VersionMeta)> {
        model::check_path(path).map_err(SecretsError::Invalid)?;
        let v = self.store.read(path, version).await?;
        let binding = self.bound.binding(path).await?;
        Ok((self.open(path, v.meta.version, binding, &v.data)?, v.meta))
    }

    /// A version's values for a person or a script to see: emits `secret_revealed`.
    pub async fn reveal(
        &self,
        path: &str,
        version: Option<u64>,
        via: &str,
    ) -> Result<(Values, VersionMeta)> {
        let out = self.read(path, version).await?;
        self.emit(
            "secret_revealed",
            json!({ "path": path, "version": out.1.version, "keys": out.0.keys().collect::<Vec<_>>(), "via": via }),
        );
        Ok(out)
    }

    /// Writes `values` as a new version if the secret is at version `cas`
    /// (0: it must not exist yet), then sets the custom metadata. No event.
    pub async fn write(&self, path: &str, values: &Values, cas: u64) -> Result<VersionMeta> {
        model::check_path(path).map_err(SecretsError::Invalid)?;
        if values.is_empty() {
            return Err(SecretsError::Invalid(format!(
                "{path}: a secret needs at least one KEY=VALUE"
            )));
        }
        for k in values.keys() {
            model::check_key(k).map_err(|e| SecretsError::Invalid(format!("{path}: {e}")))?;
        }
        self.write_noted(path, values, cas, None).await
    }

    /// [`Secrets::write`], adding `note` to the custom metadata.
    pub async fn write_noted(
        &self,
        path: &str,
        values: &Values,
        cas: u64,
        note: Option<(&str, String)>,
    ) -> Result<VersionMeta> {
        // What stays of the custom metadata: checked first, so that a write
        // never signs metadata edited outside windflow.
        let mut custom = if cas == 0 {
            // The first secret of an empty store: bound as a whole from the start.
            let empty = if self.store.kind() == "embedded" {
                self.local.count(backend::LOCAL_NS)? == 0
            } else {
                self.store.list("").await?.is_empty()
            };
            if empty && self.bound.legacy_ok()? {
                self.bound.mark_bound()?;
            }
            BTreeMap::new()
        } else {
            self.store.metadata(path).await?.custom
        };
        if let Some((k, v)) = note {
            custom.insert(k.to_owned(), v);
        }
        let sealed = self.seal(path, cas + 1, values)?;
        let meta = self.store.write(path, &sealed, cas).await?;
        if meta.version != cas + 1 {
            return Err(SecretsError::Backend(format!(
                "{path}: the store wrote version {} after check-and-set against version {cas}: \
                 its values are sealed for version {}",
                meta.version,
                cas + 1
            )));
        }
        self.stamp(path, custom, meta.created_time).await?;
        Ok(meta)
    }

    /// Sets `created_by`, `updated_by` (the acting operator; removed when
    /// none acts, so that it never names someone else's write),
    /// `deployment_id` and `expires_at`, keeping other custom metadata.
    async fn stamp(
        &self,
        path: &str,
        mut custom: BTreeMap<String, String>,
        written_at: i64,
    ) -> Result<()> {
        custom.insert(META_CREATED_BY.into(), CREATED_BY.into());
        match &self.actor {
            Some(actor) => custom.insert(META_UPDATED_BY.into(), actor.clone()),
            None => custom.remove(META_UPDATED_BY),
        };
        if let Some(id) = model::deployment_id(path) {
            custom.insert(META_DEPLOYMENT.into(), id.into());
        }
        let base = if written_at > 0 {
            written_at
        } else {
            backend::unix_now()
        };
        custom.insert(
            META_EXPIRES.into(),
            model::format_time(base + self.ttl_secs),
        );
        self.store.set_custom(path, &custom).await
    }

    /// `put`: a new version with check-and-set against `cas`, or against the
    /// version read just now when `cas` is `None`. Emits `secret_written`.
    pub async fn put(&self, path: &str, values: &Values, cas: Option<u64>) -> Result<VersionMeta> {
        let cas = match cas {
            Some(c) => c,
            None => match self.store.metadata(path).await {
                Ok(m) => m.current_version,
                Err(SecretsError::NotFound { .. }) => 0,
                Err(e) => return Err(e),
            },
        };
        let meta = self.write(path, values, cas).await?;
        self.emit(
            "secret_written",
            json!({ "path": path, "version": meta.version, "keys": values.keys().collect::<Vec<_>>() }),
        );
        Ok(meta)
    }

    /// Keys added, removed and changed between two versions.
    pub async fn diff(&self, path: &str, v1: u64, v2: u64) -> Result<Vec<DiffLine>> {
        let (a, _) = self.read(path, Some(v1)).await?;
        let (b, _) = self.read(path, Some(v2)).await?;
        Ok(model::diff(&a, &b))
    }

    /// Restores `version` as a new version (as `vault kv rollback` does), with
    /// check-and-set against the current version. Emits `secret_rolled_back`.
    pub async fn rollback(&self, path: &str, version: u64) -> Result<VersionMeta> {
        let meta = self.metadata(path).await?;
        if version == meta.current_version {
            return Err(SecretsError::Invalid(format!(
                "{path}: version {version} is already the current version"
            )));
        }
        let (values, _) = self.read(path, Some(version)).await?;
        let new = self.write(path, &values, meta.current_version).await?;
        self.emit(
            "secret_rolled_back",
            json!({ "path": path, "from_version": meta.current_version, "restored_version": version, "new_version": new.version }),
        );
        Ok(new)
    }

    pub async fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.store.delete_versions(path, versions).await?;
        self.emit(
            "secret_deleted",
            json!({ "path": path, "versions": versions }),
        );
        Ok(())
    }

    pub async fn undelete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.store.undelete_versions(path, versions).await?;
        self.emit(
            "secret_undeleted",
            json!({ "path": path, "versions": versions }),
        );
        Ok(())
    }

    pub async fn destroy_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.store.destroy_versions(path, versions).await?;
        self.emit(
            "secret_destroyed",
            json!({ "path": path, "versions": versions }),
        );
        Ok(())
    }
}
