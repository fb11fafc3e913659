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
    let doc = serde_json::to_value(rule_compiler::openapi()).unwrap();
    let mut ops: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    ops.sort();
    assert_eq!(
        ops,
        ["GET /v1/ruleset", "GET /v1/status", "POST /v1/compile"]
    );
    let fields = |schema: &str| -> Vec<String> {
        let mut f: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        f.sort();
        f
    };
    assert_eq!(
        fields("CompileRequest"),
        ["firewall", "policies", "services"]
    );
    assert_eq!(fields("CompileResponse"), ["ignored", "ruleset"]);
    assert_eq!(fields("Ignored"), ["name", "namespace", "reason"]);
    assert!(doc["paths"]["/v1/compile"]["post"]["responses"]["200"].is_object());
}
