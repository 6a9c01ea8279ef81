//! `windflow agent`: the headless runtime for the duties that must run while
//! nobody watches. It delivers owed alerts (whenever no console does), ships
//! the Elasticsearch spool, finishes interrupted secret rotations, runs their
//! clean-ups and the scheduled rotations (`every` on a rotation rule).
//!
//! Without Redis, one agent runs per data dir (an exclusive lock) and does
//! all of it. With Redis configured (`WINDFLOW_REDIS_URL`), several agents
//! may run for one data dir (a shared lock) for high availability: a lease
//! in Redis ([`lease`]) elects the one that does the duties; the others stand
//! by and take over within the lease time when it dies. A leader that cannot
//! renew stops its duties at once, and a standby never starts them before
//! the lease is its own.
//!
//! Each agent writes a heartbeat to the store that `windflow agent status`
//! and the console read. It logs JSON lines to stderr. SIGTERM or SIGINT
//! stops it within a few seconds: a delivery in flight is finished or left
//! owed, and a held lease is released.

pub mod lease;
pub mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use crate::audit::alert::AlertState;
use crate::audit::settings::AuditSettings;
use crate::cli::CliError;
use crate::cli::audit::spool_dir;
use crate::config::Config;
use crate::store::Store;
use lease::{Acquired, Holder, Lease};
use settings::AgentSettings;

/// The lock file in the data dir that running agents hold.
pub const LOCK_FILE: &str = "agent.lock";
/// How often an agent writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often the dispatcher looks for new events to alert on.
const ALERT_POLL: Duration = Duration::from_millis(50);
/// How often interrupted rotations and due clean-ups are looked for.
const ROTATION_POLL: Duration = Duration::from_secs(30);
/// The longest a scheduled-rotation pass waits for the next one: rules and
/// secrets added meanwhile are seen within this.
const SCHEDULE_POLL: Duration = Duration::from_secs(60);
/// The longest a stop waits for the duties to finish.
const STOP_WAIT: Duration = Duration::from_secs(4);
/// A heartbeat older than this means the agent is stuck.
const STALE: i64 = 10;
/// A heartbeat of another host older than this is no longer shown.
const FOREIGN_GONE: i64 = 60;
/// Every this many heartbeats, the heartbeats of dead agents are removed.
const PRUNE_EVERY: u32 = 30;

const NS: &str = "agent";
const BEAT_PREFIX: &str = "beat:";
/// A random id made once per store: the default lease key, so agents share a
/// lease exactly when they share a store.
const SCOPE_KEY: &str = "lease_scope";

/// Whether an agent does the leader's duties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Leadership {
    /// No lease is configured: the data dir's only agent (the lock) leads.
    Sole,
    /// Holds the lease.
    Leader,
    /// Another agent holds the lease.
    Standby { holder: Option<String> },
    /// Redis does not say: does not lead.
    Unknown { reason: String },
}

impl Leadership {
    pub fn leads(&self) -> bool {
        matches!(self, Leadership::Sole | Leadership::Leader)
    }

    /// Whether it leads: `None` when that cannot be known.
    pub fn leader(&self) -> Option<bool> {
        match self {
            Leadership::Sole | Leadership::Leader => Some(true),
            Leadership::Standby { .. } => Some(false),
            Leadership::Unknown { .. } => None,
        }
    }

