//! The isolation service of a console: every few seconds it reads the
//! deployment specs and the live state (the cluster folder, or the cluster
//! of `kubeconfig`/`context` under `[isolation]`), and sends the pane each
//! deployment's status, plan and the live objects; its health says what it
//! could not read. On request it plans (writes the manifests into the
//! cluster folder), diffs a plan against the live objects, and applies one
//! (audited with the diff's summary); how each ended is an outcome.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::cluster::{self, Cluster, ClusterTarget, DiffSummary, Planned};
use super::plan::{self, Action, Plan};
use super::state::ClusterState;
use super::{drift, state, status};
use crate::audit::Audit;
use crate::service::{Backend, Health, HealthState, Level, ServiceEvent, outcome};

pub const NAME: &str = "isolation";

/// How often the specs and the live state are read again.
pub const POLL: Duration = Duration::from_secs(5);

/// What the service read: every deployment's status and plan (sorted by
/// id) and the live objects they were read against.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub statuses: Vec<status::Status>,
    pub plans: Vec<Plan>,
    pub live: ClusterState,
    /// What could not be read (bad specs, unreadable manifests): never
    /// silently left out.
    pub problems: Vec<String>,
    /// Where the live state was read: the folder or the API server.
    pub source: String,
}

/// A plan against the live objects, for the pane to show.
#[derive(Clone, Debug)]
pub struct DiffView {
    pub deployment: String,
    /// Where it was compared: the folder or the API server.
    pub against: String,
    /// One line per object, with its changes below it.
    pub lines: Vec<String>,
    /// `2 created, 1 changed, 3 unchanged, 0 extra`.
    pub summary: String,
}

/// What the service sends the Isolation pane.
#[derive(Clone, Debug)]
pub enum IsolationEvent {
    /// What was read, every [`POLL`] and after each request.
    Statuses(Arc<Snapshot>),
    Diff(Arc<DiffView>),
}

pub type Events = crate::service::Sink<IsolationEvent>;

#[derive(Debug)]
pub enum IsolationRequest {
    /// Read the specs and the live state now.
    Refresh,
    /// Write the deployment's manifests into the cluster folder.
    Plan { deployment: String },
    /// Compare the deployment's plan with the live objects.
    Diff { deployment: String },
    /// Apply the deployment's plan, on behalf of operator `by`.
    Apply { deployment: String, by: String },
}

impl crate::service::DomainRequestKind for IsolationRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            IsolationRequest::Apply { .. } => Some("isolation.apply"),
            // Reading, and writing the plan into the local folder (as `isolate plan` does).
            IsolationRequest::Refresh
            | IsolationRequest::Plan { .. }
            | IsolationRequest::Diff { .. } => None,
        }
    }
}

#[derive(Clone)]
pub struct IsolationHandle {
    tx: mpsc::Sender<IsolationRequest>,
}

impl crate::service::Handle for IsolationHandle {
    fn domain(&self) -> &'static str {
        NAME
    }
    /// An apply is recorded as done by the acting operator.
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        let Ok((actor, mut r)) = req.take::<IsolationRequest>() else {
            return false;
        };
        if let IsolationRequest::Apply { by, .. } = &mut r {
            *by = actor.unwrap_or_default();
        }
        self.tx.try_send(r).is_ok()
    }
    fn probe(&self) {
        let _ = self.tx.try_send(IsolationRequest::Refresh);
    }
}

/// Where the service reads and writes: the specs folder, the cluster
/// folder (where plans are written), and the real cluster when one is set.
#[derive(Clone, Debug)]
pub struct Sources {
    pub deployments: PathBuf,
    pub cluster: PathBuf,
    pub target: Option<ClusterTarget>,
}

impl Sources {
    fn against(&self, server: Option<&str>) -> String {
        match server {
            Some(s) => s.to_owned(),
            None => self.cluster.display().to_string(),
        }
    }
}

/// Reads the specs and the live state once.
pub async fn read(sources: &Sources) -> Snapshot {
    let mut problems = Vec::new();
    let dir = sources.deployments.clone();
    let catalog =
        match tokio::task::spawn_blocking(move || crate::deployments::load_dir(&dir)).await {
            Ok(Ok(c)) => c,
            Ok(Err(errors)) => {
                problems.extend(errors.iter().map(ToString::to_string));
                crate::deployments::Catalog::default()
            }
            Err(e) => {
                problems.push(e.to_string());
                crate::deployments::Catalog::default()
            }
        };
    let plans: Vec<Plan> = catalog
        .deployments
        .iter()
        .map(|d| plan::plan(&d.spec))
        .collect();
    let (live, foreign, source) = match &sources.target {
        None => {
            let dir = sources.cluster.clone();
            let folder = tokio::task::spawn_blocking(move || state::from_dir(&dir))
                .await
                .unwrap_or_default();
            problems.extend(folder.problems());
            (folder.state, Vec::new(), sources.against(None))
        }
        Some(target) => match live_cluster(target).await {
            Ok((server, live)) => {
                let foreign = cluster::foreign_edits(&live);
                (live, foreign, server)
            }
            Err(e) => {
                problems.push(e.to_string());
                (ClusterState::default(), Vec::new(), "the cluster".into())
            }
        },
    };
    let statuses = plans
        .iter()
        .map(|p| {
            let mut s = status::status(p, &live);
            s.drift.extend(drift::foreign_lines(&s.namespace, &foreign));
            s
        })
        .collect();
    Snapshot {
        statuses,
        plans,
        live,
        problems,
        source,
    }
}

