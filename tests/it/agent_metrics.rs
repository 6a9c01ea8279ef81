//! `windflow agent --metrics-addr`: the page passes `promtool check metrics`
//! (Debian `prometheus`), its counters move with the events recorded and the
//! alerts sent, and the probes answer.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::alertmanager::http_get;
use crate::support::audit_servers as servers;
use crate::support::cli::CliEnv;

/// The agent with metrics on a free port, killed on drop.
struct Agent {
    child: std::process::Child,
    url: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(env: &CliEnv) -> Self {
        let port = servers::free_port();
        let child = env
            .cmd(&["agent", "--metrics-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the agent");
        let agent = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        agent.wait("ready", |a| a.get("/readyz").0 == 200);
        agent
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{path}", self.url)).unwrap_or((0, String::new()))
    }

    fn wait(&self, what: &str, ok: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ok(self) {
            assert!(Instant::now() < deadline, "the agent never got {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The value of the sample `name{labels}` on the page (0 when absent).
    fn sample(&self, series: &str) -> f64 {
        let (_, page) = self.get("/metrics");
        page.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }
}

fn promtool_check(page: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool is missing: run scripts/test (it installs the Debian package prometheus)",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{page}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_metrics_page_passes_promtool_and_moves_with_events_and_alerts() {
    let hook = servers::receiver();
    let env = CliEnv::new()
        .with_var(
            "WINDFLOW_ALERT_WEBHOOK_URL",
            &format!("http://127.0.0.1:{}/hook", hook.port),
        )
        .recording_as("ops");
    // Made ready before the agent (the agent also does it).
    env.expect(&["audit", "log", "--type", "warmup"], 0);
    let agent = Agent::start(&env);
    assert_eq!(agent.get("/healthz").0, 200);
    assert_eq!(agent.get("/nope").0, 404);
    let (code, page) = agent.get("/metrics");
    assert_eq!(code, 200);
    promtool_check(&page);
    assert!(page.contains("windflow_agent_leader 1"), "{page}");
    let recorded = r#"windflow_events_recorded_total{severity="critical",type="mfa_lockout"}"#;
    let sent = r#"windflow_alerts_sent_total{channel="webhook"}"#;
    assert_eq!(agent.sample(recorded), 0.0);
    let sent_before = agent.sample(sent);
    for user in ["a", "b", "c"] {
        env.expect(
            &[
                "audit",
                "log",
                "--type",
                "mfa_lockout",
                "--user",
                user,
                "--severity",
                "critical",
            ],
            0,
        );
    }
    agent.wait("the three events counted", |a| a.sample(recorded) == 3.0);
    agent.wait("the three alerts sent", |a| {
        a.sample(sent) == sent_before + 3.0
    });
    assert_eq!(hook.got.lock().unwrap().len(), 3);
    assert_eq!(
        agent.sample(r#"windflow_alerts_owed{channel="webhook"}"#),
        0.0
    );
    let (_, page) = agent.get("/metrics");
    promtool_check(&page);
}

#[test]
fn domain_counters_move_with_verdicts_sessions_anomalies_and_drift() {
    let env = CliEnv::new().recording_as("ops");
    env.expect(&["audit", "log", "--type", "warmup"], 0);
    let agent = Agent::start(&env);
    let log = |kind: &str, details: &str| {
        env.expect(&["audit", "log", "--type", kind, "--details", details], 0);
    };
    log(
        "deploy_gate_verdict",
        r#"{"decision":"blocked","partial":false}"#,
    );
    log(
        "deploy_gate_verdict",
        r#"{"decision":"allowed","partial":true}"#,
    );
    // Text from outside never becomes a label.
    log(
        "deploy_gate_verdict",
        r#"{"decision":"evil\"} 1\nx{","partial":false}"#,
    );
    log("session_created", "{}");
    log("sessions_revoked_user", "{}");
    log("login_anomaly_detected", "{}");
    log("isolation_drift", r#"{"deployment":"shop"}"#);
    log("isolation_drift", r#"{"deployment":"pay"}"#);
    log("isolation_drift", r#"{"deployment":"shop"}"#);
    log("isolation_drift_resolved", r#"{"deployment":"pay"}"#);
    // Every drift seen, and pay's resolution after them (logged last).
    agent.wait("the drift counted", |a| {
        a.sample("windflow_isolation_drift_events_total") == 3.0
            && a.sample("windflow_isolation_drifting_deployments") == 1.0
    });
    let blocked = r#"windflow_deploy_gate_verdicts_total{decision="blocked",partial="false"}"#;
    assert_eq!(agent.sample(blocked), 1.0);
    let partial = r#"windflow_deploy_gate_verdicts_total{decision="allowed",partial="true"}"#;
    assert_eq!(agent.sample(partial), 1.0);
    let other = r#"windflow_deploy_gate_verdicts_total{decision="other",partial="false"}"#;
    assert_eq!(agent.sample(other), 1.0);
    assert_eq!(
        agent.sample(r#"windflow_session_events_total{kind="created"}"#),
        1.0
    );
    assert_eq!(
        agent.sample(r#"windflow_session_events_total{kind="revoked_user"}"#),
        1.0
    );
    assert_eq!(
        agent.sample(r#"windflow_anomalies_detected_total{kind="login"}"#),
        1.0
    );
    let (_, page) = agent.get("/metrics");
    promtool_check(&page);
}

#[test]
fn a_taken_metrics_address_is_bad_input_naming_it() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let env = CliEnv::new();
    let out = env.run(&["agent", "--metrics-addr", &addr]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("--metrics-addr {addr}")), "{err}");
}

#[test]
fn the_kubernetes_manifest_exposes_the_metrics_port_to_scrapes_and_probes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/deploy/kubernetes/agent.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<serde_json::Value> = text
        .split("\n---")
        .map(|d| serde_yaml_ng::from_str(d).unwrap())
        .collect();
    let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let pod = &deploy["spec"]["template"];
    let notes = &pod["metadata"]["annotations"];
    assert_eq!(notes["prometheus.io/scrape"], "true");
    assert_eq!(notes["prometheus.io/port"], "9464");
    assert_eq!(notes["prometheus.io/path"], "/metrics");
    let c = &pod["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let i = args
        .iter()
        .position(|a| *a == "--metrics-addr")
        .expect("--metrics-addr");
    assert_eq!(args[i + 1], "0.0.0.0:9464");
    assert_eq!(c["ports"][0]["containerPort"], 9464);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    // Its network policy lets the scrapes in.
    let policy = docs
        .iter()
        .find(|d| d["kind"] == "NetworkPolicy" && d["metadata"]["name"] == "windflow-agent")
        .unwrap();
    assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], 9464);
}
