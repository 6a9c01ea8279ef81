//! The task that owns the embedded store for the console: probes its health,
//! runs requests off the UI thread, reports what it did.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Store;
use crate::service::{
    Backend, EventTx, Health, HealthState, Level, ServiceEvent, activity, outcome,
};

pub const NAME: &str = "store";

/// How often the store is probed when nothing else happens.
pub const PROBE_EVERY: Duration = Duration::from_secs(4);

#[derive(Debug)]
pub enum StoreRequest {
    Probe,
    Compact,
    Put {
        ns: String,
        key: String,
        value: Vec<u8>,
    },
}

#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<StoreRequest>,
}

/// The store's part of a console: its service (no pane; the Overview shows
/// it), and in the demo the workload generator writing into it.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let handle = spawn(ctx.store.clone(), ctx.events.clone());
    if ctx.demo {
        crate::demo::spawn(handle.clone(), ctx.events.clone());
    }
    Ok(crate::domains::Plug {
        pane: None,
        handle: Some(std::sync::Arc::new(handle)),
    })
}

impl crate::service::DomainRequestKind for StoreRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            StoreRequest::Compact => Some("store.compact"),
            // Never routed: `send` refuses raw writes from panes.
            StoreRequest::Probe | StoreRequest::Put { .. } => None,
        }
    }
}

impl crate::service::Handle for StoreHandle {
    fn domain(&self) -> &'static str {
        NAME
    }
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        // Raw writes come from the demo's generator through its own
        // handle, never from a pane.
        req.take::<StoreRequest>()
            .is_ok_and(|(_, r)| !matches!(r, StoreRequest::Put { .. }) && self.try_send(r))
    }
    fn probe(&self) {
        self.try_send(StoreRequest::Probe);
    }
}

impl StoreHandle {
    /// Queues a request; returns false when the service is gone or saturated.
    pub fn try_send(&self, req: StoreRequest) -> bool {
        self.tx.try_send(req).is_ok()
    }

    pub async fn send(&self, req: StoreRequest) -> bool {
        self.tx.send(req).await.is_ok()
    }
}

pub fn spawn(store: Arc<Store>, events: EventTx) -> StoreHandle {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(run(store, events, rx));
    StoreHandle { tx }
}

async fn run(store: Arc<Store>, events: EventTx, mut rx: mpsc::Receiver<StoreRequest>) {
    let target = store.path().display().to_string();
    let mut last: Option<Health> = None;
    let mut probe = tokio::time::interval(PROBE_EVERY);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let req = tokio::select! {
            _ = probe.tick() => StoreRequest::Probe,
            req = rx.recv() => match req {
                Some(r) => r,
                None => break,
            },
        };
        let s = store.clone();
        match req {
            StoreRequest::Probe => {
                let result = blocking(move || s.ping()).await;
                let health = Health {
                    state: if result.is_ok() {
                        HealthState::Connected
                    } else {
                        HealthState::Degraded
                    },
                    backend: Backend::Embedded,
                    target: target.clone(),
                    rtt: result.as_ref().ok().copied(),
                    last_error: result
                        .err()
                        .or_else(|| last.as_ref().and_then(|h| h.last_error.clone())),
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
            }
            StoreRequest::Compact => match blocking(move || s.compact()).await {
                Ok((before, after)) => {
                    let msg = format!(
                        "compacted the embedded store: {} KiB -> {} KiB",
                        before / 1024,
                        after / 1024
                    );
                    outcome(&events, NAME, Level::Info, msg).await;
                }
                Err(e) => {
                    outcome(
                        &events,
                        NAME,
                        Level::Error,
                        format!("compaction failed: {e}"),
                    )
                    .await
                }
            },
            StoreRequest::Put { ns, key, value } => {
                match blocking(move || s.put(&ns, &key, &value)).await {
                    Ok(()) => {
                        let _ = events.try_send(ServiceEvent::Processed {
                            service: NAME,
                            count: 1,
                        });
                    }
                    Err(e) => {
                        activity(&events, NAME, Level::Error, format!("write failed: {e}")).await
                    }
                }
            }
        }
    }
}

/// Runs blocking store work on tokio's blocking pool; errors become text.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> super::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("store task failed: {e}")),
    }
}
