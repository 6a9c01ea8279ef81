//! Live scoring of sign-ins, API usage and deployments, in `windflow agent`
//! and in the console while it runs; and the agent's retraining.
//!
//! It follows the local audit log, takes every event into the histories
//! (the state the features come from: [`super::features`], [`super::api`],
//! [`super::deploys`]) and scores each new sign-in, each API window as it
//! closes and each deployment with the newest stored model of its kind. One
//! that is an anomaly records `login_anomaly_detected`,
//! `api_anomaly_detected` or `deployment_anomaly_detected` (user, score,
//! threshold, risk, model version, features, `source_event` (what was
//! scored), a deployment's `deployment`, and the explanation in words;
//! critical risk as a critical event, so it alerts through the audit
//! channels).
//!
//! - One scorer per data dir: the process holding the lock file
//!   [`LOCK_FILE`] in the data dir scores (a console or an agent, whichever
//!   came first); another waits and takes over when it goes, so nothing is
//!   recorded twice.
//! - Cold start (no model of a kind yet): said once in the log; nothing of
//!   that kind is scored, and its events seen meanwhile stay history.
//! - A model that does not open (no master key, damaged, newer format): an
//!   error in the log naming the cause; that kind's events wait, unscored,
//!   for a model that opens (a new `anomaly_model_trained` event reloads it).
//! - A cursor in the store (the id and time of the last event taken, and
//!   up to when API windows were closed by the clock) makes it exact across
//!   restarts: the log is replayed from its start to rebuild the histories,
//!   and only what comes past the cursor is scored. An event an anomaly
//!   event already names is never recorded again. While events wait for a
//!   model that does not open, the cursor stays where it was.
//! - The first start takes the whole log so far as history.
//! - Retraining (the agent, and the demo console): every `[anomaly] retrain_every` (24h by
//!   default) after the newest model was trained, every kind is trained
//!   again on the last 30 days (less the events marked false positive);
//!   each new model is recorded as `anomaly_model_trained` and scoring
//!   picks it up from that event.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::history::{History, Observation};
use super::models::{self, Kind, Observed, Risk, Trained};
use crate::audit::source::LocalFollower;
use crate::audit::{Audit, Origin, SecurityEvent, Severity};
use crate::crypto::Keyring;
use crate::domains::{AgentCtx, AgentTasks};
use crate::store::Store;

/// The event recorded for a sign-in anomaly.
pub const DETECTED: &str = "login_anomaly_detected";
/// The lock file in the data dir held by the process that scores.
pub const LOCK_FILE: &str = "anomaly-scoring.lock";
/// The store key of the cursor (in [`models::NS`]).
const CURSOR: &str = "live/cursor";
/// How often the log is looked at for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// How far back retraining goes.
const RETRAIN_SINCE_MS: i64 = 30 * 86_400_000;

/// Where the scorer's messages go: the agent's JSON log, the console's log.
pub type Say = fn(&str, &str, serde_json::Value);

/// The console's log (the terminal is the console's own).
pub fn say_to_tracing(level: &str, message: &str, fields: serde_json::Value) {
    match level {
        "error" => tracing::error!(%fields, "{message}"),
        "warn" => tracing::warn!(%fields, "{message}"),
        _ => tracing::info!(%fields, "{message}"),
    }
}

/// What a scorer needs.
pub struct Scorer {
    pub store: Arc<Store>,
    pub keys: Option<Arc<Keyring>>,
    pub audit: Audit,
    pub origin: Origin,
    pub data_dir: PathBuf,
    pub say: Say,
    /// The agent's retraining period (none: no retraining here).
    pub retrain_every: Option<Duration>,
}

