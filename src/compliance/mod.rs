//! Compliance: each deployment checked against the frameworks that apply to
//! it (SOC 2 always; GDPR, HIPAA and PCI DSS from the spec's `[data]`), from
//! facts the console already holds, with manual controls that only evidence
//! satisfies and waivers that expire.
//!
//! - `framework`: the frameworks as data (shipped and user files);
//! - `facts`: what the checks read, with where and when;
//! - `eval`: checks, controls, frameworks and deployments;
//! - `records`: evidence and waivers in the embedded store.

pub mod eval;
pub mod facts;
pub mod framework;
pub mod records;

pub use eval::{ControlStatus, DeploymentResult, FrameworkStatus};
pub use framework::Framework;

/// Every deployment of `facts` against `frameworks`.
pub fn check_all(
    frameworks: &[Framework],
    facts: &facts::Facts,
    recs: &records::Records,
    now: i64,
) -> Vec<DeploymentResult> {
    facts
        .deployments
        .iter()
        .map(|d| eval::deployment(frameworks, d, facts, recs, now))
        .collect()
}
