//! The gate in front of the console: nothing but the sign-in screen (or, on
//! a store without operators, the first-run enrolment wizard) is shown until
//! an operator has signed in with a second factor.

use std::time::Instant;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;
use secrecy::{ExposeSecret, SecretString};

use super::actions::name;
use super::app::{Request, single_line_input};
use super::theme::{ColorMode, Role as ThemeRole, Theme};
use crate::auth::service::{AuthEvent, AuthRequest};
use crate::auth::{EnrolmentToken, Role};
use crate::mfa::qr;

/// Who is signed in.
#[derive(Clone, Debug)]
pub struct Signed {
    pub operator: String,
    pub role: Role,
    /// When the operator last gave a second factor (sign-in or step-up).
    pub mfa_at: Instant,
    /// Signed in by demo mode, not by a person.
    pub auto: bool,
}

pub enum Gate {
    /// Asking the auth service whether any operator exists.
    Checking,
    SignIn(SignIn),
    Wizard(Wizard),
    Open(Signed),
}

pub struct SignIn {
    pub operator: TextArea<'static>,
    pub code: TextArea<'static>,
    pub on_code: bool,
    pub error: Option<String>,
    pub busy: bool,
    /// Why the screen is shown again (auto-lock).
    pub notice: Option<String>,
}

pub struct Wizard {
    pub name: TextArea<'static>,
    pub code: TextArea<'static>,
    pub enrollment: Option<EnrollmentView>,
    pub error: Option<String>,
    pub busy: bool,
}

pub struct EnrollmentView {
    pub operator: String,
    pub qr: Vec<String>,
    pub uri: SecretString,
    pub secret: SecretString,
    pub backup_codes: Vec<SecretString>,
    /// Starts another enrolment should this one lapse (shown once).
    pub token: Option<EnrolmentToken>,
}

fn code_input() -> TextArea<'static> {
    let mut t = single_line_input("6-digit code or a backup code".into());
    t.set_mask_char('•');
    t
}

impl SignIn {
    pub fn new(operator: &str, notice: Option<String>) -> Self {
        let mut op = single_line_input("operator name".into());
        op.insert_str(operator);
        Self {
            on_code: !operator.is_empty(),
            operator: op,
            code: code_input(),
            error: None,
            busy: false,
            notice,
        }
    }
}

impl Wizard {
    pub fn new(operator: &str) -> Self {
        let mut name = single_line_input("first operator's name".into());
        name.insert_str(operator);
        Self {
            name,
            code: code_input(),
            enrollment: None,
            error: None,
            busy: false,
        }
    }
}

