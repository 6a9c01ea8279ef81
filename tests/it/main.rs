//! One integration test crate (the library is linked once).

mod auth;
mod console;
mod crypto;
mod snapshots;
mod e2e;
mod mfa;
mod support;
mod pty_selftest;
