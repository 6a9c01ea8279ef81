//! Hostile text (issue 19): strings an attacker writes (user names, user
//! agents, event details, Vault metadata) recorded through the real binary
//! and read back with every human-readable command. No raw control or
//! bidirectional character may reach the terminal; the escaped form is shown.

use crate::support::cli::CliEnv;

/// ESC sequences (OSC 0 retitle and OSC 52 clipboard ended by BEL, CSI 2J
/// clear, SGR 8 conceal), a carriage return, BEL, the one-byte C1 CSI, the
/// RLO and LRI bidi overrides, a newline that would fake a row, and a Slack
/// `<!channel>`.
pub const HOSTILE: &str = "eve\u{1b}]0;pwned\u{7}\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{1b}[8mhid\rroot\u{7}\u{9b}31m adm\u{202e}nimda \u{2066}x\u{2069}\nFAKE ROW <!channel>";

/// What the escaped corpus must show (each marks one hostile piece).
pub const SHOWN: &[&str] = &[
    "\\x1b]0;pwned\\x07",
    "\\x1b]52;c;cHduZWQ=\\x07",
    "\\x1b[2J",
    "\\x1b[8mhid\\rroot\\x07",
    "\\u{9b}31m",
    "adm\\u{202e}nimda",
    "\\u{2066}x\\u{2069}",
];

/// Session user ids refuse controls and whitespace, not bidi overrides.
pub const HOSTILE_USER: &str = "adm\u{202e}nimda\u{2067}<!channel>";

/// The first character a terminal would act on, with its offset.
pub fn raw_char(out: &str, newlines_ok: bool) -> Option<(usize, char)> {
    out.char_indices().find(|&(_, c)| {
        let u = c as u32;
        (u < 0x20 && !(newlines_ok && c == '\n'))
            || (0x7f..=0x9f).contains(&u)
            || [0x061c, 0x200e, 0x200f].contains(&u)
            || (0x202a..=0x202e).contains(&u)
            || (0x2066..=0x2069).contains(&u)
    })
}

/// Asserts that `out` (what a command wrote for a terminal) holds no raw
/// control or bidi character but its line breaks, and shows the corpus escaped.
#[track_caller]
pub fn assert_shown_escaped(what: &str, out: &str) {
    if let Some((i, c)) = raw_char(out, true) {
        panic!("{what}: raw {c:?} at byte {i} reaches the terminal:\n{out:?}");
    }
    for s in SHOWN {
        assert!(out.contains(s), "{what}: {s:?} not shown in\n{out}");
    }
}

/// The line of `out` holding `needle`: a hostile field stays on one line.
#[track_caller]
fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{out}"))
}

