//! The facts compliance checks read, gathered once per check run from what
//! the product already holds: the deployment specs, the secrets store, the
//! operators and their second factors, the audit log and its chain, the
//! cluster folder (isolation status and manifests), and the settings.
//!
//! Every group says where it was read and when ([`Read`]); what could not
//! be read is kept as the reason, never as an empty list that would pass.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::audit::settings::AuditSettings;
use crate::auth::{OperatorStatus, Role};
use crate::config::Config;
use crate::crypto::Keyring;
use crate::deployments::{Catalog, Deployment, namespace_of};
use crate::isolation::{plan, state, status};
use crate::scans::k8s::{self, ManifestReport};
use crate::secrets::SecretStore;
use crate::store::Store;

/// Where a fact was read and when (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Read {
    pub what: String,
    pub at: i64,
}

impl Read {
    fn now(what: impl Into<String>) -> Self {
        Read {
            what: what.into(),
            at: chrono::Utc::now().timestamp(),
        }
    }
}

/// One secret of a deployment: its current version and whether every value
/// of it opens with the keyring for the deployment's envelope context.
#[derive(Clone, Debug, Serialize)]
pub struct SecretFact {
    pub path: String,
    pub version: u64,
    /// Unix seconds the current version was written (by a put or a rotation).
    pub written_at: i64,
    /// `Err`: why a value is not sealed by the envelope (or not readable).
    pub sealed: Result<(), String>,
}

#[derive(Clone, Debug)]
pub struct DeploymentFacts {
    pub spec: Deployment,
    pub file: PathBuf,
    /// Its secrets (`deployments/<id>` and below), or why they were not read.
    pub secrets: Result<Vec<SecretFact>, String>,
    pub secrets_read: Read,
    pub isolation: status::Status,
    /// The manifests of its namespace in the cluster folder.
    pub manifests: ManifestReport,
    pub cluster_read: Read,
    /// Each image of its services with the latest deploy-gate verdict kept
    /// for it (`None`: never judged), or why it could not be read.
    pub gate: Vec<(String, Result<Option<crate::scans::verdicts::Kept>, String>)>,
    pub gate_read: Read,
}

#[derive(Clone, Debug)]
pub struct AuditFacts {
    pub dir: PathBuf,
    /// Records and months (oldest first) of the local log, or why not read.
    pub log: Result<(u64, Vec<String>), String>,
    /// `Ok`: the chain checks; `Err((reason, key_missing))`.
    pub chain: Result<(), (String, bool)>,
    pub channels: Vec<String>,
    pub rules: usize,
    pub elasticsearch: Option<String>,
    pub read: Read,
}

/// A backend reached over the network, and whether it is over TLS.
#[derive(Clone, Debug, Serialize)]
pub struct Remote {
    pub what: String,
    pub target: String,
    pub tls: bool,
}

#[derive(Clone, Debug)]
pub struct SettingsFacts {
    pub step_up_minutes: u64,
    pub auto_lock_minutes: u64,
    pub session_idle_minutes: u64,
    pub session_max_lifetime: Result<u64, String>,
    pub remotes: Vec<Remote>,
    pub read: Read,
}

#[derive(Clone, Debug)]
pub struct Facts {
    pub deployments: Vec<DeploymentFacts>,
    pub operators: Result<Vec<OperatorStatus>, String>,
    pub operators_read: Read,
    pub audit: AuditFacts,
    pub settings: SettingsFacts,
    /// What the cluster folder could not read (the isolation and manifest
    /// checks are then undecided).
    pub cluster_problems: Vec<String>,
}

impl Facts {
    pub fn deployment(&self, id: &str) -> Option<&DeploymentFacts> {
        self.deployments.iter().find(|d| d.spec.id == id)
    }
}

