//! Audit: the chained local log and `audit verify` (edit, delete, reorder),
//! the CLI, the Elasticsearch sink against a real osmem-server stopped and
//! restarted, and alert channels against real receivers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use windflow::audit::alert::{Alerter, Retry};
use windflow::audit::elastic::{EsClient, EsSink};
use windflow::audit::settings::{ChannelKind, ChannelSpec, EsSettings, Rule};
use windflow::audit::spool::Spool;
use windflow::audit::tail::TailFilter;
use windflow::audit::{AuditSink, SecurityEvent, Severity};

use crate::support::audit_servers as servers;
use crate::support::audit_tail::Tailed;
use windflow::audit::query::Source;

use crate::support::cli::CliEnv as Env;

/// The one log file of the env's data dir.
fn log_file(env: &Env) -> PathBuf {
    let dir = env.data().join("audit");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, lines: &[String]) {
    std::fs::write(p, lines.join("\n") + "\n").unwrap();
}

#[test]
fn cli_log_tail_search_and_verify_names_the_first_edited_removed_or_reordered_record() {
    let env = Env::new().recording_as("ops");
    for (i, (t, u)) in [
        ("signin_success", "alice"),
        ("secret_read", "bob"),
        ("mfa_failure", "carol"),
        ("deployment", "alice"),
        ("mfa_lockout", "mallory"),
        ("secret_read", "bob"),
    ]
    .iter()
    .enumerate()
    {
        let v = env.json_code(
            &[
                "audit",
                "log",
                "--type",
                t,
                "--user",
                u,
                "--details",
                &format!(r#"{{"n":{i},"path":"db/prod-{i}"}}"#),
                "--json",
            ],
            0,
        );
        assert_eq!(v["event_type"], *t);
        assert_eq!(v["tags"], json!(["security", "audit", t, "ingested"]));
        assert_eq!(v["details"]["actor"], "ops");
    }
    // Bad input is refused with a message naming it, and records nothing.
    let out = env.run(&["audit", "log", "--type", "x", "--details", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--details"));

    let v = env.json_code(&["audit", "verify", "--json"], 0);
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"], 6);

    // tail and search read the same log.
    let tail = env.expect(&["audit", "tail", "--severity", "high", "--json"], 0);
    let tail: Vec<SecurityEvent> = tail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].event_type, "mfa_lockout");
    let found = env.json_code(
        &["audit", "search", "PROD-3", "--since", "15m", "--json"],
        0,
    );
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["user_id"], "alice");
    let bob = env.json_code(&["audit", "search", "db/", "--user", "bob", "--json"], 0);
    assert_eq!(bob.as_array().unwrap().len(), 2);

    let file = log_file(&env);
    let original = lines(&file);

    // Edit: record 3's user changed.
    let mut edited = original.clone();
    edited[2] = edited[2].replace("\"carol\"", "\"dave\"");
    assert_ne!(edited[2], original[2]);
    write_lines(&file, &edited);
    let v = env.json_code(&["audit", "verify", "--json"], 1);
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad"]["line"], 3);
    assert_eq!(v["first_bad"]["seq"], 3);
    assert!(
        v["first_bad"]["reason"]
            .as_str()
            .unwrap()
            .contains("edited"),
        "{v}"
    );
    let text = env.expect(&["audit", "verify"], 1);
    assert!(text.contains(":3 (record 3"), "{text}");

    // Delete: record 4 removed.
    let mut deleted = original.clone();
    deleted.remove(3);
    write_lines(&file, &deleted);
    let v = env.json_code(&["audit", "verify", "--json"], 1);
    assert_eq!(v["first_bad"]["line"], 4);
    assert!(
        v["first_bad"]["reason"]
            .as_str()
            .unwrap()
            .contains("removed or reordered"),
        "{v}"
    );

    // Reorder: records 2 and 5 swapped.
    let mut reordered = original.clone();
    reordered.swap(1, 4);
    write_lines(&file, &reordered);
    let v = env.json_code(&["audit", "verify", "--json"], 1);
    assert_eq!(v["first_bad"]["line"], 2);
    assert_eq!(v["first_bad"]["seq"], 5);

    // Deleting the first record is caught too.
    write_lines(&file, &original[1..]);
    assert_eq!(
        env.json_code(&["audit", "verify", "--json"], 1)["first_bad"]["line"],
        1
    );

    // Restored, it verifies again and new appends continue the chain.
    write_lines(&file, &original);
    env.expect(
        &["audit", "log", "--type", "deployment", "--user", "alice"],
        0,
    );
    assert_eq!(
        env.json_code(&["audit", "verify", "--json"], 0)["records"],
        7
    );
}

