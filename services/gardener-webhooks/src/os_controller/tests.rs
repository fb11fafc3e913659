//! The controller's decisions ([`plan`]), replayed against a simulated API: each plan's writes
//! are applied to the OSC and the result Secret, and the next decision over the new state must
//! be "nothing to do" unless an input changed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::plan::*;
use crate::core::ignition::{IgnitionVersion, Secrets, VERSION_ANNOTATION};

const NS: &str = "shoot--prod--c1";
const NOW: &str = "2026-03-01T10:00:00Z";
const LATER: &str = "2026-03-01T10:05:00Z";
const V2: IgnitionVersion = IgnitionVersion::V2_3_0;

fn provision() -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": "worker-a", "namespace": NS, "uid": "uid-a", "generation": 1,
                     "resourceVersion": "10"},
        "spec": {
            "type": "ubuntu", "purpose": "provision",
            "units": [{"name": "kubelet.service", "content": "[Service]\nExecStart=/bin/true\n"}],
            "files": [
                {"path": "/etc/kubernetes/ca.crt", "permissions": 420,
                 "content": {"secretRef": {"name": "kubelet-ca", "dataKey": "ca.crt"}}},
                {"path": "/etc/hello", "content": {"inline": {"data": "hi"}}},
            ],
        },
    })
}

fn reconcile_osc() -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": "worker-r", "namespace": NS, "uid": "uid-r", "generation": 1},
        "spec": {
            "type": "debian", "purpose": "reconcile",
            "criConfig": {"name": "containerd", "cgroupDriver": "systemd"},
            "providerConfig": {
                "apiVersion": "metal.provider.extensions.gardener.cloud/v1alpha1",
                "kind": "ImageProviderConfig",
                "networkIsolation": {
                    "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["10.0.0.0/8"]},
                    "dnsServers": ["10.0.0.53"], "ntpServers": ["10.0.0.123"],
                    "registryMirrors": [{"name": "mirror", "endpoint": "https://mirror.example.com",
                                         "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io"]}],
                },
            },
        },
    })
}

fn ca_secrets(ca: &str) -> Secrets {
    let mut secrets = Secrets::new();
    let data = json!({"ca.crt": B64.encode(ca)});
    secrets.insert("kubelet-ca".into(), data.as_object().unwrap().clone());
    secrets
}

/// The OSC and result Secret as the API holds them.
#[derive(Clone)]
struct World {
    osc: Value,
    result: Option<Value>,
    secrets: Secrets,
}

impl World {
    fn new(osc: Value, secrets: Secrets) -> Self {
        World {
            osc,
            result: None,
            secrets,
        }
    }

    fn decide_at(&self, now: &str) -> Plan {
        let observed = Observed {
            osc: &self.osc,
            secrets: &self.secrets,
            result: self.result.as_ref(),
        };
        decide(&observed, V2, now)
    }

    fn decide(&self) -> Plan {
        self.decide_at(NOW)
    }

    /// Applies a plan's writes as the API server would.
    fn apply(&mut self, plan: &Plan) {
        for step in &plan.steps {
            match step {
                Step::SetFinalizers(list) => self.osc["metadata"]["finalizers"] = json!(list),
                Step::Status(patch) => {
                    if self.osc.get("status").is_none() {
                        self.osc["status"] = json!({});
                    }
                    json_patch::merge(&mut self.osc["status"], patch);
                }
                Step::WriteSecret(secret) => {
                    let mut secret = secret.clone();
                    secret["metadata"]["resourceVersion"] = json!("99");
                    self.result = Some(secret);
                }
                Step::RemoveOperationAnnotation => {
                    self.osc["metadata"]["annotations"]
                        .as_object_mut()
                        .unwrap()
                        .remove(OPERATION_ANNOTATION);
                }
            }
        }
    }

    /// Decides, applies, and checks that the state then needs nothing more.
    fn settle(&mut self) -> Plan {
        let plan = self.decide();
        self.apply(&plan);
        let again = self.decide_at(LATER);
        if plan.error.is_none() {
            assert_eq!(again.steps, vec![], "{}: not settled", again.reason);
            assert_eq!(again.operation, None);
        }
        plan
    }

