//! The metal-api binary over HTTP with HMAC-signed requests: the behaviour of metal-api v1
//! that the mesh relies on, every error case with its status and `{statuscode, message}` body.

use std::collections::HashSet;

use integration::metal_api::{Caller, MetalApi, OTHER_PROJECT, PARTITION, PROJECT};
use metal_api_sdk::auth::{HEADER_DATE, HEADER_SALT, HmacKind, sign};
use serde_json::{Value, json};

fn start() -> (tempfile::TempDir, MetalApi, Caller) {
    let dir = tempfile::tempdir().unwrap();
    let api = MetalApi::start(dir.path());
    let caller = Caller::new(&api);
    (dir, api, caller)
}

/// Asserts an error status and metal-api's error body.
fn assert_error(resp: &(u16, Value), status: u16, contains: &str) {
    assert_eq!(resp.0, status, "body: {}", resp.1);
    assert_eq!(
        resp.1["statuscode"],
        json!(status),
        "error body: {}",
        resp.1
    );
    let message = resp.1["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(contains),
        "message {message:?} should contain {contains:?}"
    );
}

fn ip_req(network: &str) -> Value {
    json!({"networkid": network, "projectid": PROJECT, "type": "ephemeral", "name": "t"})
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_version_need_no_auth() {
    let (_d, _api, c) = start();
    let (status, body) = c.call(None, "GET", "/v1/health", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("healthy")));
    let (status, body) = c.call(None, "GET", "/v1/version", None).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("metal-api")));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_groups_and_signature_failures_are_403() {
    let (_d, api, c) = start();
    assert_error(&c.call(None, "GET", "/v1/ip", None).await, 403, "");
    assert_error(
        &c.view("POST", "/v1/ip/allocate", Some(ip_req("internet")))
            .await,
        403,
        "Metal-Edit",
    );
    assert_error(
        &c.edit(
            "PUT",
            "/v1/partition",
            Some(json!({"id": "p2", "bootconfig": {}})),
        )
        .await,
        403,
        "Metal-Admin",
    );
    assert_eq!(
        c.admin(
            "PUT",
            "/v1/partition",
            Some(json!({"id": "p2", "bootconfig": {}}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        c.admin("POST", "/v1/ip/allocate", Some(ip_req("internet")))
            .await
            .0,
        201,
        "admin may edit"
    );
    assert_eq!(c.view("GET", "/v1/ip", None).await.0, 200);

    let http = integration::http_client();
    let send = |date: String, salt: String, auth: String| {
        let http = http.clone();
        let url = api.url("/v1/ip");
        async move {
            let r = http
                .get(url)
                .header(HEADER_DATE, date)
                .header(HEADER_SALT, salt)
                .header("Authorization", auth)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    // wrong key
    let h = sign(HmacKind::View, b"wrong", "GET", chrono::Utc::now());
    assert_eq!(send(h.date, h.salt, h.authorization).await, 403);
    // signed for another method
    let h = sign(HmacKind::View, b"test-view-key", "POST", chrono::Utc::now());
    assert_eq!(send(h.date, h.salt, h.authorization).await, 403);
    // older than the 30 s lifetime
    let h = sign(
        HmacKind::View,
        b"test-view-key",
        "GET",
        chrono::Utc::now() - chrono::Duration::seconds(120),
    );
    assert_eq!(send(h.date, h.salt, h.authorization).await, 403);
    // tampered salt
    let h = sign(HmacKind::View, b"test-view-key", "GET", chrono::Utc::now());
    assert_eq!(send(h.date, "x".repeat(24), h.authorization).await, 403);
    // the genuine request passes
    let h = sign(HmacKind::View, b"test-view-key", "GET", chrono::Utc::now());
    assert_eq!(send(h.date, h.salt, h.authorization).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_lifecycle_and_error_codes() {
    let (_d, _api, c) = start();
    let (status, ip) = c
        .edit("POST", "/v1/ip/allocate", Some(ip_req("internet")))
        .await;
    assert_eq!(status, 201, "{ip}");
    assert_eq!(ip["ipaddress"], "185.1.2.1");
    assert_eq!(ip["type"], "ephemeral");
    assert_eq!(ip["tags"], json!([]));
    let addr = ip["ipaddress"].as_str().unwrap().to_string();

    // request errors
    assert_error(
        &c.edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "", "projectid": PROJECT})),
        )
        .await,
        400,
        "networkid",
    );
    assert_error(
        &c.edit("POST", "/v1/ip/allocate", Some(ip_req("nope")))
            .await,
        404,
        "network",
    );
    assert_error(
        &c.edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "internet", "projectid": "nope"})),
        )
        .await,
        404,
        "project",
    );
    assert_error(
        &c.edit("POST", "/v1/ip/allocate", Some(json!("not an object")))
            .await,
        400,
        "",
    );
    assert_error(
        &c.edit("POST", "/v1/ip/allocate/10.0.0.1", Some(ip_req("internet")))
            .await,
        422,
        "not contained",
    );
    assert_error(
        &c.edit(
            "POST",
            &format!("/v1/ip/allocate/{addr}"),
            Some(ip_req("internet")),
        )
        .await,
        409,
        "already allocated",
    );
    let (status, specific) = c
        .edit(
            "POST",
            "/v1/ip/allocate/185.1.2.200",
            Some(ip_req("internet")),
        )
        .await;
    assert_eq!(
        (status, specific["ipaddress"].as_str()),
        (201, Some("185.1.2.200"))
    );

    // update: tags null keeps, [] clears, static→ephemeral refused
    let (s, u) = c
        .edit(
            "POST",
            "/v1/ip",
            Some(json!({"ipaddress": addr, "tags": ["a=1"], "type": null})),
        )
        .await;
    assert_eq!((s, &u["tags"]), (200, &json!(["a=1"])));
    let (s, u) = c
        .edit(
            "POST",
            "/v1/ip",
            Some(json!({"ipaddress": addr, "name": "renamed", "tags": null})),
        )
        .await;
    assert_eq!(
        (s, &u["tags"], &u["name"]),
        (200, &json!(["a=1"]), &json!("renamed"))
    );
    let (s, u) = c
        .edit(
            "POST",
            "/v1/ip",
            Some(json!({"ipaddress": addr, "tags": []})),
        )
        .await;
    assert_eq!((s, &u["tags"]), (200, &json!([])));
    let (s, u) = c
        .edit(
            "POST",
            "/v1/ip",
            Some(json!({"ipaddress": addr, "type": "static"})),
        )
        .await;
    assert_eq!((s, &u["type"]), (200, &json!("static")));
    assert_error(
        &c.edit(
            "POST",
            "/v1/ip",
            Some(json!({"ipaddress": addr, "type": "ephemeral"})),
        )
        .await,
        400,
        "static to ephemeral",
    );
    assert_error(
        &c.edit("POST", "/v1/ip", Some(json!({"ipaddress": "185.1.2.99"})))
            .await,
        404,
        "",
    );

    // find: AND and contains-all
    c.edit(
        "POST",
        "/v1/ip/allocate",
        Some(json!({"networkid": "internet", "projectid": PROJECT, "tags": ["x", "y"]})),
    )
    .await;
    c.edit(
        "POST",
        "/v1/ip/allocate",
        Some(json!({"networkid": "internet", "projectid": PROJECT, "tags": ["x"]})),
    )
    .await;
    let (_, found) = c
        .view("POST", "/v1/ip/find", Some(json!({"tags": ["x", "y"]})))
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (_, found) = c
        .view(
            "POST",
            "/v1/ip/find",
            Some(json!({"tags": ["x"], "projectid": PROJECT, "type": "ephemeral"})),
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 2);
    let (_, found) = c
        .view(
            "POST",
            "/v1/ip/find",
            Some(json!({"tags": null, "projectid": OTHER_PROJECT})),
        )
        .await;
    assert_eq!(found, json!([]), "empty result is [] not null");

    // machine-scope IPs cannot be freed; others can, and the body is the freed IP
    let (_, mip) = c
        .edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "internet", "projectid": PROJECT, "machineid": "m1"})),
        )
        .await;
    let maddr = mip["ipaddress"].as_str().unwrap();
    assert_error(
        &c.edit("DELETE", &format!("/v1/ip/free/{maddr}"), None)
            .await,
        400,
        "machine scope",
    );
    let (s, freed) = c.edit("DELETE", &format!("/v1/ip/free/{addr}"), None).await;
    assert_eq!((s, freed["ipaddress"].as_str()), (200, Some(addr.as_str())));
    assert_error(
        &c.view("GET", &format!("/v1/ip/{addr}"), None).await,
        404,
        "",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_exhaustion_is_500_no_ips_left() {
    let (_d, _api, c) = start();
    let net = json!({"id": "tiny", "prefixes": ["192.0.2.0/30"], "destinationprefixes": [], "nat": false, "privatesuper": false, "underlay": false});
    assert_eq!(c.admin("PUT", "/v1/network", Some(net)).await.0, 201);
    assert_eq!(
        c.edit("POST", "/v1/ip/allocate", Some(ip_req("tiny")))
            .await
            .0,
        201
    );
    assert_eq!(
        c.edit("POST", "/v1/ip/allocate", Some(ip_req("tiny")))
            .await
            .0,
        201
    );
    assert_error(
        &c.edit("POST", "/v1/ip/allocate", Some(ip_req("tiny")))
            .await,
        500,
        "no ips left",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_of_one_ip_either_win_or_get_409() {
    let (_d, _api, c) = start();
    let (_, ip) = c
        .edit("POST", "/v1/ip/allocate", Some(ip_req("internet")))
        .await;
    let addr = ip["ipaddress"].as_str().unwrap().to_string();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (c, addr) = (c.clone(), addr.clone());
            tokio::spawn(async move {
                c.edit(
                    "POST",
                    "/v1/ip",
                    Some(json!({"ipaddress": addr, "name": format!("n{i}")})),
                )
                .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => winners.push(body["name"].as_str().unwrap().to_string()),
            409 => assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("changed from another")
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(!winners.is_empty());
    let (_, now) = c.view("GET", &format!("/v1/ip/{addr}"), None).await;
    assert!(
        winners.contains(&now["name"].as_str().unwrap().to_string()),
        "the stored name is a successful write"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_allocations_from_a_slash_24_are_distinct_and_survive_kill_9() {
    let (_d, mut api, c) = start();
    let net = json!({"id": "ext24", "prefixes": ["198.51.100.0/24"], "destinationprefixes": [], "nat": false, "privatesuper": false, "underlay": false});
    assert_eq!(c.admin("PUT", "/v1/network", Some(net)).await.0, 201);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                c.edit("POST", "/v1/ip/allocate", Some(ip_req("ext24")))
                    .await
            })
        })
        .collect();
    let mut got = HashSet::new();
    let mut exhausted = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => assert!(
                got.insert(body["ipaddress"].as_str().unwrap().to_string()),
                "duplicate {body}"
            ),
            500 => exhausted += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((got.len(), exhausted), (200, 0));
    api.restart();
    let c = Caller::new(&api);
    let (_, all) = c
        .view("POST", "/v1/ip/find", Some(json!({"networkid": "ext24"})))
        .await;
    let stored: HashSet<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ipaddress"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, got);
}

#[tokio::test(flavor = "multi_thread")]
async fn networks_allocate_free_and_errors() {
    let (_d, _api, c) = start();
    let req = json!({"projectid": PROJECT, "partitionid": PARTITION, "name": "shoot", "labels": {"cluster.metal-stack.io/id": "c1"}});
    let (s, n) = c
        .edit("POST", "/v1/network/allocate", Some(req.clone()))
        .await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(n["parentnetworkid"], "tenant-super-network-fra-equ01");
    assert_eq!(n["prefixes"], json!(["10.128.0.0/22"]));
    let id = n["id"].as_str().unwrap().to_string();
    let (_, found) = c
        .view(
            "POST",
            "/v1/network/find",
            Some(json!({"labels": {"cluster.metal-stack.io/id": "c1"}, "projectid": PROJECT})),
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_error(
        &c.edit(
            "POST",
            "/v1/network/allocate",
            Some(json!({"projectid": PROJECT})),
        )
        .await,
        400,
        "partitionid",
    );
    assert_error(
        &c.edit(
            "POST",
            "/v1/network/allocate",
            Some(json!({"projectid": "nope", "partitionid": PARTITION})),
        )
        .await,
        404,
        "project",
    );
    let (_, ip) = c.edit("POST", "/v1/ip/allocate", Some(ip_req(&id))).await;
    assert_error(
        &c.edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": id, "projectid": OTHER_PROJECT})),
        )
        .await,
        422,
        "another project",
    );
    assert_error(
        &c.edit("DELETE", &format!("/v1/network/free/{id}"), None)
            .await,
        409,
        "ips in use",
    );
    c.edit(
        "DELETE",
        &format!("/v1/ip/free/{}", ip["ipaddress"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(
        c.edit("DELETE", &format!("/v1/network/free/{id}"), None)
            .await
            .0,
        200
    );
    assert_error(
        &c.view("GET", &format!("/v1/network/{id}"), None).await,
        404,
        "",
    );
    assert_error(
        &c.admin(
            "PUT",
            "/v1/network",
            Some(json!({"id": "internet", "prefixes": ["203.0.113.0/24"]})),
        )
        .await,
        409,
        "exists",
    );
    assert_eq!(
        c.admin("DELETE", "/v1/network/storage-fra-equ01", None)
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn machine_allocation_update_and_free() {
    let (_d, _api, c) = start();
    let (_, net) = c
        .edit(
            "POST",
            "/v1/network/allocate",
            Some(json!({"projectid": PROJECT, "partitionid": PARTITION})),
        )
        .await;
    let net_id = net["id"].as_str().unwrap();
    let alloc = json!({
        "name": "worker-a", "hostname": "worker-a", "projectid": PROJECT, "partitionid": PARTITION,
        "sizeid": "c1-large-x86", "imageid": "ubuntu-24.04", "ssh_pub_keys": [],
        "networks": [{"networkid": net_id, "autoacquire": true}, {"networkid": "internet", "autoacquire": true}],
        "tags": ["cluster.metal-stack.io/id=c1"], "placement_tags": ["cluster.metal-stack.io/id=c1"],
    });
    let (s, m) = c
        .edit("POST", "/v1/machine/allocate", Some(alloc.clone()))
        .await;
    assert_eq!(s, 200, "{m}");
    let id = m["id"].as_str().unwrap().to_string();
    assert_eq!(m["allocation"]["name"], "worker-a");
    assert_eq!(m["size"]["id"], "c1-large-x86");
    assert_eq!(m["partition"]["id"], PARTITION);
    let nets = m["allocation"]["networks"].as_array().unwrap();
    assert_eq!(nets[0]["networktype"], "privateprimaryunshared");
    assert_eq!(nets[1]["networktype"], "external");
    let (_, ips) = c
        .view("POST", "/v1/ip/find", Some(json!({"machineid": id})))
        .await;
    // one private IPv4, and one external IP per family (internet has IPv4 and IPv6)
    assert_eq!(
        ips.as_array().unwrap().len(),
        3,
        "machine IPs tagged with the machine"
    );

    // update needs admin; empty tags keep, given tags replace
    assert_error(
        &c.edit(
            "POST",
            "/v1/machine",
            Some(json!({"id": id, "description": null, "tags": ["x=1"]})),
        )
        .await,
        403,
        "",
    );
    let (s, u) = c
        .admin(
            "POST",
            "/v1/machine",
            Some(json!({"id": id, "description": null, "tags": []})),
        )
        .await;
    assert_eq!((s, &u["tags"]), (200, &m["tags"]));
    let (s, u) = c
        .admin(
            "POST",
            "/v1/machine",
            Some(json!({"id": id, "tags": ["cluster.metal-stack.io/id=c1", "extra=1"]})),
        )
        .await;
    assert!(s == 200 && u["tags"].as_array().unwrap().contains(&json!("extra=1")));

    // find by allocation fields and tags
    let (_, found) = c.view("POST", "/v1/machine/find", Some(json!({"allocation_project": PROJECT, "tags": ["cluster.metal-stack.io/id=c1"], "allocation_role": "machine"}))).await;
    assert_eq!(found.as_array().unwrap().len(), 1);

    // four large machines: three more fit, the fifth does not
    for _ in 0..3 {
        assert_eq!(c.edit("POST", "/v1/machine/allocate", Some(json!({"projectid": PROJECT, "partitionid": PARTITION, "sizeid": "c1-large-x86", "imageid": "ubuntu-24.04", "ssh_pub_keys": [], "networks": [{"networkid": net_id, "autoacquire": true}]}))).await.0, 200);
    }
    assert_error(&c.edit("POST", "/v1/machine/allocate", Some(json!({"projectid": PROJECT, "partitionid": PARTITION, "sizeid": "c1-large-x86", "imageid": "ubuntu-24.04", "ssh_pub_keys": [], "networks": [{"networkid": net_id, "autoacquire": true}]}))).await, 422, "no machine available");

    // free releases the machine's ephemeral IPs
    let (s, freed) = c
        .edit("DELETE", &format!("/v1/machine/{id}/free"), None)
        .await;
    assert_eq!(s, 200);
    assert!(freed.get("allocation").is_none() || freed["allocation"].is_null());
    let (_, ips) = c
        .view("POST", "/v1/ip/find", Some(json!({"machineid": id})))
        .await;
    assert_eq!(ips, json!([]));
    assert_error(
        &c.edit("DELETE", "/v1/machine/nope/free", None).await,
        404,
        "",
    );

    // firewalls
    let fw = json!({"name": "fw", "projectid": PROJECT, "partitionid": PARTITION, "sizeid": "n1-medium-x86", "imageid": "firewall-ubuntu-3.0", "ssh_pub_keys": [], "networks": [{"networkid": net_id, "autoacquire": true}, {"networkid": "internet", "autoacquire": true}], "tags": ["firewall.metal-stack.io/managed-by=firewall-controller-manager"]});
    let (s, f) = c.edit("POST", "/v1/firewall/allocate", Some(fw)).await;
    assert_eq!(s, 200, "{f}");
    let (_, fws) = c
        .view(
            "POST",
            "/v1/firewall/find",
            Some(json!({"allocation_project": PROJECT})),
        )
        .await;
    assert_eq!(fws.as_array().unwrap().len(), 1);
    assert_eq!(
        c.view(
            "GET",
            &format!("/v1/firewall/{}", f["id"].as_str().unwrap()),
            None
        )
        .await
        .0,
        200
    );
    assert_error(
        &c.view(
            "GET",
            &format!("/v1/firewall/{}", m["id"].as_str().unwrap()),
            None,
        )
        .await,
        404,
        "",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn register_adds_a_machine_to_the_inventory() {
    let (_d, _api, c) = start();
    let reg = json!({"id": "extra-1", "partitionid": PARTITION, "sizeid": "c1-large-x86", "rackid": "rack03"});
    assert_error(
        &c.edit("POST", "/v1/machine/register", Some(reg.clone()))
            .await,
        403,
        "",
    );
    assert_eq!(
        c.admin("POST", "/v1/machine/register", Some(reg.clone()))
            .await
            .0,
        201
    );
    assert_error(
        &c.admin("POST", "/v1/machine/register", Some(reg)).await,
        409,
        "exists",
    );
    let (_, m) = c.view("GET", "/v1/machine/extra-1", None).await;
    assert_eq!(
        (m["liveliness"].as_str(), m["rackid"].as_str()),
        (Some("Alive"), Some("rack03"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn masterdata_lookups_creates_and_latest_image() {
    let (_d, _api, c) = start();
    for (path, n) in [
        ("/v1/partition", 1),
        ("/v1/size", 3),
        ("/v1/image", 2),
        ("/v1/project", 2),
    ] {
        let (s, list) = c.view("GET", path, None).await;
        assert_eq!((s, list.as_array().unwrap().len()), (200, n), "{path}");
    }
    assert_eq!(c.view("GET", "/v1/size/c1-large-x86", None).await.0, 200);
    assert_error(&c.view("GET", "/v1/size/nope", None).await, 404, "");
    assert_error(&c.view("GET", "/v1/partition/nope", None).await, 404, "");
    assert_error(
        &c.view("GET", &format!("/v1/project/{}", "nope"), None)
            .await,
        404,
        "",
    );
    let newer =
        json!({"id": "ubuntu-24.04.20260301", "url": "http://x/img", "features": ["machine"]});
    assert_eq!(
        c.admin("PUT", "/v1/image", Some(newer.clone())).await.0,
        201
    );
    assert_error(
        &c.admin("PUT", "/v1/image", Some(newer)).await,
        409,
        "exists",
    );
    let (_, latest) = c.view("GET", "/v1/image/ubuntu-24.04/latest", None).await;
    assert_eq!(latest["id"], "ubuntu-24.04.20260301");
    let (_, found) = c
        .view(
            "POST",
            "/v1/image/find",
            Some(json!({"features": ["firewall"]})),
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    let (s, p) = c
        .admin("PUT", "/v1/project", Some(json!({"name": "new"})))
        .await;
    assert_eq!(s, 201);
    assert!(p["meta"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    let (_, found) = c
        .view("POST", "/v1/project/find", Some(json!({"name": "new"})))
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_error(
        &c.admin(
            "PUT",
            "/v1/size",
            Some(json!({"id": "", "constraints": []})),
        )
        .await,
        400,
        "",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn base_path_prefixes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let api = MetalApi::start_with(dir.path(), "/metal", &[]);
    let c = Caller::new(&api);
    assert_eq!(c.call(None, "GET", "/v1/health", None).await.0, 200);
    assert_eq!(
        c.edit("POST", "/v1/ip/allocate", Some(ip_req("internet")))
            .await
            .0,
        201
    );
    let raw = integration::http_client()
        .get(format!("http://{}/v1/health", api.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 404, "nothing outside the base path");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_is_idempotent_across_restarts() {
    let (_d, mut api, c) = start();
    let (_, before) = c.view("GET", "/v1/machine", None).await;
    api.restart();
    let c = Caller::new(&api);
    let (_, after) = c.view("GET", "/v1/machine", None).await;
    assert_eq!(before.as_array().unwrap().len(), 16);
    assert_eq!(before, after);
}