/// What gathering reads from.
pub struct Sources<'a> {
    pub config: &'a Config,
    pub store: Arc<Store>,
    pub keyring: Arc<Keyring>,
    pub secrets: Arc<dyn SecretStore>,
    pub audit: &'a AuditSettings,
    pub redis_url: Option<&'a str>,
    pub catalog: &'a Catalog,
    pub cluster_dir: PathBuf,
}

fn tls_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("rediss://")
        || lower.starts_with("smtps://")
        || (lower.starts_with("smtp://") && lower.contains("tls=required"))
}

fn remotes(s: &Sources) -> Vec<Remote> {
    let mut out = Vec::new();
    let mut add = |what: &str, url: &str| {
        out.push(Remote {
            what: what.into(),
            target: crate::service::redact_url(url),
            tls: tls_url(url),
        });
    };
    if let Some(url) = s.redis_url {
        add("session store (Redis)", url);
    }
    let env = |k: &str| std::env::var(k).ok();
    if let Ok(sec) = crate::secrets::settings::SecretsSettings::from_config(
        s.config,
        &crate::secrets::settings::Flags::default(),
        &env,
    ) && let crate::secrets::settings::Backend::Vault(v) = &sec.backend
    {
        add("secrets (Vault)", &v.addr);
    }
    if let Some(es) = &s.audit.elasticsearch {
        add("audit (Elasticsearch)", &es.url);
    }
    for c in &s.audit.channels {
        use secrecy::ExposeSecret;
        add(&format!("alert channel {}", c.name), c.url.expose_secret());
    }
    out
}

async fn secrets_of(secrets: &crate::secrets::Secrets, paths: &[String]) -> Vec<SecretFact> {
    let mut out = Vec::new();
    for path in paths {
        // Reading opens every value with the keyring for the path's context:
        // a value not sealed by the envelope (or for another deployment) fails.
        let fact = match secrets.read(path, None).await {
            Ok((_, meta)) => SecretFact {
                path: path.clone(),
                version: meta.version,
                written_at: meta.created_time,
                sealed: Ok(()),
            },
            Err(e @ crate::secrets::SecretsError::Crypto { .. }) => {
                let meta = secrets.metadata(path).await.ok();
                SecretFact {
                    path: path.clone(),
                    version: meta.as_ref().map_or(0, |m| m.current_version),
                    written_at: meta
                        .as_ref()
                        .and_then(|m| m.current())
                        .map_or(0, |v| v.created_time),
                    sealed: Err(format!("not sealed by the envelope: {e}")),
                }
            }
            Err(e) => SecretFact {
                path: path.clone(),
                version: 0,
                written_at: 0,
                sealed: Err(format!("its current version cannot be read: {e}")),
            },
        };
        out.push(fact);
    }
    out
}

fn audit_facts(s: &Sources) -> AuditFacts {
    let dir = s.config.paths.data_dir.join("audit");
    let read = Read::now(format!("the audit log in {}", dir.display()));
    let log = crate::audit::local::list_files(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))
        .map(|files| {
            let months: Vec<String> = files
                .iter()
                .filter(|(_, p)| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
                .map(|(m, _)| m.clone())
                .collect();
            months
        });
    let chain = crate::audit::local::verify_dir(&dir, &s.keyring);
    let (log, chain) = match (log, chain) {
        (Ok(months), Ok(reports)) => (
            Ok((reports.iter().map(|r| r.records).sum(), months)),
            Ok(()),
        ),
        (Ok(months), Err(t)) => (
            Ok((0, months)),
            Err((
                format!("{}, line {}: {}", t.file.display(), t.line, t.reason),
                t.key_not_loaded.is_some(),
            )),
        ),
        (Err(e), _) => (Err(e.clone()), Err((e, false))),
    };
    AuditFacts {
        dir,
        log,
        chain,
        channels: s.audit.channels.iter().map(|c| c.name.clone()).collect(),
        rules: s.audit.rules.len(),
        elasticsearch: s.audit.elasticsearch.as_ref().map(|e| e.shown()),
        read,
    }
}

