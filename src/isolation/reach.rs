//! Reachability: which pod can open a connection to which, on which ports,
//! as Kubernetes' NetworkPolicy semantics decide it.
//!
//! - A pod is isolated for ingress (egress) only when some policy in its
//!   namespace selects it and lists `Ingress` (`Egress`) in `policyTypes`.
//!   Without `policyTypes`, a policy has `Ingress`, and `Egress` only when
//!   it has egress rules. Pods with `hostNetwork` are never selected.
//! - A connection is allowed when the source's egress allows it (it is not
//!   isolated, or a rule of a policy selecting it matches the destination
//!   and the port) and the destination's ingress allows it likewise.
//! - In a rule, absent or empty `from`/`to` matches everyone and absent or
//!   empty `ports` every port. A peer with `namespaceSelector` and
//!   `podSelector` selects those pods in those namespaces (AND); separate
//!   peers add up (OR). A `podSelector` alone means the policy's namespace.
//!   An `ipBlock` matches pods by `status.podIP(s)`, minus `except`.
//! - Ports: protocol TCP by default; `endPort` makes a range; a named port
//!   is the destination container's port of that name and protocol.
//! - A pod always reaches itself (policies cannot block loopback).
//!
//! Built for size: pods are bit positions; labels index pods and
//! namespaces; each policy's selected pods and each rule's peers are
//! computed once as bit sets; each pod knows its policies and the union of
//! the peers they let through, so a pair is decided by two bit tests and
//! ports are only worked out for pairs that pass them.

use std::collections::HashMap;
use std::net::IpAddr;

use fixedbitset::FixedBitSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::plan::NAMESPACE_NAME_LABEL;
use super::ports::{self, PortSet};
use super::state::ClusterState;
use crate::deployments::Protocol;

/// Which way traffic goes, seen from a selected pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

struct PodInfo<'a> {
    namespace: &'a str,
    name: &'a str,
    ns: usize,
    host_network: bool,
    ips: Vec<IpAddr>,
    /// Named container ports: (name, protocol, port).
    named: Vec<(&'a str, Protocol, u16)>,
}

enum PortRef<'a> {
    Any,
    Range(u16, u16),
    Named(&'a str),
}

struct PortRule<'a> {
    protocol: Protocol,
    port: PortRef<'a>,
}

struct Rule<'a> {
    /// `None`: every source or destination.
    peers: Option<FixedBitSet>,
    /// `None`: every port (no `ports`, or an empty list). A list whose
    /// entries all made no sense is `Some(empty)`: no port.
    ports: Option<Vec<PortRule<'a>>>,
}

/// A rule's peers and ports, as written.
type RuleParts<'a> = (
    Option<&'a Vec<NetworkPolicyPeer>>,
    Option<&'a Vec<NetworkPolicyPort>>,
);

struct Compiled<'a> {
    name: &'a str,
    namespace: &'a str,
    selected: FixedBitSet,
    /// `Some` when the policy has this direction in its types.
    ingress: Option<Vec<Rule<'a>>>,
    egress: Option<Vec<Rule<'a>>>,
}

/// Label indexes over a set of objects (pods or namespaces): who has
/// `key=value`, who has `key`.
struct Index<'a> {
    size: usize,
    values: HashMap<&'a str, HashMap<&'a str, FixedBitSet>>,
    keys: HashMap<&'a str, FixedBitSet>,
}

impl<'a> Index<'a> {
    fn new(size: usize) -> Self {
        Self {
            size,
            values: HashMap::new(),
            keys: HashMap::new(),
        }
    }

    fn add(&mut self, bit: usize, key: &'a str, value: &'a str) {
        let size = self.size;
        self.values
            .entry(key)
            .or_default()
            .entry(value)
            .or_insert_with(|| FixedBitSet::with_capacity(size))
            .insert(bit);
        self.keys
            .entry(key)
            .or_insert_with(|| FixedBitSet::with_capacity(size))
            .insert(bit);
    }

    fn with(&self, key: &str, value: &str) -> Option<&FixedBitSet> {
        self.values.get(key)?.get(value)
    }

