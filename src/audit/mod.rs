//! Security events: the model ([`SecurityEvent`], [`Severity`]), the sink
//! trait and the embedded sink ([`LocalLog`]), and the [`Audit`] handle the
//! domains emit through.
//!
//! ```
//! use windflow::audit::{Audit, MemorySink};
//! use std::sync::Arc;
//!
//! let sink = Arc::new(MemorySink::default());
//! let audit = Audit::new(sink.clone());
//! audit.emit("mfa_success", Some("alice"), serde_json::json!({"method": "totp"})).unwrap();
//! assert_eq!(sink.events()[0].event_type, "mfa_success");
//! ```

pub mod agent;
pub mod alert;
pub mod alertmanager;
pub mod anchors;
pub mod chain;
pub mod demo;
pub mod elastic;
mod event;
pub mod local;
pub mod owed;
pub mod pane;
pub mod query;
pub mod service;
pub mod settings;
pub mod silences;
pub mod source;
pub mod spool;
pub mod tail;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use event::{Origin, SecurityEvent, Severity};
pub use local::LocalLog;

/// Why an event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "cannot write the audit log {path}: {source} (check the data dir's permissions and free space)"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("disk full: {} (free space and retry)", .path.display())]
    DiskFull { path: PathBuf },
    #[error("cannot encode a security event: {0}")]
    Encode(String),
    #[error("cannot load the master key that chains the audit log: {0}")]
    Key(String),
}

impl AuditError {
    /// A failed read or write of `path`; a full disk is named as such.
    pub fn io(path: PathBuf, source: std::io::Error) -> Self {
        if crate::fsutil::is_disk_full(&source) {
            Self::DiskFull { path }
        } else {
            Self::Io { path, source }
        }
    }
}

/// Somewhere security events go (a local log, Elasticsearch, ...).
pub trait AuditSink: Send + Sync {
    fn record(&self, ev: &SecurityEvent) -> Result<(), AuditError>;
}

/// The handle the domains emit events through; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    sink: Arc<dyn AuditSink>,
    origin: Origin,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Audit {
    pub fn new(sink: Arc<dyn AuditSink>) -> Self {
        Self {
            sink,
            origin: Origin::default(),
        }
    }

    /// The embedded default: a [`LocalLog`] in `<data_dir>/audit`.
    pub fn local(data_dir: &std::path::Path) -> Self {
        Self::new(Arc::new(LocalLog::new(data_dir)))
    }

    /// A handle that drops every event (for tests and throwaway stores).
    pub fn discard() -> Self {
        Self::new(Arc::new(Discard))
    }

    /// Stamps every event emitted through this handle with `origin`.
    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// Records an event of `event_type` about `user` now; returns it.
    /// `details` must never hold a secret.
    pub fn emit(
        &self,
        event_type: &str,
        user: Option<&str>,
        details: serde_json::Value,
    ) -> Result<SecurityEvent, AuditError> {
        let ev = SecurityEvent::new(event_type, user, details).with_origin(&self.origin);
        self.sink.record(&ev)?;
        Ok(ev)
    }

    /// Records an already built event.
    pub fn record(&self, ev: &SecurityEvent) -> Result<(), AuditError> {
        self.sink.record(ev)
    }
}

/// Records every event in each of several sinks (e.g. the local log and
/// Elasticsearch); fails if any fails, after trying all.
pub struct Fanout(pub Vec<Arc<dyn AuditSink>>);

impl AuditSink for Fanout {
    fn record(&self, ev: &SecurityEvent) -> Result<(), AuditError> {
        let mut first_err = None;
        for s in &self.0 {
            if let Err(e) = s.record(ev) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Drops every event.
#[derive(Debug, Default)]
pub struct Discard;

impl AuditSink for Discard {
    fn record(&self, _: &SecurityEvent) -> Result<(), AuditError> {
        Ok(())
    }
}

/// Keeps events in memory (tests, the console's recent-events view).
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<SecurityEvent>>,
}

impl MemorySink {
    /// Every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<SecurityEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The event types recorded so far, oldest first.
    pub fn types(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.event_type).collect()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, ev: &SecurityEvent) -> Result<(), AuditError> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ev.clone());
        Ok(())
    }
}
