//! The Secrets pane: a tree of every path with recursive fuzzy search (`/`),
//! the selected secret's metadata, keys (masked) and versions, expiry as time
//! left, reveal with step-up (re-masked after 30 s), copy (OSC 52), diff
//! between versions, rotation with live steps, rollback to a chosen version,
//! and an editor whose save shows a diff first. No IO: requests out, events in.

use crate::display::{Untrusted, clean_line};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use super::model::{self, Change, DiffLine, Expiry, PathIndex, SecretMeta, Values};
use super::rotation::{Outcome, Progress, Recovered, Step, StepStatus, Validation};
use super::service::{REVEAL_FOR, SecretsEvent, SecretsRequest};
use crate::console::actions::{ActionDef, name};
use crate::console::app::{ConfirmSpec, Request};
use crate::console::filter::Filter;
use crate::console::fmt;
use crate::console::panes::{Effect, ListView, Pane, RenderCtx, Shared};
use crate::console::theme::{Role, Theme};
use crate::service::{DomainRx, Level};

pub const ID: &str = "secrets";
pub const REFRESH: &str = "refresh";
pub const REVEAL: &str = "reveal";
pub const ROTATE: &str = "rotate";
pub const ROLLBACK: &str = "rollback";
pub const EDIT: &str = "edit";
pub const OLDER: &str = "older_version";
pub const NEWER: &str = "newer_version";
pub const MARK: &str = "mark_version";
pub const DIFF: &str = "diff";
pub const CLOSE: &str = "close";
pub const NEXT_KEY: &str = "next_key";
pub const PREV_KEY: &str = "prev_key";

/// One row of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Row {
    Folder {
        label: String,
        depth: usize,
    },
    Secret {
        path: String,
        label: String,
        depth: usize,
    },
}

struct Revealed {
    path: String,
    version: u64,
    values: Values,
    until: Instant,
}

struct Detail {
    meta: SecretMeta,
    version: u64,
    hashes: Vec<(String, String)>,
}

struct DiffView {
    path: String,
    v1: u64,
    v2: u64,
    lines: Vec<DiffLine>,
    values: Option<(Values, Values)>,
}

struct RotationView {
    path: String,
    steps: Vec<(Step, StepStatus)>,
    outcome: Option<Result<Outcome, String>>,
}

struct Editor {
    path: String,
    version: u64,
    original: Values,
    area: TextArea<'static>,
    error: Option<String>,
    /// Parsed and diffed: waiting for the save to be confirmed.
    review: Option<(Values, Vec<DiffLine>)>,
}

/// The rotate form: which keys, an optional check and an optional policy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FormField {
    Keys,
    Check,
    Policy,
}

/// A rotation's choices, kept for the next rotation of the same path.
#[derive(Clone, Debug)]
struct LastRotation {
    keys: Vec<String>,
    check: String,
    policy: String,
}

struct RotateForm {
    path: String,
    /// Each key of the current version, and whether it rotates.
    keys: Vec<(String, bool)>,
    cursor: usize,
    /// Which part has the focus (Tab moves on).
    field: FormField,
    /// A command or a probe URL (empty: the rule's check, else read-back).
    check: TextArea<'static>,
    /// `LEN[:ALPHABET]` for every chosen key (empty: the rule's, else the default).
    policy: TextArea<'static>,
    /// The path's `[[secrets.rotation]]` rule, in one line.
    rule: Option<String>,
    error: Option<String>,
}

enum View {
    Detail,
    RotateForm(Box<RotateForm>),
    Diff(DiffView),
    Rotation(RotationView),
    Edit(Box<Editor>),
}

pub struct SecretsPane {
    index: PathIndex,
    metas: HashMap<String, SecretMeta>,
    rows: Vec<Row>,
    list: ListView,
    detail: Option<Detail>,
    revealed: Option<Revealed>,
    /// Index into the detail's versions, newest first.
    version_sel: usize,
    /// Index into the detail's keys (the row `y` copies once revealed).
    key_sel: usize,
    /// Rotation rules by path: (keys, one-line summary).
    rules: HashMap<String, (Vec<String>, String)>,
    /// What the last rotation of each path chose (keys, check, policy): the
    /// form starts from it.
    last_rotation: HashMap<String, LastRotation>,
    mark: Option<u64>,
    view: View,
    loaded: Option<Duration>,
    error: Option<String>,
    recovered: Vec<Recovered>,
    /// Unix seconds "now" for expiry (tests fix it; else the wall clock).
    now_override: Option<i64>,
    feed: Option<DomainRx<SecretsEvent>>,
}

impl SecretsPane {
    /// The pane fed by the secrets service's channel.
    pub fn new(feed: DomainRx<SecretsEvent>) -> Self {
        Self {
            feed: Some(feed),
            ..Self::default()
        }
    }

