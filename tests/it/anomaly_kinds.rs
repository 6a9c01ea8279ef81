//! The three kinds of anomaly through the real binary: `anomaly train`
//! trains each kind it has enough history of (a cold start per kind, the
//! events marked false positive left out), `crypto rewrap` reseals every
//! kind's models, the agent scores API windows and deployments live (once
//! across restarts) and retrains on its schedule. The histories and the
//! unusual events are the demo's generator's.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use windflow::anomaly::demo;
use windflow::anomaly::triage::{self, Mark, Status};
use windflow::audit::SecurityEvent;
use windflow::audit::source::LocalFollower;
use windflow::store::Store;

use crate::agent::{Agent, wait_until};
use crate::support::anomaly::audit_log;
use crate::support::cli::CliEnv;

/// When the generated history ends.
fn history_end() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(30)
}

/// The demo's history up to [`history_end`] (the audit stream at 1.5
/// events a second: about 270 sign-ins; 6 hours of API usage: about 360
/// windows), with its first `deployments` deployments.
fn history(deployments: usize) -> Vec<SecurityEvent> {
    let mut n = 0;
    demo::history(&mut rand::rng(), history_end(), 1.5)
        .into_iter()
        .filter(|e| {
            if e.event_type == "deployment" {
                n += 1;
                n <= deployments
            } else {
                true
            }
        })
        .collect()
}

/// An initialised data dir holding `history(deployments)`, and `ana`, an
/// operator with a grant.
fn with_history(deployments: usize) -> CliEnv {
    let env = CliEnv::new();
    env.expect(&["init"], 0);
    audit_log(&env.data())
        .append(&history(deployments))
        .unwrap();
    env.acting_as("ana")
}

fn model<'a>(out: &'a Value, kind: &str) -> &'a Value {
    out["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {out}"))
}

fn detected(env: &CliEnv, kind: &str) -> Vec<SecurityEvent> {
    env.events()
        .into_iter()
        .filter(|e| e.event_type == format!("{kind}_anomaly_detected"))
        .collect()
}

fn fp(kind: &str, source: &str) -> Mark {
    Mark {
        status: Status::FalsePositive,
        by: "ana".into(),
        at: "2026-12-04T10:00:00Z".into(),
        kind: kind.into(),
        source_event: Some(source.into()),
    }
}

#[test]
fn train_trains_each_kind_with_enough_history_and_leaves_out_false_positives() {
    let env = with_history(150);
    let data = env.data();
    let first = env.json(&["anomaly", "train", "--json"]);
    let login = model(&first, "login");
    assert_eq!(login["trained"], true, "{first}");
    assert_eq!(login["detector"], "iforest");
    let api = model(&first, "api");
    assert_eq!(api["trained"], true, "{first}");
    assert_eq!(api["detector"], "ocsvm");
    let windows = api["windows"].as_u64().unwrap();
    assert!(windows >= 200, "{first}");
    // Too few deployments: said, nothing stored for that kind alone.
    let deployment = model(&first, "deployment");
    assert_eq!(deployment["trained"], false, "{first}");
    assert_eq!(deployment["deployments"], 150);
    assert_eq!(deployment["needed"], 200);
    assert_eq!(
        deployment["message"],
        "150 deployments in the history, 200 needed: no model, so no deployment alerts yet"
    );

    // Two scored events marked false positive (an API window, a deployment).
    let replayed =
        windflow::anomaly::history::replay(&mut LocalFollower::from_start(&data.join("audit")), 0)
            .unwrap();
    let window = replayed.api[10].source.clone();
    assert!(window.starts_with("api:"), "{window}");
    let deploy = replayed.deployments[5].source.clone();
    let store = Store::open(&data).unwrap();
    triage::mark(&store, "a1", &fp("api", &window)).unwrap();
    triage::mark(&store, "a2", &fp("deployment", &deploy)).unwrap();
    drop(store);
    // 100 deployments more: enough now.
    let mut rng = rand::rng();
    let more: Vec<SecurityEvent> = (0..100)
        .flat_map(|i| demo::deployment(&mut rng, history_end() + Duration::seconds(i)))
        .collect();
    audit_log(&data).append(&more).unwrap();
    let text = env.expect(&["anomaly", "train"], 0);
    assert!(
        text.contains("deployment: model version 1 trained on 249 deployments (1 marked false positive left out)"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "api: model version 2 trained on {} API windows (1 marked false positive left out)",
            windows - 1
        )),
        "{text}"
    );
    let third = env.json(&["anomaly", "train", "--json"]);
    assert_eq!(model(&third, "deployment")["false_positives_left_out"], 1);
    assert_eq!(model(&third, "deployment")["deployments"], 249);
    assert_eq!(model(&third, "deployment")["detector"], "lof");
    assert_eq!(model(&third, "api")["false_positives_left_out"], 1);
    assert_eq!(model(&third, "login")["false_positives_left_out"], 0);
    assert_eq!(model(&third, "login")["version"], 3);

    // Every kind sealed in its versions; training audited per kind.
    let store = Store::open(&data).unwrap();
    for (kind, versions) in [("login", 3), ("api", 3), ("deployment", 2)] {
        let stored = store.list("anomaly", &format!("{kind}/")).unwrap();
        assert_eq!(stored.len(), versions, "{kind}");
        for (_, bytes) in &stored {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("\"scores\"") && !text.contains("\"user"));
        }
    }
    let trained: Vec<String> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "anomaly_model_trained")
        .map(|e| e.details["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(trained.iter().filter(|k| *k == "deployment").count(), 2);
    assert_eq!(trained.iter().filter(|k| *k == "api").count(), 3);

    // Key rotation covers every kind's models.
    let (_, sealed) = &store.list("anomaly", "deployment/").unwrap()[0];
    let old = windflow::crypto::sealed_kid(&String::from_utf8_lossy(sealed)).unwrap();
    drop(store);
    env.json(&["crypto", "add-key", "--json"]);
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("8 anomaly models"), "{err}");
    let report = env.json(&["crypto", "rewrap", "--json"]);
    let models = report["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["namespace"] == "anomaly models")
        .unwrap();
    assert_eq!(models["total"], 8, "{report}");
    assert_eq!(models["rewrapped"], 8, "{report}");
    let out = env.run(&["crypto", "retire-key", &old, "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("anomaly models"), "{err}");
}

/// `user`'s requests in the window starting `start`, as the demo makes them.
fn normal_window(user: &str, start: DateTime<Utc>) -> Vec<SecurityEvent> {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..300)
        .filter(|_| rng.random_bool(0.06))
        .map(|i| demo::request(&mut rand::rng(), user, start + Duration::seconds(i)))
        .collect()
}

fn by(events: Vec<SecurityEvent>, user: &str) -> Vec<SecurityEvent> {
    events
        .into_iter()
        .filter(|e| e.user_id.as_deref() == Some(user))
        .collect()
}

/// No scored event is named by two anomaly events.
fn assert_once(env: &CliEnv) {
    let mut sources: Vec<String> = ["login", "api", "deployment"]
        .iter()
        .flat_map(|k| detected(env, k))
        .map(|e| e.details["source_event"].as_str().unwrap().to_owned())
        .collect();
    let n = sources.len();
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), n, "an event recorded twice: {sources:?}");
}

