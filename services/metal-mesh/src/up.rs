//! `metal-mesh up`: state in `./.metal-mesh/`, HMAC keys generated on first start and kept
//! in `hmac-keys.env`, the embedded seed written to `seed.yaml` (edit it to change the
//! inventory), then every service in one process until SIGTERM/SIGINT: metal-api and the
//! lb-allocator (without Kubernetes unless `--kubeconfig` is given).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mesh_runtime::RuntimeArgs;
use rand::RngExt;
use rand::distr::Alphanumeric;

/// The seed compiled into the binary: one partition with 16 machines (compose/seed.yaml).
const EMBEDDED_SEED: &str = include_str!("../../../compose/seed.yaml");

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Where the mesh keeps its state (database, keys, seed).
    #[arg(long, default_value = ".metal-mesh")]
    pub state_dir: PathBuf,
    /// Seed file; defaults to STATE_DIR/seed.yaml, written from the embedded seed on first start.
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Listen address of the lb-allocator (metal-api listens on --listen).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub lb_allocator_listen: std::net::SocketAddr,
    /// Kubeconfig for the lb-allocator's controllers; without it only its REST API runs.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Project, partition and default external network the lb-allocator works in (the embedded
    /// seed's).
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000001")]
    pub project: String,
    #[arg(long, default_value = "fra-equ01")]
    pub partition: String,
    #[arg(long, default_value = "internet")]
    pub external_network: String,
    /// Cluster ID in the lb-allocator's IP tags.
    #[arg(long, default_value = "metal-mesh-local")]
    pub cluster_id: String,
}

/// The three metal-api HMAC keys.
struct Keys {
    view: String,
    edit: String,
    admin: String,
}

const KEY_VARS: [&str; 3] = [
    "METAL_API_HMAC_VIEW_KEY",
    "METAL_API_HMAC_EDIT_KEY",
    "METAL_API_HMAC_ADMIN_KEY",
];

fn random_key() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Reads `hmac-keys.env`, or writes new random keys there on first start.
fn keys(path: &Path) -> anyhow::Result<(Keys, bool)> {
    if let Ok(text) = fs::read_to_string(path) {
        let value = |var: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(var)?.strip_prefix('=').map(str::to_string))
                .with_context(|| format!("{var} missing in {}", path.display()))
        };
        let keys = Keys {
            view: value(KEY_VARS[0])?,
            edit: value(KEY_VARS[1])?,
            admin: value(KEY_VARS[2])?,
        };
        return Ok((keys, false));
    }
    let keys = Keys {
        view: random_key(),
        edit: random_key(),
        admin: random_key(),
    };
    let text = format!(
        "# metal-api HMAC keys of this metal-mesh (generated on first start)\n{}={}\n{}={}\n{}={}\n",
        KEY_VARS[0], keys.view, KEY_VARS[1], keys.edit, KEY_VARS[2], keys.admin
    );
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok((keys, true))
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;
    let (keys, generated) = keys(&args.state_dir.join("hmac-keys.env"))?;
    let seed = match args.seed.clone() {
        Some(seed) => seed,
        None => {
            let path = args.state_dir.join("seed.yaml");
            if !path.exists() {
                fs::write(&path, EMBEDDED_SEED)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            path
        }
    };
    let listen = args.runtime.listen;
    let lb_listen = args.lb_allocator_listen;
    println!("metal-mesh up");
    println!("  metal-api      http://{listen}  (docs http://{listen}/docs, metrics /metrics)");
    println!(
        "  lb-allocator   http://{lb_listen}  (docs http://{lb_listen}/docs; {})",
        match &args.kubeconfig {
            Some(k) => format!("Kubernetes from {}", k.display()),
            None => "REST only, no Kubernetes".into(),
        }
    );
    println!("  state          {}", args.state_dir.display());
    println!("  seed           {}", seed.display());
    println!(
        "  hmac keys      {} ({})",
        args.state_dir.join("hmac-keys.env").display(),
        if generated {
            "generated now"
        } else {
            "kept from an earlier start"
        }
    );
    println!(
        "                 Metal-View={}  Metal-Edit={}  Metal-Admin={}",
        keys.view, keys.edit, keys.admin
    );
    let lb_args = lb_allocator_args(&args, &keys.admin)?;
    let metal_api_args = metal_api::Args {
        runtime: args.runtime.clone(),
        data_dir: args.state_dir.join("metal-api"),
        seed: Some(seed),
        base_path: "/".into(),
        hmac_view_key: keys.view,
        hmac_edit_key: keys.edit,
        hmac_admin_key: keys.admin,
        hmac_lifetime: std::time::Duration::from_secs(30),
    };
    let runtime = args.runtime;
    mesh_runtime::block_on_system(async move {
        let info = mesh_runtime::ServiceInfo {
            name: "metal-mesh",
            version: env!("CARGO_PKG_VERSION"),
        };
        let telemetry = mesh_runtime::Telemetry::init(&info, &runtime)?;
        let shutdown =
            mesh_runtime::ShutdownSignal::on_os_signals().context("installing signal handlers")?;
        // A service that fails stops the others: the mesh is up as a whole or not at all.
        let stop_all = |result: anyhow::Result<()>| {
            if result.is_err() {
                shutdown.trigger();
            }
            result
        };
        let lb_runtime = lb_args.runtime.clone();
        let (api, lb) = futures::join!(
            async {
                stop_all(
                    mesh_runtime::launch(metal_api::INFO, &runtime, shutdown.clone(), |setup| {
                        metal_api::start(metal_api_args, setup)
                    })
                    .await,
                )
            },
            async {
                stop_all(
                    mesh_runtime::launch(
                        lb_allocator::INFO,
                        &lb_runtime,
                        shutdown.clone(),
                        |setup| lb_allocator::start(lb_args, setup),
                    )
                    .await,
                )
            },
        );
        telemetry.shutdown().await;
        actix_rt::System::current().stop();
        api.and(lb)
    })
}

/// The lb-allocator's command line for the embedded metal-api (admin key: it also updates
/// machines) and the seed's project.
fn lb_allocator_args(args: &UpArgs, admin_key: &str) -> anyhow::Result<lb_allocator::Args> {
    let api = args.runtime.listen;
    // A wildcard listen address is reached on loopback.
    let host = if api.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        api.ip()
    };
    let url = format!("http://{}", std::net::SocketAddr::new(host, api.port()));
    let mut argv: Vec<String> = [
        "lb-allocator",
        "--listen",
        &args.lb_allocator_listen.to_string(),
        "--log-format",
        match args.runtime.log_format {
            mesh_runtime::LogFormat::Text => "text",
            mesh_runtime::LogFormat::Json => "json",
        },
        "--log-level",
        &args.runtime.log_level,
        "--metal-api-url",
        &url,
        "--metal-auth-hmac",
        admin_key,
        "--metal-auth-hmac-auth-type",
        "Metal-Admin",
        "--metal-project-id",
        &args.project,
        "--metal-partition-id",
        &args.partition,
        "--metal-cluster-id",
        &args.cluster_id,
        "--metal-default-external-network-id",
        &args.external_network,
        "--metal-additional-networks",
        &args.external_network,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match &args.kubeconfig {
        Some(path) => argv.extend(["--kubeconfig".into(), path.display().to_string()]),
        None => argv.push("--no-kubernetes".into()),
    }
    mesh_runtime::try_parse_args_from(lb_allocator::cli::ENV_PREFIX, argv)
        .map_err(|e| anyhow::anyhow!("lb-allocator arguments: {e}"))
}
