//! Session settings: the `[sessions]` table of `windflow.toml` (the
//! absolute lifetime, ASCII-only user ids) and, for a `rediss://` session
//! store, the Redis TLS files (the environment wins).
//!
//! ```toml
//! [sessions]
//! redis_url = "rediss://redis.internal:6380"             # WINDFLOW_REDIS_URL, --redis-url win
//! redis_password_file = "/etc/windflow/redis.pass"      # mode 0600; or:
//! redis_password_env = "REDIS_PASSWORD"                  # the variable that holds it
//! max_lifetime = "12h"                                   # however active, a session ends then
//! redis_ca_file = "/etc/windflow/redis-ca.pem"          # WINDFLOW_REDIS_CA_FILE
//! redis_client_cert = "/etc/windflow/redis-client.pem"  # WINDFLOW_REDIS_CLIENT_CERT
//! redis_client_key = "/etc/windflow/redis-client.key"   # WINDFLOW_REDIS_CLIENT_KEY (mode 0600)
//! ```
//!
//! The Redis URL is taken from `--redis-url`, else `WINDFLOW_REDIS_URL`, else
//! `redis_url` here (without one, sessions stay in the embedded store). A
//! password is never written in the file's URL: `redis_password_file` or
//! `redis_password_env` gives it to whichever URL is used, unless that URL
//! carries its own.
//!
//! Relative paths in the file are taken from the file's folder. The CA file
//! replaces the system roots for the server's certificate; the client
//! certificate and key (PEM, both or neither) are presented to a server
//! that asks for one (mutual TLS, `tls-auth-clients yes`). The key file must
//! be private to its owner, as the master key file is.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::backend::{Result, SessionError};

/// Names a PEM file of CA certificates to trust for `rediss://`.
pub const REDIS_CA_ENV: &str = "WINDFLOW_REDIS_CA_FILE";
/// Names the PEM client certificate (chain) for mutual TLS.
pub const REDIS_CLIENT_CERT_ENV: &str = "WINDFLOW_REDIS_CLIENT_CERT";
/// Names the PEM private key of the client certificate.
pub const REDIS_CLIENT_KEY_ENV: &str = "WINDFLOW_REDIS_CLIENT_KEY";

/// A file named by a setting, with where the setting came from (for errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSetting {
    pub path: PathBuf,
    /// `WINDFLOW_REDIS_CLIENT_KEY`, or `<config file> [sessions] redis_client_key`.
    pub origin: String,
}

impl FileSetting {
    pub fn named(&self) -> String {
        format!("{} ({})", self.path.display(), self.origin)
    }
}

/// The TLS files for a `rediss://` session store. Holds paths only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisTls {
    pub ca_file: Option<FileSetting>,
    pub client_cert: Option<FileSetting>,
    pub client_key: Option<FileSetting>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionsTable {
    /// Refuse user ids that are not ASCII (see [`ascii_user_ids`]).
    ascii_user_ids: Option<bool>,
    /// The absolute lifetime (see [`max_lifetime`]).
    max_lifetime: Option<String>,
    /// The session store (see [`redis`]).
    redis_url: Option<String>,
    redis_password_file: Option<PathBuf>,
    redis_password_env: Option<String>,
    redis_ca_file: Option<PathBuf>,
    redis_client_cert: Option<PathBuf>,
    redis_client_key: Option<PathBuf>,
}

/// `[sessions] ascii_user_ids` (default false): whether `sessions create`
/// refuses user ids that are not ASCII, so that no id can pass for another
/// (`аlice` with a Cyrillic `а`). Off, such ids are accepted and marked
/// LOOK-ALIKE wherever sessions are listed.
pub fn ascii_user_ids(config: &crate::config::Config) -> std::result::Result<bool, String> {
    let Some(table) = crate::config::file_table(config, "sessions")? else {
        return Ok(false);
    };
    let t: SessionsTable = table
        .try_into()
        .map_err(|e| format!("{} [sessions]: {e}", config.paths.config_file.display()))?;
    Ok(t.ascii_user_ids.unwrap_or(false))
}

/// `[sessions] max_lifetime` (default 12h): how long after its creation a
/// session ends, however active (`30m`, `12h`, `1d`; at least a minute).
pub fn max_lifetime(
    config: &crate::config::Config,
) -> std::result::Result<std::time::Duration, String> {
    let default = std::time::Duration::from_millis(super::model::DEFAULT_MAX_LIFETIME_MS as u64);
    let Some(table) = crate::config::file_table(config, "sessions")? else {
        return Ok(default);
    };
    let file = config.paths.config_file.display();
    let t: SessionsTable = table
        .try_into()
        .map_err(|e| format!("{file} [sessions]: {e}"))?;
    let Some(text) = t.max_lifetime else {
        return Ok(default);
    };
    let secs = crate::secrets::model::parse_duration(&text)
        .map_err(|e| format!("{file} [sessions] max_lifetime: {e}"))?;
    if secs < 60 {
        return Err(format!(
            "{file} [sessions] max_lifetime = {text:?}: at least 1m"
        ));
    }
    Ok(std::time::Duration::from_secs(secs.unsigned_abs()))
}

