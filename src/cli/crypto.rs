//! `windflow crypto rewrap` and `windflow crypto retire-key`: every sealed
//! record under the newest master key, then an older key removed once
//! nothing needs it.
//!
//! What uses a master key, and so what rewrap covers and retire-key counts:
//! MFA records and grants, operators' role MACs, secret values (every
//! version) and metadata MACs, rotation journals, sessions and hijack
//! records (embedded or Redis), anomaly models; and the audit log, whose
//! records keep the key that chained them (a record is never rewritten:
//! that is what makes the log evidence). A key that chained audit records
//! is therefore never retired: `audit verify` needs it for as long as
//! those records are kept.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::CliError;
use super::auth::{StepUp, key_err, key_file, rotation_auth};
use super::common::{auth_err, print_json, print_text};
use super::secrets::BackendArgs;
use crate::audit::local::list_files;
use crate::auth::{Auth, RewrapCount};
use crate::config::Config;
use crate::crypto::{Keyring, MASTER_KEY_ENV};
use crate::secrets::Secrets;

/// Why a kind of record could not be rewrapped or counted at all.
struct KindFailure {
    kind: &'static str,
    error: CliError,
}

fn open_secrets(config: &Config, backend: &BackendArgs, auth: &Auth) -> Result<Secrets, CliError> {
    let settings = backend.settings(config)?;
    let audit = crate::cli::audit::cli_audit(config)?;
    let mut s = settings
        .open(auth.store().clone(), auth.keyring().clone(), audit)
        .map_err(secrets_err)?;
    if let Some(actor) = auth.actor() {
        s = s.with_actor(actor);
    }
    Ok(s)
}

fn secrets_err(e: crate::secrets::SecretsError) -> CliError {
    use crate::secrets::SecretsError as E;
    match e {
        E::Invalid(m) => CliError::Usage(m),
        e @ (E::Unreachable { .. } | E::Sealed { .. }) => CliError::Unavailable(e.to_string()),
        e => CliError::Failure(anyhow::anyhow!("{e}")),
    }
}

fn sessions_store(
    config: &Config,
    redis_url: Option<&str>,
) -> Result<Arc<dyn crate::sessions::backend::SessionStore>, CliError> {
    crate::cli::sessions::open_store(config, redis_url)
}

fn sess_err(e: crate::sessions::backend::SessionError) -> CliError {
    if e.is_unavailable() || matches!(e, crate::sessions::backend::SessionError::Auth { .. }) {
        CliError::Unavailable(e.to_string())
    } else {
        CliError::Failure(anyhow::anyhow!("{e}"))
    }
}

/// Runs `f` for one kind of record; a failure is kept for the report
/// instead of stopping the others.
fn each<T>(
    failures: &mut Vec<KindFailure>,
    kind: &'static str,
    f: impl FnOnce() -> Result<T, CliError>,
) -> Option<T> {
    f().map_err(|error| failures.push(KindFailure { kind, error }))
        .ok()
}

