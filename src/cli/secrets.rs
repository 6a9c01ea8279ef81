//! `windflow secrets`: list, get, put, history, diff, rotate, rollback,
//! delete, undelete, destroy and recover, over the embedded store (default)
//! or Vault KV v2 (`--backend vault`, `VAULT_ADDR`, `VAULT_TOKEN`,
//! `--vault-mount`). Text, or JSON with `--json`; exit codes as in
//! [`crate::cli`], and `rotate` exits 1 when it rolled back.
//!
//! Revealing a value and every change need the acting operator
//! (`--operator`) with a fresh code (`--code`) or an open grant
//! (`windflow login`). Every command first finishes rotations a killed
//! process left unfinished, and reports what it did; one that cannot be
//! finished is reported and skipped, and `recover --discard ID` drops it
//! after a typed confirmation.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::CliError;
use crate::cli::auth::{StepUp, load_keyring, open_auth};
use crate::cli::common::{self, explicit_operator, print_json, print_text};
use crate::config::Config;
use crate::display::{Untrusted, UntrustedLines};
use crate::secrets::model::{self, Policy, SecretValue, Values};
use crate::secrets::rotation::{self, Outcome, Progress, StepStatus, Validation};
use crate::secrets::schedule;
use crate::secrets::settings::{Flags as SettingsFlags, Overrides, SecretsSettings};
use crate::secrets::{SecretStore, Secrets, SecretsError};
use crate::store::Store;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The embedded store (default; `local` is accepted too).
    #[value(name = "embedded", alias = "local")]
    Embedded,
    /// Vault KV v2 at VAULT_ADDR with VAULT_TOKEN.
    Vault,
}

fn parse_token(s: &str) -> Result<secrecy::SecretString, String> {
    Ok(secrecy::SecretString::from(s))
}

/// Where the secrets are. Each flag beats its environment variable, which
/// beats the `[secrets]` table of windflow.toml.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// embedded (the default; `local` is an alias) or vault [env: WINDFLOW_SECRETS_BACKEND].
    #[arg(long, value_enum, global = true)]
    pub backend: Option<BackendKind>,
    /// Vault's address [env: VAULT_ADDR].
    #[arg(long, global = true, value_name = "URL")]
    pub vault_addr: Option<String>,
    /// Vault token (prefer VAULT_TOKEN, or token_file in windflow.toml).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        value_parser = parse_token
    )]
    pub vault_token: Option<secrecy::SecretString>,
    /// The KV v2 mount (default secret) [env: WINDFLOW_VAULT_MOUNT].
    #[arg(long, global = true, value_name = "MOUNT")]
    pub vault_mount: Option<String>,
    /// Lifetime of written values (the expires_at metadata), e.g. 30d (default 30d).
    #[arg(long, global = true, value_name = "DURATION")]
    pub ttl: Option<String>,
}

impl BackendArgs {
    pub fn flags(&self) -> SettingsFlags {
        SettingsFlags {
            backend: self.backend.map(|b| match b {
                BackendKind::Embedded => "embedded".into(),
                BackendKind::Vault => "vault".into(),
            }),
            vault_addr: self.vault_addr.clone(),
            vault_token: self.vault_token.clone(),
            vault_mount: self.vault_mount.clone(),
            ttl: self.ttl.clone(),
        }
    }