    /// Applies one event of the secrets service.
    fn apply(&mut self, ev: &SecretsEvent, effects: &mut Vec<Effect>) -> bool {
        match ev {
            SecretsEvent::Index { paths, took } => {
                self.index = PathIndex::new(paths.clone());
                self.loaded = Some(*took);
                self.error = None;
                self.rebuild();
                if self.detail.is_none() {
                    if self.selected_path().is_none() {
                        self.list.selected = self
                            .rows
                            .iter()
                            .position(|r| matches!(r, Row::Secret { .. }))
                            .unwrap_or(0);
                    }
                    self.select_changed(effects);
                }
            }
            SecretsEvent::Metas(metas) => {
                for m in metas {
                    self.learn(m, effects);
                }
            }
            SecretsEvent::Detail {
                meta,
                version,
                hashes,
            } => {
                self.learn(meta, effects);
                if self.selected_path() == Some(meta.path.as_str()) {
                    // After a write (rotation, rollback, edit, another
                    // writer) the cursor goes to the new current version.
                    if self.detail.as_ref().is_some_and(|d| {
                        d.meta.path == meta.path && d.meta.current_version != meta.current_version
                    }) {
                        self.version_sel = 0;
                    }
                    self.detail = Some(Detail {
                        meta: meta.clone(),
                        version: *version,
                        hashes: hashes.clone(),
                    });
                    self.version_sel = self.version_sel.min(meta.versions.len().saturating_sub(1));
                    self.key_sel = self.key_sel.min(hashes.len().saturating_sub(1));
                } else if !self.index.paths().contains(&meta.path) {
                    // A new secret (written from the editor or elsewhere).
                    let mut paths = self.index.paths().to_vec();
                    paths.push(meta.path.clone());
                    self.index = PathIndex::new(paths);
                    self.rebuild();
                }
            }
            SecretsEvent::Revealed {
                path,
                version,
                values,
            } => {
                self.revealed = Some(Revealed {
                    path: path.clone(),
                    version: *version,
                    values: values.clone(),
                    until: Instant::now() + REVEAL_FOR,
                });
            }
            SecretsEvent::Remask { path } => {
                if self.revealed.as_ref().is_some_and(|r| &r.path == path) {
                    self.revealed = None;
                }
            }
            SecretsEvent::Editing {
                path,
                version,
                values,
            } => {
                let text = model::editor_text(values);
                let mut area = TextArea::new(text.lines().map(str::to_owned).collect());
                area.set_placeholder_text("KEY=VALUE per line; indent to continue a value");
                self.view = View::Edit(Box::new(Editor {
                    path: path.clone(),
                    version: *version,
                    original: values.clone(),
                    area,
                    error: None,
                    review: None,
                }));
            }
            SecretsEvent::Diff {
                path,
                v1,
                v2,
                lines,
                values,
            } => {
                self.view = View::Diff(DiffView {
                    path: path.clone(),
                    v1: *v1,
                    v2: *v2,
                    lines: lines.clone(),
                    values: values.clone(),
                });
            }
            SecretsEvent::Rule {
                path,
                keys,
                summary,
            } => {
                self.rules
                    .insert(path.clone(), (keys.clone(), summary.clone()));
            }
            SecretsEvent::Progress(Progress { path, step, status }) => {
                if !matches!(&self.view, View::Rotation(r) if &r.path == path) {
                    self.view = View::Rotation(RotationView {
                        path: path.clone(),
                        steps: Vec::new(),
                        outcome: None,
                    });
                }
                if let View::Rotation(r) = &mut self.view {
                    match r.steps.iter_mut().find(|(s, _)| s == step) {
                        Some(entry) => entry.1 = status.clone(),
                        None => r.steps.push((*step, status.clone())),
                    }
                }
            }
            SecretsEvent::Rotated(res) => {
                if let View::Rotation(r) = &mut self.view {
                    r.outcome = Some(res.clone());
                }
                self.revealed = None;
            }
            SecretsEvent::Written { .. } => {
                self.revealed = None;
            }
            SecretsEvent::Recovered(r) => self.recovered = r.clone(),
            SecretsEvent::Failed { what, error } => {
                self.error = Some(format!("{what}: {error}"));
                effects.push(Effect::Notify(Level::Error, format!("{what}: {error}")));
                if let View::Rotation(r) = &mut self.view
                    && r.outcome.is_none()
                    && r.steps.is_empty()
                {
                    self.view = View::Detail;
                }
            }
        }
        true
    }
}

impl Default for SecretsPane {
    fn default() -> Self {
        Self {
            index: PathIndex::default(),
            metas: HashMap::new(),
            rows: Vec::new(),
            list: ListView::default(),
            detail: None,
            revealed: None,
            version_sel: 0,
            key_sel: 0,
            rules: HashMap::new(),
            last_rotation: HashMap::new(),
            mark: None,
            view: View::Detail,
            loaded: None,
            error: None,
            recovered: Vec::new(),
            now_override: None,
            feed: None,
        }
    }
}

fn req(r: SecretsRequest) -> Effect {
    Effect::Request(Request::domain(r))
}

/// The tree rows of sorted `paths`: a folder row for each new folder.
fn tree_rows(paths: &[String]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut open: Vec<&str> = Vec::new();
    for p in paths {
        let parts: Vec<&str> = p.split('/').collect();
        let (dirs, leaf) = parts.split_at(parts.len() - 1);
        let common = open
            .iter()
            .zip(dirs.iter())
            .take_while(|(a, b)| a == b)
            .count();
        open.truncate(common);
        for (depth, d) in dirs.iter().enumerate().skip(common) {
            rows.push(Row::Folder {
                label: format!("{d}/"),
                depth,
            });
            open.push(d);
        }
        rows.push(Row::Secret {
            path: p.clone(),
            label: leaf[0].to_owned(),
            depth: dirs.len(),
        });
    }
    rows
}

impl SecretsPane {
    /// Fixes "now" for expiry labels (snapshot tests).
    pub fn with_now(mut self, unix: i64) -> Self {
        self.now_override = Some(unix);
        self
    }