fn settings_facts(s: &Sources) -> SettingsFacts {
    let file = if s.config.paths.config_file_exists {
        s.config.paths.config_file.display().to_string()
    } else {
        format!(
            "{} (not present: defaults)",
            s.config.paths.config_file.display()
        )
    };
    SettingsFacts {
        step_up_minutes: s.config.step_up_minutes,
        auto_lock_minutes: s.config.auto_lock_minutes,
        session_idle_minutes: (crate::sessions::model::DEFAULT_TTL_MS / 60_000) as u64,
        session_max_lifetime: crate::sessions::settings::max_lifetime(s.config)
            .map(|d| d.as_secs() / 60),
        remotes: remotes(s),
        read: Read::now(format!("the settings of {file} and the environment")),
    }
}

/// Kinds the isolation plan writes: not the deployment's workloads.
const PLAN_KINDS: &[&str] = &["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange"];

/// Reads every fact for every deployment of `sources.catalog`.
pub async fn gather(s: &Sources<'_>) -> Facts {
    let operators_read = Read::now(format!("the operators in {}", s.store.path().display()));
    let auth = crate::auth::Auth::new(
        s.store.clone(),
        s.keyring.clone(),
        crate::audit::Audit::discard(),
        crate::mfa::Policy::default(),
    );
    let operators = auth.operator_statuses().map_err(|e| e.to_string());
    let audit = audit_facts(s);
    let settings = settings_facts(s);

    let cluster_read = Read::now(format!("the cluster folder {}", s.cluster_dir.display()));
    let folder = state::from_dir(&s.cluster_dir);
    let cluster_problems = folder.problems();
    let loaded = k8s::load_paths(std::slice::from_ref(&s.cluster_dir));
    let mut by_namespace: BTreeMap<String, k8s::load::Loaded> = BTreeMap::new();
    for o in loaded.objects {
        if PLAN_KINDS.contains(&o.kind.as_str()) {
            continue;
        }
        by_namespace
            .entry(o.namespace.clone())
            .or_default()
            .objects
            .push(o);
    }

    let secrets_read = Read::now(format!("the secrets in {}", s.secrets.target()));
    let listed = s.secrets.list_recursive("deployments/").await;
    let reader = crate::secrets::Secrets::new(
        s.secrets.clone(),
        s.keyring.clone(),
        s.store.clone(),
        crate::audit::Audit::discard(),
    );
    let mut deployments = Vec::new();
    for d in &s.catalog.deployments {
        let id = &d.spec.id;
        let secrets = match &listed {
            Ok(paths) => {
                let mine: Vec<String> = paths
                    .iter()
                    .filter(|p| crate::secrets::model::deployment_id(p) == Some(id.as_str()))
                    .cloned()
                    .collect();
                Ok(secrets_of(&reader, &mine).await)
            }
            Err(e) => Err(format!("cannot list the secrets: {e}")),
        };
        let manifests =
            k8s::check_objects(by_namespace.remove(&namespace_of(id)).unwrap_or_default());
        let mut images: Vec<&str> = d.spec.services.iter().map(|s| s.image.as_str()).collect();
        images.sort_unstable();
        images.dedup();
        let gate = images
            .into_iter()
            .map(|i| (i.to_owned(), crate::scans::verdicts::latest(&s.store, i)))
            .collect();
        deployments.push(DeploymentFacts {
            gate,
            gate_read: Read::now("the deploy-gate verdicts kept in the store"),
            isolation: status::status(&plan::plan(&d.spec), &folder.state),
            spec: d.spec.clone(),
            file: d.path.clone(),
            secrets,
            secrets_read: secrets_read.clone(),
            manifests,
            cluster_read: cluster_read.clone(),
        });
    }
    Facts {
        deployments,
        operators: operators.map(|ops| {
            // An ingest identity signs in nowhere: it records events only.
            ops.into_iter().filter(|o| o.role != Role::Ingest).collect()
        }),
        operators_read,
        audit,
        settings,
        cluster_problems,
    }
}
