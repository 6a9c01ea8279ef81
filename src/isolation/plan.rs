//! The plan: what each deployment's namespace must hold, in Kubernetes'
//! own types, serialised in a stable order; and [`diff`], which compares
//! a plan with any [`ClusterState`] (a folder or a cluster).
//!
//! For a deployment `id`:
//! - Namespace `wf-<id>`, labelled with the id and Pod Security Admission
//!   `enforce`, `audit` and `warn` = `restricted`, each pinned to [`PSA_VERSION`];
//! - ResourceQuota `quota` (cpu and memory requests and limits, pods,
//!   services, load balancers, node ports, secrets, PVCs) and LimitRange
//!   `limits` (containers' default requests and limits);
//! - NetworkPolicy `default-deny`: every pod, `[Ingress, Egress]`, no rule;
//! - NetworkPolicy `allow-dns`: every pod may reach the cluster DNS
//!   (kube-system's `k8s-app=kube-dns` pods, UDP and TCP 53);
//! - NetworkPolicy `svc-<name>` per service with rules: its pods (label
//!   [`SERVICE_LABEL`]) let in what `allow_from` names and reach what
//!   `egress` names. A rule between two services of the deployment opens
//!   both ends: `allow_from = [{ service = "web", port = 8080 }]` on `api`
//!   also lets `web` reach `api` on 8080.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::Value;

use super::state::ClusterState;
use crate::deployments::{Deployment, Peer, Protocol, Target, namespace_of};

/// The Pod Security Standards version the namespaces pin.
pub const PSA_VERSION: &str = "v1.34";
/// The Pod Security level the namespaces get.
pub const PSA_LEVEL: &str = "restricted";
/// The label a service's pods carry: `app.kubernetes.io/name=<service>`.
pub const SERVICE_LABEL: &str = "app.kubernetes.io/name";
/// The label naming a namespace's deployment.
pub const DEPLOYMENT_LABEL: &str = "windflow.io/deployment";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "windflow";
/// The label the API server puts on every namespace: its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
pub const DEFAULT_DENY: &str = "default-deny";
pub const ALLOW_DNS: &str = "allow-dns";
pub const QUOTA: &str = "quota";
pub const LIMITS: &str = "limits";
/// The three Pod Security Admission modes.
pub const PSA_MODES: [&str; 3] = ["enforce", "audit", "warn"];

/// The first line of every file `isolate plan` writes, followed by the
/// deployment's id: what `isolate plan --all` may remove ([`prune`]).
pub const PLAN_MARK: &str = "# windflow-isolation-plan: ";

/// The name of a service's policy.
pub fn service_policy(service: &str) -> String {
    format!("svc-{service}")
}

/// One deployment's objects.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub deployment: String,
    pub namespace: Namespace,
    pub quota: ResourceQuota,
    pub limit_range: LimitRange,
    /// `default-deny`, `allow-dns`, then the services' policies by name.
    pub policies: Vec<NetworkPolicy>,
}

/// A planned object, for listing and comparing.
#[derive(Clone, Copy, Debug)]
pub enum Object<'a> {
    Namespace(&'a Namespace),
    ResourceQuota(&'a ResourceQuota),
    LimitRange(&'a LimitRange),
    NetworkPolicy(&'a NetworkPolicy),
}

impl<'a> Object<'a> {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Namespace(_) => "Namespace",
            Object::ResourceQuota(_) => "ResourceQuota",
            Object::LimitRange(_) => "LimitRange",
            Object::NetworkPolicy(_) => "NetworkPolicy",
        }
    }

    pub fn meta(&self) -> &'a ObjectMeta {
        match self {
            Object::Namespace(o) => &o.metadata,
            Object::ResourceQuota(o) => &o.metadata,
            Object::LimitRange(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &'a str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// The object as JSON, as the API server takes it.
    pub fn value(self) -> Value {
        self.to_value()
    }

    fn to_value(self) -> Value {
        let v = match self {
            Object::Namespace(o) => serde_json::to_value(o),
            Object::ResourceQuota(o) => serde_json::to_value(o),
            Object::LimitRange(o) => serde_json::to_value(o),
            Object::NetworkPolicy(o) => serde_json::to_value(o),
        };
        v.unwrap_or(Value::Null)
    }
}

impl Plan {
    pub fn namespace_name(&self) -> &str {
        self.namespace.metadata.name.as_deref().unwrap_or_default()
    }

    /// Every object, in the order they are written and applied (the
    /// namespace first, so that the others have a place to go).
    pub fn objects(&self) -> Vec<Object<'_>> {
        let mut out = vec![
            Object::Namespace(&self.namespace),
            Object::ResourceQuota(&self.quota),
            Object::LimitRange(&self.limit_range),
        ];
        out.extend(self.policies.iter().map(Object::NetworkPolicy));
        out
    }

    /// The manifests as YAML documents separated by `---`, for `kubectl apply -f`.
    pub fn to_yaml(&self) -> String {
        let mut out = format!(
            "{PLAN_MARK}{}\n\
             # Isolation of deployment {}, written by `windflow isolate plan`.\n\
             # Edit the deployment's spec and plan again rather than this file;\n\
             # `isolate plan --all` removes it once the spec is gone.\n",
            self.deployment, self.deployment
        );
        for o in self.objects() {
            out.push_str("---\n");
            // Kubernetes' types always serialise.
            out.push_str(&serde_yaml_ng::to_string(&o.to_value()).unwrap_or_default());
        }
        out
    }

    /// The file the plan is written to in the cluster folder.
    pub fn file_name(&self) -> String {
        format!("{}.yaml", self.namespace_name())
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn meta(name: &str, namespace: &str, id: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some(labels(&[
            (MANAGED_BY_LABEL, MANAGED_BY),
            (DEPLOYMENT_LABEL, id),
        ])),
        ..ObjectMeta::default()
    }
}

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        ..LabelSelector::default()
    }
}

fn port(protocol: Protocol, port: u16) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.as_str().into()),
        port: Some(IntOrString::Int(port.into())),
        end_port: None,
    }
}