/// `crypto rewrap`.
pub fn rewrap(
    config: &Config,
    redis_url: Option<&str>,
    step_up: &StepUp,
    backend: &BackendArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    let auth = rotation_auth(config, step_up)?;
    let keyring = auth.keyring().clone();
    let rt = super::common::runtime()?;
    // The Redis client is made inside the runtime.
    let _runtime = rt.enter();
    let mut failures = Vec::new();
    let mut report: Vec<RewrapCount> = Vec::new();
    if let Some(counts) = each(&mut failures, "operators and second factors", || {
        auth.rewrap().map_err(auth_err)
    }) {
        report.extend(counts);
    }
    if let Some(counts) = each(&mut failures, "secrets", || {
        let s = open_secrets(config, backend, &auth)?;
        let mut counts = rt
            .block_on(crate::secrets::rewrap::rewrap(&s))
            .map_err(secrets_err)?;
        counts[0].notes.insert(
            0,
            format!("in {} ({})", s.store().target(), s.store().kind()),
        );
        Ok(counts)
    }) {
        report.extend(counts);
    }
    if let Some(count) = each(&mut failures, "sessions", || {
        let store = sessions_store(config, redis_url)?;
        let mut count = rt.block_on(store.rewrap()).map_err(sess_err)?;
        count.notes.insert(0, format!("in {}", store.target()));
        Ok(count)
    }) {
        report.push(count);
    }
    if let Some(count) = each(&mut failures, "anomaly models", || {
        crate::anomaly::models::rewrap(auth.store(), &keyring)
            .map_err(|e| CliError::Failure(anyhow::anyhow!("{e}")))
    }) {
        report.push(count);
    }
    let audit_note = audit_note(config, &keyring);
    let failed: usize = report.iter().map(|c| c.failed.len()).sum();
    auth.emit(
        "envelopes_rewrapped",
        None,
        json!({
            "primary_kid": keyring.primary_kid(),
            "namespaces": report,
            "failed_kinds": failures.iter().map(|f| json!({ "kind": f.kind, "error": f.error.to_string() })).collect::<Vec<_>>(),
        }),
    );
    if json {
        print_json(&json!({
            "primary_kid": keyring.primary_kid(),
            "namespaces": report,
            "failed_kinds": failures.iter().map(|f| json!({ "kind": f.kind, "error": f.error.to_string() })).collect::<Vec<_>>(),
            "audit": audit_note,
        }))?;
    } else {
        let mut lines = vec![format!(
            "rewrapped under master key {}",
            keyring.primary_kid()
        )];
        for c in &report {
            lines.push(format!(
                "  {:18} {} record(s): {} rewrapped, {} already current, {} failed{}",
                c.namespace,
                c.total,
                c.rewrapped,
                c.unchanged,
                c.failed.len(),
                if c.unbound > 0 {
                    format!(
                        "; {} were unbound (written before records were bound to their \
                         place, accepted unverified until now) and are bound now",
                        c.unbound
                    )
                } else {
                    String::new()
                }
            ));
            lines.extend(c.failed.iter().map(|f| format!("    failed: {f}")));
            lines.extend(c.notes.iter().map(|n| format!("    note: {n}")));
        }
        for f in &failures {
            lines.push(format!("  {:18} not rewrapped: {}", f.kind, f.error));
        }
        lines.push(format!("  audit log: {audit_note}"));
        print_text(&lines.join("\n"))?;
    }
    if failures
        .iter()
        .any(|f| matches!(f.error, CliError::Unavailable(_)))
    {
        return Ok(ExitCode::from(4));
    }
    if failed > 0 || !failures.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "windflow: {} record(s) and {} kind(s) of record could not be rewrapped (see above)",
            failed,
            failures.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Audit records are never rewritten: what rewrap says about them.
fn audit_note(config: &Config, keyring: &Keyring) -> String {
    let older: usize = keyring
        .kids()
        .iter()
        .filter(|k| **k != keyring.primary_kid())
        .map(|k| audit_usage(config, k).values().sum::<usize>())
        .sum();
    if older == 0 {
        "every record is chained under the primary key".into()
    } else {
        format!(
            "{older} record(s) stay chained under older keys (records are never rewritten); \
             keep those keys loaded: `audit verify` needs them"
        )
    }
}

/// Audit records (and head anchors) chained under `kid`, by month.
fn audit_usage(config: &Config, kid: &str) -> BTreeMap<String, usize> {
    #[derive(serde::Deserialize)]
    struct Kid {
        kid: String,
    }
    let dir = config.paths.data_dir.join("audit");
    let mut out = BTreeMap::new();
    for (month, path) in list_files(&dir).unwrap_or_default() {
        let head = crate::audit::local::head_path(&path);
        let mut n = std::fs::read(&head)
            .ok()
            .and_then(|b| serde_json::from_slice::<Kid>(&b).ok())
            .is_some_and(|h| h.kid == kid) as usize;
        if let Ok(file) = std::fs::File::open(&path) {
            n += std::io::BufReader::new(file)
                .split(b'\n')
                .map_while(Result::ok)
                .filter(|line| serde_json::from_slice::<Kid>(line).is_ok_and(|r| r.kid == kid))
                .count();
        }
        if n > 0 {
            out.insert(month, n);
        }
    }
    out
}

/// What still uses master key `kid`, by kind.
#[derive(Debug, Default, Serialize)]
struct Usage {
    kinds: BTreeMap<String, usize>,
    /// Audit records chained under it, by month.
    audit_months: BTreeMap<String, usize>,
}

impl Usage {
    fn add(&mut self, kind: &str, n: usize) {
        if n > 0 {
            *self.kinds.entry(kind.to_owned()).or_default() += n;
        }
    }

    fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.audit_months.is_empty()
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .kinds
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        if !self.audit_months.is_empty() {
            let months: Vec<String> = self
                .audit_months
                .iter()
                .map(|(m, n)| format!("{m} ({n})"))
                .collect();
            parts.push(format!("audit records in {}", months.join(", ")));
        }
        parts.join(", ")
    }
}

