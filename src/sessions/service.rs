//! [`Sessions`]: the session operations with their security events, over any
//! [`SessionStore`]; and the console's service task that owns it, polls the
//! store once a second into a [`Snapshot`] for the pane, runs revocations and
//! reports its health (`reconnecting` with back-off while Redis is down).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use super::backend::{
    self, Entry, Found, Refused, Result, SessionError, SessionStore, Unopened, now_ms,
};
use super::model::{
    Device, HijackAttempt, Lifetime, Listed, Session, SessionType, Validation, check_user,
};
use crate::audit::Audit;
use crate::service::{Health, HealthState, Level, ServiceEvent, activity, outcome};

pub const NAME: &str = "sessions";

/// Where the service reports (see [`crate::service::Sink`]).
pub type Events = crate::service::Sink<SessionsEvent>;

/// Session operations with their audit trail.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    audit: Audit,
    lifetime: Lifetime,
    ascii_user_ids: bool,
    /// The operator creating sessions through this handle (recorded as `by`).
    actor: Option<String>,
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, audit: Audit) -> Self {
        Self {
            store,
            audit,
            lifetime: Lifetime::default(),
            ascii_user_ids: false,
            actor: None,
        }
    }

    /// Records `operator` as `by` in the `session_created` events of this handle.
    pub fn with_actor(mut self, operator: &str) -> Self {
        self.actor = Some(operator.to_owned());
        self
    }

    /// Refuse new sessions for user ids that are not ASCII (`[sessions]
    /// ascii_user_ids`): no id can then pass for another.
    pub fn with_ascii_user_ids(mut self, on: bool) -> Self {
        self.ascii_user_ids = on;
        self
    }

    /// Sessions live this long without activity (default one hour).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.lifetime.idle_ms = ttl.as_millis() as i64;
        self
    }

    /// Sessions end this long after their creation, however active
    /// (default 12 hours; `[sessions] max_lifetime`).
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.lifetime.max_ms = i64::try_from(max.as_millis()).unwrap_or(i64::MAX);
        self
    }

    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    fn audit(&self, event: &str, user: Option<&str>, details: serde_json::Value) {
        if let Err(e) = self.audit.emit(event, user, details) {
            tracing::warn!(event, error = %e, "security event not recorded");
        }
    }

    /// Opens a session for `user` on `device`.
    pub async fn create(
        &self,
        user: &str,
        session_type: SessionType,
        device: &Device,
        permissions: Vec<String>,
    ) -> Result<Listed> {
        check_user(user).map_err(SessionError::Input)?;
        if self.ascii_user_ids && !user.is_ascii() {
            return Err(SessionError::Input(format!(
                "user id {user:?} is not ASCII ({}); [sessions] ascii_user_ids = true accepts \
                 letters, digits and . _ - @ of ASCII only",
                crate::display::code_points(user)
            )));
        }
        let now = now_ms();
        let s = Session::new(user, session_type, device, permissions, now);
        let expires_at = self
            .store
            .create(&s, self.lifetime.ttl_at(s.created_at, now))
            .await?;
        self.audit(
            "session_created",
            Some(user),
            json!({"session": short(&s.id), "type": session_type.as_str(), "ip": s.ip_address.to_string(), "by": self.actor}),
        );
        Ok(Listed {
            session: s,
            expires_at,
            hijack: None,
        })
    }

    /// Validates `id` presented by `device`. A fingerprint mismatch revokes
    /// the session and records a `session_hijack_attempt`.
    pub async fn validate(&self, id: &str, device: &Device) -> Result<Validation> {
        let attempt = HijackAttempt {
            at: now_ms(),
            ip_address: device.ip,
            user_agent: device.user_agent.clone(),
            fingerprint: device.fingerprint(),
        };
        let v = self.store.validate(id, &attempt, self.lifetime).await?;
        if let Validation::Hijack { session, attempt } = &v {
            self.audit(
                "session_hijack_attempt",
                Some(&session.user_id),
                json!({
                    "session": short(&session.id),
                    "expected_fingerprint": session.fingerprint.short(),
                    "presented_fingerprint": attempt.fingerprint.short(),
                    "session_ip": session.ip_address.to_string(),
                    "attempt_ip": attempt.ip_address.to_string(),
                    "attempt_user_agent": attempt.user_agent,
                    "action": "session revoked",
                }),
            );
        }
        Ok(v)
    }

    /// Every session (and hijack record), or one user's live sessions.
    /// The live session `id` names: the whole id, or a prefix of at least
    /// [`MIN_PREFIX`] characters that starts exactly one (as git does with
    /// commits). Several matches are all returned, for the caller to list.
    pub async fn resolve(&self, id: &str) -> Result<Resolved> {
        if super::model::is_valid_id(id) {
            return Ok(Resolved::One(id.to_string()));
        }
        let mut ids: Vec<String> = self
            .store
            .entries()
            .await?
            .into_iter()
            .filter(|e| !e.hijack && e.id.starts_with(id))
            .map(|e| e.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(match ids.len() {
            0 => Resolved::None,
            1 => Resolved::One(ids.remove(0)),
            _ => Resolved::Many(ids),
        })
    }

    pub async fn list(&self, user: Option<&str>) -> Result<Vec<Listed>> {
        Ok(self.read(user).await?.listed)
    }

    /// [`Sessions::list`], with the records that did not open.
    pub async fn read(&self, user: Option<&str>) -> Result<Found> {
        match user {
            Some(u) => {
                check_user(u).map_err(SessionError::Input)?;
                self.store.user_sessions(u).await
            }
            None => backend::list_all(self.store.as_ref()).await,
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Listed>> {
        Ok(self.find(id).await?.listed.pop())
    }

    /// The session or hijack record `id` names, or why it does not open
    /// (see [`backend::get`]).
    pub async fn find(&self, id: &str) -> Result<Found> {
        backend::get(self.store.as_ref(), id).await
    }

    /// The stored records the store refused to open since the last call
    /// (another session's envelope copied under an id, or one that does not
    /// open), recorded as one `session_envelope_refused` event.
    pub fn report_refused(&self) -> Vec<Refused> {
        let refused = self.store.refusals().take_new();
        if !refused.is_empty() {
            self.audit(
                "session_envelope_refused",
                None,
                json!({
                    "count": refused.len(),
                    "records": refused
                        .iter()
                        .map(|r| json!({
                            "session": short(&r.id),
                            "hijack_record": r.hijack_record,
                            "reason": r.reason.as_str(),
                        }))
                        .collect::<Vec<_>>(),
                    "store": self.store.target(),
                }),
            );
        }
        refused
    }

    /// Revokes one session on behalf of operator `by`.
    pub async fn revoke(&self, id: &str, by: &str) -> Result<Option<Session>> {
        let removed = self.store.revoke(id).await?;
        if let Some(s) = &removed {
            self.audit(
                "session_revoked",
                Some(&s.user_id),
                json!({"session": short(id), "by": by}),
            );
        }
        Ok(removed)
    }

    /// Revokes every session of `user` on behalf of operator `by`.
    pub async fn revoke_user(&self, user: &str, by: &str) -> Result<Vec<String>> {
        check_user(user).map_err(SessionError::Input)?;
        let ids = self.store.revoke_user(user).await?;
        self.audit(
            "sessions_revoked_user",
            Some(user),
            json!({"count": ids.len(), "by": by}),
        );
        Ok(ids)
    }
}

/// What refused records mean, for people (short ids only).
pub fn refused_text(refused: &[Refused]) -> String {
    let ids: Vec<String> = refused
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                crate::display::Untrusted(short(&r.id)),
                r.reason.as_str()
            )
        })
        .collect();
    format!(
        "{} stored session record(s) refused, not taken for the session they are stored \
         under (another session's envelope copied there, another master key, or tampering): {}",
        refused.len(),
        ids.join(", ")
    )
}

