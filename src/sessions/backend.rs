//! Where sessions live: the [`SessionStore`] trait, the embedded
//! [`LocalStore`] (tables in the shared SQLite store) and the [`RedisStore`].
//!
//! Both keep the session as an envelope of its JSON sealed for its id
//! (context `session:<id>`), so a store dump shows no user data beyond the
//! user id of the per-user index, and an envelope copied under another
//! session's key does not open there: it is refused and reported (see
//! [`Refusals`]), never taken for that session. Envelopes sealed before
//! sessions were bound to their id (context `session`) are still read when
//! the id inside is the key's, and sealed again for it at the next
//! validation; one naming another id is refused the same way.
//!
//! Redis layout:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `session:<id>` | string, TTL | the envelope; validation slides the TTL |
//! | `user_sessions:<user>` | sorted set, TTL | ids of the user's sessions, scored by expiry (ms); expired ids are removed whenever a session is added |
//! | `session_hijack:<id>` | string, TTL | envelope of the revoked session and the attempt, kept [`HIJACK_KEEP_MS`] for the console |
//! | `session_revoked:<id>` | string, TTL | `1`: an operator revoked the session, kept [`REVOKED_KEEP_MS`] so a validation says so |
//! | `session_changes` | stream, about 100k entries | the id of every session a script changed, so the console reads what changed instead of scanning every second |
//!
//! Every change is one Lua script, so no reader can observe half of it and a
//! validation can never write back a session that a revocation removed
//! meanwhile: the validation's write only happens if the key still exists.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rusqlite::{OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::model::{
    HijackAttempt, Invalid, Lifetime, Listed, Session, Validation, is_valid_id, to_json,
};
use crate::auth::RewrapCount;
use crate::auth::sealed::KidCounts;
use crate::crypto::{Keyring, contexts};
use crate::service::Backend;
use crate::store::{Store, StoreError};

/// How long a session revoked for a hijack attempt stays visible.
pub const HIJACK_KEEP_MS: i64 = 3_600_000;
/// How long a validation of a revoked session says `revoked` (then `unknown`).
pub const REVOKED_KEEP_MS: i64 = 24 * 3_600_000;
/// The key prefix of revocation markers in Redis.
pub const REVOKED_PREFIX: &str = "session_revoked:";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "the session store at {target} is unreachable ({message}); nothing was changed: it reconnects by itself, try again shortly"
    )]
    Unavailable { target: String, message: String },
    #[error(
        "the session store at {target} refused the credentials: authentication failed ({message}); \
         this will not heal by itself: fix the password in the Redis URL \
         (redis://:PASSWORD@host:port or redis://USER:PASSWORD@host:port for an ACL user) \
         given by --redis-url or WINDFLOW_REDIS_URL, or the password of [sessions] \
         redis_password_file / redis_password_env in windflow.toml"
    )]
    Auth { target: String, message: String },
    #[error("the session store at {target} failed: {message}")]
    Backend { target: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot seal a session: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("{0}")]
    Input(String),
}

impl SessionError {
    /// Whether the backend cannot be reached (as opposed to a bad request).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SessionError::Unavailable { .. })
    }
}

pub type Result<T> = std::result::Result<T, SessionError>;

/// The cursor after a batch of changes, and the ids they touched.
pub type Changes = (String, Vec<String>);

/// A session or hijack record as listed, before it is fetched.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub id: String,
    /// A `session_hijack:` record (a session revoked for a hijack attempt).
    pub hijack: bool,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// A store of sessions. Every method is atomic on its own.
pub trait SessionStore: Send + Sync {
    /// What it is (for the status bar), with credentials removed.
    fn backend(&self) -> Backend;
    fn target(&self) -> String;
    /// A round trip to the backend.
    fn ping(&self) -> BoxFuture<'_, Result<Duration>>;
    /// Stores a new session for `ttl_ms`; returns when it expires (unix ms).
    fn create<'a>(&'a self, s: &'a Session, ttl_ms: i64) -> BoxFuture<'a, Result<i64>>;
    /// Validates `id` presented with `fingerprint` (see [`Validation`]): a
    /// session past `lifetime.max_ms` since its creation is expired however
    /// active; a valid one gets the idle TTL, cut at that deadline.
    fn validate<'a>(
        &'a self,
        id: &'a str,
        attempt: &'a HijackAttempt,
        lifetime: Lifetime,
    ) -> BoxFuture<'a, Result<Validation>>;
    /// The stored records this handle refused to open.
    fn refusals(&self) -> &Refusals;
    /// Every live session and hijack record with its expiry (no payloads).
    fn entries(&self) -> BoxFuture<'_, Result<Vec<Entry>>>;
    /// The payloads of `entries` (missing ones are left out), and the
    /// records among them that did not open.
    fn fetch<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<Found>>;
    /// Every session and hijack record, fetched (one pass where the backend can).
    fn list_all(&self) -> BoxFuture<'_, Result<Found>> {
        Box::pin(async move {
            let entries = self.entries().await?;
            self.fetch(&entries).await
        })
    }
    /// The position of the newest change, if the backend logs changes.
    fn change_cursor(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }
    /// Ids changed after `cursor` and the new cursor; `None` when the log
    /// does not reach back that far (or there is none): list everything.
    fn changes_since<'a>(&'a self, _cursor: &'a str) -> BoxFuture<'a, Result<Option<Changes>>> {
        Box::pin(async { Ok(None) })
    }
    /// The live sessions of one user, from the per-user index.
    fn user_sessions<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Found>>;
    /// Removes a session (and its hijack record); returns the removed session.
    fn revoke<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Session>>>;
    /// Removes every session of `user` at once; returns their ids.
    fn revoke_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<String>>>;
    /// Seals every stored session and hijack record again under the
    /// primary master key, bound to its id (`crypto rewrap`); a record that
    /// changed meanwhile (a validation, a revocation) is left to that change.
    fn rewrap(&self) -> BoxFuture<'_, Result<RewrapCount>>;
    /// How many stored records each master key sealed (`crypto retire-key`).
    fn kid_counts(&self) -> BoxFuture<'_, Result<KidCounts>>;
}

/// Every session and hijack record, fetched.
pub async fn list_all(store: &dyn SessionStore) -> Result<Found> {
    store.list_all().await
}

/// Looks one id up (live session first, then hijack record): the first
/// that opens, else what is stored under the id and did not open.
pub async fn get(store: &dyn SessionStore, id: &str) -> Result<Found> {
    let mut found = Found::default();
    if !is_valid_id(id) {
        return Ok(found);
    }
    for hijack in [false, true] {
        let e = Entry {
            id: id.to_string(),
            hijack,
            expires_at: 0,
        };
        let mut f = store.fetch(std::slice::from_ref(&e)).await?;
        if let Some(l) = f.listed.pop() {
            return Ok(Found {
                listed: vec![l],
                unopened: Vec::new(),
            });
        }
        found.unopened.append(&mut f.unopened);
    }
    Ok(found)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The sealed form of a hijack record.
#[derive(Serialize, Deserialize)]
struct HijackRecord {
    session: Session,
    attempt: HijackAttempt,
}

/// Stored records a store handle refused to open: sealed for another
/// session id, naming another id, or not openable at all. Each is noted
/// once (logged, and handed once to [`Refusals::take_new`], whose caller
/// records it), however often it is read again.
#[derive(Debug, Default)]
pub struct Refusals(Mutex<RefusalLog>);

#[derive(Debug, Default)]
struct RefusalLog {
    seen: HashSet<(String, bool)>,
    new: Vec<Refused>,
}

/// A stored record refused: the id it was stored under and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub id: String,
    /// A hijack record rather than a live session.
    pub hijack_record: bool,
    /// [`Invalid::Undecryptable`] or [`Invalid::Misplaced`].
    pub reason: Invalid,
}

