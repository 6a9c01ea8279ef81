//! The HMAC chain of the local log: each record carries
//! `chain = HMAC-SHA256(k, previous chain || record body)`, where `k` is
//! derived from the master key named by the record's `kid` (HKDF context
//! `audit-chain`) and the first record of a file chains from a value bound to
//! the file's month. Editing, removing or reordering any record breaks every
//! chain value from there on; [`verify_file`] names the first bad record.
//!
//! A record is one JSON line: `{"seq":N,"kid":"..",<event fields>,"chain":"<64 hex>"}`.
//! The MAC covers the exact bytes of the line up to `,"chain"` (closed with
//! `}`), so verification never depends on re-serialising JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::SecurityEvent;
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

#[derive(Deserialize)]
struct RecordHead {
    seq: u64,
    kid: String,
    #[serde(default)]
    id: Option<String>,
}

/// The line (with its newline) of `event` as record `seq` after `prev`; returns it
/// and its chain value.
pub fn seal_line(
    key: &ChainKey,
    seq: u64,
    prev: &[u8; MAC_LEN],
    event: &SecurityEvent,
) -> Result<(Vec<u8>, [u8; MAC_LEN]), serde_json::Error> {
    // `{"seq":N,"kid":"..",` then the event's own fields (same bytes as
    // serialising RecordOut, without serde's slower flattening).
    let mut line = Vec::with_capacity(512);
    line.extend_from_slice(b"{\"seq\":");
    line.extend_from_slice(seq.to_string().as_bytes());
    line.extend_from_slice(b",\"kid\":");
    serde_json::to_writer(&mut line, &key.kid)?;
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

/// Why a log does not verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tamper {
    pub file: PathBuf,
    /// 1-based line number of the first bad record.
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

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)?;
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
}

/// Checks one log file of `month`; the first bad record is the error.
pub fn verify_file(path: &Path, month: &str, keys: &ChainKeys) -> Result<FileReport, Tamper> {
    verify_file_collecting(path, month, keys, &mut Vec::new())
}

/// [`verify_file`], pushing each record's chain value onto `chains`.
fn verify_file_collecting(
    path: &Path,
    month: &str,
    keys: &ChainKeys,
    chains: &mut Vec<[u8; MAC_LEN]>,
) -> Result<FileReport, Tamper> {
    let bad = |line: usize, seq: Option<u64>, id: Option<String>, reason: String| Tamper {
        file: path.to_owned(),
        line,
        seq,
        event_id: id,
        reason,
        key_not_loaded: None,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(0, None, None, format!("cannot read: {e}")))?;
    let mut prev: Option<[u8; MAC_LEN]> = None;
    let mut expected_seq = 1u64;
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    let mut n = 0usize;
    while let Some(line) = lines.next() {
        n += 1;
        if line.is_empty() && lines.peek().is_none() {
            break;
        }
        let Some((body, mac)) = split_line(line) else {
            let reason = if lines.peek().is_none() {
                "the last line is cut short or not a chained record (written without the chain, or truncated)"
            } else {
                "not a chained record (edited, its chain stripped, or written before the log was chained)"
            };
            return Err(bad(n, None, None, reason.into()));
        };
        let head: RecordHead = serde_json::from_slice(&body).map_err(|e| {
            bad(
                n,
                None,
                None,
                format!("the record is not valid JSON ({e}): edited"),
            )
        })?;
        let Some(key) = keys.0.get(&head.kid) else {
            return Err(Tamper {
                key_not_loaded: Some(head.kid.clone()),
                ..bad(
                    n,
                    Some(head.seq),
                    head.id,
                    format!(
                        "sealed under master key {} which is not loaded (add it to WINDFLOW_MASTER_KEY or the key file)",
                        head.kid
                    ),
                )
            });
        };
        let prev_mac = prev.unwrap_or_else(|| key.genesis(month));
        if key.mac(&[&prev_mac, &body]) != mac {
            let reason = if head.seq != expected_seq {
                format!(
                    "expected record {expected_seq} here, found record {}: records were removed or reordered",
                    head.seq
                )
            } else if prev.is_none() && head.seq == 1 {
                "the HMAC does not match: the record was edited (or the file renamed)".into()
            } else {
                "the HMAC does not match: the record was edited".into()
            };
            return Err(bad(n, Some(head.seq), head.id, reason));
        }
        if head.seq != expected_seq {
            return Err(bad(
                n,
                Some(head.seq),
                head.id,
                format!("expected record {expected_seq}, found {}", head.seq),
            ));
        }
        prev = Some(mac);
        chains.push(mac);
        expected_seq += 1;
    }
    Ok(FileReport {
        file: path.to_owned(),
        records: expected_seq - 1,
    })
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
        Err(reason) => Some(reason),
    }
}

