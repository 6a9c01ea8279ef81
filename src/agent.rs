//! `windflow agent`: the headless runtime for the duties that must run while
//! nobody watches. It delivers owed alerts (whenever no console does),
//! ships the Elasticsearch spool, and finishes interrupted secret rotations
//! and their scheduled clean-ups. One agent per data dir (a lock); it writes
//! a heartbeat to the store that `windflow agent status` and the console read.
//!
//! It logs JSON lines to stderr. SIGTERM or SIGINT stops it within a few
//! seconds: a delivery in flight is finished or left owed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::alert::AlertState;
use crate::audit::settings::AuditSettings;
use crate::cli::CliError;
use crate::config::Config;
use crate::store::Store;

/// The lock file in the data dir that the running agent holds.
pub const LOCK_FILE: &str = "agent.lock";
/// How often the agent writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often the dispatcher looks for new events to alert on.
const ALERT_POLL: Duration = Duration::from_millis(50);
/// How often interrupted rotations and due clean-ups are looked for.
const ROTATION_POLL: Duration = Duration::from_secs(30);
/// The longest a stop waits for the duties to finish.
const STOP_WAIT: Duration = Duration::from_secs(4);

const STATUS_NS: &str = "agent";
const STATUS_KEY: &str = "status";

/// What the agent says of itself in the store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub pid: u32,
    pub host: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds.
    pub last_heartbeat: i64,
    /// Whether this agent delivers the data dir's alerts (a console may).
    pub dispatching: bool,
}

/// `windflow agent status`.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub running: bool,
    pub pid: Option<u32>,
    pub host: Option<String>,
    pub started_at: Option<i64>,
    pub last_heartbeat: Option<i64>,
    pub owed_alerts: usize,
    pub spool_depth: u64,
    /// Whether the running agent is the one delivering alerts.
    pub leader: bool,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    }
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

