//! The console's update function and rendering, without a terminal:
//! keys in, state and requests out; frames drawn into ratatui's TestBackend.

use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use windflow::console::app::{App, ConfirmSpec, Mode, Msg, Request, Settings};
use windflow::console::theme::ColorMode;
use windflow::console::{self, view};
use windflow::service::{Backend, Health, HealthState, Level, ServiceEvent};
use windflow::store::service::StoreRequest;

pub fn settings() -> Settings {
    Settings {
        operator: "alice".into(),
        environment: Some(("prod".into(), "red".parse().unwrap())),
        color_mode: ColorMode::TrueColor,
        ..Settings::default()
    }
}

pub fn app_with(settings: Settings, theme: &str) -> App {
    let mut app = App::new(settings, console::panes(), theme, "vim").unwrap();
    app.set_clock("12:34 UTC");
    feed_services(&mut app);
    app
}

pub fn app() -> App {
    app_with(settings(), "dark")
}

/// The app of [`app`] with `pane` in place of the default pane of its id.
pub fn app_with_pane(pane: Box<dyn windflow::console::panes::Pane>) -> App {
    let mut app = App::new(settings(), crate::support::panes_with(pane), "dark", "vim").unwrap();
    app.set_clock("12:34 UTC");
    feed_services(&mut app);
    app
}

/// Two services and a few activity lines, at fixed times.
pub fn feed_services(app: &mut App) {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let health = |state, backend, target: &str, err: Option<&str>| Health {
        state,
        backend,
        target: target.into(),
        rtt: Some(Duration::from_micros(420)),
        last_error: err.map(String::from),
    };
    for ev in [
        ServiceEvent::Health {
            service: "store",
            health: health(
                HealthState::Connected,
                Backend::Embedded,
                "/var/lib/windflow/windflow.db",
                None,
            ),
        },
        ServiceEvent::Health {
            service: "redis",
            health: health(
                HealthState::Reconnecting,
                Backend::Real("redis://10.0.0.7:6379".into()),
                "redis://10.0.0.7:6379",
                Some("connection refused (os error 111)"),
            ),
        },
        ServiceEvent::Figure {
            service: "store",
            label: "records",
            value: "42".into(),
        },
        ServiceEvent::Activity {
            service: "store",
            level: Level::Info,
            message: "opened the store".into(),
            at,
        },
        ServiceEvent::Activity {
            service: "redis",
            level: Level::Warn,
            message: "connection lost; reconnecting".into(),
            at: at + Duration::from_secs(5),
        },
        ServiceEvent::Activity {
            service: "redis",
            level: Level::Error,
            message: "connection refused (os error 111)".into(),
            at: at + Duration::from_secs(9),
        },
    ] {
        assert!(app.update(Msg::Service(ev)).is_empty());
    }
}

pub fn key_event(code: KeyCode, mods: KeyModifiers) -> Msg {
    Msg::Key(KeyEvent::new(code, mods))
}

