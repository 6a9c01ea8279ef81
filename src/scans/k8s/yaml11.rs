//! YAML 1.1 booleans, as Kubernetes reads them.
//!
//! `kubectl` and the API machinery decode YAML with sigs.k8s.io/yaml, which
//! is YAML 1.1: a plain (unquoted) `yes`, `on`, `y`, `No`, `OFF` ... is a
//! boolean there, while YAML 1.2 parsers (serde_yaml_ng among them) read it
//! as a string. So `privileged: yes` is a privileged container to the
//! cluster and a string to a 1.2 reader. The loader parses with
//! serde_yaml_ng, then walks the same document's parser events (libyaml,
//! the parser serde_yaml_ng is built on) to find the plain scalars that
//! only YAML 1.1 reads as booleans, and turns them into booleans where they
//! are values; [`Ambiguous`] records each one for the `yaml-boolean` check.
//!
//! Mapping keys spelled so (`on:`) are left as they are: Kubernetes objects
//! have no such field names.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use serde_json::Value;

/// The spellings YAML 1.1 reads as booleans and YAML 1.2 as strings (the
/// 1.1 spec's `y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF`, which
/// go-yaml v2 under sigs.k8s.io/yaml follows; `true`/`false` and their
/// capitalisations are booleans in both).
pub const ONLY_YAML11: &[(&str, bool)] = &[
    ("y", true),
    ("Y", true),
    ("yes", true),
    ("Yes", true),
    ("YES", true),
    ("on", true),
    ("On", true),
    ("ON", true),
    ("n", false),
    ("N", false),
    ("no", false),
    ("No", false),
    ("NO", false),
    ("off", false),
    ("Off", false),
    ("OFF", false),
];

