//! The Compliance pane: a matrix of deployments × frameworks with a badge
//! per cell; `select` drills down to the deployment's controls, with the
//! selected one's issues, what its checks read, its evidence and waiver;
//! `fix` jumps to the pane where a failing control is fixed (Secrets,
//! Isolation, Operators, Audit, Scans, Sessions), showing the deployment
//! or the operator there; `evidence` and `waive` open `:evidence` and
//! `:waive` pre-filled with the selected control (confirmed, with the role
//! and step-up the CLI asks for).

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::eval::{ControlResult, ControlStatus, DeploymentResult, FrameworkStatus, Outcome};
use super::service::{ComplianceEvent, ComplianceRequest};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::{Role, Theme};
use crate::display::clean_line;
use crate::service::DomainRx;

pub const ID: &str = super::service::NAME;
const REFRESH: &str = "refresh";
const FIX: &str = "fix";
const EVIDENCE: &str = "evidence";
const WAIVE: &str = "waive";

#[derive(Default)]
pub struct CompliancePane {
    list: ListView,
    results: Arc<Vec<DeploymentResult>>,
    frameworks: Vec<String>,
    problems: Vec<String>,
    /// The deployment drilled into, and the selection in its controls.
    open: Option<(String, ListView)>,
    waiting: bool,
    feed: Option<DomainRx<ComplianceEvent>>,
}

/// A control of the drill-down with its framework's name.
type Item<'a> = (&'a str, &'a ControlResult);

fn badge(s: FrameworkStatus) -> (&'static str, Role) {
    match s {
        FrameworkStatus::Compliant => ("compliant", Role::Ok),
        FrameworkStatus::NonCompliant => ("NON-COMPLIANT", Role::Danger),
        FrameworkStatus::Incomplete => ("incomplete", Role::Warn),
        FrameworkStatus::NotApplicable => ("n/a", Role::Muted),
    }
}

fn control_badge(c: &ControlResult) -> (&'static str, Role) {
    match (c.status, c.satisfied) {
        (ControlStatus::Pass, _) => ("pass", Role::Ok),
        (ControlStatus::Fail, _) => ("FAIL", Role::Danger),
        (ControlStatus::Waived, _) => ("waived", Role::Warn),
        (ControlStatus::Manual, true) => ("evidence", Role::Ok),
        (ControlStatus::Manual, false) => ("manual", Role::Warn),
    }
}

fn row_text(r: &DeploymentResult) -> String {
    let mut s = r.deployment.clone();
    for f in &r.frameworks {
        s.push(' ');
        s.push_str(f.status.as_str());
    }
    s
}

impl CompliancePane {
    pub fn new(feed: DomainRx<ComplianceEvent>) -> Self {
        Self {
            waiting: true,
            feed: Some(feed),
            ..Self::default()
        }
    }

    /// Shows these results.
    pub fn set(
        &mut self,
        results: Arc<Vec<DeploymentResult>>,
        frameworks: Vec<String>,
        problems: Vec<String>,
    ) {
        self.results = results;
        self.frameworks = frameworks;
        self.problems = problems;
        self.waiting = false;
    }