    fn status(&self) -> &Value {
        &self.osc["status"]
    }

    fn user_data(&self) -> Value {
        let secret = self.result.as_ref().expect("result Secret");
        let encoded = secret["data"][RESULT_DATA_KEY].as_str().unwrap();
        serde_json::from_slice(&B64.decode(encoded).unwrap()).unwrap()
    }
}

/// The decoded content of the Ignition file at `path`.
fn file_content(ignition: &Value, path: &str) -> String {
    let file = ignition["storage"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no file {path}"));
    let source = file["contents"]["source"].as_str().unwrap();
    let encoded = source.strip_prefix("data:,").unwrap();
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::SetFinalizers(_) => "finalizers",
            Step::Status(s) => match s.pointer("/lastOperation/state").and_then(Value::as_str) {
                Some("Processing") => "processing",
                Some("Succeeded") => "succeeded",
                Some("Error") => "error",
                _ => "status",
            },
            Step::WriteSecret(_) => "secret",
            Step::RemoveOperationAnnotation => "annotation",
        })
        .collect()
}

fn annotate(osc: &mut Value, key: &str, value: &str) {
    if !osc["metadata"]["annotations"].is_object() {
        osc["metadata"]["annotations"] = json!({});
    }
    osc["metadata"]["annotations"][key] = json!(value);
}

#[test]
fn operation_follows_gardeners_rules() {
    let mut osc = provision();
    assert_eq!(operation(&osc), Operation::Create);
    osc["status"] = json!({"lastOperation": {"type": "Create", "state": "Error"}});
    assert_eq!(operation(&osc), Operation::Create);
    osc["status"] = json!({"lastOperation": {"type": "Create", "state": "Succeeded"}});
    assert_eq!(operation(&osc), Operation::Reconcile);
    osc["status"] = json!({"lastOperation": {"type": "Restore", "state": "Processing"}});
    assert_eq!(operation(&osc), Operation::Restore);
    osc["status"] = json!({"lastOperation": {"type": "Migrate", "state": "Error"}});
    assert_eq!(operation(&osc), Operation::Migrate);
    osc["status"] = json!({"lastOperation": {"type": "Reconcile", "state": "Succeeded"}});
    annotate(&mut osc, OPERATION_ANNOTATION, "restore");
    assert_eq!(operation(&osc), Operation::Restore);
    osc["metadata"]["deletionTimestamp"] = json!(NOW);
    assert_eq!(operation(&osc), Operation::Delete);
    annotate(&mut osc, OPERATION_ANNOTATION, "migrate");
    assert_eq!(
        operation(&osc),
        Operation::Migrate,
        "migrate wins over delete"
    );
}

#[test]
fn only_our_types_and_the_shoot_class() {
    let mut osc = provision();
    assert!(is_ours(&osc));
    osc["spec"]["class"] = json!("shoot");
    assert!(is_ours(&osc));
    osc["spec"]["class"] = json!("seed");
    assert!(!is_ours(&osc));
    let mut other = provision();
    other["spec"]["type"] = json!("gardenlinux");
    assert!(!is_ours(&other));
    let world = World::new(other.clone(), Secrets::new());
    let plan = world.decide();
    assert_eq!(
        (plan.operation, plan.steps, plan.reason),
        (None, vec![], "not ours")
    );
    assert_eq!(reads(&other), Reads::default());
}

#[test]
fn provision_reads_its_secrets_and_result() {
    assert_eq!(
        reads(&provision()),
        Reads {
            secrets: vec!["kubelet-ca".into()],
            result: Some("osc-result-worker-a".into()),
        }
    );
    assert_eq!(reads(&reconcile_osc()), Reads::default());
}

