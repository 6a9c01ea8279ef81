//! The anomaly domain's duty in `windflow agent`: live scoring of sign-ins.
//!
//! It follows the local audit log, takes every event into the sign-in
//! history (the state the [features](super::features) come from) and scores
//! each new sign-in with the newest stored [`LoginModel`]; one above the
//! model's threshold records `login_anomaly_detected` (user, score,
//! threshold, risk, model version, features and the explanation in words;
//! critical risk as a critical event, so it alerts through the audit
//! channels).
//!
//! - Cold start (no model yet): said once in the agent's log; nothing is
//!   scored, and the sign-ins seen meanwhile stay history.
//! - A model that does not open (no master key, damaged, newer format):
//!   an error in the log naming the cause; the sign-ins wait, unscored, for
//!   a model that opens (a new `anomaly_model_trained` event reloads it).
//! - A cursor in the store (the id and time of the last event taken) makes
//!   it exact across restarts: the log is replayed from its start to rebuild
//!   the history, and only the sign-ins past the cursor are scored. A
//!   sign-in an anomaly event already names is never recorded again.
//! - The first start takes the whole log so far as history.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::features::{Login, LoginHistory};
use super::logins::{self, LoginModel, Risk};
use crate::agent::log;
use crate::audit::source::LocalFollower;
use crate::audit::{Audit, Origin, SecurityEvent, Severity};
use crate::crypto::Keyring;
use crate::domains::{AgentCtx, AgentTasks};
use crate::store::Store;

/// The event this duty records.
pub const DETECTED: &str = "login_anomaly_detected";
/// The store key of the cursor (in [`logins::NS`]).
const CURSOR: &str = "live/cursor";
/// How often the log is looked at for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

pub fn start(ctx: &AgentCtx, tasks: &mut AgentTasks) {
    let audit = match crate::cli::audit::cli_audit(ctx.config) {
        Ok(a) => a,
        Err(e) => {
            log(
                "error",
                "live scoring of sign-ins is off: the audit settings do not resolve",
                json!({ "error": e.to_string() }),
            );
            return;
        }
    };
    let live = Live {
        store: ctx.store.clone(),
        keys: ctx.keyring.cloned(),
        audit,
        origin: Origin::detect(concat!("windflow-agent/", env!("CARGO_PKG_VERSION"))),
        follower: LocalFollower::from_start(&ctx.data_dir.join("audit")),
        history: LoginHistory::default(),
        model: ModelState::Unknown,
        pending: Vec::new(),
        recorded: HashSet::new(),
        last: None,
        cursor: None,
    };
    tasks.spawn(follow(live, ctx.stop.clone()));
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

/// Where scoring has got to: the last event taken (scored, or history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// None: the log was empty at the first start (everything is new).
    id: Option<String>,
    timestamp: Option<String>,
}

enum ModelState {
    Unknown,
    Cold,
    Ready(Arc<LoginModel>),
    /// Why the newest model does not open.
    Broken(String),
}

struct Live {
    store: Arc<Store>,
    keys: Option<Arc<Keyring>>,
    audit: Audit,
    origin: Origin,
    follower: LocalFollower,
    history: LoginHistory,
    model: ModelState,
    /// New sign-ins not scored yet: (event id, features).
    pending: Vec<(String, Login)>,
    /// Sign-ins an anomaly event already names.
    recorded: HashSet<String>,
    /// The last event taken.
    last: Option<Cursor>,
    /// The cursor as stored.
    cursor: Option<Cursor>,
}

