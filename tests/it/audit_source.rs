//! Where audit events are read from, against a real osmem-server stopped
//! and restarted empty: `audit tail`, `audit search`, `tail --follow` and the
//! Audit pane (the real service, rendered to a TestBackend) show
//! Elasticsearch merged with the events it has not indexed yet, each id
//! once; while it is down the local log answers and says so; once it is
//! back, nothing it no longer has is listed.

use std::io::BufRead;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use windflow::audit::elastic::EsClient;
use windflow::audit::settings::{AuditSettings, EsSettings};
use windflow::audit::spool::Spool;
use windflow::audit::{AuditSink, LocalLog, SecurityEvent};
use windflow::console::app::{App, Msg};

use crate::console::{screen, settings};
use crate::support::audit_servers as servers;
use crate::support::cli::CliEnv as Env;

fn es(url: &str) -> EsSettings {
    EsSettings {
        url: url.to_owned(),
        username: None,
        password: None,
        api_key: None,
    }
}

/// Indexes `events` as another producer (or a shipper) would.
fn index(url: &str, events: &[SecurityEvent]) {
    let client = EsClient::new(&es(url)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        client.put_template().await.unwrap();
        client.bulk(events).await.unwrap();
    });
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The users of `--json` output: JSON lines (tail) or an array (search).
fn users(out: &Output) -> Vec<String> {
    let stdout = text(&out.stdout);
    let events: Vec<Value> = match serde_json::from_str::<Value>(&stdout) {
        Ok(Value::Array(a)) => a,
        _ => stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    };
    events
        .iter()
        .map(|e| e["user_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The lines of stderr that say the local log answered.
fn notices(out: &Output) -> Vec<String> {
    text(&out.stderr)
        .lines()
        .filter(|l| l.contains("local log's events only"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn cli_tail_and_search_answer_from_the_local_log_while_elasticsearch_is_down_and_show_no_stale_events_after()
 {
    let mut server = servers::osmem(0);
    let url = server.url();
    let env = Env::new()
        .recording_as("alice")
        .with_var("ELASTICSEARCH_URL", &url);
    let run = |args: &[&str]| env.cmd(args).output().unwrap();
    let log = |user: &str| {
        let out = run(&[
            "audit",
            "log",
            "--type",
            "deployment",
            "--user",
            user,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // alice: recorded here and shipped; foreign: only in Elasticsearch,
    // from another producer.
    assert_eq!(log("alice")["elasticsearch"]["sent"], true);
    index(
        &url,
        &[SecurityEvent::new(
            "deployment",
            Some("foreign"),
            json!({"from": "another host"}),
        )],
    );
    let out = run(&["audit", "tail", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(users(&out), ["alice", "foreign"]);
    assert!(notices(&out).is_empty(), "{}", text(&out.stderr));

    // Elasticsearch down: bob is recorded and spooled; the local log
    // answers, one line says so, and the exit code says Elasticsearch did not.
    server.stop();
    assert_eq!(log("bob")["elasticsearch"]["pending"], 1);
    for (args, want) in [
        (&["audit", "tail", "--json"][..], &["alice", "bob"][..]),
        (&["audit", "tail"][..], &["alice", "bob"][..]),
        (&["audit", "search", "bob", "--json"][..], &["bob"][..]),
        (&["audit", "search", "another host", "--json"][..], &[][..]),
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let shown = if args.contains(&"--json") {
            users(&out)
        } else {
            let stdout = text(&out.stdout);
            ["alice", "bob", "foreign"]
                .into_iter()
                .filter(|u| stdout.contains(&format!(" {u} ")))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(shown, want, "{args:?}");
        let said = notices(&out);
        assert_eq!(said.len(), 1, "{args:?}: {}", text(&out.stderr));
        assert!(
            said[0].contains(&format!("Elasticsearch at {url} is unreachable"))
                && said[0].contains("Connection refused"),
            "{args:?}: {said:?}"
        );
    }

    // Back, empty. bob reached it (shipped, not yet marked so: he is in the
    // spool too); dave was recorded while no Elasticsearch answered.
    let _server = servers::osmem(server.port);
    index(&url, &[bob_of(&env)]);
    let dead_port = servers::dead_port();
    let dead = format!("http://127.0.0.1:{}", dead_port.port);
    let out = env
        .cmd(&["audit", "log", "--type", "deployment", "--user", "dave"])
        .env("ELASTICSEARCH_URL", &dead)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // What Elasticsearch has, with what it has not indexed yet, each once;
    // not alice nor foreign, which it no longer has.
    let out = run(&["audit", "tail", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(users(&out), ["bob", "dave"]);
    assert!(notices(&out).is_empty(), "{}", text(&out.stderr));
    // That command shipped the spool: dave is indexed, still once.
    let out = run(&["audit", "search", "dave", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(users(&out), ["dave"]);
    let out = run(&["audit", "search", "deployment", "--json"]);
    assert_eq!(users(&out), ["bob", "dave"]);
}

/// bob's event, as recorded in the local log of `env`.
fn bob_of(env: &Env) -> SecurityEvent {
    crate::support::audit_events(&env.data())
        .into_iter()
        .find(|e| e.user_id.as_deref() == Some("bob"))
        .expect("bob in the local log")
}

/// The lines of a child's output, read by a thread, kept as they are waited for.
struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(r: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `want` (30 s at most); returns it.
    fn wait(&mut self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.seen.iter().find(|l| l.contains(want)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("no line with {want:?} in {:?}", self.seen),
            }
        }
    }

    fn count(&self, want: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(want)).count()
    }
}

#[test]
fn tail_follow_goes_on_from_the_local_log_while_elasticsearch_is_down_and_says_so() {
    let mut server = servers::osmem(0);
    let url = server.url();
    let env = Env::new()
        .recording_as("alice")
        .with_var("ELASTICSEARCH_URL", &url);
    let log = |user: &str| env.expect(&["audit", "log", "--type", "deployment", "--user", user], 0);
    log("alice");
    let mut child = env
        .cmd(&["audit", "tail", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = Lines::of(child.stdout.take().unwrap());
    let mut err = Lines::of(child.stderr.take().unwrap());
    out.wait("\"alice\"");
    // Another producer's event reaches it through Elasticsearch.
    let foreign = |user: &str| {
        index(
            &url,
            &[SecurityEvent::new("deployment", Some(user), json!({}))],
        )
    };
    foreign("foreign");
    out.wait("\"foreign\"");

    // Down: what is recorded here still shows, and one line says why.
    server.stop();
    log("bob");
    let said = err.wait("local log's events only");
    assert!(said.contains("is unreachable"), "{said}");
    out.wait("\"bob\"");

    // Back: bob and carol are shipped (by carol's command), so they come
    // from Elasticsearch as well: printed once each.
    let _server = servers::osmem(server.port);
    err.wait("Elasticsearch answers again");
    log("carol");
    out.wait("\"carol\"");
    foreign("foreign2");
    out.wait("\"foreign2\"");
    let _ = child.kill();
    let _ = child.wait();
    for user in ["alice", "foreign", "bob", "carol", "foreign2"] {
        assert_eq!(
            out.count(&format!("\"user_id\":\"{user}\"")),
            1,
            "{user}: {:?}",
            out.seen
        );
    }
    assert_eq!(err.count("local log's events only"), 1, "{:?}", err.seen);
}

/// The console's Audit pane, fed by the real audit service over `data`.
struct PaneRig {
    app: App,
    common: windflow::service::EventRx,
}

impl PaneRig {
    fn start(settings_: &AuditSettings, data: &std::path::Path) -> Self {
        let wake = windflow::service::Wake::default();
        let (tx, rx) = wake.channel();
        let (common_tx, common) = windflow::service::channel();
        windflow::audit::service::spawn(
            settings_,
            data,
            windflow::service::Sink::new(common_tx, tx),
        )
        .unwrap();
        let pane = windflow::audit::pane::AuditPane::new(rx, 1000);
        let mut app = App::new(
            settings(),
            crate::support::panes_with(Box::new(pane)),
            "dark",
            "vim",
        )
        .unwrap();
        crate::console::focus(&mut app, "audit");
        Self { app, common }
    }

    /// Takes what the service sent until the screen satisfies `done` (30 s
    /// at most); returns the screen.
    async fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            while let Ok(ev) = self.common.try_recv() {
                self.app.update(Msg::Service(ev));
            }
            self.app.update(Msg::Wake);
            let s = screen(&mut self.app, 160, 30);
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{s}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The rows showing an event of `user` (user, then the details).
fn rows(s: &str, user: &str) -> usize {
    s.lines()
        .filter(|l| l.contains(&format!(" {user} {{")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pane_names_its_source_answers_from_the_local_log_while_elasticsearch_is_down_and_lists_nothing_stale()
 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut server = servers::osmem(0);
    let url = server.url();
    let client = EsClient::new(&es(&url)).unwrap();
    client.put_template().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let ring = Arc::new(windflow::crypto::Keyring::new(
        windflow::crypto::MasterKey::generate(),
    ));
    let log = LocalLog::with_keyring(data.path().join("audit"), ring);
    let spool = Spool::open(&data.path().join("audit").join("spool")).unwrap();
    // As the console records: the local log and the spool.
    let record = |user: &str| {
        let ev = SecurityEvent::new("step_up", Some(user), json!({}));
        log.record(&ev).unwrap();
        spool.append(&ev).unwrap();
        ev
    };
    let alice = SecurityEvent::new("deployment", Some("alice"), json!({}));
    log.record(&alice).unwrap();
    let foreign = SecurityEvent::new("deployment", Some("foreign"), json!({}));
    client.bulk(&[alice, foreign]).await.unwrap();

    let settings_ = AuditSettings {
        elasticsearch: Some(es(&url)),
        ..AuditSettings::default()
    };
    let mut rig = PaneRig::start(&settings_, data.path());
    let s = rig
        .until("Elasticsearch's events", |s| {
            s.contains("Audit · elasticsearch · 2 shown")
        })
        .await;
    assert!(rows(&s, "alice") == 1 && rows(&s, "foreign") == 1, "{s}");

    // Down: the console's own step-up shows, from the local log, which
    // the title names with the cause; foreign (only in Elasticsearch) goes.
    server.stop();
    record("stepper");
    let s = rig
        .until("the local log", |s| {
            s.contains("Audit · local log (elasticsearch unreachable: Connection refused")
                && rows(s, "stepper") == 1
        })
        .await;
    assert_eq!(rows(&s, "foreign"), 0, "{s}");
    assert_eq!(rows(&s, "alice"), 1, "{s}");
    assert!(s.contains("these are the local log's events only"), "{s}");
    assert!(
        rig.app
            .shared
            .activity
            .iter()
            .any(|e| e.message.contains("the Audit pane shows the local log")),
        "{:?}",
        rig.app.shared.activity
    );

    // Back, empty: what it has (nothing) with what it has not indexed yet
    // (stepper); not alice nor foreign, which it no longer has.
    let _server = servers::osmem(server.port);
    let s = rig
        .until("Elasticsearch again", |s| {
            s.contains("Audit · elasticsearch · 1 shown")
        })
        .await;
    assert_eq!(rows(&s, "stepper"), 1, "{s}");
    assert!(!s.contains("unreachable"), "{s}");

    // An event both recorded here and indexed (shipped) is listed once.
    let revoker = record("revoker");
    client.put_template().await.unwrap();
    client.bulk(&[revoker]).await.unwrap();
    let marker = SecurityEvent::new("deployment", Some("marker"), json!({}));
    client.bulk(&[marker]).await.unwrap();
    // Both ways have passed revoker once marker (indexed after it) and
    // local-marker (recorded after it) are shown.
    log.record(&SecurityEvent::new(
        "deployment",
        Some("local-marker"),
        json!({}),
    ))
    .unwrap();
    let s = rig
        .until("both markers", |s| {
            rows(s, "marker") == 1 && rows(s, "local-marker") == 1
        })
        .await;
    assert_eq!(rows(&s, "revoker"), 1, "{s}");
    assert!(s.contains("Audit · elasticsearch · 4 shown"), "{s}");
}

/// Deletes an index of the server at `port` (as retention, or an operator, would).
fn delete_index(port: u16, index: &str) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "DELETE /{index} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Elasticsearch losing events without going down (an index deleted, a
/// restart between two polls): the tail reads it again instead of listing
/// what it no longer has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_elasticsearch_no_longer_has_leave_the_tail_without_an_outage() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = servers::osmem(0);
    let client = EsClient::new(&es(&server.url())).unwrap();
    client.put_template().await.unwrap();
    let gone = SecurityEvent::new("deployment", Some("gone"), json!({}));
    client.bulk(std::slice::from_ref(&gone)).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let settings_ = AuditSettings {
        elasticsearch: Some(es(&server.url())),
        ..AuditSettings::default()
    };
    let mut tail = crate::support::audit_tail::Tailed::spawn(&settings_, data.path(), None);
    tail.until("the event", |t| t.users() == ["gone"]).await;
    delete_index(server.port, &windflow::audit::elastic::index_for(&gone));
    tail.until("the event gone", |t| t.ring.is_empty() && t.resets == 2)
        .await;
    assert_eq!(
        tail.source,
        Some(windflow::audit::query::Source::Elasticsearch)
    );
    assert!(
        tail.said("holds fewer events than before"),
        "{:?}",
        tail.log
    );
}