fn es_settings(url: &str) -> EsSettings {
    EsSettings {
        url: url.to_owned(),
        username: None,
        password: None,
        api_key: None,
    }
}

async fn es_ids(client: &EsClient) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = client
            .search(&TailFilter::default(), 0, after.as_ref(), 1000)
            .await
            .unwrap();
        ids.extend(page.events.into_iter().map(|e| e.id));
        if page.hits < 1000 {
            return ids;
        }
        after = page.last_sort;
    }
}

async fn wait_count(client: &EsClient, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.count().await.ok() == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Elasticsearch never held {n} events"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn events(n: usize, tag: &str) -> Vec<SecurityEvent> {
    (0..n)
        .map(|i| {
            SecurityEvent::new(
                if i % 50 == 0 {
                    "mfa_lockout"
                } else {
                    "secret_read"
                },
                Some(&format!("user{}", i % 7)),
                json!({"phase": tag, "i": i}),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_sink_spools_while_the_server_is_down_and_indexes_every_event_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut server = servers::osmem(0);
    let port = server.port;
    let client = EsClient::new(&es_settings(&server.url())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let (tx, mut rx) = windflow::service::channel();
    let health = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = health.clone();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if let windflow::service::ServiceEvent::Health { service, health } = ev {
                seen.lock().unwrap().push((service, health.state));
            }
        }
    });
    let (sink, shipper) = EsSink::new(client.clone(), spool, None);
    sink.report_to(tx);
    let task = tokio::spawn(shipper);

    // Phase A: server up. 2,500 events: two full batches and a timed one.
    let a = events(2500, "a");
    for e in &a {
        sink.record(e).unwrap();
    }
    wait_count(&client, 2500).await;
    let mut got_a = es_ids(&client).await;
    got_a.sort();
    let mut want_a: Vec<_> = a.iter().map(|e| e.id.clone()).collect();
    want_a.sort();
    assert_eq!(got_a, want_a);
    assert!(sink.stats().batches >= 3, "{:?}", sink.stats());

    // The template maps the fields explicitly, and the index is by month.
    let http = reqwest::Client::new();
    let t: Value = http
        .get(format!(
            "{}/_index_template/windflow-security",
            server.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = t.to_string();
    assert!(text.contains("\"timestamp\":{\"type\":\"date\"}"), "{text}");
    assert!(
        text.contains("\"event_type\":{\"type\":\"keyword\"}"),
        "{text}"
    );
    let month_index = format!("windflow-security-{}", a[0].month());
    let cat = http
        .get(format!("{}/_cat/indices?format=json", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cat.contains(&month_index), "{cat}");

    // Phase B: the server stops mid-stream; events go to the spool.
    server.stop();
    let b = events(1500, "b");
    for (i, e) in b.iter().enumerate() {
        sink.record(e).unwrap();
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st = sink.stats();
    assert!(!st.connected && st.failures > 0, "{st:?}");
    assert!(
        st.last_error.as_deref().unwrap().contains("unreachable"),
        "{st:?}"
    );

    // Restarted on the same port (an empty in-memory server), the spool
    // drains: exactly the events of phase B, each once.
    let server2 = servers::osmem(port);
    wait_count(&client, 1500).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(client.count().await.unwrap(), 1500);
    let got_b = es_ids(&client).await;
    let want_b: Vec<_> = b.iter().map(|e| e.id.clone()).collect();
    // search_after on (timestamp, id) returns them in the order they were emitted.
    let mut want_sorted = want_b.clone();
    want_sorted.sort();
    let mut got_sorted = got_b.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want_sorted);
    assert_eq!(sink.stats().pending, 0);

    // Severity filter and search_after pages against the real server.
    let page = client
        .search(
            &TailFilter {
                severity: Some(Severity::High),
                ..Default::default()
            },
            chrono::Utc::now().timestamp_millis(),
            None,
            1000,
        )
        .await
        .unwrap();
    assert_eq!(page.events.len(), 30);
    assert!(page.events.iter().all(|e| e.event_type == "mfa_lockout"));
    // The console saw the sink connected, reconnecting, then connected again.
    use windflow::service::HealthState::{Connected, Reconnecting};
    let states: Vec<_> = health.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert_eq!(states, [Connected, Reconnecting, Connected]);
    assert!(health.lock().unwrap().iter().all(|(s, _)| *s == "audit-es"));
    task.abort();
    drop(server2);
}

fn spec(name: &str, kind: ChannelKind, url: String) -> ChannelSpec {
    ChannelSpec {
        name: name.into(),
        kind,
        url: url.into(),
        to: vec!["oncall@example.test".into()],
        from: Some("windflow@example.test".into()),
        ca_file: None,
        ..Default::default()
    }
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_webhook_slack_and_email_fold_repeats_and_dead_letter_failures() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hook = servers::receiver();
    let smtp = servers::smtp();
    // Held for the whole test: a merely free port could be taken by another
    // test's server.
    let dead = servers::dead_port();
    let specs = vec![
        spec(
            "webhook",
            ChannelKind::Webhook,
            format!("http://127.0.0.1:{}/hook", hook.port),
        ),
        spec(
            "slack",
            ChannelKind::Slack,
            format!("http://127.0.0.1:{}/services/T/B/x", hook.port),
        ),
        spec(
            "email",
            ChannelKind::Email,
            format!("smtp://127.0.0.1:{}", smtp.server.port),
        ),
        spec(
            "broken",
            ChannelKind::Webhook,
            format!("http://127.0.0.1:{}/", dead.port),
        ),
    ];
    let mut alerter = Alerter::spawn(
        specs,
        vec![Rule::default_critical()],
        Duration::from_secs(300),
        Retry {
            attempts: 3,
            first_backoff: Duration::from_millis(50),
        },
    )
    .unwrap();
    let state = alerter.state.clone();
    let t0 = Instant::now();
    let mut crit = SecurityEvent::new(
        "secret_exfiltration",
        Some("mallory"),
        json!({"path": "db/prod"}),
    );
    crit.severity = Severity::Critical;
    // Not critical: no alert under the default rule.
    alerter.observe(
        &SecurityEvent::new("mfa_failure", Some("bob"), json!({})),
        t0,
    );
    alerter.observe(&crit, t0);
    // Four repeats within the window fold into one alert.
    for i in 1..=4 {
        let mut again = crit.clone();
        again.id = format!("repeat-{i}");
        alerter.observe(&again, t0 + Duration::from_secs(i));
    }
    wait_for("webhook and slack", || hook.got.lock().unwrap().len() == 2).await;
    {
        let got = hook.got.lock().unwrap();
        let hookp = got.iter().find(|r| r.path == "/hook").unwrap();
        assert_eq!(hookp.body["event"]["event_type"], "secret_exfiltration");
        assert_eq!(hookp.body["count"], 1);
        let slack = got
            .iter()
            .find(|r| r.path.starts_with("/services"))
            .unwrap();
        assert!(
            slack.body["text"].as_str().unwrap().contains("CRITICAL"),
            "{:?}",
            slack.body
        );
    }
    // Both parts of the message, whichever read of the server's output brings them.
    wait_for("the email", || {
        let out = smtp.output.lock().unwrap();
        out.contains("secret_exfiltration") && out.contains("oncall@example.test")
    })
    .await;

    // The window closes: one alert with count 4.
    alerter.tick(t0 + Duration::from_secs(301));
    wait_for("the folded alert", || hook.got.lock().unwrap().len() == 4).await;
    assert!(
        hook.got
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.body["count"] == 4),
        "{:?}",
        hook.got.lock().unwrap()
    );
    // The broken channel retried and dead-lettered both alerts; the others are fine.
    wait_for("dead letters", || state.lock().unwrap().dead.len() == 2).await;
    let st = state.lock().unwrap();
    let broken = st.channels.iter().find(|c| c.name == "broken").unwrap();
    assert!(broken.failing && broken.failed == 2, "{broken:?}");
    assert!(
        broken
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreachable")
    );
    let webhook = st.channels.iter().find(|c| c.name == "webhook").unwrap();
    assert_eq!((webhook.sent, webhook.failing), (2, false));
    assert_eq!(st.folded, 4);
}

#[test]
fn cli_alerts_test_sends_through_the_configured_channel() {
    let env = Env::new();
    let hook = servers::receiver();
    let out = env
        .cmd(&["audit", "alerts", "test", "webhook", "--json"])
        .env(
            "WINDFLOW_ALERT_WEBHOOK_URL",
            format!("http://127.0.0.1:{}/x", hook.port),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], true);
    assert_eq!(
        hook.got.lock().unwrap()[0].body["event"]["event_type"],
        "alert_test"
    );
    // A receiver refusing the credentials is named as such.
    for code in [401u16, 403] {
        *hook.status.lock().unwrap() = code;
        let out = env
            .cmd(&["audit", "alerts", "test", "webhook"])
            .env(
                "WINDFLOW_ALERT_WEBHOOK_URL",
                format!("http://127.0.0.1:{}/x", hook.port),
            )
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains(&format!("authentication failed (HTTP {code})")),
            "{err}"
        );
    }
    // An unknown channel names what is configured.
    let out = env.run(&["audit", "alerts", "test", "pager"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no alert channel \"pager\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tails_the_local_log_as_it_grows_and_alerts_on_new_critical_events() {
    use windflow::audit::local::LocalLog;
    use windflow::audit::settings::AuditSettings;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir().unwrap();
    // The data dir's store exists before its history (as every process
    // opens it before recording); alerting is prepared only later.
    let store = windflow::store::Store::open(data.path()).unwrap();
    let ring = Arc::new(windflow::crypto::Keyring::new(
        windflow::crypto::MasterKey::generate(),
    ));
    let log = LocalLog::with_keyring(data.path().join("audit"), ring);
    // History before the console starts: shown, not alerted.
    let mut old = SecurityEvent::new("secret_exfiltration", Some("old"), json!({}));
    old.severity = Severity::Critical;
    log.record(&old).unwrap();
    for ev in events(99, "history") {
        log.record(&ev).unwrap();
    }
    let hook = servers::receiver();
    let settings = AuditSettings {
        tail_capacity: 150,
        channels: vec![spec(
            "webhook",
            ChannelKind::Webhook,
            format!("http://127.0.0.1:{}/h", hook.port),
        )],
        ..AuditSettings::default()
    };
    // The console delivers owed alerts: what was recorded before any
    // process prepared for them is history.
    windflow::audit::owed::prepare(&store, &data.path().join("audit")).unwrap();
    let mut tail = Tailed::spawn(&settings, data.path(), Some(store));
    tail.until("the history", |t| t.ring.len() == 100).await;
    // Appended by another writer while the tail runs.
    let mut crit = SecurityEvent::new("secret_exfiltration", Some("mallory"), json!({}));
    crit.severity = Severity::Critical;
    log.record(&crit).unwrap();
    for ev in events(99, "live") {
        log.record(&ev).unwrap();
    }
    tail.until("the live events", |t| t.ring.pushed() == 200)
        .await;
    assert_eq!(tail.ring.len(), 150);
    assert_eq!(tail.ring.dropped(), 50);
    assert_eq!(tail.ring.iter().last().unwrap().details["phase"], "live");
    tail.until("caught up", |t| !t.behind).await;
    assert_eq!(tail.source, Some(Source::Local));
    assert_eq!(tail.error, None);
    // The channels' state reaches the pane.
    tail.until("the webhook's delivery", |t| {
        t.alerts
            .channels
            .iter()
            .any(|c| c.name == "webhook" && c.sent == 1)
    })
    .await;
    wait_for("the alert", || hook.got.lock().unwrap().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = hook.got.lock().unwrap();
    assert_eq!(got.len(), 1, "history must not alert: {got:?}");
    assert_eq!(got[0].body["event"]["user_id"], "mallory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_polls_elasticsearch_with_search_after_skipping_and_repeating_nothing() {
    use windflow::audit::settings::AuditSettings;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = servers::osmem(0);
    let client = EsClient::new(&es_settings(&server.url())).unwrap();
    client.put_template().await.unwrap();
    // Many events in the same millisecond: the id breaks the tie.
    let mut first = events(2500, "a");
    let ts = first[0].timestamp.clone();
    for e in first.iter_mut().take(1200) {
        e.timestamp = ts.clone();
    }
    client.bulk(&first[..1500]).await.unwrap();
    client.bulk(&first[1500..]).await.unwrap();
    let settings = AuditSettings {
        elasticsearch: Some(es_settings(&server.url())),
        ..AuditSettings::default()
    };
    let data = tempfile::tempdir().unwrap();
    let mut tail = Tailed::spawn(&settings, data.path(), None);
    tail.until("the first events", |t| t.ring.len() == 2500)
        .await;
    let more = events(700, "b");
    client.bulk(&more).await.unwrap();
    tail.until("the new events", |t| t.ring.len() == 3200).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tail.settle();
    let mut ids: Vec<_> = tail.events().iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 3200);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3200, "an event was repeated");
    assert_eq!(tail.source, Some(Source::Elasticsearch));
    assert_eq!(tail.error, None);
}

#[test]
fn cli_log_ships_to_elasticsearch_or_keeps_the_event_in_the_spool() {
    let env = Env::new().recording_as("ops");
    let mut server = servers::osmem(0);
    let url = server.url();
    let run = |args: &[&str]| {
        let out = env
            .cmd(args)
            .env("ELASTICSEARCH_URL", &url)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v = run(&[
        "audit",
        "log",
        "--type",
        "deployment",
        "--user",
        "alice",
        "--details",
        r#"{"service":"ledger"}"#,
        "--json",
    ]);
    assert_eq!(v["elasticsearch"]["sent"], true, "{v}");
    let found = run(&["audit", "search", "ledger", "--json"]);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], v["id"]);

    // Elasticsearch down: recorded locally, kept in the spool, sent by the next run.
    server.stop();
    let down = run(&[
        "audit",
        "log",
        "--type",
        "secret_read",
        "--user",
        "bob",
        "--json",
    ]);
    assert_eq!(down["elasticsearch"]["sent"], false, "{down}");
    assert_eq!(down["elasticsearch"]["pending"], 1, "{down}");
    let _server2 = servers::osmem(server.port);
    run(&[
        "audit",
        "log",
        "--type",
        "deployment",
        "--user",
        "carol",
        "--json",
    ]);
    let out = env
        .cmd(&["audit", "tail", "--json"])
        .env("ELASTICSEARCH_URL", &url)
        .output()
        .unwrap();
    let users: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["user_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(users, ["bob", "carol"]);
    // Both runs wrote the chained local log too.
    assert_eq!(
        env.json_code(&["audit", "verify", "--json"], 0)["records"],
        3
    );
}

#[test]
fn cli_tail_follow_prints_new_matching_events_as_they_are_logged() {
    use std::io::BufRead;
    let env = Env::new().recording_as("ops");
    env.expect(
        &["audit", "log", "--type", "mfa_lockout", "--user", "old"],
        0,
    );
    let mut child = env
        .cmd(&[
            "audit",
            "tail",
            "--follow",
            "--json",
            "--severity",
            "high",
            "-n",
            "0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    env.expect(
        &[
            "audit",
            "log",
            "--type",
            "signin_success",
            "--user",
            "alice",
        ],
        0,
    );
    env.expect(
        &["audit", "log", "--type", "mfa_lockout", "--user", "bob"],
        0,
    );
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a followed event");
    let _ = child.kill();
    let _ = child.wait();
    let ev: SecurityEvent = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (ev.event_type.as_str(), ev.user_id.as_deref()),
        ("mfa_lockout", Some("bob"))
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "only the new high event"
    );
}

/// Email over STARTTLS and over SMTPS to a real aiosmtpd whose certificate a
/// private CA signed: delivered when `WINDFLOW_ALERT_SMTP_CA_FILE` names the
/// CA, refused with a TLS error (and nothing sent in the clear) when it does not.
#[test]
fn email_alerts_over_starttls_and_smtps_trust_the_configured_ca() {
    let certs = crate::support::tls::TestCerts::new();
    for (implicit, scheme) in [(false, "smtp"), (true, "smtps")] {
        let smtp = servers::smtp_tls(&certs, implicit);
        let env = Env::new()
            .with_var(
                "WINDFLOW_ALERT_SMTP_URL",
                &format!("{scheme}://127.0.0.1:{}", smtp.server.port),
            )
            .with_var("WINDFLOW_ALERT_EMAIL_TO", "oncall@example.test");
        let refused = env.run(&["audit", "alerts", "test", "email", "--json"]);
        assert_ne!(
            refused.status.code(),
            Some(0),
            "{scheme}: an unknown CA must not be trusted"
        );
        let why = String::from_utf8_lossy(&refused.stderr).to_lowercase()
            + &String::from_utf8_lossy(&refused.stdout).to_lowercase();
        assert!(
            why.contains("certificate") || why.contains("tls"),
            "{scheme}: {why}"
        );
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !smtp.output.lock().unwrap().contains("alert_test"),
            "{scheme}: nothing may be sent without a trusted TLS session"
        );
        let out = env
            .cmd(&["audit", "alerts", "test", "email", "--json"])
            .env("WINDFLOW_ALERT_SMTP_CA_FILE", &certs.ca)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{scheme}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sent"], true, "{scheme}: {v}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !smtp.output.lock().unwrap().contains("alert_test") {
            assert!(
                Instant::now() < deadline,
                "{scheme}: the email never arrived"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
