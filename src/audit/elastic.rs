//! Elasticsearch: the client (index template, `_bulk`, `search_after` reads)
//! and the sink, which writes every event to a disk spool first and ships the
//! spool in order in batches (1,000 events or 1 s), retrying with back-off.
//! The event id is the document id, so a batch sent twice is stored once.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use elasticsearch::auth::Credentials;
use elasticsearch::http::Url;
use elasticsearch::http::request::JsonBody;
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::indices::IndicesPutIndexTemplateParts;
use elasticsearch::{BulkParts, Elasticsearch, SearchParts};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::settings::EsSettings;
use super::spool::Spool;
use super::tail::TailFilter;
use super::{AuditError, AuditSink, SecurityEvent, Severity};
use crate::service::{Backend, EventTx, Health, HealthState, ServiceEvent};

/// Index name prefix; the month (`YYYY-MM`) follows.
pub const INDEX_PREFIX: &str = "windflow-security-";
pub const TEMPLATE_NAME: &str = "windflow-security";
/// Flush a batch at this many events...
pub const BATCH_MAX: usize = 1000;
/// ...or this long after the oldest unsent event.
pub const BATCH_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("Elasticsearch at {url} is unreachable: {message}")]
    Unreachable { url: String, message: String },
    #[error("Elasticsearch at {url} answered {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("Elasticsearch at {url}: authentication failed ({status}): {message}; {hint}")]
    Auth {
        url: String,
        status: u16,
        message: String,
        /// What to check, by the kind of credentials sent.
        hint: &'static str,
    },
    #[error("bad Elasticsearch settings: {0}")]
    Config(String),
}

impl EsError {
    /// What went wrong in a few words (`unreachable: Connection refused (os
    /// error 111)`, `answered 503`, `authentication failed (401)`), for a
    /// title or a label.
    pub fn short(&self) -> String {
        match self {
            EsError::Unreachable { message, .. } => {
                format!(
                    "unreachable: {}",
                    message.rsplit(": ").next().unwrap_or(message)
                )
            }
            EsError::Status { status, .. } => format!("answered {status}"),
            EsError::Auth { status, .. } => format!("authentication failed ({status})"),
            EsError::Config(m) => m.clone(),
        }
    }
}

/// The index of an event: `windflow-security-YYYY-MM` by its month.
pub fn index_for(ev: &SecurityEvent) -> String {
    format!("{INDEX_PREFIX}{}", ev.month())
}

/// The index template: explicit mappings for every field.
pub fn template() -> Value {
    json!({
        "index_patterns": [format!("{INDEX_PREFIX}*")],
        "template": {
            "settings": { "number_of_shards": 1 },
            "mappings": {
                "dynamic": false,
                "properties": {
                    "id": { "type": "keyword" },
                    "timestamp": { "type": "date" },
                    "event_type": { "type": "keyword" },
                    "user_id": { "type": "keyword" },
                    "ip_address": { "type": "keyword" },
                    "user_agent": { "type": "keyword" },
                    "session_id": { "type": "keyword" },
                    "severity": { "type": "keyword" },
                    "tags": { "type": "keyword" },
                    "details": { "type": "object", "enabled": false }
                }
            }
        }
    })
}

/// `%XX` escapes decoded (what a URL's user name and password hold).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// One page of a search: the matching events, and the sort key to continue after.
#[derive(Debug, Default)]
pub struct SearchPage {
    pub events: Vec<SecurityEvent>,
    /// Hits read (matching the free text or not).
    pub hits: usize,
    pub last_sort: Option<Value>,
    /// The first hit's sort key.
    pub first_sort: Option<Value>,
}

/// A connection to Elasticsearch.
#[derive(Clone)]
pub struct EsClient {
    client: Elasticsearch,
    shown: String,
    auth_hint: &'static str,
}

impl std::fmt::Debug for EsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsClient")
            .field("url", &self.shown)
            .finish()
    }
}

