//! The registry of actions: every thing a key can do, with the scope it lives
//! in. Keymaps bind keys to these names; help and the footer are generated
//! from the registry and the active keymap, never written by hand.

/// Where an action is available.
///
/// `global` and `list` are active under every pane; a pane's own scope (its
/// id) is active while the pane has focus. `input`, `confirm` and `help` are
/// modal: only they are active while their mode is open.
pub const GLOBAL: &str = "global";
pub const LIST: &str = "list";
pub const INPUT: &str = "input";
pub const CONFIRM: &str = "confirm";
pub const HELP: &str = "help";

/// Scopes that replace every other scope while they are active.
pub const MODAL_SCOPES: [&str; 3] = [INPUT, CONFIRM, HELP];

/// One action: its name in keymaps, the scope that owns it and a fallback
/// description for keymaps that do not give one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionDef {
    pub scope: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    /// Changes state outside the console (refused in read-only mode).
    pub mutates: bool,
    /// Shown in the footer's key hints.
    pub hint: bool,
    /// The name the authorisation table knows this action by
    /// (`auth::requirement`): role and step-up are checked there.
    pub guard: Option<&'static str>,
}

impl ActionDef {
    pub const fn new(scope: &'static str, name: &'static str, summary: &'static str) -> Self {
        Self {
            scope,
            name,
            summary,
            mutates: false,
            hint: false,
            guard: None,
        }
    }

    /// Checked by `auth::requirement(guard)` before it runs.
    pub const fn guarded(mut self, guard: &'static str) -> Self {
        self.guard = Some(guard);
        self
    }

    pub const fn hint(mut self) -> Self {
        self.hint = true;
        self
    }

    pub const fn mutating(mut self) -> Self {
        self.mutates = true;
        self
    }
}

/// Names of the console's own actions.
pub mod name {
    pub const QUIT: &str = "quit";
    pub const HELP: &str = "help";
    pub const PALETTE: &str = "palette";
    pub const FILTER: &str = "filter";
    pub const NEXT_PANE: &str = "next_pane";
    pub const PREV_PANE: &str = "prev_pane";
    /// The first ten panes' own keys (`1`..`9`, `0`); `:pane NAME` reaches any.
    pub const PANE: [&str; 10] = [
        "pane_1", "pane_2", "pane_3", "pane_4", "pane_5", "pane_6", "pane_7", "pane_8", "pane_9",
        "pane_10",
    ];
    pub const ZOOM: &str = "zoom";
    pub const COPY: &str = "copy";
    pub const REDRAW: &str = "redraw";
    pub const SUSPEND: &str = "suspend";
    pub const BACK: &str = "back";

    pub const UP: &str = "up";
    pub const DOWN: &str = "down";
    pub const TOP: &str = "top";
    pub const BOTTOM: &str = "bottom";
    pub const HALF_PAGE_UP: &str = "half_page_up";
    pub const HALF_PAGE_DOWN: &str = "half_page_down";
    pub const PAGE_UP: &str = "page_up";
    pub const PAGE_DOWN: &str = "page_down";
    pub const SELECT: &str = "select";

    pub const SUBMIT: &str = "submit";
    pub const CANCEL: &str = "cancel";
    pub const COMPLETE: &str = "complete";
    pub const COMPLETE_PREV: &str = "complete_prev";
    pub const HISTORY_PREV: &str = "history_prev";
    pub const HISTORY_NEXT: &str = "history_next";

    pub const CONFIRM_YES: &str = "yes";
    pub const CONFIRM_NO: &str = "no";

    pub const HELP_SEARCH: &str = "search";
    pub const HELP_CLOSE: &str = "close";
}

