//! Session figures, against a real `redis-server` started here:
//!
//! - `validate` throughput with 50 concurrent tasks, next to
//!   `redis-benchmark -t get,set -d 300 -c 50` run in the same process
//!   (target: at least 0.5x Redis's GET+SET rate: validate is a read and a write);
//! - listing 100k sessions into the pane (SCAN, pipelined reads, decrypt,
//!   sort; target under 2 s);
//! - a scrolling frame of the pane over 100k sessions (target under 5 ms).
//!
//! `cargo bench --bench sessions`; the comparison is printed before the
//! criterion output. Needs `redis-server` and `redis-benchmark` (Debian
//! package redis-server / redis-tools).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use windflow::audit::Audit;
use windflow::console::panes::{Pane, RenderCtx, Shared};
use windflow::console::theme::{ColorMode, Theme};
use windflow::crypto::{Keyring, MasterKey};
use windflow::sessions::model::{Device, SessionType, Validation};
use windflow::sessions::pane::SessionsPane;
use windflow::sessions::service::{Poller, Sessions};
use windflow::sessions::{RedisStore, SessionStore};

struct Redis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install -y redis-server)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn flush(&self) {
        let mut c = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo test --all-targets` runs benches once without `--bench`: keep
/// that quick with small populations.
fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The listing population: 100k, or 2k in test mode.
fn list_size() -> usize {
    if full_run() { 100_000 } else { 2_000 }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn device(i: usize) -> Device {
    Device::new(
        format!("10.{}.{}.{}", i % 200, (i / 200) % 250, 1 + i % 250)
            .parse()
            .unwrap(),
        "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
    )
}

/// Creates `n` sessions over 50 tasks; returns (id, device) pairs.
async fn populate(s: &Sessions, n: usize) -> Vec<(String, Device)> {
    let mut tasks = Vec::new();
    for t in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t..n).step_by(50) {
                let d = device(i);
                let user = format!("user{:04}", i % 5000);
                let l = s
                    .create(&user, SessionType::Web, &d, vec!["read".into()])
                    .await
                    .unwrap();
                out.push((l.session.id, d));
            }
            out
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// `total` validations spread over 50 tasks; returns the elapsed time.
async fn validate_burst(s: &Sessions, ids: &Arc<Vec<(String, Device)>>, total: u64) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (s, ids, next) = (s.clone(), ids.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    break;
                }
                let (id, d) = &ids[k as usize % ids.len()];
                let v = s.validate(id, d).await.unwrap();
                assert!(matches!(v, Validation::Valid(_)));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// requests per second for GET and SET from redis-benchmark's CSV output.
fn redis_benchmark(port: u16) -> Option<(f64, f64)> {
    let out = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-h", "127.0.0.1"])
        .args([
            "-t", "get,set", "-d", "300", "-c", "50", "-n", "200000", "--csv",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rate = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("\"{name}\"")))
            .and_then(|l| l.split(',').nth(1))
            .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
    };
    Some((rate("GET")?, rate("SET")?))
}

fn validate_vs_redis_benchmark(c: &mut Criterion) {
    let redis = Redis::start();
    let rt = runtime();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let sessions = rt.block_on(async {
        let store: Arc<dyn SessionStore> =
            Arc::new(RedisStore::connect(&redis.url(), keys).unwrap());
        Sessions::new(store, Audit::discard())
    });
    let ids = Arc::new(rt.block_on(populate(&sessions, 1000)));

    // The comparison, measured now on this machine.
    let n = if full_run() { 100_000 } else { 2_000 };
    let took = rt.block_on(validate_burst(&sessions, &ids, n));
    let ours = n as f64 / took.as_secs_f64();
    match redis_benchmark(redis.port).filter(|_| full_run()) {
        Some((get, set)) => {
            // A GET and a SET back to back: the rate of the pair.
            let pair = 1.0 / (1.0 / get + 1.0 / set);
            println!(
                "sessions: validate {ours:.0}/s with 50 tasks; redis-benchmark -d 300 -c 50: GET {get:.0}/s, SET {set:.0}/s, GET+SET pair {pair:.0}/s; validate = {:.2}x the pair rate, {:.2}x the mean of GET and SET (target >= 0.5x)",
                ours / pair,
                ours / ((get + set) / 2.0)
            );
        }
        None => println!(
            "sessions: validate {ours:.0}/s with 50 tasks (no redis-benchmark comparison in test mode, or it is missing: apt-get install -y redis-tools)"
        ),
    }

    let mut g = c.benchmark_group("sessions");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(criterion::Throughput::Elements(1));
    g.bench_function("validate_redis_50_tasks", |b| {
        b.iter_custom(|iters| rt.block_on(validate_burst(&sessions, &ids, iters)))
    });
    g.finish();
}

fn list_and_scroll_100k(c: &mut Criterion) {
    let redis = Redis::start();
    redis.flush();
    let rt = runtime();
    let keys = Arc::new(Keyring::new(MasterKey::generate()));
    let (store, sessions) = rt.block_on(async {
        let store: Arc<dyn SessionStore> =
            Arc::new(RedisStore::connect(&redis.url(), keys).unwrap());
        (store.clone(), Sessions::new(store, Audit::discard()))
    });
    let started = Instant::now();
    let n = list_size();
    rt.block_on(populate(&sessions, n));
    println!("sessions: created {n} sessions in {:?}", started.elapsed());

    let mut g = c.benchmark_group("sessions");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // SCAN + pipelined PTTL, pipelined GET + decrypt of every session,
    // then the pane's filtered and sorted order.
    g.bench_function("list_100k_into_pane", |b| {
        b.iter_batched(
            Poller::default,
            |mut poller| {
                let snap = rt.block_on(poller.poll(store.as_ref())).unwrap();
                assert_eq!(snap.rows.len(), n);
                let mut pane = SessionsPane::default();
                pane.set_snapshot(snap);
                pane.rows().len()
            },
            BatchSize::PerIteration,
        )
    });
    // A second poll with nothing changed (the console's steady state).
    let mut poller = Poller::default();
    rt.block_on(poller.poll(store.as_ref())).unwrap();
    g.bench_function("poll_100k_unchanged", |b| {
        b.iter(|| rt.block_on(poller.poll(store.as_ref())).unwrap().rows.len())
    });

    // Scrolling: one row down and a full frame, at 80x24 and 200x60.
    let snap = rt.block_on(poller.poll(store.as_ref())).unwrap();
    let shared = Shared::default();
    let theme = Theme::bundled("dark", ColorMode::TrueColor).unwrap();
    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let mut pane = SessionsPane::default();
        pane.set_snapshot(snap.clone());
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut fx = Vec::new();
        let wall = UNIX_EPOCH + Duration::from_secs(1_795_608_000);
        g.bench_function(format!("scroll_frame_100k_{w}x{h}"), |b| {
            b.iter(|| {
                pane.handle("down", &shared, &mut fx);
                term.draw(|f| {
                    let ctx = RenderCtx {
                        theme: &theme,
                        shared: &shared,
                        now: Instant::now(),
                        wall,
                        focused: true,
                        utc: true,
                    };
                    pane.render(f, f.area(), &ctx);
                })
                .unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, validate_vs_redis_benchmark, list_and_scroll_100k);
criterion_main!(benches);
