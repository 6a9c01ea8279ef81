//! The pane contract: every pane (Overview here, the domain panes in their
//! own folders) implements [`Pane`] and is registered in `console::panes()`.
//! A pane never does IO: it turns actions into [`Effect`]s and renders.

pub mod activity;
pub mod overview;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime};

use ratatui::Frame;
use ratatui::layout::Rect;

use super::actions::{ActionDef, name};
use super::filter::Filter;
use super::theme::Theme;
use crate::service::{Health, Level, ServiceEvent};

/// What a pane asks the console to do.
#[derive(Debug)]
pub enum Effect {
    /// A request for a service or the terminal.
    Request(super::app::Request),
    /// Ask the operator first; run `then` on yes.
    Confirm(super::app::ConfirmSpec),
    /// A line for the status bar and the activity log.
    Notify(Level, String),
    /// Focus the pane with this id and select `item` in it (e.g. an event's
    /// session in the sessions pane); see [`Pane::show`].
    Show { pane: &'static str, item: String },
    /// Open the command palette with this line typed in (for the operator
    /// to finish, e.g. a `silence` pre-filled with an alert's labels).
    Palette(String),
}

/// The console state every pane may read.
#[derive(Debug, Default)]
pub struct Shared {
    /// The signed-in operator and role (None before sign-in and while locked).
    pub operator: Option<(String, crate::auth::Role)>,
    pub services: Vec<ServiceRow>,
    pub activity: VecDeque<ActivityEntry>,
    /// Entries pushed out of the bounded activity log.
    pub activity_dropped: u64,
    /// The users with open anomalies (new or acknowledged).
    pub flagged_users: std::sync::Arc<std::collections::BTreeSet<String>>,
}

pub const ACTIVITY_CAPACITY: usize = 5000;
/// The window over which event rates are computed.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct ServiceRow {
    pub name: &'static str,
    pub health: Option<Health>,
    pub processed: u64,
    buckets: VecDeque<(Instant, u64)>,
    pub figures: BTreeMap<&'static str, String>,
}

impl ServiceRow {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            health: None,
            processed: 0,
            buckets: VecDeque::new(),
            figures: BTreeMap::new(),
        }
    }

    /// Events per second over the last [`RATE_WINDOW`].
    pub fn rate(&self, now: Instant) -> f64 {
        let sum: u64 = self
            .buckets
            .iter()
            .filter(|(t, _)| now.duration_since(*t) < RATE_WINDOW)
            .map(|(_, n)| n)
            .sum();
        sum as f64 / RATE_WINDOW.as_secs_f64()
    }

    fn record(&mut self, now: Instant, count: u64) {
        self.processed += count;
        match self.buckets.back_mut() {
            Some((t, n)) if now.duration_since(*t) < Duration::from_secs(1) => *n += count,
            _ => self.buckets.push_back((now, count)),
        }
        while self
            .buckets
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= RATE_WINDOW)
        {
            self.buckets.pop_front();
        }
    }
}

#[derive(Clone, Debug)]
pub struct ActivityEntry {
    pub at: SystemTime,
    pub source: &'static str,
    pub level: Level,
    pub message: String,
}

impl Shared {
    pub fn service_mut(&mut self, name: &'static str) -> &mut ServiceRow {
        if let Some(i) = self.services.iter().position(|s| s.name == name) {
            return &mut self.services[i];
        }
        self.services.push(ServiceRow::new(name));
        self.services.last_mut().expect("just pushed")
    }

    pub fn log(&mut self, source: &'static str, level: Level, message: String, at: SystemTime) {
        if self.activity.len() >= ACTIVITY_CAPACITY {
            self.activity.pop_front();
            self.activity_dropped += 1;
        }
        self.activity.push_back(ActivityEntry {
            at,
            source,
            level,
            message,
        });
    }

    /// Applies a service event; returns whether anything visible changed.
    pub fn apply(&mut self, ev: ServiceEvent, now: Instant) -> bool {
        match ev {
            ServiceEvent::Health { service, health } => {
                let row = self.service_mut(service);
                let changed = row.health.as_ref() != Some(&health);
                row.health = Some(health);
                changed
            }
            ServiceEvent::Activity {
                service,
                level,
                message,
                at,
            }
            | ServiceEvent::Outcome {
                service,
                level,
                message,
                at,
            } => {
                self.log(service, level, message, at);
                true
            }
            ServiceEvent::Processed { service, count } => {
                self.service_mut(service).record(now, count);
                false
            }
            ServiceEvent::Figure {
                service,
                label,
                value,
            } => {
                self.service_mut(service)
                    .figures
                    .insert(label, value.clone())
                    .as_ref()
                    != Some(&value)
            }
            ServiceEvent::Flagged { users, .. } => {
                let changed = *self.flagged_users != *users;
                self.flagged_users = users;
                changed
            }
            // The console's sign-in gate handles these.
            ServiceEvent::Auth(_) => false,
        }
    }
}

pub struct RenderCtx<'a> {
    pub theme: &'a Theme,
    pub shared: &'a Shared,
    pub now: Instant,
    pub wall: SystemTime,
    pub focused: bool,
    /// Times in UTC (else local time).
    pub utc: bool,
}

