//! Following the local log as it grows: new complete lines of every monthly
//! file, from where the last poll stopped.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::local::list_files;

/// Reads what was appended to the log files since the last poll.
#[derive(Debug)]
pub struct LocalFollower {
    dir: PathBuf,
    offsets: HashMap<PathBuf, u64>,
}

impl LocalFollower {
    /// From the start of every file (the whole history first).
    pub fn from_start(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            offsets: HashMap::new(),
        }
    }

    /// From the current end of every file (only what comes next).
    pub fn at_end(dir: &Path) -> Self {
        let mut f = Self::from_start(dir);
        if let Ok(files) = list_files(dir) {
            for (_, path) in files {
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                f.offsets.insert(path, len);
            }
        }
        f
    }

    /// New complete lines, one chunk per file that grew (oldest month first).
    /// A file that shrank (rewritten) is read again from its start.
    pub fn poll(&mut self) -> std::io::Result<Vec<Vec<u8>>> {
        self.poll_step(u64::MAX).map(|(c, _)| c)
    }

    /// Like [`LocalFollower::poll`], reading at most about `max` bytes; the
    /// flag says whether more is waiting.
    pub fn poll_step(&mut self, max: u64) -> std::io::Result<(Vec<Vec<u8>>, bool)> {
        let mut chunks = Vec::new();
        let mut budget = max;
        let mut more = false;
        for (_, path) in list_files(&self.dir)? {
            let len = std::fs::metadata(&path)?.len();
            let off = self.offsets.entry(path.clone()).or_insert(0);
            if len < *off {
                *off = 0;
            }
            if len == *off {
                continue;
            }
            if budget == 0 {
                more = true;
                break;
            }
            let take = (len - *off).min(budget);
            if take < len - *off {
                more = true;
            }
            budget -= take;
            let mut f = File::open(&path)?;
            f.seek(SeekFrom::Start(*off))?;
            let mut buf = Vec::with_capacity(take as usize);
            f.take(take).read_to_end(&mut buf)?;
            // Keep a partial last line for the next poll.
            let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            buf.truncate(end + 1);
            *off += buf.len() as u64;
            chunks.push(buf);
        }
        Ok((chunks, more))
    }
}
