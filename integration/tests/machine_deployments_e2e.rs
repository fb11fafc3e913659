//! machine-lifecycle `--machine-deployments` end to end: a MachineDeployment as Gardener's
//! Worker controller writes it becomes one MachineSet and Running Machines with metal machines
//! allocated, follows scaling, rolls a template change within `replicas + maxSurge` Machines
//! and `replicas - maxUnavailable` available ones, and on deletion leaves no Machine and no
//! allocation behind. The binary runs as a process against a metal-api process and
//! kube-testserver (MCM's CRDs, owner-reference garbage collection), with the kubelet
//! simulator joining a Ready Node for each Machine that got a providerID.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use integration::machines::{CLASS, Mesh, NAMESPACE, Options, allocation_name, phase};
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_resources::mcm::{Machine, MachineDeployment, MachineSet};
use serde_json::json;

const NAME: &str = "shoot--prod--c1-worker-z1";
/// Machines of a few at once are Running within this.
const DEADLINE: Duration = Duration::from_secs(60);
const HASH_LABEL: &str = "machine-template-hash";

fn deployments(mesh: &Mesh) -> Api<MachineDeployment> {
    Api::namespaced(mesh.kube.client.clone(), NAMESPACE)
}

fn sets(mesh: &Mesh) -> Api<MachineSet> {
    Api::namespaced(mesh.kube.client.clone(), NAMESPACE)
}

/// A MachineDeployment as gardener-webhooks' Worker controller writes one (pool `worker`,
/// zone 1), with `maxSurge` 1 and `maxUnavailable` 0.
fn machine_deployment(replicas: i32) -> MachineDeployment {
    serde_json::from_value(json!({
        "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineDeployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE,
                     "labels": {"worker.gardener.cloud/pool": "worker"}},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": 0,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": {"name": NAME}},
            "template": {
                "metadata": {"labels": {"name": NAME}},
                "spec": {
                    "class": {"kind": "MachineClass", "name": CLASS},
                    "drainTimeout": "2h", "healthTimeout": "10m", "creationTimeout": "20m",
                    "maxEvictRetries": 10, "nodeConditions": "KernelDeadlock,ReadonlyFilesystem",
                    "nodeTemplate": {"metadata": {"labels": {"worker.gardener.cloud/pool": "worker"}}},
                },
            },
        },
    }))
    .expect("MachineDeployment")
}

async fn list_machines(mesh: &Mesh) -> Vec<Machine> {
    mesh.kube.list_machines().await
}

async fn list_sets(mesh: &Mesh) -> Vec<MachineSet> {
    sets(mesh)
        .list(&ListParams::default())
        .await
        .expect("list MachineSets")
        .items
}

fn name(machine: &Machine) -> &str {
    machine.metadata.name.as_deref().unwrap_or_default()
}

fn controller_uid(meta: &kube::api::ObjectMeta) -> Option<&str> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// What a settled MachineDeployment of `replicas` looks like.
struct Steady {
    set: MachineSet,
    machines: Vec<Machine>,
}

/// Waits until the MachineDeployment has exactly one MachineSet with `replicas`, exactly
/// `replicas` Machines (all of that set, Running, each with the providerID of the machine
/// allocated under its name), exactly those allocations in metal-api, and a status saying so
/// for its current generation.
async fn steady(mesh: &Mesh, replicas: usize) -> Steady {
    mesh.eventually(
        &format!("{replicas} Running Machines of one MachineSet"),
        DEADLINE,
        || async {
            let md = deployments(mesh).get(NAME).await.ok()?;
            let sets = list_sets(mesh).await;
            let [set] = sets.as_slice() else { return None };
            if set.spec.replicas != Some(replicas as i32)
                || controller_uid(&set.metadata) != md.uid().as_deref()
            {
                return None;
            }
            let machines = list_machines(mesh).await;
            let set_uid = set.uid();
            let settled = machines.len() == replicas
                && machines.iter().all(|m| {
                    phase(m) == Some("Running")
                        && m.metadata.deletion_timestamp.is_none()
                        && m.spec.provider_id.as_deref().is_some_and(|p| !p.is_empty())
                        && controller_uid(&m.metadata) == set_uid.as_deref()
                });
            if !settled {
                return None;
            }
            let allocated = mesh.allocations().await;
            let names: BTreeSet<&str> = machines.iter().map(name).collect();
            let allocated_names: BTreeSet<&str> = allocated.iter().map(allocation_name).collect();
            if allocated.len() != replicas || allocated_names != names {
                return None;
            }
            for machine in &machines {
                let id = &allocated
                    .iter()
                    .find(|a| allocation_name(a) == name(machine))?
                    .id;
                if !machine.spec.provider_id.as_deref()?.ends_with(id.as_str()) {
                    return None;
                }
            }
            let status = md.status.as_ref()?;
            let counted = status.available_replicas == Some(replicas as i32)
                && status.ready_replicas == Some(replicas as i32)
                && status.updated_replicas == Some(replicas as i32)
                && status.replicas == Some(replicas as i32)
                && status.unavailable_replicas == Some(0)
                && status.observed_generation == md.metadata.generation;
            counted.then(|| Steady {
                set: set.clone(),
                machines,
            })
        },
    )
    .await
}