/// Reads and checks the head anchor of the log of `month`: its sequence
/// number and chain value, or why it cannot be trusted.
pub fn read_head(
    path: &Path,
    month: &str,
    keys: &ChainKeys,
) -> Result<Option<(u64, [u8; MAC_LEN])>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot read the head anchor {}: {e}",
                path.display()
            ));
        }
    };
    let edited = || format!("the head anchor {} was edited", path.display());
    let head: HeadRecord = serde_json::from_slice(&bytes).map_err(|_| edited())?;
    let key = keys.0.get(&head.kid).ok_or_else(|| {
        format!(
            "the head anchor is sealed under master key {} which is not loaded",
            head.kid
        )
    })?;
    let mut chain = [0u8; MAC_LEN];
    let mut mac = [0u8; MAC_LEN];
    hex::decode_to_slice(&head.chain, &mut chain).map_err(|_| edited())?;
    hex::decode_to_slice(&head.mac, &mut mac).map_err(|_| edited())?;
    if key.mac(&[b"head", month.as_bytes(), &head.seq.to_be_bytes(), &chain]) != mac {
        return Err(edited());
    }
    Ok(Some((head.seq, chain)))
}

/// [`verify_file`] and the file's head anchor: records removed from the end
/// (the head names a record the log no longer has, or another chain value)
/// are tampering. A head one append behind the log is a crash between the
/// two writes, not tampering.
pub fn verify_with_head(
    path: &Path,
    head: &Path,
    month: &str,
    keys: &ChainKeys,
) -> Result<FileReport, Tamper> {
    let bad = |line: usize, seq: Option<u64>, reason: String| Tamper {
        file: path.to_owned(),
        line,
        seq,
        event_id: None,
        reason,
        key_not_loaded: None,
    };
    if !path.exists() {
        let anchor = read_head(head, month, keys).map_err(|r| bad(0, None, r))?;
        return match anchor {
            Some((seq, _)) => Err(bad(
                0,
                None,
                format!("the log of {month} was deleted (its head anchor names {seq} records)"),
            )),
            None => Ok(FileReport {
                file: path.to_owned(),
                records: 0,
            }),
        };
    }
    let mut chains = Vec::new();
    let report = verify_file_collecting(path, month, keys, &mut chains)?;
    let anchor = read_head(head, month, keys).map_err(|r| bad(0, None, r))?;
    match anchor {
        None if report.records > 0 => Err(bad(
            0,
            None,
            format!(
                "the head anchor {} is missing: records may have been removed from the end",
                head.display()
            ),
        )),
        None => Ok(report),
        Some((seq, _)) if seq > report.records => Err(bad(
            report.records as usize + 1,
            Some(report.records + 1),
            format!(
                "records {} to {seq} were removed from the end (the head anchor names {seq} records, the log has {})",
                report.records + 1,
                report.records
            ),
        )),
        Some((seq, chain)) if seq > 0 && chains.get(seq as usize - 1) != Some(&chain) => Err(bad(
            seq as usize,
            Some(seq),
            "record differs from the one the head anchor names: the end of the log was replaced"
                .into(),
        )),
        Some(_) => Ok(report),
    }
}
