//! Isolation against a cluster: kube::Client and the real kubectl, both on
//! the in-test API server (a fake: no kube-apiserver installs here; see
//! support/kube_api_server.py for what it implements).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use windflow::cli::auth::StepUp;
use windflow::cli::isolate_cluster::{apply_outcome, diff_outcome};
use windflow::isolation::cluster::{
    self, Change, ClusterError, ClusterTarget, Kind, ObjectDiff, Planned,
};

use crate::support::cli::CliEnv;
use crate::support::kube_api::KubeApi;

const NS: &str = "wf-payments";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A small hand-written plan for deployment `payments`, as typed objects and
/// as JSON (both ways in): namespace, default deny both ways, DNS egress,
/// one allow rule, quota and limit range.
fn plan() -> Vec<Planned> {
    let labels: BTreeMap<String, String> = [
        ("windflow.io/deployment", "payments"),
        ("pod-security.kubernetes.io/enforce", "restricted"),
        ("pod-security.kubernetes.io/enforce-version", "v1.34"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(NS.into()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let quota = ResourceQuota {
        metadata: ObjectMeta {
            name: Some("quota".into()),
            namespace: Some(NS.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ResourceQuotaSpec {
            hard: Some(
                [("cpu", "4"), ("memory", "8Gi"), ("pods", "20")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), Quantity(v.to_owned())))
                    .collect(),
            ),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    };
    let policy = |name: &str, spec: Value| {
        Planned::from_value(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": { "name": name, "namespace": NS, "labels": { "windflow.io/deployment": "payments" } },
            "spec": spec,
        }))
        .unwrap()
    };
    vec![
        Planned::from_object(&namespace).unwrap(),
        policy(
            "default-deny",
            json!({ "podSelector": {}, "policyTypes": ["Ingress", "Egress"] }),
        ),
        policy(
            "allow-dns",
            json!({
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{
                    "to": [{ "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "kube-system" } } }],
                    "ports": [{ "port": 53, "protocol": "UDP" }, { "port": 53, "protocol": "TCP" }],
                }],
            }),
        ),
        policy(
            "api",
            json!({
                "podSelector": { "matchLabels": { "app": "api" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "podSelector": { "matchLabels": { "app": "web" } } }], "ports": [{ "port": 8080 }] }],
            }),
        ),
        Planned::from_object(&quota).unwrap(),
        Planned::from_value(json!({
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": { "name": "limits", "namespace": NS },
            "spec": { "limits": [{ "type": "Container", "default": { "cpu": "500m", "memory": "512Mi" }, "defaultRequest": { "cpu": "100m", "memory": "128Mi" } }] },
        }))
        .unwrap(),
    ]
}

fn changes(diffs: &[ObjectDiff]) -> Vec<(String, Change)> {
    diffs
        .iter()
        .map(|d| (d.object.to_string(), d.change))
        .collect()
}

fn find<'a>(diffs: &'a [ObjectDiff], kind: Kind, name: &str) -> &'a ObjectDiff {
    diffs
        .iter()
        .find(|d| d.object.kind == kind && d.object.name == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", changes(diffs)))
}

