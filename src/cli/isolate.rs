//! `windflow isolate plan|status|matrix|can-reach` on the folder backend:
//! the cluster is a folder of manifests (`--cluster-dir`, or `cluster_dir`
//! under `[isolation]`). Exit codes as in [`crate::cli`]; besides, `status`
//! exits 1 when something drifted and `can-reach` 1 when the connection is
//! not allowed. A folder that could not be read whole exits 2 after the
//! answer: what was not read could change it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use crate::cli::CliError;
use crate::cli::common::print_json;
use crate::cli::deployments::{DeploymentsDir, print_lines};
use crate::config::Config;
use crate::deployments::{Catalog, Protocol, namespace_of};
use crate::isolation::plan::{self, Action};
use crate::isolation::reach::{Direction, Engine, Side};
use crate::isolation::state::{self, FolderState, ProblemsJson};
use crate::isolation::{ports, settings, status};

/// The folders a command reads.
#[derive(Debug, Clone, Args)]
pub struct Dirs {
    #[command(flatten)]
    pub deployments: DeploymentsDir,
    /// The folder of manifests that stands for the cluster (default:
    /// cluster_dir under [isolation] in windflow.toml, else cluster/ in the data dir).
    #[arg(long, value_name = "DIR")]
    pub cluster_dir: Option<PathBuf>,
}

impl Dirs {
    fn cluster(&self, config: &Config) -> Result<PathBuf, CliError> {
        settings::cluster_dir(config, self.cluster_dir.as_deref())
            .map_err(|e| CliError::Usage(format!("invalid config file {e}")))
    }
}

