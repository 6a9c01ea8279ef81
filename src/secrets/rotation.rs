//! Rotation: generate, deploy (check-and-set), validate, then clean up or
//! roll back; a journal in the local store is written before every step, so
//! a process killed at any point is completed or rolled back by the next
//! start ([`recover`]). At every moment the old or the new value is fully in
//! place, and the old version stays in the version history.
//!
//! One journal per secret: a rotation claims it (checked and saved in one
//! store transaction, before anything is read from the backend), every later
//! save and the final delete go through only while the stored journal is
//! still this rotation's (by its id), and recovery takes over a dead
//! process's journal the same way, so two processes never drive one
//! rotation, and no process removes another's journal. A journal that
//! cannot be finished (its old version destroyed, a write by someone else
//! in between) is reported and skipped, never in the way of other work;
//! [`discard`] drops it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use super::Secrets;
use super::backend::{Result, SecretsError, unix_now};
use super::model::{self, Created, Policy, SecretValue, Values};
use crate::crypto::contexts;

/// Namespace of rotation journals in the local store.
pub const JOURNAL_NS: &str = "secrets.rotation";
/// Namespace of scheduled deletions of old versions.
pub const CLEANUP_NS: &str = "secrets.cleanup";
/// Default grace period before an old version is deleted.
pub const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
/// A hidden test hook: pause (sleep forever) at the named point, e.g.
/// `deploy` (journal written, value not yet written) or `deploy:done`.
pub const PAUSE_ENV: &str = "WINDFLOW_SECRETS_PAUSE_AT";
/// How long a validation command or probe may take.
pub const VALIDATE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Generate,
    Deploy,
    Validate,
    Cleanup,
    Rollback,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Generate,
        Step::Deploy,
        Step::Validate,
        Step::Cleanup,
        Step::Rollback,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Generate => "generate",
            Step::Deploy => "deploy",
            Step::Validate => "validate",
            Step::Cleanup => "cleanup",
            Step::Rollback => "rollback",
        }
    }
}

/// How a new value is checked once deployed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "target")]
pub enum Validation {
    /// Read the new version back and compare (the default).
    ReadBack,
    /// `sh -c CMD`; the values arrive in the environment
    /// (`WINDFLOW_SECRET_<KEY>`) and as a JSON object on stdin; exit 0 passes.
    Command(String),
    /// POST the values as a JSON object to the URL; a 2xx answer passes.
    /// `https://` (plain `http://` only to a loopback address); redirects
    /// are not followed. Written out (journals, JSON) as [`shown_url`]: the
    /// URL's credentials never leave the options they came in.
    Http(#[serde(serialize_with = "serialize_shown_url")] String),
}

impl std::fmt::Debug for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Validation::ReadBack => f.write_str("ReadBack"),
            Validation::Command(c) => f.debug_tuple("Command").field(c).finish(),
            Validation::Http(u) => f.debug_tuple("Http").field(&shown_url(u)).finish(),
        }
    }
}

/// A probe URL as shown to people and in events: no password, no query or
/// fragment (either may carry a token).
pub fn shown_url(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or(url);
    crate::service::redact_url(bare)
}

fn serialize_shown_url<S: serde::Serializer>(
    url: &str,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&shown_url(url))
}

/// Checks a probe URL: `https://`, or `http://` to a loopback address
/// (127.0.0.0/8, ::1, localhost); the new values are posted to it. Errors
/// show the URL as [`shown_url`] does.
pub fn check_probe_url(url: &str) -> std::result::Result<(), String> {
    let shown = shown_url(url);
    let parsed =
        url::Url::parse(url).map_err(|e| format!("HTTP probe {shown}: not a valid URL ({e})"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "HTTP probe {shown}: the new values would travel unencrypted; use https:// \
             (plain http:// is accepted only to a loopback address)"
        )),
        other => Err(format!(
            "HTTP probe {shown}: scheme {other}:// is not HTTP; use https://"
        )),
    }
}

impl Validation {
    pub fn label(&self) -> String {
        match self {
            Validation::ReadBack => "read back and compare".into(),
            Validation::Command(c) => format!("command `{c}`"),
            Validation::Http(u) => format!("HTTP probe {}", shown_url(u)),
        }
    }
}

/// What a rotation does.
#[derive(Clone, Debug)]
pub struct RotateOptions {
    /// Keys to rotate (every key when empty).
    pub keys: Vec<String>,
    pub default_policy: Policy,
    /// Per-key policies.
    pub policies: BTreeMap<String, Policy>,
    /// `sh -c CMD` printing a JSON object of new values (gets `{"path","keys"}` on stdin).
    pub generator: Option<String>,
    pub validation: Validation,
    pub grace_secs: i64,
}

impl Default for RotateOptions {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            default_policy: Policy::default(),
            policies: BTreeMap::new(),
            generator: None,
            validation: Validation::ReadBack,
            grace_secs: DEFAULT_GRACE_SECS,
        }
    }
}

/// The journal of one rotation, written before every step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journal {
    pub id: String,
    pub path: String,
    pub target: String,
    pub operator: Option<String>,
    /// The process driving the rotation (0: none; a recovery gave up).
    pub pid: u32,
    /// Its host (None in journals written before it was recorded).
    #[serde(default)]
    pub host: Option<String>,
    pub started_at: i64,
    /// When the journal was last written (0 in journals written before it
    /// was recorded).
    #[serde(default)]
    pub saved_at: i64,
    pub step: Step,
    pub old_version: u64,
    /// When the old version was written: with its number, what the cleanup
    /// deletes (None in journals written before it was recorded).
    #[serde(default)]
    pub old_created: Option<Created>,
    pub new_version: Option<u64>,
    pub keys: Vec<String>,
    /// The new values, sealed (context `rotation:<path>`), from the deploy step on.
    pub sealed_new: Option<String>,
    pub validation: Validation,
    pub grace_secs: i64,
    pub reason: Option<String>,
    /// Why the last recovery could not finish it.
    #[serde(default)]
    pub failed: Option<String>,
}

