//! Rows of numbers: a row-major matrix, and the CSV tables the CLI reads
//! (a header of column names, then numbers; a column named `label` is
//! ignored).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Rows of `cols` numbers each, stored row after row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// A matrix of `cols` columns from its numbers, row after row.
    pub fn new(cols: usize, data: Vec<f64>) -> Self {
        assert!(cols > 0 && data.len().is_multiple_of(cols), "ragged matrix");
        Self { cols, data }
    }

    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Self {
        let cols = rows.first().map_or(1, |r| r.as_ref().len());
        let data: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.as_ref().iter().copied())
            .collect();
        Self::new(cols, data)
    }

    pub fn rows(&self) -> usize {
        self.data.len() / self.cols
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    pub fn iter(&self) -> std::slice::ChunksExact<'_, f64> {
        self.data.chunks_exact(self.cols)
    }

    /// The variance of every number in the matrix taken together (NumPy's
    /// `X.var()`).
    pub fn variance(&self) -> f64 {
        let n = self.data.len() as f64;
        let mean = self.data.iter().sum::<f64>() / n;
        self.data
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            / n
    }
}

/// Rows of a [`Matrix`] stored feature after feature (`data[f * rows + j]`
/// is feature `f` of row `j`), so the distances from one row to a run of
/// them are plain loops over contiguous numbers, which the compiler turns
/// into vector instructions.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    rows: usize,
    data: Vec<f64>,
}

/// The rows [`Columns::squared_distances`] fills at a time: a block that
/// stays in the first-level cache while every feature is added in.
pub const BLOCK: usize = 256;

impl Columns {
    pub fn of(m: &Matrix) -> Self {
        let rows = m.rows();
        let mut data = vec![0.0; rows * m.cols()];
        for (j, row) in m.iter().enumerate() {
            for (f, v) in row.iter().enumerate() {
                data[f * rows + j] = *v;
            }
        }
        Self { rows, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The squared Euclidean distances from `x` to rows `start..` (as many
    /// as `out` holds), features added in order. With AVX2 when the CPU
    /// has it: the same operations in the same order, four numbers to an
    /// instruction instead of two, so the same results.
    pub fn squared_distances(&self, x: &[f64], start: usize, out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.squared_distances_avx2(x, start, out) };
        }
        self.squared_distances_portable(x, start, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn squared_distances_avx2(&self, x: &[f64], start: usize, out: &mut [f64]) {
        self.squared_distances_portable(x, start, out);
    }

    /// [`Columns::squared_distances`] for the CPU the code is built for:
    /// eight rows at a time with every feature added in, the eight sums
    /// kept in vector registers.
    #[inline(always)]
    pub(crate) fn squared_distances_portable(&self, x: &[f64], start: usize, out: &mut [f64]) {
        const TILE: usize = 16;
        let (tiles, rest) = out.as_chunks_mut::<TILE>();
        let mut j = start;
        for o in tiles {
            let mut acc = [0.0; TILE];
            for (f, xf) in x.iter().enumerate() {
                let col = self.data[f * self.rows + j..][..TILE].as_chunks::<TILE>().0[0];
                for l in 0..TILE {
                    let d = col[l] - xf;
                    acc[l] += d * d;
                }
            }
            *o = acc;
            j += TILE;
        }
        for o in rest {
            *o = x
                .iter()
                .enumerate()
                .map(|(f, xf)| {
                    let d = self.data[f * self.rows + j] - xf;
                    d * d
                })
                .fold(0.0, |a, b| a + b);
            j += 1;
        }
    }
}

/// A CSV file of numbers: its column names (without `label`) and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub matrix: Matrix,
}

/// A CSV file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {what}", file.display())]
pub struct DataError {
    pub file: PathBuf,
    pub what: String,
}

/// The column that holds ground truth in benchmark files; never a feature.
const LABEL: &str = "label";

impl Table {
    /// Reads `file`: a header line of column names, then one row of numbers
    /// a line, every row as wide as the header. Blank lines are skipped.
    pub fn read(file: &Path) -> Result<Table, DataError> {
        let err = |what: String| DataError {
            file: file.to_path_buf(),
            what,
        };
        let bytes = std::fs::read(file).map_err(|e| err(format!("cannot read: {e}")))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            err(format!("line {line}: not UTF-8 text"))
        })?;
        Self::parse(text).map_err(err)
    }

