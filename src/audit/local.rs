//! The embedded audit sink: an append-only, HMAC-chained JSON-lines log, one
//! file per month in the data dir (see [`super::chain`] for the record format).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::anchors::Anchors;
use super::chain::{
    self, ChainKey, ChainKeys, FileReport, Link, MAC_LEN, Start, Tamper, Verification,
};
use super::{AuditError, AuditSink, SecurityEvent};
use crate::crypto::{KEY_FILE_NAME, KeySource, Keyring};
use crate::fsutil;

/// Appends each event as one chained JSON line to
/// `<data_dir>/audit/windflow-security-YYYY-MM.jsonl` (by the event's month).
/// The folder is 0700 and the files 0600. Several processes may append at
/// once: each append holds an exclusive `flock` on the file while it reads
/// the previous link and writes its line.
///
/// A long-lived log (the console's, the agent's) checks before each append
/// that the files it holds are still the ones at their paths; a log or head
/// removed or replaced is reopened, and when the file found there does not
/// end with the record this process wrote last, an `audit_gap` record says
/// so before the next event. A failed append (a full disk) is cut back to
/// the last whole record.
pub struct LocalLog {
    dir: PathBuf,
    keys: KeyProvider,
    state: Mutex<State>,
    /// The store's copy of each month's head anchor.
    anchors: Anchors,
}

enum KeyProvider {
    Ring(Arc<Keyring>),
    /// Loaded on the first append (the key file is created when missing).
    Lazy(KeySource),
}

#[derive(Default)]
struct State {
    key: Option<ChainKey>,
    /// The chain keys of every loaded master key (a head anchor written
    /// before a key change is checked with the key that wrote it).
    keys: Option<Arc<ChainKeys>>,
    open: HashMap<String, OpenFile>,
}

struct OpenFile {
    file: File,
    /// The head anchor, rewritten in place after each append.
    head: File,
    /// The file length after our last append; another writer changed the
    /// file when its length differs.
    len: u64,
    seq: u64,
    last: [u8; MAC_LEN],
    /// (device, inode) of the log and of the head, to tell when the files
    /// at their paths are others.
    ids: [(u64, u64); 2],
    /// The last record this process wrote to a file of this month that was
    /// since removed or replaced, until a gap record names the loss.
    replaced: Option<(u64, [u8; MAC_LEN])>,
}

impl std::fmt::Debug for LocalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Name of the file holding the events of `month` (`YYYY-MM`).
pub fn file_name(month: &str) -> String {
    format!("windflow-security-{month}.jsonl")
}

/// The month of a log file name, if it is one.
pub fn month_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let month = name
        .strip_prefix("windflow-security-")?
        .strip_suffix(".jsonl")?;
    (month.len() == 7 && month.as_bytes()[4] == b'-').then(|| month.to_owned())
}