fn stdout_and_stderr(env: &CliEnv, args: &[&str]) -> (String, String) {
    let out = env.run(args);
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn audit_tail_and_search_show_hostile_users_and_details_escaped_on_one_line() {
    let env = CliEnv::new().recording_as("ops");
    let details = serde_json::json!({ "note": HOSTILE }).to_string();
    env.expect(
        &[
            "audit",
            "log",
            "--type",
            "login_failure",
            "--user",
            HOSTILE,
            "--details",
            &details,
        ],
        0,
    );
    for args in [
        &["audit", "tail"][..],
        &["audit", "search", "login_failure"][..],
    ] {
        let (out, err) = stdout_and_stderr(&env, args);
        assert_shown_escaped(&format!("{args:?}"), &out);
        assert!(raw_char(&err, true).is_none(), "{args:?} stderr: {err:?}");
        // One event, one line: the newline in the user name is shown, not obeyed.
        let line = line_with(&out, "login_failure");
        assert!(line.contains("\\nFAKE ROW <!channel>"), "{line}");
        assert!(!out.lines().any(|l| l.starts_with("FAKE ROW")), "{out}");
        // The details carry the corpus too (JSON escaped C0, not C1 or bidi).
        assert!(line.matches("\\u{202e}").count() >= 2, "{line}");
    }
    // --json stays exact: the event round-trips byte for byte.
    let out = env.expect(&["audit", "tail", "--json"], 0);
    let ev: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(ev["user_id"], HOSTILE);
    assert_eq!(ev["details"]["note"], HOSTILE);
}

#[test]
fn sessions_list_and_show_show_hostile_users_and_user_agents_escaped() {
    let env = CliEnv::new().acting_as("admin");
    let created = env.json(&[
        "sessions",
        "create",
        "--user",
        HOSTILE_USER,
        "--ip",
        "198.51.100.7",
        "--user-agent",
        HOSTILE,
        "--permission",
        HOSTILE,
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    // --json is exact.
    assert_eq!(created["user_agent"], HOSTILE);
    assert_eq!(created["user_id"], HOSTILE_USER);

    // The table: the user on its row, escaped; no row faked.
    let list = env.expect(&["sessions", "list"], 0);
    if let Some((i, c)) = raw_char(&list, true) {
        panic!("sessions list: raw {c:?} at {i}:\n{list:?}");
    }
    let row = line_with(&list, &id[..8]);
    assert!(
        row.contains("adm\\u{202e}nimda\\u{2067}<!channel>"),
        "{row}"
    );
    assert_eq!(list.lines().count(), 3, "{list}");

    // The detail: every field, escaped, the user agent on one line.
    let show = env.expect(&["sessions", "show", &id], 0);
    assert_shown_escaped("sessions show", &show);
    assert!(
        show.contains("adm\\u{202e}nimda\\u{2067}<!channel>"),
        "{show}"
    );
    let ua = line_with(&show, "user agent");
    assert!(ua.contains("\\nFAKE ROW <!channel>"), "{ua}");
    let perms = line_with(&show, "permissions");
    assert!(perms.contains("\\x1b[2J"), "{perms}");

    // Creating one prints the user escaped too.
    let (out, _) = stdout_and_stderr(
        &env,
        &[
            "sessions",
            "create",
            "--user",
            HOSTILE_USER,
            "--ip",
            "198.51.100.8",
            "--user-agent",
            "curl/8",
        ],
    );
    assert!(raw_char(&out, true).is_none(), "{out:?}");
    assert!(out.contains("adm\\u{202e}nimda"), "{out}");
}

/// Slack and e-mail escape for themselves: a critical event recorded by the
/// binary reaches a real HTTP receiver (as Slack) and a real aiosmtpd.
#[test]
fn alerts_escape_slack_markup_and_keep_email_headers_one_line() {
    use crate::support::audit_servers as servers;
    let hook = servers::receiver();
    let smtp = servers::smtp();
    let env = CliEnv::new()
        .with_var(
            "WINDFLOW_ALERT_SLACK_URL",
            &format!("http://127.0.0.1:{}/services/T/B/x", hook.port),
        )
        .with_var(
            "WINDFLOW_ALERT_SMTP_URL",
            &format!("smtp://127.0.0.1:{}", smtp.server.port),
        )
        .with_var("WINDFLOW_ALERT_EMAIL_TO", "oncall@example.test")
        .recording_as("ops");
    // A user that would ping the channel, link to a phishing page and, in
    // an e-mail subject, add a header and a recipient of its own.
    let user =
        "<!channel> <https://evil.test|login> &amp;\r\nBcc: thief@evil.test\r\nX-Injected: yes";
    let details = serde_json::json!({ "note": "<!here>" }).to_string();
    env.expect(
        &[
            "audit",
            "log",
            "--type",
            "secret_exfiltration",
            "--severity",
            "critical",
            "--user",
            user,
            "--details",
            &details,
        ],
        0,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while hook.got.lock().unwrap().is_empty() || !smtp.output.lock().unwrap().contains("oncall") {
        assert!(std::time::Instant::now() < deadline, "no alert delivered");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Slack: no mention, no link, no entity the user smuggled in.
    let text = hook.got.lock().unwrap()[0].body["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    assert!(text.contains("&lt;https://evil.test|login&gt;"), "{text}");
    assert!(text.contains("&amp;amp;"), "{text}");
    assert!(text.contains("&lt;!here&gt;"), "{text}");

    // E-mail: the subject stays one header, the CR/LF shown, no header injected.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mail = smtp.output.lock().unwrap().clone();
    for l in mail.lines() {
        let l = l.trim_start_matches("b'").trim_start_matches("b\"");
        assert!(
            !l.starts_with("X-Injected") && !l.starts_with("Bcc:"),
            "a header was injected: {l:?}\n{mail}"
        );
    }
    assert!(!mail.contains("thief@evil.test\n"), "{mail}");
    assert!(
        mail.contains("\\r\\nBcc: thief@evil.test\\r\\nX-Injected: yes"),
        "{mail}"
    );
    assert!(
        mail.to_lowercase().contains("content-type: text/plain"),
        "{mail}"
    );
}

/// The real console in a terminal: hostile events and sessions recorded by
/// the binary are shown escaped in the Audit and Sessions panes, and none of
/// their sequences or bidi overrides is among the bytes written to the terminal.
#[test]
fn the_console_writes_no_hostile_sequence_to_the_terminal_and_shows_it_escaped() {
    const T: std::time::Duration = std::time::Duration::from_secs(20);
    let env = CliEnv::new().acting_as("admin");
    env.expect(
        &["audit", "log", "--type", "login_failure", "--user", HOSTILE],
        0,
    );
    let created = env.json(&[
        "sessions",
        "create",
        "--user",
        HOSTILE_USER,
        "--ip",
        "198.51.100.7",
        "--user-agent",
        HOSTILE,
        "--json",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();

    let mut pty = env.signed_in_console("ops", 220, 40);
    pty.keys(":pane audit\r");
    let shown = "eve\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J";
    pty.wait_for(shown, T)
        .unwrap_or_else(|e| panic!("{e}:\n{}", pty.screen_text()));

    pty.keys(":pane sessions\r");
    pty.wait_for("adm\\u{202e}n", T)
        .unwrap_or_else(|e| panic!("{e}:\n{}", pty.screen_text()));
    pty.keys("\r");
    // The detail's user agent line drawn to its end.
    pty.wait_until(
        |text| {
            text.lines()
                .any(|l| l.contains("user agent") && l.contains("\\u{9b}31m adm\\u{202e}nimda"))
        },
        T,
    )
    .unwrap_or_else(|e| panic!("{e}:\n{}", pty.screen_text()));
    let screen = pty.screen_text();
    let ua = line_with(&screen, "user agent");
    assert!(ua.contains(shown), "{ua}");
    assert!(ua.contains("\\u{9b}31m adm\\u{202e}nimda"), "{ua}");
    assert!(
        !screen
            .lines()
            .any(|l| l.trim_start().starts_with("FAKE ROW")),
        "{screen}"
    );
    assert!(screen.contains(&id), "{screen}");

    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
    assert_wrote_no_hostile_sequence(&pty);
}

/// The Overview's recent problems and the Activity pane show service
/// messages (which quote names and server answers) escaped, one line each.
#[test]
fn overview_and_activity_show_hostile_messages_escaped_on_one_line() {
    use crate::console::{app, focus, screen};
    use windflow::console::app::Msg;
    use windflow::service::{Level, ServiceEvent};
    let mut app = app();
    let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_100);
    app.update(Msg::Service(ServiceEvent::Activity {
        service: "sessions",
        level: Level::Error,
        message: format!("hijack attempt by {HOSTILE}"),
        at,
    }));
    for pane in ["overview", "activity"] {
        focus(&mut app, pane);
        let text = screen(&mut app, 220, 40);
        if let Some((i, c)) = raw_char(&text, true) {
            panic!("{pane}: raw {c:?} at {i}:\n{text}");
        }
        let line = line_with(&text, "hijack attempt by");
        assert!(
            line.contains("eve\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07"),
            "{pane}: {line}"
        );
        assert!(
            line.contains("\\u{9b}31m adm\\u{202e}nimda"),
            "{pane}: {line}"
        );
        assert!(
            !text
                .lines()
                .any(|l| l.contains("FAKE ROW") && !l.contains("\\n")),
            "{pane}:\n{text}"
        );
    }
}

/// Secrets on a real OpenBao: a value written with `secrets put`, read back
/// with `secrets list`, `history`, `get --reveal` and `diff --reveal`.
#[test]
fn secrets_get_and_diff_show_hostile_values_escaped_list_and_history_stay_clean() {
    use crate::support::secrets_bao::{Bao, TOKEN};
    let bao = Bao::start();
    let env = CliEnv::new()
        .with_var("WINDFLOW_SECRETS_BACKEND", "vault")
        .with_var("VAULT_ADDR", &bao.addr)
        .with_var("VAULT_TOKEN", TOKEN);
    env.operator_with_grant("alice");
    let secrets = |args: &[&str]| {
        let mut all = vec!["--operator", "alice", "secrets"];
        all.extend_from_slice(args);
        stdout_and_stderr(&env, &all)
    };
    let path = "deployments/app";
    let value = format!("k={HOSTILE}");
    let (_, err) = secrets(&["put", path, &value]);
    assert!(raw_char(&err, true).is_none(), "{err:?}");
    secrets(&["put", path, "k=plain"]);
    // Vault refuses paths and custom metadata with unprintable characters
    // (400), so another writer cannot plant them there; values it stores.
    let (list, err) = secrets(&["list"]);
    assert!(raw_char(&list, true).is_none(), "secrets list: {list:?}");
    assert!(
        raw_char(&err, true).is_none(),
        "secrets list stderr: {err:?}"
    );
    assert!(list.contains("deployments/app"), "{list}");

    // Vault refuses unprintable custom metadata; what history prints of the
    // secret stays free of raw controls all the same.
    let (history, _) = secrets(&["history", path]);
    assert!(raw_char(&history, true).is_none(), "{history:?}");
    assert!(history.contains("created_by"), "{history}");

    let (get, _) = secrets(&["get", path, "--version", "1", "--reveal"]);
    assert_shown_escaped("secrets get --reveal", &get);
    assert!(line_with(&get, "k = ").contains("\\nFAKE ROW"), "{get}");

    let (diff, _) = secrets(&["diff", path, "1", "2", "--reveal"]);
    assert_shown_escaped("secrets diff --reveal", &diff);
    assert!(
        line_with(&diff, "-> plain").contains("\\nFAKE ROW"),
        "{diff}"
    );

    // --json is exact.
    let out = env.json(&[
        "--operator",
        "alice",
        "secrets",
        "get",
        path,
        "--version",
        "1",
        "--reveal",
        "--json",
    ]);
    assert_eq!(out["keys"]["k"]["value"], HOSTILE);
}

/// The Audit pane (TestBackend): the list row, the detail view (the whole
/// event, where JSON leaves C1 and bidi controls raw) and the dead letters.
#[test]
fn audit_pane_list_detail_and_dead_letters_show_hostile_text_escaped() {
    use crate::console::{press, screen, settings, typed};
    use crossterm::event::KeyCode;
    use windflow::audit::SecurityEvent;
    use windflow::audit::alert::{Alert, AlertState, DeadLetter};
    use windflow::audit::query::Source;
    use windflow::audit::service::{AuditEvent, Batch};

    let ev = SecurityEvent::new(
        "login_failure",
        Some(HOSTILE),
        serde_json::json!({ "note": HOSTILE }),
    );
    let alerts = AlertState {
        dead: [DeadLetter {
            channel: "slack".into(),
            alert: Alert::new(ev.clone(), 1),
            error: format!("server said: {HOSTILE}"),
            at: std::time::SystemTime::UNIX_EPOCH,
        }]
        .into(),
        ..Default::default()
    };
    let (feed, rx) = windflow::service::Wake::default().channel();
    let panes =
        crate::support::panes_with(Box::new(windflow::audit::pane::AuditPane::new(rx, 100)));
    let mut app = windflow::console::app::App::new(settings(), panes, "dark", "vim").unwrap();
    crate::console::focus(&mut app, "audit");
    // A server's error quoted in the source's name and notice.
    let source = Source::Fallback {
        cause: format!("answered 503: {HOSTILE}"),
        error: format!("Elasticsearch at http://es:9200 answered 503: {HOSTILE}"),
    };
    for ev in [
        AuditEvent::Reset {
            source,
            events: Batch::new(vec![ev]),
        },
        AuditEvent::Alerts(alerts),
    ] {
        assert!(feed.try_send(ev));
    }
    app.update(windflow::console::app::Msg::Wake);

    let list = screen(&mut app, 240, 30);
    assert!(raw_char(&list, true).is_none(), "list:\n{list}");
    assert!(
        line_with(&list, "Audit · local log (elasticsearch answered 503: ")
            .contains("adm\\u{202e}nimda"),
        "{list}"
    );
    assert!(
        line_with(&list, "http://es:9200 answered 503").contains("adm\\u{202e}nimda"),
        "{list}"
    );
    let row = line_with(&list, "login_failure");
    assert!(
        row.contains("eve\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J"),
        "{row}"
    );
    assert!(row.contains("\\u{9b}31m adm\\u{202e}nimda"), "{row}");

    press(&mut app, KeyCode::Enter);
    let detail = screen(&mut app, 240, 30);
    assert!(raw_char(&detail, true).is_none(), "detail:\n{detail}");
    assert!(
        detail.contains("\\u{9b}31m adm\\u{202e}nimda \\u{2066}x\\u{2069}"),
        "{detail}"
    );

    press(&mut app, KeyCode::Enter);
    typed(&mut app, "D");
    let dead = screen(&mut app, 240, 30);
    assert!(raw_char(&dead, true).is_none(), "dead letters:\n{dead}");
    assert!(
        line_with(&dead, "server said").contains("adm\\u{202e}nimda"),
        "{dead}"
    );
}

/// Look-alike user ids: `аlice` with a Cyrillic `а` is marked in `sessions
/// list`, explained in `show` and the console, and `revoke-user alice` says
/// it was not revoked; `[sessions] ascii_user_ids = true` refuses it.
#[test]
fn look_alike_user_ids_are_marked_and_revoke_user_names_them() {
    const T: std::time::Duration = std::time::Duration::from_secs(20);
    let env = CliEnv::new().acting_as("admin");
    let fake = "\u{430}lice";
    let create = |user: &str| {
        env.json(&[
            "sessions",
            "create",
            "--user",
            user,
            "--ip",
            "198.51.100.9",
            "--user-agent",
            "curl/8",
            "--json",
        ])["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let fake_id = create(fake);
    let real_id = create("alice");
    let juergen_id = create("J\u{fc}rgen");

    let list = env.expect(&["sessions", "list"], 0);
    assert!(
        line_with(&list, &fake_id[..8]).contains("LOOK-ALIKE"),
        "{list}"
    );
    assert!(
        !line_with(&list, &real_id[..8]).contains("LOOK-ALIKE"),
        "{list}"
    );
    assert!(
        !line_with(&list, &juergen_id[..8]).contains("LOOK-ALIKE"),
        "{list}"
    );
    let show = env.expect(&["sessions", "show", &fake_id], 0);
    let mark = line_with(&show, "LOOK-ALIKE");
    assert!(
        mark.contains("U+0430 at 0") && mark.contains("reads as alice"),
        "{show}"
    );

    // The acting admin's grant is the second factor.
    let out = env.expect(&["sessions", "revoke-user", "alice"], 0);
    let note = line_with(&out, "not revoked");
    assert!(
        note.contains("\u{430}lice looks like alice (U+0430 at 0)"),
        "{out}"
    );
    create("alice");
    let out = env.json(&["sessions", "revoke-user", "alice", "--json"]);
    assert_eq!(out["revoked"], 1);
    assert_eq!(out["look_alike_users"], serde_json::json!([fake]));
    let show = env.expect(&["sessions", "show", &fake_id], 0);
    assert!(show.contains("LOOK-ALIKE"), "{show}");

    // The console marks it too, with the code points in the detail.
    let mut pty = env.signed_in_console("ops", 160, 40);
    pty.keys(":pane sessions\r");
    pty.wait_for("LOOK-ALIKE", T)
        .unwrap_or_else(|e| panic!("{e}:\n{}", pty.screen_text()));
    pty.keys("q");
    pty.wait_exit(T).expect("windflow exits");

    // ASCII-only user ids, by setting.
    let conf = env.root.path().join("config/windflow");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("windflow.toml"),
        "[sessions]\nascii_user_ids = true\n",
    )
    .unwrap();
    let refused = env.run(&[
        "sessions",
        "create",
        "--user",
        fake,
        "--ip",
        "198.51.100.9",
        "--user-agent",
        "curl/8",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not ASCII") && err.contains("U+0430"), "{err}");
    create("alice");
}

/// A scanned image or a manifest written by an attacker: its package names,
/// titles and object names reach the terminal escaped, one line each.
#[test]
fn scan_report_and_manifests_show_hostile_package_and_object_names_escaped() {
    let env = CliEnv::new();
    let dir = env.root.path();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scans/trivy/alpine-310.json.golden"
    );
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let vulns = report["Results"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find_map(|r| r["Vulnerabilities"].as_array_mut())
        .expect("a result with vulnerabilities");
    vulns[0]["PkgName"] = HOSTILE.into();
    vulns[0]["InstalledVersion"] = HOSTILE.into();
    vulns[0]["Title"] = HOSTILE.into();
    let file = dir.join("hostile-trivy.json");
    std::fs::write(&file, serde_json::to_vec(&report).unwrap()).unwrap();
    let (out, err) = stdout_and_stderr(&env, &["scan", "report", file.to_str().unwrap()]);
    assert_shown_escaped("scan report", &out);
    assert_eq!(raw_char(&err, true), None, "stderr: {err:?}");

    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": HOSTILE, "namespace": "default" },
        "spec": { "containers": [{
            "name": HOSTILE,
            "image": "registry.example/app:1.0",
            "securityContext": { "privileged": true }
        }]}
    });
    let manifests = dir.join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    // JSON is YAML, but a YAML stream may not hold a raw C1 character:
    // escape it, as an attacker would.
    let text = serde_json::to_string(&pod)
        .unwrap()
        .replace('\u{9b}', "\\u009b");
    std::fs::write(manifests.join("pod.yaml"), text).unwrap();
    let (out, err) = stdout_and_stderr(&env, &["scan", "manifests", manifests.to_str().unwrap()]);
    assert_shown_escaped("scan manifests", &out);
    assert_eq!(raw_char(&err, true), None, "stderr: {err:?}");
    assert!(!out.lines().any(|l| l.starts_with("FAKE ROW")), "{out}");
}

/// The Scans pane shows a report's and a manifest's hostile names escaped
/// on one line: queue, findings and their detail, objects and their checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_pane_shows_hostile_report_and_manifest_names_escaped() {
    use crate::console::press;
    use crossterm::event::KeyCode;
    use std::sync::Arc;
    use std::time::Duration;
    use windflow::console::app::Msg;
    use windflow::scans::pane::ScansPane;
    use windflow::scans::service::{self, ScanConfig, ScanEvent, ScanRequest, Source};

    let dir = tempfile::tempdir().unwrap();
    let (mut relay, sink, pane_rx) = crate::support::Relay::new();
    let scans = service::spawn(
        ScanConfig {
            policy_path: Some(dir.path().join("p.toml")),
            runner: Default::default(),
            audit: windflow::audit::Audit::discard(),
            store: None,
        },
        sink,
    );
    let mut app = crate::console::app_with_pane(Box::new(ScansPane::new(pane_rx)));
    crate::console::focus(&mut app, "scans");
    let mut pump = async |app: &mut windflow::console::app::App, done: fn(&ScanEvent) -> bool| {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(20), relay.next_any())
                .await
                .expect("the scan service answers");
            match next {
                crate::support::Next::Common(ev) => {
                    app.update(Msg::Service(ev));
                }
                crate::support::Next::Domain(ev) => {
                    let stop = done(&ev);
                    relay.pass(ev);
                    app.update(Msg::Wake);
                    if stop {
                        return;
                    }
                }
            }
        }
    };

    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/scans/trivy/alpine-310.json.golden"
    );
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    for r in report["Results"].as_array_mut().unwrap() {
        for v in r["Vulnerabilities"].as_array_mut().into_iter().flatten() {
            v["PkgName"] = HOSTILE.into();
            v["Title"] = HOSTILE.into();
            v["Severity"] = "CRITICAL".into();
        }
    }
    assert!(scans.try_send(ScanRequest::Reports {
        name: HOSTILE.into(),
        sources: vec![Source::Bytes {
            name: "trivy hostile.json".into(),
            bytes: Arc::from(serde_json::to_vec(&report).unwrap()),
        }],
        pace: Duration::ZERO,
    }));
    pump(&mut app, |e| matches!(e, ScanEvent::Verdict { .. })).await;
    let screens = |app: &mut windflow::console::app::App| crate::console::screen(app, 250, 40);
    let queue = screens(&mut app);
    assert!(queue.contains("eve\\x1b]0;pwned"), "{queue}");
    press(&mut app, KeyCode::Enter);
    let findings = screens(&mut app);
    assert!(findings.contains("eve\\x1b]0;pwned\\x07"), "{findings}");
    assert!(findings.contains("adm\\u{202e}nimda"), "{findings}");
    assert!(
        !findings
            .lines()
            .any(|l| l.trim_start_matches('│').starts_with("FAKE ROW"))
    );

    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": HOSTILE, "namespace": HOSTILE },
        "spec": { "containers": [{
            "name": HOSTILE,
            "image": "registry.example/app:1.0",
            "securityContext": { "privileged": true }
        }]}
    });
    let text = serde_json::to_string(&pod)
        .unwrap()
        .replace('\u{9b}', "\\u009b");
    crate::console::typed(&mut app, "h");
    assert!(scans.try_send(ScanRequest::Manifests {
        name: "hostile manifests".into(),
        sources: vec![Source::Bytes {
            name: "pod.yaml".into(),
            bytes: Arc::from(text.into_bytes()),
        }],
        pace: Duration::ZERO,
    }));
    pump(&mut app, |e| matches!(e, ScanEvent::Manifests { .. })).await;
    crate::console::typed(&mut app, "G");
    press(&mut app, KeyCode::Enter);
    let objects = screens(&mut app);
    assert!(objects.contains("Pod/eve\\x1b]0;pwned"), "{objects}");
    assert!(
        objects.contains("[eve\\x1b]0;pwned"),
        "the container, in the checks: {objects}"
    );
}

/// Whether every line of an `audit show` is one of its fields or a later
/// line of a value (indented under a bar): no value starts a line of its own.
fn fields_only(out: &str) -> Result<(), String> {
    const FIELDS: &[&str] = &[
        "id",
        "time",
        "type",
        "severity",
        "user",
        "ip",
        "user agent",
        "session",
        "tags",
        "details",
    ];
    for l in out.lines() {
        let field = FIELDS
            .iter()
            .any(|f| l == *f || l.starts_with(&format!("{f} ")));
        // A detail key: two spaces, then a character that is not a space or a bar.
        let key = l
            .strip_prefix("  ")
            .is_some_and(|r| !r.starts_with([' ', '|']));
        let more = l.trim_start().starts_with("| ") && l.starts_with("            | ");
        if !(field || key || more) {
            return Err(format!("a line that is no field: {l:?} in\n{out}"));
        }
    }
    Ok(())
}

#[track_caller]
fn assert_fields_only(out: &str) {
    if let Err(e) = fields_only(out) {
        panic!("{e}");
    }
}

/// `audit show ID`: the whole event, every field through the display
/// boundary, a value with line breaks shown as lines under its field;
/// `--json` exact; an unknown id (hostile itself) exits 2 naming it escaped.
#[test]
fn audit_show_prints_every_field_escaped_and_multi_line_values_as_lines() {
    let env = CliEnv::new().recording_as("ops");
    let details = serde_json::json!({
        "note": HOSTILE,
        "nested": { "k": HOSTILE },
        HOSTILE: 1,
    })
    .to_string();
    let logged = env.json(&[
        "audit",
        "log",
        "--type",
        "login_failure",
        "--user",
        HOSTILE,
        "--details",
        &details,
        "--json",
    ]);
    let id = logged["id"].as_str().unwrap();
    env.expect(&["audit", "log", "--type", "other", "--user", "bob"], 0);

    let (out, err) = stdout_and_stderr(&env, &["audit", "show", id]);
    assert_shown_escaped("audit show", &out);
    assert!(raw_char(&err, true).is_none(), "stderr: {err:?}");
    assert_fields_only(&out);
    assert!(line_with(&out, "id ").ends_with(id), "{out}");
    assert!(line_with(&out, "type ").ends_with("login_failure"), "{out}");
    assert!(line_with(&out, "severity ").ends_with("medium"), "{out}");
    assert!(line_with(&out, "tags ").contains("ingested"), "{out}");
    assert!(!out.contains("bob"), "another event shown:\n{out}");
    // The user's newline: its second line under a bar, not a row of its own.
    assert!(
        line_with(&out, "user ").ends_with("\\u{2066}x\\u{2069}"),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("| FAKE ROW <!channel>"))
            .count(),
        2,
        "the user's and the note's second lines:\n{out}"
    );
    // Details: each key a field, nested values as indented JSON, the hostile
    // key escaped on one line, the recording actor there too.
    assert!(line_with(&out, "  note ").contains("\\x1b]52;c;"), "{out}");
    assert!(line_with(&out, "  actor ").ends_with("ops"), "{out}");
    assert!(line_with(&out, "  nested ").ends_with('{'), "{out}");
    assert!(
        line_with(&out, "\"k\": ").contains("\\u{9b}31m adm\\u{202e}nimda"),
        "JSON leaves C1 and bidi raw; the boundary does not:\n{out}"
    );
    assert!(
        line_with(&out, "<!channel> 1").contains("\\nFAKE ROW"),
        "the key on one line:\n{out}"
    );

    // --json is exact.
    let ev = env.json(&["audit", "show", id, "--json"]);
    assert_eq!(ev["id"], id);
    assert_eq!(ev["user_id"], HOSTILE);
    assert_eq!(ev["details"]["note"], HOSTILE);
    assert_eq!(ev["details"][HOSTILE], 1);

    // Unknown ids exit 2 and are named, escaped.
    let missing = env.run(&["audit", "show", "0123456789abcdef"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8(missing.stderr).unwrap();
    assert!(err.contains("no event with id 0123456789abcdef"), "{err}");
    let missing = env.run(&["audit", "show", HOSTILE]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8(missing.stderr).unwrap();
    assert!(raw_char(&err, true).is_none(), "stderr: {err:?}");
    assert!(err.contains("eve\\x1b]0;pwned"), "{err}");
}

/// `audit show` reads by the rule of tail and search, against a real
/// osmem-server: an event another producer indexed (only in Elasticsearch)
/// is found and shown escaped; while Elasticsearch is down the local log
/// answers for this data dir's events (exit 4, one line saying so), and an
/// id only Elasticsearch holds is "not in the local log" (exit 4), not unknown.
#[test]
fn audit_show_reads_elasticsearch_and_the_local_log_by_the_rule_of_tail() {
    use crate::support::audit_servers as servers;
    use windflow::audit::SecurityEvent;
    use windflow::audit::elastic::EsClient;
    use windflow::audit::settings::EsSettings;

    let mut server = servers::osmem(0);
    let url = server.url();
    let env = CliEnv::new()
        .recording_as("ops")
        .with_var("ELASTICSEARCH_URL", &url);
    let mine = env.json(&["audit", "log", "--type", "deployment", "--json"]);
    let mine = mine["id"].as_str().unwrap();
    let mut foreign = SecurityEvent::new(
        "login_failure",
        Some(HOSTILE),
        serde_json::json!({ "note": HOSTILE }),
    );
    foreign.user_agent = Some(HOSTILE.into());
    let client = EsClient::new(&EsSettings {
        url: url.clone(),
        username: None,
        password: None,
        api_key: None,
    })
    .unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            client.put_template().await.unwrap();
            client.bulk(std::slice::from_ref(&foreign)).await.unwrap();
        });

    let (out, err) = stdout_and_stderr(&env, &["audit", "show", &foreign.id]);
    assert_shown_escaped("audit show (elasticsearch)", &out);
    assert_fields_only(&out);
    assert!(err.is_empty(), "{err}");
    assert!(line_with(&out, "user agent ").contains("\\x1b[2J"), "{out}");
    env.expect(&["audit", "show", mine], 0);

    server.stop();
    let shown = env.run(&["audit", "show", mine]);
    assert_eq!(shown.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&shown.stdout).contains(mine));
    assert!(String::from_utf8_lossy(&shown.stderr).contains("local log's events only"));
    let gone = env.run(&["audit", "show", &foreign.id]);
    assert_eq!(gone.status.code(), Some(4));
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(
        err.contains("in the local log, and Elasticsearch did not answer"),
        "{err}"
    );
}

/// Markup an attacker would put in a report: HTML that runs script or loads
/// from outside, and Markdown that links, emphasises, quotes or numbers.
const MARKUP: &str = "<script>alert(1)</script><img src=x onerror=alert(2)> \
    [click](javascript:alert(3)) ![i](https://evil.test/i.png) <https://evil.test> \
    *em* _u_ `code` ~~s~~ ^sup^ $x$ [[wiki]] a|b &lt; \\ # h {#id .c}";

/// `s` as a TOML basic string, every character that is not printable ASCII
/// written as an escape (a spec file is text).
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A deployment `shop` whose free text is hostile (the owner refuses
/// controls, not bidi overrides; protection measures take anything), planned
/// into a cluster folder that also holds objects another writer named.
struct HostileShop {
    env: CliEnv,
    specs: String,
    cluster: String,
}

impl HostileShop {
    fn new() -> Self {
        let env = CliEnv::new().acting_as("alice");
        let specs = env.root.path().join("specs");
        std::fs::create_dir_all(&specs).unwrap();
        let spec = format!(
            "id = \"shop\"\nowner = {}\nenvironment = \"prod\"\n[data]\npersonal_data = true\nphi = false\nconsent_management = false\n\
             card_data = true\nretention_days = 90\nprotection_measures = [{}, {}]\n\
             [resources]\ncpu = \"1\"\nmemory = \"1Gi\"\npods = 2\n\
             [[services]]\nname = \"api\"\nimage = {}\nports = [8080]\n",
            toml_str(&format!("team adm\u{202e}nimda \u{2066}x\u{2069} {MARKUP}")),
            toml_str(HOSTILE),
            toml_str(MARKUP),
            toml_str("registry.example/shop/api:1.0"),
        );
        std::fs::write(specs.join("shop.toml"), spec).unwrap();
        let cluster = env.root.path().join("cluster");
        let specs = specs.display().to_string();
        let cluster_s = cluster.display().to_string();
        env.expect(
            &[
                "isolate",
                "plan",
                "shop",
                "--deployments",
                &specs,
                "--cluster-dir",
                &cluster_s,
            ],
            0,
        );
        let policy = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": HOSTILE, "namespace": "wf-shop"},
            "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
        });
        // JSON with every non-ASCII character escaped (YAML forbids raw C1).
        let ascii: String = serde_json::to_string(&policy)
            .unwrap()
            .chars()
            .map(|c| match c.is_ascii() {
                true => c.to_string(),
                false => format!("\\u{:04x}", c as u32),
            })
            .collect();
        std::fs::write(cluster.join("hostile.json"), ascii).unwrap();
        Self {
            env,
            specs,
            cluster: cluster_s,
        }
    }

    /// Runs `args` with the folders; returns the exit code, stdout, stderr.
    fn run(&self, args: &[&str], cluster: bool) -> (Option<i32>, String, String) {
        let mut all = args.to_vec();
        all.extend(["--deployments", &self.specs]);
        if cluster {
            all.extend(["--cluster-dir", &self.cluster]);
        }
        let out = self.env.run(&all);
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }
}

