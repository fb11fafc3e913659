use serde_json::{Value, json};

use super::*;
use crate::core::test_support::{profile, shoot, with};
use crate::objects::Given;
use crate::review::decode;

fn review(group: &str, kind: &str, operation: &str, object: Value, old: Option<Value>) -> Review {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1beta1");
    let version = api_version
        .rsplit('/')
        .next()
        .unwrap_or("v1beta1")
        .to_string();
    let body = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u1",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": "x"},
            "namespace": "garden-p", "operation": operation,
            "userInfo": {"username": "alice"},
            "object": object, "oldObject": old,
        },
    });
    decode(&serde_json::to_vec(&body).unwrap()).unwrap()
}

fn given() -> Given {
    let mut given = Given::default();
    given
        .profiles
        .insert(ProfileRef::CloudProfile("metal".into()), profile().into());
    given.secrets.insert(
        ("garden-p".into(), "good".into()),
        json!({"metadata": {"name": "good"}, "data": {"metalAPIHMac": "aG1hYw=="}}).into(),
    );
    given.secrets.insert(
        ("garden-p".into(), "both".into()),
        json!({"metadata": {"name": "both"}, "data": {"metalAPIHMac": "aA==", "metalAPIKey": "aw=="}}).into(),
    );
    given
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn denial_messages(answer: Answer) -> Vec<String> {
    match answer {
        Answer::Deny(errors) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn shoots_are_checked_against_the_profile_they_name() {
    let objects = given();
    let created = review(CORE, "Shoot", "CREATE", shoot(), None);
    assert_eq!(block_on(validate(&created, &objects)), Answer::Allow);

    let wrong_size = with(
        shoot(),
        "/spec/provider/infrastructureConfig/firewall/size",
        Some(json!("x")),
    );
    let denied = block_on(validate(
        &review(CORE, "Shoot", "CREATE", wrong_size, None),
        &objects,
    ));
    assert_eq!(
        denial_messages(denied),
        [
            "spec.provider.infrastructureConfig.firewall.size: Unsupported value: \"x\": supported values: \"c1-xlarge-x86\""
        ]
    );
}

#[test]
fn a_shoot_naming_a_missing_profile_is_denied_naming_it() {
    let objects = given();
    let elsewhere = with(shoot(), "/spec/cloudProfileName", Some(json!("other")));
    let answer = block_on(validate(
        &review(CORE, "Shoot", "CREATE", elsewhere, None),
        &objects,
    ));
    assert_eq!(
        denial_messages(answer),
        ["spec.cloudProfileName: Not found: cloud profile \"other\" does not exist"]
    );
    let unnamed = with(shoot(), "/spec/cloudProfileName", None);
    let answer = block_on(validate(
        &review(CORE, "Shoot", "CREATE", unnamed, None),
        &objects,
    ));
    assert_eq!(
        denial_messages(answer),
        ["spec.cloudProfileName: Required value: the shoot must name its cloud profile"]
    );
}

#[test]
fn the_profile_reference_prefers_spec_cloud_profile() {
    let namespaced = with(
        shoot(),
        "/spec/cloudProfile",
        Some(json!({"kind": "NamespacedCloudProfile", "name": "custom"})),
    );
    assert_eq!(
        profile_ref(&namespaced),
        Ok(ProfileRef::Namespaced {
            namespace: "garden-p".into(),
            name: "custom".into()
        })
    );
    let plain = with(
        shoot(),
        "/spec/cloudProfile",
        Some(json!({"name": "metal2"})),
    );
    assert_eq!(
        profile_ref(&plain),
        Ok(ProfileRef::CloudProfile("metal2".into()))
    );
    let odd = with(
        shoot(),
        "/spec/cloudProfile",
        Some(json!({"kind": "Seed", "name": "x"})),
    );
    assert_eq!(
        profile_ref(&odd).unwrap_err().to_string(),
        "spec.cloudProfile.kind: Unsupported value: \"Seed\": supported values: \"CloudProfile\", \"NamespacedCloudProfile\""
    );
}

#[test]
fn shoot_updates_keep_the_tenant() {
    let objects = given();
    let moved = with(
        shoot(),
        "/metadata/annotations/cluster.metal-stack.io~1tenant",
        Some(json!("other")),
    );
    let answer = block_on(validate(
        &review(CORE, "Shoot", "UPDATE", moved, Some(shoot())),
        &objects,
    ));
    let messages = denial_messages(answer);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].contains("cluster.metal-stack.io/tenant"),
        "{messages:?}"
    );
}

#[test]
fn cloud_profiles_are_checked_on_create_and_update() {
    let objects = Given::default();
    assert_eq!(
        block_on(validate(
            &review(CORE, "CloudProfile", "CREATE", profile(), None),
            &objects
        )),
        Answer::Allow
    );
    let no_config = with(profile(), "/spec/providerConfig", None);
    let messages = denial_messages(block_on(validate(
        &review(CORE, "CloudProfile", "UPDATE", no_config, Some(profile())),
        &objects,
    )));
    assert!(
        messages[0].starts_with("spec.providerConfig: Required value"),
        "{messages:?}"
    );
}

#[test]
fn bindings_read_the_secret_they_refer_to() {
    let objects = given();
    let binding = |name: &str| {
        json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "SecretBinding",
               "metadata": {"name": "b", "namespace": "garden-p"},
               "secretRef": {"name": name}, "provider": {"type": "metal"}})
    };
    let check = |name: &str| {
        block_on(validate(
            &review(CORE, "SecretBinding", "CREATE", binding(name), None),
            &objects,
        ))
    };
    assert_eq!(check("good"), Answer::Allow);
    assert_eq!(
        denial_messages(check("both")),
        [
            "secretRef: Invalid value: secret garden-p/both: data: either hmac or api key must be set, not both"
        ]
    );
    assert_eq!(
        denial_messages(check("gone")),
        ["secretRef: Not found: secret garden-p/gone not found"]
    );
    // Same provider type on update: nothing to read.
    let update = review(
        CORE,
        "SecretBinding",
        "UPDATE",
        binding("gone"),
        Some(binding("gone")),
    );
    assert_eq!(block_on(validate(&update, &objects)), Answer::Allow);

    let credentials = json!({"apiVersion": "security.gardener.cloud/v1alpha1", "kind": "CredentialsBinding",
        "metadata": {"name": "c", "namespace": "garden-p"},
        "credentialsRef": {"apiVersion": "v1", "kind": "Secret", "name": "both", "namespace": "garden-p"},
        "provider": {"type": "metal"}});
    let answer = block_on(validate(
        &review(SECURITY, "CredentialsBinding", "CREATE", credentials, None),
        &objects,
    ));
    assert_eq!(
        denial_messages(answer),
        [
            "credentialsRef: Invalid value: secret garden-p/both: data: either hmac or api key must be set, not both"
        ]
    );
}

