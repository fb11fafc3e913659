//! Command line of gardener-webhooks. Flags of our own also read `GARDENER_WEBHOOKS_<FLAG>`;
//! the Shoot defaulter's `DEFAULTER_*` variables keep upstream's names.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use mesh_runtime::RuntimeArgs;

use crate::core::ignition::{IgnitionVersion, UnsupportedVersion};
use crate::core::mutation::{EtcdConfig, SeedConfig};
use crate::extensions::{Config as ExtensionsConfig, MachineImage};
use crate::leading::LeaderElection;

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
    /// Run the extension controllers of provider metal (replaces gardener-extension-provider-
    /// metal's): Infrastructure, ControlPlane and Worker of type metal, and their health checks
    #[arg(long)]
    pub extensions: bool,
    /// Extension objects of each kind reconciled at the same time
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub extension_workers: u16,
    /// A machine image of the component config, NAME:VERSION=IMAGE (the metal-api image a
    /// worker pool's machine image maps to); repeatable
    #[arg(long = "machine-image", value_parser = parse_machine_image)]
    pub machine_images: Vec<MachineImage>,
    /// A network the shoot firewalls treat as internal (FirewallDeployment internalPrefixes);
    /// repeatable
    #[arg(long = "firewall-internal-prefix", value_parser = parse_prefix)]
    pub firewall_internal_prefixes: Vec<String>,
    /// Timeout of one metal-api request of the extension controllers
    #[arg(long, default_value = "30s", value_parser = mesh_runtime::parse_duration)]
    pub metal_api_timeout: Duration,
    /// PEM CA bundle trusted for metal-api instead of the system roots
    #[arg(long)]
    pub metal_api_ca_file: Option<PathBuf>,
    /// Image of lb-allocator, volume-manager and rule-compiler deployed into shoots by the
    /// ControlPlane controller
    #[arg(long, default_value = "metal-mesh:dev")]
    pub control_plane_image: String,
    /// Image of metal-stack's firewall-controller-manager, deployed beside each shoot's control
    /// plane by the ControlPlane controller (it creates the shoot's firewalls); empty: not
    /// deployed (the operator runs it)
    #[arg(long, default_value = crate::core::extensions::controlplane::firewall_manager::DEFAULT_IMAGE)]
    pub firewall_controller_manager_image: String,
    /// The seed's API server as the shoots' firewalls reach it (firewall-controller-manager's
    /// -seed-api-url); default: the ConfigMap garden/seed-api-server (key url) if present, else
    /// this process's Kubernetes API server
    #[arg(long)]
    pub seed_api_url: Option<String>,
    /// Name of the extension controllers' leader-election Lease
    #[arg(long, default_value = "provider-metal-leader-election")]
    pub extensions_lease_name: String,

    /// Run the OS and extension controllers only while holding a Lease (for more than one
    /// replica); the webhooks are served either way
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

/// `--machine-image NAME:VERSION=IMAGE`.
fn parse_machine_image(text: &str) -> Result<MachineImage, String> {
    let bad =
        || format!("{text:?} is not NAME:VERSION=IMAGE, e.g. ubuntu:24.4.20240503=ubuntu-24.04");
    let (name_version, image) = text.split_once('=').ok_or_else(bad)?;
    let (name, version) = name_version.split_once(':').ok_or_else(bad)?;
    let [name, version, image] = [name, version, image].map(str::trim);
    if name.is_empty() || version.is_empty() || image.is_empty() {
        return Err(bad());
    }
    Ok(MachineImage {
        name: name.into(),
        version: version.into(),
        image: image.into(),
    })
}

/// `--firewall-internal-prefix`: a CIDR.
fn parse_prefix(text: &str) -> Result<String, String> {
    text.trim()
        .parse::<ipnet::IpNet>()
        .map(|net| net.to_string())
        .map_err(|e| format!("{text:?} is not a CIDR: {e}"))
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

    /// The extension controllers' configuration.
    pub fn extensions_config(&self) -> ExtensionsConfig {
        ExtensionsConfig {
            workers: self.extension_workers,
            leader_election: self
                .leader_elect
                .then(|| self.leader_election(&self.extensions_lease_name)),
            machine_images: self.machine_images.clone(),
            firewall_internal_prefixes: self.firewall_internal_prefixes.clone(),
            metal_api_timeout: self.metal_api_timeout,
            metal_api_ca_file: self.metal_api_ca_file.clone(),
            control_plane_image: self.control_plane_image.clone(),
            firewall_controller_manager_image: Some(
                self.firewall_controller_manager_image.trim().to_owned(),
            )
            .filter(|image| !image.is_empty()),
            seed_api_url: self.seed_api_url.clone(),
        }
    }

    /// The Lease `lease_name` for this replica.
    pub fn leader_election(&self, lease_name: &str) -> LeaderElection {
        let identity = self
            .leader_elect_identity
            .clone()
            .filter(|i| !i.trim().is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("gardener-webhooks-{}", std::process::id()));
        LeaderElection {
            namespace: self
                .leader_elect_namespace
                .clone()
                .filter(|n| !n.trim().is_empty()),
            lease_name: lease_name.to_owned(),
            lease_duration: self.leader_elect_lease_duration,
            identity,
        }
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
        if self.control_plane_image.trim().is_empty() {
            return Err("--control-plane-image must not be empty".into());
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
    fn machine_images_and_prefixes_are_parsed_or_refused() {
        let args = parse(&[
            "--machine-image",
            "ubuntu:24.4.20240503=ubuntu-24.04",
            "--firewall-internal-prefix",
            "10.0.0.0/8",
        ])
        .unwrap();
        let config = args.extensions_config();
        assert_eq!(
            config.machine_images,
            [MachineImage {
                name: "ubuntu".into(),
                version: "24.4.20240503".into(),
                image: "ubuntu-24.04".into()
            }]
        );
        assert_eq!(config.firewall_internal_prefixes, ["10.0.0.0/8"]);
        for (flag, value) in [
            ("--machine-image", "ubuntu=ubuntu-24.04"),
            ("--machine-image", "ubuntu:=x"),
            ("--firewall-internal-prefix", "10.0.0.0"),
        ] {
            let err = parse(&[flag, value]).unwrap_err().to_string();
            assert!(err.contains(value), "{err}");
        }
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