/// How a step went, for live progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepStatus {
    Started,
    Done(String),
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub path: String,
    pub step: Step,
    pub status: StepStatus,
}

/// The end of a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Rotated {
        path: String,
        old_version: u64,
        new_version: u64,
        keys: Vec<String>,
        cleanup_at: i64,
    },
    RolledBack {
        path: String,
        old_version: u64,
        failed_version: u64,
        restored_as: u64,
        reason: String,
    },
}

/// What recovery did with an unfinished rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recovered {
    pub path: String,
    pub step: Step,
    /// `completed`, `rolled_back` or `abandoned` (nothing had been written).
    pub action: &'static str,
    pub current_version: u64,
    pub detail: String,
}

fn journal_key(s: &Secrets, path: &str) -> String {
    format!("{}|{}", s.store().target(), path)
}

/// A journal kept for a process on another host is taken for abandoned
/// once it has not been written for this long (no step takes near as long:
/// each backend request and command is bounded).
pub const FOREIGN_STALE_SECS: i64 = 15 * 60;

/// Journals this process is driving now (rotations and recoveries), so that
/// one of its own left by a rotation cut short is seen as abandoned.
static ACTIVE: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());

/// Marks a journal as driven by this process until dropped.
struct Active(String);

impl Active {
    fn new(id: &str) -> Self {
        ACTIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
        Self(id.to_owned())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Whether the process that owns `j` may still be driving it.
pub fn owner_alive(j: &Journal) -> bool {
    match &j.host {
        Some(h) if *h != crate::host::name() => {
            unix_now() - j.saved_at.max(j.started_at) < FOREIGN_STALE_SECS
        }
        _ if j.pid == std::process::id() => ACTIVE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&j.id),
        _ => crate::host::windflow_alive(j.pid),
    }
}

/// A journal as stored: readable, or not.
#[derive(Clone, Debug)]
pub enum Entry {
    Journal(Box<Journal>),
    /// A record that does not parse, named by a digest of its bytes.
    Unreadable {
        id: String,
        path: String,
        error: String,
    },
}

impl Entry {
    pub fn id(&self) -> &str {
        match self {
            Entry::Journal(j) => &j.id,
            Entry::Unreadable { id, .. } => id,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            Entry::Journal(j) => &j.path,
            Entry::Unreadable { path, .. } => path,
        }
    }
}

/// The id a stored record goes by: its journal's, or a digest of it.
fn record_id(bytes: &[u8]) -> std::result::Result<String, String> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_slice::<Id>(bytes)
        .map(|i| i.id)
        .map_err(|_| digest(bytes))
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("x{}", &hex::encode(sha2::Sha256::digest(bytes))[..15])
}

fn entry(path: &str, bytes: &[u8]) -> Entry {
    match serde_json::from_slice::<Journal>(bytes) {
        Ok(j) => Entry::Journal(Box::new(j)),
        Err(e) => Entry::Unreadable {
            id: record_id(bytes).unwrap_or_else(|d| d),
            path: path.to_owned(),
            error: format!("the journal record does not parse: {e}"),
        },
    }
}

/// What to do with the stored record, inside the transaction.
enum Write {
    Keep,
    Put(Vec<u8>),
    Delete,
}

/// Reads `path`'s journal record, and writes or deletes it, in one store
/// transaction (so across processes, nothing comes in between).
fn change<T>(s: &Secrets, path: &str, f: impl FnOnce(Option<&[u8]>) -> (Write, T)) -> Result<T> {
    use rusqlite::OptionalExtension;
    let key = journal_key(s, path);
    Ok(s.local().transaction(|tx| {
        let cur: Option<Vec<u8>> = tx
            .query_row(
                "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                rusqlite::params![JOURNAL_NS, key],
                |r| r.get(0),
            )
            .optional()?;
        let (write, out) = f(cur.as_deref());
        match write {
            Write::Keep => {}
            Write::Put(bytes) => {
                tx.execute(
                    "INSERT INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, unixepoch())
                     ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    rusqlite::params![JOURNAL_NS, key, bytes],
                )?;
            }
            Write::Delete => {
                tx.execute(
                    "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
                    rusqlite::params![JOURNAL_NS, key],
                )?;
            }
        }
        Ok(out)
    })?)
}

fn bytes(j: &Journal) -> Vec<u8> {
    serde_json::to_vec(j).expect("a journal serialises")
}

/// What claiming a secret's journal found.
enum Claim {
    Claimed,
    /// Another rotation's journal.
    Held(Box<Journal>),
    Unreadable(Entry),
}

/// Records `j` as the secret's journal if it has none: the check and the
/// save are one transaction.
fn claim(s: &Secrets, j: &mut Journal) -> Result<Claim> {
    j.saved_at = unix_now();
    let mine = bytes(j);
    change(s, &j.path, |cur| match cur {
        None => (Write::Put(mine), Claim::Claimed),
        Some(b) => match entry(&j.path, b) {
            Entry::Journal(other) => (Write::Keep, Claim::Held(other)),
            bad => (Write::Keep, Claim::Unreadable(bad)),
        },
    })
}

