//! Shared helpers for the integration tests.

#![allow(dead_code)]

pub mod alertmanager;
pub mod anomaly;
pub mod audit_auth;
pub mod audit_servers;
pub mod audit_tail;
pub mod cli;
pub mod kube_api;
pub mod pty;
pub mod readme;
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

/// Every pane, with `pane` in place of the one of the same id (a pane fed
/// by a test's own channel, or its own feed).
pub fn panes_with(
    pane: Box<dyn windflow::console::panes::Pane>,
) -> Vec<Box<dyn windflow::console::panes::Pane>> {
    let mut panes = windflow::console::panes();
    if let Some(p) = panes.iter_mut().find(|p| p.id() == pane.id()) {
        *p = pane;
    }
    panes
}

/// An event on the common channel or the domain's own.
pub enum Next<E> {
    Common(windflow::service::ServiceEvent),
    Domain(E),
}

/// Stands between a domain's service and its pane in a test: the test sees
/// each event first ([`Relay::next_any`]), then hands it on
/// ([`Relay::pass`]) and wakes the console (`Msg::Wake`).
pub struct Relay<E> {
    from_service: windflow::service::DomainRx<E>,
    to_pane: windflow::service::DomainTx<E>,
    /// The service's common channel (health, activity), kept open.
    pub common: windflow::service::EventRx,
}

impl<E> Relay<E> {
    /// The relay, the service's sink, and the pane's end.
    pub fn new() -> (
        Self,
        windflow::service::Sink<E>,
        windflow::service::DomainRx<E>,
    ) {
        let (sink, common, from_service) = windflow::service::detached();
        let (to_pane, pane_rx) = windflow::service::Wake::default().channel();
        (
            Self {
                from_service,
                to_pane,
                common,
            },
            sink,
            pane_rx,
        )
    }

    /// The next event on either of the service's channels (no time limit).
    pub async fn next_any(&mut self) -> Next<E> {
        tokio::select! {
            Some(ev) = self.common.recv() => Next::Common(ev),
            Some(ev) = self.from_service.recv() => Next::Domain(ev),
        }
    }

    pub fn pass(&self, ev: E) {
        assert!(self.to_pane.try_send(ev), "the pane's channel has room");
    }
}

/// Each request as a request of `R`'s domain (None for any other).
pub fn gets<R: windflow::service::DomainRequestKind>(
    reqs: &[windflow::console::app::Request],
) -> Vec<Option<&R>> {
    reqs.iter().map(|r| r.get::<R>()).collect()
}
