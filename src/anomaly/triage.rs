//! Triage of detected anomalies: each `*_anomaly_detected` event has a
//! status (new until marked: acknowledged, resolved or false positive), kept
//! in the store under the detected event's id.
//!
//! A mark names the event that was scored (`source_event`, the sign-in,
//! API window or deployment): training leaves out the events whose anomaly
//! was marked false positive, so feedback reaches the next model.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::audit::SecurityEvent;
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

/// Every anomaly kind's detected event ends so (`login_anomaly_detected`,
/// `api_anomaly_detected`, ...).
pub const DETECTED_SUFFIX: &str = "_anomaly_detected";

/// The event recorded when an operator marks an anomaly.
pub const MARKED: &str = "anomaly_marked";

/// The fewest characters of an id that name an anomaly (as session ids).
pub const MIN_PREFIX: usize = 6;

/// Whether events of this type are detected anomalies.
pub fn is_detected(event_type: &str) -> bool {
    event_type.len() > DETECTED_SUFFIX.len() && event_type.ends_with(DETECTED_SUFFIX)
}

/// The short form of an anomaly's id that lists show (its first 8 characters).
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl Status {
    /// Still to be dealt with: new or acknowledged.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Acknowledged)
    }

    /// As the command line spells it (`false-positive`).
    pub fn word(self) -> &'static str {
        match self {
            Status::FalsePositive => "false-positive",
            s => s.as_str(),
        }
    }
}

/// A detected anomaly (its `*_anomaly_detected` event) with its mark.
#[derive(Debug, Clone)]
pub struct Anomaly {
    pub event: SecurityEvent,
    pub mark: Option<Mark>,
}

/// How risky, ordered: low < medium < high < critical (unknown words lowest).
pub fn risk_rank(risk: &str) -> u8 {
    match risk {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

impl Anomaly {
    pub fn new(event: SecurityEvent, marks: &HashMap<String, Mark>) -> Self {
        let mark = marks.get(&event.id).cloned();
        Self { event, mark }
    }

    pub fn id(&self) -> &str {
        &self.event.id
    }

    pub fn status(&self) -> Status {
        self.mark.as_ref().map_or(Status::New, |m| m.status)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.event.details.get(key).and_then(|v| v.as_str())
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.event.details.get(key).and_then(|v| v.as_f64())
    }

    /// `login`, `api`, `deployment`: the details' kind, else the type's prefix.
    pub fn kind(&self) -> &str {
        self.text("kind").unwrap_or_else(|| {
            self.event
                .event_type
                .strip_suffix(DETECTED_SUFFIX)
                .unwrap_or(&self.event.event_type)
        })
    }

    /// The user the anomaly is about, if it is about one.
    pub fn user(&self) -> Option<&str> {
        self.event.user_id.as_deref().or_else(|| self.text("user"))
    }

    /// What the anomaly is about: the deployment when it names one, else the user.
    pub fn entity(&self) -> &str {
        self.text("deployment")
            .or_else(|| self.user())
            .unwrap_or("-")
    }

    /// When the scored event happened (else when it was detected).
    pub fn at(&self) -> &str {
        self.text("at").unwrap_or(&self.event.timestamp)
    }

    /// When it was detected, in Unix milliseconds.
    pub fn detected_ms(&self) -> i64 {
        crate::audit::tail::timestamp_ms(&self.event.timestamp).unwrap_or(0)
    }

    pub fn score(&self) -> Option<f64> {
        self.number("score")
    }

    pub fn threshold(&self) -> Option<f64> {
        self.number("threshold")
    }

    pub fn percentile(&self) -> Option<f64> {
        self.number("percentile")
    }

    pub fn risk(&self) -> &str {
        self.text("risk").unwrap_or("-")
    }

    pub fn explanation(&self) -> &str {
        self.text("explanation").unwrap_or("")
    }

    /// The id of the scored event (the sign-in, API window or deployment).
    pub fn source_event(&self) -> Option<&str> {
        self.text("source_event")
            .or_else(|| self.text("signin_event"))
    }

    /// Each feature's name and value, in the details' order.
    pub fn features(&self) -> Vec<(String, String)> {
        self.event
            .details
            .get("features")
            .and_then(|f| f.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let shown = match v {
                            serde_json::Value::Number(n) => match n.as_f64() {
                                Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
                                    format!("{x:.0}")
                                }
                                Some(x) => format!("{x:.4}"),
                                None => n.to_string(),
                            },
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), shown)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The text a filter matches: id, kind, entity, risk, status and the words.
    pub fn haystack(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            short(self.id()),
            self.kind(),
            self.entity(),
            self.risk(),
            self.status().as_str(),
            self.explanation()
        )
    }

    /// The explanation in lines (`anomaly explain` and the pane's detail):
    /// plain text, to be shown through the display boundary.
    pub fn explain_lines(&self) -> Vec<(String, String)> {
        let num = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.4}"));
        let verdict = match (self.score(), self.threshold()) {
            (Some(s), Some(t)) if s > t => format!("{} > threshold {}", num(Some(s)), num(Some(t))),
            (Some(s), Some(t)) => format!("{} <= threshold {}", num(Some(s)), num(Some(t))),
            (s, _) => format!("{} (threshold not recorded)", num(s)),
        };
        let mut lines = vec![
            ("id".to_owned(), self.id().to_owned()),
            ("kind".to_owned(), self.kind().to_owned()),
            (
                if self.text("deployment").is_some() {
                    "deployment"
                } else {
                    "user"
                }
                .to_owned(),
                self.entity().to_owned(),
            ),
            ("at".to_owned(), self.at().to_owned()),
            ("detected".to_owned(), self.event.timestamp.clone()),
            ("score".to_owned(), verdict),
            (
                "percentile".to_owned(),
                self.percentile().map_or("-".to_owned(), |p| {
                    format!("{p:.1} (higher than {p:.1}% of the training events)")
                }),
            ),
            ("risk".to_owned(), self.risk().to_owned()),
            (
                "status".to_owned(),
                match &self.mark {
                    None => "new (not marked yet)".to_owned(),
                    Some(m) => format!("{} by {} at {}", m.status.as_str(), m.by, m.at),
                },
            ),
            (
                "detector".to_owned(),
                format!(
                    "{} model version {}",
                    self.text("detector").unwrap_or("-"),
                    self.event
                        .details
                        .get("model_version")
                        .map_or("-".to_owned(), |v| v.to_string())
                ),
            ),
            ("why".to_owned(), self.explanation().to_owned()),
        ];
        for (name, value) in self.features() {
            lines.push((format!("  {name}"), value));
        }
        if let Some(s) = self.source_event() {
            lines.push(("scored event".to_owned(), s.to_owned()));
        }
        lines
    }
}

