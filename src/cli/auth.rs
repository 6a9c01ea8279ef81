//! Headless subcommands of the auth domain: `mfa`, `operators`, `login`,
//! `logout` and `crypto`. Every one prints text, or JSON with `--json`;
//! exit codes as in [`crate::cli`]: 0 ok, 1 failure (or a rejected code for
//! `mfa verify`/`mfa confirm`), 2 bad usage or input, 3 refused by policy.
//!
//! Commands that change operators, second factors or keys are authorised by
//! [`Auth::authorize`]: the acting operator comes from `--operator` (or
//! `WINDFLOW_OPERATOR`, or the config file), the fresh second factor from
//! `--code` or an open grant (`windflow login`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::auth::{self, Auth, AuthError, EnrolmentToken, Operator, Role};
use crate::cli::CliError;
use crate::cli::common::{self, auth_err, explicit_operator, now, print_json, print_text};
use crate::config::Config;
use crate::crypto::{KEY_FILE_NAME, KeyError, Keyring, MASTER_KEY_ENV, contexts};
use crate::mfa::{self, Enrollment, Verified};
use crate::store::Store;

// ------------------------------------------------------------------ clap

/// A fresh second factor for commands that need step-up.
#[derive(Debug, Clone, Args)]
pub struct StepUp {
    /// A code (or backup code) of the acting operator (--operator or WINDFLOW_OPERATOR);
    /// without it, an open grant from `windflow login` is used.
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Start a TOTP enrolment: draws the QR code and prints the otpauth URI, the
    /// secret and 10 backup codes, once. Confirm within 10 minutes.
    ///
    /// A user without an active second factor needs the one-time enrolment
    /// token printed by `operators add` or `mfa reset` (or an admin acting
    /// with --operator and a fresh second factor); replacing an active one
    /// needs the user themselves or an admin.
    Enroll {
        user: String,
        /// The one-time enrolment token from `operators add` or `mfa reset`.
        #[arg(
            long,
            value_name = "TOKEN",
            env = "WINDFLOW_ENROLMENT_TOKEN",
            hide_env_values = true
        )]
        token: Option<EnrolmentToken>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Confirm a pending enrolment with a code from the authenticator app (a
    /// code of the key that `mfa enroll` just showed: only whoever started
    /// the enrolment holds it).
    Confirm {
        user: String,
        code: String,
        #[arg(long)]
        json: bool,
    },
    /// Check a code or a backup code: exit 0 accepted, 1 rejected.
    Verify {
        user: String,
        code: String,
        #[arg(long)]
        json: bool,
    },
    /// How many backup codes are left; with --regenerate, a new set (the old one stops working).
    BackupCodes {
        user: String,
        #[arg(long)]
        regenerate: bool,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Delete a user's second factor (admin): they must enrol again, with the
    /// one-time enrolment token printed here (valid 24 h).
    Reset {
        user: String,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Add an operator. On an empty store the first one (an admin) needs no
    /// grant and its MFA enrolment starts at once; after that an admin must act.
    /// Prints a one-time enrolment token (valid 24 h) for `mfa enroll NAME --token`.
    Add {
        name: String,
        /// ingest (a script that records audit events only), viewer, operator or
        /// admin (default: admin for the first operator, else viewer).
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Every operator with role and MFA state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an operator with their second factor (admin).
    Remove {
        name: String,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Change an operator's role (admin).
    SetRole {
        name: String,
        /// ingest, viewer, operator or admin.
        #[arg(value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
}

/// `windflow login`: open a step-up grant.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// A code (or backup code) of the operator given with --operator.
    #[arg(long, value_name = "CODE")]
    pub code: String,
    /// Bind the grant to this terminal (the device on stdin and its
    /// session), like sudo's tty tickets: commands from any other terminal,
    /// or from none, do not use it. Always on with tty_grants = true.
    #[arg(long)]
    pub tty: bool,
    #[arg(long)]
    pub json: bool,
}

/// `windflow logout`: close the step-up grant.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CryptoCommand {
    /// Encrypt stdin to an envelope on stdout.
    Encrypt {
        /// What the data is for, e.g. `backup:2024-06` (decrypting needs the same).
        /// The contexts windflow seals its own data with are refused.
        #[arg(long)]
        context: String,
        #[arg(long)]
        json: bool,
    },
    /// Decrypt an envelope on stdin to stdout.
    Decrypt {
        #[arg(long)]
        context: String,
        #[arg(long)]
        json: bool,
    },
    /// Re-encrypt every sealed record under the newest master key and bind
    /// records to their place (admin): MFA records, grants, operators,
    /// secrets (every version; Vault: the current one, as a new version),
    /// rotation journals, sessions (embedded or Redis) and anomaly models.
    Rewrap {
        #[command(flatten)]
        step_up: StepUp,
        #[command(flatten)]
        backend: crate::cli::secrets::BackendArgs,
        #[arg(long)]
        json: bool,
    },
    /// Remove an older master key from the key file (admin), once nothing
    /// uses it: refused, listing what does, while any record is sealed or
    /// MAC'd under it, audit records included. Sessions are looked for in
    /// the store --redis-url (WINDFLOW_REDIS_URL) names, else the embedded
    /// one; secrets in the backend the flags or windflow.toml name.
    RetireKey {
        /// The key's id (8 hex digits, as `crypto add-key` printed it).
        kid: String,
        /// Do not ask to type the key id (for scripts).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        step_up: StepUp,
        #[command(flatten)]
        backend: crate::cli::secrets::BackendArgs,
        #[arg(long)]
        json: bool,
    },
    /// Add a new primary master key to the key file (admin); then run `crypto rewrap`.
    AddKey {
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

// ------------------------------------------------------------------ setup

/// The key file in the data dir.
pub fn key_file(config: &Config) -> PathBuf {
    config.paths.data_dir.join(KEY_FILE_NAME)
}

/// `WINDFLOW_MASTER_KEY`, else the key file (created when missing if `create`).
pub fn load_keyring(config: &Config, create: bool) -> Result<Keyring, CliError> {
    Keyring::from_env_or_file(&key_file(config), create).map_err(key_err)
}

/// The auth domain over the local store of `config`, with the local audit log.
pub fn open_auth(config: &Config) -> Result<Auth, CliError> {
    let data_dir = &config.paths.data_dir;
    let store = Store::open(data_dir)?;
    let keyring = load_keyring(config, true)?;
    let audit = crate::cli::audit::cli_audit(config)?;
    Ok(
        Auth::new(store, Arc::new(keyring), audit, mfa::Policy::default())
            .with_grant_ttl(config.step_up_minutes.saturating_mul(60))
            .with_tty_grants(config.tty_grants),
    )
}

/// Authorises the acting operator for `action`; returns the handle acting as them.
fn authorize(
    auth: &Auth,
    config: &Config,
    action: &str,
    step_up: &StepUp,
) -> Result<Auth, CliError> {
    let actor = common::authorize(config, auth, action, step_up.code.as_deref())?;
    Ok(auth.clone().with_actor(&actor))
}

pub(crate) fn key_err(e: KeyError) -> CliError {
    match e {
        KeyError::InsecurePermissions { .. } => CliError::Refused(e.to_string()),
        KeyError::Io { .. } => CliError::Failure(anyhow::anyhow!("{e}")),
        _ => CliError::Usage(e.to_string()),
    }
}

fn ok() -> Result<ExitCode, CliError> {
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ mfa

pub fn run_mfa(config: &Config, command: MfaCommand) -> Result<ExitCode, CliError> {
    let auth = open_auth(config)?;
    match command {
        MfaCommand::Enroll {
            user,
            token,
            step_up,
            json,
        } => {
            if auth.operator(&user).map_err(auth_err)?.is_none() {
                return Err(auth_err(AuthError::UnknownOperator(user)));
            }
            let now = now();
            let enrollment = if auth.is_enrolled(&user).map_err(auth_err)? {
                // Replacing an active second factor needs the user themselves or an admin.
                let auth = authorize(&auth, config, self_or_admin(config, &user), &step_up)?;
                auth.begin_enrollment(&user, now)
            } else if token.is_none() && explicit_operator(config).is_some() {
                // No factor yet and no token: an admin with a fresh second factor.
                let auth = authorize(&auth, config, "mfa.reset", &step_up)?;
                auth.begin_enrollment(&user, now)
            } else {
                auth.begin_enrollment_with_token(&user, token.as_ref(), now)
            }
            .map_err(auth_err)?;
            let expires_at = now + auth.policy().pending_ttl_secs;
            if json {
                print_json(&EnrollmentOut::new(&enrollment, expires_at))?;
            } else {
                print_text(&enrollment_text(&enrollment, expires_at)?)?;
            }
            ok()
        }
        MfaCommand::Confirm { user, code, json } => {
            match auth.confirm_enrollment(&user, &code, now()) {
                Ok(()) => {
                    if json {
                        print_json(&json!({ "user": user, "confirmed": true }))?;
                    } else {
                        print_text(&format!("second factor of {user} confirmed and active"))?;
                    }
                    ok()
                }
                Err(e) if e.is_rejected_code() => rejected(&e, json, "confirmed"),
                Err(e) => Err(auth_err(e)),
            }
        }
        MfaCommand::Verify { user, code, json } => match auth.verify(&user, &code, now()) {
            Ok(verified) => {
                if json {
                    let mut out = json!({ "user": user, "accepted": true, "reason": null });
                    merge(&mut out, json!(verified));
                    print_json(&out)?;
                } else {
                    print_text(&match verified {
                        Verified::Totp { .. } => "accepted (TOTP code)".to_owned(),
                        Verified::BackupCode { remaining } => {
                            format!("accepted (backup code; {remaining} left)")
                        }
                    })?;
                }
                ok()
            }
            Err(e) if e.is_rejected_code() => rejected(&e, json, "accepted"),
            Err(e) => Err(auth_err(e)),
        },
        MfaCommand::BackupCodes {
            user,
            regenerate,
            step_up,
            json,
        } => {
            if !regenerate {
                let remaining = auth
                    .mfa_record(&user)
                    .map_err(auth_err)?
                    .filter(|r| r.is_active())
                    .ok_or_else(|| auth_err(AuthError::NotEnrolled(user.clone())))?
                    .backup_codes_remaining();
                return if json {
                    print_json(&json!({ "user": user, "remaining": remaining })).and_then(|()| ok())
                } else {
                    print_text(&format!(
                        "{user} has {remaining} unused backup code(s); \
                         `windflow mfa backup-codes {user} --regenerate` makes a new set"
                    ))
                    .and_then(|()| ok())
                };
            }
            let auth = authorize(&auth, config, self_or_admin(config, &user), &step_up)?;
            let codes = auth.regenerate_backup_codes(&user).map_err(auth_err)?;
            let codes: Vec<&str> = codes.iter().map(ExposeSecret::expose_secret).collect();
            if json {
                #[derive(Serialize)]
                struct Out<'a> {
                    user: &'a str,
                    backup_codes: &'a [&'a str],
                }
                print_json(&Out {
                    user: &user,
                    backup_codes: &codes,
                })?;
            } else {
                print_text(&Zeroizing::new(format!(
                    "New backup codes for {user} (each works once; the old ones no longer work; \
                     they are not shown again):\n{}",
                    backup_lines(&codes).as_str()
                )))?;
            }
            ok()
        }
        MfaCommand::Reset {
            user,
            step_up,
            json,
        } => {
            let auth = authorize(&auth, config, "mfa.reset", &step_up)?;
            if auth.operator(&user).map_err(auth_err)?.is_none() {
                return Err(auth_err(AuthError::UnknownOperator(user)));
            }
            auth.reset_mfa(&user).map_err(auth_err)?;
            let (token, token_expires_at) =
                auth.issue_enrolment_token(&user, now()).map_err(auth_err)?;
            if json {
                #[derive(Serialize)]
                struct Out<'a> {
                    user: &'a str,
                    reset: bool,
                    enrolment_token: &'a str,
                    enrolment_token_expires_at: u64,
                }
                print_json(&Out {
                    user: &user,
                    reset: true,
                    enrolment_token: token.expose(),
                    enrolment_token_expires_at: token_expires_at,
                })?;
            } else {
                print_text(&Zeroizing::new(format!(
                    "second factor of {user} deleted; they enrol again with\n{}",
                    token_text(&user, &token, token_expires_at).as_str()
                )))?;
            }
            ok()
        }
    }
}

/// How to use a one-time enrolment token (printed once).
fn token_text(user: &str, token: &EnrolmentToken, expires_at: u64) -> Zeroizing<String> {
    let until = i64::try_from(expires_at)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || expires_at.to_string(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
    Zeroizing::new(format!(
        "  windflow mfa enroll {user} --token {token}\n\
         The token works once, until {until}, and is not shown again: hand it to {user} privately.",
        token = token.expose(),
    ))
}

/// `mfa.self` when the acting operator is `user`, else the admin action `mfa.reset`.
fn self_or_admin(config: &Config, user: &str) -> &'static str {
    if explicit_operator(config).as_deref() == Some(user) {
        "mfa.self"
    } else {
        "mfa.reset"
    }
}

/// A rejected code: JSON (if asked) on stdout, the reason on stderr, exit 1.
fn rejected(e: &AuthError, json: bool, field: &str) -> Result<ExitCode, CliError> {
    if json {
        print_json(&json!({ field: false, "method": null, "reason": auth::reason(e) }))?;
    }
    let _ = writeln!(std::io::stderr(), "windflow: rejected: {e}");
    Ok(ExitCode::from(1))
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// `--json` of an enrolment; borrows the secrets instead of copying them.
#[derive(Serialize)]
struct EnrollmentOut<'a> {
    user: &'a str,
    secret: &'a str,
    otpauth_uri: &'a str,
    backup_codes: Vec<&'a str>,
    expires_at: u64,
}

impl<'a> EnrollmentOut<'a> {
    fn new(e: &'a Enrollment, expires_at: u64) -> Self {
        Self {
            user: &e.user,
            secret: e.secret_base32.expose_secret(),
            otpauth_uri: e.otpauth_uri.expose_secret(),
            backup_codes: e
                .backup_codes
                .iter()
                .map(ExposeSecret::expose_secret)
                .collect(),
            expires_at,
        }
    }
}

fn enrollment_text(e: &Enrollment, expires_at: u64) -> Result<Zeroizing<String>, CliError> {
    let uri: &SecretString = &e.otpauth_uri;
    let qr = Zeroizing::new(
        mfa::qr::render_ansi(uri.expose_secret()).map_err(|err| CliError::Failure(err.into()))?,
    );
    let codes: Vec<&str> = e
        .backup_codes
        .iter()
        .map(ExposeSecret::expose_secret)
        .collect();
    let mut qr_text = Zeroizing::new(String::new());
    for line in qr.iter() {
        qr_text.push_str(line);
        qr_text.push('\n');
    }
    Ok(Zeroizing::new(format!(
        "{qr}\nScan the code with an authenticator app, or enter the secret by hand.\n\
         URI:    {uri}\nSecret: {secret}\n\n\
         Backup codes (each works once; keep them offline, they are not shown again):\n{codes}\n\n\
         Confirm before {until} with: windflow mfa confirm {user} CODE",
        qr = qr_text.as_str(),
        uri = uri.expose_secret(),
        secret = e.secret_base32.expose_secret(),
        codes = backup_lines(&codes).as_str(),
        until = utc(expires_at),
        user = e.user,
    )))
}

fn backup_lines(codes: &[&str]) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    for (i, row) in codes.chunks(5).enumerate() {
        if i > 0 {
            text.push('\n');
        }
        for code in row {
            text.push_str("  ");
            text.push_str(code);
        }
    }
    text
}

fn utc(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || unix.to_string(),
            |t| t.format("%H:%M:%S UTC").to_string(),
        )
}

// ------------------------------------------------------------------ operators

pub fn run_operators(config: &Config, command: OperatorsCommand) -> Result<ExitCode, CliError> {
    let auth = open_auth(config)?;
    match command {
        OperatorsCommand::Add {
            name,
            role,
            step_up,
            json,
        } => {
            if !auth.has_operators().map_err(auth_err)? {
                return add_first_operator(&auth, &name, role.unwrap_or(Role::Admin), json);
            }
            let auth = authorize(&auth, config, "operators.manage", &step_up)?;
            let op = auth
                .add_operator(&name, role.unwrap_or(Role::Viewer))
                .map_err(auth_err)?;
            if op.role == Role::Ingest {
                return added_ingest(&op, json);
            }
            let (token, token_expires_at) =
                auth.issue_enrolment_token(&name, now()).map_err(auth_err)?;
            if json {
                #[derive(Serialize)]
                struct Out<'a> {
                    operator: &'a Operator,
                    enrollment: Option<()>,
                    enrolment_token: &'a str,
                    enrolment_token_expires_at: u64,
                }
                print_json(&Out {
                    operator: &op,
                    enrollment: None,
                    enrolment_token: token.expose(),
                    enrolment_token_expires_at: token_expires_at,
                })?;
            } else {
                print_text(&Zeroizing::new(format!(
                    "added {} ({}); they enrol their second factor with\n{}",
                    op.name,
                    op.role,
                    token_text(&op.name, &token, token_expires_at).as_str()
                )))?;
            }
            ok()
        }
        OperatorsCommand::List { json } => {
            let ops = auth.operators().map_err(auth_err)?;
            for o in ops.iter().filter(|o| o.problem.is_some()) {
                eprintln!(
                    "windflow: operator {}: {}",
                    o.name,
                    o.problem.as_deref().unwrap_or_default()
                );
            }
            if json {
                print_json(&ops)?;
            } else {
                print_text(&operators_table(&ops))?;
            }
            ok()
        }
        OperatorsCommand::Remove {
            name,
            step_up,
            json,
        } => {
            let auth = authorize(&auth, config, "operators.manage", &step_up)?;
            auth.remove_operator(&name).map_err(auth_err)?;
            if json {
                print_json(&json!({ "removed": name }))?;
            } else {
                print_text(&format!("removed {name} and their second factor"))?;
            }
            ok()
        }
        OperatorsCommand::SetRole {
            name,
            role,
            step_up,
            json,
        } => {
            let auth = authorize(&auth, config, "operators.manage", &step_up)?;
            auth.set_role(&name, role).map_err(auth_err)?;
            if json {
                print_json(&json!({ "operator": name, "role": role }))?;
            } else {
                print_text(&format!("{name} is now {role}"))?;
            }
            ok()
        }
    }
}

