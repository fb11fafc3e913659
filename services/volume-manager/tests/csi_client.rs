//! The `csi-client` binary against the real driver on real lvm2 metadata on loop devices (as in
//! `csi_conformance.rs`): what an operator or the compose tour does with it, and how it fails.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// Runs `csi-client --endpoint <endpoint> <args>`: the parsed stdout on success, else the
/// exit code and stderr.
fn cli(endpoint: &str, args: &[&str]) -> Result<Value, (Option<i32>, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_csi-client"))
        .args(["--endpoint", endpoint])
        .args(args)
        .env_remove("CSI_ENDPOINT")
        .output()
        .expect("run csi-client");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("JSON on stdout"))
    } else {
        Err((
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v["volumeId"].as_str().unwrap())
        .collect()
}

#[test]
fn a_volume_is_made_listed_and_deleted_as_csi_provisioner_would() {
    if !lvm_here() {
        return;
    }
    let disk = Loop::new(256 << 20);
    let vg = unique("vmcli");
    let driver = Driver::start(&[(&vg, vec![disk.path()])], &[]);
    let endpoint = format!("unix://{}", driver.socket.display());
    let run = |args: &[&str]| {
        cli(&endpoint, args).unwrap_or_else(|e| panic!("csi-client {args:?}: {e:?}"))
    };

    let info = run(&["info"]);
    assert_eq!(info["name"], "lvm.csi.metal-stack.io", "{info}");
    assert!(
        !info["vendorVersion"].as_str().unwrap().is_empty(),
        "{info}"
    );
    let caps = info["capabilities"].as_array().unwrap();
    assert!(caps.iter().any(|c| c == "CONTROLLER_SERVICE"), "{info}");

    let name = unique("pvc-");
    let create = ["create-volume", &name, "--size", "64Mi", "--node", "node-a"];
    let made = run(&create);
    let id = made["volumeId"].as_str().expect("a volumeId").to_string();
    assert!(!id.is_empty(), "{made}");
    assert!(
        made["capacityBytes"].as_i64().unwrap() >= 64 * MIB,
        "{made}"
    );
    assert_eq!(
        made["accessibleTopology"][0]["topology.lvm.csi/node"], "node-a",
        "{made}"
    );
    assert_eq!(ids(&run(&["list-volumes"])), [id.as_str()]);
    assert_eq!(run(&create)["volumeId"], id, "CreateVolume is idempotent");
    assert!(run(&["capacity"])["availableCapacity"].as_i64().unwrap() > 0);

    // A bad size is refused before anything reaches the driver.
    let (code, stderr) = cli(&endpoint, &["create-volume", "pvc-bad", "--size", "lots"])
        .expect_err("a bad size fails");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("lots"), "{stderr}");
    assert_eq!(ids(&run(&["list-volumes"])), [id.as_str()]);
    assert_eq!(lvs(&vg, "lv_name").len(), 1, "nothing else created");

    assert_eq!(run(&["delete-volume", &id])["deleted"], id);
    assert!(ids(&run(&["list-volumes"])).is_empty());
    assert!(lvs(&vg, "lv_name").is_empty());
}

#[test]
fn an_unreachable_endpoint_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("unix://{}", dir.path().join("missing.sock").display());
    let (code, stderr) = cli(&endpoint, &["list-volumes"]).expect_err("nothing listens");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&endpoint), "{stderr}");
}
