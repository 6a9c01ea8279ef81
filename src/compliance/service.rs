//! The compliance service of a console: every half minute (and on request)
//! it gathers the facts, checks every deployment against the frameworks and
//! sends the pane the results; its health says what it could not read. It
//! also keeps evidence and waivers given from the pane (as the CLI does),
//! then checks again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{DeploymentResult, Framework};
use crate::service::{Backend, Health, HealthState, ServiceEvent};

pub const NAME: &str = "compliance";

/// How often the facts are gathered again.
pub const POLL: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub enum ComplianceEvent {
    /// Every deployment's results, sorted by id, the frameworks' names in
    /// column order, and what could not be read.
    Results {
        results: Arc<Vec<DeploymentResult>>,
        frameworks: Vec<String>,
        problems: Vec<String>,
    },
}

pub type Events = crate::service::Sink<ComplianceEvent>;

#[derive(Debug)]
pub enum ComplianceRequest {
    /// Gather the facts and check now.
    Refresh,
    /// Evidence for a manual control, by the acting operator.
    AddEvidence {
        deployment: String,
        control: String,
        link: String,
        note: String,
        /// Seconds until it expires.
        lasts: i64,
        by: Option<String>,
    },
    /// A control accepted as it is, with why, by the acting operator.
    Waive {
        deployment: String,
        control: String,
        reason: String,
        lasts: i64,
        by: Option<String>,
    },
}

impl crate::service::DomainRequestKind for ComplianceRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            ComplianceRequest::Refresh => None,
            ComplianceRequest::AddEvidence { .. } => Some("compliance.evidence"),
            ComplianceRequest::Waive { .. } => Some("compliance.waive"),
        }
    }
}

#[derive(Clone)]
pub struct ComplianceHandle {
    tx: mpsc::Sender<ComplianceRequest>,
}

impl crate::service::Handle for ComplianceHandle {
    fn domain(&self) -> &'static str {
        NAME
    }
    /// Evidence and waivers are recorded as given by the acting operator.
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        let Ok((actor, mut r)) = req.take::<ComplianceRequest>() else {
            return false;
        };
        if let ComplianceRequest::AddEvidence { by, .. } | ComplianceRequest::Waive { by, .. } =
            &mut r
        {
            *by = actor;
        }
        self.tx.try_send(r).is_ok()
    }
    fn probe(&self) {
        let _ = self.tx.try_send(ComplianceRequest::Refresh);
    }
}

/// What the service reads from.
struct Inputs {
    config: crate::config::Config,
    store: Arc<crate::store::Store>,
    keyring: Arc<crate::crypto::Keyring>,
    audit: crate::audit::settings::AuditSettings,
    redis_url: Option<String>,
    deployments: PathBuf,
    cluster: PathBuf,
    frameworks: Vec<Framework>,
    /// Where evidence and waivers given here are recorded.
    log: crate::audit::Audit,
}

