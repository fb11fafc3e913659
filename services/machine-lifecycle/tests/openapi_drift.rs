//! `openapi/machine-lifecycle.json` is generated from the code; this fails when they differ.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p machine-lifecycle --test openapi_drift`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    mesh_runtime::docs::assert_openapi_committed(
        &machine_lifecycle::openapi(),
        &workspace,
        "machine-lifecycle",
    );
}

/// The contract of issue 15: list, create and delete, each behind a credential, and the
/// driver's error statuses documented.
#[test]
fn the_contract_is_exactly_the_listed_operations() {
    use mesh_runtime::docs::{operations, schema_fields};
    let doc = machine_lifecycle::openapi();
    assert_eq!(
        operations(&doc),
        [
            "DELETE /v1/machines/{name}",
            "GET /v1/machines",
            "POST /v1/machines",
        ]
    );
    assert_eq!(
        schema_fields(&doc, "CreateRequest"),
        ["machineClass", "name", "providerSpec", "secret"]
    );
    assert_eq!(
        schema_fields(&doc, "CreateResponse"),
        ["addresses", "adopted", "nodeName", "providerID"]
    );
    let json = serde_json::to_value(&doc).unwrap();
    let create = &json["paths"]["/v1/machines"]["post"];
    for status in ["201", "400", "401", "403", "429", "503"] {
        assert!(
            create["responses"][status].is_object(),
            "POST /v1/machines documents {status}"
        );
    }
    // No per-operation override: the document's bearer requirement applies.
    assert!(create.get("security").is_none(), "{}", create["security"]);
    assert_eq!(json["security"], serde_json::json!([{"bearer": []}]));
}
