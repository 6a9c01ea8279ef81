//! `windflow config show`: the console's settings, then where each domain's data
//! lives, as the console and the subcommands would resolve it now. Nothing
//! secret is shown: URLs lose their passwords, tokens and keys show only whether
//! they are set. A domain whose settings do not resolve shows the error instead,
//! which is what one wants to see when a backend will not come up.

use serde_json::{Value, json};

use crate::config::Config;

/// Each domain's section (`{"sessions": {...}, "secrets": {...}, ...}`, from
/// the domain list), then the agent's.
pub fn backends(config: &Config, redis: &crate::domains::RedisChoice) -> Value {
    let mut sections = serde_json::Map::new();
    for domain in crate::domains::DOMAINS {
        if let Some(shown) = domain.shown {
            sections.insert(domain.id.into(), or_error(shown(config, redis)));
        }
    }
    let redis_url = redis
        .as_ref()
        .ok()
        .and_then(|r| r.as_ref())
        .map(|r| r.url.as_str());
    sections.insert("agent".into(), or_error(agent(config, redis_url)));
    Value::Object(sections)
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
