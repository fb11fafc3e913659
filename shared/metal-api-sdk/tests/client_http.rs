//! The client against a scripted in-process HTTP server: what goes over the wire.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use metal_api_sdk::auth::{HEADER_DATE, HEADER_SALT, HmacKind, HmacVerifier};
use metal_api_sdk::model::{IpAllocateRequest, IpFindRequest, IpUpdateRequest};
use metal_api_sdk::{Auth, Client, ClientConfig, Error};

const ADMIN_KEY: &str = "admin-key";
const IP: &str = r#"{"ipaddress":"10.0.0.1","allocationuuid":"u-1","networkid":"internet",
    "projectid":"p-1","type":"ephemeral","tags":[]}"#;

#[derive(Debug)]
struct Recorded {
    method: String,
    path: String,
    authorization: Option<String>,
    date: Option<String>,
    salt: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Recorded {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Answers requests with scripted replies in order; records every request.
#[derive(Default)]
struct Mock {
    requests: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<(u16, String)>>,
}

impl Mock {
    fn reply(&self, status: u16, body: &str) {
        self.replies
            .lock()
            .unwrap()
            .push_back((status, body.to_owned()));
    }

    fn conflict(&self) {
        self.reply(
            409,
            r#"{"statuscode":409,"message":"the entity was changed from another, please retry"}"#,
        );
    }

    fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.requests.lock().unwrap())
    }

    fn pending_replies(&self) -> usize {
        self.replies.lock().unwrap().len()
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, mock: web::Data<Mock>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    mock.requests.lock().unwrap().push(Recorded {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        authorization: header("Authorization"),
        date: header(HEADER_DATE),
        salt: header(HEADER_SALT),
        content_type: header("Content-Type"),
        body: body.to_vec(),
    });
    let (status, body) = mock.replies.lock().unwrap().pop_front().unwrap_or((
        500,
        r#"{"statuscode":500,"message":"no reply scripted"}"#.to_owned(),
    ));
    HttpResponse::build(StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(body)
}

/// Starts the mock server; returns it and its root URL.
fn serve() -> (Arc<Mock>, String) {
    let mock = Arc::new(Mock::default());
    let data = web::Data::from(mock.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(answer))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    actix_rt::spawn(server.run());
    (mock, url)
}

fn admin(url: &str) -> Client {
    let auth = Auth::Hmac {
        kind: HmacKind::Admin,
        key: ADMIN_KEY.into(),
    };
    Client::new(ClientConfig::new(url, auth)).unwrap()
}

fn assert_signed(request: &Recorded) {
    let verifier = HmacVerifier::new(
        [(HmacKind::Admin, ADMIN_KEY.as_bytes().to_vec())],
        Duration::from_secs(30),
    );
    let verified = verifier.verify(
        request.authorization.as_deref(),
        request.date.as_deref(),
        request.salt.as_deref(),
        &request.method,
        chrono::Utc::now(),
    );
    assert_eq!(verified, Ok(Some(HmacKind::Admin)), "{request:?}");
}

fn ip_update(tags: Option<Vec<String>>) -> IpUpdateRequest {
    IpUpdateRequest {
        ipaddress: "10.0.0.1".into(),
        tags,
        ..Default::default()
    }
}

#[actix_rt::test]
async fn requests_are_signed_and_carry_the_base_path() {
    let (mock, url) = serve();
    let client = admin(&format!("{url}/metal/"));
    mock.reply(200, IP);
    mock.reply(200, &format!("[{IP}]"));

    let ip = client.get_ip("2001:db8::1").await.unwrap();
    assert_eq!(ip.ipaddress, "10.0.0.1");
    let find = IpFindRequest {
        projectid: Some("p-1".into()),
        ..Default::default()
    };
    assert_eq!(client.find_ips(&find).await.unwrap().len(), 1);

    let requests = mock.take_requests();
    let routes: Vec<_> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("GET", "/metal/v1/ip/2001:db8::1"),
            ("POST", "/metal/v1/ip/find")
        ]
    );
    requests.iter().for_each(assert_signed);
    assert_ne!(requests[0].salt, requests[1].salt);
    assert!(requests[0].body.is_empty());
    assert_eq!(
        requests[1].content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(requests[1].json(), serde_json::json!({"projectid": "p-1"}));
}

#[actix_rt::test]
async fn path_segments_are_percent_encoded() {
    let (mock, url) = serve();
    let client = admin(&url);
    mock.reply(404, r#"{"statuscode":404,"message":"no machine"}"#);
    let err = client.free_machine("a b/c").await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m == "no machine"),
        "{err:?}"
    );
    assert_eq!(mock.take_requests()[0].path, "/v1/machine/a%20b%2Fc/free");
}