#[derive(Debug, Subcommand)]
pub enum IsolateCommand {
    /// Writes each deployment's namespace, NetworkPolicies, quota and limits
    /// into the cluster folder as wf-<id>.yaml (for `kubectl apply -f`).
    #[command(group(ArgGroup::new("which").required(true).args(["id", "all"])))]
    Plan {
        id: Option<String>,
        /// Every deployment of the specs folder.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        dirs: Dirs,
        #[arg(long)]
        json: bool,
    },
    /// Each deployment's isolation in the cluster folder: default-deny per
    /// direction, Pod Security level, quota use, drift from the plan. Exit 1
    /// when something drifted.
    Status {
        id: Option<String>,
        #[command(flatten)]
        dirs: Dirs,
        #[arg(long)]
        json: bool,
    },
    /// Who the deployment's pods can reach and who can reach them, on which ports.
    Matrix {
        id: String,
        #[command(flatten)]
        dirs: Dirs,
        #[arg(long)]
        json: bool,
    },
    /// Whether pod FROM can open a connection to pod TO on PORT (a number or
    /// a named container port of TO): exit 0 yes, 1 no; says which policies
    /// allowed it or which direction is isolated.
    CanReach {
        /// NAMESPACE/POD
        from: String,
        /// NAMESPACE/POD
        to: String,
        port: String,
        /// TCP, UDP or SCTP.
        #[arg(long, default_value = "TCP")]
        protocol: String,
        #[arg(long, value_name = "DIR")]
        cluster_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The deployment's plan against the live cluster (KUBECONFIG or
    /// in-cluster): what an apply would create or change, by a server-side
    /// dry run; objects another manager edited are named.
    Diff {
        id: String,
        #[command(flatten)]
        deployments: DeploymentsDir,
        #[command(flatten)]
        cluster: super::isolate_cluster::ClusterArgs,
        #[arg(long)]
        json: bool,
    },
    /// Applies the deployment's plan by server-side apply (field manager
    /// windflow) after a dry run; needs --yes and an operator allowed
    /// isolation.apply; audited with the diff's summary.
    Apply {
        id: String,
        /// Apply without asking (the command line's confirmation).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        deployments: DeploymentsDir,
        #[command(flatten)]
        cluster: super::isolate_cluster::ClusterArgs,
        #[command(flatten)]
        step_up: crate::cli::auth::StepUp,
        #[arg(long)]
        json: bool,
    },
}

impl IsolateCommand {
    fn json(&self) -> bool {
        match self {
            Self::Plan { json, .. }
            | Self::Status { json, .. }
            | Self::Matrix { json, .. }
            | Self::CanReach { json, .. }
            | Self::Diff { json, .. }
            | Self::Apply { json, .. } => *json,
        }
    }
}

/// The planned objects of deployment `id`, for the cluster.
fn planned(
    config: &Config,
    deployments: &DeploymentsDir,
    id: &str,
) -> Result<Vec<crate::isolation::cluster::Planned>, CliError> {
    let catalog = deployments.load(config)?;
    let spec = catalog.find(id).map_err(CliError::Usage)?;
    crate::isolation::plan::plan(&spec.spec)
        .objects()
        .into_iter()
        .map(|o| crate::isolation::cluster::Planned::from_value(o.value()).map_err(CliError::from))
        .collect()
}

pub fn run(config: &Config, cmd: IsolateCommand) -> Result<ExitCode, CliError> {
    let json = cmd.json();
    let res = run_cmd(config, cmd);
    if json && let Err(e) = &res {
        print_json(&e.to_json())?;
    }
    res
}

fn run_cmd(config: &Config, cmd: IsolateCommand) -> Result<ExitCode, CliError> {
    match cmd {
        IsolateCommand::Plan { id, dirs, json, .. } => run_plan(config, id, &dirs, json),
        IsolateCommand::Status { id, dirs, json } => run_status(config, id, &dirs, json),
        IsolateCommand::Matrix { id, dirs, json } => run_matrix(config, &id, &dirs, json),
        IsolateCommand::CanReach {
            from,
            to,
            port,
            protocol,
            cluster_dir,
            json,
        } => {
            let dirs = Dirs {
                deployments: DeploymentsDir { dir: None },
                cluster_dir,
            };
            run_can_reach(config, &from, &to, &port, &protocol, &dirs, json)
        }
        IsolateCommand::Diff {
            id,
            deployments,
            cluster,
            json,
        } => {
            let planned = planned(config, &deployments, &id)?;
            super::isolate_cluster::run_diff(&target(config, &cluster)?, &id, &planned, json)
        }
        IsolateCommand::Apply {
            id,
            yes,
            deployments,
            cluster,
            step_up,
            json,
        } => {
            let planned = planned(config, &deployments, &id)?;
            super::isolate_cluster::run_apply(
                config,
                &target(config, &cluster)?,
                &id,
                &planned,
                yes,
                &step_up,
                json,
            )
        }
    }
}

/// The cluster of `--kubeconfig`/`--context`, else of `kubeconfig`/`context`
/// under `[isolation]`, else KUBECONFIG's (or the in-cluster config).
fn target(
    config: &Config,
    flags: &super::isolate_cluster::ClusterArgs,
) -> Result<crate::isolation::cluster::ClusterTarget, CliError> {
    if flags.kubeconfig.is_some() || flags.context.is_some() {
        return Ok(flags.target());
    }
    settings::cluster_target(config)
        .map(Option::unwrap_or_default)
        .map_err(|e| CliError::Usage(format!("invalid config file {e}")))
}

/// The deployments a command is about: one by id, or all.
fn chosen<'a>(
    catalog: &'a Catalog,
    id: Option<&str>,
) -> Result<Vec<&'a crate::deployments::SpecFile>, CliError> {
    match id {
        Some(id) => Ok(vec![catalog.find(id).map_err(CliError::Usage)?]),
        None => Ok(catalog.deployments.iter().collect()),
    }
}

