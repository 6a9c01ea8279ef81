//! The console's state and its update function: `App::update(msg)` turns one
//! message (a key, a mouse event, a service event, a tick) into a new state
//! and a list of requests for the event loop. No IO, no await, no terminal:
//! all of it is testable as plain function calls.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;

use super::actions::{self, ActionRegistry, name};
use super::filter::Filter;
use super::fmt;
use super::gate::{Gate, Signed};
use super::help::HelpState;
use super::keymap::{Keymap, Lookup};
use super::keys::KeyChord;
use super::palette::{self, Palette};
use super::panes::{self, Effect, Pane, Shared};
use super::theme::{self, ColorMode, Theme, ThemeColor};
use crate::auth::service::{AuthEvent, AuthRequest};
use crate::auth::{AuthError, Role, requirement};
use crate::service::{Level, ServiceEvent};
use crate::tomlpos::FileError;

/// Input to [`App::update`].
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    Resize(u16, u16),
    Service(ServiceEvent),
    /// Some domain sent its pane events: each pane takes its own.
    Wake,
    /// Once a second: clocks, rates, expiring messages.
    Tick,
}

/// Output of [`App::update`]: work for the event loop.
#[derive(Debug)]
pub enum Request {
    Quit,
    /// Ctrl-Z: give the terminal back to the shell until `fg`.
    Suspend,
    /// Clear the screen and draw everything again.
    Redraw,
    /// Put text on the clipboard through OSC 52.
    Copy(String),
    SetMouse(bool),
    /// Ask every service to probe its backend now.
    ProbeAll,
    Auth(AuthRequest),
    /// For a domain's service (see [`crate::service::DomainRequest`]).
    Domain(crate::service::DomainRequest),
}

impl Request {
    /// A request for the domain whose request type is `R`.
    pub fn domain<R: crate::service::DomainRequestKind>(req: R) -> Self {
        Request::Domain(crate::service::DomainRequest::new(req))
    }

    /// This request, when it is one of `R`'s domain.
    pub fn get<R: crate::service::DomainRequestKind>(&self) -> Option<&R> {
        match self {
            Request::Domain(d) => d.get(),
            _ => None,
        }
    }
}

/// A question before a dangerous action.
#[derive(Debug)]
pub struct ConfirmSpec {
    pub title: String,
    pub body: String,
    /// The most dangerous actions ask the operator to type this name.
    pub typed: Option<String>,
    /// The action being confirmed (for the activity log).
    pub action: &'static str,
    /// What the status line says once it is confirmed, until the result
    /// event tells how it ended: the action under way ("revoking session
    /// …"), never a success.
    pub pending: String,
    /// The role and step-up (`auth::role::ACTIONS`) the action needs: checked
    /// again when it is confirmed, as the operator or the code's age may have
    /// changed while a form or this question stayed open.
    pub guard: Option<&'static str>,
    pub then: Vec<Request>,
}

pub struct ConfirmState {
    pub spec: ConfirmSpec,
    pub input: TextArea<'static>,
    pub error: Option<String>,
}

/// Asking for a fresh code before a sensitive action.
pub struct StepUp {
    pub input: TextArea<'static>,
    /// What the code is for, as the operator knows it (the action's name).
    pub action: &'static str,
    pub guard: &'static str,
    /// What runs once the code is accepted.
    pub resume: Resume,
    pub error: Option<String>,
    pub busy: bool,
}

/// What a step-up code unblocks.
pub enum Resume {
    /// A key's action, dispatched again (it opens its form or confirmation).
    Action { scope: &'static str },
    /// Requests already on their way to their service (see [`App::admit`]).
    Requests(Vec<Request>),
}

pub enum Mode {
    Normal,
    StepUp(StepUp),
    Palette(Palette),
    Filter(TextArea<'static>),
    Help(HelpState),
    Confirm(ConfirmState),
}

/// How the console was started.
#[derive(Clone, Debug)]
pub struct Settings {
    pub operator: String,
    /// The operator was set (flag, environment or config file), not taken
    /// from the login name: the sign-in screen fills it in.
    pub operator_configured: bool,
    pub environment: Option<(String, ThemeColor)>,
    pub read_only: bool,
    /// Read-only was forced by a flag or the config: `:readonly off` is refused.
    pub read_only_locked: bool,
    pub demo: bool,
    pub utc_clock: bool,
    pub mouse: bool,
    pub color_mode: ColorMode,
    /// The user's config dir (themes/, keymaps/, keymap.toml), if any.
    pub config_dir: Option<PathBuf>,
    /// Require sign-in with a second factor before anything is shown.
    pub sign_in: bool,
    /// Lock after this long without input.
    pub auto_lock: Option<std::time::Duration>,
    /// How long a second factor counts as fresh for step-up.
    pub step_up_window: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            operator: "operator".into(),
            operator_configured: true,
            environment: None,
            read_only: false,
            read_only_locked: false,
            demo: false,
            utc_clock: true,
            mouse: false,
            color_mode: ColorMode::TrueColor,
            config_dir: None,
            sign_in: false,
            auto_lock: None,
            step_up_window: std::time::Duration::from_secs(300),
        }
    }
}

/// Screen positions from the last render, for mouse clicks.
#[derive(Clone, Debug, Default)]
pub struct HitMap {
    pub tabs: Vec<(u16, u16, usize)>,
    pub tab_row: Option<u16>,
    pub pane: Rect,
}

