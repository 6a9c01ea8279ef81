//! Drawing the whole console: pane bar, focused pane, footer, status bar and
//! the overlays (help, palette, confirmation).

use crate::display::{Untrusted, clean, clean_line};
use std::time::{Instant, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::actions::{self, name};
use super::app::{App, HitMap, Mode};
use super::help;
use super::panes::{RenderCtx, overview::state_role};
use super::theme::Role;
use crate::service::Level;

/// The smallest size the console draws in.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 10;

pub fn render(app: &mut App, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "WindFlow needs {MIN_WIDTH}x{MIN_HEIGHT}; this terminal is {}x{}",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    if !app.gate.is_open() {
        // Nothing but the gate until an operator has signed in.
        let [body, status] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
        app.gate.render(&app.theme, frame, body);
        status_bar(app, frame, status);
        return;
    }
    let mut hits = HitMap::default();
    let (bar, body, footer, status) = if app.zoom {
        let [body, status] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
        (None, body, None, status)
    } else {
        let [bar, body, footer, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        (Some(bar), body, Some(footer), status)
    };
    if let Some(bar) = bar {
        pane_bar(app, frame, bar, &mut hits);
    }
    hits.pane = body;
    {
        let App {
            panes,
            shared,
            theme,
            focus,
            mode,
            settings,
            ..
        } = app;
        let ctx = RenderCtx {
            theme,
            shared,
            now: Instant::now(),
            wall: SystemTime::now(),
            focused: matches!(mode, Mode::Normal | Mode::Filter(_)),
            utc: settings.utc_clock,
        };
        panes[*focus].render(frame, body, &ctx);
    }
    match footer {
        Some(f) => footer_line(app, frame, f),
        // Zoomed: inputs still need a line; borrow the pane's last one.
        None if !matches!(app.mode, Mode::Normal) => {
            let line = Rect {
                y: body.y + body.height - 1,
                height: 1,
                ..body
            };
            footer_line(app, frame, line);
        }
        None => {}
    }
    status_bar(app, frame, status);
    overlays(app, frame, body, footer.unwrap_or(status));
    app.hits = hits;
}

fn pane_bar(app: &App, frame: &mut Frame, area: Rect, hits: &mut HitMap) {
    let t = &app.theme;
    frame.render_widget(Block::default().style(t.bar()), area);
    // The widest form that fits: brand and full titles; then no brand; then
    // closer together; then the unfocused panes as their first letters,
    // then those closer together; then as numbers only.
    // Each pane's number key: 1 to 9, then 0; later panes have none (`:pane`).
    let key = |i: usize| match i {
        0..9 => format!("{} ", i + 1),
        9 => "0 ".to_string(),
        _ => String::new(),
    };
    let label = |i: usize, title: &str, level: u8| {
        let short: String = title.chars().take(3).collect();
        let key = key(i);
        match level {
            _ if i == app.focus => format!(" {key}{title} "),
            0 | 1 => format!(" {key}{title} "),
            2 => format!(" {key}{title}"),
            3 => format!(" {key}{short} "),
            4 => format!(" {key}{short}"),
            _ if key.is_empty() => format!(" {short} "),
            _ => format!(" {key}"),
        }
    };
    let brand = " WindFlow ";
    let width = |level: u8| {
        let tabs: usize = app
            .panes
            .iter()
            .enumerate()
            .map(|(i, p)| label(i, p.title(), level).chars().count() + 1)
            .sum();
        tabs + if level == 0 { brand.len() + 1 } else { 0 }
    };
    let level = (0..5)
        .find(|l| width(*l) <= area.width as usize)
        .unwrap_or(5);
    let mut spans = Vec::new();
    let mut x = area.x;
    if level == 0 {
        spans.push(Span::styled(brand, t.bar_active()));
        spans.push(Span::styled(" ", t.bar()));
        x += brand.len() as u16 + 1;
    }
    hits.tab_row = Some(area.y);
    for (i, p) in app.panes.iter().enumerate() {
        let label = label(i, p.title(), level);
        let w = label.chars().count() as u16;
        let style = if i == app.focus {
            t.bar_active()
        } else {
            t.bar()
        };
        hits.tabs.push((x, x + w, i));
        spans.push(Span::styled(label, style));
        spans.push(Span::styled(" ", t.bar()));
        x += w + 1;
    }
    frame.render_widget(Line::from(spans), area);
}

/// Key hints for the footer, generated from the keymap: `key label` pairs.
pub fn hints(app: &App) -> Vec<(String, String)> {
    let scopes = [app.pane().id(), actions::LIST, actions::GLOBAL];
    let first_key = |scope: &str, action: &str| {
        app.keymap
            .binding(scope, action)
            .and_then(|b| b.keys.first())
            .map(|(k, _)| k.to_string())
    };
    let mut out = Vec::new();
    if let (Some(up), Some(down)) = (
        first_key(actions::LIST, name::UP),
        first_key(actions::LIST, name::DOWN),
    ) {
        out.push((format!("{down}/{up}"), "move".to_string()));
    }
    for scope in scopes {
        for def in app.registry.in_scope(scope).filter(|d| d.hint) {
            if scope == actions::LIST && (def.name == name::UP || def.name == name::DOWN) {
                continue;
            }
            if let Some(k) = first_key(scope, def.name) {
                out.push((k, def.name.replace('_', " ")));
            }
        }
    }
    out
}

fn mode_hints(app: &App, scope: &str) -> Vec<(String, String)> {
    app.registry
        .in_scope(scope)
        .filter(|d| d.hint)
        .filter_map(|d| {
            let k = app
                .keymap
                .binding(scope, d.name)?
                .keys
                .first()?
                .0
                .to_string();
            Some((k, d.name.replace('_', " ")))
        })
        .collect()
}

fn hint_spans(app: &App, hints: Vec<(String, String)>, width: u16) -> Line<'static> {
    let t = &app.theme;
    let mut spans = Vec::new();
    let mut used = 0usize;
    for (k, label) in hints {
        let w = k.chars().count() + label.chars().count() + 3;
        if used + w > width as usize {
            break;
        }
        used += w;
        spans.push(Span::styled(format!(" {k}"), t.accent()));
        spans.push(Span::styled(format!(" {label} "), t.muted()));
    }
    Line::from(spans)
}

fn footer_line(app: &mut App, frame: &mut Frame, area: Rect) {
    let t = app.theme.clone();
    frame.render_widget(Clear, area);
    let input_line =
        |frame: &mut Frame, prompt: &str, input: &ratatui_textarea::TextArea<'static>| {
            let [p, field] = Layout::horizontal([
                Constraint::Length(prompt.chars().count() as u16),
                Constraint::Fill(1),
            ])
            .areas(area);
            frame.render_widget(Span::styled(prompt.to_string(), t.accent()), p);
            frame.render_widget(input, field);
        };
    match &app.mode {
        Mode::Filter(input) => input_line(frame, "/", input),
        Mode::Palette(p) => input_line(frame, ":", &p.input),
        Mode::StepUp(s) => {
            let prompt = match (&s.error, s.busy) {
                (_, true) => format!("verifying the code for {}… ", s.action),
                (Some(e), _) => format!("{e} · code for {}: ", s.action),
                (None, _) => format!("{} needs a fresh code: ", s.action),
            };
            input_line(frame, &prompt, &s.input)
        }
        Mode::Confirm(c) if c.spec.typed.is_some() => {
            let name = c.spec.typed.as_deref().unwrap_or_default();
            let line = Line::from(vec![
                Span::styled(" type ", t.muted()),
                Span::styled(clean_line(name).into_owned(), t.role(Role::Warn)),
                Span::styled(" then Enter to confirm · Esc cancels", t.muted()),
            ]);
            frame.render_widget(line, area);
        }
        Mode::Help(_) | Mode::Confirm(_) => {
            let scope = if matches!(app.mode, Mode::Help(_)) {
                actions::HELP
            } else {
                actions::CONFIRM
            };
            frame.render_widget(hint_spans(app, mode_hints(app, scope), area.width), area);
        }
        Mode::Normal => {
            if !app.pending.is_empty() {
                let keys: Vec<String> = app.pending.iter().map(|k| k.to_string()).collect();
                let line = Line::from(vec![
                    Span::styled(format!(" {} ", keys.join(" ")), t.badge(Role::Accent)),
                    Span::styled(" waiting for the next key (Esc cancels)", t.muted()),
                ]);
                frame.render_widget(line, area);
            } else if let Some((level, text, _)) = &app.message {
                let role = match level {
                    Level::Info => Role::Text,
                    Level::Warn => Role::Warn,
                    Level::Error => Role::Danger,
                };
                // Messages quote names and server answers: one line, escaped.
                frame.render_widget(
                    Line::styled(format!(" {}", Untrusted(text)), t.role(role)),
                    area,
                );
            } else {
                frame.render_widget(hint_spans(app, hints(app), area.width), area);
            }
        }
    }
}

