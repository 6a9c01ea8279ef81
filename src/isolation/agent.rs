//! The isolation domain's duty in `windflow agent`: check every
//! deployment's drift every `drift_every` (under `[isolation]`), against the
//! cluster folder or, with `kubeconfig`/`context`, the cluster, and records
//! `isolation_drift` when a drift appears or changes and
//! `isolation_drift_resolved` when it goes away (see [`super::drift`]).
//! What was recorded is kept in the store, so a restarted agent does not
//! record the same drift again.

use std::time::Duration;

use serde_json::json;

use super::cluster::{self, Cluster};
use super::drift::{self, Check, Record, Tracker};
use super::service::Sources;
use super::{plan, settings, state, status};
use crate::agent::log;
use crate::audit::{Audit, Origin, SecurityEvent, Severity};
use crate::domains::{AgentCtx, AgentTasks};
use crate::store::Store;

/// The store namespace and key of what was last recorded.
const NS: &str = "isolation";
const KEY: &str = "drift";

pub fn start(ctx: &AgentCtx, tasks: &mut AgentTasks) {
    let config = ctx.config;
    let opened = (|| {
        let every = settings::drift_every(config).map_err(|e| e.to_string())?;
        let source = Sources {
            deployments: settings::deployments_dir(config, None),
            cluster: settings::cluster_dir(config, None).map_err(|e| e.to_string())?,
            target: settings::cluster_target(config).map_err(|e| e.to_string())?,
        };
        // The same audit handle as every command and the other duties.
        let audit = crate::cli::audit::cli_audit(config).map_err(|e| e.to_string())?;
        Ok::<_, String>((every, source, audit))
    })();
    match opened {
        Ok((every, source, audit)) => {
            log(
                "info",
                "checking isolation drift",
                json!({ "every_s": every.as_secs(), "source": describe(&source) }),
            );
            tasks.spawn(checks(
                source,
                every,
                audit,
                ctx.store.clone(),
                format!("agent@{}", crate::host::name()),
                ctx.stop.clone(),
            ));
        }
        Err(e) => log(
            "error",
            "isolation drift checks are off: the settings do not resolve",
            json!({ "error": e }),
        ),
    }
}

fn origin() -> Origin {
    Origin::detect(concat!("windflow-agent/", env!("CARGO_PKG_VERSION")))
}

fn describe(source: &Sources) -> String {
    match &source.target {
        None => source.cluster.display().to_string(),
        Some(target) => match (&target.kubeconfig, &target.context) {
            (Some(k), _) => format!("kubeconfig {}", k.display()),
            (None, Some(c)) => format!("context {c}"),
            (None, None) => "the cluster".into(),
        },
    }
}

async fn checks(
    source: Sources,
    every: Duration,
    audit: Audit,
    store: std::sync::Arc<Store>,
    actor: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tracker = load(&store);
    let mut last_error: Option<String> = None;
    loop {
        match check(&source).await {
            Ok(c) => {
                if last_error.take().is_some() {
                    log("info", "isolation drift can be checked again", json!({}));
                }
                for r in tracker.changes(&c) {
                    match record(&audit, &actor, &describe(&source), &r) {
                        Ok(()) => tracker.recorded(&r),
                        Err(e) => log(
                            "error",
                            "cannot record isolation drift; tried again at the next check",
                            json!({ "error": e }),
                        ),
                    }
                }
                save(&store, &tracker);
                log(
                    "info",
                    "isolation drift checked",
                    json!({ "drifted": c.findings.len(), "complete": c.complete }),
                );
            }
            Err(e) => {
                if last_error.as_ref() != Some(&e) {
                    log(
                        "error",
                        "isolation drift cannot be checked",
                        json!({ "error": e }),
                    );
                }
                last_error = Some(e);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One check. An unreadable specs folder is an error (no spec is not the
/// same as no drift); unreadable manifests make the check incomplete.
pub async fn check(source: &Sources) -> Result<Check, String> {
    let dir = source.deployments.clone();
    let catalog = tokio::task::spawn_blocking(move || crate::deployments::load_dir(&dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    let plans: Vec<plan::Plan> = catalog
        .deployments
        .iter()
        .map(|d| plan::plan(&d.spec))
        .collect();
    let (live, foreign, complete) = match &source.target {
        None => {
            let dir = source.cluster.clone();
            let folder = tokio::task::spawn_blocking(move || state::from_dir(&dir))
                .await
                .map_err(|e| e.to_string())?;
            let complete = folder.complete();
            (folder.state, Vec::new(), complete)
        }
        Some(target) => {
            let c = Cluster::connect(target).await.map_err(|e| e.to_string())?;
            let namespaces: Vec<String> = plans
                .iter()
                .map(|p| p.namespace_name().to_owned())
                .collect();
            let live = cluster::live_state(&c, &namespaces)
                .await
                .map_err(|e| e.to_string())?;
            let foreign = cluster::foreign_edits(&live);
            (live, foreign, true)
        }
    };
    let findings = plans
        .iter()
        .filter_map(|p| drift::finding(&status::status(p, &live), &foreign))
        .map(|f| (f.deployment.clone(), f))
        .collect();
    let checked = plans.iter().map(|p| p.deployment.clone()).collect();
    Ok(Check {
        findings,
        checked,
        complete,
    })
}

/// Records one change in the audit log, with its own severity.
pub fn record(audit: &Audit, actor: &str, source: &str, r: &Record) -> Result<(), String> {
    let (event_type, severity, details) = match r {
        Record::Drift { now, before } => (
            "isolation_drift",
            now.severity,
            json!({
                "deployment": now.deployment,
                "namespace": now.namespace,
                "source": source,
                "drift": now.drift,
                "before": before.as_ref().map(|b| &b.drift),
            }),
        ),
        Record::Resolved { was, spec_removed } => (
            "isolation_drift_resolved",
            Severity::Low,
            json!({
                "deployment": was.deployment,
                "namespace": was.namespace,
                "source": source,
                "resolved": was.drift,
                "reason": if *spec_removed {
                    "the deployment's spec was removed: no longer checked"
                } else {
                    "as planned again"
                },
            }),
        ),
    };
    let mut ev = SecurityEvent::new(event_type, Some(actor), details).with_origin(&origin());
    ev.severity = severity;
    audit.record(&ev).map_err(|e| e.to_string())
}

fn load(store: &Store) -> Tracker {
    store
        .get(NS, KEY)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(store: &Store, tracker: &Tracker) {
    let bytes = serde_json::to_vec(tracker).unwrap_or_default();
    if let Err(e) = store.put(NS, KEY, &bytes) {
        log(
            "error",
            "cannot keep what isolation drift was recorded",
            json!({ "error": e.to_string() }),
        );
    }
}
