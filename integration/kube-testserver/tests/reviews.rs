//! The review APIs over HTTP, as kube-rbac-proxy and other delegating services call them:
//! discovery of the RBAC and review groups, TokenReviews of `--token-file` and added tokens,
//! SubjectAccessReviews decided by RBAC objects written through the API, 405 for anything but
//! POST, the injected faults, and the review counters.

use std::io::Write;
use std::time::Duration;

use kube_testserver::{Config, ReviewCounts, ReviewFault, Running};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const SARS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

fn token_review(token: &str) -> Value {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
           "spec": {"token": token}})
}

fn sar(user: &str, groups: &[&str], attributes: Value) -> Value {
    let mut spec = json!({"user": user, "groups": groups});
    let key = if attributes.get("path").is_some() {
        "nonResourceAttributes"
    } else {
        "resourceAttributes"
    };
    spec[key] = attributes;
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec})
}

fn token_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn resource_names(list: &Value) -> Vec<&str> {
    list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_lists_rbac_service_accounts_and_reviews() {
    let server = Running::start(Config::default()).unwrap();
    let (http, url) = (client(), server.url());
    let (_, groups) = send(http.get(format!("{url}/apis"))).await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for group in [
        "rbac.authorization.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
    ] {
        assert!(names.contains(&group), "{group} in {names:?}");
    }
    let (code, rbac) = send(http.get(format!("{url}/apis/rbac.authorization.k8s.io/v1"))).await;
    assert_eq!(code, 200);
    assert_eq!(
        resource_names(&rbac),
        [
            "roles",
            "clusterroles",
            "rolebindings",
            "clusterrolebindings"
        ]
    );
    let namespaced: Vec<bool> = rbac["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["namespaced"].as_bool().unwrap())
        .collect();
    assert_eq!(namespaced, [true, false, true, false]);

    let (_, core) = send(http.get(format!("{url}/api/v1"))).await;
    let sa = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "serviceaccounts")
        .unwrap();
    assert_eq!(
        (&sa["kind"], &sa["shortNames"], &sa["namespaced"]),
        (&json!("ServiceAccount"), &json!(["sa"]), &json!(true))
    );

    let (_, authn) = send(http.get(format!("{url}/apis/authentication.k8s.io/v1"))).await;
    assert_eq!(
        authn["resources"],
        json!([{"name": "tokenreviews", "singularName": "tokenreview", "namespaced": false,
                "kind": "TokenReview", "verbs": ["create"]}])
    );
    let (_, authz) = send(http.get(format!("{url}/apis/authorization.k8s.io/v1"))).await;
    assert_eq!(resource_names(&authz), ["subjectaccessreviews"]);

    // ServiceAccounts are stored like any namespaced kind.
    let sas = format!("{url}/api/v1/namespaces/default/serviceaccounts");
    let (code, created) =
        send(http.post(&sas).json(
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}),
        ))
        .await;
    assert_eq!(
        (code, &created["metadata"]["namespace"]),
        (201, &json!("default"))
    );
    let (code, list) = send(http.get(&sas)).await;
    assert_eq!(
        (code, list["items"][0]["metadata"]["name"].as_str()),
        (200, Some("web"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_reviews_authenticate_file_and_added_tokens() {
    let file = token_file(
        "file-token,alice,1001,\"devs,ops\"\n\
         sa-token,system:serviceaccount:kube-system:lb-allocator,2002\n",
    );
    let server = Running::start(Config {
        token_file: Some(file.path().to_path_buf()),
        ..Config::default()
    })
    .unwrap();
    server
        .shared
        .add_token("added-token", "bob", "", vec!["testers".into()]);
    let (http, url) = (client(), server.url());
    let review = |body: Value| send(http.post(format!("{url}{TOKEN_REVIEWS}")).json(&body));

    let (code, answer) = review(token_review("file-token")).await;
    assert_eq!(code, 201);
    assert_eq!(
        (&answer["apiVersion"], &answer["kind"]),
        (&json!("authentication.k8s.io/v1"), &json!("TokenReview"))
    );
    assert_eq!(answer["spec"]["token"], "file-token");
    assert_eq!(
        answer["status"],
        json!({"authenticated": true,
               "user": {"username": "alice", "uid": "1001",
                        "groups": ["devs", "ops", "system:authenticated"]}})
    );

    let (_, answer) = review(
        json!({"spec": {"token": "sa-token", "audiences": ["https://kubernetes.default.svc"]}}),
    )
    .await;
    assert_eq!(
        answer["status"]["user"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:kube-system",
            "system:authenticated"
        ])
    );
    assert_eq!(
        answer["status"]["audiences"],
        json!(["https://kubernetes.default.svc"])
    );

    let (_, answer) = review(token_review("added-token")).await;
    assert_eq!(
        answer["status"]["user"],
        json!({"username": "bob", "groups": ["testers", "system:authenticated"]})
    );

    let (code, answer) = review(token_review("wrong")).await;
    assert_eq!(code, 201);
    assert_eq!(answer["status"]["authenticated"], false);
    assert_eq!(answer["status"]["error"], "invalid bearer token");

    let (code, status) = review(json!({"spec": {}})).await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));

    // Create-only: GET (get, list or watch) is a 405 Status.
    for path in [
        TOKEN_REVIEWS.to_string(),
        format!("{TOKEN_REVIEWS}?watch=1"),
        SARS.to_string(),
    ] {
        let (code, status) = send(http.get(format!("{url}{path}"))).await;
        assert_eq!(code, 405, "{path}");
        assert_eq!(
            (status["kind"].as_str(), status["reason"].as_str()),
            (Some("Status"), Some("MethodNotAllowed"))
        );
    }
    let (code, _) = send(http.delete(format!("{url}{TOKEN_REVIEWS}"))).await;
    assert_eq!(code, 405);
    let (code, _) = send(http.get(format!("{url}{TOKEN_REVIEWS}/x"))).await;
    assert_eq!(code, 404);

    let counts = ReviewCounts {
        token_reviews: 5,
        subject_access_reviews: 0,
    };
    assert_eq!(server.shared.review_counts(), counts);
    let (code, body) = send(http.get(format!("{url}/testserver/reviews"))).await;
    assert_eq!(
        (code, body),
        (200, json!({"tokenReviews": 5, "subjectAccessReviews": 0}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn subject_access_reviews_follow_bindings_created_over_http() {
    let server = Running::start(Config::default()).unwrap();
    let (http, url) = (client(), server.url());
    let rbac = format!("{url}/apis/rbac.authorization.k8s.io/v1");
    let create = |path: String, body: Value| send(http.post(path).json(&body));
    let review = |body: Value| send(http.post(format!("{url}{SARS}")).json(&body));
    let lb_user = "system:serviceaccount:kube-system:lb-allocator";
    let list_lbs =
        json!({"verb": "list", "group": "", "resource": "services", "namespace": "apps"});

    let (code, _) = review(sar(lb_user, &[], list_lbs.clone())).await;
    assert_eq!(code, 201);
    let (_, answer) = review(sar(lb_user, &[], list_lbs.clone())).await;
    assert_eq!(answer["status"], json!({"allowed": false}));
    assert_eq!(
        answer["spec"]["resourceAttributes"], list_lbs,
        "the spec is echoed"
    );

    let (code, _) = create(
        format!("{rbac}/clusterroles"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "lb-reader"},
               "rules": [{"apiGroups": [""], "resources": ["services", "services/status"], "verbs": ["get", "list", "watch"]},
                         {"nonResourceURLs": ["/v1/loadbalancers*"], "verbs": ["get"]}]}),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = create(
        format!("{rbac}/clusterrolebindings"),
        json!({"metadata": {"name": "lb-reader"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "lb-reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "lb-allocator", "namespace": "kube-system"}]}),
    )
    .await;
    assert_eq!(code, 201);
    let (_, answer) = review(sar(lb_user, &[], list_lbs.clone())).await;
    assert_eq!(
        answer["status"],
        json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"lb-reader\" of ClusterRole \"lb-reader\" to ServiceAccount \"lb-allocator/kube-system\""})
    );
    let (_, answer) = review(sar(
        lb_user,
        &[],
        json!({"path": "/v1/loadbalancers/apps/web", "verb": "get"}),
    ))
    .await;
    assert_eq!(answer["status"]["allowed"], true);
    let (_, answer) = review(sar(
        lb_user,
        &[],
        json!({"verb": "delete", "resource": "services", "namespace": "apps"}),
    ))
    .await;
    assert_eq!(answer["status"], json!({"allowed": false}));

    // A Role and RoleBinding grant in their namespace only.
    let (code, _) = create(
        format!("{rbac}/namespaces/default/roles"),
        json!({"metadata": {"name": "cm-writer"},
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["update"], "resourceNames": ["settings"]}]}),
    )
    .await;
    assert_eq!(code, 201);
    let (code, _) = create(
        format!("{rbac}/namespaces/default/rolebindings"),
        json!({"metadata": {"name": "cm-writer"},
               "roleRef": {"kind": "Role", "name": "cm-writer"},
               "subjects": [{"kind": "Group", "name": "writers"}]}),
    )
    .await;
    assert_eq!(code, 201);
    let update = |ns: &str, name: &str| json!({"verb": "update", "resource": "configmaps", "namespace": ns, "name": name});
    let (_, answer) = review(sar("carol", &["writers"], update("default", "settings"))).await;
    assert_eq!(
        answer["status"]["reason"],
        "RBAC: allowed by RoleBinding \"cm-writer/default\" of Role \"cm-writer\" to Group \"writers\""
    );
    for denied in [
        update("kube-system", "settings"),
        update("default", "other"),
    ] {
        let (_, answer) = review(sar("carol", &["writers"], denied)).await;
        assert_eq!(answer["status"]["allowed"], false);
    }

    // Bootstrap: system:masters, and system:auth-delegator for a proxy.
    let (_, answer) = review(sar(
        "admin",
        &["system:masters"],
        json!({"path": "/anything", "verb": "delete"}),
    ))
    .await;
    assert_eq!(answer["status"]["allowed"], true);
    let proxy = "system:serviceaccount:monitoring:proxy";
    let create_tr =
        json!({"verb": "create", "group": "authentication.k8s.io", "resource": "tokenreviews"});
    let (_, answer) = review(sar(proxy, &[], create_tr.clone())).await;
    assert_eq!(answer["status"]["allowed"], false);
    let (code, _) = create(
        format!("{rbac}/clusterrolebindings"),
        json!({"metadata": {"name": "proxy-delegation"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
               "subjects": [{"kind": "ServiceAccount", "name": "proxy", "namespace": "monitoring"}]}),
    )
    .await;
    assert_eq!(code, 201);
    let (_, answer) = review(sar(proxy, &[], create_tr.clone())).await;
    assert_eq!(answer["status"]["allowed"], true);

    // Deleting the binding takes the grant away.
    let (code, _) = send(http.delete(format!("{rbac}/clusterrolebindings/proxy-delegation"))).await;
    assert_eq!(code, 200);
    let (_, answer) = review(sar(proxy, &[], create_tr)).await;
    assert_eq!(answer["status"]["allowed"], false);

    // Invalid reviews and bindings are 422s that name the field.
    let (code, status) = review(json!({"spec": {"user": "a"}})).await;
    assert_eq!(
        (code, status["details"]["causes"][0]["field"].as_str()),
        (422, Some("spec.resourceAttributes"))
    );
    let (code, status) = create(
        format!("{rbac}/clusterrolebindings"),
        json!({"metadata": {"name": "bad"}, "roleRef": {"kind": "Role", "name": "r"}}),
    )
    .await;
    assert_eq!(
        (code, status["details"]["causes"][0]["field"].as_str()),
        (422, Some("roleRef.kind"))
    );

    assert_eq!(
        server.shared.review_counts(),
        ReviewCounts {
            token_reviews: 0,
            subject_access_reviews: 13
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_break_reviews_and_are_still_counted() {
    let server = Running::start(Config::default()).unwrap();
    server.shared.add_token("t", "alice", "1", vec![]);
    let (http, url) = (client(), server.url());
    let fault = |mode: &str| {
        http.post(format!("{url}/testserver/review-fault"))
            .json(&json!({ "mode": mode }))
            .send()
    };
    let post_review = || {
        http.post(format!("{url}{TOKEN_REVIEWS}"))
            .json(&token_review("t"))
            .send()
    };
    let post_sar = || {
        http.post(format!("{url}{SARS}"))
            .json(&sar(
                "alice",
                &[],
                json!({"verb": "get", "resource": "pods"}),
            ))
            .send()
    };

    assert_eq!(
        fault("garbage").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.shared.review_fault(), ReviewFault::Garbage);
    for resp in [post_review().await.unwrap(), post_sar().await.unwrap()] {
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.text().await.unwrap(), "not json");
    }

    server.shared.set_review_fault(ReviewFault::Error);
    let (_, mode) = send(http.get(format!("{url}/testserver/review-fault"))).await;
    assert_eq!(mode, json!({"mode": "error"}));
    for resp in [post_review().await.unwrap(), post_sar().await.unwrap()] {
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let status: Value = resp.json().await.unwrap();
        assert_eq!(
            (
                status["kind"].as_str(),
                status["code"].as_i64(),
                status["reason"].as_str()
            ),
            (Some("Status"), Some(500), Some("InternalError"))
        );
    }

    assert_eq!(
        fault("hang").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let started = std::time::Instant::now();
    let hung = tokio::time::timeout(Duration::from_secs(1), post_review()).await;
    assert!(hung.is_err(), "a hanging review answered: {hung:?}");
    let hung = tokio::time::timeout(Duration::from_secs(1), post_sar()).await;
    assert!(hung.is_err(), "a hanging review answered: {hung:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The hanging reviews hold no lock: the rest of the API answers meanwhile.
    let (code, _) = send(http.get(format!(
        "{url}/apis/rbac.authorization.k8s.io/v1/clusterroles"
    )))
    .await;
    assert_eq!(code, 200);

    let (code, status) = send(
        http.post(format!("{url}/testserver/review-fault"))
            .json(&json!({"mode": "sometimes"})),
    )
    .await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(server.shared.review_fault(), ReviewFault::Hang);

    assert_eq!(
        fault("none").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let resp = post_review().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["status"]["authenticated"], true);

    assert_eq!(
        server.shared.review_counts(),
        ReviewCounts {
            token_reviews: 4,
            subject_access_reviews: 3
        }
    );
    let (_, counts) = send(http.get(format!("{url}/testserver/reviews"))).await;
    assert_eq!(
        counts,
        json!({"tokenReviews": 4, "subjectAccessReviews": 3})
    );
}

#[test]
fn bad_token_files_stop_the_start_naming_the_line_not_the_token() {
    let file = token_file("ok,alice,1\ns3cr3t-token,bob\n");
    let err = Running::start(Config {
        token_file: Some(file.path().to_path_buf()),
        ..Config::default()
    })
    .err()
    .expect("a bad token file is refused");
    let message = format!("{err:#}");
    assert!(message.contains("line 2"), "{message}");
    assert!(
        message.contains(&file.path().display().to_string()),
        "{message}"
    );
    assert!(!message.contains("s3cr3t"), "{message}");

    let missing = Running::start(Config {
        token_file: Some("/nonexistent/tokens.csv".into()),
        ..Config::default()
    })
    .err()
    .expect("a missing token file is refused");
    assert!(format!("{missing:#}").contains("/nonexistent/tokens.csv"));
}
