//! The Anomalies pane: every detected anomaly (time, kind, the user or
//! deployment, score, risk, status, why in words), filtered with `/`,
//! sorted by time, score or risk; a sparkline of the last 24 hours on top.
//! `select` opens the explanation (score against threshold, percentile,
//! each feature); the operator marks the selected anomaly acknowledged,
//! resolved or false positive (a false positive, which leaves the next
//! training, is confirmed first); `sessions` opens the Sessions pane on the
//! anomaly's user, where one more key revokes.

use std::sync::Arc;
use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, Wrap};

use super::service::{AnomalyEvent, AnomalyRequest, View};
use super::triage::{self, Anomaly, Status, risk_rank};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::{Role, Theme};
use crate::display::clean_line;
use crate::service::{DomainRx, Level};

pub const ID: &str = super::service::NAME;
pub const ACK: &str = "ack";
pub const RESOLVE: &str = "resolve";
pub const FALSE_POSITIVE: &str = "false_positive";
pub const SORT: &str = "sort";
pub const SESSIONS: &str = "sessions";

/// What the list is sorted by (always the newest, highest or riskiest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Time,
    Score,
    Risk,
}

impl SortBy {
    pub fn label(self) -> &'static str {
        match self {
            SortBy::Time => "time",
            SortBy::Score => "score",
            SortBy::Risk => "risk",
        }
    }

    fn next(self) -> Self {
        match self {
            SortBy::Time => SortBy::Score,
            SortBy::Score => SortBy::Risk,
            SortBy::Risk => SortBy::Time,
        }
    }
}

/// When the scored event happened, in Unix ms (else when it was detected).
fn at_ms(a: &Anomaly) -> i64 {
    crate::audit::tail::timestamp_ms(a.at()).unwrap_or_else(|| a.detected_ms())
}

/// `a` before `b` in the order `by`: the newest, highest or riskiest first.
pub fn order(by: SortBy, a: &Anomaly, b: &Anomaly) -> std::cmp::Ordering {
    let score = |x: &Anomaly| x.score().unwrap_or(f64::NEG_INFINITY);
    let first = match by {
        SortBy::Time => at_ms(b).cmp(&at_ms(a)),
        SortBy::Score => score(b).total_cmp(&score(a)),
        SortBy::Risk => risk_rank(b.risk())
            .cmp(&risk_rank(a.risk()))
            .then(score(b).total_cmp(&score(a))),
    };
    first
        .then(b.detected_ms().cmp(&a.detected_ms()))
        .then(a.id().cmp(b.id()))
}

/// How many anomalies were detected in each of the 24 hours before `now_ms`
/// (the oldest hour first).
pub fn per_hour(anomalies: &[Anomaly], now_ms: i64) -> [u64; 24] {
    let mut buckets = [0u64; 24];
    for a in anomalies {
        let age = now_ms - a.detected_ms();
        if (0..24 * 3_600_000).contains(&age) {
            buckets[23 - (age / 3_600_000) as usize] += 1;
        }
    }
    buckets
}

fn risk_role(risk: &str) -> Role {
    match risk {
        "critical" => Role::Critical,
        "high" => Role::Danger,
        "medium" => Role::Warn,
        _ => Role::Muted,
    }
}

fn status_role(s: Status) -> Role {
    match s {
        Status::New => Role::Danger,
        Status::Acknowledged => Role::Warn,
        Status::Resolved => Role::Ok,
        Status::FalsePositive => Role::Muted,
    }
}

/// `MM-DD HH:MM` of an RFC 3339 time, in UTC or local time.
fn when(ts: &str, utc: bool) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return clean_line(ts).into_owned();
    };
    if utc {
        t.with_timezone(&chrono::Utc)
            .format("%m-%d %H:%M")
            .to_string()
    } else {
        t.with_timezone(&chrono::Local)
            .format("%m-%d %H:%M")
            .to_string()
    }
}

