//! The real-cluster backend: the live state, the diff of a plan against it,
//! and server-side apply with field manager `windflow`.
//!
//! A diff is a server-side dry run of every planned object, compared with
//! the live object on the fields windflow manages (before and after), so
//! the server's defaulting and other managers' fields never show as
//! changes. Apply runs the same dry run first, refuses objects another
//! manager owns fields of before anything is written, then applies; it
//! forces only where the object is ours. The cluster also tells what a
//! folder cannot: who else edited an object (its managed fields).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::Serialize;
use serde_json::{Map, Value};

use super::state::ClusterState;

/// The field manager every apply and dry run uses.
pub const FIELD_MANAGER: &str = "windflow";

/// How many objects a diff asks the API server about at once.
const CONCURRENT_REQUESTS: usize = 8;

/// How long one request may wait for the API server's answer.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Which cluster: a kubeconfig file and context, else `KUBECONFIG` (or
/// `~/.kube/config`) and its current context, else the in-cluster config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterTarget {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// Why the cluster could not be read or written. Every variant names the
/// object (or the server) and the cause.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable cluster configuration, or a bad one.
    #[error("no usable Kubernetes configuration: {0}")]
    Config(String),
    /// A planned object that is not one isolation plans.
    #[error("planned object {0}")]
    Invalid(String),
    /// The API server did not answer (or answered that it is unavailable).
    #[error("the Kubernetes API server {server} cannot be reached ({object}): {cause}")]
    Unreachable {
        server: String,
        object: String,
        cause: String,
    },
    /// 401 or 403.
    #[error("{object}: the API server refused ({code} {reason}): {message}")]
    Refused {
        object: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// Fields of the object are owned by other managers with other values.
    #[error("{object}: conflict with {}: {message}", managers.join(", "))]
    Conflict {
        object: String,
        managers: Vec<String>,
        fields: Vec<String>,
        message: String,
    },
    /// Any other answer of the API server.
    #[error("{object}: the API server answered {code} {reason}: {message}")]
    Api {
        object: String,
        code: u16,
        reason: String,
        message: String,
    },
}

impl ClusterError {
    /// The CLI's exit code: 2 bad input, 3 refused, 4 unavailable, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClusterError::Config(_) | ClusterError::Invalid(_) => 2,
            ClusterError::Refused { .. } => 3,
            ClusterError::Unreachable { .. } => 4,
            ClusterError::Conflict { .. } | ClusterError::Api { .. } => 1,
        }
    }
}

// ------------------------------------------------------------------ kinds