/// How long a status message stays in the footer.
const MESSAGE_TTL: std::time::Duration = std::time::Duration::from_secs(6);
/// How long a confirmation may take after a step-up when the step-up window
/// is shorter (a window of 0 asks for a code before every action).
const CONFIRM_SLACK: std::time::Duration = std::time::Duration::from_secs(120);

/// The most keys kept while the console cannot take them yet.
const QUEUED_KEYS_MAX: usize = 256;

pub struct App {
    /// Keys typed while the gate was waiting for the sign-in service.
    queued_keys: std::collections::VecDeque<KeyEvent>,
    pub settings: Settings,
    pub theme: Theme,
    pub keymap: Keymap,
    pub registry: ActionRegistry,
    pub panes: Vec<Box<dyn Pane>>,
    pub focus: usize,
    pub zoom: bool,
    pub mode: Mode,
    pub pending: Vec<KeyChord>,
    pub shared: Shared,
    pub message: Option<(Level, String, Instant)>,
    pub dirty: bool,
    pub history: Vec<String>,
    pub hits: HitMap,
    pub gate: Gate,
    pub last_input: Instant,
    clock: String,
    rates: String,
}

impl App {
    /// Builds the console with the given panes, theme and keymap names.
    pub fn new(
        settings: Settings,
        panes: Vec<Box<dyn Pane>>,
        theme_name: &str,
        keymap_name: &str,
    ) -> Result<Self, String> {
        let registry = super::registry(&panes);
        let theme = load_theme(&settings, theme_name)?;
        let keymap = load_keymap(&settings, &registry, keymap_name)?;
        let clock = fmt::clock_minutes(SystemTime::now(), settings.utc_clock);
        let gate = if settings.sign_in {
            Gate::Checking
        } else {
            Gate::Open(Signed {
                operator: settings.operator.clone(),
                role: Role::Admin,
                mfa_at: Instant::now(),
                auto: false,
            })
        };
        Ok(Self {
            gate,
            last_input: Instant::now(),
            queued_keys: std::collections::VecDeque::new(),
            settings,
            theme,
            keymap,
            registry,
            panes,
            focus: 0,
            zoom: false,
            mode: Mode::Normal,
            pending: Vec::new(),
            shared: Shared::default(),
            message: None,
            dirty: true,
            history: Vec::new(),
            hits: HitMap::default(),
            clock,
            rates: String::new(),
        })
    }

    /// What the event loop must do before the first key: ask whether any
    /// operator exists (sign-in or first run).
    pub fn start(&self) -> Vec<Request> {
        match self.gate {
            Gate::Checking if self.settings.demo => vec![Request::Auth(AuthRequest::DemoSignIn)],
            Gate::Checking => vec![Request::Auth(AuthRequest::Status)],
            Gate::Open(_) => vec![Request::Auth(AuthRequest::Operators)],
            _ => Vec::new(),
        }
    }

    /// The signed-in operator, if any.
    pub fn signed(&self) -> Option<&Signed> {
        match &self.gate {
            Gate::Open(s) => Some(s),
            _ => None,
        }
    }

    /// Signs in without a code (demo mode: the generator enrolled this operator).
    pub fn auto_sign_in(&mut self, operator: &str) {
        self.gate = Gate::Open(Signed {
            operator: operator.to_string(),
            role: Role::Admin,
            mfa_at: Instant::now(),
            auto: true,
        });
        self.dirty = true;
    }

    pub fn pane(&self) -> &dyn Pane {
        self.panes[self.focus].as_ref()
    }

    pub fn clock(&self) -> &str {
        &self.clock
    }

    /// Pins the status bar clock (for snapshots).
    pub fn set_clock(&mut self, text: &str) {
        self.clock = text.to_string();
    }

    /// Opens a confirmation dialog; `spec.then` runs on yes.
    pub fn confirm(&mut self, spec: ConfirmSpec) {
        let mut out = Vec::new();
        self.apply_effects(vec![Effect::Confirm(spec)], &mut out);
    }