/// The first 8 characters of an id: enough to find it, useless to replay.
/// The shortest id prefix the CLI takes (`sessions show 3f9a2c`).
pub const MIN_PREFIX: usize = 6;

/// What a session id or prefix names (see [`Sessions::resolve`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    None,
    One(String),
    Many(Vec<String>),
}

pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

// ------------------------------------------------------------------ task

/// What the pane shows: every session and hijack record, as of `at`.
#[derive(Default)]
pub struct Snapshot {
    pub rows: Vec<Arc<Listed>>,
    /// The stored records that did not open (by id), which `rows` lacks.
    pub unopened: Vec<Unopened>,
    /// Unix ms of the poll.
    pub at: i64,
    /// Changes whenever `rows` does.
    pub generation: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("rows", &self.rows.len())
            .field("unopened", &self.unopened.len())
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Debug)]
pub enum SessionsRequest {
    /// Poll now.
    Refresh,
    Revoke {
        id: String,
        by: String,
    },
    RevokeUser {
        user: String,
        by: String,
    },
}

#[derive(Clone, Debug)]
pub enum SessionsEvent {
    Snapshot(Arc<Snapshot>),
}

#[derive(Clone)]
pub struct SessionsHandle {
    tx: mpsc::Sender<SessionsRequest>,
}

