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
//!
//! Kernel values come a block of rows at a time: the squared distances
//! from the rows stored feature after feature ([`Columns`]), then a
//! branch-free `exp`, both loops the compiler vectorises. The rows of Q
//! the start needs (every row that begins at the bound) are computed on
//! every core, to the same numbers as one after another.
//!
//! The training rows' own scores come from the solver's gradient
//! (`G = Qa`, kept up to date as it goes, as libsvm keeps it):
//! `rho - G_i`, with Q's values in single precision as the solver keeps
//! them, so within `3e-8 G_i` of scoring the row anew, without computing
//! its kernel with every support vector again.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::Matrix;
use super::data::{BLOCK, Columns};

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
    /// `support` feature after feature, built on first use.
    #[serde(skip)]
    columns: OnceLock<Columns>,
}

impl OneClassSvm {
    pub fn fit(x: &Matrix) -> Self {
        Self::fit_scored(x).0
    }

    /// The model and the training rows' scores (`rho - G_i`: see the
    /// module's notes), in order.
    pub fn fit_scored(x: &Matrix) -> (Self, Vec<f64>) {
        let var = x.variance();
        let gamma = if var > 0.0 {
            1.0 / (x.cols() as f64 * var)
        } else {
            1.0
        };
        let (alpha, rho, grad) = Solver::new(x, gamma).solve();
        let (rows, coef): (Vec<&[f64]>, Vec<f64>) = alpha
            .iter()
            .enumerate()
            .filter(|(_, a)| **a > 0.0)
            .map(|(i, a)| (x.row(i), *a))
            .unzip();
        let model = Self {
            gamma,
            rho,
            support: Matrix::from_rows(&rows),
            coef,
            columns: OnceLock::new(),
        };
        (model, grad.iter().map(|g| rho - g).collect())
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
        let columns = self.columns.get_or_init(|| Columns::of(&self.support));
        let mut block = [0.0; BLOCK];
        let mut sum = 0.0;
        for (start, coef) in (0..).step_by(BLOCK).zip(self.coef.chunks(BLOCK)) {
            let k = &mut block[..coef.len()];
            kernel(columns, row, self.gamma, start, k);
            sum += dot(k, coef);
        }
        self.rho - sum
    }
}

/// `K(x, row j) = exp(-gamma |x - row j|^2)` for rows `start..` of
/// `columns`, as many as `out` holds. With AVX2 when the CPU has it (the
/// same operations in the same order, so the same results; no fused
/// multiply-add, which would round differently).
fn kernel(columns: &Columns, x: &[f64], gamma: f64, start: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { kernel_avx2(columns, x, gamma, start, out) };
    }
    kernel_portable(columns, x, gamma, start, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn kernel_avx2(columns: &Columns, x: &[f64], gamma: f64, start: usize, out: &mut [f64]) {
    kernel_portable(columns, x, gamma, start, out);
}

#[inline(always)]
fn kernel_portable(columns: &Columns, x: &[f64], gamma: f64, start: usize, out: &mut [f64]) {
    columns.squared_distances_portable(x, start, out);
    for v in out.iter_mut() {
        *v = exp(-gamma * *v);
    }
}

/// `sum a_i b_i` in four running sums (vector lanes).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, ra) = a.as_chunks::<4>();
    let (cb, rb) = b.as_chunks::<4>();
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// `e^x` for `x <= 0` within two units in the last place, without
/// branches or calls so that a loop of it vectorises: `x = n ln 2 + r`
/// with `|r| <= ln 2 / 2`, `e^r` by its Taylor series to `r^13` (the
/// remainder is under 2e-16 of it), times `2^n` built in the exponent
/// bits. Below -708 (where `e^x` leaves the normal range) it gives
/// `e^-708`, about 3e-308.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    // Adding 1.5 * 2^52 rounds to an integer and leaves it in the low bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    // ln 2 split so that `n * LN2_HI` is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const INV_FACT: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let x = x.clamp(-708.0, 0.0);
    let t = x * std::f64::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = INV_FACT[13];
    for c in INV_FACT[..13].iter().rev() {
        p = p * r + c;
    }
    // The low bits of `t` hold n; n + 1023 is the biased exponent of 2^n.
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    p * scale
}

