//! Secrets bound to their place: each value sealed for its path, key and
//! version ([`contexts::secret_value`]), and the custom metadata
//! (`expires_at`, `created_by`, ...) carrying a MAC under a key derived
//! from the master key, so that a value moved to another key or version,
//! or metadata edited in the store (or in Vault), is refused and recorded.
//!
//! Two custom metadata entries carry the binding: `windflow_mac` (the MAC
//! of the path and every other entry) and `windflow_bound_from` (the first
//! version sealed with bound contexts; older versions were written before
//! and open under the path's context). Metadata without a MAC is the format
//! from before: accepted, as unbound, until `windflow crypto rewrap` binds
//! it, and only while the store is not bound as a whole: a marker in the
//! local store (`binding/secrets|<target>`), written with the first secret
//! of an empty store or by a rewrap that bound every secret, after which
//! metadata without a MAC is refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::backend::{Result, SealedVersion, SecretStore, SecretsError};
use super::model::{Sealed, SecretMeta, VersionMeta};
use crate::audit::Audit;
use crate::crypto::{Keyring, contexts};
use crate::store::Store;

/// The custom metadata entry holding the MAC.
pub const META_MAC: &str = "windflow_mac";
/// The custom metadata entry naming the first version sealed bound.
pub const META_BOUND_FROM: &str = "windflow_bound_from";
/// The note `crypto rewrap` leaves on a Vault secret it wrote again.
pub const META_REWRAPPED: &str = "windflow_rewrapped";
/// Store namespace of the markers "every record here is bound".
pub const MARKER_NS: &str = "binding";

/// The MAC key's context.
fn mac_context() -> String {
    contexts::record_mac("secret-metadata")
}

/// The marker key of the secrets of store `target`.
pub fn marker_key(target: &str) -> String {
    format!("secrets|{target}")
}

/// How a secret's metadata is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// MAC'd; versions from `from` on are sealed for their path, key and version.
    Bound { from: u64 },
    /// Written before binding (no MAC): accepted until `crypto rewrap`.
    Unbound,
}

impl Binding {
    /// Whether values of `version` may open under the path's old context.
    pub fn legacy_ok(self, version: u64) -> bool {
        match self {
            Binding::Bound { from } => version < from,
            Binding::Unbound => true,
        }
    }
}

fn fields(path: &str, custom: &BTreeMap<String, String>) -> Vec<Vec<u8>> {
    let mut out = vec![path.as_bytes().to_vec()];
    for (k, v) in custom.iter().filter(|(k, _)| *k != META_MAC) {
        out.push(k.as_bytes().to_vec());
        out.push(v.as_bytes().to_vec());
    }
    out
}

/// Sets `custom`'s MAC under the primary key.
pub fn sign(keyring: &Keyring, path: &str, custom: &mut BTreeMap<String, String>) {
    let fields = fields(path, custom);
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    custom.insert(META_MAC.into(), keyring.mac(&mac_context(), &refs));
}

/// Checks `custom`'s MAC; `legacy_ok`: metadata without one is accepted as unbound.
pub fn check(
    keyring: &Keyring,
    path: &str,
    custom: &BTreeMap<String, String>,
    legacy_ok: bool,
) -> Result<Binding> {
    let tampered = |reason: String| SecretsError::Tampered {
        record: format!("the metadata of secret {path}"),
        reason,
    };
    let Some(tag) = custom.get(META_MAC) else {
        return if legacy_ok {
            Ok(Binding::Unbound)
        } else {
            Err(tampered(
                "it carries no MAC, and every secret of this store is bound (since its \
                 first secret, or since `windflow crypto rewrap`): its MAC was removed"
                    .into(),
            ))
        };
    };
    let fields = fields(path, custom);
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    keyring
        .check_mac(&mac_context(), &refs, tag)
        .map_err(|e| match e {
            crate::crypto::CryptoError::UnknownKey { kid } => SecretsError::Crypto {
                path: path.to_owned(),
                reason: format!("its metadata MAC is under master key {kid}, which is not loaded"),
            },
            _ => tampered(
                "its MAC does not match (expires_at, created_by or another entry was \
                 edited, or the metadata was copied from another path)"
                    .into(),
            ),
        })?;
    let from = custom
        .get(META_BOUND_FROM)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Ok(Binding::Bound { from })
}

