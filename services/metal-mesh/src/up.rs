//! `metal-mesh up`: state in `./.metal-mesh/`, HMAC keys generated on first start and kept
//! in `hmac-keys.env`, the embedded seed written to `seed.yaml` (edit it to change the
//! inventory) and the embedded Firewall to `firewall.yaml`, then every service in one process
//! until SIGTERM/SIGINT: metal-api, the lb-allocator and the rule-compiler (without Kubernetes
//! unless `--kubeconfig` is given; the rule-compiler only renders its ruleset unless
//! `--rule-compiler-apply` is given).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mesh_runtime::RuntimeArgs;
use rand::RngExt;
use rand::distr::Alphanumeric;

/// The seed compiled into the binary: one partition with 16 machines (compose/seed.yaml).
const EMBEDDED_SEED: &str = include_str!("../../../compose/seed.yaml");
/// The Firewall compiled into the binary: a firewall of the seed's project (compose/firewall.yaml).
const EMBEDDED_FIREWALL: &str = include_str!("../../../compose/firewall.yaml");

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Where the mesh keeps its state (database, keys, seed, Firewall).
    #[arg(long, default_value = ".metal-mesh")]
    pub state_dir: PathBuf,
    /// Seed file; defaults to STATE_DIR/seed.yaml, written from the embedded seed on first start.
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Listen address of the lb-allocator (metal-api listens on --listen).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub lb_allocator_listen: std::net::SocketAddr,
    /// Listen address of the rule-compiler.
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub rule_compiler_listen: std::net::SocketAddr,
    /// Let the rule-compiler apply its ruleset to THIS machine's kernel: it replaces table
    /// `inet firewall` in the network namespace metal-mesh runs in (forward policy drop, which
    /// can cut off containers and VMs routed through this machine), and needs root or
    /// CAP_NET_ADMIN. Without it the rule-compiler always runs with --dry-run (renders and, where
    /// permitted, checks with `nft -c`), so a laptop's own nftables are never replaced by
    /// accident.
    #[arg(long)]
    pub rule_compiler_apply: bool,
    /// Firewall the rule-compiler compiles from; defaults to STATE_DIR/firewall.yaml, written
    /// from the embedded one on first start.
    #[arg(long)]
    pub firewall_file: Option<PathBuf>,
    /// Kubeconfig for the lb-allocator's controllers and the rule-compiler's watches
    /// (ClusterwideNetworkPolicies, Services, FirewallMonitor); without it only their REST APIs
    /// run.
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
    let seed = state_file(&args.seed, &args.state_dir, "seed.yaml", EMBEDDED_SEED)?;
    let firewall = state_file(
        &args.firewall_file,
        &args.state_dir,
        "firewall.yaml",
        EMBEDDED_FIREWALL,
    )?;
    let listen = args.runtime.listen;
    let lb_listen = args.lb_allocator_listen;
    let rc_listen = args.rule_compiler_listen;
    println!("metal-mesh up");
    println!("  metal-api      http://{listen}  (docs http://{listen}/docs, metrics /metrics)");
    println!(
        "  lb-allocator   http://{lb_listen}  (docs http://{lb_listen}/docs; {})",
        match &args.kubeconfig {
            Some(k) => format!("Kubernetes from {}", k.display()),
            None => "REST only, no Kubernetes".into(),
        }
    );
    println!(
        "  rule-compiler  http://{rc_listen}  (docs http://{rc_listen}/docs; {}; {})",
        if args.rule_compiler_apply {
            "APPLIES its ruleset to this machine's nftables"
        } else {
            "dry run: renders, never applies"
        },
        match &args.kubeconfig {
            Some(k) => format!("Kubernetes from {}", k.display()),
            None => "no Kubernetes".into(),
        }
    );
    println!("  state          {}", args.state_dir.display());
    println!("  seed           {}", seed.display());
    println!("  firewall       {}", firewall.display());
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
    let rc_args = rule_compiler_args(&args, &firewall)?;
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
        let rc_runtime = rc_args.runtime.clone();
        let (api, lb, rc) = futures::join!(
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
            async {
                stop_all(
                    mesh_runtime::launch(
                        rule_compiler::INFO,
                        &rc_runtime,
                        shutdown.clone(),
                        |setup| rule_compiler::start(rc_args, setup),
                    )
                    .await,
                )
            },
        );
        telemetry.shutdown().await;
        actix_rt::System::current().stop();
        api.and(lb).and(rc)
    })
}

/// `given`, or STATE_DIR/`name`, written from `embedded` when it does not exist yet.
fn state_file(
    given: &Option<PathBuf>,
    state_dir: &Path,
    name: &str,
    embedded: &str,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.clone());
    }
    let path = state_dir.join(name);
    if !path.exists() {
        fs::write(&path, embedded).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

fn log_format(args: &UpArgs) -> &'static str {
    match args.runtime.log_format {
        mesh_runtime::LogFormat::Text => "text",
        mesh_runtime::LogFormat::Json => "json",
    }
}

/// The rule-compiler's command line: the Firewall from `firewall`, no Suricata, and a dry run
/// unless `--rule-compiler-apply`.
fn rule_compiler_args(args: &UpArgs, firewall: &Path) -> anyhow::Result<rule_compiler::Args> {
    let mut argv: Vec<String> = [
        "rule-compiler",
        "--listen",
        &args.rule_compiler_listen.to_string(),
        "--log-format",
        log_format(args),
        "--log-level",
        &args.runtime.log_level,
        "--firewall-file",
        &firewall.display().to_string(),
        "--enable-ids",
        "false",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !args.rule_compiler_apply {
        argv.push("--dry-run".into());
    }
    if let Some(path) = &args.kubeconfig {
        argv.extend(["--kubeconfig".into(), path.display().to_string()]);
    }
    let mut parsed: rule_compiler::Args =
        mesh_runtime::try_parse_args_from(rule_compiler::cli::ENV_PREFIX, argv)
            .map_err(|e| anyhow::anyhow!("rule-compiler arguments: {e}"))?;
    // Never the kernel without --rule-compiler-apply, whatever the environment says (an
    // environment's RULE_COMPILER_DRY_RUN=true still holds with it). Kubernetes only with
    // --kubeconfig, as for the lb-allocator: the rule-compiler's --kubeconfig also reads
    // KUBECONFIG, which a laptop's shell often sets.
    if !args.rule_compiler_apply {
        parsed.dry_run = true;
    }
    parsed.kubeconfig = args.kubeconfig.clone();
    Ok(parsed)
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
        log_format(args),
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
