//! Compliance: all four frameworks checked for 100 deployments, the facts
//! gathered included (specs, the embedded store's operators and secrets
//! with every value opened, the audit log's chain, the cluster folder),
//! target under 100 ms. Without `--bench` (cargo test) 10 deployments keep
//! the test run quick.

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use windflow::audit::settings::AuditSettings;
use windflow::compliance::{evaluate, facts::Sources, framework};
use windflow::crypto::{Keyring, MasterKey};
use windflow::secrets::{LocalStore, SecretStore, Secrets, model::SecretValue};
use windflow::store::Store;

fn spec(i: usize) -> String {
    format!(
        "id = \"app-{i}\"\nowner = \"team-{}\"\nenvironment = \"prod\"\n\
         [data]\npersonal_data = true\nphi = {}\ncard_data = {}\nretention_days = 90\n\
         consent_management = true\nprotection_measures = [\"encryption-at-rest\"]\n\
         [resources]\ncpu = \"4\"\nmemory = \"8Gi\"\npods = 20\n\
         [[services]]\nname = \"api\"\nimage = \"registry.example/app-{i}/api:1.0\"\nports = [8080]\n",
        i % 7,
        i.is_multiple_of(4),
        i.is_multiple_of(3)
    )
}

struct World {
    root: tempfile::TempDir,
    config: windflow::config::Config,
    store: Arc<Store>,
    keyring: Arc<Keyring>,
    catalog: windflow::deployments::Catalog,
}

fn world(n: usize) -> World {
    let root = tempfile::tempdir().unwrap();
    let specs = root.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    for i in 0..n {
        std::fs::write(specs.join(format!("app-{i}.toml")), spec(i)).unwrap();
    }
    let catalog = windflow::deployments::load_dir(&specs).unwrap();
    let cluster = root.path().join("data/cluster");
    for d in &catalog.deployments {
        windflow::isolation::plan::write(&cluster, &windflow::isolation::plan::plan(&d.spec))
            .unwrap();
    }
    let data = root.path().join("data");
    let base = windflow::config::BaseDirs {
        config: root.path().join("config"),
        data: data.clone(),
        state: root.path().join("state"),
    };
    let flags = windflow::config::Flags {
        data_dir: Some(data.clone()),
        ..Default::default()
    };
    let config = windflow::config::Config::load(&flags, &|_| None, &base).unwrap();
    let store = Store::open(&data).unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::generate()));
    // Every event of the setup goes to the chained local log.
    let log = Arc::new(windflow::audit::local::LocalLog::with_keyring(
        data.join("audit"),
        keyring.clone(),
    ));
    let audit = windflow::audit::Audit::new(log);
    let auth = windflow::auth::Auth::new(
        store.clone(),
        keyring.clone(),
        audit.clone(),
        windflow::mfa::Policy::default(),
    );
    auth.add_first_operator("alice", windflow::auth::Role::Admin)
        .unwrap();
    for name in ["bob", "carol"] {
        auth.add_operator(name, windflow::auth::Role::Operator)
            .unwrap();
    }
    let secrets = Secrets::new(
        Arc::new(LocalStore::new(store.clone())),
        keyring.clone(),
        store.clone(),
        audit,
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for d in &catalog.deployments {
            for name in ["db", "api-key"] {
                let values = [("value".to_string(), SecretValue::new("s3cret"))]
                    .into_iter()
                    .collect();
                secrets
                    .put(&format!("deployments/{}/{name}", d.spec.id), &values, None)
                    .await
                    .unwrap();
            }
        }
    });
    World {
        root,
        config,
        store,
        keyring,
        catalog,
    }
}

fn check_all(c: &mut Criterion) {
    let n = if std::env::args().any(|a| a == "--bench") {
        100
    } else {
        10
    };
    let w = world(n);
    let audit = AuditSettings::from_config(&w.config).unwrap();
    let frameworks = framework::built_in();
    let secrets: Arc<dyn SecretStore> = Arc::new(LocalStore::new(w.store.clone()));
    let sources = Sources {
        config: &w.config,
        store: w.store.clone(),
        keyring: w.keyring.clone(),
        secrets,
        audit: &audit,
        redis_url: None,
        catalog: &w.catalog,
        cluster_dir: w.root.path().join("data/cluster"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let (results, problems) = rt.block_on(evaluate(&sources, &frameworks, now));
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(results.len(), n);
    // Every secret was read and opened: the sealed check passes.
    let soc2 = &results[0].frameworks[0];
    assert!(
        soc2.controls
            .iter()
            .find(|c| c.id == "soc2-cc6.1-encryption")
            .unwrap()
            .checks
            .iter()
            .all(|k| matches!(k.outcome, windflow::compliance::eval::Outcome::Pass { .. }))
    );
    assert!(Path::new(&w.root.path().join("data/audit")).exists());
    c.bench_function(
        &format!("compliance: 4 frameworks x {n} deployments, facts included"),
        |b| b.iter(|| rt.block_on(evaluate(&sources, &frameworks, now))),
    );
}

criterion_group!(benches, check_all);
criterion_main!(benches);
