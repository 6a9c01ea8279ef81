//! `windflow sessions`: list, show, create, validate, revoke, revoke-user.
//! Text by default, JSON with `--json`. Exit codes as in [`crate::cli`];
//! `validate` exits 0 for a valid session and 1 for an invalid one.
//!
//! The store is Redis when `--redis-url` / `WINDFLOW_REDIS_URL` is given,
//! else the embedded store in the data dir; for `rediss://` the TLS files
//! (CA, client certificate and key) come from `[sessions]` in windflow.toml
//! and `WINDFLOW_REDIS_*` (see [`crate::sessions::settings`]). Revocations are authorised like
//! the console's: once operators exist, `--operator` with `--code` (or an
//! open grant) is needed; a store without operators allows them.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::cli::CliError;
use crate::cli::auth::{StepUp, load_keyring, open_auth};
use crate::cli::common::{self, explicit_operator};
use crate::config::Config;
use crate::display::{Untrusted, code_points, looks_alike, skeleton};
use crate::sessions::backend::{
    LocalStore, RedisStore, SessionError, SessionStore, Unreadable, now_ms, unreadable_groups,
};
use crate::sessions::model::{
    Device, Invalid, Listed, SessionType, Validation, human, is_valid_id,
};
use crate::sessions::service::{MIN_PREFIX, Resolved, Sessions, short};
use crate::sessions::settings::RedisTls;
use crate::store::Store;

/// The device a client presents.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// The client's IP address (IPv4 or IPv6).
    #[arg(long, value_name = "IP")]
    pub ip: IpAddr,
    /// The client's User-Agent.
    #[arg(long, value_name = "UA")]
    pub user_agent: String,
    /// The client's Accept-Language header.
    #[arg(long, value_name = "LANGS", default_value = "")]
    pub accept_language: String,
    /// The client's platform hint (Sec-CH-UA-Platform).
    #[arg(long, value_name = "PLATFORM", default_value = "")]
    pub platform: String,
}