impl Inputs {
    async fn run(&self) -> (Vec<DeploymentResult>, Vec<String>) {
        let mut problems = Vec::new();
        let catalog = match crate::deployments::load_dir(&self.deployments) {
            Ok(c) => c,
            Err(errors) => {
                problems.extend(errors.iter().map(ToString::to_string));
                crate::deployments::Catalog::default()
            }
        };
        let secrets = crate::secrets::settings::SecretsSettings::from_config(
            &self.config,
            &crate::secrets::settings::Flags::default(),
            &|k| std::env::var(k).ok(),
        )
        .and_then(|s| s.open_store(self.store.clone()).map_err(|e| e.to_string()));
        let secrets = match secrets {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("secrets: {e}"));
                Arc::new(crate::secrets::LocalStore::new(self.store.clone()))
            }
        };
        let sources = super::facts::Sources {
            config: &self.config,
            store: self.store.clone(),
            keyring: self.keyring.clone(),
            secrets,
            audit: &self.audit,
            redis_url: self.redis_url.as_deref(),
            catalog: &catalog,
            cluster_dir: self.cluster.clone(),
        };
        let (results, more) =
            super::evaluate(&sources, &self.frameworks, chrono::Utc::now().timestamp()).await;
        problems.extend(more);
        (results, problems)
    }

    /// Keeps evidence or a waiver: the line the status bar shows, or why not.
    fn keep(&self, req: ComplianceRequest) -> Result<String, String> {
        use super::records::{self, Evidence, Waiver};
        let now = chrono::Utc::now().timestamp();
        let known = |deployment: &str, control: &str| -> Result<(), String> {
            let catalog = crate::deployments::load_dir(&self.deployments)
                .map_err(|e| format!("the deployments cannot be read: {}", e[0]))?;
            catalog.find(deployment)?;
            if !self
                .frameworks
                .iter()
                .any(|f| f.controls.iter().any(|c| c.id == control))
            {
                return Err(format!("no control `{control}` in the frameworks"));
            }
            Ok(())
        };
        let no_operator = || "no operator is signed in".to_string();
        match req {
            ComplianceRequest::Refresh => Ok(String::new()),
            ComplianceRequest::AddEvidence {
                deployment,
                control,
                link,
                note,
                lasts,
                by,
            } => {
                known(&deployment, &control)?;
                let e = Evidence {
                    deployment,
                    control,
                    link: records::check_link(&link)?,
                    note: records::check_text("the note", &note)?,
                    by: by.ok_or_else(no_operator)?,
                    added_at: now,
                    expires_at: now + lasts,
                };
                records::add_evidence(&self.store, &self.log, &e)?;
                Ok(format!(
                    "evidence for {} of {} recorded; it expires {}",
                    e.control,
                    e.deployment,
                    super::eval::rfc3339(e.expires_at)
                ))
            }
            ComplianceRequest::Waive {
                deployment,
                control,
                reason,
                lasts,
                by,
            } => {
                known(&deployment, &control)?;
                let w = Waiver {
                    deployment,
                    control,
                    reason: records::check_text("the reason", &reason)?,
                    by: by.ok_or_else(no_operator)?,
                    granted_at: now,
                    expires_at: now + lasts,
                };
                records::add_waiver(&self.store, &self.log, &w)?;
                Ok(format!(
                    "{} of {} waived until {}",
                    w.control,
                    w.deployment,
                    super::eval::rfc3339(w.expires_at)
                ))
            }
        }
    }
}

/// The compliance domain's part of a console: its service and its pane.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let usage = crate::cli::CliError::Usage;
    let frameworks = super::framework::load(&super::framework::user_dir(
        &ctx.config.paths.config_dir,
    ))
    .map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        usage(lines.join("\n"))
    })?;
    let inputs = Inputs {
        config: ctx.config.clone(),
        store: ctx.store.clone(),
        keyring: ctx.keyring.clone(),
        audit: ctx.audit_settings.clone(),
        redis_url: ctx.redis_url.map(str::to_string),
        deployments: crate::isolation::settings::deployments_dir(ctx.config, None),
        cluster: crate::isolation::settings::cluster_dir(ctx.config, None)
            .map_err(|e| usage(format!("invalid config file {e}")))?,
        frameworks,
        log: ctx.audit.clone(),
    };
    let (tx, rx) = ctx.wake.channel();
    let handle = spawn(inputs, Events::new(ctx.events.clone(), tx));
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::CompliancePane::new(rx))),
        handle: Some(Arc::new(handle)),
    })
}

fn spawn(inputs: Inputs, events: Events) -> ComplianceHandle {
    let inputs = Arc::new(inputs);
    let (tx, mut rx) = mpsc::channel(16);
    let names: Vec<String> = inputs.frameworks.iter().map(|f| f.name.clone()).collect();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<Health> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                req = rx.recv() => match req {
                    None => return,
                    Some(ComplianceRequest::Refresh) => {}
                    Some(req) => {
                        let i = inputs.clone();
                        let kept = tokio::task::spawn_blocking(move || i.keep(req))
                            .await
                            .unwrap_or_else(|e| Err(format!("stopped: {e}")));
                        let (level, line) = match kept {
                            Ok(line) => (crate::service::Level::Info, line),
                            Err(e) => (crate::service::Level::Error, format!("nothing was recorded: {e}")),
                        };
                        crate::service::outcome(&events, NAME, level, line).await;
                    }
                },
            }
            // Gathering reads files and the store: off the runtime's workers.
            let (i, rt) = (inputs.clone(), tokio::runtime::Handle::current());
            let Ok((results, problems)) =
                tokio::task::spawn_blocking(move || rt.block_on(i.run())).await
            else {
                continue;
            };
            let health = Health {
                state: if problems.is_empty() {
                    HealthState::Connected
                } else {
                    HealthState::Degraded
                },
                backend: Backend::Embedded,
                target: inputs.deployments.display().to_string(),
                rtt: None,
                last_error: problems.first().cloned(),
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
                .emit(ComplianceEvent::Results {
                    results: Arc::new(results),
                    frameworks: names.clone(),
                    problems,
                })
                .await;
        }
    });
    ComplianceHandle { tx }
}
