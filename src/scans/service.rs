//! The scan service: a tokio task that parses reports, runs scanners and
//! checks manifests on request, and reports progress, verdicts and manifest
//! results to the console as [`ScanEvent`]s. It owns the policy: waivers
//! added from the pane are validated, saved (0600) and audited, and every
//! verdict is judged again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::gate::{self, Decision, Policy, Run, Verdict, Waiver};
use super::k8s::{self, ManifestReport};
use super::merge::{Counts, MergedFinding, aggregate, merge};
use super::model::Finding;
use super::report::parse_report;
use super::runner::{Job, Progress, Runner, RunnerConfig, Target, Tool};
use crate::audit::Audit;
use crate::service::{Backend, Health, HealthState, Level, ServiceEvent, activity, outcome};

pub const NAME: &str = "scans";

/// Where the service reports (see [`crate::service::Sink`]).
pub type Events = crate::service::Sink<ScanEvent>;

/// Input of a scan: a file, or bytes (bundled samples).
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Bytes { name: String, bytes: Arc<[u8]> },
}

impl Source {
    pub fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Bytes { name, .. } => name.clone(),
        }
    }
}

#[derive(Debug)]
pub enum ScanRequest {
    /// Parse scanner reports and judge them as one deploy.
    Reports {
        name: String,
        sources: Vec<Source>,
        pace: Duration,
    },
    /// Run scanners on images and judge the merged findings.
    Images {
        images: Vec<String>,
        tools: Vec<Tool>,
    },
    /// Check Kubernetes manifests.
    Manifests {
        name: String,
        sources: Vec<Source>,
        pace: Duration,
    },
    AddWaiver {
        waiver: Waiver,
        operator: Option<String>,
    },
    /// Stop every running scan.
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    Vulnerabilities,
    Manifests,
}

/// The state of one job of a group.
#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    Queued,
    Running { elapsed_ms: u64 },
    Done { counts: [usize; 5] },
    Failed { reason: String },
}

#[derive(Clone, Debug)]
pub enum ScanEvent {
    Queued {
        group: u64,
        name: String,
        kind: GroupKind,
        jobs: Vec<String>,
    },
    Job {
        group: u64,
        index: usize,
        state: JobState,
    },
    Verdict {
        group: u64,
        findings: Arc<Vec<MergedFinding>>,
        counts: Counts,
        verdict: Verdict,
    },
    Manifests {
        group: u64,
        report: Arc<ManifestReport>,
    },
    WaiverAdded {
        waiver: Waiver,
    },
    WaiverRefused {
        reason: String,
    },
}

#[derive(Clone)]
pub struct ScanHandle {
    tx: mpsc::Sender<ScanRequest>,
}

impl ScanHandle {
    /// Sends without waiting; false when the service is gone or saturated.
    pub fn try_send(&self, r: ScanRequest) -> bool {
        self.tx.try_send(r).is_ok()
    }
}

impl crate::service::DomainRequestKind for ScanRequest {
    const DOMAIN: &'static str = NAME;
    fn permission(&self) -> Option<&'static str> {
        match self {
            ScanRequest::Images { .. } => Some("scans.run"),
            ScanRequest::AddWaiver { .. } => Some("scans.waive"),
            // Reading reports and manifests and stopping scans change nothing.
            ScanRequest::Reports { .. } | ScanRequest::Manifests { .. } | ScanRequest::Cancel => {
                None
            }
        }
    }
}

impl crate::service::Handle for ScanHandle {
    fn domain(&self) -> &'static str {
        NAME
    }
    /// A waiver is recorded as granted by the acting operator.
    fn send(&self, req: crate::service::DomainRequest) -> bool {
        let Ok((actor, mut r)) = req.take::<ScanRequest>() else {
            return false;
        };
        if let ScanRequest::AddWaiver { operator, .. } = &mut r {
            *operator = actor;
        }
        self.try_send(r)
    }
}

impl std::fmt::Debug for ScanHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScanHandle")
    }
}

pub struct ScanConfig {
    /// Where the policy with its waivers is kept (created 0600 on the first waiver).
    pub policy_path: Option<PathBuf>,
    pub runner: RunnerConfig,
    pub audit: Audit,
    /// Where each image's latest verdict is kept (see [`super::verdicts`]);
    /// `None`: verdicts are shown, not kept.
    pub store: Option<Arc<crate::store::Store>>,
}

