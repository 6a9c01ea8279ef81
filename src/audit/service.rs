//! The audit service: follows the security events by the rule of
//! [`super::query`] (the local log; or Elasticsearch merged with this data
//! dir's events it has not indexed yet, and the local log while it does not
//! answer), sends them to the Audit pane in batches, lists serious ones in
//! the Overview's recent problems, delivers owed alerts while no agent runs,
//! and reports health, figures and the alert channels' state.
//!
//! The pane owns what it shows; it learns everything from [`AuditEvent`]s.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::SecurityEvent;
use super::alert::AlertState;
use super::elastic::{EsClient, EsError};
use super::query::{Follow, Reader, Source};
use super::settings::AuditSettings;
use super::source::LocalFollower;
use super::tail::TailFilter;
use crate::service::{Backend, Health, HealthState, Level, ServiceEvent};

pub const SERVICE: &str = "audit";

/// What the audit service sends its pane.
#[derive(Debug)]
pub enum AuditEvent {
    /// What the pane shows is replaced by `events`: the source changed, or
    /// lost events the pane was showing.
    Reset { source: Source, events: Batch },
    /// New events, oldest first.
    Events(Batch),
    /// How reading the source goes: more is waiting (`behind`), or it failed.
    Reading { behind: bool, error: Option<String> },
    /// Alert delivery: the channels and the undelivered alerts.
    Alerts(AlertState),
    /// What the Alertmanager channel holds: alerts, their state, silences.
    Alertmanager(super::silences::AmView),
}

/// Events on their way to the pane. Each holds a share of the service's
/// credit (the ring's capacity) until the pane has taken it, so the events
/// in flight are never more than the pane keeps.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<SecurityEvent>,
    /// Events before these that the ring could not have kept anyway.
    pub skipped: u64,
    _credit: Option<OwnedSemaphorePermit>,
}

impl Batch {
    /// A batch outside any credit (tests, benches).
    pub fn new(events: Vec<SecurityEvent>) -> Self {
        Self {
            events,
            skipped: 0,
            _credit: None,
        }
    }
}

/// Bounds the events on their way to the pane by its ring's capacity.
struct Credit {
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl Credit {
    fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// `events` as a batch, once the pane has room for them in flight.
    async fn batch(&self, mut events: Vec<SecurityEvent>) -> Batch {
        let skipped = events.len().saturating_sub(self.capacity);
        events.drain(..skipped);
        let credit = self
            .permits
            .clone()
            .acquire_many_owned(events.len() as u32)
            .await
            .ok();
        Batch {
            events,
            skipped: skipped as u64,
            _credit: credit,
        }
    }
}

/// The audit service's channels: the console's common one and the pane's.
pub type Events = crate::service::Sink<AuditEvent>;

/// Most bytes of the local log read in one poll (so a huge backlog is read in
/// steps and the tail shows "behind" meanwhile).
const LOCAL_STEP: u64 = 8 << 20;
const POLL: Duration = Duration::from_millis(250);
/// What the pane starts with from Elasticsearch: the last hour.
const ES_START: Duration = Duration::from_secs(3600);

/// The audit domain's part of a console: the tail and its pane, the
/// delivery of owed alerts while no agent runs, and in the demo a stream of
/// made-up events.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let settings = ctx.audit_settings;
    let (tx, rx) = ctx.wake.channel();
    let events = Events::new(ctx.events.clone(), tx);
    spawn(settings, ctx.data_dir, events.clone())
        .map_err(|e| crate::cli::CliError::Usage(format!("audit: {e}")))?;
    spawn_alerts(settings, ctx.data_dir, ctx.store.clone(), events.clone());
    let handle = super::silences::spawn(settings, ctx.audit.clone(), events)
        .map(|h| h as std::sync::Arc<dyn crate::service::Handle>);
    if ctx.demo {
        super::demo::spawn(ctx.audit.clone(), super::demo::rate_from_env());
    }
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::AuditPane::new(
            rx,
            settings.tail_capacity,
        ))),
        handle,
    })
}

