use machine_lifecycle::{Args, cli::ENV_PREFIX};

fn main() -> anyhow::Result<()> {
    let args: Args = mesh_runtime::parse_args(ENV_PREFIX);
    let runtime = args.runtime();
    mesh_runtime::run(machine_lifecycle::INFO, runtime, move |setup| {
        machine_lifecycle::start(args, setup)
    })
}
