//! The Vault KV v2 implementation of [`SecretStore`] (vaultrs), tested
//! against a real OpenBao server. Every write passes `cas`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use vaultrs::api::kv2::requests::{SetSecretMetadataRequest, SetSecretRequestOptions};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::kv2;

use super::backend::{Result, SealedVersion, SecretStore, SecretsError, folder};
use super::model::{MAX_VERSIONS, Sealed, SecretMeta, VersionMeta, parse_time, parse_time_precise};

/// The default KV v2 mount.
pub const DEFAULT_MOUNT: &str = "secret";

/// Where Vault is and how to talk to it.
#[derive(Clone)]
pub struct VaultSettings {
    pub addr: String,
    pub token: secrecy::SecretString,
    pub mount: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for VaultSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSettings")
            .field("addr", &self.addr)
            .field("mount", &self.mount)
            .finish_non_exhaustive()
    }
}

pub struct VaultStore {
    client: VaultClient,
    addr: String,
    mount: String,
}

impl std::fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultStore")
            .field("addr", &self.addr)
            .field("mount", &self.mount)
            .finish()
    }
}

impl VaultStore {
    /// A client for `settings` (nothing is sent yet).
    pub fn new(settings: &VaultSettings) -> Result<Self> {
        use secrecy::ExposeSecret;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let addr = settings.addr.trim_end_matches('/').to_owned();
        match url::Url::parse(&addr) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return Err(SecretsError::Invalid(format!(
                    "VAULT_ADDR {addr:?} is not an http(s) URL (e.g. http://127.0.0.1:8200)"
                )));
            }
        }
        if settings.mount.is_empty() || settings.mount.contains(char::is_whitespace) {
            return Err(SecretsError::Invalid(format!(
                "--vault-mount {:?}: give the KV v2 mount's name, e.g. secret",
                settings.mount
            )));
        }
        let built = VaultClientSettingsBuilder::default()
            .address(&addr)
            .token(settings.token.expose_secret())
            .timeout(Some(settings.timeout))
            .build()
            .map_err(|e| SecretsError::Invalid(format!("Vault client settings: {e}")))?;
        let client = VaultClient::new(built)
            .map_err(|e| SecretsError::Invalid(format!("Vault client: {e}")))?;
        Ok(Self {
            client,
            addr: crate::service::redact_url(&addr),
            mount: settings.mount.trim_matches('/').to_owned(),
        })
    }

    fn err(&self, path: &str, e: ClientError) -> SecretsError {
        match e {
            ClientError::APIError { code, errors } => {
                self.status_err(path, code, &errors.join("; "))
            }
            ClientError::RestClientError {
                source: rustify::errors::ClientError::ServerResponseError { code, content },
            } => self.status_err(path, code, content.as_deref().unwrap_or("")),
            ClientError::RestClientError { source } => {
                let mut reason = source.to_string();
                let mut cur = std::error::Error::source(&source);
                while let Some(c) = cur {
                    reason = format!("{reason}: {c}");
                    cur = c.source();
                }
                SecretsError::Unreachable {
                    addr: self.addr.clone(),
                    reason,
                }
            }
            other => SecretsError::Backend(format!("{}/{path}: {other}", self.mount)),
        }
    }

    fn status_err(&self, path: &str, code: u16, text: &str) -> SecretsError {
        match code {
            503 if text.contains("sealed") => SecretsError::Sealed {
                addr: self.addr.clone(),
            },
            403 => SecretsError::PermissionDenied {
                path: format!("{}/{path}", self.mount),
            },
            404 => SecretsError::NotFound {
                path: path.to_owned(),
                version: None,
            },
            _ => SecretsError::Backend(format!(
                "Vault answered {code} for {}/{path}: {}",
                self.mount,
                text.chars().take(300).collect::<String>()
            )),
        }
    }

    /// A `NotFound` for a version whose metadata says deleted or destroyed becomes `Gone`.
    async fn explain_missing(&self, path: &str, version: Option<u64>) -> SecretsError {
        let missing = SecretsError::NotFound {
            path: path.to_owned(),
            version,
        };
        let Ok(meta) = self.metadata(path).await else {
            return missing;
        };
        let v = version.unwrap_or(meta.current_version);
        match meta.version(v) {
            Some(m) if !m.is_live() => SecretsError::Gone {
                path: path.to_owned(),
                version: v,
                state: m.state(),
            },
            _ => missing,
        }
    }
}

fn version_meta(version: u64, created: &str, deletion: &str, destroyed: bool) -> VersionMeta {
    let (created_time, created_nanos) = parse_time_precise(created).unwrap_or((0, 0));
    VersionMeta {
        version,
        created_time,
        created_nanos,
        deletion_time: parse_time(deletion),
        destroyed,
    }
}