struct State {
    policy: Policy,
    /// Raw findings and scanner runs per vulnerability group, to judge
    /// again after a waiver.
    groups: BTreeMap<u64, (Vec<Finding>, Vec<Run>)>,
    next: u64,
}

struct Inner {
    state: Mutex<State>,
    /// Why the saved policy was not loaded (the default is used).
    policy_error: Option<String>,
    events: Events,
    runner: Runner,
    cancel: watch::Sender<bool>,
    policy_path: Option<PathBuf>,
    audit: Audit,
    store: Option<Arc<crate::store::Store>>,
}

fn send(events: &Events, ev: ScanEvent) {
    // Progress may be dropped when the console is flooded; results are awaited.
    events.try_emit(ev);
}

async fn send_wait(events: &Events, ev: ScanEvent) {
    events.emit(ev).await;
}

/// The scans domain's part of a console: its service (the policy and its
/// waivers in the data dir) and its pane; in the demo, made-up scans.
pub fn console(ctx: &crate::domains::ConsoleCtx) -> crate::domains::Started {
    let (tx, rx) = ctx.wake.channel();
    let handle = spawn(
        ScanConfig {
            policy_path: Some(ctx.data_dir.join("scans").join("policy.toml")),
            runner: RunnerConfig::default(),
            audit: ctx.audit.clone(),
            store: (!ctx.demo).then(|| ctx.store.clone()),
        },
        Events::new(ctx.events.clone(), tx),
    );
    if ctx.demo {
        demo(handle.clone());
    }
    Ok(crate::domains::Plug {
        pane: Some(Box::new(super::pane::ScansPane::new(rx))),
        handle: Some(Arc::new(handle)),
    })
}

pub fn spawn(config: ScanConfig, events: Events) -> ScanHandle {
    let (tx, mut rx) = mpsc::channel::<ScanRequest>(64);
    let (cancel, _) = watch::channel(false);
    let policy = match config.policy_path.as_deref().filter(|p| p.exists()) {
        Some(p) => Policy::load(p),
        None => Ok(Policy::default_policy()),
    };
    let (policy, policy_error) = match policy {
        Ok(p) => (p, None),
        Err(e) => (Policy::default_policy(), Some(e.to_string())),
    };
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            policy,
            groups: BTreeMap::new(),
            next: 1,
        }),
        policy_error: policy_error.clone(),
        events: events.clone(),
        runner: Runner::new(config.runner),
        cancel,
        policy_path: config.policy_path,
        audit: config.audit,
        store: config.store,
    });
    let health_inner = inner.clone();
    tokio::spawn(async move {
        health_inner.report_health().await;
        if let Some(e) = policy_error {
            activity(
                &events,
                NAME,
                Level::Error,
                format!("policy not loaded, using the default: {e}"),
            )
            .await;
        }
        while let Some(req) = rx.recv().await {
            let inner = inner.clone();
            match req {
                ScanRequest::Cancel => {
                    let _ = inner.cancel.send(true);
                    let _ = inner.cancel.send(false);
                    activity(&inner.events, NAME, Level::Warn, "scans cancelled").await;
                }
                ScanRequest::AddWaiver { waiver, operator } => {
                    inner.add_waiver(waiver, operator).await
                }
                ScanRequest::Reports {
                    name,
                    sources,
                    pace,
                } => {
                    tokio::spawn(async move { inner.reports(name, sources, pace).await });
                }
                ScanRequest::Manifests {
                    name,
                    sources,
                    pace,
                } => {
                    tokio::spawn(async move { inner.manifests(name, sources, pace).await });
                }
                ScanRequest::Images { images, tools } => {
                    tokio::spawn(async move { inner.images(images, tools).await });
                }
            }
        }
    });
    ScanHandle { tx }
}

