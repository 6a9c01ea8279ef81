//! Roles and the one table of what each action needs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an operator may do. Ordered: `Ingest < Viewer < Operator < Admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A script's identity: records audit events (`audit log`) and nothing
    /// else. It cannot sign in to the console, open a grant or read
    /// anything an operator is needed for.
    Ingest,
    /// Looks at everything that is not a secret value.
    Viewer,
    /// Acts: reveals, rotates and rolls back secrets, revokes sessions.
    Operator,
    /// Manages operators and their second factors.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown role {s:?}: use ingest, viewer, operator or admin"))
    }
}

/// What an action needs: a role at least this high, and whether a fresh
/// second factor (a code now, or an open grant) is needed too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub role: Role,
    pub step_up: bool,
}

const fn need(role: Role, step_up: bool) -> Requirement {
    Requirement { role, step_up }
}

/// Every action the console and the CLI know, with what it needs.
/// An action missing here needs an admin with step-up (fail closed).
pub const ACTIONS: &[(&str, Requirement)] = &[
    // Recording an event with `audit log`: the one action of an ingest identity.
    ("audit.log", need(Role::Ingest, false)),
    ("console.open", need(Role::Viewer, false)),
    ("view", need(Role::Viewer, false)),
    ("operators.list", need(Role::Viewer, false)),
    // Re-enrolling or regenerating one's own second factor.
    ("mfa.self", need(Role::Viewer, true)),
    ("store.compact", need(Role::Operator, false)),
    ("secrets.reveal", need(Role::Operator, true)),
    ("secrets.rotate", need(Role::Operator, true)),
    ("secrets.rollback", need(Role::Operator, true)),
    // Writing, soft-deleting and undeleting secret versions; destroying them for good.
    ("secrets.write", need(Role::Operator, true)),
    ("secrets.destroy", need(Role::Admin, true)),
    // Minting a session for a user: whoever holds it acts as that user.
    ("sessions.create", need(Role::Operator, true)),
    ("sessions.revoke", need(Role::Operator, true)),
    ("sessions.revoke_user", need(Role::Operator, true)),
    ("operators.manage", need(Role::Admin, true)),
    ("mfa.reset", need(Role::Admin, true)),
    // New master key, rewrap of stored envelopes.
    ("crypto.rotate", need(Role::Admin, true)),
    // A deploy-gate waiver lets known findings through until it expires.
    ("scans.waive", need(Role::Operator, true)),
    ("scans.run", need(Role::Operator, false)),
    // Server-side apply of a deployment's isolation to a cluster.
    ("isolation.apply", need(Role::Operator, true)),
    // Creating or expiring an Alertmanager silence hides pages from on-call.
    ("alerts.silence", need(Role::Operator, true)),
    // Evidence satisfies a manual compliance control; a waiver accepts a failing one.
    ("compliance.evidence", need(Role::Operator, false)),
    ("compliance.waive", need(Role::Operator, true)),
    // A new sign-in model decides which sign-ins alert: a poisoned one hides them.
    ("anomaly.train", need(Role::Operator, true)),
    // Triage of a detected anomaly (acknowledged, resolved, false positive);
    // a false positive is left out of the next training, which needs step-up.
    ("anomaly.mark", need(Role::Operator, false)),
];

/// What `action` needs (see [`ACTIONS`]); unknown actions need an admin with step-up.
pub fn requirement(action: &str) -> Requirement {
    ACTIONS
        .iter()
        .find(|(name, _)| *name == action)
        .map_or(need(Role::Admin, true), |(_, req)| *req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_parse_and_print() {
        assert!(Role::Ingest < Role::Viewer);
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("ingest, viewer, operator or admin")
        );
        assert_eq!(
            serde_json::to_string(&Role::Operator).unwrap(),
            "\"operator\""
        );
        assert_eq!(Role::Viewer.to_string(), "viewer");
    }

    /// An ingest identity may record events and do nothing else: every
    /// other action, known or not, needs more.
    #[test]
    fn ingest_may_only_record_events() {
        for (action, need) in ACTIONS {
            assert_eq!(
                Role::Ingest >= need.role,
                *action == "audit.log",
                "{action} needs {}",
                need.role
            );
        }
        assert!(Role::Ingest < requirement("no.such.action").role);
        assert_eq!("INGEST".parse::<Role>(), Ok(Role::Ingest));
    }

    #[test]
    fn table_has_no_duplicates() {
        let mut names: Vec<_> = ACTIONS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len());
    }
}
