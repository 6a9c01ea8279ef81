//! The task that owns [`Secrets`] for the console: loads and indexes the
//! mount, reads metadata, reveals (and re-masks after 30 s), diffs, writes,
//! rotates with live step progress and rolls back; every outcome comes back
//! as a [`SecretsEvent`]. Finishes unfinished rotations when it starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::model::{DiffLine, SecretMeta, Values};
use super::rotation::{self, Outcome, Progress, Recovered, Validation};
use super::settings::Overrides;
use super::{Secrets, SecretsError};
use crate::service::{Backend, Health, HealthState, Level, ServiceEvent, activity, outcome};

pub const NAME: &str = "secrets";
/// How long a revealed value stays on screen.
pub const REVEAL_FOR: Duration = Duration::from_secs(30);
pub const PROBE_EVERY: Duration = Duration::from_secs(4);

#[derive(Debug)]
pub enum SecretsRequest {
    /// Check the backend now (`:probe`).
    Probe,
    /// List the whole mount (then metadata in batches).
    Refresh,
    /// One secret's metadata and key hashes.
    Load {
        path: String,
    },
    Reveal {
        path: String,
        version: Option<u64>,
    },
    /// Values for the editor (a reveal for editing).
    Edit {
        path: String,
    },
    Diff {
        path: String,
        v1: u64,
        v2: u64,
        reveal: bool,
    },
    Put {
        path: String,
        values: Values,
        cas: u64,
    },
    /// Rotate `path` with its `[[secrets.rotation]]` rule, `keys` (empty:
    /// the rule's, else every key) and `validation` (None: the rule's
    /// validation, else read-back) laid over it.
    Rotate {
        path: String,
        keys: Vec<String>,
        validation: Option<Validation>,
        /// One policy for every key rotated (None: the rule's, else the default).
        policy: Option<super::model::Policy>,
    },
    Rollback {
        path: String,
        version: u64,
    },
}

#[derive(Clone, Debug)]
pub enum SecretsEvent {
    /// Every path of the mount.
    Index {
        paths: Vec<String>,
        took: Duration,
    },
    /// Metadata of a batch of secrets (expiry in the tree).
    Metas(Vec<SecretMeta>),
    /// The selected secret: metadata and, per key, a short hash of the value.
    Detail {
        meta: SecretMeta,
        version: u64,
        hashes: Vec<(String, String)>,
    },
    Revealed {
        path: String,
        version: u64,
        values: Values,
    },
    /// Hide revealed values of `path` (30 s are over).
    Remask {
        path: String,
    },
    /// Values to edit, at version `version`.
    Editing {
        path: String,
        version: u64,
        values: Values,
    },
    Diff {
        path: String,
        v1: u64,
        v2: u64,
        lines: Vec<DiffLine>,
        /// Values per key (old, new) when revealed.
        values: Option<(Values, Values)>,
    },
    /// The `[[secrets.rotation]]` rule for `path` (sent with its detail).
    Rule {
        path: String,
        keys: Vec<String>,
        summary: String,
    },
    Progress(Progress),
    Rotated(Result<Outcome, String>),
    Written {
        path: String,
        version: u64,
    },
    Recovered(Vec<Recovered>),
    Failed {
        what: String,
        error: String,
    },
}

#[derive(Clone)]
pub struct SecretsHandle {
    tx: mpsc::Sender<(Option<String>, SecretsRequest)>,
}

impl SecretsHandle {
    /// Queues a request; returns false when the service is gone or saturated.
    pub fn try_send(&self, req: SecretsRequest) -> bool {
        self.tx.try_send((None, req)).is_ok()
    }

    /// Queues a request made by `operator` (the signed-in operator, recorded in events).
    pub fn try_send_as(&self, operator: Option<&str>, req: SecretsRequest) -> bool {
        self.tx.try_send((operator.map(str::to_owned), req)).is_ok()
    }
}

impl crate::service::DomainRequestKind for SecretsRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            SecretsRequest::Probe | SecretsRequest::Refresh | SecretsRequest::Load { .. } => None,
            SecretsRequest::Diff { reveal: false, .. } => None,
            SecretsRequest::Reveal { .. }
            | SecretsRequest::Edit { .. }
            | SecretsRequest::Diff { reveal: true, .. } => Some("secrets.reveal"),
            SecretsRequest::Put { .. } => Some("secrets.write"),
            SecretsRequest::Rotate { .. } => Some("secrets.rotate"),
            SecretsRequest::Rollback { .. } => Some("secrets.rollback"),
        }
    }
}

