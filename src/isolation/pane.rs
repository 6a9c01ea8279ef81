//! The Isolation pane: each deployment's namespace with its badges (ingress
//! and egress denied by default, Pod Security level), quota warnings and
//! drift in the danger colour; the selected one's drift and problems below.
//!
//! Views over the list: the selected namespace's YAML, planned or live
//! (Enter; `v` switches); the reachability matrix of every namespace with
//! pods (`m`; Enter on a cell lists the pods and the policies that let them
//! through); the plan's diff against the live objects (`d`). `p` writes the
//! plan into the cluster folder; `A` applies it after the namespace's name
//! is typed (step-up). The service's outcome says how each ended.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::matrix::Matrix;
use super::service::{DiffView, IsolationEvent, IsolationRequest, Snapshot};
use super::status::Status;
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::Role;
use crate::display::clean_line;
use crate::service::{DomainRx, Level};

pub const ID: &str = super::service::NAME;
const REFRESH: &str = "refresh";
const MATRIX: &str = "matrix";
const LIVE: &str = "live";
const PLAN: &str = "plan";
const DIFF: &str = "diff";
const APPLY: &str = "apply";
pub const LEFT: &str = "column_left";
pub const RIGHT: &str = "column_right";

/// What the pane shows over its list.
enum View {
    List,
    /// The namespace's objects as YAML: planned, or live.
    Yaml {
        deployment: String,
        live: bool,
        scroll: usize,
    },
    Diff {
        diff: Arc<DiffView>,
        scroll: usize,
    },
    Matrix(Box<Matrix>),
}

pub struct IsolationPane {
    list: ListView,
    snapshot: Arc<Snapshot>,
    view: View,
    /// Nothing read yet.
    waiting: bool,
    feed: Option<DomainRx<IsolationEvent>>,
}

impl Default for IsolationPane {
    fn default() -> Self {
        Self {
            list: ListView::default(),
            snapshot: Arc::default(),
            view: View::List,
            waiting: false,
            feed: None,
        }
    }
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

    /// Shows what the service read.
    pub fn set(&mut self, snapshot: Arc<Snapshot>) {
        if let View::Matrix(m) = &mut self.view {
            m.rebuild(&snapshot.live);
        }
        self.snapshot = snapshot;
        self.waiting = false;
    }

    fn visible(&self) -> Vec<&Status> {
        visible_in(&self.snapshot.statuses, self.list.filter.as_ref())
    }

    fn selected(&self) -> Option<&Status> {
        self.visible().get(self.list.selected).copied()
    }

    /// The YAML lines of a namespace: its plan, or its live objects.
    fn yaml(&self, deployment: &str, live: bool) -> Vec<String> {
        let snap = &self.snapshot;
        let Some(plan) = snap.plans.iter().find(|p| p.deployment == deployment) else {
            return vec![format!("# no spec for {deployment} any more")];
        };
        let text = if live {
            live_yaml(&snap.live, plan.namespace_name())
        } else {
            plan.to_yaml()
        };
        text.lines().map(str::to_owned).collect()
    }

    fn guarded_apply(&self, effects: &mut Vec<Effect>) {
        let Some(s) = self.selected() else { return };
        let (id, ns) = (s.deployment.clone(), s.namespace.clone());
        let summary = match &self.view {
            View::Diff { diff, .. } if diff.deployment == id => diff.summary.clone(),
            _ => "not diffed yet (d shows the diff)".into(),
        };
        let target = self.snapshot.source.clone();
        effects.push(Effect::Confirm(ConfirmSpec {
            title: format!("Apply the isolation of {id}?"),
            body: format!(
                "To {target}: {summary}. Server-side apply as windflow (a folder: the plan is written there); audited."
            ),
            typed: Some(ns),
            action: "isolation.apply",
            pending: format!("applying {id} to {target}"),
            guard: Some("isolation.apply"),
            then: vec![Request::domain(IsolationRequest::Apply {
                deployment: id,
                by: String::new(),
            })],
        }));
    }
}

