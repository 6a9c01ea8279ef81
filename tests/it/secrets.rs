//! Secrets: one behavioural test body run against the embedded store and a
//! real OpenBao dev server; rotation with validation and rollback; crash
//! recovery with a real `windflow` process killed at each step; the CLI.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use windflow::audit::{Audit, MemorySink};
use windflow::crypto::{Keyring, MasterKey};
use windflow::secrets::backend::{LocalStore, SecretStore, SecretsError};
use windflow::secrets::model::{self, Change, SecretValue, Values};
use windflow::secrets::rotation::{self, Outcome, RotateOptions, Step, StepStatus, Validation};
use windflow::secrets::{Secrets, VaultSettings, VaultStore};
use windflow::store::Store;

use crate::support::cli::CliEnv;
use crate::support::secrets_bao::{Bao, TOKEN, free_port};

// ------------------------------------------------------------------ helpers

struct Fixture {
    secrets: Secrets,
    sink: Arc<MemorySink>,
    _dir: tempfile::TempDir,
}

fn vals(kv: &[(&str, &str)]) -> Values {
    kv.iter()
        .map(|(k, v)| (k.to_string(), SecretValue::from(*v)))
        .collect()
}

fn fixture(store: impl FnOnce(Arc<Store>) -> Arc<dyn SecretStore>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let local = Store::open(&dir.path().join("data")).unwrap();
    let sink = Arc::new(MemorySink::default());
    let secrets = Secrets::new(
        store(local.clone()),
        Arc::new(Keyring::new(MasterKey::generate())),
        local,
        Audit::new(sink.clone()),
    )
    .with_actor("alice");
    Fixture {
        secrets,
        sink,
        _dir: dir,
    }
}

fn local_fixture() -> Fixture {
    fixture(|local| Arc::new(LocalStore::new(local)))
}

fn vault_store(addr: &str, token: &str) -> VaultStore {
    VaultStore::new(&VaultSettings {
        addr: addr.into(),
        token: token.to_owned().into(),
        mount: "secret".into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

fn vault_fixture(bao: &Bao) -> Fixture {
    let store = vault_store(&bao.addr, TOKEN);
    fixture(move |_| Arc::new(store))
}

fn no_progress() -> impl FnMut(rotation::Progress) + Send {
    |_| {}
}

// ------------------------------------------------------------------ the one behaviour body

/// What both stores must do the same way.
async fn behaviour(f: &Fixture) {
    let s = &f.secrets;
    let path = "deployments/api-7";

    // Write with check-and-set; a second create loses with a clear conflict.
    let v1 = s
        .put(
            path,
            &vals(&[("db_password", "hunter2"), ("api_key", "k1")]),
            Some(0),
        )
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let err = s
        .put(path, &vals(&[("db_password", "other")]), Some(0))
        .await
        .unwrap_err();
    match &err {
        SecretsError::CasConflict {
            expected, current, ..
        } => assert_eq!((*expected, *current), (0, 1)),
        e => panic!("expected a CAS conflict, got {e:?}"),
    }
    assert!(err.to_string().contains("check-and-set conflict"), "{err}");
    // The loser wrote nothing.
    assert_eq!(s.metadata(path).await.unwrap().current_version, 1);

    // The backend only ever sees envelopes.
    let raw = s.store().read(path, None).await.unwrap();
    for (k, v) in &raw.data {
        assert!(v.starts_with("wf1."), "{k} is not an envelope: {v}");
        assert!(!v.contains("hunter2"));
    }
    let (plain, meta) = s.read(path, None).await.unwrap();
    assert_eq!(plain["db_password"].expose(), "hunter2");
    assert_eq!(meta.version, 1);
    // Envelopes are bound to the path, key and version: no other context opens them.
    for other in [
        "deployment:api-7",
        "deployment:other",
        "secret:deployments/api-7#db_password@2",
        "secret:deployments/api-7#other@1",
    ] {
        assert!(
            s.keyring()
                .decrypt(other, &raw.data["db_password"])
                .is_err(),
            "{other}"
        );
    }
    assert!(
        s.keyring()
            .decrypt(
                &windflow::crypto::contexts::secret_value(path, "db_password", 1),
                &raw.data["db_password"]
            )
            .is_ok()
    );

    // Custom metadata.
    let m = s.metadata(path).await.unwrap();
    assert_eq!(m.custom["created_by"], "windflow");
    assert_eq!(m.custom["deployment_id"], "api-7");
    let expires = m.expires_at().expect("expires_at set");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (expires - (now + model::DEFAULT_TTL_SECS)).abs() < 60,
        "{expires}"
    );

    // Versions: 12 writes keep the last 10.
    for i in 2..=12 {
        s.put(
            path,
            &vals(&[("db_password", &format!("pw{i}")), ("api_key", "k1")]),
            Some(i - 1),
        )
        .await
        .unwrap();
    }
    let m = s.metadata(path).await.unwrap();
    assert_eq!(m.current_version, 12);
    assert_eq!(m.versions.len(), 10);
    assert_eq!(m.versions.first().unwrap().version, 3);
    assert!(s.read(path, Some(1)).await.is_err());
    assert_eq!(
        s.read(path, Some(3)).await.unwrap().0["db_password"].expose(),
        "pw3"
    );

    // Diff between two versions.
    let d = s.diff(path, 3, 12).await.unwrap();
    assert_eq!(
        d.iter().find(|l| l.key == "db_password").unwrap().change,
        Change::Changed
    );
    assert_eq!(
        d.iter().find(|l| l.key == "api_key").unwrap().change,
        Change::Same
    );

    // Soft delete, undelete, destroy.
    s.delete_versions(path, &[11]).await.unwrap();
    match s.read(path, Some(11)).await.unwrap_err() {
        SecretsError::Gone { state, version, .. } => assert_eq!((state, version), ("deleted", 11)),
        e => panic!("expected deleted, got {e:?}"),
    }
    s.undelete_versions(path, &[11]).await.unwrap();
    assert_eq!(
        s.read(path, Some(11)).await.unwrap().0["db_password"].expose(),
        "pw11"
    );
    s.destroy_versions(path, &[10]).await.unwrap();
    s.undelete_versions(path, &[10]).await.unwrap();
    match s.read(path, Some(10)).await.unwrap_err() {
        SecretsError::Gone { state, .. } => assert_eq!(state, "destroyed"),
        e => panic!("expected destroyed, got {e:?}"),
    }
    let m = s.metadata(path).await.unwrap();
    assert!(m.version(10).unwrap().destroyed);
    assert!(m.version(11).unwrap().is_live());

    // Rollback restores an old version as a new one.
    let r = s.rollback(path, 5).await.unwrap();
    assert_eq!(r.version, 13);
    assert_eq!(
        s.read(path, None).await.unwrap().0["db_password"].expose(),
        "pw5"
    );

    // Not found is specific.
    match s.read("deployments/none", None).await.unwrap_err() {
        SecretsError::NotFound { path, .. } => assert_eq!(path, "deployments/none"),
        e => panic!("expected not found, got {e:?}"),
    }

    // Listing, one level and recursive.
    s.put("deployments/web/db", &vals(&[("pw", "1")]), None)
        .await
        .unwrap();
    s.put("infra/ci/token", &vals(&[("t", "1")]), None)
        .await
        .unwrap();
    let top = s.store().list("").await.unwrap();
    assert_eq!(top, ["deployments/", "infra/"]);
    let mut dep = s.store().list("deployments").await.unwrap();
    dep.sort();
    assert_eq!(dep, ["api-7", "web/"]);
    assert_eq!(
        s.list("").await.unwrap(),
        ["deployments/api-7", "deployments/web/db", "infra/ci/token"]
    );
    assert_eq!(s.list("infra/").await.unwrap(), ["infra/ci/token"]);
    assert!(s.store().list("nothing/here").await.unwrap().is_empty());

    // Delete everything of one secret.
    s.store().delete_all("infra/ci/token").await.unwrap();
    assert!(matches!(
        s.store().delete_all("infra/ci/token").await,
        Err(SecretsError::NotFound { .. })
    ));

    // Every write and rollback was audited; no event holds a value.
    let types = f.sink.types();
    assert!(types.iter().filter(|t| *t == "secret_written").count() >= 13);
    assert!(types.contains(&"secret_rolled_back".to_string()));
    assert!(types.contains(&"secret_destroyed".to_string()));
    let all = serde_json::to_string(&f.sink.events()).unwrap();
    assert!(!all.contains("hunter2") && !all.contains("pw5"));
}

/// Rotation against either store: success, failed validation -> rollback, a
/// validator that gets the value through env and stdin, CAS conflict.
async fn rotation_behaviour(f: &Fixture) {
    let s = &f.secrets;
    let path = "deployments/payments";
    s.put(
        path,
        &vals(&[("password", "old-pw"), ("user", "svc")]),
        None,
    )
    .await
    .unwrap();

    // Success with read-back validation: only the chosen key changes.
    let mut steps = Vec::new();
    let opts = RotateOptions {
        keys: vec!["password".into()],
        ..RotateOptions::default()
    };
    let out = rotation::rotate(s, path, &opts, &mut |p| steps.push((p.step, p.status)))
        .await
        .unwrap();
    let Outcome::Rotated {
        old_version,
        new_version,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!((old_version, new_version), (1, 2));
    let (now_vals, _) = s.read(path, None).await.unwrap();
    assert_ne!(now_vals["password"].expose(), "old-pw");
    assert_eq!(now_vals["password"].len(), 32);
    assert_eq!(now_vals["user"].expose(), "svc");
    let seen: Vec<Step> = steps
        .iter()
        .filter(|(_, st)| matches!(st, StepStatus::Done(_)))
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(
        seen,
        [Step::Generate, Step::Deploy, Step::Validate, Step::Cleanup]
    );
    // The old version stays until the grace period is over.
    assert!(s.read(path, Some(1)).await.is_ok());
    assert_eq!(
        rotation::sweep(s).await.unwrap(),
        rotation::Swept::default()
    );
    let v1 = s
        .metadata(path)
        .await
        .unwrap()
        .version(1)
        .unwrap()
        .created();
    rotation::schedule_cleanup(s, path, 1, v1, -1).unwrap();
    let swept = rotation::sweep(s).await.unwrap();
    assert_eq!(swept.deleted, [(path.to_string(), 1)]);
    assert!(swept.dropped.is_empty(), "{swept:?}");
    assert!(matches!(
        s.read(path, Some(1)).await,
        Err(SecretsError::Gone {
            state: "deleted",
            ..
        })
    ));

    // A validator that receives the value via env and stdin (never argv).
    let dir = tempfile::tempdir().unwrap();
    let envf = dir.path().join("env");
    let stdinf = dir.path().join("stdin");
    let cmd = format!(
        "printf %s \"$WINDFLOW_SECRET_PASSWORD\" > {}; cat > {}; test \"$WINDFLOW_SECRET_PATH\" = {path}",
        envf.display(),
        stdinf.display()
    );
    let opts = RotateOptions {
        keys: vec!["password".into()],
        validation: Validation::Command(cmd),
        ..RotateOptions::default()
    };
    let out = rotation::rotate(s, path, &opts, &mut no_progress())
        .await
        .unwrap();
    assert!(
        matches!(out, Outcome::Rotated { new_version: 3, .. }),
        "{out:?}"
    );
    let (v3, _) = s.read(path, None).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&envf).unwrap(),
        v3["password"].expose()
    );
    let stdin: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&stdinf).unwrap()).unwrap();
    assert_eq!(stdin["password"], v3["password"].expose());

    // Failed validation rolls back: the previous value is restored as a new version.
    let opts = RotateOptions {
        validation: Validation::Command("echo 'db refused the login' >&2; exit 3".into()),
        ..RotateOptions::default()
    };
    let out = rotation::rotate(s, path, &opts, &mut no_progress())
        .await
        .unwrap();
    match &out {
        Outcome::RolledBack {
            old_version,
            failed_version,
            restored_as,
            reason,
            ..
        } => {
            assert_eq!((*old_version, *failed_version, *restored_as), (3, 4, 5));
            assert!(reason.contains("db refused the login"), "{reason}");
            assert!(reason.contains("code 3"), "{reason}");
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(s.read(path, None).await.unwrap().0, v3);
    assert!(rotation::journals(s).unwrap().is_empty());

    // External generator.
    let opts = RotateOptions {
        keys: vec!["password".into()],
        generator: Some(r#"echo '{"password":"from-the-generator"}'"#.into()),
        ..RotateOptions::default()
    };
    rotation::rotate(s, path, &opts, &mut no_progress())
        .await
        .unwrap();
    assert_eq!(
        s.read(path, None).await.unwrap().0["password"].expose(),
        "from-the-generator"
    );

    // Batch selection by expiry.
    let soon = s.clone().with_ttl(3600);
    soon.put("deployments/expiring", &vals(&[("k", "v")]), None)
        .await
        .unwrap();
    let list = rotation::expiring(s, "", 7 * 86_400).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].0, "deployments/expiring");

    let types = f.sink.types();
    assert!(types.contains(&"secret_rotated".to_string()));
    assert!(types.contains(&"secret_rotation_failed".to_string()));
    let all = serde_json::to_string(&f.sink.events()).unwrap();
    assert!(!all.contains(v3["password"].expose()));
}