/// Types `text`, one key per character, and returns every request made.
pub fn typed(app: &mut App, text: &str) -> Vec<Request> {
    let mut out = Vec::new();
    for c in text.chars() {
        out.extend(app.update(key_event(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    out
}

pub fn press(app: &mut App, code: KeyCode) -> Vec<Request> {
    app.update(key_event(code, KeyModifiers::NONE))
}

pub fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view::render(app, f)).unwrap();
    term
}

pub fn screen(app: &mut App, w: u16, h: u16) -> String {
    let term = render(app, w, h);
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
            line.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn focused(app: &App) -> &'static str {
    app.pane().id()
}

/// Focuses the pane with this id (tests do not depend on the pane order).
pub fn focus(app: &mut App, id: &str) {
    let i = app
        .panes
        .iter()
        .position(|p| p.id() == id)
        .unwrap_or_else(|| panic!("no pane {id}"));
    app.focus_pane(i);
    assert_eq!(app.pane().id(), id);
}

#[test]
fn number_keys_and_tab_switch_panes() {
    let mut app = app();
    assert_eq!(focused(&app), "overview");
    typed(&mut app, "2");
    assert_eq!(focused(&app), console::panes()[1].id());
    let last = console::panes().len();
    let last_id = console::panes()[last - 1].id();
    typed(&mut app, &last.to_string());
    press(&mut app, KeyCode::Tab);
    assert_eq!(focused(&app), "overview", "Tab wraps around");
    app.update(key_event(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(focused(&app), last_id);
    // Every digit has its pane now: `0` is the tenth, `9` the ninth.
    typed(&mut app, "0");
    assert_eq!(focused(&app), console::panes()[9].id());
    typed(&mut app, "9");
    assert_eq!(focused(&app), console::panes()[8].id());
    typed(&mut app, "1");
    assert!(
        screen(&mut app, 80, 24)
            .lines()
            .nth(1)
            .unwrap()
            .contains("Services")
    );
}

#[test]
fn quit_and_vim_sequences() {
    let mut app = app();
    assert!(matches!(typed(&mut app, "q")[..], [Request::Quit]));
    focus(&mut app, "activity");
    typed(&mut app, "gg");
    let top = app.pane().selected_text(&app.shared).unwrap();
    assert!(top.contains("opened the store"), "{top}");
    typed(&mut app, "G");
    let bottom = app.pane().selected_text(&app.shared).unwrap();
    assert!(bottom.contains("connection refused"), "{bottom}");
    // A pending prefix shows in the footer, and an unbound follow-up is dropped.
    typed(&mut app, "g");
    assert!(screen(&mut app, 80, 24).contains("waiting for the next key"));
    typed(&mut app, "x");
    assert!(app.pending.is_empty());
    typed(&mut app, "k");
    let up = app.pane().selected_text(&app.shared).unwrap();
    assert!(up.contains("reconnecting"), "{up}");
}

#[test]
fn help_lists_bindings_from_the_keymap_and_searches() {
    let mut app = app();
    typed(&mut app, "?");
    assert!(matches!(app.mode, Mode::Help(_)));
    let s = screen(&mut app, 100, 40);
    assert!(
        s.contains("Overview pane") && s.contains("Probe every backend now"),
        "{s}"
    );
    assert!(
        s.contains("g g, Home") && s.contains("Quit WindFlow"),
        "{s}"
    );
    typed(&mut app, "/compact");
    let s = screen(&mut app, 100, 40);
    assert!(s.contains("Compact the embedded store"), "{s}");
    assert!(
        !s.contains("Quit WindFlow"),
        "search hides what does not match:\n{s}"
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.mode, Mode::Normal));

    // Help follows the keymap: rebinding quit shows the new key.
    let mut app = app_with(settings(), "dark");
    app.run_command("keymap arrows", &mut Vec::new());
    typed(&mut app, "?");
    let s = screen(&mut app, 100, 60);
    assert!(
        s.contains("Ctrl-q, F10") && s.contains("Quit WindFlow"),
        "{s}"
    );
}

#[test]
fn palette_completes_runs_and_remembers() {
    let mut app = app();
    typed(&mut app, ":th");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "l");
    press(&mut app, KeyCode::Tab);
    let Mode::Palette(p) = &app.mode else {
        panic!("palette closed")
    };
    assert_eq!(p.line(), "theme light");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.theme.name, "light");
    assert!(matches!(app.mode, Mode::Normal));

    typed(&mut app, ":theme nope");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.theme.name, "light", "a bad theme keeps the current one");
    let (level, msg, _) = app.message.clone().unwrap();
    assert_eq!(level, Level::Error);
    assert!(msg.contains("no theme named `nope`"), "{msg}");

    typed(&mut app, ":");
    press(&mut app, KeyCode::Up);
    let Mode::Palette(p) = &app.mode else {
        panic!()
    };
    assert_eq!(p.line(), "theme nope");
    press(&mut app, KeyCode::Up);
    let Mode::Palette(p) = &app.mode else {
        panic!()
    };
    assert_eq!(p.line(), "theme light");
    press(&mut app, KeyCode::Esc);

    typed(&mut app, ":pane activity");
    press(&mut app, KeyCode::Enter);
    assert_eq!(focused(&app), "activity");
    typed(&mut app, ":pa");
    press(&mut app, KeyCode::Tab);
    let Mode::Palette(p) = &app.mode else {
        panic!()
    };
    assert_eq!(
        p.line(),
        "pane ",
        "a unique command moves on to its arguments"
    );
    let want: Vec<String> = console::panes()
        .iter()
        .map(|p| format!("pane {}", p.id()))
        .collect();
    assert_eq!(p.candidates, want);
    press(&mut app, KeyCode::Esc);
    assert!(
        matches!(typed(&mut app, ":q\r")[..], []),
        "Enter is a key event, not a char"
    );
    let reqs = press(&mut app, KeyCode::Enter);
    assert!(matches!(reqs[..], [Request::Quit]));
}

#[test]
fn keymap_switch_changes_the_keys_live() {
    let mut app = app();
    typed(&mut app, ":keymap arrows");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.keymap.name, "arrows");
    assert!(typed(&mut app, "q").is_empty(), "q no longer quits");
    let reqs = app.update(key_event(KeyCode::Char('q'), KeyModifiers::CONTROL));
    assert!(matches!(reqs[..], [Request::Quit]));
}