/// `crypto retire-key KID`.
pub fn retire_key(
    config: &Config,
    redis_url: Option<&str>,
    kid: &str,
    yes: bool,
    step_up: &StepUp,
    backend: &BackendArgs,
    json: bool,
) -> Result<ExitCode, CliError> {
    if std::env::var(MASTER_KEY_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        return Err(CliError::Usage(format!(
            "{MASTER_KEY_ENV} is set and wins over the key file: remove the key from there \
             instead (once `windflow crypto retire-key` run with the key file reports nothing \
             uses it)"
        )));
    }
    let auth = rotation_auth(config, step_up)?;
    let keyring = auth.keyring().clone();
    if keyring.get(kid).is_none() {
        return Err(CliError::Usage(format!(
            "no loaded master key has the id {kid:?}; loaded: {} (primary {})",
            keyring.kids().join(", "),
            keyring.primary_kid()
        )));
    }
    if keyring.primary_kid() == kid {
        return Err(CliError::Usage(format!(
            "{kid} is the primary master key (it encrypts): add a new key with \
             `windflow crypto add-key`, run `windflow crypto rewrap`, then retire {kid}"
        )));
    }
    let (usage, checked) = usage(config, redis_url, backend, &auth, kid)?;
    if !usage.is_empty() {
        let mut why = format!(
            "master key {kid} is still in use: {}. Run `windflow crypto rewrap` to seal records \
             under the primary key",
            usage.describe()
        );
        if !usage.audit_months.is_empty() {
            why.push_str(
                "; audit records are never rewritten, and `audit verify` needs the key that \
                 chained them: keep this key (an older key only verifies, it never encrypts) \
                 for as long as those records are kept",
            );
        }
        if json {
            print_json(&json!({ "retired": false, "kid": kid, "in_use": usage }))?;
        }
        return Err(CliError::Refused(why));
    }
    if !yes {
        eprintln!(
            "Retiring master key {kid} removes it from {}: records sealed under it could no \
             longer be opened (none are left).\nType the key id to retire it:",
            key_file(config).display()
        );
        let mut typed = String::new();
        std::io::stdin()
            .read_line(&mut typed)
            .map_err(|e| CliError::Failure(anyhow::anyhow!("cannot read the confirmation: {e}")))?;
        if typed.trim() != kid {
            return Err(CliError::Refused(format!(
                "not confirmed: type `{kid}` exactly (or pass --yes) to retire it; nothing was changed"
            )));
        }
    }
    let path = key_file(config);
    crate::crypto::retire_key(&path, kid).map_err(key_err)?;
    auth.emit("master_key_retired", None, json!({ "kid": kid }));
    if json {
        print_json(&json!({ "retired": true, "kid": kid, "key_file": path, "checked": checked }))?;
    } else {
        print_text(&format!(
            "retired master key {kid} from {}: nothing used it ({})",
            path.display(),
            checked.join(", ")
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything that still needs `kid`, and what was looked at. A store
/// that cannot be read is an error: a key is never retired on a count that
/// was not made.
fn usage(
    config: &Config,
    redis_url: Option<&str>,
    backend: &BackendArgs,
    auth: &Auth,
    kid: &str,
) -> Result<(Usage, Vec<String>), CliError> {
    let mut usage = Usage::default();
    for (kind, counts) in auth.kid_counts().map_err(auth_err)? {
        usage.add(kind, counts.get(kid).copied().unwrap_or(0));
    }
    let rt = super::common::runtime()?;
    let _runtime = rt.enter();
    let s = open_secrets(config, backend, auth)?;
    for (kind, n) in rt
        .block_on(crate::secrets::rewrap::usage(&s, kid))
        .map_err(secrets_err)?
    {
        usage.add(&kind, n);
    }
    let sessions = sessions_store(config, redis_url)?;
    let counts = rt.block_on(sessions.kid_counts()).map_err(sess_err)?;
    usage.add("sessions", counts.get(kid).copied().unwrap_or(0));
    let models = crate::anomaly::models::kid_counts(auth.store())
        .map_err(|e| CliError::Failure(anyhow::anyhow!("{e}")))?;
    usage.add("anomaly models", models.get(kid).copied().unwrap_or(0));
    usage.audit_months = audit_usage(config, kid);
    let checked = vec![
        format!("the local store {}", auth.store().path().display()),
        format!("secrets in {}", s.store().target()),
        format!("sessions in {}", sessions.target()),
        format!(
            "the audit log in {}",
            config.paths.data_dir.join("audit").display()
        ),
    ];
    Ok((usage, checked))
}
