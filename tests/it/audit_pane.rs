//! The live tail pane at 80x24: follow/freeze, filters, highlights and
//! context lines, detail view, dead letters, ring buffer and badges.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crossterm::event::KeyCode;
use windflow::audit::alert::Alert;
use windflow::audit::alert::{AlertState, ChannelStatus, DeadLetter};
use windflow::audit::pane::AuditPane;
use windflow::audit::query::Source;
use windflow::audit::service::{AuditEvent, Batch};
use windflow::audit::{SecurityEvent, Severity};
use windflow::console::app::{App, Msg};
use windflow::service::{DomainTx, Wake};

use crate::console::{press, screen, settings, typed};

const TYPES: [(&str, &str); 6] = [
    ("signin_success", "alice"),
    ("secret_read", "bob"),
    ("mfa_failure", "carol"),
    ("deployment", "alice"),
    ("secret_read", "dave"),
    ("mfa_lockout", "mallory"),
];

fn event(i: usize) -> SecurityEvent {
    let (t, u) = TYPES[i % TYPES.len()];
    let mut ev = SecurityEvent::new(
        t,
        Some(u),
        serde_json::json!({"path": format!("db/prod-{i}"), "n": i}),
    );
    ev.id = format!("00000000-0000-4000-8000-{i:012}");
    ev.timestamp = format!("2026-11-25T10:{:02}:{:02}.000Z", i / 60, i % 60);
    ev.session_id = Some(format!("sess-{}", i % 3));
    ev.ip_address = Some("10.0.0.7".into());
    if i % 17 == 16 {
        ev.severity = Severity::Critical;
        ev.event_type = "secret_exfiltration".into();
    }
    ev
}

fn alerts() -> AlertState {
    AlertState {
        channels: vec![
            ChannelStatus {
                name: "slack".into(),
                kind: "slack",
                sent: 3,
                ..Default::default()
            },
            ChannelStatus {
                name: "email".into(),
                kind: "email",
                failing: true,
                last_error: Some("smtp://mail:25: connection refused".into()),
                ..Default::default()
            },
        ],
        dead: [DeadLetter {
            channel: "email".into(),
            alert: Alert::new(event(16), 2),
            error: "smtp://mail:25: connection refused".into(),
            at: SystemTime::UNIX_EPOCH,
        }]
        .into(),
        folded: 1,
    }
}

/// The audit service's end of the pane's channel, standing in for it.
type Feed = DomainTx<AuditEvent>;

/// Sends `ev` to the pane as the service would, and wakes the console.
fn send(app: &mut App, feed: &Feed, ev: AuditEvent) {
    assert!(feed.try_send(ev), "the pane's channel has room");
    app.update(Msg::Wake);
}

fn batch(range: std::ops::Range<usize>) -> Batch {
    Batch::new(range.map(event).collect())
}

/// The console with the Audit pane focused, keeping `capacity` events, fed
/// `n` events from the local log and the alert channels' state.
fn app(capacity: usize, n: usize) -> (App, Feed) {
    let (feed, rx) = Wake::default().channel();
    let panes = crate::support::panes_with(Box::new(AuditPane::new(rx, capacity)));
    let mut app = App::new(settings(), panes, "dark", "vim").unwrap();
    app.set_clock("12:34 UTC");
    crate::console::focus(&mut app, "audit");
    let reset = AuditEvent::Reset {
        source: Source::Local,
        events: batch(0..n),
    };
    send(&mut app, &feed, reset);
    send(&mut app, &feed, AuditEvent::Alerts(alerts()));
    (app, feed)
}

fn push(app: &mut App, feed: &Feed, range: std::ops::Range<usize>) {
    send(app, feed, AuditEvent::Events(batch(range)));
}

#[test]
fn tail_follows_the_newest_with_dropped_count_and_alert_status() {
    // 30 slots, 40 events: 10 dropped, the newest 30 kept, the last shown.
    let (mut app, _feed) = app(30, 40);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("10 dropped"), "{s}");
    assert!(s.contains("db/prod-39"), "{s}");
    assert!(!s.contains("db/prod-9,"), "{s}");
    insta::assert_snapshot!("audit_tail_80x24", s);
}

