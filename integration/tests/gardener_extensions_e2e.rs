//! The extension controllers of provider metal end to end, as gardenlet drives them: a shoot
//! with two worker pools becomes a node network, MachineClasses, MachineDeployments and running
//! metal machines with the rendered Ignition userdata, control-plane ManagedResources with
//! valid manifests and health conditions; deleted in gardenlet's order, it leaves nothing of
//! its own in metal-api and touches nothing of a second shoot. metal-api going away during a
//! reconcile is reported with Gardener's error code and retried without a second network. A
//! control-plane migration lets go of the firewall objects and restores them from the
//! Infrastructure's state.
//!
//! Set MESH_TEST_LOGS=1 to see the controllers' logs.

use std::time::Duration;

use base64::Engine as _;
use integration::extensions::{
    OTHER, PoolSpec, SHOOT, ShootRef, Stack, cluster, control_plane, dns_record,
    firewall_manager_stand_in, infrastructure, osc, resource, shoot, validate_manifests, worker,
};
use integration::metal_api::PROJECT;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use metal_api_sdk::model::IpAllocateRequest;
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

fn pools(stack: &Stack) -> Vec<PoolSpec> {
    vec![
        PoolSpec {
            name: "pool-a",
            size: stack.pools[0].size.clone(),
            minimum: 2,
            maximum: 3,
        },
        PoolSpec {
            name: "pool-b",
            size: stack.pools[1].size.clone(),
            minimum: 1,
            maximum: 2,
        },
    ]
}

/// gardenlet's first steps for a shoot: the Cluster, the cloudprovider Secret, the
/// Infrastructure; then, once it reported the node network, the network in the shoot spec.
async fn infrastructure_up(stack: &Stack, shoot_ref: ShootRef, shoot_spec: &Value) -> String {
    let url = stack.metal_api.url("");
    stack
        .create("clusters", &cluster(shoot_ref, shoot_spec.clone(), &url))
        .await;
    stack.cloudprovider_secret(shoot_ref).await;
    stack
        .create("infrastructures", &infrastructure(shoot_ref, shoot_spec))
        .await;
    let infra = stack
        .operation_state(
            "Infrastructure",
            "infrastructures",
            shoot_ref,
            "Succeeded",
            MINUTE,
        )
        .await;
    let nodes = infra["status"]["nodesCIDR"]
        .as_str()
        .expect("nodesCIDR reported")
        .to_owned();
    assert_eq!(
        infra["status"]["providerStatus"]["kind"],
        "InfrastructureStatus"
    );
    assert!(
        infra["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!("extensions.gardener.cloud/infrastructure")),
        "{infra}"
    );
    stack
        .patch_cluster_shoot(shoot_ref, json!({"spec": {"networking": {"nodes": nodes}}}))
        .await;
    nodes
}

/// The objects of the ManagedResources of the shoot namespace, by ManagedResource name.
async fn managed_objects(
    stack: &Stack,
    namespace: &str,
) -> Vec<(String, Option<String>, Vec<Value>)> {
    let mrs = stack.api(
        Some(namespace),
        &resource(
            "resources.gardener.cloud/v1alpha1",
            "ManagedResource",
            "managedresources",
        ),
    );
    let secrets: Api<Secret> = Api::namespaced(stack.kube.clone(), namespace);
    let mut out = Vec::new();
    for mr in mrs.list(&ListParams::default()).await.unwrap().items {
        let value = serde_json::to_value(&mr).unwrap();
        let name = value["metadata"]["name"].as_str().unwrap().to_owned();
        let class = value
            .pointer("/spec/class")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut objects = Vec::new();
        for reference in value["spec"]["secretRefs"].as_array().expect("secretRefs") {
            let secret = secrets
                .get(reference["name"].as_str().unwrap())
                .await
                .expect("MR secret");
            for (_, data) in secret.data.unwrap_or_default() {
                let text = String::from_utf8(data.0).unwrap();
                let docs: Vec<Value> =
                    serde_saphyr::from_multiple(&text).expect("MR secret holds YAML");
                objects.extend(docs.into_iter().filter(|d| !d.is_null()));
            }
        }
        out.push((name, class, objects));
    }
    out
}

/// What gardener-resource-manager and the seed's kube-controller-manager would report: the
/// seed ManagedResource's objects applied, their Deployments available, every ManagedResource
/// applied and healthy.
async fn report_ready(stack: &Stack, namespace: &str) {
    let mrs = stack.api(
        Some(namespace),
        &resource(
            "resources.gardener.cloud/v1alpha1",
            "ManagedResource",
            "managedresources",
        ),
    );
    for (name, class, objects) in managed_objects(stack, namespace).await {
        if class.as_deref() == Some("seed") {
            for object in objects.iter().filter(|o| o["kind"] == "Deployment") {
                let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
                    Api::namespaced(stack.kube.clone(), namespace);
                let mut object = object.clone();
                object["metadata"]["namespace"] = namespace.into();
                let deployment: k8s_openapi::api::apps::v1::Deployment =
                    serde_json::from_value(object).unwrap();
                let dname = deployment.metadata.name.clone().unwrap();
                let replicas = deployment
                    .spec
                    .as_ref()
                    .and_then(|s| s.replicas)
                    .unwrap_or(1);
                let _ = deployments
                    .create(&PostParams::default(), &deployment)
                    .await;
                deployments
                    .patch_status(&dname, &PatchParams::default(), &Patch::Merge(json!({"status": {
                        "replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                        "updatedReplicas": replicas, "observedGeneration": 1,
                        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
                    }})))
                    .await
                    .expect("deployment status");
            }
        }
        let now = "2026-12-06T00:00:00Z";
        let condition = |t: &str| {
            json!({"type": t, "status": "True", "reason": "ResourcesApplied", "message": "ok",
                                         "lastTransitionTime": now, "lastUpdateTime": now})
        };
        mrs.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": {
            "observedGeneration": 1,
            "conditions": [condition("ResourcesApplied"), condition("ResourcesHealthy"), condition("ResourcesProgressing")],
        }})))
        .await
        .expect("ManagedResource status");
    }
    // What firewall-controller-manager reports once the shoot's firewall runs.
    let firewalls = stack.api(
        Some(namespace),
        &resource(
            "firewall.metal-stack.io/v2",
            "FirewallDeployment",
            "firewalldeployments",
        ),
    );
    firewalls
        .patch_status(
            "shoot-firewall",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "targetReplicas": 1, "readyReplicas": 1, "progressingReplicas": 0, "unhealthyReplicas": 0,
                "observedRevision": 1, "conditions": [],
            }})),
        )
        .await
        .expect("FirewallDeployment status");
}