/// The newer commands (deployments, isolate, compliance, anomaly) print a
/// spec's, a cluster folder's and a CSV file's hostile text through the
/// display boundary, in their output and in their errors.
#[test]
fn deployments_isolate_compliance_and_anomaly_show_hostile_text_escaped() {
    let shop = HostileShop::new();
    let clean = |what: &str, out: &str| {
        if let Some((i, c)) = raw_char(out, true) {
            panic!("{what}: raw {c:?} at byte {i}:\n{out:?}");
        }
    };

    for args in [
        &["deployments", "list"][..],
        &["deployments", "show", "shop"],
    ] {
        let (code, out, err) = shop.run(args, false);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        clean(&format!("{args:?}"), &out);
        assert!(
            out.contains("team adm\\u{202e}nimda \\u{2066}x"),
            "{args:?}:\n{out}"
        );
    }
    let (_, show, _) = shop.run(&["deployments", "show", "shop"], false);
    assert_shown_escaped("deployments show", &show);
    assert!(!show.lines().any(|l| l.starts_with("FAKE ROW")), "{show}");
    let (code, out, err) = shop.run(
        &["deployments", "check", &format!("{}/shop.toml", shop.specs)],
        false,
    );
    assert_eq!(code, Some(0), "{err}");
    clean("deployments check", &out);

    // A spec whose id is hostile: refused, the id shown escaped.
    let bad = shop.env.root.path().join("bad.toml");
    let good = std::fs::read_to_string(format!("{}/shop.toml", shop.specs)).unwrap();
    let hostile_id = format!("id = {}", toml_str(HOSTILE));
    std::fs::write(&bad, good.replacen("id = \"shop\"", &hostile_id, 1)).unwrap();
    let (code, out, err) = shop.run(&["deployments", "check", bad.to_str().unwrap()], false);
    assert_eq!(code, Some(2), "{out}{err}");
    clean("deployments check (stderr)", &err);
    assert!(err.contains("eve\\x1b]0;pwned"), "{err}");

    // isolate status: the foreign policy's name, escaped, one line.
    let (code, out, err) = shop.run(&["isolate", "status", "shop"], true);
    assert_eq!(code, Some(1), "drift: {out}{err}");
    assert_shown_escaped("isolate status", &out);
    clean("isolate status (stderr)", &err);
    assert!(!out.lines().any(|l| l.starts_with("FAKE ROW")), "{out}");

    // compliance check and evidence list: the measures, a hostile note.
    let (code, out, err) = shop.run(&["compliance", "check", "shop"], true);
    assert_eq!(code, Some(3), "{out}{err}");
    clean("compliance check", &out);
    clean("compliance check (stderr)", &err);
    assert!(out.contains("shop: NOT COMPLIANT"), "{out}");
    let (code, _, err) = shop.run(
        &[
            "compliance",
            "evidence",
            "add",
            "shop",
            "gdpr-art30-records",
            "--link",
            "https://wiki.example/ropa?q=\"><script>alert(1)</script>",
            "--note",
            &format!("RoPA \u{202e}fdp.exe {MARKUP}"),
            "--expires",
            "90d",
        ],
        false,
    );
    assert_eq!(code, Some(0), "{err}");
    let list = shop.env.expect(&["compliance", "evidence", "list"], 0);
    clean("compliance evidence list", &list);
    assert!(list.contains("RoPA \\u{202e}fdp.exe <script>"), "{list}");

    // anomaly score: a CSV header another tool wrote, named in the error.
    let dir = shop.env.root.path();
    std::fs::write(dir.join("train.csv"), "a,b\n1,2\n2,3\n3,4\n4,5\n").unwrap();
    let header = HOSTILE.replace(['\n', ','], " ");
    std::fs::write(dir.join("input.csv"), format!("a,{header}\n1,2\n")).unwrap();
    let out = shop.env.run(&[
        "anomaly",
        "score",
        "--detector",
        "iforest",
        "--train",
        dir.join("train.csv").to_str().unwrap(),
        "--input",
        dir.join("input.csv").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    clean("anomaly score (stderr)", &err);
    assert!(err.contains("eve\\x1b]0;pwned\\x07"), "{err}");
}

/// The text of a Markdown document as a CommonMark renderer reads it, with
/// every extension pulldown-cmark has (tables, strikethrough, math, wiki
/// links, super- and subscript, heading attributes, ...) but typographic
/// quotes, and every construct it found that
/// the report does not write itself (links, images, HTML, emphasis, code,
/// quotes, numbered lists, rules).
fn markdown_read(doc: &str) -> (String, Vec<String>) {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let mut text = String::new();
    let mut foreign = Vec::new();
    for ev in Parser::new_ext(doc, Options::all() - Options::ENABLE_SMART_PUNCTUATION) {
        match ev {
            Event::Text(t) => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak => text.push('\n'),
            Event::Start(
                Tag::Heading { .. }
                | Tag::Paragraph
                | Tag::Table(_)
                | Tag::TableHead
                | Tag::TableRow
                | Tag::TableCell
                | Tag::List(None)
                | Tag::Item
                | Tag::Strong,
            )
            | Event::End(_) => text.push(' '),
            other => foreign.push(format!("{other:?}")),
        }
    }
    (text, foreign)
}

/// The compliance report in Markdown and HTML, with a hostile spec, evidence
/// and waiver: read back by a CommonMark renderer and by Python's HTML
/// parser, the outside text is text (no link, image, emphasis, code, list or
/// tag of its own), shown whole with its controls escaped, and the HTML page
/// loads nothing and runs nothing.
#[test]
fn compliance_reports_escape_hostile_text_as_markdown_and_html() {
    let shop = HostileShop::new();
    let note = format!("RoPA \u{202e}fdp.exe {MARKUP}");
    let link = "https://wiki.example/ropa?q=\"><script>alert(4)</script>";
    let (code, _, err) = shop.run(
        &[
            "compliance",
            "evidence",
            "add",
            "shop",
            "gdpr-art30-records",
            "--link",
            link,
            "--note",
            &note,
            "--expires",
            "90d",
        ],
        false,
    );
    assert_eq!(code, Some(0), "{err}");
    let reason = format!("1. accepted {MARKUP}");
    let (code, _, err) = shop.run(
        &[
            "compliance",
            "waive",
            "shop",
            "gdpr-art7-consent",
            "--reason",
            &reason,
            "--expires",
            "30d",
        ],
        false,
    );
    assert_eq!(code, Some(0), "{err}");
    let report = |format: &str| {
        let (code, out, err) = shop.run(
            &[
                "compliance",
                "report",
                "shop",
                "--framework",
                "gdpr",
                "--format",
                format,
            ],
            true,
        );
        assert_eq!(code, Some(0), "{err}");
        if let Some((i, c)) = raw_char(&out, true) {
            panic!("{format}: raw {c:?} at byte {i}:\n{out}");
        }
        out
    };
    // What a reader must see, whole: the note (its override escaped), the
    // link, the reason, the measures.
    let shown_note = format!("RoPA \\u{{202e}}fdp.exe {MARKUP}");
    let wanted = [
        shown_note.as_str(),
        link,
        &reason,
        "eve\\x1b]0;pwned\\x07\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J",
        "adm\\u{202e}nimda \\u{2066}x\\u{2069}\\nFAKE ROW <!channel>",
    ];

    let md = report("md");
    let (text, foreign) = markdown_read(&md);
    assert!(foreign.is_empty(), "Markdown read as {foreign:#?} in\n{md}");
    for w in wanted {
        assert!(text.contains(w), "{w:?} not read from\n{md}\nread:\n{text}");
    }

    let html = report("html");
    let python = crate::support::python_with("html.parser");
    let script = r#"
import json, sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.where = [], [], []
    def handle_starttag(self, tag, attrs):
        self.tags.append([tag, attrs]); self.where.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.tags.append([tag, attrs])
    def handle_endtag(self, tag):
        if self.where and self.where[-1] == tag: self.where.pop()
    def handle_data(self, data):
        if not self.where or self.where[-1] not in ("style", "title"): self.text.append(data)
    def handle_comment(self, data): self.tags.append(["!--", []])
    def handle_pi(self, data): self.tags.append(["?", []])
p = P(); p.feed(sys.stdin.read()); p.close()
print(json.dumps({"tags": p.tags, "text": "".join(p.text)}))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(html.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    const OURS: &[&str] = &[
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong", "span",
        "table", "tr", "th", "td", "ul", "li",
    ];
    for t in read["tags"].as_array().unwrap() {
        let name = t[0].as_str().unwrap();
        assert!(OURS.contains(&name), "a <{name}> from data in\n{html}");
        for a in t[1].as_array().unwrap() {
            let key = a[0].as_str().unwrap();
            assert!(
                ["class", "lang", "charset"].contains(&key),
                "attribute {key} on <{name}> in\n{html}"
            );
        }
    }
    let text = read["text"].as_str().unwrap();
    for w in wanted {
        assert!(
            text.contains(w),
            "{w:?} not read from\n{html}\nread:\n{text}"
        );
    }
}

/// A silence another writer made (amtool, against a real Alertmanager) with
/// a hostile author and comment: `alerts silences` shows them escaped, each
/// silence on one line.
#[test]
fn alerts_silences_show_a_hostile_author_and_comment_escaped() {
    use crate::support::alertmanager as am;
    let am = am::start(&["alertname"]);
    let out = std::process::Command::new("amtool")
        .args([
            "silence",
            "add",
            &format!("--alertmanager.url={}", am.url()),
            &format!("--author={HOSTILE}"),
            &format!("--comment={HOSTILE}"),
            "--duration=1h",
            "user=mallory",
        ])
        .output()
        .expect("amtool (Debian prometheus-alertmanager) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = CliEnv::new().with_var("WINDFLOW_ALERT_ALERTMANAGER_URL", &am.url());
    let (text, err) = stdout_and_stderr(&env, &["alerts", "silences"]);
    assert_shown_escaped("alerts silences", &text);
    assert!(raw_char(&err, true).is_none(), "{err:?}");
    assert_eq!(text.lines().count(), 2, "a header and one silence:\n{text}");
    assert!(!text.lines().any(|l| l.starts_with("FAKE ROW")), "{text}");
    let listed = env.json(&["alerts", "silences", "--json"]);
    assert_eq!(listed[0]["comment"], HOSTILE);
}

/// What an alert says in Slack and in an e-mail body, for a hostile event:
/// Slack's markup escaped, and in both no raw control or bidi override
/// (JSON escaping leaves C1 controls and overrides raw), the corpus shown.
#[test]
fn slack_text_and_email_body_show_hostile_events_escaped() {
    use windflow::audit::SecurityEvent;
    use windflow::audit::alert::Alert;
    let mut ev = SecurityEvent::new(
        "secret_exfiltration",
        Some(HOSTILE),
        serde_json::json!({ "note": HOSTILE, "link": "<https://evil.test|login>" }),
    );
    ev.user_agent = Some(HOSTILE.into());
    let alert = Alert::new(ev, 1);

    let slack = alert.slack_payload()["text"].as_str().unwrap().to_owned();
    if let Some((i, c)) = raw_char(&slack, true) {
        panic!("slack: raw {c:?} at {i}:\n{slack:?}");
    }
    assert!(
        slack.contains("adm\\u{202e}nimda \\u{2066}x\\u{2069}"),
        "{slack}"
    );
    assert!(slack.contains("\\x1b]52;c;cHduZWQ="), "{slack}");
    assert!(slack.contains("&lt;!channel&gt;"), "{slack}");
    assert!(slack.contains("&lt;https://evil.test|login&gt;"), "{slack}");
    assert!(!slack.contains(['<', '>']), "{slack}");
    // One line of summary, then the details in one code block.
    assert_eq!(slack.lines().count(), 2, "{slack}");

    let body = alert.email_body();
    assert_shown_escaped("e-mail body", &body);
    assert!(!body.lines().any(|l| l.starts_with("FAKE ROW")), "{body}");
    assert_eq!(alert.email_subject().lines().count(), 1);
}

/// `audit show`'s rendering over generated events (random bytes, text and
/// the corpus's pieces in every field and detail key): no raw control or
/// bidi character but line breaks, and every line is a field or a later
/// line of a value under its bar. `PROPTEST_CASES` inputs (256 by default).
#[test]
fn audit_show_detail_holds_for_generated_events() {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use windflow::audit::SecurityEvent;

    let piece = prop_oneof![
        vec(any::<u8>(), 0..48).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        any::<String>(),
        proptest::sample::select(
            SHOWN
                .iter()
                .map(|s| s.replace("\\x1b", "\u{1b}"))
                .collect::<Vec<_>>()
        ),
        Just(HOSTILE.to_string()),
    ];
    let event = (vec(piece, 6), any::<bool>());
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config)
        .run(&event, |(p, nested)| {
            let inner = if nested {
                serde_json::json!({ &p[4]: [p[5].clone()] })
            } else {
                serde_json::json!(p[5].clone())
            };
            let mut ev =
                SecurityEvent::new(&p[0], Some(&p[1]), serde_json::json!({ &p[3]: inner }));
            ev.user_agent = Some(p[2].clone());
            ev.id = p[4].clone();
            let out = windflow::cli::audit::detail(&ev);
            prop_assert!(raw_char(&out, true).is_none(), "{out:?}");
            prop_assert!(
                fields_only(&out).is_ok(),
                "{}",
                fields_only(&out).unwrap_err()
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The Isolation and Compliance panes in the real console, over the hostile
/// shop: the foreign policy's name, the owner and the protection measures
/// are shown escaped, and no hostile sequence is written to the terminal.
#[test]
fn isolation_and_compliance_panes_write_no_hostile_sequence() {
    const T: std::time::Duration = std::time::Duration::from_secs(30);
    let shop = HostileShop::new();
    let config = shop.env.root.path().join("windflow.toml");
    std::fs::write(
        &config,
        format!(
            "deployments_dir = \"{}\"\n[isolation]\ncluster_dir = \"{}\"\n",
            shop.specs, shop.cluster
        ),
    )
    .unwrap();
    let HostileShop { env, .. } = shop;
    let env = env.with_var("WINDFLOW_CONFIG", config.to_str().unwrap());
    let mut pty = env.signed_in_console("ops", 220, 50);
    let wait = |pty: &crate::support::pty::Pty, text: &str| {
        pty.wait_for(text, T)
            .unwrap_or_else(|e| panic!("{e}:\n{}", pty.screen_text()))
    };
    pty.keys(":pane isolation\r");
    wait(&pty, "shop");
    pty.keys("\r");
    // The foreign policy another writer named, escaped, on one line.
    wait(&pty, "eve\\x1b]0;pwned");
    pty.keys(":pane compliance\r");
    wait(&pty, "NON-COMPLIANT");
    pty.keys("\r");
    wait(&pty, "shop: not compliant");
    // Down the controls to one whose issue lists the protection measures.
    for _ in 0..40 {
        if pty.contains("eve\\x1b]0;pwned") {
            break;
        }
        pty.keys("j");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    wait(&pty, "eve\\x1b]0;pwned");
    let screen = pty.screen_text();
    assert!(
        !screen
            .lines()
            .any(|l| l.trim_start().starts_with("FAKE ROW")),
        "{screen}"
    );
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
    assert_wrote_no_hostile_sequence(&pty);
}

/// Nothing of the hostile strings' sequences reached the terminal: no
/// clipboard or title write, no concealed text, no bare carriage return,
/// no C1 control, no bidirectional override or isolate; the title is ours.
pub fn assert_wrote_no_hostile_sequence(pty: &crate::support::pty::Pty) {
    let raw = pty.raw_output();
    let find = |needle: &[u8]| raw.windows(needle.len()).position(|w| w == needle);
    for needle in [
        &b"\x1b]52;c;cHduZWQ"[..],
        b"\x1b]0;pwned",
        b"\x1b[8mhid",
        b"hid\rroot",
        "\u{9b}".as_bytes(),
        "\u{202e}".as_bytes(),
        "\u{2066}".as_bytes(),
        "\u{2067}".as_bytes(),
        "\u{2069}".as_bytes(),
    ] {
        assert!(
            find(needle).is_none(),
            "{:?} was written to the terminal",
            String::from_utf8_lossy(needle)
        );
    }
    assert_ne!(pty.title(), "pwned");
}
