//! Compliance: each deployment checked against the frameworks that apply to
//! it (SOC 2 always; GDPR, HIPAA and PCI DSS from the spec's `[data]`), from
//! facts the console already holds, with manual controls that only evidence
//! satisfies and waivers that expire.
//!
//! - `framework`: the frameworks as data (shipped and user files);
//! - `facts`: what the checks read, with where and when;
//! - `eval`: checks, controls, frameworks and deployments;
//! - `records`: evidence and waivers in the embedded store;
//! - `report`: Markdown, JSON and HTML reports;
//! - `service`, `pane`: the console's matrix and drill-down.

pub mod eval;
pub mod facts;
pub mod framework;
pub mod pane;
pub mod records;
pub mod report;
pub mod service;

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

/// Gathers the facts of `sources` and checks every deployment of its
/// catalog; what could not be read is in `problems` (and in the results).
pub async fn evaluate(
    sources: &facts::Sources<'_>,
    frameworks: &[Framework],
    now: i64,
) -> (Vec<DeploymentResult>, Vec<String>) {
    let facts = facts::gather(sources).await;
    let (recs, mut problems) = match records::Records::load(&sources.store) {
        Ok(r) => {
            let p = r.problems.clone();
            (r, p)
        }
        Err(e) => (
            records::Records::default(),
            vec![format!("evidence and waivers could not be read: {e}")],
        ),
    };
    problems.extend(facts.cluster_problems.iter().cloned());
    (check_all(frameworks, &facts, &recs, now), problems)
}
