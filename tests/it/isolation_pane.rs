//! The Isolation pane's views and keys, fed by the real service over the
//! shipped specs and a cluster folder: the reachability matrix at 80x24
//! with its cursor and a cell's pods and policies, the YAML of a namespace
//! (planned and live), plan and diff from the keyboard; and, in a terminal,
//! apply with the namespace's name typed, audited.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::KeyCode;
use windflow::console::app::{App, Msg, Request};
use windflow::isolation::pane::IsolationPane;
use windflow::isolation::service::{self, IsolationEvent, IsolationHandle, Sources};
use windflow::service::Handle;

use crate::support::cli::CliEnv;
use crate::support::{Next, Relay};

const T: Duration = Duration::from_secs(20);

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/deployments")
}

/// The console with the Isolation pane focused, its service over `cluster`.
struct Rig {
    app: App,
    relay: Relay<IsolationEvent>,
    handle: IsolationHandle,
}

impl Rig {
    async fn new(cluster: &Path) -> Self {
        let sources = Sources {
            deployments: specs(),
            cluster: cluster.to_path_buf(),
            target: None,
        };
        Self::with(sources, windflow::audit::Audit::discard()).await
    }

    async fn with(sources: Sources, audit: windflow::audit::Audit) -> Self {
        let (relay, sink, pane_rx) = Relay::new();
        let handle = service::spawn(sources, audit, sink);
        let mut app = crate::console::app_with_pane(Box::new(IsolationPane::new(pane_rx)));
        crate::console::focus(&mut app, "isolation");
        let mut rig = Self { app, relay, handle };
        rig.until(|ev| matches!(ev, IsolationEvent::Statuses(_)))
            .await;
        rig
    }

