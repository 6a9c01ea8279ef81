//! The reachability matrix of the Isolation pane: every namespace with pods
//! against every other, each cell the ports some pod of the row's namespace
//! can open on some pod of the column's (from [`super::reach`]), with a
//! cursor; Enter on a cell lists its pod pairs and the policies that let
//! each through. Names are cut to fit and the grid scrolls both ways, so
//! it works at 80x24; the cursor's cell is named in full below the grid.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::ports::PortSet;
use super::reach::{Engine, Side};
use super::state::ClusterState;
use crate::console::actions::name;
use crate::console::panes::RenderCtx;
use crate::console::theme::Role;
use crate::display::clean_line;

/// Width of a cell (a space included).
const CELL_W: usize = 8;
/// The widest a row's label gets.
const LABEL_MAX: usize = 16;
/// The most pod pairs a cell's detail lists.
const PAIRS_MAX: usize = 200;

pub struct Matrix {
    pub namespaces: Vec<String>,
    /// `cells[row * n + col]`: what `namespaces[row]` reaches in `namespaces[col]`.
    cells: Vec<PortSet>,
    /// Policies the reachability left out (the API server would refuse them).
    warnings: Vec<String>,
    pub row: usize,
    pub col: usize,
    row_off: usize,
    col_off: usize,
    /// A cell's pods and policies, and how far it is scrolled.
    pub drill: Option<(Vec<String>, usize)>,
    /// Lines of the grid or the detail shown at the last render.
    height: usize,
}

impl Matrix {
    pub fn new(state: &ClusterState) -> Self {
        let mut m = Self {
            namespaces: Vec::new(),
            cells: Vec::new(),
            warnings: Vec::new(),
            row: 0,
            col: 0,
            row_off: 0,
            col_off: 0,
            drill: None,
            height: 0,
        };
        m.rebuild(state);
        m
    }

    /// Computes the cells again from `state` (the cursor stays on the same
    /// namespaces when they are still there).
    pub fn rebuild(&mut self, state: &ClusterState) {
        let (row_ns, col_ns) = (
            self.namespaces.get(self.row).cloned(),
            self.namespaces.get(self.col).cloned(),
        );
        let engine = Engine::new(state);
        let pods = engine.pod_count();
        let mut namespaces: Vec<String> = (0..pods)
            .map(|i| engine.pod_namespace(i).to_owned())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        let of: Vec<usize> = (0..pods)
            .map(|i| {
                namespaces
                    .binary_search_by(|n| n.as_str().cmp(engine.pod_namespace(i)))
                    .unwrap_or(0)
            })
            .collect();
        let n = namespaces.len();
        let mut cells = vec![PortSet::none(); n * n];
        let all: Vec<usize> = (0..pods).collect();
        engine.for_each_allowed(&all, &all, |s, d, p| {
            cells[of[s] * n + of[d]].union_with(&p);
        });
        let find = |ns: Option<String>| {
            ns.and_then(|ns| namespaces.iter().position(|n| *n == ns))
                .unwrap_or(0)
        };
        self.row = find(row_ns);
        self.col = find(col_ns);
        self.warnings = engine.warnings.clone();
        self.namespaces = namespaces;
        self.cells = cells;
    }

    fn cell(&self, row: usize, col: usize) -> &PortSet {
        &self.cells[row * self.namespaces.len() + col]
    }

    /// A list action, or a column move; true when something changed.
    pub fn handle(&mut self, action: &str, state: &ClusterState) -> bool {
        let n = self.namespaces.len();
        if let Some((lines, at)) = &mut self.drill {
            let last = lines.len().saturating_sub(1);
            let page = self.height.max(1);
            let before = *at;
            *at = match action {
                name::UP => at.saturating_sub(1),
                name::DOWN => (*at + 1).min(last),
                name::TOP => 0,
                name::BOTTOM => last,
                name::PAGE_UP | name::HALF_PAGE_UP => at.saturating_sub(page),
                name::PAGE_DOWN | name::HALF_PAGE_DOWN => (*at + page).min(last),
                _ => return false,
            };
            return *at != before;
        }
        if n == 0 {
            return false;
        }
        let (row, col) = (self.row, self.col);
        match action {
            name::UP => self.row = self.row.saturating_sub(1),
            name::DOWN => self.row = (self.row + 1).min(n - 1),
            name::TOP => self.row = 0,
            name::BOTTOM => self.row = n - 1,
            name::PAGE_UP | name::HALF_PAGE_UP => {
                self.row = self.row.saturating_sub(self.height.max(1))
            }
            name::PAGE_DOWN | name::HALF_PAGE_DOWN => {
                self.row = (self.row + self.height.max(1)).min(n - 1)
            }
            super::pane::LEFT => self.col = self.col.saturating_sub(1),
            super::pane::RIGHT => self.col = (self.col + 1).min(n - 1),
            name::SELECT => {
                self.drill = Some((self.detail(state), 0));
                return true;
            }
            _ => return false,
        }
        (row, col) != (self.row, self.col)
    }