#[test]
fn filter_regex_inversion_highlight_and_escape() {
    let mut app = app();
    typed(&mut app, "/store");
    let s = screen(&mut app, 100, 24);
    assert!(s.contains("/store (1 of 2)"), "{s}");
    assert!(!s.contains("redis://"), "{s}");
    press(&mut app, KeyCode::Enter);
    assert!(app.pane().filter().is_some(), "Enter keeps the filter");
    // Matches are highlighted with the theme's highlight style.
    let term = render(&mut app, 100, 24);
    let buf = term.backend().buffer();
    let row = (0..24)
        .find(|y| {
            (0..100)
                .map(|x| buf[(x, *y)].symbol())
                .collect::<String>()
                .contains("store  ")
        })
        .unwrap();
    assert_eq!(buf[(1, row)].style().bg, app.theme.highlight().bg);

    typed(&mut app, "/");
    for _ in 0..5 {
        press(&mut app, KeyCode::Backspace);
    }
    typed(&mut app, "!^sto");
    let s = screen(&mut app, 100, 24);
    assert!(
        s.contains("redis") && !s.contains("/var/lib/windflow"),
        "inverted:\n{s}"
    );
    press(&mut app, KeyCode::Esc);
    assert!(
        app.pane().filter().is_none(),
        "Esc leaves the filter and clears it"
    );
    typed(&mut app, "/re(dis");
    press(&mut app, KeyCode::Enter);
    assert!(
        app.pane().filter().unwrap().literal,
        "an invalid regex is matched literally"
    );
    press(&mut app, KeyCode::Esc);
    assert!(
        app.pane().filter().is_none(),
        "Esc in normal mode clears the filter"
    );
}

#[test]
fn read_only_refuses_state_changes_everywhere() {
    let mut s = settings();
    s.read_only = true;
    s.read_only_locked = true;
    let mut app = app_with(s, "dark");
    assert!(typed(&mut app, "C").is_empty());
    assert!(
        matches!(app.mode, Mode::Normal),
        "no confirmation is even offered"
    );
    assert!(app.message.as_ref().unwrap().1.contains("read-only"));
    let mut out = Vec::new();
    app.run_command("compact", &mut out);
    assert!(out.is_empty());
    assert!(
        app.message
            .as_ref()
            .unwrap()
            .1
            .contains("read-only: `:compact`")
    );
    app.run_command("readonly off", &mut out);
    assert!(
        app.settings.read_only,
        "read-only from the flag cannot be lifted"
    );
    assert!(screen(&mut app, 80, 24).contains("READ-ONLY"));

    let mut app = self::app();
    app.run_command("readonly", &mut out);
    assert!(typed(&mut app, "C").is_empty());
    app.run_command("readonly off", &mut out);
    typed(&mut app, "C");
    assert!(matches!(app.mode, Mode::Confirm(_)));
}

#[test]
fn confirmations_plain_and_typed() {
    let mut app = app();
    typed(&mut app, "C");
    assert!(screen(&mut app, 80, 24).contains("Compact the embedded store?"));
    assert!(typed(&mut app, "n").is_empty());
    assert!(matches!(app.mode, Mode::Normal));
    typed(&mut app, "C");
    let reqs = typed(&mut app, "y");
    assert!(
        matches!(reqs[..], [ref r] if matches!(r.get(), Some(StoreRequest::Compact))),
        "{reqs:?}"
    );

    app.confirm(ConfirmSpec {
        title: "Revoke every session of alice?".into(),
        body: "All of alice's sessions end now.".into(),
        typed: Some("alice".into()),
        action: "revoke_user",
        pending: "revoking every session of alice".into(),
        guard: None,
        then: vec![Request::Quit],
    });
    assert!(typed(&mut app, "y").is_empty(), "y is text here, not a yes");
    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "`y` is not the name"
    );
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("type `alice` exactly"), "{s}");
    // The footer says what to type, not `y`/`n` (text here).
    let footer = s.lines().rev().nth(1).unwrap();
    assert!(
        footer.contains("type alice then Enter to confirm"),
        "{footer}"
    );
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "alice");
    let reqs = press(&mut app, KeyCode::Enter);
    assert!(matches!(reqs[..], [Request::Quit]));
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn copy_zoom_and_redraw() {
    let mut app = app();
    typed(&mut app, "j");
    let reqs = typed(&mut app, "y");
    let [Request::Copy(text)] = &reqs[..] else {
        panic!("{reqs:?}")
    };
    assert!(text.starts_with("redis real reconnecting"), "{text}");
    typed(&mut app, "z");
    assert!(app.zoom);
    let s = screen(&mut app, 80, 24);
    assert!(!s.contains(" 1 Overview ") && s.contains("ZOOM"), "{s}");
    press(&mut app, KeyCode::Esc);
    assert!(!app.zoom);
    let reqs = app.update(key_event(KeyCode::Char('l'), KeyModifiers::CONTROL));
    assert!(matches!(reqs[..], [Request::Redraw]));
    let reqs = app.update(key_event(KeyCode::Char('z'), KeyModifiers::CONTROL));
    assert!(matches!(reqs[..], [Request::Suspend]));
}

