//! Records kept encrypted in the local store: JSON sealed with the envelope
//! under a context derived from the namespace and the key (`totp:<user>`,
//! `grant:<operator>`, see [`contexts`]), so a record copied to another key
//! does not open.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::AuthError;
use crate::crypto::{CryptoError, Keyring, contexts};
use crate::store::Store;

/// MFA records, one per user.
pub const MFA_NS: &str = "mfa";
/// Step-up grants, one per operator.
pub const GRANTS_NS: &str = "grants";

/// The encrypted namespaces.
pub const ENCRYPTED_NAMESPACES: &[&str] = &[MFA_NS, GRANTS_NS];

/// The envelope context of `key` in namespace `ns`; a namespace that is not
/// one of [`ENCRYPTED_NAMESPACES`] gets a reserved context nothing opens.
pub fn context(ns: &str, key: &str) -> String {
    match ns {
        MFA_NS => contexts::totp(key),
        GRANTS_NS => contexts::grant(key),
        _ => contexts::record(ns, key),
    }
}

/// Reads and decrypts a record.
pub fn load<T: DeserializeOwned>(
    store: &Store,
    keyring: &Keyring,
    ns: &str,
    key: &str,
) -> Result<Option<T>, AuthError> {
    store
        .get(ns, key)?
        .map(|bytes| open(keyring, ns, key, &bytes))
        .transpose()
}

/// Encrypts and writes a record.
pub fn save<T: Serialize>(
    store: &Store,
    keyring: &Keyring,
    ns: &str,
    key: &str,
    value: &T,
) -> Result<(), AuthError> {
    let sealed = seal(keyring, ns, key, value)?;
    store.put(ns, key, sealed.as_bytes())?;
    Ok(())
}

/// Reads a record, lets `f` change it (or set it to `None` to delete it) and
/// writes back whatever `f` left, all in one store transaction, so that two
/// processes never both accept the same code. The state is written whether
/// `f`'s result is a success or not (failures and lockouts are state).
pub fn update<T, R>(
    store: &Store,
    keyring: &Keyring,
    ns: &str,
    key: &str,
    f: impl FnOnce(&mut Option<T>) -> R,
) -> Result<R, AuthError>
where
    T: Serialize + DeserializeOwned,
{
    store.transaction(|tx| {
        let old: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                params![ns, key],
                |r| r.get(0),
            )
            .optional()?;
        let existed = old.is_some();
        let mut value = match old
            .map(|bytes| open::<T>(keyring, ns, key, &bytes))
            .transpose()
        {
            Ok(value) => value,
            Err(e) => return Ok(Err(e)),
        };
        let out = f(&mut value);
        match value {
            Some(value) => {
                let sealed = match seal(keyring, ns, key, &value) {
                    Ok(sealed) => sealed,
                    Err(e) => return Ok(Err(e)),
                };
                write(tx, ns, key, sealed.as_bytes())?;
            }
            None if existed => {
                tx.execute(
                    "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
                    params![ns, key],
                )?;
            }
            None => {}
        }
        Ok(Ok(out))
    })?
}

fn write(
    tx: &rusqlite::Transaction<'_>,
    ns: &str,
    key: &str,
    value: &[u8],
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, unixepoch())
         ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![ns, key, value],
    )
    .map(|_| ())
}

fn seal<T: Serialize>(
    keyring: &Keyring,
    ns: &str,
    key: &str,
    value: &T,
) -> Result<String, AuthError> {
    let json = Zeroizing::new(
        serde_json::to_vec(value).map_err(|_| AuthError::Corrupt(format!("{ns}/{key}")))?,
    );
    Ok(keyring.encrypt(&context(ns, key), &json)?)
}