impl Refusals {
    fn note(&self, id: &str, hijack_record: bool, reason: Invalid) {
        let mut log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if log.seen.insert((id.to_owned(), hijack_record)) {
            tracing::warn!(
                session = id.get(..8).unwrap_or(id),
                reason = reason.as_str(),
                "stored session record refused"
            );
            log.new.push(Refused {
                id: id.to_owned(),
                hijack_record,
                reason,
            });
        }
    }

    /// The refusals not taken before.
    pub fn take_new(&self) -> Vec<Refused> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()).new)
    }
}

/// Why a stored record could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unreadable {
    /// Sealed under a master key that is not loaded (its key id).
    KeyNotLoaded { kid: String },
    /// It does not decrypt with the loaded keys: malformed, tampered with
    /// or corrupted (what is wrong, never its content).
    Damaged { error: String },
    /// It opens, but is another session's, copied under this id.
    Misplaced,
}

impl Unreadable {
    /// What `count` records unreadable for this reason are, in words:
    /// `3 sessions are sealed under key 1a2b3c4d, which is not loaded`.
    pub fn say(&self, count: usize) -> String {
        let (what, are) = match count {
            1 => ("1 session".to_string(), "is"),
            n => (format!("{n} sessions"), "are"),
        };
        match self {
            Unreadable::KeyNotLoaded { kid } => {
                format!("{what} {are} sealed under key {kid}, which is not loaded")
            }
            Unreadable::Damaged { error } => format!("{what} cannot be decrypted: {error}"),
            Unreadable::Misplaced => {
                format!("{what} {are} refused: another session's record copied under its id")
            }
        }
    }
}

/// A stored record that did not open (a live session or a hijack record).
/// Its id is a credential: shown shortened (see `service::short`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unopened {
    pub id: String,
    pub hijack_record: bool,
    pub why: Unreadable,
}

/// What a read found: the records it opened, and those it could not.
#[derive(Debug, Default)]
pub struct Found {
    pub listed: Vec<Listed>,
    pub unopened: Vec<Unopened>,
}

impl Found {
    fn push(&mut self, read: std::result::Result<Listed, Unopened>) {
        match read {
            Ok(l) => self.listed.push(l),
            Err(u) => self.unopened.push(u),
        }
    }

    fn append(&mut self, mut other: Found) {
        self.listed.append(&mut other.listed);
        self.unopened.append(&mut other.unopened);
    }
}

/// Unopened records counted by reason, in a stable order: each reason, its
/// count, and the (short) ids.
pub fn unreadable_groups(unopened: &[Unopened]) -> Vec<(Unreadable, Vec<&str>)> {
    let mut groups: std::collections::BTreeMap<&Unreadable, Vec<&str>> = Default::default();
    for u in unopened {
        groups.entry(&u.why).or_default().push(&u.id);
    }
    groups
        .into_iter()
        .map(|(why, ids)| (why.clone(), ids))
        .collect()
}

/// Why `envelope` did not open as the record under its id: its key is not
/// loaded, it is damaged, or (`why` says) it is another session's.
fn unreadable(keys: &Keyring, envelope: &str, why: Invalid) -> Unreadable {
    if why == Invalid::Misplaced {
        return Unreadable::Misplaced;
    }
    match crate::crypto::Envelope::parse(envelope) {
        Err(e) => Unreadable::Damaged {
            error: e.to_string(),
        },
        Ok(e) if keys.get(&e.kid).is_none() => Unreadable::KeyNotLoaded { kid: e.kid },
        Ok(e) => Unreadable::Damaged {
            error: format!(
                "it does not open as a session with key {} (tampered with or corrupted)",
                e.kid
            ),
        },
    }
}

fn seal(keys: &Keyring, s: &Session) -> Result<String> {
    Ok(keys.encrypt(&contexts::session(&s.id), &to_json(s))?)
}

fn open_json<T: DeserializeOwned>(keys: &Keyring, context: &str, envelope: &str) -> Option<T> {
    let pt = keys.decrypt(context, envelope).ok()?;
    serde_json::from_slice(&pt).ok()
}

/// Opens what is stored under session `id`: sealed for `id` (or, from
/// before sessions were bound to their id, under `session`), and naming
/// `id` itself.
fn open_for<T: DeserializeOwned>(
    keys: &Keyring,
    context: &str,
    id: &str,
    envelope: &str,
    id_of: impl Fn(&T) -> &str,
) -> std::result::Result<T, Invalid> {
    let value = open_json::<T>(keys, context, envelope)
        .or_else(|| open_json::<T>(keys, contexts::session_unbound(), envelope))
        .ok_or(Invalid::Undecryptable)?;
    if id_of(&value) == id {
        Ok(value)
    } else {
        Err(Invalid::Misplaced)
    }
}

fn open(keys: &Keyring, id: &str, envelope: &str) -> std::result::Result<Session, Invalid> {
    open_for(keys, &contexts::session(id), id, envelope, |s: &Session| {
        s.id.as_str()
    })
}

fn seal_hijack(keys: &Keyring, session: &Session, attempt: &HijackAttempt) -> Result<String> {
    let rec = HijackRecord {
        session: session.clone(),
        attempt: attempt.clone(),
    };
    let json = serde_json::to_vec(&rec).expect("a hijack record always serializes");
    Ok(keys.encrypt(&contexts::session_hijack(&session.id), &json)?)
}

fn open_hijack(
    keys: &Keyring,
    id: &str,
    envelope: &str,
) -> std::result::Result<(Session, HijackAttempt), Invalid> {
    let rec = open_for(
        keys,
        &contexts::session_hijack(id),
        id,
        envelope,
        |r: &HijackRecord| r.session.id.as_str(),
    )?;
    Ok((rec.session, rec.attempt))
}

/// A stored session (or hijack record) of `id` sealed again under the
/// primary key for its id: `None` when it already is; with whether it was
/// sealed under the unbound context of before. A record that does not open
/// for `id` is left as it is (validation refuses and records it).
fn reseal(
    keys: &Keyring,
    id: &str,
    hijack: bool,
    envelope: &str,
) -> std::result::Result<Option<(String, bool)>, Invalid> {
    let bound = if hijack {
        contexts::session_hijack(id)
    } else {
        contexts::session(id)
    };
    let legacy = keys.decrypt(&bound, envelope).is_err();
    if !legacy && !keys.needs_rewrap(envelope) {
        return Ok(None);
    }
    let sealed = if hijack {
        let (session, attempt) = open_hijack(keys, id, envelope)?;
        seal_hijack(keys, &session, &attempt)
    } else {
        seal(keys, &open(keys, id, envelope)?)
    };
    sealed
        .map(|new| Some((new, legacy)))
        .map_err(|_| Invalid::Undecryptable)
}

