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
pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool, mut poke: impl FnMut()) {
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
pub struct Agent {
    pub child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Agent {
    /// Starts one and waits until it delivers alerts.
    fn start(env: &CliEnv) -> Self {
        let agent = Self::spawn(env);
        agent.wait_for("delivering alerts");
        agent
    }

    /// Starts one and waits until it logged its start.
    pub fn spawn(env: &CliEnv) -> Self {
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
        agent.wait_for("agent started");
        agent
    }

    pub fn wait_for(&self, msg: &str) {
        wait_until(
            &format!("the agent (pid {}) to log {msg:?}", self.child.id()),
            || self.logged(msg),
            || {},
        );
    }

    pub fn logged(&self, msg: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l["msg"] == msg)
    }

    /// The log lines saying `msg`.
    pub fn lines(&self, msg: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["msg"] == msg)
            .cloned()
            .collect()
    }

    pub fn signal(&mut self, sig: i32) {
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            assert!(start.elapsed() < T, "the agent did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(code, Some(0));
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

// ------------------------------------------------------------------ several agents: the lease in Redis

use crate::support::sessions_redis::RedisServer;

/// Lease time of the agents in these tests (`[agent] lease`), renewed every second.
const LEASE: Duration = Duration::from_secs(3);

/// `hook`'s environment with Redis at `redis` and a 3 s lease in windflow.toml.
fn leased(hook: &Receiver, redis: &RedisServer) -> CliEnv {
    let env = hooked(hook).with_var("WINDFLOW_REDIS_URL", &redis.url());
    let conf = env.root.path().join("config/windflow/windflow.toml");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(
        &conf,
        format!(
            "[agent]\nlease = \"{}s\"\nrenew = \"1s\"\n",
            LEASE.as_secs()
        ),
    )
    .unwrap();
    env
}

/// Unix milliseconds of an agent's log line.
fn ts_ms(line: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(line["ts"].as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

fn lease_value(redis: &RedisServer, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query(&mut redis.client())
        .unwrap()
}

#[test]
fn two_agents_on_one_redis_one_leads_and_the_other_takes_over_after_a_kill_9() {
    let redis = RedisServer::start();
    let hook = servers::receiver();
    let env = leased(&hook, &redis);
    let mut a = Agent::spawn(&env);
    a.wait_for("leading: took the agents' lease");
    a.wait_for("delivering alerts");
    // A second agent of the same data dir starts, as a standby.
    let b = Agent::spawn(&env);
    b.wait_for("standing by: another agent holds the lease");
    let (pa, pb) = (a.child.id(), b.child.id());
    wait_until(
        "both agents in the status, the leader delivering alerts",
        || {
            let st = status(&env);
            st["agents"].as_array().is_some_and(|v| v.len() == 2) && st["delivers_alerts"] == true
        },
        || {},
    );
    let st = status(&env);
    assert_eq!(
        (st["running"].clone(), st["leader"].clone()),
        (true.into(), true.into()),
        "{st:#}"
    );
    assert_eq!(st["pid"], pa, "the leader is shown: {st:#}");
    assert_eq!(st["delivers_alerts"], true, "{st:#}");
    let standby = &st["agents"][1];
    assert_eq!(
        (standby["pid"].clone(), standby["leader"].clone()),
        (pb.into(), false.into()),
        "{st:#}"
    );
    let why = standby["leader_reason"].as_str().unwrap();
    assert!(why.contains(&format!("pid {pa} on")), "{why}");
    // The lease names its holder: host, pid and a token.
    let key = st["lease_key"].as_str().expect("the lease key").to_owned();
    let held: Value = serde_json::from_str(&lease_value(&redis, &key).unwrap()).unwrap();
    assert_eq!(held["pid"], pa);
    assert_eq!(held["host"], windflow::host::name());
    assert_eq!(held["token"].as_str().unwrap().len(), 32);

    // The leader delivers; the standby does not.
    let first = critical(&env, "frank");
    wait_until("the leader's alert", || ids(&hook).len() == 1, || {});

    // kill -9 of the leader: the standby takes the lease once it runs out.
    let killed_at = chrono::Utc::now().timestamp_millis();
    a.signal(libc::SIGKILL);
    let _ = a.child.wait();
    // An event recorded right after the kill (the command itself, or the
    // new leader, delivers it).
    let second = critical(&env, "grace");
    b.wait_for("leading: took the agents' lease");
    let took = ts_ms(&b.lines("leading: took the agents' lease")[0]) - killed_at;
    assert!(
        took <= 2 * LEASE.as_millis() as i64,
        "the standby took over {took} ms after the kill (lease {} ms)",
        LEASE.as_millis()
    );
    eprintln!(
        "takeover {took} ms after kill -9 (lease {} ms)",
        LEASE.as_millis()
    );
    b.wait_for("delivering alerts");
    wait_until(
        "the new leader in the status",
        || {
            let st = status(&env);
            st["pid"] == pb && st["leader"] == true && st["agents"].as_array().unwrap().len() == 1
        },
        || {},
    );
    // An event recorded after the takeover: the new leader delivers it.
    let third = critical(&env, "heidi");
    wait_until("the new leader's alert", || ids(&hook).len() >= 3, || {});
    wait_until("nothing owed", || status(&env)["owed_alerts"] == 0, || {});
    // Each exactly once.
    let mut got = ids(&hook);
    got.sort();
    let mut want: Vec<String> = [&first, &second, &third]
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(!b.logged("lost the agents' lease: leader duties stopped"));

    // A clean stop releases the lease at once (compare-and-delete).
    let mut b = b;
    b.stop();
    assert_eq!(lease_value(&redis, &key), None);
    assert!(b.logged("released the lease"));
}

#[test]
fn a_leader_that_cannot_reach_redis_stops_leading_and_says_why() {
    let mut redis = RedisServer::start();
    let hook = servers::receiver();
    let env = leased(&hook, &redis);
    let agent = Agent::spawn(&env);
    agent.wait_for("delivering alerts");
    redis.stop();
    agent.wait_for("cannot renew the agents' lease: leader duties stopped");
    wait_until(
        "the status to say the leader is unknown",
        || status(&env)["leader"].is_null(),
        || {},
    );
    let st = status(&env);
    let why = st["leader_reason"].as_str().unwrap();
    assert!(why.contains("Redis at redis://127.0.0.1:"), "{why}");
    assert_eq!(st["delivers_alerts"], false, "{st:#}");
    let text = env.expect(&["agent", "status"], 0);
    assert!(text.contains("not leading: Redis at"), "{text}");
    // It no longer holds the dispatch lock: the command delivers its own alert.
    let ev = critical(&env, "ivan");
    assert_eq!(ids(&hook), [ev["id"].as_str().unwrap()]);
    // Redis is back: it leads again.
    redis.restart();
    wait_until("leading again", || status(&env)["leader"] == true, || {});
    assert_eq!(agent.lines("leading: took the agents' lease").len(), 2);
}

#[test]
fn an_agent_without_a_lease_and_one_with_a_lease_do_not_share_a_data_dir() {
    let redis = RedisServer::start();
    let hook = servers::receiver();
    let env = leased(&hook, &redis);
    let _leased = Agent::spawn(&env);
    let out = env
        .cmd(&["agent"])
        .env_remove("WINDFLOW_REDIS_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("an agent already runs") && err.contains("WINDFLOW_REDIS_URL"),
        "{err}"
    );
}

#[test]
fn bad_agent_settings_name_the_file_and_key() {
    let hook = servers::receiver();
    let env = hooked(&hook);
    let conf = env.root.path().join("config/windflow/windflow.toml");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "[agent]\nlease = \"10q\"\n").unwrap();
    let out = env.run(&["agent"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("windflow.toml [agent] lease"), "{err}");
    let shown = env.json(&["config", "show", "--json"]);
    let why = shown["backends"]["agent"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("[agent] lease"), "{shown:#}");
    // Good settings show as they resolve, without Redis's password.
    std::fs::write(&conf, "[agent]\nlease = \"30s\"\n").unwrap();
    let out = env
        .cmd(&["config", "show", "--json"])
        .env("WINDFLOW_REDIS_URL", "redis://:pw-secret@127.0.0.1:1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("pw-secret"), "{text}");
    let lease = &serde_json::from_str::<Value>(&text).unwrap()["backends"]["agent"]["lease"];
    assert_eq!(
        (lease["lease_secs"].clone(), lease["renew_secs"].clone()),
        (30.into(), 10.0.into()),
        "{lease}"
    );
}

#[tokio::test]
async fn a_holder_whose_token_no_longer_matches_cannot_renew_or_release() {
    use windflow::agent::lease::{Acquired, Holder, Lease};
    use windflow::sessions::settings::RedisTls;
    let redis = RedisServer::start();
    let ttl = Duration::from_secs(5);
    let lease = |host: &str| {
        Lease::new(
            &redis.url(),
            &RedisTls::default(),
            "wf:test:lease",
            ttl,
            &Holder::me(host),
        )
        .unwrap()
    };
    let (a, b) = (lease("host-a"), lease("host-b"));
    assert_eq!(a.acquire().await.unwrap(), Acquired::Held);
    assert_eq!(
        a.acquire().await.unwrap(),
        Acquired::Held,
        "still ours: extended"
    );
    match b.acquire().await.unwrap() {
        Acquired::Taken {
            holder: Some(h),
            expires_in: Some(left),
        } => {
            assert!(h.contains("on host-a"), "{h}");
            assert!(left <= ttl, "{left:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(a.renew().await.unwrap());
    assert!(!b.renew().await.unwrap());
    assert!(!b.release().await.unwrap());
    // a's lease ran out and b took it: a's token is no longer in the key.
    let _: () = redis::cmd("DEL")
        .arg("wf:test:lease")
        .query(&mut redis.client())
        .unwrap();
    assert_eq!(b.acquire().await.unwrap(), Acquired::Held);
    assert!(!a.renew().await.unwrap(), "a cannot extend b's lease");
    assert!(!a.release().await.unwrap(), "a cannot delete b's lease");
    let held: String = redis::cmd("GET")
        .arg("wf:test:lease")
        .query(&mut redis.client())
        .unwrap();
    assert!(held.contains("host-b"), "{held}");
    let pttl: i64 = redis::cmd("PTTL")
        .arg("wf:test:lease")
        .query(&mut redis.client())
        .unwrap();
    assert!(
        pttl > 0 && pttl <= ttl.as_millis() as i64,
        "b's lease keeps its expiry: {pttl}"
    );
    assert!(b.release().await.unwrap());
    let gone: Option<String> = redis::cmd("GET")
        .arg("wf:test:lease")
        .query(&mut redis.client())
        .unwrap();
    assert_eq!(gone, None);
}
