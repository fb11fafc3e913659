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
    use mesh_runtime::docs::{operations, schema_fields};
    let doc = lb_allocator::openapi();
    assert_eq!(
        operations(&doc),
        [
            "DELETE /v1/loadbalancers/{namespace}/{name}",
            "GET /v1/loadbalancers",
            "GET /v1/metallb",
            "GET /v1/nodes/{name}/metadata",
            "POST /v1/loadbalancers",
        ]
    );
    let json = serde_json::to_value(&doc).unwrap();
    assert!(json["paths"]["/v1/loadbalancers"]["post"]["responses"]["201"].is_object());
    assert_eq!(
        schema_fields(&doc, "LoadBalancerRequest"),
        ["families", "ip", "name", "namespace", "network"]
    );
}
