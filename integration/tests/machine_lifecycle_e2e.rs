//! machine-lifecycle end to end: the binary as a process against a metal-api process and
//! kube-testserver (MCM's Machine and MachineClass kinds, watches, finalizers, the status
//! subresource), with a kubelet simulator joining a Ready Node for each Machine that got a
//! providerID. Each test has a machine pool of its own: a size with exactly N machines in
//! fra-equ01 and a private network of the project.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use integration::machines::{
    CLASS, FINALIZER, Mesh, Options, allocation_name, allocations, names, phase, provider_id,
    secret_data,
};
use integration::metal_api::PARTITION;
use kube::api::DeleteParams;
use kube_resources::mcm::Machine;
use machine_lifecycle::proto;
use machine_lifecycle::proto::driver_client::DriverClient;
use metal_api_sdk::model::MachineResponse;
use serde_json::{Value, json};

/// Machines of a burst of 16 are Running within this.
const BURST: Duration = Duration::from_secs(40);
/// Anything smaller.
const DEADLINE: Duration = Duration::from_secs(20);

/// The allocation names of `allocated`, checking each name is used once.
fn allocation_names(allocated: &[MachineResponse]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for m in allocated {
        let name = allocation_name(m).to_string();
        assert!(
            seen.insert(name.clone()),
            "machine name {name} is allocated twice: {:?}",
            allocated
                .iter()
                .filter(|o| allocation_name(o) == name)
                .map(|o| &o.id)
                .collect::<Vec<_>>()
        );
    }
    seen
}

/// Asserts the cluster holds exactly one allocation per name of `expected` and nothing else,
/// each Machine's providerID names the machine allocated under its name, and the ids are
/// distinct machines of the pool.
async fn assert_one_machine_each(mesh: &Mesh, expected: &[String], machines: &[Machine]) {
    let allocated = mesh.allocations().await;
    let want: BTreeSet<String> = expected.iter().cloned().collect();
    assert_eq!(
        allocated.len(),
        expected.len(),
        "allocations with the cluster tag: {:?}",
        allocated
            .iter()
            .map(|m| (allocation_name(m), &m.id))
            .collect::<Vec<_>>()
    );
    assert_eq!(allocation_names(&allocated), want, "allocation names");
    let ids: BTreeSet<&str> = allocated.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), expected.len(), "distinct machines");
    for id in &ids {
        assert!(
            mesh.pool.machine_ids.iter().any(|p| p == id),
            "machine {id} is not of the pool's size"
        );
    }
    let by_name: HashMap<&str, &str> = allocated
        .iter()
        .map(|m| (allocation_name(m), m.id.as_str()))
        .collect();
    for machine in machines {
        let name = machine.metadata.name.as_deref().unwrap();
        if !want.contains(name) {
            continue;
        }
        assert_eq!(
            machine.spec.provider_id.as_deref(),
            Some(provider_id(by_name[name]).as_str()),
            "Machine {name}: providerID is the machine allocated under its name"
        );
    }
}

fn last_operation(machine: &Machine) -> (Option<&str>, Option<&str>, Option<&str>) {
    let op = machine
        .status
        .as_ref()
        .and_then(|s| s.last_operation.as_ref());
    (
        op.and_then(|o| o.type_.as_deref()),
        op.and_then(|o| o.state.as_deref()),
        op.and_then(|o| o.error_code.as_deref())
            .filter(|c| !c.is_empty()),
    )
}

