//! The `k` nearest other rows of every row of a matrix, exactly: by squared
//! Euclidean distance as its definition computes it (`Σ (a_f - b_f)²`,
//! features in order), ties to the earlier row (the `k` smallest pairs
//! `(distance, row)`), as a sort of every distance would give.
//!
//! Brute force, as scikit-learn's for more than 15 features, made cheap in
//! two ways:
//!
//! - **Estimates first, then the definition for the few rows that may
//!   count.** Four rows at once are measured against every row by dot
//!   products in single precision (`|a|² + |b|² - 2a·b` of the rows
//!   centred and scaled by a power of two: one multiply-add a feature,
//!   eight to an instruction, each number read once for the four). An
//!   estimate `e` is within `t = c (|a|² + |b|²)` of the distance (`c`
//!   from the rounding of single precision, with room to spare), so the
//!   `k` rows with the smallest `e + t` bound the `k`-th distance from
//!   above, and every row with `e - t` under that bound is measured by the
//!   definition, and the neighbours chosen among those by it. The
//!   estimates decide how many rows are measured twice, never which are
//!   neighbours.
//! - **A bar from a neighbour's neighbours.** Rows are taken in the order a
//!   walk over the neighbour graph meets them (each next row one of the
//!   nearest of a row already done), so the `k` rows around the row it was
//!   reached from give a first bound that is already close, and only the
//!   few rows under it are looked at again. A row reached from no other
//!   (the first) takes the bound of all its estimates instead.
//!
//! Data too large or too degenerate for single precision (an overflow, or
//! every row the same) are measured by the definition throughout.

use std::sync::atomic::{AtomicBool, Ordering};

use super::Matrix;

/// The rows measured against every row in one pass.
const QUERIES: usize = 4;

/// `k` nearest other rows of each row of `x`, nearest first, as (squared
/// distance, row). `x` has more than `k` rows and `k > 0`.
pub fn of_every_row(x: &Matrix, k: usize) -> Vec<Vec<(f64, u32)>> {
    search(x, k, false)
}

/// [`of_every_row`], `portable` without the CPU's vector instructions.
fn search(x: &Matrix, k: usize, portable: bool) -> Vec<Vec<(f64, u32)>> {
    let n = x.rows();
    assert!(k > 0 && n > k, "{n} rows for {k} neighbours");
    let Some(mut estimates) = Estimates::of(x) else {
        return (0..n).map(|q| by_definition(x, q, k)).collect();
    };
    estimates.portable = portable;
    // A walk a core (for data large enough to repay starting them), each
    // from its own first row; a row belongs to the walk that claims it.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let walks = cores.min(n / 512).clamp(1, 8);
    let claimed: Vec<AtomicBool> = (0..n).map(|_| AtomicBool::new(false)).collect();
    let lists: Vec<Vec<(f64, u32)>> = if walks == 1 {
        walk(x, &estimates, k, &claimed, 0)
    } else {
        let (estimates, claimed) = (&estimates, &claimed);
        let found: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..walks)
                .map(|w| s.spawn(move || walk(x, estimates, k, claimed, w * n / walks)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("neighbour search"))
                .collect()
        });
        let mut lists = vec![Vec::new(); n];
        for walk in found {
            for (q, list) in walk.into_iter().enumerate() {
                if !list.is_empty() {
                    lists[q] = list;
                }
            }
        }
        lists
    };
    debug_assert!(lists.iter().all(|l| l.len() == k));
    lists
}

