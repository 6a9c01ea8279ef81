//! The deploy gate: a policy file (`assets/policy/default.toml`) judged
//! against merged findings. The verdict says allowed or blocked, why, and
//! which findings decided it; or that there is no verdict, when something
//! to be judged was not scanned at all.
//!
//! The rule "no scanner produced a report, so no verdict" lives here, in
//! [`judge`], so the pane, the CLI and the agent cannot disagree: every
//! front door judges with it.

use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::merge::{Counts, MergedFinding};
use super::model::Severity;
use crate::tomlpos::FileError;

/// The bundled default policy.
pub const DEFAULT_POLICY: &str = include_str!("../../assets/policy/default.toml");

pub const CRITICAL_REASON: &str = "Critical vulnerabilities found";
pub const HIGH_REASON: &str = "Too many high severity vulnerabilities";
pub const NO_VERDICT_REASON: &str = "No scanner produced a report";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRules {
    #[serde(default)]
    pub max_critical: usize,
    #[serde(default = "ten")]
    pub max_high: usize,
    #[serde(default)]
    pub ignore_unfixed: bool,
}

fn ten() -> usize {
    10
}

impl Default for GateRules {
    fn default() -> Self {
        Self {
            max_critical: 0,
            max_high: 10,
            ignore_unfixed: false,
        }
    }
}

/// A waived finding id, optionally only in one package or image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub justification: String,
    /// The last day the waiver applies (`2026-12-31`, quoted or a TOML date).
    #[serde(deserialize_with = "date")]
    pub expires: NaiveDate,
}

fn date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Toml(toml::value::Datetime),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Text(s) => s,
        Raw::Toml(dt) => dt.to_string(),
    };
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
        serde::de::Error::custom(format!("`{text}` is not a date like 2026-12-31 ({e})"))
    })
}

impl Waiver {
    pub fn active(&self, today: NaiveDate) -> bool {
        today <= self.expires
    }

    pub fn covers(&self, f: &MergedFinding) -> bool {
        f.has_id(&self.id)
            && self.package.as_deref().is_none_or(|p| p == f.package)
            && self
                .image
                .as_deref()
                .is_none_or(|i| f.images.iter().any(|x| x == i))
    }

    /// Checks what a waiver needs before it is added.
    pub fn validate(&self, today: NaiveDate) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("a waiver needs a finding id".into());
        }
        if self.justification.trim().len() < 10 {
            return Err("a waiver needs a justification (at least 10 characters)".into());
        }
        if self.expires < today {
            return Err(format!("the expiry date {} is already past", self.expires));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub gate: GateRules,
    #[serde(default)]
    pub waivers: Vec<Waiver>,
}

impl Policy {
    pub fn default_policy() -> Self {
        Self::parse(Path::new("assets/policy/default.toml"), DEFAULT_POLICY)
            .expect("the bundled policy parses")
    }

    pub fn parse(path: &Path, src: &str) -> Result<Self, FileError> {
        let p: Policy = toml::from_str(src).map_err(|e| FileError::from_toml(path, src, &e))?;
        for (i, w) in p.waivers.iter().enumerate() {
            if w.justification.trim().is_empty() {
                return Err(FileError::new(
                    path,
                    format!("waiver {} ({}) has an empty justification", i + 1, w.id),
                )
                .key("justification"));
            }
        }
        Ok(p)
    }

    pub fn load(path: &Path) -> Result<Self, FileError> {
        let src = std::fs::read_to_string(path)
            .map_err(|e| FileError::new(path, format!("cannot read the policy: {e}")))?;
        Self::parse(path, &src)
    }

    /// The policy as TOML (to save it after adding a waiver).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a policy serialises")
    }
}

/// One reason a deploy is blocked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub message: String,
    /// `3 critical (limit 0)`.
    pub detail: String,
    /// The ids of the findings that decided it, most severe first.
    pub findings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waived {
    pub id: String,
    pub package: String,
    pub justification: String,
    pub expires: NaiveDate,
}

/// What the gate decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    Blocked,
    /// Something to be judged was not scanned by any scanner: neither
    /// allowed nor blocked.
    NoVerdict,
}

