//! Local outlier factor (Breunig et al., 2000), as scikit-learn's
//! `LocalOutlierFactor` with its defaults: 20 neighbours, Euclidean
//! distance, exactly `k` neighbours (ties at the k-th distance go to the
//! earlier row, not all of them).
//!
//! - `k-distance(o)`: the distance from training row `o` to its k-th
//!   nearest other training row;
//! - `reach(p, o) = max(k-distance(o), d(p, o))`;
//! - `lrd(p) = 1 / (mean reach(p, o) over p's k neighbours + 1e-10)`;
//! - `LOF(p) = mean lrd(o) over p's neighbours / lrd(p)`: about 1 inside
//!   a cluster, larger for a row less dense than its neighbours.
//!
//! A training row's neighbours are the other training rows (its own score,
//! scikit-learn's `negative_outlier_factor_`); a new row's are the k
//! nearest training rows (`score_samples`, novelty mode).

use serde::{Deserialize, Serialize};

use super::{Matrix, squared_distance};

pub const NEIGHBOURS: usize = 20;
/// scikit-learn's offset for `contamination="auto"`.
pub const THRESHOLD: f64 = 1.5;
/// Keeps the density of a row with `k` duplicates finite.
const EPSILON: f64 = 1e-10;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lof {
    train: Matrix,
    k_distance: Vec<f64>,
    lrd: Vec<f64>,
    training_scores: Vec<f64>,
}

/// The `k` nearest rows seen so far, nearest first: (squared distance, row).
#[derive(Clone)]
struct Nearest {
    k: usize,
    items: Vec<(f64, u32)>,
}

impl Nearest {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    /// Offers `row` at squared distance `d2`; an equal distance never
    /// displaces a row offered earlier.
    #[inline]
    fn offer(&mut self, d2: f64, row: u32) {
        if self.items.len() == self.k {
            if d2 >= self.items[self.k - 1].0 {
                return;
            }
            self.items.pop();
        }
        let at = self.items.partition_point(|(d, _)| *d <= d2);
        self.items.insert(at, (d2, row));
    }
}

impl Lof {
    /// Fits on `x` (more than [`NEIGHBOURS`] rows).
    pub fn fit(x: &Matrix) -> Self {
        let n = x.rows();
        let k = NEIGHBOURS.min(n - 1);
        let mut near = vec![Nearest::new(k); n];
        // Every pair once; each row is offered its others in row order.
        for a in 0..n {
            let xa = x.row(a);
            for b in a + 1..n {
                let d2 = squared_distance(xa, x.row(b));
                near[a].offer(d2, b as u32);
                near[b].offer(d2, a as u32);
            }
        }
        let k_distance: Vec<f64> = near.iter().map(|m| m.items[k - 1].0.sqrt()).collect();
        let lrd: Vec<f64> = near
            .iter()
            .map(|m| density(&m.items, &k_distance))
            .collect();
        let training_scores = near
            .iter()
            .zip(&lrd)
            .map(|(m, own)| mean_ratio(&m.items, &lrd, *own))
            .collect();
        Self {
            train: x.clone(),
            k_distance,
            lrd,
            training_scores,
        }
    }

    pub fn features(&self) -> usize {
        self.train.cols()
    }

    /// The LOF of each training row among the others.
    pub fn training_scores(&self) -> &[f64] {
        &self.training_scores
    }

    /// The LOF of a new row among the training rows.
    pub fn score(&self, row: &[f64]) -> f64 {
        let mut near = Nearest::new(self.k_distance.len().min(NEIGHBOURS));
        for (i, t) in self.train.iter().enumerate() {
            near.offer(squared_distance(row, t), i as u32);
        }
        let own = density(&near.items, &self.k_distance);
        mean_ratio(&near.items, &self.lrd, own)
    }
}

/// The local reachability density of a row with these neighbours.
fn density(neighbours: &[(f64, u32)], k_distance: &[f64]) -> f64 {
    let reach: f64 = neighbours
        .iter()
        .map(|(d2, o)| d2.sqrt().max(k_distance[*o as usize]))
        .sum();
    1.0 / (reach / neighbours.len() as f64 + EPSILON)
}

/// The mean of the neighbours' densities over the row's own.
fn mean_ratio(neighbours: &[(f64, u32)], lrd: &[f64], own: f64) -> f64 {
    let sum: f64 = neighbours.iter().map(|(_, o)| lrd[*o as usize] / own).sum();
    sum / neighbours.len() as f64
}
