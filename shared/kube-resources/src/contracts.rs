//! Where the upstream interface files live: `../shared/contracts/` beside the checkout. They
//! are never copied into the project, so contract tests find them here or skip; in CI (env
//! `CI` set) a missing directory is a failure, not a skip.

use std::path::PathBuf;

/// `<checkout>/../shared/contracts/<relative>`, or `None` (and a note on stderr) when it
/// is absent outside CI. Panics when it is absent and `CI` is set.
pub fn upstream(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/contracts")
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the upstream contract {} is missing",
        path.display()
    );
    eprintln!(
        "upstream contract not found at {}: skipping what needs it (set CI to make this a failure)",
        path.display()
    );
    None
}

/// The directory of upstream CRDs (`contracts/crds`), see [`upstream`].
pub fn upstream_crds() -> Option<PathBuf> {
    upstream("crds")
}
