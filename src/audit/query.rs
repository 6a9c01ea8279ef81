//! Reading security events by one rule, for `audit tail`, `audit search`
//! and the Audit pane alike:
//!
//! - without Elasticsearch, the local log answers;
//! - with it, its results merged with the events of this data dir it has not
//!   indexed yet (those in the spool), deduplicated by id;
//! - when it does not answer, the local log (which holds every event this
//!   data dir recorded) answers, and the answer's [`Source`] says so and why.
//!
//! [`Follow`] applies the same rule to what comes next.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::SecurityEvent;
use super::elastic::{EsClient, EsError, backoff};
use super::source::LocalFollower;
use super::spool::Spool;
use super::tail::{Ring, TailFilter, each_event, timestamp_ms};

/// Where an answer came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// No Elasticsearch is configured: the local log.
    Local,
    /// Elasticsearch, with this data dir's events it has not indexed yet.
    Elasticsearch,
    /// Elasticsearch did not answer; the local log did.
    Fallback {
        /// What went wrong, in a few words (`unreachable: Connection refused
        /// (os error 111)`).
        cause: String,
        /// The whole error.
        error: String,
    },
}

impl Source {
    fn fallback(e: &EsError) -> Self {
        Source::Fallback {
            cause: e.short(),
            error: e.to_string(),
        }
    }

    /// `local log`, `elasticsearch` or `local log (elasticsearch unreachable: …)`.
    pub fn label(&self) -> String {
        match self {
            Source::Local => "local log".into(),
            Source::Elasticsearch => "elasticsearch".into(),
            Source::Fallback { cause, .. } => format!("local log (elasticsearch {cause})"),
        }
    }

    /// The one line that tells a reader the answer is the local log's only.
    pub fn notice(&self) -> Option<String> {
        match self {
            Source::Fallback { error, .. } => Some(format!(
                "{error}; these are the local log's events only (what this data dir recorded)"
            )),
            _ => None,
        }
    }
}

/// Events, oldest first, and where they came from.
#[derive(Debug)]
pub struct Answer {
    pub events: Vec<SecurityEvent>,
    pub source: Source,
    /// Elasticsearch's sort key of its newest event (to follow on from).
    pub cursor: Option<Value>,
    /// How many events Elasticsearch held just before it answered (a
    /// follower notices when it holds fewer).
    pub indexed: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cannot read the audit log in {path}: {source}")]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the Elasticsearch spool: {0}")]
    Spool(#[from] super::AuditError),
}

/// Most hits asked of Elasticsearch at once.
const ES_PAGE: usize = 1000;
/// The most `latest` may ask for (Elasticsearch's default result window).
const ES_WINDOW: usize = 10_000;
/// Most bytes of the local log read at once.
const LOCAL_STEP: u64 = 8 << 20;
/// How long a following poll waits for Elasticsearch (local events wait on it).
const ES_WAIT: Duration = Duration::from_secs(3);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Reads the events of one data dir, and of Elasticsearch when configured.
#[derive(Clone, Debug)]
pub struct Reader {
    es: Option<EsClient>,
    /// `<data_dir>/audit`.
    dir: PathBuf,
}

impl Reader {
    pub fn new(data_dir: &Path, es: Option<EsClient>) -> Self {
        Self {
            es,
            dir: data_dir.join("audit"),
        }
    }

    pub fn es(&self) -> Option<&EsClient> {
        self.es.as_ref()
    }

    /// The folder of the local log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest `keep` events passing `filter`, oldest first, by the rule
    /// of this module.
    pub async fn read(&self, filter: &TailFilter, keep: usize) -> Result<Answer, QueryError> {
        let mut answer = self.read_remote(filter, keep).await?;
        if answer.source != Source::Elasticsearch {
            answer.events = self.local(filter, keep)?;
        }
        Ok(answer)
    }

    /// Like [`Reader::read`], but when the local log is to answer (no
    /// Elasticsearch, or it did not answer) the events are left for the
    /// caller to read its own way: only the source is said.
    pub async fn read_remote(
        &self,
        filter: &TailFilter,
        keep: usize,
    ) -> Result<Answer, QueryError> {
        let Some(client) = &self.es else {
            return Ok(Answer {
                events: Vec::new(),
                source: Source::Local,
                cursor: None,
                indexed: None,
            });
        };
        let now = now_ms();
        // The spool before Elasticsearch: an event shipped in between is in
        // one or the other (or both: deduplicated), never in neither.
        let unindexed = self.unindexed(filter, now)?;
        let read = async {
            let indexed = client.count().await?;
            let (events, cursor) = es_latest(client, filter, keep, now).await?;
            Ok::<_, EsError>((indexed, events, cursor))
        };
        match read.await {
            Ok((indexed, events, cursor)) => Ok(Answer {
                events: merge(events, unindexed, keep),
                source: Source::Elasticsearch,
                cursor,
                indexed: Some(indexed),
            }),
            Err(e) => Ok(Answer {
                events: Vec::new(),
                source: Source::fallback(&e),
                cursor: None,
                indexed: None,
            }),
        }
    }