impl LocalLog {
    /// The log in `<data_dir>/audit`, chained with the master key of
    /// `WINDFLOW_MASTER_KEY` or `<data_dir>/master.key` (created when missing).
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("audit"),
            keys: KeyProvider::Lazy(KeySource::from_env_or_file(
                &data_dir.join(KEY_FILE_NAME),
                true,
            )),
            state: Mutex::default(),
            anchors: Anchors::for_audit_dir(&data_dir.join("audit")),
        }
    }

    /// The log in `dir` itself, chained with the primary key of `keyring`.
    pub fn with_keyring(dir: PathBuf, keyring: Arc<Keyring>) -> Self {
        Self {
            anchors: Anchors::for_audit_dir(&dir),
            dir,
            keys: KeyProvider::Ring(keyring),
            state: Mutex::default(),
        }
    }

    /// The log in `dir` itself; keys as in [`LocalLog::new`], with the key
    /// file in `dir`'s parent.
    pub fn in_dir(dir: PathBuf) -> Self {
        let key_file = dir.parent().unwrap_or(&dir).join(KEY_FILE_NAME);
        Self {
            keys: KeyProvider::Lazy(KeySource::from_env_or_file(&key_file, true)),
            anchors: Anchors::for_audit_dir(&dir),
            dir,
            state: Mutex::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that events of `month` (`YYYY-MM`) go to.
    pub fn file_for(&self, month: &str) -> PathBuf {
        self.dir.join(file_name(month))
    }

    /// Every log file, oldest month first.
    pub fn files(&self) -> std::io::Result<Vec<(String, PathBuf)>> {
        list_files(&self.dir)
    }

    fn chain_key(&self, state: &mut State) -> Result<(ChainKey, Arc<ChainKeys>), AuditError> {
        if let (Some(k), Some(all)) = (&state.key, &state.keys) {
            return Ok((k.clone(), all.clone()));
        }
        let loaded;
        let ring = match &self.keys {
            KeyProvider::Ring(ring) => ring.as_ref(),
            KeyProvider::Lazy(source) => {
                loaded = Keyring::load(source).map_err(|e| AuditError::Key(e.to_string()))?;
                &loaded
            }
        };
        let key = ChainKey::new(ring.primary());
        let all = Arc::new(ChainKeys::new(ring));
        state.key = Some(key.clone());
        state.keys = Some(all.clone());
        Ok((key, all))
    }

    /// Appends `events` (each to the file of its month), in order.
    pub fn append(&self, events: &[SecurityEvent]) -> Result<(), AuditError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (key, all) = self.chain_key(&mut state)?;
        let mut i = 0;
        while i < events.len() {
            let month = events[i].month();
            let mut j = i + 1;
            while j < events.len() && events[j].month() == month {
                j += 1;
            }
            self.append_month(&mut state, (&key, &all), &month, &events[i..j])?;
            i = j;
        }
        Ok(())
    }

    fn append_month(
        &self,
        state: &mut State,
        (key, all): (&ChainKey, &ChainKeys),
        month: &str,
        events: &[SecurityEvent],
    ) -> Result<(), AuditError> {
        let path = self.file_for(month);
        let io = |source| AuditError::io(path.clone(), source);
        // The file we hold was removed or replaced (a new inode at its
        // path): reopen, never append to a deleted file. What this process
        // wrote last is remembered, so the loss is recorded, not healed.
        let mut replaced = None;
        if let Some(of) = state.open.get(month)
            && !of.in_place(&path).map_err(io)?
        {
            replaced = of
                .replaced
                .or(Some((of.seq, of.last)).filter(|(seq, _)| *seq > 0));
            state.open.remove(month);
        }
        if !state.open.contains_key(month) {
            let mut of = self.open_month(&path).map_err(io)?;
            of.replaced = replaced;
            state.open.insert(month.to_owned(), of);
        }
        let of = state.open.get_mut(month).expect("just inserted");
        let _lock = Flock::exclusive(&of.file).map_err(io)?;
        let mut len = of.file.metadata().map_err(io)?.len();
        let mut gap = None;
        let mut start = None;
        if len != of.len {
            // First append, or another process appended: read the last link,
            // and check it is the record the head anchor names. A log cut
            // short, or a head deleted, is not healed by chaining on
            // silently: an `audit_gap` record says what is missing.
            let link = read_last_link(&mut of.file, len).map_err(io)?;
            len = of.file.metadata().map_err(io)?.len();
            let (seq, last) = match link {
                Some(link) => link,
                None => {
                    let s = self.previous_link(month).map_err(io)?;
                    let from = s.chain(key, month);
                    start = Some(s);
                    (0, from)
                }
            };
            gap = chain::head_gap(&head_path(&path), month, all, seq, &last).or_else(|| {
                let kept = self.anchors.get(month)?;
                chain::kept_anchor_gap(&kept, month, all, seq, &last)
            });
            if let Some((had, _)) = of.replaced.filter(|&was| was != (seq, last)) {
                let what = format!(
                    "the log of {month} was removed or replaced while this process was writing it \
                     (it had written records up to {had})"
                );
                gap = Some(gap.map_or(what.clone(), |g| format!("{what}; {g}")));
            }
            of.seq = seq;
            of.last = last;
            of.len = len;
        }
        let gap_event = gap.map(|what| {
            tracing::error!(file = %path.display(), %what, "audit log gap");
            SecurityEvent::new(
                GAP_EVENT,
                None,
                serde_json::json!({ "file": path.display().to_string(), "what": what }),
            )
        });
        let mut buf = Vec::with_capacity(events.len() * 512);
        let (mut seq, mut last) = (of.seq, of.last);
        for ev in gap_event.iter().chain(events) {
            let first = if seq == 0 { start.as_ref() } else { None };
            let (line, mac) = chain::seal_line(key, seq + 1, &last, first, ev)
                .map_err(|e| AuditError::Encode(e.to_string()))?;
            buf.extend_from_slice(&line);
            seq += 1;
            last = mac;
        }
        // A full disk (or any failed write) leaves no torn line: the log
        // goes back to its last whole record, the head is left as it was.
        if let Err(e) = of.file.write_all(&buf) {
            of.cut_back(len);
            return Err(io(e));
        }
        // Still under the lock: the head names the record just written,
        // and so does the store's copy.
        let head_line = chain::head_line(key, month, seq, &last);
        let head = {
            use std::os::unix::fs::FileExt;
            of.head.write_all_at(&head_line, 0)
        };
        if let Err(e) = head {
            of.cut_back(len);
            of.restore_head(key, month);
            return Err(io(e));
        }
        self.anchors.keep(month, &head_line);
        of.seq = seq;
        of.last = last;
        of.len = len + buf.len() as u64;
        of.replaced = None;
        Ok(())
    }

    /// Opens (creating) the log of a month and its head anchor.
    fn open_month(&self, path: &Path) -> std::io::Result<OpenFile> {
        fsutil::private_dir(&self.dir)?;
        // Never through a symlink (appending to, or overwriting, a file
        // elsewhere), never another user's file.
        let open = |p: &Path, options: &mut OpenOptions| {
            options
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(p)
                .map_err(|e| fsutil::nofollow_error(e, p))
        };
        let file = open(path, OpenOptions::new().read(true).append(true))?;
        let head_file = head_path(path);
        let head = open(&head_file, OpenOptions::new().write(true).truncate(false))?;
        let mut ids = [(0, 0); 2];
        for (i, (f, p)) in [(&file, path), (&head, head_file.as_path())]
            .into_iter()
            .enumerate()
        {
            let meta = f.metadata()?;
            fsutil::check_owner(p, &meta)?;
            if !meta.file_type().is_file() {
                return Err(std::io::Error::other(format!(
                    "{} is not a regular file",
                    p.display()
                )));
            }
            ids[i] = (meta.dev(), meta.ino());
        }
        Ok(OpenFile {
            file,
            head,
            len: u64::MAX,
            seq: 0,
            last: [0; MAC_LEN],
            ids,
            replaced: None,
        })
    }

    /// Where a month's new chain starts: the last record of the latest
    /// earlier month whose log holds one, else the month's genesis.
    fn previous_link(&self, month: &str) -> std::io::Result<Start> {
        for (m, path) in list_files(&self.dir)?.into_iter().rev() {
            if m.as_str() >= month {
                continue;
            }
            let mut file = match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(fsutil::nofollow_error(e, &path)),
            };
            let len = file.metadata()?.len();
            if let Some((seq, chain)) = chain::last_link(&read_tail(&mut file, len)?) {
                // The months before it: those its own first record names.
                let earlier = chain::first_link(&read_head_bytes(&mut file, len)?)
                    .map(|l| {
                        let mut months = l.earlier;
                        months.push(l.month);
                        months
                    })
                    .unwrap_or_default();
                return Ok(Start::After(Link {
                    month: m,
                    seq,
                    chain,
                    earlier,
                }));
            }
        }
        Ok(Start::First)
    }

    /// Verifies every file; the first problem is the error.
    pub fn verify(&self, keyring: &Keyring) -> Result<Vec<FileReport>, Box<Tamper>> {
        verify_dir(&self.dir, keyring)
    }
}