/// Every object's kind/name and resourceVersion, as kubectl sees them.
fn versions(api: &KubeApi) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for kind in [
        "namespaces",
        "networkpolicies",
        "resourcequotas",
        "limitranges",
        "pods",
    ] {
        let list = api.get_json(&[kind, "-A"]);
        for item in list["items"].as_array().unwrap() {
            out.push((
                format!(
                    "{kind}/{}/{}",
                    item["metadata"]["namespace"].as_str().unwrap_or(""),
                    item["metadata"]["name"].as_str().unwrap()
                ),
                item["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ));
        }
    }
    out
}

fn managers(object: &Value) -> Vec<(String, String)> {
    object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap().to_owned(),
                m["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const OTHER_NS: &str = "
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {team: shop}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-ingress
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress]
";

fn pod(ns: &str, name: &str, app: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{app: {app}}}\n\
         spec:\n  containers:\n  - name: main\n    image: registry.example/{app}:1\n    ports:\n    - containerPort: 8080\n"
    )
}

#[test]
fn live_state_reads_each_kind_of_the_namespaces_asked_or_of_all() {
    let api = KubeApi::start();
    let rt = rt();
    let cluster = rt.block_on(api.cluster());
    rt.block_on(cluster::apply(&cluster, &plan())).unwrap();
    api.kubectl_ok(&["apply", "--server-side", "-f", "-"], Some(OTHER_NS), 0);
    api.kubectl_ok(&["create", "-f", "-"], Some(&pod(NS, "api-1", "api")), 0);
    api.kubectl_ok(
        &["create", "-f", "-"],
        Some(&pod("shop", "cart-1", "cart")),
        0,
    );

    let state = rt
        .block_on(cluster::live_state(&cluster, &[NS.to_owned()]))
        .unwrap();
    let names = |metas: Vec<&ObjectMeta>| -> Vec<String> {
        metas.into_iter().map(|m| m.name.clone().unwrap()).collect()
    };
    assert_eq!(
        names(state.namespaces.iter().map(|o| &o.metadata).collect()),
        [NS]
    );
    assert_eq!(
        names(state.policies.iter().map(|o| &o.metadata).collect()),
        ["allow-dns", "api", "default-deny"]
    );
    assert_eq!(
        names(state.pods.iter().map(|o| &o.metadata).collect()),
        ["api-1"]
    );
    assert_eq!(
        names(state.quotas.iter().map(|o| &o.metadata).collect()),
        ["quota"]
    );
    assert_eq!(
        names(state.limit_ranges.iter().map(|o| &o.metadata).collect()),
        ["limits"]
    );
    // Typed, with what the server set: defaults, labels, quota use.
    let ns = &state.namespaces[0];
    assert_eq!(
        ns.metadata.labels.as_ref().unwrap()["kubernetes.io/metadata.name"],
        NS
    );
    let api_policy = state
        .policies
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("api"))
        .unwrap();
    let port = &api_policy.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0]
        .ports
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        port.protocol.as_deref(),
        Some("TCP"),
        "the server's default"
    );
    let used = state.quotas[0]
        .status
        .as_ref()
        .unwrap()
        .used
        .as_ref()
        .unwrap();
    assert_eq!(used["pods"].0, "1");
    assert!(
        ns.metadata
            .managed_fields
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m.manager.as_deref() == Some("windflow")),
        "managed fields come along: {:?}",
        ns.metadata.managed_fields
    );

    let all = rt.block_on(cluster::live_state(&cluster, &[])).unwrap();
    assert_eq!(
        names(all.namespaces.iter().map(|o| &o.metadata).collect()),
        ["shop", NS]
    );
    assert_eq!(all.pods.len(), 2);
    assert_eq!(all.policies.len(), 4);

    // A namespace that is not there is an empty state, not an error.
    let none = rt
        .block_on(cluster::live_state(&cluster, &["wf-none".to_owned()]))
        .unwrap();
    assert!(none.namespaces.is_empty() && none.policies.is_empty());
}

#[test]
fn a_plan_on_an_empty_cluster_is_all_created_and_the_dry_run_writes_nothing() {
    let api = KubeApi::start();
    let rt = rt();
    let cluster = rt.block_on(api.cluster());
    let diffs = rt.block_on(cluster::diff(&cluster, &plan())).unwrap();
    assert_eq!(
        changes(&diffs),
        [
            (format!("Namespace {NS}"), Change::Created),
            (format!("NetworkPolicy {NS}/default-deny"), Change::Created),
            (format!("NetworkPolicy {NS}/allow-dns"), Change::Created),
            (format!("NetworkPolicy {NS}/api"), Change::Created),
            (format!("ResourceQuota {NS}/quota"), Change::Created),
            (format!("LimitRange {NS}/limits"), Change::Created),
        ]
    );
    // The namespace went through a server dry run; what lives in it cannot
    // until it exists (NamespaceLifecycle), and says so.
    assert!(diffs[0].server_checked);
    assert!(diffs[1..].iter().all(|d| !d.server_checked));
    let ns_lines = diffs[0].lines.join("\n");
    assert!(
        ns_lines.contains("+ metadata:")
            && ns_lines.contains("+     windflow.io/deployment: payments"),
        "{ns_lines}"
    );
    assert!(
        diffs[1].lines.iter().all(|l| l.starts_with("+ ")),
        "{:?}",
        diffs[1].lines
    );
    // Nothing was written: every write was a dry run, and the cluster is empty.
    let requests = api.requests();
    let writes: Vec<&Value> = requests.iter().filter(|r| r["method"] != "GET").collect();
    assert!(!writes.is_empty());
    for w in &writes {
        assert_eq!(w["method"], "PATCH", "{w}");
        assert!(w["query"].as_str().unwrap().contains("dryRun=All"), "{w}");
        assert_eq!(w["content_type"], "application/apply-patch+yaml", "{w}");
        assert!(
            w["query"]
                .as_str()
                .unwrap()
                .contains("fieldManager=windflow"),
            "{w}"
        );
    }
    assert!(versions(&api).is_empty(), "{:?}", versions(&api));

    // The command's text and JSON say the same.
    let out = diff_outcome(&api.target(None), "payments", &plan()).unwrap();
    assert_eq!(out.json["summary"]["created"], 6);
    assert_eq!(out.json["in_sync"], false);
    assert!(
        out.text
            .contains(&format!("+ NetworkPolicy {NS}/default-deny  (created; checked by the server once its namespace exists)")),
        "{}",
        out.text
    );
    assert!(
        out.text
            .ends_with("6 created, 0 changed, 0 unchanged, 0 extra"),
        "{}",
        out.text
    );
}

