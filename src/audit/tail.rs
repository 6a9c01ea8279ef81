//! The live tail's model: a bounded ring buffer of events, the filter (severity,
//! type, user, time window, free text) and the fast path that parses, filters
//! and appends JSON lines. Pure: no IO.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

use super::{SecurityEvent, Severity};

/// Default size of the tail's ring buffer.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// A bounded buffer of the newest events; the oldest are dropped (and counted).
#[derive(Debug)]
pub struct Ring {
    events: VecDeque<SecurityEvent>,
    capacity: usize,
    dropped: u64,
    /// Events ever pushed (the index of the next one).
    pushed: u64,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            dropped: 0,
            pushed: 0,
        }
    }

    pub fn push(&mut self, ev: SecurityEvent) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(ev);
        self.pushed += 1;
    }

    /// Counts `n` events that passed through without being kept: the head
    /// of a batch longer than the ring, whose rest pushes every older event out.
    pub fn skip(&mut self, n: u64) {
        self.pushed += n;
        self.dropped += n;
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Events pushed out of the buffer so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Events ever pushed.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    pub fn get(&self, i: usize) -> Option<&SecurityEvent> {
        self.events.get(i)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &SecurityEvent> + ExactSizeIterator {
        self.events.iter()
    }
}

/// The time windows the pane cycles through.
pub const WINDOWS: [Option<Duration>; 4] = [
    None,
    Some(Duration::from_secs(5 * 60)),
    Some(Duration::from_secs(15 * 60)),
    Some(Duration::from_secs(60 * 60)),
];

/// Which events to show.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TailFilter {
    /// At least this severity.
    pub severity: Option<Severity>,
    pub event_type: Option<String>,
    pub user: Option<String>,
    /// Only events newer than now minus this.
    #[serde(skip)]
    pub window: Option<Duration>,
    /// Case-insensitive free text over type, user, ip, session and details.
    pub text: Option<String>,
    /// Only the types carrying this framework tag (`pci_dss_10.2.4`).
    pub tag: Option<String>,
    /// Only the event with this id (`audit show`).
    pub id: Option<String>,
}

impl TailFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `ev` passes; `now_ms` is the current time in Unix milliseconds.
    pub fn matches(&self, ev: &SecurityEvent, now_ms: i64) -> bool {
        if self.severity.is_some_and(|s| ev.severity < s) {
            return false;
        }
        if self
            .tag
            .as_ref()
            .is_some_and(|t| !super::event::framework_tags(&ev.event_type).contains(t))
        {
            return false;
        }
        if self
            .event_type
            .as_ref()
            .is_some_and(|t| *t != ev.event_type)
        {
            return false;
        }
        if self.id.as_ref().is_some_and(|id| *id != ev.id) {
            return false;
        }
        if self
            .user
            .as_ref()
            .is_some_and(|u| ev.user_id.as_deref() != Some(u.as_str()))
        {
            return false;
        }
        if let Some(w) = self.window {
            let cutoff = now_ms - w.as_millis() as i64;
            if timestamp_ms(&ev.timestamp).is_none_or(|t| t < cutoff) {
                return false;
            }
        }
        if let Some(text) = &self.text {
            return text_matches(ev, text);
        }
        true
    }

    /// A cheap test on the raw JSON line: false only when the line cannot match.
    pub fn may_match_raw(&self, line: &[u8]) -> bool {
        self.prefilter().may_match(line)
    }

    /// The raw-line needles of this filter, built once per batch.
    pub fn prefilter(&self) -> Prefilter {
        let field = |name: &str, value: &str| {
            let v = serde_json::to_string(value).unwrap_or_default();
            memchr::memmem::Finder::new(format!("\"{name}\":{v}").as_bytes()).into_owned()
        };
        Prefilter {
            severities: self.severity.map(|sev| {
                [
                    Severity::Low,
                    Severity::Medium,
                    Severity::High,
                    Severity::Critical,
                ]
                .into_iter()
                .filter(|s| *s >= sev)
                .map(|s| memchr::memmem::Finder::new(severity_needle(s)).into_owned())
                .collect()
            }),
            event_type: self.event_type.as_deref().map(|t| field("event_type", t)),
            user: self.user.as_deref().map(|u| field("user_id", u)),
            id: self.id.as_deref().map(|id| field("id", id)),
        }
    }

    /// A one-line description (`severity≥high type=x user=y 15m "text"`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = self.severity {
            parts.push(format!("sev≥{s}"));
        }
        if let Some(t) = &self.event_type {
            parts.push(format!("type={t}"));
        }
        if let Some(u) = &self.user {
            parts.push(format!("user={u}"));
        }
        if let Some(w) = self.window {
            parts.push(format!("last {}m", w.as_secs() / 60));
        }
        if let Some(t) = &self.text {
            parts.push(format!("\"{t}\""));
        }
        parts.join(" ")
    }
}

fn severity_needle(s: Severity) -> &'static [u8] {
    match s {
        Severity::Low => b"\"severity\":\"low\"",
        Severity::Medium => b"\"severity\":\"medium\"",
        Severity::High => b"\"severity\":\"high\"",
        Severity::Critical => b"\"severity\":\"critical\"",
    }
}

/// Substring tests on raw JSON lines: a line without the needles cannot
/// match, so it is skipped without being parsed. (serde_json writes
/// `"key":value` with no spaces, which is what every sink writes.)
pub struct Prefilter {
    severities: Option<Vec<memchr::memmem::Finder<'static>>>,
    event_type: Option<memchr::memmem::Finder<'static>>,
    user: Option<memchr::memmem::Finder<'static>>,
    id: Option<memchr::memmem::Finder<'static>>,
}