fn status_bar(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let s = &app.settings;
    frame.render_widget(Block::default().style(t.bar()), area);
    let who = match &app.gate {
        super::gate::Gate::Open(signed) if signed.auto => {
            format!(" {} (demo sign-in) ", signed.operator)
        }
        super::gate::Gate::Open(signed) => format!(" {} · {} ", signed.operator, signed.role),
        _ => " not signed in ".to_string(),
    };
    let mut left = vec![Span::styled(who, t.bar())];
    if let Some((env, color)) = &s.environment {
        left.push(Span::styled(
            format!(" {} ", env.to_uppercase()),
            t.badge_color(*color),
        ));
        left.push(Span::styled(" ", t.bar()));
    }
    if s.read_only {
        left.push(Span::styled(" READ-ONLY ", t.badge(Role::Warn)));
        left.push(Span::styled(" ", t.bar()));
    }
    if s.demo {
        left.push(Span::styled(" DEMO ", t.badge(Role::Accent)));
        left.push(Span::styled(" ", t.bar()));
    }
    if app.zoom {
        left.push(Span::styled(" ZOOM ", t.badge(Role::Muted)));
        left.push(Span::styled(" ", t.bar()));
    }
    let right = Span::styled(format!(" {} ", app.clock()), t.bar());
    let rw = right.width() as u16;
    let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Length(rw)]).areas(area);
    let used: usize = left.iter().map(Span::width).sum();
    left.extend(service_health(app, (l.width as usize).saturating_sub(used)));
    frame.render_widget(Line::from(left), l);
    frame.render_widget(Line::from(right), r);
}

