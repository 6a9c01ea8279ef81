//! `windflow crypto rewrap` and `crypto retire-key` for secrets: every value
//! sealed again under the primary master key and bound to its path, key
//! and version, every metadata MAC made again; rotation journals too.
//!
//! The embedded store is rewritten in place, every version (deleted ones
//! too), one secret per transaction. Vault versions cannot be rewritten:
//! the current version is written again as a new version (check-and-set
//! against it, with a `windflow_rewrapped` note in the custom metadata);
//! older versions stay as they are, and are counted so that `retire-key`
//! refuses while they need the old key.

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;
use serde_json::Value;

use super::backend::{LocalStore, Result, SecretsError};
use super::binding::{self, Binding, META_BOUND_FROM, META_MAC, META_REWRAPPED};
use super::rotation::JOURNAL_NS;
use super::{Secrets, model};
use crate::auth::RewrapCount;
use crate::crypto::{Keyring, contexts, mac_kid, sealed_kid};

/// Rewraps the secrets of `s`'s store and every rotation journal; once
/// every secret is bound, legacy (MAC-less) metadata is refused from then on.
pub async fn rewrap(s: &Secrets) -> Result<Vec<RewrapCount>> {
    let secrets = if s.store().kind() == "embedded" {
        rewrap_local(s)?
    } else {
        rewrap_versions(s).await?
    };
    if secrets.failed.is_empty() {
        s.bound().mark_bound()?;
    }
    Ok(vec![secrets, rewrap_journals(s)?])
}

fn rewrap_local(s: &Secrets) -> Result<RewrapCount> {
    let local = LocalStore::new(s.local().clone());
    let keyring = s.keyring();
    let legacy_ok = s.bound().legacy_ok()?;
    let mut count = RewrapCount::new("secrets");
    for path in local.paths()? {
        count.total += 1;
        let mut unbound = false;
        let outcome = local.edit(&path, |doc| {
            let binding = binding::check(keyring, &path, doc.custom, legacy_ok)?;
            unbound = binding == Binding::Unbound;
            let mut changed = false;
            for (version, sealed) in doc.versions {
                for (key, env) in sealed.iter_mut() {
                    let (new, legacy) = reseal(keyring, &path, key, version, binding, env)?;
                    unbound |= legacy;
                    if let Some(new) = new {
                        *env = new;
                        changed = true;
                    }
                }
            }
            let stale = doc.custom.get(META_BOUND_FROM).map(String::as_str) != Some("1")
                || doc
                    .custom
                    .get(META_MAC)
                    .is_none_or(|t| keyring.mac_needs_rewrap(t));
            if changed || stale {
                doc.custom.insert(META_BOUND_FROM.into(), "1".into());
                binding::sign(keyring, &path, doc.custom);
            }
            Ok(changed || stale)
        });
        tally(s, &mut count, &path, outcome, unbound, true);
    }
    Ok(count)
}

/// The value sealed again for its path, key and version under the primary
/// key (`None`: already so), and whether it was sealed the old way.
fn reseal(
    keyring: &Keyring,
    path: &str,
    key: &str,
    version: u64,
    binding: Binding,
    env: &str,
) -> Result<(Option<String>, bool)> {
    let bound = contexts::secret_value(path, key, version);
    let crypto = |e: crate::crypto::CryptoError| SecretsError::Crypto {
        path: format!("{path} key {key} version {version}"),
        reason: e.to_string(),
    };
    let (plain, legacy) = match keyring.decrypt(&bound, env) {
        Ok(_) if !keyring.needs_rewrap(env) => return Ok((None, false)),
        Ok(plain) => (plain, false),
        Err(_) if binding.legacy_ok(version) => (
            keyring
                .decrypt(&model::context(path), env)
                .map_err(crypto)?,
            true,
        ),
        Err(crate::crypto::CryptoError::AuthenticationFailed) => {
            return Err(SecretsError::Tampered {
                record: format!("the value of key {key} of version {version} of secret {path}"),
                reason: "it was not sealed for this path, key and version".into(),
            });
        }
        Err(e) => return Err(crypto(e)),
    };
    Ok((
        Some(keyring.encrypt(&bound, &plain).map_err(crypto)?),
        legacy,
    ))
}

