//! Property tests of every parser of outside data: sealed envelopes, scanner
//! reports, Kubernetes manifests, the config file, and the display boundary.
//!
//! Inputs are generated: arbitrary bytes and text, text shaped by each
//! format's grammar (with the keys and values of the real fixtures), and the
//! real fixtures mutated (bytes changed, cut, dropped, repeated; JSON values
//! replaced, removed, wrapped; deep nesting; YAML aliases). The properties:
//! nothing panics, every error names its input (the file, or for an envelope
//! the envelope), a changed envelope never opens, and the display boundary
//! lets no control or bidirectional character out and leaves clean text as it
//! is.
//!
//! Each target runs proptest's `PROPTEST_CASES` cases (256 by default, which
//! the suite uses); `bench/props.sh` runs each with 1,000,000 in a release
//! build. A failure prints the smallest input found; `PROPTEST_RNG_SEED`
//! replays a run.

use std::cell::Cell;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use windflow::config::{BaseDirs, Config as WfConfig, Flags};
use windflow::crypto::{self, Envelope, Keyring, MasterKey};
use windflow::display::{Untrusted, UntrustedLines, clean, clean_line};
use windflow::scans::{gate, k8s, merge, report};

/// Runs `property` on `PROPTEST_CASES` inputs of `strategy`; a failure panics
/// with the smallest failing input.
fn check<S: Strategy>(strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let config = Config {
        // Regressions found are kept as named tests, not in files.
        failure_persistence: None,
        ..Config::default()
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, property) {
        panic!("{e}");
    }
}

/// [`check`] for a parser: `property` says whether it accepted the input.
/// Both outcomes must be common (at least 2 % of the inputs each): the
/// generated inputs reach past the first check, and not only valid ones are tried.
fn check_parser<S: Strategy>(
    strategy: S,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    let (accepted, total) = (Cell::new(0u64), Cell::new(0u64));
    check(strategy, |input| {
        let ok = property(input)?;
        total.set(total.get() + 1);
        accepted.set(accepted.get() + u64::from(ok));
        Ok(())
    });
    let (a, t) = (accepted.get(), total.get());
    eprintln!("props: accepted {a} of {t} inputs");
    assert!(
        a * 50 >= t && (t - a) * 50 >= t,
        "accepted {a} of {t} inputs"
    );
}

fn fixtures(dir: &str, ext: &[&str]) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if ext.iter().any(|e| p.to_string_lossy().ends_with(e)) {
                let name = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('/', "-");
                out.push((name, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures under {dir}");
    out
}

/// Object keys and short string values found anywhere in `docs`: the
/// vocabulary of generated documents.
fn vocabulary(docs: &[Value]) -> (Vec<String>, Vec<String>) {
    fn walk(v: &Value, keys: &mut Vec<String>, values: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    keys.push(k.clone());
                    walk(x, keys, values);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, keys, values)),
            Value::String(s) if s.len() <= 40 => values.push(s.clone()),
            _ => {}
        }
    }
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    docs.iter().for_each(|d| walk(d, &mut keys, &mut values));
    for v in [&mut keys, &mut values] {
        v.sort();
        v.dedup();
    }
    (keys, values)
}

/// Text that terminals, parsers and humans trip on.
const HOSTILE: &[&str] = &[
    "",
    " ",
    "\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J",
    "a\rb",
    "\u{9b}2J",
    "adm\u{202e}nimda",
    "\u{430}lice",
    "<!channel>",
    "\0",
    "\u{feff}",
    "\\",
    "\"",
    "'",
    "x\ny",
    "${HOME}",
    "../../etc/passwd",
    "-rf",
    "\u{10ffff}",
    "🦀",
];

// ------------------------------------------------------------------ byte edits

/// Bytes that mean something to JSON, YAML or TOML.
const STRUCTURE: &[u8] = b"{}[]\":,0123456789-+.eE aZ\n\t\r#&*!|>'%\\=_~@`?";

