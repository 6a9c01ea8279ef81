//! `windflow anomaly score`: fits a detector on a CSV file of numbers and
//! scores the rows of another (or the same) file. Exit codes as in
//! [`crate::cli`]: 0 scored, 2 bad usage or bad input (the error names the
//! file and the row).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::anomaly::{Detector, Model, Table};
use crate::cli::CliError;
use crate::cli::deployments::print_json;

#[derive(Debug, Subcommand)]
pub enum AnomalyCommand {
    /// Fit a detector on --train and score every row of --input (higher is
    /// more anomalous). CSV files: a header of column names, then numbers; a
    /// `label` column is ignored.
    Score(ScoreArgs),
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

pub fn run(command: AnomalyCommand) -> Result<ExitCode, CliError> {
    match command {
        AnomalyCommand::Score(args) => {
            let json = args.json;
            let res = score(&args);
            if json && let Err(e) = &res {
                print_json(&e.to_json())?;
            }
            res
        }
    }
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
    let model = Model::fit(args.detector, &train.matrix, args.seed)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.train.display())))?;
    let scores = if input.matrix == train.matrix {
        model.score_training(&train.matrix)
    } else {
        model.score_all(&input.matrix)
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