/// An ingest identity has no second factor (nothing it may do asks for
/// one), so no enrolment token is issued.
fn added_ingest(op: &Operator, json: bool) -> Result<ExitCode, CliError> {
    if json {
        print_json(&json!({ "operator": op, "enrollment": null, "enrolment_token": null }))?;
    } else {
        print_text(&format!(
            "added {name} (ingest): a script identity that records audit events and nothing \
             else, with `windflow audit log --operator {name} --type TYPE ...`; it has no second factor",
            name = op.name
        ))?;
    }
    ok()
}

/// The first operator of an empty store: no grant, and enrolment starts at once.
fn add_first_operator(
    auth: &Auth,
    name: &str,
    role: Role,
    json: bool,
) -> Result<ExitCode, CliError> {
    let op = auth.add_first_operator(name, role).map_err(auth_err)?;
    let now = now();
    let enrollment = auth.begin_enrollment(name, now).map_err(auth_err)?;
    let expires_at = now + auth.policy().pending_ttl_secs;
    // Should this enrolment lapse unconfirmed, the token starts another.
    let (token, token_expires_at) = auth.issue_enrolment_token(name, now).map_err(auth_err)?;
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            operator: &'a Operator,
            enrollment: EnrollmentOut<'a>,
            enrolment_token: &'a str,
            enrolment_token_expires_at: u64,
        }
        print_json(&Out {
            operator: &op,
            enrollment: EnrollmentOut::new(&enrollment, expires_at),
            enrolment_token: token.expose(),
            enrolment_token_expires_at: token_expires_at,
        })?;
    } else {
        print_text(&format!(
            "added {} ({}), the first operator; enrol the second factor now:\n",
            op.name, op.role
        ))?;
        print_text(&enrollment_text(&enrollment, expires_at)?)?;
        print_text(&Zeroizing::new(format!(
            "\nShould this enrolment lapse before it is confirmed, start another with\n{}",
            token_text(&op.name, &token, token_expires_at).as_str()
        )))?;
    }
    ok()
}

