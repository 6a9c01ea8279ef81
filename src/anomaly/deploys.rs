//! Features of a deployment, taken from the audit stream, for the
//! deployment detector; and the words that say why one scored high.
//!
//! A deployment is a `deployment` event: its user is the deployer, and its
//! details name the `deployment` (else its `service`), the `services` it
//! rolls out (a list of names, or one `service`) and the `images` (a list,
//! or one `image`), e.g. as a pipeline records it with `windflow audit log
//! --type deployment --user ci-bob --details '{"deployment":"payments",
//! "services":["api","ledger"],"images":["registry.example/payments/api:1.4.2",
//! "registry.example/payments/ledger:2.0.1"]}'`. `isolation_applied` is not
//! taken: it applies a deployment's network isolation, not its workloads,
//! and names no image. The gate's verdicts come from the
//! `deploy_gate_verdict` events before it (each image's latest).
//!
//! Its features, in this order:
//!
//! | # | feature | value |
//! |---|---|---|
//! | 0 | `hour_sin` | `sin(2π h / 24)`, `h` the UTC hour with minutes as a fraction |
//! | 1 | `hour_cos` | `cos(2π h / 24)` |
//! | 2 | `new_deployer` | 1 when the deployer never deployed this deployment before, else 0 |
//! | 3 | `services` | the number of services |
//! | 4 | `images` | the number of images |
//! | 5 | `verdict` | the gate's worst verdict on its images: 0 all allowed, 1 some image without a verdict, 2 some image blocked |
//! | 6 | `findings` | `log2(1 + critical and high findings)` over its images' latest verdicts |
//!
//! Its id (the `source_event` of `deployment_anomaly_detected`) is the
//! deployment event's id.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::features::{Baseline, STANDS_OUT};
use super::models::{Kind, Observed};
use crate::audit::SecurityEvent;

/// The event type of a deployment.
pub const DEPLOY_EVENT: &str = "deployment";
pub const DEPLOY_FEATURES: [&str; 7] = [
    "hour_sin",
    "hour_cos",
    "new_deployer",
    "services",
    "images",
    "verdict",
    "findings",
];

/// One deployment and its features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub deployment: String,
    pub user: String,
    pub at: DateTime<Utc>,
    /// The images the gate blocked.
    pub blocked: Vec<String>,
    /// Critical and high findings over its images.
    pub findings: u64,
    pub features: [f64; 7],
    /// The deployment event's id.
    pub source: String,
}

/// Who deployed what, and the gate's latest verdict on each image.
#[derive(Debug, Default)]
pub struct DeployHistory {
    deployers: HashMap<String, HashSet<String>>,
    /// Image: (0 allowed, 1 no verdict, 2 blocked; critical + high).
    verdicts: HashMap<String, (u8, u64)>,
}

fn names(d: &serde_json::Value, list: &str, one: &str) -> Vec<String> {
    match d.get(list) {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => d
            .get(one)
            .and_then(|v| v.as_str())
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default(),
    }
}

