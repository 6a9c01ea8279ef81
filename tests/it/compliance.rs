//! Compliance through the real binary: facts from real state (secrets put
//! and rotated through the CLI, a cluster folder written by `isolate plan`
//! with its egress default-deny taken out, an operator who never enrolled),
//! evidence and waivers with their permissions and audit events, and the
//! three report formats.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::cli::CliEnv;

const SHOP: &str = r#"id = "shop"
owner = "team-shop"
environment = "prod"
[data]
personal_data = true
phi = false
card_data = true
retention_days = 90
consent_management = false
protection_measures = ["encryption-at-rest", "<script>alert(1)</script>", "a|b"]
[resources]
cpu = "1"
memory = "1Gi"
pods = 2
[[services]]
name = "api"
image = "registry.example/shop/api:1.0"
ports = [8080]
"#;

/// The specs folder with `shop`, and a cluster folder with its plan.
fn world(env: &CliEnv, egress_deny: bool) -> (PathBuf, PathBuf) {
    let specs = env.root.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(specs.join("shop.toml"), SHOP).unwrap();
    let cluster = env.root.path().join("cluster");
    env.expect(
        &[
            "isolate",
            "plan",
            "shop",
            "--deployments",
            specs.to_str().unwrap(),
            "--cluster-dir",
            cluster.to_str().unwrap(),
        ],
        0,
    );
    if !egress_deny {
        let file = cluster.join("wf-shop.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let deny = "name: default-deny\n  namespace: wf-shop\nspec:\n  podSelector: {}\n  policyTypes:\n  - Ingress\n  - Egress\n";
        assert!(text.contains(deny), "{text}");
        let ingress_only = deny.replace("  - Egress\n", "");
        std::fs::write(&file, text.replace(deny, &ingress_only)).unwrap();
    }
    (specs, cluster)
}

fn dirs(specs: &Path, cluster: &Path) -> Vec<String> {
    vec![
        "--deployments".into(),
        specs.display().to_string(),
        "--cluster-dir".into(),
        cluster.display().to_string(),
    ]
}

fn check(env: &CliEnv, specs: &Path, cluster: &Path, code: i32) -> Value {
    let mut args: Vec<String> = ["compliance", "check", "shop", "--json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(dirs(specs, cluster));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.json_code(&args, code)
}

fn control<'a>(v: &'a Value, framework: &str, id: &str) -> &'a Value {
    v["frameworks"][framework]["controls"]
        .as_array()
        .unwrap_or_else(|| panic!("{framework} has no controls: {v}"))
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id}"))
}

fn check_of<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {c}"))
}

