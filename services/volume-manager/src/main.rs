use volume_manager::{Args, cli::ENV_PREFIX};

fn main() -> anyhow::Result<()> {
    let args: Args = mesh_runtime::parse_args(ENV_PREFIX);
    let runtime = args.runtime.clone();
    mesh_runtime::run(volume_manager::INFO, runtime, move |setup| {
        volume_manager::start(args, setup)
    })
}
