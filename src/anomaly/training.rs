//! Training every kind's model on the audit history: `windflow anomaly
//! train` (an operator's act) and the agent's retraining on a schedule
//! (`[anomaly] retrain_every`) both come here.
//!
//! The history is the local audit log from a cut-off on, less the scored
//! events whose anomaly an operator marked false positive
//! ([`super::triage::false_positives`], counted in the report). Each kind with
//! enough events gets a new sealed version; one without says so (cold start).

use std::path::Path;

use serde_json::json;

use super::history::{Replay, replay};
use super::models::{self, COLD_START, ColdStart, Kind, Observed, Trained};
use crate::audit::source::LocalFollower;
use crate::crypto::Keyring;
use crate::store::Store;

/// What training did for one kind.
#[derive(Debug)]
pub struct KindReport {
    pub kind: Kind,
    /// The events it was trained on (or that the history holds, cold).
    pub events: usize,
    /// Events left out as marked false positive.
    pub left_out: usize,
    /// The version stored, or why none was.
    pub outcome: Result<u64, ColdStart>,
}

impl KindReport {
    pub fn json(&self) -> serde_json::Value {
        let mut v = match &self.outcome {
            Ok(version) => json!({
                "kind": self.kind.name(),
                "trained": true,
                "version": version,
                "detector": self.kind.detector().name(),
            }),
            Err(cold) => json!({
                "kind": self.kind.name(),
                "trained": false,
                "needed": COLD_START,
                "message": cold.to_string(),
            }),
        };
        v[self.kind.count_key()] = json!(self.events);
        v["false_positives_left_out"] = json!(self.left_out);
        v
    }

    /// One line: `api: model version 3 trained on 288 API windows`.
    pub fn line(&self) -> String {
        let mut s = match &self.outcome {
            Ok(version) => format!(
                "{}: model version {version} trained on {} {}",
                self.kind.name(),
                self.events,
                self.kind.noun()
            ),
            Err(cold) => format!("{}: {cold}", self.kind.name()),
        };
        if self.left_out > 0 {
            s.push_str(&format!(
                " ({} marked false positive left out)",
                self.left_out
            ));
        }
        s
    }
}

fn fit<O: Observed + Clone>(
    store: &Store,
    keys: &Keyring,
    kind: Kind,
    rows: &[O],
    seed: u64,
) -> anyhow::Result<KindReport> {
    let marked = super::triage::false_positives(store, kind.name())?;
    let kept: Vec<&O> = rows
        .iter()
        .filter(|o| !marked.contains(o.source()))
        .collect();
    let left_out = rows.len() - kept.len();
    let kept: Vec<O> = kept.into_iter().cloned().collect();
    let version = models::next_version(store, kind)?;
    let outcome = match Trained::train(kind, &kept, seed, version) {
        Ok(model) => {
            models::save(store, keys, kind, &model)?;
            Ok(version)
        }
        Err(cold) => Err(cold),
    };
    Ok(KindReport {
        kind,
        events: match &outcome {
            Ok(_) => kept.len().min(match kind.detector() {
                super::Detector::IsolationForest => usize::MAX,
                _ => models::MAX_DISTANCE_ROWS,
            }),
            Err(c) => c.have,
        },
        left_out,
        outcome,
    })
}

/// Trains every kind on the local audit log of `data_dir` from `since_ms`
/// (unix ms) on, storing each new model sealed.
pub fn train_all(
    store: &Store,
    keys: &Keyring,
    data_dir: &Path,
    since_ms: i64,
    seed: u64,
) -> anyhow::Result<(Replay, Vec<KindReport>)> {
    let mut follower = LocalFollower::from_start(&data_dir.join("audit"));
    let history = replay(&mut follower, since_ms).map_err(|e| {
        anyhow::anyhow!(
            "reading the audit log in {}: {e}",
            data_dir.join("audit").display()
        )
    })?;
    let reports = vec![
        fit(store, keys, Kind::Login, &history.logins, seed)?,
        fit(store, keys, Kind::Api, &history.api, seed)?,
        fit(store, keys, Kind::Deployment, &history.deployments, seed)?,
    ];
    Ok((history, reports))
}

/// The details of the `anomaly_model_trained` event of a trained kind.
pub fn trained_details(r: &KindReport, version: u64) -> serde_json::Value {
    let mut v = json!({
        "kind": r.kind.name(),
        "version": version,
        "detector": r.kind.detector().name(),
        "false_positives_left_out": r.left_out,
    });
    v[r.kind.count_key()] = json!(r.events);
    v
}
