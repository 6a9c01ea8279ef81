//! The command line: `windflow` opens the console; every headless
//! subcommand prints text, or JSON with `--json`.
//!
//! Exit codes, the same for every subcommand: 0 ok, 1 failure, 2 bad usage
//! or bad input, 3 refused by policy.

pub mod alerts;
pub mod anomaly;
pub mod audit;
pub mod auth;
pub mod common;
pub mod compliance;
mod config;
pub mod crypto;
pub mod deployments;
pub mod isolate;
pub mod isolate_cluster;
pub mod plug;
mod read_only;
pub mod scans;
pub mod secrets;
pub mod sessions;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{BaseDirs, Config, Flags};
use crate::console::{self, Exit, Services, app::App, app::Settings, theme::ColorMode};
use crate::{logging, service, store};

#[derive(Debug, Parser)]
#[command(
    name = "windflow",
    version,
    about = "WindFlow Console: a keyboard-driven terminal security console"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (default: windflow.toml in the XDG config dir).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Folder of the embedded local store (default: the XDG data dir).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR"
    )]
    pub data_dir: Option<PathBuf>,
    /// error, warn, info, debug or trace (the log goes to a file in the XDG state dir).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "LEVEL"
    )]
    pub log_level: Option<String>,
    /// Refuse every state-changing action.
    #[arg(long, global = true, help_heading = "Global options")]
    pub read_only: bool,
    /// Colour theme: dark, light, high-contrast, terminal, or one in the config dir.
    #[arg(long, value_name = "NAME", help_heading = "Console options")]
    pub theme: Option<String>,
    /// Keymap: vim, arrows, or one in the config dir.
    #[arg(long, value_name = "NAME", help_heading = "Console options")]
    pub keymap: Option<String>,
    /// Enable the mouse (click to focus, wheel to scroll).
    #[arg(long, help_heading = "Console options")]
    pub mouse: bool,
    /// Environment name shown in the status bar (e.g. prod).
    #[arg(
        long = "env",
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub environment: Option<String>,
    /// Operator name.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub operator: Option<String>,
    /// Open the console on a fresh temporary store fed by a workload generator.
    #[arg(long, help_heading = "Console options")]
    pub demo: bool,
    /// Keep sessions in Redis (`redis://[:password@]host:port[/db]`, `rediss://` for TLS)
    /// instead of the embedded store.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "WINDFLOW_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
}

/// The console's own subcommands; each domain's come from the domain list
/// ([`plug`], [`command`]).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the effective configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Deployment specs (shared by isolation and compliance): list, show, check.
    Deployments {
        #[command(subcommand)]
        command: crate::cli::deployments::DeploymentsCommand,
    },
    /// Prepare the data dir (store and master key); `--force` starts a new,
    /// empty store beside history whose store was lost (typed confirmation, audited).
    Init {
        #[arg(long)]
        force: bool,
    },
    /// The headless agent: delivers alerts, ships events and finishes
    /// rotations while no console runs. `agent status` says whether one runs.
    Agent {
        #[command(subcommand)]
        command: Option<AgentCommand>,
        /// Serve Prometheus metrics on /metrics, and /healthz and /readyz, at
        /// this address (e.g. 127.0.0.1:9464).
        #[arg(long, value_name = "ADDR", env = "WINDFLOW_AGENT_METRICS_ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Whether an agent runs for this data dir, its heartbeat and what is owed.
    Status {
        #[arg(long)]
        json: bool,
        /// Exit 1 unless an agent runs with a fresh heartbeat (for probes).
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The effective configuration (secrets redacted) and every path used.
    Show {
        #[arg(long)]
        json: bool,
    },
}

/// An error with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad usage or bad input: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Refused by policy (read-only, role, MFA): exit 3.
    #[error("{0}")]
    Refused(String),
    /// Anything else that failed: exit 1.
    #[error("{0:#}")]
    Failure(#[from] anyhow::Error),
    /// A backend (the session store) did not answer: nothing was checked or
    /// changed; try again. Exit 4.
    #[error("{0}")]
    Unavailable(String),
}

impl CliError {
    pub fn code(&self) -> u8 {
        match self {
            CliError::Failure(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Refused(_) => 3,
            CliError::Unavailable(_) => 4,
        }
    }

    /// What kind of error, for a `--json` error object.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Failure(_) => "failure",
            CliError::Usage(_) => "usage",
            CliError::Refused(_) => "refused",
            CliError::Unavailable(_) => "backend_unavailable",
        }
    }

    /// The error as a JSON object, printed on stdout by `--json` commands
    /// (the message also goes to stderr).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "kind": self.kind(),
                "exit_code": self.code(),
                "message": self.to_string(),
            }
        })
    }
}

