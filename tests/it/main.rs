//! One integration test crate (the library is linked once).

mod audit;
mod audit_e2e;
mod audit_pane;
mod auth;
mod console;
mod crypto;
mod e2e;
mod mfa;
mod pty_selftest;
mod snapshots;
mod support;
