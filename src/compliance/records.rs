//! Evidence and waivers, in the embedded store (namespace `compliance`, one
//! key per deployment and control, so several processes can write): who
//! added them, when, and when they expire. An expired one satisfies nothing
//! and is shown as expired.

use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

pub const NS: &str = "compliance";

/// A manual control's proof: a link to the document and a note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub deployment: String,
    pub control: String,
    pub link: String,
    pub note: String,
    pub by: String,
    pub added_at: i64,
    pub expires_at: i64,
}

/// A failing or undecided control accepted, with why, by whom, until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    pub deployment: String,
    pub control: String,
    pub reason: String,
    pub by: String,
    pub granted_at: i64,
    pub expires_at: i64,
}

/// Whether a record is current at `now`.
pub fn current(expires_at: i64, now: i64) -> bool {
    now < expires_at
}

fn key(kind: &str, deployment: &str, control: &str) -> String {
    format!("{kind}/{deployment}/{control}")
}

/// Every evidence and waiver, read once per check run.
#[derive(Clone, Debug, Default)]
pub struct Records {
    pub evidence: Vec<Evidence>,
    pub waivers: Vec<Waiver>,
    /// Records that could not be read (named by key): never dropped silently.
    pub problems: Vec<String>,
}

impl Records {
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        let mut out = Records::default();
        for (k, bytes) in store.list(NS, "evidence/")? {
            match serde_json::from_slice(&bytes) {
                Ok(e) => out.evidence.push(e),
                Err(e) => out.problems.push(format!("{NS}/{k}: {e}")),
            }
        }
        for (k, bytes) in store.list(NS, "waiver/")? {
            match serde_json::from_slice(&bytes) {
                Ok(w) => out.waivers.push(w),
                Err(e) => out.problems.push(format!("{NS}/{k}: {e}")),
            }
        }
        Ok(out)
    }

    pub fn evidence_for(&self, deployment: &str, control: &str) -> Option<&Evidence> {
        self.evidence
            .iter()
            .find(|e| e.deployment == deployment && e.control == control)
    }

    pub fn waiver_for(&self, deployment: &str, control: &str) -> Option<&Waiver> {
        self.waivers
            .iter()
            .find(|w| w.deployment == deployment && w.control == control)
    }
}

/// Stores `e`, replacing the evidence of its control.
pub fn put_evidence(store: &Store, e: &Evidence) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(e).unwrap_or_default();
    store.put(NS, &key("evidence", &e.deployment, &e.control), &bytes)
}

/// Stores `w`, replacing the waiver of its control.
pub fn put_waiver(store: &Store, w: &Waiver) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(w).unwrap_or_default();
    store.put(NS, &key("waiver", &w.deployment, &w.control), &bytes)
}

/// Keeps `e` and records `compliance_evidence_added` under its author.
pub fn add_evidence(
    store: &Store,
    audit: &crate::audit::Audit,
    e: &Evidence,
) -> Result<(), String> {
    put_evidence(store, e).map_err(|err| format!("evidence not stored: {err}"))?;
    audited(
        audit,
        "compliance_evidence_added",
        &e.by,
        serde_json::json!({"deployment": e.deployment, "control": e.control, "link": e.link, "expires_at": super::eval::rfc3339(e.expires_at)}),
    )
}

/// Keeps `w` and records `compliance_waiver_granted` under its author.
pub fn add_waiver(store: &Store, audit: &crate::audit::Audit, w: &Waiver) -> Result<(), String> {
    put_waiver(store, w).map_err(|err| format!("waiver not stored: {err}"))?;
    audited(
        audit,
        "compliance_waiver_granted",
        &w.by,
        serde_json::json!({"deployment": w.deployment, "control": w.control, "reason": w.reason, "expires_at": super::eval::rfc3339(w.expires_at)}),
    )
}

fn audited(
    audit: &crate::audit::Audit,
    event: &str,
    by: &str,
    details: serde_json::Value,
) -> Result<(), String> {
    audit
        .emit(event, Some(by), details)
        .map(drop)
        .map_err(|e| format!("stored, but the audit event {event} was not recorded: {e}"))
}

/// How long evidence and a waiver may last at most, in days.
pub const EVIDENCE_MAX_DAYS: i64 = 1095;
pub const WAIVER_MAX_DAYS: i64 = 365;

/// `90d` to seconds: more than nothing, at most `max_days`.
pub fn lifetime(what: &str, text: &str, max_days: i64) -> Result<i64, String> {
    let secs =
        crate::secrets::model::parse_duration(text).map_err(|e| format!("{what} `{text}`: {e}"))?;
    if secs <= 0 || secs > max_days * 86_400 {
        return Err(format!(
            "{what} `{text}`: more than nothing and at most {max_days}d"
        ));
    }
    Ok(secs)
}

/// A note, a link or a reason: one line of text, not empty, not huge.
pub fn check_text(what: &str, s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 2000 || t.chars().any(char::is_control) {
        return Err(format!(
            "{what} must be 1 to 2000 characters on one line, without control characters"
        ));
    }
    Ok(t.to_string())
}

/// A link to evidence: an http(s) URL.
pub fn check_link(s: &str) -> Result<String, String> {
    let t = check_text("--link", s)?;
    match url::Url::parse(&t) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(t),
        _ => Err(format!(
            "--link `{t}` is not an http(s) URL (where the evidence can be read)"
        )),
    }
}
