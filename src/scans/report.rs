//! Scanner report parsers: Trivy JSON (schema v2, with `Misconfigurations[]`
//! and `Secrets[]`), Grype JSON, clair-scanner and klar JSON, and Clair v4
//! vulnerability reports (`httptransport/types/v1/vulnerability_report`).
//!
//! One pass of serde_json over the bytes: the format is recognised from the
//! top-level keys, fields we keep borrow from the input where they can and
//! everything else (descriptions, CVSS, references) is skipped without
//! allocating. Errors name the file, the line and column, and the JSON path.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::model::{Finding, FindingKind, Scanner, Severity};

/// Which report format a file was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    Trivy,
    Grype,
    ClairScanner,
    Klar,
    ClairV4,
}

impl ReportFormat {
    pub fn scanner(self) -> Scanner {
        match self {
            ReportFormat::Trivy => Scanner::Trivy,
            ReportFormat::Grype => Scanner::Grype,
            ReportFormat::ClairScanner | ReportFormat::Klar | ReportFormat::ClairV4 => {
                Scanner::Clair
            }
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ReportFormat::Trivy => "trivy",
            ReportFormat::Grype => "grype",
            ReportFormat::ClairScanner => "clair-scanner",
            ReportFormat::Klar => "klar",
            ReportFormat::ClairV4 => "clair-v4",
        }
    }
}

/// One parsed report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format: ReportFormat,
    /// The image or artifact the report is about.
    pub artifact: String,
    /// The image digest when the report names one.
    pub digest: Option<String>,
    pub findings: Vec<Finding>,
}

/// A report that could not be read, with where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportError {
    pub file: PathBuf,
    /// `line 3, column 7 (at Results[0].Vulnerabilities)` or `top level`.
    pub place: String,
    pub message: String,
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.file.display(),
            self.place,
            self.message
        )
    }
}

impl std::error::Error for ReportError {}

const NOT_A_REPORT: &str = "not a scanner report: expected Trivy JSON (`SchemaVersion`/`Results`), \
Grype JSON (`matches`), clair-scanner (`image` + `vulnerabilities`), klar (`LayerCount` + \
`Vulnerabilities`) or a Clair v4 vulnerability report (`manifest_hash` + `package_vulnerabilities`)";

/// Reads and parses a report file.
pub fn read_report(path: &Path) -> Result<Report, ReportError> {
    let bytes = crate::fsutil::read_capped(path, crate::fsutil::REPORT_CAP, "a scanner report")
        .map_err(|e| ReportError {
            file: path.to_path_buf(),
            place: "file".into(),
            message: format!("cannot read it: {e}"),
        })?;
    parse_report(path, &bytes)
}

/// Parses report bytes; `file` is only used in errors.
pub fn parse_report(file: &Path, bytes: &[u8]) -> Result<Report, ReportError> {
    // A report is a JSON object; anything else is refused before parsing.
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if let Some(i) = first
        && bytes[i] != b'{'
        && (bytes[i] == b'[' || bytes[i] == b'"' || bytes[i].is_ascii_digit())
    {
        let line = bytes[..i].iter().filter(|b| **b == b'\n').count() + 1;
        let col = i - bytes[..i]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
            + 1;
        return Err(ReportError {
            file: file.to_path_buf(),
            place: format!("line {line}, column {col}"),
            message: format!("the top level is not a JSON object; {NOT_A_REPORT}"),
        });
    }
    let top: Top = match serde_json::from_slice(bytes) {
        Ok(t) => t,
        Err(e) => return Err(locate(file, bytes, e)),
    };
    top.into_report().map_err(|message| ReportError {
        file: file.to_path_buf(),
        place: "top level".into(),
        message,
    })
}

/// Re-reads a failed input tracking the JSON path, for the error message.
fn locate(file: &Path, bytes: &[u8], e: serde_json::Error) -> ReportError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let path = match serde_path_to_error::deserialize::<_, Top>(&mut de) {
        Err(pe) => {
            let p = pe.path().to_string();
            (p != ".").then_some(p)
        }
        Ok(_) => None,
    };
    let mut place = if e.line() == 0 {
        "top level".to_string()
    } else {
        format!("line {}, column {}", e.line(), e.column())
    };
    if let Some(p) = path {
        place.push_str(&format!(" (at {p})"));
    }
    let mut message = e.to_string();
    // serde_json appends " at line L column C"; the place already says it.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    if e.is_data() && message.contains("expected struct Top") {
        message = format!("{message}; {NOT_A_REPORT}");
    } else if e.is_syntax() || e.is_eof() {
        message = format!("not valid JSON: {message}");
    }
    ReportError {
        file: file.to_path_buf(),
        place,
        message,
    }
}

