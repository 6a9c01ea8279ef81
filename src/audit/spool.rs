//! The disk spool in front of Elasticsearch: events are appended as JSON
//! lines; a separate offset file records how far they were shipped. The
//! shipper reads from the offset, sends, then advances it; once everything is
//! shipped the spool is emptied. Events leave in the order they came.
//!
//! The console, commands and the agent share the spool: every step holds an
//! exclusive `flock` on `es-spool.lock` across processes. Emptying writes the
//! offset 0 before cutting the file, so a crash in between ships the same
//! events again (they are indexed by their id: a repeat changes nothing)
//! rather than skipping later ones.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{AuditError, SecurityEvent};
use crate::fsutil;

pub struct Spool {
    path: PathBuf,
    offset_path: PathBuf,
    lock_path: PathBuf,
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
            lock_path: dir.join("es-spool.lock"),
        })
    }

    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Held for each step, across processes.
    fn lock(&self) -> Result<fsutil::FileLock, AuditError> {
        fsutil::FileLock::exclusive(&self.lock_path).map_err(|e| self.io(e))
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
        let _g = self.lock()?;
        let mut f = self.file().map_err(|e| self.io(e))?;
        f.write_all(&line).map_err(|e| self.io(e))?;
        let len = f.metadata().map_err(|e| self.io(e))?.len();
        // Roughly 400 bytes an event: only used to decide when to wake the shipper.
        Ok(len.saturating_sub(self.offset()) / 400)
    }

    /// Up to `max` events from the shipped offset on, without consuming them.
    pub fn peek(&self, max: usize) -> Result<Batch, AuditError> {
        let _g = self.lock()?;
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
        let _g = self.lock()?;
        if self.offset() != batch.start {
            return Ok(()); // another shipper committed it
        }
        let f = self.file().map_err(|e| self.io(e))?;
        let len = f.metadata().map_err(|e| self.io(e))?.len();
        if batch.end >= len {
            // Offset first: a crash before the cut ships these again (by id:
            // no harm) instead of skipping what comes next.
            fsutil::write_private(&self.offset_path, b"0").map_err(|e| self.io(e))?;
            f.set_len(0).map_err(|e| self.io(e))?;
        } else {
            fsutil::write_private(&self.offset_path, batch.end.to_string().as_bytes())
                .map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Events not shipped yet.
    pub fn pending(&self) -> Result<u64, AuditError> {
        let _g = self.lock()?;
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

    #[test]
    fn writers_and_a_shipper_with_their_own_handles_ship_every_event_exactly_once() {
        // Each thread opens the spool itself, as separate processes do: only
        // the file lock keeps the shipper's cut from eating an append.
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let dir = dir.path().to_owned();
                std::thread::spawn(move || {
                    let spool = Spool::open(&dir).unwrap();
                    for i in 0..2000 {
                        let ev = SecurityEvent::new(
                            "t",
                            Some(&format!("w{w}-{i}")),
                            serde_json::json!({}),
                        );
                        spool.append(&ev).unwrap();
                    }
                })
            })
            .collect();
        let shipper = Spool::open(dir.path()).unwrap();
        let mut shipped = Vec::new();
        let mut drain = |done: bool| loop {
            let b = shipper.peek(usize::MAX).unwrap();
            if b.events.is_empty() {
                return;
            }
            shipped.extend(b.events.iter().map(|e| e.user_id.clone().unwrap()));
            shipper.commit(&b).unwrap();
            if !done {
                return;
            }
        };
        while writers.iter().any(|w| !w.is_finished()) {
            drain(false);
        }
        for w in writers {
            w.join().unwrap();
        }
        drain(true);
        let mut unique = shipped.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), shipped.len(), "an event was shipped twice");
        assert_eq!(shipped.len(), 8000, "an event was lost");
    }
}
