//! The leader's duties: each domain's (`domains::Domain::agent`), started
//! when an agent leads, stopped at once when it no longer does, or
//! gracefully on a signal.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::audit::settings::AuditSettings;
use crate::store::Store;

/// The longest a stop waits for the duties to finish.
pub(super) const STOP_WAIT: Duration = Duration::from_secs(4);

/// What the leader's duties need.
pub(super) struct Duties {
    pub(super) config: crate::config::Config,
    pub(super) data_dir: PathBuf,
    pub(super) settings: AuditSettings,
    pub(super) store: Arc<Store>,
    pub(super) secrets: Option<crate::secrets::Secrets>,
    /// The master key, when it could be loaded.
    pub(super) keyring: Option<Arc<crate::crypto::Keyring>>,
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
        let ctx = crate::domains::AgentCtx {
            config: &self.config,
            data_dir: &self.data_dir,
            audit_settings: &self.settings,
            store: &self.store,
            secrets: self.secrets.as_ref(),
            keyring: self.keyring.as_ref(),
            dispatching: &self.dispatching,
            stop: &stop,
        };
        // Each domain starts its own duties.
        for domain in crate::domains::DOMAINS {
            if let Some(start) = domain.agent {
                start(&ctx, &mut tasks);
            }
        }
        Running {
            tasks,
            stop: stop_tx,
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