impl EsClient {
    pub fn new(s: &EsSettings) -> Result<Self, EsError> {
        let mut url = Url::parse(&s.url)
            .map_err(|e| EsError::Config(format!("ELASTICSEARCH_URL {}: {e}", s.shown())))?;
        // Credentials in the URL become basic auth.
        let mut user = s.username.clone();
        let mut pass = s.password().map(str::to_owned);
        if !url.username().is_empty() {
            // The URL keeps them percent-encoded (`p%40ss` for `p@ss`).
            user = Some(percent_decode(url.username()));
            pass = url.password().map(percent_decode);
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        let mut tb = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .timeout(Duration::from_secs(10))
            .disable_proxy();
        let auth_hint;
        if let Some(key) = &s.api_key {
            use secrecy::ExposeSecret;
            tb = tb.auth(Credentials::EncodedApiKey(key.expose_secret().to_owned()));
            auth_hint = "check ELASTICSEARCH_API_KEY";
        } else if let Some(u) = user {
            tb = tb.auth(Credentials::Basic(u, pass.unwrap_or_default()));
            auth_hint = "check the user name and password (in ELASTICSEARCH_URL or ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD)";
        } else {
            auth_hint = "the server wants credentials: set ELASTICSEARCH_API_KEY, or ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD";
        }
        let transport = tb
            .build()
            .map_err(|e| EsError::Config(format!("{}: {e}", s.shown())))?;
        Ok(Self {
            client: Elasticsearch::new(transport),
            shown: s.shown(),
            auth_hint,
        })
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> EsError {
        EsError::Unreachable {
            url: self.shown.clone(),
            message: e.to_string(),
        }
    }

    /// Unreachable, saying why: the root cause (`Connection refused (os
    /// error 111)`), which the client's own message ("error sending request
    /// for url ...") leaves out.
    fn unreachable_by(&self, e: elasticsearch::Error) -> EsError {
        let mut root: &dyn std::error::Error = &e;
        while let Some(next) = root.source() {
            root = next;
        }
        self.unreachable(root)
    }

    async fn check(&self, resp: elasticsearch::http::response::Response) -> Result<Value, EsError> {
        let status = resp.status_code().as_u16();
        let text = resp.text().await.map_err(|e| self.unreachable_by(e))?;
        let body: Result<Value, _> = serde_json::from_str(&text);
        if status >= 300 {
            let message = match &body {
                Ok(v) => v
                    .pointer("/error/reason")
                    .and_then(Value::as_str)
                    .map_or_else(|| v.to_string(), str::to_owned),
                Err(_) => text.trim().chars().take(200).collect(),
            };
            let url = self.shown.clone();
            return Err(if status == 401 {
                EsError::Auth {
                    url,
                    status,
                    message,
                    hint: self.auth_hint,
                }
            } else if status == 403 {
                EsError::Status {
                    url,
                    status,
                    message: format!(
                        "not allowed (these credentials lack the privilege): {message}"
                    ),
                }
            } else {
                EsError::Status {
                    url,
                    status,
                    message,
                }
            });
        }
        body.map_err(|e| self.unreachable(format!("the answer is not JSON: {e}")))
    }

    /// Creates or updates the index template.
    pub async fn put_template(&self) -> Result<(), EsError> {
        let resp = self
            .client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(TEMPLATE_NAME))
            .body(template())
            .send()
            .await
            .map_err(|e| self.unreachable_by(e))?;
        self.check(resp).await.map(|_| ())
    }

    /// Indexes `events` with one `_bulk` request; the event id is the document id.
    pub async fn bulk(&self, events: &[SecurityEvent]) -> Result<(), EsError> {
        let mut body: Vec<JsonBody<Value>> = Vec::with_capacity(events.len() * 2);
        for ev in events {
            body.push(json!({"index": {"_index": index_for(ev), "_id": ev.id}}).into());
            body.push(serde_json::to_value(ev).unwrap_or(Value::Null).into());
        }
        let resp = self
            .client
            .bulk(BulkParts::None)
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable_by(e))?;
        let v = self.check(resp).await?;
        if v["errors"].as_bool() == Some(true) {
            let first = v["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_object()?.values().next())
                .find(|r| r["status"].as_u64().unwrap_or(0) >= 300);
            if let Some(r) = first {
                return Err(EsError::Status {
                    url: self.shown.clone(),
                    status: r["status"].as_u64().unwrap_or(0) as u16,
                    message: r["error"].to_string(),
                });
            }
        }
        Ok(())
    }

    /// Up to `size` events matching `filter`, oldest first, after the sort key
    /// `after` (`[timestamp millis, id]`).
    pub async fn search(
        &self,
        filter: &TailFilter,
        now_ms: i64,
        after: Option<&Value>,
        size: usize,
    ) -> Result<SearchPage, EsError> {
        self.query(filter, now_ms, after, size, "asc").await
    }

    /// The newest `size` events matching `filter` (free text aside), oldest
    /// first; `last_sort` is the newest one's key, to continue with [`EsClient::search`].
    pub async fn latest(
        &self,
        filter: &TailFilter,
        now_ms: i64,
        size: usize,
    ) -> Result<SearchPage, EsError> {
        let mut page = self.query(filter, now_ms, None, size, "desc").await?;
        page.events.reverse();
        page.last_sort = page.first_sort.take();
        Ok(page)
    }

    async fn query(
        &self,
        filter: &TailFilter,
        now_ms: i64,
        after: Option<&Value>,
        size: usize,
        order: &str,
    ) -> Result<SearchPage, EsError> {
        let mut must = Vec::new();
        if let Some(s) = filter.severity {
            let allowed: Vec<&str> = [
                Severity::Low,
                Severity::Medium,
                Severity::High,
                Severity::Critical,
            ]
            .into_iter()
            .filter(|x| *x >= s)
            .map(Severity::as_str)
            .collect();
            must.push(json!({"terms": {"severity": allowed}}));
        }
        if let Some(t) = &filter.event_type {
            must.push(json!({"term": {"event_type": t}}));
        }
        if let Some(tag) = &filter.tag {
            must.push(json!({"terms": {"event_type": super::event::types_tagged(tag)}}));
        }
        if let Some(u) = &filter.user {
            must.push(json!({"term": {"user_id": u}}));
        }
        if let Some(id) = &filter.id {
            must.push(json!({"term": {"id": id}}));
        }
        if let Some(w) = filter.window {
            must.push(json!({"range": {"timestamp": {"gte": now_ms - w.as_millis() as i64}}}));
        }
        let mut body = json!({
            "size": size,
            "query": {"bool": {"filter": must}},
            "sort": [{"timestamp": order}, {"id": order}],
        });
        if let Some(a) = after {
            body["search_after"] = a.clone();
        }
        let index = format!("{INDEX_PREFIX}*");
        let resp = self
            .client
            .search(SearchParts::Index(&[&index]))
            .allow_no_indices(true)
            .ignore_unavailable(true)
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable_by(e))?;
        let v = self.check(resp).await?;
        let mut page = SearchPage::default();
        for hit in v["hits"]["hits"].as_array().into_iter().flatten() {
            page.hits += 1;
            let Ok(ev) = serde_json::from_value::<SecurityEvent>(hit["_source"].clone()) else {
                continue;
            };
            page.last_sort = Some(hit.get("sort").cloned().unwrap_or_else(|| {
                json!([super::tail::timestamp_ms(&ev.timestamp).unwrap_or(0), ev.id])
            }));
            if page.first_sort.is_none() {
                page.first_sort.clone_from(&page.last_sort);
            }
            // Free text is matched here (details are not indexed).
            if filter.text.is_none() || filter.matches(&ev, now_ms) {
                page.events.push(ev);
            }
        }
        Ok(page)
    }