/// The scanners' health: degraded when no scanner can run (a scan of an
/// image then has no verdict), with the programs found or missing.
pub fn scanner_health(runner: &Runner, policy_error: Option<&str>) -> Health {
    let tools = [Tool::Trivy, Tool::Grype];
    let found: Vec<(Tool, Option<PathBuf>)> =
        tools.iter().map(|t| (*t, runner.program_for(*t))).collect();
    let target = found
        .iter()
        .map(|(t, p)| match p {
            Some(_) => format!("{} on PATH", t.program()),
            None => format!("{} not found", t.program()),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let none = found.iter().all(|(_, p)| p.is_none());
    let mut errors: Vec<String> = Vec::new();
    if none {
        errors.push(format!(
            "no scanner on PATH: {}",
            tools.map(Tool::program).join(", ")
        ));
    }
    errors.extend(policy_error.map(str::to_string));
    Health {
        state: if none {
            HealthState::Degraded
        } else {
            HealthState::Connected
        },
        backend: Backend::InProcess,
        target,
        rtt: None,
        last_error: (!errors.is_empty()).then(|| errors.join("; ")),
    }
}

impl Inner {
    async fn report_health(&self) {
        let health = scanner_health(&self.runner, self.policy_error.as_deref());
        let _ = self
            .events
            .send(ServiceEvent::Health {
                service: NAME,
                health,
            })
            .await;
    }

    fn new_group(&self) -> u64 {
        let mut s = self.state.lock().expect("scan state");
        s.next += 1;
        s.next - 1
    }

    async fn judge(&self, group: u64, findings: Vec<Finding>, runs: Vec<Run>) {
        let today = chrono::Utc::now().date_naive();
        let (ev, kept) = {
            let mut s = self.state.lock().expect("scan state");
            s.groups.insert(group, (findings.clone(), runs.clone()));
            let merged = merge(findings);
            let counts = aggregate(&merged).counts;
            let verdict = gate::judge(&merged, &runs, &s.policy, today);
            let kept = super::verdicts::per_image(&merged, &runs, &s.policy, today, None);
            let ev = ScanEvent::Verdict {
                group,
                findings: Arc::new(merged),
                counts,
                verdict,
            };
            (ev, kept)
        };
        if let Some(store) = &self.store
            && let Err(e) = super::verdicts::record(store, &self.audit, &kept)
        {
            activity(&self.events, NAME, Level::Error, e).await;
        }
        if let ScanEvent::Verdict { verdict, .. } = &ev {
            let level = match verdict.decision {
                Decision::Allowed if !verdict.partial() => Level::Info,
                Decision::Allowed | Decision::Blocked => Level::Warn,
                Decision::NoVerdict => Level::Error,
            };
            let mut why = verdict
                .reasons
                .iter()
                .map(|r| format!("{} ({})", r.message, r.detail))
                .collect::<Vec<_>>()
                .join("; ");
            if verdict.partial() {
                why.push_str(&format!(
                    " (partial: {} of {} scans failed)",
                    verdict.failed.len(),
                    verdict.runs
                ));
            }
            activity(
                &self.events,
                NAME,
                level,
                format!("scan {group}: {} {why}", verdict.label()),
            )
            .await;
        }
        send_wait(&self.events, ev).await;
    }

    async fn reports(&self, name: String, sources: Vec<Source>, pace: Duration) {
        let group = self.new_group();
        let target = name.clone();
        send_wait(
            &self.events,
            ScanEvent::Queued {
                group,
                name,
                kind: GroupKind::Vulnerabilities,
                jobs: sources.iter().map(Source::name).collect(),
            },
        )
        .await;
        let mut all = Vec::new();
        let mut runs = Vec::new();
        for (index, src) in sources.into_iter().enumerate() {
            let scanner = src.name();
            send(
                &self.events,
                ScanEvent::Job {
                    group,
                    index,
                    state: JobState::Running { elapsed_ms: 0 },
                },
            );
            if !pace.is_zero() {
                // Demo pacing: show the job running for a while.
                let steps = 5;
                for k in 1..=steps {
                    tokio::time::sleep(pace / steps).await;
                    let elapsed_ms = (pace / steps * k).as_millis() as u64;
                    send(
                        &self.events,
                        ScanEvent::Job {
                            group,
                            index,
                            state: JobState::Running { elapsed_ms },
                        },
                    );
                }
            }
            let parsed = tokio::task::spawn_blocking(move || match &src {
                Source::File(p) => super::report::read_report(p),
                Source::Bytes { name, bytes } => parse_report(Path::new(name), bytes),
            })
            .await;
            let state = match parsed {
                Ok(Ok(r)) => {
                    let counts = super::runner::counts_of(&r);
                    all.extend(r.findings);
                    runs.push(Run::ok(&scanner, &target));
                    JobState::Done { counts }
                }
                Ok(Err(e)) => JobState::Failed {
                    reason: e.to_string(),
                },
                Err(e) => JobState::Failed {
                    reason: format!("parser stopped: {e}"),
                },
            };
            if let JobState::Failed { reason } = &state {
                runs.push(Run::failed(scanner, &target, reason));
            }
            send_wait(
                &self.events,
                ScanEvent::Job {
                    group,
                    index,
                    state,
                },
            )
            .await;
        }
        self.judge(group, all, runs).await;
    }

    async fn images(&self, images: Vec<String>, tools: Vec<Tool>) {
        let group = self.new_group();
        let jobs: Vec<Job> = images
            .iter()
            .flat_map(|i| {
                tools.iter().map(|t| Job {
                    target: Target::Image(i.clone()),
                    tool: *t,
                })
            })
            .collect();
        send_wait(
            &self.events,
            ScanEvent::Queued {
                group,
                name: images.join(", "),
                kind: GroupKind::Vulnerabilities,
                jobs: jobs
                    .iter()
                    .map(|j| format!("{} {}", j.tool.program(), j.target.label()))
                    .collect(),
            },
        )
        .await;
        let (tx, mut rx) = mpsc::channel::<Progress>(256);
        let events = self.events.clone();
        let order = jobs.clone();
        let forward = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let Some(index) = order.iter().position(|j| j == p.job()) else {
                    continue;
                };
                let state = match p {
                    Progress::Queued { .. } => JobState::Queued,
                    Progress::Running { elapsed_ms, .. } => JobState::Running { elapsed_ms },
                    Progress::Done { counts, .. } | Progress::Cached { counts, .. } => {
                        JobState::Done { counts }
                    }
                    Progress::Failed { reason, .. } => JobState::Failed { reason },
                };
                send(
                    &events,
                    ScanEvent::Job {
                        group,
                        index,
                        state,
                    },
                );
            }
        });
        let results = self.runner.run(jobs, tx, self.cancel.subscribe()).await;
        let _ = forward.await;
        let mut all = Vec::new();
        let mut runs = Vec::new();
        for r in results {
            let (scanner, target) = (r.job.tool.program(), r.job.target.label());
            match r.outcome {
                Ok(rep) => {
                    all.extend(rep.findings.iter().cloned());
                    runs.push(Run::ok(scanner, target));
                }
                Err(reason) => {
                    runs.push(Run::failed(scanner, &target, &reason));
                    activity(
                        &self.events,
                        NAME,
                        Level::Error,
                        format!(
                            "{} on {}: {reason}",
                            r.job.tool.program(),
                            r.job.target.label()
                        ),
                    )
                    .await
                }
            }
        }
        self.judge(group, all, runs).await;
        self.report_health().await;
    }

    async fn manifests(&self, name: String, sources: Vec<Source>, pace: Duration) {
        let group = self.new_group();
        send_wait(
            &self.events,
            ScanEvent::Queued {
                group,
                name,
                kind: GroupKind::Manifests,
                jobs: sources.iter().map(Source::name).collect(),
            },
        )
        .await;
        let mut loaded = k8s::load::Loaded::default();
        for (index, src) in sources.into_iter().enumerate() {
            send(
                &self.events,
                ScanEvent::Job {
                    group,
                    index,
                    state: JobState::Running { elapsed_ms: 0 },
                },
            );
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            let before = loaded.objects.len();
            let errors_before = loaded.errors.len();
            match &src {
                Source::File(p) => {
                    let l = k8s::load_paths(std::slice::from_ref(p));
                    loaded.objects.extend(l.objects);
                    loaded.errors.extend(l.errors);
                    loaded.skipped.extend(l.skipped);
                    loaded.files += l.files;
                    loaded.documents += l.documents;
                }
                Source::Bytes { name, bytes } => {
                    let text = String::from_utf8_lossy(bytes);
                    k8s::load::load_str(Path::new(name), &text, &mut loaded);
                }
            }
            let mut counts = [0; 5];
            counts[4] = loaded.errors.len() - errors_before;
            counts[3] = loaded.objects.len() - before;
            let state = JobState::Done { counts };
            send_wait(
                &self.events,
                ScanEvent::Job {
                    group,
                    index,
                    state,
                },
            )
            .await;
        }
        let report = k8s::check_objects(loaded);
        let (level, text) = match (report.score, report.problem()) {
            (Some(score), None) => (
                Level::Info,
                format!("score {score} over {} objects", report.objects.len()),
            ),
            (_, problem) => (Level::Error, problem.unwrap_or_default()),
        };
        activity(
            &self.events,
            NAME,
            level,
            format!("manifests {group}: {text}"),
        )
        .await;
        send_wait(
            &self.events,
            ScanEvent::Manifests {
                group,
                report: Arc::new(report),
            },
        )
        .await;
    }

    async fn waiver_refused(&self, waiver: &Waiver, reason: String) {
        outcome(
            &self.events,
            NAME,
            Level::Error,
            format!("nothing was done: waiver {} refused: {reason}", waiver.id),
        )
        .await;
        send_wait(&self.events, ScanEvent::WaiverRefused { reason }).await;
    }

    async fn add_waiver(&self, waiver: Waiver, operator: Option<String>) {
        let today = chrono::Utc::now().date_naive();
        if let Err(reason) = waiver.validate(today) {
            self.waiver_refused(&waiver, reason).await;
            return;
        }
        let (policy, groups, before) = {
            let mut s = self.state.lock().expect("scan state");
            let before = s.policy.waivers.clone();
            s.policy.waivers.retain(|w| {
                !(w.id == waiver.id && w.package == waiver.package && w.image == waiver.image)
            });
            s.policy.waivers.push(waiver.clone());
            (s.policy.clone(), s.groups.clone(), before)
        };
        if let Some(path) = &self.policy_path {
            let saved = path
                .parent()
                .map_or(Ok(()), crate::fsutil::private_dir)
                .and_then(|_| crate::fsutil::write_private(path, policy.to_toml().as_bytes()));
            if let Err(e) = saved {
                // A waiver not saved does not count either.
                self.state.lock().expect("scan state").policy.waivers = before;
                let reason = format!("cannot save the policy {}: {e}", path.display());
                self.waiver_refused(&waiver, reason).await;
                return;
            }
        }
        let _ = self.audit.emit(
            "scan_waiver_added",
            operator.as_deref(),
            serde_json::json!({
                "id": waiver.id,
                "package": waiver.package,
                "image": waiver.image,
                "expires": waiver.expires,
                "justification": waiver.justification,
            }),
        );
        outcome(
            &self.events,
            NAME,
            Level::Warn,
            format!("waiver added: {} until {}", waiver.id, waiver.expires),
        )
        .await;
        send_wait(&self.events, ScanEvent::WaiverAdded { waiver }).await;
        for (group, (findings, runs)) in groups {
            self.judge(group, findings, runs).await;
        }
    }
}

