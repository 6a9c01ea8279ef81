//! The audit service: follows the event source (the local log as it grows, or
//! Elasticsearch polled with `search_after`), fills the tail's ring buffer,
//! feeds the alerting engine, and reports health and figures.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::SecurityEvent;
use super::alert::{AlertState, Alerter, Retry};
use super::elastic::EsClient;
use super::settings::AuditSettings;
use super::source::LocalFollower;
use super::tail::{Ring, TailFilter};
use crate::service::{Backend, EventTx, Health, HealthState, Level, ServiceEvent, activity};

pub const SERVICE: &str = "audit";

/// What the tail pane shows; filled by the service, read by the pane.
#[derive(Debug)]
pub struct Feed {
    pub ring: Ring,
    /// `local log` or `elasticsearch`.
    pub source: String,
    pub connected: bool,
    /// The last read did not reach the end of the source.
    pub behind: bool,
    pub last_error: Option<String>,
    pub alerts: Arc<Mutex<AlertState>>,
}

impl Feed {
    pub fn new(capacity: usize, source: &str) -> Self {
        Self {
            ring: Ring::new(capacity),
            source: source.to_owned(),
            connected: true,
            behind: false,
            last_error: None,
            alerts: Arc::default(),
        }
    }
}

pub type SharedFeed = Arc<Mutex<Feed>>;

/// Most bytes of the local log read in one poll (so a huge backlog is read in
/// steps and the tail shows "behind" meanwhile).
const LOCAL_STEP: u64 = 8 << 20;
const POLL: Duration = Duration::from_millis(250);
const ES_PAGE: usize = 1000;

/// The feed the pane reads, empty until [`spawn`] fills it.
pub fn new_feed(settings: &AuditSettings) -> SharedFeed {
    let source = if settings.elasticsearch.is_some() {
        "elasticsearch"
    } else {
        "local log"
    };
    Arc::new(Mutex::new(Feed::new(settings.tail_capacity, source)))
}

/// Starts the service on the current tokio runtime, filling `feed`.
pub fn spawn(settings: &AuditSettings, data_dir: &Path, feed: SharedFeed, tx: EventTx) {
    let alerter = match Alerter::spawn(
        settings.channels.clone(),
        settings.rules.clone(),
        settings.fold_window,
        Retry::default(),
    ) {
        Ok(a) => {
            feed.lock().unwrap_or_else(|p| p.into_inner()).alerts = a.state.clone();
            Some(a)
        }
        Err(e) => {
            let tx = tx.clone();
            tokio::spawn(async move {
                activity(&tx, SERVICE, Level::Error, format!("alerting is off: {e}")).await;
            });
            None
        }
    };
    let es = settings
        .elasticsearch
        .as_ref()
        .map(EsClient::new)
        .transpose();
    let dir = data_dir.join("audit");
    let f = feed.clone();
    tokio::spawn(async move {
        match es {
            Ok(Some(client)) => run_es(client, f, alerter, tx).await,
            Ok(None) => run_local(&dir, f, alerter, tx).await,
            Err(e) => {
                activity(&tx, SERVICE, Level::Error, e.to_string()).await;
            }
        }
    });
}

fn push_all(feed: &SharedFeed, alerter: &mut Option<Alerter>, events: Vec<SecurityEvent>) -> usize {
    let now = Instant::now();
    let n = events.len();
    if let Some(a) = alerter.as_mut() {
        for ev in &events {
            a.observe(ev, now);
        }
    }
    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
    for ev in events {
        f.ring.push(ev);
    }
    n
}

async fn report(
    tx: &EventTx,
    feed: &SharedFeed,
    state: HealthState,
    target: String,
    backend: Backend,
) {
    let (pushed, dropped, err, alerts) = {
        let f = feed.lock().unwrap_or_else(|p| p.into_inner());
        let st = f.alerts.lock().unwrap_or_else(|p| p.into_inner());
        let alerts = st
            .channels
            .iter()
            .map(|c| format!("{} {}", c.name, if c.failing { "failing" } else { "ok" }))
            .collect::<Vec<_>>()
            .join(", ");
        (
            f.ring.pushed(),
            f.ring.dropped(),
            f.last_error.clone(),
            alerts,
        )
    };
    let _ = tx.try_send(ServiceEvent::Health {
        service: SERVICE,
        health: Health {
            state,
            backend,
            target,
            rtt: None,
            last_error: err,
        },
    });
    let _ = tx.try_send(ServiceEvent::Figure {
        service: SERVICE,
        label: "events",
        value: format!("{pushed} ({dropped} dropped)"),
    });
    if !alerts.is_empty() {
        let _ = tx.try_send(ServiceEvent::Figure {
            service: SERVICE,
            label: "alerts",
            value: alerts,
        });
    }
}