fn lost(path: &str) -> SecretsError {
    SecretsError::Backend(format!(
        "the rotation journal of {path} was discarded or replaced meanwhile \
         (`secrets recover --discard`?): stopped before the next step"
    ))
}

/// Writes `j` over the secret's journal only while that is still `j` (same
/// id): a rotation whose journal was dropped stops.
fn save(s: &Secrets, j: &mut Journal) -> Result<()> {
    j.saved_at = unix_now();
    let mine = bytes(j);
    let id = j.id.clone();
    let ok = change(s, &j.path, |cur| match cur.map(record_id) {
        Some(Ok(cur)) if cur == id => (Write::Put(mine), true),
        _ => (Write::Keep, false),
    })?;
    if ok { Ok(()) } else { Err(lost(&j.path)) }
}

/// Deletes the secret's journal if it is still `j` (same id): never
/// another rotation's. Returns whether it was.
fn finish(s: &Secrets, j: &Journal) -> Result<bool> {
    change(s, &j.path, |cur| match cur.map(record_id) {
        Some(Ok(cur)) if cur == j.id => (Write::Delete, true),
        _ => (Write::Keep, false),
    })
}

/// Makes this process the owner of `dead`'s journal if it is still as it
/// was read (same id and owner): only one process recovers it.
fn take_over(s: &Secrets, dead: &Journal) -> Result<Option<Journal>> {
    let mut mine = dead.clone();
    mine.pid = std::process::id();
    mine.host = Some(crate::host::name());
    mine.saved_at = unix_now();
    let b = bytes(&mine);
    let taken = change(s, &dead.path, |cur| {
        let same = cur
            .and_then(|c| serde_json::from_slice::<Journal>(c).ok())
            .is_some_and(|c| c.id == dead.id && c.pid == dead.pid && c.host == dead.host);
        if same {
            (Write::Put(b), true)
        } else {
            (Write::Keep, false)
        }
    })?;
    Ok(taken.then_some(mine))
}

/// Every journal of this store, readable or not.
pub fn entries(s: &Secrets) -> Result<Vec<Entry>> {
    let prefix = format!("{}|", s.store().target());
    Ok(s.local()
        .list(JOURNAL_NS, &prefix)?
        .into_iter()
        .map(|(k, v)| entry(&k[prefix.len()..], &v))
        .collect())
}

/// Unfinished rotations of this store (the readable journals).
pub fn journals(s: &Secrets) -> Result<Vec<Journal>> {
    Ok(entries(s)?
        .into_iter()
        .filter_map(|e| match e {
            Entry::Journal(j) => Some(*j),
            Entry::Unreadable { .. } => None,
        })
        .collect())
}

async fn pause(point: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|p| p == point) {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "windflow: paused at {point}");
        let _ = err.flush();
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

