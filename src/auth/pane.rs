//! The Operators pane: who may use the console, their role and the state of
//! their second factor; admins change roles, remove operators and reset a
//! second factor; everyone may replace their own backup codes (shown once).
//! Every change needs a fresh code (step-up) and a confirmation.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table};
use secrecy::{ExposeSecret, SecretString};

use super::service::{AuthEvent, AuthRequest, Change};
use super::{EnrolmentToken, MfaState, OperatorStatus, Role};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::Role as Tone;
use crate::console::view::centered_fixed;
use crate::service::{Level, ServiceEvent};

pub const ID: &str = "operators";
const REFRESH: &str = "refresh_operators";
const PROMOTE: &str = "promote";
const DEMOTE: &str = "demote";
const REMOVE: &str = "remove_operator";
const RESET_MFA: &str = "reset_mfa";
const BACKUP_CODES: &str = "backup_codes";

#[derive(Default)]
pub struct Operators {
    list: ListView,
    rows: Option<Vec<OperatorStatus>>,
    error: Option<String>,
    /// New backup codes, shown until the operator leaves them; wiped on drop.
    codes: Option<Vec<SecretString>>,
    /// After a reset: the operator and their one-time enrolment token, shown once.
    token: Option<(String, EnrolmentToken)>,
}

fn row_text(op: &OperatorStatus) -> String {
    format!("{} {} mfa:{}", op.name, op.role, op.mfa.as_str())
}

fn next_role(role: Role, up: bool) -> Option<Role> {
    match (role, up) {
        (Role::Viewer, true) => Some(Role::Operator),
        (Role::Operator, true) => Some(Role::Admin),
        (Role::Admin, false) => Some(Role::Operator),
        (Role::Operator, false) => Some(Role::Viewer),
        _ => None,
    }
}

impl Operators {
    fn visible(&self) -> Vec<&OperatorStatus> {
        self.rows
            .iter()
            .flatten()
            .filter(|op| {
                self.list
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.keeps(&row_text(op)))
            })
            .collect()
    }

    fn selected(&self) -> Option<&OperatorStatus> {
        self.visible().get(self.list.selected).copied()
    }

    fn me(shared: &Shared) -> Option<&str> {
        shared.operator.as_ref().map(|(name, _)| name.as_str())
    }

    fn manage(&self, shared: &Shared, action: &'static str, effects: &mut Vec<Effect>) {
        let (Some(op), Some(actor)) = (self.selected(), Self::me(shared)) else {
            return;
        };
        let name = op.name.clone();
        let (title, body, typed, change) = match action {
            PROMOTE | DEMOTE => {
                let Some(role) = next_role(op.role, action == PROMOTE) else {
                    let msg = format!("{name} is already {}", op.role);
                    effects.push(Effect::Notify(Level::Info, msg));
                    return;
                };
                (
                    format!("Make {name} {role}?"),
                    format!("{name} goes from {} to {role}.", op.role),
                    None,
                    Change::SetRole { name, role },
                )
            }
            REMOVE => (
                format!("Remove operator {name}?"),
                format!(
                    "{name} loses access at once; their second factor and step-up grant are deleted."
                ),
                Some(name.clone()),
                Change::Remove { name },
            ),
            _ => (
                format!("Reset the second factor of {name}?"),
                format!(
                    "{name}'s authenticator key and backup codes stop working; they cannot sign in until they enrol again."
                ),
                Some(name.clone()),
                Change::ResetMfa { name },
            ),
        };
        let pending = match &change {
            Change::SetRole { name, role } => format!("making {name} {role}"),
            Change::Remove { name } => format!("removing operator {name}"),
            Change::ResetMfa { name } => format!("resetting the second factor of {name}"),
        };
        effects.push(Effect::Confirm(ConfirmSpec {
            title,
            body,
            typed,
            action,
            pending,
            guard: Some(if action == RESET_MFA {
                "mfa.reset"
            } else {
                "operators.manage"
            }),
            then: vec![Request::Auth(AuthRequest::Manage {
                actor: actor.to_string(),
                change,
            })],
        }));
    }

    fn render_token(&self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let Some((name, token)) = &self.token else {
            return;
        };
        let t = ctx.theme;
        let lines = vec![
            Line::styled(
                format!("{name} enrols again with this one-time token."),
                t.text(),
            ),
            Line::styled(
                "It works once, for 24 hours, and is shown only now:",
                t.text(),
            ),
            Line::styled(
                "hand it over privately. y copies it, esc closes.",
                t.muted(),
            ),
            Line::raw(""),
            Line::styled(format!("  windflow mfa enroll {name} --token"), t.text()),
            Line::styled(format!("  {}", token.expose()), t.accent()),
        ];
        let height = (lines.len() as u16 + 2).min(area.height);
        let box_area = centered_fixed(area, 72.min(area.width), height);
        frame.render_widget(Clear, box_area);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(true))
            .title(Span::styled(" Enrolment token ", t.title()));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .block(block),
            box_area,
        );
    }

    fn render_codes(&self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let Some(codes) = &self.codes else { return };
        let t = ctx.theme;
        let mut lines = vec![
            Line::styled("Your new backup codes. They are shown this once:", t.text()),
            Line::styled("store them now. Each works once; the old ones", t.text()),
            Line::styled("no longer do. y copies them, esc closes.", t.muted()),
            Line::raw(""),
        ];
        for pair in codes.chunks(2) {
            let text = pair
                .iter()
                .map(|c| c.expose_secret().to_string())
                .collect::<Vec<_>>()
                .join("    ");
            lines.push(Line::styled(format!("  {text}"), t.accent()));
        }
        let height = (lines.len() as u16 + 2).min(area.height);
        let box_area = centered_fixed(area, 52.min(area.width), height);
        frame.render_widget(Clear, box_area);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(true))
            .title(Span::styled(" Backup codes ", t.title()));
        frame.render_widget(Paragraph::new(lines).block(block), box_area);
    }
}

