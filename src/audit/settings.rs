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
//! kind = "webhook"            # webhook, slack or email
//! url = "https://hooks.example/audit"
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
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
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
        let url = self.url.expose_secret();
        let Some((scheme, rest)) = url.split_once("://") else {
            return "(invalid URL)".into();
        };
        let authority = rest.split('/').next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        format!("{scheme}://{host}")
    }
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
                }
                .to_string()
            };
            let url = c.url.expose_secret();
            let ok = match c.kind {
                ChannelKind::Email => url.starts_with("smtp://") || url.starts_with("smtps://"),
                _ => url.starts_with("http://") || url.starts_with("https://"),
            };
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
}