pub fn start(ctx: &AgentCtx, tasks: &mut AgentTasks) {
    let audit = match crate::cli::audit::cli_audit(ctx.config) {
        Ok(a) => a,
        Err(e) => {
            crate::agent::log(
                "error",
                "live scoring of anomalies is off: the audit settings do not resolve",
                json!({ "error": e.to_string() }),
            );
            return;
        }
    };
    let retrain_every = match super::settings::retrain_every(ctx.config) {
        Ok(d) => Some(d),
        Err(e) => {
            crate::agent::log(
                "error",
                "the anomaly models are not retrained: the setting does not read",
                json!({ "error": e.to_string() }),
            );
            None
        }
    };
    let scorer = Scorer {
        store: ctx.store.clone(),
        keys: ctx.keyring.cloned(),
        audit,
        origin: Origin::detect(concat!("windflow-agent/", env!("CARGO_PKG_VERSION"))),
        data_dir: ctx.data_dir.to_path_buf(),
        say: crate::agent::log,
        retrain_every,
    };
    tasks.spawn(serve(scorer, ctx.stop.clone()));
}

/// Scores in a console while no other process does; runs until the
/// runtime stops.
pub fn spawn_console(scorer: Scorer) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = tx;
        serve(scorer, rx).await;
    });
}

fn try_lock(data_dir: &Path) -> std::io::Result<Option<std::fs::File>> {
    let file = crate::fsutil::open_owned(&data_dir.join(LOCK_FILE), true)?;
    Ok(crate::fsutil::try_flock(&file)?.then_some(file))
}

/// Takes the data dir's scoring lock as soon as no other process holds it,
/// then scores until `stop` turns true.
pub async fn serve(scorer: Scorer, mut stop: tokio::sync::watch::Receiver<bool>) {
    let say = scorer.say;
    let mut said: Option<String> = None;
    let lock = loop {
        let now = match try_lock(&scorer.data_dir) {
            Ok(Some(f)) => break f,
            Ok(None) => (
                "info",
                "live scoring of anomalies runs in another process of this data dir; this one takes over when it stops".to_owned(),
            ),
            Err(e) => (
                "error",
                format!("the anomaly scoring lock in {} cannot be taken: {e}", scorer.data_dir.display()),
            ),
        };
        if said.as_deref() != Some(&now.1) {
            say(now.0, &now.1, json!({}));
            said = Some(now.1);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    };
    let live = Live::new(scorer);
    follow(live, stop).await;
    drop(lock);
}

async fn follow(mut live: Live, mut stop: tokio::sync::watch::Receiver<bool>) {
    let started = tokio::task::spawn_blocking(move || {
        live.begin();
        live
    })
    .await;
    let Ok(mut live) = started else { return };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        live = match tokio::task::spawn_blocking(move || {
            live.step();
            live
        })
        .await
        {
            Ok(l) => l,
            Err(_) => return,
        };
    }
}

/// Where scoring has got to: the last event taken (scored, or history),
/// and up to when the clock closed API windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// None: the log was empty at the first start (everything is new).
    id: Option<String>,
    timestamp: Option<String>,
    /// Unix ms: API windows ending by then were closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_clock: Option<i64>,
}

enum ModelState {
    Unknown,
    Cold,
    Ready(Arc<Trained>),
    /// Why the newest model does not open.
    Broken(String),
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Login => 0,
        Kind::Api => 1,
        Kind::Deployment => 2,
    }
}

struct Live {
    s: Scorer,
    follower: LocalFollower,
    history: History,
    models: [ModelState; 3],
    /// New events not scored yet.
    pending: Vec<Observation>,
    /// What an anomaly event already names (its `source_event`).
    recorded: HashSet<String>,
    /// The last event taken.
    last: Cursor,
    /// The cursor as stored.
    cursor: Option<Cursor>,
    /// Unix ms of the next retraining.
    next_retrain: Option<i64>,
}