    /// Hands events to the console until one matches `done`.
    async fn until(&mut self, done: impl Fn(&IsolationEvent) -> bool) {
        loop {
            let next = tokio::time::timeout(T, self.relay.next_any())
                .await
                .expect("the isolation service answers");
            match next {
                Next::Common(ev) => {
                    self.app.update(Msg::Service(ev));
                }
                Next::Domain(ev) => {
                    let stop = done(&ev);
                    self.relay.pass(ev);
                    self.app.update(Msg::Wake);
                    if stop {
                        // What the service said before it (an outcome).
                        while let Ok(ev) = self.relay.common.try_recv() {
                            self.app.update(Msg::Service(ev));
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Hands events to the console until its screen satisfies `done`.
    async fn until_screen(&mut self, done: impl Fn(&str) -> bool) -> String {
        loop {
            let s = self.screen(100, 30);
            if done(&s) {
                return s;
            }
            self.until(|_| true).await;
        }
    }

    /// Types `keys`; the domain requests go to the service.
    fn keys(&mut self, keys: &str) -> usize {
        let reqs = crate::console::typed(&mut self.app, keys);
        let mut sent = 0;
        for r in reqs {
            if let Request::Domain(d) = r {
                assert!(self.handle.send(d), "the service takes the request");
                sent += 1;
            }
        }
        sent
    }

    /// Presses `code`; the domain requests go to the service.
    fn press(&mut self, code: KeyCode) {
        for r in crate::console::press(&mut self.app, code) {
            if let Request::Domain(d) = r {
                assert!(self.handle.send(d), "the service takes the request");
            }
        }
    }

    fn screen(&mut self, w: u16, h: u16) -> String {
        crate::console::screen(&mut self.app, w, h)
    }

    /// Moves the list's cursor to the row holding `needle`.
    fn select(&mut self, needle: &str) {
        let s = self.screen(120, 30);
        let rows: Vec<&str> = s.lines().filter(|l| l.contains(" wf-")).collect();
        let at = rows
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row {needle}:\n{s}"));
        self.keys("gg");
        for _ in 0..at {
            self.keys("j");
        }
    }
}

/// The shipped examples planned by the real binary, their pods, and pods
/// in namespaces with long names (more columns than 80 columns hold).
fn cluster(env: &CliEnv) -> PathBuf {
    let cluster = env.root.path().join("cluster");
    let (s, c) = (specs(), cluster.display().to_string());
    env.expect(
        &[
            "isolate",
            "plan",
            "--all",
            "--deployments",
            s.to_str().unwrap(),
            "--cluster-dir",
            &c,
        ],
        0,
    );
    let mut pods = crate::isolation::example_pods();
    for i in 0..4 {
        pods.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p-0\n  namespace: team-observability-{i}\n\
             spec:\n  containers: [{{name: c, image: x}}]\nstatus:\n  podIP: 10.0.200.{i}\n"
        ));
    }
    std::fs::write(cluster.join("pods.yaml"), pods).unwrap();
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matrix_fits_80x24_moves_its_cursor_and_opens_a_cells_pods_and_policies() {
    let env = CliEnv::new();
    let mut rig = Rig::new(&cluster(&env)).await;
    rig.keys("m");
    let s = rig.screen(80, 24);
    assert!(s.contains("Reachability (11 namespaces"), "{s}");
    // Names are cut to fit and the columns scroll.
    assert!(
        s.contains("team-o… ") && s.contains("team-observabil… "),
        "{s}"
    );
    assert!(s.contains("columns 1-"), "{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 80));
    let mut namespaces = vec![
        "default",
        "ingress-nginx",
        "kube-system",
        "wf-clinical-analytics",
        "wf-mailer",
        "wf-payments",
        "wf-storefront",
    ];
    namespaces.extend([
        "team-observability-0",
        "team-observability-1",
        "team-observability-2",
        "team-observability-3",
    ]);
    namespaces.sort();
    // The cursor starts on the first cell; the line below names it in full.
    assert!(s.contains("default -> default:"), "{s}");
    let row = namespaces
        .iter()
        .position(|n| *n == "ingress-nginx")
        .unwrap();
    let col = namespaces
        .iter()
        .position(|n| *n == "wf-storefront")
        .unwrap();
    for _ in 0..row {
        rig.keys("j");
    }
    for _ in 0..col {
        rig.keys("l");
    }
    let s = rig.screen(80, 24);
    assert!(
        s.contains("ingress-nginx -> wf-storefront: TCP 8443"),
        "{s}"
    );
    // The last column is in sight: the grid scrolled.
    assert!(!s.contains("columns 1-"), "{s}");
    // A cell nothing opens.
    rig.keys("h");
    let s = rig.screen(80, 24);
    assert!(s.contains("ingress-nginx -> wf-payments: TCP 8080"), "{s}");
    rig.keys("k");
    let s = rig.screen(80, 24);
    assert!(s.contains("default -> wf-payments: none"), "{s}");
    rig.keys("j");

    // Enter: the pods and the policies that let them through.
    rig.press(KeyCode::Enter);
    let s = rig.screen(80, 24);
    assert!(s.contains("pods and policies of the cell"), "{s}");
    assert!(
        s.contains("ingress-nginx/controller-0 -> wf-payments/api-0  TCP 8080"),
        "{s}"
    );
    assert!(s.contains("egress: not isolated"), "{s}");
    assert!(
        s.contains("ingress: wf-payments/svc-api allows TCP 8080"),
        "{s}"
    );
    // Esc: back to the matrix, then to the list.
    rig.press(KeyCode::Esc);
    assert!(
        rig.screen(80, 24).contains("Reachability (11"),
        "back to the grid"
    );
    rig.keys("m");
    assert!(rig.screen(80, 24).contains("DEPLOYMENT"));
    // `?` lists the pane's keys, from the keymap.
    rig.keys("?");
    let s = rig.screen(120, 100);
    for line in [
        "Reachability matrix (Enter: the pods and policies of a cell)",
        "YAML view (Enter on a namespace): switch between planned and live",
        "Plan: write the selected deployment's manifests to the cluster folder",
        "Diff the selected deployment's plan against the live objects",
        "Apply the selected deployment's plan (type the namespace; step-up)",
    ] {
        assert!(s.contains(line), "{line}:\n{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_shows_a_namespaces_planned_and_live_yaml_scrollable() {
    let env = CliEnv::new();
    let cluster = cluster(&env);
    // storefront is not applied; payments' quota was edited by hand.
    std::fs::remove_file(cluster.join("wf-storefront.yaml")).unwrap();
    let file = cluster.join("wf-payments.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("pods: '20'", "pods: '99'", 1)).unwrap();
    let mut rig = Rig::new(&cluster).await;

    rig.select("wf-payments");
    rig.press(KeyCode::Enter);
    let s = rig.screen(80, 24);
    assert!(s.contains("wf-payments: planned YAML (v: live)"), "{s}");
    assert!(s.contains("windflow-isolation-plan: payments"), "{s}");
    assert!(s.contains("1-19 of"), "{s}");
    rig.keys("v");
    let s = rig.screen(80, 24);
    assert!(s.contains("wf-payments: live YAML (v: planned)"), "{s}");
    assert!(s.contains("as it is live (3 pods not shown)"), "{s}");
    // Scrolled to the quota, the hand edit shows.
    let mut seen = String::new();
    for _ in 0..200 {
        seen.push_str(&rig.screen(80, 24));
        rig.keys("j");
    }
    assert!(seen.contains("pods: '99'"), "{seen}");
    rig.keys("v");
    let mut planned = String::new();
    for _ in 0..200 {
        planned.push_str(&rig.screen(80, 24));
        rig.keys("j");
    }
    assert!(planned.contains("pods: '20'") && !planned.contains("pods: '99'"));

    rig.press(KeyCode::Esc);
    rig.select("wf-storefront");
    rig.press(KeyCode::Enter);
    rig.keys("v");
    let s = rig.screen(80, 24);
    assert!(
        s.contains("wf-storefront is not in the live state: the plan is not applied"),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_diff_from_the_keyboard_and_the_status_line_says_how_they_ended() {
    let env = CliEnv::new();
    let cluster = cluster(&env);
    std::fs::remove_file(cluster.join("wf-storefront.yaml")).unwrap();
    let mut rig = Rig::new(&cluster).await;
    rig.select("wf-storefront");

    assert_eq!(rig.keys("d"), 1, "d asks the service for a diff");
    rig.until(|ev| matches!(ev, IsolationEvent::Diff(_))).await;
    let s = rig.screen(100, 24);
    assert!(s.contains("Diff of storefront against"), "{s}");
    assert!(s.contains("+ Namespace wf-storefront  (created)"), "{s}");
    assert!(
        s.contains("+ NetworkPolicy wf-storefront/default-deny  (created)"),
        "{s}"
    );
    // The outcome reaches the status line.
    rig.until_screen(|s| s.contains("diff of storefront against"))
        .await;

    rig.press(KeyCode::Esc);
    assert_eq!(rig.keys("p"), 1, "p asks the service to plan");
    // The outcome, then the statuses read after it.
    rig.until_screen(|s| {
        s.contains("planned storefront:")
            && s.lines()
                .any(|l| l.contains("wf-storefront") && l.contains("isolated"))
    })
    .await;
    assert!(cluster.join("wf-storefront.yaml").is_file());

    rig.keys("d");
    rig.until(|ev| matches!(ev, IsolationEvent::Diff(_))).await;
    let s = rig.screen(100, 24);
    assert!(s.contains("0 created, 0 changed"), "{s}");

    assert!(s.contains("= Namespace wf-storefront  (unchanged)"), "{s}");

    // Apply asks for the namespace's name, with the diff's summary; a
    // wrong name or Esc sends nothing.
    assert_eq!(rig.keys("A"), 0);
    let s = rig.screen(100, 30);
    assert!(s.contains("Apply the isolation of storefront?"), "{s}");
    assert!(s.contains("0 created, 0 changed, 7 unchanged"), "{s}");
    assert_eq!(rig.keys("wf-store"), 0);
    rig.press(KeyCode::Enter);
    assert!(rig.screen(100, 30).contains("exactly to confirm"));
    rig.press(KeyCode::Esc);
    assert!(rig.screen(100, 30).contains("cancelled: isolation.apply"));
    assert_eq!(rig.keys("A"), 0);
    let reqs: Vec<Request> = crate::console::typed(&mut rig.app, "wf-storefront")
        .into_iter()
        .chain(crate::console::press(&mut rig.app, KeyCode::Enter))
        .collect();
    let applies = crate::support::gets::<windflow::isolation::service::IsolationRequest>(&reqs);
    assert!(
        matches!(
            applies.as_slice(),
            [Some(windflow::isolation::service::IsolationRequest::Apply { deployment, .. })]
                if deployment == "storefront"
        ),
        "{reqs:?}"
    );
}

/// The real console in a terminal at 80x24: `A` on a deployment asks for
/// its namespace's name; a wrong name is refused, Esc cancels (nothing
/// written), the right one applies it (the folder backend: the plan is
/// written there), the status line says so, and the audit log has it with
/// the diff's summary and the operator.
#[test]
fn apply_from_the_console_needs_the_namespace_typed_and_is_audited() {
    let env = CliEnv::new();
    let conf = env.root.path().join("config/windflow");
    std::fs::create_dir_all(conf.join("specs")).unwrap();
    std::fs::copy(specs().join("mailer.toml"), conf.join("specs/mailer.toml")).unwrap();
    std::fs::write(
        conf.join("windflow.toml"),
        "deployments_dir = \"specs\"\n[isolation]\ncluster_dir = \"cluster\"\n",
    )
    .unwrap();
    let planned = conf.join("cluster/wf-mailer.yaml");

    let mut pty = env.signed_in_console("alice", 80, 24);
    pty.keys(":pane isolation\r");
    pty.wait_for("not applied", T).unwrap();
    pty.keys("A");
    pty.wait_for("type wf-mailer", T).unwrap();
    pty.key(crate::support::pty::Key::Esc);
    pty.wait_for("cancelled: isolation.apply", T).unwrap();
    assert!(!planned.exists(), "cancelled: nothing written");

    pty.keys("A");
    pty.wait_for("type wf-mailer", T).unwrap();
    pty.keys("wf-mail\r");
    pty.wait_for("exactly to confirm", T).unwrap();
    assert!(!planned.exists());
    pty.keys("er\r");
    pty.wait_for("applied mailer to", T).unwrap();
    assert!(planned.is_file());
    pty.wait_for("isolated", T).unwrap();
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);

    let out = env.expect(
        &["audit", "tail", "--type", "isolation_applied", "--json"],
        0,
    );
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{out}");
    let ev = &events[0];
    assert_eq!(ev["user_id"], "alice");
    assert_eq!(ev["details"]["deployment"], "mailer");
    assert_eq!(ev["details"]["unchanged"], 0);
    assert!(ev["details"]["created"].as_u64().unwrap() >= 5, "{ev}");
}

/// The console's service on the in-test API server (a fake: see
/// kube_api.rs): the pane lists what the cluster holds, `d` diffs against
/// it, and an apply (as the console sends it once confirmed) is a
/// server-side apply by windflow, audited with the diff's summary and the
/// operator; the status line says how it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_and_apply_through_the_service_on_the_api_server() {
    use windflow::isolation::service::IsolationRequest;
    let api = crate::support::kube_api::KubeApi::start();
    let sink = std::sync::Arc::new(windflow::audit::MemorySink::default());
    let sources = Sources {
        deployments: specs(),
        cluster: tempfile::tempdir().unwrap().path().join("unused"),
        target: Some(api.target(None)),
    };
    let mut rig = Rig::with(sources, windflow::audit::Audit::new(sink.clone())).await;
    let s = rig.screen(100, 30);
    assert!(s.contains("not applied"), "{s}");
    assert!(s.contains(&format!("127.0.0.1:{}", api.port)), "{s}");
    rig.select("wf-mailer");
    rig.keys("d");
    rig.until(|ev| matches!(ev, IsolationEvent::Diff(_))).await;
    let s = rig.screen(100, 30);
    assert!(s.contains("Diff of mailer against http://127.0.0.1"), "{s}");
    assert!(s.contains("+ Namespace wf-mailer"), "{s}");
    rig.until(|ev| matches!(ev, IsolationEvent::Statuses(_)))
        .await;

    // What the confirmation sends, on behalf of the signed-in operator.
    let mut req = windflow::service::DomainRequest::new(IsolationRequest::Apply {
        deployment: "mailer".into(),
        by: String::new(),
    });
    req.actor = Some("alice".into());
    assert!(rig.handle.send(req));
    rig.press(KeyCode::Esc);
    rig.until_screen(|s| {
        s.contains("applied mailer to http://127.0.0.1")
            && s.lines()
                .any(|l| l.contains("wf-mailer") && l.contains("isolated"))
    })
    .await;
    let policy = api.get_json(&["networkpolicy", "-n", "wf-mailer", "default-deny"]);
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    let applied: Vec<_> = sink
        .events()
        .into_iter()
        .filter(|e| e.event_type == "isolation_applied")
        .collect();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].user_id.as_deref(), Some("alice"));
    assert_eq!(applied[0].details["deployment"], "mailer");
    assert!(applied[0].details["created"].as_u64().unwrap() >= 5);
    assert_eq!(applied[0].details["changed"], 0);
}
