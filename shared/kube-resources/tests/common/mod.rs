//! Shared helpers for the contract tests: locating the upstream CRDs.
#![allow(dead_code)]

use std::path::PathBuf;

/// `<workspace>/../shared/contracts/crds`, or `None` (test skipped) when it is absent outside CI.
/// In CI (env `CI` set) a missing contracts directory is a failure, not a skip.
pub fn upstream_crds() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/contracts/crds");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the upstream contracts are missing at {}",
        dir.display()
    );
    eprintln!(
        "SKIPPED: upstream contracts not found at {} (set CI to make this a failure)",
        dir.display()
    );
    None
}

/// The text of one upstream CRD file.
pub fn upstream_crd(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.join(file).display()))
}
