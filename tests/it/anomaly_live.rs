//! Live scoring of sign-ins in `windflow agent`: the real binary follows the
//! audit log, scores each new sign-in with the stored model and records
//! `login_anomaly_detected` for the unusual ones, once, across restarts.

use serde_json::Value;
use windflow::audit::{SecurityEvent, Severity};

use crate::agent::{Agent, wait_until};
use crate::support::anomaly::{audit_log, event, last_weekday, odd_sign_in, office_history};
use crate::support::cli::CliEnv;

const DETECTED: &str = "login_anomaly_detected";
const MODEL_READY: &str = "scoring sign-ins with the stored model";
const BROKEN: &str = "the sign-in model does not open: sign-ins wait unscored";
const COLD: &str =
    "no sign-in model yet: sign-ins are not scored until `windflow anomaly train` stores one";

fn detected(env: &CliEnv) -> Vec<SecurityEvent> {
    env.events()
        .into_iter()
        .filter(|e| e.event_type == DETECTED)
        .collect()
}

/// The sign-ins the agent said it scored so far.
fn scored(agent: &Agent) -> u64 {
    agent
        .lines("sign-ins scored")
        .iter()
        .map(|l| l["scored"].as_u64().unwrap())
        .sum()
}

/// An initialised data dir with 250 office-hours sign-ins (50 weekdays)
/// before `last_weekday()`, and `ana`, an operator with a grant.
fn with_history() -> CliEnv {
    let env = CliEnv::new();
    env.expect(&["init"], 0);
    audit_log(&env.data())
        .append(&office_history(last_weekday(), 50))
        .unwrap();
    env.acting_as("ana")
}

fn train(env: &CliEnv) -> Value {
    let out = env.json(&["anomaly", "train", "--since", "120d", "--json"]);
    assert_eq!(out["models"][0]["trained"], true, "{out}");
    out
}

fn assert_explained(ev: &SecurityEvent, user: &str, at: &str) {
    let d = &ev.details;
    assert_eq!(ev.user_id.as_deref(), Some(user));
    assert_eq!(d["user"], user);
    assert!(
        d["score"].as_f64().unwrap() > d["threshold"].as_f64().unwrap(),
        "{d}"
    );
    assert_eq!(d["threshold"], 0.5);
    assert_eq!(d["model_version"], 1);
    // Critical risk is recorded as critical (so it alerts), the rest as high.
    let critical = d["risk"] == "critical";
    assert_eq!(
        ev.severity,
        if critical {
            Severity::Critical
        } else {
            Severity::High
        },
        "{d}"
    );
    let words = d["explanation"].as_str().unwrap();
    for part in [
        &format!("{user} signed in at {at} UTC")[..],
        "an unusual hour",
        "from a new network",
        "after 4 failures in 10 minutes",
    ] {
        assert!(words.contains(part), "{words:?} lacks {part:?}");
    }
}

