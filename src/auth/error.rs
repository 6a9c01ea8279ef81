//! Errors of the auth domain. None carries a code, a secret or a key.

use super::Role;
use super::enrolment::TokenRejection;
use crate::crypto::CryptoError;
use crate::mfa::MfaError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "unknown operator {0:?}: see `windflow operators list`; an admin adds operators with `windflow operators add`"
    )]
    UnknownOperator(String),

    #[error(
        "{0:?} has no confirmed second factor: enrol with `windflow mfa enroll {0}` and confirm with `windflow mfa confirm {0} CODE`"
    )]
    NotEnrolled(String),

    #[error("{0}")]
    Mfa(MfaError),

    #[error("{operator:?} is {role}, but {action} needs {needed}")]
    Forbidden {
        operator: String,
        role: Role,
        needed: Role,
        action: String,
    },

    #[error(
        "{action} needs a fresh second factor: pass --code CODE, or open a grant first with `windflow login --operator NAME --code CODE`"
    )]
    StepUpRequired { action: String },

    #[error(
        "{action} needs a fresh second factor: the open grant {why}; pass --code CODE, or open a grant here with `windflow login --tty --operator NAME --code CODE`"
    )]
    GrantNotHonoured { action: String, why: String },

    #[error("{operator:?} is the last admin: make another operator admin first")]
    LastAdmin { operator: String },

    #[error("encrypted record in the local store: {0}")]
    Crypto(#[from] CryptoError),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("record {0} in the local store is unreadable (not valid JSON of the expected shape)")]
    Corrupt(String),

    #[error("{}", enrolment_refused(user, *reason))]
    EnrolmentRefused {
        user: String,
        reason: TokenRejection,
    },

    #[error(
        "record {record} in the local store was changed outside windflow and is refused: \
         {reason}. The event is recorded; an admin rewrites it with `windflow operators \
         set-role` (or removes it), or restores it from a backup"
    )]
    Tampered { record: String, reason: String },

    #[error("{0}")]
    Invalid(String),
}

fn enrolment_refused(user: &str, reason: TokenRejection) -> String {
    let new_one =
        format!("an admin issues a new one with `windflow mfa reset {user} --operator ADMIN`");
    match reason {
        TokenRejection::Missing => format!(
            "{user:?} has no active second factor: starting their enrolment needs the one-time \
             enrolment token printed by `windflow operators add` or `windflow mfa reset` \
             (`windflow mfa enroll {user} --token TOKEN`), or an admin acting with a fresh \
             second factor (`--operator ADMIN`)"
        ),
        TokenRejection::NotIssued => {
            format!("no enrolment token is outstanding for {user:?}: {new_one}")
        }
        TokenRejection::Wrong => format!(
            "the enrolment token is not the one issued for {user:?}: check it, or {new_one}"
        ),
        TokenRejection::Used => {
            format!("the enrolment token of {user:?} was already used (it works once): {new_one}")
        }
        TokenRejection::Expired { at } => {
            let when = i64::try_from(at)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .map_or_else(
                    || at.to_string(),
                    |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
                );
            format!(
                "the enrolment token of {user:?} expired at {when} (tokens last 24 h): {new_one}"
            )
        }
    }
}

impl AuthError {
    /// The CLI exit code: 2 bad input, 3 refused by policy (role, step-up,
    /// rejected or locked-out code), 1 anything else. `windflow mfa verify`
    /// and `mfa confirm` report a rejected code with 1 instead.
    pub fn exit_code(&self) -> u8 {
        match self {
            AuthError::UnknownOperator(_) | AuthError::Invalid(_) => 2,
            AuthError::Mfa(e) if e.is_rejection() => 3,
            AuthError::Mfa(
                MfaError::Malformed(_) | MfaError::NoPendingEnrollment | MfaError::PendingExpired,
            ) => 2,
            AuthError::NotEnrolled(_)
            | AuthError::Forbidden { .. }
            | AuthError::StepUpRequired { .. }
            | AuthError::GrantNotHonoured { .. }
            | AuthError::LastAdmin { .. }
            | AuthError::EnrolmentRefused { .. } => 3,
            AuthError::Mfa(_)
            | AuthError::Crypto(_)
            | AuthError::Store(_)
            | AuthError::Corrupt(_)
            | AuthError::Tampered { .. } => 1,
        }
    }

    /// A code was checked and refused (wrong, replayed, locked out, or no second factor).
    pub fn is_rejected_code(&self) -> bool {
        matches!(self, AuthError::NotEnrolled(_))
            || matches!(self, AuthError::Mfa(e) if e.is_rejection())
    }

    /// `MfaError::NotEnrolled` names no user; this one does.
    pub(crate) fn from_mfa(user: &str, e: MfaError) -> Self {
        match e {
            MfaError::NotEnrolled => AuthError::NotEnrolled(user.to_owned()),
            e => AuthError::Mfa(e),
        }
    }
}
