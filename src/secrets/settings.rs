//! Where the secrets are and how each path rotates: the `[secrets]` table of
//! `windflow.toml`, then the environment, then flags. The console and the
//! CLI both resolve through [`SecretsSettings::resolve`].
//!
//! ```toml
//! [secrets]
//! backend = "vault"            # or "embedded" (the default; "local" is an alias)
//! ttl = "30d"                  # lifetime of written values (expires_at)
//!
//! [secrets.vault]
//! addr = "https://vault.internal:8200"
//! mount = "secret"             # KV v2 mount
//! token_file = "vault-token"   # a file holding the token (mode 0600),
//!                              # relative to this file's folder
//! # token_env = "OPS_VAULT_TOKEN"  # or: the variable that holds it
//!
//! [[secrets.rotation]]         # the first rule whose path matches wins
//! path = "deployments/*"       # exact, or a prefix ending in *
//! keys = ["db_password"]       # default: every key
//! policy = "40:symbols"        # LEN[:alnum|symbols|hex|digits]
//! key_policies = { api_key = "64:hex" }
//! validate_cmd = "scripts/check-db"   # or validate_url; default: read back
//! grace = "24h"
//! every = "30d"                # rotated by the agent once the value is this old
//! ```
//!
//! Order, lowest first: the file, then `WINDFLOW_SECRETS_BACKEND`,
//! `VAULT_ADDR`, `VAULT_TOKEN`, `WINDFLOW_VAULT_MOUNT`, then the flags. A
//! token written into the file itself (`token = "..."`) is refused unless
//! the file is readable by its owner alone (0600); so is a `token_file`
//! that others can read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::model::{self, Policy};
use super::rotation::{RotateOptions, Validation};
use super::{DEFAULT_MOUNT, LocalStore, SecretStore, Secrets, VaultSettings, VaultStore};
use crate::tomlpos::FileError;

/// The backend to use.
#[derive(Clone, Debug)]
pub enum Backend {
    Local,
    Vault(VaultSettings),
}

/// Values given on the command line (None: not given).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub backend: Option<String>,
    pub vault_addr: Option<String>,
    pub vault_token: Option<SecretString>,
    pub vault_mount: Option<String>,
    pub ttl: Option<String>,
}

/// The effective secrets settings.
#[derive(Clone, Debug)]
pub struct SecretsSettings {
    pub backend: Backend,
    pub ttl_secs: i64,
    pub rules: Vec<RotationRule>,
}

/// How the secrets under one path rotate (from `[[secrets.rotation]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationRule {
    /// An exact path, or a prefix ending in `*`.
    pub path: String,
    /// What the rule sets, laid over the defaults as a person's choices are.
    pub set: Overrides,
    /// Scheduled rotation: the agent rotates a secret whose current value
    /// is this many seconds old.
    pub every_secs: Option<i64>,
}

impl RotationRule {
    pub fn matches(&self, path: &str) -> bool {
        match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => self.path == path,
        }
    }

    /// The rotation options this rule gives (defaults where it says nothing).
    pub fn options(&self) -> RotateOptions {
        self.set.apply(RotateOptions::default())
    }

    /// One line for the console: what the rule sets.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("rule {}", self.path)];
        if !self.set.keys.is_empty() {
            parts.push(format!("keys {}", self.set.keys.join(",")));
        }
        if let Some(p) = self.set.default_policy {
            parts.push(format!("{} {:?}", p.length, p.alphabet).to_lowercase());
        }
        if let Some(v) = &self.set.validation {
            parts.push(v.label());
        }
        if let Some(e) = self.every_secs {
            parts.push(format!("every {}", model::format_duration(e)));
        }
        parts.join("  ")
    }
}

/// The first of `rules` that matches `path`.
pub fn rule_for<'a>(rules: &'a [RotationRule], path: &str) -> Option<&'a RotationRule> {
    rules.iter().find(|r| r.matches(path))
}

/// Rotation options for `path`: its rule's, else the defaults.
pub fn options_for(rules: &[RotationRule], path: &str) -> RotateOptions {
    rule_for(rules, path)
        .map(RotationRule::options)
        .unwrap_or_default()
}

