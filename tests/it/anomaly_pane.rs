//! The Anomalies pane in the real console (pty): an anomaly the running
//! agent records shows as a row with its status; marking it from the
//! keyboard changes the status in the pane and in `anomaly list`; `S` goes
//! to the Sessions pane on the anomaly's user, badged, where one more key
//! (and its confirmation) revokes every session; hostile user names write
//! no control sequence to the terminal.

use std::time::Duration;

use serde_json::Value;

use crate::agent::wait_until;
use crate::support::anomaly::{audit_log, detected, last_weekday, odd_sign_in, office_history};
use crate::support::cli::CliEnv;
use crate::support::pty::Pty;

const T: Duration = Duration::from_secs(30);

#[track_caller]
fn wait(pty: &Pty, text: &str) {
    pty.wait_for(text, T)
        .unwrap_or_else(|e| panic!("{e}\n{}", pty.screen_text()));
}

/// The status `anomaly list --json` gives the anomaly `id`.
fn listed_status(env: &CliEnv, id: &str) -> Value {
    let out = env.json(&["anomaly", "list", "--since", "30d", "--json"]);
    out["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .map(|r| r["status"].clone())
        .unwrap_or(Value::Null)
}

/// The screen line holding `needle`.
fn line_of(pty: &Pty, needle: &str) -> String {
    pty.screen_text()
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_anomaly_scored_live_is_a_row_and_marking_it_changes_its_status_everywhere() {
    let env = CliEnv::new();
    env.expect(&["init"], 0);
    audit_log(&env.data())
        .append(&office_history(last_weekday(), 50))
        .unwrap();
    let env = env.acting_as("ana");
    let trained = env.json(&["anomaly", "train", "--since", "120d", "--json"]);
    assert_eq!(trained["models"][0]["trained"], true, "{trained}");
    // With no agent running, the console scores live (it holds the data
    // dir's scorer lock; the agent's own path is in anomaly_live.rs).
    let mut pty = env.signed_in_console("alice", 120, 30);
    pty.keys("8");
    wait(&pty, "Anomalies (0, 0 open)");
    wait(
        &pty,
        "No anomalies: new sign-ins are scored live with model version 1",
    );

    // An unusual sign-in: scored, and the anomaly recorded.
    let at = last_weekday().and_hms_opt(3, 0, 0).unwrap().and_utc();
    audit_log(&env.data())
        .append(&odd_sign_in("user1", at, 7))
        .unwrap();
    // (The console's own sign-in may be scored too: rows are found by user.)
    wait(&pty, "user1 signed in at 03:00 UTC");
    // Only user1's: the keys below act on the selected row.
    pty.keys("/user1\r");
    wait_until(
        "user1's row alone",
        || line_of(&pty, "alice signed in").is_empty(),
        || {},
    );
    let row = line_of(&pty, "user1 signed in at 03:00 UTC");
    assert!(row.contains("login") && row.contains("new"), "{row}");
    let id = env
        .events()
        .into_iter()
        .find(|e| e.event_type == "login_anomaly_detected" && e.user_id.as_deref() == Some("user1"))
        .expect("the anomaly was recorded")
        .id;
    assert!(row.contains(&id[..8]), "the short id is shown: {row}");
    assert_eq!(listed_status(&env, &id), "new");

    // `a`: acknowledged at once, in the pane and for the CLI.
    pty.keys("a");
    wait(&pty, "acknowledged (was new)");
    wait_until(
        "the row says acknowledged",
        || line_of(&pty, "user1 signed in").contains("acknowledged"),
        || {},
    );
    assert_eq!(listed_status(&env, &id), "acknowledged");
    let open = |pty: &Pty| {
        let title = line_of(pty, "Anomalies (");
        title
            .split(", ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    };
    let open_before = open(&pty);

    // `f`: a false positive is confirmed first; `n` leaves it as it was.
    pty.keys("f");
    wait(&pty, "a false positive?");
    pty.keys("n");
    wait(&pty, "cancelled: false_positive");
    assert_eq!(listed_status(&env, &id), "acknowledged");
    pty.keys("f");
    wait(&pty, "a false positive?");
    pty.keys("y");
    wait(&pty, "marked false_positive (was acknowledged)");
    wait_until(
        "one anomaly fewer open",
        || open(&pty) + 1 == open_before,
        || {},
    );
    assert!(line_of(&pty, "user1 signed in").contains("false_positive"));
    assert_eq!(listed_status(&env, &id), "false_positive");

    // Enter: why, in words and figures.
    pty.keys("\r");
    wait(&pty, "Why (Enter closes)");
    wait(&pty, "> threshold 0.5000");
    wait(&pty, "false_positive by alice");
    let marked: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "anomaly_marked")
        .collect();
    assert_eq!(marked.len(), 2, "one event per mark");
    assert!(marked.iter().all(|e| e.user_id.as_deref() == Some("alice")));
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
}

#[test]
fn from_an_anomaly_to_every_session_of_its_user_revoked_in_three_keys() {
    let env = CliEnv::new().acting_as("ops");
    let session = |user: &str, ip: &str| {
        env.json(&[
            "sessions",
            "create",
            "--user",
            user,
            "--ip",
            ip,
            "--user-agent",
            "curl/8.5.0",
            "--json",
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    session("frank", "203.0.113.10");
    session("frank", "198.51.100.7");
    let grace = session("grace", "203.0.113.20");
    audit_log(&env.data())
        .append(&[detected("frank", 0.66, "critical", 3)])
        .unwrap();

    let mut pty = env.signed_in_console("alice", 120, 30);
    // Sessions of a user with an open anomaly carry the badge; others not.
    pty.keys("2");
    wait(&pty, "⚠ anomaly");
    assert!(line_of(&pty, "frank").contains("⚠ anomaly"));
    assert!(!line_of(&pty, "grace").contains("⚠ anomaly"));
    pty.keys("8");
    wait(&pty, "frank signed in at 03:00 UTC");

    let mut keys = 0;
    let mut press = |pty: &mut Pty, k: &str| {
        keys += 1;
        pty.keys(k);
    };
    press(&mut pty, "S");
    wait(&pty, "Sessions user=frank (2 of 3)");
    press(&mut pty, "D");
    wait(&pty, "Revoke every session of frank?");
    press(&mut pty, "y");
    wait(&pty, "revoked 2 sessions of frank");
    assert_eq!(keys, 3, "from the anomaly to every session revoked");

    let frank = env.json(&["sessions", "list", "--user", "frank", "--json"]);
    let live = frank["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["revoked"] != true)
        .count();
    assert_eq!(live, 0, "{frank}");
    let left = env.json(&["sessions", "list", "--user", "grace", "--json"]);
    assert_eq!(left["sessions"][0]["id"], grace.as_str());
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
}

/// A user name and explanation with escape sequences, a bidi override and a
/// line break, in an anomaly row and its explanation: shown escaped, on one
/// line, and no sequence reaches the terminal.
#[test]
fn a_hostile_user_in_an_anomaly_row_writes_no_control_sequence() {
    let env = CliEnv::new();
    env.expect(&["init"], 0);
    let env = env.acting_as("ops");
    audit_log(&env.data())
        .append(&[detected(crate::hostile::HOSTILE, 0.7, "high", 2)])
        .unwrap();
    let mut pty = env.signed_in_console("alice", 200, 40);
    pty.keys("8");
    wait(&pty, "Anomalies (1, 1 open)");
    wait(&pty, "eve\\x1b]0;pwned");
    pty.keys("\r");
    wait(&pty, "Why (Enter closes)");
    let screen = pty.screen_text();
    assert!(
        !screen
            .lines()
            .any(|l| l.trim_start().starts_with("FAKE ROW")),
        "{screen}"
    );
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
    crate::hostile::assert_wrote_no_hostile_sequence(&pty);
}

/// `?` on the Anomalies pane lists its keys in both bundled keymaps: the
/// three marks, the sort and the way to the user's sessions.
#[test]
fn help_lists_the_anomaly_keys_in_both_keymaps() {
    use windflow::console::app::App;
    use windflow::console::help::{HelpRow, rows};
    for (keymap, keys) in [
        ("vim", ["a", "r", "f", "s", "S"]),
        ("arrows", ["Alt-a", "Alt-r", "Alt-f", "F6", "Alt-s"]),
    ] {
        let mut app = App::new(
            crate::console::settings(),
            windflow::console::panes(),
            "dark",
            keymap,
        )
        .unwrap();
        crate::console::focus(&mut app, "anomaly");
        let entries: Vec<(String, String)> = rows(&app)
            .into_iter()
            .filter_map(|r| match r {
                HelpRow::Entry { keys, description } => Some((keys, description)),
                HelpRow::Section(_) => None,
            })
            .collect();
        for (key, words) in keys.iter().zip([
            "Mark the selected anomaly acknowledged",
            "Mark the selected anomaly resolved",
            "Mark the selected anomaly a false positive",
            "Sort by the next column: time, score, risk",
            "The sessions of the selected anomaly's user",
        ]) {
            assert!(
                entries
                    .iter()
                    .any(|(k, d)| k.split(", ").any(|k| k == *key) && d.starts_with(words)),
                "{keymap}: no `{key}` for {words:?} in {entries:#?}"
            );
        }
    }
}
