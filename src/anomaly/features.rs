//! Features of a sign-in, taken from the audit stream, for the login
//! detector; and the words that say why a sign-in scored high.
//!
//! A sign-in is a `signin_success` (an operator at the console) or a
//! `session_created` (a user's session) event. Its features, in this order:
//!
//! | # | feature | value |
//! |---|---|---|
//! | 0 | `hour_sin` | `sin(2π h / 24)`, `h` the UTC hour with minutes as a fraction |
//! | 1 | `hour_cos` | `cos(2π h / 24)` (the pair puts 23:59 next to 00:00) |
//! | 2 | `weekday` | 0 Monday ... 6 Sunday, UTC |
//! | 3 | `new_device` | 1 when the user agent is one the user never signed in with, else 0 (0 when the event has none) |
//! | 4 | `new_network` | 1 when the address's IPv4 /24 or IPv6 /48 is one the user never signed in from, else 0 (0 without an address) |
//! | 5 | `failures_10m` | the user's `signin_failure` and `mfa_failure` events in the 10 minutes before |
//! | 6 | `since_last` | `log2(1 + hours)` since the user's previous sign-in; a first sign-in counts as 30 days |
//! | 7 | `concurrent` | the user's sessions created in the last 12 hours (a session's longest life) and not revoked since |
//!
//! The address is the event's `ip_address`, else its `details.ip`; the
//! device is its `user_agent`. A score is explained by the features that
//! stand out from the training sign-ins (see [`Login::explain`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::SecurityEvent;

pub const LOGIN_FEATURES: [&str; 8] = [
    "hour_sin",
    "hour_cos",
    "weekday",
    "new_device",
    "new_network",
    "failures_10m",
    "since_last",
    "concurrent",
];

const FAILURE_WINDOW_MS: i64 = 10 * 60 * 1000;
const SESSION_LIFE_MS: i64 = 12 * 3_600_000;
const FIRST_GAP_HOURS: f64 = 30.0 * 24.0;

/// One sign-in and its features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub user: String,
    pub at: DateTime<Utc>,
    pub features: [f64; 8],
    /// The sign-in event's id.
    #[serde(default)]
    pub source: String,
}

/// What each user has done so far: the state the features are taken from.
#[derive(Debug, Default)]
pub struct LoginHistory {
    users: HashMap<String, UserState>,
}

#[derive(Debug, Default)]
struct UserState {
    devices: HashSet<String>,
    networks: HashSet<String>,
    failures: VecDeque<i64>,
    last_login: Option<i64>,
    /// Session (short id, or the event id when none) and when it was created.
    sessions: VecDeque<(String, i64)>,
}

/// The IPv4 /24 or IPv6 /48 of an address (an IPv4-mapped address as IPv4).
pub fn network_of(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn is_login(event_type: &str) -> bool {
    matches!(event_type, "signin_success" | "session_created")
}

impl LoginHistory {
    /// Takes `event` into the history; for a sign-in, returns its features
    /// (taken before the sign-in itself is remembered). Events must come
    /// in time order; one without a user or a readable time is skipped.
    pub fn observe(&mut self, event: &SecurityEvent) -> Option<Login> {
        let user = event.user_id.as_deref()?;
        let at = DateTime::parse_from_rfc3339(&event.timestamp)
            .ok()?
            .with_timezone(&Utc);
        let ms = at.timestamp_millis();
        let state = self.users.entry(user.to_owned()).or_default();
        while state
            .failures
            .front()
            .is_some_and(|t| *t < ms - FAILURE_WINDOW_MS)
        {
            state.failures.pop_front();
        }
        while state
            .sessions
            .front()
            .is_some_and(|(_, t)| *t <= ms - SESSION_LIFE_MS)
        {
            state.sessions.pop_front();
        }
        let session = event.details.get("session").and_then(|s| s.as_str());
        match event.event_type.as_str() {
            "signin_failure" | "mfa_failure" => {
                state.failures.push_back(ms);
                return None;
            }
            "session_revoked" => {
                state
                    .sessions
                    .retain(|(id, _)| Some(id.as_str()) != session);
                return None;
            }
            "sessions_revoked_user" => {
                state.sessions.clear();
                return None;
            }
            t if !is_login(t) => return None,
            _ => {}
        }
        let device = event.user_agent.clone();
        let network = event
            .ip_address
            .as_deref()
            .or_else(|| event.details.get("ip").and_then(|v| v.as_str()))
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .map(network_of);
        let new = |seen: &HashSet<String>, v: &Option<String>| match v {
            Some(v) if !seen.contains(v) => 1.0,
            _ => 0.0,
        };
        let hours_since = state
            .last_login
            .map_or(FIRST_GAP_HOURS, |t| (ms - t).max(0) as f64 / 3_600_000.0);
        let hour = f64::from(at.hour()) + f64::from(at.minute()) / 60.0;
        let angle = std::f64::consts::TAU * hour / 24.0;
        let features = [
            angle.sin(),
            angle.cos(),
            f64::from(at.weekday().num_days_from_monday()),
            new(&state.devices, &device),
            new(&state.networks, &network),
            state.failures.len() as f64,
            (1.0 + hours_since).log2(),
            state.sessions.len() as f64,
        ];
        state.devices.extend(device);
        state.networks.extend(network);
        state.last_login = Some(ms);
        if event.event_type == "session_created" {
            let id = session.unwrap_or(&event.id).to_owned();
            state.sessions.push_back((id, ms));
        }
        Some(Login {
            user: user.to_owned(),
            at,
            features,
            source: event.id.clone(),
        })
    }
}

/// Each feature's mean, standard deviation and median over the training
/// events: what "stands out" is measured against (and what is usual).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    #[serde(default)]
    pub median: Vec<f64>,
}

