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
    /// Sign-in, enrolment and step-up outcomes (for the console's gate).
    Auth(crate::auth::service::AuthEvent),
    /// The users with open (new or acknowledged) anomalies, for the
    /// Sessions pane's badge: the whole set, replacing the last one.
    Flagged {
        service: &'static str,
        users: std::sync::Arc<std::collections::BTreeSet<String>>,
    },
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

/// The sending half of a domain's own event channel: typed, bounded, and
/// waking the console (one [`Wake`] for every domain) after each event.
/// The pane of the domain holds the [`DomainRx`].
pub struct DomainTx<E> {
    tx: mpsc::Sender<E>,
    wake: Wake,
}

impl<E> Clone for DomainTx<E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<E> DomainTx<E> {
    /// Waits for room; false when the pane is gone.
    pub async fn send(&self, ev: E) -> bool {
        let sent = self.tx.send(ev).await.is_ok();
        self.wake.0.notify_one();
        sent
    }

    /// Sends without waiting (progress that may be dropped under a flood);
    /// false when the channel is full or the pane is gone.
    pub fn try_send(&self, ev: E) -> bool {
        let sent = self.tx.try_send(ev).is_ok();
        self.wake.0.notify_one();
        sent
    }
}

/// The receiving half of a domain's event channel (see [`DomainTx`]).
pub struct DomainRx<E> {
    rx: mpsc::Receiver<E>,
}

impl<E> DomainRx<E> {
    /// What has arrived, at most [`DRAIN_MAX`] at a time (the rest wakes
    /// the console again).
    pub fn drain(&mut self) -> Vec<E> {
        let mut out = Vec::new();
        while out.len() < DRAIN_MAX {
            match self.rx.try_recv() {
                Ok(ev) => out.push(ev),
                Err(_) => break,
            }
        }
        out
    }

    /// Waits for the next event (services' own tests read them this way).
    pub async fn recv(&mut self) -> Option<E> {
        self.rx.recv().await
    }
}

impl<E> std::fmt::Debug for DomainRx<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DomainRx")
    }
}

/// What a domain's service sends through: the console's common channel
/// (health, activity, outcomes, figures: through `Deref`) and the domain's
/// own typed channel to its pane ([`Sink::emit`]).
pub struct Sink<E> {
    common: EventTx,
    domain: DomainTx<E>,
}

impl<E> Clone for Sink<E> {
    fn clone(&self) -> Self {
        Self {
            common: self.common.clone(),
            domain: self.domain.clone(),
        }
    }
}

impl<E> Sink<E> {
    pub fn new(common: EventTx, domain: DomainTx<E>) -> Self {
        Self { common, domain }
    }

    /// Sends a domain event to the pane, waiting for room.
    pub async fn emit(&self, ev: E) -> bool {
        self.domain.send(ev).await
    }

    /// Sends a domain event unless the pane's channel is full.
    pub fn try_emit(&self, ev: E) -> bool {
        self.domain.try_send(ev)
    }
}

impl<E> std::ops::Deref for Sink<E> {
    type Target = EventTx;
    fn deref(&self) -> &EventTx {
        &self.common
    }
}

/// A sink and the receiving ends of both its channels, for a service
/// running without a console (tests, the agent).
pub fn detached<E>() -> (Sink<E>, EventRx, DomainRx<E>) {
    let (tx, rx) = channel();
    let (dtx, drx) = Wake::default().channel();
    (Sink::new(tx, dtx), rx, drx)
}

/// Capacity of each domain's event channel.
pub const DOMAIN_CAPACITY: usize = 1024;
/// The most events a pane takes from its channel per wake-up.
pub const DRAIN_MAX: usize = 1024;

/// Wakes the console when any domain sent an event.
#[derive(Clone, Default)]
pub struct Wake(std::sync::Arc<tokio::sync::Notify>);

impl Wake {
    /// A new typed channel for one domain's events.
    pub fn channel<E>(&self) -> (DomainTx<E>, DomainRx<E>) {
        let (tx, rx) = mpsc::channel(DOMAIN_CAPACITY);
        (
            DomainTx {
                tx,
                wake: self.clone(),
            },
            DomainRx { rx },
        )
    }

