//! Merging findings across scanners and reports, and aggregating them.
//!
//! Two findings are the same when they are of the same kind, in the same
//! package at the same installed version, and share an id (the id or any
//! alias: a GHSA id and its CVE match). The merged finding lists every
//! scanner and target that reported it, keeps the highest severity and the
//! first fixed version any scanner knows.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::model::{Finding, FindingKind, Scanner, Severity};

/// One vulnerability (or misconfiguration, or secret) after merging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MergedFinding {
    /// A CVE id when any scanner gave one, else the first id seen.
    pub id: String,
    pub aliases: Vec<String>,
    pub package: String,
    pub installed: String,
    pub fixed: Option<String>,
    pub severity: Severity,
    pub scanners: Vec<Scanner>,
    pub targets: Vec<String>,
    /// The images or artifacts it was found in.
    pub images: Vec<String>,
    pub kind: FindingKind,
    pub title: String,
}

impl MergedFinding {
    pub fn fixable(&self) -> bool {
        self.fixed.as_deref().is_some_and(|f| !f.trim().is_empty())
    }

    pub fn has_id(&self, id: &str) -> bool {
        self.id.eq_ignore_ascii_case(id) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    }

    fn from(f: Finding) -> Self {
        Self {
            id: f.id,
            aliases: f.aliases,
            package: f.package,
            installed: f.installed,
            fixed: f.fixed,
            severity: f.severity,
            scanners: vec![f.scanner],
            targets: vec![f.target],
            images: vec![f.image],
            kind: f.kind,
            title: f.title,
        }
    }

    fn absorb_finding(&mut self, f: Finding) {
        add_id(&mut self.aliases, &self.id, f.id);
        for a in f.aliases {
            add_id(&mut self.aliases, &self.id, a);
        }
        push_unique(&mut self.scanners, f.scanner);
        push_unique(&mut self.targets, f.target);
        push_unique(&mut self.images, f.image);
        self.severity = self.severity.max(f.severity);
        if self.fixed.is_none() {
            self.fixed = f.fixed;
        }
        if self.title.is_empty() {
            self.title = f.title;
        }
    }

    fn absorb(&mut self, o: MergedFinding) {
        add_id(&mut self.aliases, &self.id, o.id);
        for a in o.aliases {
            add_id(&mut self.aliases, &self.id, a);
        }
        for s in o.scanners {
            push_unique(&mut self.scanners, s);
        }
        for t in o.targets {
            push_unique(&mut self.targets, t);
        }
        for i in o.images {
            push_unique(&mut self.images, i);
        }
        self.severity = self.severity.max(o.severity);
        if self.fixed.is_none() {
            self.fixed = o.fixed;
        }
        if self.title.is_empty() {
            self.title = o.title;
        }
    }

    fn overlaps(&self, f: &Finding) -> bool {
        f.ids().any(|i| self.has_id(i))
    }

    fn overlaps_merged(&self, o: &MergedFinding) -> bool {
        self.has_id(&o.id) || o.aliases.iter().any(|a| self.has_id(a))
    }

    /// Puts a CVE id first, the other ids sorted after it.
    fn settle(&mut self) {
        if !self.id.starts_with("CVE-")
            && let Some(i) = self.aliases.iter().position(|a| a.starts_with("CVE-"))
        {
            let cve = self.aliases.remove(i);
            let old = std::mem::replace(&mut self.id, cve);
            self.aliases.push(old);
        }
        self.aliases.sort();
        self.aliases.dedup();
        self.scanners.sort();
        self.images.retain(|i| !i.is_empty());
    }
}

fn add_id(aliases: &mut Vec<String>, id: &str, new: String) {
    if !new.is_empty()
        && !new.eq_ignore_ascii_case(id)
        && !aliases.iter().any(|a| a.eq_ignore_ascii_case(&new))
    {
        aliases.push(new);
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Merges the findings of any number of reports. The result is sorted:
/// most severe first, fixable before not fixable, then by id and package.
pub fn merge(findings: impl IntoIterator<Item = Finding>) -> Vec<MergedFinding> {
    let mut out: Vec<Option<MergedFinding>> = Vec::new();
    let mut groups: HashMap<(FindingKind, String, String), Vec<usize>> = HashMap::new();
    for f in findings {
        let key = (f.kind, f.package.clone(), f.installed.clone());
        let group = groups.entry(key).or_default();
        let hits: Vec<usize> = group
            .iter()
            .copied()
            .filter(|&i| out[i].as_ref().is_some_and(|m| m.overlaps(&f)))
            .collect();
        match hits.split_first() {
            None => {
                group.push(out.len());
                out.push(Some(MergedFinding::from(f)));
            }
            Some((&first, rest)) => {
                let mut m = out[first].take().expect("live entry");
                m.absorb_finding(f);
                // The new ids may join entries that were apart until now.
                for &i in rest {
                    if let Some(o) = out[i].take() {
                        m.absorb(o);
                    }
                }
                group.retain(|i| !rest.contains(i));
                loop {
                    let more: Vec<usize> = group
                        .iter()
                        .copied()
                        .filter(|&i| {
                            i != first && out[i].as_ref().is_some_and(|o| m.overlaps_merged(o))
                        })
                        .collect();
                    if more.is_empty() {
                        break;
                    }
                    for &i in &more {
                        if let Some(o) = out[i].take() {
                            m.absorb(o);
                        }
                    }
                    group.retain(|i| !more.contains(i));
                }
                out[first] = Some(m);
            }
        }
    }
    let mut merged: Vec<MergedFinding> = out.into_iter().flatten().collect();
    for m in &mut merged {
        m.settle();
    }
    sort(&mut merged);
    merged
}

/// Most severe first, fixable before not fixable, then id and package.
pub fn sort(v: &mut [MergedFinding]) {
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.fixable().cmp(&a.fixable()))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.installed.cmp(&b.installed))
    });
}

