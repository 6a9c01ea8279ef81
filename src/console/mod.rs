//! The terminal console: terminal setup and restore, the event loop, layout,
//! panes, palette, filter, help, themes and keymaps.

pub mod actions;
pub mod app;
pub mod filter;
pub mod fmt;
pub mod gate;
pub mod help;
pub mod keymap;
pub mod keys;
pub mod osc52;
pub mod palette;
pub mod panes;
pub mod terminal;
pub mod theme;
pub mod view;

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};

use app::{App, Msg, Request};
use panes::Pane;

use crate::auth::service::AuthHandle;
use crate::service::Handle;
use crate::service::{EventRx, Level};

/// The panes in pane-bar order: the Overview, each domain's (in the order
/// of [`crate::domains::DOMAINS`]), the Activity log.
pub fn with_domain_panes(domain_panes: Vec<Box<dyn Pane>>) -> Vec<Box<dyn Pane>> {
    let mut all: Vec<Box<dyn Pane>> = vec![Box::new(panes::overview::Overview::default())];
    all.extend(domain_panes);
    all.push(Box::new(panes::activity::Activity::default()));
    all
}

/// Every pane with no service behind it (for tests, help and keymap checks).
pub fn panes() -> Vec<Box<dyn Pane>> {
    with_domain_panes(vec![
        Box::new(crate::sessions::pane::SessionsPane::default()),
        Box::new(crate::secrets::pane::SecretsPane::default()),
        Box::new(crate::scans::pane::ScansPane::default()),
        Box::new(crate::isolation::pane::IsolationPane::default()),
        Box::new(crate::compliance::pane::CompliancePane::default()),
        Box::new(crate::audit::pane::AuditPane::default()),
        Box::new(crate::anomaly::pane::AnomalyPane::default()),
        Box::new(crate::auth::pane::Operators::default()),
    ])
}

/// Every action: the console's own and each pane's.
pub fn registry(panes: &[Box<dyn Pane>]) -> actions::ActionRegistry {
    let mut defs = actions::core_actions();
    for p in panes {
        defs.extend(p.actions());
    }
    actions::ActionRegistry::new(defs)
}

/// Handles to the service tasks, for the requests of [`App::update`].
#[derive(Clone, Default)]
pub struct Services {
    pub auth: Option<AuthHandle>,
    /// Each domain's service, found by its domain id.
    pub domains: Vec<std::sync::Arc<dyn Handle>>,
    /// Reads operators' current roles for the one check on guarded
    /// requests; without it every guarded request is refused.
    pub authz: Option<crate::auth::Auth>,
}