fn operators_table(ops: &[Operator]) -> String {
    if ops.is_empty() {
        return "no operators yet: add the first (an admin) with `windflow operators add NAME`"
            .into();
    }
    let width = ops.iter().map(|o| o.name.len()).max().unwrap_or(4).max(4);
    let mut lines = vec![format!(
        "{:width$}  {:8}  {:8}  CREATED",
        "NAME", "ROLE", "MFA"
    )];
    lines.extend(ops.iter().map(|o| {
        let created = i64::try_from(o.created_at)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
        let mfa = if o.problem.is_some() {
            "UNREADABLE"
        } else if o.enrolled {
            "enrolled"
        } else {
            "pending"
        };
        format!(
            "{:width$}  {:8}  {:8}  {created}",
            o.name,
            o.role.as_str(),
            mfa
        )
    }));
    lines.join("\n")
}

// ------------------------------------------------------------------ login / logout

fn required_operator(config: &Config, command: &str) -> Result<String, CliError> {
    explicit_operator(config).ok_or_else(|| {
        CliError::Usage(format!(
            "`windflow {command}` needs --operator NAME (or WINDFLOW_OPERATOR)"
        ))
    })
}

pub fn run_login(config: &Config, args: LoginArgs) -> Result<ExitCode, CliError> {
    let operator = required_operator(config, "login")?;
    let auth = open_auth(config)?.with_actor(&operator);
    let bind = args.tty || auth.tty_grants();
    let grant = auth
        .open_grant_with(&operator, &args.code, now(), bind)
        .map_err(auth_err)?;
    if args.json {
        print_json(&grant)?;
    } else {
        let only = grant
            .tty
            .as_ref()
            .map(|t| format!(", only from the terminal {}", t.device))
            .unwrap_or_default();
        print_text(&format!(
            "grant open for {} until {} ({} s){only}; `windflow logout --operator {}` ends it",
            grant.operator,
            utc(grant.expires_at),
            grant.expires_at - grant.opened_at,
            grant.operator
        ))?;
    }
    ok()
}

