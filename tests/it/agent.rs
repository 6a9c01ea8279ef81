//! Alerts owed from the moment an event is recorded, delivered by whichever
//! process dispatches: the command that recorded it, a console, or the agent.
//! Real HTTP receivers on loopback; the real binary.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::audit_servers::{self as servers, Receiver};
use crate::support::cli::CliEnv;

const T: Duration = Duration::from_secs(20);

/// Alerts to `hook`; `audit log` records as `ops` (an admin in the store).
fn hooked(hook: &Receiver) -> CliEnv {
    CliEnv::new()
        .with_var(
            "WINDFLOW_ALERT_WEBHOOK_URL",
            &format!("http://127.0.0.1:{}/hook", hook.port),
        )
        .recording_as("ops")
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

/// `windflow agent` on `env`'s data dir, its JSON log lines kept.
struct Agent {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Agent {
    fn start(env: &CliEnv) -> Self {
        use std::io::BufRead;
        let mut child = env
            .cmd(&["agent"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the agent");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (l, err) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("the agent logs JSON lines: {e}: {line}"));
                l.lock().unwrap().push(v);
            }
        });
        let agent = Self { child, log };
        wait_until(
            "the agent to deliver alerts",
            || agent.logged("delivering alerts"),
            || {},
        );
        agent
    }

    fn logged(&self, msg: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l["msg"] == msg)
    }

    fn signal(&mut self, sig: i32) {
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status(env: &CliEnv) -> Value {
    env.json(&["agent", "status", "--json"])
}

#[test]
fn the_agent_delivers_what_commands_record_and_what_a_killed_agent_left_owed() {
    let hook = servers::receiver();
    let env = hooked(&hook);
    let st = status(&env);
    assert_eq!(st["running"], false, "{st}");
    let mut agent = Agent::start(&env);
    wait_until("the heartbeat", || status(&env)["leader"] == true, || {});
    let st = status(&env);
    assert_eq!(st["running"], true, "{st}");
    assert_eq!(st["pid"], agent.child.id());
    assert!(st["last_heartbeat"].as_i64().is_some(), "{st}");

    // The agent is the dispatcher: a command leaves the alert to it.
    let first = critical(&env, "frank");
    wait_until("the agent's alert", || ids(&hook).len() == 1, || {});
    assert_eq!(ids(&hook), [first["id"].as_str().unwrap()]);

    // Refused while the agent runs, so it stays owed; then the agent is killed.
    *hook.status.lock().unwrap() = 503;
    let second = critical(&env, "grace");
    // Owed from the moment it is recorded (the agent cannot deliver it).
    wait_until(
        "the alert to be owed",
        || status(&env)["owed_alerts"] == 1,
        || {},
    );
    agent.signal(libc::SIGKILL);
    let _ = agent.child.wait();
    assert_eq!(status(&env)["running"], false);
    assert!(ids(&hook).len() == 1, "nothing new delivered");

    // The next start delivers it.
    *hook.status.lock().unwrap() = 200;
    let mut agent = Agent::start(&env);
    wait_until(
        "the owed alert after a restart",
        || ids(&hook).len() == 2,
        || {},
    );
    assert_eq!(ids(&hook)[1], second["id"].as_str().unwrap());

    // SIGTERM stops it cleanly.
    agent.signal(libc::SIGTERM);
    let start = Instant::now();
    let code = loop {
        if let Some(s) = agent.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(start.elapsed() < T, "the agent did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    wait_until("the stop line", || agent.logged("agent stopped"), || {});
    assert_eq!(status(&env)["running"], false);
}

#[test]
fn one_agent_per_data_dir() {
    let hook = servers::receiver();
    let env = hooked(&hook);
    let _agent = Agent::start(&env);
    let out = env.run(&["agent"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("an agent already runs"), "{err}");
}

#[test]
fn agent_status_check_fails_unless_an_agent_runs() {
    let hook = servers::receiver();
    let env = hooked(&hook);
    let out = env.run(&["agent", "status", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("alerts go out only while a console or a command runs"),
        "says plainly what no agent means"
    );
    let _agent = Agent::start(&env);
    wait_until("the heartbeat", || status(&env)["leader"] == true, || {});
    env.expect(&["agent", "status", "--check"], 0);
}

#[test]
fn the_shipped_kubernetes_manifest_scores_100_with_no_findings() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/deploy/kubernetes");
    let v = CliEnv::new().json(&["scan", "manifests", dir, "--json"]);
    assert_eq!(v["score"], 100, "{v:#}");
    assert_eq!(v["findings"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["errors"], serde_json::json!([]), "{v:#}");
    assert_eq!(v["objects"][0]["kind"], "Deployment", "{v:#}");
    let text = std::fs::read_to_string(format!("{dir}/agent.yaml")).unwrap();
    for must in [
        "automountServiceAccountToken: false",
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        "drop: [\"ALL\"]",
        "secretKeyRef",
        "livenessProbe",
        "limits:",
    ] {
        assert!(text.contains(must), "agent.yaml lacks {must}");
    }
}

#[test]
fn the_shipped_systemd_unit_is_hardened() {
    // systemd's own offline review: exposure at most 2.0 of 10 ("OK").
    let unit = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/deploy/windflow-agent.service"
    );
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", unit])
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test installs it)");
    assert!(
        out.status.success(),
        "exposure above 2.0:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(unit).unwrap();
    for must in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/windflow",
        " agent\n",
    ] {
        assert!(text.contains(must), "the unit lacks {must:?}");
    }
}

/// Event types the server holds (it needs no sign-in), by asking the CLI's
/// own search against it.
fn indexed_types(env: &CliEnv) -> Vec<String> {
    let out = env.run(&["audit", "tail", "--json", "--lines", "1000"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["event_type"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn every_command_s_events_reach_elasticsearch_and_the_agent_drains_the_spool() {
    let mut server = servers::osmem(0);
    let env = CliEnv::new().with_var("ELASTICSEARCH_URL", &server.url());
    // operators add, mfa confirm, login, then secrets and sessions.
    env.operator_with_grant("ops");
    env.expect(
        &[
            "--operator",
            "ops",
            "secrets",
            "put",
            "deployments/api",
            "k=v",
        ],
        0,
    );
    env.expect(
        &[
            "--operator",
            "ops",
            "sessions",
            "create",
            "--user",
            "frank",
            "--ip",
            "192.0.2.9",
            "--user-agent",
            "curl/8",
        ],
        0,
    );
    let local: Vec<String> = env.event_types();
    let indexed = indexed_types(&env);
    for t in [
        "operator_added",
        "mfa_enrolled",
        "login_grant_opened",
        "secret_written",
        "session_created",
    ] {
        assert!(
            local.iter().any(|l| l == t),
            "{t} not in the local log: {local:?}"
        );
        assert!(
            indexed.iter().any(|l| l == t),
            "{t} not in Elasticsearch: {indexed:?}"
        );
    }
    assert_eq!(
        indexed.len(),
        local.len(),
        "every local event is indexed once"
    );

    // Elasticsearch down: a command keeps its event in the spool and says so;
    // the agent ships it once the server is back.
    server.stop();
    let out = env.run(&[
        "--operator",
        "ops",
        "sessions",
        "create",
        "--user",
        "grace",
        "--ip",
        "192.0.2.10",
        "--user-agent",
        "curl/8",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kept in the Elasticsearch spool"), "{err}");
    let _back = servers::osmem(server.port);
    let _agent = AgentEs::start(&env);
    wait_until(
        "the agent to ship the spool",
        || env.json(&["agent", "status", "--json"])["spool_depth"] == 0,
        || {},
    );
    // The restarted server kept nothing (it is in memory): it holds exactly
    // the spooled events (the grant's step-up, then the session).
    assert_eq!(indexed_types(&env), ["step_up", "session_created"]);
}

/// The agent on a data dir with no alert channel (it only ships).
struct AgentEs(std::process::Child);

impl AgentEs {
    fn start(env: &CliEnv) -> Self {
        let child = env
            .cmd(&["agent"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the agent");
        let a = Self(child);
        wait_until(
            "the agent to run",
            || env.json(&["agent", "status", "--json"])["running"] == true,
            || {},
        );
        a
    }
}

impl Drop for AgentEs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_console_shows_the_agent_row_or_what_its_absence_means() {
    let hook = servers::receiver();
    let env = CliEnv::new().with_var(
        "WINDFLOW_ALERT_WEBHOOK_URL",
        &format!("http://127.0.0.1:{}/hook", hook.port),
    );
    let agent = Agent::start(&env);
    let pid = agent.child.id().to_string();
    let mut pty = env.signed_in_console("ops", 160, 40);
    let shown = format!("pid {pid} on");
    pty.wait_for(&shown, T)
        .unwrap_or_else(|e| panic!("{e}: {}", pty.screen_text()));
    drop(agent);
    pty.wait_for("alerts go out only while a console", T)
        .unwrap_or_else(|e| panic!("{e}: {}", pty.screen_text()));
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
}

#[test]
fn a_subcommand_s_help_lists_its_own_options_first_and_no_console_options() {
    let env = CliEnv::new();
    for args in [
        &["audit", "log", "--help"][..],
        &["sessions", "create", "--help"],
        &["agent", "status", "--help"],
    ] {
        let text = env.expect(args, 0);
        let own = text.find("Options:").expect("own options");
        let global = text.find("Global options:").expect("global options");
        assert!(own < global, "{args:?}: own options first:\n{text}");
        for console_only in ["--theme", "--keymap", "--mouse", "--demo"] {
            assert!(
                !text.contains(console_only),
                "{args:?} lists {console_only}:\n{text}"
            );
        }
    }
    let top = env.expect(&["--help"], 0);
    assert!(
        top.contains("Console options:") && top.contains("--theme"),
        "{top}"
    );
}
