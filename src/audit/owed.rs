//! Owed alerts. Every event recorded in this data dir's log that an alert
//! rule matches is owed an alert from the moment it is recorded. The log is
//! the record; the store keeps a cursor into it (how far events have been
//! routed), the repeats being folded, and an outbox of alerts not yet
//! delivered. Whichever process holds the dispatch lock delivers what is
//! owed: the agent, the console, or the command that recorded the event.
//!
//! At least once: an alert leaves the outbox only after its channel took it,
//! so a process killed before delivery leaves it owed, and one killed after
//! delivery but before the outbox row is gone sends it again (every alert
//! carries its event id, and webhooks an `Idempotency-Key`, so receivers can
//! drop the repeat). Routing and the cursor move in one store transaction.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rusqlite::{OptionalExtension, params};

use super::SecurityEvent;
use super::alert::{Alert, AlertState, Channel, DeadLetter, route};
use super::local::list_files;
use super::settings::AuditSettings;
use crate::store::{Store, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alert_cursor (
    name TEXT PRIMARY KEY,
    month TEXT NOT NULL,
    offset INTEGER NOT NULL,
    last_id TEXT
);
CREATE TABLE IF NOT EXISTS alert_routed (
    event_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_fold (
    event_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    since_ms INTEGER NOT NULL,
    repeats INTEGER NOT NULL,
    last_event BLOB NOT NULL,
    PRIMARY KEY (event_type, user_id)
);
CREATE TABLE IF NOT EXISTS alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    event BLOB NOT NULL,
    count INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_ms INTEGER NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS alert_sent (
    channel TEXT PRIMARY KEY,
    sent INTEGER NOT NULL
);";

/// The cursor's row name.
const LOG: &str = "log";
/// Most bytes of the log routed in one transaction.
const STEP: u64 = 4 << 20;
/// Deliveries a channel gets before its alert is kept as a dead letter.
pub const MAX_ATTEMPTS: i64 = 10;
/// The lock file, in the audit folder: one dispatcher per data dir.
pub const LOCK_FILE: &str = "alerts.lock";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The wait before the `attempts`th retry: 0.5 s doubling, at most 5 min.
pub fn backoff_ms(attempts: i64) -> i64 {
    (500i64 << attempts.clamp(0, 20)).min(300_000)
}

/// Where routing has got to in the log: the end of the last line routed,
/// and that line's event id, to tell when the file changed under the
/// cursor (cut and appended to again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub month: String,
    pub offset: u64,
    pub last_id: Option<String>,
}

/// How long the ids of alerted events are kept, so that reading a changed
/// log again alerts nothing twice.
const ROUTED_KEEP_MS: i64 = 35 * 24 * 3600 * 1000;

/// Creates the tables and, once per data dir, the cursor at the log's
/// current end: what was recorded before alerting existed is history, not
/// owed. Every process that records events calls this before its first.
pub fn prepare(store: &Store, audit_dir: &Path) -> Result<(), StoreError> {
    // A store opened read-only on a full disk: reads need no cursor, and
    // an event recorded now fails on the full disk anyway.
    if store.is_read_only() {
        return Ok(());
    }
    let end = log_end(audit_dir);
    store.transaction(|tx| {
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "INSERT OR IGNORE INTO alert_cursor (name, month, offset, last_id)
             VALUES (?1, ?2, ?3, ?4)",
            params![LOG, end.month, end.offset as i64, end.last_id],
        )?;
        Ok(())
    })
}

/// The end of the newest log file (or the start of an empty log).
fn log_end(audit_dir: &Path) -> Cursor {
    let newest = list_files(audit_dir)
        .ok()
        .and_then(|f| f.into_iter().last());
    match newest {
        Some((month, path)) => {
            let offset = std::fs::symlink_metadata(&path).map_or(0, |m| m.len());
            Cursor {
                last_id: last_id_before(&path, offset),
                offset,
                month,
            }
        }
        None => Cursor {
            month: String::new(),
            offset: 0,
            last_id: None,
        },
    }
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Events routed to at least one channel.
    pub routed: usize,
    /// Alerts delivered.
    pub delivered: usize,
    /// Alerts still owed after the pass (dead letters not counted).
    pub owed: usize,
}