pub fn run_logout(config: &Config, args: LogoutArgs) -> Result<ExitCode, CliError> {
    let operator = required_operator(config, "logout")?;
    let auth = open_auth(config)?.with_actor(&operator);
    auth.close_grant(&operator).map_err(auth_err)?;
    if args.json {
        print_json(&json!({ "operator": operator, "closed": true }))?;
    } else {
        print_text(&format!("grant of {operator} closed"))?;
    }
    ok()
}

// ------------------------------------------------------------------ crypto

pub fn run_crypto(
    config: &Config,
    redis_url: Option<&str>,
    command: CryptoCommand,
) -> Result<ExitCode, CliError> {
    match command {
        CryptoCommand::Encrypt { context, json } => {
            check_context(&context)?;
            let keyring = load_keyring(config, true)?;
            let input = read_stdin()?;
            let envelope = keyring
                .encrypt(&context, &input)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            if json {
                print_json(
                    &json!({ "context": context, "kid": keyring.primary_kid(), "envelope": envelope }),
                )?;
            } else {
                print_text(&envelope)?;
            }
            ok()
        }
        CryptoCommand::Decrypt { context, json } => {
            check_context(&context)?;
            let keyring = load_keyring(config, false)?;
            let input = read_stdin()?;
            let text = std::str::from_utf8(&input)
                .map_err(|_| CliError::Usage("the envelope on stdin is not text".into()))?;
            let plain = keyring
                .decrypt(&context, text.trim())
                .map_err(|e| CliError::Usage(e.to_string()))?;
            if json {
                #[derive(Serialize)]
                struct Out<'a> {
                    context: &'a str,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    plaintext: Option<&'a str>,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    plaintext_base64: Option<&'a str>,
                }
                let b64;
                let out = match std::str::from_utf8(&plain) {
                    Ok(text) => Out {
                        context: &context,
                        plaintext: Some(text),
                        plaintext_base64: None,
                    },
                    Err(_) => {
                        use base64::Engine;
                        b64 = Zeroizing::new(
                            base64::engine::general_purpose::STANDARD.encode(&plain[..]),
                        );
                        Out {
                            context: &context,
                            plaintext: None,
                            plaintext_base64: Some(b64.as_str()),
                        }
                    }
                };
                print_json(&out)?;
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(&plain)
                    .and_then(|()| out.flush())
                    .map_err(|e| {
                        CliError::Failure(anyhow::anyhow!("cannot write the output: {e}"))
                    })?;
            }
            ok()
        }
        CryptoCommand::Rewrap {
            step_up,
            backend,
            json,
        } => crate::cli::crypto::rewrap(config, redis_url, &step_up, &backend, json),
        CryptoCommand::RetireKey {
            kid,
            yes,
            step_up,
            backend,
            json,
        } => crate::cli::crypto::retire_key(config, redis_url, &kid, yes, &step_up, &backend, json),
        CryptoCommand::AddKey { step_up, json } => {
            if std::env::var(MASTER_KEY_ENV).is_ok_and(|v| !v.trim().is_empty()) {
                return Err(CliError::Usage(format!(
                    "{MASTER_KEY_ENV} is set and wins over the key file: add the new key there \
                     (comma-separated, newest last) instead"
                )));
            }
            let auth = rotation_auth(config, &step_up)?;
            let mut keyring = Keyring::clone(auth.keyring());
            let path = key_file(config);
            let kid = keyring.add_key(&path).map_err(key_err)?;
            auth.emit("master_key_added", None, json!({ "kid": kid }));
            if json {
                print_json(&json!({ "kid": kid, "key_file": path, "kids": keyring.kids() }))?;
            } else {
                print_text(&format!(
                    "added master key {kid} to {} (now primary); run `windflow crypto rewrap` \
                     to re-encrypt stored records under it",
                    path.display()
                ))?;
            }
            ok()
        }
    }
}