#[test]
fn provision_writes_the_result_secret_and_status_once() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    let plan = world.settle();
    assert_eq!(plan.operation, Some(Operation::Create));
    assert_eq!(plan.error, None);
    assert_eq!(
        kinds(&plan),
        ["finalizers", "processing", "secret", "succeeded"]
    );
    assert_eq!(plan.steps[0], Step::SetFinalizers(vec![FINALIZER.into()]));

    let secret = world.result.clone().unwrap();
    assert_eq!(secret["metadata"]["name"], "osc-result-worker-a");
    assert_eq!(secret["metadata"]["namespace"], NS);
    assert_eq!(
        secret["metadata"]["ownerReferences"],
        json!([{"apiVersion": API_VERSION, "kind": KIND, "name": "worker-a", "uid": "uid-a",
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(
        secret["metadata"]["annotations"][DIGEST_ANNOTATION],
        json!(inputs_digest(&world.osc, &world.secrets, V2))
    );
    let ignition = world.user_data();
    assert_eq!(ignition["ignition"]["version"], "2.3.0");
    assert_eq!(file_content(&ignition, "/etc/kubernetes/ca.crt"), "CA-1");

    let status = world.status();
    assert_eq!(
        status["cloudConfig"],
        json!({"secretRef": {"name": "osc-result-worker-a", "namespace": NS}})
    );
    assert_eq!(
        status["lastOperation"],
        json!({"type": "Create", "state": "Succeeded", "progress": 100, "lastUpdateTime": NOW,
               "description": "rendered Ignition 2.3.0 userdata into Secret osc-result-worker-a"})
    );
    assert_eq!(status["observedGeneration"], 1);
    for absent in ["lastError", "extensionUnits", "extensionFiles"] {
        assert!(status.get(absent).is_none(), "{absent}: {status}");
    }
}

#[test]
fn status_only_changes_and_unchanged_secrets_render_nothing() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    // Someone else's status condition, a new resourceVersion, the same Secret data.
    world.osc["status"]["conditions"] = json!([{"type": "Healthy", "status": "True"}]);
    world.osc["metadata"]["resourceVersion"] = json!("42");
    world.secrets = ca_secrets("CA-1");
    let plan = world.decide();
    assert_eq!((plan.steps, plan.reason), (vec![], "up to date"));
}

#[test]
fn a_changed_secret_renders_new_userdata() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    world.secrets = ca_secrets("CA-2");
    let plan = world.settle();
    assert_eq!(plan.operation, Some(Operation::Reconcile));
    assert_eq!(plan.reason, "referenced Secrets or version changed");
    assert_eq!(kinds(&plan), ["processing", "secret", "succeeded"]);
    assert_eq!(
        file_content(&world.user_data(), "/etc/kubernetes/ca.crt"),
        "CA-2"
    );
    assert_eq!(world.status()["lastOperation"]["type"], "Reconcile");
}

#[test]
fn a_new_generation_renders_and_an_unchanged_output_is_not_rewritten() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    // The spec changed in a way that renders the same userdata (say, a field we ignore).
    world.osc["metadata"]["generation"] = json!(2);
    let plan = world.settle();
    assert_eq!(plan.reason, "generation changed");
    assert_eq!(kinds(&plan), ["processing", "succeeded"]);
    assert_eq!(world.status()["observedGeneration"], 2);
}

#[test]
fn the_version_annotation_renders_again() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    annotate(&mut world.osc, VERSION_ANNOTATION, "3.4.0");
    let plan = world.settle();
    assert_eq!(kinds(&plan), ["processing", "secret", "succeeded"]);
    assert_eq!(world.user_data()["ignition"]["version"], "3.4.0");
}

#[test]
fn a_lost_result_secret_is_written_again() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    world.result = None;
    let plan = world.settle();
    assert_eq!(plan.reason, "result Secret missing");
    assert_eq!(kinds(&plan), ["processing", "secret", "succeeded"]);
}

#[test]
fn reconcile_purpose_reports_extension_files_only() {
    let mut world = World::new(reconcile_osc(), Secrets::new());
    let plan = world.settle();
    assert_eq!(kinds(&plan), ["finalizers", "processing", "succeeded"]);
    assert!(world.result.is_none());
    let status = world.status();
    assert!(status.get("cloudConfig").is_none(), "{status}");
    let paths: Vec<&str> = status["extensionFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/etc/containerd/certs.d/docker.io/hosts.toml"),
        "{paths:?}"
    );
    assert!(paths.contains(&"/etc/systemd/timesyncd.conf"), "{paths:?}");
    assert_eq!(status["lastOperation"]["state"], "Succeeded");
    assert!(status.get("extensionUnits").is_none());
}

