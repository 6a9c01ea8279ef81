//! Incident drills in the real console, counting the keys an on-call
//! engineer presses from the Overview (signed in, no step-up due): a hijack
//! alert to every session of the user revoked in 4 keys or fewer, a leaked
//! secret rotated in 6 or fewer.

use std::time::Duration;

use crate::support::cli::CliEnv;
use crate::support::pty::{Key, Pty};

const T: Duration = Duration::from_secs(20);

/// The console with every key pressed counted.
struct Drill {
    pty: Pty,
    keys: usize,
}

impl Drill {
    fn press(&mut self, key: &str) {
        self.keys += 1;
        self.pty.keys(key);
    }

    fn enter(&mut self) {
        self.keys += 1;
        self.pty.key(Key::Enter);
    }

    fn wait_for(&self, text: &str) {
        self.pty
            .wait_for(text, T)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.pty.screen_text()));
    }
}

fn create_session(env: &CliEnv, user: &str, ip: &str, agent: &str) -> String {
    let created = env.json(&[
        "sessions",
        "create",
        "--user",
        user,
        "--ip",
        ip,
        "--user-agent",
        agent,
        "--json",
    ]);
    created["id"].as_str().unwrap().to_owned()
}

#[test]
fn hijack_alert_to_every_session_of_the_user_revoked_in_four_keys() {
    let env = CliEnv::new().acting_as("ops");
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148";
    let stolen = create_session(&env, "frank", "203.0.113.10", firefox);
    create_session(&env, "frank", "203.0.113.10", firefox);
    create_session(&env, "frank", "198.51.100.7", phone);
    create_session(&env, "grace", "203.0.113.20", firefox);
    // The stolen id presented by another device: a hijack attempt, alerted.
    let out = env.run(&[
        "sessions",
        "validate",
        &stolen,
        "--ip",
        "192.0.2.66",
        "--user-agent",
        "curl/8.5.0",
    ]);
    assert_ne!(out.status.code(), Some(0), "the hijack was not refused");

    let mut drill = Drill {
        pty: env.signed_in_console("alice", 120, 30),
        keys: 0,
    };
    drill.press("2");
    drill.wait_for("HIJACK");
    // Listed first by risk: the hijacked row is selected.
    drill.press("D");
    drill.wait_for("sessions of frank");
    drill.press("y");
    drill.wait_for("revoked 2 sessions of frank");
    assert!(
        drill.keys <= 4,
        "{} keys from the alert to every session revoked",
        drill.keys
    );
    eprintln!("drill: hijack alert to revoke-all in {} keys", drill.keys);

    let left = env.json(&["sessions", "list", "--user", "frank", "--json"]);
    let live: Vec<_> = left["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["revoked"] != true)
        .collect();
    assert!(live.is_empty(), "frank still has sessions: {left}");
    let grace = env.json(&["sessions", "list", "--user", "grace", "--json"]);
    assert_eq!(
        grace["sessions"].as_array().map(Vec::len),
        Some(1),
        "{grace}"
    );
}

#[test]
fn a_leaked_secret_rotated_in_six_keys() {
    let env = CliEnv::new().acting_as("ops");
    env.expect(
        &[
            "secrets",
            "put",
            "deployments/api-7",
            "db_password=leaked-in-a-paste",
        ],
        0,
    );
    let mut drill = Drill {
        pty: env.signed_in_console("alice", 120, 30),
        keys: 0,
    };
    drill.press("3");
    drill.wait_for("deployments/api-7");
    drill.press("R");
    drill.wait_for("KEYS TO ROTATE");
    drill.enter();
    drill.wait_for("Rotate");
    drill.press("y");
    drill.wait_for("v1 → v2");
    assert!(drill.keys <= 6, "{} keys to rotate", drill.keys);
    eprintln!("drill: rotation in {} keys", drill.keys);

    let history = env.json(&["secrets", "history", "deployments/api-7", "--json"]);
    let text = history.to_string();
    assert!(text.contains("\"version\":2"), "{history}");
}
