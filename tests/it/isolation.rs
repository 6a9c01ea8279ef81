//! Isolation (issue 14): deployment specs, the plans made from them
//! (validated against the official Kubernetes 1.34 schemas and scored by our
//! own manifest checks), the folder backend, status and drift, and
//! reachability, checked case by case against the examples of the
//! Kubernetes NetworkPolicy documentation.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use windflow::deployments::{self, Protocol};
use windflow::isolation::plan::{self, Action};
use windflow::isolation::reach::Engine;
use windflow::isolation::state::{self, FolderState};
use windflow::isolation::status;

use crate::support::cli::CliEnv;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped example specs.
fn examples() -> PathBuf {
    root().join("assets/deployments")
}

fn examples_arg() -> String {
    examples().display().to_string()
}

/// A fixture from the Kubernetes documentation's NetworkPolicy examples.
fn docs(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/isolation/k8s-docs").join(name)).unwrap()
}

/// A folder holding these files.
fn folder(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// A folder read whole.
#[track_caller]
fn read_whole(dir: &Path) -> FolderState {
    let f = state::from_dir(dir);
    assert!(f.complete(), "{:?}", f.problems());
    f
}

fn pod(ns: &str, name: &str, labels: &str, ip: &str) -> String {
    pod_with(ns, name, labels, ip, "")
}

/// A Pod; `extra` goes into its spec (`ports` of its container, `hostNetwork`).
fn pod_with(ns: &str, name: &str, labels: &str, ip: &str, ports: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}\n\
         spec: {{containers: [{{name: c, image: 'registry.example/x:1', ports: [{ports}]}}]}}\n\
         status: {{podIP: {ip}}}\n"
    )
}

fn namespace(name: &str, labels: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n"
    )
}

// ------------------------------------------------------------------ reachability: the docs' cases

/// The pods every scenario runs over: `default` (the docs' namespace),
/// a `project=myproject` namespace, `user=alice` and `user=bob` namespaces,
/// and unlabelled pods at the addresses the docs' ipBlocks name.
fn world() -> String {
    let mut w = String::new();
    for (name, labels) in [
        ("default", ""),
        ("myproject", "project: myproject"),
        ("alice", "user: alice"),
        ("bob", "user: bob"),
        ("ext", ""),
    ] {
        w.push_str(&namespace(name, labels));
    }
    for (ns, name, labels, ip) in [
        ("default", "db", "role: db", "10.1.0.1"),
        ("default", "frontend", "role: frontend", "10.1.0.2"),
        ("default", "client", "role: client", "10.1.0.3"),
        ("myproject", "app", "app: x", "10.2.0.1"),
        ("alice", "client", "role: client", "10.3.0.1"),
        ("alice", "web", "role: web", "10.3.0.2"),
        ("bob", "client", "role: client", "10.4.0.1"),
        ("bob", "frontend", "role: frontend", "10.4.0.2"),
        ("ext", "in-block", "", "172.17.0.9"),
        ("ext", "in-except", "", "172.17.1.5"),
        ("ext", "after-except", "", "172.17.2.5"),
        ("ext", "dest", "", "10.0.0.7"),
        ("ext", "far", "", "10.0.1.7"),
    ] {
        w.push_str(&pod(ns, name, labels, ip));
    }
    w.push_str(&pod_with(
        "default",
        "named",
        "role: named",
        "10.1.0.5",
        "{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}",
    ));
    // A hostNetwork pod labelled like the db: policies never select it.
    w.push_str(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: hostnet, namespace: default, labels: {role: db}}\n\
         spec: {hostNetwork: true, containers: [{name: c, image: 'registry.example/x:1'}]}\n\
         status: {podIP: 192.168.0.1}\n",
    );
    w
}

/// (label, from, to, port, protocol, reachable)
type Check = (
    &'static str,
    &'static str,
    &'static str,
    u16,
    Protocol,
    bool,
);

use Protocol::{Tcp, Udp};

/// A policy on `role: db` pods of `default` letting in what `from` says.
fn db_ingress(name: &str, from: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n\
         metadata: {{name: {name}, namespace: default}}\n\
         spec:\n  podSelector: {{matchLabels: {{role: db}}}}\n  policyTypes: [Ingress]\n  ingress:\n{from}"
    )
}

