//! What the agents of a data dir say of themselves: each writes a heartbeat
//! to the store once a second, which `windflow agent status` and the
//! console's service row read, with the lock that says whether any runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{LOCK_FILE, Leadership, fail, unix_now};
use crate::cli::CliError;
use crate::cli::audit::spool_dir;
use crate::config::Config;
use crate::store::Store;

/// A heartbeat older than this means the agent is stuck.
const STALE: i64 = 10;
/// A heartbeat of another host older than this is no longer shown.
const FOREIGN_GONE: i64 = 60;
/// Where heartbeats are kept in the store.
pub(super) const NS: &str = "agent";
pub(super) const BEAT_PREFIX: &str = "beat:";

/// What an agent says of itself in the store, once a second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The agent's random token (also in its lease value).
    pub id: String,
    pub pid: u32,
    pub host: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds.
    pub last_heartbeat: i64,
    /// Whether this agent delivers the data dir's alerts (a console may).
    pub dispatching: bool,
    pub leadership: Leadership,
    /// The Redis key of the lease, when one is configured.
    pub lease_key: Option<String>,
}

/// One running agent, as `agent status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AgentView {
    pub pid: u32,
    pub host: String,
    pub started_at: i64,
    pub last_heartbeat: i64,
    pub leader: Option<bool>,
    pub leader_reason: Option<String>,
    pub delivers_alerts: bool,
}

impl From<&Heartbeat> for AgentView {
    fn from(b: &Heartbeat) -> Self {
        Self {
            pid: b.pid,
            host: b.host.clone(),
            started_at: b.started_at,
            last_heartbeat: b.last_heartbeat,
            leader: b.leadership.leader(),
            leader_reason: b.leadership.reason(),
            delivers_alerts: b.dispatching,
        }
    }
}

/// `windflow agent status`: the leading agent (else the freshest one) and
/// every agent that runs.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub running: bool,
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub started_at: Option<i64>,
    pub last_heartbeat: Option<i64>,
    pub owed_alerts: usize,
    pub spool_depth: u64,
    /// Whether the agent shown does the leader's duties: true without a
    /// lease; with one, whether it holds it (null: Redis does not say).
    pub leader: Option<bool>,
    pub leader_reason: Option<String>,
    /// Whether the agent shown delivers the alerts (else a console does).
    pub delivers_alerts: bool,
    pub lease_key: Option<String>,
    pub agents: Vec<AgentView>,
}

/// Whether an agent holds the lock of `data_dir` now.
pub fn running(data_dir: &Path) -> bool {
    let path = data_dir.join(LOCK_FILE);
    if !path.exists() {
        return false;
    }
    match crate::fsutil::open_owned(&path, false) {
        Ok(f) => matches!(crate::fsutil::try_flock(&f), Ok(false)),
        Err(_) => false,
    }
}

/// Every heartbeat in the store, with its key.
fn heartbeats(store: &Store) -> Result<Vec<(String, Heartbeat)>, String> {
    Ok(store
        .list(NS, BEAT_PREFIX)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|(k, v)| serde_json::from_slice(&v).ok().map(|b| (k, b)))
        .collect())
}

/// Whether the agent of `b` may still run: on this host, its process is
/// there; on another, its heartbeat is recent.
fn alive(b: &Heartbeat, host: &str, now: i64) -> bool {
    if b.host == host {
        crate::host::windflow_alive(b.pid)
    } else {
        now - b.last_heartbeat <= FOREIGN_GONE
    }
}

/// What the store and the lock say of the agents of `data_dir`.
pub fn status(data_dir: &Path) -> Result<Status, String> {
    let running = running(data_dir);
    let (beats, owed) = if data_dir.join(crate::store::FILE_NAME).exists() {
        let store = Store::open(data_dir).map_err(|e| e.to_string())?;
        let owed = crate::audit::owed::owed(&store).map_err(|e| e.to_string())?;
        (heartbeats(&store)?, owed)
    } else {
        (Vec::new(), 0)
    };
    // Only an existing spool is read: a status query makes no folders.
    let spool = spool_dir(data_dir);
    let spool_depth = if spool.exists() {
        crate::audit::spool::Spool::open(&spool)
            .and_then(|s| s.pending())
            .unwrap_or(0)
    } else {
        0
    };
    let (host, now) = (crate::host::name(), unix_now());
    let mut live: Vec<Heartbeat> = beats
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| running && alive(b, &host, now))
        .collect();
    // The leader first, then the freshest.
    live.sort_by_key(|b| {
        (
            std::cmp::Reverse(b.leadership.leads()),
            std::cmp::Reverse(b.last_heartbeat),
        )
    });
    let shown = live.first();
    Ok(Status {
        running,
        pid: shown.map(|b| b.pid),
        host: shown.map(|b| b.host.clone()),
        started_at: shown.map(|b| b.started_at),
        last_heartbeat: shown.map(|b| b.last_heartbeat),
        owed_alerts: owed,
        spool_depth,
        // No agent at all is plainly not a leader; Redis not saying stays null.
        leader: shown.map_or(Some(false), |b| b.leadership.leader()),
        leader_reason: match shown {
            Some(b) => b.leadership.reason(),
            None if running => Some("no heartbeat yet".into()),
            None => None,
        },
        delivers_alerts: shown.is_some_and(|b| b.dispatching),
        lease_key: shown.and_then(|b| b.lease_key.clone()),
        agents: live.iter().map(AgentView::from).collect(),
    })
}