async fn live_cluster(target: &ClusterTarget) -> Result<(String, ClusterState), String> {
    let c = Cluster::connect(target).await.map_err(|e| e.to_string())?;
    let live = cluster::live_state(&c, &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok((c.server().to_owned(), live))
}

/// The isolation domain's part of a console: its service and its pane.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let bad = |e: crate::tomlpos::FileError| {
        crate::cli::CliError::Usage(format!("invalid config file {e}"))
    };
    let sources = Sources {
        deployments: super::settings::deployments_dir(ctx.config, None),
        cluster: super::settings::cluster_dir(ctx.config, None).map_err(bad)?,
        target: super::settings::cluster_target(ctx.config).map_err(bad)?,
    };
    let (tx, rx) = ctx.wake.channel();
    let handle = spawn(
        sources,
        ctx.audit.clone(),
        Events::new(ctx.events.clone(), tx),
    );
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::IsolationPane::new(rx))),
        handle: Some(Arc::new(handle)),
    })
}

pub fn spawn(sources: Sources, audit: Audit, events: Events) -> IsolationHandle {
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<Health> = None;
        loop {
            let req = tokio::select! {
                _ = tick.tick() => None,
                req = rx.recv() => match req {
                    Some(r) => Some(r),
                    None => return,
                },
            };
            match req {
                None | Some(IsolationRequest::Refresh) => {}
                Some(IsolationRequest::Plan { deployment }) => {
                    let (level, msg) = plan_one(&sources, &deployment).await;
                    outcome(&events, NAME, level, msg).await;
                }
                Some(IsolationRequest::Diff { deployment }) => {
                    match diff(&sources, &deployment).await {
                        Ok(view) => {
                            let msg = format!(
                                "diff of {} against {}: {}",
                                view.deployment, view.against, view.summary
                            );
                            events.emit(IsolationEvent::Diff(Arc::new(view))).await;
                            outcome(&events, NAME, Level::Info, msg).await;
                        }
                        Err(e) => outcome(&events, NAME, Level::Error, e).await,
                    }
                }
                Some(IsolationRequest::Apply { deployment, by }) => {
                    let (level, msg) = apply(&sources, &audit, &deployment, &by).await;
                    outcome(&events, NAME, level, msg).await;
                }
            }
            let snapshot = read(&sources).await;
            let health = Health {
                state: if snapshot.problems.is_empty() {
                    HealthState::Connected
                } else {
                    HealthState::Degraded
                },
                backend: match &sources.target {
                    None => Backend::Embedded,
                    Some(_) => Backend::Real(snapshot.source.clone()),
                },
                target: snapshot.source.clone(),
                rtt: None,
                last_error: snapshot.problems.first().cloned(),
            };
            if last.as_ref() != Some(&health) {
                last = Some(health.clone());
                let _ = events
                    .send(ServiceEvent::Health {
                        service: NAME,
                        health,
                    })
                    .await;
            }
            events
                .emit(IsolationEvent::Statuses(Arc::new(snapshot)))
                .await;
        }
    });
    IsolationHandle { tx }
}

