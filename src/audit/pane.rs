//! The live tail pane: newest events last, follow or frozen (`f`), filters
//! by severity (`s`), time window (`w`), the selected event's type (`t`) and
//! user (`u`), free text with `/` (matches highlighted, `c` keeps context
//! lines), a detail view (`enter`), the alert channels and dead letters
//! (`D`), and the jump to the event's session in the sessions pane (`S`).
//! With an Alertmanager channel, `A` shows the alerts it holds from
//! WindFlow (active, silenced by which silence until when, or inhibited)
//! and its silences; `M` opens `:silence` pre-filled with the selected
//! alert's labels; `:silence` and `:unsilence` go to the audit service.
//!
//! The pane owns what it shows: a ring of the newest events (the capacity
//! of `[audit] tail_capacity`), the source it names in its title, and the
//! alert channels' state, all learnt from the audit service's
//! [`AuditEvent`]s; it never does IO. The filtered view is kept
//! incrementally: each render only looks at the events that arrived since
//! the last one.

use crate::display::{Untrusted, clean, clean_line};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::alert::AlertState;
use super::alertmanager::Matcher;
use super::query::Source;
use super::service::{AuditEvent, Batch};
use super::silences::{AmView, AuditRequest};
use super::tail::{Ring, TailFilter, WINDOWS, haystack, timestamp_ms};
use super::{SecurityEvent, Severity};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::Role;
use crate::service::{DomainRx, Level};

pub const ID: &str = "audit";
const FOLLOW: &str = "follow";
const SEVERITY: &str = "severity";
const WINDOW: &str = "window";
const TYPE: &str = "type";
const USER: &str = "user";
const CONTEXT: &str = "context";
const DEAD: &str = "dead_letters";
const SESSION: &str = "session";
const ALERTMANAGER: &str = "alertmanager";
const SILENCE: &str = "silence";
/// The duration `M` pre-fills.
const SILENCE_DEFAULT: &str = "2h";
/// The pane that lists sessions (the `sessions` domain).
pub const SESSIONS_PANE: &str = "sessions";

/// Context lines kept around each free-text match when `c` is on.
const CONTEXT_LINES: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    List,
    Detail,
    Dead,
    Alertmanager,
}

/// One row of the filtered view: absolute index in the feed, timestamp, and
/// whether it matched the free text (false: a context line).
#[derive(Clone, Copy, Debug)]
struct Vis {
    abs: u64,
    ts: i64,
    hit: bool,
}

/// What the audit service said: the events and the state of their source.
#[derive(Debug)]
struct Tail {
    ring: Ring,
    /// None until the service has said where it reads from.
    source: Option<Source>,
    /// More is waiting at the source.
    behind: bool,
    /// Reading the source failed (the last error).
    error: Option<String>,
    alerts: AlertState,
    /// What the Alertmanager channel holds (None: no such channel, or not polled yet).
    am: Option<AmView>,
}

impl Tail {
    fn new(capacity: usize) -> Self {
        Self {
            ring: Ring::new(capacity),
            source: None,
            behind: false,
            error: None,
            alerts: AlertState::default(),
            am: None,
        }
    }

    fn take(&mut self, batch: Batch) {
        self.ring.skip(batch.skipped);
        for ev in batch.events {
            self.ring.push(ev);
        }
    }

    /// Absolute index of the oldest event in the ring.
    fn first_abs(&self) -> u64 {
        self.ring.pushed() - self.ring.len() as u64
    }

    fn get(&self, abs: u64) -> Option<&SecurityEvent> {
        self.ring.get(abs.checked_sub(self.first_abs())? as usize)
    }
}

pub struct AuditPane {
    /// The audit service's channel (None: the service is not running).
    feed: Option<DomainRx<AuditEvent>>,
    tail: Tail,
    list: ListView,
    follow: bool,
    /// Events pushed when frozen (those after it are hidden and counted).
    frozen_at: Option<u64>,
    filter: TailFilter,
    window_idx: usize,
    context: bool,
    view: View,
    /// The filtered view, and how far the feed was scanned into it.
    visible: Vec<Vis>,
    scanned: u64,
    /// Absolute index of the last event matched (for context lines after it).
    last_hit: Option<u64>,
    /// The selected row of the Alertmanager view.
    am_list: ListView,
}

impl Default for AuditPane {
    /// The pane of a console whose audit service is not running.
    fn default() -> Self {
        Self::with_feed(None, 1)
    }
}

