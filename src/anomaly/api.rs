//! Features of API usage, taken from the audit stream, for the API
//! detector; and the words that say why a window scored high.
//!
//! An API request is an `api_request` event: the caller is its user, and
//! its details name `method`, `endpoint`, `status` (the HTTP status) and
//! `bytes` (the response size), e.g. as recorded by a gateway with
//! `windflow audit log --type api_request --user bob --details
//! '{"method":"GET","endpoint":"/v1/orders","status":200,"bytes":5120}'`.
//!
//! Requests are counted per user and 5-minute window (aligned on the clock:
//! 10:00, 10:05, ... UTC). A window's features, in this order:
//!
//! | # | feature | value |
//! |---|---|---|
//! | 0 | `rate` | `log2(1 + requests per minute)` |
//! | 1 | `endpoints` | `log2(1 + distinct endpoints)` (an endpoint is method and path) |
//! | 2 | `error_ratio` | the share of requests with a status of 400 or more |
//! | 3 | `bytes` | `log2(1 + bytes answered)` |
//!
//! A window is closed, then scored, when its 5 minutes have passed: by the
//! clock (with [`GRACE_MS`] for writes in flight) or by a later request of
//! the same user. A request that comes after its window was closed is left
//! out. A window's id (its `source_event` in `api_anomaly_detected`) is
//! `api:USER:START`, START its first minute in RFC 3339 UTC (e.g.
//! `api:bob:2026-12-04T10:05:00Z`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::features::{Baseline, STANDS_OUT};
use super::models::{Kind, Observed};
use crate::audit::SecurityEvent;

/// The event type of an API request.
pub const API_EVENT: &str = "api_request";
pub const API_FEATURES: [&str; 4] = ["rate", "endpoints", "error_ratio", "bytes"];
/// The length of a window.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;
/// How long after its end a window waits for requests still being written.
pub const GRACE_MS: i64 = 2000;

/// One user's API usage in one window, and its features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiWindow {
    pub user: String,
    pub start: DateTime<Utc>,
    pub requests: u64,
    pub endpoints: u64,
    pub errors: u64,
    pub bytes: u64,
    pub features: [f64; 4],
    /// `api:USER:START`.
    pub source: String,
}

#[derive(Debug, Default)]
struct Open {
    start_ms: i64,
    requests: u64,
    errors: u64,
    bytes: u64,
    endpoints: HashSet<String>,
}

#[derive(Debug, Default)]
struct UserWindows {
    open: Option<Open>,
    /// The end of the last window closed (requests before it are late).
    closed_through: i64,
}

/// The open windows of every user.
#[derive(Debug, Default)]
pub struct ApiHistory {
    users: HashMap<String, UserWindows>,
}

fn window_start(ms: i64) -> i64 {
    ms.div_euclid(WINDOW_MS) * WINDOW_MS
}

