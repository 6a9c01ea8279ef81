//! The audit service: follows the event source (the local log as it grows, or
//! Elasticsearch polled with `search_after`), fills the tail's ring buffer,
//! feeds the alerting engine, and reports health and figures.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::SecurityEvent;
use super::alert::AlertState;
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

/// The audit domain's part of a console: the tail (local log or
/// Elasticsearch) and its pane, the delivery of owed alerts while no agent
/// runs, and in the demo a stream of made-up events.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let settings = ctx.audit_settings;
    let feed = new_feed(settings);
    spawn_alerts(
        settings,
        ctx.data_dir,
        ctx.store.clone(),
        &feed,
        ctx.events.clone(),
    );
    spawn(settings, ctx.data_dir, feed.clone(), ctx.events.clone());
    if ctx.demo {
        super::demo::spawn(ctx.audit.clone(), super::demo::rate_from_env());
    }
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::AuditPane::new(Some(feed)))),
        handle: None,
    })
}

/// Starts the service on the current tokio runtime, filling `feed`. Alerts
/// are not sent from here: see [`spawn_alerts`].
pub fn spawn(settings: &AuditSettings, data_dir: &Path, feed: SharedFeed, tx: EventTx) {
    let es = settings
        .elasticsearch
        .as_ref()
        .map(EsClient::new)
        .transpose();
    let dir = data_dir.join("audit");
    let f = feed.clone();
    tokio::spawn(async move {
        match es {
            Ok(Some(client)) => run_es(client, f, tx).await,
            Ok(None) => run_local(&dir, f, tx).await,
            Err(e) => {
                activity(&tx, SERVICE, Level::Error, e.to_string()).await;
            }
        }
    });
}

/// Delivers the alerts owed in `data_dir` while the console runs, whenever
/// no other process (the agent) does; the pane reads the state from `feed`.
pub fn spawn_alerts(
    settings: &AuditSettings,
    data_dir: &Path,
    store: Arc<crate::store::Store>,
    feed: &SharedFeed,
    tx: EventTx,
) {
    if settings.channels.is_empty() {
        return;
    }
    let state = feed
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .alerts
        .clone();
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (settings, data_dir) = (settings.clone(), data_dir.to_owned());
    tokio::spawn(async move {
        let _keep = _keep;
        super::owed::serve(
            store,
            data_dir,
            settings,
            state,
            Duration::from_millis(200),
            stop,
            move |who| {
                let value = match &who {
                    Ok(true) => "this console".to_owned(),
                    Ok(false) => "another process (the agent)".to_owned(),
                    Err(e) => format!("nobody: {e}"),
                };
                let _ = tx.try_send(ServiceEvent::Figure {
                    service: SERVICE,
                    label: "alerts sent by",
                    value,
                });
                if let Err(e) = who {
                    let _ = tx.try_send(ServiceEvent::Activity {
                        service: SERVICE,
                        level: Level::Error,
                        message: format!("alerts are not delivered: {e}"),
                        at: std::time::SystemTime::now(),
                    });
                }
            },
        )
        .await;
    });
}

/// Most security events announced to the Overview's recent problems per poll.
const ANNOUNCE_MAX: usize = 20;

/// New security events of severity high and above, for the Overview's
/// recent problems (a hijack attempt is a problem, a typo is not).
fn announce(tx: &EventTx, events: &[SecurityEvent]) {
    use super::Severity;
    let serious = events.iter().filter(|e| e.severity >= Severity::High);
    for ev in serious.take(ANNOUNCE_MAX) {
        let level = if ev.severity >= Severity::Critical {
            Level::Error
        } else {
            Level::Warn
        };
        let _ = tx.try_send(ServiceEvent::Activity {
            service: SERVICE,
            level,
            message: format!(
                "{} {} user={}",
                ev.severity.as_str(),
                ev.event_type,
                ev.user_id.as_deref().unwrap_or("-")
            ),
            at: std::time::SystemTime::now(),
        });
    }
}

fn push_all(feed: &SharedFeed, events: Vec<SecurityEvent>) -> usize {
    let n = events.len();
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

async fn run_local(dir: &Path, feed: SharedFeed, tx: EventTx) {
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
                    announce(&tx, &events);
                    push_all(&feed, events)
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
        tokio::time::sleep(POLL).await;
    }
}

async fn run_es(client: EsClient, feed: SharedFeed, tx: EventTx) {
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
                    announce(&tx, &page.events);
                    push_all(&feed, page.events)
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
        tokio::time::sleep(POLL * 2).await;
    }
}
