//! The CRD YAML committed in the Helm chart must equal what `crdgen` generates from the Rust types.
//! After an intended change to the types, regenerate both the chart file and the snapshot:
//!
//! ```text
//! cargo run -p kube-resources --bin crdgen -- helm/metal-mesh/crds
//! INSTA_UPDATE=always cargo test -p kube-resources --test crd_drift   # or: cargo insta review
//! ```

use std::path::PathBuf;

#[test]
fn committed_crds_match_generated() {
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../helm/metal-mesh/crds");
    for (file, generated) in kube_resources::crds::owned_crds_yaml().expect("render CRDs") {
        insta::assert_snapshot!(file, generated);
        let committed = std::fs::read_to_string(chart.join(file))
            .unwrap_or_else(|e| panic!("reading {file}: {e}; run crdgen (see test docs)"));
        assert_eq!(
            committed, generated,
            "{file} is stale; run `cargo run -p kube-resources --bin crdgen -- helm/metal-mesh/crds`"
        );
    }
}

/// The committed YAML is a CRD the validation helper (and so the test API server) can read, and
/// it enforces numeric ports.
#[test]
fn committed_cwnp_crd_validates_objects() {
    let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../helm/metal-mesh/crds");
    let yaml =
        std::fs::read_to_string(chart.join("metal-stack.io_clusterwidenetworkpolicies.yaml"))
            .expect("committed CRD");
    let object = |port: serde_json::Value| {
        serde_json::json!({
            "apiVersion": "metal-stack.io/v1", "kind": "ClusterwideNetworkPolicy",
            "metadata": {"name": "web", "namespace": "firewall"},
            "spec": {"ingress": [{"from": [{"cidr": "0.0.0.0/0"}],
                                  "ports": [{"protocol": "TCP", "port": port}]}]}
        })
    };
    kube_resources::validate_against_upstream(&yaml, "v1", &object(443.into())).expect("valid");
    let errors = kube_resources::validate_against_upstream(&yaml, "v1", &object("https".into()))
        .unwrap_err();
    assert!(
        errors[0].starts_with("/spec/ingress/0/ports/0/port"),
        "{errors:?}"
    );
}
