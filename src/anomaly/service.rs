//! The anomaly service of a console: follows this data dir's audit log for
//! detected anomalies (every `*_anomaly_detected` event), reads their marks
//! and the newest model's version from the store each second, and sends the
//! pane the whole view; the users with open anomalies go to the console's
//! shared state (the Sessions pane's badge). It also keeps the marks given
//! from the pane (as `anomaly mark` does: audited, by the acting operator).

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::triage::{self, Anomaly, Status};
use crate::audit::SecurityEvent;
use crate::audit::source::LocalFollower;
use crate::display::clean_line;
use crate::service::{Backend, Health, HealthState, Level, ServiceEvent};

pub const NAME: &str = "anomaly";

/// How often the log and the marks are read again.
pub const POLL: Duration = Duration::from_secs(1);

/// The most anomalies kept (the newest).
pub const KEEP: usize = 10_000;

/// Most bytes of the log read in one step.
const STEP: u64 = 8 << 20;

/// What every anomaly event's line holds (its type's end, as serde writes it).
const DETECTED_NEEDLE: &[u8] = b"_anomaly_detected\"";

/// What the pane shows.
#[derive(Debug, Default)]
pub struct View {
    /// Oldest first.
    pub anomalies: Vec<Anomaly>,
    /// The newest sign-in model's version (`None`: none was trained).
    pub model: Option<u64>,
    /// What could not be read (the view is then partial).
    pub problem: Option<String>,
}

#[derive(Clone, Debug)]
pub enum AnomalyEvent {
    View(Arc<View>),
}

pub type Events = crate::service::Sink<AnomalyEvent>;

#[derive(Debug)]
pub enum AnomalyRequest {
    /// Read again now.
    Refresh,
    /// Mark the anomaly with this (whole) id, by the acting operator.
    Mark {
        id: String,
        status: Status,
        by: Option<String>,
    },
}

impl crate::service::DomainRequestKind for AnomalyRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            AnomalyRequest::Refresh => None,
            AnomalyRequest::Mark { .. } => Some("anomaly.mark"),
        }
    }
}

#[derive(Clone)]
pub struct AnomalyHandle {
    tx: mpsc::Sender<AnomalyRequest>,
}

impl crate::service::Handle for AnomalyHandle {
    fn domain(&self) -> &'static str {
        NAME
    }
    /// A mark is kept as given by the acting operator.
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        let Ok((actor, mut r)) = req.take::<AnomalyRequest>() else {
            return false;
        };
        if let AnomalyRequest::Mark { by, .. } = &mut r {
            *by = actor;
        }
        self.tx.try_send(r).is_ok()
    }
    fn probe(&self) {
        let _ = self.tx.try_send(AnomalyRequest::Refresh);
    }
}

/// What the service reads and where it records.
struct Inputs {
    store: Arc<crate::store::Store>,
    log: crate::audit::Audit,
    dir: PathBuf,
    state: Mutex<Followed>,
}

/// The detected events read so far.
struct Followed {
    follower: LocalFollower,
    events: VecDeque<SecurityEvent>,
}

impl Inputs {
    /// Reads what the log gained, the marks and the model's version.
    fn read(&self) -> View {
        let mut problems = Vec::new();
        // Only lines naming an anomaly type are parsed.
        let needle = memchr::memmem::Finder::new(DETECTED_NEEDLE);
        let events: Vec<SecurityEvent> = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                // In steps: a long log is read with bounded memory.
                let (chunks, more) = match st.follower.poll_step(STEP) {
                    Ok(read) => read,
                    Err(e) => {
                        problems.push(format!(
                            "the audit log in {} does not read: {e}",
                            self.dir.display()
                        ));
                        break;
                    }
                };
                for c in &chunks {
                    for line in c.split(|b| *b == b'\n') {
                        if needle.find(line).is_none() {
                            continue;
                        }
                        if let Ok(ev) = serde_json::from_slice::<SecurityEvent>(line)
                            && triage::is_detected(&ev.event_type)
                        {
                            st.events.push_back(ev);
                        }
                    }
                }
                while st.events.len() > KEEP {
                    st.events.pop_front();
                }
                if !more {
                    break;
                }
            }
            st.events.iter().cloned().collect()
        };
        let marks = triage::all(&self.store).unwrap_or_else(|e| {
            problems.push(format!(
                "the marks do not read, so statuses are unknown (shown as new): {e:#}"
            ));
            Default::default()
        });
        let model = super::logins::latest_version(&self.store).unwrap_or_else(|e| {
            problems.push(format!("the models do not read: {e:#}"));
            None
        });
        View {
            anomalies: events
                .into_iter()
                .map(|e| Anomaly::new(e, &marks))
                .collect(),
            model,
            problem: problems.into_iter().next(),
        }
    }

    /// Keeps a mark: the status line's words, or why nothing was kept.
    fn keep(&self, id: &str, status: Status, by: Option<String>) -> Result<String, String> {
        let by = by.ok_or("no operator is signed in")?;
        let found = {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.events.iter().find(|e| e.id == id).cloned()
        };
        let ev = found.ok_or_else(|| format!("no anomaly {} in the log", triage::short(id)))?;
        let marks = triage::all(&self.store).map_err(|e| format!("{e:#}"))?;
        let a = Anomaly::new(ev, &marks);
        let (_, was) = triage::record_mark(&self.store, &self.log, &a, status, &by)
            .map_err(|e| format!("{e:#}"))?;
        Ok(format!(
            "anomaly {} ({} {}) marked {} (was {})",
            triage::short(a.id()),
            clean_line(a.kind()),
            clean_line(a.entity()),
            status.as_str(),
            was.as_str()
        ))
    }
}

