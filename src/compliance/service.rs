//! The compliance service of a console: every half minute (and on request)
//! it gathers the facts, checks every deployment against the frameworks and
//! sends the pane the results; its health says what it could not read.

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
}

impl crate::service::DomainRequestKind for ComplianceRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            ComplianceRequest::Refresh => None,
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
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        req.take::<ComplianceRequest>()
            .is_ok_and(|(_, r)| self.tx.try_send(r).is_ok())
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
                req = rx.recv() => if req.is_none() { return },
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