    /// Why it does not lead.
    pub fn reason(&self) -> Option<String> {
        match self {
            Leadership::Sole | Leadership::Leader => None,
            Leadership::Standby { holder } => Some(format!(
                "standing by: the lease is held by {}",
                holder.as_deref().unwrap_or("another agent")
            )),
            Leadership::Unknown { reason } => Some(format!("not leading: {reason}")),
        }
    }
}

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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One JSON line on stderr.
fn log(level: &str, message: &str, fields: serde_json::Value) {
    use std::io::Write;
    let mut line = json!({
        "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "level": level,
        "msg": message,
    });
    if let (Some(l), Some(f)) = (line.as_object_mut(), fields.as_object()) {
        l.extend(f.clone());
    }
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(anyhow::anyhow!("{e}"))
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

/// Takes the agents' lock of `data_dir`: exclusive without a lease (one
/// agent), shared with one (the lease elects among them). `agent status`
/// (and the console's row) take it for an instant to see whether an agent
/// holds it: tries for a second before saying so.
fn take_lock(data_dir: &Path, shared: bool) -> Result<std::fs::File, CliError> {
    let file = crate::fsutil::open_owned(&data_dir.join(LOCK_FILE), true).map_err(fail)?;
    for _ in 0..20 {
        let taken = if shared {
            crate::fsutil::try_flock_shared(&file)
        } else {
            crate::fsutil::try_flock(&file)
        };
        if taken.map_err(fail)? {
            return Ok(file);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = status(data_dir)
        .ok()
        .and_then(|s| s.pid)
        .map_or("?".into(), |p| p.to_string());
    Err(CliError::Failure(anyhow::anyhow!(
        "{} for {} (pid {pid}): {}",
        if shared {
            "an agent without a lease already runs"
        } else {
            "an agent already runs"
        },
        data_dir.display(),
        if shared {
            "agents of one data dir either all use the lease in Redis (WINDFLOW_REDIS_URL) or one runs alone"
        } else {
            "one per data dir, unless every agent of the data dir uses a lease in Redis (set WINDFLOW_REDIS_URL)"
        }
    )))
}

/// The store's random scope id, made once: the default lease key's suffix.
fn store_scope(store: &Store) -> Result<String, String> {
    store
        .transaction(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO kv (ns, key, value, updated_at) VALUES (?1, ?2, ?3, unixepoch())",
                rusqlite::params![NS, SCOPE_KEY, hex::encode(rand::random::<[u8; 12]>()).into_bytes()],
            )?;
            tx.query_row(
                "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
                rusqlite::params![NS, SCOPE_KEY],
                |r| r.get::<_, Vec<u8>>(0),
            )
        })
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .map_err(|e| e.to_string())
}

/// `windflow agent`: runs until SIGTERM or SIGINT. With `redis_url`, the
/// lease in that Redis elects the leader among the data dir's agents.
pub fn run(config: &Config, redis_url: Option<&str>) -> Result<ExitCode, CliError> {
    let data_dir = config.paths.data_dir.clone();
    crate::fsutil::private_dir(&data_dir).map_err(fail)?;
    let agent_settings = AgentSettings::from_config(config).map_err(CliError::Usage)?;
    let tls = match redis_url {
        Some(url) => Some(
            crate::sessions::settings::RedisTls::checked(config, Some(url))
                .map_err(CliError::Usage)?,
        ),
        None => None,
    };
    let lock_file = take_lock(&data_dir, redis_url.is_some())?;
    let settings = AuditSettings::from_config(config).map_err(CliError::Usage)?;
    let store = Store::open(&data_dir).map_err(fail)?;
    crate::audit::owed::prepare(&store, &data_dir.join("audit")).map_err(fail)?;
    let host = crate::host::name();
    let me = Holder::me(&host);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?;
    let lease = match (redis_url, &tls) {
        (Some(url), Some(tls)) => {
            let key = match &agent_settings.lease_key {
                Some(k) => k.clone(),
                None => format!(
                    "windflow:agent:lease:{}",
                    store_scope(&store).map_err(fail)?
                ),
            };
            let _rt = runtime.enter();
            Some(Lease::new(url, tls, &key, agent_settings.lease, &me).map_err(CliError::Usage)?)
        }
        _ => None,
    };
    let ctx = Duties {
        data_dir,
        secrets: open_secrets(config, &store, &host),
        settings,
        store,
        dispatching: Arc::new(AtomicBool::new(false)),
    };
    let code = runtime.block_on(serve(ctx, lease, agent_settings.renew, me, config));
    runtime.shutdown_timeout(Duration::from_millis(200));
    drop(lock_file);
    code
}

/// The secrets domain for rotations, when it is configured; it acts as
/// `agent@HOST`.
fn open_secrets(
    config: &Config,
    store: &Arc<Store>,
    host: &str,
) -> Option<crate::secrets::Secrets> {
    let keyring = crate::crypto::Keyring::from_env_or_file(
        &config.paths.data_dir.join(crate::crypto::KEY_FILE_NAME),
        false,
    );
    let keyring = match keyring {
        Ok(k) => Arc::new(k),
        Err(e) => {
            log(
                "info",
                "rotations are off until a master key exists",
                json!({ "reason": e.to_string() }),
            );
            return None;
        }
    };
    // The same audit handle as every command: the local log, the
    // Elasticsearch spool (which the leader ships) and so the alerts.
    let audit = match crate::cli::audit::cli_audit(config) {
        Ok(a) => a.with_origin(crate::audit::Origin::detect(concat!(
            "windflow-agent/",
            env!("CARGO_PKG_VERSION")
        ))),
        Err(e) => {
            log(
                "error",
                "rotations are off: the audit settings do not resolve",
                json!({ "error": e.to_string() }),
            );
            return None;
        }
    };
    let actor = format!("agent@{host}");
    match crate::secrets::service::from_config(config, store.clone(), keyring, audit, &actor) {
        Ok(s) => Some(s),
        Err(e) => {
            log(
                "error",
                "rotations are off: the secrets settings do not resolve",
                json!({ "error": e.to_string() }),
            );
            None
        }
    }
}

/// What the leader's duties need.
struct Duties {
    data_dir: PathBuf,
    settings: AuditSettings,
    store: Arc<Store>,
    secrets: Option<crate::secrets::Secrets>,
    /// Whether this agent delivers alerts now.
    dispatching: Arc<AtomicBool>,
}

/// The leader's duties while they run.
struct Running {
    tasks: tokio::task::JoinSet<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Duties {
    fn start(&self) -> Running {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        self.alerts(&mut tasks, &stop);
        self.shipping(&mut tasks, &stop);
        if let Some(s) = &self.secrets {
            tasks.spawn(rotations(s.clone(), stop.clone()));
            if !crate::secrets::schedule::rules(s).is_empty() {
                tasks.spawn(scheduled(s.clone(), stop.clone()));
            }
        }
        Running {
            tasks,
            stop: stop_tx,
        }
    }

    /// Alerts: whenever no console delivers them.
    fn alerts(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) {
        if self.settings.channels.is_empty() {
            log(
                "info",
                "no alert channel is configured: no alerts to deliver",
                json!({}),
            );
            return;
        }
        let d = self.dispatching.clone();
        tasks.spawn(crate::audit::owed::serve(
            self.store.clone(),
            self.data_dir.clone(),
            self.settings.clone(),
            Arc::new(Mutex::new(AlertState::default())),
            ALERT_POLL,
            stop.clone(),
            move |who| {
                d.store(matches!(who, Ok(true)), Ordering::Relaxed);
                match who {
                    Ok(true) => log("info", "delivering alerts", json!({})),
                    Ok(false) => log(
                        "info",
                        "a console delivers alerts; taking over when it stops",
                        json!({}),
                    ),
                    Err(e) => log("error", "alerts are not delivered", json!({ "error": e })),
                }
            },
        ));
    }

    /// Elasticsearch: drain the spool that commands and consoles fill.
    fn shipping(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        stop: &tokio::sync::watch::Receiver<bool>,
    ) {
        let Some(es) = &self.settings.elasticsearch else {
            return;
        };
        let opened = crate::audit::elastic::EsClient::new(es)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                crate::audit::spool::Spool::open(&spool_dir(&self.data_dir))
                    .map(|s| (c, s))
                    .map_err(|e| e.to_string())
            });
        match opened {
            Ok((client, spool)) => {
                let (sink, shipper) = crate::audit::elastic::EsSink::new(client, spool, None);
                let mut stop = stop.clone();
                tasks.spawn(async move {
                    let _sink = sink;
                    tokio::select! {
                        _ = shipper => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                });
            }
            Err(e) => log(
                "error",
                "events are not shipped to Elasticsearch",
                json!({ "error": e }),
            ),
        }
    }
}

impl Running {
    /// At once: a leader that lost its lease must not act on it a moment
    /// longer. Work cut short stays owed (alerts, the spool) or journaled
    /// (rotations) for the next leader.
    async fn abort(mut self, dispatching: &AtomicBool) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        dispatching.store(false, Ordering::Relaxed);
    }

    /// On a signal: in-flight work finishes, or is cut after [`STOP_WAIT`].
    async fn stop(mut self) -> bool {
        let _ = self.stop.send(true);
        let finished = tokio::time::timeout(STOP_WAIT, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !finished {
            self.tasks.abort_all();
        }
        finished
    }
}

/// Rotations: finish interrupted ones, clean up old versions when due.
async fn rotations(s: crate::secrets::Secrets, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match crate::secrets::rotation::recover(&s).await {
            Ok(done) => {
                for r in done.recovered {
                    log(
                        "info",
                        "finished an interrupted rotation",
                        json!({ "path": r.path, "action": r.action, "detail": r.detail }),
                    );
                }
                for u in done.unrecoverable {
                    log(
                        "error",
                        "an interrupted rotation cannot be finished; skipped",
                        json!({ "journal": u.id, "path": u.path, "error": u.error,
                                "fix": format!("windflow secrets recover --discard {}", u.id) }),
                    );
                }
            }
            Err(e) => log(
                "error",
                "rotation recovery",
                json!({ "error": e.to_string() }),
            ),
        }
        match crate::secrets::rotation::sweep(&s).await {
            Ok(done) if !done.deleted.is_empty() || !done.dropped.is_empty() => log(
                "info",
                "old secret versions cleaned up",
                json!({ "deleted": done.deleted, "dropped": done.dropped }),
            ),
            Ok(_) => {}
            Err(e) => log(
                "error",
                "rotation clean-up",
                json!({ "error": e.to_string() }),
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(ROTATION_POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Scheduled rotations: every secret whose rule has `every` and whose value
/// is that old is rotated, then the next one is waited for.
async fn scheduled(s: crate::secrets::Secrets, mut stop: tokio::sync::watch::Receiver<bool>) {
    use crate::secrets::rotation::Outcome;
    let mut retry = crate::secrets::schedule::Retry::default();
    loop {
        let wait = match crate::secrets::schedule::run_due(&s, &mut retry).await {
            Ok(pass) => {
                for out in &pass.rotated {
                    match out {
                        Outcome::Rotated {
                            path,
                            old_version,
                            new_version,
                            ..
                        } => log(
                            "info",
                            "rotated on schedule",
                            json!({ "path": path, "old_version": old_version, "new_version": new_version }),
                        ),
                        Outcome::RolledBack { path, reason, .. } => log(
                            "error",
                            "a scheduled rotation was rolled back",
                            json!({ "path": path, "reason": reason }),
                        ),
                    }
                }
                for (path, error) in &pass.failed {
                    log(
                        "error",
                        "a scheduled rotation failed; tried again later",
                        json!({ "path": path, "error": error }),
                    );
                }
                pass.next_in.min(SCHEDULE_POLL)
            }
            Err(e) => {
                log(
                    "error",
                    "scheduled rotations: cannot list the secrets",
                    json!({ "error": e.to_string() }),
                );
                ROTATION_POLL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Runs until a signal: the heartbeat, and with a lease, the election.
async fn serve(
    ctx: Duties,
    lease: Option<Lease>,
    renew: Duration,
    me: Holder,
    config: &Config,
) -> Result<ExitCode, CliError> {
    let started_at = unix_now();
    log(
        "info",
        "agent started",
        json!({
            "pid": me.pid,
            "host": me.host,
            "data_dir": ctx.data_dir.display().to_string(),
            "alert_channels": ctx.settings.channels.len(),
            "elasticsearch": ctx.settings.elasticsearch.as_ref().map(|e| e.shown()),
            "operator": config.operator,
            "lease": lease.as_ref().map(|l| json!({
                "redis": l.target(),
                "key": l.key(),
                "ttl_ms": l.ttl().as_millis() as u64,
                "renew_ms": renew.as_millis() as u64,
            })),
        }),
    );
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(fail)?;
    let mut int =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).map_err(fail)?;
    let mut elected = Election {
        leadership: if lease.is_some() {
            Leadership::Unknown {
                reason: "the lease was not asked for yet".into(),
            }
        } else {
            Leadership::Sole
        },
        running: lease.is_none().then(|| ctx.start()),
        valid_until: None,
        next_ask: Instant::now(),
    };
    let beat_key = format!("{BEAT_PREFIX}{}", me.token);
    let beat = |leadership: &Leadership| Heartbeat {
        id: me.token.clone(),
        pid: me.pid,
        host: me.host.clone(),
        started_at,
        last_heartbeat: unix_now(),
        dispatching: ctx.dispatching.load(Ordering::Relaxed),
        leadership: leadership.clone(),
        lease_key: lease.as_ref().map(|l| l.key().to_owned()),
    };
    let write = |b: &Heartbeat| {
        if let Err(e) = ctx
            .store
            .put(NS, &beat_key, &serde_json::to_vec(b).unwrap_or_default())
        {
            log(
                "error",
                "cannot write the heartbeat",
                json!({ "error": e.to_string() }),
            );
        }
    };
    prune(&ctx.store, &me.host);
    let mut beats = tokio::time::interval(HEARTBEAT);
    let mut n: u32 = 0;
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let signal = loop {
        tokio::select! {
            _ = beats.tick() => {
                write(&beat(&elected.leadership));
                n = n.wrapping_add(1);
                if n.is_multiple_of(PRUNE_EVERY) {
                    prune(&ctx.store, &me.host);
                }
            }
            _ = tokio::time::sleep_until(elected.next_ask), if lease.is_some() => {
                let lease = lease.as_ref().expect("asked only with a lease");
                if elected.ask(lease, renew, &ctx).await {
                    write(&beat(&elected.leadership));
                }
            }
            _ = tokio::time::sleep_until(elected.valid_until.unwrap_or(far)), if elected.valid_until.is_some() => {
                elected.ran_out(&ctx).await;
                write(&beat(&elected.leadership));
            }
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
        }
    };
    log("info", "stopping", json!({ "signal": signal }));
    let finished = match elected.running.take() {
        Some(r) => r.stop().await,
        None => true,
    };
    if let Some(lease) = &lease
        && elected.valid_until.is_some()
    {
        match lease.release().await {
            Ok(_) => log("info", "released the lease", json!({ "key": lease.key() })),
            Err(e) => log(
                "error",
                "cannot release the lease: another agent takes over when it runs out",
                json!({ "error": e.to_string() }),
            ),
        }
    }
    let _ = ctx.store.delete(NS, &beat_key);
    log(
        "info",
        "agent stopped",
        json!({ "clean": finished, "owed_alerts": crate::audit::owed::owed(&ctx.store).unwrap_or(0) }),
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes the heartbeats of agents that are gone: on this host, their
/// process is; on another, their heartbeat is a day old.
fn prune(store: &Store, host: &str) {
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

/// One agent's side of the election.
struct Election {
    leadership: Leadership,
    running: Option<Running>,
    /// While leading: when the lease runs out unless renewed, counted from
    /// the moment the request that took or extended it was sent.
    valid_until: Option<Instant>,
    next_ask: Instant,
}

impl Election {
    /// Takes or renews the lease, and starts or stops the duties to match.
    /// Returns whether the leadership changed.
    async fn ask(&mut self, lease: &Lease, renew: Duration, ctx: &Duties) -> bool {
        let sent = Instant::now();
        let answer = if self.valid_until.is_some() {
            lease.renew().await.map(|ours| {
                if ours {
                    Acquired::Held
                } else {
                    Acquired::Taken {
                        holder: None,
                        expires_in: Some(Duration::ZERO),
                    }
                }
            })
        } else {
            lease.acquire().await
        };
        let before = self.leadership.clone();
        match answer {
            Ok(Acquired::Held) => {
                self.valid_until = Some(sent + lease.ttl());
                self.next_ask = sent + renew;
                if self.running.is_none() {
                    self.running = Some(ctx.start());
                }
                self.leadership = Leadership::Leader;
            }
            Ok(Acquired::Taken { holder, expires_in }) => {
                self.stop_leading(ctx).await;
                // Asks again as the lease runs out, so the takeover of a dead
                // leader's lease comes within its lease time.
                let wait = expires_in.map_or(renew, |e| e.min(renew));
                self.next_ask = Instant::now() + wait + Duration::from_millis(5);
                self.leadership = Leadership::Standby { holder };
            }
            Err(e) => {
                self.stop_leading(ctx).await;
                self.next_ask = Instant::now() + renew;
                self.leadership = Leadership::Unknown {
                    reason: e.to_string(),
                };
            }
        }
        let changed = self.leadership != before;
        if changed {
            self.say(&before, lease);
        }
        changed
    }

    /// The lease ran out before a renewal was confirmed.
    async fn ran_out(&mut self, ctx: &Duties) {
        let before = self.leadership.clone();
        self.stop_leading(ctx).await;
        self.next_ask = Instant::now();
        self.leadership = Leadership::Unknown {
            reason: "the lease ran out before Redis confirmed a renewal".into(),
        };
        if before.leads() {
            log(
                "error",
                "the lease ran out before it was renewed: leader duties stopped",
                json!({}),
            );
        }
    }

    async fn stop_leading(&mut self, ctx: &Duties) {
        self.valid_until = None;
        if let Some(r) = self.running.take() {
            r.abort(&ctx.dispatching).await;
        }
    }

    fn say(&self, before: &Leadership, lease: &Lease) {
        let key = lease.key();
        match (&self.leadership, before.leads()) {
            (Leadership::Leader, _) => log(
                "info",
                "leading: took the agents' lease",
                json!({ "key": key, "redis": lease.target() }),
            ),
            (Leadership::Standby { holder }, true) => log(
                "error",
                "lost the agents' lease: leader duties stopped",
                json!({ "key": key, "holder": holder }),
            ),
            (Leadership::Standby { holder }, false) => log(
                "info",
                "standing by: another agent holds the lease",
                json!({ "key": key, "holder": holder }),
            ),
            (Leadership::Unknown { reason }, was) => log(
                "error",
                if was {
                    "cannot renew the agents' lease: leader duties stopped"
                } else {
                    "cannot reach Redis for the agents' lease: not leading"
                },
                json!({ "key": key, "error": reason }),
            ),
            (Leadership::Sole, _) => {}
        }
    }
}
