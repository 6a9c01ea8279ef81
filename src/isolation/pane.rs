//! The Isolation pane: each deployment's namespace with its badges (ingress
//! and egress denied by default, Pod Security level), quota warnings and
//! drift in the danger colour; the selected one's drift and problems below.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::service::{IsolationEvent, IsolationRequest};
use super::status::Status;
use crate::console::actions::{ActionDef, name};
use crate::console::app::Request;
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::Role;
use crate::display::clean_line;
use crate::service::DomainRx;

pub const ID: &str = super::service::NAME;
const REFRESH: &str = "refresh";

#[derive(Default)]
pub struct IsolationPane {
    list: ListView,
    statuses: Arc<Vec<Status>>,
    problems: Vec<String>,
    /// Nothing read yet.
    waiting: bool,
    feed: Option<DomainRx<IsolationEvent>>,
}

impl IsolationPane {
    /// The pane fed by the isolation service's channel.
    pub fn new(feed: DomainRx<IsolationEvent>) -> Self {
        Self {
            waiting: true,
            feed: Some(feed),
            ..Self::default()
        }
    }

    /// Shows these statuses (and what could not be read).
    pub fn set(&mut self, statuses: Arc<Vec<Status>>, problems: Vec<String>) {
        self.statuses = statuses;
        self.problems = problems;
        self.waiting = false;
    }

    fn visible(&self) -> Vec<&Status> {
        visible_in(&self.statuses, self.list.filter.as_ref())
    }
}

fn visible_in<'a>(statuses: &'a [Status], filter: Option<&Filter>) -> Vec<&'a Status> {
    statuses
        .iter()
        .filter(|s| filter.is_none_or(|f| f.keeps(&row_text(s))))
        .collect()
}

fn row_text(s: &Status) -> String {
    format!("{} {} {}", s.deployment, s.namespace, state_word(s))
}

fn state_word(s: &Status) -> &'static str {
    if !s.namespace_present {
        "not applied"
    } else if s.drifted() {
        "DRIFT"
    } else {
        "isolated"
    }
}

fn psa_level(s: &Status) -> String {
    s.psa
        .levels
        .iter()
        .find(|(mode, _)| mode == "enforce")
        .and_then(|(_, l)| l.clone())
        .unwrap_or_else(|| "none".into())
}

