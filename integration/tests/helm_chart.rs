//! The Helm chart `helm/metal-mesh` renders, lints and validates.
//!
//! The work is done by `integration/scripts/check_chart.py`: Helm v4 in-process through the
//! PyPI package `helm-python-sdk` (no `helm` binary, no cluster), every manifest validated with
//! `kubernetes-validate` (strict) for Kubernetes 1.31, 1.32 and 1.33, plus behaviour checks.
//! Without those Python packages the test fails when `CI` is set and is skipped otherwise.
//! The machine-lifecycle Deployment's command line, rendered with every option, is parsed with
//! the binary's own CLI (`machine_lifecycle::Args`), so a flag the binary does not have, or a
//! value it refuses, fails here.

use std::process::{Command, Output};
use std::time::Duration;

/// Exit code of check_chart.py when its Python packages are missing.
const SKIP: i32 = 77;

#[test]
fn chart_renders_lints_and_validates() {
    let root = integration::workspace_root();
    let script = root.join("integration/scripts/check_chart.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output: Output = match Command::new(&python)
        .arg(&script)
        .current_dir(&root)
        .output()
    {
        Ok(output) => output,
        Err(err) => {
            let msg = format!("cannot run {python}: {err}");
            assert!(
                !integration::in_ci(),
                "{msg} (CI is set, so this is a failure)"
            );
            eprintln!("SKIPPED chart_renders_lints_and_validates: {msg}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with --nocapture, and on failure.
    println!("{stdout}");
    eprintln!("{stderr}");

    if output.status.code() == Some(SKIP) {
        assert!(
            !integration::in_ci(),
            "Python packages for the chart check are missing and CI is set: \
             pip install helm-python-sdk kubernetes-validate\n{stderr}"
        );
        eprintln!(
            "SKIPPED chart_renders_lints_and_validates: \
             pip install helm-python-sdk kubernetes-validate to run it"
        );
        return;
    }
    assert!(
        output.status.success(),
        "check_chart.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(", 0 failed"),
        "check_chart.py printed no summary:\n{stdout}"
    );
}

/// The chart's machine-lifecycle Deployment runs the binary with flags it accepts and settings
/// it takes: every option on (replicas > 1: leader election; the Machines' namespace; the
/// target kubeconfig; the gRPC socket; the controller's periods; the metal-api CA).
#[test]
fn the_machine_lifecycle_charts_arguments_are_the_binarys() {
    #[rustfmt::skip]
    let set = [
        "machineLifecycle.enabled=true",
        "machineLifecycle.replicas=2",
        "machineLifecycle.namespace=shoot--p--c",
        "machineLifecycle.targetKubeconfig.secretName=shoot-kubeconfig",
        "machineLifecycle.grpcSocket.enabled=true",
        "machineLifecycle.workers=32",
        "machineLifecycle.creationTimeout=25m",
        "machineLifecycle.retry.short=2s",
        "machineLifecycle.retry.medium=1m",
        "machineLifecycle.retry.long=15m",
        "machineLifecycle.metalApi.timeout=10s",
        "machineLifecycle.metalApi.caSecret=corp-ca",
        "machineLifecycle.leaderElection.namespace=leases",
        "machineLifecycle.leaderElection.leaseName=ml-leader",
        "machineLifecycle.leaderElection.leaseDuration=20s",
        "machineLifecycle.logFormat=json",
        "machineLifecycle.shutdownTimeout=20s",
        "auth.cacheTtl=90s",
        "metrics.open=true",
        "tls.clientCaSecret=client-ca",
    ];
    let Some(docs) = integration::chart::render(&set) else {
        return;
    };
    let deployment = integration::chart::find(&docs, "Deployment", "machine-lifecycle");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "machine-lifecycle");
    assert_eq!(
        container["command"],
        serde_json::json!(["/usr/local/bin/machine-lifecycle"])
    );
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    let argv = std::iter::once("machine-lifecycle".to_string()).chain(args.clone());
    let parsed: machine_lifecycle::Args =
        mesh_runtime::try_parse_args_from(machine_lifecycle::cli::ENV_PREFIX, argv)
            .unwrap_or_else(|e| panic!("the chart's args {args:?}: {e}"));
    assert_eq!(parsed.check(), Ok(()), "{args:?}");
    assert_eq!(parsed.namespace, "shoot--p--c");
    assert_eq!(
        parsed.target_kubeconfig.as_deref(),
        Some("/etc/metal-mesh/target-kubeconfig/kubeconfig")
    );
    assert_eq!(
        parsed.grpc_socket.as_deref(),
        Some(std::path::Path::new("/run/machine-lifecycle/driver.sock"))
    );
    assert!(!parsed.no_kubernetes, "the controller runs");
    assert_eq!(parsed.workers, 32);
    assert_eq!(parsed.creation_timeout, Duration::from_secs(25 * 60));
    let retry = parsed.retry();
    assert_eq!(
        (retry.short, retry.medium, retry.long),
        (
            Duration::from_secs(2),
            Duration::from_secs(60),
            Duration::from_secs(15 * 60)
        )
    );
    assert_eq!(parsed.metal_api_timeout, Duration::from_secs(10));
    assert!(parsed.leader_elect);
    assert_eq!(parsed.leader_elect_namespace.as_deref(), Some("leases"));
    assert_eq!(parsed.leader_elect_lease_name, "ml-leader");
    assert_eq!(parsed.leader_elect_lease_duration, Duration::from_secs(20));
    assert!(parsed.runtime.tls.enabled(), "served over TLS");
    // The metal-api CA comes as METAL_API_CA_FILE, the env form of --metal-api-ca-file, and the
    // identity as POD_NAME (--leader-elect-identity's env): both names the binary reads.
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(env, ["POD_NAME", "METAL_API_CA_FILE"]);
    let cmd = <machine_lifecycle::Args as clap::CommandFactory>::command();
    let env_of = |id: &str| {
        cmd.get_arguments()
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
    };
    assert_eq!(
        env_of("metal_api_ca_file").as_deref(),
        Some("METAL_API_CA_FILE")
    );
    assert_eq!(env_of("leader_elect_identity").as_deref(), Some("POD_NAME"));
}
