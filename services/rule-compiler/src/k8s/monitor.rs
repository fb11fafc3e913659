//! Every few seconds: the kernel's counters (and Suricata's, in IDS mode) into the metrics and
//! into the FirewallMonitor's `controllerStatus`, as upstream does every 10 s.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube_resources::FirewallMonitor;
use kube_resources::firewall::FirewallStats;
use parking_lot::RwLock;
use serde_json::json;

use crate::actors::ruleset::ApplyState;
use crate::core::compile::TABLE;
use crate::metrics::{CounterLabels, DeviceLabels, Metrics, RuleLabels};
use crate::nft::{Nft, stats};
use crate::suricata;

pub struct Monitor {
    pub nft: Nft,
    pub metrics: Metrics,
    pub apply: Arc<RwLock<ApplyState>>,
    /// The shoot, namespace and name of the FirewallMonitor; none without Kubernetes.
    pub target: Option<(kube::Client, String, String)>,
    pub suricata_socket: Option<std::path::PathBuf>,
    pub every: Duration,
}

impl Monitor {
    pub fn spawn(self) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.round().await;
            }
        });
    }

    async fn round(&self) {
        let mut stats = FirewallStats::default();
        // A dry run applies nothing, so there are no counters to read (and often no right
        // to read them).
        let dry_run = self.apply.read().dry_run;
        match self.nft.list_ruleset_json().await {
            Err(_) if dry_run => {}
            Ok(json) => {
                stats = stats::from_ruleset(&json);
                self.export(&json, &stats);
            }
            Err(e) => tracing::warn!(error = %e, "reading counters failed"),
        }
        if let Some(socket) = &self.suricata_socket
            && socket.exists()
        {
            match suricata::interface_stats(socket).await {
                Ok(ids) => stats.ids_stats = ids,
                Err(e) => tracing::warn!(error = %e, "reading Suricata statistics failed"),
            }
        }
        if let Some((client, namespace, name)) = &self.target {
            let message = self
                .apply
                .read()
                .last_error
                .clone()
                .map_or_else(|| "ok".to_string(), |e| format!("apply failing: {e}"));
            let patch = json!({"controllerStatus": {
                "message": message,
                "stats": stats,
                "controllerVersion": env!("CARGO_PKG_VERSION"),
                "nftablesExporterVersion": "",
                "lastRun": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "distance": 0,
                "distanceSupported": false,
            }});
            let api: Api<FirewallMonitor> = Api::namespaced(client.clone(), namespace);
            if let Err(e) = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!(error = %e, "updating the FirewallMonitor failed");
            }
        }
    }

    fn export(&self, json: &serde_json::Value, stats: &FirewallStats) {
        for (action, rules) in &stats.rules {
            for (comment, rule) in rules {
                let labels = RuleLabels {
                    table: TABLE.into(),
                    family: "inet".into(),
                    chain: String::new(),
                    comment: comment.clone(),
                    action: action.clone(),
                };
                self.metrics
                    .rule_bytes
                    .get_or_create(&labels)
                    .set(rule.counter.bytes as i64);
                self.metrics
                    .rule_packets
                    .get_or_create(&labels)
                    .set(rule.counter.packets as i64);
            }
        }
        for (name, (packets, bytes)) in stats::named_counters(json) {
            let labels = CounterLabels {
                name,
                table: TABLE.into(),
                family: "inet".into(),
            };
            self.metrics
                .counter_bytes
                .get_or_create(&labels)
                .set(bytes as i64);
            self.metrics
                .counter_packets
                .get_or_create(&labels)
                .set(packets as i64);
        }
        for (device, d) in &stats.devices {
            for (direction, bytes) in [("in", d.in_), ("out", d.out)] {
                let labels = DeviceLabels {
                    device: device.clone(),
                    direction: direction.into(),
                };
                self.metrics
                    .device_bytes
                    .get_or_create(&labels)
                    .set(bytes as i64);
            }
        }
    }
}
