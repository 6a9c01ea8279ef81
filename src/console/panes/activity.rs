//! Activity: what the console and its services did and what went wrong,
//! newest last, bounded.

use crate::display::clean_line;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use super::{ActivityEntry, Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::actions::{ActionDef, name};
use crate::console::filter::{self, Filter};
use crate::console::fmt;
use crate::console::theme::Role;
use crate::service::Level;

pub const ID: &str = "activity";
const FOLLOW: &str = "follow";

pub struct Activity {
    list: ListView,
    /// Keep the newest entry selected as entries arrive.
    follow: bool,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            list: ListView::default(),
            follow: true,
        }
    }
}

fn entry_text(e: &ActivityEntry) -> String {
    format!("{} {} {}", level_label(e.level), e.source, e.message)
}

fn level_label(l: Level) -> &'static str {
    match l {
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl Activity {
    fn visible<'a>(&self, shared: &'a Shared) -> Vec<&'a ActivityEntry> {
        shared
            .activity
            .iter()
            .filter(|e| {
                self.list
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.keeps(&entry_text(e)))
            })
            .collect()
    }
}

impl Pane for Activity {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Activity"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![ActionDef::new(ID, FOLLOW, "Follow the newest entry").hint()]
    }

    fn handle(&mut self, action: &str, shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        let len = self.visible(shared).len();
        match action {
            FOLLOW => {
                self.follow = !self.follow;
                if self.follow {
                    self.list.selected = len.saturating_sub(1);
                }
                let word = if self.follow { "on" } else { "off" };
                effects.push(Effect::Notify(Level::Info, format!("follow {word}")));
                true
            }
            name::SELECT => false,
            other => {
                let moved = self.list.navigate(other, len);
                if moved {
                    self.follow = self.list.selected + 1 == len;
                }
                moved
            }
        }
    }

    fn shared_changed(&mut self, shared: &Shared) {
        if self.follow {
            self.list.selected = self.visible(shared).len().saturating_sub(1);
        }
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let rows = self.visible(ctx.shared);
        let mut title = format!(" Activity ({}", rows.len());
        if let Some(f) = &self.list.filter {
            title.push_str(&format!(" of {}, /{}", ctx.shared.activity.len(), f.text));
        }
        if ctx.shared.activity_dropped > 0 {
            title.push_str(&format!(", {} older dropped", ctx.shared.activity_dropped));
        }
        title.push_str(if self.follow { ") following " } else { ") " });
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Span::styled(title, t.title()));
        let window = self
            .list
            .window(rows.len(), area.height.saturating_sub(2) as usize);
        self.list.body_top = 1;
        let hl = t.highlight();
        let f = self.list.filter.as_ref();
        let body: Vec<Row> = rows[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let role = match e.level {
                    Level::Info => Role::Text,
                    Level::Warn => Role::Warn,
                    Level::Error => Role::Danger,
                };
                // Messages quote names and server answers: one line, escaped.
                let msg = filter::spans(f, &clean_line(&e.message), t.role(role), hl);
                let row = Row::new(vec![
                    Cell::from(fmt::clock_time(e.at, ctx.utc)).style(t.muted()),
                    Cell::from(level_label(e.level)).style(t.role(role)),
                    Cell::from(e.source).style(t.accent()),
                    Cell::from(Line::from(msg)),
                ]);
                self.list.mark(row, window.start + i, ctx)
            })
            .collect();
        let table = Table::new(
            body,
            [
                Constraint::Length(8),
                Constraint::Length(5),
                Constraint::Length(9),
                Constraint::Fill(1),
            ],
        )
        .block(block);
        frame.render_widget(table, area);
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.list.filter = filter;
        self.list.selected = 0;
        self.follow = false;
    }

    fn filter(&self) -> Option<&Filter> {
        self.list.filter.as_ref()
    }

    fn selected_text(&self, shared: &Shared) -> Option<String> {
        self.visible(shared).get(self.list.selected).map(|e| {
            format!(
                "{} {} {}: {}",
                chrono::DateTime::<chrono::Utc>::from(e.at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                level_label(e.level),
                e.source,
                e.message
            )
        })
    }

    fn click(&mut self, row: u16) -> bool {
        let moved = self.list.click(row, usize::MAX);
        if moved {
            self.follow = false;
        }
        moved
    }
}
