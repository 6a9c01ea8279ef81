//! The secrets domain's duties in `windflow agent`: finish interrupted
//! rotations, clean up old versions when due, rotate on schedule.

use std::time::Duration;

use serde_json::json;

use crate::agent::log;
use crate::domains::{AgentCtx, AgentTasks};

/// How often interrupted rotations and due clean-ups are looked for.
const ROTATION_POLL: Duration = Duration::from_secs(30);
/// The longest a scheduled-rotation pass waits for the next one: rules and
/// secrets added meanwhile are seen within this.
const SCHEDULE_POLL: Duration = Duration::from_secs(60);
/// The shortest wait between scheduled-rotation passes.
const SCHEDULE_MIN: Duration = Duration::from_millis(100);

pub fn start(ctx: &AgentCtx, tasks: &mut AgentTasks) {
    let Some(s) = ctx.secrets else {
        return;
    };
    tasks.spawn(rotations(s.clone(), ctx.stop.clone()));
    if !super::schedule::rules(s).is_empty() {
        tasks.spawn(scheduled(s.clone(), ctx.stop.clone()));
    }
}

/// Rotations: finish interrupted ones, clean up old versions when due.
async fn rotations(s: crate::secrets::Secrets, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match crate::secrets::rotation::recover(&s).await {
            Ok(done) => {
                for r in done.recovered {
                    log(
                        "info",
                        "finished an interrupted rotation",
                        json!({ "path": r.path, "action": r.action, "detail": r.detail }),
                    );
                }
                for u in done.unrecoverable {
                    log(
                        "error",
                        "an interrupted rotation cannot be finished; skipped",
                        json!({ "journal": u.id, "path": u.path, "error": u.error,
                                "fix": format!("windflow secrets recover --discard {}", u.id) }),
                    );
                }
            }
            Err(e) => log(
                "error",
                "rotation recovery",
                json!({ "error": e.to_string() }),
            ),
        }
        match crate::secrets::rotation::sweep(&s).await {
            Ok(done) if !done.deleted.is_empty() || !done.dropped.is_empty() => log(
                "info",
                "old secret versions cleaned up",
                json!({ "deleted": done.deleted, "dropped": done.dropped }),
            ),
            Ok(_) => {}
            Err(e) => log(
                "error",
                "rotation clean-up",
                json!({ "error": e.to_string() }),
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(ROTATION_POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Scheduled rotations: every secret whose rule has `every` and whose value
/// is that old is rotated, then the next one is waited for.
async fn scheduled(s: crate::secrets::Secrets, mut stop: tokio::sync::watch::Receiver<bool>) {
    use crate::secrets::rotation::Outcome;
    let mut retry = crate::secrets::schedule::Retry::default();
    loop {
        let wait = match crate::secrets::schedule::run_due(&s, &mut retry).await {
            Ok(pass) => {
                for out in &pass.rotated {
                    match out {
                        Outcome::Rotated {
                            path,
                            old_version,
                            new_version,
                            ..
                        } => log(
                            "info",
                            "rotated on schedule",
                            json!({ "path": path, "old_version": old_version, "new_version": new_version }),
                        ),
                        Outcome::RolledBack { path, reason, .. } => log(
                            "error",
                            "a scheduled rotation was rolled back",
                            json!({ "path": path, "reason": reason }),
                        ),
                    }
                }
                for (path, error) in &pass.failed {
                    log(
                        "error",
                        "a scheduled rotation failed; tried again later",
                        json!({ "path": path, "error": error }),
                    );
                }
                pass.next_in.clamp(SCHEDULE_MIN, SCHEDULE_POLL)
            }
            Err(e) => {
                log(
                    "error",
                    "scheduled rotations: cannot list the secrets",
                    json!({ "error": e.to_string() }),
                );
                ROTATION_POLL
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