    fn now(&self) -> i64 {
        self.now_override
            .unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    fn query(&self) -> Option<&str> {
        self.list
            .filter
            .as_ref()
            .map(|f| f.text.as_str())
            .filter(|t| !t.trim().is_empty())
    }

    fn rebuild(&mut self) {
        let selected = self.selected_path().map(str::to_owned);
        self.rows = match self.query() {
            Some(q) => self
                .index
                .search(q)
                .into_iter()
                .map(|i| {
                    let p = self.index.paths()[i].clone();
                    Row::Secret {
                        label: p.clone(),
                        path: p,
                        depth: 0,
                    }
                })
                .collect(),
            None => tree_rows(self.index.paths()),
        };
        if let Some(sel) = selected
            && let Some(i) = self
                .rows
                .iter()
                .position(|r| matches!(r, Row::Secret { path, .. } if *path == sel))
        {
            self.list.selected = i;
        }
    }

    fn selected_path(&self) -> Option<&str> {
        match self.rows.get(self.list.selected) {
            Some(Row::Secret { path, .. }) => Some(path),
            _ => None,
        }
    }

    /// The detail's versions, newest first.
    fn versions(&self) -> Vec<&model::VersionMeta> {
        self.detail
            .as_ref()
            .map(|d| d.meta.versions.iter().rev().collect())
            .unwrap_or_default()
    }

    fn chosen_version(&self) -> Option<u64> {
        self.versions().get(self.version_sel).map(|v| v.version)
    }

    /// Keeps `meta` as the path's latest; a current version lower than the
    /// one known before means the store was reset or replaced: a warning.
    fn learn(&mut self, meta: &SecretMeta, effects: &mut Vec<Effect>) {
        if let Some(old) = self.metas.get(&meta.path)
            && meta.current_version < old.current_version
        {
            effects.push(Effect::Notify(
                Level::Warn,
                format!(
                    "{}: versions went backwards (v{} → v{}): was the secrets store reset or replaced?",
                    meta.path, old.current_version, meta.current_version
                ),
            ));
        }
        self.metas.insert(meta.path.clone(), meta.clone());
    }

    /// The store's current version of the open detail's secret, when it is
    /// newer than the one shown.
    fn newer_than_shown(&self, d: &Detail) -> Option<u64> {
        self.metas
            .get(&d.meta.path)
            .map(|m| m.current_version)
            .filter(|v| *v > d.meta.current_version)
    }

    fn select_changed(&mut self, effects: &mut Vec<Effect>) {
        let path = self.selected_path().map(str::to_owned);
        if self.detail.as_ref().map(|d| d.meta.path.as_str()) != path.as_deref() {
            self.detail = None;
            self.version_sel = 0;
            self.key_sel = 0;
            self.mark = None;
            self.revealed = None;
            if let Some(p) = path {
                effects.push(req(SecretsRequest::Load { path: p }));
            }
        }
    }

    fn revealed_for(&self, path: &str, version: u64) -> Option<&Values> {
        self.revealed
            .as_ref()
            .filter(|r| r.path == path && r.version == version && Instant::now() < r.until)
            .map(|r| &r.values)
    }

    /// The key the detail's key cursor is on.
    fn selected_key(&self) -> Option<&str> {
        self.detail
            .as_ref()?
            .hashes
            .get(self.key_sel)
            .map(|(k, _)| k.as_str())
    }

    /// Opens the rotate form for `path` (keys of the loaded detail; the
    /// rule's keys checked first, else every key).
    fn open_rotate_form(&mut self, path: String) {
        let keys: Vec<String> = self
            .detail
            .as_ref()
            .filter(|d| d.meta.path == path)
            .map(|d| d.hashes.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        let rule = self.rules.get(&path);
        let last = self.last_rotation.get(&path);
        let chosen = |k: &String| match (last, rule) {
            (Some(l), _) => l.keys.contains(k),
            (None, Some((rk, _))) if !rk.is_empty() => rk.contains(k),
            _ => true,
        };
        let mut check = crate::console::app::single_line_input(
            "empty: the rule's check, else read back".into(),
        );
        check.set_cursor_style(Style::default());
        let mut policy =
            crate::console::app::single_line_input("empty: the rule's, else 32:alnum".into());
        policy.set_cursor_style(Style::default());
        if let Some(l) = last {
            check.insert_str(&l.check);
            policy.insert_str(&l.policy);
        }
        self.view = View::RotateForm(Box::new(RotateForm {
            keys: keys.iter().map(|k| (k.clone(), chosen(k))).collect(),
            path,
            cursor: 0,
            field: FormField::Keys,
            check,
            policy,
            rule: rule.map(|(_, s)| s.clone()),
            error: None,
        }));
    }

    fn form_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        let View::RotateForm(f) = &mut self.view else {
            return false;
        };
        match key.code {
            KeyCode::Esc => {
                self.view = View::Detail;
                effects.push(Effect::Notify(
                    Level::Info,
                    "rotation cancelled; nothing changed".into(),
                ));
            }
            KeyCode::Tab | KeyCode::BackTab => {
                use FormField::*;
                let order = [Keys, Check, Policy];
                let at = order.iter().position(|x| *x == f.field).unwrap_or(0);
                let step = if key.code == KeyCode::Tab {
                    1
                } else {
                    order.len() - 1
                };
                f.field = order[(at + step) % order.len()];
                let cursor = |on: bool| {
                    if on {
                        Style::default().add_modifier(Modifier::REVERSED)
                    } else {
                        Style::default()
                    }
                };
                f.check.set_cursor_style(cursor(f.field == Check));
                f.policy.set_cursor_style(cursor(f.field == Policy));
            }
            KeyCode::Enter => {
                let keys: Vec<String> = f
                    .keys
                    .iter()
                    .filter(|(_, on)| *on)
                    .map(|(k, _)| k.clone())
                    .collect();
                if !f.keys.is_empty() && keys.is_empty() {
                    f.error = Some("choose at least one key (space)".into());
                    return true;
                }
                let validation = match f.check.lines().first().map(|l| l.trim()) {
                    None | Some("") => None,
                    Some(text) => match validation_of(text) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            f.error = Some(e);
                            return true;
                        }
                    },
                };
                let policy = match f.policy.lines().first().map(|l| l.trim()) {
                    None | Some("") => None,
                    Some(text) => match text.parse::<model::Policy>() {
                        Ok(p) => Some(p),
                        Err(e) => {
                            f.error = Some(e);
                            return true;
                        }
                    },
                };
                let check = match (&validation, &f.rule) {
                    (Some(Validation::Http(url)), _) => format!(
                        "validates by POSTing to {}",
                        super::rotation::shown_url(url)
                    ),
                    (Some(Validation::Command(c)), _) => format!("validates with `{c}`"),
                    (Some(Validation::ReadBack), _) => "validates by reading back".to_string(),
                    (None, Some(_)) => "validates as the path's rule says".to_string(),
                    (None, None) => "validates by reading back".to_string(),
                };
                let which = match (keys.is_empty(), &f.rule) {
                    (false, _) => keys.join(", "),
                    (true, Some(_)) => "the keys the path's rule names".to_string(),
                    (true, None) => "every key".to_string(),
                };
                let what = match &policy {
                    Some(p) => format!(
                        "New {}-character {} values for {which}",
                        p.length,
                        format!("{:?}", p.alphabet).to_lowercase()
                    ),
                    None => format!("New values for {which}"),
                };
                let p = f.path.clone();
                let chosen_keys: Vec<String> = if keys.is_empty() {
                    f.keys
                        .iter()
                        .filter(|(_, on)| *on)
                        .map(|(k, _)| k.clone())
                        .collect()
                } else {
                    keys.clone()
                };
                let last = LastRotation {
                    keys: chosen_keys,
                    check: f.check.lines().first().cloned().unwrap_or_default(),
                    policy: f.policy.lines().first().cloned().unwrap_or_default(),
                };
                // A rotation rolls back on failure and a rollback undoes it:
                // `y` confirms (typing the path is for what cannot be undone).
                effects.push(Effect::Confirm(ConfirmSpec {
                    title: format!("Rotate {p}?"),
                    body: format!(
                        "{what}, written with check-and-set; {check}; rolls back on failure. The old version is deleted after the grace period."
                    ),
                    typed: None,
                    action: "secrets.rotate",
                    pending: format!("rotating {p}"),
                    guard: Some("secrets.rotate"),
                    then: vec![Request::domain(SecretsRequest::Rotate {
                        path: p.clone(),
                        keys,
                        validation,
                        policy,
                    })],
                }));
                self.last_rotation.insert(p, last);
                // The rotation's view opens with its first step: a
                // cancelled confirmation leaves the plain detail.
                self.view = View::Detail;
            }
            _ if f.field == FormField::Check => {
                f.check.input(key);
                f.error = None;
            }
            _ if f.field == FormField::Policy => {
                f.policy.input(key);
                f.error = None;
            }
            KeyCode::Char('j') | KeyCode::Down => {
                f.cursor = (f.cursor + 1).min(f.keys.len().saturating_sub(1));
            }
            KeyCode::Char('k') | KeyCode::Up => f.cursor = f.cursor.saturating_sub(1),
            KeyCode::Char(' ') | KeyCode::Char('x') => {
                if let Some(k) = f.keys.get_mut(f.cursor) {
                    k.1 = !k.1;
                    f.error = None;
                }
            }
            KeyCode::Char('a') => {
                let all = f.keys.iter().all(|(_, on)| *on);
                for k in &mut f.keys {
                    k.1 = !all;
                }
            }
            _ => {}
        }
        true
    }

    fn editor_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        if matches!(self.view, View::RotateForm(_)) {
            return self.form_key(key, effects);
        }
        let View::Edit(ed) = &mut self.view else {
            return false;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if let Some((values, _)) = &ed.review {
            match key.code {
                KeyCode::Enter | KeyCode::Char('y') => {
                    effects.push(req(SecretsRequest::Put {
                        path: ed.path.clone(),
                        values: values.clone(),
                        cas: ed.version,
                    }));
                    effects.push(Effect::Notify(
                        Level::Info,
                        format!("saving {} (check-and-set against v{})", ed.path, ed.version),
                    ));
                    self.view = View::Detail;
                }
                KeyCode::Esc | KeyCode::Char('n') => ed.review = None,
                _ => {}
            }
            return true;
        }
        match key.code {
            KeyCode::Esc => {
                self.view = View::Detail;
                effects.push(Effect::Notify(
                    Level::Info,
                    "edit cancelled; nothing saved".into(),
                ));
            }
            KeyCode::Char('s') if ctrl => {
                let text = zeroize::Zeroizing::new(ed.area.lines().join("\n"));
                match model::parse_editor(&text) {
                    Ok(values) => {
                        let lines = model::diff(&ed.original, &values);
                        if lines.iter().all(|l| l.change == Change::Same) {
                            ed.error = Some("nothing changed".into());
                        } else {
                            ed.error = None;
                            ed.review = Some((values, lines));
                        }
                    }
                    Err(e) => ed.error = Some(e),
                }
            }
            _ => {
                ed.area.input(key);
                ed.error = None;
            }
        }
        true
    }
}

