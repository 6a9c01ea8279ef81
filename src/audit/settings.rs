//! Audit settings: the `[audit]` table of `windflow.toml` and the environment
//! (`ELASTICSEARCH_URL`, `WINDFLOW_ALERT_*`).
//!
//! ```toml
//! [audit]
//! tail_capacity = 100000      # events kept by the live tail
//! fold_minutes = 5            # repeats of (type, user) folded into one alert
//!
//! [[audit.channels]]
//! name = "oncall"
//! kind = "webhook"            # webhook, slack, email or alertmanager
//! url = "https://hooks.example/audit"
//!
//! [[audit.channels]]
//! name = "am"
//! kind = "alertmanager"       # Prometheus Alertmanager's v2 API
//! url = "http://alertmanager-0:9093"
//! urls = ["http://alertmanager-1:9093"]   # more instances of an HA cluster
//! bearer_token = "..."        # or username and password; ca_file for TLS
//! generator_url = "https://windflow.example/audit"
//!
//! [[audit.rules]]
//! min_severity = "high"       # and/or: types = ["mfa_lockout"]
//! channels = ["oncall"]       # omitted: every channel
//! ```

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Severity;
use super::tail::DEFAULT_CAPACITY;

/// Where Elasticsearch is and how to sign in.
#[derive(Clone)]
pub struct EsSettings {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub api_key: Option<SecretString>,
}

impl std::fmt::Debug for EsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsSettings")
            .field("url", &crate::service::redact_url(&self.url))
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl EsSettings {
    /// The URL with any password removed.
    pub fn shown(&self) -> String {
        crate::service::redact_url(&self.url)
    }

    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Webhook,
    Slack,
    Email,
    Alertmanager,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
            ChannelKind::Alertmanager => "alertmanager",
        }
    }
}

/// One alert channel. The URL may hold a token or a password: never shown whole.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub name: String,
    pub kind: ChannelKind,
    /// Webhook or Slack URL; for email `smtp://user:pass@host:port` or `smtps://`.
    pub url: SecretString,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub from: Option<String>,
    /// Email: a PEM file of the CA that signed the SMTP server's certificate
    /// (a private CA; public ones are trusted already).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Alertmanager: more instances of one HA cluster; every alert is
    /// posted to each (as Prometheus does).
    #[serde(default)]
    pub urls: Vec<SecretString>,
    /// HTTP basic auth (webhook, Slack, Alertmanager).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretString>,
    /// An `Authorization: Bearer` token (webhook, Slack, Alertmanager).
    #[serde(default)]
    pub bearer_token: Option<SecretString>,
    /// Alertmanager: the `generatorURL` of every alert (a link back to WindFlow).
    #[serde(default)]
    pub generator_url: Option<String>,
}

impl Default for ChannelSpec {
    /// A webhook with no URL: for struct literals that set what they need.
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: ChannelKind::Webhook,
            url: SecretString::from(String::new()),
            to: Vec::new(),
            from: None,
            ca_file: None,
            urls: Vec::new(),
            username: None,
            password: None,
            bearer_token: None,
            generator_url: None,
        }
    }
}

impl std::fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.shown_url())
            .finish_non_exhaustive()
    }
}

impl ChannelSpec {
    /// Scheme, host and port only (paths of Slack URLs are tokens).
    pub fn shown_url(&self) -> String {
        shown(self.url.expose_secret())
    }

    /// Every URL of the channel: `url`, then `urls`.
    pub fn all_urls(&self) -> impl Iterator<Item = &SecretString> {
        std::iter::once(&self.url).chain(&self.urls)
    }
}

impl ChannelSpec {
    /// What is wrong with the options beside the URL, if anything.
    fn http_options_problem(&self) -> Option<String> {
        let http = self.kind != ChannelKind::Email;
        if !http
            && (self.username.is_some() || self.password.is_some() || self.bearer_token.is_some())
        {
            return Some("username, password and bearer_token are for HTTP channels (an SMTP URL holds its own credentials)".into());
        }
        if self.kind != ChannelKind::Alertmanager
            && (!self.urls.is_empty() || self.generator_url.is_some())
        {
            return Some("urls and generator_url are for kind = \"alertmanager\"".into());
        }
        if self.bearer_token.is_some() && (self.username.is_some() || self.password.is_some()) {
            return Some("give either a bearer_token or a username and password, not both".into());
        }
        if self.password.is_some() && self.username.is_none() {
            return Some("a password without a username".into());
        }
        if let Some(g) = &self.generator_url
            && url::Url::parse(g).is_err()
        {
            return Some(format!("generator_url {g:?} is not a URL"));
        }
        None
    }
}

