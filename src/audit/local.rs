//! The embedded audit sink: JSON lines appended to a monthly file in the data dir.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{AuditError, AuditSink, SecurityEvent};
use crate::fsutil;

/// Appends each event as one JSON line to
/// `<data_dir>/audit/windflow-security-YYYY-MM.jsonl` (by the event's month).
/// The folder is 0700 and the files 0600. Several processes may append at once:
/// every event is a single `write` on a file opened for appending.
#[derive(Debug)]
pub struct LocalLog {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl LocalLog {
    /// The log in `<data_dir>/audit`.
    pub fn new(data_dir: &Path) -> Self {
        Self::in_dir(data_dir.join("audit"))
    }

    /// The log in `dir` itself.
    pub fn in_dir(dir: PathBuf) -> Self {
        Self {
            dir,
            lock: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that events of `month` (`YYYY-MM`) go to.
    pub fn file_for(&self, month: &str) -> PathBuf {
        self.dir.join(format!("windflow-security-{month}.jsonl"))
    }
}

impl AuditSink for LocalLog {
    fn record(&self, ev: &SecurityEvent) -> Result<(), AuditError> {
        let path = self.file_for(&ev.month());
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(ev).map_err(|e| AuditError::Encode(e.to_string()))?;
        line.push(b'\n');
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        fsutil::private_dir(&self.dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        file.write_all(&line).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn appends_json_lines_to_a_private_monthly_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::new(dir.path());
        let a = SecurityEvent::new("mfa_success", Some("alice"), serde_json::json!({}));
        let b = SecurityEvent::new("mfa_failure", Some("alice"), serde_json::json!({"n": 1}));
        log.record(&a).unwrap();
        log.record(&b).unwrap();
        let path = log.file_for(&a.month());
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<SecurityEvent> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events, [a, b]);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(log.dir()), 0o700);
    }
}
