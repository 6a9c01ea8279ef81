//! `windflow agent --metrics-addr ADDR`: Prometheus metrics on `/metrics`
//! (the classic text format, from the `prometheus` crate: the OpenMetrics
//! of `prometheus-client` names a counter's family without `_total`, which
//! `promtool check metrics` rejects), `/healthz` (the
//! process answers) and `/readyz` (the agent writes its heartbeat to the
//! store).
//!
//! What the agent knows, read when scraped or followed as it happens:
//! - `windflow_events_recorded_total{type,severity}`: events recorded in the
//!   data dir's log since the agent started (by any process: commands,
//!   consoles, the agent), followed from the log's end;
//! - `windflow_rotations_total{outcome}` and
//!   `windflow_session_hijack_attempts_total`: the same events, by meaning;
//! - `windflow_alerts_owed{channel}`, `windflow_alerts_retrying{channel}`,
//!   `windflow_alerts_sent_total{channel}`, `windflow_alerts_dead_letters{channel}`:
//!   the owed-alert outbox of the store;
//! - `windflow_es_spool_events` and `windflow_es_shipping_lag_seconds`: the
//!   Elasticsearch spool (an estimate of its depth, and the age of its
//!   oldest unshipped event);
//! - `windflow_agent_leader` and `windflow_agent_delivering_alerts`.
//!
//! Not wired (the agent does not see them): scan verdicts, session counts,
//! anomaly counts and isolation drift.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::audit::SecurityEvent;
use crate::audit::source::LocalFollower;
use crate::store::Store;

/// Event types are outside text (any script may record any): beyond this
/// many, new types are counted under `type="other"`.
const MAX_TYPES: usize = 500;
/// At most this many drifting deployments are tracked (the gauge stops there).
const MAX_DRIFTING: usize = 10_000;

/// The agent's metrics and what they are read from.
pub struct Metrics {
    registry: Registry,
    events: IntCounterVec,
    types_seen: Mutex<HashSet<String>>,
    rotations: IntCounterVec,
    hijacks: IntCounter,
    sessions: IntCounterVec,
    verdicts: IntCounterVec,
    anomalies: IntCounterVec,
    drifts: IntCounter,
    drifting: IntGauge,
    /// The deployments drifting now (from the drift events seen).
    drifting_now: Mutex<std::collections::BTreeSet<String>>,
    owed: IntGaugeVec,
    retrying: IntGaugeVec,
    sent: IntCounterVec,
    sent_seen: Mutex<HashMap<String, u64>>,
    dead: IntGaugeVec,
    spool_events: IntGauge,
    shipping_lag: IntGauge,
    pub leader: IntGauge,
    pub delivering: IntGauge,
    /// The last heartbeat was written (unix seconds; 0: none yet).
    pub heartbeat_at: AtomicI64,
    store: Arc<Store>,
    data_dir: PathBuf,
    channels: Vec<String>,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("windflow")
}