fn text(t: &TextArea<'static>) -> String {
    t.lines()
        .first()
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Gate {
    pub fn is_open(&self) -> bool {
        matches!(self, Gate::Open(_))
    }

    /// A key while the gate is closed. `input_action` is the INPUT-scope
    /// action the key is bound to, if any.
    /// Whether the gate waits for the sign-in service (the console is
    /// opening, or a code is being checked): keys are kept until it answers.
    pub fn is_waiting(&self) -> bool {
        match self {
            Gate::Checking => true,
            Gate::SignIn(s) => s.busy,
            Gate::Wizard(w) => w.busy,
            Gate::Open(_) => false,
        }
    }

    pub fn key(&mut self, key: KeyEvent, input_action: Option<&str>) -> Vec<Request> {
        let mut out = Vec::new();
        match self {
            Gate::Checking | Gate::Open(_) => {}
            Gate::SignIn(s) => match input_action {
                _ if s.busy => {}
                Some(name::CANCEL) => out.push(Request::Quit),
                Some(
                    name::COMPLETE | name::COMPLETE_PREV | name::HISTORY_PREV | name::HISTORY_NEXT,
                ) => s.on_code = !s.on_code,
                Some(name::SUBMIT) => {
                    let (operator, code) = (text(&s.operator), text(&s.code));
                    if operator.is_empty() {
                        s.on_code = false;
                        s.error = Some("type your operator name".into());
                    } else if code.is_empty() {
                        s.on_code = true;
                    } else {
                        s.busy = true;
                        s.error = None;
                        s.code = code_input();
                        out.push(Request::Auth(AuthRequest::SignIn {
                            operator,
                            code: SecretString::from(code),
                        }));
                    }
                }
                _ => {
                    let field = if s.on_code {
                        &mut s.code
                    } else {
                        &mut s.operator
                    };
                    field.input(key);
                }
            },
            Gate::Wizard(w) => match input_action {
                _ if w.busy => {}
                Some(name::CANCEL) => out.push(Request::Quit),
                Some(name::SUBMIT) => match &w.enrollment {
                    None => {
                        let operator = text(&w.name);
                        if operator.is_empty() {
                            w.error = Some("type a name for the first operator".into());
                        } else {
                            w.busy = true;
                            w.error = None;
                            out.push(Request::Auth(AuthRequest::CreateFirst { operator }));
                        }
                    }
                    Some(en) => {
                        let code = text(&w.code);
                        if !code.is_empty() {
                            w.busy = true;
                            w.error = None;
                            w.code = code_input();
                            out.push(Request::Auth(AuthRequest::Confirm {
                                operator: en.operator.clone(),
                                code: SecretString::from(code),
                            }));
                        }
                    }
                },
                _ => {
                    let field = if w.enrollment.is_some() {
                        &mut w.code
                    } else {
                        &mut w.name
                    };
                    field.input(key);
                }
            },
        }
        out
    }

    /// An auth event; returns the requests it leads to. `default_operator`
    /// fills the first-run wizard's name; `sign_in_operator` the sign-in
    /// screen's operator field (empty when none is configured: the screen
    /// then starts in that field).
    pub fn event(
        &mut self,
        ev: &AuthEvent,
        default_operator: &str,
        sign_in_operator: &str,
    ) -> Vec<Request> {
        match (&mut *self, ev) {
            (Gate::Checking, AuthEvent::Ready { has_operators }) => {
                *self = if *has_operators {
                    Gate::SignIn(SignIn::new(sign_in_operator, None))
                } else {
                    Gate::Wizard(Wizard::new(default_operator))
                };
            }
            (Gate::SignIn(_) | Gate::Wizard(_), AuthEvent::SignedIn { operator, role }) => {
                *self = Gate::Open(Signed {
                    operator: operator.clone(),
                    role: *role,
                    mfa_at: Instant::now(),
                    auto: false,
                });
            }
            (Gate::SignIn(s), AuthEvent::Rejected { reason }) => {
                s.busy = false;
                s.error = Some(reason.clone());
            }
            (Gate::Checking, AuthEvent::Rejected { reason }) => {
                let mut s = SignIn::new(sign_in_operator, None);
                s.error = Some(reason.clone());
                *self = Gate::SignIn(s);
            }
            (Gate::Wizard(w), AuthEvent::Rejected { reason }) => {
                w.busy = false;
                w.error = Some(reason.clone());
            }
            (
                Gate::Wizard(w),
                AuthEvent::Enrollment {
                    operator,
                    uri,
                    secret,
                    backup_codes,
                    token,
                },
            ) => {
                w.busy = false;
                w.enrollment = Some(EnrollmentView {
                    operator: operator.clone(),
                    qr: qr::render_compact(uri.expose_secret()).unwrap_or_default(),
                    uri: uri.clone(),
                    secret: secret.clone(),
                    backup_codes: backup_codes.clone(),
                    token: token.clone(),
                });
            }
            _ => {}
        }
        Vec::new()
    }

    /// Locks the console (auto-lock): back to the sign-in screen.
    pub fn lock(&mut self, why: &str) {
        if let Gate::Open(s) = self {
            let operator = s.operator.clone();
            *self = Gate::SignIn(SignIn::new(&operator, Some(why.to_string())));
        }
    }

    pub fn render(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        frame.render_widget(Clear, area);
        match self {
            Gate::Checking => {
                let p = Paragraph::new(Line::styled("WindFlow: opening the store…", theme.muted()));
                frame.render_widget(p, centered(area, 40, 1));
            }
            Gate::SignIn(s) => render_sign_in(s, theme, frame, area),
            Gate::Wizard(w) => render_wizard(w, theme, frame, area),
            Gate::Open(_) => {}
        }
    }
}

use super::view::centered_fixed as centered;

fn field(
    frame: &mut Frame,
    theme: &Theme,
    area: Rect,
    label: &str,
    input: &TextArea<'static>,
    active: bool,
) {
    let [l, f] = Layout::horizontal([Constraint::Length(11), Constraint::Fill(1)]).areas(area);
    let style = if active {
        theme.accent()
    } else {
        theme.muted()
    };
    frame.render_widget(Span::styled(label.to_string(), style), l);
    let mut input = input.clone();
    input.set_cursor_style(if active {
        Style::default().add_modifier(ratatui::style::Modifier::REVERSED)
    } else {
        Style::default()
    });
    frame.render_widget(&input, f);
}

fn render_sign_in(s: &SignIn, t: &Theme, frame: &mut Frame, area: Rect) {
    let r = centered(area, 64, 11);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(true))
        .title(Span::styled(" WindFlow · sign in ", t.title()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .split(inner);
    if let Some(n) = &s.notice {
        frame.render_widget(Line::styled(n.clone(), t.role(ThemeRole::Warn)), rows[0]);
    }
    field(frame, t, rows[1], "Operator", &s.operator, !s.on_code);
    field(frame, t, rows[2], "Code", &s.code, s.on_code);
    let status = if s.busy {
        Line::styled("verifying…", t.muted())
    } else {
        Line::styled("Enter signs in · Tab switches field · Esc quits", t.muted())
    };
    frame.render_widget(status, rows[4]);
    if let Some(e) = &s.error {
        frame.render_widget(
            Paragraph::new(Line::styled(e.clone(), t.role(ThemeRole::Danger)))
                .wrap(Wrap { trim: true }),
            rows[5],
        );
    }
}

fn render_wizard(w: &Wizard, t: &Theme, frame: &mut Frame, area: Rect) {
    let Some(en) = &w.enrollment else {
        let r = centered(area, 70, 10);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(true))
            .title(Span::styled(" WindFlow · first run ", t.title()));
        let inner = block.inner(r);
        frame.render_widget(block, r);
        let [intro, name, _, status, err] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(inner);
        frame.render_widget(
            Paragraph::new("No operator yet. Name the first one: an admin who signs in with TOTP.")
                .style(t.text())
                .wrap(Wrap { trim: true }),
            intro,
        );
        field(frame, t, name, "Name", &w.name, true);
        let s = if w.busy {
            "creating…"
        } else {
            "Enter continues · Esc quits"
        };
        frame.render_widget(Line::styled(s, t.muted()), status);
        if let Some(e) = &w.error {
            frame.render_widget(Line::styled(e.clone(), t.role(ThemeRole::Danger)), err);
        }
        return;
    };
    // The QR code on the left (light modules drawn white on black, so it
    // reads on dark and light terminals), the text on the right.
    let qr_width = en.qr.first().map_or(0, |l| l.chars().count()) as u16;
    let [left, right] =
        Layout::horizontal([Constraint::Length(qr_width + 1), Constraint::Fill(1)]).areas(area);
    let qr_style = match t.mode {
        ColorMode::None => Style::default(),
        _ => Style::default().fg(Color::White).bg(Color::Black),
    };
    let qr_lines: Vec<Line> = en
        .qr
        .iter()
        .map(|l| Line::styled(l.clone(), qr_style))
        .collect();
    frame.render_widget(Paragraph::new(qr_lines), left);
    let mut lines = vec![
        Line::styled(
            format!("Enrol {} in your authenticator app", en.operator),
            t.title(),
        ),
        Line::styled("Scan the code, or type the secret:", t.text()),
        Line::styled(
            en.secret.expose_secret().to_string(),
            t.role(ThemeRole::Warn),
        ),
        Line::styled("Backup codes (shown once, each works once):", t.text()),
    ];
    for pair in en.backup_codes.chunks(2) {
        let text: Vec<&str> = pair.iter().map(|c| c.expose_secret()).collect();
        lines.push(Line::styled(format!("  {}", text.join("  ")), t.accent()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Then type the app's current code:", t.text()));
    let text_height = lines.len() as u16;
    let [body, code, status, err] = Layout::vertical([
        Constraint::Length(text_height),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(right);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
    field(frame, t, code, "Code", &w.code, true);
    let s = if w.busy {
        "verifying…"
    } else {
        "Enter confirms · Esc quits"
    };
    frame.render_widget(Line::styled(s, t.muted()), status);
    let mut below = Vec::new();
    if let Some(e) = &w.error {
        below.push(Line::styled(e.clone(), t.role(ThemeRole::Danger)));
    }
    if let Some(token) = &en.token {
        below.push(Line::raw(""));
        below.push(Line::styled(
            format!(
                "Not now? Within 24 h: windflow mfa enroll {} --token {}",
                en.operator,
                token.expose()
            ),
            t.muted(),
        ));
    }
    frame.render_widget(Paragraph::new(below).wrap(Wrap { trim: true }), err);
}