    /// Parses CSV text (see [`Table::read`]); the error says which row.
    pub fn parse(text: &str) -> Result<Table, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err("empty: expected a header line of column names".into());
        };
        let names: Vec<String> = header
            .split(',')
            .map(|h| h.trim().trim_matches('"').to_string())
            .collect();
        let label = names.iter().position(|n| n.eq_ignore_ascii_case(LABEL));
        let columns: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != label)
            .map(|(_, n)| n.clone())
            .collect();
        if columns.is_empty() {
            return Err("line 1: the header names no feature column".into());
        }
        if let Some(blank) = columns.iter().position(|c| c.is_empty()) {
            return Err(format!("line 1: column {} has no name", blank + 1));
        }
        let mut data = Vec::new();
        let mut row = 0;
        for (line, text) in lines {
            row += 1;
            let fields: Vec<&str> = text.split(',').collect();
            if fields.len() != names.len() {
                return Err(format!(
                    "row {row} (line {line}): {} fields, the header has {}",
                    fields.len(),
                    names.len()
                ));
            }
            for (i, field) in fields.iter().enumerate() {
                if Some(i) == label {
                    continue;
                }
                let field = field.trim();
                match field.parse::<f64>() {
                    Ok(v) if v.is_finite() => data.push(v),
                    _ => {
                        return Err(format!(
                            "row {row} (line {line}), column {}: {:?} is not a finite number",
                            names[i],
                            field.chars().take(40).collect::<String>()
                        ));
                    }
                }
            }
        }
        if row == 0 {
            return Err("no data rows after the header".into());
        }
        Ok(Table {
            matrix: Matrix::new(columns.len(), data),
            columns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_ignored_and_rows_are_kept_in_order() {
        let t = Table::parse("a,label,b\n1,0,2\n\n3,1,4.5\n").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.matrix, Matrix::new(2, vec![1.0, 2.0, 3.0, 4.5]));
    }

    /// 37 rows of 21 features, spread over several orders of magnitude.
    fn spread() -> Matrix {
        let rows: Vec<Vec<f64>> = (0..37)
            .map(|i| {
                (0..21)
                    .map(|f| ((i * 7 + f * 13) % 29) as f64 * 10f64.powi(f % 5 - 2) - 3.0)
                    .collect()
            })
            .collect();
        Matrix::from_rows(&rows)
    }

    #[test]
    fn columns_give_each_rows_squared_distance() {
        let m = spread();
        let columns = Columns::of(&m);
        assert_eq!(columns.rows(), 37);
        let x: Vec<f64> = m.row(5).iter().map(|v| v * 0.5 + 1.0).collect();
        // Whole tiles, a partial one, and a start that is not tile-aligned.
        for (start, len) in [(0, 37), (3, 17), (29, 8), (36, 1)] {
            let mut out = vec![f64::NAN; len];
            columns.squared_distances(&x, start, &mut out);
            for (j, d) in (start..).zip(&out) {
                let want: f64 = m
                    .row(j)
                    .iter()
                    .zip(&x)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                assert!(
                    (d - want).abs() <= 1e-12 * want.max(1.0),
                    "row {j}: {d} vs {want}"
                );
            }
        }
    }

    #[test]
    fn vector_and_portable_distances_are_the_same_numbers() {
        let m = spread();
        let columns = Columns::of(&m);
        let x = m.row(11);
        let (mut fast, mut portable) = (vec![0.0; 30], vec![0.0; 30]);
        columns.squared_distances(x, 7, &mut fast);
        columns.squared_distances_portable(x, 7, &mut portable);
        let bits = |v: &[f64]| v.iter().map(|d| d.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&portable));
        assert_eq!(fast[4], 0.0, "row 11 against itself");
    }

    #[test]
    fn bad_tables_name_the_row() {
        let err = |text: &str| Table::parse(text).unwrap_err();
        assert!(err("").starts_with("empty"));
        assert!(err("a,b\n").starts_with("no data rows"));
        assert_eq!(
            err("a,b\n1,2\n3\n"),
            "row 2 (line 3): 1 fields, the header has 2"
        );
        assert_eq!(
            err("a,b\n1,2\n3,x\n"),
            "row 2 (line 3), column b: \"x\" is not a finite number"
        );
        assert!(err("a,b\n1,NaN\n").contains("column b: \"NaN\""));
        assert!(err("label\n1\n").contains("no feature column"));
    }
}