/// The users whose anomalies are still open.
pub fn flagged(view: &View) -> BTreeSet<String> {
    view.anomalies
        .iter()
        .filter(|a| a.status().is_open())
        .filter_map(|a| a.event.user_id.clone())
        .collect()
}

/// What the pane would see differently: the anomalies, their marks, the
/// model and the problem.
fn signature(view: &View) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for a in &view.anomalies {
        a.id().hash(&mut h);
        a.status().hash(&mut h);
        a.mark.as_ref().map(|m| (&m.by, &m.at)).hash(&mut h);
    }
    view.model.hash(&mut h);
    view.problem.hash(&mut h);
    h.finish()
}

/// The anomaly domain's part of a console: its service and its pane.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let dir = ctx.data_dir.join("audit");
    let inputs = Inputs {
        store: ctx.store.clone(),
        log: ctx.audit.clone(),
        state: Mutex::new(Followed {
            follower: LocalFollower::from_start(&dir),
            events: VecDeque::new(),
        }),
        dir,
    };
    let (tx, rx) = ctx.wake.channel();
    let handle = spawn(inputs, Events::new(ctx.events.clone(), tx));
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::AnomalyPane::new(rx))),
        handle: Some(Arc::new(handle)),
    })
}

fn spawn(inputs: Inputs, events: Events) -> AnomalyHandle {
    let inputs = Arc::new(inputs);
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_health: Option<Health> = None;
        let mut last_flagged: Option<BTreeSet<String>> = None;
        let mut last_sig: Option<u64> = None;
        let mut last_sent = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                req = rx.recv() => match req {
                    None => return,
                    Some(AnomalyRequest::Refresh) => {}
                    Some(AnomalyRequest::Mark { id, status, by }) => {
                        let i = inputs.clone();
                        let kept = tokio::task::spawn_blocking(move || i.keep(&id, status, by))
                            .await
                            .unwrap_or_else(|e| Err(format!("stopped: {e}")));
                        let (level, line) = match kept {
                            Ok(line) => (Level::Info, line),
                            Err(e) => (Level::Error, format!("nothing was marked: {e}")),
                        };
                        crate::service::outcome(&events, NAME, level, line).await;
                    }
                },
            }
            // The log and the store are files: off the runtime's workers.
            let i = inputs.clone();
            let Ok(view) = tokio::task::spawn_blocking(move || i.read()).await else {
                continue;
            };
            let health = Health {
                state: if view.problem.is_none() {
                    HealthState::Connected
                } else {
                    HealthState::Degraded
                },
                backend: Backend::Embedded,
                target: inputs.dir.display().to_string(),
                rtt: None,
                last_error: view.problem.clone(),
            };
            if last_health.as_ref() != Some(&health) {
                last_health = Some(health.clone());
                let _ = events
                    .send(ServiceEvent::Health {
                        service: NAME,
                        health,
                    })
                    .await;
            }
            let users = flagged(&view);
            if last_flagged.as_ref() != Some(&users) {
                last_flagged = Some(users.clone());
                let _ = events
                    .send(ServiceEvent::Flagged {
                        service: NAME,
                        users: Arc::new(users),
                    })
                    .await;
            }
            // Sent when it changed (and once a minute, for the sparkline's hours).
            let sig = signature(&view);
            if last_sig != Some(sig) || last_sent.elapsed() >= Duration::from_secs(60) {
                last_sig = Some(sig);
                last_sent = std::time::Instant::now();
                if !events.emit(AnomalyEvent::View(Arc::new(view))).await {
                    return; // the pane is gone
                }
            }
        }
    });
    AnomalyHandle { tx }
}
