//! `metal-mesh up`: state in `./.metal-mesh/`, HMAC keys generated on first start and kept
//! in `hmac-keys.env`, the embedded seed written to `seed.yaml` (edit it to change the
//! inventory) and the embedded Firewall to `firewall.yaml`, then every service in one process
//! until SIGTERM/SIGINT: metal-api, the lb-allocator, the rule-compiler (without Kubernetes
//! unless `--kubeconfig` is given; the rule-compiler only renders its ruleset unless
//! `--rule-compiler-apply` is given), the volume-manager (its CSI socket in
//! `volume-manager/csi.sock`; lvm metadata only unless `--volume-manager-activate`; no devices,
//! so no volume group is ever created, unless `--volume-manager-devices` is given) and, only
//! with `--kubeconfig`, the machine-lifecycle (the Machines of
//! `--machine-lifecycle-namespace` in that cluster; its gRPC driver on
//! `machine-lifecycle/driver.sock`). With `--gardener` (which needs `--kubeconfig`) also
//! gardener-webhooks as a seed would run it (the seed's webhooks, the OperatingSystemConfig
//! controller and the extension controllers of provider metal), and the machine-lifecycle
//! scales MachineDeployments through MachineSets to Machines: what gardenlet asks of a shoot of
//! type metal then happens against the embedded metal-api.

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
/// The machine image a shoot's worker pool names (`ubuntu` `24.4`) mapped to the embedded
/// seed's image (compose/seed.yaml), for gardener-webhooks' Worker controller.
pub const SEED_MACHINE_IMAGE: &str = "ubuntu:24.4=ubuntu-24.04.20260101";
/// The webhooks a seed serves (the garden's validator and mutator are not `up`'s business).
const SEED_WEBHOOKS: &str = "controlplane,seedprovider,shoot";

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
    /// Listen address of the volume-manager.
    #[arg(long, default_value = "127.0.0.1:8083")]
    pub volume_manager_listen: std::net::SocketAddr,
    /// Listen address of the machine-lifecycle (runs only with --kubeconfig).
    #[arg(long, default_value = "127.0.0.1:8084")]
    pub machine_lifecycle_listen: std::net::SocketAddr,
    /// Namespace of the Machines and MachineClasses the machine-lifecycle reconciles in the
    /// cluster of --kubeconfig.
    #[arg(long, default_value = "default")]
    pub machine_lifecycle_namespace: String,
    /// Act as a seed for shoots of type metal in the cluster of --kubeconfig (which it needs):
    /// also run gardener-webhooks with its seed webhooks (controlplane, seedprovider, shoot),
    /// its OperatingSystemConfig controller and the extension controllers (Infrastructure,
    /// ControlPlane, Worker of type metal), and let the machine-lifecycle scale
    /// MachineDeployments (--machine-deployments). The cluster must serve Gardener's and
    /// machine-controller-manager's kinds (`crdgen --stand-ins` writes CRDs for a test API
    /// server).
    #[arg(long)]
    pub gardener: bool,
    /// Listen address of gardener-webhooks (runs only with --gardener).
    #[arg(long, default_value = "127.0.0.1:8085")]
    pub gardener_webhooks_listen: std::net::SocketAddr,
    /// The machine images of gardener-webhooks' Worker controller, NAME:VERSION=IMAGE (a
    /// worker pool's machine image name and version, and the metal-api image it maps to);
    /// repeatable. The default maps ubuntu 24.4 to the embedded seed's Ubuntu image.
    #[arg(long = "gardener-machine-image", default_value = SEED_MACHINE_IMAGE)]
    pub gardener_machine_images: Vec<String>,
    /// Devices (comma-separated paths or globs) the volume-manager creates its volume group
    /// from when that does not exist yet: they become LVM physical volumes, whatever they held
    /// before (needs root and lvm2). Without them no volume group is ever created: the
    /// volume-manager runs all the same, its /readyz answering 503 until the group exists.
    #[arg(long, value_delimiter = ',')]
    pub volume_manager_devices: Vec<String>,
    /// The volume-manager's volume group.
    #[arg(long, default_value = "csi-lvm")]
    pub volume_manager_vg_name: String,
    /// The volume-manager's node id (CSI topology); defaults to this machine's hostname.
    #[arg(long)]
    pub volume_manager_node_id: Option<String>,
    /// The volume-manager's CSI endpoint; defaults to unix://STATE_DIR/volume-manager/csi.sock
    /// (absolute).
    #[arg(long)]
    pub volume_manager_csi_endpoint: Option<String>,
    /// Let lvm activate the volume-manager's volumes (device-mapper, root), so that the node side
    /// can mount them. Without it the volume-manager runs with --no-activation: lvm metadata
    /// only, nothing appears in /dev/mapper.
    #[arg(long)]
    pub volume_manager_activate: bool,
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
    /// Kubeconfig for the lb-allocator's controllers, the rule-compiler's watches
    /// (ClusterwideNetworkPolicies, Services, FirewallMonitor) and the machine-lifecycle (its
    /// Machine controller, REST API and gRPC driver); without it only the lb-allocator's and the
    /// rule-compiler's REST APIs run, and no machine-lifecycle.
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