fn peer(target: &Target) -> NetworkPolicyPeer {
    match target {
        Target::Service(s) => NetworkPolicyPeer {
            pod_selector: Some(selector(&[(SERVICE_LABEL, s)])),
            ..NetworkPolicyPeer::default()
        },
        Target::Namespace(n) => NetworkPolicyPeer {
            namespace_selector: Some(selector(&[(NAMESPACE_NAME_LABEL, n)])),
            ..NetworkPolicyPeer::default()
        },
        Target::Cidr(c) => NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: c.clone(),
                except: None,
            }),
            ..NetworkPolicyPeer::default()
        },
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// The rules of each service, both ends of the deployment's own
/// service-to-service rules included, deduplicated and sorted.
#[derive(Default)]
struct Rules {
    ingress: BTreeSet<Peer>,
    egress: BTreeSet<Peer>,
}

fn rules(d: &Deployment) -> BTreeMap<&str, Rules> {
    let mut out: BTreeMap<&str, Rules> = d
        .services
        .iter()
        .map(|s| (s.name.as_str(), Rules::default()))
        .collect();
    for s in &d.services {
        let me = Target::Service(s.name.clone());
        for p in &s.allow_from {
            out.entry(&s.name).or_default().ingress.insert(p.clone());
            if let Target::Service(from) = &p.target
                && let Some(r) = out.get_mut(from.as_str())
            {
                r.egress.insert(Peer {
                    target: me.clone(),
                    ..p.clone()
                });
            }
        }
        for p in &s.egress {
            out.entry(&s.name).or_default().egress.insert(p.clone());
            if let Target::Service(to) = &p.target
                && let Some(r) = out.get_mut(to.as_str())
            {
                r.ingress.insert(Peer {
                    target: me.clone(),
                    ..p.clone()
                });
            }
        }
    }
    out
}

