//! Anomaly detectors on the ODDS cardio data (1,831 rows of 21 features):
//! fit plus score of every row per detector (goal: ten times faster than
//! scikit-learn, which bench/anomaly.sh times beside this), and the score of
//! one live event against the fitted model (target under 50 µs). Without
//! `--bench` (cargo test) the first 300 rows keep the test run quick.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use windflow::anomaly::{Detector, Matrix, Model, Table};

fn cardio() -> Matrix {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/anomaly/odds_cardio.csv");
    let table = Table::read(&file).expect("cardio fixture");
    if std::env::args().any(|a| a == "--bench") {
        return table.matrix;
    }
    let rows: Vec<&[f64]> = table.matrix.iter().take(300).collect();
    Matrix::from_rows(&rows)
}

fn detectors(c: &mut Criterion) {
    let x = cardio();
    // A live event: the first row, nudged off the training data.
    let event: Vec<f64> = x.row(0).iter().map(|v| v + 0.05).collect();
    let mut fit = c.benchmark_group("anomaly/fit+score cardio");
    fit.sample_size(10);
    for d in Detector::ALL {
        fit.bench_function(d.name(), |b| {
            b.iter(|| Model::fit_scored(d, black_box(&x), 0).unwrap())
        });
    }
    fit.finish();
    let mut one = c.benchmark_group("anomaly/score one event");
    for d in Detector::ALL {
        let model = Model::fit(d, &x, 0).unwrap();
        one.bench_function(d.name(), |b| b.iter(|| model.score(black_box(&event))));
    }
    one.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);
