//! Secret paths, values, versions and metadata; expiry, diffs, generation
//! policies and the fuzzy index. Pure: no IO, no async, no terminal.

use std::collections::BTreeMap;
use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// How many versions each secret keeps (older ones are removed on write).
pub const MAX_VERSIONS: u64 = 10;
/// Default lifetime of a written value (the `expires_at` metadata).
pub const DEFAULT_TTL_SECS: i64 = 30 * 24 * 3600;
/// Expiry closer than this is shown as a warning.
pub const WARN_SECS: i64 = 7 * 24 * 3600;
/// Custom metadata every write sets.
pub const META_CREATED_BY: &str = "created_by";
/// The operator whose action wrote the current version.
pub const META_UPDATED_BY: &str = "updated_by";
pub const META_DEPLOYMENT: &str = "deployment_id";
pub const META_EXPIRES: &str = "expires_at";
pub const CREATED_BY: &str = "windflow";

/// A secret value: zeroed on drop, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// A short fingerprint (8 hex of HMAC-SHA256) to compare values without
    /// showing them: the same value has the same fingerprint in every
    /// command, call and the console, because the key is derived from the
    /// master key ([`use_fingerprint_key`]); without that key a weak value
    /// cannot be guessed by hashing candidates.
    pub fn short_hash(&self) -> String {
        use hmac::{KeyInit, Mac};
        // Set when secrets are opened; a process that never opened them
        // (a unit test) fingerprints with a key of its own.
        let key = FINGERPRINT_KEY.get_or_init(|| Zeroizing::new(rand::rng().random()));
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(&key[..]).expect("HMAC takes any key length");
        mac.update(self.0.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..4])
    }
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

static FINGERPRINT_KEY: std::sync::OnceLock<Zeroizing<[u8; 32]>> = std::sync::OnceLock::new();

/// Keys [`SecretValue::short_hash`] with the key derived from `keyring`'s
/// primary master key (`fingerprint:secrets`). The first call of a process
/// wins; opening secrets calls it.
pub fn use_fingerprint_key(keyring: &crate::crypto::Keyring) {
    let _ = FINGERPRINT_KEY.set(keyring.derive(&crate::crypto::contexts::fingerprint_secrets()));
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for SecretValue {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// The key/values of one version of a secret, in plaintext.
pub type Values = BTreeMap<String, SecretValue>;

/// The key/values as a backend stores them (envelopes).
pub type Sealed = BTreeMap<String, String>;

/// One version's metadata (KV v2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub version: u64,
    /// Unix seconds.
    pub created_time: i64,
    /// The nanoseconds within `created_time`'s second: with it, the creation
    /// time tells one version 1 from the next after a secret is re-created.
    #[serde(default)]
    pub created_nanos: u32,
    /// Soft-deleted at (unix seconds); `None` when live.
    pub deletion_time: Option<i64>,
    pub destroyed: bool,
}

impl VersionMeta {
    pub fn state(&self) -> &'static str {
        if self.destroyed {
            "destroyed"
        } else if self.deletion_time.is_some() {
            "deleted"
        } else {
            "live"
        }
    }
    pub fn is_live(&self) -> bool {
        !self.destroyed && self.deletion_time.is_none()
    }
    /// When this version was written, to the nanosecond (as far as the
    /// backend tells): with the number, what names one version for good.
    pub fn created(&self) -> Created {
        Created {
            secs: self.created_time,
            nanos: self.created_nanos,
        }
    }
}

/// A version's creation time: unix seconds and the nanoseconds within.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Created {
    pub secs: i64,
    pub nanos: u32,
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match chrono::DateTime::from_timestamp(self.secs, self.nanos) {
            Some(t) => f.write_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            None => write!(f, "{}.{:09}", self.secs, self.nanos),
        }
    }
}

/// A secret's metadata (KV v2), versions oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    pub path: String,
    pub current_version: u64,
    pub oldest_version: u64,
    pub max_versions: u64,
    pub created_time: i64,
    pub updated_time: i64,
    pub custom: BTreeMap<String, String>,
    pub versions: Vec<VersionMeta>,
}

