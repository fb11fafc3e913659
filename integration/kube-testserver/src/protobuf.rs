//! `application/vnd.kubernetes.protobuf`: the envelope (`k8s\0` then a `runtime.Unknown`),
//! content negotiation, and conversion between the stored JSON and the `k8s-pb` messages of the
//! built-in kinds that have one here. Custom resources never speak protobuf, as upstream.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value, json};

use crate::kinds::{Kind, RBAC_GROUP};
use crate::status::{ApiError, ApiResult};

pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
pub const MAGIC: &[u8; 4] = b"k8s\x00";

const EVENTS_GROUP: &str = "events.k8s.io";
const COORDINATION_GROUP: &str = "coordination.k8s.io";

/// The encoding of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

/// Picks the response format from an `Accept` header, as the apiserver does: the highest
/// q-value wins, then the more specific range (`application/json` over `application/*` over
/// `*/*`), then the one listed first. `*/*` and `application/*` mean JSON, the default.
/// Ranges with parameters other than `q` (`as=Table`) are not plain objects and are skipped.
/// When `protobuf` is false (custom resources, kinds without a message here), JSON.
pub fn negotiate(accept: &str, protobuf: bool) -> Format {
    if !protobuf {
        return Format::Json;
    }
    // (q, specificity, -position) of the best range for each format.
    let mut best_json: Option<(f32, u8, i64)> = None;
    let mut best_pb: Option<(f32, u8, i64)> = None;
    for (position, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut q = 1.0f32;
        let mut plain = true;
        for param in parts {
            match param.split_once('=') {
                Some((k, v)) if k.trim() == "q" => q = v.trim().parse().unwrap_or(0.0),
                Some(_) => plain = false,
                None => {}
            }
        }
        if !plain || q <= 0.0 {
            continue;
        }
        let rank = (q, 0u8, -(position as i64));
        let (slot, specificity) = match media.as_str() {
            PROTOBUF => (&mut best_pb, 2),
            "application/json" => (&mut best_json, 2),
            "application/*" => (&mut best_json, 1),
            "*/*" => (&mut best_json, 0),
            _ => continue,
        };
        let rank = (rank.0, specificity, rank.2);
        if slot.is_none_or(|best| better(rank, best)) {
            *slot = Some(rank);
        }
    }
    match (best_pb, best_json) {
        (Some(pb), Some(js)) if better(pb, js) => Format::Protobuf,
        (Some(_), None) => Format::Protobuf,
        _ => Format::Json,
    }
}

fn better(a: (f32, u8, i64), b: (f32, u8, i64)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && (a.1 > b.1 || (a.1 == b.1 && a.2 > b.2)))
}

/// Wraps an object's message in the envelope.
pub fn encode_envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    unknown.encode(&mut out).expect("a Vec grows");
    out
}

/// Opens the envelope: `(apiVersion, kind, raw)`.
pub fn decode_envelope(body: &[u8]) -> ApiResult<(String, String, Vec<u8>)> {
    let rest = body.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request("the protobuf body does not start with the k8s\\x00 prefix")
    })?;
    let unknown = Unknown::decode(rest)
        .map_err(|e| ApiError::bad_request(format!("the protobuf body is not valid: {e}")))?;
    if unknown
        .content_encoding
        .as_deref()
        .is_some_and(|e| !e.is_empty())
    {
        return Err(ApiError::bad_request(
            "protobuf bodies with a content encoding are not supported",
        ));
    }
    let type_meta = unknown.type_meta.unwrap_or_default();
    Ok((
        type_meta.api_version.unwrap_or_default(),
        type_meta.kind.unwrap_or_default(),
        unknown.raw.unwrap_or_default(),
    ))
}

/// Whether objects of this kind have a protobuf message here.
pub fn supports(kind: &Kind) -> bool {
    kind.crd.is_none()
        && kind.version == "v1"
        && match kind.group.as_str() {
            "" => matches!(
                kind.kind.as_str(),
                "Namespace"
                    | "ConfigMap"
                    | "Secret"
                    | "ServiceAccount"
                    | "Service"
                    | "Node"
                    | "Endpoints"
                    | "Event"
            ),
            EVENTS_GROUP => kind.kind == "Event",
            COORDINATION_GROUP => kind.kind == "Lease",
            RBAC_GROUP => matches!(
                kind.kind.as_str(),
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
            ),
            _ => false,
        }
}

/// A protobuf request body for `kind`, as the JSON the store keeps.
pub fn decode_object(kind: &Kind, body: &[u8]) -> ApiResult<Value> {
    if !supports(kind) {
        return Err(ApiError::unsupported_media_type_because(
            PROTOBUF,
            &if kind.crd.is_some() {
                format!(
                    "custom resources ({}) do not support protobuf; send application/json",
                    kind.api_version()
                )
            } else {
                format!(
                    "kube-testserver has no protobuf message for {} {}; send application/json",
                    kind.api_version(),
                    kind.kind
                )
            },
        ));
    }
    let (api_version, type_kind, raw) = decode_envelope(body)?;
    if type_kind != kind.kind || (!api_version.is_empty() && api_version != kind.api_version()) {
        return Err(ApiError::bad_request(format!(
            "the body is a {api_version} {type_kind}, not a {} {}",
            kind.api_version(),
            kind.kind
        )));
    }
    let invalid = |e: prost::DecodeError| {
        ApiError::bad_request(format!("the protobuf {} is not valid: {e}", kind.kind))
    };
    let mut object = match kind.kind.as_str() {
        "Namespace" => namespace_json(core::Namespace::decode(raw.as_slice()).map_err(invalid)?),
        "ConfigMap" => configmap_json(core::ConfigMap::decode(raw.as_slice()).map_err(invalid)?),
        "Secret" => secret_json(core::Secret::decode(raw.as_slice()).map_err(invalid)?),
        "Service" => service_json(core::Service::decode(raw.as_slice()).map_err(invalid)?),
        "ServiceAccount" => {
            serviceaccount_json(core::ServiceAccount::decode(raw.as_slice()).map_err(invalid)?)
        }
        "Node" => node_json(core::Node::decode(raw.as_slice()).map_err(invalid)?),
        "Endpoints" => endpoints_json(core::Endpoints::decode(raw.as_slice()).map_err(invalid)?),
        "Event" if kind.group == EVENTS_GROUP => {
            event_json(events::Event::decode(raw.as_slice()).map_err(invalid)?)
        }
        "Event" => core_event_json(core::Event::decode(raw.as_slice()).map_err(invalid)?),
        "Lease" => lease_json(coordination::Lease::decode(raw.as_slice()).map_err(invalid)?),
        "Role" => {
            let role = rbac::Role::decode(raw.as_slice()).map_err(invalid)?;
            role_json(role.metadata, role.rules, None)
        }
        "ClusterRole" => {
            let role = rbac::ClusterRole::decode(raw.as_slice()).map_err(invalid)?;
            role_json(role.metadata, role.rules, role.aggregation_rule)
        }
        "RoleBinding" => {
            let binding = rbac::RoleBinding::decode(raw.as_slice()).map_err(invalid)?;
            binding_json(binding.metadata, binding.subjects, binding.role_ref)
        }
        _ => {
            let binding = rbac::ClusterRoleBinding::decode(raw.as_slice()).map_err(invalid)?;
            binding_json(binding.metadata, binding.subjects, binding.role_ref)
        }
    };
    let mut head = Map::new();
    head.insert("apiVersion".into(), json!(kind.api_version()));
    head.insert("kind".into(), json!(kind.kind));
    head.append(&mut object);
    Ok(Value::Object(head))
}