impl DeployHistory {
    /// Takes `event` into the history; for a deployment, returns its
    /// features (taken before the deployment itself is remembered). Events
    /// must come in time order.
    pub fn observe(&mut self, event: &SecurityEvent) -> Option<Deploy> {
        let d = &event.details;
        if event.event_type == crate::scans::verdicts::EVENT {
            let image = d.get("image")?.as_str()?;
            let decision = match d.get("decision").and_then(|v| v.as_str()) {
                Some("allowed") => 0,
                Some("blocked") => 2,
                _ => 1,
            };
            let count = |k: &str| d.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            self.verdicts.insert(
                image.to_owned(),
                (decision, count("critical") + count("high")),
            );
            return None;
        }
        if event.event_type != DEPLOY_EVENT {
            return None;
        }
        let user = event.user_id.as_deref()?;
        let at = DateTime::parse_from_rfc3339(&event.timestamp)
            .ok()?
            .with_timezone(&Utc);
        let deployment = d
            .get("deployment")
            .or_else(|| d.get("service"))
            .and_then(|v| v.as_str())?
            .to_owned();
        let services = names(d, "services", "service");
        let images = names(d, "images", "image");
        let judged: Vec<(u8, u64)> = images
            .iter()
            .map(|i| self.verdicts.get(i).copied().unwrap_or((1, 0)))
            .collect();
        let verdict = judged.iter().map(|j| j.0).max().unwrap_or(1);
        let findings: u64 = judged.iter().map(|j| j.1).sum();
        let blocked = images
            .iter()
            .zip(&judged)
            .filter(|(_, j)| j.0 == 2)
            .map(|(i, _)| i.clone())
            .collect();
        let deployers = self.deployers.entry(deployment.clone()).or_default();
        let new_deployer = !deployers.contains(user);
        deployers.insert(user.to_owned());
        let hour = f64::from(at.hour()) + f64::from(at.minute()) / 60.0;
        let angle = std::f64::consts::TAU * hour / 24.0;
        Some(Deploy {
            deployment,
            user: user.to_owned(),
            at,
            blocked,
            findings,
            features: [
                angle.sin(),
                angle.cos(),
                if new_deployer { 1.0 } else { 0.0 },
                services.len() as f64,
                images.len() as f64,
                f64::from(verdict),
                (1.0 + findings as f64).log2(),
            ],
            source: event.id.clone(),
        })
    }
}

impl Deploy {
    /// Why this deployment differs from the training ones, in words: e.g.
    /// "mallory deployed payments at 03:12 UTC, an unusual hour, for the
    /// first time, with 9 services (usual: 2), 14 images (usual: 2), an
    /// image the gate blocked, 31 critical and high findings".
    pub fn explain(&self, base: &Baseline) -> String {
        let f = &self.features;
        let z = |i: usize| {
            if base.mean.len() == f.len() {
                base.z(i, f[i])
            } else {
                0.0
            }
        };
        let usual = |i: usize| base.median.get(i).copied().unwrap_or(0.0);
        let mut words = format!(
            "{} deployed {} at {} UTC",
            self.user,
            self.deployment,
            self.at.format("%H:%M")
        );
        if z(0).abs() >= STANDS_OUT || z(1).abs() >= STANDS_OUT {
            words.push_str(", an unusual hour");
        }
        if f[2] > 0.0 && z(2) >= STANDS_OUT {
            words.push_str(", for the first time");
        }
        for (i, what) in [(3, "service"), (4, "image")] {
            if z(i).abs() >= STANDS_OUT {
                let n = f[i] as u64;
                words.push_str(&format!(
                    ", {n} {what}{} (usual: {:.0})",
                    if n == 1 { "" } else { "s" },
                    usual(i)
                ));
            }
        }
        if z(5) >= STANDS_OUT {
            words.push_str(&match self.blocked.len() {
                0 => ", images without a gate verdict".to_owned(),
                1 => format!(", an image the gate blocked ({})", self.blocked[0]),
                n => format!(", {n} images the gate blocked"),
            });
        }
        if self.findings > 0 && z(6) >= STANDS_OUT {
            words.push_str(&format!(
                ", {} critical and high finding{}",
                self.findings,
                if self.findings == 1 { "" } else { "s" }
            ));
        }
        words
    }
}

