//! WindFlow Console: a keyboard-driven terminal security console.
//!
//! The library holds everything; the `windflow` binary only calls
//! [`cli::main`]. See `ARCHITECTURE.md` for the map.

pub mod agent;
pub mod anomaly;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod console;
pub mod crypto;
pub mod demo;
pub mod deployments;
pub mod display;
pub mod domains;
pub mod fsutil;
pub mod host;
pub mod isolation;
pub mod logging;
pub mod mfa;
pub mod scans;
pub mod secrets;
pub mod service;
pub mod sessions;
pub mod store;
pub mod tomlpos;