impl AuditPane {
    /// The pane fed by the audit service's channel, keeping the newest
    /// `capacity` events.
    pub fn new(feed: DomainRx<AuditEvent>, capacity: usize) -> Self {
        Self::with_feed(Some(feed), capacity)
    }

    fn with_feed(feed: Option<DomainRx<AuditEvent>>, capacity: usize) -> Self {
        Self {
            feed,
            tail: Tail::new(capacity),
            list: ListView::default(),
            follow: true,
            frozen_at: None,
            filter: TailFilter::default(),
            window_idx: 0,
            context: false,
            view: View::List,
            visible: Vec::new(),
            scanned: 0,
            last_hit: None,
            am_list: ListView::default(),
        }
    }

    fn reset_view(&mut self) {
        self.visible.clear();
        self.scanned = 0;
        self.last_hit = None;
    }

    /// Applies one event of the audit service.
    fn apply(&mut self, ev: AuditEvent) {
        match ev {
            AuditEvent::Reset { source, events } => {
                // What the source no longer has goes: nothing stale is listed.
                self.tail.ring = Ring::new(self.tail.ring.capacity());
                self.tail.take(events);
                self.tail.source = Some(source);
                self.reset_view();
                if self.frozen_at.is_some() {
                    self.frozen_at = Some(self.tail.ring.pushed());
                }
            }
            AuditEvent::Events(batch) => self.tail.take(batch),
            AuditEvent::Reading { behind, error } => {
                self.tail.behind = behind;
                self.tail.error = error;
            }
            AuditEvent::Alerts(state) => self.tail.alerts = state,
            AuditEvent::Alertmanager(view) => self.tail.am = Some(view),
        }
    }

    /// Brings the filtered view up to date with the ring.
    fn refresh(&mut self) {
        let ring = &self.tail.ring;
        let first_abs = self.tail.first_abs();
        // Drop rows whose events left the ring.
        let gone = self.visible.partition_point(|v| v.abs < first_abs);
        if gone > 0 {
            self.visible.drain(..gone);
            self.list.selected = self.list.selected.saturating_sub(gone);
        }
        let end = self.frozen_at.unwrap_or(ring.pushed()).min(ring.pushed());
        let mut abs = self.scanned.max(first_abs);
        let text = self.list.filter.clone();
        // The window is applied at render time (it moves with the clock).
        let base = TailFilter {
            window: None,
            ..self.filter.clone()
        };
        let mut pending_ctx: Vec<Vis> = Vec::new();
        while abs < end {
            let ev = ring.get((abs - first_abs) as usize).expect("in the ring");
            let ts = timestamp_ms(&ev.timestamp).unwrap_or(0);
            if base.matches(ev, 0) {
                let hit = text.as_ref().is_none_or(|t| t.keeps(&haystack(ev)));
                if hit {
                    if self.context {
                        // Context before: the last few passing rows not shown yet.
                        let lo = self.visible.last().map_or(0, |v| v.abs + 1);
                        for c in pending_ctx.drain(..) {
                            if c.abs >= lo {
                                self.visible.push(c);
                            }
                        }
                    }
                    self.visible.push(Vis { abs, ts, hit: true });
                    self.last_hit = Some(abs);
                } else if self.context {
                    let after_hit = self.last_hit.is_some_and(|h| {
                        self.visible.last().is_some_and(|l| l.abs >= h)
                            && self.visible.iter().rev().take_while(|v| !v.hit).count()
                                < CONTEXT_LINES as usize
                    });
                    if after_hit {
                        self.visible.push(Vis {
                            abs,
                            ts,
                            hit: false,
                        });
                    } else {
                        pending_ctx.push(Vis {
                            abs,
                            ts,
                            hit: false,
                        });
                        if pending_ctx.len() > CONTEXT_LINES as usize {
                            pending_ctx.remove(0);
                        }
                    }
                }
            }
            abs += 1;
        }
        self.scanned = end;
    }

    /// Rows within the time window (the view is in arrival order, which is
    /// time order, so the window is a suffix).
    fn window_start(&self, now_ms: i64) -> usize {
        match WINDOWS[self.window_idx] {
            None => 0,
            Some(w) => {
                let cutoff = now_ms - w.as_millis() as i64;
                self.visible.partition_point(|v| v.ts < cutoff)
            }
        }
    }

