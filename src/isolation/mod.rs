//! Isolation: every deployment in a namespace of its own that nothing can
//! reach and that reaches nothing, except what its spec allows.
//!
//! - `state`: the live state (from a folder of manifests or a cluster),
//!   in Kubernetes' own types.
//! - `cluster`: a real cluster: live state, diff and server-side apply.

pub mod cluster;
pub mod state;
