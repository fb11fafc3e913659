use metal_api::{Args, cli::ENV_PREFIX};

fn main() -> anyhow::Result<()> {
    let args: Args = mesh_runtime::parse_args(ENV_PREFIX);
    let runtime = args.runtime.clone();
    mesh_runtime::run(metal_api::INFO, runtime, move |setup| {
        metal_api::start(args, setup)
    })
}