#[test]
fn the_agent_scores_each_new_sign_in_once_and_records_the_unusual_one_explained() {
    let env = with_history();
    train(&env);
    let log = audit_log(&env.data());
    let day = last_weekday();
    let at = |h: u32, m: u32| day.and_hms_opt(h, m, 0).unwrap().and_utc();

    let mut agent = Agent::spawn(&env);
    agent.wait_for(MODEL_READY);
    // History is not scored: the first start takes the log so far as history.
    assert_eq!(scored(&agent), 0);
    let regular = event(
        "signin_success",
        "user0",
        at(13, 0),
        Some("10.0.0.12"),
        Some("browser-0"),
    );
    log.append(std::slice::from_ref(&regular)).unwrap();
    let odd = odd_sign_in("user1", at(3, 0), 7);
    log.append(&odd).unwrap();
    wait_until("two sign-ins scored", || scored(&agent) >= 2, || {});
    assert_eq!(scored(&agent), 2);
    let found = detected(&env);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_explained(&found[0], "user1", "03:00");
    assert_eq!(found[0].details["signin_event"], odd[4].id);
    assert_eq!(found[0].details["kind"], "login");

    // Restarted: nothing scored twice; a sign-in while it was down is scored.
    agent.stop();
    log.append(&odd_sign_in("user2", at(3, 30), 9)).unwrap();
    let agent = Agent::spawn(&env);
    agent.wait_for(MODEL_READY);
    wait_until("the missed sign-in scored", || scored(&agent) >= 1, || {});
    // One more regular sign-in, so that anything still to come has come.
    log.append(&[event(
        "signin_success",
        "user3",
        at(14, 0),
        Some("10.0.3.11"),
        Some("browser-3"),
    )])
    .unwrap();
    wait_until("the next sign-in scored", || scored(&agent) >= 2, || {});
    assert_eq!(scored(&agent), 2, "only the new sign-ins");
    let found = detected(&env);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_explained(&found[1], "user2", "03:30");

    // `anomaly list`: newest first, with the score and the words.
    let listed = env.json(&["anomaly", "list", "--json"]);
    let rows = listed["anomalies"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{listed}");
    assert_eq!(rows[0]["user"], "user2");
    assert_eq!(rows[1]["user"], "user1");
    assert_eq!(rows[1]["id"], found[0].id);
    assert_eq!(rows[1]["score"], found[0].details["score"]);
    assert_eq!(rows[1]["explanation"], found[0].details["explanation"]);
    let text = env.expect(&["anomaly", "list"], 0);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("user2 signed in at 03:30 UTC"), "{text}");
    assert!(lines[1].contains("user1 signed in at 03:00 UTC"), "{text}");
}

#[test]
fn without_a_model_the_agent_says_so_once_and_scores_nothing_until_one_is_trained() {
    let env = with_history();
    let log = audit_log(&env.data());
    let day = last_weekday();
    let at = |h: u32, m: u32| day.and_hms_opt(h, m, 0).unwrap().and_utc();
    let agent = Agent::spawn(&env);
    agent.wait_for(COLD);
    // An unusual sign-in with no model: history, never scored later.
    log.append(&odd_sign_in("user1", at(3, 0), 7)).unwrap();
    train(&env);
    agent.wait_for(MODEL_READY);
    log.append(&odd_sign_in("user2", at(3, 30), 9)).unwrap();
    wait_until("a sign-in scored", || scored(&agent) >= 1, || {});
    assert_eq!(scored(&agent), 1);
    assert_eq!(agent.lines(COLD).len(), 1, "said once");
    let found = detected(&env);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].user_id.as_deref(), Some("user2"));
}

#[test]
fn a_model_that_does_not_open_is_an_error_naming_the_cause_and_scores_nothing() {
    let env = with_history();
    train(&env);
    // The sealed model moved under another version's key: it must not open.
    let store = windflow::store::Store::open(&env.data()).unwrap();
    let sealed = store.get("anomaly", "login/0000000001").unwrap().unwrap();
    store.put("anomaly", "login/0000000002", &sealed).unwrap();
    drop(store);
    let agent = Agent::spawn(&env);
    agent.wait_for(BROKEN);
    let line = &agent.lines(BROKEN)[0];
    assert_eq!(line["level"], "error");
    let cause = line["error"].as_str().unwrap();
    assert!(
        cause.contains("\"login/0000000002\" does not open") && cause.contains("decryption"),
        "{cause}"
    );
    assert!(!agent.logged(MODEL_READY) && !agent.logged(COLD));
    let day = last_weekday();
    let at = day.and_hms_opt(3, 0, 0).unwrap().and_utc();
    audit_log(&env.data())
        .append(&odd_sign_in("user1", at, 7))
        .unwrap();
    // A model that opens is trained: the sign-in that waited is scored.
    train(&env);
    agent.wait_for(MODEL_READY);
    wait_until("the waiting sign-in scored", || scored(&agent) >= 1, || {});
    let found = detected(&env);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].details["model_version"], 3);
}
