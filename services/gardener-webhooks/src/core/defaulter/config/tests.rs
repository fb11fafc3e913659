use super::*;

fn env(vars: &[(&str, &str)]) -> (Defaults, Vec<String>) {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Defaults::from_env(move |key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
}

#[test]
fn without_variables_the_defaults_are_upstreams() {
    let (d, warnings) = env(&[]);
    assert!(warnings.is_empty());
    assert_eq!(d, Defaults::default());
    assert_eq!(
        (d.max_pods, d.node_cidr_mask_size, d.cilium_mtu),
        (250, 23, 1440)
    );
    assert_eq!(
        (
            d.pods_cidr.as_str(),
            d.services_cidr.as_str(),
            d.network_type.as_str()
        ),
        ("10.240.0.0/13", "10.248.0.0/18", "calico")
    );
    assert_eq!(
        (
            d.calico_backend.as_str(),
            d.calico_pool_mode.as_str(),
            d.calico_kube_proxy_enabled,
            d.calico_typha_enabled
        ),
        ("none", "Never", true, false)
    );
    assert_eq!(
        (
            d.cilium_tunnel.as_str(),
            d.cilium_direct_routing_device.as_str(),
            d.cilium_load_balancing_mode.as_str(),
            d.cilium_devices.clone()
        ),
        (
            "disabled",
            "lo",
            "dsr",
            vec!["lan+".to_string(), "lo".to_string()]
        )
    );
    assert!(
        d.cilium_hubble_enabled
            && !d.cilium_kube_proxy_enabled
            && d.cilium_bgp_control_plane_enabled
            && d.cilium_ipv4_native_routing_cidr_enabled
    );
}

#[test]
fn every_variable_overrides_its_default() {
    type Expect = fn(&mut Defaults);
    let cases: Vec<(&str, &str, Expect)> = vec![
        ("DEFAULTER_MAXPODS", "110", |d| d.max_pods = 110),
        ("DEFAULTER_MAXPODS", "+64", |d| d.max_pods = 64),
        ("DEFAULTER_NODECIDRMASKSIZE", "24", |d| {
            d.node_cidr_mask_size = 24
        }),
        ("DEFAULTER_PODSCIDR", "10.0.0.0/12", |d| {
            d.pods_cidr = "10.0.0.0/12".into()
        }),
        ("DEFAULTER_PODSCIDR", "fd00::/48", |d| {
            d.pods_cidr = "fd00::/48".into()
        }),
        ("DEFAULTER_SERVICESCIDR", "10.96.0.0/16", |d| {
            d.services_cidr = "10.96.0.0/16".into()
        }),
        ("DEFAULTER_NETWORKTYPE", "cilium", |d| {
            d.network_type = "cilium".into()
        }),
        ("DEFAULTER_NETWORKTYPE", "flannel", |d| {
            d.network_type = "flannel".into()
        }),
        ("DEFAULTER_CALICOBACKEND", "bird", |d| {
            d.calico_backend = "bird".into()
        }),
        ("DEFAULTER_CALICOKUBEPROXYENABLED", "false", |d| {
            d.calico_kube_proxy_enabled = false
        }),
        ("DEFAULTER_CALICOPOOLMODE", "CrossSubnet", |d| {
            d.calico_pool_mode = "CrossSubnet".into()
        }),
        ("DEFAULTER_CALICOTYPHAENABLED", "true", |d| {
            d.calico_typha_enabled = true
        }),
        ("DEFAULTER_CILIUMHUBBLEENABLED", "0", |d| {
            d.cilium_hubble_enabled = false
        }),
        ("DEFAULTER_CILIUMKUBEPROXYENABLED", "T", |d| {
            d.cilium_kube_proxy_enabled = true
        }),
        ("DEFAULTER_CILIUMTUNNEL", "vxlan", |d| {
            d.cilium_tunnel = "vxlan".into()
        }),
        ("DEFAULTER_CILIUMDEVICES", "eth0, eth1,lo", |d| {
            d.cilium_devices = vec!["eth0".into(), "eth1".into(), "lo".into()]
        }),
        ("DEFAULTER_CILIUMDEVICES", "bond0", |d| {
            d.cilium_devices = vec!["bond0".into()]
        }),
        ("DEFAULTER_CILIUMDIRECTROUTINGDEVICE", "bond0", |d| {
            d.cilium_direct_routing_device = "bond0".into()
        }),
        ("DEFAULTER_CILIUMBGPCONTROLPLANE", "FALSE", |d| {
            d.cilium_bgp_control_plane_enabled = false
        }),
        ("DEFAULTER_CILIUMIPV4NATIVEROUTINGCIDRENABLED", "f", |d| {
            d.cilium_ipv4_native_routing_cidr_enabled = false
        }),
        ("DEFAULTER_CILIUMLOADBALANCINGMODE", "hybrid", |d| {
            d.cilium_load_balancing_mode = "hybrid".into()
        }),
        ("DEFAULTER_CILIUMMTU", "9000", |d| d.cilium_mtu = 9000),
    ];
    for (key, value, expect) in cases {
        let mut want = Defaults::default();
        expect(&mut want);
        let (got, warnings) = env(&[(key, value)]);
        assert_eq!(got, want, "{key}={value}");
        assert!(warnings.is_empty(), "{key}={value}: {warnings:?}");
    }
}

#[test]
fn go_booleans_are_read_as_strconv_parse_bool_reads_them() {
    for (value, want) in [
        ("1", true),
        ("t", true),
        ("T", true),
        ("true", true),
        ("TRUE", true),
        ("True", true),
        ("0", false),
        ("f", false),
        ("F", false),
        ("false", false),
        ("FALSE", false),
        ("False", false),
    ] {
        // typha defaults to false and hubble to true, so each value shows on one of them.
        let (d, warnings) = env(&[
            ("DEFAULTER_CALICOTYPHAENABLED", value),
            ("DEFAULTER_CILIUMHUBBLEENABLED", value),
        ]);
        assert!(warnings.is_empty(), "{value}");
        assert_eq!(
            (d.calico_typha_enabled, d.cilium_hubble_enabled),
            (want, want),
            "{value}"
        );
    }
}

#[test]
fn an_unparsable_variable_falls_back_with_a_warning_naming_it() {
    let cases: Vec<(&str, &str, &str)> = vec![
        ("DEFAULTER_MAXPODS", "many", "250"),
        ("DEFAULTER_MAXPODS", "0", "250"),
        ("DEFAULTER_MAXPODS", "-5", "250"),
        ("DEFAULTER_MAXPODS", "2147483648", "250"),
        ("DEFAULTER_MAXPODS", "1e3", "250"),
        ("DEFAULTER_MAXPODS", "", "250"),
        ("DEFAULTER_NODECIDRMASKSIZE", "/24", "23"),
        ("DEFAULTER_PODSCIDR", "10.240.0.0", "\"10.240.0.0/13\""),
        (
            "DEFAULTER_SERVICESCIDR",
            "10.248.0.0/33",
            "\"10.248.0.0/18\"",
        ),
        ("DEFAULTER_NETWORKTYPE", "", "\"calico\""),
        ("DEFAULTER_CALICOBACKEND", "BIRD", "\"none\""),
        ("DEFAULTER_CALICOKUBEPROXYENABLED", "yes", "true"),
        ("DEFAULTER_CALICOPOOLMODE", "never", "\"Never\""),
        ("DEFAULTER_CALICOTYPHAENABLED", "on", "false"),
        ("DEFAULTER_CILIUMHUBBLEENABLED", "", "true"),
        ("DEFAULTER_CILIUMKUBEPROXYENABLED", "tRUE", "false"),
        ("DEFAULTER_CILIUMTUNNEL", "ipip", "\"disabled\""),
        ("DEFAULTER_CILIUMDEVICES", "", "[\"lan+\", \"lo\"]"),
        ("DEFAULTER_CILIUMDEVICES", "lan+,,lo", "[\"lan+\", \"lo\"]"),
        ("DEFAULTER_CILIUMDIRECTROUTINGDEVICE", "", "\"lo\""),
        ("DEFAULTER_CILIUMBGPCONTROLPLANE", "enabled", "true"),
        ("DEFAULTER_CILIUMIPV4NATIVEROUTINGCIDRENABLED", "2", "true"),
        ("DEFAULTER_CILIUMLOADBALANCINGMODE", "DSR", "\"dsr\""),
        ("DEFAULTER_CILIUMMTU", "1440.0", "1440"),
    ];
    for (key, value, default) in cases {
        let (got, warnings) = env(&[(key, value)]);
        assert_eq!(got, Defaults::default(), "{key}={value}");
        assert_eq!(warnings.len(), 1, "{key}={value}: {warnings:?}");
        let warning = &warnings[0];
        assert!(
            warning.starts_with(&format!("{key}={value:?}: ")),
            "{warning}"
        );
        assert!(
            warning.ends_with(&format!("; using the default {default}")),
            "{warning}"
        );
    }
    // One warning per bad variable; the good ones still apply.
    let (got, warnings) = env(&[
        ("DEFAULTER_MAXPODS", "x"),
        ("DEFAULTER_CILIUMMTU", "y"),
        ("DEFAULTER_NETWORKTYPE", "cilium"),
    ]);
    assert_eq!(got.network_type, "cilium");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
}