    /// The newest `keep` events of the local log passing `filter`, read in
    /// steps (memory: one step and `keep` events).
    pub fn local(
        &self,
        filter: &TailFilter,
        keep: usize,
    ) -> Result<Vec<SecurityEvent>, QueryError> {
        Ok(self.local_read(filter, keep)?.0)
    }

    /// [`Reader::local`], and the follower that read it, placed where the
    /// read stopped (to follow on with nothing missed or repeated).
    fn local_read(
        &self,
        filter: &TailFilter,
        keep: usize,
    ) -> Result<(Vec<SecurityEvent>, LocalFollower), QueryError> {
        if keep == 0 {
            return Ok((Vec::new(), LocalFollower::at_end(&self.dir)));
        }
        let now = now_ms();
        let mut ring = Ring::new(keep);
        let mut follower = LocalFollower::from_start(&self.dir);
        loop {
            let (chunks, more) = follower
                .poll_step(LOCAL_STEP)
                .map_err(|e| self.local_error(e))?;
            for c in &chunks {
                each_event(c, filter, now, |ev| ring.push(ev));
            }
            if !more {
                return Ok((ring.iter().cloned().collect(), follower));
            }
        }
    }

    fn local_error(&self, source: std::io::Error) -> QueryError {
        QueryError::Local {
            path: self.dir.clone(),
            source,
        }
    }

    /// This data dir's events passing `filter` that wait in the spool for
    /// Elasticsearch (not indexed yet).
    pub fn unindexed(
        &self,
        filter: &TailFilter,
        now: i64,
    ) -> Result<Vec<SecurityEvent>, QueryError> {
        let dir = self.dir.join("spool");
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let mut events = Spool::open(&dir)?.peek(usize::MAX)?.events;
        events.retain(|e| filter.matches(e, now));
        Ok(events)
    }
}

/// Elasticsearch's newest `keep` events passing `filter`, oldest first, and
/// the sort key of the newest hit.
async fn es_latest(
    client: &EsClient,
    filter: &TailFilter,
    keep: usize,
    now: i64,
) -> Result<(Vec<SecurityEvent>, Option<Value>), EsError> {
    // Free text is matched here, not by Elasticsearch: all pages then.
    if filter.text.is_none() && keep <= ES_WINDOW {
        let page = client.latest(filter, now, keep.max(1)).await?;
        let events = if keep == 0 { Vec::new() } else { page.events };
        return Ok((events, page.last_sort));
    }
    let mut ring = Ring::new(keep.max(1));
    let mut after = None;
    loop {
        let page = client.search(filter, now, after.as_ref(), ES_PAGE).await?;
        if page.last_sort.is_some() {
            after = page.last_sort;
        }
        page.events.into_iter().for_each(|e| ring.push(e));
        if page.hits < ES_PAGE {
            let events = if keep == 0 {
                Vec::new()
            } else {
                ring.iter().cloned().collect()
            };
            return Ok((events, after));
        }
    }
}

/// Elasticsearch's events and the unindexed ones, each id once, in time
/// order, the newest `keep`.
fn merge(
    mut es: Vec<SecurityEvent>,
    unindexed: Vec<SecurityEvent>,
    keep: usize,
) -> Vec<SecurityEvent> {
    let mut ids: HashSet<String> = es.iter().map(|e| e.id.clone()).collect();
    let before = es.len();
    es.extend(unindexed.into_iter().filter(|e| ids.insert(e.id.clone())));
    if es.len() > before {
        sort(&mut es);
    }
    let cut = es.len().saturating_sub(keep);
    es.drain(..cut);
    es
}

/// In time order (then by id, as Elasticsearch sorts).
fn sort(events: &mut [SecurityEvent]) {
    events.sort_by_cached_key(|e| (timestamp_ms(&e.timestamp).unwrap_or(0), e.id.clone()));
}