    fn visible(&self) -> Vec<&DeploymentResult> {
        self.results
            .iter()
            .filter(|r| {
                self.list
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.keeps(&row_text(r)))
            })
            .collect()
    }

    fn opened(&self) -> Option<&DeploymentResult> {
        let (id, _) = self.open.as_ref()?;
        self.results.iter().find(|r| &r.deployment == id)
    }

    fn items(r: &DeploymentResult) -> Vec<Item<'_>> {
        r.frameworks
            .iter()
            .flat_map(|f| f.controls.iter().map(move |c| (f.name.as_str(), c)))
            .collect()
    }

    /// Where the selected control is fixed: the pane, with what it fixes
    /// selected there (a secret, an operator, a deployment's namespace), or
    /// with the fix started (`:scan` of the deployment's images) or said.
    fn fix_target(&self) -> Result<Vec<Effect>, String> {
        let (r, sel) = match (self.opened(), &self.open) {
            (Some(r), Some((_, l))) => (r, l.selected),
            _ => return Err("open a deployment first (select)".into()),
        };
        let items = Self::items(r);
        let Some((_, c)) = items.get(sel) else {
            return Err("no control selected".into());
        };
        if c.satisfied && c.status == ControlStatus::Pass {
            return Err(format!("{} passes: nothing to fix", c.id));
        }
        let Some(pane) = c.fix_pane() else {
            return Err(match &c.recommendation {
                Some(rec) => format!("{} is fixed outside the console: {rec}", c.id),
                None => format!(
                    "{} needs evidence: attach it with `windflow compliance evidence add`",
                    c.id
                ),
            });
        };
        let failing = c
            .checks
            .iter()
            .find(|k| k.pane.is_some() && !matches!(k.outcome, Outcome::Pass { .. }));
        let said = failing
            .and_then(|k| match &k.outcome {
                Outcome::Fail { recommendation, .. } => Some(recommendation.clone()),
                Outcome::Undecided { reason } => Some(reason.clone()),
                Outcome::Pass { .. } => None,
            })
            .or_else(|| c.recommendation.clone())
            .unwrap_or_default();
        let focus = Effect::Show {
            pane,
            item: String::new(),
        };
        if failing.is_some_and(|k| k.check == "scans.deploy_gate") && !r.images.is_empty() {
            // The fix is a scan of the deployment's images: started, to confirm.
            return Ok(vec![
                focus,
                Effect::Palette(format!("scan {}", r.images.join(" "))),
            ]);
        }
        if [
            crate::audit::pane::ID,
            crate::scans::pane::ID,
            crate::sessions::pane::ID,
        ]
        .contains(&pane)
        {
            // Settings and history, not a row of that pane: what to do, said there.
            return Ok(vec![
                focus,
                Effect::Notify(crate::service::Level::Info, format!("{}: {said}", c.id)),
            ]);
        }
        // The operator named by the first issue, for the Operators pane.
        let item = if pane == crate::auth::pane::ID {
            c.issues
                .iter()
                .find_map(|i| i.strip_prefix("operator "))
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_default()
                .to_string()
        } else if pane == crate::secrets::pane::ID {
            format!("deployments/{}", r.deployment)
        } else {
            r.deployment.clone()
        };
        Ok(vec![Effect::Show { pane, item }])
    }

    fn render_matrix(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let results = Arc::clone(&self.results);
        let flt = self.list.filter.clone();
        let rows: Vec<&DeploymentResult> = results
            .iter()
            .filter(|r| flt.as_ref().is_none_or(|f| f.keeps(&row_text(r))))
            .collect();
        let compliant = rows.iter().filter(|r| r.compliant).count();
        let mut title = format!(
            " Compliance ({} deployments, {compliant} compliant",
            self.results.len()
        );
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
                "gathering the facts and checking every deployment…".to_string()
            } else if let Some(p) = self.problems.first() {
                format!("nothing to show: {}", clean_line(p))
            } else {
                "no deployment specs: add one to deployments_dir (see `windflow deployments`)"
                    .to_string()
            };
            frame.render_widget(
                Paragraph::new(Line::styled(text, t.muted()))
                    .wrap(Wrap { trim: true })
                    .block(block),
                area,
            );
            return;
        }
        let problems_h = if self.problems.is_empty() || area.height < 12 {
            0
        } else {
            (self.problems.len() as u16 + 2).min(5)
        };
        let [top, bottom] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(problems_h)]).areas(area);
        let window = self
            .list
            .window(rows.len(), top.height.saturating_sub(3) as usize);
        self.list.body_top = 2;
        let hl = t.highlight();
        let body: Vec<Row> = rows[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut cells = vec![Cell::from(Line::from(filter::spans(
                    flt.as_ref(),
                    &clean_line(&r.deployment),
                    t.text(),
                    hl,
                )))];
                for f in &r.frameworks {
                    let (word, role) = badge(f.status);
                    cells.push(Cell::from(Span::styled(word, t.role(role))));
                }
                let (word, role) = if r.compliant {
                    ("COMPLIANT", Role::Ok)
                } else {
                    ("NOT COMPLIANT", Role::Danger)
                };
                cells.push(Cell::from(Span::styled(word, t.role(role))));
                self.list.mark(Row::new(cells), window.start + i, ctx)
            })
            .collect();
        let mut widths = vec![Constraint::Fill(2)];
        widths.extend(self.frameworks.iter().map(|_| Constraint::Length(14)));
        widths.push(Constraint::Length(14));
        let mut header = vec!["DEPLOYMENT".to_string()];
        header.extend(self.frameworks.iter().map(|n| clean_line(n).to_uppercase()));
        header.push("DEPLOYMENT IS".into());
        frame.render_widget(
            Table::new(body, widths)
                .header(Row::new(header).style(t.muted()))
                .block(block),
            top,
        );
        if problems_h > 0 {
            let lines: Vec<Line> = self
                .problems
                .iter()
                .map(|p| Line::styled(format!("not read: {}", clean_line(p)), t.role(Role::Danger)))
                .collect();
            frame.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(t.border(false))
                        .title(Span::styled(" Problems ", t.title())),
                ),
                bottom,
            );
        }
    }

    fn render_controls(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let results = Arc::clone(&self.results);
        let Some((id, list)) = &mut self.open else {
            return;
        };
        let Some(r) = results.iter().find(|r| &r.deployment == id) else {
            frame.render_widget(
                Paragraph::new(format!("{} is no longer in the specs", clean_line(id)))
                    .block(Block::default().borders(Borders::ALL)),
                area,
            );
            return;
        };
        let items = Self::items(r);
        let detail_h = if area.height >= 16 {
            area.height / 2
        } else {
            0
        };
        let [top, bottom] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
        let window = list.window(items.len(), top.height.saturating_sub(3) as usize);
        list.body_top = 2;
        let title = format!(
            " {}: {} (esc: back, fix: go to the pane that fixes it) ",
            clean_line(&r.deployment),
            if r.compliant {
                "compliant"
            } else {
                "not compliant"
            }
        );
        let body: Vec<Row> = items[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, (fw, c))| {
                let (word, role) = control_badge(c);
                let row = Row::new(vec![
                    Cell::from(clean_line(fw).into_owned()).style(t.muted()),
                    Cell::from(clean_line(&c.id).into_owned()),
                    Cell::from(clean_line(&c.reference).into_owned()).style(t.muted()),
                    Cell::from(Span::styled(word, t.role(role))),
                    Cell::from(
                        clean_line(c.issues.first().map_or(c.title.as_str(), |i| i)).into_owned(),
                    ),
                ]);
                if i + window.start == list.selected && ctx.focused {
                    row.style(t.selection())
                } else {
                    row
                }
            })
            .collect();
        frame.render_widget(
            Table::new(
                body,
                [
                    Constraint::Length(9),
                    Constraint::Length(28),
                    Constraint::Length(22),
                    Constraint::Length(9),
                    Constraint::Fill(1),
                ],
            )
            .header(
                Row::new([
                    "FRAMEWORK",
                    "CONTROL",
                    "REFERENCE",
                    "STATUS",
                    "ISSUE / TITLE",
                ])
                .style(t.muted()),
            )
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.border(ctx.focused))
                    .title(Span::styled(title, t.title())),
            ),
            top,
        );
        if detail_h > 0
            && let Some((_, c)) = items.get(list.selected)
        {
            frame.render_widget(
                Paragraph::new(detail_lines(c, t))
                    .wrap(Wrap { trim: false })
                    .block(
                        Block::default()
                            .borders(Borders::ALL)
                            .border_style(t.border(false))
                            .title(Span::styled(
                                format!(" {} ", clean_line(&c.title)),
                                t.title(),
                            )),
                    ),
                bottom,
            );
        }
    }
}