impl Pane for IsolationPane {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Isolation"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![ActionDef::new(ID, REFRESH, "Read the specs and the cluster folder now").hint()]
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        match action {
            REFRESH => {
                effects.push(Effect::Request(Request::domain(IsolationRequest::Refresh)));
                false
            }
            name::SELECT => false,
            other => self.list.navigate(other, self.visible().len()),
        }
    }

    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        match feed.drain().into_iter().last() {
            Some(IsolationEvent::Statuses { statuses, problems }) => {
                self.set(statuses, problems);
                true
            }
            None => false,
        }
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let statuses = Arc::clone(&self.statuses);
        let flt = self.list.filter.clone();
        let rows = visible_in(&statuses, flt.as_ref());
        let detail_h = if area.height >= 14 { 7 } else { 0 };
        let [top, bottom] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
        let count = |word: &str| rows.iter().filter(|s| state_word(s) == word).count();
        let mut title = format!(" Isolation ({} deployments", self.statuses.len());
        for (n, word) in [
            (count("DRIFT"), "drifted"),
            (count("not applied"), "not applied"),
        ] {
            if n > 0 {
                title.push_str(&format!(", {n} {word}"));
            }
        }
        if let Some(f) = &self.list.filter {
            title.push_str(&format!(", /{}", clean_line(&f.text)));
        }
        title.push_str(") ");
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Span::styled(title, t.title()));
        if rows.is_empty() {
            let text = if self.waiting {
                "reading the deployment specs and the cluster folder…".to_string()
            } else if let Some(p) = self.problems.first() {
                format!("nothing to show: {}", clean_line(p))
            } else {
                "no deployment specs: add one to deployments_dir (see `windflow deployments`)"
                    .to_string()
            };
            let role = if self.problems.is_empty() {
                Role::Muted
            } else {
                Role::Danger
            };
            frame.render_widget(
                Paragraph::new(Line::styled(text, t.role(role)))
                    .wrap(Wrap { trim: true })
                    .block(block),
                top,
            );
            return;
        }
        let window = self
            .list
            .window(rows.len(), top.height.saturating_sub(3) as usize);
        self.list.body_top = 2;
        let yes_no = |b: bool| {
            if b {
                Span::styled("denied", t.role(Role::Ok))
            } else {
                Span::styled("OPEN", t.role(Role::Danger))
            }
        };
        let hl = t.highlight();
        let f = flt.as_ref();
        let body: Vec<Row> = rows[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let state_role = match state_word(s) {
                    "isolated" => Role::Ok,
                    "DRIFT" => Role::Danger,
                    _ => Role::Warn,
                };
                let quota = s
                    .quota_warnings
                    .iter()
                    .map(|q| q.percent)
                    .max()
                    .map_or("ok".to_string(), |p| format!("{p}% used"));
                let row = Row::new(vec![
                    Cell::from(Line::from(filter::spans(
                        f,
                        &clean_line(&s.deployment),
                        t.text(),
                        hl,
                    ))),
                    Cell::from(clean_line(&s.namespace).into_owned()).style(t.muted()),
                    Cell::from(yes_no(s.ingress_denied)),
                    Cell::from(yes_no(s.egress_denied)),
                    Cell::from(Span::styled(
                        psa_level(s),
                        t.role(if s.psa.lowered {
                            Role::Danger
                        } else {
                            Role::Text
                        }),
                    )),
                    Cell::from(Span::styled(
                        quota,
                        t.role(if s.quota_warnings.is_empty() {
                            Role::Muted
                        } else {
                            Role::Warn
                        }),
                    )),
                    Cell::from(Span::styled(state_word(s), t.role(state_role))),
                ]);
                self.list.mark(row, window.start + i, ctx)
            })
            .collect();
        let table = Table::new(
            body,
            [
                Constraint::Fill(2),
                Constraint::Fill(2),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(9),
                Constraint::Length(11),
            ],
        )
        .header(
            Row::new([
                "DEPLOYMENT",
                "NAMESPACE",
                "INGRESS",
                "EGRESS",
                "PSA",
                "QUOTA",
                "STATE",
            ])
            .style(t.muted()),
        )
        .block(block);
        frame.render_widget(table, top);
        if detail_h == 0 {
            return;
        }
        let mut lines: Vec<Line> = Vec::new();
        if let Some(s) = rows.get(self.list.selected) {
            if s.drift.is_empty() {
                lines.push(Line::styled("as planned", t.role(Role::Ok)));
            }
            for d in &s.drift {
                lines.push(Line::styled(
                    format!("drift: {}", clean_line(d)),
                    t.role(Role::Danger),
                ));
            }
            for q in &s.quota_warnings {
                lines.push(Line::styled(
                    format!(
                        "quota {}: {} {} of {} ({}%)",
                        clean_line(&q.quota),
                        clean_line(&q.resource),
                        clean_line(&q.used),
                        clean_line(&q.hard),
                        q.percent
                    ),
                    t.role(Role::Warn),
                ));
            }
        }
        for p in &self.problems {
            lines.push(Line::styled(
                format!("not read: {}", clean_line(p)),
                t.role(Role::Danger),
            ));
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(false))
            .title(Span::styled(" Drift ", t.title()));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            bottom,
        );
    }

    /// Shows the deployment `item` (from the Compliance pane's jump).
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
        self.visible()
            .get(self.list.selected)
            .map(|s| format!("{} {} {}", s.deployment, s.namespace, state_word(s)))
    }

    fn click(&mut self, row: u16) -> bool {
        self.list.click(row, self.visible().len())
    }
}