type S<'a> = Cow<'a, str>;

fn s(c: Option<S<'_>>) -> String {
    c.map(Cow::into_owned).unwrap_or_default()
}

fn nonempty(c: Option<S<'_>>) -> Option<String> {
    c.filter(|v| !v.trim().is_empty()).map(Cow::into_owned)
}

// ------------------------------------------------------------------ top level

#[derive(Deserialize)]
#[serde(expecting = "a JSON object (a scanner report)")]
struct Top<'a> {
    // Trivy
    #[serde(rename = "SchemaVersion")]
    schema_version: Option<IgnoredAny>,
    #[serde(rename = "ArtifactName", borrow)]
    artifact_name: Option<S<'a>>,
    #[serde(rename = "Metadata", borrow)]
    metadata: Option<TrivyMetadata<'a>>,
    #[serde(rename = "Results", borrow)]
    results: Option<Vec<TrivyResult<'a>>>,
    // Grype
    #[serde(borrow)]
    matches: Option<Vec<GrypeMatch<'a>>>,
    source: Option<serde_json::Value>,
    // clair-scanner (`vulnerabilities` is a list) and Clair v4 (a map)
    #[serde(borrow)]
    image: Option<S<'a>>,
    #[serde(borrow)]
    vulnerabilities: Option<LowerVulns<'a>>,
    // klar
    #[serde(rename = "LayerCount")]
    layer_count: Option<IgnoredAny>,
    #[serde(rename = "Vulnerabilities", borrow)]
    klar: Option<HashMap<S<'a>, Vec<KlarVuln<'a>>>>,
    // Clair v4
    #[serde(borrow)]
    manifest_hash: Option<S<'a>>,
    #[serde(borrow)]
    packages: Option<HashMap<S<'a>, V4Package<'a>>>,
    #[serde(borrow)]
    package_vulnerabilities: Option<HashMap<S<'a>, Vec<S<'a>>>>,
}

impl<'a> Top<'a> {
    fn into_report(self) -> Result<Report, String> {
        if self.results.is_some() || self.schema_version.is_some() && self.matches.is_none() {
            return Ok(trivy(self));
        }
        if let Some(matches) = self.matches {
            return Ok(grype(matches, self.source));
        }
        if self.manifest_hash.is_some() || self.package_vulnerabilities.is_some() {
            return clair_v4(self);
        }
        if let Some(LowerVulns::List(list)) = self.vulnerabilities {
            if self.image.is_none() {
                return Err(format!(
                    "{NOT_A_REPORT} (a `vulnerabilities` list without `image`)"
                ));
            }
            return Ok(clair_scanner(s(self.image), list));
        }
        if let Some(klar) = self.klar {
            if self.layer_count.is_none() {
                return Err(format!(
                    "{NOT_A_REPORT} (`Vulnerabilities` without `LayerCount`)"
                ));
            }
            return Ok(klar_report(klar));
        }
        Err(NOT_A_REPORT.to_string())
    }
}

// ------------------------------------------------------------------ Trivy

#[derive(Deserialize)]
struct TrivyMetadata<'a> {
    #[serde(rename = "ImageID", borrow)]
    image_id: Option<S<'a>>,
    #[serde(rename = "RepoDigests", default)]
    repo_digests: Vec<String>,
}

#[derive(Deserialize)]
struct TrivyResult<'a> {
    #[serde(rename = "Target", borrow)]
    target: Option<S<'a>>,
    #[serde(rename = "Type", borrow)]
    kind: Option<S<'a>>,
    #[serde(rename = "Vulnerabilities", borrow, default)]
    vulnerabilities: Option<Vec<TrivyVuln<'a>>>,
    #[serde(rename = "Misconfigurations", borrow, default)]
    misconfigurations: Option<Vec<TrivyMisconf<'a>>>,
    #[serde(rename = "Secrets", borrow, default)]
    secrets: Option<Vec<TrivySecret<'a>>>,
}

