//! One-class SVM (Schölkopf et al., 2001) with an RBF kernel, as
//! scikit-learn's `OneClassSVM` (libsvm) with its defaults: `nu = 0.5`,
//! `gamma = "scale"` = `1 / (features * X.var())`, tolerance 1e-3.
//!
//! The dual: minimise `1/2 a'Qa` over `0 <= a_i <= 1`, `sum a_i = nu * l`,
//! with `Q_ij = K(x_i, x_j) = exp(-gamma |x_i - x_j|^2)`, solved by SMO
//! with second-order working-set selection (Fan, Chen and Lin, 2005),
//! starting where libsvm does (the first `nu * l` rows at the bound). The
//! offset `rho` is the mean gradient of the free variables. A row's score
//! is `rho - sum a_i K(x_i, x)`: positive outside the learned region.
//! Deterministic: no seed.

use serde::{Deserialize, Serialize};

use super::{Matrix, squared_distance};

pub const NU: f64 = 0.5;
/// `decision_function < 0` is an outlier in scikit-learn.
pub const THRESHOLD: f64 = 0.0;
const TOLERANCE: f64 = 1e-3;
/// libsvm's stand-in for a non-positive curvature.
const TAU: f64 = 1e-12;
/// Kernel rows kept at once, in bytes (libsvm's default cache is 200 MB).
const CACHE_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OneClassSvm {
    gamma: f64,
    rho: f64,
    /// The support vectors (rows with `a_i > 0`) and their `a_i`.
    support: Matrix,
    coef: Vec<f64>,
}

impl OneClassSvm {
    pub fn fit(x: &Matrix) -> Self {
        let var = x.variance();
        let gamma = if var > 0.0 {
            1.0 / (x.cols() as f64 * var)
        } else {
            1.0
        };
        let (alpha, rho) = Solver::new(x, gamma).solve();
        let (rows, coef): (Vec<&[f64]>, Vec<f64>) = alpha
            .iter()
            .enumerate()
            .filter(|(_, a)| **a > 0.0)
            .map(|(i, a)| (x.row(i), *a))
            .unzip();
        Self {
            gamma,
            rho,
            support: Matrix::from_rows(&rows),
            coef,
        }
    }

    pub fn features(&self) -> usize {
        self.support.cols()
    }

    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    pub fn support_vectors(&self) -> usize {
        self.coef.len()
    }

    /// `rho - sum a_i K(sv_i, row)`: higher is more anomalous.
    pub fn score(&self, row: &[f64]) -> f64 {
        let sum: f64 = self
            .support
            .iter()
            .zip(&self.coef)
            .map(|(sv, a)| a * (-self.gamma * squared_distance(sv, row)).exp())
            .sum();
        self.rho - sum
    }
}

/// SMO on the one-class dual; kernel rows computed when first needed and
/// kept (oldest dropped first past [`CACHE_BYTES`]).
struct Solver<'a> {
    x: &'a Matrix,
    gamma: f64,
    rows: Vec<Option<Box<[f32]>>>,
    order: std::collections::VecDeque<usize>,
    capacity: usize,
}

impl<'a> Solver<'a> {
    fn new(x: &'a Matrix, gamma: f64) -> Self {
        let l = x.rows();
        Self {
            x,
            gamma,
            rows: vec![None; l],
            order: Default::default(),
            capacity: (CACHE_BYTES / (4 * l)).max(2),
        }
    }

    /// Computes row `i` of Q unless it is cached, keeping row `keep`.
    fn ensure(&mut self, i: usize, keep: usize) {
        if self.rows[i].is_some() {
            return;
        }
        if self.order.len() >= self.capacity {
            let at = self
                .order
                .iter()
                .position(|&r| r != keep)
                .expect("two rows");
            let old = self.order.remove(at).expect("cached row");
            self.rows[old] = None;
        }
        let xi = self.x.row(i);
        let row: Box<[f32]> = self
            .x
            .iter()
            .map(|xj| (-self.gamma * squared_distance(xi, xj)).exp() as f32)
            .collect();
        self.rows[i] = Some(row);
        self.order.push_back(i);
    }

