//! Each deployment's isolation as a state shows it: is ingress and egress
//! denied by default, which Pod Security level is enforced, how full is the
//! quota, and what drifted from the plan.
//!
//! Drift: the namespace or a planned object missing; a planned object
//! changed (the default-deny's types, a PSA label); a quota, limit range or
//! NetworkPolicy in the namespace that the plan does not have (a policy can
//! only widen what the plan allows); no default-deny for a direction; a
//! Pod Security level lowered. Quota use over [`QUOTA_WARN`] is a warning.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Serialize;

use super::plan::{self, Action, Diff, PSA_LEVEL, PSA_MODES, Plan};
use super::state::ClusterState;
use crate::deployments::quantity;

/// Quota use above this share of the hard limit is a warning.
pub const QUOTA_WARN: f64 = 0.8;

#[derive(Clone, Debug, Serialize)]
pub struct Psa {
    /// The level per mode (enforce, audit, warn); `None` when unlabelled
    /// (the cluster's default applies: privileged unless configured).
    pub levels: Vec<(String, Option<String>)>,
    /// Some mode is below the planned level (or unlabelled).
    pub lowered: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuotaUse {
    pub quota: String,
    pub resource: String,
    pub used: String,
    pub hard: String,
    pub percent: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub deployment: String,
    pub namespace: String,
    pub namespace_present: bool,
    /// A policy selecting every pod denies all ingress that no other allows.
    pub ingress_denied: bool,
    pub egress_denied: bool,
    pub psa: Psa,
    /// Quota resources over [`QUOTA_WARN`] of their limit.
    pub quota_warnings: Vec<QuotaUse>,
    pub diff: Diff,
    /// What differs from the plan, one sentence each.
    pub drift: Vec<String>,
}

impl Status {
    pub fn drifted(&self) -> bool {
        !self.drift.is_empty()
    }
}

/// Whether a policy denies `direction` to every pod of its namespace: it
/// selects all pods, has the direction in its types, and no rule for it.
pub fn denies_all(np: &NetworkPolicy, direction: &str) -> bool {
    let Some(spec) = &np.spec else { return false };
    let selects_all = spec.pod_selector.as_ref().is_none_or(|s| {
        s.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
    });
    let egress_rules = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
    let has_type = match &spec.policy_types {
        Some(types) => types.iter().any(|t| t == direction),
        None => direction == "Ingress" || egress_rules,
    };
    let no_rules = match direction {
        "Ingress" => spec.ingress.as_ref().is_none_or(|r| r.is_empty()),
        _ => !egress_rules,
    };
    selects_all && has_type && no_rules
}

fn rank(level: &str) -> Option<u8> {
    match level {
        "privileged" => Some(0),
        "baseline" => Some(1),
        "restricted" => Some(2),
        _ => None,
    }
}

/// The status of one deployment's plan in a state.
pub fn status(plan: &Plan, state: &ClusterState) -> Status {
    let namespace = plan.namespace_name().to_string();
    let diff = plan::diff(plan, state);
    let live_ns = state
        .namespaces
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(namespace.as_str()));
    let policies: Vec<&NetworkPolicy> = state
        .policies
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .collect();
    let ingress_denied = policies.iter().any(|p| denies_all(p, "Ingress"));
    let egress_denied = policies.iter().any(|p| denies_all(p, "Egress"));
    let labels = live_ns.and_then(|n| n.metadata.labels.as_ref());
    let levels: Vec<(String, Option<String>)> = PSA_MODES
        .iter()
        .map(|m| {
            let key = format!("pod-security.kubernetes.io/{m}");
            (m.to_string(), labels.and_then(|l| l.get(&key)).cloned())
        })
        .collect();
    let planned = rank(PSA_LEVEL).unwrap_or(2);
    let lowered_modes: Vec<&(String, Option<String>)> = levels
        .iter()
        .filter(|(_, l)| l.as_deref().and_then(rank).is_none_or(|r| r < planned))
        .collect();
    let mut drift = Vec::new();
    if live_ns.is_none() {
        drift.push(format!(
            "namespace {namespace} does not exist: the plan is not applied"
        ));
    } else {
        for c in &diff.changes {
            match c.action {
                Action::Create => drift.push(format!("{} {} is missing", c.kind, c.name)),
                Action::Update => drift.push(format!(
                    "{} {} differs from the plan: {}",
                    c.kind,
                    c.name,
                    c.fields.join(", ")
                )),
                Action::Extra => drift.push(format!(
                    "{} {} is not in the plan{}",
                    c.kind,
                    c.name,
                    if c.kind == "NetworkPolicy" {
                        " (it may allow what the plan does not)"
                    } else {
                        ""
                    }
                )),
                Action::Unchanged => {}
            }
        }
        if !ingress_denied {
            drift.push("ingress is not denied by default: no policy denies it to every pod".into());
        }
        if !egress_denied {
            drift.push("egress is not denied by default: no policy denies it to every pod".into());
        }
        for (mode, level) in &lowered_modes {
            drift.push(match level {
                Some(l) => format!("Pod Security {mode} is {l}, below {PSA_LEVEL}"),
                None => format!(
                    "Pod Security {mode} is not set (the cluster default applies), below {PSA_LEVEL}"
                ),
            });
        }
    }
    Status {
        deployment: plan.deployment.clone(),
        namespace: namespace.clone(),
        namespace_present: live_ns.is_some(),
        ingress_denied,
        egress_denied,
        psa: Psa {
            lowered: live_ns.is_some() && !lowered_modes.is_empty(),
            levels,
        },
        quota_warnings: quota_use(state, &namespace),
        diff,
        drift,
    }
}

/// The quota resources of `namespace` used over [`QUOTA_WARN`], when the
/// state has the quotas' `status.used`.
fn quota_use(state: &ClusterState, namespace: &str) -> Vec<QuotaUse> {
    let mut out = Vec::new();
    for q in state
        .quotas
        .iter()
        .filter(|q| q.metadata.namespace.as_deref() == Some(namespace))
    {
        let Some(status) = &q.status else { continue };
        let hard = status
            .hard
            .as_ref()
            .or_else(|| q.spec.as_ref().and_then(|s| s.hard.as_ref()));
        for (resource, used) in status.used.iter().flatten() {
            let Some(limit) = hard.and_then(|h| h.get(resource)) else {
                continue;
            };
            let (Ok(u), Ok(h)) = (quantity::parse(&used.0), quantity::parse(&limit.0)) else {
                continue;
            };
            let full = if h > 0.0 {
                u / h
            } else if u > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if full > QUOTA_WARN {
                out.push(QuotaUse {
                    quota: q.metadata.name.clone().unwrap_or_default(),
                    resource: resource.clone(),
                    used: used.0.clone(),
                    hard: limit.0.clone(),
                    percent: (full * 100.0).min(f64::from(u32::MAX)).round() as u32,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn np(spec: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "n"}, "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn default_deny_per_direction() {
        let both = np(json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}));
        assert!(denies_all(&both, "Ingress") && denies_all(&both, "Egress"));
        // Without policyTypes: Ingress only.
        let bare = np(json!({"podSelector": {}}));
        assert!(denies_all(&bare, "Ingress") && !denies_all(&bare, "Egress"));
        // Allow-all egress isolates but denies nothing.
        let open = np(json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}));
        assert!(!denies_all(&open, "Egress"));
        // Some pods only.
        let some =
            np(json!({"podSelector": {"matchLabels": {"a": "b"}}, "policyTypes": ["Ingress"]}));
        assert!(!denies_all(&some, "Ingress"));
    }
}
