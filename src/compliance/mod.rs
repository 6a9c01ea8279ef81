//! Compliance: each deployment checked against the frameworks that apply to
//! it (SOC 2 always; GDPR, HIPAA and PCI DSS from the spec's `[data]`), from
//! facts the console already holds, with manual controls that only evidence
//! satisfies and waivers that expire.
//!
//! - `framework`: the frameworks as data (shipped and user files);

pub mod framework;
