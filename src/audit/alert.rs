//! Alerting: rules route events to channels, repeats of (type, user) within
//! a window fold into one alert with a count, and a delivery task sends with
//! retries and back-off, keeping what failed in a dead-letter list.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::sync::mpsc;

use super::SecurityEvent;
use super::settings::{ChannelKind, ChannelSpec, Rule};
use crate::display::{clean, clean_line};

/// One alert: an event and how many times it happened in the fold window.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub event: SecurityEvent,
    pub count: u32,
}

impl Alert {
    pub fn new(event: SecurityEvent, count: u32) -> Self {
        Self { event, count }
    }

    pub fn summary(&self) -> String {
        let e = &self.event;
        let times = if self.count > 1 {
            format!(" x{}", self.count)
        } else {
            String::new()
        };
        format!(
            "[{}] {}{} user={} at {}",
            e.severity.as_str().to_uppercase(),
            e.event_type,
            times,
            e.user_id.as_deref().unwrap_or("-"),
            e.timestamp
        )
    }

    /// The same for every delivery of this alert, so a receiver can drop a
    /// repeat: the event id, and for folded repeats the count too.
    pub fn idempotency_key(&self) -> String {
        if self.count > 1 {
            format!("{}-x{}", self.event.id, self.count)
        } else {
            self.event.id.clone()
        }
    }

    pub fn webhook_payload(&self) -> serde_json::Value {
        json!({
            "alert": self.summary(),
            "count": self.count,
            "event_id": self.event.id,
            "idempotency_key": self.idempotency_key(),
            "event": self.event,
        })
    }

    /// Slack's text is markup: `&`, `<` and `>` of the event are escaped, so
    /// a user named `<!channel>` or `<https://evil|login>` neither pings a
    /// channel nor makes a link; controls and bidi overrides are shown as
    /// escapes (the display boundary), so none reorders the text.
    pub fn slack_payload(&self) -> serde_json::Value {
        let shown = |s: &str| slack_escape(&clean_line(s)).into_owned();
        json!({ "text": format!(
            "WindFlow security alert: {} (event {})\n```{}```",
            shown(&self.summary()),
            shown(&self.event.id),
            shown(&self.event.details.to_string())
        ) })
    }

    /// The e-mail subject: one line whatever the event holds (a CR or LF
    /// from a user name would start a header of its own), controls and bidi
    /// overrides shown as escapes.
    pub fn email_subject(&self) -> String {
        clean_line(&self.summary()).into_owned()
    }

    /// The e-mail body, plain text: the summary line and the event as JSON,
    /// through the display boundary (JSON leaves C1 controls and bidi
    /// overrides raw; a mail reader in a terminal would obey them).
    pub fn email_body(&self) -> String {
        format!(
            "{}\n\n{}\n",
            self.email_subject(),
            clean(&serde_json::to_string_pretty(&self.event).unwrap_or_default())
        )
    }
}

/// `s` for Slack's markup: `&`, `<` and `>` as entities (Slack's own rule);
/// nothing else of the text is control syntax once these are escaped.
pub fn slack_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['&', '<', '>']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The channel names `ev` goes to under `rules`.
pub fn route(rules: &[Rule], channels: &[ChannelSpec], ev: &SecurityEvent) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rules {
        let type_ok = r.types.is_empty() || r.types.contains(&ev.event_type);
        let sev_ok = r.min_severity.is_none_or(|s| ev.severity >= s);
        if !(type_ok && sev_ok) {
            continue;
        }
        for c in channels {
            if (r.channels.is_empty() || r.channels.contains(&c.name)) && !out.contains(&c.name) {
                out.push(c.name.clone());
            }
        }
    }
    out
}

/// Folds repeats of (type, user) within a window: the first is alerted at
/// once; the repeats are counted and alerted as one when the window closes.
#[derive(Debug)]
pub struct Folder {
    window: Duration,
    open: HashMap<(String, Option<String>), Open>,
}

#[derive(Debug)]
struct Open {
    since: Instant,
    repeats: u32,
    last: SecurityEvent,
}

