//! One 32-byte master key, kept in a zeroizing box.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::KeyError;

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// A master key from which per-context keys are derived.
///
/// `Debug` shows only the key id; the bytes are wiped on drop.
pub struct MasterKey {
    bytes: SecretBox<[u8; MASTER_KEY_LEN]>,
    kid: String,
}

impl MasterKey {
    /// A fresh random key from the thread-local CSPRNG (seeded by the OS).
    pub fn generate() -> Self {
        Self::from_box(SecretBox::init_with_mut(|b: &mut [u8; MASTER_KEY_LEN]| {
            rand::rng().fill_bytes(b)
        }))
    }

    /// Takes the key bytes (the caller's copy should be zeroized by the caller).
    pub fn from_bytes(bytes: &[u8; MASTER_KEY_LEN]) -> Self {
        Self::from_box(SecretBox::init_with_mut(|b: &mut [u8; MASTER_KEY_LEN]| {
            b.copy_from_slice(bytes)
        }))
    }

    /// Parses standard base64 of 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        Self::parse(text, "the given text")
    }

    pub(crate) fn parse(text: &str, origin: &str) -> Result<Self, KeyError> {
        let decoded =
            Zeroizing::new(
                STANDARD
                    .decode(text.trim())
                    .map_err(|_| KeyError::BadBase64 {
                        origin: origin.to_owned(),
                    })?,
            );
        let bytes: &[u8; MASTER_KEY_LEN] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::WrongLength {
                    origin: origin.to_owned(),
                    len: decoded.len(),
                })?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_box(bytes: SecretBox<[u8; MASTER_KEY_LEN]>) -> Self {
        let kid = kid_of(bytes.expose_secret());
        Self { bytes, kid }
    }

    /// Key id: lowercase hex of the first 4 bytes of SHA-256(key).
    pub fn kid(&self) -> String {
        self.kid.clone()
    }

    pub(crate) fn kid_str(&self) -> &str {
        &self.kid
    }

    /// Standard base64 of the key, as stored in a key file or `WINDFLOW_MASTER_KEY`.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.expose_secret()))
    }

    /// The raw key bytes, for the low-level functions in [`super::envelope`].
    pub fn expose_bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        self.bytes.expose_secret()
    }
}

/// Key id of raw key bytes (see [`MasterKey::kid`]).
pub fn kid_of(key: &[u8; MASTER_KEY_LEN]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self::from_bytes(self.expose_bytes())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
