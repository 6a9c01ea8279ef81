//! The three kinds of anomaly and their models: each kind has its features
//! (taken from the audit stream), its detector, and its trained models,
//! kept sealed in the store (they describe people's habits) in numbered
//! versions.
//!
//! | kind | what is scored | features | detector |
//! |---|---|---|---|
//! | `login` | each sign-in | [`super::features`] | isolation forest |
//! | `api` | each user's API usage in a 5-minute window | [`super::api`] | one-class SVM |
//! | `deployment` | each deployment | [`super::deploys`] | local outlier factor |
//!
//! - Cold start: no model of a kind, hence no alert of that kind, until
//!   the history holds [`COLD_START`] events of it (sign-ins, API windows,
//!   deployments).
//! - The one-class SVM and the local outlier factor measure distances, so
//!   their rows are standardised first (each feature less its training
//!   mean, over its training standard deviation); the isolation forest
//!   splits each feature on its own scale and takes the rows as they are.
//!   They are fitted on the newest [`MAX_DISTANCE_ROWS`] rows at most (their
//!   cost grows with the square of the rows).
//! - Risk is the score's percentile among the training rows' scores: under
//!   95 low, from 95 medium, from 99 high, above every training score
//!   critical.
//! - An event is an anomaly when its score is above the detector's
//!   threshold and its risk is medium or more.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::features::Baseline;
use super::{Detector, Matrix, Model};
use crate::crypto::{Keyring, contexts};
use crate::store::Store;

/// The fewest events of a kind a model is trained on.
pub const COLD_START: usize = 200;
/// The store namespace of trained models.
pub const NS: &str = "anomaly";
/// The most rows the distance-based detectors are fitted on (the newest).
pub const MAX_DISTANCE_ROWS: usize = 3000;
/// The format of a stored model; a newer format is not read by an older build.
const FORMAT: u32 = 1;

/// What is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Login,
    Api,
    Deployment,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Login, Kind::Api, Kind::Deployment];

    /// The name in events, keys and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::Api => "api",
            Kind::Deployment => "deployment",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn detector(self) -> Detector {
        match self {
            Kind::Login => Detector::IsolationForest,
            Kind::Api => Detector::OneClassSvm,
            Kind::Deployment => Detector::LocalOutlierFactor,
        }
    }

    /// The event recorded for an anomaly of this kind.
    pub fn detected_event(self) -> &'static str {
        match self {
            Kind::Login => "login_anomaly_detected",
            Kind::Api => "api_anomaly_detected",
            Kind::Deployment => "deployment_anomaly_detected",
        }
    }

    /// The names of the features, in row order.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Kind::Login => &super::features::LOGIN_FEATURES,
            Kind::Api => &super::api::API_FEATURES,
            Kind::Deployment => &super::deploys::DEPLOY_FEATURES,
        }
    }

    /// What one scored event is called, plural (`sign-ins`, ...).
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Login => "sign-ins",
            Kind::Api => "API windows",
            Kind::Deployment => "deployments",
        }
    }

    /// The model's name in words (`the sign-in model`).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Login => "sign-in",
            Kind::Api => "API usage",
            Kind::Deployment => "deployment",
        }
    }

    /// The key of the count in `anomaly train --json` (`sign_ins`, ...).
    pub fn count_key(self) -> &'static str {
        match self {
            Kind::Login => "sign_ins",
            Kind::Api => "windows",
            Kind::Deployment => "deployments",
        }
    }

    fn prefix(self) -> String {
        format!("{}/", self.name())
    }
}

/// One event of a kind, as the model sees it.
pub trait Observed {
    fn kind(&self) -> Kind;
    /// Its features, in the order of [`Kind::features`].
    fn row(&self) -> &[f64];
    /// Why it differs from the training events, in words.
    fn explain(&self, base: &Baseline) -> String;
    /// The id of what was scored: the sign-in's or deployment's event id,
    /// an API window's id.
    fn source(&self) -> &str;
    fn user(&self) -> &str;
    fn at(&self) -> DateTime<Utc>;
}

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

/// A trained model of one kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trained {
    pub format: u32,
    pub version: u64,
    /// RFC 3339, UTC.
    pub trained_at: String,
    pub model: Model,
    pub baseline: Baseline,
    /// The training rows' scores, ascending.
    scores: Vec<f64>,
    /// Rows are standardised by the baseline before the detector sees them.
    #[serde(default)]
    scaled: bool,
}

/// What the model says of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub score: f64,
    /// Share of training events scoring lower, in percent.
    pub percentile: f64,
    pub risk: Risk,
    pub anomaly: bool,
    pub explanation: String,
}

/// Why no model was trained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{have} {} in the history, {COLD_START} needed: no model, so no {} alerts yet",
    kind.noun(),
    kind.label()
)]
pub struct ColdStart {
    pub kind: Kind,
    pub have: usize,
}

