//! The embedded audit sink: an append-only, HMAC-chained JSON-lines log, one
//! file per month in the data dir (see [`super::chain`] for the record format).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::chain::{self, ChainKey, ChainKeys, FileReport, MAC_LEN, Tamper};
use super::{AuditError, AuditSink, SecurityEvent};
use crate::crypto::{KEY_FILE_NAME, KeySource, Keyring};
use crate::fsutil;

/// Appends each event as one chained JSON line to
/// `<data_dir>/audit/windflow-security-YYYY-MM.jsonl` (by the event's month).
/// The folder is 0700 and the files 0600. Several processes may append at
/// once: each append holds an exclusive `flock` on the file while it reads
/// the previous link and writes its line.
pub struct LocalLog {
    dir: PathBuf,
    keys: KeyProvider,
    state: Mutex<State>,
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
        }
    }

    /// The log in `dir` itself, chained with the primary key of `keyring`.
    pub fn with_keyring(dir: PathBuf, keyring: Arc<Keyring>) -> Self {
        Self {
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
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        if !state.open.contains_key(month) {
            fsutil::private_dir(&self.dir).map_err(io)?;
            // Never through a symlink (appending to, or overwriting, a file
            // elsewhere), never another user's file.
            let file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&path)
                .map_err(|e| io(fsutil::nofollow_error(e, &path)))?;
            let head_file = head_path(&path);
            let head = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&head_file)
                .map_err(|e| io(fsutil::nofollow_error(e, &head_file)))?;
            for (f, p) in [(&file, &path), (&head, &head_file)] {
                let meta = f.metadata().map_err(io)?;
                fsutil::check_owner(p, &meta).map_err(io)?;
                if !meta.file_type().is_file() {
                    return Err(io(std::io::Error::other(format!(
                        "{} is not a regular file",
                        p.display()
                    ))));
                }
            }
            state.open.insert(
                month.to_owned(),
                OpenFile {
                    file,
                    head,
                    len: u64::MAX,
                    seq: 0,
                    last: [0; MAC_LEN],
                },
            );
        }
        let of = state.open.get_mut(month).expect("just inserted");
        let _lock = Flock::exclusive(&of.file).map_err(io)?;
        let len = of.file.metadata().map_err(io)?.len();
        let mut len = len;
        let mut gap = None;
        if len != of.len {
            // First append, or another process appended: read the last link,
            // and check it is the record the head anchor names. A log cut
            // short, or a head deleted, is not healed by chaining on
            // silently: an `audit_gap` record says what is missing.
            let (seq, last) = read_last_link(&mut of.file, len, key, month).map_err(io)?;
            len = of.file.metadata().map_err(io)?.len();
            gap = chain::head_gap(&head_path(&path), month, all, seq, &last);
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
            let (line, mac) = chain::seal_line(key, seq + 1, &last, ev)
                .map_err(|e| AuditError::Encode(e.to_string()))?;
            buf.extend_from_slice(&line);
            seq += 1;
            last = mac;
        }
        if let Err(e) = of.file.write_all(&buf) {
            of.len = u64::MAX;
            return Err(io(e));
        }
        // Still under the lock: the head names the record just written.
        {
            use std::os::unix::fs::FileExt;
            of.head
                .write_all_at(&chain::head_line(key, month, seq, &last), 0)
                .map_err(io)?;
        }
        of.seq = seq;
        of.last = last;
        of.len = len + buf.len() as u64;
        Ok(())
    }

    /// Verifies every file; the first bad record is the error.
    pub fn verify(&self, keyring: &Keyring) -> Result<Vec<FileReport>, Box<Tamper>> {
        verify_dir(&self.dir, keyring)
    }
}

/// Verifies every log file in `dir`, oldest month first.
pub fn verify_dir(dir: &Path, keyring: &Keyring) -> Result<Vec<FileReport>, Box<Tamper>> {
    let keys = ChainKeys::new(keyring);
    let files = list_files(dir).map_err(|e| {
        Box::new(Tamper {
            file: dir.to_owned(),
            line: 0,
            seq: None,
            event_id: None,
            reason: format!("cannot list the audit folder: {e}"),
            key_not_loaded: None,
        })
    })?;
    let mut months: Vec<(String, PathBuf)> = files;
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
    months.sort();
    months
        .iter()
        .map(|(month, path)| {
            chain::verify_with_head(path, &head_path(path), month, &keys).map_err(Box::new)
        })
        .collect()
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

fn read_last_link(
    file: &mut File,
    len: u64,
    key: &ChainKey,
    month: &str,
) -> std::io::Result<(u64, [u8; MAC_LEN])> {
    if len == 0 {
        return Ok((0, key.genesis(month)));
    }
    let take = len.min(256 * 1024);
    file.seek(SeekFrom::Start(len - take))?;
    let mut tail = vec![0u8; take as usize];
    file.read_exact(&mut tail)?;
    if !tail.ends_with(b"\n") {
        // A write cut short: the next record starts on its own line.
        file.write_all(b"\n")?;
    }
    Ok(chain::last_link(&tail).unwrap_or_else(|| (0, key.genesis(month))))
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