/// The anomaly `id` names: a whole id, or a prefix of at least
/// [`MIN_PREFIX`] characters that starts exactly one; else why not (to be
/// shown escaped).
pub fn find<'a>(anomalies: &'a [Anomaly], id: &str) -> Result<&'a Anomaly, String> {
    if let Some(a) = anomalies.iter().find(|a| a.id() == id) {
        return Ok(a);
    }
    if id.chars().count() < MIN_PREFIX {
        return Err(format!(
            "no anomaly has the id {id:?}; give the whole id or at least {MIN_PREFIX} of its first characters (`anomaly list` shows them)"
        ));
    }
    let mut found: Vec<&Anomaly> = anomalies
        .iter()
        .filter(|a| a.id().starts_with(id))
        .collect();
    found.sort_by(|a, b| a.id().cmp(b.id()));
    found.dedup_by(|a, b| a.id() == b.id());
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no anomaly id starts with {id:?} (`anomaly list --since 30d` shows them)"
        )),
        many => Err(format!(
            "{id:?} starts {} anomaly ids: {}; give more characters",
            many.len(),
            many.iter().map(|a| a.id()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Marks `a` as `status` by the operator `by`: records `anomaly_marked`
/// (by them) and then keeps the mark; nothing is kept when the event
/// cannot be recorded. Returns the mark and the status it had.
pub fn record_mark(
    store: &Store,
    audit: &crate::audit::Audit,
    a: &Anomaly,
    status: Status,
    by: &str,
) -> anyhow::Result<(Mark, Status)> {
    let was = get(store, a.id())?.map_or(Status::New, |m| m.status);
    let m = Mark {
        status,
        by: by.to_owned(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        kind: a.kind().to_owned(),
        source_event: a.source_event().map(str::to_owned),
    };
    audit
        .emit(
            MARKED,
            Some(by),
            serde_json::json!({
                "anomaly": a.id(),
                "kind": m.kind,
                "entity": a.entity(),
                "status": status.as_str(),
                "was": was.as_str(),
                "source_event": m.source_event,
            }),
        )
        .map_err(|e| anyhow::anyhow!("the mark was not kept: recording it failed: {e}"))?;
    mark(store, a.id(), &m).map_err(|e| {
        anyhow::anyhow!("the mark was recorded in the audit log but not kept in the store: {e:#}")
    })?;
    Ok((m, was))
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

    fn detected(id: &str, user: &str, details: serde_json::Value) -> SecurityEvent {
        let mut e = SecurityEvent::new("login_anomaly_detected", Some(user), details);
        e.id = id.into();
        e
    }

    #[test]
    fn detected_types_are_named_by_their_suffix() {
        for t in [
            "login_anomaly_detected",
            "api_anomaly_detected",
            "deployment_anomaly_detected",
        ] {
            assert!(is_detected(t), "{t}");
        }
        for t in [
            "_anomaly_detected",
            "anomaly_marked",
            "anomaly_model_trained",
            "login_anomaly",
        ] {
            assert!(!is_detected(t), "{t}");
        }
    }

    #[test]
    fn ids_are_found_whole_or_by_a_unique_prefix_of_six_or_more() {
        let list: Vec<Anomaly> = ["abcdef01-aa", "abcdef02-bb", "12345678-cc"]
            .iter()
            .map(|id| Anomaly::new(detected(id, "u", serde_json::json!({})), &HashMap::new()))
            .collect();
        assert_eq!(find(&list, "12345678-cc").unwrap().id(), "12345678-cc");
        assert_eq!(find(&list, "123456").unwrap().id(), "12345678-cc");
        assert_eq!(find(&list, "abcdef02").unwrap().id(), "abcdef02-bb");
        let many = find(&list, "abcdef").unwrap_err();
        assert!(
            many.contains("starts 2 anomaly ids: abcdef01-aa, abcdef02-bb"),
            "{many}"
        );
        assert!(find(&list, "12345").unwrap_err().contains("at least 6"));
        assert!(
            find(&list, "999999")
                .unwrap_err()
                .contains("no anomaly id starts with")
        );
    }

    #[test]
    fn an_anomaly_reads_its_details_and_explains_itself() {
        let d = serde_json::json!({
            "kind": "deployment", "deployment": "shop", "score": 0.62, "threshold": 0.5,
            "percentile": 99.2, "risk": "high", "explanation": "shop deployed at 03:00 UTC",
            "source_event": "dep-1", "features": {"hour": 3, "images_new": 0.25},
        });
        let a = Anomaly::new(detected("x1", "ops", d), &HashMap::new());
        assert_eq!(
            (a.kind(), a.entity(), a.user()),
            ("deployment", "shop", Some("ops"))
        );
        assert_eq!(a.source_event(), Some("dep-1"));
        assert_eq!(a.status(), Status::New);
        let lines = a.explain_lines();
        let get = |k: &str| lines.iter().find(|(l, _)| l == k).map(|(_, v)| v.as_str());
        assert_eq!(get("score"), Some("0.6200 > threshold 0.5000"));
        assert_eq!(get("deployment"), Some("shop"));
        assert_eq!(get("  hour"), Some("3"));
        assert_eq!(get("  images_new"), Some("0.2500"));
        assert_eq!(get("status"), Some("new (not marked yet)"));
        // A login anomaly names its sign-in; without a kind, the type says it.
        let l = Anomaly::new(
            detected(
                "x2",
                "bob",
                serde_json::json!({"signin_event": "s9", "score": 0.4, "threshold": 0.5}),
            ),
            &HashMap::new(),
        );
        assert_eq!(
            (l.kind(), l.entity(), l.source_event()),
            ("login", "bob", Some("s9"))
        );
        assert!(
            l.explain_lines()
                .iter()
                .any(|(_, v)| v == "0.4000 <= threshold 0.5000")
        );
    }

    #[test]
    fn a_mark_is_recorded_then_kept_and_nothing_is_kept_when_recording_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sink = std::sync::Arc::new(crate::audit::MemorySink::default());
        let audit = crate::audit::Audit::new(sink.clone());
        let a = Anomaly::new(
            detected(
                "a9",
                "bob",
                serde_json::json!({"kind": "login", "signin_event": "s9"}),
            ),
            &HashMap::new(),
        );
        let (m, was) = record_mark(&store, &audit, &a, Status::FalsePositive, "ops").unwrap();
        assert_eq!(
            (m.status, was, m.source_event.as_deref()),
            (Status::FalsePositive, Status::New, Some("s9"))
        );
        assert_eq!(get(&store, "a9").unwrap(), Some(m));
        let events = sink.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, MARKED);
        assert_eq!(events[0].user_id.as_deref(), Some("ops"));
        assert_eq!(events[0].details["status"], "false_positive");
        assert_eq!(events[0].details["anomaly"], "a9");
        assert_eq!(
            false_positives(&store, "login").unwrap(),
            HashSet::from(["s9".to_owned()])
        );
        // An audit log that refuses: the mark is not kept.
        let refusing = crate::audit::Audit::new(std::sync::Arc::new(Refusing));
        let err = record_mark(&store, &refusing, &a, Status::Resolved, "ops").unwrap_err();
        assert!(
            format!("{err:#}").contains("the mark was not kept"),
            "{err:#}"
        );
        assert_eq!(
            get(&store, "a9").unwrap().unwrap().status,
            Status::FalsePositive
        );
    }

    struct Refusing;
    impl crate::audit::AuditSink for Refusing {
        fn record(&self, _: &SecurityEvent) -> Result<(), crate::audit::AuditError> {
            Err(crate::audit::AuditError::io(
                "/nowhere".into(),
                std::io::Error::other("refused"),
            ))
        }
    }
}