fn events(chunks: Vec<Vec<u8>>) -> Vec<SecurityEvent> {
    chunks
        .iter()
        .flat_map(|c| c.split(|b| *b == b'\n'))
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

fn cursor_of(ev: &SecurityEvent) -> Cursor {
    Cursor {
        id: Some(ev.id.clone()),
        timestamp: Some(ev.timestamp.clone()),
    }
}

impl Live {
    /// Replays the log so far: history up to the cursor, new sign-ins after it.
    fn begin(&mut self) {
        let stored: Option<Cursor> = match self.store.get(logins::NS, CURSOR) {
            Ok(b) => b.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                log(
                    "error",
                    "live scoring of sign-ins cannot read its cursor; the log so far is taken as history",
                    json!({ "error": e.to_string() }),
                );
                None
            }
        };
        let all = match self.follower.poll() {
            Ok(c) => events(c),
            Err(e) => {
                log(
                    "error",
                    "live scoring of sign-ins cannot read the audit log",
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
            }) => match all.iter().position(|e| &e.id == id) {
                Some(i) => i + 1,
                None => all
                    .iter()
                    .take_while(|e| Some(&e.timestamp) <= timestamp.as_ref())
                    .count(),
            },
        };
        for ev in &all[..seen] {
            self.history_only(ev);
        }
        self.last = match all[..seen].last() {
            Some(ev) => Some(cursor_of(ev)),
            None => stored.clone().or(Some(Cursor {
                id: None,
                timestamp: None,
            })),
        };
        self.cursor = stored;
        self.load_model();
        log(
            "info",
            "live scoring of sign-ins",
            json!({
                "history_events": seen,
                "new_events": all.len() - seen,
                "model_version": match &self.model {
                    ModelState::Ready(m) => Some(m.version),
                    _ => None,
                },
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
            Err(e) => log(
                "error",
                "live scoring of sign-ins cannot read the audit log",
                json!({ "error": e.to_string() }),
            ),
        }
        self.score();
    }

    fn history_only(&mut self, ev: &SecurityEvent) {
        self.note_recorded(ev);
        self.history.observe(ev);
    }

    fn note_recorded(&mut self, ev: &SecurityEvent) {
        if ev.event_type == DETECTED
            && let Some(id) = ev.details.get("signin_event").and_then(|v| v.as_str())
        {
            self.recorded.insert(id.to_owned());
        }
    }

    /// New events: into the history, their sign-ins to be scored.
    fn take(&mut self, new: &[SecurityEvent]) {
        let mut retrained = false;
        for ev in new {
            self.note_recorded(ev);
            retrained |= ev.event_type == "anomaly_model_trained"
                && ev.details.get("kind").and_then(|k| k.as_str()) == Some("login");
            // A sign-in while there is no model is history only.
            if let Some(login) = self.history.observe(ev)
                && !matches!(self.model, ModelState::Cold)
            {
                self.pending.push((ev.id.clone(), login));
            }
            self.last = Some(cursor_of(ev));
        }
        if retrained {
            self.load_model();
        }
    }

    fn load_model(&mut self) {
        let opened = match &self.keys {
            None => logins::latest_version(&self.store).map(|v| match v {
                None => ModelState::Cold,
                Some(v) => ModelState::Broken(format!(
                    "model version {v} cannot be opened: the master key is not loaded"
                )),
            }),
            Some(keys) => logins::latest(&self.store, keys).map(|m| match m {
                None => ModelState::Cold,
                Some(m) => ModelState::Ready(Arc::new(m)),
            }),
        };
        let next = opened.unwrap_or_else(|e| ModelState::Broken(format!("{e:#}")));
        match (&self.model, &next) {
            (ModelState::Cold, ModelState::Cold) => {}
            (_, ModelState::Cold) => log(
                "info",
                "no sign-in model yet: sign-ins are not scored until `windflow anomaly train` stores one",
                json!({ "needed_sign_ins": logins::COLD_START }),
            ),
            (ModelState::Broken(a), ModelState::Broken(b)) if a == b => {}
            (_, ModelState::Broken(e)) => log(
                "error",
                "the sign-in model does not open: sign-ins wait unscored",
                json!({ "error": e }),
            ),
            (_, ModelState::Ready(m)) => log(
                "info",
                "scoring sign-ins with the stored model",
                json!({ "model_version": m.version, "trained_at": m.trained_at }),
            ),
            _ => {}
        }
        self.model = next;
    }

    /// Scores what is pending (when a model opens), then moves the cursor.
    fn score(&mut self) {
        let model = match &self.model {
            ModelState::Broken(_) | ModelState::Unknown => return,
            ModelState::Cold => None,
            ModelState::Ready(m) => Some(m.clone()),
        };
        let pending = std::mem::take(&mut self.pending);
        let (mut scored, mut anomalies) = (0, 0);
        if let Some(model) = &model {
            for (i, (id, login)) in pending.iter().enumerate() {
                if self.recorded.contains(id) {
                    continue;
                }
                scored += 1;
                let a = model.assess(login);
                if !a.anomaly {
                    continue;
                }
                if let Err(e) = self.record(model, id, login, &a) {
                    log(
                        "error",
                        "cannot record a sign-in anomaly; tried again at the next look",
                        json!({ "error": e.to_string() }),
                    );
                    self.pending = pending[i..].to_vec();
                    return;
                }
                self.recorded.insert(id.clone());
                anomalies += 1;
            }
        }
        if scored > 0 {
            log(
                "info",
                "sign-ins scored",
                json!({ "scored": scored, "anomalies": anomalies }),
            );
        }
        if self.last != self.cursor {
            let bytes = serde_json::to_vec(&self.last).unwrap_or_default();
            match self.store.put(logins::NS, CURSOR, &bytes) {
                Ok(()) => self.cursor = self.last.clone(),
                Err(e) => log(
                    "error",
                    "cannot keep how far sign-ins were scored",
                    json!({ "error": e.to_string() }),
                ),
            }
        }
    }

    fn record(
        &self,
        model: &LoginModel,
        id: &str,
        login: &Login,
        a: &logins::Assessment,
    ) -> Result<(), crate::audit::AuditError> {
        let mut details = model.event_details(login, a);
        details["user"] = json!(login.user);
        details["threshold"] = json!(model.model.threshold());
        details["signin_event"] = json!(id);
        let mut ev =
            SecurityEvent::new(DETECTED, Some(&login.user), details).with_origin(&self.origin);
        if a.risk == Risk::Critical {
            ev.severity = Severity::Critical;
        }
        self.audit.record(&ev)
    }
}
