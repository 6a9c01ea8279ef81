//! Isolation: plan and diff of 100 deployments against a folder state
//! (target under 1 s), and reachability of 2,000 pods under 500 policies
//! (the index and every pair of pods, target under 100 ms). Without
//! `--bench` (cargo test) 10 deployments and 200 pods keep the test run quick.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use windflow::deployments::{self, Deployment};
use windflow::isolation::plan;
use windflow::isolation::reach::Engine;
use windflow::isolation::state::{self, ClusterState};

/// A deployment of five services calling each other in a chain, each let
/// in by the ingress controller and reaching one outside range.
fn spec(i: usize) -> Deployment {
    let mut s = format!(
        "id = \"app-{i}\"\nowner = \"team-{}\"\nenvironment = \"prod\"\n\
         [data]\npersonal_data = true\nphi = false\ncard_data = {}\n\
         [resources]\ncpu = \"8\"\nmemory = \"16Gi\"\npods = 50\n",
        i % 7,
        i.is_multiple_of(3)
    );
    for k in 0..5 {
        let mut allow = format!("{{ namespace = \"ingress-nginx\", port = {} }}", 8000 + k);
        if k > 0 {
            allow.push_str(&format!(
                ", {{ service = \"svc-{}\", port = {} }}",
                k - 1,
                8000 + k
            ));
        }
        s.push_str(&format!(
            "[[services]]\nname = \"svc-{k}\"\nimage = \"registry.example/app-{i}/svc-{k}:1.0.{k}\"\n\
             ports = [{}]\nallow_from = [{allow}]\negress = [{{ cidr = \"203.0.{}.0/24\", port = 443 }}]\n",
            8000 + k,
            i % 250
        ));
    }
    deployments::parse(Path::new("bench.toml"), &s).unwrap()
}

/// `pods` pods, 20 to a namespace, and five policies per namespace: a
/// default-deny, DNS, ingress from other teams' namespaces by expression on
/// a named port, egress to prod namespaces and an ipBlock with an except,
/// and a port range open to every namespace.
fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn cluster(pods: usize) -> ClusterState {
    let namespaces = pods.div_ceil(20);
    let mut state = ClusterState::default();
    for ns in 0..namespaces {
        let name = format!("ns-{ns}");
        state.namespaces.push(typed(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"team": format!("t{}", ns % 10), "env": if ns.is_multiple_of(2) { "prod" } else { "dev" }}},
        })));
        let policy = |pname: &str, spec: Value| {
            typed(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": pname, "namespace": name}, "spec": spec,
            }))
        };
        state.policies.extend([
            policy("default-deny", json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})),
            policy("allow-dns", json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns-0"}},
                        "podSelector": {"matchLabels": {"app": "app-0"}}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"port": 53}]}]})),
            policy("app-0-in", json!({"podSelector": {"matchLabels": {"app": "app-0"}}, "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"team": format!("t{}", (ns + 1) % 10)}},
                          "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["app-1", "app-2"]}]}}],
                "ports": [{"port": "http"}]}]})),
            policy("app-1-out", json!({"podSelector": {"matchLabels": {"app": "app-1"}}, "policyTypes": ["Egress"], "egress": [
                {"to": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}, "podSelector": {"matchLabels": {"app": "app-0"}}}],
                 "ports": [{"port": 8080}]},
                {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.50.0.0/16"]}}], "ports": [{"port": 443}]}]})),
            policy("app-2-range", json!({"podSelector": {"matchLabels": {"app": "app-2"}}, "ingress": [{
                "from": [{"namespaceSelector": {}, "podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}],
                "ports": [{"port": 9000, "endPort": 9100}]}]})),
        ]);
    }
    for i in 0..pods {
        let ns = i / 20;
        state.pods.push(typed(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("pod-{i}"), "namespace": format!("ns-{ns}"),
                         "labels": {"app": format!("app-{}", i % 5), "tier": if i.is_multiple_of(3) { "web" } else { "db" }}},
            "spec": {"containers": [{"name": "c", "image": "registry.example/x:1",
                                     "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"podIP": format!("10.{}.{}.{}", ns % 256, (i / 250) % 256, i % 250 + 1)},
        })));
    }
    state
}

fn benches(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let mut g = c.benchmark_group("isolation");
    g.sample_size(10);

    let count = if full { 100 } else { 10 };
    let specs: Vec<Deployment> = (0..count).map(spec).collect();
    // The folder state: every plan written, a third of them edited since.
    let dir = tempfile::tempdir().unwrap();
    for (i, d) in specs.iter().enumerate() {
        let p = plan::plan(d);
        let file = plan::write(dir.path(), &p).unwrap();
        if i.is_multiple_of(3) {
            let text = std::fs::read_to_string(&file).unwrap();
            std::fs::write(&file, text.replacen("  - Egress\n", "", 1)).unwrap();
        }
    }
    g.bench_function(format!("plan_and_diff_{count}_deployments"), |b| {
        b.iter(|| {
            let folder = state::from_dir(dir.path());
            assert!(folder.complete());
            specs
                .iter()
                .map(|d| plan::diff(&plan::plan(d), &folder.state))
                .filter(|d| !d.in_sync())
                .count()
        })
    });
    g.bench_function(format!("plan_only_{count}_deployments"), |b| {
        b.iter(|| {
            specs
                .iter()
                .map(|d| plan::plan(d).to_yaml().len())
                .sum::<usize>()
        })
    });

    let pods = if full { 2000 } else { 200 };
    let cluster = cluster(pods);
    let policies = cluster.policies.len();
    let all: Vec<usize> = (0..pods).collect();
    let pairs = |engine: &Engine| {
        let mut n = 0usize;
        engine.for_each_allowed(&all, &all, |_, _, _| n += 1);
        n
    };
    let engine = Engine::new(&cluster);
    assert!(engine.warnings.is_empty(), "{:?}", engine.warnings);
    eprintln!(
        "{pods} pods, {policies} policies: {} pairs connect",
        pairs(&engine)
    );
    g.bench_function(
        format!("reach_{pods}_pods_{policies}_policies_all_pairs"),
        |b| b.iter(|| pairs(&Engine::new(&cluster))),
    );
    g.bench_function(
        format!("reach_{pods}_pods_{policies}_policies_index_only"),
        |b| b.iter(|| Engine::new(&cluster).pod_count()),
    );
    g.finish();
}

criterion_group!(isolation, benches);
criterion_main!(isolation);
