//! The scan model: severities, scanners and one finding as a scanner
//! reported it. Pure types, no IO.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised severity. Order: `Unknown < Low < Medium < High < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    /// Normalises a scanner's severity word (case-insensitive).
    ///
    /// `negligible` (Grype, Clair) counts as low, klar's `Defcon1` as
    /// critical, `moderate` (GitHub advisories) as medium; anything else is
    /// unknown.
    pub fn normalise(word: &str) -> Severity {
        let w = word.trim();
        let eq = |s: &str| w.eq_ignore_ascii_case(s);
        if eq("critical") || eq("defcon1") {
            Severity::Critical
        } else if eq("high") || eq("important") {
            Severity::High
        } else if eq("medium") || eq("moderate") {
            Severity::Medium
        } else if eq("low") || eq("negligible") {
            Severity::Low
        } else {
            Severity::Unknown
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Unknown => "unknown",
        }
    }

    /// Index into per-severity arrays ordered as [`Severity::ALL`].
    pub fn index(self) -> usize {
        match self {
            Severity::Critical => 0,
            Severity::High => 1,
            Severity::Medium => 2,
            Severity::Low => 3,
            Severity::Unknown => 4,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Who reported a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scanner {
    Trivy,
    Grype,
    /// Clair through clair-scanner, klar or the Clair v4 API.
    Clair,
}

impl Scanner {
    pub fn label(self) -> &'static str {
        match self {
            Scanner::Trivy => "trivy",
            Scanner::Grype => "grype",
            Scanner::Clair => "clair",
        }
    }
}

impl fmt::Display for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// A known vulnerability in an installed package.
    Vulnerability,
    /// A configuration problem (Trivy `Misconfigurations[]`).
    Misconfiguration,
    /// A secret found in a file (Trivy `Secrets[]`; the secret itself is never kept).
    Secret,
}

/// One finding as one scanner reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The scanner's id (`CVE-2019-1549`, `GHSA-...`, `KSV001`, `aws-access-key-id`).
    pub id: String,
    /// Other ids of the same vulnerability (a GHSA id's CVE, vendor advisories).
    pub aliases: Vec<String>,
    /// Package name (for misconfigurations: the resource; for secrets: the category).
    pub package: String,
    pub installed: String,
    /// The first version with the fix, when one exists.
    pub fixed: Option<String>,
    pub severity: Severity,
    pub scanner: Scanner,
    pub kind: FindingKind,
    /// The image or artifact scanned (what waivers name).
    pub image: String,
    /// Where inside it (Trivy's result target, a lockfile, a file and line).
    pub target: String,
    pub title: String,
}

impl Finding {
    pub fn fixable(&self) -> bool {
        self.fixed.as_deref().is_some_and(|f| !f.trim().is_empty())
    }

    /// The id and every alias.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_normalise() {
        assert_eq!(Severity::normalise("CRITICAL"), Severity::Critical);
        assert_eq!(Severity::normalise("Defcon1"), Severity::Critical);
        assert_eq!(Severity::normalise("Negligible"), Severity::Low);
        assert_eq!(Severity::normalise("negligible"), Severity::Low);
        assert_eq!(Severity::normalise("Medium"), Severity::Medium);
        assert_eq!(Severity::normalise("UNKNOWN"), Severity::Unknown);
        assert_eq!(Severity::normalise("whatever"), Severity::Unknown);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
    }
}