#[tokio::test]
async fn local_store_behaviour() {
    behaviour(&local_fixture()).await;
}

#[tokio::test]
async fn vault_store_behaviour() {
    let bao = Bao::start();
    behaviour(&vault_fixture(&bao)).await;
}

#[tokio::test]
async fn local_store_rotation() {
    rotation_behaviour(&local_fixture()).await;
}

#[tokio::test]
async fn vault_store_rotation() {
    let bao = Bao::start();
    rotation_behaviour(&vault_fixture(&bao)).await;
}

/// A scheduled cleanup deletes the old version it was scheduled for, named
/// by number and creation time: never a version written after the secret
/// was deleted and written again, never the current version.
async fn cleanup_behaviour(f: &Fixture) {
    let s = &f.secrets;
    let rotate_now = || RotateOptions {
        grace_secs: 0,
        ..RotateOptions::default()
    };
    let live = |path: &'static str, v: u64| async move {
        match s.read(path, Some(v)).await {
            Ok((vals, _)) => vals["k"].expose().to_owned(),
            Err(e) => panic!("{path} version {v} must be readable: {e}"),
        }
    };

    // Re-created, version 1 new and current: the cleanup of the old version 1 is dropped.
    let path = "deployments/zz";
    s.put(path, &vals(&[("k", "v1")]), None).await.unwrap();
    rotation::rotate(s, path, &rotate_now(), &mut no_progress())
        .await
        .unwrap();
    s.store().delete_all(path).await.unwrap();
    s.put(path, &vals(&[("k", "v1")]), None).await.unwrap();
    let swept = rotation::sweep(s).await.unwrap();
    assert!(swept.deleted.is_empty(), "{swept:?}");
    assert_eq!(swept.dropped.len(), 1, "{swept:?}");
    assert_eq!(
        (swept.dropped[0].path.as_str(), swept.dropped[0].version),
        (path, 1)
    );
    assert!(
        swept.dropped[0].reason.contains("current version"),
        "{swept:?}"
    );
    assert_eq!(live(path, 1).await, "v1");

    // Re-created and written again, version 1 not current but another
    // version 1: dropped, as its creation time differs.
    let path = "deployments/yy";
    s.put(path, &vals(&[("k", "a1")]), None).await.unwrap();
    rotation::rotate(s, path, &rotate_now(), &mut no_progress())
        .await
        .unwrap();
    s.store().delete_all(path).await.unwrap();
    s.put(path, &vals(&[("k", "b1")]), None).await.unwrap();
    s.put(path, &vals(&[("k", "b2")]), None).await.unwrap();
    let swept = rotation::sweep(s).await.unwrap();
    assert!(swept.deleted.is_empty(), "{swept:?}");
    assert_eq!(swept.dropped.len(), 1, "{swept:?}");
    assert!(swept.dropped[0].reason.contains("created at"), "{swept:?}");
    assert_eq!(live(path, 1).await, "b1");

    // Deleted for good: dropped, nothing to delete.
    let path = "deployments/xx";
    s.put(path, &vals(&[("k", "x1")]), None).await.unwrap();
    rotation::rotate(s, path, &rotate_now(), &mut no_progress())
        .await
        .unwrap();
    s.store().delete_all(path).await.unwrap();
    let swept = rotation::sweep(s).await.unwrap();
    assert!(swept.deleted.is_empty(), "{swept:?}");
    assert!(
        swept.dropped[0].reason.contains("no longer exists"),
        "{swept:?}"
    );

    // Unchanged: the old version is deleted, the current one is not.
    let path = "deployments/ww";
    s.put(path, &vals(&[("k", "w1")]), None).await.unwrap();
    rotation::rotate(s, path, &rotate_now(), &mut no_progress())
        .await
        .unwrap();
    let swept = rotation::sweep(s).await.unwrap();
    assert_eq!(swept.deleted, [(path.to_string(), 1)], "{swept:?}");
    assert!(swept.dropped.is_empty(), "{swept:?}");
    assert!(matches!(
        s.read(path, Some(1)).await,
        Err(SecretsError::Gone { .. })
    ));
    assert!(s.read(path, None).await.is_ok());
    // Every job is gone: a second sweep does nothing.
    assert_eq!(
        rotation::sweep(s).await.unwrap(),
        rotation::Swept::default()
    );

    // Each drop is audited with its reason; one deletion in all.
    let events = f.sink.events();
    let dropped: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "secret_cleanup_dropped")
        .collect();
    assert_eq!(dropped.len(), 3, "{dropped:?}");
    let text = serde_json::to_string(&dropped).unwrap();
    for want in [
        "deployments/zz",
        "current version",
        "created at",
        "no longer exists",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
    let deleted = events
        .iter()
        .filter(|e| e.event_type == "secret_deleted")
        .count();
    assert_eq!(deleted, 1);
}

#[tokio::test]
async fn local_store_cleanup_spares_a_recreated_version() {
    cleanup_behaviour(&local_fixture()).await;
}

#[tokio::test]
async fn vault_store_cleanup_spares_a_recreated_version() {
    let bao = Bao::start();
    cleanup_behaviour(&vault_fixture(&bao)).await;
}