#[test]
fn after_apply_the_diff_is_all_unchanged_and_apply_again_writes_nothing() {
    let api = KubeApi::start();
    let rt = rt();
    let cluster = rt.block_on(api.cluster());
    let report = rt.block_on(cluster::apply(&cluster, &plan())).unwrap();
    assert_eq!(report.applied.len(), 6);
    assert_eq!(report.applied[0].kind, Kind::Namespace);

    // Each object is the server's, managed by windflow's apply alone.
    let policy = api.get_json(&[
        "networkpolicy",
        "-n",
        NS,
        "default-deny",
        "--show-managed-fields",
    ]);
    assert_eq!(
        managers(&policy),
        [("windflow".to_owned(), "Apply".to_owned())]
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    let before = versions(&api);
    assert_eq!(before.len(), 6, "{before:?}");

    let diffs = rt.block_on(cluster::diff(&cluster, &plan())).unwrap();
    assert!(
        diffs
            .iter()
            .all(|d| d.change == Change::Unchanged && d.ours && d.other_managers.is_empty()),
        "{:#?}",
        diffs
    );
    // The port protocol the server defaulted is no change.
    assert!(
        find(&diffs, Kind::NetworkPolicy, "api")
            .lines
            .iter()
            .all(|l| l.starts_with("  "))
    );

    // Applying the same plan again changes no object.
    rt.block_on(cluster::apply(&cluster, &plan())).unwrap();
    assert_eq!(versions(&api), before);
    let out = diff_outcome(&api.target(None), "payments", &plan()).unwrap();
    assert_eq!(out.json["in_sync"], true);
    assert_eq!(out.json["summary"]["unchanged"], 6);
}

#[test]
fn a_policy_another_manager_edited_is_drift_named_and_apply_takes_it_back() {
    let api = KubeApi::start();
    let rt = rt();
    let cluster = rt.block_on(api.cluster());
    rt.block_on(cluster::apply(&cluster, &plan())).unwrap();
    // Someone drops the egress half of the default deny with kubectl.
    api.kubectl_ok(
        &[
            "patch",
            "networkpolicy",
            "default-deny",
            "-n",
            NS,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"policyTypes":["Ingress"]}}"#,
        ],
        None,
        0,
    );
    // And an allow-all appears beside the plan.
    api.kubectl_ok(
        &["apply", "--server-side", "--field-manager", "mallory", "-f", "-"],
        Some(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: allow-all, namespace: {NS}}}\n\
             spec:\n  podSelector: {{}}\n  ingress: [{{}}]\n"
        )),
        0,
    );

    let before = versions(&api);
    let diffs = rt.block_on(cluster::diff(&cluster, &plan())).unwrap();
    assert_eq!(versions(&api), before, "a diff writes nothing");
    let deny = find(&diffs, Kind::NetworkPolicy, "default-deny");
    assert_eq!(deny.change, Change::Changed);
    assert!(deny.ours && deny.edited_by_others());
    assert_eq!(deny.other_managers.len(), 1, "{:?}", deny.other_managers);
    assert_eq!(deny.other_managers[0].manager, "kubectl-patch");
    assert_eq!(deny.other_managers[0].operation, "Update");
    assert_eq!(deny.other_managers[0].fields, [".spec.policyTypes"]);
    assert_eq!(deny.conflicts.len(), 1);
    assert_eq!(deny.conflicts[0].manager, "kubectl-patch");
    assert_eq!(deny.conflicts[0].field, ".spec.policyTypes");
    assert!(
        deny.lines.contains(&"+   - Egress".to_owned()),
        "{:?}",
        deny.lines
    );
    let extra = find(&diffs, Kind::NetworkPolicy, "allow-all");
    assert_eq!(extra.change, Change::Extra);
    assert!(!extra.ours);
    assert_eq!(extra.other_managers[0].manager, "mallory");
    let out = diff_outcome(&api.target(None), "payments", &plan()).unwrap();
    assert!(
        out.text.contains(&format!(
            "~ NetworkPolicy {NS}/default-deny  (changed; edited by kubectl-patch (Update): .spec.policyTypes; conflict with kubectl-patch on .spec.policyTypes)"
        )),
        "{}",
        out.text
    );
    assert!(out.text.contains("\n    +   - Egress\n"), "{}", out.text);
    assert!(
        out.text
            .contains("not in the plan; apply leaves it; managed by mallory (Apply)"),
        "{}",
        out.text
    );

    // The live state alone shows it too.
    let state = rt
        .block_on(cluster::live_state(&cluster, &[NS.to_owned()]))
        .unwrap();
    let edits = cluster::foreign_edits(&state);
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0].object.name, "default-deny");
    assert_eq!(edits[0].by.manager, "kubectl-patch");
    assert_eq!(edits[0].by.fields, [".spec.policyTypes"]);

    // The object is ours: apply forces the field back; the other manager
    // loses it; the extra policy stays (apply never deletes).
    rt.block_on(cluster::apply(&cluster, &plan())).unwrap();
    let policy = api.get_json(&[
        "networkpolicy",
        "-n",
        NS,
        "default-deny",
        "--show-managed-fields",
    ]);
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        managers(&policy),
        [("windflow".to_owned(), "Apply".to_owned())]
    );
    api.get_json(&["networkpolicy", "-n", NS, "allow-all"]);
}

