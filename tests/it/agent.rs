//! Alerts owed from the moment an event is recorded, delivered by whichever
//! process dispatches: the command that recorded it, a console, or the agent.
//! Real HTTP receivers on loopback; the real binary.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::audit_servers::{self as servers, Receiver};
use crate::support::cli::CliEnv;

const T: Duration = Duration::from_secs(20);

fn hooked(hook: &Receiver) -> CliEnv {
    CliEnv::new().with_var(
        "WINDFLOW_ALERT_WEBHOOK_URL",
        &format!("http://127.0.0.1:{}/hook", hook.port),
    )
}

fn critical(env: &CliEnv, user: &str) -> Value {
    env.json(&[
        "audit",
        "log",
        "--type",
        "session_hijack_attempt",
        "--severity",
        "critical",
        "--user",
        user,
        "--json",
    ])
}

/// Waits until `ok` holds, running `poke` between looks.
fn wait_until(what: &str, mut ok: impl FnMut() -> bool, mut poke: impl FnMut()) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < T, "timed out waiting for {what}");
        poke();
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ids(hook: &Receiver) -> Vec<String> {
    hook.got
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.body["event_id"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_critical_event_recorded_with_no_console_or_agent_is_alerted_by_the_command() {
    let hook = servers::receiver();
    let env = hooked(&hook);
    let ev = critical(&env, "frank");
    // Delivered before the command returned.
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["event_id"], ev["id"]);
    assert_eq!(got[0].body["event"]["user_id"], "frank");
    assert_eq!(got[0].idempotency_key.as_deref(), ev["id"].as_str());
    // Not critical: not alerted; and the first is not sent again.
    env.expect(
        &["audit", "log", "--type", "mfa_failure", "--user", "bob"],
        0,
    );
    env.expect(&["audit", "verify"], 0);
    assert_eq!(ids(&hook), [ev["id"].as_str().unwrap()]);
}

#[test]
fn an_alert_the_receiver_refused_stays_owed_and_goes_out_with_a_later_command() {
    let hook = servers::receiver();
    *hook.status.lock().unwrap() = 503;
    let env = hooked(&hook);
    let out = env.run(&[
        "audit",
        "log",
        "--type",
        "secret_exfiltration",
        "--severity",
        "critical",
        "--user",
        "mallory",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "the event itself is recorded");
    let ev: Value = serde_json::from_slice(&out.stdout).expect("stdout is only the JSON");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 alert(s) still owed"), "{err}");
    assert!(err.contains("503"), "names the cause: {err}");
    assert!(hook.got.lock().unwrap().is_empty());
    // The receiver is back: the next command of any kind delivers it once
    // its back-off is over.
    *hook.status.lock().unwrap() = 200;
    wait_until(
        "the owed alert",
        || !hook.got.lock().unwrap().is_empty(),
        || {
            env.expect(&["audit", "verify"], 0);
        },
    );
    assert_eq!(ids(&hook), [ev["id"].as_str().unwrap()]);
}