/// Spawns a poller that SIGKILLs `pid` the moment metal-api shows the cluster's first
/// allocation, and returns how many it saw then. Started before the burst, so the kill lands
/// while the burst is in flight.
fn kill_at_first_allocation(
    metal: metal_api_sdk::client::Client,
    cluster: String,
    pid: u32,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let deadline = Instant::now() + BURST;
        loop {
            if let Ok(found) = allocations(&metal, &cluster).await
                && !found.is_empty()
            {
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
                return found.len();
            }
            assert!(Instant::now() < deadline, "no allocation within {BURST:?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_16_gets_16_distinct_machines_running() {
    let mesh = Mesh::start(Options::default()).await;
    let names = names("w-burst", 16);
    mesh.kube.create_machines(&names, CLASS).await;

    let running = mesh.all_running(&names, BURST).await;
    assert_one_machine_each(&mesh, &names, &running).await;
    for machine in &running {
        let name = machine.metadata.name.as_deref().unwrap();
        let pid = machine.spec.provider_id.as_deref().unwrap();
        assert!(
            pid.starts_with(&format!("metal:///{PARTITION}/")),
            "{name}: {pid}"
        );
        assert!(
            machine
                .metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == FINALIZER),
            "{name} holds {FINALIZER}: {:?}",
            machine.metadata.finalizers
        );
        let status = machine.status.as_ref().unwrap();
        let addresses = status.addresses.as_deref().unwrap_or_default();
        assert!(
            addresses.iter().any(|a| a.type_ == "InternalIP"),
            "{name} has an InternalIP: {addresses:?}"
        );
        assert!(
            addresses
                .iter()
                .any(|a| a.type_ == "Hostname" && a.address == name),
            "{name} has its Hostname: {addresses:?}"
        );
        assert_eq!(
            last_operation(machine),
            (Some("Create"), Some("Successful"), None),
            "{name}: lastOperation"
        );
        let node = mesh
            .kube
            .nodes()
            .get(name)
            .await
            .expect("the Machine's Node");
        assert_eq!(node.spec.unwrap().provider_id.as_deref(), Some(pid));
    }
    assert_eq!(mesh.kubelet.joined(), 16);
}

#[tokio::test(flavor = "multi_thread")]
async fn exhaustion_waits_and_a_freed_machine_wakes_the_waiter_at_once() {
    let mesh = Mesh::start(Options::default()).await;
    let names = names("w-pool", 16);
    mesh.kube.create_machines(&names, CLASS).await;
    mesh.all_running(&names, BURST).await;

    // The 17th: no machine left.
    mesh.kube.create_machine("w-extra", CLASS, &[]).await;
    let extra = mesh
        .eventually(
            "w-extra to fail with ResourceExhausted",
            DEADLINE,
            || async {
                let m = mesh.kube.machines().get("w-extra").await.ok()?;
                (last_operation(&m).2 == Some("ResourceExhausted")).then_some(m)
            },
        )
        .await;
    assert_eq!(
        last_operation(&extra),
        (Some("Create"), Some("Failed"), Some("ResourceExhausted"))
    );
    assert_eq!(phase(&extra), Some("CrashLoopBackOff"));
    assert!(extra.spec.provider_id.is_none());
    assert_eq!(mesh.allocations().await.len(), 16, "nothing more allocated");

    // Delete one Running Machine: its machine is freed, its Node deleted, the Machine gone,
    // and the waiter gets the machine long before --retry-long (10m).
    let victim = names[3].clone();
    let victim_pid = mesh
        .kube
        .machines()
        .get(&victim)
        .await
        .unwrap()
        .spec
        .provider_id
        .unwrap();
    let victim_id = victim_pid.rsplit('/').next().unwrap().to_string();
    let deleted = Instant::now();
    mesh.kube
        .machines()
        .delete(&victim, &DeleteParams::default())
        .await
        .expect("delete a Machine");
    mesh.eventually(
        &format!("Machine {victim} gone, its Node deleted, its machine freed"),
        DEADLINE,
        || async {
            let gone = mesh.kube.machines().get_opt(&victim).await.ok()?.is_none();
            let node_gone = mesh.kube.nodes().get_opt(&victim).await.ok()?.is_none();
            let m = mesh.metal.get_machine(&victim_id).await.ok()?;
            let freed = m.allocation.is_none() || allocation_name(&m) == "w-extra";
            (gone && node_gone && freed).then_some(())
        },
    )
    .await;
    let extra = mesh
        .eventually("w-extra Running on the freed machine", DEADLINE, || async {
            let m = mesh.kube.machines().get("w-extra").await.ok()?;
            (phase(&m) == Some("Running")).then_some(m)
        })
        .await;
    let waited = deleted.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "the waiter took {waited:?} after the delete (--retry-long is 10m)"
    );
    assert_eq!(
        extra.spec.provider_id.as_deref(),
        Some(victim_pid.as_str()),
        "w-extra got the one machine freed"
    );
    let mut now: Vec<String> = names.iter().filter(|n| **n != victim).cloned().collect();
    now.push("w-extra".into());
    assert_one_machine_each(&mesh, &now, &mesh.kube.list_machines().await).await;
    eprintln!("the 17th Machine was Running {waited:?} after the delete");
}