/// The boolean YAML 1.1 reads from a plain scalar, where YAML 1.2 reads a string.
pub fn yaml11_only_bool(text: &str) -> Option<bool> {
    ONLY_YAML11
        .iter()
        .find(|(s, _)| *s == text)
        .map(|(_, b)| *b)
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A plain scalar that YAML 1.1 reads as a boolean and YAML 1.2 as a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ambiguous {
    pub path: Vec<Seg>,
    /// As written (`yes`, `ON`, ...).
    pub text: String,
    pub value: bool,
    /// 0-based line in the document.
    pub line: usize,
}

impl Ambiguous {
    /// `spec.containers[0].securityContext.privileged`.
    pub fn dotted(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }
}

/// Turns every value in `value` that YAML 1.1 reads as a boolean into
/// that boolean, and returns them. `doc` is the text `value` was parsed
/// from (by serde_yaml_ng, which must have accepted it).
pub fn resolve(doc: &str, value: &mut Value) -> Vec<Ambiguous> {
    let found = walk(doc.as_bytes());
    let mut applied = Vec::new();
    for a in found {
        let mut at = Some(&mut *value);
        for seg in &a.path {
            at = match (at, seg) {
                (Some(Value::Object(m)), Seg::Key(k)) => m.get_mut(k),
                (Some(Value::Array(v)), Seg::Index(i)) => v.get_mut(*i),
                _ => None,
            };
        }
        // Only where the parsed value is that very string.
        if let Some(v) = at
            && v.as_str() == Some(a.text.as_str())
        {
            *v = Value::Bool(a.value);
            applied.push(a);
        }
    }
    applied
}

// ------------------------------------------------------------------ libyaml events

/// The libyaml events the walk here and [`super::guard`] need.
pub(super) enum Event {
    End,
    Other,
    Alias(String),
    Scalar {
        anchor: Option<String>,
        text: String,
        plain_untagged: bool,
    },
    Start {
        anchor: Option<String>,
        map: bool,
    },
    Close,
}

/// The libyaml parser over a borrowed input; freed on drop.
pub(super) struct Parser<'a> {
    raw: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>>,
    _input: PhantomData<&'a [u8]>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(input: &'a [u8]) -> Option<Self> {
        let mut raw = Box::new(MaybeUninit::<unsafe_libyaml::yaml_parser_t>::uninit());
        // SAFETY: the parser is initialised in place before any other use,
        // stays in its box (never moved) and is deleted once in Drop; the
        // input outlives it (the lifetime 'a).
        unsafe {
            let p = raw.as_mut_ptr();
            if unsafe_libyaml::yaml_parser_initialize(p).fail {
                return None;
            }
            unsafe_libyaml::yaml_parser_set_encoding(p, unsafe_libyaml::YAML_UTF8_ENCODING);
            unsafe_libyaml::yaml_parser_set_input_string(p, input.as_ptr(), input.len() as u64);
        }
        Some(Self {
            raw,
            _input: PhantomData,
        })
    }

    /// The next event; `None` on a parse error.
    pub(super) fn next(&mut self) -> Option<(Event, usize)> {
        let mut ev = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new`; a successful
        // yaml_parser_parse fills the event, whose union member is read
        // according to its type, copied out, then freed once.
        unsafe {
            let p = self.raw.as_mut_ptr();
            if unsafe_libyaml::yaml_parser_parse(p, ev.as_mut_ptr()).fail {
                return None;
            }
            let e = &*ev.as_ptr();
            let line = e.start_mark.line as usize;
            let text = |ptr: *const u8| -> Option<String> {
                if ptr.is_null() {
                    return None;
                }
                let c = std::ffi::CStr::from_ptr(ptr.cast());
                Some(String::from_utf8_lossy(c.to_bytes()).into_owned())
            };
            let out = match e.type_ {
                unsafe_libyaml::YAML_STREAM_END_EVENT => Event::End,
                unsafe_libyaml::YAML_ALIAS_EVENT => {
                    Event::Alias(text(e.data.alias.anchor).unwrap_or_default())
                }
                unsafe_libyaml::YAML_SCALAR_EVENT => {
                    let s = e.data.scalar;
                    let bytes = std::slice::from_raw_parts(s.value, s.length as usize);
                    Event::Scalar {
                        anchor: text(s.anchor),
                        text: String::from_utf8_lossy(bytes).into_owned(),
                        plain_untagged: s.style == unsafe_libyaml::YAML_PLAIN_SCALAR_STYLE
                            && s.tag.is_null(),
                    }
                }
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT => Event::Start {
                    anchor: text(e.data.sequence_start.anchor),
                    map: false,
                },
                unsafe_libyaml::YAML_MAPPING_START_EVENT => Event::Start {
                    anchor: text(e.data.mapping_start.anchor),
                    map: true,
                },
                unsafe_libyaml::YAML_SEQUENCE_END_EVENT
                | unsafe_libyaml::YAML_MAPPING_END_EVENT => Event::Close,
                _ => Event::Other,
            };
            unsafe_libyaml::yaml_event_delete(ev.as_mut_ptr());
            Some((out, line))
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (a failed init returns before a
        // Parser exists), deleted only here.
        unsafe { unsafe_libyaml::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

enum Frame {
    Map {
        key: Option<String>,
        awaiting_key: bool,
    },
    Seq {
        next: usize,
    },
    /// A mapping or sequence used as a key: nothing in it is a value.
    Key,
}

struct Open {
    anchor: String,
    depth: usize,
    found: usize,
    path_len: usize,
}

#[derive(Default)]
struct Walk {
    frames: Vec<Frame>,
    found: Vec<Ambiguous>,
    anchors: HashMap<String, Vec<Ambiguous>>,
    open: Vec<Open>,
}

impl Walk {
    /// The path of the value starting now; `None` inside a key.
    fn path(&self) -> Option<Vec<Seg>> {
        let mut path = Vec::with_capacity(self.frames.len());
        for f in &self.frames {
            match f {
                Frame::Map {
                    key: Some(k),
                    awaiting_key: false,
                } => path.push(Seg::Key(k.clone())),
                Frame::Seq { next } => path.push(Seg::Index(*next)),
                _ => return None,
            }
        }
        Some(path)
    }

    fn at_key(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame::Map {
                awaiting_key: true,
                ..
            }) | Some(Frame::Key)
        )
    }

    /// A node in the top frame is complete.
    fn done(&mut self) {
        match self.frames.last_mut() {
            Some(Frame::Map { key, awaiting_key }) => {
                if *awaiting_key {
                    *awaiting_key = false;
                } else {
                    *key = None;
                    *awaiting_key = true;
                }
            }
            Some(Frame::Seq { next }) => *next += 1,
            _ => {}
        }
    }

    fn event(&mut self, ev: Event, line: usize) {
        match ev {
            Event::Scalar {
                anchor,
                text,
                plain_untagged,
            } => {
                if let Some(Frame::Map {
                    key,
                    awaiting_key: true,
                }) = self.frames.last_mut()
                {
                    *key = Some(text);
                    self.done();
                    return;
                }
                let mut own = Vec::new();
                if let (Some(path), true) = (self.path(), plain_untagged)
                    && let Some(value) = yaml11_only_bool(&text)
                {
                    own.push(Ambiguous {
                        path,
                        text,
                        value,
                        line,
                    });
                }
                if let Some(a) = anchor {
                    let relative = own
                        .iter()
                        .map(|x| Ambiguous {
                            path: Vec::new(),
                            ..x.clone()
                        })
                        .collect();
                    self.anchors.insert(a, relative);
                }
                self.found.extend(own);
                self.done();
            }
            Event::Alias(name) => {
                if !self.at_key()
                    && let Some(path) = self.path()
                {
                    let copies: Vec<Ambiguous> = self
                        .anchors
                        .get(&name)
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let mut p = path.clone();
                            p.extend(a.path.iter().cloned());
                            Ambiguous {
                                path: p,
                                ..a.clone()
                            }
                        })
                        .collect();
                    self.found.extend(copies);
                }
                if let Some(Frame::Map {
                    key,
                    awaiting_key: true,
                }) = self.frames.last_mut()
                {
                    *key = None;
                }
                self.done();
            }
            Event::Start { anchor, map } => {
                if self.at_key() {
                    self.frames.push(Frame::Key);
                    return;
                }
                if let Some(a) = anchor {
                    let path_len = self.path().map_or(0, |p| p.len());
                    self.open.push(Open {
                        anchor: a,
                        depth: self.frames.len(),
                        found: self.found.len(),
                        path_len,
                    });
                }
                self.frames.push(if map {
                    Frame::Map {
                        key: None,
                        awaiting_key: true,
                    }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::Close => {
                let was_key = matches!(self.frames.pop(), Some(Frame::Key));
                if was_key {
                    // A complex key is complete: its value follows, at no
                    // path a JSON object can hold.
                    if let Some(Frame::Map { key, awaiting_key }) = self.frames.last_mut() {
                        *key = None;
                        *awaiting_key = false;
                    }
                    return;
                }
                if self
                    .open
                    .last()
                    .is_some_and(|o| o.depth == self.frames.len())
                {
                    let o = self.open.pop().expect("checked");
                    let relative = self.found[o.found..]
                        .iter()
                        .map(|a| Ambiguous {
                            path: a.path[o.path_len.min(a.path.len())..].to_vec(),
                            ..a.clone()
                        })
                        .collect();
                    self.anchors.insert(o.anchor, relative);
                }
                self.done();
            }
            Event::End | Event::Other => {}
        }
    }
}

/// Every value in the first document of `doc` that only YAML 1.1 reads as
/// a boolean, aliases expanded; empty when it does not parse.
fn walk(doc: &[u8]) -> Vec<Ambiguous> {
    let Some(mut parser) = Parser::new(doc) else {
        return Vec::new();
    };
    let mut w = Walk::default();
    while let Some((ev, line)) = parser.next() {
        if matches!(ev, Event::End) {
            return w.found;
        }
        w.event(ev, line);
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(doc: &str) -> (Value, Vec<String>) {
        let mut v: Value = serde_yaml_ng::from_str(doc).unwrap();
        let found = resolve(doc, &mut v);
        (
            v,
            found
                .iter()
                .map(|a| format!("{}={}", a.dotted(), a.text))
                .collect(),
        )
    }

    #[test]
    fn plain_yaml11_spellings_become_booleans_where_they_are_values() {
        let doc = "a: yes\nb: \"yes\"\nc: 'on'\nd: !!str off\ne: [y, N, maybe]\nf: {g: On}\non: 1\nh: |\n  yes\n";
        let (v, found) = resolved(doc);
        assert_eq!(v["a"], Value::Bool(true));
        assert_eq!(v["b"], "yes");
        assert_eq!(v["c"], "on");
        assert_eq!(v["d"], "off");
        assert_eq!(v["e"], serde_json::json!([true, false, "maybe"]));
        assert_eq!(v["f"]["g"], Value::Bool(true));
        assert_eq!(v["on"], 1, "keys stay as written");
        assert_eq!(v["h"], "yes\n");
        assert_eq!(found, ["a=yes", "e[0]=y", "e[1]=N", "f.g=On"]);
    }

    #[test]
    fn aliases_carry_their_booleans() {
        let doc = "base: &b {privileged: yes, x: [off]}\nc1: *b\nlist: [&s ON, *s]\n";
        let (v, found) = resolved(doc);
        assert_eq!(v["c1"]["privileged"], Value::Bool(true));
        assert_eq!(v["c1"]["x"][0], Value::Bool(false));
        assert_eq!(v["list"], serde_json::json!([true, true]));
        assert_eq!(found.len(), 6, "{found:?}");
    }

    #[test]
    fn complex_keys_do_not_confuse_the_paths() {
        let doc = "? [a, yes]\n: no\nk: yes\n";
        let mut v: Value = match serde_yaml_ng::from_str(doc) {
            Ok(v) => v,
            // serde_json has no complex keys: nothing to resolve.
            Err(_) => return,
        };
        resolve(doc, &mut v);
        assert_eq!(v["k"], Value::Bool(true));
    }
}