/// What became of one record in `crypto rewrap`.
enum Resealed {
    Current,
    Written {
        legacy: bool,
    },
    /// Changed meanwhile (validated, revoked): that change sealed it anew.
    Changed,
    Refused(Invalid),
}

fn tally(count: &mut RewrapCount, id: &str, hijack: bool, what: Resealed) {
    count.total += 1;
    match what {
        Resealed::Current | Resealed::Changed => count.unchanged += 1,
        Resealed::Written { legacy } => {
            count.rewrapped += 1;
            count.unbound += usize::from(legacy);
        }
        Resealed::Refused(reason) => count.failed.push(format!(
            "{} {}…: {}",
            if hijack { "hijack record" } else { "session" },
            id.get(..8).unwrap_or(id),
            reason.as_str()
        )),
    }
}

fn add_kid(counts: &mut KidCounts, envelope: &str) {
    let kid = crate::crypto::sealed_kid(envelope).unwrap_or_else(|| "unreadable".into());
    *counts.entry(kid).or_default() += 1;
}

/// What a validation decides once the stored session is open: expired by
/// its absolute lifetime, the refreshed session with its TTL, or the hijack.
enum Decision {
    Expired,
    Refresh(Session, i64),
    Hijack(Session),
}

fn decide(stored: Session, attempt: &HijackAttempt, lifetime: Lifetime, now: i64) -> Decision {
    if lifetime.over(stored.created_at, now) {
        return Decision::Expired;
    }
    if stored.fingerprint != attempt.fingerprint {
        return Decision::Hijack(stored);
    }
    let mut s = stored;
    s.last_activity = s.last_activity.max(attempt.at);
    let ttl = lifetime.ttl_at(s.created_at, now);
    Decision::Refresh(s, ttl)
}

// ------------------------------------------------------------------ local

/// The embedded store: two tables in the shared SQLite file. Validation runs
/// in one IMMEDIATE transaction, so it is atomic against revocations from
/// this and other processes.
pub struct LocalStore {
    store: Arc<Store>,
    keys: Arc<Keyring>,
    refusals: Arc<Refusals>,
}