#[test]
fn a_missing_secret_is_an_error_written_once_then_retried_when_it_appears() {
    let mut world = World::new(provision(), Secrets::new());
    let plan = world.decide();
    world.apply(&plan);
    assert_eq!(kinds(&plan), ["finalizers", "error"]);
    let error = plan.error.unwrap();
    assert!(error.contains("\"kubelet-ca\" not found"), "{error}");
    let status = world.status();
    assert_eq!(status["lastOperation"]["type"], "Create");
    assert_eq!(status["lastOperation"]["state"], "Error");
    assert_eq!(status["lastOperation"]["progress"], 50);
    assert_eq!(status["lastOperation"]["description"], json!(error));
    assert_eq!(status["lastError"]["description"], json!(error));
    assert_eq!(status["observedGeneration"], 1);

    // A retry with nothing changed writes nothing, and still fails (backoff).
    let retry = world.decide_at(LATER);
    assert_eq!(retry.steps, vec![]);
    assert_eq!(retry.error, Some(error));

    // The Secret appears: no Processing in between, straight to Succeeded.
    world.secrets = ca_secrets("CA-1");
    let plan = world.settle();
    assert_eq!(kinds(&plan), ["secret", "succeeded"]);
    assert_eq!(world.status()["lastOperation"]["type"], "Create");
    assert_eq!(world.status()["lastError"], Value::Null);
    assert!(world.status().get("lastError").is_none());
}

#[test]
fn an_unknown_purpose_is_an_error() {
    let mut osc = provision();
    osc["spec"]["purpose"] = json!("bootstrap");
    let plan = World::new(osc, ca_secrets("CA")).decide();
    assert!(
        plan.error
            .as_deref()
            .unwrap()
            .contains("unknown purpose: bootstrap"),
        "{plan:?}"
    );
}

#[test]
fn the_reconcile_annotation_renders_and_is_removed() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    annotate(&mut world.osc, OPERATION_ANNOTATION, "reconcile");
    let plan = world.settle();
    assert_eq!(plan.reason, "operation annotation");
    assert_eq!(plan.operation, Some(Operation::Reconcile));
    assert_eq!(kinds(&plan), ["processing", "succeeded", "annotation"]);
    assert!(
        world.osc["metadata"]["annotations"]
            .get(OPERATION_ANNOTATION)
            .is_none()
    );
}

#[test]
fn a_reconcile_request_is_consumed_even_on_error_a_restore_is_not() {
    let mut osc = provision();
    annotate(&mut osc, OPERATION_ANNOTATION, "reconcile");
    let plan = World::new(osc.clone(), Secrets::new()).decide();
    assert_eq!(kinds(&plan), ["finalizers", "error", "annotation"]);
    annotate(&mut osc, OPERATION_ANNOTATION, "restore");
    let plan = World::new(osc, Secrets::new()).decide();
    assert_eq!(plan.operation, Some(Operation::Restore));
    assert_eq!(kinds(&plan), ["finalizers", "error"]);
}

#[test]
fn deletion_releases_our_finalizers_only() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    world.osc["metadata"]["finalizers"] = json!([LEGACY_FINALIZER, FINALIZER, "other.io/keep"]);
    world.osc["metadata"]["deletionTimestamp"] = json!(NOW);
    let plan = world.decide();
    assert_eq!(plan.operation, Some(Operation::Delete));
    assert_eq!(kinds(&plan), ["succeeded", "finalizers"]);
    assert_eq!(
        plan.steps[1],
        Step::SetFinalizers(vec!["other.io/keep".into()])
    );
    world.apply(&plan);
    assert_eq!(world.status()["lastOperation"]["type"], "Delete");
    let plan = world.decide();
    assert_eq!(
        (plan.steps, plan.reason),
        (vec![], "deleting without our finalizer")
    );
}