#[derive(Deserialize)]
struct TrivyVuln<'a> {
    #[serde(rename = "VulnerabilityID", borrow)]
    id: S<'a>,
    #[serde(rename = "VendorIDs", default)]
    vendor_ids: Option<Vec<String>>,
    #[serde(rename = "PkgName", borrow)]
    pkg: Option<S<'a>>,
    #[serde(rename = "InstalledVersion", borrow)]
    installed: Option<S<'a>>,
    #[serde(rename = "FixedVersion", borrow)]
    fixed: Option<S<'a>>,
    #[serde(rename = "Severity", borrow)]
    severity: Option<S<'a>>,
    #[serde(rename = "Title", borrow)]
    title: Option<S<'a>>,
}

#[derive(Deserialize)]
struct TrivyMisconf<'a> {
    #[serde(rename = "ID", borrow)]
    id: Option<S<'a>>,
    #[serde(rename = "AVDID", borrow)]
    avdid: Option<S<'a>>,
    #[serde(rename = "Title", borrow)]
    title: Option<S<'a>>,
    #[serde(rename = "Resolution", borrow)]
    resolution: Option<S<'a>>,
    #[serde(rename = "Severity", borrow)]
    severity: Option<S<'a>>,
    #[serde(rename = "Status", borrow)]
    status: Option<S<'a>>,
    #[serde(rename = "CauseMetadata", borrow)]
    cause: Option<TrivyCause<'a>>,
}

#[derive(Deserialize)]
struct TrivyCause<'a> {
    #[serde(rename = "Resource", borrow)]
    resource: Option<S<'a>>,
    #[serde(rename = "StartLine")]
    start_line: Option<u64>,
}

/// Trivy's secret finding; `Match` and `Code` (which hold the secret,
/// partly masked) are never read.
#[derive(Deserialize)]
struct TrivySecret<'a> {
    #[serde(rename = "RuleID", borrow)]
    rule_id: Option<S<'a>>,
    #[serde(rename = "Category", borrow)]
    category: Option<S<'a>>,
    #[serde(rename = "Severity", borrow)]
    severity: Option<S<'a>>,
    #[serde(rename = "Title", borrow)]
    title: Option<S<'a>>,
    #[serde(rename = "StartLine")]
    start_line: Option<u64>,
}

fn trivy(top: Top<'_>) -> Report {
    let artifact = s(top.artifact_name);
    let digest = top.metadata.as_ref().and_then(|m| {
        m.repo_digests
            .iter()
            .find_map(|d| d.split_once('@').map(|(_, h)| h.to_string()))
            .or_else(|| m.image_id.as_ref().map(|c| c.to_string()))
    });
    let mut findings = Vec::new();
    for r in top.results.unwrap_or_default() {
        let target = s(r.target);
        for v in r.vulnerabilities.unwrap_or_default() {
            findings.push(Finding {
                id: v.id.into_owned(),
                aliases: v.vendor_ids.unwrap_or_default(),
                package: s(v.pkg),
                installed: s(v.installed),
                fixed: nonempty(v.fixed),
                severity: Severity::normalise(v.severity.as_deref().unwrap_or("")),
                scanner: Scanner::Trivy,
                kind: FindingKind::Vulnerability,
                image: artifact.clone(),
                target: target.clone(),
                title: s(v.title),
            });
        }
        for m in r.misconfigurations.unwrap_or_default() {
            if m.status
                .as_deref()
                .is_some_and(|st| !st.eq_ignore_ascii_case("FAIL"))
            {
                continue;
            }
            let id = m.id.or(m.avdid).map(Cow::into_owned).unwrap_or_default();
            let (resource, line) = m
                .cause
                .map(|c| (s(c.resource), c.start_line))
                .unwrap_or_default();
            findings.push(Finding {
                id,
                aliases: Vec::new(),
                package: if resource.is_empty() {
                    r.kind.as_deref().unwrap_or("config").to_string()
                } else {
                    resource
                },
                installed: String::new(),
                fixed: nonempty(m.resolution),
                severity: Severity::normalise(m.severity.as_deref().unwrap_or("")),
                scanner: Scanner::Trivy,
                kind: FindingKind::Misconfiguration,
                image: artifact.clone(),
                target: match line {
                    Some(l) if l > 0 => format!("{target}:{l}"),
                    _ => target.clone(),
                },
                title: s(m.title),
            });
        }
        for sec in r.secrets.unwrap_or_default() {
            findings.push(Finding {
                id: s(sec.rule_id),
                aliases: Vec::new(),
                package: s(sec.category),
                installed: String::new(),
                fixed: None,
                severity: Severity::normalise(sec.severity.as_deref().unwrap_or("")),
                scanner: Scanner::Trivy,
                kind: FindingKind::Secret,
                image: artifact.clone(),
                target: match sec.start_line {
                    Some(l) => format!("{target}:{l}"),
                    None => target.clone(),
                },
                title: s(sec.title),
            });
        }
    }
    Report {
        format: ReportFormat::Trivy,
        artifact,
        digest,
        findings,
    }
}