impl Baseline {
    pub fn of(logins: &[Login]) -> Self {
        let rows: Vec<&[f64]> = logins.iter().map(|l| &l.features[..]).collect();
        Self::of_rows(&rows)
    }

    /// The baseline of rows of equal width.
    pub fn of_rows(rows: &[&[f64]]) -> Self {
        let cols = rows.first().map_or(0, |r| r.len());
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; cols];
        let mut std = vec![0.0; cols];
        for r in rows {
            for (m, v) in mean.iter_mut().zip(*r) {
                *m += v / n;
            }
        }
        for r in rows {
            for ((s, m), v) in std.iter_mut().zip(&mean).zip(*r) {
                *s += (v - m) * (v - m) / n;
            }
        }
        let median = (0..cols)
            .map(|i| {
                let mut col: Vec<f64> = rows.iter().map(|r| r[i]).collect();
                col.sort_by(f64::total_cmp);
                col.get(col.len() / 2).copied().unwrap_or(0.0)
            })
            .collect();
        Self {
            mean,
            std: std.into_iter().map(f64::sqrt).collect(),
            median,
        }
    }

    /// How many standard deviations feature `i` of `v` is from the mean
    /// (a feature that never varied: any change counts as far).
    pub fn z(&self, i: usize, v: f64) -> f64 {
        let d = v - self.mean[i];
        if self.std[i] > 1e-9 {
            d / self.std[i]
        } else if d.abs() > 1e-9 {
            d.signum() * 10.0
        } else {
            0.0
        }
    }

    /// `row` standardised: each feature less its mean, over its standard
    /// deviation (a feature that never varied: less its mean only).
    pub fn standardise(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(i, v)| {
                let d = v - self.mean[i];
                if self.std[i] > 1e-9 {
                    d / self.std[i]
                } else {
                    d
                }
            })
            .collect()
    }
}

/// A feature stands out this many standard deviations above its mean (or,
/// for the hour, away from it).
pub const STANDS_OUT: f64 = 2.0;