#[derive(Clone, Debug)]
enum Edit {
    Truncate(Index),
    Set(Index, u8),
    Delete(Index, usize),
    Repeat(Index, usize),
    Insert(Index, Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = || prop_oneof![3 => select(STRUCTURE), 1 => any::<u8>()];
    prop_oneof![
        1 => any::<Index>().prop_map(Edit::Truncate),
        3 => (any::<Index>(), byte()).prop_map(|(i, b)| Edit::Set(i, b)),
        2 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        2 => (any::<Index>(), 1..256usize).prop_map(|(i, n)| Edit::Repeat(i, n)),
        2 => (any::<Index>(), vec(byte(), 1..16)).prop_map(|(i, b)| Edit::Insert(i, b)),
    ]
}

fn edited(src: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = src.to_vec();
    for e in edits {
        // A position in the text, its end included.
        let at = |i: &Index, b: &Vec<u8>| i.index(b.len() + 1);
        match e {
            Edit::Truncate(i) => b.truncate(at(i, &b)),
            Edit::Set(i, x) if !b.is_empty() => {
                let i = i.index(b.len());
                b[i] = *x;
            }
            Edit::Set(..) => b.push(b'{'),
            Edit::Delete(i, n) => {
                let start = at(i, &b);
                b.drain(start..(start + n).min(b.len()));
            }
            Edit::Repeat(i, n) => {
                let start = at(i, &b);
                let span = b[start..(start + n).min(b.len())].to_vec();
                b.splice(start..start, span);
            }
            Edit::Insert(i, bytes) => {
                let start = at(i, &b);
                b.splice(start..start, bytes.iter().copied());
            }
        }
    }
    b
}

/// `(name, bytes)` of a fixture with 1 to 4 byte edits.
fn edited_fixture(
    fixtures: &'static [(String, Vec<u8>)],
) -> impl Strategy<Value = (String, Vec<u8>)> {
    (0..fixtures.len(), vec(edit(), 1..5)).prop_map(move |(f, edits)| {
        let (name, src) = &fixtures[f];
        (name.clone(), edited(src, &edits))
    })
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

// ------------------------------------------------------------------ envelopes

static MASTER: [u8; 32] = [0x5a; 32];
static OLDER: [u8; 32] = [0xa5; 32];

/// A keyring with two keys, so that both kids reach the cipher.
static RING: LazyLock<Keyring> = LazyLock::new(|| {
    Keyring::from_keys([
        MasterKey::from_bytes(&OLDER),
        MasterKey::from_bytes(&MASTER),
    ])
    .expect("two keys")
});

const CONTEXTS: &[&str] = &["session", "totp:alice", "secret:db/prod", "grant:bob", "x"];

fn b64(bytes: &[u8]) -> String {
    let mut s = String::new();
    crypto::b64::encode_append(bytes, &mut s);
    s
}

/// Texts from nothing like an envelope to well-formed ones under a loaded
/// key (which only a forger could make open).
fn envelope_text() -> impl Strategy<Value = String> {
    let kid = prop_oneof![
        Just(crypto::kid_of(&MASTER)),
        Just(crypto::kid_of(&OLDER)),
        "[0-9a-fA-F]{0,9}",
    ];
    let part = prop_oneof![
        vec(any::<u8>(), 0..40).prop_map(|b| b64(&b)),
        "[A-Za-z0-9_+/=-]{0,40}",
        any::<String>(),
    ];
    let shaped = (
        select(&["wf1", "wf1", "wf2", "WF1", "", " wf1"][..]),
        kid,
        vec(part, 0..6),
        select(&[".", ".", "..", ":", ""][..]),
    )
        .prop_map(|(prefix, kid, parts, sep)| {
            let mut s = format!("{prefix}{sep}{kid}");
            for p in parts {
                s.push_str(sep);
                s.push_str(&p);
            }
            s
        });
    let well_formed = (
        prop_oneof![Just(crypto::kid_of(&MASTER)), Just(crypto::kid_of(&OLDER))],
        any::<[u8; 16]>(),
        any::<[u8; 12]>(),
        vec(any::<u8>(), 0..200),
    )
        .prop_map(|(kid, salt, nonce, ct)| {
            format!("wf1.{kid}.{}.{}.{}", b64(&salt), b64(&nonce), b64(&ct))
        });
    prop_oneof![
        any::<String>(),
        vec(any::<u8>(), 0..300).prop_map(lossy),
        shaped,
        well_formed,
    ]
}

/// An error of the envelope parser says it is about the envelope.
fn names_the_envelope(e: &crypto::CryptoError) -> Result<(), TestCaseError> {
    prop_assert!(e.to_string().contains("envelope"), "{e}");
    Ok(())
}

/// Text that was never sealed does not open, and the error says why.
fn arbitrary_envelope_holds(text: &str, context: &str) -> Result<(), TestCaseError> {
    for opened in [
        RING.decrypt(context, text),
        crypto::open(&MASTER, context, text),
    ] {
        match opened {
            Ok(_) => prop_assert!(false, "{text:?} opened"),
            Err(e) => names_the_envelope(&e)?,
        }
    }
    // What parses is written back exactly as it was: one text per envelope.
    if let Ok(env) = Envelope::parse(text) {
        prop_assert_eq!(env.to_string(), text.trim());
    }
    Ok(())
}

#[test]
fn envelopes_of_arbitrary_text_never_open_and_errors_name_the_envelope() {
    check((envelope_text(), select(CONTEXTS)), |(text, context)| {
        arbitrary_envelope_holds(&text, context)
    });
}

#[derive(Clone, Debug)]
enum Tamper {
    /// Cut the text short at this position.
    Truncate(Index),
    /// Flip one bit of one byte of the text.
    FlipText(Index, u8),
    /// Replace one byte of the text with another.
    SetText(Index, u8),
    /// Flip one bit of the decoded salt (0), nonce (1) or ciphertext (2).
    FlipDecoded(usize, Index, u8),
    /// Open with another context.
    Context(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<Index>().prop_map(Tamper::Truncate),
        (any::<Index>(), 0..8u8).prop_map(|(i, b)| Tamper::FlipText(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Tamper::SetText(i, b)),
        (0..3usize, any::<Index>(), 0..8u8).prop_map(|(p, i, b)| Tamper::FlipDecoded(p, i, b)),
        prop_oneof![select(CONTEXTS).prop_map(String::from), "[ -~]{0,20}"]
            .prop_map(Tamper::Context),
    ]
}

#[test]
fn a_changed_envelope_never_opens() {
    let sealed = (
        select(CONTEXTS),
        any::<[u8; 16]>(),
        any::<[u8; 12]>(),
        vec(any::<u8>(), 0..100),
    );
    check(
        (sealed, tamper()),
        |((context, salt, nonce, plaintext), tamper)| {
            let master = if salt[0] % 2 == 0 { &MASTER } else { &OLDER };
            let good = crypto::seal_with(master, context, &salt, &nonce, &plaintext).unwrap();
            // The untouched envelope opens: the property below can fail.
            prop_assert_eq!(&RING.decrypt(context, &good).unwrap()[..], &plaintext[..]);
            let mut open_with = context.to_string();
            let bad: Vec<u8> = match tamper {
                Tamper::Truncate(i) => good.as_bytes()[..i.index(good.len())].to_vec(),
                Tamper::FlipText(i, bit) => {
                    let mut b = good.clone().into_bytes();
                    let i = i.index(b.len());
                    b[i] ^= 1 << bit;
                    b
                }
                Tamper::SetText(i, x) => {
                    let mut b = good.clone().into_bytes();
                    let i = i.index(b.len());
                    b[i] = if b[i] == x { x.wrapping_add(1) } else { x };
                    b
                }
                Tamper::FlipDecoded(part, i, bit) => {
                    let mut env = Envelope::parse(&good).unwrap();
                    let bytes: &mut [u8] = match part {
                        0 => &mut env.salt,
                        1 => &mut env.nonce,
                        _ => &mut env.ciphertext,
                    };
                    bytes[i.index(bytes.len())] ^= 1 << bit;
                    env.to_string().into_bytes()
                }
                Tamper::Context(other) => {
                    open_with = if other == context {
                        format!("{other}x")
                    } else {
                        other
                    };
                    good.into_bytes()
                }
            };
            // The CLI refuses bytes that are not UTF-8 before parsing.
            let Ok(bad) = String::from_utf8(bad) else {
                return Ok(());
            };
            match RING.decrypt(&open_with, &bad) {
                Ok(_) => prop_assert!(false, "{bad:?} opened with {open_with:?}"),
                Err(crypto::CryptoError::EmptyContext) => prop_assert!(open_with.is_empty()),
                Err(e) => names_the_envelope(&e)?,
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------------ scanner reports

static REPORTS: LazyLock<Vec<(String, Vec<u8>)>> = LazyLock::new(|| {
    let mut all = fixtures("scans", &[".json", ".golden"]);
    all.retain(|(name, _)| !name.starts_with("k8s-"));
    all
});

/// The reports that are JSON, parsed, with their keys and short strings.
struct JsonReports {
    docs: Vec<(String, Value)>,
    keys: Vec<String>,
    strings: Vec<String>,
}

static JSON_REPORTS: LazyLock<JsonReports> = LazyLock::new(|| {
    let docs: Vec<(String, Value)> = REPORTS
        .iter()
        .filter_map(|(n, b)| Some((n.clone(), serde_json::from_slice(b).ok()?)))
        .collect();
    let values: Vec<Value> = docs.iter().map(|(_, d)| d.clone()).collect();
    let (keys, strings) = vocabulary(&values);
    JsonReports {
        docs,
        keys,
        strings,
    }
});

fn json_string(words: &'static [String]) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => select(words),
        1 => select(HOSTILE).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Any JSON value, its keys and strings mostly from the real reports.
fn json_value() -> impl Strategy<Value = Value> + Clone {
    let JsonReports { keys, strings, .. } = &*JSON_REPORTS;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        json_string(strings).prop_map(Value::String),
    ];
    let key = json_string(keys);
    leaf.prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key.clone(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

#[derive(Clone, Debug)]
enum Change {
    Replace(Index, Value),
    Remove(Index),
    /// `[node]` or `{key: node}`: the right value at the wrong type.
    Wrap(Index, Option<String>),
    Rename(Index, String),
}

fn change() -> impl Strategy<Value = Change> {
    let keys = &JSON_REPORTS.keys;
    prop_oneof![
        (any::<Index>(), json_value()).prop_map(|(i, v)| Change::Replace(i, v)),
        any::<Index>().prop_map(Change::Remove),
        (
            any::<Index>(),
            proptest::option::of(select(keys.as_slice()))
        )
            .prop_map(|(i, k)| Change::Wrap(i, k)),
        (any::<Index>(), json_string(keys)).prop_map(|(i, k)| Change::Rename(i, k)),
    ]
}

/// JSON pointers of every node of `v`, in document order.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    let esc = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match v {
        Value::Object(o) => o
            .iter()
            .for_each(|(k, x)| pointers(x, format!("{at}/{}", esc(k)), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

fn changed(doc: &Value, changes: &[Change]) -> Value {
    let mut doc = doc.clone();
    for c in changes {
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        let pick = |i: &Index| all[i.index(all.len())].clone();
        match c {
            Change::Replace(i, v) => *doc.pointer_mut(&pick(i)).unwrap() = v.clone(),
            Change::Wrap(i, key) => {
                let node = doc.pointer_mut(&pick(i)).unwrap();
                let inner = node.take();
                *node = match key {
                    Some(k) => Value::Object([(k.clone(), inner)].into_iter().collect()),
                    None => Value::Array(vec![inner]),
                };
            }
            Change::Remove(i) | Change::Rename(i, _) => {
                let p = pick(i);
                let Some((parent, last)) = p.rsplit_once('/') else {
                    continue;
                };
                let last = last.replace("~1", "/").replace("~0", "~");
                match (doc.pointer_mut(parent).unwrap(), c) {
                    (Value::Object(o), Change::Rename(_, to)) => {
                        if let Some(v) = o.remove(&last) {
                            o.insert(to.clone(), v);
                        }
                    }
                    (Value::Object(o), _) => {
                        o.remove(&last);
                    }
                    (Value::Array(a), _) => {
                        a.remove(last.parse::<usize>().unwrap());
                    }
                    _ => {}
                }
            }
        }
    }
    doc
}

/// Nesting far past any parser's limit, inside a report-shaped prefix.
fn deep_json() -> impl Strategy<Value = Vec<u8>> {
    (
        select(
            &[
                "",
                "{\"Results\":",
                "{\"matches\":",
                "{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":",
                "{\"image\":\"x\",\"vulnerabilities\":",
            ][..],
        ),
        select(&["[", "{\"a\":", "[{\"Vulnerabilities\":", "{\"Results\":["][..]),
        1..20_000usize,
    )
        .prop_map(|(prefix, open, depth)| {
            let mut s = prefix.to_string();
            s.push_str(&open.repeat(depth));
            s.push('1');
            s
        })
        .prop_map(String::into_bytes)
}

fn report_input() -> impl Strategy<Value = (String, Vec<u8>)> {
    let docs = &JSON_REPORTS.docs;
    let structured = (0..docs.len(), vec(change(), 1..4)).prop_map(|(d, changes)| {
        let (name, doc) = &docs[d];
        (
            name.clone(),
            serde_json::to_vec(&changed(doc, &changes)).unwrap(),
        )
    });
    prop_oneof![
        4 => structured,
        4 => edited_fixture(&REPORTS),
        1 => vec(any::<u8>(), 0..512).prop_map(|b| ("bytes.json".to_string(), b)),
        1 => deep_json().prop_map(|b| ("deep.json".to_string(), b)),
    ]
}

/// A report goes the whole way (parse, merge, gate) or the error names the file.
fn report_holds(name: &str, bytes: &[u8]) -> Result<bool, TestCaseError> {
    static POLICY: LazyLock<gate::Policy> = LazyLock::new(gate::Policy::default_policy);
    let file = PathBuf::from("fuzzed").join(name);
    match report::parse_report(&file, bytes) {
        Ok(r) => {
            let merged = merge::merge(r.findings);
            merge::aggregate(&merged);
            let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
            gate::evaluate(&merged, &POLICY, today);
            Ok(true)
        }
        Err(e) => {
            prop_assert!(e.to_string().contains(&*file.to_string_lossy()), "{e}");
            Ok(false)
        }
    }
}

#[test]
fn scanner_reports_parse_merge_and_gate_or_the_error_names_the_file() {
    check_parser(report_input(), |(name, bytes)| report_holds(&name, &bytes));
}

// ------------------------------------------------------------------ manifests

static MANIFESTS: LazyLock<Vec<(String, Vec<u8>)>> =
    LazyLock::new(|| fixtures("scans/k8s", &[".yaml", ".yml"]));

/// Keys and short strings of every fixture manifest.
static MANIFEST_WORDS: LazyLock<(Vec<String>, Vec<String>)> = LazyLock::new(|| {
    let docs: Vec<Value> = MANIFESTS
        .iter()
        .flat_map(|(_, b)| {
            let text = String::from_utf8_lossy(b).into_owned();
            k8s::load::split_documents(&text)
                .into_iter()
                .filter_map(|(_, d)| serde_yaml_ng::from_str::<Value>(&d).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    vocabulary(&docs)
});

/// A YAML node, written in flow or block style.
#[derive(Clone, Debug)]
enum Yaml {
    Scalar(String),
    Alias(u8),
    Anchored(u8, Box<Yaml>),
    Seq(Vec<Yaml>, bool),
    Map(Vec<(String, Yaml)>, bool),
}

impl Yaml {
    fn flow(&self, out: &mut String) {
        match self {
            Yaml::Scalar(s) => out.push_str(s),
            Yaml::Alias(a) => out.push_str(&format!("*a{a}")),
            Yaml::Anchored(a, n) => {
                out.push_str(&format!("&a{a} "));
                n.flow(out);
            }
            Yaml::Seq(items, _) => {
                out.push('[');
                for (i, n) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    n.flow(out);
                }
                out.push(']');
            }
            Yaml::Map(entries, _) => {
                out.push('{');
                for (i, (k, n)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push_str(": ");
                    n.flow(out);
                }
                out.push('}');
            }
        }
    }

    /// `self` as the value after `key:` or `-` at `indent`.
    fn block(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Yaml::Anchored(a, n) if matches!(**n, Yaml::Seq(_, true) | Yaml::Map(_, true)) => {
                out.push_str(&format!(" &a{a}"));
                n.block(indent, out);
            }
            Yaml::Seq(items, true) if !items.is_empty() => {
                out.push('\n');
                for n in items {
                    out.push_str(&format!("{pad}-"));
                    n.block(indent + 2, out);
                }
            }
            Yaml::Map(entries, true) if !entries.is_empty() => {
                out.push('\n');
                for (k, n) in entries {
                    out.push_str(&format!("{pad}{k}:"));
                    n.block(indent + 2, out);
                }
            }
            _ => {
                out.push(' ');
                self.flow(out);
                out.push('\n');
            }
        }
    }
}

/// `s` as a YAML double-quoted scalar, controls escaped as YAML does.
fn yaml_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\0'..='\x1f' | '\x7f'..='\u{9f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn yaml_scalar() -> impl Strategy<Value = String> + Clone {
    let (_, words) = &*MANIFEST_WORDS;
    prop_oneof![
        3 => select(words.as_slice()).prop_map(|w| {
            if w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c)) {
                w
            } else {
                yaml_quoted(&w)
            }
        }),
        3 => select(&[
            "yes", "no", "on", "Off", "y", "N", "true", "False", "null", "~", "0", "-1", "0x1F",
            "0o17", "1e3", ".inf", "-.Inf", ".nan", "'on'", "\"yes\"", "!!str on", "!!bool yes",
            "!!int x", "!!binary aGk=", "2001-12-14t21:59:43.10-05:00", "|-\n  x", "? x",
            "99999999999999999999999", "\"\\e[2J\"", "\"\\u202e\"", "!custom x", "<<",
        ][..]).prop_map(String::from),
        1 => select(HOSTILE).prop_map(yaml_quoted),
        1 => "[ -~]{0,12}",
    ]
}

fn yaml_node() -> impl Strategy<Value = Yaml> {
    let (keys, _) = &*MANIFEST_WORDS;
    let key = prop_oneof![
        6 => select(keys.as_slice()),
        1 => Just("<<".to_string()),
        1 => yaml_scalar(),
    ];
    let leaf = prop_oneof![
        6 => yaml_scalar().prop_map(Yaml::Scalar),
        1 => (0..4u8).prop_map(Yaml::Alias),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            (vec(inner.clone(), 0..6), any::<bool>()).prop_map(|(v, b)| Yaml::Seq(v, b)),
            (vec((key.clone(), inner.clone()), 0..6), any::<bool>())
                .prop_map(|(v, b)| Yaml::Map(v, b)),
            (0..4u8, inner).prop_map(|(a, n)| Yaml::Anchored(a, Box::new(n))),
        ]
    })
}

/// One document shaped like a Kubernetes object around a generated body.
fn yaml_document() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        select(
            &[
                "Pod",
                "Deployment",
                "DaemonSet",
                "StatefulSet",
                "Job",
                "CronJob",
                "Namespace",
                "Service",
                "Ingress",
                "NetworkPolicy",
                "List",
                "PodList",
                "ReplicaSet",
                "",
                "\"\"",
            ][..]
        )
        .prop_map(String::from),
        yaml_scalar(),
    ];
    (
        kind,
        yaml_scalar(),
        vec(("[a-zA-Z]{1,12}", yaml_node()), 0..4),
        yaml_node(),
    )
        .prop_map(|(kind, name, extra, spec)| {
            let mut s = format!("apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n");
            let field = if kind.ends_with("List") {
                "items"
            } else {
                "spec"
            };
            s.push_str(field);
            s.push(':');
            spec.block(2, &mut s);
            for (k, n) in extra {
                s.push_str(&k);
                s.push(':');
                n.block(2, &mut s);
            }
            s
        })
}

/// Aliases of aliases: a "billion laughs" whose expansion no loader may do.
fn nested_aliases() -> impl Strategy<Value = String> {
    (1..12usize, 1..12usize).prop_map(|(levels, width)| {
        let mut s = String::from(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: lol}\nl0: &l0 [yes, on, \"x\"]\n",
        );
        for i in 1..=levels {
            let refs = vec![format!("*l{}", i - 1); width].join(", ");
            s.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        s.push_str(&format!(
            "spec: {{containers: [{{name: c, securityContext: *l{levels}}}]}}\n"
        ));
        s
    })
}

/// One wide anchor repeated by many aliases: few alias expansions, each big.
fn wide_aliases() -> impl Strategy<Value = String> {
    (1..5_000usize, 1..500usize).prop_map(|(wide, aliases)| {
        format!(
            "kind: Pod\nmetadata: {{name: wide}}\nspec: &a {{containers: [{}]}}\nx: [{}]\n",
            vec!["{name: c, securityContext: {privileged: yes}}"; wide].join(", "),
            vec!["*a"; aliases].join(", ")
        )
    })
}

fn deep_yaml() -> impl Strategy<Value = String> {
    prop_oneof![
        (select(&["[", "{a: ", "- ", "[{a: "][..]), 1..20_000usize)
            .prop_map(|(open, depth)| format!("kind: Pod\nspec: {}x", open.repeat(depth))),
        (1..400usize).prop_map(|depth| {
            let mut s = String::from("kind: Pod\nspec:\n");
            for d in 1..=depth {
                s.push_str(&format!("{}k{d}:\n", " ".repeat(d)));
            }
            s
        }),
    ]
}

/// Documents from several fixtures, split and joined in new ways.
fn spliced_manifests() -> impl Strategy<Value = String> {
    let docs: Vec<String> = MANIFESTS
        .iter()
        .flat_map(|(_, b)| {
            k8s::load::split_documents(&String::from_utf8_lossy(b))
                .into_iter()
                .map(|(_, d)| d)
                .collect::<Vec<_>>()
        })
        .collect();
    let sep = select(
        &[
            "---\n",
            "--- \n",
            "---\t# c\n",
            "...\n",
            "--- {kind: Pod}\n",
            "",
        ][..],
    );
    vec((select(docs), sep), 1..6).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(d, s)| format!("{s}{d}"))
            .collect::<String>()
    })
}

fn manifest_input() -> impl Strategy<Value = (String, Vec<u8>)> {
    let named = |name: &'static str| move |s: String| (name.to_string(), s.into_bytes());
    prop_oneof![
        4 => edited_fixture(&MANIFESTS),
        4 => vec(yaml_document(), 1..4)
            .prop_map(|d| d.join("---\n"))
            .prop_map(named("generated.yaml")),
        2 => spliced_manifests().prop_map(named("spliced.yaml")),
        1 => nested_aliases().prop_map(named("aliases.yaml")),
        1 => wide_aliases().prop_map(named("wide-aliases.yaml")),
        1 => deep_yaml().prop_map(named("deep.yaml")),
        1 => vec(any::<u8>(), 0..512).prop_map(|b| ("bytes.yaml".to_string(), b)),
    ]
}

/// Values in `v`, itself included.
fn nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(nodes).sum(),
        Value::Object(o) => o.values().map(nodes).sum(),
        _ => 0,
    }
}

/// The file `name` in `dir` holding `bytes` is loaded and checked; each
/// document that cannot be read is an error naming the file, and what is
/// read is not much bigger than what was written (aliases cannot multiply
/// it). True when every document was read.
fn manifest_holds(dir: &Path, name: &str, bytes: &[u8]) -> Result<bool, TestCaseError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let loaded = k8s::load::load_paths(std::slice::from_ref(&path));
    prop_assert_eq!(loaded.files, 1);
    let read: usize = loaded.objects.iter().map(|o| nodes(&o.value)).sum();
    let allowance = k8s::guard::ALIAS_ALLOWANCE * loaded.documents;
    prop_assert!(read <= 10 * bytes.len() + allowance, "{read} values read");
    let shown = path.to_string_lossy().into_owned();
    for e in &loaded.errors {
        prop_assert!(
            e.to_string().contains(&shown) && !e.message.is_empty(),
            "{e}"
        );
    }
    let whole = loaded.errors.is_empty();
    k8s::check_objects(loaded);
    Ok(whole)
}

#[test]
fn manifests_load_and_check_or_each_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    check_parser(manifest_input(), |(name, bytes)| {
        manifest_holds(dir.path(), &name, &bytes)
    });
}

// ------------------------------------------------------------------ config file

static CONFIG_SEED: LazyLock<Vec<(String, Vec<u8>)>> =
    LazyLock::new(|| fixtures("config", &[".toml"]));

/// Every key the file's tables know, some keys they do not.
const TOML_KEYS: &[&str] = &[
    "operator",
    "environment",
    "environment_color",
    "read_only",
    "theme",
    "keymap",
    "mouse",
    "clock",
    "data_dir",
    "log_level",
    "auto_lock_minutes",
    "step_up_minutes",
    "audit",
    "sessions",
    "agent",
    "secrets",
    "tail_capacity",
    "fold_minutes",
    "channels",
    "rules",
    "name",
    "kind",
    "url",
    "to",
    "from",
    "ca_file",
    "types",
    "min_severity",
    "ascii_user_ids",
    "redis_ca_file",
    "redis_client_cert",
    "redis_client_key",
    "lease",
    "renew",
    "lease_key",
    "backend",
    "ttl",
    "vault",
    "addr",
    "mount",
    "token_file",
    "token_env",
    "token",
    "timeout_secs",
    "rotation",
    "path",
    "keys",
    "policy",
    "key_policies",
    "generator_cmd",
    "validate_cmd",
    "validate_url",
    "grace",
    "every",
    "audit.tail_capacity",
    "secrets.vault.addr",
    "\"quoted key\"",
    "thme",
    "",
];

const TOML_TABLES: &[&str] = &[
    "audit",
    "sessions",
    "agent",
    "secrets",
    "secrets.vault",
    "audit.channels",
    "audit.rules",
    "secrets.rotation",
    "theme",
    "x.y",
];

/// Values the settings read, valid and not.
const TOML_WORDS: &[&str] = &[
    "info",
    "trace",
    "bogus",
    "dark",
    "light",
    "vim",
    "arrows",
    "utc",
    "local",
    "red",
    "#ff0000",
    "#zzzzzz",
    "prod",
    "10s",
    "3s",
    "0s",
    "1h",
    "2h",
    "-5s",
    "99999999999d",
    "30d",
    "12x",
    "local",
    "vault",
    "bao",
    "https://vault.internal:8200",
    "http://127.0.0.1:1/hook",
    "smtp://u:p@h:25",
    "ftp://x",
    "40:symbols",
    "64:hex",
    "0:alnum",
    "deployments/*",
    "*",
    "a*b",
    "db_password",
    "webhook",
    "slack",
    "email",
    "critical",
    "high",
    "none",
    "ops",
    "vault-token",
    "/dev/null",
    "/",
    ".",
    "OPS_VAULT_TOKEN",
    "1BAD",
    "windflow:agent:prod",
];

fn toml_string() -> impl Strategy<Value = String> + Clone {
    let text = prop_oneof![
        4 => select(TOML_WORDS).prop_map(String::from),
        1 => select(HOSTILE).prop_map(String::from),
        1 => any::<String>(),
    ];
    (text, 0..4u8).prop_map(|(s, style)| match style {
        0 => format!("'{s}'"),
        1 => format!("\"\"\"{s}\"\"\""),
        _ => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
    })
}

fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => toml_string(),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => select(&[
            "0", "1", "5", "-1", "307445734561825861", "18446744073709551615",
            "99999999999999999999", "0x7fff_ffff", "0o777", "1_000", "+inf", "nan", "1e400",
            "3.14", "true", "false", "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27",
        ][..]).prop_map(String::from),
        1 => "[ -~]{0,8}",
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
            vec((select(TOML_KEYS), inner), 0..5).prop_map(|kv| {
                let kv: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", kv.join(", "))
            }),
        ]
    })
}

fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (select(TOML_KEYS), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => select(TOML_TABLES).prop_map(|t| format!("[{t}]")),
        2 => select(TOML_TABLES).prop_map(|t| format!("[[{t}]]")),
        1 => Just(String::new()),
        1 => "#[ -~]{0,10}",
        1 => any::<String>(),
    ]
}

/// A change to one line of a real config.
#[derive(Clone, Debug)]
enum LineEdit {
    /// Another value for the key of an assignment.
    Value(Index, String),
    /// A new line before this one.
    Insert(Index, String),
    Delete(Index),
    /// A copy of one line before another (a key in another table, twice, ...).
    Copy(Index, Index),
}

fn line_edit() -> impl Strategy<Value = LineEdit> {
    prop_oneof![
        4 => (any::<Index>(), toml_value()).prop_map(|(i, v)| LineEdit::Value(i, v)),
        2 => (any::<Index>(), toml_line()).prop_map(|(i, l)| LineEdit::Insert(i, l)),
        1 => any::<Index>().prop_map(LineEdit::Delete),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| LineEdit::Copy(a, b)),
    ]
}

fn edited_lines(src: &str, edits: &[LineEdit]) -> String {
    let mut lines: Vec<String> = src.lines().map(String::from).collect();
    for e in edits {
        let n = lines.len();
        match e {
            LineEdit::Value(i, v) => {
                let assignments: Vec<usize> = (0..n)
                    .filter(|&l| lines[l].contains(" = ") && !lines[l].starts_with('#'))
                    .collect();
                if let Some(&l) = assignments.get(i.index(assignments.len().max(1))) {
                    let key = lines[l].split(" = ").next().unwrap_or_default().to_string();
                    lines[l] = format!("{key} = {v}");
                }
            }
            LineEdit::Insert(i, line) => lines.insert(i.index(n + 1), line.clone()),
            LineEdit::Delete(i) if n > 0 => {
                lines.remove(i.index(n));
            }
            LineEdit::Copy(from, to) if n > 0 => {
                let line = lines[from.index(n)].clone();
                lines.insert(to.index(n + 1), line);
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn config_input() -> impl Strategy<Value = Vec<u8>> {
    let seed = String::from_utf8(CONFIG_SEED[0].1.clone()).expect("the seed is text");
    prop_oneof![
        2 => vec(toml_line(), 0..24).prop_map(|lines| lines.join("\n").into_bytes()),
        2 => edited_fixture(&CONFIG_SEED).prop_map(|(_, b)| b),
        4 => vec(line_edit(), 1..4).prop_map(move |e| edited_lines(&seed, &e).into_bytes()),
        1 => vec(any::<u8>(), 0..512),
    ]
}

/// Loads the file at `path` as the CLI does, the config and then every
/// domain's table; the errors.
fn config_errors(path: &Path, base: &BaseDirs) -> Vec<String> {
    use windflow::{agent, audit, secrets, sessions};
    let flags = Flags {
        config: Some(path.to_path_buf()),
        ..Flags::default()
    };
    let no_env = |_: &str| None;
    let config = match WfConfig::load(&flags, &no_env, base) {
        Ok(c) => c,
        Err(e) => return vec![e.to_string()],
    };
    let secrets_flags = secrets::settings::Flags::default();
    [
        agent::settings::AgentSettings::from_config(&config).err(),
        audit::settings::AuditSettings::from_config(&config).err(),
        sessions::settings::RedisTls::from_config(&config).err(),
        sessions::settings::ascii_user_ids(&config).err(),
        secrets::settings::SecretsSettings::from_config(&config, &secrets_flags, &no_env).err(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A config folder: `windflow.toml` (0600) beside the seed's Vault token file.
struct ConfigDir {
    dir: tempfile::TempDir,
    base: BaseDirs,
}

impl ConfigDir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let base = BaseDirs {
            config: dir.path().join("config"),
            data: dir.path().join("data"),
            state: dir.path().join("state"),
        };
        let token = dir.path().join("vault-token");
        std::fs::write(&token, "s.props-token\n").unwrap();
        let this = Self { dir, base };
        std::fs::write(this.path(), "").unwrap();
        for file in [&token, &this.path()] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        this
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("windflow.toml")
    }

    /// The config file holding `bytes` loads, or each error names it. True
    /// when it loads.
    fn holds(&self, bytes: &[u8]) -> Result<bool, TestCaseError> {
        let path = self.path();
        std::fs::write(&path, bytes).unwrap();
        let errors = config_errors(&path, &self.base);
        for e in &errors {
            prop_assert!(e.contains(&*path.to_string_lossy()), "{e}");
        }
        Ok(errors.is_empty())
    }
}

#[test]
fn config_files_load_or_the_error_names_the_file() {
    let dir = ConfigDir::new();
    std::fs::write(dir.path(), &CONFIG_SEED[0].1).unwrap();
    assert_eq!(
        config_errors(&dir.path(), &dir.base),
        Vec::<String>::new(),
        "the seed loads"
    );
    check_parser(config_input(), |bytes| dir.holds(&bytes));
}

// ------------------------------------------------------------------ display boundary

/// What must never come out raw, written independently of `display::is_unsafe`.
fn raw(c: char, one_line: bool) -> bool {
    let u = c as u32;
    (u < 0x20 && (one_line || (c != '\n' && c != '\t')))
        || (0x7f..=0x9f).contains(&u)
        || [0x061c, 0x200e, 0x200f].contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2066..=0x2069).contains(&u)
}

fn outside_text() -> impl Strategy<Value = String> {
    let special = select(
        &[
            '\x1b',
            '\x07',
            '\r',
            '\n',
            '\t',
            '\0',
            '\x7f',
            '\u{80}',
            '\u{9b}',
            '\u{9f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{200e}',
            '\u{200f}',
            '\u{61c}',
            '\\',
            'a',
            'é',
            '→',
            '\u{a0}',
            '\u{2028}',
            '\u{1f600}',
        ][..],
    );
    prop_oneof![
        vec(any::<u8>(), 0..64).prop_map(lossy),
        vec(prop_oneof![special, any::<char>()], 0..32).prop_map(|c| c.into_iter().collect()),
        any::<String>(),
        "[ -~]{0,40}",
    ]
}

#[test]
fn display_lets_no_control_or_bidi_out_and_keeps_clean_text() {
    check((outside_text(), 0..40usize), |(s, width)| {
        let lines = clean(&s);
        let line = clean_line(&s);
        prop_assert!(!lines.chars().any(|c| raw(c, false)), "{s:?} -> {lines:?}");
        prop_assert!(!line.chars().any(|c| raw(c, true)), "{s:?} -> {line:?}");
        if !s.chars().any(|c| raw(c, false)) {
            prop_assert_eq!(&lines, &s);
        }
        if !s.chars().any(|c| raw(c, true)) {
            prop_assert_eq!(&line, &s);
        }
        // Every escaped character left a visible mark: the output only grows.
        let escaped = s.chars().filter(|&c| raw(c, true)).count();
        prop_assert!(line.chars().count() >= s.chars().count() + escaped);
        prop_assert_eq!(format!("{}", Untrusted(&s)), line.as_ref());
        prop_assert_eq!(format!("{}", UntrustedLines(&s)), lines.as_ref());
        let padded = format!("{:<width$}", Untrusted(&s));
        prop_assert!(padded.starts_with(line.as_ref()) && !padded.chars().any(|c| raw(c, true)));
        Ok(())
    });
}

// ------------------------------------------------------------------ regressions

/// Found by the envelope property: an envelope that did not open said
/// "decryption failed" without naming the envelope.
#[test]
fn regression_an_envelope_that_does_not_open_names_the_envelope() {
    let kid = crypto::kid_of(&MASTER);
    let text = format!("wf1.{kid}.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA");
    arbitrary_envelope_holds(&text, "session").unwrap();
}

/// Found by the config property: `[audit]` errors named `windflow.toml`
/// whatever file was read, or no file at all.
#[test]
fn regression_audit_table_errors_name_the_config_file() {
    let dir = ConfigDir::new();
    for text in [
        "[audit]\noperator = 1\n",
        "[audit]\ntail_capacity = 0\n",
        "[[audit.channels]]\nname = \"x\"\nkind = \"webhook\"\nurl = \"ftp://h\"\n",
        "[[audit.channels]]\nname = \"x\"\nkind = \"email\"\nurl = \"smtp://h:25\"\n",
        "[[audit.rules]]\nchannels = [\"nope\"]\n",
    ] {
        assert!(!dir.holds(text.as_bytes()).unwrap(), "{text} was accepted");
        assert_eq!(config_errors(&dir.path(), &dir.base).len(), 1, "{text}");
    }
}

/// `fold_minutes` times 60 overflowed: a panic in a debug build, a wrapped
/// fold window in a release build. Now an error naming the file and key.
#[test]
fn regression_a_fold_window_too_large_is_refused() {
    let dir = ConfigDir::new();
    std::fs::write(dir.path(), "[audit]\nfold_minutes = 307445734561825861\n").unwrap();
    let errors = config_errors(&dir.path(), &dir.base);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(&*dir.path().to_string_lossy()) && errors[0].contains("fold_minutes"),
        "{errors:?}"
    );
}

/// Found by the config property: a bad `log_level` or `environment_color`
/// in the file said `(File)`, not which file.
#[test]
fn regression_bad_values_in_the_file_name_the_file() {
    let dir = ConfigDir::new();
    for text in [
        "log_level = \":nfo\"\n",
        "environment_color = \"#zzzzzz\"\n",
    ] {
        assert!(!dir.holds(text.as_bytes()).unwrap(), "{text} was accepted");
        assert_eq!(config_errors(&dir.path(), &dir.base).len(), 1, "{text}");
    }
}

/// Found by the manifest property: deeply nested flow collections took time
/// quadratic in their size in libyaml's scanner before the parser refused
/// them (100 KB of `[{a: ` took 5 s in a release build, 1 MB would take
/// minutes). Now refused once past the parser's depth limit, with the line.
#[test]
fn regression_deep_nesting_is_refused_at_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.yaml");
    let doc = format!(
        "kind: Pod\nmetadata: {{name: a}}\n---\nkind: Pod\nspec: {}x\n",
        "[{a: ".repeat(5000)
    );
    std::fs::write(&path, doc).unwrap();
    let loaded = k8s::load::load_paths(std::slice::from_ref(&path));
    assert_eq!(loaded.objects.len(), 1, "the other document is read");
    let shown = path.display();
    assert_eq!(
        loaded
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [format!(
            "{shown}: document 2 (line 5): nested deeper than 128 levels"
        )]
    );
}

/// Found by the manifest property: serde_yaml_ng limits how many aliases
/// it expands, not what they expand to, so one wide anchor repeated by
/// aliases multiplied a small file (34 KB became 10 million values, 640 MB).
/// Now refused before it is parsed.
#[test]
fn regression_aliases_cannot_multiply_a_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.yaml");
    let doc = format!(
        "kind: Pod\nmetadata: {{name: a}}\n---\nkind: Pod\nmetadata: {{name: b}}\na: &a [{}]\nb: [{}]\n",
        vec!["x"; 10_000].join(", "),
        vec!["*a"; 1_000].join(", ")
    );
    std::fs::write(&path, &doc).unwrap();
    manifest_holds(dir.path(), "wide.yaml", doc.as_bytes()).unwrap();
    let loaded = k8s::load::load_paths(std::slice::from_ref(&path));
    assert_eq!(loaded.objects.len(), 1, "the other document is read");
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    let expected = format!(
        "{}: document 2 (line 7): its aliases expand it",
        path.display()
    );
    assert!(
        errors.len() == 1 && errors[0].starts_with(&expected),
        "{errors:?}"
    );
}