#[derive(Default)]
pub struct AnomalyPane {
    list: ListView,
    sort: SortBy,
    view: Arc<View>,
    /// Indices into the view's anomalies: filtered and sorted.
    order: Vec<usize>,
    stale: bool,
    /// The explanation of the selected anomaly is open.
    detail: bool,
    /// No view has come yet.
    waiting: bool,
    feed: Option<DomainRx<AnomalyEvent>>,
}

impl AnomalyPane {
    pub fn new(feed: DomainRx<AnomalyEvent>) -> Self {
        Self {
            waiting: true,
            feed: Some(feed),
            ..Self::default()
        }
    }

    /// Shows this view.
    pub fn set(&mut self, view: Arc<View>) {
        self.view = view;
        self.waiting = false;
        self.stale = true;
    }

    pub fn sorting(&self) -> SortBy {
        self.sort
    }

    pub fn detail_open(&self) -> bool {
        self.detail
    }

    /// The rows in display order.
    pub fn rows(&mut self) -> Vec<&Anomaly> {
        self.refresh_order();
        self.order
            .iter()
            .map(|i| &self.view.anomalies[*i])
            .collect()
    }

    fn selected(&self) -> Option<&Anomaly> {
        self.order
            .get(self.list.selected)
            .and_then(|i| self.view.anomalies.get(*i))
    }

    /// Rebuilds the order if needed, keeping the selected anomaly selected.
    fn refresh_order(&mut self) {
        if !self.stale {
            return;
        }
        self.stale = false;
        let keep = self.selected().map(|a| a.id().to_owned());
        let f = self.list.filter.as_ref();
        let all = &self.view.anomalies;
        let mut order: Vec<usize> = (0..all.len())
            .filter(|i| f.is_none_or(|f| f.keeps(&all[*i].haystack())))
            .collect();
        let by = self.sort;
        order.sort_by(|a, b| self::order(by, &all[*a], &all[*b]));
        if let Some(id) = keep
            && let Some(pos) = order.iter().position(|i| all[*i].id() == id)
        {
            self.list.selected = pos;
        }
        self.list.selected = self.list.selected.min(order.len().saturating_sub(1));
        self.order = order;
    }

    fn mark(&self, action: &str, effects: &mut Vec<Effect>) -> bool {
        let Some(a) = self.selected() else {
            effects.push(Effect::Notify(Level::Info, "no anomaly selected".into()));
            return false;
        };
        let status = match action {
            ACK => Status::Acknowledged,
            RESOLVE => Status::Resolved,
            _ => Status::FalsePositive,
        };
        if a.status() == status {
            effects.push(Effect::Notify(
                Level::Info,
                format!(
                    "anomaly {} is already {}",
                    triage::short(a.id()),
                    status.as_str()
                ),
            ));
            return false;
        }
        let req = Request::domain(AnomalyRequest::Mark {
            id: a.id().to_owned(),
            status,
            by: None,
        });
        let what = format!(
            "{} {} of {}",
            triage::short(a.id()),
            clean_line(a.kind()),
            clean_line(a.entity())
        );
        if status == Status::FalsePositive {
            // It changes what the next model learns from: asked first.
            effects.push(Effect::Confirm(ConfirmSpec {
                title: format!("Mark anomaly {what} a false positive?"),
                body: "The scored event is left out of the next training, so the model does not learn from it; the mark is audited.".into(),
                typed: None,
                action: FALSE_POSITIVE,
                pending: format!("marking anomaly {what} a false positive"),
                guard: Some("anomaly.mark"),
                then: vec![req],
            }));
        } else {
            effects.push(Effect::Notify(
                Level::Info,
                format!("marking anomaly {what} {}…", status.as_str()),
            ));
            effects.push(Effect::Request(req));
        }
        true
    }