const LOCAL_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS session (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_user ON session (user_id);
CREATE TABLE IF NOT EXISTS session_hijack (
    id TEXT PRIMARY KEY,
    envelope TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS session_revoked (
    id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;";

impl LocalStore {
    pub fn open(store: Arc<Store>, keys: Arc<Keyring>) -> Result<Self> {
        store.transaction(|tx| tx.execute_batch(LOCAL_SCHEMA))?;
        Ok(Self {
            store,
            keys,
            refusals: Arc::default(),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store, &Keyring) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        let keys = self.keys.clone();
        tokio::task::spawn_blocking(move || f(&store, &keys))
            .await
            .map_err(|e| SessionError::Backend {
                target: "embedded store".into(),
                message: e.to_string(),
            })?
    }
}

/// Wraps a non-SQL error so it can leave a transaction closure.
fn sql_err(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

impl SessionStore for LocalStore {
    fn backend(&self) -> Backend {
        Backend::Embedded
    }

    fn target(&self) -> String {
        self.store.path().display().to_string()
    }

    fn ping(&self) -> BoxFuture<'_, Result<Duration>> {
        Box::pin(self.blocking(|s, _| Ok(s.ping()?)))
    }

    fn refusals(&self) -> &Refusals {
        &self.refusals
    }

    fn create<'a>(&'a self, s: &'a Session, ttl_ms: i64) -> BoxFuture<'a, Result<i64>> {
        let s = s.clone();
        Box::pin(self.blocking(move |store, keys| {
            let env = seal(keys, &s)?;
            let now = now_ms();
            let exp = now + ttl_ms;
            store.transaction(|tx| {
                tx.execute("DELETE FROM session WHERE expires_at <= ?1", [now])?;
                tx.execute(
                    "INSERT INTO session (id, user_id, envelope, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![s.id, s.user_id, env, exp],
                )
            })?;
            Ok(exp)
        }))
    }

    fn validate<'a>(
        &'a self,
        id: &'a str,
        attempt: &'a HijackAttempt,
        lifetime: Lifetime,
    ) -> BoxFuture<'a, Result<Validation>> {
        let id = id.to_string();
        let attempt = attempt.clone();
        let refusals = self.refusals.clone();
        Box::pin(self.blocking(move |store, keys| {
            if !is_valid_id(&id) {
                return Ok(Validation::Invalid(Invalid::Unknown));
            }
            let v = store.transaction(|tx| {
                let row: Option<(String, i64)> = tx
                    .query_row(
                        "SELECT envelope, expires_at FROM session WHERE id = ?1",
                        [&id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let now = now_ms();
                let Some((env, exp)) = row else {
                    // Gone: revoked for a hijack attempt, by an operator, or unknown.
                    let marked = |table: &str| {
                        tx.query_row(
                            &format!("SELECT 1 FROM {table} WHERE id = ?1 AND expires_at > ?2"),
                            params![id, now],
                            |_| Ok(()),
                        )
                        .optional()
                        .map(|r| r.is_some())
                    };
                    let why = if marked("session_hijack")? {
                        Invalid::Hijack
                    } else if marked("session_revoked")? {
                        Invalid::Revoked
                    } else {
                        Invalid::Unknown
                    };
                    return Ok(Validation::Invalid(why));
                };
                if exp <= now {
                    tx.execute("DELETE FROM session WHERE id = ?1", [&id])?;
                    return Ok(Validation::Invalid(Invalid::Expired));
                }
                let stored = match open(keys, &id, &env) {
                    Ok(s) => s,
                    Err(why) => {
                        refusals.note(&id, false, why);
                        return Ok(Validation::Invalid(why));
                    }
                };
                match decide(stored, &attempt, lifetime, now) {
                    Decision::Expired => {
                        tx.execute("DELETE FROM session WHERE id = ?1", [&id])?;
                        Ok(Validation::Invalid(Invalid::Expired))
                    }
                    Decision::Refresh(s, ttl) => {
                        let env = seal(keys, &s).map_err(sql_err)?;
                        let exp = now + ttl;
                        tx.execute(
                            "UPDATE session SET envelope = ?2, expires_at = ?3 WHERE id = ?1",
                            params![id, env, exp],
                        )?;
                        Ok(Validation::Valid(Listed {
                            session: s,
                            expires_at: exp,
                            hijack: None,
                        }))
                    }
                    Decision::Hijack(s) => {
                        let env = seal_hijack(keys, &s, &attempt).map_err(sql_err)?;
                        tx.execute("DELETE FROM session WHERE id = ?1", [&id])?;
                        tx.execute(
                            "INSERT OR REPLACE INTO session_hijack (id, envelope, expires_at) VALUES (?1, ?2, ?3)",
                            params![id, env, now + HIJACK_KEEP_MS],
                        )?;
                        Ok(Validation::Hijack {
                            session: Box::new(s),
                            attempt: attempt.clone(),
                        })
                    }
                }
            })?;
            Ok(v)
        }))
    }

    fn entries(&self) -> BoxFuture<'_, Result<Vec<Entry>>> {
        Box::pin(self.blocking(|store, _| {
            let now = now_ms();
            Ok(store.transaction(|tx| {
                tx.execute("DELETE FROM session WHERE expires_at <= ?1", [now])?;
                tx.execute("DELETE FROM session_hijack WHERE expires_at <= ?1", [now])?;
                let mut out = Vec::new();
                for (table, hijack) in [("session", false), ("session_hijack", true)] {
                    let mut st =
                        tx.prepare_cached(&format!("SELECT id, expires_at FROM {table}"))?;
                    let rows = st.query_map([], |r| {
                        Ok(Entry {
                            id: r.get(0)?,
                            hijack,
                            expires_at: r.get(1)?,
                        })
                    })?;
                    for r in rows {
                        out.push(r?);
                    }
                }
                Ok(out)
            })?)
        }))
    }

    fn fetch<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<Found>> {
        let entries = entries.to_vec();
        let refusals = self.refusals.clone();
        Box::pin(self.blocking(move |store, keys| {
            let now = now_ms();
            let rows: Vec<(String, bool, String, i64)> = store.transaction(|tx| {
                let mut out = Vec::with_capacity(entries.len());
                let mut live = tx.prepare_cached(
                    "SELECT envelope, expires_at FROM session WHERE id = ?1 AND expires_at > ?2",
                )?;
                let mut hij = tx.prepare_cached(
                    "SELECT envelope, expires_at FROM session_hijack WHERE id = ?1 AND expires_at > ?2",
                )?;
                for e in &entries {
                    let st = if e.hijack { &mut hij } else { &mut live };
                    let row: Option<(String, i64)> = st
                        .query_row(params![e.id, now], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((env, exp)) = row {
                        out.push((e.id.clone(), e.hijack, env, exp));
                    }
                }
                Ok(out)
            })?;
            let mut found = Found::default();
            for (id, hijack, env, exp) in rows {
                found.push(listed(keys, &refusals, &id, hijack, &env, exp));
            }
            Ok(found)
        }))
    }

    fn user_sessions<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Found>> {
        let user = user.to_string();
        let refusals = self.refusals.clone();
        Box::pin(self.blocking(move |store, keys| {
            let now = now_ms();
            let rows: Vec<(String, String, i64)> = store.transaction(|tx| {
                let mut st = tx.prepare_cached(
                    "SELECT id, envelope, expires_at FROM session WHERE user_id = ?1 AND expires_at > ?2",
                )?;
                let rows = st.query_map(params![user, now], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
                rows.collect()
            })?;
            let mut found = Found::default();
            for (id, env, exp) in rows {
                found.push(listed(keys, &refusals, &id, false, &env, exp));
            }
            Ok(found)
        }))
    }

    fn revoke<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Session>>> {
        let id = id.to_string();
        Box::pin(self.blocking(move |store, keys| {
            let now = now_ms();
            let env: Option<String> = store.transaction(|tx| {
                let env: Option<String> = tx
                    .query_row(
                        "DELETE FROM session WHERE id = ?1 AND expires_at > ?2 RETURNING envelope",
                        params![id, now],
                        |r| r.get(0),
                    )
                    .optional()?;
                tx.execute("DELETE FROM session_hijack WHERE id = ?1", [&id])?;
                tx.execute("DELETE FROM session_revoked WHERE expires_at <= ?1", [now])?;
                if env.is_some() {
                    tx.execute(
                        "INSERT OR REPLACE INTO session_revoked (id, expires_at) VALUES (?1, ?2)",
                        params![id, now + REVOKED_KEEP_MS],
                    )?;
                }
                Ok(env)
            })?;
            Ok(env.and_then(|e| open(keys, &id, &e).ok()))
        }))
    }

    fn revoke_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        let user = user.to_string();
        Box::pin(self.blocking(move |store, _| {
            let now = now_ms();
            Ok(store.transaction(|tx| {
                let mut st = tx.prepare_cached(
                    "DELETE FROM session WHERE user_id = ?1 RETURNING id, expires_at",
                )?;
                let rows = st.query_map([&user], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })?;
                let mut ids = Vec::new();
                for r in rows {
                    let (id, exp) = r?;
                    if exp > now {
                        ids.push(id);
                    }
                }
                for id in &ids {
                    tx.execute(
                        "INSERT OR REPLACE INTO session_revoked (id, expires_at) VALUES (?1, ?2)",
                        params![id, now + REVOKED_KEEP_MS],
                    )?;
                }
                Ok(ids)
            })?)
        }))
    }

    fn rewrap(&self) -> BoxFuture<'_, Result<RewrapCount>> {
        Box::pin(self.blocking(|store, keys| {
            let mut count = RewrapCount::new("sessions");
            for (table, hijack) in [("session", false), ("session_hijack", true)] {
                let rows: Vec<(String, String)> = store.transaction(|tx| {
                    let mut st = tx.prepare(&format!("SELECT id, envelope FROM {table}"))?;
                    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect()
                })?;
                for (id, envelope) in rows {
                    let what = match reseal(keys, &id, hijack, &envelope) {
                        Ok(None) => Resealed::Current,
                        Ok(Some((new, legacy))) => {
                            let n = store.transaction(|tx| {
                                tx.execute(
                                    &format!(
                                        "UPDATE {table} SET envelope = ?1 WHERE id = ?2 AND envelope = ?3"
                                    ),
                                    params![new, id, envelope],
                                )
                            })?;
                            if n == 1 {
                                Resealed::Written { legacy }
                            } else {
                                Resealed::Changed
                            }
                        }
                        Err(reason) => Resealed::Refused(reason),
                    };
                    tally(&mut count, &id, hijack, what);
                }
            }
            Ok(count)
        }))
    }

    fn kid_counts(&self) -> BoxFuture<'_, Result<KidCounts>> {
        Box::pin(self.blocking(|store, _| {
            let envelopes: Vec<String> = store.transaction(|tx| {
                let mut st = tx.prepare(
                    "SELECT envelope FROM session UNION ALL SELECT envelope FROM session_hijack",
                )?;
                let rows = st.query_map([], |r| r.get(0))?;
                rows.collect()
            })?;
            let mut counts = KidCounts::new();
            envelopes.iter().for_each(|e| add_kid(&mut counts, e));
            Ok(counts)
        }))
    }
}

/// The record stored under `id`, opened; a refused one is noted in
/// `refusals` and said why.
fn listed(
    keys: &Keyring,
    refusals: &Refusals,
    id: &str,
    hijack: bool,
    env: &str,
    expires_at: i64,
) -> std::result::Result<Listed, Unopened> {
    let opened = if hijack {
        open_hijack(keys, id, env).map(|(session, attempt)| (session, Some(attempt)))
    } else {
        open(keys, id, env).map(|session| (session, None))
    };
    match opened {
        Ok((session, hijack)) => Ok(Listed {
            session,
            expires_at,
            hijack,
        }),
        Err(why) => {
            refusals.note(id, hijack, why);
            Err(Unopened {
                id: id.to_owned(),
                hijack_record: hijack,
                why: unreadable(keys, env, why),
            })
        }
    }
}

// ------------------------------------------------------------------ redis

pub const SESSION_PREFIX: &str = "session:";
pub const HIJACK_PREFIX: &str = "session_hijack:";
pub const USER_PREFIX: &str = "user_sessions:";

/// How many keys one SCAN step asks for (and one pipeline fetches).
const SCAN_BATCH: usize = 1000;

/// The server's clock in unix ms, inside a script.
const LUA_NOW: &str = "local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS: session, index. ARGV: envelope, ttl ms, id. Returns the expiry, or -1 if the id exists.
const LUA_CREATE: &str = "
local ttl = tonumber(ARGV[2])
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl, 'NX') then return -1 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('XADD', 'session_changes', 'MAXLEN', '~', 100000, '*', 'id', ARGV[3])
return now + ttl";

