//! The Overview: every service and backend with its state, round-trip time,
//! event rate and figures, and the most recent problems.

use crate::display::clean_line;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::fmt;
use crate::console::theme::Role;
use crate::service::{HealthState, Level, ServiceEvent};
use crate::store::service::StoreRequest;

pub const ID: &str = "overview";
const REFRESH: &str = "refresh";
const COMPACT: &str = "compact_store";

#[derive(Default)]
pub struct Overview {
    list: ListView,
}

/// The state of a service as a role (for colours) and a word.
pub fn state_role(state: Option<HealthState>) -> Role {
    match state {
        Some(HealthState::Connected) => Role::Ok,
        Some(HealthState::Starting) | None => Role::Muted,
        Some(HealthState::Degraded | HealthState::Reconnecting) => Role::Warn,
        Some(HealthState::Down) => Role::Danger,
        Some(HealthState::Stopped) => Role::Muted,
    }
}

fn row_text(s: &super::ServiceRow) -> String {
    let h = s.health.as_ref();
    format!(
        "{} {} {} {} {}",
        s.name,
        h.map_or("", |h| h.backend.label()),
        h.map_or("starting", |h| h.state.label()),
        h.map_or("", |h| h.target.as_str()),
        h.and_then(|h| h.last_error.as_deref()).unwrap_or("")
    )
}

impl Overview {
    fn visible<'a>(&self, shared: &'a Shared) -> Vec<&'a super::ServiceRow> {
        shared
            .services
            .iter()
            .filter(|s| {
                self.list
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.keeps(&row_text(s)))
            })
            .collect()
    }
}

