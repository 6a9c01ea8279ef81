//! The HMAC chain of the local log: each record carries
//! `chain = HMAC-SHA256(k, previous chain || record body)`, where `k` is
//! derived from the master key named by the record's `kid` (HKDF context
//! `audit-chain`). Editing, removing or reordering any record breaks its
//! chain value; [`verify_months`] names every bad record, not only the first.
//!
//! A record is one JSON line: `{"seq":N,"kid":"..",<event fields>,"chain":"<64 hex>"}`.
//! The MAC covers the exact bytes of the line up to `,"chain"` (closed with
//! `}`), so verification never depends on re-serialising JSON.
//!
//! **Months chain on.** The first record of a month's file carries the
//! chain-start marker `"prev"` right after `kid`:
//! `"prev":{"month":"2026-10","seq":42,"chain":"<64 hex>","earlier":["2026-08","2026-09"]}`
//! names the last record of the previous month's log at the time the month
//! began (and the months the chain went through before it), and the record
//! chains from that chain value; `"prev":null` says no earlier month held a
//! chained record, and the record chains from the month's genesis (a value
//! bound to the month). The marker is covered by the MAC, so it can be
//! neither stripped nor altered. `verify` then checks every link that
//! checks: each month the chain went through whose log is gone (with or
//! without its head anchor) is named as missing, and a link to a record the
//! earlier log no longer holds is named too. Months with no events have no
//! file and are not in any chain: they are not missing.
//!
//! **Logs written before months chained** have no `"prev"` in their first
//! record: that file chains from its own genesis, as it always did, and still
//! verifies. The first month written after the upgrade links to the last of
//! them, so from there on a deleted month is detected; deleting one of the
//! old months that no later link names is not.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use super::SecurityEvent;
use super::local::head_path;
use crate::crypto::{Keyring, MasterKey, contexts, derive_key};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// HKDF context of the chain key.
pub const CHAIN_CONTEXT: &str = contexts::audit_chain();
/// Length of a chain value in bytes.
pub const MAC_LEN: usize = 32;
const SUFFIX_HEAD: &str = ",\"chain\":\"";
/// `,"chain":"` + 64 hex + `"}`.
const SUFFIX_LEN: usize = SUFFIX_HEAD.len() + MAC_LEN * 2 + 2;

/// The chain key of one master key.
#[derive(Clone)]
pub struct ChainKey {
    kid: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl ChainKey {
    pub fn new(master: &MasterKey) -> Self {
        Self {
            kid: master.kid(),
            key: derive_key(master.expose_bytes(), b"", contexts::audit_chain()),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key[..])
            .expect("HMAC takes keys of any length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The value the first record of the file of `month` chains from.
    pub fn genesis(&self, month: &str) -> [u8; MAC_LEN] {
        self.mac(&[b"windflow-security-", month.as_bytes()])
    }
}

/// The last record of the previous month's log, which the first record of a
/// month chains from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub month: String,
    pub seq: u64,
    #[serde(with = "hex_mac")]
    pub chain: [u8; MAC_LEN],
    /// The months the chain went through before `month`, oldest first, so
    /// that several months deleted in a row are each named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<String>,
}

/// Where the first record of a month's file chains from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// No earlier month holds a chained record: the month's genesis.
    First,
    /// The previous month's last record.
    After(Link),
}

impl Start {
    /// The chain value the month's first record chains from.
    pub fn chain(&self, key: &ChainKey, month: &str) -> [u8; MAC_LEN] {
        match self {
            Self::First => key.genesis(month),
            Self::After(link) => link.chain,
        }
    }

    fn link(&self) -> Option<&Link> {
        match self {
            Self::First => None,
            Self::After(link) => Some(link),
        }
    }
}

mod hex_mac {
    use super::MAC_LEN;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mac: &[u8; MAC_LEN], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(mac))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; MAC_LEN], D::Error> {
        let text = <&str>::deserialize(d)?;
        let mut mac = [0u8; MAC_LEN];
        hex::decode_to_slice(text, &mut mac).map_err(serde::de::Error::custom)?;
        Ok(mac)
    }
}