#[test]
fn migrate_releases_the_finalizer_and_the_annotation_then_leaves_the_osc_alone() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    annotate(&mut world.osc, OPERATION_ANNOTATION, "migrate");
    let plan = world.decide();
    assert_eq!(plan.operation, Some(Operation::Migrate));
    assert_eq!(kinds(&plan), ["succeeded", "finalizers", "annotation"]);
    world.apply(&plan);
    assert_eq!(world.status()["lastOperation"]["type"], "Migrate");
    assert_eq!(world.osc["metadata"]["finalizers"], json!([]));
    // Migrated: no finalizer is added back, nothing is rendered, even for a new generation.
    world.osc["metadata"]["generation"] = json!(5);
    let plan = world.decide();
    assert_eq!((plan.steps, plan.reason), (vec![], "migrated"));
    // Restore renders again (type Restore) and consumes the annotation.
    annotate(&mut world.osc, OPERATION_ANNOTATION, "restore");
    let plan = world.settle();
    assert_eq!(plan.operation, Some(Operation::Restore));
    assert_eq!(
        kinds(&plan),
        ["finalizers", "processing", "succeeded", "annotation"]
    );
    assert_eq!(world.status()["lastOperation"]["type"], "Restore");
}

#[test]
fn wait_for_state_does_nothing() {
    let mut osc = provision();
    annotate(&mut osc, OPERATION_ANNOTATION, "wait-for-state");
    let plan = World::new(osc, ca_secrets("CA")).decide();
    assert_eq!((plan.steps, plan.operation), (vec![], None));
}

#[test]
fn a_removed_finalizer_is_added_back_without_rendering() {
    let mut world = World::new(provision(), ca_secrets("CA-1"));
    world.settle();
    world.osc["metadata"]["finalizers"] = json!(["other.io/keep"]);
    let plan = world.settle();
    assert_eq!(
        plan.steps,
        vec![Step::SetFinalizers(vec![
            "other.io/keep".into(),
            FINALIZER.into()
        ])]
    );
}

#[test]
fn the_result_secret_keeps_foreign_content_and_refuses_a_foreign_controller() {
    let osc = provision();
    let existing = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "osc-result-worker-a", "namespace": NS, "resourceVersion": "7",
                     "labels": {"keep": "me"},
                     "ownerReferences": [{"apiVersion": API_VERSION, "kind": KIND, "name": "worker-a",
                                          "uid": "old-uid", "controller": true}]},
        "data": {"other": "eA=="},
    });
    let secret = result_secret(&osc, Some(&existing), "{}", "d")
        .unwrap()
        .unwrap();
    assert_eq!(secret["metadata"]["labels"], json!({"keep": "me"}));
    assert_eq!(secret["metadata"]["resourceVersion"], "7");
    assert_eq!(secret["data"]["other"], "eA==");
    assert_eq!(secret["data"][RESULT_DATA_KEY], B64.encode("{}"));
    let refs = secret["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0]["uid"], "uid-a");
    // Unchanged: nothing to write.
    assert_eq!(result_secret(&osc, Some(&secret), "{}", "d"), Ok(None));

    let mut foreign = existing.clone();
    foreign["metadata"]["ownerReferences"][0]["kind"] = json!("Deployment");
    let err = result_secret(&osc, Some(&foreign), "{}", "d").unwrap_err();
    assert!(err.contains("controlled by Deployment"), "{err}");
    // Which makes the reconcile an error naming it.
    let mut world = World::new(osc, ca_secrets("CA"));
    world.result = Some(foreign);
    let plan = world.decide();
    assert!(plan.error.unwrap().contains("controlled by Deployment"));
}

