//! Which metal image a pool's Gardener machine image (name, version) is: the component
//! configuration's `machineImages` first, then the mapping the Worker reported last, so pools
//! keep reconciling after an image left the component configuration.

use kube_resources::gardener::WorkerPool;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::extensions::operation::ExtError;

/// One mapping, as the component configuration and `WorkerStatus.machineImages` hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineImage {
    pub name: String,
    pub version: String,
    /// The metal-api image ID.
    pub image: String,
}

/// The `machineImages` of a Worker's `status.providerStatus`. Read leniently: the status is
/// only a fallback, and an entry that does not decode must not block every later reconcile.
pub fn reported(provider_status: Option<&Value>) -> Vec<MachineImage> {
    provider_status
        .and_then(|s| s.get("machineImages"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| MachineImage::deserialize(entry).ok())
        .collect()
}

/// The image of `pool`: from `configured`, else from `reported`.
pub fn find(
    configured: &[MachineImage],
    reported: &[MachineImage],
    pool: &WorkerPool,
) -> Result<MachineImage, ExtError> {
    let wanted = pool.machine_image.as_ref().ok_or_else(|| {
        ExtError::configuration(format!("worker pool {}: no machine image given", pool.name))
    })?;
    configured
        .iter()
        .chain(reported)
        .find(|m| m.name == wanted.name && m.version == wanted.version)
        .cloned()
        .ok_or_else(|| {
            ExtError::configuration(format!(
                "worker pool {}: machine image {} version {} is neither in the component \
                 configuration nor in the worker status",
                pool.name, wanted.name, wanted.version
            ))
        })
}

/// `images` without repeats (pools sharing an image report it once), in first-seen order.
pub fn distinct(images: impl IntoIterator<Item = MachineImage>) -> Vec<MachineImage> {
    let mut out: Vec<MachineImage> = Vec::new();
    for image in images {
        if !out
            .iter()
            .any(|m| m.name == image.name && m.version == image.version)
        {
            out.push(image);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::extensions::worker::tests::pool;

    fn image(name: &str, version: &str, id: &str) -> MachineImage {
        MachineImage {
            name: name.into(),
            version: version.into(),
            image: id.into(),
        }
    }

    #[test]
    fn the_component_config_wins_and_the_status_is_the_fallback() {
        let configured = [image("ubuntu", "24.4", "ubuntu-24.04-cfg")];
        let reported = [
            image("ubuntu", "24.4", "ubuntu-24.04-old"),
            image("flatcar", "3815.2", "flatcar-3815"),
        ];
        let table = [
            ("ubuntu", "24.4", Ok("ubuntu-24.04-cfg")),
            ("flatcar", "3815.2", Ok("flatcar-3815")),
            (
                "flatcar",
                "9999.0",
                Err("machine image flatcar version 9999.0"),
            ),
            ("debian", "24.4", Err("machine image debian version 24.4")),
        ];
        for (name, version, want) in table {
            let mut p = pool("w1");
            p.machine_image = Some(kube_resources::gardener::MachineImage {
                name: name.into(),
                version: version.into(),
            });
            match (find(&configured, &reported, &p), want) {
                (Ok(got), Ok(id)) => assert_eq!(got.image, id, "{name} {version}"),
                (Err(e), Err(text)) => {
                    assert_eq!(
                        e.code,
                        Some(super::super::super::operation::ErrorCode::Configuration)
                    );
                    assert!(
                        e.message.contains(text) && e.message.contains("worker pool w1"),
                        "{e}"
                    );
                }
                (got, want) => panic!("{name} {version}: got {got:?}, want {want:?}"),
            }
        }
        let mut p = pool("w2");
        p.machine_image = None;
        let e = find(&configured, &reported, &p).unwrap_err();
        assert!(
            e.message.contains("worker pool w2: no machine image"),
            "{e}"
        );
    }

    #[test]
    fn the_reported_mapping_is_read_leniently() {
        let status = json!({
            "apiVersion": "metal.provider.extensions.gardener.cloud/v1alpha1", "kind": "WorkerStatus",
            "machineImages": [{"name": "a", "version": "1", "image": "a-1"}, {"name": 7}],
        });
        assert_eq!(reported(Some(&status)), [image("a", "1", "a-1")]);
        assert!(reported(Some(&json!({"machineImages": "x"}))).is_empty());
        assert!(reported(None).is_empty());
    }

    #[test]
    fn shared_images_are_reported_once() {
        let a = image("a", "1", "a-1");
        let b = image("b", "1", "b-1");
        assert_eq!(distinct([a.clone(), b.clone(), a.clone()]), [a, b]);
    }
}