fn seal_values(s: &Secrets, path: &str, values: &Values) -> Result<String> {
    let map: BTreeMap<&str, &str> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    let text = Zeroizing::new(serde_json::to_vec(&map).expect("a map serialises"));
    s.keyring()
        .encrypt(&contexts::rotation(path), &text)
        .map_err(|e| SecretsError::Crypto {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

fn open_values(s: &Secrets, path: &str, sealed: &str) -> Result<Values> {
    let pt = s
        .keyring()
        .decrypt(&contexts::rotation(path), sealed)
        .map_err(|e| SecretsError::Crypto {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&pt).map_err(|e| {
        SecretsError::Backend(format!("the rotation journal of {path} is corrupt: {e}"))
    })?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, SecretValue::new(v)))
        .collect())
}

/// The owner of `j` in words: "process 42 on host-a".
fn owner(j: &Journal) -> String {
    match &j.host {
        Some(h) => format!("process {} on {h}", j.pid),
        None => format!("process {}", j.pid),
    }
}

/// Rotates `path`; `progress` hears every step as it starts and ends.
pub async fn rotate(
    s: &Secrets,
    path: &str,
    opts: &RotateOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Outcome> {
    model::check_path(path).map_err(SecretsError::Invalid)?;
    let mut report = |step: Step, status: StepStatus| {
        progress(Progress {
            path: path.to_owned(),
            step,
            status,
        })
    };
    let mut j = Journal {
        id: hex::encode(rand::random::<[u8; 8]>()),
        path: path.to_owned(),
        target: s.store().target(),
        operator: s.actor().map(str::to_owned),
        pid: std::process::id(),
        host: Some(crate::host::name()),
        started_at: unix_now(),
        saved_at: 0,
        step: Step::Generate,
        old_version: 0,
        old_created: None,
        new_version: None,
        keys: Vec::new(),
        sealed_new: None,
        validation: opts.validation.clone(),
        grace_secs: opts.grace_secs,
        reason: None,
        failed: None,
    };
    // One rotation per secret: the journal is claimed before anything is
    // read, so a second rotation stops here, not at the write.
    let _active = Active::new(&j.id);
    loop {
        match claim(s, &mut j)? {
            Claim::Claimed => break,
            Claim::Held(other) if owner_alive(&other) => {
                return Err(SecretsError::Invalid(format!(
                    "{path}: a rotation is already running ({}, step {}); wait for it",
                    owner(&other),
                    other.step.as_str()
                )));
            }
            Claim::Held(other) => {
                let id = other.id.clone();
                recover_one(s, *other).await.map_err(|e| {
                    SecretsError::Backend(format!(
                        "{path}: an unfinished rotation (journal {id}) cannot be finished, so no \
                         other can start: {e}; `windflow secrets recover --discard {id}` drops it"
                    ))
                })?;
            }
            Claim::Unreadable(e) => {
                return Err(SecretsError::Backend(format!(
                    "{path}: its rotation journal (id {}) cannot be read, so no other rotation \
                     can start; `windflow secrets recover --discard {}` drops it",
                    e.id(),
                    e.id()
                )));
            }
        }
    }
    let read = async {
        let meta = s.metadata(path).await?;
        let old_version = meta.current_version;
        let old_created = meta.current().map(|v| v.created()).ok_or_else(|| {
            SecretsError::Backend(format!(
                "{path}: version {old_version} is missing from the secret's metadata; nothing was changed"
            ))
        })?;
        let (old, _) = s.read(path, Some(old_version)).await?;
        let keys: Vec<String> = if opts.keys.is_empty() {
            old.keys().cloned().collect()
        } else {
            opts.keys.clone()
        };
        for k in &keys {
            model::check_key(k).map_err(|e| SecretsError::Invalid(format!("--keys: {e}")))?;
        }
        Ok::<_, SecretsError>((old_version, old_created, old, keys))
    };
    let (old_version, old_created, old, keys) = match read.await {
        Ok(r) => r,
        Err(e) => {
            finish(s, &j)?;
            return Err(e);
        }
    };
    j.old_version = old_version;
    j.old_created = Some(old_created);
    j.keys = keys.clone();

    // 1. generate
    save(s, &mut j)?;
    pause("generate").await;
    report(Step::Generate, StepStatus::Started);
    let generated = match generate(path, &keys, opts).await {
        Ok(g) => g,
        Err(e) => {
            finish(s, &j)?;
            report(Step::Generate, StepStatus::Failed(e.to_string()));
            return Err(e);
        }
    };
    let mut new = old.clone();
    new.extend(generated);
    report(
        Step::Generate,
        StepStatus::Done(format!("{} new value(s)", keys.len())),
    );
    pause("generate:done").await;

    // 2. deploy
    j.step = Step::Deploy;
    j.sealed_new = Some(seal_values(s, path, &new)?);
    save(s, &mut j)?;
    pause("deploy").await;
    report(Step::Deploy, StepStatus::Started);
    let written = match s.write(path, &new, old_version).await {
        Ok(m) => m,
        Err(e) => {
            // Nothing was written (check-and-set refused, or the store failed).
            finish(s, &j)?;
            report(Step::Deploy, StepStatus::Failed(e.to_string()));
            s.emit(
                "secret_rotation_failed",
                json!({ "path": path, "step": "deploy", "old_version": old_version, "reason": e.reason() }),
            );
            return Err(e);
        }
    };
    report(
        Step::Deploy,
        StepStatus::Done(format!("version {} written", written.version)),
    );
    pause("deploy:done").await;

    // 3. validate
    j.step = Step::Validate;
    j.new_version = Some(written.version);
    save(s, &mut j)?;
    pause("validate").await;
    report(Step::Validate, StepStatus::Started);
    let verdict = validate(s, path, written.version, &new, &opts.validation).await;
    pause("validate:done").await;

    match verdict {
        Ok(()) => {
            report(Step::Validate, StepStatus::Done(opts.validation.label()));
            // 4a. clean up
            j.step = Step::Cleanup;
            save(s, &mut j)?;
            pause("cleanup").await;
            report(Step::Cleanup, StepStatus::Started);
            let at = schedule_cleanup(s, path, old_version, old_created, opts.grace_secs)?;
            finish(s, &j)?;
            report(
                Step::Cleanup,
                StepStatus::Done(format!(
                    "version {old_version} deleted after {}",
                    model::format_time(at)
                )),
            );
            s.emit(
                "secret_rotated",
                json!({ "path": path, "old_version": old_version, "new_version": written.version, "keys": keys, "validation": opts.validation.label() }),
            );
            Ok(Outcome::Rotated {
                path: path.to_owned(),
                old_version,
                new_version: written.version,
                keys,
                cleanup_at: at,
            })
        }
        Err(reason) => {
            report(Step::Validate, StepStatus::Failed(reason.clone()));
            // 4b. roll back
            j.step = Step::Rollback;
            j.reason = Some(reason.clone());
            save(s, &mut j)?;
            pause("rollback").await;
            report(Step::Rollback, StepStatus::Started);
            match restore(s, &j).await {
                Ok(restored) => {
                    finish(s, &j)?;
                    report(
                        Step::Rollback,
                        StepStatus::Done(format!(
                            "version {old_version} restored as version {restored}"
                        )),
                    );
                    s.emit(
                        "secret_rotation_failed",
                        json!({ "path": path, "step": "validate", "old_version": old_version, "failed_version": written.version, "restored_as": restored, "reason": reason }),
                    );
                    Ok(Outcome::RolledBack {
                        path: path.to_owned(),
                        old_version,
                        failed_version: written.version,
                        restored_as: restored,
                        reason,
                    })
                }
                Err(e) => {
                    // The journal stays: the next start finishes the rollback.
                    report(Step::Rollback, StepStatus::Failed(e.to_string()));
                    Err(e)
                }
            }
        }
    }
}

async fn generate(path: &str, keys: &[String], opts: &RotateOptions) -> Result<Values> {
    if let Some(cmd) = &opts.generator {
        let input = json!({ "path": path, "keys": keys }).to_string();
        let out = run_command(cmd, &[], input.as_bytes())
            .await
            .map_err(|e| SecretsError::Invalid(format!("generator command `{cmd}` failed: {e}")))?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&out).map_err(|e| {
            SecretsError::Invalid(format!(
                "generator command `{cmd}` must print a JSON object of strings: {e}"
            ))
        })?;
        let mut values = Values::new();
        for k in keys {
            let v = map.get(k).ok_or_else(|| {
                SecretsError::Invalid(format!("generator command `{cmd}` gave no value for {k}"))
            })?;
            if v.is_empty() {
                return Err(SecretsError::Invalid(format!(
                    "generator command `{cmd}` gave an empty value for {k}"
                )));
            }
            values.insert(k.clone(), SecretValue::new(v.as_str()));
        }
        return Ok(values);
    }
    Ok(keys
        .iter()
        .map(|k| {
            let p = opts.policies.get(k).unwrap_or(&opts.default_policy);
            (k.clone(), p.generate())
        })
        .collect())
}

/// Runs `sh -c cmd` with `env` and `stdin`; stdout when it exits 0, else the reason.
async fn run_command(
    cmd: &str,
    env: &[(String, String)],
    stdin: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin).await;
    }
    let out = tokio::time::timeout(VALIDATE_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("no answer within {} s", VALIDATE_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot run: {e}"))?;
    if out.status.success() {
        Ok(Zeroizing::new(out.stdout))
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Err(format!(
            "exited with {}{}",
            out.status
                .code()
                .map_or("a signal".to_string(), |c| format!("code {c}")),
            if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            }
        ))
    }
}

