//! Demo mode: seeds a few deployments with secrets (some close to expiry,
//! one expired) through [`Secrets`], then writes a new version now and then,
//! and asks the service to reload, as a person at another console would.

use std::time::Duration;

use rand::Rng;

use super::Secrets;
use super::model::{Policy, SecretValue, Values};
use super::service::{SecretsHandle, SecretsRequest};

const DAY: i64 = 86_400;

/// (path, keys, lifetime of the value)
const SEED: &[(&str, &[&str], i64)] = &[
    ("deployments/api-7", &["api_key", "db_password"], 3 * DAY),
    ("deployments/payments-db", &["password", "user"], -2 * 3600),
    ("deployments/web/redis", &["password"], 20 * DAY),
    ("deployments/web/session-key", &["hmac_key"], 6 * DAY),
    ("infra/ci/token", &["token"], 45 * DAY),
    ("infra/smtp", &["password", "user"], 12 * DAY),
];

fn values(keys: &[&str]) -> Values {
    keys.iter()
        .map(|k| {
            let v = if *k == "user" {
                SecretValue::new("svc-windflow")
            } else {
                Policy::default().generate()
            };
            (k.to_string(), v)
        })
        .collect()
}

pub fn spawn(secrets: Secrets, handle: SecretsHandle) {
    tokio::spawn(async move {
        for (path, keys, ttl) in SEED {
            let s = secrets.clone().with_ttl(*ttl);
            if s.put(path, &values(keys), Some(0)).await.is_err() {
                return;
            }
        }
        handle.try_send(SecretsRequest::Refresh);
        loop {
            let pause = rand::rng().random_range(20..40);
            tokio::time::sleep(Duration::from_secs(pause)).await;
            let (path, keys, _) = SEED[rand::rng().random_range(0..SEED.len())];
            if secrets.put(path, &values(keys), None).await.is_err() {
                return;
            }
            handle.try_send(SecretsRequest::Load { path: path.into() });
        }
    });
}