fn close(user: &str, w: Open) -> ApiWindow {
    let start = Utc
        .timestamp_millis_opt(w.start_ms)
        .single()
        .unwrap_or_default();
    let n = w.requests.max(1) as f64;
    let features = [
        (1.0 + w.requests as f64 / 5.0).log2(),
        (1.0 + w.endpoints.len() as f64).log2(),
        w.errors as f64 / n,
        (1.0 + w.bytes as f64).log2(),
    ];
    ApiWindow {
        user: user.to_owned(),
        source: format!(
            "api:{user}:{}",
            start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        start,
        requests: w.requests,
        endpoints: w.endpoints.len() as u64,
        errors: w.errors,
        bytes: w.bytes,
        features,
    }
}

fn number(v: Option<&serde_json::Value>) -> Option<f64> {
    match v? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl ApiHistory {
    /// Takes `event` in; when it is a request that starts a later window
    /// of its user, returns the user's previous window, closed. Events
    /// must come in time order; one without a user or a readable time is
    /// skipped.
    pub fn observe(&mut self, event: &SecurityEvent) -> Option<ApiWindow> {
        if event.event_type != API_EVENT {
            return None;
        }
        let user = event.user_id.as_deref()?;
        let ms = DateTime::parse_from_rfc3339(&event.timestamp)
            .ok()?
            .timestamp_millis();
        let start = window_start(ms);
        let state = self.users.entry(user.to_owned()).or_default();
        if start + WINDOW_MS <= state.closed_through {
            return None;
        }
        let mut closed = None;
        if let Some(open) = state.open.take_if(|o| o.start_ms < start) {
            state.closed_through = open.start_ms + WINDOW_MS;
            closed = Some(close(user, open));
        }
        let open = state.open.get_or_insert_with(|| Open {
            start_ms: start,
            ..Open::default()
        });
        let d = &event.details;
        open.requests += 1;
        if number(d.get("status")).is_some_and(|s| s >= 400.0) {
            open.errors += 1;
        }
        open.bytes += number(d.get("bytes")).map_or(0, |b| b.max(0.0) as u64);
        let method = d.get("method").and_then(|v| v.as_str()).unwrap_or("");
        let endpoint = d.get("endpoint").and_then(|v| v.as_str()).unwrap_or("?");
        open.endpoints.insert(format!("{method} {endpoint}"));
        closed
    }

    /// Closes every open window that ends at or before `ms` (unix ms),
    /// oldest first.
    pub fn close_until(&mut self, ms: i64) -> Vec<ApiWindow> {
        let mut out = Vec::new();
        for (user, state) in &mut self.users {
            if let Some(open) = state.open.take_if(|o| o.start_ms + WINDOW_MS <= ms) {
                state.closed_through = open.start_ms + WINDOW_MS;
                out.push(close(user, open));
            }
        }
        out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.user.cmp(&b.user)));
        out
    }
}

fn bytes_words(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} KB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

impl ApiWindow {
    /// What the window holds and what is usual (the training windows'
    /// medians), e.g. "bob made 412 requests in 5 minutes from 10:05 UTC,
    /// 38% errors, to 27 endpoints, 3.1 MB (usual: 40 requests, 0% errors,
    /// 6 endpoints, 180 KB); stands out: rate, errors, endpoints".
    pub fn explain(&self, base: &Baseline) -> String {
        let m = |i: usize| base.median.get(i).copied().unwrap_or(0.0);
        let usual_requests = ((m(0).exp2() - 1.0) * 5.0).round() as u64;
        let usual_endpoints = (m(1).exp2() - 1.0).round() as u64;
        let names = ["rate", "endpoints", "errors", "bytes"];
        let high: Vec<&str> = (0..4)
            .filter(|i| base.mean.len() == 4 && base.z(*i, self.features[*i]) >= STANDS_OUT)
            .map(|i| names[i])
            .collect();
        let mut words = format!(
            "{} made {} in 5 minutes from {} UTC, {:.0}% errors, to {}, {} (usual: {}, {:.0}% errors, {}, {})",
            self.user,
            plural(self.requests, "request"),
            self.start.format("%H:%M"),
            100.0 * self.features[2],
            plural(self.endpoints, "endpoint"),
            bytes_words(self.bytes as f64),
            plural(usual_requests, "request"),
            100.0 * m(2),
            plural(usual_endpoints, "endpoint"),
            bytes_words(m(3).exp2() - 1.0),
        );
        if !high.is_empty() {
            words.push_str(&format!("; stands out: {}", high.join(", ")));
        }
        words
    }
}

