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

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::Matrix;
use super::data::{BLOCK, Columns};
use super::neighbours;

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
    /// `train` feature after feature, built on first use.
    #[serde(skip)]
    columns: OnceLock<Columns>,
}

/// The `k` nearest rows seen so far, nearest first: (squared distance, row).
struct Nearest<'a> {
    k: usize,
    items: &'a mut Vec<(f64, u32)>,
}

impl Nearest<'_> {
    /// Offers `row` at squared distance `d2`; an equal distance never
    /// displaces a row offered earlier. Returns the squared distance a
    /// later row must beat: the k-th's once there are `k`, else infinity.
    #[inline]
    fn offer(&mut self, d2: f64, row: u32) -> f64 {
        let items = &mut *self.items;
        let mut at = items.len();
        if at == self.k {
            if d2 >= items[at - 1].0 {
                return items[at - 1].0;
            }
            at -= 1;
        } else {
            items.push((d2, row));
        }
        // Insertion from the far end: k is small.
        while at > 0 && items[at - 1].0 > d2 {
            items[at] = items[at - 1];
            at -= 1;
        }
        items[at] = (d2, row);
        if items.len() == self.k {
            items[self.k - 1].0
        } else {
            f64::INFINITY
        }
    }
}

impl Lof {
    /// Fits on `x` (more than [`NEIGHBOURS`] rows): every row's neighbours
    /// among the others ([`neighbours::of_every_row`]), their k-distances
    /// and densities, and the rows' own scores.
    pub fn fit(x: &Matrix) -> Self {
        let n = x.rows();
        let k = NEIGHBOURS.min(n - 1);
        let items = neighbours::of_every_row(x, k);
        let k_distance: Vec<f64> = items.iter().map(|m| m[k - 1].0.sqrt()).collect();
        let lrd: Vec<f64> = items.iter().map(|m| density(m, &k_distance)).collect();
        let training_scores = items
            .iter()
            .zip(&lrd)
            .map(|(m, own)| mean_ratio(m, &lrd, *own))
            .collect();
        Self {
            train: x.clone(),
            k_distance,
            lrd,
            training_scores,
            columns: OnceLock::new(),
        }
    }

    pub fn features(&self) -> usize {
        self.train.cols()
    }

    /// The LOF of each training row among the others.
    pub fn training_scores(&self) -> &[f64] {
        &self.training_scores
    }

    /// The LOF of a new row among the training rows: its k nearest by a
    /// scan of every training row a block at a time, then the training
    /// rows' k-distances and densities kept from the fit.
    pub fn score(&self, row: &[f64]) -> f64 {
        let columns = self.columns.get_or_init(|| Columns::of(&self.train));
        let n = columns.rows();
        let mut items = Vec::with_capacity(NEIGHBOURS + 1);
        let mut near = Nearest {
            k: self.k_distance.len().min(NEIGHBOURS),
            items: &mut items,
        };
        let mut bar = f64::INFINITY;
        let mut dist = [0.0; BLOCK];
        for start in (0..n).step_by(BLOCK) {
            let d = &mut dist[..BLOCK.min(n - start)];
            columns.squared_distances(row, start, d);
            for (i, d2) in (start..).zip(d.iter().copied()) {
                if d2 < bar {
                    bar = near.offer(d2, i as u32);
                }
            }
        }
        let own = density(&items, &self.k_distance);
        mean_ratio(&items, &self.lrd, own)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// LOF from its definition: every distance sorted, ties to the earlier row.
    fn naive(train: &[Vec<f64>], row: &[f64], skip: Option<usize>) -> f64 {
        let k = NEIGHBOURS;
        let dist = |a: &[f64], b: &[f64]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(p, q)| (p - q) * (p - q))
                .sum::<f64>()
                .sqrt()
        };
        let neighbours = |p: &[f64], skip: Option<usize>| -> Vec<(f64, usize)> {
            let mut all: Vec<(f64, usize)> = (0..train.len())
                .filter(|i| Some(*i) != skip)
                .map(|i| (dist(p, &train[i]), i))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            all.truncate(k);
            all
        };
        let k_distance = |o: usize| neighbours(&train[o], Some(o))[k - 1].0;
        let lrd = |p: &[f64], skip: Option<usize>| -> f64 {
            let n = neighbours(p, skip);
            let reach: f64 = n.iter().map(|(d, o)| d.max(k_distance(*o))).sum();
            1.0 / (reach / k as f64 + EPSILON)
        };
        let own = lrd(row, skip);
        let n = neighbours(row, skip);
        n.iter()
            .map(|(_, o)| lrd(&train[*o], Some(*o)) / own)
            .sum::<f64>()
            / k as f64
    }

    #[test]
    fn scores_follow_the_definition_with_ties_to_the_earlier_row() {
        // A grid (many equal distances), duplicates, and a few far rows.
        let mut rows: Vec<Vec<f64>> = (0..90)
            .map(|i| vec![(i % 9) as f64, (i / 9) as f64, ((i * 5) % 3) as f64])
            .collect();
        rows.extend([
            vec![2.0, 3.0, 1.0],
            vec![2.0, 3.0, 1.0],
            vec![40.0, 0.0, 0.0],
        ]);
        let lof = Lof::fit(&Matrix::from_rows(&rows));
        for (i, row) in rows.iter().enumerate() {
            let want = naive(&rows, row, Some(i));
            let got = lof.training_scores()[i];
            assert!((got - want).abs() < 1e-9, "row {i}: {got} vs {want}");
        }
        for row in [
            vec![4.5, 4.5, 1.0],
            vec![2.0, 3.0, 1.0],
            vec![-20.0, 5.0, 9.0],
        ] {
            let (got, want) = (lof.score(&row), naive(&rows, &row, None));
            assert!((got - want).abs() < 1e-9, "{row:?}: {got} vs {want}");
        }
        assert!(lof.training_scores()[92] > THRESHOLD);
        assert!(lof.score(&[-20.0, 5.0, 9.0]) > THRESHOLD);
    }
}
