//! Deployments: one TOML spec file per deployment, in `deployments_dir`.
//! Isolation plans a namespace from each; compliance reads its `[data]`.
//!
//! A spec is read strictly: an unknown key, a wrong type, a bad name, a
//! rule naming a service the deployment does not have, or a port its
//! service does not listen on is an error naming the file, the line and the
//! key. Two files with one id are an error naming both.
//!
//! ```toml
//! id = "payments"                  # [a-z0-9-], at most 40 characters
//! owner = "team-payments"
//! environment = "prod"
//! [data]
//! personal_data = true
//! phi = false
//! card_data = true
//! retention_days = 365             # absent: no retention policy
//! consent_management = true
//! protection_measures = ["encryption-at-rest"]
//! [resources]                      # the namespace's quota
//! cpu = "4"
//! memory = "8Gi"
//! pods = 20
//! [[services]]
//! name = "api"
//! image = "registry.example/payments/api:1.4.2"
//! ports = [8080]
//! allow_from = [{ service = "web", port = 8080 }]
//! egress = [{ cidr = "203.0.113.0/24", port = 443 }]
//! ```

pub mod quantity;

use std::collections::{BTreeMap, HashSet};
use std::num::{NonZeroU16, NonZeroU32};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tomlpos::FileError;

/// Most characters of a deployment id (its namespace is `wf-<id>`).
pub const ID_MAX: usize = 40;

/// The namespace a deployment gets.
pub fn namespace_of(id: &str) -> String {
    format!("wf-{id}")
}

/// A deployment, checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Deployment {
    pub id: String,
    pub owner: String,
    pub environment: String,
    pub data: DataClasses,
    pub resources: Resources,
    pub services: Vec<Service>,
}

/// What data the deployment holds (read by compliance).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataClasses {
    pub personal_data: bool,
    pub phi: bool,
    pub card_data: bool,
    /// `None`: no retention policy.
    pub retention_days: Option<NonZeroU32>,
    #[serde(default)]
    pub consent_management: bool,
    #[serde(default)]
    pub protection_measures: Vec<String>,
}

/// The namespace's quota and its containers' defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    pub services: u32,
    pub secrets: u32,
    pub persistent_volume_claims: u32,
    pub load_balancers: u32,
    pub node_ports: u32,
    pub default_cpu_request: String,
    pub default_memory_request: String,
    pub default_cpu_limit: String,
    pub default_memory_limit: String,
}

/// Defaults of the keys `[resources]` may leave out.
pub mod defaults {
    pub const SECRETS: u32 = 10;
    pub const PERSISTENT_VOLUME_CLAIMS: u32 = 0;
    pub const LOAD_BALANCERS: u32 = 0;
    pub const NODE_PORTS: u32 = 0;
    pub const CPU_REQUEST: &str = "100m";
    pub const MEMORY_REQUEST: &str = "128Mi";
    pub const CPU_LIMIT: &str = "500m";
    pub const MEMORY_LIMIT: &str = "512Mi";
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    pub image: String,
    pub ports: Vec<u16>,
    pub allow_from: Vec<Peer>,
    pub egress: Vec<Peer>,
}

/// One end of an allowed connection and the port it is allowed on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Peer {
    #[serde(flatten)]
    pub target: Target,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Another service of the same deployment.
    Service(String),
    /// Every pod of a namespace, by name.
    Namespace(String),
    /// Addresses, in CIDR notation.
    Cidr(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Service(s) => write!(f, "service {s}"),
            Target::Namespace(n) => write!(f, "namespace {n}"),
            Target::Cidr(c) => write!(f, "{c}"),
        }
    }
}

/// The spec as written, with the places of what is checked after parsing.
mod raw {
    use std::num::{NonZeroU16, NonZeroU32};

