//! Triage of detected anomalies through the real binary: `anomaly list`
//! with short ids and statuses (`--status`), `anomaly mark` by an operator
//! (audited, the scored event kept for training, refused read-only, to a
//! viewer, for unknown and ambiguous ids), `anomaly explain`.

use serde_json::Value;

use crate::support::anomaly::{audit_log, detected};
use crate::support::cli::CliEnv;

/// An initialised data dir acted on by `ops` (an admin) with two anomalies:
/// `mallory` (critical, an hour ago) and `trent` (high, now).
fn with_anomalies() -> (CliEnv, [String; 2]) {
    let env = CliEnv::new();
    env.expect(&["init"], 0);
    let env = env.acting_as("ops");
    let a = detected("mallory", 0.71, "critical", 60);
    let b = detected("trent", 0.58, "high", 1);
    audit_log(&env.data())
        .append(&[a.clone(), b.clone()])
        .unwrap();
    (env, [a.id, b.id])
}

fn statuses(env: &CliEnv, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["anomaly", "list", "--json"];
    all.extend_from_slice(args);
    env.json(&all)["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn an_operator_marks_an_anomaly_by_its_short_id_and_the_list_follows() {
    let (env, [mallory, trent]) = with_anomalies();
    // New until marked; the text shows each short id and status.
    assert_eq!(
        statuses(&env, &[]),
        [
            ("trent".into(), "new".into()),
            ("mallory".into(), "new".into())
        ]
    );
    let text = env.expect(&["anomaly", "list"], 0);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with(&trent[..8]), "{text}");
    assert!(first.contains("new"), "{text}");

    // Marked by the 8 characters the list shows.
    let out = env.json(&["anomaly", "mark", &mallory[..8], "ack", "--json"]);
    assert_eq!(out["id"], mallory.as_str());
    assert_eq!(
        (out["status"].as_str(), out["was"].as_str()),
        (Some("acknowledged"), Some("new"))
    );
    assert_eq!(out["mark"]["by"], "ops");
    assert_eq!(out["mark"]["source_event"], "signin-of-mallory");
    let said = env.expect(&["anomaly", "mark", &mallory[..10], "false-positive"], 0);
    assert!(
        said.contains("marked false_positive (was acknowledged)"),
        "{said}"
    );

    let rows = env.json(&["anomaly", "list", "--json"]);
    let row = rows["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == mallory.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["status"], "false_positive");
    assert_eq!(row["short_id"], &mallory[..8]);
    assert_eq!(row["mark"]["status"], "false_positive");
    assert_eq!(row["mark"]["kind"], "login");
    assert_eq!(row["mark"]["by"], "ops");
    assert_eq!(
        statuses(&env, &["--status", "false-positive"]),
        [("mallory".into(), "false_positive".into())]
    );
    assert_eq!(
        statuses(&env, &["--status", "new"]),
        [("trent".into(), "new".into())]
    );
    assert!(statuses(&env, &["--status", "resolved"]).is_empty());
    let none = env.expect(&["anomaly", "list", "--status", "resolved"], 0);
    assert!(
        none.contains("no resolved anomalies in the last 1d"),
        "{none}"
    );
    let bad = env.run(&["anomaly", "list", "--status", "done"]);
    assert_eq!(bad.status.code(), Some(2));

    // Each mark is audited under the operator, naming the anomaly and the change.
    let marked: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "anomaly_marked")
        .collect();
    assert_eq!(marked.len(), 2);
    assert_eq!(marked[1].user_id.as_deref(), Some("ops"));
    let d = &marked[1].details;
    assert_eq!(d["anomaly"], mallory.as_str());
    assert_eq!(
        (d["status"].as_str(), d["was"].as_str()),
        (Some("false_positive"), Some("acknowledged"))
    );
    assert_eq!(d["entity"], "mallory");
    assert_eq!(d["source_event"], "signin-of-mallory");
    assert_eq!(marked[1].severity, windflow::audit::Severity::Medium);

    // The store names the scored sign-in for the next training to leave out.
    let store = windflow::store::Store::open(&env.data()).unwrap();
    let fp = windflow::anomaly::triage::false_positives(&store, "login").unwrap();
    assert_eq!(fp.into_iter().collect::<Vec<_>>(), ["signin-of-mallory"]);
}

