use rule_compiler::{Args, cli::ENV_PREFIX};

fn main() -> anyhow::Result<()> {
    let args: Args = mesh_runtime::parse_args(ENV_PREFIX);
    let runtime = args.runtime.clone();
    mesh_runtime::run(rule_compiler::INFO, runtime, move |setup| {
        rule_compiler::start(args, setup)
    })
}