impl Pane for SecretsPane {
    fn id(&self) -> &'static str {
        ID
    }

    fn title(&self) -> &'static str {
        "Secrets"
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::new(ID, REFRESH, "Reload the mount and the open secret"),
            ActionDef::new(ID, REVEAL, "Reveal the values for 30 s (step-up)")
                .hint()
                .guarded("secrets.reveal"),
            ActionDef::new(
                ID,
                ROTATE,
                "Rotate: choose keys and a check, then type the path (step-up)",
            )
            .hint()
            .mutating()
            .guarded("secrets.rotate"),
            ActionDef::new(ID, ROLLBACK, "Roll back to the chosen version (step-up)")
                .mutating()
                .guarded("secrets.rollback"),
            ActionDef::new(ID, EDIT, "Edit the key/values (save shows a diff first)")
                .mutating()
                .guarded("secrets.write"),
            ActionDef::new(ID, OLDER, "Choose an older version"),
            ActionDef::new(ID, NEWER, "Choose a newer version"),
            ActionDef::new(ID, MARK, "Mark the chosen version for a diff"),
            ActionDef::new(ID, DIFF, "Diff the marked version with the chosen one"),
            ActionDef::new(ID, CLOSE, "Close the view, clear the search"),
            ActionDef::new(ID, NEXT_KEY, "Choose the next key (the one y copies)"),
            ActionDef::new(ID, PREV_KEY, "Choose the previous key"),
        ]
    }

    fn handle(&mut self, action: &str, _shared: &Shared, effects: &mut Vec<Effect>) -> bool {
        let path = self.selected_path().map(str::to_owned);
        match action {
            REFRESH => {
                effects.push(req(SecretsRequest::Refresh));
                // And the open detail, which may be older than the store.
                if let Some(d) = &self.detail {
                    effects.push(req(SecretsRequest::Load {
                        path: d.meta.path.clone(),
                    }));
                }
                true
            }
            REVEAL => {
                if let (Some(p), Some(v)) = (path, self.chosen_version()) {
                    effects.push(req(SecretsRequest::Reveal {
                        path: p,
                        version: Some(v),
                    }));
                }
                true
            }
            ROTATE => {
                if let Some(p) = path {
                    self.open_rotate_form(p);
                }
                true
            }
            NEXT_KEY => {
                let n = self.detail.as_ref().map_or(0, |d| d.hashes.len());
                self.key_sel = (self.key_sel + 1).min(n.saturating_sub(1));
                true
            }
            PREV_KEY => {
                self.key_sel = self.key_sel.saturating_sub(1);
                true
            }
            ROLLBACK => {
                let current = self.detail.as_ref().map(|d| d.meta.current_version);
                match (path, self.chosen_version(), current) {
                    (Some(p), Some(v), Some(cur)) if v != cur => {
                        effects.push(Effect::Confirm(ConfirmSpec {
                            title: format!("Roll {p} back to version {v}?"),
                            body: format!(
                                "Version {v} is written again as a new version (check-and-set against v{cur}); nothing is deleted."
                            ),
                            typed: None,
                            action: "secrets.rollback",
                            pending: format!("rolling {p} back to version {v}"),
                            guard: Some("secrets.rollback"),
                            then: vec![Request::domain(SecretsRequest::Rollback {
                                path: p,
                                version: v,
                            })],
                        }));
                    }
                    (Some(_), Some(_), Some(_)) => effects.push(Effect::Notify(
                        Level::Warn,
                        "choose an older version first ([ and ])".into(),
                    )),
                    _ => {}
                }
                true
            }
            EDIT => {
                if let Some(p) = path {
                    effects.push(req(SecretsRequest::Edit { path: p }));
                }
                true
            }
            OLDER => {
                let n = self.versions().len();
                self.version_sel = (self.version_sel + 1).min(n.saturating_sub(1));
                true
            }
            NEWER => {
                self.version_sel = self.version_sel.saturating_sub(1);
                true
            }
            MARK => {
                self.mark = self.chosen_version();
                true
            }
            DIFF => {
                match (path, self.mark, self.chosen_version()) {
                    (Some(p), Some(m), Some(v)) if m != v => {
                        let reveal = self
                            .revealed
                            .as_ref()
                            .is_some_and(|r| r.path == p && Instant::now() < r.until);
                        let (v1, v2) = (m.min(v), m.max(v));
                        effects.push(req(SecretsRequest::Diff {
                            path: p,
                            v1,
                            v2,
                            reveal,
                        }));
                    }
                    _ => effects.push(Effect::Notify(
                        Level::Info,
                        "mark a version with m, choose another with [ or ], then d".into(),
                    )),
                }
                true
            }
            CLOSE => {
                if !matches!(self.view, View::Detail) {
                    self.view = View::Detail;
                } else if self.list.filter.is_some() {
                    self.set_filter(None);
                } else {
                    self.revealed = None;
                }
                true
            }
            name::SELECT => {
                self.select_changed(effects);
                true
            }
            other => {
                let moved = self.list.navigate(other, self.rows.len());
                if moved {
                    self.select_changed(effects);
                }
                moved
            }
        }
    }

    fn poll(&mut self, effects: &mut Vec<Effect>) -> bool {
        let Some(feed) = &mut self.feed else {
            return false;
        };
        let events = feed.drain();
        let mut changed = false;
        for ev in &events {
            changed |= self.apply(ev, effects);
        }
        changed
    }

    fn editing(&self) -> bool {
        matches!(self.view, View::Edit(_) | View::RotateForm(_))
    }

    fn lock(&mut self) {
        self.revealed = None;
        if !matches!(self.view, View::Rotation(_)) {
            self.view = View::Detail;
        }
    }

    fn text_key(&mut self, key: KeyEvent, effects: &mut Vec<Effect>) -> bool {
        self.editor_key(key, effects)
    }

    fn render(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        if self
            .revealed
            .as_ref()
            .is_some_and(|r| Instant::now() >= r.until)
        {
            self.revealed = None;
        }
        let left_w = (area.width * 2 / 5).clamp(24.min(area.width), 48);
        let [left, right] =
            Layout::horizontal([Constraint::Length(left_w), Constraint::Min(0)]).areas(area);
        self.render_tree(frame, left, ctx);
        match &self.view {
            View::Detail => self.render_detail(frame, right, t, ctx.focused),
            View::Diff(d) => render_diff(frame, right, t, d),
            View::Rotation(r) => render_rotation(frame, right, t, r),
            View::Edit(_) => self.render_editor(frame, right, t),
            View::RotateForm(f) => render_form(frame, right, t, f),
        }
    }

    /// Shows the secrets under `item` (from the Compliance pane's jump).
    fn show(&mut self, item: &str) -> bool {
        self.set_filter(Filter::new(item));
        !self.rows.is_empty()
    }

    fn set_filter(&mut self, filter: Option<Filter>) {
        self.list.filter = filter;
        self.list.selected = 0;
        self.rebuild();
    }

    fn filter(&self) -> Option<&Filter> {
        self.list.filter.as_ref()
    }

    fn selected_text(&self, _shared: &Shared) -> Option<String> {
        let path = self.selected_path()?;
        // Once the version on screen is revealed, the chosen key's value (J/K
        // choose); else the path. Never a value of another version.
        let shown = self.detail.as_ref().map(|d| d.version);
        if let Some(values) = shown.and_then(|version| self.revealed_for(path, version))
            && let Some(v) = self.selected_key().and_then(|k| values.get(k))
        {
            return Some(v.expose().to_owned());
        }
        Some(path.to_owned())
    }

    fn click(&mut self, row: u16) -> bool {
        self.list.click(row, self.rows.len())
    }
}

