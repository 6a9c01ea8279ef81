//! The domains, in one list. Each says here how it plugs in: its console
//! services and pane, its subcommands, its `config show` section, the
//! permissions it guards with, and its duties in `windflow agent`. The
//! console, the command line, `config show` and the agent start from this
//! list; panes and subcommands follow its order (panes between the console's
//! own Overview and Activity).
//!
//! A new domain adds its entry here, its folder under `src/`, its commands
//! under `src/cli/` (each a [`crate::cli::plug::Subcommand`]), and its
//! permissions in `auth::role::ACTIONS` (a test checks that every permission
//! named anywhere is in that table).

use std::path::Path;
use std::sync::Arc;

use crate::audit::Audit;
use crate::cli::CliError;
use crate::cli::plug::{Command, command};
use crate::config::Config;
use crate::console::panes::Pane;
use crate::crypto::Keyring;
use crate::service::{EventTx, Handle, Wake};
use crate::store::Store;

/// What a domain gets to start its console services with.
pub struct ConsoleCtx<'a> {
    pub config: &'a Config,
    pub data_dir: &'a Path,
    /// The demo: made-up load into this run's own data dir, no real backends.
    pub demo: bool,
    pub redis_url: Option<&'a str>,
    pub store: Arc<Store>,
    pub keyring: Arc<Keyring>,
    pub audit: Audit,
    pub audit_settings: &'a crate::audit::settings::AuditSettings,
    /// Health, activity, outcomes and figures (the console's common channel).
    pub events: EventTx,
    /// For the domain's own typed channel to its pane ([`Wake::channel`]).
    pub wake: Wake,
}

/// What a domain brings to a running console.
#[derive(Default)]
pub struct Plug {
    pub pane: Option<Box<dyn Pane>>,
    pub handle: Option<Arc<dyn Handle>>,
}

/// What starting a domain's console services gives: its plug, or why the
/// console cannot open (a bad setting: exit 2).
pub type Started = Result<Plug, CliError>;

/// Starts a domain's console services (inside the runtime).
pub type StartConsole = fn(&ConsoleCtx) -> Started;

/// What a domain gets to start its duties in `windflow agent` (while the
/// agent leads).
pub struct AgentCtx<'a> {
    pub config: &'a Config,
    pub data_dir: &'a Path,
    pub audit_settings: &'a crate::audit::settings::AuditSettings,
    pub store: &'a Arc<Store>,
    /// The secrets backend, when it could be opened.
    pub secrets: Option<&'a crate::secrets::Secrets>,
    /// The master key, when it could be loaded (what is sealed in the store
    /// opens with it).
    pub keyring: Option<&'a Arc<Keyring>>,
    /// Whether this agent delivers alerts now (for `agent status`).
    pub dispatching: &'a Arc<std::sync::atomic::AtomicBool>,
    /// Turns true when the duties must stop.
    pub stop: &'a tokio::sync::watch::Receiver<bool>,
}

/// The agent's tasks; a domain adds its own.
pub type AgentTasks = tokio::task::JoinSet<()>;

/// Starts a domain's duties in the agent.
pub type StartAgent = fn(&AgentCtx, &mut AgentTasks);

pub struct Domain {
    /// Its id: the service and pane name, the `:pane` argument.
    pub id: &'static str,
    /// The role-table actions (`auth::role::ACTIONS`) it guards with.
    pub permissions: &'static [&'static str],
    /// What it does in `windflow agent` while no console runs.
    pub agent_duties: &'static [&'static str],
    /// Starts its console services and pane (none: it has no console part yet).
    pub console: Option<StartConsole>,
    /// Starts those duties in the agent.
    pub agent: Option<StartAgent>,
    /// Its subcommands: `windflow NAME ...`.
    pub commands: &'static [Command],
    /// Its section of `config show`: where its data lives, what it talks
    /// to (nothing secret), or why its settings do not resolve.
    pub shown: Option<ShowSettings>,
    /// Its table of windflow.toml (`[name]`), checked whenever the file is
    /// read: an unknown key stops every command, naming file, line and key.
    pub table: Option<(&'static str, TableCheck)>,
}

