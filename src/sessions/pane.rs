//! The Sessions pane: a live table of every session (user, type, IP, short
//! device fingerprint, age, idle time, TTL countdown, flags), sortable by any
//! column, filtered with `/`, with a detail view and revocation of one
//! session (confirm) or of all of a user's (typed confirmation, step-up).
//!
//! The rows come from the service's [`Snapshot`]; the pane keeps an order
//! (indices, filtered and sorted) rebuilt only when the snapshot, the filter
//! or the sort changes, and builds table rows for the visible window only.

use crate::display::{clean_line, code_points, looks_alike, skeleton};
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::backend::unreadable_groups;
use super::model::{Listed, human};
use super::service::{SessionsEvent, SessionsRequest, Snapshot, short};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::Role;
use crate::service::{DomainRx, Level};

pub const ID: &str = "sessions";
pub const SORT: &str = "sort";
pub const REVERSE: &str = "reverse";
pub const SORT_RISK: &str = "sort_risk";
pub const REVOKE: &str = "revoke";
pub const REVOKE_USER: &str = "revoke_user";
pub const USER: &str = "user";
/// An item of [`Pane::show`] naming a user (`user:NAME`): the pane then
/// shows only that user's sessions. Session ids have no `:`.
pub const USER_ITEM: &str = "user:";
/// The badge of a session whose user has open anomalies.
pub const ANOMALY_BADGE: &str = "⚠ anomaly";

/// What the table can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Risk,
    User,
    Type,
    Ip,
    Device,
    Age,
    Idle,
    Ttl,
}

impl Column {
    pub const ALL: [Column; 8] = [
        Column::Risk,
        Column::User,
        Column::Type,
        Column::Ip,
        Column::Device,
        Column::Age,
        Column::Idle,
        Column::Ttl,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Column::Risk => "risk",
            Column::User => "user",
            Column::Type => "type",
            Column::Ip => "ip",
            Column::Device => "device",
            Column::Age => "age",
            Column::Idle => "idle",
            Column::Ttl => "ttl",
        }
    }

    fn next(self) -> Self {
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[(i + 1) % Column::ALL.len()]
    }

    /// Ascending order of two rows by this column.
    fn cmp(self, a: &Listed, b: &Listed) -> Ordering {
        let (sa, sb) = (&a.session, &b.session);
        match self {
            // Low risk first; ties: the most recently active first.
            Column::Risk => a
                .risk()
                .cmp(&b.risk())
                .then(sa.last_activity.cmp(&sb.last_activity)),
            Column::User => sa.user_id.cmp(&sb.user_id),
            Column::Type => sa.session_type.cmp(&sb.session_type),
            Column::Ip => sa.ip_address.cmp(&sb.ip_address),
            Column::Device => sa.fingerprint.0.cmp(&sb.fingerprint.0),
            // Age ascending: youngest first (created latest).
            Column::Age => sb.created_at.cmp(&sa.created_at),
            Column::Idle => sb.last_activity.cmp(&sa.last_activity),
            Column::Ttl => a.expires_at.cmp(&b.expires_at),
        }
        .then_with(|| sa.id.cmp(&sb.id))
    }

    /// The order a fresh sort by this column starts in.
    fn default_descending(self) -> bool {
        matches!(self, Column::Risk)
    }
}

/// The text a filter matches a row against.
pub fn row_text(l: &Listed) -> String {
    let s = &l.session;
    format!(
        "{} {} {} {} {} {}",
        s.user_id,
        s.session_type.as_str(),
        s.ip_address,
        s.fingerprint.short(),
        flags(l),
        s.id
    )
}

fn flags(l: &Listed) -> String {
    match &l.hijack {
        Some(a) => format!("HIJACK {}", a.ip_address),
        None => String::new(),
    }
}

pub struct SessionsPane {
    list: ListView,
    sort: Column,
    descending: bool,
    detail: bool,
    snapshot: Option<Arc<Snapshot>>,
    /// Indices into the snapshot's rows: filtered and sorted.
    order: Vec<u32>,
    /// Set when the order must be rebuilt.
    stale: bool,
    /// Only this user's sessions (exactly; `u` on a row, again for all).
    only_user: Option<String>,
    feed: Option<DomainRx<SessionsEvent>>,
}