/// Scheme, host and port of `url` only.
pub fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(invalid URL)".into();
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// Which events go to which channels.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub types: Vec<String>,
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Channel names; empty means every channel.
    #[serde(default)]
    pub channels: Vec<String>,
}

impl Rule {
    /// The default rule: critical events to every channel.
    pub fn default_critical() -> Self {
        Self {
            types: Vec::new(),
            min_severity: Some(Severity::Critical),
            channels: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditTable {
    tail_capacity: Option<usize>,
    fold_minutes: Option<u64>,
    #[serde(default)]
    channels: Vec<ChannelSpec>,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
pub struct AuditSettings {
    pub elasticsearch: Option<EsSettings>,
    pub tail_capacity: usize,
    pub fold_window: Duration,
    pub channels: Vec<ChannelSpec>,
    pub rules: Vec<Rule>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            elasticsearch: None,
            tail_capacity: DEFAULT_CAPACITY,
            fold_window: Duration::from_secs(300),
            channels: Vec::new(),
            rules: vec![Rule::default_critical()],
        }
    }
}

impl AuditSettings {
    /// From the `[audit]` table (if any) of the config file `file` and `env`;
    /// errors name the file and key, or the variable, at fault.
    pub fn load(
        table: Option<&toml::Table>,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let file = file.display();
        let t: AuditTable = match table {
            Some(t) => t
                .clone()
                .try_into()
                .map_err(|e| format!("{file} [audit]: {e}"))?,
            None => AuditTable::default(),
        };
        let mut s = Self::default();
        if let Some(c) = t.tail_capacity {
            if c == 0 {
                return Err(format!("{file} [audit] tail_capacity: must be at least 1"));
            }
            s.tail_capacity = c;
        }
        if let Some(m) = t.fold_minutes {
            s.fold_window = m
                .checked_mul(60)
                .map(Duration::from_secs)
                .ok_or_else(|| format!("{file} [audit] fold_minutes: {m} is too large"))?;
        }
        let from_file = t.channels.len();
        s.channels = t.channels;
        let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if let Some(url) = set("WINDFLOW_ALERT_WEBHOOK_URL") {
            s.channels.push(ChannelSpec {
                name: "webhook".into(),
                kind: ChannelKind::Webhook,
                url: url.into(),
                to: Vec::new(),
                from: None,
                ca_file: None,
                ..Default::default()
            });
        }
        if let Some(url) = set("WINDFLOW_ALERT_SLACK_URL") {
            s.channels.push(ChannelSpec {
                name: "slack".into(),
                kind: ChannelKind::Slack,
                url: url.into(),
                to: Vec::new(),
                from: None,
                ca_file: None,
                ..Default::default()
            });
        }
        if let Some(url) = set("WINDFLOW_ALERT_SMTP_URL") {
            let to: Vec<String> = set("WINDFLOW_ALERT_EMAIL_TO")
                .ok_or("WINDFLOW_ALERT_SMTP_URL is set but WINDFLOW_ALERT_EMAIL_TO is not: set the recipients (comma-separated)")?
                .split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            s.channels.push(ChannelSpec {
                name: "email".into(),
                kind: ChannelKind::Email,
                url: url.into(),
                to,
                from: set("WINDFLOW_ALERT_EMAIL_FROM"),
                ca_file: set("WINDFLOW_ALERT_SMTP_CA_FILE").map(Into::into),
                ..Default::default()
            });
        }
        if let Some(urls) = set("WINDFLOW_ALERT_ALERTMANAGER_URL") {
            let mut urls = urls
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| SecretString::from(u.to_owned()));
            let url = urls.next().ok_or(
                "WINDFLOW_ALERT_ALERTMANAGER_URL: no URL (give one, or several comma-separated)",
            )?;
            s.channels.push(ChannelSpec {
                name: "alertmanager".into(),
                kind: ChannelKind::Alertmanager,
                url,
                urls: urls.collect(),
                username: set("WINDFLOW_ALERT_ALERTMANAGER_USERNAME"),
                password: set("WINDFLOW_ALERT_ALERTMANAGER_PASSWORD").map(SecretString::from),
                bearer_token: set("WINDFLOW_ALERT_ALERTMANAGER_TOKEN").map(SecretString::from),
                ca_file: set("WINDFLOW_ALERT_ALERTMANAGER_CA_FILE").map(Into::into),
                generator_url: set("WINDFLOW_ALERT_ALERTMANAGER_GENERATOR_URL"),
                ..Default::default()
            });
        }
        for (i, c) in s.channels.iter().enumerate() {
            let origin = if i < from_file {
                format!("{file} [[audit.channels]]")
            } else {
                match c.kind {
                    ChannelKind::Webhook => "WINDFLOW_ALERT_WEBHOOK_URL",
                    ChannelKind::Slack => "WINDFLOW_ALERT_SLACK_URL",
                    ChannelKind::Email => "WINDFLOW_ALERT_SMTP_URL",
                    ChannelKind::Alertmanager => "WINDFLOW_ALERT_ALERTMANAGER_URL",
                }
                .to_string()
            };
            let ok = c
                .all_urls()
                .map(ExposeSecret::expose_secret)
                .all(|url| match c.kind {
                    ChannelKind::Email => url.starts_with("smtp://") || url.starts_with("smtps://"),
                    _ => url.starts_with("http://") || url.starts_with("https://"),
                });
            if !ok {
                return Err(format!(
                    "{origin}: alert channel {:?} ({}): the URL must start with {}",
                    c.name,
                    c.kind.as_str(),
                    if c.kind == ChannelKind::Email {
                        "smtp:// or smtps://"
                    } else {
                        "http:// or https://"
                    }
                ));
            }
            if let Some(problem) = c.http_options_problem() {
                return Err(format!(
                    "{origin}: alert channel {:?} ({}): {problem}",
                    c.name,
                    c.kind.as_str()
                ));
            }
            if c.kind == ChannelKind::Email && c.to.is_empty() {
                return Err(format!(
                    "{origin}: alert channel {:?}: no recipient (to)",
                    c.name
                ));
            }
        }
        if !t.rules.is_empty() {
            for r in &t.rules {
                for ch in &r.channels {
                    if !s.channels.iter().any(|c| &c.name == ch) {
                        return Err(format!(
                            "{file} [[audit.rules]]: unknown channel {ch:?} (channels: {})",
                            s.channels
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
            }
            s.rules = t.rules;
        }
        if let Some(url) = set("ELASTICSEARCH_URL") {
            s.elasticsearch = Some(EsSettings {
                url,
                username: set("ELASTICSEARCH_USERNAME"),
                password: set("ELASTICSEARCH_PASSWORD").map(SecretString::from),
                api_key: set("ELASTICSEARCH_API_KEY").map(SecretString::from),
            });
        }
        Ok(s)
    }

    /// From the config file of `config` and the process environment.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, String> {
        let table = crate::config::file_table(config, "audit")?;
        Self::load(table.as_ref(), &config.paths.config_file, &|k| {
            std::env::var(k).ok()
        })
    }
}

/// The `config show` section: the local log, Elasticsearch (credentials
/// only as "set") and the alert channels.
pub fn config_section(
    config: &crate::config::Config,
    _redis: &crate::domains::RedisChoice,
) -> Result<serde_json::Value, String> {
    use serde_json::json;
    let s = AuditSettings::from_config(config)?;
    let channels: Vec<serde_json::Value> = s
        .channels
        .iter()
        .map(|c| json!({ "name": c.name, "kind": c.kind.as_str(), "to": c.shown_url() }))
        .collect();
    Ok(json!({
        "local_log": config.paths.data_dir.join("audit"),
        "elasticsearch": s.elasticsearch.as_ref().map(|es| json!({
            "url": es.shown(),
            "username": es.username,
            "password": es.password().map(|_| "set"),
            "api_key": es.api_key.as_ref().map(|_| "set"),
        })),
        "alert_channels": channels,
    }))
}

/// Strict check of the `[audit]` table at start-up (file, line, key).
pub fn check_table(src: &str, path: &std::path::Path) -> Result<(), crate::tomlpos::FileError> {
    crate::tomlpos::table::<AuditTable>(src, path, "audit").map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_from_file_and_env_and_default_rule() {
        let table: toml::Table = toml::from_str(
            r#"
            tail_capacity = 500
            [[channels]]
            name = "ops"
            kind = "webhook"
            url = "http://127.0.0.1:1/hook"
            "#,
        )
        .unwrap();
        let env = |k: &str| match k {
            "WINDFLOW_ALERT_SLACK_URL" => Some("https://hooks.slack.test/T/B/secret".into()),
            "WINDFLOW_ALERT_SMTP_URL" => Some("smtp://u:p@127.0.0.1:25".into()),
            "WINDFLOW_ALERT_EMAIL_TO" => Some("a@x.test, b@x.test".into()),
            _ => None,
        };
        let s = AuditSettings::load(Some(&table), Path::new("w.toml"), &env).unwrap();
        assert_eq!(s.tail_capacity, 500);
        let names: Vec<_> = s.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ops", "slack", "email"]);
        assert_eq!(s.channels[2].to, ["a@x.test", "b@x.test"]);
        assert_eq!(s.rules, [Rule::default_critical()]);
        assert!(!format!("{:?}", s.channels[1]).contains("secret"));
        assert!(!format!("{:?}", s.channels[2]).contains(":p@"));
    }

    #[test]
    fn bad_settings_name_what_is_wrong() {
        let env = |k: &str| (k == "WINDFLOW_ALERT_SMTP_URL").then(|| "smtp://h:25".to_string());
        assert!(
            AuditSettings::load(None, Path::new("w.toml"), &env)
                .unwrap_err()
                .contains("WINDFLOW_ALERT_EMAIL_TO")
        );
        let table: toml::Table = toml::from_str(
            r#"
            [[rules]]
            channels = ["nope"]
            "#,
        )
        .unwrap();
        let err =
            AuditSettings::load(Some(&table), Path::new("/etc/w.toml"), &|_| None).unwrap_err();
        assert!(
            err.starts_with("/etc/w.toml [[audit.rules]]: unknown channel \"nope\""),
            "{err}"
        );
    }

    #[test]
    fn alertmanager_from_env_and_file_with_its_options_checked() {
        let env = |k: &str| match k {
            "WINDFLOW_ALERT_ALERTMANAGER_URL" => Some("http://am-0:9093, http://am-1:9093".into()),
            "WINDFLOW_ALERT_ALERTMANAGER_TOKEN" => Some("tok-secret".into()),
            _ => None,
        };
        let s = AuditSettings::load(None, Path::new("w.toml"), &env).unwrap();
        let am = &s.channels[0];
        assert_eq!(am.kind, ChannelKind::Alertmanager);
        let urls: Vec<_> = am
            .all_urls()
            .map(|u| u.expose_secret().to_owned())
            .collect();
        assert_eq!(urls, ["http://am-0:9093", "http://am-1:9093"]);
        assert!(!format!("{am:?}").contains("tok-secret"));
        for (extra, want) in [
            (
                "bearer_token = \"t\"\nusername = \"u\"",
                "either a bearer_token",
            ),
            ("password = \"p\"", "without a username"),
            ("generator_url = \"not a url\"", "generator_url"),
            ("urls = [\"ftp://x\"]", "must start with http"),
        ] {
            let table: toml::Table = toml::from_str(&format!(
                "[[channels]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://a:9093\"\n{extra}"
            ))
            .unwrap();
            let err =
                AuditSettings::load(Some(&table), Path::new("/etc/w.toml"), &|_| None).unwrap_err();
            assert!(
                err.starts_with("/etc/w.toml [[audit.channels]]") && err.contains(want),
                "{extra}: {err}"
            );
        }
        let table: toml::Table = toml::from_str(
            "[[channels]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"http://a\"\nurls = [\"http://b\"]",
        )
        .unwrap();
        let err = AuditSettings::load(Some(&table), Path::new("w.toml"), &|_| None).unwrap_err();
        assert!(err.contains("for kind = \"alertmanager\""), "{err}");
    }
}