/// The kinds isolation plans and reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    Namespace,
    ResourceQuota,
    LimitRange,
    NetworkPolicy,
    Pod,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Namespace,
        Kind::ResourceQuota,
        Kind::LimitRange,
        Kind::NetworkPolicy,
        Kind::Pod,
    ];

    fn resource(self) -> ApiResource {
        match self {
            Kind::Namespace => ApiResource::erase::<Namespace>(&()),
            Kind::ResourceQuota => ApiResource::erase::<ResourceQuota>(&()),
            Kind::LimitRange => ApiResource::erase::<LimitRange>(&()),
            Kind::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
            Kind::Pod => ApiResource::erase::<Pod>(&()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::ResourceQuota => "ResourceQuota",
            Kind::LimitRange => "LimitRange",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::Pod => "Pod",
        }
    }

    fn namespaced(self) -> bool {
        self != Kind::Namespace
    }

    fn of(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| {
            let r = k.resource();
            r.api_version == api_version && r.kind == kind
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object: its kind, namespace (none for a Namespace) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A planned object, from a k8s-openapi object ([`Planned::from_object`])
/// or its JSON ([`Planned::from_value`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    object: ObjectRef,
    body: Value,
}

impl Planned {
    /// A k8s-openapi object (Namespace, NetworkPolicy, ResourceQuota,
    /// LimitRange or Pod).
    pub fn from_object<K: Serialize>(object: &K) -> Result<Self, ClusterError> {
        let value = serde_json::to_value(object)
            .map_err(|e| ClusterError::Invalid(format!("cannot be encoded: {e}")))?;
        Self::from_value(value)
    }

    /// An object as JSON, with apiVersion, kind and metadata.name (and
    /// metadata.namespace unless it is a Namespace).
    pub fn from_value(mut body: Value) -> Result<Self, ClusterError> {
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let (api_version, kind_name) = (
            text(&body, "apiVersion").unwrap_or_default(),
            text(&body, "kind").unwrap_or_default(),
        );
        let kind = Kind::of(&api_version, &kind_name).ok_or_else(|| {
            ClusterError::Invalid(format!(
                "of kind {kind_name:?} ({api_version:?}): isolation plans Namespaces, \
                 NetworkPolicies, ResourceQuotas, LimitRanges and Pods"
            ))
        })?;
        let meta = body.get("metadata").cloned().unwrap_or(Value::Null);
        let name = text(&meta, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ClusterError::Invalid(format!("{kind} without metadata.name")))?;
        let namespace = text(&meta, "namespace").filter(|n| !n.is_empty());
        let namespace = match (kind.namespaced(), namespace) {
            (true, None) => {
                return Err(ClusterError::Invalid(format!(
                    "{kind} {name} without metadata.namespace"
                )));
            }
            (true, ns) => ns,
            (false, _) => None,
        };
        // What the server sets is never applied.
        if let Some(obj) = body.as_object_mut() {
            obj.remove("status");
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                for key in [
                    "managedFields",
                    "resourceVersion",
                    "uid",
                    "creationTimestamp",
                    "generation",
                ] {
                    meta.remove(key);
                }
            }
        }
        Ok(Self {
            object: ObjectRef {
                kind,
                namespace,
                name,
            },
            body,
        })
    }

    pub fn object(&self) -> &ObjectRef {
        &self.object
    }

    pub fn body(&self) -> &Value {
        &self.body
    }
}

// ------------------------------------------------------------------ connecting

/// A client for one API server, with the server's address for messages.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    server: String,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connects to `target` (nothing is sent until the first request).
    pub async fn connect(target: &ClusterTarget) -> Result<Self, ClusterError> {
        // kube's TLS stack needs a process-wide provider; an error means one is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = KubeConfigOptions {
            context: target.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match (&target.kubeconfig, &target.context) {
            (Some(path), _) => {
                let file = Kubeconfig::read_from(path).map_err(|e| {
                    ClusterError::Config(format!("kubeconfig {}: {e}", path.display()))
                })?;
                Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| {
                        ClusterError::Config(format!("kubeconfig {}: {e}", path.display()))
                    })?
            }
            (None, Some(context)) => Config::from_kubeconfig(&options).await.map_err(|e| {
                ClusterError::Config(format!("context {context:?} (KUBECONFIG): {e}"))
            })?,
            (None, None) => Config::infer().await.map_err(|e| {
                ClusterError::Config(format!(
                    "{e} (set KUBECONFIG, pass --kubeconfig or --context, or run in a cluster)"
                ))
            })?,
        };
        // kube waits for an answer forever unless told otherwise.
        let mut config = config;
        config.read_timeout.get_or_insert(READ_TIMEOUT);
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config)
            .map_err(|e| ClusterError::Config(format!("API server {server}: {e}")))?;
        Ok(Self::new(client, server))
    }

    /// A cluster from a client built elsewhere; `server` names it in messages.
    pub fn new(client: Client, server: impl Into<String>) -> Self {
        Self {
            client,
            server: server.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    fn api(&self, kind: Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        let ar = kind.resource();
        match namespace {
            Some(ns) if kind.namespaced() => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        }
    }

    fn error(&self, what: impl fmt::Display, e: kube::Error) -> ClusterError {
        let object = what.to_string();
        match e {
            kube::Error::Api(status) => {
                let kube::core::Status {
                    code,
                    reason,
                    message,
                    details,
                    ..
                } = *status;
                let causes = details.map(|d| d.causes).unwrap_or_default();
                let field_conflicts: Vec<_> = causes
                    .iter()
                    .filter(|c| c.reason == "FieldManagerConflict")
                    .collect();
                match code {
                    401 | 403 => ClusterError::Refused {
                        object,
                        code,
                        reason,
                        message,
                    },
                    502..=504 => ClusterError::Unreachable {
                        server: self.server.clone(),
                        object,
                        cause: format!("{code} {reason}: {message}"),
                    },
                    409 if !field_conflicts.is_empty() => {
                        let managers: BTreeSet<String> = field_conflicts
                            .iter()
                            .map(|c| quoted(&c.message).unwrap_or(&c.message).to_owned())
                            .collect();
                        ClusterError::Conflict {
                            object,
                            managers: managers.into_iter().collect(),
                            fields: field_conflicts.iter().map(|c| c.field.clone()).collect(),
                            message,
                        }
                    }
                    _ => ClusterError::Api {
                        object,
                        code,
                        reason,
                        message,
                    },
                }
            }
            e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
                ClusterError::Unreachable {
                    server: self.server.clone(),
                    object,
                    cause: error_chain(&e),
                }
            }
            e => ClusterError::Api {
                object,
                code: 0,
                reason: "ClientError".into(),
                message: error_chain(&e),
            },
        }
    }
}