#[derive(Deserialize)]
struct RecordHead {
    seq: u64,
    kid: String,
    #[serde(default)]
    id: Option<String>,
    /// The chain-start marker: absent (a record written before months
    /// chained, or not a month's first), `null` or a link.
    #[serde(default, deserialize_with = "present")]
    prev: Option<Option<Link>>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Link>>, D::Error> {
    Option::<Link>::deserialize(d).map(Some)
}

/// The line (with its newline) of `event` as record `seq` after `prev`; the
/// first record of a month's file also carries its `start` marker. Returns
/// the line and its chain value.
pub fn seal_line(
    key: &ChainKey,
    seq: u64,
    prev: &[u8; MAC_LEN],
    start: Option<&Start>,
    event: &SecurityEvent,
) -> Result<(Vec<u8>, [u8; MAC_LEN]), serde_json::Error> {
    // `{"seq":N,"kid":"..",` then the event's own fields (same bytes as
    // serialising RecordOut, without serde's slower flattening).
    let mut line = Vec::with_capacity(512);
    line.extend_from_slice(b"{\"seq\":");
    line.extend_from_slice(seq.to_string().as_bytes());
    line.extend_from_slice(b",\"kid\":");
    serde_json::to_writer(&mut line, &key.kid)?;
    if let Some(start) = start {
        line.extend_from_slice(b",\"prev\":");
        serde_json::to_writer(&mut line, &start.link())?;
    }
    line.push(b',');
    let at = line.len();
    serde_json::to_writer(&mut line, event)?;
    // Drop the event object's opening brace.
    line.remove(at);
    let mac = key.mac(&[prev, &line]);
    line.pop(); // the closing brace
    line.reserve(SUFFIX_LEN + 1);
    line.extend_from_slice(SUFFIX_HEAD.as_bytes());
    let mut hex_buf = [0u8; MAC_LEN * 2];
    hex::encode_to_slice(mac, &mut hex_buf).expect("buffer is twice the MAC");
    line.extend_from_slice(&hex_buf);
    line.extend_from_slice(b"\"}\n");
    Ok((line, mac))
}

/// The body (what the MAC covers) and the chain value of a record line
/// (without its newline); `None` when the line is not a chained record.
pub fn split_line(line: &[u8]) -> Option<(Vec<u8>, [u8; MAC_LEN])> {
    if line.len() < SUFFIX_LEN + 2 || !line.ends_with(b"\"}") {
        return None;
    }
    let cut = line.len() - SUFFIX_LEN;
    if &line[cut..cut + SUFFIX_HEAD.len()] != SUFFIX_HEAD.as_bytes() {
        return None;
    }
    let mut mac = [0u8; MAC_LEN];
    hex::decode_to_slice(&line[cut + SUFFIX_HEAD.len()..line.len() - 2], &mut mac).ok()?;
    let mut body = line[..cut].to_vec();
    body.push(b'}');
    Some((body, mac))
}

/// The sequence number and chain value of the last chained record in a
/// log's tail bytes (`None` when there is none: a file of records written
/// before the chain, which a new chain then follows from record 1; `verify`
/// still reports those records as unprotected).
/// A damaged last line (a write cut short) is passed over, so appends go on
/// and `verify` reports the damage.
pub fn last_link(tail: &[u8]) -> Option<(u64, [u8; MAC_LEN])> {
    tail.split(|&b| b == b'\n').rev().find_map(|line| {
        let (body, mac) = split_line(line)?;
        let head: RecordHead = serde_json::from_slice(&body).ok()?;
        Some((head.seq, mac))
    })
}

/// The link of the first chained record in a log's first bytes (`None`
/// for a month that starts the chain, or one written before months chained).
pub fn first_link(head: &[u8]) -> Option<Link> {
    let line = head
        .split(|&b| b == b'\n')
        .find_map(|line| split_line(line).map(|(body, _)| body))?;
    serde_json::from_slice::<RecordHead>(&line)
        .ok()?
        .prev
        .flatten()
}

/// One thing wrong with the log: a damaged record, a missing month, records
/// cut off the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tamper {
    pub file: PathBuf,
    /// 1-based line number of the bad record (0: the file as a whole).
    pub line: usize,
    /// Its sequence number and event id, when readable.
    pub seq: Option<u64>,
    pub event_id: Option<String>,
    pub reason: String,
    /// The record is sealed under this master key, which is not loaded: it
    /// cannot be checked, which is not proof of tampering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_not_loaded: Option<String>,
}