#[test]
fn mouse_is_off_by_default_then_clicks_and_scrolls() {
    let mut app = app();
    render(&mut app, 80, 24);
    let click = |col, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: col,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Tab 2 is where the pane bar shows " 2 ".
    let bar = screen(&mut app, 80, 24).lines().next().unwrap().to_string();
    let tab2 = bar.find(" 2 ").expect("tab 2 on the bar") as u16 + 1;
    app.update(click(tab2, 0));
    assert_eq!(focused(&app), "overview", "mouse off: clicks are ignored");
    let mut out = Vec::new();
    app.run_command("mouse on", &mut out);
    assert!(matches!(out[..], [Request::SetMouse(true)]));
    app.update(click(tab2, 0));
    assert_eq!(focused(&app), console::panes()[1].id());
    focus(&mut app, "activity");
    render(&mut app, 80, 24);
    app.update(click(10, 2));
    assert!(
        app.pane()
            .selected_text(&app.shared)
            .unwrap()
            .contains("opened the store")
    );
    app.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 10,
        row: 5,
        modifiers: KeyModifiers::NONE,
    }));
    assert!(
        app.pane()
            .selected_text(&app.shared)
            .unwrap()
            .contains("reconnecting")
    );
}

#[test]
fn service_events_mark_the_screen_dirty_and_show() {
    let mut app = app();
    app.update(Msg::Tick);
    render(&mut app, 80, 24);
    app.dirty = false;
    app.update(Msg::Tick);
    assert!(!app.dirty, "an idle tick changes nothing visible");
    app.update(Msg::Service(ServiceEvent::Processed {
        service: "store",
        count: 1,
    }));
    assert!(!app.dirty, "counters alone wait for the next tick");
    app.update(Msg::Tick);
    assert!(app.dirty, "the tick shows the new rate");
    app.dirty = false;
    app.update(Msg::Service(ServiceEvent::Health {
        service: "redis",
        health: Health {
            state: HealthState::Connected,
            backend: Backend::Real("redis://10.0.0.7:6379".into()),
            target: "redis://10.0.0.7:6379".into(),
            rtt: Some(Duration::from_millis(2)),
            last_error: None,
        },
    }));
    assert!(app.dirty);
    let s = screen(&mut app, 120, 24);
    assert!(s.contains("● connected") && !s.contains("◐"), "{s}");
}

#[test]
fn tiny_terminals_get_a_message_not_a_panic() {
    let mut app = app();
    for (w, h) in [(1, 1), (20, 5), (39, 30), (80, 9)] {
        let s = screen(&mut app, w, h);
        assert!(s.contains("WindFlow") || w < 10, "{w}x{h}: {s}");
    }
    for (w, h) in [(40, 10), (80, 24), (250, 70)] {
        let s = screen(&mut app, w, h);
        assert!(
            s.contains("Overview") && s.contains("alice"),
            "{w}x{h}:\n{s}"
        );
    }
}

#[test]
fn user_keymap_and_theme_files_load_and_bad_ones_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("themes")).unwrap();
    std::fs::write(
        dir.path().join("themes/mine.toml"),
        windflow::console::theme::BUNDLED[1]
            .1
            .replace("name = \"light\"", "name = \"mine\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("keymap.toml"),
        "[global]\nquit = { keys = [\"ctrl-x\"] }\n",
    )
    .unwrap();
    let mut s = settings();
    s.config_dir = Some(dir.path().to_path_buf());
    let mut app = App::new(s.clone(), console::panes(), "mine", "vim").unwrap();
    assert_eq!(app.theme.name, "mine");
    assert!(typed(&mut app, "q").is_empty());
    let reqs = app.update(key_event(KeyCode::Char('x'), KeyModifiers::CONTROL));
    assert!(matches!(reqs[..], [Request::Quit]));
    let mut out = Vec::new();
    app.run_command("theme mine", &mut out);
    assert!(app.theme_names().contains(&"mine".to_string()));

    std::fs::write(dir.path().join("keymap.toml"), "[global]\nquit = [\"z\"]\n").unwrap();
    let err = App::new(s, console::panes(), "dark", "vim").err().unwrap();
    assert!(
        err.contains("keymap.toml, line 2") && err.contains("`z`") && err.contains("global.zoom"),
        "{err}"
    );
    assert!(
        err.contains("key `global.quit`"),
        "the user's file is blamed: {err}"
    );
}

/// A pane with one action that needs step-up (like revoking a session).
struct Guarded;