/// One walk over the neighbour graph from row `start`, taking the rows no
/// other walk has claimed: the neighbours of the rows it took (the others
/// empty).
fn walk(
    x: &Matrix,
    estimates: &Estimates,
    k: usize,
    claimed: &[AtomicBool],
    start: usize,
) -> Vec<Vec<(f64, u32)>> {
    let n = x.rows();
    let free = |q: usize| !claimed[q].load(Ordering::Relaxed);
    let claim = |q: usize| !claimed[q].swap(true, Ordering::Relaxed);
    let mut lists: Vec<Vec<(f64, u32)>> = vec![Vec::new(); n];
    // Rows still to do, each with the row it was reached from.
    let mut pending: Vec<(u32, u32)> = Vec::new();
    let mut fresh = 0;
    let mut kept: [Vec<(f32, u32)>; QUERIES] = std::array::from_fn(|_| Vec::with_capacity(n));
    let mut around = Vec::with_capacity(k + 1);
    loop {
        let mut batch: Vec<usize> = Vec::with_capacity(QUERIES);
        let mut limits = [f32::INFINITY; QUERIES];
        while batch.len() < QUERIES {
            let Some((q, p)) = pending.pop() else {
                break;
            };
            let (q, p) = (q as usize, p as usize);
            if !claim(q) {
                continue;
            }
            // The rows around `p` (`p` and its neighbours, one of which is
            // `q`): k others of `q`, so the farthest of them is at least
            // `q`'s k-th distance.
            around.clear();
            around.push((0.0, p as u32));
            around.extend(lists[p].iter().filter(|(_, o)| *o as usize != q).copied());
            squared_distances(x, x.row(q), &mut around);
            let farthest = around.iter().map(|(d, _)| *d).fold(0.0, f64::max);
            limits[batch.len()] = estimates.limit(q, farthest);
            batch.push(q);
        }
        if batch.is_empty() {
            while fresh < n && !claim((start + fresh) % n) {
                fresh += 1;
            }
            if fresh == n {
                break;
            }
            batch.push((start + fresh) % n);
        }
        // Four rows a pass; a short batch repeats its last row.
        let queries = std::array::from_fn(|i| batch[i.min(batch.len() - 1)]);
        estimates.candidates(queries, limits, &mut kept, k);
        for (i, q) in batch.iter().enumerate() {
            let found = estimates.nearest(x, *q, &mut kept[i], k);
            // Nearest taken first.
            pending.extend(
                found
                    .iter()
                    .rev()
                    .filter(|(_, o)| free(*o as usize))
                    .map(|(_, o)| (*o, *q as u32)),
            );
            lists[*q] = found;
        }
    }
    lists
}

/// The rows centred, scaled by a power of two and rounded to single
/// precision, feature after feature, with what bounds their estimates.
struct Estimates {
    rows: usize,
    /// The square of the scale.
    scale2: f64,
    /// `columns[f * rows + j]`: feature `f` of row `j`.
    columns: Vec<f32>,
    /// Squared norms of the rounded rows.
    norms: Vec<f32>,
    /// `slack[j]`: the part of the bound `t` that row `j` brings.
    slack: Vec<f32>,
    /// Without the CPU's vector instructions even where it has them.
    portable: bool,
}