fn env_name(key: &str) -> String {
    let up: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("WINDFLOW_SECRET_{up}")
}

fn values_json(values: &Values) -> Zeroizing<Vec<u8>> {
    let map: BTreeMap<&str, &str> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    Zeroizing::new(serde_json::to_vec(&map).expect("a map serialises"))
}

/// Checks the deployed version; `Err(reason)` fails the rotation.
async fn validate(
    s: &Secrets,
    path: &str,
    version: u64,
    expected: &Values,
    how: &Validation,
) -> std::result::Result<(), String> {
    match how {
        Validation::ReadBack => {
            let (got, meta) = s
                .read(path, Some(version))
                .await
                .map_err(|e| format!("read back failed: {e}"))?;
            if meta.version != version || &got != expected {
                return Err(format!(
                    "version {version} read back differs from what was written"
                ));
            }
            Ok(())
        }
        Validation::Command(cmd) => {
            let mut env: Vec<(String, String)> = expected
                .iter()
                .map(|(k, v)| (env_name(k), v.expose().to_owned()))
                .collect();
            env.push(("WINDFLOW_SECRET_PATH".into(), path.into()));
            env.push(("WINDFLOW_SECRET_VERSION".into(), version.to_string()));
            let res = run_command(cmd, &env, &values_json(expected)).await;
            for (_, v) in &mut env {
                zeroize::Zeroize::zeroize(v);
            }
            res.map(|_| ())
                .map_err(|e| format!("validation command `{cmd}` {e}"))
        }
        Validation::Http(url) => http_probe(url, path, version, expected).await,
    }
}

/// POSTs the new values to `url` (checked by [`check_probe_url`]); a 2xx
/// answer passes. A redirect is not followed: a 307 or 308 would send the
/// values again, to wherever it points. Errors never hold the URL's
/// credentials or query.
async fn http_probe(
    url: &str,
    path: &str,
    version: u64,
    expected: &Values,
) -> std::result::Result<(), String> {
    check_probe_url(url)?;
    let shown = shown_url(url);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(VALIDATE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP probe client: {}", probe_error(e)))?;
    let body = values_json(expected);
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-windflow-secret-path", path)
        .header("x-windflow-secret-version", version.to_string())
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| format!("HTTP probe {shown} failed: {}", probe_error(e)))?;
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        let to = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map_or_else(|| "nowhere".to_owned(), shown_url);
        return Err(format!(
            "HTTP probe {shown} answered {status}, redirecting to {to}: not followed (the \
             new values would go there too); give the final address"
        ));
    }
    Err(format!("HTTP probe {shown} answered {status}"))
}

/// A client error with its causes, without the URL reqwest puts in it.
fn probe_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Writes the old values back as a new version unless that already
/// happened; returns the version now holding the old values.
async fn restore(s: &Secrets, j: &Journal) -> Result<u64> {
    let (old, _) = s.read(&j.path, Some(j.old_version)).await?;
    let meta = s.metadata(&j.path).await?;
    let failed = j.new_version.unwrap_or(j.old_version + 1);
    if meta.current_version > failed {
        // Written after the failed version: by us before a crash, or by someone else.
        if let Ok((cur, _)) = s.read(&j.path, None).await
            && cur == old
        {
            return Ok(meta.current_version);
        }
        return Err(SecretsError::CasConflict {
            path: j.path.clone(),
            expected: failed,
            current: meta.current_version,
        });
    }
    Ok(s.write(&j.path, &old, meta.current_version).await?.version)
}

/// A scheduled soft-deletion of one old version, named by its number (the
/// key) and its creation time: a later version with the same number (the
/// secret deleted and written again) is another version, never deleted.
#[derive(Debug, Serialize, Deserialize)]
struct CleanupJob {
    due_at: i64,
    /// None in jobs scheduled before the creation time was recorded.
    #[serde(default)]
    created: Option<Created>,
}

/// Records that `version` of `path`, written at `created`, is to be
/// soft-deleted after `grace_secs`.
pub fn schedule_cleanup(
    s: &Secrets,
    path: &str,
    version: u64,
    created: Created,
    grace_secs: i64,
) -> Result<i64> {
    let at = unix_now() + grace_secs;
    let key = format!("{}|{}|{}", s.store().target(), path, version);
    let job = CleanupJob {
        due_at: at,
        created: Some(created),
    };
    s.local().put(
        CLEANUP_NS,
        &key,
        &serde_json::to_vec(&job).expect("a job serialises"),
    )?;
    Ok(at)
}

