//! One-time enrolment tokens: what lets a person start the first second
//! factor of an operator who has none (a new operator, or one whose factor
//! an admin reset). `operators add` and `mfa reset` issue one and print it
//! once; `mfa enroll USER --token T` spends it.
//!
//! A token is 32 random bytes (64 hex digits). Only its SHA-256 is stored,
//! in namespace `enrolment_tokens` under the operator's name, with when it
//! expires (24 h) and when it was used; the comparison is in constant time.
//! A token is never logged, audited or shown by `Debug`.

use std::str::FromStr;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Store namespace of enrolment tokens (hashes only), one per operator.
pub const ENROLMENT_NS: &str = "enrolment_tokens";
/// How long a token can be used: 24 hours.
pub const ENROLMENT_TOKEN_TTL_SECS: u64 = 24 * 3600;
/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// A one-time enrolment token. `Debug` is redacted; the text is wiped on drop.
#[derive(Clone)]
pub struct EnrolmentToken(SecretString);

impl EnrolmentToken {
    /// A fresh token from the thread-local CSPRNG (seeded by the OS).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        rand::rng().fill_bytes(&mut bytes[..]);
        Self(SecretString::from(hex::encode(&bytes[..])))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn hash(&self) -> [u8; 32] {
        hash(self.expose())
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

impl std::fmt::Debug for EnrolmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrolmentToken([REDACTED])")
    }
}

/// For the command line (`--token T`).
impl FromStr for EnrolmentToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the enrolment token is empty".into());
        }
        Ok(Self(SecretString::from(s.to_owned())))
    }
}

/// What is stored per operator: the token's hash and its life.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredToken {
    /// SHA-256 of the token, hex.
    sha256: String,
    pub issued_at: u64,
    pub expires_at: u64,
    pub used_at: Option<u64>,
}

impl StoredToken {
    pub fn new(token: &EnrolmentToken, now: u64) -> Self {
        Self {
            sha256: hex::encode(token.hash()),
            issued_at: now,
            expires_at: now.saturating_add(ENROLMENT_TOKEN_TTL_SECS),
            used_at: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Strings and integers always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A record that does not parse is treated as no token (fail closed).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// Checks `token` against this record at `now` (the hash first, in
    /// constant time, so that nothing about the record is told to a wrong token).
    pub fn check(&self, token: &str, now: u64) -> Result<(), TokenRejection> {
        let stored = hex::decode(&self.sha256).unwrap_or_default();
        let given = hash(token);
        if stored.len() != given.len() || !bool::from(stored.ct_eq(&given[..])) {
            return Err(TokenRejection::Wrong);
        }
        if self.used_at.is_some() {
            return Err(TokenRejection::Used);
        }
        if now >= self.expires_at {
            return Err(TokenRejection::Expired {
                at: self.expires_at,
            });
        }
        Ok(())
    }
}

/// Why an enrolment without an active second factor was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRejection {
    /// No token given (and no admin acting).
    Missing,
    /// None is outstanding for this operator.
    NotIssued,
    Wrong,
    Used,
    Expired {
        at: u64,
    },
}

impl TokenRejection {
    /// A short machine-readable reason (events, `--json`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRejection::Missing => "token_required",
            TokenRejection::NotIssued => "token_not_issued",
            TokenRejection::Wrong => "token_wrong",
            TokenRejection::Used => "token_used",
            TokenRejection::Expired { .. } => "token_expired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hashed_and_checked_once_within_a_day() {
        let a = EnrolmentToken::generate();
        let b = EnrolmentToken::generate();
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "EnrolmentToken([REDACTED])");
        let mut stored = StoredToken::new(&a, 1000);
        let json = String::from_utf8(stored.encode()).unwrap();
        assert!(!json.contains(a.expose()), "only the hash is stored");
        assert!(!format!("{stored:?}").contains(a.expose()));
        assert_eq!(stored.check(a.expose(), 1000), Ok(()));
        assert_eq!(
            stored.check(&format!(" {}\n", a.expose()), 1000),
            Ok(()),
            "pasted with blanks"
        );
        assert_eq!(stored.check(b.expose(), 1000), Err(TokenRejection::Wrong));
        assert_eq!(stored.check("", 1000), Err(TokenRejection::Wrong));
        let end = 1000 + ENROLMENT_TOKEN_TTL_SECS;
        assert_eq!(stored.check(a.expose(), end - 1), Ok(()));
        assert_eq!(
            stored.check(a.expose(), end),
            Err(TokenRejection::Expired { at: end })
        );
        stored.used_at = Some(1001);
        assert_eq!(stored.check(a.expose(), 1002), Err(TokenRejection::Used));
        assert!(StoredToken::decode(b"not json").is_none());
    }
}