/// The first "quoted" word of `s` (the manager in `conflict with "alice"`).
fn quoted(s: &str) -> Option<&str> {
    let start = s.find('"')? + 1;
    let len = s[start..].find('"')?;
    Some(&s[start..start + len])
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

// ------------------------------------------------------------------ live state

/// The live objects of `namespaces` (every namespace when empty).
pub async fn live_state(
    cluster: &Cluster,
    namespaces: &[String],
) -> Result<ClusterState, ClusterError> {
    let mut state = ClusterState::default();
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        let api: Api<Namespace> = Api::all(cluster.client.clone());
        state.namespaces = api
            .list(&ListParams::default())
            .await
            .map_err(|e| cluster.error("listing namespaces", e))?
            .items;
        vec![None]
    } else {
        for ns in namespaces {
            let api: Api<Namespace> = Api::all(cluster.client.clone());
            let what = ObjectRef {
                kind: Kind::Namespace,
                namespace: None,
                name: ns.clone(),
            };
            if let Some(found) = api.get_opt(ns).await.map_err(|e| cluster.error(&what, e))? {
                state.namespaces.push(found);
            }
        }
        namespaces.iter().map(|ns| Some(ns.as_str())).collect()
    };
    for ns in scopes {
        state.pods.extend(list(cluster, ns).await?);
        state.policies.extend(list(cluster, ns).await?);
        state.quotas.extend(list(cluster, ns).await?);
        state.limit_ranges.extend(list(cluster, ns).await?);
    }
    Ok(state)
}

/// Every object of a namespaced kind in `namespace` (every namespace: None).
async fn list<K>(cluster: &Cluster, namespace: Option<&str>) -> Result<Vec<K>, ClusterError>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: Clone + fmt::Debug + serde::de::DeserializeOwned,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(cluster.client.clone(), ns),
        None => Api::all(cluster.client.clone()),
    };
    let what = format!(
        "listing {} in {}",
        K::plural(&()),
        namespace.map_or("every namespace".to_owned(), |ns| format!("namespace {ns}"))
    );
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.error(&what, e))?
        .items)
}

// ------------------------------------------------------------------ managed fields

/// Fields of an object owned by a manager other than windflow's apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManagerFields {
    pub manager: String,
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Paths as the API server prints them: `.spec.ingress`.
    pub fields: Vec<String>,
}

fn is_ours(entry: &ManagedFieldsEntry) -> bool {
    entry.manager.as_deref() == Some(FIELD_MANAGER) && entry.operation.as_deref() == Some("Apply")
}

fn entries(meta: &ObjectMeta) -> &[ManagedFieldsEntry] {
    meta.managed_fields.as_deref().unwrap_or_default()
}

/// Whether windflow's apply manages the object.
fn managed_by_us(meta: &ObjectMeta) -> bool {
    entries(meta).iter().any(is_ours)
}

/// Every other manager of the object, with the fields it owns.
fn other_managers(meta: &ObjectMeta) -> Vec<ManagerFields> {
    entries(meta)
        .iter()
        .filter(|e| !is_ours(e))
        .filter_map(|e| {
            let fields = e
                .fields_v1
                .as_ref()
                .map(|f| field_paths(&f.0))
                .unwrap_or_default();
            (!fields.is_empty()).then(|| ManagerFields {
                manager: e.manager.clone().unwrap_or_default(),
                operation: e.operation.clone().unwrap_or_default(),
                time: e.time.as_ref().map(|t| t.0.to_string()),
                fields,
            })
        })
        .collect()
}