/// `len` random alphanumeric characters.
pub(crate) fn random_key(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
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
        view: random_key(32),
        edit: random_key(32),
        admin: random_key(32),
    };
    let text = format!(
        "# metal-api HMAC keys of this metal-mesh (generated on first start)\n{}={}\n{}={}\n{}={}\n",
        KEY_VARS[0], keys.view, KEY_VARS[1], keys.edit, KEY_VARS[2], keys.admin
    );
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok((keys, true))
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    // Refused before anything is written or started.
    check_gardener(&args)?;
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
    let vm_listen = args.volume_manager_listen;
    let ml_listen = args.machine_lifecycle_listen;
    let gw_listen = args.gardener_webhooks_listen;
    let credentials = crate::credentials::api_credentials(&args.state_dir, &args.runtime.auth)?;
    let mut vm_args = volume_manager_args(&args)?;
    let mut ml_args = machine_lifecycle_args(&args)?;
    let mut gw_args = gardener_webhooks_args(&args)?;
    let scheme = if args.runtime.tls.enabled() {
        "https"
    } else {
        "http"
    };
    println!("metal-mesh up");
    println!(
        "  metal-api      {scheme}://{listen}  (docs {scheme}://{listen}/docs, metrics /metrics)"
    );
    println!(
        "  lb-allocator   {scheme}://{lb_listen}  (docs {scheme}://{lb_listen}/docs; {})",
        match &args.kubeconfig {
            Some(k) => format!("Kubernetes from {}", k.display()),
            None => "REST only, no Kubernetes".into(),
        }
    );
    println!(
        "  rule-compiler  {scheme}://{rc_listen}  (docs {scheme}://{rc_listen}/docs; {}; {})",
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
    println!(
        "  volume-manager {scheme}://{vm_listen}  (docs {scheme}://{vm_listen}/docs; CSI {}; volume group {} {}; {})",
        vm_args.csi_endpoint,
        vm_args.vg_name,
        if vm_args.devices.is_empty() {
            "(no devices: /readyz 503 until it exists)".to_string()
        } else {
            format!("(created from {} if missing)", vm_args.devices.join(","))
        },
        if vm_args.no_activation {
            "lvm metadata only, no activation"
        } else {
            "activates volumes"
        }
    );
    match (&ml_args, &args.kubeconfig) {
        (Some(ml), Some(k)) => println!(
            "  machine-lifecycle {scheme}://{ml_listen}  (docs {scheme}://{ml_listen}/docs; Machines of namespace {}{} from {}; gRPC driver unix://{})",
            ml.namespace,
            if args.gardener {
                ", scaling its MachineDeployments and MachineSets"
            } else {
                ""
            },
            k.display(),
            ml.grpc_socket
                .as_deref()
                .map(Path::display)
                .map(|p| p.to_string())
                .unwrap_or_default()
        ),
        _ => println!("  machine-lifecycle not started: it needs Kubernetes (give --kubeconfig)"),
    }
    match (&gw_args, &args.kubeconfig) {
        (Some(gw), Some(k)) => println!(
            "  gardener-webhooks {scheme}://{gw_listen}  (docs {scheme}://{gw_listen}/docs; seed webhooks {}; OperatingSystemConfig and extension controllers (Infrastructure, ControlPlane, Worker of type metal) on the objects of {}; machine images {})",
            gw.enabled()
                .iter()
                .map(|w| w.path_name())
                .collect::<Vec<_>>()
                .join(","),
            k.display(),
            args.gardener_machine_images.join(" ")
        ),
        _ => println!("  gardener-webhooks not started: give --gardener (with --kubeconfig)"),
    }
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
    print_api_access(
        &credentials,
        lb_listen,
        args.runtime.tls.tls_cert_file.as_deref(),
    );
    let mut lb_args = lb_allocator_args(&args, &keys.admin)?;
    let mut rc_args = rule_compiler_args(&args, &firewall)?;
    // Every service takes the same credentials and serving certificate.
    let mut runtime = args.runtime.clone();
    runtime.auth = credentials.auth;
    for service in [
        Some(&mut lb_args.runtime),
        Some(&mut rc_args.runtime),
        Some(&mut vm_args.runtime),
        ml_args.as_mut().map(|ml| &mut ml.runtime),
        gw_args.as_mut().map(|gw| &mut gw.runtime),
    ]
    .into_iter()
    .flatten()
    {
        service.auth = runtime.auth.clone();
        service.tls = runtime.tls.clone();
    }
    let metal_api_args = metal_api::Args {
        runtime: runtime.clone(),
        data_dir: args.state_dir.join("metal-api"),
        seed: Some(seed),
        base_path: "/".into(),
        hmac_view_key: keys.view,
        hmac_edit_key: keys.edit,
        hmac_admin_key: keys.admin,
        hmac_lifetime: std::time::Duration::from_secs(30),
    };
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
        let vm_runtime = vm_args.runtime.clone();
        let ml = ml_args.map(|ml| (ml.runtime.clone(), ml));
        let gw = gw_args.map(|gw| (gw.runtime.clone(), gw));
        let (api, lb, rc, vm, ml, gw) = futures::join!(
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
            async {
                stop_all(
                    mesh_runtime::launch(
                        volume_manager::INFO,
                        &vm_runtime,
                        shutdown.clone(),
                        |setup| volume_manager::start(vm_args, setup),
                    )
                    .await,
                )
            },
            async {
                // Only with --kubeconfig: without Kubernetes there are no Machines.
                let Some((ml_runtime, ml_args)) = ml else {
                    return Ok(());
                };
                stop_all(
                    mesh_runtime::launch(
                        machine_lifecycle::INFO,
                        &ml_runtime,
                        shutdown.clone(),
                        |setup| machine_lifecycle::start(ml_args, setup),
                    )
                    .await,
                )
            },
            async {
                // Only with --gardener (and so --kubeconfig).
                let Some((gw_runtime, gw_args)) = gw else {
                    return Ok(());
                };
                stop_all(
                    mesh_runtime::launch(
                        gardener_webhooks::INFO,
                        &gw_runtime,
                        shutdown.clone(),
                        |setup| gardener_webhooks::start(gw_args, setup),
                    )
                    .await,
                )
            },
        );
        telemetry.shutdown().await;
        actix_rt::System::current().stop();
        api.and(lb).and(rc).and(vm).and(ml).and(gw)
    })
}

