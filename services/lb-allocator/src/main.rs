use lb_allocator::{Args, cli::ENV_PREFIX};

fn main() -> anyhow::Result<()> {
    let args: Args = mesh_runtime::parse_args(ENV_PREFIX);
    let runtime = args.runtime.clone();
    mesh_runtime::run(lb_allocator::INFO, runtime, move |setup| {
        lb_allocator::start(args, setup)
    })
}
