//! The `wf1` envelope: `wf1.<kid>.<salt>.<nonce>.<ciphertext-and-tag>`.
//!
//! `kid` is 8 lowercase hex digits; the other parts are base64url without padding.
//! key = HKDF-SHA256(IKM = master key, salt, info = `windflow/v1/` + context, L = 32);
//! ciphertext-and-tag = AES-256-GCM(key, nonce, plaintext, AAD = context).

use std::fmt;

use rand::RngCore;
use zeroize::Zeroizing;

use super::b64;
use super::key::{MASTER_KEY_LEN, kid_of};
use super::primitives::{
    KEY_LEN, NONCE_LEN, TAG_LEN, aes256gcm_open_in_place, aes256gcm_seal_in_place, hkdf_sha256,
};
use super::{CryptoError, Plaintext};

/// First part of every envelope: format version 1.
pub const PREFIX: &str = "wf1";
/// HKDF salt length in bytes.
pub const SALT_LEN: usize = 16;
/// HKDF info is this prefix followed by the context.
pub const INFO_PREFIX: &[u8] = b"windflow/v1/";

/// A parsed envelope. Holds only public data (ciphertext, never plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Id of the master key it was sealed with.
    pub kid: String,
    /// HKDF salt.
    pub salt: [u8; SALT_LEN],
    /// AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext with the 16-byte tag appended.
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// Parses the text form (surrounding whitespace ignored), checking every part.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let parts_error = || {
            CryptoError::malformed(format!(
                "expected 5 dot-separated parts (wf1.<kid>.<salt>.<nonce>.<ciphertext>), found {}",
                text.split('.').count()
            ))
        };
        // The first four parts are short; the ciphertext is all that follows.
        let mut parts = text.splitn(5, '.');
        let mut next = || parts.next().ok_or_else(parts_error);
        let (prefix, kid, salt, nonce, ciphertext) = (next()?, next()?, next()?, next()?, next()?);
        if prefix != PREFIX {
            return Err(CryptoError::malformed(
                "it does not start with `wf1.` (not a WindFlow envelope, or an unknown version)",
            ));
        }
        let kid_ok = kid.len() == 8 && kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !kid_ok {
            return Err(CryptoError::malformed(
                "the key id is not 8 lowercase hex digits",
            ));
        }
        let salt = decode_fixed(salt, "salt")?;
        let nonce = decode_fixed(nonce, "nonce")?;
        let ciphertext = decode(ciphertext, "ciphertext").map_err(|e| {
            if ciphertext.contains('.') {
                parts_error()
            } else {
                e
            }
        })?;
        if ciphertext.len() < TAG_LEN {
            return Err(CryptoError::malformed(
                "the ciphertext is shorter than the 16-byte tag (truncated?)",
            ));
        }
        Ok(Self {
            kid: kid.to_owned(),
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Decrypts in place with `master` (whose kid the caller has matched).
    pub fn open(
        self,
        master: &[u8; MASTER_KEY_LEN],
        context: &str,
    ) -> Result<Plaintext, CryptoError> {
        check_context(context)?;
        let key = derive_key(master, &self.salt, context);
        aes256gcm_open_in_place(&key, &self.nonce, context.as_bytes(), self.ciphertext)
    }
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(
            &self.kid,
            &self.salt,
            &self.nonce,
            &self.ciphertext,
        ))
    }
}

/// The per-context AES key: HKDF-SHA256(master, salt, `windflow/v1/` + context), 32 bytes.
pub fn derive_key(
    master: &[u8; MASTER_KEY_LEN],
    salt: &[u8],
    context: &str,
) -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    // 32 bytes is far below HKDF's 8160-byte limit: this cannot fail.
    let derived = hkdf_sha256(
        master,
        salt,
        &[INFO_PREFIX, context.as_bytes()],
        &mut key[..],
    );
    debug_assert!(derived.is_ok());
    key
}

/// Seals with the given salt and nonce. Deterministic: for tests and interoperability
/// only — real use must take fresh random values ([`seal`]).
pub fn seal_with(
    master: &[u8; MASTER_KEY_LEN],
    context: &str,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    seal_parts(master, &kid_of(master), context, salt, nonce, plaintext)
}

/// Seals under `master` with a random salt and nonce.
pub fn seal(
    master: &[u8; MASTER_KEY_LEN],
    context: &str,
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    seal_random(master, &kid_of(master), context, plaintext)
}

/// Opens an envelope sealed under `master`; a different kid is [`CryptoError::UnknownKey`].
pub fn open(
    master: &[u8; MASTER_KEY_LEN],
    context: &str,
    envelope: &str,
) -> Result<Plaintext, CryptoError> {
    check_context(context)?;
    let envelope = Envelope::parse(envelope)?;
    if envelope.kid != kid_of(master) {
        return Err(CryptoError::UnknownKey { kid: envelope.kid });
    }
    envelope.open(master, context)
}

pub(crate) fn seal_random(
    master: &[u8; MASTER_KEY_LEN],
    kid: &str,
    context: &str,
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    let mut rng = rand::rng();
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    seal_parts(master, kid, context, &salt, &nonce, plaintext)
}

fn seal_parts(
    master: &[u8; MASTER_KEY_LEN],
    kid: &str,
    context: &str,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    check_context(context)?;
    let key = derive_key(master, salt, context);
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    aes256gcm_seal_in_place(&key, nonce, context.as_bytes(), &mut buffer)?;
    Ok(encode(kid, salt, nonce, &buffer))
}

pub(crate) fn check_context(context: &str) -> Result<(), CryptoError> {
    if context.is_empty() {
        Err(CryptoError::EmptyContext)
    } else {
        Ok(())
    }
}

fn encode(kid: &str, salt: &[u8], nonce: &[u8], ciphertext: &[u8]) -> String {
    let mut out = String::with_capacity(64 + ciphertext.len().div_ceil(3) * 4);
    out.push_str(PREFIX);
    out.push('.');
    out.push_str(kid);
    for part in [salt, nonce, ciphertext] {
        out.push('.');
        b64::encode_append(part, &mut out);
    }
    out
}

fn decode(part: &str, name: &str) -> Result<Vec<u8>, CryptoError> {
    b64::decode_to_vec(part.as_bytes())
        .map_err(|_| CryptoError::malformed(format!("the {name} is not base64url without padding")))
}

fn decode_fixed<const N: usize>(part: &str, name: &str) -> Result<[u8; N], CryptoError> {
    decode(part, name)?
        .try_into()
        .map_err(|_| CryptoError::malformed(format!("the {name} is not {N} bytes")))
}
