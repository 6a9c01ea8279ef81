//! Full-frame render of the Overview at 200x60 (target: median under 1 ms).

use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use windflow::console::app::{App, Msg, Settings};
use windflow::console::{self, view};
use windflow::service::{Backend, Health, HealthState, Level, ServiceEvent};

fn app() -> App {
    let settings = Settings {
        operator: "alice".into(),
        environment: Some(("prod".into(), "red".parse().unwrap())),
        ..Settings::default()
    };
    let mut app = App::new(settings, console::panes(), "dark", "vim").unwrap();
    let names = [
        "store",
        "sessions",
        "secrets",
        "audit",
        "scans",
        "isolation",
        "anomaly",
        "compliance",
    ];
    for (i, name) in names.iter().enumerate() {
        app.update(Msg::Service(ServiceEvent::Health {
            service: name,
            health: Health {
                state: if i % 3 == 0 {
                    HealthState::Degraded
                } else {
                    HealthState::Connected
                },
                backend: if i % 2 == 0 {
                    Backend::Embedded
                } else {
                    Backend::Real(format!("https://backend-{i}:8200"))
                },
                target: format!("https://backend-{i}.internal:8200/v1"),
                rtt: Some(Duration::from_micros(300 + i as u64 * 100)),
                last_error: (i % 3 == 0).then(|| "connection reset by peer".to_string()),
            },
        }));
        app.update(Msg::Service(ServiceEvent::Processed {
            service: name,
            count: 100,
        }));
        app.update(Msg::Service(ServiceEvent::Figure {
            service: name,
            label: "items",
            value: (i * 1000).to_string(),
        }));
    }
    for i in 0..50 {
        app.update(Msg::Service(ServiceEvent::Activity {
            service: names[i % names.len()],
            level: if i % 2 == 0 {
                Level::Warn
            } else {
                Level::Error
            },
            message: format!("problem number {i}: something failed and was retried"),
            at: SystemTime::now(),
        }));
    }
    app
}

fn render(c: &mut Criterion) {
    let mut app = app();
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("overview_full_frame_200x60", |b| {
        b.iter(|| {
            // clear() forgets the previous frame, so every cell is drawn and flushed.
            term.clear().unwrap();
            term.draw(|f| view::render(&mut app, f)).unwrap();
        })
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
