//! Deploy-gate verdicts kept per image: each time the gate judges (the
//! console's scans, `windflow scan image`, `windflow scan report`), every
//! image it judged gets its own verdict, stored as that image's latest and
//! recorded as a `deploy_gate_verdict` event. Compliance reads the latest
//! verdict of each image a deployment runs; the agent's metrics count them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::gate::{self, Decision, Policy, Run};
use super::merge::MergedFinding;
use super::model::Severity;
use crate::audit::Audit;
use crate::store::Store;

/// The store's namespace: one record per image, its latest verdict.
pub const NS: &str = "scans.verdicts";
/// The audit event of each verdict.
pub const EVENT: &str = "deploy_gate_verdict";

/// One image's verdict as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub image: String,
    /// `allowed`, `blocked` or `no_verdict`.
    pub decision: String,
    /// Judged although some of its scans failed.
    pub partial: bool,
    pub critical: usize,
    pub high: usize,
    /// The scanners whose run on this image failed.
    pub failed: Vec<String>,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The operator who ran it, when one was named.
    pub by: Option<String>,
}

impl Kept {
    pub fn allowed(&self) -> bool {
        self.decision == "allowed"
    }
}

/// Each image of `runs` judged on its own findings and runs.
pub fn per_image(
    findings: &[MergedFinding],
    runs: &[Run],
    policy: &Policy,
    today: NaiveDate,
    by: Option<&str>,
) -> Vec<Kept> {
    let mut images: Vec<&str> = Vec::new();
    for r in runs {
        if !images.contains(&r.target.as_str()) {
            images.push(&r.target);
        }
    }
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    images
        .into_iter()
        .map(|image| {
            let mine: Vec<MergedFinding> = findings
                .iter()
                .filter(|f| f.images.iter().any(|i| i == image))
                .cloned()
                .collect();
            let my_runs: Vec<Run> = runs.iter().filter(|r| r.target == image).cloned().collect();
            let v = gate::judge(&mine, &my_runs, policy, today);
            Kept {
                image: image.to_owned(),
                decision: match v.decision {
                    Decision::Allowed => "allowed",
                    Decision::Blocked => "blocked",
                    Decision::NoVerdict => "no_verdict",
                }
                .to_owned(),
                partial: v.partial(),
                critical: v.counted.get(Severity::Critical),
                high: v.counted.get(Severity::High),
                failed: v.failed.iter().map(|r| r.scanner.clone()).collect(),
                at: at.clone(),
                by: by.map(str::to_owned),
            }
        })
        .collect()
}

/// Keeps each verdict as its image's latest and records its event. An error
/// names what was not kept; nothing is skipped silently.
pub fn record(store: &Store, audit: &Audit, kept: &[Kept]) -> Result<(), String> {
    for k in kept {
        let bytes = serde_json::to_vec(k).map_err(|e| e.to_string())?;
        store
            .put(NS, &k.image, &bytes)
            .map_err(|e| format!("the verdict of {} was not kept: {e}", k.image))?;
        audit
            .emit(
                EVENT,
                k.by.as_deref(),
                serde_json::json!({
                    "image": k.image,
                    "decision": k.decision,
                    "partial": k.partial,
                    "critical": k.critical,
                    "high": k.high,
                    "failed_scanners": k.failed,
                }),
            )
            .map_err(|e| format!("the verdict of {} was kept but not audited: {e}", k.image))?;
    }
    Ok(())
}

/// The latest verdict kept for `image`.
pub fn latest(store: &Store, image: &str) -> Result<Option<Kept>, String> {
    let Some(bytes) = store.get(NS, image).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("the kept verdict of {image} is unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scans::model::{FindingKind, Scanner};

    fn finding(id: &str, severity: Severity, image: &str) -> MergedFinding {
        MergedFinding {
            id: id.into(),
            aliases: Vec::new(),
            package: "openssl".into(),
            installed: "1.0".into(),
            fixed: Some("1.1".into()),
            severity,
            scanners: vec![Scanner::Trivy],
            targets: vec![image.into()],
            images: vec![image.into()],
            kind: FindingKind::Vulnerability,
            title: String::new(),
        }
    }

    #[test]
    fn each_image_gets_its_own_verdict() {
        let runs = vec![
            Run::ok("trivy", "a:1"),
            Run::ok("grype", "a:1"),
            Run::ok("trivy", "b:1"),
            Run::failed("grype", "b:1", "not installed"),
            Run::failed("trivy", "c:1", "not installed"),
        ];
        let findings = vec![finding("CVE-1", Severity::Critical, "a:1")];
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let kept = per_image(
            &findings,
            &runs,
            &Policy::default_policy(),
            today,
            Some("ops"),
        );
        let by_image = |i: &str| kept.iter().find(|k| k.image == i).unwrap();
        assert_eq!(kept.len(), 3);
        assert_eq!(by_image("a:1").decision, "blocked");
        assert_eq!(by_image("a:1").critical, 1);
        assert_eq!(by_image("b:1").decision, "allowed");
        assert!(by_image("b:1").partial);
        assert_eq!(by_image("b:1").failed, ["grype"]);
        assert_eq!(by_image("c:1").decision, "no_verdict");
        assert_eq!(by_image("c:1").by.as_deref(), Some("ops"));
    }
}
