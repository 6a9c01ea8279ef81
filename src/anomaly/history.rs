//! The audit stream replayed into the three kinds' histories: what each
//! user did so far (the state features come from) and the events of each
//! kind to score or train on.

use chrono::{DateTime, Utc};

use super::api::{ApiHistory, ApiWindow, GRACE_MS};
use super::deploys::{Deploy, DeployHistory};
use super::features::{Baseline, Login, LoginHistory};
use super::models::{Kind, Observed};
use crate::audit::SecurityEvent;
use crate::audit::source::LocalFollower;

/// One event of any kind, ready to score.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Login(Login),
    Api(ApiWindow),
    Deployment(Deploy),
}

impl Observation {
    fn inner(&self) -> &dyn Observed {
        match self {
            Observation::Login(o) => o,
            Observation::Api(o) => o,
            Observation::Deployment(o) => o,
        }
    }

    /// The deployment's name, for a deployment.
    pub fn deployment(&self) -> Option<&str> {
        match self {
            Observation::Deployment(d) => Some(&d.deployment),
            _ => None,
        }
    }
}

impl Observed for Observation {
    fn kind(&self) -> Kind {
        self.inner().kind()
    }
    fn row(&self) -> &[f64] {
        self.inner().row()
    }
    fn explain(&self, base: &Baseline) -> String {
        self.inner().explain(base)
    }
    fn source(&self) -> &str {
        self.inner().source()
    }
    fn user(&self) -> &str {
        self.inner().user()
    }
    fn at(&self) -> DateTime<Utc> {
        self.inner().at()
    }
}

/// The three histories together.
#[derive(Debug, Default)]
pub struct History {
    pub logins: LoginHistory,
    pub api: ApiHistory,
    pub deploys: DeployHistory,
}

impl History {
    /// Takes `event` in (events in time order); returns what it makes
    /// ready to score: a sign-in, a deployment, an API window it closed.
    pub fn observe(&mut self, event: &SecurityEvent) -> Vec<Observation> {
        let mut out = Vec::new();
        out.extend(self.logins.observe(event).map(Observation::Login));
        out.extend(self.api.observe(event).map(Observation::Api));
        out.extend(self.deploys.observe(event).map(Observation::Deployment));
        out
    }

    /// The API windows whose 5 minutes (and the grace) are over at `now_ms`.
    pub fn close_by_clock(&mut self, now_ms: i64) -> Vec<Observation> {
        self.api
            .close_until(now_ms - GRACE_MS)
            .into_iter()
            .map(Observation::Api)
            .collect()
    }
}

/// The audit history replayed: each kind's events and what each user did.
#[derive(Debug, Default)]
pub struct Replay {
    /// The sign-ins at or after the cut-off, in time order.
    pub logins: Vec<Login>,
    /// The API windows starting at or after the cut-off and closed, in time order.
    pub api: Vec<ApiWindow>,
    /// The deployments at or after the cut-off, in time order.
    pub deployments: Vec<Deploy>,
    /// Every user's sign-in state after the last event (for scoring what comes next).
    pub history: LoginHistory,
    pub api_history: ApiHistory,
    pub deploy_history: DeployHistory,
    /// Events read, and lines that were not an event.
    pub events: usize,
    pub unreadable: usize,
}

impl Replay {
    /// Takes complete JSON lines of the audit log (in time order) into the
    /// history; returns their sign-ins from `since_ms` on (the API windows
    /// and deployments are kept in [`Replay::api`] and [`Replay::deployments`]).
    pub fn feed(&mut self, lines: &[u8], since_ms: i64) -> Vec<Login> {
        let mut logins = Vec::new();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(event) = serde_json::from_slice::<SecurityEvent>(line) else {
                self.unreadable += 1;
                continue;
            };
            self.events += 1;
            if let Some(login) = self.history.observe(&event)
                && login.at.timestamp_millis() >= since_ms
            {
                logins.push(login);
            }
            if let Some(w) = self.api_history.observe(&event)
                && w.start.timestamp_millis() >= since_ms
            {
                self.api.push(w);
            }
            if let Some(d) = self.deploy_history.observe(&event)
                && d.at.timestamp_millis() >= since_ms
            {
                self.deployments.push(d);
            }
        }
        logins
    }

    /// Closes the API windows over by `now_ms` (from `since_ms` on).
    pub fn close(&mut self, now_ms: i64, since_ms: i64) {
        let mut closed = self.api_history.close_until(now_ms - GRACE_MS);
        closed.retain(|w| w.start.timestamp_millis() >= since_ms);
        self.api.extend(closed);
        self.api.sort_by_key(|w| w.start);
    }
}

/// Replays the local audit log `follower` reads (every month, oldest first),
/// keeping each kind's events from `since_ms` (unix ms) on; the API
/// windows over by now are closed.
pub fn replay(follower: &mut LocalFollower, since_ms: i64) -> std::io::Result<Replay> {
    let mut r = Replay::default();
    for chunk in follower.poll()? {
        let logins = r.feed(&chunk, since_ms);
        r.logins.extend(logins);
    }
    r.close(Utc::now().timestamp_millis(), since_ms);
    Ok(r)
}
