//! `windflow config show`: the console's settings, then where each domain's data
//! lives, as the console and the subcommands would resolve it now. Nothing
//! secret is shown: URLs lose their passwords, tokens and keys show only whether
//! they are set. A domain whose settings do not resolve shows the error instead,
//! which is what one wants to see when a backend will not come up.

use serde_json::{Value, json};

use crate::config::Config;

/// Each domain's backend: `{"sessions": {...}, "secrets": {...}, "audit": {...}}`.
pub fn backends(config: &Config, redis_url: Option<&str>) -> Value {
    let env = |k: &str| std::env::var(k).ok();
    json!({
        "sessions": or_error(sessions(config, redis_url)),
        "secrets": or_error(secrets(config, &env)),
        "audit": or_error(audit(config)),
        "agent": or_error(agent(config, redis_url)),
    })
}

/// Whether several agents elect a leader (Redis configured), and the lease.
fn agent(config: &Config, redis_url: Option<&str>) -> Result<Value, String> {
    let s = crate::agent::settings::AgentSettings::from_config(config)?;
    Ok(match redis_url {
        None => {
            json!({ "lease": "none: one agent per data dir (WINDFLOW_REDIS_URL elects among several)" })
        }
        Some(url) => json!({ "lease": {
            "redis": crate::service::redact_url(url),
            "key": s.lease_key.unwrap_or_else(|| "windflow:agent:lease:<store id>".into()),
            "lease_secs": s.lease.as_secs(),
            "renew_secs": s.renew.as_secs_f64(),
        }}),
    })
}

fn or_error(v: Result<Value, String>) -> Value {
    v.unwrap_or_else(|e| json!({ "error": e }))
}

fn sessions(config: &Config, redis_url: Option<&str>) -> Result<Value, String> {
    // Checked as the console checks them: a missing or open key file shows here.
    let tls = crate::sessions::settings::RedisTls::checked(config, redis_url)?;
    let file = |f: &Option<crate::sessions::settings::FileSetting>| {
        f.as_ref()
            .map(|f| json!({ "path": f.path, "from": f.origin }))
    };
    Ok(match redis_url {
        None => json!({ "backend": "embedded", "store": config.paths.data_dir }),
        Some(url) => json!({
            "backend": "redis",
            "url": crate::service::redact_url(url),
            "ca_file": file(&tls.ca_file),
            "client_cert": file(&tls.client_cert),
            "client_key": file(&tls.client_key),
        }),
    })
}

fn secrets(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    use crate::secrets::settings::{Backend, Flags, SecretsSettings};
    let s = SecretsSettings::from_config(config, &Flags::default(), env)?;
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

fn audit(config: &Config) -> Result<Value, String> {
    let s = crate::audit::settings::AuditSettings::from_config(config)?;
    let channels: Vec<Value> = s
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

/// The text form: one line per setting, nested keys joined with dots.
pub fn lines(backends: &Value) -> Vec<String> {
    let mut out = Vec::new();
    flatten("", backends, &mut out);
    let width = out.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    out.into_iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect()
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) if items.is_empty() => out.push((prefix.to_owned(), "none".into())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&key(&i.to_string()), item, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_flatten_nested_settings_and_skip_unset_ones() {
        let v = json!({
            "audit": { "elasticsearch": null, "alert_channels": [], "local_log": "/d/audit" },
            "secrets": { "backend": "vault", "rotation_rules": ["rule a/*  keys k"] },
            "sessions": { "error": "bad file" },
        });
        assert_eq!(
            lines(&v),
            [
                "audit.alert_channels      none",
                "audit.local_log           /d/audit",
                "secrets.backend           vault",
                "secrets.rotation_rules.0  rule a/*  keys k",
                "sessions.error            bad file",
            ]
        );
    }
}