impl windflow::console::panes::Pane for Guarded {
    fn id(&self) -> &'static str {
        "guarded"
    }
    fn title(&self) -> &'static str {
        "Guarded"
    }
    fn actions(&self) -> Vec<windflow::console::actions::ActionDef> {
        vec![
            windflow::console::actions::ActionDef::new("guarded", "revoke", "Revoke")
                .guarded("sessions.revoke"),
        ]
    }
    fn handle(
        &mut self,
        action: &str,
        _: &windflow::console::panes::Shared,
        effects: &mut Vec<windflow::console::panes::Effect>,
    ) -> bool {
        effects.push(windflow::console::panes::Effect::Notify(
            Level::Info,
            format!("ran {action}"),
        ));
        true
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
}

fn with_guarded() -> Vec<Box<dyn windflow::console::panes::Pane>> {
    let mut panes = console::panes();
    panes.push(Box::new(Guarded));
    panes
}

fn auth(ev: windflow::auth::service::AuthEvent) -> Msg {
    Msg::Service(ServiceEvent::Auth(ev))
}

#[test]
fn step_up_asks_for_a_fresh_code_then_runs_the_action() {
    use windflow::auth::service::{AuthEvent, AuthRequest};
    let mut s = settings();
    s.step_up_window = Duration::ZERO;
    let mut app = App::new(s, with_guarded(), "dark", "vim").unwrap();
    app.focus_pane(console::panes().len());
    let mut out = Vec::new();
    app.dispatch("guarded", "revoke", &mut out);
    assert!(
        out.is_empty() && matches!(app.mode, Mode::StepUp(_)),
        "a stale second factor asks first"
    );
    assert!(screen(&mut app, 80, 24).contains("revoke needs a fresh code"));
    typed(&mut app, "123456");
    let reqs = press(&mut app, KeyCode::Enter);
    let [
        Request::Auth(AuthRequest::StepUp {
            operator, action, ..
        }),
    ] = &reqs[..]
    else {
        panic!("{reqs:?}")
    };
    assert_eq!((operator.as_str(), *action), ("alice", "sessions.revoke"));
    app.update(auth(AuthEvent::StepUpRejected {
        action: "sessions.revoke",
        reason: "invalid code".into(),
    }));
    assert!(screen(&mut app, 80, 24).contains("invalid code"));
    assert!(
        !app.shared
            .activity
            .iter()
            .any(|e| e.message == "ran revoke")
    );
    typed(&mut app, "654321");
    press(&mut app, KeyCode::Enter);
    app.update(auth(AuthEvent::SteppedUp {
        action: "sessions.revoke",
    }));
    assert!(matches!(app.mode, Mode::Normal));
    assert!(
        app.shared
            .activity
            .iter()
            .any(|e| e.message == "ran revoke"),
        "the action ran after the code"
    );

    // Within the window no code is asked again.
    let mut s = settings();
    s.step_up_window = Duration::from_secs(300);
    let mut app = App::new(s, with_guarded(), "dark", "vim").unwrap();
    app.focus_pane(console::panes().len());
    app.dispatch("guarded", "revoke", &mut out);
    assert!(matches!(app.mode, Mode::Normal));
    assert!(
        app.shared
            .activity
            .iter()
            .any(|e| e.message == "ran revoke")
    );
}