impl From<store::StoreError> for CliError {
    /// A store that must not be made anew is the user's to decide: exit 2.
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::MissingWithHistory { .. } => CliError::Usage(e.to_string()),
            e => CliError::Failure(e.into()),
        }
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl GlobalArgs {
    fn flags(&self) -> Flags {
        Flags {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            log_level: self.log_level.clone(),
            read_only: self.read_only,
            theme: self.theme.clone(),
            keymap: self.keymap.clone(),
            mouse: self.mouse,
            environment: self.environment.clone(),
            operator: self.operator.clone(),
        }
    }
}

/// The whole command line: the console's own options and subcommands, then
/// each domain's subcommands in the domain list's order.
pub fn command() -> clap::Command {
    plug::commands().fold(Cli::command(), |cmd, c| cmd.subcommand((c.define)()))
}

/// Parses `args` (the program name first) as [`command`] does.
pub fn parse_from<I, T>(args: I) -> Result<(Cli, clap::ArgMatches), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok((cli, matches))
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    // One TLS stack (rustls with ring) for every client; an error means it is already set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (cli, matches) = parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match run(cli, &matches) {
        Ok(code) => code,
        Err(e) => {
            // Errors quote names, paths and server answers: through the
            // display boundary (the --json error object stays exact).
            let _ = writeln!(
                std::io::stderr(),
                "windflow: {}",
                crate::display::UntrustedLines(&e.to_string())
            );
            ExitCode::from(e.code())
        }
    }
}