/// KEYS: session, index. ARGV: envelope read, refreshed envelope, ttl ms, id.
/// Writes only if the session still exists: a revoked session stays revoked.
/// If another validation refreshed it meanwhile, only the TTL slides.
/// Returns the new expiry, or -1 if the session is gone.
const LUA_REFRESH: &str = "
local cur = redis.call('GET', KEYS[1])
if not cur then return -1 end
local ttl = tonumber(ARGV[3])
if cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
else
  redis.call('PEXPIRE', KEYS[1], ttl)
end
redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('XADD', 'session_changes', 'MAXLEN', '~', 100000, '*', 'id', ARGV[4])
return now + ttl";

/// KEYS: session, index. ARGV: envelope read, id. A session past its
/// absolute lifetime: deleted unless it changed since it was read.
const LUA_EXPIRE: &str = "
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('XADD', 'session_changes', 'MAXLEN', '~', 100000, '*', 'id', ARGV[2])
return 1";

/// KEYS: session, index, hijack record. ARGV: id, record envelope, keep ms.
/// Revokes and keeps the record; returns 1 if the session still existed.
const LUA_HIJACK: &str = "
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2], 'PX', tonumber(ARGV[3]))
redis.call('XADD', 'session_changes', 'MAXLEN', '~', 100000, '*', 'id', ARGV[1])
return n";

/// KEYS: session, index, hijack record, revocation marker. ARGV: id, keep
/// ms. Returns the envelope removed (or false); marks a live session revoked.
const LUA_REVOKE: &str = "
local env = redis.call('GET', KEYS[1])
if env then redis.call('SET', KEYS[4], '1', 'PX', tonumber(ARGV[2])) end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', 'session_changes', 'MAXLEN', '~', 100000, '*', 'id', ARGV[1])
return env";

/// KEYS: index. ARGV: session key prefix, revocation marker prefix, keep ms.
/// Deletes every indexed session and the index at once, marking each
/// revoked; returns the ids that still existed.
const LUA_REVOKE_USER: &str = "
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local gone = {}
for _, id in ipairs(ids) do
  if redis.call('DEL', ARGV[1] .. id) == 1 then
    table.insert(gone, id)
    redis.call('SET', ARGV[2] .. id, '1', 'PX', tonumber(ARGV[3]))
    redis.call('XADD', 'session_changes', 'MAXLEN', '~', 100000, '*', 'id', id)
  end
end
redis.call('DEL', KEYS[1])
return gone";

/// KEYS: index. Drops expired ids and returns the live ones.
/// KEYS: record. ARGV: envelope read, new envelope. Replaces the record,
/// keeping its TTL, only if it is still the one read; returns whether it did.
const LUA_REPLACE: &str = "
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1";

const LUA_USER_IDS: &str = "
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')";

struct Scripts {
    create: redis::Script,
    refresh: redis::Script,
    expire: redis::Script,
    hijack: redis::Script,
    revoke: redis::Script,
    revoke_user: redis::Script,
    user_ids: redis::Script,
    replace: redis::Script,
}

impl Scripts {
    fn new() -> Self {
        let timed = |body: &str| redis::Script::new(&format!("{LUA_NOW}{body}"));
        Self {
            create: timed(LUA_CREATE),
            refresh: timed(LUA_REFRESH),
            expire: redis::Script::new(LUA_EXPIRE),
            hijack: redis::Script::new(LUA_HIJACK),
            revoke: redis::Script::new(LUA_REVOKE),
            revoke_user: redis::Script::new(LUA_REVOKE_USER),
            user_ids: timed(LUA_USER_IDS),
            replace: redis::Script::new(LUA_REPLACE),
        }
    }
}

/// Redis (or anything speaking its protocol): `redis://`, `rediss://` (TLS),
/// with a password or ACL user in the URL.
pub struct RedisStore {
    conn: ConnectionManager,
    target: String,
    scripts: Scripts,
    keys: Arc<Keyring>,
    refusals: Arc<Refusals>,
}

pub use super::settings::{REDIS_CA_ENV, REDIS_CLIENT_CERT_ENV, REDIS_CLIENT_KEY_ENV, RedisTls};