#[test]
fn sign_in_gate_roles_and_auto_lock() {
    use windflow::auth::Role;
    use windflow::auth::service::{AuthEvent, AuthRequest};
    let mut s = settings();
    s.sign_in = true;
    s.auto_lock = Some(Duration::ZERO);
    let mut app = App::new(s, with_guarded(), "dark", "vim").unwrap();
    assert!(matches!(
        app.start()[..],
        [Request::Auth(AuthRequest::Status)]
    ));
    assert!(
        !screen(&mut app, 80, 24).contains("Guarded"),
        "nothing shows before sign-in"
    );
    app.update(auth(AuthEvent::Ready {
        has_operators: true,
    }));
    assert!(screen(&mut app, 80, 24).contains("sign in"));
    typed(&mut app, "q");
    assert!(
        !app.gate.is_open() && !matches!(typed(&mut app, "")[..], [Request::Quit]),
        "q is text here"
    );
    let reqs = press(&mut app, KeyCode::Enter);
    let [Request::Auth(AuthRequest::SignIn { operator, .. })] = &reqs[..] else {
        panic!("{reqs:?}")
    };
    assert_eq!(operator, "alice");
    app.update(auth(AuthEvent::Rejected {
        reason: "invalid code: 4 tries left".into(),
    }));
    assert!(screen(&mut app, 80, 24).contains("4 tries left"));
    app.update(auth(AuthEvent::SignedIn {
        operator: "alice".into(),
        role: Role::Viewer,
    }));
    assert!(screen(&mut app, 80, 24).contains("alice · viewer"));
    // A viewer may not revoke: refused before any code is asked.
    let mut out = Vec::new();
    app.dispatch("guarded", "revoke", &mut out);
    assert!(matches!(app.mode, Mode::Normal));
    assert!(
        app.message.as_ref().unwrap().1.contains("needs operator"),
        "{:?}",
        app.message
    );
    // Idle past the limit: locked, back to the sign-in screen.
    app.update(Msg::Tick);
    let s = screen(&mut app, 80, 24);
    assert!(
        !app.gate.is_open() && s.contains("locked after") && !s.contains("Guarded"),
        "{s}"
    );

    // First run: the wizard asks for a name, then shows the enrolment.
    let mut s = settings();
    s.sign_in = true;
    let mut app = App::new(s, console::panes(), "dark", "vim").unwrap();
    app.update(auth(AuthEvent::Ready {
        has_operators: false,
    }));
    assert!(screen(&mut app, 80, 24).contains("first run"));
    let reqs = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(&reqs[..], [Request::Auth(AuthRequest::CreateFirst { operator })] if operator == "alice")
    );
    app.update(auth(AuthEvent::Enrollment {
        operator: "alice".into(),
        uri: "otpauth://totp/WindFlow:alice%40windflow?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=WindFlow".into(),
        secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(),
        backup_codes: (0..10).map(|i| format!("abcde-fghj{i}").into()).collect(),
        token: None,
    }));
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") && s.contains("abcde-fghj9"),
        "{s}"
    );
    assert!(
        s.contains('▀') || s.contains('▄'),
        "the QR code fits at 80x24:\n{s}"
    );
}

/// The compact QR code the wizard draws decodes (with an independent
/// decoder) back to the URI, and fits an 80x24 terminal.
#[test]
fn wizard_qr_code_decodes_and_fits_80x24() {
    let uri = "otpauth://totp/WindFlow:operator%40windflow?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=WindFlow";
    let lines = windflow::mfa::qr::render_compact(uri).unwrap();
    assert!(
        lines.len() <= 23 && lines[0].chars().count() <= 48,
        "{}x{}",
        lines[0].chars().count(),
        lines.len()
    );
    let w = lines[0].chars().count();
    let h = lines.len() * 2;
    let scale = 4;
    let img = image_from(&lines, w, h, scale);
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w * scale + 16, h * scale + 16, |x, y| {
            img[y * (w * scale + 16) + x]
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, uri);
}

/// Half-block lines back to a greyscale image (drawn half = light), with a
/// dark border like the terminal around it.
fn image_from(lines: &[String], w: usize, h: usize, scale: usize) -> Vec<u8> {
    let iw = w * scale + 16;
    let ih = h * scale + 16;
    let mut img = vec![0u8; iw * ih];
    for (ly, line) in lines.iter().enumerate() {
        for (x, ch) in line.chars().enumerate() {
            let (top, bottom) = match ch {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            };
            for (dy, light) in [(0, top), (1, bottom)] {
                if light {
                    for sy in 0..scale {
                        for sx in 0..scale {
                            img[(8 + (ly * 2 + dy) * scale + sy) * iw + 8 + x * scale + sx] = 255;
                        }
                    }
                }
            }
        }
    }
    img
}

#[test]
fn status_bar_names_the_services_in_trouble_when_all_do_not_fit() {
    let mut app = app();
    for service in ["secrets", "scans", "audit", "sessions", "demo"] {
        app.update(Msg::Service(ServiceEvent::Health {
            service,
            health: Health {
                state: HealthState::Connected,
                backend: Backend::Embedded,
                target: "here".into(),
                rtt: None,
                last_error: None,
            },
        }));
    }
    let status = |app: &mut App, cols: u16, rows: u16| {
        screen(app, cols, rows).lines().last().unwrap().to_owned()
    };
    let wide = status(&mut app, 200, 30);
    for name in ["store ●", "redis ◐", "secrets ●", "sessions ●", "demo ●"] {
        assert!(wide.contains(name), "{name} in {wide:?}");
    }
    let narrow = status(&mut app, 80, 24);
    assert!(
        narrow.contains("redis ◐") && narrow.contains("6 up ●"),
        "{narrow:?}"
    );
    assert!(!narrow.contains("secrets"), "{narrow:?}");
    assert!(
        narrow.trim_end().ends_with("UTC"),
        "the clock stays: {narrow:?}"
    );
}

