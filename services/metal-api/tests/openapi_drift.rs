//! `openapi/metal-api.json` is generated from the code; this fails when they differ.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p metal-api --test openapi_drift`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    mesh_runtime::docs::assert_openapi_committed(&metal_api::openapi(), &workspace, "metal-api");
}
