//! What every service task reports to the console: its health, what it did,
//! the figures it wants on the Overview.

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

/// Where a service keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded local store (no setup).
    Embedded,
    /// A real server; the target is shown with credentials removed.
    Real(String),
    /// Runs in process (no backend).
    InProcess,
}

impl Backend {
    pub fn label(&self) -> &str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Real(_) => "real",
            Backend::InProcess => "in process",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthState {
    Starting,
    Connected,
    Degraded,
    Reconnecting,
    Down,
    Stopped,
}

impl HealthState {
    pub fn label(self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Connected => "connected",
            HealthState::Degraded => "degraded",
            HealthState::Reconnecting => "reconnecting",
            HealthState::Down => "down",
            HealthState::Stopped => "stopped",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    pub state: HealthState,
    pub backend: Backend,
    /// What it talks to: a path or a URL without credentials.
    pub target: String,
    pub rtt: Option<Duration>,
    pub last_error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Messages from services to the console.
#[derive(Clone, Debug)]
pub enum ServiceEvent {
    Health {
        service: &'static str,
        health: Health,
    },
    /// Something worth a line in the activity log (and the status line when
    /// it is a warning or an error).
    Activity {
        service: &'static str,
        level: Level,
        message: String,
        at: SystemTime,
    },
    /// How an action an operator asked for ended (revoked, written, refused,
    /// failed): a line in the activity log and, in the console, the status
    /// line, which until then says only that the action is under way.
    Outcome {
        service: &'static str,
        level: Level,
        message: String,
        at: SystemTime,
    },
    /// `count` more units of work done, for the event rates.
    Processed { service: &'static str, count: u64 },
    /// Sign-in, enrolment and step-up outcomes.
    Auth(crate::auth::service::AuthEvent),
    /// Scan progress, verdicts and manifest results, for the Scans pane.
    Scans(Box<crate::scans::service::ScanEvent>),
    /// What the secrets service did (for the Secrets pane).
    Secrets(crate::secrets::service::SecretsEvent),
    /// The sessions service's latest view of the session store.
    Sessions(crate::sessions::service::SessionsEvent),
    /// A figure for the Overview (`sessions: 42`).
    Figure {
        service: &'static str,
        label: &'static str,
        value: String,
    },
}

pub type EventTx = mpsc::Sender<ServiceEvent>;
pub type EventRx = mpsc::Receiver<ServiceEvent>;

/// Capacity of the service event channel: bounded, so a flood of events can
/// never eat memory; rate counters are dropped first when it is full.
pub const EVENT_CAPACITY: usize = 4096;

pub fn channel() -> (EventTx, EventRx) {
    mpsc::channel(EVENT_CAPACITY)
}

/// Sends an activity line.
pub async fn activity(
    tx: &EventTx,
    service: &'static str,
    level: Level,
    message: impl Into<String>,
) {
    let _ = tx
        .send(ServiceEvent::Activity {
            service,
            level,
            message: message.into(),
            at: SystemTime::now(),
        })
        .await;
}

/// Sends the outcome of an action an operator asked for (see
/// [`ServiceEvent::Outcome`]).
pub async fn outcome(
    tx: &EventTx,
    service: &'static str,
    level: Level,
    message: impl Into<String>,
) {
    let _ = tx
        .send(ServiceEvent::Outcome {
            service,
            level,
            message: message.into(),
            at: SystemTime::now(),
        })
        .await;
}

/// Removes the password from a URL so it can be shown (`redis://:****@host`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let shown = if userinfo.contains(':') {
                format!("{user}:****")
            } else {
                "****".to_string()
            };
            format!("{scheme}://{shown}@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("redis://:hunter2@h:6379/0"),
            "redis://:****@h:6379/0"
        );
        assert_eq!(
            redact_url("smtp://bob:pw@mail:25"),
            "smtp://bob:****@mail:25"
        );
        assert_eq!(redact_url("https://token@x/y"), "https://****@x/y");
        assert_eq!(redact_url("http://h:9200"), "http://h:9200");
        assert_eq!(redact_url("/var/lib/x"), "/var/lib/x");
    }
}