/// An object (or, with `list`, a `<Kind>List`) as an enveloped protobuf body; `None` when the
/// kind has no message here.
pub fn encode_object(kind: &Kind, value: &Value, list: bool) -> Option<Vec<u8>> {
    if !supports(kind) {
        return None;
    }
    let raw = if list {
        let metadata = Some(list_meta(&value["metadata"]));
        let items = value["items"].as_array().cloned().unwrap_or_default();
        match kind.kind.as_str() {
            "Namespace" => core::NamespaceList {
                metadata,
                items: items.iter().map(namespace_pb).collect(),
            }
            .encode_to_vec(),
            "ConfigMap" => core::ConfigMapList {
                metadata,
                items: items.iter().map(configmap_pb).collect(),
            }
            .encode_to_vec(),
            "Secret" => core::SecretList {
                metadata,
                items: items.iter().map(secret_pb).collect(),
            }
            .encode_to_vec(),
            "Service" => core::ServiceList {
                metadata,
                items: items.iter().map(service_pb).collect(),
            }
            .encode_to_vec(),
            "ServiceAccount" => core::ServiceAccountList {
                metadata,
                items: items.iter().map(serviceaccount_pb).collect(),
            }
            .encode_to_vec(),
            "Node" => core::NodeList {
                metadata,
                items: items.iter().map(node_pb).collect(),
            }
            .encode_to_vec(),
            "Endpoints" => core::EndpointsList {
                metadata,
                items: items.iter().map(endpoints_pb).collect(),
            }
            .encode_to_vec(),
            "Event" if kind.group == EVENTS_GROUP => events::EventList {
                metadata,
                items: items.iter().map(event_pb).collect(),
            }
            .encode_to_vec(),
            "Event" => core::EventList {
                metadata,
                items: items.iter().map(core_event_pb).collect(),
            }
            .encode_to_vec(),
            "Lease" => coordination::LeaseList {
                metadata,
                items: items.iter().map(lease_pb).collect(),
            }
            .encode_to_vec(),
            "Role" => rbac::RoleList {
                metadata,
                items: items.iter().map(role_pb).collect(),
            }
            .encode_to_vec(),
            "ClusterRole" => rbac::ClusterRoleList {
                metadata,
                items: items.iter().map(cluster_role_pb).collect(),
            }
            .encode_to_vec(),
            "RoleBinding" => rbac::RoleBindingList {
                metadata,
                items: items.iter().map(role_binding_pb).collect(),
            }
            .encode_to_vec(),
            _ => rbac::ClusterRoleBindingList {
                metadata,
                items: items.iter().map(cluster_role_binding_pb).collect(),
            }
            .encode_to_vec(),
        }
    } else {
        match kind.kind.as_str() {
            "Namespace" => namespace_pb(value).encode_to_vec(),
            "ConfigMap" => configmap_pb(value).encode_to_vec(),
            "Secret" => secret_pb(value).encode_to_vec(),
            "ServiceAccount" => serviceaccount_pb(value).encode_to_vec(),
            "Service" => service_pb(value).encode_to_vec(),
            "Node" => node_pb(value).encode_to_vec(),
            "Endpoints" => endpoints_pb(value).encode_to_vec(),
            "Event" if kind.group == EVENTS_GROUP => event_pb(value).encode_to_vec(),
            "Event" => core_event_pb(value).encode_to_vec(),
            "Lease" => lease_pb(value).encode_to_vec(),
            "Role" => role_pb(value).encode_to_vec(),
            "ClusterRole" => cluster_role_pb(value).encode_to_vec(),
            "RoleBinding" => role_binding_pb(value).encode_to_vec(),
            _ => cluster_role_binding_pb(value).encode_to_vec(),
        }
    };
    let type_kind = if list {
        format!("{}List", kind.kind)
    } else {
        kind.kind.clone()
    };
    Some(encode_envelope(&kind.api_version(), &type_kind, raw))
}