/// What a person chose for one rotation (CLI flags, the console's form),
/// laid over the path's rule: anything given here wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Keys to rotate (empty: the rule's, else every key).
    pub keys: Vec<String>,
    pub default_policy: Option<Policy>,
    pub policies: BTreeMap<String, Policy>,
    pub generator: Option<String>,
    pub validation: Option<Validation>,
    pub grace_secs: Option<i64>,
}

impl Overrides {
    pub fn apply(&self, mut o: RotateOptions) -> RotateOptions {
        if !self.keys.is_empty() {
            o.keys = self.keys.clone();
        }
        if let Some(p) = self.default_policy {
            // A policy given here is for every key: the per-key ones below it
            // give way, as everything else given here wins.
            o.default_policy = p;
            o.policies.clear();
        }
        o.policies
            .extend(self.policies.iter().map(|(k, p)| (k.clone(), *p)));
        if self.generator.is_some() {
            o.generator = self.generator.clone();
        }
        if let Some(v) = &self.validation {
            o.validation = v.clone();
        }
        if let Some(g) = self.grace_secs {
            o.grace_secs = g;
        }
        o
    }
}

impl SecretsSettings {
    /// The first rule matching `path`.
    pub fn rule_for(&self, path: &str) -> Option<&RotationRule> {
        rule_for(&self.rules, path)
    }

    /// Rotation options for `path`: its rule's, else the defaults.
    pub fn options_for(&self, path: &str) -> RotateOptions {
        options_for(&self.rules, path)
    }

