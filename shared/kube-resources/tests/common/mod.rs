//! Shared helpers for the contract tests: locating the upstream CRDs.
#![allow(dead_code)]

pub use kube_resources::contracts::upstream_crds;

/// The text of one upstream CRD file.
pub fn upstream_crd(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.join(file).display()))
}

/// What identifies a kind in an upstream CRD, to compare with our `kube::Resource` impls.
#[derive(Debug, PartialEq)]
pub struct Identity {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

/// The identity of `version` in an upstream CRD file.
pub fn upstream_identity(dir: &std::path::Path, file: &str, version: &str) -> Identity {
    let crd = kube_resources::schema::parse_crd(&upstream_crd(dir, file)).expect("CRD parses");
    let text = |p: &str| {
        crd.pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        kube_resources::schema::openapi_schema(&crd, version).is_some(),
        "{file} has no version {version}"
    );
    Identity {
        group: text("/spec/group"),
        version: version.into(),
        kind: text("/spec/names/kind"),
        plural: text("/spec/names/plural"),
        namespaced: text("/spec/scope") == "Namespaced",
    }
}

/// The identity our type claims.
pub fn our_identity<K: kube::Resource<DynamicType = ()>>() -> Identity {
    let namespaced = std::any::type_name::<K::Scope>().ends_with("::NamespaceResourceScope");
    Identity {
        group: K::group(&()).into(),
        version: K::version(&()).into(),
        kind: K::kind(&()).into(),
        plural: K::plural(&()).into(),
        namespaced,
    }
}