async fn run_local(dir: &Path, feed: SharedFeed, mut alerter: Option<Alerter>, tx: EventTx) {
    let mut follower = LocalFollower::from_start(dir);
    let target = dir.display().to_string();
    let mut first = true;
    loop {
        let filter = TailFilter::default();
        let now = chrono::Utc::now().timestamp_millis();
        match follower.poll_step(LOCAL_STEP) {
            Ok((chunks, more)) => {
                let mut events = Vec::new();
                for c in chunks {
                    let mut ring = Ring::new(usize::MAX >> 1);
                    super::tail::ingest_lines(&c, &filter, now, &mut ring);
                    events.extend(ring.iter().cloned());
                }
                // History read at start-up is shown, not alerted.
                let n = if first {
                    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
                    let n = events.len();
                    events.into_iter().for_each(|e| f.ring.push(e));
                    n
                } else {
                    push_all(&feed, &mut alerter, events)
                };
                {
                    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
                    f.behind = more;
                    f.connected = true;
                    f.last_error = None;
                }
                if !more {
                    first = false;
                }
                if n > 0 || more {
                    let _ = tx.try_send(ServiceEvent::Processed {
                        service: SERVICE,
                        count: n as u64,
                    });
                }
                report(
                    &tx,
                    &feed,
                    HealthState::Connected,
                    target.clone(),
                    Backend::Embedded,
                )
                .await;
                if more {
                    tokio::task::yield_now().await;
                    continue;
                }
            }
            Err(e) => {
                {
                    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
                    f.connected = false;
                    f.last_error = Some(format!("cannot read {target}: {e}"));
                }
                report(
                    &tx,
                    &feed,
                    HealthState::Degraded,
                    target.clone(),
                    Backend::Embedded,
                )
                .await;
            }
        }
        if let Some(a) = alerter.as_mut() {
            a.tick(Instant::now());
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn run_es(client: EsClient, feed: SharedFeed, mut alerter: Option<Alerter>, tx: EventTx) {
    let target = client.shown().to_owned();
    let backend = Backend::Real(target.clone());
    // Start with the last hour; then continue after the last (timestamp, id).
    let mut after: Option<Value> = None;
    let start_filter = TailFilter {
        window: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    let mut first = true;
    let mut attempt = 0u32;
    loop {
        let now = chrono::Utc::now().timestamp_millis();
        let filter = if after.is_none() {
            start_filter.clone()
        } else {
            TailFilter::default()
        };
        match client.search(&filter, now, after.as_ref(), ES_PAGE).await {
            Ok(page) => {
                attempt = 0;
                let more = page.hits >= ES_PAGE;
                if page.last_sort.is_some() {
                    after = page.last_sort;
                }
                let n = if first {
                    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
                    let n = page.events.len();
                    page.events.into_iter().for_each(|e| f.ring.push(e));
                    n
                } else {
                    push_all(&feed, &mut alerter, page.events)
                };
                if !more {
                    first = false;
                }
                {
                    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
                    f.behind = more;
                    f.connected = true;
                    f.last_error = None;
                }
                if n > 0 {
                    let _ = tx.try_send(ServiceEvent::Processed {
                        service: SERVICE,
                        count: n as u64,
                    });
                }
                report(
                    &tx,
                    &feed,
                    HealthState::Connected,
                    target.clone(),
                    backend.clone(),
                )
                .await;
                if more {
                    continue;
                }
            }
            Err(e) => {
                attempt += 1;
                {
                    let mut f = feed.lock().unwrap_or_else(|p| p.into_inner());
                    f.connected = false;
                    f.last_error = Some(e.to_string());
                }
                report(
                    &tx,
                    &feed,
                    HealthState::Reconnecting,
                    target.clone(),
                    backend.clone(),
                )
                .await;
                tokio::time::sleep(super::elastic::backoff(attempt)).await;
            }
        }
        if let Some(a) = alerter.as_mut() {
            a.tick(Instant::now());
        }
        tokio::time::sleep(POLL * 2).await;
    }
}
