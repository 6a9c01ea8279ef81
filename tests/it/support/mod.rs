//! Shared helpers for the integration tests.

#![allow(dead_code)]

pub mod audit_auth;
pub mod audit_servers;
pub mod cli;
pub mod pty;
pub mod secrets_bao;
pub mod sessions_redis;
pub mod slow_proxy;
pub mod tls;

use std::path::PathBuf;

/// Path of the `windflow` binary under test.
///
/// Cargo sets `CARGO_BIN_EXE_windflow` when it builds this test crate; the
/// fallback lets the harness be compiled by a crate that has no such binary.
pub fn windflow_bin() -> PathBuf {
    PathBuf::from(option_env!("CARGO_BIN_EXE_windflow").unwrap_or("target/debug/windflow"))
}

/// The Python the tests use (`WINDFLOW_TEST_PYTHON`, else the venv that
/// `scripts/test` makes in `target/venv`), checked to import `module`; a failure
/// says how to get it.
pub fn python_with(module: &str) -> PathBuf {
    let python = std::env::var_os("WINDFLOW_TEST_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python3"),
        PathBuf::from,
    );
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} is missing or lacks the Python package `{module}`: run scripts/test, which \
         installs it into target/venv (or set WINDFLOW_TEST_PYTHON)",
        python.display()
    );
    python
}

/// Every security event in the local audit log of the data dir `data`,
/// oldest month first (the `.jsonl` logs, not their head anchors).
pub fn audit_events(data: &std::path::Path) -> Vec<windflow::audit::SecurityEvent> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("audit"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", p.display()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