impl SessionsPane {
    /// How many sessions `user` has in the latest view, and on how many
    /// devices (fingerprints).
    fn sessions_of(&self, user: &str) -> (usize, usize) {
        let rows: Vec<&Listed> = self
            .snapshot
            .iter()
            .flat_map(|snap| snap.rows.iter())
            .map(|l| l.as_ref())
            .filter(|l| l.session.user_id == user && l.hijack.is_none())
            .collect();
        let mut devices: Vec<&str> = rows
            .iter()
            .map(|l| l.session.fingerprint.as_str())
            .collect();
        devices.sort_unstable();
        devices.dedup();
        (rows.len(), devices.len())
    }

    /// Shows the service's latest view of the session store.
    pub fn set_snapshot(&mut self, snap: Arc<Snapshot>) {
        self.snapshot = Some(snap);
        self.stale = true;
    }

    /// The latest view of the session store it shows.
    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }

    /// The pane fed by the sessions service's channel.
    pub fn new(feed: DomainRx<SessionsEvent>) -> Self {
        Self {
            feed: Some(feed),
            ..Self::default()
        }
    }
}

impl Default for SessionsPane {
    fn default() -> Self {
        Self {
            list: ListView::default(),
            sort: Column::Risk,
            descending: true,
            detail: false,
            snapshot: None,
            order: Vec::new(),
            stale: true,
            only_user: None,
            feed: None,
        }
    }
}

impl SessionsPane {
    /// The sort in effect: column and whether it is descending.
    pub fn sorting(&self) -> (Column, bool) {
        (self.sort, self.descending)
    }

    /// Rows in display order (for tests and `y`).
    pub fn rows(&mut self) -> Vec<&Listed> {
        self.refresh_order();
        let Some(snap) = &self.snapshot else {
            return Vec::new();
        };
        self.order
            .iter()
            .map(|i| &*snap.rows[*i as usize])
            .collect()
    }

    pub fn detail_open(&self) -> bool {
        self.detail
    }

    fn selected(&self) -> Option<&Listed> {
        let snap = self.snapshot.as_ref()?;
        let i = *self.order.get(self.list.selected)?;
        snap.rows.get(i as usize).map(|r| &**r)
    }

    /// Rebuilds the order if needed, keeping the selected session selected.
    fn refresh_order(&mut self) {
        if !self.stale {
            return;
        }
        self.stale = false;
        let keep = self
            .selected()
            .map(|l| (l.session.id.clone(), l.hijack.is_some()));
        let Some(snap) = &self.snapshot else {
            self.order.clear();
            return;
        };
        let f = self.list.filter.as_ref();
        let mut order: Vec<u32> = (0..snap.rows.len() as u32)
            .filter(|i| {
                let row = &snap.rows[*i as usize];
                self.only_user
                    .as_ref()
                    .is_none_or(|u| *u == row.session.user_id)
                    && f.is_none_or(|f| f.keeps(&row_text(row)))
            })
            .collect();
        let (col, desc) = (self.sort, self.descending);
        order.sort_unstable_by(|a, b| {
            let o = col.cmp(&snap.rows[*a as usize], &snap.rows[*b as usize]);
            if desc { o.reverse() } else { o }
        });
        if let Some((id, hijack)) = keep
            && let Some(pos) = order.iter().position(|i| {
                let r = &snap.rows[*i as usize];
                r.session.id == id && r.hijack.is_some() == hijack
            })
        {
            self.list.selected = pos;
        }
        self.order = order;
        self.list.selected = self.list.selected.min(self.order.len().saturating_sub(1));
    }

    fn sort_by(&mut self, col: Column) {
        self.sort = col;
        self.descending = col.default_descending();
        self.stale = true;
    }
}

/// The session store's health when it is not answering as it should
/// (reconnecting, degraded, down): what the pane shows instead of a list.
fn store_trouble(shared: &Shared) -> Option<&crate::service::Health> {
    use crate::service::HealthState;
    shared
        .services
        .iter()
        .find(|s| s.name == super::service::NAME)
        .and_then(|s| s.health.as_ref())
        .filter(|h| !matches!(h.state, HealthState::Connected | HealthState::Starting))
}

