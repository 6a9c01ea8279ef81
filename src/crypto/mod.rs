//! Envelope encryption: AES-256-GCM under a per-context key derived with
//! HKDF-SHA256 from a master key.
//!
//! Envelopes look like `wf1.<kid>.<salt>.<nonce>.<ciphertext-and-tag>` (see
//! [`envelope`]). A [`Keyring`] holds the master keys: the newest encrypts, and
//! decryption picks the key named by the envelope's kid, so keys can be rotated
//! and old data re-encrypted with [`Keyring::rewrap`].
//!
//! ```
//! use windflow::crypto::{Keyring, MasterKey};
//!
//! let ring = Keyring::new(MasterKey::generate());
//! let sealed = ring.encrypt("totp:alice", b"JBSWY3DPEHPK3PXP").unwrap();
//! assert_eq!(&ring.decrypt("totp:alice", &sealed).unwrap()[..], b"JBSWY3DPEHPK3PXP");
//! assert!(ring.decrypt("session", &sealed).is_err());
//! ```

pub mod b64;
pub mod contexts;
pub mod envelope;
mod error;
mod key;
mod keyring;
mod mac;
mod plaintext;
pub mod primitives;

pub use envelope::{Envelope, derive_key, open, seal, seal_with};
pub use error::{CryptoError, KeyError};
pub use key::{MASTER_KEY_LEN, MasterKey, kid_of};
pub use keyring::{KEY_FILE_NAME, KeySource, Keyring, MASTER_KEY_ENV, retire_key};
pub use mac::{mac_kid, sealed_kid};
pub use plaintext::Plaintext;