/// A domain's `config show` section, from the configuration and the session
/// store's Redis as resolved (or why it did not resolve).
pub type ShowSettings = fn(&Config, &RedisChoice) -> Result<serde_json::Value, String>;

/// The session store's Redis as resolved from `--redis-url`,
/// `WINDFLOW_REDIS_URL` and `[sessions]` (`None`: the embedded store).
pub type RedisChoice = Result<Option<crate::sessions::settings::Redis>, String>;

/// Checks a domain's table of the config file strictly (file, line, key).
pub type TableCheck = fn(&str, &Path) -> Result<(), crate::tomlpos::FileError>;

/// The console's own permissions (no domain's).
pub const CORE_PERMISSIONS: &[&str] = &["console.open", "view"];

/// Every domain, in pane-bar order.
pub const DOMAINS: &[Domain] = &[
    Domain {
        id: crate::store::service::NAME,
        permissions: &["store.compact"],
        agent_duties: &[],
        console: Some(crate::store::service::console),
        agent: None,
        commands: &[],
        shown: None,
        table: None,
    },
    Domain {
        id: crate::sessions::service::NAME,
        permissions: &["sessions.create", "sessions.revoke", "sessions.revoke_user"],
        agent_duties: &[],
        console: Some(crate::sessions::service::console),
        agent: None,
        commands: &[command::<
            crate::cli::plug::Group<crate::cli::sessions::SessionsCommand>,
        >()],
        shown: Some(crate::sessions::settings::config_section),
        table: Some(("sessions", crate::sessions::settings::check_table)),
    },
    Domain {
        id: crate::secrets::service::NAME,
        permissions: &[
            "secrets.reveal",
            "secrets.rotate",
            "secrets.rollback",
            "secrets.write",
            "secrets.destroy",
        ],
        agent_duties: &[
            "recovery of interrupted rotations",
            "clean-up of rotated versions",
            "scheduled rotations",
        ],
        console: Some(crate::secrets::service::console),
        agent: Some(crate::secrets::agent::start),
        commands: &[command::<crate::cli::secrets::SecretsArgs>()],
        shown: Some(crate::secrets::settings::config_section),
        table: Some(("secrets", crate::secrets::settings::check_table)),
    },
    Domain {
        id: crate::scans::service::NAME,
        permissions: &["scans.run", "scans.waive"],
        agent_duties: &[],
        console: Some(crate::scans::service::console),
        agent: None,
        commands: &[command::<
            crate::cli::plug::Group<crate::cli::scans::ScanCommand>,
        >()],
        shown: None,
        table: None,
    },
    Domain {
        id: crate::isolation::service::NAME,
        permissions: &["isolation.apply"],
        agent_duties: &["scheduled drift checks"],
        console: Some(crate::isolation::service::console),
        agent: Some(crate::isolation::agent::start),
        commands: &[command::<
            crate::cli::plug::Group<crate::cli::isolate::IsolateCommand>,
        >()],
        shown: Some(crate::isolation::settings::config_section),
        table: Some(("isolation", crate::isolation::settings::check_table)),
    },
    Domain {
        id: crate::compliance::service::NAME,
        permissions: &["compliance.evidence", "compliance.waive"],
        agent_duties: &[],
        console: Some(crate::compliance::service::console),
        agent: None,
        commands: &[command::<
            crate::cli::plug::Group<crate::cli::compliance::ComplianceCommand>,
        >()],
        shown: None,
        table: None,
    },
    Domain {
        id: crate::audit::service::SERVICE,
        permissions: &["audit.log", "alerts.silence"],
        agent_duties: &["alert delivery", "Elasticsearch shipping"],
        console: Some(crate::audit::service::console),
        agent: Some(crate::audit::agent::start),
        commands: &[
            command::<crate::cli::plug::Group<crate::cli::audit::AuditCommand>>(),
            command::<crate::cli::plug::Group<crate::cli::alerts::AlertsCommand>>(),
        ],
        shown: Some(crate::audit::settings::config_section),
        table: Some(("audit", crate::audit::settings::check_table)),
    },
    Domain {
        id: crate::anomaly::service::NAME,
        permissions: &["anomaly.train", "anomaly.mark"],
        agent_duties: &[
            "live scoring of sign-ins, API usage and deployments",
            "retraining of the anomaly models",
        ],
        console: Some(crate::anomaly::service::console),
        agent: Some(crate::anomaly::agent::start),
        commands: &[command::<
            crate::cli::plug::Group<crate::cli::anomaly::AnomalyCommand>,
        >()],
        shown: Some(crate::anomaly::settings::config_section),
        table: Some(("anomaly", crate::anomaly::settings::check_table)),
    },
    Domain {
        id: crate::auth::service::NAME,
        permissions: &[
            "operators.list",
            "operators.manage",
            "mfa.self",
            "mfa.reset",
            "crypto.rotate",
        ],
        agent_duties: &[],
        console: Some(crate::auth::service::console),
        agent: None,
        commands: &[
            command::<crate::cli::plug::Group<crate::cli::auth::MfaCommand>>(),
            command::<crate::cli::plug::Group<crate::cli::auth::OperatorsCommand>>(),
            command::<crate::cli::auth::LoginArgs>(),
            command::<crate::cli::auth::LogoutArgs>(),
            command::<crate::cli::plug::Group<crate::cli::auth::CryptoCommand>>(),
        ],
        shown: None,
        table: None,
    },
];