/// Strict check of the `[sessions]` table at start-up (file, line, key).
pub fn check_table(src: &str, path: &Path) -> std::result::Result<(), crate::tomlpos::FileError> {
    crate::tomlpos::table::<SessionsTable>(src, path, "sessions").map(drop)
}

/// The session store's Redis, as resolved from the flag, the environment
/// and the file.
pub struct Redis {
    /// The URL to connect with (its password included: never shown as is).
    pub url: Zeroizing<String>,
    /// `--redis-url`, `WINDFLOW_REDIS_URL`, or `<file> [sessions] redis_url`.
    pub origin: String,
    /// Where the password came from, when not from the URL itself.
    pub password_origin: Option<String>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("url", &crate::service::redact_url(&self.url))
            .field("origin", &self.origin)
            .field("password_origin", &self.password_origin)
            .finish()
    }
}

/// The session store's Redis: `given` (`--redis-url` or `WINDFLOW_REDIS_URL`,
/// named by `given_origin`), else `[sessions] redis_url`; `None` for the
/// embedded store. The password of `redis_password_file` (0600) or
/// `redis_password_env` goes into a URL without one. Errors name the
/// setting at fault and never show a password.
pub fn redis(
    config: &crate::config::Config,
    given: Option<(&str, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Option<Redis>, String> {
    let file = &config.paths.config_file;
    let t: SessionsTable = match crate::config::file_table(config, "sessions")? {
        Some(table) => table
            .try_into()
            .map_err(|e| format!("{} [sessions]: {e}", file.display()))?,
        None => SessionsTable::default(),
    };
    let at = |key: &str| format!("{} [sessions] {key}", file.display());
    let (url, origin) = match (given, t.redis_url.filter(|u| !u.trim().is_empty())) {
        (Some((url, origin)), _) => (url.to_owned(), origin.to_owned()),
        (None, Some(url)) => {
            if url::Url::parse(&url).is_ok_and(|u| u.password().is_some()) {
                return Err(format!(
                    "{}: the URL holds a password; keep it out of the file's text with \
                     redis_password_file (mode 0600) or redis_password_env",
                    at("redis_url")
                ));
            }
            (url, at("redis_url"))
        }
        (None, None) => return Ok(None),
    };
    let url = Zeroizing::new(url);
    let password = match (t.redis_password_file, t.redis_password_env) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "{} and redis_password_env are both set: keep one",
                at("redis_password_file")
            ));
        }
        (Some(path), None) => {
            let path = file.parent().unwrap_or(Path::new("")).join(path);
            let setting = FileSetting {
                origin: at("redis_password_file"),
                path,
            };
            Some((password_file(&setting)?, setting.named()))
        }
        (None, Some(var)) => {
            let is_name = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !is_name {
                return Err(format!(
                    "{} must name an environment variable (letters, digits and _), \
                     not hold the password",
                    at("redis_password_env")
                ));
            }
            let value = env(&var).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("{} names {var}, which is not set", at("redis_password_env"))
            })?;
            Some((
                Zeroizing::new(value),
                format!("{var} ({})", at("redis_password_env")),
            ))
        }
        (None, None) => None,
    };
    let Some((password, password_origin)) = password else {
        return Ok(Some(Redis {
            url,
            origin,
            password_origin: None,
        }));
    };
    let mut parsed = url::Url::parse(&url)
        .map_err(|e| format!("the Redis URL from {origin} does not parse: {e}"))?;
    if parsed.password().is_some() {
        return Err(format!(
            "the Redis URL from {origin} holds a password and {password_origin} gives \
             another: keep one"
        ));
    }
    parsed.set_password(Some(&password)).map_err(|()| {
        format!("the Redis URL from {origin} takes no password (no host): put it in the URL")
    })?;
    Ok(Some(Redis {
        url: Zeroizing::new(parsed.into()),
        origin,
        password_origin: Some(password_origin),
    }))
}

