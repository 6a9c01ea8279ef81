//! The disk spool in front of Elasticsearch: events are appended as JSON
//! lines; a separate offset file records how far they were shipped. The
//! shipper reads from the offset, sends, then advances it; once everything is
//! shipped the spool is emptied. Events leave in the order they came.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{AuditError, SecurityEvent};
use crate::fsutil;

pub struct Spool {
    path: PathBuf,
    offset_path: PathBuf,
    lock: Mutex<()>,
}

/// Events read from the spool, and where the read ended.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<SecurityEvent>,
    start: u64,
    end: u64,
}

impl Spool {
    /// The spool `es-spool.jsonl` in `dir` (0700; files 0600).
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        fsutil::private_dir(dir).map_err(|source| AuditError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            path: dir.join("es-spool.jsonl"),
            offset_path: dir.join("es-spool.offset"),
            lock: Mutex::new(()),
        })
    }

    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn file(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
    }

    fn offset(&self) -> u64 {
        std::fs::read_to_string(&self.offset_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Appends `ev`; returns how many bytes wait to be shipped (a rough count
    /// of events: see [`Spool::pending`]).
    pub fn append(&self, ev: &SecurityEvent) -> Result<u64, AuditError> {
        let mut line = serde_json::to_vec(ev).map_err(|e| AuditError::Encode(e.to_string()))?;
        line.push(b'\n');
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = self.file().map_err(|e| self.io(e))?;
        f.write_all(&line).map_err(|e| self.io(e))?;
        let len = f.metadata().map_err(|e| self.io(e))?.len();
        // Roughly 400 bytes an event: only used to decide when to wake the shipper.
        Ok(len.saturating_sub(self.offset()) / 400)
    }

    /// Up to `max` events from the shipped offset on, without consuming them.
    pub fn peek(&self, max: usize) -> Result<Batch, AuditError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let start = self.offset();
        let mut f = self.file().map_err(|e| self.io(e))?;
        let len = f.metadata().map_err(|e| self.io(e))?.len();
        let mut events = Vec::new();
        if len <= start {
            return Ok(Batch {
                events,
                start,
                end: start,
            });
        }
        f.seek(SeekFrom::Start(start)).map_err(|e| self.io(e))?;
        let mut buf = Vec::new();
        f.take((len - start).min(64 << 20))
            .read_to_end(&mut buf)
            .map_err(|e| self.io(e))?;
        let mut end = start;
        let mut pos = 0usize;
        while events.len() < max {
            let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let line = &buf[pos..pos + nl];
            pos += nl + 1;
            end = start + pos as u64;
            match serde_json::from_slice(line) {
                Ok(ev) => events.push(ev),
                Err(e) => {
                    tracing::error!(error = %e, "skipping an unreadable line of the audit spool")
                }
            }
        }
        Ok(Batch { events, start, end })
    }

    /// Marks `batch` as shipped; empties the spool once all of it is.
    pub fn commit(&self, batch: &Batch) -> Result<(), AuditError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.offset() != batch.start {
            return Ok(()); // another shipper committed it
        }
        let f = self.file().map_err(|e| self.io(e))?;
        let len = f.metadata().map_err(|e| self.io(e))?.len();
        if batch.end >= len {
            f.set_len(0).map_err(|e| self.io(e))?;
            fsutil::write_private(&self.offset_path, b"0").map_err(|e| self.io(e))?;
        } else {
            fsutil::write_private(&self.offset_path, batch.end.to_string().as_bytes())
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Events not shipped yet.
    pub fn pending(&self) -> Result<u64, AuditError> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let start = self.offset();
        let mut f = self.file().map_err(|e| self.io(e))?;
        f.seek(SeekFrom::Start(start)).map_err(|e| self.io(e))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).map_err(|e| self.io(e))?;
        Ok(buf.iter().filter(|&&b| b == b'\n').count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_in_order_and_empties() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let evs: Vec<_> = (0..5)
            .map(|i| SecurityEvent::new(&format!("t{i}"), None, serde_json::json!({})))
            .collect();
        for e in &evs {
            spool.append(e).unwrap();
        }
        assert_eq!(spool.pending().unwrap(), 5);
        let b = spool.peek(3).unwrap();
        assert_eq!(b.events, evs[..3]);
        // Not committed: read again.
        assert_eq!(spool.peek(3).unwrap().events, evs[..3]);
        spool.commit(&b).unwrap();
        // Reopened (a new process) it continues where it left off.
        let spool = Spool::open(dir.path()).unwrap();
        let b = spool.peek(10).unwrap();
        assert_eq!(b.events, evs[3..]);
        spool.commit(&b).unwrap();
        assert_eq!(spool.pending().unwrap(), 0);
        assert_eq!(
            std::fs::metadata(dir.path().join("es-spool.jsonl"))
                .unwrap()
                .len(),
            0
        );
    }
}
