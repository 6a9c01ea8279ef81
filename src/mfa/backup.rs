//! Single-use backup codes: generated from a CSPRNG, shown once, stored only
//! as Argon2id PHC hashes (one random salt per code).
//!
//! A code is ten letters from an alphabet without `i`, `l` and `o`, shown as
//! `abcde-fghjk` (about 45 bits). Letters only, so a backup code can never be
//! mistaken for a numeric TOTP code and Argon2 (slow by design) runs only for
//! input that looks like a backup code.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::MfaError;

/// Codes in a set.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Letters in a code, without the dash.
pub const BACKUP_CODE_LEN: usize = 10;
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz";

/// One stored backup code: its Argon2id PHC hash and when it was used.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupCodeHash {
    hash: String,
    used_at: Option<u64>,
}

impl std::fmt::Debug for BackupCodeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupCodeHash")
            .field("hash", &"[REDACTED]")
            .field("used_at", &self.used_at)
            .finish()
    }
}

impl BackupCodeHash {
    /// Whether this code has been used.
    pub fn is_used(&self) -> bool {
        self.used_at.is_some()
    }

    /// When this code was used (unix seconds).
    pub fn used_at(&self) -> Option<u64> {
        self.used_at
    }

    /// The PHC string (`$argon2id$v=19$...`).
    pub fn phc(&self) -> &str {
        &self.hash
    }
}

/// A fresh set: the plaintext codes (formatted `abcde-fghjk`, to show once)
/// and their hashes (to store).
pub(crate) fn generate_set() -> Result<(Vec<SecretString>, Vec<BackupCodeHash>), MfaError> {
    let hasher = Argon2::default();
    let mut rng = rand::rng();
    let mut shown = Vec::with_capacity(BACKUP_CODE_COUNT);
    let mut stored = Vec::with_capacity(BACKUP_CODE_COUNT);
    for _ in 0..BACKUP_CODE_COUNT {
        let code: Zeroizing<String> = Zeroizing::new(
            (0..BACKUP_CODE_LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect(),
        );
        let hash = hasher
            .hash_password(code.as_bytes())
            .map_err(|e| MfaError::Hashing(e.to_string()))?
            .to_string();
        let half = BACKUP_CODE_LEN / 2;
        shown.push(SecretString::from(format!(
            "{}-{}",
            &code[..half],
            &code[half..]
        )));
        stored.push(BackupCodeHash {
            hash,
            used_at: None,
        });
    }
    Ok((shown, stored))
}

/// The canonical form of `input` if it looks like a backup code: dashes and
/// spaces dropped, lowercased, exactly [`BACKUP_CODE_LEN`] alphabet letters.
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    let code: Zeroizing<String> = Zeroizing::new(
        input
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_lowercase())
            .collect(),
    );
    let valid = code.len() == BACKUP_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(code)
}

/// Index of the first unused code whose hash matches `code` (normalised).
/// Stops at the first match: each check costs one Argon2id hash.
pub(crate) fn find_unused(set: &[BackupCodeHash], code: &str) -> Option<usize> {
    let verifier = Argon2::default();
    set.iter().position(|entry| {
        !entry.is_used()
            && PasswordHash::new(&entry.hash)
                .is_ok_and(|parsed| verifier.verify_password(code.as_bytes(), &parsed).is_ok())
    })
}

/// Marks code `index` used at `now`.
pub(crate) fn mark_used(set: &mut [BackupCodeHash], index: usize, now: u64) {
    if let Some(entry) = set.get_mut(index) {
        entry.used_at = Some(now);
    }
}

/// Codes not yet used.
pub(crate) fn remaining(set: &[BackupCodeHash]) -> usize {
    set.iter().filter(|c| !c.is_used()).count()
}