#[test]
fn compliance_checks_read_rotated_secrets_missing_egress_deny_and_an_operator_without_mfa() {
    let env = CliEnv::new().acting_as("alice");
    // An operator who never enrolled a second factor.
    env.expect(&["operators", "add", "bob", "--role", "viewer"], 0);
    let (specs, cluster) = world(&env, false);
    env.expect(
        &["secrets", "put", "deployments/shop/db", "password=first"],
        0,
    );
    let r = env.json(&["secrets", "rotate", "deployments/shop/db", "--json"]);
    assert_eq!(r["outcome"], "rotated", "{r}");

    let v = check(&env, &specs, &cluster, 3);
    assert_eq!(v["deployment"], "shop");
    assert_eq!(v["compliant"], false);
    assert_eq!(v["frameworks"]["HIPAA"]["status"], "not_applicable");
    assert_eq!(v["frameworks"]["HIPAA"]["controls"], serde_json::json!([]));

    // The operator without a second factor, and only that one.
    let mfa = control(&v, "SOC 2", "soc2-cc6.1-mfa");
    assert_eq!(mfa["status"], "fail", "{mfa}");
    assert_eq!(
        mfa["issues"],
        serde_json::json!(["operator bob (viewer) has no active second factor (none)"])
    );
    assert!(
        mfa["recommendation"]
            .as_str()
            .unwrap()
            .contains("mfa enroll")
    );
    let read = check_of(mfa, "operators.mfa");
    assert!(
        read["read"].as_str().unwrap().contains("windflow.db"),
        "{read}"
    );
    assert!(read["read_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(read["pane"], "operators");

    // The rotated secret: sealed, and changed just now.
    let enc = control(&v, "SOC 2", "soc2-cc6.1-encryption");
    assert_eq!(enc["status"], "pass", "{enc}");
    let rotated = check_of(enc, "secrets.rotated");
    assert_eq!(
        rotated["detail"],
        "1 secrets, the oldest changed 0 days ago (at most 90)"
    );
    assert!(rotated["read"].as_str().unwrap().contains("the secrets in"));

    // The namespace whose egress is not denied by default.
    let net = control(&v, "PCI DSS", "pci-1.3-network");
    assert_eq!(net["status"], "fail");
    assert_eq!(
        net["issues"],
        serde_json::json!([
            "egress is not denied by default in wf-shop: no policy denies it to every pod"
        ])
    );
    assert_eq!(check_of(net, "isolation.default_deny")["pane"], "isolation");
    // Pod Security is as planned.
    assert_eq!(
        control(&v, "PCI DSS", "pci-2.2-hardening")["checks"][0]["status"],
        "pass"
    );
    // The seed's GDPR case of the spec: no consent management.
    let consent = control(&v, "GDPR", "gdpr-art7-consent");
    assert_eq!(
        consent["issues"],
        serde_json::json!(["personal data without consent management"])
    );
    // The log holds the commands above, and its chain verifies.
    let logs = control(&v, "PCI DSS", "pci-10.3-integrity");
    assert_eq!(logs["status"], "pass", "{logs}");
    // No gate verdict is kept: undecided, so manual, never a pass.
    let gate = control(&v, "PCI DSS", "pci-6.3-vulnerabilities");
    assert_eq!(
        (&gate["status"], &gate["satisfied"]),
        (&"manual".into(), &false.into())
    );
    assert!(
        gate["needs"]
            .as_str()
            .unwrap()
            .contains("registry.example/shop/api:1.0: never judged by the deploy gate"),
        "{gate}"
    );
    assert!(
        v["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("isolate apply shop"))
    );

    // A value written behind windflow's back, not sealed: the check fails.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use windflow::secrets::SecretStore;
        let store =
            windflow::secrets::LocalStore::new(windflow::store::Store::open(&env.data()).unwrap());
        let raw = [("token".to_string(), "plain-text".to_string())]
            .into_iter()
            .collect();
        store.write("deployments/shop/raw", &raw, 0).await.unwrap();
    });
    let v = check(&env, &specs, &cluster, 3);
    let enc = control(&v, "SOC 2", "soc2-cc6.1-encryption");
    assert_eq!(enc["status"], "fail");
    let issue = enc["issues"][0].as_str().unwrap();
    // Written without windflow's metadata MAC: refused before any value is opened.
    assert!(
        issue.starts_with("deployments/shop/raw: its current version cannot be read")
            && issue.contains("changed outside windflow"),
        "{issue}"
    );
    assert!(!issue.contains("plain-text"));
}

#[test]
fn compliance_evidence_and_waivers_need_their_role_are_audited_and_show_their_expiry() {
    let env = CliEnv::new().acting_as("alice");
    env.expect(&["operators", "add", "bob", "--role", "viewer"], 0);
    let (specs, cluster) = world(&env, true);
    let d = dirs(&specs, &cluster);
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|s| s.to_string())
            .chain(d[..2].iter().cloned())
            .collect()
    };
    let run = |args: Vec<String>, code: i32| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        env.expect(&a, code)
    };
    let before = control(
        &check(&env, &specs, &cluster, 3),
        "GDPR",
        "gdpr-art30-records",
    )
    .clone();
    assert_eq!(
        (&before["status"], &before["satisfied"]),
        (&"manual".into(), &false.into())
    );
    assert_eq!(
        before["issues"],
        serde_json::json!(["no evidence attached"])
    );

    let add = [
        "compliance",
        "evidence",
        "add",
        "shop",
        "gdpr-art30-records",
        "--link",
        "https://wiki.example/ropa",
        "--note",
        "RoPA 2026",
        "--expires",
        "90d",
    ];
    // A viewer may not; bad input is named; nothing is stored by either.
    let mut as_bob = with(&add);
    as_bob.extend(["--operator".into(), "bob".into()]);
    run(as_bob, 3);
    let mut bad = with(&add);
    bad[6] = "ftp://wiki.example/x".into();
    run(bad, 2);
    let mut unknown = with(&add);
    unknown[4] = "gdpr-art99".into();
    run(unknown, 2);
    let mut forever = with(&add);
    forever[10] = "0d".into();
    run(forever, 2);
    assert!(
        !env.event_types()
            .iter()
            .any(|t| t.starts_with("compliance_"))
    );

    run(with(&add), 0);
    let after = control(
        &check(&env, &specs, &cluster, 3),
        "GDPR",
        "gdpr-art30-records",
    )
    .clone();
    assert_eq!(
        (&after["status"], &after["satisfied"]),
        (&"manual".into(), &true.into())
    );
    assert_eq!(after["evidence"]["by"], "alice");
    assert_eq!(after["evidence"]["expired"], false);

    // A waiver needs compliance.waive: bob (viewer) is refused.
    let waive = [
        "compliance",
        "waive",
        "shop",
        "gdpr-art7-consent",
        "--reason",
        "consent is collected by the storefront",
        "--expires",
        "30d",
    ];
    let mut as_bob = with(&waive);
    as_bob.extend(["--operator".into(), "bob".into()]);
    run(as_bob, 3);
    run(with(&waive), 0);
    let v = check(&env, &specs, &cluster, 3);
    let consent = control(&v, "GDPR", "gdpr-art7-consent");
    assert_eq!(consent["status"], "waived");
    assert_eq!(
        consent["waiver"]["reason"],
        "consent is collected by the storefront"
    );
    // The issue stays visible under the waiver.
    assert_eq!(
        consent["issues"],
        serde_json::json!(["personal data without consent management"])
    );

    let list = env.json(&["compliance", "evidence", "list", "shop", "--json"]);
    assert_eq!(list["evidence"][0]["expired"], false);
    assert_eq!(list["waivers"][0]["record"]["by"], "alice");
    let types = env.event_types();
    assert!(types.contains(&"compliance_evidence_added".to_string()));
    assert!(types.contains(&"compliance_waiver_granted".to_string()));
    // The audit tail filters by framework tag: the waiver is SOC 2 CC3.4 evidence.
    let tagged = env.expect(&["audit", "tail", "--tag", "tsc_CC3.4", "--json"], 0);
    let tagged: Vec<Value> = tagged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tagged.len(), 1, "{tagged:?}");
    assert_eq!(tagged[0]["event_type"], "compliance_waiver_granted");
    let mfa = env.expect(&["audit", "tail", "--tag", "pci_dss_8.4.2", "--json"], 0);
    assert!(
        mfa.contains("\"mfa_enrolled\"") && !mfa.contains("compliance_"),
        "{mfa}"
    );

    // Read-only mode refuses both.
    run([with(&waive), vec!["--read-only".into()]].concat(), 3);
}

