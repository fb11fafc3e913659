//! Arbitrary JSON against the AdmissionReview decoder, the provider-config decoders and every
//! webhook's decision: no panic, and never the 500 that only a failed read may give.

use futures::executor::block_on;
use gardener_webhooks::core::defaulter::{Defaults, default_shoot};
use gardener_webhooks::core::field::Path;
use gardener_webhooks::core::mutation::{self, Context, SeedConfig, Webhook};
use gardener_webhooks::core::provider_config::{
    CloudProfileConfig, ControlPlaneConfig, InfrastructureConfig, decode,
};
use gardener_webhooks::objects::{Given, ProfileRef};
use gardener_webhooks::review::{self, Answer, Review};
use gardener_webhooks::{garden, seed};
use proptest::prelude::*;
use serde_json::{Value, json};

const API: &str = "metal.provider.extensions.gardener.cloud/v1alpha1";

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9./:-]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "metal",
            "calico",
            "cilium",
            "restricted",
            "forbidden",
            "10.0.0.0/8",
            "v1",
            "auto",
            "kubelet.service",
            "b64"
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn profile() -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile", "metadata": {"name": "metal"},
        "spec": {
            "type": "metal", "regions": [{"name": "eu", "zones": [{"name": "p1"}]}],
            "machineImages": [{"name": "ubuntu", "versions": [{"version": "24.4.1"}]}],
            "providerConfig": {"apiVersion": API, "kind": "CloudProfileConfig", "metalControlPlanes": {"prod": {
                "endpoint": "https://api", "firewallImages": ["firewall-ubuntu-3.0.1"],
                "firewallControllerVersions": [{"version": "v2.3.4", "url": "u", "classification": "supported"}],
                "partitions": {"p1": {"firewallTypes": ["c1"], "networkIsolation": {
                    "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["10.0.0.0/8"]},
                    "dnsServers": ["10.0.0.53"], "ntpServers": ["10.0.0.123"],
                    "registryMirrors": [{"name": "m", "endpoint": "https://m", "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io"]}]}}}}}},
        },
    })
}

fn shoot() -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
        "metadata": {"name": "s", "namespace": "garden-p", "annotations": {"cluster.metal-stack.io/tenant": "t"}},
        "spec": {
            "cloudProfileName": "metal", "region": "eu",
            "kubernetes": {"version": "1.30.2", "kubelet": {"maxPods": 100}},
            "networking": {"type": "calico", "nodes": "10.0.0.0/22"},
            "provider": {"type": "metal",
                "infrastructureConfig": {"apiVersion": API, "kind": "InfrastructureConfig", "partitionID": "p1", "projectID": "p",
                    "firewall": {"size": "c1", "image": "", "networks": ["internet"],
                                 "rateLimits": [{"networkID": "internet", "rateLimit": 10}],
                                 "egressRules": [{"networkID": "internet", "ips": ["1.2.3.4"]}]}},
                "controlPlaneConfig": {"apiVersion": API, "kind": "ControlPlaneConfig", "networkAccessType": "restricted"},
                "workers": [{"name": "w", "machine": {"type": "c1", "image": {"name": "ubuntu", "version": "24.4.1"}}}]},
        },
    })
}

/// Every JSON pointer in `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

/// `base` with the subtree at a pointer chosen by `pick` replaced by `with`.
fn mutated(base: &Value, pick: prop::sample::Index, with: Value) -> Value {
    let mut all = Vec::new();
    pointers(base, String::new(), &mut all);
    let mut out = base.clone();
    if let Some(target) = out.pointer_mut(&all[pick.index(all.len())]) {
        *target = with;
    }
    out
}

fn envelope(
    group: &str,
    version: &str,
    kind: &str,
    operation: &str,
    object: Value,
    old: Option<Value>,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": group, "version": version, "kind": kind},
                    "resource": {"group": group, "version": version, "resource": "r"},
                    "namespace": "shoot--p--s", "operation": operation, "userInfo": {},
                    "object": object, "oldObject": old}
    }))
    .unwrap()
}