impl OpenFile {
    /// Whether the log and head at their paths are still the files held.
    fn in_place(&self, path: &Path) -> std::io::Result<bool> {
        for (held, p) in self.ids.iter().zip([path, &head_path(path)]) {
            match std::fs::symlink_metadata(p) {
                Ok(m) if (m.dev(), m.ino()) == *held => {}
                Ok(_) => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// After a failed append: the log cut back to `len`, its last whole
    /// record (no new space needed). Best effort: what cannot be cut is
    /// found by the next append (a cut-short line) and by `verify`.
    fn cut_back(&mut self, len: u64) {
        if let Err(e) = self.file.set_len(len) {
            tracing::error!(error = %e, "cannot cut a failed audit append back");
        }
        self.len = u64::MAX;
    }

    /// After a failed head write: the head names the record before again,
    /// written in place.
    fn restore_head(&mut self, key: &ChainKey, month: &str) {
        use std::os::unix::fs::FileExt;
        let head = if self.seq == 0 {
            self.head.set_len(0)
        } else {
            self.head
                .write_all_at(&chain::head_line(key, month, self.seq, &self.last), 0)
        };
        if let Err(e) = head {
            tracing::error!(error = %e, "cannot restore the audit head anchor");
        }
    }
}

/// Verifies every log file in `dir`; the first problem (tampering before a
/// record that cannot be checked) is the error.
pub fn verify_dir(dir: &Path, keyring: &Keyring) -> Result<Vec<FileReport>, Box<Tamper>> {
    let v = verify_all(dir, keyring);
    let first = v
        .problems
        .iter()
        .find(|t| t.key_not_loaded.is_none())
        .or(v.problems.first());
    match first {
        Some(t) => Err(Box::new(t.clone())),
        None => Ok(v.files),
    }
}

/// Verifies every log file in `dir`, oldest month first, and the links
/// between months: every problem is named.
pub fn verify_all(dir: &Path, keyring: &Keyring) -> Verification {
    let keys = ChainKeys::new(keyring);
    let mut months = match list_files(dir) {
        Ok(files) => files,
        Err(e) => {
            return Verification {
                files: Vec::new(),
                problems: vec![Tamper {
                    file: dir.to_owned(),
                    line: 0,
                    seq: None,
                    event_id: None,
                    reason: format!("cannot list the audit folder: {e}"),
                    key_not_loaded: None,
                }],
                warnings: Vec::new(),
            };
        }
    };
    // A head anchor whose log is gone: the log was deleted.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let log = path.with_extension("");
            if path.extension().is_some_and(|e| e == "head")
                && let Some(month) = month_of(&log)
                && !months.iter().any(|(m, _)| *m == month)
            {
                months.push((month, log));
            }
        }
    }
    // The store's copy of the head anchors: a month it names whose log and
    // head are both gone was deleted.
    // A store that does not answer (a full disk, a lock) is said, and the
    // logs are checked against their head files alone.
    let (kept, warning) = match super::anchors::all(dir) {
        Ok(kept) => (kept.unwrap_or_default(), None),
        Err(reason) => (
            HashMap::new(),
            Some(format!(
                "{reason}: checked against the head anchor files only"
            )),
        ),
    };
    for month in kept.keys() {
        if !months.iter().any(|(m, _)| m == month) {
            months.push((month.clone(), dir.join(file_name(month))));
        }
    }
    months.sort();
    let mut v = chain::verify_months(&months, &keys, &kept);
    v.warnings.extend(warning);
    v
}

/// The event type of the record that says the log lost records before it.
pub const GAP_EVENT: &str = "audit_gap";

/// A log file in the audit folder of `data_dir` that holds records: the
/// data dir has history (sealed under a master key, beside a store).
pub fn history(data_dir: &Path) -> Option<PathBuf> {
    list_files(&data_dir.join("audit"))
        .ok()?
        .into_iter()
        .map(|(_, p)| p)
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.len() > 0))
}

