//! Triage of detected anomalies: each `*_anomaly_detected` event has a
//! status (new until marked: acknowledged, resolved or false positive), kept
//! in the store under the detected event's id.
//!
//! A mark names the event that was scored (`source_event`, the sign-in,
//! API window or deployment): training leaves out the events whose anomaly
//! was marked false positive, so feedback reaches the next model.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::store::Store;

/// The store namespace (shared with the models).
pub const NS: &str = super::logins::NS;
const PREFIX: &str = "status/";

/// Where an anomaly stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    Resolved,
    FalsePositive,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::New,
        Status::Acknowledged,
        Status::Resolved,
        Status::FalsePositive,
    ];

    /// The word used on the command line, in JSON and in the pane.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
            Status::FalsePositive => "false_positive",
        }
    }

    /// Parses the command line's words (`ack`, `resolved`, `false-positive`
    /// and the JSON spellings).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "new" => Ok(Status::New),
            "ack" | "acknowledged" => Ok(Status::Acknowledged),
            "resolved" | "resolve" => Ok(Status::Resolved),
            "false-positive" | "false_positive" | "fp" => Ok(Status::FalsePositive),
            other => Err(format!(
                "unknown status {other:?}: ack, resolved, false-positive (or new)"
            )),
        }
    }
}

/// A mark made by an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub status: Status,
    /// The operator who marked it.
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The kind of anomaly (`login`, `api`, `deployment`).
    pub kind: String,
    /// The id of the event that was scored, when the anomaly names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event: Option<String>,
}

fn key(anomaly_id: &str) -> String {
    format!("{PREFIX}{anomaly_id}")
}

/// Keeps `mark` for the anomaly `anomaly_id` (the detected event's id);
/// returns the status it had.
pub fn mark(store: &Store, anomaly_id: &str, mark: &Mark) -> anyhow::Result<Status> {
    let before = get(store, anomaly_id)?.map_or(Status::New, |m| m.status);
    store.put(NS, &key(anomaly_id), &serde_json::to_vec(mark)?)?;
    Ok(before)
}

/// The mark of one anomaly, if it was marked.
pub fn get(store: &Store, anomaly_id: &str) -> anyhow::Result<Option<Mark>> {
    store
        .get(NS, &key(anomaly_id))?
        .map(|v| {
            serde_json::from_slice(&v)
                .map_err(|e| anyhow::anyhow!("the mark of anomaly {anomaly_id} does not read: {e}"))
        })
        .transpose()
}

/// Every mark, by anomaly id. A mark that does not read is an error naming
/// it (a status is never guessed).
pub fn all(store: &Store) -> anyhow::Result<HashMap<String, Mark>> {
    store
        .list(NS, PREFIX)?
        .into_iter()
        .map(|(k, v)| {
            let id = k.strip_prefix(PREFIX).unwrap_or(&k).to_owned();
            let m = serde_json::from_slice(&v)
                .map_err(|e| anyhow::anyhow!("the mark of anomaly {id} does not read: {e}"))?;
            Ok((id, m))
        })
        .collect()
}

/// The scored events whose anomaly of `kind` was marked false positive:
/// the next training of that kind leaves them out.
pub fn false_positives(store: &Store, kind: &str) -> anyhow::Result<HashSet<String>> {
    Ok(all(store)?
        .into_values()
        .filter(|m| m.status == Status::FalsePositive && m.kind == kind)
        .filter_map(|m| m.source_event)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark_of(status: Status, kind: &str, source: &str) -> Mark {
        Mark {
            status,
            by: "ops".into(),
            at: "2026-12-04T10:00:00Z".into(),
            kind: kind.into(),
            source_event: Some(source.into()),
        }
    }

    #[test]
    fn marks_are_kept_and_false_positives_are_named_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(get(&store, "a1").unwrap(), None);
        let was = mark(&store, "a1", &mark_of(Status::Acknowledged, "login", "s1")).unwrap();
        assert_eq!(was, Status::New);
        let was = mark(&store, "a1", &mark_of(Status::FalsePositive, "login", "s1")).unwrap();
        assert_eq!(was, Status::Acknowledged);
        mark(&store, "a2", &mark_of(Status::Resolved, "login", "s2")).unwrap();
        mark(&store, "a3", &mark_of(Status::FalsePositive, "api", "w3")).unwrap();
        assert_eq!(all(&store).unwrap().len(), 3);
        let fp = false_positives(&store, "login").unwrap();
        assert_eq!(fp, HashSet::from(["s1".to_owned()]));
        assert_eq!(
            false_positives(&store, "api").unwrap(),
            HashSet::from(["w3".to_owned()])
        );
    }

    #[test]
    fn status_words_parse_and_name_the_choices() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Ok(s));
        }
        assert_eq!(Status::parse("ack"), Ok(Status::Acknowledged));
        assert_eq!(Status::parse("false-positive"), Ok(Status::FalsePositive));
        let err = Status::parse("done").unwrap_err();
        assert!(err.contains("ack, resolved, false-positive"), "{err}");
    }
}