impl SecretMeta {
    /// `expires_at` of the custom metadata, as unix seconds.
    pub fn expires_at(&self) -> Option<i64> {
        self.custom.get(META_EXPIRES).and_then(|s| parse_time(s))
    }
    pub fn version(&self, v: u64) -> Option<&VersionMeta> {
        self.versions.iter().find(|m| m.version == v)
    }
    pub fn current(&self) -> Option<&VersionMeta> {
        self.version(self.current_version)
    }
}

/// RFC 3339 (as Vault writes it) or unix seconds to unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp())
}

/// RFC 3339 (as Vault writes it, with nanoseconds) or unix seconds to
/// unix seconds and the nanoseconds within.
pub fn parse_time_precise(s: &str) -> Option<(i64, u32)> {
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some((n, 0));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| (t.timestamp(), t.timestamp_subsec_nanos()))
}

/// Unix seconds to RFC 3339 UTC.
pub fn format_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}

/// How close a secret is to its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    None,
    Ok(i64),
    /// Less than [`WARN_SECS`] left.
    Soon(i64),
    /// Expired this many seconds ago.
    Expired(i64),
}

impl Expiry {
    pub fn of(expires_at: Option<i64>, now: i64) -> Self {
        match expires_at {
            None => Expiry::None,
            Some(at) if at <= now => Expiry::Expired(now - at),
            Some(at) if at - now < WARN_SECS => Expiry::Soon(at - now),
            Some(at) => Expiry::Ok(at - now),
        }
    }

    /// `12d 3h left`, `5h left`, `expired 2d ago`, `no expiry`.
    pub fn label(self) -> String {
        match self {
            Expiry::None => "no expiry".into(),
            Expiry::Ok(s) | Expiry::Soon(s) => format!("{} left", span(s)),
            Expiry::Expired(s) => format!("expired {} ago", span(s)),
        }
    }
}

/// A duration as its two largest units: `3d 4h`, `5h 2m`, `40s`.
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// `7d`, `12h`, `30m`, `45s`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("duration {s:?}: use a number with d, h, m or s (e.g. 7d)"))?;
    let mul = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "duration {s:?}: unknown unit {unit:?} (use d, h, m or s)"
            ));
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

/// Seconds as [`parse_duration`] reads them, in the largest whole unit: `30d`, `12h`, `90s`.
pub fn format_duration(secs: i64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

// ------------------------------------------------------------------ paths

/// Checks a secret path: segments of letters, digits, `.`, `_`, `-`, joined by `/`.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty secret path".into());
    }
    if path.len() > 512 {
        return Err(format!("secret path {path:?} is longer than 512 bytes"));
    }
    for seg in path.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!(
                "secret path {path:?}: empty, `.` or `..` segment (use e.g. deployments/api-7)"
            ));
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "secret path {path:?}: character {c:?} not allowed (letters, digits, . _ - and /)"
            ));
        }
    }
    Ok(())
}

/// Checks a key name of a secret's key/values.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty()
        || key.len() > 128
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "key {key:?}: 1 to 128 letters, digits, `.`, `_` or `-`"
        ));
    }
    Ok(())
}

/// The deployment a path belongs to: `deployments/<id>[/...]`.
pub fn deployment_id(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("deployments/")?;
    rest.split('/').next().filter(|s| !s.is_empty())
}

/// The envelope context of a path's values: `deployment:<id>` for
/// deployment secrets, `secret:<path>` for any other path.
pub fn context(path: &str) -> String {
    match deployment_id(path) {
        Some(id) => crate::crypto::contexts::deployment(id),
        None => crate::crypto::contexts::secret(path),
    }
}

/// `KEY=VALUE` to a key and a value.
pub fn parse_assignment(arg: &str) -> Result<(String, SecretValue), String> {
    let (k, v) = arg.split_once('=').ok_or_else(|| {
        format!(
            "{:?}: expected KEY=VALUE",
            arg.split('=').next().unwrap_or("")
        )
    })?;
    check_key(k)?;
    Ok((k.to_owned(), SecretValue::new(v)))
}