/// An IP lb-allocator would have allocated for a Service of `shoot`.
async fn lb_ip(stack: &Stack, shoot: ShootRef) -> metal_api_sdk::model::IpResponse {
    stack
        .metal
        .allocate_ip(&IpAllocateRequest {
            networkid: "internet".into(),
            projectid: PROJECT.into(),
            tags: Some(vec![format!(
                "cluster.metal-stack.io/id/namespace/service={}/default/web",
                shoot.uid
            )]),
            ..Default::default()
        })
        .await
        .expect("an LB IP")
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shoot_of_type_metal_becomes_machines_and_goes_away_again() {
    let stack = Stack::start(&[("ext-a-x86", 4), ("ext-b-x86", 3)], true).await;
    let pools = pools(&stack);
    let spec = shoot(SHOOT, &pools, &[]);

    // A second shoot of the same project with an LB IP of its own: never to be touched.
    let other_spec = shoot(OTHER, &[], &[]);
    let other_nodes = infrastructure_up(&stack, OTHER, &other_spec).await;
    let other_ip = lb_ip(&stack, OTHER).await;

    // 1. Infrastructure: a node network labelled for the cluster.
    let nodes = infrastructure_up(&stack, SHOOT, &spec).await;
    assert_ne!(nodes, other_nodes, "each shoot has a network of its own");
    let networks = stack.networks(SHOOT).await;
    assert_eq!(networks.len(), 1, "{networks:?}");
    assert_eq!(networks[0].prefixes, std::slice::from_ref(&nodes));
    assert_eq!(networks[0].name.as_deref(), Some(SHOOT.name));
    assert_eq!(networks[0].description.as_deref(), Some(SHOOT.uid));
    // An LB IP lb-allocator would have allocated for this shoot.
    let our_ip = lb_ip(&stack, SHOOT).await;

    // 2. One OperatingSystemConfig per pool: the OS controller renders the userdata.
    for pool in &pools {
        stack
            .create("operatingsystemconfigs", &osc(SHOOT, pool.name))
            .await;
    }

    // 3. ControlPlane: ManagedResources with valid manifests (once the API server's DNS
    // record exists, as gardenlet orders it).
    stack.create("dnsrecords", &dns_record(SHOOT)).await;
    stack
        .create("controlplanes", &control_plane(SHOOT, &spec))
        .await;
    stack
        .operation_state("ControlPlane", "controlplanes", SHOOT, "Succeeded", MINUTE)
        .await;
    let managed = managed_objects(&stack, SHOOT.namespace).await;
    let names: Vec<&str> = managed.iter().map(|(n, _, _)| n.as_str()).collect();
    for expected in [
        "extension-controlplane-seed",
        "extension-controlplane-shoot",
        "extension-controlplane-storageclasses",
    ] {
        assert!(
            names.contains(&expected),
            "ManagedResource {expected} missing: {names:?}"
        );
    }
    let all: Vec<Value> = managed.iter().flat_map(|(_, _, o)| o.clone()).collect();
    let cwnps: Vec<&str> = all
        .iter()
        .filter(|o| o["kind"] == "ClusterwideNetworkPolicy")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    for name in [
        "allow-to-http",
        "allow-to-https",
        "allow-to-dns",
        "allow-to-ntp",
        "allow-to-vpn",
    ] {
        assert!(
            cwnps.contains(&name),
            "default CWNP {name} missing: {cwnps:?}"
        );
    }
    let seed_args = all
        .iter()
        .find(|o| {
            o["kind"] == "Deployment" && serde_json::to_string(o).unwrap().contains("lb-allocator")
        })
        .map(|o| serde_json::to_string(o).unwrap())
        .expect("the lb-allocator Deployment");
    assert!(
        seed_args.contains(SHOOT.uid),
        "lb-allocator runs with the cluster ID: {seed_args}"
    );
    for flag in [
        format!("\"--metal-project-id\",\"{PROJECT}\""),
        "\"--metal-default-external-network-id\",\"internet\"".to_string(),
        format!("\"--metal-api-url\",\"{}\"", stack.metal_api.url("")),
    ] {
        assert!(
            seed_args.contains(&flag),
            "lb-allocator runs with {flag}: {seed_args}"
        );
    }
    // firewall-controller-manager beside it, for this shoot, with webhooks trusting its CA.
    let fcm = all
        .iter()
        .find(|o| {
            o["kind"] == "Deployment" && o["metadata"]["name"] == "firewall-controller-manager"
        })
        .expect("the firewall-controller-manager Deployment");
    let fcm_args = fcm["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    for flag in [
        format!("-cluster-id={}", SHOOT.uid),
        format!("-namespace={}", SHOOT.namespace),
        format!("-metal-api-url={}", stack.metal_api.url("")),
        format!("-seed-api-url={}", stack.server.url().trim_end_matches('/')),
        format!("-shoot-api-url=https://api.{}.example.com", SHOOT.name),
    ] {
        assert!(
            fcm_args.contains(&flag),
            "firewall-controller-manager runs with {flag}: {fcm_args}"
        );
    }
    let webhooks = all
        .iter()
        .find(|o| o["kind"] == "MutatingWebhookConfiguration")
        .expect("firewall-controller-manager's MutatingWebhookConfiguration");
    assert_eq!(
        webhooks["metadata"]["name"],
        format!("firewall-controller-manager-{}", SHOOT.namespace)
    );
    let secrets: Api<Secret> = Api::namespaced(stack.kube.clone(), SHOOT.namespace);
    let ca = secrets.get("ca-provider-metal-controlplane").await.unwrap();
    let ca_pem = ca.data.unwrap()["ca.crt"].0.clone();
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(
            webhooks["webhooks"][0]["clientConfig"]["caBundle"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(bundle).unwrap(),
        String::from_utf8(ca_pem).unwrap().trim()
    );
    assert!(
        secrets
            .get_opt("shoot-access-firewall-controller-manager")
            .await
            .unwrap()
            .is_some(),
        "firewall-controller-manager's shoot access Secret"
    );
    if let Some(result) = validate_manifests(&all) {
        let summary =
            result.unwrap_or_else(|report| panic!("invalid control-plane manifests:\n{report}"));
        println!("control-plane manifests: {summary}");
    }

    // 4. Worker: MachineClasses, MachineDeployments, then machines with the pools' userdata.
    stack.create("workers", &worker(SHOOT, &pools)).await;
    let worker_obj = stack
        .operation_state("Worker", "workers", SHOOT, "Succeeded", MINUTE)
        .await;
    let deployments = worker_obj["status"]["machineDeployments"]
        .as_array()
        .expect("machineDeployments");
    let md_names: Vec<&str> = deployments
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(
        md_names,
        [
            format!("{}-pool-a", SHOOT.namespace),
            format!("{}-pool-b", SHOOT.namespace)
        ]
    );
    let classes = stack.api(
        Some(SHOOT.namespace),
        &resource(
            "machine.sapcloud.io/v1alpha1",
            "MachineClass",
            "machineclasses",
        ),
    );
    let class_list = classes.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(class_list.len(), 2, "one MachineClass per pool");
    let class = serde_json::to_value(&class_list[0]).unwrap();
    assert_eq!(class["provider"], "metal");
    assert_eq!(class["providerSpec"]["network"], networks[0].id.as_str());
    let firewall = stack
        .api(
            Some(SHOOT.namespace),
            &resource(
                "firewall.metal-stack.io/v2",
                "FirewallDeployment",
                "firewalldeployments",
            ),
        )
        .get("shoot-firewall")
        .await
        .expect("the FirewallDeployment");
    let firewall = serde_json::to_value(&firewall).unwrap();
    let fw_networks = firewall
        .pointer("/spec/template/spec/networks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(
        fw_networks.contains(&json!("internet")) && fw_networks.contains(&json!(networks[0].id)),
        "{firewall}"
    );

    let machines = stack
        .eventually("3 machines allocated and Running", 3 * MINUTE, || async {
            let machines = stack.machines(SHOOT).await;
            let k8s = stack.api(
                Some(SHOOT.namespace),
                &resource("machine.sapcloud.io/v1alpha1", "Machine", "machines"),
            );
            let running = k8s
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .iter()
                .filter(|m| {
                    m.data
                        .pointer("/status/currentStatus/phase")
                        .and_then(Value::as_str)
                        == Some("Running")
                })
                .count();
            (machines.len() == 3 && running == 3).then_some(machines)
        })
        .await;
    let secrets: Api<Secret> = Api::namespaced(stack.kube.clone(), SHOOT.namespace);
    for pool in &pools {
        let result = secrets
            .get(&format!("osc-result-osc-{}", pool.name))
            .await
            .expect("OSC result");
        let userdata = String::from_utf8(result.data.unwrap()["cloud_config"].0.clone()).unwrap();
        let of_pool: Vec<_> = machines
            .iter()
            .filter(|m| m.size.as_ref().map(|s| s.id.as_str()) == Some(pool.size.as_str()))
            .collect();
        assert_eq!(
            of_pool.len() as i64,
            pool.minimum,
            "pool {} at its minimum",
            pool.name
        );
        for machine in of_pool {
            let allocation = machine.allocation.as_ref().unwrap();
            assert_eq!(
                allocation.user_data.as_deref().map(str::trim),
                Some(userdata.trim()),
                "userdata of pool {}",
                pool.name
            );
            assert!(
                allocation
                    .user_data
                    .as_deref()
                    .unwrap()
                    .contains(&format!("pool={}", pool.name))
            );
            assert_eq!(
                allocation.image.as_ref().map(|i| i.id.as_str()),
                Some(integration::extensions::IMAGE)
            );
        }
    }

    // 5. Health: True once the objects report ready.
    report_ready(&stack, SHOOT.namespace).await;
    let cp = stack
        .eventually(
            "ControlPlane health conditions True",
            2 * MINUTE,
            || async {
                let cp = stack.get("ControlPlane", "controlplanes", SHOOT).await?;
                // Shown when the wait times out.
                eprintln!("ControlPlane conditions: {}", cp["status"]["conditions"]);
                let ok = ["ControlPlaneHealthy", "SystemComponentsHealthy"]
                    .iter()
                    .all(|t| condition(&cp, t).is_some_and(|c| c["status"] == "True"));
                ok.then_some(cp)
            },
        )
        .await;
    println!("ControlPlane conditions: {}", cp["status"]["conditions"]);
    stack
        .eventually("Worker EveryNodeReady True", 2 * MINUTE, || async {
            let w = stack.get("Worker", "workers", SHOOT).await?;
            condition(&w, "EveryNodeReady")
                .is_some_and(|c| c["status"] == "True")
                .then_some(())
        })
        .await;

    // 6. Deletion in gardenlet's order: Worker, ControlPlane, Infrastructure.
    let fcm = firewall_manager_stand_in(stack.kube.clone(), SHOOT.namespace);
    stack.delete("Worker", "workers", SHOOT).await;
    stack.gone("Worker", "workers", SHOOT, 3 * MINUTE).await;
    assert!(
        stack.machines(SHOOT).await.is_empty(),
        "every machine of the shoot freed"
    );
    assert!(
        classes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "MachineClasses deleted"
    );
    stack.delete("ControlPlane", "controlplanes", SHOOT).await;
    stack
        .gone("ControlPlane", "controlplanes", SHOOT, MINUTE)
        .await;
    assert!(
        managed_objects(&stack, SHOOT.namespace).await.is_empty(),
        "ManagedResources deleted"
    );
    let secrets: Api<Secret> = Api::namespaced(stack.kube.clone(), SHOOT.namespace);
    for name in [
        "shoot-access-lb-allocator",
        "shoot-access-firewall-controller-manager",
    ] {
        assert!(
            secrets.get_opt(name).await.unwrap().is_none(),
            "{name} deleted with the ControlPlane"
        );
    }
    stack
        .delete("Infrastructure", "infrastructures", SHOOT)
        .await;
    stack
        .gone("Infrastructure", "infrastructures", SHOOT, MINUTE)
        .await;
    assert!(
        stack.networks(SHOOT).await.is_empty(),
        "the node network freed"
    );
    let ours = stack.metal.get_ip(&our_ip.ipaddress).await;
    assert!(
        matches!(ours, Err(metal_api_sdk::Error::NotFound(_))),
        "the shoot's LB IP freed: {ours:?}"
    );

    // The other shoot keeps its network and IP.
    assert_eq!(
        stack.networks(OTHER).await.len(),
        1,
        "the other shoot's network stays"
    );
    let theirs = stack
        .metal
        .get_ip(&other_ip.ipaddress)
        .await
        .expect("the other shoot's IP stays");
    assert_eq!(theirs.tags, other_ip.tags);
    fcm.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metal_api_down_is_reported_and_retried_without_a_second_network() {
    let mut stack = Stack::start(&[], false).await;
    let spec = shoot(SHOOT, &[], &[]);
    let url = stack.metal_api.url("");
    stack
        .create("clusters", &cluster(SHOOT, spec.clone(), &url))
        .await;
    stack.cloudprovider_secret(SHOOT).await;
    stack.metal_api.kill9();
    stack
        .create("infrastructures", &infrastructure(SHOOT, &spec))
        .await;
    let failed = stack
        .operation_state("Infrastructure", "infrastructures", SHOOT, "Error", MINUTE)
        .await;
    assert_eq!(
        failed["status"]["lastError"]["codes"],
        json!(["ERR_INFRA_DEPENDENCIES"]),
        "{failed}"
    );
    stack.metal_api.restart();
    let infra = stack
        .operation_state(
            "Infrastructure",
            "infrastructures",
            SHOOT,
            "Succeeded",
            2 * MINUTE,
        )
        .await;
    assert!(infra["status"]["lastError"].is_null(), "{infra}");
    // Asked again (and again), it keeps the one network.
    for _ in 0..2 {
        stack
            .annotate_reconcile("Infrastructure", "infrastructures", SHOOT)
            .await;
        stack
            .eventually("the operation annotation removed", MINUTE, || async {
                let infra = stack
                    .get("Infrastructure", "infrastructures", SHOOT)
                    .await?;
                infra
                    .pointer("/metadata/annotations/gardener.cloud~1operation")
                    .is_none()
                    .then_some(())
            })
            .await;
    }
    assert_eq!(
        stack.networks(SHOOT).await.len(),
        1,
        "exactly one node network"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_foreign_egress_ip_is_refused_with_a_clear_error_and_a_free_one_is_tagged() {
    let stack = Stack::start(&[], false).await;
    let free = stack
        .metal
        .allocate_ip(&IpAllocateRequest {
            networkid: "internet".into(),
            projectid: PROJECT.into(),
            ip_type: Some("static".into()),
            ..Default::default()
        })
        .await
        .expect("a static IP");
    let used = stack
        .metal
        .allocate_ip(&IpAllocateRequest {
            networkid: "internet".into(),
            projectid: PROJECT.into(),
            ip_type: Some("static".into()),
            tags: Some(vec![
                "cluster.metal-stack.io/id/namespace/service=someone/else/svc".into(),
            ]),
            ..Default::default()
        })
        .await
        .expect("a static IP in use");
    let spec = shoot(SHOOT, &[], &[&free.ipaddress, &used.ipaddress]);
    let url = stack.metal_api.url("");
    stack
        .create("clusters", &cluster(SHOOT, spec.clone(), &url))
        .await;
    stack.cloudprovider_secret(SHOOT).await;
    stack
        .create("infrastructures", &infrastructure(SHOOT, &spec))
        .await;
    let failed = stack
        .operation_state("Infrastructure", "infrastructures", SHOOT, "Error", MINUTE)
        .await;
    let description = failed["status"]["lastError"]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.contains(&used.ipaddress) && description.contains("in use"),
        "{description}"
    );
    assert_eq!(
        failed["status"]["lastError"]["codes"],
        json!(["ERR_CONFIGURATION_PROBLEM"])
    );
    // The IP in use is unchanged; the free one was tagged before it.
    let still = stack.metal.get_ip(&used.ipaddress).await.unwrap();
    assert_eq!(still.tags, used.tags);
    let tag = format!("cluster.metal-stack.io/id/egress={}", SHOOT.uid);
    let tagged = stack.ips_tagged(&tag).await;
    assert_eq!(
        tagged
            .iter()
            .map(|i| i.ipaddress.as_str())
            .collect::<Vec<_>>(),
        [free.ipaddress.as_str()]
    );
}

/// What gardener-resource-manager and a kubelet would make of the ControlPlane's
/// firewall-controller-manager: its Deployment, ready.
async fn firewall_manager_ready(stack: &Stack, namespace: &str) {
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(stack.kube.clone(), namespace);
    let deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "firewall-controller-manager", "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "firewall-controller-manager"}},
                 "template": {"metadata": {"labels": {"app": "firewall-controller-manager"}},
                              "spec": {"containers": [{"name": "fcm", "image": "fcm"}]}}},
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("firewall-controller-manager's Deployment");
    deployments
        .patch_status(
            "firewall-controller-manager",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 1, "readyReplicas": 1}})),
        )
        .await
        .expect("its status");
}

