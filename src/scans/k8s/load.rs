//! Reading manifests: files and folders, multi-document YAML split at `---`
//! lines so that one malformed document never hides the others.
//!
//! A folder walk reads regular files only and follows no symbolic link
//! below the paths it was given (a link named on the command line is
//! followed); what it leaves out is reported in [`Loaded::skipped`]. A file
//! that cannot be read is an error of the report, like a malformed
//! document: the rest is still read.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// One Kubernetes object read from a document.
#[derive(Clone, Debug)]
pub struct Object {
    pub file: PathBuf,
    /// `file` as shown (relative to the current folder when under it),
    /// worked out once per file rather than once per finding.
    pub shown: String,
    /// 1-based document number in the file.
    pub document: usize,
    pub kind: String,
    pub name: String,
    /// `metadata.namespace`, else `default` (for a Namespace: its own name).
    pub namespace: String,
    pub value: Value,
    /// Values written as YAML 1.1-only booleans (`yes`, `on`, ...), already
    /// turned into booleans in `value`, as Kubernetes reads them.
    pub yaml11_booleans: Vec<super::yaml11::Ambiguous>,
}

/// A document (or a whole file) that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DocError {
    pub file: String,
    /// 1-based document number; 0 when the file itself could not be read.
    pub document: usize,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.document == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}: document {}", self.file, self.document)?;
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Something a folder walk did not read, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Object>,
    pub errors: Vec<DocError>,
    pub skipped: Vec<Skipped>,
    pub files: usize,
    pub documents: usize,
}

impl Object {
    pub fn file_label(&self) -> String {
        self.shown.clone()
    }

    pub fn namespace_or_name(&self) -> String {
        if self.kind == "Namespace" {
            self.name.clone()
        } else {
            self.namespace.clone()
        }
    }

    /// The pod spec of a workload, if this is one.
    pub fn pod_spec(&self) -> Option<&Value> {
        let spec = match self.kind.as_str() {
            "Pod" => self.value.get("spec"),
            "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "ReplicaSet"
            | "ReplicationController"
            | "Job" => self.value.pointer("/spec/template/spec"),
            "CronJob" => self.value.pointer("/spec/jobTemplate/spec/template/spec"),
            _ => None,
        }?;
        spec.is_object().then_some(spec)
    }

    /// The labels its pods carry.
    pub fn pod_labels(&self) -> Option<&serde_json::Map<String, Value>> {
        let meta = match self.kind.as_str() {
            "Pod" => self.value.get("metadata"),
            "CronJob" => self
                .value
                .pointer("/spec/jobTemplate/spec/template/metadata"),
            _ => self.value.pointer("/spec/template/metadata"),
        }?;
        meta.get("labels")?.as_object()
    }
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn file_error(path: &Path, message: String) -> DocError {
    DocError {
        file: super::display_path(path),
        document: 0,
        line: None,
        message,
    }
}

/// Walks one given path: folders recursively (`*.yaml`, `*.yml`, `*.json`),
/// each folder once (by device and inode), no symbolic link below `top`.
fn collect(
    path: &Path,
    top: bool,
    seen: &mut HashSet<(u64, u64)>,
    out: &mut Vec<PathBuf>,
    loaded: &mut Loaded,
) {
    // The path as given is followed; below it, nothing is.
    let meta = if top {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    let meta = match meta {
        Ok(m) => m,
        Err(e) => {
            loaded
                .errors
                .push(file_error(path, format!("cannot read it: {e}")));
            return;
        }
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        if !seen.insert((meta.dev(), meta.ino())) {
            return;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(d) => d,
            Err(e) => {
                loaded
                    .errors
                    .push(file_error(path, format!("cannot list the folder: {e}")));
                return;
            }
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            collect(&e, false, seen, out, loaded);
        }
    } else if top || kind.is_file() && is_manifest(path) {
        // A file named on the command line is read whatever its name; a
        // FIFO or device named so is refused when it is opened.
        out.push(path.to_path_buf());
    } else if kind.is_symlink() || is_manifest(path) && !kind.is_file() {
        let reason = if kind.is_symlink() {
            "a symbolic link, not followed".to_string()
        } else {
            format!("{}, not read", crate::fsutil::file_kind(kind))
        };
        loaded.skipped.push(Skipped {
            path: super::display_path(path),
            reason,
        });
    }
}

/// Reads every manifest in the given files and folders (folders recursively:
/// `*.yaml`, `*.yml`, `*.json`). What cannot be read is in `errors`, what
/// was left out in `skipped`; everything else is read.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for p in paths {
        collect(p, true, &mut seen, &mut files, &mut loaded);
    }
    for f in files {
        let text = crate::fsutil::read_capped(&f, crate::fsutil::MANIFEST_CAP, "a manifest file")
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|b| {
                String::from_utf8(b).map_err(|e| {
                    format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    )
                })
            });
        match text {
            Ok(src) => load_str(&f, &src, &mut loaded),
            Err(message) => {
                loaded.files += 1;
                loaded.errors.push(file_error(&f, message));
            }
        }
    }
    loaded
}