impl SessionsHandle {
    /// Queues a request; false when the service is gone or saturated.
    pub fn try_send(&self, req: SessionsRequest) -> bool {
        self.tx.try_send(req).is_ok()
    }
}

impl crate::service::DomainRequestKind for SessionsRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            SessionsRequest::Refresh => None,
            SessionsRequest::Revoke { .. } => Some("sessions.revoke"),
            SessionsRequest::RevokeUser { .. } => Some("sessions.revoke_user"),
        }
    }
}

impl crate::service::Handle for SessionsHandle {
    fn domain(&self) -> &'static str {
        NAME
    }
    /// Revocations are recorded as done by the acting operator.
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        let Ok((actor, mut r)) = req.take::<SessionsRequest>() else {
            return false;
        };
        if let SessionsRequest::Revoke { by, .. } | SessionsRequest::RevokeUser { by, .. } = &mut r
        {
            *by = actor.unwrap_or_default();
        }
        self.try_send(r)
    }
    fn probe(&self) {
        self.try_send(SessionsRequest::Refresh);
    }
}

/// How often the store is polled while it is healthy.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Starts the console's sessions service (inside the runtime): Redis when
/// `redis_url` is given (with the TLS files of `redis_tls`), else the
/// embedded store; in demo mode, with the demo population.
pub fn start_console(
    store: Arc<crate::store::Store>,
    keys: Arc<crate::crypto::Keyring>,
    audit: Audit,
    redis_url: Option<&str>,
    redis_tls: &super::settings::RedisTls,
    demo: bool,
    events: Events,
) -> anyhow::Result<SessionsHandle> {
    let backend: Arc<dyn SessionStore> = match redis_url {
        Some(url) => Arc::new(backend::RedisStore::connect_with_tls(url, redis_tls, keys)?),
        None => Arc::new(backend::LocalStore::open(store, keys)?),
    };
    let sessions = Sessions::new(backend, audit);
    if demo {
        super::demo::spawn(sessions.clone(), (*events).clone());
    }
    Ok(spawn(sessions, events))
}

/// The sessions domain's part of a console: its service on Redis (the
/// configured URL) or the embedded store, and its pane.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let redis_url = ctx.redis_url.filter(|_| !ctx.demo);
    let redis_tls = super::settings::RedisTls::checked(ctx.config, redis_url)
        .map_err(crate::cli::CliError::Usage)?;
    let (tx, rx) = ctx.wake.channel();
    let handle = start_console(
        ctx.store.clone(),
        ctx.keyring.clone(),
        ctx.audit.clone(),
        redis_url,
        &redis_tls,
        ctx.demo,
        Events::new(ctx.events.clone(), tx),
    )?;
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::SessionsPane::new(rx))),
        handle: Some(Arc::new(handle)),
    })
}

pub fn spawn(sessions: Sessions, events: Events) -> SessionsHandle {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(sessions, events, rx));
    SessionsHandle { tx }
}