/// Runs what [`parse_from`] parsed.
pub fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<ExitCode, CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let base = BaseDirs::detect()?;
    let config = Config::load(&cli.global.flags(), &env, &base)?;
    // The console and the agent deliver alerts all along.
    let long_running = matches.subcommand_name().is_none()
        || matches!(cli.command, Some(Command::Agent { command: None, .. }));
    // The session store's Redis, once for every command; `config show`
    // shows why it does not resolve, every other command stops on it.
    let given = cli.global.redis_url.as_deref().map(|url| {
        let origin = match matches.value_source("redis_url") {
            Some(clap::parser::ValueSource::EnvVariable) => "WINDFLOW_REDIS_URL",
            _ => "--redis-url",
        };
        (url, origin)
    });
    let redis = crate::sessions::settings::redis(&config, given, &env);
    if let Some(Command::Config {
        command: ConfigCommand::Show { json },
    }) = &cli.command
    {
        show_config(&config, &redis, *json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let redis = redis.map_err(CliError::Usage)?;
    let redis_url = redis.as_ref().map(|r| r.url.as_str());
    let result = match matches.subcommand() {
        Some((name, sub)) if cli.command.is_none() => {
            let plugged = plug::commands()
                .find(|c| c.name == name)
                .ok_or_else(|| CliError::Usage(format!("unknown subcommand {name:?}")))?;
            let ctx = plug::Ctx {
                config: &config,
                redis_url,
            };
            (plugged.run)(&ctx, sub)
        }
        _ => run_command(cli, &config, redis_url),
    };
    if !long_running {
        // Whatever the command recorded is owed an alert now.
        crate::cli::audit::deliver_owed(&config);
    }
    result
}

fn run_command(cli: Cli, config: &Config, redis_url: Option<&str>) -> Result<ExitCode, CliError> {
    let config = config.clone();
    if let Some(command) = &cli.command {
        read_only::check(config.read_only, read_only::changes(command))?;
    }
    match cli.command {
        None => run_console(config, cli.global.demo, redis_url.map(str::to_owned)),
        Some(Command::Config { .. }) => unreachable!("config show runs before the others"),
        Some(Command::Deployments { command }) => crate::cli::deployments::run(&config, command),
        Some(Command::Agent {
            command: None,
            metrics_addr,
        }) => crate::agent::run(&config, redis_url, metrics_addr),
        Some(Command::Init { force }) => run_init(&config, force),
        Some(Command::Agent {
            command: Some(AgentCommand::Status { json, check }),
            ..
        }) => crate::agent::run_status(&config, json, check),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut command(), "windflow", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `windflow init [--force]`.
fn run_init(config: &Config, force: bool) -> Result<ExitCode, CliError> {
    let data_dir = &config.paths.data_dir;
    let failure = CliError::from;
    let anew = match store::Store::open(data_dir) {
        Ok(_) => None,
        Err(store::StoreError::MissingWithHistory { history, .. }) if force => Some(history),
        Err(e) => return Err(failure(e)),
    };
    if let Some(history) = &anew {
        eprintln!(
            "The data dir {} has history ({}) but no store: a new store holds no operators, \
             second factors or secrets, and its first operator becomes an admin without a grant.\n\
             Type the data dir's path to start anew:",
            data_dir.display(),
            history.display()
        );
        let mut typed = String::new();
        std::io::stdin()
            .read_line(&mut typed)
            .map_err(|e| CliError::Failure(e.into()))?;
        if typed.trim() != data_dir.display().to_string() {
            return Err(CliError::Refused(format!(
                "not confirmed: type `{}` exactly to start a new store",
                data_dir.display()
            )));
        }
        store::Store::open_anew(data_dir).map_err(failure)?;
    }
    let audit = crate::cli::audit::cli_audit(config)?;
    if let Some(history) = anew {
        audit
            .emit(
                "store_started_anew",
                Some(&config.operator),
                serde_json::json!({ "data_dir": data_dir, "history": history }),
            )
            .map_err(|e| CliError::Failure(e.into()))?;
        println!("started a new, empty store in {}", data_dir.display());
    } else {
        println!("data dir {} is ready", data_dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn show_config(
    config: &Config,
    redis: &crate::domains::RedisChoice,
    json: bool,
) -> Result<(), CliError> {
    let backends = crate::cli::config::backends(config, redis);
    let mut out = std::io::stdout().lock();
    let res = if json {
        let mut v = serde_json::to_value(config).map_err(|e| CliError::Failure(e.into()))?;
        v["backends"] = backends;
        serde_json::to_writer_pretty(&mut out, &v)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out))
    } else {
        let src = |k: &str| {
            config
                .sources
                .get(k)
                .map(|s| format!("{s:?}").to_lowercase())
                .unwrap_or_default()
        };
        let mut lines = vec![
            format!(
                "operator          = {}  ({})",
                config.operator,
                src("operator")
            ),
            format!(
                "environment       = {}  ({})",
                config.environment.as_deref().unwrap_or("-"),
                src("environment")
            ),
            format!(
                "environment_color = {}  ({})",
                config.environment_color,
                src("environment_color")
            ),
            format!(
                "read_only         = {}  ({})",
                config.read_only,
                src("read_only")
            ),
            format!("theme             = {}  ({})", config.theme, src("theme")),
            format!("keymap            = {}  ({})", config.keymap, src("keymap")),
            format!("mouse             = {}  ({})", config.mouse, src("mouse")),
            format!(
                "tty_grants        = {}  ({})",
                config.tty_grants,
                src("tty_grants")
            ),
            format!("clock             = {:?}  ({})", config.clock, src("clock")).to_lowercase(),
            format!(
                "log_level         = {}  ({})",
                config.log_level,
                src("log_level")
            ),
            String::new(),
        ];
        let p = &config.paths;
        let exists = if p.config_file_exists {
            ""
        } else {
            "  (not present)"
        };
        lines.extend([
            format!("config file       {}{exists}", p.config_file.display()),
            format!("data dir          {}", p.data_dir.display()),
            format!("state dir         {}", p.state_dir.display()),
            format!("log file          {}", p.log_file.display()),
            format!("themes dir        {}", p.themes_dir.display()),
            format!("keymaps dir       {}", p.keymaps_dir.display()),
            format!("keymap overrides  {}", p.keymap_overrides.display()),
            String::new(),
        ]);
        lines.extend(crate::cli::config::lines(&backends));
        writeln!(out, "{}", lines.join("\n"))
    };
    res.map_err(|e| CliError::Failure(e.into()))
}

fn run_console(
    config: Config,
    demo_mode: bool,
    redis_url: Option<String>,
) -> Result<ExitCode, CliError> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "the console needs a terminal; for scripts use the headless subcommands (windflow --help)".into(),
        ));
    }
    // Demo mode: a fresh temporary data dir, removed on exit.
    let demo_dir = if demo_mode {
        Some(
            tempfile::Builder::new()
                .prefix("windflow-demo-")
                .tempdir()
                .map_err(anyhow::Error::from)?,
        )
    } else {
        None
    };
    // Alert channels of the file stay in a demo, so that alerting can be tried out.
    let mut audit_settings =
        crate::audit::settings::AuditSettings::from_config(&config).map_err(CliError::Usage)?;
    let mut config = config;
    if let Some(dir) = &demo_dir {
        crate::demo::confine(&mut config, dir.path()).map_err(anyhow::Error::from)?;
    }
    let data_dir = config.paths.data_dir.clone();
    let _log =
        logging::init(&config.paths.log_file, &config.log_level).map_err(CliError::Failure)?;
    tracing::info!(data_dir = %data_dir.display(), demo = demo_mode, "console starting");

    let environment = match &config.environment {
        Some(env) => Some((
            env.clone(),
            config
                .environment_color
                .parse()
                .map_err(|e: String| CliError::Usage(format!("environment_color: {e}")))?,
        )),
        None => None,
    };
    let settings = Settings {
        operator: config.operator.clone(),
        operator_configured: config.sources.get("operator")
            != Some(&crate::config::Source::Default),
        environment,
        read_only: config.read_only,
        read_only_locked: config.read_only,
        demo: demo_mode,
        utc_clock: config.clock == crate::config::Clock::Utc,
        mouse: config.mouse,
        color_mode: ColorMode::detect(),
        config_dir: Some(config.paths.config_dir.clone()),
        sign_in: true,
        auto_lock: (config.auto_lock_minutes > 0)
            .then(|| std::time::Duration::from_secs(config.auto_lock_minutes * 60)),
        step_up_window: std::time::Duration::from_secs(config.step_up_minutes * 60),
    };
    // The demo's made-up events never reach a real Elasticsearch (alert
    // channels stay, so that alerting can be tried out).
    if demo_mode {
        audit_settings.elasticsearch = None;
    }
    let store = store::Store::open(&data_dir)?;
    let keyring = Arc::new(crate::cli::auth::load_keyring(&config, true)?);
    let (audit, es_shipper) = crate::cli::audit::console_audit(&audit_settings, &data_dir)?;
    let auth = crate::auth::Auth::new(
        store.clone(),
        keyring.clone(),
        audit.clone(),
        crate::mfa::Policy::default(),
    );
    // The demo's anomaly models are trained on a made-up history first,
    // so that the console scores live from the start.
    if demo_mode {
        crate::anomaly::demo::seed(
            &data_dir,
            &store,
            &keyring,
            &audit,
            crate::audit::demo::rate_from_env(),
        )
        .map_err(CliError::Failure)?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?;
    let exit = runtime.block_on(async move {
        let (tx, rx) = service::channel();
        let wake = service::Wake::default();
        let ctx = crate::domains::ConsoleCtx {
            config: &config,
            data_dir: &data_dir,
            demo: demo_mode,
            redis_url: redis_url.as_deref(),
            store,
            keyring,
            audit,
            audit_settings: &audit_settings,
            events: tx.clone(),
            wake: wake.clone(),
        };
        let mut panes = Vec::new();
        let mut handles = Vec::new();
        for start in crate::domains::DOMAINS.iter().filter_map(|d| d.console) {
            let plug = start(&ctx)?;
            panes.extend(plug.pane);
            handles.extend(plug.handle);
        }
        // Themes and keymaps are checked before the terminal is touched.
        let app = App::new(
            settings,
            console::with_domain_panes(panes),
            &config.theme,
            &config.keymap,
        )
        .map_err(CliError::Usage)?;
        // Live anomaly scoring while no agent scores this data dir (no
        // retraining: that is the agent's, but in the demo).
        crate::anomaly::agent::spawn_console(crate::anomaly::agent::Scorer {
            store: ctx.store.clone(),
            keys: Some(ctx.keyring.clone()),
            audit: ctx.audit.clone(),
            origin: crate::audit::Origin::detect(concat!(
                "windflow-console/",
                env!("CARGO_PKG_VERSION")
            )),
            data_dir: data_dir.clone(),
            say: crate::anomaly::agent::say_to_tracing,
            // The demo retrains as an agent would, on a short period.
            retrain_every: demo_mode.then_some(crate::anomaly::demo::RETRAIN_EVERY),
        });
        if demo_mode {
            crate::anomaly::demo::spawn(ctx.audit.clone());
        }
        let authz = auth.clone();
        let auth_handle = crate::auth::service::spawn(auth, tx.clone());
        if let Some(start) = es_shipper {
            tokio::spawn(start(tx.clone()));
        }
        if !demo_mode {
            tokio::spawn(crate::agent::watch(data_dir.clone(), tx.clone()));
        }
        let services = Services {
            auth: Some(auth_handle),
            domains: handles,
            authz: Some(authz),
        };
        console::run(app, services, rx, wake)
            .await
            .map_err(CliError::Failure)
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    drop(demo_dir);
    match exit? {
        Exit::Quit => Ok(ExitCode::SUCCESS),
        Exit::Signal(sig) => {
            tracing::info!(signal = sig, "console stopped by a signal");
            Ok(ExitCode::from(128 + sig as u8))
        }
    }
}
