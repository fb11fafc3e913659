//! Every MetalLB object the allocator renders validates against MetalLB's own CRD schema
//! (`../shared/contracts/crds/metallb.io_*.yaml`), for a configuration with several networks,
//! both IP types, both families and several peers. Skipped without the contracts, except in CI.

use kube_resources::contracts::upstream_crds;
use kube_resources::schema::UpstreamSchema;
use lb_allocator::core::config::{Config, LoadBalancerKind};
use lb_allocator::core::lbconfig::{NodeInfo, build};
use lb_allocator::core::render::{ObjectKind, render};
use metal_api_sdk::model::{IpResponse, IpType};

fn ip(address: &str, network: &str, ip_type: IpType) -> IpResponse {
    IpResponse {
        ipaddress: address.into(),
        allocationuuid: format!("u-{address}"),
        name: "metallb-abcde".into(),
        description: String::new(),
        networkid: network.into(),
        projectid: "p".into(),
        ip_type,
        tags: vec!["cluster.metal-stack.io/id/namespace/service=c/default/web".into()],
        created: None,
        changed: None,
    }
}

#[test]
fn rendered_metallb_objects_validate_against_metallb_crds() {
    let Some(dir) = upstream_crds() else { return };
    let config = Config {
        project: "p".into(),
        partition: "fra-equ01".into(),
        cluster: "c".into(),
        default_network: Some("internet".into()),
        additional_networks: vec!["internet".into(), "dmz".into()],
        ssh_public_key: None,
        loadbalancer: LoadBalancerKind::Metallb,
        metallb_namespace: "metallb-system".into(),
    };
    let ips = [
        ip("185.1.2.3", "internet", IpType::Ephemeral),
        ip("2a02:c00:20::3", "internet", IpType::Ephemeral),
        ip("185.1.2.9", "internet", IpType::Static),
        ip("10.9.0.1", "dmz", IpType::Ephemeral),
    ];
    let nodes: Vec<NodeInfo> = (1..=3)
        .map(|i| NodeInfo {
            name: format!("worker-{i}"),
            hostname: format!("worker-{i}"),
            asn: Some("4200000001".into()),
            internal_ip: Some(if i == 3 {
                "fd00::3".parse().unwrap()
            } else {
                format!("10.0.0.{i}").parse().unwrap()
            }),
        })
        .collect();
    let desired = render(LoadBalancerKind::Metallb, &build(&config, &ips, &nodes));
    let schema = |file: &str, version: &str| {
        let crd = std::fs::read_to_string(dir.join(file)).unwrap();
        UpstreamSchema::from_crd_yaml(&crd, version).unwrap()
    };
    let pools = schema("metallb.io_ipaddresspools.yaml", "v1beta1");
    let adverts = schema("metallb.io_bgpadvertisements.yaml", "v1beta1");
    let peers = schema("metallb.io_bgppeers.yaml", "v1beta2");
    let mut counts = [0usize; 3];
    for object in &desired.objects {
        let value = object.to_object("metallb-system");
        let (validator, i) = match object.kind {
            ObjectKind::IpAddressPool => (&pools, 0),
            ObjectKind::BgpAdvertisement => (&adverts, 1),
            ObjectKind::BgpPeer => (&peers, 2),
            other => panic!("unexpected {other:?}"),
        };
        counts[i] += 1;
        if let Err(errors) = validator.validate(&value) {
            panic!(
                "{} {} is refused by MetalLB's schema: {errors:?}\n{value:#}",
                value["kind"], object.name
            );
        }
    }
    assert_eq!(
        counts,
        [3, 3, 3],
        "three pools, their advertisements, one peer per node"
    );
}
