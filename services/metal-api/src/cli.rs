//! Command line of the metal-api service; every flag also from `METAL_API_<FLAG>`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mesh_runtime::RuntimeArgs;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "metal-api",
    version,
    about = "Embedded metal-api, wire-compatible with metal-stack's metal-api v1"
)]
pub struct Args {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Directory of the redb database file.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// YAML seed with partitions, sizes, images, projects, networks and machines, applied idempotently at start.
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Path prefix the API is served under, e.g. /metal.
    #[arg(long, default_value = "/")]
    pub base_path: String,
    #[arg(long)]
    pub hmac_view_key: String,
    #[arg(long)]
    pub hmac_edit_key: String,
    #[arg(long)]
    pub hmac_admin_key: String,
    /// Maximum age of a request's X-Date; 0s disables the check.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub hmac_lifetime: Duration,
}

pub const ENV_PREFIX: &str = "METAL_API";