/// Windflow's fields of `meta` (a FieldsV1 tree; empty when it owns none).
fn our_fields(meta: &ObjectMeta) -> Value {
    let mut tree = Value::Object(Map::new());
    for e in entries(meta).iter().filter(|e| is_ours(e)) {
        if let Some(f) = &e.fields_v1 {
            merge_trees(&mut tree, &f.0);
        }
    }
    tree
}

fn merge_trees(into: &mut Value, from: &Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in from {
            merge_trees(
                into.entry(k.clone()).or_insert(Value::Object(Map::new())),
                v,
            );
        }
    }
}

/// The leaf paths of a FieldsV1 tree, as the API server prints them.
fn field_paths(tree: &Value) -> Vec<String> {
    fn walk(tree: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
        for (key, sub) in tree {
            if key == "." {
                continue;
            }
            let step = match key.split_once(':') {
                Some(("f", name)) => format!(".{name}"),
                Some(("k", json)) => {
                    let fields: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
                    let parts: Vec<String> =
                        fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("[{}]", parts.join(","))
                }
                Some(("v", value)) => format!("[={value}]"),
                Some(("i", index)) => format!("[{index}]"),
                _ => format!(".{key}"),
            };
            let path = format!("{prefix}{step}");
            match sub.as_object() {
                Some(children) if children.keys().any(|k| k != ".") => walk(children, &path, out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    if let Some(tree) = tree.as_object() {
        walk(tree, "", &mut out);
    }
    out
}

/// The part of `value` a FieldsV1 tree covers.
fn project(value: &Value, tree: &Value) -> Option<Value> {
    let tree = tree.as_object()?;
    if tree.keys().all(|k| k == ".") {
        return Some(value.clone());
    }
    match value {
        Value::Object(obj) => {
            let mut out = Map::new();
            for (key, sub) in tree {
                if let Some(name) = key.strip_prefix("f:")
                    && let Some(v) = obj.get(name)
                    && let Some(p) = project(v, sub)
                {
                    out.insert(name.to_owned(), p);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                for (key, sub) in tree {
                    if item_matches(item, key) {
                        out.extend(project(item, sub));
                    }
                }
            }
            Some(Value::Array(out))
        }
        _ => Some(value.clone()),
    }
}

fn item_matches(item: &Value, key: &str) -> bool {
    match key.split_once(':') {
        Some(("k", json)) => serde_json::from_str::<Map<String, Value>>(json)
            .is_ok_and(|want| want.iter().all(|(k, v)| item.get(k) == Some(v))),
        Some(("v", json)) => serde_json::from_str::<Value>(json).is_ok_and(|v| *item == v),
        _ => false,
    }
}

/// An object windflow manages that another manager edited too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForeignEdit {
    #[serde(flatten)]
    pub object: ObjectRef,
    #[serde(flatten)]
    pub by: ManagerFields,
}

/// Windflow-managed objects of `state` that another manager also edited:
/// a drift only the cluster can show (a folder has no managed fields).
pub fn foreign_edits(state: &ClusterState) -> Vec<ForeignEdit> {
    let metas = state
        .namespaces
        .iter()
        .map(|o| (Kind::Namespace, &o.metadata))
        .chain(
            state
                .policies
                .iter()
                .map(|o| (Kind::NetworkPolicy, &o.metadata)),
        )
        .chain(
            state
                .quotas
                .iter()
                .map(|o| (Kind::ResourceQuota, &o.metadata)),
        )
        .chain(
            state
                .limit_ranges
                .iter()
                .map(|o| (Kind::LimitRange, &o.metadata)),
        );
    let mut out = Vec::new();
    for (kind, meta) in metas.filter(|(_, m)| managed_by_us(m)) {
        let object = ObjectRef {
            kind,
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        };
        out.extend(other_managers(meta).into_iter().map(|by| ForeignEdit {
            object: object.clone(),
            by,
        }));
    }
    out
}

// ------------------------------------------------------------------ diff

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Not in the cluster: apply creates it.
    Created,
    /// In the cluster with other values on windflow's fields.
    Changed,
    /// In the cluster as planned.
    Unchanged,
    /// In a planned namespace but not in the plan (apply leaves it).
    Extra,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Changed => "changed",
            Change::Unchanged => "unchanged",
            Change::Extra => "extra",
        }
    }
}

/// A field another manager owns that apply would change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    pub manager: String,
    pub field: String,
}