fn given() -> Given {
    let mut given = Given::default();
    given
        .profiles
        .insert(ProfileRef::CloudProfile("metal".into()), profile().into());
    given.clusters.insert(
        "shoot--p--s".into(),
        json!({"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster", "metadata": {"name": "shoot--p--s"},
               "spec": {"shoot": shoot(), "cloudProfile": profile(), "seed": {}}}).into(),
    );
    given
}

/// Every webhook's answer to `body`, or the decoder's refusal; panics on a 500.
fn answer_all(body: &[u8]) {
    let Ok(review) = review::decode(body) else {
        return;
    };
    let objects = given();
    let seed_config = SeedConfig::default();
    let answers = [
        block_on(garden::validate(&review, &objects)),
        garden::validate_secret(&review),
        block_on(garden::mutate(&review, &objects, &Defaults::default())),
        block_on(seed::mutate(
            Webhook::ControlPlane,
            &review,
            &objects,
            &seed_config,
        )),
        block_on(seed::mutate(
            Webhook::SeedProvider,
            &review,
            &objects,
            &seed_config,
        )),
        block_on(seed::mutate(
            Webhook::Shoot,
            &review,
            &objects,
            &seed_config,
        )),
    ];
    for answer in answers {
        assert!(!matches!(answer, Answer::Unavailable(_)), "{answer:?}");
        let response = review::respond(&review, answer);
        assert_ne!(response["response"]["status"]["code"], 500, "{response}");
    }
    let _: &Review = &review;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = review::decode(&bytes);
    }

    #[test]
    fn arbitrary_objects_get_an_answer(object in arb_json(), old in proptest::option::of(arb_json())) {
        for (group, version, kind) in [
            ("core.gardener.cloud", "v1beta1", "Shoot"), ("core.gardener.cloud", "v1beta1", "CloudProfile"),
            ("core.gardener.cloud", "v1beta1", "SecretBinding"), ("security.gardener.cloud", "v1alpha1", "CredentialsBinding"),
            ("", "v1", "Secret"), ("apps", "v1", "Deployment"), ("", "v1", "ConfigMap"),
            ("extensions.gardener.cloud", "v1alpha1", "OperatingSystemConfig"), ("druid.gardener.cloud", "v1alpha1", "Etcd"),
            ("apps", "v1", "DaemonSet"),
        ] {
            let operation = if old.is_some() { "UPDATE" } else { "CREATE" };
            answer_all(&envelope(group, version, kind, operation, object.clone(), old.clone()));
        }
    }

    #[test]
    fn shoots_broken_anywhere_get_an_answer(pick in any::<prop::sample::Index>(), with in arb_json(), update in any::<bool>()) {
        let broken = mutated(&shoot(), pick, with);
        let old = update.then(shoot);
        let operation = if update { "UPDATE" } else { "CREATE" };
        answer_all(&envelope("core.gardener.cloud", "v1beta1", "Shoot", operation, broken.clone(), old));
        let _ = default_shoot(&broken, &profile(), &Defaults::default());
    }

    #[test]
    fn profiles_broken_anywhere_get_an_answer(pick in any::<prop::sample::Index>(), with in arb_json()) {
        let broken = mutated(&profile(), pick, with);
        answer_all(&envelope("core.gardener.cloud", "v1beta1", "CloudProfile", "UPDATE", broken.clone(), Some(profile())));
        let _ = default_shoot(&shoot(), &broken, &Defaults::default());
    }

    #[test]
    fn provider_configs_decode_or_say_why(raw in arb_json()) {
        let path = Path::new("spec").child("providerConfig");
        let _ = decode::<InfrastructureConfig>(&raw, "InfrastructureConfig", &path);
        let _ = decode::<ControlPlaneConfig>(&raw, "ControlPlaneConfig", &path);
        let _ = decode::<CloudProfileConfig>(&raw, "CloudProfileConfig", &path);
    }

    #[test]
    fn seed_objects_broken_anywhere_are_mutated_or_refused(object in arb_json()) {
        let config = SeedConfig::default();
        let context = Context { old: None, cluster: None, cloudprovider_data: None, config: &config };
        for webhook in [Webhook::ControlPlane, Webhook::SeedProvider, Webhook::Shoot] {
            let _ = mutation::mutate(webhook, &object, &context);
        }
    }
}