/// How to call the APIs: where the token is and a curl that uses it.
fn print_api_access(
    credentials: &crate::credentials::ApiCredentials,
    lb_listen: std::net::SocketAddr,
    tls_cert: Option<&Path>,
) {
    if credentials.token.is_none() {
        println!("  api auth       as given (--auth)");
        return;
    }
    println!(
        "  api token      {} ({}; every service's API wants it, metal-api keeps its HMAC keys)",
        credentials.token_path.display(),
        if credentials.generated {
            "generated now"
        } else {
            "kept from an earlier start"
        }
    );
    let (scheme, ca) = match tls_cert {
        Some(cert) => ("https", format!("--cacert {} ", cert.display())),
        None => ("http", String::new()),
    };
    println!(
        "  try            curl {ca}-H \"Authorization: Bearer $(cat {})\" {scheme}://{lb_listen}/v1/loadbalancers",
        credentials.token_path.display()
    );
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

/// This machine's hostname, or "metal-mesh" when it has none to read.
fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "metal-mesh".into())
}

/// The longest path a unix socket address holds (`sun_path` less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The volume-manager's command line: its CSI socket under the state directory, the node named
/// after this machine, metadata-only lvm unless `--volume-manager-activate`, and devices only
/// from `--volume-manager-devices`.
fn volume_manager_args(args: &UpArgs) -> anyhow::Result<volume_manager::Args> {
    let endpoint = match &args.volume_manager_csi_endpoint {
        Some(endpoint) => endpoint.clone(),
        None => {
            let dir = std::path::absolute(&args.state_dir)
                .with_context(|| format!("resolving {}", args.state_dir.display()))?;
            format!("unix://{}", dir.join("volume-manager/csi.sock").display())
        }
    };
    let socket = endpoint.strip_prefix("unix://").unwrap_or(&endpoint);
    anyhow::ensure!(
        socket.len() <= MAX_SOCKET_PATH,
        "the volume-manager's CSI socket {socket} is longer than a unix socket path may be \
         ({MAX_SOCKET_PATH} bytes): use a shorter --state-dir or --volume-manager-csi-endpoint"
    );
    let node_id = args.volume_manager_node_id.clone().unwrap_or_else(hostname);
    let mut argv: Vec<String> = [
        "volume-manager",
        "--listen",
        &args.volume_manager_listen.to_string(),
        "--log-format",
        log_format(args),
        "--log-level",
        &args.runtime.log_level,
        "--csi-endpoint",
        &endpoint,
        "--node-id",
        &node_id,
        "--vg-name",
        &args.volume_manager_vg_name,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !args.volume_manager_activate {
        argv.push("--no-activation".into());
    }
    if !args.volume_manager_devices.is_empty() {
        argv.extend(["--devices".into(), args.volume_manager_devices.join(",")]);
    }
    let mut parsed: volume_manager::Args =
        mesh_runtime::try_parse_args_from(volume_manager::cli::ENV_PREFIX, argv)
            .map_err(|e| anyhow::anyhow!("volume-manager arguments: {e}"))?;
    // Devices turn into physical volumes: only ever the ones given to `up` itself, never an
    // environment's VOLUME_MANAGER_DEVICES or VOLUME_MANAGER_VOLUME_GROUP (nor its
    // VOLUME_MANAGER_NO_ACTIVATION=false without --volume-manager-activate).
    parsed.devices = args.volume_manager_devices.clone();
    parsed.volume_groups.clear();
    parsed.no_activation = !args.volume_manager_activate;
    Ok(parsed)
}

/// The machine-lifecycle's command line, only with `--kubeconfig` (its Machines live in a
/// cluster): the Machines and MachineClasses of `--machine-lifecycle-namespace` there, the Nodes
/// of the same cluster, and the gRPC driver on STATE_DIR/machine-lifecycle/driver.sock
/// (absolute). The metal-api it calls is the one each MachineClass's Secret names.
fn machine_lifecycle_args(args: &UpArgs) -> anyhow::Result<Option<machine_lifecycle::Args>> {
    let Some(kubeconfig) = &args.kubeconfig else {
        return Ok(None);
    };
    anyhow::ensure!(
        !args.machine_lifecycle_namespace.trim().is_empty(),
        "--machine-lifecycle-namespace must not be empty"
    );
    let dir = std::path::absolute(&args.state_dir)
        .with_context(|| format!("resolving {}", args.state_dir.display()))?;
    let socket = dir.join("machine-lifecycle/driver.sock");
    anyhow::ensure!(
        socket.as_os_str().len() <= MAX_SOCKET_PATH,
        "the machine-lifecycle's gRPC socket {} is longer than a unix socket path may be \
         ({MAX_SOCKET_PATH} bytes): use a shorter --state-dir",
        socket.display()
    );
    let mut argv: Vec<String> = [
        "machine-lifecycle",
        "--listen",
        &args.machine_lifecycle_listen.to_string(),
        "--log-format",
        log_format(args),
        "--log-level",
        &args.runtime.log_level,
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--namespace",
        &args.machine_lifecycle_namespace,
        "--grpc-socket",
        &socket.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if args.gardener {
        // Worker controller → MachineDeployments → MachineSets → Machines, as MCM scales them.
        argv.push("--machine-deployments".into());
    }
    let mut parsed: machine_lifecycle::Args =
        mesh_runtime::try_parse_args_from(machine_lifecycle::cli::ENV_PREFIX, argv)
            .map_err(|e| anyhow::anyhow!("machine-lifecycle arguments: {e}"))?;
    // Kubernetes only from --kubeconfig, as for the lb-allocator and the rule-compiler: never an
    // environment's MACHINE_LIFECYCLE_NO_KUBERNETES, nor another cluster's Nodes from its
    // MACHINE_LIFECYCLE_TARGET_KUBECONFIG (the Nodes join the cluster of --kubeconfig).
    parsed.kubeconfig = Some(kubeconfig.clone());
    parsed.target_kubeconfig = None;
    parsed.no_kubernetes = false;
    // With TLS, the embedded metal-api serves `up`'s certificate: MachineClasses pointing at it
    // (https://<--listen>) are trusted, as the lb-allocator trusts it; a CA the environment
    // names (METAL_API_CA_FILE) stays.
    if parsed.metal_api_ca_file.is_none() {
        parsed.metal_api_ca_file = args.runtime.tls.tls_cert_file.clone();
    }
    parsed
        .check()
        .map_err(|e| anyhow::anyhow!("machine-lifecycle arguments: {e}"))?;
    Ok(Some(parsed))
}

/// `--gardener` needs `--kubeconfig`: its controllers work on the Gardener objects of a cluster.
fn check_gardener(args: &UpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.gardener || args.kubeconfig.is_some(),
        "--gardener needs --kubeconfig: gardener-webhooks' controllers and the machine-lifecycle \
         work on the Gardener and machine-controller-manager objects of a cluster (a test API \
         server with the CRDs of `crdgen --stand-ins` will do; see the README's \"A shoot of \
         type metal\")"
    );
    Ok(())
}

/// gardener-webhooks' command line, only with `--gardener`: the seed's webhooks, the
/// OperatingSystemConfig controller and the extension controllers on the cluster of
/// `--kubeconfig`, the machine images of `--gardener-machine-image`. The metal-api its
/// controllers call is the one the shoot's CloudProfile names (`metalControlPlanes`).
fn gardener_webhooks_args(args: &UpArgs) -> anyhow::Result<Option<gardener_webhooks::Args>> {
    check_gardener(args)?;
    let (true, Some(kubeconfig)) = (args.gardener, &args.kubeconfig) else {
        return Ok(None);
    };
    let mut argv: Vec<String> = [
        "gardener-webhooks",
        "--listen",
        &args.gardener_webhooks_listen.to_string(),
        "--log-format",
        log_format(args),
        "--log-level",
        &args.runtime.log_level,
        "--kubeconfig",
        &kubeconfig.display().to_string(),
        "--webhooks",
        SEED_WEBHOOKS,
        "--os-controller",
        "--extensions",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for image in &args.gardener_machine_images {
        argv.extend(["--machine-image".into(), image.clone()]);
    }
    let mut parsed: gardener_webhooks::Args =
        mesh_runtime::try_parse_args_from(gardener_webhooks::cli::ENV_PREFIX, argv).map_err(
            |e| anyhow::anyhow!("gardener-webhooks arguments (--gardener-machine-image?): {e}"),
        )?;
    // Kubernetes only from --kubeconfig, as for the other services; the seed's webhooks and
    // both controllers whatever GARDENER_WEBHOOKS_* says.
    parsed.kubeconfig = Some(kubeconfig.clone());
    parsed.os_controller = true;
    parsed.extensions = true;
    // With TLS, the embedded metal-api serves `up`'s certificate: CloudProfiles pointing at it
    // (https://<--listen>) are trusted; a CA the environment names stays.
    if parsed.metal_api_ca_file.is_none() {
        parsed.metal_api_ca_file = args.runtime.tls.tls_cert_file.clone();
    }
    parsed
        .check()
        .map_err(|e| anyhow::anyhow!("gardener-webhooks arguments: {e}"))?;
    Ok(Some(parsed))
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
    // With TLS, metal-api serves the same certificate, which the lb-allocator then trusts.
    let scheme = if args.runtime.tls.enabled() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}", std::net::SocketAddr::new(host, api.port()));
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
    let mut parsed: lb_allocator::Args =
        mesh_runtime::try_parse_args_from(lb_allocator::cli::ENV_PREFIX, argv)
            .map_err(|e| anyhow::anyhow!("lb-allocator arguments: {e}"))?;
    parsed.metal_api_ca_file = args.runtime.tls.tls_cert_file.clone();
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Up {
        #[command(flatten)]
        up: UpArgs,
    }

    fn up(args: &[&str]) -> UpArgs {
        mesh_runtime::try_parse_args_from::<Up, _, _>(
            "METAL_MESH",
            std::iter::once("up").chain(args.iter().copied()),
        )
        .unwrap()
        .up
    }

    #[test]
    fn the_volume_manager_gets_no_devices_and_no_activation_by_default() {
        let vm = volume_manager_args(&up(&["--state-dir", "/srv/mesh"])).unwrap();
        assert_eq!(vm.csi_endpoint, "unix:///srv/mesh/volume-manager/csi.sock");
        assert_eq!(vm.runtime.listen.to_string(), "127.0.0.1:8083");
        assert_eq!(vm.vg_name, "csi-lvm");
        assert!(vm.devices.is_empty());
        assert!(vm.volume_groups.is_empty());
        assert!(vm.no_activation);
        assert_eq!(vm.node_id, hostname());
        assert!(!vm.node_id.is_empty());
    }

    #[test]
    fn the_volume_manager_takes_devices_node_and_activation_from_up() {
        let vm = volume_manager_args(&up(&[
            "--state-dir",
            "rel/state",
            "--volume-manager-devices",
            "/dev/loop3,/dev/loop4",
            "--volume-manager-node-id",
            "n1",
            "--volume-manager-activate",
            "--volume-manager-listen",
            "127.0.0.1:9083",
        ]))
        .unwrap();
        assert_eq!(vm.devices, ["/dev/loop3", "/dev/loop4"]);
        assert_eq!(vm.node_id, "n1");
        assert!(!vm.no_activation);
        assert_eq!(vm.runtime.listen.to_string(), "127.0.0.1:9083");
        // A relative state directory gives an absolute socket path (CSI wants unix:///abs).
        let socket = std::env::current_dir()
            .unwrap()
            .join("rel/state/volume-manager/csi.sock");
        assert_eq!(vm.csi_endpoint, format!("unix://{}", socket.display()));
    }

    #[test]
    fn a_csi_socket_path_too_long_for_unix_sockets_is_refused() {
        let deep = format!("/{}", "d".repeat(120));
        let err = volume_manager_args(&up(&["--state-dir", &deep])).unwrap_err();
        assert!(
            err.to_string().contains("--volume-manager-csi-endpoint"),
            "{err}"
        );
        let bad = volume_manager_args(&up(&["--volume-manager-vg-name", "a/b"]));
        assert!(bad.is_err());
    }

    #[test]
    fn the_machine_lifecycle_runs_only_with_a_kubeconfig() {
        assert!(
            machine_lifecycle_args(&up(&["--state-dir", "/srv/mesh"]))
                .unwrap()
                .is_none()
        );
        let ml = machine_lifecycle_args(&up(&[
            "--state-dir",
            "/srv/mesh",
            "--kubeconfig",
            "/home/me/kubeconfig",
        ]))
        .unwrap()
        .expect("with --kubeconfig");
        assert_eq!(ml.runtime.listen.to_string(), "127.0.0.1:8084");
        assert_eq!(ml.namespace, "default");
        assert_eq!(
            ml.kubeconfig.as_deref(),
            Some(Path::new("/home/me/kubeconfig"))
        );
        assert_eq!(ml.target_kubeconfig, None, "the Nodes of the same cluster");
        assert!(!ml.no_kubernetes);
        assert_eq!(
            ml.grpc_socket.as_deref(),
            Some(Path::new("/srv/mesh/machine-lifecycle/driver.sock"))
        );
        assert!(!ml.leader_elect, "one process: no leader election");
        if std::env::var_os("METAL_API_CA_FILE").is_none() {
            assert_eq!(ml.metal_api_ca_file, None, "no TLS: the system roots");
        }
    }

    #[test]
    fn with_tls_the_machine_lifecycle_trusts_the_embedded_metal_apis_certificate() {
        if std::env::var_os("METAL_API_CA_FILE").is_some() {
            return; // the environment's CA wins, as it should
        }
        let ml = machine_lifecycle_args(&up(&[
            "--kubeconfig",
            "kc",
            "--tls-cert-file",
            "/etc/mesh/tls.crt",
            "--tls-key-file",
            "/etc/mesh/tls.key",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            ml.metal_api_ca_file.as_deref(),
            Some(Path::new("/etc/mesh/tls.crt"))
        );
    }

    #[test]
    fn the_machine_lifecycle_takes_listen_namespace_and_an_absolute_socket_from_up() {
        let ml = machine_lifecycle_args(&up(&[
            "--state-dir",
            "rel/state",
            "--kubeconfig",
            "kc",
            "--machine-lifecycle-listen",
            "127.0.0.1:9084",
            "--machine-lifecycle-namespace",
            "shoot--p--c",
            "--log-level",
            "debug",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(ml.runtime.listen.to_string(), "127.0.0.1:9084");
        assert_eq!(ml.runtime.log_level, "debug");
        assert_eq!(ml.namespace, "shoot--p--c");
        let socket = std::env::current_dir()
            .unwrap()
            .join("rel/state/machine-lifecycle/driver.sock");
        assert_eq!(ml.grpc_socket.as_deref(), Some(socket.as_path()));
        assert!(socket.is_absolute());
    }

    #[test]
    fn gardener_needs_a_kubeconfig_and_is_refused_clearly_without_one() {
        let args = up(&["--gardener"]);
        let err = check_gardener(&args).unwrap_err().to_string();
        assert!(
            err.contains("--gardener needs --kubeconfig") && err.contains("crdgen --stand-ins"),
            "{err}"
        );
        let err = gardener_webhooks_args(&args).unwrap_err().to_string();
        assert!(err.contains("--gardener needs --kubeconfig"), "{err}");
        // `run` refuses before it writes anything.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let err = run(up(&["--gardener", "--state-dir", state.to_str().unwrap()]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--kubeconfig"), "{err}");
        assert!(!state.exists(), "nothing written");
    }

    #[test]
    fn without_gardener_there_are_no_gardener_webhooks_and_no_machine_deployments() {
        let args = up(&["--state-dir", "/srv/mesh", "--kubeconfig", "kc"]);
        assert!(gardener_webhooks_args(&args).unwrap().is_none());
        let ml = machine_lifecycle_args(&args).unwrap().unwrap();
        assert!(!ml.machine_deployments, "Machines only, as before");
    }

    #[test]
    fn with_gardener_the_webhooks_run_as_a_seed_and_machine_lifecycle_scales_deployments() {
        let args = up(&[
            "--state-dir",
            "/srv/mesh",
            "--kubeconfig",
            "/home/me/kubeconfig",
            "--gardener",
            "--machine-lifecycle-namespace",
            "shoot--local--demo",
            "--log-level",
            "debug",
        ]);
        let gw = gardener_webhooks_args(&args)
            .unwrap()
            .expect("with --gardener");
        assert_eq!(gw.runtime.listen.to_string(), "127.0.0.1:8085");
        assert_eq!(gw.runtime.log_level, "debug");
        assert_eq!(
            gw.kubeconfig.as_deref(),
            Some(Path::new("/home/me/kubeconfig"))
        );
        use gardener_webhooks::cli::WebhookName;
        assert_eq!(
            gw.enabled(),
            [
                WebhookName::Controlplane,
                WebhookName::Seedprovider,
                WebhookName::Shoot
            ]
        );
        assert!(gw.os_controller && gw.extensions);
        assert!(!gw.leader_elect, "one process: no leader election");
        let images = gw.extensions_config().machine_images;
        assert_eq!(images.len(), 1);
        assert_eq!(
            (
                images[0].name.as_str(),
                images[0].version.as_str(),
                images[0].image.as_str()
            ),
            ("ubuntu", "24.4", "ubuntu-24.04.20260101")
        );
        if std::env::var_os("GARDENER_WEBHOOKS_METAL_API_CA_FILE").is_none() {
            assert_eq!(gw.metal_api_ca_file, None, "no TLS: the system roots");
        }
        let ml = machine_lifecycle_args(&args).unwrap().unwrap();
        assert!(ml.machine_deployments);
        assert_eq!(ml.namespace, "shoot--local--demo");
    }

    #[test]
    fn the_default_machine_image_is_the_embedded_seeds() {
        let (_, image) = SEED_MACHINE_IMAGE.split_once('=').unwrap();
        assert!(
            EMBEDDED_SEED
                .lines()
                .any(|l| l.trim() == format!("- id: {image}")),
            "{image} is not an image of compose/seed.yaml"
        );
    }

    #[test]
    fn gardener_takes_listen_machine_images_and_tls_from_up() {
        if std::env::var_os("GARDENER_WEBHOOKS_METAL_API_CA_FILE").is_some() {
            return; // the environment's CA wins, as it should
        }
        let gw = gardener_webhooks_args(&up(&[
            "--kubeconfig",
            "kc",
            "--gardener",
            "--gardener-webhooks-listen",
            "127.0.0.1:9085",
            "--gardener-machine-image",
            "ubuntu:24.4=img-a",
            "--gardener-machine-image",
            "debian:12=img-b",
            "--tls-cert-file",
            "/etc/mesh/tls.crt",
            "--tls-key-file",
            "/etc/mesh/tls.key",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(gw.runtime.listen.to_string(), "127.0.0.1:9085");
        let images: Vec<String> = gw
            .machine_images
            .iter()
            .map(|i| format!("{}:{}={}", i.name, i.version, i.image))
            .collect();
        assert_eq!(images, ["ubuntu:24.4=img-a", "debian:12=img-b"]);
        assert_eq!(
            gw.metal_api_ca_file.as_deref(),
            Some(Path::new("/etc/mesh/tls.crt")),
            "trusts the embedded metal-api's certificate"
        );
        let err = gardener_webhooks_args(&up(&[
            "--kubeconfig",
            "kc",
            "--gardener",
            "--gardener-machine-image",
            "ubuntu-24.04",
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--gardener-machine-image") && err.contains("ubuntu-24.04"),
            "{err}"
        );
    }

    #[test]
    fn bad_machine_lifecycle_settings_are_refused_naming_the_flag() {
        let err = machine_lifecycle_args(&up(&[
            "--kubeconfig",
            "kc",
            "--machine-lifecycle-namespace",
            " ",
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("--machine-lifecycle-namespace"),
            "{err}"
        );
        let deep = format!("/{}", "d".repeat(100));
        let err =
            machine_lifecycle_args(&up(&["--state-dir", &deep, "--kubeconfig", "kc"])).unwrap_err();
        assert!(err.to_string().contains("--state-dir"), "{err}");
    }
}