/// The head anchor of a log file: `<log>.head`.
pub fn head_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

/// The log files of `dir`, oldest month first (none when it does not exist).
pub fn list_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if let Some(month) = month_of(&path) {
            files.push((month, path));
        }
    }
    files.sort();
    Ok(files)
}

/// The sequence number and chain value of the log's last record (`None`
/// for a log without chained records). A write cut short is closed with a
/// newline first, so the next record starts on its own line.
fn read_last_link(file: &mut File, len: u64) -> std::io::Result<Option<(u64, [u8; MAC_LEN])>> {
    let tail = read_tail(file, len)?;
    if !tail.is_empty() && !tail.ends_with(b"\n") {
        file.write_all(b"\n")?;
    }
    Ok(chain::last_link(&tail))
}

/// The first 256 KiB of a file of `len` bytes.
fn read_head_bytes(file: &mut File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0u8; len.min(256 * 1024) as usize];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut head)?;
    Ok(head)
}

/// The last 256 KiB of a file of `len` bytes.
fn read_tail(file: &mut File, len: u64) -> std::io::Result<Vec<u8>> {
    let take = len.min(256 * 1024);
    file.seek(SeekFrom::Start(len - take))?;
    let mut tail = vec![0u8; take as usize];
    file.read_exact(&mut tail)?;
    Ok(tail)
}

/// An exclusive advisory lock held until dropped.
struct Flock(i32);

impl Flock {
    fn exclusive(file: &File) -> std::io::Result<Self> {
        let fd = file.as_raw_fd();
        // SAFETY: flock on a descriptor we own for the lock's lifetime.
        if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self(fd))
    }
}

impl Drop for Flock {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor locked in `exclusive`.
        unsafe {
            libc::flock(self.0, libc::LOCK_UN);
        }
    }
}