    /// The cursor's cell: its pod pairs, their ports, and why each is allowed.
    pub fn detail(&self, state: &ClusterState) -> Vec<String> {
        let (Some(from), Some(to)) = (self.namespaces.get(self.row), self.namespaces.get(self.col))
        else {
            return Vec::new();
        };
        let engine = Engine::new(state);
        let (srcs, dsts) = (engine.pods_in(from), engine.pods_in(to));
        let mut pairs = Vec::new();
        engine.for_each_allowed(&srcs, &dsts, |s, d, _| pairs.push((s, d)));
        let mut lines = vec![format!(
            "{from} -> {to}: {} ({} of {} pod pairs open)",
            self.cell(self.row, self.col),
            pairs.len(),
            srcs.len() * dsts.len() - if from == to { srcs.len() } else { 0 }
        )];
        if pairs.is_empty() {
            lines.push(format!(
                "no pod of {from} can open a connection to a pod of {to}"
            ));
        }
        for &(s, d) in pairs.iter().take(PAIRS_MAX) {
            let e = engine.explain(s, d);
            lines.push(format!("{} -> {}  {}", e.from, e.to, e.ports));
            lines.extend(side_lines(&e.egress));
            lines.extend(side_lines(&e.ingress));
        }
        if pairs.len() > PAIRS_MAX {
            lines.push(format!(
                "… and {} more pairs (`windflow isolate matrix` lists them all)",
                pairs.len() - PAIRS_MAX
            ));
        }
        lines
    }

    pub fn selected_text(&self) -> Option<String> {
        let from = self.namespaces.get(self.row)?;
        let to = self.namespaces.get(self.col)?;
        Some(format!("{from} -> {to}: {}", self.cell(self.row, self.col)))
    }

    pub fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border(ctx.focused));
        let inner_h = area.height.saturating_sub(2) as usize;
        if let Some((lines, at)) = &mut self.drill {
            self.height = inner_h;
            *at = (*at).min(lines.len().saturating_sub(inner_h.max(1)));
            let shown: Vec<Line> = lines
                .iter()
                .skip(*at)
                .take(inner_h)
                .map(|l| {
                    let role = if l.starts_with("  ") {
                        Role::Muted
                    } else {
                        Role::Text
                    };
                    Line::styled(clean_line(l).into_owned(), t.role(role))
                })
                .collect();
            let title = " Reachability: pods and policies of the cell (Esc: the matrix) ";
            frame.render_widget(
                Paragraph::new(shown).block(block.title(Span::styled(title, t.title()))),
                area,
            );
            return;
        }
        let n = self.namespaces.len();
        let title = format!(" Reachability ({n} namespaces with pods; rows reach columns) ");
        let block = block.title(Span::styled(title, t.title()));
        if n == 0 {
            let text = "no pods in the live state: nothing to reach";
            frame.render_widget(
                Paragraph::new(Line::styled(text, t.muted())).block(block),
                area,
            );
            return;
        }
        let inner_w = area.width.saturating_sub(2) as usize;
        let label_w = self
            .namespaces
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(6, LABEL_MAX)
            .min(inner_w / 3);
        let cols = ((inner_w.saturating_sub(label_w + 1)) / CELL_W).max(1);
        // Header, grid, then two lines: the cursor's cell, and notes.
        let rows = inner_h.saturating_sub(3).max(1);
        self.height = rows;
        self.col_off = follow(self.col, self.col_off, cols);
        self.row_off = follow(self.row, self.row_off, rows);
        let col_range = self.col_off..(self.col_off + cols).min(n);
        let mut lines = Vec::new();
        let mut header = vec![Span::raw(format!("{:label_w$} ", "from \\ to"))];
        for c in col_range.clone() {
            let style = if c == self.col { t.title() } else { t.muted() };
            header.push(Span::styled(
                format!("{:<w$}", cut(&self.namespaces[c], CELL_W - 1), w = CELL_W),
                style,
            ));
        }
        lines.push(Line::from(header));
        for r in self.row_off..(self.row_off + rows).min(n) {
            let style = if r == self.row { t.title() } else { t.muted() };
            let mut spans = vec![Span::styled(
                format!("{:<label_w$} ", cut(&self.namespaces[r], label_w)),
                style,
            )];
            for c in col_range.clone() {
                let p = self.cell(r, c);
                let role = if p.is_empty() {
                    Role::Muted
                } else if p.is_all() {
                    Role::Danger
                } else if r != c {
                    Role::Warn
                } else {
                    Role::Text
                };
                let mut style: Style = t.role(role);
                if (r, c) == (self.row, self.col) {
                    style = t.highlight();
                }
                spans.push(Span::styled(
                    format!("{:<w$}", short(p), w = CELL_W - 1),
                    style,
                ));
                spans.push(Span::raw(" "));
            }
            lines.push(Line::from(spans));
        }
        let (from, to) = (&self.namespaces[self.row], &self.namespaces[self.col]);
        lines.push(Line::styled(
            clean_line(&format!(
                "{from} -> {to}: {}  (Enter: pods and policies)",
                self.cell(self.row, self.col)
            ))
            .into_owned(),
            t.text(),
        ));
        let mut notes = Vec::new();
        if n > cols {
            notes.push(format!(
                "columns {}-{} of {n} (h/l or ←/→)",
                col_range.start + 1,
                col_range.end
            ));
        }
        if !self.warnings.is_empty() {
            notes.push(format!(
                "{} policies left out: the API server would refuse them",
                self.warnings.len()
            ));
        }
        lines.push(Line::styled(notes.join("; "), t.muted()));
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }
}

