//! Demo load for the anomaly domain (`windflow --demo`): normal API usage
//! and deployments, and about every minute ([`odd_every`]) an unusual one
//! in turn: a sign-in from a new network on a new device, a burst of API
//! errors, an odd deployment. Sign-ins come from the audit demo stream
//! ([`crate::audit::demo`]).
//!
//! At start, [`seed`] writes a made-up history into the demo's own audit
//! log (the audit stream's last 10 minutes, 6 hours of API usage, 4 days
//! of deployments, all before now) and trains every kind's model on it, so
//! that the console scores live from the first minute; the console then
//! retrains every [`RETRAIN_EVERY`] (as an agent does on its schedule), so
//! that the sign-ins of the sessions demo become usual too.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::json;

use crate::audit::{Audit, SecurityEvent};
use crate::crypto::Keyring;
use crate::store::Store;

/// How often the demo console retrains every kind.
pub const RETRAIN_EVERY: Duration = Duration::from_secs(60);
/// The API's users (the audit stream's, but mallory).
const API_USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
/// A user's chance of a request in any one second.
const REQUEST_CHANCE: f64 = 0.06;
/// The sample deployments, their services and who deploys each.
const DEPLOYS: [(&str, &[&str], &[&str]); 4] = [
    ("payments", &["api", "ledger", "db"], &["alice", "bob"]),
    ("storefront", &["web", "cart"], &["carol", "dave"]),
    ("mailer", &["smtp"], &["erin", "alice"]),
    (
        "clinical-analytics",
        &["etl", "warehouse"],
        &["bob", "carol"],
    ),
];

/// How often something unusual happens (`WINDFLOW_DEMO_ODD_EVERY`, seconds,
/// default 60).
pub fn odd_every() -> Duration {
    let secs = std::env::var("WINDFLOW_DEMO_ODD_EVERY")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .unwrap_or(60.0);
    Duration::from_secs_f64(secs)
}

fn at(e: &mut SecurityEvent, t: DateTime<Utc>) {
    e.timestamp = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
}

fn stamped(
    kind: &str,
    user: Option<&str>,
    t: DateTime<Utc>,
    d: serde_json::Value,
) -> SecurityEvent {
    let mut e = SecurityEvent::new(kind, user, d);
    at(&mut e, t);
    e.user_agent = Some("windflow-demo".into());
    e
}

/// One normal API request of `user` at `t`: one of the user's own four
/// endpoints, now and then an error.
pub fn request(rng: &mut impl Rng, user: &str, t: DateTime<Utc>) -> SecurityEvent {
    let u = API_USERS.iter().position(|x| *x == user).unwrap_or(0);
    let endpoint = format!(
        "/v1/{}/{}",
        ["orders", "users", "reports", "files", "keys"][u],
        rng.random_range(0..4)
    );
    let status = match rng.random_range(0..100) {
        0 => 500,
        1 | 2 => 404,
        _ => 200,
    };
    stamped(
        super::api::API_EVENT,
        Some(user),
        t,
        json!({"method": if rng.random_bool(0.8) { "GET" } else { "POST" }, "endpoint": endpoint, "status": status, "bytes": rng.random_range(200..8000)}),
    )
}

/// The requests of one second at `t`.
pub fn requests_at(rng: &mut impl Rng, t: DateTime<Utc>) -> Vec<SecurityEvent> {
    let mut out = Vec::new();
    for u in API_USERS {
        if rng.random_bool(REQUEST_CHANCE) {
            out.push(request(rng, u, t));
        }
    }
    out
}

fn image(dep: &str, svc: &str, rng: &mut impl Rng) -> String {
    format!(
        "registry.example/{dep}/{svc}:1.{}.{}",
        rng.random_range(0..20),
        rng.random_range(0..9)
    )
}

/// A normal deployment at `t`: the gate's verdicts on its images (allowed),
/// then the deployment by one of its usual deployers.
pub fn deployment(rng: &mut impl Rng, t: DateTime<Utc>) -> Vec<SecurityEvent> {
    let (dep, services, deployers) = *DEPLOYS.choose(rng).expect("not empty");
    let images: Vec<String> = services.iter().map(|s| image(dep, s, rng)).collect();
    let mut out: Vec<SecurityEvent> = images
        .iter()
        .map(|i| {
            stamped(
                crate::scans::verdicts::EVENT,
                Some("ci"),
                t,
                json!({"image": i, "decision": "allowed", "critical": 0, "high": rng.random_range(0..2), "partial": false, "failed_scanners": []}),
            )
        })
        .collect();
    out.push(stamped(
        super::deploys::DEPLOY_EVENT,
        Some(deployers.choose(rng).expect("not empty")),
        t,
        json!({"deployment": dep, "services": services, "images": images}),
    ));
    out
}

/// A sign-in unlike the others: an account that never signed in before,
/// with no failure before it, from a network and with a client never seen.
pub fn odd_login(rng: &mut impl Rng, t: DateTime<Utc>) -> Vec<SecurityEvent> {
    let user = format!("contractor{}", rng.random_range(100..1000));
    let mut e = stamped(
        "signin_success",
        Some(&user),
        t,
        json!({"method": "password"}),
    );
    e.ip_address = Some(format!("198.51.100.{}", rng.random_range(1..255)));
    e.user_agent = Some("curl/8.5.0".into());
    vec![e]
}

/// A burst of API errors: `user` calls 30 endpoints 400 times at `t`, 40%
/// of them failing.
pub fn api_burst(rng: &mut impl Rng, user: &str, t: DateTime<Utc>) -> Vec<SecurityEvent> {
    (0..400)
        .map(|i| {
            stamped(
                super::api::API_EVENT,
                Some(user),
                t,
                json!({"method": "GET", "endpoint": format!("/v1/admin/{}", i % 30), "status": if rng.random_bool(0.4) { 403 } else { 200 }, "bytes": rng.random_range(100..400)}),
            )
        })
        .collect()
}