impl Observed for Deploy {
    fn kind(&self) -> Kind {
        Kind::Deployment
    }
    fn row(&self) -> &[f64] {
        &self.features
    }
    fn explain(&self, base: &Baseline) -> String {
        Deploy::explain(self, base)
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(kind: &str, user: Option<&str>, at: &str, details: serde_json::Value) -> SecurityEvent {
        let mut e = SecurityEvent::new(kind, user, details);
        e.timestamp = at.into();
        e
    }

    fn verdict(image: &str, decision: &str, critical: u64, high: u64) -> SecurityEvent {
        ev(
            "deploy_gate_verdict",
            Some("ops"),
            "2026-12-04T09:00:00Z",
            json!({"image": image, "decision": decision, "critical": critical, "high": high}),
        )
    }

    #[test]
    fn a_recorded_sequence_gives_each_deployment_its_features() {
        let mut h = DeployHistory::default();
        let seq = [
            verdict("pay/api:1", "allowed", 0, 2),
            verdict("pay/db:1", "allowed", 0, 0),
            ev(
                "deployment",
                Some("bob"),
                "2026-12-04T10:30:00Z",
                json!({"deployment": "payments", "services": ["api", "db"], "images": ["pay/api:1", "pay/db:1"]}),
            ),
            verdict("pay/api:2", "blocked", 3, 1),
            // The demo stream's shape: one service, no image.
            ev(
                "deployment",
                Some("bob"),
                "2026-12-04T11:00:00Z",
                json!({"service": "ledger", "version": "1.2.3"}),
            ),
            // Not a deployment: left alone.
            ev(
                "isolation_applied",
                Some("bob"),
                "2026-12-04T11:10:00Z",
                json!({"deployment": "payments"}),
            ),
            ev(
                "deployment",
                Some("bob"),
                "2026-12-04T18:00:00Z",
                json!({"deployment": "payments", "services": ["api"], "images": ["pay/api:2", "pay/api:3"]}),
            ),
            ev(
                "deployment",
                Some("eve"),
                "2026-12-04T18:05:00Z",
                json!({"deployment": "payments", "services": ["api"], "images": ["pay/api:1"]}),
            ),
        ];
        let d: Vec<Deploy> = seq.iter().filter_map(|e| h.observe(e)).collect();
        assert_eq!(d.len(), 4);
        assert_eq!(d[0].source, seq[2].id);
        let angle = std::f64::consts::TAU * 10.5 / 24.0;
        assert!((d[0].features[0] - angle.sin()).abs() < 1e-12);
        assert!((d[0].features[1] - angle.cos()).abs() < 1e-12);
        // First deploy of payments by bob; 2 services, 2 images, allowed, 2 findings.
        assert_eq!(d[0].features[2..], [1.0, 2.0, 2.0, 0.0, 3f64.log2()]);
        // ledger: one service, no image (no verdict).
        assert_eq!(d[1].deployment, "ledger");
        assert_eq!(d[1].features[2..], [1.0, 1.0, 0.0, 1.0, 0.0]);
        // bob again on payments; one image blocked (4 findings), one unjudged.
        assert_eq!(d[2].features[2..], [0.0, 1.0, 2.0, 2.0, 5f64.log2()]);
        assert_eq!(d[2].blocked, ["pay/api:2"]);
        // eve is new to payments.
        assert_eq!(d[3].features[2..], [1.0, 1.0, 1.0, 0.0, 3f64.log2()]);
    }

    #[test]
    fn the_explanation_names_what_stands_out() {
        let mut h = DeployHistory::default();
        h.observe(&verdict("a:1", "allowed", 0, 0));
        h.observe(&verdict("b:1", "allowed", 0, 0));
        let mut normal = Vec::new();
        for day in 1..=28 {
            let at = format!("2026-11-{day:02}T10:{:02}:00Z", day % 50);
            normal.extend(h.observe(&ev(
                "deployment",
                Some("bob"),
                &at,
                json!({"deployment": "payments", "services": ["api", "db"], "images": ["a:1", "b:1"]}),
            )));
        }
        let rows: Vec<&[f64]> = normal[1..].iter().map(|d| &d.features[..]).collect();
        let base = Baseline::of_rows(&rows);
        h.observe(&verdict("x:9", "blocked", 20, 11));
        let odd = h
            .observe(&ev(
                "deployment",
                Some("mallory"),
                "2026-11-29T03:12:00Z",
                json!({"deployment": "payments", "services": ["a","b","c","d","e","f","g","h","i"], "images": ["x:9"]}),
            ))
            .unwrap();
        assert_eq!(
            odd.explain(&base),
            "mallory deployed payments at 03:12 UTC, an unusual hour, for the first time, \
             9 services (usual: 2), 1 image (usual: 2), an image the gate blocked (x:9), \
             31 critical and high findings"
        );
        assert_eq!(
            normal[10].explain(&base),
            "bob deployed payments at 10:11 UTC"
        );
    }
}
