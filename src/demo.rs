//! Demo mode: a workload generator that drives the real services through
//! their normal interfaces (no painted data). Each domain adds its load here.

use std::time::Duration;

use rand::Rng;

use crate::service::{Backend, EventTx, Health, HealthState, Level, ServiceEvent, activity};
use crate::store::service::{StoreHandle, StoreRequest};

pub const NAME: &str = "demo";

/// The sample deployment specs (`assets/deployments`), built in.
const SPECS: &[(&str, &str)] = &[
    (
        "storefront.toml",
        include_str!("../assets/deployments/storefront.toml"),
    ),
    (
        "payments.toml",
        include_str!("../assets/deployments/payments.toml"),
    ),
    (
        "clinical-analytics.toml",
        include_str!("../assets/deployments/clinical-analytics.toml"),
    ),
    (
        "mailer.toml",
        include_str!("../assets/deployments/mailer.toml"),
    ),
];

/// The demo's own settings over `config`: its data dir is `dir`, its
/// deployments are the samples (written into `dir`), and no table of the
/// config file applies (no real cluster, Vault, Redis or Elasticsearch is
/// read or changed by a demo).
pub fn confine(config: &mut crate::config::Config, dir: &std::path::Path) -> std::io::Result<()> {
    let specs = dir.join("deployments");
    std::fs::create_dir_all(&specs)?;
    for (name, text) in SPECS {
        std::fs::write(specs.join(name), text)?;
    }
    config.paths.data_dir = dir.to_path_buf();
    config.paths.deployments_dir = specs;
    config.paths.config_file = dir.join("windflow.toml");
    config.paths.config_file_exists = false;
    Ok(())
}

pub fn spawn(store: StoreHandle, events: EventTx) {
    tokio::spawn(run(store, events));
}

async fn run(store: StoreHandle, events: EventTx) {
    let _ = events
        .send(ServiceEvent::Health {
            service: NAME,
            health: Health {
                state: HealthState::Connected,
                backend: Backend::InProcess,
                target: "workload generator".into(),
                rtt: None,
                last_error: None,
            },
        })
        .await;
    activity(
        &events,
        NAME,
        Level::Info,
        "demo workload generator started",
    )
    .await;
    let mut writes: u64 = 0;
    loop {
        let pause = rand::rng().random_range(150..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        writes += 1;
        // A rolling set of records: the store stays small however long the demo runs.
        let record = serde_json::json!({ "seq": writes, "at": chrono::Utc::now().to_rfc3339() });
        let req = StoreRequest::Put {
            ns: "demo".into(),
            key: format!("heartbeat/{:03}", writes % 100),
            value: record.to_string().into_bytes(),
        };
        if !store.send(req).await {
            break;
        }
        let _ = events.try_send(ServiceEvent::Processed {
            service: NAME,
            count: 1,
        });
        if writes.is_multiple_of(25) {
            let _ = events
                .send(ServiceEvent::Figure {
                    service: NAME,
                    label: "writes",
                    value: writes.to_string(),
                })
                .await;
        }
        if writes.is_multiple_of(200) {
            activity(
                &events,
                NAME,
                Level::Warn,
                format!("demo: simulated slow write after {writes} records"),
            )
            .await;
        }
    }
}