    /// The members of `scope` that `sel` selects (`{}` selects all).
    fn select(
        &self,
        sel: &LabelSelector,
        scope: &FixedBitSet,
        warnings: &mut Vec<String>,
    ) -> FixedBitSet {
        let mut out = scope.clone();
        for (k, v) in sel.match_labels.iter().flatten() {
            match self.with(k, v) {
                Some(set) => out.intersect_with(set),
                None => out.clear(),
            }
        }
        for e in sel.match_expressions.iter().flatten() {
            let mut any = FixedBitSet::with_capacity(self.size);
            for v in e.values.iter().flatten() {
                if let Some(set) = self.with(&e.key, v) {
                    any.union_with(set);
                }
            }
            let has = self.keys.get(e.key.as_str());
            match e.operator.as_str() {
                "In" => out.intersect_with(&any),
                "NotIn" => out.difference_with(&any),
                "Exists" => match has {
                    Some(set) => out.intersect_with(set),
                    None => out.clear(),
                },
                "DoesNotExist" => {
                    if let Some(set) = has {
                        out.difference_with(set);
                    }
                }
                other => {
                    warnings.push(format!(
                        "selector operator `{other}` is not one of In, NotIn, Exists, DoesNotExist"
                    ));
                    out.clear();
                }
            }
        }
        out
    }
}

/// The reachability of one state's pods.
pub struct Engine<'a> {
    pods: Vec<PodInfo<'a>>,
    by_name: HashMap<&'a str, HashMap<&'a str, usize>>,
    namespaces: Vec<&'a str>,
    ns_pods: Vec<FixedBitSet>,
    /// Pods that policies see (not `hostNetwork`).
    policy_pods: FixedBitSet,
    policies: Vec<Compiled<'a>>,
    /// Per pod: the policies isolating it, per direction.
    ingress_of: Vec<Vec<u32>>,
    egress_of: Vec<Vec<u32>>,
    /// Per isolated pod: the pods its policies let in (send to) on some port.
    ingress_from: Vec<Option<FixedBitSet>>,
    egress_to: Vec<Option<FixedBitSet>>,
    /// Per pod: every port its ingress (egress) could allow, whoever the
    /// other end (a named egress port counts as its whole protocol).
    ingress_ports: Vec<PortSet>,
    egress_ports: Vec<PortSet>,
    /// Parts of the state that make no sense to Kubernetes (an unknown
    /// selector operator, a bad CIDR), each read as allowing nothing.
    pub warnings: Vec<String>,
}

/// Why a direction allows what it allows.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub direction: Direction,
    /// Some policy selects the pod for this direction.
    pub isolated: bool,
    /// The policies that isolate it.
    pub isolated_by: Vec<String>,
    /// The policies whose rules match the other end, and the ports each allows.
    pub allowed_by: Vec<Allowed>,
    #[serde(serialize_with = "described")]
    pub ports: PortSet,
}

/// A policy that lets the other end through, and on which ports.
#[derive(Clone, Debug, Serialize)]
pub struct Allowed {
    pub policy: String,
    pub ports: Vec<String>,
}

/// The whole answer for one pair.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub from: String,
    pub to: String,
    /// A pod reaching itself (never blocked).
    pub loopback: bool,
    pub egress: Side,
    pub ingress: Side,
    #[serde(serialize_with = "described")]
    pub ports: PortSet,
}

fn described<S: serde::Serializer>(p: &PortSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.describe())
}

fn pod_ips(p: &Pod) -> Vec<IpAddr> {
    let Some(status) = &p.status else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|i| i.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .filter_map(|s| s.parse().ok())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

fn named_ports(p: &Pod) -> Vec<(&str, Protocol, u16)> {
    let Some(spec) = &p.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|cp| {
            Some((
                cp.name.as_deref()?,
                ports::protocol(cp.protocol.as_deref())?,
                u16::try_from(cp.container_port).ok()?,
            ))
        })
        .collect()
}