#[test]
fn an_object_another_manager_owns_is_a_409_naming_it_and_nothing_is_applied() {
    let api = KubeApi::start();
    let rt = rt();
    let cluster = rt.block_on(api.cluster());
    api.kubectl_ok(
        &["create", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n"
        )),
        0,
    );
    api.kubectl_ok(
        &["apply", "--server-side", "--field-manager", "alice", "-f", "-"],
        Some(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: default-deny, namespace: {NS}}}\n\
             spec:\n  podSelector: {{}}\n  policyTypes: [Ingress]\n"
        )),
        0,
    );
    let before = versions(&api);

    let diffs = rt.block_on(cluster::diff(&cluster, &plan())).unwrap();
    let deny = find(&diffs, Kind::NetworkPolicy, "default-deny");
    assert!(!deny.ours);
    assert_eq!(deny.conflicts[0].manager, "alice");

    let err = rt.block_on(cluster::apply(&cluster, &plan())).unwrap_err();
    assert!(err.applied.is_empty());
    match &err.error {
        ClusterError::Conflict {
            object,
            managers,
            fields,
            ..
        } => {
            assert_eq!(object, &format!("NetworkPolicy {NS}/default-deny"));
            assert_eq!(managers, &["alice"]);
            assert_eq!(fields, &[".spec.policyTypes"]);
        }
        e => panic!("not a conflict: {e:?}"),
    }
    assert_eq!(err.error.exit_code(), 1);
    let message = err.to_string();
    assert!(
        message.contains("conflict with alice") && message.contains("nothing was applied"),
        "{message}"
    );
    // Refused before any write: the namespace too is untouched.
    assert_eq!(versions(&api), before);
    let ns = api.get_json(&["namespace", NS, "--show-managed-fields"]);
    assert!(
        managers(&ns).iter().all(|(m, _)| m != "windflow"),
        "{:?}",
        managers(&ns)
    );
}