    fn selected_event(&self) -> Option<SecurityEvent> {
        let now = chrono::Utc::now().timestamp_millis();
        let start = self.window_start(now);
        let v = self.visible.get(start + self.list.selected)?;
        self.tail.get(v.abs).cloned()
    }

    fn toggle_follow(&mut self, effects: &mut Vec<Effect>) {
        self.follow = !self.follow;
        if self.follow {
            self.frozen_at = None;
            effects.push(Effect::Notify(Level::Info, "audit tail: following".into()));
        } else {
            self.frozen_at = Some(self.tail.ring.pushed());
            effects.push(Effect::Notify(
                Level::Info,
                "audit tail: frozen (f follows again)".into(),
            ));
        }
    }

    fn visible_len(&self) -> usize {
        let now = chrono::Utc::now().timestamp_millis();
        self.visible.len() - self.window_start(now)
    }
}

fn severity_role(s: Severity) -> Role {
    match s {
        Severity::Low => Role::Muted,
        Severity::Medium => Role::Text,
        Severity::High => Role::Warn,
        Severity::Critical => Role::Critical,
    }
}

fn short_time(ts: &str) -> &str {
    ts.get(11..19).unwrap_or(ts)
}

impl Pane for AuditPane {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Audit"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, FOLLOW, "Follow / freeze the tail").hint(),
            ActionDef::new(ID, SEVERITY, "Cycle the minimum severity").hint(),
            ActionDef::new(ID, WINDOW, "Cycle the time window (5/15/60 min)").hint(),
            ActionDef::new(ID, TYPE, "Only the selected event's type (again: all)"),
            ActionDef::new(ID, USER, "Only the selected event's user (again: all)"),
            ActionDef::new(ID, CONTEXT, "Keep context lines around text matches"),
            ActionDef::new(ID, DEAD, "Show undelivered alerts (dead letters)"),
            ActionDef::new(ID, SESSION, "Open the event's session in the sessions pane"),
            ActionDef::new(
                ID,
                ALERTMANAGER,
                "Alertmanager: alerts, their state and silences",
            ),
            ActionDef::new(
                ID,
                SILENCE,
                "Silence the selected alert (:silence pre-filled)",
            )
            .mutating(),
        ]
    }

    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        let events = feed.drain();
        let changed = !events.is_empty();
        for ev in events {
            self.apply(ev);
        }
        changed
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        self.refresh();
        if self.follow {
            self.list.selected = self.visible_len().saturating_sub(1);
        }
        match action {
            FOLLOW => self.toggle_follow(effects),
            SEVERITY => {
                self.filter.severity = match self.filter.severity {
                    None => Some(Severity::Medium),
                    Some(Severity::Low) => Some(Severity::Medium),
                    Some(Severity::Medium) => Some(Severity::High),
                    Some(Severity::High) => Some(Severity::Critical),
                    Some(Severity::Critical) => None,
                };
                self.reset_view();
            }
            WINDOW => {
                self.window_idx = (self.window_idx + 1) % WINDOWS.len();
                self.filter.window = WINDOWS[self.window_idx];
                self.list.selected = 0;
            }
            TYPE | USER => {
                let sel = self.selected_event();
                if action == TYPE {
                    self.filter.event_type = match (&self.filter.event_type, sel) {
                        (Some(_), _) | (None, None) => None,
                        (None, Some(ev)) => Some(ev.event_type),
                    };
                } else {
                    self.filter.user = match (&self.filter.user, sel) {
                        (Some(_), _) | (None, None) => None,
                        (None, Some(ev)) => ev.user_id,
                    };
                }
                self.reset_view();
            }
            CONTEXT => {
                self.context = !self.context;
                self.reset_view();
            }
            SESSION => {
                let sel = self.selected_event();
                match sel.and_then(|e| e.session_id) {
                    Some(id) => effects.push(Effect::Show {
                        pane: SESSIONS_PANE,
                        item: id,
                    }),
                    None => effects.push(Effect::Notify(
                        Level::Info,
                        "the selected event has no session".into(),
                    )),
                }
                return false;
            }
            ALERTMANAGER => {
                self.view = if self.view == View::Alertmanager {
                    View::List
                } else {
                    View::Alertmanager
                };
            }
            SILENCE => {
                match self.silence_line() {
                    Some(line) => effects.push(Effect::Palette(line)),
                    None => effects.push(Effect::Notify(
                        Level::Info,
                        "select an alert (A) or an event to silence".into(),
                    )),
                }
                return false;
            }
            other if self.view == View::Alertmanager && other != DEAD => {
                let len = self.tail.am.as_ref().map_or(0, |v| v.alerts.len());
                return self.am_list.navigate(other, len);
            }
            DEAD => {
                self.view = if self.view == View::Dead {
                    View::List
                } else {
                    View::Dead
                };
            }
            name::SELECT => {
                self.view = if self.view == View::Detail {
                    View::List
                } else {
                    View::Detail
                };
            }
            other => {
                let len = self.visible_len();
                let moved = self.list.navigate(other, len);
                if moved && self.follow && self.list.selected + 1 != len {
                    // Moving up freezes, so the row stays put.
                    self.toggle_follow(effects);
                }
                return moved;
            }
        }
        true
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        if self.feed.is_none() {
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border(ctx.focused))
                .title(Span::styled(" Audit ", t.title()));
            frame.render_widget(
                Paragraph::new("the audit service is not running").block(block),
                area,
            );
            return;
        }
        self.refresh();
        let f = &self.tail;
        let now_ms = chrono::DateTime::<chrono::Utc>::from(ctx.wall).timestamp_millis();
        let start = self.window_start(now_ms);
        let rows = &self.visible[start..];

        // Title with badges. An error may quote a server: through the display boundary.
        let mut title = vec![Span::styled(
            format!(
                " Audit · {} · {} shown",
                clean_line(&f.source.as_ref().map_or("starting".into(), Source::label)),
                rows.len()
            ),
            t.title(),
        )];
        if f.ring.dropped() > 0 {
            title.push(Span::styled(
                format!(" · {} dropped", f.ring.dropped()),
                t.muted(),
            ));
        }
        title.push(Span::raw(" "));
        if f.error.is_some() {
            title.push(Span::styled(" DISCONNECTED ", t.badge(Role::Danger)));
            title.push(Span::raw(" "));
        }
        if f.behind {
            title.push(Span::styled(" BEHIND ", t.badge(Role::Warn)));
            title.push(Span::raw(" "));
        }
        match self.frozen_at {
            Some(at) => title.push(Span::styled(
                format!(" FROZEN +{} new ", f.ring.pushed().saturating_sub(at)),
                t.badge(Role::Accent),
            )),
            None => title.push(Span::styled("following", t.accent())),
        }
        title.push(Span::raw(" "));
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Line::from(title));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        // Why the source is not what it should be, in full, on its own line.
        let notice = f
            .error
            .clone()
            .or_else(|| f.source.as_ref().and_then(Source::notice));
        let [status, notice_area, body] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(u16::from(notice.is_some())),
            Constraint::Fill(1),
        ])
        .areas(inner);
        if let Some(n) = notice {
            frame.render_widget(
                Paragraph::new(clean_line(&n).into_owned()).style(t.role(Role::Danger)),
                notice_area,
            );
        }

        // Status line: filters and alert channels.
        let mut desc = self.filter.describe();
        if let Some(tf) = &self.list.filter {
            desc.push_str(&format!(" /{}", tf.text));
        }
        if self.context {
            desc.push_str(" +ctx");
        }
        let mut desc = desc.trim().to_owned();
        if desc.is_empty() {
            desc = "no filter".into();
        }
        let mut status_spans = vec![Span::styled(desc, t.muted())];
        {
            let st = &f.alerts;
            if !st.channels.is_empty() {
                status_spans.push(Span::styled("  alerts:", t.muted()));
                for c in &st.channels {
                    let role = if c.failing { Role::Danger } else { Role::Ok };
                    status_spans.push(Span::styled(
                        format!(" {} {}", c.name, if c.failing { "failing" } else { "ok" }),
                        t.role(role),
                    ));
                }
                if !st.dead.is_empty() {
                    status_spans.push(Span::styled(
                        format!(" · {} dead", st.dead.len()),
                        t.role(Role::Danger),
                    ));
                }
            }
        }
        frame.render_widget(Paragraph::new(Line::from(status_spans)), status);

        match self.view {
            View::Detail => {
                let sel = rows
                    .get(self.list.selected)
                    .and_then(|v| f.get(v.abs))
                    .cloned();
                // The whole event as JSON, lines kept; C1 and bidi controls
                // (which JSON leaves raw) shown as escapes.
                let text = match sel {
                    Some(ev) => {
                        clean(&serde_json::to_string_pretty(&ev).unwrap_or_default()).into_owned()
                    }
                    None => "no event selected".into(),
                };
                frame.render_widget(
                    Paragraph::new(text)
                        .style(t.text())
                        .wrap(Wrap { trim: false }),
                    body,
                );
                return;
            }
            View::Dead => {
                let st = &f.alerts;
                let mut lines: Vec<Line> = vec![Line::styled(
                    format!(
                        "{:<10} {:<8} {:>6} {:>6}  status",
                        "CHANNEL", "KIND", "SENT", "FAILED"
                    ),
                    t.muted(),
                )];
                if st.channels.is_empty() {
                    lines.push(Line::styled(
                        "no alert channels (WINDFLOW_ALERT_WEBHOOK_URL, _SLACK_URL, _SMTP_URL or [[audit.channels]])",
                        t.muted(),
                    ));
                }
                for c in &st.channels {
                    let (word, role) = if c.failing {
                        ("failing", Role::Danger)
                    } else {
                        ("ok", Role::Ok)
                    };
                    lines.push(Line::from(vec![
                        Span::styled(
                            format!(
                                "{:<10} {:<8} {:>6} {:>6}  ",
                                Untrusted(&c.name),
                                c.kind,
                                c.sent,
                                c.failed
                            ),
                            t.text(),
                        ),
                        Span::styled(word, t.role(role)),
                        Span::styled(
                            c.last_error
                                .as_deref()
                                .filter(|_| c.failing)
                                .map(|e| format!(": {}", Untrusted(e)))
                                .unwrap_or_default(),
                            t.muted(),
                        ),
                    ]));
                }
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    format!("DEAD LETTERS ({})", st.dead.len()),
                    t.muted(),
                ));
                lines.extend(if st.dead.is_empty() {
                    vec![Line::styled("no undelivered alerts", t.muted())]
                } else {
                    st.dead
                        .iter()
                        .rev()
                        .flat_map(|d| {
                            [
                                Line::from(vec![
                                    Span::styled(
                                        format!("{:<10} ", Untrusted(&d.channel)),
                                        t.accent(),
                                    ),
                                    Span::styled(
                                        clean_line(&d.error).into_owned(),
                                        t.role(Role::Danger),
                                    ),
                                ]),
                                Line::styled(
                                    format!("           {}", Untrusted(&d.alert.summary())),
                                    t.text(),
                                ),
                            ]
                        })
                        .collect()
                });
                frame.render_widget(Paragraph::new(lines), body);
                return;
            }
            View::Alertmanager => {
                self.render_am(frame, body, ctx);
                return;
            }
            View::List => {}
        }

        if self.follow {
            self.list.selected = rows.len().saturating_sub(1);
        }
        let window = self.list.window(rows.len(), body.height as usize);
        self.list.body_top = body.y.saturating_sub(area.y);
        let hl = t.highlight();
        let tf = self.list.filter.as_ref();
        let table_rows: Vec<Row> = rows[window.clone()]
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let ev = f.get(v.abs)?;
                let base = if v.hit { t.text() } else { t.muted() };
                // Outside text, one line per cell, through the display boundary.
                let rest = format!(
                    "{} {}",
                    Untrusted(ev.user_id.as_deref().unwrap_or("-")),
                    Untrusted(&ev.details.to_string())
                );
                let mut cells = vec![
                    Cell::from(clean_line(short_time(&ev.timestamp)).into_owned()).style(t.muted()),
                    Cell::from(ev.severity.as_str()).style(t.role(severity_role(ev.severity))),
                    Cell::from(Line::from(filter::spans(
                        tf,
                        &clean_line(&ev.event_type),
                        base,
                        hl,
                    ))),
                ];
                cells.push(Cell::from(Line::from(filter::spans(tf, &rest, base, hl))));
                let row = Row::new(cells);
                Some(self.list.mark(row, window.start + i, ctx))
            })
            .collect();
        let table = Table::new(
            table_rows,
            [
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(24),
                Constraint::Fill(1),
            ],
        );
        frame.render_widget(table, body);
    }

    fn command(&mut self, name: &str, arg: &str, effects: &mut Vec<Effect>) -> bool {
        let spec = match name {
            "silence" => silence_spec(arg),
            "unsilence" => unsilence_spec(arg),
            _ => return false,
        };
        self.view = View::Alertmanager;
        match spec {
            Ok(spec) if self.tail.am.is_some() => effects.push(Effect::Confirm(spec)),
            Ok(_) => effects.push(Effect::Notify(
                Level::Warn,
                "no Alertmanager channel: set WINDFLOW_ALERT_ALERTMANAGER_URL or [[audit.channels]] kind = \"alertmanager\"".into(),
            )),
            Err(e) => effects.push(Effect::Notify(Level::Warn, e)),
        }
        true
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.list.filter = filter;
        self.list.selected = 0;
        self.reset_view();
    }

    fn filter(&self) -> Option<&Filter> {
        self.list.filter.as_ref()
    }

    fn selected_text(&self, _shared: &Shared) -> Option<String> {
        let ev = self.selected_event()?;
        serde_json::to_string(&ev).ok()
    }

    fn click(&mut self, row: u16) -> bool {
        let len = self.visible_len();
        let moved = self.list.click(row, len);
        if moved && self.follow {
            self.follow = false;
            self.frozen_at = Some(self.tail.ring.pushed());
        }
        moved
    }
}

