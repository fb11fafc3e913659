//! Writes the CRDs metal-mesh owns as YAML. With no argument it prints to stdout; with a directory
//! it writes `<group-plural>.yaml` files there (the Helm chart uses `helm/metal-mesh/crds`):
//!
//! ```text
//! cargo run -p kube-resources --bin crdgen -- helm/metal-mesh/crds
//! ```

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os().nth(1).map(PathBuf::from);
    for (file, yaml) in kube_resources::crds::owned_crds_yaml()? {
        match &dir {
            Some(dir) => std::fs::write(dir.join(file), yaml)?,
            None => print!("{yaml}"),
        }
    }
    Ok(())
}