/// The poller's memory: what was fetched, keyed by (id, hijack record).
///
/// The first poll lists everything. After that, where the backend logs its
/// changes (Redis), a poll reads the ids changed since the last one and
/// fetches only those; expired rows are dropped by their known expiry; and
/// everything is listed again every [`FULL_EVERY`] (changes made around the
/// scripts) or when the log does not reach back. Elsewhere every poll lists
/// the entries and fetches the new or refreshed ones.
#[derive(Default)]
pub struct Poller {
    cache: HashMap<(String, bool), Arc<Listed>>,
    /// The records that did not open, by the same key.
    unopened: HashMap<(String, bool), Unopened>,
    snapshot: Arc<Snapshot>,
    cursor: Option<String>,
    full_at: Option<std::time::Instant>,
}

/// How often everything is listed again even when the change log is intact.
pub const FULL_EVERY: Duration = Duration::from_secs(60);

impl Poller {
    /// Brings the cache up to date; returns the snapshot.
    pub async fn poll(&mut self, store: &dyn SessionStore) -> Result<Arc<Snapshot>> {
        let due = self.full_at.is_none_or(|t| t.elapsed() >= FULL_EVERY);
        let changed = match (&self.cursor, due) {
            (Some(cursor), false) => match store.changes_since(cursor).await? {
                Some((next, ids)) => {
                    self.cursor = Some(next);
                    self.apply_changes(store, ids).await?
                }
                None => self.full(store).await?,
            },
            _ => self.full(store).await?,
        };
        let now = now_ms();
        let before = self.cache.len();
        self.cache.retain(|_, l| l.expires_at > now);
        let changed = changed || self.cache.len() != before;
        if changed || self.snapshot.generation == 0 {
            let mut unopened: Vec<Unopened> = self.unopened.values().cloned().collect();
            unopened.sort_by(|a, b| (&a.id, a.hijack_record).cmp(&(&b.id, b.hijack_record)));
            self.snapshot = Arc::new(Snapshot {
                rows: self.cache.values().cloned().collect(),
                unopened,
                at: now,
                generation: self.snapshot.generation + 1,
            });
        }
        Ok(self.snapshot.clone())
    }

    /// Lists everything. Returns whether anything changed.
    async fn full(&mut self, store: &dyn SessionStore) -> Result<bool> {
        // The cursor is taken first, so no change made during the listing is missed.
        let cursor = store.change_cursor().await?;
        let changed = if cursor.is_some() || self.cache.is_empty() {
            let all = store.list_all().await?;
            let mut fresh = HashMap::with_capacity(all.listed.len());
            for l in all.listed {
                fresh.insert((l.session.id.clone(), l.hijack.is_some()), Arc::new(l));
            }
            let unopened = keyed(all.unopened);
            let same = fresh.len() == self.cache.len()
                && fresh
                    .iter()
                    .all(|(k, v)| self.cache.get(k).is_some_and(|c| c.session == v.session))
                && unopened == self.unopened;
            self.cache = fresh;
            self.unopened = unopened;
            !same
        } else {
            self.incremental(store).await?
        };
        self.cursor = cursor;
        self.full_at = Some(std::time::Instant::now());
        Ok(changed)
    }

    /// Lists the entries and fetches the new or refreshed ones.
    async fn incremental(&mut self, store: &dyn SessionStore) -> Result<bool> {
        let entries = store.entries().await?;
        let mut seen = HashMap::with_capacity(entries.len());
        let mut wanted: Vec<Entry> = Vec::new();
        for e in entries {
            let key = (e.id.clone(), e.hijack);
            let stale = self
                .cache
                .get(&key)
                .is_none_or(|c| (e.expires_at - c.expires_at).abs() > 500);
            if stale {
                wanted.push(e.clone());
            }
            seen.insert(key, e.expires_at);
        }
        let before = self.cache.len();
        self.cache.retain(|k, _| seen.contains_key(k));
        let mut changed = self.cache.len() != before;
        let unopened_before = self.unopened.clone();
        self.unopened.retain(|k, _| seen.contains_key(k));
        if !wanted.is_empty() {
            let found = store.fetch(&wanted).await?;
            for e in &wanted {
                self.unopened.remove(&(e.id.clone(), e.hijack));
            }
            self.unopened.extend(keyed(found.unopened));
            for l in found.listed {
                let key = (l.session.id.clone(), l.hijack.is_some());
                self.cache.insert(key, Arc::new(l));
                changed = true;
            }
        }
        Ok(changed || self.unopened != unopened_before)
    }