    use serde::Deserialize;
    use toml::Spanned;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        pub id: Spanned<String>,
        pub owner: Spanned<String>,
        pub environment: Spanned<String>,
        pub data: super::DataClasses,
        pub resources: Resources,
        #[serde(default)]
        pub services: Vec<Service>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Resources {
        pub cpu: Spanned<String>,
        pub memory: Spanned<String>,
        pub pods: NonZeroU32,
        pub services: Option<u32>,
        pub secrets: Option<u32>,
        pub persistent_volume_claims: Option<u32>,
        pub load_balancers: Option<u32>,
        pub node_ports: Option<u32>,
        pub default_cpu_request: Option<Spanned<String>>,
        pub default_memory_request: Option<Spanned<String>>,
        pub default_cpu_limit: Option<Spanned<String>>,
        pub default_memory_limit: Option<Spanned<String>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Service {
        pub name: Spanned<String>,
        pub image: Spanned<String>,
        pub ports: Option<Spanned<Vec<NonZeroU16>>>,
        #[serde(default)]
        pub allow_from: Vec<Spanned<Peer>>,
        #[serde(default)]
        pub egress: Vec<Spanned<Peer>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Peer {
        pub service: Option<String>,
        pub namespace: Option<String>,
        pub cidr: Option<String>,
        pub port: NonZeroU16,
        pub protocol: Option<super::Protocol>,
    }
}

/// A DNS label (RFC 1123) of at most `max` characters: lowercase letters,
/// digits and `-`, starting and ending with a letter or digit.
fn dns_label(what: &str, s: &str, max: usize) -> Result<(), String> {
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends = !s.starts_with('-') && !s.ends_with('-');
    if s.is_empty() || s.len() > max || !ok_chars || !ends {
        return Err(format!(
            "{what} `{s}` must be 1 to {max} characters of a-z, 0-9 and `-`, \
             starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A CIDR as Kubernetes takes it in an ipBlock: an address and a prefix length.
fn cidr(s: &str) -> Result<(), String> {
    s.parse::<ipnet::IpNet>().map(|_| ()).map_err(|_| {
        format!("`{s}` is not a CIDR (an address and a prefix: 10.0.0.0/16, fd00::/8)")
    })
}

/// The key of the array a line sits in (`allow_from = [` above it).
fn array_key(src: &str, line: usize) -> Option<String> {
    src.lines()
        .take(line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|l| {
            let (key, rest) = l.split_once('=')?;
            let key = key.trim();
            let plain = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            (plain && rest.trim_start().starts_with('[')).then(|| key.to_string())
        })
}

/// Parses and checks one spec; errors name `path`, the line and the key.
pub fn parse(path: &Path, src: &str) -> Result<Deployment, FileError> {
    let spec: raw::Spec = toml::from_str(src).map_err(|e| {
        let mut e = FileError::from_toml(path, src, &e);
        // Inside a multi-line array, the key is the array's.
        if let (Some(line), Some(key)) = (e.line, &e.key)
            && !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            e.key = array_key(src, line);
        }
        e
    })?;
    let at = |span: std::ops::Range<usize>, key: &str, message: String| {
        FileError::new(path, message).key(key).at(src, span.start)
    };
    let text = |s: &toml::Spanned<String>, key: &str| -> Result<String, FileError> {
        let v = s.get_ref().trim();
        if v.is_empty() || v.chars().any(char::is_control) {
            return Err(at(
                s.span(),
                key,
                format!("`{key}` must be non-empty text on one line"),
            ));
        }
        Ok(v.to_string())
    };
    let id = spec.id.get_ref().clone();
    dns_label("the id", &id, ID_MAX).map_err(|m| at(spec.id.span(), "id", m))?;
    let owner = text(&spec.owner, "owner")?;
    let environment = text(&spec.environment, "environment")?;
    let data = spec.data;
    let mut measures = HashSet::new();
    for m in &data.protection_measures {
        if m.trim().is_empty() || !measures.insert(m.as_str()) {
            return Err(
                FileError::new(path, format!("`{m}` is empty or listed twice"))
                    .key("data.protection_measures"),
            );
        }
    }
    let resources = resources(spec.resources, spec.services.len(), &at)?;
    let services = services(spec.services, &at)?;
    Ok(Deployment {
        id,
        owner,
        environment,
        data,
        resources,
        services,
    })
}

type At<'a> = dyn Fn(std::ops::Range<usize>, &str, String) -> FileError + 'a;

/// A quantity of `[resources]`, with its key and where it was written
/// (`None`: the default).
struct Qty {
    key: &'static str,
    text: String,
    value: f64,
    span: Option<std::ops::Range<usize>>,
}

fn resources(r: raw::Resources, services: usize, at: &At) -> Result<Resources, FileError> {
    let qty = |s: Option<toml::Spanned<String>>, key: &'static str, default: &str| {
        let Some(s) = s else {
            let value = quantity::parse(default).unwrap_or(0.0);
            return Ok(Qty {
                key,
                text: default.to_string(),
                value,
                span: None,
            });
        };
        let value = quantity::parse(s.get_ref()).map_err(|m| at(s.span(), key, m))?;
        if value <= 0.0 {
            return Err(at(s.span(), key, format!("`{key}` must be more than 0")));
        }
        Ok(Qty {
            key,
            text: s.get_ref().clone(),
            value,
            span: Some(s.span()),
        })
    };
    let cpu = qty(Some(r.cpu), "cpu", "")?;
    let memory = qty(Some(r.memory), "memory", "")?;
    let cpu_request = qty(
        r.default_cpu_request,
        "default_cpu_request",
        defaults::CPU_REQUEST,
    )?;
    let memory_request = qty(
        r.default_memory_request,
        "default_memory_request",
        defaults::MEMORY_REQUEST,
    )?;
    let cpu_limit = qty(
        r.default_cpu_limit,
        "default_cpu_limit",
        defaults::CPU_LIMIT,
    )?;
    let memory_limit = qty(
        r.default_memory_limit,
        "default_memory_limit",
        defaults::MEMORY_LIMIT,
    )?;
    // A default that a pod cannot have would keep every pod from starting.
    for (small, big) in [
        (&cpu_request, &cpu_limit),
        (&memory_request, &memory_limit),
        (&cpu_limit, &cpu),
        (&memory_limit, &memory),
    ] {
        if small.value > big.value {
            let (place, key) = match &small.span {
                Some(s) => (s.clone(), small.key),
                None => (big.span.clone().unwrap_or(0..0), big.key),
            };
            let default = if small.span.is_none() {
                " (the default)"
            } else {
                ""
            };
            return Err(at(
                place,
                key,
                format!(
                    "{} = {}{default} is more than {} = {}: no pod could start",
                    small.key, small.text, big.key, big.text
                ),
            ));
        }
    }
    Ok(Resources {
        cpu: cpu.text,
        memory: memory.text,
        pods: r.pods.get(),
        services: r.services.unwrap_or(services as u32),
        secrets: r.secrets.unwrap_or(defaults::SECRETS),
        persistent_volume_claims: r
            .persistent_volume_claims
            .unwrap_or(defaults::PERSISTENT_VOLUME_CLAIMS),
        load_balancers: r.load_balancers.unwrap_or(defaults::LOAD_BALANCERS),
        node_ports: r.node_ports.unwrap_or(defaults::NODE_PORTS),
        default_cpu_request: cpu_request.text,
        default_memory_request: memory_request.text,
        default_cpu_limit: cpu_limit.text,
        default_memory_limit: memory_limit.text,
    })
}

fn services(raw: Vec<raw::Service>, at: &At) -> Result<Vec<Service>, FileError> {
    // Names and ports first: rules refer to them.
    let mut ports: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for s in &raw {
        let name = s.name.get_ref();
        dns_label("the service name", name, 63).map_err(|m| at(s.name.span(), "name", m))?;
        let list: Vec<u16> = s
            .ports
            .iter()
            .flat_map(|p| p.get_ref().iter().map(|p| p.get()))
            .collect();
        let mut seen = HashSet::new();
        if let (Some(p), Some(span)) = (
            list.iter().find(|p| !seen.insert(**p)),
            s.ports.as_ref().map(|p| p.span()),
        ) {
            return Err(at(span, "ports", format!("port {p} is listed twice")));
        }
        if ports.insert(name.clone(), list).is_some() {
            return Err(at(
                s.name.span(),
                "name",
                format!("service `{name}` is declared twice"),
            ));
        }
    }
    let mut out = Vec::new();
    for s in raw {
        let name = s.name.get_ref().clone();
        let image = s.image.get_ref().trim();
        if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(at(
                s.image.span(),
                "image",
                format!("service `{name}`: `image` must be an image reference without spaces"),
            ));
        }
        let own = &ports[&name];
        let allow_from = s
            .allow_from
            .into_iter()
            .map(|p| peer(p, &name, "allow_from", &ports, Some(own), at))
            .collect::<Result<Vec<_>, _>>()?;
        let egress = s
            .egress
            .into_iter()
            .map(|p| peer(p, &name, "egress", &ports, None, at))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Service {
            name,
            image: image.to_string(),
            ports: own.clone(),
            allow_from,
            egress,
        });
    }
    Ok(out)
}

/// Checks one rule's peer. `own`: the ports of the service a rule of
/// `allow_from` lets in (its port must be one of them); for `egress`, the
/// port of a service peer must be one of that service's.
fn peer(
    p: toml::Spanned<raw::Peer>,
    service: &str,
    key: &str,
    ports: &BTreeMap<String, Vec<u16>>,
    own: Option<&Vec<u16>>,
    at: &At,
) -> Result<Peer, FileError> {
    let span = p.span();
    let p = p.into_inner();
    let err = |m: String| at(span.clone(), key, format!("service `{service}`: {m}"));
    let port: NonZeroU16 = p.port;
    let port = port.get();
    let target = match (p.service, p.namespace, p.cidr) {
        (Some(s), None, None) => {
            let Some(listening) = ports.get(&s) else {
                return Err(err(format!(
                    "no service `{s}` in this deployment (a `service` peer is one of its own \
                     services; use `namespace` for another deployment's)"
                )));
            };
            if own.is_none() && !listening.contains(&port) {
                return Err(err(format!(
                    "service `{s}` does not listen on port {port} (its ports: {listening:?})"
                )));
            }
            Target::Service(s)
        }
        (None, Some(n), None) => {
            dns_label("the namespace", &n, 63).map_err(err)?;
            Target::Namespace(n)
        }
        (None, None, Some(c)) => {
            cidr(&c).map_err(err)?;
            Target::Cidr(c)
        }
        _ => {
            return Err(err(
                "a peer names exactly one of `service`, `namespace` or `cidr`".into(),
            ));
        }
    };
    if let Some(own) = own
        && !own.contains(&port)
    {
        return Err(err(format!(
            "port {port} is not one of this service's ports {own:?}"
        )));
    }
    Ok(Peer {
        target,
        port,
        protocol: p.protocol.unwrap_or(Protocol::Tcp),
    })
}

/// A spec and the file it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpecFile {
    pub path: PathBuf,
    pub spec: Deployment,
}

/// Every spec of a folder, sorted by id.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Catalog {
    pub dir: PathBuf,
    pub deployments: Vec<SpecFile>,
}

