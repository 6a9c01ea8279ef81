//! The agents' lease in Redis. With Redis configured, several agents may run
//! for one data dir; the lease elects the one that does the leader's duties
//! (alert dispatch, Elasticsearch shipping, rotations).
//!
//! Taken with `SET key value NX PX ttl`, renewed by a Lua compare-and-extend
//! and released by a Lua compare-and-delete: only the holder whose value
//! (host, pid and a random token) is in the key can extend or delete it. A
//! leader counts its lease from the moment it *sent* the request that took or
//! extended it, so its own deadline always falls before Redis lets the key
//! expire and another agent can take it.

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::sessions::backend::{REDIS_RESPONSE_TIMEOUT, describe_redis_error, redis_manager};
use crate::sessions::settings::RedisTls;

/// KEYS: the lease. ARGV: our value, the lease in ms. 1 when extended.
const LUA_EXTEND: &str = "
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// KEYS: the lease. ARGV: our value. 1 when deleted.
const LUA_RELEASE: &str = "
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Who holds (or asks for) the lease: what the key's value says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// Random, per process: a restarted agent with the same pid is another holder.
    pub token: String,
}

impl Holder {
    /// This process, with a fresh token.
    pub fn me(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            pid: std::process::id(),
            token: hex::encode(rand::random::<[u8; 16]>()),
        }
    }

    /// The value kept in the key.
    pub fn value(&self) -> String {
        serde_json::to_string(self).expect("a holder serialises")
    }

    /// "pid 42 on host-a", or the raw value when it is not a holder's.
    pub fn shown(value: &str) -> String {
        match serde_json::from_str::<Holder>(value) {
            Ok(h) => format!("pid {} on {}", h.pid, h.host),
            Err(_) => format!("{:?}", value.chars().take(80).collect::<String>()),
        }
    }
}

/// What asking for the lease gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Ours (taken now, or still ours and extended).
    Held,
    /// Another holder's (shown as [`Holder::shown`]), free again in about
    /// `expires_in` unless renewed.
    Taken {
        holder: Option<String>,
        expires_in: Option<Duration>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("Redis at {target} did not answer for the agents' lease: {message}")]
pub struct LeaseError {
    pub target: String,
    pub message: String,
}

/// One agent's side of the lease.
pub struct Lease {
    conn: ConnectionManager,
    target: String,
    key: String,
    value: String,
    ttl: Duration,
    /// The longest one request may take.
    attempt: Duration,
    extend: redis::Script,
    release: redis::Script,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("target", &self.target)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// The lease `key` at the Redis of `url` (TLS files from `tls`), held
    /// for `ttl` at a time by `me`. Nothing is sent yet.
    pub fn new(
        url: &str,
        tls: &RedisTls,
        key: &str,
        ttl: Duration,
        me: &Holder,
    ) -> Result<Self, String> {
        let (conn, target) = redis_manager(url, tls).map_err(|e| e.to_string())?;
        Ok(Self {
            conn,
            target,
            key: key.to_owned(),
            value: me.value(),
            ttl,
            attempt: REDIS_RESPONSE_TIMEOUT.min(ttl / 3),
            extend: redis::Script::new(LUA_EXTEND),
            release: redis::Script::new(LUA_RELEASE),
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The Redis URL without its password.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LeaseError> {
        let err = |message| LeaseError {
            target: self.target.clone(),
            message,
        };
        match tokio::time::timeout(self.attempt, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(err(describe_redis_error(&e))),
            Err(_) => Err(err(format!(
                "no answer within {} ms",
                self.attempt.as_millis()
            ))),
        }
    }

    /// Takes the lease if it is free (`SET NX PX`), or extends it if it is
    /// still ours; else says who holds it and for how long.
    pub async fn acquire(&self) -> Result<Acquired, LeaseError> {
        let mut c = self.conn.clone();
        let set: Option<String> = self
            .bounded(
                redis::cmd("SET")
                    .arg(&self.key)
                    .arg(&self.value)
                    .arg("NX")
                    .arg("PX")
                    .arg(self.ttl_ms())
                    .query_async(&mut c),
            )
            .await?;
        if set.is_some() || self.renew().await? {
            return Ok(Acquired::Held);
        }
        let (value, pttl): (Option<String>, i64) = self
            .bounded(
                redis::pipe()
                    .atomic()
                    .get(&self.key)
                    .pttl(&self.key)
                    .query_async(&mut c),
            )
            .await?;
        Ok(Acquired::Taken {
            holder: value.as_deref().map(Holder::shown),
            expires_in: u64::try_from(pttl).ok().map(Duration::from_millis),
        })
    }

    /// Extends the lease by its duration if the key still holds our value.
    pub async fn renew(&self) -> Result<bool, LeaseError> {
        let mut c = self.conn.clone();
        let n: i64 = self
            .bounded(
                self.extend
                    .key(&self.key)
                    .arg(&self.value)
                    .arg(self.ttl_ms())
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(n == 1)
    }

    /// Deletes the key if it still holds our value (a clean stop), so that
    /// another agent takes over at once.
    pub async fn release(&self) -> Result<bool, LeaseError> {
        let mut c = self.conn.clone();
        let n: i64 = self
            .bounded(
                self.release
                    .key(&self.key)
                    .arg(&self.value)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(n == 1)
    }
}
