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

mod duties;
mod election;
pub mod lease;
pub mod metrics;
pub mod settings;
mod status;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::time::Instant;

use crate::audit::settings::AuditSettings;
use crate::cli::CliError;
use crate::config::Config;
use crate::store::Store;
use duties::Duties;
use election::Election;
pub use election::Leadership;
use lease::{Holder, Lease};
use settings::AgentSettings;
pub use status::{AgentView, Heartbeat, Status, run_status, running, status, watch};
use status::{BEAT_PREFIX, NS, prune};

/// The lock file in the data dir that running agents hold.
pub const LOCK_FILE: &str = "agent.lock";
/// How often an agent writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Every this many heartbeats, the heartbeats of dead agents are removed.
const PRUNE_EVERY: u32 = 30;
/// A random id made once per store: the default lease key, so agents share a
/// lease exactly when they share a store.
const SCOPE_KEY: &str = "lease_scope";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One JSON line on stderr.
/// One JSON line on stderr: the agent's log.
pub fn log(level: &str, message: &str, fields: serde_json::Value) {
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
/// With `metrics_addr`, it also serves `/metrics`, `/healthz` and `/readyz`
/// there ([`metrics`]).
pub fn run(
    config: &Config,
    redis_url: Option<&str>,
    metrics_addr: Option<std::net::SocketAddr>,
) -> Result<ExitCode, CliError> {
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
        config: config.clone(),
        data_dir,
        secrets: open_secrets(config, &store, &host),
        keyring: crate::crypto::Keyring::from_env_or_file(
            &config.paths.data_dir.join(crate::crypto::KEY_FILE_NAME),
            false,
        )
        .ok()
        .map(Arc::new),
        settings,
        store,
        dispatching: Arc::new(AtomicBool::new(false)),
    };
    let metrics = metrics_addr.map(|addr| {
        let names = ctx
            .settings
            .channels
            .iter()
            .map(|c| c.name.clone())
            .collect();
        (
            addr,
            Arc::new(metrics::Metrics::new(
                ctx.store.clone(),
                ctx.data_dir.clone(),
                names,
            )),
        )
    });
    let code = runtime.block_on(serve(ctx, lease, agent_settings.renew, me, config, metrics));
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

/// Runs until a signal: the heartbeat, and with a lease, the election.
async fn serve(
    ctx: Duties,
    lease: Option<Lease>,
    renew: Duration,
    me: Holder,
    config: &Config,
    metrics: Option<(std::net::SocketAddr, Arc<metrics::Metrics>)>,
) -> Result<ExitCode, CliError> {
    let started_at = unix_now();
    let (metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
    let _metrics_server = match &metrics {
        Some((addr, m)) => {
            let server = metrics::serve(*addr, m.clone()).map_err(|e| {
                CliError::Usage(format!("--metrics-addr {addr}: cannot listen: {e}"))
            })?;
            tokio::spawn(metrics::follow_events(m.clone(), metrics_stopped));
            log(
                "info",
                "serving metrics",
                json!({ "addr": addr.to_string() }),
            );
            Some(server)
        }
        None => None,
    };
    let metrics = metrics.map(|(_, m)| m);
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
        let put = ctx
            .store
            .put(NS, &beat_key, &serde_json::to_vec(b).unwrap_or_default());
        if let Some(m) = &metrics {
            m.leader.set(i64::from(b.leadership.leader() == Some(true)));
            m.delivering.set(i64::from(b.dispatching));
            if put.is_ok() {
                m.heartbeat_at.store(b.last_heartbeat, Ordering::Relaxed);
            }
        }
        if let Err(e) = put {
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
    let _ = metrics_stop.send(true);
    // In-flight work may finish, but never past the lease: another agent
    // may take it from then on.
    let wait = elected.valid_until.map_or(duties::STOP_WAIT, |until| {
        duties::STOP_WAIT.min(until.saturating_duration_since(Instant::now()))
    });
    let finished = match elected.running.take() {
        Some(r) => r.stop(wait).await,
        None => true,
    };
    if let Some(lease) = &lease
        && elected.valid_until.is_some()
    {
        match lease.release().await {
            Ok(true) => log("info", "released the lease", json!({ "key": lease.key() })),
            Ok(false) => log(
                "info",
                "the lease was no longer this agent's: nothing to release",
                json!({ "key": lease.key() }),
            ),
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