impl Estimates {
    fn of(x: &Matrix) -> Option<Self> {
        let (n, m) = (x.rows(), x.cols());
        let mut means = vec![0.0; m];
        for r in x.iter() {
            for (s, v) in means.iter_mut().zip(r) {
                *s += v;
            }
        }
        means.iter_mut().for_each(|s| *s /= n as f64);
        let largest = x
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&means)
                    .map(|(v, c)| (v - c) * (v - c))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        if !(largest.is_finite() && largest > 0.0) {
            return None;
        }
        // Every centred row within the unit ball, scaled by a power of two.
        let scale = 2f64.powi(-(largest.log2() / 2.0).ceil() as i32);
        let mut columns = vec![0.0f32; m * n];
        for (j, r) in x.iter().enumerate() {
            for (f, (v, c)) in r.iter().zip(&means).enumerate() {
                columns[f * n + j] = ((v - c) * scale) as f32;
            }
        }
        let norms64: Vec<f64> = (0..n)
            .map(|j| (0..m).map(|f| f64::from(columns[f * n + j]).powi(2)).sum())
            .collect();
        // Single precision rounds each of the `m + 8` steps of an estimate
        // (rounding the rows, the dot product, the norms, the sums, the
        // comparison) by at most eps times the norms; sixteen times that,
        // plus what a number below single precision's normal range can lose.
        let c = 16.0 * (m + 8) as f64 * f64::from(f32::EPSILON);
        let tiny = (4 * m + 16) as f64 * 2f64.powi(-140);
        Some(Self {
            rows: n,
            scale2: scale * scale,
            columns,
            norms: norms64.iter().map(|v| *v as f32).collect(),
            slack: norms64.iter().map(|v| (c * v + tiny) as f32).collect(),
            portable: false,
        })
    }

    /// What `e - slack[j]` of an estimate from row `q` must not exceed
    /// for row `j` to be within squared distance `d2` (widened a little
    /// for the rounding of the bar itself).
    fn limit(&self, q: usize, d2: f64) -> f32 {
        self.widened(d2 * self.scale2 + f64::from(self.slack[q]))
    }

    /// `limit` widened for the rounding of the comparison itself, in
    /// single precision.
    fn widened(&self, limit: f64) -> f32 {
        (limit * (1.0 + 1e-6)).next_up() as f32
    }

    /// The rows each of `queries` may have among its nearest: those whose
    /// estimate less its slack is at most the query's limit, into `kept`
    /// as (estimate, row). The rows go by in runs; after each run, a query
    /// with many rows kept lowers its limit to the k-th smallest upper
    /// bound among them and drops the rows above it.
    fn candidates(
        &self,
        queries: [usize; QUERIES],
        mut limits: [f32; QUERIES],
        kept: &mut [Vec<(f32, u32)>; QUERIES],
        k: usize,
    ) {
        const RUN: usize = 512;
        kept.iter_mut().for_each(Vec::clear);
        let own: [f32; QUERIES] = queries.map(|q| self.norms[q]);
        let xs = self.queries(queries);
        let mut uppers = Vec::new();
        for from in (0..self.rows).step_by(RUN) {
            let rows = from..self.rows.min(from + RUN);
            self.run(&xs, own, limits, kept, rows);
            for (i, q) in queries.into_iter().enumerate() {
                if kept[i].len() > 2 * k {
                    limits[i] = limits[i].min(self.tighten(q, &mut kept[i], k, &mut uppers));
                }
            }
        }
    }

    /// The k-th smallest upper bound of the distances from row `q` to the
    /// rows in `kept` (not `q` itself), as a limit; `kept` keeps only the
    /// rows under it.
    fn tighten(
        &self,
        q: usize,
        kept: &mut Vec<(f32, u32)>,
        k: usize,
        uppers: &mut Vec<f64>,
    ) -> f32 {
        let own = f64::from(self.slack[q]);
        uppers.clear();
        uppers.extend(
            kept.iter()
                .filter(|(_, j)| *j as usize != q)
                .map(|(e, j)| f64::from(*e) + f64::from(self.slack[*j as usize]) + own),
        );
        if uppers.len() < k {
            return f32::INFINITY;
        }
        let (_, kth, _) = uppers.select_nth_unstable_by(k - 1, f64::total_cmp);
        let limit = self.widened(*kth + own);
        kept.retain(|(e, j)| e - self.slack[*j as usize] <= limit);
        limit
    }

    /// The rows `rows` against the four queries (`xs`, feature after
    /// feature; squared norms `own`), as [`Estimates::candidates`] says.
    fn run(
        &self,
        xs: &[[f32; QUERIES]],
        own: [f32; QUERIES],
        limits: [f32; QUERIES],
        kept: &mut [Vec<(f32, u32)>; QUERIES],
        rows: std::ops::Range<usize>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if !self.portable
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { self.run_avx2(xs, own, limits, kept, rows) };
        }
        self.run_from(xs, own, limits, kept, rows, |a, b, c| a * b + c);
    }

    /// [`Estimates::candidates`] sixteen rows at a time against the four
    /// queries: the 64 dot products stay in eight registers while every
    /// feature is added in, then each query's sixteen estimates are
    /// compared at once and only the rows under its limit are looked at.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2(
        &self,
        xs: &[[f32; QUERIES]],
        own: [f32; QUERIES],
        limits: [f32; QUERIES],
        kept: &mut [Vec<(f32, u32)>; QUERIES],
        rows: std::ops::Range<usize>,
    ) {
        use std::arch::x86_64::*;
        const TILE: usize = 16;
        let mut j = rows.start;
        while j + TILE <= rows.end {
            let dot = self.dots_avx2(xs, j);
            let (norms, slack) = (&self.norms[j..][..TILE], &self.slack[j..][..TILE]);
            // SAFETY: each reads eight numbers of sixteen.
            let (nr, sl) = unsafe {
                (
                    [
                        _mm256_loadu_ps(norms.as_ptr()),
                        _mm256_loadu_ps(norms[8..].as_ptr()),
                    ],
                    [
                        _mm256_loadu_ps(slack.as_ptr()),
                        _mm256_loadu_ps(slack[8..].as_ptr()),
                    ],
                )
            };
            // Every index below is a constant once the loops are unrolled,
            // so that the sums stay in registers.
            let two = _mm256_set1_ps(2.0);
            let e: [__m256; 2 * QUERIES] = std::array::from_fn(|s| {
                _mm256_fnmadd_ps(
                    two,
                    dot[s],
                    _mm256_add_ps(_mm256_set1_ps(own[s / 2]), nr[s % 2]),
                )
            });
            let masks: [i32; QUERIES] = std::array::from_fn(|i| {
                let limit = _mm256_set1_ps(limits[i]);
                let under = |h: usize| {
                    _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(
                        _mm256_sub_ps(e[2 * i + h], sl[h]),
                        limit,
                    ))
                };
                under(0) | under(1) << 8
            });
            if masks != [0; QUERIES] {
                let mut es = [[0.0f32; 8]; 2 * QUERIES];
                for (out, v) in es.iter_mut().zip(e) {
                    // SAFETY: writes the eight numbers of an array of eight.
                    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
                }
                for (i, mask) in masks.into_iter().enumerate() {
                    let es = es[2 * i..2 * i + 2].as_flattened();
                    let mut mask = mask as u32;
                    while mask != 0 {
                        let l = mask.trailing_zeros() as usize;
                        mask &= mask - 1;
                        kept[i].push((es[l], (j + l) as u32));
                    }
                }
            }
            j += TILE;
        }
        self.run_from(xs, own, limits, kept, j..rows.end, f32::mul_add);
    }

    /// The dot products of the four queries (`xs`, feature after feature)
    /// with rows `j..j + 16`: query `i` with the first eight at `2i`, the
    /// second eight at `2i + 1`. Its own function, so that the eight sums
    /// stay in registers while every feature is added in.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline(never)]
    fn dots_avx2(
        &self,
        xs: &[[f32; QUERIES]],
        j: usize,
    ) -> [std::arch::x86_64::__m256; 2 * QUERIES] {
        use std::arch::x86_64::*;
        let n = self.rows;
        let z = _mm256_setzero_ps();
        let (mut d0, mut d1, mut d2, mut d3, mut d4, mut d5, mut d6, mut d7) =
            (z, z, z, z, z, z, z, z);
        for (f, xf) in xs.iter().enumerate() {
            let col = self.columns[f * n + j..][..16].as_chunks::<8>().0;
            // SAFETY: each reads the eight numbers of an array of eight.
            let (lo, hi) = unsafe {
                (
                    _mm256_loadu_ps(col[0].as_ptr()),
                    _mm256_loadu_ps(col[1].as_ptr()),
                )
            };
            let b = _mm256_set1_ps(xf[0]);
            (d0, d1) = (_mm256_fmadd_ps(b, lo, d0), _mm256_fmadd_ps(b, hi, d1));
            let b = _mm256_set1_ps(xf[1]);
            (d2, d3) = (_mm256_fmadd_ps(b, lo, d2), _mm256_fmadd_ps(b, hi, d3));
            let b = _mm256_set1_ps(xf[2]);
            (d4, d5) = (_mm256_fmadd_ps(b, lo, d4), _mm256_fmadd_ps(b, hi, d5));
            let b = _mm256_set1_ps(xf[3]);
            (d6, d7) = (_mm256_fmadd_ps(b, lo, d6), _mm256_fmadd_ps(b, hi, d7));
        }
        [d0, d1, d2, d3, d4, d5, d6, d7]
    }

    /// The queries' features, feature after feature.
    fn queries(&self, queries: [usize; QUERIES]) -> Vec<[f32; QUERIES]> {
        let n = self.rows;
        (0..self.columns.len() / n)
            .map(|f| queries.map(|q| self.columns[f * n + q]))
            .collect()
    }

    /// [`Estimates::run`] a row at a time.
    #[inline(always)]
    fn run_from(
        &self,
        xs: &[[f32; QUERIES]],
        own: [f32; QUERIES],
        limits: [f32; QUERIES],
        kept: &mut [Vec<(f32, u32)>; QUERIES],
        rows: std::ops::Range<usize>,
        madd: impl Fn(f32, f32, f32) -> f32,
    ) {
        let n = self.rows;
        for j in rows {
            for i in 0..QUERIES {
                let dot = xs
                    .iter()
                    .enumerate()
                    .fold(0.0, |s, (f, xf)| madd(xf[i], self.columns[f * n + j], s));
                let e = madd(-2.0, dot, own[i] + self.norms[j]);
                if e - self.slack[j] <= limits[i] {
                    kept[i].push((e, j as u32));
                }
            }
        }
    }

    /// Row `q`'s `k` nearest others among its candidates `kept`: first
    /// those under the k-th smallest upper bound of their estimates, then
    /// those by the definition.
    fn nearest(
        &self,
        x: &Matrix,
        q: usize,
        kept: &mut Vec<(f32, u32)>,
        k: usize,
    ) -> Vec<(f64, u32)> {
        if kept.len() > k {
            self.tighten(q, kept, k, &mut Vec::with_capacity(kept.len()));
        }
        let mut rows: Vec<(f64, u32)> = kept
            .iter()
            .filter(|(_, j)| *j as usize != q)
            .map(|(_, j)| (0.0, *j))
            .collect();
        squared_distances(x, x.row(q), &mut rows);
        nearest_first(&mut rows, k)
    }
}

