//! The embedded metal-api against metal-stack's own Swagger (`../shared/contracts/metal-api.json`):
//! every operation we implement has the upstream route, method, operationId, success code and
//! response type; live response bodies validate strictly (required fields, types, formats and
//! no field upstream does not know); request bodies use upstream field names.

use integration::metal_api::{Caller, MetalApi, PARTITION, PROJECT};
use serde_json::{Map, Value, json};

fn contract() -> Option<Value> {
    let path = kube_resources::contracts::upstream("metal-api.json")?;
    let text = std::fs::read_to_string(&path).unwrap();
    Some(serde_json::from_str(&text).expect("contract parses"))
}

fn ours() -> Value {
    let text =
        std::fs::read_to_string(integration::workspace_root().join("openapi/metal-api.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Operations we add that upstream does not have.
const EXTENSIONS: [&str; 1] = ["/v1/machine/register"];

/// The schema name an OpenAPI 3 (ours) or Swagger 2 (upstream) response refers to, `[]`-suffixed for arrays.
fn response_type(resp: &Value) -> Option<String> {
    let schema = resp
        .pointer("/content/application~1json/schema")
        .or_else(|| resp.get("schema"))?;
    let name = |s: &Value| {
        s["$ref"]
            .as_str()
            .map(|r| r.rsplit('/').next().unwrap().to_string())
    };
    match schema.get("items") {
        Some(items) => name(items).map(|n| format!("{n}[]")),
        None => name(schema),
    }
}

#[test]
fn every_operation_matches_upstream_route_method_code_and_type() {
    let Some(upstream) = contract() else { return };
    let ours = ours();
    let mut checked = 0;
    for (path, ops) in ours["paths"].as_object().unwrap() {
        if EXTENSIONS.contains(&path.as_str()) {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            let theirs = upstream["paths"][path]
                .get(method)
                .unwrap_or_else(|| panic!("{method} {path} is not upstream"));
            assert_eq!(op["operationId"], theirs["operationId"], "{method} {path}");
            let success = |o: &Value| {
                o["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| k.starts_with('2'))
                    .min()
                    .cloned()
                    .unwrap()
            };
            assert_eq!(
                success(op),
                success(theirs),
                "success code of {method} {path}"
            );
            let code = success(op);
            assert_eq!(
                response_type(&op["responses"][&code]),
                response_type(&theirs["responses"][&code]),
                "response type of {method} {path}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} operations compared");
}

/// Upstream definitions made strict: no properties beyond the ones upstream declares.
fn strict_definitions(upstream: &Value) -> Value {
    let mut defs = upstream["definitions"].clone();
    for def in defs.as_object_mut().unwrap().values_mut() {
        if def.get("properties").is_some() {
            def.as_object_mut()
                .unwrap()
                .insert("additionalProperties".into(), json!(false));
        }
    }
    defs
}

struct Checker {
    defs: Value,
    /// Validators by (definition, array): building one is the slow part.
    cache: std::sync::Mutex<
        std::collections::HashMap<(String, bool), std::sync::Arc<jsonschema::Validator>>,
    >,
}

impl Checker {
    fn new(upstream: &Value) -> Self {
        Self {
            defs: strict_definitions(upstream),
            cache: Default::default(),
        }
    }

    fn validator(&self, definition: &str, array: bool) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self.cache.lock().unwrap();
        cache
            .entry((definition.to_string(), array))
            .or_insert_with(|| std::sync::Arc::new(self.build(definition, array)))
            .clone()
    }

    fn check(&self, what: &str, definition: &str, array: bool, body: &Value) {
        let validator = self.validator(definition, array);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match {definition}: {errors:#?}\nbody: {body}"
        );
    }

    fn build(&self, definition: &str, array: bool) -> jsonschema::Validator {
        let target = json!({"$ref": format!("#/definitions/{definition}")});
        let mut schema = Map::new();
        schema.insert("definitions".into(), self.defs.clone());
        if array {
            schema.insert("type".into(), json!("array"));
            schema.insert("items".into(), target);
        } else {
            schema.insert("allOf".into(), json!([target]));
        }
        jsonschema::options()
            .should_validate_formats(true)
            .build(&Value::Object(schema))
            .expect("schema builds")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_responses_validate_strictly_against_upstream_definitions() {
    let Some(upstream) = contract() else { return };
    let checker = Checker::new(&upstream);
    let dir = tempfile::tempdir().unwrap();
    let api = MetalApi::start(dir.path());
    let c = Caller::new(&api);

    let (_, h) = c.call(None, "GET", "/v1/health", None).await;
    checker.check("health", "rest.HealthResponse", false, &h);
    let (_, v) = c.call(None, "GET", "/v1/version", None).await;
    checker.check("version", "rest.version", false, &v);

    let (s, ip) = c
        .edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "internet", "projectid": PROJECT, "tags": ["a=b"]})),
        )
        .await;
    assert_eq!(s, 201);
    checker.check("allocateIP", "v1.IPResponse", false, &ip);
    let addr = ip["ipaddress"].as_str().unwrap();
    for (what, resp) in [
        (
            "findIP",
            c.view("GET", &format!("/v1/ip/{addr}"), None).await.1,
        ),
        (
            "updateIP",
            c.edit(
                "POST",
                "/v1/ip",
                Some(json!({"ipaddress": addr, "type": null, "tags": []})),
            )
            .await
            .1,
        ),
        (
            "allocateSpecificIP",
            c.edit(
                "POST",
                "/v1/ip/allocate/185.1.2.50",
                Some(json!({"networkid": "internet", "projectid": PROJECT})),
            )
            .await
            .1,
        ),
        (
            "freeIP",
            c.edit("DELETE", "/v1/ip/free/185.1.2.50", None).await.1,
        ),
    ] {
        checker.check(what, "v1.IPResponse", false, &resp);
    }
    checker.check(
        "listIPs",
        "v1.IPResponse",
        true,
        &c.view("GET", "/v1/ip", None).await.1,
    );
    checker.check(
        "findIPs",
        "v1.IPResponse",
        true,
        &c.view("POST", "/v1/ip/find", Some(json!({"tags": null})))
            .await
            .1,
    );

    let (s, net) = c
        .edit(
            "POST",
            "/v1/network/allocate",
            Some(json!({"projectid": PROJECT, "partitionid": PARTITION, "name": "n"})),
        )
        .await;
    assert_eq!(s, 201);
    checker.check("allocateNetwork", "v1.NetworkResponse", false, &net);
    let net_id = net["id"].as_str().unwrap().to_string();
    checker.check(
        "listNetworks",
        "v1.NetworkResponse",
        true,
        &c.view("GET", "/v1/network", None).await.1,
    );
    checker.check(
        "findNetworks",
        "v1.NetworkResponse",
        true,
        &c.view(
            "POST",
            "/v1/network/find",
            Some(json!({"projectid": PROJECT})),
        )
        .await
        .1,
    );
    checker.check(
        "findNetwork",
        "v1.NetworkResponse",
        false,
        &c.view("GET", "/v1/network/internet", None).await.1,
    );
    let (s, created) = c
        .admin(
            "PUT",
            "/v1/network",
            Some(json!({"id": "extra", "prefixes": ["192.0.2.0/24"]})),
        )
        .await;
    assert_eq!(s, 201);
    checker.check("createNetwork", "v1.NetworkResponse", false, &created);
    checker.check(
        "deleteNetwork",
        "v1.NetworkResponse",
        false,
        &c.admin("DELETE", "/v1/network/extra", None).await.1,
    );

    let alloc = json!({"name": "w", "hostname": "w", "projectid": PROJECT, "partitionid": PARTITION, "sizeid": "c1-medium-x86",
        "imageid": "ubuntu-24.04", "ssh_pub_keys": [], "networks": [{"networkid": net_id, "autoacquire": true}, {"networkid": "internet", "autoacquire": true}]});
    let (s, m) = c.edit("POST", "/v1/machine/allocate", Some(alloc)).await;
    assert_eq!(s, 200, "{m}");
    checker.check("allocateMachine", "v1.MachineResponse", false, &m);
    let id = m["id"].as_str().unwrap().to_string();
    checker.check(
        "findMachine",
        "v1.MachineResponse",
        false,
        &c.view("GET", &format!("/v1/machine/{id}"), None).await.1,
    );
    checker.check(
        "listMachines",
        "v1.MachineResponse",
        true,
        &c.view("GET", "/v1/machine", None).await.1,
    );
    checker.check(
        "findMachines",
        "v1.MachineResponse",
        true,
        &c.view(
            "POST",
            "/v1/machine/find",
            Some(json!({"allocation_project": PROJECT})),
        )
        .await
        .1,
    );
    checker.check(
        "updateMachine",
        "v1.MachineResponse",
        false,
        &c.admin(
            "POST",
            "/v1/machine",
            Some(json!({"id": id, "description": "d", "tags": ["x=y"]})),
        )
        .await
        .1,
    );
    let fw = json!({"name": "fw", "projectid": PROJECT, "partitionid": PARTITION, "sizeid": "n1-medium-x86", "imageid": "firewall-ubuntu-3.0",
        "ssh_pub_keys": [], "networks": [{"networkid": net_id, "autoacquire": true}], "firewall_rules": {"egress": [{"protocol": "tcp", "ports": [443], "to": ["0.0.0.0/0"], "comment": "https"}]}});
    let (s, f) = c.edit("POST", "/v1/firewall/allocate", Some(fw)).await;
    assert_eq!(s, 200, "{f}");
    checker.check("allocateFirewall", "v1.FirewallResponse", false, &f);
    checker.check(
        "findFirewall",
        "v1.FirewallResponse",
        false,
        &c.view(
            "GET",
            &format!("/v1/firewall/{}", f["id"].as_str().unwrap()),
            None,
        )
        .await
        .1,
    );
    checker.check(
        "listFirewalls",
        "v1.FirewallResponse",
        true,
        &c.view("GET", "/v1/firewall", None).await.1,
    );
    checker.check(
        "findFirewalls",
        "v1.FirewallResponse",
        true,
        &c.view("POST", "/v1/firewall/find", Some(json!({}))).await.1,
    );
    checker.check(
        "freeMachine",
        "v1.MachineResponse",
        false,
        &c.edit("DELETE", &format!("/v1/machine/{id}/free"), None)
            .await
            .1,
    );
    let fw_free = c
        .edit(
            "DELETE",
            &format!("/v1/machine/{}/free", f["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(fw_free.0, 200, "{}", fw_free.1);

    checker.check(
        "listPartitions",
        "v1.PartitionResponse",
        true,
        &c.view("GET", "/v1/partition", None).await.1,
    );
    checker.check(
        "findPartition",
        "v1.PartitionResponse",
        false,
        &c.view("GET", "/v1/partition/fra-equ01", None).await.1,
    );
    checker.check(
        "createPartition",
        "v1.PartitionResponse",
        false,
        &c.admin(
            "PUT",
            "/v1/partition",
            Some(json!({"id": "p2", "bootconfig": {}})),
        )
        .await
        .1,
    );
    checker.check(
        "listSizes",
        "v1.SizeResponse",
        true,
        &c.view("GET", "/v1/size", None).await.1,
    );
    checker.check(
        "findSize",
        "v1.SizeResponse",
        false,
        &c.view("GET", "/v1/size/c1-large-x86", None).await.1,
    );
    checker.check(
        "createSize",
        "v1.SizeResponse",
        false,
        &c.admin(
            "PUT",
            "/v1/size",
            Some(json!({"id": "s2", "constraints": [{"type": "cores", "min": 1, "max": 2}]})),
        )
        .await
        .1,
    );
    checker.check(
        "listImages",
        "v1.ImageResponse",
        true,
        &c.view("GET", "/v1/image", None).await.1,
    );
    checker.check(
        "findImage",
        "v1.ImageResponse",
        false,
        &c.view("GET", "/v1/image/ubuntu-24.04.20260101", None)
            .await
            .1,
    );
    checker.check(
        "findLatestImage",
        "v1.ImageResponse",
        false,
        &c.view("GET", "/v1/image/ubuntu-24.04/latest", None).await.1,
    );
    checker.check(
        "findImages",
        "v1.ImageResponse",
        true,
        &c.view("POST", "/v1/image/find", Some(json!({}))).await.1,
    );
    checker.check(
        "createImage",
        "v1.ImageResponse",
        false,
        &c.admin(
            "PUT",
            "/v1/image",
            Some(json!({"id": "debian-12.1", "url": "http://x"})),
        )
        .await
        .1,
    );
    checker.check(
        "listProjects",
        "v1.ProjectResponse",
        true,
        &c.view("GET", "/v1/project", None).await.1,
    );
    checker.check(
        "findProject",
        "v1.ProjectResponse",
        false,
        &c.view("GET", &format!("/v1/project/{PROJECT}"), None)
            .await
            .1,
    );
    checker.check(
        "findProjects",
        "v1.ProjectResponse",
        true,
        &c.view("POST", "/v1/project/find", Some(json!({}))).await.1,
    );
    checker.check(
        "createProject",
        "v1.ProjectResponse",
        false,
        &c.admin("PUT", "/v1/project", Some(json!({"name": "p"})))
            .await
            .1,
    );
    checker.check(
        "free network",
        "v1.NetworkResponse",
        false,
        &c.edit("DELETE", &format!("/v1/network/free/{net_id}"), None)
            .await
            .1,
    );

    // every error body is httperrors.HTTPErrorResponse
    let (_, err) = c.view("GET", "/v1/ip/10.255.255.255", None).await;
    checker.check("404", "httperrors.HTTPErrorResponse", false, &err);
}

/// Request bodies the SDK sends use upstream's field names (validated leniently: a known
/// field name per key; upstream's `required` lists describe responses more than requests).
#[test]
fn request_bodies_use_upstream_field_names() {
    use metal_api_sdk::model::*;
    let Some(upstream) = contract() else { return };
    let keys_known = |definition: &str, body: Value| {
        let props = upstream["definitions"][definition]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{definition}"));
        for key in body.as_object().unwrap().keys() {
            assert!(props.contains_key(key), "{definition} has no field {key:?}");
        }
    };
    let some = || Some("x".to_string());
    keys_known(
        "v1.IPAllocateRequest",
        serde_json::to_value(IpAllocateRequest {
            name: some(),
            description: some(),
            ip_type: some(),
            tags: Some(vec![]),
            machineid: some(),
            addressfamily: Some(AddressFamily::IPv4),
            ..Default::default()
        })
        .unwrap(),
    );
    keys_known(
        "v1.IPUpdateRequest",
        serde_json::to_value(IpUpdateRequest {
            name: some(),
            description: some(),
            ip_type: some(),
            tags: Some(vec![]),
            ..Default::default()
        })
        .unwrap(),
    );
    keys_known(
        "v1.IPFindRequest",
        serde_json::to_value(IpFindRequest {
            ipaddress: some(),
            allocationuuid: some(),
            name: some(),
            networkprefix: some(),
            networkid: some(),
            projectid: some(),
            ip_type: some(),
            machineid: some(),
            tags: Some(vec![]),
            addressfamily: Some(AddressFamily::IPv6),
        })
        .unwrap(),
    );
    keys_known(
        "v1.NetworkAllocateRequest",
        serde_json::to_value(NetworkAllocateRequest {
            name: some(),
            description: some(),
            shared: Some(true),
            nat: Some(true),
            length: Some(Default::default()),
            addressfamily: Some(AddressFamily::IPv4),
            ..Default::default()
        })
        .unwrap(),
    );
    keys_known(
        "v1.NetworkFindRequest",
        serde_json::to_value(NetworkFindRequest {
            id: some(),
            name: some(),
            partitionid: some(),
            projectid: some(),
            parentnetworkid: some(),
            prefixes: Some(vec![]),
            destinationprefixes: Some(vec![]),
            nat: Some(true),
            privatesuper: Some(true),
            underlay: Some(true),
            vrf: Some(1),
            labels: Some(Default::default()),
            addressfamily: Some(AddressFamily::IPv4),
        })
        .unwrap(),
    );
    keys_known(
        "v1.NetworkCreateRequest",
        serde_json::to_value(NetworkCreateRequest {
            name: some(),
            description: some(),
            partitionid: some(),
            projectid: some(),
            parentnetworkid: some(),
            defaultchildprefixlength: Some(Default::default()),
            vrf: Some(1),
            vrfshared: Some(true),
            shared: Some(true),
            additional_announcable_cidrs: vec!["10.0.0.0/8".into()],
            networktype: some(),
            nattype: some(),
            ..Default::default()
        })
        .unwrap(),
    );
    keys_known(
        "v1.FirewallCreateRequest",
        serde_json::to_value(MachineAllocateRequest {
            uuid: some(),
            name: some(),
            hostname: some(),
            description: some(),
            filesystemlayoutid: some(),
            user_data: some(),
            networks: Some(vec![]),
            ips: Some(vec![]),
            tags: Some(vec![]),
            placement_tags: Some(vec![]),
            dns_servers: Some(vec![]),
            ntp_servers: Some(vec![]),
            firewall_rules: Some(Default::default()),
            ..Default::default()
        })
        .unwrap(),
    );
    keys_known(
        "v1.MachineUpdateRequest",
        serde_json::to_value(MachineUpdateRequest {
            id: "x".into(),
            description: some(),
            tags: Some(vec![]),
            ssh_pub_keys: Some(vec![]),
        })
        .unwrap(),
    );
    keys_known(
        "v1.MachineFindRequest",
        serde_json::to_value(MachineFindRequest {
            id: some(),
            name: some(),
            partition_id: some(),
            sizeid: some(),
            rackid: some(),
            state_value: some(),
            allocation_project: some(),
            allocation_name: some(),
            allocation_hostname: some(),
            allocation_role: some(),
            allocation_image_id: some(),
            allocation_succeeded: Some(true),
            network_ids: Some(vec![]),
            network_ips: Some(vec![]),
            network_prefixes: Some(vec![]),
            network_vrfs: Some(vec![]),
            network_asns: Some(vec![]),
            tags: Some(vec![]),
        })
        .unwrap(),
    );
    keys_known(
        "v1.ImageFindRequest",
        serde_json::to_value(ImageFindRequest {
            id: some(),
            name: some(),
            os: some(),
            version: some(),
            classification: some(),
            features: Some(vec![]),
        })
        .unwrap(),
    );
    keys_known(
        "v1.ProjectFindRequest",
        serde_json::to_value(ProjectFindRequest {
            id: some(),
            name: some(),
            description: some(),
            tenant_id: some(),
        })
        .unwrap(),
    );
}