impl crate::service::Handle for SecretsHandle {
    fn domain(&self) -> &'static str {
        NAME
    }
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        req.take::<SecretsRequest>()
            .is_ok_and(|(actor, r)| self.try_send_as(actor.as_deref(), r))
    }
    fn probe(&self) {
        self.try_send(SecretsRequest::Probe);
    }
}

fn send(events: &Events, ev: SecretsEvent) {
    let events = events.clone();
    tokio::spawn(async move {
        events.emit(ev).await;
    });
}

/// Where the secrets service reports (see [`crate::service::Sink`]).
pub type Events = crate::service::Sink<SecretsEvent>;

/// The secrets domain's part of a console: its service on the configured
/// backend (the demo: made-up secrets, only ever in its own store) and its
/// pane. A bad `[secrets]` setting stops here; a dead Vault does not.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let config = ctx.config;
    let secrets = if ctx.demo {
        Secrets::new(
            Arc::new(crate::secrets::LocalStore::new(ctx.store.clone())),
            ctx.keyring.clone(),
            ctx.store.clone(),
            ctx.audit.clone(),
        )
        .with_actor(&config.operator)
    } else {
        from_config(
            config,
            ctx.store.clone(),
            ctx.keyring.clone(),
            ctx.audit.clone(),
            &config.operator,
        )
        .map_err(|e| crate::cli::CliError::Usage(format!("secrets: {e}")))?
    };
    let (tx, rx) = ctx.wake.channel();
    let handle = spawn(secrets.clone(), Events::new(ctx.events.clone(), tx));
    if ctx.demo {
        super::demo::spawn(secrets, handle.clone());
    }
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::SecretsPane::new(rx))),
        handle: Some(Arc::new(handle)),
    })
}

pub fn spawn(secrets: Secrets, events: Events) -> SecretsHandle {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(secrets, events, rx));
    SecretsHandle { tx }
}

async fn health(s: &Secrets, events: &Events, last: &mut Option<Health>) {
    let res = s.store().ping().await;
    let backend = match s.store().kind() {
        "embedded" => Backend::Embedded,
        _ => Backend::Real(s.store().target()),
    };
    let h = Health {
        state: match &res {
            Ok(_) => HealthState::Connected,
            Err(SecretsError::Unreachable { .. }) => HealthState::Down,
            Err(_) => HealthState::Degraded,
        },
        backend,
        target: s.store().target(),
        rtt: res.as_ref().ok().copied(),
        last_error: res.err().map(|e| e.to_string()),
    };
    if last.as_ref() != Some(&h) {
        *last = Some(h.clone());
        let _ = events
            .send(ServiceEvent::Health {
                service: NAME,
                health: h,
            })
            .await;
    }
}

async fn run(s: Secrets, events: Events, mut rx: mpsc::Receiver<(Option<String>, SecretsRequest)>) {
    let mut last = None;
    health(&s, &events, &mut last).await;
    match rotation::recover(&s).await {
        Ok(r) => {
            for u in &r.unrecoverable {
                activity(
                    &events,
                    NAME,
                    Level::Error,
                    format!(
                        "unfinished rotation of {} (journal {}) cannot be finished, skipped: {}; \
                         `windflow secrets recover --discard {}` drops it",
                        u.path, u.id, u.error, u.id
                    ),
                )
                .await;
            }
            let r = r.recovered;
            for rec in &r {
                activity(
                    &events,
                    NAME,
                    Level::Warn,
                    format!(
                        "unfinished rotation of {} {}: {}",
                        rec.path,
                        rec.action.replace('_', " "),
                        rec.detail
                    ),
                )
                .await;
            }
            if !r.is_empty() {
                send(&events, SecretsEvent::Recovered(r));
            }
        }
        Err(e) => {
            activity(
                &events,
                NAME,
                Level::Error,
                format!("rotation recovery: {e}"),
            )
            .await;
        }
    }
    match rotation::sweep(&s).await {
        Ok(swept) => {
            for (path, version) in &swept.deleted {
                activity(
                    &events,
                    NAME,
                    Level::Info,
                    format!("{path}: old version {version} deleted (rotation grace period over)"),
                )
                .await;
            }
            for d in &swept.dropped {
                activity(
                    &events,
                    NAME,
                    Level::Warn,
                    format!(
                        "{}: scheduled cleanup of version {} dropped, nothing deleted: {}",
                        d.path, d.version, d.reason
                    ),
                )
                .await;
            }
        }
        Err(e) => {
            activity(
                &events,
                NAME,
                Level::Warn,
                format!("old versions not cleaned up: {e}"),
            )
            .await;
        }
    }
    handle(&s, &events, SecretsRequest::Refresh).await;
    let mut probe = tokio::time::interval(PROBE_EVERY);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    probe.tick().await;
    // The secret whose detail the pane shows: its metadata is read again on
    // every probe, so a view older than the store says so.
    let mut watched: Option<String> = None;
    loop {
        let (actor, req) = tokio::select! {
            _ = probe.tick() => {
                health(&s, &events, &mut last).await;
                if let Some(path) = &watched
                    && let Ok(meta) = s.store().metadata(path).await
                {
                    events.emit(SecretsEvent::Metas(vec![meta])).await;
                }
                continue;
            }
            req = rx.recv() => match req {
                Some(r) => r,
                None => break,
            },
        };
        if matches!(req, SecretsRequest::Probe) {
            health(&s, &events, &mut last).await;
            continue;
        }
        if let SecretsRequest::Load { path } = &req {
            watched = Some(path.clone());
        }
        match actor {
            Some(a) => handle(&s.clone().with_actor(&a), &events, req).await,
            None => handle(&s, &events, req).await,
        }
    }
}