/// Counts per severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub [usize; 5]);

impl Counts {
    pub fn get(&self, s: Severity) -> usize {
        self.0[s.index()]
    }
    pub fn add(&mut self, s: Severity) {
        self.0[s.index()] += 1;
    }
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(5))?;
        for sev in Severity::ALL {
            m.serialize_entry(sev.label(), &self.get(sev))?;
        }
        m.end()
    }
}

/// Counts overall and per target, fixable or not, with the findings behind
/// each count (indices into the merged list).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Aggregate {
    pub counts: Counts,
    pub fixable: usize,
    pub not_fixable: usize,
    pub per_target: BTreeMap<String, Counts>,
    #[serde(skip)]
    pub by_severity: [Vec<usize>; 5],
    #[serde(skip)]
    pub fixable_list: Vec<usize>,
}

impl Aggregate {
    /// The findings behind the count of `s`.
    pub fn list<'a>(&self, s: Severity, findings: &'a [MergedFinding]) -> Vec<&'a MergedFinding> {
        self.by_severity[s.index()]
            .iter()
            .map(|&i| &findings[i])
            .collect()
    }
}

pub fn aggregate(findings: &[MergedFinding]) -> Aggregate {
    let mut a = Aggregate::default();
    for (i, f) in findings.iter().enumerate() {
        a.counts.add(f.severity);
        a.by_severity[f.severity.index()].push(i);
        if f.fixable() {
            a.fixable += 1;
            a.fixable_list.push(i);
        } else {
            a.not_fixable += 1;
        }
        for t in &f.targets {
            a.per_target.entry(t.clone()).or_default().add(f.severity);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, aliases: &[&str], pkg: &str, ver: &str, sev: Severity, sc: Scanner) -> Finding {
        Finding {
            id: id.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            package: pkg.into(),
            installed: ver.into(),
            fixed: None,
            severity: sev,
            scanner: sc,
            kind: FindingKind::Vulnerability,
            image: "img".into(),
            target: format!("{sc}-target"),
            title: String::new(),
        }
    }

    #[test]
    fn ghsa_and_cve_merge_in_the_same_package_and_version_only() {
        let merged = merge(vec![
            f(
                "GHSA-aaaa-bbbb-cccc",
                &[],
                "lodash",
                "4.17.4",
                Severity::High,
                Scanner::Trivy,
            ),
            f(
                "CVE-2020-8203",
                &["GHSA-aaaa-bbbb-cccc"],
                "lodash",
                "4.17.4",
                Severity::Medium,
                Scanner::Grype,
            ),
            f(
                "CVE-2020-8203",
                &[],
                "lodash",
                "4.17.5",
                Severity::Medium,
                Scanner::Grype,
            ),
            f(
                "CVE-2020-8203",
                &[],
                "underscore",
                "4.17.4",
                Severity::Medium,
                Scanner::Grype,
            ),
        ]);
        assert_eq!(merged.len(), 3);
        let m = &merged[0];
        assert_eq!(m.id, "CVE-2020-8203");
        assert_eq!(m.aliases, vec!["GHSA-aaaa-bbbb-cccc"]);
        assert_eq!(m.scanners, vec![Scanner::Trivy, Scanner::Grype]);
        assert_eq!(m.severity, Severity::High);
        assert_eq!(m.targets.len(), 2);
    }

    #[test]
    fn a_late_alias_joins_two_entries() {
        let merged = merge(vec![
            f("GHSA-x", &[], "p", "1", Severity::Low, Scanner::Trivy),
            f("CVE-1", &[], "p", "1", Severity::Low, Scanner::Clair),
            f(
                "CVE-1",
                &["GHSA-x"],
                "p",
                "1",
                Severity::Low,
                Scanner::Grype,
            ),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].scanners.len(), 3);
    }

    #[test]
    fn aggregate_counts_and_lists() {
        let mut a = f("CVE-1", &[], "p", "1", Severity::Critical, Scanner::Trivy);
        a.fixed = Some("2".into());
        let merged = merge(vec![
            a,
            f("CVE-2", &[], "p", "1", Severity::Low, Scanner::Trivy),
            f("CVE-3", &[], "q", "1", Severity::Low, Scanner::Grype),
        ]);
        let agg = aggregate(&merged);
        assert_eq!(agg.counts.get(Severity::Critical), 1);
        assert_eq!(agg.counts.get(Severity::Low), 2);
        assert_eq!((agg.fixable, agg.not_fixable), (1, 2));
        assert_eq!(agg.per_target["trivy-target"].total(), 2);
        let lows: Vec<_> = agg
            .list(Severity::Low, &merged)
            .iter()
            .map(|m| m.id.clone())
            .collect();
        assert_eq!(lows, vec!["CVE-2", "CVE-3"]);
    }
}