#[test]
fn compliance_bad_input_is_named_and_exits_2() {
    let env = CliEnv::new();
    let (specs, cluster) = world(&env, true);
    let d = dirs(&specs, &cluster);
    let run = |extra: &[&str], code: i32| {
        let mut a: Vec<&str> = vec!["compliance", "check"];
        a.extend(extra);
        a.extend(d.iter().map(String::as_str));
        let out = env.run(&a);
        assert_eq!(out.status.code(), Some(code), "{a:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&["nope"], 2).contains("no deployment `nope`"));
    assert!(run(&["shop", "--framework", "iso27001"], 2).contains("--framework `iso27001`"));
    let user = env.root.path().join("config/windflow/compliance");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("gdpr.toml"),
        "id = \"gdpr\"\n[[controls]]\nid = \"gdpr-art7-consent\"\nchecks = [\"data.consnet\"]\n",
    )
    .unwrap();
    let err = run(&["shop"], 2);
    assert!(
        err.contains("gdpr.toml, line 4, key `checks`: unknown check `data.consnet`"),
        "{err}"
    );
    // A user file that makes consent a manual control: the failing check is gone.
    std::fs::write(
        user.join("gdpr.toml"),
        "id = \"gdpr\"\n[[controls]]\nid = \"gdpr-art7-consent\"\nmanual = \"The consent records.\"\n",
    )
    .unwrap();
    let v = check(&env, &specs, &cluster, 3);
    let consent = control(&v, "GDPR", "gdpr-art7-consent");
    assert_eq!(consent["status"], "manual");
    assert_eq!(consent["needs"], "The consent records.");
}

/// The report with what changes from run to run (times, the temporary root) masked.
fn masked(env: &CliEnv, text: &str) -> String {
    let root = env.root.path().display().to_string();
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    time.replace_all(&text.replace(&root, "[ROOT]"), "[TIME]")
        .into_owned()
}

#[test]
fn compliance_reports_in_markdown_json_and_html() {
    let env = CliEnv::new();
    let (specs, cluster) = world(&env, false);
    let d = dirs(&specs, &cluster);
    let report = |format: &str| {
        let mut a: Vec<&str> = vec!["compliance", "report", "shop", "--format", format];
        a.extend(["--framework", "gdpr"]);
        a.extend(d.iter().map(String::as_str));
        masked(&env, &env.expect(&a, 0))
    };
    let md = report("md");
    assert!(md.contains("\\<script\\>alert\\(1\\)\\</script\\>") && md.contains("a\\|b"));
    insta::assert_snapshot!("compliance_report_md", md);
    let json = report("json");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["frameworks"]["GDPR"]["status"], "non_compliant");
    insta::assert_snapshot!("compliance_report_json", json);

    // HTML to a file: one self-contained page, outside text escaped.
    let out = env.root.path().join("report.html");
    let mut a: Vec<&str> = vec!["compliance", "report", "shop", "--format", "html"];
    a.extend(["--framework", "gdpr", "--out", out.to_str().unwrap()]);
    a.extend(d.iter().map(String::as_str));
    assert_eq!(env.expect(&a, 0), "");
    let html = masked(&env, &std::fs::read_to_string(&out).unwrap());
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    for outside in ["src=", "href=", "<link", "@import", "url("] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
    insta::assert_snapshot!("compliance_report_html", html);
}