fn detail_lines(c: &ControlResult, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let line = |s: String, role: Role| Line::styled(clean_line(&s).into_owned(), t.role(role));
    for i in &c.issues {
        lines.push(line(format!("issue: {i}"), Role::Danger));
    }
    if let Some(r) = &c.recommendation {
        lines.push(line(format!("do: {r}"), Role::Text));
    }
    if let (false, Some(n)) = (c.satisfied, &c.needs) {
        lines.push(line(format!("needs: {n}"), Role::Warn));
    }
    for k in &c.checks {
        let (word, role) = match &k.outcome {
            Outcome::Pass { detail } => (format!("pass: {detail}"), Role::Ok),
            Outcome::Fail { .. } => ("fail".to_string(), Role::Danger),
            Outcome::Undecided { reason } => (format!("undecided: {reason}"), Role::Warn),
        };
        lines.push(line(
            format!("{} {word} (read {} at {})", k.check, k.read, k.read_at),
            role,
        ));
    }
    if let Some(e) = &c.evidence {
        lines.push(line(
            format!(
                "evidence: {} ({}) by {}, {} {}",
                e.record.link,
                e.record.note,
                e.record.by,
                if e.expired { "EXPIRED" } else { "expires" },
                e.expires
            ),
            if e.expired { Role::Danger } else { Role::Ok },
        ));
    }
    if let Some(w) = &c.waiver {
        lines.push(line(
            format!(
                "waiver: {} by {}, {} {}",
                w.record.reason,
                w.record.by,
                if w.expired { "EXPIRED" } else { "expires" },
                w.expires
            ),
            if w.expired { Role::Danger } else { Role::Warn },
        ));
    }
    lines
}

