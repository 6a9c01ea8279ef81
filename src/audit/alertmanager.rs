//! Prometheus Alertmanager, through its v2 API: alerts posted to every
//! instance of a cluster (`POST /api/v2/alerts`), their state as it sees
//! them (`GET /api/v2/alerts`), and its silences (`/api/v2/silences`).
//!
//! An alert's labels are what Alertmanager groups, routes, silences and
//! de-duplicates by: `alertname` (the event type), `severity`, `user`,
//! `deployment` and `source="windflow"`. The event id is an annotation, so
//! a repeat of one alert (a second delivery, the folded repeats of a
//! window) keeps one alert firing instead of making another.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::alert::Alert;
use super::settings::{ChannelSpec, shown};
use crate::display::{clean, clean_line};

/// The `source` label of every alert WindFlow sends.
pub const SOURCE: &str = "windflow";

/// The body of `POST /api/v2/alerts` for `alert`. Every value that came from
/// outside (event type, user, details) is shown as by [`crate::display`]:
/// a receiver may print it to a terminal or a pager.
pub fn payload(alert: &Alert, generator_url: Option<&str>) -> serde_json::Value {
    let e = &alert.event;
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), json!(clean_line(&e.event_type)));
    labels.insert("severity".into(), json!(e.severity.as_str()));
    labels.insert("source".into(), json!(SOURCE));
    if let Some(u) = e.user_id.as_deref().filter(|u| !u.is_empty()) {
        labels.insert("user".into(), json!(clean_line(u)));
    }
    if let Some(d) = e.details["deployment"].as_str().filter(|d| !d.is_empty()) {
        labels.insert("deployment".into(), json!(clean_line(d)));
    }
    let mut annotations = serde_json::Map::new();
    annotations.insert("summary".into(), json!(clean_line(&alert.summary())));
    annotations.insert("description".into(), json!(clean(&e.details.to_string())));
    annotations.insert("event_id".into(), json!(clean_line(&e.id)));
    if alert.count > 1 {
        annotations.insert("count".into(), json!(alert.count.to_string()));
    }
    let mut one = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": e.timestamp,
    });
    if let Some(g) = generator_url {
        one["generatorURL"] = json!(g);
    }
    json!([one])
}

/// One matcher of a silence: `name=value`, `name!=value`, `name=~regex`
/// or `name!~regex`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    /// `k=v`, `k!=v`, `k=~re` or `k!~re`; the error names the text.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("matcher {s:?}: write label=value (or !=, =~, !~)");
        let i = s.find(['=', '!']).ok_or_else(bad)?;
        let (name, rest) = s.split_at(i);
        let (op, value) = ["!=", "=~", "!~", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
            .ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "matcher {s:?}: the label name must be letters, digits and _"
            ));
        }
        if op.contains('~') {
            regex::Regex::new(value).map_err(|e| format!("matcher {s:?}: bad regex: {e}"))?;
        }
        Ok(Self {
            name: name.into(),
            value: value.into(),
            is_regex: op.contains('~'),
            is_equal: !op.starts_with('!'),
        })
    }

    /// Whether `labels` satisfy this matcher, as Alertmanager decides
    /// (a regex matches the whole value).
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        let hit = if self.is_regex {
            regex::Regex::new(&format!("^(?:{})$", self.value)).is_ok_and(|r| r.is_match(v))
        } else {
            v == self.value
        };
        hit == self.is_equal
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct SilenceStatus {
    pub state: String,
}

/// A silence as Alertmanager keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Silence {
    pub id: String,
    pub status: SilenceStatus,
    pub matchers: Vec<Matcher>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "createdBy")]
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    pub fn matchers_text(&self) -> String {
        self.matchers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct AlertStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
    #[serde(rename = "silencedBy", default)]
    pub silenced_by: Vec<String>,
    #[serde(rename = "inhibitedBy", default)]
    pub inhibited_by: Vec<String>,
}

/// An alert as Alertmanager holds it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct AmAlert {
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    pub fingerprint: String,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    pub status: AlertStatus,
}