/// The plan of one deployment.
pub fn plan(d: &Deployment) -> Plan {
    let id = d.id.as_str();
    let ns = namespace_of(id);
    let mut ns_labels = labels(&[(MANAGED_BY_LABEL, MANAGED_BY), (DEPLOYMENT_LABEL, id)]);
    for mode in PSA_MODES {
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            PSA_LEVEL.into(),
        );
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            PSA_VERSION.into(),
        );
    }
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            labels: Some(ns_labels),
            annotations: Some(labels(&[
                ("windflow.io/owner", &d.owner),
                ("windflow.io/environment", &d.environment),
            ])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let r = &d.resources;
    let count = |n: u32| n.to_string();
    let quota = ResourceQuota {
        metadata: meta(QUOTA, &ns, id),
        spec: Some(ResourceQuotaSpec {
            hard: Some(quantities(&[
                ("requests.cpu", &r.cpu),
                ("limits.cpu", &r.cpu),
                ("requests.memory", &r.memory),
                ("limits.memory", &r.memory),
                ("pods", &count(r.pods)),
                ("services", &count(r.services)),
                ("services.loadbalancers", &count(r.load_balancers)),
                ("services.nodeports", &count(r.node_ports)),
                ("secrets", &count(r.secrets)),
                ("persistentvolumeclaims", &count(r.persistent_volume_claims)),
            ])),
            ..ResourceQuotaSpec::default()
        }),
        status: None,
    };
    let limit_range = LimitRange {
        metadata: meta(LIMITS, &ns, id),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(quantities(&[
                    ("cpu", &r.default_cpu_limit),
                    ("memory", &r.default_memory_limit),
                ])),
                default_request: Some(quantities(&[
                    ("cpu", &r.default_cpu_request),
                    ("memory", &r.default_memory_request),
                ])),
                ..LimitRangeItem::default()
            }],
        }),
    };
    let policy = |name: &str, spec: NetworkPolicySpec| NetworkPolicy {
        metadata: meta(name, &ns, id),
        spec: Some(spec),
    };
    let mut policies = vec![
        policy(
            DEFAULT_DENY,
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ..NetworkPolicySpec::default()
            },
        ),
        policy(
            ALLOW_DNS,
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Egress".into()]),
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(selector(&[(
                            NAMESPACE_NAME_LABEL,
                            "kube-system",
                        )])),
                        pod_selector: Some(selector(&[("k8s-app", "kube-dns")])),
                        ip_block: None,
                    }]),
                    ports: Some(vec![port(Protocol::Udp, 53), port(Protocol::Tcp, 53)]),
                }]),
                ..NetworkPolicySpec::default()
            },
        ),
    ];
    for (service, rules) in rules(d) {
        if rules.ingress.is_empty() && rules.egress.is_empty() {
            continue;
        }
        let mut types = Vec::new();
        if !rules.ingress.is_empty() {
            types.push("Ingress".to_string());
        }
        if !rules.egress.is_empty() {
            types.push("Egress".to_string());
        }
        let ingress: Vec<NetworkPolicyIngressRule> = rules
            .ingress
            .iter()
            .map(|p| NetworkPolicyIngressRule {
                from: Some(vec![peer(&p.target)]),
                ports: Some(vec![port(p.protocol, p.port)]),
            })
            .collect();
        let egress: Vec<NetworkPolicyEgressRule> = rules
            .egress
            .iter()
            .map(|p| NetworkPolicyEgressRule {
                to: Some(vec![peer(&p.target)]),
                ports: Some(vec![port(p.protocol, p.port)]),
            })
            .collect();
        policies.push(policy(
            &service_policy(service),
            NetworkPolicySpec {
                pod_selector: Some(selector(&[(SERVICE_LABEL, service)])),
                policy_types: Some(types),
                ingress: (!ingress.is_empty()).then_some(ingress),
                egress: (!egress.is_empty()).then_some(egress),
            },
        ));
    }
    Plan {
        deployment: id.to_string(),
        namespace,
        quota,
        limit_range,
        policies,
    }
}

/// Writes a plan into the cluster folder as `wf-<id>.yaml`, atomically (a
/// temporary file renamed over the old one: a symbolic link there is
/// replaced, never followed). Returns the file written.
pub fn write(dir: &Path, plan: &Plan) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(plan.file_name());
    crate::fsutil::write_atomic(&path, plan.to_yaml().as_bytes(), 0o644)?;
    Ok(path)
}

/// The deployment whose plan `path` holds, when `isolate plan` wrote it: a
/// regular file named `wf-<id>.yaml` whose first line is [`PLAN_MARK`] `<id>`.
pub fn written_plan(path: &Path) -> Option<String> {
    use std::io::{BufRead, Read};
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let mut first = String::new();
    std::io::BufReader::new(file.take(256))
        .read_line(&mut first)
        .ok()?;
    let id = first.trim_end().strip_prefix(PLAN_MARK)?;
    let name = path.file_name()?.to_str()?;
    (name == format!("{}.yaml", namespace_of(id))).then(|| id.to_owned())
}

/// Removes from `dir` the plans `isolate plan` wrote for deployments not in
/// `keep` (their spec was removed); nothing else is touched. Returns the
/// files removed, by deployment id.
pub fn prune(dir: &Path, keep: &[&str]) -> std::io::Result<Vec<(String, std::path::PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if let Some(id) = written_plan(&path)
            && !keep.contains(&id.as_str())
        {
            std::fs::remove_file(&path)?;
            removed.push((id, path));
        }
    }
    removed.sort();
    Ok(removed)
}

// ------------------------------------------------------------------ diff