/// One object of a diff.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectDiff {
    #[serde(flatten)]
    pub object: ObjectRef,
    pub change: Change,
    /// The YAML of windflow's fields, live against planned, line by line:
    /// `+ ` added, `- ` removed, `  ` the same.
    pub lines: Vec<String>,
    /// False for objects of a namespace that does not exist yet: the server
    /// checks them only once the namespace is there.
    pub server_checked: bool,
    /// Windflow's apply manages the live object.
    pub ours: bool,
    /// Other managers of the live object and the fields they own.
    pub other_managers: Vec<ManagerFields>,
    /// Fields other managers own that apply would change (it forces them
    /// back only on objects that are ours).
    pub conflicts: Vec<FieldConflict>,
}

impl ObjectDiff {
    /// Someone other than windflow edited an object windflow manages.
    pub fn edited_by_others(&self) -> bool {
        self.ours && !self.other_managers.is_empty()
    }
}

/// Counts and names of a diff, for messages and the audit log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiffSummary {
    pub created: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub extra: Vec<String>,
}

impl DiffSummary {
    pub fn of(diffs: &[ObjectDiff]) -> Self {
        let mut s = Self::default();
        for d in diffs {
            let name = d.object.to_string();
            match d.change {
                Change::Created => s.created.push(name),
                Change::Changed => s.changed.push(name),
                Change::Unchanged => s.unchanged.push(name),
                Change::Extra => s.extra.push(name),
            }
        }
        s
    }

    /// The counts and names, for the audit log and `--json`.
    pub fn json(&self) -> Value {
        serde_json::json!({
            "created": self.created.len(),
            "changed": self.changed.len(),
            "unchanged": self.unchanged.len(),
            "extra": self.extra.len(),
            "objects": self,
        })
    }

    /// `2 created, 1 changed, 3 unchanged, 0 extra`.
    pub fn counts(&self) -> String {
        format!(
            "{} created, {} changed, {} unchanged, {} extra",
            self.created.len(),
            self.changed.len(),
            self.unchanged.len(),
            self.extra.len()
        )
    }
}

/// One object of a diff as text: a heading, then its YAML lines (outside
/// text: escape it before a terminal).
pub fn object_lines(d: &ObjectDiff) -> Vec<String> {
    let sign = match d.change {
        Change::Created => "+",
        Change::Changed => "~",
        Change::Unchanged => "=",
        Change::Extra => "!",
    };
    let mut notes = vec![d.change.as_str().to_owned()];
    if d.change == Change::Extra {
        notes.push("not in the plan; apply leaves it".into());
    }
    if !d.server_checked {
        notes.push("checked by the server once its namespace exists".into());
    }
    for m in &d.other_managers {
        let verb = if d.ours { "edited by" } else { "managed by" };
        notes.push(format!(
            "{verb} {} ({}): {}",
            m.manager,
            m.operation,
            m.fields.join(" ")
        ));
    }
    for c in &d.conflicts {
        notes.push(format!("conflict with {} on {}", c.manager, c.field));
    }
    let mut out = vec![format!("{sign} {}  ({})", d.object, notes.join("; "))];
    if d.change != Change::Unchanged {
        out.extend(d.lines.iter().map(|l| format!("    {l}")));
    }
    out
}

/// Namespaces first (everything else lives in them), else the plan's order.
fn ordered(planned: &[Planned]) -> Vec<&Planned> {
    let mut out: Vec<&Planned> = planned.iter().collect();
    out.sort_by_key(|p| p.object.kind != Kind::Namespace);
    out
}

fn meta_of(obj: &DynamicObject) -> &ObjectMeta {
    &obj.metadata
}

fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn yaml(value: Option<&Value>) -> String {
    match value {
        None => String::new(),
        Some(v) if v.as_object().is_some_and(Map::is_empty) => String::new(),
        Some(v) => serde_yaml_ng::to_string(v).unwrap_or_default(),
    }
}

/// `body` without what names it (apiVersion, kind, metadata.name and
/// .namespace), as managed fields leave them out.
fn without_identity(body: &Value) -> Value {
    let mut out = body.clone();
    if let Some(obj) = out.as_object_mut() {
        obj.remove("apiVersion");
        obj.remove("kind");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("name");
            meta.remove("namespace");
            if meta.is_empty() {
                obj.remove("metadata");
            }
        }
    }
    out
}

fn line_diff(old: &str, new: &str) -> Vec<String> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                similar::ChangeTag::Delete => "- ",
                similar::ChangeTag::Insert => "+ ",
                similar::ChangeTag::Equal => "  ",
            };
            format!("{sign}{}", c.value().trim_end_matches('\n'))
        })
        .collect()
}

impl Cluster {
    async fn get(&self, object: &ObjectRef) -> Result<Option<DynamicObject>, ClusterError> {
        self.api(object.kind, object.namespace.as_deref())
            .get_opt(&object.name)
            .await
            .map_err(|e| self.error(object, e))
    }

    async fn server_apply(
        &self,
        planned: &Planned,
        force: bool,
        dry_run: bool,
    ) -> Result<DynamicObject, ClusterError> {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        params.dry_run = dry_run;
        let object = &planned.object;
        self.api(object.kind, object.namespace.as_deref())
            .patch(&object.name, &params, &Patch::Apply(&planned.body))
            .await
            .map_err(|e| self.error(object, e))
    }

    /// Which of `names` exist as namespaces.
    async fn existing_namespaces(
        &self,
        names: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, ClusterError> {
        let mut out = BTreeSet::new();
        for name in names {
            let object = ObjectRef {
                kind: Kind::Namespace,
                namespace: None,
                name: name.clone(),
            };
            if self.get(&object).await?.is_some() {
                out.insert(name.clone());
            }
        }
        Ok(out)
    }

    /// The diff of one planned object against the cluster (a dry run).
    async fn diff_one(
        &self,
        planned: &Planned,
        namespace_exists: bool,
    ) -> Result<ObjectDiff, ClusterError> {
        let object = planned.object.clone();
        if !namespace_exists {
            // Nothing can be created in a namespace that is not there, not even
            // in a dry run: the server checks it during apply.
            return Ok(ObjectDiff {
                object,
                change: Change::Created,
                lines: line_diff("", &yaml(Some(&without_identity(&planned.body)))),
                server_checked: false,
                ours: false,
                other_managers: Vec::new(),
                conflicts: Vec::new(),
            });
        }
        let live = self.get(&object).await?;
        let (result, conflicts) = match self.server_apply(planned, false, true).await {
            Ok(result) => (result, Vec::new()),
            Err(ClusterError::Conflict {
                managers, fields, ..
            }) => {
                let result = self.server_apply(planned, true, true).await?;
                let conflicts = conflict_fields(&managers, &fields, live.as_ref());
                (result, conflicts)
            }
            Err(e) => return Err(e),
        };
        let mut tree = our_fields(meta_of(&result));
        if let Some(live) = &live {
            merge_trees(&mut tree, &our_fields(meta_of(live)));
        }
        let after = project(&to_value(&result), &tree);
        let before = live.as_ref().and_then(|l| project(&to_value(l), &tree));
        let change = match &live {
            None => Change::Created,
            Some(_) if before == after => Change::Unchanged,
            Some(_) => Change::Changed,
        };
        Ok(ObjectDiff {
            object,
            change,
            lines: line_diff(&yaml(before.as_ref()), &yaml(after.as_ref())),
            server_checked: true,
            ours: live.as_ref().is_some_and(|l| managed_by_us(meta_of(l))),
            other_managers: live
                .as_ref()
                .map(|l| other_managers(meta_of(l)))
                .unwrap_or_default(),
            conflicts,
        })
    }

    /// Policies, quotas and limit ranges of `namespaces` the plan does not hold.
    async fn extras(
        &self,
        namespaces: &BTreeSet<String>,
        planned: &BTreeSet<&ObjectRef>,
    ) -> Result<Vec<ObjectDiff>, ClusterError> {
        let mut out = Vec::new();
        for ns in namespaces {
            for kind in [Kind::NetworkPolicy, Kind::ResourceQuota, Kind::LimitRange] {
                let what = format!("listing {kind}s in namespace {ns}");
                let found = self
                    .api(kind, Some(ns))
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| self.error(&what, e))?;
                for obj in found.items {
                    let object = ObjectRef {
                        kind,
                        namespace: Some(ns.clone()),
                        name: obj.metadata.name.clone().unwrap_or_default(),
                    };
                    if planned.contains(&object) {
                        continue;
                    }
                    out.push(ObjectDiff {
                        object,
                        change: Change::Extra,
                        lines: Vec::new(),
                        server_checked: true,
                        ours: managed_by_us(&obj.metadata),
                        other_managers: other_managers(&obj.metadata),
                        conflicts: Vec::new(),
                    });
                }
            }
        }
        Ok(out)
    }
}

