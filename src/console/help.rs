//! Help on `?`: every binding of the focused pane, the lists, the global
//! keys, the inputs and the palette commands, generated from the action
//! registry and the active keymap. Searchable with `/`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;

use super::actions::{self, name};
use super::app::App;
use super::filter::{self, Filter};
use super::palette::COMMANDS;

#[derive(Default)]
pub struct HelpState {
    pub scroll: usize,
    pub search: Option<TextArea<'static>>,
    pub query: Option<Filter>,
    pub typing: bool,
    /// Lines visible at the last render (for paging).
    pub height: usize,
}

impl HelpState {
    pub fn scroll_by(&mut self, action: &str) {
        let half = (self.height / 2).max(1);
        self.scroll = match action {
            name::UP => self.scroll.saturating_sub(1),
            name::DOWN => self.scroll.saturating_add(1),
            name::TOP => 0,
            name::BOTTOM => usize::MAX,
            name::HALF_PAGE_UP => self.scroll.saturating_sub(half),
            name::HALF_PAGE_DOWN => self.scroll.saturating_add(half),
            _ => self.scroll,
        };
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelpRow {
    Section(String),
    Entry { keys: String, description: String },
}

/// The help text: one section per active scope, then the palette commands.
pub fn rows(app: &App) -> Vec<HelpRow> {
    let pane = app.pane();
    let sections: [(String, &str); 6] = [
        (format!("{} pane", pane.title()), pane.id()),
        ("Lists".into(), actions::LIST),
        ("Global".into(), actions::GLOBAL),
        (
            "Inputs: palette, filter, search, typed confirmation".into(),
            actions::INPUT,
        ),
        ("Confirmations".into(), actions::CONFIRM),
        ("Help".into(), actions::HELP),
    ];
    let mut out = Vec::new();
    for (title, scope) in sections {
        let entries: Vec<HelpRow> = app
            .registry
            .in_scope(scope)
            .filter_map(|def| {
                let keys = app.keymap.keys_label(scope, def.name)?;
                let b = app.keymap.binding(scope, def.name)?;
                let mut description = b.description.clone();
                // A pane key names its pane; keys of panes that do not exist are left out.
                if scope == actions::GLOBAL
                    && let Some(i) = actions::name::PANE.iter().position(|p| *p == def.name)
                {
                    description = format!("{description}: {}", app.panes.get(i)?.title());
                }
                if def.mutates {
                    description.push_str(" [changes state]");
                }
                Some(HelpRow::Entry { keys, description })
            })
            .collect();
        if !entries.is_empty() {
            out.push(HelpRow::Section(title));
            out.extend(entries);
        }
    }
    out.push(HelpRow::Section(
        "Commands (: palette, Tab completes)".into(),
    ));
    for c in COMMANDS {
        let mut description = c.summary.to_string();
        if c.mutates {
            description.push_str(" [changes state]");
        }
        out.push(HelpRow::Entry {
            keys: format!(":{}", c.usage),
            description,
        });
    }
    out
}

pub fn render(app: &App, state: &mut HelpState, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let all = rows(app);
    let shown: Vec<&HelpRow> = match &state.query {
        None => all.iter().collect(),
        Some(q) => {
            // Keep the sections that still have a matching entry.
            let mut out: Vec<&HelpRow> = Vec::new();
            let mut section: Option<&HelpRow> = None;
            for r in &all {
                match r {
                    HelpRow::Section(_) => section = Some(r),
                    HelpRow::Entry { keys, description } => {
                        if q.keeps(&format!("{keys} {description}")) {
                            if let Some(s) = section.take() {
                                out.push(s);
                            }
                            out.push(r);
                        }
                    }
                }
            }
            out
        }
    };
    let key_width = all
        .iter()
        .filter_map(|r| match r {
            HelpRow::Entry { keys, .. } => Some(keys.chars().count()),
            _ => None,
        })
        .max()
        .unwrap_or(8)
        .min(28);
    frame.render_widget(Clear, area);
    let mut title = " Help ".to_string();
    if let Some(q) = &state.query {
        title = format!(
            " Help  /{}  ({} matching) ",
            q.text,
            shown
                .iter()
                .filter(|r| matches!(r, HelpRow::Entry { .. }))
                .count()
        );
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(true))
        .title(Span::styled(title, t.title()))
        .title_bottom(Line::styled(" / search  j/k scroll  Esc close ", t.muted()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let search_height = u16::from(state.search.is_some());
    let list_area = Rect {
        height: inner.height.saturating_sub(search_height),
        ..inner
    };
    state.height = list_area.height as usize;
    let hl = t.highlight();
    // Entries too long for the width continue on indented lines, so that nothing
    // is cut off at 80 columns.
    let indent = key_width + 4;
    let text_width = (list_area.width as usize).saturating_sub(indent).max(20);
    let all_lines: Vec<Line> = shown
        .iter()
        .flat_map(|r| match r {
            HelpRow::Section(s) => vec![Line::styled(s.clone(), t.accent())],
            HelpRow::Entry { keys, description } => {
                let padded = format!("  {:<key_width$}  ", keys);
                let mut first: Vec<Span<'static>> = filter::spans(
                    state.query.as_ref(),
                    &padded,
                    t.role(super::theme::Role::Warn),
                    hl,
                );
                let mut chunks = wrap(description, text_width).into_iter();
                let head = chunks.next().unwrap_or_default();
                first.extend(filter::spans(state.query.as_ref(), &head, t.text(), hl));
                std::iter::once(Line::from(first))
                    .chain(chunks.map(|chunk| {
                        let mut spans = vec![Span::raw(" ".repeat(indent))];
                        spans.extend(filter::spans(state.query.as_ref(), &chunk, t.text(), hl));
                        Line::from(spans)
                    }))
                    .collect()
            }
        })
        .collect();
    let max_scroll = all_lines.len().saturating_sub(state.height);
    state.scroll = state.scroll.min(max_scroll);
    let lines: Vec<Line> = all_lines
        .into_iter()
        .skip(state.scroll)
        .take(state.height)
        .collect();
    frame.render_widget(Paragraph::new(lines), list_area);
    if let Some(input) = &state.search {
        let area = Rect {
            y: list_area.y + list_area.height,
            height: 1,
            ..inner
        };
        let [label, field] = ratatui::layout::Layout::horizontal([
            ratatui::layout::Constraint::Length(2),
            ratatui::layout::Constraint::Fill(1),
        ])
        .areas(area);
        frame.render_widget(Span::styled("/ ", t.accent()), label);
        frame.render_widget(input, field);
    }
}

/// Splits `text` at spaces into pieces of at most `width` characters (a word longer
/// than that is cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let used = line.chars().count();
        if used > 0 && used + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let cut: String = line.chars().take(width).collect();
            line = line.chars().skip(width).collect();
            out.push(cut);
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces_and_cuts_only_overlong_words() {
        assert_eq!(
            wrap("Revoke every session of the user", 14),
            ["Revoke every", "session of the", "user"]
        );
        assert_eq!(wrap("short", 14), ["short"]);
        assert_eq!(wrap("", 14), [""]);
        assert_eq!(wrap("abcdefghij xy", 4), ["abcd", "efgh", "ij", "xy"]);
    }
}