/// Every service with its health symbol when they fit in `width`; otherwise the
/// services that are not connected by name, and the connected ones as a count.
fn service_health(app: &App, width: usize) -> Vec<Span<'static>> {
    let t = &app.theme;
    let symbol = |state| {
        let style = match t.mode {
            super::theme::ColorMode::None => Style::default(),
            _ => t.bar().patch(t.role(state_role(state))),
        };
        Span::styled(format!(" {}", state_symbol(state)), style)
    };
    let named = |svc: &super::panes::ServiceRow| {
        let state = svc.health.as_ref().map(|h| h.state);
        [
            Span::styled(format!(" {}", svc.name), t.bar()),
            symbol(state),
        ]
    };
    let services = &app.shared.services;
    let all: Vec<Span> = services.iter().flat_map(named).collect();
    if all.iter().map(Span::width).sum::<usize>() <= width {
        return all;
    }
    let connected = Some(crate::service::HealthState::Connected);
    let (up, other): (Vec<_>, Vec<_>) = services
        .iter()
        .partition(|svc| svc.health.as_ref().map(|h| h.state) == connected);
    let mut out: Vec<Span> = other.into_iter().flat_map(named).collect();
    if !up.is_empty() {
        out.push(Span::styled(format!(" {} up", up.len()), t.bar()));
        out.push(symbol(connected));
    }
    out
}