#[test]
fn the_digest_covers_secret_data_and_versions_only() {
    let osc = provision();
    let a = inputs_digest(&osc, &ca_secrets("CA-1"), V2);
    assert_eq!(a, inputs_digest(&osc, &ca_secrets("CA-1"), V2));
    assert_ne!(a, inputs_digest(&osc, &ca_secrets("CA-2"), V2));
    assert_ne!(a, inputs_digest(&osc, &Secrets::new(), V2));
    assert_ne!(
        a,
        inputs_digest(&osc, &ca_secrets("CA-1"), IgnitionVersion::V3_4_0)
    );
    let mut two_keys = ca_secrets("CA-1");
    let data = two_keys.get_mut("kubelet-ca").unwrap();
    data.insert("a".into(), json!("YQ=="));
    let mut reordered = serde_json::Map::new();
    reordered.insert("a".into(), json!("YQ=="));
    reordered.insert("ca.crt".into(), json!(B64.encode("CA-1")));
    let mut other_order = Secrets::new();
    other_order.insert("kubelet-ca".into(), reordered);
    assert_eq!(
        inputs_digest(&osc, &two_keys, V2),
        inputs_digest(&osc, &other_order, V2)
    );
}

#[test]
fn a_write_failure_is_reported_once() {
    let osc = provision();
    let status = error_status(&osc, Operation::Create, "boom", NOW).unwrap();
    let mut failed = osc.clone();
    failed["status"] = status;
    assert_eq!(
        error_status(&failed, Operation::Create, "boom", LATER),
        None
    );
    assert!(error_status(&failed, Operation::Create, "other", LATER).is_some());
    assert!(error_status(&failed, Operation::Reconcile, "boom", LATER).is_some());
}

fn parse(args: &[&str]) -> Result<crate::Args, clap::Error> {
    let argv = std::iter::once("gardener-webhooks").chain(args.iter().copied());
    mesh_runtime::try_parse_args_from(crate::cli::ENV_PREFIX, argv)
}

#[test]
fn flags_default_to_off_version_2_and_five_workers() {
    let args = parse(&[]).unwrap();
    assert!(!args.os_controller && !args.leader_elect);
    let config = super::Config::from_args(&args);
    assert_eq!(config.default_version, IgnitionVersion::V2_3_0);
    assert_eq!(config.workers, 5);
    assert!(config.leader_election.is_none());
    assert_eq!(
        args.leader_elect_lease_name,
        "gardener-webhooks-os-controller"
    );
    assert_eq!(
        args.leader_elect_lease_duration,
        std::time::Duration::from_secs(15)
    );
}

#[test]
fn flags_are_parsed_and_checked() {
    let args = parse(&[
        "--os-controller",
        "--ignition-version",
        "3.4.0",
        "--os-controller-workers",
        "2",
        "--leader-elect",
        "--leader-elect-namespace",
        "garden",
        "--leader-elect-identity",
        "pod-0",
        "--leader-elect-lease-duration",
        "30s",
    ])
    .unwrap();
    let config = super::Config::from_args(&args);
    assert_eq!(config.default_version, IgnitionVersion::V3_4_0);
    assert_eq!(config.workers, 2);
    let election = config.leader_election.unwrap();
    assert_eq!(election.namespace.as_deref(), Some("garden"));
    assert_eq!(election.identity, "pod-0");
    assert_eq!(election.lease_duration, std::time::Duration::from_secs(30));

    for (flag, value, message) in [
        (
            "--ignition-version",
            "3.0.0",
            "unsupported Ignition version \"3.0.0\"",
        ),
        ("--os-controller-workers", "0", "0"),
        ("--leader-elect-lease-duration", "500ms", "shorter than 1s"),
    ] {
        let err = parse(&[flag, value]).unwrap_err().to_string();
        assert!(err.contains(flag) && err.contains(message), "{err}");
    }
}

/// Without leader election the controller leads until shutdown, not for an instant: a
/// receiver whose sender is gone would read as a lost lease at once.
#[tokio::test]
async fn without_election_it_leads_until_shutdown() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let shutdown = mesh_runtime::ShutdownSignal::new();
    let mut leading = crate::leading::leadership(&client, None, &shutdown, super::CONTROLLER);
    let lost = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        leading.wait_for(|l| !*l),
    )
    .await
    .is_ok();
    assert!(!lost, "still leading before shutdown");
    shutdown.trigger();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(2), leading.changed()).await;
    assert!(
        matches!(ended, Ok(Err(_))),
        "the election ends with shutdown"
    );
}
