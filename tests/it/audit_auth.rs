//! Audit sign-ins against real servers: SMTP AUTH on aiosmtpd (after STARTTLS
//! with a private CA, and on plain loopback), and Elasticsearch basic auth and
//! API keys through an authenticating HTTP front on a real osmem-server. Right
//! credentials deliver; wrong ones give an authentication error that names the
//! cause; no secret shows in any output, status or `Debug`.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use windflow::audit::alert::{Alerter, Retry};
use windflow::audit::elastic::{EsClient, EsSink};
use windflow::audit::query::Source;
use windflow::audit::settings::{AuditSettings, ChannelKind, ChannelSpec, EsSettings, Rule};
use windflow::audit::spool::Spool;
use windflow::audit::tail::TailFilter;
use windflow::audit::{AuditSink, SecurityEvent, Severity};
use windflow::service::{HealthState, ServiceEvent};

use crate::support::audit_auth::{es_front, es_front_with, smtp_auth};
use crate::support::audit_servers as servers;
use crate::support::cli::CliEnv as Env;
use crate::support::tls::TestCerts;

/// stdout and stderr of a run, for looking for leaks.
fn all(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn assert_hidden(text: &str, secrets: &[&str], what: &str) {
    for s in secrets {
        assert!(!text.contains(s), "{what} shows the secret {s:?}: {text}");
    }
}

async fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

const SMTP_PW: &str = "Wf@s3cret-smtp";
const SMTP_PW_URL: &str = "Wf%40s3cret-smtp";
const SMTP_WRONG: &str = "Wrong@guess-77";
const SMTP_WRONG_URL: &str = "Wrong%40guess-77";

/// `audit alerts test email` signs in after STARTTLS (the server's
/// certificate from a private CA): the right password delivers; a wrong one
/// fails with "authentication failed", in JSON and in text, without the password.
#[test]
fn email_alerts_sign_in_after_starttls_and_a_wrong_password_is_an_authentication_error() {
    let certs = TestCerts::new();
    let smtp = smtp_auth("alerts", SMTP_PW, Some(&certs));
    let env = Env::new()
        .with_var("WINDFLOW_ALERT_EMAIL_TO", "oncall@example.test")
        .with_var(
            "WINDFLOW_ALERT_SMTP_CA_FILE",
            &certs.ca.display().to_string(),
        );
    let url = |pw: &str| format!("smtp://alerts:{pw}@127.0.0.1:{}", smtp.port);
    let secrets = [SMTP_PW, SMTP_PW_URL, SMTP_WRONG, SMTP_WRONG_URL];

    let out = env
        .cmd(&["audit", "alerts", "test", "email", "--json"])
        .env("WINDFLOW_ALERT_SMTP_URL", url(SMTP_PW_URL))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], true, "{v}");
    let msg = smtp.wait("message", |m| {
        m["data"].as_str().unwrap_or("").contains("alert_test")
    });
    assert_eq!(msg["login"], "alerts", "{msg}");
    assert_eq!(msg["tls"], true, "signed in over STARTTLS: {msg}");
    assert_eq!(msg["to"], json!(["oncall@example.test"]));
    assert_hidden(&all(&out), &secrets, "a delivered test alert");

    for json in [true, false] {
        let mut args = vec!["audit", "alerts", "test", "email"];
        if json {
            args.push("--json");
        }
        let out = env
            .cmd(&args)
            .env("WINDFLOW_ALERT_SMTP_URL", url(SMTP_WRONG_URL))
            .output()
            .unwrap();
        let text = all(&out);
        assert_eq!(out.status.code(), Some(1), "json={json}: {text}");
        assert!(
            text.contains("authentication failed") && text.contains("535"),
            "json={json}: {text}"
        );
        if json {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["sent"], false, "{v}");
        }
        assert_hidden(&text, &secrets, "a refused test alert");
    }
    smtp.wait_count("auth", 2, |a| a["ok"] == false);
    let refused = smtp.seen("auth");
    assert_eq!(
        refused.iter().filter(|a| a["ok"] == false).count(),
        2,
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|a| a["tls"] == true && a["login"] == "alerts")
    );
    assert_eq!(
        smtp.seen("message").len(),
        1,
        "nothing sent without sign-in"
    );

    // Listing the channels shows the server, never the password.
    let out = env
        .cmd(&["audit", "alerts", "list", "--json"])
        .env("WINDFLOW_ALERT_SMTP_URL", url(SMTP_PW_URL))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert_hidden(&all(&out), &secrets, "alerts list");
}