fn ago(now_ms: i64, at: i64) -> String {
    human((now_ms - at) / 1000)
}

fn wall_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Pane for SessionsPane {
    /// Selects the session (from the audit pane's jump) and opens its detail;
    /// a filter that hides it is cleared.
    fn show(&mut self, item: &str) -> bool {
        if let Some(user) = item.strip_prefix(USER_ITEM) {
            // Every session of the user (from the Anomalies pane): the
            // first selected, the detail closed, so `D` revokes them all.
            self.only_user = Some(user.to_owned());
            self.list.filter = None;
            self.list.selected = 0;
            self.detail = false;
            self.stale = true;
            self.sort_by(Column::Risk);
            return true;
        }
        for attempt in 0..2 {
            self.refresh_order();
            let Some(snap) = &self.snapshot else {
                return false;
            };
            let found = self
                .order
                .iter()
                .position(|i| snap.rows[*i as usize].session.id == item);
            if let Some(pos) = found {
                self.list.selected = pos;
                self.detail = true;
                return true;
            }
            if attempt == 0 && (self.list.filter.is_some() || self.only_user.is_some()) {
                self.list.filter = None;
                self.only_user = None;
                self.stale = true;
            } else {
                break;
            }
        }
        false
    }

    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Sessions"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, SORT, "Sort by the next column").hint(),
            ActionDef::new(ID, REVERSE, "Reverse the sort order"),
            ActionDef::new(ID, SORT_RISK, "Sort by risk (hijack attempts first)"),
            ActionDef::new(ID, USER, "Only the selected session's user (again: all)"),
            ActionDef::new(ID, REVOKE, "Revoke the selected session")
                .hint()
                .mutating()
                .guarded("sessions.revoke"),
            ActionDef::new(ID, REVOKE_USER, "Revoke every session of the selected user")
                .mutating()
                .guarded("sessions.revoke_user"),
        ]
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        self.refresh_order();
        match action {
            SORT => {
                self.sort_by(self.sort.next());
                true
            }
            SORT_RISK => {
                self.sort_by(Column::Risk);
                true
            }
            USER => {
                self.only_user = match (&self.only_user, self.selected()) {
                    (Some(_), _) | (None, None) => None,
                    (None, Some(l)) => Some(l.session.user_id.clone()),
                };
                self.list.selected = 0;
                self.stale = true;
                true
            }
            REVERSE => {
                self.descending = !self.descending;
                self.stale = true;
                true
            }
            name::SELECT => {
                self.detail = !self.detail && self.selected().is_some();
                true
            }
            REVOKE | REVOKE_USER => {
                let Some(l) = self.selected() else {
                    effects.push(Effect::Notify(Level::Info, "no session selected".into()));
                    return false;
                };
                let s = &l.session;
                let spec = if action == REVOKE {
                    ConfirmSpec {
                        title: format!("Revoke session {} of {}?", short(&s.id), s.user_id),
                        body: format!(
                            "{} session from {} ({}) ends now; the client must sign in again.",
                            s.session_type,
                            s.ip_address,
                            s.fingerprint.short()
                        ),
                        typed: None,
                        action: REVOKE,
                        pending: format!("revoking session {} of {}", short(&s.id), s.user_id),
                        guard: Some("sessions.revoke"),
                        then: vec![Request::domain(SessionsRequest::Revoke {
                            id: s.id.clone(),
                            by: String::new(),
                        })],
                    }
                } else {
                    // Users whose ids look like this one keep their sessions: say so.
                    let sk = skeleton(&s.user_id);
                    let mut alike: Vec<&str> = self
                        .snapshot
                        .iter()
                        .flat_map(|snap| snap.rows.iter())
                        .map(|l| l.session.user_id.as_str())
                        .filter(|u| *u != s.user_id && skeleton(u) == sk)
                        .collect();
                    alike.sort_unstable();
                    alike.dedup();
                    let others = if alike.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " NOT revoked, look alike: {}.",
                            alike
                                .iter()
                                .map(|u| format!("{} ({})", clean_line(u), code_points(u)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    // The effect, counted from what the pane lists: a
                    // revocation is undone by signing in again, so `y` confirms.
                    let (n, devices) = self.sessions_of(&s.user_id);
                    ConfirmSpec {
                        title: format!("Revoke every session of {}?", s.user_id),
                        body: format!(
                            "End {n} session{} of {} on {devices} device{} now; each client must sign in again.{others}",
                            if n == 1 { "" } else { "s" },
                            s.user_id,
                            if devices == 1 { "" } else { "s" },
                        ),
                        typed: None,
                        action: REVOKE_USER,
                        pending: format!("revoking every session of {}", s.user_id),
                        guard: Some("sessions.revoke_user"),
                        then: vec![Request::domain(SessionsRequest::RevokeUser {
                            user: s.user_id.clone(),
                            by: String::new(),
                        })],
                    }
                };
                effects.push(Effect::Confirm(spec));
                true
            }
            other => {
                let len = self.order.len();
                self.list.navigate(other, len)
            }
        }
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        self.refresh_order();
        let t = ctx.theme;
        let now = wall_ms(ctx.wall);
        let total = self.snapshot.as_ref().map_or(0, |s| s.rows.len());
        let (table_area, detail_area) = if self.detail && area.height >= 16 {
            let [a, b] = Layout::vertical([Constraint::Min(5), Constraint::Length(11)]).areas(area);
            (a, Some(b))
        } else if self.detail {
            (Rect::default(), Some(area))
        } else {
            (area, None)
        };

        let arrow = if self.descending { "↓" } else { "↑" };
        let user = self
            .only_user
            .as_ref()
            .map(|u| format!(" user={}", clean_line(u)))
            .unwrap_or_default();
        let title = match &self.list.filter {
            Some(f) => format!(
                " Sessions{user}  /{} ({} of {})  sort {} {arrow} ",
                f.text,
                self.order.len(),
                total,
                self.sort.label()
            ),
            None if self.only_user.is_some() => format!(
                " Sessions{user} ({} of {total})  sort {} {arrow} ",
                self.order.len(),
                self.sort.label()
            ),
            None => format!(" Sessions ({total})  sort {} {arrow} ", self.sort.label()),
        };
        // Rows kept from the last answer while the store does not answer.
        let title = match (store_trouble(ctx.shared), &self.snapshot) {
            (Some(h), Some(snap)) if total > 0 => format!(
                "{title}· store {}: as of {} ",
                h.state.label(),
                crate::console::fmt::clock_time(
                    UNIX_EPOCH + std::time::Duration::from_millis(snap.at.max(0) as u64),
                    ctx.utc,
                )
            ),
            _ => title,
        };
        // Records that did not open: counted and named where the list is.
        let unreadable: Vec<String> = self
            .snapshot
            .as_ref()
            .map(|snap| {
                unreadable_groups(&snap.unopened)
                    .iter()
                    .map(|(why, ids)| clean_line(&why.say(ids.len())).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Span::styled(title, t.title()));
        // With no row, the message in the list's place says it instead.
        if !unreadable.is_empty() && total > 0 {
            block = block.title_bottom(Span::styled(
                format!(" {} ", unreadable.join("; ")),
                t.role(Role::Warn),
            ));
        }
        if table_area.height > 0 {
            let inner_height = table_area.height.saturating_sub(3) as usize;
            let window = self.list.window(self.order.len(), inner_height);
            self.list.body_top = 2;
            let hl = t.highlight();
            let f = self.list.filter.as_ref();
            // Narrow terminals leave the device out, so that the flags
            // (HIJACK, LOOK-ALIKE) always show.
            let device = table_area.width >= 90;
            let headers: Vec<(&str, Option<Column>)> = [
                ("ID", None),
                ("USER", Some(Column::User)),
                ("TYPE", Some(Column::Type)),
                ("IP", Some(Column::Ip)),
                ("DEVICE", Some(Column::Device)),
                ("AGE", Some(Column::Age)),
                ("IDLE", Some(Column::Idle)),
                ("TTL", Some(Column::Ttl)),
                ("FLAGS", Some(Column::Risk)),
            ]
            .into_iter()
            .filter(|(h, _)| device || *h != "DEVICE")
            .collect();
            let header = Row::new(headers.iter().map(|(h, c)| {
                if *c == Some(self.sort) {
                    Cell::from(format!("{h}{arrow}")).style(t.accent())
                } else {
                    Cell::from(*h).style(t.muted())
                }
            }));
            let snap = self.snapshot.as_ref();
            let body: Vec<Row> = self.order[window.clone()]
                .iter()
                .enumerate()
                .filter_map(|(i, idx)| {
                    let l = snap?.rows.get(*idx as usize)?;
                    let s = &l.session;
                    let danger = l.hijack.is_some();
                    let base = if danger {
                        t.role(Role::Danger)
                    } else {
                        t.text()
                    };
                    // Outside text, one line per cell, through the display boundary.
                    let cell = |text: String, style: Style| {
                        Cell::from(Line::from(filter::spans(f, &clean_line(&text), style, hl)))
                    };
                    let ttl = (l.expires_at - now) / 1000;
                    let ttl_style = if danger {
                        base
                    } else if ttl < 300 {
                        t.role(Role::Warn)
                    } else {
                        t.text()
                    };
                    let mut cells = vec![
                        cell(short(&s.id).to_string(), base),
                        cell(s.user_id.clone(), base),
                        cell(s.session_type.as_str().to_string(), base),
                        cell(s.ip_address.to_string(), base),
                    ];
                    if device {
                        cells.push(cell(s.fingerprint.short().to_string(), base));
                    }
                    cells.extend([
                        Cell::from(ago(now, s.created_at)).style(base),
                        Cell::from(ago(now, s.last_activity)).style(base),
                        Cell::from(if danger {
                            "revoked".to_string()
                        } else {
                            human(ttl)
                        })
                        .style(ttl_style),
                        cell(
                            [
                                danger.then_some("HIJACK"),
                                looks_alike(&s.user_id).then_some("LOOK-ALIKE"),
                                ctx.shared
                                    .flagged_users
                                    .contains(&s.user_id)
                                    .then_some(ANOMALY_BADGE),
                            ]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" "),
                            t.role(Role::Danger),
                        ),
                    ]);
                    let row = Row::new(cells);
                    Some(self.list.mark(row, window.start + i, ctx))
                })
                .collect();
            let empty = body.is_empty();
            let table = Table::new(
                body,
                [
                    Some(Constraint::Length(8)),
                    Some(Constraint::Length(12)),
                    Some(Constraint::Length(4)),
                    Some(Constraint::Length(15)),
                    device.then_some(Constraint::Length(8)),
                    Some(Constraint::Length(6)),
                    Some(Constraint::Length(6)),
                    Some(Constraint::Length(7)),
                    Some(Constraint::Fill(1)),
                ]
                .into_iter()
                .flatten(),
            )
            .header(header)
            .block(block);
            frame.render_widget(table, table_area);
            if empty && table_area.height > 4 {
                let (msg, style) = match (store_trouble(ctx.shared), &self.snapshot) {
                    // Where the list would be: why there is none.
                    (Some(h), _) if total == 0 => (
                        format!(
                            "The session store is {}: {}. {}. The sessions are unknown until it answers (it retries by itself); this is not an empty list.",
                            h.state.label(),
                            h.target,
                            clean_line(h.last_error.as_deref().unwrap_or("no answer"))
                        ),
                        t.role(Role::Danger),
                    ),
                    (None, None) => (
                        "Waiting for the session store's first answer…".to_string(),
                        t.muted(),
                    ),
                    _ if total == 0 && !unreadable.is_empty() => (
                        format!(
                            "No session could be read: {}.",
                            unreadable.join("; ")
                        ),
                        t.role(Role::Warn),
                    ),
                    _ if total == 0 => (
                        "No sessions. Create one with `windflow sessions create`, or start with --demo."
                            .to_string(),
                        t.muted(),
                    ),
                    _ => (
                        "No session matches the filter (Esc clears it).".to_string(),
                        t.muted(),
                    ),
                };
                let inner = Rect {
                    x: table_area.x + 2,
                    y: table_area.y + 3,
                    width: table_area.width.saturating_sub(4),
                    height: table_area.height.saturating_sub(4).min(5),
                };
                frame.render_widget(
                    Paragraph::new(msg).style(style).wrap(Wrap { trim: true }),
                    inner,
                );
            }
        }

        if let Some(area) = detail_area {
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border(false))
                .title(Span::styled(" Session (Enter closes) ", t.title()));
            let lines: Vec<Line> = match self.selected() {
                None => vec![Line::styled("No session selected.", t.muted())],
                Some(l) => detail_lines(l, now, ctx),
            };
            frame.render_widget(Paragraph::new(lines).block(block), area);
        }
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.list.filter = filter;
        self.list.selected = 0;
        self.stale = true;
    }

    fn filter(&self) -> Option<&Filter> {
        self.list.filter.as_ref()
    }

    fn selected_text(&self, _shared: &Shared) -> Option<String> {
        self.selected().map(|l| {
            let s = &l.session;
            format!(
                "{} {} {} {} {}",
                s.id,
                s.user_id,
                s.session_type,
                s.ip_address,
                s.fingerprint.as_str()
            )
        })
    }

    fn click(&mut self, row: u16) -> bool {
        self.list.click(row, self.order.len())
    }

    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        // Only the newest snapshot counts.
        match feed.drain().into_iter().last() {
            Some(SessionsEvent::Snapshot(snap)) => {
                self.set_snapshot(snap);
                true
            }
            None => false,
        }
    }
}

