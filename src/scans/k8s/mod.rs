//! Kubernetes manifest checks.
//!
//! Reads multi-document YAML (or JSON) files and folders, checks every
//! workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
//! CronJob) and namespace against the checks in [`checks::CHECKS`], and
//! scores each object and the whole set.
//!
//! A malformed document is reported with its file and document number (and
//! line); the other documents of the file are still checked.
//!
//! ## Score
//!
//! Each check an object fails costs points by the check's severity:
//! critical 30, high 15, medium 6, low 2, unknown 1. A check counts once
//! per object however many of its containers fail it, so a pod with three
//! sidecars is not punished three times for one habit. An object's score is
//! `max(0, 100 - cost)`. The overall score is the mean of the scores of the
//! checked objects (workloads and namespaces), rounded down. With no object
//! there is no score: nothing was checked, so nothing passed.
//!
//! A report with an unreadable document or file is incomplete
//! ([`ManifestReport::complete`]): its score is over what could be read,
//! and the front doors must say so (the CLI exits 2).

pub mod checks;
pub mod guard;
pub mod load;
pub mod secret_values;
pub mod yaml11;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::model::Severity;
pub use load::{DocError, Object, Skipped, load_paths};

/// One problem found in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct K8sFinding {
    pub check: &'static str,
    pub severity: Severity,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub container: Option<String>,
    pub message: String,
    pub remediation: &'static str,
    pub file: String,
    /// 1-based document number in the file.
    pub document: usize,
}

/// An object with its score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectScore {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub score: u8,
    pub findings: usize,
}

/// Everything found in a set of manifests.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ManifestReport {
    /// The mean of the objects' scores; `None` when there is no object.
    pub score: Option<u8>,
    pub objects: Vec<ObjectScore>,
    pub findings: Vec<K8sFinding>,
    pub errors: Vec<DocError>,
    /// What a folder walk left out (symbolic links, FIFOs, ...).
    pub skipped: Vec<Skipped>,
    /// Files read.
    pub files: usize,
    /// Documents read (including empty and malformed ones).
    pub documents: usize,
}

impl ManifestReport {
    /// Every document read and at least one object scored.
    pub fn complete(&self) -> bool {
        self.errors.is_empty() && self.score.is_some()
    }

    /// Why the report is not complete, in a sentence; `None` when it is.
    pub fn problem(&self) -> Option<String> {
        let unreadable = match self.errors.len() {
            0 => None,
            1 => Some(format!("unreadable: {}", self.errors[0])),
            n => Some(format!(
                "{n} unreadable documents or files, the first {}",
                self.errors[0]
            )),
        };
        match (self.score, unreadable) {
            (Some(_), None) => None,
            (Some(_), Some(u)) => Some(format!("{u}; the score is only over what could be read")),
            (None, Some(u)) => Some(format!(
                "no score: no Kubernetes object could be read ({u})"
            )),
            (None, None) => Some(format!(
                "no score: no Kubernetes object found ({} files, {} documents)",
                self.files, self.documents
            )),
        }
    }
}

/// Points a finding of this severity costs.
pub fn weight(s: Severity) -> u32 {
    match s {
        Severity::Critical => 30,
        Severity::High => 15,
        Severity::Medium => 6,
        Severity::Low => 2,
        Severity::Unknown => 1,
    }
}

/// `max(0, 100 - sum of weights)`.
pub fn object_score<'a>(severities: impl IntoIterator<Item = &'a Severity>) -> u8 {
    let cost: u32 = severities.into_iter().map(|s| weight(*s)).sum();
    100u32.saturating_sub(cost) as u8
}

/// Reads and checks files and folders.
pub fn check_paths(paths: &[PathBuf]) -> ManifestReport {
    check_objects(load_paths(paths))
}

/// (kind, namespace, name): how findings name their object.
type ObjectKey<'a> = (&'a str, &'a str, &'a str);

pub fn check_objects(loaded: load::Loaded) -> ManifestReport {
    let findings = checks::run(&loaded.objects);
    // Each object's findings, found by (kind, namespace, name) at once.
    let mut by_object: HashMap<ObjectKey, Vec<(&str, Severity)>> = HashMap::new();
    for f in &findings {
        by_object
            .entry((&f.kind, &f.namespace, &f.name))
            .or_default()
            .push((&f.file, f.severity));
    }
    let mut objects = Vec::new();
    let mut scored = |kind: &str, ns: &str, name: &str, file: &str| {
        let own: Vec<Severity> = by_object
            .get(&(kind, ns, name))
            .into_iter()
            .flatten()
            .filter(|(f, _)| file.is_empty() || *f == file)
            .map(|(_, s)| *s)
            .collect();
        objects.push(ObjectScore {
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
            file: file.into(),
            score: object_score(&own),
            findings: own.len(),
        });
    };
    for o in &loaded.objects {
        if o.pod_spec().is_some() || o.kind == "Namespace" {
            scored(&o.kind, &o.namespace_or_name(), &o.name, &o.file_label());
        }
    }
    // Namespaces that only findings name (no Namespace object in the set).
    let declared: HashSet<&str> = loaded
        .objects
        .iter()
        .filter(|o| o.kind == "Namespace")
        .map(|o| o.name.as_str())
        .collect();
    let mut implied: Vec<&str> = findings
        .iter()
        .filter(|f| f.kind == "Namespace" && !declared.contains(f.name.as_str()))
        .map(|f| f.name.as_str())
        .collect();
    implied.sort();
    implied.dedup();
    for ns in implied {
        scored("Namespace", ns, ns, "");
    }
    drop(by_object);
    let score = (!objects.is_empty()).then(|| {
        (objects.iter().map(|o| o.score as u32).sum::<u32>() / objects.len() as u32) as u8
    });
    ManifestReport {
        score,
        objects,
        findings,
        errors: loaded.errors,
        skipped: loaded.skipped,
        files: loaded.files,
        documents: loaded.documents,
    }
}

/// Shown paths: relative to the current folder when they are under it.
pub fn display_path(p: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) => p.strip_prefix(&cwd).unwrap_or(p).display().to_string(),
        Err(_) => p.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_weighted_by_severity() {
        assert_eq!(object_score(&[]), 100);
        assert_eq!(object_score(&[Severity::Critical, Severity::High]), 55);
        assert_eq!(object_score(&[Severity::Critical; 4]), 0);
        assert_eq!(object_score(&[Severity::Low, Severity::Medium]), 92);
    }
}