fn email_spec(name: &str, url: String) -> ChannelSpec {
    ChannelSpec {
        name: name.into(),
        kind: ChannelKind::Email,
        url: url.into(),
        to: vec!["oncall@example.test".into()],
        from: Some("windflow@example.test".into()),
        ca_file: None,
        ..Default::default()
    }
}

/// The delivery task on a server without TLS: sign-in works when the URL
/// allows a plain connection (`?tls=opportunistic`); a wrong password is
/// retried, then dead-lettered as "authentication failed"; and a URL that does
/// not allow plain text never sends the password (STARTTLS is required).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_delivery_reports_refused_credentials_in_status_and_dead_letters() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let smtp = smtp_auth("alerts", SMTP_PW, None);
    let base = format!("127.0.0.1:{}", smtp.port);
    let specs = vec![
        email_spec(
            "good",
            format!("smtp://alerts:{SMTP_PW_URL}@{base}?tls=opportunistic"),
        ),
        email_spec(
            "wrong",
            format!("smtp://alerts:{SMTP_WRONG_URL}@{base}?tls=opportunistic"),
        ),
        email_spec("cleartext", format!("smtp://alerts:{SMTP_PW_URL}@{base}")),
    ];
    let secrets = [SMTP_PW, SMTP_PW_URL, SMTP_WRONG, SMTP_WRONG_URL];
    assert_hidden(&format!("{specs:?}"), &secrets, "the channel specs' Debug");
    let mut alerter = Alerter::spawn(
        specs,
        vec![Rule::default_critical()],
        Duration::from_secs(300),
        Retry {
            attempts: 2,
            first_backoff: Duration::from_millis(50),
        },
    )
    .unwrap();
    let state = alerter.state.clone();
    let mut ev = SecurityEvent::new("mfa_lockout", Some("mallory"), json!({"tries": 9}));
    ev.severity = Severity::Critical;
    alerter.observe(&ev, Instant::now());

    let msg = smtp.wait("message", |m| {
        m["data"].as_str().unwrap_or("").contains("mfa_lockout")
    });
    assert_eq!(
        (msg["login"].as_str(), msg["tls"].as_bool()),
        (Some("alerts"), Some(false))
    );
    wait_for("two dead letters", || state.lock().unwrap().dead.len() == 2).await;
    let st = state.lock().unwrap();
    let by = |n: &str| st.channels.iter().find(|c| c.name == n).unwrap().clone();
    assert_eq!((by("good").sent, by("good").failing), (1, false));
    let wrong = by("wrong");
    assert!(wrong.failing && wrong.failed == 1, "{wrong:?}");
    let err = wrong.last_error.as_deref().unwrap();
    assert!(err.contains("authentication failed"), "{err}");
    let dead = st.dead.iter().find(|d| d.channel == "wrong").unwrap();
    assert!(
        dead.error.contains("authentication failed"),
        "{}",
        dead.error
    );
    assert_eq!(dead.alert.event.event_type, "mfa_lockout");
    let clear = by("cleartext");
    let err = clear.last_error.as_deref().unwrap();
    assert!(
        err.contains("does not offer STARTTLS") && err.contains("tls=opportunistic"),
        "{err}"
    );
    assert_hidden(&format!("{:?}", *st), &secrets, "the alert state's Debug");
    drop(st);
    // One good sign-in, two refused (the retry); none from the cleartext channel.
    smtp.wait_count("auth", 1, |a| a["ok"] == true);
    smtp.wait_count("auth", 2, |a| a["ok"] == false);
    let auths = smtp.seen("auth");
    let ok = auths.iter().filter(|a| a["ok"] == true).count();
    let refused = auths.iter().filter(|a| a["ok"] == false).count();
    assert_eq!((ok, refused), (1, 2), "{auths:?}");
}