    fn row(&self, i: usize) -> &[f32] {
        self.rows[i].as_deref().expect("ensured row")
    }

    /// The `a_i` and `rho`.
    fn solve(mut self) -> (Vec<f64>, f64) {
        let l = self.x.rows();
        let total = NU * l as f64;
        let full = (total as usize).min(l);
        let mut alpha = vec![0.0; l];
        alpha[..full].fill(1.0);
        if full < l {
            alpha[full] = total - full as f64;
        }
        // G = Q a.
        let mut grad = vec![0.0f64; l];
        for (i, a) in alpha.iter().enumerate() {
            if *a > 0.0 {
                self.ensure(i, i);
                for (g, q) in grad.iter_mut().zip(self.row(i)) {
                    *g += a * f64::from(*q);
                }
            }
        }
        let max_iter = (100 * l).max(10_000_000);
        for _ in 0..max_iter {
            let Some((i, j)) = self.working_set(&alpha, &grad) else {
                break;
            };
            self.ensure(j, i);
            let (qi, qj) = (self.row(i), self.row(j));
            let (old_i, old_j) = (alpha[i], alpha[j]);
            let curvature = match 2.0 - 2.0 * f64::from(qi[j]) {
                c if c > 0.0 => c,
                _ => TAU,
            };
            let delta = (grad[i] - grad[j]) / curvature;
            let sum = old_i + old_j;
            let (mut ai, mut aj) = (old_i - delta, old_j + delta);
            if sum > 1.0 {
                if ai > 1.0 {
                    (ai, aj) = (1.0, sum - 1.0);
                }
                if aj > 1.0 {
                    (ai, aj) = (sum - 1.0, 1.0);
                }
            } else {
                if aj < 0.0 {
                    (ai, aj) = (sum, 0.0);
                }
                if ai < 0.0 {
                    (ai, aj) = (0.0, sum);
                }
            }
            alpha[i] = ai;
            alpha[j] = aj;
            let (di, dj) = (ai - old_i, aj - old_j);
            for ((g, a), b) in grad.iter_mut().zip(qi).zip(qj) {
                *g += f64::from(*a) * di + f64::from(*b) * dj;
            }
        }
        let rho = rho(&alpha, &grad);
        (alpha, rho)
    }

    /// The maximal-violating `i` and the `j` that most decreases the
    /// objective with it, or `None` once the gap is within tolerance.
    fn working_set(&mut self, alpha: &[f64], grad: &[f64]) -> Option<(usize, usize)> {
        let mut gmax = f64::NEG_INFINITY;
        let mut i = None;
        for (t, (a, g)) in alpha.iter().zip(grad).enumerate() {
            if *a < 1.0 && -g >= gmax {
                gmax = -g;
                i = Some(t);
            }
        }
        let i = i?;
        self.ensure(i, i);
        let qi = self.row(i);
        let mut gmax2 = f64::NEG_INFINITY;
        let mut best = f64::INFINITY;
        let mut j = None;
        for (t, (a, g)) in alpha.iter().zip(grad).enumerate() {
            if *a > 0.0 {
                gmax2 = gmax2.max(*g);
                let diff = gmax + g;
                if diff > 0.0 {
                    let curvature = match 2.0 - 2.0 * f64::from(qi[t]) {
                        c if c > 0.0 => c,
                        _ => TAU,
                    };
                    let gain = -(diff * diff) / curvature;
                    if gain <= best {
                        best = gain;
                        j = Some(t);
                    }
                }
            }
        }
        if gmax + gmax2 < TOLERANCE {
            return None;
        }
        j.map(|j| (i, j))
    }
}

/// libsvm's `rho`: the mean gradient of the free variables, or the middle
/// of the feasible interval when none is free.
fn rho(alpha: &[f64], grad: &[f64]) -> f64 {
    let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut free, mut sum) = (0usize, 0.0);
    for (a, g) in alpha.iter().zip(grad) {
        if *a >= 1.0 {
            lb = lb.max(*g);
        } else if *a <= 0.0 {
            ub = ub.min(*g);
        } else {
            free += 1;
            sum += g;
        }
    }
    if free > 0 {
        sum / free as f64
    } else {
        (ub + lb) / 2.0
    }
}