    fn render_detail(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let lines: Vec<Line> = match self.selected() {
            None => vec![Line::styled("No anomaly selected.", t.muted())],
            Some(a) => a
                .explain_lines()
                .into_iter()
                .map(|(k, v)| {
                    Line::from(vec![
                        Span::styled(format!("{:<13}", clean_line(&k)), t.muted()),
                        Span::styled(clean_line(&v).into_owned(), t.text()),
                    ])
                })
                .collect(),
        };
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.border(false))
                    .title(Span::styled(" Why (Enter closes) ", t.title())),
            ),
            area,
        );
    }

    /// Why the list is empty.
    fn empty_text(&self) -> String {
        if self.waiting {
            "reading the audit log for anomalies…".into()
        } else if let Some(p) = &self.view.problem {
            format!("nothing to show: {}", clean_line(p))
        } else if !self.view.anomalies.is_empty() {
            "No anomaly matches the filter (Esc clears it).".into()
        } else if self.view.model.is_none() {
            "No model trained yet: sign-ins are not scored until `windflow anomaly train` stores one (it needs 200 sign-ins)."
                .into()
        } else {
            format!(
                "No anomalies: new sign-ins are scored live with model version {} and none stood out.",
                self.view.model.unwrap_or_default()
            )
        }
    }
}

impl Pane for AnomalyPane {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Anomalies"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, ACK, "Mark the selected anomaly acknowledged")
                .hint()
                .mutating()
                .guarded("anomaly.mark"),
            ActionDef::new(ID, RESOLVE, "Mark the selected anomaly resolved")
                .hint()
                .mutating()
                .guarded("anomaly.mark"),
            ActionDef::new(
                ID,
                FALSE_POSITIVE,
                "Mark the selected anomaly a false positive (left out of the next training)",
            )
            .hint()
            .mutating()
            .guarded("anomaly.mark"),
            ActionDef::new(ID, SORT, "Sort by the next column: time, score, risk").hint(),
            ActionDef::new(
                ID,
                SESSIONS,
                "The sessions of the selected anomaly's user (revoke there)",
            )
            .hint(),
        ]
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        self.refresh_order();
        match action {
            ACK | RESOLVE | FALSE_POSITIVE => self.mark(action, effects),
            SORT => {
                self.sort = self.sort.next();
                self.stale = true;
                true
            }
            SESSIONS => {
                match self
                    .selected()
                    .map(|a| (a.event.user_id.clone(), a.entity().to_owned()))
                {
                    Some((Some(user), _)) => effects.push(Effect::Show {
                        pane: crate::sessions::pane::ID,
                        item: format!("{}{user}", crate::sessions::pane::USER_ITEM),
                    }),
                    Some((None, entity)) => effects.push(Effect::Notify(
                        Level::Info,
                        format!(
                            "this anomaly is about {}, not a user: no sessions to show",
                            clean_line(&entity)
                        ),
                    )),
                    None => effects.push(Effect::Notify(Level::Info, "no anomaly selected".into())),
                }
                false
            }
            name::SELECT => {
                self.detail = !self.detail && self.selected().is_some();
                true
            }
            other => {
                let len = self.order.len();
                self.list.navigate(other, len)
            }
        }
    }

    fn back(&mut self) -> bool {
        std::mem::take(&mut self.detail)
    }

    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        match feed.drain().into_iter().last() {
            Some(AnomalyEvent::View(view)) => {
                self.set(view);
                true
            }
            None => false,
        }
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        self.refresh_order();
        let t = ctx.theme;
        let all = &self.view.anomalies;
        let open = all.iter().filter(|a| a.status().is_open()).count();
        let mut title = format!(" Anomalies ({}, {open} open", all.len());
        if let Some(f) = &self.list.filter {
            title.push_str(&format!(
                ", /{}: {} shown",
                clean_line(&f.text),
                self.order.len()
            ));
        }
        title.push_str(&format!(")  sort {} ↓ ", self.sort.label()));
        let (main, detail) = if self.detail && area.height >= 18 {
            let want = self
                .selected()
                .map_or(3, |a| a.explain_lines().len() as u16 + 2);
            let h = want.clamp(8, area.height - 8);
            let [a, b] = Layout::vertical([Constraint::Min(6), Constraint::Length(h)]).areas(area);
            (a, Some(b))
        } else if self.detail {
            (Rect::default(), Some(area))
        } else {
            (area, None)
        };
        if main.height > 0 {
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border(ctx.focused))
                .title(Span::styled(title, t.title()));
            let inner = block.inner(main);
            frame.render_widget(block, main);
            let [spark, table] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
            // Anomalies per hour, the last 24 hours.
            let now_ms = ctx
                .wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let hours = per_hour(all, now_ms);
            let label = format!("last 24 h: {:>3}  ", hours.iter().sum::<u64>());
            let [l, s, rest] = Layout::horizontal([
                Constraint::Length(label.chars().count() as u16),
                Constraint::Length(24),
                Constraint::Min(0),
            ])
            .areas(spark);
            frame.render_widget(Paragraph::new(Span::styled(label, t.muted())), l);
            frame.render_widget(Sparkline::default().data(hours).style(t.accent()), s);
            // Rows are listed, but what could not be read (the marks, the
            // models) is said beside them: a status is never taken on trust.
            if let Some(p) = &self.view.problem {
                let said = format!("  ⚠ {}", clean_line(p));
                frame.render_widget(
                    Paragraph::new(Span::styled(said, t.role(Role::Danger))),
                    rest,
                );
            }
            self.render_table(frame, table, ctx);
        }
        if let Some(d) = detail {
            self.render_detail(frame, d, t);
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
        self.selected().map(|a| {
            format!(
                "{} {} {} {} {} {}",
                a.id(),
                a.kind(),
                a.entity(),
                a.risk(),
                a.status().as_str(),
                a.explanation()
            )
        })
    }

    fn click(&mut self, row: u16) -> bool {
        self.list.click(row, self.order.len())
    }

    fn show(&mut self, item: &str) -> bool {
        self.refresh_order();
        if let Some(pos) = self.order.iter().position(|i| {
            let id = self.view.anomalies[*i].id();
            id == item || (item.len() >= triage::MIN_PREFIX && id.starts_with(item))
        }) {
            self.list.selected = pos;
            return true;
        }
        false
    }
}

