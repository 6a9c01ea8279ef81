//! `windflow audit ...`: record, tail, search and verify security events,
//! and test alert channels. Every command takes `--json`.
//!
//! `audit verify` exits 0 when every record checks; 1 when records were
//! edited, removed or reordered, a month's log is missing or the log
//! records a gap (each one is named, file and line); 2 on bad input or when
//! records are sealed under a key that is not loaded (and nothing is
//! tampered).
//! `audit tail` and `audit search` read by the rule of
//! [`crate::audit::query`]; they exit 4 when Elasticsearch did not answer
//! and the local log did (one line on stderr says so).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::audit::alert::{self, Alert};
use crate::audit::elastic::{EsClient, EsSink};
use crate::audit::local::LocalLog;
use crate::audit::query::{Follow, Reader, Source};
use crate::audit::settings::AuditSettings;
use crate::audit::spool::Spool;
use crate::audit::tail::{TailFilter, parse_since};
use crate::audit::{AuditSink, Origin, SecurityEvent, Severity};
use crate::cli::CliError;
use crate::config::Config;
use crate::crypto::{KEY_FILE_NAME, Keyring};
use crate::display::Untrusted;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Record a security event as the operator given with --operator (a
    /// script uses an identity of the role ingest, which may do nothing else).
    Log(LogArgs),
    /// Print recent events; --follow keeps printing new ones.
    Tail(TailArgs),
    /// Events whose type, user, address, session or details contain QUERY.
    Search(SearchArgs),
    /// One event in full, every field (read like tail and search).
    Show {
        /// The event's id (`audit tail --json` and `audit log` print it).
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Check the HMAC chain of the local log; names every bad record and missing month.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Alert channels.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test alert to CHANNEL (webhook, slack, email, alertmanager or a configured name).
    Test {
        channel: String,
        #[arg(long)]
        json: bool,
    },
    /// The configured channels and rules.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: String,
    #[arg(long)]
    pub user: Option<String>,
    /// Overrides the severity of the event types table.
    #[arg(long, value_parser = parse_severity)]
    pub severity: Option<Severity>,
    /// A JSON object.
    #[arg(long)]
    pub details: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FilterArgs {
    /// At least this severity.
    #[arg(long, value_parser = parse_severity)]
    pub severity: Option<Severity>,
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    /// Only the event types carrying this framework tag (pci_dss_10.2.4, tsc_CC6.1, ...).
    #[arg(long)]
    pub tag: Option<String>,
    /// Only events newer than this (30s, 15m, 2h, 1d).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Keep printing new events.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Events printed before following (default 20).
    #[arg(long, short = 'n', default_value_t = 20)]
    pub lines: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    pub query: String,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many events (newest).
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    serde_json::from_value(json!(s.to_lowercase()))
        .map_err(|_| format!("{s:?}: use low, medium, high or critical"))
}

impl FilterArgs {
    fn filter(&self, text: Option<String>) -> TailFilter {
        TailFilter {
            severity: self.severity,
            event_type: self.event_type.clone(),
            user: self.user.clone(),
            window: self.since,
            text,
            tag: self.tag.clone(),
            id: None,
        }
    }
}

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::Failure(anyhow::anyhow!("{e}"))
}

fn out(text: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{text}").map_err(|e| fail(format!("cannot write the output: {e}")))?;
    o.flush()
        .map_err(|e| fail(format!("cannot write the output: {e}")))
}

fn settings(config: &Config) -> Result<AuditSettings, CliError> {
    AuditSettings::from_config(config).map_err(CliError::Usage)
}

/// The audit handle of every command: the local log of the data dir (made
/// ready for owed alerts, see [`crate::audit::owed`], before its first
/// event) and, when configured, the Elasticsearch spool, which the agent, a
/// console or the end of the command ships.
pub fn cli_audit(config: &Config) -> Result<crate::audit::Audit, CliError> {
    let data_dir = &config.paths.data_dir;
    let store = crate::store::Store::open(data_dir)?;
    crate::audit::owed::prepare(&store, &data_dir.join("audit")).map_err(fail)?;
    let origin = Origin::detect(concat!("windflow-cli/", env!("CARGO_PKG_VERSION")));
    // The key that chains the log, loaded (or made, for a new data dir) up
    // front: a key problem is bad input (exit 2), named before anything runs.
    let keyring = std::sync::Arc::new(crate::cli::auth::load_keyring(config, true)?);
    let local: std::sync::Arc<dyn AuditSink> =
        std::sync::Arc::new(LocalLog::with_keyring(data_dir.join("audit"), keyring));
    let sink: std::sync::Arc<dyn AuditSink> = match &settings(config)?.elasticsearch {
        Some(es) => {
            let client = EsClient::new(es).map_err(|e| CliError::Usage(e.to_string()))?;
            let spool = Spool::open(&spool_dir(data_dir)).map_err(fail)?;
            // The spool alone: shipping is done by whoever ships it.
            let (es, _shipper) = EsSink::new(client, spool, None);
            std::sync::Arc::new(crate::audit::Fanout(vec![local, std::sync::Arc::new(es)]))
        }
        None => local,
    };
    Ok(crate::audit::Audit::new(sink).with_origin(origin))
}

pub fn spool_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("audit").join("spool")
}

