//! Command line of the volume-manager. csi-driver-lvm's flags map one to one (`--endpoint` is
//! `--csi-endpoint`, `--nodeid` `--node-id`, `--vgname` `--vg-name`, `--hostwritepath`
//! `--host-write-path`, `--maxvolumespernode` `--max-volumes-per-node`); every long flag can
//! also be given as `VOLUME_MANAGER_<FLAG>`.

use std::path::PathBuf;

use clap::Parser;
use mesh_runtime::RuntimeArgs;

use crate::core::params::LvType;

pub const ENV_PREFIX: &str = "VOLUME_MANAGER";

/// An extra volume group: `NAME=DEVICE[,DEVICE...]` (devices may be globs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeGroupArg {
    pub name: String,
    pub devices: Vec<String>,
}

fn parse_volume_group(s: &str) -> Result<VolumeGroupArg, String> {
    let (name, devices) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=DEVICE[,DEVICE...]"))?;
    if !crate::core::names::is_valid_vg_name(name) {
        return Err(format!("{name:?} is not a valid volume group name"));
    }
    Ok(VolumeGroupArg {
        name: name.to_string(),
        devices: devices
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn parse_vg_name(s: &str) -> Result<String, String> {
    if crate::core::names::is_valid_vg_name(s) {
        Ok(s.to_string())
    } else {
        Err(format!("{s:?} is not a valid volume group name"))
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    crate::core::params::parse_size(s)
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "volume-manager",
    version,
    about = "A CSI driver over LVM with snapshots and several volume groups (replaces csi-driver-lvm)"
)]
pub struct Args {
    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// The CSI endpoint: a unix socket (`unix:///csi/csi.sock`)
    #[arg(long, default_value = "unix:///csi/csi.sock")]
    pub csi_endpoint: String,
    /// This node's name (the topology value `topology.lvm.csi/node`)
    #[arg(long)]
    pub node_id: String,
    /// The default volume group (created from --devices when missing)
    #[arg(long, default_value = "csi-lvm", value_parser = parse_vg_name)]
    pub vg_name: String,
    /// Devices of the default volume group, comma-separated paths or globs
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// A further volume group, chosen by the StorageClass parameter `vgName`:
    /// NAME=DEVICE[,DEVICE...] (repeatable)
    #[arg(long = "volume-group", value_parser = parse_volume_group)]
    pub volume_groups: Vec<VolumeGroupArg>,
    /// Metadata-only lvm (`--driverloaded n`): for kernels without device-mapper; volumes are
    /// never activated, so the node side cannot mount them
    #[arg(long)]
    pub no_activation: bool,
    /// The CSI driver name
    #[arg(long, default_value = "lvm.csi.metal-stack.io")]
    pub driver_name: String,
    /// LV type when a StorageClass gives no `type`
    #[arg(long, default_value = "linear")]
    pub default_type: LvType,
    /// Size of a volume whose request gives no required_bytes
    #[arg(long, default_value = "1Gi", value_parser = parse_size)]
    pub default_size: u64,
    /// Volumes this node may hold, as reported to the scheduler; 0: unlimited
    #[arg(long, default_value_t = 0)]
    pub max_volumes_per_node: i64,
    /// Host directory for lvm's backup, archive and lock directories (upstream
    /// `--hostwritepath`; Talos: /var/etc/lvm); empty: lvm's defaults under /etc/lvm
    #[arg(long, default_value = "")]
    pub host_write_path: String,
    /// LVM_SYSTEM_DIR for lvm (where its lvm.conf is read)
    #[arg(long)]
    pub lvm_system_dir: Option<PathBuf>,
    /// The lvm program
    #[arg(long, default_value = "lvm")]
    pub lvm: PathBuf,
    /// Directory holding the LV device nodes (`<dir>/<vg>/<lv>`)
    #[arg(long, default_value = "/dev")]
    pub dev_dir: PathBuf,
    /// Advertise controller-side expansion (EXPAND_VOLUME); off in the node-local DaemonSet,
    /// where NodeExpandVolume grows the LV
    #[arg(long)]
    pub controller_expansion: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acceptance_command_line_parses() {
        let args: Args = mesh_runtime::try_parse_args_from(
            ENV_PREFIX,
            [
                "volume-manager",
                "--csi-endpoint",
                "unix:///path/csi.sock",
                "--node-id",
                "n1",
                "--vg-name",
                "vg1",
                "--devices",
                "/dev/loop3,/dev/loop4",
                "--no-activation",
                "--listen",
                "127.0.0.1:9000",
                "--volume-group",
                "fast=/dev/nvme*,/dev/sdb",
            ],
        )
        .unwrap();
        assert_eq!(args.devices, ["/dev/loop3", "/dev/loop4"]);
        assert!(args.no_activation);
        assert_eq!(args.vg_name, "vg1");
        assert_eq!(args.volume_groups[0].devices, ["/dev/nvme*", "/dev/sdb"]);
        assert_eq!(args.default_size, 1 << 30);
        assert!(
            mesh_runtime::try_parse_args_from::<Args, _, _>(
                ENV_PREFIX,
                ["volume-manager", "--node-id", "n", "--vg-name", "a/b"]
            )
            .is_err()
        );
    }
}