/// The console's own actions (panes add theirs through [`super::panes::Pane::actions`]).
pub fn core_actions() -> Vec<ActionDef> {
    use name::*;
    let mut v = vec![
        ActionDef::new(GLOBAL, QUIT, "Quit WindFlow").hint(),
        ActionDef::new(GLOBAL, HELP, "Show the key bindings").hint(),
        ActionDef::new(GLOBAL, PALETTE, "Open the command palette").hint(),
        ActionDef::new(GLOBAL, FILTER, "Filter the focused list").hint(),
        ActionDef::new(GLOBAL, NEXT_PANE, "Next pane").hint(),
        ActionDef::new(GLOBAL, PREV_PANE, "Previous pane"),
        ActionDef::new(GLOBAL, ZOOM, "Zoom the focused pane").hint(),
        ActionDef::new(GLOBAL, COPY, "Copy the selection (OSC 52)"),
        ActionDef::new(GLOBAL, REDRAW, "Redraw the screen"),
        ActionDef::new(GLOBAL, SUSPEND, "Suspend to the shell (fg resumes)"),
        ActionDef::new(GLOBAL, BACK, "Leave the current mode, clear the filter"),
        ActionDef::new(LIST, UP, "Move up").hint(),
        ActionDef::new(LIST, DOWN, "Move down").hint(),
        ActionDef::new(LIST, TOP, "Go to the first row"),
        ActionDef::new(LIST, BOTTOM, "Go to the last row"),
        ActionDef::new(LIST, HALF_PAGE_UP, "Half a page up"),
        ActionDef::new(LIST, HALF_PAGE_DOWN, "Half a page down"),
        ActionDef::new(LIST, PAGE_UP, "A page up"),
        ActionDef::new(LIST, PAGE_DOWN, "A page down"),
        ActionDef::new(LIST, SELECT, "Open the selected row"),
        ActionDef::new(INPUT, SUBMIT, "Run or accept the input").hint(),
        ActionDef::new(INPUT, CANCEL, "Leave the input").hint(),
        ActionDef::new(INPUT, COMPLETE, "Complete").hint(),
        ActionDef::new(INPUT, COMPLETE_PREV, "Previous completion"),
        ActionDef::new(INPUT, HISTORY_PREV, "Older history entry").hint(),
        ActionDef::new(INPUT, HISTORY_NEXT, "Newer history entry"),
        ActionDef::new(CONFIRM, CONFIRM_YES, "Confirm").hint(),
        ActionDef::new(CONFIRM, CONFIRM_NO, "Cancel").hint(),
        ActionDef::new(HELP, UP, "Scroll up"),
        ActionDef::new(HELP, DOWN, "Scroll down").hint(),
        ActionDef::new(HELP, TOP, "Go to the top"),
        ActionDef::new(HELP, BOTTOM, "Go to the bottom"),
        ActionDef::new(HELP, HALF_PAGE_UP, "Half a page up"),
        ActionDef::new(HELP, HALF_PAGE_DOWN, "Half a page down"),
        ActionDef::new(HELP, HELP_SEARCH, "Search the bindings").hint(),
        ActionDef::new(HELP, HELP_CLOSE, "Close help").hint(),
    ];
    for (i, pane) in PANE.iter().enumerate() {
        v.push(ActionDef::new(GLOBAL, pane, PANE_SUMMARIES[i]));
    }
    v
}

const PANE_SUMMARIES: [&str; 10] = [
    "Go to pane 1",
    "Go to pane 2",
    "Go to pane 3",
    "Go to pane 4",
    "Go to pane 5",
    "Go to pane 6",
    "Go to pane 7",
    "Go to pane 8",
    "Go to pane 9",
    "Go to pane 10",
];

/// All known actions, looked up by scope and name.
#[derive(Clone, Debug, Default)]
pub struct ActionRegistry {
    defs: Vec<ActionDef>,
}

impl ActionRegistry {
    pub fn new(defs: impl IntoIterator<Item = ActionDef>) -> Self {
        Self {
            defs: defs.into_iter().collect(),
        }
    }

    pub fn get(&self, scope: &str, name: &str) -> Option<&ActionDef> {
        self.defs
            .iter()
            .find(|d| d.scope == scope && d.name == name)
    }

    pub fn scopes(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for d in &self.defs {
            if !out.contains(&d.scope) {
                out.push(d.scope);
            }
        }
        out
    }

    pub fn in_scope<'a>(&'a self, scope: &'a str) -> impl Iterator<Item = &'a ActionDef> + 'a {
        self.defs.iter().filter(move |d| d.scope == scope)
    }

    pub fn is_modal(scope: &str) -> bool {
        MODAL_SCOPES.contains(&scope)
    }
}
