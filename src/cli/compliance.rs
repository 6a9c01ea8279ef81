//! `windflow compliance check|report|evidence|waive`: each deployment
//! against the frameworks that apply to it. `check` exits 0 when every
//! deployment checked is compliant, 3 when one is not (a control fails, or
//! a manual one lacks evidence), 2 on bad input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use crate::cli::CliError;
use crate::cli::auth::StepUp;
use crate::cli::common::print_json;
use crate::cli::deployments::{DeploymentsDir, print_lines};
use crate::compliance::eval::{ControlStatus, DeploymentResult};
use crate::compliance::framework::{self, Framework};
use crate::compliance::records::{self, Evidence, Records, Waiver};
use crate::compliance::report::{self, Format};
use crate::config::Config;
use crate::store::Store;

/// The folders a check reads.
#[derive(Debug, Clone, Args)]
pub struct Dirs {
    #[command(flatten)]
    pub deployments: DeploymentsDir,
    /// The folder of manifests that stands for the cluster (default:
    /// cluster_dir under [isolation] in windflow.toml, else cluster/ in the data dir).
    #[arg(long, value_name = "DIR")]
    pub cluster_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Checks a deployment (or --all) against SOC 2, GDPR, HIPAA and PCI DSS
    /// (those its [data] makes apply): exit 0 compliant, 3 not.
    #[command(group(ArgGroup::new("which").required(true).args(["id", "all"])))]
    Check {
        id: Option<String>,
        #[arg(long)]
        all: bool,
        /// Only these frameworks (soc2, gdpr, hipaa, pci-dss, or a user one; repeatable).
        #[arg(long = "framework", value_name = "ID", value_delimiter = ',')]
        frameworks: Vec<String>,
        #[command(flatten)]
        dirs: Dirs,
        #[arg(long)]
        json: bool,
    },
    /// A report to hand to an auditor: Markdown, JSON or one self-contained HTML file.
    Report {
        id: String,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
        /// Write it here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[arg(long = "framework", value_name = "ID", value_delimiter = ',')]
        frameworks: Vec<String>,
        #[command(flatten)]
        dirs: Dirs,
    },
    /// Evidence for manual controls: add, list.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Accepts a failing or undecided control until it expires (an operator
    /// allowed compliance.waive, with step-up; audited).
    Waive {
        id: String,
        control: String,
        /// Why it is accepted.
        #[arg(long)]
        reason: String,
        /// How long it holds (e.g. 30d; at most 365d).
        #[arg(long, value_name = "DURATION")]
        expires: String,
        #[command(flatten)]
        deployments: DeploymentsDir,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Attaches evidence to a control of a deployment (an operator allowed
    /// compliance.evidence; audited). It replaces that control's evidence.
    Add {
        id: String,
        control: String,
        /// Where the evidence can be read (http or https).
        #[arg(long)]
        link: String,
        #[arg(long)]
        note: String,
        /// How long it holds (e.g. 90d; at most 1095d).
        #[arg(long, value_name = "DURATION")]
        expires: String,
        #[command(flatten)]
        deployments: DeploymentsDir,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Every evidence and waiver, with its expiry (expired ones marked).
    List {
        /// Only this deployment's.
        id: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

impl ComplianceCommand {
    fn json(&self) -> bool {
        match self {
            Self::Check { json, .. } | Self::Waive { json, .. } => *json,
            Self::Report { format, .. } => *format == Format::Json,
            Self::Evidence {
                command: EvidenceCommand::Add { json, .. } | EvidenceCommand::List { json, .. },
            } => *json,
        }
    }
}

pub fn run(
    config: &Config,
    redis_url: Option<&str>,
    cmd: ComplianceCommand,
) -> Result<ExitCode, CliError> {
    let json = cmd.json();
    let res = run_cmd(config, redis_url, cmd);
    if json && let Err(e) = &res {
        print_json(&e.to_json())?;
    }
    res
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The frameworks (shipped and the config dir's), or only those named.
pub fn frameworks(config: &Config, only: &[String]) -> Result<Vec<Framework>, CliError> {
    let all =
        framework::load(&framework::user_dir(&config.paths.config_dir)).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            CliError::Usage(lines.join("\n"))
        })?;
    if only.is_empty() {
        return Ok(all);
    }
    let known: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
    for id in only {
        if !known.contains(&id.as_str()) {
            return Err(CliError::Usage(format!(
                "--framework `{id}`: no such framework (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(all.into_iter().filter(|f| only.contains(&f.id)).collect())
}

/// Checks the deployments of `dirs` (`id`: only that one).
fn evaluate(
    config: &Config,
    redis_url: Option<&str>,
    dirs: &Dirs,
    id: Option<&str>,
    frameworks: &[Framework],
) -> Result<(Vec<DeploymentResult>, Vec<String>), CliError> {
    let mut catalog = dirs.deployments.load(config)?;
    if let Some(id) = id {
        let one = catalog.find(id).map_err(CliError::Usage)?.clone();
        catalog.deployments = vec![one];
    }
    let cluster_dir = crate::isolation::settings::cluster_dir(config, dirs.cluster_dir.as_deref())
        .map_err(|e| CliError::Usage(format!("invalid config file {e}")))?;
    let audit =
        crate::audit::settings::AuditSettings::from_config(config).map_err(CliError::Usage)?;
    let store = Store::open(&config.paths.data_dir)?;
    let keyring = Arc::new(crate::cli::auth::load_keyring(config, true)?);
    let secrets = crate::secrets::settings::SecretsSettings::from_config(
        config,
        &crate::secrets::settings::Flags::default(),
        &|k| std::env::var(k).ok(),
    )
    .map_err(CliError::Usage)?
    .open_store(store.clone())
    .map_err(|e| CliError::Usage(e.to_string()))?;
    let sources = crate::compliance::facts::Sources {
        config,
        store,
        keyring,
        secrets,
        audit: &audit,
        redis_url,
        catalog: &catalog,
        cluster_dir,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(e.into()))?;
    Ok(runtime.block_on(crate::compliance::evaluate(&sources, frameworks, now())))
}

fn run_cmd(
    config: &Config,
    redis_url: Option<&str>,
    cmd: ComplianceCommand,
) -> Result<ExitCode, CliError> {
    match cmd {
        ComplianceCommand::Check {
            id,
            frameworks: only,
            dirs,
            json,
            ..
        } => {
            let fws = frameworks(config, &only)?;
            let (results, problems) = evaluate(config, redis_url, &dirs, id.as_deref(), &fws)?;
            for p in &problems {
                eprintln!("windflow: {}", crate::display::clean_line(p));
            }
            if json {
                let v = match (&id, results.first()) {
                    (Some(_), Some(r)) => serde_json::to_value(r),
                    _ => serde_json::to_value(json!({
                        "compliant": results.iter().all(|r| r.compliant),
                        "deployments": results,
                    })),
                }
                .map_err(|e| CliError::Failure(e.into()))?;
                print_json(&v)?;
            } else {
                print_lines(&text(&results));
            }
            Ok(if results.iter().all(|r| r.compliant) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        ComplianceCommand::Report {
            id,
            format,
            out,
            frameworks: only,
            dirs,
        } => {
            let fws = frameworks(config, &only)?;
            let (results, problems) = evaluate(config, redis_url, &dirs, Some(&id), &fws)?;
            for p in &problems {
                eprintln!("windflow: {}", crate::display::clean_line(p));
            }
            let Some(r) = results.first() else {
                return Err(CliError::Usage(format!("no deployment `{id}`")));
            };
            let body = report::render(r, format);
            match out {
                Some(path) => {
                    std::fs::write(&path, body).map_err(|e| {
                        CliError::Failure(anyhow::anyhow!("cannot write {}: {e}", path.display()))
                    })?;
                    eprintln!("windflow: report written to {}", path.display());
                }
                None => {
                    use std::io::Write;
                    std::io::stdout()
                        .lock()
                        .write_all(body.as_bytes())
                        .map_err(|e| CliError::Failure(e.into()))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ComplianceCommand::Evidence {
            command:
                EvidenceCommand::Add {
                    id,
                    control,
                    link,
                    note,
                    expires,
                    deployments,
                    step_up,
                    json,
                },
        } => {
            let link = records::check_link(&link).map_err(CliError::Usage)?;
            let note = records::check_text("--note", &note).map_err(CliError::Usage)?;
            let secs = duration("--expires", &expires, records::EVIDENCE_MAX_DAYS)?;
            known_control(config, &deployments, &id, &control)?;
            let by = crate::cli::secrets::authorize(config, "compliance.evidence", &step_up)?;
            let t = now();
            let e = Evidence {
                deployment: id,
                control,
                link,
                note,
                by,
                added_at: t,
                expires_at: t + secs,
            };
            let store = Store::open(&config.paths.data_dir)?;
            let audit = crate::cli::audit::cli_audit(config)?;
            records::add_evidence(&store, &audit, &e).map_err(failure)?;
            done(
                json,
                &json!({"evidence": e}),
                &format!(
                    "evidence for {} of {} recorded; it expires {}",
                    e.control,
                    e.deployment,
                    crate::compliance::eval::rfc3339(e.expires_at)
                ),
            )
        }
        ComplianceCommand::Evidence {
            command: EvidenceCommand::List { id, json },
        } => list(config, id.as_deref(), json),
        ComplianceCommand::Waive {
            id,
            control,
            reason,
            expires,
            deployments,
            step_up,
            json,
        } => {
            let reason = records::check_text("--reason", &reason).map_err(CliError::Usage)?;
            let secs = duration("--expires", &expires, records::WAIVER_MAX_DAYS)?;
            known_control(config, &deployments, &id, &control)?;
            let by = crate::cli::secrets::authorize(config, "compliance.waive", &step_up)?;
            let t = now();
            let w = Waiver {
                deployment: id,
                control,
                reason,
                by,
                granted_at: t,
                expires_at: t + secs,
            };
            let store = Store::open(&config.paths.data_dir)?;
            let audit = crate::cli::audit::cli_audit(config)?;
            records::add_waiver(&store, &audit, &w).map_err(failure)?;
            done(
                json,
                &json!({"waiver": w}),
                &format!(
                    "{} of {} waived until {}",
                    w.control,
                    w.deployment,
                    crate::compliance::eval::rfc3339(w.expires_at)
                ),
            )
        }
    }
}

fn done(json: bool, v: &serde_json::Value, line: &str) -> Result<ExitCode, CliError> {
    if json {
        print_json(v)?;
    } else {
        print_lines(&[line.to_string()]);
    }
    Ok(ExitCode::SUCCESS)
}

fn duration(flag: &str, text: &str, max_days: i64) -> Result<i64, CliError> {
    records::lifetime(flag, text, max_days).map_err(CliError::Usage)
}

fn failure(e: String) -> CliError {
    CliError::Failure(anyhow::anyhow!(e))
}

/// The deployment exists and the control is one of a framework's.
fn known_control(
    config: &Config,
    deployments: &DeploymentsDir,
    id: &str,
    control: &str,
) -> Result<(), CliError> {
    deployments
        .load(config)?
        .find(id)
        .map_err(CliError::Usage)?;
    let fws = frameworks(config, &[])?;
    if fws
        .iter()
        .any(|f| f.controls.iter().any(|c| c.id == control))
    {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "no control `{control}` in the frameworks (`windflow compliance check {id}` lists them)"
    )))
}

fn list(config: &Config, id: Option<&str>, json: bool) -> Result<ExitCode, CliError> {
    let store = Store::open(&config.paths.data_dir)?;
    let mut recs = Records::load(&store)?;
    for p in &recs.problems {
        eprintln!(
            "windflow: unreadable record {}",
            crate::display::clean_line(p)
        );
    }
    if let Some(id) = id {
        recs.evidence.retain(|e| e.deployment == id);
        recs.waivers.retain(|w| w.deployment == id);
    }
    let t = now();
    let when = |at: i64| crate::compliance::eval::rfc3339(at);
    if json {
        print_json(&json!({
            "evidence": recs.evidence.iter().map(|e| json!({"record": e, "expires": when(e.expires_at), "expired": !records::current(e.expires_at, t)})).collect::<Vec<_>>(),
            "waivers": recs.waivers.iter().map(|w| json!({"record": w, "expires": when(w.expires_at), "expired": !records::current(w.expires_at, t)})).collect::<Vec<_>>(),
        }))?;
    } else {
        let state = |at: i64| {
            if records::current(at, t) {
                format!("expires {}", when(at))
            } else {
                format!("EXPIRED {}", when(at))
            }
        };
        let mut lines = Vec::new();
        for e in &recs.evidence {
            lines.push(format!(
                "evidence {} {}: {} ({}) by {}, {}",
                e.deployment,
                e.control,
                e.link,
                e.note,
                e.by,
                state(e.expires_at)
            ));
        }
        for w in &recs.waivers {
            lines.push(format!(
                "waiver   {} {}: {} by {}, {}",
                w.deployment,
                w.control,
                w.reason,
                w.by,
                state(w.expires_at)
            ));
        }
        if lines.is_empty() {
            lines.push("no evidence and no waiver".into());
        }
        print_lines(&lines);
    }
    Ok(ExitCode::SUCCESS)
}

/// The check's text: each deployment, its frameworks, and every control
/// that is not a plain pass.
fn text(results: &[DeploymentResult]) -> Vec<String> {
    let mut lines = Vec::new();
    for r in results {
        lines.push(format!(
            "{}: {} (checked {})",
            r.deployment,
            if r.compliant {
                "COMPLIANT"
            } else {
                "NOT COMPLIANT"
            },
            r.checked_at
        ));
        for f in &r.frameworks {
            let count = |s: ControlStatus| f.controls.iter().filter(|c| c.status == s).count();
            let mut line = format!("  {:<10} {}", f.name, f.status.as_str());
            match &f.reason {
                Some(reason) => line.push_str(&format!(" ({reason})")),
                None => line.push_str(&format!(
                    "  ({} pass, {} fail, {} manual, {} waived)",
                    count(ControlStatus::Pass),
                    count(ControlStatus::Fail),
                    count(ControlStatus::Manual),
                    count(ControlStatus::Waived)
                )),
            }
            lines.push(line);
            for c in &f.controls {
                if c.status == ControlStatus::Pass
                    || (c.status == ControlStatus::Manual && c.satisfied)
                {
                    continue;
                }
                lines.push(format!(
                    "    {:<7} {} ({}): {}",
                    c.status.as_str().to_uppercase(),
                    c.id,
                    c.reference,
                    c.title
                ));
                for i in &c.issues {
                    lines.push(format!("            - {i}"));
                }
                if let (false, Some(n)) = (c.satisfied, &c.needs) {
                    lines.push(format!("            needs: {n}"));
                }
            }
        }
        if !r.recommendations.is_empty() {
            lines.push("  recommendations:".into());
            for rec in &r.recommendations {
                lines.push(format!("    - {rec}"));
            }
        }
    }
    if results.is_empty() {
        lines.push("no deployment specs".into());
    }
    lines
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<ComplianceCommand> {
    const NAME: &'static str = "compliance";
    const ABOUT: &'static str =
        "Compliance per deployment (SOC 2, GDPR, HIPAA, PCI DSS): check, report, evidence, waive";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::compliance(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, ctx.redis_url, self.command)
    }
}
