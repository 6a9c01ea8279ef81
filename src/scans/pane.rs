//! The Scans pane: the scan queue with progress bars per job, a severity
//! histogram and the gate verdict (a badge with its reasons) per scan; a
//! drill-down to the merged findings (most severe first, fixable first,
//! filterable) where `w` adds a waiver (justification and expiry, then a
//! confirmation); and the manifest view (objects with their score, findings
//! grouped by check with the remediation).
//!
//! It never does IO: requests go to the scan service, results come back as
//! [`ScanEvent`]s.

use std::sync::Arc;

use chrono::NaiveDate;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui_textarea::TextArea;

use super::gate::{Decision, Verdict, Waiver};
use super::k8s::{K8sFinding, ManifestReport};
use super::merge::{Counts, MergedFinding};
use super::model::Severity;
use super::service::{GroupKind, JobState, ScanEvent, ScanRequest};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::{self, Filter};
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::{Role, Theme};
use crate::display::clean_line;
use crate::service::Level;

pub const ID: &str = "scans";
const LEAVE: &str = "leave";
const WAIVE: &str = "waive";
const CANCEL: &str = "cancel_scans";

/// What a running job's bar assumes a scan takes, for its fill.
const EXPECTED_MS: u64 = 3000;

#[derive(Clone, Debug)]
pub struct Group {
    pub id: u64,
    pub name: String,
    pub kind: GroupKind,
    pub jobs: Vec<(String, JobState)>,
    pub findings: Arc<Vec<MergedFinding>>,
    pub counts: Counts,
    pub verdict: Option<Verdict>,
    pub manifests: Option<Arc<ManifestReport>>,
}

impl Group {
    fn finished(&self) -> usize {
        self.jobs
            .iter()
            .filter(|(_, s)| matches!(s, JobState::Done { .. } | JobState::Failed { .. }))
            .count()
    }