pub trait Pane {
    /// Stable id: the `:pane` argument and the pane's keymap scope.
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// The pane's own actions (scope = `id()`).
    fn actions(&self) -> Vec<ActionDef> {
        Vec::new()
    }
    /// Handles a pane or list action; returns whether anything changed.
    fn handle(&mut self, action: &str, shared: &Shared, effects: &mut Vec<Effect>) -> bool;
    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx);
    fn set_filter(&mut self, filter: Option<Filter>);
    fn filter(&self) -> Option<&Filter>;
    /// The text `y` copies.
    fn selected_text(&self, shared: &Shared) -> Option<String>;
    /// A mouse click on the `row`th line of the pane's area.
    fn click(&mut self, _row: u16) -> bool {
        false
    }
    /// Selects `item` (an id this pane lists, e.g. a session id) for
    /// [`Effect::Show`]; returns whether it was found.
    fn show(&mut self, _item: &str) -> bool {
        false
    }
    /// A palette command that this pane runs (`silence ...`); returns
    /// whether it is this pane's.
    fn command(&mut self, _name: &str, _arg: &str, _effects: &mut Vec<Effect>) -> bool {
        false
    }
    /// Called when shared state changed; returns whether the pane must redraw
    /// beyond what the console already redraws.
    fn shared_changed(&mut self, _shared: &Shared) {}
    /// Takes what its domain's service sent on the domain's own channel
    /// since the last wake-up; returns whether the pane must redraw.
    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        false
    }
    /// An event on the console's common channel (health, activity, sign-in);
    /// returns whether the pane must redraw.
    fn service_event(&mut self, _ev: &ServiceEvent, _effects: &mut Vec<Effect>) -> bool {
        false
    }
    /// `back` (esc): close the pane's own overlay or detail view first;
    /// returns whether it did.
    fn back(&mut self) -> bool {
        false
    }
    /// The console locked (idle time out): drop what must not outlive the
    /// sign-in that opened it: forms half filled in, revealed values, codes
    /// shown once. The next operator starts from the pane's plain view.
    fn lock(&mut self) {}
    /// Whether the pane is editing text now: keys then go to
    /// [`Pane::text_key`] instead of the keymap.
    fn editing(&self) -> bool {
        false
    }
    /// A key while [`Pane::editing`]; returns whether anything changed.
    fn text_key(&mut self, _key: crossterm::event::KeyEvent, _effects: &mut Vec<Effect>) -> bool {
        false
    }
}

/// Selection and scrolling of a list, shared by every list pane.
#[derive(Clone, Debug, Default)]
pub struct ListView {
    pub selected: usize,
    pub offset: usize,
    /// Rows visible at the last render (for paging).
    pub height: usize,
    pub filter: Option<Filter>,
    /// First line of the list body inside the pane's area (for clicks).
    pub body_top: u16,
}

impl ListView {
    /// Applies a list action to a list of `len` rows.
    pub fn navigate(&mut self, action: &str, len: usize) -> bool {
        let before = self.selected;
        let last = len.saturating_sub(1);
        let page = self.height.max(1);
        self.selected = match action {
            name::UP => self.selected.saturating_sub(1),
            name::DOWN => (self.selected + 1).min(last),
            name::TOP => 0,
            name::BOTTOM => last,
            name::HALF_PAGE_UP => self.selected.saturating_sub(page / 2),
            name::HALF_PAGE_DOWN => (self.selected + page / 2).min(last),
            name::PAGE_UP => self.selected.saturating_sub(page),
            name::PAGE_DOWN => (self.selected + page).min(last),
            _ => return false,
        };
        self.selected != before
    }

    /// The rows to draw in `height` lines, scrolled so the selection shows.
    pub fn window(&mut self, len: usize, height: usize) -> Range<usize> {
        self.height = height;
        if len == 0 || height == 0 {
            self.selected = 0;
            self.offset = 0;
            return 0..0;
        }
        self.selected = self.selected.min(len - 1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
        self.offset..(self.offset + height).min(len)
    }

    /// `row` (the `index`th of the list) in the selection style when it is
    /// the selected row of the focused pane.
    pub fn mark<'a>(
        &self,
        row: ratatui::widgets::Row<'a>,
        index: usize,
        ctx: &RenderCtx,
    ) -> ratatui::widgets::Row<'a> {
        if index == self.selected && ctx.focused {
            row.style(ctx.theme.selection())
        } else {
            row
        }
    }

    pub fn click(&mut self, row: u16, len: usize) -> bool {
        let Some(i) = row.checked_sub(self.body_top) else {
            return false;
        };
        let idx = self.offset + i as usize;
        if idx < len && idx != self.selected {
            self.selected = idx;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_navigation_and_scrolling() {
        let mut l = ListView::default();
        assert_eq!(l.window(100, 10), 0..10);
        assert!(l.navigate(name::BOTTOM, 100));
        assert_eq!(l.window(100, 10), 90..100);
        assert!(l.navigate(name::HALF_PAGE_UP, 100));
        assert_eq!(l.selected, 94);
        l.navigate(name::TOP, 100);
        assert_eq!(l.window(100, 10), 0..10);
        assert!(!l.navigate(name::UP, 100));
        l.navigate(name::PAGE_DOWN, 100);
        assert_eq!(l.selected, 10);
        // The list shrinks under the selection.
        assert_eq!(l.window(3, 10), 0..3);
        assert_eq!(l.selected, 2);
        assert_eq!(l.window(0, 10), 0..0);
    }

    #[test]
    fn rates_cover_the_last_window_only() {
        let mut row = ServiceRow::new("x");
        let t0 = Instant::now();
        row.record(t0, 50);
        row.record(t0 + Duration::from_secs(5), 50);
        assert_eq!(row.rate(t0 + Duration::from_secs(5)), 10.0);
        assert_eq!(row.rate(t0 + Duration::from_secs(12)), 5.0);
        assert_eq!(row.rate(t0 + Duration::from_secs(30)), 0.0);
        assert_eq!(row.processed, 100);
    }
}
