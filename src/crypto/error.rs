//! Errors of the crypto module. None of them ever carries key material or plaintext.

use std::path::PathBuf;

/// Why an envelope could not be sealed or opened.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// Every encryption must name what the data is for (`session`, `totp:alice`, ...).
    #[error("the encryption context must not be empty (use e.g. `session` or `totp:alice`)")]
    EmptyContext,

    /// The text is not a `wf1.<kid>.<salt>.<nonce>.<ciphertext>` envelope.
    #[error("malformed envelope: {reason}")]
    Malformed {
        /// What is wrong with the text (never its content).
        reason: String,
    },

    /// The envelope names a key id that no loaded master key has.
    #[error(
        "the envelope was sealed with master key {kid}, which is not in the keyring; \
         load that key (WINDFLOW_MASTER_KEY or the key file) to decrypt it"
    )]
    UnknownKey {
        /// Key id written in the envelope.
        kid: String,
    },

    /// The key matched but the tag did not: another context, or changed bytes.
    #[error("decryption of the envelope failed: wrong context or tampered/corrupted data")]
    AuthenticationFailed,

    /// AES-GCM cannot encrypt more than 64 GiB under one nonce.
    #[error("plaintext of {len} bytes is too long for AES-256-GCM")]
    PlaintextTooLong {
        /// Length of the refused plaintext.
        len: usize,
    },

    /// HKDF-SHA256 cannot produce more than 255 * 32 bytes.
    #[error("HKDF-SHA256 output of {len} bytes requested; the maximum is 8160")]
    KdfOutputTooLong {
        /// Requested output length.
        len: usize,
    },
}

impl CryptoError {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed {
            reason: reason.into(),
        }
    }
}

/// Why master keys could not be loaded or stored.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading, creating or appending to a key file failed.
    #[error("cannot {action} key file {}: {source}", .path.display())]
    Io {
        /// What we were doing (`read`, `create`, `append to`).
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The key file does not exist and was not to be created.
    #[error(
        "no master key: key file {} does not exist; set WINDFLOW_MASTER_KEY \
         (standard base64 of 32 bytes) or let windflow create the file",
        .path.display()
    )]
    Missing {
        /// The expected key file.
        path: PathBuf,
    },

    /// A key is not valid standard base64.
    #[error("master key in {origin} is not valid standard base64")]
    BadBase64 {
        /// Where the key came from (`line 2 of /path`, `WINDFLOW_MASTER_KEY entry 1`).
        origin: String,
    },

    /// A key does not decode to 32 bytes.
    #[error("master key in {origin} is {len} bytes long; a master key is 32 bytes")]
    WrongLength {
        /// Where the key came from.
        origin: String,
        /// Its decoded length.
        len: usize,
    },

    /// The key file is missing from a data dir whose audit log holds records
    /// sealed under a key: a new key would not open them.
    #[error(
        "no master key: key file {} does not exist, but {} holds records sealed under a \
         master key; restore the key file (or set WINDFLOW_MASTER_KEY): windflow creates \
         a new key only in a data dir without history",
        .path.display(), .history.display()
    )]
    MissingWithHistory {
        /// The expected key file.
        path: PathBuf,
        /// A log that holds records.
        history: PathBuf,
    },

    /// The source holds no key at all.
    #[error("no master key found in {origin}")]
    Empty {
        /// The empty source.
        origin: String,
    },

    /// A key that cannot be retired from the key file.
    #[error("cannot retire master key {kid}: {why}")]
    Retire {
        /// The key's id.
        kid: String,
        /// Why (never key material).
        why: String,
    },

    /// Like ssh, we refuse a key file that other users may read or change.
    #[error(
        "key file {} is {} by group/others (mode {mode:04o}); run chmod 600 {}",
        .path.display(), crate::fsutil::exposure(*.mode), .path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}