// ------------------------------------------------------------------ Grype

#[derive(Deserialize)]
struct GrypeMatch<'a> {
    #[serde(borrow)]
    vulnerability: GrypeVuln<'a>,
    #[serde(rename = "relatedVulnerabilities", default, borrow)]
    related: Option<Vec<GrypeRelated<'a>>>,
    #[serde(borrow)]
    artifact: GrypeArtifact<'a>,
}

#[derive(Deserialize)]
struct GrypeVuln<'a> {
    #[serde(borrow)]
    id: S<'a>,
    #[serde(borrow)]
    severity: Option<S<'a>>,
    fix: Option<GrypeFix>,
    /// Grype before 0.10 reported the fix as one string.
    #[serde(rename = "fixedInVersion", borrow)]
    fixed_in_version: Option<S<'a>>,
}

#[derive(Deserialize)]
struct GrypeFix {
    #[serde(default)]
    versions: Vec<String>,
    /// `fixed`, `not-fixed`, `wont-fix` or `unknown`.
    state: Option<String>,
}

#[derive(Deserialize)]
struct GrypeRelated<'a> {
    #[serde(borrow)]
    id: S<'a>,
}

#[derive(Deserialize)]
struct GrypeArtifact<'a> {
    #[serde(borrow)]
    name: S<'a>,
    #[serde(borrow)]
    version: Option<S<'a>>,
    #[serde(default)]
    locations: Option<Vec<GrypeLocation>>,
}

#[derive(Deserialize)]
struct GrypeLocation {
    path: Option<String>,
}

fn grype(matches: Vec<GrypeMatch<'_>>, source: Option<serde_json::Value>) -> Report {
    let target = source.as_ref().and_then(|s| s.get("target"));
    let artifact = match target {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(t) => t
            .get("userInput")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    };
    let digest = target
        .and_then(|t| t.get("manifestDigest").or_else(|| t.get("imageID")))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let findings = matches
        .into_iter()
        .map(|m| {
            let id = m.vulnerability.id.into_owned();
            let mut aliases: Vec<String> = Vec::new();
            for r in m.related.unwrap_or_default() {
                if r.id != id && !aliases.iter().any(|a| *a == r.id) {
                    aliases.push(r.id.into_owned());
                }
            }
            let fixed = m
                .vulnerability
                .fix
                .filter(|f| f.state.as_deref().is_none_or(|st| st == "fixed"))
                .and_then(|f| f.versions.into_iter().find(|v| !v.trim().is_empty()))
                .or_else(|| nonempty(m.vulnerability.fixed_in_version));
            let location = m
                .artifact
                .locations
                .and_then(|l| l.into_iter().find_map(|l| l.path))
                .unwrap_or_default();
            Finding {
                id,
                aliases,
                package: m.artifact.name.into_owned(),
                installed: s(m.artifact.version),
                fixed,
                severity: Severity::normalise(m.vulnerability.severity.as_deref().unwrap_or("")),
                scanner: Scanner::Grype,
                kind: FindingKind::Vulnerability,
                image: artifact.clone(),
                target: if location.is_empty() {
                    artifact.clone()
                } else {
                    location
                },
                title: String::new(),
            }
        })
        .collect();
    Report {
        format: ReportFormat::Grype,
        artifact,
        digest,
        findings,
    }
}

// ------------------------------------------------------------------ Clair