impl Pane for Operators {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Operators"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, REFRESH, "Reload the operators").hint(),
            ActionDef::new(ID, PROMOTE, "Raise the selected operator's role")
                .mutating()
                .guarded("operators.manage"),
            ActionDef::new(ID, DEMOTE, "Lower the selected operator's role")
                .mutating()
                .guarded("operators.manage"),
            ActionDef::new(ID, REMOVE, "Remove the selected operator")
                .mutating()
                .guarded("operators.manage"),
            ActionDef::new(ID, RESET_MFA, "Reset the selected operator's second factor")
                .mutating()
                .guarded("mfa.reset"),
            ActionDef::new(
                ID,
                BACKUP_CODES,
                "New backup codes for yourself (shown once)",
            )
            .hint()
            .mutating()
            .guarded("mfa.self"),
        ]
    }

    fn handle(&mut self, action: &str, shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        if (self.codes.is_some() || self.token.is_some()) && action != name::SELECT {
            // Any key first closes the codes or the token (and wipes them).
            self.codes = None;
            self.token = None;
            return true;
        }
        match action {
            REFRESH => {
                effects.push(Effect::Request(Request::Auth(AuthRequest::Operators)));
                false
            }
            PROMOTE => {
                self.manage(shared, PROMOTE, effects);
                false
            }
            DEMOTE => {
                self.manage(shared, DEMOTE, effects);
                false
            }
            REMOVE => {
                self.manage(shared, REMOVE, effects);
                false
            }
            RESET_MFA => {
                self.manage(shared, RESET_MFA, effects);
                false
            }
            BACKUP_CODES => {
                let Some(me) = Self::me(shared) else {
                    return false;
                };
                effects.push(Effect::Confirm(ConfirmSpec {
                    title: "Replace your backup codes?".into(),
                    body: format!(
                        "New single-use codes for {me}; the old ones stop working at once."
                    ),
                    typed: None,
                    action: BACKUP_CODES,
                    pending: format!("making new backup codes for {me}"),
                    guard: Some("mfa.self"),
                    then: vec![Request::Auth(AuthRequest::RegenerateBackupCodes {
                        operator: me.to_string(),
                    })],
                }));
                false
            }
            name::SELECT => self.codes.take().is_some() | self.token.take().is_some(),
            other => {
                let len = self.visible().len();
                self.list.navigate(other, len)
            }
        }
    }

    fn service_event(&mut self, ev: &ServiceEvent, effects: &mut Vec<Effect>) -> bool {
        let ServiceEvent::Auth(ev) = ev else {
            return false;
        };
        match ev {
            AuthEvent::Operators(list) => {
                self.rows = Some(list.clone());
                self.error = None;
            }
            AuthEvent::Managed {
                message,
                operators,
                token,
            } => {
                self.rows = Some(operators.clone());
                self.error = None;
                self.token = token.clone();
                effects.push(Effect::Notify(Level::Info, message.clone()));
            }
            AuthEvent::ManageFailed { reason } => {
                self.error = Some(reason.clone());
                effects.push(Effect::Notify(Level::Error, reason.clone()));
            }
            AuthEvent::BackupCodes { operator, codes } => {
                self.codes = Some(codes.clone());
                let msg = format!("{} new backup codes for {operator}", codes.len());
                effects.push(Effect::Notify(Level::Info, msg));
                effects.push(Effect::Request(Request::Auth(AuthRequest::Operators)));
            }
            _ => return false,
        }
        true
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let inner_height = area.height.saturating_sub(3) as usize;
        let len = self.visible().len();
        let window = self.list.window(len, inner_height);
        self.list.body_top = 2;
        let rows = self.visible();
        let total = self.rows.as_ref().map_or(0, Vec::len);
        let me = Self::me(ctx.shared);
        let title = match &self.list.filter {
            Some(f) => format!(" Operators  /{} ({} of {total}) ", f.text, rows.len()),
            None => format!(" Operators ({total}) "),
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Span::styled(title, t.title()));
        let now = crate::mfa::unix_seconds(ctx.wall);
        let hl = t.highlight();
        let f = self.list.filter.as_ref();
        let cell =
            |text: String, style: Style| Cell::from(Line::from(filter::spans(f, &text, style, hl)));
        let body: Vec<Row> = rows[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let you = if Some(op.name.as_str()) == me {
                    " (you)"
                } else {
                    ""
                };
                let (mfa, tone) = match op.mfa {
                    MfaState::Active => ("● active", Tone::Ok),
                    MfaState::Pending => ("◐ pending", Tone::Warn),
                    MfaState::None => ("○ none", Tone::Danger),
                    MfaState::Unreadable => ("✕ unreadable", Tone::Danger),
                };
                let locked = match op.locked_until {
                    Some(until) if until > now => {
                        (format!("locked {}s", until - now), Tone::Danger)
                    }
                    _ if op.failures > 0 => (format!("{} failed", op.failures), Tone::Warn),
                    _ => (String::new(), Tone::Muted),
                };
                let backup_tone = match op.backup_codes_left {
                    0 if op.mfa == MfaState::Active => Tone::Danger,
                    1..=2 => Tone::Warn,
                    _ => Tone::Muted,
                };
                let created = chrono::DateTime::from_timestamp(op.created_at as i64, 0)
                    .map_or(String::new(), |d| d.format("%Y-%m-%d").to_string());
                let row = Row::new(vec![
                    cell(format!("{}{you}", op.name), t.text()),
                    cell(op.role.to_string(), t.text()),
                    cell(mfa.to_string(), t.role(tone)),
                    Cell::from(Span::styled(
                        op.backup_codes_left.to_string(),
                        t.role(backup_tone),
                    )),
                    Cell::from(Span::styled(locked.0, t.role(locked.1))),
                    Cell::from(Span::styled(created, t.muted())),
                ]);
                self.list.mark(row, window.start + i, ctx)
            })
            .collect();
        let header =
            Row::new(["OPERATOR", "ROLE", "MFA", "BACKUP", "SIGN-IN", "CREATED"]).style(t.muted());
        let table = Table::new(
            body,
            [
                Constraint::Fill(2),
                Constraint::Length(9),
                Constraint::Length(10),
                Constraint::Length(7),
                Constraint::Length(12),
                Constraint::Length(10),
            ],
        )
        .header(header)
        .block(block);
        frame.render_widget(table, area);
        if self.rows.is_none() || self.error.is_some() {
            let text = match &self.error {
                Some(e) => Line::styled(e.clone(), t.role(Tone::Danger)),
                None => Line::styled("loading operators…", t.muted()),
            };
            let inner = Rect {
                x: area.x + 2,
                y: area.y + 2,
                width: area.width.saturating_sub(4),
                height: 1,
            };
            if area.height > 3 {
                frame.render_widget(Paragraph::new(text), inner);
            }
        }
        self.render_codes(frame, area, ctx);
        self.render_token(frame, area, ctx);
    }

    /// Shows the operator `item` (from the Compliance pane's jump).
    fn show(&mut self, item: &str) -> bool {
        self.set_filter(Filter::new(&format!("^{} ", regex::escape(item))));
        !self.visible().is_empty()
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.list.filter = filter;
        self.list.selected = 0;
    }

    fn filter(&self) -> Option<&Filter> {
        self.list.filter.as_ref()
    }

    fn selected_text(&self, _shared: &Shared) -> Option<String> {
        if let Some(codes) = &self.codes {
            let all: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
            return Some(all.join("\n"));
        }
        if let Some((_, token)) = &self.token {
            return Some(token.expose().to_owned());
        }
        self.selected().map(|op| op.name.clone())
    }

    fn back(&mut self) -> bool {
        self.codes.take().is_some() | self.token.take().is_some()
    }

    fn lock(&mut self) {
        self.codes = None;
        self.token = None;
    }

    fn click(&mut self, row: u16) -> bool {
        let len = self.visible().len();
        self.list.click(row, len)
    }
}
