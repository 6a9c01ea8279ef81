//! Audit speed targets:
//! - parse, filter and append to the tail buffer: >= 500k events/s on one core
//!   (and 10x `jq -c 'select(.severity=="critical")'`: see bench/audit-jq.sh);
//! - local sink with the HMAC chain: >= 100k events/s;
//! - render of the tail pane at 200x60, 100k events buffered, filter active:
//!   median under 2 ms;
//! - a burst through the audit service to the pane's channel (the local log
//!   read, parsed and sent in batches): >= 500k events/s on two cores.
//!
//! The 1M-event JSON-lines file is written to `target/audit-bench-1m.jsonl`
//! for bench/audit-jq.sh.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use windflow::audit::local::LocalLog;
use windflow::audit::query::Source;
use windflow::audit::service::{AuditEvent, Batch};
use windflow::audit::tail::{Ring, TailFilter, ingest_lines};
use windflow::audit::{SecurityEvent, Severity};
use windflow::console::app::{App, Msg, Settings};
use windflow::console::{self, view};
use windflow::crypto::{Keyring, MasterKey};

fn events(n: usize) -> Vec<SecurityEvent> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..n)
        .map(|_| windflow::audit::demo::event(&mut rng))
        .collect()
}

fn jsonl(events: &[SecurityEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 350);
    for e in events {
        serde_json::to_writer(&mut out, e).unwrap();
        out.push(b'\n');
    }
    out
}

/// `cargo test` runs each bench once without `--bench`: a small input then.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn tail_ingest(c: &mut Criterion) {
    let n = if measuring() { 1_000_000 } else { 10_000 };
    let evs = events(n);
    let data = jsonl(&evs);
    if measuring() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/audit-bench-1m.jsonl");
        let _ = std::fs::write(&path, &data);
    }
    let now = chrono::Utc::now().timestamp_millis();
    let mut g = c.benchmark_group("tail_ingest_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(n as u64));
    let critical = TailFilter {
        severity: Some(Severity::Critical),
        ..Default::default()
    };
    g.bench_function("severity_critical", |b| {
        b.iter(|| {
            let mut ring = Ring::new(100_000);
            ingest_lines(&data, &critical, now, &mut ring)
        })
    });
    // Every line parsed (the user is not in the raw pre-filter).
    let user = TailFilter {
        user: Some("alice".into()),
        ..Default::default()
    };
    g.bench_function("user_alice_full_parse", |b| {
        b.iter(|| {
            let mut ring = Ring::new(100_000);
            ingest_lines(&data, &user, now, &mut ring)
        })
    });
    // Every line parsed and kept (no filter at all).
    let all = TailFilter::default();
    g.bench_function("no_filter_parse_all", |b| {
        b.iter(|| {
            let mut ring = Ring::new(100_000);
            ingest_lines(&data, &all, now, &mut ring)
        })
    });
    g.finish();
}

fn local_sink(c: &mut Criterion) {
    let evs = events(10_000);
    let dir = tempfile::tempdir().unwrap();
    let ring = Arc::new(Keyring::new(MasterKey::generate()));
    let mut g = c.benchmark_group("local_sink_hmac_chain");
    g.sample_size(10);
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.bench_function("record_10k_one_by_one", |b| {
        b.iter_batched(
            || {
                LocalLog::with_keyring(
                    dir.path().join(format!("a{}", rand::random::<u64>())),
                    ring.clone(),
                )
            },
            |log| {
                for e in &evs {
                    windflow::audit::AuditSink::record(&log, e).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let (feed, rx) = windflow::service::Wake::default().channel();
    let settings = Settings {
        operator: "alice".into(),
        ..Settings::default()
    };
    let mut panes = console::panes();
    for p in &mut panes {
        if p.id() == "audit" {
            *p = Box::new(windflow::audit::pane::AuditPane::new(rx, 100_000));
            break;
        }
    }
    let mut app = App::new(settings, panes, "dark", "vim").unwrap();
    // The pane's events come as the audit service sends them: in batches.
    let send = |app: &mut App, ev: AuditEvent| {
        assert!(feed.try_send(ev));
        app.update(Msg::Wake);
    };
    send(
        &mut app,
        AuditEvent::Reset {
            source: Source::Local,
            events: Batch::new(events(100_000)),
        },
    );
    let key = |c: char| {
        windflow::console::app::Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        ))
    };
    app.update(key('3'));
    // Filter active: severity >= high, and free text.
    app.update(key('s'));
    app.update(key('s'));
    for ch in "/vault".chars() {
        app.update(key(ch));
    }
    app.update(windflow::console::app::Msg::Key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Enter,
            crossterm::event::KeyModifiers::NONE,
        ),
    ));
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    term.draw(|f| view::render(&mut app, f)).unwrap();
    let mut g = c.benchmark_group("tail_render_200x60_100k");
    g.bench_function("filtered_steady", |b| {
        b.iter(|| term.draw(|f| view::render(&mut app, f)).unwrap().area.width)
    });
    // 1,000 new events arrive between frames (the ring stays full), in one
    // batch through the audit domain's channel.
    let fresh = events(1000);
    g.bench_function("filtered_1k_new_per_frame", |b| {
        b.iter(|| {
            send(&mut app, AuditEvent::Events(Batch::new(fresh.clone())));
            term.draw(|f| view::render(&mut app, f)).unwrap().area.width
        })
    });
    g.finish();
}

/// A burst reaching the pane: the audit service reads 1M events appended to
/// the local log and sends them through the domain's channel, in batches.
fn service_burst(c: &mut Criterion) {
    let n = if measuring() { 1_000_000 } else { 10_000 };
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("audit");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(windflow::audit::local::file_name("2026-01")),
        jsonl(&events(n)),
    )
    .unwrap();
    let settings = windflow::audit::settings::AuditSettings::default();
    let mut g = c.benchmark_group("tail_service_burst_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("local_log_to_pane_channel", |b| {
        b.iter_batched(
            || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap()
            },
            |rt| {
                rt.block_on(async {
                    let (sink, mut common, mut rx) = windflow::service::detached();
                    tokio::spawn(async move { while common.recv().await.is_some() {} });
                    windflow::audit::service::spawn(&settings, data.path(), sink).unwrap();
                    let mut got = 0u64;
                    while got < n as u64 {
                        match rx.recv().await.expect("the service runs") {
                            AuditEvent::Reset { events: b, .. } | AuditEvent::Events(b) => {
                                got += b.skipped + b.events.len() as u64
                            }
                            _ => {}
                        }
                    }
                });
                rt
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, tail_ingest, local_sink, render, service_burst);
criterion_main!(benches);