impl Folder {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            open: HashMap::new(),
        }
    }

    /// An alert to send now, if `ev` is not a repeat.
    pub fn observe(&mut self, ev: &SecurityEvent, now: Instant) -> Option<Alert> {
        let key = (ev.event_type.clone(), ev.user_id.clone());
        match self.open.get_mut(&key) {
            Some(o) if now.duration_since(o.since) < self.window => {
                o.repeats += 1;
                o.last = ev.clone();
                None
            }
            _ => {
                self.open.insert(
                    key,
                    Open {
                        since: now,
                        repeats: 0,
                        last: ev.clone(),
                    },
                );
                Some(Alert::new(ev.clone(), 1))
            }
        }
    }

    /// Alerts for the repeats of windows that closed by `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<Alert> {
        let mut out = Vec::new();
        self.open.retain(|_, o| {
            if now.duration_since(o.since) < self.window {
                return true;
            }
            if o.repeats > 0 {
                out.push(Alert::new(o.last.clone(), o.repeats));
            }
            false
        });
        out
    }
}

/// A channel that can send alerts.
#[derive(Clone)]
pub struct Channel {
    pub spec: ChannelSpec,
    http: reqwest::Client,
    am: Option<super::alertmanager::AmClient>,
    /// The longest one email may take, sign-in included.
    email_deadline: Duration,
}

impl Channel {
    pub fn new(spec: ChannelSpec) -> Result<Self, String> {
        let http = if spec.kind == ChannelKind::Email {
            // SMTP's CA is lettre's; the HTTP client is not used.
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))?
        } else {
            super::alertmanager::http_client(&spec)?
        };
        let am = (spec.kind == ChannelKind::Alertmanager)
            .then(|| super::alertmanager::AmClient::new(&spec))
            .transpose()?;
        Ok(Self {
            spec,
            http,
            am,
            email_deadline: SMTP_DEADLINE,
        })
    }

    /// Another bound for the whole of one email (default 30 s).
    pub fn with_email_deadline(mut self, deadline: Duration) -> Self {
        self.email_deadline = deadline;
        self
    }

    /// Sends `alert` once; the error says what failed (no secrets).
    pub async fn send(&self, alert: &Alert) -> Result<(), String> {
        match self.spec.kind {
            ChannelKind::Webhook => self.post(&alert.webhook_payload(), alert).await,
            ChannelKind::Slack => self.post(&alert.slack_payload(), alert).await,
            ChannelKind::Email => self.email(alert).await,
            ChannelKind::Alertmanager => match &self.am {
                Some(am) => am.post(alert).await,
                None => Err("the Alertmanager client was not built".into()),
            },
        }
    }

    async fn post(&self, body: &serde_json::Value, alert: &Alert) -> Result<(), String> {
        let req = self.http.post(self.spec.url.expose_secret());
        let resp = super::alertmanager::with_auth(&self.spec, req)
            .header("Idempotency-Key", alert.idempotency_key())
            .json(body)
            .send()
            .await
            .map_err(|e| format!("{} unreachable: {}", self.spec.shown_url(), e.without_url()))?;
        let status = resp.status();
        match status.as_u16() {
            _ if status.is_success() => Ok(()),
            // A refusal of the credentials will not heal by retrying: say so.
            code @ (401 | 403) => Err(format!(
                "{} answered {status}: authentication failed (HTTP {code}); check the \
                 channel's credentials (username/password, bearer_token, or the token in its URL)",
                self.spec.shown_url()
            )),
            _ => Err(format!("{} answered {status}", self.spec.shown_url())),
        }
    }

    /// TLS trusting the CA in `ca` (PEM): implicit TLS for `smtps://`, else
    /// STARTTLS required (a server that does not offer it is an error).
    fn tls_with_ca(&self, url: &str, ca: &std::path::Path) -> Result<Tls, String> {
        let pem = std::fs::read(ca).map_err(|e| format!("SMTP CA file {}: {e}", ca.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("SMTP CA file {}: not a PEM certificate: {e}", ca.display()))?;
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| format!("{}: the SMTP URL names no host", self.spec.shown_url()))?;
        let params = TlsParameters::builder(host)
            .add_root_certificate(cert)
            .build_rustls()
            .map_err(|e| format!("SMTP TLS settings: {e}"))?;
        Ok(if url.starts_with("smtps://") {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        })
    }

    async fn email(&self, alert: &Alert) -> Result<(), String> {
        let mut url = zeroize::Zeroizing::new(self.spec.url.expose_secret().to_owned());
        let parsed = url::Url::parse(&url).ok();
        // The URL's own `tls` setting (a query key, not text anywhere in it:
        // a password may well contain "tls=").
        let says_tls = parsed
            .as_ref()
            .is_some_and(|u| u.query_pairs().any(|(k, _)| k == "tls"));
        if url.starts_with("smtp://") && !says_tls {
            // A password is only sent over TLS unless the URL says otherwise.
            let signs_in = parsed.is_some_and(|u| u.password().is_some());
            let separator = if url.contains('?') { "&" } else { "?" };
            url.push_str(separator);
            url.push_str(if signs_in {
                "tls=required"
            } else {
                "tls=opportunistic"
            });
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| format!("{}: bad SMTP URL: {e}", self.spec.shown_url()))?
            .timeout(Some(Duration::from_secs(10)));
        if let Some(ca) = &self.spec.ca_file {
            builder = builder.tls(self.tls_with_ca(&url, ca)?);
        }
        let transport = builder.build();
        let from: Mailbox = self
            .spec
            .from
            .as_deref()
            .unwrap_or("windflow@localhost")
            .parse()
            .map_err(|e| format!("WINDFLOW_ALERT_EMAIL_FROM: {e}"))?;
        let mut msg = Message::builder().from(from).subject(alert.email_subject());
        for to in &self.spec.to {
            let mb: Mailbox = to
                .parse()
                .map_err(|e| format!("WINDFLOW_ALERT_EMAIL_TO {to:?}: {e}"))?;
            msg = msg.to(mb);
        }
        let body = alert.email_body();
        let msg = msg
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("cannot build the email: {e}"))?;
        // lettre's timeout covers each read, not a server that stops
        // answering mid-dialogue: bound the whole exchange.
        match tokio::time::timeout(self.email_deadline, transport.send(msg)).await {
            Ok(res) => res
                .map(|_| ())
                .map_err(|e| smtp_error(&self.spec.shown_url(), &e)),
            Err(_) => Err(format!(
                "{}: the SMTP server did not finish within {:.1} s",
                self.spec.shown_url(),
                self.email_deadline.as_secs_f64()
            )),
        }
    }
}