impl Tamper {
    fn new(file: &Path, line: usize, seq: Option<u64>, reason: String) -> Self {
        Self {
            file: file.to_owned(),
            line,
            seq,
            event_id: None,
            reason,
            key_not_loaded: None,
        }
    }
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(seq) = self.seq {
            write!(f, " (record {seq}")?;
            if let Some(id) = &self.event_id {
                write!(f, ", event {id}")?;
            }
            f.write_str(")")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// What a verified file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub file: PathBuf,
    /// Records whose chain value checks.
    pub records: u64,
}

/// Chain keys of every master key of a keyring, by kid.
pub struct ChainKeys(HashMap<String, ChainKey>);

impl ChainKeys {
    pub fn new(ring: &Keyring) -> Self {
        Self(
            ring.kids()
                .iter()
                .filter_map(|kid| ring.get(kid))
                .map(|k| {
                    let ck = ChainKey::new(k);
                    (ck.kid.clone(), ck)
                })
                .collect(),
        )
    }

    /// The chain key of one master key.
    pub fn one(key: &ChainKey) -> Self {
        Self(HashMap::from([(key.kid.clone(), key.clone())]))
    }
}

/// What verifying the log found: each file, and every problem in month and
/// line order (tampering, and records that cannot be checked because their
/// key is not loaded: those carry `key_not_loaded`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub files: Vec<FileReport>,
    pub problems: Vec<Tamper>,
    /// What could not be checked, beside the records (not tampering): the
    /// store's copy of the head anchors when the store did not answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Verifies the logs of `months` (`(YYYY-MM, log path)`, oldest first; a
/// month whose log is gone but whose head anchor remains is listed too):
/// every record of every file, each file against its head anchor, and each
/// month's link to the one before it.
/// `kept` holds the store's copy of each month's head anchor (see
/// [`super::anchors`]).
pub fn verify_months(
    months: &[(String, PathBuf)],
    keys: &ChainKeys,
    kept: &HashMap<String, Vec<u8>>,
) -> Verification {
    // Newest first: a month's link says which record of an earlier month
    // must be looked up when that month is read.
    let mut wanted: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut links = Vec::new();
    let mut found: HashMap<&str, HashMap<u64, [u8; MAC_LEN]>> = HashMap::new();
    let mut out = Verification::default();
    for (month, path) in months.iter().rev() {
        let want = wanted.remove(month.as_str()).unwrap_or_default();
        let scan = scan_month(path, month, keys, &want, kept.get(month).map(Vec::as_slice));
        if let Some(link) = &scan.link {
            if let Some((m, _)) = months.iter().find(|(m, _)| *m == link.month) {
                wanted.entry(m.as_str()).or_default().push(link.seq);
            }
            links.push((path, month, link.clone()));
        }
        found.insert(month, scan.chains);
        out.files.extend(scan.report);
        out.problems.extend(scan.problems);
    }
    let mut named = HashSet::new();
    for (path, month, link) in links {
        // Months the chain went through whose log and head are both gone.
        for m in &link.earlier {
            if !found.contains_key(m.as_str()) && named.insert(m.clone()) {
                out.problems.push(Tamper::new(
                    &path.with_file_name(super::local::file_name(m)),
                    0,
                    None,
                    format!(
                        "the log of {m} is missing (deleted with its head anchor): the chain of \
                         {month} went through it"
                    ),
                ));
            }
        }
        if !found.contains_key(link.month.as_str()) && !named.insert(link.month.clone()) {
            continue;
        }
        let first = |reason| Tamper::new(path, 1, Some(1), reason);
        let problem = match found.get(link.month.as_str()) {
            None if link.month.as_str() >= month.as_str() => Some(first(format!(
                "the first record of {month} chains from {}, which is not an earlier month",
                link.month
            ))),
            None => Some(Tamper::new(
                &path.with_file_name(super::local::file_name(&link.month)),
                0,
                None,
                format!(
                    "the log of {} is missing (deleted with its head anchor): the first record of \
                     {month} chains from its record {}",
                    link.month, link.seq
                ),
            )),
            Some(chains) => match chains.get(&link.seq) {
                Some(c) if *c == link.chain => None,
                Some(_) => Some(first(format!(
                    "record {} of {} is not the one the first record of {month} chains from: \
                     the end of that month's log was replaced",
                    link.seq, link.month
                ))),
                // Its log was deleted and that is reported already.
                None if !months.iter().any(|(m, p)| *m == link.month && p.exists()) => None,
                None => Some(first(format!(
                    "the log of {} no longer holds its record {} that {month} chains from: \
                     records were removed from its end",
                    link.month, link.seq
                ))),
            },
        };
        out.problems.extend(problem);
    }
    out.files.sort_by(|a, b| a.file.cmp(&b.file));
    out.problems
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    out
}

/// What reading one month's log and head found.
struct MonthScan {
    /// `None` when the log is gone.
    report: Option<FileReport>,
    problems: Vec<Tamper>,
    /// The month's first record's link to the month before.
    link: Option<Link>,
    /// The chain values of the records asked for, by sequence number.
    chains: HashMap<u64, [u8; MAC_LEN]>,
}

fn scan_month(
    path: &Path,
    month: &str,
    keys: &ChainKeys,
    want: &[u64],
    kept: Option<&[u8]>,
) -> MonthScan {
    let head = head_path(path);
    let mut scan = MonthScan {
        report: None,
        problems: Vec::new(),
        link: None,
        chains: HashMap::new(),
    };
    let whole = |reason| Tamper::new(path, 0, None, reason);
    let (anchor, head_problem) = match read_head(&head, month, keys) {
        Ok(a) => (a, None),
        Err(e) => (
            None,
            Some(Tamper {
                key_not_loaded: e.key_not_loaded,
                ..whole(e.reason)
            }),
        ),
    };
    let head_failed = head_problem.is_some();
    // The store's copy: checked where it names more than the head file.
    let what = format!("the store's copy of the head anchor of {month}");
    let kept = match kept.map(|k| parse_head(k, month, keys, &what)) {
        Some(Ok(k)) if Some(k) != anchor && k.0 > 0 => Some(k),
        Some(Err(e)) if e.key_not_loaded.is_none() => {
            scan.problems.push(whole(e.reason));
            None
        }
        _ => None,
    };
    // A head under a key that is not loaded is named once with its records.
    let mut head_problem = head_problem;
    let mut push_head = |scan: &mut MonthScan| {
        if let Some(p) = head_problem.take()
            && (p.key_not_loaded.is_none()
                || !scan
                    .problems
                    .iter()
                    .any(|q| q.key_not_loaded == p.key_not_loaded))
        {
            scan.problems.push(p);
        }
    };
    if !path.exists() {
        if let Some((seq, _)) = anchor {
            scan.problems.push(whole(format!(
                "the log of {month} was deleted (its head anchor names {seq} records)"
            )));
        } else if let Some((seq, _)) = kept {
            scan.problems.push(whole(format!(
                "the log of {month} is missing (deleted with its head anchor; the store's copy \
                 of the head anchor names {seq} records)"
            )));
        }
        push_head(&mut scan);
        return scan;
    }
    let mut want: HashSet<u64> = want.iter().copied().collect();
    want.extend(anchor.map(|(seq, _)| seq));
    want.extend(kept.map(|(seq, _)| seq));
    let records = match std::fs::read(path) {
        Ok(bytes) => check_records(path, month, keys, &bytes, &want, &mut scan),
        Err(e) => {
            scan.problems.push(whole(format!("cannot read: {e}")));
            push_head(&mut scan);
            return scan;
        }
    };
    push_head(&mut scan);
    scan.report = Some(FileReport {
        file: path.to_owned(),
        records: records.good,
    });
    match anchor {
        None if records.last_seq > 0 && !head_failed => scan.problems.push(whole(format!(
            "the head anchor {} is missing or empty: records may have been removed from the end",
            head.display()
        ))),
        Some((seq, _)) if seq > records.last_seq => scan.problems.push(Tamper::new(
            path,
            records.lines + 1,
            Some(records.last_seq + 1),
            format!(
                "records {} to {seq} were removed from the end (the head anchor names {seq} records, the log has {})",
                records.last_seq + 1,
                records.last_seq
            ),
        )),
        Some((seq, chain)) if seq > 0 && scan.chains.get(&seq) != Some(&chain) => {
            scan.problems.push(Tamper::new(
                path,
                0,
                Some(seq),
                "record differs from the one the head anchor names: the end of the log was replaced"
                    .into(),
            ))
        }
        _ => {}
    }
    match kept {
        Some((seq, _)) if seq > records.last_seq => scan.problems.push(Tamper::new(
            path,
            records.lines + 1,
            Some(records.last_seq + 1),
            format!(
                "records {} to {seq} were removed from the end (the store's copy of the head \
                 anchor names {seq} records, the log has {})",
                records.last_seq + 1,
                records.last_seq
            ),
        )),
        Some((seq, chain)) if scan.chains.get(&seq) != Some(&chain) => {
            scan.problems.push(Tamper::new(
                path,
                0,
                Some(seq),
                "record differs from the one the store's copy of the head anchor names: the \
                 end of the log was replaced"
                    .into(),
            ))
        }
        _ => {}
    }
    scan
}

/// What [`check_records`] counted.
struct Records {
    good: u64,
    /// The sequence number of the last chained record.
    last_seq: u64,
    lines: usize,
}

/// Checks every line of a log, pushing each problem; after a bad record the
/// next one is checked against the chain value the bad one states, so one
/// edit is one problem and every further damage is named too.
fn check_records(
    path: &Path,
    month: &str,
    keys: &ChainKeys,
    bytes: &[u8],
    want: &HashSet<u64>,
    scan: &mut MonthScan,
) -> Records {
    let mut prev: Option<[u8; MAC_LEN]> = None;
    let mut expected_seq = 1u64;
    let mut count = Records {
        good: 0,
        last_seq: 0,
        lines: 0,
    };
    let mut not_loaded = HashSet::new();
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() && lines.peek().is_none() {
            break;
        }
        count.lines += 1;
        let n = count.lines;
        let mut bad = |seq, id, reason| {
            scan.problems.push(Tamper {
                event_id: id,
                ..Tamper::new(path, n, seq, reason)
            })
        };
        let Some((body, mac)) = split_line(line) else {
            let reason = if lines.peek().is_none() {
                "the last line is cut short or not a chained record (written without the chain, or truncated)"
            } else {
                "not a chained record (edited, its chain stripped, or written before the log was chained)"
            };
            bad(None, None, reason.into());
            continue;
        };
        let head: RecordHead = match serde_json::from_slice(&body) {
            Ok(h) => h,
            Err(e) => {
                bad(
                    None,
                    None,
                    format!("the record is not valid JSON ({e}): edited"),
                );
                continue;
            }
        };
        let first = prev.is_none();
        if want.contains(&head.seq) {
            scan.chains.insert(head.seq, mac);
        }
        let (seq, id) = (head.seq, head.id);
        match keys.0.get(&head.kid) {
            // Records under a key that is not loaded cannot be checked;
            // named once per key and file. The next record chains from the
            // value this one states.
            None => {
                if not_loaded.insert(head.kid.clone()) {
                    scan.problems.push(Tamper {
                        event_id: id,
                        key_not_loaded: Some(head.kid.clone()),
                        ..Tamper::new(
                            path,
                            n,
                            Some(seq),
                            format!(
                                "sealed under master key {} which is not loaded (add it to WINDFLOW_MASTER_KEY or the key file)",
                                head.kid
                            ),
                        )
                    });
                }
            }
            Some(key) => {
                let from = match &head.prev {
                    Some(Some(link)) => link.chain,
                    Some(None) => key.genesis(month),
                    None => prev.unwrap_or_else(|| key.genesis(month)),
                };
                if key.mac(&[&from, &body]) != mac {
                    let reason = if seq != expected_seq {
                        format!(
                            "expected record {expected_seq} here, found record {seq}: records were removed or reordered"
                        )
                    } else if first && seq == 1 {
                        "the HMAC does not match: the record was edited (or the file renamed)"
                            .into()
                    } else {
                        "the HMAC does not match: the record was edited".into()
                    };
                    bad(Some(seq), id, reason);
                } else {
                    // Only a link that checks is followed to an earlier month.
                    if first {
                        scan.link = head.prev.flatten();
                    }
                    if seq != expected_seq {
                        bad(
                            Some(seq),
                            id,
                            format!("expected record {expected_seq}, found {seq}"),
                        );
                    } else {
                        count.good += 1;
                    }
                }
            }
        }
        prev = Some(mac);
        expected_seq = seq + 1;
        count.last_seq = seq;
    }
    count
}

