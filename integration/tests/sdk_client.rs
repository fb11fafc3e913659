//! The SDK client (`metal_api_sdk::Client`) against the real metal-api binary: what the mesh's
//! services will do, with typed errors, base paths and conflict retries on the real wire.

use integration::metal_api::{ADMIN_KEY, EDIT_KEY, MetalApi, PROJECT, VIEW_KEY};
use metal_api_sdk::auth::HmacKind;
use metal_api_sdk::model::{
    IpAllocateRequest, IpFindRequest, IpUpdateRequest, NetworkCreateRequest,
};
use metal_api_sdk::{Auth, Client, ClientConfig, Error};

fn client(api: &MetalApi, kind: HmacKind, key: &str) -> Client {
    let url = api.url("");
    Client::new(ClientConfig::new(
        url,
        Auth::Hmac {
            kind,
            key: key.into(),
        },
    ))
    .expect("client")
}

fn allocate(network: &str) -> IpAllocateRequest {
    IpAllocateRequest {
        networkid: network.into(),
        projectid: PROJECT.into(),
        name: Some("sdk".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ip_round_trip_with_typed_errors_under_a_base_path() {
    let dir = tempfile::tempdir().unwrap();
    let api = MetalApi::start_with(dir.path(), "/metal", &[]);
    let edit = client(&api, HmacKind::Edit, EDIT_KEY);
    let view = client(&api, HmacKind::View, VIEW_KEY);
    let admin = client(&api, HmacKind::Admin, ADMIN_KEY);

    assert_eq!(view.health().await.unwrap().status, "healthy");
    let ip = edit.allocate_ip(&allocate("internet")).await.unwrap();
    assert_eq!(ip.ipaddress, "185.1.2.1");

    // tags: Some(vec![..]) sets, None keeps, Some(vec![]) clears
    let tagged = edit
        .update_ip(&IpUpdateRequest {
            ipaddress: ip.ipaddress.clone(),
            tags: Some(vec!["a=b".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tagged.tags, vec!["a=b".to_string()]);
    let kept = edit
        .update_ip(&IpUpdateRequest {
            ipaddress: ip.ipaddress.clone(),
            name: Some("x".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(kept.tags, vec!["a=b".to_string()]);
    let found = view
        .find_ips(&IpFindRequest {
            tags: Some(vec!["a=b".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let cleared = edit
        .update_ip(&IpUpdateRequest {
            ipaddress: ip.ipaddress.clone(),
            tags: Some(vec![]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(cleared.tags.is_empty());

    // typed errors
    assert!(matches!(
        view.get_ip("185.1.2.250").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        edit.allocate_specific_ip(&ip.ipaddress, &allocate("internet"))
            .await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        view.allocate_ip(&allocate("internet")).await,
        Err(Error::Forbidden(_))
    ));
    let wrong = client(&api, HmacKind::Edit, "not-the-key");
    assert!(matches!(
        wrong.allocate_ip(&allocate("internet")).await,
        Err(Error::Forbidden(_))
    ));
    let tiny = NetworkCreateRequest {
        id: "tiny".into(),
        prefixes: vec!["192.0.2.0/31".into()],
        ..Default::default()
    };
    admin.create_network(&tiny).await.unwrap();
    edit.allocate_ip(&allocate("tiny")).await.unwrap();
    edit.allocate_ip(&allocate("tiny")).await.unwrap();
    assert!(matches!(
        edit.allocate_ip(&allocate("tiny")).await,
        Err(Error::Exhausted(_))
    ));

    let freed = edit.free_ip(&ip.ipaddress).await.unwrap();
    assert_eq!(freed.ipaddress, ip.ipaddress);
    assert!(matches!(
        edit.free_ip(&ip.ipaddress).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_through_the_client_all_succeed_by_retrying_409() {
    let dir = tempfile::tempdir().unwrap();
    let api = MetalApi::start(dir.path());
    let mut config = ClientConfig::new(
        api.url(""),
        Auth::Hmac {
            kind: HmacKind::Edit,
            key: EDIT_KEY.into(),
        },
    );
    config.conflict_retries = 20;
    let edit = Client::new(config).unwrap();
    let ip = edit.allocate_ip(&allocate("internet")).await.unwrap();
    // Lost updates come back as 409 from the server (read-then-write window); the client
    // retries them, so every update lands.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (edit, addr) = (edit.clone(), ip.ipaddress.clone());
            tokio::spawn(async move {
                edit.update_ip(&IpUpdateRequest {
                    ipaddress: addr,
                    name: Some(format!("n{i}")),
                    ..Default::default()
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await
            .unwrap()
            .expect("the client retries 409 until its update lands");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_is_unavailable() {
    let addr = integration::free_addr();
    let c = Client::new(ClientConfig::new(format!("http://{addr}"), Auth::None)).unwrap();
    assert!(matches!(c.health().await, Err(Error::Unavailable(_))));
}
