//! `csi-client`: a small CSI client for operators and the compose tour. It speaks to the
//! volume-manager's CSI socket the way Kubernetes' csi-provisioner does for a PVC, so a volume
//! can be made, listed and deleted by hand (`docker-compose exec … csi-client create-volume …`)
//! without a cluster. Output is JSON on stdout; errors go to stderr with exit code 1.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use tonic::transport::Channel;
use volume_manager::csi::controller_client::ControllerClient;
use volume_manager::csi::identity_client::IdentityClient;
use volume_manager::csi::{self, plugin_capability, volume_capability};
use volume_manager::driver::TOPOLOGY_KEY;

#[derive(Parser, Debug)]
#[command(
    name = "csi-client",
    version,
    about = "Talks to the volume-manager's CSI socket as csi-provisioner does; prints JSON"
)]
struct Cli {
    /// The CSI endpoint: a unix socket (`unix:///csi/csi.sock`)
    #[arg(
        long,
        env = "CSI_ENDPOINT",
        default_value = "unix:///csi/csi.sock",
        global = true
    )]
    endpoint: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The plugin's name, version and capabilities
    Info,
    /// Creates a volume as csi-provisioner does for a PVC (idempotent by name)
    CreateVolume {
        /// The volume's name (csi-provisioner uses `pvc-<uid>`)
        name: String,
        /// Requested size: bytes or a Kubernetes quantity (`64Mi`, `1Gi`)
        #[arg(long, default_value = "1Gi", value_parser = parse_size)]
        size: i64,
        /// A StorageClass parameter (`type=mirror`, `vgName=fast`); repeatable
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Require the volume on this node (the topology of the PVC's selected node)
        #[arg(long = "node", value_name = "NODE_ID")]
        node: Option<String>,
        /// A raw block volume instead of a filesystem
        #[arg(long, conflicts_with = "fs_type")]
        block: bool,
        /// The filesystem of a mount volume
        #[arg(long, default_value = "ext4")]
        fs_type: String,
    },
    /// Deletes a volume (succeeds when it is already gone)
    DeleteVolume { volume_id: String },
    /// Every volume, following the driver's pages
    ListVolumes,
    /// The capacity available for a volume with these parameters
    Capacity {
        /// A StorageClass parameter (`vgName=fast`); repeatable
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
}

/// The driver's own size notation (also used by its `--default-size`), as CSI's int64 bytes.
fn parse_size(text: &str) -> Result<i64, String> {
    let bytes = volume_manager::core::params::parse_size(text)?;
    i64::try_from(bytes).map_err(|_| format!("size {text:?} is out of range"))
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// A channel to the driver's unix socket (tonic has no `unix://` scheme of its own).
async fn connect(endpoint: &str) -> anyhow::Result<Channel> {
    let socket = volume_manager::grpc::socket_path(endpoint)
        .map_err(|_| anyhow::anyhow!("--endpoint {endpoint:?}: expected unix:///absolute/path"))?;
    volume_manager::grpc::connect(&socket).await.map_err(|e| {
        // tonic's chain repeats the io error; its root says it all ("No such file or directory").
        let mut root: &dyn std::error::Error = &e;
        while let Some(source) = root.source() {
            root = source;
        }
        anyhow::anyhow!("cannot connect to {endpoint}: {root}")
    })
}

/// Names the RPC and the gRPC status code, which is what tells an operator what went wrong.
fn rpc<T>(name: &str, result: Result<tonic::Response<T>, tonic::Status>) -> anyhow::Result<T> {
    result
        .map(tonic::Response::into_inner)
        .map_err(|s| anyhow::anyhow!("{name} failed: {:?}: {}", s.code(), s.message()))
}

fn capability(cap: &csi::PluginCapability) -> String {
    use plugin_capability::Type;
    match &cap.r#type {
        Some(Type::Service(s)) => s.r#type().as_str_name().to_string(),
        Some(Type::VolumeExpansion(e)) => format!("VOLUME_EXPANSION_{}", e.r#type().as_str_name()),
        None => "UNKNOWN".to_string(),
    }
}

/// Sorted, so the output is stable for scripts and diffs.
fn sorted(map: &HashMap<String, String>) -> BTreeMap<&String, &String> {
    map.iter().collect()
}

fn volume_json(v: &csi::Volume) -> Value {
    let topology: Vec<_> = v
        .accessible_topology
        .iter()
        .map(|t| sorted(&t.segments))
        .collect();
    json!({
        "volumeId": v.volume_id,
        "capacityBytes": v.capacity_bytes,
        "volumeContext": sorted(&v.volume_context),
        "accessibleTopology": topology,
    })
}

/// The one capability csi-provisioner derives from a ReadWriteOnce PVC.
fn volume_capability(block: bool, fs_type: String) -> csi::VolumeCapability {
    use volume_capability::{AccessMode, AccessType, BlockVolume, MountVolume, access_mode::Mode};
    let access_type = if block {
        AccessType::Block(BlockVolume {})
    } else {
        AccessType::Mount(MountVolume {
            fs_type,
            ..Default::default()
        })
    };
    csi::VolumeCapability {
        access_type: Some(access_type),
        access_mode: Some(AccessMode {
            mode: Mode::SingleNodeWriter as i32,
        }),
    }
}

async fn run(cli: Cli) -> anyhow::Result<Value> {
    let channel = connect(&cli.endpoint).await?;
    let mut ctl = ControllerClient::new(channel.clone());
    Ok(match cli.command {
        Command::Info => {
            let mut id = IdentityClient::new(channel);
            let info = rpc(
                "GetPluginInfo",
                id.get_plugin_info(csi::GetPluginInfoRequest {}).await,
            )?;
            let caps = rpc(
                "GetPluginCapabilities",
                id.get_plugin_capabilities(csi::GetPluginCapabilitiesRequest {})
                    .await,
            )?;
            json!({
                "name": info.name,
                "vendorVersion": info.vendor_version,
                "capabilities": caps.capabilities.iter().map(capability).collect::<Vec<_>>(),
            })
        }
        Command::CreateVolume {
            name,
            size,
            params,
            node,
            block,
            fs_type,
        } => {
            // With WaitForFirstConsumer csi-provisioner sends the selected node as both the
            // requisite and the preferred topology.
            let accessibility_requirements = node.map(|node| {
                let on_node = vec![csi::Topology {
                    segments: [(TOPOLOGY_KEY.to_string(), node)].into(),
                }];
                csi::TopologyRequirement {
                    requisite: on_node.clone(),
                    preferred: on_node,
                }
            });
            let request = csi::CreateVolumeRequest {
                name,
                capacity_range: Some(csi::CapacityRange {
                    required_bytes: size,
                    limit_bytes: 0,
                }),
                volume_capabilities: vec![volume_capability(block, fs_type)],
                parameters: params.into_iter().collect(),
                accessibility_requirements,
                ..Default::default()
            };
            let created = rpc("CreateVolume", ctl.create_volume(request).await)?;
            let volume = created.volume.context("CreateVolume returned no volume")?;
            volume_json(&volume)
        }
        Command::DeleteVolume { volume_id } => {
            let request = csi::DeleteVolumeRequest {
                volume_id: volume_id.clone(),
                ..Default::default()
            };
            rpc("DeleteVolume", ctl.delete_volume(request).await)?;
            json!({ "deleted": volume_id })
        }
        Command::ListVolumes => {
            let (mut volumes, mut token) = (Vec::new(), String::new());
            loop {
                let request = csi::ListVolumesRequest {
                    max_entries: 0,
                    starting_token: token.clone(),
                };
                let page = rpc("ListVolumes", ctl.list_volumes(request).await)?;
                volumes.extend(page.entries.iter().filter_map(|e| e.volume.as_ref()).map(
                    |v| json!({ "volumeId": v.volume_id, "capacityBytes": v.capacity_bytes }),
                ));
                // A token that does not move would loop forever; stop instead.
                if page.next_token.is_empty() || page.next_token == token {
                    break;
                }
                token = page.next_token;
            }
            Value::Array(volumes)
        }
        Command::Capacity { params } => {
            let request = csi::GetCapacityRequest {
                parameters: params.into_iter().collect(),
                ..Default::default()
            };
            let capacity = rpc("GetCapacity", ctl.get_capacity(request).await)?;
            json!({ "availableCapacity": capacity.available_capacity })
        }
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Usage errors exit 1 like every other failure (help and --version still exit 0).
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let _ = e.print();
        std::process::exit(if e.use_stderr() { 1 } else { 0 })
    });
    match run(cli).await {
        Ok(value) => {
            println!("{value:#}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("csi-client: {e:#}");
            ExitCode::FAILURE
        }
    }
}