#[test]
fn a_409_names_the_manager_and_the_field_from_the_servers_status() {
    // The dry run's 409 Status names bob and the one quota key he owns.
    let api = KubeApi::start();
    let rt = rt();
    let cluster = rt.block_on(api.cluster());
    api.kubectl_ok(
        &["create", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n"
        )),
        0,
    );
    api.kubectl_ok(
        &["apply", "--server-side", "--field-manager", "bob", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: quota, namespace: {NS}}}\nspec:\n  hard: {{pods: \"5\"}}\n"
        )),
        0,
    );
    let quota = plan()
        .into_iter()
        .find(|p| p.object().kind == Kind::ResourceQuota)
        .unwrap();
    let err = rt
        .block_on(cluster::apply(&cluster, std::slice::from_ref(&quota)))
        .unwrap_err();
    let ClusterError::Conflict {
        managers, fields, ..
    } = &err.error
    else {
        panic!("{err:?}")
    };
    assert_eq!(managers, &["bob"]);
    assert_eq!(fields, &[".spec.hard.pods"]);
}

#[test]
fn an_unreachable_server_is_exit_4_naming_it() {
    let port = crate::support::audit_servers::free_port();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: gone\n  context: {{cluster: gone, user: u}}\n"
        ),
    )
    .unwrap();
    let target = ClusterTarget {
        kubeconfig: Some(kubeconfig.clone()),
        context: None,
    };
    let err = diff_outcome(&target, "payments", &plan()).unwrap_err();
    assert_eq!(err.code(), 4, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("http://127.0.0.1:{port}"))
            && message.contains("cannot be reached"),
        "{message}"
    );

    // A context the kubeconfig does not have is bad input (exit 2), named.
    let bad = ClusterTarget {
        kubeconfig: Some(kubeconfig),
        context: Some("nope".into()),
    };
    let err = diff_outcome(&bad, "payments", &plan()).unwrap_err();
    assert_eq!(err.code(), 2, "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn a_reader_gets_403_and_no_token_401_each_refused_naming_the_object() {
    let api = KubeApi::with_tokens(&[
        ("admin-token", "admin", true),
        ("reader-token", "viewer", false),
    ]);
    let rt = rt();
    // The admin token works through the kubeconfig.
    let admin = rt
        .block_on(cluster::Cluster::connect(&api.target(Some("admin-token"))))
        .unwrap();
    rt.block_on(cluster::apply(&admin, &plan())).unwrap();

    // A reader reads the live state, but even a dry-run apply is a patch.
    let reader = rt
        .block_on(cluster::Cluster::connect(&api.target(Some("reader-token"))))
        .unwrap();
    let state = rt
        .block_on(cluster::live_state(&reader, &[NS.to_owned()]))
        .unwrap();
    assert_eq!(state.policies.len(), 3);
    let err = diff_outcome(&api.target(Some("reader-token")), "payments", &plan()).unwrap_err();
    assert_eq!(err.code(), 3, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("Namespace {NS}"))
            && message.contains("403 Forbidden")
            && message.contains(r#"User "viewer" cannot patch resource "namespaces""#),
        "{message}"
    );

    let err = rt
        .block_on(cluster::live_state(
            &rt.block_on(cluster::Cluster::connect(&api.target(None)))
                .unwrap(),
            &[NS.to_owned()],
        ))
        .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("401 Unauthorized"), "{err}");
}