/// gardenlet's control-plane migration of a Worker: migrate on the old seed lets go of the
/// firewall objects (the firewall keeps running, nothing is freed in metal-api) after backing
/// the Firewalls up into the Infrastructure's state; restore on the new seed waits for
/// firewall-controller-manager, creates the Firewalls again and reconciles.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migrated_worker_lets_go_of_its_firewall_and_the_restore_brings_it_back() {
    let stack = Stack::start(&[("ext-m-x86", 1)], false).await;
    let pools = vec![PoolSpec {
        name: "pool-m",
        size: stack.pools[0].size.clone(),
        minimum: 1,
        maximum: 1,
    }];
    let spec = shoot(SHOOT, &pools, &[]);
    infrastructure_up(&stack, SHOOT, &spec).await;
    stack
        .create("operatingsystemconfigs", &osc(SHOOT, "pool-m"))
        .await;
    stack.create("workers", &worker(SHOOT, &pools)).await;
    stack
        .operation_state("Worker", "workers", SHOOT, "Succeeded", MINUTE)
        .await;
    let fcm = |kind: &str, plural: &str| {
        stack.api(
            Some(SHOOT.namespace),
            &resource("firewall.metal-stack.io/v2", kind, plural),
        )
    };
    let (deployments, firewalls) = (
        fcm("FirewallDeployment", "firewalldeployments"),
        fcm("Firewall", "firewalls"),
    );
    let template = serde_json::to_value(deployments.get("shoot-firewall").await.unwrap()).unwrap()
        ["spec"]["template"]
        .clone();

    // The Firewall firewall-controller-manager would have made, with its finalizer.
    let firewall: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "firewall.metal-stack.io/v2", "kind": "Firewall",
        "metadata": {"name": "shoot-firewall-m1x2z", "namespace": SHOOT.namespace,
                     "labels": template["metadata"]["labels"],
                     "finalizers": ["firewall.metal-stack.io/firewall-controller-manager"]},
        "spec": template["spec"], "distance": 0,
    }))
    .unwrap();
    firewalls
        .create(&PostParams::default(), &firewall)
        .await
        .expect("a Firewall");
    stack.annotate_reconcile("Worker", "workers", SHOOT).await;
    stack
        .eventually(
            "the Firewall backed up in the Infrastructure",
            MINUTE,
            || async {
                let infra = stack
                    .get("Infrastructure", "infrastructures", SHOOT)
                    .await?;
                infra["status"]["state"]["firewalls"]
                    .to_string()
                    .contains("shoot-firewall-m1x2z")
                    .then_some(())
            },
        )
        .await;
    let machines_before = stack.api(
        Some(SHOOT.namespace),
        &resource(
            "machine.sapcloud.io/v1alpha1",
            "MachineDeployment",
            "machinedeployments",
        ),
    );
    let md_count = machines_before
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(md_count, 1);

    // Migrate: the firewall objects let go of, finalizers and all; the machine objects stay.
    stack
        .annotate_operation("Worker", "workers", SHOOT, "migrate")
        .await;
    let migrated = stack
        .eventually("the Worker migrated", MINUTE, || async {
            let worker = stack.get("Worker", "workers", SHOOT).await?;
            (worker["status"]["lastOperation"]["type"] == "Migrate"
                && worker["status"]["lastOperation"]["state"] == "Succeeded")
                .then_some(worker)
        })
        .await;
    assert!(
        migrated["metadata"]["annotations"]
            .get("gardener.cloud/operation")
            .is_none(),
        "the operation annotation removed: {migrated}"
    );
    for (api, what) in [
        (&deployments, "FirewallDeployments"),
        (&firewalls, "Firewalls"),
    ] {
        let left = api.list(&ListParams::default()).await.unwrap().items;
        assert!(left.is_empty(), "{what} released: {left:?}");
    }
    assert_eq!(
        machines_before
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        md_count,
        "the machine objects stay"
    );

    // Restore: nothing before firewall-controller-manager is ready; then the Firewall as it
    // was and the FirewallDeployment again.
    stack
        .annotate_operation("Worker", "workers", SHOOT, "restore")
        .await;
    let waiting = stack
        .eventually(
            "the restore waiting for firewall-controller-manager",
            MINUTE,
            || async {
                let worker = stack.get("Worker", "workers", SHOOT).await?;
                let last = &worker["status"]["lastOperation"];
                (last["type"] == "Restore"
                    && last["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("firewall-controller-manager")))
                .then_some(worker)
            },
        )
        .await;
    assert_ne!(waiting["status"]["lastOperation"]["state"], "Succeeded");
    assert!(
        firewalls
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    firewall_manager_ready(&stack, SHOOT.namespace).await;
    stack
        .eventually("the Worker restored", 2 * MINUTE, || async {
            let worker = stack.get("Worker", "workers", SHOOT).await?;
            (worker["status"]["lastOperation"]["type"] == "Restore"
                && worker["status"]["lastOperation"]["state"] == "Succeeded")
                .then_some(())
        })
        .await;
    let restored =
        serde_json::to_value(firewalls.get("shoot-firewall-m1x2z").await.unwrap()).unwrap();
    assert_eq!(restored["spec"], template["spec"]);
    assert_eq!(
        restored["metadata"]["labels"],
        template["metadata"]["labels"]
    );
    deployments
        .get("shoot-firewall")
        .await
        .expect("the FirewallDeployment again");
}