impl Services {
    /// Routes a request. A guarded one (its `permission`) first passes the
    /// one check against the acting operator's role as stored now, and the
    /// step-up the action needs ([`App::admit`]).
    pub fn send(&self, req: Request, app: &mut App) {
        let guard = match &req {
            Request::Domain(r) => r.permission,
            Request::Auth(r) => r.permission(),
            _ => None,
        };
        let req = match (guard, app.signed().map(|s| s.operator.clone())) {
            (Some(guard), operator) => {
                let current = match (&self.authz, operator) {
                    (Some(auth), Some(op)) => auth.check_role(&op, guard),
                    (None, _) => Err(crate::auth::AuthError::Invalid(
                        "the console cannot read operators' roles".into(),
                    )),
                    (_, None) => Err(crate::auth::AuthError::Invalid(
                        "nobody is signed in".into(),
                    )),
                };
                match app.admit(guard, current, req) {
                    Some(req) => req,
                    None => return,
                }
            }
            (None, _) => req,
        };
        match req {
            Request::ProbeAll => {
                for h in &self.domains {
                    h.probe();
                }
            }
            Request::Auth(r) => {
                let sent = self.auth.as_ref().is_some_and(|s| s.try_send(r));
                if !sent {
                    app.notify(
                        Level::Error,
                        "the sign-in service is not running or is busy; try again",
                    );
                }
            }
            Request::Domain(mut r) => {
                // The one place a request gets its acting operator.
                r.actor = app.signed().map(|s| s.operator.clone());
                let domain = r.domain;
                let sent = self
                    .domains
                    .iter()
                    .find(|h| h.domain() == domain)
                    .is_some_and(|h| h.send(r));
                if !sent {
                    app.notify(
                        Level::Error,
                        format!("the {domain} service is not running or is busy; nothing was done"),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Why the console stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// SIGTERM or SIGHUP (a dropped SSH connection).
    Signal(i32),
}

/// The shortest time between two frames (60 fps).
pub const FRAME: Duration = Duration::from_millis(16);

/// Runs the console until the operator quits or a signal arrives. The
/// terminal is restored on every way out.
pub async fn run(
    mut app: App,
    services: Services,
    mut events: EventRx,
    wake: crate::service::Wake,
) -> anyhow::Result<Exit> {
    let mut term = terminal::enter(app.settings.mouse)?;
    let _guard = terminal::Guard;
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mux = osc52::Multiplexer::detect();
    let tmux_forwards = (mux == osc52::Multiplexer::Tmux)
        .then(osc52::tmux_set_clipboard)
        .flatten();
    let mut last_draw = Instant::now() - FRAME;
    for req in app.start() {
        services.send(req, &mut app);
    }

    loop {
        if app.dirty && last_draw.elapsed() >= FRAME {
            term.draw(|f| view::render(&mut app, f))?;
            app.dirty = false;
            last_draw = Instant::now();
        }
        let next_frame = tokio::time::Instant::from_std(last_draw + FRAME);
        // Every branch yields the requests the update made; requests from
        // service events (a step-up that was granted runs its action) are
        // handled exactly like those from keys.
        let reqs = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => match ev {
                    Event::Key(k) => app.update(Msg::Key(k)),
                    Event::Mouse(m) => app.update(Msg::Mouse(m)),
                    Event::Paste(p) => app.update(Msg::Paste(p)),
                    Event::Resize(w, h) => app.update(Msg::Resize(w, h)),
                    Event::FocusGained | Event::FocusLost => continue,
                },
                Some(Err(e)) => return Err(anyhow::anyhow!("reading the terminal failed: {e}")),
                None => return Ok(Exit::Signal(libc::SIGHUP)),
            },
            Some(ev) = events.recv() => {
                // Coalesce a burst into one redraw.
                let mut reqs = app.update(Msg::Service(ev));
                for _ in 0..1024 {
                    match events.try_recv() {
                        Ok(ev) => reqs.extend(app.update(Msg::Service(ev))),
                        Err(_) => break,
                    }
                }
                reqs
            }
            () = wake.woken() => app.update(Msg::Wake),
            _ = tick.tick() => app.update(Msg::Tick),
            _ = sigterm.recv() => return Ok(Exit::Signal(libc::SIGTERM)),
            _ = sighup.recv() => return Ok(Exit::Signal(libc::SIGHUP)),
            _ = tokio::time::sleep_until(next_frame), if app.dirty => continue,
        };
        for req in reqs {
            match req {
                Request::Quit => return Ok(Exit::Quit),
                Request::Suspend => {
                    terminal::suspend(&mut term)?;
                    app.dirty = true;
                }
                Request::Redraw => {
                    term.clear()?;
                    app.dirty = true;
                }
                Request::Copy(text) => {
                    if let Err(e) = terminal::write_raw(osc52::sequence(&text, mux).as_bytes()) {
                        app.notify(Level::Error, format!("copy failed: {e}"));
                    } else if let Some(why) = osc52::tmux_warning(mux, tmux_forwards) {
                        app.notify(Level::Warn, why);
                    }
                }
                Request::SetMouse(on) => terminal::set_mouse(on)?,
                other => services.send(other, &mut app),
            }
        }
    }
}
