//! What every command shares: JSON and text output, the async runtime, the
//! acting operator and the one authorization check (`Auth::authorize`: the
//! operator's role as stored now, then a fresh second factor when the action
//! needs one; the console runs the same role check and step-up). Read-only
//! is checked for every command before it runs (`read_only::check`).

use std::io::Write;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::auth::{Auth, AuthError};
use crate::cli::CliError;
use crate::config::{Config, Source};

/// The operator named by `--operator`, `WINDFLOW_OPERATOR` or the config
/// file; not the login-name default.
pub fn explicit_operator(config: &Config) -> Option<String> {
    match config.sources.get("operator") {
        Some(Source::Default) | None => None,
        Some(_) => Some(config.operator.clone()),
    }
}

/// The acting operator, authorised for `action` (see the module): `code`
/// is a code given with the command, else an open grant is used.
pub fn authorize(
    config: &Config,
    auth: &Auth,
    action: &str,
    code: Option<&str>,
) -> Result<String, CliError> {
    let Some(actor) = explicit_operator(config) else {
        return Err(CliError::Refused(format!(
            "{action} needs an operator: pass --operator NAME (or set WINDFLOW_OPERATOR) \
             with --code CODE, or open a grant first with `windflow login`"
        )));
    };
    auth.authorize(&actor, action, code, now())
        .map_err(auth_err)?;
    Ok(actor)
}

/// An authorization or sign-in error as the CLI's exit code: 2 bad input,
/// 3 refused, 1 otherwise.
pub fn auth_err(e: AuthError) -> CliError {
    match e.exit_code() {
        2 => CliError::Usage(e.to_string()),
        3 => CliError::Refused(e.to_string()),
        _ => CliError::Failure(anyhow::anyhow!("{e}")),
    }
}

pub fn now() -> u64 {
    crate::mfa::unix_seconds(std::time::SystemTime::now())
}

/// Pretty JSON on stdout. The text is wiped after writing: it may hold a
/// revealed value or a one-time code.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = Zeroizing::new(
        serde_json::to_string_pretty(value).map_err(|e| CliError::Failure(e.into()))?,
    );
    writeln!(std::io::stdout().lock(), "{}", text.as_str()).map_err(output_err)
}

pub fn print_text(text: &str) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(output_err)
}

fn output_err(e: std::io::Error) -> CliError {
    CliError::Failure(anyhow::anyhow!("cannot write the output: {e}"))
}

/// The runtime of a command that talks to backends (one thread).
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(anyhow::anyhow!("cannot start the async runtime: {e}")))
}