/// A silence to create.
#[derive(Clone, Debug)]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    pub duration: Duration,
    pub created_by: String,
    pub comment: String,
}

/// The Alertmanager instances of one channel, with its credentials.
#[derive(Clone)]
pub struct AmClient {
    spec: ChannelSpec,
    http: reqwest::Client,
}

impl std::fmt::Debug for AmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmClient")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// The HTTP client of a channel: 10 s per request, no proxy, and the CA of
/// `ca_file` trusted as well when one is given.
pub fn http_client(spec: &ChannelSpec) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy();
    if let Some(ca) = &spec.ca_file {
        let pem = std::fs::read(ca).map_err(|e| {
            format!(
                "alert channel {:?}: CA file {}: {e}",
                spec.name,
                ca.display()
            )
        })?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "alert channel {:?}: CA file {}: not a PEM certificate: {e}",
                spec.name,
                ca.display()
            )
        })?;
        b = b.add_root_certificate(cert);
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// `req` with the channel's basic auth or bearer token.
pub fn with_auth(spec: &ChannelSpec, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    if let Some(t) = &spec.bearer_token {
        req.bearer_auth(t.expose_secret())
    } else if let Some(u) = &spec.username {
        req.basic_auth(u, spec.password.as_ref().map(|p| p.expose_secret()))
    } else {
        req
    }
}