/// One request (also what tests call).
pub async fn handle(s: &Secrets, events: &Events, req: SecretsRequest) {
    let fail = |what: String, e: SecretsError| {
        send(
            events,
            SecretsEvent::Failed {
                what,
                error: e.to_string(),
            },
        )
    };
    match req {
        // The service's own loop answers a probe with its health.
        SecretsRequest::Probe => health(s, events, &mut None).await,
        SecretsRequest::Refresh => {
            let start = Instant::now();
            match s.list("").await {
                Ok(paths) => {
                    send(
                        events,
                        SecretsEvent::Index {
                            paths: paths.clone(),
                            took: start.elapsed(),
                        },
                    );
                    let s = s.clone();
                    let events = events.clone();
                    tokio::spawn(async move { load_metas(&s, &events, paths).await });
                }
                Err(e) => fail("loading the secret paths".into(), e),
            }
        }
        SecretsRequest::Load { path } => match load(s, &path).await {
            Ok(ev) => {
                send(events, ev);
                if let Some(rule) = s.rule_for(&path) {
                    send(
                        events,
                        SecretsEvent::Rule {
                            path,
                            keys: rule.set.keys.clone(),
                            summary: rule.summary(),
                        },
                    );
                }
            }
            Err(e) => fail(format!("loading {path}"), e),
        },
        SecretsRequest::Reveal { path, version } => {
            match s.reveal(&path, version, "console").await {
                Ok((values, meta)) => {
                    send(
                        events,
                        SecretsEvent::Revealed {
                            path: path.clone(),
                            version: meta.version,
                            values,
                        },
                    );
                    let events = events.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(REVEAL_FOR).await;
                        let _ = events.emit(SecretsEvent::Remask { path }).await;
                    });
                }
                Err(e) => fail(format!("revealing {path}"), e),
            }
        }
        SecretsRequest::Edit { path } => match s.reveal(&path, None, "console edit").await {
            Ok((values, meta)) => send(
                events,
                SecretsEvent::Editing {
                    path,
                    version: meta.version,
                    values,
                },
            ),
            Err(e) => fail(format!("opening {path} for editing"), e),
        },
        SecretsRequest::Diff {
            path,
            v1,
            v2,
            reveal,
        } => {
            let p = path.as_str();
            let read = |v| async move {
                if reveal {
                    s.reveal(p, Some(v), "console diff").await
                } else {
                    s.read(p, Some(v)).await
                }
            };
            match (read(v1).await, read(v2).await) {
                (Ok((a, _)), Ok((b, _))) => send(
                    events,
                    SecretsEvent::Diff {
                        path: path.clone(),
                        v1,
                        v2,
                        lines: super::model::diff(&a, &b),
                        values: reveal.then_some((a, b)),
                    },
                ),
                (Err(e), _) | (_, Err(e)) => fail(format!("diff of {path}"), e),
            }
        }
        SecretsRequest::Put { path, values, cas } => match s.put(&path, &values, Some(cas)).await {
            Ok(m) => {
                send(
                    events,
                    SecretsEvent::Written {
                        path: path.clone(),
                        version: m.version,
                    },
                );
                outcome(
                    events,
                    NAME,
                    Level::Info,
                    format!("{path}: version {} written", m.version),
                )
                .await;
                if let Ok(ev) = load(s, &path).await {
                    send(events, ev);
                }
            }
            Err(e) => fail(format!("saving {path}"), e),
        },
        SecretsRequest::Rotate {
            path,
            keys,
            validation,
            policy,
        } => {
            let ev2 = events.clone();
            let mut progress = move |p: Progress| send(&ev2, SecretsEvent::Progress(p));
            let opts = Overrides {
                keys,
                validation,
                default_policy: policy,
                ..Overrides::default()
            }
            .apply(s.rotation_options(&path));
            let res = rotation::rotate(s, &path, &opts, &mut progress).await;
            let (level, msg) = match &res {
                Ok(Outcome::Rotated {
                    old_version,
                    new_version,
                    ..
                }) => (
                    Level::Info,
                    format!("rotated {path}: v{old_version} → v{new_version}"),
                ),
                Ok(Outcome::RolledBack { reason, .. }) => (
                    Level::Warn,
                    format!("rotation of {path} rolled back: {reason}"),
                ),
                Err(e) => (Level::Error, format!("{path}: rotation failed: {e}")),
            };
            outcome(events, NAME, level, msg).await;
            send(
                events,
                SecretsEvent::Rotated(res.map_err(|e| e.to_string())),
            );
            if let Ok(ev) = load(s, &path).await {
                send(events, ev);
            }
        }
        SecretsRequest::Rollback { path, version } => match s.rollback(&path, version).await {
            Ok(m) => {
                outcome(
                    events,
                    NAME,
                    Level::Warn,
                    format!(
                        "{path}: version {version} restored as version {}",
                        m.version
                    ),
                )
                .await;
                send(
                    events,
                    SecretsEvent::Written {
                        path: path.clone(),
                        version: m.version,
                    },
                );
                if let Ok(ev) = load(s, &path).await {
                    send(events, ev);
                }
            }
            Err(e) => fail(format!("rollback of {path}"), e),
        },
    }
}