#[test]
fn a_confirmation_checks_the_role_again_when_it_is_answered() {
    use windflow::auth::Role;
    use windflow::auth::service::AuthEvent;
    let mut s = settings();
    s.sign_in = true;
    let mut app = App::new(s, console::panes(), "dark", "vim").unwrap();
    app.update(auth(AuthEvent::Ready {
        has_operators: true,
    }));
    app.update(auth(AuthEvent::SignedIn {
        operator: "vera".into(),
        role: Role::Viewer,
    }));
    // A question opened for an action a viewer may not do (as a form left
    // open by someone else would bring): answering it sends nothing.
    app.confirm(ConfirmSpec {
        title: "Revoke every session of alice?".into(),
        body: "All of alice's sessions end now.".into(),
        typed: None,
        action: "revoke_user",
        pending: "revoking every session of alice".into(),
        guard: Some("sessions.revoke_user"),
        then: vec![Request::Quit],
    });
    assert!(typed(&mut app, "y").is_empty());
    let (_, msg, _) = app.message.as_ref().unwrap();
    assert!(
        msg.contains("revoke_user refused") && msg.contains("needs operator"),
        "{msg}"
    );
    // The same question for an action a viewer may do goes through.
    app.confirm(ConfirmSpec {
        title: "Quit?".into(),
        body: String::new(),
        typed: None,
        action: "view",
        pending: "quitting".into(),
        guard: Some("view"),
        then: vec![Request::Quit],
    });
    assert!(matches!(typed(&mut app, "y")[..], [Request::Quit]));
}

/// Recent problems on the Overview: a hijack attempt recorded while the
/// console runs is listed (from the real audit service over a real log); a
/// palette typo stays in the status line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_problems_list_serious_security_events_not_typos() {
    use windflow::audit::settings::AuditSettings;
    use windflow::audit::{AuditSink, LocalLog, SecurityEvent, Severity};
    let data = tempfile::tempdir().unwrap();
    let ring = std::sync::Arc::new(windflow::crypto::Keyring::new(
        windflow::crypto::MasterKey::generate(),
    ));
    let log = LocalLog::with_keyring(data.path().join("audit"), ring);
    let settings = AuditSettings::default();
    log.record(&SecurityEvent::new(
        "history",
        Some("old"),
        serde_json::json!({}),
    ))
    .unwrap();
    let mut tail = crate::support::audit_tail::Tailed::spawn(&settings, data.path(), None);
    // Past the start-up read of the history (one event).
    tail.until("the history", |t| !t.ring.is_empty()).await;
    let mut hijack = SecurityEvent::new(
        "session_hijack_attempt",
        Some("frank"),
        serde_json::json!({}),
    );
    hijack.severity = Severity::Critical;
    log.record(&hijack).unwrap();
    log.record(&SecurityEvent::new(
        "mfa_success",
        Some("bob"),
        serde_json::json!({}),
    ))
    .unwrap();
    let mut app = app();
    typed(&mut app, ":nosuchcommand\r");
    tail.until("the hijack's activity", |t| {
        t.said("session_hijack_attempt")
    })
    .await;
    for ev in tail.log.drain(..) {
        app.update(Msg::Service(ev));
    }
    let s = screen(&mut app, 120, 30);
    let problems = &s[s.find("Recent problems").expect("the panel")..];
    assert!(
        problems.contains("critical session_hijack_attempt user=frank"),
        "{s}"
    );
    assert!(!problems.contains("mfa_success"), "{s}");
    assert!(
        !problems.contains("nosuchcommand"),
        "a typo is no problem: {s}"
    );
}