    /// The one entry point: apply a message, return the loop's work.
    pub fn update(&mut self, msg: Msg) -> Vec<Request> {
        let mut out = Vec::new();
        match msg {
            Msg::Key(key) if self.gate.is_waiting() => {
                // Typed while the console opens (or a sign-in is checked):
                // kept, in order, for when it can take them; Ctrl-C leaves.
                if key.code == crossterm::event::KeyCode::Char('c')
                    && key
                        .modifiers
                        .contains(crossterm::event::KeyModifiers::CONTROL)
                {
                    out.push(Request::Quit);
                } else if self.queued_keys.len() < QUEUED_KEYS_MAX {
                    self.queued_keys.push_back(key);
                }
            }
            Msg::Key(key) => {
                self.last_input = Instant::now();
                if self.gate.is_open() {
                    self.key(key, &mut out);
                } else if key.kind != crossterm::event::KeyEventKind::Release {
                    let action = self
                        .resolve(&[actions::INPUT], KeyChord::from_event(&key))
                        .map(|(_, a)| a);
                    out.extend(self.gate.key(key, action));
                }
                self.dirty = true;
            }
            Msg::Mouse(m) => {
                self.last_input = Instant::now();
                if self.gate.is_open() {
                    self.mouse(m, &mut out);
                }
            }
            Msg::Service(ServiceEvent::Auth(ev)) => {
                self.auth_event(ev, &mut out);
                self.dirty = true;
                while !self.gate.is_waiting()
                    && let Some(key) = self.queued_keys.pop_front()
                {
                    out.extend(self.update(Msg::Key(key)));
                }
            }
            Msg::Paste(text) => self.paste(&text),
            Msg::Resize(..) => self.dirty = true,
            Msg::Service(ev) => {
                if let ServiceEvent::Outcome { level, message, .. } = &ev {
                    // The status line says how the action ended (the
                    // activity log gets the line from `Shared::apply`).
                    self.message = Some((*level, message.clone(), Instant::now()));
                    self.dirty = true;
                }
                self.pane_event(&ev, &mut out);
                let visible = panes::overview::affects(&ev);
                if self.shared.apply(ev, Instant::now()) || visible {
                    for p in &mut self.panes {
                        p.shared_changed(&self.shared);
                    }
                    self.dirty = true;
                }
            }
            Msg::Wake => {
                let mut effects = Vec::new();
                for p in &mut self.panes {
                    self.dirty |= p.poll(&mut effects);
                }
                self.apply_effects(effects, &mut out);
            }
            Msg::Tick => self.tick(&mut out),
        }
        let signed = self.signed().map(|s| (s.operator.as_str(), s.role));
        if self.shared.operator.as_ref().map(|(n, r)| (n.as_str(), *r)) != signed {
            self.shared.operator = signed.map(|(n, r)| (n.to_string(), r));
        }
        out
    }

    fn auth_event(&mut self, ev: AuthEvent, out: &mut Vec<Request>) {
        match ev {
            AuthEvent::SteppedUp { action } => {
                if let Mode::StepUp(s) = std::mem::replace(&mut self.mode, Mode::Normal) {
                    if s.guard == action {
                        if let Gate::Open(signed) = &mut self.gate {
                            signed.mfa_at = Instant::now();
                        }
                        match s.resume {
                            Resume::Action { scope } => {
                                self.dispatch_checked(scope, s.action, out, true)
                            }
                            Resume::Requests(reqs) => out.extend(reqs),
                        }
                        return;
                    }
                    self.mode = Mode::StepUp(s);
                }
            }
            AuthEvent::DemoSignedIn { operator } => {
                self.auto_sign_in(&operator);
                out.push(Request::Auth(AuthRequest::Operators));
                self.notify(
                    Level::Info,
                    format!("demo: enrolled and signed in as {operator}"),
                );
            }
            AuthEvent::Current { operator, role } => {
                if let Ok(role) = role {
                    self.role_read(&operator, role);
                }
            }
            AuthEvent::StepUpRejected { action, reason } => {
                if let Mode::StepUp(s) = &mut self.mode
                    && s.guard == action
                {
                    s.busy = false;
                    s.error = Some(reason);
                }
            }
            ev @ (AuthEvent::Operators(_)
            | AuthEvent::Managed { .. }
            | AuthEvent::ManageFailed { .. }
            | AuthEvent::BackupCodes { .. }) => {
                self.pane_event(&ServiceEvent::Auth(ev), out);
            }
            ev => {
                let was_open = self.gate.is_open();
                let default = self.settings.operator.clone();
                let sign_in = if self.settings.operator_configured {
                    default.clone()
                } else {
                    String::new()
                };
                out.extend(self.gate.event(&ev, &default, &sign_in));
                if !was_open && let Some(s) = self.signed() {
                    let msg = format!("signed in as {} ({})", s.operator, s.role);
                    self.notify(Level::Info, msg);
                    out.push(Request::Auth(AuthRequest::Operators));
                }
            }
        }
    }

    fn tick(&mut self, out: &mut Vec<Request>) {
        // The operator's current role, every second: a removed or demoted
        // operator's console follows within a second (see `role_read`).
        if let (true, Some(s)) = (self.settings.sign_in, self.signed()) {
            out.push(Request::Auth(AuthRequest::Current {
                operator: s.operator.clone(),
            }));
        }
        if let (Some(limit), true) = (
            self.settings.auto_lock,
            self.gate.is_open() && self.settings.sign_in,
        ) && self.last_input.elapsed() >= limit
        {
            self.mode = Mode::Normal;
            for pane in &mut self.panes {
                pane.lock();
            }
            let mins = limit.as_secs().div_ceil(60);
            self.gate
                .lock(&format!("locked after {mins} idle minutes: sign in again"));
            self.dirty = true;
        }
        let clock = fmt::clock_minutes(SystemTime::now(), self.settings.utc_clock);
        if clock != self.clock {
            self.clock = clock;
            self.dirty = true;
        }
        if self
            .message
            .as_ref()
            .is_some_and(|(_, _, at)| at.elapsed() >= MESSAGE_TTL)
        {
            self.message = None;
            self.dirty = true;
        }
        let now = Instant::now();
        let rates: String = self
            .shared
            .services
            .iter()
            .map(|s| fmt::rate(s.rate(now)))
            .collect::<Vec<_>>()
            .join(",");
        if rates != self.rates {
            self.rates = rates;
            self.dirty = true;
        }
    }

    /// Shows a message in the footer and logs it in the activity pane.
    pub fn notify(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        self.shared
            .log("console", level, text.clone(), SystemTime::now());
        for p in &mut self.panes {
            p.shared_changed(&self.shared);
        }
        self.message = Some((level, text, Instant::now()));
        self.dirty = true;
    }