fn events(chunks: Vec<Vec<u8>>) -> Vec<SecurityEvent> {
    chunks
        .iter()
        .flat_map(|c| c.split(|b| *b == b'\n'))
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Live {
    fn new(s: Scorer) -> Self {
        Self {
            follower: LocalFollower::from_start(&s.data_dir.join("audit")),
            s,
            history: History::default(),
            models: [
                ModelState::Unknown,
                ModelState::Unknown,
                ModelState::Unknown,
            ],
            pending: Vec::new(),
            recorded: HashSet::new(),
            last: Cursor {
                id: None,
                timestamp: None,
                api_clock: None,
            },
            cursor: None,
            next_retrain: None,
        }
    }

    fn say(&self, level: &str, message: &str, fields: serde_json::Value) {
        (self.s.say)(level, message, fields);
    }

    /// Replays the log so far: history up to the cursor, new events after it.
    fn begin(&mut self) {
        let stored: Option<Cursor> = match self.s.store.get(models::NS, CURSOR) {
            Ok(b) => b.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                self.say(
                    "error",
                    "live scoring of anomalies cannot read its cursor; the log so far is taken as history",
                    json!({ "error": e.to_string() }),
                );
                None
            }
        };
        let all = match self.follower.poll() {
            Ok(c) => events(c),
            Err(e) => {
                self.say(
                    "error",
                    "live scoring of anomalies cannot read the audit log",
                    json!({ "error": e.to_string() }),
                );
                Vec::new()
            }
        };
        // How many events are history: up to the cursor's event (or, when
        // the log no longer holds it, up to its time); all at a first start.
        let seen = match &stored {
            None => all.len(),
            Some(Cursor { id: None, .. }) => 0,
            Some(Cursor {
                id: Some(id),
                timestamp,
                ..
            }) => match all.iter().position(|e| &e.id == id) {
                Some(i) => i + 1,
                None => all
                    .iter()
                    .take_while(|e| Some(&e.timestamp) <= timestamp.as_ref())
                    .count(),
            },
        };
        for ev in &all[..seen] {
            self.note_recorded(ev);
            self.history.observe(ev);
        }
        // API windows the clock closed before the restart are history too.
        let api_clock = stored.as_ref().and_then(|c| c.api_clock);
        if let Some(clock) = api_clock {
            self.history.api.close_until(clock);
        }
        self.last = match all[..seen].last() {
            Some(ev) => Cursor {
                id: Some(ev.id.clone()),
                timestamp: Some(ev.timestamp.clone()),
                api_clock,
            },
            None => stored.clone().unwrap_or(Cursor {
                id: None,
                timestamp: None,
                api_clock: None,
            }),
        };
        self.cursor = stored;
        for kind in Kind::ALL {
            self.load_model(kind);
        }
        self.next_retrain = self.s.retrain_every.map(|every| {
            let newest = self
                .models
                .iter()
                .filter_map(|m| match m {
                    ModelState::Ready(m) => chrono::DateTime::parse_from_rfc3339(&m.trained_at)
                        .ok()
                        .map(|t| t.timestamp_millis()),
                    _ => None,
                })
                .max()
                .unwrap_or_else(now_ms);
            newest + every.as_millis() as i64
        });
        self.say(
            "info",
            "live scoring of anomalies",
            json!({
                "history_events": seen,
                "new_events": all.len() - seen,
                "model_versions": Kind::ALL.iter().map(|k| (k.name(), match &self.models[slot(*k)] {
                    ModelState::Ready(m) => Some(m.version),
                    _ => None,
                })).collect::<std::collections::BTreeMap<_, _>>(),
                "retrain_every_secs": self.s.retrain_every.map(|d| d.as_secs()),
            }),
        );
        self.take(&all[seen..]);
        self.score();
    }

    fn step(&mut self) {
        match self.follower.poll() {
            Ok(chunks) if !chunks.is_empty() => {
                let new = events(chunks);
                self.take(&new);
            }
            Ok(_) => {}
            Err(e) => self.say(
                "error",
                "live scoring of anomalies cannot read the audit log",
                json!({ "error": e.to_string() }),
            ),
        }
        let now = now_ms();
        let closed = self.history.close_by_clock(now);
        if !closed.is_empty() {
            self.last.api_clock = Some(now - super::api::GRACE_MS);
            for o in closed {
                self.admit(o);
            }
        }
        self.score();
        if self.next_retrain.is_some_and(|t| now >= t) {
            self.retrain();
        }
    }

    fn note_recorded(&mut self, ev: &SecurityEvent) {
        if Kind::ALL
            .iter()
            .any(|k| k.detected_event() == ev.event_type)
            && let Some(id) = ev
                .details
                .get("source_event")
                .or_else(|| ev.details.get("signin_event"))
                .and_then(|v| v.as_str())
        {
            self.recorded.insert(id.to_owned());
        }
    }

    /// A new event of a kind: to be scored, unless there is no model of
    /// its kind (then it is history only).
    fn admit(&mut self, o: Observation) {
        if !matches!(self.models[slot(o.kind())], ModelState::Cold) {
            self.pending.push(o);
        }
    }

    /// New events: into the histories, what they make ready to be scored.
    fn take(&mut self, new: &[SecurityEvent]) {
        let mut retrained = HashSet::new();
        for ev in new {
            self.note_recorded(ev);
            if ev.event_type == "anomaly_model_trained"
                && let Some(kind) = ev
                    .details
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .and_then(Kind::parse)
            {
                retrained.insert(kind);
            }
            for o in self.history.observe(ev) {
                self.admit(o);
            }
            self.last.id = Some(ev.id.clone());
            self.last.timestamp = Some(ev.timestamp.clone());
        }
        for kind in Kind::ALL {
            if retrained.contains(&kind) {
                self.load_model(kind);
            }
        }
    }

    fn load_model(&mut self, kind: Kind) {
        let opened = match &self.s.keys {
            None => models::latest_version(&self.s.store, kind).map(|v| match v {
                None => ModelState::Cold,
                Some(v) => ModelState::Broken(format!(
                    "model version {v} cannot be opened: the master key is not loaded"
                )),
            }),
            Some(keys) => models::latest(&self.s.store, keys, kind).map(|m| match m {
                None => ModelState::Cold,
                Some(m) => ModelState::Ready(Arc::new(m)),
            }),
        };
        let next = opened.unwrap_or_else(|e| ModelState::Broken(format!("{e:#}")));
        let (label, noun) = (kind.label(), kind.noun());
        match (&self.models[slot(kind)], &next) {
            (ModelState::Cold, ModelState::Cold) => {}
            (_, ModelState::Cold) => self.say(
                "info",
                &format!(
                    "no {label} model yet: {noun} are not scored until `windflow anomaly train` stores one"
                ),
                json!({ "kind": kind.name(), "needed": models::COLD_START }),
            ),
            (ModelState::Broken(a), ModelState::Broken(b)) if a == b => {}
            (_, ModelState::Broken(e)) => self.say(
                "error",
                &format!("the {label} model does not open: {noun} wait unscored"),
                json!({ "kind": kind.name(), "error": e }),
            ),
            (_, ModelState::Ready(m)) => self.say(
                "info",
                &format!("scoring {noun} with the stored model"),
                json!({ "kind": kind.name(), "model_version": m.version, "trained_at": m.trained_at }),
            ),
            _ => {}
        }
        self.models[slot(kind)] = next;
    }

    /// Scores what is pending (of the kinds whose model opens), then moves
    /// the cursor when nothing waits.
    fn score(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let mut waiting = Vec::new();
        let mut counts = [(0u64, 0u64); 3];
        let mut failed = false;
        let mut rest = pending.into_iter();
        for o in rest.by_ref() {
            if self.recorded.contains(o.source()) {
                continue;
            }
            let model = match &self.models[slot(o.kind())] {
                ModelState::Ready(m) => m.clone(),
                ModelState::Cold => continue,
                ModelState::Broken(_) | ModelState::Unknown => {
                    waiting.push(o);
                    continue;
                }
            };
            let a = model.assess(&o);
            if a.anomaly {
                if let Err(e) = self.record(&model, &o, &a) {
                    self.say(
                        "error",
                        "cannot record an anomaly; tried again at the next look",
                        json!({ "kind": o.kind().name(), "error": e.to_string() }),
                    );
                    waiting.push(o);
                    failed = true;
                    break;
                }
                self.recorded.insert(o.source().to_owned());
                counts[slot(o.kind())].1 += 1;
            }
            counts[slot(o.kind())].0 += 1;
        }
        waiting.extend(rest);
        for kind in Kind::ALL {
            let (scored, anomalies) = counts[slot(kind)];
            if scored > 0 {
                self.say(
                    "info",
                    &format!("{} scored", kind.noun()),
                    json!({ "kind": kind.name(), "scored": scored, "anomalies": anomalies }),
                );
            }
        }
        let hold = failed || !waiting.is_empty();
        self.pending = waiting;
        if !hold && self.cursor.as_ref() != Some(&self.last) {
            let bytes = serde_json::to_vec(&self.last).unwrap_or_default();
            match self.s.store.put(models::NS, CURSOR, &bytes) {
                Ok(()) => self.cursor = Some(self.last.clone()),
                Err(e) => self.say(
                    "error",
                    "cannot keep how far anomalies were scored",
                    json!({ "error": e.to_string() }),
                ),
            }
        }
    }

    fn record(
        &self,
        model: &Trained,
        o: &Observation,
        a: &models::Assessment,
    ) -> Result<(), crate::audit::AuditError> {
        let mut details = model.event_details(o, a);
        match o {
            Observation::Login(_) => details["signin_event"] = json!(o.source()),
            Observation::Deployment(d) => details["deployment"] = json!(d.deployment),
            Observation::Api(w) => {
                details["requests"] = json!(w.requests);
                details["errors"] = json!(w.errors);
                details["endpoints"] = json!(w.endpoints);
                details["bytes"] = json!(w.bytes);
            }
        }
        let mut ev = SecurityEvent::new(o.kind().detected_event(), Some(o.user()), details)
            .with_origin(&self.s.origin);
        if a.risk == Risk::Critical {
            ev.severity = Severity::Critical;
        }
        self.s.audit.record(&ev)
    }

    /// Trains every kind again (the agent's schedule); the new models are
    /// picked up from their `anomaly_model_trained` events.
    fn retrain(&mut self) {
        let every = self
            .s
            .retrain_every
            .unwrap_or(super::settings::RETRAIN_EVERY);
        self.next_retrain = Some(now_ms() + every.as_millis() as i64);
        let Some(keys) = self.s.keys.clone() else {
            self.say(
                "error",
                "the anomaly models are not retrained: the master key is not loaded",
                json!({}),
            );
            return;
        };
        let since = now_ms() - RETRAIN_SINCE_MS;
        match super::training::train_all(&self.s.store, &keys, &self.s.data_dir, since, 0) {
            Err(e) => self.say(
                "error",
                "the anomaly models could not be retrained; tried again at the next period",
                json!({ "error": format!("{e:#}") }),
            ),
            Ok((_, reports)) => {
                for r in &reports {
                    if let Ok(version) = r.outcome {
                        let mut details = super::training::trained_details(r, version);
                        details["trigger"] = json!("schedule");
                        if let Err(e) = self.s.audit.emit("anomaly_model_trained", None, details) {
                            self.say(
                                "error",
                                "a retrained anomaly model is stored but its event is not recorded",
                                json!({ "kind": r.kind.name(), "version": version, "error": e.to_string() }),
                            );
                        }
                    }
                }
                let summary: Vec<serde_json::Value> = reports.iter().map(|r| r.json()).collect();
                self.say(
                    "info",
                    "anomaly models retrained",
                    json!({ "models": summary, "next_in_secs": every.as_secs() }),
                );
            }
        }
    }
}