/// The longest one email may take by default, sign-in included.
const SMTP_DEADLINE: Duration = Duration::from_secs(30);

/// What went wrong talking to the SMTP server, in words an operator can act
/// on. lettre's errors carry the server's reply, never the credentials.
fn smtp_error(shown: &str, e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        Some("535") => format!(
            "{shown}: authentication failed: the SMTP server refused the user name or password ({text})"
        ),
        Some("530") if text.to_lowercase().contains("auth") => format!(
            "{shown}: authentication required: the SMTP server wants a user name and password \
             (smtp://user:pass@host:port) ({text})"
        ),
        Some("534" | "538") => format!("{shown}: authentication refused: {text}"),
        _ if text.contains("No compatible authentication mechanism") => format!(
            "{shown}: authentication impossible: the SMTP server offers no sign-in method \
             this client supports (PLAIN, LOGIN) on this connection ({text})"
        ),
        _ if text.contains("STARTTLS is not supported") => format!(
            "{shown}: the SMTP server does not offer STARTTLS and the password is only sent \
             over TLS: use smtps://, or add ?tls=opportunistic to the URL to allow a plain \
             connection ({text})"
        ),
        _ => format!("{shown}: {text}"),
    }
}

/// Per-channel delivery status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelStatus {
    pub name: String,
    pub kind: &'static str,
    pub sent: u64,
    pub failed: u64,
    pub failing: bool,
    pub last_error: Option<String>,
}

/// An alert that could not be delivered after every retry.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub channel: String,
    pub alert: Alert,
    pub error: String,
    pub at: SystemTime,
}

/// What delivery has done (the audit service sends copies to the pane).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertState {
    pub channels: Vec<ChannelStatus>,
    pub dead: VecDeque<DeadLetter>,
    pub folded: u64,
}

