//! End to end: kube-testserver (CWNPs, Services, Firewall, FirewallMonitor), and the
//! rule-compiler binary running inside a firewall network namespace between a client and a
//! server namespace. Policies and Services created through the API become kernel rules that
//! real packets meet; statuses, events, the FirewallMonitor and the FQDN state are written;
//! FQDN rules resolve through the in-process DNS proxy; a killed controller leaves no open
//! window and converges after restart. Needs root and the upstream CRDs (both in CI).

use std::time::Duration;

use integration::kube::{KubeTestServer, cwnp_crd};
use integration::netns::*;
use integration::rule_compiler::{RuleCompiler, Tunnel, eventually, eventually_or};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

const FW: &str = "fw-1";

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: if group.is_empty() {
            version.into()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).unwrap()
}

async fn create(api: &Api<DynamicObject>, value: Value) -> DynamicObject {
    api.create(&PostParams::default(), &object(value))
        .await
        .unwrap()
}

fn cwnp(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "metal-stack.io/v1", "kind": "ClusterwideNetworkPolicy", "metadata": {"name": name, "namespace": "firewall"}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_from_the_api_are_compiled_applied_and_reported() {
    if !NetNs::available() {
        return;
    }
    let Some(crds) = kube_resources::contracts::upstream_crds() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology::new();
    topo.server.ok(&[
        "ip",
        "addr",
        "add",
        "198.51.100.20/24",
        "dev",
        "s0",
        "nodad",
    ]);
    let _web = Probe::start(&topo.server, &["serve", "[::]:443", "[::]:80"]);
    let _dns = Probe::start(
        &topo.server,
        &[
            "dns",
            "198.51.100.10:53",
            "web.example.com=198.51.100.10,2001:db8:100::10",
            "evil.example.net=198.51.100.20",
        ],
    );
    let _lb = Probe::start(&topo.client, &["serve", "[::]:8443"]);

    let kube = KubeTestServer::start(
        &[
            cwnp_crd().as_path(),
            crds.join("firewall.metal-stack.io_firewalls.yaml")
                .as_path(),
            crds.join("firewall.metal-stack.io_firewallmonitors.yaml")
                .as_path(),
        ],
        &[],
    );
    let client = integration::kube::client(&kube.url());
    integration::kube::create_namespaces(&client, &["firewall", "shop"]).await;

    // The seed side: this firewall's Firewall with its networks in the status.
    let firewalls = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &resource("firewall.metal-stack.io", "v2", "Firewall", "firewalls"),
    );
    create(&firewalls, json!({
        "apiVersion": "firewall.metal-stack.io/v2", "kind": "Firewall",
        "metadata": {"name": FW, "namespace": "default"}, "distance": 0,
        "spec": {"size": "s", "image": "i", "partition": "p", "project": "p", "networks": ["internet"], "interval": "2s"},
    })).await;
    firewalls.patch_status(FW, &PatchParams::default(), &Patch::Merge(json!({"status": {"firewallNetworks": [
        {"networkID": "cluster", "prefixes": ["10.42.0.0/22", "fd00:42::/64"], "vrf": 42, "asn": 1, "nat": true, "networkType": "privateprimaryunshared"},
        {"networkID": "internet", "prefixes": ["198.51.100.0/24", "2001:db8:100::/64"], "vrf": 104009, "asn": 1, "nat": false, "networkType": "external"}
    ]}}))).await.unwrap();
    let monitors = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "firewall",
        &resource(
            "firewall.metal-stack.io",
            "v2",
            "FirewallMonitor",
            "firewallmonitors",
        ),
    );
    create(&monitors, json!({
        "apiVersion": "firewall.metal-stack.io/v2", "kind": "FirewallMonitor",
        "metadata": {"name": FW, "namespace": "firewall"},
        "size": "s", "image": "i", "partition": "p", "project": "p", "networks": ["internet"], "conditions": [],
    })).await;

    // The controller inside the firewall namespace, reaching the API server through a relay.
    let _kube_tunnel = Tunnel::into_ns(dir.path(), &topo.fw, &kube.addr.to_string(), 6443);
    let kubeconfig = integration::kube::write_kubeconfig(dir.path(), "http://127.0.0.1:6443");
    let http = integration::free_addr();
    let _http_tunnel = Tunnel::out_of_ns(dir.path(), &topo.fw, 8084, &http.to_string());
    let args: Vec<String> = [
        "--listen",
        "127.0.0.1:8084",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--firewall-name",
        FW,
        "--dns-listen",
        "10.42.0.1:53",
        "--dns-upstream",
        "198.51.100.10:53",
        "--monitor-interval",
        "1s",
        "--enable-ids",
        "false",
        "--apply-backoff",
        "200ms",
    ]
    .map(String::from)
    .to_vec();
    // Its API wants a token; static ones here (the RBAC path has its own test, api_auth.rs).
    let auth = integration::auth::StaticAuth::new();
    let args = [args, auth.flags()].concat();
    let mut rc = RuleCompiler::start(&topo.fw, &args, &dir.path().join("rule-compiler.log"));
    let status_url = format!("http://{http}/v1/status");
    let in_sync = async || {
        let status: Value = integration::auth::bearer_client(integration::auth::ADMIN_TOKEN)
            .get(&status_url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (status["inSync"] == true).then_some(status)
    };
    eventually(Duration::from_secs(30), "first ruleset applied", in_sync).await;
    assert!(
        !connects(&topo.client, &format!("{SERVER_V4}:443")),
        "closed before any policy"
    );

    let policies = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "firewall",
        &resource(
            "metal-stack.io",
            "v1",
            "ClusterwideNetworkPolicy",
            "clusterwidenetworkpolicies",
        ),
    );
    let state = |p: &DynamicObject| {
        (
            p.data["status"]["state"].as_str().map(String::from),
            p.data["status"]["message"].as_str().map(String::from),
        )
    };

    // A policy created through the API opens tcp/443 and is stamped deployed.
    create(&policies, cwnp("https", json!({"egress": [{"to": [{"cidr": "198.51.100.0/24"}, {"cidr": "2001:db8:100::/64"}], "ports": [{"port": 443}]}]}))).await;
    eventually(Duration::from_secs(30), "443 open", async || {
        connects(&topo.client, &format!("{SERVER_V4}:443")).then_some(())
    })
    .await;
    assert!(connects(&topo.client, &format!("[{SERVER_V6}]:443")));
    assert!(!connects(&topo.client, &format!("{SERVER_V4}:80")));
    eventually(Duration::from_secs(10), "https deployed", async || {
        (state(&policies.get("https").await.ok()?).0.as_deref() == Some("deployed")).then_some(())
    })
    .await;

    // An invalid policy is ignored with its reason and a Warning event; the others stay.
    create(
        &policies,
        cwnp(
            "broken",
            json!({"egress": [{"to": [{"cidr": "198.51.100.0/40"}], "ports": [{"port": 22}]}]}),
        ),
    )
    .await;
    let (_, message) = eventually(Duration::from_secs(10), "broken ignored", async || {
        let s = state(&policies.get("broken").await.ok()?);
        (s.0.as_deref() == Some("ignored")).then_some(s)
    })
    .await;
    assert!(message.unwrap().contains("not a CIDR"));
    let events = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "firewall",
        &resource("events.k8s.io", "v1", "Event", "events"),
    );
    eventually(Duration::from_secs(10), "Inapplicable event", async || {
        events
            .list(&Default::default())
            .await
            .ok()?
            .items
            .iter()
            .any(|e| e.data["reason"] == "Inapplicable" && e.data["regarding"]["name"] == "broken")
            .then_some(())
    })
    .await;
    assert!(connects(&topo.client, &format!("{SERVER_V4}:443")));

    // A LoadBalancer Service with its IP in the status opens its port towards the cluster.
    let services = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "shop",
        &resource("", "v1", "Service", "services"),
    );
    create(&services, json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 8443}]}})).await;
    services
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"loadBalancer": {"ingress": [{"ip": LB_V4}, {"ip": LB_V6}]}}}),
            ),
        )
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "LB open", async || {
        connects(&topo.server, &format!("{LB_V4}:8443")).then_some(())
    })
    .await;
    assert!(connects(&topo.server, &format!("[{LB_V6}]:8443")));

    // FQDN egress: nothing before the name is resolved through the proxy, then exactly the
    // resolved addresses (both families); another name's address stays closed.
    create(&policies, cwnp("fqdn", json!({"egress": [{"toFQDNs": [{"matchName": "web.example.com"}], "ports": [{"port": 80}]}]}))).await;
    eventually(Duration::from_secs(10), "fqdn deployed", async || {
        (state(&policies.get("fqdn").await.ok()?).0.as_deref() == Some("deployed")).then_some(())
    })
    .await;
    let resolve = |name: &str| {
        let bin = integration::binary("net-probe");
        String::from_utf8_lossy(&topo.client.ok_output(&[
            bin.to_str().unwrap(),
            "resolve",
            "10.42.0.1:53",
            name,
        ]))
        .into_owned()
    };
    assert!(resolve("web.example.com").contains("198.51.100.10"));
    assert!(
        connects(&topo.client, &format!("{SERVER_V4}:80")),
        "the set is filled before the answer"
    );
    assert!(connects(&topo.client, &format!("[{SERVER_V6}]:80")));
    assert!(resolve("evil.example.net").contains("198.51.100.20"));
    assert!(!connects(&topo.client, "198.51.100.20:80"));

    // Counters reach the FirewallMonitor (a reload starts them from zero, as upstream's
    // reloads do, so the connection counted comes after the last change); the FQDN cache
    // reaches its ConfigMap.
    assert!(connects(&topo.client, &format!("{SERVER_V4}:443")));
    let seen = std::sync::Mutex::new(Value::Null);
    eventually_or(Duration::from_secs(15), "FirewallMonitor stats", async || {
        let m = monitors.get(FW).await.ok()?;
        *seen.lock().unwrap() = m.data["controllerStatus"].clone();
        let packets = m.data["controllerStatus"]["stats"]["rules"]["accept"]["accept traffic for np https tcp"]["counter"]["packets"].as_u64()?;
        (packets > 0).then_some(())
    }, || seen.lock().unwrap().to_string())
    .await;
    let configmaps = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "firewall",
        &resource("", "v1", "ConfigMap", "configmaps"),
    );
    eventually(Duration::from_secs(20), "fqdnstate ConfigMap", async || {
        let cm = configmaps.get("fqdnstate").await.ok()?;
        cm.data["data"]["state"]
            .as_str()?
            .contains("web.example.com")
            .then_some(())
    })
    .await;

    // Killed: the kernel keeps the ruleset (policy drop, the same rules) until the restarted
    // controller replaces it; at no point does the forward chain accept everything.
    rc.kill();
    for _ in 0..5 {
        let chain = topo
            .fw
            .ok(&["nft", "list", "chain", "inet", "firewall", "forward"]);
        assert!(chain.contains("policy drop"), "{chain}");
        assert!(!connects(&topo.client, "198.51.100.20:80"));
        assert!(connects(&topo.client, &format!("{SERVER_V4}:443")));
    }
    rc.restart();
    eventually(Duration::from_secs(30), "in sync after restart", in_sync).await;
    assert!(
        connects(&topo.client, &format!("{SERVER_V4}:80")),
        "FQDN state restored after restart"
    );
    assert!(!connects(&topo.client, "198.51.100.20:80"));

    // Deleting the policy closes 443 again.
    policies.delete("https", &Default::default()).await.unwrap();
    eventually(Duration::from_secs(10), "443 closed", async || {
        (!connects(&topo.client, &format!("{SERVER_V4}:443"))).then_some(())
    })
    .await;
    assert!(!rc.log().contains("panicked"), "{}", rc.log());
}
