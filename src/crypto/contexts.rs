//! The one list of envelope (and HKDF) contexts windflow seals its own data
//! with. Every sealing site builds its context with a constructor here, and
//! `windflow crypto encrypt|decrypt` refuses every context of the list, so
//! that the hand tool can neither open a stored record past the checks of
//! the command that owns it nor forge one.

/// A family of contexts windflow uses: every context starting with `prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub prefix: &'static str,
    /// What is sealed under it.
    pub holds: &'static str,
    /// The command that reads such data with the right checks.
    pub read_with: &'static str,
}

/// TOTP keys and backup code hashes: `totp:<user>`.
pub const TOTP: Reserved = Reserved {
    prefix: "totp:",
    holds: "second factors (TOTP keys, backup codes)",
    read_with: "`windflow mfa` (a TOTP secret is shown once, at enrolment)",
};
/// Step-up grants: `grant:<operator>`.
pub const GRANT: Reserved = Reserved {
    prefix: "grant:",
    holds: "step-up grants",
    read_with: "`windflow login` and `windflow logout`",
};
/// Secrets of a deployment: `deployment:<id>`.
pub const DEPLOYMENT: Reserved = Reserved {
    prefix: "deployment:",
    holds: "deployment secrets",
    read_with: "`windflow secrets get PATH --reveal`",
};
/// Secrets at any other path: `secret:<path>`.
pub const SECRET: Reserved = Reserved {
    prefix: "secret:",
    holds: "secrets",
    read_with: "`windflow secrets get PATH --reveal`",
};
/// Rotation journals (the new values of a rotation in flight): `rotation:<path>`.
pub const ROTATION: Reserved = Reserved {
    prefix: "rotation:",
    holds: "rotation journals",
    read_with: "`windflow secrets recover`",
};
/// Sessions (the embedded store and Redis): `session:<id>` and
/// `session_hijack:<id>` (and `session`, the context of envelopes sealed
/// before sessions were bound to their id).
pub const SESSION: Reserved = Reserved {
    prefix: "session",
    holds: "user sessions",
    read_with: "`windflow sessions show ID`",
};
/// The HMAC key of the audit log's chain (HKDF context).
pub const AUDIT_CHAIN: Reserved = Reserved {
    prefix: "audit-chain",
    holds: "the audit log's chain key",
    read_with: "`windflow audit verify`",
};

/// Any other encrypted record of the local store: `record:<ns>/<key>`.
pub const RECORD: Reserved = Reserved {
    prefix: "record:",
    holds: "encrypted records of the local store",
    read_with: "the `windflow` command of the record's domain",
};

/// The HKDF context of the key that fingerprints secret values:
/// `fingerprint:secrets`. Nothing is sealed under it; it is reserved so
/// that no envelope can be made with the same derived key.
pub const FINGERPRINT: Reserved = Reserved {
    prefix: "fingerprint:",
    holds: "the key of secret value fingerprints (never shown)",
    read_with: "`windflow secrets get PATH` (which shows fingerprints)",
};

/// Trained anomaly models (people's habits): `anomaly-model:<kind>:<version>`.
pub const ANOMALY_MODEL: Reserved = Reserved {
    prefix: "anomaly-model:",
    holds: "trained anomaly models (people's sign-in habits)",
    read_with: "`windflow anomaly train` (which keeps them)",
};

/// The HKDF contexts of the keys that MAC records the product trusts
/// (operators' roles, secret metadata): `record-mac:<kind>`. Nothing is
/// sealed under them; reserved so that no envelope shares their keys.
pub const RECORD_MAC: Reserved = Reserved {
    prefix: "record-mac:",
    holds: "the keys of record MACs (roles, secret metadata)",
    read_with: "the `windflow` command of the record's domain",
};

/// Every context family windflow uses.
pub const RESERVED: &[Reserved] = &[
    RECORD_MAC,
    ANOMALY_MODEL,
    FINGERPRINT,
    TOTP,
    GRANT,
    DEPLOYMENT,
    SECRET,
    ROTATION,
    SESSION,
    AUDIT_CHAIN,
    RECORD,
];

/// The context of version `version` of the `kind` anomaly model.
pub fn anomaly_model(kind: &str, version: u64) -> String {
    format!("{}{kind}:{version}", ANOMALY_MODEL.prefix)
}

/// The context of the secret value fingerprint key.
pub fn fingerprint_secrets() -> String {
    format!("{}secrets", FINGERPRINT.prefix)
}

/// The context of `user`'s MFA record.
pub fn totp(user: &str) -> String {
    format!("{}{user}", TOTP.prefix)
}

/// The context of `operator`'s step-up grant.
pub fn grant(operator: &str) -> String {
    format!("{}{operator}", GRANT.prefix)
}

/// The context of record `key` of an encrypted store namespace `ns`
/// without a context of its own.
pub fn record(ns: &str, key: &str) -> String {
    format!("{}{ns}/{key}", RECORD.prefix)
}

/// The context of the secrets of deployment `id`.
pub fn deployment(id: &str) -> String {
    format!("{}{id}", DEPLOYMENT.prefix)
}

/// The context of the secret at `path` (not a deployment's).
pub fn secret(path: &str) -> String {
    format!("{}{path}", SECRET.prefix)
}

/// The context of one value of a secret: `key` of version `version` at
/// `path` (`secret:<path>#<key>@<version>`; `#` and `@` are in neither a
/// path nor a key), so a value moved to another key, version or path does
/// not open.
pub fn secret_value(path: &str, key: &str, version: u64) -> String {
    format!("{}{path}#{key}@{version}", SECRET.prefix)
}

/// The HKDF context of the MAC key of records of `kind`.
pub fn record_mac(kind: &str) -> String {
    format!("{}{kind}", RECORD_MAC.prefix)
}

