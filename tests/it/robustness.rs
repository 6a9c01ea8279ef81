//! Malformed input never crashes anything: real scanner reports and Kubernetes
//! manifests, mutated thousands of ways (cut short, bytes changed, spans dropped
//! or repeated, JSON values swapped for values of another type), always get an
//! answer: a result, or an error that names the file. Seeds are fixed, so a
//! failure reproduces.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use windflow::scans::{gate, k8s, merge, report};

fn fixtures(dir: &str, ext: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scans")
        .join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if ext.iter().any(|e| p.to_string_lossy().ends_with(e)) {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures under {dir}");
    out
}

/// One mutation of `src`, at random.
fn mutate(src: &[u8], rng: &mut StdRng) -> Vec<u8> {
    const STRUCTURE: &[u8] = b"{}[]\":,0-9aZ \n\t#&*!|>'%\\";
    let mut b = src.to_vec();
    if b.is_empty() {
        return b"{".to_vec();
    }
    let at = rng.random_range(0..b.len());
    match rng.random_range(0..5) {
        0 => b.truncate(at),
        1 => b[at] = STRUCTURE[rng.random_range(0..STRUCTURE.len())],
        2 => {
            let end = (at + rng.random_range(1..64)).min(b.len());
            b.drain(at..end);
        }
        3 => {
            let end = (at + rng.random_range(1..64)).min(b.len());
            let span = b[at..end].to_vec();
            b.splice(at..at, span);
        }
        _ => b[at] = rng.random(),
    }
    b
}

/// The JSON document with one value, anywhere in it, replaced by a value of
/// another type.
fn swap_a_value(doc: &Value, rng: &mut StdRng) -> Value {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    fn replace(v: &mut Value, target: &mut usize, with: &Value) {
        if *target == 0 {
            *v = with.clone();
            *target = usize::MAX;
            return;
        }
        *target -= 1;
        match v {
            Value::Array(a) => a.iter_mut().for_each(|x| replace(x, target, with)),
            Value::Object(o) => o.values_mut().for_each(|x| replace(x, target, with)),
            _ => {}
        }
    }
    let others = [
        Value::Null,
        Value::Bool(true),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!(""),
        serde_json::json!("\u{202e}\u{0}é"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!([{"x": []}]),
    ];
    let mut out = doc.clone();
    let mut target = rng.random_range(0..count(doc));
    replace(
        &mut out,
        &mut target,
        &others[rng.random_range(0..others.len())],
    );
    out
}

fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("panicked on {what}"))
}

/// A report goes the whole way: parse, merge, gate.
fn judge(file: &Path, bytes: &[u8], policy: &gate::Policy) -> Result<(), report::ReportError> {
    let r = report::parse_report(file, bytes)?;
    let merged = merge::merge(r.findings);
    let _ = merge::aggregate(&merged);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let _ = gate::evaluate(&merged, policy, today);
    Ok(())
}

#[test]
fn mutated_scanner_reports_give_a_result_or_an_error_naming_the_file() {
    let policy = gate::Policy::default_policy();
    let mut rng = StdRng::seed_from_u64(0x5ca7);
    let (mut refused, mut parsed) = (0, 0);
    for file in fixtures("", &[".json", ".golden"]) {
        if file.to_string_lossy().contains("/k8s/") {
            continue;
        }
        let src = std::fs::read(&file).unwrap();
        let doc: Option<Value> = serde_json::from_slice(&src).ok();
        for i in 0..150 {
            let bytes = match (&doc, i % 3) {
                (Some(doc), 0) => serde_json::to_vec(&swap_a_value(doc, &mut rng)).unwrap(),
                _ => mutate(&src, &mut rng),
            };
            let what = format!("{} (mutation {i})", file.display());
            match no_panic(&what, || judge(&file, &bytes, &policy)) {
                Ok(()) => parsed += 1,
                Err(e) => {
                    refused += 1;
                    let shown = e.to_string();
                    assert!(
                        shown.contains(&*file.file_name().unwrap().to_string_lossy()),
                        "{what}: {shown}"
                    );
                }
            }
        }
    }
    // Both outcomes happen: the mutations reach past the first check.
    assert!(
        refused > 100 && parsed > 100,
        "refused {refused}, parsed {parsed}"
    );
}

#[test]
fn mutated_manifests_are_checked_or_reported_document_by_document() {
    let mut rng = StdRng::seed_from_u64(0x6b38);
    let mut checked_objects = 0;
    for file in fixtures("k8s", &[".yaml", ".yml"]) {
        let src = std::fs::read(&file).unwrap();
        for i in 0..60 {
            let bytes = mutate(&src, &mut rng);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let what = format!("{} (mutation {i})", file.display());
            let report = no_panic(&what, || {
                let mut loaded = k8s::load::Loaded::default();
                k8s::load::load_str(&file, &text, &mut loaded);
                k8s::check_objects(loaded)
            });
            checked_objects += report.objects.len();
            // Every malformed document is named by file and number, with a reason.
            for problem in &report.errors {
                assert!(
                    problem.document >= 1 && !problem.message.is_empty(),
                    "{what}: {problem}"
                );
                assert!(
                    problem.to_string().contains(&problem.file),
                    "{what}: {problem}"
                );
            }
        }
    }
    assert!(
        checked_objects > 100,
        "mutations should leave most documents checkable"
    );
}

#[test]
fn every_pane_and_overlay_draws_at_every_terminal_size() {
    use crate::console::{app, focus, render, typed};
    // Sizes around the minimum (40x10), narrow and tall, short and wide.
    let sizes: Vec<(u16, u16)> = (1..=12)
        .flat_map(|h| [1, 20, 39, 40, 41, 60, 80].map(|w| (w, h)))
        .chain(
            (35..=90)
                .step_by(5)
                .flat_map(|w| [(w, 24), (w, 11), (w, 60)]),
        )
        .chain([(300, 5), (300, 100), (40, 200)])
        .collect();
    for pane in [
        "overview",
        "sessions",
        "secrets",
        "scans",
        "audit",
        "operators",
        "activity",
    ] {
        for overlay in ["", "?", ":", "/"] {
            let mut app = app();
            focus(&mut app, pane);
            typed(&mut app, overlay);
            for &(w, h) in &sizes {
                no_panic(&format!("{pane} with {overlay:?} at {w}x{h}"), || {
                    render(&mut app, w, h);
                });
            }
        }
    }
}
