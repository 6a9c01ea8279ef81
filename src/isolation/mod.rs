//! Isolation: every deployment in a namespace of its own that nothing can
//! reach and that reaches nothing, except what its spec allows.
//!
//! - `state`: the live state (from a folder of manifests or a cluster),
//!   in Kubernetes' own types.

pub mod state;
