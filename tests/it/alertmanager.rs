//! Alertmanager as an alert channel, against a real Prometheus Alertmanager
//! routing to a webhook receiver of the test: alerts recorded by the CLI
//! arrive through it; silences made from the CLI suppress the next one.

use serde_json::json;
use windflow::audit::alert::{Alert, Channel};
use windflow::audit::settings::{ChannelKind, ChannelSpec};
use windflow::audit::{SecurityEvent, Severity};

use crate::support::alertmanager as am;
use crate::support::audit_servers as servers;
use crate::support::cli::CliEnv;

fn critical(event_type: &str, user: &str) -> Alert {
    let mut ev = SecurityEvent::new(event_type, Some(user), json!({}));
    ev.severity = Severity::Critical;
    Alert::new(ev, 1)
}

fn am_spec(url: String) -> ChannelSpec {
    ChannelSpec {
        name: "am".into(),
        kind: ChannelKind::Alertmanager,
        url: url.into(),
        ..Default::default()
    }
}

#[test]
fn an_alert_recorded_by_the_cli_reaches_the_receiver_through_alertmanager() {
    let am = am::start(&["alertname", "user"]);
    let env = CliEnv::new()
        .with_var("WINDFLOW_ALERT_ALERTMANAGER_URL", &am.url())
        .with_var(
            "WINDFLOW_ALERT_ALERTMANAGER_GENERATOR_URL",
            "https://windflow.example/audit",
        )
        .recording_as("ops");
    let ev = env.json(&[
        "audit",
        "log",
        "--type",
        "mfa_lockout",
        "--user",
        "bob\u{1b}[2J",
        "--severity",
        "critical",
        "--details",
        r#"{"deployment":"payments"}"#,
        "--json",
    ]);
    let got = am.wait_for_alert("alertname", "mfa_lockout");
    let labels = &got["labels"];
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["source"], "windflow");
    assert_eq!(labels["deployment"], "payments");
    // Outside text as the display boundary shows it: no raw escape.
    assert_eq!(labels["user"], "bob\\x1b[2J");
    assert_eq!(got["annotations"]["event_id"], ev["id"]);
    assert!(
        got["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("[CRITICAL] mfa_lockout"),
        "{got}"
    );
    assert_eq!(got["generatorURL"], "https://windflow.example/audit");
    assert_eq!(got["status"], "firing");
    // Delivered, so nothing is owed.
    let status = env.json(&["agent", "status", "--json"]);
    assert_eq!(status["owed_alerts"], 0, "{status}");
}

#[tokio::test]
async fn every_instance_of_a_cluster_gets_the_alert_with_the_credentials() {
    let (a, b) = (servers::receiver(), servers::receiver());
    let spec = ChannelSpec {
        urls: vec![format!("http://127.0.0.1:{}/", b.port).into()],
        bearer_token: Some("tok-secret".to_string().into()),
        ..am_spec(format!("http://127.0.0.1:{}", a.port))
    };
    Channel::new(spec)
        .unwrap()
        .send(&critical("x", "u"))
        .await
        .unwrap();
    for r in [&a, &b] {
        let got = r.got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, "/api/v2/alerts");
        assert_eq!(got[0].authorization.as_deref(), Some("Bearer tok-secret"));
        assert_eq!(got[0].body[0]["labels"]["alertname"], "x");
    }
    // Basic auth instead.
    let c = servers::receiver();
    let spec = ChannelSpec {
        username: Some("wf".into()),
        password: Some("pw-secret".to_string().into()),
        ..am_spec(format!("http://127.0.0.1:{}", c.port))
    };
    Channel::new(spec)
        .unwrap()
        .send(&critical("x", "u"))
        .await
        .unwrap();
    // base64("wf:pw-secret")
    assert_eq!(
        c.got.lock().unwrap()[0].authorization.as_deref(),
        Some("Basic d2Y6cHctc2VjcmV0")
    );
}

