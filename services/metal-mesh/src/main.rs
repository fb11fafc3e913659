//! metal-mesh: the whole mesh in one process for local use: the embedded metal-api on its
//! embedded seed, the lb-allocator, the rule-compiler, the volume-manager and (with a
//! kubeconfig) the machine-lifecycle; later services join here.

mod credentials;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "metal-mesh",
    version,
    about = "metal-stack's Kubernetes integrations, in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the mesh on its embedded defaults.
    Up(up::UpArgs),
}

fn main() -> anyhow::Result<()> {
    match mesh_runtime::parse_args::<Cli>("METAL_MESH").command {
        Command::Up(args) => up::run(args),
    }
}
