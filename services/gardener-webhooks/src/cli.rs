//! Command line of gardener-webhooks. Flags of our own also read `GARDENER_WEBHOOKS_<FLAG>`;
//! the Shoot defaulter's `DEFAULTER_*` variables keep upstream's names.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mesh_runtime::RuntimeArgs;

use crate::core::ignition::{IgnitionVersion, UnsupportedVersion};
use crate::core::mutation::{EtcdConfig, SeedConfig};

pub const ENV_PREFIX: &str = "GARDENER_WEBHOOKS";

/// The webhooks, by the names upstream's switches use.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookName {
    /// `/webhooks/validate` (garden)
    Validator,
    /// `/webhooks/validate/secrets` (garden)
    SecretsValidator,
    /// `/webhooks/mutate` (garden)
    Mutator,
    /// `/webhooks/controlplane` (seed)
    Controlplane,
    /// `/webhooks/seedprovider` (seed)
    Seedprovider,
    /// `/webhooks/shoot` (shoot)
    Shoot,
}

impl WebhookName {
    pub const ALL: [WebhookName; 6] = [
        WebhookName::Validator,
        WebhookName::SecretsValidator,
        WebhookName::Mutator,
        WebhookName::Controlplane,
        WebhookName::Seedprovider,
        WebhookName::Shoot,
    ];

    /// The name in flags and metric labels.
    pub fn path_name(self) -> &'static str {
        match self {
            WebhookName::Validator => "validator",
            WebhookName::SecretsValidator => "secrets-validator",
            WebhookName::Mutator => "mutator",
            WebhookName::Controlplane => "controlplane",
            WebhookName::Seedprovider => "seedprovider",
            WebhookName::Shoot => "shoot",
        }
    }

    /// Whether it reads CloudProfiles (then they are watched).
    pub fn reads_profiles(self) -> bool {
        matches!(self, WebhookName::Validator | WebhookName::Mutator)
    }

    /// Whether it reads the seed's Cluster objects (then they are watched).
    pub fn reads_clusters(self) -> bool {
        self == WebhookName::Controlplane
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "gardener-webhooks",
    version,
    about = "Gardener admission and mutation for shoots of type metal (replaces gardener-extension-provider-metal's webhooks and gardener-extension-admission-metal)"
)]
pub struct Args {
    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// Kubeconfig file; without it KUBECONFIG, ~/.kube/config or the in-cluster config is used
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Webhooks to serve, comma-separated: validator, secrets-validator and mutator in a garden
    /// cluster; controlplane, seedprovider and shoot in a seed
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = WebhookName::ALL)]
    pub webhooks: Vec<WebhookName>,
    /// Let the /webhooks/ paths also demand a credential (--auth). By default they answer
    /// without one, as kube-apiserver calls admission webhooks without a credential unless given
    /// an admission kubeconfig; they change nothing
    #[arg(long)]
    pub webhooks_require_auth: bool,

    /// Image of the machine-controller-manager provider sidecar the controlplane webhook adds
    /// (metal-mesh's image, running machine-lifecycle)
    #[arg(long, default_value = "metal-mesh:dev")]
    pub machine_controller_manager_image: String,
    /// Storage class of a new etcd-main's volume (seedprovider); empty: druid's default
    #[arg(long)]
    pub etcd_storage_class_name: Option<String>,
    /// Capacity of a new etcd-main's volume, a Kubernetes quantity (seedprovider)
    #[arg(long)]
    pub etcd_storage_capacity: Option<String>,
    /// Cron schedule of etcd's full backups (seedprovider)
    #[arg(long)]
    pub etcd_backup_schedule: Option<String>,
    /// Period of etcd's delta snapshots, e.g. 5m (seedprovider)
    #[arg(long)]
    pub etcd_backup_delta_snapshot_period: Option<String>,
    /// Let etcd pods be evicted (annotations for csi-driver-lvm and druid)
    #[arg(long)]
    pub etcd_eviction_allowed: bool,

    /// Run the OperatingSystemConfig controller (replaces os-metal-extension): render the OSCs
    /// of type ubuntu, debian and nvidia into Ignition userdata and their status
    #[arg(long)]
    pub os_controller: bool,
    /// Ignition version the OS controller renders unless an OSC's
    /// os.metal-stack.io/ignition-version annotation names one: 2.3.0 or 3.4.0
    #[arg(long, default_value = "2.3.0", value_parser = parse_ignition_version)]
    pub ignition_version: IgnitionVersion,
    /// OperatingSystemConfigs the OS controller reconciles at the same time
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub os_controller_workers: u16,
    /// Run the OS controller only while holding a Lease (for more than one replica); the
    /// webhooks are served either way
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease; default: the pod's namespace, else the
    /// kubeconfig's namespace
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_elect_namespace: Option<String>,
    /// Name of the leader-election Lease
    #[arg(long, default_value = "gardener-webhooks-os-controller")]
    pub leader_elect_lease_name: String,
    /// How long a silent leader keeps the Lease (at least 1s)
    #[arg(long, default_value = "15s", value_parser = parse_lease_duration)]
    pub leader_elect_lease_duration: Duration,
    /// This replica's identity in the Lease; default: the pod name (POD_NAME), else the hostname
    #[arg(long, env = "POD_NAME")]
    pub leader_elect_identity: Option<String>,
}

