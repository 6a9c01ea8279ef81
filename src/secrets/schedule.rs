//! Scheduled rotations: `every = "30d"` on a `[[secrets.rotation]]` rule.
//!
//! A secret under such a rule (the first rule matching its path) is due when
//! its current value is older than `every`. The age comes from the store
//! itself, the creation time of the current version in the KV v2 metadata,
//! never from a process's memory: an agent that restarts, or another that
//! takes over, neither rotates again nor skips. Any new value restarts the
//! clock: a rotation, a `put`, a rollback (so a rotation that rolled back,
//! recorded and alerted as `secret_rotation_failed`, is tried again a period
//! later). A rotation that failed before writing anything is tried again
//! after a pause that doubles from 30 s to an hour.
//!
//! The agent's leader runs [`run_due`]; `windflow secrets list` shows when
//! each scheduled secret is next due ([`due_at_ms`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;

use super::model::SecretMeta;
use super::rotation::{self, Outcome};
use super::settings::RotationRule;
use super::{Result, Secrets, SecretsError};

const RETRY_FIRST_MS: i64 = 30_000;
const RETRY_MAX_MS: i64 = 3_600_000;

/// The rules that schedule rotations.
pub fn rules(s: &Secrets) -> Vec<&RotationRule> {
    s.rules()
        .iter()
        .filter(|r| r.every_secs.is_some())
        .collect()
}

/// The period of `path`'s rule, when it schedules rotations.
pub fn every_for(s: &Secrets, path: &str) -> Option<i64> {
    s.rule_for(path).and_then(|r| r.every_secs)
}

/// When the current value of `meta` is due (unix ms) under a period of
/// `every_secs`; None when its current version is deleted or destroyed
/// (there is no value to rotate from).
pub fn due_at_ms(meta: &SecretMeta, every_secs: i64) -> Option<i64> {
    let v = meta.current().filter(|v| v.is_live())?;
    Some(
        v.created_time
            .saturating_mul(1000)
            .saturating_add(i64::from(v.created_nanos / 1_000_000))
            .saturating_add(every_secs.saturating_mul(1000)),
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Every secret path a scheduled rule covers, with its period.
async fn covered(s: &Secrets) -> Result<Vec<(String, i64)>> {
    let mut paths = BTreeSet::new();
    for r in rules(s) {
        match r.path.strip_suffix('*') {
            Some(prefix) => {
                let folder = &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)];
                paths.extend(s.list(folder).await?.into_iter().filter(|p| r.matches(p)));
            }
            None => {
                paths.insert(r.path.clone());
            }
        }
    }
    // The first matching rule wins: a path an earlier rule covers follows it.
    Ok(paths
        .into_iter()
        .filter_map(|p| every_for(s, &p).map(|e| (p, e)))
        .collect())
}

/// Paths whose scheduled rotation failed, and when to try again. Kept in
/// memory: it only paces retries; whether a secret is due is the store's.
#[derive(Debug, Default)]
pub struct Retry {
    failures: BTreeMap<String, (u32, i64)>,
}

impl Retry {
    fn after(&self, path: &str) -> i64 {
        self.failures.get(path).map_or(i64::MIN, |(_, at)| *at)
    }

    fn failed(&mut self, path: &str, now: i64) -> i64 {
        let n = self.failures.get(path).map_or(0, |(n, _)| *n);
        let wait = (RETRY_FIRST_MS << n.min(20)).min(RETRY_MAX_MS);
        self.failures.insert(path.to_owned(), (n + 1, now + wait));
        now + wait
    }
}

/// What one pass did.
#[derive(Debug)]
pub struct Pass {
    /// Rotations run (rotated, or rolled back after a failed validation).
    pub rotated: Vec<Outcome>,
    /// Paths whose rotation failed before it wrote anything, or whose
    /// metadata could not be read, with why.
    pub failed: Vec<(String, String)>,
    /// Until the next secret is due (`Duration::MAX`: none is scheduled).
    pub next_in: Duration,
}

/// Rotates every scheduled secret that is due, one at a time, each as
/// `windflow secrets rotate` would with its rule (journaled, audited, with
/// the acting operator of `s`).
pub async fn run_due(s: &Secrets, retry: &mut Retry) -> Result<Pass> {
    let paths = covered(s).await?;
    let metas: Vec<_> = futures::stream::iter(paths)
        .map(|(p, every)| async move {
            let m = s.store().metadata(&p).await;
            (p, every, m)
        })
        .buffered(16)
        .collect()
        .await;
    let mut pass = Pass {
        rotated: Vec::new(),
        failed: Vec::new(),
        next_in: Duration::MAX,
    };
    let mut next: Option<i64> = None;
    let mut soonest = |at: i64| next = Some(next.map_or(at, |n| n.min(at)));
    for (path, every, meta) in metas {
        let meta = match meta {
            Ok(m) => m,
            Err(SecretsError::NotFound { .. }) => continue,
            Err(e) => {
                pass.failed.push((path, e.to_string()));
                continue;
            }
        };
        let Some(due) = due_at_ms(&meta, every) else {
            continue;
        };
        let at = due.max(retry.after(&path));
        if at > now_ms() {
            soonest(at);
            continue;
        }
        let opts = s.rotation_options(&path);
        match rotation::rotate(s, &path, &opts, &mut |_| {}).await {
            Ok(out) => {
                retry.failures.remove(&path);
                soonest(now_ms() + every.saturating_mul(1000));
                pass.rotated.push(out);
            }
            Err(e) => {
                soonest(retry.failed(&path, now_ms()));
                pass.failed.push((path, e.to_string()));
            }
        }
    }
    if let Some(n) = next {
        pass.next_in = Duration::from_millis((n - now_ms()).max(0) as u64);
    }
    Ok(pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::model::VersionMeta;

    fn meta(created: (i64, u32), deleted: bool) -> SecretMeta {
        SecretMeta {
            path: "a".into(),
            current_version: 2,
            oldest_version: 1,
            max_versions: 10,
            created_time: 0,
            updated_time: 0,
            custom: Default::default(),
            versions: vec![VersionMeta {
                version: 2,
                created_time: created.0,
                created_nanos: created.1,
                deletion_time: deleted.then_some(5),
                destroyed: false,
            }],
        }
    }

    #[test]
    fn due_when_the_current_value_is_older_than_the_period() {
        assert_eq!(
            due_at_ms(&meta((100, 250_000_000), false), 30),
            Some(130_250)
        );
        assert_eq!(due_at_ms(&meta((100, 0), true), 30), None);
    }

    #[test]
    fn retries_double_up_to_an_hour() {
        let mut r = Retry::default();
        assert_eq!(r.failed("a", 0), 30_000);
        assert_eq!(r.failed("a", 0), 60_000);
        for _ in 0..30 {
            r.failed("a", 0);
        }
        assert_eq!(r.after("a"), RETRY_MAX_MS);
        assert_eq!(r.after("b"), i64::MIN);
    }
}