/// Starts the tail on the current tokio runtime. Alerts are not sent from
/// here: see [`spawn_alerts`].
pub fn spawn(settings: &AuditSettings, data_dir: &Path, events: Events) -> Result<(), EsError> {
    let es = settings
        .elasticsearch
        .as_ref()
        .map(EsClient::new)
        .transpose()?;
    let reader = Reader::new(data_dir, es);
    tokio::spawn(run(reader, settings.tail_capacity, events));
    Ok(())
}

/// What the service last told the console and the pane, to tell only changes.
#[derive(Default)]
struct Told {
    source: Option<Source>,
    reading: Option<(bool, Option<String>)>,
    health: Option<Health>,
    /// Events sent since the last reset.
    sent: u64,
}

async fn run(reader: Reader, capacity: usize, events: Events) {
    let credit = Credit::new(capacity);
    let mut told = Told::default();
    let all = TailFilter::default();
    let start = TailFilter {
        window: Some(ES_START),
        ..TailFilter::default()
    };
    loop {
        // Placed before the read, so that nothing falls between the two.
        let local = LocalFollower::at_end(reader.dir());
        let answer = match reader.read_remote(&start, capacity).await {
            Ok(a) => a,
            Err(e) => {
                reading(&events, &mut told, false, Some(e.to_string())).await;
                health(&events, &mut told, &reader, None).await;
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let mut follow = Follow::after(&reader, &all, local, &answer, capacity);
        // When the local log answers, it is shown from its start.
        let mut history = answer.source != Source::Elasticsearch;
        if history {
            follow.restart_local();
        }
        switched(&events, &told, &answer.source).await;
        told.source = Some(answer.source.clone());
        told.sent = answer.events.len() as u64;
        let batch = credit.batch(answer.events).await;
        if !events
            .emit(AuditEvent::Reset {
                source: answer.source,
                events: batch,
            })
            .await
        {
            return; // the pane is gone
        }
        loop {
            match follow.poll(LOCAL_STEP).await {
                Ok(p) => {
                    if p.switched || p.lost {
                        if p.lost {
                            crate::service::activity(
                                &events,
                                SERVICE,
                                Level::Warn,
                                "Elasticsearch holds fewer events than before (restarted \
                                 empty or indices deleted): the Audit pane reads it again",
                            )
                            .await;
                        }
                        break;
                    }
                    // History is shown, not announced.
                    if !history {
                        announce(&events, &p.events);
                    }
                    let n = p.events.len() as u64;
                    if n > 0 {
                        told.sent += n;
                        let batch = credit.batch(p.events).await;
                        if !events.emit(AuditEvent::Events(batch)).await {
                            return;
                        }
                        let _ = events.try_send(ServiceEvent::Processed {
                            service: SERVICE,
                            count: n,
                        });
                    }
                    reading(&events, &mut told, p.more, None).await;
                    health(&events, &mut told, &reader, None).await;
                    figures(&events, &told, capacity);
                    if p.more {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    history = false;
                }
                Err(e) => {
                    let e = e.to_string();
                    reading(&events, &mut told, false, Some(e.clone())).await;
                    health(&events, &mut told, &reader, Some(e)).await;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Says on the Activity pane when the tail's source changes.
async fn switched(events: &Events, told: &Told, now: &Source) {
    let Some(before) = &told.source else { return };
    let message = match (before, now) {
        (Source::Fallback { .. }, Source::Fallback { .. }) => return,
        (_, Source::Fallback { error, .. }) => {
            format!("{error}: the Audit pane shows the local log")
        }
        (Source::Fallback { .. }, Source::Elasticsearch) => {
            "Elasticsearch answers again: the Audit pane shows it, with the local events \
             it has not indexed yet"
                .to_owned()
        }
        _ => return,
    };
    let level = if matches!(now, Source::Fallback { .. }) {
        Level::Warn
    } else {
        Level::Info
    };
    crate::service::activity(events, SERVICE, level, message).await;
}

async fn reading(events: &Events, told: &mut Told, behind: bool, error: Option<String>) {
    let now = (behind, error);
    if told.reading.as_ref() == Some(&now) {
        return;
    }
    told.reading = Some(now.clone());
    events
        .emit(AuditEvent::Reading {
            behind: now.0,
            error: now.1,
        })
        .await;
}

/// The tail's health: the local log's, or Elasticsearch's (reconnecting
/// while the local log stands in).
async fn health(events: &Events, told: &mut Told, reader: &Reader, error: Option<String>) {
    let (backend, target) = match reader.es() {
        Some(c) => (Backend::Real(c.shown().to_owned()), c.shown().to_owned()),
        None => (Backend::Embedded, reader.dir().display().to_string()),
    };
    let (state, last_error) = match (&told.source, error) {
        (_, Some(e)) => (HealthState::Degraded, Some(e)),
        (Some(Source::Fallback { error, .. }), None) => {
            (HealthState::Reconnecting, Some(error.clone()))
        }
        (_, None) => (HealthState::Connected, None),
    };
    let h = Health {
        state,
        backend,
        target,
        rtt: None,
        last_error,
    };
    if told.health.as_ref() == Some(&h) {
        return;
    }
    told.health = Some(h.clone());
    let _ = events
        .send(ServiceEvent::Health {
            service: SERVICE,
            health: h,
        })
        .await;
}

fn figures(events: &Events, told: &Told, capacity: usize) {
    let dropped = told.sent.saturating_sub(capacity as u64);
    let _ = events.try_send(ServiceEvent::Figure {
        service: SERVICE,
        label: "events",
        value: format!("{} ({dropped} dropped)", told.sent),
    });
    if let Some(source) = &told.source {
        let _ = events.try_send(ServiceEvent::Figure {
            service: SERVICE,
            label: "source",
            value: source.label(),
        });
    }
}

/// How often the alert channels' state is looked at for the pane.
const ALERTS_EVERY: Duration = Duration::from_millis(250);

/// Delivers the alerts owed in `data_dir` while the console runs, whenever
/// no other process (the agent) does, and sends the pane the channels'
/// state as it changes.
pub fn spawn_alerts(
    settings: &AuditSettings,
    data_dir: &Path,
    store: Arc<crate::store::Store>,
    events: Events,
) {
    if settings.channels.is_empty() {
        return;
    }
    let state = Arc::new(Mutex::new(AlertState::default()));
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (settings, data_dir) = (settings.clone(), data_dir.to_owned());
    let tx = events.clone();
    let delivery = state.clone();
    tokio::spawn(async move {
        let _keep = _keep;
        super::owed::serve(
            store,
            data_dir,
            settings,
            delivery,
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
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let now = state.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if last.as_ref() != Some(&now) {
                let summary = now
                    .channels
                    .iter()
                    .map(|c| format!("{} {}", c.name, if c.failing { "failing" } else { "ok" }))
                    .collect::<Vec<_>>()
                    .join(", ");
                if !summary.is_empty() {
                    let _ = events.try_send(ServiceEvent::Figure {
                        service: SERVICE,
                        label: "alerts",
                        value: summary,
                    });
                }
                if !events.emit(AuditEvent::Alerts(now.clone())).await {
                    return;
                }
                last = Some(now);
            }
            tokio::time::sleep(ALERTS_EVERY).await;
        }
    });
}

/// Most security events announced to the Overview's recent problems per poll.
const ANNOUNCE_MAX: usize = 20;

/// New security events of severity high and above, for the Overview's
/// recent problems (a hijack attempt is a problem, a typo is not).
fn announce(events: &Events, new: &[SecurityEvent]) {
    use super::Severity;
    let serious = new.iter().filter(|e| e.severity >= Severity::High);
    for ev in serious.take(ANNOUNCE_MAX) {
        let level = if ev.severity >= Severity::Critical {
            Level::Error
        } else {
            Level::Warn
        };
        let _ = events.try_send(ServiceEvent::Activity {
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
