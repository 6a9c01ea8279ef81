//! `windflow scan report|image|manifests`: the deploy gate and the manifest
//! checks, headless. Text by default, JSON with `--json`. Exit codes as in
//! [`crate::cli`]: 0 allowed (or score at least `--min-score`), 1 failure
//! (every scanner failed), 2 bad usage or unreadable input, 3 blocked by
//! the policy (or score under `--min-score`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::NaiveDate;
use clap::Subcommand;
use serde_json::json;

use crate::cli::CliError;
use crate::cli::common::print_json;
use crate::config::Config;
use crate::scans::gate::{self, Decision, Policy, Run, Verdict};
use crate::scans::k8s::{self, ManifestReport};
use crate::scans::merge::{Aggregate, MergedFinding};
use crate::scans::report::Report;
use crate::scans::runner::{self, Job, Progress, Runner, RunnerConfig, Target, Tool};
use crate::scans::{aggregate, merge, read_report};

#[derive(Debug, Subcommand)]
pub enum ScanCommand {
    /// Judge scanner reports (Trivy, Grype, clair-scanner, klar, Clair v4 JSON)
    /// against the deploy policy: exit 0 allowed, 3 blocked.
    Report {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Policy file (default: the bundled assets/policy/default.toml).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Judge waivers' expiry as of this day (YYYY-MM-DD; default today).
        #[arg(long, value_name = "DATE", hide = true)]
        today: Option<NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Scan images with Trivy and/or Grype (found on PATH) and judge the merged
    /// findings: exit 0 allowed, 3 blocked, 1 when every scanner failed.
    Image {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// trivy, grype (repeat or comma-separate; default both).
        #[arg(long = "scanner", value_delimiter = ',', value_parser = parse_tool)]
        scanners: Vec<Tool>,
        /// Scans at once.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Seconds before a scan is stopped.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        #[arg(long, value_name = "DATE", hide = true)]
        today: Option<NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// Security checks of Kubernetes manifests (files and folders, multi-document
    /// YAML): findings, a 0-100 score; exit 3 under --min-score.
    Manifests {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Lowest acceptable overall score.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
        min_score: Option<u8>,
        #[arg(long)]
        json: bool,
    },
}

fn parse_tool(s: &str) -> Result<Tool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "trivy" => Ok(Tool::Trivy),
        "grype" => Ok(Tool::Grype),
        other => Err(format!("unknown scanner `{other}`: trivy or grype")),
    }
}

pub fn run(config: &Config, command: ScanCommand) -> Result<ExitCode, CliError> {
    match command {
        ScanCommand::Report {
            files,
            policy,
            today,
            json,
        } => {
            let policy = load_policy(policy.as_deref())?;
            let mut reports = Vec::new();
            let mut runs = Vec::new();
            for f in &files {
                let r = read_report(f).map_err(|e| CliError::Usage(e.to_string()))?;
                runs.push(Run::ok(f.display().to_string(), r.artifact.clone()));
                reports.push((f.display().to_string(), r));
            }
            judge(config, &reports, &runs, &policy, today, json)
        }
        ScanCommand::Image {
            images,
            policy,
            scanners,
            concurrency,
            timeout,
            today,
            json,
        } => {
            for image in &images {
                runner::check_image(image).map_err(CliError::Usage)?;
            }
            let policy = load_policy(policy.as_deref())?;
            let tools = if scanners.is_empty() {
                vec![Tool::Trivy, Tool::Grype]
            } else {
                scanners
            };
            let jobs: Vec<Job> = images
                .iter()
                .flat_map(|i| {
                    tools.iter().map(|t| Job {
                        target: Target::Image(i.clone()),
                        tool: *t,
                    })
                })
                .collect();
            let runner = Runner::new(RunnerConfig {
                concurrency,
                timeout: Duration::from_secs(timeout),
                ..RunnerConfig::default()
            });
            let rt = crate::cli::common::runtime()?;
            let results = rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel(256);
                let (_cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
                let printer = tokio::spawn(async move {
                    while let Some(p) = rx.recv().await {
                        if !json {
                            print_progress(&p);
                        }
                    }
                });
                let out = runner.run(jobs, tx, cancel_rx).await;
                let _ = printer.await;
                out
            });
            let mut reports = Vec::new();
            let mut runs = Vec::new();
            for r in results {
                let (scanner, target) = (r.job.tool.program(), r.job.target.label());
                let name = format!("{scanner} {target}");
                match r.outcome {
                    Ok(rep) => {
                        reports.push((name, (*rep).clone()));
                        runs.push(Run::ok(scanner, target));
                    }
                    Err(reason) => {
                        eprintln!(
                            "windflow: {}",
                            crate::display::clean_line(&format!("{name}: {reason}"))
                        );
                        runs.push(Run::failed(scanner, target, reason));
                    }
                }
            }
            judge(config, &reports, &runs, &policy, today, json)
        }
        ScanCommand::Manifests {
            paths,
            min_score,
            json,
        } => {
            let report = k8s::check_paths(&paths);
            print_manifests(&report, min_score, json)?;
            for e in &report.errors {
                eprintln!("windflow: {}", crate::display::clean_line(&e.to_string()));
            }
            for k in &report.skipped {
                eprintln!(
                    "windflow: skipped {}",
                    crate::display::clean_line(&k.to_string())
                );
            }
            // What could not be read is never passed: bad input, after the
            // report of what could be read.
            if let Some(problem) = report.problem() {
                return Err(CliError::Usage(problem));
            }
            Ok(match (min_score, report.score) {
                (Some(min), Some(score)) if score < min => ExitCode::from(3),
                _ => ExitCode::SUCCESS,
            })
        }
    }
}