    fn status(&self) -> (String, Role) {
        if let Some(v) = &self.verdict {
            return match v.decision {
                // Allowed on less than was asked for: not the all-clear colour.
                Decision::Allowed if v.partial() => ("ALLOWED".into(), Role::Warn),
                Decision::Allowed => ("ALLOWED".into(), Role::Ok),
                Decision::Blocked => ("BLOCKED".into(), Role::Danger),
                Decision::NoVerdict => ("NO VERDICT".into(), Role::Danger),
            };
        }
        if let Some(m) = &self.manifests {
            // No score that nothing computed, and none passed over what
            // could not be read.
            let Some(score) = m.score else {
                return ("NO SCORE".into(), Role::Danger);
            };
            if !m.complete() {
                return ("INCOMPLETE".into(), Role::Danger);
            }
            let role = match score {
                80.. => Role::Ok,
                50..=79 => Role::Warn,
                _ => Role::Danger,
            };
            return (format!("score {score}"), role);
        }
        if self
            .jobs
            .iter()
            .any(|(_, s)| matches!(s, JobState::Running { .. }))
        {
            ("running".into(), Role::Accent)
        } else {
            ("queued".into(), Role::Muted)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    Queue,
    Findings(usize),
    Manifest(usize),
}

struct WaiverForm {
    id: String,
    package: String,
    image: Option<String>,
    justification: TextArea<'static>,
    expires: TextArea<'static>,
    /// 0: justification, 1: expiry.
    field: usize,
    error: Option<String>,
}

pub struct ScansPane {
    pub groups: Vec<Group>,
    view: View,
    queue: ListView,
    findings: ListView,
    objects: ListView,
    form: Option<WaiverForm>,
    /// Today, for the default expiry (None: the clock).
    today: Option<NaiveDate>,
    waivers: usize,
    feed: Option<crate::service::DomainRx<ScanEvent>>,
}

impl Default for ScansPane {
    fn default() -> Self {
        Self {
            groups: Vec::new(),
            view: View::Queue,
            queue: ListView::default(),
            findings: ListView::default(),
            objects: ListView::default(),
            form: None,
            today: None,
            waivers: 0,
            feed: None,
        }
    }
}

fn sev_role(s: Severity) -> Role {
    match s {
        Severity::Critical => Role::Critical,
        Severity::High => Role::Danger,
        Severity::Medium => Role::Warn,
        Severity::Low => Role::Text,
        Severity::Unknown => Role::Muted,
    }
}

fn finding_text(f: &MergedFinding) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        f.severity,
        f.id,
        f.aliases.join(" "),
        f.package,
        f.installed,
        f.fixed.as_deref().unwrap_or(""),
        f.scanners
            .iter()
            .map(|s| s.label())
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn bar(ratio: f64, width: usize) -> String {
    let full = ((ratio.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

fn job_ratio(s: &JobState) -> f64 {
    match s {
        JobState::Queued => 0.0,
        JobState::Running { elapsed_ms } => (*elapsed_ms as f64 / EXPECTED_MS as f64).min(0.95),
        JobState::Done { .. } | JobState::Failed { .. } => 1.0,
    }
}

fn counts_text(c: &[usize; 5]) -> String {
    format!("{}C {}H {}M {}L {}U", c[0], c[1], c[2], c[3], c[4])
}

impl ScansPane {
    /// The pane fed by the scan service's channel.
    pub fn new(feed: crate::service::DomainRx<ScanEvent>) -> Self {
        Self {
            feed: Some(feed),
            ..Self::default()
        }
    }

    /// Pins today's date (for the default expiry in tests).
    pub fn set_today(&mut self, d: NaiveDate) {
        self.today = Some(d);
    }

    fn today(&self) -> NaiveDate {
        self.today
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    fn apply(&mut self, ev: &ScanEvent) -> bool {
        match ev {
            ScanEvent::Queued {
                group,
                name,
                kind,
                jobs,
            } => {
                self.groups.push(Group {
                    id: *group,
                    name: name.clone(),
                    kind: *kind,
                    jobs: jobs.iter().map(|j| (j.clone(), JobState::Queued)).collect(),
                    findings: Arc::new(Vec::new()),
                    counts: Counts::default(),
                    verdict: None,
                    manifests: None,
                });
            }
            ScanEvent::Job {
                group,
                index,
                state,
            } => {
                let Some(g) = self.groups.iter_mut().find(|g| g.id == *group) else {
                    return false;
                };
                if let Some(j) = g.jobs.get_mut(*index) {
                    j.1 = state.clone();
                }
            }
            ScanEvent::Verdict {
                group,
                findings,
                counts,
                verdict,
            } => {
                let Some(g) = self.groups.iter_mut().find(|g| g.id == *group) else {
                    return false;
                };
                g.findings = findings.clone();
                g.counts = *counts;
                g.verdict = Some(verdict.clone());
            }
            ScanEvent::Manifests { group, report } => {
                let Some(g) = self.groups.iter_mut().find(|g| g.id == *group) else {
                    return false;
                };
                g.manifests = Some(report.clone());
            }
            ScanEvent::WaiverAdded { .. } => self.waivers += 1,
            ScanEvent::WaiverRefused { reason } => {
                if let Some(f) = &mut self.form {
                    f.error = Some(reason.clone());
                }
            }
        }
        true
    }

    fn filter(&self) -> Option<&Filter> {
        match self.view {
            View::Queue => self.queue.filter.as_ref(),
            View::Findings(_) => self.findings.filter.as_ref(),
            View::Manifest(_) => self.objects.filter.as_ref(),
        }
    }

    fn visible_groups(&self) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|&i| {
                self.queue
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.keeps(&self.groups[i].name))
            })
            .collect()
    }

    fn visible_findings(&self, g: usize) -> Vec<&MergedFinding> {
        self.groups[g]
            .findings
            .iter()
            .filter(|f| {
                self.findings
                    .filter
                    .as_ref()
                    .is_none_or(|flt| flt.keeps(&finding_text(f)))
            })
            .collect()
    }

    fn visible_objects(&self, g: usize) -> Vec<&super::k8s::ObjectScore> {
        let Some(m) = &self.groups[g].manifests else {
            return Vec::new();
        };
        m.objects
            .iter()
            .filter(|o| {
                self.objects.filter.as_ref().is_none_or(|f| {
                    f.keeps(&format!("{} {} {} {}", o.kind, o.namespace, o.name, o.file))
                })
            })
            .collect()
    }

    fn open_form(&mut self, f: &MergedFinding) {
        let mut justification = TextArea::default();
        justification.set_placeholder_text("why this finding may ship (at least 10 characters)");
        justification.set_cursor_line_style(Style::default());
        let mut expires = TextArea::default();
        expires.set_cursor_line_style(Style::default());
        expires.insert_str((self.today() + chrono::Days::new(30)).to_string());
        self.form = Some(WaiverForm {
            id: f.id.clone(),
            package: f.package.clone(),
            image: (f.images.len() == 1).then(|| f.images[0].clone()),
            justification,
            expires,
            field: 0,
            error: None,
        });
    }

    fn submit_form(&mut self, effects: &mut Vec<Effect>) {
        let today = self.today();
        let Some(form) = &mut self.form else { return };
        let justification = form.justification.lines().join("\n").trim().to_string();
        let date_text = form.expires.lines().first().cloned().unwrap_or_default();
        let expires = match NaiveDate::parse_from_str(date_text.trim(), "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => {
                form.error = Some(format!(
                    "expiry `{}` is not a date like 2026-12-31",
                    date_text.trim()
                ));
                form.field = 1;
                return;
            }
        };
        let waiver = Waiver {
            id: form.id.clone(),
            package: (!form.package.is_empty()).then(|| form.package.clone()),
            image: form.image.clone(),
            justification,
            expires,
        };
        if let Err(e) = waiver.validate(today) {
            form.error = Some(e);
            return;
        }
        let scope = match (&waiver.package, &waiver.image) {
            (Some(p), Some(i)) => format!(" in {p} of {i}"),
            (Some(p), None) => format!(" in {p}"),
            _ => String::new(),
        };
        effects.push(Effect::Confirm(ConfirmSpec {
            title: format!("Waive {}?", waiver.id),
            body: format!(
                "{}{scope} stops counting toward the deploy gate until {} (inclusive). Justification: {}",
                waiver.id, waiver.expires, waiver.justification
            ),
            typed: None,
            action: WAIVE,
            pending: format!("adding the waiver of {}", waiver.id),
            guard: Some("scans.waive"),
            then: vec![Request::domain(ScanRequest::AddWaiver { waiver, operator: None })],
        }));
        self.form = None;
    }

    // ------------------------------------------------------------ rendering

    fn render_queue(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let vis = self.visible_groups();
        let list_h = (vis.len() as u16 + 3).clamp(4, (area.height / 2).max(4));
        let [top, bottom] =
            Layout::vertical([Constraint::Length(list_h), Constraint::Min(0)]).areas(area);
        let title = match &self.queue.filter {
            Some(f) => format!(
                " Scans /{} ({} of {}) ",
                f.text,
                vis.len(),
                self.groups.len()
            ),
            None => format!(" Scans ({}) ", self.groups.len()),
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Span::styled(title, t.title()));
        if vis.is_empty() {
            let text = "No scans yet. `windflow scan report|image|manifests` runs them headless; --demo queues samples.";
            frame.render_widget(
                Paragraph::new(Line::styled(text, t.muted()))
                    .wrap(Wrap { trim: true })
                    .block(block),
                top,
            );
            return;
        }
        let window = self
            .queue
            .window(vis.len(), top.height.saturating_sub(3) as usize);
        self.queue.body_top = 2;
        let rows: Vec<Row> = vis[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, &gi)| {
                let g = &self.groups[gi];
                let (status, role) = g.status();
                let done = g.finished();
                let ratio = g.jobs.iter().map(|(_, s)| job_ratio(s)).sum::<f64>()
                    / g.jobs.len().max(1) as f64;
                let kind = match g.kind {
                    GroupKind::Vulnerabilities => "vulns",
                    GroupKind::Manifests => "k8s",
                };
                let row = Row::new(vec![
                    Cell::from(Line::from(filter::spans(
                        self.queue.filter.as_ref(),
                        &clean_line(&g.name),
                        t.text(),
                        t.highlight(),
                    ))),
                    Cell::from(Span::styled(kind, t.muted())),
                    Cell::from(format!("{done}/{} {}", g.jobs.len(), bar(ratio, 8))),
                    Cell::from(Span::styled(
                        status,
                        t.role(role).add_modifier(Modifier::BOLD),
                    )),
                ]);
                self.queue.mark(row, window.start + i, ctx)
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Length(5),
                Constraint::Length(14),
                Constraint::Length(10),
            ],
        )
        .header(Row::new(["SCAN", "KIND", "JOBS", "VERDICT"]).style(t.muted()))
        .block(block);
        frame.render_widget(table, top);
        if let Some(&gi) = vis.get(self.queue.selected) {
            self.render_detail(frame, bottom, ctx, gi);
        }
    }

    fn render_detail(&self, frame: &mut Frame, area: Rect, ctx: &RenderCtx, gi: usize) {
        if area.height < 3 {
            return;
        }
        let t = ctx.theme;
        let g = &self.groups[gi];
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(false))
            .title(Span::styled(
                format!(" {} ", clean_line(&g.name)),
                t.title(),
            ));
        let inner_w = area.width.saturating_sub(2) as usize;
        let mut lines: Vec<Line> = Vec::new();
        // The badge and its reasons.
        match (&g.verdict, &g.manifests) {
            (Some(v), _) => {
                let (word, role) = g.status();
                let mut spans = vec![
                    Span::styled(format!(" {word} "), badge(t, role)),
                    Span::raw(" "),
                ];
                if v.reasons.is_empty() {
                    spans.push(Span::styled("every gate rule passes", t.role(Role::Ok)));
                } else {
                    let reasons = v
                        .reasons
                        .iter()
                        .map(|r| format!("{} ({})", r.message, r.detail))
                        .collect::<Vec<_>>()
                        .join("; ");
                    spans.push(Span::styled(
                        clean_line(&reasons).into_owned(),
                        t.role(Role::Danger),
                    ));
                }
                lines.push(Line::from(spans));
                if v.partial() {
                    let failed = v
                        .failed
                        .iter()
                        .map(|r| format!("{} {}", r.scanner, clean_line(&r.target)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    lines.push(Line::styled(
                        format!(
                            "partial: {} of {} scans failed ({failed}); judged on the rest",
                            v.failed.len(),
                            v.runs
                        ),
                        t.role(Role::Warn),
                    ));
                }
                if !v.waived.is_empty() {
                    lines.push(Line::styled(
                        format!("{} finding(s) waived", v.waived.len()),
                        t.muted(),
                    ));
                }
            }
            (None, Some(m)) => {
                let (word, role) = g.status();
                let score = m
                    .score
                    .map_or(String::new(), |s| format!("score {s} over "));
                lines.push(Line::from(vec![
                    Span::styled(format!(" {word} "), badge(t, role)),
                    Span::styled(
                        format!(
                            " {score}{} objects, {} findings, {} unreadable, {} skipped",
                            m.objects.len(),
                            m.findings.len(),
                            m.errors.len(),
                            m.skipped.len()
                        ),
                        t.text(),
                    ),
                ]));
                if let Some(problem) = m.problem() {
                    lines.push(Line::styled(problem, t.role(Role::Danger)));
                }
            }
            _ => lines.push(Line::styled("scanning…", t.muted())),
        }
        // Jobs with their bars.
        let longest = g
            .jobs
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let label_w = longest.clamp(8, inner_w.saturating_sub(32).max(8));
        for (label, state) in &g.jobs {
            let (text, role) = match state {
                JobState::Queued => ("queued".to_string(), Role::Muted),
                JobState::Running { elapsed_ms } => (
                    format!("running {:.1}s", *elapsed_ms as f64 / 1000.0),
                    Role::Accent,
                ),
                JobState::Done { counts } => match g.kind {
                    GroupKind::Vulnerabilities => {
                        (format!("done {}", counts_text(counts)), Role::Ok)
                    }
                    GroupKind::Manifests => (format!("done {} objects", counts[3]), Role::Ok),
                },
                JobState::Failed { reason } => (format!("failed: {reason}"), Role::Danger),
            };
            let short: String = label.chars().take(label_w).collect();
            lines.push(Line::from(vec![
                Span::styled(format!("{short:<label_w$} "), t.text()),
                Span::styled(bar(job_ratio(state), 10), t.role(role)),
                Span::raw(" "),
                Span::styled(text, t.role(role)),
            ]));
        }
        // The histogram.
        let judged = g
            .verdict
            .as_ref()
            .is_some_and(|v| v.decision != Decision::NoVerdict);
        if g.kind == GroupKind::Vulnerabilities && judged {
            let max = g.counts.0.iter().copied().max().unwrap_or(0).max(1);
            let width = inner_w.saturating_sub(16).clamp(4, 40);
            for s in Severity::ALL {
                let n = g.counts.get(s);
                let len = if n == 0 { 0 } else { (n * width).div_ceil(max) };
                lines.push(Line::from(vec![
                    Span::styled(format!("{:<9}", s.label()), t.role(sev_role(s))),
                    Span::styled("▇".repeat(len), t.role(sev_role(s))),
                    Span::styled(format!(" {n}"), t.text()),
                ]));
            }
            lines.push(Line::styled(
                "enter: findings   w: waive from the findings list",
                t.muted(),
            ));
        } else if g.manifests.is_some() {
            lines.push(Line::styled(
                "enter: objects, scores and findings by check",
                t.muted(),
            ));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            area,
        );
    }

    fn render_findings(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx, gi: usize) {
        let t = ctx.theme;
        let vis: Vec<MergedFinding> = self.visible_findings(gi).into_iter().cloned().collect();
        let g = &self.groups[gi];
        let detail_h = 4.min(area.height.saturating_sub(4));
        let [top, bottom] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
        let (word, role) = g.status();
        let title = match &self.findings.filter {
            Some(f) => format!(
                " {} · findings /{} ({} of {}) ",
                clean_line(&g.name),
                clean_line(&f.text),
                vis.len(),
                g.findings.len()
            ),
            None => format!(
                " {} · findings ({}) ",
                clean_line(&g.name),
                g.findings.len()
            ),
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Line::from(vec![
                Span::styled(title, t.title()),
                Span::styled(format!(" {word} "), badge(t, role)),
            ]));
        let window = self
            .findings
            .window(vis.len(), top.height.saturating_sub(3) as usize);
        self.findings.body_top = 2;
        let flt = self.findings.filter.as_ref();
        let rows: Vec<Row> = vis[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, f)| {
                // Report data is hostile: one line, controls shown escaped.
                let cell = |s: &str, st: Style| {
                    Cell::from(Line::from(filter::spans(
                        flt,
                        &clean_line(s),
                        st,
                        t.highlight(),
                    )))
                };
                let row = Row::new(vec![
                    cell(f.severity.label(), t.role(sev_role(f.severity))),
                    cell(&f.id, t.text()),
                    cell(&f.package, t.text()),
                    cell(&f.installed, t.muted()),
                    cell(
                        f.fixed.as_deref().unwrap_or("—"),
                        if f.fixable() {
                            t.role(Role::Ok)
                        } else {
                            t.muted()
                        },
                    ),
                    cell(
                        &f.scanners
                            .iter()
                            .map(|s| s.label())
                            .collect::<Vec<_>>()
                            .join(","),
                        t.muted(),
                    ),
                ]);
                self.findings.mark(row, window.start + i, ctx)
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(16),
                Constraint::Fill(1),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(11),
            ],
        )
        .header(
            Row::new([
                "SEVERITY",
                "ID",
                "PACKAGE",
                "INSTALLED",
                "FIXED",
                "SCANNERS",
            ])
            .style(t.muted()),
        )
        .block(block);
        frame.render_widget(table, top);
        if let Some(f) = vis.get(self.findings.selected)
            && detail_h > 0
        {
            let mut lines = vec![Line::from(vec![
                Span::styled(format!("{} ", clean_line(&f.id)), t.accent()),
                Span::styled(
                    if f.aliases.is_empty() {
                        String::new()
                    } else {
                        format!("aka {} ", clean_line(&f.aliases.join(", ")))
                    },
                    t.muted(),
                ),
                Span::styled(clean_line(&f.title).into_owned(), t.text()),
            ])];
            let fixed = f.fixed.as_deref().map_or("no fix yet".to_string(), |v| {
                format!("fixed in {}", clean_line(v))
            });
            lines.push(Line::styled(
                format!("{fixed} · in {}", clean_line(&f.targets.join("; "))),
                t.muted(),
            ));
            lines.push(Line::styled(
                "w: waive   h/backspace: back   /: filter",
                t.muted(),
            ));
            frame.render_widget(Paragraph::new(lines), bottom);
        }
    }

    fn render_manifest(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx, gi: usize) {
        let t = ctx.theme;
        let vis: Vec<super::k8s::ObjectScore> =
            self.visible_objects(gi).into_iter().cloned().collect();
        let g = &self.groups[gi];
        let Some(report) = g.manifests.clone() else {
            return;
        };
        let list_h = (vis.len() as u16 + 3).clamp(4, area.height / 2);
        let [top, bottom] =
            Layout::vertical([Constraint::Length(list_h), Constraint::Min(0)]).areas(area);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused))
            .title(Span::styled(
                format!(
                    " {} · {} · objects ({}) ",
                    clean_line(&g.name),
                    report
                        .score
                        .map_or("no score".to_string(), |s| format!("score {s}")),
                    vis.len()
                ),
                t.title(),
            ));
        let window = self
            .objects
            .window(vis.len(), top.height.saturating_sub(3) as usize);
        self.objects.body_top = 2;
        let rows: Vec<Row> = vis[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let role = match o.score {
                    80.. => Role::Ok,
                    50..=79 => Role::Warn,
                    _ => Role::Danger,
                };
                let row = Row::new(vec![
                    Cell::from(Span::styled(format!("{:>3}", o.score), t.role(role))),
                    Cell::from(clean_line(&format!("{}/{}", o.kind, o.name)).into_owned()),
                    Cell::from(Span::styled(
                        clean_line(&o.namespace).into_owned(),
                        t.muted(),
                    )),
                    Cell::from(format!("{}", o.findings)),
                ]);
                self.objects.mark(row, window.start + i, ctx)
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Length(5),
                Constraint::Fill(2),
                Constraint::Fill(1),
                Constraint::Length(8),
            ],
        )
        .header(Row::new(["SCORE", "OBJECT", "NAMESPACE", "FINDINGS"]).style(t.muted()))
        .block(block);
        frame.render_widget(table, top);
        let Some(o) = vis.get(self.objects.selected) else {
            return;
        };
        let mut own: Vec<&K8sFinding> = report
            .findings
            .iter()
            .filter(|f| f.kind == o.kind && f.namespace == o.namespace && f.name == o.name)
            .collect();
        own.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.check.cmp(b.check)));
        let mut lines: Vec<Line> = Vec::new();
        let mut i = 0;
        while i < own.len() {
            let check = own[i].check;
            let same: Vec<&&K8sFinding> =
                own[i..].iter().take_while(|f| f.check == check).collect();
            let first = same[0];
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{:<8} ", first.severity.label()),
                    t.role(sev_role(first.severity)),
                ),
                Span::styled(check, t.accent().add_modifier(Modifier::BOLD)),
                Span::styled(format!("  {}", clean_line(first.remediation)), t.muted()),
            ]));
            for f in &same {
                let c = f
                    .container
                    .as_deref()
                    .map(|c| format!("[{}] ", clean_line(c)))
                    .unwrap_or_default();
                lines.push(Line::styled(
                    format!("         {c}{}", clean_line(&f.message)),
                    t.text(),
                ));
            }
            i += same.len();
        }
        if lines.is_empty() {
            lines.push(Line::styled(
                "no findings: every check passes",
                t.role(Role::Ok),
            ));
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(false))
            .title(Span::styled(
                format!(
                    " {} · findings by check ",
                    clean_line(&format!("{}/{}", o.kind, o.name))
                ),
                t.title(),
            ));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            bottom,
        );
    }

    fn render_form(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let Some(form) = &mut self.form else { return };
        let w = area.width.saturating_sub(4).min(70);
        let h = 12.min(area.height);
        let r = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        frame.render_widget(Clear, r);
        let scope = match (&form.package.is_empty(), &form.image) {
            (false, Some(i)) => format!("{} in {} of {i}", form.id, form.package),
            (false, None) => format!("{} in {}", form.id, form.package),
            _ => form.id.clone(),
        };
        let scope = clean_line(&scope).into_owned();
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(true))
            .title(Span::styled(format!(" Waive {scope} "), t.title()));
        let inner = block.inner(r);
        frame.render_widget(block, r);
        let [l1, jt, l2, ex, err, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(2),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let label = |text: &str, active: bool| {
            Line::styled(
                text.to_string(),
                if active {
                    t.accent().add_modifier(Modifier::BOLD)
                } else {
                    t.muted()
                },
            )
        };
        frame.render_widget(label("Justification", form.field == 0), l1);
        form.justification.set_cursor_style(if form.field == 0 {
            t.selection()
        } else {
            Style::default()
        });
        form.expires.set_cursor_style(if form.field == 1 {
            t.selection()
        } else {
            Style::default()
        });
        frame.render_widget(&form.justification, jt);
        frame.render_widget(
            label("Expires (YYYY-MM-DD, inclusive)", form.field == 1),
            l2,
        );
        frame.render_widget(&form.expires, ex);
        if let Some(e) = &form.error {
            frame.render_widget(Line::styled(e.clone(), t.role(Role::Danger)), err);
        }
        frame.render_widget(
            Line::styled("tab: next field   ctrl-s: save   esc: cancel", t.muted()),
            help,
        );
    }
}