const ES_USER: &str = "windflow-writer";
const ES_PW: &str = "Es@pa55:w/rd";
const ES_PW_URL: &str = "Es%40pa55%3Aw%2Frd";
const ES_KEY: &str = "V25kRmxvdzpzM2NyZXQta2V5LTQyMQ==";
const ES_WRONG_PW: &str = "not-the-pa55";
const ES_WRONG_KEY: &str = "d3Jvbmc6a2V5LTAwMDA=";

fn es(url: String, user: Option<&str>, pw: Option<&str>, key: Option<&str>) -> EsSettings {
    EsSettings {
        url,
        username: user.map(str::to_owned),
        password: pw.map(|p| p.to_owned().into()),
        api_key: key.map(|k| k.to_owned().into()),
    }
}

fn es_secrets() -> [&'static str; 5] {
    [ES_PW, ES_PW_URL, ES_KEY, ES_WRONG_PW, ES_WRONG_KEY]
}

/// The sink ships through the authenticating front and the events read back
/// (search and latest) with the password in the URL, with
/// ELASTICSEARCH_USERNAME/PASSWORD, and with an API key. Wrong or missing
/// credentials: "authentication failed (401)" in the error, the shipper's
/// health and the live source's status; the event stays in the spool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_sink_and_reads_sign_in_with_basic_auth_or_an_api_key() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let osmem = servers::osmem(0);
    let front = es_front(osmem.port, Some((ES_USER, ES_PW)), Some(ES_KEY));
    let port = front.port;
    let variants = [
        (
            "inurl",
            es(
                format!("http://{ES_USER}:{ES_PW_URL}@127.0.0.1:{port}"),
                None,
                None,
                None,
            ),
        ),
        (
            "userpass",
            es(front.url(), Some(ES_USER), Some(ES_PW), None),
        ),
        ("apikey", es(front.url(), None, None, Some(ES_KEY))),
    ];
    let mut total = 0;
    for (tag, settings) in &variants {
        assert_hidden(&format!("{settings:?}"), &es_secrets(), "EsSettings' Debug");
        let client = EsClient::new(settings).unwrap();
        assert_hidden(&format!("{client:?}"), &es_secrets(), "EsClient's Debug");
        let dir = tempfile::tempdir().unwrap();
        let (sink, shipper) = EsSink::new(client.clone(), Spool::open(dir.path()).unwrap(), None);
        let task = tokio::spawn(shipper);
        for i in 0..3 {
            sink.record(&SecurityEvent::new(
                "secret_read",
                Some(&format!("{tag}-user")),
                json!({"via": tag, "i": i}),
            ))
            .unwrap();
        }
        sink.flush();
        wait_for(tag, || sink.stats().sent == 3).await;
        task.abort();
        total += 3;
        let found = client
            .search(
                &TailFilter {
                    text: Some(format!("{tag}-user")),
                    ..TailFilter::default()
                },
                0,
                None,
                100,
            )
            .await
            .unwrap();
        assert_eq!(found.events.len(), 3, "{tag}");
        let latest = client.latest(&TailFilter::default(), 0, 100).await.unwrap();
        assert_eq!(latest.events.len(), total, "{tag}");
    }
    assert!(
        front.seen("refused").is_empty(),
        "{:?}",
        front.seen("refused")
    );

    let wrong = [
        (
            "wrong password",
            es(front.url(), Some(ES_USER), Some(ES_WRONG_PW), None),
            "check the user name and password",
        ),
        (
            "wrong API key",
            es(front.url(), None, None, Some(ES_WRONG_KEY)),
            "check ELASTICSEARCH_API_KEY",
        ),
        (
            "no credentials",
            es(front.url(), None, None, None),
            "the server wants credentials",
        ),
    ];
    for (what, settings, hint) in &wrong {
        let client = EsClient::new(settings).unwrap();
        let err = client
            .search(&TailFilter::default(), 0, None, 10)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("authentication failed (401)") && err.contains(hint),
            "{what}: {err}"
        );
        assert_hidden(&err, &es_secrets(), what);

        // The shipper: health says why, the event waits in the spool.
        let (sink, _spool, health) = ship_one_refused(client).await;
        assert_eq!(health.state, HealthState::Reconnecting, "{what}");
        let last = health.last_error.unwrap_or_default();
        assert!(
            last.contains("authentication failed (401)"),
            "{what}: {last}"
        );
        assert_hidden(&format!("{last} {}", health.target), &es_secrets(), what);
        let st = sink.stats();
        assert!(st.auth_failed && st.sent == 0, "{what}: {st:?}");
        assert_eq!(sink.pending(), 1, "{what}: kept in the spool");
    }
    assert_eq!(
        osmem_count(&osmem.url()).await,
        total as u64,
        "nothing else indexed"
    );

    // The live source polling Elasticsearch reports the refusal too, and
    // the local log stands in.
    let settings = AuditSettings {
        elasticsearch: Some(es(front.url(), None, None, Some(ES_WRONG_KEY))),
        ..AuditSettings::default()
    };
    let data = tempfile::tempdir().unwrap();
    let mut tail = crate::support::audit_tail::Tailed::spawn(&settings, data.path(), None);
    tail.until("the source's error", |t| {
        matches!(&t.source, Some(Source::Fallback { error, .. })
            if error.contains("authentication failed (401)"))
    })
    .await;
    let source = tail.source.clone().unwrap();
    assert_eq!(
        source.label(),
        "local log (elasticsearch authentication failed (401))"
    );
    assert_hidden(
        &format!("{} {}", source.label(), source.notice().unwrap()),
        &es_secrets(),
        "the live source",
    );
}