#[test]
fn other_kinds_and_operations_pass() {
    let objects = Given::default();
    let seed = json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Seed", "metadata": {"name": "s"}});
    assert_eq!(
        block_on(validate(
            &review(CORE, "Seed", "CREATE", seed, None),
            &objects
        )),
        Answer::Allow
    );
    let deleted = review(CORE, "Shoot", "DELETE", Value::Null, Some(shoot()));
    assert_eq!(block_on(validate(&deleted, &objects)), Answer::Allow);
}

#[test]
fn secrets_are_checked_on_create_and_when_their_data_changes() {
    let secret = |data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data});
    let bad = secret(json!({}));
    let good = secret(json!({"metalAPIKey": "a2V5"}));
    let created = review("", "Secret", "CREATE", bad.clone(), None);
    assert_eq!(
        denial_messages(validate_secret(&created)),
        ["data: Required value: either hmac or api key must be set"]
    );
    assert_eq!(
        validate_secret(&review("", "Secret", "CREATE", good.clone(), None)),
        Answer::Allow
    );
    // Labels changed, data did not: not checked again.
    let mut relabelled = bad.clone();
    relabelled["metadata"]["labels"] = json!({"a": "b"});
    assert_eq!(
        validate_secret(&review(
            "",
            "Secret",
            "UPDATE",
            relabelled,
            Some(bad.clone())
        )),
        Answer::Allow
    );
    let broken = review("", "Secret", "UPDATE", bad, Some(good));
    assert!(matches!(validate_secret(&broken), Answer::Deny(_)));
}

#[test]
fn the_mutator_patches_shoots_and_skips_deleted_ones() {
    let objects = given();
    let defaults = Defaults::default();
    let bare = with(
        shoot(),
        "/spec/provider/infrastructureConfig/firewall/size",
        Some(json!("")),
    );
    match block_on(mutate(
        &review(CORE, "Shoot", "CREATE", bare.clone(), None),
        &objects,
        &defaults,
    )) {
        Answer::Patch { before, after } => {
            assert_eq!(before, bare);
            assert_eq!(
                after.pointer("/spec/provider/infrastructureConfig/firewall/size"),
                Some(&json!("c1-xlarge-x86"))
            );
        }
        other => panic!("expected a patch, got {other:?}"),
    }
    let deleting = with(
        bare,
        "/metadata/deletionTimestamp",
        Some(json!("2026-01-01T00:00:00Z")),
    );
    assert_eq!(
        block_on(mutate(
            &review(CORE, "Shoot", "UPDATE", deleting.clone(), Some(deleting)),
            &objects,
            &defaults
        )),
        Answer::Allow
    );
}