#[test]
fn apply_from_the_command_needs_yes_and_an_operator_and_is_audited() {
    let api = KubeApi::start();
    let env = CliEnv::new();
    env.operator_with_grant("alice");
    let config = |operator: Option<&str>, read_only: bool| {
        let root = env.root.path();
        windflow::config::Config::load(
            &windflow::config::Flags {
                data_dir: Some(env.data()),
                operator: operator.map(str::to_owned),
                read_only,
                ..Default::default()
            },
            &|_| None,
            &windflow::config::BaseDirs {
                config: root.join("config/windflow"),
                data: root.join("xdg-data/windflow"),
                state: root.join("state/windflow"),
            },
        )
        .unwrap()
    };
    // Kept beyond the server's life, for the apply that finds it gone.
    let kubeconfig = env.root.path().join("kubeconfig");
    std::fs::copy(api.kubeconfig(None), &kubeconfig).unwrap();
    let target = ClusterTarget {
        kubeconfig: Some(kubeconfig),
        context: None,
    };
    let no_code = StepUp { code: None };

    let err = apply_outcome(
        &config(Some("alice"), false),
        &target,
        "payments",
        &plan(),
        false,
        &no_code,
    )
    .unwrap_err();
    assert_eq!(err.code(), 2, "{err}");
    assert!(err.to_string().contains("--yes"), "{err}");
    let err = apply_outcome(
        &config(None, false),
        &target,
        "payments",
        &plan(),
        true,
        &no_code,
    )
    .unwrap_err();
    assert_eq!(err.code(), 3, "{err}");
    assert!(err.to_string().contains("needs an operator"), "{err}");
    let err = apply_outcome(
        &config(Some("alice"), true),
        &target,
        "payments",
        &plan(),
        true,
        &no_code,
    )
    .unwrap_err();
    assert_eq!(err.code(), 3, "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    // None of these reached the cluster.
    assert!(api.requests().is_empty(), "{:?}", api.requests());

    let out = apply_outcome(
        &config(Some("alice"), false),
        &target,
        "payments",
        &plan(),
        true,
        &no_code,
    )
    .unwrap();
    assert_eq!(out.json["summary"]["created"], 6);
    assert_eq!(out.json["applied"].as_array().unwrap().len(), 6);
    assert!(
        out.text
            .starts_with("applied deployment payments to http://127.0.0.1:"),
        "{}",
        out.text
    );
    assert_eq!(versions(&api).len(), 6);

    let events: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type.starts_with("isolation_"))
        .collect();
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.event_type, "isolation_applied");
    assert_eq!(ev.user_id.as_deref(), Some("alice"));
    let d = &ev.details;
    assert_eq!(d["deployment"], "payments");
    assert_eq!(d["server"], json!(format!("{}/", api.url())));
    assert_eq!(
        (
            d["created"].clone(),
            d["changed"].clone(),
            d["unchanged"].clone()
        ),
        (json!(6), json!(0), json!(0))
    );
    assert!(
        d["objects"]["created"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("NetworkPolicy {NS}/default-deny")))
    );

    // A failed apply is audited too, with what it wrote before it stopped.
    drop(api);
    let err = apply_outcome(
        &config(Some("alice"), false),
        &target,
        "payments",
        &plan(),
        true,
        &no_code,
    )
    .unwrap_err();
    assert_eq!(err.code(), 4, "{err}");
    let failed: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e.event_type == "isolation_apply_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].details["error"]
            .as_str()
            .unwrap()
            .contains("cannot be reached")
    );
}