fn conflict_fields(
    managers: &[String],
    fields: &[String],
    live: Option<&DynamicObject>,
) -> Vec<FieldConflict> {
    // The server names one manager per field; match them up through the
    // live managed fields, else name every conflicting manager.
    let owners: BTreeMap<String, String> = live
        .map(|l| {
            other_managers(meta_of(l))
                .into_iter()
                .flat_map(|m| m.fields.into_iter().map(move |f| (f, m.manager.clone())))
                .collect()
        })
        .unwrap_or_default();
    fields
        .iter()
        .map(|f| FieldConflict {
            manager: owners
                .get(f)
                .cloned()
                .unwrap_or_else(|| managers.join(", ")),
            field: f.clone(),
        })
        .collect()
}

fn planned_namespaces(planned: &[Planned]) -> BTreeSet<String> {
    planned
        .iter()
        .map(|p| match p.object.kind {
            Kind::Namespace => p.object.name.clone(),
            _ => p.object.namespace.clone().unwrap_or_default(),
        })
        .collect()
}

/// What applying `planned` would change: one entry per planned object
/// (namespaces first), then the extra objects in the planned namespaces.
/// Nothing is written (server-side dry runs only).
pub async fn diff(cluster: &Cluster, planned: &[Planned]) -> Result<Vec<ObjectDiff>, ClusterError> {
    let namespaces = planned_namespaces(planned);
    let existing = cluster.existing_namespaces(&namespaces).await?;
    // The futures are made first: a stream mapping a closure over them
    // would not be `Send` (the console's service runs this on its runtime).
    let requests: Vec<_> = ordered(planned)
        .into_iter()
        .map(|p| {
            let ns_exists = p
                .object
                .namespace
                .as_ref()
                .is_none_or(|ns| existing.contains(ns));
            cluster.diff_one(p, ns_exists)
        })
        .collect();
    let mut out: Vec<ObjectDiff> = futures::stream::iter(requests)
        .buffered(CONCURRENT_REQUESTS)
        .try_collect()
        .await?;
    let planned_refs: BTreeSet<&ObjectRef> = planned.iter().map(|p| &p.object).collect();
    out.extend(cluster.extras(&existing, &planned_refs).await?);
    Ok(out)
}

/// What an apply did: the diff it acted on and the objects it wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ApplyReport {
    pub diff: Vec<ObjectDiff>,
    pub applied: Vec<ObjectRef>,
}

/// An apply that stopped: what it had written, and why it stopped.
#[derive(Debug, thiserror::Error)]
#[error("{error}{}", applied_note(.applied))]
pub struct ApplyError {
    pub applied: Vec<ObjectRef>,
    pub error: ClusterError,
}

fn applied_note(applied: &[ObjectRef]) -> String {
    if applied.is_empty() {
        " (nothing was applied)".into()
    } else {
        let names: Vec<String> = applied.iter().map(ToString::to_string).collect();
        format!(" (applied before it stopped: {})", names.join(", "))
    }
}

impl From<ClusterError> for ApplyError {
    fn from(error: ClusterError) -> Self {
        Self {
            applied: Vec::new(),
            error,
        }
    }
}

