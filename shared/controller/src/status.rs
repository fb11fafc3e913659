//! Status writes that survive concurrent writers: read the object, compute its status, write
//! it with the resourceVersion read (merge patch on `/status`), and on 409 read again.

use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Writes the status `compute` derives from the current object; retried up to `attempts`
/// times on conflict. `compute` returning `None` means "nothing to write".
pub async fn update_status<K, F>(
    api: &Api<K>,
    name: &str,
    attempts: u32,
    compute: F,
) -> Result<Option<K>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    F: Fn(&K) -> Option<Value>,
{
    let mut attempt = 0;
    loop {
        let current = api.get_status(name).await?;
        let Some(status) = compute(&current) else {
            return Ok(None);
        };
        let patch = json!({
            "metadata": { "resourceVersion": current.meta().resource_version },
            "status": status,
        });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => return Ok(Some(updated)),
            Err(kube::Error::Api(e)) if e.code == 409 && attempt + 1 < attempts => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}