impl<'a> Engine<'a> {
    /// Indexes a state's pods, namespaces and policies.
    pub fn new(state: &'a ClusterState) -> Self {
        let mut warnings = Vec::new();
        // Namespaces: the declared ones, and any a pod or policy is in.
        let mut namespaces: Vec<&'a str> = Vec::new();
        let mut ns_by_name: HashMap<&'a str, usize> = HashMap::new();
        let mut ns_of = |name: &'a str, namespaces: &mut Vec<&'a str>| {
            *ns_by_name.entry(name).or_insert_with(|| {
                namespaces.push(name);
                namespaces.len() - 1
            })
        };
        let declared: Vec<usize> = state
            .namespaces
            .iter()
            .map(|n| {
                ns_of(
                    n.metadata.name.as_deref().unwrap_or_default(),
                    &mut namespaces,
                )
            })
            .collect();
        let mut pods = Vec::with_capacity(state.pods.len());
        let mut by_name: HashMap<&'a str, HashMap<&'a str, usize>> = HashMap::new();
        for p in &state.pods {
            let namespace = p.metadata.namespace.as_deref().unwrap_or("default");
            let name = p.metadata.name.as_deref().unwrap_or_default();
            let ns = ns_of(namespace, &mut namespaces);
            by_name
                .entry(namespace)
                .or_default()
                .insert(name, pods.len());
            pods.push(PodInfo {
                namespace,
                name,
                ns,
                host_network: p.spec.as_ref().and_then(|s| s.host_network) == Some(true),
                ips: pod_ips(p),
                named: named_ports(p),
            });
        }
        let policy_ns: Vec<usize> = state
            .policies
            .iter()
            .map(|np| {
                ns_of(
                    np.metadata.namespace.as_deref().unwrap_or("default"),
                    &mut namespaces,
                )
            })
            .collect();
        let n = pods.len();
        // Label indexes: pods by their labels, namespaces by theirs (and
        // by the name label the API server gives every namespace).
        let mut pod_index = Index::new(n);
        for (i, p) in state.pods.iter().enumerate() {
            for (k, v) in p.metadata.labels.iter().flatten() {
                pod_index.add(i, k, v);
            }
        }
        let mut ns_index = Index::new(namespaces.len());
        for (i, name) in namespaces.iter().enumerate() {
            ns_index.add(i, NAMESPACE_NAME_LABEL, name);
        }
        for (ns, idx) in state.namespaces.iter().zip(&declared) {
            for (k, v) in ns.metadata.labels.iter().flatten() {
                if k != NAMESPACE_NAME_LABEL {
                    ns_index.add(*idx, k, v);
                }
            }
        }
        let mut ns_pods = vec![FixedBitSet::with_capacity(n); namespaces.len()];
        let mut policy_pods = FixedBitSet::with_capacity(n);
        for (i, p) in pods.iter().enumerate() {
            ns_pods[p.ns].insert(i);
            policy_pods.set(i, !p.host_network);
        }
        let mut engine = Engine {
            pods,
            by_name,
            namespaces,
            ns_pods,
            policy_pods,
            policies: Vec::new(),
            ingress_of: vec![Vec::new(); n],
            egress_of: vec![Vec::new(); n],
            ingress_from: vec![None; n],
            egress_to: vec![None; n],
            ingress_ports: vec![PortSet::all(); n],
            egress_ports: vec![PortSet::all(); n],
            warnings: Vec::new(),
        };
        let all_namespaces = {
            let mut s = FixedBitSet::with_capacity(engine.namespaces.len());
            s.insert_range(..);
            s
        };
        for (np, ns) in state.policies.iter().zip(policy_ns) {
            if let Some(c) = engine.compile(
                np,
                ns,
                &pod_index,
                &ns_index,
                &all_namespaces,
                &mut warnings,
            ) {
                engine.policies.push(c);
            }
        }
        engine.warnings = warnings;
        engine.link();
        engine
    }

