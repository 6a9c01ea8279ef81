//! Leadership among the agents of a data dir: without a lease the only
//! agent leads; with one, an agent leads while the lease in Redis is its own,
//! and starts or stops the leader's duties as that changes.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::duties::{Duties, Running};
use super::lease::{Acquired, Lease};
use super::log;

/// Whether an agent does the leader's duties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Leadership {
    /// No lease is configured: the data dir's only agent (the lock) leads.
    Sole,
    /// Holds the lease.
    Leader,
    /// Another agent holds the lease.
    Standby { holder: Option<String> },
    /// Redis does not say: does not lead.
    Unknown { reason: String },
}

impl Leadership {
    pub fn leads(&self) -> bool {
        matches!(self, Leadership::Sole | Leadership::Leader)
    }

    /// Whether it leads: `None` when that cannot be known.
    pub fn leader(&self) -> Option<bool> {
        match self {
            Leadership::Sole | Leadership::Leader => Some(true),
            Leadership::Standby { .. } => Some(false),
            Leadership::Unknown { .. } => None,
        }
    }

    /// Why it does not lead.
    pub fn reason(&self) -> Option<String> {
        match self {
            Leadership::Sole | Leadership::Leader => None,
            Leadership::Standby { holder } => Some(format!(
                "standing by: the lease is held by {}",
                holder.as_deref().unwrap_or("another agent")
            )),
            Leadership::Unknown { reason } => Some(format!("not leading: {reason}")),
        }
    }
}

/// One agent's side of the election.
pub(super) struct Election {
    pub(super) leadership: Leadership,
    pub(super) running: Option<Running>,
    /// While leading: when the lease runs out unless renewed, counted from
    /// the moment the request that took or extended it was sent.
    pub(super) valid_until: Option<Instant>,
    pub(super) next_ask: Instant,
}

impl Election {
    /// Takes or renews the lease, and starts or stops the duties to match.
    /// Returns whether the leadership changed.
    pub(super) async fn ask(&mut self, lease: &Lease, renew: Duration, ctx: &Duties) -> bool {
        let sent = Instant::now();
        let answer = if self.valid_until.is_some() {
            lease.renew().await.map(|ours| {
                if ours {
                    Acquired::Held
                } else {
                    Acquired::Taken {
                        holder: None,
                        expires_in: Some(Duration::ZERO),
                    }
                }
            })
        } else {
            lease.acquire().await
        };
        let before = self.leadership.clone();
        match answer {
            Ok(Acquired::Held) => {
                self.valid_until = Some(sent + lease.ttl());
                self.next_ask = sent + renew;
                if self.running.is_none() {
                    self.running = Some(ctx.start());
                }
                self.leadership = Leadership::Leader;
            }
            Ok(Acquired::Taken { holder, expires_in }) => {
                self.stop_leading(ctx).await;
                // Asks again as the lease runs out, so the takeover of a dead
                // leader's lease comes within its lease time.
                let wait = expires_in.map_or(renew, |e| e.min(renew));
                self.next_ask = Instant::now() + wait + Duration::from_millis(5);
                self.leadership = Leadership::Standby { holder };
            }
            Err(e) => {
                self.stop_leading(ctx).await;
                self.next_ask = Instant::now() + renew;
                self.leadership = Leadership::Unknown {
                    reason: e.to_string(),
                };
            }
        }
        let changed = self.leadership != before;
        if changed {
            self.say(&before, lease);
        }
        changed
    }

    /// The lease ran out before a renewal was confirmed.
    pub(super) async fn ran_out(&mut self, ctx: &Duties) {
        let before = self.leadership.clone();
        self.stop_leading(ctx).await;
        self.next_ask = Instant::now();
        self.leadership = Leadership::Unknown {
            reason: "the lease ran out before Redis confirmed a renewal".into(),
        };
        if before.leads() {
            log(
                "error",
                "the lease ran out before it was renewed: leader duties stopped",
                json!({}),
            );
        }
    }

    async fn stop_leading(&mut self, ctx: &Duties) {
        self.valid_until = None;
        if let Some(r) = self.running.take() {
            r.abort(&ctx.dispatching).await;
        }
    }

    fn say(&self, before: &Leadership, lease: &Lease) {
        let key = lease.key();
        match (&self.leadership, before.leads()) {
            (Leadership::Leader, _) => log(
                "info",
                "leading: took the agents' lease",
                json!({ "key": key, "redis": lease.target() }),
            ),
            (Leadership::Standby { holder }, true) => log(
                "error",
                "lost the agents' lease: leader duties stopped",
                json!({ "key": key, "holder": holder }),
            ),
            (Leadership::Standby { holder }, false) => log(
                "info",
                "standing by: another agent holds the lease",
                json!({ "key": key, "holder": holder }),
            ),
            (Leadership::Unknown { reason }, was) => log(
                "error",
                if was {
                    "cannot renew the agents' lease: leader duties stopped"
                } else {
                    "cannot reach Redis for the agents' lease: not leading"
                },
                json!({ "key": key, "error": reason }),
            ),
            (Leadership::Sole, _) => {}
        }
    }
}