#[test]
fn freeze_counts_new_events_and_follow_catches_up() {
    let (mut app, feed) = app(1000, 20);
    typed(&mut app, "f");
    push(&mut app, &feed, 20..25);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("FROZEN +5 new"), "{s}");
    assert!(s.contains("db/prod-19"), "{s}");
    assert!(!s.contains("db/prod-24"), "{s}");
    insta::assert_snapshot!("audit_frozen_80x24", s);
    typed(&mut app, "f");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("following") && s.contains("db/prod-24"), "{s}");
}

#[test]
fn severity_type_user_and_text_filters_with_context_lines() {
    let (mut app, _feed) = app(1000, 60);
    // s cycles medium, high, critical.
    typed(&mut app, "sss");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("sev≥critical"), "{s}");
    assert!(s.contains("3 shown"), "{s}");
    assert!(!s.contains("signin_success"), "{s}");
    typed(&mut app, "s");
    // User of the selected (newest: 59 -> mallory) only.
    typed(&mut app, "u");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("user=mallory") && s.contains("10 shown"), "{s}");
    typed(&mut app, "u");
    // Free text with highlight, then two context lines around each match.
    typed(&mut app, "/prod-42");
    press(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("1 shown"), "{s}");
    typed(&mut app, "c");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("5 shown"), "{s}");
    for n in 40..=44 {
        assert!(s.contains(&format!("db/prod-{n}")), "{n}: {s}");
    }
    insta::assert_snapshot!("audit_context_80x24", s);
}

#[test]
fn detail_view_and_dead_letters() {
    let (mut app, _feed) = app(1000, 10);
    typed(&mut app, "k");
    press(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("\"session_id\": \"sess-2\""), "{s}");
    assert!(s.contains("db/prod-8"), "{s}");
    insta::assert_snapshot!("audit_detail_80x24", s);
    press(&mut app, KeyCode::Enter);
    typed(&mut app, "D");
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("email") && s.contains("connection refused"),
        "{s}"
    );
    assert!(s.contains("x2"), "{s}");
    assert!(s.contains("slack      slack         3      0  ok"), "{s}");
    insta::assert_snapshot!("audit_channels_dead_letters_80x24", s);
}

#[test]
fn disconnected_and_behind_badges() {
    let (mut app, feed) = app(1000, 5);
    let s = screen(&mut app, 80, 24);
    assert!(!s.contains("DISCONNECTED") && !s.contains("BEHIND"), "{s}");
    let reading = AuditEvent::Reading {
        behind: true,
        error: Some("cannot read /data/audit: permission denied".into()),
    };
    send(&mut app, &feed, reading);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("DISCONNECTED") && s.contains("BEHIND"), "{s}");
    assert!(
        s.contains("cannot read /data/audit: permission denied"),
        "{s}"
    );
}

/// Stands in for the sessions pane: records what it was asked to show.
struct SessionsStandIn(Arc<Mutex<Vec<String>>>);

impl windflow::console::panes::Pane for SessionsStandIn {
    fn actions(&self) -> Vec<windflow::console::actions::ActionDef> {
        // The real pane's actions, so the keymap's [sessions] scope resolves.
        windflow::sessions::pane::SessionsPane::default().actions()
    }
    fn id(&self) -> &'static str {
        windflow::audit::pane::SESSIONS_PANE
    }
    fn title(&self) -> &'static str {
        "Sessions"
    }
    fn handle(
        &mut self,
        _: &str,
        _: &windflow::console::panes::Shared,
        _: &mut Vec<windflow::console::panes::Effect>,
    ) -> bool {
        false
    }
    fn render(
        &mut self,
        _: &mut ratatui::Frame,
        _: ratatui::layout::Rect,
        _: &windflow::console::panes::RenderCtx,
    ) {
    }
    fn set_filter(&mut self, _: Option<windflow::console::filter::Filter>) {}
    fn filter(&self) -> Option<&windflow::console::filter::Filter> {
        None
    }
    fn selected_text(&self, _: &windflow::console::panes::Shared) -> Option<String> {
        None
    }
    fn show(&mut self, item: &str) -> bool {
        self.0.lock().unwrap().push(item.to_owned());
        item.starts_with("sess-")
    }
}

