//! The manifest checks. Each has a stable id, a severity and a remediation;
//! [`CHECKS`] is the one table of them.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::K8sFinding;
use super::load::Object;
use crate::scans::model::Severity;

/// A check: id, severity, what it looks at, how to fix it.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub remediation: &'static str,
}

const fn c(
    id: &'static str,
    severity: Severity,
    title: &'static str,
    remediation: &'static str,
) -> Check {
    Check {
        id,
        severity,
        title,
        remediation,
    }
}

use Severity::{Critical, High, Low, Medium};

pub const CHECKS: &[Check] = &[
    c(
        "privileged",
        Critical,
        "Privileged container",
        "Remove securityContext.privileged or set it to false.",
    ),
    c(
        "privilege-escalation",
        High,
        "Privilege escalation allowed",
        "Set securityContext.allowPrivilegeEscalation: false.",
    ),
    c(
        "run-as-root",
        High,
        "Container may run as root",
        "Set securityContext.runAsNonRoot: true and a non-zero runAsUser.",
    ),
    c(
        "read-only-root-fs",
        Medium,
        "Writable root filesystem",
        "Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir where the app must write.",
    ),
    c(
        "dangerous-capabilities",
        High,
        "Dangerous capabilities added",
        "Remove SYS_ADMIN, NET_ADMIN, ALL and similar from securityContext.capabilities.add.",
    ),
    c(
        "capabilities-not-dropped",
        Low,
        "Capabilities not dropped",
        "Set securityContext.capabilities.drop: [ALL] and add back only what is needed.",
    ),
    c(
        "host-network",
        High,
        "Host network",
        "Remove spec.hostNetwork (or set it to false).",
    ),
    c(
        "host-pid",
        High,
        "Host PID namespace",
        "Remove spec.hostPID (or set it to false).",
    ),
    c(
        "host-ipc",
        High,
        "Host IPC namespace",
        "Remove spec.hostIPC (or set it to false).",
    ),
    c(
        "host-path",
        Medium,
        "hostPath volume",
        "Use a persistentVolumeClaim, configMap, secret or emptyDir instead of hostPath.",
    ),
    c(
        "docker-socket",
        Critical,
        "Container runtime socket mounted",
        "Never mount the Docker/containerd/CRI-O socket: it gives root on the node.",
    ),
    c(
        "cpu-requests",
        Low,
        "No CPU request",
        "Set resources.requests.cpu.",
    ),
    c(
        "cpu-limits",
        Medium,
        "No CPU limit",
        "Set resources.limits.cpu.",
    ),
    c(
        "memory-requests",
        Low,
        "No memory request",
        "Set resources.requests.memory.",
    ),
    c(
        "memory-limits",
        Medium,
        "No memory limit",
        "Set resources.limits.memory.",
    ),
    c(
        "image-tag",
        Medium,
        "Image without a fixed tag",
        "Pin the image to a version tag or a digest (image@sha256:...), not latest.",
    ),
    c(
        "image-pull-policy",
        Low,
        "Image pull policy is not Always",
        "Set imagePullPolicy: Always so the node checks the registry for the tag.",
    ),
    c(
        "secret-in-env",
        High,
        "Literal secret in an environment variable",
        "Move the value into a Secret and use env.valueFrom.secretKeyRef.",
    ),
    c(
        "sa-token-automount",
        Low,
        "Service account token mounted",
        "Set automountServiceAccountToken: false unless the pod calls the API server.",
    ),
    c(
        "network-policy",
        Medium,
        "No NetworkPolicy covers the pod's ingress and egress",
        "Add NetworkPolicies in the namespace whose podSelector matches the pod's labels, with policyTypes [Ingress, Egress].",
    ),
    c(
        "default-deny",
        Medium,
        "Namespace without a default-deny policy for ingress and egress",
        "Add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] and no rules.",
    ),
    c(
        "liveness-probe",
        Low,
        "No liveness probe",
        "Add a livenessProbe so a hung container is restarted.",
    ),
    c(
        "readiness-probe",
        Medium,
        "No readiness probe on a pod a Service targets",
        "Add a readinessProbe so the Service only sends traffic to ready pods.",
    ),
    c(
        "yaml-boolean",
        Low,
        "YAML 1.1 boolean spelling",
        "Write true or false: Kubernetes (YAML 1.1) reads a plain yes/no/on/off/y/n as a boolean, YAML 1.2 tools as a string.",
    ),
];

pub fn check(id: &str) -> &'static Check {
    CHECKS.iter().find(|c| c.id == id).expect("known check id")
}