impl super::models::Observed for Login {
    fn kind(&self) -> super::models::Kind {
        super::models::Kind::Login
    }
    fn row(&self) -> &[f64] {
        &self.features
    }
    fn explain(&self, base: &Baseline) -> String {
        Login::explain(self, base)
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

impl Login {
    /// Why this sign-in differs from the training ones, in words: e.g.
    /// "bob signed in at 03:12 UTC, an unusual hour, from a new network
    /// after 4 failures in 10 minutes".
    pub fn explain(&self, base: &Baseline) -> String {
        let f = &self.features;
        let high = |i: usize| base.z(i, f[i]) >= STANDS_OUT;
        let mut words = format!("{} signed in at {} UTC", self.user, self.at.format("%H:%M"));
        if base.z(0, f[0]).abs() >= STANDS_OUT || base.z(1, f[1]).abs() >= STANDS_OUT {
            words.push_str(", an unusual hour,");
        }
        if base.z(2, f[2]).abs() >= STANDS_OUT {
            words.push_str(&format!(" on an unusual day ({})", self.at.format("%A")));
        }
        if f[4] > 0.0 && high(4) {
            words.push_str(" from a new network");
        }
        if f[3] > 0.0 && high(3) {
            words.push_str(" on a new device");
        }
        if f[5] > 0.0 && high(5) {
            let n = f[5] as u64;
            words.push_str(&format!(
                " after {n} failure{} in 10 minutes",
                if n == 1 { "" } else { "s" }
            ));
        }
        if high(6) {
            let hours = f[6].exp2() - 1.0;
            words.push_str(&if hours >= 48.0 {
                format!(", the first sign-in in {:.0} days", hours / 24.0)
            } else {
                format!(", the first sign-in in {hours:.0} hours")
            });
        }
        if f[7] > 0.0 && high(7) {
            let n = f[7] as u64;
            words.push_str(&format!(
                " with {n} other session{} open",
                if n == 1 { "" } else { "s" }
            ));
        }
        words.trim_end_matches(',').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(
        kind: &str,
        user: &str,
        at: &str,
        ip: Option<&str>,
        agent: Option<&str>,
    ) -> SecurityEvent {
        let mut e = SecurityEvent::new(kind, Some(user), json!({}));
        e.timestamp = at.into();
        e.ip_address = ip.map(Into::into);
        e.user_agent = agent.map(Into::into);
        e
    }

    fn session(kind: &str, user: &str, at: &str, id: &str, ip: &str) -> SecurityEvent {
        let mut e = SecurityEvent::new(kind, Some(user), json!({"session": id, "ip": ip}));
        e.timestamp = at.into();
        e.user_agent = Some("firefox".into());
        e
    }

    #[test]
    fn a_recorded_sequence_gives_each_sign_in_its_features() {
        let mut h = LoginHistory::default();
        // Monday 2026-11-30.
        let seq = [
            session(
                "session_created",
                "alice",
                "2026-11-30T09:00:00Z",
                "s1",
                "10.0.0.5",
            ),
            event(
                "signin_failure",
                "alice",
                "2026-11-30T09:40:00Z",
                None,
                None,
            ),
            event(
                "signin_failure",
                "alice",
                "2026-11-30T09:55:00Z",
                None,
                None,
            ),
            event("mfa_failure", "alice", "2026-11-30T09:58:00Z", None, None),
            event("signin_failure", "bob", "2026-11-30T09:59:00Z", None, None),
            session(
                "session_created",
                "alice",
                "2026-11-30T10:00:00Z",
                "s2",
                "10.0.0.77",
            ),
            session(
                "session_revoked",
                "alice",
                "2026-11-30T10:10:00Z",
                "s1",
                "10.0.0.5",
            ),
            event(
                "signin_success",
                "alice",
                "2026-11-30T20:00:00Z",
                Some("2001:db8:7:1::1"),
                Some("curl"),
            ),
            session(
                "session_created",
                "alice",
                "2026-11-30T22:30:00Z",
                "s3",
                "2001:db8:7:ffff::9",
            ),
        ];
        let logins: Vec<Login> = seq.iter().filter_map(|e| h.observe(e)).collect();
        let f: Vec<[f64; 8]> = logins.iter().map(|l| l.features).collect();
        assert_eq!(logins.len(), 4);
        // 09:00: first ever: new device and network, 30 days since "last".
        assert!((f[0][0] - (std::f64::consts::TAU * 9.0 / 24.0).sin()).abs() < 1e-12);
        assert_eq!(f[0][2..], [0.0, 1.0, 1.0, 0.0, 721f64.log2(), 0.0]);
        // 10:00: the same /24 and device; two failures in the last 10
        // minutes (09:40 is too old, bob's are his); s1 still open.
        assert_eq!(f[1][2..], [0.0, 0.0, 0.0, 2.0, 2f64.log2(), 1.0]);
        // 20:00: a console sign-in from a new /48 with a new agent; s1 was
        // revoked (its 12 hours are not over), s2 is open.
        assert_eq!(f[2][3..], [1.0, 1.0, 0.0, 11f64.log2(), 1.0]);
        // 22:30: the same /48 again, firefox known; s2 is over 12 hours old.
        assert_eq!(f[3][3..], [0.0, 0.0, 0.0, 3.5f64.log2(), 0.0]);
        assert_eq!(
            network_of("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.0/24"
        );
    }

    #[test]
    fn the_explanation_names_what_stands_out() {
        let mut h = LoginHistory::default();
        let mut normal = Vec::new();
        for day in 1..=28 {
            let at = format!("2026-11-{day:02}T09:{:02}:00Z", day % 30);
            let e = session(
                "session_created",
                "bob",
                &at,
                &format!("s{day}"),
                "10.0.0.5",
            );
            normal.extend(h.observe(&e));
        }
        let base = Baseline::of(&normal);
        for t in ["03:08", "03:09", "03:10", "03:11"] {
            h.observe(&event(
                "signin_failure",
                "bob",
                &format!("2026-11-29T{t}:00Z"),
                None,
                None,
            ));
        }
        let odd = h
            .observe(&session(
                "session_created",
                "bob",
                "2026-11-29T03:12:00Z",
                "x",
                "198.51.100.4",
            ))
            .unwrap();
        assert_eq!(
            odd.explain(&base),
            "bob signed in at 03:12 UTC, an unusual hour, from a new network after 4 failures in 10 minutes"
        );
        assert_eq!(normal[10].explain(&base), "bob signed in at 09:11 UTC");
    }
}
