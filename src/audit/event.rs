//! The security event: who did what, when, from where, and how much it matters.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// How much an event matters, from the table in `assets/audit/event_types.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The severity of `event_type`; types missing from the table are [`Severity::Medium`].
    pub fn of(event_type: &str) -> Self {
        severity_table()
            .get(event_type)
            .copied()
            .unwrap_or(Severity::Medium)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event types table, shipped in the binary.
const EVENT_TYPES: &str = include_str!("../../assets/audit/event_types.toml");

#[derive(Deserialize)]
struct EventTypes {
    severity: BTreeMap<String, Severity>,
    /// The compliance requirements each type is evidence for.
    #[serde(default)]
    tags: BTreeMap<String, Vec<String>>,
}

fn types_table() -> &'static EventTypes {
    static TABLE: OnceLock<EventTypes> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The file is part of the build and checked by a unit test.
        toml::from_str::<EventTypes>(EVENT_TYPES).unwrap_or(EventTypes {
            severity: BTreeMap::new(),
            tags: BTreeMap::new(),
        })
    })
}

/// The framework tags of `event_type` (`pci_dss_10.2.4`, `tsc_CC6.1`, ...).
pub fn framework_tags(event_type: &str) -> &'static [String] {
    types_table()
        .tags
        .get(event_type)
        .map_or(&[], Vec::as_slice)
}

/// The event types carrying `tag`.
pub fn types_tagged(tag: &str) -> Vec<&'static str> {
    types_table()
        .tags
        .iter()
        .filter(|(_, tags)| tags.iter().any(|t| t == tag))
        .map(|(t, _)| t.as_str())
        .collect()
}

fn severity_table() -> &'static BTreeMap<String, Severity> {
    &types_table().severity
}

/// Where an action came from: filled once per process (see [`Origin::detect`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
}

impl Origin {
    /// The SSH client address (from `SSH_CONNECTION` or `SSH_CLIENT`) and
    /// `user_agent`, e.g. `windflow-cli/0.1.0`.
    pub fn detect(user_agent: &str) -> Self {
        let ssh_ip = ["SSH_CONNECTION", "SSH_CLIENT"].iter().find_map(|var| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        });
        Self {
            ip_address: ssh_ip,
            user_agent: Some(user_agent.to_owned()),
            session_id: None,
        }
    }
}

/// One security event, as written to every sink (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityEvent {
    /// Random, UUID-shaped hex.
    pub id: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub event_type: String,
    pub user_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    /// A JSON object with what is specific to the event type. Never a secret.
    pub details: serde_json::Value,
    pub severity: Severity,
    pub tags: Vec<String>,
}

impl SecurityEvent {
    /// An event happening now; `details` that is not an object is wrapped as `{"value": ..}`.
    pub fn new(event_type: &str, user_id: Option<&str>, details: serde_json::Value) -> Self {
        let details = match details {
            serde_json::Value::Object(_) => details,
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            other => serde_json::json!({ "value": other }),
        };
        Self {
            id: random_id(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event_type: event_type.to_owned(),
            user_id: user_id.map(str::to_owned),
            ip_address: None,
            user_agent: None,
            session_id: None,
            details,
            severity: Severity::of(event_type),
            tags: vec!["security".into(), "audit".into(), event_type.to_owned()],
        }
    }

    /// Fills the origin fields that are still empty.
    pub fn with_origin(mut self, origin: &Origin) -> Self {
        let fill = |field: &mut Option<String>, value: &Option<String>| {
            if field.is_none() {
                field.clone_from(value);
            }
        };
        fill(&mut self.ip_address, &origin.ip_address);
        fill(&mut self.user_agent, &origin.user_agent);
        fill(&mut self.session_id, &origin.session_id);
        self
    }

    /// `YYYY-MM` of the event's timestamp (the month its log file or index is named by).
    pub fn month(&self) -> String {
        // Fast path: UTC timestamps (all we write) start with the month.
        let ts = self.timestamp.as_bytes();
        if ts.len() >= 20
            && ts.ends_with(b"Z")
            && ts[4] == b'-'
            && ts[7] == b'-'
            && ts[..4].iter().chain(&ts[5..7]).all(u8::is_ascii_digit)
        {
            return self.timestamp[..7].to_owned();
        }
        chrono::DateTime::parse_from_rfc3339(&self.timestamp)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now())
            .format("%Y-%m")
            .to_string()
    }
}

/// 16 random bytes as UUID v4 text.
fn random_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_gives_severities() {
        let table: EventTypes = toml::from_str(EVENT_TYPES).expect("event_types.toml parses");
        assert!(table.severity.len() >= 15);
        assert_eq!(Severity::of("mfa_success"), Severity::Low);
        assert_eq!(Severity::of("mfa_lockout"), Severity::High);
        assert_eq!(Severity::of("operator_removed"), Severity::High);
        assert_eq!(Severity::of("no_such_event"), Severity::Medium);
    }

    #[test]
    fn every_tagged_type_is_known_and_its_tags_are_in_wazuh_style() {
        let table: EventTypes = toml::from_str(EVENT_TYPES).unwrap();
        let style = regex::Regex::new(
            r"^(pci_dss_\d+(\.\d+)*|gdpr_[IVX]+_\d+(\.\d+)*(\.[a-z])?|hipaa_164\.\d+(\.[a-z0-9]+)*|tsc_[A-Z]+\d+\.\d+)$",
        )
        .unwrap();
        for (t, tags) in &table.tags {
            assert!(
                table.severity.contains_key(t),
                "{t} is tagged but has no severity"
            );
            for tag in tags {
                assert!(style.is_match(tag), "{t}: {tag}");
            }
        }
        assert!(
            framework_tags("mfa_failure")
                .iter()
                .any(|t| t == "pci_dss_10.2.4")
        );
        assert!(types_tagged("tsc_CC6.1").contains(&"signin_success"));
        assert!(framework_tags("no_such_event").is_empty());
    }

    #[test]
    fn new_event_shape() {
        let ev = SecurityEvent::new("mfa_failure", Some("alice"), serde_json::json!(null));
        assert_eq!(ev.tags, ["security", "audit", "mfa_failure"]);
        assert_eq!(ev.severity, Severity::Medium);
        assert!(ev.details.is_object());
        assert_eq!(ev.id.len(), 36);
        assert!(ev.timestamp.ends_with('Z'));
        assert_eq!(ev.month(), ev.timestamp[..7]);
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["severity"], "medium");
        assert_eq!(json["user_id"], "alice");
        let origin = Origin {
            ip_address: Some("10.0.0.7".into()),
            ..Origin::default()
        };
        assert_eq!(
            ev.with_origin(&origin).ip_address.as_deref(),
            Some("10.0.0.7")
        );
    }
}
