//! `openapi/metal-api.json` is generated from the code; this fails when they differ.
//! Regenerate with `UPDATE_OPENAPI=1 cargo test -p metal-api --test openapi_drift`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/metal-api.json");
    let generated = metal_api::openapi()
        .to_pretty_json()
        .expect("serialize OpenAPI")
        + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi/metal-api.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/metal-api.json is out of date; run UPDATE_OPENAPI=1 cargo test -p metal-api --test openapi_drift"
    );
}