/// What the real server holds, asked directly (it needs no sign-in).
async fn osmem_count(url: &str) -> u64 {
    EsClient::new(&es(url.to_owned(), None, None, None))
        .unwrap()
        .count()
        .await
        .unwrap()
}

/// The CLI through the authenticating front: `audit log` ships, `search` and
/// `tail` read back, with ELASTICSEARCH_API_KEY and with
/// ELASTICSEARCH_USERNAME/PASSWORD; wrong credentials are reported as
/// "authentication failed (401)" at once, and no secret is printed.
#[test]
fn cli_log_search_and_tail_sign_in_to_elasticsearch() {
    let osmem = servers::osmem(0);
    let front = es_front(osmem.port, Some((ES_USER, ES_PW)), Some(ES_KEY));
    let env = Env::new()
        .with_var("ELASTICSEARCH_URL", &front.url())
        .recording_as("ops");
    let run = |args: &[&str], creds: &[(&str, &str)]| {
        let mut cmd = env.cmd(args);
        for (k, v) in creds {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_hidden(&all(&out), &es_secrets(), &format!("{args:?}"));
        out
    };
    let key = [("ELASTICSEARCH_API_KEY", ES_KEY)];
    let basic = [
        ("ELASTICSEARCH_USERNAME", ES_USER),
        ("ELASTICSEARCH_PASSWORD", ES_PW),
    ];
    for (user, creds) in [("alice", &key[..]), ("bob", &basic[..])] {
        let out = run(
            &[
                "audit",
                "log",
                "--type",
                "deployment",
                "--user",
                user,
                "--json",
            ],
            creds,
        );
        assert_eq!(out.status.code(), Some(0), "{}", all(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["elasticsearch"]["sent"], true, "{v}");
        let out = run(&["audit", "search", user, "--json"], creds);
        assert_eq!(out.status.code(), Some(0), "{}", all(&out));
        let found: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
        assert_eq!(found[0]["id"], v["id"]);
    }
    let out = run(&["audit", "tail", "--json"], &basic);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let users: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["user_id"].clone())
        .collect();
    assert_eq!(users, [json!("alice"), json!("bob")]);

    // Wrong credentials: told at once, the event kept in the spool.
    let wrong_key = [("ELASTICSEARCH_API_KEY", ES_WRONG_KEY)];
    let out = run(
        &[
            "audit",
            "log",
            "--type",
            "deployment",
            "--user",
            "carol",
            "--json",
        ],
        &wrong_key,
    );
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // A refusal is final: the command stops on it instead of waiting out its
    // window for an answer.
    assert_eq!(v["elasticsearch"]["auth_failed"], true, "{v}");
    assert_eq!(v["elasticsearch"]["sent"], false, "{v}");
    assert_eq!(v["elasticsearch"]["pending"], 1, "{v}");
    let why = v["elasticsearch"]["last_error"].as_str().unwrap_or("");
    assert!(why.contains("authentication failed (401)"), "{v}");
    let wrong_pw = [
        ("ELASTICSEARCH_USERNAME", ES_USER),
        ("ELASTICSEARCH_PASSWORD", ES_WRONG_PW),
    ];
    let out = run(
        &["audit", "log", "--type", "deployment", "--user", "dave"],
        &wrong_pw,
    );
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("kept in the spool (2 waiting)")
            && text.contains("accepts the credentials")
            && text.contains("authentication failed (401)"),
        "{text}"
    );
    // Searching with them: the local log answers (it has carol and dave),
    // saying why, and the exit code says Elasticsearch did not (4).
    for args in [&["audit", "search", "carol"][..], &["audit", "tail"][..]] {
        let out = run(args, &wrong_pw);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", all(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("authentication failed (401)") && err.contains("local log's events only"),
            "{args:?}: {err}"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("carol"),
            "{args:?}: {}",
            all(&out)
        );
    }
    // The right key again: the spooled events go out.
    let out = run(
        &[
            "audit",
            "log",
            "--type",
            "deployment",
            "--user",
            "erin",
            "--json",
        ],
        &key,
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["elasticsearch"]["sent"], true, "{v}");
    let out = run(&["audit", "tail", "--json", "-n", "10"], &key);
    let users: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["user_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(users, ["alice", "bob", "carol", "dave", "erin"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es_credentials_without_the_write_privilege_are_named_as_such() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    const READ_ONLY_KEY: &str = "cmVhZGVyOmNhbi1vbmx5LXNlYXJjaA==";
    let osmem = servers::osmem(0);
    let front = es_front_with(osmem.port, None, Some(ES_KEY), Some(READ_ONLY_KEY));
    let client = EsClient::new(&es(front.url(), None, None, Some(READ_ONLY_KEY))).unwrap();
    // Searching is allowed: the key itself is good.
    client
        .search(&TailFilter::default(), 0, None, 10)
        .await
        .unwrap();

    let (sink, _spool, health) = ship_one_refused(client).await;
    let last = health.last_error.unwrap_or_default();
    // Not "authentication failed": the credentials are fine, the privilege is missing.
    assert!(
        last.contains("answered 403") && last.contains("lack the privilege"),
        "{last}"
    );
    assert!(!last.contains("authentication failed"), "{last}");
    assert_hidden(&last, &[READ_ONLY_KEY, ES_KEY], "a 403 report");
    let st = sink.stats();
    assert!(!st.auth_failed && st.sent == 0, "{st:?}");
    assert_eq!(sink.pending(), 1, "kept in the spool");
    front.wait_count("forbidden", 1, |_| true);
}

/// Ships one event through a sink over `client`, which the server refuses:
/// the sink (for its stats and spool), its spool folder, and the first health
/// report that carries the error.
async fn ship_one_refused(
    client: EsClient,
) -> (EsSink, tempfile::TempDir, windflow::service::Health) {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = windflow::service::channel();
    let (sink, shipper) = EsSink::new(client, Spool::open(dir.path()).unwrap(), Some(tx));
    let task = tokio::spawn(shipper);
    sink.record(&SecurityEvent::new("secret_read", Some("x"), json!({})))
        .unwrap();
    sink.flush();
    let health = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(ServiceEvent::Health {
                service: "audit-es",
                health,
            }) = rx.recv().await
                && health.last_error.is_some()
            {
                return health;
            }
        }
    })
    .await
    .expect("a health report with the error");
    task.abort();
    (sink, dir, health)
}
