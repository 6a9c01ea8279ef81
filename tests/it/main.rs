//! One integration test crate (the library is linked once).

mod agent;
mod audit;
mod audit_auth;
mod audit_e2e;
mod audit_pane;
mod audit_source;
mod auth;
mod compliance;
mod console;
mod crypto;
mod e2e;
mod hostile;
mod isolation;
mod isolation_cluster;
mod mfa;
mod operators;
mod props;
mod pty_selftest;
mod robustness;
mod scans;
mod secrets;
mod security;
mod sessions;
mod snapshots;
mod store;
mod support;