    fn compile(
        &self,
        np: &'a NetworkPolicy,
        ns: usize,
        pod_index: &Index,
        ns_index: &Index,
        all_namespaces: &FixedBitSet,
        warnings: &mut Vec<String>,
    ) -> Option<Compiled<'a>> {
        let name = np.metadata.name.as_deref().unwrap_or_default();
        let namespace = self.namespaces[ns];
        let Some(spec) = &np.spec else {
            warnings.push(format!(
                "NetworkPolicy {namespace}/{name} has no spec: ignored"
            ));
            return None;
        };
        // What the API server would refuse: such a policy is never
        // enforced, so it is left out (and reported).
        let mut problems = Vec::new();
        let mut own = self.ns_pods[ns].clone();
        own.intersect_with(&self.policy_pods);
        let selected = pod_index.select(
            &spec.pod_selector.clone().unwrap_or_default(),
            &own,
            &mut problems,
        );
        for t in spec.policy_types.iter().flatten() {
            if t != "Ingress" && t != "Egress" {
                problems.push(format!("policyType `{t}` is neither Ingress nor Egress"));
            }
        }
        let has_egress_rules = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
        let (ingress_type, egress_type) = match &spec.policy_types {
            Some(types) => (
                types.iter().any(|t| t == "Ingress"),
                types.iter().any(|t| t == "Egress"),
            ),
            None => (true, has_egress_rules),
        };
        let mut warn = |m: String| problems.push(m);
        let mut rules = |list: Vec<RuleParts<'a>>| -> Vec<Rule<'a>> {
            list.into_iter()
                .map(|(peers, ports)| Rule {
                    peers: peers.filter(|p| !p.is_empty()).map(|peers| {
                        let mut set = FixedBitSet::with_capacity(self.pods.len());
                        for peer in peers {
                            set.union_with(&self.peer(
                                peer,
                                ns,
                                pod_index,
                                ns_index,
                                all_namespaces,
                                &mut warn,
                            ));
                        }
                        set
                    }),
                    ports: ports.filter(|p| !p.is_empty()).map(|ports| {
                        ports
                            .iter()
                            .filter_map(|p| port_rule(p, &mut warn))
                            .collect()
                    }),
                })
                .collect()
        };
        // Both lists are checked, whatever the types say: the API server does.
        let ingress = rules(
            spec.ingress
                .iter()
                .flatten()
                .map(|r| (r.from.as_ref(), r.ports.as_ref()))
                .collect(),
        );
        let egress = rules(
            spec.egress
                .iter()
                .flatten()
                .map(|r| (r.to.as_ref(), r.ports.as_ref()))
                .collect(),
        );
        let (ingress, egress) = (
            ingress_type.then_some(ingress),
            egress_type.then_some(egress),
        );
        if !problems.is_empty() {
            warnings.push(format!(
                "NetworkPolicy {namespace}/{name} would be refused by the API server ({}): left out",
                problems.join("; ")
            ));
            return None;
        }
        Some(Compiled {
            name,
            namespace,
            selected,
            ingress,
            egress,
        })
    }

    /// The pods one peer names.
    fn peer(
        &self,
        peer: &NetworkPolicyPeer,
        ns: usize,
        pod_index: &Index,
        ns_index: &Index,
        all_namespaces: &FixedBitSet,
        warn: &mut dyn FnMut(String),
    ) -> FixedBitSet {
        let n = self.pods.len();
        let mut scratch = Vec::new();
        let set = match (&peer.ip_block, &peer.namespace_selector, &peer.pod_selector) {
            (Some(block), None, None) => {
                let parse = |c: &str| c.parse::<ipnet::IpNet>();
                let Ok(net) = parse(&block.cidr) else {
                    warn(format!("ipBlock cidr `{}` is not a CIDR", block.cidr));
                    return FixedBitSet::with_capacity(n);
                };
                let mut except = Vec::new();
                for e in block.except.iter().flatten() {
                    match parse(e) {
                        Ok(x) => except.push(x),
                        Err(_) => {
                            warn(format!("ipBlock except `{e}` is not a CIDR"));
                            return FixedBitSet::with_capacity(n);
                        }
                    }
                }
                let mut set = FixedBitSet::with_capacity(n);
                for (i, p) in self.pods.iter().enumerate() {
                    if p.ips
                        .iter()
                        .any(|ip| net.contains(ip) && !except.iter().any(|x| x.contains(ip)))
                    {
                        set.insert(i);
                    }
                }
                return set;
            }
            (Some(_), _, _) => {
                warn("a peer with ipBlock and a selector".into());
                return FixedBitSet::with_capacity(n);
            }
            (None, None, Some(pods)) => {
                let mut own = self.ns_pods[ns].clone();
                own.intersect_with(&self.policy_pods);
                pod_index.select(pods, &own, &mut scratch)
            }
            (None, Some(nss), pods) => {
                let mut scope = FixedBitSet::with_capacity(n);
                for i in ns_index.select(nss, all_namespaces, &mut scratch).ones() {
                    scope.union_with(&self.ns_pods[i]);
                }
                scope.intersect_with(&self.policy_pods);
                match pods {
                    Some(pods) => pod_index.select(pods, &scope, &mut scratch),
                    None => scope,
                }
            }
            (None, None, None) => {
                warn("an empty peer".into());
                return FixedBitSet::with_capacity(n);
            }
        };
        for w in scratch {
            warn(w);
        }
        set
    }

    /// Each pod's isolating policies, the union of the peers they let
    /// through and of the ports they could allow.
    fn link(&mut self) {
        let n = self.pods.len();
        let full = {
            let mut s = FixedBitSet::with_capacity(n);
            s.insert_range(..);
            s
        };
        for (pi, p) in self.policies.iter().enumerate() {
            for (rules, of, reach) in [
                (&p.ingress, &mut self.ingress_of, &mut self.ingress_from),
                (&p.egress, &mut self.egress_of, &mut self.egress_to),
            ] {
                let Some(rules) = rules else { continue };
                let mut peers = FixedBitSet::with_capacity(n);
                for r in rules {
                    match &r.peers {
                        Some(set) => peers.union_with(set),
                        None => peers.union_with(&full),
                    }
                }
                for pod in p.selected.ones() {
                    of[pod].push(pi as u32);
                    reach[pod]
                        .get_or_insert_with(|| FixedBitSet::with_capacity(n))
                        .union_with(&peers);
                }
            }
        }
        for pod in 0..n {
            if !self.ingress_of[pod].is_empty() {
                let mut bound = PortSet::none();
                for &pi in &self.ingress_of[pod] {
                    for r in self.policies[pi as usize]
                        .ingress
                        .as_deref()
                        .unwrap_or_default()
                    {
                        bound.union_with(&self.rule_ports(r, Some(pod)));
                    }
                }
                self.ingress_ports[pod] = bound;
            }
            if !self.egress_of[pod].is_empty() {
                let mut bound = PortSet::none();
                for &pi in &self.egress_of[pod] {
                    for r in self.policies[pi as usize]
                        .egress
                        .as_deref()
                        .unwrap_or_default()
                    {
                        bound.union_with(&self.rule_ports(r, None));
                    }
                }
                self.egress_ports[pod] = bound;
            }
        }
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// A pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<usize> {
        self.by_name.get(namespace)?.get(name).copied()
    }

    /// `namespace/name` of a pod.
    pub fn pod_name(&self, pod: usize) -> String {
        let p = &self.pods[pod];
        format!("{}/{}", p.namespace, p.name)
    }

    pub fn pod_namespace(&self, pod: usize) -> &str {
        self.pods[pod].namespace
    }

    /// The pods of a namespace, in the state's order.
    pub fn pods_in(&self, namespace: &str) -> Vec<usize> {
        (0..self.pods.len())
            .filter(|&i| self.pods[i].namespace == namespace)
            .collect()
    }

    /// The port number of `pod`'s container port `name` for `protocol`.
    pub fn named_port(&self, pod: usize, name: &str, protocol: Protocol) -> Option<u16> {
        self.pods[pod]
            .named
            .iter()
            .find(|(n, p, _)| *n == name && *p == protocol)
            .map(|(_, _, port)| *port)
    }

    /// Whether some policy isolates the pod for `direction`.
    pub fn isolated(&self, pod: usize, direction: Direction) -> bool {
        match direction {
            Direction::Ingress => self.ingress_from[pod].is_some(),
            Direction::Egress => self.egress_to[pod].is_some(),
        }
    }

    /// The ports a rule allows towards `dst` (named ports resolved on it;
    /// without `dst`, a named port stands for its whole protocol).
    fn rule_ports(&self, rule: &Rule, dst: Option<usize>) -> PortSet {
        let Some(ports) = &rule.ports else {
            return PortSet::all();
        };
        let mut out = PortSet::none();
        for r in ports {
            match r.port {
                PortRef::Any => out.union_with(&PortSet::protocol(r.protocol)),
                PortRef::Range(a, b) => out.union_with(&PortSet::range(r.protocol, a, b)),
                PortRef::Named(name) => match dst {
                    Some(dst) => {
                        for &(n, proto, port) in &self.pods[dst].named {
                            if n == name && proto == r.protocol {
                                out.union_with(&PortSet::port(proto, port));
                            }
                        }
                    }
                    None => out.union_with(&PortSet::protocol(r.protocol)),
                },
            }
        }
        out
    }

    /// One direction of `src -> dst`, seen from `pod` (dst for ingress, src
    /// for egress), and who decided it.
    fn side(&self, direction: Direction, src: usize, dst: usize, explain: bool) -> Side {
        let (pod, other, of) = match direction {
            Direction::Ingress => (dst, src, &self.ingress_of),
            Direction::Egress => (src, dst, &self.egress_of),
        };
        let mut side = Side {
            direction,
            isolated: !of[pod].is_empty(),
            isolated_by: Vec::new(),
            allowed_by: Vec::new(),
            ports: PortSet::none(),
        };
        if !side.isolated {
            side.ports = PortSet::all();
            return side;
        }
        for &pi in &of[pod] {
            let p = &self.policies[pi as usize];
            if explain {
                side.isolated_by.push(format!("{}/{}", p.namespace, p.name));
            }
            let rules = match direction {
                Direction::Ingress => p.ingress.as_deref(),
                Direction::Egress => p.egress.as_deref(),
            };
            let mut mine = PortSet::none();
            for r in rules.unwrap_or_default() {
                if r.peers.as_ref().is_none_or(|s| s.contains(other)) {
                    mine.union_with(&self.rule_ports(r, Some(dst)));
                }
            }
            if !mine.is_empty() {
                side.ports.union_with(&mine);
                if explain {
                    side.allowed_by.push(Allowed {
                        policy: format!("{}/{}", p.namespace, p.name),
                        ports: mine.describe(),
                    });
                }
            }
        }
        side
    }

    /// Quick test: could `src` reach `dst` on some port? (No false negative.)
    fn may_reach(&self, src: usize, dst: usize) -> bool {
        self.egress_to[src].as_ref().is_none_or(|s| s.contains(dst))
            && self.ingress_from[dst]
                .as_ref()
                .is_none_or(|s| s.contains(src))
            && self.egress_ports[src].intersects(&self.ingress_ports[dst])
    }

    /// The ports `src` can open connections to `dst` on.
    pub fn ports(&self, src: usize, dst: usize) -> PortSet {
        if src == dst {
            return PortSet::all();
        }
        if !self.may_reach(src, dst) {
            return PortSet::none();
        }
        let egress = self.side(Direction::Egress, src, dst, false).ports;
        if egress.is_empty() {
            return egress;
        }
        egress.intersect(&self.side(Direction::Ingress, src, dst, false).ports)
    }

    /// The ports `src` reaches `dst` on, and the policies that decided it.
    pub fn explain(&self, src: usize, dst: usize) -> Explanation {
        let egress = self.side(Direction::Egress, src, dst, true);
        let ingress = self.side(Direction::Ingress, src, dst, true);
        let loopback = src == dst;
        let ports = if loopback {
            PortSet::all()
        } else {
            egress.ports.intersect(&ingress.ports)
        };
        Explanation {
            from: self.pod_name(src),
            to: self.pod_name(dst),
            loopback,
            egress,
            ingress,
            ports,
        }
    }

    /// Calls `f(src, dst, ports)` for every pair of `sources` x `targets`
    /// with some port open (a pod and itself left out), by source, then by
    /// destination in the state's order. A source's candidates are the
    /// targets its egress lets through (one bit-set intersection), so an
    /// isolated cluster costs little more than its open pairs.
    pub fn for_each_allowed(
        &self,
        sources: &[usize],
        targets: &[usize],
        mut f: impl FnMut(usize, usize, PortSet),
    ) {
        let n = self.pods.len();
        let mut wanted = FixedBitSet::with_capacity(n);
        for &d in targets {
            wanted.insert(d);
        }
        let mut candidates = FixedBitSet::with_capacity(n);
        for &s in sources {
            match &self.egress_to[s] {
                Some(reach) => {
                    candidates.clone_from(reach);
                    candidates.intersect_with(&wanted);
                }
                None => candidates.clone_from(&wanted),
            }
            candidates.set(s, false);
            for d in candidates.ones() {
                if self.ingress_from[d].as_ref().is_none_or(|i| i.contains(s))
                    && self.egress_ports[s].intersects(&self.ingress_ports[d])
                {
                    let ports = self.ports(s, d);
                    if !ports.is_empty() {
                        f(s, d, ports);
                    }
                }
            }
        }
    }
}

