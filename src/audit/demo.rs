//! Demo load for the audit domain: a realistic stream of security events
//! (sign-ins and failures, each user from their own network, secret reads,
//! MFA, and now and then a critical one) emitted through the real audit
//! handle at a configurable rate. Deployments and API usage come from the
//! anomaly domain's demo load ([`crate::anomaly::demo`]).

use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::json;

use super::{Audit, SecurityEvent, Severity};

/// Events per second (`WINDFLOW_DEMO_AUDIT_RATE`, default 5).
pub fn rate_from_env() -> f64 {
    std::env::var("WINDFLOW_DEMO_AUDIT_RATE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|r| *r > 0.0 && r.is_finite())
        .unwrap_or(5.0)
}

const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "mallory"];
const SECRETS: [&str; 5] = [
    "db/prod/postgres",
    "api/stripe",
    "k8s/payments/tls",
    "ci/deploy-token",
    "vault/root-ca",
];

/// One plausible event.
pub fn event(rng: &mut impl Rng) -> SecurityEvent {
    let u = rng.random_range(0..USERS.len());
    let user = USERS[u];
    let ip = format!("10.0.{u}.{}", rng.random_range(1..255));
    let roll: u32 = rng.random_range(0..1000);
    let mut ev = match roll {
        0..=299 => SecurityEvent::new("signin_success", Some(user), json!({"method": "totp"})),
        300..=419 => {
            SecurityEvent::new("signin_failure", Some(user), json!({"reason": "bad code"}))
        }
        420..=849 => SecurityEvent::new(
            "secret_read",
            Some(user),
            json!({"path": SECRETS.choose(rng).expect("not empty")}),
        ),
        850..=949 => SecurityEvent::new("mfa_success", Some(user), json!({"method": "totp"})),
        950..=989 => SecurityEvent::new("mfa_lockout", Some(user), json!({"failures": 5})),
        _ => {
            let mut e = SecurityEvent::new(
                "secret_exfiltration_suspected",
                Some("mallory"),
                json!({"path": "vault/root-ca", "reads_per_min": rng.random_range(40..400)}),
            );
            e.severity = Severity::Critical;
            e
        }
    };
    ev.ip_address = Some(ip);
    ev.user_agent = Some("windflow-demo".into());
    ev.session_id = Some(format!("sess-{}-{}", user, rng.random_range(1..4)));
    ev
}

/// Emits events through `audit` at `rate` per second until the runtime stops.
pub fn spawn(audit: Audit, rate: f64) {
    tokio::spawn(async move {
        let pause = Duration::from_secs_f64(1.0 / rate);
        loop {
            tokio::time::sleep(pause).await;
            let ev = event(&mut rand::rng());
            if let Err(e) = audit.record(&ev) {
                tracing::warn!(error = %e, "demo audit event not recorded");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_has_every_kind_and_some_critical() {
        let mut rng = rand::rng();
        let evs: Vec<_> = (0..5000).map(|_| event(&mut rng)).collect();
        for t in [
            "signin_success",
            "signin_failure",
            "secret_read",
            "mfa_lockout",
        ] {
            assert!(evs.iter().any(|e| e.event_type == t), "{t}");
        }
        let crit = evs
            .iter()
            .filter(|e| e.severity == Severity::Critical)
            .count();
        assert!((10..=120).contains(&crit), "{crit}");
        assert!(evs.iter().all(|e| e.ip_address.is_some()));
    }
}