/// One scanner run that fed a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    /// `trivy`, `grype`, or the report's file.
    pub scanner: String,
    /// What it scanned: an image, or the deploy a set of reports describes.
    pub target: String,
    /// Why it produced no report; `None` when it did.
    #[serde(rename = "reason", skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl Run {
    pub fn ok(scanner: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            scanner: scanner.into(),
            target: target.into(),
            failure: None,
        }
    }

    pub fn failed(
        scanner: impl Into<String>,
        target: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self {
            scanner: scanner.into(),
            target: target.into(),
            failure: Some(why.into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    pub reasons: Vec<Reason>,
    /// Counts the gate judged: after waivers and ignore-unfixed.
    pub counted: Counts,
    pub waived: Vec<Waived>,
    /// Waivers that matched a finding but had expired.
    pub expired: Vec<Waived>,
    pub ignored_unfixed: usize,
    /// How many scanner runs fed it (0 when judged from findings alone).
    pub runs: usize,
    /// The runs that produced no report, with their reasons.
    pub failed: Vec<Run>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allowed
    }

    pub fn label(&self) -> &'static str {
        match self.decision {
            Decision::Allowed => "allowed",
            Decision::Blocked => "blocked",
            Decision::NoVerdict => "no verdict",
        }
    }

    /// A verdict given although some scanner runs failed: judged on less
    /// than was asked for.
    pub fn partial(&self) -> bool {
        self.decision != Decision::NoVerdict && !self.failed.is_empty()
    }
}

/// Judges the findings of a set of scanner runs: [`evaluate`], except that
/// a target no run produced a report for has not been judged. Then the
/// deploy is blocked if what was scanned blocks it (a critical found is
/// found), and otherwise there is no verdict: never "allowed" over
/// something nobody looked at. With some runs failed the verdict is
/// [`Verdict::partial`].
pub fn judge(
    findings: &[MergedFinding],
    runs: &[Run],
    policy: &Policy,
    today: NaiveDate,
) -> Verdict {
    let mut v = evaluate(findings, policy, today);
    v.runs = runs.len();
    v.failed = runs
        .iter()
        .filter(|r| r.failure.is_some())
        .cloned()
        .collect();
    let mut targets: Vec<&str> = Vec::new();
    for r in runs {
        if !targets.contains(&r.target.as_str()) {
            targets.push(&r.target);
        }
    }
    let unscanned: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !runs.iter().any(|r| r.target == *t && r.failure.is_none()))
        .collect();
    if runs.is_empty() || (!unscanned.is_empty() && v.decision == Decision::Allowed) {
        let detail = if unscanned.len() == targets.len() {
            "every scan failed".to_string()
        } else {
            format!("every scan of {} failed", unscanned.join(", "))
        };
        v.decision = Decision::NoVerdict;
        v.reasons = vec![Reason {
            message: NO_VERDICT_REASON.into(),
            detail,
            findings: Vec::new(),
        }];
    }
    v
}

