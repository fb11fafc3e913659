//! The volume-manager's own metrics: LVM mutations by VG, operation and outcome, and their
//! duration; free bytes per VG are read on demand by the REST API instead.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::OpError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MutationLabels {
    pub vg: String,
    pub op: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub method: String,
    pub code: String,
}

#[derive(Clone)]
pub struct Metrics {
    mutations: Family<MutationLabels, Counter>,
    mutation_seconds: Family<MutationLabels, Histogram>,
    rpcs: Family<RpcLabels, Counter>,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            mutations: Family::default(),
            mutation_seconds: Family::new_with_constructor(|| {
                Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
            rpcs: Family::default(),
        };
        registry.register(
            "volume_manager_lvm_mutations",
            "LVM mutations by volume group, operation and outcome",
            m.mutations.clone(),
        );
        registry.register(
            "volume_manager_lvm_mutation_seconds",
            "Duration of LVM mutations",
            m.mutation_seconds.clone(),
        );
        registry.register(
            "volume_manager_csi_requests",
            "CSI requests by method and gRPC code",
            m.rpcs.clone(),
        );
        m
    }

    pub fn mutation(&self, vg: &str, op: &str, error: Option<&OpError>, took: Duration) {
        let labels = MutationLabels {
            vg: vg.into(),
            op: op.into(),
            outcome: error.map_or("ok", OpError::kind).into(),
        };
        self.mutations.get_or_create(&labels).inc();
        self.mutation_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn rpc(&self, method: &str, code: tonic::Code) {
        self.rpcs
            .get_or_create(&RpcLabels {
                method: method.into(),
                code: format!("{code:?}"),
            })
            .inc();
    }
}