fn block<'a>(t: &Theme, title: String, focused: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border(focused))
        .title(Span::styled(title, t.title()))
}

fn expiry_role(e: Expiry) -> Role {
    match e {
        Expiry::Expired(_) => Role::Danger,
        Expiry::Soon(_) => Role::Warn,
        Expiry::Ok(_) => Role::Ok,
        Expiry::None => Role::Muted,
    }
}

/// A short badge for the tree: `12d`, `5h`, `expired`.
fn expiry_badge(e: Expiry) -> String {
    match e {
        Expiry::None => String::new(),
        Expiry::Expired(_) => "expired".into(),
        Expiry::Ok(s) | Expiry::Soon(s) => {
            model::span(s).split(' ').next().unwrap_or("").to_owned()
        }
    }
}

impl SecretsPane {
    fn render_tree(&mut self, frame: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let t = ctx.theme;
        let title = match (self.query(), self.loaded) {
            (Some(q), _) => format!(
                " Secrets  /{q} ({} of {}) ",
                self.rows.len(),
                self.index.len()
            ),
            (None, Some(_)) => format!(" Secrets ({}) ", self.index.len()),
            (None, None) => " Secrets (loading) ".into(),
        };
        let b = block(t, title, ctx.focused);
        let inner = b.inner(area);
        frame.render_widget(b, area);
        self.list.body_top = 1;
        if self.rows.is_empty() {
            let msg = match (&self.error, self.loaded, self.query()) {
                (Some(e), _, _) => Line::styled(
                    fmt::truncate(&clean_line(e), inner.width as usize * 3),
                    t.role(Role::Danger),
                ),
                (None, None, _) => Line::styled("loading the mount…", t.muted()),
                (None, Some(_), Some(_)) => Line::styled("no path matches", t.muted()),
                (None, Some(_), None) => {
                    Line::styled("no secrets yet: `windflow secrets put`", t.muted())
                }
            };
            frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), inner);
            return;
        }
        let window = self.list.window(self.rows.len(), inner.height as usize);
        let now = self.now();
        let w = inner.width as usize;
        let lines: Vec<Line> = self.rows[window.clone()]
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let selected = window.start + i == self.list.selected;
                let line = match row {
                    Row::Folder { label, depth } => Line::from(Span::styled(
                        fmt::truncate(&format!("{}{}", "  ".repeat(*depth), Untrusted(label)), w),
                        t.muted(),
                    )),
                    Row::Secret { path, label, depth } => {
                        // Paths listed by Vault are anyone's text: one line, escaped.
                        let label = &*clean_line(label);
                        let e = Expiry::of(self.metas.get(path).and_then(|m| m.expires_at()), now);
                        let badge = expiry_badge(e);
                        let indent = "  ".repeat(*depth);
                        let room = w.saturating_sub(badge.chars().count() + 1 + indent.len());
                        // Search results are whole paths: keep their end, where names differ.
                        let name =
                            if *depth == 0 && label.contains('/') && label.chars().count() > room {
                                let tail: String = label
                                    .chars()
                                    .rev()
                                    .take(room.saturating_sub(1))
                                    .collect::<Vec<_>>()
                                    .into_iter()
                                    .rev()
                                    .collect();
                                format!("…{tail}")
                            } else {
                                fmt::truncate(label, room)
                            };
                        let pad = w.saturating_sub(
                            indent.len() + name.chars().count() + badge.chars().count(),
                        );
                        Line::from(vec![
                            Span::raw(indent),
                            Span::styled(name, t.text()),
                            Span::raw(" ".repeat(pad)),
                            Span::styled(badge, t.role(expiry_role(e))),
                        ])
                    }
                };
                if selected && ctx.focused {
                    line.style(t.selection())
                } else {
                    line
                }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn render_detail(&self, frame: &mut Frame, area: Rect, t: &Theme, _focused: bool) {
        let Some(d) = &self.detail else {
            let b = block(t, " Detail ".into(), false);
            let text = if self.recovered.is_empty() {
                Line::styled("select a secret (j/k, / to search)", t.muted())
            } else {
                Line::styled(
                    format!(
                        "{} unfinished rotation(s) recovered at start: see Activity",
                        self.recovered.len()
                    ),
                    t.role(Role::Warn),
                )
            };
            frame.render_widget(Paragraph::new(text).block(b), area);
            return;
        };
        let m = &d.meta;
        let now = self.now();
        let e = Expiry::of(m.expires_at(), now);
        let revealed = self.revealed_for(&m.path, d.version);
        let mut lines = vec![Line::from(vec![
            Span::styled(format!("v{}", m.current_version), t.accent()),
            Span::styled(format!("  of {}  ", m.versions.len()), t.muted()),
            Span::styled(e.label(), t.role(expiry_role(e))),
        ])];
        if let Some(newer) = self.newer_than_shown(d) {
            lines.push(Line::styled(
                format!("stale: the store has v{newer} now; r reloads"),
                t.role(Role::Warn),
            ));
        }
        if let Some(dep) = m.custom.get(model::META_DEPLOYMENT) {
            lines.push(Line::from(vec![
                Span::styled("deployment ", t.muted()),
                Span::styled(clean_line(dep).into_owned(), t.text()),
                Span::styled("  updated ", t.muted()),
                Span::styled(
                    model::format_time(m.updated_time).replace('T', " "),
                    t.text(),
                ),
            ]));
        }
        lines.push(Line::styled(
            match (revealed.is_some(), self.revealed.as_ref()) {
                (true, Some(r)) => format!(
                    "KEYS (revealed, masks in {} s)",
                    r.until.saturating_duration_since(Instant::now()).as_secs()
                ),
                _ => "KEYS (v: reveal, J/K choose, y: copy)".into(),
            },
            t.muted().add_modifier(Modifier::BOLD),
        ));
        for (i, (k, h)) in d.hashes.iter().enumerate() {
            let value = match revealed.and_then(|v| v.get(k)) {
                Some(v) => Span::styled(
                    clean_line(&v.expose().replace('\n', "⏎")).into_owned(),
                    t.role(Role::Warn),
                ),
                None => Span::styled(format!("•••••••• {h}"), t.muted()),
            };
            let chosen = i == self.key_sel && d.hashes.len() > 1;
            lines.push(Line::from(vec![
                Span::styled(if chosen { "▸ " } else { "  " }, t.accent()),
                Span::styled(format!("{} = ", Untrusted(k)), t.text()),
                value,
            ]));
        }
        lines.push(Line::styled(
            "VERSIONS  [ ] choose  m d diff  b rollback",
            t.muted().add_modifier(Modifier::BOLD),
        ));
        for (i, v) in self.versions().iter().enumerate() {
            let chosen = i == self.version_sel;
            let marker = if chosen { "▶" } else { " " };
            let mark = if self.mark == Some(v.version) {
                "*"
            } else {
                " "
            };
            let role = match v.state() {
                "live" => Role::Text,
                "deleted" => Role::Warn,
                _ => Role::Danger,
            };
            let current = if v.version == m.current_version {
                " current"
            } else {
                ""
            };
            let style = if chosen { t.selection() } else { t.role(role) };
            lines.push(Line::styled(
                format!(
                    "{marker}{mark}v{:<3} {}  {}{current}",
                    v.version,
                    model::format_time(v.created_time)
                        .replace('T', " ")
                        .trim_end_matches('Z'),
                    v.state()
                ),
                style,
            ));
        }
        let b = block(t, format!(" {} ", Untrusted(&m.path)), false);
        frame.render_widget(Paragraph::new(lines).block(b), area);
    }

    fn render_editor(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let View::Edit(ed) = &self.view else { return };
        if let Some((_, lines)) = &ed.review {
            let mut out = vec![
                Line::styled(
                    format!("Save as a new version (check-and-set v{})?", ed.version),
                    t.role(Role::Warn),
                ),
                Line::styled("y/Enter: save   n/Esc: back to the editor", t.muted()),
            ];
            out.extend(diff_lines(t, lines, None));
            let b = block(t, format!(" Review {} ", ed.path), true);
            frame.render_widget(
                Paragraph::new(out).block(b).wrap(Wrap { trim: false }),
                area,
            );
            return;
        }
        let [edit, status] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
        let mut a = ed.area.clone();
        a.set_block(block(
            t,
            format!(" Edit {}  Ctrl-S: review  Esc: cancel ", ed.path),
            true,
        ));
        a.set_cursor_line_style(Style::default());
        frame.render_widget(&a, edit);
        let line = match &ed.error {
            Some(e) => Line::styled(clean_line(e).into_owned(), t.role(Role::Danger)),
            None => Line::styled(
                "KEY=VALUE per line; indent continues a value; JSON values are checked",
                t.muted(),
            ),
        };
        frame.render_widget(Paragraph::new(line), status);
    }
}

