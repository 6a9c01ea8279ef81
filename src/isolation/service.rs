//! The isolation service of a console: every few seconds it reads the
//! deployment specs and the cluster folder, and sends the pane each
//! deployment's isolation status; its health says what it could not read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{plan, state, status};
use crate::service::{Backend, Health, HealthState, ServiceEvent};

pub const NAME: &str = "isolation";

/// How often the specs and the folder are read again.
pub const POLL: Duration = Duration::from_secs(5);

/// What the service sends the Isolation pane.
#[derive(Clone, Debug)]
pub enum IsolationEvent {
    /// Every deployment's status, sorted by id, and what could not be read
    /// (bad specs, unreadable manifests): never silently left out.
    Statuses {
        statuses: Arc<Vec<status::Status>>,
        problems: Vec<String>,
    },
}

pub type Events = crate::service::Sink<IsolationEvent>;

#[derive(Debug)]
pub enum IsolationRequest {
    /// Read the specs and the folder now.
    Refresh,
}

impl crate::service::DomainRequestKind for IsolationRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        None
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
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        req.take::<IsolationRequest>()
            .is_ok_and(|(_, r)| self.tx.try_send(r).is_ok())
    }
    fn probe(&self) {
        let _ = self.tx.try_send(IsolationRequest::Refresh);
    }
}

/// Where the service reads: the specs folder and the cluster folder.
#[derive(Clone, Debug)]
pub struct Sources {
    pub deployments: PathBuf,
    pub cluster: PathBuf,
}

/// Reads the specs and the folder once: the statuses and the problems.
pub fn read(sources: &Sources) -> (Vec<status::Status>, Vec<String>) {
    let mut problems = Vec::new();
    let catalog = match crate::deployments::load_dir(&sources.deployments) {
        Ok(c) => c,
        Err(errors) => {
            problems.extend(errors.iter().map(|e| e.to_string()));
            crate::deployments::Catalog::default()
        }
    };
    let folder = state::from_dir(&sources.cluster);
    problems.extend(folder.problems());
    let statuses = catalog
        .deployments
        .iter()
        .map(|d| status::status(&plan::plan(&d.spec), &folder.state))
        .collect();
    (statuses, problems)
}

/// The isolation domain's part of a console: its service and its pane.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let sources = Sources {
        deployments: super::settings::deployments_dir(ctx.config, None),
        cluster: super::settings::cluster_dir(ctx.config, None)
            .map_err(|e| crate::cli::CliError::Usage(format!("invalid config file {e}")))?,
    };
    let (tx, rx) = ctx.wake.channel();
    let handle = spawn(sources, Events::new(ctx.events.clone(), tx));
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::IsolationPane::new(rx))),
        handle: Some(Arc::new(handle)),
    })
}

pub fn spawn(sources: Sources, events: Events) -> IsolationHandle {
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<Health> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                req = rx.recv() => if req.is_none() { return },
            }
            let s = sources.clone();
            let Ok((statuses, problems)) = tokio::task::spawn_blocking(move || read(&s)).await
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
                target: sources.cluster.display().to_string(),
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
                .emit(IsolationEvent::Statuses {
                    statuses: Arc::new(statuses),
                    problems,
                })
                .await;
        }
    });
    IsolationHandle { tx }
}
