//! Operators: who may use the console, with which role. Stored as plain JSON
//! in the store namespace `operators` (nothing in it is secret).

use serde::{Deserialize, Serialize};

use super::{AuthError, Role};

/// Store namespace of operators.
pub const OPERATORS_NS: &str = "operators";

/// Longest operator name.
pub const MAX_NAME_LEN: usize = 64;

/// An operator as the console and the CLI show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub name: String,
    pub role: Role,
    /// Unix seconds.
    pub created_at: u64,
    /// Whether a confirmed second factor is active.
    pub enrolled: bool,
    /// Why the second factor could not be read (sealed under a key that is
    /// not loaded, damaged): the operator is listed, not the list lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What is stored per operator (`enrolled` comes from the MFA record).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredOperator {
    pub name: String,
    pub role: Role,
    pub created_at: u64,
}

impl StoredOperator {
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, AuthError> {
        serde_json::from_slice(bytes)
            .map_err(|_| AuthError::Corrupt(format!("{OPERATORS_NS}/{key}")))
    }

    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn with_enrolled(self, enrolled: bool) -> Operator {
        Operator {
            name: self.name,
            role: self.role,
            created_at: self.created_at,
            enrolled,
            problem: None,
        }
    }
}

/// Checks an operator name: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a
/// letter or digit (it appears in contexts, URIs, file listings and logs).
pub fn validate_name(name: &str) -> Result<(), AuthError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let starts_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.len() > MAX_NAME_LEN || !starts_ok || !name.chars().all(ok_char) {
        return Err(AuthError::Invalid(format!(
            "invalid operator name {name:?}: use 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-', starting with a letter or digit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["alice", "bob.smith", "ops-1", "A_b"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "al:ice", "é", &"a".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}

/// The state of an operator's second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaState {
    /// A confirmed TOTP key.
    Active,
    /// Enrolment begun, not confirmed yet.
    Pending,
    /// No second factor: the operator cannot sign in until enrolled.
    None,
    /// The record of the second factor cannot be read (another master key,
    /// damaged): the operator cannot sign in until it is restored or reset.
    Unreadable,
}

impl MfaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaState::Active => "active",
            MfaState::Pending => "pending",
            MfaState::None => "none",
            MfaState::Unreadable => "unreadable",
        }
    }
}

/// An operator with their second factor's state (the Operators pane's row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OperatorStatus {
    pub name: String,
    pub role: Role,
    /// Unix seconds.
    pub created_at: u64,
    pub mfa: MfaState,
    pub backup_codes_left: usize,
    /// Consecutive failed codes.
    pub failures: u32,
    /// Unix seconds; in the future while locked out.
    pub locked_until: Option<u64>,
}