/// The symbol of a health state, the same in the status bar and the Overview.
pub fn state_symbol(state: Option<crate::service::HealthState>) -> &'static str {
    use crate::service::HealthState::*;
    match state {
        Some(Connected) => "●",
        Some(Degraded | Reconnecting) => "◐",
        Some(Down) => "✕",
        Some(Stopped) => "○",
        Some(Starting) | None => "…",
    }
}

fn overlays(app: &mut App, frame: &mut Frame, body: Rect, footer: Rect) {
    let mut mode = std::mem::replace(&mut app.mode, Mode::Normal);
    match &mut mode {
        Mode::Help(h) => {
            // Narrow terminals give help their whole width: descriptions are long.
            let area = if body.width < 110 {
                body
            } else {
                centered(body, 90, 100)
            };
            help::render(app, h, frame, area);
        }
        Mode::Palette(p) if !p.candidates.is_empty() => {
            let t = &app.theme;
            let n = p.candidates.len().min(8) as u16;
            let start = p.selected.unwrap_or(0).saturating_sub(n as usize - 1);
            // A command with its summary; an argument completion as it is.
            let text = |c: &String| {
                if c.contains(' ') {
                    return c.clone();
                }
                let summary = super::palette::find(c).map_or("", |d| d.summary);
                format!("{c:<9} {summary}")
            };
            let texts: Vec<String> = p.candidates.iter().map(text).collect();
            let width = texts.iter().map(|c| c.chars().count()).max().unwrap_or(10) as u16 + 2;
            let area = Rect {
                x: footer.x,
                y: footer.y.saturating_sub(n + 2),
                width: width.max(30).min(footer.width),
                height: n + 2,
            };
            frame.render_widget(Clear, area);
            let lines: Vec<Line> = texts
                .into_iter()
                .enumerate()
                .skip(start)
                .take(n as usize)
                .map(|(i, text)| {
                    let style = if Some(i) == p.selected {
                        t.selection()
                    } else {
                        t.text()
                    };
                    Line::styled(text, style)
                })
                .collect();
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border(true));
            frame.render_widget(Paragraph::new(lines).block(block), area);
        }
        Mode::Confirm(c) => {
            let t = &app.theme;
            let area = centered_fixed(body, 64, if c.spec.typed.is_some() { 9 } else { 7 });
            frame.render_widget(Clear, area);
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.role(Role::Danger))
                .title(Span::styled(
                    format!(" {} ", Untrusted(&c.spec.title)),
                    t.role(Role::Danger),
                ));
            let inner = block.inner(area);
            frame.render_widget(block, area);
            let mut lines = vec![Line::styled(clean(&c.spec.body).into_owned(), t.text())];
            match &c.spec.typed {
                Some(name) => lines.push(Line::from(vec![
                    Span::styled("Type ", t.text()),
                    Span::styled(clean_line(name).into_owned(), t.role(Role::Warn)),
                    Span::styled(" and press Enter to confirm; Esc cancels.", t.text()),
                ])),
                None => lines.push(Line::styled(
                    "y or Enter confirms; n or Esc cancels.",
                    t.muted(),
                )),
            }
            if let Some(e) = &c.error {
                lines.push(Line::styled(clean(e).into_owned(), t.role(Role::Danger)));
            }
            let input_rows = u16::from(c.spec.typed.is_some()) * 2;
            let [text, input] =
                Layout::vertical([Constraint::Fill(1), Constraint::Length(input_rows)])
                    .areas(inner);
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text);
            if c.spec.typed.is_some() {
                let field = Rect {
                    y: input.y + 1,
                    height: 1,
                    ..input
                };
                frame.render_widget(Span::styled("> ", t.accent()), Rect { width: 2, ..field });
                frame.render_widget(
                    &c.input,
                    Rect {
                        x: field.x + 2,
                        width: field.width.saturating_sub(2),
                        ..field
                    },
                );
            }
        }
        _ => {}
    }
    app.mode = mode;
}

fn centered(area: Rect, percent_x: u16, percent_y: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Percentage(percent_y)])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Percentage(percent_x)])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// A `width` x `height` rectangle centred in `area` (clamped to it).
pub fn centered_fixed(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}
