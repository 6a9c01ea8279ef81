//! The `:` command palette: commands with argument completion and history.

use ratatui_textarea::{CursorMove, TextArea};

use super::app::{App, single_line_input};

/// A palette command.
#[derive(Clone, Copy, Debug)]
pub struct CommandDef {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    /// Changes state outside the console (refused in read-only mode).
    pub mutates: bool,
    pub args: Args,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Args {
    None,
    Panes,
    Themes,
    Keymaps,
    OnOff,
    Free,
}

pub const COMMANDS: &[CommandDef] = &[
    CommandDef {
        name: "pane",
        usage: "pane NAME|N",
        summary: "Go to a pane",
        mutates: false,
        args: Args::Panes,
    },
    CommandDef {
        name: "theme",
        usage: "theme NAME",
        summary: "Switch the colour theme",
        mutates: false,
        args: Args::Themes,
    },
    CommandDef {
        name: "keymap",
        usage: "keymap NAME",
        summary: "Switch the keymap",
        mutates: false,
        args: Args::Keymaps,
    },
    CommandDef {
        name: "readonly",
        usage: "readonly [on|off]",
        summary: "Refuse every state-changing action",
        mutates: false,
        args: Args::OnOff,
    },
    CommandDef {
        name: "mouse",
        usage: "mouse [on|off]",
        summary: "Mouse: click to focus, wheel to scroll",
        mutates: false,
        args: Args::OnOff,
    },
    CommandDef {
        name: "filter",
        usage: "filter TEXT",
        summary: "Filter the focused list",
        mutates: false,
        args: Args::Free,
    },
    CommandDef {
        name: "zoom",
        usage: "zoom",
        summary: "Zoom the focused pane",
        mutates: false,
        args: Args::None,
    },
    CommandDef {
        name: "probe",
        usage: "probe",
        summary: "Probe every backend now",
        mutates: false,
        args: Args::None,
    },
    CommandDef {
        name: "scan",
        usage: "scan IMAGE...",
        summary: "Scan images with Trivy and Grype (the Scans pane shows progress)",
        mutates: false,
        args: Args::Free,
    },
    CommandDef {
        name: "silence",
        usage: "silence K=V T WHY",
        summary: "Silence alerts matching K=V... for T (2h), comment WHY",
        mutates: true,
        args: Args::Free,
    },
    CommandDef {
        name: "evidence",
        usage: "evidence ID CTL",
        summary: "Evidence for control CTL: then 90d, link, note",
        mutates: true,
        args: Args::Free,
    },
    CommandDef {
        name: "waive",
        usage: "waive ID CTL",
        summary: "Waive control CTL: then 30d, reason",
        mutates: true,
        args: Args::Free,
    },
    CommandDef {
        name: "unsilence",
        usage: "unsilence ID",
        summary: "Expire an Alertmanager silence",
        mutates: true,
        args: Args::Free,
    },
    CommandDef {
        name: "compact",
        usage: "compact",
        summary: "Compact the embedded store",
        mutates: true,
        args: Args::None,
    },
    CommandDef {
        name: "redraw",
        usage: "redraw",
        summary: "Redraw the screen",
        mutates: false,
        args: Args::None,
    },
    CommandDef {
        name: "help",
        usage: "help",
        summary: "Show every key binding",
        mutates: false,
        args: Args::None,
    },
    CommandDef {
        name: "quit",
        usage: "quit",
        summary: "Quit WindFlow",
        mutates: false,
        args: Args::None,
    },
];

/// A command by name or alias (`q` is `quit`).
pub fn find(name: &str) -> Option<&'static CommandDef> {
    let name = match name {
        "q" | "q!" | "exit" => "quit",
        "ro" => "readonly",
        other => other,
    };
    COMMANDS.iter().find(|c| c.name == name)
}

pub struct Palette {
    pub input: TextArea<'static>,
    /// Completions of `base` (whole command lines).
    pub candidates: Vec<String>,
    pub selected: Option<usize>,
    base: String,
    history_pos: Option<usize>,
}

impl Palette {
    pub fn new(app: &App) -> Self {
        let mut p = Self {
            input: single_line_input("command (Tab completes)".into()),
            candidates: Vec::new(),
            selected: None,
            base: String::new(),
            history_pos: None,
        };
        p.edited(app);
        p
    }

    /// The palette with `line` typed in.
    pub fn with_line(app: &App, line: &str) -> Self {
        let mut p = Self::new(app);
        p.set_line(line);
        p.edited(app);
        p
    }

    pub fn line(&self) -> String {
        self.input.lines().first().cloned().unwrap_or_default()
    }

    fn set_line(&mut self, text: &str) {
        self.input = single_line_input("command (Tab completes)".into());
        self.input.insert_str(text);
        self.input.move_cursor(CursorMove::End);
    }

    /// The text changed by typing: recompute the completions.
    pub fn edited(&mut self, app: &App) {
        self.base = self.line();
        self.candidates = completions(app, &self.base);
        self.selected = None;
        self.history_pos = None;
    }

    /// Tab / Shift-Tab: cycle through the completions of what was typed.
    pub fn complete(&mut self, app: &App, forward: bool) {
        if self.candidates.is_empty() {
            self.candidates = completions(app, &self.base);
        }
        let n = self.candidates.len();
        if n == 0 {
            return;
        }
        let next = match (self.selected, forward) {
            (None, true) => 0,
            (None, false) => n - 1,
            (Some(i), true) => (i + 1) % n,
            (Some(i), false) => (i + n - 1) % n,
        };
        self.selected = Some(next);
        let mut line = self.candidates[next].clone();
        if n == 1 {
            // A unique command that takes arguments: go on to its arguments.
            if let Some(def) = find(line.trim())
                && def.args != Args::None
                && !line.contains(' ')
            {
                line.push(' ');
                self.set_line(&line);
                self.edited(app);
                return;
            }
        }
        self.set_line(&line);
    }

    /// Up / Down: walk the history.
    pub fn history(&mut self, history: &[String], older: bool) {
        if history.is_empty() {
            return;
        }
        let pos = match (self.history_pos, older) {
            (None, true) => history.len() - 1,
            (None, false) => return,
            (Some(0), true) => 0,
            (Some(i), true) => i - 1,
            (Some(i), false) if i + 1 >= history.len() => {
                self.history_pos = None;
                let base = self.base.clone();
                self.set_line(&base);
                return;
            }
            (Some(i), false) => i + 1,
        };
        self.history_pos = Some(pos);
        self.set_line(&history[pos]);
    }
}

/// Whole-line completions of `line`.
pub fn completions(app: &App, line: &str) -> Vec<String> {
    let trimmed = line.trim_start();
    match trimmed.split_once(' ') {
        None => COMMANDS
            .iter()
            .filter(|c| c.name.starts_with(trimmed))
            .map(|c| c.name.to_string())
            .collect(),
        Some((cmd, arg)) => {
            let Some(def) = find(cmd) else {
                return Vec::new();
            };
            let arg = arg.trim_start();
            let options: Vec<String> = match def.args {
                Args::Panes => app.panes.iter().map(|p| p.id().to_string()).collect(),
                Args::Themes => app.theme_names(),
                Args::Keymaps => app.keymap_names(),
                Args::OnOff => vec!["on".into(), "off".into()],
                Args::None | Args::Free => Vec::new(),
            };
            options
                .into_iter()
                .filter(|o| o.starts_with(arg))
                .map(|o| format!("{} {o}", def.name))
                .collect()
        }
    }
}