/// The ids of the newest events already shown (at most `cap`), so that each
/// is shown once.
#[derive(Debug)]
pub struct Seen {
    ids: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
    cap: usize,
}

impl Seen {
    pub fn new(cap: usize) -> Self {
        Self {
            ids: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Notes `id`; false when it was seen already.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        let id: Arc<str> = id.into();
        self.ids.insert(id.clone());
        self.order.push_back(id);
        true
    }
}

/// What one [`Follow::poll`] found.
#[derive(Debug, Default)]
pub struct Poll {
    /// New events, each once, in time order when Elasticsearch is followed.
    pub events: Vec<SecurityEvent>,
    /// More is waiting to be read.
    pub more: bool,
    /// The source changed (Elasticsearch stopped or started answering).
    pub switched: bool,
    /// Elasticsearch holds fewer events than it did (restarted empty,
    /// indices deleted): what was read from it before may be gone.
    pub lost: bool,
}

/// Where following Elasticsearch stands.
#[derive(Debug)]
struct EsCursor {
    client: EsClient,
    /// The sort key of the newest event read.
    after: Option<Value>,
    /// Without a cursor: read events from this time on (Unix ms).
    since: i64,
    count: Option<u64>,
    /// Failures in a row, and when to ask again.
    attempt: u32,
    next_try: tokio::time::Instant,
}

/// Follows events as they come, by the rule of this module: the local
/// log's new records, and Elasticsearch's new events when it is
/// configured, each id once; while Elasticsearch does not answer, the
/// local log's alone, asking Elasticsearch again with back-off.
#[derive(Debug)]
pub struct Follow {
    dir: PathBuf,
    filter: TailFilter,
    local: LocalFollower,
    es: Option<EsCursor>,
    seen: Option<Seen>,
    source: Source,
}

impl Follow {
    /// Reads the newest `keep` events as [`Reader::read`] does, and follows
    /// on from them (`seen`: see [`Follow::after`]).
    pub async fn start(
        reader: &Reader,
        filter: &TailFilter,
        keep: usize,
        seen: usize,
    ) -> Result<(Answer, Self), QueryError> {
        let local = LocalFollower::at_end(&reader.dir);
        let mut answer = reader.read_remote(filter, keep).await?;
        let local = if answer.source == Source::Elasticsearch {
            local
        } else {
            let (events, follower) = reader.local_read(filter, keep)?;
            answer.events = events;
            follower
        };
        let follow = Self::after(reader, filter, local, &answer, seen);
        Ok((answer, follow))
    }