/// `vulnerabilities`: a list in clair-scanner reports, a map by id in Clair v4.
enum LowerVulns<'a> {
    List(Vec<ClairScannerVuln<'a>>),
    Map(HashMap<String, V4Vuln<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for LowerVulns<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LowerVulns<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list (clair-scanner) or a map by id (Clair v4) of vulnerabilities")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(LowerVulns::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(LowerVulns::Map)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct ClairScannerVuln<'a> {
    #[serde(borrow)]
    featurename: Option<S<'a>>,
    #[serde(borrow)]
    featureversion: Option<S<'a>>,
    #[serde(borrow)]
    vulnerability: S<'a>,
    #[serde(borrow)]
    severity: Option<S<'a>>,
    #[serde(borrow)]
    fixedby: Option<S<'a>>,
    #[serde(borrow)]
    namespace: Option<S<'a>>,
}

fn clair_scanner(image: String, list: Vec<ClairScannerVuln<'_>>) -> Report {
    let findings = list
        .into_iter()
        .map(|v| Finding {
            id: v.vulnerability.into_owned(),
            aliases: Vec::new(),
            package: s(v.featurename),
            installed: s(v.featureversion),
            fixed: nonempty(v.fixedby),
            severity: Severity::normalise(v.severity.as_deref().unwrap_or("")),
            scanner: Scanner::Clair,
            kind: FindingKind::Vulnerability,
            image: image.clone(),
            target: v
                .namespace
                .map(|n| format!("{image} ({n})"))
                .unwrap_or_else(|| image.clone()),
            title: String::new(),
        })
        .collect();
    Report {
        format: ReportFormat::ClairScanner,
        artifact: image,
        digest: None,
        findings,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KlarVuln<'a> {
    #[serde(borrow)]
    name: S<'a>,
    #[serde(borrow)]
    namespace_name: Option<S<'a>>,
    #[serde(borrow)]
    severity: Option<S<'a>>,
    #[serde(borrow)]
    fixed_by: Option<S<'a>>,
    #[serde(borrow)]
    feature_name: Option<S<'a>>,
    #[serde(borrow)]
    feature_version: Option<S<'a>>,
}

fn klar_report(groups: HashMap<S<'_>, Vec<KlarVuln<'_>>>) -> Report {
    // klar names no image; its groups are keyed by severity.
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by_key(|(k, _)| Severity::normalise(k));
    groups.reverse();
    let mut findings = Vec::new();
    for (group, list) in groups {
        for v in list {
            let word = v.severity.as_deref().unwrap_or(&group);
            findings.push(Finding {
                id: v.name.into_owned(),
                aliases: Vec::new(),
                package: s(v.feature_name),
                installed: s(v.feature_version),
                fixed: nonempty(v.fixed_by),
                severity: Severity::normalise(word),
                scanner: Scanner::Clair,
                kind: FindingKind::Vulnerability,
                image: String::new(),
                target: s(v.namespace_name),
                title: String::new(),
            });
        }
    }
    Report {
        format: ReportFormat::Klar,
        artifact: String::new(),
        digest: None,
        findings,
    }
}

#[derive(Deserialize)]
struct V4Package<'a> {
    #[serde(borrow)]
    name: Option<S<'a>>,
    #[serde(borrow)]
    version: Option<S<'a>>,
}

#[derive(Deserialize)]
struct V4Vuln<'a> {
    #[serde(borrow)]
    name: Option<S<'a>>,
    #[serde(borrow)]
    links: Option<S<'a>>,
    #[serde(borrow)]
    severity: Option<S<'a>>,
    #[serde(borrow)]
    normalized_severity: Option<S<'a>>,
    #[serde(borrow)]
    fixed_in_version: Option<S<'a>>,
    #[serde(borrow)]
    package: Option<V4Package<'a>>,
    #[serde(borrow)]
    description: Option<S<'a>>,
}

