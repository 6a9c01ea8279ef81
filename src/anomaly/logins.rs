//! The sign-in detector: an isolation forest fitted on the sign-ins'
//! [features](super::features), kept sealed in the store (it describes
//! people's habits) in numbered versions, and the assessment of a new
//! sign-in against it.
//!
//! - Cold start: no model, hence no alert, until the history holds
//!   [`COLD_START`] sign-ins.
//! - Risk is the score's percentile among the training sign-ins' scores:
//!   under 95 low, from 95 medium, from 99 high, above every training
//!   score critical.
//! - A sign-in is an anomaly when its score is above the forest's
//!   threshold (0.5) and its risk is medium or more.

use crate::crypto::contexts;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::features::{Baseline, LOGIN_FEATURES, Login, LoginHistory};
use super::{Detector, Matrix, Model};
use crate::audit::SecurityEvent;
use crate::audit::source::LocalFollower;
use crate::crypto::Keyring;
use crate::store::Store;

/// The fewest sign-ins a model is trained on.
pub const COLD_START: usize = 200;
/// The store namespace of trained models.
pub const NS: &str = "anomaly";
const PREFIX: &str = "login/";
/// The format of a stored model; a newer format is not read by an older build.
const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

/// A trained sign-in model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginModel {
    pub format: u32,
    pub version: u64,
    /// RFC 3339, UTC.
    pub trained_at: String,
    pub model: Model,
    pub baseline: Baseline,
    /// The training sign-ins' scores, ascending.
    scores: Vec<f64>,
}

/// What the model says of one sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub score: f64,
    /// Share of training sign-ins scoring lower, in percent.
    pub percentile: f64,
    pub risk: Risk,
    pub anomaly: bool,
    pub explanation: String,
}

/// Why no model was trained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{have} sign-ins in the history, {COLD_START} needed: no model, so no sign-in alerts yet")]
pub struct ColdStart {
    pub have: usize,
}

impl LoginModel {
    /// Fits on `logins` (at least [`COLD_START`]); `version` numbers it.
    pub fn train(logins: &[Login], seed: u64, version: u64) -> Result<Self, ColdStart> {
        if logins.len() < COLD_START {
            return Err(ColdStart { have: logins.len() });
        }
        let rows: Vec<[f64; 8]> = logins.iter().map(|l| l.features).collect();
        let x = Matrix::from_rows(&rows);
        let model = Model::fit(Detector::IsolationForest, &x, seed).expect("enough rows");
        let mut scores = model.score_all(&x);
        scores.sort_by(f64::total_cmp);
        Ok(Self {
            format: FORMAT,
            version,
            trained_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            model,
            baseline: Baseline::of(logins),
            scores,
        })
    }

    pub fn events(&self) -> usize {
        self.scores.len()
    }

    pub fn assess(&self, login: &Login) -> Assessment {
        let score = self.model.score(&login.features);
        let below = self.scores.partition_point(|s| *s < score);
        let percentile = 100.0 * below as f64 / self.scores.len() as f64;
        let risk = if below == self.scores.len() {
            Risk::Critical
        } else if percentile >= 99.0 {
            Risk::High
        } else if percentile >= 95.0 {
            Risk::Medium
        } else {
            Risk::Low
        };
        Assessment {
            score,
            percentile,
            risk,
            anomaly: score > self.model.threshold() && risk >= Risk::Medium,
            explanation: login.explain(&self.baseline),
        }
    }

    /// The details of the `login_anomaly_detected` event for `login`.
    pub fn event_details(&self, login: &Login, a: &Assessment) -> serde_json::Value {
        let features: serde_json::Map<String, serde_json::Value> = LOGIN_FEATURES
            .iter()
            .zip(login.features)
            .map(|(n, v)| ((*n).to_owned(), json!(v)))
            .collect();
        json!({
            "kind": "login",
            "at": login.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "detector": self.model.detector().name(),
            "model_version": self.version,
            "score": a.score,
            "percentile": a.percentile,
            "risk": a.risk.as_str(),
            "features": features,
            "explanation": a.explanation,
        })
    }
}

fn key(version: u64) -> String {
    format!("{PREFIX}{version:010}")
}