/// The first line of a password file, which must be private to its owner.
fn password_file(f: &FileSetting) -> std::result::Result<Zeroizing<String>, String> {
    let bytes = read_private(f, "the Redis password file").map_err(|e| e.to_string())?;
    let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
    let line = text.lines().next().unwrap_or_default().trim();
    if line.is_empty() {
        return Err(format!("the Redis password file {} is empty", f.named()));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

impl RedisTls {
    /// From the `[sessions]` table of `config_file` (if any) and `env`;
    /// errors name the key at fault.
    pub fn load(
        table: Option<&toml::Table>,
        config_file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, String> {
        let t: SessionsTable = match table {
            Some(t) => t
                .clone()
                .try_into()
                .map_err(|e| format!("{} [sessions]: {e}", config_file.display()))?,
            None => SessionsTable::default(),
        };
        let base = config_file.parent().unwrap_or(Path::new(""));
        let pick = |var: &str, key: &str, file: Option<PathBuf>| {
            if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
                return Some(FileSetting {
                    path: PathBuf::from(v),
                    origin: var.to_owned(),
                });
            }
            file.filter(|p| !p.as_os_str().is_empty())
                .map(|p| FileSetting {
                    path: base.join(p),
                    origin: format!("{} [sessions] {key}", config_file.display()),
                })
        };
        Ok(Self {
            ca_file: pick(REDIS_CA_ENV, "redis_ca_file", t.redis_ca_file),
            client_cert: pick(
                REDIS_CLIENT_CERT_ENV,
                "redis_client_cert",
                t.redis_client_cert,
            ),
            client_key: pick(REDIS_CLIENT_KEY_ENV, "redis_client_key", t.redis_client_key),
        })
    }

    /// From the process environment alone.
    pub fn from_env() -> Self {
        Self::load(None, Path::new("windflow.toml"), &|k| std::env::var(k).ok()).unwrap_or_default()
    }

    /// From the config file of `config` and the process environment.
    pub fn from_config(config: &crate::config::Config) -> std::result::Result<Self, String> {
        let table = crate::config::file_table(config, "sessions")?;
        Self::load(table.as_ref(), &config.paths.config_file, &|k| {
            std::env::var(k).ok()
        })
    }

    /// [`RedisTls::from_config`], with the files checked when `redis_url`
    /// is given (as [`RedisTls::certificates`] does), so the console stops
    /// on a bad file before it takes the terminal.
    pub fn checked(
        config: &crate::config::Config,
        redis_url: Option<&str>,
    ) -> std::result::Result<Self, String> {
        let tls = Self::from_config(config)?;
        if let Some(url) = redis_url {
            super::backend::RedisStore::check_tls(url, &tls).map_err(|e| e.to_string())?;
        }
        Ok(tls)
    }

    /// Whether anything is set.
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }

    /// Reads and checks the files: the key must be private, certificate and
    /// key must come together and belong to each other. `None` when nothing
    /// is set. Errors name the file and the setting, never a key's content.
    pub fn certificates(&self) -> Result<Option<redis::TlsCertificates>> {
        if !self.is_set() {
            return Ok(None);
        }
        let root_cert = match &self.ca_file {
            Some(ca) => {
                let pem = read(ca, "the CA certificate")?;
                if certs(&pem).is_empty() {
                    return Err(SessionError::Input(format!(
                        "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the Redis CA file",
                        ca.named()
                    )));
                }
                Some(pem)
            }
            None => None,
        };
        let client_tls = match (&self.client_cert, &self.client_key) {
            (None, None) => None,
            (Some(cert), None) => {
                return Err(SessionError::Input(format!(
                    "the Redis client certificate {} is set without its key: set {REDIS_CLIENT_KEY_ENV} \
                     (or redis_client_key in [sessions] of windflow.toml) too",
                    cert.named()
                )));
            }
            (None, Some(key)) => {
                return Err(SessionError::Input(format!(
                    "the Redis client key {} is set without its certificate: set {REDIS_CLIENT_CERT_ENV} \
                     (or redis_client_cert in [sessions] of windflow.toml) too",
                    key.named()
                )));
            }
            (Some(cert), Some(key)) => Some(client_identity(cert, key)?),
        };
        Ok(Some(redis::TlsCertificates {
            client_tls,
            root_cert,
        }))
    }
}

fn read(f: &FileSetting, what: &str) -> Result<Vec<u8>> {
    std::fs::read(&f.path)
        .map_err(|e| SessionError::Input(format!("{}: cannot read {what}: {e}", f.named())))
}

fn certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(std::result::Result::ok)
        .collect()
}

