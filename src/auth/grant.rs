//! Step-up grants: after one verified code, an operator may act for a few
//! minutes without another (like sudo's timestamp). Stored encrypted under
//! the context `grant:<operator>`, so a grant cannot be forged or moved to
//! another operator without the master key. A grant may be bound to the
//! terminal that opened it (sudo's tty tickets): it is then honoured only
//! from that terminal.

use serde::{Deserialize, Serialize};

use super::tty::Tty;

/// How long a grant lasts unless configured otherwise.
pub const DEFAULT_GRANT_TTL_SECS: u64 = 300;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub operator: String,
    /// Unix seconds.
    pub opened_at: u64,
    /// Unix seconds; the grant is void from then on.
    pub expires_at: u64,
    /// The terminal it is bound to (`login --tty`); `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<Tty>,
}

impl Grant {
    pub fn new(operator: &str, now: u64, ttl_secs: u64, tty: Option<Tty>) -> Self {
        Self {
            operator: operator.to_owned(),
            opened_at: now,
            expires_at: now.saturating_add(ttl_secs),
            tty,
        }
    }

    /// Whether it stands for `operator` at `now`, no longer than `max_ttl_secs`
    /// after it was opened (a grant opened under a longer setting is cut short).
    pub fn is_valid(&self, operator: &str, now: u64, max_ttl_secs: u64) -> bool {
        self.operator == operator
            && now < self.expires_at
            && now < self.opened_at.saturating_add(max_ttl_secs)
    }

    /// Seconds left at `now`.
    pub fn remaining(&self, now: u64) -> u64 {
        self.expires_at.saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        let g = Grant::new("alice", 1000, 300, None);
        assert!(g.is_valid("alice", 1000, 300));
        assert!(g.is_valid("alice", 1299, 300));
        assert!(!g.is_valid("alice", 1300, 300));
        assert!(!g.is_valid("bob", 1000, 300));
        assert!(!g.is_valid("alice", 1100, 60));
        assert_eq!(g.remaining(1200), 100);
    }
}