/// A `meta/v1 Status` (as [`ApiError::to_status`] renders it) as an enveloped protobuf body.
pub fn encode_status(status: &Value) -> Vec<u8> {
    let details = status.get("details").map(|d| meta::StatusDetails {
        name: text(&d["name"]),
        group: text(&d["group"]),
        kind: text(&d["kind"]),
        uid: text(&d["uid"]),
        causes: d["causes"]
            .as_array()
            .map(|causes| {
                causes
                    .iter()
                    .map(|c| meta::StatusCause {
                        reason: text(&c["reason"]),
                        message: text(&c["message"]),
                        field: text(&c["field"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        retry_after_seconds: d["retryAfterSeconds"].as_i64().map(|n| n as i32),
    });
    let message = meta::Status {
        metadata: Some(list_meta(&status["metadata"])),
        status: text(&status["status"]),
        message: text(&status["message"]),
        reason: text(&status["reason"]),
        details,
        code: status["code"].as_i64().map(|n| n as i32),
    };
    encode_envelope("v1", "Status", message.encode_to_vec())
}

/// A protobuf `meta/v1 DeleteOptions` body, as the JSON a client would have sent.
pub fn decode_delete_options(body: &[u8]) -> ApiResult<Value> {
    let (_, kind, raw) = decode_envelope(body)?;
    if kind != "DeleteOptions" {
        return Err(ApiError::bad_request(format!(
            "the body is a {kind}, not DeleteOptions"
        )));
    }
    let options = meta::DeleteOptions::decode(raw.as_slice()).map_err(|e| {
        ApiError::bad_request(format!("the protobuf DeleteOptions is not valid: {e}"))
    })?;
    let preconditions = options.preconditions.unwrap_or_default();
    Ok(json!({
        "preconditions": {
            "uid": preconditions.uid,
            "resourceVersion": preconditions.resource_version,
        },
        "dryRun": options.dry_run,
        "propagationPolicy": options.propagation_policy,
    }))
}

// JSON → protobuf.

fn text(v: &Value) -> Option<String> {
    v.as_str().map(String::from)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(text).collect())
        .unwrap_or_default()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

fn bytes_map(v: &Value) -> BTreeMap<String, Vec<u8>> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), BASE64.decode(v.as_str()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn time_pb(v: &Value) -> Option<meta::Time> {
    let at = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(meta::Time {
        seconds: Some(at.timestamp()),
        nanos: Some(0),
    })
}

fn list_meta(v: &Value) -> meta::ListMeta {
    meta::ListMeta {
        self_link: text(&v["selfLink"]),
        resource_version: text(&v["resourceVersion"]),
        r#continue: text(&v["continue"]),
        remaining_item_count: v["remainingItemCount"].as_i64(),
    }
}

fn object_meta(v: &Value) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: text(&v["name"]),
        generate_name: text(&v["generateName"]),
        namespace: text(&v["namespace"]),
        self_link: text(&v["selfLink"]),
        uid: text(&v["uid"]),
        resource_version: text(&v["resourceVersion"]),
        generation: v["generation"].as_i64(),
        creation_timestamp: time_pb(&v["creationTimestamp"]),
        deletion_timestamp: time_pb(&v["deletionTimestamp"]),
        deletion_grace_period_seconds: v["deletionGracePeriodSeconds"].as_i64(),
        labels: string_map(&v["labels"]),
        annotations: string_map(&v["annotations"]),
        owner_references: v["ownerReferences"]
            .as_array()
            .map(|refs| {
                refs.iter()
                    .map(|r| meta::OwnerReference {
                        api_version: text(&r["apiVersion"]),
                        kind: text(&r["kind"]),
                        name: text(&r["name"]),
                        uid: text(&r["uid"]),
                        controller: r["controller"].as_bool(),
                        block_owner_deletion: r["blockOwnerDeletion"].as_bool(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        finalizers: strings(&v["finalizers"]),
        managed_fields: Vec::new(),
    }
}

fn namespace_pb(v: &Value) -> core::Namespace {
    core::Namespace {
        metadata: Some(object_meta(&v["metadata"])),
        spec: Some(core::NamespaceSpec {
            finalizers: strings(&v["spec"]["finalizers"]),
        }),
        status: Some(core::NamespaceStatus {
            phase: text(&v["status"]["phase"]),
            conditions: Vec::new(),
        }),
    }
}

fn configmap_pb(v: &Value) -> core::ConfigMap {
    core::ConfigMap {
        metadata: Some(object_meta(&v["metadata"])),
        immutable: v["immutable"].as_bool(),
        data: string_map(&v["data"]),
        binary_data: bytes_map(&v["binaryData"]),
    }
}

fn secret_pb(v: &Value) -> core::Secret {
    core::Secret {
        metadata: Some(object_meta(&v["metadata"])),
        immutable: v["immutable"].as_bool(),
        data: bytes_map(&v["data"]),
        string_data: string_map(&v["stringData"]),
        r#type: text(&v["type"]),
    }
}

fn serviceaccount_pb(v: &Value) -> core::ServiceAccount {
    let refs = |v: &Value| v.as_array().cloned().unwrap_or_default();
    core::ServiceAccount {
        metadata: Some(object_meta(&v["metadata"])),
        secrets: refs(&v["secrets"])
            .iter()
            .filter_map(object_reference_pb)
            .collect(),
        image_pull_secrets: refs(&v["imagePullSecrets"])
            .iter()
            .map(|r| core::LocalObjectReference {
                name: text(&r["name"]),
            })
            .collect(),
        automount_service_account_token: v["automountServiceAccountToken"].as_bool(),
    }
}

fn int(v: &Value) -> Option<i32> {
    v.as_i64().map(|n| n as i32)
}

fn service_pb(v: &Value) -> core::Service {
    let spec = &v["spec"];
    let array = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let status = &v["status"];
    core::Service {
        metadata: Some(object_meta(&v["metadata"])),
        spec: Some(core::ServiceSpec {
            ports: array(&spec["ports"])
                .iter()
                .map(|p| core::ServicePort {
                    name: text(&p["name"]),
                    protocol: text(&p["protocol"]),
                    app_protocol: text(&p["appProtocol"]),
                    port: int(&p["port"]),
                    target_port: match &p["targetPort"] {
                        Value::Number(n) => Some(IntOrString {
                            r#type: Some(0),
                            int_val: n.as_i64().map(|n| n as i32),
                            str_val: None,
                        }),
                        Value::String(s) => Some(IntOrString {
                            r#type: Some(1),
                            int_val: None,
                            str_val: Some(s.clone()),
                        }),
                        _ => None,
                    },
                    node_port: int(&p["nodePort"]),
                })
                .collect(),
            selector: string_map(&spec["selector"]),
            cluster_ip: text(&spec["clusterIP"]),
            cluster_ips: strings(&spec["clusterIPs"]),
            r#type: text(&spec["type"]),
            external_ips: strings(&spec["externalIPs"]),
            session_affinity: text(&spec["sessionAffinity"]),
            load_balancer_ip: text(&spec["loadBalancerIP"]),
            load_balancer_source_ranges: strings(&spec["loadBalancerSourceRanges"]),
            external_name: text(&spec["externalName"]),
            external_traffic_policy: text(&spec["externalTrafficPolicy"]),
            health_check_node_port: int(&spec["healthCheckNodePort"]),
            publish_not_ready_addresses: spec["publishNotReadyAddresses"].as_bool(),
            session_affinity_config: spec["sessionAffinityConfig"].is_object().then(|| {
                core::SessionAffinityConfig {
                    client_ip: spec["sessionAffinityConfig"]["clientIP"]
                        .is_object()
                        .then(|| core::ClientIpConfig {
                            timeout_seconds: int(
                                &spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
                            ),
                        }),
                }
            }),
            ip_families: strings(&spec["ipFamilies"]),
            ip_family_policy: text(&spec["ipFamilyPolicy"]),
            allocate_load_balancer_node_ports: spec["allocateLoadBalancerNodePorts"].as_bool(),
            load_balancer_class: text(&spec["loadBalancerClass"]),
            internal_traffic_policy: text(&spec["internalTrafficPolicy"]),
            traffic_distribution: text(&spec["trafficDistribution"]),
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus {
                ingress: array(&status["loadBalancer"]["ingress"])
                    .iter()
                    .map(|i| core::LoadBalancerIngress {
                        ip: text(&i["ip"]),
                        hostname: text(&i["hostname"]),
                        ip_mode: text(&i["ipMode"]),
                        ports: array(&i["ports"])
                            .iter()
                            .map(|p| core::PortStatus {
                                port: int(&p["port"]),
                                protocol: text(&p["protocol"]),
                                error: text(&p["error"]),
                            })
                            .collect(),
                    })
                    .collect(),
            }),
            conditions: array(&status["conditions"])
                .iter()
                .map(|c| meta::Condition {
                    r#type: text(&c["type"]),
                    status: text(&c["status"]),
                    observed_generation: c["observedGeneration"].as_i64(),
                    last_transition_time: time_pb(&c["lastTransitionTime"]),
                    reason: text(&c["reason"]),
                    message: text(&c["message"]),
                })
                .collect(),
        }),
    }
}

fn rules_pb(v: &Value) -> Vec<rbac::PolicyRule> {
    v.as_array()
        .map(|rules| {
            rules
                .iter()
                .map(|r| rbac::PolicyRule {
                    verbs: strings(&r["verbs"]),
                    api_groups: strings(&r["apiGroups"]),
                    resources: strings(&r["resources"]),
                    resource_names: strings(&r["resourceNames"]),
                    non_resource_ur_ls: strings(&r["nonResourceURLs"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn label_selector_pb(v: &Value) -> meta::LabelSelector {
    meta::LabelSelector {
        match_labels: string_map(&v["matchLabels"]),
        match_expressions: v["matchExpressions"]
            .as_array()
            .map(|exprs| {
                exprs
                    .iter()
                    .map(|e| meta::LabelSelectorRequirement {
                        key: text(&e["key"]),
                        operator: text(&e["operator"]),
                        values: strings(&e["values"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn subjects_pb(v: &Value) -> Vec<rbac::Subject> {
    v.as_array()
        .map(|subjects| {
            subjects
                .iter()
                .map(|s| rbac::Subject {
                    kind: text(&s["kind"]),
                    api_group: text(&s["apiGroup"]),
                    name: text(&s["name"]),
                    namespace: text(&s["namespace"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn role_ref_pb(v: &Value) -> Option<rbac::RoleRef> {
    v.is_object().then(|| rbac::RoleRef {
        api_group: text(&v["apiGroup"]),
        kind: text(&v["kind"]),
        name: text(&v["name"]),
    })
}

fn role_pb(v: &Value) -> rbac::Role {
    rbac::Role {
        metadata: Some(object_meta(&v["metadata"])),
        rules: rules_pb(&v["rules"]),
    }
}

fn cluster_role_pb(v: &Value) -> rbac::ClusterRole {
    rbac::ClusterRole {
        metadata: Some(object_meta(&v["metadata"])),
        rules: rules_pb(&v["rules"]),
        aggregation_rule: v["aggregationRule"]
            .is_object()
            .then(|| rbac::AggregationRule {
                cluster_role_selectors: v["aggregationRule"]["clusterRoleSelectors"]
                    .as_array()
                    .map(|sels| sels.iter().map(label_selector_pb).collect())
                    .unwrap_or_default(),
            }),
    }
}

fn role_binding_pb(v: &Value) -> rbac::RoleBinding {
    rbac::RoleBinding {
        metadata: Some(object_meta(&v["metadata"])),
        subjects: subjects_pb(&v["subjects"]),
        role_ref: role_ref_pb(&v["roleRef"]),
    }
}

fn cluster_role_binding_pb(v: &Value) -> rbac::ClusterRoleBinding {
    rbac::ClusterRoleBinding {
        metadata: Some(object_meta(&v["metadata"])),
        subjects: subjects_pb(&v["subjects"]),
        role_ref: role_ref_pb(&v["roleRef"]),
    }
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Unlike `Time`, `MicroTime` keeps the fraction (to the microsecond).
fn micro_time_pb(v: &Value) -> Option<meta::MicroTime> {
    let at = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(meta::MicroTime {
        seconds: Some(at.timestamp()),
        nanos: Some(at.timestamp_subsec_micros() as i32 * 1000),
    })
}

fn object_reference_pb(v: &Value) -> Option<core::ObjectReference> {
    v.is_object().then(|| core::ObjectReference {
        kind: text(&v["kind"]),
        namespace: text(&v["namespace"]),
        name: text(&v["name"]),
        uid: text(&v["uid"]),
        api_version: text(&v["apiVersion"]),
        resource_version: text(&v["resourceVersion"]),
        field_path: text(&v["fieldPath"]),
    })
}

/// Quantities are strings, but JSON clients may write plain numbers (`"pods": 110`).
fn quantities_pb(v: &Value) -> BTreeMap<String, Quantity> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, q)| {
                    let string = match q {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return None,
                    };
                    Some((
                        k.clone(),
                        Quantity {
                            string: Some(string),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn node_pb(v: &Value) -> core::Node {
    let spec = &v["spec"];
    core::Node {
        metadata: Some(object_meta(&v["metadata"])),
        spec: Some(core::NodeSpec {
            pod_cidr: text(&spec["podCIDR"]),
            pod_cid_rs: strings(&spec["podCIDRs"]),
            provider_id: text(&spec["providerID"]),
            unschedulable: spec["unschedulable"].as_bool(),
            taints: items(&spec["taints"])
                .iter()
                .map(|t| core::Taint {
                    key: text(&t["key"]),
                    value: text(&t["value"]),
                    effect: text(&t["effect"]),
                    time_added: time_pb(&t["timeAdded"]),
                })
                .collect(),
            config_source: None,
            external_id: text(&spec["externalID"]),
        }),
        status: Some(node_status_pb(&v["status"])),
    }
}

/// Dynamic kubelet config, runtime handlers and features are not kept.
fn node_status_pb(s: &Value) -> core::NodeStatus {
    let kubelet = &s["daemonEndpoints"]["kubeletEndpoint"];
    core::NodeStatus {
        capacity: quantities_pb(&s["capacity"]),
        allocatable: quantities_pb(&s["allocatable"]),
        phase: text(&s["phase"]),
        conditions: items(&s["conditions"])
            .iter()
            .map(|c| core::NodeCondition {
                r#type: text(&c["type"]),
                status: text(&c["status"]),
                last_heartbeat_time: time_pb(&c["lastHeartbeatTime"]),
                last_transition_time: time_pb(&c["lastTransitionTime"]),
                reason: text(&c["reason"]),
                message: text(&c["message"]),
            })
            .collect(),
        addresses: items(&s["addresses"])
            .iter()
            .map(|a| core::NodeAddress {
                r#type: text(&a["type"]),
                address: text(&a["address"]),
            })
            .collect(),
        daemon_endpoints: s["daemonEndpoints"]
            .is_object()
            .then(|| core::NodeDaemonEndpoints {
                kubelet_endpoint: kubelet.is_object().then(|| core::DaemonEndpoint {
                    port: int(&kubelet["Port"]),
                }),
            }),
        node_info: s["nodeInfo"]
            .is_object()
            .then(|| node_info_pb(&s["nodeInfo"])),
        images: items(&s["images"])
            .iter()
            .map(|i| core::ContainerImage {
                names: strings(&i["names"]),
                size_bytes: i["sizeBytes"].as_i64(),
            })
            .collect(),
        volumes_in_use: strings(&s["volumesInUse"]),
        volumes_attached: items(&s["volumesAttached"])
            .iter()
            .map(|a| core::AttachedVolume {
                name: text(&a["name"]),
                device_path: text(&a["devicePath"]),
            })
            .collect(),
        ..Default::default()
    }
}

fn node_info_pb(i: &Value) -> core::NodeSystemInfo {
    core::NodeSystemInfo {
        machine_id: text(&i["machineID"]),
        system_uuid: text(&i["systemUUID"]),
        boot_id: text(&i["bootID"]),
        kernel_version: text(&i["kernelVersion"]),
        os_image: text(&i["osImage"]),
        container_runtime_version: text(&i["containerRuntimeVersion"]),
        kubelet_version: text(&i["kubeletVersion"]),
        kube_proxy_version: text(&i["kubeProxyVersion"]),
        operating_system: text(&i["operatingSystem"]),
        architecture: text(&i["architecture"]),
        swap: None,
    }
}

fn endpoints_pb(v: &Value) -> core::Endpoints {
    let addresses = |v: &Value| -> Vec<core::EndpointAddress> {
        items(v)
            .iter()
            .map(|a| core::EndpointAddress {
                ip: text(&a["ip"]),
                hostname: text(&a["hostname"]),
                node_name: text(&a["nodeName"]),
                target_ref: object_reference_pb(&a["targetRef"]),
            })
            .collect()
    };
    core::Endpoints {
        metadata: Some(object_meta(&v["metadata"])),
        subsets: items(&v["subsets"])
            .iter()
            .map(|s| core::EndpointSubset {
                addresses: addresses(&s["addresses"]),
                not_ready_addresses: addresses(&s["notReadyAddresses"]),
                ports: items(&s["ports"])
                    .iter()
                    .map(|p| core::EndpointPort {
                        name: text(&p["name"]),
                        port: int(&p["port"]),
                        protocol: text(&p["protocol"]),
                        app_protocol: text(&p["appProtocol"]),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn event_source_pb(v: &Value) -> Option<core::EventSource> {
    v.is_object().then(|| core::EventSource {
        component: text(&v["component"]),
        host: text(&v["host"]),
    })
}

/// core/v1 Event.
fn core_event_pb(v: &Value) -> core::Event {
    let series = &v["series"];
    core::Event {
        metadata: Some(object_meta(&v["metadata"])),
        involved_object: object_reference_pb(&v["involvedObject"]),
        reason: text(&v["reason"]),
        message: text(&v["message"]),
        source: event_source_pb(&v["source"]),
        first_timestamp: time_pb(&v["firstTimestamp"]),
        last_timestamp: time_pb(&v["lastTimestamp"]),
        count: int(&v["count"]),
        r#type: text(&v["type"]),
        event_time: micro_time_pb(&v["eventTime"]),
        series: series.is_object().then(|| core::EventSeries {
            count: int(&series["count"]),
            last_observed_time: micro_time_pb(&series["lastObservedTime"]),
        }),
        action: text(&v["action"]),
        related: object_reference_pb(&v["related"]),
        reporting_component: text(&v["reportingComponent"]),
        reporting_instance: text(&v["reportingInstance"]),
    }
}

/// events.k8s.io/v1 Event.
fn event_pb(v: &Value) -> events::Event {
    let series = &v["series"];
    events::Event {
        metadata: Some(object_meta(&v["metadata"])),
        event_time: micro_time_pb(&v["eventTime"]),
        series: series.is_object().then(|| events::EventSeries {
            count: int(&series["count"]),
            last_observed_time: micro_time_pb(&series["lastObservedTime"]),
        }),
        reporting_controller: text(&v["reportingController"]),
        reporting_instance: text(&v["reportingInstance"]),
        action: text(&v["action"]),
        reason: text(&v["reason"]),
        regarding: object_reference_pb(&v["regarding"]),
        related: object_reference_pb(&v["related"]),
        note: text(&v["note"]),
        r#type: text(&v["type"]),
        deprecated_source: event_source_pb(&v["deprecatedSource"]),
        deprecated_first_timestamp: time_pb(&v["deprecatedFirstTimestamp"]),
        deprecated_last_timestamp: time_pb(&v["deprecatedLastTimestamp"]),
        deprecated_count: int(&v["deprecatedCount"]),
    }
}

fn lease_pb(v: &Value) -> coordination::Lease {
    let spec = &v["spec"];
    coordination::Lease {
        metadata: Some(object_meta(&v["metadata"])),
        spec: Some(coordination::LeaseSpec {
            holder_identity: text(&spec["holderIdentity"]),
            lease_duration_seconds: int(&spec["leaseDurationSeconds"]),
            acquire_time: micro_time_pb(&spec["acquireTime"]),
            renew_time: micro_time_pb(&spec["renewTime"]),
            lease_transitions: int(&spec["leaseTransitions"]),
            strategy: text(&spec["strategy"]),
            preferred_holder: text(&spec["preferredHolder"]),
        }),
    }
}

// Protobuf → JSON: empty and unset fields are left out, as Go's `omitempty` does.

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(key.into(), value);
    }
}

fn non_empty(s: Option<String>) -> Option<Value> {
    s.filter(|s| !s.is_empty()).map(Value::String)
}

fn map_json<V: Clone + Into<Value>>(m: &BTreeMap<String, V>) -> Option<Value> {
    (!m.is_empty()).then(|| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
        )
    })
}

fn bytes_json(m: &BTreeMap<String, Vec<u8>>) -> Option<Value> {
    (!m.is_empty()).then(|| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), json!(BASE64.encode(v))))
                .collect(),
        )
    })
}

fn strings_json(v: Vec<String>) -> Option<Value> {
    (!v.is_empty()).then(|| json!(v))
}

/// Go marshals a zero `metav1.Time` as an empty message or as year 1; either is no time.
fn is_zero_time(seconds: i64) -> bool {
    seconds == 0 || seconds == -62_135_596_800
}

fn time_json(t: Option<meta::Time>) -> Option<Value> {
    let seconds = t?.seconds?;
    if is_zero_time(seconds) {
        return None;
    }
    let at = chrono::DateTime::from_timestamp(seconds, 0)?;
    Some(json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

fn object_meta_json(m: meta::ObjectMeta) -> Value {
    let mut out = Map::new();
    put(&mut out, "name", non_empty(m.name));
    put(&mut out, "generateName", non_empty(m.generate_name));
    put(&mut out, "namespace", non_empty(m.namespace));
    put(&mut out, "uid", non_empty(m.uid));
    put(&mut out, "resourceVersion", non_empty(m.resource_version));
    put(
        &mut out,
        "generation",
        m.generation.filter(|g| *g != 0).map(Value::from),
    );
    put(
        &mut out,
        "creationTimestamp",
        time_json(m.creation_timestamp),
    );
    put(
        &mut out,
        "deletionTimestamp",
        time_json(m.deletion_timestamp),
    );
    put(
        &mut out,
        "deletionGracePeriodSeconds",
        m.deletion_grace_period_seconds.map(Value::from),
    );
    put(&mut out, "labels", map_json(&m.labels));
    put(&mut out, "annotations", map_json(&m.annotations));
    if !m.owner_references.is_empty() {
        let refs: Vec<Value> = m
            .owner_references
            .into_iter()
            .map(|r| {
                let mut o = Map::new();
                put(&mut o, "apiVersion", r.api_version.map(Value::String));
                put(&mut o, "kind", r.kind.map(Value::String));
                put(&mut o, "name", r.name.map(Value::String));
                put(&mut o, "uid", r.uid.map(Value::String));
                put(&mut o, "controller", r.controller.map(Value::Bool));
                put(
                    &mut o,
                    "blockOwnerDeletion",
                    r.block_owner_deletion.map(Value::Bool),
                );
                Value::Object(o)
            })
            .collect();
        out.insert("ownerReferences".into(), json!(refs));
    }
    put(&mut out, "finalizers", strings_json(m.finalizers));
    Value::Object(out)
}

fn with_meta(metadata: Option<meta::ObjectMeta>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "metadata".into(),
        object_meta_json(metadata.unwrap_or_default()),
    );
    out
}

fn namespace_json(ns: core::Namespace) -> Map<String, Value> {
    let mut out = with_meta(ns.metadata);
    let spec = ns.spec.unwrap_or_default();
    if !spec.finalizers.is_empty() {
        out.insert("spec".into(), json!({"finalizers": spec.finalizers}));
    }
    if let Some(phase) = non_empty(ns.status.and_then(|s| s.phase)) {
        out.insert("status".into(), json!({"phase": phase}));
    }
    out
}

fn configmap_json(cm: core::ConfigMap) -> Map<String, Value> {
    let mut out = with_meta(cm.metadata);
    put(&mut out, "immutable", cm.immutable.map(Value::Bool));
    put(&mut out, "data", map_json(&cm.data));
    put(&mut out, "binaryData", bytes_json(&cm.binary_data));
    out
}

/// `stringData` is write-only: merged into `data`, as the apiserver's conversion does.
fn secret_json(secret: core::Secret) -> Map<String, Value> {
    let mut out = with_meta(secret.metadata);
    let mut data = secret.data;
    for (k, v) in secret.string_data {
        data.insert(k, v.into_bytes());
    }
    put(&mut out, "immutable", secret.immutable.map(Value::Bool));
    put(&mut out, "data", bytes_json(&data));
    put(&mut out, "type", non_empty(secret.r#type));
    out
}

fn serviceaccount_json(sa: core::ServiceAccount) -> Map<String, Value> {
    let mut out = with_meta(sa.metadata);
    if !sa.secrets.is_empty() {
        let secrets: Vec<Value> = sa.secrets.into_iter().map(object_reference_json).collect();
        out.insert("secrets".into(), json!(secrets));
    }
    if !sa.image_pull_secrets.is_empty() {
        let names: Vec<Value> = sa
            .image_pull_secrets
            .into_iter()
            .map(|r| json!({"name": r.name.unwrap_or_default()}))
            .collect();
        out.insert("imagePullSecrets".into(), json!(names));
    }
    put(
        &mut out,
        "automountServiceAccountToken",
        sa.automount_service_account_token.map(Value::Bool),
    );
    out
}

fn service_json(svc: core::Service) -> Map<String, Value> {
    let mut out = with_meta(svc.metadata);
    let spec = svc.spec.unwrap_or_default();
    let mut s = Map::new();
    if !spec.ports.is_empty() {
        let ports: Vec<Value> = spec
            .ports
            .into_iter()
            .map(|p| {
                let mut o = Map::new();
                put(&mut o, "name", non_empty(p.name));
                put(&mut o, "protocol", non_empty(p.protocol));
                put(&mut o, "appProtocol", p.app_protocol.map(Value::String));
                put(&mut o, "port", p.port.map(Value::from));
                let target = p.target_port.and_then(|t| match t.r#type {
                    Some(1) => t.str_val.map(Value::String),
                    _ => t.int_val.filter(|n| *n != 0).map(Value::from),
                });
                put(&mut o, "targetPort", target);
                put(
                    &mut o,
                    "nodePort",
                    p.node_port.filter(|n| *n != 0).map(Value::from),
                );
                Value::Object(o)
            })
            .collect();
        s.insert("ports".into(), json!(ports));
    }
    put(&mut s, "selector", map_json(&spec.selector));
    put(&mut s, "clusterIP", non_empty(spec.cluster_ip));
    put(&mut s, "clusterIPs", strings_json(spec.cluster_ips));
    put(&mut s, "type", non_empty(spec.r#type));
    put(&mut s, "externalIPs", strings_json(spec.external_ips));
    put(&mut s, "sessionAffinity", non_empty(spec.session_affinity));
    put(&mut s, "loadBalancerIP", non_empty(spec.load_balancer_ip));
    put(
        &mut s,
        "loadBalancerSourceRanges",
        strings_json(spec.load_balancer_source_ranges),
    );
    put(&mut s, "externalName", non_empty(spec.external_name));
    put(
        &mut s,
        "externalTrafficPolicy",
        non_empty(spec.external_traffic_policy),
    );
    put(
        &mut s,
        "healthCheckNodePort",
        spec.health_check_node_port
            .filter(|n| *n != 0)
            .map(Value::from),
    );
    put(
        &mut s,
        "publishNotReadyAddresses",
        spec.publish_not_ready_addresses
            .filter(|b| *b)
            .map(Value::Bool),
    );
    if let Some(config) = spec.session_affinity_config {
        let client_ip = config
            .client_ip
            .map(|c| json!({"timeoutSeconds": c.timeout_seconds}));
        s.insert(
            "sessionAffinityConfig".into(),
            match client_ip {
                Some(c) => json!({"clientIP": c}),
                None => json!({}),
            },
        );
    }
    put(&mut s, "ipFamilies", strings_json(spec.ip_families));
    put(
        &mut s,
        "ipFamilyPolicy",
        spec.ip_family_policy.map(Value::String),
    );
    put(
        &mut s,
        "allocateLoadBalancerNodePorts",
        spec.allocate_load_balancer_node_ports.map(Value::Bool),
    );
    put(
        &mut s,
        "loadBalancerClass",
        spec.load_balancer_class.map(Value::String),
    );
    put(
        &mut s,
        "internalTrafficPolicy",
        spec.internal_traffic_policy.map(Value::String),
    );
    put(
        &mut s,
        "trafficDistribution",
        spec.traffic_distribution.map(Value::String),
    );
    out.insert("spec".into(), Value::Object(s));
    // Status, for `/status` writes (`UpdateStatus`); the store ignores it elsewhere.
    let status = svc.status.unwrap_or_default();
    let ingress: Vec<Value> = status
        .load_balancer
        .unwrap_or_default()
        .ingress
        .into_iter()
        .map(|i| {
            let mut o = Map::new();
            put(&mut o, "ip", non_empty(i.ip));
            put(&mut o, "hostname", non_empty(i.hostname));
            put(&mut o, "ipMode", i.ip_mode.map(Value::String));
            if !i.ports.is_empty() {
                let ports: Vec<Value> = i
                    .ports
                    .into_iter()
                    .map(|p| {
                        let mut x = Map::new();
                        put(&mut x, "port", p.port.map(Value::from));
                        put(&mut x, "protocol", non_empty(p.protocol));
                        put(&mut x, "error", p.error.map(Value::String));
                        Value::Object(x)
                    })
                    .collect();
                o.insert("ports".into(), json!(ports));
            }
            Value::Object(o)
        })
        .collect();
    let mut st = Map::new();
    if !ingress.is_empty() {
        st.insert("loadBalancer".into(), json!({"ingress": ingress}));
    }
    if !status.conditions.is_empty() {
        let conditions: Vec<Value> = status
            .conditions
            .into_iter()
            .map(|c| {
                let mut o = Map::new();
                put(&mut o, "type", c.r#type.map(Value::String));
                put(&mut o, "status", c.status.map(Value::String));
                put(
                    &mut o,
                    "observedGeneration",
                    c.observed_generation.filter(|g| *g != 0).map(Value::from),
                );
                put(
                    &mut o,
                    "lastTransitionTime",
                    time_json(c.last_transition_time),
                );
                put(&mut o, "reason", c.reason.map(Value::String));
                put(&mut o, "message", c.message.map(Value::String));
                Value::Object(o)
            })
            .collect();
        st.insert("conditions".into(), json!(conditions));
    }
    if !st.is_empty() {
        out.insert("status".into(), Value::Object(st));
    }
    out
}

/// RBAC's `rules` is not `omitempty`: a role without rules reads `"rules": null`, which the
/// store accepts as no rules; here it is left out.
fn role_json(
    metadata: Option<meta::ObjectMeta>,
    rules: Vec<rbac::PolicyRule>,
    aggregation: Option<rbac::AggregationRule>,
) -> Map<String, Value> {
    let mut out = with_meta(metadata);
    if !rules.is_empty() {
        let rules: Vec<Value> = rules
            .into_iter()
            .map(|r| {
                let mut o = Map::new();
                o.insert("verbs".into(), json!(r.verbs));
                put(&mut o, "apiGroups", strings_json(r.api_groups));
                put(&mut o, "resources", strings_json(r.resources));
                put(&mut o, "resourceNames", strings_json(r.resource_names));
                put(
                    &mut o,
                    "nonResourceURLs",
                    strings_json(r.non_resource_ur_ls),
                );
                Value::Object(o)
            })
            .collect();
        out.insert("rules".into(), json!(rules));
    }
    if let Some(aggregation) = aggregation {
        let selectors: Vec<Value> = aggregation
            .cluster_role_selectors
            .into_iter()
            .map(|sel| {
                let mut o = Map::new();
                put(&mut o, "matchLabels", map_json(&sel.match_labels));
                if !sel.match_expressions.is_empty() {
                    let exprs: Vec<Value> = sel
                        .match_expressions
                        .into_iter()
                        .map(|e| {
                            let mut x = Map::new();
                            put(&mut x, "key", e.key.map(Value::String));
                            put(&mut x, "operator", e.operator.map(Value::String));
                            put(&mut x, "values", strings_json(e.values));
                            Value::Object(x)
                        })
                        .collect();
                    o.insert("matchExpressions".into(), json!(exprs));
                }
                Value::Object(o)
            })
            .collect();
        out.insert(
            "aggregationRule".into(),
            json!({"clusterRoleSelectors": selectors}),
        );
    }
    out
}

fn binding_json(
    metadata: Option<meta::ObjectMeta>,
    subjects: Vec<rbac::Subject>,
    role_ref: Option<rbac::RoleRef>,
) -> Map<String, Value> {
    let mut out = with_meta(metadata);
    if !subjects.is_empty() {
        let subjects: Vec<Value> = subjects
            .into_iter()
            .map(|s| {
                let mut o = Map::new();
                put(&mut o, "kind", s.kind.map(Value::String));
                put(&mut o, "apiGroup", non_empty(s.api_group));
                put(&mut o, "name", s.name.map(Value::String));
                put(&mut o, "namespace", non_empty(s.namespace));
                Value::Object(o)
            })
            .collect();
        out.insert("subjects".into(), json!(subjects));
    }
    if let Some(r) = role_ref {
        out.insert(
            "roleRef".into(),
            json!({"apiGroup": r.api_group.unwrap_or_default(), "kind": r.kind.unwrap_or_default(),
                   "name": r.name.unwrap_or_default()}),
        );
    }
    out
}

/// `MicroTime` reads with six fractional digits, as Go's `RFC3339Micro`.
fn micro_time_json(t: Option<meta::MicroTime>) -> Option<Value> {
    let t = t?;
    let seconds = t.seconds?;
    if is_zero_time(seconds) {
        return None;
    }
    let nanos = u32::try_from(t.nanos.unwrap_or(0)).ok()?;
    let at = chrono::DateTime::from_timestamp(seconds, nanos)?;
    Some(json!(
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    ))
}

fn object_reference_json(r: core::ObjectReference) -> Value {
    let mut o = Map::new();
    put(&mut o, "kind", non_empty(r.kind));
    put(&mut o, "namespace", non_empty(r.namespace));
    put(&mut o, "name", non_empty(r.name));
    put(&mut o, "uid", non_empty(r.uid));
    put(&mut o, "apiVersion", non_empty(r.api_version));
    put(&mut o, "resourceVersion", non_empty(r.resource_version));
    put(&mut o, "fieldPath", non_empty(r.field_path));
    Value::Object(o)
}

fn quantities_json(m: BTreeMap<String, Quantity>) -> Option<Value> {
    (!m.is_empty()).then(|| {
        Value::Object(
            m.into_iter()
                .map(|(k, q)| (k, json!(q.string.unwrap_or_default())))
                .collect(),
        )
    })
}

/// A list of objects, left out when empty.
fn list_json<T>(items: Vec<T>, each: impl Fn(T) -> Value) -> Option<Value> {
    (!items.is_empty()).then(|| Value::Array(items.into_iter().map(each).collect()))
}

/// Go always writes `spec`, even an empty one.
fn node_json(node: core::Node) -> Map<String, Value> {
    let mut out = with_meta(node.metadata);
    let spec = node.spec.unwrap_or_default();
    let mut s = Map::new();
    put(&mut s, "podCIDR", non_empty(spec.pod_cidr));
    put(&mut s, "podCIDRs", strings_json(spec.pod_cid_rs));
    put(&mut s, "providerID", non_empty(spec.provider_id));
    put(
        &mut s,
        "unschedulable",
        spec.unschedulable.filter(|u| *u).map(Value::Bool),
    );
    let taints = list_json(spec.taints, |t| {
        let mut o = Map::new();
        put(&mut o, "key", t.key.map(Value::String));
        put(&mut o, "value", non_empty(t.value));
        put(&mut o, "effect", t.effect.map(Value::String));
        put(&mut o, "timeAdded", time_json(t.time_added));
        Value::Object(o)
    });
    put(&mut s, "taints", taints);
    put(&mut s, "externalID", non_empty(spec.external_id));
    out.insert("spec".into(), Value::Object(s));
    // Status, for `/status` writes; the store ignores it elsewhere.
    let status = node_status_json(node.status.unwrap_or_default());
    if !status.is_empty() {
        out.insert("status".into(), Value::Object(status));
    }
    out
}

fn node_status_json(st: core::NodeStatus) -> Map<String, Value> {
    let mut s = Map::new();
    put(&mut s, "capacity", quantities_json(st.capacity));
    put(&mut s, "allocatable", quantities_json(st.allocatable));
    put(&mut s, "phase", non_empty(st.phase));
    let conditions = list_json(st.conditions, |c| {
        let mut o = Map::new();
        put(&mut o, "type", c.r#type.map(Value::String));
        put(&mut o, "status", c.status.map(Value::String));
        put(
            &mut o,
            "lastHeartbeatTime",
            time_json(c.last_heartbeat_time),
        );
        put(
            &mut o,
            "lastTransitionTime",
            time_json(c.last_transition_time),
        );
        put(&mut o, "reason", non_empty(c.reason));
        put(&mut o, "message", non_empty(c.message));
        Value::Object(o)
    });
    put(&mut s, "conditions", conditions);
    let addresses = list_json(
        st.addresses,
        |a| json!({"type": a.r#type.unwrap_or_default(), "address": a.address.unwrap_or_default()}),
    );
    put(&mut s, "addresses", addresses);
    // The kubelet port's JSON name really is `Port`.
    let endpoints = st.daemon_endpoints.map(|d| {
        let port = d.kubelet_endpoint.and_then(|k| k.port).unwrap_or(0);
        json!({"kubeletEndpoint": {"Port": port}})
    });
    put(&mut s, "daemonEndpoints", endpoints);
    put(&mut s, "nodeInfo", st.node_info.map(node_info_json));
    let images = list_json(st.images, |i| {
        let mut o = Map::new();
        put(&mut o, "names", strings_json(i.names));
        put(
            &mut o,
            "sizeBytes",
            i.size_bytes.filter(|n| *n != 0).map(Value::from),
        );
        Value::Object(o)
    });
    put(&mut s, "images", images);
    put(&mut s, "volumesInUse", strings_json(st.volumes_in_use));
    let attached = list_json(
        st.volumes_attached,
        |a| json!({"name": a.name.unwrap_or_default(), "devicePath": a.device_path.unwrap_or_default()}),
    );
    put(&mut s, "volumesAttached", attached);
    s
}

/// None of these is `omitempty` in Go: what was sent, even empty, is kept.
fn node_info_json(i: core::NodeSystemInfo) -> Value {
    let fields = [
        ("machineID", i.machine_id),
        ("systemUUID", i.system_uuid),
        ("bootID", i.boot_id),
        ("kernelVersion", i.kernel_version),
        ("osImage", i.os_image),
        ("containerRuntimeVersion", i.container_runtime_version),
        ("kubeletVersion", i.kubelet_version),
        ("kubeProxyVersion", i.kube_proxy_version),
        ("operatingSystem", i.operating_system),
        ("architecture", i.architecture),
    ];
    let mut o = Map::new();
    for (key, value) in fields {
        put(&mut o, key, value.map(Value::String));
    }
    Value::Object(o)
}

fn endpoints_json(ep: core::Endpoints) -> Map<String, Value> {
    let mut out = with_meta(ep.metadata);
    let address = |a: core::EndpointAddress| {
        let mut o = Map::new();
        put(&mut o, "ip", a.ip.map(Value::String));
        put(&mut o, "hostname", non_empty(a.hostname));
        put(&mut o, "nodeName", a.node_name.map(Value::String));
        put(&mut o, "targetRef", a.target_ref.map(object_reference_json));
        Value::Object(o)
    };
    let subsets = list_json(ep.subsets, |s| {
        let mut o = Map::new();
        put(&mut o, "addresses", list_json(s.addresses, address));
        put(
            &mut o,
            "notReadyAddresses",
            list_json(s.not_ready_addresses, address),
        );
        let ports = list_json(s.ports, |p| {
            let mut x = Map::new();
            put(&mut x, "name", non_empty(p.name));
            put(&mut x, "port", p.port.map(Value::from));
            put(&mut x, "protocol", non_empty(p.protocol));
            put(&mut x, "appProtocol", p.app_protocol.map(Value::String));
            Value::Object(x)
        });
        put(&mut o, "ports", ports);
        Value::Object(o)
    });
    put(&mut out, "subsets", subsets);
    out
}

/// Left out when empty, as Go's generated protobuf always carries it.
fn event_source_json(source: Option<core::EventSource>) -> Option<Value> {
    let source = source?;
    let mut o = Map::new();
    put(&mut o, "component", non_empty(source.component));
    put(&mut o, "host", non_empty(source.host));
    (!o.is_empty()).then_some(Value::Object(o))
}

fn series_json(count: Option<i32>, last_observed: Option<meta::MicroTime>) -> Value {
    let mut o = Map::new();
    put(&mut o, "count", count.map(Value::from));
    put(&mut o, "lastObservedTime", micro_time_json(last_observed));
    Value::Object(o)
}

/// core/v1 Event.
fn core_event_json(e: core::Event) -> Map<String, Value> {
    let mut out = with_meta(e.metadata);
    out.insert(
        "involvedObject".into(),
        object_reference_json(e.involved_object.unwrap_or_default()),
    );
    put(&mut out, "reason", non_empty(e.reason));
    put(&mut out, "message", non_empty(e.message));
    put(&mut out, "source", event_source_json(e.source));
    put(&mut out, "firstTimestamp", time_json(e.first_timestamp));
    put(&mut out, "lastTimestamp", time_json(e.last_timestamp));
    put(
        &mut out,
        "count",
        e.count.filter(|n| *n != 0).map(Value::from),
    );
    put(&mut out, "type", non_empty(e.r#type));
    put(&mut out, "eventTime", micro_time_json(e.event_time));
    let series = e.series.map(|s| series_json(s.count, s.last_observed_time));
    put(&mut out, "series", series);
    put(&mut out, "action", non_empty(e.action));
    put(&mut out, "related", e.related.map(object_reference_json));
    put(
        &mut out,
        "reportingComponent",
        non_empty(e.reporting_component),
    );
    put(
        &mut out,
        "reportingInstance",
        non_empty(e.reporting_instance),
    );
    out
}

/// events.k8s.io/v1 Event.
fn event_json(e: events::Event) -> Map<String, Value> {
    let mut out = with_meta(e.metadata);
    put(&mut out, "eventTime", micro_time_json(e.event_time));
    let series = e.series.map(|s| series_json(s.count, s.last_observed_time));
    put(&mut out, "series", series);
    put(
        &mut out,
        "reportingController",
        non_empty(e.reporting_controller),
    );
    put(
        &mut out,
        "reportingInstance",
        non_empty(e.reporting_instance),
    );
    put(&mut out, "action", non_empty(e.action));
    put(&mut out, "reason", non_empty(e.reason));
    let regarding = e
        .regarding
        .map(object_reference_json)
        .filter(|r| r.as_object().is_some_and(|o| !o.is_empty()));
    put(&mut out, "regarding", regarding);
    put(&mut out, "related", e.related.map(object_reference_json));
    put(&mut out, "note", non_empty(e.note));
    put(&mut out, "type", non_empty(e.r#type));
    put(
        &mut out,
        "deprecatedSource",
        event_source_json(e.deprecated_source),
    );
    put(
        &mut out,
        "deprecatedFirstTimestamp",
        time_json(e.deprecated_first_timestamp),
    );
    put(
        &mut out,
        "deprecatedLastTimestamp",
        time_json(e.deprecated_last_timestamp),
    );
    put(
        &mut out,
        "deprecatedCount",
        e.deprecated_count.filter(|n| *n != 0).map(Value::from),
    );
    out
}

/// Every spec field is a pointer in Go: what was sent is kept, zero or not.
fn lease_json(lease: coordination::Lease) -> Map<String, Value> {
    let mut out = with_meta(lease.metadata);
    let spec = lease.spec.unwrap_or_default();
    let mut s = Map::new();
    put(
        &mut s,
        "holderIdentity",
        spec.holder_identity.map(Value::String),
    );
    put(
        &mut s,
        "leaseDurationSeconds",
        spec.lease_duration_seconds.map(Value::from),
    );
    put(&mut s, "acquireTime", micro_time_json(spec.acquire_time));
    put(&mut s, "renewTime", micro_time_json(spec.renew_time));
    put(
        &mut s,
        "leaseTransitions",
        spec.lease_transitions.map(Value::from),
    );
    put(&mut s, "strategy", spec.strategy.map(Value::String));
    put(
        &mut s,
        "preferredHolder",
        spec.preferred_holder.map(Value::String),
    );
    out.insert("spec".into(), Value::Object(s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Kinds;

    fn kind(plural: &str) -> Kind {
        Kinds::builtin().find("", "v1", plural).unwrap().clone()
    }

    #[test]
    fn negotiation() {
        use Format::*;
        assert_eq!(negotiate("", true), Json);
        assert_eq!(negotiate("*/*", true), Json);
        assert_eq!(negotiate("application/json", true), Json);
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf, */*", true),
            Protobuf
        );
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf", true),
            Protobuf
        );
        // CRDs and kinds without a message: JSON when protobuf is merely preferred.
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf, */*", false),
            Json
        );
        assert_eq!(
            negotiate(
                "application/json, application/vnd.kubernetes.protobuf",
                true
            ),
            Json
        );
        assert_eq!(
            negotiate(
                "application/json;q=0.5, application/vnd.kubernetes.protobuf",
                true
            ),
            Protobuf
        );
        assert_eq!(
            negotiate(
                "application/vnd.kubernetes.protobuf;q=0.5, application/*",
                true
            ),
            Json
        );
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf;q=0, */*", true),
            Json
        );
        assert_eq!(
            negotiate(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json",
                true
            ),
            Json
        );
    }

    #[test]
    fn envelope_round_trip() {
        let body = encode_envelope("v1", "Secret", vec![1, 2, 3]);
        assert_eq!(&body[..4], b"k8s\x00");
        let (api_version, kind, raw) = decode_envelope(&body).unwrap();
        assert_eq!((api_version.as_str(), kind.as_str()), ("v1", "Secret"));
        assert_eq!(raw, vec![1, 2, 3]);
        assert_eq!(decode_envelope(b"{}").unwrap_err().code, 400);
        assert_eq!(decode_envelope(b"k8s\x00\xff\xff").unwrap_err().code, 400);
    }

    #[test]
    fn objects_round_trip() {
        let cases = [
            (
                "secrets",
                json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "s", "namespace": "default", "labels": {"a": "b"},
                        "uid": "u", "resourceVersion": "7", "creationTimestamp": "2026-01-02T03:04:05Z"},
                    "data": {"k": "dmFsdWU="}, "type": "Opaque"}),
            ),
            (
                "configmaps",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "namespace": "default", "finalizers": ["f"]},
                    "data": {"k": "v"}, "binaryData": {"b": "AAE="}, "immutable": true}),
            ),
            (
                "namespaces",
                json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "n", "annotations": {"x": "y"}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
            ),
            (
                "serviceaccounts",
                json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "sa", "namespace": "default", "ownerReferences": [
                        {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "u", "controller": true}]},
                    "imagePullSecrets": [{"name": "pull"}], "automountServiceAccountToken": false}),
            ),
        ];
        let rbac_cases = [
            (
                "clusterroles",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "agg"},
                    "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]},
                              {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                    "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"},
                        "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}]}}),
            ),
            (
                "rolebindings",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "b", "namespace": "default"},
                    "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                                 {"kind": "ServiceAccount", "name": "sa", "namespace": "default"}],
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}}),
            ),
        ];
        for (plural, object) in rbac_cases {
            let kind = Kinds::builtin()
                .find(RBAC_GROUP, "v1", plural)
                .unwrap()
                .clone();
            let body = encode_object(&kind, &object, false).unwrap();
            assert_eq!(decode_object(&kind, &body).unwrap(), object, "{plural}");
        }
        let service = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https", "nodePort": 30443},
                               {"protocol": "UDP", "port": 53, "targetPort": 5353}],
                     "selector": {"app": "web"}, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                     "type": "LoadBalancer", "sessionAffinity": "None", "externalTrafficPolicy": "Local",
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7", "ports": [{"port": 443, "protocol": "TCP"}]}]}}});
        let svc = kind("services");
        let body = encode_object(&svc, &service, false).unwrap();
        assert_eq!(decode_object(&svc, &body).unwrap(), service);
        for (plural, object) in cases {
            let kind = kind(plural);
            let body = encode_object(&kind, &object, false).unwrap();
            assert_eq!(decode_object(&kind, &body).unwrap(), object, "{plural}");
        }
    }

    #[test]
    fn newer_kinds_round_trip() {
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "providerID": "metal://m1",
                     "unschedulable": true, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule",
                                                        "timeAdded": "2026-12-06T10:00:00Z"}]},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": "3800m"},
                       "phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-12-06T10:00:00Z",
                                       "lastTransitionTime": "2026-12-06T09:00:00Z", "reason": "KubeletReady",
                                       "message": "ready"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"machineID": "m", "kubeletVersion": "v1.32.0", "architecture": "amd64"},
                       "images": [{"names": ["nginx:1"], "sizeBytes": 1000}],
                       "volumesInUse": ["kubernetes.io/csi/v"]}});
        let endpoints = json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "10.244.1.5", "nodeName": "n1",
                                        "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "default"}}],
                         "notReadyAddresses": [{"ip": "10.244.1.6", "hostname": "web-1"}],
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "appProtocol": "https"}]}]});
        let event = json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "n1", "apiVersion": "v1"},
            "reason": "Started", "message": "m", "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2026-12-06T10:00:00Z", "lastTimestamp": "2026-12-06T10:01:00Z",
            "count": 2, "type": "Normal", "eventTime": "2026-12-06T10:00:00.123456Z",
            "series": {"count": 3, "lastObservedTime": "2026-12-06T10:02:00.000001Z"},
            "action": "Start", "related": {"kind": "Pod", "name": "p"},
            "reportingComponent": "kubelet", "reportingInstance": "n1"});
        for (plural, object) in [("nodes", node), ("endpoints", endpoints), ("events", event)] {
            let kind = kind(plural);
            let body = encode_object(&kind, &object, false).unwrap();
            assert_eq!(decode_object(&kind, &body).unwrap(), object, "{plural}");
        }
        let new_event = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2026-12-06T10:00:00.123456Z",
            "series": {"count": 2, "lastObservedTime": "2026-12-06T10:05:00.500000Z"},
            "reportingController": "metal-mesh/controller", "reportingInstance": "c-1",
            "action": "Reconcile", "reason": "Synced",
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
            "related": {"kind": "Node", "name": "n1"}, "note": "n", "type": "Normal",
            "deprecatedSource": {"component": "c"}, "deprecatedFirstTimestamp": "2026-12-06T10:00:00Z",
            "deprecatedLastTimestamp": "2026-12-06T10:01:00Z", "deprecatedCount": 4});
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "l", "namespace": "kube-system"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                     "acquireTime": "2026-12-06T10:00:00.000000Z", "renewTime": "2026-12-06T10:00:10.654321Z",
                     "leaseTransitions": 0}});
        for (group, plural, object) in [
            (EVENTS_GROUP, "events", new_event),
            (COORDINATION_GROUP, "leases", lease),
        ] {
            let kind = Kinds::builtin().find(group, "v1", plural).unwrap().clone();
            let body = encode_object(&kind, &object, false).unwrap();
            assert_eq!(decode_object(&kind, &body).unwrap(), object, "{plural}");
        }
    }

    #[test]
    fn secret_string_data_merges_into_data() {
        let kind = kind("secrets");
        let raw = core::Secret {
            metadata: Some(meta::ObjectMeta {
                name: Some("s".into()),
                creation_timestamp: Some(meta::Time::default()),
                ..Default::default()
            }),
            string_data: [("k".to_string(), "value".to_string())].into(),
            ..Default::default()
        }
        .encode_to_vec();
        let object = decode_object(&kind, &encode_envelope("v1", "Secret", raw)).unwrap();
        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "data": {"k": "dmFsdWU="}})
        );
    }

    #[test]
    fn delete_options() {
        let raw = meta::DeleteOptions {
            preconditions: Some(meta::Preconditions {
                uid: Some("u".into()),
                resource_version: None,
            }),
            dry_run: vec!["All".into()],
            ..Default::default()
        }
        .encode_to_vec();
        let options =
            decode_delete_options(&encode_envelope("meta.k8s.io/v1", "DeleteOptions", raw))
                .unwrap();
        assert_eq!(options["preconditions"]["uid"], "u");
        assert_eq!(options["dryRun"], json!(["All"]));
    }

    #[test]
    fn refusals() {
        let cm = kind("configmaps");
        let wrong = encode_envelope("v1", "Secret", Vec::new());
        assert_eq!(decode_object(&cm, &wrong).unwrap_err().code, 400);
        let crds = Kinds::builtin()
            .find(crate::kinds::CRD_GROUP, "v1", "customresourcedefinitions")
            .unwrap()
            .clone();
        let body = encode_envelope(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            Vec::new(),
        );
        assert_eq!(decode_object(&crds, &body).unwrap_err().code, 415);
    }

    #[test]
    fn status_and_lists() {
        let err = ApiError::not_found("", "secrets", "s");
        let body = encode_status(&err.to_status());
        let (api_version, kind, raw) = decode_envelope(&body).unwrap();
        assert_eq!((api_version.as_str(), kind.as_str()), ("v1", "Status"));
        let status = meta::Status::decode(raw.as_slice()).unwrap();
        assert_eq!(status.code, Some(404));
        assert_eq!(status.reason.as_deref(), Some("NotFound"));
        assert_eq!(status.details.unwrap().name.as_deref(), Some("s"));

        let list = json!({"metadata": {"resourceVersion": "9"},
            "items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]});
        let body = encode_object(&kind_of("namespaces"), &list, true).unwrap();
        let (_, kind, raw) = decode_envelope(&body).unwrap();
        assert_eq!(kind, "NamespaceList");
        let list = core::NamespaceList::decode(raw.as_slice()).unwrap();
        assert_eq!(
            list.metadata.unwrap().resource_version.as_deref(),
            Some("9")
        );
        assert_eq!(list.items.len(), 2);
    }

    fn kind_of(plural: &str) -> Kind {
        kind(plural)
    }
}