impl DeviceArgs {
    fn device(&self) -> Device {
        Device {
            ip: self.ip,
            user_agent: self.user_agent.clone(),
            accept_language: self.accept_language.clone(),
            platform: self.platform.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Every live session and hijack record (or one user's live sessions).
    List {
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every field of one session.
    Show {
        /// The session id (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Open a session for a user: whoever holds its id acts as that user, so
    /// this needs an operator (role operator or admin) with a fresh second
    /// factor (--code or an open grant).
    Create {
        #[arg(long, value_name = "USER")]
        user: String,
        #[command(flatten)]
        device: DeviceArgs,
        /// web, api or cli.
        #[arg(long = "type", value_name = "TYPE", default_value = "web", value_parser = parse_type)]
        session_type: SessionType,
        /// A permission the session carries (repeatable).
        #[arg(long = "permission", value_name = "PERM")]
        permissions: Vec<String>,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Check a session as presented by a client: exit 0 valid, 1 invalid
    /// (unknown, expired, revoked, hijack attempt), 4 when the session store
    /// does not answer (nothing checked). A different device revokes it
    /// (hijack attempt).
    Validate {
        /// The session id (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        device: DeviceArgs,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one session.
    Revoke {
        /// The session id (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
    /// Revoke every session of a user.
    RevokeUser {
        user: String,
        #[command(flatten)]
        step_up: StepUp,
        #[arg(long)]
        json: bool,
    },
}

fn parse_type(s: &str) -> Result<SessionType, String> {
    s.parse()
}

/// What `list`, `show` and `create` print per session.
#[derive(Serialize)]
struct View<'a> {
    id: &'a str,
    user_id: &'a str,
    #[serde(rename = "type")]
    session_type: SessionType,
    state: &'static str,
    ip_address: String,
    user_agent: &'a str,
    fingerprint: &'a str,
    permissions: &'a [String],
    created_at: String,
    last_activity: String,
    expires_at: String,
    ttl_seconds: i64,
    hijack_attempt: Option<serde_json::Value>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn view(l: &Listed) -> View<'_> {
    let s = &l.session;
    View {
        id: &s.id,
        user_id: &s.user_id,
        session_type: s.session_type,
        state: if l.hijack.is_some() {
            "revoked_hijack"
        } else {
            "active"
        },
        ip_address: s.ip_address.to_string(),
        user_agent: &s.user_agent,
        fingerprint: s.fingerprint.as_str(),
        permissions: &s.permissions,
        created_at: rfc3339(s.created_at),
        last_activity: rfc3339(s.last_activity),
        expires_at: rfc3339(l.expires_at),
        ttl_seconds: ((l.expires_at - now_ms()) / 1000).max(0),
        hijack_attempt: l.hijack.as_ref().map(|a| {
            json!({
                "at": rfc3339(a.at),
                "ip_address": a.ip_address.to_string(),
                "user_agent": a.user_agent,
                "fingerprint": a.fingerprint.as_str(),
            })
        }),
    }
}

fn table(rows: &[Listed]) -> String {
    let now = now_ms();
    let mut out = format!(
        "{:<9} {:<16} {:<4} {:<16} {:<8} {:>7} {:>7} {:>7}  FLAGS",
        "ID", "USER", "TYPE", "IP", "DEVICE", "AGE", "IDLE", "TTL"
    );
    for l in rows {
        let s = &l.session;
        out.push_str(&format!(
            "\n{:<9} {:<16} {:<4} {:<16} {:<8} {:>7} {:>7} {:>7}  {}",
            Untrusted(short(&s.id)),
            Untrusted(&s.user_id),
            s.session_type.as_str(),
            s.ip_address.to_string(),
            Untrusted(s.fingerprint.short()),
            human((now - s.created_at) / 1000),
            human((now - s.last_activity) / 1000),
            human((l.expires_at - now) / 1000),
            flags(l)
        ));
    }
    out.push_str(&format!("\n{} sessions", rows.len()));
    out
}

/// Most ids named on an unreadable-records line.
const UNREADABLE_IDS: usize = 10;

/// `3 sessions are sealed under key 1a2b3c4d, which is not loaded: ab12cd34, ...`
fn unreadable_line(why: &Unreadable, ids: &[&str]) -> String {
    let mut named: Vec<&str> = ids
        .iter()
        .take(UNREADABLE_IDS)
        .map(|id| short(id))
        .collect();
    let more = ids.len().saturating_sub(UNREADABLE_IDS);
    let more = (more > 0).then(|| format!("and {more} more"));
    named.extend(more.as_deref());
    Untrusted(&format!("{}: {}", why.say(ids.len()), named.join(", "))).to_string()
}

/// One reason in `sessions list --json`: the reason's fields (`reason`,
/// `kid` or `error`), `count`, the short ids and the `message`.
fn unreadable_json(why: &Unreadable, ids: &[&str]) -> serde_json::Value {
    let mut v = json!(why);
    v["count"] = json!(ids.len());
    v["sessions"] = json!(ids.iter().map(|id| short(id)).collect::<Vec<_>>());
    v["message"] = json!(why.say(ids.len()));
    v
}

/// The FLAGS column: a hijack record, and a user id that looks like another.
fn flags(l: &Listed) -> String {
    let mut f = Vec::new();
    if let Some(a) = &l.hijack {
        f.push(format!("HIJACK from {} (revoked)", a.ip_address));
    }
    if looks_alike(&l.session.user_id) {
        f.push("LOOK-ALIKE user id".to_string());
    }
    f.join("; ")
}

fn detail(l: &Listed) -> String {
    let v = view(l);
    let mut lines = vec![
        format!("id             {}", Untrusted(v.id)),
        format!("user           {}", Untrusted(v.user_id)),
        format!("type           {}", v.session_type),
        format!("state          {}", v.state),
        format!("ip address     {}", v.ip_address),
        format!("user agent     {}", Untrusted(v.user_agent)),
        format!("fingerprint    {}", Untrusted(v.fingerprint)),
        format!("permissions    {}", Untrusted(&v.permissions.join(", "))),
        format!("created        {}", v.created_at),
        format!("last activity  {}", v.last_activity),
        format!(
            "expires        {} (in {})",
            v.expires_at,
            human(v.ttl_seconds)
        ),
    ];
    if looks_alike(v.user_id) {
        lines.insert(2, format!("LOOK-ALIKE     {}", lookalike_note(v.user_id)));
    }
    if let Some(a) = &l.hijack {
        lines.push(format!(
            "hijack attempt {} from {} ({}), device {}",
            rfc3339(a.at),
            a.ip_address,
            Untrusted(&a.user_agent),
            Untrusted(a.fingerprint.short())
        ));
    }
    lines.join("\n")
}

/// What the detail says of a user id that looks like another: its code
/// points and the ASCII it passes for.
fn lookalike_note(user: &str) -> String {
    let sk = skeleton(user);
    format!(
        "{}{}",
        code_points(user),
        if sk.is_ascii() {
            format!("; reads as {}", Untrusted(&sk))
        } else {
            String::new()
        }
    )
}

fn out(text: &str) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{text}")
        .map_err(|e| CliError::Failure(anyhow::anyhow!("cannot write the output: {e}")))
}

fn out_json<T: Serialize>(v: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Failure(e.into()))?;
    out(&text)
}

fn sess_err(e: SessionError) -> CliError {
    match e {
        SessionError::Input(m) => CliError::Usage(m),
        e @ (SessionError::Unavailable { .. } | SessionError::Auth { .. }) => {
            CliError::Unavailable(e.to_string())
        }
        other => CliError::Failure(anyhow::anyhow!("{other}")),
    }
}

impl SessionsCommand {
    fn json(&self) -> bool {
        match self {
            SessionsCommand::List { json, .. }
            | SessionsCommand::Show { json, .. }
            | SessionsCommand::Create { json, .. }
            | SessionsCommand::Validate { json, .. }
            | SessionsCommand::Revoke { json, .. }
            | SessionsCommand::RevokeUser { json, .. } => *json,
        }
    }
}

/// A whole session id or a prefix of one (see [`Sessions::resolve`]).
fn check_id(id: &str) -> Result<(), CliError> {
    let base64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if is_valid_id(id) || (id.len() >= MIN_PREFIX && id.len() < 43 && id.chars().all(base64)) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{:?} is not a session id (43 characters of URL-safe base64) nor a prefix \
             of one (at least {MIN_PREFIX} of those characters)",
            Untrusted(id)
        )))
    }
}

/// The one live session `id` names, as [`check_id`] allowed it; a prefix
/// that starts several is refused with the matches (exit 2).
async fn resolve(sessions: &Sessions, id: &str) -> Result<String, CliError> {
    match sessions.resolve(id).await.map_err(sess_err)? {
        Resolved::One(id) => Ok(id),
        // A whole id goes on, for the command to say what became of it.
        Resolved::None if is_valid_id(id) => Ok(id.to_string()),
        Resolved::None => Err(CliError::Failure(anyhow::anyhow!(
            "no live session id starts with {id}"
        ))),
        Resolved::Many(ids) => Err(CliError::Usage(format!(
            "{id} starts {} session ids: {}; give more characters",
            ids.len(),
            ids.join(", ")
        ))),
    }
}

/// The session store `config` and `redis_url` select.
pub fn open_store(
    config: &Config,
    redis_url: Option<&str>,
) -> Result<Arc<dyn SessionStore>, CliError> {
    let keys = Arc::new(load_keyring(config, true)?);
    Ok(match redis_url {
        Some(url) => {
            let tls = RedisTls::from_config(config).map_err(CliError::Usage)?;
            Arc::new(RedisStore::connect_with_tls(url, &tls, keys).map_err(sess_err)?)
        }
        None => {
            let store = Store::open(&config.paths.data_dir)?;
            Arc::new(LocalStore::open(store, keys).map_err(sess_err)?)
        }
    })
}

/// Who acts: the operator authorised for `action` (role and fresh second
/// factor). A store without operators allows revocations (taking access
/// away) by anyone, never the creation of a session.
fn actor(config: &Config, action: &str, step_up: &StepUp) -> Result<String, CliError> {
    let auth = open_auth(config)?;
    let has = auth
        .has_operators()
        .map_err(|e| CliError::Failure(anyhow::anyhow!("{e}")))?;
    if !has {
        if action == "sessions.create" {
            return Err(CliError::Refused(
                "sessions.create needs an operator with the role operator or admin, and there \
                 are none yet: add the first (an admin) with `windflow operators add NAME`"
                    .into(),
            ));
        }
        return Ok(explicit_operator(config).unwrap_or_else(|| "cli".into()));
    }
    common::authorize(config, &auth, action, step_up.code.as_deref())
}

/// Runs a sessions command; with `--json`, an error is also printed on
/// stdout as a JSON object (`{"error": {"kind", "exit_code", "message"}}`).
pub fn run(
    config: &Config,
    redis_url: Option<&str>,
    cmd: SessionsCommand,
) -> Result<ExitCode, CliError> {
    let json = cmd.json();
    let res = run_cmd(config, redis_url, cmd);
    if json && let Err(e) = &res {
        out_json(&e.to_json())?;
    }
    res
}

fn run_cmd(
    config: &Config,
    redis_url: Option<&str>,
    cmd: SessionsCommand,
) -> Result<ExitCode, CliError> {
    // Input errors come before any connection.
    match &cmd {
        SessionsCommand::Show { id, .. }
        | SessionsCommand::Revoke { id, .. }
        | SessionsCommand::Validate { id, .. } => check_id(id)?,
        _ => {}
    }
    let rt = crate::cli::common::runtime()?;
    // The Redis connection manager belongs to the runtime it is made in.
    let _in_rt = rt.enter();
    let store = open_store(config, redis_url)?;
    let audit = crate::cli::audit::cli_audit(config)?;
    let ascii = crate::sessions::settings::ascii_user_ids(config).map_err(CliError::Usage)?;
    let max = crate::sessions::settings::max_lifetime(config).map_err(CliError::Usage)?;
    let sessions = Sessions::new(store, audit)
        .with_ascii_user_ids(ascii)
        .with_max_lifetime(max);
    let res = rt.block_on(run_async(config, &sessions, cmd));
    // Records that did not open are said, whatever the command's outcome.
    let refused = sessions.report_refused();
    if !refused.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "windflow: {}",
            crate::sessions::service::refused_text(&refused)
        );
    }
    res
}

