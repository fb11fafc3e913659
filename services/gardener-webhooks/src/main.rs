use gardener_webhooks::{Args, cli::ENV_PREFIX};

fn main() -> anyhow::Result<()> {
    let args: Args = mesh_runtime::parse_args(ENV_PREFIX);
    let runtime = args.runtime.clone();
    mesh_runtime::run(gardener_webhooks::INFO, runtime, move |setup| {
        gardener_webhooks::start(args, setup)
    })
}