/// An odd deployment: mallory, who never deployed payments, rolls out nine
/// services with an image the gate blocked.
pub fn odd_deployment(rng: &mut impl Rng, t: DateTime<Utc>) -> Vec<SecurityEvent> {
    let services: Vec<String> = (1..=9).map(|i| format!("svc-{i}")).collect();
    let images: Vec<String> = services.iter().map(|s| image("payments", s, rng)).collect();
    let mut out = vec![stamped(
        crate::scans::verdicts::EVENT,
        Some("ci"),
        t,
        json!({"image": images[0], "decision": "blocked", "critical": 12, "high": 7, "partial": false, "failed_scanners": []}),
    )];
    out.push(stamped(
        super::deploys::DEPLOY_EVENT,
        Some("mallory"),
        t,
        json!({"deployment": "payments", "services": services, "images": images}),
    ));
    out
}

/// The made-up history before `now`, in time order: the audit stream's last
/// 10 minutes at `rate` events a second (at most 6000 events), 6 hours of API requests and 240
/// deployments over 4 days (at any hour: the pipeline runs day and night).
pub fn history(rng: &mut impl Rng, now: DateTime<Utc>, rate: f64) -> Vec<SecurityEvent> {
    let mut out = Vec::new();
    // At most 6000 events of it (a fast stream: its last seconds).
    let stream = (600.0 * rate).min(6000.0) as i64;
    let span_ms = (stream as f64 / rate * 1000.0) as i64;
    for i in 0..stream {
        let mut e = crate::audit::demo::event(rng);
        at(
            &mut e,
            now - chrono::Duration::milliseconds((stream - i) * span_ms / stream),
        );
        out.push(e);
    }
    for s in (1..=6 * 3600).rev() {
        out.extend(requests_at(rng, now - chrono::Duration::seconds(s)));
    }
    out.extend(sessions_history(rng, now));
    for _ in 0..240 {
        let t = now - chrono::Duration::seconds(rng.random_range(60..4 * 86_400));
        out.extend(deployment(rng, t));
    }
    out.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    out
}

/// The sessions demo's last 10 minutes ([`crate::sessions::demo`]): each
/// user signs in from their home network, about [`TARGET`](crate::sessions::demo::TARGET) sessions are
/// open at once, and most that end are signed out of.
fn sessions_history(rng: &mut impl Rng, now: DateTime<Utc>) -> Vec<SecurityEvent> {
    use crate::sessions::demo::{TARGET, USERS, usual_ip};
    let mut open: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for s in (1..=600).rev() {
        let t = now - chrono::Duration::seconds(s);
        if open.len() < TARGET && rng.random_bool(0.7) {
            let u = rng.random_range(0..USERS.len());
            let id = format!("{:08x}", rng.random::<u32>());
            let details =
                json!({"session": id, "type": "web", "ip": usual_ip(u, rng), "by": "demo"});
            out.push(stamped("session_created", Some(USERS[u]), t, details));
            open.push((u, id));
        }
        if !open.is_empty() && rng.random_bool(0.1) {
            let (u, id) = open.swap_remove(rng.random_range(0..open.len()));
            let t = t + chrono::Duration::milliseconds(500);
            out.push(stamped(
                "session_revoked",
                Some(USERS[u]),
                t,
                json!({"session": id, "by": "demo"}),
            ));
        }
    }
    out
}

/// Writes the history into the data dir's audit log and trains every kind
/// on it (each new model recorded through `audit`).
pub fn seed(
    data_dir: &Path,
    store: &Store,
    keys: &Arc<Keyring>,
    audit: &Audit,
    rate: f64,
) -> anyhow::Result<()> {
    let events = history(&mut rand::rng(), Utc::now(), rate);
    crate::audit::local::LocalLog::with_keyring(data_dir.join("audit"), keys.clone())
        .append(&events)?;
    let since = Utc::now().timestamp_millis() - 30 * 86_400_000;
    let (_, reports) = super::training::train_all(store, keys, data_dir, since, 0)?;
    for r in &reports {
        match r.outcome {
            Ok(version) => {
                audit.emit(
                    "anomaly_model_trained",
                    Some("demo"),
                    super::training::trained_details(r, version),
                )?;
            }
            Err(ref cold) => tracing::warn!(kind = r.kind.name(), "demo: {cold}"),
        }
    }
    Ok(())
}

/// Emits normal API usage every second, a deployment about every minute,
/// and every [`odd_every`] something unusual (a sign-in, an API burst, a
/// deployment, in turn), until the runtime stops.
pub fn spawn(audit: Audit) {
    tokio::spawn(async move {
        let odd = odd_every();
        let mut next_odd = tokio::time::Instant::now() + odd;
        let mut turn = 0usize;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = Utc::now();
            let events = {
                let mut rng = rand::rng();
                let mut e = requests_at(&mut rng, now);
                if rng.random_bool(1.0 / 60.0) {
                    e.extend(deployment(&mut rng, now));
                }
                if tokio::time::Instant::now() >= next_odd {
                    next_odd += odd;
                    e.extend(match turn % 3 {
                        0 => odd_login(&mut rng, now),
                        1 => api_burst(&mut rng, "dave", now),
                        _ => odd_deployment(&mut rng, now),
                    });
                    turn += 1;
                }
                e
            };
            for e in &events {
                if let Err(err) = audit.record(e) {
                    tracing::warn!(error = %err, "demo anomaly event not recorded");
                }
            }
        }
    });
}
