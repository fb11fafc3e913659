//! Statuses and events in the shoot: `status.state`/`message`/`fqdn_state` of each CWNP,
//! Warning events on CWNPs and Services. Writes run in the background; a failed status write
//! is made again by the next reconcile (the reconciler compares with the watched status).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube_resources::ClusterwideNetworkPolicy;
use mesh_controller::recorder::Events;
use serde_json::json;

use crate::actors::reconciler::{PolicyStatus, Report};
use crate::core::compile::Warning;

pub const REPORTER: &str = "rule-compiler";

pub struct KubeReport {
    client: kube::Client,
    events: Events,
}

impl KubeReport {
    pub fn new(client: kube::Client) -> Self {
        Self {
            events: Events::new(client.clone(), REPORTER),
            client,
        }
    }
}

impl Report for KubeReport {
    fn statuses(&self, statuses: Vec<PolicyStatus>) {
        let client = self.client.clone();
        tokio::spawn(async move {
            for s in statuses {
                let api: Api<ClusterwideNetworkPolicy> =
                    Api::namespaced(client.clone(), &s.namespace);
                let patch = json!({"status": {
                    "state": s.state,
                    "message": s.message,
                    "fqdn_state": s.fqdn_state,
                }});
                if let Err(e) = api
                    .patch_status(&s.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    // Gone meanwhile: nothing to write.
                    if !matches!(&e, kube::Error::Api(r) if r.code == 404) {
                        tracing::warn!(error = %e, policy = %format!("{}/{}", s.namespace, s.name), "writing the policy status failed");
                    }
                }
            }
        });
    }

    fn warnings(&self, warnings: Vec<Warning>) {
        for w in warnings {
            let (api_version, kind) = match w.kind {
                "Service" => ("v1", "Service"),
                _ => ("metal-stack.io/v1", "ClusterwideNetworkPolicy"),
            };
            let regarding = ObjectReference {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
                namespace: Some(w.namespace.clone()),
                name: Some(w.name.clone()),
                ..ObjectReference::default()
            };
            self.events
                .warning(regarding, w.reason, "Compile", w.message);
        }
    }
}
