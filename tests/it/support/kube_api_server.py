"""A Kubernetes API server for the isolation tests. It is a FAKE: no
kube-apiserver can be installed on the machines the tests run on (no Debian
or PyPI package ships one). It implements, with Kubernetes' own wire formats,
the part of the API that WindFlow (kube::Client) and kubectl use for
isolation, and kubectl runs against it unchanged:

- discovery: /version, /api, /api/v1, /apis, /apis/networking.k8s.io/v1
  (the legacy documents; kubectl falls back to them from aggregated
  discovery), and as much of /openapi/v3 as tells kubectl that PATCH
  takes fieldValidation (so kubectl leaves validation to the server);
- namespaces, pods, resourcequotas, limitranges (v1) and networkpolicies
  (networking.k8s.io/v1): get, list (labelSelector; fieldSelector on
  metadata.name and metadata.namespace), create (POST), delete, merge patch,
  and server-side apply (PATCH application/apply-patch+yaml with fieldManager
  and force) with metadata.managedFields per manager (FieldsV1, Apply and
  Update entries), conflicts with other managers' fields as 409 Status bodies
  naming them, dryRun=All;
- the official Kubernetes 1.34 schemas (from kubernetes-validate, PyPI):
  apply refuses unknown fields, create and merge patch refuse them with
  fieldValidation=Strict and drop them with a Warning header otherwise;
  anything else the schema refuses is 422 Invalid;
- 401/403/404/409/422 as Status objects, resourceVersion from one counter
  bumped per write (not by writes that change nothing), uid,
  creationTimestamp, generation (NetworkPolicy);
- NamespaceLifecycle: nothing is created in a namespace that does not exist
  (404), dry run included;
- a Table (Name, Created At: the columns of the real server's default
  converter) when the client asks for one, as kubectl get does;
- optional bearer tokens (--token TOKEN:USER:rw|ro): a missing or unknown
  token gets 401, a read-only user's writes 403 in RBAC's wording.

Not there (an error says so where a client could ask): watch, update (PUT),
strategic-merge and JSON patches, protobuf, subresources, admission beyond
NamespaceLifecycle, and controllers: a namespace and its objects go at once
on delete, a quota's status counts only pods, Pods never run. Defaults are
the few isolation reads: NetworkPolicy podSelector {}, policyTypes and port
protocol TCP; Namespace finalizer, phase Active and the
kubernetes.io/metadata.name label; Pod restartPolicy, dnsPolicy and phase
Pending. Every list of these kinds is atomic for apply except a Pod's
containers and initContainers (keyed by name).

Prints `READY <port>` once it listens, then one JSON line per request,
written before the request is answered; GET /windflow-test/barrier?ID
(not Kubernetes) logs a barrier line, so that a test knows every request
answered before it is in the log.
"""

import argparse
import copy
import datetime
import json
import re
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import yaml
from kubernetes_validate import utils as k8s_schemas
from referencing import Registry, Resource

OUT = threading.Lock()


def say(obj):
    with OUT:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


# ------------------------------------------------------------------ kinds


