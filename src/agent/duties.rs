//! The leader's duties: alert dispatch, Elasticsearch shipping, rotation
//! recovery and clean-ups, scheduled rotations. Started when an agent leads,
//! stopped at once when it no longer does, or gracefully on a signal.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::log;
use crate::audit::alert::AlertState;
use crate::audit::settings::AuditSettings;
use crate::cli::audit::spool_dir;
use crate::store::Store;

/// How often the dispatcher looks for new events to alert on.
const ALERT_POLL: Duration = Duration::from_millis(50);
/// How often interrupted rotations and due clean-ups are looked for.
const ROTATION_POLL: Duration = Duration::from_secs(30);
/// The longest a scheduled-rotation pass waits for the next one: rules and
/// secrets added meanwhile are seen within this.
const SCHEDULE_POLL: Duration = Duration::from_secs(60);
/// The shortest wait between scheduled-rotation passes.
const SCHEDULE_MIN: Duration = Duration::from_millis(100);
/// The longest a stop waits for the duties to finish.
pub(super) const STOP_WAIT: Duration = Duration::from_secs(4);

/// What the leader's duties need.
pub(super) struct Duties {
    pub(super) data_dir: PathBuf,
    pub(super) settings: AuditSettings,
    pub(super) store: Arc<Store>,
    pub(super) secrets: Option<crate::secrets::Secrets>,
    /// Whether this agent delivers alerts now.
    pub(super) dispatching: Arc<AtomicBool>,
}

/// The leader's duties while they run.
pub(super) struct Running {
    tasks: tokio::task::JoinSet<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Duties {
    pub(super) fn start(&self) -> Running {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        self.alerts(&mut tasks, &stop);
        self.shipping(&mut tasks, &stop);
        if let Some(s) = &self.secrets {
            tasks.spawn(rotations(s.clone(), stop.clone()));
            if !crate::secrets::schedule::rules(s).is_empty() {
                tasks.spawn(scheduled(s.clone(), stop.clone()));
            }
        }
        Running {
            tasks,
            stop: stop_tx,
        }
    }

    /// Alerts: whenever no console delivers them.
    fn alerts(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) {
        if self.settings.channels.is_empty() {
            log(
                "info",
                "no alert channel is configured: no alerts to deliver",
                json!({}),
            );
            return;
        }
        let d = self.dispatching.clone();
        tasks.spawn(crate::audit::owed::serve(
            self.store.clone(),
            self.data_dir.clone(),
            self.settings.clone(),
            Arc::new(Mutex::new(AlertState::default())),
            ALERT_POLL,
            stop.clone(),
            move |who| {
                d.store(matches!(who, Ok(true)), Ordering::Relaxed);
                match who {
                    Ok(true) => log("info", "delivering alerts", json!({})),
                    Ok(false) => log(
                        "info",
                        "a console delivers alerts; taking over when it stops",
                        json!({}),
                    ),
                    Err(e) => log("error", "alerts are not delivered", json!({ "error": e })),
                }
            },
        ));
    }

    /// Elasticsearch: drain the spool that commands and consoles fill.
    fn shipping(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) {
        let Some(es) = &self.settings.elasticsearch else {
            return;
        };
        let opened = crate::audit::elastic::EsClient::new(es)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                crate::audit::spool::Spool::open(&spool_dir(&self.data_dir))
                    .map(|s| (c, s))
                    .map_err(|e| e.to_string())
            });
        match opened {
            Ok((client, spool)) => {
                let (sink, shipper) = crate::audit::elastic::EsSink::new(client, spool, None);
                let mut stop = stop.clone();
                tasks.spawn(async move {
                    let _sink = sink;
                    tokio::select! {
                        _ = shipper => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                });
            }
            Err(e) => log(
                "error",
                "events are not shipped to Elasticsearch",
                json!({ "error": e }),
            ),
        }
    }
}

impl Running {
    /// At once: a leader that lost its lease must not act on it a moment
    /// longer. Work cut short stays owed (alerts, the spool) or journaled
    /// (rotations) for the next leader.
    pub(super) async fn abort(mut self, dispatching: &AtomicBool) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        dispatching.store(false, Ordering::Relaxed);
    }

    /// On a signal: in-flight work finishes, or is cut after `wait`.
    pub(super) async fn stop(mut self, wait: Duration) -> bool {
        let _ = self.stop.send(true);
        let finished = tokio::time::timeout(wait, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !finished {
            self.tasks.abort_all();
        }
        finished
    }
}

/// Rotations: finish interrupted ones, clean up old versions when due.
async fn rotations(s: crate::secrets::Secrets, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match crate::secrets::rotation::recover(&s).await {
            Ok(done) => {
                for r in done.recovered {
                    log(
                        "info",
                        "finished an interrupted rotation",
                        json!({ "path": r.path, "action": r.action, "detail": r.detail }),
                    );
                }
                for u in done.unrecoverable {
                    log(
                        "error",
                        "an interrupted rotation cannot be finished; skipped",
                        json!({ "journal": u.id, "path": u.path, "error": u.error,
                                "fix": format!("windflow secrets recover --discard {}", u.id) }),
                    );
                }
            }
            Err(e) => log(
                "error",
                "rotation recovery",
                json!({ "error": e.to_string() }),
            ),
        }
        match crate::secrets::rotation::sweep(&s).await {
            Ok(done) if !done.deleted.is_empty() || !done.dropped.is_empty() => log(
                "info",
                "old secret versions cleaned up",
                json!({ "deleted": done.deleted, "dropped": done.dropped }),
            ),
            Ok(_) => {}
            Err(e) => log(
                "error",
                "rotation clean-up",
                json!({ "error": e.to_string() }),
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(ROTATION_POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Scheduled rotations: every secret whose rule has `every` and whose value
/// is that old is rotated, then the next one is waited for.
async fn scheduled(s: crate::secrets::Secrets, mut stop: tokio::sync::watch::Receiver<bool>) {
    use crate::secrets::rotation::Outcome;
    let mut retry = crate::secrets::schedule::Retry::default();
    loop {
        let wait = match crate::secrets::schedule::run_due(&s, &mut retry).await {
            Ok(pass) => {
                for out in &pass.rotated {
                    match out {
                        Outcome::Rotated {
                            path,
                            old_version,
                            new_version,
                            ..
                        } => log(
                            "info",
                            "rotated on schedule",
                            json!({ "path": path, "old_version": old_version, "new_version": new_version }),
                        ),
                        Outcome::RolledBack { path, reason, .. } => log(
                            "error",
                            "a scheduled rotation was rolled back",
                            json!({ "path": path, "reason": reason }),
                        ),
                    }
                }
                for (path, error) in &pass.failed {
                    log(
                        "error",
                        "a scheduled rotation failed; tried again later",
                        json!({ "path": path, "error": error }),
                    );
                }
                pass.next_in.clamp(SCHEDULE_MIN, SCHEDULE_POLL)
            }
            Err(e) => {
                log(
                    "error",
                    "scheduled rotations: cannot list the secrets",
                    json!({ "error": e.to_string() }),
                );
                ROTATION_POLL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