/// The live objects of `namespace` as YAML documents.
fn live_yaml(live: &super::state::ClusterState, namespace: &str) -> String {
    let ours = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.namespace.as_deref() == Some(namespace)
    };
    let mut docs: Vec<serde_json::Value> = Vec::new();
    let mut push = |v: Result<serde_json::Value, serde_json::Error>| {
        if let Ok(v) = v {
            docs.push(v);
        }
    };
    for n in live
        .namespaces
        .iter()
        .filter(|n| n.metadata.name.as_deref() == Some(namespace))
    {
        push(serde_json::to_value(n));
    }
    for o in live.quotas.iter().filter(|o| ours(&o.metadata)) {
        push(serde_json::to_value(o));
    }
    for o in live.limit_ranges.iter().filter(|o| ours(&o.metadata)) {
        push(serde_json::to_value(o));
    }
    for o in live.policies.iter().filter(|o| ours(&o.metadata)) {
        push(serde_json::to_value(o));
    }
    let pods = live.pods.iter().filter(|o| ours(&o.metadata)).count();
    if docs.is_empty() {
        return format!("# {namespace} is not in the live state: the plan is not applied\n");
    }
    let mut out = format!("# {namespace} as it is live ({pods} pods not shown)\n");
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&d).unwrap_or_default());
    }
    out
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

/// Moves a scroll offset by a list action over `len` lines.
fn scroll(offset: &mut usize, action: &str, len: usize, page: usize) -> bool {
    let before = *offset;
    let last = len.saturating_sub(1);
    *offset = match action {
        name::UP => offset.saturating_sub(1),
        name::DOWN => (*offset + 1).min(last),
        name::TOP => 0,
        name::BOTTOM => last,
        name::HALF_PAGE_UP => offset.saturating_sub(page / 2),
        name::HALF_PAGE_DOWN => (*offset + page / 2).min(last),
        name::PAGE_UP => offset.saturating_sub(page),
        name::PAGE_DOWN => (*offset + page).min(last),
        _ => return false,
    };
    *offset != before
}

/// A diff line's colour.
fn diff_role(line: &str) -> Role {
    match line.trim_start().chars().next() {
        Some('+') => Role::Ok,
        Some('~') => Role::Warn,
        Some('!') | Some('-') => Role::Danger,
        Some('=') => Role::Muted,
        _ => Role::Text,
    }
}

