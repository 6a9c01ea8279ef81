//! `windflow isolate diff ID` and `windflow isolate apply ID` against a real
//! cluster (KUBECONFIG, `--kubeconfig`, `--context`, or the in-cluster
//! config). They take the deployment's already planned objects.
//!
//! `apply` needs `--yes` and an operator allowed `isolation.apply` (with a
//! fresh second factor); a server-side dry run comes first, and every apply
//! is audited with the diff's summary (`isolation_applied`, or
//! `isolation_apply_failed` with what was written before it stopped).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use crate::cli::CliError;
use crate::cli::auth::StepUp;
use crate::config::Config;
use crate::display::Untrusted;
use crate::isolation::cluster::{
    self, Cluster, ClusterError, ClusterTarget, DiffSummary, ObjectDiff, Planned,
};

/// Which cluster (flags for the `isolate` subcommands).
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config, else the in-cluster config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    pub fn target(&self) -> ClusterTarget {
        ClusterTarget {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// What a command prints: text, or JSON with `--json`.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub text: String,
    pub json: Value,
}

impl Outcome {
    fn print(&self, json: bool) -> Result<ExitCode, CliError> {
        let mut out = std::io::stdout().lock();
        let res = if json {
            serde_json::to_string_pretty(&self.json)
                .map_err(std::io::Error::other)
                .and_then(|t| writeln!(out, "{t}"))
        } else {
            writeln!(out, "{}", self.text)
        };
        res.map_err(|e| CliError::Failure(e.into()))?;
        Ok(ExitCode::SUCCESS)
    }
}

/// The diff's lines, fit for a terminal.
fn shown(diffs: &[ObjectDiff]) -> impl Iterator<Item = String> + '_ {
    diffs
        .iter()
        .flat_map(cluster::object_lines)
        .map(|l| Untrusted(&l).to_string())
}

fn cli_error(code: u8, message: String) -> CliError {
    match code {
        2 => CliError::Usage(message),
        3 => CliError::Refused(message),
        4 => CliError::Unavailable(message),
        _ => CliError::Failure(anyhow::anyhow!(message)),
    }
}

impl From<ClusterError> for CliError {
    fn from(e: ClusterError) -> Self {
        cli_error(e.exit_code(), e.to_string())
    }
}

use crate::cli::common::runtime;

/// `isolate diff ID`: prints what `apply` would change.
pub fn run_diff(
    target: &ClusterTarget,
    id: &str,
    planned: &[Planned],
    json: bool,
) -> Result<ExitCode, CliError> {
    diff_outcome(target, id, planned)?.print(json)
}

/// `isolate apply ID`: applies after a dry run; needs `yes` and an operator
/// allowed `isolation.apply`.
pub fn run_apply(
    config: &Config,
    target: &ClusterTarget,
    id: &str,
    planned: &[Planned],
    yes: bool,
    step_up: &StepUp,
    json: bool,
) -> Result<ExitCode, CliError> {
    apply_outcome(config, target, id, planned, yes, step_up)?.print(json)
}

/// [`run_diff`] without the printing.
pub fn diff_outcome(
    target: &ClusterTarget,
    id: &str,
    planned: &[Planned],
) -> Result<Outcome, CliError> {
    runtime()?.block_on(async {
        let cluster = Cluster::connect(target).await?;
        let diffs = cluster::diff(&cluster, planned).await?;
        let summary = DiffSummary::of(&diffs);
        let mut text = vec![format!(
            "deployment {} against {}",
            Untrusted(id),
            Untrusted(cluster.server())
        )];
        text.extend(shown(&diffs));
        text.push(Untrusted(&summary.counts()).to_string());
        Ok(Outcome {
            text: text.join("\n"),
            json: json!({
                "deployment": id,
                "server": cluster.server(),
                "in_sync": summary.created.is_empty() && summary.changed.is_empty(),
                "summary": summary.json(),
                "objects": diffs,
            }),
        })
    })
}

/// [`run_apply`] without the printing.
pub fn apply_outcome(
    config: &Config,
    target: &ClusterTarget,
    id: &str,
    planned: &[Planned],
    yes: bool,
    step_up: &StepUp,
) -> Result<Outcome, CliError> {
    if config.read_only {
        return Err(CliError::Refused(
            "read-only mode: `isolate apply` changes the cluster; run without --read-only".into(),
        ));
    }
    if !yes {
        return Err(CliError::Usage(format!(
            "`isolate apply {id}` changes the cluster: review `windflow isolate diff {id}`, \
             then pass --yes"
        )));
    }
    let actor = crate::cli::secrets::authorize(config, "isolation.apply", step_up)?;
    let audit = crate::cli::audit::cli_audit(config)?;
    let record = |event: &str, details: Value| {
        audit.emit(event, Some(&actor), details).map_err(|e| {
            CliError::Failure(anyhow::anyhow!("the audit log cannot record {event}: {e}"))
        })
    };
    runtime()?.block_on(async {
        let cluster = Cluster::connect(target).await?;
        match cluster::apply(&cluster, planned).await {
            Ok(report) => {
                let summary = DiffSummary::of(&report.diff);
                let applied: Vec<String> = report.applied.iter().map(ToString::to_string).collect();
                let mut details = summary.json();
                details["deployment"] = json!(id);
                details["server"] = json!(cluster.server());
                details["applied"] = json!(applied);
                record("isolation_applied", details.clone()).map_err(|e| {
                    CliError::Failure(anyhow::anyhow!(
                        "applied {} object(s) to {}, but {e}",
                        applied.len(),
                        cluster.server()
                    ))
                })?;
                let mut text = vec![format!(
                    "applied deployment {} to {} (field manager {})",
                    Untrusted(id),
                    Untrusted(cluster.server()),
                    cluster::FIELD_MANAGER
                )];
                text.extend(shown(&report.diff));
                text.push(Untrusted(&summary.counts()).to_string());
                Ok(Outcome {
                    text: text.join("\n"),
                    json: json!({
                        "deployment": id,
                        "server": cluster.server(),
                        "summary": summary.json(),
                        "applied": report.applied,
                        "objects": report.diff,
                    }),
                })
            }
            Err(failed) => {
                let applied: Vec<String> = failed.applied.iter().map(ToString::to_string).collect();
                record(
                    "isolation_apply_failed",
                    json!({
                        "deployment": id,
                        "server": cluster.server(),
                        "applied": applied,
                        "error": failed.error.to_string(),
                    }),
                )?;
                Err(cli_error(failed.error.exit_code(), failed.to_string()))
            }
        }
    })
}
