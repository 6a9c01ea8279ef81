//! Drift as the agent records it: each deployment's drift from its plan with
//! a severity, and a [`Tracker`] that says what is new, what changed and
//! what went away since the last check, so that a drift is recorded once
//! when it appears or changes, and once more when it is resolved.
//!
//! Severity by kind: a direction not denied by default is critical (the
//! namespace is open); a Pod Security level lowered, a NetworkPolicy the
//! plan does not have (it can only widen what is allowed) or an object
//! another manager edited is high; other objects missing or changed are
//! medium; quota use over 80 % is low.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::cluster::ForeignEdit;
use super::plan::Action;
use super::status::Status;
use crate::audit::Severity;

/// One deployment's drift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub deployment: String,
    pub namespace: String,
    pub severity: Severity,
    /// One sentence per drift, in the status's order.
    pub drift: Vec<String>,
}

/// The finding of one deployment's status (and, from a cluster, the edits
/// other managers made to its objects); `None` when nothing drifted.
pub fn finding(status: &Status, foreign: &[ForeignEdit]) -> Option<Finding> {
    let mut drift = status.drift.clone();
    let mut severity = Severity::Medium;
    let mut raise = |s: Severity| severity = severity.max(s);
    if status.namespace_present {
        if !status.ingress_denied || !status.egress_denied {
            raise(Severity::Critical);
        }
        let extra_policy = status
            .diff
            .changes
            .iter()
            .any(|c| c.action == Action::Extra && c.kind == "NetworkPolicy");
        if status.psa.lowered || extra_policy {
            raise(Severity::High);
        }
    }
    let edits = foreign_lines(&status.namespace, foreign);
    if !edits.is_empty() {
        raise(Severity::High);
    }
    drift.extend(edits);
    if drift.is_empty() {
        if status.quota_warnings.is_empty() {
            return None;
        }
        severity = Severity::Low;
    }
    drift.extend(status.quota_warnings.iter().map(|q| {
        format!(
            "quota {}: {} over {} % of its limit",
            q.quota,
            q.resource,
            (super::status::QUOTA_WARN * 100.0) as u32
        )
    }));
    Some(Finding {
        deployment: status.deployment.clone(),
        namespace: status.namespace.clone(),
        severity,
        drift,
    })
}

/// The edits other managers made to the objects of `namespace`, one
/// sentence each.
pub fn foreign_lines(namespace: &str, foreign: &[ForeignEdit]) -> Vec<String> {
    foreign
        .iter()
        .filter(|f| f.object.namespace.as_deref() == Some(namespace) || f.object.name == namespace)
        .map(|f| {
            format!(
                "{} edited by {} ({}): {}",
                f.object,
                f.by.manager,
                f.by.operation,
                f.by.fields.join(" ")
            )
        })
        .collect()
}

/// What a check found: the findings by deployment, the deployments checked,
/// and whether the whole state could be read (when not, nothing is taken
/// as resolved).
#[derive(Clone, Debug, Default)]
pub struct Check {
    pub findings: BTreeMap<String, Finding>,
    pub checked: BTreeSet<String>,
    pub complete: bool,
}

/// What to record after a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// New drift, or drift that changed since the last record (`before`).
    Drift {
        now: Finding,
        before: Option<Finding>,
    },
    /// Drift recorded before that is gone, or whose deployment's spec was
    /// removed (no longer checked: not said to be as planned).
    Resolved { was: Finding, spec_removed: bool },
}

/// The drift last recorded, by deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    pub recorded: BTreeMap<String, Finding>,
}

impl Tracker {
    /// What differs between the last records and this check. Call
    /// [`Tracker::recorded`] for each once it is recorded.
    pub fn changes(&self, check: &Check) -> Vec<Record> {
        let mut out = Vec::new();
        for (id, now) in &check.findings {
            let before = self.recorded.get(id);
            if before != Some(now) {
                out.push(Record::Drift {
                    now: now.clone(),
                    before: before.cloned(),
                });
            }
        }
        if check.complete {
            out.extend(
                self.recorded
                    .iter()
                    .filter(|(id, _)| !check.findings.contains_key(*id))
                    .map(|(id, f)| Record::Resolved {
                        was: f.clone(),
                        spec_removed: !check.checked.contains(id),
                    }),
            );
        }
        out
    }

    /// Takes note that `record` is in the audit log.
    pub fn recorded(&mut self, record: &Record) {
        match record {
            Record::Drift { now, .. } => {
                self.recorded.insert(now.deployment.clone(), now.clone());
            }
            Record::Resolved { was, .. } => {
                self.recorded.remove(&was.deployment);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, drift: &[&str], severity: Severity) -> Finding {
        Finding {
            deployment: id.into(),
            namespace: format!("wf-{id}"),
            severity,
            drift: drift.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A check of deployment `a` (and of those with findings).
    fn check(findings: &[Finding], complete: bool) -> Check {
        Check {
            findings: findings
                .iter()
                .map(|f| (f.deployment.clone(), f.clone()))
                .collect(),
            checked: findings
                .iter()
                .map(|f| f.deployment.clone())
                .chain(["a".to_owned()])
                .collect(),
            complete,
        }
    }

    fn run(t: &mut Tracker, c: &Check) -> Vec<Record> {
        let out = t.changes(c);
        for r in &out {
            t.recorded(r);
        }
        out
    }

    #[test]
    fn drift_is_recorded_when_it_appears_or_changes_and_once_when_resolved() {
        let mut t = Tracker::default();
        let a = f("a", &["egress is not denied"], Severity::Critical);
        assert_eq!(
            run(&mut t, &check(std::slice::from_ref(&a), true)),
            [Record::Drift {
                now: a.clone(),
                before: None
            }]
        );
        // The same drift again: nothing.
        assert!(run(&mut t, &check(std::slice::from_ref(&a), true)).is_empty());
        let a2 = f("a", &["egress is not denied", "x"], Severity::Critical);
        assert_eq!(
            run(&mut t, &check(std::slice::from_ref(&a2), true)),
            [Record::Drift {
                now: a2.clone(),
                before: Some(a)
            }]
        );
        // An incomplete read resolves nothing.
        assert!(run(&mut t, &check(&[], false)).is_empty());
        assert_eq!(
            run(&mut t, &check(&[], true)),
            [Record::Resolved {
                was: a2,
                spec_removed: false
            }]
        );
        assert!(run(&mut t, &check(&[], true)).is_empty());
    }

    #[test]
    fn drift_of_a_removed_spec_is_not_said_to_be_as_planned() {
        let mut t = Tracker::default();
        let b = f("b", &["x"], Severity::Medium);
        run(&mut t, &check(std::slice::from_ref(&b), true));
        assert_eq!(
            run(&mut t, &check(&[], true)),
            [Record::Resolved {
                was: b,
                spec_removed: true
            }]
        );
    }

    #[test]
    fn a_record_not_noted_is_offered_again() {
        let t = Tracker::default();
        let a = f("a", &["x"], Severity::Medium);
        let c = check(&[a], true);
        assert_eq!(t.changes(&c).len(), 1);
        assert_eq!(t.changes(&c).len(), 1);
    }
}
