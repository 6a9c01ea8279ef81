//! Shared helpers for the integration tests.

#![allow(dead_code)]

pub mod audit_servers;
pub mod pty;
pub mod secrets_bao;
pub mod sessions_redis;

use std::path::PathBuf;

/// Path of the `windflow` binary under test.
///
/// Cargo sets `CARGO_BIN_EXE_windflow` when it builds this test crate; the
/// fallback lets the harness be compiled by a crate that has no such binary.
pub fn windflow_bin() -> PathBuf {
    PathBuf::from(option_env!("CARGO_BIN_EXE_windflow").unwrap_or("target/debug/windflow"))
}
