//! `windflow deployments list|show|check`: the deployment specs, checked.
//! Exit 2 when a spec is bad (naming the file, the line and the key).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::CliError;
use crate::cli::common::print_json;
use crate::config::Config;
use crate::deployments::{self, Catalog, Deployment};
use crate::display::clean_lines;

/// `--deployments DIR`, on every command that reads the specs.
#[derive(Debug, Clone, Args)]
pub struct DeploymentsDir {
    /// Folder of deployment specs (default: deployments_dir in windflow.toml,
    /// else deployments/ in the config dir).
    #[arg(long = "deployments", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl DeploymentsDir {
    pub fn path(&self, config: &Config) -> PathBuf {
        crate::isolation::settings::deployments_dir(config, self.dir.as_deref())
    }

    /// Every spec of the folder; any bad one is a usage error listing them all.
    pub fn load(&self, config: &Config) -> Result<Catalog, CliError> {
        deployments::load_dir(&self.path(config)).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            CliError::Usage(match lines.len() {
                1 => lines[0].clone(),
                n => format!("{n} bad deployment specs:\n{}", lines.join("\n")),
            })
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum DeploymentsCommand {
    /// The deployments of the specs folder.
    List {
        #[command(flatten)]
        dir: DeploymentsDir,
        #[arg(long)]
        json: bool,
    },
    /// One deployment's spec as read (defaults filled in).
    Show {
        id: String,
        #[command(flatten)]
        dir: DeploymentsDir,
        #[arg(long)]
        json: bool,
    },
    /// Checks one spec file (and that no other spec of the folder has its
    /// id): exit 0 valid, 2 not.
    Check {
        file: PathBuf,
        #[command(flatten)]
        dir: DeploymentsDir,
        #[arg(long)]
        json: bool,
    },
}

impl DeploymentsCommand {
    fn json(&self) -> bool {
        match self {
            Self::List { json, .. } | Self::Show { json, .. } | Self::Check { json, .. } => *json,
        }
    }
}

pub fn run(config: &Config, cmd: DeploymentsCommand) -> Result<ExitCode, CliError> {
    let json = cmd.json();
    let res = run_cmd(config, cmd);
    if json && let Err(e) = &res {
        print_json(&e.to_json())?;
    }
    res
}

/// Prints lines that hold outside text, each kept on one line.
pub fn print_lines(lines: &[String]) {
    if !lines.is_empty() {
        println!("{}", clean_lines(lines));
    }
}

fn data_words(d: &Deployment) -> String {
    let mut words = Vec::new();
    if d.data.personal_data {
        words.push("personal");
    }
    if d.data.phi {
        words.push("phi");
    }
    if d.data.card_data {
        words.push("card");
    }
    if words.is_empty() {
        "-".into()
    } else {
        words.join(",")
    }
}

fn run_cmd(config: &Config, cmd: DeploymentsCommand) -> Result<ExitCode, CliError> {
    match cmd {
        DeploymentsCommand::List { dir, json } => {
            let catalog = dir.load(config)?;
            if json {
                print_json(&json!({
                    "dir": catalog.dir,
                    "deployments": catalog.deployments.iter().map(|d| json!({
                        "id": d.spec.id,
                        "namespace": deployments::namespace_of(&d.spec.id),
                        "owner": d.spec.owner,
                        "environment": d.spec.environment,
                        "services": d.spec.services.len(),
                        "data": d.spec.data,
                        "file": d.path,
                    })).collect::<Vec<_>>(),
                }))?;
            } else if catalog.deployments.is_empty() {
                print_lines(&[format!("no deployment specs in {}", catalog.dir.display())]);
            } else {
                let mut lines = vec![format!(
                    "{:<24} {:<12} {:<20} {:>8}  DATA",
                    "ID", "ENVIRONMENT", "OWNER", "SERVICES"
                )];
                for d in &catalog.deployments {
                    let s = &d.spec;
                    lines.push(format!(
                        "{:<24} {:<12} {:<20} {:>8}  {}",
                        s.id,
                        s.environment,
                        s.owner,
                        s.services.len(),
                        data_words(s)
                    ));
                }
                print_lines(&lines);
            }
            Ok(ExitCode::SUCCESS)
        }
        DeploymentsCommand::Show { id, dir, json } => {
            let catalog = dir.load(config)?;
            let d = catalog.find(&id).map_err(CliError::Usage)?;
            if json {
                print_json(&json!({ "file": d.path, "spec": d.spec }))?;
            } else {
                print_lines(&describe(&d.path, &d.spec));
            }
            Ok(ExitCode::SUCCESS)
        }
        DeploymentsCommand::Check { file, dir, json } => {
            let spec = deployments::read_file(&file).map_err(|e| CliError::Usage(e.to_string()))?;
            if let Some(other) = same_id_elsewhere(&dir.path(config), &file, &spec.id) {
                return Err(CliError::Usage(format!(
                    "{}, key `id`: id `{}` is also the id of {}: each deployment needs an id of its own",
                    file.display(),
                    spec.id,
                    other.display()
                )));
            }
            if json {
                print_json(&json!({ "file": file, "valid": true, "spec": spec }))?;
            } else {
                print_lines(&[format!("{}: valid deployment {}", file.display(), spec.id)]);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Another readable spec of the folder with this id (the file itself and
/// unreadable specs left out: `check` is about the one file).
fn same_id_elsewhere(dir: &Path, file: &Path, id: &str) -> Option<PathBuf> {
    let me = std::fs::canonicalize(file).ok();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    paths.sort();
    paths.into_iter().find(|p| {
        std::fs::canonicalize(p).ok() != me && deployments::read_file(p).is_ok_and(|d| d.id == id)
    })
}

/// A spec in lines, for `show`.
fn describe(path: &Path, d: &Deployment) -> Vec<String> {
    let r = &d.resources;
    let mut lines = vec![
        format!(
            "deployment   {}  (namespace {})",
            d.id,
            deployments::namespace_of(&d.id)
        ),
        format!("file         {}", path.display()),
        format!("owner        {}", d.owner),
        format!("environment  {}", d.environment),
        format!(
            "data         {}; retention {}; consent management {}; protection {}",
            data_words(d),
            d.data
                .retention_days
                .map_or("none".to_string(), |n| format!("{n} days")),
            if d.data.consent_management {
                "yes"
            } else {
                "no"
            },
            if d.data.protection_measures.is_empty() {
                "none".to_string()
            } else {
                d.data.protection_measures.join(", ")
            }
        ),
        format!(
            "quota        cpu {}, memory {}, pods {}, services {}, secrets {}, PVCs {}, load balancers {}, node ports {}",
            r.cpu,
            r.memory,
            r.pods,
            r.services,
            r.secrets,
            r.persistent_volume_claims,
            r.load_balancers,
            r.node_ports
        ),
        format!(
            "containers   default requests cpu {} memory {}; default limits cpu {} memory {}",
            r.default_cpu_request,
            r.default_memory_request,
            r.default_cpu_limit,
            r.default_memory_limit
        ),
    ];
    let peer = |p: &deployments::Peer| format!("{} {} {}", p.target, p.protocol.as_str(), p.port);
    for s in &d.services {
        lines.push(format!(
            "service      {}  image {}  ports {:?}",
            s.name, s.image, s.ports
        ));
        for p in &s.allow_from {
            lines.push(format!("               from {}", peer(p)));
        }
        for p in &s.egress {
            lines.push(format!("               to   {}", peer(p)));
        }
    }
    lines
}