const DANGEROUS_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "BPF",
    "PERFMON",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

const RUNTIME_SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/crio/crio.sock",
    "/var/run/cri-dockerd.sock",
];

/// Names that look like they hold a secret.
fn sensitive_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase().replace(['-', '.'], "_");
    [
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
        "CREDENTIAL",
        "AUTH_KEY",
    ]
    .iter()
    .any(|w| n.contains(w))
}

fn truthy(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

/// Matches a label selector (`matchLabels`, `matchExpressions`) against labels.
/// An empty selector selects everything.
pub fn selector_matches(selector: Option<&Value>, labels: Option<&Map<String, Value>>) -> bool {
    let empty = Map::new();
    let labels = labels.unwrap_or(&empty);
    let Some(sel) = selector.and_then(Value::as_object) else {
        return true;
    };
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            if labels.get(k) != Some(v) {
                return false;
            }
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&Value> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let have = labels.get(key);
        let ok = match op {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// A Service's plain `selector` map against labels (an empty one selects nothing).
fn service_selects(svc: &Object, labels: Option<&Map<String, Value>>) -> bool {
    let Some(sel) = svc
        .value
        .pointer("/spec/selector")
        .and_then(Value::as_object)
    else {
        return false;
    };
    if sel.is_empty() {
        return false;
    }
    let Some(labels) = labels else { return false };
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The directions a NetworkPolicy isolates the pods it selects for:
/// (ingress, egress). Without `policyTypes`, Kubernetes gives a policy
/// `Ingress`, and `Egress` when it has egress rules.
fn policy_types(np: &Object) -> (bool, bool) {
    let spec = np.value.get("spec");
    let has_egress_rules = spec
        .and_then(|s| s.get("egress"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    match spec
        .and_then(|s| s.get("policyTypes"))
        .and_then(Value::as_array)
    {
        Some(types) => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        None => (true, has_egress_rules),
    }
}

/// Whether a NetworkPolicy denies all of `direction` (`ingress` or
/// `egress`) to every pod in its namespace: it selects them all, isolates
/// them for that direction and has no rule for it.
fn denies_all(np: &Object, direction: &str) -> bool {
    let spec = np.value.get("spec");
    let sel = spec.and_then(|s| s.get("podSelector"));
    let selects_all = sel.and_then(Value::as_object).is_none_or(|m| {
        m.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
            && m.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    });
    let (ingress, egress) = policy_types(np);
    let isolates = if direction == "ingress" {
        ingress
    } else {
        egress
    };
    let no_rules = spec
        .and_then(|s| s.get(direction))
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    selects_all && isolates && no_rules
}

/// Splits an image reference into (tag, has a digest).
fn image_tag(image: &str) -> (Option<&str>, bool) {
    if image.contains('@') {
        return (None, true);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    (last.split_once(':').map(|(_, t)| t), false)
}

struct Ctx<'a> {
    obj: &'a Object,
    out: &'a mut Vec<K8sFinding>,
}

impl Ctx<'_> {
    fn add(&mut self, id: &str, container: Option<&str>, message: String) {
        let c = check(id);
        self.out.push(K8sFinding {
            check: c.id,
            severity: c.severity,
            kind: self.obj.kind.clone(),
            namespace: self.obj.namespace_or_name(),
            name: self.obj.name.clone(),
            container: container.map(str::to_string),
            message,
            remediation: c.remediation,
            file: self.obj.file_label(),
            document: self.obj.document,
        });
    }
}

/// Objects of one kind by namespace and by one label their selector
/// requires, so that what selects a pod is looked for among a few
/// candidates, not among every object: checking n pods stays linear in n.
struct BySelector<'a> {
    /// (namespace, label key, label value) -> objects whose selector
    /// requires that label (indexed under their first required label).
    keyed: HashMap<(&'a str, &'a str, &'a str), Vec<&'a Object>>,
    /// Per namespace, objects whose selector requires no plain label
    /// (empty, or expressions only): candidates for every pod there.
    rest: HashMap<&'a str, Vec<&'a Object>>,
}

impl<'a> BySelector<'a> {
    /// `labels` gives an object's required labels; `None` leaves it out
    /// (it selects nothing).
    fn new(
        objects: impl Iterator<Item = &'a Object>,
        labels: impl Fn(&'a Object) -> Option<Option<&'a Map<String, Value>>>,
    ) -> Self {
        let mut index = Self {
            keyed: HashMap::new(),
            rest: HashMap::new(),
        };
        for o in objects {
            let Some(required) = labels(o) else { continue };
            let first = required
                .and_then(|m| m.iter().next())
                .and_then(|(k, v)| Some((k.as_str(), v.as_str()?)));
            match first {
                Some((k, v)) => index
                    .keyed
                    .entry((o.namespace.as_str(), k, v))
                    .or_default()
                    .push(o),
                None => index.rest.entry(o.namespace.as_str()).or_default().push(o),
            }
        }
        index
    }

    /// The objects in `ns` that may select pods with these labels.
    fn candidates(
        &self,
        ns: &'a str,
        labels: Option<&'a Map<String, Value>>,
    ) -> impl Iterator<Item = &'a Object> + '_ {
        let keyed = labels.into_iter().flatten().flat_map(move |(k, v)| {
            v.as_str()
                .and_then(|v| self.keyed.get(&(ns, k.as_str(), v)))
                .into_iter()
                .flatten()
        });
        self.rest
            .get(ns)
            .into_iter()
            .flatten()
            .chain(keyed)
            .copied()
    }
}

/// Runs every check over a set of objects, in time linear in their number.
pub fn run(objects: &[Object]) -> Vec<K8sFinding> {
    let mut out = Vec::new();
    let policies = BySelector::new(objects.iter().filter(|o| o.kind == "NetworkPolicy"), |p| {
        Some(
            p.value
                .pointer("/spec/podSelector/matchLabels")
                .and_then(Value::as_object),
        )
    });
    let services = BySelector::new(objects.iter().filter(|o| o.kind == "Service"), |s| {
        // An empty or missing selector selects nothing.
        let sel = s
            .value
            .pointer("/spec/selector")
            .and_then(Value::as_object)?;
        (!sel.is_empty()).then_some(Some(sel))
    });
    let denied = |direction: &str| -> HashSet<&str> {
        objects
            .iter()
            .filter(|o| o.kind == "NetworkPolicy" && denies_all(o, direction))
            .map(|o| o.namespace.as_str())
            .collect()
    };
    let (denied_ingress, denied_egress) = (denied("ingress"), denied("egress"));
    // Service accounts that do not mount their token, by (namespace, name).
    let accounts: HashSet<(&str, &str)> = objects
        .iter()
        .filter(|o| {
            o.kind == "ServiceAccount"
                && o.value
                    .get("automountServiceAccountToken")
                    .and_then(Value::as_bool)
                    == Some(false)
        })
        .map(|o| (o.namespace.as_str(), o.name.as_str()))
        .collect();
    for o in objects.iter().filter(|o| !o.yaml11_booleans.is_empty()) {
        let spelled = o
            .yaml11_booleans
            .iter()
            .map(|b| format!("{}: {} (line {})", b.dotted(), b.text, b.line))
            .collect::<Vec<_>>()
            .join(", ");
        Ctx {
            obj: o,
            out: &mut out,
        }
        .add(
            "yaml-boolean",
            None,
            format!("{spelled}: booleans to Kubernetes (YAML 1.1), strings to YAML 1.2 tools"),
        );
    }
    let mut namespaces: Vec<(&str, &Object)> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for o in objects {
        let Some(spec) = o.pod_spec() else {
            if o.kind == "Namespace" && seen.insert(o.name.as_str()) {
                namespaces.push((o.name.as_str(), o));
            }
            continue;
        };
        if seen.insert(o.namespace.as_str()) {
            namespaces.push((o.namespace.as_str(), o));
        }
        let mut cx = Ctx {
            obj: o,
            out: &mut out,
        };
        pod_checks(&mut cx, spec, &accounts);
        let labels = o.pod_labels();
        let (ingress, egress) = policies
            .candidates(&o.namespace, labels)
            .filter(|p| selector_matches(p.value.pointer("/spec/podSelector"), labels))
            .map(policy_types)
            .fold((false, false), |(i, e), (pi, pe)| (i || pi, e || pe));
        let open = match (ingress, egress) {
            (true, true) => None,
            (false, false) => Some(format!(
                "no NetworkPolicy in namespace {} selects these pods: their ingress and egress are open",
                o.namespace
            )),
            (true, false) => Some(
                "the NetworkPolicies selecting these pods cover ingress only: their egress is open"
                    .to_string(),
            ),
            (false, true) => Some(
                "the NetworkPolicies selecting these pods cover egress only: their ingress is open"
                    .to_string(),
            ),
        };
        if let Some(message) = open {
            cx.add("network-policy", None, message);
        }
        let long_running = !matches!(o.kind.as_str(), "Job" | "CronJob");
        let targeted = services
            .candidates(&o.namespace, labels)
            .any(|s| service_selects(s, labels));
        let containers = list(spec, "containers");
        if targeted && !containers.iter().any(|c| c.get("readinessProbe").is_some()) {
            cx.add(
                "readiness-probe",
                None,
                "a Service sends traffic to these pods but no container has a readinessProbe"
                    .into(),
            );
        }
        if long_running {
            for c in &containers {
                if c.get("livenessProbe").is_none() {
                    cx.add("liveness-probe", Some(cname(c)), "no livenessProbe".into());
                }
            }
        }
    }
    // Namespaces: a default-deny policy each, for ingress and egress.
    for (ns, origin) in namespaces {
        let missing = match (denied_ingress.contains(ns), denied_egress.contains(ns)) {
            (true, true) => None,
            (false, false) => Some(format!(
                "namespace {ns} has no NetworkPolicy denying all ingress and egress by default"
            )),
            (true, false) => Some(format!(
                "namespace {ns} denies ingress by default but not egress"
            )),
            (false, true) => Some(format!(
                "namespace {ns} denies egress by default but not ingress"
            )),
        };
        if let Some(message) = missing {
            let file = origin.file_label();
            let c = check("default-deny");
            out.push(K8sFinding {
                check: c.id,
                severity: c.severity,
                kind: "Namespace".into(),
                namespace: ns.to_string(),
                name: ns.to_string(),
                container: None,
                message,
                remediation: c.remediation,
                file,
                document: if origin.kind == "Namespace" {
                    origin.document
                } else {
                    0
                },
            });
        }
    }
    out
}

fn list<'a>(spec: &'a Value, key: &str) -> Vec<&'a Value> {
    spec.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn cname(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or("?")
}

fn pod_checks(cx: &mut Ctx, spec: &Value, accounts: &HashSet<(&str, &str)>) {
    for (key, id, what) in [
        (
            "hostNetwork",
            "host-network",
            "the node's network namespace",
        ),
        ("hostPID", "host-pid", "the node's process namespace"),
        ("hostIPC", "host-ipc", "the node's IPC namespace"),
    ] {
        if truthy(spec.get(key)) {
            cx.add(id, None, format!("{key}: true shares {what}"));
        }
    }
    for v in list(spec, "volumes") {
        let Some(path) = v.pointer("/hostPath/path").and_then(Value::as_str) else {
            continue;
        };
        let vname = v.get("name").and_then(Value::as_str).unwrap_or("?");
        cx.add(
            "host-path",
            None,
            format!("volume {vname} mounts host path {path}"),
        );
        if RUNTIME_SOCKETS.contains(&path.trim_end_matches('/')) {
            cx.add(
                "docker-socket",
                None,
                format!("volume {vname} mounts the container runtime socket {path}"),
            );
        }
    }
    // The service account's own setting counts when the pod does not say.
    let sa = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let sa_off = accounts.contains(&(cx.obj.namespace.as_str(), sa));
    match spec.get("automountServiceAccountToken").and_then(Value::as_bool) {
        Some(false) => {}
        Some(true) => cx.add("sa-token-automount", None, "automountServiceAccountToken: true".into()),
        None if !sa_off => cx.add(
            "sa-token-automount",
            None,
            format!("the token of service account {sa} is mounted (automountServiceAccountToken is not false)"),
        ),
        None => {}
    }
    let pod_sc = spec.get("securityContext");
    for c in list(spec, "initContainers")
        .into_iter()
        .chain(list(spec, "containers"))
    {
        container_checks(cx, c, pod_sc);
    }
}

fn container_checks(cx: &mut Ctx, c: &Value, pod_sc: Option<&Value>) {
    let name = cname(c);
    let sc = c.get("securityContext");
    let get = |k: &str| sc.and_then(|s| s.get(k));
    let eff = |k: &str| get(k).or_else(|| pod_sc.and_then(|s| s.get(k)));
    if truthy(get("privileged")) {
        cx.add(
            "privileged",
            Some(name),
            "privileged: true gives the container every capability of the node".into(),
        );
    }
    if get("allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false) {
        cx.add(
            "privilege-escalation",
            Some(name),
            "allowPrivilegeEscalation is not false".into(),
        );
    }
    let uid = eff("runAsUser").and_then(Value::as_i64);
    if uid == Some(0) {
        cx.add(
            "run-as-root",
            Some(name),
            "runAsUser: 0 runs as root".into(),
        );
    } else if !(truthy(eff("runAsNonRoot")) || uid.is_some_and(|u| u > 0)) {
        cx.add("run-as-root", Some(name), "neither runAsNonRoot: true nor a non-zero runAsUser: the image's user (often root) applies".into());
    }
    if !truthy(get("readOnlyRootFilesystem")) {
        cx.add(
            "read-only-root-fs",
            Some(name),
            "readOnlyRootFilesystem is not true".into(),
        );
    }
    let caps = |k: &str| -> Vec<String> {
        sc.and_then(|s| s.pointer(&format!("/capabilities/{k}")))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| {
                        s.to_ascii_uppercase()
                            .trim_start_matches("CAP_")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let bad: Vec<String> = caps("add")
        .into_iter()
        .filter(|c| DANGEROUS_CAPS.contains(&c.as_str()))
        .collect();
    if !bad.is_empty() {
        cx.add(
            "dangerous-capabilities",
            Some(name),
            format!("adds {}", bad.join(", ")),
        );
    }
    if !caps("drop").iter().any(|c| c == "ALL") {
        cx.add(
            "capabilities-not-dropped",
            Some(name),
            "capabilities.drop does not include ALL".into(),
        );
    }
    let res = c.get("resources");
    for (path, id, what) in [
        ("/requests/cpu", "cpu-requests", "no CPU request"),
        ("/limits/cpu", "cpu-limits", "no CPU limit"),
        ("/requests/memory", "memory-requests", "no memory request"),
        ("/limits/memory", "memory-limits", "no memory limit"),
    ] {
        let set = res
            .and_then(|r| r.pointer(path))
            .is_some_and(|v| !v.is_null());
        if !set {
            cx.add(id, Some(name), what.into());
        }
    }
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    if !image.is_empty() {
        image_checks(cx, name, image, c);
    }
    for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
        let ename = e.get("name").and_then(Value::as_str).unwrap_or("");
        let value = e.get("value").and_then(Value::as_str).unwrap_or("");
        if value.trim().is_empty() {
            continue;
        }
        // By the value's look (a key or token under any name), else by the
        // name. The value itself is never repeated.
        let message = match super::secret_values::kind(value) {
            Some(kind) => format!("env {ename} holds {kind} as a literal value"),
            None if sensitive_name(ename) => format!("env {ename} holds a literal value"),
            None => continue,
        };
        cx.add("secret-in-env", Some(name), message);
    }
}

/// `image-tag` and `image-pull-policy` (a container without an image is
/// invalid, not a tagging problem: it is left to the API server).
fn image_checks(cx: &mut Ctx, name: &str, image: &str, c: &Value) {
    let (tag, digest) = image_tag(image);
    let floating = !digest && tag.is_none_or(|t| t == "latest");
    if floating {
        cx.add(
            "image-tag",
            Some(name),
            if tag.is_none() {
                format!("image {image} has no tag (means latest)")
            } else {
                format!("image {image} uses the latest tag")
            },
        );
    }
    let policy = c.get("imagePullPolicy").and_then(Value::as_str);
    let effective = policy.unwrap_or(if floating { "Always" } else { "IfNotPresent" });
    if effective != "Always" {
        cx.add(
            "image-pull-policy",
            Some(name),
            match policy {
                Some(p) => format!("imagePullPolicy: {p}"),
                None => {
                    "imagePullPolicy is not set; for a fixed tag it defaults to IfNotPresent".into()
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_are_unique_and_complete() {
        let mut ids: Vec<_> = CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
        assert_eq!(CHECKS.len(), 24);
    }

    #[test]
    fn selectors() {
        let labels: Map<String, Value> =
            serde_json::from_str(r#"{"app":"a","tier":"web"}"#).unwrap();
        let sel = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
        assert!(selector_matches(Some(&sel("{}")), Some(&labels)));
        assert!(selector_matches(
            Some(&sel(r#"{"matchLabels":{"app":"a"}}"#)),
            Some(&labels)
        ));
        assert!(!selector_matches(
            Some(&sel(r#"{"matchLabels":{"app":"b"}}"#)),
            Some(&labels)
        ));
        assert!(selector_matches(
            Some(&sel(
                r#"{"matchExpressions":[{"key":"tier","operator":"In","values":["web","db"]}]}"#
            )),
            Some(&labels)
        ));
        assert!(!selector_matches(
            Some(&sel(
                r#"{"matchExpressions":[{"key":"tier","operator":"DoesNotExist"}]}"#
            )),
            Some(&labels)
        ));
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("nginx"), (None, false));
        assert_eq!(image_tag("reg:5000/nginx"), (None, false));
        assert_eq!(image_tag("reg:5000/nginx:1.2"), (Some("1.2"), false));
        assert_eq!(image_tag("nginx@sha256:abc"), (None, true));
    }
}