/// Advisory ids in free text (`CVE-2021-3711`, `GHSA-xxxx-xxxx-xxxx`, `RHSA-2021:1234`, `DSA-4963-1`).
fn advisory_ids(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tok in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':')) {
        let tok = tok.trim_matches(|c| c == ':' || c == '-');
        let upper = tok.to_ascii_uppercase();
        let known = [
            "CVE-", "GHSA-", "RHSA-", "DSA-", "DLA-", "USN-", "ALAS-", "ELSA-",
        ];
        if known.iter().any(|p| upper.starts_with(p))
            && tok.len() > 8
            && tok.chars().any(|c| c.is_ascii_digit())
        {
            let id = if upper.starts_with("GHSA-") {
                tok.to_ascii_lowercase().replacen("ghsa", "GHSA", 1)
            } else {
                upper
            };
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    out
}

fn clair_v4(top: Top<'_>) -> Result<Report, String> {
    let Some(pv) = top.package_vulnerabilities else {
        return Err(format!(
            "{NOT_A_REPORT} (Clair v4 report without `package_vulnerabilities`)"
        ));
    };
    let packages = top.packages.unwrap_or_default();
    let vulns = match top.vulnerabilities {
        Some(LowerVulns::Map(m)) => m,
        Some(LowerVulns::List(_)) => {
            return Err(
                "Clair v4 report whose `vulnerabilities` is a list, not a map by id".into(),
            );
        }
        None => HashMap::new(),
    };
    let digest = top.manifest_hash.map(Cow::into_owned);
    let artifact = digest.clone().unwrap_or_default();
    let mut pkg_ids: Vec<_> = pv.into_iter().collect();
    pkg_ids.sort_by(|a, b| a.0.cmp(&b.0));
    let mut findings = Vec::new();
    for (pkg_id, vuln_ids) in pkg_ids {
        let pkg = packages.get(&pkg_id);
        for vid in vuln_ids {
            let Some(v) = vulns.get(vid.as_ref()) else {
                return Err(format!(
                    "package_vulnerabilities[{pkg_id}] names vulnerability {vid}, which `vulnerabilities` does not hold"
                ));
            };
            let name = v.name.as_deref().unwrap_or(vid.as_ref());
            let mut ids = advisory_ids(name);
            let id = if ids.is_empty() {
                name.to_string()
            } else {
                ids.remove(0)
            };
            let mut aliases = ids;
            for more in advisory_ids(v.links.as_deref().unwrap_or_default())
                .into_iter()
                .chain(advisory_ids(v.description.as_deref().unwrap_or_default()))
            {
                if more != id && !aliases.contains(&more) {
                    aliases.push(more);
                }
            }
            let sev = v
                .normalized_severity
                .as_deref()
                .or(v.severity.as_deref())
                .unwrap_or("");
            let (name_pkg, version) = match pkg {
                Some(p) => (p.name.as_deref(), p.version.as_deref()),
                None => (
                    v.package.as_ref().and_then(|p| p.name.as_deref()),
                    v.package.as_ref().and_then(|p| p.version.as_deref()),
                ),
            };
            findings.push(Finding {
                id,
                aliases,
                package: name_pkg.unwrap_or_default().to_string(),
                installed: version.unwrap_or_default().to_string(),
                fixed: v
                    .fixed_in_version
                    .as_deref()
                    .filter(|f| !f.trim().is_empty())
                    .map(str::to_string),
                severity: Severity::normalise(sev),
                scanner: Scanner::Clair,
                kind: FindingKind::Vulnerability,
                image: artifact.clone(),
                target: artifact.clone(),
                title: String::new(),
            });
        }
    }
    Ok(Report {
        format: ReportFormat::ClairV4,
        artifact,
        digest,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advisory_ids_from_text() {
        assert_eq!(
            advisory_ids("CVE-2021-3711 on Ubuntu 20.04 LTS (focal) - medium."),
            vec!["CVE-2021-3711"]
        );
        assert_eq!(
            advisory_ids("https://x/GHSA-v6rh-hp5x-86rv https://nvd/CVE-2020-1"),
            vec!["GHSA-v6rh-hp5x-86rv", "CVE-2020-1"]
        );
    }

    #[test]
    fn not_a_report_says_so() {
        let e = parse_report(Path::new("x.json"), br#"{"hello": 1}"#).unwrap_err();
        assert_eq!(e.place, "top level");
        assert!(e.message.contains("not a scanner report"), "{e}");
        let e = parse_report(Path::new("x.json"), b"[1,2]").unwrap_err();
        assert!(e.to_string().starts_with("x.json: line 1, column"), "{e}");
        assert!(e.message.contains("not a scanner report"), "{e}");
    }

    #[test]
    fn bad_json_names_line_column_and_path() {
        let src = b"{\n  \"Results\": [\n    {\"Target\": \"a\", \"Vulnerabilities\": [ {\"VulnerabilityID\": 7} ]}\n  ]\n}";
        let e = parse_report(Path::new("r.json"), src).unwrap_err();
        assert!(e.place.starts_with("line 3, column"), "{e}");
        assert!(
            e.place
                .contains("Results[0].Vulnerabilities[0].VulnerabilityID"),
            "{e}"
        );
        let e = parse_report(Path::new("r.json"), b"{\"Results\": [").unwrap_err();
        assert!(e.message.starts_with("not valid JSON"), "{e}");
    }
}
