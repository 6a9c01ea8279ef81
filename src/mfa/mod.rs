//! TOTP multi-factor authentication: enrolment with a terminal QR code,
//! verification with skew window, replay guard and lockout, and single-use
//! backup codes.
//!
//! Everything here is pure and in-process: no IO, no clock. Every operation
//! takes `now` in unix seconds so that callers (and tests) control time. The
//! caller persists [`MfaRecord`] (serde JSON, encrypted as a whole with the
//! envelope under the context `totp:<user>`) after every call that takes
//! `&mut self`, whether it succeeded or not: failures and lockouts are state.

mod backup;
mod model;
pub mod qr;
mod totp;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use backup::{
    BACKUP_CODE_COUNT, BACKUP_CODE_LEN, BackupCodeHash, normalize as normalize_backup_code,
};
pub use model::{Enrollment, MfaRecord, Verified, begin_enrollment};
pub use totp::{Algorithm, ISSUER, MIN_SECRET_BYTES, NEW_SECRET_BYTES, TotpKey, account_name};

/// What went wrong in an MFA operation. No variant carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MfaError {
    /// The user has no confirmed TOTP secret.
    #[error(
        "no confirmed TOTP enrolment for this user: enrol with `windflow mfa enroll <user>` and confirm it"
    )]
    NotEnrolled,
    /// `confirm` without a pending enrolment.
    #[error("no pending TOTP enrolment to confirm: start one with `windflow mfa enroll <user>`")]
    NoPendingEnrollment,
    /// The pending enrolment is older than `Policy::pending_ttl_secs`.
    #[error("the pending TOTP enrolment expired before it was confirmed: enrol again")]
    PendingExpired,
    /// Wrong code; counts towards the lockout.
    #[error("invalid code ({failures_left} attempt(s) left before a temporary lockout)")]
    InvalidCode {
        /// Consecutive failures so far.
        failures: u32,
        /// Failures still allowed before a lockout.
        failures_left: u32,
    },
    /// A valid code for a time step already used (RFC 6238 section 5.2).
    #[error("this code was already used: wait for the next code from the authenticator app")]
    Replayed,
    /// Too many consecutive failures; no code is checked until `until`.
    #[error("too many failed codes: locked out until unix time {until}")]
    LockedOut {
        /// Unix seconds when codes are accepted again.
        until: u64,
        /// True when this very attempt started the lockout (emit a lockout event).
        started: bool,
    },
    /// Input that is neither a code nor a backup code, or an unusable secret/URI/user name.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// The otpauth URI does not fit in a QR code.
    #[error("could not draw the QR code: {0}")]
    Qr(String),
    /// Argon2 failed while hashing backup codes.
    #[error("could not hash backup codes: {0}")]
    Hashing(String),
}

impl MfaError {
    /// Whether this outcome is a rejected authentication attempt (a security
    /// event: failure, replay or lockout) rather than a usage error.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::InvalidCode { .. } | Self::Replayed | Self::LockedOut { .. }
        )
    }
}

/// Verification and enrolment rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Time steps accepted either side of the current one (clock skew).
    pub skew_steps: u8,
    /// Consecutive failures that trigger a lockout.
    pub max_failures: u32,
    /// First lockout length; each further lockout doubles it.
    pub lockout_base_secs: u64,
    /// Longest lockout.
    pub lockout_max_secs: u64,
    /// How long a pending enrolment may wait for its confirming code.
    pub pending_ttl_secs: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            skew_steps: 1,
            max_failures: 5,
            lockout_base_secs: 30,
            lockout_max_secs: 3600,
            pending_ttl_secs: 600,
        }
    }
}

impl Policy {
    /// Length of lockout number `n` (1-based): base, 2x base, 4x base, ...
    /// capped at `lockout_max_secs`.
    pub fn lockout_secs(&self, n: u32) -> u64 {
        let factor = 2u64.saturating_pow(n.saturating_sub(1));
        self.lockout_base_secs
            .saturating_mul(factor)
            .min(self.lockout_max_secs)
    }
}

/// Unix seconds of `time` (0 before the epoch), for callers holding a `SystemTime`.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
