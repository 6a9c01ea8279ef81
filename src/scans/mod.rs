//! Scans: scanner reports (Trivy, Grype, Clair) parsed into one model,
//! merged across scanners, aggregated and judged by the deploy gate; live
//! Trivy/Grype runs; Kubernetes manifest checks; the service and the pane.

pub mod gate;
pub mod k8s;
pub mod merge;
pub mod model;
pub mod pane;
pub mod report;
pub mod runner;
pub mod service;
pub mod verdicts;

pub use gate::{Decision, Policy, Run, Verdict, Waiver};
pub use merge::{Aggregate, MergedFinding, aggregate, merge};
pub use model::{Finding, FindingKind, Scanner, Severity};
pub use report::{Report, ReportError, ReportFormat, parse_report, read_report};
