//! Running scanners as subprocesses: Trivy and Grype on images (each
//! optional, found on PATH), Trivy on folders for misconfigurations and
//! secrets (which work offline). Several jobs at once under a concurrency
//! limit, each with a timeout; cancellation stops every running scanner.
//! Progress is reported per job: queued, running (elapsed), done (counts),
//! failed (reason), cached. Image results are cached by digest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::process::Command;
use tokio::sync::{Semaphore, mpsc, watch};

use super::merge::Counts;
use super::model::Severity;
use super::report::{Report, parse_report};

/// Which scanner program a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    Trivy,
    Grype,
}

impl Tool {
    pub fn program(self) -> &'static str {
        match self {
            Tool::Trivy => "trivy",
            Tool::Grype => "grype",
        }
    }
}

/// What a job scans.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "target")]
pub enum Target {
    /// A container image (vulnerabilities).
    Image(String),
    /// Trivy misconfiguration scan of a file or folder (`trivy config`).
    Config(PathBuf),
    /// Trivy secret scan of a folder, offline.
    Secrets(PathBuf),
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Image(i) => i.clone(),
            Target::Config(p) => format!("config {}", p.display()),
            Target::Secrets(p) => format!("secrets {}", p.display()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Job {
    pub target: Target,
    pub tool: Tool,
}

/// Checks an image name before it reaches a scanner's command line: one
/// starting with `-` would be taken for an option (`--output=/path`), so it
/// is refused, as is an empty one. (The name also goes after `--`.)
pub fn check_image(image: &str) -> Result<(), String> {
    if image.trim().is_empty() {
        return Err("an image name is empty: name the image to scan, e.g. alpine:3.19".into());
    }
    if image.starts_with('-') {
        return Err(format!(
            "image name {image:?} starts with '-': refused, a scanner would read it as an option"
        ));
    }
    Ok(())
}

impl Job {
    /// The scanner's command line (without the program). The target comes
    /// last, after `--`, so that no target is read as an option.
    pub fn args(&self) -> Vec<String> {
        let s = |x: &str| x.to_string();
        let (mut args, target) = match (&self.target, self.tool) {
            (Target::Image(i), Tool::Trivy) => (
                vec![s("image"), s("--format"), s("json"), s("--quiet")],
                i.clone(),
            ),
            (Target::Image(i), Tool::Grype) => (vec![s("-o"), s("json"), s("-q")], i.clone()),
            (Target::Config(p), _) => (
                vec![s("config"), s("--format"), s("json"), s("--quiet")],
                p.display().to_string(),
            ),
            (Target::Secrets(p), _) => (
                vec![
                    s("fs"),
                    s("--scanners"),
                    s("secret"),
                    s("--offline-scan"),
                    s("--skip-db-update"),
                    s("--format"),
                    s("json"),
                    s("--quiet"),
                ],
                p.display().to_string(),
            ),
        };
        args.extend([s("--"), target]);
        args
    }
}

/// Progress of one job.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Progress {
    Queued {
        job: Job,
    },
    Running {
        job: Job,
        elapsed_ms: u64,
    },
    Done {
        job: Job,
        counts: [usize; 5],
        elapsed_ms: u64,
    },
    Cached {
        job: Job,
        counts: [usize; 5],
    },
    Failed {
        job: Job,
        reason: String,
    },
}

impl Progress {
    pub fn job(&self) -> &Job {
        match self {
            Progress::Queued { job }
            | Progress::Running { job, .. }
            | Progress::Done { job, .. }
            | Progress::Cached { job, .. }
            | Progress::Failed { job, .. } => job,
        }
    }
}

/// How scans run.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Jobs at once.
    pub concurrency: usize,
    pub timeout: Duration,
    /// Explicit programs; otherwise looked up on PATH.
    pub programs: HashMap<Tool, PathBuf>,
    /// How often a running job reports its elapsed time.
    pub tick: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            timeout: Duration::from_secs(600),
            programs: HashMap::new(),
            tick: Duration::from_secs(1),
        }
    }
}

/// Finds a program on PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The result of one job.
#[derive(Clone, Debug)]
pub struct JobResult {
    pub job: Job,
    pub outcome: Result<Arc<Report>, String>,
}

/// Results of image scans by digest, and the digest last seen for an image reference.
#[derive(Debug, Default)]
pub struct Cache {
    by_digest: HashMap<(String, Tool), Arc<Report>>,
    digest_of: HashMap<String, String>,
}