// ------------------------------------------------------------------ diff

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Changed,
    Same,
}

/// One key of a diff: hashes, and the values when revealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiffLine {
    pub key: String,
    pub change: Change,
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
}

/// Keys added, removed, changed and unchanged from `old` to `new`, by key.
pub fn diff(old: &Values, new: &Values) -> Vec<DiffLine> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let (o, n) = (old.get(k), new.get(k));
            let change = match (o, n) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(a), Some(b)) if a == b => Change::Same,
                _ => Change::Changed,
            };
            DiffLine {
                key: k.clone(),
                change,
                old_hash: o.map(SecretValue::short_hash),
                new_hash: n.map(SecretValue::short_hash),
            }
        })
        .collect()
}

/// Whether a value looks like JSON (an object or array) and so must parse as JSON.
pub fn looks_like_json(value: &str) -> bool {
    let t = value.trim_start();
    t.starts_with('{') || t.starts_with('[')
}

/// Parses the editor's text: `KEY=VALUE` lines; a value may continue on the
/// following lines that start with a space or a tab (multi-line values).
/// Values that look like JSON must be valid JSON. Errors name the line.
pub fn parse_editor(text: &str) -> Result<Values, String> {
    let mut out: Values = BTreeMap::new();
    let mut current: Option<(String, String, usize)> = None;
    let finish = |cur: Option<(String, String, usize)>, out: &mut Values| -> Result<(), String> {
        if let Some((k, v, line)) = cur {
            if looks_like_json(&v)
                && let Err(e) = serde_json::from_str::<serde_json::Value>(&v)
            {
                return Err(format!(
                    "line {line}: the value of {k} is not valid JSON: {e}"
                ));
            }
            if out.insert(k.clone(), SecretValue::new(v)).is_some() {
                return Err(format!("line {line}: key {k} appears twice"));
            }
        }
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.starts_with(' ') || line.starts_with('\t') {
            match &mut current {
                Some((_, v, _)) => {
                    v.push('\n');
                    v.push_str(&line[1..]);
                }
                None => {
                    return Err(format!(
                        "line {n}: continuation line without a KEY=VALUE above"
                    ));
                }
            }
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        finish(current.take(), &mut out)?;
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {n}: expected KEY=VALUE"))?;
        check_key(k.trim()).map_err(|e| format!("line {n}: {e}"))?;
        current = Some((k.trim().to_owned(), v.to_owned(), n));
    }
    finish(current, &mut out)?;
    if out.is_empty() {
        return Err("no KEY=VALUE line: a secret needs at least one key".into());
    }
    Ok(out)
}

/// The editor's text for `values` (the inverse of [`parse_editor`]).
pub fn editor_text(values: &Values) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::new());
    for (k, v) in values {
        let mut lines = v.expose().split('\n');
        s.push_str(k);
        s.push('=');
        s.push_str(lines.next().unwrap_or(""));
        s.push('\n');
        for l in lines {
            s.push(' ');
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

// ------------------------------------------------------------------ generation

/// The characters a generated value is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    Alnum,
    /// Letters, digits and `-_.~!@#%^*+=`.
    Symbols,
    Hex,
    Digits,
}

impl Alphabet {
    pub fn chars(self) -> &'static [u8] {
        match self {
            Alphabet::Alnum => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            Alphabet::Symbols => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!@#%^*+="
            }
            Alphabet::Hex => b"0123456789abcdef",
            Alphabet::Digits => b"0123456789",
        }
    }
}

impl std::str::FromStr for Alphabet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "alnum" => Ok(Alphabet::Alnum),
            "symbols" => Ok(Alphabet::Symbols),
            "hex" => Ok(Alphabet::Hex),
            "digits" => Ok(Alphabet::Digits),
            _ => Err(format!("alphabet {s:?}: use alnum, symbols, hex or digits")),
        }
    }
}