/// The `k` smallest of `rows` by (squared distance, row), in that order.
fn nearest_first(rows: &mut [(f64, u32)], k: usize) -> Vec<(f64, u32)> {
    let by_distance_then_row =
        |a: &(f64, u32), b: &(f64, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    let mut rows = rows;
    if rows.len() > k {
        rows.select_nth_unstable_by(k - 1, by_distance_then_row);
        rows = &mut rows[..k];
    }
    rows.sort_unstable_by(by_distance_then_row);
    rows.to_vec()
}

/// Row `q`'s `k` nearest others from every distance by the definition.
fn by_definition(x: &Matrix, q: usize, k: usize) -> Vec<(f64, u32)> {
    let mut all: Vec<(f64, u32)> = (0..x.rows())
        .filter(|j| *j != q)
        .map(|j| (0.0, j as u32))
        .collect();
    squared_distances(x, x.row(q), &mut all);
    nearest_first(&mut all, k)
}

/// Replaces the first of each pair by the squared distance from `a` to the
/// row it names, by the definition: features in order, each difference
/// squared and added. Four rows at a time, four sums side by side.
fn squared_distances(x: &Matrix, a: &[f64], rows: &mut [(f64, u32)]) {
    let (fours, rest) = rows.as_chunks_mut::<4>();
    for four in fours {
        let bs: [&[f64]; 4] = std::array::from_fn(|i| x.row(four[i].1 as usize));
        let mut sums = [0.0; 4];
        for (f, af) in a.iter().enumerate() {
            for i in 0..4 {
                let d = af - bs[i][f];
                sums[i] += d * d;
            }
        }
        for i in 0..4 {
            four[i].0 = sums[i];
        }
    }
    for (d2, r) in rest {
        *d2 = a
            .iter()
            .zip(x.row(*r as usize))
            .map(|(p, q)| (p - q) * (p - q))
            .fold(0.0, |s, d| s + d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers from a seed (xorshift), in [-1, 1).
    fn numbers(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    fn every_row_by_definition(x: &Matrix, k: usize) -> Vec<Vec<(f64, u32)>> {
        (0..x.rows()).map(|q| by_definition(x, q, k)).collect()
    }

    #[test]
    fn the_same_neighbours_as_every_distance_sorted() {
        let mut next = numbers(7);
        for (scale, offset, cols, rows) in [
            (1.0, 0.0, 21, 300),
            (1e-30, 0.0, 3, 150),
            (1e20, 5e20, 4, 150),
            (1.0, 1e7, 6, 120),
            (1e-200, 1e-190, 2, 90),
            (1.0, 0.0, 1, 70),
            // Enough rows for a walk a core.
            (1.0, 0.0, 8, 1100),
        ] {
            let mut data: Vec<f64> = (0..rows * cols).map(|_| offset + scale * next()).collect();
            // Duplicates and rows at equal distances (a grid).
            data.copy_within(0..cols * 5, cols * 5);
            for (i, v) in data[cols * 10..cols * 40].iter_mut().enumerate() {
                *v = offset + scale * ((i % 7) as f64 - 3.0) / 4.0;
            }
            let x = Matrix::new(cols, data);
            for k in [1, 5, 20] {
                let want = every_row_by_definition(&x, k);
                let case = format!("scale {scale}, offset {offset}, {cols} columns, k {k}");
                assert_eq!(of_every_row(&x, k), want, "{case}");
                assert_eq!(search(&x, k, true), want, "{case}, portable");
            }
        }
    }

    #[test]
    fn identical_rows_and_numbers_near_the_largest_are_measured_by_the_definition() {
        let same = Matrix::new(2, vec![3.0; 2 * 30]);
        assert_eq!(of_every_row(&same, 20), every_row_by_definition(&same, 20));
        let huge: Vec<f64> = (0..60)
            .map(|i| f64::MAX / 4.0 * if i % 3 == 0 { -1.0 } else { 0.5 })
            .collect();
        let huge = Matrix::new(2, huge);
        assert_eq!(of_every_row(&huge, 20), every_row_by_definition(&huge, 20));
    }
}