fn run_plan(
    config: &Config,
    id: Option<String>,
    dirs: &Dirs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let catalog = dirs.deployments.load(config)?;
    let cluster = dirs.cluster(config)?;
    let chosen = chosen(&catalog, id.as_deref())?;
    let mut written = Vec::new();
    for d in chosen {
        let p = plan::plan(&d.spec);
        let file = plan::write(&cluster, &p).map_err(|e| {
            CliError::Failure(anyhow::anyhow!(
                "cannot write {} into {}: {e}",
                p.file_name(),
                cluster.display()
            ))
        })?;
        written.push((p, file));
    }
    // With --all, the plans written earlier for specs since removed go.
    let removed = if id.is_none() {
        let keep: Vec<&str> = catalog
            .deployments
            .iter()
            .map(|d| d.spec.id.as_str())
            .collect();
        plan::prune(&cluster, &keep).map_err(|e| {
            CliError::Failure(anyhow::anyhow!(
                "cannot remove old plans from {}: {e}",
                cluster.display()
            ))
        })?
    } else {
        Vec::new()
    };
    if json {
        print_json(&json!({
            "cluster_dir": cluster,
            "removed": removed.iter().map(|(id, file)| json!({
                "deployment": id,
                "file": file,
            })).collect::<Vec<_>>(),
            "plans": written.iter().map(|(p, file)| json!({
                "deployment": p.deployment,
                "namespace": p.namespace_name(),
                "file": file,
                "objects": p.objects().iter().map(|o| json!({"kind": o.kind(), "name": o.name()})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut lines: Vec<String> = written
            .iter()
            .map(|(p, file)| {
                format!(
                    "{}: {} objects ({} NetworkPolicies) in {}",
                    p.deployment,
                    p.objects().len(),
                    p.policies.len(),
                    file.display()
                )
            })
            .collect();
        if written.is_empty() {
            lines.push(format!("no deployment specs in {}", catalog.dir.display()));
        }
        lines.extend(removed.iter().map(|(id, file)| {
            format!(
                "{id}: spec removed, so its plan {} was removed",
                file.display()
            )
        }));
        print_lines(&lines);
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the cluster folder; its problems go to stderr at once.
fn read_folder(config: &Config, dirs: &Dirs) -> Result<(PathBuf, FolderState), CliError> {
    let cluster = dirs.cluster(config)?;
    let folder = state::from_dir(&cluster);
    for p in folder.problems() {
        eprintln!("windflow: {}", crate::display::clean_line(&p));
    }
    Ok((cluster, folder))
}

/// Exit 2 when the folder was not read whole (the answer is printed, and
/// `complete: false` in JSON), else `code`.
fn finish(
    cluster: &std::path::Path,
    folder: &FolderState,
    code: ExitCode,
) -> Result<ExitCode, CliError> {
    if folder.complete() {
        return Ok(code);
    }
    eprintln!(
        "windflow: {} could not be read whole ({} problems above): the answer may be wrong",
        crate::display::clean_line(&cluster.display().to_string()),
        folder.errors.len() + folder.skipped.len()
    );
    Ok(ExitCode::from(2))
}

fn problems_json(folder: &FolderState) -> serde_json::Value {
    json!(ProblemsJson {
        errors: &folder.errors,
        skipped: &folder.skipped,
    })
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn run_status(
    config: &Config,
    id: Option<String>,
    dirs: &Dirs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let catalog = dirs.deployments.load(config)?;
    let (cluster, folder) = read_folder(config, dirs)?;
    let statuses: Vec<status::Status> = chosen(&catalog, id.as_deref())?
        .iter()
        .map(|d| status::status(&plan::plan(&d.spec), &folder.state))
        .collect();
    let drifted = statuses.iter().any(status::Status::drifted);
    if json {
        print_json(&json!({
            "cluster_dir": cluster,
            "complete": folder.complete(),
            "unreadable": problems_json(&folder),
            "drifted": drifted,
            "deployments": statuses,
        }))?;
    } else {
        let mut lines = Vec::new();
        for s in &statuses {
            lines.push(format!(
                "{} ({}): {}",
                s.namespace,
                s.deployment,
                if s.drifted() {
                    "DRIFT"
                } else {
                    "isolated as planned"
                }
            ));
            if s.namespace_present {
                lines.push(format!(
                    "  ingress denied by default: {}   egress denied by default: {}",
                    yes(s.ingress_denied),
                    yes(s.egress_denied)
                ));
                let levels: Vec<String> = s
                    .psa
                    .levels
                    .iter()
                    .map(|(m, l)| format!("{m} {}", l.as_deref().unwrap_or("unset")))
                    .collect();
                lines.push(format!(
                    "  pod security: {}{}",
                    levels.join(", "),
                    if s.psa.lowered { "  (LOWERED)" } else { "" }
                ));
                let sync = &s.diff;
                lines.push(format!(
                    "  objects: {} as planned, {} missing, {} changed, {} extra",
                    sync.count(Action::Unchanged),
                    sync.count(Action::Create),
                    sync.count(Action::Update),
                    sync.count(Action::Extra)
                ));
            }
            for q in &s.quota_warnings {
                lines.push(format!(
                    "  quota {}: {} {} of {} ({} %)",
                    q.quota, q.resource, q.used, q.hard, q.percent
                ));
            }
            for d in &s.drift {
                lines.push(format!("  - {d}"));
            }
        }
        if statuses.is_empty() {
            lines.push(format!("no deployment specs in {}", catalog.dir.display()));
        }
        print_lines(&lines);
    }
    let code = if drifted {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    finish(&cluster, &folder, code)
}

fn run_matrix(config: &Config, id: &str, dirs: &Dirs, json: bool) -> Result<ExitCode, CliError> {
    let catalog = dirs.deployments.load(config)?;
    catalog.find(id).map_err(CliError::Usage)?;
    let namespace = namespace_of(id);
    let (cluster, folder) = read_folder(config, dirs)?;
    let engine = Engine::new(&folder.state);
    warn(&engine);
    let mine = engine.pods_in(&namespace);
    let everyone: Vec<usize> = (0..engine.pod_count()).collect();
    let mut outbound = Vec::new();
    engine.for_each_allowed(&mine, &everyone, |s, d, p| outbound.push((s, d, p)));
    let mut inbound = Vec::new();
    let others: Vec<usize> = everyone
        .iter()
        .copied()
        .filter(|&i| engine.pod_namespace(i) != namespace)
        .collect();
    engine.for_each_allowed(&others, &mine, |s, d, p| inbound.push((s, d, p)));
    if json {
        let pair = |(s, d, p): &(usize, usize, ports::PortSet)| json!({"from": engine.pod_name(*s), "to": engine.pod_name(*d), "ports": p.describe()});
        print_json(&json!({
            "deployment": id,
            "namespace": namespace,
            "cluster_dir": cluster,
            "complete": folder.complete(),
            "unreadable": problems_json(&folder),
            "warnings": engine.warnings,
            "pods": mine.iter().map(|&i| json!({
                "pod": engine.pod_name(i),
                "ingress_isolated": engine.isolated(i, Direction::Ingress),
                "egress_isolated": engine.isolated(i, Direction::Egress),
            })).collect::<Vec<_>>(),
            "outbound": outbound.iter().map(pair).collect::<Vec<_>>(),
            "inbound": inbound.iter().map(pair).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut lines = vec![format!(
            "{namespace}: {} pods of {} in {}",
            mine.len(),
            engine.pod_count(),
            cluster.display()
        )];
        for &i in &mine {
            lines.push(format!(
                "  {:<40} ingress {}  egress {}",
                engine.pod_name(i),
                if engine.isolated(i, Direction::Ingress) {
                    "isolated"
                } else {
                    "OPEN"
                },
                if engine.isolated(i, Direction::Egress) {
                    "isolated"
                } else {
                    "OPEN"
                },
            ));
        }
        for (title, pairs) in [("reaches", &outbound), ("reached by", &inbound)] {
            lines.push(format!("{namespace} {title} ({} pairs):", pairs.len()));
            for (s, d, p) in pairs.iter() {
                lines.push(format!(
                    "  {} -> {}  {p}",
                    engine.pod_name(*s),
                    engine.pod_name(*d)
                ));
            }
        }
        print_lines(&lines);
    }
    finish(&cluster, &folder, ExitCode::SUCCESS)
}

fn warn(engine: &Engine) {
    for w in &engine.warnings {
        eprintln!("windflow: warning: {}", crate::display::clean_line(w));
    }
}

fn side_lines(pod: &str, s: &Side) -> Vec<String> {
    let dir = format!("{:?}", s.direction).to_lowercase();
    if !s.isolated {
        return vec![format!(
            "  {dir} of {pod}: not isolated (no policy selects it for {dir})"
        )];
    }
    let mut lines = vec![format!(
        "  {dir} of {pod}: isolated by {}",
        s.isolated_by.join(", ")
    )];
    if s.allowed_by.is_empty() {
        lines.push("    no rule allows the other end".into());
    }
    for a in &s.allowed_by {
        lines.push(format!("    {} allows {}", a.policy, a.ports.join(", ")));
    }
    lines
}

fn pod_ref(engine: &Engine, text: &str) -> Result<usize, CliError> {
    let (ns, name) = text
        .split_once('/')
        .ok_or_else(|| CliError::Usage(format!("`{text}`: give a pod as NAMESPACE/NAME")))?;
    engine
        .pod(ns, name)
        .ok_or_else(|| CliError::Usage(format!("no pod {ns}/{name} in the cluster folder")))
}

fn run_can_reach(
    config: &Config,
    from: &str,
    to: &str,
    port: &str,
    protocol: &str,
    dirs: &Dirs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let protocol: Protocol = ports::protocol(Some(&protocol.to_ascii_uppercase()))
        .ok_or_else(|| CliError::Usage(format!("protocol `{protocol}`: TCP, UDP or SCTP")))?;
    let (cluster, folder) = read_folder(config, dirs)?;
    let engine = Engine::new(&folder.state);
    warn(&engine);
    let (src, dst) = (pod_ref(&engine, from)?, pod_ref(&engine, to)?);
    let number = match port.parse::<u16>() {
        Ok(n) if n > 0 => n,
        _ => engine.named_port(dst, port, protocol).ok_or_else(|| {
            CliError::Usage(format!(
                "port `{port}`: neither a port number nor a {} port named so on {to}",
                protocol.as_str()
            ))
        })?,
    };
    let e = engine.explain(src, dst);
    let reachable = e.ports.contains(protocol, number);
    if json {
        print_json(&json!({
            "reachable": reachable,
            "protocol": protocol.as_str(),
            "port": number,
            "complete": folder.complete(),
            "unreadable": problems_json(&folder),
            "warnings": engine.warnings,
            "explanation": e,
        }))?;
    } else {
        let mut lines = vec![format!(
            "{} -> {} {} {number}: {}",
            e.from,
            e.to,
            protocol.as_str(),
            if reachable {
                "REACHABLE"
            } else {
                "NOT REACHABLE"
            }
        )];
        if e.loopback {
            lines.push("  a pod always reaches itself (policies do not apply to loopback)".into());
        } else {
            lines.extend(side_lines(&e.from, &e.egress));
            lines.extend(side_lines(&e.to, &e.ingress));
            lines.push(format!("  open between them: {}", e.ports));
        }
        print_lines(&lines);
    }
    finish(
        &cluster,
        &folder,
        ExitCode::from(if reachable { 0 } else { 1 }),
    )
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<IsolateCommand> {
    const NAME: &'static str = "isolate";
    const ABOUT: &'static str =
        "Namespace isolation per deployment: plan, status, matrix, can-reach";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::isolate(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, self.command)
    }
}