#[actix_rt::test]
async fn update_ip_retries_conflicts_and_returns_the_final_success() {
    let (mock, url) = serve();
    let client = admin(&url);
    mock.conflict();
    mock.conflict();
    mock.reply(200, IP);

    let ip = client.update_ip(&ip_update(Some(vec![]))).await.unwrap();
    assert_eq!(ip.ipaddress, "10.0.0.1");

    let requests = mock.take_requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/v1/ip")
        );
        assert_signed(request);
    }
    let salts: HashSet<_> = requests.iter().map(|r| r.salt.clone()).collect();
    assert_eq!(salts.len(), 3, "every attempt is signed fresh");
}

#[actix_rt::test]
async fn update_gives_up_after_the_retry_budget() {
    let (mock, url) = serve();
    let mut config = ClientConfig::new(
        &url,
        Auth::Hmac {
            kind: HmacKind::Admin,
            key: ADMIN_KEY.into(),
        },
    );
    config.conflict_retries = 2;
    let client = Client::new(config).unwrap();
    for _ in 0..3 {
        mock.conflict();
    }
    mock.reply(200, IP);

    let err = client.update_ip(&ip_update(None)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(mock.take_requests().len(), 3);
    assert_eq!(mock.pending_replies(), 1);
}

#[actix_rt::test]
async fn allocate_specific_ip_conflict_is_not_retried() {
    let (mock, url) = serve();
    let client = admin(&url);
    mock.conflict();
    mock.reply(201, IP);

    let request = IpAllocateRequest {
        networkid: "internet".into(),
        projectid: "p-1".into(),
        ..Default::default()
    };
    let err = client
        .allocate_specific_ip("10.0.0.1", &request)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    let requests = mock.take_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/ip/allocate/10.0.0.1");

    // A 201 is a success like a 200.
    assert_eq!(
        client.allocate_ip(&request).await.unwrap().allocationuuid,
        "u-1"
    );
}

#[actix_rt::test]
async fn absent_tags_are_omitted_and_empty_tags_are_sent() {
    let (mock, url) = serve();
    let client = admin(&url);
    mock.reply(200, IP);
    mock.reply(200, IP);

    client.update_ip(&ip_update(None)).await.unwrap();
    client.update_ip(&ip_update(Some(vec![]))).await.unwrap();

    let bodies: Vec<_> = mock.take_requests().iter().map(Recorded::json).collect();
    assert_eq!(bodies[0], serde_json::json!({"ipaddress": "10.0.0.1"}));
    assert_eq!(
        bodies[1],
        serde_json::json!({"ipaddress": "10.0.0.1", "tags": []})
    );
}

#[actix_rt::test]
async fn bearer_token_replaces_hmac() {
    let (mock, url) = serve();
    let client = Client::new(ClientConfig::new(&url, Auth::Bearer("tok".into()))).unwrap();
    mock.reply(200, r#"{"status":"healthy","message":"ok"}"#);

    assert_eq!(client.health().await.unwrap().status, "healthy");
    let request = &mock.take_requests()[0];
    assert_eq!(request.path, "/v1/health");
    assert_eq!(request.authorization.as_deref(), Some("Bearer tok"));
    assert_eq!(
        (request.date.as_deref(), request.salt.as_deref()),
        (None, None)
    );
}

#[actix_rt::test]
async fn failures_become_typed_errors() {
    let (mock, url) = serve();
    let client = admin(&url);
    let request = IpAllocateRequest::default();

    mock.reply(
        500,
        r#"{"statuscode":500,"message":"no ips left in network internet"}"#,
    );
    let err = client.allocate_ip(&request).await.unwrap_err();
    assert!(
        matches!(&err, Error::Exhausted(m) if m.contains("no ips left")),
        "{err:?}"
    );
    assert!(err.is_retryable());

    mock.reply(502, "<html>bad gateway</html>");
    let err = client.get_ip("10.0.0.1").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");

    mock.reply(403, r#"{"statuscode":403,"message":"access denied"}"#);
    let err = client.list_ips().await.unwrap_err();
    assert!(
        matches!(&err, Error::Forbidden(m) if m == "access denied"),
        "{err:?}"
    );

    mock.reply(200, r#"{"not":"an ip"}"#);
    let err = client.get_ip("10.0.0.1").await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

#[actix_rt::test]
async fn an_unreachable_server_is_unavailable() {
    let url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let client = Client::new(ClientConfig::new(url, Auth::None)).unwrap();
    let err = client.health().await.unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable(m) if !m.is_empty()),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[test]
fn unusable_configurations_are_rejected() {
    let hmac = Auth::Hmac {
        kind: HmacKind::View,
        key: String::new(),
    };
    for (url, auth) in [
        ("http://localhost", hmac),
        ("http://localhost", Auth::Bearer(String::new())),
        ("http://localhost", Auth::Bearer("line\nbreak".into())),
        ("localhost:8080", Auth::None),
    ] {
        let result = Client::new(ClientConfig::new(url, auth));
        assert!(matches!(result, Err(Error::Config(_))), "{url}");
    }
}