    /// Count of documents in every windflow-security index.
    pub async fn count(&self) -> Result<u64, EsError> {
        let index = format!("{INDEX_PREFIX}*");
        let resp = self
            .client
            .count(elasticsearch::CountParts::Index(&[&index]))
            .send()
            .await
            .map_err(|e| self.unreachable_by(e))?;
        let v = self.check(resp).await?;
        Ok(v["count"].as_u64().unwrap_or(0))
    }
}

/// What the shipper has done (for the pane, the CLI and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShipStats {
    pub sent: u64,
    pub pending: u64,
    pub batches: u64,
    pub failures: u64,
    pub connected: bool,
    pub last_error: Option<String>,
    /// The last failure was Elasticsearch refusing the credentials (retrying
    /// will not help until they change).
    pub auth_failed: bool,
}

/// The Elasticsearch sink: [`AuditSink::record`] appends to the spool (so an
/// event is on disk before `emit` returns) and wakes the shipper task.
pub struct EsSink {
    spool: Arc<Spool>,
    wake: Arc<Notify>,
    stats: Arc<Mutex<ShipStats>>,
    events: Arc<OnceLock<EventTx>>,
}

impl std::fmt::Debug for EsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsSink").finish_non_exhaustive()
    }
}

impl AuditSink for EsSink {
    fn record(&self, ev: &SecurityEvent) -> Result<(), AuditError> {
        let pending = self.spool.append(ev)?;
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).pending = pending;
        if pending >= BATCH_MAX as u64 {
            self.wake.notify_one();
        }
        Ok(())
    }
}

