//! `windflow alerts ...`: the silences of the Alertmanager alert channel.
//! Listing reads; `silence` and `unsilence` need an operator with a fresh
//! second factor (`alerts.silence`) and are recorded in the audit log.
//! Exit 4 when no Alertmanager instance answers.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use crate::audit::alertmanager::{self as am, AmClient, Matcher, NewSilence, Silence};
use crate::audit::settings::{AuditSettings, ChannelKind};
use crate::cli::CliError;
use crate::cli::auth::StepUp;
use crate::config::Config;
use crate::display::Untrusted;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The Alertmanager's silences (expired ones with --all).
    Silences {
        #[arg(long)]
        all: bool,
        /// The Alertmanager channel, when several are configured.
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Silence the alerts whose labels match every --match (label=value,
    /// !=, =~ or !~) for --for (30m, 2h, 1d). Operator, step-up, audited.
    Silence {
        #[arg(long = "match", value_name = "LABEL=VALUE", required = true)]
        matchers: Vec<String>,
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        #[arg(long)]
        comment: String,
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Expire the silence ID. Operator, step-up, audited.
    Unsilence {
        id: String,
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
}

impl AlertsCommand {
    /// Whether the command changes state (for `--read-only`).
    pub fn changes(&self) -> Option<(&'static str, &'static str)> {
        match self {
            AlertsCommand::Silences { .. } => None,
            AlertsCommand::Silence { .. } => Some(("alerts silence", "creates a silence")),
            AlertsCommand::Unsilence { .. } => Some(("alerts unsilence", "expires a silence")),
        }
    }
}

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(anyhow::anyhow!("{e}"))
}

fn out(text: &str) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(fail)
}

/// The Alertmanager client of the channel named `name`, or of the only one.
pub fn client(settings: &AuditSettings, name: Option<&str>) -> Result<AmClient, CliError> {
    let ams: Vec<_> = settings
        .channels
        .iter()
        .filter(|c| c.kind == ChannelKind::Alertmanager)
        .collect();
    let names = || {
        ams.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let spec = match (name, ams.as_slice()) {
        (_, []) => {
            return Err(CliError::Usage(
                "no Alertmanager channel: set WINDFLOW_ALERT_ALERTMANAGER_URL or add \
                 [[audit.channels]] with kind = \"alertmanager\" to windflow.toml"
                    .into(),
            ));
        }
        (None, [one]) => *one,
        (None, _) => {
            return Err(CliError::Usage(format!(
                "several Alertmanager channels ({}): name one with --channel",
                names()
            )));
        }
        (Some(n), _) => ams.iter().find(|c| c.name == n).copied().ok_or_else(|| {
            CliError::Usage(format!(
                "--channel {n:?}: no such Alertmanager channel ({})",
                names()
            ))
        })?,
    };
    AmClient::new(spec).map_err(CliError::Usage)
}

use crate::cli::common::runtime;

/// An Alertmanager error: unreachable is exit 4, anything else 1.
fn am_err(e: String) -> CliError {
    if e.contains("unreachable") {
        CliError::Unavailable(format!("Alertmanager: {e}"))
    } else {
        CliError::Failure(anyhow::anyhow!("Alertmanager: {e}"))
    }
}

/// The silences in the order an operator reads them: active, pending, then
/// expired; the latest end first within each.
pub fn ordered(mut silences: Vec<Silence>, all: bool) -> Vec<Silence> {
    let rank = |s: &Silence| match s.status.state.as_str() {
        "active" => 0,
        "pending" => 1,
        _ => 2,
    };
    silences.retain(|s| all || rank(s) < 2);
    silences.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.ends_at.cmp(&a.ends_at)));
    silences
}