fn detail_lines<'a>(l: &'a Listed, now: i64, ctx: &RenderCtx) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let s = &l.session;
    let at = |ms: i64| {
        crate::console::fmt::clock_time(
            UNIX_EPOCH + std::time::Duration::from_millis(ms as u64),
            ctx.utc,
        )
    };
    // Values quote user ids, user agents and permissions: one line, escaped.
    let field = |k: &'static str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<14}"), t.muted()),
            Span::styled(clean_line(&v).into_owned(), t.text()),
        ])
    };
    let mut lines = vec![
        field("id", s.id.clone()),
        field(
            "user / type",
            format!(
                "{} / {}   permissions: {}",
                s.user_id,
                s.session_type,
                if s.permissions.is_empty() {
                    "-".to_string()
                } else {
                    s.permissions.join(", ")
                }
            ),
        ),
        field("ip address", s.ip_address.to_string()),
        field("user agent", s.user_agent.clone()),
        field("fingerprint", s.fingerprint.as_str().to_string()),
        field(
            "times",
            format!(
                "created {} ({} ago), active {} ({} ago)",
                at(s.created_at),
                ago(now, s.created_at),
                at(s.last_activity),
                ago(now, s.last_activity),
            ),
        ),
        field(
            if l.hijack.is_some() {
                "record kept"
            } else {
                "expires in"
            },
            human((l.expires_at - now) / 1000),
        ),
    ];
    if looks_alike(&s.user_id) {
        // The marker of the list, explained: which characters are not ASCII.
        lines.insert(
            2,
            Line::from(vec![
                Span::styled(format!("{:<14}", "LOOK-ALIKE"), t.role(Role::Warn)),
                Span::styled(
                    format!(
                        "user id reads as {}: {}",
                        clean_line(&skeleton(&s.user_id)),
                        code_points(&s.user_id)
                    ),
                    t.role(Role::Warn),
                ),
            ]),
        );
    }
    if let Some(a) = &l.hijack {
        let danger = |k: &'static str, v: String| {
            Line::from(vec![
                Span::styled(format!("{k:<14}"), t.role(Role::Danger)),
                Span::styled(clean_line(&v).into_owned(), t.role(Role::Danger)),
            ])
        };
        lines.push(danger(
            "HIJACK",
            format!(
                "{} from {}, device {}: session revoked",
                at(a.at),
                a.ip_address,
                a.fingerprint.short()
            ),
        ));
        lines.push(danger("  its agent", a.user_agent.clone()));
    }
    lines
}