    /// Re-reads the sessions (and hijack records) of the changed ids.
    async fn apply_changes(&mut self, store: &dyn SessionStore, ids: Vec<String>) -> Result<bool> {
        if ids.is_empty() {
            return Ok(false);
        }
        let mut unique: Vec<String> = ids;
        unique.sort_unstable();
        unique.dedup();
        let wanted: Vec<Entry> = unique
            .iter()
            .flat_map(|id| {
                [false, true].map(|hijack| Entry {
                    id: id.clone(),
                    hijack,
                    expires_at: 0,
                })
            })
            .collect();
        for e in &wanted {
            self.cache.remove(&(e.id.clone(), e.hijack));
            self.unopened.remove(&(e.id.clone(), e.hijack));
        }
        let found = store.fetch(&wanted).await?;
        self.unopened.extend(keyed(found.unopened));
        for l in found.listed {
            self.cache
                .insert((l.session.id.clone(), l.hijack.is_some()), Arc::new(l));
        }
        Ok(true)
    }
}

/// Unopened records by (id, hijack record), as the poller keys its cache.
fn keyed(unopened: Vec<Unopened>) -> HashMap<(String, bool), Unopened> {
    unopened
        .into_iter()
        .map(|u| ((u.id.clone(), u.hijack_record), u))
        .collect()
}

/// Sends what changed, so an idle console does not redraw: health when its
/// state or error changes (the round trip at most every [`HEALTH_EVERY`]),
/// figures when they change, snapshots when the rows change or while there
/// are rows (their TTL countdown moves).
#[derive(Default)]
struct Reporter {
    health: Option<(HealthState, Option<String>, std::time::Instant)>,
    figures: HashMap<&'static str, String>,
    generation: u64,
}

/// How often an unchanged health is sent again (for its round-trip time).
pub const HEALTH_EVERY: Duration = Duration::from_secs(30);

impl Reporter {
    async fn health(
        &mut self,
        events: &Events,
        store: &dyn SessionStore,
        state: HealthState,
        rtt: Option<Duration>,
        last_error: Option<String>,
    ) {
        let due = match &self.health {
            Some((s, e, at)) => *s != state || *e != last_error || at.elapsed() >= HEALTH_EVERY,
            None => true,
        };
        if due {
            self.health = Some((state, last_error.clone(), std::time::Instant::now()));
            send_health(events, store, state, rtt, last_error).await;
        }
    }

    async fn figure(&mut self, events: &Events, label: &'static str, value: String) {
        if self.figures.get(label) != Some(&value) {
            self.figures.insert(label, value.clone());
            let _ = events
                .send(ServiceEvent::Figure {
                    service: NAME,
                    label,
                    value,
                })
                .await;
        }
    }

    async fn snapshot(&mut self, events: &Events, snap: Arc<Snapshot>) {
        if snap.generation != self.generation || !snap.rows.is_empty() {
            self.generation = snap.generation;
            let _ = events.emit(SessionsEvent::Snapshot(snap)).await;
        }
    }
}

