//! `application/vnd.kubernetes.protobuf` over HTTP, as client-go's typed clients speak it: a
//! protobuf ConfigMap created and read back (as protobuf and as JSON), lists, protobuf Status
//! errors, JSON for clients that prefer it, and custom resources refusing protobuf bodies (415)
//! but answering JSON when protobuf is only preferred. Then Node (status included), Endpoints,
//! both Events and Lease, each read back as protobuf and written as protobuf.

use std::io::Write;

use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use kube_testserver::protobuf::{PROTOBUF, decode_envelope, encode_envelope};
use kube_testserver::{Config, Running};
use prost::Message;
use reqwest::Client;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

fn configmap(name: &str) -> Vec<u8> {
    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            name: Some(name.into()),
            labels: [("app".to_string(), "proto".to_string())].into(),
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        }),
        data: [("key".to_string(), "value".to_string())].into(),
        ..Default::default()
    };
    encode_envelope("v1", "ConfigMap", cm.encode_to_vec())
}

async fn proto(resp: reqwest::Response) -> (u16, String, Vec<u8>) {
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn built_in_kinds_speak_protobuf_and_custom_resources_json() {
    let mut crd = tempfile::NamedTempFile::new().unwrap();
    crd.write_all(CRD.as_bytes()).unwrap();
    let server = Running::start(Config {
        crds: vec![crd.path().to_path_buf()],
        ..Config::default()
    })
    .unwrap();
    let url = server.url();
    let http = client();
    let kubectl_accept = "application/vnd.kubernetes.protobuf,application/json";

    // Create in protobuf, answered in protobuf.
    let resp = http
        .post(format!("{url}/api/v1/namespaces/default/configmaps"))
        .header(CONTENT_TYPE, PROTOBUF)
        .header(ACCEPT, kubectl_accept)
        .body(configmap("cm"))
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = proto(resp).await;
    assert_eq!((status, content_type.as_str()), (201, PROTOBUF));
    let (api_version, kind, raw) = decode_envelope(&body).unwrap();
    assert_eq!((api_version.as_str(), kind.as_str()), ("v1", "ConfigMap"));
    let created = core::ConfigMap::decode(raw.as_slice()).unwrap();
    let created_meta = created.metadata.unwrap();
    assert_eq!(created_meta.namespace.as_deref(), Some("default"));
    assert!(created_meta.uid.is_some_and(|u| !u.is_empty()));
    assert!(created_meta.creation_timestamp.unwrap().seconds.unwrap() > 0);
    assert_eq!(created.data["key"], "value");

    // Stored as JSON: a JSON client reads what was sent.
    let json: Value = http
        .get(format!("{url}/api/v1/namespaces/default/configmaps/cm"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["data"], json!({"key": "value"}));
    assert_eq!(json["metadata"]["labels"], json!({"app": "proto"}));
    assert!(json["metadata"]["creationTimestamp"].is_string());

    // Lists.
    let resp = http
        .get(format!("{url}/api/v1/configmaps?labelSelector=app%3Dproto"))
        .header(ACCEPT, "application/vnd.kubernetes.protobuf, */*")
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = proto(resp).await;
    assert_eq!((status, content_type.as_str()), (200, PROTOBUF));
    let (_, kind, raw) = decode_envelope(&body).unwrap();
    assert_eq!(kind, "ConfigMapList");
    let list = core::ConfigMapList::decode(raw.as_slice()).unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.unwrap().resource_version.is_some());

    // Errors are protobuf Statuses.
    let resp = http
        .post(format!("{url}/api/v1/namespaces/default/configmaps"))
        .header(CONTENT_TYPE, PROTOBUF)
        .header(ACCEPT, kubectl_accept)
        .body(configmap("cm"))
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = proto(resp).await;
    assert_eq!((status, content_type.as_str()), (409, PROTOBUF));
    let (_, kind, raw) = decode_envelope(&body).unwrap();
    assert_eq!(kind, "Status");
    let failure = meta::Status::decode(raw.as_slice()).unwrap();
    assert_eq!(failure.reason.as_deref(), Some("AlreadyExists"));
    assert_eq!(failure.code, Some(409));

    // A body that is not the envelope is a 400.
    let resp = http
        .post(format!("{url}/api/v1/namespaces/default/configmaps"))
        .header(CONTENT_TYPE, PROTOBUF)
        .body(b"{}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // JSON stays the default, and wins when preferred.
    for accept in [
        "",
        "application/json",
        "application/json, application/vnd.kubernetes.protobuf",
    ] {
        let resp = http
            .get(format!("{url}/api/v1/namespaces/default/configmaps/cm"))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        let (status, content_type, _) = proto(resp).await;
        assert_eq!((status, content_type.as_str()), (200, "application/json"));
    }

    // Custom resources: protobuf bodies are a 415 that says why; protobuf merely preferred
    // gets JSON.
    let widgets = format!("{url}/apis/example.com/v1/namespaces/default/widgets");
    let resp = http
        .post(&widgets)
        .header(CONTENT_TYPE, PROTOBUF)
        .header(ACCEPT, kubectl_accept)
        .body(encode_envelope("example.com/v1", "Widget", Vec::new()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let refusal: Value = resp.json().await.unwrap();
    assert_eq!(refusal["reason"], "UnsupportedMediaType");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("custom resources (example.com/v1) do not support protobuf"),
        "{refusal}"
    );
    let resp = http
        .post(&widgets)
        .header(ACCEPT, "application/vnd.kubernetes.protobuf, */*")
        .json(&json!({"apiVersion": "example.com/v1", "kind": "Widget",
                      "metadata": {"name": "w"}, "spec": {"size": 3}}))
        .send()
        .await
        .unwrap();
    let (status, content_type, body) = proto(resp).await;
    assert_eq!((status, content_type.as_str()), (201, "application/json"));
    let widget: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(widget["spec"]["size"], 3);
}

/// GETs `url` as protobuf: the envelope's kind and the raw message.
async fn get_pb(http: &Client, url: &str) -> (String, Vec<u8>) {
    let resp = http.get(url).header(ACCEPT, PROTOBUF).send().await.unwrap();
    let (status, content_type, body) = proto(resp).await;
    assert_eq!((status, content_type.as_str()), (200, PROTOBUF), "{url}");
    let (_, kind, raw) = decode_envelope(&body).unwrap();
    (kind, raw)
}

async fn get_json(http: &Client, url: &str) -> Value {
    let resp = http.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    resp.json().await.unwrap()
}

/// Sends an enveloped protobuf body (POST, or PUT when `put`), expecting `want`.
async fn send_pb(http: &Client, url: &str, put: bool, body: Vec<u8>, want: u16) {
    let req = if put { http.put(url) } else { http.post(url) };
    let resp = req
        .header(CONTENT_TYPE, PROTOBUF)
        .header(ACCEPT, PROTOBUF)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), want, "{url}");
}

async fn post_json(http: &Client, url: &str, object: Value) {
    let resp = http.post(url).json(&object).send().await.unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{url}: {}",
        resp.text().await.unwrap()
    );
}