    fn key(&mut self, key: KeyEvent, out: &mut Vec<Request>) {
        if key.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        let chord = KeyChord::from_event(&key);
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal if self.panes[self.focus].editing() => {
                let mut effects = Vec::new();
                self.dirty |= self.panes[self.focus].text_key(key, &mut effects);
                self.apply_effects(effects, out);
            }
            Mode::Normal => self.normal_key(chord, out),
            Mode::Filter(input) => self.filter_key(input, key, chord),
            Mode::Palette(p) => self.palette_key(p, key, chord, out),
            Mode::Help(h) => self.help_key(h, key, chord),
            Mode::Confirm(c) => self.confirm_key(c, key, chord, out),
            Mode::StepUp(s) => self.step_up_key(s, key, chord, out),
        }
    }

    /// Resolves a chord in `scopes`, keeping multi-key sequences pending.
    fn resolve(
        &mut self,
        scopes: &[&str],
        chord: KeyChord,
    ) -> Option<(&'static str, &'static str)> {
        self.pending.push(chord);
        match self.keymap.lookup(scopes, &self.pending) {
            Lookup::Action(scope, action) => {
                self.pending.clear();
                Some((scope, action))
            }
            Lookup::Pending => None,
            Lookup::None => {
                let retry = self.pending.len() > 1;
                self.pending.clear();
                if retry {
                    self.resolve(scopes, chord)
                } else {
                    None
                }
            }
        }
    }

    fn normal_key(&mut self, chord: KeyChord, out: &mut Vec<Request>) {
        let pane_scope = self.pane().id();
        if let Some((scope, action)) =
            self.resolve(&[pane_scope, actions::LIST, actions::GLOBAL], chord)
        {
            self.dispatch(scope, action, out);
        }
    }

    /// Runs an action by scope and name, after the read-only, role and
    /// step-up checks (the role table is `auth::requirement`).
    pub fn dispatch(&mut self, scope: &str, action: &str, out: &mut Vec<Request>) {
        self.dispatch_checked(scope, action, out, false)
    }

    /// `stepped_up`: a code was verified for this very action just now.
    fn dispatch_checked(
        &mut self,
        scope: &str,
        action: &str,
        out: &mut Vec<Request>,
        stepped_up: bool,
    ) {
        if let Some(def) = self.registry.get(scope, action).copied() {
            if def.mutates && self.settings.read_only {
                self.notify(
                    Level::Warn,
                    format!("read-only: `{}` changes state and is refused (start without --read-only to allow it)", def.name),
                );
                return;
            }
            if let Some(guard) = def.guard {
                let need = requirement(guard);
                let Some(signed) = self.signed() else { return };
                if signed.role < need.role {
                    let msg = format!(
                        "{} is {}; `{}` needs {}",
                        signed.operator, signed.role, def.name, need.role
                    );
                    self.notify(Level::Warn, msg);
                    return;
                }
                if need.step_up
                    && !stepped_up
                    && signed.mfa_at.elapsed() > self.settings.step_up_window
                {
                    self.ask_step_up(def.name, guard, Resume::Action { scope: def.scope });
                    return;
                }
            }
        }
        if scope == actions::GLOBAL {
            self.global(action, out);
            return;
        }
        let mut effects = Vec::new();
        let changed = self.panes[self.focus].handle(action, &self.shared, &mut effects);
        self.dirty |= changed;
        self.apply_effects(effects, out);
    }

    /// Offers a service event to every pane; each takes its own domain's.
    fn pane_event(&mut self, ev: &ServiceEvent, out: &mut Vec<Request>) {
        let mut effects = Vec::new();
        for p in &mut self.panes {
            self.dirty |= p.service_event(ev, &mut effects);
        }
        self.apply_effects(effects, out);
    }

    fn apply_effects(&mut self, effects: Vec<Effect>, out: &mut Vec<Request>) {
        for e in effects {
            match e {
                Effect::Request(r) => out.push(r),
                Effect::Notify(level, text) => self.notify(level, text),
                Effect::Show { pane, item } => {
                    match self.panes.iter().position(|p| p.id() == pane) {
                        Some(i) => {
                            self.focus_pane(i);
                            // No item: the pane itself is what to see.
                            if !item.is_empty() && !self.panes[i].show(&item) {
                                self.notify(
                                    Level::Warn,
                                    format!("{item} is not in the {pane} pane"),
                                );
                            }
                        }
                        None => self.notify(Level::Warn, format!("there is no {pane} pane")),
                    }
                }
                Effect::Palette(line) => self.mode = Mode::Palette(Palette::with_line(self, &line)),
                Effect::Confirm(spec) => {
                    self.mode = Mode::Confirm(ConfirmState {
                        input: single_line_input(
                            spec.typed
                                .as_deref()
                                .map(|t| format!("type {t}"))
                                .unwrap_or_default(),
                        ),
                        spec,
                        error: None,
                    })
                }
            }
        }
    }

    fn global(&mut self, action: &str, out: &mut Vec<Request>) {
        match action {
            name::QUIT => out.push(Request::Quit),
            name::HELP => self.mode = Mode::Help(HelpState::default()),
            name::PALETTE => self.mode = Mode::Palette(Palette::new(self)),
            name::FILTER => {
                let current = self
                    .pane()
                    .filter()
                    .map(|f| f.text.clone())
                    .unwrap_or_default();
                let mut input = single_line_input("regex; ! inverts".into());
                input.insert_str(current);
                self.mode = Mode::Filter(input);
            }
            name::NEXT_PANE => self.focus_pane((self.focus + 1) % self.panes.len()),
            name::PREV_PANE => {
                self.focus_pane((self.focus + self.panes.len() - 1) % self.panes.len())
            }
            name::ZOOM => self.zoom = !self.zoom,
            name::COPY => match self.pane().selected_text(&self.shared) {
                Some(text) => {
                    let n = text.chars().count();
                    out.push(Request::Copy(text));
                    self.notify(
                        Level::Info,
                        format!("sent {n} characters to the terminal's clipboard (OSC 52)"),
                    );
                }
                None => self.notify(Level::Info, "nothing selected to copy"),
            },
            name::REDRAW => out.push(Request::Redraw),
            name::SUSPEND => out.push(Request::Suspend),
            name::BACK => {
                if self.panes[self.focus].back() {
                    self.dirty = true;
                } else if self.pane().filter().is_some() {
                    self.panes[self.focus].set_filter(None);
                } else if self.zoom {
                    self.zoom = false;
                }
            }
            other => {
                if let Some(i) = name::PANE.iter().position(|p| *p == other)
                    && i < self.panes.len()
                {
                    self.focus_pane(i);
                }
            }
        }
    }

    pub fn focus_pane(&mut self, i: usize) {
        if i < self.panes.len() {
            self.focus = i;
            self.pending.clear();
            self.dirty = true;
        }
    }

    fn filter_key(&mut self, mut input: TextArea<'static>, key: KeyEvent, chord: KeyChord) {
        match self.resolve(&[actions::INPUT], chord) {
            Some((_, name::SUBMIT)) => return,
            Some((_, name::CANCEL)) => {
                self.panes[self.focus].set_filter(None);
                return;
            }
            Some(_) => {}
            None if !self.pending.is_empty() => {}
            None => {
                input.input(key);
                let text = input.lines().first().cloned().unwrap_or_default();
                self.panes[self.focus].set_filter(Filter::new(&text));
            }
        }
        self.mode = Mode::Filter(input);
    }

    fn palette_key(
        &mut self,
        mut p: Palette,
        key: KeyEvent,
        chord: KeyChord,
        out: &mut Vec<Request>,
    ) {
        match self.resolve(&[actions::INPUT], chord) {
            Some((_, name::SUBMIT)) => {
                let line = p.line();
                if !line.trim().is_empty() {
                    self.history.retain(|h| h != &line);
                    self.history.push(line.clone());
                    if self.history.len() > 200 {
                        self.history.remove(0);
                    }
                    self.run_command(&line, out);
                }
                return;
            }
            Some((_, name::CANCEL)) => return,
            Some((_, name::COMPLETE)) => p.complete(self, true),
            Some((_, name::COMPLETE_PREV)) => p.complete(self, false),
            Some((_, name::HISTORY_PREV)) => p.history(&self.history, true),
            Some((_, name::HISTORY_NEXT)) => p.history(&self.history, false),
            Some(_) => {}
            None => {
                if p.input.input(key) {
                    p.edited(self);
                }
            }
        }
        self.mode = Mode::Palette(p);
    }

    fn help_key(&mut self, mut h: HelpState, key: KeyEvent, chord: KeyChord) {
        if let Some(mut input) = h.search.take() {
            match self.resolve(&[actions::INPUT], chord) {
                Some((_, name::SUBMIT)) => h.typing = false,
                Some((_, name::CANCEL)) => {
                    h.query = None;
                    h.typing = false;
                }
                _ => {
                    if input.input(key) {
                        h.query = Filter::new(input.lines().first().map_or("", |s| s.as_str()));
                        h.scroll = 0;
                    }
                }
            }
            if h.typing {
                h.search = Some(input);
            }
            self.mode = Mode::Help(h);
            return;
        }
        match self.resolve(&[actions::HELP], chord) {
            Some((_, name::HELP_CLOSE)) => return,
            Some((_, name::HELP_SEARCH)) => {
                h.search = Some(single_line_input("search keys and descriptions".into()));
                h.typing = true;
            }
            Some((_, action)) => h.scroll_by(action),
            None => {}
        }
        self.mode = Mode::Help(h);
    }

    fn confirm_key(
        &mut self,
        mut c: ConfirmState,
        key: KeyEvent,
        chord: KeyChord,
        out: &mut Vec<Request>,
    ) {
        let answer = if c.spec.typed.is_some() {
            match self.resolve(&[actions::INPUT], chord) {
                Some((_, name::SUBMIT)) => Some(true),
                Some((_, name::CANCEL)) => Some(false),
                Some(_) => None,
                None => {
                    c.input.input(key);
                    c.error = None;
                    None
                }
            }
        } else {
            match self.resolve(&[actions::CONFIRM], chord) {
                Some((_, name::CONFIRM_YES)) => Some(true),
                Some((_, name::CONFIRM_NO)) => Some(false),
                _ => None,
            }
        };
        match answer {
            Some(true) => {
                if let Some(expected) = &c.spec.typed {
                    let typed = c.input.lines().first().map_or("", |s| s.trim());
                    if typed != expected {
                        c.error = Some(format!(
                            "type `{expected}` exactly to confirm, or Esc to cancel"
                        ));
                        self.mode = Mode::Confirm(c);
                        return;
                    }
                }
                if let Some(guard) = c.spec.guard
                    && let Err(why) = self.role_allows(guard)
                {
                    self.notify(Level::Warn, format!("{} refused: {why}", c.spec.action));
                    return;
                }
                self.notify(Level::Info, format!("{}…", c.spec.pending));
                out.extend(c.spec.then);
            }
            Some(false) => self.notify(Level::Info, format!("cancelled: {}", c.spec.action)),
            None => self.mode = Mode::Confirm(c),
        }
    }

    /// Whether the signed-in operator's role (as last read from the store)
    /// allows `guard`. A due step-up is asked for when the requests leave
    /// ([`App::admit`]).
    fn role_allows(&self, guard: &'static str) -> Result<(), String> {
        let need = requirement(guard);
        let Some(signed) = self.signed() else {
            return Err("nobody is signed in".into());
        };
        if signed.role < need.role {
            return Err(format!(
                "{} is {}; it needs {}",
                signed.operator, signed.role, need.role
            ));
        }
        Ok(())
    }

    fn ask_step_up(&mut self, action: &'static str, guard: &'static str, resume: Resume) {
        let mut input = single_line_input("code from your authenticator".into());
        input.set_mask_char('•');
        self.mode = Mode::StepUp(StepUp {
            input,
            action,
            guard,
            resume,
            error: None,
            busy: false,
        });
        self.dirty = true;
    }

    /// The console's half of the one check, on a guarded request as it
    /// leaves for the service that carries it out: `current` is the acting
    /// operator's role read from the store just now (`Auth::check_role`),
    /// not the one seen at sign-in. A removed operator locks the console; a
    /// changed role is taken on; a step-up code older than the window (or
    /// than [`CONFIRM_SLACK`], for the time a form or confirmation stayed
    /// open) is asked for first, and the request waits for it.
    pub fn admit(
        &mut self,
        guard: &'static str,
        current: Result<Role, AuthError>,
        req: Request,
    ) -> Option<Request> {
        let Some(signed) = self.signed() else {
            self.notify(
                Level::Warn,
                format!("refused `{guard}`: nobody is signed in"),
            );
            return None;
        };
        let operator = signed.operator.clone();
        match current {
            Ok(role) => self.role_read(&operator, Some(role)),
            Err(AuthError::UnknownOperator(_)) => {
                self.role_read(&operator, None);
                return None;
            }
            Err(e) => {
                if let AuthError::Forbidden { role, .. } = &e {
                    self.role_read(&operator, Some(*role));
                }
                self.notify(Level::Warn, format!("refused: {e}"));
                return None;
            }
        }
        let window = self.settings.step_up_window.max(CONFIRM_SLACK);
        let stale = self.signed().is_none_or(|s| s.mfa_at.elapsed() > window);
        if requirement(guard).step_up && stale {
            self.ask_step_up(guard, guard, Resume::Requests(vec![req]));
            return None;
        }
        Some(req)
    }

    /// The signed-in operator's role as the store has it now (`None`: the
    /// operator was removed). A console whose operator is gone, or may no
    /// longer open it, locks; a changed role is taken on and said.
    pub fn role_read(&mut self, operator: &str, role: Option<Role>) {
        let Some(signed) = self.signed() else { return };
        if signed.operator != operator || Some(signed.role) == role {
            return;
        }
        let was = signed.role;
        let lock = match role {
            None => Some(format!(
                "operator {operator} no longer exists: the console locked"
            )),
            Some(r) if r < requirement("console.open").role => Some(format!(
                "{operator} is now {r} and may not use the console: it locked"
            )),
            Some(_) => None,
        };
        if let Some(why) = lock {
            self.mode = Mode::Normal;
            for pane in &mut self.panes {
                pane.lock();
            }
            self.notify(Level::Warn, why.clone());
            self.gate.lock(&why);
            return;
        }
        if let (Gate::Open(s), Some(role)) = (&mut self.gate, role) {
            s.role = role;
            self.notify(
                Level::Warn,
                format!("{operator} is now {role} (was {was}); actions follow the new role"),
            );
        }
    }

    fn step_up_key(
        &mut self,
        mut s: StepUp,
        key: KeyEvent,
        chord: KeyChord,
        out: &mut Vec<Request>,
    ) {
        if s.busy {
            self.mode = Mode::StepUp(s);
            return;
        }
        match self.resolve(&[actions::INPUT], chord) {
            Some((_, name::CANCEL)) => {
                let lost = match &s.resume {
                    Resume::Requests(_) => " (nothing was sent)",
                    Resume::Action { .. } => "",
                };
                self.notify(Level::Info, format!("cancelled: {}{lost}", s.action));
                return;
            }
            Some((_, name::SUBMIT)) => {
                let code = s
                    .input
                    .lines()
                    .first()
                    .map(|l| l.trim().to_string())
                    .unwrap_or_default();
                if let (false, Some(signed)) = (code.is_empty(), self.signed()) {
                    s.busy = true;
                    s.error = None;
                    out.push(Request::Auth(AuthRequest::StepUp {
                        operator: signed.operator.clone(),
                        code: secrecy::SecretString::from(code),
                        action: s.guard,
                    }));
                    s.input = single_line_input(String::new());
                    s.input.set_mask_char('•');
                }
            }
            Some(_) => {}
            None => {
                s.input.input(key);
            }
        }
        self.mode = Mode::StepUp(s);
    }

    fn paste(&mut self, text: &str) {
        let first_line = text.lines().next().unwrap_or("");
        match &mut self.mode {
            Mode::Palette(p) => {
                p.input.insert_str(first_line);
                let mut p = std::mem::replace(&mut self.mode, Mode::Normal);
                if let Mode::Palette(pal) = &mut p {
                    pal.edited(self);
                }
                self.mode = p;
            }
            Mode::Filter(input) => {
                input.insert_str(first_line);
                let t = input.lines().first().cloned().unwrap_or_default();
                self.panes[self.focus].set_filter(Filter::new(&t));
            }
            Mode::Confirm(c) => {
                c.input.insert_str(first_line);
            }
            Mode::Help(h) => {
                if let Some(s) = &mut h.search {
                    s.insert_str(first_line);
                    h.query = Filter::new(s.lines().first().map_or("", |s| s.as_str()));
                }
            }
            Mode::StepUp(s) => {
                s.input.insert_str(first_line);
            }
            Mode::Normal => {}
        }
        self.dirty = true;
    }

    fn mouse(&mut self, m: MouseEvent, out: &mut Vec<Request>) {
        if !self.settings.mouse {
            return;
        }
        let scroll = match m.kind {
            MouseEventKind::ScrollUp => Some(name::UP),
            MouseEventKind::ScrollDown => Some(name::DOWN),
            _ => None,
        };
        if let Some(action) = scroll {
            match &mut self.mode {
                Mode::Help(h) => h.scroll_by(action),
                Mode::Normal => self.dispatch(actions::LIST, action, out),
                _ => return,
            }
            self.dirty = true;
            return;
        }
        if m.kind != MouseEventKind::Down(MouseButton::Left) || !matches!(self.mode, Mode::Normal) {
            return;
        }
        if Some(m.row) == self.hits.tab_row {
            if let Some(&(_, _, i)) = self
                .hits
                .tabs
                .iter()
                .find(|(x0, x1, _)| m.column >= *x0 && m.column < *x1)
            {
                self.focus_pane(i);
            }
            return;
        }
        let area = self.hits.pane;
        if m.row >= area.y
            && m.row < area.y + area.height
            && m.column >= area.x
            && m.column < area.x + area.width
            && self.panes[self.focus].click(m.row - area.y)
        {
            self.dirty = true;
        }
    }

    /// Runs a palette command line (`pane sessions`, `theme light`, ...).
    pub fn run_command(&mut self, line: &str, out: &mut Vec<Request>) {
        let mut words = line.split_whitespace();
        let Some(cmd) = words.next() else { return };
        let arg = words.collect::<Vec<_>>().join(" ");
        let Some(def) = palette::find(cmd) else {
            self.notify(
                Level::Warn,
                format!("unknown command `{cmd}`: press Tab in the palette to list commands"),
            );
            return;
        };
        if def.mutates && self.settings.read_only {
            self.notify(
                Level::Warn,
                format!("read-only: `:{}` changes state and is refused", def.name),
            );
            return;
        }
        match def.name {
            "quit" => out.push(Request::Quit),
            "help" => self.mode = Mode::Help(HelpState::default()),
            "zoom" => self.zoom = !self.zoom,
            "redraw" => out.push(Request::Redraw),
            "pane" => {
                let found = self
                    .panes
                    .iter()
                    .position(|p| p.id() == arg || p.title().eq_ignore_ascii_case(&arg))
                    .or_else(|| {
                        arg.parse::<usize>()
                            .ok()
                            .and_then(|n| n.checked_sub(1))
                            .filter(|i| *i < self.panes.len())
                    });
                match found {
                    Some(i) => self.focus_pane(i),
                    None => {
                        let ids: Vec<_> = self.panes.iter().map(|p| p.id()).collect();
                        self.notify(
                            Level::Warn,
                            format!("no pane `{arg}` (panes: {})", ids.join(", ")),
                        );
                    }
                }
            }
            "theme" => match load_theme(&self.settings, &arg) {
                Ok(t) => {
                    self.theme = t;
                    self.notify(Level::Info, format!("theme {arg}"));
                }
                Err(e) => self.notify(Level::Error, e),
            },
            "keymap" => match load_keymap(&self.settings, &self.registry, &arg) {
                Ok(k) => {
                    self.keymap = k;
                    self.notify(Level::Info, format!("keymap {arg}"));
                }
                Err(e) => self.notify(Level::Error, e),
            },
            "readonly" => match arg.as_str() {
                "" | "on" => {
                    self.settings.read_only = true;
                    self.notify(
                        Level::Info,
                        "read-only on: state-changing actions are refused",
                    );
                }
                "off" if self.settings.read_only_locked => self.notify(
                    Level::Warn,
                    "read-only was set by --read-only or the config and stays on",
                ),
                "off" => {
                    self.settings.read_only = false;
                    self.notify(Level::Info, "read-only off");
                }
                other => self.notify(Level::Warn, format!("`:readonly {other}`: use on or off")),
            },
            "mouse" => {
                let on = match arg.as_str() {
                    "" => !self.settings.mouse,
                    "on" => true,
                    "off" => false,
                    other => {
                        self.notify(Level::Warn, format!("`:mouse {other}`: use on or off"));
                        return;
                    }
                };
                self.settings.mouse = on;
                out.push(Request::SetMouse(on));
                self.notify(
                    Level::Info,
                    format!("mouse {}", if on { "on" } else { "off" }),
                );
            }
            "filter" => {
                self.panes[self.focus].set_filter(Filter::new(&arg));
            }
            "probe" => out.push(Request::ProbeAll),
            "scan" => self.scan_images(&arg, out),
            "compact" => {
                self.focus_pane(
                    self.panes
                        .iter()
                        .position(|p| p.id() == panes::overview::ID)
                        .unwrap_or(self.focus),
                );
                self.dispatch(panes::overview::ID, "compact_store", out);
            }
            // A pane's own command: the pane that takes it is focused.
            name => {
                let mut effects = Vec::new();
                if let Some(i) = self
                    .panes
                    .iter_mut()
                    .position(|p| p.command(name, &arg, &mut effects))
                {
                    self.focus_pane(i);
                }
                self.dirty = true;
                self.apply_effects(effects, out);
            }
        }
    }

    /// `:scan IMAGE...`: queues Trivy and Grype on each image (a scanner not
    /// on PATH is reported as failed; the others still count).
    fn scan_images(&mut self, arg: &str, out: &mut Vec<Request>) {
        use crate::scans::runner::Tool;
        use crate::scans::service::ScanRequest;
        let images: Vec<String> = arg.split_whitespace().map(str::to_string).collect();
        if images.is_empty() {
            self.notify(Level::Warn, "`:scan IMAGE...`: name one or more images");
            return;
        }
        let need = requirement("scans.run");
        let Some(signed) = self.signed() else { return };
        if signed.role < need.role {
            let msg = format!(
                "{} is {}; `:scan` needs {}",
                signed.operator, signed.role, need.role
            );
            self.notify(Level::Warn, msg);
            return;
        }
        if let Some(i) = self.panes.iter().position(|p| p.id() == "scans") {
            self.focus_pane(i);
        }
        let n = images.len();
        out.push(Request::domain(ScanRequest::Images {
            images,
            tools: vec![Tool::Trivy, Tool::Grype],
        }));
        self.notify(
            Level::Info,
            format!("queued {n} image scan(s) with trivy and grype"),
        );
    }

    pub fn theme_names(&self) -> Vec<String> {
        names_in(
            theme::BUNDLED.iter().map(|(n, _)| *n),
            self.user_dir("themes"),
        )
    }

    pub fn keymap_names(&self) -> Vec<String> {
        names_in(
            super::keymap::BUNDLED.iter().map(|(n, _)| *n),
            self.user_dir("keymaps"),
        )
    }

    fn user_dir(&self, sub: &str) -> Option<PathBuf> {
        self.settings.config_dir.as_ref().map(|d| d.join(sub))
    }
}