async fn run(sessions: Sessions, events: Events, mut rx: mpsc::Receiver<SessionsRequest>) {
    let store = sessions.store().clone();
    let mut poller = Poller::default();
    let mut report = Reporter::default();
    let mut state = HealthState::Starting;
    let mut last_error: Option<String> = None;
    let mut backoff = POLL_EVERY;
    let mut next = tokio::time::Instant::now();
    loop {
        let req = tokio::select! {
            _ = tokio::time::sleep_until(next) => None,
            req = rx.recv() => match req {
                Some(r) => Some(r),
                None => break,
            },
        };
        match req {
            None | Some(SessionsRequest::Refresh) => {}
            Some(SessionsRequest::Revoke { id, by }) => {
                let (level, msg) = revoke_outcome(&id, sessions.revoke(&id, &by).await);
                outcome(&events, NAME, level, msg).await;
            }
            Some(SessionsRequest::RevokeUser { user, by }) => {
                let (level, msg) =
                    revoke_user_outcome(&user, sessions.revoke_user(&user, &by).await);
                outcome(&events, NAME, level, msg).await;
            }
        }
        // Poll (after any request too, so its effect shows at once).
        let started = std::time::Instant::now();
        let polled = match store.ping().await {
            Ok(rtt) => poller.poll(store.as_ref()).await.map(|s| (rtt, s)),
            Err(e) => Err(e),
        };
        match polled {
            Ok((rtt, snap)) => {
                if state != HealthState::Connected {
                    if state == HealthState::Reconnecting {
                        activity(&events, NAME, Level::Info, "session store reachable again").await;
                    }
                    state = HealthState::Connected;
                    last_error = None;
                }
                backoff = POLL_EVERY;
                next = tokio::time::Instant::now() + POLL_EVERY;
                let hijacks = snap.rows.iter().filter(|r| r.hijack.is_some()).count();
                report
                    .health(&events, store.as_ref(), state, Some(rtt), None)
                    .await;
                report
                    .figure(&events, "sessions", (snap.rows.len() - hijacks).to_string())
                    .await;
                report.figure(&events, "hijacks", hijacks.to_string()).await;
                report.snapshot(&events, snap).await;
                let refused = sessions.report_refused();
                if !refused.is_empty() {
                    let msg = refused_text(&refused);
                    activity(&events, NAME, Level::Warn, msg).await;
                }
                tracing::trace!(took = ?started.elapsed(), "sessions polled");
            }
            Err(e) => {
                let text = e.to_string();
                if state != HealthState::Reconnecting || last_error.as_ref() != Some(&text) {
                    activity(&events, NAME, Level::Warn, format!("session store: {text}")).await;
                }
                state = if e.is_unavailable() {
                    HealthState::Reconnecting
                } else {
                    HealthState::Degraded
                };
                last_error = Some(text.clone());
                report
                    .health(&events, store.as_ref(), state, None, Some(text))
                    .await;
                next = tokio::time::Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Why nothing was done, for the status line: an unreachable store is named
/// as such.
fn nothing_done(what: &str, e: &SessionError) -> String {
    match e {
        SessionError::Unavailable { target, message } => format!(
            "nothing was done: session store unreachable ({target}: {message}); it reconnects by itself, try again shortly"
        ),
        e => format!("nothing was done: {what} failed: {e}"),
    }
}

/// What revoking session `id` did, as the status line says it.
pub fn revoke_outcome(id: &str, res: Result<Option<Session>>) -> (Level, String) {
    match res {
        Ok(Some(s)) => (
            Level::Info,
            format!("revoked session {} of {}", short(id), s.user_id),
        ),
        Ok(None) => (
            Level::Warn,
            format!(
                "nothing was done: session {} is no longer live (expired, revoked, or a hijack record now cleared)",
                short(id)
            ),
        ),
        Err(e) => (
            Level::Error,
            nothing_done(&format!("revoking session {}", short(id)), &e),
        ),
    }
}

/// What revoking every session of `user` did, as the status line says it.
pub fn revoke_user_outcome(user: &str, res: Result<Vec<String>>) -> (Level, String) {
    match res {
        Ok(ids) if ids.is_empty() => (
            Level::Warn,
            format!("nothing was done: {user} has no live session"),
        ),
        Ok(ids) => (
            Level::Info,
            format!(
                "revoked {} session{} of {user}",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" }
            ),
        ),
        Err(e) => (
            Level::Error,
            nothing_done(&format!("revoking the sessions of {user}"), &e),
        ),
    }
}

async fn send_health(
    events: &Events,
    store: &dyn SessionStore,
    state: HealthState,
    rtt: Option<Duration>,
    last_error: Option<String>,
) {
    let _ = events
        .send(ServiceEvent::Health {
            service: NAME,
            health: Health {
                state,
                backend: store.backend(),
                target: store.target(),
                rtt,
                last_error,
            },
        })
        .await;
}
