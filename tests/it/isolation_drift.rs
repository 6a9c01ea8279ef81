//! Isolation's upkeep through the real binary: `isolate plan --all` removes
//! the plans of removed specs (only files it wrote), and `windflow agent`
//! checks drift on a schedule and records it in the audit log once when it
//! appears and once when it is resolved, against the folder backend and the
//! in-test API server.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::agent::{Agent, wait_until};
use crate::support::cli::CliEnv;
use crate::support::kube_api::KubeApi;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/deployments")
}

fn copy_spec(specs: &Path, id: &str) {
    std::fs::create_dir_all(specs).unwrap();
    std::fs::copy(
        examples().join(format!("{id}.toml")),
        specs.join(format!("{id}.toml")),
    )
    .unwrap();
}

#[test]
fn plan_all_removes_the_plans_of_removed_specs_and_nothing_else() {
    let env = CliEnv::new();
    let specs = env.root.path().join("specs");
    let cluster = env.root.path().join("cluster");
    copy_spec(&specs, "mailer");
    copy_spec(&specs, "payments");
    let (s, c) = (specs.to_str().unwrap(), cluster.to_str().unwrap());
    let plan_all = [
        "isolate",
        "plan",
        "--all",
        "--deployments",
        s,
        "--cluster-dir",
        c,
    ];
    env.expect(&plan_all, 0);
    assert!(cluster.join("wf-payments.yaml").is_file());
    // Files windflow did not write stay, even named like a plan.
    let foreign = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: wf-legacy\n";
    std::fs::write(cluster.join("wf-legacy.yaml"), foreign).unwrap();
    std::fs::write(cluster.join("pods.yaml"), "").unwrap();
    // A copy of a plan under another name is not the plan file either.
    std::fs::copy(
        cluster.join("wf-payments.yaml"),
        cluster.join("payments-backup.yaml"),
    )
    .unwrap();

    std::fs::remove_file(specs.join("payments.toml")).unwrap();
    // Planning one deployment prunes nothing.
    env.expect(
        &[
            "isolate",
            "plan",
            "mailer",
            "--deployments",
            s,
            "--cluster-dir",
            c,
        ],
        0,
    );
    assert!(cluster.join("wf-payments.yaml").is_file());

    let mut args = plan_all.to_vec();
    args.push("--json");
    let out = env.json(&args);
    assert_eq!(out["removed"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["removed"][0]["deployment"], "payments");
    assert_eq!(
        Path::new(out["removed"][0]["file"].as_str().unwrap()),
        cluster.join("wf-payments.yaml")
    );
    assert!(!cluster.join("wf-payments.yaml").exists());
    assert!(cluster.join("wf-mailer.yaml").is_file());
    assert_eq!(
        std::fs::read_to_string(cluster.join("wf-legacy.yaml")).unwrap(),
        foreign
    );
    assert!(cluster.join("pods.yaml").is_file());
    assert!(cluster.join("payments-backup.yaml").is_file());

    // And the text says so.
    copy_spec(&specs, "payments");
    env.expect(&plan_all, 0);
    std::fs::remove_file(specs.join("payments.toml")).unwrap();
    let text = env.expect(&plan_all, 0);
    assert!(
        text.contains("payments: spec removed, so its plan")
            && text.contains("wf-payments.yaml was removed"),
        "{text}"
    );
}

/// `audit tail --type TYPE --json` as events.
fn events(env: &CliEnv, event_type: &str) -> Vec<Value> {
    env.expect(
        &["audit", "tail", "--type", event_type, "-n", "100", "--json"],
        0,
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

/// Waits until the agent logged `n` more checks than `since`.
fn checks_after(agent: &Agent, since: usize, n: usize) {
    wait_until(
        &format!("{n} more drift checks"),
        || agent.lines("isolation drift checked").len() >= since + n,
        || {},
    );
}

/// The default-deny of `ns` in `file` without Egress.
/// Replaces `file` whole (a new file renamed over it), as an editor or
/// `kubectl`-style tool does: the agent never reads a half-written file.
fn replace_file(file: &Path, text: &str) {
    let tmp = file.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn drop_egress(file: &Path, ns: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let from = format!(
        "name: default-deny\n  namespace: {ns}\nspec:\n  podSelector: {{}}\n  policyTypes:\n  - Ingress\n  - Egress\n"
    );
    let to = format!(
        "name: default-deny\n  namespace: {ns}\nspec:\n  podSelector: {{}}\n  policyTypes:\n  - Ingress\n"
    );
    assert!(
        text.contains(&from),
        "the plan's default-deny is as expected"
    );
    replace_file(file, &text.replacen(&from, &to, 1));
}

/// The agent on the folder backend: an edited default-deny is one critical
/// `isolation_drift` event, however many checks see it; a further change is
/// one more (with what it was before); restoring the file is one
/// `isolation_drift_resolved`; a restarted agent records nothing again.
#[test]
fn the_agent_records_folder_drift_once_when_it_appears_changes_and_goes() {
    let env = CliEnv::new();
    let conf = env.root.path().join("config/windflow");
    copy_spec(&conf.join("specs"), "mailer");
    std::fs::write(
        conf.join("windflow.toml"),
        "deployments_dir = \"specs\"\n[isolation]\ncluster_dir = \"cluster\"\ndrift_every = \"1s\"\n",
    )
    .unwrap();
    env.expect(&["isolate", "plan", "--all"], 0);
    let file = conf.join("cluster/wf-mailer.yaml");
    let planned = std::fs::read_to_string(&file).unwrap();

    let mut agent = Agent::spawn(&env);
    agent.wait_for("checking isolation drift");
    checks_after(&agent, 0, 1);
    assert!(
        events(&env, "isolation_drift").is_empty(),
        "as planned: no drift"
    );

    drop_egress(&file, "wf-mailer");
    wait_until(
        "an isolation_drift event",
        || !events(&env, "isolation_drift").is_empty(),
        || {},
    );
    let seen = agent.lines("isolation drift checked").len();
    checks_after(&agent, seen, 3);
    let drift = events(&env, "isolation_drift");
    assert_eq!(drift.len(), 1, "one event, not one per check: {drift:?}");
    let ev = &drift[0];
    assert_eq!(ev["severity"], "critical", "{ev}");
    assert_eq!(ev["details"]["deployment"], "mailer");
    assert!(
        ev["user_id"].as_str().unwrap().starts_with("agent@"),
        "{ev}"
    );
    let lines = ev["details"]["drift"].to_string();
    assert!(lines.contains("egress is not denied by default"), "{lines}");
    // `windflow audit` shows it.
    let text = env.expect(&["audit", "tail", "--type", "isolation_drift"], 0);
    assert!(
        text.contains("critical") && text.contains("egress is not denied by default"),
        "{text}"
    );

    // The drift changes: one more event, saying what it was.
    replace_file(
        &file,
        &std::fs::read_to_string(&file).unwrap().replace(
            "pod-security.kubernetes.io/warn: restricted",
            "pod-security.kubernetes.io/warn: baseline",
        ),
    );
    wait_until(
        "a second isolation_drift event",
        || events(&env, "isolation_drift").len() == 2,
        || {},
    );
    let second = &events(&env, "isolation_drift")[1];
    assert!(
        second["details"]["drift"]
            .to_string()
            .contains("warn is baseline"),
        "{second}"
    );
    assert_eq!(second["details"]["before"], ev["details"]["drift"]);

    replace_file(&file, &planned);
    wait_until(
        "an isolation_drift_resolved event",
        || !events(&env, "isolation_drift_resolved").is_empty(),
        || {},
    );
    let resolved = events(&env, "isolation_drift_resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["severity"], "low");
    assert_eq!(resolved[0]["details"]["reason"], "as planned again");
    assert_eq!(
        resolved[0]["details"]["resolved"],
        second["details"]["drift"]
    );
    agent.stop();

    // A restarted agent remembers what it recorded: the same drift is not
    // recorded twice.
    drop_egress(&file, "wf-mailer");
    let agent = Agent::spawn(&env);
    wait_until(
        "a third isolation_drift event",
        || events(&env, "isolation_drift").len() == 3,
        || {},
    );
    drop(agent);
    let mut agent = Agent::spawn(&env);
    let seen = agent.lines("isolation drift checked").len();
    checks_after(&agent, seen, 2);
    assert_eq!(events(&env, "isolation_drift").len(), 3);
    agent.stop();
}

/// The agent on the in-test API server (a fake: see kube_api.rs): a
/// default-deny another manager edited is a critical `isolation_drift`
/// naming the manager; applying the plan again resolves it.
#[test]
fn the_agent_records_cluster_drift_with_the_editing_manager() {
    let api = KubeApi::start();
    let env = CliEnv::new();
    let conf = env.root.path().join("config/windflow");
    copy_spec(&conf.join("specs"), "payments");
    let kubeconfig = api.kubeconfig(None);
    std::fs::write(
        conf.join("windflow.toml"),
        format!(
            "deployments_dir = \"specs\"\n[isolation]\nkubeconfig = \"{}\"\ndrift_every = \"1s\"\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    let spec = windflow::deployments::load_dir(&conf.join("specs")).unwrap();
    let planned: Vec<windflow::isolation::cluster::Planned> =
        windflow::isolation::plan::plan(&spec.deployments[0].spec)
            .objects()
            .into_iter()
            .map(|o| windflow::isolation::cluster::Planned::from_value(o.value()).unwrap())
            .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cluster = rt.block_on(api.cluster());
    rt.block_on(windflow::isolation::cluster::apply(&cluster, &planned))
        .unwrap();

    let agent = Agent::spawn(&env);
    checks_after(&agent, 0, 1);
    assert!(events(&env, "isolation_drift").is_empty());
    api.kubectl_ok(
        &[
            "patch",
            "networkpolicy",
            "default-deny",
            "-n",
            "wf-payments",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"policyTypes":["Ingress"]}}"#,
        ],
        None,
        0,
    );
    wait_until(
        "an isolation_drift event",
        || !events(&env, "isolation_drift").is_empty(),
        || {},
    );
    let ev = &events(&env, "isolation_drift")[0];
    assert_eq!(ev["severity"], "critical", "{ev}");
    let lines = ev["details"]["drift"].to_string();
    assert!(
        lines.contains("edited by kubectl-patch (Update): .spec.policyTypes"),
        "{lines}"
    );
    assert!(
        ev["details"]["source"]
            .as_str()
            .unwrap()
            .contains("kubeconfig")
    );

    rt.block_on(windflow::isolation::cluster::apply(&cluster, &planned))
        .unwrap();
    wait_until(
        "an isolation_drift_resolved event",
        || !events(&env, "isolation_drift_resolved").is_empty(),
        || {},
    );
    assert_eq!(events(&env, "isolation_drift").len(), 1);

    // `isolate diff` without flags takes the cluster from [isolation] too.
    let diff = env.json(&["isolate", "diff", "payments", "--json"]);
    assert_eq!(diff["in_sync"], true, "{diff}");
    assert!(
        diff["server"]
            .as_str()
            .unwrap()
            .contains(&api.port.to_string()),
        "{diff}"
    );
}