class Kind:
    def __init__(self, group, version, plural, kind, namespaced, short):
        self.group, self.version, self.plural = group, version, plural
        self.kind, self.namespaced, self.short = kind, namespaced, short

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):
        """The resource as errors name it: `networkpolicies.networking.k8s.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self):
        return {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            # Only what this server implements.
            "verbs": ["create", "delete", "get", "list", "patch"],
            "shortNames": self.short,
        }


KINDS = [
    Kind("", "v1", "namespaces", "Namespace", False, ["ns"]),
    Kind("", "v1", "pods", "Pod", True, ["po"]),
    Kind("", "v1", "resourcequotas", "ResourceQuota", True, ["quota"]),
    Kind("", "v1", "limitranges", "LimitRange", True, ["limits"]),
    Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ["netpol"]),
]
BY_PATH = {(k.group, k.version, k.plural): k for k in KINDS}
NAMESPACES = BY_PATH[("", "v1", "namespaces")]

# Associative lists (merged by key on apply); every other list is atomic.
KEYED = {("spec", "containers"): ("name",), ("spec", "initContainers"): ("name",)}

# Fields no manager owns: identity and server-set metadata, and status.
IGNORED_META = {
    "name", "namespace", "uid", "resourceVersion", "generation",
    "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp",
}

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An answer as a metav1.Status."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(kind, name):
    return ApiError(404, "NotFound", f'{kind.qualified} "{name}" not found',
                    {"name": name, "group": kind.group, "kind": kind.plural})


def bad_request(message):
    return ApiError(400, "BadRequest", message)


# ------------------------------------------------------------------ field sets
#
# A path is a tuple of elements: ("f", name) for a field, ("k", key-json) for
# an item of a keyed list, (".", "") for such an item itself. FieldsV1 is the
# same set as a tree: {"f:spec": {"f:podSelector": {}}}.


def names_of(path):
    return tuple(e[1] for e in path if e[0] == "f")


def item_key(item, keys):
    return json.dumps({k: item.get(k) for k in keys}, separators=(",", ":"), sort_keys=True)


def field_set(value, path=()):
    out = set()
    if isinstance(value, dict) and value:
        for k, v in value.items():
            if v is not None:
                out |= field_set(v, path + (("f", k),))
    elif isinstance(value, list) and names_of(path) in KEYED:
        keys = KEYED[names_of(path)]
        for item in value:
            ip = path + (("k", item_key(item, keys)),)
            out.add(ip + ((".", ""),))
            out |= field_set({k: v for k, v in item.items()}, ip) - {ip}
    else:
        out.add(path)
    return out


def owned_fields(obj):
    """The fields of `obj` a manager can own: not identity, not status."""
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in IGNORED_META}
    if meta:
        body["metadata"] = meta
    else:
        body.pop("metadata", None)
    return field_set(body)


def to_fields_v1(paths):
    tree = {}
    for path in sorted(paths):
        node = tree
        for kind, name in path:
            node = node.setdefault("." if kind == "." else f"{kind}:{name}", {})
    return tree


def from_fields_v1(tree, path=()):
    out = set()
    for key, sub in tree.items():
        if key == ".":
            out.add(path + ((".", ""),))
            continue
        kind, _, name = key.partition(":")
        p = path + ((kind, name),)
        if sub:
            out |= from_fields_v1(sub, p)
        else:
            out.add(p)
    return out


def path_string(path):
    """A path as the real server prints it in conflicts: `.spec.ingress`, `.spec.containers[name="api"]`."""
    s = ""
    for kind, name in path:
        if kind == "f":
            s += "." + name
        elif kind == "k":
            s += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(name).items()) + "]"
    return s


MISSING = object()


def lookup(obj, path):
    node = obj
    for kind, name in path:
        if kind == ".":
            return node
        if kind == "f":
            if not isinstance(node, dict) or name not in node:
                return MISSING
            node = node[name]
        else:
            want = json.loads(name)
            if not isinstance(node, list):
                return MISSING
            match = [i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())]
            if not match:
                return MISSING
            node = match[0]
    return node


def remove(obj, path):
    """Removes the field at `path` (an item's "." removes the item), then any
    map it leaves empty below the top level."""
    if path and path[-1][0] == ".":
        parent = lookup(obj, path[:-2])
        item = lookup(obj, path[:-1])
        if isinstance(parent, list) and item is not MISSING:
            parent.remove(item)
        return
    parent = lookup(obj, path[:-1])
    if isinstance(parent, dict) and path and path[-1][0] == "f":
        parent.pop(path[-1][1], None)
        if not parent and len(path) > 2:
            remove(obj, path[:-1])


def merge(live, applied, path=()):
    """`applied` over `live`: maps merge, keyed lists merge by key, other values replace."""
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for k, v in applied.items():
            if v is None:
                continue
            out[k] = merge(live[k], v, path + (k,)) if k in live else copy.deepcopy(v)
        return out
    if isinstance(live, list) and isinstance(applied, list) and path[-2:] in KEYED:
        keys = KEYED[path[-2:]]
        out = list(live)
        for item in applied:
            at = [i for i, cur in enumerate(out) if item_key(cur, keys) == item_key(item, keys)]
            if at:
                out[at[0]] = merge(out[at[0]], item, path)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(applied)


# ------------------------------------------------------------------ defaults, validation


def default(kind, obj):
    meta = obj.setdefault("metadata", {})
    spec = obj.get("spec")
    if kind.kind == "NetworkPolicy":
        spec = obj.setdefault("spec", {})
        spec.setdefault("podSelector", {})
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                for port in rule.get("ports") or []:
                    port.setdefault("protocol", "TCP")
    elif kind.kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif kind.kind == "Pod" and isinstance(spec, dict):
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        obj.setdefault("status", {"phase": "Pending"})
    return obj


def validate(kind, obj):
    name = obj["metadata"].get("name", "")
    causes = []
    pattern = DNS_LABEL if kind.kind == "Namespace" else DNS_SUBDOMAIN
    if not pattern.match(name) or len(name) > (63 if kind.kind == "Namespace" else 253):
        causes.append(("metadata.name", "FieldValueInvalid",
                       f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case '
                       "alphanumeric characters or '-', and must start and end with an alphanumeric character"))
    if kind.kind == "NetworkPolicy":
        spec = obj.get("spec") or {}
        for i, t in enumerate(spec.get("policyTypes") or []):
            if t not in ("Ingress", "Egress"):
                causes.append((f"spec.policyTypes[{i}]", "FieldValueNotSupported",
                               f'Unsupported value: "{t}": supported values: "Egress", "Ingress"'))
        for direction in ("ingress", "egress"):
            for i, rule in enumerate(spec.get(direction) or []):
                for j, port in enumerate(rule.get("ports") or []):
                    if port.get("protocol") not in ("TCP", "UDP", "SCTP"):
                        causes.append((f"spec.{direction}[{i}].ports[{j}].protocol", "FieldValueNotSupported",
                                       f'Unsupported value: "{port.get("protocol")}": supported values: "SCTP", "TCP", "UDP"'))
    if kind.kind == "Pod":
        if not (obj.get("spec") or {}).get("containers"):
            causes.append(("spec.containers", "FieldValueRequired", "Required value"))
    if causes:
        group = f".{kind.group}" if kind.group else ""
        message = f'{kind.kind}{group} "{name}" is invalid: ' + ", ".join(f"{f}: {m}" for f, _, m in causes)
        raise ApiError(422, "Invalid", message, {
            "name": name, "group": kind.group, "kind": kind.kind,
            "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes],
        })


# ------------------------------------------------------------------ schemas
#
# The official Kubernetes 1.34 schemas, as kubernetes-validate (PyPI) ships
# them: unknown fields are refused or dropped as the real server does, and
# the rest is checked against the schema.

SCHEMA_DIR = "kubernetes-json-schema/v1.34.0-local-strict"
VALIDATORS = {}


def validator(kind):
    if kind.kind not in VALIDATORS:
        suffix = f"{kind.group.split('.')[0]}-{kind.version}" if kind.group else kind.version
        schema = k8s_schemas.schema_contents(f"{SCHEMA_DIR}/{kind.kind.lower()}-{suffix}.json", "1.34.0")
        defs = k8s_schemas.schema_contents(f"{SCHEMA_DIR}/_definitions.json", "1.34.0")
        registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
        VALIDATORS[kind.kind] = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return VALIDATORS[kind.kind]


def unknown_fields(kind, obj):
    """The fields of `obj` its schema does not declare, as (parent path, key)."""
    out = []
    for e in validator(kind).iter_errors(obj):
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            declared = e.schema.get("properties") or {}
            out += [(list(e.absolute_path), k) for k in e.instance if k not in declared]
    return out


def dotted(parent, key):
    return ".".join(str(p) for p in parent + [key])


def check_schema(kind, obj, name):
    """422 for what the schema refuses (unknown fields are handled before)."""
    errors = [e for e in validator(kind).iter_errors(obj) if e.validator != "additionalProperties"]
    if errors:
        causes = [{"reason": "FieldValueInvalid", "message": e.message,
                   "field": ".".join(str(p) for p in e.absolute_path)} for e in errors]
        group = f".{kind.group}" if kind.group else ""
        message = f'{kind.kind}{group} "{name}" is invalid: ' + ", ".join(f"{c['field']}: {c['message']}" for c in causes)
        raise ApiError(422, "Invalid", message, {"name": name, "group": kind.group, "kind": kind.kind, "causes": causes})


def drop_unknown(kind, obj, strict, name, applying):
    """Unknown fields: apply refuses them always (as the real server's typed
    patch does); create and merge patch refuse them with
    fieldValidation=Strict and drop them otherwise (returns the warnings)."""
    found = unknown_fields(kind, obj)
    if not found:
        return []
    if applying:
        ns = obj["metadata"].get("namespace")
        where = f"{ns}/{name}" if ns else name
        paths = ", ".join("." + dotted(p, k) for p, k in found)
        raise bad_request(f"failed to create typed patch object ({where}; {kind.api_version}, Kind={kind.kind}): "
                          f"{paths}: field not declared in schema")
    if strict:
        raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{dotted(p, k)}"' for p, k in found))
    for parent, key in found:
        node = obj
        for p in parent:
            node = node[p]
        node.pop(key, None)
    return [f'unknown field "{dotted(p, k)}"' for p, k in found]


# ------------------------------------------------------------------ the store


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}  # (plural, namespace or "", name) -> object
        self.revision = 1

    def bump(self):
        self.revision += 1
        return str(self.revision)

    def live(self, kind, ns, name):
        return self.objects.get((kind.plural, ns or "", name))

    def require_namespace(self, kind, ns):
        if kind.namespaced and ("namespaces", "", ns) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})

    def decorate(self, kind, obj):
        """A stored object as the server returns it (a quota's status is computed)."""
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        if kind.kind == "ResourceQuota":
            hard = (obj.get("spec") or {}).get("hard") or {}
            ns = obj["metadata"].get("namespace")
            pods = sum(1 for (p, n, _) in self.objects if p == "pods" and n == ns)
            used = {k: str(pods) for k in hard if k in ("pods", "count/pods")}
            obj["status"] = {"hard": hard, "used": used}
        return obj

    def finish(self, kind, ns, name, obj, live, managers, dry_run):
        """Validates and stores `obj` (unless a dry run); returns it as answered."""
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        if kind.namespaced:
            meta["namespace"] = ns
        default(kind, obj)
        validate(kind, obj)
        check_schema(kind, self.decorate(kind, obj), name)
        managed = [m for m in managers if m["paths"]]
        meta["managedFields"] = [
            {k: v for k, v in m.items() if k != "paths"} | {"fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(m["paths"])}
            for m in managed
        ]
        if live is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            if kind.kind == "NetworkPolicy":
                meta["generation"] = 1
        else:
            for k in ("uid", "creationTimestamp", "generation", "resourceVersion"):
                if k in live["metadata"]:
                    meta[k] = live["metadata"][k]
            if kind.kind == "NetworkPolicy" and obj.get("spec") != live.get("spec"):
                meta["generation"] = live["metadata"].get("generation", 1) + 1
        if live is not None and strip_server(obj) == strip_server(live):
            # Nothing changed: no new resourceVersion, nothing written.
            return self.decorate(kind, live)
        if not dry_run:
            meta["resourceVersion"] = self.bump()
            self.objects[(kind.plural, ns or "", name)] = obj
        return self.decorate(kind, obj)


def strip_server(obj):
    """An object without what the server sets per write, for "did anything change"."""
    o = copy.deepcopy(obj)
    for k in ("resourceVersion", "generation"):
        o["metadata"].pop(k, None)
    for m in o["metadata"].get("managedFields") or []:
        m.pop("time", None)
    return o


def managers_of(obj):
    out = []
    for m in (obj or {}).get("metadata", {}).get("managedFields") or []:
        entry = {k: v for k, v in m.items() if k not in ("fieldsType", "fieldsV1")}
        entry["paths"] = from_fields_v1(m.get("fieldsV1") or {})
        out.append(entry)
    return out


def manager_label(m):
    """How the real server names a manager in a conflict."""
    if m.get("operation") == "Update":
        return f'"{m["manager"]}" using {m["apiVersion"]}'
    return f'"{m["manager"]}"'


def record_update(managers, manager, api_version, before, after):
    """An Update operation by `manager`: it owns what it changed; others lose it."""
    old = owned_fields(before) if before else set()
    new = owned_fields(after)
    changed = {p for p in new if lookup(before or {}, p) != lookup(after, p)}
    gone = old - new
    for m in managers:
        m["paths"] -= changed | gone
    mine = [m for m in managers if m["manager"] == manager and m["operation"] == "Update"]
    if mine:
        mine[0]["paths"] |= changed
        mine[0]["time"] = now()
    else:
        managers.append({"manager": manager, "operation": "Update", "apiVersion": api_version,
                         "time": now(), "paths": changed})
    return managers


STORE = Store()
TOKENS = {}  # token -> (user, writable)


# ------------------------------------------------------------------ label selectors

SELECTOR_TERM = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<nkey>[^\s,!=()]+)"
    r"|(?P<key>[^\s,!=()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<val>[^\s,()]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?)\s*$"
)


def parse_selector(text):
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    terms.append(cur)
    out = []
    for term in terms:
        if not term.strip():
            continue
        m = SELECTOR_TERM.match(term)
        if not m:
            raise bad_request(f"unable to parse requirement: found '{term.strip()}'")
        if m["not"]:
            out.append(("!", m["nkey"], None))
        elif m["op"]:
            out.append(("!=" if m["op"] == "!=" else "=", m["key"], m["val"]))
        elif m["setop"]:
            out.append((m["setop"], m["key"], {v.strip() for v in m["set"].split(",") if v.strip()}))
        else:
            out.append(("exists", m["key"], None))
    return out


def selects(terms, labels):
    for op, key, val in terms:
        have = labels.get(key)
        ok = {
            "=": have == val,
            "!=": have != val,
            "in": have in (val or ()),
            "notin": have not in (val or ()),
            "exists": key in labels,
            "!": key not in labels,
        }[op]
        if not ok:
            return False
    return True


# ------------------------------------------------------------------ HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # and the client's delayed ACK hold every answer back by 40 ms.
    disable_nagle_algorithm = True
    server_version = "windflow-fake-kube-apiserver"

    def log_message(self, *args):
        pass

    def reply(self, code, body, content_type="application/json"):
        """Keeps the answer until the request is logged (see handle_any)."""
        self.answer_out = (code, json.dumps(body).encode(), content_type)
        return code

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.warnings = []
        if url.path == "/windflow-test/barrier":
            # Not Kubernetes: the tests' way to know every earlier request is logged.
            say({"event": "barrier", "id": url.query})
            code = self.reply(200, {})
        else:
            try:
                user = self.authenticate()
                code = self.route(method, url.path, {k: v[-1] for k, v in query.items()}, body, user)
            except ApiError as e:
                code = self.reply(e.code, e.status())
            except Exception as e:  # a bug here must show as one, never as success
                code = self.reply(500, ApiError(500, "InternalError", f"test server bug: {e!r}").status())
            # Logged before it is answered: a client that has its answer can
            # find the request in the log (behind a later barrier).
            say({
                "event": "request", "method": method, "path": url.path, "query": url.query,
                "content_type": self.headers.get("Content-Type"), "accept": self.headers.get("Accept"),
                "user_agent": self.headers.get("User-Agent"), "code": code,
            })
        code, data, content_type = self.answer_out
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for w in self.warnings:
            self.send_header("Warning", "299 - " + json.dumps(w))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = lambda self: self.handle_any("GET")  # noqa: E731
    do_POST = lambda self: self.handle_any("POST")  # noqa: E731
    do_PATCH = lambda self: self.handle_any("PATCH")  # noqa: E731
    do_DELETE = lambda self: self.handle_any("DELETE")  # noqa: E731
    do_PUT = lambda self: self.handle_any("PUT")  # noqa: E731

    def authenticate(self):
        if not TOKENS:
            return ("system:admin", True)
        auth = self.headers.get("Authorization") or ""
        user = TOKENS.get(auth[7:]) if auth.startswith("Bearer ") else None
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return user

    # -------------------------------------------------------------- routing

    def route(self, method, path, query, body, user):
        if method == "GET" and path == "/version":
            return self.reply(200, {
                "major": "1", "minor": "34", "gitVersion": "v1.34.0+windflow-test-fake",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "2025-08-27T00:00:00Z",
                "goVersion": "", "compiler": "", "platform": "linux/amd64",
            })
        if method == "GET" and path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"],
                                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.headers.get("Host", "")}]})
        if method == "GET" and path == "/apis":
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "networking.k8s.io",
                "versions": [{"groupVersion": "networking.k8s.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "networking.k8s.io/v1", "version": "v1"},
            }]})
        if method == "GET" and path.startswith("/openapi/v3"):
            return self.openapi(path)
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            resources = [k.discovery() for k in KINDS if (k.group, k.version) == (group, version)]
            if method != "GET" or not resources:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            gv = f"{group}/{version}" if group else version
            return self.reply(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in BY_PATH:
            ns, rest = rest[1], rest[2:]
        kind = BY_PATH.get((group, version, rest[0]))
        if kind is None or len(rest) > 2 or (ns is not None and not kind.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        if kind.namespaced and ns is None and name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if query.get("watch") in ("1", "true"):
            raise bad_request("watch is not implemented by this test server")
        if query.get("dryRun") not in (None, "All"):
            raise bad_request(f'invalid dry run option: "{query["dryRun"]}"; only All is supported')
        verb = {("GET", False): "list", ("GET", True): "get", ("POST", False): "create",
                ("DELETE", True): "delete", ("PATCH", True): "patch"}.get((method, name is not None))
        if verb is None:
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")
        # Authorisation looks at the verb, dry run or not (as RBAC does).
        if verb in ("create", "delete", "patch") and not user[1]:
            where = f' in the namespace "{ns}"' if ns else ""
            target = f' "{name}"' if name else ""
            raise ApiError(403, "Forbidden",
                           f'{kind.qualified}{target} is forbidden: User "{user[0]}" cannot {verb} resource '
                           f'"{kind.plural}" in API group "{kind.group}"{where}',
                           {"name": name or "", "group": kind.group, "kind": kind.plural})
        with STORE.lock:
            if verb == "get":
                live = STORE.live(kind, ns, name)
                if live is None:
                    raise not_found(kind, name)
                return self.answer(kind, [STORE.decorate(kind, live)], single=True)
            if verb == "list":
                return self.list(kind, ns, query)
            if verb == "delete":
                return self.delete(kind, ns, name, query)
            if verb == "create":
                return self.create(kind, ns, query, body)
            return self.patch(kind, ns, name, query, body)

    def openapi(self, path):
        """OpenAPI v3, only as far as kubectl reads it to learn that PATCH
        takes fieldValidation (then it leaves validation to the server)."""
        gvs = sorted({(k.group, k.version) for k in KINDS})
        key = lambda g, v: f"apis/{g}/{v}" if g else f"api/{v}"  # noqa: E731
        if path.rstrip("/") == "/openapi/v3":
            return self.reply(200, {"paths": {key(g, v): {"serverRelativeURL": f"/openapi/v3/{key(g, v)}?hash=fake"} for g, v in gvs}})
        want = path[len("/openapi/v3/"):]
        params = [{"name": n, "in": "query", "schema": {"type": "string"}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        paths = {}
        for k in KINDS:
            if key(k.group, k.version) != want:
                continue
            where = "/namespaces/{namespace}" if k.namespaced else ""
            paths[f"/{want}{where}/{k.plural}/{{name}}"] = {"patch": {
                "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind},
                "parameters": params,
            }}
        if not paths:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return self.reply(200, {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.34.0"}, "paths": paths})

    def answer(self, kind, objects, single=False):
        accept = self.headers.get("Accept") or ""
        if "as=Table" in accept:
            rows = [{
                "cells": [o["metadata"]["name"], o["metadata"].get("creationTimestamp")],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
            } for o in objects]
            return self.reply(200, {
                "kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": str(STORE.revision)},
                "columnDefinitions": [
                    {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
                    {"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
                ],
                "rows": rows,
            }, "application/json;as=Table;v=v1;g=meta.k8s.io")
        if single:
            return self.reply(200, objects[0])
        items = []
        for o in objects:
            o = dict(o)
            o.pop("apiVersion", None)
            o.pop("kind", None)
            items.append(o)
        return self.reply(200, {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                                "metadata": {"resourceVersion": str(STORE.revision)}, "items": items})

    def list(self, kind, ns, query):
        terms = parse_selector(query.get("labelSelector", ""))
        fields = {}
        for term in filter(None, query.get("fieldSelector", "").split(",")):
            key, _, val = term.partition("=")
            key = key.rstrip("=")
            if key not in ("metadata.name", "metadata.namespace"):
                raise bad_request(f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"')
            fields[key] = val.lstrip("=")
        found = []
        for (plural, ons, _), obj in sorted(STORE.objects.items()):
            if plural != kind.plural or (ns is not None and ons != ns):
                continue
            meta = obj["metadata"]
            if not selects(terms, meta.get("labels") or {}):
                continue
            if any(meta.get(k.split(".")[1], "") != v for k, v in fields.items()):
                continue
            found.append(STORE.decorate(kind, obj))
        return self.answer(kind, found)

    def delete(self, kind, ns, name, query):
        live = STORE.live(kind, ns, name)
        if live is None:
            raise not_found(kind, name)
        answer = STORE.decorate(kind, live)
        if query.get("dryRun") != "All":
            del STORE.objects[(kind.plural, ns or "", name)]
            if kind is NAMESPACES:
                # No namespace controller: its objects go with it.
                for key in [k for k in STORE.objects if k[1] == name]:
                    del STORE.objects[key]
            STORE.bump()
        return self.reply(200, answer)

    def decode(self, kind, body, ns, yaml_ok):
        ctype = self.headers.get("Content-Type") or ""
        if "protobuf" in ctype:
            raise ApiError(415, "UnsupportedMediaType",
                           f'the body of the request was in an unknown format - accepted media types include: '
                           f'application/json, application/yaml (this test server has no "{ctype}")')
        try:
            obj = yaml.safe_load(body) if yaml_ok else json.loads(body)
        except Exception as e:
            raise bad_request(f"error decoding {'YAML' if yaml_ok else 'JSON'}: {e}")
        if not isinstance(obj, dict):
            raise bad_request("the body must be an object")
        if obj.get("kind") != kind.kind:
            raise bad_request(f"Object 'Kind' is {obj.get('kind')!r} in the body, not {kind.kind!r}")
        if obj.get("apiVersion") != kind.api_version:
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match "
                              f"the expected API version ({kind.api_version})")
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise bad_request("metadata is required")
        if kind.namespaced and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        obj.pop("status", None)
        return obj

    def create(self, kind, ns, query, body):
        obj = self.decode(kind, body, ns, yaml_ok=True)
        name = obj["metadata"].get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{kind.kind} \"\" is invalid: metadata.name: Required value: name is required")
        STORE.require_namespace(kind, ns)
        if STORE.live(kind, ns, name) is not None:
            raise ApiError(409, "AlreadyExists", f'{kind.qualified} "{name}" already exists',
                           {"name": name, "group": kind.group, "kind": kind.plural})
        manager = query.get("fieldManager") or self.default_manager()
        obj["metadata"].pop("managedFields", None)
        self.warnings += drop_unknown(kind, obj, query.get("fieldValidation") == "Strict", name, applying=False)
        full = default(kind, copy.deepcopy(obj))
        managers = record_update([], manager, kind.api_version, None, full)
        answer = STORE.finish(kind, ns, name, obj, None, managers, query.get("dryRun") == "All")
        return self.reply(201, answer)

    def default_manager(self):
        agent = self.headers.get("User-Agent") or "unknown"
        return agent.split("/")[0]

    def patch(self, kind, ns, name, query, body):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        dry_run = query.get("dryRun") == "All"
        live = STORE.live(kind, ns, name)
        if ctype == "application/apply-patch+yaml":
            return self.apply(kind, ns, name, query, body, live, dry_run)
        if ctype == "application/merge-patch+json":
            if live is None:
                raise not_found(kind, name)
            try:
                patch = json.loads(body)
            except Exception as e:
                raise bad_request(f"error decoding JSON: {e}")
            obj = merge_patch(self_described(kind, live), patch)
            obj.pop("status", None)
            obj["metadata"].pop("managedFields", None)
            self.warnings += drop_unknown(kind, obj, query.get("fieldValidation") == "Strict", name, applying=False)
            manager = query.get("fieldManager") or self.default_manager()
            full = default(kind, copy.deepcopy(obj))
            managers = record_update(managers_of(live), manager, kind.api_version, live, full)
            return self.reply(200, STORE.finish(kind, ns, name, obj, live, managers, dry_run))
        raise ApiError(415, "UnsupportedMediaType",
                       f'the body of the request was in an unknown format - accepted media types include: '
                       f'application/merge-patch+json, application/apply-patch+yaml (this test server has no "{ctype}")')

    def apply(self, kind, ns, name, query, body, live, dry_run):
        manager = query.get("fieldManager")
        if not manager:
            raise bad_request("PATCH /apply requires fieldManager")
        force = query.get("force") in ("true", "1")
        applied = self.decode(kind, body, ns, yaml_ok=True)
        meta = applied["metadata"]
        if meta.get("name") not in (None, name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        if meta.get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        want_rv = meta.pop("resourceVersion", None)
        if want_rv and (live is None or live["metadata"].get("resourceVersion") != want_rv):
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {kind.qualified} "{name}": the object has been modified; '
                           "please apply your changes to the latest version and try again",
                           {"name": name, "group": kind.group, "kind": kind.plural})
        drop_unknown(kind, applied, True, name, applying=True)
        STORE.require_namespace(kind, ns)
        for k in ("uid", "creationTimestamp", "generation"):
            meta.pop(k, None)
        mine = owned_fields(applied)
        managers = managers_of(live)
        own = next((m for m in managers if m["manager"] == manager and m["operation"] == "Apply"), None)
        others = [m for m in managers if m is not own]
        previous = own["paths"] if own else set()
        base = copy.deepcopy(live) if live else {"metadata": {}}
        # Fields this manager gave up, that nobody else owns, go.
        still_owned = set().union(*(m["paths"] for m in others)) if others else set()
        for path in sorted(previous - mine - still_owned, key=len, reverse=True):
            remove(base, path)
        result = default(kind, merge(base, applied))
        result["metadata"]["name"] = name
        conflicts = [
            (m, p) for m in others for p in sorted(m["paths"] & mine)
            if p[-1][0] != "." and lookup(live or {}, p) != lookup(result, p)
        ]
        if conflicts and not force:
            raise apply_conflict(kind, name, conflicts)
        for m, p in conflicts:
            m["paths"].discard(p)
        me = {"manager": manager, "operation": "Apply", "apiVersion": kind.api_version,
              "time": now(), "paths": mine}
        # This manager's entry keeps its place; a first apply comes last.
        managers = [me if m is own else m for m in managers] if own else managers + [me]
        result["metadata"].pop("managedFields", None)
        code = 200 if live else 201
        return self.reply(code, STORE.finish(kind, ns, name, result, live, managers, dry_run))


def apply_conflict(kind, name, conflicts):
    # metav1.StatusCause's Type is `reason` on the wire.
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {manager_label(m)}", "field": path_string(p)}
              for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {manager_label(m)}: {path_string(p)}"
    else:
        by = {}
        for m, p in conflicts:
            by.setdefault(manager_label(m), []).append(path_string(p))
        lines = [f"Apply failed with {len(conflicts)} conflicts: conflicts with"]
        if len(by) == 1:
            (label, paths), = by.items()
            lines[0] += f" {label}:"
            lines += [f"- {p}" for p in paths]
        else:
            for label, paths in by.items():
                lines.append(f"{label}:")
                lines += [f"- {p}" for p in paths]
        message = "\n".join(lines)
    return ApiError(409, "Conflict", message,
                    {"name": name, "group": kind.group, "kind": kind.plural, "causes": causes})


def self_described(kind, obj):
    return copy.deepcopy(obj) | {"apiVersion": kind.api_version, "kind": kind.kind}


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", default=[],
                        help="TOKEN:USER:rw or TOKEN:USER:ro (any token: requests need one)")
    args = parser.parse_args()
    for t in args.token:
        token, user, mode = t.rsplit(":", 2)
        TOKENS[token] = (user, mode == "rw")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    say_ready = f"READY {server.server_address[1]}"
    with OUT:
        sys.stdout.write(say_ready + "\n")
        sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