impl Cache {
    fn get(&self, job: &Job) -> Option<Arc<Report>> {
        let Target::Image(image) = &job.target else {
            return None;
        };
        let digest = image
            .split_once('@')
            .map(|(_, d)| d.to_string())
            .or_else(|| self.digest_of.get(image).cloned())?;
        self.by_digest.get(&(digest, job.tool)).cloned()
    }

    fn put(&mut self, job: &Job, report: &Arc<Report>) {
        let (Target::Image(image), Some(digest)) = (&job.target, &report.digest) else {
            return;
        };
        self.digest_of.insert(image.clone(), digest.clone());
        self.by_digest
            .insert((digest.clone(), job.tool), report.clone());
    }

    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

pub fn counts_of(report: &Report) -> [usize; 5] {
    let mut c = Counts::default();
    for f in &report.findings {
        c.add(f.severity);
    }
    c.0
}

#[derive(Clone)]
pub struct Runner {
    config: RunnerConfig,
    cache: Arc<Mutex<Cache>>,
}

impl Runner {
    pub fn new(config: RunnerConfig) -> Self {
        Self {
            config,
            cache: Arc::new(Mutex::new(Cache::default())),
        }
    }

    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// The program that runs `tool`: the configured one, else found on PATH.
    pub fn program_for(&self, tool: Tool) -> Option<PathBuf> {
        self.config
            .programs
            .get(&tool)
            .cloned()
            .or_else(|| find_on_path(tool.program()))
    }

