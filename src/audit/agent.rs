//! The audit domain's duties in `windflow agent`: deliver owed alerts
//! (whenever no console does) and drain the Elasticsearch spool.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::agent::log;
use crate::audit::alert::AlertState;
use crate::cli::audit::spool_dir;
use crate::domains::{AgentCtx, AgentTasks};

/// How often the dispatcher looks for new events to alert on.
const ALERT_POLL: Duration = Duration::from_millis(50);

pub fn start(ctx: &AgentCtx, tasks: &mut AgentTasks) {
    alerts(ctx, tasks);
    shipping(ctx, tasks);
}

/// Alerts: whenever no console delivers them.
fn alerts(ctx: &AgentCtx, tasks: &mut AgentTasks) {
    if ctx.audit_settings.channels.is_empty() {
        log(
            "info",
            "no alert channel is configured: no alerts to deliver",
            json!({}),
        );
        return;
    }
    let d = ctx.dispatching.clone();
    tasks.spawn(crate::audit::owed::serve(
        ctx.store.clone(),
        ctx.data_dir.to_path_buf(),
        ctx.audit_settings.clone(),
        Arc::new(Mutex::new(AlertState::default())),
        ALERT_POLL,
        ctx.stop.clone(),
        move |who| {
            d.store(matches!(who, Ok(true)), Ordering::Relaxed);
            match who {
                Ok(true) => log("info", "delivering alerts", json!({})),
                Ok(false) => log(
                    "info",
                    "a console delivers alerts; taking over when it stops",
                    json!({}),
                ),
                Err(e) => log("error", "alerts are not delivered", json!({ "error": e })),
            }
        },
    ));
}

/// Elasticsearch: drain the spool that commands and consoles fill.
fn shipping(ctx: &AgentCtx, tasks: &mut AgentTasks) {
    let Some(es) = &ctx.audit_settings.elasticsearch else {
        return;
    };
    let opened = crate::audit::elastic::EsClient::new(es)
        .map_err(|e| e.to_string())
        .and_then(|c| {
            crate::audit::spool::Spool::open(&spool_dir(ctx.data_dir))
                .map(|s| (c, s))
                .map_err(|e| e.to_string())
        });
    match opened {
        Ok((client, spool)) => {
            let (sink, shipper) = crate::audit::elastic::EsSink::new(client, spool, None);
            let mut stop = ctx.stop.clone();
            tasks.spawn(async move {
                let _sink = sink;
                tokio::select! {
                    _ = shipper => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            });
        }
        Err(e) => log(
            "error",
            "events are not shipped to Elasticsearch",
            json!({ "error": e }),
        ),
    }
}