fn names_in<'a>(bundled: impl Iterator<Item = &'a str>, dir: Option<PathBuf>) -> Vec<String> {
    let mut names: Vec<String> = bundled.map(String::from).collect();
    if let Some(Ok(entries)) = dir.map(std::fs::read_dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml")
                && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                && !names.iter().any(|n| n == stem)
            {
                names.push(stem.to_string());
            }
        }
    }
    names
}

/// A one-line text input with a placeholder.
pub fn single_line_input(placeholder: String) -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text(placeholder);
    t.set_cursor_line_style(ratatui::style::Style::default());
    t
}

fn user_file(settings: &Settings, sub: &str, name: &str) -> Option<PathBuf> {
    let p = settings
        .config_dir
        .as_ref()?
        .join(sub)
        .join(format!("{name}.toml"));
    p.is_file().then_some(p)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A theme by name: the user's themes dir first, then the bundled ones.
pub fn load_theme(settings: &Settings, name: &str) -> Result<Theme, String> {
    match user_file(settings, "themes", name) {
        Some(path) => {
            Theme::parse(&read(&path)?, &path, settings.color_mode).map_err(|e| e.to_string())
        }
        None => Theme::bundled(name, settings.color_mode).map_err(|_| {
            let names = names_in(theme::BUNDLED.iter().map(|(n, _)| *n), None);
            format!("no theme named `{name}` (bundled: {})", names.join(", "))
        }),
    }
}

/// A keymap by name (the user's keymaps dir first, then bundled), with the
/// user's `keymap.toml` overrides applied.
pub fn load_keymap(
    settings: &Settings,
    registry: &ActionRegistry,
    name: &str,
) -> Result<Keymap, String> {
    let join = |errs: Vec<FileError>| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut km = match user_file(settings, "keymaps", name) {
        Some(path) => Keymap::parse(name, &read(&path)?, &path, registry).map_err(join)?,
        None => Keymap::bundled(name, registry).map_err(|e| {
            if e.iter().any(|e| e.message == "no such bundled keymap") {
                let names: Vec<_> = super::keymap::BUNDLED.iter().map(|(n, _)| *n).collect();
                format!("no keymap named `{name}` (bundled: {})", names.join(", "))
            } else {
                join(e)
            }
        })?,
    };
    if let Some(dir) = &settings.config_dir {
        let path = dir.join("keymap.toml");
        if path.is_file() {
            km.apply_overrides(&read(&path)?, &path, registry)
                .map_err(join)?;
        }
    }
    Ok(km)
}
