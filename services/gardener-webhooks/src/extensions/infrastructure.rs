//! The Infrastructure controller (upstream's infrastructure actuator): allocates or finds the
//! node network, tags the egress IPs, triggers firewall maintenance in the maintenance window,
//! and on deletion frees what belongs to the cluster alone. Decisions: [`core`].

use futures::future::BoxFuture;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use metal_api_sdk::Client;
use serde_json::{Value, json};

use super::{Actuator, Outcome, Request, kube_error};
use crate::core::extensions::controlplane::firewall_manager;
use crate::core::extensions::infrastructure::{self as core, NodeNetwork, Release};
use crate::core::extensions::operation::ExtError;

/// The FirewallDeployment of a shoot (written by the Worker controller).
pub use crate::core::extensions::worker::firewall::DEPLOYMENT_NAME as FIREWALL_DEPLOYMENT;
/// firewall-controller-manager's maintenance annotation.
const MAINTAIN_ANNOTATION: &str = "firewall.metal-stack.io/maintain";

pub struct Infrastructure;

impl Actuator for Infrastructure {
    const KIND: &'static str = "Infrastructure";
    const PLURAL: &'static str = "infrastructures";
    const FINALIZER: &'static str = "extensions.gardener.cloud/infrastructure";

    fn reconcile<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(reconcile(request))
    }

    fn delete<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(delete(request))
    }

    fn migrate<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(migrate(request))
    }
}

pub fn firewall_deployment_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("firewall.metal-stack.io", "v2", "FirewallDeployment"),
        "firewalldeployments",
    )
}

async fn reconcile(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let shoot = request.shoot;
    let metal = request.shared.metal_client(shoot, request.value).await?;
    let nodes_cidr = match core::node_network(shoot) {
        NodeNetwork::Given(cidr) => cidr,
        NodeNetwork::Find(find) => {
            let reported = request
                .value
                .pointer("/status/nodesCIDR")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty());
            let found = metal
                .find_networks(&find)
                .await
                .map_err(|e| ExtError::metal("looking up the node network", &e))?;
            match core::found_network(&found, reported)? {
                Some(cidr) => cidr,
                None => {
                    let network = metal
                        .allocate_network(&core::allocate_request(shoot))
                        .await
                        .map_err(|e| ExtError::metal("allocating the node network", &e))?;
                    tracing::info!(namespace = %shoot.namespace, network = %network.id, "node network allocated");
                    request.shared.events.normal(
                        request.object_ref(),
                        "NodeNetworkAllocated",
                        "Reconcile",
                        format!(
                            "network {} with prefixes {}",
                            network.id,
                            network.prefixes.join(", ")
                        ),
                    );
                    core::first_prefix(&network)?
                }
            }
        }
    };
    let status = core::status(&nodes_cidr, request.value.pointer("/status/providerStatus"));
    reconcile_egress(&metal, request).await?;
    maintain_firewall(request).await?;
    Ok(Outcome {
        status,
        ..Outcome::done()
    })
}

async fn reconcile_egress(metal: &Client, request: &Request<'_>) -> Result<(), ExtError> {
    let shoot = request.shoot;
    let tagged = metal
        .find_ips(&core::tagged_egress_ips(shoot))
        .await
        .map_err(|e| ExtError::metal("listing the egress IPs", &e))?;
    let plan = core::egress_plan(shoot, &tagged);
    for wanted in &plan.tag {
        let found = metal
            .find_ips(&core::find_egress_ip(shoot, wanted))
            .await
            .map_err(|e| ExtError::metal(&format!("looking up egress IP {}", wanted.ip), &e))?;
        let update = core::tag_egress_ip(shoot, wanted, &found)?;
        metal
            .update_ip(&update)
            .await
            .map_err(|e| ExtError::metal(&format!("tagging egress IP {}", wanted.ip), &e))?;
    }
    for update in &plan.untag {
        metal.update_ip(update).await.map_err(|e| {
            ExtError::metal(&format!("untagging egress IP {}", update.ipaddress), &e)
        })?;
    }
    Ok(())
}