/// The lock that makes a process the data dir's one dispatcher; released
/// when dropped (or when the process dies).
#[derive(Debug)]
pub struct DispatchLock {
    _file: File,
}

impl DispatchLock {
    /// Takes the lock if no other process holds it.
    pub fn try_take(audit_dir: &Path) -> std::io::Result<Option<Self>> {
        let file = crate::fsutil::open_owned(&audit_dir.join(LOCK_FILE), true)?;
        Ok(crate::fsutil::try_flock(&file)?.then_some(Self { _file: file }))
    }
}

/// Routes owed events and delivers alerts; one per data dir at a time.
pub struct Dispatcher {
    store: Arc<Store>,
    audit_dir: PathBuf,
    settings: AuditSettings,
    channels: Vec<Channel>,
    _lock: DispatchLock,
    pub state: Arc<Mutex<AlertState>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("audit_dir", &self.audit_dir)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// The dispatcher of `data_dir`, if this process can take the lock.
    pub fn try_new(
        store: Arc<Store>,
        data_dir: &Path,
        settings: &AuditSettings,
    ) -> Result<Option<Self>, String> {
        let audit_dir = data_dir.join("audit");
        crate::fsutil::private_dir(&audit_dir)
            .map_err(|e| format!("cannot prepare {}: {e}", audit_dir.display()))?;
        prepare(&store, &audit_dir).map_err(|e| e.to_string())?;
        let Some(lock) = DispatchLock::try_take(&audit_dir)
            .map_err(|e| format!("alert dispatch lock in {}: {e}", audit_dir.display()))?
        else {
            return Ok(None);
        };
        let channels = settings
            .channels
            .iter()
            .map(|s| Channel::new(s.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let state = Arc::new(Mutex::new(AlertState::for_channels(&settings.channels)));
        Ok(Some(Self {
            store,
            audit_dir,
            settings: settings.clone(),
            channels,
            _lock: lock,
            state,
        }))
    }

    /// Reports into `state` (the pane's) instead of a state of its own.
    pub fn with_state(self, state: Arc<Mutex<AlertState>>) -> Self {
        {
            let mine = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut theirs = state.lock().unwrap_or_else(|p| p.into_inner());
            theirs.channels = mine.channels.clone();
        }
        Self { state, ..self }
    }

    /// Routes what the log holds past the cursor, turns folds whose window
    /// closed into alerts, and delivers what is due, each send bounded by
    /// `deadline` (what is not delivered by then stays owed).
    pub async fn pass(&self, deadline: Duration) -> Result<Pass, String> {
        let mut pass = Pass::default();
        loop {
            let (routed, more) = self.route_step().map_err(|e| e.to_string())?;
            pass.routed += routed;
            if !more {
                break;
            }
        }
        self.expire_folds().map_err(|e| e.to_string())?;
        let until = tokio::time::Instant::now() + deadline;
        pass.delivered = self.deliver(until).await.map_err(|e| e.to_string())?;
        pass.owed = self.owed().map_err(|e| e.to_string())?;
        self.refresh_state().map_err(|e| e.to_string())?;
        Ok(pass)
    }

    /// Alerts waiting for delivery (dead letters not counted).
    pub fn owed(&self) -> Result<usize, StoreError> {
        owed(&self.store)
    }

    fn cursor(&self) -> Result<Cursor, StoreError> {
        self.store.read(|c| {
            c.query_row(
                "SELECT month, offset, last_id FROM alert_cursor WHERE name = ?1",
                params![LOG],
                |r| {
                    Ok(Cursor {
                        month: r.get(0)?,
                        offset: r.get::<_, i64>(1)? as u64,
                        last_id: r.get(2)?,
                    })
                },
            )
        })
    }

    /// Reads up to [`STEP`] bytes of whole lines past the cursor and routes
    /// them, moving the cursor in the same transaction.
    fn route_step(&self) -> Result<(usize, bool), StoreError> {
        let cursor = self.cursor()?;
        let files = list_files(&self.audit_dir).unwrap_or_default();
        let mut next = cursor.clone();
        let mut data = Vec::new();
        let mut more = false;
        for (month, path) in files {
            if month < cursor.month {
                continue;
            }
            let start = if month != cursor.month {
                0
            } else if cursor.offset > 0 && last_id_before(&path, cursor.offset) != cursor.last_id {
                // The file changed under the cursor (cut, then appended to):
                // read it again; the ids already alerted are skipped.
                tracing::warn!(file = %path.display(), "the audit log changed under the alert cursor: reading it again");
                0
            } else {
                cursor.offset
            };
            let chunk = match read_lines(&path, start, STEP) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read the audit log for alerts");
                    break;
                }
            };
            let whole = chunk.data.len() as u64;
            next = Cursor {
                month: month.clone(),
                offset: start + whole,
                last_id: if whole > 0 {
                    last_id_in(&chunk.data)
                } else {
                    cursor.last_id.clone().filter(|_| start > 0)
                },
            };
            data = chunk.data;
            more = chunk.more;
            if whole > 0 || chunk.more {
                break;
            }
        }
        if next == cursor {
            return Ok((0, false));
        }
        let events: Vec<SecurityEvent> = data
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let now = now_ms();
        let window = self.settings.fold_window.as_millis() as i64;
        let routed = self.store.transaction(|tx| {
            let mut routed = 0;
            for ev in &events {
                let targets = route(&self.settings.rules, &self.settings.channels, ev);
                if targets.is_empty() {
                    continue;
                }
                // Each event is routed once, however often the log is read.
                let first = tx.execute(
                    "INSERT OR IGNORE INTO alert_routed (event_id, at_ms) VALUES (?1, ?2)",
                    params![ev.id, now],
                )? == 1;
                if !first {
                    continue;
                }
                routed += 1;
                let user = ev.user_id.clone().unwrap_or_default();
                let since: Option<i64> = tx
                    .query_row(
                        "SELECT since_ms FROM alert_fold WHERE event_type = ?1 AND user_id = ?2",
                        params![ev.event_type, user],
                        |r| r.get(0),
                    )
                    .optional()?;
                let body = serde_json::to_vec(ev).unwrap_or_default();
                match since {
                    Some(s) if now - s < window => {
                        tx.execute(
                            "UPDATE alert_fold SET repeats = repeats + 1, last_event = ?3
                             WHERE event_type = ?1 AND user_id = ?2",
                            params![ev.event_type, user, body],
                        )?;
                    }
                    _ => {
                        tx.execute(
                            "INSERT OR REPLACE INTO alert_fold
                             (event_type, user_id, since_ms, repeats, last_event)
                             VALUES (?1, ?2, ?3, 0, ?4)",
                            params![ev.event_type, user, now, body],
                        )?;
                        for t in &targets {
                            enqueue(tx, t, &body, 1, now)?;
                        }
                    }
                }
            }
            tx.execute(
                "UPDATE alert_cursor SET month = ?2, offset = ?3, last_id = ?4 WHERE name = ?1",
                params![LOG, next.month, next.offset as i64, next.last_id],
            )?;
            Ok(routed)
        })?;
        Ok((routed, more))
    }