/// The deployment's plan, from its spec as it is now.
async fn planned(sources: &Sources, id: &str) -> Result<Plan, String> {
    let dir = sources.deployments.clone();
    let catalog = tokio::task::spawn_blocking(move || crate::deployments::load_dir(&dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|errors| {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("the deployment specs cannot be read: {}", shown.join("; "))
        })?;
    let spec = catalog.find(id)?;
    Ok(plan::plan(&spec.spec))
}

fn objects(plan: &Plan) -> Result<Vec<Planned>, String> {
    plan.objects()
        .into_iter()
        .map(|o| Planned::from_value(o.value()).map_err(|e| e.to_string()))
        .collect()
}

/// `isolate plan ID` for one deployment.
async fn plan_one(sources: &Sources, id: &str) -> (Level, String) {
    let p = match planned(sources, id).await {
        Ok(p) => p,
        Err(e) => return (Level::Error, format!("plan of {id} not written: {e}")),
    };
    let dir = sources.cluster.clone();
    let n = p.objects().len();
    match tokio::task::spawn_blocking(move || plan::write(&dir, &p)).await {
        Ok(Ok(file)) => (
            Level::Info,
            format!("planned {id}: {n} objects written to {}", file.display()),
        ),
        Ok(Err(e)) => (
            Level::Error,
            format!(
                "plan of {id} not written into {}: {e}",
                sources.cluster.display()
            ),
        ),
        Err(e) => (Level::Error, format!("plan of {id} not written: {e}")),
    }
}

/// A folder diff's lines and summary.
fn folder_lines(d: &plan::Diff) -> (Vec<String>, DiffSummary) {
    let mut lines = Vec::new();
    let mut summary = DiffSummary::default();
    for c in &d.changes {
        let object = if c.kind == "Namespace" {
            format!("Namespace {}", c.name)
        } else {
            format!("{} {}/{}", c.kind, c.namespace, c.name)
        };
        let (sign, word, list) = match c.action {
            Action::Create => ("+", "created", &mut summary.created),
            Action::Update => ("~", "changed", &mut summary.changed),
            Action::Unchanged => ("=", "unchanged", &mut summary.unchanged),
            Action::Extra => (
                "!",
                "extra; not in the plan, apply leaves it",
                &mut summary.extra,
            ),
        };
        list.push(object.clone());
        lines.push(format!("{sign} {object}  ({word})"));
        lines.extend(c.fields.iter().map(|f| format!("    {f}")));
    }
    (lines, summary)
}

async fn diff(sources: &Sources, id: &str) -> Result<DiffView, String> {
    let p = planned(sources, id)
        .await
        .map_err(|e| format!("diff of {id}: {e}"))?;
    let (against, lines, summary) = match &sources.target {
        None => {
            let dir = sources.cluster.clone();
            let folder = tokio::task::spawn_blocking(move || state::from_dir(&dir))
                .await
                .map_err(|e| e.to_string())?;
            if !folder.complete() {
                return Err(format!(
                    "diff of {id}: {} could not be read whole: {}",
                    sources.cluster.display(),
                    folder.problems().join("; ")
                ));
            }
            let (lines, summary) = folder_lines(&plan::diff(&p, &folder.state));
            (sources.against(None), lines, summary)
        }
        Some(target) => {
            let c = Cluster::connect(target)
                .await
                .map_err(|e| format!("diff of {id}: {e}"))?;
            let diffs = cluster::diff(&c, &objects(&p)?)
                .await
                .map_err(|e| format!("diff of {id}: {e}"))?;
            let lines = diffs.iter().flat_map(cluster::object_lines).collect();
            (c.server().to_owned(), lines, DiffSummary::of(&diffs))
        }
    };
    Ok(DiffView {
        deployment: id.to_owned(),
        against,
        lines,
        summary: summary.counts(),
    })
}

/// Applies the deployment's plan (the folder: writes it there; a cluster:
/// server-side apply), then records it in the audit log with the diff's
/// summary. The outcome says what happened, the audit's failure included.
async fn apply(sources: &Sources, audit: &Audit, id: &str, by: &str) -> (Level, String) {
    let p = match planned(sources, id).await {
        Ok(p) => p,
        Err(e) => return (Level::Error, format!("apply of {id}: nothing applied: {e}")),
    };
    let done = match &sources.target {
        None => apply_folder(sources, &p).await,
        Some(target) => apply_cluster(target, &p).await,
    };
    let record = |event: &str, details: Value| {
        audit
            .emit(event, Some(by), details)
            .map(|_| ())
            .map_err(|e| format!("the audit log cannot record {event}: {e}"))
    };
    match done {
        Ok((against, summary)) => {
            let mut details = summary.json();
            details["deployment"] = json!(id);
            details["server"] = json!(against);
            let counts = summary.counts();
            match record("isolation_applied", details) {
                Ok(()) => (Level::Info, format!("applied {id} to {against}: {counts}")),
                Err(e) => (
                    Level::Error,
                    format!("applied {id} to {against} ({counts}), but {e}"),
                ),
            }
        }
        Err((against, error)) => {
            let noted = record(
                "isolation_apply_failed",
                json!({ "deployment": id, "server": against, "error": error }),
            );
            let mut msg = format!("apply of {id} to {against} failed: {error}");
            if let Err(e) = noted {
                msg.push_str(&format!("; and {e}"));
            }
            (Level::Error, msg)
        }
    }
}

type Applied = Result<(String, DiffSummary), (String, String)>;

async fn apply_folder(sources: &Sources, p: &Plan) -> Applied {
    let against = sources.against(None);
    let dir = sources.cluster.clone();
    let p = p.clone();
    tokio::task::spawn_blocking(move || {
        let folder = state::from_dir(&dir);
        let (_, summary) = folder_lines(&plan::diff(&p, &folder.state));
        plan::write(&dir, &p)
            .map(|_| summary)
            .map_err(|e| format!("{e} (nothing applied)"))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map(|summary| (against.clone(), summary))
    .map_err(|e| (against, e))
}

async fn apply_cluster(target: &ClusterTarget, p: &Plan) -> Applied {
    let c = Cluster::connect(target)
        .await
        .map_err(|e| ("the cluster".to_owned(), format!("{e} (nothing applied)")))?;
    let server = c.server().to_owned();
    let objects = objects(p).map_err(|e| (server.clone(), e))?;
    match cluster::apply(&c, &objects).await {
        Ok(report) => Ok((server, DiffSummary::of(&report.diff))),
        Err(failed) => Err((server, failed.to_string())),
    }
}
