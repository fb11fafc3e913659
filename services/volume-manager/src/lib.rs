//! volume-manager: a CSI driver over LVM (`lvm.csi.metal-stack.io`) with snapshots and several
//! volume groups; replaces csi-driver-lvm.
//!
//! One actor per volume group owns its mutations; the CSI services (gRPC on a unix socket) and
//! the REST API are thin edges; every decision is in [`core`], every lvm call in [`lvm`], every
//! mount in [`node`].

pub mod actors;
pub mod api;
pub mod cli;
pub mod core;
pub mod driver;
pub mod error;
pub mod grpc;
pub mod known;
pub mod lvm;
pub mod metrics;
pub mod node;
pub mod ops;

/// The generated CSI types and services (`proto/csi.proto`, package `csi.v1`).
#[allow(clippy::all, missing_docs)]
pub mod csi {
    tonic::include_proto!("csi.v1");
}

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::web;
use futures::FutureExt as _;
use mesh_runtime::{ReadinessCheck, ServiceInfo, ServiceParts, Setup};
use utoipa::OpenApi as _;

use crate::actors::vg::VgActor;
pub use crate::cli::Args;
use crate::driver::{Config, Driver};
use crate::lvm::Lvm;
use crate::metrics::Metrics;
use crate::ops::Store;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "volume-manager",
    version: env!("CARGO_PKG_VERSION"),
};

/// The volume-manager OpenAPI document (also committed as `openapi/volume-manager.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api::ApiDoc::openapi();
    mesh_runtime::auth::document(&mut doc);
    doc
}

/// What the chart's `metal-mesh:volume-manager:viewer` and `…:editor` ClusterRoles grant.
pub fn access() -> mesh_runtime::auth::Access {
    mesh_runtime::auth::Access::from_openapi(&api::ApiDoc::openapi())
}

/// How often a volume group that could not be set up is tried again.
const VG_RETRY: Duration = Duration::from_secs(10);

/// Makes sure the VG exists and is active: activates it when it exists (always, also after a
/// reboot: upstream #153), creates it from `devices` when it does not.
pub fn ensure_vg(lvm: &Lvm, vg: &str, devices: &[String]) -> Result<(), String> {
    match lvm.vg(vg).map_err(|e| e.to_string())? {
        Some(_) => lvm.activate_vg(vg).map_err(|e| e.to_string()),
        None if devices.is_empty() => Err(format!(
            "volume group {vg} does not exist and no devices are configured to create it from"
        )),
        None => {
            let found = lvm::expand_devices(devices)?;
            lvm.vgcreate(vg, &found)
                .map_err(|e| format!("creating volume group {vg}: {e}"))?;
            tracing::info!(vg, devices = ?found, "created volume group");
            lvm.activate_vg(vg).map_err(|e| e.to_string())
        }
    }
}

type VgStatus = Arc<RwLock<HashMap<String, Result<(), String>>>>;

/// Sets up every VG now, then retries the ones that failed until they succeed.
fn set_up_volume_groups(lvm: Lvm, groups: Vec<(String, Vec<String>)>, status: VgStatus) {
    std::thread::Builder::new()
        .name("vg-setup".into())
        .spawn(move || {
            loop {
                let mut pending = false;
                for (vg, devices) in &groups {
                    if matches!(status.read().unwrap().get(vg), Some(Ok(()))) {
                        continue;
                    }
                    let result = ensure_vg(&lvm, vg, devices);
                    if let Err(e) = &result {
                        tracing::warn!(vg, "volume group not ready: {e}");
                        pending = true;
                    }
                    status.write().unwrap().insert(vg.clone(), result);
                }
                if !pending {
                    return;
                }
                std::thread::sleep(VG_RETRY);
            }
        })
        .expect("spawning the volume group setup thread");
}

/// Starts the actors and the CSI endpoint; returns the REST routes.
pub async fn start(args: Args, setup: Setup) -> anyhow::Result<ServiceParts> {
    let socket = grpc::socket_path(&args.csi_endpoint)?;
    anyhow::ensure!(!args.node_id.is_empty(), "--node-id is required");
    let host_write =
        Some(PathBuf::from(&args.host_write_path)).filter(|p| !p.as_os_str().is_empty());
    let lvm = Lvm::new(
        &args.lvm,
        args.no_activation,
        host_write.as_deref(),
        args.lvm_system_dir.clone(),
    );
    if let Some(dir) = &host_write {
        for sub in ["backup", "archive", "lock"] {
            let _ = std::fs::create_dir_all(dir.join(sub));
        }
    }
    let mut groups = vec![(args.vg_name.clone(), args.devices.clone())];
    for extra in &args.volume_groups {
        anyhow::ensure!(
            groups.iter().all(|(name, _)| name != &extra.name),
            "volume group {} is configured twice",
            extra.name
        );
        groups.push((extra.name.clone(), extra.devices.clone()));
    }
    let status: VgStatus = Arc::default();
    set_up_volume_groups(lvm.clone(), groups.clone(), status.clone());

    let metrics = setup.registry.with(Metrics::new);
    let store = Store {
        lvm,
        vgs: groups.iter().map(|(n, _)| n.clone()).collect(),
        default_size: args.default_size,
        dev_dir: args.dev_dir.clone(),
        known: Default::default(),
    };
    let mut actors = BTreeMap::new();
    for (vg, _) in &groups {
        let name: &'static str = Box::leak(format!("vg-{vg}").into_boxed_str());
        let (vg, store, metrics, actor_metrics) = (
            vg.clone(),
            store.clone(),
            metrics.clone(),
            setup.actors.clone(),
        );
        let mailbox = mesh_runtime::supervise(name, &setup.actors, move |_| VgActor {
            vg: vg.clone(),
            store,
            metrics,
            actors: actor_metrics,
            name,
        });
        actors.insert(groups_name(name), mailbox);
    }
    let driver = Driver::new(
        Config {
            driver_name: args.driver_name.clone(),
            version: INFO.version.to_string(),
            node_id: args.node_id.clone(),
            default_type: args.default_type,
            max_volumes_per_node: args.max_volumes_per_node,
            controller_expansion: args.controller_expansion,
        },
        store,
        metrics,
        actors,
    );

    let shutdown = setup.shutdown.clone();
    grpc::serve(
        driver.clone(),
        &socket,
        async move { shutdown.wait().await },
    )
    .await?;

    let data = web::Data::new(driver);
    let mut parts = ServiceParts::new(openapi(), move |cfg| {
        cfg.app_data(data.clone()).configure(api::routes);
    });
    parts.readiness = vec![Arc::new(VolumeGroupsReady {
        status,
        groups: groups.into_iter().map(|(n, _)| n).collect(),
    })];
    Ok(parts)
}

fn groups_name(actor: &str) -> String {
    actor.trim_start_matches("vg-").to_string()
}

/// Ready once every configured volume group exists and is active.
struct VolumeGroupsReady {
    status: VgStatus,
    groups: Vec<String>,
}

impl ReadinessCheck for VolumeGroupsReady {
    fn name(&self) -> &str {
        "volume-groups"
    }

    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        let status = self.status.read().unwrap();
        let problems: Vec<String> = self
            .groups
            .iter()
            .filter_map(|vg| match status.get(vg) {
                Some(Ok(())) => None,
                Some(Err(e)) => Some(e.clone()),
                None => Some(format!("volume group {vg} is being set up")),
            })
            .collect();
        let result = if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        };
        async move { result }.boxed()
    }
}