async fn load(s: &Secrets, path: &str) -> super::Result<SecretsEvent> {
    let meta = s.metadata(path).await?;
    let (hashes, version) = match s.read(path, None).await {
        Ok((values, m)) => (
            values
                .iter()
                .map(|(k, v)| (k.clone(), v.short_hash()))
                .collect(),
            m.version,
        ),
        // A deleted current version still shows its metadata.
        Err(SecretsError::Gone { version, .. }) => (Vec::new(), version),
        Err(e) => return Err(e),
    };
    Ok(SecretsEvent::Detail {
        meta,
        version,
        hashes,
    })
}

async fn load_metas(s: &Secrets, events: &Events, paths: Vec<String>) {
    use futures::StreamExt;
    let mut stream = futures::stream::iter(paths)
        .map(|p| async move { s.store().metadata(&p).await })
        .buffered(16)
        .chunks(256);
    while let Some(batch) = stream.next().await {
        let metas: Vec<SecretMeta> = batch.into_iter().filter_map(Result::ok).collect();
        if !events.emit(SecretsEvent::Metas(metas)).await {
            return;
        }
    }
}

/// The console's secrets over the backend that `windflow.toml`'s `[secrets]`
/// table, then `WINDFLOW_SECRETS_BACKEND`, `VAULT_ADDR`, `VAULT_TOKEN` and
/// `WINDFLOW_VAULT_MOUNT` name (as the CLI resolves it; the embedded store
/// by default), with the file's rotation rules.
pub fn from_config(
    config: &crate::config::Config,
    local: Arc<crate::store::Store>,
    keyring: Arc<crate::crypto::Keyring>,
    audit: crate::audit::Audit,
    operator: &str,
) -> super::Result<Secrets> {
    from_config_with(
        config,
        &|k| std::env::var(k).ok(),
        local,
        keyring,
        audit,
        operator,
    )
}

/// [`from_config`] with the environment given (tests).
pub fn from_config_with(
    config: &crate::config::Config,
    env: &dyn Fn(&str) -> Option<String>,
    local: Arc<crate::store::Store>,
    keyring: Arc<crate::crypto::Keyring>,
    audit: crate::audit::Audit,
    operator: &str,
) -> super::Result<Secrets> {
    let settings = super::settings::SecretsSettings::from_config(
        config,
        &super::settings::Flags::default(),
        env,
    )
    .map_err(SecretsError::Invalid)?;
    Ok(settings.open(local, keyring, audit)?.with_actor(operator))
}