fn diff_lines<'a>(
    t: &Theme,
    lines: &[DiffLine],
    values: Option<&(Values, Values)>,
) -> Vec<Line<'a>> {
    lines
        .iter()
        .map(|l| {
            let (sign, role) = match l.change {
                Change::Added => ("+", Role::Ok),
                Change::Removed => ("-", Role::Danger),
                Change::Changed => ("~", Role::Warn),
                Change::Same => (" ", Role::Muted),
            };
            let show = |side: usize, h: &Option<String>| -> String {
                let v = values.and_then(|(a, b)| {
                    if side == 0 {
                        a.get(&l.key)
                    } else {
                        b.get(&l.key)
                    }
                });
                match v {
                    Some(v) => v.expose().replace('\n', "⏎"),
                    None => h.clone().unwrap_or_else(|| "—".into()),
                }
            };
            let body = match l.change {
                Change::Added => format!("{sign} {}  {}", l.key, show(1, &l.new_hash)),
                Change::Removed => format!("{sign} {}  {}", l.key, show(0, &l.old_hash)),
                Change::Changed => format!(
                    "{sign} {}  {} → {}",
                    l.key,
                    show(0, &l.old_hash),
                    show(1, &l.new_hash)
                ),
                Change::Same => format!("{sign} {}  {}", l.key, show(0, &l.old_hash)),
            };
            Line::styled(body, t.role(role))
        })
        .collect()
}