fn print_progress(p: &Progress) {
    let job = p.job();
    let who = format!("{} {}", job.tool.program(), job.target.label());
    let line = match p {
        Progress::Queued { .. } => format!("queued   {who}"),
        Progress::Running { elapsed_ms, .. } => format!("running  {who} ({}s)", elapsed_ms / 1000),
        Progress::Done {
            counts, elapsed_ms, ..
        } => {
            format!(
                "done     {who} in {:.1}s: {}",
                *elapsed_ms as f64 / 1000.0,
                runner::counts_text(counts)
            )
        }
        Progress::Cached { counts, .. } => {
            format!("cached   {who}: {}", runner::counts_text(counts))
        }
        Progress::Failed { reason, .. } => format!("failed   {who}: {reason}"),
    };
    eprintln!("{}", crate::display::clean_line(&line));
}

fn load_policy(path: Option<&Path>) -> Result<Policy, CliError> {
    match path {
        Some(p) => Policy::load(p).map_err(|e| CliError::Usage(e.to_string())),
        None => Ok(Policy::default_policy()),
    }
}

/// The JSON of a judged set of findings (shared with the pane's export).
pub fn verdict_json(
    reports: &[(String, Report)],
    merged: &[MergedFinding],
    agg: &Aggregate,
    verdict: &Verdict,
) -> serde_json::Value {
    json!({
        // null when there is no verdict (see `reasons` and `failures`).
        "verdict": (verdict.decision != Decision::NoVerdict).then(|| verdict.label()),
        "partial": verdict.partial(),
        "reasons": verdict.reasons,
        "counts": agg.counts,
        "counted": verdict.counted,
        "fixable": agg.fixable,
        "not_fixable": agg.not_fixable,
        "per_target": agg.per_target,
        "findings": merged,
        "waived": verdict.waived,
        "expired_waivers": verdict.expired,
        "ignored_unfixed": verdict.ignored_unfixed,
        "reports": reports.iter().map(|(name, r)| json!({
            "source": name,
            "format": r.format,
            "artifact": r.artifact,
            "digest": r.digest,
            "findings": r.findings.len(),
        })).collect::<Vec<_>>(),
        "failures": verdict.failed,
    })
}

/// Keeps each judged image's verdict as its latest (for compliance and the
/// metrics) and records it; the images kept, or why none were.
fn keep_verdicts(
    config: &Config,
    merged: &[crate::scans::MergedFinding],
    runs: &[Run],
    policy: &Policy,
    today: NaiveDate,
) -> Result<Vec<String>, String> {
    if config.read_only {
        return Err("verdict not kept: read-only mode".into());
    }
    let by = crate::cli::common::explicit_operator(config);
    let kept = crate::scans::verdicts::per_image(merged, runs, policy, today, by.as_deref());
    let not_kept = |e: String| format!("verdict not kept: {e}");
    let store =
        crate::store::Store::open(&config.paths.data_dir).map_err(|e| not_kept(e.to_string()))?;
    let audit = crate::cli::audit::cli_audit(config).map_err(|e| not_kept(e.to_string()))?;
    crate::scans::verdicts::record(&store, &audit, &kept)?;
    Ok(kept.into_iter().map(|k| k.image).collect())
}