/// What the store and the lock say of the agent of `data_dir`.
pub fn status(data_dir: &Path) -> Result<Status, String> {
    let running = running(data_dir);
    let (beat, owed) = if data_dir.join(crate::store::FILE_NAME).exists() {
        let store = Store::open(data_dir).map_err(|e| e.to_string())?;
        let beat = store
            .get(STATUS_NS, STATUS_KEY)
            .map_err(|e| e.to_string())?
            .and_then(|b| serde_json::from_slice::<Heartbeat>(&b).ok());
        let owed = crate::audit::owed::owed(&store).map_err(|e| e.to_string())?;
        (beat, owed)
    } else {
        (None, 0)
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
    let beat = beat.filter(|_| running);
    Ok(Status {
        running,
        pid: beat.as_ref().map(|b| b.pid),
        host: beat.as_ref().map(|b| b.host.clone()),
        started_at: beat.as_ref().map(|b| b.started_at),
        last_heartbeat: beat.as_ref().map(|b| b.last_heartbeat),
        owed_alerts: owed,
        spool_depth,
        leader: beat.is_some_and(|b| b.dispatching),
    })
}

use crate::cli::audit::spool_dir;

/// A heartbeat older than this means the agent is stuck.
const STALE: i64 = 10;

/// `windflow agent status [--json] [--check]`: exit 0 whether or not one
/// runs; with `--check`, 1 unless one runs with a fresh heartbeat.
pub fn run_status(config: &Config, as_json: bool, check: bool) -> Result<ExitCode, CliError> {
    let st = status(&config.paths.data_dir).map_err(fail)?;
    let text = if as_json {
        serde_json::to_string_pretty(&st).map_err(fail)?
    } else if st.running {
        format!(
            "agent running: pid {} on {}, last heartbeat {} s ago; {}; {} alert(s) owed, {} event(s) in the Elasticsearch spool",
            st.pid.map_or("?".into(), |p| p.to_string()),
            st.host.as_deref().unwrap_or("?"),
            st.last_heartbeat
                .map_or("?".into(), |t| (unix_now() - t).max(0).to_string()),
            if st.leader {
                "it delivers alerts"
            } else {
                "a console delivers alerts"
            },
            st.owed_alerts,
            st.spool_depth,
        )
    } else {
        format!(
            "no agent runs for {}: alerts go out only while a console or a command runs \
             ({} owed); start one with `windflow agent`",
            config.paths.data_dir.display(),
            st.owed_alerts
        )
    };
    println!("{text}");
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
pub async fn watch(data_dir: std::path::PathBuf, tx: crate::service::EventTx) {
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
                    if st.leader { ", delivers alerts" } else { "" }
                );
                Health {
                    state: if stale {
                        HealthState::Degraded
                    } else {
                        HealthState::Connected
                    },
                    backend: Backend::Real(target.clone()),
                    target,
                    rtt: None,
                    last_error: stale.then(|| {
                        "the agent's heartbeat is stale: is it stuck? see its log".to_owned()
                    }),
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

/// `windflow agent`: runs until SIGTERM or SIGINT.
pub fn run(config: &Config) -> Result<ExitCode, CliError> {
    let data_dir = config.paths.data_dir.clone();
    crate::fsutil::private_dir(&data_dir).map_err(fail)?;
    let lock_file = crate::fsutil::open_owned(&data_dir.join(LOCK_FILE), true).map_err(fail)?;
    // `agent status` (and the console's row) take the lock for an instant
    // to see whether an agent holds it: try for a second before saying so.
    let mut taken = false;
    for _ in 0..20 {
        if crate::fsutil::try_flock(&lock_file).map_err(fail)? {
            taken = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !taken {
        let pid = status(&data_dir).ok().and_then(|s| s.pid);
        return Err(CliError::Failure(anyhow::anyhow!(
            "an agent already runs for {} (pid {}): one per data dir",
            data_dir.display(),
            pid.map_or("?".into(), |p| p.to_string())
        )));
    }
    let settings = AuditSettings::from_config(config).map_err(CliError::Usage)?;
    let store = Store::open(&data_dir).map_err(fail)?;
    crate::audit::owed::prepare(&store, &data_dir.join("audit")).map_err(fail)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(fail)?;
    let secrets = open_secrets(config, &store);
    let code = runtime.block_on(serve(config, data_dir, settings, store, secrets));
    runtime.shutdown_timeout(Duration::from_millis(200));
    drop(lock_file);
    code
}

/// The secrets domain for rotation recovery, when it is configured.
fn open_secrets(config: &Config, store: &Arc<Store>) -> Option<crate::secrets::Secrets> {
    let keyring = crate::crypto::Keyring::from_env_or_file(
        &config.paths.data_dir.join(crate::crypto::KEY_FILE_NAME),
        false,
    );
    let keyring = match keyring {
        Ok(k) => Arc::new(k),
        Err(e) => {
            log(
                "info",
                "rotation recovery is off until a master key exists",
                json!({ "reason": e.to_string() }),
            );
            return None;
        }
    };
    let audit = crate::audit::Audit::local(&config.paths.data_dir).with_origin(
        crate::audit::Origin::detect(concat!("windflow-agent/", env!("CARGO_PKG_VERSION"))),
    );
    match crate::secrets::service::from_config(config, store.clone(), keyring, audit, "agent") {
        Ok(s) => Some(s),
        Err(e) => {
            log(
                "error",
                "rotation recovery is off: the secrets settings do not resolve",
                json!({ "error": e.to_string() }),
            );
            None
        }
    }
}

async fn serve(
    config: &Config,
    data_dir: std::path::PathBuf,
    settings: AuditSettings,
    store: Arc<Store>,
    secrets: Option<crate::secrets::Secrets>,
) -> Result<ExitCode, CliError> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let started_at = unix_now();
    let dispatching = Arc::new(std::sync::atomic::AtomicBool::new(false));
    log(
        "info",
        "agent started",
        json!({
            "pid": std::process::id(),
            "data_dir": data_dir.display().to_string(),
            "alert_channels": settings.channels.len(),
            "elasticsearch": settings.elasticsearch.as_ref().map(|e| e.shown()),
            "operator": config.operator,
        }),
    );
    let mut tasks = tokio::task::JoinSet::new();
    // Alerts: whenever no console delivers them.
    if !settings.channels.is_empty() {
        let d = dispatching.clone();
        let state = Arc::new(Mutex::new(AlertState::default()));
        tasks.spawn(crate::audit::owed::serve(
            store.clone(),
            data_dir.clone(),
            settings.clone(),
            state,
            ALERT_POLL,
            stop.clone(),
            move |who| {
                d.store(
                    matches!(who, Ok(true)),
                    std::sync::atomic::Ordering::Relaxed,
                );
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
    } else {
        log(
            "info",
            "no alert channel is configured: no alerts to deliver",
            json!({}),
        );
    }
    // Elasticsearch: drain the spool that commands and consoles fill.
    if let Some(es) = &settings.elasticsearch {
        match crate::audit::elastic::EsClient::new(es)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                crate::audit::spool::Spool::open(&spool_dir(&data_dir))
                    .map(|s| (c, s))
                    .map_err(|e| e.to_string())
            }) {
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
    // Rotations: finish interrupted ones, clean up old versions when due.
    if let Some(s) = secrets {
        let mut stop = stop.clone();
        tasks.spawn(async move {
            loop {
                match crate::secrets::rotation::recover(&s).await {
                    Ok(done) => {
                        for r in done {
                            log(
                                "info",
                                "finished an interrupted rotation",
                                json!({ "path": r.path, "action": r.action, "detail": r.detail }),
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
        });
    }
    // Heartbeat, until a signal.
    let beat = |dispatching: bool| Heartbeat {
        pid: std::process::id(),
        host: host_name(),
        started_at,
        last_heartbeat: unix_now(),
        dispatching,
    };
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(fail)?;
    let mut int =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).map_err(fail)?;
    let signal = loop {
        let b = beat(dispatching.load(std::sync::atomic::Ordering::Relaxed));
        if let Err(e) = store.put(
            STATUS_NS,
            STATUS_KEY,
            &serde_json::to_vec(&b).unwrap_or_default(),
        ) {
            log(
                "error",
                "cannot write the heartbeat",
                json!({ "error": e.to_string() }),
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
        }
    };
    log("info", "stopping", json!({ "signal": signal }));
    let _ = stop_tx.send(true);
    let finished = tokio::time::timeout(STOP_WAIT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    if !finished {
        tasks.abort_all();
    }
    let _ = store.delete(STATUS_NS, STATUS_KEY);
    log(
        "info",
        "agent stopped",
        json!({ "clean": finished, "owed_alerts": crate::audit::owed::owed(&store).unwrap_or(0) }),
    );
    Ok(ExitCode::SUCCESS)
}