/// Ships the Elasticsearch spool of `data_dir` until it is empty, the
/// credentials are refused, or `within` is over; what is left stays spooled.
pub fn ship_spool(
    es: &crate::audit::settings::EsSettings,
    data_dir: &std::path::Path,
    within: Duration,
) -> Result<crate::audit::elastic::ShipStats, CliError> {
    let client = EsClient::new(es).map_err(|e| CliError::Usage(e.to_string()))?;
    let spool = Spool::open(&spool_dir(data_dir)).map_err(fail)?;
    let (sink, shipper) = EsSink::new(client, spool, None);
    sink.flush();
    let rt = runtime()?;
    Ok(rt.block_on(async {
        let task = tokio::spawn(shipper);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut st = sink.stats();
            st.pending = sink.pending();
            // Refused credentials will not be accepted by waiting, and a
            // server that failed twice is down: the spool keeps the events
            // for the agent rather than every command waiting out its time.
            if st.pending == 0
                || st.auth_failed
                || st.failures >= 2
                || tokio::time::Instant::now() > deadline
            {
                task.abort();
                return st;
            }
            sink.flush();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }))
}

/// How long a command waits for the alerts it owes before it leaves them
/// owed to the agent or a console.
const COMMAND_DELIVERY: Duration = Duration::from_secs(3);

/// After a command: delivers the alerts owed in the data dir, unless the
/// agent or a console is the dispatcher (they deliver them), bounded by a
/// short time. What stays owed is said on stderr, never on stdout.
pub fn deliver_owed(config: &Config) {
    let data_dir = &config.paths.data_dir;
    if !data_dir.join(crate::store::FILE_NAME).exists() {
        return;
    }
    let Ok(s) = settings(config) else { return };
    // Errors may quote what a server answered: through the display boundary.
    let note = |text: String| {
        let _ = writeln!(
            std::io::stderr(),
            "windflow: {}",
            crate::display::UntrustedLines(&text)
        );
    };
    // Events the command spooled for Elasticsearch, unless the agent ships them.
    if let Some(es) = &s.elasticsearch
        && !crate::agent::running(data_dir)
        && Spool::open(&spool_dir(data_dir))
            .and_then(|sp| sp.pending())
            .is_ok_and(|n| n > 0)
    {
        match ship_spool(es, data_dir, COMMAND_DELIVERY) {
            Ok(st) if st.pending > 0 => note(format!(
                "{} event(s) kept in the Elasticsearch spool{}; a running console or \
                 `windflow agent` ships them",
                st.pending,
                st.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
            )),
            Ok(_) => {}
            Err(e) => note(format!("events not shipped to Elasticsearch: {e}")),
        }
    }
    if s.channels.is_empty() {
        return;
    }
    let store = match crate::store::Store::open(data_dir) {
        Ok(s) => s,
        Err(e) => return note(format!("alerts not delivered: {e}")),
    };
    let dispatcher = match crate::audit::owed::Dispatcher::try_new(store, data_dir, &s) {
        Ok(Some(d)) => d,
        // The agent or a console holds the lock and delivers.
        Ok(None) => return,
        Err(e) => return note(format!("alerts not delivered: {e}")),
    };
    let Ok(rt) = runtime() else { return };
    match rt.block_on(dispatcher.pass(COMMAND_DELIVERY)) {
        Ok(p) if p.owed > 0 => {
            let errors: Vec<String> = dispatcher
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .channels
                .iter()
                .filter_map(|c| c.last_error.as_ref().map(|e| format!("{}: {e}", c.name)))
                .collect();
            note(format!(
                "{} alert(s) still owed{}; a running console or `windflow agent` delivers them",
                p.owed,
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", errors.join("; "))
                }
            ));
        }
        Ok(_) => {}
        Err(e) => note(format!("alerts not delivered: {e}")),
    }
}

