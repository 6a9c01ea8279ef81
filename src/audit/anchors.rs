//! The store's copy of each month's head anchor.
//!
//! The head anchor file beside a log names its last record; deleting the
//! end of the log together with the head file (or the whole month, log and
//! head) leaves nothing in the audit folder to tell. So every append also
//! keeps the head line, as written (MACed with the chain key and bound to
//! its month), in the store (`audit.anchors`, one row per month). Before an
//! append and in `audit verify`, a log that ends before the record the
//! store's copy names, or a month whose log is gone while the store names
//! its records, is a gap, said in words.
//!
//! The copy is kept only where the data dir has a store (`windflow.db`); a
//! failure to write it is logged and the append stands (the log and its head
//! file are the record; the copy is a check). It does not hold against an
//! attacker who also rolls the store back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::store::Store;

/// The store namespace: key = month (`YYYY-MM`), value = the head line.
pub const NS: &str = "audit.anchors";

/// The anchors of one audit folder's data dir.
pub struct Anchors {
    data_dir: PathBuf,
    store: Mutex<Option<Arc<Store>>>,
}

impl std::fmt::Debug for Anchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anchors")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// The data dir's store, when it has one (never created here).
fn existing_store(data_dir: &Path) -> Option<Result<Arc<Store>, String>> {
    let db = data_dir.join(crate::store::FILE_NAME);
    let has_store = std::fs::symlink_metadata(&db).is_ok_and(|m| m.len() > 0);
    has_store.then(|| Store::open(data_dir).map_err(|e| e.to_string()))
}

impl Anchors {
    /// The anchors kept for the audit folder `audit_dir` (its parent is the
    /// data dir).
    pub fn for_audit_dir(audit_dir: &Path) -> Self {
        Self {
            data_dir: audit_dir.parent().unwrap_or(audit_dir).to_owned(),
            store: Mutex::new(None),
        }
    }

    fn store(&self) -> Option<Arc<Store>> {
        let mut held = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_none() {
            match existing_store(&self.data_dir)? {
                Ok(s) => *held = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "the store's copy of the audit head anchors is not readable");
                    return None;
                }
            }
        }
        held.clone()
    }

    /// Keeps `head_line` as the anchor of `month`.
    pub fn keep(&self, month: &str, head_line: &[u8]) {
        let Some(store) = self.store() else { return };
        if let Err(e) = store.put(NS, month, head_line) {
            tracing::warn!(month, error = %e, "the store's copy of the audit head anchor was not written");
        }
    }

    /// The anchor kept for `month`, if any.
    pub fn get(&self, month: &str) -> Option<Vec<u8>> {
        let store = self.store()?;
        match store.get(NS, month) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(month, error = %e, "the store's copy of the audit head anchor is not readable");
                None
            }
        }
    }
}

/// Every anchor kept for the audit folder `audit_dir`, by month: `Ok(None)`
/// when its data dir has no store.
pub fn all(audit_dir: &Path) -> Result<Option<HashMap<String, Vec<u8>>>, String> {
    let data_dir = audit_dir.parent().unwrap_or(audit_dir);
    let Some(store) = existing_store(data_dir) else {
        return Ok(None);
    };
    let read = store.and_then(|s| s.list(NS, "").map_err(|e| e.to_string()));
    read.map(|rows| Some(rows.into_iter().collect()))
        .map_err(|e| format!("cannot read the store's copy of the head anchors: {e}"))
}