#[test]
fn compliance_pane_shows_the_matrix_drills_down_and_jumps_to_the_pane_that_fixes_it() {
    use std::sync::Arc;
    use windflow::compliance::pane::CompliancePane;
    use windflow::compliance::service::ComplianceEvent;
    use windflow::console::app::{App, Msg};

    let env = CliEnv::new();
    let (specs, cluster) = world(&env, false);
    let root = env.root.path();
    let base = windflow::config::BaseDirs {
        config: root.join("config/windflow"),
        data: root.join("xdg-data/windflow"),
        state: root.join("state/windflow"),
    };
    let flags = windflow::config::Flags {
        data_dir: Some(env.data()),
        ..Default::default()
    };
    let config = windflow::config::Config::load(&flags, &|_| None, &base).unwrap();
    let store = windflow::store::Store::open(&env.data()).unwrap();
    let catalog = windflow::deployments::load_dir(&specs).unwrap();
    let audit = windflow::audit::settings::AuditSettings::from_config(&config).unwrap();
    let sources = windflow::compliance::facts::Sources {
        config: &config,
        store: store.clone(),
        keyring: Arc::new(windflow::crypto::Keyring::new(
            windflow::crypto::MasterKey::generate(),
        )),
        secrets: Arc::new(windflow::secrets::LocalStore::new(store.clone())),
        audit: &audit,
        redis_url: None,
        catalog: &catalog,
        cluster_dir: cluster,
    };
    let frameworks = windflow::compliance::framework::built_in();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (results, problems) = rt.block_on(windflow::compliance::evaluate(
        &sources,
        &frameworks,
        chrono::Utc::now().timestamp(),
    ));

    let (feed, rx) = windflow::service::Wake::default().channel();
    let panes = crate::support::panes_with(Box::new(CompliancePane::new(rx)));
    let mut app = App::new(crate::console::settings(), panes, "dark", "vim").unwrap();
    crate::console::focus(&mut app, "compliance");
    assert!(feed.try_send(ComplianceEvent::Results {
        results: Arc::new(results),
        frameworks: frameworks.iter().map(|f| f.name.clone()).collect(),
        problems,
    }));
    app.update(Msg::Wake);
    let s = crate::console::screen(&mut app, 110, 30);
    assert!(s.contains("Compliance (1 deployments, 0 compliant"), "{s}");
    let row = s.lines().find(|l| l.contains("shop")).unwrap();
    // SOC 2, GDPR and PCI DSS apply and fail; HIPAA does not apply.
    assert_eq!(row.matches("NON-COMPLIANT").count(), 3, "{row}");
    assert!(
        row.contains("n/a") && row.contains("NOT COMPLIANT"),
        "{row}"
    );

    // Drill down, to PCI DSS 1.3 (after SOC 2's 11 and GDPR's 10 controls).
    crate::console::press(&mut app, crossterm::event::KeyCode::Enter);
    crate::console::typed(&mut app, &"j".repeat(21));
    let s = crate::console::screen(&mut app, 110, 30);
    assert!(s.contains("shop: not compliant"), "{s}");
    assert!(
        s.contains("issue: egress is not denied by default in wf-shop"),
        "{s}"
    );
    // The failing control jumps to the Isolation pane, showing the deployment.
    crate::console::typed(&mut app, "F");
    assert_eq!(app.pane().id(), "isolation");
    assert_eq!(app.pane().filter().map(|f| f.text.as_str()), Some("^shop "));

    // The deploy gate (never judged): to the Scans pane with `:scan` of the
    // deployment's images typed in, to confirm with Enter.
    crate::console::focus(&mut app, "compliance");
    let selected = |app: &App| app.pane().selected_text(&app.shared).unwrap_or_default();
    for _ in 0..60 {
        if selected(&app).contains("pci-6.3-vulnerabilities") {
            break;
        }
        crate::console::typed(&mut app, "j");
    }
    assert!(
        selected(&app).contains("pci-6.3-vulnerabilities"),
        "{}",
        selected(&app)
    );
    crate::console::typed(&mut app, "F");
    assert_eq!(app.pane().id(), "scans");
    let windflow::console::app::Mode::Palette(p) = &app.mode else {
        panic!(
            "no palette: {:?}",
            crate::console::screen(&mut app, 110, 30)
        )
    };
    assert_eq!(p.line(), "scan registry.example/shop/api:1.0");
    crate::console::press(&mut app, crossterm::event::KeyCode::Esc);

    // Alerting (a setting, not a row; no channel here): the Audit pane, with
    // what to do said, and no "not in the pane" warning.
    crate::console::focus(&mut app, "compliance");
    for _ in 0..60 {
        if selected(&app).contains("pci-10.4-review") {
            break;
        }
        crate::console::typed(&mut app, "j");
    }
    assert!(
        selected(&app).contains("pci-10.4-review fail"),
        "{}",
        selected(&app)
    );
    crate::console::typed(&mut app, "F");
    assert_eq!(app.pane().id(), "audit");
    let s = crate::console::screen(&mut app, 110, 30);
    assert!(!s.contains("is not in the audit pane"), "{s}");
    assert!(s.contains("pci-10.4-review:"), "{s}");
}

