//! lb-allocator end to end: kube-testserver (with MetalLB's CRDs), the embedded metal-api and
//! lb-allocator, each its own process, talking over HTTP with real watches.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use integration::kube::{KubeTestServer, write_kubeconfig};
use integration::lb_allocator::{CLUSTER, LbAllocator, Options, metallb_crds};
use integration::metal_api::{Caller, MetalApi, OTHER_PROJECT, PARTITION, PROJECT};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// Polls `check` every 100 ms until it yields a value, or panics naming `what`.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const WAIT: Duration = Duration::from_secs(30);

struct Mesh {
    _dir: tempfile::TempDir,
    metal: MetalApi,
    kube: KubeTestServer,
    lb: LbAllocator,
    client: kube::Client,
    caller: Caller,
}

impl Mesh {
    async fn start(tweak: impl FnOnce(&mut Options)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let crds = metallb_crds(dir.path());
        let kube =
            KubeTestServer::start(&crds.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &[]);
        let kubeconfig = write_kubeconfig(dir.path(), &kube.url());
        let metal = MetalApi::start(&dir.path().join("metal-api"));
        let client = integration::kube::client(&kube.url());
        integration::kube::create_namespaces(&client, &["metallb-system", "shop"]).await;
        let mut options = Options::new(&metal, Some(&kubeconfig));
        tweak(&mut options);
        let lb = LbAllocator::start(&options);
        let caller = Caller::new(&metal);
        Self {
            _dir: dir,
            metal,
            kube,
            lb,
            client,
            caller,
        }
    }

    fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), "shop")
    }

    async fn create_service(&self, name: &str, annotations: Value, spec: Value) {
        let mut spec = spec;
        spec["type"] = json!("LoadBalancer");
        spec["ports"] = json!([{"port": 443}]);
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": spec,
        }))
        .unwrap();
        self.services()
            .create(&PostParams::default(), &svc)
            .await
            .unwrap();
    }

    async fn ingress(&self, name: &str) -> Vec<String> {
        let Ok(svc) = self.services().get(name).await else {
            return vec![];
        };
        let mut ips: Vec<String> = svc
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.ip)
            .collect();
        ips.sort();
        ips
    }

    async fn wait_ingress(&self, name: &str, count: usize) -> Vec<String> {
        eventually(&format!("{count} ingress IPs on {name}"), WAIT, || async {
            let ips = self.ingress(name).await;
            (ips.len() == count).then_some(ips)
        })
        .await
    }

    async fn delete_service(&self, name: &str) {
        self.services()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    async fn wait_gone(&self, name: &str) {
        eventually(&format!("service {name} gone"), WAIT, || async {
            matches!(self.services().get_opt(name).await, Ok(None)).then_some(())
        })
        .await
    }

    /// The project's IPs by address.
    async fn ips(&self) -> BTreeMap<String, Value> {
        let (status, ips) = self
            .caller
            .view("POST", "/v1/ip/find", Some(json!({"projectid": PROJECT})))
            .await;
        assert_eq!(status, 200, "{ips}");
        ips.as_array()
            .unwrap()
            .iter()
            .map(|ip| (ip["ipaddress"].as_str().unwrap().to_string(), ip.clone()))
            .collect()
    }

    /// MetalLB objects of a kind, by name: their specs.
    async fn metallb(&self, plural: &str, version: &str, kind: &str) -> BTreeMap<String, Value> {
        let resource = ApiResource {
            group: "metallb.io".into(),
            version: version.into(),
            api_version: format!("metallb.io/{version}"),
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), "metallb-system", &resource);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|o| (o.metadata.name.clone().unwrap(), o.data["spec"].clone()))
            .collect()
    }

    async fn pools(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.metallb("ipaddresspools", "v1beta1", "IPAddressPool")
            .await
            .into_iter()
            .map(|(name, spec)| {
                let addrs = spec["addresses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect();
                (name, addrs)
            })
            .collect()
    }

    /// (type, reason, note) of the events regarding `name` in `namespace`.
    async fn events(&self, namespace: &str, name: &str) -> Vec<(String, String, String)> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), namespace);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn wait_event(
        &self,
        namespace: &str,
        name: &str,
        reason: &str,
        note_part: &str,
    ) -> String {
        eventually(
            &format!("event {reason} ({note_part}) on {name}"),
            WAIT,
            || async {
                self.events(namespace, name)
                    .await
                    .into_iter()
                    .find(|(_, r, n)| r == reason && n.contains(note_part))
                    .map(|(_, _, n)| n)
            },
        )
        .await
    }

    async fn http(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let http = self.lb.http();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = http.request(method, self.lb.url(path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn service_tag(name: &str) -> String {
    format!("cluster.metal-stack.io/id/namespace/service={CLUSTER}/shop/{name}")
}

fn tags(ip: &Value) -> Vec<String> {
    ip["tags"]
        .as_array()
        .map(|t| t.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn services_get_ips_and_the_metallb_objects_follow() {
    let mesh = Mesh::start(|_| {}).await;

    // One Service: an ephemeral IP, tagged, in status, in a pool with an advertisement.
    mesh.create_service("web", json!({}), json!({})).await;
    let ips = mesh.wait_ingress("web", 1).await;
    let address = &ips[0];
    let record = &mesh.ips().await[address];
    assert_eq!(record["type"], "ephemeral");
    assert_eq!(record["networkid"], "internet");
    assert!(
        record["name"].as_str().unwrap().starts_with("metallb-"),
        "{record}"
    );
    assert_eq!(tags(record), [service_tag("web")]);
    // The status is written after the configuration: the pool already holds the address.
    assert_eq!(
        mesh.pools().await["internet-ephemeral"],
        BTreeSet::from([format!("{address}/32")])
    );
    let adverts = mesh
        .metallb("bgpadvertisements", "v1beta1", "BGPAdvertisement")
        .await;
    assert_eq!(
        adverts["internet-ephemeral"]["ipAddressPools"],
        json!(["internet-ephemeral"])
    );
    let svc = mesh.services().get("web").await.unwrap();
    assert!(
        svc.metadata
            .finalizers
            .unwrap()
            .contains(&"service.kubernetes.io/load-balancer-cleanup".to_string())
    );
    assert!(
        svc.spec.unwrap().load_balancer_ip.is_none(),
        "the IP is not written into the spec"
    );
    mesh.wait_event("shop", "web", "IPAllocated", address).await;

    // Delete: the IP is freed, the finalizer goes, and with no pools left so do the objects.
    mesh.delete_service("web").await;
    mesh.wait_gone("web").await;
    assert!(
        !mesh.ips().await.contains_key(address),
        "the ephemeral IP was freed"
    );
    eventually("pools and advertisements gone", WAIT, || async {
        let empty = mesh.pools().await.is_empty()
            && mesh
                .metallb("bgpadvertisements", "v1beta1", "BGPAdvertisement")
                .await
                .is_empty();
        empty.then_some(())
    })
    .await;

    // Dual-stack: one IP per family.
    mesh.create_service(
        "dual",
        json!({}),
        json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}),
    )
    .await;
    let dual = mesh.wait_ingress("dual", 2).await;
    assert!(
        dual.iter().any(|a| a.contains('.')) && dual.iter().any(|a| a.contains(':')),
        "{dual:?}"
    );
    let pool = &mesh.pools().await["internet-ephemeral"];
    assert!(pool.iter().any(|c| c.ends_with("/128")), "{pool:?}");

    // Type changed away from LoadBalancer: released, status cleared, finalizer dropped.
    let patch = json!({"spec": {"type": "ClusterIP"}});
    mesh.services()
        .patch("dual", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually("dual released", WAIT, || async {
        let svc = mesh.services().get("dual").await.ok()?;
        let released = svc.metadata.finalizers.unwrap_or_default().is_empty()
            && mesh.ingress("dual").await.is_empty();
        released.then_some(())
    })
    .await;
    let remaining = mesh.ips().await;
    assert!(
        dual.iter().all(|a| !remaining.contains_key(a)),
        "both freed"
    );
    mesh.wait_event("shop", "dual", "IPReleased", &dual[0])
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fixed_ips_are_adopted_shared_and_never_freed_when_static() {
    let mesh = Mesh::start(|_| {}).await;
    let (status, fixed) = mesh
        .caller
        .edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "internet", "projectid": PROJECT, "type": "static", "name": "shared"})),
        )
        .await;
    assert_eq!(status, 201, "{fixed}");
    let fixed = fixed["ipaddress"].as_str().unwrap().to_string();

    // A Service that first got an ephemeral IP, then names the static one: the old one goes.
    mesh.create_service("a", json!({}), json!({})).await;
    let first = mesh.wait_ingress("a", 1).await.remove(0);
    let patch = json!({"spec": {"loadBalancerIP": fixed}});
    mesh.services()
        .patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually("a moved to the fixed IP", WAIT, || async {
        (mesh.ingress("a").await == [fixed.clone()]).then_some(())
    })
    .await;
    let ips = mesh.ips().await;
    assert!(
        !ips.contains_key(&first),
        "the previous ephemeral IP was freed"
    );
    assert_eq!(tags(&ips[&fixed]), [service_tag("a")]);
    mesh.wait_event("shop", "a", "IPAdopted", &fixed).await;

    // A second Service shares it; each holds its own tag.
    mesh.create_service(
        "b",
        json!({"metallb.io/allow-shared-ip": "x"}),
        json!({"loadBalancerIP": fixed}),
    )
    .await;
    mesh.wait_ingress("b", 1).await;
    let shared = tags(&mesh.ips().await[&fixed]);
    assert_eq!(shared.len(), 2, "{shared:?}");
    assert_eq!(
        mesh.pools().await["internet-static"],
        BTreeSet::from([format!("{fixed}/32")])
    );

    // Releasing one leaves the other's tag; releasing both keeps the static IP, untagged.
    mesh.delete_service("a").await;
    mesh.wait_gone("a").await;
    assert_eq!(tags(&mesh.ips().await[&fixed]), [service_tag("b")]);
    mesh.delete_service("b").await;
    mesh.wait_gone("b").await;
    let ips = mesh.ips().await;
    assert!(ips.contains_key(&fixed), "a static IP is never freed");
    assert!(tags(&ips[&fixed]).is_empty());
    eventually("the static pool is gone", WAIT, || async {
        (!mesh.pools().await.contains_key("internet-static")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_services_at_once_get_fifty_distinct_ips_and_all_are_freed() {
    let mesh = Mesh::start(|_| {}).await;
    let before = mesh.ips().await.len();
    let names: Vec<String> = (0..50).map(|i| format!("svc-{i}")).collect();
    futures::future::join_all(
        names
            .iter()
            .map(|n| mesh.create_service(n, json!({}), json!({}))),
    )
    .await;
    let all: Vec<String> = futures::future::join_all(names.iter().map(|n| mesh.wait_ingress(n, 1)))
        .await
        .into_iter()
        .flatten()
        .collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 50, "{all:?}");
    let pool = &mesh.pools().await["internet-ephemeral"];
    assert!(all.iter().all(|a| pool.contains(&format!("{a}/32"))));
    let ips = mesh.ips().await;
    for (name, address) in names.iter().zip(&all) {
        assert_eq!(tags(&ips[address]), [service_tag(name)], "{address}");
    }

    futures::future::join_all(names.iter().map(|n| mesh.delete_service(n))).await;
    futures::future::join_all(names.iter().map(|n| mesh.wait_gone(n))).await;
    assert_eq!(mesh.ips().await.len(), before, "every IP freed");
    eventually("pool gone", WAIT, || async {
        mesh.pools().await.is_empty().then_some(())
    })
    .await;
}

/// A machine allocated to the project with `hostname`, on a tenant network and the internet.
async fn allocate_machine(caller: &Caller, hostname: &str) -> Value {
    let (status, net) = caller
        .edit(
            "POST",
            "/v1/network/allocate",
            Some(json!({"projectid": PROJECT, "partitionid": PARTITION})),
        )
        .await;
    assert_eq!(status, 201, "{net}");
    let (status, machine) = caller
        .edit(
            "POST",
            "/v1/machine/allocate",
            Some(json!({
                "name": hostname, "hostname": hostname, "projectid": PROJECT, "partitionid": PARTITION,
                "sizeid": "c1-medium-x86", "imageid": "ubuntu-24.04", "ssh_pub_keys": [],
                "networks": [{"networkid": net["id"], "autoacquire": true}, {"networkid": "internet", "autoacquire": true}],
                "tags": ["example.com/team=blue", "networking.gardener.cloud/node-local-dns-enabled=true"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{machine}");
    machine
}

fn node(name: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": [{"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true", "effect": "NoSchedule"}]},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_get_metadata_lose_the_taint_and_go_with_their_machine() {
    let mesh = Mesh::start(|o| {
        o.sync_interval = "2s";
        o.extra = vec!["--machine-cache-ttl".into(), "1s".into()];
        o.env = vec![(
            "METAL_SSH_PUBLICKEY".into(),
            "ssh-ed25519 AAAAC3lbtest ops@example".into(),
        )];
    })
    .await;
    let machine = allocate_machine(&mesh.caller, "worker-1").await;
    let id = machine["id"].as_str().unwrap().to_string();
    let nodes: Api<Node> = Api::all(mesh.client.clone());
    // As the kubelet does: register, then report status (create ignores it).
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    for name in ["worker-1", "stray"] {
        nodes
            .create(&PostParams::default(), &node(name))
            .await
            .unwrap();
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&ready))
            .await
            .unwrap();
    }
    // "stray" has no machine: it stays tainted and gets a Warning.

    let initialized = eventually("worker-1 initialized", WAIT, || async {
        let n = nodes.get("worker-1").await.ok()?;
        let spec = n.spec.clone()?;
        (spec.taints.unwrap_or_default().is_empty() && spec.provider_id.is_some()).then_some(n)
    })
    .await;
    assert_eq!(
        initialized.spec.unwrap().provider_id.unwrap(),
        format!("metal://{PARTITION}/{id}")
    );
    let labels = initialized.metadata.labels.unwrap();
    assert_eq!(labels["node.kubernetes.io/instance-type"], "c1-medium-x86");
    assert_eq!(labels["topology.kubernetes.io/zone"], PARTITION);
    assert_eq!(labels["topology.kubernetes.io/region"], "fra");
    assert_eq!(
        labels["machine.metal-stack.io/rack"],
        machine["rackid"].as_str().unwrap()
    );
    assert_eq!(labels["example.com/team"], "blue");
    assert!(labels.contains_key("machine.metal-stack.io/network.primary.asn"));
    assert!(!labels.contains_key("networking.gardener.cloud/node-local-dns-enabled"));
    let addresses: Vec<(String, String)> = initialized
        .status
        .unwrap()
        .addresses
        .unwrap()
        .into_iter()
        .map(|a| (a.type_, a.address))
        .collect();
    let networks = machine["allocation"]["networks"].as_array().unwrap();
    let internal = networks[0]["ips"][0].as_str().unwrap().to_string();
    assert_eq!(addresses[0], ("Hostname".into(), "worker-1".into()));
    assert_eq!(addresses[1], ("InternalIP".into(), internal.clone()));
    assert!(
        addresses.iter().any(|(t, _)| t == "ExternalIP"),
        "{addresses:?}"
    );

    // The peer for the node's speaker, and the cluster tag on its machine.
    let peers = eventually("a BGPPeer for worker-1", WAIT, || async {
        let peers = mesh.metallb("bgppeers", "v1beta2", "BGPPeer").await;
        peers.contains_key("peer-worker-1").then_some(peers)
    })
    .await;
    assert_eq!(peers["peer-worker-1"]["peerAddress"], internal);
    assert_eq!(peers["peer-worker-1"]["holdTime"], "90s");
    assert_eq!(peers.len(), 1, "the stray node has no peer: {peers:?}");
    eventually("the cluster tag on the machine", WAIT, || async {
        let (_, m) = mesh
            .caller
            .view("GET", &format!("/v1/machine/{id}"), None)
            .await;
        tags(&m)
            .contains(&format!("cluster.metal-stack.io/id={CLUSTER}"))
            .then_some(())
    })
    .await;
    mesh.wait_event(
        "default",
        "stray",
        "FailedToInitializeNode",
        "no machine with hostname",
    )
    .await;
    let stray = nodes.get("stray").await.unwrap();
    assert!(
        !stray.spec.unwrap().taints.unwrap().is_empty(),
        "still tainted"
    );

    // REST: the same metadata.
    let (status, md) = mesh.http("GET", "/v1/nodes/worker-1/metadata", None).await;
    assert_eq!(status, 200, "{md}");
    assert_eq!(md["providerID"], format!("metal://{PARTITION}/{id}"));
    assert_eq!(
        mesh.http("GET", "/v1/nodes/nobody/metadata", None).await.0,
        404
    );

    // The machine is freed: a Ready node is only reported; once NotReady it is deleted.
    let (status, _) = mesh
        .caller
        .edit("DELETE", &format!("/v1/machine/{id}/free"), None)
        .await;
    assert_eq!(status, 200);
    mesh.wait_event("default", "worker-1", "MachineGone", "not allocated")
        .await;
    assert!(nodes.get_opt("worker-1").await.unwrap().is_some());
    let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    nodes
        .patch_status(
            "worker-1",
            &PatchParams::default(),
            &Patch::Merge(&not_ready),
        )
        .await
        .unwrap();
    eventually("worker-1 deleted", WAIT, || async {
        matches!(nodes.get_opt("worker-1").await, Ok(None)).then_some(())
    })
    .await;
    eventually("its peer removed", WAIT, || async {
        mesh.metallb("bgppeers", "v1beta2", "BGPPeer")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_warning_and_allocates_nothing() {
    let mesh = Mesh::start(|o| o.additional_networks = "internet,ghost").await;
    let firewall = allocate_machine(&mesh.caller, "worker-9").await;
    let machine_ip = firewall["allocation"]["networks"][1]["ips"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (status, foreign) = mesh
        .caller
        .edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "internet", "projectid": OTHER_PROJECT, "type": "static"})),
        )
        .await;
    assert_eq!(status, 201);
    let foreign = foreign["ipaddress"].as_str().unwrap().to_string();
    let before = mesh.ips().await;

    mesh.create_service(
        "unlisted",
        json!({"metallb.io/address-pool": "dmz-ephemeral"}),
        json!({}),
    )
    .await;
    mesh.create_service(
        "ghost",
        json!({"metallb.universe.tf/address-pool": "ghost"}),
        json!({}),
    )
    .await;
    mesh.create_service("foreign", json!({}), json!({"loadBalancerIP": foreign}))
        .await;
    mesh.create_service("machine", json!({}), json!({"loadBalancerIP": machine_ip}))
        .await;
    mesh.create_service("garbage", json!({}), json!({"loadBalancerIP": "185.1.2"}))
        .await;

    let note = mesh
        .wait_event("shop", "unlisted", "SyncLoadBalancerFailed", "dmz")
        .await;
    assert!(
        note.contains("not one of this cluster's networks"),
        "{note}"
    );
    let note = mesh
        .wait_event("shop", "ghost", "SyncLoadBalancerFailed", "ghost")
        .await;
    assert!(
        note.starts_with("failed to acquire IPs for project"),
        "{note}"
    );
    let note = mesh
        .wait_event("shop", "foreign", "SyncLoadBalancerFailed", &foreign)
        .await;
    assert_eq!(
        note,
        format!("ip {foreign} for projectID: {PROJECT} not allocated")
    );
    let note = mesh
        .wait_event("shop", "machine", "SyncLoadBalancerFailed", &machine_ip)
        .await;
    assert!(note.contains("ip is used for a machine"), "{note}");
    mesh.wait_event(
        "shop",
        "garbage",
        "SyncLoadBalancerFailed",
        "is not an IP address",
    )
    .await;

    assert_eq!(mesh.ips().await, before, "nothing allocated or retagged");
    for name in ["unlisted", "ghost", "foreign", "machine", "garbage"] {
        assert!(mesh.ingress(name).await.is_empty());
    }
    // The controller keeps going.
    mesh.create_service("good", json!({}), json!({})).await;
    mesh.wait_ingress("good", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exhaustion_backs_off_instead_of_spinning() {
    let mesh = Mesh::start(|o| o.additional_networks = "internet,tiny").await;
    let net = json!({"id": "tiny", "prefixes": ["100.100.0.0/30"], "destinationprefixes": [], "nat": false, "privatesuper": false, "underlay": false});
    assert_eq!(
        mesh.caller.admin("PUT", "/v1/network", Some(net)).await.0,
        201
    );
    // Fill the network.
    while mesh
        .caller
        .edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "tiny", "projectid": PROJECT})),
        )
        .await
        .0
        == 201
    {}
    mesh.create_service(
        "hungry",
        json!({"metallb.io/address-pool": "tiny"}),
        json!({}),
    )
    .await;
    let note = mesh
        .wait_event("shop", "hungry", "SyncLoadBalancerFailed", "tiny")
        .await;
    assert!(note.contains("no ips left"), "{note}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let metrics = mesh
        .lb
        .http()
        .get(mesh.lb.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with(r#"reconciles_total{controller="service",result="error"}"#))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0);
    assert!(
        (1.0..=3.0).contains(&errors),
        "exhaustion retried {errors} times in 5 s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metal_api_restarted_mid_run_and_the_controller_converges() {
    let mut mesh = Mesh::start(|_| {}).await;
    let names: Vec<String> = (0..10).map(|i| format!("r-{i}")).collect();
    for name in &names[..5] {
        mesh.create_service(name, json!({}), json!({})).await;
    }
    for name in &names[..5] {
        mesh.wait_ingress(name, 1).await;
    }
    mesh.metal.kill9();
    for name in &names[5..] {
        mesh.create_service(name, json!({}), json!({})).await;
    }
    let ready = |lb: &LbAllocator| {
        let url = lb.url("/readyz");
        async move {
            integration::http_client()
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(
        ready(&mesh.lb).await,
        503,
        "not ready while metal-api is down"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    mesh.metal.restart();
    let mut all = Vec::new();
    for name in &names {
        all.extend(mesh.wait_ingress(name, 1).await);
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 10);
    let ips = mesh.ips().await;
    for (name, address) in names.iter().zip(&all) {
        assert_eq!(tags(&ips[address]), [service_tag(name)]);
    }
    let tagged = ips
        .values()
        .filter(|ip| tags(ip).iter().any(|t| t.contains("/shop/r-")))
        .count();
    assert_eq!(tagged, 10, "no IP leaked during the outage");
    eventually("ready again", WAIT, || async {
        (ready(&mesh.lb).await == 200).then_some(())
    })
    .await;
    let _ = &mesh.kube;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_leads_and_the_other_takes_over_when_it_dies() {
    let mesh = Mesh::start(|_| {}).await;
    let kubeconfig = write_kubeconfig(mesh._dir.path(), &mesh.kube.url());
    let replica = |identity: &str| {
        let mut o = Options::new(&mesh.metal, Some(&kubeconfig));
        o.extra = [
            "--leader-elect",
            "--leader-elect-namespace",
            "default",
            "--leader-elect-lease-duration",
            "2s",
            "--leader-elect-identity",
            identity,
        ]
        .map(String::from)
        .to_vec();
        LbAllocator::start(&o)
    };
    let a = replica("replica-a");
    let b = replica("replica-b");
    let post = |lb: &LbAllocator, name: &str| {
        let (url, body, http) = (
            lb.url("/v1/loadbalancers"),
            json!({"namespace": "shop", "name": name}),
            lb.http(),
        );
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The replica started first by the mesh leads no election (it has none); of the two
    // elected ones exactly one accepts changes.
    let (leader, follower) = eventually("one of two replicas leads", WAIT, || async {
        match (post(&a, "probe-a").await, post(&b, "probe-b").await) {
            (201, 503) => Some(("replica-a", "replica-b")),
            (503, 201) => Some(("replica-b", "replica-a")),
            _ => None,
        }
    })
    .await;
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(mesh.client.clone(), "default");
    let holder = leases
        .get("lb-allocator")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert_eq!(holder, leader);
    let (mut survivor, dead) = if leader == "replica-a" {
        (b, a)
    } else {
        (a, b)
    };
    drop(dead); // SIGKILL: no release, the lease has to run out
    eventually(
        "the follower takes over",
        Duration::from_secs(10),
        || async { (post(&survivor, "after-failover").await == 201).then_some(()) },
    )
    .await;
    let holder = leases
        .get("lb-allocator")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert_eq!(holder, follower);
    assert!(
        survivor.try_exit().is_none(),
        "the new leader keeps running"
    );
}
