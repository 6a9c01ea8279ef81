//! Scans: parse + merge of a ~50 MB Trivy report (target under 1 s), the
//! manifest checks on the kube-score fixture folder (compare bench/scans-*.sh),
//! and the checks and scores of 50,000 pods (target under 2 s and 1 GB; the
//! count from WINDFLOW_BENCH_PODS). Without `--bench` (cargo test) a 1 MB
//! report and 200 pods keep the test run quick.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use windflow::scans::{k8s, merge, parse_report};

const SEV: [&str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"];
const LIBS: [&str; 8] = ["ssl", "xml2", "curl", "z", "png", "c6", "krb5", "expat"];

/// A Trivy JSON v2 report of about `mb` megabytes, shaped like bench/scans-gen-trivy.py.
fn report(mb: usize) -> Vec<u8> {
    let words: Vec<&str> = "buffer overflow in the parser allows remote attackers to execute arbitrary code via a crafted request header when compression is enabled".split(' ').collect();
    let text = |i: usize, n: usize| {
        (0..n)
            .map(|k| words[(i * 31 + k * 7) % words.len()])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut results = Vec::new();
    let (mut total, mut i) = (0, 0usize);
    while total < mb * 1024 * 1024 {
        let mut vulns = Vec::new();
        for _ in 0..500 {
            let cve = format!("CVE-20{}-{}", 10 + i % 14, 1000 + i % 9000);
            let pkg = format!("lib{}-{}", LIBS[i % 8], i % 97);
            let ver = format!("1.{}.{}", i % 31, i % 7);
            let v = json!({
                "VulnerabilityID": cve,
                "VendorIDs": if i % 3 == 0 { json!([format!("DSA-{}-1", 4000 + i % 900)]) } else { json!(null) },
                "PkgID": format!("{pkg}@{ver}"),
                "PkgName": pkg,
                "PkgIdentifier": {"PURL": format!("pkg:deb/debian/{pkg}@{ver}?arch=amd64")},
                "InstalledVersion": ver,
                "FixedVersion": if i % 2 == 1 { format!("{ver}+deb10u{}", i % 4) } else { String::new() },
                "Status": if i % 2 == 1 { "fixed" } else { "affected" },
                "Layer": {"DiffID": format!("sha256:{:064x}", i * 7919)},
                "SeveritySource": "debian",
                "PrimaryURL": format!("https://avd.aquasec.com/nvd/{}", cve.to_lowercase()),
                "DataSource": {"ID": "debian", "Name": "Debian Security Tracker", "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"},
                "Title": text(i, 8),
                "Description": text(i + 1, 120),
                "Severity": SEV[i % 5],
                "CweIDs": [format!("CWE-{}", 100 + i % 700)],
                "VendorSeverity": {"debian": 1 + i % 3, "nvd": 1 + i % 4},
                "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8}},
                "References": [format!("https://security-tracker.debian.org/tracker/{cve}"), format!("https://nvd.nist.gov/vuln/detail/{cve}"), format!("https://www.openwall.com/lists/oss-security/{i}")],
                "PublishedDate": "2021-05-25T22:15:10.41Z",
                "LastModifiedDate": "2022-04-25T18:42:48.787Z",
            });
            total += v.to_string().len();
            vulns.push(v);
            i += 1;
        }
        results.push(json!({"Target": format!("image.tar (debian 10.{})", results.len()), "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns}));
    }
    serde_json::to_vec_pretty(&json!({
        "SchemaVersion": 2,
        "ArtifactName": "bench/app:1",
        "Metadata": {"ImageID": format!("sha256:{}", "ab".repeat(32))},
        "Results": results,
    }))
    .unwrap()
}

/// `pods` pods in namespaces of 100: per namespace a default-deny policy,
/// and per app of 10 pods a Service and a NetworkPolicy selecting it.
fn cluster(pods: usize) -> String {
    let mut s = String::with_capacity(pods * 900);
    for ns in 0..pods.div_ceil(100) {
        s.push_str(&format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: ns-{ns}}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress, Egress]}}\n"
        ));
        for app in 0..10 {
            s.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: app-{app}, namespace: ns-{ns}}}\nspec:\n  selector: {{app: app-{app}}}\n  ports: [{{port: 80}}]\n\
                 ---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: app-{app}, namespace: ns-{ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: app-{app}}}}}\n  ingress: [{{from: [{{podSelector: {{matchLabels: {{role: client}}}}}}]}}]\n"
            ));
        }
    }
    for i in 0..pods {
        let (ns, app) = (i / 100, (i / 10) % 10);
        s.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{i}\n  namespace: ns-{ns}\n  labels: {{app: app-{app}, tier: web}}\nspec:\n  \
             containers:\n  - name: app\n    image: registry.local/app:1.{app}\n    securityContext: {{privileged: {}, runAsNonRoot: true}}\n    \
             resources: {{limits: {{cpu: 500m, memory: 256Mi}}}}\n    readinessProbe: {{httpGet: {{path: /, port: 80}}}}\n  \
             - name: sidecar\n    image: registry.local/proxy:latest\n    env: [{{name: API_TOKEN, value: t{i}}}]\n",
            if i % 7 == 0 { "yes" } else { "false" }
        ));
    }
    s
}

fn benches(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let bytes = report(if full { 50 } else { 1 });
    let mb = bytes.len() as f64 / 1048576.0;
    let name = format!("trivy_parse_merge_{mb:.0}mb");
    let mut g = c.benchmark_group("scans");
    g.sample_size(10);
    g.bench_function(&name, |b| {
        b.iter(|| {
            let r = parse_report(Path::new("bench.json"), &bytes).unwrap();
            merge(r.findings).len()
        })
    });
    g.bench_function("trivy_parse_only", |b| {
        b.iter(|| {
            parse_report(Path::new("bench.json"), &bytes)
                .unwrap()
                .findings
                .len()
        })
    });
    let folder: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scans/k8s/kube-score");
    g.bench_function("manifests_kube_score_folder", |b| {
        b.iter(|| {
            k8s::check_paths(std::slice::from_ref(&folder))
                .findings
                .len()
        })
    });
    let pods: usize = std::env::var("WINDFLOW_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 50_000 } else { 200 });
    let text = cluster(pods);
    let mut loaded = k8s::load::Loaded::default();
    k8s::load::load_str(Path::new("cluster.yaml"), &text, &mut loaded);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors.first());
    g.bench_function(format!("manifests_{pods}_pods_check_and_score"), |b| {
        b.iter_batched(
            || loaded.clone(),
            |l| k8s::check_objects(l).score,
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function(format!("manifests_{pods}_pods_load_check_and_score"), |b| {
        b.iter(|| {
            let mut l = k8s::load::Loaded::default();
            k8s::load::load_str(Path::new("cluster.yaml"), &text, &mut l);
            k8s::check_objects(l).score
        })
    });
    g.finish();
}

criterion_group!(scans, benches);
criterion_main!(scans);