#[test]
fn kubectl_gets_applies_and_dry_runs_against_the_same_server() {
    let api = KubeApi::start();
    let rt = rt();
    let cluster = rt.block_on(api.cluster());
    // kubectl applies the plan's own objects, server-side, as manager kubectl.
    let manifest: String = plan()
        .iter()
        .map(|p| serde_yaml_ng::to_string(p.body()).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let out = api.kubectl_ok(&["apply", "--server-side", "-f", "-"], Some(&manifest), 0);
    assert!(
        out.contains("namespace/wf-payments serverside-applied")
            && out.contains("networkpolicy.networking.k8s.io/default-deny serverside-applied"),
        "{out}"
    );
    let applies: Vec<Value> = api
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "PATCH")
        .collect();
    assert_eq!(applies.len(), 6);
    assert!(applies.iter().all(|r| {
        r["content_type"] == "application/apply-patch+yaml"
            && r["query"]
                .as_str()
                .unwrap()
                .contains("fieldManager=kubectl")
    }));

    // kubectl get: the table and the objects.
    let table = api.kubectl_ok(&["get", "networkpolicies", "-n", NS], None, 0);
    assert!(
        table.starts_with("NAME") && table.contains("default-deny"),
        "{table}"
    );
    let names = api.kubectl_ok(
        &[
            "get",
            "ns",
            "-l",
            "windflow.io/deployment=payments",
            "-o",
            "name",
        ],
        None,
        0,
    );
    assert_eq!(names.trim(), format!("namespace/{NS}"));
    let missing = api.kubectl(&["get", "networkpolicy", "nope", "-n", NS]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains(r#"networkpolicies.networking.k8s.io "nope" not found"#)
    );

    // windflow sees kubectl's objects: the same values (unchanged), not ours.
    let diffs = rt.block_on(cluster::diff(&cluster, &plan())).unwrap();
    assert!(
        diffs
            .iter()
            .all(|d| d.change == Change::Unchanged && !d.ours && d.conflicts.is_empty()),
        "{diffs:#?}"
    );
    assert_eq!(
        find(&diffs, Kind::NetworkPolicy, "api").other_managers[0].manager,
        "kubectl"
    );

    // windflow applies: it co-owns what it agrees on; kubectl keeps its share.
    rt.block_on(cluster::apply(&cluster, &plan())).unwrap();
    let policy = api.get_json(&[
        "networkpolicy",
        "-n",
        NS,
        "default-deny",
        "--show-managed-fields",
    ]);
    assert_eq!(
        managers(&policy),
        [
            ("kubectl".to_owned(), "Apply".to_owned()),
            ("windflow".to_owned(), "Apply".to_owned())
        ]
    );

    // kubectl's server dry run changes nothing, and says so.
    let before = versions(&api);
    let changed = manifest.replace(
        "policyTypes:\n  - Ingress\n  - Egress",
        "policyTypes:\n  - Ingress",
    );
    assert_ne!(changed, manifest);
    let out = api.kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            "-",
        ],
        Some(&changed),
        0,
    );
    assert!(out.contains("serverside-applied (server dry run)"), "{out}");
    assert_eq!(versions(&api), before);

    // Without --force-conflicts kubectl meets windflow's co-ownership: a 409.
    let conflict = api.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(&changed));
    assert_eq!(conflict.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr.contains(
            r#"Apply failed with 1 conflict: conflict with "windflow": .spec.policyTypes"#
        ),
        "{stderr}"
    );
    // kubectl diff shows what windflow's view would lose.
    let diff = api.kubectl_stdin(
        &["diff", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&changed),
    );
    assert_eq!(
        diff.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let shown = String::from_utf8_lossy(&diff.stdout);
    assert!(shown.contains("-  - Egress"), "{shown}");
    assert_eq!(versions(&api), before);
}

/// `windflow isolate diff` and `isolate apply` through the binary, with the
/// shipped example spec: the whole plan created, then unchanged; the apply
/// audited; the generated objects accepted by the server's 1.34 schemas.
#[test]
fn isolate_diff_and_apply_through_the_binary_with_the_shipped_spec() {
    let api = KubeApi::start();
    let env = CliEnv::new();
    env.operator_with_grant("alice");
    let specs = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/deployments");
    let kubeconfig = api.kubeconfig(None);
    let kc = kubeconfig.to_str().unwrap();
    let diff = env.json(&[
        "isolate",
        "diff",
        "payments",
        "--deployments",
        specs,
        "--kubeconfig",
        kc,
        "--json",
    ]);
    let changes = |v: &Value| -> Vec<(String, String)> {
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["name"].as_str().unwrap_or("").to_owned(),
                    o["change"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let first = changes(&diff);
    assert!(first.iter().any(|(n, _)| n == "default-deny"), "{diff:#}");
    assert!(
        first.iter().all(|(_, c)| c == "created"),
        "nothing is there yet: {diff:#}"
    );
    // Apply asks for --yes, then needs the operator (alice has a grant).
    env.expect(
        &[
            "isolate",
            "apply",
            "payments",
            "--deployments",
            specs,
            "--kubeconfig",
            kc,
        ],
        2,
    );
    env.expect(
        &[
            "--operator",
            "alice",
            "isolate",
            "apply",
            "payments",
            "--deployments",
            specs,
            "--kubeconfig",
            kc,
            "--yes",
        ],
        0,
    );
    let ns = api.get_json(&["namespace", "wf-payments"]);
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let again = env.json(&[
        "isolate",
        "diff",
        "payments",
        "--deployments",
        specs,
        "--kubeconfig",
        kc,
        "--json",
    ]);
    assert!(
        changes(&again).iter().all(|(_, c)| c == "unchanged"),
        "{again:#}"
    );
    assert_eq!(changes(&again).len(), first.len());
    let log = env.expect(&["audit", "search", "isolation_applied", "--json"], 0);
    assert!(log.contains("wf-payments"), "{log}");
}