/// Applies `planned` by server-side apply with field manager `windflow`.
///
/// A dry run of everything comes first; an object with fields another
/// manager owns is refused (409, naming the manager) unless windflow already
/// manages it, and then nothing is written. Objects of a namespace that does
/// not exist yet are dry-run once it is created. Force is used only on
/// objects that are ours.
pub async fn apply(cluster: &Cluster, planned: &[Planned]) -> Result<ApplyReport, ApplyError> {
    let diffs = diff(cluster, planned).await?;
    let by_object: BTreeMap<&ObjectRef, &ObjectDiff> =
        diffs.iter().map(|d| (&d.object, d)).collect();
    for d in &diffs {
        if !d.conflicts.is_empty() && !d.ours {
            return Err(ClusterError::Conflict {
                object: d.object.to_string(),
                managers: d
                    .conflicts
                    .iter()
                    .map(|c| c.manager.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                fields: d.conflicts.iter().map(|c| c.field.clone()).collect(),
                message: "windflow does not manage this object; another manager owns these \
                          fields with other values. Nothing was applied"
                    .into(),
            }
            .into());
        }
    }
    let mut applied = Vec::new();
    for p in ordered(planned) {
        let d = by_object.get(&p.object);
        let ours = d.is_some_and(|d| d.ours);
        let step = async {
            if d.is_some_and(|d| !d.server_checked) {
                cluster.server_apply(p, false, true).await?;
            }
            cluster.server_apply(p, ours, false).await
        };
        if let Err(error) = step.await {
            return Err(ApplyError { applied, error });
        }
        applied.push(p.object.clone());
    }
    Ok(ApplyReport {
        diff: diffs,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn planned_objects_are_the_five_kinds_named_and_placed() {
        let p = Planned::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "deny", "namespace": "wf-a", "resourceVersion": "7",
                          "managedFields": [] },
            "spec": { "podSelector": {} }, "status": {},
        }))
        .unwrap();
        assert_eq!(p.object().to_string(), "NetworkPolicy wf-a/deny");
        assert_eq!(
            p.body(),
            &json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": { "name": "deny", "namespace": "wf-a" },
                "spec": { "podSelector": {} },
            }),
            "what the server sets is never applied"
        );
        let ns = Planned::from_object(&Namespace {
            metadata: ObjectMeta {
                name: Some("wf-a".into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        })
        .unwrap();
        assert_eq!(ns.object().to_string(), "Namespace wf-a");

        let err = |v: Value| Planned::from_value(v).unwrap_err().to_string();
        assert!(
            err(json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "x" } }))
                .contains(r#"of kind "Deployment" ("apps/v1")"#)
        );
        assert!(
            err(json!({ "apiVersion": "v1", "kind": "LimitRange", "metadata": { "name": "l" } }))
                .contains("LimitRange l without metadata.namespace")
        );
        assert!(
            err(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": {} }))
                .contains("Namespace without metadata.name")
        );
    }

    #[test]
    fn managed_fields_print_and_project_as_the_server_names_them() {
        let tree = json!({
            "f:metadata": { "f:labels": { "f:app": {} } },
            "f:spec": {
                "f:containers": { "k:{\"name\":\"api\"}": { ".": {}, "f:image": {} } },
                "f:policyTypes": {},
            },
        });
        assert_eq!(
            field_paths(&tree),
            [
                ".metadata.labels.app",
                ".spec.containers[name=\"api\"].image",
                ".spec.policyTypes"
            ]
        );
        let object = json!({
            "metadata": { "name": "p", "labels": { "app": "a", "other": "b" } },
            "spec": {
                "containers": [{ "name": "api", "image": "i:1", "ports": [] }, { "name": "side", "image": "s" }],
                "policyTypes": ["Ingress"],
                "restartPolicy": "Always",
            },
        });
        assert_eq!(
            project(&object, &tree),
            Some(json!({
                "metadata": { "labels": { "app": "a" } },
                "spec": { "containers": [{ "image": "i:1" }], "policyTypes": ["Ingress"] },
            }))
        );
    }

    #[test]
    fn line_diff_marks_what_changes() {
        assert_eq!(
            line_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n"),
            ["  a: 1", "- b: 2", "+ b: 3"]
        );
    }
}