/// Lines from `scroll` on, in a bordered block titled `title`.
fn text_view(
    frame: &mut Frame,
    area: Rect,
    ctx: &RenderCtx,
    title: String,
    lines: &[String],
    scroll: &mut usize,
    role: impl Fn(&str) -> Role,
) {
    let t = ctx.theme;
    let height = area.height.saturating_sub(2) as usize;
    *scroll = (*scroll).min(lines.len().saturating_sub(height.max(1)));
    let shown: Vec<Line> = lines
        .iter()
        .skip(*scroll)
        .take(height)
        .map(|l| Line::styled(clean_line(l).into_owned(), t.role(role(l))))
        .collect();
    let title = format!(
        "{title} {}-{} of {} ",
        (*scroll + 1).min(lines.len()),
        (*scroll + height).min(lines.len()),
        lines.len()
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(ctx.focused))
        .title(Span::styled(clean_line(&title).into_owned(), t.title()));
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

impl Pane for IsolationPane {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Isolation"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, REFRESH, "Read the specs and the live state now").hint(),
            ActionDef::new(
                ID,
                MATRIX,
                "Reachability matrix (Enter: the pods and policies of a cell)",
            )
            .hint(),
            ActionDef::new(ID, LIVE, "YAML view: switch between planned and live"),
            ActionDef::new(
                ID,
                PLAN,
                "Plan: write the selected deployment's manifests to the cluster folder",
            )
            .mutating(),
            ActionDef::new(
                ID,
                DIFF,
                "Diff the selected deployment's plan against the live objects",
            )
            .hint(),
            ActionDef::new(
                ID,
                APPLY,
                "Apply the selected deployment's plan (type the namespace; step-up)",
            )
            .hint()
            .mutating()
            .guarded("isolation.apply"),
            ActionDef::new(ID, LEFT, "Matrix: the column to the left"),
            ActionDef::new(ID, RIGHT, "Matrix: the column to the right"),
        ]
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        let id = self.selected().map(|s| s.deployment.clone());
        match action {
            REFRESH => {
                effects.push(Effect::Request(Request::domain(IsolationRequest::Refresh)));
                return false;
            }
            MATRIX => {
                self.view = match self.view {
                    View::Matrix(_) => View::List,
                    _ => View::Matrix(Box::new(Matrix::new(&self.snapshot.live))),
                };
                return true;
            }
            PLAN | DIFF => {
                let Some(id) = id else { return false };
                let (req, what) = if action == PLAN {
                    (
                        IsolationRequest::Plan {
                            deployment: id.clone(),
                        },
                        format!("writing the plan of {id} into the cluster folder"),
                    )
                } else {
                    (
                        IsolationRequest::Diff {
                            deployment: id.clone(),
                        },
                        format!("comparing the plan of {id} with the live objects"),
                    )
                };
                effects.push(Effect::Request(Request::domain(req)));
                effects.push(Effect::Notify(Level::Info, format!("{what}…")));
                return false;
            }
            APPLY => {
                self.guarded_apply(effects);
                return false;
            }
            _ => {}
        }
        match &mut self.view {
            View::List => match action {
                name::SELECT => match id {
                    Some(deployment) => {
                        self.view = View::Yaml {
                            deployment,
                            live: false,
                            scroll: 0,
                        };
                        true
                    }
                    None => false,
                },
                LIVE | LEFT | RIGHT => false,
                other => self.list.navigate(other, self.visible().len()),
            },
            View::Yaml {
                deployment,
                live,
                scroll: at,
            } => {
                if action == LIVE {
                    *live = !*live;
                    *at = 0;
                    return true;
                }
                let (d, l) = (deployment.clone(), *live);
                let len = self.yaml(&d, l).len();
                let View::Yaml { scroll: at, .. } = &mut self.view else {
                    return false;
                };
                scroll(at, action, len, self.list.height)
            }
            View::Diff { diff, scroll: at } => {
                scroll(at, action, diff.lines.len(), self.list.height)
            }
            View::Matrix(m) => m.handle(action, &self.snapshot.live),
        }
    }

    fn back(&mut self) -> bool {
        match &mut self.view {
            View::List => false,
            View::Matrix(m) if m.drill.is_some() => {
                m.drill = None;
                true
            }
            _ => {
                self.view = View::List;
                true
            }
        }
    }

    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        let mut changed = false;
        let mut latest = None;
        for ev in feed.drain() {
            match ev {
                IsolationEvent::Statuses(s) => latest = Some(s),
                IsolationEvent::Diff(d) => {
                    self.view = View::Diff { diff: d, scroll: 0 };
                    changed = true;
                }
            }
        }
        if let Some(s) = latest {
            self.set(s);
            changed = true;
        }
        changed
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        match &mut self.view {
            View::List => {}
            View::Matrix(m) => return m.render(frame, area, ctx),
            View::Diff { diff, scroll: at } => {
                let title = format!(
                    " Diff of {} against {}: {} ",
                    diff.deployment, diff.against, diff.summary
                );
                let lines = if diff.lines.is_empty() {
                    vec!["nothing planned".to_owned()]
                } else {
                    diff.lines.clone()
                };
                self.list.height = area.height.saturating_sub(2) as usize;
                return text_view(frame, area, ctx, title, &lines, at, diff_role);
            }
            View::Yaml {
                deployment, live, ..
            } => {
                let (d, l) = (deployment.clone(), *live);
                let lines = self.yaml(&d, l);
                let ns = crate::deployments::namespace_of(&d);
                let title = format!(
                    " {ns}: {} YAML (v: {}) ",
                    if l { "live" } else { "planned" },
                    if l { "planned" } else { "live" }
                );
                self.list.height = area.height.saturating_sub(2) as usize;
                let View::Yaml { scroll: at, .. } = &mut self.view else {
                    return;
                };
                return text_view(frame, area, ctx, title, &lines, at, |_| Role::Text);
            }
        }
        let snapshot = Arc::clone(&self.snapshot);
        let flt = self.list.filter.clone();
        let rows = visible_in(&snapshot.statuses, flt.as_ref());
        let detail_h = if area.height >= 14 { 7 } else { 0 };
        let [top, bottom] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
        let count = |word: &str| rows.iter().filter(|s| state_word(s) == word).count();
        let mut title = format!(" Isolation ({} deployments", snapshot.statuses.len());
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
                "reading the deployment specs and the live state…".to_string()
            } else if let Some(p) = snapshot.problems.first() {
                format!("nothing to show: {}", clean_line(p))
            } else {
                "no deployment specs: add one to deployments_dir (see `windflow deployments`)"
                    .to_string()
            };
            let role = if snapshot.problems.is_empty() {
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
        for p in &snapshot.problems {
            lines.push(Line::styled(
                format!("not read: {}", clean_line(p)),
                t.role(Role::Danger),
            ));
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(false))
            .title(Span::styled(
                format!(" Drift · {} ", clean_line(&snapshot.source)),
                t.title(),
            ));
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
        match &self.view {
            View::Matrix(m) => m.selected_text(),
            View::Yaml {
                deployment, live, ..
            } => Some(self.yaml(deployment, *live).join("\n")),
            View::Diff { diff, .. } => Some(diff.lines.join("\n")),
            View::List => self
                .selected()
                .map(|s| format!("{} {} {}", s.deployment, s.namespace, state_word(s))),
        }
    }

    fn click(&mut self, row: u16) -> bool {
        matches!(self.view, View::List) && self.list.click(row, self.visible().len())
    }
}