/// `:silence LABEL=VALUE... DURATION COMMENT`: matchers up to the first word
/// that is not one, then the duration, then the comment.
fn silence_spec(arg: &str) -> Result<ConfirmSpec, String> {
    const USAGE: &str = "`:silence LABEL=VALUE... DURATION COMMENT` (e.g. user=bob 2h maintenance)";
    let words: Vec<&str> = arg.split_whitespace().collect();
    let n = words
        .iter()
        .take_while(|w| w.contains('=') || w.contains("!~"))
        .count();
    let matchers = words[..n]
        .iter()
        .map(|w| Matcher::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    let (Some(duration), comment) = (words.get(n), words.get(n + 1..).unwrap_or(&[]).join(" "))
    else {
        return Err(format!("{USAGE}: no duration"));
    };
    if matchers.is_empty() || comment.is_empty() {
        return Err(format!("{USAGE}: give matchers, a duration and a comment"));
    }
    let secs =
        crate::secrets::model::parse_duration(duration).map_err(|e| format!("{USAGE}: {e}"))?;
    if secs <= 0 {
        return Err(format!("{USAGE}: the duration must be more than zero"));
    }
    let shown = clean_line(
        &matchers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
    .into_owned();
    Ok(ConfirmSpec {
        title: format!("Silence {shown} for {duration}?"),
        body: format!(
            "Alertmanager sends no notification for alerts matching {shown} until the silence ends. Comment: {}",
            clean_line(&comment)
        ),
        typed: None,
        action: SILENCE,
        pending: format!("creating a silence for {shown}"),
        guard: Some("alerts.silence"),
        then: vec![Request::domain(AuditRequest::Silence {
            matchers,
            duration: std::time::Duration::from_secs(secs as u64),
            comment,
        })],
    })
}

/// `:unsilence ID`.
fn unsilence_spec(arg: &str) -> Result<ConfirmSpec, String> {
    let id = arg.trim();
    if id.is_empty() || id.contains(char::is_whitespace) {
        return Err("`:unsilence ID`: give one silence id (A lists them)".into());
    }
    let shown = clean_line(id).into_owned();
    Ok(ConfirmSpec {
        title: format!("Expire silence {shown}?"),
        body: "The alerts it silenced notify again.".into(),
        typed: None,
        action: "unsilence",
        pending: format!("expiring silence {shown}"),
        guard: Some("alerts.silence"),
        then: vec![Request::domain(AuditRequest::Unsilence {
            id: id.to_owned(),
        })],
    })
}

impl AuditPane {
    /// `silence` pre-filled with the labels of the selected Alertmanager
    /// alert (or of the selected event), the default duration, and room
    /// for the comment.
    fn silence_line(&self) -> Option<String> {
        let labels: Vec<(String, String)> = if self.view == View::Alertmanager {
            let a = self.tail.am.as_ref()?.alerts.get(self.am_list.selected)?;
            ["alertname", "user", "deployment"]
                .iter()
                .filter_map(|k| a.labels.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect()
        } else {
            let ev = self.selected_event()?;
            let mut l = vec![("alertname".to_string(), ev.event_type.clone())];
            l.extend(ev.user_id.map(|u| ("user".to_string(), u)));
            l
        };
        // A value with a space would end the matchers: such labels are left to type.
        let words: Vec<String> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty() && !v.contains(char::is_whitespace))
            .map(|(k, v)| format!("{k}={}", clean_line(v)))
            .collect();
        (!words.is_empty()).then(|| format!("silence {} {SILENCE_DEFAULT} ", words.join(" ")))
    }

    /// The Alertmanager view: its alerts from WindFlow and their state, then
    /// the silences as a table. Everything it says came from outside.
    fn render_am(&mut self, frame: &mut Frame, body: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let Some(am) = &self.tail.am else {
            frame.render_widget(
                Paragraph::new(
                    "no Alertmanager channel (WINDFLOW_ALERT_ALERTMANAGER_URL or [[audit.channels]] kind = \"alertmanager\"), or not read yet",
                )
                .style(t.muted()),
                body,
            );
            return;
        };
        let [head, alerts_area, sil_head, sil_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(body);
        let head_line = match &am.error {
            Some(e) => Line::styled(
                format!(
                    "Alertmanager {}: {} (shown: the last answer)",
                    Untrusted(&am.channel),
                    Untrusted(e)
                ),
                t.role(Role::Danger),
            ),
            None => Line::styled(
                format!(
                    "Alertmanager {} · {} alert(s) from WindFlow",
                    Untrusted(&am.channel),
                    am.alerts.len()
                ),
                t.muted(),
            ),
        };
        frame.render_widget(Paragraph::new(head_line), head);
        let window = self.am_list.window(
            am.alerts.len(),
            alerts_area.height.saturating_sub(1) as usize,
        );
        let rows: Vec<Row> = am.alerts[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let st = &a.status;
                let (state, role, why) = if !st.silenced_by.is_empty() {
                    let by = &st.silenced_by[0];
                    let until = am
                        .silence(by)
                        .map_or("?".to_string(), |s| s.ends_at.clone());
                    (
                        "silenced",
                        Role::Warn,
                        format!("by {} until {}", Untrusted(by), Untrusted(&until)),
                    )
                } else if !st.inhibited_by.is_empty() {
                    (
                        "inhibited",
                        Role::Warn,
                        format!("by {}", Untrusted(&st.inhibited_by.join(","))),
                    )
                } else if st.state == "active" {
                    ("active", Role::Danger, String::new())
                } else {
                    ("unprocessed", Role::Accent, String::new())
                };
                let label =
                    |k: &str| Untrusted(a.labels.get(k).map_or("-", String::as_str)).to_string();
                let row = Row::new(vec![
                    Cell::from(label("alertname")),
                    Cell::from(label("severity")),
                    Cell::from(label("user")),
                    Cell::from(state).style(t.role(role)),
                    Cell::from(why).style(t.muted()),
                ]);
                self.am_list.mark(row, window.start + i, ctx)
            })
            .collect();
        frame.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(24),
                    Constraint::Length(9),
                    Constraint::Length(14),
                    Constraint::Length(11),
                    Constraint::Fill(1),
                ],
            )
            .header(
                Row::new(["ALERT", "SEVERITY", "USER", "STATE", "SILENCE / INHIBITION"])
                    .style(t.muted()),
            ),
            alerts_area,
        );
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!(
                    "SILENCES ({}) · :silence MATCHERS DURATION COMMENT · :unsilence ID",
                    am.silences.len()
                ),
                t.muted(),
            )),
            sil_head,
        );
        let rows: Vec<Row> = am
            .silences
            .iter()
            .map(|s| {
                Row::new(vec![
                    Cell::from(Untrusted(&s.id).to_string()),
                    Cell::from(Untrusted(&s.status.state).to_string()),
                    Cell::from(Untrusted(&s.ends_at).to_string()),
                    Cell::from(Untrusted(&s.created_by).to_string()),
                    Cell::from(Untrusted(&s.matchers_text()).to_string()),
                    Cell::from(Untrusted(&s.comment).to_string()),
                ])
            })
            .collect();
        frame.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(36),
                    Constraint::Length(8),
                    Constraint::Length(24),
                    Constraint::Length(10),
                    Constraint::Length(28),
                    Constraint::Fill(1),
                ],
            )
            .header(
                Row::new(["ID", "STATE", "ENDS", "BY", "MATCHERS", "COMMENT"]).style(t.muted()),
            ),
            sil_area,
        );
    }
}