/// SMO on the one-class dual; kernel rows computed when first needed and
/// kept (oldest dropped first past [`CACHE_BYTES`]), a block of a new row
/// copied from the cached rows when they hold it.
struct Solver<'a> {
    x: &'a Matrix,
    columns: Columns,
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
            columns: Columns::of(x),
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
        let row = self.fill_row(i, |j| self.rows[j].as_deref());
        self.rows[i] = Some(row);
        self.order.push_back(i);
    }

    fn row(&self, i: usize) -> &[f32] {
        self.rows[i].as_deref().expect("ensured row")
    }

    /// Row `i` of Q, a block at a time: a block whose rows `held` all
    /// has is taken from them (Q is symmetric, and Q_ji is computed as the
    /// very same numbers as Q_ij), every other one computed.
    fn fill_row<'r>(&'r self, i: usize, held: impl Fn(usize) -> Option<&'r [f32]>) -> Box<[f32]> {
        let xi = self.x.row(i);
        let mut row = vec![0.0f32; self.x.rows()].into_boxed_slice();
        let mut block = [0.0; BLOCK];
        for (start, out) in (0..).step_by(BLOCK).zip(row.chunks_mut(BLOCK)) {
            let rows = start..start + out.len();
            if rows.clone().all(|j| held(j).is_some()) {
                for (o, j) in out.iter_mut().zip(rows) {
                    *o = held(j).expect("held row")[i];
                }
                continue;
            }
            let k = &mut block[..out.len()];
            kernel(&self.columns, xi, self.gamma, start, k);
            for (o, v) in out.iter_mut().zip(k.iter()) {
                *o = *v as f32;
            }
        }
        row
    }

    /// Caches the rows `new` (none cached yet, no more than the cache
    /// holds) on every core, each taking the blocks it can from the rows
    /// cached or finished before it: the same numbers as [`Solver::ensure`]
    /// on each in turn, whichever core finishes first.
    fn ensure_all(&mut self, new: &[usize]) {
        self.ensure_on(new, cores_for(new.len() * self.x.rows()));
    }

    /// [`Solver::ensure_all`] on `lanes` threads.
    fn ensure_on(&mut self, new: &[usize], lanes: usize) {
        while self.order.len() + new.len() > self.capacity {
            let old = self.order.pop_front().expect("cached row");
            self.rows[old] = None;
        }
        let mut place = vec![usize::MAX; self.x.rows()];
        for (p, &i) in new.iter().enumerate() {
            place[i] = p;
        }
        let done: Vec<OnceLock<Box<[f32]>>> = new.iter().map(|_| OnceLock::new()).collect();
        let next = AtomicUsize::new(0);
        let this = &*self;
        let work = || loop {
            let p = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = new.get(p) else {
                return;
            };
            let row = this.fill_row(i, |j| {
                this.rows[j]
                    .as_deref()
                    .or_else(|| done.get(place[j])?.get().map(|r| &**r))
            });
            done[p].set(row).expect("each row once");
        };
        std::thread::scope(|s| {
            for _ in 1..lanes {
                s.spawn(work);
            }
            work();
        });
        for (&i, row) in new.iter().zip(done) {
            self.rows[i] = Some(row.into_inner().expect("every row done"));
            self.order.push_back(i);
        }
    }

    /// `G = Qa` for the rows with `a_i > 0`, those rows computed on every
    /// core a cacheful at a time; `G` summed row after row (on every core,
    /// a range of its entries each), as one core would.
    fn initial_gradient(&mut self, alpha: &[f64]) -> Vec<f64> {
        let l = self.x.rows();
        let mut grad = vec![0.0f64; l];
        let start: Vec<usize> = (0..l).filter(|i| alpha[*i] > 0.0).collect();
        for chunk in start.chunks(self.capacity) {
            self.ensure_all(chunk);
            let lanes = cores_for(chunk.len() * l);
            let part = l.div_ceil(lanes);
            let this = &*self;
            let add = |from: usize, g: &mut [f64]| {
                for &i in chunk {
                    let (a, q) = (alpha[i], &this.row(i)[from..from + g.len()]);
                    for (g, q) in g.iter_mut().zip(q) {
                        *g += a * f64::from(*q);
                    }
                }
            };
            let mut parts = grad.chunks_mut(part).enumerate();
            let (n, mine) = parts.next_back().expect("rows");
            std::thread::scope(|s| {
                for (n, g) in parts {
                    s.spawn(move || add(n * part, g));
                }
                add(n * part, mine);
            });
        }
        grad
    }

    /// The `a_i`, `rho` and the final gradient `G = Qa`.
    fn solve(mut self) -> (Vec<f64>, f64, Vec<f64>) {
        let l = self.x.rows();
        let total = NU * l as f64;
        let full = (total as usize).min(l);
        let mut alpha = vec![0.0; l];
        alpha[..full].fill(1.0);
        if full < l {
            alpha[full] = total - full as f64;
        }
        let mut grad = self.initial_gradient(&alpha);
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
        (alpha, rho, grad)
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

/// The cores worth using for `evaluations` kernel values: threads cost
/// tens of microseconds to start, a kernel value a few nanoseconds.
fn cores_for(evaluations: usize) -> usize {
    const PER_CORE: usize = 200_000;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    cores.min(evaluations / PER_CORE).clamp(1, 8)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_the_standard_librarys_to_two_units_in_the_last_place() {
        let mut x = 0.0;
        while x > -708.0 {
            let (ours, std) = (exp(x), x.exp());
            assert!(
                (ours - std).abs() <= 2.0 * f64::EPSILON * std,
                "exp({x}): {ours:e} vs {std:e}"
            );
            x -= 0.012_345_678_9;
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1e6) > 0.0 && exp(-1e6) < 1e-307);
    }

    #[test]
    fn kernel_blocks_are_the_same_numbers_on_every_cpu() {
        let rows: Vec<[f64; 3]> = (0..40)
            .map(|i| [i as f64 * 0.1, (i % 7) as f64, -(i as f64).sqrt()])
            .collect();
        let columns = Columns::of(&Matrix::from_rows(&rows));
        let x = [1.0, 2.0, -3.0];
        let (mut fast, mut portable) = (vec![0.0; 37], vec![0.0; 37]);
        kernel(&columns, &x, 0.3, 3, &mut fast);
        kernel_portable(&columns, &x, 0.3, 3, &mut portable);
        for (j, (a, b)) in fast.iter().zip(&portable).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "row {}", j + 3);
            let r = rows[j + 3];
            let d2: f64 = r.iter().zip(&x).map(|(p, q)| (p - q) * (p - q)).sum();
            assert!((a - (-0.3 * d2).exp()).abs() <= 1e-15, "row {}", j + 3);
        }
    }

    fn ring(n: usize) -> Matrix {
        let rows: Vec<[f64; 3]> = (0..n)
            .map(|i| {
                let (r, t) = (1.0 + (i % 20) as f64 / 10.0, i as f64 * 0.7);
                [r * t.cos(), r * t.sin(), (i % 3) as f64]
            })
            .collect();
        Matrix::from_rows(&rows)
    }

    #[test]
    fn rows_computed_on_several_cores_are_the_numbers_computed_one_by_one() {
        let x = ring(700);
        let gamma = 0.4;
        let mut one = Solver::new(&x, gamma);
        for i in 0..x.rows() {
            one.ensure(i, i);
        }
        // Some rows cached before, the rest on three threads at once.
        let mut many = Solver::new(&x, gamma);
        for i in [3, 300, 301, 699] {
            many.ensure(i, i);
        }
        let rest: Vec<usize> = (0..x.rows())
            .filter(|i| ![3, 300, 301, 699].contains(i))
            .collect();
        many.ensure_on(&rest, 3);
        for i in 0..x.rows() {
            let (a, b) = (one.row(i), many.row(i));
            assert!(
                a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "row {i}"
            );
        }
    }

    #[test]
    fn the_start_a_cacheful_at_a_time_is_the_start_all_at_once() {
        let x = ring(700);
        let mut alpha = vec![0.0; 700];
        alpha[..350].fill(1.0);
        alpha[350] = 0.25;
        let whole = Solver::new(&x, 0.4).initial_gradient(&alpha);
        let mut small = Solver::new(&x, 0.4);
        small.capacity = 64;
        let parts = small.initial_gradient(&alpha);
        assert_eq!(small.order.len(), 64);
        assert!(
            whole
                .iter()
                .zip(&parts)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn training_scores_from_the_gradient_are_the_rows_scored_anew() {
        let x = ring(700);
        let (model, scores) = OneClassSvm::fit_scored(&x);
        for (row, s) in x.iter().zip(&scores) {
            let anew = model.score(row);
            // Q in single precision: within 3e-8 of G = rho - score.
            assert!(
                (s - anew).abs() <= 3e-8 * (model.rho - anew).abs() + 1e-12,
                "{s} vs {anew}"
            );
        }
    }

    #[test]
    fn a_far_row_is_outside_and_about_nu_of_the_training_rows_too() {
        let rows: Vec<[f64; 2]> = (0..200)
            .map(|i| {
                let (r, t) = (1.0 + (i % 20) as f64 / 10.0, i as f64 * 0.7);
                [r * t.cos(), r * t.sin()]
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        let model = OneClassSvm::fit(&x);
        assert!(model.score(&[30.0, -30.0]) > THRESHOLD);
        let outside = x.iter().filter(|r| model.score(r) > THRESHOLD).count();
        assert!((80..=120).contains(&outside), "{outside} of 200 outside");
        assert!(
            (100..=115).contains(&model.support_vectors()),
            "{}",
            model.support_vectors()
        );
    }
}