/// The domain with this id.
pub fn find(id: &str) -> Option<&'static Domain> {
    DOMAINS.iter().find(|d| d.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ACTIONS;

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every permission the code checks (a pane action's guard, a
    /// confirmation's guard, the CLI's `authorize`, a `requirement` lookup)
    /// and every one a domain lists is in the role table: an action missing
    /// there would silently need an admin with step-up.
    #[test]
    fn every_permission_named_anywhere_is_in_the_role_table() {
        let known: Vec<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
        let uses = regex::Regex::new(
            r#"(?:guarded|requirement|guard: Some|authorize\(\s*[a-z_&.]+\s*,)\s*\(?\s*"([a-z_]+(?:\.[a-z_]+)?)""#,
        )
        .unwrap();
        let mut files = Vec::new();
        rust_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut found = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for cap in uses.captures_iter(&text) {
                found += 1;
                let name = &cap[1];
                assert!(
                    known.contains(&name),
                    "{} checks permission {name:?}, which the role table lacks",
                    file.display()
                );
            }
        }
        assert!(
            found >= 20,
            "the scan found only {found} uses: is the pattern stale?"
        );
        let listed: Vec<&str> = DOMAINS
            .iter()
            .flat_map(|d| d.permissions.iter().copied())
            .chain(CORE_PERMISSIONS.iter().copied())
            .collect();
        for name in &listed {
            assert!(
                known.contains(name),
                "{name:?} is listed by a domain but not in the role table"
            );
        }
        // And each entry of the table belongs to exactly one domain (or the console).
        for name in known {
            let owners = listed.iter().filter(|n| **n == name).count();
            assert_eq!(owners, 1, "{name:?} is listed by {owners} domains");
        }
    }

    #[test]
    fn domain_ids_are_unique_and_match_their_panes() {
        let mut ids: Vec<&str> = DOMAINS.iter().map(|d| d.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), DOMAINS.len());
        let panes: Vec<&str> = crate::console::panes().iter().map(|p| p.id()).collect();
        for d in DOMAINS {
            // The store has no pane of its own (the Overview shows it).
            if d.id != crate::store::service::NAME && d.console.is_some() {
                assert!(panes.contains(&d.id), "no pane for domain {}", d.id);
            }
        }
    }
}
