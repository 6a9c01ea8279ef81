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

/// A URL fit to show: the password (or a token used as the user) becomes
/// `****`, and so does the value of every query parameter and the fragment
/// (`?token=****`), where tokens travel too. Text that is not a URL is
/// returned as it is.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, _)) => (r, "#****"),
        None => (rest, ""),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{}", redact_query(q))),
        None => (rest, String::new()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let shown = if userinfo.contains(':') {
                format!("{user}:****")
            } else {
                "****".to_string()
            };
            format!("{shown}@{host}")
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}{query}{fragment}")
}

/// `a=1&b` as `a=****&****`: the names stay, the values go.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((name, _)) => format!("{name}=****"),
            None if p.is_empty() => String::new(),
            None => "****".to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
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

    #[test]
    fn urls_lose_their_query_values_and_fragment() {
        assert_eq!(
            redact_url("https://u:pw@h/p?token=abc&mode=x&flag#frag"),
            "https://u:****@h/p?token=****&mode=****&****#****"
        );
        assert_eq!(
            redact_url("https://h?api_key=k@x"),
            "https://h?api_key=****"
        );
        assert_eq!(redact_url("http://h/p?"), "http://h/p?");
    }
}
