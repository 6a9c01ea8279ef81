//! The live state isolation reads: from a folder of YAML manifests (the
//! embedded default) or from a cluster. Both fill the same struct, in
//! Kubernetes' own types, so plan, drift and reachability never care where
//! it came from.

use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;

/// The objects isolation looks at.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
    pub policies: Vec<NetworkPolicy>,
    pub quotas: Vec<ResourceQuota>,
    pub limit_ranges: Vec<LimitRange>,
}