fn render_diff(frame: &mut Frame, area: Rect, t: &Theme, d: &DiffView) {
    let mut lines = vec![Line::styled(
        if d.values.is_some() {
            "values revealed".to_string()
        } else {
            "values masked: short keyed hashes (reveal with v first to see values)".to_string()
        },
        t.muted(),
    )];
    lines.extend(diff_lines(t, &d.lines, d.values.as_ref()));
    let b = block(
        t,
        format!(" {}  v{} → v{}  (x: close) ", d.path, d.v1, d.v2),
        true,
    );
    frame.render_widget(
        Paragraph::new(lines).block(b).wrap(Wrap { trim: false }),
        area,
    );
}

fn render_form(frame: &mut Frame, area: Rect, t: &Theme, f: &RotateForm) {
    let b = block(t, format!(" Rotate {} ", f.path), true);
    let inner = b.inner(area);
    frame.render_widget(b, area);
    let n = f.keys.len().max(1) as u16;
    let [head, list, label, field, policy_label, policy_field, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Max(n),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Min(0),
    ])
    .areas(inner);
    let on_keys = f.field == FormField::Keys;
    let on_check = f.field == FormField::Check;
    let on_policy = f.field == FormField::Policy;
    let focus = |on: bool| {
        if on {
            t.accent().add_modifier(Modifier::BOLD)
        } else {
            t.muted()
        }
    };
    frame.render_widget(
        Paragraph::new(Line::styled(
            "KEYS TO ROTATE  j/k move  space toggle  a all",
            focus(on_keys),
        )),
        head,
    );
    let rows: Vec<Line> = if f.keys.is_empty() {
        vec![Line::styled("every key", t.text())]
    } else {
        f.keys
            .iter()
            .enumerate()
            .map(|(i, (k, on))| {
                let mark = if *on { "[x]" } else { "[ ]" };
                let line = Line::styled(format!("{mark} {k}"), t.text());
                if i == f.cursor && on_keys {
                    line.style(t.selection())
                } else {
                    line
                }
            })
            .collect()
    };
    let window = f
        .cursor
        .saturating_sub(list.height.saturating_sub(1) as usize);
    frame.render_widget(Paragraph::new(rows).scroll((window as u16, 0)), list);
    frame.render_widget(
        Paragraph::new(Line::styled("CHECK  Tab: next field", focus(on_check))),
        label,
    );
    let boxed = |input: &TextArea<'static>, on: bool| {
        let mut input = input.clone();
        input.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border(on)),
        );
        input
    };
    frame.render_widget(&boxed(&f.check, on_check), field);
    frame.render_widget(
        Paragraph::new(Line::styled(
            "POLICY  LEN[:alnum|symbols|hex|digits]",
            focus(on_policy),
        )),
        policy_label,
    );
    frame.render_widget(&boxed(&f.policy, on_policy), policy_field);
    let mut out = vec![Line::styled(
        "a command (sh -c, values in WINDFLOW_SECRET_<KEY> and on stdin, exit 0 passes) or an http(s) URL (values POSTed as JSON, 2xx passes)",
        t.muted(),
    )];
    if let Some(r) = &f.rule {
        out.push(Line::styled(format!("windflow.toml {r}"), t.muted()));
    }
    out.push(match &f.error {
        Some(e) => Line::styled(clean_line(e).into_owned(), t.role(Role::Danger)),
        None => Line::styled("Enter: confirm (type the path)  Esc: cancel", t.muted()),
    });
    frame.render_widget(Paragraph::new(out).wrap(Wrap { trim: true }), foot);
}