/// Parses `--match` and `--for` as `alerts silence` and `:silence` take them.
pub fn new_silence(
    matchers: &[String],
    duration: &str,
    comment: &str,
    by: &str,
) -> Result<NewSilence, String> {
    let matchers = matchers
        .iter()
        .map(|m| Matcher::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    if matchers.is_empty() {
        return Err("a silence needs at least one matcher (label=value)".into());
    }
    let secs = crate::secrets::model::parse_duration(duration)?;
    if secs <= 0 {
        return Err(format!("duration {duration:?}: must be more than zero"));
    }
    if comment.trim().is_empty() {
        return Err("a silence needs a comment (why, and a ticket)".into());
    }
    Ok(NewSilence {
        matchers,
        duration: Duration::from_secs(secs as u64),
        created_by: by.to_owned(),
        comment: comment.to_owned(),
    })
}

pub fn run(config: &Config, command: AlertsCommand) -> Result<ExitCode, CliError> {
    let settings = AuditSettings::from_config(config).map_err(CliError::Usage)?;
    match command {
        AlertsCommand::Silences { all, channel, json } => {
            let client = client(&settings, channel.as_deref())?;
            let silences = runtime()?.block_on(client.silences()).map_err(am_err)?;
            let silences = ordered(silences, all);
            if json {
                return out(&serde_json::to_string_pretty(&silences).map_err(fail)?)
                    .map(|_| ExitCode::SUCCESS);
            }
            if silences.is_empty() {
                out("no silences")?;
            }
            out(&format!(
                "{:<36}  {:<8}  {:<24}  {:<12}  {:<30}  COMMENT",
                "ID", "STATE", "ENDS", "BY", "MATCHERS"
            ))?;
            for s in &silences {
                out(&format!(
                    "{:<36}  {:<8}  {:<24}  {:<12}  {:<30}  {}",
                    Untrusted(&s.id),
                    Untrusted(&s.status.state),
                    Untrusted(&s.ends_at),
                    Untrusted(&s.created_by),
                    Untrusted(&s.matchers_text()),
                    Untrusted(&s.comment)
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Silence {
            matchers,
            duration,
            comment,
            channel,
            step_up,
            json,
        } => {
            let client = client(&settings, channel.as_deref())?;
            let actor = crate::cli::secrets::authorize(config, "alerts.silence", &step_up)?;
            let new =
                new_silence(&matchers, &duration, &comment, &actor).map_err(CliError::Usage)?;
            let id = runtime()?
                .block_on(client.create_silence(&new))
                .map_err(am_err)?;
            record(
                config,
                &actor,
                "alert_silenced",
                silenced_details(&new, &id, client.name()),
            )
            .map_err(|e| fail(format!("silence {id} created, but {e}")))?;
            if json {
                out(
                    &serde_json::to_string_pretty(&json!({"id": id, "channel": client.name()}))
                        .map_err(fail)?,
                )?;
            } else {
                out(&format!(
                    "silence {} for {} ({})",
                    Untrusted(&id),
                    crate::secrets::model::format_duration(new.duration.as_secs() as i64),
                    Untrusted(
                        &new.matchers
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Unsilence {
            id,
            channel,
            step_up,
            json,
        } => {
            let client = client(&settings, channel.as_deref())?;
            let actor = crate::cli::secrets::authorize(config, "alerts.silence", &step_up)?;
            runtime()?
                .block_on(client.expire_silence(&id))
                .map_err(am_err)?;
            record(
                config,
                &actor,
                "alert_unsilenced",
                json!({"silence_id": id, "channel": client.name()}),
            )
            .map_err(|e| fail(format!("silence {id} expired, but {e}")))?;
            if json {
                out(
                    &serde_json::to_string_pretty(&json!({"id": id, "expired": true}))
                        .map_err(fail)?,
                )?;
            } else {
                out(&format!("silence {} expired", Untrusted(&id)))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The audit details of a new silence.
pub fn silenced_details(s: &NewSilence, id: &str, channel: &str) -> serde_json::Value {
    json!({
        "silence_id": id,
        "channel": channel,
        "matchers": s.matchers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "duration_secs": s.duration.as_secs(),
        "comment": s.comment,
        "source": am::SOURCE,
    })
}

fn record(
    config: &Config,
    actor: &str,
    event: &str,
    details: serde_json::Value,
) -> Result<(), String> {
    crate::cli::audit::cli_audit(config)
        .map_err(|e| e.to_string())?
        .emit(event, Some(actor), details)
        .map(|_| ())
        .map_err(|e| format!("the audit log cannot record {event}: {e}"))
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<AlertsCommand> {
    const NAME: &'static str = "alerts";
    const ABOUT: &'static str = "Alertmanager silences: silences, silence, unsilence";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        self.command.changes()
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, self.command)
    }
}