    /// Runs every job; progress goes to `progress`; a `true` on `cancel`
    /// stops queued and running jobs (reported as failed: cancelled).
    pub async fn run(
        &self,
        jobs: Vec<Job>,
        progress: mpsc::Sender<Progress>,
        cancel: watch::Receiver<bool>,
    ) -> Vec<JobResult> {
        for job in &jobs {
            let _ = progress.send(Progress::Queued { job: job.clone() }).await;
        }
        let sem = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut handles = Vec::new();
        for job in jobs {
            let this = self.clone();
            let sem = sem.clone();
            let progress = progress.clone();
            let mut cancel = cancel.clone();
            handles.push(tokio::spawn(async move {
                let permit = tokio::select! {
                    p = sem.acquire_owned() => p.ok(),
                    _ = cancelled(&mut cancel) => None,
                };
                let outcome = match permit {
                    None => Err("cancelled before it started".to_string()),
                    Some(_permit) => this.run_one(&job, &progress, &mut cancel).await,
                };
                let _ = progress
                    .send(match &outcome {
                        Err(reason) => Progress::Failed {
                            job: job.clone(),
                            reason: reason.clone(),
                        },
                        Ok((report, None)) => Progress::Cached {
                            job: job.clone(),
                            counts: counts_of(report),
                        },
                        Ok((report, Some(elapsed))) => Progress::Done {
                            job: job.clone(),
                            counts: counts_of(report),
                            elapsed_ms: elapsed.as_millis() as u64,
                        },
                    })
                    .await;
                JobResult {
                    job,
                    outcome: outcome.map(|(r, _)| r),
                }
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            if let Ok(r) = h.await {
                out.push(r);
            }
        }
        out
    }

    /// `Ok((report, None))` when it came from the cache.
    async fn run_one(
        &self,
        job: &Job,
        progress: &mpsc::Sender<Progress>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<(Arc<Report>, Option<Duration>), String> {
        if let Target::Image(image) = &job.target {
            check_image(image)?;
        }
        if let Some(r) = self.cache.lock().ok().and_then(|c| c.get(job)) {
            return Ok((r, None));
        }
        let Some(program) = self.program_for(job.tool) else {
            return Err(format!(
                "{} is not installed (not found on PATH); install it or scan with the other scanner",
                job.tool.program()
            ));
        };
        let started = Instant::now();
        let _ = progress
            .send(Progress::Running {
                job: job.clone(),
                elapsed_ms: 0,
            })
            .await;
        let mut cmd = Command::new(&program);
        cmd.args(job.args())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let wait = child.wait_with_output();
        tokio::pin!(wait);
        let mut tick = tokio::time::interval(self.config.tick);
        tick.tick().await;
        let deadline = tokio::time::sleep(self.config.timeout);
        tokio::pin!(deadline);
        let output = loop {
            tokio::select! {
                out = &mut wait => break out.map_err(|e| format!("{} failed: {e}", job.tool.program()))?,
                _ = tick.tick() => {
                    let _ = progress.try_send(Progress::Running {
                        job: job.clone(),
                        elapsed_ms: started.elapsed().as_millis() as u64,
                    });
                }
                _ = &mut deadline => {
                    return Err(format!("timed out after {}s", self.config.timeout.as_secs()));
                }
                _ = cancelled(cancel) => return Err("cancelled".into()),
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            // The fatal line says why; else the last line said.
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let last = lines
                .iter()
                .rev()
                .find(|l| l.contains("FATAL") || l.contains("ERROR") || l.contains("error:"))
                .or(lines.last())
                .copied()
                .unwrap_or("");
            let last = last.rsplit('\t').next().unwrap_or(last).trim();
            let last: String = last.chars().take(300).collect();
            return Err(format!(
                "{} exited with {}: {last}",
                job.tool.program(),
                output
                    .status
                    .code()
                    .map_or("a signal".into(), |c| c.to_string())
            ));
        }
        let label = format!("{} output for {}", job.tool.program(), job.target.label());
        let report = parse_report(Path::new(&label), &output.stdout).map_err(|e| e.to_string())?;
        let report = Arc::new(report);
        if let Ok(mut c) = self.cache.lock() {
            c.put(job, &report);
        }
        Ok((report, Some(started.elapsed())))
    }
}

async fn cancelled(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow() {
            return;
        }
        if rx.changed().await.is_err() {
            // The sender is gone: never cancelled.
            std::future::pending::<()>().await;
        }
    }
}

/// Severity counts of a `[usize; 5]` as text: `2C 3H 0M 1L 0U`.
pub fn counts_text(c: &[usize; 5]) -> String {
    Severity::ALL
        .iter()
        .map(|s| {
            format!(
                "{}{}",
                c[s.index()],
                s.label().chars().next().unwrap().to_ascii_uppercase()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scans::report::ReportFormat;

    fn report(digest: &str) -> Arc<Report> {
        Arc::new(Report {
            format: ReportFormat::Trivy,
            artifact: "app:1".into(),
            digest: Some(digest.into()),
            findings: Vec::new(),
        })
    }

    #[test]
    fn the_cache_is_keyed_by_digest_and_scanner() {
        let mut c = Cache::default();
        let by_tag = Job {
            target: Target::Image("app:1".into()),
            tool: Tool::Trivy,
        };
        assert!(c.get(&by_tag).is_none());
        c.put(&by_tag, &report("sha256:aa"));
        assert!(c.get(&by_tag).is_some());
        // The same digest under a pinned reference hits; another scanner does not.
        let pinned = Job {
            target: Target::Image("registry/app@sha256:aa".into()),
            tool: Tool::Trivy,
        };
        assert!(c.get(&pinned).is_some());
        let grype = Job {
            target: Target::Image("app:1".into()),
            tool: Tool::Grype,
        };
        assert!(c.get(&grype).is_none());
        // Config scans are never cached.
        let cfg = Job {
            target: Target::Config("/x".into()),
            tool: Tool::Trivy,
        };
        c.put(&cfg, &report("sha256:bb"));
        assert!(c.get(&cfg).is_none());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn command_lines() {
        let j = Job {
            target: Target::Secrets("/src".into()),
            tool: Tool::Trivy,
        };
        assert_eq!(
            j.args().join(" "),
            "fs --scanners secret --offline-scan --skip-db-update --format json --quiet -- /src"
        );
        let j = Job {
            target: Target::Image("a:1".into()),
            tool: Tool::Grype,
        };
        assert_eq!(j.args().join(" "), "-o json -q -- a:1");
        let j = Job {
            target: Target::Image("a:1".into()),
            tool: Tool::Trivy,
        };
        assert_eq!(j.args().join(" "), "image --format json --quiet -- a:1");
    }

    #[test]
    fn option_like_image_names_are_refused() {
        assert!(check_image("registry.example/app@sha256:aa").is_ok());
        for bad in ["--output=/tmp/x", "-q", "", "  "] {
            assert!(check_image(bad).is_err(), "{bad:?}");
        }
        assert!(
            check_image("--output=/x")
                .unwrap_err()
                .contains("starts with '-'")
        );
    }
}
