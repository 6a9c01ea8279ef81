//! The console's side of Alertmanager: polls the alerts WindFlow sent and
//! the silences (for the Audit pane), and creates and expires silences on
//! the pane's requests (`:silence`, `:unsilence`), each recorded in the
//! audit log as the operator the console signed in. The console checks the
//! role and step-up of `alerts.silence` before a request reaches here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::sync::mpsc;

use super::alertmanager::{AmAlert, AmClient, Matcher, NewSilence, Silence};
use super::service::{AuditEvent, Events, SERVICE};
use super::settings::{AuditSettings, ChannelKind};
use crate::audit::Audit;
use crate::service::{Level, ServiceEvent};

/// How often Alertmanager is asked for its alerts and silences.
const POLL: Duration = Duration::from_secs(2);

/// What Alertmanager said at its last poll.
#[derive(Clone, Debug, PartialEq)]
pub struct AmView {
    pub channel: String,
    /// The alerts WindFlow sent that it holds, with their state.
    pub alerts: Vec<AmAlert>,
    /// Active and pending silences first.
    pub silences: Vec<Silence>,
    /// The poll failed: what is shown is from before (or nothing).
    pub error: Option<String>,
}

impl AmView {
    /// The silence `id`, if listed.
    pub fn silence(&self, id: &str) -> Option<&Silence> {
        self.silences.iter().find(|s| s.id == id)
    }
}

/// What the pane asks of the audit service.
#[derive(Debug)]
pub enum AuditRequest {
    Silence {
        matchers: Vec<Matcher>,
        duration: Duration,
        comment: String,
    },
    Unsilence {
        id: String,
    },
}

impl crate::service::DomainRequestKind for AuditRequest {
    const DOMAIN: &'static str = SERVICE;
    fn permission(&self) -> Option<&'static str> {
        match self {
            AuditRequest::Silence { .. } | AuditRequest::Unsilence { .. } => Some("alerts.silence"),
        }
    }
}

#[derive(Clone)]
pub struct AuditHandle {
    tx: mpsc::Sender<(Option<String>, AuditRequest)>,
}

impl crate::service::Handle for AuditHandle {
    fn domain(&self) -> &'static str {
        SERVICE
    }
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        req.take::<AuditRequest>()
            .is_ok_and(|r| self.tx.try_send(r).is_ok())
    }
}

/// Starts the poller and request handler for the first Alertmanager
/// channel, if one is configured.
pub fn spawn(settings: &AuditSettings, audit: Audit, events: Events) -> Option<Arc<AuditHandle>> {
    let spec = settings
        .channels
        .iter()
        .find(|c| c.kind == ChannelKind::Alertmanager)?;
    let client = match AmClient::new(spec) {
        Ok(c) => c,
        Err(e) => {
            let _ = events.try_send(ServiceEvent::Activity {
                service: SERVICE,
                level: Level::Error,
                message: format!("Alertmanager: {e}"),
                at: SystemTime::now(),
            });
            return None;
        }
    };
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(run(client, audit, events, rx));
    Some(Arc::new(AuditHandle { tx }))
}

async fn run(
    client: AmClient,
    audit: Audit,
    events: Events,
    mut rx: mpsc::Receiver<(Option<String>, AuditRequest)>,
) {
    let mut last: Option<AmView> = None;
    loop {
        let view = poll(&client, last.as_ref()).await;
        if last.as_ref() != Some(&view) {
            if !events.emit(AuditEvent::Alertmanager(view.clone())).await {
                return;
            }
            last = Some(view);
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            req = rx.recv() => match req {
                Some((actor, req)) => act(&client, &audit, &events, actor, req).await,
                None => return,
            },
        }
    }
}

async fn poll(client: &AmClient, last: Option<&AmView>) -> AmView {
    let got = async { Ok::<_, String>((client.alerts().await?, client.silences().await?)) }.await;
    match got {
        Ok((alerts, silences)) => AmView {
            channel: client.name().to_owned(),
            alerts,
            silences: crate::cli::alerts::ordered(silences, false),
            error: None,
        },
        Err(e) => AmView {
            error: Some(e),
            ..last.cloned().unwrap_or(AmView {
                channel: client.name().to_owned(),
                alerts: Vec::new(),
                silences: Vec::new(),
                error: None,
            })
        },
    }
}

/// Does what the pane asked, records it, and says how it ended.
async fn act(
    client: &AmClient,
    audit: &Audit,
    events: &Events,
    actor: Option<String>,
    req: AuditRequest,
) {
    let outcome = |level, message: String| {
        let events = events.clone();
        async move { crate::service::outcome(&events, SERVICE, level, message).await }
    };
    // The console fills in who acts; without one, nothing is done.
    let Some(actor) = actor else {
        return outcome(Level::Error, "refused: no signed-in operator".into()).await;
    };
    match req {
        AuditRequest::Silence {
            matchers,
            duration,
            comment,
        } => {
            let new = NewSilence {
                matchers,
                duration,
                created_by: actor.clone(),
                comment,
            };
            match client.create_silence(&new).await {
                Ok(id) => {
                    let details = crate::cli::alerts::silenced_details(&new, &id, client.name());
                    let recorded = audit.emit("alert_silenced", Some(&actor), details);
                    let shown = crate::display::clean_line(&id).into_owned();
                    match recorded {
                        Ok(_) => outcome(Level::Info, format!("silence {shown} created")).await,
                        Err(e) => outcome(
                            Level::Error,
                            format!(
                                "silence {shown} created, but the audit log cannot record it: {e}"
                            ),
                        )
                        .await,
                    }
                }
                Err(e) => outcome(Level::Error, format!("silence not created: {e}")).await,
            }
        }
        AuditRequest::Unsilence { id } => {
            let shown = crate::display::clean_line(&id).into_owned();
            match client.expire_silence(&id).await {
                Ok(()) => {
                    let recorded = audit.emit(
                        "alert_unsilenced",
                        Some(&actor),
                        json!({"silence_id": id, "channel": client.name()}),
                    );
                    match recorded {
                        Ok(_) => outcome(Level::Info, format!("silence {shown} expired")).await,
                        Err(e) => outcome(
                            Level::Error,
                            format!(
                                "silence {shown} expired, but the audit log cannot record it: {e}"
                            ),
                        )
                        .await,
                    }
                }
                Err(e) => outcome(Level::Error, format!("silence {shown} not expired: {e}")).await,
            }
        }
    }
}