/// The newest stored model's version, if any (without opening it).
pub fn latest_version(store: &Store) -> anyhow::Result<Option<u64>> {
    Ok(store
        .list(NS, PREFIX)?
        .iter()
        .filter_map(|(k, _)| k.strip_prefix(PREFIX)?.parse::<u64>().ok())
        .max())
}

/// The version the next trained model gets.
pub fn next_version(store: &Store) -> anyhow::Result<u64> {
    Ok(latest_version(store)?.map_or(1, |v| v + 1))
}

/// Seals `model` under its version (bound to it: a sealed model moved to
/// another version's key does not open).
pub fn save(store: &Store, keys: &Keyring, model: &LoginModel) -> anyhow::Result<()> {
    let json = serde_json::to_vec(model)?;
    let sealed = keys.encrypt(&contexts::anomaly_model("login", model.version), &json)?;
    store.put(NS, &key(model.version), sealed.as_bytes())?;
    Ok(())
}

/// Seals every stored model again under the primary key (`crypto rewrap`).
pub fn rewrap(store: &Store, keys: &Keyring) -> anyhow::Result<crate::auth::RewrapCount> {
    let mut count = crate::auth::sealed::rewrap_namespace(store, keys, NS, PREFIX, |k| {
        let version = k.strip_prefix(PREFIX)?.parse().ok()?;
        Some(contexts::anomaly_model("login", version))
    })?;
    count.namespace = "anomaly models".into();
    Ok(count)
}

/// How many stored models each master key sealed.
pub fn kid_counts(store: &Store) -> anyhow::Result<crate::auth::sealed::KidCounts> {
    Ok(crate::auth::sealed::kid_counts(store, NS, PREFIX)?)
}

/// The newest model, if any was trained.
pub fn latest(store: &Store, keys: &Keyring) -> anyhow::Result<Option<LoginModel>> {
    let Some((k, sealed)) = store
        .list(NS, PREFIX)?
        .into_iter()
        .max_by(|a, b| a.0.cmp(&b.0))
    else {
        return Ok(None);
    };
    let version: u64 = k
        .strip_prefix(PREFIX)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("stored model {k:?} has no version"))?;
    let opened = std::str::from_utf8(&sealed)
        .map_err(anyhow::Error::from)
        .and_then(|s| Ok(keys.decrypt(&contexts::anomaly_model("login", version), s)?))
        .and_then(|plain| Ok(serde_json::from_slice::<LoginModel>(&plain)?));
    let model = opened.map_err(|e| anyhow::anyhow!("stored model {k:?} does not open: {e}"))?;
    anyhow::ensure!(
        model.format == FORMAT && model.version == version,
        "stored model {k:?} is format {} version {}, expected format {FORMAT} version {version}",
        model.format,
        model.version
    );
    Ok(Some(model))
}

/// The audit history replayed: its sign-ins and what each user did.
#[derive(Debug, Default)]
pub struct Replay {
    /// The sign-ins at or after the cut-off, in time order.
    pub logins: Vec<Login>,
    /// Every user's state after the last event (for scoring what comes next).
    pub history: LoginHistory,
    /// Events read, and lines that were not an event.
    pub events: usize,
    pub unreadable: usize,
}

impl Replay {
    /// Takes complete JSON lines of the audit log (in time order) into the
    /// history; returns their sign-ins from `since_ms` on.
    pub fn feed(&mut self, lines: &[u8], since_ms: i64) -> Vec<Login> {
        let mut logins = Vec::new();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(event) = serde_json::from_slice::<SecurityEvent>(line) else {
                self.unreadable += 1;
                continue;
            };
            self.events += 1;
            if let Some(login) = self.history.observe(&event)
                && login.at.timestamp_millis() >= since_ms
            {
                logins.push(login);
            }
        }
        logins
    }
}

/// Replays the local audit log `follower` reads (every month, oldest first),
/// keeping the sign-ins from `since_ms` (unix ms) on.
pub fn replay(follower: &mut LocalFollower, since_ms: i64) -> std::io::Result<Replay> {
    let mut r = Replay::default();
    for chunk in follower.poll()? {
        let logins = r.feed(&chunk, since_ms);
        r.logins.extend(logins);
    }
    Ok(r)
}