/// A Trivy report of `image` with one finding of `severity` (none: clean).
fn trivy_report(dir: &Path, image: &str, severity: Option<&str>) -> PathBuf {
    let vulns = match severity {
        None => serde_json::json!([]),
        Some(sev) => serde_json::json!([{
            "VulnerabilityID": "CVE-2024-0001",
            "PkgName": "openssl",
            "InstalledVersion": "3.0.1",
            "FixedVersion": "3.0.2",
            "Severity": sev,
            "Title": "a flaw"
        }]),
    };
    let report = serde_json::json!({
        "SchemaVersion": 2,
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Results": [{"Target": format!("{image} (debian 12)"), "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns}]
    });
    let path = dir.join(format!("trivy-{}.json", severity.unwrap_or("clean")));
    std::fs::write(&path, report.to_string()).unwrap();
    path
}

#[test]
fn the_deploy_gate_control_reads_the_verdict_kept_for_each_image() {
    let env = CliEnv::new().acting_as("alice");
    let (specs, cluster) = world(&env, true);
    let image = "registry.example/shop/api:1.0";
    let gate = |env: &CliEnv| {
        let v = check(env, &specs, &cluster, 3);
        control(&v, "PCI DSS", "pci-6.3-vulnerabilities").clone()
    };
    // Blocked: the control fails and names the image.
    let blocked = trivy_report(env.root.path(), image, Some("CRITICAL"));
    let out = env.run(&["scan", "report", blocked.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kept"], serde_json::json!([image]), "{v}");
    let c = gate(&env);
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["issues"][0]
            .as_str()
            .unwrap()
            .contains("is blocked by the deploy gate"),
        "{c}"
    );
    // Clean now: the latest verdict allows it.
    let clean = trivy_report(env.root.path(), image, None);
    env.expect(&["scan", "report", clean.to_str().unwrap()], 0);
    let c = gate(&env);
    assert_eq!(c["status"], "pass", "{c}");
    // Each verdict is an audit event.
    let events = env.run(&["audit", "tail", "--type", "deploy_gate_verdict", "--json"]);
    let text = String::from_utf8_lossy(&events.stdout).into_owned();
    assert!(
        text.contains("\"blocked\"") && text.contains("\"allowed\""),
        "{text}"
    );
    // Read-only judges but keeps nothing, and says so.
    let out = env.run(&["--read-only", "scan", "report", blocked.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("verdict not kept: read-only"));
    assert_eq!(gate(&env)["status"], "pass");
}

/// The real console: `w` and `e` on a control of the drill-down open
/// `:waive` and `:evidence` pre-filled; confirmed, each is kept, audited
/// under the signed-in operator and shown on the control.
#[test]
fn evidence_and_waivers_from_the_keyboard() {
    use std::time::Duration;
    const T: Duration = Duration::from_secs(30);
    let env = CliEnv::new();
    let (specs, cluster) = world(&env, false);
    let config = env.root.path().join("windflow.toml");
    std::fs::write(
        &config,
        format!(
            "deployments_dir = \"{}\"\n[isolation]\ncluster_dir = \"{}\"\n",
            specs.display(),
            cluster.display()
        ),
    )
    .unwrap();
    let env = env.with_var("WINDFLOW_CONFIG", config.to_str().unwrap());
    let mut pty = env.signed_in_console("alice", 140, 40);
    let wait = |pty: &crate::support::pty::Pty, text: &str| {
        pty.wait_for(text, T)
            .unwrap_or_else(|e| panic!("{e}\n{}", pty.screen_text()))
    };
    pty.keys(":pane compliance\r");
    wait(&pty, "NON-COMPLIANT");
    pty.key(crate::support::pty::Key::Enter);
    wait(&pty, "shop: not compliant");
    // PCI DSS 1.3, after SOC 2's 11 and GDPR's 10 controls: failing.
    pty.keys(&"j".repeat(21));
    wait(&pty, "issue: egress is not denied by default in wf-shop");
    pty.keys("w");
    wait(&pty, "waive shop pci-1.3-network 30d");
    pty.keys("egress opened for the migration CHG-9\r");
    wait(&pty, "Waive pci-1.3-network of shop for 30d?");
    pty.keys("y");
    wait(&pty, "pci-1.3-network of shop waived until");
    wait(
        &pty,
        "waiver: egress opened for the migration CHG-9 by alice",
    );
    // Evidence for the control above it.
    pty.keys("k");
    pty.keys("e");
    wait(&pty, "evidence shop ");
    pty.keys("docs.example/firewall-review.pdf reviewed quarterly\r");
    // The link was pre-filled with https://, so this reads as one.
    wait(&pty, "Evidence for ");
    pty.keys("y");
    wait(&pty, "recorded; it expires");

    let listed = env.run(&["compliance", "evidence", "list", "--json"]);
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        text.contains("firewall-review.pdf") && text.contains("CHG-9"),
        "{text}"
    );
    let events = env.run(&["audit", "tail", "--json", "-n", "50"]);
    let events = String::from_utf8_lossy(&events.stdout).into_owned();
    for kind in ["compliance_waiver_granted", "compliance_evidence_added"] {
        let line = events
            .lines()
            .find(|l| l.contains(kind))
            .unwrap_or_else(|| panic!("no {kind}: {events}"));
        assert!(line.contains("\"user_id\":\"alice\""), "{line}");
    }
}