/// Reads a private key file, refusing one open to group or others.
fn read_private(f: &FileSetting, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let cannot =
        |e: std::io::Error| SessionError::Input(format!("{}: cannot read {what}: {e}", f.named()));
    let mut file = std::fs::File::open(&f.path).map_err(cannot)?;
    if let Some(mode) = crate::fsutil::exposed_mode(&file).map_err(cannot)? {
        return Err(SessionError::Input(format!(
            "{what} {} is {} by group/others (mode {mode:04o}); run chmod 600 {}",
            f.named(),
            crate::fsutil::exposure(mode),
            f.path.display()
        )));
    }
    let mut buf = Zeroizing::new(Vec::new());
    file.read_to_end(&mut buf).map_err(cannot)?;
    Ok(buf)
}

/// The client certificate and key, checked to belong together.
fn client_identity(cert: &FileSetting, key: &FileSetting) -> Result<redis::ClientTlsConfig> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let cert_pem = read(cert, "the Redis client certificate")?;
    let chain = certs(&cert_pem);
    if chain.is_empty() {
        return Err(SessionError::Input(format!(
            "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the Redis client certificate file",
            cert.named()
        )));
    }
    let key_pem = read_private(key, "the Redis client key")?;
    // The parser's error text is not shown: it may quote the file.
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        SessionError::Input(format!(
            "{}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the Redis client key file",
            key.named()
        ))
    })?;
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::ring::default_provider()));
    let signing = provider.key_provider.load_private_key(der).map_err(|e| {
        SessionError::Input(format!(
            "{}: the Redis client key cannot be used: {e}",
            key.named()
        ))
    })?;
    match rustls::sign::CertifiedKey::new(chain, signing).keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(SessionError::Input(format!(
                "the Redis client certificate {} and key {} do not match: the key is not the certificate's",
                cert.named(),
                key.named()
            )));
        }
        Err(e) => {
            return Err(SessionError::Input(format!(
                "{}: cannot check the Redis client certificate against its key: {e}",
                cert.named()
            )));
        }
    }
    Ok(redis::ClientTlsConfig {
        client_cert: cert_pem,
        client_key: key_pem.to_vec(),
    })
}

/// The `config show` section: the embedded store, or Redis (password
/// hidden) with its TLS files checked as the console checks them.
pub fn config_section(
    config: &crate::config::Config,
    redis: &crate::domains::RedisChoice,
) -> std::result::Result<serde_json::Value, String> {
    use serde_json::json;
    let redis = redis.as_ref().map_err(Clone::clone)?.as_ref();
    let tls = RedisTls::checked(config, redis.map(|r| r.url.as_str()))?;
    let file = |f: &Option<FileSetting>| {
        f.as_ref()
            .map(|f| json!({ "path": f.path, "from": f.origin }))
    };
    Ok(match redis {
        None => json!({ "backend": "embedded", "store": config.paths.data_dir }),
        Some(r) => json!({
            "backend": "redis",
            "url": crate::service::redact_url(&r.url),
            "url_from": r.origin,
            "password_from": r.password_origin,
            "ca_file": file(&tls.ca_file),
            "client_cert": file(&tls.client_cert),
            "client_key": file(&tls.client_key),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_beats_file_and_file_paths_are_relative_to_the_file() {
        let table: toml::Table = toml::from_str(
            "redis_ca_file = \"ca.pem\"\nredis_client_cert = \"/abs/client.pem\"\nredis_client_key = \"keys/client.key\"\n",
        )
        .unwrap();
        let env = |k: &str| (k == REDIS_CLIENT_KEY_ENV).then(|| "/env/client.key".to_string());
        let t = RedisTls::load(Some(&table), Path::new("/etc/wf/windflow.toml"), &env).unwrap();
        assert_eq!(t.ca_file.unwrap().path, PathBuf::from("/etc/wf/ca.pem"));
        let cert = t.client_cert.unwrap();
        assert_eq!(cert.path, PathBuf::from("/abs/client.pem"));
        assert_eq!(
            cert.origin,
            "/etc/wf/windflow.toml [sessions] redis_client_cert"
        );
        let key = t.client_key.unwrap();
        assert_eq!(key.path, PathBuf::from("/env/client.key"));
        assert_eq!(key.origin, REDIS_CLIENT_KEY_ENV);
        let none = RedisTls::load(None, Path::new("w.toml"), &|_| None).unwrap();
        assert!(!none.is_set());
        assert!(none.certificates().unwrap().is_none());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let table: toml::Table = toml::from_str("redis_client_crt = \"c.pem\"\n").unwrap();
        let err = RedisTls::load(Some(&table), Path::new("/w.toml"), &|_| None).unwrap_err();
        assert!(
            err.contains("/w.toml [sessions]") && err.contains("redis_client_crt"),
            "{err}"
        );
    }
}