/// How a key's new value is generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub length: usize,
    pub alphabet: Alphabet,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            length: 32,
            alphabet: Alphabet::Alnum,
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;
    /// `LEN` or `LEN:ALPHABET`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (len, alpha) = s.split_once(':').unwrap_or((s, "alnum"));
        let length: usize = len
            .parse()
            .ok()
            .filter(|n| (8..=4096).contains(n))
            .ok_or_else(|| format!("policy {s:?}: length must be 8 to 4096"))?;
        Ok(Self {
            length,
            alphabet: alpha.parse()?,
        })
    }
}

impl Policy {
    /// A fresh random value (OS randomness, uniform over the alphabet).
    pub fn generate(&self) -> SecretValue {
        let chars = self.alphabet.chars();
        let mut rng = rand::rng();
        let mut s = Zeroizing::new(String::with_capacity(self.length));
        for _ in 0..self.length {
            s.push(chars[rng.random_range(0..chars.len())] as char);
        }
        SecretValue(s)
    }
}

// ------------------------------------------------------------------ search

/// Fuzzy subsequence score of `query` in `text` (case-insensitive); higher is
/// better; `None` when `query` is not a subsequence. Consecutive matches and
/// matches after `/`, `-`, `_` score more.
pub fn fuzzy_score(query: &str, text: &str) -> Option<i32> {
    if query.is_empty() {
        return Some(0);
    }
    let t = text.as_bytes();
    let mut score = 0i32;
    let mut ti = 0usize;
    let mut prev: Option<usize> = None;
    for qc in query.bytes() {
        let qc = qc.to_ascii_lowercase();
        let found = t[ti..].iter().position(|c| c.to_ascii_lowercase() == qc)?;
        let at = ti + found;
        score += 1;
        if prev.is_some_and(|p| p + 1 == at) {
            score += 5;
        }
        if at == 0 || matches!(t[at - 1], b'/' | b'-' | b'_' | b'.') {
            score += 3;
        }
        score -= (found as i32).min(10) / 2;
        prev = Some(at);
        ti = at + 1;
    }
    Some(score * 4 - (text.len() as i32) / 8)
}

/// Every path of a mount, searchable as you type.
#[derive(Clone, Debug, Default)]
pub struct PathIndex {
    paths: Vec<String>,
}

