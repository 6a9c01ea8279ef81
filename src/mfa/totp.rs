//! TOTP keys (RFC 6238): generation, import from otpauth URIs or base32,
//! code generation and constant-time matching over a window of time steps.
//!
//! Code generation and otpauth URIs go through `totp-rs`; matching does the
//! RFC 4226 dynamic truncation on the HMAC that `totp-rs` signs, so that every
//! candidate step is compared with `subtle` and none is skipped.

use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater};
use zeroize::Zeroizing;

use super::MfaError;

/// Issuer shown by authenticator apps.
pub const ISSUER: &str = "WindFlow";
/// Bytes in a newly generated secret (160 bits, RFC 4226 section 4).
pub const NEW_SECRET_BYTES: usize = 20;
/// Shortest secret accepted on import (128 bits, the RFC minimum).
pub const MIN_SECRET_BYTES: usize = 16;

/// HMAC hash of a TOTP key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    /// HMAC-SHA1: what authenticator apps expect, used for every new secret.
    #[default]
    Sha1,
    /// HMAC-SHA256 (imported secrets only).
    Sha256,
    /// HMAC-SHA512 (imported secrets only).
    Sha512,
}

impl Algorithm {
    fn to_totp_rs(self) -> totp_rs::Algorithm {
        match self {
            Self::Sha1 => totp_rs::Algorithm::SHA1,
            Self::Sha256 => totp_rs::Algorithm::SHA256,
            Self::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }

    fn from_totp_rs(algorithm: totp_rs::Algorithm) -> Result<Self, MfaError> {
        match algorithm {
            totp_rs::Algorithm::SHA1 => Ok(Self::Sha1),
            totp_rs::Algorithm::SHA256 => Ok(Self::Sha256),
            totp_rs::Algorithm::SHA512 => Ok(Self::Sha512),
            other => Err(MfaError::Malformed(format!(
                "unsupported TOTP algorithm {other}: use SHA1, SHA256 or SHA512"
            ))),
        }
    }
}

/// A TOTP shared secret with its parameters. The secret is zeroized on drop
/// and never shown by `Debug`; in JSON it is the unpadded base32 text.
#[derive(Clone, Serialize, Deserialize)]
pub struct TotpKey {
    #[serde(with = "base32_secret")]
    secret: SecretSlice<u8>,
    algorithm: Algorithm,
    digits: u8,
    /// Seconds per time step.
    period: u64,
}

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpKey")
            .field("secret", &"[REDACTED]")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .finish()
    }
}

impl TotpKey {
    /// A new random key from the OS CSPRNG: 160 bits, SHA-1, 6 digits, 30 s.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; NEW_SECRET_BYTES]);
        rand::fill(&mut bytes[..]);
        Self {
            secret: SecretSlice::from(bytes.to_vec()),
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }

    /// A key from raw secret bytes. Fails unless the secret has at least 128
    /// bits, `digits` is 6 to 8 and `period` is not zero.
    pub fn from_bytes(
        secret: Vec<u8>,
        algorithm: Algorithm,
        digits: u8,
        period: u64,
    ) -> Result<Self, MfaError> {
        let secret = SecretSlice::from(secret);
        let len = secret.expose_secret().len();
        if len < MIN_SECRET_BYTES {
            return Err(MfaError::Malformed(format!(
                "TOTP secret has {} bits; at least {} are required",
                len * 8,
                MIN_SECRET_BYTES * 8
            )));
        }
        if !(6..=8).contains(&digits) {
            return Err(MfaError::Malformed(format!(
                "TOTP codes of {digits} digits are not supported: use 6, 7 or 8"
            )));
        }
        if period == 0 {
            return Err(MfaError::Malformed(
                "TOTP period must be at least 1 second".into(),
            ));
        }
        Ok(Self {
            secret,
            algorithm,
            digits,
            period,
        })
    }

    /// A key from a base32 secret as authenticator apps show it (case,
    /// spaces, dashes and `=` padding are ignored).
    pub fn from_base32(
        base32: &str,
        algorithm: Algorithm,
        digits: u8,
        period: u64,
    ) -> Result<Self, MfaError> {
        let cleaned: Zeroizing<String> = Zeroizing::new(
            base32
                .chars()
                .filter(|c| !matches!(c, ' ' | '-' | '=' | '\t'))
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let secret = totp_rs::Secret::try_from_base32(cleaned.as_str()).map_err(|_| {
            MfaError::Malformed("TOTP secret is not valid base32 (A-Z, 2-7)".into())
        })?;
        Self::from_bytes(secret.as_bytes().to_vec(), algorithm, digits, period)
    }

    /// A key from an `otpauth://totp/...` URI (algorithm, digits and period
    /// taken from the URI, defaults SHA1/6/30).
    pub fn from_otpauth_uri(uri: &str) -> Result<Self, MfaError> {
        let totp = totp_rs::Totp::from_url(uri).map_err(|e| {
            // TotpError may quote the URI, which holds the secret: keep only its kind.
            let kind = format!("{e:?}");
            let kind = kind.split([' ', '(', '{']).next().unwrap_or("invalid");
            MfaError::Malformed(format!("not a usable otpauth://totp URI ({kind})"))
        })?;
        Self::from_bytes(
            totp.secret().as_bytes().to_vec(),
            Algorithm::from_totp_rs(totp.algorithm())?,
            totp.digits(),
            totp.step(),
        )
    }

    /// The secret as unpadded base32, for manual entry in an authenticator app.
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(self.to_totp_rs().secret().to_base32())
    }