/// A scheduled cleanup not done, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub path: String,
    pub version: u64,
    pub reason: String,
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    /// Old versions soft-deleted: `(path, version)`.
    pub deleted: Vec<(String, u64)>,
    /// Cleanups dropped because their version is no longer the one scheduled
    /// (or is the current one): nothing deleted.
    pub dropped: Vec<Dropped>,
}

/// Soft-deletes the old versions whose grace period is over, each only if it
/// is still the version scheduled: present, not current, and created at the
/// recorded time. A job whose version changed is dropped with a
/// `secret_cleanup_dropped` event saying why.
pub async fn sweep(s: &Secrets) -> Result<Swept> {
    let prefix = format!("{}|", s.store().target());
    let now = unix_now();
    let mut swept = Swept::default();
    for (key, value) in s.local().list(CLEANUP_NS, &prefix)? {
        let job = serde_json::from_slice::<CleanupJob>(&value).ok();
        if job.as_ref().is_some_and(|j| j.due_at > now) {
            continue;
        }
        let rest = &key[prefix.len()..];
        let Some((path, version)) = rest
            .rsplit_once('|')
            .and_then(|(p, v)| v.parse::<u64>().ok().map(|v| (p.to_owned(), v)))
        else {
            s.local().delete(CLEANUP_NS, &key)?;
            continue;
        };
        let scheduled = job.and_then(|j| j.created);
        let verdict = match scheduled {
            None => Err(format!(
                "scheduled without version {version}'s creation time, so it cannot be told from a later version {version}; delete it by hand if it is still the old value"
            )),
            Some(created) => match s.store().metadata(&path).await {
                Err(SecretsError::NotFound { .. }) => {
                    Err("the secret no longer exists".to_string())
                }
                Err(e) => return Err(e),
                Ok(meta) => match meta.version(version) {
                    None => Err(format!("version {version} no longer exists")),
                    Some(_) if version == meta.current_version => Err(format!(
                        "version {version} is now the current version (the secret was written again); the current version is never cleaned up"
                    )),
                    Some(v) if v.created() != created => Err(format!(
                        "version {version} now was created at {}, not at {created}: the secret was deleted and written again",
                        v.created()
                    )),
                    Some(v) if !v.is_live() => {
                        Err(format!("version {version} is already {}", v.state()))
                    }
                    Some(_) => Ok(created),
                },
            },
        };
        match verdict {
            Ok(created) => match s.store().delete_versions(&path, &[version]).await {
                Ok(()) => {
                    s.local().delete(CLEANUP_NS, &key)?;
                    s.emit(
                        "secret_deleted",
                        json!({ "path": path, "versions": [version], "created": created.to_string(), "reason": "rotation grace period over" }),
                    );
                    swept.deleted.push((path, version));
                }
                Err(SecretsError::NotFound { .. }) => {
                    s.local().delete(CLEANUP_NS, &key)?;
                    drop_job(
                        s,
                        &mut swept,
                        path,
                        version,
                        scheduled,
                        "the secret no longer exists".into(),
                    );
                }
                Err(e) => return Err(e),
            },
            Err(reason) => {
                s.local().delete(CLEANUP_NS, &key)?;
                drop_job(s, &mut swept, path, version, scheduled, reason);
            }
        }
    }
    Ok(swept)
}

fn drop_job(
    s: &Secrets,
    swept: &mut Swept,
    path: String,
    version: u64,
    created: Option<Created>,
    reason: String,
) {
    s.emit(
        "secret_cleanup_dropped",
        json!({ "path": path, "version": version, "created": created.map(|c| c.to_string()), "reason": reason, "deleted": false }),
    );
    swept.dropped.push(Dropped {
        path,
        version,
        reason,
    });
}

/// A journal that recovery could not finish (or read), skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unrecoverable {
    /// What `secrets recover --discard` takes.
    pub id: String,
    pub path: String,
    pub step: Option<Step>,
    pub error: String,
}

/// What a recovery pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub recovered: Vec<Recovered>,
    /// Reported and skipped: each stays until finished or discarded.
    pub unrecoverable: Vec<Unrecoverable>,
}

/// Finishes every unfinished rotation of this store left by a dead process.
/// One that cannot be finished is reported and skipped: it never stops the
/// others, nor the command that recovers.
pub async fn recover(s: &Secrets) -> Result<Recovery> {
    let mut out = Recovery::default();
    for e in entries(s)? {
        match e {
            Entry::Unreadable { id, path, error } => out.unrecoverable.push(Unrecoverable {
                id,
                path,
                step: None,
                error,
            }),
            Entry::Journal(j) if owner_alive(&j) => {}
            Entry::Journal(j) => {
                let (id, path, step) = (j.id.clone(), j.path.clone(), j.step);
                match recover_one(s, *j).await {
                    Ok(Some(r)) => out.recovered.push(r),
                    // Another process took it over meanwhile.
                    Ok(None) => {}
                    Err(e) => out.unrecoverable.push(Unrecoverable {
                        id,
                        path,
                        step: Some(step),
                        error: e.to_string(),
                    }),
                }
            }
        }
    }
    Ok(out)
}

/// The journal with this id (an unreadable one goes by its digest).
pub fn find(s: &Secrets, id: &str) -> Result<Option<Entry>> {
    Ok(entries(s)?.into_iter().find(|e| e.id() == id))
}

