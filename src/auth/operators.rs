//! Operators: who may use the console, with which role. Stored as plain JSON
//! in the store namespace `operators` (nothing in it is secret), each record
//! carrying a MAC of its name, role and creation time under a key derived
//! from the master key (`record-mac:operators`): a role edited in the
//! database is refused, naming the record, never acted on.
//!
//! Records written before the MAC (no `mac` field at all) are accepted as
//! unbound only while the store has no binding marker for operators (kv
//! `binding/operators`), which the first operator of a new store and
//! `windflow crypto rewrap` (once every record is bound) write; from then
//! on a record without a MAC is refused like an edited one.

use serde::{Deserialize, Serialize};

use super::{AuthError, Role};
use crate::crypto::Keyring;

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

/// Store namespace of the binding markers.
pub const BINDING_NS: &str = "binding";

/// What is stored per operator (`enrolled` comes from the MFA record).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredOperator {
    pub name: String,
    pub role: Role,
    pub created_at: u64,
    /// `m1.<kid>.<hex>`; absent only in records written before the MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// How a stored operator record checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    Yes,
    /// Written before the MAC, accepted while the store is not bound.
    Legacy,
}

fn mac_context() -> String {
    crate::crypto::contexts::record_mac(OPERATORS_NS)
}

impl StoredOperator {
    pub fn new(name: &str, role: Role, created_at: u64) -> Self {
        Self {
            name: name.to_owned(),
            role,
            created_at,
            mac: None,
        }
    }

    fn fields(&self) -> [Vec<u8>; 3] {
        [
            self.name.as_bytes().to_vec(),
            self.role.as_str().as_bytes().to_vec(),
            self.created_at.to_be_bytes().to_vec(),
        ]
    }

    /// Parses and checks the record stored under `key`: its name must be
    /// the key, its MAC must match (see the module docs for records
    /// without one).
    pub fn decode(
        key: &str,
        bytes: &[u8],
        keyring: &Keyring,
        legacy_ok: bool,
    ) -> Result<(Self, Bound), AuthError> {
        let record = format!("{OPERATORS_NS}/{key}");
        let op: Self =
            serde_json::from_slice(bytes).map_err(|_| AuthError::Corrupt(record.clone()))?;
        let tampered = |reason: &str| AuthError::Tampered {
            record: record.clone(),
            reason: reason.to_owned(),
        };
        if op.name != key {
            return Err(tampered(
                "it names another operator (copied from another record)",
            ));
        }
        let Some(tag) = &op.mac else {
            return if legacy_ok {
                Ok((op, Bound::Legacy))
            } else {
                Err(tampered(
                    "it carries no MAC, and every operator record of this store is bound: \
                     its MAC was removed",
                ))
            };
        };
        let fields = op.fields();
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        match keyring.check_mac(&mac_context(), &refs, tag) {
            Ok(()) => Ok((op, Bound::Yes)),
            Err(crate::crypto::CryptoError::UnknownKey { kid }) => {
                Err(AuthError::Crypto(crate::crypto::CryptoError::UnknownKey {
                    kid,
                }))
            }
            Err(_) => Err(tampered(
                "its MAC does not match (the role, name or creation time was edited)",
            )),
        }
    }

    /// The record with its MAC under the primary key, as stored.
    pub fn encode(&self, keyring: &Keyring) -> Vec<u8> {
        let fields = self.fields();
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let signed = Self {
            mac: Some(keyring.mac(&mac_context(), &refs)),
            ..self.clone()
        };
        // A struct of strings and integers always serialises.
        serde_json::to_vec(&signed).unwrap_or_default()
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