/// The head anchor of a log file (`<log>.head`): the sequence number and chain
/// value of its last record, MACed with the chain key. Rewritten in place after
/// every append, so records cut off the end of the log, or a log deleted
/// whole, are detected by `verify` (unless the head is rolled back too).
/// Fixed length: `{"seq":<number, padded to 20 with spaces>,"kid":"<8>","chain":"<64>","mac":"<64>"}` + newline.
pub fn head_line(key: &ChainKey, month: &str, seq: u64, last: &[u8; MAC_LEN]) -> Vec<u8> {
    let mac = key.mac(&[b"head", month.as_bytes(), &seq.to_be_bytes(), last]);
    format!(
        "{{\"seq\":{seq:<20},\"kid\":\"{}\",\"chain\":\"{}\",\"mac\":\"{}\"}}\n",
        key.kid,
        hex::encode(last),
        hex::encode(mac)
    )
    .into_bytes()
}

#[derive(Deserialize)]
struct HeadRecord {
    seq: u64,
    kid: String,
    chain: String,
    mac: String,
}

/// Before an append: whether the log's last record (`seq`, `last`) is the
/// one its head anchor names, checked with the key the head names (`keys`
/// holds every loaded key: across a key change the head is still under the
/// old one). `None` when it is, or when the head is one append behind (a
/// crash between the two writes); else what is missing, in words.
pub fn head_gap(
    head: &Path,
    month: &str,
    keys: &ChainKeys,
    seq: u64,
    last: &[u8; MAC_LEN],
) -> Option<String> {
    let empty = std::fs::metadata(head).map_or(true, |m| m.len() == 0);
    if empty {
        return (seq > 0).then(|| {
            format!("the head anchor of {month} is missing while the log holds {seq} records: it was deleted")
        });
    }
    match read_head(head, month, keys) {
        Ok(Some((hs, chain))) if hs == seq && chain == *last => None,
        Ok(Some((hs, _))) if hs + 1 == seq => None,
        Ok(Some((hs, _))) if hs > seq => Some(format!(
            "the head anchor names record {hs} but the log of {month} ends at record {seq}: \
             records {}..={hs} were removed",
            seq + 1
        )),
        Ok(Some((hs, _))) => Some(format!(
            "the head anchor names record {hs} but the log of {month} ends at record {seq} \
             with another chain value: records were removed or replaced"
        )),
        Ok(None) => None,
        Err(e) if e.key_not_loaded.is_some() => None,
        Err(e) => Some(e.reason),
    }
}