/// The context of the rotation journal of `path`.
pub fn rotation(path: &str) -> String {
    format!("{}{path}", ROTATION.prefix)
}

/// The context of the envelope of session `id`: an envelope copied under
/// another session's key does not open.
pub fn session(id: &str) -> String {
    format!("{}:{id}", SESSION.prefix)
}

/// The context of the hijack record of session `id`.
pub fn session_hijack(id: &str) -> String {
    format!("{}_hijack:{id}", SESSION.prefix)
}

/// The one context of every session envelope sealed before sessions were
/// bound to their id: read (and then sealed again under [`session`]), never
/// written.
pub const fn session_unbound() -> &'static str {
    SESSION.prefix
}

/// The HKDF context of the audit chain key.
pub const fn audit_chain() -> &'static str {
    AUDIT_CHAIN.prefix
}

/// The reserved family `context` belongs to, if any. Compared without
/// surrounding blanks and case, so that no look-alike slips through.
pub fn reserved(context: &str) -> Option<&'static Reserved> {
    let c = context.trim().to_ascii_lowercase();
    RESERVED.iter().find(|r| c.starts_with(r.prefix))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn every_constructor_makes_a_reserved_context() {
        for c in [
            totp("alice"),
            grant("alice"),
            deployment("api-7"),
            secret("db/main"),
            secret_value("db/main", "password", 3),
            record_mac("operators"),
            rotation("deployments/api-7"),
            session("abc"),
            session_hijack("abc"),
            session_unbound().to_owned(),
            audit_chain().to_owned(),
            record("ns", "key"),
            " Totp:alice".to_owned(),
        ] {
            assert!(reserved(&c).is_some(), "{c} is not reserved");
        }
        for free in ["x", "backup:2024", "my-app", "tenant:acme"] {
            assert!(reserved(free).is_none(), "{free}");
        }
        for r in RESERVED {
            assert!(!r.read_with.is_empty() && !r.holds.is_empty());
        }
    }

    /// The calls that seal or derive a key with a context, and which
    /// argument of each is the context.
    const SEALING_CALLS: &[(&str, usize)] = &[
        (".encrypt(", 0),
        (".decrypt(", 0),
        (".rewrap(", 0),
        ("derive_key(", 2),
        ("crypto::seal(", 1),
        ("crypto::seal_with(", 1),
        ("crypto::open(", 1),
        ("envelope::seal(", 1),
        ("envelope::open(", 1),
    ];

    /// Sealing sites whose context is not written as `contexts::...` at the
    /// call, with why that is fine. Anything else fails the test below.
    const VETTED: &[(&str, &str)] = &[
        // `crypto encrypt|decrypt`: the user's context, refused when `reserved`.
        ("src/cli/auth.rs", "&context"),
        // `sealed::context(ns, key)` builds `contexts::totp`/`contexts::grant`.
        ("src/auth/sealed.rs", "&context(ns, key)"),
        ("src/auth/sealed.rs", "&context"),
        // `rewrap_namespace` takes each key's context from its caller
        // (`sealed::context`, `contexts::anomaly_model`).
        ("src/auth/sealed.rs", "context"),
        // `bound` is `contexts::secret_value`; `model::context(path)` is
        // `contexts::deployment`/`contexts::secret`.
        ("src/secrets/rewrap.rs", "&bound"),
        ("src/secrets/rewrap.rs", "&model::context(path)"),
        ("src/secrets/mod.rs", "&model::context(path)"),
        // `bound` is `contexts::session` or `contexts::session_hijack`.
        ("src/sessions/backend.rs", "&bound"),
        // `open_json(keys, context, ..)` gets `contexts::session*` from its callers.
        ("src/sessions/backend.rs", "context"),
    ];

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Argument `n` of the call whose `(` is at `open` (split at top-level commas).
    fn nth_arg(text: &str, open: usize, n: usize) -> String {
        let mut depth = 0i32;
        let mut args = vec![String::new()];
        for c in text[open + 1..].chars() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => break,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    args.push(String::new());
                    continue;
                }
                _ => {}
            }
            args.last_mut().unwrap().push(c);
        }
        args.get(n)
            .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// Greps every sealing call of the product (outside the crypto module,
    /// which only carries contexts through): each one's context must come
    /// from this module, or be one of the vetted sites, so that every
    /// context the product seals with is in [`RESERVED`].
    #[test]
    fn every_sealing_call_uses_a_reserved_context() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        let mut seen = 0;
        let mut unknown = Vec::new();
        for path in files {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("src/crypto/") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (call, n) in SEALING_CALLS {
                for (at, _) in text.match_indices(call) {
                    let open = at + call.len() - 1;
                    let before = &text[..at];
                    // Not a definition, nor a longer name (`my_derive_key(`).
                    if before.ends_with("fn ")
                        || (!call.starts_with('.')
                            && before.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
                    {
                        continue;
                    }
                    let arg = nth_arg(&text, open, *n);
                    if arg.is_empty() {
                        continue; // `auth.rewrap()`: no context here
                    }
                    seen += 1;
                    let from_here = arg.trim_start_matches('&').starts_with("contexts::");
                    let vetted = VETTED.iter().any(|(f, a)| *f == rel && *a == arg);
                    if !from_here && !vetted {
                        let line = text[..at].lines().count();
                        unknown.push(format!("{rel}:{line}: {call}{arg}, ..."));
                    }
                }
            }
        }
        assert!(
            seen >= 10,
            "found only {seen} sealing calls: is the grep right?"
        );
        assert!(
            unknown.is_empty(),
            "sealing calls whose context is not built in crypto::contexts \
             (add a constructor there, so `windflow crypto` refuses it):\n{}",
            unknown.join("\n")
        );
    }
}
