//! kube-testserver's wire behaviour, checked over HTTP: discovery, Status errors, content
//! types, CRDs created through the API, and the watch protocol (replay, selector
//! transitions, bookmarks, initial-events-end, timeoutSeconds, 410 Gone).

use std::time::{Duration, Instant};

use kube_testserver::{Config, Running};
use reqwest::{Client, Response};
use serde_json::{Value, json};

fn server(config: Config) -> (Running, Client) {
    (Running::start(config).unwrap(), integration::http_client())
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Reads watch lines until `n` events arrived or the stream ended.
async fn events(mut resp: Response, n: usize, limit: Duration) -> Vec<Value> {
    let mut buffer = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while out.len() < n {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            _ => break,
        };
        buffer.extend_from_slice(&chunk);
        while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=pos).collect();
            out.push(serde_json::from_slice(&line).unwrap());
        }
    }
    out
}

fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn configmap(name: &str, tier: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": "v"}})
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_lists_built_ins_and_registered_crds() {
    let crd = integration::kube::cwnp_crd();
    let (server, http) = server(Config {
        crds: vec![crd],
        ..Config::default()
    });
    let url = server.url();
    let (code, version) = send(http.get(format!("{url}/version"))).await;
    assert_eq!((code, version["major"].as_str()), (200, Some("1")));
    let (_, core) = send(http.get(format!("{url}/api"))).await;
    assert_eq!(core["versions"], json!(["v1"]));
    let (_, groups) = send(http.get(format!("{url}/apis"))).await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for group in [
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "events.k8s.io",
        "metal-stack.io",
    ] {
        assert!(names.contains(&group), "{group} in {names:?}");
    }
    let (_, resources) = send(http.get(format!("{url}/apis/metal-stack.io/v1"))).await;
    let cwnp = &resources["resources"][0];
    assert_eq!(cwnp["name"], "clusterwidenetworkpolicies");
    assert_eq!(cwnp["shortNames"], json!(["cwnp"]));
    assert_eq!(cwnp["namespaced"], true);
    assert_eq!(
        resources["resources"][1]["name"],
        "clusterwidenetworkpolicies/status"
    );
    let (_, core_v1) = send(http.get(format!("{url}/api/v1"))).await;
    let services = core_v1["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "services")
        .unwrap();
    assert_eq!(services["shortNames"], json!(["svc"]));
    let (code, status) = send(http.get(format!("{url}/apis/nope.io/v1/things"))).await;
    assert_eq!((code, status["kind"].as_str()), (404, Some("Status")));
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_answer_like_the_apiserver() {
    let (server, http) = server(Config::default());
    let cms = format!("{}/api/v1/namespaces/default/configmaps", server.url());

    let (code, created) = send(http.post(&cms).json(&configmap("a", "web"))).await;
    assert_eq!(code, 201);
    let (code, dup) = send(http.post(&cms).json(&configmap("a", "web"))).await;
    assert_eq!((code, dup["reason"].as_str()), (409, Some("AlreadyExists")));

    // A stale resourceVersion on update is a 409 Conflict.
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let (code, conflict) = send(http.put(format!("{cms}/a")).json(&stale)).await;
    assert_eq!((code, conflict["reason"].as_str()), (409, Some("Conflict")));

    // YAML bodies, JSON patch, strategic merge patch.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {x: hello}\n";
    let (code, _) = send(
        http.post(&cms)
            .header("content-type", "application/yaml")
            .body(yaml),
    )
    .await;
    assert_eq!(code, 201);
    let (code, patched) = send(
        http.patch(format!("{cms}/b"))
            .header("content-type", "application/json-patch+json")
            .body(r#"[{"op": "add", "path": "/data/z", "value": "1"}]"#),
    )
    .await;
    assert_eq!(
        (code, &patched["data"]),
        (200, &json!({"x": "hello", "z": "1"}))
    );
    let (code, patched) = send(
        http.patch(format!("{cms}/b"))
            .header("content-type", "application/strategic-merge-patch+json")
            .body(r#"{"data": {"x": null}}"#),
    )
    .await;
    assert_eq!((code, &patched["data"]), (200, &json!({"z": "1"})));
    let (code, _) = send(
        http.post(&cms)
            .header("content-type", "application/vnd.kubernetes.protobuf")
            .body("k8s\0"),
    )
    .await;
    // ConfigMaps speak protobuf; the magic alone is no envelope.
    assert_eq!(code, 400);
    let (code, bad) = send(
        http.post(&cms)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!((code, bad["reason"].as_str()), (400, Some("BadRequest")));

    // A namespace that does not exist.
    let (code, missing) = send(
        http.post(format!(
            "{}/api/v1/namespaces/nowhere/configmaps",
            server.url()
        ))
        .json(&configmap("c", "web")),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(missing["message"], "namespaces \"nowhere\" not found");

    // Selectors and paging over HTTP.
    let (_, list) = send(http.get(format!("{cms}?labelSelector=tier%3Dweb"))).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, page) = send(http.get(format!("{cms}?limit=1"))).await;
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, rest) = send(http.get(format!("{cms}?limit=1&continue={token}"))).await;
    assert_eq!(rest["items"][0]["metadata"]["name"], "b");
    let (code, _) = send(http.get(format!("{cms}?fieldSelector=spec.nodeName%3Dx"))).await;
    assert_eq!(code, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn crds_created_through_the_api_are_served_and_validated() {
    let (server, http) = server(Config::default());
    let yaml = std::fs::read_to_string(integration::kube::cwnp_crd()).unwrap();
    let crd: Value = kube_testserver::parse_documents(&yaml).unwrap().remove(0);
    let crds = format!(
        "{}/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        server.url()
    );
    let (code, created) = send(http.post(&crds).json(&crd)).await;
    assert_eq!(code, 201);
    assert!(
        created["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Established")
    );
    let policies = format!(
        "{}/apis/metal-stack.io/v1/namespaces/default/clusterwidenetworkpolicies",
        server.url()
    );
    let policy = |port: Value| {
        json!({"apiVersion": "metal-stack.io/v1", "kind": "ClusterwideNetworkPolicy",
            "metadata": {"name": "p"},
            "spec": {"egress": [{"to": [{"cidr": "10.0.0.0/8"}], "ports": [{"port": port}]}]}})
    };
    let (code, invalid) = send(http.post(&policies).json(&policy(json!("https")))).await;
    assert_eq!((code, invalid["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(
        invalid["details"]["causes"][0]["field"],
        "spec.egress[0].ports[0].port"
    );
    let (code, _) = send(http.post(&policies).json(&policy(json!(443)))).await;
    assert_eq!(code, 201);

    // Strict field validation refuses unknown fields; by default they are pruned.
    let mut unknown = policy(json!(80));
    unknown["metadata"]["name"] = json!("q");
    unknown["spec"]["bogus"] = json!(true);
    let (code, strict) = send(
        http.post(format!("{policies}?fieldValidation=Strict"))
            .json(&unknown),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        strict["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"spec.bogus\"")
    );
    let (code, pruned) = send(http.post(&policies).json(&unknown)).await;
    assert_eq!(code, 201);
    assert!(pruned["spec"].get("bogus").is_none());

    // Deleting the CRD takes the kind and its objects away.
    let (code, _) =
        send(http.delete(format!("{crds}/clusterwidenetworkpolicies.metal-stack.io"))).await;
    assert_eq!(code, 200);
    let (code, _) = send(http.get(&policies)).await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn watches_replay_filter_bookmark_and_expire() {
    let (server, http) = server(Config {
        bookmark_interval: Duration::from_millis(200),
        ..Config::default()
    });
    let cms = format!("{}/api/v1/namespaces/default/configmaps", server.url());
    let (_, a) = send(http.post(&cms).json(&configmap("a", "web"))).await;
    let rv_a = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    send(http.post(&cms).json(&configmap("b", "db"))).await;

    // Without a resourceVersion: the current objects as ADDED.
    let watch = http.get(format!("{cms}?watch=1")).send().await.unwrap();
    assert_eq!(
        summary(&events(watch, 2, Duration::from_secs(5)).await),
        [("ADDED".into(), "a".into()), ("ADDED".into(), "b".into())]
    );

    // From a resourceVersion: only what came after it.
    let watch = http
        .get(format!("{cms}?watch=true&resourceVersion={rv_a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        summary(&events(watch, 1, Duration::from_secs(5)).await),
        [("ADDED".into(), "b".into())]
    );

    // A label selector turns relabelling into ADDED / DELETED for the watcher.
    let watch = http
        .get(format!(
            "{cms}?watch=1&labelSelector=tier%3Dweb&resourceVersion={rv_a}"
        ))
        .send()
        .await
        .unwrap();
    let relabel = |tier: &str| {
        http.patch(format!("{cms}/b"))
            .header("content-type", "application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"tier": tier}}}).to_string())
    };
    send(relabel("web")).await;
    send(relabel("db")).await;
    assert_eq!(
        summary(&events(watch, 2, Duration::from_secs(5)).await),
        [("ADDED".into(), "b".into()), ("DELETED".into(), "b".into())]
    );

    // Bookmarks when asked for; sendInitialEvents ends the initial ADDEDs with an annotated one.
    let watch = http
        .get(format!("{cms}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"))
        .send()
        .await
        .unwrap();
    let seen = events(watch, 4, Duration::from_secs(5)).await;
    assert_eq!(
        summary(&seen[..2]),
        [("ADDED".into(), "a".into()), ("ADDED".into(), "b".into())]
    );
    assert_eq!(seen[2]["type"], "BOOKMARK");
    assert_eq!(
        seen[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(seen[3]["type"], "BOOKMARK");
    assert_eq!(seen[3]["object"]["kind"], "ConfigMap");

    // timeoutSeconds ends the stream.
    let started = Instant::now();
    let watch = http
        .get(format!(
            "{cms}?watch=1&timeoutSeconds=1&resourceVersion={}",
            server.shared.store.lock().unwrap().resource_version()
        ))
        .send()
        .await
        .unwrap();
    assert!(events(watch, 1, Duration::from_secs(5)).await.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );

    // After compaction, an old resourceVersion is answered with a 410 ERROR event.
    server.shared.compact();
    send(http.post(&cms).json(&configmap("c", "web"))).await;
    let watch = http
        .get(format!("{cms}?watch=1&resourceVersion={rv_a}"))
        .send()
        .await
        .unwrap();
    let seen = events(watch, 1, Duration::from_secs(5)).await;
    assert_eq!(seen[0]["type"], "ERROR");
    assert_eq!(seen[0]["object"]["code"], 410);
    assert_eq!(seen[0]["object"]["reason"], "Expired");
}

/// Every upstream CRD our services consume registers and serves (when the contracts are here).
#[tokio::test(flavor = "multi_thread")]
async fn upstream_crds_register() {
    let Some(dir) = kube_resources::contracts::upstream_crds() else {
        return;
    };
    let mut crds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    crds.sort();
    assert!(crds.len() >= 10, "{crds:?}");
    let (server, http) = server(Config {
        crds: crds.clone(),
        ..Config::default()
    });
    for (path, kind) in [
        ("/apis/machine.sapcloud.io/v1alpha1", "Machine"),
        ("/apis/extensions.gardener.cloud/v1alpha1", "Worker"),
        ("/apis/firewall.metal-stack.io/v2", "FirewallMonitor"),
        ("/apis/metallb.io/v1beta2", "BGPPeer"),
    ] {
        let (code, list) = send(http.get(format!("{}{path}", server.url()))).await;
        assert_eq!(code, 200, "{path}");
        assert!(
            list["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["kind"] == kind),
            "{kind} under {path}"
        );
    }
}
