//! `application/vnd.kubernetes.protobuf` over HTTP, as client-go's typed clients speak it: a
//! protobuf ConfigMap created and read back (as protobuf and as JSON), lists, protobuf Status
//! errors, JSON for clients that prefer it, and custom resources refusing protobuf bodies (415)
//! but answering JSON when protobuf is only preferred.

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