    /// The otpauth URI for `user`: issuer `WindFlow`, label `<user>@windflow`.
    pub fn otpauth_uri(&self, user: &str) -> Result<SecretString, MfaError> {
        let totp = totp_rs::Builder::new()
            .with_algorithm(self.algorithm.to_totp_rs())
            .with_digits(self.digits)
            .with_step_duration(self.period)
            .with_secret(self.secret.expose_secret())
            .with_issuer(Some(ISSUER))
            .with_account_name(account_name(user)?)
            .build_noncompliant();
        totp.to_url().map(SecretString::from).map_err(|_| {
            MfaError::Malformed(format!(
                "user name {user:?} cannot be put in an otpauth URI"
            ))
        })
    }

    /// The code valid at `unix_time` (seconds). With `period` 1 and
    /// `unix_time` = counter this is HOTP (RFC 4226).
    pub fn code_at(&self, unix_time: u64) -> SecretString {
        SecretString::from(self.to_totp_rs().generate(unix_time).to_string())
    }

    /// The newest step within `skew` steps of `now` whose code is `code`,
    /// compared in constant time over the whole window. No replay guard:
    /// use [`MfaRecord::verify`](super::MfaRecord::verify) for sign-in.
    pub fn check(&self, code: &str, now: u64, skew: u8) -> Option<u64> {
        self.match_code(code, now, skew, None).fresh
    }

    /// The time step that contains `unix_time`.
    pub fn step_at(&self, unix_time: u64) -> u64 {
        unix_time / self.period
    }

    /// Hash algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Digits per code.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// Seconds per step.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Checks `code` (exactly `digits` ASCII digits, else no match) against
    /// every step within `skew` of the step at `now`, all compared in constant
    /// time. Returns whether any step matched and the newest matching step
    /// after `after` (the replay guard), if any.
    pub(crate) fn match_code(
        &self,
        code: &str,
        now: u64,
        skew: u8,
        after: Option<u64>,
    ) -> CodeMatch {
        let well_formed =
            code.len() == usize::from(self.digits) && code.bytes().all(|b| b.is_ascii_digit());
        let (true, Ok(given)) = (well_formed, code.parse::<u32>()) else {
            return CodeMatch {
                any: false,
                fresh: None,
            };
        };
        let totp = self.to_totp_rs();
        let modulus = 10u32.pow(u32::from(self.digits));
        let origin = self.step_at(now);
        let floor = after.map_or(0, |s| s.saturating_add(1));
        let mut any = subtle::Choice::from(0);
        let mut fresh = subtle::Choice::from(0);
        let mut fresh_step = 0u64;
        for step in origin.saturating_sub(u64::from(skew))..=origin.saturating_add(u64::from(skew))
        {
            let expected = truncate(totp.sign(step.saturating_mul(self.period)).as_ref()) % modulus;
            let hit = expected.ct_eq(&given);
            let is_fresh = hit & !floor.ct_gt(&step);
            any |= hit;
            fresh |= is_fresh;
            // Steps ascend, so the last fresh hit is the newest one.
            fresh_step = u64::conditional_select(&fresh_step, &step, is_fresh);
        }
        CodeMatch {
            any: any.into(),
            fresh: bool::from(fresh).then_some(fresh_step),
        }
    }

    fn to_totp_rs(&self) -> totp_rs::Totp {
        totp_rs::Builder::new()
            .with_algorithm(self.algorithm.to_totp_rs())
            .with_digits(self.digits)
            .with_step_duration(self.period)
            .with_skew(0)
            .with_secret(self.secret.expose_secret())
            .build_noncompliant()
    }
}

/// Result of [`TotpKey::match_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodeMatch {
    /// The code matched some step of the window.
    pub any: bool,
    /// The newest matching step that is newer than the replay guard.
    pub fresh: Option<u64>,
}

/// RFC 4226 section 5.3 dynamic truncation (31-bit value).
fn truncate(hmac: &[u8]) -> u32 {
    let offset = usize::from(hmac[hmac.len() - 1] & 0x0f);
    u32::from_be_bytes([
        hmac[offset],
        hmac[offset + 1],
        hmac[offset + 2],
        hmac[offset + 3],
    ]) & 0x7fff_ffff
}

/// The otpauth account name for a user: `<user>@windflow`.
pub fn account_name(user: &str) -> Result<String, MfaError> {
    if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
        return Err(MfaError::Malformed(format!(
            "user name {user:?} is empty or contains ':' or control characters"
        )));
    }
    Ok(format!("{user}@windflow"))
}

/// Serde for the secret bytes as unpadded base32 text.
mod base32_secret {
    use secrecy::{ExposeSecret, SecretSlice};
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(secret: &SecretSlice<u8>, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(totp_rs::Secret::from(secret.expose_secret()).to_base32());
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretSlice<u8>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let secret = totp_rs::Secret::try_from_base32(text.as_str())
            .map_err(|_| serde::de::Error::custom("TOTP secret is not valid base32"))?;
        Ok(SecretSlice::from(secret.as_bytes().to_vec()))
    }
}