    /// Folds whose window closed: their repeats become one alert.
    fn expire_folds(&self) -> Result<(), StoreError> {
        let now = now_ms();
        let window = self.settings.fold_window.as_millis() as i64;
        // A read first: most passes have nothing to expire, and take no
        // write lock that other processes would wait for.
        let due: bool = self.store.read(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM alert_fold WHERE since_ms + ?1 <= ?2)
                     OR EXISTS (SELECT 1 FROM alert_routed WHERE at_ms < ?3)",
                params![window, now, now - ROUTED_KEEP_MS],
                |r| r.get(0),
            )
        })?;
        if !due {
            return Ok(());
        }
        self.store.transaction(|tx| {
            let closed: Vec<(i64, Vec<u8>)> = {
                let mut stmt = tx.prepare(
                    "SELECT repeats, last_event FROM alert_fold WHERE since_ms + ?1 <= ?2",
                )?;
                stmt.query_map(params![window, now], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for (repeats, body) in closed.iter().filter(|(n, _)| *n > 0) {
                let Ok(ev) = serde_json::from_slice::<SecurityEvent>(body) else {
                    continue;
                };
                for t in route(&self.settings.rules, &self.settings.channels, &ev) {
                    enqueue(tx, &t, body, *repeats, now)?;
                }
            }
            tx.execute(
                "DELETE FROM alert_fold WHERE since_ms + ?1 <= ?2",
                params![window, now],
            )?;
            tx.execute(
                "DELETE FROM alert_routed WHERE at_ms < ?1",
                params![now - ROUTED_KEEP_MS],
            )?;
            Ok(())
        })
    }

    /// Sends what is due, channel by channel in order; a channel that fails
    /// is left for its back-off (later alerts of it wait behind).
    async fn deliver(&self, until: tokio::time::Instant) -> Result<usize, StoreError> {
        let due: Vec<(i64, String, Vec<u8>, u32, i64)> = self.store.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, channel, event, count, attempts FROM alert_outbox
                 WHERE dead = 0 AND next_ms <= ?1 ORDER BY id LIMIT 500",
            )?;
            stmt.query_map(params![now_ms()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })?;
        let mut failed: Vec<String> = Vec::new();
        let mut delivered = 0;
        for (id, name, body, count, attempts) in due {
            if failed.contains(&name) {
                continue;
            }
            let Some(channel) = self.channels.iter().find(|c| c.spec.name == name) else {
                // The channel is no longer configured: kept as a dead letter.
                self.fail(id, MAX_ATTEMPTS, "channel no longer configured")?;
                continue;
            };
            let Ok(event) = serde_json::from_slice::<SecurityEvent>(&body) else {
                self.fail(id, MAX_ATTEMPTS, "unreadable alert record")?;
                continue;
            };
            let alert = Alert::new(event, count);
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let sent = match tokio::time::timeout(left, channel.send(&alert)).await {
                Ok(r) => r,
                Err(_) => {
                    // Out of time: still owed, not a failure of the channel.
                    break;
                }
            };
            match sent {
                Ok(()) => {
                    self.store.transaction(|tx| {
                        tx.execute("DELETE FROM alert_outbox WHERE id = ?1", params![id])?;
                        tx.execute(
                            "INSERT INTO alert_sent (channel, sent) VALUES (?1, 1)
                             ON CONFLICT (channel) DO UPDATE SET sent = sent + 1",
                            params![name],
                        )?;
                        Ok(())
                    })?;
                    delivered += 1;
                    self.mark(&name, None);
                }
                Err(e) => {
                    self.fail(id, attempts + 1, &e)?;
                    self.mark(&name, Some(e));
                    failed.push(name);
                }
            }
        }
        Ok(delivered)
    }

    /// Records a failed delivery: retried after a back-off, or kept as a
    /// dead letter after [`MAX_ATTEMPTS`].
    fn fail(&self, id: i64, attempts: i64, error: &str) -> Result<(), StoreError> {
        let dead = attempts >= MAX_ATTEMPTS;
        self.store.transaction(|tx| {
            tx.execute(
                "UPDATE alert_outbox SET attempts = ?2, next_ms = ?3, dead = ?4, last_error = ?5
                 WHERE id = ?1",
                params![id, attempts, now_ms() + backoff_ms(attempts), dead, error],
            )?;
            Ok(())
        })
    }

    fn mark(&self, channel: &str, error: Option<String>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = st.channels.iter_mut().find(|c| c.name == channel) {
            c.failing = error.is_some();
            if error.is_some() {
                c.last_error = error;
            }
        }
    }

    /// Counts and dead letters from the store, for the pane.
    fn refresh_state(&self) -> Result<(), StoreError> {
        let (sent, failed, dead) = self.store.read(|c| {
            let sent: Vec<(String, i64)> = c
                .prepare("SELECT channel, sent FROM alert_sent")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let failed: Vec<(String, i64)> = c
                .prepare(
                    "SELECT channel, count(*) FROM alert_outbox WHERE dead = 1 GROUP BY channel",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let dead: Vec<(String, Vec<u8>, u32, Option<String>)> = c
                .prepare(
                    "SELECT channel, event, count, last_error FROM alert_outbox
                     WHERE dead = 1 ORDER BY id DESC LIMIT ?1",
                )?
                .query_map(params![super::alert::DEAD_LETTER_CAPACITY as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok((sent, failed, dead))
        })?;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for c in &mut st.channels {
            c.sent = sent
                .iter()
                .find(|(n, _)| *n == c.name)
                .map_or(0, |x| x.1 as u64);
            c.failed = failed
                .iter()
                .find(|(n, _)| *n == c.name)
                .map_or(0, |x| x.1 as u64);
        }
        st.dead = dead
            .into_iter()
            .rev()
            .filter_map(|(channel, body, count, error)| {
                Some(DeadLetter {
                    channel,
                    alert: Alert::new(serde_json::from_slice(&body).ok()?, count),
                    error: error.unwrap_or_default(),
                    at: SystemTime::now(),
                })
            })
            .collect();
        Ok(())
    }

    /// Passes until `stop` says so: within `every` of a new event (a look at
    /// the current month's log costs one `stat`), and at least once a
    /// second for retries and folds whose window closed.
    pub async fn run(self, every: Duration, stop: tokio::sync::watch::Receiver<bool>) {
        let mut stop = stop;
        let mut seen: Option<(u64, Option<SystemTime>)> = None;
        let mut last_pass: Option<tokio::time::Instant> = None;
        loop {
            let month = chrono::Utc::now().format("%Y-%m").to_string();
            let log = self.audit_dir.join(super::local::file_name(&month));
            let now_seen = std::fs::symlink_metadata(&log)
                .ok()
                .map(|m| (m.len(), m.modified().ok()));
            let due =
                now_seen != seen || last_pass.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if due {
                seen = now_seen;
                last_pass = Some(tokio::time::Instant::now());
                if let Err(e) = self.pass(Duration::from_secs(30)).await {
                    tracing::warn!(error = %e, "alert dispatch");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

fn enqueue(
    tx: &rusqlite::Transaction<'_>,
    channel: &str,
    event: &[u8],
    count: i64,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO alert_outbox (channel, event, count, next_ms) VALUES (?1, ?2, ?3, ?4)",
        params![channel, event, count, now],
    )?;
    Ok(())
}

/// Alerts waiting for delivery in the store of a data dir (dead letters not
/// counted); 0 before anything was ever owed.
pub fn owed(store: &Store) -> Result<usize, StoreError> {
    store.read(|c| {
        let exists: bool = c.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'alert_outbox'",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(0);
        }
        c.query_row(
            "SELECT count(*) FROM alert_outbox WHERE dead = 0",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as usize)
    })
}

/// The event id of the last whole line in `data`.
fn last_id_in(data: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    data.split(|&b| b == b'\n')
        .rev()
        .find(|l| !l.is_empty())
        .and_then(|l| serde_json::from_slice::<Id>(l).ok())
        .map(|i| i.id)
}

/// The event id of the line of `path` that ends at `offset`.
fn last_id_before(path: &Path, offset: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    if offset == 0 {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    let from = offset.saturating_sub(64 * 1024);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = vec![0u8; (offset - from) as usize];
    f.read_exact(&mut buf).ok()?;
    if buf.last() != Some(&b'\n') {
        return None;
    }
    last_id_in(&buf)
}

struct Chunk {
    data: Vec<u8>,
    more: bool,
}

/// Whole lines of `path` from `start`, at most about `max` bytes.
fn read_lines(path: &Path, start: u64, max: u64) -> std::io::Result<Chunk> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let len = f.metadata()?.len();
    if len <= start {
        return Ok(Chunk {
            data: Vec::new(),
            more: false,
        });
    }
    f.seek(SeekFrom::Start(start))?;
    let take = (len - start).min(max);
    let mut data = Vec::with_capacity(take as usize);
    (&mut f).take(take).read_to_end(&mut data)?;
    let whole = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let more = take < len - start && whole > 0;
    data.truncate(whole);
    Ok(Chunk { data, more })
}

/// For a process that runs for long (the console, the agent): becomes the
/// data dir's dispatcher as soon as no other process is, then delivers
/// every `every` until `stop` turns true. `on_change` hears whether this
/// process dispatches (true) or another one does (false).
pub async fn serve(
    store: Arc<Store>,
    data_dir: PathBuf,
    settings: AuditSettings,
    state: Arc<Mutex<AlertState>>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    on_change: impl Fn(Result<bool, String>),
) {
    let mut last: Option<Result<bool, String>> = None;
    loop {
        let now = match Dispatcher::try_new(store.clone(), &data_dir, &settings) {
            Ok(Some(d)) => {
                on_change(Ok(true));
                d.with_state(state.clone()).run(every, stop.clone()).await;
                return;
            }
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        if last.as_ref() != Some(&now) {
            on_change(now.clone());
            last = Some(now);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}