impl Prefilter {
    pub fn may_match(&self, line: &[u8]) -> bool {
        if let Some(sev) = &self.severities
            && !sev.iter().any(|f| f.find(line).is_some())
        {
            return false;
        }
        [&self.event_type, &self.user, &self.id]
            .into_iter()
            .flatten()
            .all(|f| f.find(line).is_some())
    }
}

/// The text the free-text filter searches and the tail line shows.
pub fn haystack(ev: &SecurityEvent) -> String {
    let mut s = String::with_capacity(128);
    s.push_str(&ev.event_type);
    for v in [&ev.user_id, &ev.ip_address, &ev.session_id]
        .into_iter()
        .flatten()
    {
        s.push(' ');
        s.push_str(v);
    }
    s.push(' ');
    s.push_str(&ev.details.to_string());
    s
}

fn text_matches(ev: &SecurityEvent, text: &str) -> bool {
    let needle = text.to_lowercase();
    haystack(ev).to_lowercase().contains(&needle)
}

/// Byte ranges of case-insensitive (ASCII) matches of `needle` in `hay`.
pub fn highlights(hay: &str, needle: &str) -> Vec<std::ops::Range<usize>> {
    if needle.is_empty() {
        return Vec::new();
    }
    let h = hay.to_ascii_lowercase();
    let n = needle.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = h[from..].find(&n) {
        out.push(from + p..from + p + n.len());
        from += p + n.len();
    }
    out
}

/// Unix milliseconds of an RFC 3339 timestamp.
pub fn timestamp_ms(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `15m`, `2h`, `30s`, `1d` as a duration.
pub fn parse_since(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("--since {text:?}: expected a number and a unit, like 15m"))?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        other => {
            return Err(format!(
                "--since {text:?}: unknown unit {other:?} (use s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

/// Parses JSON lines, keeps those `filter` passes and appends them to `ring`;
/// returns how many were appended. Lines that are not events are counted in
/// the second figure and skipped.
pub fn ingest_lines(
    data: &[u8],
    filter: &TailFilter,
    now_ms: i64,
    ring: &mut Ring,
) -> (usize, usize) {
    let mut kept = 0;
    let bad = each_event(data, filter, now_ms, |ev| {
        ring.push(ev);
        kept += 1;
    });
    (kept, bad)
}

/// Parses JSON lines and hands each event `filter` passes to `keep`, in
/// order; returns how many lines were not events (skipped).
pub fn each_event(
    data: &[u8],
    filter: &TailFilter,
    now_ms: i64,
    mut keep: impl FnMut(SecurityEvent),
) -> usize {
    let mut bad = 0;
    let pre = filter.prefilter();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len())) {
        let line = &data[start..end];
        start = end + 1;
        if line.is_empty() || !pre.may_match(line) {
            continue;
        }
        match serde_json::from_slice::<SecurityEvent>(line) {
            Ok(ev) if filter.matches(&ev, now_ms) => keep(ev),
            Ok(_) => {}
            Err(_) => bad += 1,
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: &str, user: &str) -> SecurityEvent {
        SecurityEvent::new(t, Some(user), serde_json::json!({"path": "db/prod"}))
    }

    #[test]
    fn ring_drops_the_oldest_and_counts_them() {
        let mut r = Ring::new(3);
        for i in 0..5 {
            r.push(ev(&format!("t{i}"), "a"));
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.dropped(), 2);
        assert_eq!(r.get(0).unwrap().event_type, "t2");
    }

    #[test]
    fn skipped_events_count_as_pushed_and_dropped() {
        let mut r = Ring::new(2);
        r.push(ev("old", "a"));
        r.skip(3);
        r.push(ev("t3", "a"));
        r.push(ev("t4", "a"));
        assert_eq!((r.pushed(), r.dropped(), r.len()), (6, 4, 2));
        assert_eq!(r.get(0).unwrap().event_type, "t3");
    }

    #[test]
    fn filter_by_each_field() {
        let now = chrono::Utc::now().timestamp_millis();
        let e = ev("mfa_lockout", "alice");
        let f = |f: TailFilter| f.matches(&e, now);
        assert!(f(TailFilter::default()));
        assert!(f(TailFilter {
            severity: Some(Severity::High),
            ..Default::default()
        }));
        assert!(!f(TailFilter {
            severity: Some(Severity::Critical),
            ..Default::default()
        }));
        assert!(!f(TailFilter {
            user: Some("bob".into()),
            ..Default::default()
        }));
        assert!(f(TailFilter {
            text: Some("DB/PROD".into()),
            ..Default::default()
        }));
        let mut old = e.clone();
        old.timestamp = "2020-01-01T00:00:00.000Z".into();
        assert!(
            !TailFilter {
                window: Some(Duration::from_secs(300)),
                ..Default::default()
            }
            .matches(&old, now)
        );
    }

    #[test]
    fn raw_prefilter_agrees_with_the_parsed_filter() {
        let filter = TailFilter {
            severity: Some(Severity::High),
            ..Default::default()
        };
        let lines: Vec<String> = ["mfa_success", "mfa_lockout", "operator_removed", "x"]
            .iter()
            .map(|t| serde_json::to_string(&ev(t, "a")).unwrap())
            .collect();
        let mut ring = Ring::new(10);
        let (kept, bad) =
            ingest_lines(lines.join("\nnot json\n").as_bytes(), &filter, 0, &mut ring);
        assert_eq!((kept, bad), (2, 0));
        let types: Vec<_> = ring.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["mfa_lockout", "operator_removed"]);
    }

    #[test]
    fn highlights_and_since() {
        assert_eq!(highlights("Vault vault", "vault"), [0..5, 6..11]);
        assert_eq!(parse_since("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_since("abc").unwrap_err().contains("--since"));
        assert!(parse_since("3w").unwrap_err().contains("unknown unit"));
    }
}
