//! Keymaps: TOML files that bind key sequences to registered actions.
//!
//! ```toml
//! name = "vim"
//! [global]
//! quit = { keys = ["q"], description = "Quit WindFlow" }
//! [list]
//! top = { keys = ["g g", "home"], description = "First row" }
//! ```
//!
//! A user file (`keymap.toml` in the config dir) overrides bindings by action
//! name. Loading rejects unknown scopes and actions, and conflicts: two
//! actions on one key in scopes that are active together, or a key that is a
//! prefix of another's sequence. Every error names the file, line and keys.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::actions::{self, ActionRegistry};
use super::keys::{KeyChord, KeySeq};
use crate::tomlpos::{FileError, line_of};

/// Keymaps shipped inside the binary (the files in `keymaps/`).
pub const BUNDLED: [(&str, &str); 2] = [
    ("vim", include_str!("../../keymaps/vim.toml")),
    ("arrows", include_str!("../../keymaps/arrows.toml")),
];

/// Where a key binding was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub line: usize,
    /// 0 for the keymap itself, 1 for the user's overrides (blamed first).
    pub layer: u8,
}

#[derive(Clone, Debug)]
pub struct Binding {
    pub scope: &'static str,
    pub action: &'static str,
    pub keys: Vec<(KeySeq, Origin)>,
    pub description: String,
    pub mutates: bool,
    pub hint: bool,
}

/// The result of feeding keys to the keymap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A complete binding: (scope, action).
    Action(&'static str, &'static str),
    /// The keys so far start a longer sequence: wait for more.
    Pending,
    None,
}

#[derive(Clone, Debug)]
pub struct Keymap {
    pub name: String,
    pub bindings: Vec<Binding>,
}