/// Keys typed while the console opens are kept and run once it is open
/// (`?` pressed during the demo's start-up opens help), in order.
#[test]
fn keys_typed_while_the_console_opens_are_queued_not_dropped() {
    use windflow::auth::service::AuthEvent;
    let mut s = settings();
    s.sign_in = true;
    s.demo = true;
    let mut app = App::new(s, console::panes(), "dark", "vim").unwrap();
    app.start();
    assert!(
        typed(&mut app, "2?").is_empty(),
        "nothing runs before the gate opens"
    );
    assert!(matches!(app.mode, Mode::Normal));
    app.update(auth(AuthEvent::DemoSignedIn {
        operator: "demo".into(),
    }));
    assert_eq!(app.focus, 1, "`2` went to the second pane first");
    assert!(matches!(app.mode, Mode::Help(_)), "then `?` opened help");
    // Ctrl-C still leaves while the console cannot take keys yet.
    let mut s = settings();
    s.sign_in = true;
    let mut app = App::new(s, console::panes(), "dark", "vim").unwrap();
    app.start();
    let reqs = app.update(key_event(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(matches!(reqs[..], [Request::Quit]), "{reqs:?}");
}

/// With no operator configured (only the login name), the sign-in screen
/// starts in the Operator field; with one configured, in the Code field.
#[test]
fn sign_in_starts_in_the_operator_field_when_none_is_configured() {
    use windflow::auth::service::{AuthEvent, AuthRequest};
    for (configured, keys, want) in [
        (false, &["bob", "123456"][..], "bob"),
        (true, &["123456"][..], "alice"),
    ] {
        let mut s = settings();
        s.sign_in = true;
        s.operator = "alice".into();
        s.operator_configured = configured;
        let mut app = App::new(s, console::panes(), "dark", "vim").unwrap();
        app.start();
        app.update(auth(AuthEvent::Ready {
            has_operators: true,
        }));
        let mut reqs = Vec::new();
        for text in keys {
            typed(&mut app, text);
            reqs = press(&mut app, KeyCode::Enter);
        }
        let [Request::Auth(AuthRequest::SignIn { operator, .. })] = &reqs[..] else {
            panic!("configured {configured}: {reqs:?}")
        };
        assert_eq!(operator, want, "configured {configured}");
    }
}

/// A pane with nothing in it, for pane-bar tests (the anomalies and
/// compliance panes are still to come).
struct Blank(&'static str, &'static str);

impl windflow::console::panes::Pane for Blank {
    fn id(&self) -> &'static str {
        self.0
    }
    fn title(&self) -> &'static str {
        self.1
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
}

/// Ten panes and more: `1`..`9` and `0` reach the first ten, `:pane NAME`
/// any (completed), and the pane bar still shows every number at 80x24.
#[test]
fn ten_panes_and_more_fit_the_bar_and_are_reached_by_key_and_name() {
    let mut panes = console::panes();
    let at = panes.len() - 1;
    // With the Anomalies pane there are ten: two stand-ins make twelve.
    for (id, title) in [("extra", "Extra"), ("spare", "Spare")] {
        panes.insert(at, Box::new(Blank(id, title)));
    }
    assert_eq!(panes.len(), 12);
    let tenth = panes[9].id();
    let mut app = App::new(settings(), panes, "dark", "vim").unwrap();
    let s = screen(&mut app, 80, 24);
    let bar = s.lines().next().unwrap();
    for n in ["1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "0 "] {
        assert!(bar.contains(&format!(" {n}")), "{n:?} missing in {bar:?}");
    }
    typed(&mut app, "0");
    assert_eq!(app.pane().id(), tenth, "0 is the tenth pane");
    // The eleventh has no key: the palette completes its name.
    let last = app.panes[10].id().to_owned();
    assert!(
        windflow::console::palette::completions(&app, "pane ex")
            .contains(&"pane extra".to_string())
    );
    let mut out = Vec::new();
    app.run_command(&format!("pane {last}"), &mut out);
    assert_eq!(app.pane().id(), last);
}

/// A problem's source stands apart from its message, however long the name
/// ("sessions session store unreachable", not "sessionssession store").
#[test]
fn overview_problems_separate_source_and_message() {
    let mut app = app();
    app.update(Msg::Service(ServiceEvent::Activity {
        service: "sessions",
        level: Level::Error,
        message: "session store unreachable".into(),
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_020),
    }));
    let screen = screen(&mut app, 80, 24);
    assert!(
        screen.contains(" sessions session store unreachable"),
        "{screen}"
    );
    assert!(screen.contains(" redis   connection refused"), "{screen}");
}

/// Help lists a key for each pane there is, with the pane's name, and none
/// for panes that do not exist.
#[test]
fn help_names_each_panes_key_and_no_other() {
    use windflow::console::help::{HelpRow, rows};
    let app = app();
    let pane_keys: Vec<String> = rows(&app)
        .into_iter()
        .filter_map(|r| match r {
            HelpRow::Entry { description, .. } if description.starts_with("Pane ") => {
                Some(description)
            }
            _ => None,
        })
        .collect();
    let expected: Vec<String> = console::panes()
        .iter()
        .enumerate()
        .map(|(i, p)| format!("Pane {}: {}", i + 1, p.title()))
        .collect();
    assert_eq!(pane_keys, expected);
}

/// A service that is not well, with no warning recorded of it: Recent
/// problems names it instead of saying all is well.
#[test]
fn recent_problems_name_a_degraded_service_even_without_an_event() {
    let mut app = App::new(settings(), windflow::console::panes(), "dark", "vim").unwrap();
    let ok = |s: &mut App| {
        let s = screen(s, 120, 30);
        s[s.find("Recent problems").expect("the panel")..].to_string()
    };
    assert!(ok(&mut app).contains("No warnings or errors"));
    app.update(Msg::Service(ServiceEvent::Health {
        service: "compliance",
        health: Health {
            state: HealthState::Degraded,
            backend: Backend::Embedded,
            target: "/etc/windflow/deployments".into(),
            rtt: None,
            last_error: Some("cannot read".into()),
        },
    }));
    let problems = ok(&mut app);
    assert!(!problems.contains("No warnings or errors."), "{problems}");
    assert!(
        problems.contains("not every service is well: compliance"),
        "{problems}"
    );
}