impl Trained {
    /// Fits `kind`'s detector on `rows` (at least [`COLD_START`], in time
    /// order); `version` numbers it.
    pub fn train<O: Observed>(
        kind: Kind,
        rows: &[O],
        seed: u64,
        version: u64,
    ) -> Result<Self, ColdStart> {
        if rows.len() < COLD_START {
            return Err(ColdStart {
                kind,
                have: rows.len(),
            });
        }
        let detector = kind.detector();
        let scaled = detector != Detector::IsolationForest;
        let rows = if scaled && rows.len() > MAX_DISTANCE_ROWS {
            &rows[rows.len() - MAX_DISTANCE_ROWS..]
        } else {
            rows
        };
        let raw: Vec<&[f64]> = rows.iter().map(Observed::row).collect();
        let baseline = Baseline::of_rows(&raw);
        let input: Vec<Vec<f64>> = raw
            .iter()
            .map(|r| {
                if scaled {
                    baseline.standardise(r)
                } else {
                    r.to_vec()
                }
            })
            .collect();
        let x = Matrix::from_rows(&input);
        let (model, mut scores) = Model::fit_scored(detector, &x, seed).expect("enough rows");
        scores.sort_by(f64::total_cmp);
        Ok(Self {
            format: FORMAT,
            version,
            trained_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            model,
            baseline,
            scores,
            scaled,
        })
    }

    /// How many events it was trained on.
    pub fn events(&self) -> usize {
        self.scores.len()
    }

    pub fn assess<O: Observed + ?Sized>(&self, o: &O) -> Assessment {
        let row = if self.scaled {
            self.baseline.standardise(o.row())
        } else {
            o.row().to_vec()
        };
        let score = self.model.score(&row);
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
            explanation: o.explain(&self.baseline),
        }
    }

    /// The details of the `*_anomaly_detected` event for `o`.
    pub fn event_details<O: Observed + ?Sized>(&self, o: &O, a: &Assessment) -> serde_json::Value {
        let features: serde_json::Map<String, serde_json::Value> = o
            .kind()
            .features()
            .iter()
            .zip(o.row())
            .map(|(n, v)| ((*n).to_owned(), json!(v)))
            .collect();
        json!({
            "kind": o.kind().name(),
            "at": o.at().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "user": o.user(),
            "source_event": o.source(),
            "detector": self.model.detector().name(),
            "model_version": self.version,
            "score": a.score,
            "threshold": self.model.threshold(),
            "percentile": a.percentile,
            "risk": a.risk.as_str(),
            "features": features,
            "explanation": a.explanation,
        })
    }
}

fn key(kind: Kind, version: u64) -> String {
    format!("{}{version:010}", kind.prefix())
}

/// The newest stored model's version of `kind`, if any (without opening it).
pub fn latest_version(store: &Store, kind: Kind) -> anyhow::Result<Option<u64>> {
    let prefix = kind.prefix();
    Ok(store
        .list(NS, &prefix)?
        .iter()
        .filter_map(|(k, _)| k.strip_prefix(&prefix)?.parse::<u64>().ok())
        .max())
}

/// The version the next trained model of `kind` gets.
pub fn next_version(store: &Store, kind: Kind) -> anyhow::Result<u64> {
    Ok(latest_version(store, kind)?.map_or(1, |v| v + 1))
}

/// Seals `model` under its kind and version (bound to them: a sealed model
/// moved to another key does not open).
pub fn save(store: &Store, keys: &Keyring, kind: Kind, model: &Trained) -> anyhow::Result<()> {
    let json = serde_json::to_vec(model)?;
    let sealed = keys.encrypt(&contexts::anomaly_model(kind.name(), model.version), &json)?;
    store.put(NS, &key(kind, model.version), sealed.as_bytes())?;
    Ok(())
}

/// The kind and version a stored model's key names.
fn parse_key(k: &str) -> Option<(Kind, u64)> {
    let (kind, version) = k.split_once('/')?;
    Some((Kind::parse(kind)?, version.parse().ok()?))
}

/// Seals every stored model of every kind again under the primary key
/// (`crypto rewrap`).
pub fn rewrap(store: &Store, keys: &Keyring) -> anyhow::Result<crate::auth::RewrapCount> {
    let mut count = crate::auth::sealed::rewrap_namespace(store, keys, NS, "", |k| {
        let (kind, version) = parse_key(k)?;
        Some(contexts::anomaly_model(kind.name(), version))
    })?;
    count.namespace = "anomaly models".into();
    Ok(count)
}

/// How many stored models (every kind) each master key sealed.
pub fn kid_counts(store: &Store) -> anyhow::Result<crate::auth::sealed::KidCounts> {
    let mut all = crate::auth::sealed::KidCounts::new();
    for kind in Kind::ALL {
        for (kid, n) in crate::auth::sealed::kid_counts(store, NS, &kind.prefix())? {
            *all.entry(kid).or_default() += n;
        }
    }
    Ok(all)
}

/// The newest model of `kind`, if one was trained.
pub fn latest(store: &Store, keys: &Keyring, kind: Kind) -> anyhow::Result<Option<Trained>> {
    let Some((k, sealed)) = store
        .list(NS, &kind.prefix())?
        .into_iter()
        .max_by(|a, b| a.0.cmp(&b.0))
    else {
        return Ok(None);
    };
    let version = parse_key(&k)
        .map(|(_, v)| v)
        .ok_or_else(|| anyhow::anyhow!("stored model {k:?} has no version"))?;
    let opened = std::str::from_utf8(&sealed)
        .map_err(anyhow::Error::from)
        .and_then(|s| Ok(keys.decrypt(&contexts::anomaly_model(kind.name(), version), s)?))
        .and_then(|plain| Ok(serde_json::from_slice::<Trained>(&plain)?));
    let model = opened.map_err(|e| anyhow::anyhow!("stored model {k:?} does not open: {e}"))?;
    anyhow::ensure!(
        model.format == FORMAT && model.version == version,
        "stored model {k:?} is format {} version {}, expected format {FORMAT} version {version}",
        model.format,
        model.version
    );
    Ok(Some(model))
}
