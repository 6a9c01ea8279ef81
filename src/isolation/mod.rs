//! Isolation: every deployment in a namespace of its own that nothing can
//! reach and that reaches nothing, except what its spec allows.
//!
//! - `plan`: a deployment's namespace, policies, quota and limits in
//!   Kubernetes' types, as YAML, and their diff against a state;
//! - `state`: the live state (from a folder of manifests or a cluster),
//!   in Kubernetes' own types;
//! - `cluster`: a real cluster: live state, diff and server-side apply;
//! - `status`: each deployment's isolation and drift against its plan;
//! - `reach`: who can reach whom on which ports, as Kubernetes decides it;
//! - `drift`, `agent`: the agent's scheduled drift check and its records;
//! - `settings`: the `[isolation]` table of windflow.toml.

pub mod agent;
pub mod cluster;
pub mod drift;
pub mod matrix;
pub mod pane;
pub mod plan;
pub mod ports;
pub mod reach;
pub mod service;
pub mod settings;
pub mod state;
pub mod status;
