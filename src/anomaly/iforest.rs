//! Isolation forest (Liu, Ting and Zhou, 2008), as scikit-learn's
//! `IsolationForest` with its defaults: 100 trees, each grown on 256 rows
//! drawn without replacement, to depth `ceil(log2(256))`, by splitting a
//! random feature at a uniform random point between its smallest and
//! largest value in the node.
//!
//! A row's path length in a tree is the depth of the leaf it falls in plus
//! `c(m)`, the average path length of an unsuccessful search in a binary
//! search tree of the `m` training rows that stopped in that leaf; the
//! score is `2^(-mean path length / c(256))`: near 1 for rows isolated
//! early, under 0.5 for ordinary ones.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, seq::index};
use serde::{Deserialize, Serialize};

use super::Matrix;

pub const TREES: usize = 100;
pub const MAX_SAMPLES: usize = 256;
/// scikit-learn's offset for `contamination="auto"`.
pub const THRESHOLD: f64 = 0.5;
/// A feature whose values in a node differ by no more than this is constant there.
const CONSTANT: f64 = 1e-7;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationForest {
    features: usize,
    /// `c(samples)`: the path length the scores are normalised by.
    norm: f64,
    trees: Vec<Vec<Node>>,
}

/// A split (`feature < u32::MAX`: rows with `x[feature] <= value` go to
/// `left`, the others to `left + 1`) or a leaf (`value` is the path length
/// of a row ending here).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Node {
    feature: u32,
    left: u32,
    value: f64,
}

const LEAF: u32 = u32::MAX;

/// `c(n)`: the average path length of an unsuccessful search in a binary
/// search tree of `n` keys, `2 H(n-1) - 2 (n-1) / n`.
pub fn average_path_length(n: usize) -> f64 {
    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

impl IsolationForest {
    /// Grows the forest on the rows of `x`; the same seed grows the same forest.
    pub fn fit(x: &Matrix, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let samples = MAX_SAMPLES.min(x.rows());
        let max_depth = (samples.max(2) as f64).log2().ceil() as usize;
        let trees = (0..TREES)
            .map(|_| {
                let mut rows = index::sample(&mut rng, x.rows(), samples).into_vec();
                let mut nodes = Vec::with_capacity(2 * samples);
                nodes.push(Node {
                    feature: LEAF,
                    left: 0,
                    value: 0.0,
                });
                let mut grower = Grower {
                    x,
                    rng: &mut rng,
                    nodes,
                    max_depth,
                    features: (0..x.cols() as u32).collect(),
                };
                grower.grow(0, &mut rows, 0);
                grower.nodes
            })
            .collect();
        Self {
            features: x.cols(),
            norm: average_path_length(samples),
            trees,
        }
    }

    pub fn features(&self) -> usize {
        self.features
    }

    /// `2^(-mean path length / c(samples))`: higher is more anomalous.
    pub fn score(&self, row: &[f64]) -> f64 {
        let total: f64 = self.trees.iter().map(|t| path_length(t, row)).sum();
        let mean = total / self.trees.len() as f64;
        if self.norm == 0.0 {
            // One training row: every row is as ordinary as it.
            return THRESHOLD;
        }
        (-mean / self.norm).exp2()
    }
}

fn path_length(nodes: &[Node], row: &[f64]) -> f64 {
    let mut n = nodes[0];
    while n.feature != LEAF {
        let next = if row[n.feature as usize] <= n.value {
            n.left
        } else {
            n.left + 1
        };
        n = nodes[next as usize];
    }
    n.value
}

struct Grower<'a> {
    x: &'a Matrix,
    rng: &'a mut StdRng,
    nodes: Vec<Node>,
    max_depth: usize,
    features: Vec<u32>,
}

impl Grower<'_> {
    /// Makes node `at` a split of `rows` or a leaf.
    fn grow(&mut self, at: usize, rows: &mut [usize], depth: usize) {
        let leaf = Node {
            feature: LEAF,
            left: 0,
            value: depth as f64 + average_path_length(rows.len()),
        };
        if depth >= self.max_depth || rows.len() <= 1 {
            self.nodes[at] = leaf;
            return;
        }
        // Features in random order; the first one not constant here is split.
        self.features.shuffle(self.rng);
        let split = self.features.iter().find_map(|&f| {
            let (lo, hi) = rows.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| {
                let v = self.x.row(r)[f as usize];
                (lo.min(v), hi.max(v))
            });
            (hi > lo + CONSTANT).then_some((f, lo, hi))
        });
        let Some((feature, lo, hi)) = split else {
            self.nodes[at] = leaf;
            return;
        };
        let mut value = self.rng.random_range(lo..hi);
        if value >= hi {
            value = lo;
        }
        let mut mid = 0;
        for i in 0..rows.len() {
            if self.x.row(rows[i])[feature as usize] <= value {
                rows.swap(i, mid);
                mid += 1;
            }
        }
        let left = self.nodes.len();
        self.nodes.extend([leaf, leaf]);
        self.nodes[at] = Node {
            feature,
            left: left as u32,
            value,
        };
        let (l, r) = rows.split_at_mut(mid);
        self.grow(left, l, depth + 1);
        self.grow(left + 1, r, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_path_length_is_the_bst_search_cost() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        assert!((average_path_length(256) - 10.244_770_920_119_917).abs() < 1e-12);
    }

    #[test]
    fn a_far_row_is_isolated_sooner_than_a_central_one() {
        let rows: Vec<[f64; 2]> = (0..300)
            .map(|i| [(i % 17) as f64 / 17.0, (i % 13) as f64 / 13.0])
            .collect();
        let forest = IsolationForest::fit(&Matrix::from_rows(&rows), 7);
        assert!(forest.score(&[40.0, -40.0]) > THRESHOLD);
        assert!(forest.score(&[0.5, 0.5]) < THRESHOLD);
    }
}