/// One `ports` entry of a rule; `None` (with a warning) when it makes no sense.
fn port_rule<'a>(p: &'a NetworkPolicyPort, warn: &mut dyn FnMut(String)) -> Option<PortRule<'a>> {
    let Some(protocol) = ports::protocol(p.protocol.as_deref()) else {
        warn(format!(
            "protocol `{}` is not TCP, UDP or SCTP",
            p.protocol.as_deref().unwrap_or_default()
        ));
        return None;
    };
    let in_range = |n: i32| u16::try_from(n).ok().filter(|n| *n > 0);
    let port = match (&p.port, p.end_port) {
        (None, None) => PortRef::Any,
        (None, Some(_)) => {
            warn("endPort without port".into());
            return None;
        }
        (Some(IntOrString::Int(a)), end) => {
            let (Some(a), Some(b)) = (in_range(*a), in_range(end.unwrap_or(*a))) else {
                warn(format!("port {a} or its endPort is not 1 to 65535"));
                return None;
            };
            if b < a {
                warn(format!("endPort {b} is below port {a}"));
                return None;
            }
            PortRef::Range(a, b)
        }
        (Some(IntOrString::String(name)), None) => PortRef::Named(name),
        (Some(IntOrString::String(name)), Some(_)) => {
            warn(format!("endPort with the named port `{name}`"));
            return None;
        }
    };
    Some(PortRule { protocol, port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A policy the API server would refuse is never enforced: it is left
    /// out, and reported.
    #[test]
    fn policies_the_api_server_would_refuse_are_left_out_and_reported() {
        let pod = |name: &str| {
            serde_json::from_value::<Pod>(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "n", "labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 80}]}]},
                "status": {"podIP": "10.0.0.1"},
            }))
            .unwrap()
        };
        let policy = |ingress: serde_json::Value| {
            serde_json::from_value::<NetworkPolicy>(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "p", "namespace": "n"},
                "spec": {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": ingress},
            }))
            .unwrap()
        };
        for (rule, warning) in [
            (
                json!([{"from": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "Like"}]}}]}]),
                "operator `Like`",
            ),
            (
                json!([{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]),
                "not a CIDR",
            ),
            (
                json!([{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]),
                "ipBlock and a selector",
            ),
            (json!([{"from": [{}]}]), "empty peer"),
            (
                json!([{"ports": [{"port": "http", "endPort": 90}]}]),
                "endPort with the named port",
            ),
            (
                json!([{"ports": [{"port": 80, "protocol": "ICMP"}]}]),
                "protocol `ICMP`",
            ),
            (
                json!([{"ports": [{"port": 90, "endPort": 80}]}]),
                "endPort 80 is below port 90",
            ),
        ] {
            let state = ClusterState {
                pods: vec![pod("a"), pod("b")],
                policies: vec![policy(rule.clone())],
                ..ClusterState::default()
            };
            let e = Engine::new(&state);
            assert_eq!(e.warnings.len(), 1, "{rule}");
            let w = &e.warnings[0];
            assert!(
                w.contains(warning) && w.ends_with("left out"),
                "{rule}: {w}"
            );
            assert!(!e.isolated(1, Direction::Ingress), "{rule}");
            assert!(e.ports(0, 1).is_all(), "{rule}: {}", e.ports(0, 1));
        }
    }
}