impl Observed for ApiWindow {
    fn kind(&self) -> Kind {
        Kind::Api
    }
    fn row(&self) -> &[f64] {
        &self.features
    }
    fn explain(&self, base: &Baseline) -> String {
        ApiWindow::explain(self, base)
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn at(&self) -> DateTime<Utc> {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(user: &str, at: &str, endpoint: &str, status: u64, bytes: u64) -> SecurityEvent {
        let mut e = SecurityEvent::new(
            API_EVENT,
            Some(user),
            json!({"method": "GET", "endpoint": endpoint, "status": status, "bytes": bytes}),
        );
        e.timestamp = at.into();
        e
    }

    fn ms(at: &str) -> i64 {
        DateTime::parse_from_rfc3339(at).unwrap().timestamp_millis()
    }

    #[test]
    fn a_recorded_sequence_gives_each_window_its_features() {
        let mut h = ApiHistory::default();
        let seq = [
            request("bob", "2026-12-04T10:00:10Z", "/v1/orders", 200, 1000),
            request("bob", "2026-12-04T10:01:00Z", "/v1/orders", 200, 3000),
            request("alice", "2026-12-04T10:02:00Z", "/v1/users", 200, 10),
            request("bob", "2026-12-04T10:03:00Z", "/v1/users", 404, 0),
            // Not a request: ignored.
            SecurityEvent::new("secret_read", Some("bob"), json!({})),
            request("bob", "2026-12-04T10:04:59Z", "/v1/orders", 500, 96),
            // bob's next window closes his first.
            request("bob", "2026-12-04T10:05:00Z", "/v1/orders", 200, 7),
        ];
        let mut closed: Vec<ApiWindow> = seq.iter().filter_map(|e| h.observe(e)).collect();
        assert_eq!(closed.len(), 1);
        let w = &closed[0];
        assert_eq!(w.source, "api:bob:2026-12-04T10:00:00Z");
        assert_eq!(
            (w.requests, w.endpoints, w.errors, w.bytes),
            (4, 2, 2, 4096)
        );
        assert_eq!(
            w.features,
            [
                (1.0f64 + 4.0 / 5.0).log2(),
                3f64.log2(),
                0.5,
                4097f64.log2()
            ]
        );
        // The clock closes what has ended (alice's, 10:00-10:05), not bob's
        // window still open (10:05-10:10).
        closed = h.close_until(ms("2026-12-04T10:06:00Z"));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].source, "api:alice:2026-12-04T10:00:00Z");
        assert_eq!(closed[0].requests, 1);
        // A request late for alice's closed window is left out.
        assert!(
            h.observe(&request("alice", "2026-12-04T10:04:00Z", "/x", 200, 1))
                .is_none()
        );
        closed = h.close_until(ms("2026-12-04T10:10:00Z"));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].user, "bob");
        assert_eq!(closed[0].requests, 1);
    }

    #[test]
    fn the_explanation_says_what_the_window_holds_and_what_is_usual() {
        let mut h = ApiHistory::default();
        let mut normal = Vec::new();
        for i in 0..40 {
            let at = |s: u32| format!("2026-12-04T{:02}:{:02}:{s:02}Z", 8 + i / 12, (i % 12) * 5);
            for s in 0..10 {
                let ep = format!("/v1/e{}", s % 3);
                normal.extend(h.observe(&request("bob", &at(s * 5), &ep, 200, 1000)));
            }
        }
        let rows: Vec<&[f64]> = normal.iter().map(|w| &w.features[..]).collect();
        let base = Baseline::of_rows(&rows);
        let mut burst = ApiHistory::default();
        for i in 0..412 {
            let at = format!("2026-12-04T23:0{}:{:02}Z", i / 60 % 5, i % 60);
            let status = if i < 157 { 500 } else { 200 };
            burst.observe(&request(
                "bob",
                &at,
                &format!("/v1/x{}", i % 27),
                status,
                24,
            ));
        }
        let w = burst.close_until(ms("2026-12-05T00:00:00Z")).remove(0);
        assert_eq!(
            w.explain(&base),
            "bob made 412 requests in 5 minutes from 23:00 UTC, 38% errors, to 27 endpoints, \
             10 KB (usual: 10 requests, 0% errors, 3 endpoints, 10 KB); stands out: rate, endpoints, errors"
        );
    }
}
