//! Anomaly detectors: isolation forest, one-class SVM (RBF kernel) and local
//! outlier factor, with scikit-learn's defaults, seeded and reproducible.
//!
//! Every detector scores a row of numbers; a higher score means more
//! anomalous, and a score above the detector's threshold is an anomaly:
//!
//! | detector | score | threshold (scikit-learn's `predict`) |
//! |---|---|---|
//! | isolation forest | `2^(-E[h(x)] / c(256))`, in (0, 1] (`-score_samples`) | 0.5 |
//! | one-class SVM | `rho - sum(alpha_i K(sv_i, x))` (`-decision_function`) | 0 |
//! | local outlier factor | the LOF, about 1 inside a cluster (`-score_samples`) | 1.5 |
//!
//! smartcore has none of the three. The kernel rows and the scoring of a
//! new row measure one row against a block of rows stored feature after
//! feature ([`data::Columns`]): plain loops the compiler vectorises, with
//! AVX2 when the CPU has it and the same results either way (the data are a
//! few thousand rows of a few dozen features). LOF's fit finds every
//! training row's neighbours at once ([`neighbours`]): estimates in single
//! precision, four rows against all, on every core, then the definition
//! for the few rows that may count, so the neighbours are exactly those of
//! a sort of every distance. `bench/anomaly.sh` times them beside
//! scikit-learn.

pub mod agent;
pub mod api;
pub mod data;
pub mod demo;
pub mod deploys;
pub mod features;
pub mod history;
pub mod iforest;
pub mod lof;
pub mod logins;
pub mod models;
pub mod neighbours;
pub mod ocsvm;
pub mod pane;
pub mod service;
pub mod settings;
pub mod training;
pub mod triage;

use serde::{Deserialize, Serialize};

pub use data::{DataError, Matrix, Table};

/// Which detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    #[serde(rename = "iforest")]
    IsolationForest,
    #[serde(rename = "ocsvm")]
    OneClassSvm,
    #[serde(rename = "lof")]
    LocalOutlierFactor,
}

impl Detector {
    pub const ALL: [Detector; 3] = [
        Detector::IsolationForest,
        Detector::OneClassSvm,
        Detector::LocalOutlierFactor,
    ];

    /// The short name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Detector::IsolationForest => "iforest",
            Detector::OneClassSvm => "ocsvm",
            Detector::LocalOutlierFactor => "lof",
        }
    }

    /// The fewest training rows the detector can be fitted on.
    pub fn min_rows(self) -> usize {
        match self {
            Detector::LocalOutlierFactor => lof::NEIGHBOURS + 1,
            Detector::IsolationForest | Detector::OneClassSvm => 1,
        }
    }
}

/// A fitted detector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "detector", rename_all = "lowercase")]
pub enum Model {
    #[serde(rename = "iforest")]
    IsolationForest(iforest::IsolationForest),
    #[serde(rename = "ocsvm")]
    OneClassSvm(ocsvm::OneClassSvm),
    #[serde(rename = "lof")]
    LocalOutlierFactor(lof::Lof),
}

/// Why a detector could not be fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError {
    #[error("{detector} needs at least {needed} training rows, got {got}")]
    TooFewRows {
        detector: &'static str,
        needed: usize,
        got: usize,
    },
}

impl Model {
    /// Fits `detector` on the rows of `train` with scikit-learn's defaults;
    /// `seed` drives the isolation forest's sampling (the other two are
    /// deterministic).
    pub fn fit(detector: Detector, train: &Matrix, seed: u64) -> Result<Model, FitError> {
        Self::check_rows(detector, train)?;
        Ok(match detector {
            Detector::IsolationForest => {
                Model::IsolationForest(iforest::IsolationForest::fit(train, seed))
            }
            Detector::OneClassSvm => Model::OneClassSvm(ocsvm::OneClassSvm::fit(train)),
            Detector::LocalOutlierFactor => Model::LocalOutlierFactor(lof::Lof::fit(train)),
        })
    }

    /// [`Model::fit`], and the scores of the training rows themselves, in
    /// order: for the local outlier factor each row among the others
    /// (scikit-learn's `negative_outlier_factor_`, sign flipped); for the
    /// one-class SVM `rho - G_i` from the solver's gradient (within
    /// `3e-8 G_i` of scoring the row anew: see [`ocsvm`]); for the isolation forest
    /// each scored as a new row.
    pub fn fit_scored(
        detector: Detector,
        train: &Matrix,
        seed: u64,
    ) -> Result<(Model, Vec<f64>), FitError> {
        Self::check_rows(detector, train)?;
        Ok(match detector {
            Detector::OneClassSvm => {
                let (m, scores) = ocsvm::OneClassSvm::fit_scored(train);
                (Model::OneClassSvm(m), scores)
            }
            Detector::LocalOutlierFactor => {
                let m = lof::Lof::fit(train);
                let scores = m.training_scores().to_vec();
                (Model::LocalOutlierFactor(m), scores)
            }
            Detector::IsolationForest => {
                let m = Model::IsolationForest(iforest::IsolationForest::fit(train, seed));
                let scores = m.score_all(train);
                (m, scores)
            }
        })
    }

    fn check_rows(detector: Detector, train: &Matrix) -> Result<(), FitError> {
        if train.rows() < detector.min_rows() {
            return Err(FitError::TooFewRows {
                detector: detector.name(),
                needed: detector.min_rows(),
                got: train.rows(),
            });
        }
        Ok(())
    }

    pub fn detector(&self) -> Detector {
        match self {
            Model::IsolationForest(_) => Detector::IsolationForest,
            Model::OneClassSvm(_) => Detector::OneClassSvm,
            Model::LocalOutlierFactor(_) => Detector::LocalOutlierFactor,
        }
    }

    /// The number of features a row must have.
    pub fn features(&self) -> usize {
        match self {
            Model::IsolationForest(m) => m.features(),
            Model::OneClassSvm(m) => m.features(),
            Model::LocalOutlierFactor(m) => m.features(),
        }
    }

    /// The score of a new row: higher is more anomalous.
    pub fn score(&self, row: &[f64]) -> f64 {
        assert_eq!(row.len(), self.features(), "row width");
        match self {
            Model::IsolationForest(m) => m.score(row),
            Model::OneClassSvm(m) => m.score(row),
            Model::LocalOutlierFactor(m) => m.score(row),
        }
    }

    /// The scores of every row of `rows`, in order.
    pub fn score_all(&self, rows: &Matrix) -> Vec<f64> {
        rows.iter().map(|r| self.score(r)).collect()
    }

    /// Scores above this are anomalies (scikit-learn's `predict` with its
    /// default `contamination="auto"` or `nu`).
    pub fn threshold(&self) -> f64 {
        match self {
            Model::IsolationForest(_) => iforest::THRESHOLD,
            Model::OneClassSvm(_) => ocsvm::THRESHOLD,
            Model::LocalOutlierFactor(_) => lof::THRESHOLD,
        }
    }
}