/// Why a head anchor cannot be trusted.
#[derive(Debug)]
pub struct HeadError {
    pub reason: String,
    /// Sealed under this master key, which is not loaded: not checkable.
    pub key_not_loaded: Option<String>,
}

/// Reads and checks the head anchor of the log of `month`: its sequence
/// number and chain value (`None` when it is missing or empty), or why it
/// cannot be trusted.
pub fn read_head(
    path: &Path,
    month: &str,
    keys: &ChainKeys,
) -> Result<Option<(u64, [u8; MAC_LEN])>, HeadError> {
    let bytes = match std::fs::read(path) {
        // Empty: created with its log, before the first append completed.
        Ok(b) if b.is_empty() => return Ok(None),
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(HeadError {
                reason: format!("cannot read the head anchor {}: {e}", path.display()),
                key_not_loaded: None,
            });
        }
    };
    parse_head(
        &bytes,
        month,
        keys,
        &format!("the head anchor {}", path.display()),
    )
    .map(Some)
}

/// Checks a head line of `month` (`what` names where it was read, in
/// errors): its sequence number and chain value, or why it cannot be
/// trusted.
pub fn parse_head(
    bytes: &[u8],
    month: &str,
    keys: &ChainKeys,
    what: &str,
) -> Result<(u64, [u8; MAC_LEN]), HeadError> {
    let edited = || HeadError {
        reason: format!("{what} was edited"),
        key_not_loaded: None,
    };
    let head: HeadRecord = serde_json::from_slice(bytes).map_err(|_| edited())?;
    let key = keys.0.get(&head.kid).ok_or_else(|| HeadError {
        reason: format!(
            "{what} is sealed under master key {} which is not loaded",
            head.kid
        ),
        key_not_loaded: Some(head.kid.clone()),
    })?;
    let mut chain = [0u8; MAC_LEN];
    let mut mac = [0u8; MAC_LEN];
    hex::decode_to_slice(&head.chain, &mut chain).map_err(|_| edited())?;
    hex::decode_to_slice(&head.mac, &mut mac).map_err(|_| edited())?;
    if key.mac(&[b"head", month.as_bytes(), &head.seq.to_be_bytes(), &chain]) != mac {
        return Err(edited());
    }
    Ok((head.seq, chain))
}

/// Before an append: whether the log's last record (`seq`, `last`) is at or
/// past the record the store's copy of the head anchor names (`kept`: the
/// copy may be one append behind, never ahead). `None` when it is, or when
/// the copy cannot be checked; else what is missing, in words.
pub fn kept_anchor_gap(
    kept: &[u8],
    month: &str,
    keys: &ChainKeys,
    seq: u64,
    last: &[u8; MAC_LEN],
) -> Option<String> {
    match parse_head(
        kept,
        month,
        keys,
        &format!("the store's copy of the head anchor of {month}"),
    ) {
        Ok((ks, _)) if ks > seq => Some(format!(
            "the store's copy of the head anchor names record {ks} but the log of {month} ends at \
             record {seq}: records {}..={ks} were removed (with the head anchor file)",
            seq + 1
        )),
        Ok((ks, chain)) if ks == seq && chain != *last => Some(format!(
            "the log of {month} ends at record {seq} with another chain value than the store's \
             copy of the head anchor names: records were removed or replaced"
        )),
        Ok(_) => None,
        Err(e) if e.key_not_loaded.is_some() => None,
        Err(e) => Some(e.reason),
    }
}