    /// Following on from `answer`, whose events count as shown. `local`
    /// must have been placed (usually at the end of the log) before
    /// `answer` was read, so that nothing falls in between. `seen` is how
    /// many ids to remember against repeats (with Elasticsearch).
    pub fn after(
        reader: &Reader,
        filter: &TailFilter,
        local: LocalFollower,
        answer: &Answer,
        seen: usize,
    ) -> Self {
        let es = reader.es.clone().map(|client| EsCursor {
            client,
            after: answer.cursor.clone(),
            since: now_ms(),
            count: answer.indexed,
            attempt: 0,
            next_try: tokio::time::Instant::now(),
        });
        let seen = es.as_ref().map(|_| {
            let mut s = Seen::new(seen);
            for e in &answer.events {
                s.insert(&e.id);
            }
            s
        });
        Self {
            dir: reader.dir.clone(),
            filter: TailFilter {
                window: None,
                ..filter.clone()
            },
            local,
            es,
            seen,
            source: answer.source.clone(),
        }
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Reads the local log again from its start (after a switch to it).
    pub fn restart_local(&mut self) {
        self.local = LocalFollower::from_start(&self.dir);
    }

    /// What arrived since the last poll (at most about `max_bytes` of the
    /// local log, and a page of Elasticsearch).
    pub async fn poll(&mut self, max_bytes: u64) -> Result<Poll, QueryError> {
        let now = now_ms();
        let (chunks, more) =
            self.local
                .poll_step(max_bytes)
                .map_err(|source| QueryError::Local {
                    path: self.dir.clone(),
                    source,
                })?;
        let mut poll = Poll {
            more,
            ..Poll::default()
        };
        let seen = &mut self.seen;
        let mut keep = |ev: SecurityEvent, out: &mut Vec<SecurityEvent>| {
            if seen.as_mut().is_none_or(|s| s.insert(&ev.id)) {
                out.push(ev);
            }
        };
        for c in &chunks {
            each_event(c, &self.filter, now, |ev| keep(ev, &mut poll.events));
        }
        let Some(es) = &mut self.es else {
            return Ok(poll);
        };
        if tokio::time::Instant::now() < es.next_try {
            return Ok(poll);
        }
        match tokio::time::timeout(ES_WAIT, es_next(es, &self.filter, now)).await {
            Ok(Ok((events, full, lost))) => {
                es.attempt = 0;
                if self.source != Source::Elasticsearch {
                    self.source = Source::Elasticsearch;
                    poll.switched = true;
                }
                poll.more |= full;
                poll.lost = lost;
                for ev in events {
                    keep(ev, &mut poll.events);
                }
                sort(&mut poll.events);
            }
            Ok(Err(e)) => poll.switched = es.failed(&e, &mut self.source),
            Err(_) => {
                let e = EsError::Unreachable {
                    url: es.client.shown().to_owned(),
                    message: format!("no answer within {} s", ES_WAIT.as_secs()),
                };
                poll.switched = es.failed(&e, &mut self.source);
            }
        }
        Ok(poll)
    }
}

impl EsCursor {
    /// Notes a failure: the local log answers, Elasticsearch is asked again
    /// after a back-off. Returns whether the source changed.
    fn failed(&mut self, e: &EsError, source: &mut Source) -> bool {
        self.attempt = self.attempt.saturating_add(1);
        self.next_try = tokio::time::Instant::now() + backoff(self.attempt);
        let switched = !matches!(source, Source::Fallback { .. });
        *source = Source::fallback(e);
        switched
    }
}

/// Elasticsearch's next page after the cursor; whether it was full, and
/// whether Elasticsearch holds fewer events than at the last look.
async fn es_next(
    es: &mut EsCursor,
    filter: &TailFilter,
    now: i64,
) -> Result<(Vec<SecurityEvent>, bool, bool), EsError> {
    let filter = match es.after {
        Some(_) => filter.clone(),
        None => TailFilter {
            window: Some(Duration::from_millis((now - es.since).max(0) as u64)),
            ..filter.clone()
        },
    };
    let page = es
        .client
        .search(&filter, now, es.after.as_ref(), ES_PAGE)
        .await?;
    if page.last_sort.is_some() {
        es.after = page.last_sort;
    }
    let full = page.hits >= ES_PAGE;
    let mut lost = false;
    if !full {
        let count = es.client.count().await?;
        lost = es.count.is_some_and(|c| count < c);
        es.count = Some(count);
    }
    Ok((page.events, full, lost))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, ts: &str) -> SecurityEvent {
        let mut e = SecurityEvent::new("secret_read", Some("a"), serde_json::json!({}));
        e.id = id.into();
        e.timestamp = ts.into();
        e
    }

    fn ids(events: &[SecurityEvent]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn merge_keeps_each_id_once_in_time_order_and_the_newest() {
        let es = vec![
            ev("a", "2026-01-01T00:00:01.000Z"),
            ev("c", "2026-01-01T00:00:03.000Z"),
        ];
        let spool = vec![
            ev("c", "2026-01-01T00:00:03.000Z"),
            ev("b", "2026-01-01T00:00:02.000Z"),
            ev("d", "2026-01-01T00:00:04.000Z"),
        ];
        assert_eq!(
            ids(&merge(es.clone(), spool.clone(), 10)),
            ["a", "b", "c", "d"]
        );
        assert_eq!(ids(&merge(es, spool, 2)), ["c", "d"]);
    }

    #[test]
    fn seen_forgets_the_oldest_beyond_its_capacity() {
        let mut s = Seen::new(2);
        assert!(s.insert("a") && s.insert("b"));
        assert!(!s.insert("a"));
        assert!(s.insert("c"));
        assert!(s.insert("a"), "a was forgotten");
        assert!(!s.insert("c"));
    }

    #[test]
    fn labels_name_the_source_and_a_fallback_says_why() {
        let e = EsError::Unreachable {
            url: "http://es:9200".into(),
            message: "error sending request: Connection refused (os error 111)".into(),
        };
        let s = Source::fallback(&e);
        assert_eq!(
            s.label(),
            "local log (elasticsearch unreachable: Connection refused (os error 111))"
        );
        let notice = s.notice().unwrap();
        assert!(notice.contains("http://es:9200 is unreachable") && notice.contains("local log"));
        assert_eq!(Source::Elasticsearch.notice(), None);
        assert_eq!(Source::Local.label(), "local log");
    }
}