#[test]
fn marking_is_refused_read_only_to_a_viewer_and_for_unknown_or_ambiguous_ids() {
    let (env, [mallory, _]) = with_anomalies();
    let ro = env.run(&["--read-only", "anomaly", "mark", &mallory, "resolved"]);
    assert_eq!(ro.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&ro.stderr).contains("read-only mode: `windflow anomaly mark`"),
        "{}",
        String::from_utf8_lossy(&ro.stderr)
    );
    // A viewer may look, not mark.
    env.expect(&["operators", "add", "vic", "--role", "viewer"], 0);
    let viewer = env.run(&["--operator", "vic", "anomaly", "mark", &mallory, "resolved"]);
    assert_eq!(viewer.status.code(), Some(3), "{viewer:?}");
    env.expect(&["--operator", "vic", "anomaly", "explain", &mallory], 0);

    // Unknown, too short, and ambiguous ids: bad input, said escaped.
    let unknown = env.run(&["anomaly", "mark", "ffffffffff", "ack"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no anomaly id starts with"));
    let short = env.run(&["anomaly", "explain", &mallory[..3]]);
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 6"));
    let hostile = env.run(&["anomaly", "explain", "abc\u{1b}[2Jdef"]);
    assert_eq!(hostile.status.code(), Some(2));
    assert!(!hostile.stderr.contains(&0x1b), "{hostile:?}");
    let mut twins = [
        detected("amy", 0.6, "high", 5),
        detected("bo", 0.6, "high", 4),
    ];
    twins[0].id = "abcdef01-0000-4000-8000-000000000001".into();
    twins[1].id = "abcdef02-0000-4000-8000-000000000002".into();
    audit_log(&env.data()).append(&twins).unwrap();
    let many = env.run(&["anomaly", "mark", "abcdef0", "ack"]);
    assert_eq!(many.status.code(), Some(2));
    let err = String::from_utf8_lossy(&many.stderr);
    assert!(err.contains("starts 2 anomaly ids"), "{err}");
    assert!(
        err.contains(&twins[0].id) && err.contains(&twins[1].id),
        "{err}"
    );
    env.expect(&["anomaly", "mark", "abcdef02", "ack"], 0);
    // Nothing was marked by the refused runs.
    let marked = env
        .event_types()
        .into_iter()
        .filter(|t| t == "anomaly_marked")
        .count();
    assert_eq!(marked, 1);
    let bad_status = env.run(&["anomaly", "mark", &mallory, "new"]);
    assert_eq!(bad_status.status.code(), Some(2));
}

#[test]
fn explain_says_score_against_threshold_percentile_features_and_status() {
    let (env, [mallory, _]) = with_anomalies();
    let text = env.expect(&["anomaly", "explain", &mallory[..8]], 0);
    for part in [
        "kind            login",
        "user            mallory",
        "score           0.7100 > threshold 0.5000",
        "percentile      99.6",
        "risk            critical",
        "detector        iforest model version 1",
        "mallory signed in at 03:00 UTC, an unusual hour, from a new network",
        "  failures_10m  4",
        "  new_network   1",
        "  since_last    4.5800",
        "status          new (not marked yet)",
        "scored event    signin-of-mallory",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    env.expect(&["anomaly", "mark", &mallory, "resolved"], 0);
    let v: Value = env.json(&["anomaly", "explain", &mallory, "--json"]);
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["above_threshold"], true);
    assert_eq!(v["percentile"], 99.6);
    assert_eq!(v["features"]["failures_10m"], 4.0);
    assert_eq!(v["mark"]["by"], "ops");
    let text = env.expect(&["anomaly", "explain", &mallory], 0);
    assert!(
        text.contains("status          resolved by ops at "),
        "{text}"
    );
}