#[tokio::test]
async fn one_instance_down_still_delivers_and_all_down_or_refused_fails() {
    let up = servers::receiver();
    let dead_port = servers::dead_port();
    let dead = format!("http://127.0.0.1:{}", dead_port.port);
    let spec = ChannelSpec {
        urls: vec![format!("http://127.0.0.1:{}", up.port).into()],
        ..am_spec(dead.clone())
    };
    Channel::new(spec)
        .unwrap()
        .send(&critical("x", "u"))
        .await
        .unwrap();
    assert_eq!(up.got.lock().unwrap().len(), 1);
    // Refused credentials: an error that says so, without the secret.
    *up.status.lock().unwrap() = 401;
    let spec = ChannelSpec {
        bearer_token: Some("tok-secret".to_string().into()),
        urls: vec![format!("http://127.0.0.1:{}", up.port).into()],
        ..am_spec(dead)
    };
    let err = Channel::new(spec)
        .unwrap()
        .send(&critical("x", "u"))
        .await
        .unwrap_err();
    assert!(err.contains("credentials were refused"), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    assert!(!err.contains("tok-secret"), "{err}");
}

#[test]
fn a_silence_created_from_the_cli_suppresses_the_next_alert() {
    let am = am::start(&["alertname"]);
    let env = CliEnv::new()
        .with_var("WINDFLOW_ALERT_ALERTMANAGER_URL", &am.url())
        .acting_as("ops");
    // Read-only refuses it before anything is asked of Alertmanager.
    env.expect(
        &[
            "--read-only",
            "alerts",
            "silence",
            "--match",
            "user=x",
            "--for",
            "1h",
            "--comment",
            "c",
        ],
        3,
    );
    let created = env.json(&[
        "alerts",
        "silence",
        "--match",
        "user=mallory",
        "--match",
        "source=windflow",
        "--for",
        "2h",
        "--comment",
        "maintenance CHG-1",
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    let listed = env.json(&["alerts", "silences", "--json"]);
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed[0]["status"]["state"], "active");
    assert_eq!(listed[0]["createdBy"], "ops");
    assert_eq!(listed[0]["comment"], "maintenance CHG-1");
    let text = env.expect(&["alerts", "silences"], 0);
    assert!(
        text.contains(&id) && text.contains("user=\"mallory\""),
        "{text}"
    );

    // Mallory's alert first, then bob's, in one group: the notification
    // that carries bob's never carries mallory's.
    for user in ["mallory", "bob"] {
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
    am.wait_for_alert("user", "bob");
    let users: Vec<_> = am
        .notified_alerts()
        .iter()
        .map(|a| a["labels"]["user"].clone())
        .collect();
    assert!(!users.contains(&json!("mallory")), "{users:?}");
    // Alertmanager holds it, silenced by that silence.
    let held = am.get("/api/v2/alerts");
    let mallory = held
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["user"] == "mallory")
        .unwrap_or_else(|| panic!("{held}"));
    assert_eq!(mallory["status"]["state"], "suppressed");
    assert_eq!(mallory["status"]["silencedBy"], json!([id]));

    env.expect(&["alerts", "unsilence", &id], 0);
    let listed = env.json(&["alerts", "silences", "--json"]);
    assert_eq!(listed, json!([]));
    let all = env.json(&["alerts", "silences", "--all", "--json"]);
    assert_eq!(all[0]["status"]["state"], "expired");
    let types = env.event_types();
    assert!(
        types.contains(&"alert_silenced".to_string())
            && types.contains(&"alert_unsilenced".to_string()),
        "{types:?}"
    );
}

#[test]
fn silences_without_an_alertmanager_say_what_to_set() {
    let env = CliEnv::new();
    let out = env.run(&["alerts", "silences"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WINDFLOW_ALERT_ALERTMANAGER_URL"));
    let dead = servers::dead_port();
    let env = env.with_var(
        "WINDFLOW_ALERT_ALERTMANAGER_URL",
        &format!("http://127.0.0.1:{}", dead.port),
    );
    env.expect(&["alerts", "silences"], 4);
}

/// The console's audit service against a real Alertmanager: a silence
/// asked for by the pane is created as the signed-in operator and recorded;
/// the next poll shows the alert silenced by it; the pane shows that, and
/// its `:silence` and `M` turn into the request and the pre-filled palette.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_silences_and_the_pane_shows_the_alert_silenced() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use windflow::audit::alertmanager::Matcher;
    use windflow::audit::pane::AuditPane;
    use windflow::audit::service::AuditEvent;
    use windflow::audit::settings::AuditSettings;
    use windflow::audit::silences::{AmView, AuditRequest};
    use windflow::audit::{Audit, MemorySink};
    use windflow::console::app::{App, Mode, Request};
    use windflow::service::{DomainRequest, Handle, Wake};

    let am = am::start(&["alertname"]);
    let spec = am_spec(am.url());
    Channel::new(spec.clone())
        .unwrap()
        .send(&critical("mfa_lockout", "mallory"))
        .await
        .unwrap();
    let settings = AuditSettings {
        channels: vec![spec],
        ..Default::default()
    };
    let sink = Arc::new(MemorySink::default());
    let (events, _common, mut feed) = windflow::service::detached::<AuditEvent>();
    let handle =
        windflow::audit::silences::spawn(&settings, Audit::new(sink.clone()), events).unwrap();
    let mut req = DomainRequest::new(AuditRequest::Silence {
        matchers: vec![Matcher::parse("user=mallory").unwrap()],
        duration: Duration::from_secs(3600),
        comment: "maintenance CHG-2".into(),
    });
    req.actor = Some("ops".into());
    assert!(handle.send(req));
    // The views the service sends until one shows mallory's alert silenced.
    let deadline = Instant::now() + Duration::from_secs(30);
    let view: AmView = loop {
        let silenced = feed.drain().into_iter().find_map(|ev| match ev {
            AuditEvent::Alertmanager(v)
                if v.alerts.iter().any(|a| !a.status.silenced_by.is_empty()) =>
            {
                Some(v)
            }
            _ => None,
        });
        if let Some(v) = silenced {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no view showed the alert silenced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let silence = &view.silences[0];
    assert_eq!(silence.created_by, "ops");
    assert_eq!(
        view.alerts[0].status.silenced_by,
        std::slice::from_ref(&silence.id)
    );
    let recorded = sink.events();
    let ev = recorded
        .iter()
        .find(|e| e.event_type == "alert_silenced")
        .expect("the silence is audited");
    assert_eq!(ev.user_id.as_deref(), Some("ops"));
    assert_eq!(ev.details["silence_id"], silence.id.as_str());

    // The pane, fed that view: `A` shows the alert silenced by it, until when.
    let (tx, rx) = Wake::default().channel();
    let panes = crate::support::panes_with(Box::new(AuditPane::new(rx, 100)));
    let mut app = App::new(crate::console::settings(), panes, "dark", "vim").unwrap();
    crate::console::focus(&mut app, "audit");
    assert!(tx.try_send(AuditEvent::Alertmanager(view.clone())));
    app.update(windflow::console::app::Msg::Wake);
    crate::console::typed(&mut app, "A");
    let s = crate::console::screen(&mut app, 200, 24);
    assert!(s.contains("mfa_lockout") && s.contains("silenced"), "{s}");
    assert!(
        s.contains(&format!("by {} until {}", silence.id, silence.ends_at)),
        "{s}"
    );
    assert!(
        s.contains("SILENCES (1)") && s.contains("maintenance CHG-2"),
        "{s}"
    );
    // `M` on the selected alert: the palette, pre-filled with its labels.
    crate::console::typed(&mut app, "M");
    let Mode::Palette(p) = &app.mode else {
        panic!("no palette")
    };
    assert_eq!(p.line(), "silence alertname=mfa_lockout user=mallory 2h ");
    crate::console::press(&mut app, crossterm::event::KeyCode::Esc);
    // `:silence` asks first, then sends the request to the audit service.
    let mut out = Vec::new();
    app.run_command(
        "silence user=bob severity=~high|critical 30m on call swap",
        &mut out,
    );
    assert!(matches!(app.mode, Mode::Confirm(_)), "{:?}", out);
    let out = crate::console::typed(&mut app, "y");
    let Some(Request::Domain(req)) = out.first() else {
        panic!("{out:?}")
    };
    let Some(AuditRequest::Silence {
        matchers,
        duration,
        comment,
    }) = req.get::<AuditRequest>()
    else {
        panic!("{req:?}")
    };
    assert_eq!(matchers.len(), 2);
    assert_eq!(*duration, Duration::from_secs(1800));
    assert_eq!(comment, "on call swap");
    // A bad one says why, and asks nothing.
    let mut out = Vec::new();
    app.run_command("silence user=bob forever x", &mut out);
    assert!(!matches!(app.mode, Mode::Confirm(_)) && out.is_empty());
}

/// The real console in a terminal: the Audit pane's Alertmanager view shows
/// the alert, `M` pre-fills `:silence` with its labels, the silence is made
/// (confirmed, as the signed-in operator) and the view shows it silenced.
#[test]
fn a_silence_made_in_the_console_shows_the_alert_silenced() {
    use std::time::Duration;
    const T: Duration = Duration::from_secs(30);
    let am = am::start(&["alertname"]);
    let env = CliEnv::new()
        .with_var("WINDFLOW_ALERT_ALERTMANAGER_URL", &am.url())
        .acting_as("ops");
    env.expect(
        &[
            "audit",
            "log",
            "--type",
            "mfa_lockout",
            "--user",
            "mallory",
            "--severity",
            "critical",
        ],
        0,
    );
    am.wait_for_alert("user", "mallory");
    let mut pty = env.signed_in_console("alice", 200, 40);
    let wait = |pty: &crate::support::pty::Pty, text: &str| {
        pty.wait_for(text, T)
            .unwrap_or_else(|e| panic!("{e}\n{}", pty.screen_text()))
    };
    pty.keys(":pane audit\r");
    pty.keys("A");
    wait(&pty, "mallory");
    pty.keys("M");
    wait(&pty, "silence alertname=mfa_lockout user=mallory 2h");
    pty.keys("drill CHG-3\r");
    wait(&pty, "until the silence ends");
    pty.keys("y");
    wait(&pty, "SILENCES (1)");
    wait(&pty, "silenced");
    let listed = env.json(&["alerts", "silences", "--json"]);
    assert_eq!(listed[0]["createdBy"], "alice", "{listed}");
    assert_eq!(listed[0]["comment"], "drill CHG-3");
    let id = listed[0]["id"].as_str().unwrap();
    wait(&pty, &format!("by {id}"));
}
