//! Writes the CRDs metal-mesh owns as YAML. With no argument it prints to stdout; with a directory
//! it writes `<group-plural>.yaml` files there (the Helm chart uses `helm/metal-mesh/crds`):
//!
//! ```text
//! cargo run -p kube-resources --bin crdgen -- helm/metal-mesh/crds
//! ```
//!
//! `--stand-ins DIR` writes instead the schema-less stand-in CRDs (Gardener's extension kinds
//! and DNSRecord, machine-controller-manager's, the firewall kinds, ManagedResource,
//! CloudProfile) into DIR (created when missing), one `<group>_<plural>.yaml` each, for a local
//! test API server:
//!
//! ```text
//! cargo run -p kube-resources --bin crdgen -- --stand-ins .metal-mesh/crds
//! ```

use std::path::PathBuf;

use anyhow::Context as _;

const USAGE: &str = "usage: crdgen [DIR] | crdgen --stand-ins DIR";

fn main() -> anyhow::Result<()> {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [] => {
            for (_, yaml) in kube_resources::crds::owned_crds_yaml()? {
                print!("{yaml}");
            }
        }
        [flag, dir] if flag == "--stand-ins" => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (file, yaml) in kube_resources::crds::stand_in_crds_yaml()? {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
        }
        [flag] if flag == "--stand-ins" => anyhow::bail!("--stand-ins needs a directory\n{USAGE}"),
        [flag] if flag == "-h" || flag == "--help" => println!("{USAGE}"),
        [dir] if !dir.to_string_lossy().starts_with('-') => {
            let dir = PathBuf::from(dir);
            for (file, yaml) in kube_resources::crds::owned_crds_yaml()? {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        _ => anyhow::bail!("unexpected arguments {args:?}\n{USAGE}"),
    }
    Ok(())
}