/// Inside the shoot's maintenance window the firewall is told to roll to a new image.
async fn maintain_firewall(request: &Request<'_>) -> Result<(), ExtError> {
    let seconds = (k8s_openapi::jiff::Timestamp::now()
        .as_second()
        .rem_euclid(86_400)) as u32;
    if !core::in_maintenance_window(&request.shoot.shoot, seconds) {
        return Ok(());
    }
    let api: Api<DynamicObject> = Api::namespaced_with(
        request.shared.client.clone(),
        request.namespace(),
        &firewall_deployment_resource(),
    );
    let patch = json!({"metadata": {"annotations": {MAINTAIN_ANNOTATION: "true"}}});
    match api
        .patch(
            FIREWALL_DEPLOYMENT,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // No firewall (yet), or its kind is not served here.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(kube_error(
            "annotating the firewall deployment for maintenance",
            &e,
        )),
    }
}

async fn delete(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let shoot = request.shoot;
    let metal = request.shared.metal_client(shoot, request.value).await?;
    let ephemeral = metal
        .find_ips(&core::ephemeral_ips(shoot))
        .await
        .map_err(|e| ExtError::metal("listing the project's ephemeral IPs", &e))?;
    let egress = metal
        .find_ips(&core::tagged_egress_ips(shoot))
        .await
        .map_err(|e| ExtError::metal("listing the egress IPs", &e))?;
    for release in core::release(shoot, &ephemeral, &egress) {
        match release {
            Release::Free(ip) => match metal.free_ip(&ip).await {
                Ok(_) | Err(metal_api_sdk::Error::NotFound(_)) => {}
                Err(e) => return Err(ExtError::metal(&format!("freeing IP {ip}"), &e)),
            },
            Release::Update(update) => {
                metal.update_ip(&update).await.map_err(|e| {
                    ExtError::metal(&format!("untagging IP {}", update.ipaddress), &e)
                })?;
            }
        }
    }
    let networks = metal
        .find_networks(&core::cluster_networks(shoot))
        .await
        .map_err(|e| ExtError::metal("looking up the node network", &e))?;
    for id in core::networks_to_free(shoot, &networks) {
        match metal.free_network(id).await {
            Ok(_) | Err(metal_api_sdk::Error::NotFound(_)) => {
                tracing::info!(namespace = %shoot.namespace, network = id, "node network freed");
            }
            Err(e) => return Err(ExtError::metal(&format!("freeing network {id}"), &e)),
        }
    }
    // firewall-controller-manager's webhooks of this shoot are cluster-scoped: ours to remove.
    let name = firewall_manager::webhook_configuration_name(&shoot.namespace);
    let client = request.shared.client.clone();
    let gone = |r: Result<_, kube::Error>| match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(kube_error(
            &format!("deleting webhook configuration {name}"),
            &e,
        )),
    };
    gone(
        Api::<MutatingWebhookConfiguration>::all(client.clone())
            .delete(&name, &DeleteParams::default())
            .await
            .map(drop),
    )?;
    gone(
        Api::<ValidatingWebhookConfiguration>::all(client)
            .delete(&name, &DeleteParams::default())
            .await
            .map(drop),
    )?;
    Ok(Outcome::done())
}

/// Migration: drop MCM's finalizer from the shoot's machine class Secrets so the namespace can
/// go (upstream's migrate).
async fn migrate(request: &Request<'_>) -> Result<Outcome, ExtError> {
    const MCM_FINALIZER: &str = "machine.sapcloud.io/machine-controller";
    let secrets: Api<Secret> = Api::namespaced(request.shared.client.clone(), request.namespace());
    let list = secrets
        .list(&ListParams::default().labels("garden.sapcloud.io/purpose=machineclass"))
        .await
        .map_err(|e| kube_error("listing machine class secrets", &e))?;
    for secret in list.items {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let finalizers = secret.metadata.finalizers.clone().unwrap_or_default();
        if !name.starts_with("shoot--") || !finalizers.iter().any(|f| f == MCM_FINALIZER) {
            continue;
        }
        let kept: Vec<&String> = finalizers.iter().filter(|f| *f != MCM_FINALIZER).collect();
        let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": secret.metadata.resource_version}});
        secrets
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| kube_error(&format!("removing the finalizer of secret {name}"), &e))?;
    }
    Ok(Outcome::done())
}
