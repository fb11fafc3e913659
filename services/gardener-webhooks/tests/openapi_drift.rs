//! `openapi/gardener-webhooks.json` is generated from the code; this fails when they differ.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p gardener-webhooks --test openapi_drift`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    mesh_runtime::docs::assert_openapi_committed(
        &gardener_webhooks::openapi(),
        &workspace,
        "gardener-webhooks",
    );
}

/// The contract of issues 13 and 14: the six webhooks at upstream's paths, open; the REST
/// endpoints with exactly these fields, behind a credential.
#[test]
fn the_contract_is_exactly_the_listed_operations() {
    use mesh_runtime::docs::{operations, schema_fields};
    let doc = gardener_webhooks::openapi();
    assert_eq!(
        operations(&doc),
        [
            "POST /v1/default/shoot",
            "POST /v1/render/ignition",
            "POST /v1/validate/shoot",
            "POST /webhooks/controlplane",
            "POST /webhooks/mutate",
            "POST /webhooks/seedprovider",
            "POST /webhooks/shoot",
            "POST /webhooks/validate",
            "POST /webhooks/validate/secrets",
        ]
    );
    assert_eq!(
        schema_fields(&doc, "ValidateShootRequest"),
        ["cloudProfile", "oldShoot", "shoot"]
    );
    assert_eq!(
        schema_fields(&doc, "ValidateShootResponse"),
        ["allowed", "causes"]
    );
    assert_eq!(schema_fields(&doc, "Cause"), ["field", "message", "type"]);
    assert_eq!(
        schema_fields(&doc, "DefaultShootResponse"),
        ["patch", "shoot"]
    );
    assert_eq!(
        schema_fields(&doc, "RenderIgnitionRequest"),
        ["osc", "secrets", "version"]
    );
    assert_eq!(
        schema_fields(&doc, "RenderIgnitionResponse"),
        ["extensionFiles", "extensionUnits", "userData", "version"]
    );
    let json = serde_json::to_value(&doc).unwrap();
    let webhook = &json["paths"]["/webhooks/validate"]["post"];
    assert_eq!(
        webhook["security"],
        serde_json::json!([{}]),
        "webhooks are open"
    );
    assert!(webhook["responses"]["401"].is_null());
    let rest = &json["paths"]["/v1/validate/shoot"]["post"];
    assert!(
        rest["responses"]["401"].is_object(),
        "REST needs a credential"
    );
}

#[test]
fn viewers_may_use_the_rest_endpoints_and_webhooks_need_no_role() {
    let access = gardener_webhooks::access();
    let rules: Vec<(String, Vec<String>)> = access
        .viewer()
        .into_iter()
        .map(|r| (r.verb, r.urls))
        .collect();
    assert_eq!(
        rules,
        [
            (
                "create".to_string(),
                vec![
                    "/v1/default/shoot".to_string(),
                    "/v1/render/ignition".to_string(),
                    "/v1/validate/shoot".to_string()
                ]
            ),
            ("get".to_string(), vec!["/metrics".to_string()]),
        ]
    );
    assert_eq!(access.editor(), access.viewer());
}
