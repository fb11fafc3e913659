//! Driver calls by method, caller (controller, rest, grpc) and code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::core::code::DriverError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub method: &'static str,
    pub caller: &'static str,
    pub code: &'static str,
}

#[derive(Clone, Debug)]
pub struct Metrics {
    calls: Family<CallLabels, Counter>,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics {
            calls: Family::default(),
        };
        registry.register(
            "machine_lifecycle_driver_calls",
            "Driver calls by method, caller and code (OK for success)",
            m.calls.clone(),
        );
        m
    }

    /// Counts a call's outcome and hands it back.
    pub fn count<T>(
        &self,
        method: &'static str,
        caller: &'static str,
        result: Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        let code = result.as_ref().map_or_else(|e| e.code.as_str(), |_| "OK");
        self.calls
            .get_or_create(&CallLabels {
                method,
                caller,
                code,
            })
            .inc();
        result
    }
}