/// The secrets store with binding: metadata is checked on every read and
/// MAC'd on every write; a mismatch is refused and recorded.
pub struct BoundStore {
    inner: Arc<dyn SecretStore>,
    keyring: Arc<Keyring>,
    local: Arc<Store>,
    audit: Audit,
}

impl BoundStore {
    pub fn new(
        inner: Arc<dyn SecretStore>,
        keyring: Arc<Keyring>,
        local: Arc<Store>,
        audit: Audit,
    ) -> Self {
        Self {
            inner,
            keyring,
            local,
            audit,
        }
    }

    /// Whether metadata without a MAC is still accepted here (the store
    /// was never bound as a whole).
    pub fn legacy_ok(&self) -> Result<bool> {
        Ok(self
            .local
            .get(MARKER_NS, &marker_key(&self.inner.target()))?
            .is_none())
    }

    /// From now on metadata without a MAC is refused here.
    pub fn mark_bound(&self) -> Result<()> {
        Ok(self.local.put(
            MARKER_NS,
            &marker_key(&self.inner.target()),
            self.keyring.primary_kid().as_bytes(),
        )?)
    }

    /// Checks `meta` and records a mismatch.
    fn checked(&self, meta: &SecretMeta) -> Result<Binding> {
        let out = check(&self.keyring, &meta.path, &meta.custom, self.legacy_ok()?);
        if let Err(SecretsError::Tampered { record, reason }) = &out {
            tracing::error!(%record, "tampered record refused");
            if let Err(e) = self.audit.emit(
                "record_tampered",
                None,
                serde_json::json!({ "record": record, "reason": reason, "path": meta.path }),
            ) {
                tracing::error!(error = %e, "security event not recorded");
            }
        }
        out
    }

    /// The binding of `path`'s metadata (checked).
    pub async fn binding(&self, path: &str) -> Result<Binding> {
        let meta = self.inner.metadata(path).await?;
        self.checked(&meta)
    }

    /// The store under the binding (for `crypto rewrap` and usage counts).
    pub fn inner(&self) -> &Arc<dyn SecretStore> {
        &self.inner
    }
}

#[async_trait]
impl SecretStore for BoundStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn target(&self) -> String {
        self.inner.target()
    }
    async fn ping(&self) -> Result<Duration> {
        self.inner.ping().await
    }
    async fn read(&self, path: &str, version: Option<u64>) -> Result<SealedVersion> {
        self.inner.read(path, version).await
    }
    async fn write(&self, path: &str, data: &Sealed, cas: u64) -> Result<VersionMeta> {
        self.inner.write(path, data, cas).await
    }
    /// Checked; the MAC itself is left out of what callers see.
    async fn metadata(&self, path: &str) -> Result<SecretMeta> {
        let mut meta = self.inner.metadata(path).await?;
        self.checked(&meta)?;
        meta.custom.remove(META_MAC);
        Ok(meta)
    }
    /// MAC'd; the first write after binding names the version from which
    /// values are bound (every version written by this code is).
    async fn set_custom(&self, path: &str, custom: &BTreeMap<String, String>) -> Result<()> {
        let mut custom = custom.clone();
        if !custom.contains_key(META_BOUND_FROM) {
            let current = self.inner.metadata(path).await?.current_version;
            custom.insert(META_BOUND_FROM.into(), current.to_string());
        }
        sign(&self.keyring, path, &mut custom);
        self.inner.set_custom(path, &custom).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn list_recursive(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_recursive(prefix).await
    }
    async fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.inner.delete_versions(path, versions).await
    }
    async fn undelete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.inner.undelete_versions(path, versions).await
    }
    async fn destroy_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        self.inner.destroy_versions(path, versions).await
    }
    async fn delete_all(&self, path: &str) -> Result<()> {
        self.inner.delete_all(path).await
    }
}