impl AuditSink for LocalLog {
    fn record(&self, ev: &SecurityEvent) -> Result<(), AuditError> {
        self.append(std::slice::from_ref(ev))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_log_written_before_the_chain_or_cut_short_still_takes_appends() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Arc::new(Keyring::new(MasterKey::generate()));
        let log = LocalLog::with_keyring(dir.path().join("audit"), ring.clone());
        let old = SecurityEvent::new("mfa_success", Some("alice"), serde_json::json!({}));
        let path = log.file_for(&old.month());
        std::fs::create_dir_all(log.dir()).unwrap();
        let legacy = serde_json::to_string(&old).unwrap() + "\n";
        std::fs::write(&path, legacy.repeat(2)).unwrap();
        log.record(&old).unwrap();
        log.record(&old).unwrap();
        // The unchained records are not trusted: verify names the first.
        let err = log.verify(&ring).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.reason.contains("before the log was chained"), "{err}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().nth(2).unwrap().starts_with("{\"seq\":1,"));
        // A write cut short: appends go on, verify names the damaged line.
        let chained: String = text.lines().skip(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, chained).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":3,\"kid").unwrap();
        let fresh = LocalLog::with_keyring(dir.path().join("audit"), ring.clone());
        fresh.record(&old).unwrap();
        let err = fresh.verify(&ring).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().last().unwrap().contains("\"seq\":3"));
    }

    #[test]
    fn appends_chained_json_lines_to_a_private_monthly_file() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Arc::new(Keyring::new(MasterKey::generate()));
        let log = LocalLog::with_keyring(dir.path().join("audit"), ring.clone());
        let a = SecurityEvent::new("mfa_success", Some("alice"), serde_json::json!({}));
        let b = SecurityEvent::new("mfa_failure", Some("alice"), serde_json::json!({"n": 1}));
        log.record(&a).unwrap();
        // A second writer (another process) appends in between.
        let other = LocalLog::with_keyring(dir.path().join("audit"), ring.clone());
        let c = SecurityEvent::new("step_up", Some("bob"), serde_json::json!({}));
        other.record(&c).unwrap();
        log.record(&b).unwrap();
        let path = log.file_for(&a.month());
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<SecurityEvent> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events, [a, c, b]);
        let reports = log.verify(&ring).unwrap();
        assert_eq!(reports[0].records, 3);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(log.dir()), 0o700);
        // Another key does not verify it.
        let stranger = Keyring::new(MasterKey::generate());
        let err = log.verify(&stranger).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.reason.contains("not loaded"), "{err}");
    }

    #[test]
    fn records_cut_off_the_end_or_a_deleted_log_are_detected_by_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Arc::new(Keyring::new(MasterKey::generate()));
        let log = LocalLog::with_keyring(dir.path().join("audit"), ring.clone());
        let ev = |n: u32| {
            SecurityEvent::new("mfa_failure", Some("alice"), serde_json::json!({ "n": n }))
        };
        for n in 0..3 {
            log.record(&ev(n)).unwrap();
        }
        let path = log.file_for(&ev(0).month());
        let head = head_path(&path);
        assert_eq!(log.verify(&ring).unwrap()[0].records, 3);
        assert_eq!(
            std::fs::metadata(&head).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let full = std::fs::read_to_string(&path).unwrap();
        let head_bytes = std::fs::read(&head).unwrap();

        // The last record removed: the chain alone cannot tell, the head does.
        let two: String = full.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, &two).unwrap();
        let err = log.verify(&ring).unwrap_err();
        assert!(
            err.reason
                .contains("records 3 to 3 were removed from the end"),
            "{err}"
        );

        // The head removed too, or edited to match: still named.
        std::fs::remove_file(&head).unwrap();
        let err = log.verify(&ring).unwrap_err();
        assert!(
            err.reason.contains("head anchor") && err.reason.contains("missing"),
            "{err}"
        );
        let forged = String::from_utf8(head_bytes.clone())
            .unwrap()
            .replacen("3 ", "2 ", 1);
        std::fs::write(&head, forged).unwrap();
        let err = log.verify(&ring).unwrap_err();
        assert!(err.reason.contains("was edited"), "{err}");

        // The whole log deleted while its head remains.
        std::fs::write(&head, &head_bytes).unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = log.verify(&ring).unwrap_err();
        assert!(err.reason.contains("was deleted"), "{err}");

        // Restored: intact again, and appends go on from the head's record.
        std::fs::write(&path, &full).unwrap();
        assert_eq!(log.verify(&ring).unwrap()[0].records, 3);
        let again = LocalLog::with_keyring(dir.path().join("audit"), ring.clone());
        again.record(&ev(3)).unwrap();
        assert_eq!(log.verify(&ring).unwrap()[0].records, 4);
    }
}