/// Samples the Machines until stopped: the most that existed at once (terminating ones
/// included) and the fewest Running ones not being deleted.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, usize)>,
}

impl Sampler {
    fn start(mesh: &Mesh) -> Self {
        let machines: Api<Machine> = Api::namespaced(mesh.kube.client.clone(), NAMESPACE);
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let (mut most, mut fewest) = (0, usize::MAX);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(list) = machines.list(&ListParams::default()).await {
                        let available = list
                            .items
                            .iter()
                            .filter(|m| {
                                phase(m) == Some("Running")
                                    && m.metadata.deletion_timestamp.is_none()
                            })
                            .count();
                        most = most.max(list.items.len());
                        fewest = fewest.min(available);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (most, fewest)
            }
        });
        Self { stop, task }
    }

    async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("sampler")
    }
}

/// (a) replicas 3 → one MachineSet, 3 Running Machines, 3 machines allocated; (b) scaled to 5
/// (with a restart of machine-lifecycle right after) and to 2, Machines and allocations
/// follow; (c) a template change rolls to a second MachineSet within 4 Machines and at least
/// 2 available, the old set removed; (d) deleting the MachineDeployment leaves no MachineSet,
/// no Machine and no allocation.
#[tokio::test(flavor = "multi_thread")]
async fn a_machine_deployment_scales_rolls_and_goes_with_its_machines() {
    let mut options = Options::default();
    options.args.push("--machine-deployments");
    let mut mesh = Mesh::start(options).await;
    let md = deployments(&mesh)
        .create(&PostParams::default(), &machine_deployment(3))
        .await
        .expect("create the MachineDeployment");

    // (a)
    let first = steady(&mesh, 3).await;
    let set_name = first.set.name_any();
    let hash = first
        .set
        .labels()
        .get(HASH_LABEL)
        .cloned()
        .expect("hash label");
    assert_eq!(set_name, format!("{NAME}-{hash}"));
    assert!(
        (5..=10).contains(&hash.len())
            && hash
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{hash}"
    );
    let selector = first
        .set
        .spec
        .selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(selector.get(HASH_LABEL), Some(&hash));
    assert_eq!(selector.get("name").map(String::as_str), Some(NAME));
    let owner = &first.set.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "MachineDeployment");
    assert_eq!(Some(&owner.uid), md.metadata.uid.as_ref());
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    for machine in &first.machines {
        let name = machine.name_any();
        let suffix = name
            .strip_prefix(&format!("{set_name}-"))
            .unwrap_or_else(|| panic!("{name} is not named after {set_name}"));
        assert!(
            suffix.len() == 5
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{name}"
        );
        assert_eq!(machine.labels().get("name").map(String::as_str), Some(NAME));
        assert_eq!(machine.labels().get(HASH_LABEL), Some(&hash));
        assert_eq!(machine.spec.class.as_ref().unwrap().name, CLASS);
        assert_eq!(machine.spec.drain_timeout.as_deref(), Some("2h"));
        let template = machine.spec.node_template.as_ref().unwrap();
        let labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        assert_eq!(
            labels.get("worker.gardener.cloud/pool").map(String::as_str),
            Some("worker")
        );
        let owner = &machine.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("MachineSet", set_name.as_str())
        );
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
    }
    // The template's field the Machine type does not model came along.
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        mesh.kube.client.clone(),
        NAMESPACE,
        &kube::api::ApiResource::erase::<Machine>(&()),
    );
    let one = raw.get(&first.machines[0].name_any()).await.unwrap();
    assert_eq!(
        one.data["spec"]["nodeConditions"],
        "KernelDeadlock,ReadonlyFilesystem"
    );
    let conditions = deployments(&mesh)
        .get(NAME)
        .await
        .unwrap()
        .status
        .unwrap()
        .conditions
        .unwrap();
    let available = conditions.iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!(available.status, "True");

    // (b) Up to 5, with machine-lifecycle killed and restarted at once: it decides again from
    // what it lists, so nothing is made twice.
    let scale = |n: i32| json!({"spec": {"replicas": n}});
    deployments(&mesh)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&scale(5)))
        .await
        .unwrap();
    let sampler = Sampler::start(&mesh);
    mesh.ml.restart().await;
    let five = steady(&mesh, 5).await;
    let (most, _) = sampler.finish().await;
    assert!(most <= 5, "{most} Machines at once while scaling to 5");
    assert_eq!(
        five.set.name_any(),
        set_name,
        "scaling keeps the MachineSet"
    );
    let kept: BTreeSet<String> = first.machines.iter().map(|m| m.name_any()).collect();
    let now: BTreeSet<String> = five.machines.iter().map(|m| m.name_any()).collect();
    assert!(
        kept.is_subset(&now),
        "scaling up keeps the Machines there were"
    );

    deployments(&mesh)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&scale(2)))
        .await
        .unwrap();
    let two = steady(&mesh, 2).await;
    assert_eq!(two.set.name_any(), set_name);

    // (c) A template change (a label): a second MachineSet, never more than 2 + 1 Machines and
    // never fewer than 2 - 0 Running ones, the old set scaled to 0 and removed.
    let sampler = Sampler::start(&mesh);
    let relabel =
        json!({"spec": {"template": {"metadata": {"labels": {"name": NAME, "rev": "2"}}}}});
    deployments(&mesh)
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .unwrap();
    let second_set = mesh
        .eventually("a second MachineSet", DEADLINE, || async {
            let sets = list_sets(&mesh).await;
            sets.into_iter().find(|s| s.name_any() != set_name)
        })
        .await;
    let rolled = steady(&mesh, 2).await;
    let (most, fewest) = sampler.finish().await;
    assert_eq!(rolled.set.name_any(), second_set.name_any());
    assert_ne!(second_set.name_any(), set_name);
    assert!(
        most <= 3,
        "{most} Machines at once during the rollout (replicas 2 + maxSurge 1)"
    );
    assert!(
        fewest >= 2,
        "{fewest} available during the rollout (replicas 2 - maxUnavailable 0)"
    );
    let old_names: BTreeSet<String> = two.machines.iter().map(|m| m.name_any()).collect();
    assert!(
        rolled
            .machines
            .iter()
            .all(|m| !old_names.contains(&m.name_any())
                && m.labels().get("rev").map(String::as_str) == Some("2")),
        "every Machine is of the new template"
    );
    assert!(
        sets(&mesh).get_opt(&set_name).await.unwrap().is_none(),
        "the old MachineSet is removed"
    );

    // (d) Deleting the MachineDeployment: the garbage collector takes the MachineSet and its
    // Machines, the Machine controller frees the machines.
    deployments(&mesh)
        .delete(NAME, &DeleteParams::default())
        .await
        .unwrap();
    mesh.eventually("no MachineSet, Machine or allocation", DEADLINE, || async {
        let gone = list_sets(&mesh).await.is_empty()
            && list_machines(&mesh).await.is_empty()
            && mesh.allocations().await.is_empty();
        gone.then_some(())
    })
    .await;
    assert!(deployments(&mesh).get_opt(NAME).await.unwrap().is_none());
    let log = mesh.ml.log();
    assert!(log.contains("created MachineSet"), "the log tells:\n{log}");
}
