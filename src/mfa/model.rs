//! The per-user MFA record and its state machine: pending enrolment,
//! confirmation, verification (TOTP or backup code), lockout.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::backup::{self, BackupCodeHash};
use super::totp::{self, TotpKey};
use super::{MfaError, Policy, qr};

/// Everything stored about one user's second factor. Serialise it to JSON
/// and encrypt it whole; `Debug` shows no secret or hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaRecord {
    user: String,
    #[serde(default)]
    active: Option<ActiveTotp>,
    #[serde(default)]
    pending: Option<PendingEnrollment>,
    /// Backup codes of the active enrolment.
    #[serde(default)]
    backup_codes: Vec<BackupCodeHash>,
    /// Newest time step accepted for the active key (replay guard).
    #[serde(default)]
    last_step: Option<u64>,
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    lockouts: u32,
    #[serde(default)]
    locked_until: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ActiveTotp {
    key: TotpKey,
    activated_at: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingEnrollment {
    key: TotpKey,
    created_at: u64,
    backup_codes: Vec<BackupCodeHash>,
}

/// What to show the user once when an enrolment begins. Nothing of it is
/// stored in plaintext; `Debug` is redacted.
pub struct Enrollment {
    /// The user enrolled.
    pub user: String,
    /// The secret as base32, for manual entry.
    pub secret_base32: SecretString,
    /// `otpauth://totp/WindFlow:<user>%40windflow?secret=...&issuer=WindFlow`.
    pub otpauth_uri: SecretString,
    /// The URI as a half-block QR code (see [`qr::render_half_blocks`]).
    pub qr: Zeroizing<Vec<String>>,
    /// The backup codes, formatted `abcde-fghjk`.
    pub backup_codes: Vec<SecretString>,
    /// When the enrolment began (it expires `Policy::pending_ttl_secs` later).
    pub created_at: u64,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("user", &self.user)
            .field("secret_base32", &"[REDACTED]")
            .field("otpauth_uri", &"[REDACTED]")
            .field("qr", &format_args!("[{} lines, REDACTED]", self.qr.len()))
            .field(
                "backup_codes",
                &format_args!("[{} codes, REDACTED]", self.backup_codes.len()),
            )
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// How a verification succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Verified {
    /// A TOTP code of time step `step`.
    Totp {
        /// The accepted time step.
        step: u64,
    },
    /// A backup code, now spent.
    BackupCode {
        /// Unused backup codes left.
        remaining: usize,
    },
}

/// A new record for `user` with a pending enrolment of a fresh random key.
pub fn begin_enrollment(user: &str, now: u64) -> Result<(MfaRecord, Enrollment), MfaError> {
    let mut record = MfaRecord::new(user)?;
    let enrollment = record.begin_enrollment(now)?;
    Ok((record, enrollment))
}

/// How a typed code is to be checked.
enum Input {
    Totp(Zeroizing<String>),
    Backup(Zeroizing<String>),
}

impl MfaRecord {
    /// An empty record (nothing enrolled) for `user`.
    pub fn new(user: &str) -> Result<Self, MfaError> {
        totp::account_name(user)?;
        Ok(Self {
            user: user.to_owned(),
            active: None,
            pending: None,
            backup_codes: Vec::new(),
            last_step: None,
            failures: 0,
            lockouts: 0,
            locked_until: None,
        })
    }

    /// Starts enrolling a fresh random key (SHA-1, 6 digits, 30 s). Replaces
    /// any unconfirmed pending enrolment; an active key stays active until
    /// the new one is confirmed.
    pub fn begin_enrollment(&mut self, now: u64) -> Result<Enrollment, MfaError> {
        self.begin_enrollment_with_key(TotpKey::generate(), now)
    }

    /// Starts enrolling an imported key (see [`TotpKey::from_otpauth_uri`] and
    /// [`TotpKey::from_base32`]); it too must be confirmed with a code.
    pub fn begin_enrollment_with_key(
        &mut self,
        key: TotpKey,
        now: u64,
    ) -> Result<Enrollment, MfaError> {
        let otpauth_uri = key.otpauth_uri(&self.user)?;
        let qr = Zeroizing::new(qr::render_half_blocks(
            secrecy::ExposeSecret::expose_secret(&otpauth_uri),
        )?);
        let (backup_codes, hashes) = backup::generate_set()?;
        let enrollment = Enrollment {
            user: self.user.clone(),
            secret_base32: key.to_base32(),
            otpauth_uri,
            qr,
            backup_codes,
            created_at: now,
        };
        self.pending = Some(PendingEnrollment {
            key,
            created_at: now,
            backup_codes: hashes,
        });
        Ok(enrollment)
    }

    /// Confirms the pending enrolment with a TOTP code from the new key. On
    /// success the pending key and its backup codes replace the active ones
    /// and the code's step is recorded for the replay guard.
    pub fn confirm(&mut self, code: &str, now: u64, policy: &Policy) -> Result<(), MfaError> {
        let pending = self.pending.as_ref().ok_or(MfaError::NoPendingEnrollment)?;
        self.check_not_locked(now)?;
        if now >= pending.created_at.saturating_add(policy.pending_ttl_secs) {
            return Err(MfaError::PendingExpired);
        }
        let Input::Totp(code) = classify(code, pending.key.digits())? else {
            return Err(MfaError::Malformed(format!(
                "confirm with a {}-digit code from the authenticator app",
                pending.key.digits()
            )));
        };
        let matched = pending.key.match_code(&code, now, policy.skew_steps, None);
        match matched.fresh {
            Some(step) => {
                let pending = self.pending.take().ok_or(MfaError::NoPendingEnrollment)?;
                self.active = Some(ActiveTotp {
                    key: pending.key,
                    activated_at: now,
                });
                self.backup_codes = pending.backup_codes;
                self.last_step = Some(step);
                self.succeeded();
                Ok(())
            }
            None => Err(self.failed(now, policy)),
        }
    }

    /// Verifies a TOTP code (within `policy.skew_steps`, never a step at or
    /// before the last accepted one) or, for input that is not all digits, a
    /// backup code (dash and case ignored; each works once).
    pub fn verify(&mut self, code: &str, now: u64, policy: &Policy) -> Result<Verified, MfaError> {
        let active = self.active.as_ref().ok_or(MfaError::NotEnrolled)?;
        self.check_not_locked(now)?;
        match classify(code, active.key.digits())? {
            Input::Totp(code) => {
                let matched = active
                    .key
                    .match_code(&code, now, policy.skew_steps, self.last_step);
                match (matched.fresh, matched.any) {
                    (Some(step), _) => {
                        self.last_step = Some(step);
                        self.succeeded();
                        Ok(Verified::Totp { step })
                    }
                    (None, true) => Err(MfaError::Replayed),
                    (None, false) => Err(self.failed(now, policy)),
                }
            }
            Input::Backup(code) => match backup::find_unused(&self.backup_codes, &code) {
                Some(index) => {
                    backup::mark_used(&mut self.backup_codes, index, now);
                    self.succeeded();
                    Ok(Verified::BackupCode {
                        remaining: backup::remaining(&self.backup_codes),
                    })
                }
                None => Err(self.failed(now, policy)),
            },
        }
    }

    /// Replaces the active backup codes with a fresh set and returns the new
    /// plaintext codes (show them once). The old codes stop working.
    pub fn regenerate_backup_codes(&mut self) -> Result<Vec<SecretString>, MfaError> {
        if self.active.is_none() {
            return Err(MfaError::NotEnrolled);
        }
        let (codes, hashes) = backup::generate_set()?;
        self.backup_codes = hashes;
        Ok(codes)
    }

    /// Drops an unconfirmed enrolment, if any.
    pub fn cancel_pending(&mut self) {
        self.pending = None;
    }

    /// The user this record belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether a confirmed key is active.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// The active key (e.g. for demo mode to produce a code).
    pub fn active_key(&self) -> Option<&TotpKey> {
        self.active.as_ref().map(|a| &a.key)
    }

    /// When the active key was confirmed.
    pub fn activated_at(&self) -> Option<u64> {
        self.active.as_ref().map(|a| a.activated_at)
    }

    /// The pending key, if an enrolment awaits confirmation.
    pub fn pending_key(&self) -> Option<&TotpKey> {
        self.pending.as_ref().map(|p| &p.key)
    }

    /// When the pending enrolment began.
    pub fn pending_created_at(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.created_at)
    }

    /// Consecutive failures since the last success or lockout.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Lockouts since the last success.
    pub fn lockouts(&self) -> u32 {
        self.lockouts
    }

    /// End of the current or last lockout.
    pub fn locked_until(&self) -> Option<u64> {
        self.locked_until
    }

    /// Whether codes are refused at `now`.
    pub fn is_locked(&self, now: u64) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Newest accepted time step (replay guard).
    pub fn last_step(&self) -> Option<u64> {
        self.last_step
    }

    /// Unused backup codes of the active enrolment.
    pub fn backup_codes_remaining(&self) -> usize {
        backup::remaining(&self.backup_codes)
    }

    /// The stored backup-code hashes of the active enrolment.
    pub fn backup_codes(&self) -> &[BackupCodeHash] {
        &self.backup_codes
    }

    fn check_not_locked(&self, now: u64) -> Result<(), MfaError> {
        match self.locked_until {
            Some(until) if now < until => Err(MfaError::LockedOut {
                until,
                started: false,
            }),
            _ => Ok(()),
        }
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.lockouts = 0;
        self.locked_until = None;
    }

    /// Counts a failure; the error to return (a lockout when it is the last allowed).
    fn failed(&mut self, now: u64, policy: &Policy) -> MfaError {
        let max = policy.max_failures.max(1);
        self.failures = self.failures.saturating_add(1);
        if self.failures < max {
            return MfaError::InvalidCode {
                failures: self.failures,
                failures_left: max - self.failures,
            };
        }
        self.failures = 0;
        self.lockouts = self.lockouts.saturating_add(1);
        let until = now.saturating_add(policy.lockout_secs(self.lockouts));
        self.locked_until = Some(until);
        MfaError::LockedOut {
            until,
            started: true,
        }
    }
}

/// Sorts typed input into a TOTP code (all digits, spaces ignored, exactly
/// `digits` long) or a backup code; anything else is malformed.
fn classify(input: &str, digits: u8) -> Result<Input, MfaError> {
    let compact: Zeroizing<String> =
        Zeroizing::new(input.chars().filter(|c| !c.is_whitespace()).collect());
    if !compact.is_empty() && compact.bytes().all(|b| b.is_ascii_digit()) {
        return if compact.len() == usize::from(digits) {
            Ok(Input::Totp(compact))
        } else {
            Err(MfaError::Malformed(format!(
                "expected a {digits}-digit code, got {} digits",
                compact.len()
            )))
        };
    }
    backup::normalize(&compact)
        .map(Input::Backup)
        .ok_or_else(|| {
            MfaError::Malformed(format!(
                "expected a {digits}-digit code or a backup code like abcde-fghjk"
            ))
        })
}
