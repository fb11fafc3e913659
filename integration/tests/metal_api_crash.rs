//! kill -9 in the middle of a burst of concurrent allocations, then a restart: every
//! acknowledged allocation is still there, no address was handed out twice, and nothing is
//! half-allocated.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration::metal_api::{Caller, MetalApi, PARTITION, PROJECT};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_ip_allocation_burst_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MetalApi::start(dir.path());
    let c = Caller::new(&api);
    let net = json!({"id": "burst", "prefixes": ["100.64.0.0/16"], "destinationprefixes": [], "nat": false, "privatesuper": false, "underlay": false});
    assert_eq!(c.admin("PUT", "/v1/network", Some(net)).await.0, 201);

    // address → allocationuuid of every 201 the clients received
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (c, acked) = (c.clone(), acked.clone());
            tokio::spawn(async move {
                // Bounded: at most 200 attempts per client; the kill ends it sooner.
                for _ in 0..200 {
                    let req =
                        json!({"networkid": "burst", "projectid": PROJECT, "type": "ephemeral"});
                    match tokio::time::timeout(
                        Duration::from_secs(5),
                        c.try_edit("POST", "/v1/ip/allocate", req),
                    )
                    .await
                    {
                        Ok(Some((201, body))) => acked.lock().unwrap().push((
                            body["ipaddress"].as_str().unwrap().to_string(),
                            body["allocationuuid"].as_str().unwrap().to_string(),
                        )),
                        Ok(Some(_)) => {}
                        _ => break, // connection refused/reset: the server is gone
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    api.kill9();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "the burst was under way when killed ({} acked)",
        acked.len()
    );
    let unique: HashSet<&String> = acked.iter().map(|(a, _)| a).collect();
    assert_eq!(
        unique.len(),
        acked.len(),
        "an address was acknowledged twice"
    );

    api.restart();
    let c = Caller::new(&api);
    let (_, stored) = c
        .view("POST", "/v1/ip/find", Some(json!({"networkid": "burst"})))
        .await;
    let stored: HashMap<String, String> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["ipaddress"].as_str().unwrap().to_string(),
                i["allocationuuid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (addr, uuid) in &acked {
        assert_eq!(
            stored.get(addr),
            Some(uuid),
            "acknowledged {addr} lost or changed after kill -9"
        );
    }
    // Allocation continues after the restart without handing out a stored address again.
    let (s, next) = c
        .edit(
            "POST",
            "/v1/ip/allocate",
            Some(json!({"networkid": "burst", "projectid": PROJECT})),
        )
        .await;
    assert_eq!(s, 201);
    assert!(!stored.contains_key(next["ipaddress"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_machine_allocations_leaves_no_half_allocated_machine() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MetalApi::start(dir.path());
    let c = Caller::new(&api);
    let (_, net) = c
        .edit(
            "POST",
            "/v1/network/allocate",
            Some(json!({"projectid": PROJECT, "partitionid": PARTITION})),
        )
        .await;
    let net_id = net["id"].as_str().unwrap().to_string();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<_> = (0..10)
        .map(|_| {
            let (c, acked, net_id) = (c.clone(), acked.clone(), net_id.clone());
            tokio::spawn(async move {
                let req = json!({"projectid": PROJECT, "partitionid": PARTITION, "sizeid": "c1-medium-x86", "imageid": "ubuntu-24.04",
                    "ssh_pub_keys": [], "networks": [{"networkid": net_id, "autoacquire": true}, {"networkid": "internet", "autoacquire": true}]});
                if let Some((200, m)) = c.try_edit("POST", "/v1/machine/allocate", req).await {
                    acked.lock().unwrap().push(m["id"].as_str().unwrap().to_string());
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(15)).await;
    api.kill9();
    for w in workers {
        w.await.unwrap();
    }
    api.restart();
    let c = Caller::new(&api);
    let (_, machines) = c.view("GET", "/v1/machine", None).await;
    let (_, ips) = c.view("GET", "/v1/ip", None).await;
    let allocated: HashMap<String, &Value> = machines
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m.get("allocation").is_some_and(|a| !a.is_null()))
        .map(|m| (m["id"].as_str().unwrap().to_string(), m))
        .collect();
    for id in acked.lock().unwrap().iter() {
        assert!(
            allocated.contains_key(id),
            "acknowledged machine {id} lost its allocation"
        );
    }
    // Every allocated machine has both its IPs; every machine-tagged IP belongs to one.
    for (id, m) in &allocated {
        for n in m["allocation"]["networks"].as_array().unwrap() {
            for ip in n["ips"].as_array().unwrap() {
                let stored = ips
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["ipaddress"] == *ip);
                let tag = json!(format!("machine.metal-stack.io/id={id}"));
                assert!(
                    stored.is_some_and(|i| i["tags"].as_array().unwrap().contains(&tag)),
                    "machine {id} misses {ip}"
                );
            }
        }
    }
    for ip in ips.as_array().unwrap() {
        for tag in ip["tags"].as_array().unwrap() {
            if let Some(id) = tag
                .as_str()
                .unwrap()
                .strip_prefix("machine.metal-stack.io/id=")
            {
                assert!(
                    allocated.contains_key(id),
                    "IP {} is tagged for unallocated machine {id}",
                    ip["ipaddress"]
                );
            }
        }
    }
}
