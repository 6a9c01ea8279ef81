//! Thin wrappers over the two primitives the envelope is built from, so that the
//! test vectors exercise exactly the code path the envelope uses.
//!
//! AES-256-GCM is ring's (BoringSSL's constant-time assembly, with AES-NI and
//! carry-less multiply where the CPU has them); HKDF-SHA256 is the `hkdf` crate.

use hkdf::Hkdf;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroize;

use super::{CryptoError, Plaintext};

/// AES-256-GCM key length in bytes.
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length in bytes (96 bits).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes (128 bits).
pub const TAG_LEN: usize = 16;
/// Largest HKDF-SHA256 output (255 * hash length).
pub const HKDF_MAX_LEN: usize = 255 * 32;

fn cipher(key: &[u8; KEY_LEN]) -> LessSafeKey {
    // A 32-byte key is exactly what AES-256-GCM takes: this cannot fail.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key"))
}

/// AES-256-GCM encryption; returns ciphertext with the 16-byte tag appended.
pub fn aes256gcm_seal(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    aes256gcm_seal_in_place(key, nonce, aad, &mut buffer)?;
    Ok(buffer)
}

/// [`aes256gcm_seal`] in place: `buffer` holds the plaintext and, on success, the
/// ciphertext with the tag appended. On failure the plaintext is wiped.
pub fn aes256gcm_seal_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let len = buffer.len();
    cipher(key)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), buffer)
        .map_err(|_| {
            buffer.as_mut_slice().zeroize();
            CryptoError::PlaintextTooLong { len }
        })
}

/// AES-256-GCM decryption of ciphertext-and-tag; any mismatch is
/// [`CryptoError::AuthenticationFailed`].
pub fn aes256gcm_open(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Plaintext, CryptoError> {
    aes256gcm_open_in_place(key, nonce, aad, ciphertext_and_tag.to_vec())
}

/// [`aes256gcm_open`] taking the ciphertext-and-tag buffer, which becomes the plaintext.
pub fn aes256gcm_open_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: Vec<u8>,
) -> Result<Plaintext, CryptoError> {
    if buffer.len() < TAG_LEN {
        return Err(CryptoError::malformed(
            "ciphertext is shorter than the 16-byte tag",
        ));
    }
    // From here on the buffer may hold plaintext: it is wiped however this ends.
    let mut plaintext = Plaintext::from(buffer);
    let len = cipher(key)
        .open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            plaintext.as_mut_vec(),
        )
        .map_err(|_| CryptoError::AuthenticationFailed)?
        .len();
    plaintext.as_mut_vec().truncate(len);
    Ok(plaintext)
}

/// HKDF-SHA256 (RFC 5869) filling `okm`; `info` is the concatenation of `info_parts`.
/// An empty salt is the RFC's default salt (32 zero bytes).
pub fn hkdf_sha256(
    ikm: &[u8],
    salt: &[u8],
    info_parts: &[&[u8]],
    okm: &mut [u8],
) -> Result<(), CryptoError> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand_multi_info(info_parts, okm)
        .map_err(|_| CryptoError::KdfOutputTooLong { len: okm.len() })
}