    /// The settings these flags, the environment and windflow.toml give.
    pub fn settings(&self, config: &Config) -> Result<SecretsSettings, CliError> {
        SecretsSettings::from_config(config, &self.flags(), &|k| std::env::var(k).ok())
            .map_err(CliError::Usage)
    }
}

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Every secret path under PREFIX (recursively), with version and expiry.
    List {
        prefix: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A secret's keys and metadata; values masked (as short hashes) unless --reveal.
    Get {
        path: String,
        #[arg(long)]
        version: Option<u64>,
        /// Show the values (needs --operator and --code or a grant).
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Write a new version: KEY=VALUE..., or --from-file F (KEY=VALUE lines or a JSON object; - for stdin).
    Put {
        path: String,
        assignments: Vec<String>,
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// Check-and-set: the version the secret must be at (0: must not exist).
        /// Default: the version read just before writing.
        #[arg(long)]
        cas: Option<u64>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Versions and metadata.
    History {
        path: String,
        #[arg(long)]
        json: bool,
    },
    /// Keys added, removed and changed between two versions (hashes unless --reveal).
    Diff {
        path: String,
        v1: u64,
        v2: u64,
        #[arg(long)]
        reveal: bool,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Rotate: generate, deploy (CAS), validate, then clean up or roll back.
    /// Exit 0 rotated, 1 rolled back (with the reason).
    Rotate {
        /// The secret (or use --expiring-within).
        path: Option<String>,
        /// Keys to rotate (default: the path's rule's, else every key).
        #[arg(long, value_delimiter = ',')]
        keys: Vec<String>,
        /// Validate with `sh -c CMD`; values in WINDFLOW_SECRET_<KEY> and as JSON on stdin.
        #[arg(long, value_name = "CMD", conflicts_with = "validate_url")]
        validate_cmd: Option<String>,
        /// Validate by POSTing the values as JSON to URL (2xx passes).
        #[arg(long, value_name = "URL")]
        validate_url: Option<String>,
        /// Generate with `sh -c CMD` printing a JSON object of values.
        #[arg(long, value_name = "CMD")]
        generator_cmd: Option<String>,
        /// Policy for every key: LEN or LEN:ALPHABET (alnum, symbols, hex, digits).
        /// Default: the path's [[secrets.rotation]] rule, else 32:alnum.
        #[arg(long, value_name = "POLICY")]
        policy: Option<String>,
        /// Per-key policy: KEY=LEN[:ALPHABET] (repeatable).
        #[arg(long = "key-policy", value_name = "KEY=POLICY")]
        key_policies: Vec<String>,
        /// How long the old version stays before it is deleted (default: the rule's, else 24h).
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
        /// Rotate every secret whose expires_at is within DURATION (e.g. 7d), one at a time.
        #[arg(long, value_name = "DURATION", conflicts_with = "path")]
        expiring_within: Option<String>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Restore version N as a new version.
    Rollback {
        path: String,
        #[arg(long)]
        version: u64,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Soft-delete versions (default: the current one).
    Delete {
        path: String,
        #[arg(long, value_delimiter = ',')]
        versions: Vec<u64>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Undo a soft delete.
    Undelete {
        path: String,
        #[arg(long, value_delimiter = ',', required = true)]
        versions: Vec<u64>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Destroy versions for good (admin).
    Destroy {
        path: String,
        #[arg(long, value_delimiter = ',', required = true)]
        versions: Vec<u64>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Finish rotations a killed process left, and delete old versions whose grace period is over.
    /// Exit 1 when a rotation cannot be finished (reported with its journal id).
    Recover {
        /// Drop the journal ID of a rotation that cannot be finished, after typing
        /// the secret's path (audited): the secret stays as it is now.
        #[arg(long, value_name = "ID")]
        discard: Option<String>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
}

// ------------------------------------------------------------------ setup

fn failure(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(anyhow::anyhow!("{e}"))
}

fn secrets_err(e: SecretsError) -> CliError {
    match e {
        SecretsError::Invalid(_) => CliError::Usage(e.to_string()),
        SecretsError::PermissionDenied { .. } => CliError::Refused(e.to_string()),
        e => failure(e),
    }
}

/// The store named by the flags, the environment and windflow.toml.
pub fn open_store(
    config: &Config,
    args: &BackendArgs,
    local: Arc<Store>,
) -> Result<Arc<dyn SecretStore>, CliError> {
    args.settings(config)?
        .open_store(local)
        .map_err(secrets_err)
}

fn open_secrets(config: &Config, args: &BackendArgs) -> Result<Secrets, CliError> {
    let settings = args.settings(config)?;
    let data_dir = &config.paths.data_dir;
    let local = Store::open(data_dir)?;
    let keyring = load_keyring(config, true)?;
    let audit = crate::cli::audit::cli_audit(config)?;
    let mut s = settings
        .open(local, Arc::new(keyring), audit)
        .map_err(secrets_err)?;
    if let Some(op) = explicit_operator(config) {
        s = s.with_actor(&op);
    }
    Ok(s)
}

/// The acting operator, authorised for `action` (role + fresh second factor).
pub(crate) fn authorize(
    config: &Config,
    action: &str,
    step_up: &StepUp,
) -> Result<String, CliError> {
    common::authorize(config, &open_auth(config)?, action, step_up.code.as_deref())
}

fn writable(config: &Config, what: &str) -> Result<(), CliError> {
    if config.read_only {
        return Err(CliError::Refused(format!(
            "read-only mode: `secrets {what}` changes state; run without --read-only"
        )));
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), CliError> {
    model::check_path(path).map_err(CliError::Usage)
}

// ------------------------------------------------------------------ run

pub fn run(config: &Config, args: SecretsArgs) -> Result<ExitCode, CliError> {
    let runtime = crate::cli::common::runtime()?;
    runtime.block_on(run_async(config, args))
}

async fn run_async(config: &Config, args: SecretsArgs) -> Result<ExitCode, CliError> {
    let s = open_secrets(config, &args.backend)?;
    if let SecretsCommand::Recover {
        discard: Some(id),
        step_up,
        json,
    } = &args.command
    {
        writable(config, "recover --discard")?;
        let actor = authorize(config, "secrets.rotate", step_up)?;
        return discard(&s.with_actor(&actor), id, *json);
    }
    // Unfinished rotations left by a killed process come first.
    let recovery = if config.read_only {
        rotation::Recovery::default()
    } else {
        let r = rotation::recover(&s).await.map_err(secrets_err)?;
        for rec in &r.recovered {
            let _ = writeln!(
                std::io::stderr(),
                "windflow: recovered an unfinished rotation of {} ({}): {}",
                Untrusted(&rec.path),
                rec.action.replace('_', " "),
                UntrustedLines(&rec.detail)
            );
        }
        for u in &r.unrecoverable {
            let _ = writeln!(
                std::io::stderr(),
                "windflow: the unfinished rotation of {} (journal {}) cannot be finished and is skipped: {}; \
                 check the secret, then `windflow secrets recover --discard {}` drops the journal",
                Untrusted(&u.path),
                u.id,
                UntrustedLines(&u.error),
                u.id
            );
        }
        match rotation::sweep(&s).await {
            Ok(swept) => {
                for d in &swept.dropped {
                    let _ = writeln!(
                        std::io::stderr(),
                        "windflow: the scheduled cleanup of {} version {} was dropped, nothing deleted: {}",
                        Untrusted(&d.path),
                        d.version,
                        UntrustedLines(&d.reason)
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "old versions not cleaned up");
                let _ = writeln!(
                    std::io::stderr(),
                    "windflow: old versions whose grace period is over were not cleaned up (the next command tries again): {}",
                    UntrustedLines(&e.to_string())
                );
            }
        }
        r
    };
    match args.command {
        SecretsCommand::Recover { json, .. } => {
            if json {
                print_json(&serde_json::to_value(&recovery).map_err(failure)?)?;
            } else if recovery.recovered.is_empty() && recovery.unrecoverable.is_empty() {
                print_text("no unfinished rotation")?;
            }
            Ok(if recovery.unrecoverable.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        SecretsCommand::List { prefix, json } => {
            list(&s, prefix.as_deref().unwrap_or(""), json).await
        }
        SecretsCommand::Get {
            path,
            version,
            reveal,
            step_up,
            json,
        } => {
            check_path(&path)?;
            let s = if reveal {
                let actor = authorize(config, "secrets.reveal", &step_up)?;
                s.with_actor(&actor)
            } else {
                s
            };
            get(&s, &path, version, reveal, json).await
        }
        SecretsCommand::Put {
            path,
            assignments,
            from_file,
            cas,
            step_up,
            json,
        } => {
            check_path(&path)?;
            writable(config, "put")?;
            let values = put_values(&assignments, from_file.as_ref())?;
            let actor = authorize(config, "secrets.write", &step_up)?;
            let s = s.with_actor(&actor);
            let meta = s.put(&path, &values, cas).await.map_err(secrets_err)?;
            if json {
                print_json(
                    &json!({ "path": path, "version": meta.version, "keys": values.keys().collect::<Vec<_>>() }),
                )?;
            } else {
                print_text(&format!(
                    "{}: version {} written ({} key(s))",
                    Untrusted(&path),
                    meta.version,
                    values.len()
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretsCommand::History { path, json } => {
            check_path(&path)?;
            let meta = s.metadata(&path).await.map_err(secrets_err)?;
            if json {
                print_json(&meta_json(&meta))?;
            } else {
                let mut lines = vec![format!(
                    "{}  current v{}  {}",
                    Untrusted(&path),
                    meta.current_version,
                    model::Expiry::of(meta.expires_at(), chrono::Utc::now().timestamp()).label()
                )];
                for v in meta.versions.iter().rev() {
                    lines.push(format!(
                        "  v{:<4} {}  {}",
                        v.version,
                        model::format_time(v.created_time),
                        v.state()
                    ));
                }
                // Custom metadata is anyone's text (Vault writers): one line each.
                for (k, v) in &meta.custom {
                    lines.push(format!("  {} = {}", Untrusted(k), Untrusted(v)));
                }
                print_text(&lines.join("\n"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretsCommand::Diff {
            path,
            v1,
            v2,
            reveal,
            step_up,
            json,
        } => {
            check_path(&path)?;
            let s = if reveal {
                let actor = authorize(config, "secrets.reveal", &step_up)?;
                s.with_actor(&actor)
            } else {
                s
            };
            diff(&s, &path, v1, v2, reveal, json).await
        }
        SecretsCommand::Rotate {
            path,
            keys,
            validate_cmd,
            validate_url,
            generator_cmd,
            policy,
            key_policies,
            grace,
            expiring_within,
            step_up,
            json,
        } => {
            writable(config, "rotate")?;
            let mut opts = Overrides {
                keys,
                default_policy: policy
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| CliError::Usage(format!("--policy: {e}")))?,
                generator: generator_cmd,
                validation: match (validate_cmd, validate_url) {
                    (Some(c), _) => Some(Validation::Command(c)),
                    (None, Some(u)) => {
                        rotation::check_probe_url(&u).map_err(CliError::Usage)?;
                        Some(Validation::Http(u))
                    }
                    (None, None) => None,
                },
                grace_secs: grace
                    .as_deref()
                    .map(model::parse_duration)
                    .transpose()
                    .map_err(|e| CliError::Usage(format!("--grace: {e}")))?,
                ..Overrides::default()
            };
            for kp in &key_policies {
                let (k, p) = kp.split_once('=').ok_or_else(|| {
                    CliError::Usage(format!("--key-policy {kp:?}: expected KEY=LEN[:ALPHABET]"))
                })?;
                let p: Policy = p
                    .parse()
                    .map_err(|e| CliError::Usage(format!("--key-policy {k}: {e}")))?;
                opts.policies.insert(k.to_owned(), p);
            }
            let targets: Vec<String> = match (&path, &expiring_within) {
                (Some(p), None) => {
                    check_path(p)?;
                    vec![p.clone()]
                }
                (None, Some(d)) => {
                    let within = model::parse_duration(d)
                        .map_err(|e| CliError::Usage(format!("--expiring-within: {e}")))?;
                    rotation::expiring(&s, "", within)
                        .await
                        .map_err(secrets_err)?
                        .into_iter()
                        .map(|(p, _)| p)
                        .collect()
                }
                _ => {
                    return Err(CliError::Usage(
                        "rotate needs a PATH or --expiring-within DURATION".into(),
                    ));
                }
            };
            let actor = authorize(config, "secrets.rotate", &step_up)?;
            let s = s.with_actor(&actor);
            rotate(&s, &targets, &opts, expiring_within.is_some(), json).await
        }
        SecretsCommand::Rollback {
            path,
            version,
            step_up,
            json,
        } => {
            check_path(&path)?;
            writable(config, "rollback")?;
            let actor = authorize(config, "secrets.rollback", &step_up)?;
            let s = s.with_actor(&actor);
            let meta = s.rollback(&path, version).await.map_err(secrets_err)?;
            if json {
                print_json(
                    &json!({ "path": path, "restored_version": version, "new_version": meta.version }),
                )?;
            } else {
                print_text(&format!(
                    "{}: version {version} restored as version {}",
                    Untrusted(&path),
                    meta.version
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SecretsCommand::Delete {
            path,
            versions,
            step_up,
            json,
        } => {
            check_path(&path)?;
            writable(config, "delete")?;
            let actor = authorize(config, "secrets.write", &step_up)?;
            let s = s.with_actor(&actor);
            let versions = if versions.is_empty() {
                vec![
                    s.metadata(&path)
                        .await
                        .map_err(secrets_err)?
                        .current_version,
                ]
            } else {
                versions
            };
            s.delete_versions(&path, &versions)
                .await
                .map_err(secrets_err)?;
            done(json, &path, "deleted", &versions)
        }
        SecretsCommand::Undelete {
            path,
            versions,
            step_up,
            json,
        } => {
            check_path(&path)?;
            writable(config, "undelete")?;
            let actor = authorize(config, "secrets.write", &step_up)?;
            s.with_actor(&actor)
                .undelete_versions(&path, &versions)
                .await
                .map_err(secrets_err)?;
            done(json, &path, "undeleted", &versions)
        }
        SecretsCommand::Destroy {
            path,
            versions,
            step_up,
            json,
        } => {
            check_path(&path)?;
            writable(config, "destroy")?;
            let actor = authorize(config, "secrets.destroy", &step_up)?;
            s.with_actor(&actor)
                .destroy_versions(&path, &versions)
                .await
                .map_err(secrets_err)?;
            done(json, &path, "destroyed", &versions)
        }
    }
}

/// `secrets recover --discard ID`: says what the journal holds, asks for
/// the secret's path to be typed, then drops it (audited).
fn discard(s: &Secrets, id: &str, json: bool) -> Result<ExitCode, CliError> {
    use rotation::Entry;
    let Some(e) = rotation::find(s, id).map_err(secrets_err)? else {
        return Err(CliError::Usage(format!(
            "no unfinished rotation has the id {id}: `windflow secrets recover --json` lists them"
        )));
    };
    let path = e.path().to_owned();
    let what = match &e {
        Entry::Journal(j) => format!(
            "the rotation of {} started {} by {}, stopped at step {} (old version {}, new version {}){}",
            Untrusted(&path),
            model::format_time(j.started_at),
            Untrusted(j.operator.as_deref().unwrap_or("an unknown operator")),
            j.step.as_str(),
            j.old_version,
            j.new_version.map_or("none".into(), |v| v.to_string()),
            j.failed
                .as_deref()
                .map(|f| format!("; its recovery failed: {}", UntrustedLines(f)))
                .unwrap_or_default()
        ),
        Entry::Unreadable { error, .. } => {
            format!("an unreadable journal of {}: {error}", Untrusted(&path))
        }
    };
    eprintln!(
        "Journal {id}: {what}.\nDiscarded, windflow no longer finishes or rolls back this rotation: \
         {} stays as it is now (see `windflow secrets history {}`).\n\
         Type the secret's path to discard the journal:",
        Untrusted(&path),
        Untrusted(&path)
    );
    let mut typed = String::new();
    std::io::stdin().read_line(&mut typed).map_err(failure)?;
    if typed.trim() != path {
        return Err(CliError::Refused(format!(
            "not confirmed: type `{}` exactly to discard the journal {id}; nothing was changed",
            Untrusted(&path)
        )));
    }
    rotation::discard(s, id).map_err(secrets_err)?;
    if json {
        print_json(&json!({ "discarded": id, "path": path }))?;
    } else {
        print_text(&format!(
            "discarded the rotation journal {id} of {}",
            Untrusted(&path)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn done(json: bool, path: &str, what: &str, versions: &[u64]) -> Result<ExitCode, CliError> {
    if json {
        print_json(&json!({ "path": path, what: versions }))?;
    } else {
        let list: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
        print_text(&format!("{}: {what} {}", Untrusted(path), list.join(", ")))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn meta_json(meta: &model::SecretMeta) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "path": meta.path,
        "current_version": meta.current_version,
        "oldest_version": meta.oldest_version,
        "max_versions": meta.max_versions,
        "created_time": model::format_time(meta.created_time),
        "updated_time": model::format_time(meta.updated_time),
        "custom_metadata": meta.custom,
        "expires_in": meta.expires_at().map(|at| at - now),
        "versions": meta.versions.iter().map(|v| json!({
            "version": v.version,
            "created_time": model::format_time(v.created_time),
            "deletion_time": v.deletion_time.map(model::format_time),
            "destroyed": v.destroyed,
            "state": v.state(),
        })).collect::<Vec<_>>(),
    })
}

async fn list(s: &Secrets, prefix: &str, json: bool) -> Result<ExitCode, CliError> {
    use futures::StreamExt;
    let paths = s.list(prefix).await.map_err(secrets_err)?;
    let metas: Vec<_> = futures::stream::iter(paths)
        .map(|p| async move {
            let m = s.store().metadata(&p).await;
            (p, m)
        })
        .buffered(16)
        .collect()
        .await;
    let now = chrono::Utc::now().timestamp();
    // Scheduled rotations: when each value is old enough (unix seconds).
    let next = |p: &str, m: &model::SecretMeta| {
        schedule::every_for(s, p).map(|every| {
            (
                every,
                schedule::due_at_ms(m, every).map(|ms| ms.div_euclid(1000)),
            )
        })
    };
    if json {
        let rows: Vec<Value> = metas
            .iter()
            .map(|(p, m)| match m {
                Ok(m) => {
                    let mut row = json!({ "path": p, "current_version": m.current_version, "expires_at": m.expires_at().map(model::format_time) });
                    if let Some((every, due)) = next(p, m) {
                        row["rotate_every"] = model::format_duration(every).into();
                        row["next_rotation"] = due.map(model::format_time).into();
                    }
                    row
                }
                Err(e) => json!({ "path": p, "error": e.to_string() }),
            })
            .collect();
        print_json(&json!({ "backend": s.store().kind(), "secrets": rows }))?;
    } else if metas.is_empty() {
        print_text(&format!("no secrets under {:?}", prefix))?;
    } else {
        // Paths listed by Vault are whatever its writers chose: one line each.
        let shown: Vec<_> = metas
            .iter()
            .map(|(p, m)| (crate::display::clean_line(p), m, p))
            .collect();
        let width = shown
            .iter()
            .map(|(p, _, _)| p.chars().count())
            .max()
            .unwrap_or(4);
        let lines: Vec<String> = shown
            .iter()
            .map(|(p, m, raw)| match m {
                Ok(m) => format!(
                    "{p:width$}  v{:<4} {}{}",
                    m.current_version,
                    model::Expiry::of(m.expires_at(), now).label(),
                    match next(raw, m) {
                        None => String::new(),
                        Some((every, None)) => format!(
                            "  rotates every {}: current version deleted, not rotated",
                            model::format_duration(every)
                        ),
                        Some((every, Some(at))) if at <= now =>
                            format!("  rotates every {}: due now", model::format_duration(every)),
                        Some((every, Some(at))) => format!(
                            "  rotates every {}: next in {} ({})",
                            model::format_duration(every),
                            roughly(at - now),
                            model::format_time(at)
                        ),
                    }
                ),
                Err(e) => format!("{p:width$}  {}", Untrusted(&e.to_string())),
            })
            .collect();
        print_text(&lines.join("\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A span of seconds in its largest whole unit, rounded down: `29d`, `5h`.
fn roughly(secs: i64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

async fn get(
    s: &Secrets,
    path: &str,
    version: Option<u64>,
    reveal: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (values, vmeta) = if reveal {
        s.reveal(path, version, "cli").await
    } else {
        s.read(path, version).await
    }
    .map_err(secrets_err)?;
    let meta = s.metadata(path).await.map_err(secrets_err)?;
    if json {
        let keys: serde_json::Map<String, Value> = values
            .iter()
            .map(|(k, v)| {
                let mut o = json!({ "hash": v.short_hash(), "length": v.len() });
                if reveal {
                    o["value"] = Value::String(v.expose().to_owned());
                }
                (k.clone(), o)
            })
            .collect();
        let mut out = json!({ "path": path, "version": vmeta.version, "keys": keys, "metadata": meta_json(&meta) });
        print_json(&out)?;
        // The copy inside `out` holds values: clear it.
        if let Some(keys) = out["keys"].as_object_mut() {
            for v in keys.values_mut() {
                if let Some(Value::String(s)) = v.get_mut("value") {
                    zeroize::Zeroize::zeroize(s);
                }
            }
        }
    } else {
        let mut text = Zeroizing::new(format!(
            "{}  v{}  {}\n",
            Untrusted(path),
            vmeta.version,
            model::Expiry::of(meta.expires_at(), chrono::Utc::now().timestamp()).label()
        ));
        for (k, v) in &values {
            // Keys and revealed values on one line each, escaped like any
            // outside text (--json gives the exact value).
            if reveal {
                text.push_str(&format!("  {} = {}\n", Untrusted(k), Untrusted(v.expose())));
            } else {
                text.push_str(&format!(
                    "  {} = ******** (hash {})\n",
                    Untrusted(k),
                    v.short_hash()
                ));
            }
        }
        print_text(text.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn diff(
    s: &Secrets,
    path: &str,
    v1: u64,
    v2: u64,
    reveal: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    let (a, b) = if reveal {
        (
            s.reveal(path, Some(v1), "cli diff")
                .await
                .map_err(secrets_err)?
                .0,
            s.reveal(path, Some(v2), "cli diff")
                .await
                .map_err(secrets_err)?
                .0,
        )
    } else {
        (
            s.read(path, Some(v1)).await.map_err(secrets_err)?.0,
            s.read(path, Some(v2)).await.map_err(secrets_err)?.0,
        )
    };
    let lines = model::diff(&a, &b);
    if json {
        let rows: Vec<Value> = lines
            .iter()
            .map(|l| {
                let mut o = serde_json::to_value(l).unwrap_or_default();
                if reveal {
                    o["old_value"] = a.get(&l.key).map(|v| v.expose().to_owned()).into();
                    o["new_value"] = b.get(&l.key).map(|v| v.expose().to_owned()).into();
                }
                o
            })
            .collect();
        print_json(&json!({ "path": path, "from": v1, "to": v2, "keys": rows }))?;
    } else {
        let mut text = Zeroizing::new(format!("{}: v{v1} -> v{v2}\n", Untrusted(path)));
        for l in &lines {
            let show = |m: &Values, h: &Option<String>| -> String {
                match (reveal, m.get(&l.key)) {
                    (true, Some(v)) => v.expose().to_owned(),
                    _ => h.clone().unwrap_or_else(|| "-".into()),
                }
            };
            let sign = match l.change {
                model::Change::Added => "+",
                model::Change::Removed => "-",
                model::Change::Changed => "~",
                model::Change::Same => " ",
            };
            text.push_str(&format!(
                "{sign} {}  {} -> {}\n",
                Untrusted(&l.key),
                Untrusted(&show(&a, &l.old_hash)),
                Untrusted(&show(&b, &l.new_hash))
            ));
        }
        print_text(text.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate(
    s: &Secrets,
    targets: &[String],
    overrides: &Overrides,
    batch: bool,
    json: bool,
) -> Result<ExitCode, CliError> {
    let mut results = Vec::new();
    let mut rolled_back = 0;
    let mut failed = 0;
    for path in targets {
        let mut steps: Vec<Value> = Vec::new();
        let mut progress = |p: Progress| {
            let (status, detail) = match &p.status {
                StepStatus::Started => ("started", String::new()),
                StepStatus::Done(d) => ("ok", d.clone()),
                StepStatus::Failed(d) => ("failed", d.clone()),
            };
            if !json && status != "started" {
                let _ = writeln!(
                    std::io::stdout(),
                    "{:<40} {:<9} {:<7} {}",
                    Untrusted(&p.path),
                    p.step.as_str(),
                    status,
                    Untrusted(&detail)
                );
            }
            steps.push(json!({ "step": p.step.as_str(), "status": status, "detail": detail }));
        };
        let opts = overrides.apply(s.rotation_options(path));
        let res = rotation::rotate(s, path, &opts, &mut progress).await;
        match res {
            Ok(out) => {
                if matches!(out, Outcome::RolledBack { .. }) {
                    rolled_back += 1;
                }
                if !json && let Outcome::RolledBack { reason, .. } = &out {
                    let _ = writeln!(
                        std::io::stderr(),
                        "windflow: {}: rolled back: {}",
                        Untrusted(path),
                        UntrustedLines(reason)
                    );
                }
                let mut o = serde_json::to_value(&out).unwrap_or_default();
                o["steps"] = Value::Array(steps);
                results.push(o);
            }
            Err(e) if batch => {
                failed += 1;
                if !json {
                    let _ = writeln!(
                        std::io::stderr(),
                        "windflow: {}: {}",
                        Untrusted(path),
                        UntrustedLines(&e.to_string())
                    );
                }
                results.push(json!({ "outcome": "failed", "path": path, "reason": e.to_string(), "steps": steps }));
            }
            Err(e) => return Err(secrets_err(e)),
        }
    }
    let rotated = results.len() - rolled_back - failed;
    if json {
        if batch {
            print_json(
                &json!({ "rotated": rotated, "rolled_back": rolled_back, "failed": failed, "results": results }),
            )?;
        } else if let Some(r) = results.pop() {
            print_json(&r)?;
        }
    } else if batch {
        print_text(&format!(
            "{} secret(s) expiring: {rotated} rotated, {rolled_back} rolled back, {failed} failed",
            targets.len()
        ))?;
    }
    Ok(if rolled_back + failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The values of `put`: KEY=VALUE arguments or a file (KEY=VALUE lines or a JSON object).
fn put_values(assignments: &[String], file: Option<&PathBuf>) -> Result<Values, CliError> {
    let mut values = Values::new();
    if let Some(f) = file {
        const WHAT: &str = "a secret's values";
        let cap = crate::fsutil::CONFIG_CAP;
        let bytes = Zeroizing::new(if f.as_os_str() == "-" {
            crate::fsutil::read_all_capped(std::io::stdin().lock(), cap, WHAT)
                .map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))?
        } else {
            crate::fsutil::read_capped(f, cap, WHAT)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", f.display())))?
        });
        let text = Zeroizing::new(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| CliError::Usage(format!("{}: not UTF-8 text", f.display())))?,
        );
        let parsed = if text.trim_start().starts_with('{') {
            let map: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
                .map_err(|e| {
                    CliError::Usage(format!(
                        "{}: not a JSON object of strings: {e}",
                        f.display()
                    ))
                })?;
            let mut v = Values::new();
            for (k, val) in map {
                model::check_key(&k)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", f.display())))?;
                v.insert(k, SecretValue::new(val));
            }
            v
        } else {
            model::parse_editor(&text)
                .map_err(|e| CliError::Usage(format!("{}: {e}", f.display())))?
        };
        values.extend(parsed);
    }
    for a in assignments {
        let (k, v) = model::parse_assignment(a).map_err(CliError::Usage)?;
        values.insert(k, v);
    }
    if values.is_empty() {
        return Err(CliError::Usage(
            "put needs KEY=VALUE arguments or --from-file FILE".into(),
        ));
    }
    Ok(values)
}

impl crate::cli::plug::Subcommand for SecretsArgs {
    const NAME: &'static str = "secrets";
    const ABOUT: &'static str =
        "Secrets (embedded store or Vault KV v2): list, get, put, history, diff, rotate, rollback";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::secrets(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, self)
    }
}

#[cfg(test)]
mod tests {
    use clap::FromArgMatches;

    #[test]
    fn the_vault_token_never_shows_in_debug() {
        let (_, matches) = crate::cli::parse_from([
            "windflow",
            "secrets",
            "--vault-token",
            "hvs.very-secret",
            "list",
        ])
        .unwrap();
        let (name, sub) = matches.subcommand().unwrap();
        assert_eq!(name, "secrets");
        let args = super::SecretsArgs::from_arg_matches(sub).unwrap();
        assert!(matches!(args.command, super::SecretsCommand::List { .. }));
        assert!(!format!("{args:?}").contains("very-secret"));
    }
}