fn tally(
    s: &Secrets,
    count: &mut RewrapCount,
    path: &str,
    outcome: Result<bool>,
    unbound: bool,
    record: bool,
) {
    match outcome {
        Ok(true) => {
            count.rewrapped += 1;
            count.unbound += usize::from(unbound);
        }
        Ok(false) => count.unchanged += 1,
        Err(e) => {
            if let (true, SecretsError::Tampered { record, reason }) = (record, &e) {
                s.emit(
                    "record_tampered",
                    serde_json::json!({ "record": record, "reason": reason }),
                );
            }
            count.failed.push(format!("{path}: {e}"));
        }
    }
}

async fn rewrap_versions(s: &Secrets) -> Result<RewrapCount> {
    let mut count = RewrapCount::new("secrets");
    let primary = s.keyring().primary_kid();
    for path in s.store().list_recursive("").await? {
        count.total += 1;
        let mut unbound = false;
        let outcome = rewrap_current(s, &path, &primary, &mut unbound).await;
        // A tampered record was recorded by the binding layer already.
        tally(s, &mut count, &path, outcome, unbound, false);
        let left = older_versions(s, &path, &|kid| kid != primary).await?;
        if left > 0 {
            count.notes.push(format!(
                "{path}: {left} older version(s) stay under an older key or unbound \
                 (Vault versions cannot be rewritten; destroy them with \
                 `windflow secrets destroy` once they are not needed)"
            ));
        }
    }
    Ok(count)
}

/// Writes the current version of `path` again when it is not sealed bound
/// under the primary key; re-signs the metadata when only that is old.
async fn rewrap_current(
    s: &Secrets,
    path: &str,
    primary: &str,
    unbound: &mut bool,
) -> Result<bool> {
    let binding = s.bound().binding(path).await?;
    let raw = s.bound().inner().metadata(path).await?;
    let current = raw.current_version;
    let live = raw.version(current).is_some_and(|v| v.is_live());
    *unbound = binding.legacy_ok(current) || binding == Binding::Unbound;
    if live {
        let sealed = s.store().read(path, Some(current)).await?;
        let old_key = sealed
            .data
            .values()
            .any(|e| sealed_kid(e).as_deref() != Some(primary));
        if old_key || *unbound {
            let (values, _) = s.read(path, Some(current)).await?;
            let note = format!(
                "version {current} written again as version {} under master key {primary} at {}",
                current + 1,
                model::format_time(super::backend::unix_now())
            );
            s.write_noted(path, &values, current, Some((META_REWRAPPED, note)))
                .await?;
            return Ok(true);
        }
    }
    let mac_old = raw
        .custom
        .get(META_MAC)
        .is_none_or(|t| mac_kid(t) != Some(primary));
    if mac_old {
        let mut custom = raw.custom;
        custom.remove(META_MAC);
        // No version was written bound here (the current one is deleted or
        // already bound): an unbound secret's versions all stay as they are.
        custom
            .entry(META_BOUND_FROM.into())
            .or_insert_with(|| (current + 1).to_string());
        s.store().set_custom(path, &custom).await?;
    }
    Ok(mac_old)
}

/// Versions of `path` other than the current whose values need a key
/// `needs` says yes to (or are sealed the old way); a deleted version, whose
/// values Vault does not show, counts too.
async fn older_versions(s: &Secrets, path: &str, needs: &dyn Fn(&str) -> bool) -> Result<usize> {
    let meta = s.bound().inner().metadata(path).await?;
    let binding = s.bound().binding(path).await.unwrap_or(Binding::Unbound);
    let mut n = 0;
    for v in meta
        .versions
        .iter()
        .filter(|v| v.version != meta.current_version)
    {
        if v.destroyed {
            continue;
        }
        if !v.is_live() {
            n += 1;
            continue;
        }
        let sealed = s.store().read(path, Some(v.version)).await?;
        let uses = sealed
            .data
            .values()
            .any(|e| sealed_kid(e).is_none_or(|k| needs(&k)));
        n += usize::from(uses || binding.legacy_ok(v.version));
    }
    Ok(n)
}