impl EsSink {
    /// The sink over `spool`, and the shipper future to spawn on a tokio runtime.
    pub fn new(
        client: EsClient,
        spool: Spool,
        events: Option<EventTx>,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let spool = Arc::new(spool);
        let wake = Arc::new(Notify::new());
        let stats = Arc::new(Mutex::new(ShipStats::default()));
        let cell = Arc::new(OnceLock::new());
        if let Some(tx) = events {
            let _ = cell.set(tx);
        }
        let shipper = ship(
            client,
            spool.clone(),
            wake.clone(),
            stats.clone(),
            cell.clone(),
        );
        (
            Self {
                spool,
                wake,
                stats,
                events: cell,
            },
            shipper,
        )
    }

    /// Sends the shipper's health and counts to the console from now on
    /// (when it was built before the console's channel existed).
    pub fn report_to(&self, tx: EventTx) {
        let _ = self.events.set(tx);
    }

    pub fn stats(&self) -> ShipStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Events in the spool not shipped yet (exact: reads the spool).
    pub fn pending(&self) -> u64 {
        self.spool.pending().unwrap_or(0)
    }

    /// Wakes the shipper now (e.g. before exiting).
    pub fn flush(&self) {
        self.wake.notify_one();
    }
}

/// Back-off between retries: 100 ms doubling to 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(10))
}

async fn ship(
    client: EsClient,
    spool: Arc<Spool>,
    wake: Arc<Notify>,
    stats: Arc<Mutex<ShipStats>>,
    events: Arc<OnceLock<EventTx>>,
) {
    let mut template_ok = false;
    let mut attempt = 0u32;
    let mut last_health: Option<HealthState> = None;
    let report = |state: HealthState, err: Option<String>, rtt: Option<Duration>| {
        let events = events.get().cloned();
        let target = client.shown().to_owned();
        async move {
            if let Some(tx) = events {
                let _ = tx
                    .send(ServiceEvent::Health {
                        service: "audit-es",
                        health: Health {
                            state,
                            backend: Backend::Real(target.clone()),
                            target,
                            rtt,
                            last_error: err,
                        },
                    })
                    .await;
            }
        }
    };
    loop {
        // Wait for a full batch or the batch window.
        let _ = tokio::time::timeout(BATCH_WAIT, wake.notified()).await;
        loop {
            if !template_ok {
                match client.put_template().await {
                    Ok(()) => template_ok = true,
                    Err(e) => {
                        fail(&stats, &e, &mut attempt);
                        if last_health != Some(HealthState::Reconnecting) {
                            last_health = Some(HealthState::Reconnecting);
                            report(HealthState::Reconnecting, Some(e.to_string()), None).await;
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                        break;
                    }
                }
            }
            let batch = match spool.peek(BATCH_MAX) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "reading the audit spool failed");
                    break;
                }
            };
            if batch.events.is_empty() {
                stats.lock().unwrap_or_else(|p| p.into_inner()).pending = 0;
                break;
            }
            let start = Instant::now();
            match client.bulk(&batch.events).await {
                Ok(()) => {
                    if let Err(e) = spool.commit(&batch) {
                        tracing::error!(error = %e, "committing the audit spool failed");
                    }
                    attempt = 0;
                    {
                        let pending = spool.pending().unwrap_or(0);
                        let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
                        s.sent += batch.events.len() as u64;
                        s.batches += 1;
                        s.connected = true;
                        s.auth_failed = false;
                        s.pending = pending;
                    }
                    if let Some(tx) = events.get() {
                        let _ = tx.try_send(ServiceEvent::Processed {
                            service: "audit-es",
                            count: batch.events.len() as u64,
                        });
                    }
                    if last_health != Some(HealthState::Connected) {
                        last_health = Some(HealthState::Connected);
                        report(HealthState::Connected, None, Some(start.elapsed())).await;
                    }
                }
                Err(e) => {
                    fail(&stats, &e, &mut attempt);
                    if last_health != Some(HealthState::Reconnecting) {
                        last_health = Some(HealthState::Reconnecting);
                        report(HealthState::Reconnecting, Some(e.to_string()), None).await;
                    }
                    // A restarted server may have lost the template.
                    template_ok = false;
                    tokio::time::sleep(backoff(attempt)).await;
                    break;
                }
            }
        }
    }
}

fn fail(stats: &Mutex<ShipStats>, e: &EsError, attempt: &mut u32) {
    *attempt = attempt.saturating_add(1);
    let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
    s.failures += 1;
    s.connected = false;
    s.last_error = Some(e.to_string());
    s.auth_failed = matches!(e, EsError::Auth { .. });
}