async fn run_async(
    config: &Config,
    sessions: &Sessions,
    cmd: SessionsCommand,
) -> Result<ExitCode, CliError> {
    match cmd {
        SessionsCommand::List { user, json } => {
            let found = sessions.read(user.as_deref()).await.map_err(sess_err)?;
            let mut rows = found.listed;
            rows.sort_by(|a, b| {
                b.risk()
                    .cmp(&a.risk())
                    .then(a.session.user_id.cmp(&b.session.user_id))
                    .then(b.session.last_activity.cmp(&a.session.last_activity))
            });
            let unreadable = unreadable_groups(&found.unopened);
            if json {
                out_json(&json!({
                    "sessions": rows.iter().map(view).collect::<Vec<_>>(),
                    "unreadable": unreadable
                        .iter()
                        .map(|(why, ids)| unreadable_json(why, ids))
                        .collect::<Vec<_>>(),
                }))?;
            } else {
                out(&table(&rows))?;
                for (why, ids) in &unreadable {
                    out(&unreadable_line(why, ids))?;
                }
            }
        }
        SessionsCommand::Show { id, json } => {
            let id = resolve(sessions, &id).await?;
            let found = sessions.find(&id).await.map_err(sess_err)?;
            let Some(l) = found.listed.into_iter().next() else {
                return Err(CliError::Failure(anyhow::anyhow!(
                    "{}",
                    match found.unopened.first() {
                        Some(u) => unreadable_line(&u.why, &[&u.id]),
                        None => format!(
                            "no session {} (expired, revoked, or never created)",
                            short(&id)
                        ),
                    }
                )));
            };
            if json {
                out_json(&view(&l))?;
            } else {
                out(&detail(&l))?;
            }
        }
        SessionsCommand::Create {
            user,
            device,
            session_type,
            permissions,
            step_up,
            json,
        } => {
            let by = actor(config, "sessions.create", &step_up)?;
            let l = sessions
                .clone()
                .with_actor(&by)
                .create(&user, session_type, &device.device(), permissions)
                .await
                .map_err(sess_err)?;
            if json {
                out_json(&view(&l))?;
            } else {
                out(&format!(
                    "{}\nsession for {} expires {}",
                    Untrusted(&l.session.id),
                    Untrusted(&l.session.user_id),
                    rfc3339(l.expires_at)
                ))?;
            }
        }
        SessionsCommand::Validate { id, device, json } => {
            let id = resolve(sessions, &id).await?;
            let v = sessions
                .validate(&id, &device.device())
                .await
                .map_err(sess_err)?;
            let (valid, reason, body) = match &v {
                Validation::Valid(l) => (true, None, Some(view(l))),
                Validation::Invalid(r) => (false, Some(*r), None),
                Validation::Hijack { .. } => (false, Some(Invalid::Hijack), None),
            };
            if json {
                out_json(&json!({
                    "valid": valid,
                    "reason": reason.map(Invalid::as_str),
                    "session": body,
                }))?;
            } else if valid {
                out("valid")?;
            } else if matches!(v, Validation::Hijack { .. }) {
                out(
                    "invalid (hijack_attempt): a different device presented it; the session is revoked now",
                )?;
            } else if let Some(r) = reason {
                out(&format!("invalid ({}): {}", r.as_str(), r.explain()))?;
            }
            return Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        SessionsCommand::Revoke { id, step_up, json } => {
            let by = actor(config, "sessions.revoke", &step_up)?;
            let id = resolve(sessions, &id).await?;
            let removed = sessions.revoke(&id, &by).await.map_err(sess_err)?;
            if json {
                out_json(&json!({
                    "id": id,
                    "revoked": removed.is_some(),
                    "user_id": removed.as_ref().map(|s| s.user_id.clone()),
                }))?;
            } else if let Some(s) = &removed {
                out(&format!(
                    "revoked session {} of {}",
                    short(&id),
                    Untrusted(&s.user_id)
                ))?;
            }
            if removed.is_none() {
                if !json {
                    let _ = writeln!(
                        std::io::stderr(),
                        "windflow: no live session {} (expired, revoked, or never created)",
                        short(&id)
                    );
                }
                return Ok(ExitCode::from(1));
            }
        }
        SessionsCommand::RevokeUser {
            user,
            step_up,
            json,
        } => {
            let by = actor(config, "sessions.revoke_user", &step_up)?;
            let ids = sessions.revoke_user(&user, &by).await.map_err(sess_err)?;
            // Other users whose ids look like this one keep their sessions: say so.
            let sk = skeleton(&user);
            let mut alike: Vec<String> = sessions
                .list(None)
                .await
                .map_err(sess_err)?
                .into_iter()
                .map(|l| l.session.user_id)
                .filter(|u| *u != user && skeleton(u) == sk)
                .collect();
            alike.sort();
            alike.dedup();
            if json {
                out_json(&json!({
                    "user_id": user,
                    "revoked": ids.len(),
                    "sessions": ids.iter().map(|i| short(i)).collect::<Vec<_>>(),
                    "look_alike_users": alike,
                }))?;
            } else {
                out(&format!(
                    "revoked {} sessions of {}",
                    ids.len(),
                    Untrusted(&user)
                ))?;
                for u in &alike {
                    out(&format!(
                        "not revoked: {} looks like {} ({}); `sessions revoke-user` with that exact id revokes it",
                        Untrusted(u),
                        Untrusted(&user),
                        code_points(u)
                    ))?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<SessionsCommand> {
    const NAME: &'static str = "sessions";
    const ABOUT: &'static str = "User sessions: list, show, create, validate, revoke, revoke-user";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::sessions(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, ctx.redis_url, self.command)
    }
}
