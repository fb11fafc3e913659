//! `openapi/volume-manager.json` is generated from the code; this fails when they differ.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p volume-manager --test openapi_drift`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    mesh_runtime::docs::assert_openapi_committed(
        &volume_manager::openapi(),
        &workspace,
        "volume-manager",
    );
}

/// The REST contract of the issue, exactly: these four read-only operations.
#[test]
fn the_rest_contract_is_exactly_the_listed_operations() {
    let doc = volume_manager::openapi();
    assert_eq!(
        mesh_runtime::docs::operations(&doc),
        [
            "GET /v1/capacity",
            "GET /v1/snapshots",
            "GET /v1/volumegroups",
            "GET /v1/volumes"
        ]
    );
    assert_eq!(
        mesh_runtime::docs::schema_fields(&doc, "CapacityView"),
        ["available_bytes", "extent_bytes", "type", "volume_group"]
    );
}