impl CompliancePane {
    /// The deployment and control selected in the drill-down.
    fn selected_control(&self) -> Option<(String, String)> {
        let (r, (_, list)) = (self.opened()?, self.open.as_ref()?);
        let (_, c) = Self::items(r).into_iter().nth(list.selected)?;
        Some((r.deployment.clone(), c.id.clone()))
    }
}

/// The words of `:evidence` / `:waive`: deployment, control, lifetime, rest.
fn words<'a>(arg: &'a str, usage: &str) -> Result<(&'a str, &'a str, &'a str, String), String> {
    let w: Vec<&str> = arg.split_whitespace().collect();
    match w.as_slice() {
        [deployment, control, lasts, rest @ ..] if !rest.is_empty() => {
            Ok((deployment, control, lasts, rest.join(" ")))
        }
        _ => Err(format!("{usage}: too few words")),
    }
}

/// `:evidence DEPLOYMENT CONTROL LIFETIME LINK NOTE...`
fn evidence_spec(arg: &str) -> Result<ConfirmSpec, String> {
    const USAGE: &str = "`:evidence DEPLOYMENT CONTROL 90d LINK NOTE` (the control selected: e)";
    let (deployment, control, lasts, rest) = words(arg, USAGE)?;
    let (link, note) = rest.split_once(' ').unwrap_or((rest.as_str(), ""));
    let link = super::records::check_link(link).map_err(|e| format!("{USAGE}: {e}"))?;
    let note = super::records::check_text("the note", note).map_err(|e| format!("{USAGE}: {e}"))?;
    let secs = super::records::lifetime("the lifetime", lasts, super::records::EVIDENCE_MAX_DAYS)?;
    let (d, c) = (clean_line(deployment), clean_line(control));
    Ok(ConfirmSpec {
        title: format!("Evidence for {c} of {d}, for {lasts}?"),
        body: format!(
            "The control counts as satisfied until the evidence expires. Link: {}. Note: {}",
            clean_line(&link),
            clean_line(&note)
        ),
        typed: None,
        action: EVIDENCE,
        pending: format!("recording evidence for {c} of {d}"),
        guard: Some("compliance.evidence"),
        then: vec![Request::domain(ComplianceRequest::AddEvidence {
            deployment: deployment.to_owned(),
            control: control.to_owned(),
            link,
            note,
            lasts: secs,
            by: None,
        })],
    })
}

/// `:waive DEPLOYMENT CONTROL LIFETIME REASON...`
fn waive_spec(arg: &str) -> Result<ConfirmSpec, String> {
    const USAGE: &str = "`:waive DEPLOYMENT CONTROL 30d REASON` (the control selected: w)";
    let (deployment, control, lasts, reason) = words(arg, USAGE)?;
    let reason =
        super::records::check_text("the reason", &reason).map_err(|e| format!("{USAGE}: {e}"))?;
    let secs = super::records::lifetime("the lifetime", lasts, super::records::WAIVER_MAX_DAYS)?;
    let (d, c) = (clean_line(deployment), clean_line(control));
    Ok(ConfirmSpec {
        title: format!("Waive {c} of {d} for {lasts}?"),
        body: format!(
            "A failing control counts as accepted until the waiver expires. Reason: {}",
            clean_line(&reason)
        ),
        typed: None,
        action: WAIVE,
        pending: format!("waiving {c} of {d}"),
        guard: Some("compliance.waive"),
        then: vec![Request::domain(ComplianceRequest::Waive {
            deployment: deployment.to_owned(),
            control: control.to_owned(),
            reason,
            lasts: secs,
            by: None,
        })],
    })
}