#[async_trait]
impl SecretStore for VaultStore {
    fn kind(&self) -> &'static str {
        "vault"
    }

    fn target(&self) -> String {
        format!("{} mount {}", self.addr, self.mount)
    }

    async fn ping(&self) -> Result<Duration> {
        let start = Instant::now();
        match kv2::list(&self.client, &self.mount, "").await {
            Ok(_) => Ok(start.elapsed()),
            Err(e) => match self.err("", e) {
                SecretsError::NotFound { .. } => Ok(start.elapsed()),
                e => Err(e),
            },
        }
    }

    async fn read(&self, path: &str, version: Option<u64>) -> Result<SealedVersion> {
        use vaultrs::api::kv2::requests::ReadSecretRequest;
        use vaultrs::api::kv2::responses::ReadSecretResponse;
        let endpoint = ReadSecretRequest::builder()
            .mount(self.mount.as_str())
            .path(path)
            .version(version)
            .build()
            .map_err(|e| SecretsError::Invalid(format!("{path}: {e}")))?;
        let res: std::result::Result<ReadSecretResponse, ClientError> =
            vaultrs::api::exec_with_result(&self.client, endpoint).await;
        match res {
            Ok(r) => {
                let m = &r.metadata;
                let meta = version_meta(m.version, &m.created_time, &m.deletion_time, m.destroyed);
                if !meta.is_live() || r.data.is_null() {
                    return Err(SecretsError::Gone {
                        path: path.to_owned(),
                        version: m.version,
                        state: meta.state(),
                    });
                }
                let data: Sealed = serde_json::from_value(r.data).map_err(|e| {
                    SecretsError::Backend(format!(
                        "{}/{path}: values are not strings ({e}); not written by windflow",
                        self.mount
                    ))
                })?;
                Ok(SealedVersion { data, meta })
            }
            Err(e) => match self.err(path, e) {
                SecretsError::NotFound { .. } => Err(self.explain_missing(path, version).await),
                e => Err(e),
            },
        }
    }

    async fn write(&self, path: &str, data: &Sealed, cas: u64) -> Result<VersionMeta> {
        let cas32 = u32::try_from(cas)
            .map_err(|_| SecretsError::Invalid(format!("{path}: version {cas} too large")))?;
        match kv2::set_with_options(
            &self.client,
            &self.mount,
            path,
            data,
            SetSecretRequestOptions { cas: cas32 },
        )
        .await
        {
            Ok(m) => {
                if m.version == 1 {
                    // Keep 10 versions, as the embedded store does.
                    let mut opts = SetSecretMetadataRequest::builder();
                    opts.max_versions(MAX_VERSIONS);
                    kv2::set_metadata(&self.client, &self.mount, path, Some(&mut opts))
                        .await
                        .map_err(|e| self.err(path, e))?;
                }
                Ok(version_meta(
                    m.version,
                    &m.created_time,
                    &m.deletion_time,
                    m.destroyed,
                ))
            }
            Err(ClientError::APIError { code: 400, errors })
                if errors.iter().any(|e| e.contains("check-and-set")) =>
            {
                let current = self
                    .metadata(path)
                    .await
                    .map(|m| m.current_version)
                    .unwrap_or(0);
                Err(SecretsError::CasConflict {
                    path: path.to_owned(),
                    expected: cas,
                    current,
                })
            }
            Err(e) => Err(self.err(path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<SecretMeta> {
        let m = kv2::read_metadata(&self.client, &self.mount, path)
            .await
            .map_err(|e| self.err(path, e))?;
        let mut versions: Vec<VersionMeta> = m
            .versions
            .iter()
            .filter_map(|(v, d)| {
                v.parse::<u64>()
                    .ok()
                    .map(|v| version_meta(v, &d.created_time, &d.deletion_time, d.destroyed))
            })
            .collect();
        versions.sort_by_key(|v| v.version);
        Ok(SecretMeta {
            path: path.to_owned(),
            current_version: m.current_version,
            oldest_version: m.oldest_version,
            max_versions: m.max_versions,
            created_time: parse_time(&m.created_time).unwrap_or(0),
            updated_time: parse_time(&m.updated_time).unwrap_or(0),
            custom: m.custom_metadata.unwrap_or_default().into_iter().collect(),
            versions,
        })
    }

    async fn set_custom(&self, path: &str, custom: &BTreeMap<String, String>) -> Result<()> {
        let mut opts = SetSecretMetadataRequest::builder();
        opts.custom_metadata(custom.clone().into_iter().collect::<HashMap<_, _>>());
        kv2::set_metadata(&self.client, &self.mount, path, Some(&mut opts))
            .await
            .map_err(|e| self.err(path, e))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = folder(prefix);
        match kv2::list(&self.client, &self.mount, &dir).await {
            Ok(mut keys) => {
                keys.sort();
                Ok(keys)
            }
            Err(e) => match self.err(&dir, e) {
                SecretsError::NotFound { .. } => Ok(Vec::new()),
                e => Err(e),
            },
        }
    }

    async fn delete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        kv2::delete_versions(&self.client, &self.mount, path, versions.to_vec())
            .await
            .map_err(|e| self.err(path, e))
    }

    async fn undelete_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        kv2::undelete_versions(&self.client, &self.mount, path, versions.to_vec())
            .await
            .map_err(|e| self.err(path, e))
    }

    async fn destroy_versions(&self, path: &str, versions: &[u64]) -> Result<()> {
        kv2::destroy_versions(&self.client, &self.mount, path, versions.to_vec())
            .await
            .map_err(|e| self.err(path, e))
    }

    async fn delete_all(&self, path: &str) -> Result<()> {
        // Vault answers 204 for a missing path: check first, as the embedded store does.
        self.metadata(path).await?;
        kv2::delete_metadata(&self.client, &self.mount, path)
            .await
            .map_err(|e| self.err(path, e))
    }

    async fn list_recursive(&self, prefix: &str) -> Result<Vec<String>> {
        use futures::StreamExt;
        let mut out = Vec::new();
        let mut level = vec![folder(prefix)];
        while !level.is_empty() {
            let results: Vec<(String, Result<Vec<String>>)> = futures::stream::iter(level)
                .map(|dir| async move {
                    let r = self.list(&dir).await;
                    (dir, r)
                })
                .buffer_unordered(16)
                .collect()
                .await;
            level = Vec::new();
            for (dir, r) in results {
                for name in r? {
                    let full = format!("{dir}{name}");
                    if name.ends_with('/') {
                        level.push(full);
                    } else {
                        out.push(full);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