/// Whether the stored record `cur` is still the entry `e` as it was read.
fn same_record(cur: &[u8], e: &Entry) -> bool {
    match (e, serde_json::from_slice::<Journal>(cur)) {
        (Entry::Journal(j), Ok(c)) => {
            c.id == j.id && c.pid == j.pid && c.host == j.host && c.saved_at == j.saved_at
        }
        (Entry::Unreadable { id, .. }, Err(_)) => digest(cur) == *id,
        _ => false,
    }
}

/// Drops the journal `id`: windflow no longer finishes or rolls back that
/// rotation, and the secret stays as it is now. Refused while the journal's
/// process may still drive it. Emits `secret_rotation_journal_discarded`.
pub fn discard(s: &Secrets, id: &str) -> Result<Entry> {
    let Some(e) = find(s, id)? else {
        return Err(SecretsError::Invalid(format!(
            "no unfinished rotation has the id {id}: `windflow secrets recover --json` lists them"
        )));
    };
    if let Entry::Journal(j) = &e
        && owner_alive(j)
    {
        return Err(SecretsError::Invalid(format!(
            "{}: the rotation of journal {id} is running ({}, step {}): it is not discarded",
            j.path,
            owner(j),
            j.step.as_str()
        )));
    }
    let dropped = change(s, e.path(), |cur| match cur {
        Some(c) if same_record(c, &e) => (Write::Delete, true),
        _ => (Write::Keep, false),
    })?;
    if !dropped {
        return Err(SecretsError::Invalid(format!(
            "the journal {id} changed meanwhile (a recovery took it over?): nothing was discarded; \
             look again with `windflow secrets recover --json`"
        )));
    }
    let details = match &e {
        Entry::Journal(j) => json!({
            "journal_id": id, "path": j.path, "step": j.step.as_str(),
            "old_version": j.old_version, "new_version": j.new_version,
            "started_by": j.operator, "reason": j.failed,
        }),
        Entry::Unreadable { path, error, .. } => json!({
            "journal_id": id, "path": path, "reason": error,
        }),
    };
    s.emit("secret_rotation_journal_discarded", details);
    Ok(e)
}

/// Takes over a dead process's journal and finishes it; None when another
/// process took it over first. On failure the journal stays, owned by no
/// process, with the reason, for the next attempt or `secrets recover --discard`.
async fn recover_one(s: &Secrets, dead: Journal) -> Result<Option<Recovered>> {
    let _active = Active::new(&dead.id);
    let Some(j) = take_over(s, &dead)? else {
        return Ok(None);
    };
    match finish_journal(s, j.clone()).await {
        Ok(r) => Ok(Some(r)),
        Err(e) => {
            let mut gave_up = j;
            gave_up.pid = 0;
            gave_up.failed = Some(e.to_string());
            // Lost meanwhile (discarded): nothing to keep.
            let _ = save(s, &mut gave_up);
            Err(e)
        }
    }
}

async fn finish_journal(s: &Secrets, j: Journal) -> Result<Recovered> {
    let meta = s.metadata(&j.path).await?;
    let rec = |action: &'static str, current: u64, detail: String| Recovered {
        path: j.path.clone(),
        step: j.step,
        action,
        current_version: current,
        detail,
    };
    let result = match j.step {
        Step::Generate => rec(
            "abandoned",
            meta.current_version,
            format!(
                "stopped before deploying; version {} unchanged",
                j.old_version
            ),
        ),
        Step::Deploy if meta.current_version == j.old_version => rec(
            "abandoned",
            meta.current_version,
            format!(
                "stopped before the new value was written; version {} unchanged",
                j.old_version
            ),
        ),
        Step::Deploy | Step::Validate | Step::Rollback => {
            // Was the version after the old one ours?
            let ours = match (&j.sealed_new, j.new_version) {
                (_, Some(v)) => Some(v),
                (Some(sealed), None) => {
                    let candidate = j.old_version + 1;
                    let expected = open_values(s, &j.path, sealed)?;
                    match s.read(&j.path, Some(candidate)).await {
                        Ok((got, _)) if got == expected => Some(candidate),
                        _ => None,
                    }
                }
                (None, None) => None,
            };
            match ours {
                None => rec(
                    "abandoned",
                    meta.current_version,
                    format!(
                        "the new value was never written; version {} is current",
                        meta.current_version
                    ),
                ),
                Some(failed) => {
                    let mut j2 = j.clone();
                    j2.new_version = Some(failed);
                    j2.step = Step::Rollback;
                    save(s, &mut j2)?;
                    let restored = restore(s, &j2).await?;
                    s.emit(
                        "secret_rotation_failed",
                        json!({ "path": j.path, "step": j.step.as_str(), "old_version": j.old_version, "failed_version": failed, "restored_as": restored, "reason": "interrupted; rolled back on recovery" }),
                    );
                    rec(
                        "rolled_back",
                        restored,
                        format!(
                            "interrupted at {}; version {} restored as version {restored}",
                            j.step.as_str(),
                            j.old_version
                        ),
                    )
                }
            }
        }
        Step::Cleanup => {
            // A journal from before creation times were recorded: the old
            // version as it is now, unless it is the current one.
            let created = j.old_created.or_else(|| {
                (meta.current_version != j.old_version)
                    .then(|| meta.version(j.old_version).map(|v| v.created()))
                    .flatten()
            });
            let cleanup = match created {
                Some(c) => {
                    let at = schedule_cleanup(s, &j.path, j.old_version, c, j.grace_secs)?;
                    format!(
                        "version {} deleted after {}",
                        j.old_version,
                        model::format_time(at)
                    )
                }
                None => format!(
                    "version {} kept (it cannot be told from the current version; delete it by hand)",
                    j.old_version
                ),
            };
            s.emit(
                "secret_rotated",
                json!({ "path": j.path, "old_version": j.old_version, "new_version": j.new_version, "keys": j.keys, "recovered": true }),
            );
            rec(
                "completed",
                meta.current_version,
                format!(
                    "validated before the interruption; version {} kept, {cleanup}",
                    j.new_version.unwrap_or(meta.current_version),
                ),
            )
        }
    };
    finish(s, &j)?;
    s.emit(
        "secret_rotation_recovered",
        json!({ "path": result.path, "step": result.step.as_str(), "action": result.action, "current_version": result.current_version }),
    );
    Ok(result)
}