fn pb_meta(name: &str, namespace: Option<&str>) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(String::from),
        ..Default::default()
    })
}

fn pb_time(seconds: i64) -> Option<meta::Time> {
    Some(meta::Time {
        seconds: Some(seconds),
        nanos: Some(0),
    })
}

fn pb_micro_time(seconds: i64, micros: i32) -> Option<meta::MicroTime> {
    Some(meta::MicroTime {
        seconds: Some(seconds),
        nanos: Some(micros * 1000),
    })
}

/// 2026-12-06T10:00:00Z.
const TEN: i64 = 1_796_551_200;

fn seconds(t: Option<meta::Time>) -> i64 {
    t.unwrap().seconds.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_speak_protobuf() {
    let server = Running::start(Config::default()).unwrap();
    let url = server.url();
    let http = client();
    let nodes = format!("{url}/api/v1/nodes");

    // JSON in, protobuf out; status through its subresource, as the kubelet writes it.
    post_json(
        &http,
        &nodes,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "providerID": "metal://m1",
                     "unschedulable": true,
                     "taints": [{"key": "k", "value": "v", "effect": "NoSchedule", "timeAdded": "2026-12-06T10:00:00Z"}]}}),
    )
    .await;
    let mut n1 = get_json(&http, &format!("{nodes}/n1")).await;
    n1["status"] = json!({"capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": "3800m", "pods": 110},
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-12-06T10:00:00Z",
                        "lastTransitionTime": "2026-12-06T09:00:00Z", "reason": "KubeletReady", "message": "ready"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1",
                     "osImage": "Debian", "containerRuntimeVersion": "containerd://2", "kubeletVersion": "v1.32.0",
                     "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
        "images": [{"names": ["nginx:1"], "sizeBytes": 1000}],
        "volumesInUse": ["kubernetes.io/csi/v"]});
    let resp = http
        .put(format!("{nodes}/n1/status"))
        .json(&n1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let (kind, raw) = get_pb(&http, &format!("{nodes}/n1")).await;
    assert_eq!(kind, "Node");
    let node = core::Node::decode(raw.as_slice()).unwrap();
    let spec = node.spec.unwrap();
    assert_eq!(spec.pod_cidr.as_deref(), Some("10.244.1.0/24"));
    assert_eq!(spec.pod_cid_rs, ["10.244.1.0/24"]);
    assert_eq!(spec.provider_id.as_deref(), Some("metal://m1"));
    assert_eq!(spec.unschedulable, Some(true));
    let taint = &spec.taints[0];
    assert_eq!(
        (
            taint.key.as_deref(),
            taint.value.as_deref(),
            taint.effect.as_deref()
        ),
        (Some("k"), Some("v"), Some("NoSchedule"))
    );
    assert_eq!(seconds(taint.time_added), TEN);
    let status = node.status.unwrap();
    assert_eq!(status.capacity["memory"].string.as_deref(), Some("8Gi"));
    assert_eq!(status.allocatable["cpu"].string.as_deref(), Some("3800m"));
    assert_eq!(status.allocatable["pods"].string.as_deref(), Some("110"));
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let ready = &status.conditions[0];
    assert_eq!(
        (ready.r#type.as_deref(), ready.status.as_deref()),
        (Some("Ready"), Some("True"))
    );
    assert_eq!(seconds(ready.last_heartbeat_time), TEN);
    assert_eq!(seconds(ready.last_transition_time), TEN - 3600);
    assert_eq!(
        (ready.reason.as_deref(), ready.message.as_deref()),
        (Some("KubeletReady"), Some("ready"))
    );
    assert_eq!(status.addresses[0].address.as_deref(), Some("10.0.0.1"));
    assert_eq!(
        status
            .daemon_endpoints
            .unwrap()
            .kubelet_endpoint
            .unwrap()
            .port,
        Some(10250)
    );
    let info = status.node_info.unwrap();
    assert_eq!(info.kubelet_version.as_deref(), Some("v1.32.0"));
    assert_eq!(info.architecture.as_deref(), Some("amd64"));
    assert_eq!(info.kube_proxy_version.as_deref(), Some(""));
    assert_eq!(status.images[0].names, ["nginx:1"]);
    assert_eq!(status.images[0].size_bytes, Some(1000));
    assert_eq!(status.volumes_in_use, ["kubernetes.io/csi/v"]);

    // Protobuf in, JSON stored; then a protobuf status write.
    let mut n2 = core::Node {
        metadata: pb_meta("n2", None),
        spec: Some(core::NodeSpec {
            provider_id: Some("metal://m2".into()),
            unschedulable: Some(true),
            taints: vec![core::Taint {
                key: Some("dedicated".into()),
                effect: Some("NoExecute".into()),
                time_added: pb_time(TEN),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    send_pb(
        &http,
        &nodes,
        false,
        encode_envelope("v1", "Node", n2.encode_to_vec()),
        201,
    )
    .await;
    n2.status = Some(core::NodeStatus {
        capacity: [("cpu".to_string(), quantity("2"))].into(),
        conditions: vec![core::NodeCondition {
            r#type: Some("Ready".into()),
            status: Some("False".into()),
            last_heartbeat_time: pb_time(TEN),
            ..Default::default()
        }],
        addresses: vec![core::NodeAddress {
            r#type: Some("Hostname".into()),
            address: Some("n2".into()),
        }],
        ..Default::default()
    });
    send_pb(
        &http,
        &format!("{nodes}/n2/status"),
        true,
        encode_envelope("v1", "Node", n2.encode_to_vec()),
        200,
    )
    .await;
    let stored = get_json(&http, &format!("{nodes}/n2")).await;
    assert_eq!(
        stored["spec"],
        json!({"providerID": "metal://m2", "unschedulable": true,
            "taints": [{"key": "dedicated", "effect": "NoExecute", "timeAdded": "2026-12-06T10:00:00Z"}]})
    );
    assert_eq!(
        stored["status"],
        json!({"capacity": {"cpu": "2"},
            "conditions": [{"type": "Ready", "status": "False", "lastHeartbeatTime": "2026-12-06T10:00:00Z"}],
            "addresses": [{"type": "Hostname", "address": "n2"}]})
    );

    // Lists.
    let (kind, raw) = get_pb(&http, &nodes).await;
    assert_eq!(kind, "NodeList");
    let list = core::NodeList::decode(raw.as_slice()).unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .map(|n| n.metadata.as_ref().unwrap().name.clone().unwrap())
        .collect();
    assert_eq!(names, ["n1", "n2"]);
    assert!(list.metadata.unwrap().resource_version.is_some());
}

fn quantity(s: &str) -> k8s_pb::apimachinery::pkg::api::resource::Quantity {
    k8s_pb::apimachinery::pkg::api::resource::Quantity {
        string: Some(s.into()),
    }
}

fn object_ref(kind: &str, name: &str) -> Option<core::ObjectReference> {
    Some(core::ObjectReference {
        kind: Some(kind.into()),
        name: Some(name.into()),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_speak_protobuf() {
    let server = Running::start(Config::default()).unwrap();
    let url = server.url();
    let http = client();
    let endpoints = format!("{url}/api/v1/namespaces/default/endpoints");

    post_json(
        &http,
        &endpoints,
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": "10.244.1.5", "hostname": "web-0", "nodeName": "n1",
                                        "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "default"}}],
                         "notReadyAddresses": [{"ip": "10.244.1.6"}],
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "appProtocol": "https"}]}]}),
    )
    .await;
    let (kind, raw) = get_pb(&http, &format!("{endpoints}/web")).await;
    assert_eq!(kind, "Endpoints");
    let subset = core::Endpoints::decode(raw.as_slice())
        .unwrap()
        .subsets
        .remove(0);
    let address = &subset.addresses[0];
    assert_eq!(address.ip.as_deref(), Some("10.244.1.5"));
    assert_eq!(address.hostname.as_deref(), Some("web-0"));
    assert_eq!(address.node_name.as_deref(), Some("n1"));
    let target = address.target_ref.as_ref().unwrap();
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("web-0"))
    );
    assert_eq!(
        subset.not_ready_addresses[0].ip.as_deref(),
        Some("10.244.1.6")
    );
    let port = &subset.ports[0];
    assert_eq!(
        (
            port.name.as_deref(),
            port.port,
            port.protocol.as_deref(),
            port.app_protocol.as_deref()
        ),
        (Some("https"), Some(443), Some("TCP"), Some("https"))
    );

    let dns = core::Endpoints {
        metadata: pb_meta("dns", Some("default")),
        subsets: vec![core::EndpointSubset {
            addresses: vec![core::EndpointAddress {
                ip: Some("10.244.2.7".into()),
                target_ref: object_ref("Pod", "dns-0"),
                ..Default::default()
            }],
            not_ready_addresses: Vec::new(),
            ports: vec![core::EndpointPort {
                name: Some("dns".into()),
                port: Some(53),
                protocol: Some("UDP".into()),
                app_protocol: None,
            }],
        }],
    };
    send_pb(
        &http,
        &endpoints,
        false,
        encode_envelope("v1", "Endpoints", dns.encode_to_vec()),
        201,
    )
    .await;
    let stored = get_json(&http, &format!("{endpoints}/dns")).await;
    assert_eq!(
        stored["subsets"],
        json!([{"addresses": [{"ip": "10.244.2.7", "targetRef": {"kind": "Pod", "name": "dns-0"}}],
                "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}])
    );
    let (kind, raw) = get_pb(&http, &endpoints).await;
    assert_eq!(kind, "EndpointsList");
    assert_eq!(
        core::EndpointsList::decode(raw.as_slice())
            .unwrap()
            .items
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_speak_protobuf() {
    use k8s_pb::api::events::v1 as events;

    let server = Running::start(Config::default()).unwrap();
    let url = server.url();
    let http = client();

    // core/v1.
    let core_events = format!("{url}/api/v1/namespaces/default/events");
    post_json(
        &http,
        &core_events,
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Node", "name": "n1", "apiVersion": "v1"},
            "reason": "Started", "message": "started", "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2026-12-06T10:00:00Z", "lastTimestamp": "2026-12-06T10:01:00Z",
            "count": 2, "type": "Normal", "eventTime": "2026-12-06T10:00:00.123456Z",
            "series": {"count": 3, "lastObservedTime": "2026-12-06T10:02:00.000001Z"},
            "action": "Start", "related": {"kind": "Pod", "name": "p"},
            "reportingComponent": "kubelet", "reportingInstance": "n1"}),
    )
    .await;
    let (kind, raw) = get_pb(&http, &format!("{core_events}/e1")).await;
    assert_eq!(kind, "Event");
    let event = core::Event::decode(raw.as_slice()).unwrap();
    assert_eq!(event.involved_object, {
        let mut r = object_ref("Node", "n1").unwrap();
        r.api_version = Some("v1".into());
        Some(r)
    });
    assert_eq!(
        (event.reason.as_deref(), event.message.as_deref()),
        (Some("Started"), Some("started"))
    );
    let source = event.source.unwrap();
    assert_eq!(
        (source.component.as_deref(), source.host.as_deref()),
        (Some("kubelet"), Some("n1"))
    );
    assert_eq!(seconds(event.first_timestamp), TEN);
    assert_eq!(seconds(event.last_timestamp), TEN + 60);
    assert_eq!(event.count, Some(2));
    assert_eq!(event.r#type.as_deref(), Some("Normal"));
    assert_eq!(event.event_time, pb_micro_time(TEN, 123_456));
    let series = event.series.unwrap();
    assert_eq!(series.count, Some(3));
    assert_eq!(series.last_observed_time, pb_micro_time(TEN + 120, 1));
    assert_eq!(event.action.as_deref(), Some("Start"));
    assert_eq!(event.related, object_ref("Pod", "p"));
    assert_eq!(event.reporting_component.as_deref(), Some("kubelet"));
    assert_eq!(event.reporting_instance.as_deref(), Some("n1"));

    let e2 = core::Event {
        metadata: pb_meta("e2", Some("default")),
        involved_object: object_ref("Service", "web"),
        reason: Some("Synced".into()),
        r#type: Some("Warning".into()),
        count: Some(1),
        first_timestamp: pb_time(TEN),
        event_time: pb_micro_time(TEN, 500),
        reporting_component: Some("metal-mesh".into()),
        ..Default::default()
    };
    send_pb(
        &http,
        &core_events,
        false,
        encode_envelope("v1", "Event", e2.encode_to_vec()),
        201,
    )
    .await;
    let stored = get_json(&http, &format!("{core_events}/e2")).await;
    for (field, want) in [
        ("involvedObject", json!({"kind": "Service", "name": "web"})),
        ("reason", json!("Synced")),
        ("type", json!("Warning")),
        ("count", json!(1)),
        ("firstTimestamp", json!("2026-12-06T10:00:00Z")),
        ("eventTime", json!("2026-12-06T10:00:00.000500Z")),
        ("reportingComponent", json!("metal-mesh")),
    ] {
        assert_eq!(stored[field], want, "{field}");
    }
    let (kind, raw) = get_pb(&http, &format!("{url}/api/v1/events")).await;
    assert_eq!(kind, "EventList");
    assert_eq!(
        core::EventList::decode(raw.as_slice()).unwrap().items.len(),
        2
    );

    // events.k8s.io/v1.
    let new_events = format!("{url}/apis/events.k8s.io/v1/namespaces/default/events");
    post_json(
        &http,
        &new_events,
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e3"},
            "eventTime": "2026-12-06T10:00:00.123456Z",
            "series": {"count": 2, "lastObservedTime": "2026-12-06T10:05:00.5Z"},
            "reportingController": "metal-mesh/controller", "reportingInstance": "c-1",
            "action": "Reconcile", "reason": "Synced",
            "regarding": {"kind": "Service", "name": "web", "namespace": "default"},
            "related": {"kind": "Node", "name": "n1"}, "note": "synced", "type": "Normal",
            "deprecatedSource": {"component": "c"}, "deprecatedFirstTimestamp": "2026-12-06T10:00:00Z",
            "deprecatedLastTimestamp": "2026-12-06T10:01:00Z", "deprecatedCount": 4}),
    )
    .await;
    let (kind, raw) = get_pb(&http, &format!("{new_events}/e3")).await;
    assert_eq!(kind, "Event");
    let event = events::Event::decode(raw.as_slice()).unwrap();
    assert_eq!(event.event_time, pb_micro_time(TEN, 123_456));
    let series = event.series.unwrap();
    assert_eq!(series.count, Some(2));
    assert_eq!(series.last_observed_time, pb_micro_time(TEN + 300, 500_000));
    assert_eq!(
        event.reporting_controller.as_deref(),
        Some("metal-mesh/controller")
    );
    assert_eq!(event.reporting_instance.as_deref(), Some("c-1"));
    assert_eq!(
        (event.action.as_deref(), event.reason.as_deref()),
        (Some("Reconcile"), Some("Synced"))
    );
    assert_eq!(event.regarding, {
        let mut r = object_ref("Service", "web").unwrap();
        r.namespace = Some("default".into());
        Some(r)
    });
    assert_eq!(event.related, object_ref("Node", "n1"));
    assert_eq!(
        (event.note.as_deref(), event.r#type.as_deref()),
        (Some("synced"), Some("Normal"))
    );
    assert_eq!(
        event.deprecated_source.unwrap().component.as_deref(),
        Some("c")
    );
    assert_eq!(seconds(event.deprecated_first_timestamp), TEN);
    assert_eq!(seconds(event.deprecated_last_timestamp), TEN + 60);
    assert_eq!(event.deprecated_count, Some(4));

    let e4 = events::Event {
        metadata: pb_meta("e4", Some("default")),
        event_time: pb_micro_time(TEN, 654_321),
        reporting_controller: Some("metal-mesh".into()),
        reporting_instance: Some("c-2".into()),
        action: Some("Allocate".into()),
        reason: Some("Allocated".into()),
        regarding: object_ref("Service", "lb"),
        note: Some("allocated 203.0.113.7".into()),
        r#type: Some("Normal".into()),
        ..Default::default()
    };
    send_pb(
        &http,
        &new_events,
        false,
        encode_envelope("events.k8s.io/v1", "Event", e4.encode_to_vec()),
        201,
    )
    .await;
    let mut stored = get_json(&http, &format!("{new_events}/e4")).await;
    stored.as_object_mut().unwrap().remove("metadata");
    assert_eq!(
        stored,
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "eventTime": "2026-12-06T10:00:00.654321Z", "reportingController": "metal-mesh",
            "reportingInstance": "c-2", "action": "Allocate", "reason": "Allocated",
            "regarding": {"kind": "Service", "name": "lb"}, "note": "allocated 203.0.113.7",
            "type": "Normal"})
    );
    let (kind, raw) = get_pb(&http, &new_events).await;
    assert_eq!(kind, "EventList");
    assert_eq!(
        events::EventList::decode(raw.as_slice())
            .unwrap()
            .items
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn leases_speak_protobuf() {
    use k8s_pb::api::coordination::v1 as coordination;

    let server = Running::start(Config::default()).unwrap();
    let url = server.url();
    let http = client();
    let leases = format!("{url}/apis/coordination.k8s.io/v1/namespaces/default/leases");

    post_json(
        &http,
        &leases,
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                     "acquireTime": "2026-12-06T10:00:00.000000Z", "renewTime": "2026-12-06T10:00:10.654321Z",
                     "leaseTransitions": 3}}),
    )
    .await;
    let (kind, raw) = get_pb(&http, &format!("{leases}/leader")).await;
    assert_eq!(kind, "Lease");
    let spec = coordination::Lease::decode(raw.as_slice())
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("a"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.acquire_time, pb_micro_time(TEN, 0));
    assert_eq!(spec.renew_time, pb_micro_time(TEN + 10, 654_321));
    assert_eq!(spec.lease_transitions, Some(3));

    let lease = coordination::Lease {
        metadata: pb_meta("other", Some("default")),
        spec: Some(coordination::LeaseSpec {
            holder_identity: Some("b".into()),
            lease_duration_seconds: Some(30),
            renew_time: pb_micro_time(TEN, 42),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    send_pb(
        &http,
        &leases,
        false,
        encode_envelope("coordination.k8s.io/v1", "Lease", lease.encode_to_vec()),
        201,
    )
    .await;
    let stored = get_json(&http, &format!("{leases}/other")).await;
    assert_eq!(
        stored["spec"],
        json!({"holderIdentity": "b", "leaseDurationSeconds": 30,
            "renewTime": "2026-12-06T10:00:00.000042Z", "leaseTransitions": 0})
    );
    let (kind, raw) = get_pb(&http, &format!("{url}/apis/coordination.k8s.io/v1/leases")).await;
    assert_eq!(kind, "LeaseList");
    assert_eq!(
        coordination::LeaseList::decode(raw.as_slice())
            .unwrap()
            .items
            .len(),
        2
    );
}