impl Metrics {
    pub fn new(store: Arc<Store>, data_dir: PathBuf, channels: Vec<String>) -> Self {
        // Names and help are fixed and valid: these cannot fail.
        let counters = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(opts(name, help), labels).expect("a valid metric")
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(opts(name, help), labels).expect("a valid metric")
        };
        let gauge =
            |name: &str, help: &str| IntGauge::with_opts(opts(name, help)).expect("a valid metric");
        let m = Self {
            registry: Registry::new(),
            events: counters(
                "events_recorded_total",
                "Security events recorded in the data dir's log since the agent started",
                &["type", "severity"],
            ),
            types_seen: Mutex::default(),
            rotations: counters(
                "rotations_total",
                "Secret rotations by outcome (rotated, failed, recovered)",
                &["outcome"],
            ),
            hijacks: IntCounter::with_opts(opts(
                "session_hijack_attempts_total",
                "Session hijack attempts recorded",
            ))
            .expect("a valid metric"),
            sessions: counters(
                "session_events_total",
                "Session lifecycle events: created, revoked (one or all of a user's), envelope refused",
                &["kind"],
            ),
            verdicts: counters(
                "deploy_gate_verdicts_total",
                "Deploy-gate verdicts kept, by decision (allowed, blocked, no_verdict) and whether partial",
                &["decision", "partial"],
            ),
            anomalies: counters(
                "anomalies_detected_total",
                "Anomalies detected, by kind (login, api, deployment)",
                &["kind"],
            ),
            drifts: IntCounter::with_opts(opts(
                "isolation_drift_events_total",
                "Isolation drifts found (appeared or changed)",
            ))
            .expect("a valid metric"),
            drifting: gauge(
                "isolation_drifting_deployments",
                "Deployments whose namespace drifts from their plan, as the drift events since the agent started say",
            ),
            drifting_now: Mutex::default(),
            owed: gauges(
                "alerts_owed",
                "Alerts waiting for delivery, by channel",
                &["channel"],
            ),
            retrying: gauges(
                "alerts_retrying",
                "Owed alerts whose delivery failed at least once, by channel",
                &["channel"],
            ),
            sent: counters(
                "alerts_sent_total",
                "Alerts delivered, by channel (as the store counts them)",
                &["channel"],
            ),
            sent_seen: Mutex::default(),
            dead: gauges(
                "alerts_dead_letters",
                "Alerts given up on after every retry, by channel",
                &["channel"],
            ),
            spool_events: gauge(
                "es_spool_events",
                "Events waiting in the Elasticsearch spool (an estimate)",
            ),
            shipping_lag: gauge(
                "es_shipping_lag_seconds",
                "Age of the oldest event not yet shipped to Elasticsearch (0: none waiting)",
            ),
            leader: gauge(
                "agent_leader",
                "1 while this agent does the duties (alone, or holding the lease)",
            ),
            delivering: gauge(
                "agent_delivering_alerts",
                "1 while this agent delivers the data dir's alerts",
            ),
            heartbeat_at: AtomicI64::new(0),
            store,
            data_dir,
            channels,
        };
        let all: [Box<dyn prometheus::core::Collector>; 16] = [
            Box::new(m.events.clone()),
            Box::new(m.rotations.clone()),
            Box::new(m.hijacks.clone()),
            Box::new(m.sessions.clone()),
            Box::new(m.verdicts.clone()),
            Box::new(m.anomalies.clone()),
            Box::new(m.drifts.clone()),
            Box::new(m.drifting.clone()),
            Box::new(m.owed.clone()),
            Box::new(m.retrying.clone()),
            Box::new(m.sent.clone()),
            Box::new(m.dead.clone()),
            Box::new(m.spool_events.clone()),
            Box::new(m.shipping_lag.clone()),
            Box::new(m.leader.clone()),
            Box::new(m.delivering.clone()),
        ];
        for c in all {
            m.registry.register(c).expect("distinct metric names");
        }
        m
    }

    /// Counts one recorded event.
    pub fn observe(&self, ev: &SecurityEvent) {
        let mut seen = self.types_seen.lock().unwrap_or_else(|p| p.into_inner());
        let known = seen.contains(&ev.event_type);
        let t = if known || seen.len() < MAX_TYPES {
            if !known {
                seen.insert(ev.event_type.clone());
            }
            ev.event_type.clone()
        } else {
            "other".to_owned()
        };
        drop(seen);
        self.events
            .with_label_values(&[t.as_str(), ev.severity.as_str()])
            .inc();
        let outcome = match ev.event_type.as_str() {
            "secret_rotated" => Some("rotated"),
            "secret_rotation_failed" => Some("failed"),
            "secret_rotation_recovered" => Some("recovered"),
            _ => None,
        };
        if let Some(o) = outcome {
            self.rotations.with_label_values(&[o]).inc();
        }
        self.count_domain_event(ev);
    }

    /// The domains' counters: sessions, deploy-gate verdicts, anomalies,
    /// isolation drift.
    fn count_domain_event(&self, ev: &SecurityEvent) {
        let field = |k: &str| ev.details.get(k).and_then(|v| v.as_str());
        match ev.event_type.as_str() {
            "session_hijack_attempt" => self.hijacks.inc(),
            "session_created" => self.sessions.with_label_values(&["created"]).inc(),
            "session_revoked" => self.sessions.with_label_values(&["revoked"]).inc(),
            "sessions_revoked_user" => self.sessions.with_label_values(&["revoked_user"]).inc(),
            "session_envelope_refused" => {
                self.sessions.with_label_values(&["envelope_refused"]).inc()
            }
            crate::scans::verdicts::EVENT => {
                // Labels from a fixed set: the event's text is not trusted.
                let decision = field("decision")
                    .filter(|d| ["allowed", "blocked", "no_verdict"].contains(d))
                    .unwrap_or("other");
                let partial = ev.details.get("partial").and_then(|v| v.as_bool()) == Some(true);
                self.verdicts
                    .with_label_values(&[decision, if partial { "true" } else { "false" }])
                    .inc();
            }
            "isolation_drift" | "isolation_drift_resolved" => {
                let mut now = self.drifting_now.lock().unwrap_or_else(|p| p.into_inner());
                let deployment = field("deployment").unwrap_or("unknown").to_owned();
                if ev.event_type == "isolation_drift" {
                    self.drifts.inc();
                    if now.len() < MAX_DRIFTING {
                        now.insert(deployment);
                    }
                } else {
                    now.remove(&deployment);
                }
                self.drifting.set(now.len() as i64);
            }
            t => {
                if let Some(kind) = t.strip_suffix("_anomaly_detected") {
                    let kind = match kind {
                        "login" | "api" | "deployment" => kind,
                        _ => "other",
                    };
                    self.anomalies.with_label_values(&[kind]).inc();
                }
            }
        }
    }

    /// Reads the store and the spool into the gauges and counters.
    fn refresh(&self) {
        let rows = self.store.read(|c| {
            let exists: bool = c.query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'alert_outbox'",
                [],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok((Vec::new(), Vec::new()));
            }
            let outbox: Vec<(String, i64, i64, i64)> = c
                .prepare(
                    "SELECT channel, sum(dead = 0), sum(dead = 0 AND attempts > 0), sum(dead = 1)
                     FROM alert_outbox GROUP BY channel",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let sent: Vec<(String, i64)> = c
                .prepare("SELECT channel, sent FROM alert_sent")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((outbox, sent))
        });
        match rows {
            Ok((outbox, sent)) => {
                let mut names: Vec<String> = self.channels.clone();
                names.extend(outbox.iter().map(|r| r.0.clone()));
                names.extend(sent.iter().map(|r| r.0.clone()));
                names.sort();
                names.dedup();
                let mut seen = self.sent_seen.lock().unwrap_or_else(|p| p.into_inner());
                for name in names {
                    let l = [name.as_str()];
                    let row = outbox.iter().find(|r| r.0 == name);
                    self.owed.with_label_values(&l).set(row.map_or(0, |r| r.1));
                    self.retrying
                        .with_label_values(&l)
                        .set(row.map_or(0, |r| r.2));
                    self.dead.with_label_values(&l).set(row.map_or(0, |r| r.3));
                    let total = sent.iter().find(|r| r.0 == name).map_or(0, |r| r.1) as u64;
                    let counter = self.sent.with_label_values(&l);
                    let before = seen.entry(name.clone()).or_insert(0);
                    if total > *before {
                        counter.inc_by(total - *before);
                        *before = total;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the alert outbox"),
        }
        let spool = crate::cli::audit::spool_dir(&self.data_dir);
        if spool.exists()
            && let Ok(sp) = crate::audit::spool::Spool::open(&spool)
        {
            self.spool_events.set(sp.pending().map_or(0, |n| n as i64));
            let lag = sp
                .peek(1)
                .ok()
                .and_then(|b| b.events.into_iter().next())
                .and_then(|ev| chrono::DateTime::parse_from_rfc3339(&ev.timestamp).ok())
                .map_or(0, |t| {
                    (chrono::Utc::now() - t.to_utc()).num_seconds().max(0)
                });
            self.shipping_lag.set(lag);
        }
    }

    /// The page of `/metrics`, read now.
    pub fn page(&self) -> String {
        self.refresh();
        let mut out = Vec::new();
        // Writing to memory does not fail.
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Whether the agent wrote its heartbeat within the last few seconds.
    pub fn ready(&self) -> bool {
        let at = self.heartbeat_at.load(Ordering::Relaxed);
        at > 0 && super::unix_now() - at <= READY_WITHIN
    }
}

/// A heartbeat older than this makes `/readyz` answer 503.
const READY_WITHIN: i64 = 5;
/// How often the log is looked at for new events.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Counts the events appended to the data dir's log from now on.
pub async fn follow_events(metrics: Arc<Metrics>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    let mut follower = LocalFollower::at_end(&metrics.data_dir.join("audit"));
    loop {
        match follower.poll() {
            Ok(chunks) => {
                for chunk in chunks {
                    for line in chunk.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        if let Ok(ev) = serde_json::from_slice::<SecurityEvent>(line) {
                            metrics.observe(&ev);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the audit log"),
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The text format's content type (version 0.0.4, what Prometheus asks for).
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The status, content type and body of `GET path`.
fn route(metrics: &Metrics, method: &tiny_http::Method, path: &str) -> (u16, &'static str, String) {
    if *method != tiny_http::Method::Get {
        return (405, "text/plain", "GET only\n".into());
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => (200, TEXT_FORMAT, metrics.page()),
        "/healthz" => (200, "text/plain", "ok\n".into()),
        "/readyz" if metrics.ready() => (200, "text/plain", "ready\n".into()),
        "/readyz" => (
            503,
            "text/plain",
            "not ready: no recent heartbeat in the store\n".into(),
        ),
        _ => (404, "text/plain", "not found\n".into()),
    }
}

/// The metrics server, listening from [`serve`] on; stops when dropped.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds `addr` now (the error says why not) and answers on a thread of
/// its own, one request at a time (scrapes and probes are few).
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<Server, String> {
    let server = Arc::new(tiny_http::Server::http(addr).map_err(|e| e.to_string())?);
    let s = server.clone();
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for req in s.incoming_requests() {
                let (code, content_type, body) = route(&metrics, req.method(), req.url());
                let header = tiny_http::Header::from_bytes("Content-Type", content_type)
                    .expect("a valid header");
                let resp = tiny_http::Response::from_string(body)
                    .with_status_code(code)
                    .with_header(header);
                let _ = req.respond(resp);
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Server {
        server,
        thread: Some(thread),
    })
}