/// The first line of `off..off+len` keeping `at` in sight.
fn follow(at: usize, off: usize, len: usize) -> usize {
    if at < off {
        at
    } else if at >= off + len {
        at + 1 - len
    } else {
        off
    }
}

/// `text` cut to `w` characters, `…` marking the cut; escaped.
fn cut(text: &str, w: usize) -> String {
    let clean = clean_line(text);
    if clean.chars().count() <= w {
        return clean.into_owned();
    }
    let mut out: String = clean.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A cell: `·` nothing, `all`, one port (`8080`, `U53`), or the first and how many more.
fn short(p: &PortSet) -> String {
    if p.is_empty() {
        return "·".into();
    }
    if p.is_all() {
        return "all".into();
    }
    let d = p.describe();
    let first = d[0]
        .strip_prefix("TCP ")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let (proto, port) = d[0].split_once(' ').unwrap_or(("", &d[0]));
            format!("{}{port}", proto.chars().next().unwrap_or(' '))
        });
    let text = if d.len() > 1 {
        format!("{first}+{}", d.len() - 1)
    } else {
        first
    };
    cut(&text, CELL_W - 1)
}

fn side_lines(s: &Side) -> Vec<String> {
    let dir = format!("{:?}", s.direction).to_lowercase();
    if !s.isolated {
        return vec![format!("  {dir}: not isolated (no policy selects the pod)")];
    }
    s.allowed_by
        .iter()
        .map(|a| format!("  {dir}: {} allows {}", a.policy, a.ports.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployments::Protocol;

    #[test]
    fn cells_fit_their_width() {
        assert_eq!(short(&PortSet::none()), "·");
        assert_eq!(short(&PortSet::all()), "all");
        assert_eq!(short(&PortSet::port(Protocol::Tcp, 8080)), "8080");
        assert_eq!(short(&PortSet::port(Protocol::Udp, 53)), "U53");
        let mut two = PortSet::port(Protocol::Tcp, 8080);
        two.union_with(&PortSet::port(Protocol::Udp, 53));
        assert_eq!(short(&two), "8080+1");
        let wide = PortSet::range(Protocol::Tcp, 30000, 32767);
        assert!(short(&wide).chars().count() < CELL_W, "{}", short(&wide));
        assert_eq!(cut("wf-payments-eu-west", 7), "wf-pay…");
        assert_eq!(cut("wf-payments-eu-west", 7).chars().count(), 7);
    }

    #[test]
    fn the_window_follows_the_cursor() {
        assert_eq!(follow(0, 0, 5), 0);
        assert_eq!(follow(7, 0, 5), 3);
        assert_eq!(follow(2, 3, 5), 2);
    }
}