fn window_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let ms = t.timestamp_millis();
    DateTime::from_timestamp_millis(ms - ms.rem_euclid(300_000)).unwrap()
}

fn scored(agent: &Agent, what: &str) -> u64 {
    agent
        .lines(&format!("{what} scored"))
        .iter()
        .map(|l| l["scored"].as_u64().unwrap())
        .sum()
}

#[test]
fn the_agent_scores_api_windows_and_deployments_once_and_records_the_unusual_ones() {
    let env = with_history(250);
    let first = env.json(&["anomaly", "train", "--json"]);
    for kind in ["login", "api", "deployment"] {
        assert_eq!(model(&first, kind)["trained"], true, "{first}");
    }
    let log = audit_log(&env.data());
    let mut rng = rand::rng();
    let mut agent = Agent::spawn(&env);
    agent.wait_for("scoring API windows with the stored model");
    agent.wait_for("scoring deployments with the stored model");

    // A normal deployment, then mallory's odd one.
    let t = history_end() + Duration::minutes(10);
    let normal = demo::deployment(&mut rng, t);
    let odd = demo::odd_deployment(&mut rng, t + Duration::seconds(5));
    log.append(&normal).unwrap();
    log.append(&odd).unwrap();
    // API: a normal window of carol's, then a burst of errors by frank; both
    // windows are over by the clock, so they close at once.
    let quiet = window_start(t) + Duration::minutes(5);
    log.append(&normal_window("carol", quiet)).unwrap();
    let burst_at = quiet + Duration::minutes(1);
    log.append(&demo::api_burst(&mut rng, "frank", burst_at))
        .unwrap();
    wait_until(
        "both deployments scored",
        || scored(&agent, "deployments") >= 2,
        || {},
    );
    assert_eq!(scored(&agent, "deployments"), 2);
    wait_until(
        "frank's window scored",
        || !by(detected(&env, "api"), "frank").is_empty(),
        || {},
    );

    let found = by(detected(&env, "deployment"), "mallory");
    assert_eq!(found.len(), 1, "{found:#?}");
    let d = &found[0].details;
    assert_eq!(found[0].user_id.as_deref(), Some("mallory"));
    assert_eq!(d["kind"], "deployment");
    assert_eq!(d["deployment"], "payments");
    assert_eq!(d["source_event"], odd.last().unwrap().id);
    assert_eq!(d["detector"], "lof");
    assert!(d["score"].as_f64().unwrap() > d["threshold"].as_f64().unwrap());
    let words = d["explanation"].as_str().unwrap();
    for part in [
        "mallory deployed payments at ",
        "for the first time",
        "9 services",
        "an image the gate blocked (registry.example/payments/svc-1:",
        "19 critical and high findings",
    ] {
        assert!(words.contains(part), "{words:?} lacks {part:?}");
    }

    let found = by(detected(&env, "api"), "frank");
    assert_eq!(found.len(), 1, "{found:#?}");
    let d = &found[0].details;
    assert_eq!(found[0].user_id.as_deref(), Some("frank"));
    assert_eq!(d["kind"], "api");
    assert_eq!(d["detector"], "ocsvm");
    assert_eq!(d["requests"], 400);
    assert_eq!(
        d["source_event"],
        format!(
            "api:frank:{}",
            quiet.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
    let words = d["explanation"].as_str().unwrap();
    assert!(
        words.starts_with("frank made 400 requests in 5 minutes from ")
            && words.contains("to 30 endpoints")
            && words.contains("(usual: "),
        "{words}"
    );
    // A critical risk is a critical event (it alerts).
    for ev in detected(&env, "api")
        .iter()
        .chain(&detected(&env, "deployment"))
    {
        let critical = ev.details["risk"] == "critical";
        assert_eq!(
            ev.severity,
            if critical {
                windflow::audit::Severity::Critical
            } else {
                windflow::audit::Severity::High
            }
        );
    }

    // Restarted: nothing scored twice; what came meanwhile is scored.
    agent.stop();
    let later = t + Duration::minutes(1);
    log.append(&demo::odd_deployment(&mut rng, later)).unwrap();
    let agent = Agent::spawn(&env);
    agent.wait_for("scoring deployments with the stored model");
    wait_until(
        "the deployment made while it was down",
        || scored(&agent, "deployments") >= 1,
        || {},
    );
    log.append(&demo::deployment(&mut rng, later + Duration::seconds(5)))
        .unwrap();
    wait_until(
        "the next deployment scored",
        || scored(&agent, "deployments") >= 2,
        || {},
    );
    assert_eq!(scored(&agent, "deployments"), 2, "only the new ones");
    assert_eq!(by(detected(&env, "deployment"), "mallory").len(), 2);
    assert_eq!(
        by(detected(&env, "api"), "frank").len(),
        1,
        "frank's window once"
    );
    assert_once(&env);
}

#[test]
fn the_agent_retrains_every_kind_on_its_schedule_and_scores_with_the_new_models() {
    let env = with_history(250);
    let conf = env.root.path().join("config/windflow");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("windflow.toml"),
        "[anomaly]\nretrain_every = \"2s\"\n",
    )
    .unwrap();
    let shown = env.json(&["config", "show", "--json"]);
    assert_eq!(
        shown["backends"]["anomaly"]["retrain_every_secs"], 2,
        "{shown}"
    );
    let agent = Agent::spawn(&env);
    // No model yet: the schedule trains every kind 2 s after the start.
    agent.wait_for("anomaly models retrained");
    let line = &agent.lines("anomaly models retrained")[0];
    for m in line["models"].as_array().unwrap() {
        assert_eq!(m["trained"], true, "{line}");
        assert_eq!(m["version"], 1, "{line}");
    }
    wait_until(
        "the second retraining picked up",
        || {
            agent
                .lines("scoring deployments with the stored model")
                .iter()
                .any(|l| l["model_version"] == 2)
        },
        || {},
    );
    let by_schedule: Vec<SecurityEvent> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "anomaly_model_trained")
        .collect();
    assert!(by_schedule.len() >= 6, "{by_schedule:#?}");
    assert!(
        by_schedule
            .iter()
            .all(|e| e.details["trigger"] == "schedule" && e.user_id.is_none())
    );
    // Live scoring uses the new model: a deployment after it is scored with version 2 or later.
    let mut rng = rand::rng();
    audit_log(&env.data())
        .append(&demo::odd_deployment(
            &mut rng,
            history_end() + Duration::minutes(3),
        ))
        .unwrap();
    wait_until(
        "the odd deployment recorded",
        || !by(detected(&env, "deployment"), "mallory").is_empty(),
        || {},
    );
    let found = by(detected(&env, "deployment"), "mallory");
    assert!(found[0].details["model_version"].as_u64().unwrap() >= 2);
}

/// `windflow --demo`: trained on its made-up history at start, the console
/// scores live, and the unusual sign-in and deployment the generator makes
/// (here every 3 s) are recorded as anomalies in the Audit pane (the API
/// burst only when its 5-minute window closes).
#[test]
fn the_demo_records_the_anomalies_it_makes() {
    use crate::support::pty::Pty;
    let t = std::time::Duration::from_secs(60);
    let mut pty = Pty::spawn(
        &crate::support::windflow_bin(),
        &["--demo"],
        &[("WINDFLOW_DEMO_ODD_EVERY", "3")],
        120,
        30,
    );
    pty.wait_for("demo (demo sign-in)", t).unwrap();
    pty.keys(":pane audit\r");
    pty.keys("/anomaly_detected\r");
    // The account that never signed in (the type column is cut at 24).
    pty.wait_for("login_anomaly_detected   contractor", t)
        .unwrap();
    pty.wait_for("deployment_anomaly_detec mallory", t).unwrap();
}