/// Judges merged findings against a policy on `today`.
pub fn evaluate(findings: &[MergedFinding], policy: &Policy, today: NaiveDate) -> Verdict {
    let mut counted = Counts::default();
    let mut critical = Vec::new();
    let mut high = Vec::new();
    let mut waived = Vec::new();
    let mut expired = Vec::new();
    let mut ignored_unfixed = 0;
    'findings: for f in findings {
        for w in policy.waivers.iter().filter(|w| w.covers(f)) {
            let row = Waived {
                id: f.id.clone(),
                package: f.package.clone(),
                justification: w.justification.clone(),
                expires: w.expires,
            };
            if w.active(today) {
                waived.push(row);
                continue 'findings;
            }
            expired.push(row);
        }
        if policy.gate.ignore_unfixed && !f.fixable() {
            ignored_unfixed += 1;
            continue;
        }
        counted.add(f.severity);
        let label = if f.package.is_empty() {
            f.id.clone()
        } else {
            format!("{} ({} {})", f.id, f.package, f.installed).replace(" )", ")")
        };
        match f.severity {
            Severity::Critical => critical.push(label),
            Severity::High => high.push(label),
            _ => {}
        }
    }
    let mut reasons = Vec::new();
    if critical.len() > policy.gate.max_critical {
        reasons.push(Reason {
            message: CRITICAL_REASON.into(),
            detail: format!(
                "{} critical (limit {})",
                critical.len(),
                policy.gate.max_critical
            ),
            findings: critical,
        });
    }
    if high.len() > policy.gate.max_high {
        reasons.push(Reason {
            message: HIGH_REASON.into(),
            detail: format!("{} high (limit {})", high.len(), policy.gate.max_high),
            findings: high,
        });
    }
    Verdict {
        decision: if reasons.is_empty() {
            Decision::Allowed
        } else {
            Decision::Blocked
        },
        reasons,
        counted,
        waived,
        expired,
        ignored_unfixed,
        runs: 0,
        failed: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scans::model::{FindingKind, Scanner};

    fn m(id: &str, sev: Severity, fixed: Option<&str>) -> MergedFinding {
        MergedFinding {
            id: id.into(),
            aliases: vec![format!("GHSA-{id}")],
            package: "openssl".into(),
            installed: "1.1.1".into(),
            fixed: fixed.map(str::to_string),
            severity: sev,
            scanners: vec![Scanner::Trivy],
            targets: vec!["t".into()],
            images: vec!["app:1".into()],
            kind: FindingKind::Vulnerability,
            title: String::new(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn default_policy_blocks_on_critical_and_on_eleven_high() {
        let p = Policy::default_policy();
        assert_eq!(p.gate, GateRules::default());
        let today = day("2026-01-01");
        let ten_high: Vec<_> = (0..10)
            .map(|i| m(&format!("CVE-{i}"), Severity::High, None))
            .collect();
        assert!(evaluate(&ten_high, &p, today).allowed());
        let mut eleven = ten_high.clone();
        eleven.push(m("CVE-99", Severity::High, None));
        let v = evaluate(&eleven, &p, today);
        assert!(!v.allowed());
        assert_eq!(v.reasons[0].message, HIGH_REASON);
        assert_eq!(v.reasons[0].findings.len(), 11);
        let v = evaluate(&[m("CVE-1", Severity::Critical, None)], &p, today);
        assert_eq!(v.reasons[0].message, CRITICAL_REASON);
        assert_eq!(v.reasons[0].findings, vec!["CVE-1 (openssl 1.1.1)"]);
    }

    #[test]
    fn ignore_unfixed_and_waivers_with_expiry() {
        let crit = [m("CVE-1", Severity::Critical, None)];
        let mut p = Policy::default_policy();
        p.gate.ignore_unfixed = true;
        let v = evaluate(&crit, &p, day("2026-01-01"));
        assert!(v.allowed() && v.ignored_unfixed == 1);

        let mut p = Policy::default_policy();
        p.waivers.push(Waiver {
            id: "GHSA-CVE-1".into(), // an alias matches too
            package: Some("openssl".into()),
            image: Some("app:1".into()),
            justification: "not reachable from the network".into(),
            expires: day("2026-03-31"),
        });
        assert!(evaluate(&crit, &p, day("2026-03-31")).allowed());
        let v = evaluate(&crit, &p, day("2026-04-01"));
        assert!(!v.allowed());
        assert_eq!(v.expired.len(), 1);
        // Another package or image: the waiver does not apply.
        p.waivers[0].image = Some("other:2".into());
        assert!(!evaluate(&crit, &p, day("2026-01-01")).allowed());
    }

    #[test]
    fn no_scanner_report_means_no_verdict_and_a_failed_one_a_partial_verdict() {
        let p = Policy::default_policy();
        let today = day("2026-01-01");
        let failed = |s: &str, t: &str| Run::failed(s, t, "not installed");
        // Nothing ran, or every run failed: no verdict, never allowed.
        let v = judge(&[], &[], &p, today);
        assert_eq!(v.decision, Decision::NoVerdict);
        let runs = [failed("trivy", "app:1"), failed("grype", "app:1")];
        let v = judge(&[], &runs, &p, today);
        assert_eq!((v.decision, v.label()), (Decision::NoVerdict, "no verdict"));
        assert!(!v.allowed() && !v.partial());
        assert_eq!(v.reasons[0].message, NO_VERDICT_REASON);
        assert_eq!(v.reasons[0].detail, "every scan failed");
        assert_eq!(v.failed.len(), 2);
        // One of two failed: judged, marked partial.
        let runs = [Run::ok("trivy", "app:1"), failed("grype", "app:1")];
        let v = judge(&[], &runs, &p, today);
        assert!(v.allowed() && v.partial());
        assert_eq!((v.runs, v.failed.len()), (2, 1));
        // Two images, one never scanned: not allowed ...
        let runs = [Run::ok("trivy", "app:1"), failed("trivy", "db:2")];
        let v = judge(&[], &runs, &p, today);
        assert_eq!(v.decision, Decision::NoVerdict);
        assert_eq!(v.reasons[0].detail, "every scan of db:2 failed");
        // ... but what was scanned can still block it.
        let v = judge(&[m("CVE-1", Severity::Critical, None)], &runs, &p, today);
        assert_eq!(v.decision, Decision::Blocked);
        assert!(v.partial());
    }

    #[test]
    fn policy_errors_name_file_and_line() {
        let e = Policy::parse(Path::new("p.toml"), "[gate]\nmax_high = \"ten\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let src = "[[waivers]]\nid = \"CVE-1\"\njustification = \"x\"\nexpires = \"2026-13-01\"\n";
        let e = Policy::parse(Path::new("p.toml"), src).unwrap_err();
        assert!(e.to_string().starts_with("p.toml"), "{e}");
        let w = Waiver {
            id: "CVE-1".into(),
            package: None,
            image: None,
            justification: "short".into(),
            expires: day("2026-01-01"),
        };
        assert!(
            w.validate(day("2025-01-01"))
                .unwrap_err()
                .contains("justification")
        );
    }
}