/// Key rotation is an admin action once operators exist.
pub(crate) fn rotation_auth(config: &Config, step_up: &StepUp) -> Result<Auth, CliError> {
    let auth = open_auth(config)?;
    if auth.has_operators().map_err(auth_err)? {
        authorize(&auth, config, "crypto.rotate", step_up)
    } else {
        Ok(auth)
    }
}

/// Contexts of windflow's own data are refused (see [`contexts::RESERVED`]):
/// `crypto encrypt` could otherwise forge a grant, a session or a secret, and
/// `crypto decrypt` print a TOTP key or a secret past the checks of the
/// command that owns it.
fn check_context(context: &str) -> Result<(), CliError> {
    if let Some(r) = contexts::reserved(context) {
        return Err(CliError::Refused(format!(
            "context {context:?} is reserved: windflow seals {holds} under `{prefix}...`, \
             and `windflow crypto` never opens or makes them; read them with {read_with}, \
             which checks the operator's role and second factor. For your own data, \
             use a context of your own (e.g. `backup:2024-06`)",
            holds = r.holds,
            prefix = r.prefix,
            read_with = r.read_with,
        )));
    }
    Ok(())
}

fn read_stdin() -> Result<Zeroizing<Vec<u8>>, CliError> {
    crate::fsutil::read_all_capped(
        std::io::stdin().lock(),
        crate::fsutil::STDIN_CAP,
        "`crypto` input",
    )
    .map(Zeroizing::new)
    .map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<MfaCommand> {
    const NAME: &'static str = "mfa";
    const ABOUT: &'static str = "TOTP second factor: enroll, confirm, verify, backup codes, reset";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::mfa(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run_mfa(ctx.config, self.command)
    }
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<OperatorsCommand> {
    const NAME: &'static str = "operators";
    const ABOUT: &'static str = "Operators and their roles: add, list, remove, set-role";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::operators(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run_operators(ctx.config, self.command)
    }
}

impl crate::cli::plug::Subcommand for LoginArgs {
    const NAME: &'static str = "login";
    const ABOUT: &'static str = "Open a step-up grant (5 minutes, or step_up_minutes): --operator NAME --code CODE [--tty: honoured only from this terminal]";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        Some(("login", "opens a step-up grant"))
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run_login(ctx.config, self)
    }
}

impl crate::cli::plug::Subcommand for LogoutArgs {
    const NAME: &'static str = "logout";
    const ABOUT: &'static str = "Close the step-up grant of --operator NAME";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        Some(("logout", "closes the step-up grant"))
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run_logout(ctx.config, self)
    }
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<CryptoCommand> {
    const NAME: &'static str = "crypto";
    const ABOUT: &'static str =
        "Envelope encryption: encrypt, decrypt, rewrap, add-key, retire-key";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::crypto(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run_crypto(ctx.config, ctx.redis_url, self.command)
    }
}