/// What applying a plan would do to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Missing: would be created.
    Create,
    /// Present but different where the plan has a say: would be updated.
    Update,
    /// Present as planned.
    Unchanged,
    /// In the namespace but not in the plan (a NetworkPolicy there can
    /// only widen what the plan allows).
    Extra,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub action: Action,
    /// For an update: the fields that differ (`spec.policyTypes`, `metadata.labels.x`).
    pub fields: Vec<String>,
}

/// A plan against a state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub deployment: String,
    pub namespace: String,
    pub changes: Vec<Change>,
}

impl Diff {
    /// Nothing to create or update and nothing extra.
    pub fn in_sync(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// The live objects of the state in `namespace`, by kind and name.
fn live_in<'a>(state: &'a ClusterState, namespace: &str) -> Vec<Object<'a>> {
    let ours = |m: &ObjectMeta| m.namespace.as_deref() == Some(namespace);
    let mut out: Vec<Object> = state
        .namespaces
        .iter()
        .filter(|n| n.metadata.name.as_deref() == Some(namespace))
        .map(Object::Namespace)
        .collect();
    out.extend(
        state
            .quotas
            .iter()
            .filter(|o| ours(&o.metadata))
            .map(Object::ResourceQuota),
    );
    out.extend(
        state
            .limit_ranges
            .iter()
            .filter(|o| ours(&o.metadata))
            .map(Object::LimitRange),
    );
    out.extend(
        state
            .policies
            .iter()
            .filter(|o| ours(&o.metadata))
            .map(Object::NetworkPolicy),
    );
    out
}

/// Compares a plan with a state (a folder's or a cluster's): each planned
/// object is missing, different or as planned, and every other quota,
/// limit range or NetworkPolicy in the namespace is extra. Only what the
/// plan sets is compared (a namespace's own labels, the others' specs), as
/// the API server reads it: defaults filled in (TCP, policyTypes), empty
/// lists and absent ones alike, quantities by value (`1Gi` = `1024Mi`).
pub fn diff(plan: &Plan, state: &ClusterState) -> Diff {
    let namespace = plan.namespace_name().to_string();
    let live = live_in(state, &namespace);
    let mut changes = Vec::new();
    let planned = plan.objects();
    for o in &planned {
        let found = live
            .iter()
            .find(|l| l.kind() == o.kind() && l.name() == o.name());
        let (action, fields) = match found {
            None => (Action::Create, Vec::new()),
            Some(l) => {
                let fields = differences(o, l);
                if fields.is_empty() {
                    (Action::Unchanged, fields)
                } else {
                    (Action::Update, fields)
                }
            }
        };
        changes.push(Change {
            kind: o.kind(),
            namespace: namespace.clone(),
            name: o.name().to_string(),
            action,
            fields,
        });
    }
    for l in &live {
        if !planned
            .iter()
            .any(|o| o.kind() == l.kind() && o.name() == l.name())
        {
            changes.push(Change {
                kind: l.kind(),
                namespace: namespace.clone(),
                name: l.name().to_string(),
                action: Action::Extra,
                fields: Vec::new(),
            });
        }
    }
    Diff {
        deployment: plan.deployment.clone(),
        namespace,
        changes,
    }
}

/// The fields where `live` differs from `planned`, as dotted paths.
fn differences(planned: &Object, live: &Object) -> Vec<String> {
    let mut out = Vec::new();
    if let (Object::Namespace(p), Object::Namespace(l)) = (planned, live) {
        // The plan's labels and annotations; others' keys are theirs.
        for (what, mine, theirs) in [
            ("labels", &p.metadata.labels, &l.metadata.labels),
            (
                "annotations",
                &p.metadata.annotations,
                &l.metadata.annotations,
            ),
        ] {
            for (k, v) in mine.iter().flatten() {
                if theirs.as_ref().and_then(|t| t.get(k)) != Some(v) {
                    out.push(format!("metadata.{what}.{k}"));
                }
            }
        }
        return out;
    }
    let spec = |o: &Object| {
        let mut v = o.to_value().get("spec").cloned().unwrap_or(Value::Null);
        normalise(&mut v, o.kind() == "NetworkPolicy");
        v
    };
    compare("spec", &spec(planned), &spec(live), &mut out);
    out
}

/// Maps whose values are quantities.
const QUANTITY_MAPS: [&str; 5] = ["hard", "default", "defaultRequest", "max", "min"];