/// Seals the new values of every rotation journal again (context
/// `rotation:<path>`), each in its own transaction, only if unchanged since read.
fn rewrap_journals(s: &Secrets) -> Result<RewrapCount> {
    let keyring = s.keyring();
    let mut count = RewrapCount::new("rotation journals");
    for (key, bytes) in s.local().list(JOURNAL_NS, "")? {
        count.total += 1;
        let Ok(mut doc) = serde_json::from_slice::<Value>(&bytes) else {
            count.failed.push(format!(
                "{key}: unreadable journal (see `windflow secrets recover`)"
            ));
            continue;
        };
        let (Some(path), Some(sealed)) = (
            doc["path"].as_str().map(str::to_owned),
            doc["sealed_new"].as_str().map(str::to_owned),
        ) else {
            count.unchanged += 1;
            continue;
        };
        if !keyring.needs_rewrap(&sealed) {
            count.unchanged += 1;
            continue;
        }
        let new = match keyring.rewrap(&contexts::rotation(&path), &sealed) {
            Ok(new) => new,
            Err(e) => {
                count.failed.push(format!("{key}: {e}"));
                continue;
            }
        };
        doc["sealed_new"] = Value::String(new);
        let out = serde_json::to_vec(&doc).expect("a JSON value serialises");
        let written = s.local().transaction(|tx| {
            let cur: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                    rusqlite::params![JOURNAL_NS, key],
                    |r| r.get(0),
                )
                .optional()?;
            if cur.as_deref() != Some(&bytes[..]) {
                return Ok(false);
            }
            tx.execute(
                "UPDATE kv SET value = ?3, updated_at = unixepoch() WHERE ns = ?1 AND key = ?2",
                rusqlite::params![JOURNAL_NS, key, out],
            )?;
            Ok(true)
        })?;
        if written {
            count.rewrapped += 1;
        } else {
            count.failed.push(format!(
                "{key}: the journal changed meanwhile (a rotation is running): run rewrap again"
            ));
        }
    }
    Ok(count)
}

/// What in `s`'s store and journals still needs master key `kid`, by kind.
pub async fn usage(s: &Secrets, kid: &str) -> Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    let mut add = |what: &str, n: usize| {
        if n > 0 {
            *out.entry(what.to_owned()).or_default() += n;
        }
    };
    let is = |k: Option<String>| k.as_deref() == Some(kid);
    if s.store().kind() == "embedded" {
        let local = LocalStore::new(s.local().clone());
        for path in local.paths()? {
            let Some((custom, versions)) = local.view(&path)? else {
                continue;
            };
            add(
                "secret metadata MACs",
                usize::from(
                    custom
                        .get(META_MAC)
                        .is_some_and(|t| mac_kid(t) == Some(kid)),
                ),
            );
            add(
                "secret versions",
                versions
                    .iter()
                    .filter(|(_, sealed)| sealed.values().any(|e| is(sealed_kid(e))))
                    .count(),
            );
        }
    } else {
        for path in s.store().list_recursive("").await? {
            let meta = s.bound().inner().metadata(&path).await?;
            add(
                "secret metadata MACs",
                usize::from(
                    meta.custom
                        .get(META_MAC)
                        .is_some_and(|t| mac_kid(t) == Some(kid)),
                ),
            );
            for v in meta.versions.iter().filter(|v| !v.destroyed) {
                if !v.is_live() {
                    add(
                        "deleted Vault secret versions (their key cannot be read: undelete and rewrap, or destroy them)",
                        1,
                    );
                    continue;
                }
                let sealed = s.store().read(&path, Some(v.version)).await?;
                add(
                    "secret versions",
                    usize::from(sealed.data.values().any(|e| is(sealed_kid(e)))),
                );
            }
        }
    }
    for (_, bytes) in s.local().list(JOURNAL_NS, "")? {
        let sealed = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|d| d["sealed_new"].as_str().map(str::to_owned));
        add(
            "rotation journals",
            usize::from(sealed.is_some_and(|e| is(sealed_kid(&e)))),
        );
    }
    Ok(out)
}
