//! `openapi/lb-allocator.json` is generated from the code; this fails when they differ.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p lb-allocator --test openapi_drift`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    mesh_runtime::docs::assert_openapi_committed(
        &lb_allocator::openapi(),
        &workspace,
        "lb-allocator",
    );
}

/// The REST contract of the issue, exactly: these operations and no others.
#[test]
fn the_rest_contract_is_exactly_the_listed_operations() {
    let doc = serde_json::to_value(lb_allocator::openapi()).unwrap();
    let mut ops: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    ops.sort();
    assert_eq!(
        ops,
        [
            "DELETE /v1/loadbalancers/{namespace}/{name}",
            "GET /v1/loadbalancers",
            "GET /v1/metallb",
            "GET /v1/nodes/{name}/metadata",
            "POST /v1/loadbalancers",
        ]
    );
    let post = &doc["paths"]["/v1/loadbalancers"]["post"];
    assert!(post["responses"]["201"].is_object());
    let request = &doc["components"]["schemas"]["LoadBalancerRequest"]["properties"];
    let mut fields: Vec<&str> = request
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(fields, ["families", "ip", "name", "namespace", "network"]);
}