    /// Resolves when some domain sent an event since the last call.
    pub async fn woken(&self) {
        self.0.notified().await;
    }
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

/// A domain's request type (its own enum): the console routes it to the
/// domain's [`Handle`] without knowing it.
pub trait DomainRequestKind: std::any::Any + Send + std::fmt::Debug {
    /// The domain whose handle takes it (the domain's id).
    const DOMAIN: &'static str;

    /// The action of the role table (`auth::ACTIONS`) this request carries
    /// out, if it is guarded. The console checks the acting operator's
    /// current role against it before the request reaches the service, so
    /// every domain states it (no default: a new request kind cannot
    /// forget).
    fn permission(&self) -> Option<&'static str>;
}

trait Body: std::any::Any + Send + std::fmt::Debug {
    fn as_any(&self) -> &dyn std::any::Any;
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

impl<T: std::any::Any + Send + std::fmt::Debug> Body for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

/// A request from a pane for its domain's service, with the operator on
/// whose behalf it is made (filled in by the console, in one place, when it
/// routes the request).
#[derive(Debug)]
pub struct DomainRequest {
    pub domain: &'static str,
    pub actor: Option<String>,
    /// See [`DomainRequestKind::permission`].
    pub permission: Option<&'static str>,
    body: Box<dyn Body>,
}

impl DomainRequest {
    pub fn new<R: DomainRequestKind>(req: R) -> Self {
        Self {
            domain: R::DOMAIN,
            actor: None,
            permission: req.permission(),
            body: Box::new(req),
        }
    }

    /// The request, when it is an `R`.
    pub fn get<R: DomainRequestKind>(&self) -> Option<&R> {
        (*self.body).as_any().downcast_ref()
    }

    /// The acting operator and the request, when it is an `R`.
    pub fn take<R: DomainRequestKind>(self) -> Result<(Option<String>, R), Self> {
        if self.get::<R>().is_none() {
            return Err(self);
        }
        let actor = self.actor;
        let req = self
            .body
            .into_any()
            .downcast::<R>()
            .expect("checked just above");
        Ok((actor, *req))
    }
}

/// The console's end of a domain's service.
pub trait Handle: Send + Sync {
    fn domain(&self) -> &'static str;
    /// Queues the request; false when the service is gone or saturated
    /// (or the request is not this domain's).
    fn send(&self, req: DomainRequest) -> bool;
    /// Probe the backend now (`:probe`).
    fn probe(&self) {}
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

    #[derive(Debug, PartialEq)]
    enum Ping {
        Now(u8),
    }
    impl DomainRequestKind for Ping {
        const DOMAIN: &'static str = "ping";
        fn permission(&self) -> Option<&'static str> {
            Some("store.compact")
        }
    }
    #[derive(Debug)]
    struct Other;
    impl DomainRequestKind for Other {
        const DOMAIN: &'static str = "other";
        fn permission(&self) -> Option<&'static str> {
            None
        }
    }

    #[test]
    fn a_domain_request_opens_only_as_its_own_type() {
        let mut r = DomainRequest::new(Ping::Now(7));
        assert_eq!((r.domain, r.permission), ("ping", Some("store.compact")));
        assert_eq!(r.get::<Ping>(), Some(&Ping::Now(7)));
        assert!(r.get::<Other>().is_none());
        r.actor = Some("alice".into());
        let r = r.take::<Other>().unwrap_err();
        let (actor, ping) = r.take::<Ping>().unwrap();
        assert_eq!((actor.as_deref(), ping), (Some("alice"), Ping::Now(7)));
    }

    #[tokio::test]
    async fn a_domain_event_wakes_the_console_and_reaches_its_pane_in_order() {
        let wake = Wake::default();
        let (tx, mut rx) = wake.channel::<u32>();
        for i in 0..3 {
            assert!(tx.try_send(i));
        }
        tokio::time::timeout(Duration::from_secs(1), wake.woken())
            .await
            .expect("woken");
        assert_eq!(rx.drain(), [0, 1, 2]);
        assert!(rx.drain().is_empty());
    }

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