/// `--ignition-version`: a version the renderer speaks.
fn parse_ignition_version(text: &str) -> Result<IgnitionVersion, String> {
    text.parse().map_err(|e: UnsupportedVersion| e.to_string())
}

/// `--leader-elect-lease-duration`: a duration of at least a second (Leases count in seconds).
fn parse_lease_duration(text: &str) -> Result<Duration, String> {
    let duration = mesh_runtime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration < Duration::from_secs(1) {
        return Err(format!("{text:?} is shorter than 1s"));
    }
    Ok(duration)
}

impl Args {
    /// The enabled webhooks, each once, in a fixed order.
    pub fn enabled(&self) -> Vec<WebhookName> {
        let mut enabled = self.webhooks.clone();
        enabled.sort();
        enabled.dedup();
        enabled
    }

    pub fn seed_config(&self) -> SeedConfig {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        SeedConfig {
            machine_controller_manager_image: self.machine_controller_manager_image.clone(),
            etcd: EtcdConfig {
                storage_class_name: set(&self.etcd_storage_class_name),
                storage_capacity: set(&self.etcd_storage_capacity),
                backup_schedule: set(&self.etcd_backup_schedule),
                backup_delta_snapshot_period: set(&self.etcd_backup_delta_snapshot_period),
                is_eviction_allowed: self.etcd_eviction_allowed,
            },
        }
    }
}

/// A Kubernetes quantity as etcd's storage capacity takes it: a number with an optional
/// binary or decimal suffix.
fn is_quantity(text: &str) -> bool {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    number.parse::<f64>().is_ok()
        && [
            "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
        ]
        .contains(&suffix)
}

impl Args {
    /// Refuses settings the mutations would copy into objects that Kubernetes then rejects.
    pub fn check(&self) -> Result<(), String> {
        if self.machine_controller_manager_image.trim().is_empty() {
            return Err("--machine-controller-manager-image must not be empty".into());
        }
        if let Some(capacity) = &self.etcd_storage_capacity
            && !is_quantity(capacity)
        {
            return Err(format!(
                "--etcd-storage-capacity {capacity:?} is not a Kubernetes quantity such as 16Gi"
            ));
        }
        if let Some(period) = &self.etcd_backup_delta_snapshot_period
            && crate::core::mutation::duration::parse(period).is_err()
        {
            return Err(format!(
                "--etcd-backup-delta-snapshot-period {period:?} is not a duration such as 5m"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let argv = std::iter::once("gardener-webhooks").chain(args.iter().copied());
        mesh_runtime::try_parse_args_from(ENV_PREFIX, argv)
    }

    #[test]
    fn every_webhook_is_served_unless_some_are_named() {
        assert_eq!(parse(&[]).unwrap().enabled(), WebhookName::ALL);
        let some = parse(&["--webhooks", "mutator,validator,mutator"]).unwrap();
        assert_eq!(
            some.enabled(),
            [WebhookName::Validator, WebhookName::Mutator]
        );
        let err = parse(&["--webhooks", "validator,bastion"]).unwrap_err();
        assert!(err.to_string().contains("bastion"), "{err}");
    }

    #[test]
    fn seed_settings_are_checked() {
        let ok = parse(&[
            "--etcd-storage-capacity",
            "25Gi",
            "--etcd-backup-delta-snapshot-period",
            "5m",
        ]);
        assert_eq!(ok.unwrap().check(), Ok(()));
        for (flag, value, message) in [
            (
                "--etcd-storage-capacity",
                "lots",
                "not a Kubernetes quantity",
            ),
            (
                "--etcd-backup-delta-snapshot-period",
                "often",
                "not a duration",
            ),
            (
                "--machine-controller-manager-image",
                " ",
                "must not be empty",
            ),
        ] {
            let err = parse(&[flag, value]).unwrap().check().unwrap_err();
            assert!(err.contains(message) && err.contains(flag), "{err}");
        }
    }
}
