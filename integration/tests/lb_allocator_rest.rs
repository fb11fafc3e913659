//! lb-allocator without Kubernetes (`--no-kubernetes`, as in docker compose): the REST API
//! against the embedded metal-api, through the same actors the controllers use.

use integration::lb_allocator::{CLUSTER, LbAllocator, Options};
use integration::metal_api::{Caller, MetalApi, PROJECT};
use serde_json::{Value, json};

async fn call(lb: &LbAllocator, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = lb.http();
    let mut req = http.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        lb.url(path),
    );
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{body}");
    }
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_allocates_lists_configures_and_releases() {
    let dir = tempfile::tempdir().unwrap();
    let metal = MetalApi::start(dir.path());
    let lb = LbAllocator::start(&Options::new(&metal, None));
    let caller = Caller::new(&metal);

    let (status, created) = call(
        &lb,
        "POST",
        "/v1/loadbalancers",
        Some(json!({"namespace": "shop", "name": "web"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let address = created["ips"][0]["address"].as_str().unwrap().to_string();
    assert_eq!(created["ips"][0]["network"], "internet");
    assert_eq!(created["ips"][0]["type"], "ephemeral");
    assert_eq!(created["changes"][0]["action"], "allocated");
    // Repeating it changes nothing.
    let (status, again) = call(
        &lb,
        "POST",
        "/v1/loadbalancers",
        Some(json!({"namespace": "shop", "name": "web"})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(again["ips"], created["ips"]);
    assert_eq!(again["changes"], json!([]));

    let (status, dual) = call(
        &lb,
        "POST",
        "/v1/loadbalancers",
        Some(json!({"namespace": "shop", "name": "dual", "network": "internet-ephemeral", "families": ["IPv4", "IPv6"]})),
    )
    .await;
    assert_eq!(status, 201, "{dual}");
    assert_eq!(dual["ips"].as_array().unwrap().len(), 2);

    let (status, list) = call(&lb, "GET", "/v1/loadbalancers", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dual", "web"]);

    let (status, config) = call(&lb, "GET", "/v1/metallb", None).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["loadbalancer"], "metallb");
    let pool = config["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "IPAddressPool")
        .unwrap();
    assert!(
        pool["spec"]["addresses"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("{address}/32"))),
        "{pool}"
    );
    assert_eq!(pool["metadata"]["namespace"], "metallb-system");

    let (status, released) = call(&lb, "DELETE", "/v1/loadbalancers/shop/web", None).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(
        released["released"],
        json!([{"action": "released", "address": address, "freed": true}])
    );
    let (status, _) = caller.view("GET", &format!("/v1/ip/{address}"), None).await;
    assert_eq!(status, 404, "freed in metal-api");
    let (status, problem) = call(&lb, "DELETE", "/v1/loadbalancers/shop/web", None).await;
    assert_eq!(status, 404, "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_refuses_bad_input_with_problems_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let metal = MetalApi::start(dir.path());
    let lb = LbAllocator::start(&Options::new(&metal, None));
    let caller = Caller::new(&metal);
    let count = || async {
        let (_, ips) = caller
            .view("POST", "/v1/ip/find", Some(json!({"projectid": PROJECT})))
            .await;
        ips.as_array().unwrap().len()
    };
    let before = count().await;

    for (body, status, slug) in [
        (json!({"namespace": "Shop", "name": "web"}), 400, "invalid"),
        (json!({"namespace": "shop"}), 400, "bad-request"),
        (
            json!({"namespace": "shop", "name": "web", "extra": 1}),
            400,
            "bad-request",
        ),
        (
            json!({"namespace": "shop", "name": "web", "ip": "1.2.3"}),
            400,
            "invalid",
        ),
        (
            json!({"namespace": "shop", "name": "web", "families": ["IPv4", "IPv4"]}),
            400,
            "invalid",
        ),
        (
            json!({"namespace": "shop", "name": "web", "ip": "185.1.2.200", "network": "internet"}),
            400,
            "invalid",
        ),
        (
            json!({"namespace": "shop", "name": "web", "network": "dmz"}),
            422,
            "network-not-allowed",
        ),
        (
            json!({"namespace": "shop", "name": "web", "ip": "185.1.2.200"}),
            422,
            "ip-not-allocated",
        ),
    ] {
        let (got, problem) = call(&lb, "POST", "/v1/loadbalancers", Some(body.clone())).await;
        assert_eq!(got, status, "{body} → {problem}");
        assert_eq!(
            problem["type"],
            format!("https://metal-mesh.dev/problems/{slug}"),
            "{body} → {problem}"
        );
        assert_eq!(problem["status"], status);
    }
    assert_eq!(count().await, before, "nothing allocated");

    let (status, md) = call(&lb, "GET", "/v1/nodes/no-such-node/metadata", None).await;
    assert_eq!(status, 404, "{md}");
    assert_eq!(
        call(&lb, "GET", "/v1/nodes/a%2Fb/metadata", None).await.0,
        400
    );
    let (status, problem) = call(&lb, "DELETE", "/v1/loadbalancers/Shop/web", None).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (400, Some("https://metal-mesh.dev/problems/invalid"))
    );
    let _ = CLUSTER;
}