impl Catalog {
    pub fn get(&self, id: &str) -> Option<&SpecFile> {
        self.deployments.iter().find(|d| d.spec.id == id)
    }

    /// The deployment `id`, or an error listing the known ids.
    pub fn find(&self, id: &str) -> Result<&SpecFile, String> {
        self.get(id).ok_or_else(|| {
            let known: Vec<&str> = self
                .deployments
                .iter()
                .map(|d| d.spec.id.as_str())
                .collect();
            format!(
                "no deployment `{id}` in {} (known: {})",
                self.dir.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })
    }
}

/// Reads one spec file (at most [`crate::fsutil::CONFIG_CAP`] bytes).
pub fn read_file(path: &Path) -> Result<Deployment, FileError> {
    let bytes = crate::fsutil::read_capped(path, crate::fsutil::CONFIG_CAP, "a deployment spec")
        .map_err(|e| FileError::new(path, e.to_string()))?;
    let src = String::from_utf8(bytes).map_err(|_| FileError::new(path, "not UTF-8 text"))?;
    parse(path, &src)
}

/// Reads every `*.toml` in `dir` (not below it). A spec that cannot be read,
/// a symbolic link (never followed) and two specs with one id are errors;
/// all of them are returned, not only the first.
pub fn load_dir(dir: &Path) -> Result<Catalog, Vec<FileError>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![FileError::new(
            dir,
            format!(
                "cannot read the deployments folder: {e} (set deployments_dir in windflow.toml \
                 or pass --deployments DIR)"
            ),
        )]
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    let mut deployments: Vec<SpecFile> = Vec::new();
    for path in paths {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                errors.push(FileError::new(
                    &path,
                    "a symbolic link: deployment specs are never read through one \
                     (replace the link with the file)",
                ));
                continue;
            }
            Ok(m) if m.is_dir() => continue,
            _ => {}
        }
        match read_file(&path) {
            Ok(spec) => {
                if let Some(first) = deployments.iter().find(|d| d.spec.id == spec.id) {
                    errors.push(
                        FileError::new(
                            &path,
                            format!(
                                "id `{}` is also the id of {}: each deployment needs an id of its own",
                                spec.id,
                                first.path.display()
                            ),
                        )
                        .key("id"),
                    );
                } else {
                    deployments.push(SpecFile { path, spec });
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    deployments.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
    Ok(Catalog {
        dir: dir.to_path_buf(),
        deployments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "payments"
owner = "team-payments"
environment = "prod"
[data]
personal_data = true
phi = false
card_data = true
retention_days = 365
consent_management = true
protection_measures = ["encryption-at-rest", "pseudonymisation"]
[resources]
cpu = "4"
memory = "8Gi"
pods = 20
[[services]]
name = "api"
image = "registry.example/payments/api:1.4.2"
ports = [8080]
allow_from = [{ service = "web", port = 8080 }, { namespace = "ingress-nginx", port = 8080 }, { cidr = "10.20.0.0/16", port = 8080 }]
egress = [{ service = "db", port = 5432 }, { cidr = "203.0.113.0/24", port = 443 }]
[[services]]
name = "web"
image = "registry.example/payments/web:1.4.2"
ports = [8443]
[[services]]
name = "db"
image = "registry.example/payments/db:16"
ports = [5432]
"#;

    fn err(src: &str) -> String {
        parse(Path::new("/specs/p.toml"), src)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_issue_spec_parses_with_defaults() {
        let d = parse(Path::new("p.toml"), GOOD).unwrap();
        assert_eq!(d.id, "payments");
        assert!(d.data.card_data && !d.data.phi);
        assert_eq!(d.data.retention_days.map(|d| d.get()), Some(365));
        assert_eq!(d.resources.services, 3);
        assert_eq!(d.resources.secrets, defaults::SECRETS);
        let api = &d.services[0];
        assert_eq!(api.allow_from.len(), 3);
        assert_eq!(api.allow_from[0].target, Target::Service("web".into()));
        assert_eq!(api.egress[1].protocol, Protocol::Tcp);
        assert_eq!(namespace_of(&d.id), "wf-payments");
    }

    #[test]
    fn bad_specs_name_the_file_line_and_key() {
        let cases = [
            (
                GOOD.replace("pods = 20", "pods = 20\nquota = 1"),
                "line 16, key `quota`",
                "unknown field",
            ),
            (
                GOOD.replace("\"payments\"", "\"Payments!\""),
                "line 2, key `id`",
                "a-z, 0-9",
            ),
            (
                GOOD.replace("id = \"payments\"", &format!("id = \"{}\"", "a".repeat(41))),
                "line 2, key `id`",
                "1 to 40",
            ),
            (
                GOOD.replace("id = \"payments\"", "id = \"pay-\""),
                "line 2, key `id`",
                "ending with",
            ),
            (
                GOOD.replace("memory = \"8Gi\"", "memory = \"8GB\""),
                "line 14, key `memory`",
                "not a Kubernetes quantity",
            ),
            (
                GOOD.replace(
                    "service = \"web\", port = 8080",
                    "service = \"wbe\", port = 8080",
                ),
                "line 20, key `allow_from`",
                "no service `wbe`",
            ),
            (
                GOOD.replace(
                    "service = \"web\", port = 8080",
                    "service = \"web\", port = 9090",
                ),
                "line 20, key `allow_from`",
                "not one of this service's ports",
            ),
            (
                GOOD.replace("port = 5432 }", "port = 5433 }"),
                "line 21, key `egress`",
                "does not listen on port 5433",
            ),
            (
                GOOD.replace("cidr = \"10.20.0.0/16\"", "cidr = \"10.20.0.0/33\""),
                "line 20, key `allow_from`",
                "not a CIDR",
            ),
            (
                GOOD.replace(
                    "{ namespace = \"ingress-nginx\", port = 8080 }",
                    "{ namespace = \"x\", cidr = \"10.0.0.0/8\", port = 8080 }",
                ),
                "line 20, key `allow_from`",
                "exactly one of",
            ),
            (
                GOOD.replace("name = \"db\"", "name = \"web\""),
                "line 27, key `name`",
                "declared twice",
            ),
            (
                GOOD.replace("ports = [8080]", "ports = [0]"),
                "line 19, key `ports`",
                "nonzero",
            ),
            (
                GOOD.replace("phi = false\n", ""),
                "key `data`",
                "missing field `phi`",
            ),
            (
                GOOD.replace("pods = 20", "pods = 20\ndefault_cpu_limit = \"8\""),
                "key `default_cpu_limit`",
                "more than cpu",
            ),
            (
                GOOD.replace("owner = \"team-payments\"", "owner = \" \""),
                "line 3, key `owner`",
                "non-empty",
            ),
            (
                GOOD.replace(
                    "egress = [{ service = \"db\", port = 5432 }",
                    "egress = [\n  { service = \"db\", prot = 5432 }",
                ),
                "line 22, key `egress`",
                "unknown field `prot`",
            ),
        ];
        for (src, place, what) in cases {
            let e = err(&src);
            assert!(e.starts_with("/specs/p.toml"), "{e}");
            eprintln!("{e}");
            assert!(
                e.contains(place) && e.contains(what),
                "want {place} / {what}: {e}"
            );
        }
    }

    #[test]
    fn duplicate_ids_name_both_files_and_symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.toml"), GOOD).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a.toml"), dir.path().join("c.toml")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a spec").unwrap();
        let errors = load_dir(dir.path()).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{text:?}");
        assert!(
            text[0].contains("b.toml")
                && text[0].contains("a.toml")
                && text[0].contains("id `payments`"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains("c.toml") && text[1].contains("symbolic link"),
            "{}",
            text[1]
        );
        std::fs::remove_file(dir.path().join("b.toml")).unwrap();
        std::fs::remove_file(dir.path().join("c.toml")).unwrap();
        let catalog = load_dir(dir.path()).unwrap();
        assert_eq!(catalog.deployments.len(), 1);
        assert!(
            catalog
                .find("nope")
                .unwrap_err()
                .contains("known: payments")
        );
    }
}