/// Every secret under `prefix` whose `expires_at` is within `within_secs` from now.
pub async fn expiring(s: &Secrets, prefix: &str, within_secs: i64) -> Result<Vec<(String, i64)>> {
    use futures::StreamExt;
    let paths = s.list(prefix).await?;
    let limit = unix_now() + within_secs;
    let metas: Vec<Result<model::SecretMeta>> = futures::stream::iter(paths)
        .map(|p| async move { s.store().metadata(&p).await })
        .buffered(16)
        .collect()
        .await;
    let mut out = Vec::new();
    for m in metas {
        let m = m?;
        if let Some(at) = m.expires_at().filter(|at| *at <= limit) {
            out.push((m.path.clone(), at));
        }
    }
    out.sort_by_key(|(_, at)| *at);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::{Keyring, MasterKey};
    use crate::secrets::LocalStore;

    fn secrets(dir: &std::path::Path) -> Secrets {
        let local = crate::store::Store::open(dir).unwrap();
        Secrets::new(
            Arc::new(LocalStore::new(local.clone())),
            Arc::new(Keyring::new(MasterKey::generate())),
            local,
            crate::audit::Audit::discard(),
        )
    }

    fn journal(s: &Secrets, id: &str, pid: u32) -> Journal {
        Journal {
            id: id.into(),
            path: "deployments/a".into(),
            target: s.store().target(),
            operator: None,
            pid,
            host: Some(crate::host::name()),
            started_at: unix_now(),
            saved_at: 0,
            step: Step::Generate,
            old_version: 1,
            old_created: None,
            new_version: None,
            keys: Vec::new(),
            sealed_new: None,
            validation: Validation::ReadBack,
            grace_secs: 0,
            reason: None,
            failed: None,
        }
    }

    #[test]
    fn only_the_journal_s_own_rotation_saves_or_finishes_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(dir.path());
        let (mut a, mut b) = (journal(&s, "a", 1), journal(&s, "b", 2));
        assert!(matches!(claim(&s, &mut a).unwrap(), Claim::Claimed));
        assert!(matches!(claim(&s, &mut b).unwrap(), Claim::Held(j) if j.id == "a"));
        // The loser can neither overwrite nor delete the winner's journal.
        b.step = Step::Deploy;
        assert!(save(&s, &mut b).is_err());
        assert!(!finish(&s, &b).unwrap());
        assert_eq!(journals(&s).unwrap()[0].id, "a");
        a.step = Step::Validate;
        save(&s, &mut a).unwrap();
        assert_eq!(journals(&s).unwrap()[0].step, Step::Validate);
        assert!(finish(&s, &a).unwrap());
        assert!(journals(&s).unwrap().is_empty());
        // Gone: a save of it fails, so a discarded rotation stops.
        assert!(save(&s, &mut a).is_err());
    }

    #[test]
    fn a_dead_journal_is_taken_over_once_and_discarded_only_when_dead() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(dir.path());
        // pid 0: no process (a recovery gave up on it).
        let mut dead = journal(&s, "d", 0);
        assert!(matches!(claim(&s, &mut dead).unwrap(), Claim::Claimed));
        assert!(!owner_alive(&dead));
        let mine = take_over(&s, &dead).unwrap().expect("taken over");
        assert_eq!(mine.pid, std::process::id());
        assert!(take_over(&s, &dead).unwrap().is_none(), "only once");
        // Ours, but not driven by anything in this process: abandoned.
        assert!(!owner_alive(&mine));
        {
            let _driving = Active::new("d");
            assert!(owner_alive(&mine));
            assert!(discard(&s, "d").is_err(), "running: not discarded");
        }
        assert!(matches!(discard(&s, "d").unwrap(), Entry::Journal(j) if j.id == "d"));
        assert!(journals(&s).unwrap().is_empty());
        assert!(discard(&s, "d").is_err());
    }

    #[test]
    fn an_unreadable_journal_goes_by_a_digest_and_can_be_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(dir.path());
        let key = journal_key(&s, "deployments/b");
        s.local().put(JOURNAL_NS, &key, b"{not json").unwrap();
        let e = entries(&s).unwrap();
        let id = e[0].id().to_owned();
        assert!(matches!(&e[0], Entry::Unreadable { path, .. } if path == "deployments/b"));
        assert_eq!(id, digest(b"{not json"));
        discard(&s, &id).unwrap();
        assert!(entries(&s).unwrap().is_empty());
    }

    #[test]
    fn a_journal_of_another_host_is_alive_until_it_goes_stale() {
        let dir = tempfile::tempdir().unwrap();
        let s = secrets(dir.path());
        let mut j = journal(&s, "f", 1);
        j.host = Some("another-host".into());
        j.saved_at = unix_now();
        assert!(owner_alive(&j));
        j.saved_at = unix_now() - FOREIGN_STALE_SECS;
        j.started_at = j.saved_at;
        assert!(!owner_alive(&j));
    }
}