/// Splits a YAML stream into documents: (first line number, text).
pub fn split_documents(src: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in src.lines().enumerate() {
        let is_sep = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = line == "...";
        if is_sep || is_end {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            if is_sep {
                // `--- {inline: doc}` keeps its content.
                let rest = line[3..].trim();
                if !rest.is_empty() && !rest.starts_with('#') {
                    start = i + 1;
                    cur.push_str(rest);
                    cur.push('\n');
                }
            }
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs
}

fn blank(doc: &str) -> bool {
    doc.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

pub fn load_str(file: &Path, src: &str, loaded: &mut Loaded) {
    loaded.files += 1;
    let shown = super::display_path(file);
    let mut n = 0;
    for (first_line, doc) in split_documents(src) {
        if blank(&doc) {
            continue;
        }
        n += 1;
        loaded.documents += 1;
        let err = |line: Option<usize>, message: String| DocError {
            file: shown.clone(),
            document: n,
            line,
            message,
        };
        if let Some((line, reason)) = super::guard::refused(&doc) {
            loaded.errors.push(err(Some(first_line + line), reason));
            continue;
        }
        let mut value: Value = match serde_yaml_ng::from_str(&doc) {
            Ok(v) => v,
            Err(e) => {
                let line = e.location().map(|l| first_line + l.line() - 1);
                let mut msg = e.to_string();
                if let Some(i) = msg.find(" at line ") {
                    msg.truncate(i);
                }
                loaded.errors.push(err(line, msg));
                continue;
            }
        };
        let mut booleans = super::yaml11::resolve(&doc, &mut value);
        for b in &mut booleans {
            b.line += first_line;
        }
        push_object(file, &shown, n, first_line, value, booleans, loaded, &err);
    }
}

#[allow(clippy::too_many_arguments)]
fn push_object(
    file: &Path,
    shown: &str,
    n: usize,
    first_line: usize,
    value: Value,
    booleans: Vec<super::yaml11::Ambiguous>,
    loaded: &mut Loaded,
    err: &dyn Fn(Option<usize>, String) -> DocError,
) {
    let Some(obj) = value.as_object() else {
        loaded.errors.push(err(
            Some(first_line),
            "not a Kubernetes object (expected a mapping with apiVersion and kind)".into(),
        ));
        return;
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() {
        loaded.errors.push(err(
            Some(first_line),
            "no `kind`: not a Kubernetes object".into(),
        ));
        return;
    }
    if kind == "List" || kind.ends_with("List") && obj.contains_key("items") {
        use super::yaml11::Seg;
        for (i, item) in obj
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let own = booleans
                .iter()
                .filter(|b| {
                    b.path.first() == Some(&Seg::Key("items".into()))
                        && b.path.get(1) == Some(&Seg::Index(i))
                })
                .map(|b| super::yaml11::Ambiguous {
                    path: b.path[2..].to_vec(),
                    ..b.clone()
                })
                .collect();
            push_object(file, shown, n, first_line, item.clone(), own, loaded, err);
        }
        return;
    }
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    loaded.objects.push(Object {
        file: file.to_path_buf(),
        shown: shown.to_string(),
        document: n,
        kind: kind.to_string(),
        name,
        namespace,
        value,
        yaml11_booleans: booleans,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_separator_lines_only() {
        let src = "---\na: 1\n---\nb: |\n  -----BEGIN X-----\n---\n\n";
        let docs: Vec<_> = split_documents(src)
            .into_iter()
            .filter(|(_, d)| !blank(d))
            .collect();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].0, 4);
        assert!(docs[1].1.contains("-----BEGIN X-----"));
    }

    #[test]
    fn a_malformed_document_is_reported_and_the_others_kept() {
        let src = "kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: [unclosed\n---\nkind: Service\nmetadata: {name: s}\n";
        let mut l = Loaded::default();
        load_str(Path::new("m.yaml"), src, &mut l);
        assert_eq!(l.objects.len(), 2);
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].document, 2);
        assert!(
            l.errors[0]
                .to_string()
                .starts_with("m.yaml: document 2 (line "),
            "{}",
            l.errors[0]
        );
    }
}