impl Pane for CompliancePane {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Compliance"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(
                ID,
                REFRESH,
                "Gather the facts and check every deployment now",
            )
            .hint(),
            ActionDef::new(ID, FIX, "Go to the pane that fixes the selected control").hint(),
            ActionDef::new(
                ID,
                EVIDENCE,
                "Evidence for the selected control: :evidence pre-filled",
            )
            .hint(),
            ActionDef::new(ID, WAIVE, "Waive the selected control: :waive pre-filled").hint(),
        ]
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        match action {
            REFRESH => {
                effects.push(Effect::Request(Request::domain(ComplianceRequest::Refresh)));
                false
            }
            FIX => {
                match self.fix_target() {
                    Ok(mut go) => effects.append(&mut go),
                    Err(why) => effects.push(Effect::Notify(crate::service::Level::Info, why)),
                }
                false
            }
            EVIDENCE | WAIVE => {
                match self.selected_control() {
                    Some((deployment, control)) if action == EVIDENCE => effects.push(
                        Effect::Palette(format!("evidence {deployment} {control} 90d https://")),
                    ),
                    Some((deployment, control)) => effects.push(Effect::Palette(format!(
                        "waive {deployment} {control} 30d "
                    ))),
                    None => effects.push(Effect::Notify(
                        crate::service::Level::Info,
                        "open a deployment (Enter) and select a control first".into(),
                    )),
                }
                false
            }
            name::SELECT if self.open.is_none() => {
                let Some(id) = self
                    .visible()
                    .get(self.list.selected)
                    .map(|r| r.deployment.clone())
                else {
                    return false;
                };
                self.open = Some((id, ListView::default()));
                true
            }
            name::SELECT => false,
            other => {
                let len = self.opened().map_or(0, |r| Self::items(r).len());
                match &mut self.open {
                    Some((_, list)) => list.navigate(other, len),
                    None => {
                        let len = self.visible().len();
                        self.list.navigate(other, len)
                    }
                }
            }
        }
    }

    fn back(&mut self) -> bool {
        self.open.take().is_some()
    }

    fn command(&mut self, name: &str, arg: &str, effects: &mut Vec<Effect>) -> bool {
        let spec = match name {
            "evidence" => evidence_spec(arg),
            "waive" => waive_spec(arg),
            _ => return false,
        };
        match spec {
            Ok(spec) => effects.push(Effect::Confirm(spec)),
            Err(e) => effects.push(Effect::Notify(crate::service::Level::Warn, e)),
        }
        true
    }

    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        match feed.drain().into_iter().last() {
            Some(ComplianceEvent::Results {
                results,
                frameworks,
                problems,
            }) => {
                self.set(results, frameworks, problems);
                true
            }
            None => false,
        }
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        if self.open.is_some() {
            self.render_controls(frame, area, ctx);
        } else {
            self.render_matrix(frame, area, ctx);
        }
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.list.filter = filter;
        self.list.selected = 0;
    }

    fn filter(&self) -> Option<&Filter> {
        self.list.filter.as_ref()
    }

    fn selected_text(&self, _shared: &Shared) -> Option<String> {
        if let (Some(r), Some((_, l))) = (self.opened(), &self.open) {
            return Self::items(r)
                .get(l.selected)
                .map(|(fw, c)| format!("{} {fw} {} {}", r.deployment, c.id, c.status.as_str()));
        }
        self.visible().get(self.list.selected).map(|r| row_text(r))
    }

    fn click(&mut self, row: u16) -> bool {
        if self.open.is_some() {
            return false;
        }
        let len = self.visible().len();
        self.list.click(row, len)
    }
}