#[tokio::test(flavor = "multi_thread")]
async fn metal_api_killed_mid_burst_leaves_no_duplicate_and_no_leak() {
    // Two workers: with 16, metal-api commits the whole burst in one or two batches, too fast
    // to kill it in between.
    let mut options = Options::default();
    options.args.extend(["--workers", "2"]);
    let mut mesh = Mesh::start(options).await;
    let names = names("w-crash", 16);
    let killer = kill_at_first_allocation(
        mesh.metal.clone(),
        mesh.pool.cluster.clone(),
        mesh.metal_api.pid(),
    );
    mesh.kube.create_machines(&names, CLASS).await;
    let seen = killer.await.unwrap();
    mesh.metal_api.kill9();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    mesh.metal_api.restart();
    let at_kill = mesh.allocations().await.len();
    eprintln!("killed metal-api on seeing {seen} allocation(s); {at_kill} of 16 were committed");
    assert!(
        at_kill < names.len(),
        "all 16 were allocated before metal-api died: the burst was not caught in flight"
    );

    let running = mesh.all_running(&names, Duration::from_secs(60)).await;
    assert_one_machine_each(&mesh, &names, &running).await;
    // None leaked: every machine of the size is one Machine's.
    let size = mesh
        .metal
        .find_machines(&metal_api_sdk::model::MachineFindRequest {
            sizeid: Some(mesh.pool.size.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let allocated: Vec<&str> = size
        .iter()
        .filter(|m| m.allocation.is_some())
        .map(allocation_name)
        .collect();
    assert_eq!(
        allocated.len(),
        16,
        "allocated machines of the size: {allocated:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_machine_allocated_before_the_driver_died_is_adopted() {
    let mesh = Mesh::start(Options::default()).await;
    // What a driver killed between metal-api's answer and the providerID write leaves: a
    // machine allocated under the Machine's name with the cluster tag.
    let orphan = mesh
        .metal
        .allocate_machine(&mesh.pool.allocate_request("w-adopt"))
        .await
        .expect("allocate as the driver would");
    mesh.kube.create_machine("w-adopt", CLASS, &[]).await;
    let running = mesh.all_running(&["w-adopt".to_string()], DEADLINE).await;
    assert_eq!(
        running[0].spec.provider_id.as_deref(),
        Some(provider_id(&orphan.id).as_str()),
        "the Machine adopted the machine allocated under its name"
    );
    let allocated = mesh.allocations().await;
    assert_eq!(
        allocated
            .iter()
            .filter(|m| allocation_name(m) == "w-adopt")
            .count(),
        1,
        "still exactly one allocation named w-adopt"
    );
    assert_eq!(allocated.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn machine_lifecycle_killed_mid_burst_allocates_nothing_twice() {
    // Two workers: the burst of 8 takes long enough to be caught in flight.
    let mut options = Options::default();
    options.args.extend(["--workers", "2"]);
    let mut mesh = Mesh::start(options).await;
    let names = names("w-kill", 8);
    let killer =
        kill_at_first_allocation(mesh.metal.clone(), mesh.pool.cluster.clone(), mesh.ml.pid());
    mesh.kube.create_machines(&names, CLASS).await;
    let seen = killer.await.unwrap();
    mesh.ml.kill9();
    let at_kill = mesh.allocations().await.len();
    let without_provider_id = mesh
        .kube
        .list_machines()
        .await
        .iter()
        .filter(|m| m.spec.provider_id.is_none())
        .count();
    eprintln!(
        "killed machine-lifecycle on seeing {seen} allocation(s): {at_kill} allocated, \
         {without_provider_id} Machines without providerID"
    );
    assert!(
        without_provider_id > 0,
        "every Machine had its providerID before the kill: the burst was not caught in flight"
    );
    mesh.ml.restart().await;

    let running = mesh.all_running(&names, BURST).await;
    assert_one_machine_each(&mesh, &names, &running).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_without_a_provider_id_frees_the_machine_allocated_under_the_name() {
    let mesh = Mesh::start(Options {
        machines: 4,
        ..Options::default()
    })
    .await;
    let http = integration::http_client();
    let spec = mesh.pool.provider_spec();
    let secret = secret_data(&mesh.metal_api.url(""));

    // REST: only the name and an inline class.
    let orphan = mesh
        .metal
        .allocate_machine(&mesh.pool.allocate_request("w-orphan"))
        .await
        .unwrap();
    let response = http
        .delete(mesh.ml.url("/v1/machines/w-orphan"))
        .json(&json!({"providerSpec": spec, "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["freedProviderID"], json!(provider_id(&orphan.id)));
    let m = mesh.metal.get_machine(&orphan.id).await.unwrap();
    assert!(m.allocation.is_none(), "the orphan is freed: {m:?}");
    let again: Value = http
        .delete(mesh.ml.url("/v1/machines/w-orphan"))
        .json(&json!({"providerSpec": spec, "secret": secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["freedProviderID"],
        Value::Null,
        "nothing left to free"
    );

    // Kubernetes: a Machine holding the finalizer but without providerID (its class's Secret
    // broke before Create could run), deleted; once the Secret is fixed the delete frees the
    // machine allocated under its name.
    let lost = mesh
        .metal
        .allocate_machine(&mesh.pool.allocate_request("w-lost"))
        .await
        .unwrap();
    let mut broken = secret.clone();
    broken.remove("metalAPIHMac");
    mesh.kube.put_secret("broken-secret", &broken).await;
    mesh.kube
        .create_class("broken", mesh.pool.provider_spec(), "broken-secret")
        .await;
    mesh.kube
        .create_machine("w-lost", "broken", &[FINALIZER])
        .await;
    mesh.eventually("w-lost to fail with InvalidArgument", DEADLINE, || async {
        let m = mesh.kube.machines().get("w-lost").await.ok()?;
        (last_operation(&m).2 == Some("InvalidArgument")).then_some(())
    })
    .await;
    mesh.kube
        .machines()
        .delete("w-lost", &DeleteParams::default())
        .await
        .unwrap();
    let m = mesh
        .eventually("w-lost's Delete to fail", DEADLINE, || async {
            let m = mesh.kube.machines().get("w-lost").await.ok()?;
            (last_operation(&m).0 == Some("Delete")).then_some(m)
        })
        .await;
    assert_eq!(phase(&m), Some("Terminating"));
    assert!(m.spec.provider_id.is_none());
    assert!(
        mesh.metal
            .get_machine(&lost.id)
            .await
            .unwrap()
            .allocation
            .is_some(),
        "nothing freed while the class is broken"
    );
    mesh.kube.put_secret("broken-secret", &secret).await;
    mesh.eventually("w-lost gone and its machine freed", DEADLINE, || async {
        let gone = mesh.kube.machines().get_opt("w-lost").await.ok()?.is_none();
        let freed = mesh
            .metal
            .get_machine(&lost.id)
            .await
            .ok()?
            .allocation
            .is_none();
        (gone && freed).then_some(())
    })
    .await;
    assert!(mesh.allocations().await.is_empty(), "nothing leaked");
}

/// POSTs `body` to `/v1/machines`; status and JSON body (problem+json checked for errors).
async fn post_machine(http: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let response = http.post(url).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    if status >= 400 {
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(content_type, "application/problem+json", "status {status}");
    }
    (status, response.json().await.unwrap())
}

fn grpc_class(spec: &Value, secret: &BTreeMap<String, String>) -> proto::MachineClass {
    proto::MachineClass {
        name: "inline".into(),
        provider_spec_json: serde_json::to_vec(spec).unwrap(),
        secret: secret
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect(),
    }
}

fn grpc_machine(name: &str, provider_id: &str) -> Option<proto::Machine> {
    Some(proto::Machine {
        name: name.into(),
        provider_id: provider_id.into(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_driver_over_rest_and_grpc() {
    let mut mesh = Mesh::start(Options {
        machines: 3,
        ..Options::default()
    })
    .await;
    let http = integration::http_client();
    let url = mesh.ml.url("/v1/machines");
    let spec = mesh.pool.provider_spec();
    let secret = secret_data(&mesh.metal_api.url(""));
    let create = |name: &str| json!({"name": name, "providerSpec": spec, "secret": secret});

    // REST create, then the same again: found, not allocated twice.
    let (status, first) = post_machine(&http, &url, &create("r-1")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["adopted"], false);
    assert_eq!(first["nodeName"], "r-1");
    let p1 = first["providerID"].as_str().unwrap().to_string();
    assert!(p1.starts_with(&format!("metal:///{PARTITION}/")), "{p1}");
    assert!(
        first["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "InternalIP"),
        "{first}"
    );
    let (status, second) = post_machine(&http, &url, &create("r-1")).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["adopted"], true);
    assert_eq!(second["providerID"], json!(p1));
    assert_eq!(mesh.allocations().await.len(), 1);

    // Invalid providerSpec: 400 naming the field, nothing allocated.
    let mut no_size = spec.clone();
    no_size.as_object_mut().unwrap().remove("size");
    let (status, problem) = post_machine(
        &http,
        &url,
        &json!({"name": "r-bad", "providerSpec": no_size, "secret": secret}),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "InvalidArgument");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("providerSpec.size"),
        "{problem}"
    );

    // gRPC on the socket.
    let channel = machine_lifecycle::grpc::connect(&mesh.ml.socket)
        .await
        .expect("connect to the driver socket");
    let mut driver = DriverClient::new(channel);
    let class = || Some(grpc_class(&spec, &secret));
    let created = driver
        .create_machine(proto::CreateMachineRequest {
            machine: grpc_machine("g-1", ""),
            machine_class: class(),
        })
        .await
        .expect("CreateMachine")
        .into_inner();
    assert!(!created.adopted);
    assert_eq!(created.node_name, "g-1");
    let pg = created.provider_id.clone();
    assert_ne!(pg, p1);
    let again = driver
        .create_machine(proto::CreateMachineRequest {
            machine: grpc_machine("g-1", ""),
            machine_class: class(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.adopted);
    assert_eq!(again.provider_id, pg);

    let not_yet = driver
        .get_machine_status(proto::GetMachineStatusRequest {
            machine: grpc_machine("g-1", ""),
            machine_class: class(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_yet.code(), tonic::Code::NotFound, "{not_yet:?}");
    let status = driver
        .get_machine_status(proto::GetMachineStatusRequest {
            machine: grpc_machine("g-1", &pg),
            machine_class: class(),
        })
        .await
        .expect("GetMachineStatus")
        .into_inner();
    assert_eq!(
        (status.provider_id.as_str(), status.node_name.as_str()),
        (pg.as_str(), "g-1")
    );
    assert!(status.addresses.iter().any(|a| a.r#type == "InternalIP"));

    let listed = driver
        .list_machines(proto::ListMachinesRequest {
            machine_class: class(),
        })
        .await
        .expect("ListMachines")
        .into_inner()
        .machine_list;
    let want: HashMap<String, String> =
        HashMap::from([(p1.clone(), "r-1".into()), (pg.clone(), "g-1".into())]);
    assert_eq!(listed, want);

    let init = driver
        .initialize_machine(proto::InitializeMachineRequest {
            machine: grpc_machine("g-1", &pg),
            machine_class: class(),
        })
        .await
        .unwrap_err();
    assert_eq!(init.code(), tonic::Code::Unimplemented);

    let volumes = driver
        .get_volume_i_ds(proto::GetVolumeIDsRequest {
            pv_specs: vec![
                proto::VolumeSpec {
                    csi_driver: "csi.lightbitslabs.com".into(),
                    csi_volume_handle: "mgmt:10.0.0.1:443|nguid:6a5b-77|proj:p".into(),
                },
                proto::VolumeSpec {
                    csi_driver: "lvm.csi.metal-stack.io".into(),
                    csi_volume_handle: "pvc-1234".into(),
                },
                proto::VolumeSpec {
                    csi_driver: String::new(),
                    csi_volume_handle: "hostpath".into(),
                },
            ],
        })
        .await
        .expect("GetVolumeIDs")
        .into_inner()
        .volume_ids;
    assert_eq!(volumes, vec!["6a5b-77".to_string(), "pvc-1234".into()]);

    // The pool's third machine, then none left: 429 ResourceExhausted.
    let (status, body) = post_machine(&http, &url, &create("r-2")).await;
    assert_eq!(status, 201, "{body}");
    let (status, problem) = post_machine(&http, &url, &create("r-3")).await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["code"], "ResourceExhausted");
    let exhausted = driver
        .create_machine(proto::CreateMachineRequest {
            machine: grpc_machine("g-2", ""),
            machine_class: class(),
        })
        .await
        .unwrap_err();
    assert_eq!(exhausted.code(), tonic::Code::ResourceExhausted);

    // Delete over gRPC and REST.
    let deleted = driver
        .delete_machine(proto::DeleteMachineRequest {
            machine: grpc_machine("g-1", &pg),
            machine_class: class(),
        })
        .await
        .expect("DeleteMachine")
        .into_inner();
    assert_eq!(deleted.freed_provider_id, pg);
    let released = driver
        .get_machine_status(proto::GetMachineStatusRequest {
            machine: grpc_machine("g-1", &pg),
            machine_class: class(),
        })
        .await
        .unwrap_err();
    assert_eq!(released.code(), tonic::Code::NotFound, "{released:?}");
    let response = http
        .delete(mesh.ml.url("/v1/machines/r-1"))
        .json(&json!({"providerID": p1, "providerSpec": spec, "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["freedProviderID"], json!(p1));
    let left: BTreeSet<String> = allocation_names(&mesh.allocations().await);
    assert_eq!(left, BTreeSet::from(["r-2".to_string()]));

    // metal-api down: 503 Unavailable, UNAVAILABLE.
    mesh.metal_api.kill9();
    let (status, problem) = post_machine(&http, &url, &create("r-4")).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "Unavailable");
    let down = driver
        .create_machine(proto::CreateMachineRequest {
            machine: grpc_machine("g-3", ""),
            machine_class: class(),
        })
        .await
        .unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_machines_are_listed_with_phase_and_last_operation() {
    let mesh = Mesh::start(Options {
        machines: 2,
        ..Options::default()
    })
    .await;
    mesh.kube.create_machine("w-ok", CLASS, &[]).await;
    mesh.kube.create_machine("w-noclass", "missing", &[]).await;
    mesh.kube
        .create_class("aws", json!({"region": "eu-1"}), "none")
        .await;
    // Another provider's class: not ours (the class is patched to provider aws).
    let patch = json!({"provider": "aws"});
    mesh.kube
        .classes()
        .patch(
            "aws",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    mesh.kube.create_machine("w-other", "aws", &[]).await;
    mesh.all_running(&["w-ok".to_string()], DEADLINE).await;
    mesh.eventually("w-noclass to fail", DEADLINE, || async {
        let m = mesh.kube.machines().get("w-noclass").await.ok()?;
        last_operation(&m).2.is_some().then_some(())
    })
    .await;

    let http = integration::http_client();
    let response = http.get(mesh.ml.url("/v1/machines")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let listed: Vec<Value> = response.json().await.unwrap();
    let by_name: HashMap<&str, &Value> = listed
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m))
        .collect();
    assert_eq!(by_name.len(), 3, "{listed:?}");

    let ok = by_name["w-ok"];
    assert_eq!(ok["phase"], "Running", "{ok}");
    assert_eq!(ok["machineClass"], CLASS);
    assert_eq!(ok["lastOperation"]["type"], "Create");
    assert_eq!(ok["lastOperation"]["state"], "Successful");
    assert_eq!(ok["deleting"], false);
    let id = mesh.allocations().await[0].id.clone();
    assert_eq!(ok["providerID"], json!(provider_id(&id)));
    assert!(
        ok["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "InternalIP"),
        "{ok}"
    );

    let bad = by_name["w-noclass"];
    assert_eq!(bad["phase"], "CrashLoopBackOff", "{bad}");
    assert_eq!(bad["lastOperation"]["type"], "Create");
    assert_eq!(bad["lastOperation"]["state"], "Failed");
    assert_eq!(bad["lastOperation"]["errorCode"], "InvalidArgument");
    assert!(
        bad["lastOperation"]["description"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{bad}"
    );
    assert_eq!(bad["providerID"], Value::Null);

    let other = by_name["w-other"];
    assert_eq!(
        other["phase"],
        Value::Null,
        "another provider's Machine is left alone: {other}"
    );
    assert_eq!(other["lastOperation"], Value::Null);
    assert_eq!(mesh.allocations().await.len(), 1);
}