impl Keymap {
    /// Loads a bundled keymap by name.
    pub fn bundled(name: &str, registry: &ActionRegistry) -> Result<Self, Vec<FileError>> {
        let (n, src) = BUNDLED
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| vec![FileError::new(Path::new(name), "no such bundled keymap")])?;
        let path = PathBuf::from(format!("keymaps/{n}.toml"));
        Self::parse(n, src, &path, registry)
    }

    /// Parses a keymap file; every scope and action must be registered.
    pub fn parse(
        name: &str,
        src: &str,
        path: &Path,
        registry: &ActionRegistry,
    ) -> Result<Self, Vec<FileError>> {
        let mut km = Keymap {
            name: name.to_string(),
            bindings: Vec::new(),
        };
        km.merge(src, path, registry, false)?;
        km.check_conflicts()?;
        Ok(km)
    }

    /// Applies a user override file: each entry replaces the keys (and the
    /// description, when given) of the action it names.
    pub fn apply_overrides(
        &mut self,
        src: &str,
        path: &Path,
        registry: &ActionRegistry,
    ) -> Result<(), Vec<FileError>> {
        self.merge(src, path, registry, true)?;
        self.check_conflicts()
    }

    fn merge(
        &mut self,
        src: &str,
        path: &Path,
        registry: &ActionRegistry,
        overriding: bool,
    ) -> Result<(), Vec<FileError>> {
        let table = DeTable::parse(src).map_err(|e| vec![FileError::from_toml(path, src, &e)])?;
        let mut errors = Vec::new();
        for (scope_key, scope_val) in table.get_ref().iter() {
            let scope_name = scope_key.get_ref().as_ref();
            let at = |span: std::ops::Range<usize>| FileError::new(path, "").at(src, span.start);
            match (scope_name, scope_val.get_ref()) {
                ("name" | "description", DeValue::String(_)) => continue,
                (_, DeValue::Table(entries)) => {
                    let Some(scope) = registry.scopes().into_iter().find(|s| *s == scope_name)
                    else {
                        let mut e = at(scope_key.span());
                        e.message = format!(
                            "unknown scope `{scope_name}` (known: {})",
                            registry.scopes().join(", ")
                        );
                        errors.push(e.key(scope_name));
                        continue;
                    };
                    for (action_key, entry) in entries.iter() {
                        let action_name = action_key.get_ref().as_ref();
                        let Some(def) = registry.get(scope, action_name) else {
                            let mut e = at(action_key.span());
                            let known: Vec<_> = registry.in_scope(scope).map(|d| d.name).collect();
                            e.message = format!(
                                "unknown action `{action_name}` in scope `{scope}` (known: {})",
                                known.join(", ")
                            );
                            errors.push(e.key(format!("{scope}.{action_name}")));
                            continue;
                        };
                        match parse_entry(entry, src, path, u8::from(overriding)) {
                            Ok((keys, description)) => {
                                let existing = self
                                    .bindings
                                    .iter_mut()
                                    .find(|b| b.scope == scope && b.action == def.name);
                                match existing {
                                    Some(b) => {
                                        b.keys = keys;
                                        if let Some(d) = description {
                                            b.description = d;
                                        }
                                    }
                                    None => self.bindings.push(Binding {
                                        scope,
                                        action: def.name,
                                        keys,
                                        description: description
                                            .unwrap_or_else(|| def.summary.to_string()),
                                        mutates: def.mutates,
                                        hint: def.hint,
                                    }),
                                }
                            }
                            Err(mut e) => {
                                e.key = Some(format!("{scope}.{action_name}"));
                                errors.push(e);
                            }
                        }
                    }
                }
                _ => {
                    let mut e = at(scope_key.span());
                    e.message = format!(
                        "expected a table of actions for scope `{scope_name}`{}",
                        if overriding {
                            " in the override file"
                        } else {
                            ""
                        }
                    );
                    errors.push(e.key(scope_name));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Two actions on one sequence in scopes active together, or one
    /// sequence the prefix of another, is a conflict.
    fn check_conflicts(&self) -> Result<(), Vec<FileError>> {
        let mut errors = Vec::new();
        let all: Vec<(&Binding, &KeySeq, &Origin)> = self
            .bindings
            .iter()
            .flat_map(|b| b.keys.iter().map(move |(k, o)| (b, k, o)))
            .collect();
        for (i, (b1, k1, o1)) in all.iter().enumerate() {
            for (b2, k2, o2) in &all[i + 1..] {
                if !scopes_overlap(b1.scope, b2.scope)
                    || (b1.scope == b2.scope && b1.action == b2.action)
                {
                    continue;
                }
                let clash = if k1 == k2 {
                    Some(format!("key `{k1}` is bound to both"))
                } else if k1.starts_with(&k2.0) {
                    Some(format!("key `{k2}` is a prefix of `{k1}`, so these clash:"))
                } else if k2.starts_with(&k1.0) {
                    Some(format!("key `{k1}` is a prefix of `{k2}`, so these clash:"))
                } else {
                    None
                };
                if let Some(what) = clash {
                    let (later, blamed, earlier) = if (o2.layer, o2.line) >= (o1.layer, o1.line) {
                        (o2, b2, o1)
                    } else {
                        (o1, b1, o2)
                    };
                    errors.push(FileError {
                        path: later.path.clone(),
                        line: Some(later.line),
                        key: Some(format!("{}.{}", blamed.scope, blamed.action)),
                        message: format!(
                            "{what} `{}.{}` and `{}.{}` (the other at {}:{})",
                            b1.scope,
                            b1.action,
                            b2.scope,
                            b2.action,
                            earlier.path.display(),
                            earlier.line
                        ),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Looks a key sequence up in the given scopes, first scope first.
    pub fn lookup(&self, scopes: &[&str], seq: &[KeyChord]) -> Lookup {
        let mut pending = false;
        for scope in scopes {
            for b in self.bindings.iter().filter(|b| b.scope == *scope) {
                for (k, _) in &b.keys {
                    if k.0 == seq {
                        return Lookup::Action(b.scope, b.action);
                    }
                    if k.starts_with(seq) {
                        pending = true;
                    }
                }
            }
        }
        if pending {
            Lookup::Pending
        } else {
            Lookup::None
        }
    }

    pub fn binding(&self, scope: &str, action: &str) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|b| b.scope == scope && b.action == action)
    }

    /// The keys of an action as shown to users: `j, ↓`.
    pub fn keys_label(&self, scope: &str, action: &str) -> Option<String> {
        let b = self.binding(scope, action)?;
        if b.keys.is_empty() {
            return None;
        }
        Some(
            b.keys
                .iter()
                .map(|(k, _)| k.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    pub fn in_scope<'a>(&'a self, scope: &'a str) -> impl Iterator<Item = &'a Binding> + 'a {
        self.bindings.iter().filter(move |b| b.scope == scope)
    }
}

/// Scopes whose bindings are active at the same time.
fn scopes_overlap(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let modal = |s: &str| ActionRegistry::is_modal(s);
    if modal(a) || modal(b) {
        return false;
    }
    let shared = |s: &str| s == actions::GLOBAL || s == actions::LIST;
    // Two pane scopes are never active together.
    shared(a) || shared(b)
}

type Entry = (Vec<(KeySeq, Origin)>, Option<String>);

fn parse_entry(
    entry: &toml::Spanned<DeValue<'_>>,
    src: &str,
    path: &Path,
    layer: u8,
) -> Result<Entry, FileError> {
    let err =
        |span: std::ops::Range<usize>, msg: String| FileError::new(path, msg).at(src, span.start);
    let origin = |span: std::ops::Range<usize>| Origin {
        path: path.to_path_buf(),
        line: line_of(src, span.start),
        layer,
    };
    let parse_keys = |v: &toml::Spanned<DeValue<'_>>| -> Result<Vec<(KeySeq, Origin)>, FileError> {
        match v.get_ref() {
            DeValue::String(s) => KeySeq::parse(s)
                .map(|k| vec![(k, origin(v.span()))])
                .map_err(|e| err(v.span(), e)),
            DeValue::Array(items) => items
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(s) => KeySeq::parse(s)
                        .map(|k| (k, origin(item.span())))
                        .map_err(|e| err(item.span(), e)),
                    _ => Err(err(
                        item.span(),
                        "each key must be a string such as \"ctrl-u\"".into(),
                    )),
                })
                .collect(),
            _ => Err(err(
                v.span(),
                "`keys` must be a string or a list of strings".into(),
            )),
        }
    };
    match entry.get_ref() {
        // Shorthand: `quit = ["q"]` or `quit = "q"`.
        DeValue::String(_) | DeValue::Array(_) => Ok((parse_keys(entry)?, None)),
        DeValue::Table(t) => {
            let mut keys = None;
            let mut description = None;
            for (k, v) in t.iter() {
                match k.get_ref().as_ref() {
                    "keys" => keys = Some(parse_keys(v)?),
                    "description" => match v.get_ref() {
                        DeValue::String(s) => description = Some(s.to_string()),
                        _ => return Err(err(v.span(), "`description` must be a string".into())),
                    },
                    other => {
                        return Err(err(
                            k.span(),
                            format!("unknown field `{other}` (expected `keys`, `description`)"),
                        ));
                    }
                }
            }
            let keys = keys.ok_or_else(|| err(entry.span(), "missing `keys`".into()))?;
            Ok((keys, description))
        }
        _ => Err(err(
            entry.span(),
            "expected `{ keys = [...], description = \"...\" }`".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::actions::core_actions;

    fn registry() -> ActionRegistry {
        crate::console::registry(&crate::console::panes())
    }

    #[test]
    fn bundled_keymaps_load_and_bind_every_core_action() {
        let reg = registry();
        for (name, _) in BUNDLED {
            let km = Keymap::bundled(name, &reg).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            for def in core_actions() {
                assert!(
                    km.binding(def.scope, def.name)
                        .is_some_and(|b| !b.keys.is_empty()),
                    "{name} leaves {}.{} unbound",
                    def.scope,
                    def.name
                );
            }
        }
    }

    #[test]
    fn sequences_resolve_after_a_pending_prefix() {
        let km = Keymap::bundled("vim", &registry()).unwrap();
        let g = KeyChord::plain('g');
        assert_eq!(km.lookup(&["list", "global"], &[g]), Lookup::Pending);
        assert_eq!(
            km.lookup(&["list", "global"], &[g, g]),
            Lookup::Action("list", "top")
        );
        assert_eq!(
            km.lookup(&["list", "global"], &[KeyChord::plain('q')]),
            Lookup::Action("global", "quit")
        );
        assert_eq!(
            km.lookup(&["global"], &[KeyChord::plain('¤')]),
            Lookup::None
        );
    }

    #[test]
    fn unknown_actions_and_scopes_name_file_line_and_key() {
        let src = "name = \"x\"\n[global]\nquit = { keys = [\"q\"] }\nfly = { keys = [\"f\"] }\n[nowhere]\nx = \"y\"\n";
        let errs = Keymap::parse("x", src, Path::new("/u/k.toml"), &registry()).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.starts_with("/u/k.toml, line 4, key `global.fly`: unknown action `fly`")), "{text:?}");
        assert!(
            text.iter()
                .any(|t| t.contains("line 5") && t.contains("unknown scope `nowhere`")),
            "{text:?}"
        );
    }

    #[test]
    fn conflicts_are_detected_across_active_scopes_only() {
        let reg = registry();
        let src = "[global]\nquit = [\"q\"]\n[list]\ndown = [\"q\"]\n";
        let errs = Keymap::parse("x", src, Path::new("k.toml"), &reg).unwrap_err();
        assert_eq!(errs.len(), 1);
        let e = errs[0].to_string();
        assert!(
            e.contains("line 4")
                && e.contains("`q`")
                && e.contains("global.quit")
                && e.contains("list.down"),
            "{e}"
        );

        // Pane scopes never clash with each other, modal scopes never with panes.
        let ok = "[overview]\nrefresh = [\"f\"]\n[activity]\nfollow = [\"f\"]\n[help]\nclose = [\"q\"]\n[global]\nquit = [\"q\"]\n";
        Keymap::parse("x", ok, Path::new("k.toml"), &reg).unwrap();

        let prefix = "[list]\ntop = [\"g g\"]\n[global]\nzoom = [\"g\"]\n";
        let errs = Keymap::parse("x", prefix, Path::new("k.toml"), &reg).unwrap_err();
        assert!(errs[0].to_string().contains("prefix"), "{}", errs[0]);
    }

    #[test]
    fn user_overrides_replace_keys_by_action_name() {
        let reg = registry();
        let mut km = Keymap::bundled("vim", &reg).unwrap();
        km.apply_overrides(
            "[global]\nquit = { keys = [\"ctrl-q\"] }\n",
            Path::new("user.toml"),
            &reg,
        )
        .unwrap();
        let ctrl_q = KeyChord::parse("ctrl-q").unwrap();
        assert_eq!(
            km.lookup(&["global"], &[ctrl_q]),
            Lookup::Action("global", "quit")
        );
        assert_eq!(
            km.lookup(&["global"], &[KeyChord::plain('q')]),
            Lookup::None
        );
        assert_eq!(
            km.binding("global", "quit").unwrap().description,
            "Quit WindFlow"
        );

        // An override that creates a clash names the user's file.
        let errs = km
            .apply_overrides(
                "[global]\nzoom = [\"ctrl-q\"]\n",
                Path::new("user.toml"),
                &reg,
            )
            .unwrap_err();
        assert!(
            errs[0].to_string().starts_with("user.toml, line 2"),
            "{}",
            errs[0]
        );
    }
}