impl Pane for Overview {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Overview"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, REFRESH, "Probe every backend now").hint(),
            ActionDef::new(ID, COMPACT, "Compact the embedded store")
                .mutating()
                .guarded("store.compact"),
        ]
    }

    fn handle(&mut self, action: &str, shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        match action {
            REFRESH => {
                effects.push(Effect::Request(Request::ProbeAll));
                effects.push(Effect::Notify(Level::Info, "probing every backend".into()));
                true
            }
            COMPACT => {
                effects.push(Effect::Confirm(ConfirmSpec {
                    title: "Compact the embedded store?".into(),
                    body: "SQLite VACUUM rewrites the store file; other windflow processes wait until it is done."
                        .into(),
                    typed: None,
                    action: COMPACT,
                    pending: "compacting the embedded store".into(),
                    guard: Some("store.compact"),
                    then: vec![Request::domain(StoreRequest::Compact)],
                }));
                true
            }
            name::SELECT => false,
            other => {
                let len = self.visible(shared).len();
                self.list.navigate(other, len)
            }
        }
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let rows = self.visible(ctx.shared);
        let problems: Vec<_> = ctx
            .shared
            .activity
            .iter()
            .rev()
            // Services' troubles and serious security events; the console's
            // own notices (input mistakes, outcomes) stay in the status line.
            .filter(|e| e.level >= Level::Warn && e.source != "console")
            .take(8)
            .collect();
        let services_height =
            (rows.len() as u16 + 3).clamp(4, area.height.saturating_sub(5).max(4));
        let [top, bottom] =
            Layout::vertical([Constraint::Length(services_height), Constraint::Min(0)]).areas(area);

        let title = match &self.list.filter {
            Some(f) => format!(
                " Services  /{} ({} of {}) ",
                f.text,
                rows.len(),
                ctx.shared.services.len()
            ),
            None => format!(" Services ({}) ", rows.len()),
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Span::styled(title, t.title()));
        let inner_height = top.height.saturating_sub(3) as usize;
        let window = self.list.window(rows.len(), inner_height);
        self.list.body_top = 2;
        let hl = t.highlight();
        // Below this width the backend, RTT and rate columns give way, so that the
        // figures and the last error (what an on-call engineer reads first) fit.
        let wide = top.width >= 110;
        let keep = |column: usize| wide || !matches!(column, 1 | 3 | 4);
        let pick = |cells: Vec<Cell<'static>>| -> Vec<Cell<'static>> {
            cells
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, c)| c)
                .collect()
        };
        let header = Row::new(pick(
            [
                "SERVICE",
                "BACKEND",
                "STATE",
                "RTT",
                "RATE",
                "FIGURES",
                "TARGET / LAST ERROR",
            ]
            .map(Cell::from)
            .to_vec(),
        ))
        .style(t.muted());
        let body: Vec<Row> = rows[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = s.health.as_ref();
                let state = h.map(|h| h.state);
                let figures = s
                    .figures
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let (detail, detail_style) = match h.and_then(|h| h.last_error.as_deref()) {
                    Some(e) => (e.to_string(), t.role(Role::Danger)),
                    None => (h.map_or(String::new(), |h| h.target.clone()), t.muted()),
                };
                let f = self.list.filter.as_ref();
                let cell = |text: String, style: Style| {
                    Cell::from(Line::from(filter::spans(f, &text, style, hl)))
                };
                let row = Row::new(pick(vec![
                    cell(s.name.to_string(), t.text()),
                    cell(h.map_or("—", |h| h.backend.label()).to_string(), t.text()),
                    cell(
                        format!(
                            "{} {}",
                            crate::console::view::state_symbol(state),
                            state.map_or("starting", |s| s.label())
                        ),
                        t.role(state_role(state)),
                    ),
                    Cell::from(fmt::rtt(h.and_then(|h| h.rtt))),
                    Cell::from(fmt::rate(s.rate(ctx.now))),
                    cell(figures, t.text()),
                    cell(detail, detail_style),
                ]));
                self.list.mark(row, window.start + i, ctx)
            })
            .collect();
        let table = Table::new(
            body,
            [
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(15),
                Constraint::Length(8),
                Constraint::Length(7),
                Constraint::Fill(1),
                Constraint::Fill(if wide { 2 } else { 1 }),
            ]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, c)| c),
        )
        .header(header)
        .block(block);
        frame.render_widget(table, top);

        if bottom.height < 3 {
            return;
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(false))
            .title(Span::styled(" Recent problems ", t.title()));
        // A service that is not well says so here too, even with no event of it.
        let unwell: Vec<&str> = ctx
            .shared
            .services
            .iter()
            .filter(|s| {
                s.health.as_ref().is_some_and(|h| {
                    matches!(
                        h.state,
                        HealthState::Degraded | HealthState::Reconnecting | HealthState::Down
                    )
                })
            })
            .map(|s| s.name)
            .collect();
        let lines: Vec<Line> = if problems.is_empty() && !unwell.is_empty() {
            vec![Line::styled(
                format!(
                    "No warning or error recorded, but not every service is well: {} (see its row above).",
                    unwell.join(", ")
                ),
                t.role(Role::Warn),
            )]
        } else if problems.is_empty() {
            vec![Line::styled(
                "No warnings or errors. Alerts appear here once an alert source is configured.",
                t.muted(),
            )]
        } else {
            problems
                .iter()
                .map(|e| {
                    let role = if e.level == Level::Error {
                        Role::Danger
                    } else {
                        Role::Warn
                    };
                    Line::from(vec![
                        Span::styled(fmt::clock_time(e.at, ctx.utc), t.muted()),
                        Span::raw(" "),
                        // One space after the source, however long its name.
                        Span::styled(format!("{:<7} ", e.source), t.accent()),
                        Span::styled(clean_line(&e.message).into_owned(), t.role(role)),
                    ])
                })
                .collect()
        };
        frame.render_widget(Paragraph::new(lines).block(block), bottom);
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.list.filter = filter;
        self.list.selected = 0;
    }

    fn filter(&self) -> Option<&Filter> {
        self.list.filter.as_ref()
    }

    fn selected_text(&self, shared: &Shared) -> Option<String> {
        self.visible(shared)
            .get(self.list.selected)
            .map(|s| row_text(s).trim().to_string())
    }

    fn click(&mut self, row: u16) -> bool {
        // Only the services table is clickable; its length is not known
        // here, so clamp at the next render.
        self.list.click(row, usize::MAX)
    }
}

/// Whether an event could change what the Overview shows.
pub fn affects(ev: &ServiceEvent) -> bool {
    !matches!(ev, ServiceEvent::Processed { .. })
}
