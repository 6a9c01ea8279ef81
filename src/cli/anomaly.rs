//! `windflow anomaly score`: fits a detector on a CSV file of numbers and
//! scores the rows of another (or the same) file. `windflow anomaly train`:
//! fits every kind's detector (sign-ins, API usage, deployments) on the
//! audit history and stores each sealed.
//! Exit codes as in [`crate::cli`]: 0 done (a cold start included: it
//! says so), 1 failure, 2 bad usage or bad input (the error names the file
//! and the row). `windflow anomaly list`: the anomalies detected (every
//! `*_anomaly_detected` event), read as `audit tail` reads, with their
//! status. `windflow anomaly mark ID STATUS`: an operator's triage of one
//! (audited). `windflow anomaly explain ID`: score against threshold,
//! percentile, risk, features and the words.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::anomaly::training;
use crate::anomaly::triage::{self, Anomaly, Status};
use crate::anomaly::{Detector, FitError, Model, Table};
use crate::audit::tail::TailFilter;
use crate::cli::CliError;
use crate::cli::common::print_json;
use crate::config::Config;
use crate::display::Untrusted;

#[derive(Debug, Subcommand)]
pub enum AnomalyCommand {
    /// Fit a detector on --train and score every row of --input (higher is
    /// more anomalous). CSV files: a header of column names, then numbers; a
    /// `label` column is ignored.
    Score(ScoreArgs),
    /// Fit each kind's detector (sign-ins: isolation forest, API usage:
    /// one-class SVM, deployments: local outlier factor) on the audit
    /// history, less the events marked false positive, and keep each model,
    /// sealed, as a new version in the store. A kind with fewer than 200
    /// events is not trained (cold start: no alerts of that kind until then).
    Train {
        /// How far back the training events go: 30d, 12h, ...
        #[arg(long, default_value = "30d", value_name = "AGE")]
        since: String,
        /// Seed of the isolation forest.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        step_up: crate::cli::auth::StepUp,
    },
    /// The anomalies detected, newest first: user, score, risk and why, in
    /// words. Read from Elasticsearch when configured (else, or when it does
    /// not answer, the local log: exit 4 then).
    List {
        /// How far back: 30s, 15m, 2h, 1d, ...
        #[arg(long, default_value = "1d", value_name = "AGE")]
        since: String,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only the anomalies with this status: new, acknowledged, resolved
        /// or false-positive.
        #[arg(long, value_parser = parse_status, value_name = "STATUS")]
        status: Option<Status>,
        #[arg(long)]
        json: bool,
    },
    /// Mark an anomaly (its id as `anomaly list` shows it, or a longer
    /// prefix): ack, resolved or false-positive. An operator's act
    /// (anomaly.mark), recorded as `anomaly_marked`; a false positive is
    /// left out of the next training.
    Mark {
        id: String,
        /// ack, resolved or false-positive.
        #[arg(value_parser = parse_mark)]
        status: Status,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        step_up: crate::cli::auth::StepUp,
    },
    /// Why an anomaly was flagged: score against the threshold, percentile,
    /// risk, each feature's value, the explanation in words, and its status.
    Explain {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_status(s: &str) -> Result<Status, String> {
    Status::parse(s)
}

/// What an operator may mark an anomaly as (not back to new).
fn parse_mark(s: &str) -> Result<Status, String> {
    match Status::parse(s) {
        Ok(Status::New) | Err(_) => Err(format!(
            "unknown mark {s:?}: ack, resolved or false-positive"
        )),
        Ok(st) => Ok(st),
    }
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// iforest (isolation forest), ocsvm (one-class SVM) or lof (local outlier factor).
    #[arg(long, value_parser = parse_detector)]
    pub detector: Detector,
    /// The rows to learn from.
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// The rows to score; when they are the training rows, the local outlier
    /// factor scores each among the others.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Seed of the isolation forest's sampling (the same seed, the same scores).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

fn parse_detector(s: &str) -> Result<Detector, String> {
    Detector::ALL
        .into_iter()
        .find(|d| d.name() == s)
        .ok_or_else(|| format!("unknown detector {s:?}: iforest, ocsvm or lof"))
}

pub fn run(config: &Config, command: AnomalyCommand) -> Result<ExitCode, CliError> {
    let (json, res) = match command {
        AnomalyCommand::Score(args) => (args.json, score(&args)),
        AnomalyCommand::Train {
            since,
            seed,
            json,
            step_up,
        } => (json, train(config, &since, seed, json, &step_up)),
        AnomalyCommand::List {
            since,
            limit,
            status,
            json,
        } => (json, list(config, &since, limit, status, json)),
        AnomalyCommand::Mark {
            id,
            status,
            json,
            step_up,
        } => (json, mark(config, &id, status, json, &step_up)),
        AnomalyCommand::Explain { id, json } => (json, explain(config, &id, json)),
    };
    if json && let Err(e) = &res {
        print_json(&e.to_json())?;
    }
    res
}

fn train(
    config: &Config,
    since: &str,
    seed: u64,
    json: bool,
    step_up: &crate::cli::auth::StepUp,
) -> Result<ExitCode, CliError> {
    // A model decides which sign-ins alert: training one is an operator's
    // act, with a fresh second factor, and recorded under their name.
    let by = crate::cli::secrets::authorize(config, "anomaly.train", step_up)?;
    let age = crate::audit::tail::parse_since(since).map_err(CliError::Usage)?;
    let since_ms = chrono::Utc::now().timestamp_millis()
        - i64::try_from(age.as_millis())
            .map_err(|_| CliError::Usage(format!("--since {since:?}: too long")))?;
    let data_dir = &config.paths.data_dir;
    let keys = crate::cli::auth::load_keyring(config, true)?;
    let store = crate::store::Store::open(data_dir)?;
    let (history, reports) = training::train_all(&store, &keys, data_dir, since_ms, seed)?;
    let audit = crate::cli::audit::cli_audit(config)?;
    for r in &reports {
        if let Ok(version) = r.outcome {
            audit
                .emit(
                    "anomaly_model_trained",
                    Some(&by),
                    training::trained_details(r, version),
                )
                .map_err(|e| CliError::Failure(e.into()))?;
        }
    }
    if json {
        let models: Vec<serde_json::Value> = reports.iter().map(|r| r.json()).collect();
        print_json(
            &json!({ "events": history.events, "unreadable_lines": history.unreadable, "models": models }),
        )?;
    } else {
        for r in &reports {
            println!("{}", Untrusted(&r.line()));
        }
        if history.unreadable > 0 {
            println!(
                "{} audit log lines were not events and were skipped",
                history.unreadable
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One detected anomaly, as `anomaly list` shows it.
fn row(a: &Anomaly) -> serde_json::Value {
    let ev = &a.event;
    let d = &ev.details;
    json!({
        "id": ev.id,
        "short_id": triage::short(&ev.id),
        "type": ev.event_type,
        "detected_at": ev.timestamp,
        "kind": a.kind(),
        "at": d.get("at"),
        "user": ev.user_id,
        "deployment": d.get("deployment"),
        "score": d.get("score"),
        "threshold": d.get("threshold"),
        "percentile": d.get("percentile"),
        "risk": d.get("risk"),
        "model_version": d.get("model_version"),
        "explanation": d.get("explanation"),
        "source_event": a.source_event(),
        "severity": ev.severity,
        "status": a.status().as_str(),
        "mark": a.mark,
    })
}

/// The detected anomalies within `window` (every one without it), oldest
/// first, at most the newest `limit`, each with its mark; and where they
/// were read from.
fn read_anomalies(
    config: &Config,
    window: Option<std::time::Duration>,
    limit: usize,
) -> Result<(Vec<Anomaly>, crate::audit::query::Source), CliError> {
    // Free text narrows to the anomaly types; the type's suffix decides.
    let filter = TailFilter {
        text: Some(triage::DETECTED_SUFFIX.into()),
        window,
        ..TailFilter::default()
    };
    let reader = crate::cli::audit::reader(config)?;
    let answer = crate::cli::common::runtime()?
        .block_on(reader.read(&filter, limit))
        .map_err(|e| CliError::Failure(e.into()))?;
    let store = crate::store::Store::open(&config.paths.data_dir)?;
    let marks = triage::all(&store)?;
    let anomalies = answer
        .events
        .into_iter()
        .filter(|e| triage::is_detected(&e.event_type))
        .map(|e| Anomaly::new(e, &marks))
        .collect();
    Ok((anomalies, answer.source))
}

fn list(
    config: &Config,
    since: &str,
    limit: usize,
    status: Option<Status>,
    json: bool,
) -> Result<ExitCode, CliError> {
    let window = crate::audit::tail::parse_since(since)
        .map_err(|e| CliError::Usage(format!("--since {since:?}: {e}")))?;
    let (anomalies, source) = read_anomalies(config, Some(window), limit)?;
    crate::cli::audit::say_source(&source);
    let shown: Vec<&Anomaly> = anomalies
        .iter()
        .rev()
        .filter(|a| status.is_none_or(|s| a.status() == s))
        .collect();
    if json {
        let rows: Vec<serde_json::Value> = shown.iter().map(|a| row(a)).collect();
        print_json(&json!({ "anomalies": rows }))?;
    } else if shown.is_empty() {
        match status {
            Some(s) => println!("no {} anomalies in the last {since}", s.word()),
            None => println!("no anomalies detected in the last {since}"),
        }
    } else {
        for a in &shown {
            println!(
                "{}  {}  {:<7} {:<16} score {:.3} > {}  {:<8} {:<14} {}",
                triage::short(a.id()),
                Untrusted(a.at()),
                Untrusted(a.kind()),
                Untrusted(a.entity()),
                a.score().unwrap_or(f64::NAN),
                a.threshold().map_or("?".to_owned(), |t| t.to_string()),
                Untrusted(a.risk()),
                a.status().as_str(),
                Untrusted(a.explanation()),
            );
        }
    }
    Ok(crate::cli::audit::exit_for(&source))
}

/// The most anomalies an id is looked up among (the newest).
const FIND_AMONG: usize = 100_000;

/// The anomaly `id` names among every one recorded; an unknown or
/// ambiguous id is bad input (exit 2), said escaped.
fn resolve(config: &Config, id: &str) -> Result<Anomaly, CliError> {
    let (anomalies, source) = read_anomalies(config, None, FIND_AMONG)?;
    crate::cli::audit::say_source(&source);
    triage::find(&anomalies, id)
        .cloned()
        .map_err(|e| CliError::Usage(Untrusted(&e).to_string()))
}

fn mark(
    config: &Config,
    id: &str,
    status: Status,
    json: bool,
    step_up: &crate::cli::auth::StepUp,
) -> Result<ExitCode, CliError> {
    let by = crate::cli::secrets::authorize(config, "anomaly.mark", step_up)?;
    let a = resolve(config, id)?;
    let store = crate::store::Store::open(&config.paths.data_dir)?;
    let audit = crate::cli::audit::cli_audit(config)?;
    let (m, was) = triage::record_mark(&store, &audit, &a, status, &by)?;
    if json {
        print_json(&json!({
            "id": a.id(),
            "short_id": triage::short(a.id()),
            "status": status.as_str(),
            "was": was.as_str(),
            "mark": m,
        }))?;
    } else {
        println!(
            "anomaly {} ({} {}) marked {} (was {})",
            triage::short(a.id()),
            Untrusted(a.kind()),
            Untrusted(a.entity()),
            status.as_str(),
            was.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn explain(config: &Config, id: &str, json: bool) -> Result<ExitCode, CliError> {
    let a = resolve(config, id)?;
    if json {
        let mut v = row(&a);
        v["features"] = a
            .event
            .details
            .get("features")
            .cloned()
            .unwrap_or(json!({}));
        v["detector"] = a.event.details.get("detector").cloned().unwrap_or_default();
        v["above_threshold"] = match (a.score(), a.threshold()) {
            (Some(s), Some(t)) => json!(s > t),
            _ => serde_json::Value::Null,
        };
        print_json(&v)?;
    } else {
        for (label, value) in a.explain_lines() {
            println!("{label:<15} {}", Untrusted(&value));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read(file: &Path) -> Result<Table, CliError> {
    Table::read(file).map_err(|e| CliError::Usage(e.to_string()))
}

fn score(args: &ScoreArgs) -> Result<ExitCode, CliError> {
    let train = read(&args.train)?;
    let input = read(&args.input)?;
    if input.columns != train.columns {
        return Err(CliError::Usage(format!(
            "{}: line 1: columns {} differ from {}'s {}",
            args.input.display(),
            input.columns.join(","),
            args.train.display(),
            train.columns.join(",")
        )));
    }
    let bad_train = |e: FitError| CliError::Usage(format!("{}: {e}", args.train.display()));
    let (model, scores) = if input.matrix == train.matrix {
        Model::fit_scored(args.detector, &train.matrix, args.seed).map_err(bad_train)?
    } else {
        let model = Model::fit(args.detector, &train.matrix, args.seed).map_err(bad_train)?;
        let scores = model.score_all(&input.matrix);
        (model, scores)
    };
    let threshold = model.threshold();
    let anomalies: Vec<usize> = (0..scores.len())
        .filter(|i| scores[*i] > threshold)
        .collect();
    if args.json {
        print_json(&json!({
            "detector": args.detector.name(),
            "scores": scores,
            "threshold": threshold,
            "anomalies": anomalies,
        }))?;
    } else {
        println!(
            "{}: {} of {} rows above the threshold {threshold}",
            args.detector.name(),
            anomalies.len(),
            scores.len()
        );
        for i in anomalies {
            println!("row {}\t{:.6}", i + 1, scores[i]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl crate::cli::plug::Subcommand for crate::cli::plug::Group<AnomalyCommand> {
    const NAME: &'static str = "anomaly";
    const ABOUT: &'static str = "Anomaly detectors (isolation forest, one-class SVM, local outlier factor): score, train, list, mark, explain";
    fn changes(&self) -> Option<(&'static str, &'static str)> {
        crate::cli::read_only::anomaly(&self.command)
    }
    fn run(self, ctx: &crate::cli::plug::Ctx) -> Result<ExitCode, CliError> {
        run(ctx.config, self.command)
    }
}