/// The scenarios: policies (the docs' examples, byte for byte where the docs
/// have a file, else the docs' snippets) and what they must allow.
fn scenarios() -> Vec<(&'static str, Vec<String>, Vec<Check>)> {
    let alice_client_and = "  - from:\n    - namespaceSelector: {matchLabels: {user: alice}}\n      podSelector: {matchLabels: {role: client}}\n";
    let alice_client_or = "  - from:\n    - namespaceSelector: {matchLabels: {user: alice}}\n    - podSelector: {matchLabels: {role: client}}\n";
    let expression = |op: &str, values: &str| {
        format!(
            "  - from:\n    - namespaceSelector: {{}}\n      podSelector:\n        matchExpressions:\n        - {{key: role, operator: {op}{values}}}\n"
        )
    };
    vec![
        (
            "default deny all ingress traffic",
            vec![docs("network-policy-default-deny-ingress.yaml")],
            vec![
                ("ingress to the namespace's pods is denied", "ext/far", "default/db", 80, Tcp, false),
                ("from the same namespace too", "default/frontend", "default/db", 80, Tcp, false),
                ("egress is not changed", "default/db", "ext/far", 80, Tcp, true),
                ("other namespaces stay open", "alice/client", "alice/web", 80, Tcp, true),
                ("a pod reaches itself", "default/db", "default/db", 80, Tcp, true),
            ],
        ),
        (
            "default allow all ingress traffic",
            vec![
                docs("network-policy-default-deny-ingress.yaml"),
                docs("network-policy-allow-all-ingress.yaml"),
            ],
            vec![
                ("allow-all wins over the deny", "ext/far", "default/db", 80, Tcp, true),
                ("on every port and protocol", "ext/far", "default/db", 53, Udp, true),
            ],
        ),
        (
            "default deny all egress traffic",
            vec![docs("network-policy-default-deny-egress.yaml")],
            vec![
                ("egress from the namespace is denied", "default/db", "ext/far", 80, Tcp, false),
                ("to the same namespace too", "default/db", "default/frontend", 80, Tcp, false),
                ("ingress is not changed", "ext/far", "default/db", 80, Tcp, true),
            ],
        ),
        (
            "default allow all egress traffic",
            vec![
                docs("network-policy-default-deny-egress.yaml"),
                docs("network-policy-allow-all-egress.yaml"),
            ],
            vec![("allow-all wins over the deny", "default/db", "ext/far", 443, Tcp, true)],
        ),
        (
            "default deny all ingress and all egress traffic",
            vec![docs("network-policy-default-deny-all.yaml")],
            vec![
                ("within the namespace", "default/frontend", "default/db", 80, Tcp, false),
                ("in", "ext/far", "default/db", 80, Tcp, false),
                ("out", "default/db", "ext/far", 80, Tcp, false),
                ("other namespaces stay open", "ext/far", "alice/web", 80, Tcp, true),
            ],
        ),
        (
            "allow all egress, deny all ingress",
            vec![docs("network-policy-allow-all-egress-deny-all-ingress.yaml")],
            vec![
                ("out is allowed", "default/db", "ext/far", 80, Tcp, true),
                ("in is denied", "ext/far", "default/db", 80, Tcp, false),
                ("between its own pods, the ingress side denies", "default/frontend", "default/db", 80, Tcp, false),
            ],
        ),
        (
            "test-network-policy",
            vec![docs("networkpolicy.yaml")],
            vec![
                ("role=frontend in default reaches db on TCP 6379", "default/frontend", "default/db", 6379, Tcp, true),
                ("not on TCP 6380", "default/frontend", "default/db", 6380, Tcp, false),
                ("not on UDP 6379", "default/frontend", "default/db", 6379, Udp, false),
                ("role=frontend elsewhere does not (podSelector alone: the policy's namespace)", "bob/frontend", "default/db", 6379, Tcp, false),
                ("any pod of a project=myproject namespace does", "myproject/app", "default/db", 6379, Tcp, true),
                ("172.17.0.9 is in the ipBlock", "ext/in-block", "default/db", 6379, Tcp, true),
                ("172.17.1.5 is in the except", "ext/in-except", "default/db", 6379, Tcp, false),
                ("172.17.2.5, past the except, is in", "ext/after-except", "default/db", 6379, Tcp, true),
                ("an address outside the block is not", "ext/far", "default/db", 6379, Tcp, false),
                ("db reaches 10.0.0.0/24 on TCP 5978", "default/db", "ext/dest", 5978, Tcp, true),
                ("not on TCP 5979", "default/db", "ext/dest", 5979, Tcp, false),
                ("not outside 10.0.0.0/24", "default/db", "ext/far", 5978, Tcp, false),
                ("db's egress is isolated: not even to its frontend", "default/db", "default/frontend", 6379, Tcp, false),
                ("pods it does not select stay open", "ext/far", "default/frontend", 80, Tcp, true),
                ("hostNetwork pods are never selected", "ext/far", "default/hostnet", 80, Tcp, true),
            ],
        ),
        (
            "namespaceSelector and podSelector in one from element (AND)",
            vec![db_ingress("and", alice_client_and)],
            vec![
                ("role=client in a user=alice namespace", "alice/client", "default/db", 80, Tcp, true),
                ("another pod of that namespace", "alice/web", "default/db", 80, Tcp, false),
                ("role=client in another namespace", "bob/client", "default/db", 80, Tcp, false),
                ("role=client in the policy's namespace", "default/client", "default/db", 80, Tcp, false),
            ],
        ),
        (
            "namespaceSelector and podSelector as two from elements (OR)",
            vec![db_ingress("or", alice_client_or)],
            vec![
                ("role=client in a user=alice namespace", "alice/client", "default/db", 80, Tcp, true),
                ("any pod of a user=alice namespace", "alice/web", "default/db", 80, Tcp, true),
                ("role=client in the policy's namespace", "default/client", "default/db", 80, Tcp, true),
                ("role=client in another namespace", "bob/client", "default/db", 80, Tcp, false),
            ],
        ),
        (
            "targeting a range of ports (endPort)",
            vec![docs("networkpolicy-multiport-egress.yaml")],
            vec![
                ("32000, the first port", "default/db", "ext/dest", 32000, Tcp, true),
                ("32768, the endPort", "default/db", "ext/dest", 32768, Tcp, true),
                ("a port inside", "default/db", "ext/dest", 32500, Tcp, true),
                ("31999, below", "default/db", "ext/dest", 31999, Tcp, false),
                ("32769, above", "default/db", "ext/dest", 32769, Tcp, false),
                ("UDP 32000", "default/db", "ext/dest", 32000, Udp, false),
                ("outside 10.0.0.0/24", "default/db", "ext/far", 32000, Tcp, false),
            ],
        ),
        (
            "named ports",
            vec![
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: named, namespace: default}\n\
                 spec:\n  podSelector: {matchLabels: {role: named}}\n  ingress:\n  - ports: [{port: http}, {port: dns, protocol: UDP}]\n"
                    .to_string(),
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: frontend-out, namespace: default}\n\
                 spec:\n  podSelector: {matchLabels: {role: frontend}}\n  policyTypes: [Egress]\n  egress:\n  - ports: [{port: http}]\n"
                    .to_string(),
            ],
            vec![
                ("`http` is the destination's TCP 8080", "default/frontend", "default/named", 8080, Tcp, true),
                ("no other TCP port", "default/client", "default/named", 8081, Tcp, false),
                ("`dns` is its UDP 53", "default/client", "default/named", 53, Udp, true),
                ("not TCP 53 (the name is the UDP port's)", "default/client", "default/named", 53, Tcp, false),
                ("egress to `http` resolves on the destination", "default/frontend", "default/named", 8080, Tcp, true),
                ("a destination without a port so named is not reached", "default/frontend", "default/db", 8080, Tcp, false),
            ],
        ),
        (
            "matchExpressions: In",
            vec![db_ingress("in", &expression("In", ", values: [client, web]"))],
            vec![
                ("role=web", "alice/web", "default/db", 80, Tcp, true),
                ("role=client", "bob/client", "default/db", 80, Tcp, true),
                ("role=frontend", "bob/frontend", "default/db", 80, Tcp, false),
                ("no role", "ext/far", "default/db", 80, Tcp, false),
            ],
        ),
        (
            "matchExpressions: NotIn",
            vec![db_ingress("notin", &expression("NotIn", ", values: [client]"))],
            vec![
                ("role=web", "alice/web", "default/db", 80, Tcp, true),
                ("role=client", "alice/client", "default/db", 80, Tcp, false),
                ("no role at all", "ext/far", "default/db", 80, Tcp, true),
            ],
        ),
        (
            "matchExpressions: Exists",
            vec![db_ingress("exists", &expression("Exists", ""))],
            vec![
                ("a role", "alice/web", "default/db", 80, Tcp, true),
                ("no role", "ext/far", "default/db", 80, Tcp, false),
            ],
        ),
        (
            "matchExpressions: DoesNotExist",
            vec![db_ingress("doesnotexist", &expression("DoesNotExist", ""))],
            vec![
                ("a role", "alice/web", "default/db", 80, Tcp, false),
                ("no role", "ext/far", "default/db", 80, Tcp, true),
            ],
        ),
        (
            "policyTypes left out: Ingress, and Egress only with egress rules",
            vec![
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: in-only, namespace: default}\n\
                 spec:\n  podSelector: {matchLabels: {role: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {role: frontend}}}]\n"
                    .to_string(),
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: with-egress, namespace: default}\n\
                 spec:\n  podSelector: {matchLabels: {role: client}}\n  egress:\n  - to: [{podSelector: {matchLabels: {role: db}}}]\n"
                    .to_string(),
            ],
            vec![
                ("ingress rules only: ingress isolated", "ext/far", "default/db", 80, Tcp, false),
                ("ingress rules only: egress open", "default/db", "ext/far", 80, Tcp, true),
                ("egress rules: egress isolated", "default/client", "ext/far", 80, Tcp, false),
                ("egress rules: also ingress isolated (Ingress is always set)", "ext/far", "default/client", 80, Tcp, false),
                ("both ends allow frontend -> db", "default/frontend", "default/db", 80, Tcp, true),
                ("client's egress allows db but db's ingress does not allow client", "default/client", "default/db", 80, Tcp, false),
            ],
        ),
        (
            "empty from allows everyone, an empty ingress list no one",
            vec![
                db_ingress("empty-from", "  - from: []\n    ports: [{port: 80}]\n"),
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: no-rules, namespace: default}\n\
                 spec:\n  podSelector: {matchLabels: {role: frontend}}\n  policyTypes: [Ingress]\n  ingress: []\n"
                    .to_string(),
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: own-namespace, namespace: default}\n\
                 spec:\n  podSelector: {matchLabels: {role: client}}\n  ingress:\n  - from: [{podSelector: {}}]\n"
                    .to_string(),
            ],
            vec![
                ("from: [] matches every source", "ext/far", "default/db", 80, Tcp, true),
                ("on the rule's ports only", "ext/far", "default/db", 81, Tcp, false),
                ("ingress: [] allows nothing", "default/db", "default/frontend", 80, Tcp, false),
                ("podSelector {} is every pod of the policy's namespace", "default/frontend", "default/client", 80, Tcp, true),
                ("and no pod of another", "alice/web", "default/client", 80, Tcp, false),
            ],
        ),
    ]
}

