//! Logging with tracing to a file in the state dir (0600), never to the
//! terminal the console draws on.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::fsutil;

/// Starts logging to `file` at `level`; keep the guard alive until exit.
pub fn init(file: &Path, level: &str) -> anyhow::Result<WorkerGuard> {
    fsutil::private_file(file)
        .map_err(|e| anyhow::anyhow!("cannot create the log file {}: {e}", file.display()))?;
    let f = std::fs::OpenOptions::new().append(true).open(file)?;
    let (writer, guard) = tracing_appender::non_blocking(f);
    let filter = EnvFilter::try_new(format!("windflow={level},warn"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("logging: {e}"))?;
    Ok(guard)
}