/// A spec as the API server reads it: empty lists, maps and nulls as
/// absent; a NetworkPolicy port's protocol TCP by default; a policy's
/// types as the server defaults them; quantities by value.
pub fn normalise(v: &mut Value, network_policy: bool) {
    if network_policy && let Value::Object(m) = v {
        if !m.contains_key("policyTypes") {
            let egress = m
                .get("egress")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            let mut types = vec![Value::String("Ingress".into())];
            if egress {
                types.push(Value::String("Egress".into()));
            }
            m.insert("policyTypes".into(), Value::Array(types));
        }
        if let Some(Value::Array(types)) = m.get_mut("policyTypes") {
            types.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            types.dedup();
        }
        m.entry("podSelector")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    walk(v, false);
}

fn walk(v: &mut Value, quantities: bool) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match child {
                    Value::String(s) if quantities => {
                        if let Ok(n) = crate::deployments::quantity::parse(s) {
                            *child = serde_json::json!(n);
                        }
                    }
                    Value::Array(ports) if k == "ports" => {
                        for p in ports.iter_mut() {
                            if let Value::Object(p) = p {
                                p.entry("protocol").or_insert_with(|| "TCP".into());
                            }
                        }
                        walk(child, false);
                    }
                    _ => walk(child, QUANTITY_MAPS.contains(&k.as_str())),
                }
            }
            // A selector `{}` means "all" and stays; other empties are absent.
            m.retain(|k, child| {
                k == "podSelector"
                    || k == "namespaceSelector"
                    || !(child.is_null()
                        || child.as_array().is_some_and(Vec::is_empty)
                        || child.as_object().is_some_and(|o| o.is_empty()))
            });
        }
        Value::Array(a) => a.iter_mut().for_each(|c| walk(c, false)),
        _ => {}
    }
}

fn compare(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let null = Value::Null;
                compare(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                compare(&format!("{path}[{i}]"), p, q, out);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if (x - y).abs() > f64::EPSILON * x.abs().max(y.abs()).max(1.0) {
                out.push(path.to_string());
            }
        }
        (x, y) if x == y => {}
        _ => out.push(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(extra: &str) -> Deployment {
        let src = format!(
            "id = \"shop\"\nowner = \"o\"\nenvironment = \"dev\"\n\
             [data]\npersonal_data = false\nphi = false\ncard_data = false\n\
             [resources]\ncpu = \"1\"\nmemory = \"1Gi\"\npods = 5\n{extra}"
        );
        crate::deployments::parse(Path::new("s.toml"), &src).unwrap()
    }

    #[test]
    fn a_rule_between_two_services_opens_both_ends_and_no_rule_means_no_policy() {
        let d = spec(
            "[[services]]\nname = \"api\"\nimage = \"a:1\"\nports = [8080]\n\
             allow_from = [{ service = \"web\", port = 8080 }]\n\
             [[services]]\nname = \"web\"\nimage = \"w:1\"\nports = [80]\n\
             [[services]]\nname = \"idle\"\nimage = \"i:1\"\n",
        );
        let p = plan(&d);
        let names: Vec<&str> = p
            .policies
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["default-deny", "allow-dns", "svc-api", "svc-web"]);
        let web = serde_json::to_value(&p.policies[3]).unwrap();
        assert_eq!(web["spec"]["policyTypes"], json!(["Egress"]));
        assert_eq!(
            web["spec"]["egress"],
            json!([{"to": [{"podSelector": {"matchLabels": {SERVICE_LABEL: "api"}}}],
                    "ports": [{"port": 8080, "protocol": "TCP"}]}])
        );
    }

    #[test]
    fn normalising_keeps_what_changes_meaning() {
        let norm = |v: Value| {
            let mut v = v;
            normalise(&mut v, true);
            v
        };
        // Allow-all ([{}]) is not deny ([]), and an empty list is an absent one.
        assert_ne!(norm(json!({"ingress": [{}]})), norm(json!({"ingress": []})));
        assert_eq!(norm(json!({"ingress": []})), norm(json!({})));
        // namespaceSelector {} (every namespace) is not an absent one.
        assert_ne!(
            norm(json!({"ingress": [{"from": [{"namespaceSelector": {}}]}]})),
            norm(json!({"ingress": [{"from": [{}]}]}))
        );
        // Defaults: TCP, policyTypes; quantities by value.
        assert_eq!(
            norm(json!({"egress": [{"ports": [{"port": 53}]}]})),
            norm(
                json!({"policyTypes": ["Egress", "Ingress"], "podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "TCP"}]}]})
            )
        );
        let mut a = json!({"hard": {"memory": "1Gi"}});
        let mut b = json!({"hard": {"memory": "1024Mi"}});
        normalise(&mut a, false);
        normalise(&mut b, false);
        assert_eq!(a, b);
    }
}