impl AmClient {
    pub fn new(spec: &ChannelSpec) -> Result<Self, String> {
        Ok(Self {
            http: http_client(spec)?,
            spec: spec.clone(),
        })
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    fn endpoint(base: &SecretString, path: &str) -> String {
        format!("{}{path}", base.expose_secret().trim_end_matches('/'))
    }

    /// Sends `req`; the error names the instance (never its credentials)
    /// and what it answered.
    async fn call(
        &self,
        base: &SecretString,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, String> {
        let at = shown(base.expose_secret());
        let resp = with_auth(&self.spec, req)
            .send()
            .await
            .map_err(|e| format!("{at} unreachable: {}", e.without_url()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(200).collect();
        Err(match status.as_u16() {
            401 | 403 => format!(
                "{at} answered {status}: the credentials were refused (username/password or bearer_token)"
            ),
            _ => format!("{at} answered {status}: {}", clean_line(&body)),
        })
    }

    /// Posts `alert` to every instance; delivered when at least one took it
    /// (as Prometheus does: the cluster de-duplicates notifications). The
    /// error says what each instance answered.
    pub async fn post(&self, alert: &Alert) -> Result<(), String> {
        let body = payload(alert, self.spec.generator_url.as_deref());
        let mut errors = Vec::new();
        let mut took = false;
        for base in self.spec.all_urls() {
            let req = self
                .http
                .post(Self::endpoint(base, "/api/v2/alerts"))
                .json(&body);
            match self.call(base, req).await {
                Ok(_) => took = true,
                Err(e) => errors.push(e),
            }
        }
        if took {
            if !errors.is_empty() {
                tracing::warn!(channel = %self.spec.name, errors = %errors.join("; "), "an Alertmanager instance did not take an alert");
            }
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// A GET of `path` from the first instance that answers.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let mut errors = Vec::new();
        for base in self.spec.all_urls() {
            let req = self.http.get(Self::endpoint(base, path));
            match self.call(base, req).await {
                Ok(resp) => {
                    return resp.json::<T>().await.map_err(|e| {
                        format!(
                            "{}: unexpected answer to {path}: {}",
                            shown(base.expose_secret()),
                            e.without_url()
                        )
                    });
                }
                Err(e) => errors.push(e),
            }
        }
        Err(errors.join("; "))
    }

    /// The alerts WindFlow sent (`source="windflow"`), with their state.
    pub async fn alerts(&self) -> Result<Vec<AmAlert>, String> {
        self.get("/api/v2/alerts?filter=source%3D%22windflow%22")
            .await
    }

    /// Every silence Alertmanager knows, expired ones included.
    pub async fn silences(&self) -> Result<Vec<Silence>, String> {
        self.get("/api/v2/silences").await
    }

    /// Creates a silence from now for `s.duration`; returns its id. Sent to
    /// the first instance that takes it (a cluster shares its silences).
    pub async fn create_silence(&self, s: &NewSilence) -> Result<String, String> {
        let now = chrono::Utc::now();
        let ends = now
            + chrono::Duration::from_std(s.duration)
                .map_err(|_| "the silence's duration is too long".to_string())?;
        let body = json!({
            "matchers": s.matchers,
            "startsAt": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "endsAt": ends.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "createdBy": s.created_by,
            "comment": s.comment,
        });
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "silenceID")]
            id: String,
        }
        let mut errors = Vec::new();
        for base in self.spec.all_urls() {
            let req = self
                .http
                .post(Self::endpoint(base, "/api/v2/silences"))
                .json(&body);
            match self.call(base, req).await {
                Ok(resp) => {
                    return resp
                        .json::<Created>()
                        .await
                        .map(|c| c.id)
                        .map_err(|e| format!("unexpected answer: {}", e.without_url()));
                }
                // An answer that refuses the silence is the same from every instance.
                Err(e) if !e.contains("unreachable") => return Err(e),
                Err(e) => errors.push(e),
            }
        }
        Err(errors.join("; "))
    }

    /// Expires the silence `id`.
    pub async fn expire_silence(&self, id: &str) -> Result<(), String> {
        let id = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let mut errors = Vec::new();
        for base in self.spec.all_urls() {
            let req = self
                .http
                .delete(Self::endpoint(base, &format!("/api/v2/silence/{id}")));
            match self.call(base, req).await {
                Ok(_) => return Ok(()),
                Err(e) if !e.contains("unreachable") => return Err(e),
                Err(e) => errors.push(e),
            }
        }
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{SecurityEvent, Severity};

    #[test]
    fn labels_annotations_and_a_folded_count() {
        let mut ev = SecurityEvent::new(
            "mfa_lockout",
            Some("bob\x1b[2J"),
            json!({"deployment": "payments", "why": "x\ny"}),
        );
        ev.severity = Severity::Critical;
        let one = payload(&Alert::new(ev.clone(), 1), None);
        let a = &one[0];
        assert_eq!(a["labels"]["alertname"], "mfa_lockout");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["source"], "windflow");
        assert_eq!(a["labels"]["deployment"], "payments");
        assert_eq!(a["labels"]["user"], "bob\\x1b[2J");
        assert_eq!(a["annotations"]["event_id"], ev.id.as_str());
        assert!(a["annotations"].get("count").is_none());
        assert!(a.get("generatorURL").is_none());
        assert_eq!(a["startsAt"], ev.timestamp.as_str());
        let folded = payload(&Alert::new(ev, 7), Some("https://wf.example/audit"));
        assert_eq!(folded[0]["annotations"]["count"], "7");
        assert_eq!(folded[0]["generatorURL"], "https://wf.example/audit");
        // The same labels: one alert firing in Alertmanager.
        assert_eq!(folded[0]["labels"], one[0]["labels"]);
    }

    #[test]
    fn matchers_parse_print_and_match() {
        let m = Matcher::parse("user=bob").unwrap();
        assert!(m.is_equal && !m.is_regex);
        assert_eq!(m.to_string(), "user=\"bob\"");
        let r = Matcher::parse("alertname=~mfa_.*").unwrap();
        assert!(r.is_regex && r.is_equal);
        let n = Matcher::parse("severity!=low").unwrap();
        assert!(!n.is_equal && !n.is_regex);
        let labels = [("user", "bob"), ("alertname", "mfa_lockout")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(m.matches(&labels) && r.matches(&labels) && n.matches(&labels));
        assert!(!Matcher::parse("user=~bo").unwrap().matches(&labels));
        for bad in ["user", "=bob", "us er=bob", "a=~("] {
            let err = Matcher::parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