fn open<T: DeserializeOwned>(
    keyring: &Keyring,
    ns: &str,
    key: &str,
    bytes: &[u8],
) -> Result<T, AuthError> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        AuthError::Crypto(CryptoError::Malformed {
            reason: format!("record {ns}/{key} is not envelope text"),
        })
    })?;
    let json = keyring.decrypt(&context(ns, key), text)?;
    serde_json::from_slice(&json).map_err(|_| AuthError::Corrupt(format!("{ns}/{key}")))
}

/// What `windflow crypto rewrap` did with one kind of record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RewrapCount {
    pub namespace: String,
    pub total: usize,
    pub rewrapped: usize,
    pub unchanged: usize,
    /// Records of the format before records were bound to their place
    /// (no MAC, or values sealed under a context without their key and
    /// version): accepted unverified until this rewrap bound them.
    #[serde(default)]
    pub unbound: usize,
    /// `key: reason` of every record that could not be rewrapped.
    pub failed: Vec<String>,
    /// What was left as it was, and why (not a failure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl RewrapCount {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            ..Self::default()
        }
    }
}

/// Re-encrypts every record of the encrypted namespaces that is not sealed
/// under the keyring's primary key.
pub fn rewrap_all(store: &Store, keyring: &Keyring) -> Result<Vec<RewrapCount>, AuthError> {
    ENCRYPTED_NAMESPACES
        .iter()
        .map(|ns| rewrap_namespace(store, keyring, ns, "", |key| Some(context(ns, key))))
        .collect()
}

/// Re-encrypts every envelope stored in `ns` under keys starting with
/// `prefix` that is not sealed under the primary key; `context` gives each
/// key's context (`None`: not a record of this kind, left alone). Each
/// record is rewrapped in its own transaction, re-read inside it, so a
/// concurrent update is never lost.
pub fn rewrap_namespace(
    store: &Store,
    keyring: &Keyring,
    ns: &str,
    prefix: &str,
    context: impl Fn(&str) -> Option<String>,
) -> Result<RewrapCount, AuthError> {
    let mut count = RewrapCount::new(ns);
    for (key, value) in store.list(ns, prefix)? {
        let Some(context) = context(&key) else {
            continue;
        };
        count.total += 1;
        let text = String::from_utf8_lossy(&value);
        if !keyring.needs_rewrap(&text) {
            count.unchanged += 1;
            continue;
        }
        match rewrap_one(store, keyring, ns, &key, &context)? {
            Ok(true) => count.rewrapped += 1,
            Ok(false) => count.unchanged += 1,
            Err(e) => count.failed.push(format!("{key}: {e}")),
        }
    }
    Ok(count)
}

/// How many records each master key sealed (or MAC'd), by kid.
pub type KidCounts = std::collections::BTreeMap<String, usize>;

/// How many envelopes of `ns` (keys starting with `prefix`) each master key sealed.
pub fn kid_counts(store: &Store, ns: &str, prefix: &str) -> Result<KidCounts, AuthError> {
    let mut counts = KidCounts::new();
    for (_, value) in store.list(ns, prefix)? {
        let kid = crate::crypto::sealed_kid(&String::from_utf8_lossy(&value))
            .unwrap_or_else(|| "unreadable".into());
        *counts.entry(kid).or_default() += 1;
    }
    Ok(counts)
}

/// `Ok(Ok(true))` rewrapped, `Ok(Ok(false))` gone or already current.
fn rewrap_one(
    store: &Store,
    keyring: &Keyring,
    ns: &str,
    key: &str,
    context: &str,
) -> Result<Result<bool, CryptoError>, AuthError> {
    Ok(store.transaction(|tx| {
        let Some(old) = tx
            .query_row(
                "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                params![ns, key],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?
        else {
            return Ok(Ok(false));
        };
        let text = String::from_utf8_lossy(&old);
        if !keyring.needs_rewrap(&text) {
            return Ok(Ok(false));
        }
        match keyring.rewrap(context, &text) {
            Ok(new) => write(tx, ns, key, new.as_bytes()).map(|()| Ok(true)),
            Err(e) => Ok(Err(e)),
        }
    })?)
}