fn badge(t: &Theme, role: Role) -> Style {
    t.role(role)
        .add_modifier(Modifier::REVERSED | Modifier::BOLD)
}

impl Pane for ScansPane {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Scans"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, LEAVE, "Back to the scan queue").hint(),
            ActionDef::new(
                ID,
                WAIVE,
                "Waive the selected finding (justification, expiry)",
            )
            .hint()
            .mutating()
            .guarded("scans.waive"),
            ActionDef::new(ID, CANCEL, "Cancel the running scans")
                .mutating()
                .guarded("scans.run"),
        ]
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        match (action, self.view) {
            (LEAVE, View::Queue) => false,
            (LEAVE, _) => {
                self.view = View::Queue;
                true
            }
            (CANCEL, _) => {
                effects.push(Effect::Request(Request::domain(ScanRequest::Cancel)));
                true
            }
            (WAIVE, View::Findings(g)) => {
                let Some(f) = self
                    .visible_findings(g)
                    .get(self.findings.selected)
                    .map(|f| (*f).clone())
                else {
                    effects.push(Effect::Notify(Level::Warn, "no finding selected".into()));
                    return false;
                };
                self.open_form(&f);
                true
            }
            (WAIVE, _) => {
                effects.push(Effect::Notify(
                    Level::Info,
                    "open a scan's findings (enter) to waive one".into(),
                ));
                false
            }
            (name::SELECT, View::Queue) => {
                let Some(&gi) = self.visible_groups().get(self.queue.selected) else {
                    return false;
                };
                let g = &self.groups[gi];
                if g.manifests.is_some() {
                    self.view = View::Manifest(gi);
                    self.objects = ListView::default();
                } else if g.verdict.is_some() {
                    self.view = View::Findings(gi);
                    self.findings = ListView::default();
                } else {
                    effects.push(Effect::Notify(
                        Level::Info,
                        "this scan has no results yet".into(),
                    ));
                    return false;
                }
                true
            }
            (name::SELECT, _) => false,
            (other, View::Queue) => {
                let n = self.visible_groups().len();
                self.queue.navigate(other, n)
            }
            (other, View::Findings(g)) => {
                let n = self.visible_findings(g).len();
                self.findings.navigate(other, n)
            }
            (other, View::Manifest(g)) => {
                let n = self.visible_objects(g).len();
                self.objects.navigate(other, n)
            }
        }
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        match self.view {
            View::Queue => self.render_queue(frame, area, ctx),
            View::Findings(g) => self.render_findings(frame, area, ctx, g),
            View::Manifest(g) => self.render_manifest(frame, area, ctx, g),
        }
        if self.form.is_some() {
            self.render_form(frame, area, ctx);
        }
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        let list = match self.view {
            View::Queue => &mut self.queue,
            View::Findings(_) => &mut self.findings,
            View::Manifest(_) => &mut self.objects,
        };
        list.filter = filter;
        list.selected = 0;
    }

    fn filter(&self) -> Option<&Filter> {
        ScansPane::filter(self)
    }

    fn selected_text(&self, _shared: &Shared) -> Option<String> {
        match self.view {
            View::Queue => self
                .visible_groups()
                .get(self.queue.selected)
                .map(|&g| self.groups[g].name.clone()),
            View::Findings(g) => self
                .visible_findings(g)
                .get(self.findings.selected)
                .map(|f| finding_text(f)),
            View::Manifest(g) => self
                .visible_objects(g)
                .get(self.objects.selected)
                .map(|o| format!("{}/{}/{} score {}", o.kind, o.namespace, o.name, o.score)),
        }
    }

    fn click(&mut self, row: u16) -> bool {
        match self.view {
            View::Queue => {
                let n = self.visible_groups().len();
                self.queue.click(row, n)
            }
            View::Findings(g) => {
                let n = self.visible_findings(g).len();
                self.findings.click(row, n)
            }
            View::Manifest(g) => {
                let n = self.visible_objects(g).len();
                self.objects.click(row, n)
            }
        }
    }

    fn poll(&mut self, _effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        let events = feed.drain();
        let mut changed = false;
        for ev in &events {
            changed |= self.apply(ev);
        }
        changed
    }

    fn lock(&mut self) {
        self.form = None;
    }

    fn editing(&self) -> bool {
        self.form.is_some()
    }

    fn text_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let Some(form) = &mut self.form else {
            return false;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                self.form = None;
                effects.push(Effect::Notify(Level::Info, "waiver cancelled".into()));
            }
            KeyCode::Tab | KeyCode::BackTab => form.field = 1 - form.field,
            KeyCode::Char('s') if ctrl => self.submit_form(effects),
            KeyCode::Enter if form.field == 1 => self.submit_form(effects),
            _ => {
                form.error = None;
                if form.field == 0 {
                    form.justification.input(key);
                } else if key.code != KeyCode::Enter {
                    form.expires.input(key);
                }
            }
        }
        true
    }
}