#[test]
fn jump_to_the_events_session_in_the_sessions_pane() {
    let shown = Arc::new(Mutex::new(Vec::new()));
    let (feed, rx) = Wake::default().channel();
    let mut panes = crate::support::panes_with(Box::new(AuditPane::new(rx, 1000)));
    // A stand-in records what it is asked to show (the real pane: sessions tests).
    panes.retain(|p| p.id() != "sessions");
    panes.push(Box::new(SessionsStandIn(shown.clone())));
    let mut app = App::new(settings(), panes, "dark", "vim").unwrap();
    crate::console::focus(&mut app, "audit");
    let reset = AuditEvent::Reset {
        source: Source::Local,
        events: batch(0..10),
    };
    send(&mut app, &feed, reset);
    // The newest event (9) is in session sess-0.
    typed(&mut app, "S");
    assert_eq!(app.pane().id(), "sessions");
    assert_eq!(*shown.lock().unwrap(), ["sess-0"]);
    // The real sessions pane without that session: a clear message.
    let (mut app, _feed) = self::app(1000, 10);
    typed(&mut app, "S");
    assert_eq!(app.pane().id(), "sessions");
    assert!(
        app.shared
            .activity
            .iter()
            .any(|e| e.message.contains("sess-0 is not in the sessions pane")),
        "{:?}",
        app.shared.activity
    );
}

/// The title names the source; when the service says the source changed,
/// what the old one listed goes, even while frozen: nothing stale stays.
#[test]
fn the_title_names_the_source_and_a_reset_replaces_everything_listed() {
    let (mut app, feed) = app(1000, 10);
    typed(&mut app, "f");
    let fallback = Source::Fallback {
        cause: "unreachable: Connection refused (os error 111)".into(),
        error: "Elasticsearch at http://es:9200 is unreachable: Connection refused (os error 111)"
            .into(),
    };
    let reset = AuditEvent::Reset {
        source: fallback,
        events: batch(20..22),
    };
    send(&mut app, &feed, reset);
    let s = screen(&mut app, 160, 24);
    assert!(
        s.contains(
            "Audit · local log (elasticsearch unreachable: Connection refused (os error 111)) · 2 shown"
        ),
        "{s}"
    );
    assert!(
        s.contains("Elasticsearch at http://es:9200 is unreachable: Connection refused (os error 111); these are the local log's events only"),
        "{s}"
    );
    assert!(s.contains("FROZEN +0 new"), "{s}");
    assert!(s.contains("db/prod-21") && !s.contains("db/prod-9"), "{s}");

    let reset = AuditEvent::Reset {
        source: Source::Elasticsearch,
        events: batch(30..31),
    };
    send(&mut app, &feed, reset);
    let s = screen(&mut app, 160, 24);
    assert!(s.contains("Audit · elasticsearch · 1 shown"), "{s}");
    assert!(s.contains("db/prod-30") && !s.contains("db/prod-21"), "{s}");
    assert!(!s.contains("unreachable"), "{s}");

    // Elasticsearch came back empty: nothing is listed.
    let reset = AuditEvent::Reset {
        source: Source::Elasticsearch,
        events: batch(0..0),
    };
    send(&mut app, &feed, reset);
    let s = screen(&mut app, 160, 24);
    assert!(s.contains("Audit · elasticsearch · 0 shown"), "{s}");
    assert!(!s.contains("db/prod-"), "{s}");
}

/// Before the service has said where it reads from, the title says so
/// rather than naming a source.
#[test]
fn the_title_names_no_source_before_the_service_says_one() {
    let (feed, rx) = Wake::default().channel::<AuditEvent>();
    let panes = crate::support::panes_with(Box::new(AuditPane::new(rx, 10)));
    let mut app = App::new(settings(), panes, "dark", "vim").unwrap();
    crate::console::focus(&mut app, "audit");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Audit · starting · 0 shown"), "{s}");
    let reset = AuditEvent::Reset {
        source: Source::Elasticsearch,
        events: batch(0..1),
    };
    send(&mut app, &feed, reset);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Audit · elasticsearch · 1 shown"), "{s}");
}