impl AnomalyPane {
    fn render_table(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let rows_h = area.height.saturating_sub(1) as usize;
        let window = self.list.window(self.order.len(), rows_h);
        // Border, sparkline, header.
        self.list.body_top = 3;
        let wide = area.width >= 100;
        let mut header = vec!["TIME", "KIND", "ENTITY", "SCORE", "RISK", "STATUS", "WHY"];
        if wide {
            header.insert(0, "ID");
        }
        let sorted = match self.sort {
            SortBy::Time => "TIME",
            SortBy::Score => "SCORE",
            SortBy::Risk => "RISK",
        };
        let header = Row::new(header.into_iter().map(|h| {
            if h == sorted {
                Cell::from(format!("{h}↓")).style(t.accent())
            } else {
                Cell::from(h).style(t.muted())
            }
        }));
        let f = self.list.filter.as_ref();
        let hl = t.highlight();
        let body: Vec<Row> = self.order[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, idx)| {
                let a = &self.view.anomalies[*idx];
                // Outside text, one line per cell, through the display boundary.
                let cell = |text: &str, style| {
                    Cell::from(Line::from(filter::spans(f, &clean_line(text), style, hl)))
                };
                let status = a.status();
                let mut cells = vec![
                    Cell::from(when(a.at(), ctx.utc)),
                    cell(a.kind(), t.text()),
                    cell(a.entity(), t.text()),
                    Cell::from(a.score().map_or("-".into(), |s| format!("{s:.3}"))),
                    cell(a.risk(), t.role(risk_role(a.risk()))),
                    cell(status.as_str(), t.role(status_role(status))),
                    cell(a.explanation(), t.text()),
                ];
                if wide {
                    cells.insert(
                        0,
                        Cell::from(triage::short(a.id()).to_owned()).style(t.muted()),
                    );
                }
                self.list.mark(Row::new(cells), window.start + i, ctx)
            })
            .collect();
        let mut widths = vec![
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(14),
            Constraint::Fill(1),
        ];
        if wide {
            widths.insert(0, Constraint::Length(8));
        }
        let empty = body.is_empty();
        frame.render_widget(Table::new(body, widths).header(header), area);
        if empty && area.height > 1 {
            let msg_area = Rect {
                x: area.x + 1,
                y: area.y + 1,
                width: area.width.saturating_sub(2),
                height: area.height - 1,
            };
            frame.render_widget(
                Paragraph::new(self.empty_text())
                    .style(t.muted())
                    .wrap(Wrap { trim: true }),
                msg_area,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Color;

    use super::*;
    use crate::audit::SecurityEvent;
    use crate::console::theme::ColorMode;

    const NOW: i64 = 1_790_000_000_000;

    fn anomaly(id: &str, user: &str, score: f64, risk: &str, mins_ago: i64) -> Anomaly {
        let at = chrono::DateTime::from_timestamp_millis(NOW - mins_ago * 60_000).unwrap();
        let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut e = SecurityEvent::new(
            "login_anomaly_detected",
            Some(user),
            serde_json::json!({
                "kind": "login", "at": ts, "score": score, "threshold": 0.5, "risk": risk,
                "explanation": format!("{user} signed in at an unusual hour"),
            }),
        );
        e.id = id.into();
        e.timestamp = ts;
        Anomaly::new(e, &HashMap::new())
    }

    fn pane(anomalies: Vec<Anomaly>, model: Option<u64>) -> AnomalyPane {
        let mut p = AnomalyPane::default();
        p.set(Arc::new(View {
            anomalies,
            model,
            problem: None,
        }));
        p
    }

    fn three() -> Vec<Anomaly> {
        vec![
            anomaly("aaaaaaaa-1", "amy", 0.55, "critical", 300),
            anomaly("bbbbbbbb-2", "bo", 0.80, "medium", 120),
            anomaly("cccccccc-3", "cy", 0.60, "high", 5),
        ]
    }

    fn users(p: &mut AnomalyPane) -> Vec<String> {
        p.rows().iter().map(|a| a.entity().to_owned()).collect()
    }

    #[test]
    fn sorted_by_time_score_and_risk_filtered_and_counted_per_hour() {
        let mut p = pane(three(), Some(1));
        assert_eq!(users(&mut p), ["cy", "bo", "amy"]);
        let shared = Shared::default();
        let mut fx = Vec::new();
        p.handle(SORT, &shared, &mut fx);
        assert_eq!(
            (p.sorting(), users(&mut p)),
            (SortBy::Score, vec!["bo".into(), "cy".into(), "amy".into()])
        );
        p.handle(SORT, &shared, &mut fx);
        assert_eq!(
            (p.sorting(), users(&mut p)),
            (SortBy::Risk, vec!["amy".into(), "cy".into(), "bo".into()])
        );
        p.handle(SORT, &shared, &mut fx);
        assert_eq!(p.sorting(), SortBy::Time);
        p.set_filter(Filter::new("critical"));
        assert_eq!(users(&mut p), ["amy"]);
        let hours = per_hour(&three(), NOW);
        assert_eq!(hours[23], 1, "5 minutes ago: this hour");
        assert_eq!(hours[21], 1, "2 hours ago");
        assert_eq!(hours[18], 1, "5 hours ago");
        assert_eq!(hours.iter().sum::<u64>(), 3);
        let old = anomaly("d", "d", 0.6, "high", 25 * 60);
        assert_eq!(per_hour(&[old], NOW).iter().sum::<u64>(), 0);
    }

    #[test]
    fn marks_are_guarded_requests_a_false_positive_is_confirmed_and_s_goes_to_the_sessions() {
        let mut p = pane(three(), Some(1));
        let shared = Shared::default();
        let mut fx = Vec::new();
        p.handle(ACK, &shared, &mut fx);
        let req = fx.iter().find_map(|e| match e {
            Effect::Request(Request::Domain(d)) => Some(d),
            _ => None,
        });
        let req = req.expect("ack is sent at once");
        assert_eq!(req.permission, Some("anomaly.mark"));
        match req.get::<AnomalyRequest>() {
            Some(AnomalyRequest::Mark { id, status, .. }) => {
                assert_eq!((id.as_str(), *status), ("cccccccc-3", Status::Acknowledged))
            }
            other => panic!("{other:?}"),
        }
        let mut fx = Vec::new();
        p.handle(FALSE_POSITIVE, &shared, &mut fx);
        match &fx[..] {
            [Effect::Confirm(spec)] => {
                assert_eq!(spec.guard, Some("anomaly.mark"));
                assert!(spec.title.contains("false positive"), "{}", spec.title);
                assert_eq!(spec.then.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let mut fx = Vec::new();
        p.handle(SESSIONS, &shared, &mut fx);
        match &fx[..] {
            [Effect::Show { pane, item }] => {
                assert_eq!(*pane, crate::sessions::pane::ID);
                assert_eq!(item, "user:cy");
            }
            other => panic!("{other:?}"),
        }
        // Every marking action is guarded and refused read-only.
        for def in p
            .actions()
            .iter()
            .filter(|d| [ACK, RESOLVE, FALSE_POSITIVE].contains(&d.name))
        {
            assert_eq!(
                (def.guard, def.mutates),
                (Some("anomaly.mark"), true),
                "{}",
                def.name
            );
        }
    }

    fn draw(p: &mut AnomalyPane, w: u16, h: u16) -> (String, Terminal<TestBackend>) {
        let theme = Theme::bundled("dark", ColorMode::None).unwrap();
        let shared = Shared::default();
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| {
            let ctx = RenderCtx {
                theme: &theme,
                shared: &shared,
                now: std::time::Instant::now(),
                wall: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(NOW as u64),
                focused: true,
                utc: true,
            };
            p.render(f, f.area(), &ctx);
        })
        .unwrap();
        let buf = term.backend().buffer().clone();
        let text = (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n");
        (text, term)
    }

    #[test]
    fn at_80x24_without_colour_every_column_shows_and_empty_states_say_why() {
        let mut p = pane(three(), Some(1));
        let (text, term) = draw(&mut p, 80, 22);
        for part in [
            "Anomalies (3, 3 open)",
            "last 24 h:   3",
            "TIME↓",
            "ENTITY",
            "STATUS",
            "cy",
            "0.800",
            "critical",
            "new",
        ] {
            assert!(text.contains(part), "{part:?} not in\n{text}");
        }
        let buf = term.backend().buffer();
        for cell in buf.content() {
            assert!(
                matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
                "a colour without colours: {cell:?}"
            );
        }
        let (none, _) = draw(&mut pane(Vec::new(), None), 80, 22);
        assert!(none.contains("No model trained yet"), "{none}");
        let (quiet, _) = draw(&mut pane(Vec::new(), Some(2)), 80, 22);
        assert!(
            quiet.contains("No anomalies: new sign-ins are scored live with"),
            "{quiet}"
        );
        // Enter opens why; at 80x24 the list and the detail share the pane.
        let shared = Shared::default();
        p.handle(name::SELECT, &shared, &mut Vec::new());
        let (why, _) = draw(&mut p, 80, 22);
        assert!(
            why.contains("Why (Enter closes)") && why.contains("0.6000 > threshold 0.5000"),
            "{why}"
        );
        assert!(p.back() && !p.detail_open());
    }

    #[test]
    fn marks_that_do_not_read_are_said_beside_the_rows() {
        let mut p = AnomalyPane::default();
        p.set(Arc::new(View {
            anomalies: three(),
            model: Some(1),
            problem: Some("the marks do not read, so statuses are unknown (shown as new)".into()),
        }));
        let (text, _) = draw(&mut p, 120, 22);
        assert!(text.contains("cy"), "{text}");
        assert!(
            text.contains("⚠ the marks do not read, so statuses are unknown"),
            "{text}"
        );
    }
}