impl PathIndex {
    pub fn new(mut paths: Vec<String>) -> Self {
        paths.sort();
        paths.dedup();
        Self { paths }
    }
    pub fn len(&self) -> usize {
        self.paths.len()
    }
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
    pub fn paths(&self) -> &[String] {
        &self.paths
    }
    /// Indices of matching paths, best first (path order for an empty query).
    pub fn search(&self, query: &str) -> Vec<usize> {
        if query.trim().is_empty() {
            return (0..self.paths.len()).collect();
        }
        let q: String = query.split_whitespace().collect();
        let mut hits: Vec<(i32, usize)> = self
            .paths
            .iter()
            .enumerate()
            .filter_map(|(i, p)| fuzzy_score(&q, p).map(|s| (s, i)))
            .collect();
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.into_iter().map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(kv: &[(&str, &str)]) -> Values {
        kv.iter()
            .map(|(k, v)| (k.to_string(), SecretValue::from(*v)))
            .collect()
    }

    #[test]
    fn paths_keys_and_contexts() {
        assert!(check_path("deployments/api-7").is_ok());
        assert!(check_path("a//b").is_err());
        assert!(check_path("../x").unwrap_err().contains(".."));
        assert!(check_path("a b").unwrap_err().contains("' '"));
        assert_eq!(context("deployments/api-7"), "deployment:api-7");
        assert_eq!(context("deployments/api-7/db"), "deployment:api-7");
        assert_eq!(context("infra/ci"), "secret:infra/ci");
        assert_eq!(deployment_id("deployments/"), None);
        assert!(
            parse_assignment("noequals")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        let (k, v) = parse_assignment("A=b=c").unwrap();
        assert_eq!((k.as_str(), v.expose()), ("A", "b=c"));
    }

    #[test]
    fn expiry_and_durations() {
        assert_eq!(Expiry::of(None, 0), Expiry::None);
        assert_eq!(Expiry::of(Some(100), 200), Expiry::Expired(100));
        assert!(matches!(
            Expiry::of(Some(200 + 3600), 200),
            Expiry::Soon(3600)
        ));
        assert!(matches!(
            Expiry::of(Some(200 + WARN_SECS), 200),
            Expiry::Ok(_)
        ));
        assert_eq!(Expiry::Soon(3 * 86_400 + 7200).label(), "3d 2h left");
        assert_eq!(Expiry::Expired(90).label(), "expired 1m ago");
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("90"), Ok(90));
        assert!(parse_duration("7y").unwrap_err().contains("unit"));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(format_time(1_767_225_600), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn fingerprints_are_keyed_so_values_cannot_be_guessed_from_them() {
        use sha2::Digest;
        let (a, b) = (SecretValue::new("hunter2"), SecretValue::new("hunter3"));
        assert_eq!(a.short_hash(), SecretValue::new("hunter2").short_hash());
        assert_ne!(a.short_hash(), b.short_hash());
        assert_eq!(a.short_hash().len(), 8);
        let unkeyed = hex::encode(&Sha256::digest(b"hunter2")[..4]);
        assert_ne!(
            a.short_hash(),
            unkeyed,
            "a plain SHA-256 prefix would leak weak values"
        );
    }

    #[test]
    fn diff_by_key_with_hashes() {
        let d = diff(
            &vals(&[("a", "1"), ("b", "2"), ("c", "3")]),
            &vals(&[("a", "1"), ("b", "x"), ("d", "4")]),
        );
        let kinds: Vec<_> = d.iter().map(|l| (l.key.as_str(), l.change)).collect();
        assert_eq!(
            kinds,
            [
                ("a", Change::Same),
                ("b", Change::Changed),
                ("c", Change::Removed),
                ("d", Change::Added)
            ]
        );
        assert_eq!(d[1].old_hash.as_deref().map(str::len), Some(8));
        assert_ne!(d[1].old_hash, d[1].new_hash);
        assert_eq!(d[2].new_hash, None);
    }

    #[test]
    fn editor_round_trip_and_json_check() {
        let v = vals(&[("cert", "line1\nline2"), ("cfg", "{\"a\": 1}"), ("pw", "x")]);
        let text = editor_text(&v);
        assert_eq!(parse_editor(&text).unwrap(), v);
        let err = parse_editor("pw=1\ncfg={\"a\": }\n").unwrap_err();
        assert!(
            err.starts_with("line 2: the value of cfg is not valid JSON"),
            "{err}"
        );
        assert!(parse_editor("pw=1\npw=2").unwrap_err().contains("twice"));
        assert!(parse_editor("bad key=1").unwrap_err().starts_with("line 1"));
        assert!(parse_editor("\n").unwrap_err().contains("at least one key"));
    }

    #[test]
    fn generation_follows_the_policy() {
        let p: Policy = "40:hex".parse().unwrap();
        let a = p.generate();
        assert_eq!(a.len(), 40);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, p.generate());
        assert!("4".parse::<Policy>().is_err());
        assert!("16:emoji".parse::<Policy>().is_err());
        assert_eq!(format!("{a:?}"), "<redacted>");
    }

    #[test]
    fn fuzzy_search_ranks_tight_matches_first() {
        let idx = PathIndex::new(vec![
            "deployments/api-7".into(),
            "deployments/payments-db".into(),
            "infra/ci/token".into(),
        ]);
        let hits: Vec<_> = idx
            .search("pay")
            .into_iter()
            .map(|i| &idx.paths()[i])
            .collect();
        assert_eq!(hits[0], "deployments/payments-db");
        assert_eq!(idx.search("citok").len(), 1);
        assert!(idx.search("zzz").is_empty());
        assert_eq!(idx.search("").len(), 3);
    }
}
