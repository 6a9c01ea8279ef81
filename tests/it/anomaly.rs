//! `windflow anomaly score` through the real binary: each detector's
//! ROC-AUC on the ODDS cardio data against scikit-learn's (same defaults,
//! computed here from the test venv), seeded reproducibility, and bad input
//! named by file and row.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::cli::CliEnv;

const DETECTORS: [&str; 3] = ["iforest", "ocsvm", "lof"];

fn cardio() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/anomaly/odds_cardio.csv")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Our scores of `input` (fitted on `train`) per detector, written to
/// `dir` as DETECTOR.json, then scikit-learn's verdict on the same files.
fn against_sklearn(env: &CliEnv, train: &Path, input: &Path, dir: &Path) -> Value {
    for d in DETECTORS {
        let out = env.expect(
            &[
                "anomaly",
                "score",
                "--detector",
                d,
                "--train",
                path(train),
                "--input",
                path(input),
                "--json",
            ],
            0,
        );
        std::fs::write(dir.join(format!("{d}.json")), out).unwrap();
    }
    let python = crate::support::python_with("sklearn");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/anomaly_sklearn.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args([train, input, dir])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scikit-learn: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_auc_close(verdict: &Value, what: &str) {
    for d in DETECTORS {
        let ours = verdict[d]["auc_ours"].as_f64().unwrap();
        let theirs = verdict[d]["auc_sklearn"].as_f64().unwrap();
        eprintln!("{what} {d}: ROC-AUC ours {ours:.4}, scikit-learn {theirs:.4}");
        assert!(
            (ours - theirs).abs() <= 0.02,
            "{what} {d}: ROC-AUC {ours:.4} vs scikit-learn's {theirs:.4}"
        );
    }
}

fn scores(env: &CliEnv, detector: &str, train: &Path, input: &Path) -> Value {
    env.json(&[
        "anomaly",
        "score",
        "--detector",
        detector,
        "--train",
        path(train),
        "--input",
        path(input),
        "--json",
    ])
}

#[test]
fn training_scores_match_scikit_learn_on_cardio() {
    let env = CliEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let verdict = against_sklearn(&env, &cardio(), &cardio(), dir.path());
    assert_auc_close(&verdict, "cardio");
    // The deterministic detectors flag exactly the rows scikit-learn
    // predicts as outliers (LOF: each training row among the others).
    for d in ["ocsvm", "lof"] {
        let ours = scores(&env, d, &cardio(), &cardio());
        assert_eq!(ours["detector"], d);
        assert_eq!(ours["scores"].as_array().unwrap().len(), 1831);
        assert_eq!(ours["anomalies"], verdict[d]["outliers"], "{d}");
    }
}

#[test]
fn new_rows_are_scored_like_scikit_learn_on_held_out_cardio() {
    // Fit on the even rows, score the odd ones (LOF in novelty mode).
    let text = std::fs::read_to_string(cardio()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let (mut train, mut held) = (vec![header], vec![header]);
    for (i, l) in lines.enumerate() {
        if i % 2 == 0 { &mut train } else { &mut held }.push(l);
    }
    let dir = tempfile::tempdir().unwrap();
    let (t, h) = (dir.path().join("train.csv"), dir.path().join("held.csv"));
    std::fs::write(&t, train.join("\n")).unwrap();
    std::fs::write(&h, held.join("\n")).unwrap();
    let env = CliEnv::new();
    let verdict = against_sklearn(&env, &t, &h, dir.path());
    assert_auc_close(&verdict, "held-out");
    for d in ["ocsvm", "lof"] {
        assert_eq!(
            scores(&env, d, &t, &h)["anomalies"],
            verdict[d]["outliers"],
            "{d}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_scores() {
    let env = CliEnv::new();
    let run = |seed: &str| {
        env.json(&[
            "anomaly",
            "score",
            "--detector",
            "iforest",
            "--train",
            path(&cardio()),
            "--input",
            path(&cardio()),
            "--seed",
            seed,
            "--json",
        ])
    };
    let first = run("7");
    assert_eq!(first, run("7"));
    assert_ne!(first["scores"], run("8")["scores"]);
    assert_eq!(first["threshold"], 0.5);
}

#[test]
fn bad_input_names_the_file_and_row_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = file("good.csv", "a,b,label\n1,2,0\n3,4,1\n");
    let ragged = file("ragged.csv", "a,b\n1,2\n3\n");
    let word = file("word.csv", "a,b\n1,2\n\n3,x\n");
    let empty = file("empty.csv", "");
    let header = file("header.csv", "a,b\n");
    let small = file("small.csv", &format!("a,b\n{}", "1,2\n".repeat(20)));
    let other = file("other.csv", "a,c\n1,2\n");
    // (detector, train, input, the file named, what is said)
    let ragged_says = "row 2 (line 3): 1 fields, the header has 2";
    let word_says = "row 2 (line 4), column b: \"x\" is not a finite number";
    let cases = [
        ("iforest", &ragged, &good, &ragged, ragged_says),
        ("lof", &good, &ragged, &ragged, ragged_says),
        ("ocsvm", &word, &good, &word, word_says),
        ("iforest", &good, &word, &word, word_says),
        ("iforest", &empty, &good, &empty, "empty"),
        ("ocsvm", &good, &empty, &empty, "empty"),
        ("lof", &header, &good, &header, "no data rows"),
        (
            "lof",
            &small,
            &small,
            &small,
            "lof needs at least 21 training rows, got 20",
        ),
        ("ocsvm", &good, &other, &other, "columns a,c differ"),
    ];
    let env = CliEnv::new();
    for (detector, train, input, named, says) in cases {
        let out = env.run(&[
            "anomaly",
            "score",
            "--detector",
            detector,
            "--train",
            path(train),
            "--input",
            path(input),
            "--json",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{named:?}: {stderr}");
        assert!(stderr.contains(&format!("{}: ", path(named))), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        let error: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(error["error"]["kind"], "usage");
    }
    // A missing file is named too.
    let missing = dir.path().join("missing.csv");
    let out = env.run(&[
        "anomaly",
        "score",
        "--detector",
        "lof",
        "--train",
        path(&good),
        "--input",
        path(&missing),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv: cannot read"));
}

/// `n` sign-ins (user sessions) of five users on weekdays at office hours
/// from their own /24, the last one an hour ago.
fn office_sign_ins(n: usize, from: usize) -> Vec<windflow::audit::SecurityEvent> {
    let end = chrono::Utc::now() - chrono::Duration::hours(1);
    (from..from + n)
        .map(|i| {
            let user = format!("user{}", i % 5);
            let at = end - chrono::Duration::minutes(((from + n - 1 - i) * 37) as i64);
            let mut e = windflow::audit::SecurityEvent::new(
                "session_created",
                Some(&user),
                serde_json::json!({"session": format!("s{i}"), "ip": format!("10.0.{}.{}", i % 5, 10 + i % 7)}),
            );
            e.timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            e.user_agent = Some(format!("browser-{}", i % 5));
            e
        })
        .collect()
}

#[test]
fn train_waits_for_200_sign_ins_then_keeps_sealed_versions() {
    use windflow::anomaly::logins;
    let env = CliEnv::new();
    env.expect(&["init"], 0);
    let data = env.data();
    let keys = windflow::crypto::Keyring::from_env_or_file(
        &data.join(windflow::crypto::KEY_FILE_NAME),
        false,
    )
    .unwrap();
    let log = windflow::audit::local::LocalLog::with_keyring(
        data.join("audit"),
        std::sync::Arc::new(
            windflow::crypto::Keyring::from_env_or_file(
                &data.join(windflow::crypto::KEY_FILE_NAME),
                false,
            )
            .unwrap(),
        ),
    );
    log.append(&office_sign_ins(150, 0)).unwrap();

    // Cold start: said, nothing stored.
    // Training is an operator's act, with a second factor.
    env.expect(&["anomaly", "train"], 3);
    let env = env.acting_as("ana");
    let cold = env.json(&["anomaly", "train", "--json"]);
    assert_eq!(cold["models"][0]["trained"], false, "{cold}");
    assert_eq!(cold["models"][0]["sign_ins"], 150);
    assert_eq!(cold["models"][0]["needed"], 200);
    let store = windflow::store::Store::open(&data).unwrap();
    assert!(logins::latest(&store, &keys).unwrap().is_none());

    log.append(&office_sign_ins(100, 150)).unwrap();
    let first = env.json(&["anomaly", "train", "--json"]);
    assert_eq!(first["models"][0]["trained"], true, "{first}");
    assert_eq!(first["models"][0]["version"], 1);
    assert_eq!(first["models"][0]["sign_ins"], 250);
    // Sign-ins older than --since are left out (each batch: one every 37 minutes up to an hour ago).
    let recent = env.json(&["anomaly", "train", "--since", "3d", "--json"]);
    assert_eq!(recent["models"][0]["version"], 2);
    assert!(recent["models"][0]["sign_ins"].as_u64().unwrap() < 250);
    // Read-only refuses to store a model.
    env.expect(&["--read-only", "anomaly", "train"], 3);

    // Sealed: the stored bytes name no user and hold no feature.
    let stored = store.list(logins::NS, "login/").unwrap();
    assert_eq!(stored.len(), 2);
    for (_, bytes) in &stored {
        let text = String::from_utf8_lossy(bytes);
        // (Quoted: a quote is never part of the sealed text, a word may be by chance.)
        assert!(
            !text.contains("\"user")
                && !text.contains("\"hour_sin\"")
                && !text.contains("\"scores\""),
            "{}",
            &text[..text.len().min(200)]
        );
    }
    let model = logins::latest(&store, &keys).unwrap().expect("a model");
    assert_eq!(model.version, 2);
    // A sign-in at 03:12 from elsewhere after failures is an anomaly, explained.
    let mut history = logins::replay(
        &mut windflow::audit::source::LocalFollower::from_start(&data.join("audit")),
        0,
    )
    .unwrap()
    .history;
    let night = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(3, 12, 0)
        .unwrap()
        .and_utc();
    let event = |kind: &str, at: chrono::DateTime<chrono::Utc>, ip: Option<&str>| {
        let mut e = windflow::audit::SecurityEvent::new(kind, Some("user1"), serde_json::json!({}));
        e.timestamp = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        e.ip_address = ip.map(Into::into);
        e.user_agent = Some("curl/8".into());
        e
    };
    for m in 1..=4 {
        history.observe(&event(
            "signin_failure",
            night - chrono::Duration::minutes(m),
            None,
        ));
    }
    let odd = history
        .observe(&event("signin_success", night, Some("198.51.100.4")))
        .unwrap();
    let verdict = model.assess(&odd);
    assert!(verdict.anomaly, "{verdict:?}");
    assert!(
        verdict
            .explanation
            .starts_with("user1 signed in at 03:12 UTC")
            && verdict.explanation.contains("from a new network")
            && verdict
                .explanation
                .contains("after 4 failures in 10 minutes"),
        "{}",
        verdict.explanation
    );
    // Training is audited.
    let trained = crate::support::audit_events(&data)
        .into_iter()
        .filter(|e| e.event_type == "anomaly_model_trained")
        .count();
    assert_eq!(trained, 2);
}

/// `anomaly list` reads the anomaly events as `audit tail` does: within
/// `--since` (1d by default), newest first, outside text escaped.
#[test]
fn anomaly_list_shows_the_detected_anomalies_newest_first_escaped() {
    use crate::support::anomaly::audit_log;
    let env = CliEnv::new();
    env.expect(&["init"], 0);
    let empty = env.expect(&["anomaly", "list"], 0);
    assert!(
        empty.contains("no anomalies detected in the last 1d"),
        "{empty}"
    );
    let anomaly = |user: &str, explanation: &str, days_ago: i64| {
        let mut e = windflow::audit::SecurityEvent::new(
            "login_anomaly_detected",
            Some(user),
            serde_json::json!({
                "kind": "login", "at": "2026-01-05T03:00:00Z", "score": 0.61,
                "threshold": 0.5, "risk": "high", "model_version": 1,
                "explanation": explanation,
            }),
        );
        e.timestamp = (chrono::Utc::now() - chrono::Duration::days(days_ago))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        e
    };
    audit_log(&env.data())
        .append(&[
            anomaly("old", "old signed in at 03:00 UTC", 3),
            anomaly("ev\u{1b}[2Jil", "ev\u{1b}[2Jil signed in\nfake row", 0),
        ])
        .unwrap();
    let rows = env.json(&["anomaly", "list", "--json"]);
    assert_eq!(rows["anomalies"].as_array().unwrap().len(), 1, "{rows}");
    let week = env.json(&["anomaly", "list", "--since", "7d", "--json"]);
    let users: Vec<&str> = week["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["ev\u{1b}[2Jil", "old"]);
    let text = env.expect(&["anomaly", "list", "--since", "7d"], 0);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("score 0.610 > 0.5  high"),
        "{text}"
    );
    let bad = env.run(&["anomaly", "list", "--since", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since \"soon\""));
}