/// The bundled demo inputs (assets/scans/demo).
pub mod samples {
    pub const REPORTS: &[(&str, &[u8])] = &[
        (
            "trivy vulnerable-image.json",
            include_bytes!("../../assets/scans/demo/trivy-vulnerable-image.json"),
        ),
        (
            "grype vulnerable-image.json",
            include_bytes!("../../assets/scans/demo/grype-vulnerable-image.json"),
        ),
        (
            "clair-v4 vulnerable-image.json",
            include_bytes!("../../assets/scans/demo/clair-v4-vulnerable-image.json"),
        ),
    ];
    pub const CLEAN: &[(&str, &[u8])] = &[(
        "trivy alpine-310.json",
        include_bytes!("../../assets/scans/demo/trivy-alpine-310.json"),
    )];
    pub const MANIFESTS: &[(&str, &[u8])] = &[
        (
            "payments.yaml",
            include_bytes!("../../assets/scans/demo/payments.yaml"),
        ),
        (
            "guestbook.yaml",
            include_bytes!("../../assets/scans/demo/guestbook.yaml"),
        ),
    ];
}

/// Demo: queue scans of the bundled samples, paced so progress shows.
pub fn demo(handle: ScanHandle) {
    use std::sync::Arc as A;
    let src = |list: &[(&str, &[u8])]| -> Vec<Source> {
        list.iter()
            .map(|(n, b)| Source::Bytes {
                name: n.to_string(),
                bytes: A::from(*b),
            })
            .collect()
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let reqs = [
            ScanRequest::Reports {
                name: "vulnerable-image:latest".into(),
                sources: src(samples::REPORTS),
                pace: Duration::from_millis(1500),
            },
            ScanRequest::Manifests {
                name: "payments + guestbook manifests".into(),
                sources: src(samples::MANIFESTS),
                pace: Duration::from_millis(1200),
            },
            ScanRequest::Reports {
                name: "alpine:3.10".into(),
                sources: src(samples::CLEAN),
                pace: Duration::from_millis(2500),
            },
        ];
        for r in reqs {
            if handle.tx.send(r).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    });
}