    /// Reads the `[secrets]` table of `config`'s file (if any) and resolves it
    /// with the environment and `flags`: what the console and the CLI use.
    pub fn from_config(
        config: &crate::config::Config,
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let path = &config.paths.config_file;
        let cannot = |e: std::io::Error| format!("cannot read config file {}: {e}", path.display());
        // The mode and the text from the same open file.
        let (src, mode) = match std::fs::File::open(path) {
            Ok(mut f) => {
                let mode = crate::fsutil::exposed_mode(&f)
                    .map_err(cannot)?
                    .unwrap_or(0o600);
                let mut text = Zeroizing::new(String::new());
                std::io::Read::read_to_string(&mut f, &mut text).map_err(cannot)?;
                (Some(text), Some(mode))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
            Err(e) => return Err(cannot(e)),
        };
        Self::resolve(src.as_deref().map(|s| s.as_str()), path, mode, flags, env)
    }

    /// Resolves the file's source `src` (at `file`, with unix permission bits
    /// `mode`) with the environment and `flags`.
    pub fn resolve(
        src: Option<&str>,
        file: &Path,
        mode: Option<u32>,
        flags: &Flags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let fs: FileSecrets = match src {
            Some(src) => toml::from_str::<Whole>(src)
                .map_err(|e| FileError::from_toml(file, src, &e).to_string())?
                .secrets
                .unwrap_or_default(),
            None => FileSecrets::default(),
        };
        let at = |key: &str| format!("{} [secrets{key}]", file.display());
        let fv = fs.vault.unwrap_or_default();
        if fv.token.is_some()
            && let Some(m) = mode
            && m & 0o077 != 0
        {
            return Err(format!(
                "{} holds a Vault token ([secrets.vault] token) but others can read it \
                 (mode {:o}): run `chmod 600 {}`, or use token_file or token_env instead",
                file.display(),
                m & 0o777,
                file.display()
            ));
        }
        let env_nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
        let backend = flags
            .backend
            .clone()
            .or_else(|| env_nonempty("WINDFLOW_SECRETS_BACKEND"))
            .or(fs.backend)
            .unwrap_or_else(|| "embedded".into());
        let ttl_origin = match flags.ttl {
            Some(_) => "--ttl".to_string(),
            None => format!("{} ttl", at("")),
        };
        let ttl = flags.ttl.clone().or(fs.ttl).unwrap_or_else(|| "30d".into());
        let ttl_secs = model::parse_duration(&ttl).map_err(|e| format!("{ttl_origin}: {e}"))?;
        let mut rules = Vec::new();
        for (i, r) in fs.rotation.into_iter().enumerate() {
            rules.push(
                r.into_rule().map_err(|e| {
                    format!("{} [[secrets.rotation]] #{}: {e}", file.display(), i + 1)
                })?,
            );
        }
        let backend = match backend.to_ascii_lowercase().as_str() {
            "embedded" | "local" => Backend::Local,
            "vault" | "openbao" | "bao" => {
                let addr = flags
                    .vault_addr
                    .clone()
                    .or_else(|| env_nonempty("VAULT_ADDR"))
                    .or(fv.addr)
                    .ok_or_else(|| {
                        format!(
                            "the vault backend needs an address: --vault-addr, VAULT_ADDR, \
                             or addr in {}",
                            at(".vault")
                        )
                    })?;
                let mount = flags
                    .vault_mount
                    .clone()
                    .or_else(|| env_nonempty("WINDFLOW_VAULT_MOUNT"))
                    .or(fv.mount)
                    .unwrap_or_else(|| DEFAULT_MOUNT.into());
                let token = match (&flags.vault_token, env_nonempty("VAULT_TOKEN")) {
                    (Some(t), _) => t.clone(),
                    (None, Some(t)) => SecretString::from(t),
                    (None, None) => file_token(file, fv.token_env, fv.token_file, fv.token, env)?,
                };
                Backend::Vault(VaultSettings {
                    addr,
                    token,
                    mount,
                    timeout: Duration::from_secs(fv.timeout_secs.unwrap_or(15).max(1)),
                })
            }
            other => {
                return Err(format!(
                    "secrets backend {other:?}: use embedded or vault (--backend, \
                     WINDFLOW_SECRETS_BACKEND or backend in {})",
                    at("")
                ));
            }
        };
        Ok(Self {
            backend,
            ttl_secs,
            rules,
        })
    }

    /// The store these settings name (nothing is sent yet).
    pub fn open_store(
        &self,
        local: Arc<crate::store::Store>,
    ) -> super::Result<Arc<dyn SecretStore>> {
        Ok(match &self.backend {
            Backend::Local => Arc::new(LocalStore::new(local)),
            Backend::Vault(v) => Arc::new(VaultStore::new(v)?),
        })
    }

    /// [`Secrets`] over the named store, with the ttl and rotation rules set.
    pub fn open(
        &self,
        local: Arc<crate::store::Store>,
        keyring: Arc<crate::crypto::Keyring>,
        audit: crate::audit::Audit,
    ) -> super::Result<Secrets> {
        let store = self.open_store(local.clone())?;
        Ok(Secrets::new(store, keyring, local, audit)
            .with_ttl(self.ttl_secs)
            .with_rules(self.rules.clone()))
    }
}

/// The token the file names: by variable, by file, or (0600 files only) inline.
fn file_token(
    file: &Path,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    token: Option<SecretString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretString, String> {
    if let Some(var) = token_env {
        // A name, never the token itself (which the message below would show).
        let is_name = !var.is_empty()
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_name {
            return Err(format!(
                "{} [secrets.vault] token_env must name an environment variable \
                 (letters, digits and _), not hold the token",
                file.display()
            ));
        }
        return env(&var)
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
            .ok_or_else(|| {
                format!(
                    "{} [secrets.vault] token_env names {var}, which is not set",
                    file.display()
                )
            });
    }
    if let Some(tf) = token_file {
        let tf = if tf.is_relative() {
            file.parent().unwrap_or(Path::new(".")).join(tf)
        } else {
            tf
        };
        let cannot = |e: std::io::Error| {
            format!(
                "cannot read the Vault token file {} ([secrets.vault] token_file in {}): {e}",
                tf.display(),
                file.display()
            )
        };
        let mut f = std::fs::File::open(&tf).map_err(cannot)?;
        if let Some(m) = crate::fsutil::exposed_mode(&f).map_err(cannot)? {
            return Err(format!(
                "Vault token file {} ([secrets.vault] token_file in {}) is {} by group/others \
                 (mode {m:04o}): run `chmod 600 {}`",
                tf.display(),
                file.display(),
                crate::fsutil::exposure(m),
                tf.display()
            ));
        }
        let mut text = Zeroizing::new(String::new());
        std::io::Read::read_to_string(&mut f, &mut text).map_err(cannot)?;
        let t = text.trim();
        if t.is_empty() {
            return Err(format!("the Vault token file {} is empty", tf.display()));
        }
        return Ok(SecretString::from(t.to_owned()));
    }
    if let Some(t) = token {
        return Ok(t);
    }
    Err(format!(
        "the vault backend needs a token: VAULT_TOKEN, --vault-token, or token_file / \
         token_env in {} [secrets.vault]",
        file.display()
    ))
}

/// Unix permission bits of `path` (None when it cannot be read).
#[derive(Deserialize)]
struct Whole {
    secrets: Option<FileSecrets>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSecrets {
    backend: Option<String>,
    ttl: Option<String>,
    vault: Option<FileVault>,
    #[serde(default)]
    rotation: Vec<FileRule>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVault {
    addr: Option<String>,
    mount: Option<String>,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    token: Option<SecretString>,
    timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    path: String,
    #[serde(default)]
    keys: Vec<String>,
    policy: Option<String>,
    #[serde(default)]
    key_policies: BTreeMap<String, String>,
    generator_cmd: Option<String>,
    validate_cmd: Option<String>,
    validate_url: Option<String>,
    grace: Option<String>,
    every: Option<String>,
}

impl FileRule {
    fn into_rule(self) -> Result<RotationRule, String> {
        let bare = self.path.strip_suffix('*').unwrap_or(&self.path);
        if self.path.is_empty() || bare.contains('*') {
            return Err(format!(
                "path {:?}: give a secret path, or a prefix ending in *",
                self.path
            ));
        }
        for k in &self.keys {
            model::check_key(k).map_err(|e| format!("keys: {e}"))?;
        }
        let policy = self
            .policy
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| format!("policy: {e}"))?;
        let mut key_policies = BTreeMap::new();
        for (k, p) in &self.key_policies {
            key_policies.insert(
                k.clone(),
                p.parse().map_err(|e| format!("key_policies.{k}: {e}"))?,
            );
        }
        let validation = match (self.validate_cmd, self.validate_url) {
            (Some(_), Some(_)) => {
                return Err("give validate_cmd or validate_url, not both".into());
            }
            (Some(c), None) => Some(Validation::Command(c)),
            (None, Some(u)) => {
                super::rotation::check_probe_url(&u).map_err(|e| format!("validate_url: {e}"))?;
                Some(Validation::Http(u))
            }
            (None, None) => None,
        };
        let grace_secs = self
            .grace
            .as_deref()
            .map(model::parse_duration)
            .transpose()
            .map_err(|e| format!("grace: {e}"))?;
        let every_secs = match self.every.as_deref() {
            None => None,
            Some(e) => match model::parse_duration(e).map_err(|err| format!("every: {err}"))? {
                n if n >= 1 => Some(n),
                _ => return Err(format!("every: {e:?}: give at least 1s (e.g. 30d)")),
            },
        };
        Ok(RotationRule {
            every_secs,
            path: self.path,
            set: Overrides {
                keys: self.keys,
                default_policy: policy,
                policies: key_policies,
                generator: self.generator_cmd,
                validation,
                grace_secs,
            },
        })
    }
}

/// The `config show` section: the backend (the Vault token only as "set")
/// and the rotation rules.
pub fn config_section(
    config: &crate::config::Config,
    _redis: &crate::domains::RedisChoice,
) -> Result<serde_json::Value, String> {
    use serde_json::json;
    let env = |k: &str| std::env::var(k).ok();
    let s = SecretsSettings::from_config(config, &Flags::default(), &env)?;
    let rules: Vec<String> = s.rules.iter().map(|r| r.summary()).collect();
    Ok(match &s.backend {
        Backend::Local => json!({
            "backend": "embedded",
            "store": config.paths.data_dir,
            "ttl_secs": s.ttl_secs,
            "rotation_rules": rules,
        }),
        Backend::Vault(v) => json!({
            "backend": "vault",
            "addr": crate::service::redact_url(&v.addr),
            "mount": v.mount,
            "token": "set",
            "ttl_secs": s.ttl_secs,
            "rotation_rules": rules,
        }),
    })
}

/// Strict check of the `[secrets]` table at start-up (file, line, key).
pub fn check_table(src: &str, path: &Path) -> Result<(), crate::tomlpos::FileError> {
    crate::tomlpos::table::<FileSecrets>(src, path, "secrets").map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// The settings of `FILE` (a 0644 file, no inline token) with `flags` and `env`.
    fn from_file(flags: &Flags, env: &dyn Fn(&str) -> Option<String>) -> SecretsSettings {
        SecretsSettings::resolve(Some(FILE), Path::new("w.toml"), Some(0o644), flags, env).unwrap()
    }

    /// The error for the file source `src`, with no environment or flags.
    fn refused(src: &str) -> String {
        SecretsSettings::resolve(
            Some(src),
            Path::new("w.toml"),
            None,
            &Flags::default(),
            &none,
        )
        .unwrap_err()
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    fn vault(s: &SecretsSettings) -> &VaultSettings {
        match &s.backend {
            Backend::Vault(v) => v,
            Backend::Local => panic!("expected vault"),
        }
    }

    const FILE: &str = r#"
operator = "alice"
[secrets]
backend = "vault"
ttl = "7d"
[secrets.vault]
addr = "http://file:8200"
mount = "team"
token_env = "OPS_TOKEN"
[[secrets.rotation]]
path = "deployments/*"
keys = ["db_password"]
policy = "40:hex"
validate_cmd = "check"
[[secrets.rotation]]
path = "infra/smtp"
grace = "1h"
every = "30d"
"#;

    #[test]
    fn file_then_env_then_flags() {
        let env = |k: &str| (k == "OPS_TOKEN").then(|| "from-ops".to_string());
        let s = from_file(&Flags::default(), &env);
        let v = vault(&s);
        assert_eq!(
            (v.addr.as_str(), v.mount.as_str()),
            ("http://file:8200", "team")
        );
        assert_eq!(v.token.expose_secret(), "from-ops");
        assert_eq!(s.ttl_secs, 7 * 86_400);
        let env = |k: &str| match k {
            "VAULT_ADDR" => Some("http://env:8200".to_string()),
            "VAULT_TOKEN" => Some("from-env".to_string()),
            "OPS_TOKEN" => Some("from-ops".to_string()),
            _ => None,
        };
        let s = from_file(&Flags::default(), &env);
        assert_eq!(vault(&s).addr, "http://env:8200");
        assert_eq!(vault(&s).token.expose_secret(), "from-env");
        let flags = Flags {
            backend: Some("local".into()),
            ..Flags::default()
        };
        let s = from_file(&flags, &env);
        assert!(matches!(s.backend, Backend::Local));
        let flags = Flags {
            vault_mount: Some("flag".into()),
            ..Flags::default()
        };
        let s = from_file(&flags, &env);
        assert_eq!(vault(&s).mount, "flag");
        // No file, no env: the embedded store.
        let s = SecretsSettings::resolve(None, Path::new("w.toml"), None, &Flags::default(), &none)
            .unwrap();
        assert!(matches!(s.backend, Backend::Local));
        assert_eq!(s.ttl_secs, model::DEFAULT_TTL_SECS);
    }

    #[test]
    fn rules_match_by_path_or_prefix_first_wins() {
        let env = |k: &str| (k == "OPS_TOKEN").then(|| "t".to_string());
        let s = from_file(&Flags::default(), &env);
        let o = s.options_for("deployments/api-7");
        assert_eq!(o.keys, ["db_password"]);
        assert_eq!(o.default_policy, "40:hex".parse().unwrap());
        assert_eq!(o.validation, Validation::Command("check".into()));
        let o = s.options_for("infra/smtp");
        assert_eq!((o.grace_secs, o.validation), (3600, Validation::ReadBack));
        assert!(s.rule_for("infra/smtp2").is_none());
        assert_eq!(
            s.rule_for("infra/smtp").unwrap().every_secs,
            Some(30 * 86_400)
        );
        assert_eq!(s.rule_for("deployments/x").unwrap().every_secs, None);
        assert_eq!(s.options_for("other").keys, Vec::<String>::new());
    }

    #[test]
    fn an_inline_token_needs_a_private_file() {
        let src = "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddr = \"http://a:1\"\ntoken = \"hvs.inline\"\n";
        let err = SecretsSettings::resolve(
            Some(src),
            Path::new("/etc/w.toml"),
            Some(0o100644),
            &Flags::default(),
            &none,
        )
        .unwrap_err();
        assert!(
            err.contains("/etc/w.toml") && err.contains("chmod 600") && err.contains("644"),
            "{err}"
        );
        assert!(!err.contains("hvs.inline"));
        let s = SecretsSettings::resolve(
            Some(src),
            Path::new("/etc/w.toml"),
            Some(0o100600),
            &Flags::default(),
            &none,
        )
        .unwrap();
        assert_eq!(vault(&s).token.expose_secret(), "hvs.inline");
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let src = "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddr = \"http://a:1\"\ntoken = \"hvs.inline\"\n";
        let file = crate::config::parse_file(src, Path::new("w.toml")).unwrap();
        assert!(!format!("{file:?}").contains("hvs.inline"));
        let s = SecretsSettings::resolve(
            Some(src),
            Path::new("w.toml"),
            Some(0o600),
            &Flags::default(),
            &none,
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hvs.inline"));
    }

    #[test]
    fn a_token_in_token_env_is_refused_without_being_shown() {
        let err = refused(
            "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddr = \"http://v:8200\"\ntoken_env = \"hvs.s3cr3t-token\"\n",
        );
        assert!(err.contains("must name an environment variable"), "{err}");
        assert!(!err.contains("hvs.s3cr3t-token"), "{err}");
    }

    #[test]
    fn a_rule_path_ends_in_at_most_one_star() {
        let err = refused("[[secrets.rotation]]\npath = \"deployments/**\"\n");
        assert!(err.contains("prefix ending in *"), "{err}");
    }

    #[test]
    fn a_policy_given_by_a_person_covers_every_key() {
        let rule = RotationRule {
            every_secs: None,
            path: "a/*".into(),
            set: Overrides {
                policies: BTreeMap::from([("pin".to_string(), "12:digits".parse().unwrap())]),
                ..Overrides::default()
            },
        };
        let given = Overrides {
            default_policy: Some("40:hex".parse().unwrap()),
            ..Overrides::default()
        };
        let o = given.apply(rule.options());
        assert_eq!(o.default_policy, "40:hex".parse().unwrap());
        assert!(o.policies.is_empty(), "{:?}", o.policies);
        // Without a person's policy, the rule's per-key one stands.
        assert_eq!(Overrides::default().apply(rule.options()).policies.len(), 1);
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        let err = refused("[secrets]\nbakend = \"vault\"\n");
        assert!(
            err.contains("w.toml") && err.contains("line 2") && err.contains("bakend"),
            "{err}"
        );
        let err = refused("[[secrets.rotation]]\npath = \"a/*\"\npolicy = \"3\"\n");
        assert!(err.contains("#1") && err.contains("policy"), "{err}");
        for every in ["\"tomorrow\"", "\"0s\"", "\"-1d\""] {
            let err = refused(&format!(
                "[[secrets.rotation]]\npath = \"a/*\"\n[[secrets.rotation]]\npath = \"b\"\nevery = {every}\n"
            ));
            assert!(
                err.contains("w.toml") && err.contains("#2") && err.contains("every"),
                "{every}: {err}"
            );
        }
        let err = refused("[secrets]\nbackend = \"vault\"\n");
        assert!(
            err.contains("VAULT_ADDR") && err.contains("[secrets.vault]"),
            "{err}"
        );
    }
}