/// Timeouts: a dead Redis gives an error within these, never a hang.
pub const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisStore {
    /// Prepares a connection to `url`; it is made on first use and remade
    /// after a loss, so this succeeds while Redis is down. For `rediss://`
    /// the TLS files come from the environment (`WINDFLOW_REDIS_CA_FILE`,
    /// `WINDFLOW_REDIS_CLIENT_CERT`, `WINDFLOW_REDIS_CLIENT_KEY`).
    pub fn connect(url: &str, keys: Arc<Keyring>) -> Result<Self> {
        Self::connect_with_tls(url, &RedisTls::from_env(), keys)
    }

    /// Like [`RedisStore::connect`], with the TLS files of `tls`: the server
    /// certificate is checked against the CA file (else the system roots),
    /// and the client certificate is presented to a server asking for one.
    /// A bad file (unreadable, key open to others, certificate and key not
    /// matching or given alone) is refused here, before any connection.
    pub fn connect_with_tls(url: &str, tls: &RedisTls, keys: Arc<Keyring>) -> Result<Self> {
        let certs = Self::check_tls(url, tls)?;
        Self::connect_with_certs(url, certs, keys)
    }

    /// Reads and checks the TLS files of `tls` for `url` (no connection).
    pub fn check_tls(url: &str, tls: &RedisTls) -> Result<Option<redis::TlsCertificates>> {
        let named = |what: &str, f: &Option<super::settings::FileSetting>| {
            f.as_ref().map(|f| format!("{what} {}", f.named()))
        };
        // A CA file says the traffic should be encrypted; a plain URL would
        // silently not be.
        let set: Vec<String> = [
            named("the CA file", &tls.ca_file),
            named("the client certificate", &tls.client_cert),
            named("the client key", &tls.client_key),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !set.is_empty() {
            Self::require_tls(url, &set.join(" and "))?;
        }
        tls.certificates()
    }

    /// Like [`RedisStore::connect`], trusting `ca_pem` (PEM) for `rediss://`.
    pub fn connect_with_ca(url: &str, ca_pem: Option<Vec<u8>>, keys: Arc<Keyring>) -> Result<Self> {
        let certs = ca_pem.map(|pem| redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        });
        Self::connect_with_certs(url, certs, keys)
    }

    fn require_tls(url: &str, what: &str) -> Result<()> {
        if url.starts_with("rediss://") {
            return Ok(());
        }
        Err(SessionError::Input(format!(
            "{what} is set for Redis, but {} is not a TLS URL: use rediss:// \
             (or unset that setting to connect without TLS)",
            crate::service::redact_url(url)
        )))
    }

    fn connect_with_certs(
        url: &str,
        certs: Option<redis::TlsCertificates>,
        keys: Arc<Keyring>,
    ) -> Result<Self> {
        let (conn, target) = manager_with_certs(url, certs)?;
        Ok(Self {
            conn,
            target,
            scripts: Scripts::new(),
            keys,
            refusals: Arc::default(),
        })
    }

    /// One SCAN step over keys matching `pattern` (never KEYS): the next
    /// cursor (0 when done) and a batch of keys.
    async fn scan_page(
        &self,
        c: &mut ConnectionManager,
        pattern: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<String>)> {
        redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_BATCH)
            .query_async(c)
            .await
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: redis::RedisError) -> SessionError {
        redis_err(&self.target, e)
    }

    /// Every stored session and hijack record: id, whether a hijack
    /// record, and its envelope (records gone since the SCAN left out).
    async fn stored_envelopes(&self) -> Result<Vec<(String, bool, String)>> {
        let mut entries = Vec::new();
        self.scan(SESSION_PREFIX, false, &mut entries).await?;
        self.scan(HIJACK_PREFIX, true, &mut entries).await?;
        let mut out = Vec::with_capacity(entries.len());
        let mut c = self.conn.clone();
        for batch in entries.chunks(SCAN_BATCH) {
            let keys: Vec<String> = batch
                .iter()
                .map(|e| {
                    let prefix = if e.hijack {
                        HIJACK_PREFIX
                    } else {
                        SESSION_PREFIX
                    };
                    format!("{prefix}{}", e.id)
                })
                .collect();
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            for (e, v) in batch.iter().zip(values) {
                if let Some(v) = v {
                    out.push((e.id.clone(), e.hijack, v));
                }
            }
        }
        Ok(out)
    }

    /// Why session `id` is not there: revoked for a hijack attempt, revoked
    /// by an operator, or unknown (never created, or expired and removed).
    async fn why_gone(&self, id: &str) -> Result<Invalid> {
        let mut c = self.conn.clone();
        let (hijack, revoked): (bool, bool) = redis::pipe()
            .exists(format!("{HIJACK_PREFIX}{id}"))
            .exists(format!("{REVOKED_PREFIX}{id}"))
            .query_async(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        Ok(if hijack {
            Invalid::Hijack
        } else if revoked {
            Invalid::Revoked
        } else {
            Invalid::Unknown
        })
    }

    async fn validate_inner(
        &self,
        id: &str,
        attempt: &HijackAttempt,
        lifetime: Lifetime,
    ) -> Result<Validation> {
        if !is_valid_id(id) {
            return Ok(Validation::Invalid(Invalid::Unknown));
        }
        let mut c = self.conn.clone();
        let key = format!("{SESSION_PREFIX}{id}");
        let env: Option<String> = c.get(&key).await.map_err(|e| self.err(e))?;
        let Some(env) = env else {
            return self.why_gone(id).await.map(Validation::Invalid);
        };
        let stored = match open(&self.keys, id, &env) {
            Ok(s) => s,
            Err(why) => {
                self.refusals.note(id, false, why);
                return Ok(Validation::Invalid(why));
            }
        };
        let index = format!("{USER_PREFIX}{}", stored.user_id);
        match decide(stored, attempt, lifetime, now_ms()) {
            Decision::Expired => {
                let _: i64 = self
                    .scripts
                    .expire
                    .key(&key)
                    .key(&index)
                    .arg(&env)
                    .arg(id)
                    .invoke_async(&mut c)
                    .await
                    .map_err(|e| self.err(e))?;
                Ok(Validation::Invalid(Invalid::Expired))
            }
            Decision::Refresh(s, ttl_ms) => {
                let fresh = seal(&self.keys, &s)?;
                let exp: i64 = self
                    .scripts
                    .refresh
                    .key(&key)
                    .key(&index)
                    .arg(&env)
                    .arg(&fresh)
                    .arg(ttl_ms)
                    .arg(id)
                    .invoke_async(&mut c)
                    .await
                    .map_err(|e| self.err(e))?;
                if exp < 0 {
                    // Revoked (or expired) between the read and the write.
                    return self.why_gone(id).await.map(Validation::Invalid);
                }
                Ok(Validation::Valid(Listed {
                    session: s,
                    expires_at: exp,
                    hijack: None,
                }))
            }
            Decision::Hijack(s) => {
                let rec = seal_hijack(&self.keys, &s, attempt)?;
                let _: i64 = self
                    .scripts
                    .hijack
                    .key(&key)
                    .key(&index)
                    .key(format!("{HIJACK_PREFIX}{id}"))
                    .arg(id)
                    .arg(rec)
                    .arg(HIJACK_KEEP_MS)
                    .invoke_async(&mut c)
                    .await
                    .map_err(|e| self.err(e))?;
                Ok(Validation::Hijack {
                    session: Box::new(s),
                    attempt: attempt.clone(),
                })
            }
        }
    }

    async fn scan(&self, prefix: &str, hijack: bool, out: &mut Vec<Entry>) -> Result<()> {
        let mut c = self.conn.clone();
        let pattern = format!("{prefix}*");
        let mut cursor: u64 = 0;
        loop {
            let (next, keys) = self.scan_page(&mut c, &pattern, cursor).await?;
            if !keys.is_empty() {
                let mut pipe = redis::pipe();
                for k in &keys {
                    pipe.cmd("PTTL").arg(k);
                }
                let ttls: Vec<i64> = pipe.query_async(&mut c).await.map_err(|e| self.err(e))?;
                let now = now_ms();
                for (k, ttl) in keys.into_iter().zip(ttls) {
                    // -2: gone since the SCAN; -1: no TTL (not ours to judge).
                    if ttl == -2 {
                        continue;
                    }
                    let id = k[prefix.len()..].to_string();
                    if !is_valid_id(&id) {
                        continue;
                    }
                    out.push(Entry {
                        id,
                        hijack,
                        expires_at: if ttl < 0 { i64::MAX } else { now + ttl },
                    });
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// A connection to the Redis at `url` with the TLS files of `tls` checked
/// (as [`RedisStore::connect_with_tls`] does), and the URL without its
/// password, for messages. Made on first use and remade after a loss, with
/// the timeouts above. Whatever else keeps state in the same Redis (the
/// agent's lease) connects through here.
pub fn redis_manager(url: &str, tls: &RedisTls) -> Result<(ConnectionManager, String)> {
    manager_with_certs(url, RedisStore::check_tls(url, tls)?)
}

fn manager_with_certs(
    url: &str,
    certs: Option<redis::TlsCertificates>,
) -> Result<(ConnectionManager, String)> {
    let target = crate::service::redact_url(url);
    let bad = |e: redis::RedisError| {
        SessionError::Input(format!(
            "invalid Redis URL {target}: {e} (use redis://[:password@]host:port[/db] or rediss:// for TLS)"
        ))
    };
    let client = match certs {
        Some(certs) if url.starts_with("rediss://") => {
            redis::Client::build_with_tls(url, certs).map_err(bad)?
        }
        _ => redis::Client::open(url).map_err(bad)?,
    };
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(REDIS_RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let conn = client
        .get_connection_manager_lazy(config)
        .map_err(|e| redis_err(&target, e))?;
    Ok((conn, target))
}

/// The change log every script appends to.
const CHANGES: &str = "session_changes";
/// More changes than this since the last poll: list everything instead.
const CHANGES_READ: usize = 20_000;

/// `ms-seq` as numbers (stream ids compare numerically).
fn parse_stream_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// (entry id, its `id` field) of an XRANGE reply.
fn stream_ids(v: &redis::Value) -> Vec<(String, Option<String>)> {
    let entries: Vec<(String, Vec<String>)> = redis::from_redis_value_ref(v).unwrap_or_default();
    entries
        .into_iter()
        .map(|(id, fields)| {
            let sid = fields
                .chunks(2)
                .find(|kv| kv.len() == 2 && kv[0] == "id")
                .map(|kv| kv[1].clone());
            (id, sid)
        })
        .collect()
}

type Opening = tokio::task::JoinHandle<Found>;

impl RedisStore {
    /// Opens a batch of (id, hijack?, GET reply, PTTL reply) off the IO
    /// task, so decryption runs on other cores while the next batch is read.
    fn open_batch(
        &self,
        raw: impl Iterator<Item = (String, bool, redis::Value, redis::Value)>,
    ) -> Opening {
        let raw: Vec<_> = raw.collect();
        let keys = self.keys.clone();
        let refusals = self.refusals.clone();
        tokio::task::spawn_blocking(move || {
            let now = now_ms();
            let mut found = Found::default();
            for (id, hijack, env, ttl) in raw {
                let env: Option<String> = redis::from_redis_value(env).ok().flatten();
                let ttl: i64 = redis::from_redis_value(ttl).unwrap_or(-2);
                if let (Some(env), false) = (env, ttl == -2) {
                    let exp = if ttl < 0 { i64::MAX } else { now + ttl };
                    found.push(listed(&keys, &refusals, &id, hijack, &env, exp));
                }
            }
            found
        })
    }
}

async fn collect(opening: Vec<Opening>) -> Result<Found> {
    let mut out = Found::default();
    for o in opening {
        out.append(o.await.map_err(|e| SessionError::Backend {
            target: "session decryption".into(),
            message: e.to_string(),
        })?);
    }
    Ok(out)
}

/// A TLS refusal in words that say what to fix; `None` for other errors.
/// Not a connectivity problem: it fails the same way until the files or the
/// server's settings change.
fn tls_problem(message: &str) -> Option<String> {
    const FILES: &str = "WINDFLOW_REDIS_CLIENT_CERT and WINDFLOW_REDIS_CLIENT_KEY \
        (or redis_client_cert and redis_client_key in [sessions] of windflow.toml)";
    let alert = message.split("received fatal alert: ").nth(1).map(|a| {
        a.split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or(a)
    });
    match alert {
        Some("CertificateRequired") => Some(format!(
            "TLS refused: Redis requires a client certificate (tls-auth-clients) and none was sent; set {FILES}"
        )),
        Some(
            a @ ("UnknownCA"
            | "BadCertificate"
            | "CertificateUnknown"
            | "UnsupportedCertificate"
            | "CertificateExpired"
            | "CertificateRevoked"
            | "AccessDenied"),
        ) => Some(format!(
            "TLS refused: Redis did not accept the client certificate (alert {a}); it must be \
             signed by a CA the server trusts (its tls-ca-cert-file) and be valid now: check {FILES}"
        )),
        Some("HandshakeFailure") => Some(format!(
            "TLS refused: Redis ended the handshake (alert HandshakeFailure): no common TLS \
             version or cipher, or a client certificate required or not accepted: check {FILES}"
        )),
        _ if message.contains("invalid peer certificate") => {
            let detail = message
                .split("invalid peer certificate: ")
                .nth(1)
                .unwrap_or("not trusted");
            Some(format!(
                "TLS refused: the Redis server's certificate is not trusted ({detail}); set \
                 WINDFLOW_REDIS_CA_FILE (or redis_ca_file in [sessions] of windflow.toml) to the CA that signed it"
            ))
        }
        _ => None,
    }
}

/// What went wrong talking to Redis, in words: a TLS refusal says what to fix.
pub fn describe_redis_error(e: &redis::RedisError) -> String {
    let message = e.to_string();
    tls_problem(&message).unwrap_or(message)
}

fn redis_err(target: &str, e: redis::RedisError) -> SessionError {
    let message = e.to_string();
    if let Some(message) = tls_problem(&message) {
        return SessionError::Backend {
            target: target.to_string(),
            message,
        };
    }
    let refused = e.kind() == redis::ErrorKind::AuthenticationFailed
        || ["WRONGPASS", "NOAUTH", "invalid username-password"]
            .iter()
            .any(|m| message.contains(m));
    if refused {
        return SessionError::Auth {
            target: target.to_string(),
            message,
        };
    }
    if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
    {
        SessionError::Unavailable {
            target: target.to_string(),
            message,
        }
    } else {
        SessionError::Backend {
            target: target.to_string(),
            message,
        }
    }
}

impl SessionStore for RedisStore {
    fn backend(&self) -> Backend {
        Backend::Real(self.target.clone())
    }

    fn target(&self) -> String {
        self.target.clone()
    }

    fn refusals(&self) -> &Refusals {
        &self.refusals
    }

    fn ping(&self) -> BoxFuture<'_, Result<Duration>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let start = Instant::now();
            let _: String = redis::cmd("PING")
                .query_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            Ok(start.elapsed())
        })
    }

    fn create<'a>(&'a self, s: &'a Session, ttl_ms: i64) -> BoxFuture<'a, Result<i64>> {
        Box::pin(async move {
            let env = seal(&self.keys, s)?;
            let mut c = self.conn.clone();
            let exp: i64 = self
                .scripts
                .create
                .key(format!("{SESSION_PREFIX}{}", s.id))
                .key(format!("{USER_PREFIX}{}", s.user_id))
                .arg(env)
                .arg(ttl_ms)
                .arg(&s.id)
                .invoke_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            if exp < 0 {
                return Err(SessionError::Input(
                    "a session with this id exists already".into(),
                ));
            }
            Ok(exp)
        })
    }

    fn validate<'a>(
        &'a self,
        id: &'a str,
        attempt: &'a HijackAttempt,
        lifetime: Lifetime,
    ) -> BoxFuture<'a, Result<Validation>> {
        Box::pin(self.validate_inner(id, attempt, lifetime))
    }

    fn entries(&self) -> BoxFuture<'_, Result<Vec<Entry>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            self.scan(SESSION_PREFIX, false, &mut out).await?;
            self.scan(HIJACK_PREFIX, true, &mut out).await?;
            Ok(out)
        })
    }

    fn fetch<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<Found>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let mut opening = Vec::new();
            for batch in entries.chunks(SCAN_BATCH) {
                let mut pipe = redis::pipe();
                for e in batch {
                    let prefix = if e.hijack {
                        HIJACK_PREFIX
                    } else {
                        SESSION_PREFIX
                    };
                    let key = format!("{prefix}{}", e.id);
                    pipe.cmd("GET").arg(&key).cmd("PTTL").arg(&key);
                }
                let vals: Vec<redis::Value> =
                    pipe.query_async(&mut c).await.map_err(|e| self.err(e))?;
                opening.push(self.open_batch(
                    batch.iter().zip(vals.chunks(2)).map(|(e, pair)| {
                        (e.id.clone(), e.hijack, pair[0].clone(), pair[1].clone())
                    }),
                ));
            }
            collect(opening).await
        })
    }

    fn list_all(&self) -> BoxFuture<'_, Result<Found>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let mut opening = Vec::new();
            for (prefix, hijack) in [(SESSION_PREFIX, false), (HIJACK_PREFIX, true)] {
                let pattern = format!("{prefix}*");
                let mut cursor: u64 = 0;
                loop {
                    let (next, mut keys) = self.scan_page(&mut c, &pattern, cursor).await?;
                    // Only keys of the shape of a session id (as `scan` does).
                    keys.retain(|k| is_valid_id(&k[prefix.len()..]));
                    if !keys.is_empty() {
                        let mut pipe = redis::pipe();
                        for k in &keys {
                            pipe.cmd("GET").arg(k).cmd("PTTL").arg(k);
                        }
                        let vals: Vec<redis::Value> =
                            pipe.query_async(&mut c).await.map_err(|e| self.err(e))?;
                        let ids = keys.iter().map(|k| k[prefix.len()..].to_string());
                        opening.push(
                            self.open_batch(
                                ids.zip(vals.chunks(2)).map(|(id, pair)| {
                                    (id, hijack, pair[0].clone(), pair[1].clone())
                                }),
                            ),
                        );
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            collect(opening).await
        })
    }

    fn change_cursor(&self) -> BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let last: redis::Value = redis::cmd("XREVRANGE")
                .arg(CHANGES)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            Ok(Some(
                stream_ids(&last)
                    .pop()
                    .map_or("0-0".to_string(), |(id, _)| id),
            ))
        })
    }

    fn changes_since<'a>(&'a self, cursor: &'a str) -> BoxFuture<'a, Result<Option<Changes>>> {
        Box::pin(async move {
            let Some(after) = parse_stream_id(cursor) else {
                return Ok(None);
            };
            let mut c = self.conn.clone();
            let (first, changes): (redis::Value, redis::Value) = redis::pipe()
                .cmd("XRANGE")
                .arg(CHANGES)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1)
                .cmd("XRANGE")
                .arg(CHANGES)
                .arg(format!("({cursor}"))
                .arg("+")
                .arg("COUNT")
                .arg(CHANGES_READ)
                .query_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            // The log was trimmed past the cursor (or restarted): changes are lost.
            let oldest = stream_ids(&first)
                .first()
                .and_then(|(id, _)| parse_stream_id(id));
            let changes = stream_ids(&changes);
            // An oldest entry newer than the cursor means the cursor's own
            // entry is gone: trimmed, or Redis restarted.
            let lost = after != (0, 0) && oldest.is_none_or(|o| o > after);
            if lost || changes.len() >= CHANGES_READ {
                return Ok(None);
            }
            let next = changes
                .last()
                .map_or(cursor.to_string(), |(id, _)| id.clone());
            Ok(Some((
                next,
                changes.into_iter().filter_map(|(_, id)| id).collect(),
            )))
        })
    }

    fn user_sessions<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Found>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let ids: Vec<String> = self
                .scripts
                .user_ids
                .key(format!("{USER_PREFIX}{user}"))
                .invoke_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            let entries: Vec<Entry> = ids
                .into_iter()
                .map(|id| Entry {
                    id,
                    hijack: false,
                    expires_at: 0,
                })
                .collect();
            self.fetch(&entries).await
        })
    }

    fn revoke<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Session>>> {
        Box::pin(async move {
            if !is_valid_id(id) {
                return Ok(None);
            }
            let mut c = self.conn.clone();
            let key = format!("{SESSION_PREFIX}{id}");
            // The user (for the index) is inside the envelope.
            let env: Option<String> = c.get(&key).await.map_err(|e| self.err(e))?;
            let user = env
                .as_deref()
                .and_then(|e| open(&self.keys, id, e).ok())
                .map(|s| s.user_id);
            let index = format!("{USER_PREFIX}{}", user.as_deref().unwrap_or(""));
            let removed: Option<String> = self
                .scripts
                .revoke
                .key(&key)
                .key(&index)
                .key(format!("{HIJACK_PREFIX}{id}"))
                .key(format!("{REVOKED_PREFIX}{id}"))
                .arg(id)
                .arg(REVOKED_KEEP_MS)
                .invoke_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            Ok(removed.and_then(|e| open(&self.keys, id, &e).ok()))
        })
    }

    fn revoke_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let ids: Vec<String> = self
                .scripts
                .revoke_user
                .key(format!("{USER_PREFIX}{user}"))
                .arg(SESSION_PREFIX)
                .arg(REVOKED_PREFIX)
                .arg(REVOKED_KEEP_MS)
                .invoke_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            Ok(ids)
        })
    }

    fn rewrap(&self) -> BoxFuture<'_, Result<RewrapCount>> {
        Box::pin(async move {
            let mut count = RewrapCount::new("sessions");
            for (id, hijack, envelope) in self.stored_envelopes().await? {
                let key = format!(
                    "{}{id}",
                    if hijack {
                        HIJACK_PREFIX
                    } else {
                        SESSION_PREFIX
                    }
                );
                let what = match reseal(&self.keys, &id, hijack, &envelope) {
                    Ok(None) => Resealed::Current,
                    Ok(Some((new, legacy))) => {
                        // Only if the record is still the one read, keeping its TTL.
                        let mut c = self.conn.clone();
                        let written: bool = self
                            .scripts
                            .replace
                            .key(&key)
                            .arg(&envelope)
                            .arg(new)
                            .invoke_async(&mut c)
                            .await
                            .map_err(|e| self.err(e))?;
                        if written {
                            Resealed::Written { legacy }
                        } else {
                            Resealed::Changed
                        }
                    }
                    Err(reason) => Resealed::Refused(reason),
                };
                tally(&mut count, &id, hijack, what);
            }
            Ok(count)
        })
    }

    fn kid_counts(&self) -> BoxFuture<'_, Result<KidCounts>> {
        Box::pin(async move {
            let mut counts = KidCounts::new();
            for (_, _, envelope) in self.stored_envelopes().await? {
                add_kid(&mut counts, &envelope);
            }
            Ok(counts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::tls_problem;

    #[test]
    fn tls_refusals_say_what_to_fix_and_other_errors_pass_through() {
        let t = |m: &str| tls_problem(m).unwrap_or_default();
        assert!(t("received fatal alert: HandshakeFailure").contains("no common TLS version"));
        assert!(t("received fatal alert: BadCertificate").contains("(alert BadCertificate)"));
        assert!(
            t("invalid peer certificate: Expired").contains("not trusted (Expired)"),
            "{}",
            t("invalid peer certificate: Expired")
        );
        assert_eq!(tls_problem("received fatal alert: DecodeError"), None);
        assert_eq!(tls_problem("Connection refused (os error 111)"), None);
    }
}