#[tokio::test]
async fn vault_errors_are_specific() {
    let bao = Bao::start();
    let f = vault_fixture(&bao);
    f.secrets
        .put("deployments/a", &vals(&[("k", "v")]), None)
        .await
        .unwrap();

    // Vault stores what windflow wrote as envelopes: check with the bao CLI itself.
    let out = bao.cli(&["kv", "get", "-format=json", "secret/deployments/a"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"k\": \"wf1."), "{text}");

    // 403: a token without rights.
    let denied = fixture(|_| Arc::new(vault_store(&bao.addr, "not-a-token")));
    let e = denied
        .secrets
        .read("deployments/a", None)
        .await
        .unwrap_err();
    assert!(matches!(e, SecretsError::PermissionDenied { .. }), "{e:?}");
    assert!(e.to_string().contains("403"), "{e}");

    // Unreachable: nothing listens.
    let port = free_port();
    let gone = fixture(|_| Arc::new(vault_store(&format!("http://127.0.0.1:{port}"), TOKEN)));
    let e = gone.secrets.store().ping().await.unwrap_err();
    assert!(matches!(e, SecretsError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("unreachable"), "{e}");

    // Bad settings are refused before anything is sent.
    let e = VaultStore::new(&VaultSettings {
        addr: "not a url".into(),
        token: TOKEN.to_owned().into(),
        mount: "secret".into(),
        timeout: Duration::from_secs(1),
    })
    .unwrap_err();
    assert!(e.to_string().contains("VAULT_ADDR"), "{e}");

    // Sealed: every call says so, and nothing is half-written.
    bao.seal();
    let e = f.secrets.store().ping().await.unwrap_err();
    assert!(matches!(e, SecretsError::Sealed { .. }), "{e:?}");
    let e = f
        .secrets
        .put("deployments/a", &vals(&[("k", "w")]), Some(1))
        .await
        .unwrap_err();
    assert!(matches!(e, SecretsError::Sealed { .. }), "{e:?}");
    assert!(e.to_string().contains("sealed"), "{e}");
}

// ------------------------------------------------------------------ the real binary

use std::process::Stdio;

use serde_json::Value;

/// A data dir with an enrolled admin `alice` holding an open grant, and
/// optionally an OpenBao server the CLI talks to.
struct Cli {
    env: CliEnv,
    vault: Option<Bao>,
}

impl std::ops::Deref for Cli {
    type Target = CliEnv;
    fn deref(&self) -> &CliEnv {
        &self.env
    }
}

impl Cli {
    fn new(vault: bool) -> Self {
        let vault = vault.then(Bao::start);
        let env = Self::env_for(vault.as_ref());
        Self::with(env, vault)
    }

    /// Like [`Cli::new`], with `conf` as windflow.toml.
    fn with_conf(vault: bool, conf: &str) -> Self {
        let vault = vault.then(Bao::start);
        let env = Self::env_for(vault.as_ref());
        write_mode(
            &env.root.path().join("config/windflow/windflow.toml"),
            conf,
            0o600,
        );
        Self::with(env, vault)
    }

    fn env_for(vault: Option<&Bao>) -> CliEnv {
        match vault {
            Some(bao) => CliEnv::new()
                .with_var("WINDFLOW_SECRETS_BACKEND", "vault")
                .with_var("VAULT_ADDR", &bao.addr)
                .with_var("VAULT_TOKEN", TOKEN),
            None => CliEnv::new(),
        }
    }

    /// Runs `windflow --operator alice secrets ARGS`.
    fn srun(&self, args: &[&str]) -> std::process::Output {
        let a = self.secrets(args);
        self.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `env` as it is (the backend may come from its windflow.toml), with alice enrolled.
    fn with(env: CliEnv, vault: Option<Bao>) -> Self {
        let cli = Self { env, vault };
        cli.operator_with_grant("alice");
        cli
    }

    fn secrets(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = ["--operator", "alice", "secrets"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn sj(&self, args: &[&str]) -> Value {
        let a = self.secrets(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.json(&a)
    }

    /// The library's view of the same store (for checks behind the CLI's back).
    fn library(&self) -> Secrets {
        let local = Store::open(&self.data()).unwrap();
        let keyring = Keyring::from_env_or_file(&self.data().join("master.key"), false).unwrap();
        let store: Arc<dyn SecretStore> = match &self.vault {
            Some(bao) => Arc::new(vault_store(&bao.addr, TOKEN)),
            None => Arc::new(LocalStore::new(local.clone())),
        };
        Secrets::new(store, Arc::new(keyring), local, Audit::discard())
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn cli_flow(cli: &Cli) {
    let path = "deployments/api-7";
    let v = cli.sj(&["put", path, "password=s3cret-old", "user=svc", "--json"]);
    assert_eq!(v["version"], 1);
    // CAS conflict: exit 1 with a clear message, nothing written.
    let a = cli.secrets(&["put", path, "password=x", "--cas", "0"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("check-and-set conflict"), "{err}");

    // Masked by default, revealed with step-up (the grant).
    let g = cli.sj(&["get", path, "--json"]);
    assert_eq!(g["version"], 1);
    assert!(g["keys"]["password"].get("value").is_none());
    assert_eq!(g["keys"]["password"]["hash"].as_str().unwrap().len(), 8);
    assert_eq!(g["metadata"]["custom_metadata"]["deployment_id"], "api-7");
    assert_eq!(g["metadata"]["custom_metadata"]["created_by"], "windflow");
    assert_eq!(g["metadata"]["custom_metadata"]["updated_by"], "alice");
    // A fingerprint is stable: the same value has the same one in the next
    // command and at another path; another value has another.
    let again = cli.sj(&["get", path, "--json"]);
    assert_eq!(
        again["keys"]["password"]["hash"],
        g["keys"]["password"]["hash"]
    );
    cli.sj(&[
        "put",
        "deployments/api-8",
        "password=s3cret-old",
        "user=other",
        "--json",
    ]);
    let twin = cli.sj(&["get", "deployments/api-8", "--json"]);
    assert_eq!(
        twin["keys"]["password"]["hash"],
        g["keys"]["password"]["hash"]
    );
    assert_ne!(twin["keys"]["user"]["hash"], g["keys"]["user"]["hash"]);
    let text = cli.expect(&["secrets", "get", path], 0);
    assert!(
        !text.contains("s3cret-old") && text.contains("********"),
        "{text}"
    );
    // Without an operator, reveal is refused (exit 3).
    let out = cli.run(&["secrets", "get", path, "--reveal"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--operator"));
    let g = cli.sj(&["get", path, "--reveal", "--json"]);
    assert_eq!(g["keys"]["password"]["value"], "s3cret-old");

    // Rotate with the default read-back validation.
    let r = cli.sj(&["rotate", path, "--keys", "password", "--json"]);
    assert_eq!(r["outcome"], "rotated", "{r}");
    assert_eq!(r["new_version"], 2);
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "ok")
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["generate", "deploy", "validate", "cleanup"]);

    // A failing validator: exit 1, rolled back, with the reason.
    let a = cli.secrets(&[
        "rotate",
        path,
        "--validate-cmd",
        "echo login refused >&2; exit 1",
        "--json",
    ]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["outcome"], "rolled_back");
    assert!(
        r["reason"].as_str().unwrap().contains("login refused"),
        "{r}"
    );
    assert_eq!(r["restored_as"], 4);

    // History, diff, rollback.
    let h = cli.sj(&["history", path, "--json"]);
    assert_eq!(h["current_version"], 4);
    assert_eq!(h["versions"].as_array().unwrap().len(), 4);
    let d = cli.sj(&["diff", path, "1", "2", "--json"]);
    let keys = d["keys"].as_array().unwrap();
    let pw = keys.iter().find(|k| k["key"] == "password").unwrap();
    assert_eq!(pw["change"], "changed");
    assert!(pw.get("old_value").is_none());
    let rb = cli.sj(&["rollback", path, "--version", "1", "--json"]);
    assert_eq!(rb["new_version"], 5);
    let g = cli.sj(&["get", path, "--reveal", "--json"]);
    assert_eq!(g["keys"]["password"]["value"], "s3cret-old");

    // Batch: only the secret close to expiry is rotated.
    cli.sj(&["--ttl", "2d", "put", "deployments/soon", "k=v", "--json"]);
    let b = cli.sj(&["rotate", "--expiring-within", "7d", "--json"]);
    assert_eq!(b["rotated"], 1, "{b}");
    assert_eq!(b["results"][0]["path"], "deployments/soon");

    let l = cli.sj(&["list", "--json"]);
    let paths: Vec<&str> = l["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["deployments/api-7", "deployments/api-8", "deployments/soon"]
    );

    // Audited: reveal, write, rotation, rollback; never a value.
    let events = cli.events();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    for t in [
        "secret_written",
        "secret_revealed",
        "secret_rotated",
        "secret_rotation_failed",
        "secret_rolled_back",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains("s3cret-old"));
}

#[test]
fn cli_local_store() {
    let cli = Cli::new(false);
    cli_flow(&cli);
    // One name for the embedded store, in output and for --backend; `local`
    // is an alias.
    for name in ["embedded", "local"] {
        let l = cli.sj(&["--backend", name, "list", "--json"]);
        assert_eq!(l["backend"], "embedded", "{name}");
    }
    let v = cli.json(&["config", "show", "--json"]);
    assert_eq!(v["backends"]["secrets"]["backend"], "embedded", "{v}");
    // Read-only refuses changes (exit 3) and writes nothing.
    let a = cli.secrets(&["--read-only", "put", "deployments/ro", "k=v"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    // A wrong code is refused even with a grant open elsewhere: the code is checked.
    cli.expect(&["--operator", "alice", "logout"], 0);
    let a = cli.secrets(&["get", "deployments/api-7", "--reveal"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(3), "no grant, no code: refused");
    let a = cli.secrets(&["get", "deployments/api-7", "--reveal", "--code", "000000"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret-old"));
    let l = cli.sj(&["list", "--json"]);
    assert!(!l.to_string().contains("deployments/ro"));
}

#[test]
fn cli_vault() {
    let cli = Cli::new(true);
    cli_flow(&cli);
    // What Vault holds is ciphertext.
    let out =
        cli.vault
            .as_ref()
            .unwrap()
            .cli(&["kv", "get", "-format=json", "secret/deployments/api-7"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("s3cret-old") && text.contains("wf1."),
        "{text}"
    );
}

/// The reported case, step by step: a secret rotated with a 5 s grace, then
/// deleted in Vault (`bao kv metadata delete`) and written again, so that
/// version 1 is new and current; the next command must not delete it.
#[test]
fn cli_vault_cleanup_spares_a_version_1_written_again() {
    let cli = Cli::new(true);
    let bao = cli.vault.as_ref().unwrap();
    let path = "deployments/zz";
    cli.sj(&["put", path, "k=v1", "--json"]);
    let r = cli.sj(&["rotate", path, "--grace", "5s", "--json"]);
    assert_eq!(r["outcome"], "rotated", "{r}");
    let out = bao.cli(&["kv", "metadata", "delete", "secret/deployments/zz"]);
    assert!(out.status.success(), "{out:?}");
    let v = cli.sj(&["put", path, "k=v1", "--json"]);
    assert_eq!(v["version"], 1);
    std::thread::sleep(Duration::from_secs(6));

    let a = cli.secrets(&["get", path, "--json"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let g: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(g["version"], 1, "{g}");
    assert!(
        err.contains("cleanup of deployments/zz version 1 was dropped")
            && err.contains("current version"),
        "{err}"
    );
    let g = cli.sj(&["get", path, "--reveal", "--json"]);
    assert_eq!(g["keys"]["k"]["value"], "v1");
    let types = cli.event_types();
    assert!(
        types.iter().any(|t| t == "secret_cleanup_dropped"),
        "{types:?}"
    );
    assert!(!types.iter().any(|t| t == "secret_deleted"), "{types:?}");
}

// ------------------------------------------------------------------ kill -9 at each step

/// Starts `rotate` paused at `point`, kills it with SIGKILL, and returns.
fn kill_at(cli: &Cli, path: &str, point: &str, extra: &[&str]) {
    use std::io::{BufRead, BufReader};
    let mut args = cli.secrets(&["rotate", path, "--keys", "password", "--json"]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = cli
        .cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .env(rotation::PAUSE_ENV, point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = err.read_line(&mut line).unwrap();
        assert!(n > 0, "windflow ended before pausing at {point}");
        if line.contains(&format!("paused at {point}")) {
            break;
        }
    }
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

fn crash_at_each_step(cli: &Cli) {
    let lib = cli.library();
    // (pause point, extra args, recovery action, whether the new value stays)
    let cases: &[(&str, &[&str], &str, bool)] = &[
        ("generate", &[], "abandoned", false),
        ("generate:done", &[], "abandoned", false),
        ("deploy", &[], "abandoned", false),
        ("deploy:done", &[], "rolled_back", false),
        ("validate", &[], "rolled_back", false),
        ("validate:done", &[], "rolled_back", false),
        ("cleanup", &[], "completed", true),
        (
            "rollback",
            &["--validate-cmd", "exit 1"],
            "rolled_back",
            false,
        ),
    ];
    for (i, (point, extra, action, new_stays)) in cases.iter().enumerate() {
        let path = format!("deployments/crash-{i}");
        cli.sj(&["put", &path, "password=original", "user=svc", "--json"]);
        kill_at(cli, &path, point, extra);

        // Between the kill and the next start: the old or the new value is fully in place.
        let (cur, cur_meta) = block_on(lib.read(&path, None)).unwrap();
        assert_eq!(cur["user"].expose(), "svc");
        assert!(
            cur["password"].expose() == "original"
                || (cur_meta.version == 2 && cur["password"].len() == 32),
            "{point}: neither the old nor the new value is in place"
        );

        // The next start finds the journal and finishes it.
        let rec = cli.sj(&["recover", "--json"]);
        let recovered = rec["recovered"].as_array().unwrap();
        assert_eq!(recovered.len(), 1, "{point}: {rec}");
        assert_eq!(recovered[0]["path"], path.as_str());
        assert_eq!(recovered[0]["action"], *action, "{point}: {rec}");
        assert!(
            block_on(async { rotation::journals(&lib) })
                .unwrap()
                .is_empty()
        );

        let meta = block_on(lib.metadata(&path)).unwrap();
        let (now_vals, _) = block_on(lib.read(&path, None)).unwrap();
        // The old value is never lost: version 1 is intact.
        let (v1, _) = block_on(lib.read(&path, Some(1))).unwrap();
        assert_eq!(v1["password"].expose(), "original", "{point}");
        if *new_stays {
            assert_eq!(meta.current_version, 2, "{point}");
            assert_ne!(now_vals["password"].expose(), "original", "{point}");
        } else {
            assert_eq!(now_vals["password"].expose(), "original", "{point}");
            let expected = if *action == "abandoned" { 1 } else { 3 };
            assert_eq!(meta.current_version, expected, "{point}");
        }
        // A second start finds nothing left to do.
        assert!(
            cli.sj(&["recover", "--json"])["recovered"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    let types: Vec<String> = cli.events().into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "secret_rotation_recovered")
            .count(),
        cases.len()
    );
}

#[test]
fn crash_at_each_rotation_step_local() {
    crash_at_each_step(&Cli::new(false));
}

#[test]
fn crash_at_each_rotation_step_vault() {
    crash_at_each_step(&Cli::new(true));
}

// ------------------------------------------------------------------ the pane (TestBackend, 80x24)

mod pane {
    use super::*;
    use crate::console::{key_event, press, screen, settings, typed};
    use crossterm::event::{KeyCode, KeyModifiers};
    use windflow::console::app::{App, Mode, Msg, Request};
    use windflow::secrets::model::{SecretMeta, VersionMeta};
    use windflow::secrets::rotation::Progress;
    use windflow::secrets::service::{SecretsEvent, SecretsRequest};
    use windflow::service::ServiceEvent;

    const T0: i64 = 1_790_000_000;

    thread_local! {
        /// The channel of the pane of the app this test built (see [`panes`]).
        static FEED: std::cell::RefCell<Option<windflow::service::DomainTx<SecretsEvent>>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Every pane, the Secrets pane fed by this test's channel ([`ev`]).
    fn panes() -> Vec<Box<dyn windflow::console::panes::Pane>> {
        let (tx, rx) = windflow::service::Wake::default().channel();
        FEED.with(|f| *f.borrow_mut() = Some(tx));
        crate::support::panes_with(Box::new(windflow::secrets::pane::SecretsPane::new(rx)))
    }

    fn app() -> App {
        app_with(settings())
    }

    fn app_with(s: windflow::console::app::Settings) -> App {
        let mut app = App::new(s, panes(), "dark", "vim").unwrap();
        app.set_clock("12:34 UTC");
        crate::console::feed_services(&mut app);
        app
    }

    /// Sends `e` to the pane as its service would; the message wakes the app.
    fn ev(e: SecretsEvent) -> Msg {
        FEED.with(|f| {
            let f = f.borrow();
            let tx = f.as_ref().expect("the app was built with `panes()`");
            assert!(tx.try_send(e));
        });
        Msg::Wake
    }

    fn meta(path: &str, current: u64, expires_in: Option<i64>) -> SecretMeta {
        let now = chrono::Utc::now().timestamp();
        let mut custom = BTreeMap::new();
        custom.insert("created_by".to_string(), "windflow".to_string());
        if let Some(id) = model::deployment_id(path) {
            custom.insert("deployment_id".to_string(), id.to_string());
        }
        if let Some(s) = expires_in {
            custom.insert("expires_at".to_string(), model::format_time(now + s));
        }
        SecretMeta {
            path: path.into(),
            current_version: current,
            oldest_version: 1,
            max_versions: 10,
            created_time: T0,
            updated_time: T0 + 3600 * current as i64,
            custom,
            versions: (1..=current)
                .map(|v| VersionMeta {
                    version: v,
                    created_time: T0 + 3600 * v as i64,
                    created_nanos: 0,
                    deletion_time: (v == 1 && current > 2).then_some(T0),
                    destroyed: false,
                })
                .collect(),
        }
    }

    const DAY: i64 = 86_400;
    // Half an hour of slack so the labels do not change while the test runs.
    const PATHS: [(&str, Option<i64>); 5] = [
        ("deployments/api-7", Some(3 * DAY + 5400)),
        ("deployments/payments-db", Some(-2 * DAY - 1800)),
        ("deployments/web/redis", Some(20 * DAY + 1800)),
        ("infra/ci/token", None),
        ("infra/smtp", Some(9 * DAY + 1800)),
    ];

    /// The console on the Secrets pane with a loaded mount and api-7 selected.
    fn loaded() -> App {
        loaded_in(app())
    }

    /// `app` on the secrets pane with the sample tree and a detail loaded.
    fn loaded_in(mut app: App) -> App {
        crate::console::focus(&mut app, "secrets");
        assert_eq!(app.pane().id(), "secrets");
        let reqs = app.update(ev(SecretsEvent::Index {
            paths: PATHS.iter().map(|(p, _)| p.to_string()).collect(),
            took: Duration::from_millis(12),
        }));
        // The first secret is selected and its detail requested.
        assert!(
            matches!(&crate::support::gets::<SecretsRequest>(&reqs)[..], [Some(SecretsRequest::Load { path })] if path == "deployments/api-7"),
            "{reqs:?}"
        );
        app.update(ev(SecretsEvent::Metas(
            PATHS.iter().map(|(p, e)| meta(p, 2, *e)).collect(),
        )));
        app.update(ev(SecretsEvent::Detail {
            meta: meta("deployments/api-7", 3, PATHS[0].1),
            version: 3,
            hashes: vec![
                ("api_key".into(), "1f2e3d4c".into()),
                ("db_password".into(), "a1b2c3d4".into()),
            ],
        }));
        app
    }

    /// A detail older than the store says so, `r` reloads it, and versions
    /// going backwards (a store reset) is a warning naming the path.
    #[test]
    fn a_stale_detail_says_so_r_reloads_it_and_versions_going_back_warn() {
        let mut app = loaded();
        let path = "deployments/api-7";
        assert!(!screen(&mut app, 80, 24).contains("stale"));
        // Another writer made v4 (the service re-reads the open secret's metadata).
        app.update(ev(SecretsEvent::Metas(vec![meta(path, 4, PATHS[0].1)])));
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("stale: the store has v4 now; r reloads"), "{s}");
        let reqs = typed(&mut app, "r");
        let reqs = crate::support::gets::<SecretsRequest>(&reqs);
        assert!(
            reqs.iter()
                .any(|r| matches!(r, Some(SecretsRequest::Load { path: p }) if p == path)),
            "{reqs:?}"
        );
        // The store was reset: v1 is current again.
        app.update(ev(SecretsEvent::Metas(vec![meta(path, 1, PATHS[0].1)])));
        let (level, msg, _) = app.message.clone().expect("a warning");
        assert_eq!(level, windflow::service::Level::Warn);
        assert!(
            msg.contains(path) && msg.contains("went backwards (v4 → v1)"),
            "{msg}"
        );
    }

    #[test]
    fn locking_drops_the_rotate_form_and_revealed_values() {
        use windflow::auth::Role;
        use windflow::auth::service::AuthEvent;
        let signed_in = |app: &mut App, operator: &str, role| {
            app.update(Msg::Service(ServiceEvent::Auth(AuthEvent::SignedIn {
                operator: operator.into(),
                role,
            })));
        };
        let mut s = settings();
        s.sign_in = true;
        s.auto_lock = Some(Duration::ZERO);
        let mut app = App::new(s, panes(), "dark", "vim").unwrap();
        app.update(Msg::Service(ServiceEvent::Auth(AuthEvent::Ready {
            has_operators: true,
        })));
        signed_in(&mut app, "alice", Role::Operator);
        let mut app = loaded_in(app);
        app.update(ev(SecretsEvent::Revealed {
            path: "deployments/api-7".into(),
            version: 3,
            values: vals(&[("api_key", "AKIA-TEST"), ("db_password", "hunter2")]),
        }));
        assert!(screen(&mut app, 80, 24).contains("hunter2"));
        typed(&mut app, "R");
        assert!(screen(&mut app, 80, 24).contains("KEYS TO ROTATE"));
        // Idle past the limit: locked. Someone else signs in.
        app.update(Msg::Tick);
        assert!(!app.gate.is_open());
        signed_in(&mut app, "bob", Role::Viewer);
        let s = screen(&mut app, 80, 24);
        assert!(
            !s.contains("KEYS TO ROTATE") && !s.contains("hunter2"),
            "{s}"
        );
        assert!(!app.pane().editing(), "keys go to the keymap again");
        // Enter now opens nothing that could rotate.
        let reqs = press(&mut app, KeyCode::Enter);
        assert!(
            !reqs
                .iter()
                .any(|r| matches!(r.get(), Some(SecretsRequest::Rotate { .. }))),
            "{reqs:?}"
        );
        assert!(matches!(app.mode, Mode::Normal));
    }

    /// The secrets pane with one path, signed in with a step-up window of 0:
    /// every guarded action asks for a code first.
    fn stale_second_factor() -> App {
        let mut s = settings();
        s.step_up_window = Duration::ZERO;
        let mut app = app_with(s);
        crate::console::focus(&mut app, "secrets");
        app.update(ev(SecretsEvent::Index {
            paths: vec!["deployments/api-7".into()],
            took: Duration::from_millis(1),
        }));
        app
    }

    fn masked(s: String) -> String {
        regex::Regex::new(r"masks in \d+ s")
            .unwrap()
            .replace_all(&s, "masks in N s")
            .into_owned()
    }

    #[test]
    fn tree_detail_and_expiry_80x24() {
        let mut app = loaded();
        let s = screen(&mut app, 80, 24);
        insta::assert_snapshot!("secrets_tree_80x24", s);
        assert!(s.contains("3d 1h left") && s.contains("expired") && !s.contains("a1b2c3d4x"));
        // Expiry colours: warn under 7 days, danger once expired.
        let term = crate::console::render(&mut app, 80, 24);
        let buf = term.backend().buffer();
        let find = |needle: &str| {
            (0..24u16)
                .find_map(|y| {
                    let line: String = (0..80u16).map(|x| buf[(x, y)].symbol()).collect();
                    line.find(needle).map(|i| {
                        let x = line[..i].chars().count() as u16;
                        buf[(x, y)].fg
                    })
                })
                .unwrap()
        };
        let theme = &app.theme;
        use windflow::console::theme::Role;
        assert_eq!(find("expired"), theme.role(Role::Danger).fg.unwrap());
        assert_eq!(find("3d 1h left"), theme.role(Role::Warn).fg.unwrap());
    }

    #[test]
    fn fuzzy_search_across_the_mount() {
        let mut app = loaded();
        typed(&mut app, "/pay");
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("/pay (1 of 5)"), "{s}");
        assert!(s.contains("payments-db"), "{s}");
        assert!(!s.contains("smtp"));
        press(&mut app, KeyCode::Esc);
        // Searching tolerates gaps: `inci` finds infra/ci/token.
        typed(&mut app, "/inci");
        let s = screen(&mut app, 80, 24);
        assert!(
            s.contains("infra/ci/token") && s.contains("(1 of 5)"),
            "{s}"
        );
        press(&mut app, KeyCode::Enter);
        let reqs = press(&mut app, KeyCode::Enter);
        assert!(
            matches!(&crate::support::gets::<SecretsRequest>(&reqs)[..], [Some(SecretsRequest::Load { path })] if path == "infra/ci/token"),
            "{reqs:?}"
        );
    }

    #[test]
    fn reveal_needs_step_up_and_masks_again() {
        // A stale second factor: reveal asks for a code first.
        let mut app = stale_second_factor();
        let reqs = typed(&mut app, "v");
        assert!(
            reqs.is_empty() && matches!(app.mode, Mode::StepUp(_)),
            "{reqs:?}"
        );
        press(&mut app, KeyCode::Esc);

        let mut app = loaded();
        let reqs = typed(&mut app, "v");
        assert!(
            matches!(&crate::support::gets::<SecretsRequest>(&reqs)[..], [Some(SecretsRequest::Reveal { path, version: Some(3) })] if path == "deployments/api-7"),
            "{reqs:?}"
        );
        app.update(ev(SecretsEvent::Revealed {
            path: "deployments/api-7".into(),
            version: 3,
            values: vals(&[("api_key", "AKIA-TEST"), ("db_password", "hunter2")]),
        }));
        let s = masked(screen(&mut app, 80, 24));
        insta::assert_snapshot!("secrets_revealed_80x24", s);
        assert!(s.contains("hunter2") && s.contains("masks in N s"));
        // The service's timer re-masks.
        app.update(ev(SecretsEvent::Remask {
            path: "deployments/api-7".into(),
        }));
        let s = screen(&mut app, 80, 24);
        assert!(!s.contains("hunter2") && s.contains("a1b2c3d4"), "{s}");
    }

    fn status(app: &App) -> String {
        app.message
            .as_ref()
            .map(|(_, m, _)| m.clone())
            .unwrap_or_default()
    }

    /// Runs the console's secrets requests on the real service and feeds its
    /// events back to the console until `done` holds.
    async fn drive(
        app: &mut App,
        s: &windflow::secrets::Secrets,
        sink: &windflow::secrets::service::Events,
        rx: &mut (
            windflow::service::EventRx,
            windflow::service::DomainRx<SecretsEvent>,
        ),
        reqs: Vec<Request>,
        what: &str,
        done: impl Fn(&mut App) -> bool,
    ) {
        let mut queue = std::collections::VecDeque::from(reqs);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            while let Some(r) = queue.pop_front() {
                if let Request::Domain(r) = r
                    && let Ok((_, r)) = r.take::<SecretsRequest>()
                {
                    windflow::secrets::service::handle(s, sink, r).await;
                }
            }
            if done(app) {
                return;
            }
            let msg = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    Some(ev) = rx.0.recv() => Msg::Service(ev),
                    Some(e) = rx.1.recv() => ev(e),
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{what}: not within 15 s; status: {}", status(app)));
            queue.extend(app.update(msg));
        }
    }

    /// The status line says how a rotation ended, from the service's result
    /// (the real service over the embedded store): once confirmed, only that
    /// it is under way; then rotated, or rolled back and why.
    #[tokio::test]
    async fn status_line_tells_how_a_rotation_ended() {
        let f = local_fixture();
        let s = f.secrets.clone();
        let path = "deployments/api-7";
        s.put(path, &vals(&[("db_password", "pw-0")]), None)
            .await
            .unwrap();
        let (tx, common, domain) = windflow::service::detached();
        let mut rx = (common, domain);
        let mut app = App::new(settings(), panes(), "dark", "vim").unwrap();
        crate::console::focus(&mut app, "secrets");
        let refresh = vec![Request::domain(SecretsRequest::Refresh)];
        drive(&mut app, &s, &tx, &mut rx, refresh, "the detail", |app| {
            screen(app, 80, 24).contains("db_password")
        })
        .await;

        // Rotated.
        typed(&mut app, "R");
        press(&mut app, KeyCode::Enter);
        let reqs = typed(&mut app, "y");
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        assert_eq!(status(&app), format!("rotating {path}…"));
        drive(&mut app, &s, &tx, &mut rx, reqs, "the rotation", |app| {
            status(app) != format!("rotating {path}…")
        })
        .await;
        assert_eq!(status(&app), format!("rotated {path}: v1 → v2"));
        assert_eq!(s.metadata(path).await.unwrap().current_version, 2);

        // Rolled back: the check (Tab to its field) fails.
        typed(&mut app, "R");
        press(&mut app, KeyCode::Tab);
        typed(&mut app, "echo refused >&2; exit 1");
        press(&mut app, KeyCode::Enter);
        let reqs = typed(&mut app, "y");
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        assert_eq!(status(&app), format!("rotating {path}…"));
        drive(&mut app, &s, &tx, &mut rx, reqs, "the rollback", |app| {
            status(app) != format!("rotating {path}…")
        })
        .await;
        let (level, msg, _) = app.message.as_ref().unwrap();
        assert!(
            msg.starts_with(&format!("rotation of {path} rolled back")) && msg.contains("refused"),
            "{msg}"
        );
        assert_eq!(*level, windflow::service::Level::Warn);
        let (v, _) = s.read(path, None).await.unwrap();
        assert_eq!(s.metadata(path).await.unwrap().current_version, 4);
        assert_ne!(
            v["db_password"].expose(),
            "pw-0",
            "version 2's value is back"
        );
    }

    #[test]
    fn rotate_in_three_keys_with_live_steps() {
        let mut app = loaded();
        typed(&mut app, "R");
        // The form's defaults (every key, the rule's check or read-back) go straight on.
        assert!(app.pane().editing());
        press(&mut app, KeyCode::Enter);
        assert!(matches!(app.mode, Mode::Confirm(_)));
        // A rotation can be undone (it rolls back on failure, a rollback
        // after): `y` confirms, no path to type.
        let reqs = typed(&mut app, "y");
        assert!(
            matches!(&crate::support::gets::<SecretsRequest>(&reqs)[..], [Some(SecretsRequest::Rotate { path, keys, validation: None, policy: None })]
                if path == "deployments/api-7" && keys == &["api_key", "db_password"]),
            "{reqs:?}"
        );
        let step = |step, status| {
            ev(SecretsEvent::Progress(Progress {
                path: "deployments/api-7".into(),
                step,
                status,
            }))
        };
        app.update(step(Step::Generate, StepStatus::Started));
        app.update(step(
            Step::Generate,
            StepStatus::Done("2 new value(s)".into()),
        ));
        app.update(step(
            Step::Deploy,
            StepStatus::Done("version 4 written".into()),
        ));
        app.update(step(Step::Validate, StepStatus::Started));
        let s = screen(&mut app, 80, 24);
        insta::assert_snapshot!("secrets_rotation_running_80x24", s);
        app.update(step(
            Step::Validate,
            StepStatus::Failed("validation command `check-db` exited with code 1".into()),
        ));
        app.update(step(
            Step::Rollback,
            StepStatus::Done("version 3 restored as version 5".into()),
        ));
        app.update(ev(SecretsEvent::Rotated(Ok(Outcome::RolledBack {
            path: "deployments/api-7".into(),
            old_version: 3,
            failed_version: 4,
            restored_as: 5,
            reason: "validation command `check-db` exited with code 1".into(),
        }))));
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("rolled back: v3 restored as v5"), "{s}");
        assert!(s.contains("✗ validate"), "{s}");
        // The next rotation of the path starts from this one's choices; a
        // cancelled confirmation runs nothing and leaves the plain detail.
        typed(&mut app, "x");
        typed(&mut app, "R");
        let s = screen(&mut app, 80, 24);
        assert!(
            s.contains("[x] api_key") && s.contains("[x] db_password"),
            "{s}"
        );
        press(&mut app, KeyCode::Enter);
        assert!(typed(&mut app, "n").is_empty());
        assert!(matches!(app.mode, Mode::Normal));
        let s = screen(&mut app, 80, 24);
        assert!(!s.contains("waiting for confirmation"), "{s}");
        assert!(!s.contains("rolled back: v3"), "{s}");
    }

    #[test]
    fn rollback_to_a_chosen_version_and_diff() {
        let mut app = loaded();
        // The current version cannot be the target.
        assert!(typed(&mut app, "b").is_empty());
        typed(&mut app, "m]");
        let reqs = typed(&mut app, "d");
        assert!(
            matches!(
                &crate::support::gets::<SecretsRequest>(&reqs)[..],
                [Some(SecretsRequest::Diff {
                    v1: 2,
                    v2: 3,
                    reveal: false,
                    ..
                })]
            ),
            "{reqs:?}"
        );
        app.update(ev(SecretsEvent::Diff {
            path: "deployments/api-7".into(),
            v1: 2,
            v2: 3,
            lines: model::diff(
                &vals(&[
                    ("api_key", "a"),
                    ("db_password", "old-pass"),
                    ("legacy", "z"),
                ]),
                &vals(&[
                    ("api_key", "a"),
                    ("db_password", "new-pass"),
                    ("region", "eu"),
                ]),
            ),
            values: None,
        }));
        let s = screen(&mut app, 80, 24);
        // Fingerprints are keyed per process: the same within a run, not across runs.
        insta::with_settings!({ filters => vec![(r"\b[0-9a-f]{8}\b", "[hash..]")] }, {
            insta::assert_snapshot!("secrets_diff_80x24", s);
        });
        assert!(
            !s.contains("old-pass") && !s.contains("new-pass"),
            "values stay masked"
        );
        typed(&mut app, "x");
        typed(&mut app, "b");
        let Mode::Confirm(c) = &app.mode else {
            panic!("rollback asks first")
        };
        assert_eq!(c.spec.typed, None, "it can be undone: `y` confirms");
        let reqs = typed(&mut app, "y");
        assert!(
            matches!(
                &crate::support::gets::<SecretsRequest>(&reqs)[..],
                [Some(SecretsRequest::Rollback { version: 2, .. })]
            ),
            "{reqs:?}"
        );
    }

    #[test]
    fn edit_validates_json_and_shows_a_diff_before_saving() {
        let mut app = loaded();
        let reqs = typed(&mut app, "e");
        assert!(matches!(
            &crate::support::gets::<SecretsRequest>(&reqs)[..],
            [Some(SecretsRequest::Edit { .. })]
        ));
        app.update(ev(SecretsEvent::Editing {
            path: "deployments/api-7".into(),
            version: 3,
            values: vals(&[("config", "{\"pool\": 5}"), ("db_password", "hunter2")]),
        }));
        // Keys go to the editor now: `q` types, it does not quit.
        assert!(typed(&mut app, "q").is_empty());
        let ctrl_s = || key_event(KeyCode::Char('s'), KeyModifiers::CONTROL);
        // Break the JSON on line 1: `q{"pool": 5}` is not JSON.
        press(&mut app, KeyCode::Home);
        press(&mut app, KeyCode::Delete);
        for _ in 0.."config=".len() {
            press(&mut app, KeyCode::Right);
        }
        typed(&mut app, "[");
        app.update(ctrl_s());
        let s = screen(&mut app, 80, 24);
        assert!(
            s.contains("line 1: the value of config is not valid JSON"),
            "{s}"
        );
        press(&mut app, KeyCode::Backspace);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::End);
        typed(&mut app, "9");
        assert!(app.update(ctrl_s()).is_empty());
        let s = screen(&mut app, 80, 24);
        // Fingerprints are keyed per process: the same within a run, not across runs.
        insta::with_settings!({ filters => vec![(r"\b[0-9a-f]{8}\b", "[hash..]")] }, {
            insta::assert_snapshot!("secrets_edit_review_80x24", s);
        });
        assert!(
            s.contains("~ db_password") && !s.contains("hunter29"),
            "{s}"
        );
        let reqs = typed(&mut app, "y");
        let [Some(SecretsRequest::Put { path, values, cas })] =
            &crate::support::gets::<SecretsRequest>(&reqs)[..]
        else {
            panic!("{reqs:?}")
        };
        assert_eq!((path.as_str(), *cas), ("deployments/api-7", 3));
        assert_eq!(values["db_password"].expose(), "hunter29");
        assert_eq!(values["config"].expose(), "{\"pool\": 5}");
        assert!(!app.pane().editing());
    }

    #[test]
    fn copy_gives_the_chosen_keys_value_after_reveal_else_the_path() {
        let mut app = loaded();
        let copied = |reqs: Vec<Request>| match &reqs[..] {
            [Request::Copy(t)] => t.clone(),
            other => panic!("{other:?}"),
        };
        // Masked: the path, whichever key is chosen.
        assert_eq!(copied(typed(&mut app, "y")), "deployments/api-7");
        typed(&mut app, "J");
        assert_eq!(copied(typed(&mut app, "y")), "deployments/api-7");
        app.update(ev(SecretsEvent::Revealed {
            path: "deployments/api-7".into(),
            version: 3,
            values: vals(&[("api_key", "AKIA-TEST"), ("db_password", "hunter2")]),
        }));
        // The chosen row (the second key) is marked, and its value is copied.
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("▸ db_password = hunter2"), "{s}");
        assert_eq!(copied(typed(&mut app, "y")), "hunter2");
        typed(&mut app, "K");
        assert_eq!(copied(typed(&mut app, "y")), "AKIA-TEST");
        // K at the top and J at the bottom stay on a key.
        typed(&mut app, "KJJJ");
        assert_eq!(copied(typed(&mut app, "y")), "hunter2");
        // Masked again: the path.
        app.update(ev(SecretsEvent::Remask {
            path: "deployments/api-7".into(),
        }));
        assert_eq!(copied(typed(&mut app, "y")), "deployments/api-7");
        // A one-key secret copies its value once revealed.
        app.update(ev(SecretsEvent::Revealed {
            path: "deployments/api-7".into(),
            version: 3,
            values: vals(&[("token", "tok-123"), ("db_password", "hunter2")]),
        }));
        assert_eq!(copied(typed(&mut app, "y")), "hunter2");
        // Values of another version than the one on screen are never copied.
        app.update(ev(SecretsEvent::Revealed {
            path: "deployments/api-7".into(),
            version: 2,
            values: vals(&[("api_key", "AKIA-OLD"), ("db_password", "old-pw")]),
        }));
        assert_eq!(copied(typed(&mut app, "y")), "deployments/api-7");
    }

    #[test]
    fn rotate_form_takes_an_http_probe_url_as_the_check() {
        let mut app = loaded();
        typed(&mut app, "R");
        press(&mut app, KeyCode::Tab);
        let probe = "https://ci:probe-pw@probe.internal/check?token=probe-tok";
        typed(&mut app, probe);
        press(&mut app, KeyCode::Enter);
        let Mode::Confirm(c) = &app.mode else {
            panic!("the typed confirmation comes next")
        };
        // Shown without the password or the query (either may be a token).
        assert!(
            c.spec
                .body
                .contains("POSTing to https://ci:****@probe.internal/check;"),
            "{}",
            c.spec.body
        );
        assert!(!c.spec.body.contains("probe-pw") && !c.spec.body.contains("probe-tok"));
        let reqs = typed(&mut app, "y");
        assert!(
            matches!(&crate::support::gets::<SecretsRequest>(&reqs)[..], [Some(SecretsRequest::Rotate { validation: Some(Validation::Http(u)), .. })] if u == probe),
            "{reqs:?}"
        );
        // A URL that does not parse is refused on the form, with the reason.
        typed(&mut app, "x");
        typed(&mut app, "R");
        press(&mut app, KeyCode::Tab);
        // The form starts from the last rotation's check: clear it first.
        app.update(crate::console::key_event(
            KeyCode::Char('u'),
            KeyModifiers::CONTROL,
        ));
        typed(&mut app, "https://[::1");
        press(&mut app, KeyCode::Enter);
        assert!(matches!(app.mode, Mode::Normal), "no confirmation");
        let s = screen(&mut app, 80, 24);
        assert!(s.contains("validation URL"), "{s}");
    }

    #[test]
    fn rotate_form_picks_keys_and_a_check_then_types_the_path() {
        let mut app = loaded();
        typed(&mut app, "R");
        let s = screen(&mut app, 80, 24);
        insta::assert_snapshot!("secrets_rotate_form_80x24", s);
        assert!(
            s.contains("[x] api_key") && s.contains("[x] db_password"),
            "{s}"
        );
        // Keys go to the form: q does not quit, space unticks api_key.
        assert!(typed(&mut app, " q").is_empty());
        let s = screen(&mut app, 80, 24);
        assert!(
            s.contains("[ ] api_key") && s.contains("[x] db_password"),
            "{s}"
        );
        // Nothing ticked: refused with a reason, no confirmation.
        typed(&mut app, "j ");
        press(&mut app, KeyCode::Enter);
        assert!(matches!(app.mode, Mode::Normal), "no confirmation yet");
        assert!(screen(&mut app, 80, 24).contains("choose at least one key"));
        typed(&mut app, " ");
        // Tab to the command; j and k are text there.
        press(&mut app, KeyCode::Tab);
        typed(&mut app, "check-db --jk");
        // Tab to the policy: a bad one is refused on the form.
        press(&mut app, KeyCode::Tab);
        typed(&mut app, "4:hex");
        press(&mut app, KeyCode::Enter);
        assert!(matches!(app.mode, Mode::Normal), "no confirmation yet");
        assert!(screen(&mut app, 80, 24).contains("length must be 8 to 4096"));
        press(&mut app, KeyCode::Home);
        typed(&mut app, "4");
        press(&mut app, KeyCode::Enter);
        let Mode::Confirm(c) = &app.mode else {
            panic!("the typed confirmation comes next")
        };
        assert_eq!(c.spec.typed, None, "it can be undone: `y` confirms");
        assert!(
            c.spec.body.contains("db_password") && !c.spec.body.contains("api_key"),
            "{}",
            c.spec.body
        );
        assert!(c.spec.body.contains("`check-db --jk`"), "{}", c.spec.body);
        assert!(
            c.spec
                .body
                .contains("New 44-character hex values for db_password"),
            "{}",
            c.spec.body
        );
        let reqs = typed(&mut app, "y");
        let [
            Some(SecretsRequest::Rotate {
                path,
                keys,
                validation,
                policy,
            }),
        ] = &crate::support::gets::<SecretsRequest>(&reqs)[..]
        else {
            panic!("{reqs:?}")
        };
        assert_eq!(path, "deployments/api-7");
        assert_eq!(keys, &["db_password"]);
        assert_eq!(policy, &Some("44:hex".parse().unwrap()));
        assert_eq!(
            validation,
            &Some(Validation::Command("check-db --jk".into()))
        );
        // Esc on the form cancels: nothing is sent, the detail is back.
        typed(&mut app, "x");
        typed(&mut app, "R");
        assert!(press(&mut app, KeyCode::Esc).is_empty());
        assert!(!app.pane().editing() && matches!(app.mode, Mode::Normal));
        assert!(screen(&mut app, 80, 24).contains("KEYS"));
    }

    #[test]
    fn rotate_form_starts_from_the_paths_rule_and_needs_step_up() {
        let mut app = loaded();
        app.update(ev(SecretsEvent::Rule {
            path: "deployments/api-7".into(),
            keys: vec!["db_password".into()],
            summary: "rule deployments/*  keys db_password  command `check-db`".into(),
        }));
        typed(&mut app, "R");
        let s = screen(&mut app, 80, 24);
        assert!(
            s.contains("[ ] api_key") && s.contains("[x] db_password"),
            "{s}"
        );
        assert!(s.contains("windflow.toml rule deployments/*"), "{s}");
        press(&mut app, KeyCode::Enter);
        let Mode::Confirm(c) = &app.mode else {
            panic!("confirmation")
        };
        assert!(c.spec.body.contains("the path's rule"), "{}", c.spec.body);
        let reqs = typed(&mut app, "y");
        assert!(
            matches!(&crate::support::gets::<SecretsRequest>(&reqs)[..], [Some(SecretsRequest::Rotate { keys, validation: None, .. })] if keys == &["db_password"]),
            "{reqs:?}"
        );
        // A stale second factor: R asks for a code before the form opens.
        let mut app = stale_second_factor();
        let reqs = typed(&mut app, "R");
        assert!(
            reqs.is_empty() && matches!(app.mode, Mode::StepUp(_)),
            "{reqs:?}"
        );
        assert!(!app.pane().editing());
    }
}

/// The open secret's metadata is read again on every probe: another
/// writer's new version reaches the pane without anyone asking.
#[tokio::test]
async fn the_service_rereads_the_open_secrets_metadata_on_every_probe() {
    use windflow::secrets::service::{self, SecretsEvent, SecretsRequest};
    let f = local_fixture();
    let path = "deployments/a";
    f.secrets
        .put(path, &vals(&[("k", "v1")]), None)
        .await
        .unwrap();
    let (tx, _common, mut rx) = windflow::service::detached();
    let handle = service::spawn(f.secrets.clone(), tx);
    assert!(handle.try_send(SecretsRequest::Load { path: path.into() }));
    // The detail of v1 first, then another writer makes v2.
    loop {
        if let Some(SecretsEvent::Detail { meta, .. }) = rx.recv().await {
            assert_eq!(meta.current_version, 1);
            break;
        }
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {}
    f.secrets
        .put(path, &vals(&[("k", "v2")]), None)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + service::PROBE_EVERY * 3;
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("v2 seen within three probes")
            .unwrap();
        if let SecretsEvent::Metas(m) = ev
            && m.iter().any(|m| m.path == path && m.current_version == 2)
        {
            break;
        }
    }
}

/// The service over a real embedded store: events out, audit in.
#[tokio::test]
async fn service_answers_with_events() {
    use windflow::secrets::service::{self, SecretsEvent, SecretsRequest};

    let f = local_fixture();
    f.secrets
        .put("deployments/a", &vals(&[("k", "v1")]), None)
        .await
        .unwrap();
    let (tx, _common, mut rx) = windflow::service::detached();
    let mut next = async || rx.recv().await.expect("the service sends");
    service::handle(&f.secrets, &tx, SecretsRequest::Refresh).await;
    let SecretsEvent::Index { paths, .. } = next().await else {
        panic!()
    };
    assert_eq!(paths, ["deployments/a"]);
    service::handle(
        &f.secrets,
        &tx,
        SecretsRequest::Reveal {
            path: "deployments/a".into(),
            version: None,
        },
    )
    .await;
    let mut got = None;
    for _ in 0..3 {
        if let SecretsEvent::Revealed { values, .. } = next().await {
            got = Some(values);
            break;
        }
    }
    assert_eq!(got.unwrap()["k"].expose(), "v1");
    assert!(f.sink.types().contains(&"secret_revealed".to_string()));
    // A failure is an event, not a crash.
    service::handle(
        &f.secrets,
        &tx,
        SecretsRequest::Rollback {
            path: "deployments/none".into(),
            version: 1,
        },
    )
    .await;
    let mut failed = None;
    for _ in 0..4 {
        if let SecretsEvent::Failed { error, .. } = next().await {
            failed = Some(error);
            break;
        }
    }
    assert!(failed.unwrap().contains("not found"));
}

/// A one-request HTTP server answering `status`; returns its URL and what it received.
fn probe_server(status: u16) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/check", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read the head, then the body by its content-length.
        loop {
            let n = conn.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(i) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= i + 4 + len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let reason = if status == 200 { "OK" } else { "Error" };
        write!(
            conn,
            "HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        String::from_utf8_lossy(&buf).to_string()
    });
    (url, handle)
}

#[tokio::test]
async fn http_probe_validation_gets_the_value_in_the_body() {
    let f = local_fixture();
    let s = &f.secrets;
    let path = "deployments/probe";
    s.put(path, &vals(&[("token", "old-token")]), None)
        .await
        .unwrap();

    let (url, server) = probe_server(200);
    let opts = RotateOptions {
        validation: Validation::Http(url.clone()),
        ..RotateOptions::default()
    };
    let out = rotation::rotate(s, path, &opts, &mut no_progress())
        .await
        .unwrap();
    assert!(
        matches!(out, Outcome::Rotated { new_version: 2, .. }),
        "{out:?}"
    );
    let request = server.join().unwrap();
    let (new, _) = s.read(path, None).await.unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /check "), "{head}");
    assert!(
        !head.contains(new["token"].expose()),
        "the value is never in the URL or headers"
    );
    let sent: BTreeMap<String, String> = serde_json::from_str(body).unwrap();
    assert_eq!(sent["token"], new["token"].expose());

    // A failing probe rolls back.
    let (url, server) = probe_server(503);
    let opts = RotateOptions {
        validation: Validation::Http(url),
        ..RotateOptions::default()
    };
    let out = rotation::rotate(s, path, &opts, &mut no_progress())
        .await
        .unwrap();
    match out {
        Outcome::RolledBack {
            reason,
            restored_as,
            ..
        } => {
            assert!(reason.contains("503"), "{reason}");
            assert_eq!(restored_as, 4);
        }
        o => panic!("{o:?}"),
    }
    server.join().unwrap();
    assert_eq!(s.read(path, None).await.unwrap().0, new);
}

#[test]
fn cli_vault_mount_and_backend_errors() {
    let cli = Cli::new(true);
    let bao = cli.vault.as_ref().unwrap();
    let out = bao.cli(&["secrets", "enable", "-path=team", "kv-v2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cli.sj(&[
        "--vault-mount",
        "team",
        "put",
        "deployments/x",
        "k=v",
        "--json",
    ]);
    let out = bao.cli(&["kv", "get", "-format=json", "team/deployments/x"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("wf1."));
    // Not in the default mount.
    let a = cli.secrets(&["get", "deployments/x"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    // A bad token: 403, refused (exit 3), with what to check.
    let out = cli
        .cmd(&["secrets", "list"])
        .env("VAULT_TOKEN", "bogus")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied (403)"));
    // Sealed: a clear message, exit 1.
    bao.seal();
    let out = cli.run(&["secrets", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is sealed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real console in a pseudo-terminal (demo mode seeds secrets through the
/// service): search, reveal, rotate with live steps, quit cleanly.
#[test]
fn console_search_reveal_and_rotate_in_a_terminal() {
    use crate::support::pty::{Key, Pty};
    const T: Duration = Duration::from_secs(15);
    let home = tempfile::tempdir().unwrap();
    let h = home.path().display().to_string();
    let mut pty = Pty::spawn(
        &crate::support::windflow_bin(),
        &["--demo"],
        &[
            ("HOME", h.as_str()),
            ("XDG_CONFIG_HOME", &format!("{h}/config")),
            ("XDG_STATE_HOME", &format!("{h}/state")),
            ("WINDFLOW_SECRETS_BACKEND", "local"),
        ],
        80,
        24,
    );
    pty.wait_for("demo (demo sign-in)", T).unwrap();
    pty.keys(":pane secrets\r");
    pty.wait_for("Secrets (6)", T).unwrap();
    pty.wait_for("expired", T).unwrap();
    pty.keys("/smtp");
    pty.wait_for("(1 of 6)", T).unwrap();
    pty.key(Key::Enter);
    pty.key(Key::Enter);
    pty.wait_for("┌ infra/smtp", T).unwrap();
    pty.wait_for("•••••••• ", T).unwrap();
    pty.keys("v");
    pty.wait_for("svc-windflow", T).unwrap();
    pty.keys("R");
    pty.wait_for("KEYS TO ROTATE", T).unwrap();
    pty.key(Key::Enter);
    pty.wait_for("Rotate infra/smtp?", T).unwrap();
    pty.keys("y");
    pty.wait_for("● cleanup", T).unwrap();
    pty.wait_for("rotated: v1 → v2", T).unwrap();
    pty.keys("x");
    pty.wait_for("v2  of 2", T).unwrap();
    // The rotation re-masked the values.
    assert!(!pty.contains("svc-windflow"), "{}", pty.screen_text());
    pty.keys("q");
    let status = pty.wait_exit(T).expect("windflow exits");
    assert_eq!(status.exit_code(), 0);
    assert!(!pty.alternate_screen());
}

/// A dead Vault: the service reports it (health down, a failure event) and keeps serving.
#[tokio::test]
async fn service_reports_a_dead_backend_and_stays_up() {
    use windflow::secrets::service::{self, SecretsEvent, SecretsRequest};
    use windflow::service::{HealthState, ServiceEvent};
    let port = free_port();
    let f = fixture(|_| Arc::new(vault_store(&format!("http://127.0.0.1:{port}"), TOKEN)));
    let (tx, mut common, mut rx) = windflow::service::detached();
    let handle = service::spawn(f.secrets.clone(), tx);
    let mut health = None;
    let mut failure = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while health.is_none() || failure.is_none() {
        tokio::time::timeout_at(deadline, async {
            tokio::select! {
                Some(ev) = common.recv() => {
                    if let ServiceEvent::Health { health: h, .. } = ev {
                        health = Some(h);
                    }
                }
                Some(ev) = rx.recv() => {
                    if let SecretsEvent::Failed { error, .. } = ev {
                        failure = Some(error);
                    }
                }
            }
        })
        .await
        .expect("events from the service");
    }
    let h = health.unwrap();
    assert_eq!(h.state, HealthState::Down);
    assert!(h.last_error.unwrap().contains("unreachable"));
    assert!(failure.unwrap().contains("unreachable"));
    // Still serving: another request gets its own answer.
    assert!(handle.try_send(SecretsRequest::Load {
        path: "deployments/a".into()
    }));
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if let SecretsEvent::Failed { what, .. } = ev {
            assert!(what.contains("deployments/a"));
            break;
        }
    }
}

// ------------------------------------------------------------------ settings from windflow.toml

/// Writes `text` to `path` with permission bits `mode`.
fn write_mode(path: &std::path::Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The CLI and the console's own resolver take Vault from windflow.toml
/// (address, mount, token file), against a real OpenBao; a file that would
/// leak a token is refused with what to do.
#[test]
fn cli_and_console_take_the_vault_backend_from_windflow_toml() {
    let bao = Bao::start();
    let out = bao.cli(&["secrets", "enable", "-path=team", "kv-v2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = CliEnv::new();
    let conf_dir = env.root.path().join("config/windflow");
    let conf = conf_dir.join("windflow.toml");
    write_mode(&conf_dir.join("bao-token"), &format!("{TOKEN}\n"), 0o600);
    let file = format!(
        "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddr = \"{}\"\nmount = \"team\"\ntoken_file = \"bao-token\"\n",
        bao.addr
    );
    write_mode(&conf, &file, 0o644);
    let cli = Cli::with(env, Some(bao));
    let bao = cli.vault.as_ref().unwrap();
    // No VAULT_* anywhere: the file names the server, the mount and the token.
    cli.sj(&["put", "deployments/from-file", "k=v1", "--json"]);
    let out = bao.cli(&["kv", "get", "-format=json", "team/deployments/from-file"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("wf1.") && !text.contains("v1\""), "{text}");
    // The environment beats the file: WINDFLOW_SECRETS_BACKEND=local sees nothing.
    let out = cli
        .cmd(&["secrets", "list", "--json"])
        .env("WINDFLOW_SECRETS_BACKEND", "local")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!listed.to_string().contains("from-file"), "{listed}");
    // And a flag beats both: --vault-mount secret is another mount.
    let l = cli.sj(&["--vault-mount", "secret", "list", "--json"]);
    assert!(!l.to_string().contains("from-file"), "{l}");

    // The console resolves through the same function: the same secret, from the file.
    let base = windflow::config::BaseDirs {
        config: conf_dir.clone(),
        data: cli.data(),
        state: cli.root.path().join("state"),
    };
    let flags = windflow::config::Flags {
        config: Some(conf.clone()),
        data_dir: Some(cli.data()),
        ..Default::default()
    };
    let no_env = |_: &str| None;
    let config = windflow::config::Config::load(&flags, &no_env, &base).unwrap();
    let local = Store::open(&cli.data()).unwrap();
    let keyring =
        Arc::new(Keyring::from_env_or_file(&cli.data().join("master.key"), false).unwrap());
    block_on(async {
        use windflow::secrets::service::{self, SecretsEvent, SecretsRequest};

        let s =
            service::from_config_with(&config, &no_env, local, keyring, Audit::discard(), "alice")
                .unwrap();
        assert_eq!(s.store().kind(), "vault");
        let (tx, _common, mut rx) = windflow::service::detached();
        service::handle(&s, &tx, SecretsRequest::Refresh).await;
        loop {
            if let Some(SecretsEvent::Index { paths, .. }) = rx.recv().await {
                assert_eq!(paths, ["deployments/from-file"]);
                break;
            }
        }
        let (values, _) = s.read("deployments/from-file", None).await.unwrap();
        assert_eq!(values["k"].expose(), "v1");
    });

    // A token file others can read is refused, naming the file and the fix.
    write_mode(&conf_dir.join("bao-token"), TOKEN, 0o644);
    let out = cli.run(&["secrets", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bao-token")
            && err.contains("readable by group/others (mode 0644)")
            && err.contains("chmod 600"),
        "{err}"
    );
    // A token written into a world-readable windflow.toml: refused, token not echoed.
    let inline = format!(
        "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddr = \"{}\"\nmount = \"team\"\ntoken = \"{TOKEN}\"\n",
        bao.addr
    );
    write_mode(&conf, &inline, 0o644);
    let out = cli.run(&["secrets", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("windflow.toml") && err.contains("chmod 600") && !err.contains(TOKEN),
        "{err}"
    );
    let config = windflow::config::Config::load(&flags, &no_env, &base).unwrap();
    let local = Store::open(&cli.data().join("other")).unwrap();
    let err = windflow::secrets::service::from_config_with(
        &config,
        &no_env,
        local,
        Arc::new(Keyring::new(MasterKey::generate())),
        Audit::discard(),
        "alice",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("chmod 600"), "{err}");
    // The same file made private (0600) is accepted.
    write_mode(&conf, &inline, 0o600);
    let l = cli.sj(&["list", "--json"]);
    assert!(l.to_string().contains("deployments/from-file"), "{l}");
}

/// The real console in a terminal, with nothing but windflow.toml naming
/// OpenBao, lists what is in Vault; the demo, on the same settings, writes its
/// made-up secrets only into its own store; a world-readable file holding a
/// token stops the console before it starts, with the fix.
#[test]
fn console_in_a_terminal_uses_the_vault_from_windflow_toml() {
    use crate::support::pty::Pty;
    const T: Duration = Duration::from_secs(20);
    let bao = Bao::start();
    let env = crate::support::cli::CliEnv::new();
    let conf_dir = env.root.path().join("config/windflow");
    write_mode(&conf_dir.join("bao-token"), TOKEN, 0o600);
    write_mode(
        &conf_dir.join("windflow.toml"),
        &format!(
            "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddr = \"{}\"\ntoken_file = \"bao-token\"\n",
            bao.addr
        ),
        0o644,
    );
    let put = bao.cli(&["kv", "put", "secret/deployments/vault-only", "k=v"]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );

    let mut pty = env.signed_in_console("alice", 80, 24);
    pty.keys(":pane secrets\r");
    pty.wait_for("vault-only", T).unwrap();
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);

    // The demo on the same settings: its six secrets stay out of Vault.
    let h = env.root.path().display().to_string();
    let vars = [
        ("HOME", format!("{h}/home")),
        ("XDG_CONFIG_HOME", format!("{h}/config")),
        ("XDG_STATE_HOME", format!("{h}/state")),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut pty = Pty::spawn(&crate::support::windflow_bin(), &["--demo"], &vars, 80, 24);
    pty.wait_for("demo (demo sign-in)", T).unwrap();
    pty.keys(":pane secrets\r");
    pty.wait_for("Secrets (6)", T).unwrap();
    pty.keys("q");
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 0);
    let out = bao.cli(&["kv", "list", "-format=json", "secret/deployments"]);
    let listed: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed,
        ["vault-only"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A token in a world-readable windflow.toml: no console, the reason instead.
    write_mode(
        &conf_dir.join("windflow.toml"),
        &format!(
            "[secrets]\nbackend = \"vault\"\n[secrets.vault]\naddr = \"{}\"\ntoken = \"{TOKEN}\"\n",
            bao.addr
        ),
        0o644,
    );
    let data = env.data().display().to_string();
    let mut pty = Pty::spawn(
        &crate::support::windflow_bin(),
        &["--data-dir", &data],
        &vars,
        80,
        24,
    );
    pty.wait_for("chmod 600", T).unwrap();
    assert_eq!(pty.wait_exit(T).expect("windflow exits").exit_code(), 2);
    assert!(!pty.contains(TOKEN));
}

/// The service rotates what the console's form chose, over the path's
/// `[[secrets.rotation]]` rule, on the embedded store.
#[tokio::test]
async fn service_rotates_the_forms_keys_over_the_paths_rule() {
    use windflow::secrets::service::{self, SecretsEvent, SecretsRequest};
    use windflow::secrets::settings::{Flags, SecretsSettings};

    let rules = SecretsSettings::resolve(
        Some(
            "[[secrets.rotation]]\npath = \"deployments/*\"\nkeys = [\"db_password\"]\npolicy = \"40:hex\"\nvalidate_cmd = \"exit 1\"\n",
        ),
        std::path::Path::new("windflow.toml"),
        Some(0o644),
        &Flags::default(),
        &|_| None,
    )
    .unwrap()
    .rules;
    let f = local_fixture();
    let s = f.secrets.clone().with_rules(rules);
    let path = "deployments/api-7";
    s.put(
        path,
        &vals(&[("api_key", "key-0"), ("db_password", "pw-0")]),
        None,
    )
    .await
    .unwrap();
    let (tx, _common, mut rx) = windflow::service::detached();
    let mut next = async || rx.recv().await.expect("the service sends");
    // The detail comes with the rule, for the form.
    service::handle(&s, &tx, SecretsRequest::Load { path: path.into() }).await;
    let mut rule = None;
    for _ in 0..2 {
        if let SecretsEvent::Rule { keys, summary, .. } = next().await {
            rule = Some((keys, summary));
        }
    }
    let (keys, summary) = rule.expect("a Rule event");
    assert_eq!(keys, ["db_password"]);
    assert!(
        summary.contains("deployments/*") && summary.contains("exit 1"),
        "{summary}"
    );
    let mut rotate = async |keys: &[&str], cmd: Option<&str>, policy: Option<&str>| {
        service::handle(
            &s,
            &tx,
            SecretsRequest::Rotate {
                path: path.into(),
                keys: keys.iter().map(|k| k.to_string()).collect(),
                validation: cmd.map(|c| Validation::Command(c.to_owned())),
                policy: policy.map(|p| p.parse().unwrap()),
            },
        )
        .await;
        loop {
            if let SecretsEvent::Rotated(r) = next().await {
                return r.unwrap();
            }
        }
    };
    // The form left as the rule has it: the rule's check (exit 1) fails, rolled back.
    let out = rotate(&[], None, None).await;
    assert!(matches!(out, Outcome::RolledBack { .. }), "{out:?}");
    let (v, _) = s.read(path, None).await.unwrap();
    assert_eq!(
        (v["api_key"].expose(), v["db_password"].expose()),
        ("key-0", "pw-0")
    );
    // The form's command replaces the rule's; the rule's key and policy stay.
    let out = rotate(
        &[],
        Some("test \"$WINDFLOW_SECRET_DB_PASSWORD\" != pw-0"),
        None,
    )
    .await;
    assert!(matches!(out, Outcome::Rotated { .. }), "{out:?}");
    let (v, _) = s.read(path, None).await.unwrap();
    assert_eq!(v["api_key"].expose(), "key-0");
    let pw = v["db_password"].expose().to_owned();
    assert!(
        pw.len() == 40 && pw.chars().all(|c| c.is_ascii_hexdigit()),
        "{pw}"
    );
    // Keys ticked in the form win over the rule's.
    let out = rotate(&["api_key"], Some("true"), None).await;
    assert!(matches!(out, Outcome::Rotated { .. }), "{out:?}");
    let (v, _) = s.read(path, None).await.unwrap();
    assert_ne!(v["api_key"].expose(), "key-0");
    assert_eq!(v["db_password"].expose(), pw);
    // The form's policy wins over the rule's.
    let out = rotate(&[], Some("true"), Some("12:digits")).await;
    assert!(matches!(out, Outcome::Rotated { .. }), "{out:?}");
    let (v, _) = s.read(path, None).await.unwrap();
    let pw = v["db_password"].expose();
    assert!(
        pw.len() == 12 && pw.chars().all(|c| c.is_ascii_digit()),
        "{pw}"
    );
}

/// The CLI uses the same rules: `rotate PATH` with no flags follows the
/// path's rule from windflow.toml; flags override it.
#[test]
fn cli_rotate_follows_the_paths_rule_from_windflow_toml() {
    let env = CliEnv::new();
    let conf = env.root.path().join("config/windflow/windflow.toml");
    write_mode(
        &conf,
        "[[secrets.rotation]]\npath = \"deployments/api-7\"\nkeys = [\"db_password\"]\npolicy = \"12:digits\"\nvalidate_cmd = \"exit 3\"\n",
        0o644,
    );
    let cli = Cli::with(env, None);
    let path = "deployments/api-7";
    cli.sj(&["put", path, "api_key=key-0", "db_password=pw-0", "--json"]);
    // The rule's check fails: exit 1, rolled back, nothing lost.
    let a = cli.secrets(&["rotate", path, "--json"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "rolled_back", "{v}");
    // --validate-cmd replaces the rule's check; the rule's keys and policy stay.
    let v = cli.sj(&["rotate", path, "--validate-cmd", "true", "--json"]);
    assert_eq!(v["outcome"], "rotated", "{v}");
    let lib = cli.library();
    let (vals, _) = block_on(lib.read(path, None)).unwrap();
    assert_eq!(vals["api_key"].expose(), "key-0");
    let pw = vals["db_password"].expose();
    assert!(
        pw.len() == 12 && pw.chars().all(|c| c.is_ascii_digit()),
        "{pw}"
    );
    // A bad rule is a usage error naming the file and the rule.
    write_mode(
        &conf,
        "[[secrets.rotation]]\npath = \"a/*\"\npolicy = \"3\"\n",
        0o644,
    );
    let a = cli.secrets(&["list"]);
    let out = cli.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("windflow.toml") && err.contains("#1") && err.contains("policy"),
        "{err}"
    );
}

/// Vault dies while nobody acts: the service says so by itself within a few
/// seconds (its own probe), and a `:probe` asks at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_service_notices_a_dead_vault_without_being_asked() {
    use windflow::secrets::service::{self, SecretsRequest};
    use windflow::service::{HealthState, ServiceEvent};
    let bao = Bao::start();
    let f = vault_fixture(&bao);
    let (tx, mut rx, _domain) = windflow::service::detached();
    let handle = service::spawn(f.secrets.clone(), tx);
    let mut state_of = async |want: HealthState| {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match rx.recv().await {
                    Some(ServiceEvent::Health { service, health })
                        if service == service::NAME && health.state == want =>
                    {
                        return health;
                    }
                    Some(_) => {}
                    None => panic!("the service stopped"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {want:?} health within 20 s"))
    };
    assert!(handle.try_send(SecretsRequest::Probe));
    state_of(HealthState::Connected).await;
    drop(bao);
    let down = state_of(HealthState::Down).await;
    assert!(down.last_error.is_some(), "{down:?}");
}

// ------------------------------------------------------------------ scheduled rotations (the agent)

/// `every = "3s"` on a rule: the agent rotates the secret once its value is
/// 3 s old, again and again; the due time comes from the secret's version
/// history, so an agent killed and started again (or another one) neither
/// rotates early nor twice. Only scheduled secrets rotate; each rotation is
/// audited with the agent as the acting operator.
fn scheduled_rotation(vault: bool) {
    use crate::agent::{Agent, wait_until};
    const EVERY_NS: i128 = 3_000_000_000;
    let cli = Cli::with_conf(
        vault,
        "[[secrets.rotation]]\npath = \"deployments/*\"\nkeys = [\"password\"]\nevery = \"3s\"\n",
    );
    let path = "deployments/sched";
    cli.sj(&["put", path, "password=original", "user=svc", "--json"]);
    cli.sj(&["put", "other/plain", "k=v", "--json"]);
    // The list says when each scheduled secret is next due.
    let l = cli.sj(&["list", "--json"]);
    let row = |p: &str| {
        l["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == p)
            .unwrap()
            .clone()
    };
    assert_eq!(row(path)["rotate_every"], "3s", "{l}");
    assert!(row(path)["next_rotation"].is_string(), "{l}");
    assert!(row("other/plain").get("next_rotation").is_none(), "{l}");
    let text = cli.expect(&["secrets", "list"], 0);
    assert!(text.contains("rotates every 3s"), "{text}");

    let lib = cli.library();
    let mut a = Agent::spawn(&cli);
    wait_until(
        "two scheduled rotations",
        || a.lines("rotated on schedule").len() >= 2,
        || {},
    );
    // Killed right after a rotation; the next agent starts at once.
    a.signal(libc::SIGKILL);
    let _ = a.child.wait();
    let mut b = Agent::spawn(&cli);
    wait_until(
        "two more scheduled rotations",
        || b.lines("rotated on schedule").len() >= 2,
        || {},
    );
    b.stop();

    let meta = block_on(lib.metadata(path)).unwrap();
    assert!(meta.current_version >= 5, "{meta:?}");
    // One new value per period, never two: each version is at least 3 s
    // younger than the one before (to the millisecond the check reads).
    let created: Vec<i128> = meta
        .versions
        .iter()
        .map(|v| i128::from(v.created_time) * 1_000_000_000 + i128::from(v.created_nanos))
        .collect();
    for (i, w) in created.windows(2).enumerate() {
        assert!(
            w[1] - w[0] >= EVERY_NS - 1_000_000,
            "versions {} and {} are {} ms apart",
            i + 1,
            i + 2,
            (w[1] - w[0]) / 1_000_000
        );
    }
    let (now, _) = block_on(lib.read(path, None)).unwrap();
    assert_ne!(now["password"].expose(), "original");
    assert_eq!(now["user"].expose(), "svc");
    assert_eq!(
        block_on(lib.metadata("other/plain"))
            .unwrap()
            .current_version,
        1
    );
    // Audited like `secrets rotate`, by the agent.
    let agent = format!("agent@{}", windflow::host::name());
    let rotated: Vec<_> = cli
        .events()
        .into_iter()
        .filter(|e| e.event_type == "secret_rotated")
        .collect();
    assert_eq!(rotated.len() as u64, meta.current_version - 1);
    for e in &rotated {
        assert_eq!(e.user_id.as_deref(), Some(agent.as_str()), "{e:?}");
        assert_eq!(e.details["path"], path);
    }
}

#[test]
fn the_agent_rotates_on_schedule_local() {
    scheduled_rotation(false);
}

#[test]
fn the_agent_rotates_on_schedule_vault() {
    scheduled_rotation(true);
}

// ------------------------------------------------------------------ journals that cannot be finished

/// The journal ids `secrets recover --json` reports as unrecoverable.
fn unrecoverable(cli: &Cli) -> Vec<Value> {
    let out = cli.srun(&["recover", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v["unrecoverable"].as_array().unwrap().clone();
    assert_eq!(
        out.status.code(),
        Some(if list.is_empty() { 0 } else { 1 }),
        "{v}"
    );
    list
}

/// A rotation killed during validation whose old version was then destroyed
/// in Vault cannot be rolled back: every other command still works and
/// names it; `recover --discard ID` drops it after the path is typed, and
/// says so in the audit log.
#[test]
fn a_journal_that_cannot_be_finished_is_reported_skipped_and_discarded() {
    let cli = Cli::new(true);
    let bao = cli.vault.as_ref().unwrap();
    let path = "deployments/stuck";
    cli.sj(&["put", path, "password=original", "user=svc", "--json"]);
    cli.sj(&["put", "deployments/fine", "password=p", "--json"]);
    kill_at(&cli, path, "validate", &[]);
    let out = bao.cli(&["kv", "destroy", "-versions=1", "secret/deployments/stuck"]);
    assert!(out.status.success(), "{out:?}");

    // Other commands work, and name the journal.
    let out = cli.srun(&["list", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let bad = unrecoverable(&cli);
    assert_eq!(bad.len(), 1, "{bad:?}");
    let id = bad[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(bad[0]["path"], path);
    assert!(
        bad[0]["error"].as_str().unwrap().contains("destroyed"),
        "{bad:?}"
    );
    assert!(
        err.contains("cannot be finished and is skipped")
            && err.contains(&format!("secrets recover --discard {id}")),
        "{err}"
    );
    let r = cli.sj(&["rotate", "deployments/fine", "--json"]);
    assert_eq!(r["outcome"], "rotated", "{r}");
    // Only its own secret waits: a rotation of it says why.
    let out = cli.srun(&["rotate", path, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("--discard {id}")), "{err}");

    // Discarding needs the path typed, and an operator.
    let discard = cli.secrets(&["recover", "--discard", &id, "--json"]);
    let discard: Vec<&str> = discard.iter().map(String::as_str).collect();
    let out = cli.run_stdin(&discard, b"deployments/fine\n");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not confirmed"));
    let out = cli.run_stdin(
        &["secrets", "recover", "--discard", &id],
        b"deployments/stuck\n",
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(unrecoverable(&cli).len(), 1);
    let out = cli.run_stdin(&discard, b"deployments/stuck\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["discarded"], id.as_str());
    assert!(unrecoverable(&cli).is_empty());
    let e = cli
        .events()
        .into_iter()
        .find(|e| e.event_type == "secret_rotation_journal_discarded")
        .expect("the discard is audited");
    assert_eq!(e.user_id.as_deref(), Some("alice"));
    assert_eq!(e.details["journal_id"], id.as_str());
    assert_eq!(e.details["path"], path);
    // The secret stays as it was (the new value, unvalidated), and rotates again.
    assert_eq!(cli.sj(&["history", path, "--json"])["current_version"], 2);
    let r = cli.sj(&["rotate", path, "--json"]);
    assert_eq!(r["outcome"], "rotated", "{r}");
}

/// A rotation killed during validation, then the secret written by someone
/// else: the rollback would overwrite their value (a check-and-set
/// conflict), so the journal is reported, the other value kept, and
/// commands go on.
#[test]
fn a_journal_whose_rollback_conflicts_does_not_stop_other_commands() {
    let cli = Cli::new(false);
    let path = "deployments/cas";
    cli.sj(&["put", path, "password=original", "user=svc", "--json"]);
    kill_at(&cli, path, "validate", &[]);
    let lib = cli.library();
    block_on(lib.write(path, &vals(&[("password", "by-hand")]), 2)).unwrap();

    let out = cli.srun(&["list", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("check-and-set conflict"), "{err}");
    let bad = unrecoverable(&cli);
    assert_eq!(bad.len(), 1, "{bad:?}");
    let (v, meta) = block_on(lib.read(path, None)).unwrap();
    assert_eq!((meta.version, v["password"].expose()), (3, "by-hand"));
}

/// Several `secrets rotate` of one secret at once, against Vault behind a
/// slow network (each request 200 ms late): the journal is claimed in one
/// store transaction before any request, so exactly one rotation runs and
/// the others are refused, none reaching a write; the running one (stopped
/// by kill -9 mid-validation) keeps its journal, so the next command rolls
/// it back.
#[test]
fn concurrent_rotations_of_one_secret_claim_its_journal_once() {
    use crate::support::slow_proxy::SlowProxy;
    use std::io::BufRead;
    let cli = Cli::new(true);
    let bao = cli.vault.as_ref().unwrap();
    let path = "deployments/race";
    cli.sj(&["put", path, "password=original", "user=svc", "--json"]);
    let proxy = SlowProxy::start(
        bao.addr.trim_start_matches("http://"),
        Duration::from_millis(200),
    );
    let args = cli.secrets(&["rotate", path, "--keys", "password", "--json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let runs: Vec<_> = (0..5)
        .map(|_| {
            let mut child = cli
                .cmd(&args)
                .env("VAULT_ADDR", proxy.url())
                .env(rotation::PAUSE_ENV, "validate")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let err = Arc::new(std::sync::Mutex::new(String::new()));
            let (e, pipe) = (err.clone(), child.stderr.take().unwrap());
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    e.lock().unwrap().push_str(&(line + "\n"));
                }
            });
            (Killed(child), err)
        })
        .collect();
    let mut runs = runs;
    let start = std::time::Instant::now();
    let (mut paused, mut exited) = (Vec::new(), Vec::new());
    while !runs.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the rotations did not settle"
        );
        let mut i = 0;
        while i < runs.len() {
            if let Some(status) = runs[i].0.0.try_wait().unwrap() {
                let (_, err) = runs.remove(i);
                std::thread::sleep(Duration::from_millis(50));
                let err = err.lock().unwrap().clone();
                exited.push((status.code(), err));
            } else if runs[i].1.lock().unwrap().contains("paused at validate") {
                paused.push(runs.remove(i).0);
            } else {
                i += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(paused.len(), 1, "one rotation runs: {exited:?}");
    for (code, err) in &exited {
        assert!(
            err.contains("a rotation is already running"),
            "refused before any write: {code:?} {err}"
        );
        assert_eq!(*code, Some(2), "{err}");
    }
    drop(paused);
    // Journals belong to the store as addressed: through the same proxy.
    let args = cli.secrets(&["recover", "--json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli
        .cmd(&args)
        .env("VAULT_ADDR", proxy.url())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recovered = rec["recovered"].as_array().unwrap();
    assert_eq!(recovered.len(), 1, "its journal is still there: {rec}");
    assert_eq!(recovered[0]["action"], "rolled_back", "{rec}");
    let lib = cli.library();
    let (v, meta) = block_on(lib.read(path, None)).unwrap();
    assert_eq!(v["password"].expose(), "original");
    assert_eq!(meta.version, 3, "one rotation wrote, and was rolled back");
}

/// A child killed (SIGKILL) and reaped when dropped, also when a test fails.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