/// `windflow agent status [--json] [--check]`: exit 0 whether or not one
/// runs; with `--check`, 1 unless one runs with a fresh heartbeat.
pub fn run_status(config: &Config, as_json: bool, check: bool) -> Result<ExitCode, CliError> {
    let st = status(&config.paths.data_dir).map_err(fail)?;
    let text = if as_json {
        serde_json::to_string_pretty(&st).map_err(fail)?
    } else if st.running {
        let mut text = format!(
            "agent running: pid {} on {}, last heartbeat {} s ago; {}; {}; {} alert(s) owed, {} event(s) in the Elasticsearch spool",
            st.pid.map_or("?".into(), |p| p.to_string()),
            st.host.as_deref().unwrap_or("?"),
            st.last_heartbeat
                .map_or("?".into(), |t| (unix_now() - t).max(0).to_string()),
            match (st.leader, &st.lease_key) {
                (Some(true), Some(key)) => format!("it leads (lease {key} in Redis)"),
                (Some(true), None) => "it leads".to_owned(),
                _ => st.leader_reason.clone().unwrap_or_default(),
            },
            if st.delivers_alerts {
                "it delivers alerts"
            } else {
                "it does not deliver alerts (a console does, or it does not lead)"
            },
            st.owed_alerts,
            st.spool_depth,
        );
        for a in st.agents.iter().skip(1) {
            text.push_str(&format!(
                "\nalso running: pid {} on {}, {}",
                a.pid,
                a.host,
                a.leader_reason.as_deref().unwrap_or("leading")
            ));
        }
        text
    } else {
        format!(
            "no agent runs for {}: alerts go out only while a console or a command runs \
             ({} owed); start one with `windflow agent`",
            config.paths.data_dir.display(),
            st.owed_alerts
        )
    };
    println!("{}", crate::display::UntrustedLines(&text));
    let fresh = st.last_heartbeat.is_some_and(|t| unix_now() - t <= STALE);
    Ok(if check && !(st.running && fresh) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// For the console: the agent of `data_dir` as a service row, read every
/// 2 s: running where and its last heartbeat, or plainly what its absence
/// means.
pub async fn watch(data_dir: PathBuf, tx: crate::service::EventTx) {
    use crate::service::{Backend, Health, HealthState, ServiceEvent};
    loop {
        let dir = data_dir.clone();
        let st = tokio::task::spawn_blocking(move || status(&dir)).await;
        let health = match st {
            Ok(Ok(st)) if st.running => {
                let age = st.last_heartbeat.map(|t| (unix_now() - t).max(0));
                let stale = age.is_none_or(|a| a > STALE);
                let target = format!(
                    "pid {} on {}, heartbeat {} s ago{}",
                    st.pid.map_or("?".into(), |p| p.to_string()),
                    st.host.as_deref().unwrap_or("?"),
                    age.map_or("?".into(), |a| a.to_string()),
                    if st.delivers_alerts {
                        ", delivers alerts"
                    } else {
                        ""
                    }
                );
                let problem = if stale {
                    Some("the agent's heartbeat is stale: is it stuck? see its log".to_owned())
                } else if st.leader != Some(true) {
                    st.leader_reason.clone()
                } else {
                    None
                };
                Health {
                    state: if problem.is_some() {
                        HealthState::Degraded
                    } else {
                        HealthState::Connected
                    },
                    backend: Backend::Real(target.clone()),
                    target,
                    rtt: None,
                    last_error: problem,
                }
            }
            Ok(Ok(st)) => Health {
                state: HealthState::Stopped,
                backend: Backend::InProcess,
                target: format!(
                    "not running: alerts go out only while a console or a command runs \
                     ({} owed); start `windflow agent`",
                    st.owed_alerts
                ),
                rtt: None,
                last_error: None,
            },
            Ok(Err(e)) => Health {
                state: HealthState::Degraded,
                backend: Backend::InProcess,
                target: data_dir.display().to_string(),
                rtt: None,
                last_error: Some(format!("cannot read the agent's status: {e}")),
            },
            Err(_) => return,
        };
        if tx
            .send(ServiceEvent::Health {
                service: "agent",
                health,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Removes the heartbeats of agents that are gone: on this host, their
/// process is; on another, their heartbeat is a day old.
pub(super) fn prune(store: &Store, host: &str) {
    let now = unix_now();
    let Ok(beats) = heartbeats(store) else { return };
    for (key, b) in beats {
        let gone = if b.host == host {
            !crate::host::windflow_alive(b.pid)
        } else {
            now - b.last_heartbeat > 86_400
        };
        if gone {
            let _ = store.delete(NS, &key);
        }
    }
}
