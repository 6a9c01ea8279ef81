//! Thin wrappers over the two primitives the envelope is built from, so that the
//! test vectors exercise exactly the code path the envelope uses.

use aes_gcm::aead::{AeadInOut, KeyInit, Nonce};
use aes_gcm::{Aes256Gcm, Key};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::CryptoError;

/// AES-256-GCM key length in bytes.
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length in bytes (96 bits).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes (128 bits).
pub const TAG_LEN: usize = 16;
/// Largest HKDF-SHA256 output (255 * hash length).
pub const HKDF_MAX_LEN: usize = 255 * 32;

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    let key: &Key<Aes256Gcm> = key.into();
    Aes256Gcm::new(key)
}

fn nonce_ref(nonce: &[u8; NONCE_LEN]) -> &Nonce<Aes256Gcm> {
    nonce.into()
}

/// AES-256-GCM encryption; returns ciphertext with the 16-byte tag appended.
pub fn aes256gcm_seal(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    // Zeroizing only matters if encryption fails with the plaintext still inside.
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    buffer.extend_from_slice(plaintext);
    cipher(key)
        .encrypt_in_place(nonce_ref(nonce), aad, &mut *buffer)
        .map_err(|_| CryptoError::PlaintextTooLong {
            len: plaintext.len(),
        })?;
    Ok(std::mem::take(&mut *buffer))
}

/// AES-256-GCM decryption of ciphertext-and-tag; any mismatch is
/// [`CryptoError::AuthenticationFailed`].
pub fn aes256gcm_open(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut buffer = Zeroizing::new(ciphertext_and_tag.to_vec());
    aes256gcm_open_in_place(key, nonce, aad, &mut buffer)?;
    Ok(buffer)
}

/// [`aes256gcm_open`] in place: on success `buffer` holds the plaintext.
pub fn aes256gcm_open_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    if buffer.len() < TAG_LEN {
        return Err(CryptoError::malformed(
            "ciphertext is shorter than the 16-byte tag",
        ));
    }
    cipher(key)
        .decrypt_in_place(nonce_ref(nonce), aad, buffer)
        .map_err(|_| CryptoError::AuthenticationFailed)
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