fn judge(
    config: &Config,
    reports: &[(String, Report)],
    runs: &[Run],
    policy: &Policy,
    today: Option<NaiveDate>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let merged = merge(reports.iter().flat_map(|(_, r)| r.findings.iter().cloned()));
    let agg = aggregate(&merged);
    let verdict = gate::judge(&merged, runs, policy, today);
    let kept = keep_verdicts(config, &merged, runs, policy, today);
    if json {
        let mut out = verdict_json(reports, &merged, &agg, &verdict);
        out["kept"] = match &kept {
            Ok(images) => json!(images),
            Err(why) => json!({ "error": why }),
        };
        print_json(&out)?;
    } else {
        let mut lines = Vec::new();
        if verdict.partial() {
            lines.push(format!(
                "{} (partial: {} of {} scans failed)",
                verdict.label().to_uppercase(),
                verdict.failed.len(),
                verdict.runs
            ));
        } else {
            lines.push(verdict.label().to_uppercase());
        }
        for r in &verdict.reasons {
            lines.push(format!("  {}: {}", r.message, r.detail));
            for f in r.findings.iter().take(10) {
                lines.push(format!("    {f}"));
            }
            if r.findings.len() > 10 {
                lines.push(format!("    ... and {} more", r.findings.len() - 10));
            }
        }
        let c = &agg.counts;
        lines.push(format!(
            "{} findings from {} reports: critical {}, high {}, medium {}, low {}, unknown {}; {} fixable",
            merged.len(),
            reports.len(),
            c.0[0],
            c.0[1],
            c.0[2],
            c.0[3],
            c.0[4],
            agg.fixable
        ));
        for w in &verdict.waived {
            lines.push(format!(
                "waived {} ({}) until {}: {}",
                w.id, w.package, w.expires, w.justification
            ));
        }
        for w in &verdict.expired {
            lines.push(format!(
                "expired waiver {} ({}) ended {}",
                w.id, w.package, w.expires
            ));
        }
        if !merged.is_empty() {
            lines.push(String::new());
            lines.push(format!(
                "{:<9} {:<22} {:<24} {:<18} {:<18} {}",
                "SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED", "SCANNERS"
            ));
            for m in &merged {
                lines.push(format!(
                    "{:<9} {:<22} {:<24} {:<18} {:<18} {}",
                    m.severity.label(),
                    m.id,
                    m.package,
                    m.installed,
                    m.fixed.as_deref().unwrap_or("-"),
                    m.scanners
                        .iter()
                        .map(|s| s.label())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
        }
        if let Ok(images) = &kept {
            lines.push(String::new());
            lines.push(format!(
                "kept as the latest verdict of {}",
                images.join(", ")
            ));
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        writeln!(out, "{}", crate::display::clean_lines(&lines))
            .and_then(|_| out.flush())
            .map_err(|e| CliError::Failure(e.into()))?;
    }
    if let Err(why) = &kept {
        // The gate's answer stands; what was not kept is said.
        eprintln!("windflow: {}", crate::display::clean_line(why));
    }
    match verdict.decision {
        Decision::Allowed => Ok(ExitCode::SUCCESS),
        Decision::Blocked => Ok(ExitCode::from(3)),
        Decision::NoVerdict => Err(CliError::Failure(anyhow::anyhow!(
            "{}; no verdict (see the reasons above)",
            verdict
                .reasons
                .iter()
                .map(|r| r.detail.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

fn print_manifests(
    report: &ManifestReport,
    min_score: Option<u8>,
    json: bool,
) -> Result<(), CliError> {
    if json {
        return print_json(&json!({
            // null when nothing was scored; see `complete` and `errors`.
            "score": report.score,
            "complete": report.complete(),
            "min_score": min_score,
            "objects": report.objects,
            "findings": report.findings,
            "errors": report.errors,
            "skipped": report.skipped,
            "files": report.files,
            "documents": report.documents,
        }));
    }
    let score = report
        .score
        .map_or("no score".to_string(), |s| format!("score {s}/100"));
    let mut lines = vec![format!(
        "{score} over {} objects ({} files, {} documents, {} findings)",
        report.objects.len(),
        report.files,
        report.documents,
        report.findings.len()
    )];
    // Each object's findings at once (not a pass over all per object).
    let mut by_object: std::collections::HashMap<(&str, &str, &str), Vec<&k8s::K8sFinding>> =
        std::collections::HashMap::new();
    for f in &report.findings {
        by_object
            .entry((&f.kind, &f.namespace, &f.name))
            .or_default()
            .push(f);
    }
    for o in &report.objects {
        lines.push(String::new());
        lines.push(format!(
            "{:>3}  {}/{}/{}  {}",
            o.score, o.kind, o.namespace, o.name, o.file
        ));
        let mut own: Vec<&k8s::K8sFinding> = by_object
            .get(&(o.kind.as_str(), o.namespace.as_str(), o.name.as_str()))
            .cloned()
            .unwrap_or_default();
        own.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.check.cmp(b.check)));
        for f in own {
            let c = f
                .container
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            lines.push(format!(
                "     {:<8} {:<24}{c} {}",
                f.severity.label(),
                f.check,
                f.message
            ));
        }
    }
    for e in &report.errors {
        lines.push(String::new());
        lines.push(format!("unreadable: {e}"));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", crate::display::clean_lines(&lines))
        .map_err(|e| CliError::Failure(e.into()))
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<ScanCommand> {
    const NAME: &'static str = "scan";
    const ABOUT: &'static str =
        "Vulnerability reports and scans through the deploy gate; Kubernetes manifest checks";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::scan(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, self.command)
    }
}