fn render_rotation(frame: &mut Frame, area: Rect, t: &Theme, r: &RotationView) {
    let mut lines = Vec::new();
    let rolled_back = r.steps.iter().any(|(s, _)| *s == Step::Rollback);
    for step in [Step::Generate, Step::Deploy, Step::Validate] {
        lines.push(step_line(
            t,
            step,
            r.steps.iter().find(|(s, _)| *s == step).map(|(_, st)| st),
        ));
    }
    let last = if rolled_back {
        Step::Rollback
    } else {
        Step::Cleanup
    };
    lines.push(step_line(
        t,
        last,
        r.steps.iter().find(|(s, _)| *s == last).map(|(_, st)| st),
    ));
    lines.push(Line::raw(""));
    match &r.outcome {
        None if r.steps.is_empty() => {
            lines.push(Line::styled("waiting for confirmation…", t.muted()))
        }
        None => lines.push(Line::styled("running…", t.muted())),
        Some(Ok(Outcome::Rotated {
            old_version,
            new_version,
            ..
        })) => lines.push(Line::styled(
            format!("rotated: v{old_version} → v{new_version}"),
            t.role(Role::Ok),
        )),
        Some(Ok(Outcome::RolledBack {
            reason,
            restored_as,
            old_version,
            ..
        })) => {
            lines.push(Line::styled(
                format!("rolled back: v{old_version} restored as v{restored_as}"),
                t.role(Role::Warn),
            ));
            lines.push(Line::styled(reason.clone(), t.role(Role::Warn)));
        }
        Some(Err(e)) => lines.push(Line::styled(
            format!("failed, nothing changed: {e}"),
            t.role(Role::Danger),
        )),
    }
    let b = block(t, format!(" Rotate {}  (x: close) ", r.path), true);
    frame.render_widget(
        Paragraph::new(lines).block(b).wrap(Wrap { trim: false }),
        area,
    );
}

fn step_line<'a>(t: &Theme, step: Step, status: Option<&StepStatus>) -> Line<'a> {
    let (mark, role, detail) = match status {
        None => ("○", Role::Muted, String::new()),
        Some(StepStatus::Started) => ("◌", Role::Accent, "…".to_string()),
        Some(StepStatus::Done(d)) => ("●", Role::Ok, d.clone()),
        Some(StepStatus::Failed(d)) => ("✗", Role::Danger, d.clone()),
    };
    Line::from(vec![
        Span::styled(format!("{mark} {:<9}", step.as_str()), t.role(role)),
        Span::styled(detail, t.text()),
    ])
}

/// The form's validation field: an http(s) URL is a probe, anything else a command.
fn validation_of(text: &str) -> Result<Validation, String> {
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        url::Url::parse(text).map_err(|e| format!("validation URL {text:?}: {e}"))?;
        return Ok(Validation::Http(text.to_owned()));
    }
    Ok(Validation::Command(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_rows_open_each_folder_once() {
        let rows = tree_rows(&[
            "deployments/api".into(),
            "deployments/web/db".into(),
            "deployments/web/redis".into(),
            "infra/ci".into(),
        ]);
        let labels: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Row::Folder { label, depth } => format!("{}{label}", " ".repeat(*depth)),
                Row::Secret { label, depth, .. } => format!("{}{label}", " ".repeat(*depth)),
            })
            .collect();
        assert_eq!(
            labels,
            [
                "deployments/",
                " api",
                " web/",
                "  db",
                "  redis",
                "infra/",
                " ci"
            ]
        );
    }
}
