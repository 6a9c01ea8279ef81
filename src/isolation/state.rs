//! The live state isolation reads: from a folder of YAML manifests (the
//! embedded default) or from a cluster. Both fill the same struct, in
//! Kubernetes' own types, so plan, drift and reachability never care where
//! it came from.

use std::collections::HashMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Serialize;

use crate::scans::k8s::load::{self, DocError, Skipped};

/// The objects isolation looks at.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
    pub policies: Vec<NetworkPolicy>,
    pub quotas: Vec<ResourceQuota>,
    pub limit_ranges: Vec<LimitRange>,
}

/// A folder read as a cluster: the state, and everything that could not be
/// read into it (so that nobody mistakes a partial state for the whole).
#[derive(Clone, Debug, Default)]
pub struct FolderState {
    pub state: ClusterState,
    /// Files, documents and objects that could not be read.
    pub errors: Vec<DocError>,
    /// What the folder walk left out (symbolic links, FIFOs).
    pub skipped: Vec<Skipped>,
    pub files: usize,
}

impl FolderState {
    /// Every file and document was read.
    pub fn complete(&self) -> bool {
        self.errors.is_empty() && self.skipped.is_empty()
    }

    /// What was not read, one line each.
    pub fn problems(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(ToString::to_string)
            .chain(self.skipped.iter().map(ToString::to_string))
            .collect()
    }
}

/// What a folder's problems look like in JSON.
#[derive(Serialize)]
pub struct ProblemsJson<'a> {
    pub errors: &'a [DocError],
    pub skipped: &'a [Skipped],
}

/// Reads every YAML (and JSON) manifest in `dir` and below it, multi-document
/// files included: Namespaces, Pods, NetworkPolicies, ResourceQuotas and
/// LimitRanges; other kinds are ignored. A namespaced object without a
/// namespace is in `default`, as `kubectl apply -f` would put it. What
/// cannot be read (a malformed document, a field of the wrong type, an
/// object defined twice) is in `errors`, with its file and document.
pub fn from_dir(dir: &Path) -> FolderState {
    let loaded = load::load_paths(&[dir.to_path_buf()]);
    let mut out = FolderState {
        errors: loaded.errors,
        skipped: loaded.skipped,
        files: loaded.files,
        ..FolderState::default()
    };
    // (kind, namespace, name) -> where it was first defined.
    let mut seen: HashMap<(String, String, String), String> = HashMap::new();
    for o in loaded.objects {
        let kind = o.kind.as_str();
        if !matches!(
            kind,
            "Namespace" | "Pod" | "NetworkPolicy" | "ResourceQuota" | "LimitRange"
        ) {
            continue;
        }
        let err = |message: String| DocError {
            file: o.shown.clone(),
            document: o.document,
            line: None,
            message,
        };
        let here = format!("{}, document {}", o.shown, o.document);
        let key = (kind.to_string(), o.namespace_or_name(), o.name.clone());
        if o.name.is_empty() {
            out.errors
                .push(err(format!("{kind} without metadata.name")));
            continue;
        }
        if let Some(first) = seen.get(&key) {
            out.errors.push(err(format!(
                "{kind} {}/{} is defined twice (first in {first}); a cluster holds one",
                key.1, key.2
            )));
            continue;
        }
        let mut value = o.value;
        if kind != "Namespace"
            && let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut())
        {
            meta.entry("namespace")
                .or_insert_with(|| serde_json::Value::String(o.namespace.clone()));
        }
        quantities_as_strings(&mut value);
        let read = match kind {
            "Namespace" => typed(value).map(|v| out.state.namespaces.push(v)),
            "Pod" => typed(value).map(|v| out.state.pods.push(v)),
            "NetworkPolicy" => typed(value).map(|v| out.state.policies.push(v)),
            "ResourceQuota" => typed(value).map(|v| out.state.quotas.push(v)),
            _ => typed(value).map(|v| out.state.limit_ranges.push(v)),
        };
        match read {
            Ok(()) => {
                seen.insert(key, here);
            }
            Err(e) => out.errors.push(err(format!("not a valid {kind}: {e}"))),
        }
    }
    out
}

/// Maps whose values are resource quantities.
const QUANTITY_MAPS: [&str; 12] = [
    "limits",
    "requests",
    "hard",
    "used",
    "default",
    "defaultRequest",
    "max",
    "min",
    "maxLimitRequestRatio",
    "overhead",
    "capacity",
    "allocatable",
];

/// Quantities written as YAML numbers (`cpu: 1`) as the strings Kubernetes'
/// types hold: the API server takes both.
fn quantities_as_strings(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match child {
                    Value::Object(q) if QUANTITY_MAPS.contains(&k.as_str()) => {
                        for amount in q.values_mut() {
                            if let Value::Number(n) = amount {
                                *amount = Value::String(n.to_string());
                            }
                        }
                    }
                    Value::Number(n) if k == "sizeLimit" => *child = Value::String(n.to_string()),
                    _ => quantities_as_strings(child),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(quantities_as_strings),
        _ => {}
    }
}

/// A JSON value as a Kubernetes type; the error names the field.
fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}