use crate::cli::common::runtime;

pub fn run(config: &Config, command: AuditCommand) -> Result<ExitCode, CliError> {
    match command {
        AuditCommand::Log(a) => log(config, a),
        AuditCommand::Tail(a) => tail(config, a),
        AuditCommand::Search(a) => search(config, a),
        AuditCommand::Show { id, json } => show(config, &id, json),
        AuditCommand::Verify { json } => verify(config, json),
        AuditCommand::Alerts { command } => alerts(config, command),
    }
}

/// A one-line rendering of an event. Every field another producer may have
/// written goes through the display boundary: one line, no raw controls.
pub fn line(ev: &SecurityEvent) -> String {
    format!(
        "{}  {:<8} {:<26} {:<12} {}",
        Untrusted(&ev.timestamp),
        ev.severity.as_str(),
        Untrusted(&ev.event_type),
        Untrusted(ev.user_id.as_deref().unwrap_or("-")),
        Untrusted(&ev.details.to_string())
    )
}

fn log(config: &Config, a: LogArgs) -> Result<ExitCode, CliError> {
    let details = match &a.details {
        Some(d) => {
            let v: serde_json::Value = serde_json::from_str(d)
                .map_err(|e| CliError::Usage(format!("--details: not valid JSON: {e}")))?;
            if !v.is_object() {
                return Err(CliError::Usage(
                    "--details: must be a JSON object, like '{\"path\":\"db/prod\"}'".into(),
                ));
            }
            v
        }
        None => json!({}),
    };
    if a.event_type.trim().is_empty() || a.event_type.contains(char::is_whitespace) {
        return Err(CliError::Usage(format!(
            "--type {:?}: an event type is one word, like secret_read",
            a.event_type
        )));
    }
    let s = settings(config)?;
    let actor = ingest_actor(config)?;
    let mut details = details;
    // Who recorded it, whatever the caller put under that name.
    details["actor"] = json!(actor);
    let mut ev = SecurityEvent::new(&a.event_type, a.user.as_deref(), details).with_origin(
        &Origin::detect(concat!("windflow-cli/", env!("CARGO_PKG_VERSION"))),
    );
    // Told apart from the events windflow records itself.
    ev.tags.push("ingested".into());
    if let Some(sev) = a.severity {
        ev.severity = sev;
    }
    cli_audit(config)?.record(&ev).map_err(fail)?;
    let shipped = match &s.elasticsearch {
        // Ship now if Elasticsearch answers within a few seconds; otherwise
        // the event stays in the spool for the agent or the next run.
        Some(es) => Some(ship_spool(
            es,
            &config.paths.data_dir,
            Duration::from_secs(5),
        )?),
        None => None,
    };
    if a.json {
        let mut v = serde_json::to_value(&ev).map_err(fail)?;
        if let Some(st) = &shipped {
            v["elasticsearch"] = json!({
                "sent": st.pending == 0,
                "pending": st.pending,
                "auth_failed": st.auth_failed,
                "last_error": st.last_error,
            });
        }
        out(&serde_json::to_string_pretty(&v).map_err(fail)?)?;
    } else {
        out(&format!("recorded {} ({})", ev.id, ev.severity))?;
        if let Some(st) = shipped
            && st.pending > 0
        {
            out(&format!(
                "Elasticsearch: kept in the spool ({} waiting), sent when {}: {}",
                st.pending,
                if st.auth_failed {
                    "it accepts the credentials"
                } else {
                    "it answers"
                },
                Untrusted(&st.last_error.unwrap_or_else(|| "no answer yet".into()))
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The operator recording an event with `audit log` (`--operator` or
/// `WINDFLOW_OPERATOR`), authorised for `audit.log`: any role, the ingest
/// role of scripts included; no second factor.
fn ingest_actor(config: &Config) -> Result<String, CliError> {
    let auth = crate::cli::auth::open_auth(config)?;
    let Some(actor) = crate::cli::common::explicit_operator(config) else {
        return Err(CliError::Refused(
            "audit log needs an operator: pass --operator NAME (or set WINDFLOW_OPERATOR); \
             for a script, an admin adds an identity that may only record events with \
             `windflow operators add NAME --role ingest`"
                .into(),
        ));
    };
    auth.authorize(&actor, "audit.log", None, crate::cli::common::now())
        .map_err(crate::cli::common::auth_err)?;
    Ok(actor)
}

/// The reader of the data dir's events, and of Elasticsearch when
/// `ELASTICSEARCH_URL` is set.
pub(crate) fn reader(config: &Config) -> Result<Reader, CliError> {
    let es = settings(config)?
        .elasticsearch
        .as_ref()
        .map(EsClient::new)
        .transpose()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(Reader::new(&config.paths.data_dir, es))
}

/// One line on stderr when the local log answered for Elasticsearch.
pub(crate) fn say_source(source: &Source) {
    if let Some(n) = source.notice() {
        let _ = writeln!(std::io::stderr(), "windflow: {}", Untrusted(&n));
    }
}

/// Exit 0 when the source meant to answer did; 4 (backend unavailable)
/// when Elasticsearch did not and the local log answered instead.
pub(crate) fn exit_for(source: &Source) -> ExitCode {
    match source {
        Source::Fallback { .. } => ExitCode::from(CliError::Unavailable(String::new()).code()),
        _ => ExitCode::SUCCESS,
    }
}

fn print_events(events: &[SecurityEvent], json: bool) -> Result<(), CliError> {
    for ev in events {
        if json {
            out(&serde_json::to_string(ev).map_err(fail)?)?;
        } else {
            out(&line(ev))?;
        }
    }
    Ok(())
}

/// Ids remembered by `tail --follow` against repeats.
const FOLLOW_SEEN: usize = 100_000;

fn tail(config: &Config, a: TailArgs) -> Result<ExitCode, CliError> {
    let reader = reader(config)?;
    let filter = a.filter.filter(None);
    runtime()?.block_on(async {
        let (answer, mut follow) = Follow::start(&reader, &filter, a.lines, FOLLOW_SEEN)
            .await
            .map_err(fail)?;
        say_source(&answer.source);
        print_events(&answer.events, a.json)?;
        if !a.follow {
            return Ok(exit_for(&answer.source));
        }
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let p = follow.poll(u64::MAX).await.map_err(fail)?;
            if p.lost {
                let _ = writeln!(
                    std::io::stderr(),
                    "windflow: Elasticsearch holds fewer events than before (restarted empty, \
                     or indices deleted)"
                );
            }
            if p.switched {
                match follow.source() {
                    Source::Fallback { .. } => say_source(follow.source()),
                    _ => {
                        let _ = writeln!(
                            std::io::stderr(),
                            "windflow: Elasticsearch answers again; following it, with the \
                             local events it has not indexed yet"
                        );
                    }
                }
            }
            print_events(&p.events, a.json)?;
        }
    })
}

fn search(config: &Config, a: SearchArgs) -> Result<ExitCode, CliError> {
    if a.query.trim().is_empty() {
        return Err(CliError::Usage("QUERY is empty".into()));
    }
    let reader = reader(config)?;
    let filter = a.filter.filter(Some(a.query.clone()));
    let answer = runtime()?
        .block_on(reader.read(&filter, a.limit))
        .map_err(fail)?;
    say_source(&answer.source);
    let evs = &answer.events;
    if a.json {
        out(&serde_json::to_string_pretty(evs).map_err(fail)?)?;
    } else {
        print_events(evs, false)?;
        out(&format!("{} events", evs.len()))?;
    }
    Ok(exit_for(&answer.source))
}

/// `audit show ID`: the event read by the rule of [`crate::audit::query`];
/// exit 2 for an id no source holds, 4 when Elasticsearch did not answer
/// (and the local log did, with or without the event).
fn show(config: &Config, id: &str, json: bool) -> Result<ExitCode, CliError> {
    let reader = reader(config)?;
    let filter = TailFilter {
        id: Some(id.to_owned()),
        ..TailFilter::default()
    };
    let answer = runtime()?.block_on(reader.read(&filter, 1)).map_err(fail)?;
    say_source(&answer.source);
    let Some(ev) = answer.events.first() else {
        let what = format!("no event with id {}", Untrusted(id));
        return Err(match answer.source {
            Source::Fallback { .. } => CliError::Unavailable(format!(
                "{what} in the local log, and Elasticsearch did not answer"
            )),
            _ => CliError::Usage(format!("{what} ({})", answer.source.label())),
        });
    };
    if json {
        out(&serde_json::to_string_pretty(ev).map_err(fail)?)?;
    } else {
        out(&detail(ev))?;
    }
    Ok(exit_for(&answer.source))
}

/// Width of the field names of [`detail`] (a space always follows).
const LABEL: usize = 11;

/// Every field of `ev`, one per line, through the display boundary. A value
/// with line breaks (a user agent, a note in the details) is shown as lines,
/// each escaped on its own (tabs too); its later lines are indented under a
/// bar, so no value can start a line of its own and pass for a field.
pub fn detail(ev: &SecurityEvent) -> String {
    let mut lines = Vec::new();
    let mut field = |label: &str, value: &str| {
        let mut parts = value.split('\n');
        let first = parts.next().unwrap_or_default();
        lines.push(
            format!("{label:<LABEL$} {}", Untrusted(first))
                .trim_end()
                .to_owned(),
        );
        for more in parts {
            lines.push(format!("{:LABEL$} | {}", "", Untrusted(more)));
        }
    };
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    field("id", &ev.id);
    field("time", &ev.timestamp);
    field("type", &ev.event_type);
    field("severity", ev.severity.as_str());
    field("user", &or_dash(&ev.user_id));
    field("ip", &or_dash(&ev.ip_address));
    field("user agent", &or_dash(&ev.user_agent));
    field("session", &or_dash(&ev.session_id));
    field("tags", &ev.tags.join(", "));
    match ev.details.as_object() {
        Some(map) if !map.is_empty() => {
            field("details", "");
            for (key, value) in map {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    v => serde_json::to_string_pretty(v).unwrap_or_default(),
                };
                field(&format!("  {}", shown_key(key)), &text);
            }
        }
        _ => field("details", "-"),
    }
    lines.join("\n")
}

/// A detail key on its line: escaped, and quoted when it is empty or starts
/// or ends with a space or a bar, so it reads as neither a continuation nor
/// another key.
fn shown_key(key: &str) -> String {
    let shown = Untrusted(key).to_string();
    let plain = !key.is_empty() && !key.starts_with([' ', '|']) && !key.ends_with(' ');
    if plain { shown } else { format!("\"{shown}\"") }
}

fn verify(config: &Config, json: bool) -> Result<ExitCode, CliError> {
    let data_dir = &config.paths.data_dir;
    let keyring = Keyring::from_env_or_file(&data_dir.join(KEY_FILE_NAME), false)
        .map_err(|e| CliError::Usage(format!("cannot load the master key: {e}")))?;
    let v = crate::audit::local::verify_all(&data_dir.join("audit"), &keyring);
    // Chained on after a recorded loss is not intact either.
    let gaps = gaps(&v.files);
    let (unchecked, tampered): (Vec<_>, Vec<_>) =
        v.problems.iter().partition(|t| t.key_not_loaded.is_some());
    let total: u64 = v.files.iter().map(|f| f.records).sum();
    let ok = v.problems.is_empty() && gaps.is_empty();
    if json {
        let mut doc = json!({ "ok": ok, "records": total, "files": v.files });
        if !tampered.is_empty() {
            doc["first_bad"] = json!(tampered[0]);
            doc["problems"] = json!(tampered);
        }
        if !gaps.is_empty() {
            doc["gaps"] = json!(gaps);
        }
        if !unchecked.is_empty() {
            doc["cannot_verify"] = json!(unchecked[0]);
            doc["not_verified"] = json!(unchecked);
        }
        if !v.warnings.is_empty() {
            doc["warnings"] = json!(v.warnings);
        }
        out(&serde_json::to_string_pretty(&doc).map_err(fail)?)?;
    } else {
        // Event ids and reasons come from the files: cleaned for the terminal.
        for t in &tampered {
            out(&format!("TAMPERED: {}", Untrusted(&t.to_string())))?;
        }
        for g in &gaps {
            out(&format!(
                "TAMPERED: {}:{}: records were lost before this point: {}",
                g["file"].as_str().unwrap_or(""),
                g["line"],
                Untrusted(g["what"].as_str().unwrap_or(""))
            ))?;
        }
        for w in &v.warnings {
            out(&format!("note: {}", Untrusted(w)))?;
        }
        // Not checkable is not tampered: say which key is missing.
        for t in &unchecked {
            out(&format!(
                "cannot verify: key {} is not loaded ({}:{}); add it to \
                 WINDFLOW_MASTER_KEY or the key file and run again",
                t.key_not_loaded.as_deref().unwrap_or(""),
                t.file.display(),
                t.line
            ))?;
        }
        if ok {
            for f in &v.files {
                out(&format!("ok  {}  {} records", f.file.display(), f.records))?;
            }
            out(&format!(
                "audit log intact: {total} records in {} files",
                v.files.len()
            ))?;
        } else if !tampered.is_empty() || !gaps.is_empty() {
            out(&format!(
                "audit log NOT intact: {} problems",
                tampered.len() + gaps.len()
            ))?;
        }
    }
    Ok(ExitCode::from(
        if !tampered.is_empty() || !gaps.is_empty() {
            1
        } else if unchecked.is_empty() {
            0
        } else {
            2
        },
    ))
}

/// The `audit_gap` records of verified files: where the log says it lost
/// records, and what.
fn gaps(files: &[crate::audit::chain::FileReport]) -> Vec<serde_json::Value> {
    let needle = format!("\"event_type\":\"{}\"", crate::audit::local::GAP_EVENT);
    let mut out = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f.file) else {
            continue;
        };
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if memchr::memmem::find(line, needle.as_bytes()).is_none() {
                continue;
            }
            if let Ok(ev) = serde_json::from_slice::<SecurityEvent>(line) {
                out.push(json!({
                    "file": f.file.display().to_string(),
                    "line": i + 1,
                    "event_id": ev.id,
                    "what": ev.details["what"],
                }));
            }
        }
    }
    out
}

fn alerts(config: &Config, command: AlertsCommand) -> Result<ExitCode, CliError> {
    let s = settings(config)?;
    match command {
        AlertsCommand::List { json } => {
            if json {
                let chans: Vec<_> = s
                    .channels
                    .iter()
                    .map(|c| json!({"name": c.name, "kind": c.kind, "target": c.shown_url()}))
                    .collect();
                let rules: Vec<_> = s
                    .rules
                    .iter()
                    .map(|r| json!({"types": r.types, "min_severity": r.min_severity, "channels": r.channels}))
                    .collect();
                out(
                    &serde_json::to_string_pretty(&json!({"channels": chans, "rules": rules}))
                        .map_err(fail)?,
                )?;
            } else {
                if s.channels.is_empty() {
                    out(
                        "no alert channels (set WINDFLOW_ALERT_WEBHOOK_URL, _SLACK_URL, _SMTP_URL or _ALERTMANAGER_URL, or [[audit.channels]] in windflow.toml)",
                    )?;
                }
                for c in &s.channels {
                    out(&format!(
                        "{:<12} {:<8} {}",
                        c.name,
                        c.kind.as_str(),
                        c.shown_url()
                    ))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AlertsCommand::Test { channel, json } => {
            let Some(spec) = s
                .channels
                .iter()
                .find(|c| c.name == channel || c.kind.as_str() == channel)
            else {
                return Err(CliError::Usage(format!(
                    "no alert channel {channel:?} (configured: {})",
                    if s.channels.is_empty() {
                        "none".to_string()
                    } else {
                        s.channels
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )));
            };
            let ev = SecurityEvent::new(
                "alert_test",
                Some(&config.operator),
                json!({"message": "test alert from windflow audit alerts test"}),
            );
            let alert = Alert::new(ev, 1);
            let ch = alert::Channel::new(spec.clone()).map_err(CliError::Usage)?;
            let res = runtime()?.block_on(ch.send(&alert));
            match res {
                Ok(()) => {
                    if json {
                        out(&serde_json::to_string_pretty(
                            &json!({"channel": spec.name, "sent": true}),
                        )
                        .map_err(fail)?)?;
                    } else {
                        out(&format!(
                            "sent a test alert to {} ({})",
                            spec.name,
                            spec.shown_url()
                        ))?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    if json {
                        out(&serde_json::to_string_pretty(
                            &json!({"channel": spec.name, "sent": false, "error": e}),
                        )
                        .map_err(fail)?)?;
                        Ok(ExitCode::from(1))
                    } else {
                        Err(fail(format!("alert channel {}: {e}", spec.name)))
                    }
                }
            }
        }
    }
}

/// A future that ships the Elasticsearch spool.
pub type Shipper = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Starts the shipper once the console's event channel exists.
pub type StartShipper = Box<dyn FnOnce(crate::service::EventTx) -> Shipper + Send>;

/// The console's audit handle: the local log, plus Elasticsearch (through its
/// spool) when `ELASTICSEARCH_URL` is set; the shipper must then be started.
pub fn console_audit(
    settings: &AuditSettings,
    data_dir: &std::path::Path,
) -> Result<(crate::audit::Audit, Option<StartShipper>), CliError> {
    let store = crate::store::Store::open(data_dir)?;
    crate::audit::owed::prepare(&store, &data_dir.join("audit")).map_err(fail)?;
    let local: std::sync::Arc<dyn AuditSink> = std::sync::Arc::new(LocalLog::new(data_dir));
    let origin = Origin::detect(concat!("windflow-console/", env!("CARGO_PKG_VERSION")));
    let Some(es) = &settings.elasticsearch else {
        return Ok((crate::audit::Audit::new(local).with_origin(origin), None));
    };
    let client = EsClient::new(es).map_err(|e| CliError::Usage(e.to_string()))?;
    let spool = Spool::open(&data_dir.join("audit").join("spool")).map_err(fail)?;
    let (sink, shipper) = EsSink::new(client, spool, None);
    let sink = std::sync::Arc::new(sink);
    let handle = sink.clone();
    let start: StartShipper = Box::new(move |tx| {
        handle.report_to(tx);
        Box::pin(shipper)
    });
    let fan = crate::audit::Fanout(vec![local, sink]);
    Ok((
        crate::audit::Audit::new(std::sync::Arc::new(fan)).with_origin(origin),
        Some(start),
    ))
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<AuditCommand> {
    const NAME: &'static str = "audit";
    const ABOUT: &'static str = "Security events: log, tail, search, verify, alerts test";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::audit(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, self.command)
    }
}