impl AlertState {
    /// Nothing sent yet to any of `specs`.
    pub fn for_channels(specs: &[ChannelSpec]) -> Self {
        Self {
            channels: specs
                .iter()
                .map(|s| ChannelStatus {
                    name: s.name.clone(),
                    kind: s.kind.as_str(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

pub const DEAD_LETTER_CAPACITY: usize = 200;

/// How delivery retries.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// The alerting engine: feed it events; it routes, folds and hands alerts to
/// one delivery task per channel (so a slow channel never holds up another,
/// and nothing blocks the caller).
pub struct Alerter {
    rules: Vec<Rule>,
    specs: Vec<ChannelSpec>,
    folder: Folder,
    queues: HashMap<String, mpsc::Sender<Alert>>,
    pub state: Arc<Mutex<AlertState>>,
}

impl Alerter {
    /// Starts one delivery task per channel on the current tokio runtime.
    pub fn spawn(
        specs: Vec<ChannelSpec>,
        rules: Vec<Rule>,
        fold_window: Duration,
        retry: Retry,
    ) -> Result<Self, String> {
        let state = Arc::new(Mutex::new(AlertState::for_channels(&specs)));
        let mut queues = HashMap::new();
        for (i, spec) in specs.iter().enumerate() {
            let ch = Channel::new(spec.clone())?;
            let (tx, rx) = mpsc::channel(1024);
            tokio::spawn(deliver(ch, i, rx, state.clone(), retry));
            queues.insert(spec.name.clone(), tx);
        }
        Ok(Self {
            rules,
            specs,
            folder: Folder::new(fold_window),
            queues,
            state,
        })
    }

    /// Routes and folds `ev`; never waits.
    pub fn observe(&mut self, ev: &SecurityEvent, now: Instant) {
        let targets = route(&self.rules, &self.specs, ev);
        if targets.is_empty() {
            return;
        }
        match self.folder.observe(ev, now) {
            Some(alert) => self.dispatch(&targets, alert),
            None => self.state.lock().unwrap_or_else(|p| p.into_inner()).folded += 1,
        }
    }

    /// Sends the folded repeats of closed windows.
    pub fn tick(&mut self, now: Instant) {
        for alert in self.folder.expire(now) {
            let targets = route(&self.rules, &self.specs, &alert.event);
            self.dispatch(&targets, alert);
        }
    }

    fn dispatch(&self, targets: &[String], alert: Alert) {
        for t in targets {
            if let Some(q) = self.queues.get(t)
                && q.try_send(alert.clone()).is_err()
            {
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                push_dead(
                    &mut st,
                    DeadLetter {
                        channel: t.clone(),
                        alert: alert.clone(),
                        error: "delivery queue full".into(),
                        at: SystemTime::now(),
                    },
                );
            }
        }
    }
}

fn push_dead(st: &mut AlertState, d: DeadLetter) {
    if st.dead.len() >= DEAD_LETTER_CAPACITY {
        st.dead.pop_front();
    }
    st.dead.push_back(d);
}

async fn deliver(
    ch: Channel,
    index: usize,
    mut rx: mpsc::Receiver<Alert>,
    state: Arc<Mutex<AlertState>>,
    retry: Retry,
) {
    while let Some(alert) = rx.recv().await {
        let mut backoff = retry.first_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match ch.send(&alert).await {
                Ok(()) => {
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    let s = &mut st.channels[index];
                    s.sent += 1;
                    s.failing = false;
                    break;
                }
                Err(e) => {
                    {
                        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                        let s = &mut st.channels[index];
                        s.failing = true;
                        s.last_error = Some(e.clone());
                        if attempt >= retry.attempts {
                            s.failed += 1;
                            push_dead(
                                &mut st,
                                DeadLetter {
                                    channel: ch.spec.name.clone(),
                                    alert: alert.clone(),
                                    error: e,
                                    at: SystemTime::now(),
                                },
                            );
                        }
                    }
                    if attempt >= retry.attempts {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Severity;

    fn spec(name: &str) -> ChannelSpec {
        ChannelSpec {
            name: name.into(),
            kind: ChannelKind::Webhook,
            url: "http://127.0.0.1:1/".to_string().into(),
            to: vec![],
            from: None,
            ca_file: None,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_smtp_server_that_stalls_mid_dialogue_is_given_up_on() {
        // Greets, reads what comes, and never answers: the dialogue stalls
        // after the greeting, and the channel's deadline ends it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut conn, _) = listener.accept().await.unwrap();
            conn.write_all(b"220 stalling ESMTP\r\n").await.unwrap();
            let mut buf = [0u8; 512];
            while conn.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        });
        let channel = Channel::new(ChannelSpec {
            name: "mail".into(),
            kind: ChannelKind::Email,
            url: format!("smtp://alerts:pw-secret@127.0.0.1:{port}?tls=opportunistic").into(),
            to: vec!["oncall@example.test".into()],
            from: None,
            ca_file: None,
            ..Default::default()
        })
        .unwrap()
        .with_email_deadline(Duration::from_millis(300));
        let alert = Alert::new(SecurityEvent::new("x", Some("u"), json!({})), 1);
        let err = channel.send(&alert).await.unwrap_err();
        assert!(err.contains("did not finish within 0.3 s"), "{err}");
        assert!(!err.contains("pw-secret"), "{err}");
    }

    #[tokio::test]
    async fn a_password_goes_only_over_tls_even_if_it_reads_tls_equals() {
        // A server without STARTTLS that would take AUTH in the clear, and
        // notes whether it was offered a password.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (saw_auth_tx, saw_auth) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
            let (conn, _) = listener.accept().await.unwrap();
            let (read, mut write) = conn.into_split();
            write.write_all(b"220 plain ESMTP\r\n").await.unwrap();
            let mut lines = BufReader::new(read).lines();
            let mut auth = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                auth |= verb == "AUTH";
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" => b"250-plain\r\n250 AUTH PLAIN LOGIN\r\n",
                    "QUIT" => b"221 bye\r\n",
                    _ => b"235 ok\r\n",
                };
                if write.write_all(reply).await.is_err() {
                    break;
                }
            }
            let _ = saw_auth_tx.send(auth);
        });
        let channel = Channel::new(ChannelSpec {
            name: "mail".into(),
            kind: ChannelKind::Email,
            url: format!("smtp://alerts:pw-tls=x@127.0.0.1:{port}").into(),
            to: vec!["oncall@example.test".into()],
            from: None,
            ca_file: None,
            ..Default::default()
        })
        .unwrap();
        let alert = Alert::new(SecurityEvent::new("x", Some("u"), json!({})), 1);
        let err = channel.send(&alert).await.unwrap_err();
        assert!(err.contains("does not offer STARTTLS"), "{err}");
        assert!(!err.contains("pw-tls"), "{err}");
        assert_eq!(
            saw_auth.await,
            Ok(false),
            "the password was offered in the clear"
        );
    }

    #[test]
    fn default_rule_sends_critical_to_every_channel() {
        let chans = [spec("a"), spec("b")];
        let rules = [Rule::default_critical()];
        let mut ev = SecurityEvent::new("x", Some("u"), json!({}));
        assert!(route(&rules, &chans, &ev).is_empty());
        ev.severity = Severity::Critical;
        assert_eq!(route(&rules, &chans, &ev), ["a", "b"]);
        let typed = [Rule {
            types: vec!["x".into()],
            min_severity: None,
            channels: vec!["b".into()],
        }];
        ev.severity = Severity::Low;
        assert_eq!(route(&typed, &chans, &ev), ["b"]);
    }

    #[test]
    fn repeats_fold_into_one_alert_with_a_count() {
        let mut f = Folder::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let ev = SecurityEvent::new("mfa_lockout", Some("bob"), json!({}));
        let other = SecurityEvent::new("mfa_lockout", Some("eve"), json!({}));
        assert_eq!(f.observe(&ev, t0).unwrap().count, 1);
        assert!(f.observe(&other, t0).is_some());
        for i in 1..=4 {
            assert!(f.observe(&ev, t0 + Duration::from_secs(i)).is_none());
        }
        assert!(f.expire(t0 + Duration::from_secs(299)).is_empty());
        let folded = f.expire(t0 + Duration::from_secs(300));
        assert_eq!(folded.len(), 1);
        assert_eq!(folded[0].count, 4);
        assert_eq!(folded[0].event.user_id.as_deref(), Some("bob"));
        // A new window starts afresh.
        assert!(f.observe(&ev, t0 + Duration::from_secs(301)).is_some());
    }
}