#[test]
fn reachability_agrees_with_the_kubernetes_network_policy_documentation() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (scenario, policies, checks) in scenarios() {
        let mut files = vec![("world.yaml", world())];
        let names: Vec<String> = (0..policies.len())
            .map(|i| format!("policy-{i}.yaml"))
            .collect();
        for (name, text) in names.iter().zip(&policies) {
            files.push((name.as_str(), text.clone()));
        }
        let dir = folder(&files);
        let f = read_whole(dir.path());
        assert_eq!(f.state.policies.len(), policies.len(), "{scenario}");
        let engine = Engine::new(&f.state);
        assert!(
            engine.warnings.is_empty(),
            "{scenario}: {:?}",
            engine.warnings
        );
        for (label, from, to, port, protocol, want) in checks {
            let find = |r: &str| {
                let (ns, name) = r.split_once('/').unwrap();
                engine
                    .pod(ns, name)
                    .unwrap_or_else(|| panic!("{scenario}: no pod {r}"))
            };
            let (s, d) = (find(from), find(to));
            let got = engine.ports(s, d).contains(protocol, port);
            // The explanation agrees with the fast path.
            assert_eq!(
                engine.explain(s, d).ports.contains(protocol, port),
                got,
                "{scenario}: {label}"
            );
            count += 1;
            if got != want {
                failures.push(format!(
                    "{scenario}: {label} ({from} -> {to} {} {port}): want {want}, got {got}",
                    protocol.as_str()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 70, "{count}");
}

// ------------------------------------------------------------------ the shipped examples

/// Pods for the shipped example deployments, the ingress controller, the
/// cluster DNS and a pod of nobody's in `default`.
pub fn example_pods() -> String {
    let mut w = String::new();
    for (ns, labels) in [("ingress-nginx", ""), ("kube-system", ""), ("default", "")] {
        w.push_str(&namespace(ns, labels));
    }
    w.push_str(&pod(
        "ingress-nginx",
        "controller-0",
        "app: ingress",
        "10.0.9.1",
    ));
    w.push_str(&pod_with(
        "kube-system",
        "coredns-0",
        "k8s-app: kube-dns",
        "10.0.0.10",
        "{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53}",
    ));
    w.push_str(&pod(
        "default",
        "intruder",
        "app.kubernetes.io/name: api",
        "10.0.9.9",
    ));
    for (i, (ns, service)) in [
        ("wf-payments", "api"),
        ("wf-payments", "ledger"),
        ("wf-payments", "db"),
        ("wf-storefront", "web"),
        ("wf-storefront", "cache"),
        ("wf-mailer", "worker"),
        ("wf-clinical-analytics", "notebooks"),
        ("wf-clinical-analytics", "warehouse"),
    ]
    .iter()
    .enumerate()
    {
        w.push_str(&pod(
            ns,
            &format!("{service}-0"),
            &format!("app.kubernetes.io/name: {service}"),
            &format!("10.0.{}.1", 10 + i),
        ));
    }
    w
}

/// The examples planned into a fresh cluster folder by the real binary.
fn planned_examples(env: &CliEnv) -> PathBuf {
    let cluster = env.root.path().join("cluster");
    let dir = cluster.display().to_string();
    let out = env.json(&[
        "isolate",
        "plan",
        "--all",
        "--deployments",
        &examples_arg(),
        "--cluster-dir",
        &dir,
        "--json",
    ]);
    assert_eq!(out["plans"].as_array().unwrap().len(), 4, "{out}");
    cluster
}

#[test]
fn every_generated_object_validates_against_the_kubernetes_1_34_schemas() {
    let env = CliEnv::new();
    let cluster = planned_examples(&env);
    let python = crate::support::python_with("kubernetes_validate");
    let tool = std::env::var_os("WINDFLOW_KUBERNETES_VALIDATE").map_or_else(
        || python.with_file_name("kubernetes-validate"),
        PathBuf::from,
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cluster)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let documents: usize = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .matches("\n---\n")
                .count()
        })
        .sum();
    assert_eq!(documents, 6 + 7 + 8 + 7, "one document per object");
    let out = Command::new(&tool)
        .args(["-k", "1.34.0", "--strict"])
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/test installs kubernetes-validate)",
                tool.display()
            )
        });
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.matches("passed for resource").count(),
        documents,
        "{text}"
    );
    assert!(!text.contains("ERROR"), "{text}");

    // The same validator refuses what the API server would: it can fail.
    let bad = env.root.path().join("bad.yaml");
    let payments = std::fs::read_to_string(cluster.join("wf-payments.yaml")).unwrap();
    std::fs::write(
        &bad,
        payments.replacen("  policyTypes:\n", "  policyTypez:\n", 1),
    )
    .unwrap();
    let out = Command::new(&tool)
        .args(["-k", "1.34.0", "--strict"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn generated_plans_score_100_with_no_finding_on_our_manifest_checks() {
    let env = CliEnv::new();
    let cluster = planned_examples(&env);
    let dir = cluster.display().to_string();
    let report = env.json(&["scan", "manifests", &dir, "--json", "--min-score", "100"]);
    assert_eq!(report["score"], 100, "{report}");
    assert_eq!(report["findings"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["objects"].as_array().unwrap().len(), 4, "{report}");

    // A default-deny left with Ingress only is a finding of its namespace.
    let file = cluster.join("wf-mailer.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let ingress_only = text.replacen(
        "  policyTypes:\n  - Ingress\n  - Egress\n",
        "  policyTypes:\n  - Ingress\n",
        1,
    );
    assert_ne!(text, ingress_only);
    std::fs::write(&file, ingress_only).unwrap();
    let report = env.json_code(
        &["scan", "manifests", &dir, "--json", "--min-score", "100"],
        3,
    );
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["check"], "default-deny");
    assert_eq!(findings[0]["namespace"], "wf-mailer");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("denies ingress by default but not egress")
    );
}

#[test]
fn the_examples_reach_what_their_specs_allow_and_nothing_else() {
    let env = CliEnv::new();
    let cluster = planned_examples(&env);
    std::fs::write(cluster.join("pods.yaml"), example_pods()).unwrap();
    let f = read_whole(&cluster);
    let engine = Engine::new(&f.state);
    assert!(engine.warnings.is_empty(), "{:?}", engine.warnings);
    let id = |r: &str| {
        let (ns, name) = r.split_once('/').unwrap();
        engine.pod(ns, name).unwrap()
    };
    let open = |from: &str, to: &str| engine.ports(id(from), id(to)).to_string();
    let cases = [
        // storefront's web calls payments' api (both specs say so).
        ("wf-storefront/web-0", "wf-payments/api-0", "TCP 8080"),
        (
            "ingress-nginx/controller-0",
            "wf-payments/api-0",
            "TCP 8080",
        ),
        (
            "ingress-nginx/controller-0",
            "wf-storefront/web-0",
            "TCP 8443",
        ),
        // api's egress to db opens db's ingress from api, and ledger's likewise.
        ("wf-payments/api-0", "wf-payments/db-0", "TCP 5432"),
        ("wf-payments/ledger-0", "wf-payments/db-0", "TCP 5432"),
        ("wf-payments/api-0", "wf-payments/ledger-0", "TCP 9000"),
        ("wf-storefront/web-0", "wf-storefront/cache-0", "TCP 6379"),
        (
            "wf-clinical-analytics/notebooks-0",
            "wf-clinical-analytics/warehouse-0",
            "TCP 5433",
        ),
        // DNS for everyone.
        (
            "wf-mailer/worker-0",
            "kube-system/coredns-0",
            "TCP 53, UDP 53",
        ),
        // Nothing else.
        ("wf-storefront/web-0", "wf-payments/db-0", "none"),
        ("wf-payments/db-0", "wf-payments/api-0", "none"),
        ("wf-payments/api-0", "wf-storefront/web-0", "none"),
        ("default/intruder", "wf-payments/api-0", "none"),
        ("wf-payments/api-0", "default/intruder", "none"),
        ("wf-mailer/worker-0", "wf-payments/api-0", "none"),
        ("ingress-nginx/controller-0", "wf-payments/db-0", "none"),
        ("wf-storefront/cache-0", "wf-storefront/web-0", "none"),
        (
            "wf-clinical-analytics/warehouse-0",
            "kube-system/coredns-0",
            "TCP 53, UDP 53",
        ),
        ("wf-payments/api-0", "ingress-nginx/controller-0", "none"),
    ];
    for (from, to, want) in cases {
        assert_eq!(open(from, to), want, "{from} -> {to}");
    }
    // Every pod of every planned namespace is isolated both ways.
    use windflow::isolation::reach::Direction;
    for ns in [
        "wf-payments",
        "wf-storefront",
        "wf-mailer",
        "wf-clinical-analytics",
    ] {
        for p in engine.pods_in(ns) {
            assert!(
                engine.isolated(p, Direction::Ingress) && engine.isolated(p, Direction::Egress),
                "{}",
                engine.pod_name(p)
            );
        }
    }
}

// ------------------------------------------------------------------ plan, folder backend, diff

fn example(id: &str) -> deployments::Deployment {
    deployments::read_file(&examples().join(format!("{id}.toml"))).unwrap()
}

#[test]
fn plans_are_stable_and_written_atomically_without_following_links() {
    let p = plan::plan(&example("payments"));
    assert_eq!(p.to_yaml(), plan::plan(&example("payments")).to_yaml());
    let kinds: Vec<(&str, &str)> = p.objects().iter().map(|o| (o.kind(), o.name())).collect();
    assert_eq!(
        kinds,
        [
            ("Namespace", "wf-payments"),
            ("ResourceQuota", "quota"),
            ("LimitRange", "limits"),
            ("NetworkPolicy", "default-deny"),
            ("NetworkPolicy", "allow-dns"),
            ("NetworkPolicy", "svc-api"),
            ("NetworkPolicy", "svc-db"),
            ("NetworkPolicy", "svc-ledger"),
        ]
    );
    let labels = p.namespace.metadata.labels.as_ref().unwrap();
    for mode in ["enforce", "audit", "warn"] {
        assert_eq!(
            labels[&format!("pod-security.kubernetes.io/{mode}")],
            "restricted"
        );
        assert_eq!(
            labels[&format!("pod-security.kubernetes.io/{mode}-version")],
            "v1.34"
        );
    }
    assert_eq!(labels["windflow.io/deployment"], "payments");

    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("victim");
    std::fs::write(&target, "untouched").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("wf-payments.yaml")).unwrap();
    let written = plan::write(dir.path(), &p).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    let meta = std::fs::symlink_metadata(&written).unwrap();
    assert!(meta.is_file());
    assert_eq!(std::fs::read_to_string(&written).unwrap(), p.to_yaml());
    // Nothing left behind but the manifest.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn diff_against_the_folder_backend_finds_missing_changed_and_extra_objects() {
    let p = plan::plan(&example("payments"));
    let dir = tempfile::tempdir().unwrap();
    let file = plan::write(dir.path(), &p).unwrap();
    let d = plan::diff(&p, &read_whole(dir.path()).state);
    assert!(d.in_sync(), "{d:#?}");
    assert_eq!(d.count(Action::Unchanged), 8);

    // What the API server would fill in or write otherwise is no change:
    // protocol TCP left out, a quantity in other units, policyTypes absent
    // where the default is the same, an empty list for an absent one.
    let text = std::fs::read_to_string(&file).unwrap();
    let same = text
        .replace("    memory: 512Mi\n", "    memory: 536870912\n")
        .replace("    limits.memory: 8Gi\n", "    limits.memory: 8192Mi\n")
        .replacen("      protocol: TCP\n", "", 3);
    assert_ne!(same, text);
    std::fs::write(&file, &same).unwrap();
    let d = plan::diff(&p, &read_whole(dir.path()).state);
    assert!(d.in_sync(), "{d:#?}");

    // Drift: default-deny lost Egress, svc-db gone, a PSA label lowered, and
    // someone else's allow-all in the namespace.
    let drifted = text
        .replacen(
            "  policyTypes:\n  - Ingress\n  - Egress\n",
            "  policyTypes:\n  - Ingress\n",
            1,
        )
        .replace(
            "pod-security.kubernetes.io/enforce: restricted",
            "pod-security.kubernetes.io/enforce: baseline",
        );
    let drifted = drop_document(&drifted, "name: svc-db");
    std::fs::write(&file, drifted).unwrap();
    std::fs::write(
        dir.path().join("theirs.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: wf-payments}\n\
         spec: {podSelector: {}, ingress: [{}]}\n",
    )
    .unwrap();
    let state = read_whole(dir.path()).state;
    let d = plan::diff(&p, &state);
    let of = |name: &str| d.changes.iter().find(|c| c.name == name).unwrap();
    assert_eq!(of("default-deny").action, Action::Update);
    assert_eq!(of("default-deny").fields, ["spec.policyTypes"]);
    assert_eq!(of("wf-payments").action, Action::Update);
    assert_eq!(
        of("wf-payments").fields,
        ["metadata.labels.pod-security.kubernetes.io/enforce"]
    );
    assert_eq!(of("svc-db").action, Action::Create);
    assert_eq!(of("allow-all").action, Action::Extra);
    assert_eq!(d.count(Action::Unchanged), 5);

    let s = status::status(&p, &state);
    assert!(s.ingress_denied && !s.egress_denied);
    assert!(s.psa.lowered);
    let drift = s.drift.join("\n");
    for want in [
        "NetworkPolicy default-deny differs from the plan: spec.policyTypes",
        "NetworkPolicy svc-db is missing",
        "NetworkPolicy allow-all is not in the plan",
        "egress is not denied by default",
        "Pod Security enforce is baseline, below restricted",
    ] {
        assert!(drift.contains(want), "{want} not in\n{drift}");
    }
}

/// `yaml` without the document that contains `marker`.
fn drop_document(yaml: &str, marker: &str) -> String {
    yaml.split("\n---\n")
        .filter(|d| !d.contains(marker))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

// ------------------------------------------------------------------ the command line

fn write_spec(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn stderr(env: &CliEnv, args: &[&str], code: i32) -> String {
    let out = env.run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn deployments_list_show_and_check_the_shipped_examples() {
    let env = CliEnv::new();
    let list = env.json(&[
        "deployments",
        "list",
        "--deployments",
        &examples_arg(),
        "--json",
    ]);
    let ids: Vec<&str> = list["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["clinical-analytics", "mailer", "payments", "storefront"]
    );
    let phi: Vec<bool> = list["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["data"]["phi"].as_bool().unwrap())
        .collect();
    assert_eq!(phi, [true, false, false, false]);
    let text = env.expect(
        &["deployments", "list", "--deployments", &examples_arg()],
        0,
    );
    assert!(
        text.contains("payments") && text.contains("personal,card"),
        "{text}"
    );

    let show = env.json(&[
        "deployments",
        "show",
        "payments",
        "--deployments",
        &examples_arg(),
        "--json",
    ]);
    assert_eq!(
        show["spec"]["services"][0]["egress"][2]["cidr"],
        "203.0.113.0/24"
    );
    assert_eq!(
        show["spec"]["resources"]["secrets"], 10,
        "defaults filled in"
    );
    let err = env.json_code(
        &[
            "deployments",
            "show",
            "nope",
            "--deployments",
            &examples_arg(),
            "--json",
        ],
        2,
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("known: clinical-analytics, mailer, payments, storefront")
    );

    for f in ["payments", "storefront", "mailer", "clinical-analytics"] {
        let file = examples().join(format!("{f}.toml")).display().to_string();
        let v = env.json(&["deployments", "check", &file, "--json"]);
        assert_eq!(v["valid"], true);
    }
}

#[test]
fn bad_specs_name_the_file_line_and_key_and_exit_2() {
    let env = CliEnv::new();
    let specs = env.root.path().join("specs");
    let good = std::fs::read_to_string(examples().join("mailer.toml")).unwrap();
    write_spec(&specs, "mailer.toml", &good);
    let bad = good.replace("pods = 4", "pods = 4\nsecrest = 3");
    write_spec(
        &specs,
        "typo.toml",
        &bad.replace("id = \"mailer\"", "id = \"typo\""),
    );
    let dir = specs.display().to_string();
    let err = stderr(&env, &["deployments", "list", "--deployments", &dir], 2);
    assert!(
        err.contains("typo.toml, line 19, key `secrest`: unknown field `secrest`"),
        "{err}"
    );

    let file = specs.join("typo.toml").display().to_string();
    let err = stderr(&env, &["deployments", "check", &file], 2);
    assert!(err.contains("line 19, key `secrest`"), "{err}");

    // Two files, one id: both named.
    write_spec(&specs, "typo.toml", &good);
    let err = stderr(
        &env,
        &[
            "isolate",
            "plan",
            "--all",
            "--deployments",
            &dir,
            "--cluster-dir",
            &dir,
        ],
        2,
    );
    assert!(
        err.contains("typo.toml") && err.contains("mailer.toml") && err.contains("id `mailer`"),
        "{err}"
    );
    let err = stderr(
        &env,
        &["deployments", "check", &file, "--deployments", &dir],
        2,
    );
    assert!(
        err.contains("also the id of") && err.contains("mailer.toml"),
        "{err}"
    );
    // Nothing was written.
    assert!(!specs.join("wf-mailer.yaml").exists());
}

#[test]
fn deployments_dir_and_cluster_dir_come_from_windflow_toml() {
    let env = CliEnv::new();
    let config_dir = env.root.path().join("config/windflow");
    write_spec(
        &config_dir.join("specs"),
        "mailer.toml",
        &std::fs::read_to_string(examples().join("mailer.toml")).unwrap(),
    );
    std::fs::write(
        config_dir.join("windflow.toml"),
        "deployments_dir = \"specs\"\n[isolation]\ncluster_dir = \"cluster\"\n",
    )
    .unwrap();
    let out = env.json(&["isolate", "plan", "mailer", "--json"]);
    let file = out["plans"][0]["file"].as_str().unwrap();
    assert_eq!(Path::new(file), config_dir.join("cluster/wf-mailer.yaml"));
    assert!(Path::new(file).is_file());
    let status = env.json(&["isolate", "status", "--json"]);
    assert_eq!(status["drifted"], false, "{status}");
    let show = env.json(&["config", "show", "--json"]);
    assert_eq!(
        Path::new(show["paths"]["deployments_dir"].as_str().unwrap()),
        config_dir.join("specs")
    );

    std::fs::write(
        config_dir.join("windflow.toml"),
        "[isolation]\nclustr_dir = \"x\"\n",
    )
    .unwrap();
    let err = stderr(
        &env,
        &["isolate", "status", "--deployments", &examples_arg()],
        2,
    );
    assert!(err.contains("line 2, key `clustr_dir`"), "{err}");
}

/// A cluster folder with the examples planned and their pods running.
fn running_examples(env: &CliEnv) -> (PathBuf, String) {
    let cluster = planned_examples(env);
    std::fs::write(cluster.join("pods.yaml"), example_pods()).unwrap();
    let dir = cluster.display().to_string();
    (cluster, dir)
}

#[test]
fn status_shows_isolation_psa_quota_and_drift_and_exits_1_on_drift() {
    let env = CliEnv::new();
    let (cluster, dir) = running_examples(&env);
    let args = |id: &'static str| -> Vec<String> {
        [
            "isolate",
            "status",
            id,
            "--deployments",
            &examples_arg(),
            "--cluster-dir",
            &dir,
            "--json",
        ]
        .iter()
        .map(ToString::to_string)
        .collect()
    };
    let run = |id, code| {
        let a = args(id);
        env.json_code(&a.iter().map(String::as_str).collect::<Vec<_>>(), code)
    };
    let v = run("payments", 0);
    let s = &v["deployments"][0];
    assert_eq!(
        (s["ingress_denied"].as_bool(), s["egress_denied"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(s["drift"].as_array().unwrap().len(), 0);

    // The quota's status says 18 of 20 pods; someone lowered warn to privileged.
    let file = cluster.join("wf-payments.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replace(
        "pod-security.kubernetes.io/warn: restricted",
        "pod-security.kubernetes.io/warn: privileged",
    );
    let text = text.replacen(
        "    services.nodeports: '0'\n",
        "    services.nodeports: '0'\nstatus:\n  hard: {pods: '20', requests.memory: 8Gi}\n  used: {pods: '18', requests.memory: 1Gi}\n",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let v = run("payments", 1);
    let s = &v["deployments"][0];
    assert_eq!(s["psa"]["lowered"], true);
    assert_eq!(s["quota_warnings"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["quota_warnings"][0]["resource"], "pods");
    assert_eq!(s["quota_warnings"][0]["percent"], 90);
    let text = env.expect(
        &[
            "isolate",
            "status",
            "payments",
            "--deployments",
            &examples_arg(),
            "--cluster-dir",
            &dir,
        ],
        1,
    );
    assert!(text.contains("wf-payments (payments): DRIFT"), "{text}");
    assert!(text.contains("quota quota: pods 18 of 20 (90 %)"), "{text}");
    assert!(
        text.contains("Pod Security warn is privileged, below restricted"),
        "{text}"
    );

    // A deployment never planned: its namespace does not exist.
    std::fs::remove_file(cluster.join("wf-mailer.yaml")).unwrap();
    let v = run("mailer", 1);
    assert_eq!(v["deployments"][0]["namespace_present"], false);
    assert!(
        v["deployments"][0]["drift"][0]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
}

#[test]
fn unreadable_cluster_files_are_reported_by_file_and_the_answer_exits_2() {
    let env = CliEnv::new();
    let (cluster, dir) = running_examples(&env);
    std::fs::write(
        cluster.join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n",
    )
    .unwrap();
    std::fs::write(
        cluster.join("typed.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec: {containers: [{name: c, ports: [{containerPort: many}]}]}\n",
    )
    .unwrap();
    std::fs::write(
        cluster.join("twice.yaml"),
        pod("ingress-nginx", "controller-0", "", "10.9.9.9"),
    )
    .unwrap();
    std::os::unix::fs::symlink(cluster.join("pods.yaml"), cluster.join("link.yaml")).unwrap();
    let out = env.run(&[
        "isolate",
        "status",
        "payments",
        "--deployments",
        &examples_arg(),
        "--cluster-dir",
        &dir,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["complete"], false);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("broken.yaml: document 1 (line"), "{err}");
    assert!(
        err.contains(
            "typed.yaml: document 1: not a valid Pod: spec.containers[0].ports[0].containerPort"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "twice.yaml: document 1: Pod ingress-nginx/controller-0 is defined twice (first in"
        ),
        "{err}"
    );
    assert!(
        err.contains("link.yaml: a symbolic link, not followed"),
        "{err}"
    );
    assert!(
        err.contains("could not be read whole (4 problems above)"),
        "{err}"
    );
    // can-reach answers, and still exits 2.
    let out = env.run(&[
        "isolate",
        "can-reach",
        "wf-storefront/web-0",
        "wf-payments/api-0",
        "8080",
        "--cluster-dir",
        &dir,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("REACHABLE"));
}

#[test]
fn can_reach_exits_0_or_1_and_names_the_deciding_policies() {
    let env = CliEnv::new();
    let (_cluster, dir) = running_examples(&env);
    let text = env.expect(
        &[
            "isolate",
            "can-reach",
            "wf-storefront/web-0",
            "wf-payments/api-0",
            "8080",
            "--cluster-dir",
            &dir,
        ],
        0,
    );
    assert!(
        text.starts_with("wf-storefront/web-0 -> wf-payments/api-0 TCP 8080: REACHABLE"),
        "{text}"
    );
    assert!(
        text.contains("wf-storefront/svc-web allows TCP 8080"),
        "{text}"
    );
    assert!(
        text.contains("wf-payments/svc-api allows TCP 8080"),
        "{text}"
    );

    let text = env.expect(
        &[
            "isolate",
            "can-reach",
            "default/intruder",
            "wf-payments/db-0",
            "5432",
            "--cluster-dir",
            &dir,
        ],
        1,
    );
    assert!(text.contains("NOT REACHABLE"), "{text}");
    assert!(
        text.contains("egress of default/intruder: not isolated"),
        "{text}"
    );
    assert!(
        text.contains(
            "ingress of wf-payments/db-0: isolated by wf-payments/default-deny, wf-payments/svc-db"
        ),
        "{text}"
    );
    assert!(text.contains("no rule allows the other end"), "{text}");

    // A named port of the destination, UDP.
    let v = env.json(&[
        "isolate",
        "can-reach",
        "wf-payments/db-0",
        "kube-system/coredns-0",
        "dns",
        "--protocol",
        "udp",
        "--cluster-dir",
        &dir,
        "--json",
    ]);
    assert_eq!(v["reachable"], true);
    assert_eq!(v["port"], 53);
    assert_eq!(
        v["explanation"]["egress"]["allowed_by"][0]["policy"],
        "wf-payments/allow-dns"
    );

    let v = env.json_code(
        &[
            "isolate",
            "can-reach",
            "wf-payments/db-0",
            "wf-payments/api-0",
            "8080",
            "--cluster-dir",
            &dir,
            "--json",
        ],
        1,
    );
    assert_eq!(v["reachable"], false);
    for bad in [
        ["nobody/x", "wf-payments/api-0", "8080"],
        ["wf-payments", "wf-payments/api-0", "8080"],
        ["wf-payments/db-0", "wf-payments/api-0", "nope"],
    ] {
        let mut args = vec!["isolate", "can-reach"];
        args.extend(bad);
        args.extend(["--cluster-dir", &dir]);
        stderr(&env, &args, 2);
    }
}

#[test]
fn matrix_lists_what_the_namespace_reaches_and_what_reaches_it() {
    let env = CliEnv::new();
    let (_cluster, dir) = running_examples(&env);
    let v = env.json(&[
        "isolate",
        "matrix",
        "payments",
        "--deployments",
        &examples_arg(),
        "--cluster-dir",
        &dir,
        "--json",
    ]);
    assert_eq!(v["pods"].as_array().unwrap().len(), 3);
    assert!(
        v["pods"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["ingress_isolated"] == true && p["egress_isolated"] == true)
    );
    let pairs = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} -> {} {}",
                    p["from"].as_str().unwrap(),
                    p["to"].as_str().unwrap(),
                    p["ports"]
                )
            })
            .collect()
    };
    assert_eq!(
        pairs("inbound"),
        [
            "ingress-nginx/controller-0 -> wf-payments/api-0 [\"TCP 8080\"]",
            "wf-storefront/web-0 -> wf-payments/api-0 [\"TCP 8080\"]",
        ]
    );
    let outbound = pairs("outbound");
    assert_eq!(outbound.len(), 6, "{outbound:#?}");
    assert!(outbound.contains(&"wf-payments/api-0 -> wf-payments/db-0 [\"TCP 5432\"]".to_string()));
    assert!(outbound.contains(
        &"wf-payments/db-0 -> kube-system/coredns-0 [\"TCP 53\",\"UDP 53\"]".to_string()
    ));
    stderr(
        &env,
        &[
            "isolate",
            "matrix",
            "nope",
            "--deployments",
            &examples_arg(),
            "--cluster-dir",
            &dir,
        ],
        2,
    );
}

#[test]
fn hostile_names_in_the_cluster_folder_are_shown_escaped() {
    use crate::hostile::{HOSTILE, assert_shown_escaped};
    let env = CliEnv::new();
    let (cluster, dir) = running_examples(&env);
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": HOSTILE, "namespace": "wf-payments", "labels": {"app.kubernetes.io/name": "api"}},
        "spec": {"containers": [{"name": "c", "image": "x:1"}]},
        "status": {"podIP": "10.0.1.99"},
    });
    let policy = serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": HOSTILE, "namespace": "wf-payments"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
    });
    // JSON with every non-ASCII character escaped (YAML forbids raw C1 controls).
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [pod, policy]});
    let ascii: String = serde_json::to_string(&list)
        .unwrap()
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    std::fs::write(cluster.join("hostile.json"), ascii).unwrap();
    let out = env.run(&[
        "isolate",
        "matrix",
        "payments",
        "--deployments",
        &examples_arg(),
        "--cluster-dir",
        &dir,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_shown_escaped("isolate matrix", &String::from_utf8(out.stdout).unwrap());
    let out = env.run(&[
        "isolate",
        "can-reach",
        "default/intruder",
        "wf-payments/api-0",
        "8080",
        "--cluster-dir",
        &dir,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_shown_escaped("isolate can-reach", &String::from_utf8(out.stdout).unwrap());
    let out = env.run(&[
        "isolate",
        "status",
        "payments",
        "--deployments",
        &examples_arg(),
        "--cluster-dir",
        &dir,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_shown_escaped("isolate status", &String::from_utf8(out.stdout).unwrap());
}

/// The Isolation pane, fed by the real service over the shipped specs and a
/// cluster folder written by `isolate plan --all`: each deployment isolated;
/// one whose default-deny lost Egress shows OPEN and DRIFT with the reason;
/// one whose manifests are gone shows as not applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_pane_shows_badges_drift_and_missing_namespaces() {
    use std::time::Duration;
    use windflow::console::app::Msg;
    use windflow::isolation::pane::IsolationPane;
    use windflow::isolation::service::{self, IsolationEvent, Sources};

    let env = crate::support::cli::CliEnv::new();
    let specs = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/deployments");
    let cluster = env.root.path().join("cluster");
    let cluster_s = cluster.to_str().unwrap();
    env.expect(
        &[
            "isolate",
            "plan",
            "--all",
            "--deployments",
            specs,
            "--cluster-dir",
            cluster_s,
        ],
        0,
    );
    // Someone dropped Egress from mailer's default-deny; storefront was never applied.
    let mailer = cluster.join("wf-mailer.yaml");
    let text = std::fs::read_to_string(&mailer).unwrap();
    let edited = text.replacen(
        "name: default-deny\n  namespace: wf-mailer\nspec:\n  podSelector: {}\n  policyTypes:\n  - Ingress\n  - Egress\n",
        "name: default-deny\n  namespace: wf-mailer\nspec:\n  podSelector: {}\n  policyTypes:\n  - Ingress\n",
        1,
    );
    assert_ne!(
        edited, text,
        "the plan's default-deny is where the test expects it"
    );
    std::fs::write(&mailer, edited).unwrap();
    std::fs::remove_file(cluster.join("wf-storefront.yaml")).unwrap();

    let (mut relay, sink, pane_rx) = crate::support::Relay::new();
    let _handle = service::spawn(
        Sources {
            deployments: specs.into(),
            cluster: cluster.clone(),
            target: None,
        },
        windflow::audit::Audit::discard(),
        sink,
    );
    let mut app = crate::console::app_with_pane(Box::new(IsolationPane::new(pane_rx)));
    crate::console::focus(&mut app, "isolation");
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), relay.next_any())
            .await
            .expect("the isolation service answers");
        match next {
            crate::support::Next::Common(ev) => {
                app.update(Msg::Service(ev));
            }
            crate::support::Next::Domain(ev) => {
                let statuses = matches!(ev, IsolationEvent::Statuses(_));
                relay.pass(ev);
                app.update(Msg::Wake);
                if statuses {
                    break;
                }
            }
        }
    }
    let s = crate::console::screen(&mut app, 120, 30);
    let line = |needle: &str| {
        s.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row for {needle}:\n{s}"))
            .to_owned()
    };
    let payments = line("wf-payments");
    assert!(
        payments.contains("denied")
            && payments.contains("restricted")
            && payments.contains("isolated"),
        "{payments}"
    );
    let mailer = line("wf-mailer");
    assert!(
        mailer.contains("OPEN") && mailer.contains("DRIFT"),
        "{mailer}"
    );
    assert!(line("wf-storefront").contains("not applied"), "{s}");
    assert!(s.contains("1 drifted"), "{s}");
    // The drift of the selected row (mailer, after moving to it) names what changed.
    let rows: Vec<&str> = s.lines().filter(|l| l.contains(" wf-")).collect();
    let at = rows.iter().position(|l| l.contains("wf-mailer")).unwrap();
    for _ in 0..at {
        crate::console::typed(&mut app, "j");
    }
    let s = crate::console::screen(&mut app, 120, 30);
    assert!(s.contains("drift:"), "{s}");
}
