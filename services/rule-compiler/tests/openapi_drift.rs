//! `openapi/rule-compiler.json` is generated from the code; this fails when they differ.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p rule-compiler --test openapi_drift`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    mesh_runtime::docs::assert_openapi_committed(
        &rule_compiler::openapi(),
        &workspace,
        "rule-compiler",
    );
}

/// The REST contract of the issue, exactly: these operations, and the compile request and
/// response with exactly these fields.
#[test]
fn the_rest_contract_is_exactly_the_listed_operations() {
    use mesh_runtime::docs::{operations, schema_fields};
    let doc = rule_compiler::openapi();
    assert_eq!(
        operations(&doc),
        ["GET /v1/ruleset", "GET /v1/status", "POST /v1/compile"]
    );
    assert_eq!(
        schema_fields(&doc, "CompileRequest"),
        ["firewall", "policies", "services"]
    );
    assert_eq!(
        schema_fields(&doc, "CompileResponse"),
        ["ignored", "ruleset"]
    );
    assert_eq!(
        schema_fields(&doc, "Ignored"),
        ["name", "namespace", "reason"]
    );
    let json = serde_json::to_value(&doc).unwrap();
    assert!(json["paths"]["/v1/compile"]["post"]["responses"]["200"].is_object());
}
